/* wh_http.c - a lean HTTP/1.1 client pool on libevent bufferevents: per
 * scheme/host/port at most max_conn_per_host keep-alive connections; the
 * rest of the requests wait in the host's queue.  A connection carries one
 * request at a time until its first response shows an HTTP/1.1 peer that
 * keeps the connection; then up to max_pipeline requests are written ahead
 * (pipelining), answered in order.  Each request is formatted once into one
 * allocation and written with a single copy; responses are parsed in place
 * and only their status is kept.  When a connection breaks, every request
 * on it without a response fails with status 0 (the dispatcher retries it:
 * at least once, de-duplicated by X-Lwds-Delivery). */
#include "wh.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lwm2m_id.h"
#include "lwm2m_log.h"

#define WH_RESPONSE_HEADERS_MAX 16384 /* bytes of a hook's response headers */
#define WH_RESPONSE_BODY_MAX 65536    /* bytes of a hook's response body */
#define WH_LINE_MAX 8192              /* one status, header or chunk line */

struct wh_host;

struct wh_req {
	TAILQ_ENTRY(wh_req) link; /* host's waiting list, then conn's queue */
	struct wh_host *host;
	wh_http_cb cb;
	void *arg;
	size_t len;  /* bytes of the formatted request in data */
	char data[]; /* request line, headers and body */
};
TAILQ_HEAD(wh_req_list, wh_req);

/* where the parser of a connection's responses is */
enum wh_parse {
	P_STATUS = 0, /* expecting the status line */
	P_HEADERS,
	P_BODY,        /* remaining bytes of a Content-Length body */
	P_CHUNK_SIZE,  /* expecting a chunk-size line */
	P_CHUNK_DATA,  /* remaining bytes of a chunk */
	P_CHUNK_END,   /* the CRLF after a chunk */
	P_TRAILERS,    /* after the last chunk */
	P_UNTIL_CLOSE, /* a body delimited by the end of the connection */
};

struct wh_resp {
	enum wh_parse state;
	int status;
	bool http11;
	bool close;      /* Connection: close, or HTTP/1.0 without keep-alive */
	bool keep_alive; /* Connection: keep-alive */
	bool chunked;
	bool has_length;
	size_t length;    /* Content-Length */
	size_t remaining; /* of the body or chunk being skipped */
	size_t head_bytes;
	size_t body_bytes;
};

struct wh_conn {
	TAILQ_ENTRY(wh_conn) link;
	struct wh_host *host;
	struct bufferevent *bev;
	struct wh_req_list sent; /* written, awaiting responses, in order */
	unsigned n_sent;
	bool pipeline;   /* the peer showed HTTP/1.1 keep-alive */
	bool connecting; /* inside bufferevent_socket_connect_hostname */
	bool dead;       /* failed while connecting: fail and free it */
	const char *dead_error;
	struct wh_resp resp;
};
TAILQ_HEAD(wh_conn_list, wh_conn);

struct wh_host {
	TAILQ_ENTRY(wh_host) link;
	struct wh_http *http;
	char *name;
	int port;
	bool tls;
	struct wh_conn_list conns;
	unsigned n_conns;
	struct wh_req_list waiting;
	struct event *pump;
};
TAILQ_HEAD(wh_host_list, wh_host);

struct wh_http {
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *ssl;
	struct wh_http_config config;
	struct wh_host_list hosts;
	unsigned n_hosts;
	unsigned active;
	struct event *reap_ev; /* drops idle hosts past max_hosts */
};

static void
req_finish(struct wh_req *r, int status, const char *error)
{
	r->host->http->active--;
	r->cb(status, error, r->arg);
	free(r);
}

/* conn_free fails every request still on c with error and frees c (also
 * from within c's own bufferevent callbacks: libevent defers the end). */
