/* lwds-bench-sink: the web-hook sink of the notification benchmark
 * (bench/README.md, scenario 4), and its baseline HTTP client.
 *
 * Sink mode (default): a lean HTTP/1.1 server on libevent bufferevents
 * (no per-request header objects; pipelined requests are answered in one
 * write) that answers every request with 204 and records, per delivery, the
 * receive time and the notified value.  The value is the device's send time in
 * microseconds since --epoch-us (see bench_notify.c), taken from the first
 * number inside the body's "Value" object, so latency = receive time - value.
 * A delivery id (X-Lwds-Delivery) seen twice is a duplicate delivery; the same
 * (request path, client link, value) under two delivery ids is a duplicate
 * notification.  Commands on stdin: "stats" prints one JSON line, "reset"
 * clears every counter, "quit" exits.
 *
 * Client mode (--post URL): POSTs --count bodies shaped like a webhook
 * body (with the send time as value) over --conns keep-alive connections,
 * one request in flight on each, and prints {"event":"posted",...}: the
 * raw rate of this machine's HTTP path without lwds.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "bench_util.h"

#define BODY_MAX 65536
#define HEAD_MAX 16384
#define REPLY "HTTP/1.1 204 No Content\r\n\r\n"
#define CONNS_MAX 1024

struct set {
	uint64_t *slot;
	size_t cap, n;
};

struct sink {
	struct event_base *base;
	int64_t epoch_us;
	struct set deliveries, notes;
	uint32_t *hist;
	uint64_t posts, unique, dup_deliveries, dup_notes, no_value, late;
	int64_t first_us, last_us, max_lat_us;
	char line[256];
	size_t used;
};

/* ---- a set of 64-bit hashes --------------------------------------------- */

static uint64_t
fnv(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h = (h ^ p[i]) * 0x100000001b3ULL;
	}
	return h;
}

static bool
set_grow(struct set *s)
{
	struct set n = {.cap = s->cap ? s->cap * 2 : 1u << 16};

	n.slot = calloc(n.cap, sizeof *n.slot);
	if (n.slot == NULL) {
		return false;
	}
	for (size_t i = 0; i < s->cap; i++) {
		uint64_t h = s->slot[i];
		size_t j = h & (n.cap - 1);

		if (h == 0) {
			continue;
		}
		while (n.slot[j] != 0) {
			j = (j + 1) & (n.cap - 1);
		}
		n.slot[j] = h;
		n.n++;
	}
	free(s->slot);
	*s = n;
	return true;
}

/* set_add returns false when h was there already (or memory ran out). */
static bool
set_add(struct set *s, uint64_t h)
{
	size_t j;

	h = h ? h : 1;
	if ((s->n + 1) * 2 > s->cap && !set_grow(s)) {
		return false;
	}
	for (j = h & (s->cap - 1); s->slot[j] != 0;
	     j = (j + 1) & (s->cap - 1)) {
		if (s->slot[j] == h) {
			return false;
		}
	}
	s->slot[j] = h;
	s->n++;
	return true;
}

static void
set_clear(struct set *s)
{
	free(s->slot);
	*s = (struct set){0};
}

/* ---- sink --------------------------------------------------------------- */

/* body_value finds the first integer after `"Value":` and the client link
 * ("/clients/<id>"); false without a value. */
static bool
body_value(const char *body, size_t len, int64_t *ret_v, const char **ret_c,
           size_t *ret_clen)
{
	const char *v = memmem(body, len, "\"Value\"", 7);
	const char *c = memmem(body, len, "/clients/", 9);
	const char *end = body + len;

	*ret_c = "";
	*ret_clen = 0;
	if (c != NULL) {
		const char *ce = c + 9;

		while (ce < end && *ce != '/' && *ce != '"') {
			ce++;
		}
		*ret_c = c;
		*ret_clen = (size_t)(ce - c);
	}
	if (v == NULL) {
		return false;
	}
	/* the first member of the Value object that is a number and not
	 * the InstanceID */
	for (v += 7; (v = memchr(v, ':', (size_t)(end - v))) != NULL; v++) {
		bool iid =
		    v - body >= 12 && memcmp(v - 12, "\"InstanceID\"", 12) == 0;

		if (!iid && v + 1 < end &&
		    ((v[1] >= '0' && v[1] <= '9') || v[1] == '-')) {
			/* the body is not NUL-terminated: parse a copy */
			char num[24];
			size_t n = (size_t)(end - v - 1) < sizeof num - 1
			               ? (size_t)(end - v - 1)
			               : sizeof num - 1;

			memcpy(num, v + 1, n);
			num[n] = '\0';
			*ret_v = strtoll(num, NULL, 10);
			return true;
		}
	}
	return false;
}

