/* lwds-bench-notify: a lean LwM2M device emulator for the notification
 * benchmark (bench/README.md, scenario 4).
 *
 * N devices, one UDP socket each (the gateway addresses a device by the
 * source address of its registration), register "<prefix>0".."<prefix>N-1"
 * with --links, then answer what the server asks: Write-Attributes (PUT
 * with queries) 2.04, GET with Observe 0 2.05 + Observe + the current value
 * (the observation is kept: token and path), GET without Observe or with
 * Observe 1 2.05 (the latter ends the observation), anything else 4.05.
 * An RST to a notification ends the observation.
 *
 * The notified value is text/plain: the send time in microseconds since
 * --epoch-us (CLOCK_REALTIME), strictly increasing per device, so a sink
 * on the same machine computes device-to-hook latency from the value.
 *
 * Control on stdin, one command a line, answers as JSON lines on stdout:
 *   run RATE SECONDS [non|con]  notifications round-robin over the observed
 *                               devices at RATE/s in total (open loop; 0: as
 *                               fast as possible); con: at most one CON in
 *                               flight per device (retransmitted per RFC
 *                               7252), so the gateway's ACKs pace a RATE 0
 *                               run; answers {"event":"done",...}
 *   stats                       {"event":"stats","observed":..,...}
 *   ids                         {"event":"ids","ids":[client id of device
 *                               0, 1, ...]} ("" for one not registered)
 *   quit
 * Events: {"event":"registered",...} once every device registered, and
 * {"event":"observed","n":N} each time the number of observed devices
 * reaches --expect-obs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"
#include "lwm2m_id.h"

#define MAX_DEVICES 100000u
#define PKT_MAX 1280
#define ID_MAX 64
#define PATH_MAX_LEN 32
#define ACK_TIMEOUT_US 2000000
#define MAX_RETRANSMIT 4
#define REG_WINDOW 64
#define CMD_MAX 256

struct dev {
	int fd;
	char id[ID_MAX]; /* location from the 2.01, "" until registered */
	/* registration exchange */
	bool reg_busy;
	uint16_t reg_mid;
	uint8_t reg_token[8];
	int reg_tries;
	int64_t reg_due;
	/* the observation */
	bool observed;
	uint8_t tkl;
	uint8_t token[8];
	char path[PATH_MAX_LEN];
	uint32_t seq;
	int64_t last_value;
	/* the CON notification in flight */
	bool con_busy;
	uint16_t con_mid;
	int con_tries;
	int64_t con_due;
	size_t con_len;
	uint8_t con_pkt[96];
};

struct emu {
	struct sockaddr_in server;
	uint32_t count;
	const char *prefix;
	const char *links;
	unsigned lifetime;
	int64_t epoch_us;
	uint32_t expect_obs;
	int ep;
	struct dev *devs;
	uint16_t next_mid;
	uint64_t next_token;
	uint32_t registered, reg_started, reg_done, observed;
	uint64_t reg_errors;
	uint32_t cursor;
	/* the current run */
	bool running, con;
	double rate;
	int64_t run_start, run_end;
	uint64_t sent, acked, rst, retransmits, con_timeouts, deferred;
	uint64_t requests; /* server requests answered, all time */
};

/* ---- CoAP encoding ------------------------------------------------------ */

struct pkt {
	uint8_t b[PKT_MAX];
	struct bench_coap_out o;
};

static void
put_header(struct pkt *p, unsigned type, uint8_t code, uint16_t mid,
           const uint8_t *token, uint8_t tkl)
{
	bench_coap_put_header(&p->o, p->b, sizeof p->b, type, code, mid, token,
	                      tkl);
}

/* ---- CoAP decoding ------------------------------------------------------ */

struct msg {
	struct bench_coap h;
	char path[PATH_MAX_LEN]; /* "/a/b/c" from Uri-Path */
	bool has_observe, has_query;
	uint32_t observe;
	const uint8_t *loc[2]; /* Location-Path values */
	size_t loc_len[2];
};

static void
take_option(struct msg *m, unsigned num, const uint8_t *v, unsigned l,
            unsigned *nloc)
{
	size_t used = strlen(m->path);

	if (num == 11 && used + 1 + l < sizeof m->path) {
		m->path[used] = '/';
		memcpy(m->path + used + 1, v, l);
		m->path[used + 1 + l] = '\0';
	} else if (num == 6 && l <= 3) {
		m->has_observe = true;
		m->observe = 0;
		for (unsigned i = 0; i < l; i++) {
			m->observe = m->observe << 8 | v[i];
		}
	} else if (num == 15) {
		m->has_query = true;
	} else if (num == 8 && *nloc < 2) {
		m->loc[*nloc] = v;
		m->loc_len[(*nloc)++] = l;
	}
}

