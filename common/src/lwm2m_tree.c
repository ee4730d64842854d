/* lwm2m_tree.c - the value tree: arena, nodes, paths and value equality. */
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_codec_internal.h"
#include "lwm2m_id.h"
#include "lwm2m_value.h"

#define ARENA_CHUNK 4096
#define LWM2M_ID_RESERVED 65535

/* One chunk of the bump allocator; chunks form a list, newest first. */
struct lwm2m_arena {
	struct lwm2m_arena *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

const struct lwm2m_limits lwm2m_limits_default = {
    .max_nodes = 65536,
    .max_depth = 16,
    .max_value_len = 1024 * 1024,
    .max_input_len = 4 * 1024 * 1024,
};

void
lwm2m_tree_init(struct lwm2m_tree *tree, const struct lwm2m_limits *limits)
{
	memset(tree, 0, sizeof(*tree));
	tree->root.kind = LWM2M_NODE_ROOT;
	tree->limits = limits != NULL ? limits : &lwm2m_limits_default;
}

void
lwm2m_tree_fini(struct lwm2m_tree *tree)
{
	struct lwm2m_arena *a, *next;

	if (tree == NULL) {
		return;
	}
	for (a = tree->arena; a != NULL; a = next) {
		next = a->next;
		free(a);
	}
	tree->arena = NULL;
	memset(&tree->root, 0, sizeof(tree->root));
	tree->root.kind = LWM2M_NODE_ROOT;
	tree->n_nodes = 0;
}

void *
lwm2m_tree_alloc(struct lwm2m_tree *tree, size_t len)
{
	const size_t align = alignof(max_align_t);
	struct lwm2m_arena *a = tree->arena;
	size_t need = (len + align - 1) & ~(align - 1);
	void *p;

	if (need < len) {
		return NULL;
	}
	if (a == NULL || a->cap - a->used < need) {
		size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

		if (cap > SIZE_MAX - sizeof(*a)) {
			return NULL;
		}
		a = malloc(sizeof(*a) + cap);
		if (a == NULL) {
			return NULL;
		}
		a->cap = cap;
		a->used = 0;
		/* A big one-off block goes behind the current chunk so the
		 * current chunk's free space stays usable. */
		if (need > ARENA_CHUNK && tree->arena != NULL) {
			a->next = tree->arena->next;
			tree->arena->next = a;
		} else {
			a->next = tree->arena;
			tree->arena = a;
		}
	}
	p = a->data + a->used;
	a->used += need;
	return p;
}

struct lwm2m_node *
lwm2m_node_child(const struct lwm2m_node *node, uint16_t id)
{
	struct lwm2m_node *c;

	if (node->last_child != NULL && node->last_child->id < id) {
		return NULL;
	}
	for (c = node->first_child; c != NULL && c->id <= id;
	     c = c->next_sibling) {
		if (c->id == id) {
			return c;
		}
	}
	return NULL;
}

struct lwm2m_node *
lwm2m_tree_get(const struct lwm2m_tree *tree, const struct lwm2m_path *path)
{
	const struct lwm2m_node *n = &tree->root;

	if (path->len > LWM2M_PATH_MAX_LEN) {
		return NULL;
	}
	for (uint8_t i = 0; i < path->len && n != NULL; i++) {
		n = lwm2m_node_child(n, path->ids[i]);
	}
	return (struct lwm2m_node *)n;
}

/* Links child into parent's sorted list; the id is known to be absent. */
static void
link_child(struct lwm2m_node *parent, struct lwm2m_node *child)
{
	struct lwm2m_node **pp = &parent->first_child;

	child->parent = parent;
	if (parent->last_child == NULL || parent->last_child->id < child->id) {
		if (parent->last_child != NULL) {
			pp = &parent->last_child->next_sibling;
		}
		parent->last_child = child;
	} else {
		while (*pp != NULL && (*pp)->id < child->id) {
			pp = &(*pp)->next_sibling;
		}
	}
	child->next_sibling = *pp;
	*pp = child;
	parent->n_children++;
}

static enum lwm2m_node_kind
kind_at(uint8_t depth, uint8_t len, bool multi)
{
	switch (depth) {
	case 1:
		return LWM2M_NODE_OBJECT;
	case 2:
		return LWM2M_NODE_INSTANCE;
	case 3:
		return (depth < len || multi) ? LWM2M_NODE_MULTI_RESOURCE
		                              : LWM2M_NODE_RESOURCE;
	default:
		return LWM2M_NODE_RESOURCE_INSTANCE;
	}
}

static lwm2m_err
new_child(struct lwm2m_tree *tree, struct lwm2m_node *parent, uint16_t id,
          enum lwm2m_node_kind kind, struct lwm2m_node **ret_node)
{
	struct lwm2m_node *n;

