/* lwm2m_jsonw.c - JSON text written by hand (lwm2m_jsonw.h). */
#include "lwm2m_jsonw.h"

#include <stdlib.h>
#include <string.h>

#include "lwm2m_loop.h"

#define JSONW_FIRST_CAP 1024

void
lwm2m_jsonw_init_fixed(struct lwm2m_jsonw *w, char *buf, size_t size)
{
	*w = (struct lwm2m_jsonw){.buf = buf,
	                          .cap = size,
	                          .err = size == 0 ? LWM2M_ELIMIT : LWM2M_OK};
}

void
lwm2m_jsonw_init(struct lwm2m_jsonw *w, size_t max)
{
	*w = (struct lwm2m_jsonw){.max = max,
	                          .err = max == 0 ? LWM2M_ELIMIT : LWM2M_OK};
}

/* Makes room for n more bytes and the NUL; false (w->err set) if it
 * cannot. */
static bool
room(struct lwm2m_jsonw *w, size_t n)
{
	size_t cap;
	char *p;

	if (w->err != LWM2M_OK) {
		return false;
	}
	if (w->cap - w->len > n) {
		return true;
	}
	if (w->max == 0 || n >= w->max - w->len) {
		w->err = LWM2M_ELIMIT;
		return false;
	}
	cap = w->cap != 0 ? w->cap : JSONW_FIRST_CAP;
	while (cap - w->len <= n) {
		cap *= 2;
	}
	if (cap > w->max) {
		cap = w->max;
	}
	p = realloc(w->buf, cap);
	if (p == NULL) {
		w->err = LWM2M_ENOMEM;
		return false;
	}
	w->buf = p;
	w->cap = cap;
	return true;
}

void
lwm2m_jsonw_raw(struct lwm2m_jsonw *w, const char *s, size_t n)
{
	if (room(w, n)) {
		memcpy(w->buf + w->len, s, n);
		w->len += n;
	}
}

/* the escape of c ("\n", "\u001F"...) into esc; returns its length */
static size_t
escape(unsigned char c, char esc[6])
{
	static const char hex[] = "0123456789ABCDEF";

	esc[0] = '\\';
	switch (c) {
	case '"':
	case '\\':
		esc[1] = (char)c;
		return 2;
	case '\b':
		esc[1] = 'b';
		return 2;
	case '\f':
		esc[1] = 'f';
		return 2;
	case '\n':
		esc[1] = 'n';
		return 2;
	case '\r':
		esc[1] = 'r';
		return 2;
	case '\t':
		esc[1] = 't';
		return 2;
	default:
		memcpy(esc + 1, "u00", 3);
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 15];
		return 6;
	}
}

static bool
needs_escape(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\';
}

bool
lwm2m_jsonw_plain(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (needs_escape((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

void
lwm2m_jsonw_esc(struct lwm2m_jsonw *w, const char *s, size_t n)
{
	size_t run = 0;
	char esc[6];

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!needs_escape(c)) {
			continue;
		}
		lwm2m_jsonw_raw(w, s + run, i - run);
		lwm2m_jsonw_raw(w, esc, escape(c, esc));
		run = i + 1;
	}
	lwm2m_jsonw_raw(w, s + run, n - run);
}

void
lwm2m_jsonw_str(struct lwm2m_jsonw *w, const char *s, size_t n)
{
	lwm2m_jsonw_raw(w, "\"", 1);
	lwm2m_jsonw_esc(w, s, n);
	lwm2m_jsonw_raw(w, "\"", 1);
}

void
lwm2m_jsonw_int(struct lwm2m_jsonw *w, long long v)
{
	char tmp[LWM2M_DEC_MAX + 1], *end = tmp + sizeof tmp;
	char *p = lwm2m_dec_digits(end, v < 0 ? 0ull - (unsigned long long)v
	                                      : (unsigned long long)v);

	if (v < 0) {
		*--p = '-';
	}
	lwm2m_jsonw_raw(w, p, (size_t)(end - p));
}

lwm2m_err
lwm2m_jsonw_finish(struct lwm2m_jsonw *w, size_t *ret_len)
{
	if (w->buf == NULL) {
		(void)room(w, 0); /* a growable writer that wrote nothing */
	}
	if (w->err != LWM2M_OK) {
		if (w->max != 0) {
			free(w->buf);
			w->buf = NULL;
		}
		return w->err;
	}
	w->buf[w->len] = '\0';
	*ret_len = w->len;
	return LWM2M_OK;
}