static void
conn_free(struct wh_conn *c, const char *error)
{
	struct wh_host *h = c->host;
	struct wh_req *r;

	TAILQ_REMOVE(&h->conns, c, link);
	h->n_conns--;
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
	}
	while ((r = TAILQ_FIRST(&c->sent)) != NULL) {
		TAILQ_REMOVE(&c->sent, r, link);
		req_finish(r, 0, error);
	}
	free(c);
	event_active(h->pump, EV_TIMEOUT, 0);
}

static void
set_timeouts(struct wh_conn *c, bool on)
{
	int64_t ms = c->host->http->config.timeout_ms;
	struct timeval tv = {.tv_sec = ms / 1000,
	                     .tv_usec = (ms % 1000) * 1000};

	bufferevent_set_timeouts(c->bev, on ? &tv : NULL, on ? &tv : NULL);
}

/* next_line removes one CRLF- or LF-terminated line from in into buf (NUL
 * terminated, without the end of line): 1 when done, 0 when the line is not
 * complete yet, -1 when it is longer than WH_LINE_MAX. */
static int
next_line(struct evbuffer *in, char buf[WH_LINE_MAX + 1], size_t *ret_len)
{
	size_t eol = 0;
	struct evbuffer_ptr p =
	    evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_CRLF);

	if (p.pos < 0) {
		return evbuffer_get_length(in) > WH_LINE_MAX ? -1 : 0;
	}
	if ((size_t)p.pos > WH_LINE_MAX) {
		return -1;
	}
	evbuffer_remove(in, buf, (size_t)p.pos);
	evbuffer_drain(in, eol);
	buf[p.pos] = '\0';
	*ret_len = (size_t)p.pos;
	return 1;
}

/* parse_status reads "HTTP/1.x NNN ..." */
static bool
parse_status(struct wh_resp *rs, const char *line)
{
	if (strncmp(line, "HTTP/1.", 7) != 0 ||
	    (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
	    line[9] < '1' || line[9] > '5' || line[10] < '0' ||
	    line[10] > '9' || line[11] < '0' || line[11] > '9' ||
	    (line[12] != ' ' && line[12] != '\0')) {
		return false;
	}
	rs->http11 = line[7] == '1';
	rs->status =
	    (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	return true;
}

/* token_in is true when the comma-separated value holds token (any case) */
static bool
token_in(const char *value, const char *token)
{
	size_t n = strlen(token);

	for (const char *p = value; *p != '\0';) {
		while (*p == ' ' || *p == '\t' || *p == ',') {
			p++;
		}
		if (strncasecmp(p, token, n) == 0 &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' ' ||
		     p[n] == '\t' || p[n] == ';')) {
			return true;
		}
		while (*p != '\0' && *p != ',') {
			p++;
		}
	}
	return false;
}

static bool
parse_length(const char *v, size_t *ret)
{
	size_t n = 0;

	if (*v < '0' || *v > '9') {
		return false;
	}
	for (; *v >= '0' && *v <= '9'; v++) {
		if (n > WH_RESPONSE_BODY_MAX) {
			return false;
		}
		n = n * 10 + (size_t)(*v - '0');
	}
	while (*v == ' ' || *v == '\t') {
		v++;
	}
	*ret = n;
	return *v == '\0' && n <= WH_RESPONSE_BODY_MAX;
}

/* parse_header takes one "Name: value" line of the response head */
static bool
parse_header(struct wh_resp *rs, char *line)
{
	char *colon = strchr(line, ':');
	char *v, *end;

	if (colon == NULL || colon == line) {
		return false;
	}
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++) {
	}
	for (end = v + strlen(v);
	     end > v && (end[-1] == ' ' || end[-1] == '\t');) {
		*--end = '\0';
	}
	if (strcasecmp(line, "Content-Length") == 0) {
		if (!parse_length(v, &rs->length) ||
		    (rs->has_length && rs->length != rs->remaining)) {
			return false;
		}
		rs->has_length = true;
		rs->remaining = rs->length;
	} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
		rs->chunked = token_in(v, "chunked");
	} else if (strcasecmp(line, "Connection") == 0) {
		rs->close = rs->close || token_in(v, "close");
		rs->keep_alive = rs->keep_alive || token_in(v, "keep-alive");
	}
	return true;
}

