/* gw.h - lwds-coap-gw: LwM2M registration and device management over CoAP.
 *
 * One struct gw_ctx owns the libevent base's sources of the process: the
 * libcoap context, the Redis connection, the nng rpc server and events
 * publisher, the timers, and the in-memory table of the devices this
 * gateway instance owns.  Only the loop thread touches it.
 *
 * Files: gw_reg.c (pure parsing and decisions, testable without sockets),
 * gw_table.c (device table), gw_registry.c (Redis flows), gw_reap.c (the
 * records of clients that left, deleted once LWDS_CLIENT_RETENTION_S has
 * passed), gw_coap.c (libcoap
 * glue), gw_ctx.c (configuration, lifecycle, timers, events, rpc),
 * gw_devop.c (device operations over rpc, queue mode), gw_observe.c
 * (observations, the events stream, metrics), gw_restore.c (the table
 * reloaded from Redis after a restart).
 */
#ifndef GW_H
#define GW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <coap3/coap.h>
#include <event2/event.h>
#include <nng/nng.h>

#include "lwm2m_devop.h"
#include "lwm2m_env.h"
#include "lwm2m_err.h"
#include "lwm2m_event.h"
#include "lwm2m_format.h"
#include "lwm2m_id.h"
#include "lwm2m_redis.h"
#include "lwm2m_rpc.h"
#include "lwm2m_spares.h"

#define GW_EP_MAX LWM2M_EVENT_EP_MAX /* endpoint name, bytes */
#define GW_SMS_MAX 32                /* MSISDN */
#define GW_EXTRA_MAX 256             /* unknown query params, "a=b&c" */
#define GW_ROOT_MAX 64               /* alternate path */
#define GW_CT_MAX 64                 /* "60 110 112" */
#define GW_PAYLOAD_MAX 8192          /* link-format payload, bytes */
#define GW_LINKS_MAX 1024            /* links in one payload */
#define GW_LT_DEFAULT 86400
#define GW_LT_MAX 0x7fffffffu
#define GW_DIAG_MAX 160
#define GW_EXPIRY_GRACE_MS 2000 /* tolerated lateness of an Update */
#define GW_EVENT_KINDS 8        /* connectivity event kinds counted */

enum gw_state {
	GW_STATE_REGISTERED = 0,
	GW_STATE_DEREGISTERED,
	GW_STATE_EXPIRED,
};

/* ---- gw_reg.c: parsing and decisions ------------------------------------ */

struct gw_str {
	const char *ptr;
	size_t len;
};

enum gw_op {
	GW_OP_REGISTER,
	GW_OP_UPDATE,
};

/* Query of a Register or Update. */
struct gw_reg_query {
	bool has_ep, has_lt, has_lwm2m, has_b, has_sms, q;
	char ep[GW_EP_MAX + 1];
	uint32_t lt;
	char lwm2m[4];
	char b[8];
	char sms[GW_SMS_MAX + 1];
	char extra[GW_EXTRA_MAX + 1];
};

/* What a registration payload says. */
struct gw_reg_links {
	char root[GW_ROOT_MAX + 1]; /* alternate path, "" for "/" */
	char ct[GW_CT_MAX + 1];     /* formats of the root link, "" if none */
	char *objs; /* "</3/0>,</3303>;ver=1.1": device order, malloc */
	size_t n_objs;
};

/* A full connectivity record, as written to Redis. */
struct gw_record {
	char id[LWM2M_ID_SIZE];
	char ep[GW_EP_MAX + 1];
	long long org;
	char addr[64];
	uint32_t lt;
	char b[8];
	bool queue;
	char lwm2m[4];
	char sms[GW_SMS_MAX + 1];
	char root[GW_ROOT_MAX + 1];
	char ct[GW_CT_MAX + 1];
	char *objs; /* malloc, or NULL for "" */
	char extra[GW_EXTRA_MAX + 1];
	int64_t reg_ms, upd_ms, exp_ms;
	bool secure;
	enum gw_state state;
};

/* gw_reg_query_parse parses the Uri-Query options opts[0..n) of a Register
 * (op GW_OP_REGISTER) or Update.  Rules: ep mandatory on Register and refused
 * on Update, at most GW_EP_MAX printable bytes; lt 1..GW_LT_MAX; lwm2m one
 * of 1.0 1.1 1.2 (LWM2M_ENOTFOUND for another well-formed "x.y", caller
 * answers 4.12); b letters from UTSNQMH without repeats; Q valueless;
 * sms up to GW_SMS_MAX; a parameter twice is an error; others go to extra.
 * LWM2M_EPROTO with diag (diag_size bytes, NUL-terminated) naming the fault. */
lwm2m_err gw_reg_query_parse(const struct gw_str *opts, size_t n, enum gw_op op,
                             struct gw_reg_query *ret_q, char *diag,
                             size_t diag_size);

/* gw_reg_links_parse interprets a registration payload: the root link
 * (rt="oma.lwm2m", or "</>" alone) gives the alternate path and ct; every
 * other link must be "<root>/o" or "<root>/o/i" (ids 0..65534, ver="x.y"
 * allowed on objects); repeated links are merged; resource paths and links
 * outside the root are errors.  objs is the normalised list without the root,
 * in the order the device sent it. LWM2M_EPROTO / LWM2M_ELIMIT with diag.
 * ret_links is written only on success; free it with gw_reg_links_fini. */
lwm2m_err gw_reg_links_parse(const char *buf, size_t len,
                             struct gw_reg_links *ret_links, char *diag,
                             size_t diag_size);

/* gw_reg_links_fini frees objs; NULL-safe. */
void gw_reg_links_fini(struct gw_reg_links *links);

/* gw_record_fini frees objs; NULL-safe. */
void gw_record_fini(struct gw_record *rec);

/* gw_reg_build_register fills ret_rec for a new registration from q and
 * links (links->objs is moved into the record) at time now_ms; id, org,
 * addr and gw-specific fields are left for the caller. */
