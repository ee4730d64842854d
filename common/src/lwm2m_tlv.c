/* lwm2m_tlv.c - OMA TLV (11542, legacy 1542), Core TS 7.4.3.
 *
 * Header byte: bits 7-6 item type (00 object instance, 01 resource instance,
 * 10 multiple resource, 11 resource with value), bit 5 identifier length
 * (0: 8 bits, 1: 16 bits), bits 4-3 length type (00: length in bits 2-0,
 * 01/10/11: 8/16/24-bit length field follows the identifier).
 * Values carry no type: they decode to RAW; lwm2m_value_coerce() with
 * from_text = false reads integers as big-endian two's complement (a one
 * byte integer is signed: 0xFF is -1). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "lwm2m_codec_internal.h"
#include "lwm2m_value.h"

enum tlv_kind {
	TLV_INSTANCE = 0,
	TLV_RES_INSTANCE = 1,
	TLV_MULTI = 2,
	TLV_RESOURCE = 3,
};

#define TLV_MAX_LEN 0xFFFFFFu

struct tlv_item {
	enum tlv_kind kind;
	uint16_t id;
	size_t start;     /* offset of the header */
	size_t value_off; /* offset of the value */
	size_t value_len;
};

struct tlv_dec {
	const uint8_t *buf;
	struct lwm2m_tree *tree;
	struct lwm2m_diag *diag;
};

static const char *const kind_names[] = {"object instance", "resource instance",
                                         "multiple resource", "resource"};

/* Reads one header at pos, which is below end; the value must end by end. */
static lwm2m_err
read_header(const struct tlv_dec *d, size_t pos, size_t end,
            struct tlv_item *ret_item)
{
	const uint8_t *b = d->buf;
	uint8_t h = b[pos];
	size_t id_len = (h & 0x20) ? 2 : 1, len_len = (h >> 3) & 3;
	size_t p = pos + 1, vlen = h & 7;

	if (end - p < id_len + len_len) {
		lwm2m_diag_set(d->diag, pos,
		               "TLV header truncated: needs %zu "
		               "bytes of identifier and length",
		               id_len + len_len);
		return LWM2M_EPROTO;
	}
	ret_item->id = id_len == 2 ? (uint16_t)(b[p] << 8 | b[p + 1]) : b[p];
	p += id_len;
	if (len_len > 0) {
		vlen = 0;
		for (size_t i = 0; i < len_len; i++) {
			vlen = vlen << 8 | b[p + i];
		}
		p += len_len;
	}
	if (end - p < vlen) {
		lwm2m_diag_set(d->diag, pos,
		               "TLV value length %zu runs past "
		               "the end of its container (%zu bytes left)",
		               vlen, end - p);
		return LWM2M_EPROTO;
	}
	if (ret_item->id == 65535) {
		lwm2m_diag_set(d->diag, pos + 1,
		               "TLV identifier 65535 is "
		               "reserved");
		return LWM2M_EPROTO;
	}
	ret_item->kind = (enum tlv_kind)(h >> 6);
	ret_item->start = pos;
	ret_item->value_off = p;
	ret_item->value_len = vlen;
	return LWM2M_OK;
}

static struct lwm2m_path
path_plus(const struct lwm2m_path *p, uint16_t id)
{
	struct lwm2m_path q = *p;

	q.ids[q.len++] = id;
	return q;
}

static lwm2m_err
tree_error(const struct tlv_dec *d, lwm2m_err err, size_t off,
           const struct lwm2m_path *path)
{
	char text[32];

	if (lwm2m_path_format(path, text, sizeof(text)) < 0) {
		text[0] = '\0';
	}
	if (err == LWM2M_ELIMIT) {
		lwm2m_diag_set(d->diag, off,
		               "%s: too many nodes or value too "
		               "long",
		               text);
	} else if (err == LWM2M_EPROTO) {
		lwm2m_diag_set(d->diag, off,
		               "%s: duplicate or conflicting "
		               "item",
		               text);
	}
	return err;
}

static lwm2m_err decode_items(const struct tlv_dec *d, size_t pos, size_t end,
                              const struct lwm2m_path *parent, int want_id);