/* end_head decides how the body is delimited once the head is complete;
 * false for a body too large to accept */
static bool
end_head(struct wh_resp *rs)
{
	if (!rs->http11 && !rs->keep_alive) {
		rs->close = true;
	}
	if (rs->status == 204 || rs->status == 304) {
		rs->remaining = 0;
		rs->state = P_BODY;
	} else if (rs->chunked) {
		rs->state = P_CHUNK_SIZE;
	} else if (rs->has_length) {
		rs->remaining = rs->length;
		rs->state = P_BODY;
	} else {
		rs->close = true;
		rs->state = P_UNTIL_CLOSE;
	}
	return true;
}

static bool
parse_chunk_size(struct wh_resp *rs, const char *line)
{
	size_t n = 0;
	const char *p = line;

	for (; *p != '\0' && *p != ';' && *p != ' ' && *p != '\t'; p++) {
		int d = lwm2m_hex_digit(*p);

		if (d < 0 || n > WH_RESPONSE_BODY_MAX) {
			return false;
		}
		n = n * 16 + (size_t)d;
	}
	if (p == line) {
		return false;
	}
	rs->body_bytes += n;
	if (rs->body_bytes > WH_RESPONSE_BODY_MAX) {
		return false;
	}
	rs->remaining = n;
	rs->state = n == 0 ? P_TRAILERS : P_CHUNK_DATA;
	return true;
}

/* skip drains up to rs->remaining body bytes; true when none remain */
static bool
skip(struct evbuffer *in, struct wh_resp *rs)
{
	size_t n = evbuffer_get_length(in);

	if (n > rs->remaining) {
		n = rs->remaining;
	}
	evbuffer_drain(in, n);
	rs->remaining -= n;
	return rs->remaining == 0;
}

/* head_line handles one line of the head (status, headers, trailers);
 * -1 on a malformed response, 1 when the response is complete */
static int
head_line(struct wh_resp *rs, char *line, size_t len)
{
	rs->head_bytes += len + 2;
	if (rs->head_bytes > WH_RESPONSE_HEADERS_MAX) {
		return -1;
	}
	switch (rs->state) {
	case P_STATUS:
		if (!parse_status(rs, line)) {
			return -1;
		}
		rs->state = P_HEADERS;
		return 0;
	case P_HEADERS:
		if (len > 0) {
			return parse_header(rs, line) ? 0 : -1;
		}
		if (rs->status < 200) { /* 1xx: an interim answer, skip it */
			memset(rs, 0, sizeof *rs);
			return 0;
		}
		return end_head(rs) ? 0 : -1;
	case P_CHUNK_SIZE:
		return parse_chunk_size(rs, line) ? 0 : -1;
	case P_CHUNK_END:
		rs->state = P_CHUNK_SIZE;
		return len == 0 ? 0 : -1;
	case P_TRAILERS:
		return len == 0 ? 1 : 0;
	case P_BODY:
	case P_CHUNK_DATA:
	case P_UNTIL_CLOSE:
	default:
		return -1;
	}
}

/* parse_step advances the response of in by one step: -1 malformed, 0 needs
 * more input, 1 progressed, 2 the response is complete */
static int
parse_step(struct evbuffer *in, struct wh_resp *rs)
{
	char line[WH_LINE_MAX + 1];
	size_t len = 0;
	int r;

	switch (rs->state) {
	case P_BODY:
		return skip(in, rs) ? 2 : 0;
	case P_CHUNK_DATA:
		if (skip(in, rs)) {
			rs->state = P_CHUNK_END;
			return 1;
		}
		return 0;
	case P_UNTIL_CLOSE:
		rs->body_bytes += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		return rs->body_bytes > WH_RESPONSE_BODY_MAX ? -1 : 0;
	case P_STATUS:
	case P_HEADERS:
	case P_CHUNK_SIZE:
	case P_CHUNK_END:
	case P_TRAILERS:
	default:
		break;
	}
	r = next_line(in, line, &len);
	if (r <= 0) {
		return r;
	}
	r = head_line(rs, line, len);
	return r < 0 ? -1 : r == 1 ? 2 : 1;
}

