/* gw_ctx.c - configuration, lifecycle, timers, events and rpc handlers. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "gw.h"
#include "lwm2m_env.h"
#include "lwm2m_event.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_metrics.h"
#include "lwm2m_redis.h"
#include "lwm2m_retention.h"
#include "lwm2m_rpc.h"

static const char usage[] =
    "Usage: lwds-coap-gw [options]\n"
    "LwM2M registration and device management over CoAP (UDP).\n\n"
    "  --redis-url URL    LWDS_REDIS_URL     (redis://127.0.0.1:6379)\n"
    "  --coap-listen A:P  LWDS_COAP_LISTEN   (0.0.0.0:5683)\n"
    "  --no-coap          LWDS_COAP_ENABLE=0 (plain CoAP on by default)\n"
    "  --org N            LWDS_COAP_ORG      organisation of devices\n"
    "                                        without DTLS (0 = admin)\n"
    "  --gw-id ID         LWDS_GW_ID         (<hostname>-<CoAP port>)\n"
    "  --rpc-url URL      LWDS_GW_RPC_URL    nng rep listener\n"
    "                                        (tcp://127.0.0.1:7710)\n"
    "  (env only)         LWDS_GW_HEALTH_ADDR host:port of GET /health\n"
    "                                        and /metrics (off if unset)\n"
    "  --events-url URL   LWDS_EVENTS_URL    nng pub, dialled\n"
    "                                        (tcp://127.0.0.1:7720)\n"
    "  (env only)         LWDS_COAP_RCVBUF   receive and send buffer of the\n"
    "                                        CoAP/DTLS listening sockets,\n"
    "                                        bytes (4194304; 0 = kernel's)\n"
    "  (env only)         LWDS_CLIENT_RETENTION_S  seconds the record of a\n"
    "                                        client that left (de-registered,\n"
    "                                        expired, removed) is kept, then\n"
    "                                        reaped with its subscriptions\n"
    "                                        (2592000 = 30 days; 0 = forever;\n"
    "                                        the same on every gateway and\n"
    "                                        rest-api)\n"
    "  --log-level L      LWDS_LOG_LEVEL     err|warning|notice|info|debug\n"
    "  --log-json         LWDS_LOG_JSON=1    one JSON object per line\n"
    "  --help             this text\n"
    "Device operations (environment only, docs/coap-gw.md):\n"
    "  LWDS_DEVICE_TIMEOUT_MS   a device's answer (93000)\n"
    "  LWDS_QUEUE_AWAKE_MS      queue mode: awake after a message (93000)\n"
    "  LWDS_QUEUE_MAX           requests queued per device (32)\n"
    "  LWDS_DEVICE_SESSIONS_MAX idle client sessions kept (half the fd limit;\n"
    "                           256 on Linux before 6.13)\n"
    "  LWDS_DEVOP_MAX           operations at once (100000)\n"
    "  LWDS_EVENTS_MAXLEN       safety cap of the {events} stream, entries\n"
    "                           (10000000; the broker trims what it\n"
    "                           acknowledged)\n"
    "  LWDS_GW_NOTIFY_BACKLOG_BYTES\n"
    "                           notifications and client events held while\n"
    "                           Redis cannot take them, bytes with payloads\n"
    "                           (67108864)\n";

static bool
set_str(char *dst, size_t size, const char *name, const char *value)
{
	if (value == NULL || *value == '\0' || strlen(value) >= size) {
		fprintf(stderr, "lwds-coap-gw: bad %s\n", name);
		return false;
	}
	memcpy(dst, value, strlen(value) + 1);
	return true;
}

static bool
set_bool(bool *dst, const char *name, const char *value)
{
	if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0) {
		*dst = true;
	} else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0) {
		*dst = false;
	} else {
		fprintf(stderr, "lwds-coap-gw: %s must be 0 or 1\n", name);
		return false;
	}
	return true;
}

static bool
set_level(struct gw_config *cfg, const char *value)
{
	cfg->log_level = lwm2m_log_parse_level(value);
	if (cfg->log_level < 0) {
		fprintf(stderr, "lwds-coap-gw: bad log level \"%s\"\n", value);
		return false;
	}
	return true;
}

static bool
set_org(struct gw_config *cfg, const char *value)
{
	if (lwm2m_parse_int(value, 0, 1LL << 53, &cfg->org) != LWM2M_OK) {
		fprintf(stderr, "lwds-coap-gw: bad organisation \"%s\"\n",
		        value);
		return false;
	}
	return true;
}

static bool
set_sockbuf(struct gw_config *cfg, const char *value)
{
	if (lwm2m_parse_int(value, 0, GW_SOCKBUF_MAX, &cfg->sockbuf) !=
	    LWM2M_OK) {
		fprintf(stderr,
		        "lwds-coap-gw: LWDS_COAP_RCVBUF must be 0..%d bytes\n",
		        GW_SOCKBUF_MAX);
		return false;
	}
	return true;
}

static bool
set_retention(struct gw_config *cfg)
{
	if (lwm2m_retention_env(&cfg->retention_ms) != LWM2M_OK) {
		fprintf(stderr,
		        "lwds-coap-gw: LWDS_CLIENT_RETENTION_S must be "
		        "0..%lld seconds\n",
		        LWM2M_RETENTION_MAX_S);
		return false;
	}
	return true;
}

static bool
config_env(struct gw_config *cfg)
{
	cfg->sweep_ms = 1000;
	cfg->alive_ms = 5000;
	cfg->log_level = LWM2M_LOG_NOTICE;
	return set_str(
	           cfg->redis_url, sizeof cfg->redis_url, "LWDS_REDIS_URL",
	           lwm2m_getenv("LWDS_REDIS_URL", "redis://127.0.0.1:6379")) &&
	       set_str(cfg->coap_listen, sizeof cfg->coap_listen,
	               "LWDS_COAP_LISTEN",
	               lwm2m_getenv("LWDS_COAP_LISTEN", "0.0.0.0:5683")) &&
	       set_bool(&cfg->coap_enable, "LWDS_COAP_ENABLE",
	                lwm2m_getenv("LWDS_COAP_ENABLE", "1")) &&
	       set_sockbuf(cfg, lwm2m_getenv("LWDS_COAP_RCVBUF", "4194304")) &&
	       set_org(cfg, lwm2m_getenv("LWDS_COAP_ORG", "0")) &&
	       set_retention(cfg) &&
	       (lwm2m_getenv("LWDS_GW_ID", NULL) == NULL ||
	        set_str(cfg->gw_id, sizeof cfg->gw_id, "LWDS_GW_ID",
	                lwm2m_getenv("LWDS_GW_ID", NULL))) &&
	       set_str(
	           cfg->rpc_url, sizeof cfg->rpc_url, "LWDS_GW_RPC_URL",
	           lwm2m_getenv("LWDS_GW_RPC_URL", "tcp://127.0.0.1:7710")) &&
	       set_str(
	           cfg->events_url, sizeof cfg->events_url, "LWDS_EVENTS_URL",
	           lwm2m_getenv("LWDS_EVENTS_URL", "tcp://127.0.0.1:7720")) &&
	       set_level(cfg, lwm2m_getenv("LWDS_LOG_LEVEL", "notice")) &&
	       set_bool(&cfg->log_json, "LWDS_LOG_JSON",
	                lwm2m_getenv("LWDS_LOG_JSON", "0"));
}

/* Without LWDS_GW_ID or --gw-id the id is <hostname>-<CoAP port>: the same
 * after a restart (so the gateway reloads its devices and observation
 * tokens, docs/coap-gw.md "Restart"), and distinct for gateways sharing a
 * host, which cannot share a listen port. */