void gw_reg_build_register(const struct gw_reg_query *q,
                           struct gw_reg_links *links, int64_t now_ms,
                           struct gw_record *ret_rec);

/* What an Update changes; derived by gw_reg_build_update. */
struct gw_update {
	uint32_t lt; /* kept from the device when absent */
	bool set_b, set_sms, set_objs, set_extra, queue;
	char b[8];
	char sms[GW_SMS_MAX + 1];
	char *objs; /* moved from links, malloc */
	char extra[GW_EXTRA_MAX + 1];
	int64_t upd_ms, exp_ms;
};

/* gw_reg_build_update applies q and (optional) links of an Update to a
 * device whose lifetime is cur_lt and queue flag cur_queue, at now_ms. */
void gw_reg_build_update(const struct gw_reg_query *q,
                         struct gw_reg_links *links, uint32_t cur_lt,
                         bool cur_queue, int64_t now_ms,
                         struct gw_update *ret_upd);

/* gw_reg_decide_update returns the CoAP code of an Update or De-register
 * for a device in state with expiry exp_ms: 4.03 when blacklisted, 4.04
 * when not registered or expired (past exp_ms + GW_EXPIRY_GRACE_MS), else
 * success (2.04, or 2.02 for De-register). */
uint8_t gw_reg_decide_update(bool found, enum gw_state state, int64_t exp_ms,
                             bool blacklisted, bool deregister, int64_t now_ms);

/* gw_reg_decide_register returns 4.03 when the endpoint's existing client id
 * is blacklisted, else 2.01 (the id is kept when one exists). */
uint8_t gw_reg_decide_register(bool blacklisted);

/* gw_state_name returns "registered", "deregistered" or "expired". */
const char *gw_state_name(enum gw_state state);

/* gw_state_parse maps those names back; false for anything else. */
bool gw_state_parse(const char *text, enum gw_state *ret_state);

/* ---- gw_table.c: the devices this instance owns -------------------------- */

/* An intrusive doubly linked list with a count. */
struct gw_qnode {
	struct gw_qnode *prev, *next;
};
struct gw_qlist {
	struct gw_qnode *head, *tail;
	size_t n;
};

struct gw_devq;

struct gw_device {
	struct gw_device *next; /* hash chain */
	char id[LWM2M_ID_SIZE];
	uint8_t state;
	bool queue;
	bool metrics_dirty; /* on gw_devops' flush list (gw_devop.c) */
	uint16_t n_obs;     /* observations held (gw_observe.c) */
	uint32_t lt;
	long long org;
	int64_t exp_ms;
	coap_address_t addr;
	/* referenced, where requests go (gw_devop.c): the DTLS session while
	 * registered, else our own client session while requests are out */
	coap_session_t *session;
	bool dtls;
	uint16_t n_sent;      /* requests in flight on session */
	struct gw_qnode idle; /* in gw_devops' idle sessions while unused */
	char *root;           /* alternate path, malloc; NULL for "/" */
	struct lwm2m_format_caps caps;
	int64_t awake_until_ms; /* queue mode: last message + awake window */
	struct gw_devq *q;      /* queue-mode requests waiting; NULL if none */
	struct gw_device *dirty_next;
	uint64_t tx_bytes, rx_bytes, tx_count; /* metrics not yet flushed */
	char ep[];                             /* NUL-terminated */
};

struct gw_table {
	struct gw_device **buckets;
	size_t n_buckets, count;
	size_t prune_pos; /* next bucket gw_table_prune looks at */
	/* called before a device is freed (gw_devop.c), or NULL */
	void (*on_free)(void *arg, struct gw_device *dev);
	void *on_free_arg;
};

/* gw_table_init / gw_table_fini: an empty table; fini frees every device. */
void gw_table_init(struct gw_table *t);
void gw_table_fini(struct gw_table *t);

/* gw_table_get returns the device with client id id, or NULL. */
struct gw_device *gw_table_get(const struct gw_table *t, const char *id);

/* gw_table_put inserts or replaces the device with id and endpoint ep and
 * returns it (fields other than id/ep zeroed on insert) or NULL on ENOMEM. */
struct gw_device *gw_table_put(struct gw_table *t, const char *id,
                               const char *ep);

/* gw_table_del removes and frees the device with id; false if absent. */
bool gw_table_del(struct gw_table *t, const char *id);

/* gw_table_prune looks at up to n_buckets buckets, continuing where the
 * previous call stopped, and frees devices whose expiry is before
 * before_ms (another gateway expired or took them over).  Returns how many
 * it freed. */
size_t gw_table_prune(struct gw_table *t, int64_t before_ms, size_t n_buckets);

/* ---- gw_ctx.c: configuration and lifecycle ---------------------------------
 */

struct gw_config {
	char redis_url[256];
	char coap_listen[128];
	bool coap_enable;
	long long org;
	char gw_id[GW_EP_MAX + 1];
	char rpc_url[256];
	char events_url[256];
	char health_addr[128]; /* GET /health and /metrics; "": none */
	int log_level;
	bool log_json;
	int sweep_ms;      /* expiry sweep period */
	int alive_ms;      /* alive key refresh period; TTL is 3 times it */
	long long sockbuf; /* LWDS_COAP_RCVBUF: listening sockets' buffers */
	long long retention_ms; /* LWDS_CLIENT_RETENTION_S in ms; 0 forever */
	/* the texts below are borrowed from argv or the environment; NULL:
	 * unset */
	const char *rpc_advertise; /* LWDS_GW_RPC_ADVERTISE; NULL: rpc_url */
	/* device operations (gw_devop.c, gw_observe.c) */
	int device_timeout_ms;   /* LWDS_DEVICE_TIMEOUT_MS */
	int queue_awake_ms;      /* LWDS_QUEUE_AWAKE_MS */
	int queue_max;           /* LWDS_QUEUE_MAX */
	int devop_max;           /* LWDS_DEVOP_MAX */
	long long sessions_max;  /* LWDS_DEVICE_SESSIONS_MAX; -1: derived
	                          * from the descriptor limit */
	long long events_maxlen; /* LWDS_EVENTS_MAXLEN */
	size_t notify_backlog;   /* LWDS_GW_NOTIFY_BACKLOG_BYTES */
	/* DTLS (gw_dtls.c) */
	bool dtls_enable;             /* LWDS_DTLS_ENABLE */
	bool dtls_pki;                /* LWDS_DTLS_PKI */
	const char *dtls_listen;      /* LWDS_DTLS_LISTEN */
	const char *dtls_cert_listen; /* LWDS_DTLS_CERT_LISTEN */
	const char *ca_cert, *ca_key; /* LWDS_CA_CERT, LWDS_CA_KEY */
	int dtls_shards;              /* LWDS_DTLS_SHARDS */
	int dtls_psk_poll_ms;         /* LWDS_DTLS_PSK_POLL_MS */
	int coap_walk_ms;             /* LWDS_COAP_WALK_MS */
};