static void
record(struct sink *s, int64_t now, int64_t value)
{
	int64_t lat = now - value;

	if (lat < 0) {
		lat = 0;
	}
	if (!bench_hist_add(s->hist, lat)) {
		s->late++;
	}
	if (lat > s->max_lat_us) {
		s->max_lat_us = lat;
	}
}

/* deliver records one POST: path, delivery id and body are the request's
 * bytes (not NUL-terminated). */
static void
deliver(struct sink *s, const char *path, size_t plen, const char *id,
        size_t idlen, const char *body, size_t len)
{
	int64_t now = bench_real_us() - s->epoch_us, value;
	const char *cl;
	size_t clen;
	uint64_t h;

	s->posts++;
	if (s->first_us == 0) {
		s->first_us = now;
	}
	s->last_us = now;
	if (id != NULL &&
	    !set_add(&s->deliveries, fnv(14695981039346656037ULL, id, idlen))) {
		s->dup_deliveries++;
	} else if (!body_value(body, len, &value, &cl, &clen)) {
		s->no_value++;
	} else {
		h = fnv(14695981039346656037ULL, path, plen);
		h = fnv(h, cl, clen);
		h = fnv(h, &value, sizeof value);
		if (set_add(&s->notes, h)) {
			s->unique++;
			record(s, now, value);
		} else {
			s->dup_notes++;
		}
	}
}

/* header finds the value of header name (lower case, with the colon) in
 * the head (request line and headers, hlen bytes); NULL when absent. */
static const char *
header(const char *head, size_t hlen, const char *name, size_t *ret_len)
{
	size_t n = strlen(name);
	const char *p = head, *end = head + hlen, *eol;

	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL) {
			return NULL;
		}
		if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0) {
			const char *v = p + n, *ve = eol;

			while (v < ve && *v == ' ') {
				v++;
			}
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) {
				ve--;
			}
			*ret_len = (size_t)(ve - v);
			return v;
		}
	}
	return NULL;
}

/* take_request handles the first complete request in `in`: false when
 * there is none yet; *ret_bad when the connection must close. */
static bool
take_request(struct sink *s, struct evbuffer *in, struct evbuffer *out,
             bool *ret_bad)
{
	struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	size_t hlen, blen = 0, idlen = 0, clen = 0;
	const char *head, *cl, *id, *sp1, *sp2;
	char num[24];

	if (e.pos < 0) {
		*ret_bad = evbuffer_get_length(in) > HEAD_MAX;
		return false;
	}
	hlen = (size_t)e.pos + 4;
	head = (const char *)evbuffer_pullup(in, (ev_ssize_t)hlen);
	cl = header(head, hlen, "content-length:", &clen);
	if (cl != NULL && clen < sizeof num) {
		memcpy(num, cl, clen);
		num[clen] = '\0';
		blen = strtoul(num, NULL, 10);
	}
	sp1 = memchr(head, ' ', hlen);
	sp2 =
	    sp1 ? memchr(sp1 + 1, ' ', hlen - (size_t)(sp1 + 1 - head)) : NULL;
	if (sp2 == NULL || blen > BODY_MAX) {
		*ret_bad = true;
		return false;
	}
	if (evbuffer_get_length(in) < hlen + blen) {
		return false;
	}
	head = (const char *)evbuffer_pullup(in, (ev_ssize_t)(hlen + blen));
	sp1 = memchr(head, ' ', hlen);
	sp2 = memchr(sp1 + 1, ' ', hlen - (size_t)(sp1 + 1 - head));
	id = header(head, hlen, "x-lwds-delivery:", &idlen);
	deliver(s, sp1 + 1, (size_t)(sp2 - sp1 - 1), id, idlen, head + hlen,
	        blen);
	evbuffer_drain(in, hlen + blen);
	evbuffer_add(out, REPLY, sizeof REPLY - 1);
	return true;
}

/* on_read answers every complete request in the input at once: pipelined
 * requests get their 204s in one write. */
static void
on_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	bool bad = false;

	while (take_request(arg, in, out, &bad)) {
	}
	if (bad) {
		bufferevent_free(bev);
	}
}

static void
on_conn_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		bufferevent_free(bev);
	}
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
          int salen, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(
	    evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);

	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	bufferevent_setcb(bev, on_read, NULL, on_conn_event, arg);
	bufferevent_enable(bev, EV_READ);
}

static double
percentile(const struct sink *s, double q)
{
	return bench_hist_percentile(s->hist, s->unique, s->max_lat_us, q);
}