/* requeue puts the requests written behind a response that announced the
 * end of the connection back at the head of the host's queue, in order: the
 * peer closes without processing them (RFC 9112 9.6), so they go out again
 * on another connection without counting as a failed attempt. */
static void
requeue(struct wh_conn *c)
{
	struct wh_req *r;

	while ((r = TAILQ_LAST(&c->sent, wh_req_list)) != NULL) {
		TAILQ_REMOVE(&c->sent, r, link);
		TAILQ_INSERT_HEAD(&c->host->waiting, r, link);
	}
	c->n_sent = 0;
}

/* complete answers the oldest request of c; false when c was freed */
static bool
complete(struct wh_conn *c)
{
	struct wh_req *r = TAILQ_FIRST(&c->sent);
	bool close = c->resp.close;
	int status = c->resp.status;

	if (!close && c->resp.http11) {
		c->pipeline = true;
	}
	memset(&c->resp, 0, sizeof c->resp);
	TAILQ_REMOVE(&c->sent, r, link);
	c->n_sent--;
	if (close) {
		requeue(c);
		conn_free(c, "connection closed");
	} else {
		if (c->n_sent == 0) {
			set_timeouts(c, false);
		}
		event_active(c->host->pump, EV_TIMEOUT, 0);
	}
	req_finish(r, status, NULL);
	return !close;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct wh_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	int r;

	for (;;) {
		if (TAILQ_EMPTY(&c->sent)) {
			if (evbuffer_get_length(in) > 0) {
				/* bytes nobody asked for: out of step */
				conn_free(c, "bad response");
			}
			return;
		}
		r = parse_step(in, &c->resp);
		if (r < 0) {
			conn_free(c, "bad response");
			return;
		}
		if (r == 0 || (r == 2 && !complete(c))) {
			return;
		}
	}
}

/* tls_error names the OpenSSL reason (e.g. "certificate verify failed")
 * when a TLS connection failed; the text is static. */
static const char *
tls_error(struct wh_conn *c, const char *fallback)
{
	unsigned long e;

	if (!c->host->tls) {
		return fallback;
	}
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0) {
		if (ERR_reason_error_string(e) != NULL) {
			return ERR_reason_error_string(e);
		}
	}
	return fallback;
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct wh_conn *c = arg;
	const char *error = "connection failed";
	int one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		           &one, sizeof one);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		error = "timeout";
	} else if (what & BEV_EVENT_EOF) {
		error = "connection closed";
		if (c->resp.state == P_UNTIL_CLOSE && !TAILQ_EMPTY(&c->sent)) {
			complete(c); /* frees c: the response asked to close */
			return;
		}
	} else {
		error = tls_error(c, error);
	}
	if (c->connecting) {
		c->dead = true;
		c->dead_error = error;
		return;
	}
	conn_free(c, error);
}

