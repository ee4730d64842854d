/* lwm2m_rpc.h - request/reply between lwds processes.
 *
 * Many requests can be in flight and replies may come in any order.  The
 * server's handler gets each decoded request envelope and a reply handle; it
 * answers now or later, exactly once, with lwm2m_rpc_reply(),
 * lwm2m_rpc_reply_error() or lwm2m_rpc_req_drop().
 *
 * tcp://host:port and ipc:///path use lwds's own stream transport, run
 * entirely on the libevent loop (no threads): each envelope travels as a
 * u32 length (network order, at most 16 MiB, else the connection is closed)
 * followed by its bytes; replies are matched to calls by corr_id.  A client
 * connects to a target on first use, reconnects with a back-off (50 ms to
 * 2 s) while calls wait to be sent, and fails the calls out on a connection
 * at once (LWM2M_ECLOSED) when it breaks.  Host names are resolved with
 * evdns (the client) or at start-up (the server).  Both ends must be lwds:
 * this is not nng's wire protocol.
 *
 * inproc:// (and any other nng URL) uses nng: a raw rep0 socket polled
 * through NNG_OPT_RECVFD, and one req0 socket per target with a context and
 * aio per call, whose completions reach the loop through a pipe.
 *
 * Payload of LWM2M_ENV_RPC_PING: empty both ways.  LWM2M_ENV_RPC_EVICT:
 * the 22-char client id; empty reply, or an error reply.  Error replies carry
 * LWM2M_ENV_F_ERROR and the payload "<lwm2m_err number>:<text>".
 *
 * Only the loop thread may call these functions.
 */
#ifndef LWM2M_RPC_H
#define LWM2M_RPC_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "lwm2m_env.h"
#include "lwm2m_err.h"

struct lwm2m_rpc_server;
struct lwm2m_rpc_req;
struct lwm2m_rpc_client;

/* A request arrived.  env (and its payload) is valid until the handle is
 * answered or dropped. */
typedef void (*lwm2m_rpc_handler)(struct lwm2m_rpc_req *req,
                                  const struct lwm2m_env *env, void *arg);

/* Completion of a call.  err is LWM2M_OK and reply the answer; or err is the
 * error of an F_ERROR reply (reply set), LWM2M_ETIMEDOUT, LWM2M_ECLOSED (the
 * client is being freed) or another transport error (reply NULL).  reply is
 * valid only during the call. */
typedef void (*lwm2m_rpc_cb)(lwm2m_err err, const struct lwm2m_env *reply,
                             void *arg);

/* lwm2m_rpc_server_new listens on url (tcp://, ipc://, inproc://) and calls
 * handler(req, env, arg) on base's loop for each request.  Malformed
 * envelopes are dropped. */
lwm2m_err lwm2m_rpc_server_new(struct event_base *base, const char *url,
                               lwm2m_rpc_handler handler, void *arg,
                               struct lwm2m_rpc_server **ret_srv);

/* lwm2m_rpc_server_free closes the socket.  Handles still unanswered stay
 * valid: answering them later just frees them.  NULL-safe; returns NULL. */
struct lwm2m_rpc_server *lwm2m_rpc_server_free(struct lwm2m_rpc_server *srv);

/* lwm2m_rpc_reply answers req with the same kind and corr_id, flags |
 * LWM2M_ENV_F_REPLY and a copy of payload; always consumes req. */
lwm2m_err lwm2m_rpc_reply(struct lwm2m_rpc_req *req, uint32_t flags,
                          const void *payload, size_t len);

/* lwm2m_rpc_reply_error answers req with LWM2M_ENV_F_ERROR and the payload
 * "<err>:<text>"; always consumes req. */
lwm2m_err lwm2m_rpc_reply_error(struct lwm2m_rpc_req *req, lwm2m_err err,
                                const char *text);

/* lwm2m_rpc_req_drop frees req without answering (the caller times out). */
void lwm2m_rpc_req_drop(struct lwm2m_rpc_req *req);

/* lwm2m_rpc_client_new creates a client whose callbacks run on base. */
lwm2m_err lwm2m_rpc_client_new(struct event_base *base,
                               struct lwm2m_rpc_client **ret_client);

/* lwm2m_rpc_client_free aborts every call in flight (their callbacks run
 * with LWM2M_ECLOSED before it returns) and closes the sockets.  NULL-safe;
 * returns NULL. */
struct lwm2m_rpc_client *lwm2m_rpc_client_free(struct lwm2m_rpc_client *c);

/* lwm2m_rpc_call sends a request of kind with a copy of payload to url and
 * calls cb(err, reply, arg) on the loop exactly once, at the latest about
 * timeout_ms after the request went out (the send itself has the same
 * timeout).  On a non-OK return cb is not called. */
lwm2m_err lwm2m_rpc_call(struct lwm2m_rpc_client *c, const char *url,
                         uint16_t kind, const void *payload, size_t len,
                         int timeout_ms, lwm2m_rpc_cb cb, void *arg);

/* lwm2m_rpc_call_rid is lwm2m_rpc_call carrying rid (NUL-terminated, at
 * most LWM2M_ENV_RID_MAX bytes, else dropped; NULL: none) in the envelope
 * (LWM2M_ENV_F_RID) so the server can log the caller's request id. */
lwm2m_err lwm2m_rpc_call_rid(struct lwm2m_rpc_client *c, const char *url,
                             uint16_t kind, const char *rid,
                             const void *payload, size_t len, int timeout_ms,
                             lwm2m_rpc_cb cb, void *arg);

/* lwm2m_rpc_error_parse reads the "<err>:<text>" payload of an error reply
 * into *ret_err (LWM2M_EPROTO when unreadable). */
void lwm2m_rpc_error_parse(const struct lwm2m_env *reply, lwm2m_err *ret_err);

#endif
