#include "lwm2m_event.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "lwm2m_env.h"
#include "lwm2m_jsonw.h"

/* Written by hand (lwm2m_jsonw), not with yajl_gen, which cost about
 * 8,000 instructions per event (a sixth of the gateway's work per
 * registration, bench/README.md). */
static void
event_str(struct lwm2m_jsonw *w, const char *s)
{
	lwm2m_jsonw_str(w, s, strlen(s));
}

lwm2m_err
lwm2m_event_encode(const struct lwm2m_event *ev, char *buf, size_t size,
                   size_t *ret_len)
{
	struct lwm2m_jsonw w;

	lwm2m_jsonw_init_fixed(&w, buf, size);
	lwm2m_jsonw_raw(&w, "{\"id\":", 6);
	event_str(&w, ev->id);
	lwm2m_jsonw_raw(&w, ",\"ep\":", 6);
	event_str(&w, ev->ep);
	lwm2m_jsonw_raw(&w, ",\"org\":", 7);
	lwm2m_jsonw_int(&w, ev->org);
	lwm2m_jsonw_raw(&w, ",\"gw\":", 6);
	event_str(&w, ev->gw);
	lwm2m_jsonw_raw(&w, ",\"ts\":", 6);
	lwm2m_jsonw_int(&w, ev->ts);
	lwm2m_jsonw_raw(&w, "}", 1);
	return lwm2m_jsonw_finish(&w, ret_len);
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