static struct bufferevent *
tls_bufferevent(struct wh_http *http, const char *name)
{
	struct in6_addr a;
	struct bufferevent *bev;
	SSL *ssl = SSL_new(http->ssl);
	bool ip = inet_pton(AF_INET, name, &a) == 1 ||
	          inet_pton(AF_INET6, name, &a) == 1;

	if (ssl == NULL) {
		return NULL;
	}
	if (!ip) {
		SSL_set_tlsext_host_name(ssl, name);
		SSL_set1_host(ssl, name);
	} else {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
	}
	bev = bufferevent_openssl_socket_new(
	    http->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* conn_new opens a connection to h; NULL when out of memory.  A connection
 * that failed at once comes back with dead set. */
static struct wh_conn *
conn_new(struct wh_host *h)
{
	struct wh_http *http = h->http;
	struct wh_conn *c = calloc(1, sizeof *c);

	if (c == NULL) {
		return NULL;
	}
	c->bev = h->tls ? tls_bufferevent(http, h->name)
	                : bufferevent_socket_new(http->base, -1,
	                                         BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		free(c);
		return NULL;
	}
	c->host = h;
	TAILQ_INIT(&c->sent);
	TAILQ_INSERT_TAIL(&h->conns, c, link);
	h->n_conns++;
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->connecting = true;
	if (bufferevent_socket_connect_hostname(c->bev, http->dns, AF_UNSPEC,
	                                        h->name, h->port) != 0 &&
	    !c->dead) {
		c->dead = true;
		c->dead_error = "connection failed";
	}
	c->connecting = false;
	return c;
}

/* pick_conn returns the connection for h's next request: an idle one, else
 * a new one while below the limit, else the least loaded one that may take
 * one more pipelined request; NULL when all are busy. */
static struct wh_conn *
pick_conn(struct wh_host *h)
{
	const struct wh_http_config *cfg = &h->http->config;
	struct wh_conn *c, *best = NULL;

	TAILQ_FOREACH(c, &h->conns, link)
	{
		if (c->n_sent == 0) {
			return c;
		}
		if (c->pipeline && c->n_sent < cfg->max_pipeline &&
		    (best == NULL || c->n_sent < best->n_sent)) {
			best = c;
		}
	}
	if (h->n_conns < cfg->max_conn_per_host) {
		return conn_new(h);
	}
	return best;
}

static void
on_pump(evutil_socket_t fd, short what, void *arg)
{
	struct wh_host *h = arg;
	struct wh_req *r;
	struct wh_conn *c;

	while ((r = TAILQ_FIRST(&h->waiting)) != NULL) {
		c = pick_conn(h);
		if (c == NULL) {
			if (h->n_conns == 0) { /* out of memory */
				TAILQ_REMOVE(&h->waiting, r, link);
				req_finish(r, 0, "connection failed");
				continue;
			}
			return;
		}
		TAILQ_REMOVE(&h->waiting, r, link);
		TAILQ_INSERT_TAIL(&c->sent, r, link);
		if (c->n_sent++ == 0) {
			set_timeouts(c, true);
		}
		if (c->dead) {
			conn_free(c, c->dead_error);
		} else if (bufferevent_write(c->bev, r->data, r->len) != 0) {
			conn_free(c, "connection failed");
		}
	}
}

static void
host_free(struct wh_host *h)
{
	struct wh_req *r;

	while ((r = TAILQ_FIRST(&h->waiting)) != NULL) {
		TAILQ_REMOVE(&h->waiting, r, link);
		req_finish(r, 0, "shutdown");
	}
	while (!TAILQ_EMPTY(&h->conns)) {
		conn_free(TAILQ_FIRST(&h->conns), "shutdown");
	}
	TAILQ_REMOVE(&h->http->hosts, h, link);
	h->http->n_hosts--;
	if (h->pump != NULL) {
		event_free(h->pump);
	}
	free(h->name);
	free(h);
}

static bool
host_idle(const struct wh_host *h)
{
	const struct wh_conn *c;

	if (!TAILQ_EMPTY(&h->waiting)) {
		return false;
	}
	TAILQ_FOREACH(c, &h->conns, link)
	{
		if (c->n_sent != 0) {
			return false;
		}
	}
	return true;
}

/* on_reap bounds the number of hosts kept (web hook URLs come from users).
 * It runs as its own loop callback, never nested in a connection or pump
 * callback, so freeing a host is safe. */
static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct wh_http *http = arg;
	struct wh_host *h, *next;

	for (h = TAILQ_FIRST(&http->hosts);
	     h != NULL && http->n_hosts >= http->config.max_hosts; h = next) {
		next = TAILQ_NEXT(h, link);
		if (host_idle(h)) {
			host_free(h);
		}
	}
}

static struct wh_host *
host_get(struct wh_http *http, const char *name, int port, bool tls)
{
	struct wh_host *h;

	TAILQ_FOREACH(h, &http->hosts, link)
	{
		if (h->port == port && h->tls == tls &&
		    strcmp(h->name, name) == 0) {
			return h;
		}
	}
	if (http->n_hosts >= http->config.max_hosts) {
		event_active(http->reap_ev, EV_TIMEOUT, 0);
	}
	h = calloc(1, sizeof *h);
	if (h == NULL) {
		return NULL;
	}
	h->http = http;
	h->port = port;
	h->tls = tls;
	TAILQ_INIT(&h->conns);
	TAILQ_INIT(&h->waiting);
	h->name = strdup(name);
	h->pump = event_new(http->base, -1, 0, on_pump, h);
	TAILQ_INSERT_TAIL(&http->hosts, h, link);
	http->n_hosts++;
	if (h->name == NULL || h->pump == NULL) {
		host_free(h);
		return NULL;
	}
	return h;
}

static SSL_CTX *
ssl_ctx_new(const struct wh_http_config *config)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1 ||
	    (config->ca_file != NULL &&
	     SSL_CTX_load_verify_locations(ctx, config->ca_file, NULL) != 1)) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot load CA certificates%s%s",
		          config->ca_file ? " from " : "",
		          config->ca_file ? config->ca_file : "");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(
	    ctx, config->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	return ctx;
}