#define GW_DTLS_SHARDS_MAX 256
#define GW_DTLS_PSK_POLL_MS_DEFAULT 250
#define GW_COAP_WALK_MS_DEFAULT 25 /* least time between two walks */

/* libcoap's cap on idle server sessions, sized by gw_idle_event */
#define GW_IDLE_MIN 64
#define GW_IDLE_MAX 2048
#define GW_IDLE_WINDOW 256   /* sessions created per decision */
#define GW_IDLE_DROPPED 4096 /* fingerprints of dropped sessions' peers */

/* The idle-session cap of one libcoap context (gw_idle_event). */
struct gw_idle {
	coap_context_t *ctx;
	uint32_t dropped[GW_IDLE_DROPPED];
	unsigned cap, created, returned;
};

#define GW_SOCKBUF_DEFAULT (4 << 20) /* 4 MiB */
#define GW_SOCKBUF_MAX (1 << 30)

struct gw_exchange;
struct lwm2m_metric;

/* What the last check of each organisation's LWM2M_KEY_ORG_SUBS found
 * (gw_subs_*), direct-mapped by organisation: a hint, to send a Register's
 * XADD in the same round trip as its check, and to write the events of an
 * organisation found with subscriptions less than GW_SUBS_FRESH_MS ago
 * without a check (writing an event is always safe; leaving one out needs
 * a check sent after the event's write). */
#define GW_SUBS_CACHE 64
#define GW_SUBS_FRESH_MS 1000
struct gw_subs_cache {
	long long org[GW_SUBS_CACHE];
	/* the LWM2M_KEY_ORG_SUBS of key_org[i], formatted once */
	long long key_org[GW_SUBS_CACHE];
	char key[GW_SUBS_CACHE][48];
	int64_t checked_ms[GW_SUBS_CACHE]; /* lwm2m_mono_ms of the check */
	uint8_t state[GW_SUBS_CACHE];      /* GW_SUBS_UNKNOWN, _NONE, _SOME */
};
enum { GW_SUBS_UNKNOWN, GW_SUBS_NONE, GW_SUBS_SOME };

/* Checks of one organisation asked for since the last flush (gw_ctx.c):
 * they share one EXISTS, sent after every write of theirs. */
#define GW_SUBS_PENDING 8
struct gw_subs_waiter {
	lwm2m_redis_cb cb;
	void *arg;
};
struct gw_subs_pending {
	long long org;
	size_t n, cap;
	struct gw_subs_waiter *w; /* malloc'd; the flush takes it */
};

/* Entries of LWM2M_KEY_EVENTS (notifications and connectivity events)
 * whose XADD Redis has not acknowledged and that wait to be sent again
 * (gw_observe.c): a CON notification is ACKed when it arrives and a
 * client's event follows its answer, so this copy is the only one.
 * Arrival order; bytes counts each copy with its payload, up to max_bytes
 * (LWDS_GW_NOTIFY_BACKLOG_BYTES). */
struct gw_events_backlog {
	struct gw_qlist list; /* of struct gw_events_copy */
	size_t bytes, max_bytes;
	bool warned; /* a loss was logged since the backlog was last empty */
	struct lwm2m_metric *m_len, *m_dropped;
};

struct gw_ctx {
	struct gw_config cfg;
	struct event_base *base;
	struct lwm2m_signals *signals;
	struct lwm2m_redis *redis;
	coap_context_t *coap;
	struct event *coap_ev, *coap_timer;
	struct lwm2m_rpc_server *rpc;
	nng_socket pub;
	bool pub_open;
	/* connected subscribers; nng threads write it (atomic) */
	int pub_pipes;
	struct event *alive_timer, *sweep_timer;
	struct gw_table table;
	struct gw_exchange *exchanges; /* CoAP requests waiting on Redis */
	/* the same exchanges by (session, token), chained through hnext; NULL
	 * until the first or when it could not be allocated (pending() then
	 * walks the list) */
	struct gw_exchange **ex_index;
	size_t ex_buckets, ex_count;  /* buckets: a power of two */
	struct lwm2m_spares spare_ex; /* finished exchanges, reused */
	struct gw_dtls *dtls;         /* NULL when DTLS is off */
	struct gw_devops *devops;     /* device operations (gw_devop.c) */
	struct lwm2m_metrics_http *metrics_http; /* LWDS_GW_HEALTH_ADDR */
	int64_t started_ms;
	uint64_t sweep_runs;
	char reg_sha[48]; /* SHA1 of the Register script, "" until loaded */
	char reg_expiry_key[GW_EP_MAX + 64]; /* our gw:{g}:expiry, or "" */
	struct gw_idle idle;                 /* gw->coap's idle-session cap */
	struct lwm2m_spares spare_ops; /* gw_registry.c's finished operations */
	bool closing; /* gw_free runs: observation tokens stay in Redis */
	/* restore of the table after a restart (gw_restore.c): RESTORE_* */
	int restore_state;
	size_t restored, restored_obs; /* devices and tokens loaded */
	/* registry event counters by LWM2M_ENV_EV_* kind, devices gauge */
	struct lwm2m_metric *m_events[GW_EVENT_KINDS], *m_devices;
	struct gw_subs_cache subs; /* organisations' last subscription check */
	struct gw_subs_pending subs_pending[GW_SUBS_PENDING];
	size_t n_subs_pending;          /* organisations with checks to send */
	struct event *subs_flush;       /* sends them, once the loop is idle */
	struct lwm2m_metric *m_skipped; /* events not added to {events} */
	struct lwm2m_metric *m_reaped;  /* records reaped (gw_reap.c) */
	size_t reaped_unlogged; /* reaped since the last sweep's log line */
	struct gw_events_backlog events_backlog;
};

