/* brk.h - lwds-broker: turns connectivity events of the gateways into
 * webhook delivery jobs for the matching subscriptions (REST spec 6.6).
 *
 * Only the loop thread may call these functions unless a comment says
 * otherwise.
 */
#ifndef BRK_H
#define BRK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "lwm2m_delivery.h"
#include "lwm2m_err.h"
#include "lwm2m_event.h"
#include "lwm2m_id.h"
#include "lwm2m_keys.h"
#include "lwm2m_objdef.h"
#include "lwm2m_redis.h"
#include "lwm2m_value.h"

/* ---- subscriptions (brk_subs.c) --------------------------------------- */

enum brk_event {
	BRK_EV_CONNECTED = 0, /* ClientConnected */
	BRK_EV_UPDATED,       /* ClientUpdated */
	BRK_EV_DISCONNECTED,  /* ClientDisconnected */
	BRK_EV_EXPIRED,       /* ClientConnectionExpired */
};

#define BRK_SUB_TYPE_MAX 32

struct brk_sub {
	char id[LWM2M_ID_SIZE];
	long long org;
	char type[BRK_SUB_TYPE_MAX]; /* "ClientConnected", "Observation"... */
	char client[LWM2M_ID_SIZE];  /* "" at organisation level */
	char url[LWM2M_DELIVERY_URL_MAX + 1];
	char accept[LWM2M_DELIVERY_CT_MAX + 1]; /* "" means JSON */
	char secret[LWM2M_DELIVERY_SECRET_MAX + 1];
};

/* brk_event_from_kind maps an envelope kind (LWM2M_ENV_EV_*) onto the
 * client-event type it fires; false for kinds that fire none.  Any thread. */
bool brk_event_from_kind(uint16_t kind, enum brk_event *ret_event);

/* brk_event_name returns "ClientConnected" style names.  Any thread. */
const char *brk_event_name(enum brk_event event);

/* brk_sub_parse reads an HGETALL reply of LWM2M_KEY_SUB for subscription id
 * into ret_sub.  LWM2M_ENOTFOUND for an empty reply (deleted subscription),
 * LWM2M_EPROTO when org, type or url is missing or malformed, LWM2M_ELIMIT
 * when a field is longer than its buffer.  Any thread. */
lwm2m_err brk_sub_parse(const char *id, const redisReply *reply,
                        struct brk_sub *ret_sub);

/* brk_sub_matches is true when sub must be notified of event for the client
 * ev->id: same organisation and type, and no client target or the same
 * client (the original ignored the client target: spec 6.6).  Any thread. */
bool brk_sub_matches(const struct brk_sub *sub, enum brk_event event,
                     const struct lwm2m_event *ev);

/* brk_sub_is_xml is true when the subscription's AcceptContentType asks for
 * XML (contains "xml", any case).  Any thread. */
bool brk_sub_is_xml(const struct brk_sub *sub);

/* brk_body_render writes the webhook body of spec 6.7 for a client event
 * into a new malloc()ed, NUL-terminated buffer (caller frees): JSON, or XML
 * when brk_sub_is_xml(sub); TimeTriggered is now_s (UTC).  Any thread. */
lwm2m_err brk_body_render(const struct brk_sub *sub, enum brk_event event,
                          const struct lwm2m_event *ev, int64_t now_s,
                          char **ret_body, size_t *ret_len);

/* brk_job_new builds the delivery job for sub and a rendered body (content
 * type = AcceptContentType, default application/json) and encodes it into a
 * new malloc()ed buffer (caller frees); ret_id receives the delivery id.
 * Any thread. */
lwm2m_err brk_job_new(const struct brk_sub *sub, const char *body,
                      size_t body_len, char **ret_job, size_t *ret_len,
                      char ret_id[LWM2M_ID_SIZE]);

/* ---- the gateway event stream (brk_stream.c) -------------------------- */

#ifndef LWM2M_KEY_EVENTS
#define LWM2M_KEY_EVENTS LWM2M_KEY_PREFIX "{events}"
#endif
#define BRK_EVENTS_GROUP "lwds-broker" /* consumer group of the brokers */
#define BRK_STREAM_READ_MAX 256        /* entries handled at once */
#define BRK_STREAM_CLAIM_MS 5000       /* XAUTOCLAIM period */

/* brk_stream_event reads the fields (array of name/value strings) of one
 * LWM2M_KEY_EVENTS entry: "type" registered/updated/deregistered/removed/
 * expired, "id", "org", "gw", "ep", "ts".  LWM2M_ENOTFOUND for entries that
 * fire no client event (notifications, unknown types), LWM2M_EPROTO for a
 * missing or invalid id or org, LWM2M_ELIMIT for an oversized field.  Any
 * thread. */
lwm2m_err brk_stream_event(const redisReply *fields, enum brk_event *ret_event,
                           struct lwm2m_event *ret_ev);

/* ---- the daemon (brk_fanout.c) ---------------------------------------- */

