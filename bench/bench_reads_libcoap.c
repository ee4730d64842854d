/* lwds-bench-reads-libcoap: the raw CoAP baseline of the REST-read
 * benchmark as issue 4 defines it: GET round trips between a libcoap
 * client and the simulator, at the same concurrency as the full path.
 *
 * One libcoap 4.3.1 context.  Its endpoint on --listen is the LwM2M server
 * of an lwds-sim process: it answers Register (2.01, Location-Path
 * rd/<n>), Update (2.04) and De-register (2.02) and learns each device's
 * address from its Register.  Once --devices devices have registered, it
 * opens one client session per device, bound to the listen address (the
 * devices accept requests only from the address they registered with) and
 * connected to the device, and keeps --concurrency CON GETs of each --path
 * in flight for --seconds per path: each response's handler sends the next
 * GET, to the next device round robin.  I/O through coap_io_process (epoll
 * in Debian's libcoap).  --accept FMT after a --path gives that path's GETs
 * an Accept option (bench_reads.py passes the one coap-gw sends for the
 * same read, so both ask the device for the same work).
 *
 * One JSON line per phase on stdout, as lwds-bench-reads prints them:
 *   {"phase":..,"requests":..,"ok":..,"errors":..,"timeouts":..,
 *    "elapsed_s":..,"rate":..,"p50_ms":..,"p99_ms":..,"p999_ms":..,
 *    "max_ms":..}
 * ok counts 2.05 answers; errors other answers; timeouts requests libcoap
 * gave up on or unanswered after --timeout-ms.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

#include "bench_util.h"

#define MAX_SLOTS 4096
#define MAX_DEVICES 100000u
#define MAX_PATHS 16
#define MAX_SEGMENTS 8
#define TOKEN_LEN 6
#define POLL_MS 5

struct slot {
	bool busy;
	uint16_t seq;
	int64_t start_us;
};

/* One path as its Uri-Path segments. */
struct path {
	const char *text;
	int accept; /* Accept option value, -1 for none */
	unsigned nseg;
	const char *seg[MAX_SEGMENTS];
	size_t seglen[MAX_SEGMENTS];
};

struct bench {
	coap_context_t *ctx;
	coap_address_t listen;
	struct bench_loop_opts o; /* slots, seconds per phase, time-out */
	uint32_t ndevices, registered;
	coap_address_t *addrs;     /* what each device registered from */
	coap_session_t **sessions; /* client session per device */
	struct slot *slots;
	struct path paths[MAX_PATHS];
	unsigned npaths, cur_path;
	uint64_t cursor;
	bool sending; /* inside a phase: start the next GET on answers */
	struct bench_phase st;
};

static struct bench *the_bench; /* libcoap's handlers get no user pointer */
/* ---- the devices' LwM2M server ----------------------------------------- */

static unsigned
uri_path_count(const coap_pdu_t *pdu)
{
	coap_opt_iterator_t it;
	coap_opt_filter_t f;
	unsigned n = 0;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
	coap_option_iterator_init(pdu, &it, &f);
	while (coap_option_next(&it) != NULL) {
		n++;
	}
	return n;
}

/* A device's Register: the first from each address gets the next index
 * (kept in the server session, so a repeated Register gets the same). */
static void
on_register(struct bench *b, coap_session_t *session, coap_pdu_t *response)
{
	uintptr_t idx = (uintptr_t)coap_session_get_app_data(session);
	char loc[16];
	int n;

	if (idx == 0) {
		if (b->registered >= b->ndevices) {
			coap_pdu_set_code(
			    response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE);
			return;
		}
		b->addrs[b->registered] =
		    *coap_session_get_addr_remote(session);
		idx = ++b->registered;
		coap_session_set_app_data(session, (void *)idx);
	}
	n = snprintf(loc, sizeof loc, "%u", (unsigned)(idx - 1));
	coap_add_option(response, COAP_OPTION_LOCATION_PATH, 2,
	                (const uint8_t *)"rd");
	coap_add_option(response, COAP_OPTION_LOCATION_PATH, (size_t)n,
	                (const uint8_t *)loc);
	coap_pdu_set_code(response, COAP_RESPONSE_CODE_CREATED);
}

