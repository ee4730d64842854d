/* lwm2m_senml_cbor.c - SenML CBOR (content format 112) for LwM2M 1.1+. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lwm2m_cbor.h"
#include "lwm2m_codec_internal.h"

/* SenML CBOR labels (RFC 8428 table 6) used or checked here. */
enum {
	L_BVER = -1,
	L_BN = -2,
	L_BT = -3,
	L_BU = -4,
	L_N = 0,
	L_U = 1,
	L_V = 2,
	L_VS = 3,
	L_VB = 4,
	L_T = 6,
	L_UT = 7,
	L_VD = 8,
	L_VLO = 9, /* the text label "vlo"; 9 is unassigned in RFC 8428 */
};

#define NAME_MAX_LEN 64 /* "/65535/65535/65535/65535" is 24 */

struct sdec {
	struct lwm2m_cbor_reader r;
	struct lwm2m_tree *tree;
	const struct lwm2m_path *base;
	lwm2m_senml_record_cb cb;
	void *ctx;
	bool cb_fills_diag;
	struct lwm2m_path *paths; /* set: name-only records, see _paths */
	size_t max_paths, n_paths;
	char bn[NAME_MAX_LEN + 1];
	size_t bn_len;
	double bt;
};

/* One record as read, before its name is resolved. */
struct srec {
	size_t offset;
	uint32_t seen; /* bit (label + 8) per label met */
	const uint8_t *n;
	size_t n_len;
	double t;
	struct lwm2m_value v;
	int n_values;
};

static lwm2m_err
read_number(struct sdec *d, const struct lwm2m_cbor_item *it, double *ret)
{
	if (it->tagged ||
	    (it->kind != LWM2M_CBOR_UINT && it->kind != LWM2M_CBOR_NEGINT &&
	     it->kind != LWM2M_CBOR_FLOAT)) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, it->offset,
		                       "a number is expected here");
	}
	if (it->kind == LWM2M_CBOR_FLOAT) {
		*ret = it->f;
	} else if (it->kind == LWM2M_CBOR_UINT) {
		*ret = (double)it->u;
	} else {
		*ret = -1.0 - (double)it->u;
	}
	return LWM2M_OK;
}

static lwm2m_err
expect(struct sdec *d, const struct lwm2m_cbor_item *it,
       enum lwm2m_cbor_kind kind, const char *what)
{
	bool ok = it->kind == kind ||
	          (kind == LWM2M_CBOR_TRUE && it->kind == LWM2M_CBOR_FALSE);

	if (!ok || it->tagged) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, it->offset,
		                       "%s is expected here", what);
	}
	return LWM2M_OK;
}

/* read_name checks a text name and returns its flat bytes. */
static lwm2m_err
read_name(struct sdec *d, const struct lwm2m_cbor_item *it, const uint8_t **ret,
          size_t *ret_len)
{
	lwm2m_err err = expect(d, it, LWM2M_CBOR_TEXT, "a text name");

	if (err == LWM2M_OK && it->len > NAME_MAX_LEN) {
		err =
		    lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, it->offset,
		                    "name longer than %d bytes", NAME_MAX_LEN);
	}
	if (err == LWM2M_OK) {
		*ret = lwm2m_cbor_string_flat(it, d->tree);
		*ret_len = it->len;
		err = *ret != NULL ? LWM2M_OK : LWM2M_ENOMEM;
	}
	return err;
}

static lwm2m_err
parse_objlnk(struct sdec *d, const struct lwm2m_cbor_item *it,
             struct lwm2m_value *v)
{
	const uint8_t *p;

	if (expect(d, it, LWM2M_CBOR_TEXT, "vlo text") != LWM2M_OK) {
		return LWM2M_EPROTO;
	}
	p = lwm2m_cbor_string_flat(it, d->tree);
	if (p == NULL) {
		return LWM2M_ENOMEM;
	}
	if (!lwm2m__parse_objlnk((const char *)p, it->len, v)) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, it->offset,
		                       "vlo must be \"oid:iid\" with ids "
		                       "0..65535");
	}
	return LWM2M_OK;
}

