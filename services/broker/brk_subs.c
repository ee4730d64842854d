#include "brk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yajl/yajl_gen.h>

#include "lwm2m_env.h"
#include "lwm2m_keys.h"
#include "lwm2m_loop.h"

static const char *const event_names[] = {
    [BRK_EV_CONNECTED] = "ClientConnected",
    [BRK_EV_UPDATED] = "ClientUpdated",
    [BRK_EV_DISCONNECTED] = "ClientDisconnected",
    [BRK_EV_EXPIRED] = "ClientConnectionExpired",
};

bool
brk_event_from_kind(uint16_t kind, enum brk_event *ret_event)
{
	switch (kind) {
	case LWM2M_ENV_EV_REGISTERED:
		*ret_event = BRK_EV_CONNECTED;
		return true;
	case LWM2M_ENV_EV_UPDATED:
		*ret_event = BRK_EV_UPDATED;
		return true;
	case LWM2M_ENV_EV_DEREGISTERED:
	case LWM2M_ENV_EV_REMOVED:
		*ret_event = BRK_EV_DISCONNECTED;
		return true;
	case LWM2M_ENV_EV_EXPIRED:
		*ret_event = BRK_EV_EXPIRED;
		return true;
	default:
		return false;
	}
}

const char *
brk_event_name(enum brk_event event)
{
	return event_names[event];
}

static lwm2m_err
copy_field(char *dst, size_t size, const redisReply *v)
{
	if (v->type != REDIS_REPLY_STRING) {
		return LWM2M_EPROTO;
	}
	if (v->len >= size) {
		return LWM2M_ELIMIT;
	}
	memcpy(dst, v->str, v->len);
	dst[v->len] = '\0';
	return LWM2M_OK;
}

static lwm2m_err
sub_field(struct brk_sub *s, const redisReply *k, const redisReply *v)
{
	char org[24];
	lwm2m_err err;

	if (k->type != REDIS_REPLY_STRING) {
		return LWM2M_EPROTO;
	}
	if (strcmp(k->str, LWM2M_SF_ORG) == 0) {
		if (copy_field(org, sizeof org, v) != LWM2M_OK ||
		    lwm2m_parse_int(org, 0, INT64_MAX, &s->org) != LWM2M_OK) {
			return LWM2M_EPROTO;
		}
		return LWM2M_OK;
	}
	if (strcmp(k->str, LWM2M_SF_TYPE) == 0) {
		return copy_field(s->type, sizeof s->type, v);
	}
	if (strcmp(k->str, LWM2M_SF_CLIENT) == 0) {
		err = copy_field(s->client, sizeof s->client, v);
		return err == LWM2M_ELIMIT ? LWM2M_EPROTO : err;
	}
	if (strcmp(k->str, LWM2M_SF_URL) == 0) {
		return copy_field(s->url, sizeof s->url, v);
	}
	if (strcmp(k->str, LWM2M_SF_ACCEPT) == 0) {
		return copy_field(s->accept, sizeof s->accept, v);
	}
	if (strcmp(k->str, LWM2M_SF_SECRET) == 0) {
		return copy_field(s->secret, sizeof s->secret, v);
	}
	return LWM2M_OK;
}

lwm2m_err
brk_sub_parse(const char *id, const redisReply *reply, struct brk_sub *ret_sub)
{
	struct brk_sub *s;
	lwm2m_err err = LWM2M_OK;
	size_t i;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		return LWM2M_EPROTO;
	}
	if (reply->elements == 0) {
		return LWM2M_ENOTFOUND;
	}
	if (!lwm2m_id_valid(id, strlen(id)) || reply->elements % 2 != 0) {
		return LWM2M_EPROTO;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		return LWM2M_ENOMEM;
	}
	s->org = -1;
	memcpy(s->id, id, LWM2M_ID_SIZE);
	for (i = 0; err == LWM2M_OK && i < reply->elements; i += 2) {
		err = sub_field(s, reply->element[i], reply->element[i + 1]);
	}
	if (err == LWM2M_OK &&
	    (s->org < 0 || s->type[0] == '\0' || s->url[0] == '\0' ||
	     (s->client[0] != '\0' &&
	      !lwm2m_id_valid(s->client, strlen(s->client))))) {
		err = LWM2M_EPROTO;
	}
	if (err == LWM2M_OK) {
		*ret_sub = *s;
	}
	free(s);
	return err;
}