static void
default_gw_id(struct gw_config *cfg)
{
	char host[64] = "localhost";
	const char *colon = strrchr(cfg->coap_listen, ':');

	if (cfg->gw_id[0] != '\0') {
		return;
	}
	gethostname(host, sizeof host - 1);
	snprintf(cfg->gw_id, sizeof cfg->gw_id, "%s-%s", host,
	         colon != NULL ? colon + 1 : "5683");
}

static bool
config_flag(struct gw_config *cfg, int opt, const char *arg)
{
	switch (opt) {
	case 'r':
		return set_str(cfg->redis_url, sizeof cfg->redis_url,
		               "--redis-url", arg);
	case 'c':
		return set_str(cfg->coap_listen, sizeof cfg->coap_listen,
		               "--coap-listen", arg);
	case 'n':
		cfg->coap_enable = false;
		return true;
	case 'o':
		return set_org(cfg, arg);
	case 'g':
		return set_str(cfg->gw_id, sizeof cfg->gw_id, "--gw-id", arg);
	case 'p':
		return set_str(cfg->rpc_url, sizeof cfg->rpc_url, "--rpc-url",
		               arg);
	case 'e':
		return set_str(cfg->events_url, sizeof cfg->events_url,
		               "--events-url", arg);
	case 'l':
		return set_level(cfg, arg);
	case 'j':
		cfg->log_json = true;
		return true;
	default:
		fputs(usage, stderr);
		return false;
	}
}