/* gw_config_init fills cfg from its command line (lwm2m_cli.h): argv flags
 * (--redis-url, --coap-listen, --no-coap, --org, --gw-id, --rpc-url,
 * --events-url, --health-addr, --log-level, --log-json) over their LWDS_*
 * variables over the defaults.  LWM2M_EINVAL with one line on stderr for a
 * bad flag or value; *ret_help set for --help (usage is printed). */
lwm2m_err gw_config_init(struct gw_config *cfg, int argc, char **argv,
                         bool *ret_help);

/* gw_new creates the gateway on base: listens on CoAP and rpc, dials the
 * events URL, connects to Redis, starts timers and signal handlers. */
lwm2m_err gw_new(struct event_base *base, const struct gw_config *cfg,
                 struct gw_ctx **ret_gw);

/* gw_free stops everything in reverse order; NULL-safe; returns NULL. */
struct gw_ctx *gw_free(struct gw_ctx *gw);

/* gw_stop makes the loop exit (used by the signal handlers). */
void gw_stop(void *gw);

/* gw_publish sends a connectivity event of kind about dev-like fields. */
void gw_publish(struct gw_ctx *gw, uint16_t kind, const char *id,
                const char *ep, long long org);

/* gw_publish_nng is gw_publish without the XADD to LWM2M_KEY_EVENTS, for
 * events the caller's Redis script already added. */
void gw_publish_nng(struct gw_ctx *gw, uint16_t kind, const char *id,
                    const char *ep, long long org);

/* Client events nobody can consume are not written (docs/redis-schema.md,
 * "Events"): the broker, the only reader of LWM2M_KEY_EVENTS, matches a
 * client event only against the subscriptions of its organisation, all of
 * them in LWM2M_KEY_ORG_SUBS.  The gateway sends EXISTS of that key after
 * the event's record write, on the same connection, and adds the event
 * only when the reply says subscriptions exist (or cannot tell).  A
 * subscription whose SADD runs after that EXISTS is created after the
 * event's state was written: the REST API's "subscription" stream entry
 * makes the broker set up its observations from the record.
 *
 * gw_subs_check sends that EXISTS of org; cb gets its reply, to be given
 * to gw_subs_learn.  The checks of one organisation asked for while the
 * loop runs its current callbacks share one EXISTS, sent when they have
 * run: after every write of the callers, which sent them before asking
 * (a Register storm's batch of replies then costs one EXISTS, not one a
 * device; bench/README.md, eighth storm round).  cb may run (with NULL)
 * from that flush when the command cannot be sent. */
lwm2m_err gw_subs_check(struct gw_ctx *gw, long long org, lwm2m_redis_cb cb,
                        void *arg);

/* gw_subs_learn records what the reply of gw_subs_check for org says and
 * returns true when org has subscriptions or the reply cannot tell (an
 * error, no reply): the event must then be written. */
bool gw_subs_learn(struct gw_ctx *gw, long long org, const redisReply *reply);

/* gw_subs_maybe is false only when the last check of org found no
 * subscription: a hint for sending the event before the check answers. */
bool gw_subs_maybe(const struct gw_ctx *gw, long long org);

/* gw_subs_fresh is true when a check of org found subscriptions less than
 * GW_SUBS_FRESH_MS ago: its event is then written without a check (it
 * would be written whatever the check says but "none", and an organisation
 * that lost its subscriptions has its events skipped again within that
 * time). */
bool gw_subs_fresh(const struct gw_ctx *gw, long long org);

/* gw_publish_skipped is gw_publish for an event whose check found no
 * subscription: counted in lwds_gw_events_skipped_total, published on nng
 * only. */
void gw_publish_skipped(struct gw_ctx *gw, uint16_t kind, const char *id,
                        const char *ep, long long org);

/* ---- gw_coap.c ------------------------------------------------------------
 */

/* gw_coap_start opens the CoAP endpoint of cfg.coap_listen on gw->base. */
lwm2m_err gw_coap_start(struct gw_ctx *gw);

/* gw_coap_stop frees the libcoap context and pending exchanges; NULL-safe. */
void gw_coap_stop(struct gw_ctx *gw);

/* gw_coap_add_handlers installs the registration handlers on ctx (the
 * plain/PSK context, or the certificate context of gw_dtls.c); ctx's app
 * data must be the struct gw_ctx. */
lwm2m_err gw_coap_add_handlers(coap_context_t *ctx);

struct gw_request;

/* gw_coap_parse routes a request (method, path) and parses its query and
 * payload into ret_req, without a socket (used by the fuzz target); false
 * after writing the error answer into response.  On success the caller
 * frees ret_req->links with gw_reg_links_fini. */
bool gw_coap_parse(const coap_pdu_t *request, struct gw_request *ret_req,
                   coap_pdu_t *response);

/* gw_coap_log_init sends libcoap's log through lwm2m_log (gw_coap_log)
 * and sets libcoap's level so that only lines our level shows are
 * formatted.  Call once, after coap_startup, before any context exists. */
void gw_coap_log_init(int level);

/* gw_coap_log_level maps a libcoap line to our level: libcoap's EMERG to
 * ERR become warning (libcoap reports there what a peer did as well as its
 * own failures, and the gateway logs its own decisions), WARNING and
 * NOTICE (malformed datagrams, DTLS alerts and certificate problems, ICMP
 * errors) info, INFO and DEBUG debug; lines that report a peer's ordinary
 * behaviour (a RST) are debug whatever libcoap's level. */