	if (tree->n_nodes >= tree->limits->max_nodes) {
		return LWM2M_ELIMIT;
	}
	n = lwm2m_tree_alloc(tree, sizeof(*n));
	if (n == NULL) {
		return LWM2M_ENOMEM;
	}
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->id = id;
	link_child(parent, n);
	tree->n_nodes++;
	*ret_node = n;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_tree_add_node(struct lwm2m_tree *tree, const struct lwm2m_path *path,
                    bool multi, struct lwm2m_node **ret_node)
{
	struct lwm2m_node *n = &tree->root, *c;
	lwm2m_err err;

	if (path->len > LWM2M_PATH_MAX_LEN) {
		return LWM2M_EINVAL;
	}
	for (uint8_t i = 0; i < path->len; i++) {
		enum lwm2m_node_kind kind = kind_at(i + 1, path->len, multi);

		if (path->ids[i] == LWM2M_ID_RESERVED) {
			return LWM2M_EPROTO;
		}
		c = lwm2m_node_child(n, path->ids[i]);
		if (c == NULL) {
			err = new_child(tree, n, path->ids[i], kind, &c);
			if (err != LWM2M_OK) {
				return err;
			}
		} else if (c->kind != kind) {
			return LWM2M_EPROTO;
		}
		n = c;
	}
	*ret_node = n;
	return LWM2M_OK;
}

static bool
type_has_bytes(enum lwm2m_type t)
{
	return t == LWM2M_TYPE_RAW || t == LWM2M_TYPE_STRING ||
	       t == LWM2M_TYPE_OPAQUE || t == LWM2M_TYPE_CORELNK;
}

lwm2m_err
lwm2m_tree_set(struct lwm2m_tree *tree, const struct lwm2m_path *path,
               const struct lwm2m_value *value)
{
	struct lwm2m_node *n;
	struct lwm2m_value v = *value;
	lwm2m_err err;

	if ((path->len != 3 && path->len != 4) ||
	    value->type == LWM2M_TYPE_NONE ||
	    value->type > LWM2M_TYPE_CORELNK) {
		return LWM2M_EINVAL;
	}
	if (type_has_bytes(v.type) &&
	    v.v.bytes.len > tree->limits->max_value_len) {
		return LWM2M_ELIMIT;
	}
	err = lwm2m_tree_add_node(tree, path, false, &n);
	if (err != LWM2M_OK) {
		return err;
	}
	if (n->value.type != LWM2M_TYPE_NONE) {
		return LWM2M_EPROTO;
	}
	if (type_has_bytes(v.type) && v.v.bytes.len > 0) {
		uint8_t *copy = lwm2m_tree_alloc(tree, v.v.bytes.len);

		if (copy == NULL) {
			return LWM2M_ENOMEM;
		}
		memcpy(copy, v.v.bytes.ptr, v.v.bytes.len);
		v.v.bytes.ptr = copy;
	} else if (type_has_bytes(v.type)) {
		v.v.bytes.ptr = (const uint8_t *)"";
	}
	n->value = v;
	return LWM2M_OK;
}

void
lwm2m_node_path(const struct lwm2m_node *node, struct lwm2m_path *ret_path)
{
	struct lwm2m_path p = {0};
	const struct lwm2m_node *n;
	uint8_t depth = 0;

	for (n = node; n != NULL && n->kind != LWM2M_NODE_ROOT; n = n->parent) {
		depth++;
	}
	if (depth > LWM2M_PATH_MAX_LEN) {
		depth = LWM2M_PATH_MAX_LEN;
	}
	p.len = depth;
	for (n = node; depth > 0; n = n->parent) {
		p.ids[--depth] = n->id;
	}
	*ret_path = p;
}

lwm2m_err
lwm2m_path_parse(const char *text, size_t len, struct lwm2m_path *ret_path)
{
	struct lwm2m_path p = {0};
	size_t i = 0;

	if (len > 0 && text[0] == '/') {
		i = 1;
	} else if (len == 0) {
		return LWM2M_EPROTO;
	}
	while (i < len) {
		uint32_t id = 0;
		size_t start = i;

		while (i < len && text[i] >= '0' && text[i] <= '9' &&
		       i - start < 6) {
			id = id * 10 + (uint32_t)(text[i] - '0');
			i++;
		}
		if (i == start || id >= LWM2M_ID_RESERVED ||
		    p.len == LWM2M_PATH_MAX_LEN) {
			return LWM2M_EPROTO;
		}
		p.ids[p.len++] = (uint16_t)id;
		if (i < len && text[i] != '/') {
			return LWM2M_EPROTO;
		}
		i++;
	}
	*ret_path = p;
	return LWM2M_OK;
}

int
lwm2m_path_format(const struct lwm2m_path *path, char *buf, size_t size)
{
	size_t off = 0;
	int n;

	if (size == 0 || path->len > LWM2M_PATH_MAX_LEN) {
		return -1;
	}
	if (path->len == 0) {
		n = snprintf(buf, size, "/");
		return (size_t)n < size ? n : -1;
	}
	buf[0] = '\0';
	for (uint8_t i = 0; i < path->len; i++) {
		n = snprintf(buf + off, size - off, "/%u",
		             (unsigned)path->ids[i]);
		if (n < 0 || (size_t)n >= size - off) {
			return -1;
		}
		off += (size_t)n;
	}
	return (int)off;
}

bool
lwm2m_path_is_prefix(const struct lwm2m_path *prefix,
                     const struct lwm2m_path *path)
{
	if (prefix->len > path->len || path->len > LWM2M_PATH_MAX_LEN) {
		return false;
	}
	for (uint8_t i = 0; i < prefix->len; i++) {
		if (prefix->ids[i] != path->ids[i]) {
			return false;
		}
	}
	return true;
}

bool
lwm2m_value_equal(const struct lwm2m_value *a, const struct lwm2m_value *b)
{
	if (a->type != b->type) {
		return false;
	}
	switch (a->type) {
	case LWM2M_TYPE_NONE:
		return true;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		return a->v.i == b->v.i;
	case LWM2M_TYPE_UNSIGNED:
		return a->v.u == b->v.u;
	case LWM2M_TYPE_FLOAT:
		return a->v.f == b->v.f ||
		       (a->v.f != a->v.f && b->v.f != b->v.f);
	case LWM2M_TYPE_BOOLEAN:
		return a->v.b == b->v.b;
	case LWM2M_TYPE_OBJLNK:
		return a->v.lnk.obj == b->v.lnk.obj &&
		       a->v.lnk.inst == b->v.lnk.inst;
	case LWM2M_TYPE_RAW:
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		return a->v.bytes.len == b->v.bytes.len &&
		       (a->v.bytes.len == 0 ||
		        memcmp(a->v.bytes.ptr, b->v.bytes.ptr,
		               a->v.bytes.len) == 0);
	}
	return false;
}

static bool
node_equal(const struct lwm2m_node *a, const struct lwm2m_node *b)
{
	const struct lwm2m_node *ca, *cb;

	if (a->kind != b->kind || a->id != b->id ||
	    a->n_children != b->n_children ||
	    !lwm2m_value_equal(&a->value, &b->value)) {
		return false;
	}
	for (ca = a->first_child, cb = b->first_child; ca != NULL && cb != NULL;
	     ca = ca->next_sibling, cb = cb->next_sibling) {
		if (!node_equal(ca, cb)) {
			return false;
		}
	}
	return ca == NULL && cb == NULL;
}

bool
lwm2m_tree_equal(const struct lwm2m_tree *a, const struct lwm2m_tree *b)
{
	return node_equal(&a->root, &b->root);
}

/* ---- text scalars and coercion ------------------------------------------ */

const char *
lwm2m_type_name(enum lwm2m_type type)
{
	static const char *const names[] = {
	    [LWM2M_TYPE_NONE] = "none",
	    [LWM2M_TYPE_RAW] = "raw",
	    [LWM2M_TYPE_STRING] = "string",
	    [LWM2M_TYPE_INTEGER] = "integer",
	    [LWM2M_TYPE_UNSIGNED] = "unsigned",
	    [LWM2M_TYPE_FLOAT] = "float",
	    [LWM2M_TYPE_BOOLEAN] = "boolean",
	    [LWM2M_TYPE_OPAQUE] = "opaque",
	    [LWM2M_TYPE_TIME] = "time",
	    [LWM2M_TYPE_OBJLNK] = "objlnk",
	    [LWM2M_TYPE_CORELNK] = "corelnk",
	};

	if ((unsigned)type >= sizeof(names) / sizeof(names[0])) {
		return "?";
	}
	return names[type];
}

void
lwm2m_diag_set(struct lwm2m_diag *diag, size_t offset, const char *fmt, ...)
{
	va_list ap;

	if (diag == NULL) {
		return;
	}
	diag->offset = offset;
	va_start(ap, fmt);
	vsnprintf(diag->msg, sizeof(diag->msg), fmt, ap);
	va_end(ap);
}

bool
lwm2m__parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 20) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10) {
			return false;
		}
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

