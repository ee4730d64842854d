#include "lwm2m_delivery.h"

#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

static char *
dup_limited(const char *s, size_t len)
{
	char *out = malloc(len + 1);

	if (out != NULL) {
		memcpy(out, s, len);
		out[len] = '\0';
	}
	return out;
}

static lwm2m_err
set_strings(struct lwm2m_delivery *d, const char *url, const char *ct,
            const char *secret, const char *body, size_t body_len)
{
	size_t url_len = strlen(url), ct_len = strlen(ct);
	size_t secret_len = strlen(secret);

	if (url_len == 0) {
		return LWM2M_EINVAL;
	}
	if (url_len > LWM2M_DELIVERY_URL_MAX ||
	    ct_len > LWM2M_DELIVERY_CT_MAX ||
	    secret_len > LWM2M_DELIVERY_SECRET_MAX ||
	    body_len > LWM2M_DELIVERY_BODY_MAX) {
		return LWM2M_ELIMIT;
	}
	d->url = dup_limited(url, url_len);
	d->content_type = dup_limited(ct, ct_len);
	d->secret = dup_limited(secret, secret_len);
	d->body = dup_limited(body, body_len);
	d->body_len = body_len;
	if (d->url == NULL || d->content_type == NULL || d->secret == NULL ||
	    d->body == NULL) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_delivery_init(struct lwm2m_delivery *d, const char *sub, long long org,
                    const char *url, const char *content_type,
                    const char *secret, const char *body, size_t body_len)
{
	lwm2m_err err;

	memset(d, 0, sizeof *d);
	if (sub == NULL || !lwm2m_id_valid(sub, strlen(sub)) || url == NULL ||
	    content_type == NULL || secret == NULL || body == NULL) {
		return LWM2M_EINVAL;
	}
	err = lwm2m_id_new(d->id);
	if (err == LWM2M_OK) {
		err = set_strings(d, url, content_type, secret, body, body_len);
	}
	if (err != LWM2M_OK) {
		lwm2m_delivery_fini(d);
		return err;
	}
	memcpy(d->sub, sub, LWM2M_ID_SIZE);
	d->org = org;
	d->created = lwm2m_now_ms();
	return LWM2M_OK;
}

void
lwm2m_delivery_fini(struct lwm2m_delivery *d)
{
	if (d == NULL) {
		return;
	}
	free(d->url);
	free(d->content_type);
	free(d->secret);
	free(d->body);
	memset(d, 0, sizeof *d);
}

static void
gen_key(yajl_gen g, const char *key, const char *value, size_t len)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
	yajl_gen_string(g, (const unsigned char *)value, len);
}

static void
gen_int(yajl_gen g, const char *key, long long value)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
	yajl_gen_integer(g, value);
}

lwm2m_err
lwm2m_delivery_encode(const struct lwm2m_delivery *d, char **ret_buf,
                      size_t *ret_len)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *out;
	size_t len;
	char *copy;

	if (g == NULL) {
		return LWM2M_ENOMEM;
	}
	yajl_gen_map_open(g);
	gen_int(g, "v", LWM2M_DELIVERY_VERSION);
	gen_key(g, "id", d->id, strlen(d->id));
	gen_key(g, "sub", d->sub, strlen(d->sub));
	gen_int(g, "org", d->org);
	gen_key(g, "url", d->url, strlen(d->url));
	gen_key(g, "ct", d->content_type, strlen(d->content_type));
	gen_key(g, "secret", d->secret, strlen(d->secret));
	gen_int(g, "attempt", d->attempt);
	gen_int(g, "created", d->created);
	gen_key(g, "body", d->body, d->body_len);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &out, &len) != yajl_gen_status_ok) {
		yajl_gen_free(g);
		return LWM2M_ENOMEM;
	}
	copy = dup_limited((const char *)out, len);
	yajl_gen_free(g);
	if (copy == NULL) {
		return LWM2M_ENOMEM;
	}
	*ret_buf = copy;
	*ret_len = len;
	return LWM2M_OK;
}

static const char *
get_str(yajl_val root, const char *name)
{
	const char *path[] = {name, NULL};
	yajl_val v = yajl_tree_get(root, path, yajl_t_string);

	return v != NULL ? YAJL_GET_STRING(v) : NULL;
}

static bool
get_int(yajl_val root, const char *name, long long min, long long max,
        long long *ret_value)
{
	const char *path[] = {name, NULL};
	yajl_val v = yajl_tree_get(root, path, yajl_t_number);

	if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < min ||
	    YAJL_GET_INTEGER(v) > max) {
		return false;
	}
	*ret_value = YAJL_GET_INTEGER(v);
	return true;
}

static bool
copy_id(char dst[LWM2M_ID_SIZE], const char *src)
{
	if (src == NULL || !lwm2m_id_valid(src, strlen(src))) {
		return false;
	}
	memcpy(dst, src, LWM2M_ID_SIZE);
	return true;
}

static lwm2m_err
decode_tree(yajl_val root, struct lwm2m_delivery *d)
{
	const char *url = get_str(root, "url"), *ct = get_str(root, "ct");
	const char *secret = get_str(root, "secret");
	const char *body = get_str(root, "body");
	long long v, attempt, created;

	if (!get_int(root, "v", 0, 255, &v) || v != LWM2M_DELIVERY_VERSION ||
	    !get_int(root, "org", 0, INT64_MAX, &d->org) ||
	    !get_int(root, "attempt", 0, LWM2M_DELIVERY_ATTEMPT_MAX,
	             &attempt) ||
	    !get_int(root, "created", 0, INT64_MAX, &created) ||
	    !copy_id(d->id, get_str(root, "id")) ||
	    !copy_id(d->sub, get_str(root, "sub")) || url == NULL ||
	    ct == NULL || secret == NULL || body == NULL) {
		return LWM2M_EPROTO;
	}
	d->attempt = (unsigned)attempt;
	d->created = created;
	return set_strings(d, url, ct, secret, body, strlen(body));
}

lwm2m_err
lwm2m_delivery_decode(const char *buf, size_t len, struct lwm2m_delivery *ret_d)
{
	struct lwm2m_delivery d;
	yajl_val root;
	lwm2m_err err;
	char *text;

	if (len > LWM2M_DELIVERY_JSON_MAX) {
		return LWM2M_ELIMIT;
	}
	text = dup_limited(buf, len);
	if (text == NULL) {
		return LWM2M_ENOMEM;
	}
	root = yajl_tree_parse(text, NULL, 0);
	free(text);
	if (root == NULL || !YAJL_IS_OBJECT(root)) {
		yajl_tree_free(root);
		return LWM2M_EPROTO;
	}
	memset(&d, 0, sizeof d);
	err = decode_tree(root, &d);
	yajl_tree_free(root);
	if (err != LWM2M_OK) {
		lwm2m_delivery_fini(&d);
		return err;
	}
	*ret_d = d;
	return LWM2M_OK;
}
