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

struct sim_udp_pend;
struct sim_udp_blk1;

struct sim_client {
	struct sim_ctx *ctx;
	struct sim_coap *cc; /* NULL with --shared-sockets */
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
	/* --shared-sockets only (sim_udp.c) */
	uint16_t mid;              /* last message id sent */
	struct sim_udp_pend *pend; /* CON messages awaiting an ACK */
	struct sim_udp_blk1 *blk1; /* Block1 request body being received */
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
	/* --shared-sockets: datagrams dropped (malformed, not from the
	 * server or for no client, for a muted client), sent again
	 * (retransmissions, answers to duplicates), CON messages given up */
	uint64_t udp_malformed, udp_foreign, udp_muted;
	uint64_t udp_retransmits, udp_duplicates, udp_timeouts;
	uint64_t udp_send_errors;
};

struct sim_ctx {
	struct sim_opts opts;
	struct event_base *base;
	struct sim_coap *coaps;
	unsigned n_coaps;
	struct sim_udp *udp; /* --shared-sockets: the shared transport */
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

/* sim_dm_request serves one device-management request req of client c
 * (query: its Uri-Query options joined by '&', may be NULL) and writes
 * the answer into resp (type, message id and token already set).  r and
 * s are the libcoap resource and session, or NULL for the shared-socket
 * transport, which then gets large bodies as Block2 slices. */
void sim_dm_request(struct sim_client *c, coap_resource_t *r, coap_session_t *s,
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

/* sim_client_new_pdu returns a new PDU of c (type, code, a fresh message
 * id) for sim_client_send, or NULL. */
coap_pdu_t *sim_client_new_pdu(struct sim_client *c, coap_pdu_type_t type,
                               coap_pdu_code_t code);

/* sim_client_send sends pdu from c over its transport; always consumes
 * pdu.  CON messages are retransmitted until acknowledged. */
bool sim_client_send(struct sim_client *c, coap_pdu_t *pdu);

/* sim_client_online is true when c has a transport to send on. */
bool sim_client_online(const struct sim_client *c);

/* sim_client_response handles an answer to a request of c (Register,
 * Update, De-register; others are ignored by their token). */
void sim_client_response(struct sim_client *c, const coap_pdu_t *pdu);

/* sim_client_nack handles a CON message of c (token tok) that got an RST
 * (rst) or no answer. */
void sim_client_nack(struct sim_client *c, const uint8_t *tok, size_t tkl,
                     bool rst);

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
 * the kernel drop what the server sends, silently (no ICMP); on the shared
 * sockets sim_udp.c drops it. */
lwm2m_err sim_client_mute(struct sim_client *c, bool on);

/* sim_ctx_stop de-registers everybody and ends the loop (bounded wait). */
void sim_ctx_stop(struct sim_ctx *ctx);

/* sim_client_reregister drops the registration state and registers. */
void sim_client_reregister(struct sim_client *c);

/* sim_stats_count_path adds one to the counter of path in table. */
void sim_stats_count_path(struct sim_path_count *table, const char *path);

/* sim_stats_json writes the stats of ctx as one JSON object into buf. */
size_t sim_stats_json(const struct sim_ctx *ctx, char *buf, size_t size);

/* sim_opt_uint returns the value of the first option num of pdu as an
 * unsigned integer (0 when absent); *present says whether it is there. */
unsigned sim_opt_uint(const coap_pdu_t *pdu, coap_option_num_t num,
                      bool *present);

/* ---- wire format (sim_wire.c) ------------------------------------------ */

#define SIM_WIRE_PDU_MAX 1152 /* datagrams sent (libcoap's default MTU) */
#define SIM_WIRE_RX_MAX 2048  /* longer datagrams are dropped */
#define SIM_WIRE_SZX 6        /* Block2 slices of 1024 bytes at most */
#define SIM_WIRE_BLOCK 1024   /* larger bodies go block-wise */

/* sim_wire_parse parses one datagram into a new PDU (coap_delete_pdu it),
 * or returns NULL when it is not a valid CoAP message. */
coap_pdu_t *sim_wire_parse(const uint8_t *data, size_t len);

/* sim_wire_encode writes pdu as a datagram into buf: header, token, the
 * options, 0xFF and the payload.  ELIMIT when size is too small. */
lwm2m_err sim_wire_encode(const coap_pdu_t *pdu, uint8_t *buf, size_t size,
                          size_t *ret_len);

/* sim_wire_add_body adds Content-Format fmt and body to resp, the answer to
 * req: whole when it fits in one block and req asks for no Block2, else the
 * block req asks for (default block 0) with Block2 and Size2.  Returns 0,
 * or the code to answer instead (4.02 for a block past the end). */
coap_pdu_code_t sim_wire_add_body(const coap_pdu_t *req, coap_pdu_t *resp,
                                  uint16_t fmt, const uint8_t *body,
                                  size_t len);

/* sim_wire_add_block1 adds a Block1 option (num, more, szx) to resp. */
bool sim_wire_add_block1(coap_pdu_t *resp, unsigned num, bool more,
                         unsigned szx);

/* ---- shared-socket transport (sim_udp.c) -------------------------------- */

struct sim_udp;

/* sim_udp_new opens the shared sockets of ctx (count clients over the
 * --local-addrs of its options) on its loop.  sim_udp_free is NULL-safe and
 * frees what the clients hold of it (pending messages, Block1 bodies). */
lwm2m_err sim_udp_new(struct sim_ctx *ctx, struct sim_udp **ret_udp);
void sim_udp_free(struct sim_udp *u);

/* sim_udp_sockets returns how many sockets count clients on n_addrs
 * addresses need (one per port); 0 when n_addrs is 0. */
unsigned sim_udp_sockets(unsigned count, uint64_t n_addrs);

/* sim_udp_new_pdu returns a PDU of c with the next message id of c. */
coap_pdu_t *sim_udp_new_pdu(struct sim_client *c, coap_pdu_type_t type,
                            coap_pdu_code_t code);

/* sim_udp_new_token writes a fresh 8-byte token into tok. */
void sim_udp_new_token(struct sim_client *c, uint8_t *tok, size_t *ret_len);

/* sim_udp_send encodes pdu (consumed) and sends it from c's address and
 * port; a CON message is kept and retransmitted per RFC 7252 until ACK,
 * RST or MAX_RETRANSMIT, which sim_client_nack hears of. */
bool sim_udp_send(struct sim_client *c, coap_pdu_t *pdu);

/* sim_udp_local returns the local address (host order) and port of c. */
void sim_udp_local(const struct sim_client *c, uint32_t *ret_addr,
                   uint16_t *ret_port);

#endif