int gw_coap_log_level(coap_log_t level, const char *message);

/* gw_coap_log is libcoap's log handler: one line "libcoap: message" at
 * gw_coap_log_level, the message without its newline, quoted with
 * lwm2m_log_quote (it may hold a peer's strings) and cut at 511 bytes. */
void gw_coap_log(coap_log_t level, const char *message);

/* gw_coap_resolve parses "0.0.0.0:5683", "[::]:5683" or "host:port". */
lwm2m_err gw_coap_resolve(const char *text, coap_address_t *ret_addr);

/* The result of a registration operation. */
struct gw_result {
	uint8_t code;           /* COAP_RESPONSE_CODE(...) */
	char id[LWM2M_ID_SIZE]; /* for 2.01 */
	char diag[GW_DIAG_MAX]; /* error text payload, or "" */
};

/* gw_exchange_done hands the result of an operation back to CoAP; the
 * exchange is answered now (if still in its handler) or separately. */
void gw_exchange_done(struct gw_exchange *ex, const struct gw_result *res);

/* ---- gw_dtls.c ------------------------------------------------------------
 */

struct gw_request;

/* gw_dtls_start opens the DTLS endpoint (LWDS_DTLS_LISTEN, default
 * 0.0.0.0:5684; nothing when LWDS_DTLS_ENABLE=0) on gw->coap with PSK
 * identities from Redis (cached, polled every LWDS_DTLS_PSK_POLL_MS) and,
 * on the same endpoint, device certificates (off with LWDS_DTLS_PKI=0)
 * trusting the device CA (LWDS_CA_CERT/LWDS_CA_KEY, else Redis: read, or
 * created, blocking, so call it before the loop runs); LWDS_DTLS_CERT_LISTEN
 * adds a second endpoint.  LWDS_DTLS_SHARDS (1-256, default 1) serves the
 * port from that many libcoap contexts instead (gw_shards_start);
 * LWDS_COAP_WALK_MS (default 25, 0: off) throttles libcoap's walks of all
 * sessions (gw_walk_throttle).  Called by gw_coap_start. */
lwm2m_err gw_dtls_start(struct gw_ctx *gw);

/* gw_dtls_stop frees the DTLS state after the libcoap context; NULL-safe. */
void gw_dtls_stop(struct gw_ctx *gw);

/* gw_dtls_bind fills req->cred from the session's credential (nothing over
 * plain CoAP) and checks it: a Register must use the credential's endpoint,
 * an Update/De-register its client id.  false after writing a 4.03 into
 * response. */
bool gw_dtls_bind(struct gw_ctx *gw, coap_session_t *session,
                  struct gw_request *req, coap_pdu_t *response);

/* ---- gw_shard.c: libcoap's per-session walks kept off the datagram path -
 */

/* gw_walk_throttle makes libcoap's walk of all sessions of ctx (timer work,
 * run after every event by coap_io_do_epoll) run at most every min_ms, or
 * less often, so that the walks of all throttled contexts take at most a
 * tenth of the time; false when
 * nothing changed (min_ms 0, no slot).  gw_walk_forget ends it for ctx. */
bool gw_walk_throttle(coap_context_t *ctx, unsigned int min_ms);
void gw_walk_forget(const coap_context_t *ctx);

/* gw_shard_listen opens a DTLS endpoint of ctx on listen whose socket has
 * SO_REUSEPORT, so several contexts share the port (the kernel keeps a
 * peer on one socket).  Call before the loop runs (it waits for a probe
 * datagram). */
lwm2m_err gw_shard_listen(coap_context_t *ctx, const coap_address_t *listen);

/* gw_shards_start opens n libcoap contexts serving DTLS on listen (one
 * gw_shard_listen endpoint each, handlers as gw->coap, setup(ctx, arg) for
 * the credentials, walks throttled to walk_ms) with their loop sources on
 * gw->base; gw_shards_free frees them (NULL-safe, returns NULL) once the
 * devices released their sessions (gw_devop_stop). */
struct gw_shards;
typedef lwm2m_err (*gw_shard_setup_fn)(coap_context_t *ctx, void *arg);
lwm2m_err gw_shards_start(struct gw_ctx *gw, const coap_address_t *listen,
                          size_t n, gw_shard_setup_fn setup, void *arg,
                          unsigned int walk_ms, struct gw_shards **ret_sh);
struct gw_shards *gw_shards_free(struct gw_shards *sh);

/* ---- gw_registry.c: Redis flows ---------------------------------------- */

/* The credential of a DTLS session (gw_dtls.c); present is false over
 * plain CoAP.  A PSK identity is the client id itself. */
struct gw_cred {
	bool present;
	long long org;
	char id[LWM2M_ID_SIZE]; /* client id the credential names */
	char ep[GW_EP_MAX + 1]; /* the only endpoint it may register */
};

/* The parsed request an operation works on; owned by the operation. */
struct gw_request {
	enum gw_op op;
	bool deregister;
	char id[LWM2M_ID_SIZE]; /* Update / De-register */
	struct gw_reg_query q;
	struct gw_reg_links links;
	bool has_links;
	coap_address_t addr;
	char addr_text[64];
	coap_session_t *session; /* the device's session (not referenced) */
	struct gw_cred cred;
};

/* gw_registry_register / _update / _deregister run one operation and
 * always finish it with gw_exchange_done (maybe before returning).  They
 * take over req->links. */
void gw_registry_register(struct gw_ctx *gw, struct gw_exchange *ex,
                          struct gw_request *req);
void gw_registry_update(struct gw_ctx *gw, struct gw_exchange *ex,
                        struct gw_request *req);

/* gw_registry_sweep expires registrations past their lifetime (any
 * gateway's); called by the sweep timer. */
void gw_registry_sweep(struct gw_ctx *gw);

