/* lwds-bench-load: a lean LwM2M registration load generator for bench/.
 *
 * lwds-sim gives every device a libcoap session and a socket (about 5 KiB
 * and one descriptor each), which is right for behaviour tests and wrong
 * for measuring how fast a server takes registrations: the simulator would
 * be the limit.  This tool speaks just enough CoAP over plain UDP sockets:
 * S sockets (the concurrency), each with one exchange in flight at a time,
 * register N distinct endpoints "<prefix><first>".."<prefix><first+N-1>"
 * as fast as the server answers, then optionally send Updates for D
 * seconds (cycling over the registered devices), then optionally
 * De-register them.  It answers separate CON responses with an empty ACK
 * and retransmits per RFC 7252 (2 s, doubling, 4 retransmissions).
 *
 * One JSON line per phase on stdout:
 *   {"phase":"register","requests":..,"ok":..,"errors":..,"timeouts":..,
 *    "retransmits":..,"elapsed_s":..,"rate":..,"p50_ms":..,"p99_ms":..,
 *    "p999_ms":..,"max_ms":..}
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

#define MAX_SOCKETS 20000
#define MAX_COUNT 10000000u
#define PKT_MAX 1500
#define ACK_TIMEOUT_US 2000000
#define MAX_RETRANSMIT 4
#define ID_LEN 22

enum op { OP_REGISTER, OP_UPDATE, OP_DEREGISTER };

struct slot {
	int fd;
	bool busy;
	bool acked;
	int tries;
	uint32_t dev;
	uint16_t mid;
	uint8_t token[8];
	int64_t start_us;
	int64_t due_us; /* next retransmission or give-up time */
	size_t len;
	uint8_t pkt[PKT_MAX];
};

struct load {
	struct sockaddr_in server;
	uint32_t count, first;
	const char *prefix;
	const char *links;
	unsigned lifetime;
	unsigned nsockets;
	double update_seconds;
	double rate; /* requests/s over all sockets; 0 = unlimited */
	bool deregister;
	int64_t timeout_us;
	uint32_t addr_lo, addr_hi; /* host order; 0 = 127.0.0.1 */
	int ep;
	struct slot *slots;
	char (*ids)[ID_LEN + 1];
	uint64_t next_token;
	uint16_t next_mid;
	enum op op;
	uint32_t registered; /* devices holding an id */
	uint32_t cursor;     /* next device for this phase */
	uint32_t issued;     /* requests started in this phase */
	uint32_t limit;      /* requests to start in this phase (0 = by time) */
	int64_t phase_end;   /* by-time phases: stop issuing after this */
	int64_t phase_start;
	struct bench_phase st;
};

/* ---- CoAP encoding --------------------------------------------------- */

/* Starts a CON request with a fresh message id and 8-byte token in s. */
static void
put_header(struct load *ld, struct slot *s, struct bench_coap_out *out,
           uint8_t code)
{
	uint64_t tok = ++ld->next_token;

	s->mid = ++ld->next_mid;
	memcpy(s->token, &tok, sizeof s->token);
	bench_coap_put_header(out, s->pkt, PKT_MAX, 0, code, s->mid, s->token,
	                      8);
}

static bool
build_register(struct load *ld, struct slot *s)
{
	struct bench_coap_out o;
	char q[160];
	uint8_t ct40 = 40;
	bool ok;

	put_header(ld, s, &o, 0x02); /* POST */
	ok = bench_coap_put_opt(&o, 11, "rd", 2) &&
	     bench_coap_put_opt(&o, 12, &ct40, 1);
	snprintf(q, sizeof q, "ep=%s%" PRIu32, ld->prefix, ld->first + s->dev);
	ok = ok && bench_coap_put_opt(&o, 15, q, strlen(q));
	snprintf(q, sizeof q, "lt=%u", ld->lifetime);
	ok = ok && bench_coap_put_opt(&o, 15, q, strlen(q)) &&
	     bench_coap_put_opt(&o, 15, "lwm2m=1.1", 9) &&
	     bench_coap_put_opt(&o, 15, "b=U", 3) &&
	     bench_coap_put_payload(&o, ld->links, strlen(ld->links));
	s->len = o.len;
	return ok;
}

