/* sim_int.h - state shared by sim_client.c, sim_dm.c and sim_stats.c. */
#ifndef SIM_INT_H
#define SIM_INT_H

#include <coap3/coap.h>
#include <event2/event.h>

#include "lwm2m_loop.h"
#include "sim.h"

enum sim_state {
	SIM_ST_IDLE = 0, /* not started yet */
	SIM_ST_REGISTERING,
	SIM_ST_REGISTERED,
	SIM_ST_UPDATING,
	SIM_ST_DEREGISTERING,
	SIM_ST_WAITING, /* registration failed: retry timer running */
	SIM_ST_DONE,    /* de-registered, stays silent */
};

/* Notification attributes written by Write-Attributes on one path. */
enum sim_attr_bit {
	SIM_A_PMIN = 1,
	SIM_A_PMAX = 2,
	SIM_A_GT = 4,
	SIM_A_LT = 8,
	SIM_A_ST = 16,
};

struct sim_attr {
	struct sim_attr *next;
	struct lwm2m_path path;
	unsigned set; /* SIM_A_* */
	double pmin, pmax, gt, lt, st;
};

struct sim_obs {
	struct sim_obs *next;
	struct lwm2m_path path;
	uint8_t token[8];
	uint8_t tkl;
	uint16_t fmt;
	uint32_t seq;
	int64_t last_ms;    /* last notification (or the initial answer) */
	uint64_t last_hash; /* of the last payload sent */
	double last_num;    /* numeric resources: the value last sent */
	bool has_num;
};

/* One libcoap context.  libcoap refuses two sessions with the same local
 * port towards the same server within a context, even on different local
 * addresses, so large runs spread clients over several contexts. */
struct sim_coap {
	struct sim_ctx *ctx;
	coap_context_t *coap;
	struct event *ev;
};

struct sim_client {
	struct sim_ctx *ctx;
	struct sim_coap *cc;
	unsigned idx;
	char ep[SIM_EP_MAX];
	coap_session_t *session;
	int fd; /* the session's socket, -1 when unknown */
	struct sim_model *model;
	enum sim_state state;
	char location[64]; /* "rd/<id>" from Location-Path */
	uint8_t token[8];  /* of the registration request in flight */
	size_t tkl;
	struct event *timer; /* update, retry */
	unsigned retries;
	bool muted, sleeping, links_dirty, ever_registered, inflight;
	bool auto_sleep;   /* asleep because of --awake */
	uint8_t fail_code; /* `fail` command: answer every request so */
	struct sim_obs *obs;
	struct sim_attr *attrs;
	struct sim_client *next_observed; /* on ctx->observed when obs */
	bool on_observed;
	uint32_t seed;
	int64_t last_tick_ms;
	int64_t reg_sent_ms;
};

#define SIM_STATS_PATHS 1024

struct sim_path_count {
	char path[32];
	uint64_t n;
};

enum sim_op_kind {
	SIM_K_READ = 0,
	SIM_K_DISCOVER,
	SIM_K_WRITE,
	SIM_K_WRITE_ATTR,
	SIM_K_EXECUTE,
	SIM_K_CREATE,
	SIM_K_DELETE,
	SIM_K_OBSERVE,
	SIM_K_CANCEL,
	SIM_K_READ_COMPOSITE,
	SIM_K_WRITE_COMPOSITE,
	SIM_K_OTHER,
	SIM_K_MAX,
};

struct sim_stats {
	uint64_t registrations, reg_failures, updates, update_failures;
	uint64_t reregistrations, deregistrations, notifications;
	uint64_t requests, ops[SIM_K_MAX];
	struct sim_path_count paths[SIM_STATS_PATHS];
	struct sim_path_count obs_paths[SIM_STATS_PATHS];
	uint64_t reg_lat_sum_ms, reg_lat_max_ms;
};

struct sim_ctx {
	struct sim_opts opts;
	struct event_base *base;
	struct sim_coap *coaps;
	unsigned n_coaps;
	coap_address_t server;
	coap_proto_t proto;
	struct event *coap_ev, *coap_timer, *start_timer, *tick, *stop_timer;
	struct lwm2m_signals *signals;
	struct sim_ctl *ctl;
	struct sim_client *clients;
	unsigned n_clients, n_started, n_first_registered, n_done;
	unsigned n_inflight; /* first registrations awaiting an answer */
	unsigned stop_next, n_stop_inflight; /* de-registration on exit */
	struct sim_client *observed;
	bool ready, stopping;
	int64_t start_ms;
	struct sim_stats stats;
	lwm2m_err fatal;
};

/* sim_dm_handler is the libcoap handler for every device-management
 * request (all methods, any path). */
void sim_dm_handler(coap_resource_t *r, coap_session_t *s,
                    const coap_pdu_t *req, const coap_string_t *query,
                    coap_pdu_t *resp);

/* sim_dm_check_obs evaluates the observations of c and sends what is due. */
void sim_dm_check_obs(struct sim_client *c);

/* sim_dm_drop_obs forgets the observations (all when path is NULL, else
 * those at or under path) and attributes (all only) of c. */
void sim_dm_drop_obs(struct sim_client *c, const struct lwm2m_path *path);

/* sim_dm_drop_obs_token forgets the observation with this token (the
 * server answered a notification with RST). */
void sim_dm_drop_obs_token(struct sim_client *c, const uint8_t *token,
                           size_t len);

/* sim_dm_tick is the periodic sensor step over observed clients. */
void sim_dm_tick(struct sim_ctx *ctx);

/* sim_client_update sends a registration Update now (re-registers when
 * not registered). */
void sim_client_update(struct sim_client *c);

/* sim_client_soon acts on an Execute or an object list change after the
 * answer went out: UPDATE sends an Update (with links when links_dirty),
 * REBOOT re-registers a second later. */
void sim_client_soon(struct sim_client *c, enum sim_exec_effect effect);

/* sim_client_deregister sends a De-register; the client stays silent. */
void sim_client_deregister(struct sim_client *c);

/* sim_client_mute stops (on) or resumes answering: a socket filter makes
 * the kernel drop what the server sends, silently (no ICMP). */
lwm2m_err sim_client_mute(struct sim_client *c, bool on);

/* sim_ctx_stop de-registers everybody and ends the loop (bounded wait). */
void sim_ctx_stop(struct sim_ctx *ctx);

/* sim_client_reregister drops the registration state and registers. */
void sim_client_reregister(struct sim_client *c);

/* sim_stats_count_path adds one to the counter of path in table. */
void sim_stats_count_path(struct sim_path_count *table, const char *path);

/* sim_stats_json writes the stats of ctx as one JSON object into buf. */
size_t sim_stats_json(const struct sim_ctx *ctx, char *buf, size_t size);

#endif