static bool
parse_msg(const uint8_t *buf, size_t len, struct msg *m)
{
	const uint8_t *v;
	unsigned num, l, nloc = 0;
	int got;

	memset(m, 0, sizeof *m);
	if (!bench_coap_parse(buf, len, &m->h)) {
		return false;
	}
	while ((got = bench_coap_next_opt(&m->h, &num, &v, &l)) > 0) {
		take_option(m, num, v, l, &nloc);
	}
	return got == 0;
}

/* ---- registration ------------------------------------------------------- */

static void
dev_send(struct emu *e, const struct dev *d, const void *b, size_t len)
{
	(void)sendto(d->fd, b, len, 0, (const struct sockaddr *)&e->server,
	             sizeof e->server);
}

static void
reg_send(struct emu *e, struct dev *d, uint32_t idx)
{
	struct pkt p;
	char q[160];
	uint8_t ct40 = 40;
	bool ok;

	put_header(&p, 0, 0x02, d->reg_mid, d->reg_token, 8);
	ok = bench_coap_put_opt(&p.o, 11, "rd", 2) &&
	     bench_coap_put_opt(&p.o, 12, &ct40, 1);
	snprintf(q, sizeof q, "ep=%s%" PRIu32, e->prefix, idx);
	ok = ok && bench_coap_put_opt(&p.o, 15, q, strlen(q));
	snprintf(q, sizeof q, "lt=%u", e->lifetime);
	ok = ok && bench_coap_put_opt(&p.o, 15, q, strlen(q)) &&
	     bench_coap_put_opt(&p.o, 15, "lwm2m=1.1", 9) &&
	     bench_coap_put_opt(&p.o, 15, "b=U", 3) &&
	     bench_coap_put_payload(&p.o, e->links, strlen(e->links));
	if (!ok) {
		fprintf(stderr, "bench-notify: register does not fit\n");
		exit(2);
	}
	dev_send(e, d, p.b, p.o.len);
}

static void
reg_start(struct emu *e)
{
	while (e->reg_started < e->count &&
	       e->reg_started - e->reg_done < REG_WINDOW) {
		struct dev *d = &e->devs[e->reg_started];
		uint64_t tok = ++e->next_token;

		d->reg_busy = true;
		d->reg_mid = ++e->next_mid;
		memcpy(d->reg_token, &tok, 8);
		d->reg_tries = 0;
		d->reg_due = bench_now_us() + ACK_TIMEOUT_US;
		reg_send(e, d, e->reg_started);
		e->reg_started++;
	}
}

static void
reg_finish(struct emu *e, struct dev *d, const struct msg *m)
{
	d->reg_busy = false;
	e->reg_done++;
	if (m->h.code == 0x41 && m->loc_len[1] > 0 && m->loc_len[1] < ID_MAX) {
		memcpy(d->id, m->loc[1], m->loc_len[1]);
		d->id[m->loc_len[1]] = '\0';
		e->registered++;
	} else {
		e->reg_errors++;
	}
	reg_start(e);
	if (e->reg_done == e->count) {
		printf("{\"event\":\"registered\",\"ok\":%" PRIu32
		       ",\"errors\":%" PRIu64 "}\n",
		       e->registered, e->reg_errors);
		fflush(stdout);
	}
}

/* ---- notifications ------------------------------------------------------ */

static int64_t
next_value(const struct emu *e, struct dev *d)
{
	int64_t v = bench_real_us() - e->epoch_us;

	if (v <= d->last_value) {
		v = d->last_value + 1;
	}
	d->last_value = v;
	return v;
}

/* build_value: a 2.05 with Observe seq (when observe) and the value. */
static void
build_value(struct emu *e, struct dev *d, struct pkt *p, unsigned type,
            uint16_t mid, const uint8_t *token, uint8_t tkl, bool observe)
{
	char text[32];
	int n = snprintf(text, sizeof text, "%" PRId64, next_value(e, d));

	put_header(p, type, 0x45, mid, token, tkl);
	if (observe) {
		(void)bench_coap_put_uint_opt(&p->o, 6, ++d->seq & 0xffffff);
	}
	(void)bench_coap_put_uint_opt(&p->o, 12, 0); /* text/plain */
	(void)bench_coap_put_payload(&p->o, text, (size_t)n);
}