lwm2m_err
gw_config_init(struct gw_config *cfg, int argc, char **argv, bool *ret_help)
{
	static const struct option opts[] = {
	    {"redis-url", required_argument, NULL, 'r'},
	    {"coap-listen", required_argument, NULL, 'c'},
	    {"no-coap", no_argument, NULL, 'n'},
	    {"org", required_argument, NULL, 'o'},
	    {"gw-id", required_argument, NULL, 'g'},
	    {"rpc-url", required_argument, NULL, 'p'},
	    {"events-url", required_argument, NULL, 'e'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"log-json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	memset(cfg, 0, sizeof *cfg);
	*ret_help = false;
	if (!config_env(cfg)) {
		return LWM2M_EINVAL;
	}
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			*ret_help = true;
			return LWM2M_OK;
		}
		if (!config_flag(cfg, opt, optarg)) {
			return LWM2M_EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lwds-coap-gw: unexpected argument \"%s\"\n",
		        argv[optind]);
		return LWM2M_EINVAL;
	}
	default_gw_id(cfg);
	return LWM2M_OK;
}

/* ---- events and rpc -------------------------------------------------------
 */

/* the registry event counter of kind, looked up once */
static struct lwm2m_metric *
event_counter(struct gw_ctx *gw, uint16_t kind)
{
	static const char *const names[] = {
	    "", "registered", "updated", "deregistered", "expired", "removed"};
	char metric[96];

	if (kind >= GW_EVENT_KINDS || kind >= sizeof names / sizeof names[0]) {
		return NULL;
	}
	if (gw->m_events[kind] == NULL) {
		snprintf(metric, sizeof metric,
		         "lwds_gw_registry_events_total{event=\"%s\"}",
		         names[kind]);
		gw->m_events[kind] = lwm2m_metrics_counter(
		    NULL, metric, "Registration events by kind");
	}
	return gw->m_events[kind];
}

static void
publish(struct gw_ctx *gw, uint16_t kind, const char *id, const char *ep,
        long long org, bool stream)
{
	struct lwm2m_event ev;
	nng_msg *msg;
	lwm2m_err err;

	lwm2m_metrics_inc(event_counter(gw, kind));
	if (gw->m_devices == NULL) {
		gw->m_devices = lwm2m_metrics_gauge(
		    NULL, "lwds_gw_devices", "Devices owned by this gateway");
	}
	lwm2m_metrics_set(gw->m_devices, (double)gw->table.count);
	if (!gw->pub_open) {
		return;
	}
	if (stream) {
		gw_events_add(gw, kind, id, ep, org);
	}
	/* nng's pub drops what no subscriber is connected to receive; the
	 * broker reads {events} by default and does not listen, so skip the
	 * encoding and nng's send path (9% of the gateway in a storm) */
	if (__atomic_load_n(&gw->pub_pipes, __ATOMIC_RELAXED) == 0) {
		return;
	}
	memset(&ev, 0, sizeof ev);
	snprintf(ev.id, sizeof ev.id, "%s", id);
	snprintf(ev.ep, sizeof ev.ep, "%s", ep);
	snprintf(ev.gw, sizeof ev.gw, "%s", gw->cfg.gw_id);
	ev.org = org;
	ev.ts = lwm2m_now_ms();
	err = lwm2m_event_msg_new(kind, &ev, &msg);
	if (err == LWM2M_OK) {
		err = lwm2m_env_send(gw->pub, msg);
	}
	if (err != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_WARNING, "event %u id=%s not published: %s",
		          kind, id, lwm2m_strerror(err));
	}
}