bool
brk_sub_matches(const struct brk_sub *sub, enum brk_event event,
                const struct lwm2m_event *ev)
{
	if (sub->org != ev->org ||
	    strcasecmp(sub->type, brk_event_name(event)) != 0) {
		return false;
	}
	return sub->client[0] == '\0' || strcmp(sub->client, ev->id) == 0;
}

bool
brk_sub_is_xml(const struct brk_sub *sub)
{
	const char *p;

	for (p = sub->accept; *p != '\0'; p++) {
		if (strncasecmp(p, "xml", 3) == 0) {
			return true;
		}
	}
	return false;
}

static void
gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void
gen_link(yajl_gen g, const char *rel, const char *href)
{
	yajl_gen_map_open(g);
	gen_str(g, "rel");
	gen_str(g, rel);
	gen_str(g, "href");
	gen_str(g, href);
	yajl_gen_map_close(g);
}

static lwm2m_err
render_json(const char *sub_href, const char *client_href, const char *time,
            const char *type, char **ret_body, size_t *ret_len)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *out;
	size_t len;

	if (g == NULL) {
		return LWM2M_ENOMEM;
	}
	yajl_gen_map_open(g);
	gen_str(g, "Items");
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	gen_str(g, "Links");
	yajl_gen_array_open(g);
	gen_link(g, "subscription", sub_href);
	gen_link(g, "client", client_href);
	yajl_gen_array_close(g);
	gen_str(g, "TimeTriggered");
	gen_str(g, time);
	gen_str(g, "SubscriptionType");
	gen_str(g, type);
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &out, &len) != yajl_gen_status_ok ||
	    (*ret_body = strndup((const char *)out, len)) == NULL) {
		yajl_gen_free(g);
		return LWM2M_ENOMEM;
	}
	*ret_len = len;
	yajl_gen_free(g);
	return LWM2M_OK;
}

static lwm2m_err
render_xml(const char *sub_href, const char *client_href, const char *time,
           const char *type, char **ret_body, size_t *ret_len)
{
	/* every inserted text is an id, a fixed name or a time: no escaping */
	static const char fmt[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	                          "<Notifications><Items><Notification><Links>"
	                          "<Link rel=\"subscription\" href=\"%s\" />"
	                          "<Link rel=\"client\" href=\"%s\" />"
	                          "</Links><TimeTriggered>%s</TimeTriggered>"
	                          "<SubscriptionType>%s</SubscriptionType>"
	                          "</Notification></Items></Notifications>";
	int n = asprintf(ret_body, fmt, sub_href, client_href, time, type);

	if (n < 0) {
		return LWM2M_ENOMEM;
	}
	*ret_len = (size_t)n;
	return LWM2M_OK;
}

lwm2m_err
brk_body_render(const struct brk_sub *sub, enum brk_event event,
                const struct lwm2m_event *ev, int64_t now_s, char **ret_body,
                size_t *ret_len)
{
	char sub_href[64], client_href[64], time[32];

	if (!lwm2m_id_valid(sub->id, strlen(sub->id)) ||
	    !lwm2m_id_valid(ev->id, strlen(ev->id))) {
		return LWM2M_EINVAL;
	}
	snprintf(sub_href, sizeof sub_href, "/subscriptions/%s", sub->id);
	snprintf(client_href, sizeof client_href, "/clients/%s", ev->id);
	lwm2m_time_iso8601(now_s, time, sizeof time);
	if (brk_sub_is_xml(sub)) {
		return render_xml(sub_href, client_href, time,
		                  brk_event_name(event), ret_body, ret_len);
	}
	return render_json(sub_href, client_href, time, brk_event_name(event),
	                   ret_body, ret_len);
}

lwm2m_err
brk_job_new(const struct brk_sub *sub, const char *body, size_t body_len,
            char **ret_job, size_t *ret_len, char ret_id[LWM2M_ID_SIZE])
{
	struct lwm2m_delivery d;
	const char *ct =
	    sub->accept[0] != '\0' ? sub->accept : "application/json";
	lwm2m_err err = lwm2m_delivery_init(&d, sub->id, sub->org, sub->url, ct,
	                                    sub->secret, body, body_len);

	if (err != LWM2M_OK) {
		return err;
	}
	err = lwm2m_delivery_encode(&d, ret_job, ret_len);
	if (err == LWM2M_OK) {
		memcpy(ret_id, d.id, LWM2M_ID_SIZE);
	}
	lwm2m_delivery_fini(&d);
	return err;
}