static void
on_request(coap_resource_t *resource, coap_session_t *session,
           const coap_pdu_t *request, const coap_string_t *query,
           coap_pdu_t *response)
{
	unsigned segments = uri_path_count(request);

	(void)resource;
	(void)query;
	if (coap_pdu_get_code(request) == COAP_REQUEST_CODE_DELETE) {
		coap_pdu_set_code(response, COAP_RESPONSE_CODE_DELETED);
	} else if (segments == 1) {
		on_register(the_bench, session, response);
	} else {
		coap_pdu_set_code(response, COAP_RESPONSE_CODE_CHANGED);
	}
}

/* ---- the GETs ---------------------------------------------------------- */

static void
start_get(struct bench *b, unsigned i)
{
	const struct path *p = &b->paths[b->cur_path];
	coap_session_t *s = b->sessions[b->cursor++ % b->ndevices];
	struct slot *sl = &b->slots[i];
	uint8_t token[TOKEN_LEN];
	coap_pdu_t *pdu;

	sl->seq++;
	token[0] = (uint8_t)(i >> 8);
	token[1] = (uint8_t)i;
	token[2] = (uint8_t)(sl->seq >> 8);
	token[3] = (uint8_t)sl->seq;
	token[4] = 'r';
	token[5] = 'd';
	sl->busy = true;
	sl->start_us = bench_now_us();
	b->st.requests++;
	pdu =
	    coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET,
	                  coap_new_message_id(s), coap_session_max_pdu_size(s));
	if (pdu == NULL || !coap_add_token(pdu, TOKEN_LEN, token)) {
		coap_delete_pdu(pdu);
		sl->busy = false;
		b->st.errors++;
		return;
	}
	for (unsigned k = 0; k < p->nseg; k++) {
		coap_add_option(pdu, COAP_OPTION_URI_PATH, p->seglen[k],
		                (const uint8_t *)p->seg[k]);
	}
	if (p->accept >= 0) {
		uint8_t v[4];

		coap_add_option(
		    pdu, COAP_OPTION_ACCEPT,
		    coap_encode_var_safe(v, sizeof v, (unsigned)p->accept), v);
	}
	if (coap_send(s, pdu) == COAP_INVALID_MID) {
		sl->busy = false;
		b->st.errors++;
	}
}

/* The slot a token of ours names, if it is still waiting for it. */
static struct slot *
slot_of(struct bench *b, const coap_pdu_t *pdu, unsigned *ret_i)
{
	coap_bin_const_t t = coap_pdu_get_token(pdu);
	unsigned i;

	if (t.length != TOKEN_LEN || t.s[4] != 'r' || t.s[5] != 'd') {
		return NULL;
	}
	i = (unsigned)t.s[0] << 8 | t.s[1];
	if (i >= b->o.nslots || !b->slots[i].busy ||
	    b->slots[i].seq != (uint16_t)(t.s[2] << 8 | t.s[3])) {
		return NULL;
	}
	*ret_i = i;
	return &b->slots[i];
}

static coap_response_t
on_response(coap_session_t *session, const coap_pdu_t *sent,
            const coap_pdu_t *received, const coap_mid_t mid)
{
	struct bench *b = the_bench;
	struct slot *sl;
	unsigned i;

	(void)session;
	(void)sent;
	(void)mid;
	sl = slot_of(b, received, &i);
	if (sl == NULL) {
		return COAP_RESPONSE_OK;
	}
	sl->busy = false;
	if (coap_pdu_get_code(received) == COAP_RESPONSE_CODE_CONTENT) {
		bench_phase_record_ok(&b->st, sl->start_us, bench_now_us());
	} else {
		b->st.errors++;
	}
	if (b->sending) {
		start_get(b, i);
	}
	return COAP_RESPONSE_OK;
}

