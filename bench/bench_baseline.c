/* lwds-bench-baseline: the "raw limit" the registration benchmarks compare
 * the gateway against.  A libcoap 4.3.1 server with the gateway's I/O
 * approach (one unknown-resource handler, sockets read through
 * coap_io_do_epoll, libcoap's timer work on a 50 ms tick, libcoap's walk of
 * all sessions paced as the gateway paces its own (gw_walk_throttle, 25 ms,
 * LWDS_COAP_WALK_MS's default), the idle sessions kept sized as the
 * gateway sizes them (gw_idle_event), the listening socket's buffers sized
 * as the gateway sizes its own: LWDS_COAP_RCVBUF, default 4 MiB, through
 * gw_coap_set_bufs) that
 * answers every POST at once and does nothing else: 2.01 with
 * Location-Path rd/<22-char id> for a Register (POST /rd), 2.04 for an
 * Update (POST /rd/<id>), 2.02 for a DELETE.
 *
 * usage: lwds-bench-baseline HOST:PORT   (runs until SIGINT/SIGTERM)
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include <coap3/coap.h>

#include "bench_util.h"
#include "gw.h"
#include "lwm2m_id.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"

#define EPOLL_BATCH 32
#define TICK_MS 50
#define WALK_MS 25 /* the gateway's LWDS_COAP_WALK_MS default */

static struct gw_idle idle;

/* Counter-based ids: the gateway draws random ones, which costs a little
 * more, but the baseline is meant to do nothing. */
static void
next_id(char id[LWM2M_ID_SIZE])
{
	static uint64_t counter;
	uint8_t raw[16] = {0};

	counter++;
	memcpy(raw, &counter, sizeof counter);
	lwm2m_b64_encode(raw, 16, id, true);
	id[22] = '\0';
}

static void
on_request(coap_resource_t *resource, coap_session_t *session,
           const coap_pdu_t *request, const coap_string_t *query,
           coap_pdu_t *response)
{
	char id[LWM2M_ID_SIZE + 4];
	coap_opt_iterator_t it;
	coap_opt_t *opt;
	int segments = 0;

	(void)resource;
	(void)session;
	(void)query;
	if (coap_pdu_get_code(request) == COAP_REQUEST_CODE_DELETE) {
		coap_pdu_set_code(response, COAP_RESPONSE_CODE_DELETED);
		return;
	}
	coap_option_iterator_init(request, &it, COAP_OPT_ALL);
	while ((opt = coap_option_next(&it)) != NULL) {
		if (it.number == COAP_OPTION_URI_PATH) {
			segments++;
		}
	}
	if (segments > 1) {
		coap_pdu_set_code(response, COAP_RESPONSE_CODE_CHANGED);
		return;
	}
	next_id(id);
	coap_add_option(response, COAP_OPTION_LOCATION_PATH, 2,
	                (const uint8_t *)"rd");
	coap_add_option(response, COAP_OPTION_LOCATION_PATH, 22,
	                (const uint8_t *)id);
	coap_pdu_set_code(response, COAP_RESPONSE_CODE_CREATED);
}

static int
on_event(coap_session_t *session, coap_event_t event)
{
	gw_idle_event(&idle, session, event);
	return 0;
}

/* "host:port" (IPv4 or a name) -> address; 0 on success. */
static int
resolve(const char *text, coap_address_t *ret_addr)
{
	char host[128];
	const char *colon = strrchr(text, ':');
	struct addrinfo hints = {.ai_family = AF_INET,
	                         .ai_socktype = SOCK_DGRAM,
	                         .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;

	if (colon == NULL || (size_t)(colon - text) >= sizeof host) {
		return -1;
	}
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL) {
		return -1;
	}
	coap_address_init(ret_addr);
	ret_addr->size = res->ai_addrlen;
	memcpy(&ret_addr->addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static coap_context_t *
make_context(const char *listen)
{
	coap_address_t addr;
	coap_context_t *ctx;
	coap_resource_t *r;

	if (resolve(listen, &addr) != 0) {
		return NULL;
	}
	ctx = coap_new_context(NULL);
	if (ctx == NULL) {
		return NULL;
	}
	gw_idle_init(&idle, ctx);
	coap_register_event_handler(ctx, on_event);
	gw_walk_throttle(ctx, WALK_MS);
	coap_context_set_session_timeout(ctx, 60);
	if (coap_new_endpoint(ctx, &addr, COAP_PROTO_UDP) == NULL) {
		coap_free_context(ctx);
		return NULL;
	}
	r = coap_resource_unknown_init(on_request);
	coap_register_handler(r, COAP_REQUEST_POST, on_request);
	coap_register_handler(r, COAP_REQUEST_DELETE, on_request);
	coap_add_resource(ctx, r);
	return ctx;
}

/* The gateway's LWDS_COAP_RCVBUF (same default) on the listening socket:
 * without it, hundreds of requests in flight overflow the default
 * receive buffer and the baseline pays 2 s retransmissions the gateway
 * does not.  False for a bad value. */
static bool
size_buffers(void)
{
	long long bytes;
	int eff = 0;

	if (lwm2m_parse_int(lwm2m_getenv("LWDS_COAP_RCVBUF", "4194304"), 0,
	                    INT32_MAX / 2, &bytes) != LWM2M_OK) {
		fprintf(stderr, "LWDS_COAP_RCVBUF must be 0..%d bytes\n",
		        INT32_MAX / 2);
		return false;
	}
	if (bytes > 0) {
		gw_coap_set_bufs((int)bytes, &eff);
	}
	return true;
}

static void
run(coap_context_t *ctx, int fd)
{
	struct epoll_event evs[EPOLL_BATCH];
	coap_tick_t now, last = 0;

	while (!bench_stop) {
		int n = epoll_wait(fd, evs, EPOLL_BATCH, TICK_MS);
		if (n > 0) {
			coap_io_do_epoll(ctx, evs, (size_t)n);
		} else if (n < 0 && errno != EINTR) {
			perror("epoll_wait");
			return;
		}
		coap_ticks(&now);
		if (now - last >= TICK_MS * COAP_TICKS_PER_SECOND / 1000) {
			coap_io_prepare_epoll(ctx, now);
			last = now;
		}
	}
}

int
main(int argc, char **argv)
{
	coap_context_t *ctx;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
		return 2;
	}
	bench_catch_signals();
	/* warnings only: gw_idle_event logs each change of the cap at info */
	lwm2m_log_init("lwds-bench-baseline", LWM2M_LOG_WARNING);
	coap_startup();
	coap_set_log_level(LOG_ERR);
	ctx = make_context(argv[1]);
	fd = ctx == NULL ? -1 : coap_context_get_coap_fd(ctx);
	if (fd < 0 || !size_buffers()) {
		fprintf(stderr, "cannot listen on %s\n", argv[1]);
		coap_free_context(ctx);
		return 1;
	}
	printf("{\"event\":\"ready\"}\n");
	fflush(stdout);
	run(ctx, fd);
	coap_free_context(ctx);
	coap_cleanup();
	return 0;
}