/* gw_registry_evict drops client id like DELETE /clients/{id}: removes it
 * from this gateway's table and the connected index, its expiry entry
 * removed (or moved to its reap with a retention), and emits
 * LWM2M_ENV_EV_REMOVED.  LWM2M_ENOTFOUND when this gateway does not own it. */
lwm2m_err gw_registry_evict(struct gw_ctx *gw, const char *id);

/* A client whose record the sweep found not registered, in the expiry set
 * of gateway owner, which its record names (docs/redis-schema.md,
 * "Retention"). */
struct gw_left {
	char id[LWM2M_ID_SIZE];
	char owner[GW_EP_MAX + 1];
	char ep[GW_EP_MAX + 1];
	long long org;
	enum gw_state state; /* GW_STATE_DEREGISTERED for "removed" too */
	long long left;      /* LWM2M_CF_LEFT, ms */
	long long lease;     /* the entry's score while the sweep holds it */
};

/* gw_registry_leave finishes the leave of l, as when its sweep stopped
 * midway: an expired client's event again, the connected index, then the
 * expiry entry (removed, or moved to l->left + retention). */
void gw_registry_leave(struct gw_ctx *gw, const struct gw_left *l);

/* ---- gw_reap.c: records past their retention -------------------------- */

/* gw_reap_start reaps l, whose l->left + retention has passed, in
 * single-slot idempotent steps (docs/redis-schema.md, "Retention"):
 * (1) client: gw_reap_client_lua, if the record is still not registered
 * with the same left: the record marked (LWM2M_CF_REAP), under which no
 * Register's takeover writes it again, and up to GW_REAP_SUBS of its
 * subscription ids returned (registered again: nothing else happens);
 * (2) organisation: gw_reap_org_lua, the id out of the connected index and
 * the endpoint index if that names it; (3) each subscription deleted as
 * DELETE /subscriptions does (lwm2m_sub_delete); (4) client: DEL of the
 * record and the client's keys (not its blacklist entry), once (2) and (3)
 * are done; (5) gateway: gw_reap_entry_lua, the expiry entry removed if
 * its score is still l->lease (moved to now, for the next sweep, when the
 * client may have more subscriptions or a step failed: (4) waits for that
 * sweep).  A crash between steps leaves the entry, which comes due again
 * when its lease ends, and the marked record, which the sweep reaps. */
#define GW_REAP_SUBS 32
void gw_reap_start(struct gw_ctx *gw, const struct gw_left *l);

/* gw_reap_gone finishes the reap of client id, whose record the sweep
 * found gone (a reap that stopped after (4), or one of the previous
 * version): (1) requiring the record absent, which deletes the client's
 * other keys, then (3) and (5). */
void gw_reap_gone(struct gw_ctx *gw, const char *id, const char *owner,
                  long long lease);

/* The scripts of the reap's steps (1), (2), (5) and of a Register (the
 * takeover of a known id; the reclaim of the endpoint index after the
 * takeover found the id reaped), exposed for tests/test_reap.c, which runs
 * them in every order a Register and a reap can interleave.  Their KEYS
 * and ARGV are in the comment above each definition. */
extern const char gw_reap_client_lua[];
extern const char gw_reap_org_lua[];
extern const char gw_reap_entry_lua[];
extern const char gw_takeover_lua[];
extern const char gw_reclaim_lua[];

/* gw_reap_report logs how many records were reaped since it last did, if
 * any (one line per sweep; called by the sweep). */
void gw_reap_report(struct gw_ctx *gw);

/* gw_registry_free_spares frees the operations kept for reuse; gw_free
 * calls it once no operation can finish any more. */
void gw_registry_free_spares(struct gw_ctx *gw);

/* gw_registry_announce writes the gateway hash and alive key. */
void gw_registry_announce(struct gw_ctx *gw);

/* gw_registry_ready runs on every Redis (re)connect: loads the Register
 * script (SCRIPT LOAD; EVAL is used until it answered) and announces. */
void gw_registry_ready(struct gw_ctx *gw);

/* ---- gw_restore.c: the device table after a restart -------------------- */

enum { GW_RESTORE_NONE, GW_RESTORE_RUNNING, GW_RESTORE_DONE };

/* gw_restore_start loads this gateway's registrations (gw:<id>:clients ->
 * client:{id}) and their observation tokens (obs:{id}) into the table and
 * the observation table, SSCAN_BATCH ids per round trip so the loop keeps
 * serving; a device already in the table (it talked meanwhile) is left as
 * it is.  Called on every Redis (re)connect; runs once per process to the
 * end (a connection lost midway starts it again on the next connect). */
void gw_restore_start(struct gw_ctx *gw);

/* gw_restore_record reads a client record's fields (v[GW_RF_*], "" for a
 * missing one) into ret_rec (ep, org, state, exp, lt, q, addr, root, lwm2m,
 * ct, sec) when the record is registered with gateway gw_id and its
 * lifetime (plus GW_EXPIRY_GRACE_MS) is not over at now_ms; false, and
 * ret_rec untouched, otherwise or for a malformed number. */
enum {
	GW_RF_EP,
	GW_RF_ORG,
	GW_RF_STATE,
	GW_RF_EXP,
	GW_RF_LT,
	GW_RF_Q,
	GW_RF_ADDR,
	GW_RF_ROOT,
	GW_RF_VER,
	GW_RF_CT,
	GW_RF_SEC,
	GW_RF_GW,
	GW_RF_N
};
bool gw_restore_record(const char *const *v, const char *gw_id, int64_t now_ms,
                       struct gw_record *ret_rec);

/* gw_unconnected_udp_family returns the address family of fd when it is an
 * unconnected (listening) UDP socket, else AF_UNSPEC. */
int gw_unconnected_udp_family(int fd);