static void
notify(struct emu *e, struct dev *d)
{
	struct pkt p;

	if (e->con && d->con_busy) {
		e->deferred++;
		return;
	}
	build_value(e, d, &p, e->con ? 0 : 1, ++e->next_mid, d->token, d->tkl,
	            true);
	if (e->con) {
		d->con_busy = true;
		d->con_mid = e->next_mid;
		d->con_tries = 0;
		d->con_due = bench_now_us() + ACK_TIMEOUT_US;
		d->con_len = p.o.len <= sizeof d->con_pkt ? p.o.len : 0;
		memcpy(d->con_pkt, p.b, d->con_len);
	}
	dev_send(e, d, p.b, p.o.len);
	e->sent++;
}

/* next_observed returns the next observed device round-robin, or NULL. */
static struct dev *
next_observed(struct emu *e)
{
	for (uint32_t n = 0; n < e->count; n++) {
		struct dev *d = &e->devs[e->cursor];

		e->cursor = (e->cursor + 1) % e->count;
		if (d->observed && !(e->con && d->con_busy)) {
			return d;
		}
	}
	return NULL;
}

static void
run_report(struct emu *e)
{
	double secs = (bench_now_us() - e->run_start) / 1e6;

	printf("{\"event\":\"done\",\"sent\":%" PRIu64 ",\"acked\":%" PRIu64
	       ",\"rst\":%" PRIu64 ",\"retransmits\":%" PRIu64
	       ",\"con_timeouts\":%" PRIu64 ",\"elapsed_s\":%.3f,"
	       "\"rate\":%.1f,\"observed\":%" PRIu32 "}\n",
	       e->sent, e->acked, e->rst, e->retransmits, e->con_timeouts, secs,
	       secs > 0 ? e->sent / secs : 0.0, e->observed);
	fflush(stdout);
}

static bool
con_pending(const struct emu *e)
{
	for (uint32_t i = 0; i < e->count; i++) {
		if (e->devs[i].con_busy) {
			return true;
		}
	}
	return false;
}

/* run_tick sends the notifications due now (at most a burst of 256). */
static void
run_tick(struct emu *e, int64_t t)
{
	uint64_t due;
	struct dev *d;

	if (!e->running) {
		return;
	}
	if (t >= e->run_end) {
		if (!e->con || !con_pending(e)) {
			e->running = false;
			run_report(e);
		}
		return;
	}
	due = e->rate > 0 ? (uint64_t)((t - e->run_start) * e->rate / 1e6)
	                  : e->sent + 256;
	for (int burst = 0; e->sent < due && burst < 256; burst++) {
		d = next_observed(e);
		if (d == NULL) {
			return;
		}
		notify(e, d);
	}
}

static void
con_timers(struct emu *e, int64_t t)
{
	for (uint32_t i = 0; i < e->count; i++) {
		struct dev *d = &e->devs[i];

		if (d->reg_busy && t >= d->reg_due) {
			if (d->reg_tries >= MAX_RETRANSMIT) {
				struct msg m = {.h.code = 0};
				reg_finish(e, d, &m);
				continue;
			}
			d->reg_tries++;
			d->reg_due =
			    t + ((int64_t)ACK_TIMEOUT_US << d->reg_tries);
			reg_send(e, d, i);
		}
		if (!d->con_busy || t < d->con_due) {
			continue;
		}
		if (d->con_tries >= MAX_RETRANSMIT) {
			d->con_busy = false;
			e->con_timeouts++;
			continue;
		}
		d->con_tries++;
		e->retransmits++;
		d->con_due = t + ((int64_t)ACK_TIMEOUT_US << d->con_tries);
		dev_send(e, d, d->con_pkt, d->con_len);
	}
}

/* ---- server requests ---------------------------------------------------- */

static void
observe_start(struct emu *e, struct dev *d, const struct msg *m)
{
	if (!d->observed) {
		e->observed++;
		d->observed = true;
		if (e->observed == e->expect_obs) {
			printf("{\"event\":\"observed\",\"n\":%" PRIu32 "}\n",
			       e->observed);
			fflush(stdout);
		}
	}
	d->tkl = m->h.tkl;
	memcpy(d->token, m->h.token, m->h.tkl);
	snprintf(d->path, sizeof d->path, "%s", m->path);
}

static void
observe_end(struct emu *e, struct dev *d)
{
	if (d->observed) {
		d->observed = false;
		e->observed--;
	}
}