enum brk_source {
	BRK_SRC_NNG = 0, /* nng sub0 listener on events_url */
	BRK_SRC_STREAM,  /* consumer group on LWM2M_KEY_EVENTS */
};

struct brk_config {
	const char *redis_url;   /* --redis-url, LWDS_REDIS_URL */
	const char *events_url;  /* --events-url, nng sub0 listener */
	const char *health_addr; /* --health-addr, NULL: none */
	size_t backlog_max;      /* steps held while Redis is down */
	enum brk_source source;  /* LWDS_BROKER_EVENTS: "nng" or "stream" */
	const char *consumer;    /* LWDS_BROKER_CONSUMER, default host name */
	long long claim_idle_ms; /* LWDS_BROKER_CLAIM_IDLE_MS (60000) */
	long long trim_ms;       /* LWDS_EVENTS_TRIM_MS (10000), 0: off */
	char consumer_buf[256];  /* the host name */
};

struct brk_ctx;

#define BRK_BACKLOG_MAX_DEFAULT 100000
#define BRK_CLAIM_IDLE_MS_DEFAULT 60000
#define BRK_TRIM_MS_DEFAULT 10000

/* brk_config_defaults fills config with the defaults above, the stream
 * source and the host name as consumer; redis_url, events_url and
 * health_addr are left NULL for the caller (main.c sets every field from
 * its command line, lwm2m_cli.h).  While Redis is unavailable the broker holds
 * up to backlog_max pending steps (index reads, subscription reads, job adds)
 * and resumes them, oldest first, once it reconnects. */
void brk_config_defaults(struct brk_config *config);

/* brk_ctx_new listens on config->events_url, connects to Redis and serves
 * /health, all on base; config must outlive the context. */
lwm2m_err brk_ctx_new(struct event_base *base, const struct brk_config *config,
                      struct brk_ctx **ret_ctx);

/* brk_ctx_free closes the socket and frees everything; NULL-safe. */
void brk_ctx_free(struct brk_ctx *ctx);

/* brk_ctx_queued returns how many jobs were queued since the start. */
unsigned long long brk_ctx_queued(const struct brk_ctx *ctx);

/* ---- between brk_fanout.c and brk_stream.c (loop thread only) ---------- */

/* A stream entry being handled; acknowledged when its last step ends. */
struct brk_entry;
struct brk_stream;
struct lwm2m_rpc_client;

/* brk__event looks up and queues the deliveries of ev; entry (NULL for nng
 * events) gets one reference per step and is released by them. */
void brk__event(struct brk_ctx *ctx, enum brk_event event,
                const struct lwm2m_event *ev, struct brk_entry *entry);

/* brk__watched_value finds the number a filtered subscription compares
 * (Step, LessThan, GreaterThan) in a decoded notification: resource prop of
 * the notified instance when prop >= 0, else the notified resource itself
 * (path of length 3).  A single resource that came as one resource instance
 * with its own id (Wakaama's LwM2M JSON /o/i/r/r) counts as that resource
 * (lwm2m_instance_prop_node).  text: raw values came as text/plain.  False
 * when there is no such numeric value. */
bool brk__watched_value(struct lwm2m_tree *tree, const struct lwm2m_path *path,
                        int prop, const struct lwm2m_objdef *def, bool text,
                        double *ret);

/* brk__redis returns the command connection of ctx. */
struct lwm2m_redis *brk__redis(struct brk_ctx *ctx);

/* brk__entry_ref adds a reference to entry (NULL-safe). */
void brk__entry_ref(struct brk_entry *entry);

/* brk__entry_unref drops one; the last one XACKs the entry and frees it
 * (NULL-safe). */
void brk__entry_unref(struct brk_entry *entry);

/* brk__observe_path reconciles the device's observation of path on client
 * with the Observation subscriptions of that path (brk_observe.c): Observe
 * (after Write-Attributes) for the first, Write-Attributes when the merged
 * attributes change, Cancel after the last.  entry is held until done. */
void brk__observe_path(struct brk_ctx *ctx, struct lwm2m_rpc_client *rpc,
                       const char *client, const char *path,
                       struct brk_entry *entry);

/* brk__observe_check reconciles, after an Update of client, each path
 * whose observation was made through another gateway or another start of
 * the client's gateway (the observation died with that gateway process)
 * or that has subscriptions but no observation. */
void brk__observe_check(struct brk_ctx *ctx, struct lwm2m_rpc_client *rpc,
                        const char *client, struct brk_entry *entry);

/* brk__observe_client re-establishes, after a Register of client (the
 * device dropped its observations), every path that has subscriptions:
 * the observations recorded carry the old registration time. */
void brk__observe_client(struct brk_ctx *ctx, struct lwm2m_rpc_client *rpc,
                         const char *client, struct brk_entry *entry);

/* A small cache of object definitions (brk_notify.c): each notification
 * needs one, and reading it from Redis is most of the cost. */
struct brk_defcache;

