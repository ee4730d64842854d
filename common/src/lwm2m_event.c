#include "lwm2m_event.h"

#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "lwm2m_env.h"

static void
gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

lwm2m_err
lwm2m_event_encode(const struct lwm2m_event *ev, char *buf, size_t size,
                   size_t *ret_len)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *out;
	size_t len;
	lwm2m_err err = LWM2M_OK;

	if (g == NULL) {
		return LWM2M_ENOMEM;
	}
	yajl_gen_map_open(g);
	gen_str(g, "id");
	gen_str(g, ev->id);
	gen_str(g, "ep");
	gen_str(g, ev->ep);
	gen_str(g, "org");
	yajl_gen_integer(g, ev->org);
	gen_str(g, "gw");
	gen_str(g, ev->gw);
	gen_str(g, "ts");
	yajl_gen_integer(g, ev->ts);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &out, &len) != yajl_gen_status_ok) {
		err = LWM2M_ENOMEM;
	} else if (len >= size) {
		err = LWM2M_ELIMIT;
	} else {
		memcpy(buf, out, len);
		buf[len] = '\0';
		*ret_len = len;
	}
	yajl_gen_free(g);
	return err;
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