bool
lwm2m__parse_i64(const char *s, size_t len, int64_t *ret)
{
	bool neg = len > 0 && s[0] == '-';
	uint64_t u;

	if (!lwm2m__parse_u64(s + neg, len - neg, &u)) {
		return false;
	}
	if (neg && u <= (uint64_t)INT64_MAX + 1) {
		*ret = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
		return true;
	}
	if (!neg && u <= (uint64_t)INT64_MAX) {
		*ret = (int64_t)u;
		return true;
	}
	return false;
}

/* Accepts JSON number syntax: -?digits(.digits)?([eE][+-]?digits)? */
static bool
number_syntax_ok(const char *s, size_t len)
{
	size_t i = 0, d;

	i += (i < len && s[i] == '-');
	for (d = i; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
	}
	if (i == d) {
		return false;
	}
	if (i < len && s[i] == '.') {
		for (d = ++i; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		}
		if (i == d) {
			return false;
		}
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		i += (i < len && (s[i] == '+' || s[i] == '-'));
		for (d = i; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		}
		if (i == d) {
			return false;
		}
	}
	return i == len;
}

bool
lwm2m__parse_double(const char *s, size_t len, double *ret)
{
	char tmp[65];
	char *end;
	double f;

	if (len >= sizeof(tmp) || !number_syntax_ok(s, len)) {
		return false;
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	f = strtod(tmp, &end);
	if (end != tmp + len || isinf(f)) {
		return false;
	}
	*ret = f;
	return true;
}

bool
lwm2m__parse_objlnk(const char *s, size_t len, struct lwm2m_value *ret)
{
	const char *colon = memchr(s, ':', len);
	uint64_t o, i;

	if (colon == NULL || !lwm2m__parse_u64(s, (size_t)(colon - s), &o) ||
	    !lwm2m__parse_u64(colon + 1, len - (size_t)(colon - s) - 1, &i) ||
	    o > UINT16_MAX || i > UINT16_MAX) {
		return false;
	}
	ret->type = LWM2M_TYPE_OBJLNK;
	ret->v.lnk.obj = (uint16_t)o;
	ret->v.lnk.inst = (uint16_t)i;
	return true;
}

/* RAW bytes of a TLV value as a big-endian two's complement integer. */
static bool
tlv_int(const uint8_t *p, size_t len, bool is_signed, uint64_t *ret)
{
	uint64_t v;

	if (len != 1 && len != 2 && len != 4 && len != 8) {
		return false;
	}
	v = (is_signed && (p[0] & 0x80)) ? UINT64_MAX : 0;
	for (size_t i = 0; i < len; i++) {
		v = (v << 8) | p[i];
	}
	*ret = v;
	return true;
}

static lwm2m_err
coerce_tlv(struct lwm2m_value *v, enum lwm2m_type to, struct lwm2m_diag *diag)
{
	const uint8_t *p = v->v.bytes.ptr;
	size_t len = v->v.bytes.len;
	struct lwm2m_value out = {.type = to};
	uint64_t u;

	switch (to) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
	case LWM2M_TYPE_UNSIGNED:
		if (!tlv_int(p, len, to != LWM2M_TYPE_UNSIGNED, &u)) {
			lwm2m_diag_set(diag, 0,
			               "TLV %s must be 1, 2, 4 or 8 "
			               "bytes, not %zu",
			               lwm2m_type_name(to), len);
			return LWM2M_EPROTO;
		}
		out.v.u = u;
		break;
	case LWM2M_TYPE_FLOAT:
		if (len == 4 && tlv_int(p, len, false, &u)) {
			uint32_t w = (uint32_t)u;
			float f;

			memcpy(&f, &w, sizeof(f));
			out.v.f = f;
		} else if (len == 8 && tlv_int(p, len, false, &u)) {
			memcpy(&out.v.f, &u, sizeof(out.v.f));
		} else {
			lwm2m_diag_set(diag, 0,
			               "TLV float must be 4 or 8 bytes, "
			               "not %zu",
			               len);
			return LWM2M_EPROTO;
		}
		break;
	case LWM2M_TYPE_BOOLEAN:
		if (len != 1 || p[0] > 1) {
			lwm2m_diag_set(diag, 0,
			               "TLV boolean must be one byte 0 "
			               "or 1");
			return LWM2M_EPROTO;
		}
		out.v.b = p[0] == 1;
		break;
	case LWM2M_TYPE_OBJLNK:
		if (len != 4) {
			lwm2m_diag_set(diag, 0,
			               "TLV objlnk must be 4 bytes, "
			               "not %zu",
			               len);
			return LWM2M_EPROTO;
		}
		out.v.lnk.obj = (uint16_t)(p[0] << 8 | p[1]);
		out.v.lnk.inst = (uint16_t)(p[2] << 8 | p[3]);
		break;
	case LWM2M_TYPE_NONE:
	case LWM2M_TYPE_RAW:
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		out.v.bytes = v->v.bytes;
		break;
	}
	*v = out;
	return LWM2M_OK;
}

