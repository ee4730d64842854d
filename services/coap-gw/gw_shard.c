/* gw_shard.c - what keeps the cost of a datagram independent of the number
 * of DTLS sessions libcoap 4.3.1 holds: walks of all sessions at a bounded
 * pace, and the DTLS sessions spread over several libcoap contexts that
 * listen on one UDP port.
 *
 * The walk: coap_io_do_epoll() calls coap_io_prepare_epoll() after every
 * event, and that calls coap_io_prepare_io(), which visits every session of
 * the context (retransmissions, DTLS handshake timers, idle session expiry,
 * block-wise time-outs) and re-arms libcoap's timerfd.  This file defines
 * coap_io_prepare_epoll() itself: libcoap calls it through its PLT and the
 * executable's definition comes first in the dynamic symbol lookup.  For a
 * throttled context the real function (dlsym RTLD_NEXT) runs at most every
 * min_ms, or less often, so that the walks of all throttled contexts take
 * at most 1/WALK_SHARE of the time; other contexts go straight through.  A
 * skipped walk only delays timer work (the gateway's poll timer calls again
 * within 50 ms); nothing libcoap does on a datagram depends on it.
 *
 * The shards: a datagram from an address without a session (every new DTLS
 * handshake) makes libcoap visit every session of the endpoint to count the
 * idle ones (coap_endpoint_get_session), so each handshake cost O(sessions
 * of the endpoint).  With LWDS_DTLS_SHARDS = K > 1 the DTLS port is served
 * by K contexts, one endpoint each, whose sockets form one SO_REUSEPORT
 * group: the kernel hashes a peer's address to one socket, so a device
 * keeps its session in one shard and each walk covers about 1/K of them.
 * libcoap 4.3.1 binds without SO_REUSEPORT, so each endpoint is opened on an
 * ephemeral port, and its socket is then replaced (dup2 onto the same
 * descriptor, same options) by one bound to the real port with
 * SO_REUSEPORT, and registered again in the context's epoll set under the
 * pointer libcoap gave it (learnt from one datagram sent to the ephemeral
 * port).  libcoap keeps the ephemeral port as the endpoint's local port in
 * its bookkeeping (session local addresses); replies leave from the real
 * port.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gw.h"
#include "lwm2m_id.h"
#include "lwm2m_log.h"

#define WALK_SHARE 10  /* walks take at most 1/WALK_SHARE of the time */
#define WALK_SLOTS 260 /* contexts throttled at once */
#define SHARD_POLL_MS 50
#define SHARD_EPOLL_BATCH 32
#define SHARD_READ_ROUNDS 64
#define PROBE_WAIT_MS 1000
#define SHARD_ATTEMPTS 3 /* endpoints opened until the probe finds one */

/* ---- the walk ---------------------------------------------------------- */

typedef unsigned int (*prepare_fn)(coap_context_t *, coap_tick_t);

struct walk_slot {
	coap_context_t *ctx;
	coap_tick_t last, interval, min;
};

static prepare_fn walk_real_fn;
static struct walk_slot walk_slots[WALK_SLOTS];
static coap_tick_t walk_active; /* slots in use */

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static prepare_fn
walk_real(void)
{
	if (walk_real_fn == NULL) {
		walk_real_fn =
		    (prepare_fn)dlsym(RTLD_NEXT, "coap_io_prepare_epoll");
	}
	return walk_real_fn;
}

static struct walk_slot *
walk_slot(const coap_context_t *ctx)
{
	for (size_t i = 0; ctx != NULL && i < WALK_SLOTS; i++) {
		if (walk_slots[i].ctx == ctx) {
			return &walk_slots[i];
		}
	}
	return NULL;
}

/* Replaces libcoap's coap_io_prepare_epoll (same contract: does the timer
 * work due at now, returns the milliseconds until the next, 0 for none). */