void
gw_publish(struct gw_ctx *gw, uint16_t kind, const char *id, const char *ep,
           long long org)
{
	publish(gw, kind, id, ep, org, true);
}

void
gw_publish_nng(struct gw_ctx *gw, uint16_t kind, const char *id, const char *ep,
               long long org)
{
	publish(gw, kind, id, ep, org, false);
}

void
gw_publish_skipped(struct gw_ctx *gw, uint16_t kind, const char *id,
                   const char *ep, long long org)
{
	if (gw->m_skipped == NULL) {
		gw->m_skipped = lwm2m_metrics_counter(
		    NULL, "lwds_gw_events_skipped_total",
		    "Client events not added to {events}: their organisation "
		    "had no subscription");
	}
	lwm2m_metrics_inc(gw->m_skipped);
	publish(gw, kind, id, ep, org, false);
}

static size_t
subs_slot(long long org)
{
	unsigned long long h = (unsigned long long)org * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 58) % GW_SUBS_CACHE;
}

/* sends EXISTS of org's LWM2M_KEY_ORG_SUBS now; cb gets the reply */
static lwm2m_err
subs_send(struct gw_ctx *gw, long long org, lwm2m_redis_cb cb, void *arg)
{
	size_t i = subs_slot(org);
	const char *argv[] = {"EXISTS", gw->subs.key[i]};

	if (gw->subs.key_org[i] != org || gw->subs.key[i][0] == '\0') {
		snprintf(gw->subs.key[i], sizeof gw->subs.key[i],
		         LWM2M_KEY_ORG_SUBS, org);
		gw->subs.key_org[i] = org;
	}
	return lwm2m_redis_cmdargv(gw->redis, cb, arg, 2, argv, NULL);
}

/* the waiters of one flushed EXISTS */
struct subs_batch {
	size_t n;
	struct gw_subs_waiter w[];
};

static void
on_subs_batch(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct subs_batch *b = arg;

	for (size_t i = 0; i < b->n; i++) {
		b->w[i].cb(redis, reply, b->w[i].arg);
	}
	free(b);
}

/* one EXISTS for the waiters of p (emptied); they get NULL when it cannot
 * be sent */
static void
subs_flush_one(struct gw_ctx *gw, struct gw_subs_pending *p)
{
	size_t n = p->n;
	struct subs_batch *b = malloc(sizeof *b + n * sizeof b->w[0]);

	p->n = 0;
	if (b == NULL) {
		for (size_t i = 0; i < n;
		     i++) { /* one EXISTS each, as before */
			if (subs_send(gw, p->org, p->w[i].cb, p->w[i].arg) !=
			    LWM2M_OK) {
				p->w[i].cb(gw->redis, NULL, p->w[i].arg);
			}
		}
		return;
	}
	b->n = n;
	memcpy(b->w, p->w, n * sizeof b->w[0]);
	if (subs_send(gw, p->org, on_subs_batch, b) != LWM2M_OK) {
		on_subs_batch(gw->redis, NULL, b);
	}
}

/* Sends the pending checks.  The slots are emptied before any waiter
 * runs, so a waiter may ask for a check again (the next flush's). */