/* gw_idle_init sets ctx's idle-session cap to GW_IDLE_MIN; gw_idle_event,
 * given every event of ctx (coap_register_event_handler), then sizes it
 * for the peers actually seen.  libcoap 4.3.1 keeps at most that many
 * server sessions without a reference, and a datagram from a peer without
 * a session makes it create one after visiting every session of the
 * endpoint, those of the requests in flight (held by the gateway)
 * included.  Peers that come back (a fleet behind NAT, the benchmark's
 * sockets) with more of them in flight than the cap paid that walk on
 * every request.  Of every GW_IDLE_WINDOW plain-UDP sessions created it
 * counts those whose peer's session had been dropped (fingerprints of the
 * last GW_IDLE_DROPPED drops): the cap doubles, up to GW_IDLE_MAX, when
 * half came back, and halves, down to GW_IDLE_MIN, when fewer than 1/16
 * did (new peers: a larger cap would only lengthen each walk). */
void gw_idle_init(struct gw_idle *idle, coap_context_t *ctx);
void gw_idle_event(struct gw_idle *idle, coap_session_t *session,
                   coap_event_t event);

/* gw_coap_set_bufs sets SO_RCVBUF/SO_SNDBUF to bytes on every unconnected
 * UDP socket of the process (libcoap's listening endpoints, before any
 * client session exists): SO_RCVBUFFORCE/SO_SNDBUFFORCE when permitted
 * (root or CAP_NET_ADMIN), else the plain options, capped by the kernel's
 * net.core.rmem_max/wmem_max.  Returns how many sockets it set and writes
 * the effective receive buffer of the last one to *ret_effective. */
size_t gw_coap_set_bufs(int bytes, int *ret_effective);

/* ---- gw_devop.c: device operations (lwm2m_devop.h) -----------------------
 * Only the loop thread calls these. */

#define GW_QUEUE_AWAKE_MS_DEFAULT 93000    /* awake after a message */
#define GW_QUEUE_MAX_DEFAULT 32            /* requests queued per device */
#define GW_DEVOP_MAX_DEFAULT 100000        /* operations in the gateway */
#define GW_DEVICE_SESSIONS_MAX_DEFAULT 256 /* idle client sessions kept */
/* safety cap of LWM2M_KEY_EVENTS (XADD MAXLEN ~): the broker trims what
 * it acknowledged; this only bounds memory when nothing consumes */
#define GW_EVENTS_MAXLEN_DEFAULT 10000000
/* bytes of entries held while Redis cannot take them */
#define GW_EVENTS_BACKLOG_DEFAULT 67108864 /* 64 MiB */

/* gw_qlist_push appends n; gw_qlist_push_bounded does so only while the
 * list holds fewer than max nodes (false otherwise). */
void gw_qlist_push(struct gw_qlist *l, struct gw_qnode *n);
bool gw_qlist_push_bounded(struct gw_qlist *l, struct gw_qnode *n, size_t max);

/* gw_qlist_pop removes and returns the first node, or NULL. */
struct gw_qnode *gw_qlist_pop(struct gw_qlist *l);

/* gw_qlist_remove unlinks n from l; nothing when n is in no list. */
void gw_qlist_remove(struct gw_qlist *l, struct gw_qnode *n);

/* The requests waiting for a queue-mode device. */
struct gw_devq {
	struct gw_qlist list;
};

struct gw_obs;
struct lwm2m_metric;

/* State of gw_devop.c and gw_observe.c, owned by gw_ctx. */
struct gw_devops {
	struct gw_ctx *gw;
	int timeout_ms, awake_ms, queue_max, max_ops;
	size_t n_ops;                /* operations alive (queued or sent) */
	struct gw_qlist inflight;    /* sent, waiting for the device */
	coap_address_t local;        /* the CoAP listen address */
	struct gw_qlist idle;        /* devices with an unused client session */
	size_t n_client, client_max; /* client sessions open, limit */
	struct gw_device *dirty;     /* devices with metrics to flush */
	struct gw_device *flushing;  /* taken from dirty, being written */
	struct event *metrics_ev;    /* timer: writes their counters */
	struct event *flush_ev;      /* releases idle sessions past the limit */
	struct gw_obs **obs;         /* observations by token, hashed */
	size_t obs_buckets, n_obs;
	long long events_maxlen;
	bool events_at_cap; /* the last XLEN found the stream at its cap */
	struct lwm2m_metric *m_events_len, *m_events_cap;
	/* Prometheus counters: operations by final status, notifications */
	struct lwm2m_metric *m_status[LWM2M_DEVOP_ST_MAX], *m_notify;
};

/* gw_devop_start takes its limits from gw->cfg and hooks the libcoap
 * response and NACK handlers; after gw_coap_start. */
lwm2m_err gw_devop_start(struct gw_ctx *gw);

/* gw_devop_handlers installs the response and NACK handlers of device
 * operations on ctx (gw->coap at gw_devop_start; DTLS shard contexts). */
void gw_devop_handlers(coap_context_t *ctx);

/* gw_devop_stop fails every operation ("gateway shutting down"), empties
 * the device table (releasing the sessions) and frees the state; before
 * the Redis connection and the libcoap context go.  NULL-safe state. */
void gw_devop_stop(struct gw_ctx *gw);

/* gw_devop_handle runs one LWM2M_ENV_RPC_DEVICE request; it always answers
 * req, now or when the device answered, timed out or the caller's wait for
 * a sleeping device ended. */
void gw_devop_handle(struct gw_ctx *gw, struct lwm2m_rpc_req *req,
                     const struct lwm2m_env *env);

/* gw_devop_attach notes that dev talked on session (referenced while the
 * device is in the table) with registration rec (alternate path, version,
 * formats); registered (a Register) also drops its observations, gone on
 * the device.  Sends what is queued for a queue-mode device. */
void gw_devop_attach(struct gw_ctx *gw, struct gw_device *dev,
                     coap_session_t *session, const struct gw_record *rec,
                     bool registered);

/* gw_devop_release_sessions closes the least recently used idle client
 * sessions past LWDS_DEVICE_SESSIONS_MAX; from the flush event, outside
 * libcoap's handlers. */
void gw_devop_release_sessions(struct gw_devops *ds);

/* gw_devop_wake starts a queue-mode device's awake window and sends its
 * queued requests. */