static lwm2m_err
coerce_b64(struct lwm2m_tree *tree, struct lwm2m_value *v,
           struct lwm2m_diag *diag)
{
	size_t cap = v->v.bytes.len / 4 * 3 + 3, n;
	uint8_t *out = lwm2m_tree_alloc(tree, cap);
	lwm2m_err err;

	if (out == NULL) {
		return LWM2M_ENOMEM;
	}
	err = lwm2m_b64_decode((const char *)v->v.bytes.ptr, v->v.bytes.len,
	                       out, cap, &n);
	if (err != LWM2M_OK) {
		lwm2m_diag_set(diag, 0, "opaque value is not valid base64");
		return LWM2M_EPROTO;
	}
	v->type = LWM2M_TYPE_OPAQUE;
	v->v.bytes.ptr = out;
	v->v.bytes.len = n;
	return LWM2M_OK;
}

static bool
text_number(const char *s, size_t len, enum lwm2m_type to,
            struct lwm2m_value *out)
{
	switch (to) {
	case LWM2M_TYPE_INTEGER:
		return lwm2m__parse_i64(s, len, &out->v.i);
	case LWM2M_TYPE_TIME:
		return lwm2m__parse_i64(s, len, &out->v.i) ||
		       lwm2m_time_parse_iso8601(s, len, &out->v.i) == LWM2M_OK;
	case LWM2M_TYPE_UNSIGNED:
		return lwm2m__parse_u64(s, len, &out->v.u);
	case LWM2M_TYPE_FLOAT:
		return lwm2m__parse_double(s, len, &out->v.f);
	case LWM2M_TYPE_BOOLEAN:
		if (len == 1 && (s[0] == '0' || s[0] == '1')) {
			out->v.b = s[0] == '1';
			return true;
		}
		return false;
	case LWM2M_TYPE_OBJLNK:
		return lwm2m__parse_objlnk(s, len, out);
	case LWM2M_TYPE_NONE:
	case LWM2M_TYPE_RAW:
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		break;
	}
	return false;
}