unsigned int
coap_io_prepare_epoll(coap_context_t *ctx, coap_tick_t now)
{
	prepare_fn real = walk_real();
	struct walk_slot *w = walk_slot(ctx);
	coap_tick_t end, took;
	unsigned int due;
	int64_t t0;

	if (real == NULL) {
		return 0;
	}
	if (w == NULL) {
		return real(ctx, now);
	}
	if (w->last != 0 && now < w->last + w->interval) {
		return (unsigned int)(w->last + w->interval - now);
	}
	t0 = mono_us();
	due = real(ctx, now);
	/* all throttled contexts together walk at most 1/WALK_SHARE of the
	 * time: a shard holds about 1/walk_active of the sessions */
	took = (coap_tick_t)(mono_us() - t0) * WALK_SHARE * walk_active *
	       COAP_TICKS_PER_SECOND / 1000000;
	coap_ticks(&end);
	w->last = end;
	w->interval = took > w->min ? took : w->min;
	return due;
}

bool
gw_walk_throttle(coap_context_t *ctx, unsigned int min_ms)
{
	struct walk_slot *w = walk_slot(ctx);

	if (w == NULL) {
		w = walk_slot(NULL);
		for (size_t i = 0; w == NULL && i < WALK_SLOTS; i++) {
			if (walk_slots[i].ctx == NULL) {
				w = &walk_slots[i];
			}
		}
	}
	if (w == NULL || min_ms == 0 || walk_real() == NULL) {
		return false;
	}
	walk_active += w->ctx == NULL;
	w->ctx = ctx;
	w->last = 0;
	w->min = (coap_tick_t)min_ms * COAP_TICKS_PER_SECOND / 1000;
	w->interval = w->min;
	return true;
}

void
gw_walk_forget(const coap_context_t *ctx)
{
	struct walk_slot *w = walk_slot(ctx);

	if (w != NULL) {
		memset(w, 0, sizeof *w);
		walk_active--;
	}
}

/* ---- one endpoint in the SO_REUSEPORT group ---------------------------- */

/* the socket option of fd copied onto to, when fd has it */
static void
copy_opt(int fd, int to, int level, int name)
{
	int v = 0;
	socklen_t len = sizeof v;

	if (getsockopt(fd, level, name, &v, &len) == 0) {
		(void)setsockopt(to, level, name, &v, sizeof v);
	}
}

/* a socket like fd (options libcoap sets), bound to addr with
 * SO_REUSEPORT; -1 on failure */
static int
reuseport_socket(int fd, const coap_address_t *addr)
{
	int on = 1, s = socket(addr->addr.sa.sa_family, SOCK_DGRAM, 0);

	if (s < 0) {
		return -1;
	}
	if (addr->addr.sa.sa_family == AF_INET6) {
		copy_opt(fd, s, IPPROTO_IPV6, IPV6_V6ONLY);
		copy_opt(fd, s, IPPROTO_IPV6, IPV6_RECVPKTINFO);
	}
	copy_opt(fd, s, IPPROTO_IP, IP_PKTINFO);
	if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
	    fcntl(s, F_SETFL, fcntl(fd, F_GETFL)) != 0 ||
	    bind(s, &addr->addr.sa, addr->size) != 0) {
		close(s);
		return -1;
	}
	return s;
}

/* the address a datagram to the socket bound at bound takes */
static void
probe_target(const coap_address_t *bound, struct sockaddr_storage *ret_to)
{
	memcpy(ret_to, &bound->addr, bound->size);
	if (ret_to->ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ret_to;
		if (in->sin_addr.s_addr == htonl(INADDR_ANY)) {
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		}
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret_to;
		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) {
			in6->sin6_addr = in6addr_loopback;
		}
	}
}

/* Sends a datagram to the endpoint socket fd (bound at bound), waits for
 * it in epfd and returns the pointer libcoap registered fd under; the
 * datagram is read back from fd, so fd is proven to be that socket. */
static void *
probe_ptr(int epfd, int fd, const coap_address_t *bound)
{
	struct sockaddr_storage to;
	struct epoll_event evs[4];
	char cookie[LWM2M_ID_SIZE], back[LWM2M_ID_SIZE];
	int s = socket(bound->addr.sa.sa_family, SOCK_DGRAM, 0), n;
	void *ptr = NULL;

	if (s < 0) {
		return NULL;
	}
	lwm2m_id_new(cookie);
	probe_target(bound, &to);
	if (sendto(s, cookie, strlen(cookie), 0, (struct sockaddr *)&to,
	           bound->size) < 0) {
		close(s);
		return NULL;
	}
	close(s);
	n = epoll_wait(epfd, evs, 4, PROBE_WAIT_MS);
	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr != NULL) {
			ptr = evs[i].data.ptr;
		}
	}
	if (ptr == NULL) {
		return NULL; /* fd is not the endpoint's: leave its datagrams */
	}
	memset(back, 0, sizeof back);
	if (recv(fd, back, sizeof back - 1, MSG_DONTWAIT) !=
	        (ssize_t)strlen(cookie) ||
	    strcmp(back, cookie) != 0) {
		return NULL;
	}
	return ptr;
}