static void
print_stats(const struct sink *s)
{
	printf("{\"event\":\"stats\",\"posts\":%" PRIu64 ",\"unique\":%" PRIu64
	       ",\"dup_deliveries\":%" PRIu64 ",\"dup_notifications\":%" PRIu64
	       ",\"no_value\":%" PRIu64 ",\"over_10s\":%" PRIu64
	       ",\"first_s\":%.6f,\"last_s\":%.6f,\"p50_ms\":%.3f,"
	       "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
	       s->posts, s->unique, s->dup_deliveries, s->dup_notes,
	       s->no_value, s->late, s->first_us / 1e6, s->last_us / 1e6,
	       percentile(s, 0.5), percentile(s, 0.99), percentile(s, 0.999),
	       s->max_lat_us / 1000.0);
	fflush(stdout);
}

static void
reset(struct sink *s)
{
	set_clear(&s->deliveries);
	set_clear(&s->notes);
	memset(s->hist, 0, BENCH_HIST_BUCKETS * sizeof *s->hist);
	s->posts = s->unique = s->dup_deliveries = s->dup_notes = 0;
	s->no_value = s->late = 0;
	s->first_us = s->last_us = s->max_lat_us = 0;
}

static void
on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct sink *s = arg;
	ssize_t n = read(0, s->line + s->used, sizeof s->line - 1 - s->used);
	char *nl;

	if (n <= 0) {
		event_base_loopbreak(s->base);
		return;
	}
	s->used += (size_t)n;
	s->line[s->used] = '\0';
	while ((nl = strchr(s->line, '\n')) != NULL) {
		*nl = '\0';
		if (strcmp(s->line, "stats") == 0) {
			print_stats(s);
		} else if (strcmp(s->line, "reset") == 0) {
			reset(s);
		} else if (strcmp(s->line, "quit") == 0) {
			event_base_loopbreak(s->base);
		}
		s->used -= (size_t)(nl + 1 - s->line);
		memmove(s->line, nl + 1, s->used + 1);
	}
	if (s->used == sizeof s->line - 1) {
		s->used = 0;
	}
}

static int
run_sink(struct event_base *base, const char *host, int port, int64_t epoch)
{
	struct sink s = {.base = base, .epoch_us = epoch};
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons((uint16_t)port)};
	struct evconnlistener *l = NULL;
	struct event *in;
	ev_socklen_t sl = sizeof sin;

	s.hist = calloc(BENCH_HIST_BUCKETS, sizeof *s.hist);
	if (s.hist == NULL || inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
	    (l = evconnlistener_new_bind(
	         base, on_accept, &s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
	         1024, (struct sockaddr *)&sin, sizeof sin)) == NULL ||
	    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin,
	                &sl) != 0) {
		fprintf(stderr, "bench-sink: cannot listen on %s:%d\n", host,
		        port);
		return 1;
	}
	in = event_new(base, 0, EV_READ | EV_PERSIST, on_stdin, &s);
	event_add(in, NULL);
	printf("{\"event\":\"ready\",\"port\":%d}\n", ntohs(sin.sin_port));
	fflush(stdout);
	event_base_dispatch(base);
	event_free(in);
	evconnlistener_free(l);
	set_clear(&s.deliveries);
	set_clear(&s.notes);
	free(s.hist);
	return 0;
}

/* ---- baseline client ---------------------------------------------------- */

struct client {
	struct event_base *base;
	struct evhttp_connection *conns[CONNS_MAX];
	const char *host, *path;
	int64_t epoch_us, start_us;
	uint64_t count, issued, done, errors;
	unsigned next_id;
};

static void post_one(struct client *c, struct evhttp_connection *conn);

struct post_ctx {
	struct client *c;
	struct evhttp_connection *conn;
};

static void
on_done(struct evhttp_request *req, void *arg)
{
	struct post_ctx *p = arg;
	struct client *c = p->c;

	c->done++;
	if (req == NULL || evhttp_request_get_response_code(req) / 100 != 2) {
		c->errors++;
	}
	if (c->issued < c->count) {
		post_one(c, p->conn);
	} else if (c->done == c->count) {
		event_base_loopbreak(c->base);
	}
	free(p);
}

