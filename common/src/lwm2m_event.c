#include "lwm2m_event.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "lwm2m_env.h"

/* A bounded writer: JSON is written by hand, not with yajl_gen, which
 * cost about 8,000 instructions per event (a sixth of the gateway's work
 * per registration, bench/README.md). */
struct jw {
	char *p, *end; /* end: the last byte, kept for the NUL */
	bool full;
};

static void
jw_raw(struct jw *w, const char *s, size_t n)
{
	if (w->full || (size_t)(w->end - w->p) < n) {
		w->full = true;
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
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

/* a JSON string literal, escaped like yajl_gen_string */
static void
jw_str(struct jw *w, const char *s)
{
	const char *run = s;
	char esc[6];

	jw_raw(w, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\') {
			continue;
		}
		jw_raw(w, run, (size_t)(s - run));
		jw_raw(w, esc, escape(c, esc));
		run = s + 1;
	}
	jw_raw(w, run, (size_t)(s - run));
	jw_raw(w, "\"", 1);
}

static void
jw_int(struct jw *w, long long v)
{
	unsigned long long u =
	    v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	char tmp[21];
	size_t n = sizeof tmp;

	do {
		tmp[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0) {
		tmp[--n] = '-';
	}
	jw_raw(w, tmp + n, sizeof tmp - n);
}

lwm2m_err
lwm2m_event_encode(const struct lwm2m_event *ev, char *buf, size_t size,
                   size_t *ret_len)
{
	struct jw w = {buf, size > 0 ? buf + size - 1 : buf, size == 0};

	jw_raw(&w, "{\"id\":", 6);
	jw_str(&w, ev->id);
	jw_raw(&w, ",\"ep\":", 6);
	jw_str(&w, ev->ep);
	jw_raw(&w, ",\"org\":", 7);
	jw_int(&w, ev->org);
	jw_raw(&w, ",\"gw\":", 6);
	jw_str(&w, ev->gw);
	jw_raw(&w, ",\"ts\":", 6);
	jw_int(&w, ev->ts);
	jw_raw(&w, "}", 1);
	if (w.full) {
		return LWM2M_ELIMIT;
	}
	*w.p = '\0';
	*ret_len = (size_t)(w.p - buf);
	return LWM2M_OK;
}

static lwm2m_err
get_str(yajl_val obj, const char *name, char *dst, size_t size)
{
	const char *path[] = {name, NULL};
	yajl_val v = yajl_tree_get(obj, path, yajl_t_any);
	const char *s;

	if (v == NULL) {
		return LWM2M_OK;
	}
	s = YAJL_GET_STRING(v);
	if (s == NULL || strlen(s) >= size) {
		return LWM2M_EPROTO;
	}
	memcpy(dst, s, strlen(s) + 1);
	return LWM2M_OK;
}

static lwm2m_err
get_int(yajl_val obj, const char *name, long long *ret)
{
	const char *path[] = {name, NULL};
	yajl_val v = yajl_tree_get(obj, path, yajl_t_any);

	if (v == NULL) {
		return LWM2M_OK;
	}
	if (!YAJL_IS_INTEGER(v)) {
		return LWM2M_EPROTO;
	}
	*ret = YAJL_GET_INTEGER(v);
	return LWM2M_OK;
}

static lwm2m_err
decode_obj(yajl_val obj, struct lwm2m_event *ev)
{
	long long ts = 0;

	if (!YAJL_IS_OBJECT(obj) ||
	    get_str(obj, "id", ev->id, sizeof ev->id) != LWM2M_OK ||
	    get_str(obj, "ep", ev->ep, sizeof ev->ep) != LWM2M_OK ||
	    get_str(obj, "gw", ev->gw, sizeof ev->gw) != LWM2M_OK ||
	    get_int(obj, "org", &ev->org) != LWM2M_OK ||
	    get_int(obj, "ts", &ts) != LWM2M_OK ||
	    !lwm2m_id_valid(ev->id, strlen(ev->id))) {
		return LWM2M_EPROTO;
	}
	ev->ts = ts;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_event_decode(const uint8_t *buf, size_t len, struct lwm2m_event *ret_ev)
{
	struct lwm2m_event ev;
	char *text;
	yajl_val obj;
	lwm2m_err err;

	if (len > LWM2M_EVENT_JSON_MAX * 4) {
		return LWM2M_EPROTO;
	}
	text = malloc(len + 1);
	if (text == NULL) {
		return LWM2M_ENOMEM;
	}
	memcpy(text, buf, len);
	text[len] = '\0';
	obj = yajl_tree_parse(text, NULL, 0);
	free(text);
	if (obj == NULL) {
		return LWM2M_EPROTO;
	}
	memset(&ev, 0, sizeof ev);
	err = decode_obj(obj, &ev);
	yajl_tree_free(obj);
	if (err == LWM2M_OK) {
		*ret_ev = ev;
	}
	return err;
}

lwm2m_err
lwm2m_event_msg_new(uint16_t kind, const struct lwm2m_event *ev,
                    nng_msg **ret_msg)
{
	char json[LWM2M_EVENT_JSON_MAX];
	struct lwm2m_env env = {.kind = kind};
	lwm2m_err err;

	err = lwm2m_event_encode(ev, json, sizeof json, &env.payload_len);
	if (err != LWM2M_OK) {
		return err;
	}
	env.payload = (const uint8_t *)json;
	return lwm2m_env_encode(&env, ret_msg);
}