static bool
build_by_id(struct load *ld, struct slot *s)
{
	struct bench_coap_out o;
	bool ok;

	put_header(ld, s, &o, ld->op == OP_UPDATE ? 0x02 : 0x04);
	ok = bench_coap_put_opt(&o, 11, "rd", 2) &&
	     bench_coap_put_opt(&o, 11, ld->ids[s->dev], ID_LEN);
	s->len = o.len;
	return ok;
}

/* ---- CoAP decoding --------------------------------------------------- */

struct reply {
	struct bench_coap h;
	const uint8_t *loc[2]; /* first two Location-Path values */
	size_t loc_len[2];
};

static bool
parse_reply(const uint8_t *buf, size_t len, struct reply *r)
{
	const uint8_t *v;
	unsigned num, l, nloc = 0;
	int got;

	memset(r, 0, sizeof *r);
	if (!bench_coap_parse(buf, len, &r->h)) {
		return false;
	}
	while ((got = bench_coap_next_opt(&r->h, &num, &v, &l)) > 0) {
		if (num == 8 && nloc < 2) {
			r->loc[nloc] = v;
			r->loc_len[nloc++] = l;
		}
	}
	return got == 0;
}

/* ---- exchanges ------------------------------------------------------- */

static void
send_pkt(struct load *ld, struct slot *s)
{
	(void)sendto(s->fd, s->pkt, s->len, 0,
	             (const struct sockaddr *)&ld->server, sizeof ld->server);
}

/* True while the phase still has requests to start. */
static bool
phase_open(const struct load *ld, int64_t t)
{
	if (bench_stop || (ld->op != OP_REGISTER && ld->registered == 0)) {
		return false;
	}
	return ld->limit != 0 ? ld->issued < ld->limit : t < ld->phase_end;
}

/* Next device of the phase, or false when none may start now. */
static bool
pick_device(struct load *ld, uint32_t *ret_dev)
{
	int64_t t = bench_now_us();

	if (!phase_open(ld, t)) {
		return false;
	}
	if (ld->rate > 0 &&
	    ld->issued >= (t - ld->phase_start) * ld->rate / 1e6) {
		return false;
	}
	for (uint32_t n = 0; n < ld->count; n++) {
		uint32_t d = ld->cursor;
		ld->cursor = (ld->cursor + 1) % ld->count;
		if (ld->op == OP_REGISTER || ld->ids[d][0] != '\0') {
			*ret_dev = d;
			return true;
		}
	}
	return false;
}

static void
start_exchange(struct load *ld, struct slot *s)
{
	uint32_t dev;
	bool ok;

	if (!pick_device(ld, &dev)) {
		return;
	}
	s->dev = dev;
	ok = ld->op == OP_REGISTER ? build_register(ld, s) : build_by_id(ld, s);
	if (!ok) {
		fprintf(stderr,
		        "bench-load: request does not fit a datagram\n");
		exit(2);
	}
	ld->issued++;
	ld->st.requests++;
	s->busy = true;
	s->acked = false;
	s->tries = 0;
	s->start_us = bench_now_us();
	s->due_us = s->start_us + ACK_TIMEOUT_US;
	send_pkt(ld, s);
}

static void
finish(struct load *ld, struct slot *s, const struct reply *r)
{
	uint8_t want = ld->op == OP_REGISTER ? 0x41
	               : ld->op == OP_UPDATE ? 0x44
	                                     : 0x42;

	s->busy = false;
	if (r->h.code != want) {
		ld->st.errors++;
	} else {
		bench_phase_record_ok(&ld->st, s->start_us, bench_now_us());
		if (ld->op == OP_REGISTER && r->loc_len[1] == ID_LEN) {
			ld->registered += ld->ids[s->dev][0] == '\0';
			memcpy(ld->ids[s->dev], r->loc[1], ID_LEN);
		}
	}
	start_exchange(ld, s);
}

