/* lwm2m_id.h - identifiers, base64 and randomness shared by every service. */
#ifndef LWM2M_ID_H
#define LWM2M_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_err.h"

/* A GUID id in its REST form: URL-safe base64 of 16 bytes, no padding. */
#define LWM2M_ID_LEN 22
#define LWM2M_ID_SIZE (LWM2M_ID_LEN + 1)

/* lwm2m_random fills buf with len bytes from the kernel CSPRNG. */
lwm2m_err lwm2m_random(void *buf, size_t len);

/* lwm2m_random_pooled fills buf with len bytes of the same kernel CSPRNG,
 * taken from the calling thread's buffer that lwm2m_id_new also draws from
 * (refilled 4 KiB at a time; bytes handed out are wiped from it; a forked
 * child starts empty): one getrandom call per few hundred small requests
 * instead of one each.  Requests over 1 KiB go to the kernel directly.
 * LWM2M_EIO when the kernel fails.  Any thread. */
lwm2m_err lwm2m_random_pooled(void *buf, size_t len);

/* lwm2m_id_new writes a fresh random 22-char id plus NUL into ret_id. */
lwm2m_err lwm2m_id_new(char ret_id[LWM2M_ID_SIZE]);

/* lwm2m_id_valid is true for a 22-char URL-safe base64 string that decodes
 * to 16 bytes that are not all zero (spec 1.3). */
bool lwm2m_id_valid(const char *text, size_t len);

/* lwm2m_b64_encode writes the base64 form of in into out (NUL-terminated),
 * URL-safe without padding when url is true, standard with padding otherwise.
 * out must hold lwm2m_b64_encoded_len(len, url) + 1 bytes. Returns the
 * length written. */
size_t lwm2m_b64_encode(const uint8_t *in, size_t len, char *out, bool url);
size_t lwm2m_b64_encoded_len(size_t len, bool url);

/* lwm2m_b64_decode accepts both alphabets, with or without padding, and
 * writes at most out_size bytes.  LWM2M_EPROTO on a bad character or length,
 * LWM2M_ELIMIT when out is too small. */
lwm2m_err lwm2m_b64_decode(const char *in, size_t len, uint8_t *out,
                           size_t out_size, size_t *ret_len);

/* lwm2m_hex_encode writes 2*len lowercase hex digits plus NUL into out. */
void lwm2m_hex_encode(const uint8_t *in, size_t len, char *out);

/* lwm2m_hex_digit returns the value of one hex digit (either case), or -1
 * for any other character. */
int lwm2m_hex_digit(char c);

/* lwm2m_hex_decode decodes the 2*len hex digits at text (either case) into
 * len bytes at out; false, with out partly written, when one of them is not
 * a hex digit (it reads no further than the first non-digit). */
bool lwm2m_hex_decode(const char *text, size_t len, uint8_t *out);

/* lwm2m_now_ms returns wall-clock milliseconds since 1970 (CLOCK_REALTIME). */
int64_t lwm2m_now_ms(void);

/* lwm2m_mono_ms returns monotonic milliseconds, for timeouts. */
int64_t lwm2m_mono_ms(void);

/* lwm2m_time_iso8601 writes "2026-11-25T11:20:03Z" (UTC) for seconds since
 * 1970 into buf (at least 21 bytes); returns buf. */
char *lwm2m_time_iso8601(int64_t seconds, char *buf, size_t size);

/* lwm2m_time_parse_iso8601 parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm)". */
lwm2m_err lwm2m_time_parse_iso8601(const char *text, size_t len,
                                   int64_t *ret_seconds);

#endif