/* One item whose parent is at `parent` (length 1, 2 or 3). */
static lwm2m_err
decode_item(const struct tlv_dec *d, const struct tlv_item *it,
            const struct lwm2m_path *parent)
{
	static const enum tlv_kind expect[] = {TLV_INSTANCE, TLV_RESOURCE,
	                                       TLV_RES_INSTANCE};
	struct lwm2m_path path = path_plus(parent, it->id);
	struct lwm2m_value v = {.type = LWM2M_TYPE_RAW};
	struct lwm2m_node *n;
	lwm2m_err err;

	if (it->kind != expect[parent->len - 1] &&
	    !(parent->len == 2 && it->kind == TLV_MULTI)) {
		lwm2m_diag_set(d->diag, it->start,
		               "TLV %s not allowed under "
		               "a path of length %u",
		               kind_names[it->kind], (unsigned)parent->len);
		return LWM2M_EPROTO;
	}
	if (it->kind == TLV_INSTANCE || it->kind == TLV_MULTI) {
		err = lwm2m_tree_add_node(d->tree, &path, it->kind == TLV_MULTI,
		                          &n);
		if (err != LWM2M_OK) {
			return tree_error(d, err, it->start, &path);
		}
		return decode_items(d, it->value_off,
		                    it->value_off + it->value_len, &path, -1);
	}
	v.v.bytes.ptr = d->buf + it->value_off;
	v.v.bytes.len = it->value_len;
	err = lwm2m_tree_set(d->tree, &path, &v);
	if (err != LWM2M_OK) {
		return tree_error(d, err, it->start, &path);
	}
	return LWM2M_OK;
}

/* Items in [pos, end) under parent; want_id >= 0 requires that id. */
static lwm2m_err
decode_items(const struct tlv_dec *d, size_t pos, size_t end,
             const struct lwm2m_path *parent, int want_id)
{
	struct tlv_item it;
	lwm2m_err err;

	while (pos < end) {
		err = read_header(d, pos, end, &it);
		if (err != LWM2M_OK) {
			return err;
		}
		if (want_id >= 0 && it.id != want_id) {
			lwm2m_diag_set(d->diag, pos,
			               "TLV identifier %u does not "
			               "match the request path (%d)",
			               (unsigned)it.id, want_id);
			return LWM2M_EPROTO;
		}
		err = decode_item(d, &it, parent);
		if (err != LWM2M_OK) {
			return err;
		}
		pos = it.value_off + it.value_len;
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_tlv_decode(const uint8_t *buf, size_t len, const struct lwm2m_path *base,
                 struct lwm2m_tree *tree, struct lwm2m_diag *diag)
{
	struct tlv_dec d = {.buf = buf, .tree = tree, .diag = diag};
	struct lwm2m_path parent = *base;
	struct lwm2m_node *n;
	int want_id = -1;

	if (base->len == 0) {
		lwm2m_diag_set(diag, 0,
		               "TLV cannot address the root: it has "
		               "no object identifiers");
		return LWM2M_EPROTO;
	}
	/* A request path below the object is either the parent of the
	 * items or, with a matching id, the item itself. */
	if (base->len == 4 ||
	    (base->len == 3 && len > 0 && (buf[0] >> 6) != TLV_RES_INSTANCE) ||
	    (base->len == 2 && len > 0 && (buf[0] >> 6) == TLV_INSTANCE)) {
		want_id = base->ids[base->len - 1];
		parent.len--;
	} else {
		/* Some 1.0 clients answer a Read of a single-instance object
		 * with its resources, no instance item: read them as
		 * instance 0. */
		if (base->len == 1 && len > 0 &&
		    (buf[0] >> 6) != TLV_INSTANCE) {
			parent.ids[parent.len++] = 0;
		}
		/* The request path itself exists even when the payload is
		 * empty: an object or instance without children, or a
		 * multiple resource without instances. */
		lwm2m_err err =
		    lwm2m_tree_add_node(tree, &parent, base->len == 3, &n);

		if (err != LWM2M_OK) {
			return tree_error(&d, err, 0, base);
		}
	}
	return decode_items(&d, 0, len, &parent, want_id);
}

/* ---- encoder ------------------------------------------------------------ */

static void
put_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	}
}

static size_t
int_width(int64_t i)
{
	if (i >= INT8_MIN && i <= INT8_MAX) {
		return 1;
	}
	if (i >= INT16_MIN && i <= INT16_MAX) {
		return 2;
	}
	return (i >= INT32_MIN && i <= INT32_MAX) ? 4 : 8;
}

static size_t
float_bytes(double f, uint8_t tmp[8])
{
	uint64_t u;

	if (isnan(f) || isinf(f) ||
	    (fabs(f) <= FLT_MAX && (double)(float)f == f)) {
		float g = (float)f;
		uint32_t w;

		memcpy(&w, &g, sizeof(w));
		put_be(tmp, w, 4);
		return 4;
	}
	memcpy(&u, &f, sizeof(u));
	put_be(tmp, u, 8);
	return 8;
}

