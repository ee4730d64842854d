/* lwm2m_lwjson.c - LwM2M JSON (11543, legacy 1543), Core TS 1.0 7.4.4.
 *
 * {"bn":"/3/0/","bt":..,"e":[{"n":"0","sv":"..."},{"n":"6/0","v":1},...]}
 * Values: v (number), sv (string; opaque travels as standard base64 in sv,
 * so it decodes to STRING and lwm2m_value_coerce() to OPAQUE decodes it),
 * bv (boolean), ov (objlnk "oid:iid"); t is checked and ignored.  Object
 * members may come in any order: "e" is read after the whole object, once
 * "bn" is known.  Names (bn + n) must be paths of length 3 or 4 at or below
 * the request path; without bn (LwM2M 1.0 clients often omit it) names are
 * relative to the request path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_codec_internal.h"
#include "lwm2m_id.h"
#include "lwm2m_value.h"

struct lwjson_rec {
	const char *n;
	size_t n_len;
	struct lwm2m_value v;
	bool has_value;
};

static lwm2m_err
need_number(struct lwm2m__json *j, struct lwm2m_value *v)
{
	if (lwm2m__json_peek(j) != LWM2M__JSON_NUMBER) {
		lwm2m_diag_set(j->diag, j->pos,
		               "LwM2M JSON: expected a number");
		return LWM2M_EPROTO;
	}
	return lwm2m__json_number(j, v);
}

static lwm2m_err
read_member(struct lwm2m__json *j, const char *key, struct lwjson_rec *r)
{
	struct lwm2m_value ignored;
	bool is_value = strcmp(key, "v") == 0 || strcmp(key, "sv") == 0 ||
	                strcmp(key, "bv") == 0 || strcmp(key, "ov") == 0;

	if (is_value && r->has_value) {
		lwm2m_diag_set(j->diag, j->pos,
		               "LwM2M JSON: record has two "
		               "values");
		return LWM2M_EPROTO;
	}
	r->has_value |= is_value;
	if (strcmp(key, "n") == 0) {
		return lwm2m__json_string(j, &r->n, &r->n_len);
	}
	if (strcmp(key, "t") == 0) {
		return need_number(j, &ignored);
	}
	if (strcmp(key, "v") == 0) {
		return need_number(j, &r->v);
	}
	if (strcmp(key, "sv") == 0 || strcmp(key, "ov") == 0) {
		return lwm2m__json_text_value(j, &r->v, key[0] == 'o');
	}
	if (strcmp(key, "bv") == 0) {
		r->v.type = LWM2M_TYPE_BOOLEAN;
		return lwm2m__json_bool(j, &r->v.v.b);
	}
	return lwm2m__json_skip(j);
}

static lwm2m_err
read_record(struct lwm2m__json *j, const char *bn, size_t bn_len,
            const struct lwm2m_path *base)
{
	struct lwjson_rec r = {.n = "", .n_len = 0};
	const char *key;
	size_t at, key_len;
	bool first = true;
	lwm2m_err err;

	lwm2m__json_peek(j);
	at = j->pos;
	if ((err = lwm2m__json_expect(j, '{')) != LWM2M_OK ||
	    (err = lwm2m__json_enter(j)) != LWM2M_OK) {
		return err;
	}
	while (lwm2m__json_more(j, '}', first, &err)) {
		first = false;
		if ((err = lwm2m__json_string(j, &key, &key_len)) != LWM2M_OK ||
		    (err = lwm2m__json_expect(j, ':')) != LWM2M_OK ||
		    (err = read_member(j, key, &r)) != LWM2M_OK) {
			return err;
		}
	}
	if (err != LWM2M_OK) {
		return err;
	}
	lwm2m__json_leave(j);
	if (!r.has_value) {
		lwm2m_diag_set(j->diag, at,
		               "LwM2M JSON record without a value");
		return LWM2M_EPROTO;
	}
	return lwm2m__json_store(j, at, bn, bn_len, r.n, r.n_len, &r.v, base);
}

static lwm2m_err
read_entries(struct lwm2m__json *j, const char *bn, size_t bn_len,
             const struct lwm2m_path *base)
{
	bool first = true;
	lwm2m_err err;

	if ((err = lwm2m__json_expect(j, '[')) != LWM2M_OK ||
	    (err = lwm2m__json_enter(j)) != LWM2M_OK) {
		return err;
	}
	while (lwm2m__json_more(j, ']', first, &err)) {
		first = false;
		if ((err = read_record(j, bn, bn_len, base)) != LWM2M_OK) {
			return err;
		}
	}
	return err;
}

/* The top-level object: finds bn and where "e" starts. */
static lwm2m_err
read_top(struct lwm2m__json *j, const char **bn, size_t *bn_len, size_t *ret_e)
{
	struct lwm2m_value ignored;
	const char *key;
	size_t key_len;
	bool first = true;
	lwm2m_err err;

	if ((err = lwm2m__json_expect(j, '{')) != LWM2M_OK ||
	    (err = lwm2m__json_enter(j)) != LWM2M_OK) {
		return err;
	}
	while (lwm2m__json_more(j, '}', first, &err)) {
		first = false;
		if ((err = lwm2m__json_string(j, &key, &key_len)) != LWM2M_OK ||
		    (err = lwm2m__json_expect(j, ':')) != LWM2M_OK) {
			return err;
		}
		if (strcmp(key, "bn") == 0) {
			err = lwm2m__json_string(j, bn, bn_len);
		} else if (strcmp(key, "bt") == 0) {
			err = need_number(j, &ignored);
		} else if (strcmp(key, "e") == 0 &&
		           lwm2m__json_peek(j) != LWM2M__JSON_ARRAY) {
			lwm2m_diag_set(j->diag, j->pos,
			               "LwM2M JSON: e must be "
			               "an array");
			err = LWM2M_EPROTO;
		} else {
			*ret_e = strcmp(key, "e") == 0 ? j->pos : *ret_e;
			err = lwm2m__json_skip(j);
		}
		if (err != LWM2M_OK) {
			return err;
		}
	}
	return err;
}

