/* gw.h - lwds-coap-gw: the LwM2M registration interface over CoAP.
 *
 * One struct gw_ctx owns the libevent base's sources of the process: the
 * libcoap context, the Redis connection, the nng rpc server and events
 * publisher, the timers, and the in-memory table of the devices this
 * gateway instance owns.  Only the loop thread touches it.
 *
 * Files: gw_reg.c (pure parsing and decisions, testable without sockets),
 * gw_table.c (device table), gw_registry.c (Redis flows), gw_coap.c (libcoap
 * glue), gw_ctx.c (configuration, lifecycle, timers, events, rpc).
 */
#ifndef GW_H
#define GW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <coap3/coap.h>
#include <event2/event.h>
#include <nng/nng.h>

#include "lwm2m_err.h"
#include "lwm2m_event.h"
#include "lwm2m_id.h"

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

struct gw_device {
	struct gw_device *next; /* hash chain */
	char id[LWM2M_ID_SIZE];
	uint8_t state;
	bool queue;
	uint32_t lt;
	long long org;
	int64_t exp_ms;
	coap_address_t addr;
	char ep[]; /* NUL-terminated */
};

struct gw_table {
	struct gw_device **buckets;
	size_t n_buckets, count;
	size_t prune_pos; /* next bucket gw_table_prune looks at */
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
	int log_level;
	bool log_json;
	int sweep_ms; /* expiry sweep period */
	int alive_ms; /* alive key refresh period; TTL is 3 times it */
};

struct gw_exchange;

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
	struct event *alive_timer, *sweep_timer;
	struct gw_table table;
	struct gw_exchange *exchanges; /* CoAP requests waiting on Redis */
	struct gw_dtls *dtls;          /* NULL when DTLS is off */
	struct lwm2m_metrics_http *metrics_http; /* LWDS_GW_HEALTH_ADDR */
	int64_t started_ms;
	uint64_t sweep_runs;
};

/* gw_config_init fills cfg from LWDS_* environment variables and defaults,
 * then argv flags (--redis-url, --coap-listen, --no-coap, --org, --gw-id,
 * --rpc-url, --events-url, --log-level, --log-json).  LWM2M_EINVAL with a
 * message on stderr for a bad value; *ret_help set for --help (usage is
 * printed). */
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

/* ---- gw_coap.c ------------------------------------------------------------
 */

/* gw_coap_start opens the CoAP endpoint of cfg.coap_listen on gw->base. */
lwm2m_err gw_coap_start(struct gw_ctx *gw);

/* gw_coap_stop frees the libcoap context and pending exchanges; NULL-safe. */
void gw_coap_stop(struct gw_ctx *gw);

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
 * identities from Redis (cached, polled every LWDS_DTLS_PSK_POLL_MS).
 * Loop thread; called by gw_coap_start. */
lwm2m_err gw_dtls_start(struct gw_ctx *gw);

/* gw_dtls_stop frees the DTLS state after the libcoap context; NULL-safe. */
void gw_dtls_stop(struct gw_ctx *gw);

/* gw_dtls_bind fills req->cred from the session's credential (nothing over
 * plain CoAP) and checks it: a Register must use the credential's endpoint,
 * an Update/De-register its client id.  false after writing a 4.03 into
 * response. */
bool gw_dtls_bind(struct gw_ctx *gw, coap_session_t *session,
                  struct gw_request *req, coap_pdu_t *response);

/* ---- gw_registry.c: Redis flows ---------------------------------------- */

/* The credential of a DTLS session (gw_dtls.c); present is false over
 * plain CoAP.  A PSK identity is the client id itself. */
struct gw_cred {
	bool present;
	long long org;
	char id[LWM2M_ID_SIZE];   /* client id the credential names */
	char ep[GW_EP_MAX + 1];   /* the only endpoint it may register */
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
 * from this gateway's table and the connected/expiry indexes and emits
 * LWM2M_ENV_EV_REMOVED.  LWM2M_ENOTFOUND when this gateway does not own it. */
lwm2m_err gw_registry_evict(struct gw_ctx *gw, const char *id);

/* gw_registry_announce writes the gateway hash and alive key. */
void gw_registry_announce(struct gw_ctx *gw);

#endif