static void
answer(struct emu *e, struct dev *d, const struct msg *m,
       const struct sockaddr_in *from)
{
	struct pkt p;
	unsigned type = m->h.type == 0 ? 2 : 1; /* piggybacked ACK, or NON */
	uint16_t mid = m->h.type == 0 ? m->h.mid : ++e->next_mid;

	e->requests++;
	if (m->h.code == 0x01 && m->has_observe && m->observe == 0) {
		observe_start(e, d, m);
		build_value(e, d, &p, type, mid, m->h.token, m->h.tkl, true);
	} else if (m->h.code == 0x01) {
		if (m->has_observe && m->observe == 1) {
			observe_end(e, d);
		}
		build_value(e, d, &p, type, mid, m->h.token, m->h.tkl, false);
	} else if (m->h.code == 0x03 && m->has_query) {
		put_header(&p, type, 0x44, mid, m->h.token, m->h.tkl);
	} else {
		put_header(&p, type, 0x85, mid, m->h.token, m->h.tkl);
	}
	(void)sendto(d->fd, p.b, p.o.len, 0, (const struct sockaddr *)from,
	             sizeof *from);
}

static void
on_response(struct emu *e, struct dev *d, const struct msg *m,
            const struct sockaddr_in *from)
{
	if (m->h.type == 0) { /* separate CON response: ACK it */
		bench_coap_send_ack(d->fd, m->h.mid, from);
	}
	if (d->reg_busy && m->h.code != 0 && m->h.tkl == 8 &&
	    memcmp(m->h.token, d->reg_token, 8) == 0) {
		reg_finish(e, d, m);
	}
}

static void
on_datagram(struct emu *e, struct dev *d, const uint8_t *buf, size_t len,
            const struct sockaddr_in *from)
{
	struct msg m;

	if (!parse_msg(buf, len, &m)) {
		return;
	}
	if (m.h.code >= 1 && m.h.code < 32 && m.h.type <= 1) {
		answer(e, d, &m, from);
	} else if (m.h.code >= 64) {
		on_response(e, d, &m, from);
	} else if (m.h.type == 2 && d->con_busy && m.h.mid == d->con_mid) {
		d->con_busy = false;
		e->acked++;
	} else if (m.h.type == 2 && d->reg_busy && m.h.mid == d->reg_mid) {
		d->reg_due =
		    bench_now_us() + 30 * 1000000LL; /* separate answer */
	} else if (m.h.type == 3) {
		if (d->con_busy && m.h.mid == d->con_mid) {
			d->con_busy = false;
		}
		e->rst++;
		observe_end(e, d);
	}
}

static void
drain(struct emu *e, struct dev *d)
{
	uint8_t buf[PKT_MAX];
	struct sockaddr_in from;
	socklen_t fl;

	for (int i = 0; i < 64; i++) {
		ssize_t n;

		fl = sizeof from;
		n = recvfrom(d->fd, buf, sizeof buf, MSG_DONTWAIT,
		             (struct sockaddr *)&from, &fl);
		if (n <= 0) {
			return;
		}
		on_datagram(e, d, buf, (size_t)n, &from);
	}
}

/* ---- control ------------------------------------------------------------ */

static void
print_stats(const struct emu *e)
{
	printf("{\"event\":\"stats\",\"registered\":%" PRIu32
	       ",\"observed\":%" PRIu32 ",\"requests\":%" PRIu64
	       ",\"sent\":%" PRIu64 ",\"running\":%s}\n",
	       e->registered, e->observed, e->requests, e->sent,
	       e->running ? "true" : "false");
	fflush(stdout);
}

static void
print_ids(const struct emu *e)
{
	printf("{\"event\":\"ids\",\"ids\":[");
	for (uint32_t i = 0; i < e->count; i++) {
		printf("%s\"%s\"", i ? "," : "", e->devs[i].id);
	}
	printf("]}\n");
	fflush(stdout);
}

/* command handles one stdin line; false on quit or end of input. */
static bool
command(struct emu *e, char *line)
{
	char mode[8] = "non";
	double rate, secs;

	if (strncmp(line, "quit", 4) == 0) {
		return false;
	}
	if (strncmp(line, "stats", 5) == 0) {
		print_stats(e);
	} else if (strncmp(line, "ids", 3) == 0) {
		print_ids(e);
	} else if (sscanf(line, "run %lf %lf %7s", &rate, &secs, mode) >= 2 &&
	           rate >= 0 && secs > 0 && !e->running) {
		e->running = true;
		e->con = strcmp(mode, "con") == 0;
		e->rate = rate;
		e->sent = e->acked = e->rst = e->retransmits = 0;
		e->con_timeouts = e->deferred = 0;
		e->run_start = bench_now_us();
		e->run_end = e->run_start + (int64_t)(secs * 1e6);
	} else {
		printf("{\"event\":\"error\",\"line\":\"bad command\"}\n");
		fflush(stdout);
	}
	return true;
}

