/* lwm2m_devop.h - payload of LWM2M_ENV_RPC_DEVICE: one device operation.
 *
 * The REST API (or the broker) sends a request to the coap-gw instance that
 * owns the client (LWM2M_CF_GATEWAY -> LWM2M_KEY_GATEWAY "rpc"); the gateway
 * sends the CoAP request to the device and answers with a reply.  Both are
 * binary, network byte order, every length bounded by the limits below.
 *
 * Request, version 1:
 *   u8  version (1)         u8  op (enum lwm2m_devop_op)
 *   u16 flags (LWM2M_DEVOP_F_*)
 *   22  client id           22  operation id (queued results; may be zeros)
 *   u16 content format of the payload (meaningful with F_CT)
 *   u16 accept (meaningful with F_ACCEPT; otherwise the gateway chooses
 *       from the registration with lwm2m_format.h and falls back on
 *       4.06/4.15)
 *   u32 wait_ms: how long the caller waits for a sleeping (queue-mode)
 *       device; past it the gateway replies LWM2M_DEVOP_ST_QUEUED and later
 *       stores the result under the operation id (LWM2M_KEY_OP), or, with
 *       F_NO_QUEUE, drops the request and replies LWM2M_DEVOP_ST_TIMEOUT.
 *   u8  token length (0..8) 8 token bytes (CANCEL_OBSERVE: the observation)
 *   u16 n_paths (0..LWM2M_DEVOP_MAX_PATHS), each: u8 len (0..4), u16 ids[len]
 *   u16 query length (0..LWM2M_DEVOP_MAX_QUERY) + bytes: Write-Attributes
 *       "pmin=10&pmax=60&gt=20.5&st=0.1" (names pmin pmax gt lt st epmin
 *       epmax; values exact decimal text; a bare name clears it)
 *   u32 payload length (0..LWM2M_DEVOP_MAX_PAYLOAD) + bytes.  Writes from
 *       the API come as SenML CBOR (112) with typed values; the gateway
 *       transcodes to a format the device takes.  Execute: the arguments
 *       as text, no F_CT needed.
 * Paths per operation: READ, OBSERVE, CANCEL_OBSERVE and WRITE_ATTRIBUTES
 * one path of length 1..4; DISCOVER 1..3; WRITE_REPLACE and WRITE_UPDATE
 * 2..4; EXECUTE 3; CREATE 1; DELETE 2; READ_COMPOSITE 1..MAX paths of
 * length 0..4; WRITE_COMPOSITE 0..MAX paths (the payload names them).
 * Writes, CREATE and WRITE_COMPOSITE need F_CT and a payload.
 *
 * Reply, version 1:
 *   u8  version (1)         u8  status (enum lwm2m_devop_status)
 *   u8  CoAP response code (class << 5 | detail; 0 unless status is OK)
 *   u8  flags (LWM2M_DEVOP_RF_CT: the payload has a content format)
 *   u16 content format      u32 observe sequence (OBSERVE, first answer)
 *   u8  token length (0..8) 8 token bytes (OBSERVE: the observation token)
 *   u16 location length (0..LWM2M_DEVOP_MAX_LOCATION) + Location-Path as
 *       "/3303/1" (CREATE)
 *   u16 message length (0..LWM2M_DEVOP_MAX_MESSAGE) + a short diagnostic
 *       text for non-OK statuses (e.g. "device timeout after 93000 ms")
 *   u32 payload length (0..LWM2M_DEVOP_MAX_PAYLOAD) + bytes, as the device
 *       sent them (the caller decodes with lwm2m_decode).
 *
 * Decoders accept only what the encoders produce: unknown version, op,
 * status or flag bits, a length past its limit or past the buffer, trailing
 * bytes, an invalid client id, or paths that do not fit the operation are
 * LWM2M_EPROTO.  Decoded structs borrow from the input buffer.  Pure
 * functions: any thread.
 */
#ifndef LWM2M_DEVOP_H
#define LWM2M_DEVOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_cli.h"
#include "lwm2m_err.h"
#include "lwm2m_id.h"
#include "lwm2m_value.h"

/* a device's answer: the gateway's time-out, which rest-api adds to its
 * own wait for the gateway (MAX_TRANSMIT_WAIT of RFC 7252 by default) */