lwm2m_err
wh_http_new(struct event_base *base, const struct wh_http_config *config,
            struct wh_http **ret_http)
{
	struct wh_http *http = calloc(1, sizeof *http);

	if (http == NULL) {
		return LWM2M_ENOMEM;
	}
	http->base = base;
	http->config = *config;
	if (http->config.max_conn_per_host == 0) {
		http->config.max_conn_per_host = 1;
	}
	if (http->config.max_pipeline == 0) {
		http->config.max_pipeline = 1;
	}
	if (http->config.max_hosts == 0) {
		http->config.max_hosts = 1024;
	}
	TAILQ_INIT(&http->hosts);
	http->reap_ev = event_new(base, -1, 0, on_reap, http);
	http->ssl = ssl_ctx_new(config);
	/* without a resolv.conf, connecting falls back to blocking
	 * getaddrinfo */
	http->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (http->ssl == NULL || http->reap_ev == NULL) {
		lwm2m_err err = http->ssl == NULL ? LWM2M_EINVAL : LWM2M_ENOMEM;

		wh_http_free(http);
		return err;
	}
	*ret_http = http;
	return LWM2M_OK;
}

void
wh_http_free(struct wh_http *http)
{
	if (http == NULL) {
		return;
	}
	while (!TAILQ_EMPTY(&http->hosts)) {
		host_free(TAILQ_FIRST(&http->hosts));
	}
	if (http->dns != NULL) {
		evdns_base_free(http->dns, 0);
	}
	if (http->reap_ev != NULL) {
		event_free(http->reap_ev);
	}
	SSL_CTX_free(http->ssl);
	free(http);
}

static lwm2m_err
parse_url(const char *url, struct evhttp_uri **ret_uri, bool *ret_tls,
          int *ret_port)
{
	struct evhttp_uri *uri = evhttp_uri_parse(url);
	const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
	const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
	bool tls =
	    scheme != NULL && evutil_ascii_strcasecmp(scheme, "https") == 0;

	if (scheme == NULL || host == NULL || host[0] == '\0' ||
	    strlen(host) > 255 ||
	    (!tls && evutil_ascii_strcasecmp(scheme, "http") != 0)) {
		if (uri != NULL) {
			evhttp_uri_free(uri);
		}
		return LWM2M_EINVAL;
	}
	*ret_uri = uri;
	*ret_tls = tls;
	*ret_port = evhttp_uri_get_port(uri) > 0 ? evhttp_uri_get_port(uri)
	                                         : (tls ? 443 : 80);
	return LWM2M_OK;
}

/* connect_name returns host without the brackets of an IPv6 literal (the
 * Host header keeps them), using buf (at least 256 bytes). */
