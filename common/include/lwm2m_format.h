/* lwm2m_format.h - which content format to ask a device for.
 *
 * The original server asked only for the pre-standard numbers 1542/1543, so
 * current devices answered 4.06.  Here the choice comes from the client's
 * LwM2M version (lwm2m= at registration), the `ct` list it advertised on
 * its root link (1.1+), the formats it was seen using, and the target:
 *  - object, instance, multiple resource: 1.1+: SenML CBOR, SenML JSON,
 *    LwM2M CBOR (1.2), TLV, LwM2M JSON; 1.0: TLV, LwM2M JSON;
 *  - a single value (resource instance, or a resource known to be single):
 *    1.1+: CBOR (60), SenML CBOR, SenML JSON, text, TLV; 1.0: TLV, text;
 *  - the root "/" (composite operations): SenML CBOR, SenML JSON (1.1+).
 * Formats the device advertised come first, in that order of preference;
 * the others follow as fallbacks, except LwM2M CBOR (only when advertised
 * or used) and CBOR 60 (only for 1.1+).  The legacy numbers 1542/1543 are
 * offered only to devices that advertise or use them, and then come before
 * their standard twins.  When a device answers 4.06 or 4.15, mark the
 * format refused and ask lwm2m_format_next() for the following one.
 */
#ifndef LWM2M_FORMAT_H
#define LWM2M_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_err.h"
#include "lwm2m_value.h"

#define LWM2M_FORMAT_MAX_CT 16  /* formats kept from one ct= list */
#define LWM2M_FORMAT_MAX_CAND 8 /* longest candidate list */

/* What we know of one registered client. */
struct lwm2m_format_caps {
	uint8_t major, minor; /* LwM2M enabler version */
	uint8_t n_ct;         /* formats advertised in ct= */
	uint16_t ct[LWM2M_FORMAT_MAX_CT];
	uint32_t used; /* bits from lwm2m_format_note */
};

/* lwm2m_format_caps_init fills ret_caps from the registration's lwm2m=
 * value ("1.0", "1.1", "1.2"; NULL or empty means 1.0) and the ct= value
 * of the root link ("60 110 112", with or without quotes; NULL or empty
 * when absent).  LWM2M_EPROTO for a malformed version or ct list,
 * LWM2M_ELIMIT past LWM2M_FORMAT_MAX_CT formats.  ret_caps is written only
 * on success. */
lwm2m_err lwm2m_format_caps_init(struct lwm2m_format_caps *ret_caps,
                                 const char *version, size_t version_len,
                                 const char *ct, size_t ct_len);

/* lwm2m_format_note records that the device sent a payload in fmt (e.g. a
 * notification in 1542), which makes legacy numbers and LwM2M CBOR
 * candidates. */
void lwm2m_format_note(struct lwm2m_format_caps *caps, unsigned fmt);

/* lwm2m_format_advertised is true when fmt was in the ct= list. */
bool lwm2m_format_advertised(const struct lwm2m_format_caps *caps,
                             unsigned fmt);

/* lwm2m_format_candidates writes the formats to try for a request on path,
 * best first, into out (room for max) and returns how many it wrote.
 * single_value says the caller knows a length-3 path is a single-instance
 * resource (length 4 always is). */
size_t lwm2m_format_candidates(const struct lwm2m_format_caps *caps,
                               const struct lwm2m_path *path, bool single_value,
                               enum lwm2m_format *out, size_t max);

/* lwm2m_format_choose writes the first candidate to ret_fmt;
 * LWM2M_ENOTFOUND when there is none (e.g. "/" on a 1.0 device). */
lwm2m_err lwm2m_format_choose(const struct lwm2m_format_caps *caps,
                              const struct lwm2m_path *path, bool single_value,
                              enum lwm2m_format *ret_fmt);

/* lwm2m_format_next writes the first candidate not among the n_refused
 * formats in refused (those the device answered 4.06/4.15 to);
 * LWM2M_ENOTFOUND when every candidate was refused. */
lwm2m_err lwm2m_format_next(const struct lwm2m_format_caps *caps,
                            const struct lwm2m_path *path, bool single_value,
                            const enum lwm2m_format *refused, size_t n_refused,
                            enum lwm2m_format *ret_fmt);

/* lwm2m_format_refused is true for the CoAP response codes that mean "not
 * this format": 4.06 Not Acceptable (0x86, to an Accept) and 4.15
 * Unsupported Content-Format (0x8f, to a payload); code is class << 5 |
 * detail. */
bool lwm2m_format_refused(uint8_t coap_code);

#endif