#define LWM2M_DEVOP_TIMEOUT_MS_DEFAULT 93000
#define LWM2M_CLI_OPT_DEVICE_TIMEOUT                                           \
	{                                                                      \
		NULL, "LWDS_DEVICE_TIMEOUT_MS", NULL,                          \
		    LWM2M_CLI_STR(LWM2M_DEVOP_TIMEOUT_MS_DEFAULT),             \
		    "a device's answer, ms (the same on every\n"               \
		    "gateway and rest-api)",                                   \
		    LWM2M_CLI_INT, 100, 3600000, NULL                          \
	}

#define LWM2M_DEVOP_VERSION 1
#define LWM2M_DEVOP_MAX_PATHS 64
#define LWM2M_DEVOP_MAX_QUERY 256
#define LWM2M_DEVOP_MAX_PAYLOAD (512u * 1024u)
#define LWM2M_DEVOP_MAX_LOCATION 64
#define LWM2M_DEVOP_MAX_MESSAGE 200
#define LWM2M_DEVOP_MAX_TOKEN 8

enum lwm2m_devop_op {
	LWM2M_DEVOP_READ = 1,
	LWM2M_DEVOP_DISCOVER,
	LWM2M_DEVOP_WRITE_REPLACE, /* PUT */
	LWM2M_DEVOP_WRITE_UPDATE,  /* POST, partial update */
	LWM2M_DEVOP_WRITE_ATTRIBUTES,
	LWM2M_DEVOP_EXECUTE,
	LWM2M_DEVOP_CREATE,
	LWM2M_DEVOP_DELETE,
	LWM2M_DEVOP_READ_COMPOSITE,  /* FETCH on "/" */
	LWM2M_DEVOP_WRITE_COMPOSITE, /* iPATCH on "/" */
	LWM2M_DEVOP_OBSERVE,         /* GET Observe=0 */
	LWM2M_DEVOP_CANCEL_OBSERVE,  /* GET Observe=1, or forget (F_PASSIVE) */
	LWM2M_DEVOP_OP_MAX
};

/* Request flags. */
#define LWM2M_DEVOP_F_CT 0x1u       /* ct is the payload's content format */
#define LWM2M_DEVOP_F_ACCEPT 0x2u   /* accept is set; else gateway chooses */
#define LWM2M_DEVOP_F_SINGLE 0x4u   /* a length-3 path is a single resource */
#define LWM2M_DEVOP_F_NO_QUEUE 0x8u /* never keep it past wait_ms */
#define LWM2M_DEVOP_F_PASSIVE 0x10u /* CANCEL_OBSERVE: forget, RST later */
/* F_THEN_EXECUTE: a sequence in one operation (a PUT that writes and
 * executes, spec 4.11).  WRITE_UPDATE / WRITE_REPLACE of an instance
 * (paths[0], length 2), or EXECUTE of paths[0] without arguments, then an
 * Execute of each further path (length 3, same instance), in order, each
 * only after the previous one succeeded (2.xx).  The reply is that of the
 * first failure, or of the last execute; queued, the whole sequence waits
 * for the device and its result is stored once under the operation id. */
#define LWM2M_DEVOP_F_THEN_EXECUTE 0x20u
#define LWM2M_DEVOP_F_ALL 0x3fu

/* Reply flags. */
#define LWM2M_DEVOP_RF_CT 0x1u
#define LWM2M_DEVOP_RF_ALL 0x1u

enum lwm2m_devop_status {
	LWM2M_DEVOP_ST_OK = 0,         /* the device answered: see code */
	LWM2M_DEVOP_ST_NOT_REGISTERED, /* not registered with this gateway */
	LWM2M_DEVOP_ST_TIMEOUT,        /* the device did not answer */
	LWM2M_DEVOP_ST_QUEUED,      /* sleeping device; result stored later */
	LWM2M_DEVOP_ST_BAD_REQUEST, /* cannot build it (e.g. transcoding) */
	LWM2M_DEVOP_ST_BUSY,        /* a queue or in-flight limit is full */
	LWM2M_DEVOP_ST_FAILED,      /* transport failure, gateway shutdown */
	LWM2M_DEVOP_ST_MAX
};

struct lwm2m_devop_req {
	enum lwm2m_devop_op op;
	uint16_t flags;
	char client[LWM2M_ID_SIZE]; /* NUL-terminated */
	char opid[LWM2M_ID_SIZE];   /* "" when none */
	uint16_t ct;
	uint16_t accept;
	uint32_t wait_ms;
	uint8_t token_len;
	uint8_t token[LWM2M_DEVOP_MAX_TOKEN];
	uint16_t n_paths;
	struct lwm2m_path paths[LWM2M_DEVOP_MAX_PATHS];
	const char *query; /* borrowed; not NUL-terminated */
	size_t query_len;
	const uint8_t *payload; /* borrowed */
	size_t payload_len;
};