static void
subs_flush(struct gw_ctx *gw)
{
	struct gw_subs_pending taken[GW_SUBS_PENDING];
	size_t n = gw->n_subs_pending;

	memcpy(taken, gw->subs_pending, n * sizeof taken[0]);
	for (size_t i = 0; i < n; i++) {
		/* the copy keeps the waiters; the slot gets a new array */
		gw->subs_pending[i].w = NULL;
		gw->subs_pending[i].n = gw->subs_pending[i].cap = 0;
	}
	gw->n_subs_pending = 0;
	for (size_t i = 0; i < n; i++) {
		subs_flush_one(gw, &taken[i]);
		free(taken[i].w);
	}
}

static void
on_subs_flush(evutil_socket_t fd, short what, void *arg)
{
	subs_flush(arg);
}

/* org's pending slot, a new one when there is room; NULL when none */
static struct gw_subs_pending *
subs_pending_slot(struct gw_ctx *gw, long long org)
{
	struct gw_subs_pending *p;

	for (size_t i = 0; i < gw->n_subs_pending; i++) {
		if (gw->subs_pending[i].org == org) {
			return &gw->subs_pending[i];
		}
	}
	if (gw->n_subs_pending == GW_SUBS_PENDING) {
		return NULL;
	}
	p = &gw->subs_pending[gw->n_subs_pending++];
	p->org = org;
	p->n = 0;
	return p;
}

lwm2m_err
gw_subs_check(struct gw_ctx *gw, long long org, lwm2m_redis_cb cb, void *arg)
{
	struct gw_subs_pending *p;

	if (gw->subs_flush == NULL || gw->closing ||
	    !lwm2m_redis_connected(gw->redis) ||
	    (p = subs_pending_slot(gw, org)) == NULL) {
		return subs_send(gw, org, cb, arg);
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;
		struct gw_subs_waiter *w = realloc(p->w, cap * sizeof *w);

		if (w == NULL) {
			if (p->n == 0) { /* the slot just taken: give it back */
				gw->n_subs_pending--;
			}
			return subs_send(gw, org, cb, arg);
		}
		p->w = w;
		p->cap = cap;
	}
	p->w[p->n++] = (struct gw_subs_waiter){cb, arg};
	if (gw->n_subs_pending == 1 && p->n == 1) {
		event_active(gw->subs_flush, EV_TIMEOUT, 0);
	}
	return LWM2M_OK;
}

bool
gw_subs_learn(struct gw_ctx *gw, long long org, const redisReply *reply)
{
	size_t i = subs_slot(org);
	bool none = reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	            reply->integer == 0;

	gw->subs.org[i] = org;
	gw->subs.state[i] = none ? GW_SUBS_NONE : GW_SUBS_SOME;
	gw->subs.checked_ms[i] = lwm2m_mono_ms();
	return !none;
}

bool
gw_subs_maybe(const struct gw_ctx *gw, long long org)
{
	size_t i = subs_slot(org);

	return gw->subs.org[i] != org || gw->subs.state[i] != GW_SUBS_NONE;
}

bool
gw_subs_fresh(const struct gw_ctx *gw, long long org)
{
	size_t i = subs_slot(org);

	return gw->subs.org[i] == org && gw->subs.state[i] == GW_SUBS_SOME &&
	       lwm2m_mono_ms() - gw->subs.checked_ms[i] < GW_SUBS_FRESH_MS;
}