static lwm2m_err
coerce_text(struct lwm2m_tree *tree, struct lwm2m_value *v, enum lwm2m_type to,
            struct lwm2m_diag *diag)
{
	struct lwm2m_value out = {.type = to};
	const char *s = (const char *)v->v.bytes.ptr;

	if (to == LWM2M_TYPE_OPAQUE) {
		return coerce_b64(tree, v, diag);
	}
	if (to == LWM2M_TYPE_STRING || to == LWM2M_TYPE_CORELNK ||
	    to == LWM2M_TYPE_RAW) {
		v->type = to;
		return LWM2M_OK;
	}
	if (!text_number(s, v->v.bytes.len, to, &out)) {
		lwm2m_diag_set(diag, 0, "text is not a valid %s",
		               lwm2m_type_name(to));
		return LWM2M_EPROTO;
	}
	*v = out;
	return LWM2M_OK;
}

/* Numeric conversions that lose nothing. */
static bool
coerce_number(const struct lwm2m_value *v, enum lwm2m_type to,
              struct lwm2m_value *out)
{
	bool sig = v->type == LWM2M_TYPE_INTEGER || v->type == LWM2M_TYPE_TIME;
	double f = v->v.f;

	out->type = to;
	if (v->type == LWM2M_TYPE_FLOAT) {
		if (f != floor(f) || f < -9223372036854775808.0 ||
		    f >= 18446744073709551616.0) {
			return false;
		}
		if (to == LWM2M_TYPE_UNSIGNED) {
			out->v.u = (uint64_t)f;
			return f >= 0;
		}
		out->v.i = (int64_t)f;
		return to != LWM2M_TYPE_FLOAT && f < 9223372036854775808.0;
	}
	if (to == LWM2M_TYPE_FLOAT) {
		out->v.f = sig ? (double)v->v.i : (double)v->v.u;
		return true;
	}
	if (to == LWM2M_TYPE_UNSIGNED) {
		out->v.u = v->v.u;
		return !sig || v->v.i >= 0;
	}
	out->v.i = v->v.i;
	return sig || v->v.u <= (uint64_t)INT64_MAX;
}