struct lwm2m_devop_reply {
	enum lwm2m_devop_status status;
	uint8_t code;
	uint8_t flags;
	uint16_t ct;
	uint32_t observe;
	uint8_t token_len;
	uint8_t token[LWM2M_DEVOP_MAX_TOKEN];
	const char *location; /* borrowed; not NUL-terminated */
	size_t location_len;
	const char *message; /* borrowed; not NUL-terminated */
	size_t message_len;
	const uint8_t *payload; /* borrowed */
	size_t payload_len;
};

/* lwm2m_devop_req_encode checks req as the decoder would and writes it to a
 * fresh malloc()ed buffer (ret_buf, ret_len; the caller frees).
 * LWM2M_EINVAL when req breaks a rule of the format, LWM2M_ENOMEM. */
lwm2m_err lwm2m_devop_req_encode(const struct lwm2m_devop_req *req,
                                 uint8_t **ret_buf, size_t *ret_len);

/* lwm2m_devop_req_decode reads buf into ret_req (borrowing query and
 * payload from buf).  LWM2M_EPROTO for anything the encoder would not
 * produce; ret_req is written only on success. */
lwm2m_err lwm2m_devop_req_decode(const uint8_t *buf, size_t len,
                                 struct lwm2m_devop_req *ret_req);

/* lwm2m_devop_reply_encode writes reply to a fresh malloc()ed buffer.
 * LWM2M_EINVAL past a limit or with unknown status/flags, LWM2M_ENOMEM. */
lwm2m_err lwm2m_devop_reply_encode(const struct lwm2m_devop_reply *reply,
                                   uint8_t **ret_buf, size_t *ret_len);

/* lwm2m_devop_reply_decode reads buf into ret_reply (borrowing location,
 * message and payload).  LWM2M_EPROTO on malformed input. */
lwm2m_err lwm2m_devop_reply_decode(const uint8_t *buf, size_t len,
                                   struct lwm2m_devop_reply *ret_reply);

/* A notification of an observation, published by coap-gw on its events
 * socket as LWM2M_ENV_EV_NOTIFY (version 1, network byte order):
 *   u8 version (1) | 22 client id | u8 code | u8 flags (RF_CT) | u16 ct |
 *   u32 observe sequence | i64 org | i64 ts (ms since 1970) |
 *   u8 token length (1..8) | 8 token bytes | u8 path len (0..4) |
 *   u16 ids[len] | u32 payload length (0..MAX_PAYLOAD) + bytes (raw, as the
 *   device sent them).
 * A code of 4.xx/5.xx ends the observation (RFC 7641). */
struct lwm2m_devop_notify {
	char client[LWM2M_ID_SIZE];
	uint8_t code;
	uint8_t flags;
	uint16_t ct;
	uint32_t observe;
	int64_t org;
	int64_t ts;
	uint8_t token_len;
	uint8_t token[LWM2M_DEVOP_MAX_TOKEN];
	struct lwm2m_path path;
	const uint8_t *payload; /* borrowed */
	size_t payload_len;
};

/* lwm2m_devop_notify_encode writes n to a fresh malloc()ed buffer;
 * LWM2M_EINVAL past a limit, LWM2M_ENOMEM. */
lwm2m_err lwm2m_devop_notify_encode(const struct lwm2m_devop_notify *n,
                                    uint8_t **ret_buf, size_t *ret_len);

/* lwm2m_devop_notify_decode reads buf into ret_n (payload borrowed);
 * LWM2M_EPROTO on malformed input. */
lwm2m_err lwm2m_devop_notify_decode(const uint8_t *buf, size_t len,
                                    struct lwm2m_devop_notify *ret_n);

/* lwm2m_devop_query_valid is true for a Write-Attributes query as described
 * above ("" included). */
bool lwm2m_devop_query_valid(const char *query, size_t len);

/* lwm2m_devop_op_name returns "read", "write-replace", ... or "?". */
const char *lwm2m_devop_op_name(enum lwm2m_devop_op op);

/* lwm2m_devop_status_name returns "ok", "not registered", "device timeout",
 * "queued", "bad request", "busy", "failed" or "?". */
const char *lwm2m_devop_status_name(enum lwm2m_devop_status status);

#endif