static void
on_datagram(struct load *ld, struct slot *s, const uint8_t *buf, size_t len)
{
	struct reply r;

	if (!parse_reply(buf, len, &r)) {
		return;
	}
	if (r.h.type == 0 || r.h.type == 1) { /* separate response */
		if (r.h.type == 0) {
			bench_coap_send_ack(s->fd, r.h.mid, &ld->server);
		}
		if (s->busy && r.h.code != 0 && r.h.tkl == 8 &&
		    memcmp(r.h.token, s->token, 8) == 0) {
			finish(ld, s, &r);
		}
		return;
	}
	if (!s->busy || r.h.mid != s->mid) {
		return;
	}
	if (r.h.type == 3) { /* RST */
		r.h.code = 0;
		finish(ld, s, &r);
	} else if (r.h.code == 0) {
		s->acked = true;
		s->due_us = s->start_us + ld->timeout_us;
	} else {
		finish(ld, s, &r);
	}
}

static void
check_timers(struct load *ld, int64_t t)
{
	for (unsigned i = 0; i < ld->nsockets; i++) {
		struct slot *s = &ld->slots[i];
		if (!s->busy) {
			start_exchange(ld, s);
			continue;
		}
		if (t < s->due_us) {
			continue;
		}
		if (s->acked || s->tries >= MAX_RETRANSMIT ||
		    t - s->start_us >= ld->timeout_us) {
			s->busy = false;
			ld->st.timeouts++;
			start_exchange(ld, s);
			continue;
		}
		s->tries++;
		ld->st.retransmits++;
		s->due_us = t + ((int64_t)ACK_TIMEOUT_US << s->tries);
		send_pkt(ld, s);
	}
}

static bool
any_busy(const struct load *ld)
{
	for (unsigned i = 0; i < ld->nsockets; i++) {
		if (ld->slots[i].busy) {
			return true;
		}
	}
	return false;
}

static void
drain(struct load *ld, struct slot *s)
{
	uint8_t buf[PKT_MAX];

	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n <= 0) {
			return;
		}
		on_datagram(ld, s, buf, (size_t)n);
	}
}

/* ---- phases ---------------------------------------------------------- */

static void
run_phase(struct load *ld, enum op op, const char *name)
{
	struct epoll_event evs[256];
	int64_t t;

	ld->op = op;
	ld->cursor = 0;
	ld->issued = 0;
	ld->limit = op == OP_UPDATE       ? 0
	            : op == OP_DEREGISTER ? ld->registered
	                                  : ld->count;
	ld->phase_start = bench_now_us();
	ld->phase_end = ld->phase_start + (int64_t)(ld->update_seconds * 1e6);
	memset(ld->st.hist, 0, sizeof(uint32_t) * BENCH_HIST_BUCKETS);
	ld->st = (struct bench_phase){.hist = ld->st.hist};
	check_timers(ld, ld->phase_start);
	while (any_busy(ld) || phase_open(ld, bench_now_us())) {
		int n = epoll_wait(ld->ep, evs, 256, 5);
		for (int i = 0; i < n; i++) {
			drain(ld, &ld->slots[evs[i].data.u32]);
		}
		t = bench_now_us();
		check_timers(ld, t);
	}
	bench_phase_print(&ld->st, name, ld->phase_start, true);
}

/* ---- set-up ---------------------------------------------------------- */

static bool
parse_v4(const char *text, size_t len, uint32_t *ret)
{
	char buf[16];
	struct in_addr a;

	if (len >= sizeof buf) {
		return false;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1) {
		return false;
	}
	*ret = ntohl(a.s_addr);
	return true;
}

/* "A" or "A-B" */
static bool
parse_range(struct load *ld, const char *text)
{
	const char *dash = strchr(text, '-');

	if (dash == NULL) {
		return parse_v4(text, strlen(text), &ld->addr_lo) &&
		       parse_v4(text, strlen(text), &ld->addr_hi);
	}
	return parse_v4(text, (size_t)(dash - text), &ld->addr_lo) &&
	       parse_v4(dash + 1, strlen(dash + 1), &ld->addr_hi) &&
	       ld->addr_lo <= ld->addr_hi;
}