static bool
read_commands(struct emu *e)
{
	static char buf[CMD_MAX];
	static size_t used;
	ssize_t n = read(0, buf + used, sizeof buf - 1 - used);
	char *nl;

	if (n <= 0) {
		return false;
	}
	used += (size_t)n;
	buf[used] = '\0';
	while ((nl = strchr(buf, '\n')) != NULL) {
		*nl = '\0';
		if (!command(e, buf)) {
			return false;
		}
		used -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, used + 1);
	}
	if (used == sizeof buf - 1) {
		used = 0; /* an over-long line: drop it */
	}
	return true;
}

/* ---- set-up ------------------------------------------------------------- */

static bool
open_sockets(struct emu *e)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};

	bench_raise_nofile(e->count + 64u);
	if (epoll_ctl(e->ep, EPOLL_CTL_ADD, 0, &ev) != 0) {
		return false;
	}
	for (uint32_t i = 0; i < e->count; i++) {
		if (!bench_udp_open(0x7f000001, e->ep, i, &e->devs[i].fd)) {
			perror("bench-notify: socket");
			return false;
		}
	}
	return true;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: lwds-bench-notify --server A.B.C.D:PORT "
	           "[--count N] [--prefix P]\n"
	           "  [--lifetime S] [--links L] [--epoch-us T] "
	           "[--expect-obs N]\n"
	           "then commands on stdin: run RATE SECONDS [non|con], "
	           "stats, quit\n");
}

static bool
parse_opts(struct emu *e, int argc, char **argv)
{
	static const struct option opts[] = {{"server", 1, 0, 's'},
	                                     {"count", 1, 0, 'n'},
	                                     {"prefix", 1, 0, 'p'},
	                                     {"lifetime", 1, 0, 'l'},
	                                     {"links", 1, 0, 'L'},
	                                     {"epoch-us", 1, 0, 'E'},
	                                     {"expect-obs", 1, 0, 'o'},
	                                     {"help", 0, 0, 'h'},
	                                     {0, 0, 0, 0}};
	int c;
	bool ok = true;

	while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ok = bench_parse_addr(optarg, &e->server);
			break;
		case 'n':
			e->count = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			e->prefix = optarg;
			break;
		case 'l':
			e->lifetime = (unsigned)atoi(optarg);
			break;
		case 'L':
			e->links = optarg;
			break;
		case 'E':
			e->epoch_us = atoll(optarg);
			break;
		case 'o':
			e->expect_obs = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			ok = false;
		}
	}
	return ok && e->server.sin_port != 0 && e->count >= 1 &&
	       e->count <= MAX_DEVICES && e->lifetime >= 1 &&
	       strlen(e->prefix) <= 64 && strlen(e->links) < 1000;
}

static void
loop(struct emu *e)
{
	struct epoll_event evs[256];
	int64_t last_timers = 0;

	for (;;) {
		int n = epoll_wait(e->ep, evs, 256, e->running ? 1 : 5);
		int64_t t;

		for (int i = 0; i < n; i++) {
			uint32_t idx = evs[i].data.u32;

			if (idx == UINT32_MAX) {
				if (!read_commands(e)) {
					return;
				}
				continue;
			}
			drain(e, &e->devs[idx]);
		}
		t = bench_now_us();
		run_tick(e, t);
		if (t - last_timers >= 10000) {
			con_timers(e, t);
			last_timers = t;
		}
	}
}

int
main(int argc, char **argv)
{
	struct emu e = {.count = 1000,
	                .prefix = "nb-",
	                .lifetime = 86400,
	                .links = "</>;rt=\"oma.lwm2m\";ct=\"60 110 112\","
	                         "</1/0>,</3/0>,</3303/0>"};

	if (!parse_opts(&e, argc, argv)) {
		usage(stderr);
		return 2;
	}
	if (e.epoch_us == 0) {
		e.epoch_us = bench_real_us();
	}
	e.devs = calloc(e.count, sizeof *e.devs);
	e.ep = epoll_create1(0);
	if (e.devs == NULL || e.ep < 0 || !open_sockets(&e)) {
		fprintf(stderr, "bench-notify: cannot set up\n");
		return 1;
	}
	(void)lwm2m_random(&e.next_mid, sizeof e.next_mid);
	(void)lwm2m_random(&e.next_token, sizeof e.next_token);
	reg_start(&e);
	loop(&e);
	return 0;
}