/* The TLV value bytes of v: either in tmp or pointing at v's bytes. */
static lwm2m_err
value_bytes(const struct lwm2m_value *v, uint8_t tmp[8], const uint8_t **ret_p,
            size_t *ret_len)
{
	size_t n = 0;

	*ret_p = tmp;
	switch (v->type) {
	case LWM2M_TYPE_NONE:
		return LWM2M_EINVAL;
	case LWM2M_TYPE_RAW:
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		*ret_p = v->v.bytes.ptr;
		n = v->v.bytes.len;
		break;
	case LWM2M_TYPE_UNSIGNED:
		n = v->v.u > (uint64_t)INT64_MAX ? 8 : int_width(v->v.i);
		put_be(tmp, v->v.u, n);
		break;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		n = int_width(v->v.i);
		put_be(tmp, v->v.u, n);
		break;
	case LWM2M_TYPE_FLOAT:
		n = float_bytes(v->v.f, tmp);
		break;
	case LWM2M_TYPE_BOOLEAN:
		tmp[0] = v->v.b ? 1 : 0;
		n = 1;
		break;
	case LWM2M_TYPE_OBJLNK:
		put_be(tmp, v->v.lnk.obj, 2);
		put_be(tmp + 2, v->v.lnk.inst, 2);
		n = 4;
		break;
	}
	*ret_len = n;
	return LWM2M_OK;
}

static lwm2m_err
put_header(struct lwm2m_buf *out, enum tlv_kind kind, uint16_t id, size_t len)
{
	uint8_t h[6];
	size_t n = 1, len_len;

	if (len > TLV_MAX_LEN) {
		return LWM2M_EINVAL;
	}
	len_len = len < 8 ? 0 : len <= 0xFF ? 1 : len <= 0xFFFF ? 2 : 3;
	h[0] = (uint8_t)(kind << 6 | (id > 0xFF ? 0x20 : 0) | len_len << 3 |
	                 (len_len == 0 ? len : 0));
	if (id > 0xFF) {
		put_be(h + n, id, 2);
		n += 2;
	} else {
		h[n++] = (uint8_t)id;
	}
	put_be(h + n, len, len_len);
	return lwm2m_buf_append(out, h, n + len_len);
}

static lwm2m_err encode_node(const struct lwm2m_node *node,
                             struct lwm2m_buf *out);

static lwm2m_err
encode_children(const struct lwm2m_node *node, struct lwm2m_buf *out)
{
	lwm2m_err err = LWM2M_OK;

	for (const struct lwm2m_node *c = node->first_child;
	     c != NULL && err == LWM2M_OK; c = c->next_sibling) {
		err = encode_node(c, out);
	}
	return err;
}

static lwm2m_err
encode_node(const struct lwm2m_node *node, struct lwm2m_buf *out)
{
	struct lwm2m_buf inner = {0};
	const uint8_t *p;
	uint8_t tmp[8];
	size_t len;
	lwm2m_err err;

	if (node->kind == LWM2M_NODE_RESOURCE ||
	    node->kind == LWM2M_NODE_RESOURCE_INSTANCE) {
		err = value_bytes(&node->value, tmp, &p, &len);
		if (err == LWM2M_OK) {
			err = put_header(out,
			                 node->kind == LWM2M_NODE_RESOURCE
			                     ? TLV_RESOURCE
			                     : TLV_RES_INSTANCE,
			                 node->id, len);
		}
		return err != LWM2M_OK ? err : lwm2m_buf_append(out, p, len);
	}
	if (node->kind != LWM2M_NODE_INSTANCE &&
	    node->kind != LWM2M_NODE_MULTI_RESOURCE) {
		return LWM2M_EINVAL;
	}
	err = encode_children(node, &inner);
	if (err == LWM2M_OK) {
		err =
		    put_header(out,
		               node->kind == LWM2M_NODE_INSTANCE ? TLV_INSTANCE
		                                                 : TLV_MULTI,
		               node->id, inner.len);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_buf_append(out, inner.data, inner.len);
	}
	lwm2m_buf_fini(&inner);
	return err;
}

lwm2m_err
lwm2m_tlv_encode(const struct lwm2m_tree *tree, const struct lwm2m_path *base,
                 struct lwm2m_buf *out)
{
	const struct lwm2m_node *n = lwm2m_tree_get(tree, base);

	if (n == NULL || base->len == 0) {
		return LWM2M_EINVAL;
	}
	if (base->len <= 2) {
		return encode_children(n, out);
	}
	return encode_node(n, out);
}