lwm2m_err
lwm2m_lwjson_decode(const uint8_t *buf, size_t len,
                    const struct lwm2m_path *base, struct lwm2m_tree *tree,
                    struct lwm2m_diag *diag)
{
	struct lwm2m__json j = {.buf = buf,
	                        .len = len,
	                        .tree = tree,
	                        .diag = diag,
	                        .max_depth = tree->limits->max_depth};
	const char *bn = "";
	size_t bn_len = 0, e_pos = SIZE_MAX;
	lwm2m_err err = read_top(&j, &bn, &bn_len, &e_pos);

	if (err != LWM2M_OK) {
		return err;
	}
	if (lwm2m__json_peek(&j) != LWM2M__JSON_END) {
		lwm2m_diag_set(diag, j.pos, "JSON: data after the object");
		return LWM2M_EPROTO;
	}
	if (e_pos == SIZE_MAX) {
		lwm2m_diag_set(diag, 0, "LwM2M JSON: no \"e\" array");
		return LWM2M_EPROTO;
	}
	j.pos = e_pos;
	j.depth = 1;
	return read_entries(&j, bn, bn_len, base);
}

/* ---- encoder ------------------------------------------------------------ */

struct lwjson_enc {
	struct lwm2m_buf *out;
	uint8_t base_len;
	bool first;
};

static lwm2m_err
put_text(struct lwm2m_buf *out, const char *key, const struct lwm2m_value *v)
{
	struct lwm2m_buf tmp = {0};
	lwm2m_err err = lwm2m__format_scalar(v, &tmp);

	err = err ? err : lwm2m_buf_puts(out, key);
	err = err ? err : lwm2m__json_put_string(out, tmp.data, tmp.len);
	lwm2m_buf_fini(&tmp);
	return err;
}

static lwm2m_err
put_value(struct lwm2m_buf *out, const struct lwm2m_value *v)
{
	switch (v->type) {
	case LWM2M_TYPE_RAW:
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
	case LWM2M_TYPE_OPAQUE:
		return put_text(out, "\"sv\":", v);
	case LWM2M_TYPE_OBJLNK:
		return put_text(out, "\"ov\":", v);
	case LWM2M_TYPE_BOOLEAN:
		return lwm2m_buf_puts(out,
		                      v->v.b ? "\"bv\":true" : "\"bv\":false");
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
	case LWM2M_TYPE_UNSIGNED:
	case LWM2M_TYPE_FLOAT:
		return lwm2m__json_put_number(out, v);
	case LWM2M_TYPE_NONE:
	default:
		return LWM2M_EINVAL;
	}
}

static lwm2m_err
put_record(void *ctx, const struct lwm2m_node *leaf)
{
	struct lwjson_enc *e = ctx;
	char name[32];
	size_t n = lwm2m__relative_name(leaf, e->base_len, name);
	lwm2m_err err = lwm2m_buf_puts(e->out, e->first ? "{" : ",{");

	e->first = false;
	if (err == LWM2M_OK && n > 0) {
		err = lwm2m_buf_puts(e->out, "\"n\":");
		err = err ? err
		          : lwm2m__json_put_string(e->out,
		                                   (const uint8_t *)name, n);
		err = err ? err : lwm2m_buf_puts(e->out, ",");
	}
	err = err ? err : put_value(e->out, &leaf->value);
	return err ? err : lwm2m_buf_puts(e->out, "}");
}

lwm2m_err
lwm2m_lwjson_encode(const struct lwm2m_tree *tree,
                    const struct lwm2m_path *base, struct lwm2m_buf *out)
{
	const struct lwm2m_node *node = lwm2m_tree_get(tree, base);
	struct lwjson_enc e = {
	    .out = out, .base_len = base->len, .first = true};
	char bn[32];
	size_t bn_len;
	lwm2m_err err;

	if (node == NULL) {
		return LWM2M_ENOTFOUND;
	}
	bn_len = lwm2m__base_name(tree, base, bn);
	err = lwm2m_buf_puts(out, "{\"bn\":");
	err = err ? err
	          : lwm2m__json_put_string(out, (const uint8_t *)bn, bn_len);
	err = err ? err : lwm2m_buf_puts(out, ",\"e\":[");
	err = err ? err : lwm2m__tree_leaves(node, put_record, &e);
	return err ? err : lwm2m_buf_puts(out, "]}");
}
