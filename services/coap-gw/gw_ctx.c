/* gw_ctx.c - configuration, lifecycle, timers, events and rpc handlers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "gw.h"
#include "lwm2m_cli.h"
#include "lwm2m_devop.h"
#include "lwm2m_env.h"
#include "lwm2m_event.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_metrics.h"
#include "lwm2m_redis.h"
#include "lwm2m_retention.h"
#include "lwm2m_rpc.h"

enum {
	OPT_REDIS_URL,
	OPT_REDIS_SENTINELS,
	OPT_REDIS_MASTER,
	OPT_COAP_LISTEN,
	OPT_NO_COAP,
	OPT_ORG,
	OPT_GW_ID,
	OPT_RPC_URL,
	OPT_EVENTS_URL,
	OPT_HEALTH_ADDR,
	OPT_LOG_LEVEL,
	OPT_LOG_JSON,
	OPT_RCVBUF,
	OPT_RETENTION_S,
	OPT_RPC_ADVERTISE,
	OPT_DEVICE_TIMEOUT_MS,
	OPT_QUEUE_AWAKE_MS,
	OPT_QUEUE_MAX,
	OPT_SESSIONS_MAX,
	OPT_DEVOP_MAX,
	OPT_EVENTS_MAXLEN,
	OPT_NOTIFY_BACKLOG,
	OPT_DTLS_ENABLE,
	OPT_DTLS_LISTEN,
	OPT_DTLS_CERT_LISTEN,
	OPT_DTLS_PKI,
	OPT_CA_CERT,
	OPT_CA_KEY,
	OPT_DTLS_SHARDS,
	OPT_DTLS_PSK_POLL_MS,
	OPT_COAP_WALK_MS,
	OPT_COUNT
};

static const struct lwm2m_cli_opt opts[OPT_COUNT] = {
    [OPT_REDIS_URL] = LWM2M_CLI_OPT_REDIS_URL,
    [OPT_REDIS_SENTINELS] = LWM2M_CLI_OPT_REDIS_SENTINELS,
    [OPT_REDIS_MASTER] = LWM2M_CLI_OPT_REDIS_MASTER,
    [OPT_COAP_LISTEN] = {"coap-listen", "LWDS_COAP_LISTEN", "HOST:PORT",
                         "0.0.0.0:5683", "plain CoAP listen address",
                         LWM2M_CLI_TEXT, 0, 127, NULL},
    [OPT_NO_COAP] = {"no-coap", "LWDS_COAP_ENABLE", NULL, "1",
                     "no plain CoAP (LWDS_COAP_ENABLE=0)", LWM2M_CLI_SWITCH, 0,
                     0, NULL},
    [OPT_ORG] = {"org", "LWDS_COAP_ORG", "N", "0",
                 "organisation of devices without DTLS\n(0 = admin)",
                 LWM2M_CLI_INT, 0, 1LL << 53, NULL},
    [OPT_GW_ID] = {"gw-id", "LWDS_GW_ID", "ID", NULL,
                   "gateway id (<hostname>-<CoAP port>)", LWM2M_CLI_TEXT, 0,
                   GW_EP_MAX, NULL},
    [OPT_RPC_URL] = {"rpc-url", "LWDS_GW_RPC_URL", "URL",
                     "tcp://127.0.0.1:7710", "nng rep listener", LWM2M_CLI_TEXT,
                     0, 255, NULL},
    [OPT_EVENTS_URL] = {"events-url", "LWDS_EVENTS_URL", "URL",
                        "tcp://127.0.0.1:7720", "nng pub, dialled",
                        LWM2M_CLI_TEXT, 0, 255, NULL},
    [OPT_HEALTH_ADDR] = LWM2M_CLI_OPT_HEALTH_ADDR("LWDS_GW_HEALTH_ADDR", "off"),
    [OPT_LOG_LEVEL] = LWM2M_CLI_OPT_LOG_LEVEL("notice"),
    [OPT_LOG_JSON] = LWM2M_CLI_OPT_LOG_JSON,
    [OPT_RCVBUF] = {NULL, "LWDS_COAP_RCVBUF", NULL, "4194304",
                    "receive and send buffer of the CoAP/DTLS\n"
                    "listening sockets, bytes (0 = kernel's)",
                    LWM2M_CLI_INT, 0, GW_SOCKBUF_MAX, NULL},
    [OPT_RETENTION_S] = LWM2M_CLI_OPT_RETENTION,
    [OPT_RPC_ADVERTISE] = {NULL, "LWDS_GW_RPC_ADVERTISE", NULL, NULL,
                           "the rpc URL other hosts dial (the rpc URL)",
                           LWM2M_CLI_TEXT, 0, 255, NULL},
    [OPT_DEVICE_TIMEOUT_MS] = LWM2M_CLI_OPT_DEVICE_TIMEOUT,
    [OPT_QUEUE_AWAKE_MS] = {NULL, "LWDS_QUEUE_AWAKE_MS", NULL,
                            LWM2M_CLI_STR(GW_QUEUE_AWAKE_MS_DEFAULT),
                            "queue mode: awake after a message, ms",
                            LWM2M_CLI_INT, 0, 3600000, NULL},
    [OPT_QUEUE_MAX] = {NULL, "LWDS_QUEUE_MAX", NULL,
                       LWM2M_CLI_STR(GW_QUEUE_MAX_DEFAULT),
                       "requests queued per device", LWM2M_CLI_INT, 1, 1024,
                       NULL},
    [OPT_SESSIONS_MAX] = {NULL, "LWDS_DEVICE_SESSIONS_MAX", NULL, NULL,
                          "idle client sessions kept (half the fd\n"
                          "limit; 256 on Linux before 6.13)",
                          LWM2M_CLI_INT, 0, 1000000, NULL},
    [OPT_DEVOP_MAX] = {NULL, "LWDS_DEVOP_MAX", NULL,
                       LWM2M_CLI_STR(GW_DEVOP_MAX_DEFAULT),
                       "device operations at once", LWM2M_CLI_INT, 1, 1000000,
                       NULL},
    [OPT_EVENTS_MAXLEN] = {NULL, "LWDS_EVENTS_MAXLEN", NULL,
                           LWM2M_CLI_STR(GW_EVENTS_MAXLEN_DEFAULT),
                           "safety cap of the {events} stream, entries\n"
                           "(the broker trims what it acknowledged)",
                           LWM2M_CLI_INT, 1, INT64_MAX, NULL},
    [OPT_NOTIFY_BACKLOG] = {NULL, "LWDS_GW_NOTIFY_BACKLOG_BYTES", NULL,
                            LWM2M_CLI_STR(GW_EVENTS_BACKLOG_DEFAULT),
                            "notifications and client events held while\n"
                            "Redis cannot take them, bytes with payloads",
                            LWM2M_CLI_INT, 0, INT64_MAX, NULL},
    [OPT_DTLS_ENABLE] = {NULL, "LWDS_DTLS_ENABLE", NULL, "1",
                         "CoAP over DTLS (PSK identities, device\n"
                         "certificates)",
                         LWM2M_CLI_SWITCH, 0, 0, NULL},
    [OPT_DTLS_LISTEN] = {NULL, "LWDS_DTLS_LISTEN", NULL, "0.0.0.0:5684",
                         "DTLS listen address", LWM2M_CLI_TEXT, 0, 127, NULL},
    [OPT_DTLS_CERT_LISTEN] = {NULL, "LWDS_DTLS_CERT_LISTEN", NULL, NULL,
                              "a second DTLS port, same credentials",
                              LWM2M_CLI_TEXT, 0, 127, NULL},
    [OPT_DTLS_PKI] = {NULL, "LWDS_DTLS_PKI", NULL, "1",
                      "device certificates over DTLS", LWM2M_CLI_SWITCH, 0, 0,
                      NULL},
    [OPT_CA_CERT] = LWM2M_CLI_OPT_CA_CERT,
    [OPT_CA_KEY] = LWM2M_CLI_OPT_CA_KEY,
    [OPT_DTLS_SHARDS] = {NULL, "LWDS_DTLS_SHARDS", NULL, "1",
                         "libcoap contexts serving the DTLS port",
                         LWM2M_CLI_INT, 1, GW_DTLS_SHARDS_MAX, NULL},
    [OPT_DTLS_PSK_POLL_MS] = {NULL, "LWDS_DTLS_PSK_POLL_MS", NULL,
                              LWM2M_CLI_STR(GW_DTLS_PSK_POLL_MS_DEFAULT),
                              "how often the PSK version in Redis is\n"
                              "checked for reloads, ms",
                              LWM2M_CLI_INT, 10, 60000, NULL},
    [OPT_COAP_WALK_MS] = {NULL, "LWDS_COAP_WALK_MS", NULL,
                          LWM2M_CLI_STR(GW_COAP_WALK_MS_DEFAULT),
                          "pace of libcoap's walks of all sessions, ms\n"
                          "(0: libcoap's own)",
                          LWM2M_CLI_INT, 0, 1000, NULL},
};

static const struct lwm2m_cli cli = {
    .prog = "lwds-coap-gw",
    .about = "LwM2M registration and device management over CoAP (UDP)\n"
             "and DTLS (docs/coap-gw.md).\n",
    .opts = opts,
    .n_opts = OPT_COUNT,
};

/* copies text, which the table's length limit lets fit, into dst */
static void
copy_text(char *dst, size_t size, const char *text)
{
	snprintf(dst, size, "%s", text != NULL ? text : "");
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

/* cfg from the resolved options v */
static void
config_apply(struct gw_config *cfg, const struct lwm2m_cli_val *v)
{
	copy_text(cfg->redis_url, sizeof cfg->redis_url, v[OPT_REDIS_URL].text);
	copy_text(cfg->coap_listen, sizeof cfg->coap_listen,
	          v[OPT_COAP_LISTEN].text);
	cfg->coap_enable = v[OPT_NO_COAP].num != 0;
	cfg->org = v[OPT_ORG].num;
	copy_text(cfg->gw_id, sizeof cfg->gw_id, v[OPT_GW_ID].text);
	copy_text(cfg->rpc_url, sizeof cfg->rpc_url, v[OPT_RPC_URL].text);
	copy_text(cfg->events_url, sizeof cfg->events_url,
	          v[OPT_EVENTS_URL].text);
	copy_text(cfg->health_addr, sizeof cfg->health_addr,
	          v[OPT_HEALTH_ADDR].text);
	cfg->log_level = (int)v[OPT_LOG_LEVEL].num;
	cfg->log_json = v[OPT_LOG_JSON].num != 0;
	cfg->sockbuf = v[OPT_RCVBUF].num;
	cfg->retention_ms = v[OPT_RETENTION_S].num * 1000;
	cfg->rpc_advertise = v[OPT_RPC_ADVERTISE].text;
}

/* the settings of device operations and DTLS from v */
static void
config_apply_devices(struct gw_config *cfg, const struct lwm2m_cli_val *v)
{
	cfg->device_timeout_ms = (int)v[OPT_DEVICE_TIMEOUT_MS].num;
	cfg->queue_awake_ms = (int)v[OPT_QUEUE_AWAKE_MS].num;
	cfg->queue_max = (int)v[OPT_QUEUE_MAX].num;
	cfg->devop_max = (int)v[OPT_DEVOP_MAX].num;
	cfg->sessions_max =
	    v[OPT_SESSIONS_MAX].text != NULL ? v[OPT_SESSIONS_MAX].num : -1;
	cfg->events_maxlen = v[OPT_EVENTS_MAXLEN].num;
	cfg->notify_backlog = (size_t)v[OPT_NOTIFY_BACKLOG].num;
	cfg->dtls_enable = v[OPT_DTLS_ENABLE].num != 0;
	cfg->dtls_pki = v[OPT_DTLS_PKI].num != 0;
	cfg->dtls_listen = v[OPT_DTLS_LISTEN].text;
	cfg->dtls_cert_listen = v[OPT_DTLS_CERT_LISTEN].text;
	cfg->ca_cert = v[OPT_CA_CERT].text;
	cfg->ca_key = v[OPT_CA_KEY].text;
	cfg->dtls_shards = (int)v[OPT_DTLS_SHARDS].num;
	cfg->dtls_psk_poll_ms = (int)v[OPT_DTLS_PSK_POLL_MS].num;
	cfg->coap_walk_ms = (int)v[OPT_COAP_WALK_MS].num;
}

lwm2m_err
gw_config_init(struct gw_config *cfg, int argc, char **argv, bool *ret_help)
{
	struct lwm2m_cli_val v[OPT_COUNT];

	memset(cfg, 0, sizeof *cfg);
	if (lwm2m_cli_parse(&cli, argc, argv, v, ret_help) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	if (*ret_help) {
		return LWM2M_OK;
	}
	cfg->sweep_ms = 1000;
	cfg->alive_ms = 5000;
	config_apply(cfg, v);
	config_apply_devices(cfg, v);
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
		    LWM2M_LOG_DEBUG, "rpc kind=%u rid=%s", env->kind,
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

	gw_registry_ready(gw); /* lwm2m_redis logged "redis: connected" */
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
		err =
		    lwm2m_metrics_http_start(gw->base, gw->cfg.health_addr,
		                             on_health, gw, &gw->metrics_http);
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
