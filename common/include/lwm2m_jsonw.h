/* lwm2m_jsonw.h - JSON text written by hand on the hot paths, where
 * yajl_gen's per-call state checks, and the mallocs and printf calls around
 * it, cost more than the writing (bench/README.md).  Strings are escaped
 * exactly like yajl_gen_string: '"', '\\' and the bytes below 0x20; '/' and
 * bytes of 0x80 and above as they are.  The caller writes the punctuation.
 *
 * A writer either fills the caller's buffer (lwm2m_jsonw_init_fixed) or a
 * malloc()ed one that grows up to a limit (lwm2m_jsonw_init).  Writes that
 * do not fit, or fail to grow, mark the writer failed and are dropped;
 * lwm2m_jsonw_finish reports it once. */
#ifndef LWM2M_JSONW_H
#define LWM2M_JSONW_H

#include <stdbool.h>
#include <stddef.h>

#include "lwm2m_err.h"

struct lwm2m_jsonw {
	char *buf;     /* the text so far, not NUL-terminated before finish */
	size_t len;    /* bytes written */
	size_t cap;    /* bytes of buf, one kept for the NUL */
	size_t max;    /* growable: largest cap; 0: the caller's buffer */
	lwm2m_err err; /* LWM2M_ELIMIT: did not fit; LWM2M_ENOMEM */
};

/* lwm2m_jsonw_init_fixed writes into buf (size bytes, the NUL included). */
void lwm2m_jsonw_init_fixed(struct lwm2m_jsonw *w, char *buf, size_t size);

/* lwm2m_jsonw_init writes into a malloc()ed buffer of at most max bytes
 * (the NUL included); nothing is allocated before the first write. */
void lwm2m_jsonw_init(struct lwm2m_jsonw *w, size_t max);

/* lwm2m_jsonw_raw appends n bytes of s as they are. */
void lwm2m_jsonw_raw(struct lwm2m_jsonw *w, const char *s, size_t n);

/* lwm2m_jsonw_esc appends n bytes of s escaped, without quotes (a part of a
 * string literal); lwm2m_jsonw_str appends them as a whole literal. */
void lwm2m_jsonw_esc(struct lwm2m_jsonw *w, const char *s, size_t n);
void lwm2m_jsonw_str(struct lwm2m_jsonw *w, const char *s, size_t n);

/* lwm2m_jsonw_plain: true when n bytes of s need no escape, so that text
 * written many times can be checked once and then appended raw. */
bool lwm2m_jsonw_plain(const char *s, size_t n);

/* lwm2m_jsonw_int appends v in decimal. */
void lwm2m_jsonw_int(struct lwm2m_jsonw *w, long long v);

/* lwm2m_jsonw_finish NUL-terminates the text and gives its length; the
 * text is w->buf (a growable writer's buffer is then the caller's to
 * free()).  LWM2M_ELIMIT when something did not fit, LWM2M_ENOMEM when
 * growing failed; a growable writer's buffer is freed then. */
lwm2m_err lwm2m_jsonw_finish(struct lwm2m_jsonw *w, size_t *ret_len);

#endif
