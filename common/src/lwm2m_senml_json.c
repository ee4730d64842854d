/* lwm2m_senml_json.c - SenML JSON (110, RFC 8428 as used by LwM2M 1.1).
 *
 * An array of records with bn, bt, n, t and one of v (number), vs (string),
 * vb (boolean), vd (opaque, base64url without padding on output; both
 * alphabets accepted on input) and vlo (objlnk "oid:iid").  bn and bt apply
 * to the records that follow until replaced; times are not part of the
 * value tree (two records for one path are a duplicate).  Names (bn + n)
 * must be paths of length 3 or 4 at or below the request path; before any
 * bn, a name not starting with '/' is taken relative to the request path.
 * Numbers without fraction or exponent decode to INTEGER (UNSIGNED above
 * INT64_MAX), others to FLOAT; the encoder writes floats with a '.' or an
 * exponent so the kinds survive a round trip.  Labels ending in '_' are
 * rejected (RFC 8428 section 4.4), other unknown labels are skipped.
 * lwm2m_senml_json_decode_paths reads the other kind of body, the name-only
 * records of a Read-Composite request, into a list of absolute paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_codec_internal.h"
#include "lwm2m_id.h"
#include "lwm2m_value.h"

#define SENML_NAME_MAX 64 /* bn + n; "/65535/65535/65535/65535" is 24 */

struct senml_rec {
	const char *n;
	size_t n_len;
	struct lwm2m_value v;
	bool has_value;
};

static lwm2m_err
read_vd(struct lwm2m__json *j, struct lwm2m_value *v)
{
	const char *s;
	size_t len, out_len;
	size_t at = j->pos;
	uint8_t *out;
	lwm2m_err err = lwm2m__json_string(j, &s, &len);

	if (err != LWM2M_OK) {
		return err;
	}
	out = lwm2m_tree_alloc(j->tree, len / 4 * 3 + 3);
	if (out == NULL) {
		return LWM2M_ENOMEM;
	}
	if (lwm2m_b64_decode(s, len, out, len / 4 * 3 + 3, &out_len) !=
	    LWM2M_OK) {
		lwm2m_diag_set(j->diag, at, "SenML vd is not base64");
		return LWM2M_EPROTO;
	}
	v->type = LWM2M_TYPE_OPAQUE;
	v->v.bytes.ptr = out;
	v->v.bytes.len = out_len;
	return LWM2M_OK;
}

/* One value label; *ret_known is false for labels that are not values. */
static lwm2m_err
read_value(struct lwm2m__json *j, const char *key, struct lwm2m_value *v,
           bool *ret_known)
{
	*ret_known = true;
	if (strcmp(key, "v") == 0) {
		if (lwm2m__json_peek(j) != LWM2M__JSON_NUMBER) {
			lwm2m_diag_set(j->diag, j->pos,
			               "SenML v must be a number");
			return LWM2M_EPROTO;
		}
		return lwm2m__json_number(j, v);
	}
	if (strcmp(key, "vs") == 0 || strcmp(key, "vlo") == 0) {
		return lwm2m__json_text_value(j, v, key[1] == 'l');
	}
	if (strcmp(key, "vb") == 0) {
		v->type = LWM2M_TYPE_BOOLEAN;
		return lwm2m__json_bool(j, &v->v.b);
	}
	if (strcmp(key, "vd") == 0) {
		return read_vd(j, v);
	}
	*ret_known = false;
	return LWM2M_OK;
}

static lwm2m_err
read_number_label(struct lwm2m__json *j)
{
	struct lwm2m_value ignored;

	if (lwm2m__json_peek(j) != LWM2M__JSON_NUMBER) {
		lwm2m_diag_set(j->diag, j->pos, "SenML time must be a number");
		return LWM2M_EPROTO;
	}
	return lwm2m__json_number(j, &ignored);
}

/* One label of a record; bn is shared across records. */
static lwm2m_err
read_label(struct lwm2m__json *j, const char *key, size_t key_len,
           struct senml_rec *r, const char **bn, size_t *bn_len)
{
	size_t at = j->pos;
	bool known;
	lwm2m_err err;

	if (strcmp(key, "bn") == 0) {
		return lwm2m__json_string(j, bn, bn_len);
	}
	if (strcmp(key, "n") == 0) {
		return lwm2m__json_string(j, &r->n, &r->n_len);
	}
	if (strcmp(key, "bt") == 0 || strcmp(key, "t") == 0) {
		return read_number_label(j);
	}
	if (r->has_value && key[0] == 'v' &&
	    (strcmp(key, "v") == 0 || strcmp(key, "vs") == 0 ||
	     strcmp(key, "vb") == 0 || strcmp(key, "vd") == 0 ||
	     strcmp(key, "vlo") == 0)) {
		lwm2m_diag_set(j->diag, at, "SenML record has two values");
		return LWM2M_EPROTO;
	}
	err = read_value(j, key, &r->v, &known);
	if (err != LWM2M_OK || known) {
		r->has_value = known;
		return err;
	}
	if (key_len > 0 && key[key_len - 1] == '_') {
		lwm2m_diag_set(j->diag, at,
		               "SenML label \"%.32s\" must be "
		               "understood",
		               key);
		return LWM2M_EPROTO;
	}
	return lwm2m__json_skip(j);
}

