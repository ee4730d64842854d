/* lwm2m_delivery.h - one webhook delivery job on the durable queue.
 *
 * The broker (producer) renders the webhook body and XADDs one job per
 * (event x subscription) to the stream LWM2M_KEY_DELIVERIES as the single
 * field "job" holding the JSON text produced by lwm2m_delivery_encode; the
 * webhook dispatcher (consumer) decodes it.  The same text is the member of
 * the retry ZSET and the "job" field of a dead letter, so a job moves between
 * the three without being re-rendered.  JSON members:
 *   {"v":1,"id":"<delivery id>","sub":"<subscription id>","org":<n>,
 *    "url":"...","ct":"<content type>","secret":"...","attempt":<n>,
 *    "created":<ms>,"body":"..."}
 * "attempt" counts the attempts already made (0 for a fresh job).
 */
#ifndef LWM2M_DELIVERY_H
#define LWM2M_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "lwm2m_err.h"
#include "lwm2m_id.h"

#define LWM2M_DELIVERY_VERSION 1
#define LWM2M_DELIVERY_URL_MAX 2048        /* bytes of the hook URL */
#define LWM2M_DELIVERY_CT_MAX 255          /* bytes of the content type */
#define LWM2M_DELIVERY_SECRET_MAX 255      /* bytes of the HMAC secret */
#define LWM2M_DELIVERY_BODY_MAX (1u << 20) /* bytes of the body */
/* An encoded job never exceeds this (JSON escaping may grow the body 6x). */
#define LWM2M_DELIVERY_JSON_MAX (8u << 20)
#define LWM2M_DELIVERY_ATTEMPT_MAX 1000

/* Stream consumer group shared by every lwds-webhook instance. */
#define LWM2M_DELIVERY_GROUP "lwds-webhook"
/* Field of a stream entry holding the encoded job. */
#define LWM2M_DELIVERY_FIELD "job"

struct lwm2m_delivery {
	char id[LWM2M_ID_SIZE];  /* delivery id, stable across retries */
	char sub[LWM2M_ID_SIZE]; /* subscription id */
	long long org;
	unsigned attempt; /* attempts already made */
	int64_t created;  /* ms since 1970, when the broker queued it */
	char *url;        /* NUL-terminated, owned */
	char *content_type;
	char *secret; /* may be "" */
	char *body;   /* body_len bytes plus a NUL, owned */
	size_t body_len;
};

/* lwm2m_delivery_init fills d with copies of the strings (url, content_type
 * and secret NUL-terminated, body body_len bytes), a fresh delivery id,
 * attempt 0 and created = now.  LWM2M_ELIMIT when a field exceeds its limit,
 * LWM2M_EINVAL when sub is not a valid id or url is empty.  On failure d is
 * left empty (safe to fini).  Any thread. */
lwm2m_err lwm2m_delivery_init(struct lwm2m_delivery *d, const char *sub,
                              long long org, const char *url,
                              const char *content_type, const char *secret,
                              const char *body, size_t body_len);

/* lwm2m_delivery_fini frees the strings of d and zeroes it; NULL-safe. */
void lwm2m_delivery_fini(struct lwm2m_delivery *d);

/* lwm2m_delivery_encode writes d as JSON into a new malloc()ed,
 * NUL-terminated buffer (caller frees) and its length into ret_len.  Any
 * thread. */
lwm2m_err lwm2m_delivery_encode(const struct lwm2m_delivery *d, char **ret_buf,
                                size_t *ret_len);

/* lwm2m_delivery_decode parses len bytes at buf into ret_d (caller finis it).
 * LWM2M_ELIMIT past LWM2M_DELIVERY_JSON_MAX or a field limit, LWM2M_EPROTO
 * when it is not such an object (wrong version, missing or mistyped member,
 * bad id).  ret_d is written only on success.  Any thread. */
lwm2m_err lwm2m_delivery_decode(const char *buf, size_t len,
                                struct lwm2m_delivery *ret_d);

#endif