static void
on_rpc(struct lwm2m_rpc_req *req, const struct lwm2m_env *env, void *arg)
{
	struct gw_ctx *gw = arg;
	char id[LWM2M_ID_SIZE], rid[LWM2M_ENV_RID_MAX + 8];
	lwm2m_err err;

	lwm2m_metrics_inc(lwm2m_metrics_counter(
	    NULL, "lwds_gw_rpc_requests_total", "rpc requests received"));
	if (env->rid_len > 0) {
		lwm2m_log(
		    LWM2M_LOG_INFO, "rpc kind=%u rid=%s", env->kind,
		    lwm2m_log_quote(rid, sizeof rid, env->rid, env->rid_len));
	}
	switch (env->kind) {
	case LWM2M_ENV_RPC_PING:
		lwm2m_rpc_reply(req, 0, NULL, 0);
		return;
	case LWM2M_ENV_RPC_DEVICE:
		gw_devop_handle(gw, req, env);
		return;
	case LWM2M_ENV_RPC_EVICT:
		if (env->payload_len != LWM2M_ID_LEN ||
		    !lwm2m_id_valid((const char *)env->payload, LWM2M_ID_LEN)) {
			lwm2m_rpc_reply_error(req, LWM2M_EPROTO,
			                      "payload must be a client id");
			return;
		}
		memcpy(id, env->payload, LWM2M_ID_LEN);
		id[LWM2M_ID_LEN] = '\0';
		err = gw_registry_evict(gw, id);
		if (err != LWM2M_OK) {
			lwm2m_rpc_reply_error(req, err,
			                      "client not on this gateway");
		} else {
			lwm2m_rpc_reply(req, 0, NULL, 0);
		}
		return;
	default:
		lwm2m_rpc_reply_error(req, LWM2M_EINVAL, "unsupported request");
		return;
	}
}

/* ---- lifecycle --------------------------------------------------------------
 */

static void
on_redis_ready(struct lwm2m_redis *redis, void *arg)
{
	struct gw_ctx *gw = arg;

	lwm2m_log(LWM2M_LOG_NOTICE, "redis connected");
	gw_registry_ready(gw);
	gw_events_flush(gw);
}

static void
on_alive(evutil_socket_t fd, short what, void *arg)
{
	gw_registry_announce(arg);
	gw_events_check(arg);
	gw_events_flush(arg);
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	gw_registry_sweep(arg);
}

static struct event *
add_timer(struct gw_ctx *gw, int ms, event_callback_fn fn)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct event *ev = event_new(gw->base, -1, EV_PERSIST, fn, gw);

	if (ev != NULL && event_add(ev, &tv) != 0) {
		event_free(ev);
		ev = NULL;
	}
	return ev;
}

/* Runs on an nng thread: only counts the subscribers.  nng runs REM_POST
 * for exactly the pipes that had ADD_PRE, so the count stays balanced. */
static void
on_pub_pipe(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct gw_ctx *gw = arg;

	__atomic_add_fetch(&gw->pub_pipes, ev == NNG_PIPE_EV_ADD_PRE ? 1 : -1,
	                   __ATOMIC_RELAXED);
}

