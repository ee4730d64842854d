/* lwm2m_event.h - the connectivity event carried in LWM2M_ENV_EV_* envelopes.
 *
 * Payload: one JSON object {"id":"<client id>","ep":"<endpoint>","org":<n>,
 * "gw":"<gateway id>","ts":<ms since 1970>}.  Unknown members are ignored on
 * decode so the object can grow.
 */
#ifndef LWM2M_EVENT_H
#define LWM2M_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "lwm2m_err.h"
#include "lwm2m_id.h"

#define LWM2M_EVENT_EP_MAX 128    /* longest endpoint name, bytes */
#define LWM2M_EVENT_GW_MAX 128    /* longest gateway id, bytes */
#define LWM2M_EVENT_JSON_MAX 2048 /* an encoded event always fits */

struct lwm2m_event {
	char id[LWM2M_ID_SIZE];
	char ep[LWM2M_EVENT_EP_MAX + 1];
	long long org;
	char gw[LWM2M_EVENT_GW_MAX + 1];
	int64_t ts;
};

/* lwm2m_event_encode writes ev as JSON into buf (size bytes, NUL-terminated,
 * LWM2M_EVENT_JSON_MAX is always enough) and its length into ret_len.
 * LWM2M_ELIMIT when buf is too small.  Any thread. */
lwm2m_err lwm2m_event_encode(const struct lwm2m_event *ev, char *buf,
                             size_t size, size_t *ret_len);

/* lwm2m_event_decode parses len bytes of JSON at buf.  LWM2M_EPROTO when it
 * is not an object, a member has the wrong type, "id" is not a valid client
 * id, or "ep"/"gw" are longer than their limits; missing members stay empty
 * (0 for numbers) except "id", which is required.  Any thread. */
lwm2m_err lwm2m_event_decode(const uint8_t *buf, size_t len,
                             struct lwm2m_event *ret_ev);

/* lwm2m_event_msg_new builds an envelope of kind (LWM2M_ENV_EV_*) carrying
 * ev; the caller owns the message. */
lwm2m_err lwm2m_event_msg_new(uint16_t kind, const struct lwm2m_event *ev,
                              nng_msg **ret_msg);

#endif