static const char *
connect_name(const char *host, char *buf)
{
	size_t n = strlen(host);

	if (n < 2 || host[0] != '[' || host[n - 1] != ']') {
		return host;
	}
	memcpy(buf, host + 1, n - 2);
	buf[n - 2] = '\0';
	return buf;
}

/* has_ctl is true when a header value would break the request head */
static bool
has_ctl(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			return true;
		}
	}
	return false;
}

/* request_ok is false when a part of the request would break its head */
static bool
request_ok(const struct evhttp_uri *uri, const struct wh_http_headers *hd)
{
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);

	return !(path != NULL && has_ctl(path)) &&
	       !(query != NULL && has_ctl(query)) &&
	       !has_ctl(hd->content_type) && !has_ctl(hd->delivery_id) &&
	       !(hd->signature != NULL && has_ctl(hd->signature));
}

/* new_request formats the whole POST (head and body) into one allocation */
static struct wh_req *
new_request(const struct evhttp_uri *uri, const struct wh_http_headers *hd,
            const void *body, size_t len)
{
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	const char *host = evhttp_uri_get_host(uri);
	const char *sig = hd->signature;
	int port = evhttp_uri_get_port(uri);
	size_t cap;
	struct wh_req *r;
	int n;

	if (path == NULL || path[0] == '\0') {
		path = "/";
	}
	cap = 256 + strlen(path) + (query ? strlen(query) : 0) + strlen(host) +
	      strlen(hd->content_type) + strlen(hd->delivery_id) +
	      (sig ? strlen(sig) : 0) + sizeof LWDS_VERSION + len;
	r = malloc(sizeof *r + cap);
	if (r == NULL) {
		return NULL;
	}
	n = snprintf(r->data, cap,
	             "POST %s%s%s HTTP/1.1\r\n"
	             "Host: %s%s%.0d\r\n"
	             "User-Agent: lwds-webhook/" LWDS_VERSION "\r\n"
	             "Accept: */*\r\n"
	             "Content-Type: %s\r\n"
	             "X-Lwds-Delivery: %s\r\n"
	             "X-Lwds-Attempt: %u\r\n"
	             "%s%s%s"
	             "Content-Length: %zu\r\n\r\n",
	             path, query ? "?" : "", query ? query : "", host,
	             port > 0 ? ":" : "", port > 0 ? port : 0, hd->content_type,
	             hd->delivery_id, hd->attempt,
	             sig ? "X-Lwds-Signature: " : "", sig ? sig : "",
	             sig ? "\r\n" : "", len);
	if (n < 0 || (size_t)n + len > cap) {
		free(r);
		return NULL;
	}
	memcpy(r->data + n, body, len);
	r->len = (size_t)n + len;
	return r;
}

lwm2m_err
wh_http_post(struct wh_http *http, const char *url,
             const struct wh_http_headers *headers, const void *body,
             size_t body_len, wh_http_cb cb, void *arg)
{
	struct evhttp_uri *uri;
	struct wh_host *h;
	struct wh_req *r = NULL;
	lwm2m_err err;
	char name[256];
	bool tls;
	int port;

	err = parse_url(url, &uri, &tls, &port);
	if (err != LWM2M_OK) {
		return err;
	}
	if (!request_ok(uri, headers)) {
		evhttp_uri_free(uri);
		return LWM2M_EINVAL;
	}
	h = host_get(http, connect_name(evhttp_uri_get_host(uri), name), port,
	             tls);
	if (h != NULL) {
		r = new_request(uri, headers, body, body_len);
	}
	evhttp_uri_free(uri);
	if (r == NULL) {
		return LWM2M_ENOMEM;
	}
	r->host = h;
	r->cb = cb;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&h->waiting, r, link);
	http->active++;
	event_active(h->pump, EV_TIMEOUT, 0);
	return LWM2M_OK;
}

unsigned
wh_http_active(const struct wh_http *http)
{
	return http->active;
}