static void
post_one(struct client *c, struct evhttp_connection *conn)
{
	struct post_ctx *p = malloc(sizeof *p);
	struct evhttp_request *req;
	struct evkeyvalq *h;
	char id[32];

	if (p == NULL || (req = evhttp_request_new(on_done, p)) == NULL) {
		free(p);
		c->issued++;
		c->done++;
		c->errors++;
		return;
	}
	p->c = c;
	p->conn = conn;
	c->issued++;
	snprintf(id, sizeof id, "base%018u", c->next_id++);
	h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", c->host);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "X-Lwds-Delivery", id);
	evhttp_add_header(h, "X-Lwds-Attempt", "1");
	evbuffer_add_printf(
	    evhttp_request_get_output_buffer(req),
	    "{\"Items\":[{\"Links\":[{\"rel\":\"subscription\",\"href\":"
	    "\"/subscriptions/AAAAAAAAAAAAAAAAAAAAAA\"},{\"rel\":\"client\","
	    "\"href\":\"/clients/%022u\"},{\"rel\":\"object\",\"href\":"
	    "\"/clients/%022u/objecttypes/AAAAAAAAAAAAAAAAAAAAAA/instances/"
	    "0\"},"
	    "{\"rel\":\"definition\",\"href\":\"/objecttypes/definitions/"
	    "AAAAAAAAAAAAAAAAAAAAAA\"}],\"TimeTriggered\":"
	    "\"2026-11-25T14:00:00Z\",\"SubscriptionType\":\"Observation\","
	    "\"Value\":{\"SensorValue\":%" PRId64 "}}]}",
	    c->next_id, c->next_id, bench_real_us() - c->epoch_us);
	if (evhttp_make_request(conn, req, EVHTTP_REQ_POST, c->path) != 0) {
		c->done++;
		c->errors++;
		if (c->done == c->count) {
			event_base_loopbreak(c->base);
		}
	}
}

static int
run_client(struct event_base *base, const char *url, uint64_t count,
           unsigned nconns, int64_t epoch)
{
	struct client c = {.base = base, .count = count, .epoch_us = epoch};
	struct evhttp_uri *uri = evhttp_uri_parse(url);
	double secs;

	if (uri == NULL || evhttp_uri_get_host(uri) == NULL ||
	    evhttp_uri_get_port(uri) <= 0 || nconns == 0 ||
	    nconns > CONNS_MAX || count == 0) {
		fprintf(stderr, "bench-sink: bad --post/--conns/--count\n");
		return 2;
	}
	c.host = evhttp_uri_get_host(uri);
	c.path = evhttp_uri_get_path(uri) && *evhttp_uri_get_path(uri)
	             ? evhttp_uri_get_path(uri)
	             : "/";
	c.start_us = bench_real_us();
	for (unsigned i = 0; i < nconns && c.issued < count; i++) {
		c.conns[i] = evhttp_connection_base_new(
		    base, NULL, c.host, (uint16_t)evhttp_uri_get_port(uri));
		if (c.conns[i] == NULL) {
			return 1;
		}
		post_one(&c, c.conns[i]);
	}
	event_base_dispatch(base);
	secs = (bench_real_us() - c.start_us) / 1e6;
	printf("{\"event\":\"posted\",\"n\":%" PRIu64 ",\"errors\":%" PRIu64
	       ",\"elapsed_s\":%.3f,\"rate\":%.1f}\n",
	       c.done, c.errors, secs, secs > 0 ? c.done / secs : 0.0);
	for (unsigned i = 0; i < nconns && c.conns[i] != NULL; i++) {
		evhttp_connection_free(c.conns[i]);
	}
	evhttp_uri_free(uri);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *listen = "127.0.0.1", *post = NULL;
	int port = 0, rc;
	int64_t epoch = 0;
	uint64_t count = 100000;
	unsigned conns = 8;
	struct event_base *base;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0) {
			port = atoi(argv[i + 1]);
		} else if (strcmp(argv[i], "--listen") == 0) {
			listen = argv[i + 1];
		} else if (strcmp(argv[i], "--epoch-us") == 0) {
			epoch = atoll(argv[i + 1]);
		} else if (strcmp(argv[i], "--post") == 0) {
			post = argv[i + 1];
		} else if (strcmp(argv[i], "--count") == 0) {
			count = strtoull(argv[i + 1], NULL, 10);
		} else if (strcmp(argv[i], "--conns") == 0) {
			conns = (unsigned)atoi(argv[i + 1]);
		} else {
			fprintf(
			    stderr,
			    "usage: lwds-bench-sink [--listen A] [--port P] "
			    "[--epoch-us T] | --post URL [--count N] "
			    "[--conns C] [--epoch-us T]\n");
			return 2;
		}
	}
	base = event_base_new();
	if (base == NULL) {
		return 1;
	}
	rc = post != NULL ? run_client(base, post, count, conns, epoch)
	                  : run_sink(base, listen, port,
	                             epoch ? epoch : bench_real_us());
	event_base_free(base);
	return rc;
}