/* take_value handles the v, vs, vb, vd and vlo labels. */
static lwm2m_err
take_value(struct sdec *d, int label, const struct lwm2m_cbor_item *it,
           struct srec *rec)
{
	double num;
	lwm2m_err err;

	rec->n_values++;
	switch (label) {
	case L_V:
		err = read_number(d, it, &num); /* type check only */
		return err != LWM2M_OK
		           ? err
		           : lwm2m_cbor_item_value(&d->r, it, d->tree, &rec->v);
	case L_VS:
		err = expect(d, it, LWM2M_CBOR_TEXT, "vs text");
		break;
	case L_VB:
		err = expect(d, it, LWM2M_CBOR_TRUE, "a vb boolean");
		break;
	case L_VD:
		err = expect(d, it, LWM2M_CBOR_BYTES, "vd bytes");
		break;
	default:
		return parse_objlnk(d, it, &rec->v);
	}
	return err != LWM2M_OK
	           ? err
	           : lwm2m_cbor_item_value(&d->r, it, d->tree, &rec->v);
}

static lwm2m_err
take_base(struct sdec *d, int label, const struct lwm2m_cbor_item *it)
{
	const uint8_t *p;
	size_t len;
	lwm2m_err err;

	switch (label) {
	case L_BN:
		err = read_name(d, it, &p, &len);
		if (err == LWM2M_OK) {
			memcpy(d->bn, p, len);
			d->bn_len = len;
		}
		return err;
	case L_BT:
		return read_number(d, it, &d->bt);
	case L_BVER:
		return expect(d, it, LWM2M_CBOR_UINT, "a bver integer");
	default: /* bu, u */
		return expect(d, it, LWM2M_CBOR_TEXT, "a unit text");
	}
}

static lwm2m_err
take_field(struct sdec *d, int label, const struct lwm2m_cbor_item *it,
           struct srec *rec)
{
	double ignored;

	switch (label) {
	case L_N:
		return read_name(d, it, &rec->n, &rec->n_len);
	case L_T:
		return read_number(d, it, &rec->t);
	case L_UT:
		return read_number(d, it, &ignored);
	case L_V:
	case L_VS:
	case L_VB:
	case L_VD:
	case L_VLO:
		return take_value(d, label, it, rec);
	default:
		return take_base(d, label, it);
	}
}

/* read_label maps a key to a label; *ret_label is INT32_MIN for a text
 * label to skip. */
static lwm2m_err
read_label(struct sdec *d, int *ret_label)
{
	struct lwm2m_cbor_item k;
	lwm2m_err err = lwm2m_cbor_read(&d->r, &k);

	if (err != LWM2M_OK) {
		return err;
	}
	if (k.kind == LWM2M_CBOR_TEXT && !k.tagged && !k.indefinite) {
		if (k.len == 3 && memcmp(k.ptr, "vlo", 3) == 0) {
			*ret_label = L_VLO;
			return LWM2M_OK;
		}
		if (k.len == 0 || k.ptr[k.len - 1] == '_') {
			return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, k.offset,
			                       "unsupported must-understand "
			                       "label");
		}
		*ret_label = INT32_MIN;
		return LWM2M_OK;
	}
	if (!k.tagged && ((k.kind == LWM2M_CBOR_UINT && k.u <= 8) ||
	                  (k.kind == LWM2M_CBOR_NEGINT && k.u <= 3))) {
		*ret_label =
		    k.kind == LWM2M_CBOR_UINT ? (int)k.u : -1 - (int)k.u;
		if (*ret_label != 5) {
			return LWM2M_OK;
		}
	}
	return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, k.offset,
	                       "unsupported SenML label");
}