static void
on_nack(coap_session_t *session, const coap_pdu_t *sent,
        const coap_nack_reason_t reason, const coap_mid_t mid)
{
	struct bench *b = the_bench;
	struct slot *sl;
	unsigned i;

	(void)session;
	(void)reason;
	(void)mid;
	sl = sent == NULL ? NULL : slot_of(b, sent, &i);
	if (sl == NULL) {
		return;
	}
	sl->busy = false;
	b->st.timeouts++;
	if (b->sending) {
		start_get(b, i);
	}
}

/* ---- phases ------------------------------------------------------------ */

/* Frees slots waiting longer than the timeout (counted as timeouts) and,
 * while the phase sends, starts their next GET (a late answer to the old
 * one no longer matches the slot); true while some slot still waits. */
static bool
expire(struct bench *b, int64_t t)
{
	bool busy = false;

	for (unsigned i = 0; i < b->o.nslots; i++) {
		struct slot *sl = &b->slots[i];
		if (sl->busy && t - sl->start_us > b->o.timeout_us) {
			sl->busy = false;
			b->st.timeouts++;
			if (b->sending) {
				start_get(b, i);
			}
		}
		busy = busy || sl->busy;
	}
	return busy;
}

static void
run_phase(struct bench *b)
{
	int64_t start = bench_now_us(),
	        end = start + (int64_t)(b->o.seconds * 1e6);

	memset(b->st.hist, 0, sizeof(uint32_t) * BENCH_HIST_BUCKETS);
	b->st = (struct bench_phase){.hist = b->st.hist};
	b->sending = true;
	for (unsigned i = 0; i < b->o.nslots; i++) {
		start_get(b, i);
	}
	while (!bench_stop) {
		int64_t t;
		if (coap_io_process(b->ctx, POLL_MS) < 0) {
			break;
		}
		t = bench_now_us();
		if (t >= end) {
			b->sending = false;
		}
		if (!expire(b, t) && !b->sending) {
			break;
		}
	}
	b->sending = false;
	bench_phase_print(&b->st, b->paths[b->cur_path].text, start, false);
}

/* ---- set-up ------------------------------------------------------------ */

static bool
make_context(struct bench *b)
{
	coap_resource_t *r;

	b->ctx = coap_new_context(NULL);
	if (b->ctx == NULL ||
	    coap_new_endpoint(b->ctx, &b->listen, COAP_PROTO_UDP) == NULL) {
		return false;
	}
	r = coap_resource_unknown_init(on_request);
	coap_register_handler(r, COAP_REQUEST_POST, on_request);
	coap_register_handler(r, COAP_REQUEST_DELETE, on_request);
	coap_add_resource(b->ctx, r);
	coap_register_response_handler(b->ctx, on_response);
	coap_register_nack_handler(b->ctx, on_nack);
	return true;
}

/* Serve registrations until every device has registered. */
static bool
wait_devices(struct bench *b)
{
	int64_t deadline = bench_now_us() + 120 * 1000000LL;

	while (b->registered < b->ndevices && bench_now_us() < deadline &&
	       !bench_stop) {
		if (coap_io_process(b->ctx, 100) < 0) {
			break;
		}
	}
	printf("{\"event\":\"registered\",\"devices\":%u}\n", b->registered);
	fflush(stdout);
	return b->registered == b->ndevices;
}

/* One client session per device, from the listen address to the address
 * the device registered from. */
static bool
open_sessions(struct bench *b)
{
	for (uint32_t d = 0; d < b->ndevices; d++) {
		b->sessions[d] = coap_new_client_session(
		    b->ctx, &b->listen, &b->addrs[d], COAP_PROTO_UDP);
		if (b->sessions[d] == NULL) {
			fprintf(stderr, "client session %u failed\n", d);
			return false;
		}
	}
	return true;
}