/* A path list being decoded (lwm2m_senml_json_decode_paths). */
struct senml_paths {
	struct lwm2m_path *paths;
	size_t max, n;
};

/* add_path resolves bn + n of a name-only record into the next path. */
static lwm2m_err
add_path(struct lwm2m__json *j, size_t at, const char *bn, size_t bn_len,
         const struct senml_rec *r, struct senml_paths *pl)
{
	char name[SENML_NAME_MAX + 1];

	if (r->has_value) {
		lwm2m_diag_set(j->diag, at, "SenML path record has a value");
		return LWM2M_EPROTO;
	}
	if (pl->n == pl->max) {
		lwm2m_diag_set(j->diag, at, "more than %zu paths", pl->max);
		return LWM2M_ELIMIT;
	}
	if (bn_len + r->n_len > SENML_NAME_MAX) {
		lwm2m_diag_set(j->diag, at, "SenML name too long");
		return LWM2M_EPROTO;
	}
	memcpy(name, bn, bn_len);
	memcpy(name + bn_len, r->n, r->n_len);
	if (bn_len + r->n_len == 0 || name[0] != '/' ||
	    lwm2m_path_parse(name, bn_len + r->n_len, &pl->paths[pl->n]) !=
	        LWM2M_OK) {
		lwm2m_diag_set(j->diag, at, "SenML name \"%.*s\" is not a path",
		               (int)(bn_len + r->n_len), name);
		return LWM2M_EPROTO;
	}
	pl->n++;
	return LWM2M_OK;
}

/* read_record reads one record: a value stored into the tree, or with pl
 * set a name-only record appended to pl. */
static lwm2m_err
read_record(struct lwm2m__json *j, const struct lwm2m_path *base,
            const char **bn, size_t *bn_len, struct senml_paths *pl)
{
	struct senml_rec r = {.n = "", .n_len = 0};
	size_t at, key_len;
	const char *key;
	bool first = true;
	lwm2m_err err;

	lwm2m__json_peek(j);
	at = j->pos;
	if ((err = lwm2m__json_expect(j, '{')) != LWM2M_OK) {
		return err;
	}
	if ((err = lwm2m__json_enter(j)) != LWM2M_OK) {
		return err;
	}
	while (lwm2m__json_more(j, '}', first, &err)) {
		first = false;
		if ((err = lwm2m__json_string(j, &key, &key_len)) != LWM2M_OK ||
		    (err = lwm2m__json_expect(j, ':')) != LWM2M_OK ||
		    (err = read_label(j, key, key_len, &r, bn, bn_len)) !=
		        LWM2M_OK) {
			return err;
		}
	}
	if (err != LWM2M_OK) {
		return err;
	}
	lwm2m__json_leave(j);
	if (pl != NULL) {
		return add_path(j, at, *bn, *bn_len, &r, pl);
	}
	if (!r.has_value) {
		lwm2m_diag_set(j->diag, at, "SenML record without a value");
		return LWM2M_EPROTO;
	}
	return lwm2m__json_store(j, at, *bn, *bn_len, r.n, r.n_len, &r.v, base);
}

static lwm2m_err
decode(const uint8_t *buf, size_t len, const struct lwm2m_path *base,
       struct lwm2m_tree *tree, struct senml_paths *pl, struct lwm2m_diag *diag)
{
	struct lwm2m__json j = {.buf = buf,
	                        .len = len,
	                        .tree = tree,
	                        .diag = diag,
	                        .max_depth = tree->limits->max_depth};
	const char *bn = "";
	size_t bn_len = 0;
	bool first = true;
	lwm2m_err err;

	if ((err = lwm2m__json_expect(&j, '[')) != LWM2M_OK ||
	    (err = lwm2m__json_enter(&j)) != LWM2M_OK) {
		return err;
	}
	while (lwm2m__json_more(&j, ']', first, &err)) {
		first = false;
		err = read_record(&j, base, &bn, &bn_len, pl);
		if (err != LWM2M_OK) {
			return err;
		}
	}
	if (err == LWM2M_OK && lwm2m__json_peek(&j) != LWM2M__JSON_END) {
		lwm2m_diag_set(diag, j.pos, "JSON: data after the SenML array");
		return LWM2M_EPROTO;
	}
	return err;
}