static lwm2m_err
read_pair(struct sdec *d, struct srec *rec)
{
	struct lwm2m_cbor_item it;
	int label = 0;
	size_t at = d->r.pos;
	lwm2m_err err = read_label(d, &label);

	if (err == LWM2M_OK) {
		err = lwm2m_cbor_read(&d->r, &it);
	}
	if (err != LWM2M_OK) {
		return err;
	}
	if (label == INT32_MIN) {
		return lwm2m_cbor_skip(&d->r, &it);
	}
	if (rec->seen & (1u << (label + 8))) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, at,
		                       "label %d twice in one record", label);
	}
	rec->seen |= 1u << (label + 8);
	return take_field(d, label, &it, rec);
}

/* join_name writes bn + n into name (2 * NAME_MAX_LEN + 1 bytes). */
static size_t
join_name(const struct sdec *d, const struct srec *rec, char *name)
{
	size_t len = d->bn_len + rec->n_len;

	memcpy(name, d->bn, d->bn_len);
	if (rec->n_len > 0) {
		memcpy(name + d->bn_len, rec->n, rec->n_len);
	}
	name[len] = '\0';
	return len;
}

/* resolve turns bn + n into a path at or below base. */
static lwm2m_err
resolve(struct sdec *d, const struct srec *rec, struct lwm2m_path *ret)
{
	char name[2 * NAME_MAX_LEN + 1];
	size_t len = join_name(d, rec, name);

	if (lwm2m_path_parse(name, len, ret) != LWM2M_OK ||
	    (ret->len != 3 && ret->len != 4)) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, rec->offset,
		                       "name \"%.*s\" is not a resource or "
		                       "resource instance path",
		                       (int)len, name);
	}
	if (!lwm2m_path_is_prefix(d->base, ret)) {
		return lwm2m_cbor_fail(
		    &d->r, LWM2M_EPROTO, rec->offset,
		    "name \"%s\" is outside the request path", name);
	}
	return LWM2M_OK;
}

/* emit_path appends the absolute path a name-only record names. */
static lwm2m_err
emit_path(struct sdec *d, const struct srec *rec)
{
	char name[2 * NAME_MAX_LEN + 1];
	size_t len = join_name(d, rec, name);

	if (rec->n_values != 0) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, rec->offset,
		                       "path record with a value");
	}
	if (d->n_paths == d->max_paths) {
		return lwm2m_cbor_fail(&d->r, LWM2M_ELIMIT, rec->offset,
		                       "more than %zu paths", d->max_paths);
	}
	if (len == 0 || name[0] != '/' ||
	    lwm2m_path_parse(name, len, &d->paths[d->n_paths]) != LWM2M_OK) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, rec->offset,
		                       "name \"%s\" is not a path", name);
	}
	d->n_paths++;
	return LWM2M_OK;
}

static lwm2m_err
emit(struct sdec *d, const struct srec *rec)
{
	struct lwm2m_path path;
	char p[32];
	lwm2m_err err;

	if (d->paths != NULL) {
		return emit_path(d, rec);
	}
	if (rec->n_values != 1) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, rec->offset,
		                       rec->n_values == 0
		                           ? "record without a value"
		                           : "record with several values");
	}
	err = resolve(d, rec, &path);
	if (err != LWM2M_OK) {
		return err;
	}
	err = d->cb(d->ctx, &path, &rec->v, d->bt + rec->t, rec->offset);
	if (err != LWM2M_OK && !d->cb_fills_diag) {
		lwm2m_path_format(&path, p, sizeof(p));
		return lwm2m_cbor_fail(&d->r, err, rec->offset,
		                       "record for %s rejected: %s", p,
		                       lwm2m_strerror(err));
	}
	return err;
}

static lwm2m_err
read_record(struct sdec *d)
{
	struct lwm2m_cbor_item map;
	struct srec rec = {0};
	bool more = true;
	lwm2m_err err = lwm2m_cbor_read(&d->r, &map);

	if (err == LWM2M_OK && (map.kind != LWM2M_CBOR_MAP || map.tagged)) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, map.offset,
		                       "a SenML record must be a map");
	}
	rec.offset = map.offset;
	while (err == LWM2M_OK) {
		err = lwm2m_cbor_next(&d->r, &map, &more);
		if (err != LWM2M_OK || !more) {
			break;
		}
		err = read_pair(d, &rec);
	}
	return err != LWM2M_OK ? err : emit(d, &rec);
}