void gw_devop_wake(struct gw_ctx *gw, struct gw_device *dev);

/* gw_devop_response / gw_devop_nack: libcoap's response and NACK handlers
 * (a response to an operation, else a notification). */
coap_response_t gw_devop_response(struct gw_ctx *gw, coap_session_t *session,
                                  const coap_pdu_t *received);
void gw_devop_nack(struct gw_ctx *gw, const coap_pdu_t *sent,
                   coap_nack_reason_t reason);

/* gw_devop_method maps an operation to its CoAP method. */
coap_pdu_code_t gw_devop_method(enum lwm2m_devop_op op);

/* gw_devop_segments writes the Uri-Path segments of path under the
 * alternate path root (NULL or "" for "/") into segs (at most max; ids are
 * printed into buf) and returns how many; 0 when buf is too small. */
size_t gw_devop_segments(const char *root, const struct lwm2m_path *path,
                         char *buf, size_t size, struct gw_str *segs,
                         size_t max);

/* gw_devop_composite_body writes the Read-Composite request body naming
 * paths[0..n) (n <= LWM2M_DEVOP_MAX_PATHS) in SenML CBOR or SenML JSON to a
 * malloc()ed buffer; LWM2M_EINVAL for another format. */
lwm2m_err gw_devop_composite_body(enum lwm2m_format fmt,
                                  const struct lwm2m_path *paths, size_t n,
                                  uint8_t **ret_buf, size_t *ret_len);

/* ---- gw_observe.c: observations, the events stream, metrics ------------- */

/* gw_obs_start allocates the observation table and the flush event (called
 * by gw_devop_start; reads LWDS_EVENTS_MAXLEN and
 * LWDS_GW_NOTIFY_BACKLOG_BYTES); gw_obs_stop frees them. */
lwm2m_err gw_obs_start(struct gw_ctx *gw);
void gw_obs_stop(struct gw_ctx *gw);

/* gw_obs_add records an established observation of dev (token of
 * LWM2M_DEVOP_MAX_TOKEN bytes) in memory and in LWM2M_KEY_CLIENT_OBS. */
void gw_obs_add(struct gw_ctx *gw, struct gw_device *dev, const uint8_t *token,
                const struct lwm2m_path *path, uint16_t ct, uint32_t seq);

/* gw_obs_forget drops the observation with token (memory and Redis). */
void gw_obs_forget(struct gw_ctx *gw, const uint8_t *token);

/* gw_obs_cancel handles a passive CANCEL_OBSERVE (forget; the next
 * notification gets RST) and returns true; false for an active one, which
 * goes to the device. */
bool gw_obs_cancel(struct gw_ctx *gw, struct gw_device *dev,
                   const struct lwm2m_devop_req *req);

/* gw_obs_restore records an observation of dev read back from
 * LWM2M_KEY_CLIENT_OBS after a restart (token as 16 hex digits, text
 * "<path> <ct>"): in memory only, with no notification seen yet.  false
 * for a malformed or duplicate entry. */
bool gw_obs_restore(struct gw_ctx *gw, struct gw_device *dev, const char *hex,
                    const char *text);

/* gw_obs_drop_device forgets every observation of dev. */
void gw_obs_drop_device(struct gw_ctx *gw, struct gw_device *dev);

/* gw_obs_notify handles a response that matches no operation: a
 * notification of a known observation is published (nng and the events
 * stream) and ACKed; anything else gets RST (COAP_RESPONSE_FAIL). */
coap_response_t gw_obs_notify(struct gw_ctx *gw, coap_session_t *session,
                              const coap_pdu_t *received);

/* gw_obs_fresh applies RFC 7641 3.4: is a notification with Observe value
 * seq received at now_ms newer than the last one (last_seq at last_ms)? */
bool gw_obs_fresh(uint32_t last_seq, int64_t last_ms, uint32_t seq,
                  int64_t now_ms);

/* gw_events_flush sends the entries of gw->events_backlog again, oldest
 * first, while Redis is connected (on every connect and from the alive
 * timer). */
void gw_events_flush(struct gw_ctx *gw);

/* gw_events_backlog_free frees what is still in the backlog, logging how
 * many entries were never written; after lwm2m_redis_free. */
void gw_events_backlog_free(struct gw_ctx *gw);

/* gw_events_check reads the length of LWM2M_KEY_EVENTS (gauge
 * lwds_gw_events_length); reaching events_maxlen, where XADD starts
 * trimming entries whether consumed or not, is logged once and counted
 * (lwds_gw_events_cap_reached_total).  Called by the alive timer. */
void gw_events_check(struct gw_ctx *gw);

/* gw_events_add appends a connectivity event (LWM2M_ENV_EV_*) to
 * LWM2M_KEY_EVENTS, through the backlog while Redis cannot take it (like a
 * notification); its ts is now. */
void gw_events_add(struct gw_ctx *gw, uint16_t kind, const char *id,
                   const char *ep, long long org);

/* gw_devop_count_tx counts a request sent to dev (the whole encoded PDU;
 * body_len: a block-wise body not in the PDU yet) as BytesSent;
 * gw_devop_count_rx the payload of its answer as BytesReceived and, with
 * transaction, one TransactionCount (spec 8).  Flushed to Redis once per
 * loop iteration. */
void gw_devop_count_tx(struct gw_devops *ds, struct gw_device *dev,
                       const coap_pdu_t *pdu, size_t body_len);
void gw_devop_count_rx(struct gw_devops *ds, struct gw_device *dev,
                       const coap_pdu_t *pdu, bool transaction);

/* gw_pdu_size returns the encoded size of pdu: 4-byte header, token,
 * options, payload marker and payload (body_len instead when larger: a
 * block-wise body not all in the PDU). */
size_t gw_pdu_size(const coap_pdu_t *pdu, size_t body_len);

/* gw_devop_flush_device writes dev's pending counters now (it is leaving
 * the table). */
void gw_devop_flush_device(struct gw_ctx *gw, struct gw_device *dev);

#endif