/* true when fd is an unconnected UDP socket of listen's family */
static bool
is_our_kind(int fd, const coap_address_t *listen)
{
	return gw_unconnected_udp_family(fd) == listen->addr.sa.sa_family;
}

/* Opens an endpoint of ctx on listen's host with an ephemeral port; its
 * socket is the lowest free descriptor, which socket() takes (another
 * thread opening one at that moment fails the checks or the probe);
 * ret_bound is where it is bound. */
static lwm2m_err
open_ephemeral(coap_context_t *ctx, const coap_address_t *listen,
               coap_endpoint_t **ret_ep, int *ret_fd, coap_address_t *ret_bound)
{
	coap_address_t eph = *listen;
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0) {
		return LWM2M_EIO;
	}
	close(fd);
	coap_address_set_port(&eph, 0);
	*ret_ep = coap_new_endpoint(ctx, &eph, COAP_PROTO_DTLS);
	if (*ret_ep == NULL) {
		return LWM2M_EIO;
	}
	coap_endpoint_set_default_mtu(*ret_ep, COAP_RXBUFFER_SIZE);
	if (!is_our_kind(fd, listen) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		return LWM2M_ENOTFOUND; /* not the guessed descriptor */
	}
	coap_address_init(ret_bound);
	ret_bound->size = len;
	memcpy(&ret_bound->addr, &sa, len);
	if (coap_address_get_port(ret_bound) == 0 ||
	    coap_address_get_port(ret_bound) == coap_address_get_port(listen)) {
		return LWM2M_ENOTFOUND; /* not the guessed descriptor */
	}
	*ret_fd = fd;
	return LWM2M_OK;
}

/* the endpoint socket fd (pointer ptr in epfd) replaced by one bound to
 * listen with SO_REUSEPORT */
static lwm2m_err
swap_socket(int epfd, int fd, void *ptr, const coap_address_t *listen)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ptr};
	int s = reuseport_socket(fd, listen);

	if (s < 0) {
		lwm2m_log(LWM2M_LOG_ERR, "DTLS shard: SO_REUSEPORT bind: %s",
		          strerror(errno));
		return LWM2M_EIO;
	}
	if (dup2(s, fd) < 0) {
		close(s);
		return LWM2M_EIO;
	}
	close(s);
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 &&
	    (errno != EEXIST || epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) != 0)) {
		return LWM2M_EIO;
	}
	return LWM2M_OK;
}

lwm2m_err
gw_shard_listen(coap_context_t *ctx, const coap_address_t *listen)
{
	coap_address_t bound;
	coap_endpoint_t *ep = NULL;
	int fd = -1, epfd = coap_context_get_coap_fd(ctx);
	lwm2m_err err = LWM2M_EIO;
	void *ptr;

	for (int attempt = 0; epfd >= 0 && attempt < SHARD_ATTEMPTS;
	     attempt++) {
		err = open_ephemeral(ctx, listen, &ep, &fd, &bound);
		ptr = err == LWM2M_OK ? probe_ptr(epfd, fd, &bound) : NULL;
		if (ptr != NULL) {
			return swap_socket(epfd, fd, ptr, listen);
		}
		if (ep != NULL) {
			coap_free_endpoint(ep);
			ep = NULL;
		}
		if (err == LWM2M_EIO) {
			break;
		}
		err = LWM2M_EIO;
	}
	return err;
}

/* ---- the shard contexts ------------------------------------------------- */

struct shard {
	coap_context_t *ctx;
	struct event *ev;
};

struct gw_shards {
	struct gw_ctx *gw;
	struct event *timer;
	size_t n;
	struct shard s[];
};