static lwm2m_err
parse(struct sdec *d, const uint8_t *buf, size_t len, struct lwm2m_diag *diag)
{
	struct lwm2m_cbor_item top;
	bool more = true;
	lwm2m_err err;

	err = lwm2m_cbor_reader_init(&d->r, buf, len, d->tree->limits, diag);
	if (err == LWM2M_OK) {
		err = lwm2m_cbor_read(&d->r, &top);
	}
	if (err == LWM2M_OK && (top.kind != LWM2M_CBOR_ARRAY || top.tagged)) {
		return lwm2m_cbor_fail(
		    &d->r, LWM2M_EPROTO, top.offset,
		    "SenML CBOR must be an array of records");
	}
	while (err == LWM2M_OK) {
		err = lwm2m_cbor_next(&d->r, &top, &more);
		if (err != LWM2M_OK || !more) {
			break;
		}
		err = read_record(d);
	}
	return err != LWM2M_OK ? err : lwm2m_cbor_finish(&d->r);
}

lwm2m_err
lwm2m_senml_cbor_parse(const uint8_t *buf, size_t len,
                       const struct lwm2m_path *base, struct lwm2m_tree *tree,
                       lwm2m_senml_record_cb cb, void *ctx,
                       struct lwm2m_diag *diag)
{
	struct sdec d = {.tree = tree, .base = base, .cb = cb, .ctx = ctx};

	return parse(&d, buf, len, diag);
}

static lwm2m_err
tree_record(void *ctx, const struct lwm2m_path *path,
            const struct lwm2m_value *value, double time, size_t offset)
{
	struct sdec *d = ctx;

	(void)time;
	return lwm2m__cbor_set(&d->r, d->tree, path, value, offset);
}

lwm2m_err
lwm2m_senml_cbor_decode(const uint8_t *buf, size_t len,
                        const struct lwm2m_path *base, struct lwm2m_tree *tree,
                        struct lwm2m_diag *diag)
{
	struct sdec d = {.tree = tree,
	                 .base = base,
	                 .cb = tree_record,
	                 .cb_fills_diag = true};

	d.ctx = &d;
	return parse(&d, buf, len, diag);
}

lwm2m_err
lwm2m_senml_cbor_decode_paths(const uint8_t *buf, size_t len,
                              struct lwm2m_tree *scratch,
                              struct lwm2m_path *ret_paths, size_t max_paths,
                              size_t *ret_n, struct lwm2m_diag *diag)
{
	struct sdec d = {
	    .tree = scratch, .paths = ret_paths, .max_paths = max_paths};
	lwm2m_err err = parse(&d, buf, len, diag);

	if (err == LWM2M_OK) {
		*ret_n = d.n_paths;
	}
	return err;
}

/* ---- encoder --------------------------------------------------------- */

struct senc {
	struct lwm2m_cbor_writer w;
	char bn[32];
	size_t bn_len;
	bool first;
};

static uint64_t
count_values(const struct lwm2m_node *n)
{
	uint64_t count = 0;

	if (n->kind == LWM2M_NODE_RESOURCE ||
	    n->kind == LWM2M_NODE_RESOURCE_INSTANCE) {
		return 1;
	}
	for (const struct lwm2m_node *c = n->first_child; c != NULL;
	     c = c->next_sibling) {
		count += count_values(c);
	}
	return count;
}