/* brk__defcache_new / _free: up to 64 definitions, each kept 5 s (a
 * changed definition shows after at most that).  _free is NULL-safe. */
lwm2m_err brk__defcache_new(struct brk_defcache **ret_cache);
void brk__defcache_free(struct brk_defcache *cache);

/* brk__defcache returns the cache of ctx. */
struct brk_defcache *brk__defcache(struct brk_ctx *ctx);

/* brk__notify delivers a "notify" entry (fields of LWM2M_KEY_EVENTS) to
 * the Observation subscriptions of its client on its path and ancestor
 * paths, each filtered by its own attributes (brk_notify.c). */
void brk__notify(struct brk_ctx *ctx, const redisReply *fields,
                 struct brk_entry *entry);

/* ---- Lua scripts (brk_lua.c) ------------------------------------------ */

enum brk_lua {
	BRK_LUA_NOTIFY_SUBS = 0, /* brk_notify.c: subscriptions to notify */
	BRK_LUA_DELIVER,         /* brk_notify.c: filter + queue, atomic */
	BRK_LUA_OBS_STATE,       /* brk_observe.c: what a reconcile needs */
	BRK_LUA_OBS_CHECK,       /* brk_observe.c: paths to observe again */
	BRK_LUA_OBS_UNLOCK,      /* brk_observe.c: release a path's lock */
	BRK_LUA_EVENTS_TRIM,     /* brk_stream.c: trim what groups acked */
	BRK_LUA_N,
};

#define BRK_LUA_SHA_SIZE 41 /* 40 hex digits and a NUL */

/* The script sources, defined next to the code that runs them. */
extern const char brk__lua_notify_subs[];
extern const char brk__lua_deliver[];
extern const char brk__lua_obs_state[];
extern const char brk__lua_obs_check[];
extern const char brk__lua_obs_unlock[];
extern const char brk__lua_events_trim[];

/* The SHA1 of each script, as EVALSHA wants it. */
struct brk_lua_set {
	char sha[BRK_LUA_N][BRK_LUA_SHA_SIZE];
};

/* brk_lua_source returns the text of script which, NULL when out of
 * range.  Any thread. */
const char *brk_lua_source(enum brk_lua which);

/* brk_lua_sha writes the lowercase hex SHA1 of src (the name Redis gives a
 * script) into ret_sha.  Any thread. */
void brk_lua_sha(const char *src, char ret_sha[BRK_LUA_SHA_SIZE]);

/* brk__lua_init computes the SHA1 of every script into set. */
void brk__lua_init(struct brk_lua_set *set);

/* brk__lua_load queues SCRIPT LOAD of every script on redis; called first
 * on each connect, so the EVALSHAs queued after it always find them. */
void brk__lua_load(struct lwm2m_redis *redis);

#define BRK_RUN_MAX 300 /* "<consumer> <random id>" */

/* brk__run returns "<consumer name> <random id of this start>": it names
 * this run of the broker in the locks it takes (brk_observe.c). */
const char *brk__run(struct brk_ctx *ctx);

/* brk__base returns the event base of ctx. */
struct event_base *brk__base(struct brk_ctx *ctx);

/* brk__luas returns the script set of ctx. */
const struct brk_lua_set *brk__luas(struct brk_ctx *ctx);

/* brk__lua_run sends "EVALSHA <sha of which> " followed by fmt (numkeys,
 * keys and arguments, lwm2m_redis_cmd conversions) on the command
 * connection of ctx.  LWM2M_EBACKEND when not connected (cb is then not
 * called), LWM2M_EINVAL for a bad script or an oversized format. */
lwm2m_err brk__lua_run(struct brk_ctx *ctx, enum brk_lua which,
                       lwm2m_redis_cb cb, void *arg, const char *fmt, ...);

/* brk__lua_runargv is brk__lua_run with an argument vector: argv[0] is
 * numkeys, then KEYS and ARGV (lengths from argvlen, or strlen when
 * NULL; at most 126 arguments). */
lwm2m_err brk__lua_runargv(struct brk_ctx *ctx, enum brk_lua which,
                           lwm2m_redis_cb cb, void *arg, int argc,
                           const char **argv, const size_t *argvlen);

/* brk__stream_new starts reading LWM2M_KEY_EVENTS for ctx: first this
 * consumer's pending entries (what a killed broker had taken), then new
 * ones; every BRK_STREAM_CLAIM_MS it claims entries idle longer than
 * cfg->claim_idle_ms from other consumers. */
lwm2m_err brk__stream_new(struct brk_ctx *ctx, struct event_base *base,
                          const struct brk_config *cfg,
                          struct brk_stream **ret_stream);

/* brk__stream_free stops reading; entries in flight stay pending in Redis
 * and are read again at the next start.  NULL-safe. */
void brk__stream_free(struct brk_stream *stream);

/* brk__stream_inflight returns the entries being handled. */
size_t brk__stream_inflight(const struct brk_stream *stream);

#endif