lwm2m_err
lwm2m_senml_json_decode(const uint8_t *buf, size_t len,
                        const struct lwm2m_path *base, struct lwm2m_tree *tree,
                        struct lwm2m_diag *diag)
{
	return decode(buf, len, base, tree, NULL, diag);
}

lwm2m_err
lwm2m_senml_json_decode_paths(const uint8_t *buf, size_t len,
                              struct lwm2m_tree *scratch,
                              struct lwm2m_path *ret_paths, size_t max_paths,
                              size_t *ret_n, struct lwm2m_diag *diag)
{
	struct senml_paths pl = {.paths = ret_paths, .max = max_paths};
	lwm2m_err err = decode(buf, len, NULL, scratch, &pl, diag);

	if (err == LWM2M_OK) {
		*ret_n = pl.n;
	}
	return err;
}

/* ---- encoder ------------------------------------------------------------ */

struct senml_enc {
	struct lwm2m_buf *out;
	uint8_t base_len;
	const char *bn;
	size_t bn_len;
	bool first;
};

static lwm2m_err
put_vd(struct lwm2m_buf *out, const struct lwm2m_value *v)
{
	size_t n = lwm2m_b64_encoded_len(v->v.bytes.len, true);
	char *tmp = malloc(n + 1);
	lwm2m_err err;

	if (tmp == NULL) {
		return LWM2M_ENOMEM;
	}
	lwm2m_b64_encode(v->v.bytes.ptr, v->v.bytes.len, tmp, true);
	err = lwm2m_buf_puts(out, "\"vd\":");
	if (err == LWM2M_OK) {
		err = lwm2m__json_put_string(out, (const uint8_t *)tmp, n);
	}
	free(tmp);
	return err;
}

static lwm2m_err
put_value(struct lwm2m_buf *out, const struct lwm2m_value *v)
{
	char tmp[48];
	int n;

	switch (v->type) {
	case LWM2M_TYPE_RAW:
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		if (lwm2m_buf_puts(out, "\"vs\":") != LWM2M_OK) {
			return LWM2M_ENOMEM;
		}
		return lwm2m__json_put_string(out, v->v.bytes.ptr,
		                              v->v.bytes.len);
	case LWM2M_TYPE_OPAQUE:
		return put_vd(out, v);
	case LWM2M_TYPE_BOOLEAN:
		return lwm2m_buf_puts(out,
		                      v->v.b ? "\"vb\":true" : "\"vb\":false");
	case LWM2M_TYPE_OBJLNK:
		n = snprintf(tmp, sizeof(tmp), "\"vlo\":\"%u:%u\"",
		             (unsigned)v->v.lnk.obj, (unsigned)v->v.lnk.inst);
		break;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
	case LWM2M_TYPE_UNSIGNED:
	case LWM2M_TYPE_FLOAT:
		return lwm2m__json_put_number(out, v);
	case LWM2M_TYPE_NONE:
	default:
		return LWM2M_EINVAL;
	}
	if (n < 0) {
		return LWM2M_EINVAL;
	}
	return lwm2m_buf_append(out, tmp, (size_t)n);
}

static lwm2m_err
put_record(void *ctx, const struct lwm2m_node *leaf)
{
	struct senml_enc *e = ctx;
	char name[32];
	size_t n = lwm2m__relative_name(leaf, e->base_len, name);
	lwm2m_err err = lwm2m_buf_puts(e->out, e->first ? "{" : ",{");

	if (err == LWM2M_OK && e->first) {
		err = lwm2m_buf_puts(e->out, "\"bn\":");
		err = err ? err
		          : lwm2m__json_put_string(
		                e->out, (const uint8_t *)e->bn, e->bn_len);
		err = err ? err : lwm2m_buf_puts(e->out, ",");
	}
	if (err == LWM2M_OK && n > 0) {
		err = lwm2m_buf_puts(e->out, "\"n\":");
		err = err ? err
		          : lwm2m__json_put_string(e->out,
		                                   (const uint8_t *)name, n);
		err = err ? err : lwm2m_buf_puts(e->out, ",");
	}
	e->first = false;
	err = err ? err : put_value(e->out, &leaf->value);
	return err ? err : lwm2m_buf_puts(e->out, "}");
}

lwm2m_err
lwm2m_senml_json_encode(const struct lwm2m_tree *tree,
                        const struct lwm2m_path *base, struct lwm2m_buf *out)
{
	const struct lwm2m_node *node = lwm2m_tree_get(tree, base);
	char bn[32];
	struct senml_enc e = {
	    .out = out, .base_len = base->len, .bn = bn, .first = true};
	lwm2m_err err;

	if (node == NULL) {
		return LWM2M_ENOTFOUND;
	}
	e.bn_len = lwm2m__base_name(tree, base, bn);
	err = lwm2m_buf_puts(out, "[");
	err = err ? err : lwm2m__tree_leaves(node, put_record, &e);
	return err ? err : lwm2m_buf_puts(out, "]");
}