static void
put_senml_value(struct lwm2m_cbor_writer *w, const struct lwm2m_value *v)
{
	switch (v->type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		lwm2m_cbor_put_int(w, L_VS);
		lwm2m_cbor_put_value(w, v);
		return;
	case LWM2M_TYPE_BOOLEAN:
		lwm2m_cbor_put_int(w, L_VB);
		lwm2m_cbor_put_value(w, v);
		return;
	case LWM2M_TYPE_RAW:
	case LWM2M_TYPE_OPAQUE:
		lwm2m_cbor_put_int(w, L_VD);
		lwm2m_cbor_put_value(w, v);
		return;
	case LWM2M_TYPE_OBJLNK:
		lwm2m_cbor_put_text(w, "vlo", 3);
		lwm2m_cbor_put_value(w, v);
		return;
	case LWM2M_TYPE_TIME:
		lwm2m_cbor_put_int(w, L_V);
		lwm2m_cbor_put_int(w, v->v.i);
		return;
	case LWM2M_TYPE_NONE:
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_UNSIGNED:
	case LWM2M_TYPE_FLOAT:
		lwm2m_cbor_put_int(w, L_V);
		lwm2m_cbor_put_value(w, v); /* NONE sets LWM2M_EINVAL */
		return;
	}
}

static void
put_record(struct senc *e, const struct lwm2m_node *n)
{
	struct lwm2m_path path;
	char name[32];
	int len;
	size_t rest;

	lwm2m_node_path(n, &path);
	len = lwm2m_path_format(&path, name, sizeof(name));
	rest = len > (int)e->bn_len ? (size_t)len - e->bn_len : 0;
	lwm2m_cbor_put_map(&e->w, 1 + (e->first ? 1 : 0) + (rest > 0 ? 1 : 0));
	if (e->first) {
		lwm2m_cbor_put_int(&e->w, L_BN);
		lwm2m_cbor_put_text(&e->w, e->bn, e->bn_len);
		e->first = false;
	}
	if (rest > 0) {
		lwm2m_cbor_put_int(&e->w, L_N);
		lwm2m_cbor_put_text(&e->w, name + e->bn_len, rest);
	}
	put_senml_value(&e->w, &n->value);
}

static void
put_records(struct senc *e, const struct lwm2m_node *n)
{
	if (n->kind == LWM2M_NODE_RESOURCE ||
	    n->kind == LWM2M_NODE_RESOURCE_INSTANCE) {
		put_record(e, n);
		return;
	}
	for (const struct lwm2m_node *c = n->first_child; c != NULL;
	     c = c->next_sibling) {
		put_records(e, c);
	}
}

lwm2m_err
lwm2m_senml_cbor_encode(const struct lwm2m_tree *tree,
                        const struct lwm2m_path *base, struct lwm2m_buf *out)
{
	const struct lwm2m_node *n = lwm2m_tree_get(tree, base);
	struct senc e = {.first = true};
	int len;

	if (n == NULL) {
		return LWM2M_ENOTFOUND;
	}
	len = lwm2m_path_format(base, e.bn, sizeof(e.bn) - 1);
	if (len < 0) {
		return LWM2M_EINVAL;
	}
	if (n->first_child != NULL && base->len > 0) {
		e.bn[len++] = '/';
		e.bn[len] = '\0';
	}
	e.bn_len = (size_t)len;
	lwm2m_cbor_writer_init(&e.w, out);
	lwm2m_cbor_put_array(&e.w, count_values(n));
	put_records(&e, n);
	return e.w.err;
}

lwm2m_err
lwm2m_senml_cbor_encode_paths(const struct lwm2m_path *paths, size_t n,
                              struct lwm2m_buf *out)
{
	struct lwm2m_cbor_writer w;
	char name[32];
	int len;

	lwm2m_cbor_writer_init(&w, out);
	lwm2m_cbor_put_array(&w, n);
	for (size_t i = 0; i < n; i++) {
		len = lwm2m_path_format(&paths[i], name, sizeof(name));
		if (len < 0) {
			return LWM2M_EINVAL;
		}
		lwm2m_cbor_put_map(&w, 1);
		lwm2m_cbor_put_int(&w, L_N);
		lwm2m_cbor_put_text(&w, name, (size_t)len);
	}
	return w.err;
}