static bool
add_path(struct bench *b, const char *text)
{
	struct path *p;

	if (b->npaths == MAX_PATHS) {
		return false;
	}
	p = &b->paths[b->npaths++];
	p->text = text;
	p->accept = -1;
	for (const char *c = text; *c != '\0';) {
		const char *e;
		while (*c == '/') {
			c++;
		}
		e = strchrnul(c, '/');
		if (e > c) {
			if (p->nseg == MAX_SEGMENTS) {
				return false;
			}
			p->seg[p->nseg] = c;
			p->seglen[p->nseg++] = (size_t)(e - c);
		}
		c = e;
	}
	return true;
}

static bool
parse_opts(struct bench *b, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", 1, NULL, 'l'},  {"devices", 1, NULL, 'n'},
	    {"path", 1, NULL, 'p'},    {"concurrency", 1, NULL, 'c'},
	    {"seconds", 1, NULL, 'd'}, {"timeout-ms", 1, NULL, 'T'},
	    {"accept", 1, NULL, 'a'},  {NULL, 0, NULL, 0}};
	struct sockaddr_in sin;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			if (!bench_parse_addr(optarg, &sin)) {
				return false;
			}
			coap_address_init(&b->listen);
			b->listen.size = sizeof sin;
			b->listen.addr.sin = sin;
			break;
		case 'n':
			b->ndevices = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			if (!add_path(b, optarg)) {
				return false;
			}
			break;
		case 'a':
			if (b->npaths == 0 ||
			    !bench_parse_accept(
			        optarg, &b->paths[b->npaths - 1].accept)) {
				return false;
			}
			break;
		default:
			if (!bench_loop_opt(o, optarg, &b->o)) {
				return false;
			}
		}
	}
	return b->listen.size != 0 && b->npaths > 0 && b->ndevices > 0 &&
	       b->ndevices <= MAX_DEVICES && b->o.nslots > 0 &&
	       b->o.nslots <= MAX_SLOTS && b->o.seconds > 0 &&
	       b->o.timeout_us > 0;
}

static bool
setup(struct bench *b)
{
	b->addrs = calloc(b->ndevices, sizeof *b->addrs);
	b->sessions = calloc(b->ndevices, sizeof *b->sessions);
	b->slots = calloc(b->o.nslots, sizeof *b->slots);
	b->st.hist = calloc(BENCH_HIST_BUCKETS, sizeof(uint32_t));
	if (b->addrs == NULL || b->sessions == NULL || b->slots == NULL ||
	    b->st.hist == NULL) {
		return false;
	}
	bench_raise_nofile(b->ndevices + 64);
	if (!make_context(b)) {
		fprintf(stderr, "lwds-bench-reads-libcoap: cannot listen\n");
		return false;
	}
	printf("{\"event\":\"listening\"}\n");
	fflush(stdout);
	return true;
}

static void
teardown(struct bench *b)
{
	/* coap_free_context releases the sessions */
	coap_free_context(b->ctx);
	free(b->addrs);
	free(b->sessions);
	free(b->slots);
	free(b->st.hist);
}

int
main(int argc, char **argv)
{
	struct bench b = {
	    .o = {.nslots = 64, .seconds = 5, .timeout_us = 5000000}};
	int rc = 1;

	if (!parse_opts(&b, argc, argv)) {
		fprintf(stderr,
		        "usage: lwds-bench-reads-libcoap --listen ADDR:PORT "
		        "--devices N --path P [--accept FMT] [--path P2 ...]\n"
		        "  [--concurrency C (64)] [--seconds D (5)] "
		        "[--timeout-ms MS (5000)]\n");
		return 2;
	}
	bench_catch_signals();
	coap_startup();
	coap_set_log_level(LOG_ERR);
	the_bench = &b;
	if (setup(&b) && wait_devices(&b) && open_sessions(&b)) {
		for (b.cur_path = 0; b.cur_path < b.npaths && !bench_stop;
		     b.cur_path++) {
			run_phase(&b);
		}
		rc = 0;
	}
	teardown(&b);
	coap_cleanup();
	return rc;
}