/* Readable: libcoap's ready sockets, as gw_coap.c does for gw->coap. */
static void
on_shard_readable(evutil_socket_t fd, short what, void *arg)
{
	coap_context_t *ctx = arg;
	struct epoll_event evs[SHARD_EPOLL_BATCH];

	for (int round = 0; round < SHARD_READ_ROUNDS; round++) {
		int n = epoll_wait(fd, evs, SHARD_EPOLL_BATCH, 0);
		if (n <= 0) {
			return;
		}
		coap_io_do_epoll(ctx, evs, (size_t)n);
	}
}

/* Timer: the shards' retransmissions, DTLS timers, session time-outs. */
static void
on_shard_timer(evutil_socket_t fd, short what, void *arg)
{
	struct gw_shards *sh = arg;
	coap_tick_t now;

	coap_ticks(&now);
	for (size_t i = 0; i < sh->n; i++) {
		coap_io_prepare_epoll(sh->s[i].ctx, now);
	}
}

static lwm2m_err
shard_open(struct gw_shards *sh, struct shard *s, const coap_address_t *listen,
           gw_shard_setup_fn setup, void *arg, unsigned int walk_ms)
{
	coap_context_t *main_ctx = sh->gw->coap;

	s->ctx = coap_new_context(NULL);
	if (s->ctx == NULL) {
		return LWM2M_ENOMEM;
	}
	coap_set_app_data(s->ctx, sh->gw);
	coap_context_set_block_mode(s->ctx, COAP_BLOCK_USE_LIBCOAP |
	                                        COAP_BLOCK_SINGLE_BODY);
	coap_context_set_max_idle_sessions(
	    s->ctx, coap_context_get_max_idle_sessions(main_ctx));
	coap_context_set_session_timeout(
	    s->ctx, coap_context_get_session_timeout(main_ctx));
	gw_devop_handlers(s->ctx);
	if (gw_coap_add_handlers(s->ctx) != LWM2M_OK ||
	    setup(s->ctx, arg) != LWM2M_OK ||
	    gw_shard_listen(s->ctx, listen) != LWM2M_OK) {
		return LWM2M_EIO;
	}
	gw_walk_throttle(s->ctx, walk_ms);
	s->ev = event_new(sh->gw->base, coap_context_get_coap_fd(s->ctx),
	                  EV_READ | EV_PERSIST, on_shard_readable, s->ctx);
	if (s->ev == NULL || event_add(s->ev, NULL) != 0) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

lwm2m_err
gw_shards_start(struct gw_ctx *gw, const coap_address_t *listen, size_t n,
                gw_shard_setup_fn setup, void *arg, unsigned int walk_ms,
                struct gw_shards **ret_sh)
{
	struct timeval tv = {0, SHARD_POLL_MS * 1000};
	struct gw_shards *sh = calloc(1, sizeof *sh + n * sizeof sh->s[0]);

	if (sh == NULL) {
		return LWM2M_ENOMEM;
	}
	sh->gw = gw;
	for (; sh->n < n; sh->n++) {
		if (shard_open(sh, &sh->s[sh->n], listen, setup, arg,
		               walk_ms) != LWM2M_OK) {
			sh->n++;
			gw_shards_free(sh);
			return LWM2M_EIO;
		}
	}
	sh->timer = event_new(gw->base, -1, EV_PERSIST, on_shard_timer, sh);
	if (sh->timer == NULL || event_add(sh->timer, &tv) != 0) {
		gw_shards_free(sh);
		return LWM2M_ENOMEM;
	}
	*ret_sh = sh;
	return LWM2M_OK;
}

struct gw_shards *
gw_shards_free(struct gw_shards *sh)
{
	if (sh == NULL) {
		return NULL;
	}
	if (sh->timer != NULL) {
		event_free(sh->timer);
	}
	for (size_t i = 0; i < sh->n; i++) {
		if (sh->s[i].ev != NULL) {
			event_free(sh->s[i].ev);
		}
		gw_walk_forget(sh->s[i].ctx);
		if (sh->s[i].ctx != NULL) {
			coap_free_context(sh->s[i].ctx);
		}
	}
	free(sh);
	return NULL;
}