static lwm2m_err
open_pub(struct gw_ctx *gw)
{
	int rv = nng_pub0_open(&gw->pub);

	if (rv != 0) {
		return lwm2m_env_nng_err(rv);
	}
	gw->pub_open = true;
	rv = nng_pipe_notify(gw->pub, NNG_PIPE_EV_ADD_PRE, on_pub_pipe, gw);
	if (rv == 0) {
		rv = nng_pipe_notify(gw->pub, NNG_PIPE_EV_REM_POST, on_pub_pipe,
		                     gw);
	}
	if (rv != 0) {
		return lwm2m_env_nng_err(rv);
	}
	/* non-blocking: nng keeps redialling until the broker listens */
	rv = nng_dial(gw->pub, gw->cfg.events_url, NULL, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		lwm2m_log(LWM2M_LOG_ERR, "bad events URL \"%s\": %s",
		          gw->cfg.events_url, nng_strerror(rv));
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

static int
on_health(struct evbuffer *out, void *arg)
{
	struct gw_ctx *gw = arg;
	bool ok = lwm2m_redis_connected(gw->redis);

	evbuffer_add_printf(out, "{\"status\":\"%s\",\"devices\":%zu}\n",
	                    ok ? "ok" : "redis unavailable", gw->table.count);
	return ok;
}

/* LWDS_GW_HEALTH_ADDR=host:port: GET /health and /metrics; none if unset */
static lwm2m_err
health_start(struct gw_ctx *gw)
{
	const char *addr = lwm2m_getenv("LWDS_GW_HEALTH_ADDR", NULL);
	lwm2m_err err;

	if (addr == NULL) {
		return LWM2M_OK;
	}
	err = lwm2m_metrics_http_new(gw->base, addr, on_health, gw,
	                             &gw->metrics_http);
	if (err != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot serve /health on \"%s\": %s",
		          addr, lwm2m_strerror(err));
	}
	return err;
}

static lwm2m_err
start_all(struct gw_ctx *gw)
{
	lwm2m_err err;

	err = lwm2m_signals_new(gw->base, gw_stop, gw, &gw->signals);
	if (err == LWM2M_OK) {
		err = lwm2m_redis_new(gw->base, gw->cfg.redis_url,
		                      on_redis_ready, gw, &gw->redis);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_rpc_server_new(gw->base, gw->cfg.rpc_url, on_rpc,
		                           gw, &gw->rpc);
		if (err != LWM2M_OK) {
			lwm2m_log(LWM2M_LOG_ERR, "cannot listen on rpc %s: %s",
			          gw->cfg.rpc_url, lwm2m_strerror(err));
		}
	}
	if (err == LWM2M_OK) {
		err = open_pub(gw);
	}
	if (err == LWM2M_OK) {
		err = health_start(gw);
	}
	if (err == LWM2M_OK && gw->cfg.coap_enable) {
		err = gw_coap_start(gw);
	}
	if (err == LWM2M_OK) {
		err = gw_devop_start(gw);
	}
	if (err != LWM2M_OK) {
		return err;
	}
	gw->alive_timer = add_timer(gw, gw->cfg.alive_ms, on_alive);
	gw->sweep_timer = add_timer(gw, gw->cfg.sweep_ms, on_sweep);
	gw->subs_flush = event_new(gw->base, -1, 0, on_subs_flush, gw);
	return gw->alive_timer && gw->sweep_timer && gw->subs_flush
	           ? LWM2M_OK
	           : LWM2M_ENOMEM;
}

lwm2m_err
gw_new(struct event_base *base, const struct gw_config *cfg,
       struct gw_ctx **ret_gw)
{
	struct gw_ctx *gw = calloc(1, sizeof *gw);
	lwm2m_err err;

	if (gw == NULL) {
		return LWM2M_ENOMEM;
	}
	gw->cfg = *cfg;
	gw->base = base;
	gw->started_ms = lwm2m_now_ms();
	gw_table_init(&gw->table);
	err = start_all(gw);
	if (err != LWM2M_OK) {
		gw_free(gw);
		return err;
	}
	lwm2m_log(LWM2M_LOG_NOTICE, "gateway %s started (rpc %s, events %s)",
	          gw->cfg.gw_id, gw->cfg.rpc_url, gw->cfg.events_url);
	*ret_gw = gw;
	return LWM2M_OK;
}

struct gw_ctx *
gw_free(struct gw_ctx *gw)
{
	if (gw == NULL) {
		return NULL;
	}
	gw->closing = true;
	if (gw->alive_timer != NULL) {
		event_free(gw->alive_timer);
	}
	if (gw->sweep_timer != NULL) {
		event_free(gw->sweep_timer);
	}
	lwm2m_metrics_http_free(gw->metrics_http);
	lwm2m_rpc_server_free(gw->rpc);
	gw_devop_stop(gw);
	/* checks asked for are sent, and completed below with the rest */
	subs_flush(gw);
	if (gw->subs_flush != NULL) {
		event_free(gw->subs_flush);
	}
	/* completes Redis operations still in flight, which answer CoAP */
	lwm2m_redis_free(gw->redis);
	gw_events_backlog_free(gw);
	gw_coap_stop(gw);
	gw_registry_free_spares(gw);
	if (gw->pub_open) {
		nng_close(gw->pub);
	}
	lwm2m_signals_free(gw->signals);
	gw_table_fini(&gw->table);
	free(gw);
	return NULL;
}

void
gw_stop(void *arg)
{
	struct gw_ctx *gw = arg;

	lwm2m_log(LWM2M_LOG_NOTICE, "stopping");
	event_base_loopexit(gw->base, NULL);
}
