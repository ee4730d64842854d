/* lwm2m_env.h - the envelope of every nng message between lwds processes.
 *
 * Only this module reads or writes nng_msg bytes.  Body, network byte order:
 *   u16 version | u16 kind | u32 flags | u64 corr_id | payload
 * The payload's encoding is fixed per kind (see the kind list); events carry
 * a small JSON object.
 */
#ifndef LWM2M_ENV_H
#define LWM2M_ENV_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "lwm2m_err.h"

#define LWM2M_ENV_VERSION 1
#define LWM2M_ENV_HEADER_LEN 16

enum lwm2m_env_kind {
	/* coap-gw -> pub: connectivity events, payload JSON
	 * {"id","ep","org","gw","ts"} (ts: ms since 1970) */
	LWM2M_ENV_EV_REGISTERED = 1,
	LWM2M_ENV_EV_UPDATED = 2,
	LWM2M_ENV_EV_DEREGISTERED = 3,
	LWM2M_ENV_EV_EXPIRED = 4,
	LWM2M_ENV_EV_REMOVED = 5, /* DELETE /clients/{id}: dropped by the API */
	/* coap-gw -> pub: a notification of an observation; binary payload
	 * struct lwm2m_devop_notify (lwm2m_devop.h) */
	LWM2M_ENV_EV_NOTIFY = 6,

	/* req/rep requests to a coap-gw; 64 and up.  The reply carries the
	 * same kind with LWM2M_ENV_F_REPLY set and the same corr_id. */
	LWM2M_ENV_RPC_EVICT = 64, /* payload: client id; drop the session */
	LWM2M_ENV_RPC_PING = 65,  /* health check; empty payload */
	LWM2M_ENV_RPC_DEVICE = 66, /* a device operation, see lwm2m_rpc.h */
};

#define LWM2M_ENV_F_REPLY 0x1u
#define LWM2M_ENV_F_ERROR 0x2u /* reply payload is "<lwm2m_err>:<text>" */
/* The body carries a request id (REST X-Request-Id) for the logs: a u8
 * length (1..LWM2M_ENV_RID_MAX) and that many bytes before the payload.
 * lwm2m_env_encode sets it when rid_len > 0; lwm2m_env_decode strips it
 * into rid/rid_len, so payload is unchanged for everybody else. */
#define LWM2M_ENV_F_RID 0x4u
#define LWM2M_ENV_RID_MAX 64

struct lwm2m_env {
	uint16_t kind;
	uint32_t flags;
	uint64_t corr_id;
	const uint8_t *payload; /* borrowed: valid while the nng_msg lives */
	size_t payload_len;
	const char *rid;        /* request id, not NUL-terminated; borrowed */
	size_t rid_len;         /* 0: none */
};

/* The largest header lwm2m_env_header_encode writes. */
#define LWM2M_ENV_HEADER_MAX (LWM2M_ENV_HEADER_LEN + 1 + LWM2M_ENV_RID_MAX)

/* lwm2m_env_header_encode writes the body's bytes before the payload (the
 * header and, with rid_len > 0, the request id) into buf, which holds at
 * least LWM2M_ENV_HEADER_MAX bytes; *ret_len gets their number.  For byte
 * streams that carry envelopes without an nng_msg (lwm2m_rpc). */
lwm2m_err lwm2m_env_header_encode(const struct lwm2m_env *env, uint8_t *buf,
                                  size_t *ret_len);

/* lwm2m_env_decode_buf is lwm2m_env_decode on len bytes at body, which
 * env's pointers then borrow. */
lwm2m_err lwm2m_env_decode_buf(const uint8_t *body, size_t len,
                               struct lwm2m_env *ret_env);

/* lwm2m_env_encode builds a new message from env (payload copied). */
lwm2m_err lwm2m_env_encode(const struct lwm2m_env *env, nng_msg **ret_msg);

/* lwm2m_env_decode reads msg's body; rejects short bodies and unknown
 * versions with LWM2M_EPROTO.  ret_env->payload borrows from msg. */
lwm2m_err lwm2m_env_decode(nng_msg *msg, struct lwm2m_env *ret_env);

/* lwm2m_env_send sends msg without blocking; always consumes msg, unlike
 * nng_sendmsg.  LWM2M_ELIMIT when the socket's queue is full. */
lwm2m_err lwm2m_env_send(nng_socket sock, nng_msg *msg);

/* lwm2m_env_nng_err converts an nng error code. */
lwm2m_err lwm2m_env_nng_err(int rv);

#endif