static bool
is_number(enum lwm2m_type t)
{
	return t == LWM2M_TYPE_INTEGER || t == LWM2M_TYPE_UNSIGNED ||
	       t == LWM2M_TYPE_FLOAT || t == LWM2M_TYPE_TIME;
}

lwm2m_err
lwm2m_value_coerce(struct lwm2m_tree *tree, struct lwm2m_value *value,
                   enum lwm2m_type to, bool from_text, struct lwm2m_diag *diag)
{
	enum lwm2m_type from = value->type;
	struct lwm2m_value out;

	if (from == to) {
		return LWM2M_OK;
	}
	if (to == LWM2M_TYPE_NONE || to > LWM2M_TYPE_CORELNK) {
		lwm2m_diag_set(diag, 0, "no conversion to type %d", (int)to);
		return LWM2M_EINVAL;
	}
	if (from == LWM2M_TYPE_RAW && !from_text) {
		return coerce_tlv(value, to, diag);
	}
	if (from == LWM2M_TYPE_RAW || from == LWM2M_TYPE_STRING ||
	    from == LWM2M_TYPE_CORELNK) {
		return coerce_text(tree, value, to, diag);
	}
	if (type_has_bytes(from) && type_has_bytes(to)) {
		value->type = to;
		return LWM2M_OK;
	}
	if (is_number(from) && is_number(to) &&
	    coerce_number(value, to, &out)) {
		*value = out;
		return LWM2M_OK;
	}
	lwm2m_diag_set(diag, 0, "cannot convert %s to %s",
	               lwm2m_type_name(from), lwm2m_type_name(to));
	return LWM2M_EPROTO;
}

/* ---- helpers for the encoders -------------------------------------------- */

lwm2m_err
lwm2m__tree_leaves(const struct lwm2m_node *node, lwm2m__leaf_cb cb, void *ctx)
{
	lwm2m_err err = LWM2M_OK;

	if (node->kind == LWM2M_NODE_RESOURCE ||
	    node->kind == LWM2M_NODE_RESOURCE_INSTANCE) {
		if (node->value.type == LWM2M_TYPE_NONE) {
			return LWM2M_EINVAL;
		}
		return cb(ctx, node);
	}
	for (const struct lwm2m_node *c = node->first_child;
	     c != NULL && err == LWM2M_OK; c = c->next_sibling) {
		err = lwm2m__tree_leaves(c, cb, ctx);
	}
	return err;
}

size_t
lwm2m__relative_name(const struct lwm2m_node *leaf, uint8_t base_len, char *buf)
{
	struct lwm2m_path p;
	size_t off = 0;

	lwm2m_node_path(leaf, &p);
	buf[0] = '\0';
	for (uint8_t i = base_len; i < p.len; i++) {
		off += (size_t)snprintf(buf + off, 32 - off, "%s%u",
		                        i > base_len ? "/" : "",
		                        (unsigned)p.ids[i]);
	}
	return off;
}

size_t
lwm2m__base_name(const struct lwm2m_tree *tree, const struct lwm2m_path *base,
                 char *buf)
{
	const struct lwm2m_node *n = lwm2m_tree_get(tree, base);
	int len = lwm2m_path_format(base, buf, 32);

	if (len < 0) {
		buf[0] = '\0';
		return 0;
	}
	if (base->len > 0 && n != NULL && n->kind != LWM2M_NODE_RESOURCE &&
	    n->kind != LWM2M_NODE_RESOURCE_INSTANCE) {
		buf[len++] = '/';
		buf[len] = '\0';
	}
	return (size_t)len;
}