static bool
open_sockets(struct load *ld)
{
	bench_raise_nofile(ld->nsockets + 64u);
	for (unsigned i = 0; i < ld->nsockets; i++) {
		uint32_t span = ld->addr_hi - ld->addr_lo + 1;

		if (!bench_udp_open(ld->addr_lo + i % span, ld->ep, i,
		                    &ld->slots[i].fd)) {
			perror("bench-load: socket");
			return false;
		}
	}
	return true;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: lwds-bench-load --server A.B.C.D:PORT [--count N] "
	           "[--first I]\n"
	           "  [--prefix P] [--sockets S] [--local-addrs A[-B]] "
	           "[--lifetime S]\n"
	           "  [--update-seconds D] [--rate R] [--deregister] "
	           "[--timeout-ms T] [--links L]\n");
}

static bool
parse_opts(struct load *ld, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"server", 1, 0, 's'},     {"count", 1, 0, 'n'},
	    {"first", 1, 0, 'f'},      {"prefix", 1, 0, 'p'},
	    {"sockets", 1, 0, 'S'},    {"local-addrs", 1, 0, 'a'},
	    {"lifetime", 1, 0, 'l'},   {"update-seconds", 1, 0, 'u'},
	    {"rate", 1, 0, 'r'},       {"deregister", 0, 0, 'd'},
	    {"timeout-ms", 1, 0, 't'}, {"links", 1, 0, 'L'},
	    {"help", 0, 0, 'h'},       {0, 0, 0, 0}};
	int c;
	bool ok = true;

	while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ok = bench_parse_addr(optarg, &ld->server);
			break;
		case 'n':
			ld->count = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'f':
			ld->first = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			ld->prefix = optarg;
			break;
		case 'S':
			ld->nsockets = (unsigned)atoi(optarg);
			break;
		case 'a':
			ok = parse_range(ld, optarg);
			break;
		case 'l':
			ld->lifetime = (unsigned)atoi(optarg);
			break;
		case 'u':
			ld->update_seconds = atof(optarg);
			break;
		case 'r':
			ld->rate = atof(optarg);
			break;
		case 'd':
			ld->deregister = true;
			break;
		case 't':
			ld->timeout_us = atoll(optarg) * 1000;
			break;
		case 'L':
			ld->links = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			ok = false;
		}
	}
	return ok && ld->server.sin_port != 0 && ld->count >= 1 &&
	       ld->count <= MAX_COUNT && ld->nsockets >= 1 &&
	       ld->nsockets <= MAX_SOCKETS && ld->lifetime >= 1 &&
	       strlen(ld->prefix) <= 64 && ld->timeout_us > 0 && ld->rate >= 0;
}

int
main(int argc, char **argv)
{
	struct load ld = {
	    .count = 1000,
	    .prefix = "bench-",
	    .nsockets = 256,
	    .lifetime = 86400,
	    .timeout_us = 30000000,
	    .addr_lo = 0x7f000001,
	    .addr_hi = 0x7f000001,
	    .links = "</>;rt=\"oma.lwm2m\";ct=\"60 110 112 11542 11543\","
	             "</1/0>,</3/0>,</5/0>,</3303/0>,</3442/0>"};

	if (!parse_opts(&ld, argc, argv)) {
		usage(stderr);
		return 2;
	}
	if (ld.nsockets > ld.count) {
		ld.nsockets = ld.count;
	}
	bench_catch_signals();
	ld.slots = calloc(ld.nsockets, sizeof *ld.slots);
	ld.ids = calloc(ld.count, sizeof *ld.ids);
	ld.st.hist = calloc(BENCH_HIST_BUCKETS, sizeof(uint32_t));
	ld.ep = epoll_create1(0);
	if (ld.slots == NULL || ld.ids == NULL || ld.st.hist == NULL ||
	    ld.ep < 0 || !open_sockets(&ld)) {
		fprintf(stderr, "bench-load: cannot set up\n");
		return 1;
	}
	(void)lwm2m_random(&ld.next_mid, sizeof ld.next_mid);
	run_phase(&ld, OP_REGISTER, "register");
	if (ld.update_seconds > 0 && !bench_stop) {
		run_phase(&ld, OP_UPDATE, "update");
	}
	if (ld.deregister) {
		bench_stop = 0;
		run_phase(&ld, OP_DEREGISTER, "deregister");
	}
	return 0;
}
