/* lwm2m_cbor.c - strict CBOR reader and canonical writer (RFC 8949). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_cbor.h"
#include "lwm2m_codec_internal.h"

#define TAG_EPOCH_TIME 1
#define TAG_SELF_DESCRIBE 55799
#define BREAK_BYTE 0xff

/* The decoded head of one data item. */
struct head {
	uint8_t major, ai;
	uint64_t arg;
	size_t at; /* offset of the initial byte */
};

lwm2m_err
lwm2m_cbor_fail(struct lwm2m_cbor_reader *r, lwm2m_err err, size_t offset,
                const char *fmt, ...)
{
	char msg[sizeof(r->diag->msg)];
	va_list ap;

	if (r->diag != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		lwm2m_diag_set(r->diag, offset, "%s", msg);
	}
	return err;
}

lwm2m_err
lwm2m_cbor_reader_init(struct lwm2m_cbor_reader *r, const uint8_t *buf,
                       size_t len, const struct lwm2m_limits *limits,
                       struct lwm2m_diag *diag)
{
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->len = len;
	r->limits = limits != NULL ? limits : &lwm2m_limits_default;
	r->diag = diag;
	if (len > r->limits->max_input_len) {
		return lwm2m_cbor_fail(
		    r, LWM2M_ELIMIT, 0,
		    "payload of %zu bytes over the %zu limit", len,
		    r->limits->max_input_len);
	}
	return LWM2M_OK;
}

static uint64_t
load_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		v = (v << 8) | p[i];
	}
	return v;
}

/* read_head decodes an initial byte and its argument; ai 31 leaves arg 0. */
static lwm2m_err
read_head(struct lwm2m_cbor_reader *r, struct head *h)
{
	size_t n = 0;

	h->at = r->pos;
	if (r->pos >= r->len) {
		return lwm2m_cbor_fail(r, LWM2M_EPROTO, r->pos,
		                       "truncated: data item expected");
	}
	h->major = r->buf[r->pos] >> 5;
	h->ai = r->buf[r->pos] & 0x1f;
	h->arg = h->ai;
	if (h->ai >= 28 && h->ai <= 30) {
		return lwm2m_cbor_fail(r, LWM2M_EPROTO, h->at,
		                       "reserved additional information %u",
		                       h->ai);
	}
	if (h->ai == 31) {
		h->arg = 0;
	} else if (h->ai >= 24) {
		n = (size_t)1 << (h->ai - 24);
		if (r->len - r->pos - 1 < n) {
			return lwm2m_cbor_fail(r, LWM2M_EPROTO, h->at,
			                       "truncated: %zu-byte argument",
			                       n);
		}
		h->arg = load_be(r->buf + r->pos + 1, n);
	}
	r->pos += 1 + n;
	return LWM2M_OK;
}

size_t
lwm2m__utf8_bad(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = p[i];
		size_t n;
		uint8_t lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else {
			return i;
		}
		if (len - i <= n || p[i + 1] < lo || p[i + 1] > hi) {
			return i;
		}
		for (size_t k = 2; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80) {
				return i;
			}
		}
		i += n + 1;
	}
	return len;
}

/* take_string checks a definite string of h->arg bytes at r->pos. */
static lwm2m_err
take_string(struct lwm2m_cbor_reader *r, const struct head *h, size_t total)
{
	size_t bad;

	if (h->arg > r->len - r->pos) {
		return lwm2m_cbor_fail(r, LWM2M_EPROTO, h->at,
		                       "truncated: string of %" PRIu64
		                       " bytes, %zu left",
		                       h->arg, r->len - r->pos);
	}
	if (h->arg > r->limits->max_value_len ||
	    total > r->limits->max_value_len - h->arg) {
		return lwm2m_cbor_fail(r, LWM2M_ELIMIT, h->at,
		                       "string over the %zu-byte limit",
		                       r->limits->max_value_len);
	}
	if (h->major == 3) {
		bad = lwm2m__utf8_bad(r->buf + r->pos, (size_t)h->arg);
		if (bad != h->arg) {
			return lwm2m_cbor_fail(r, LWM2M_EPROTO, r->pos + bad,
			                       "invalid UTF-8 in text string");
		}
	}
	r->pos += (size_t)h->arg;
	return LWM2M_OK;
}

/* read_chunks checks the chunks of an indefinite string up to its break. */
static lwm2m_err
read_chunks(struct lwm2m_cbor_reader *r, const struct head *h,
            struct lwm2m_cbor_item *item)
{
	struct head c;
	lwm2m_err err;

	item->ptr = r->buf + r->pos;
	item->len = 0;
	for (;;) {
		if (r->pos < r->len && r->buf[r->pos] == BREAK_BYTE) {
			r->pos++;
			return LWM2M_OK;
		}
		err = read_head(r, &c);
		if (err != LWM2M_OK) {
			return err;
		}
		if (c.major != h->major || c.ai == 31) {
			return lwm2m_cbor_fail(r, LWM2M_EPROTO, c.at,
			                       "chunk of an indefinite string "
			                       "must be a definite string of "
			                       "major type %u",
			                       h->major);
		}
		err = take_string(r, &c, item->len);
		if (err != LWM2M_OK) {
			return err;
		}
		item->len += (size_t)c.arg;
	}
}

static lwm2m_err
read_string(struct lwm2m_cbor_reader *r, const struct head *h,
            struct lwm2m_cbor_item *item)
{
	item->kind = h->major == 2 ? LWM2M_CBOR_BYTES : LWM2M_CBOR_TEXT;
	if (h->ai == 31) {
		item->indefinite = true;
		return read_chunks(r, h, item);
	}
	item->ptr = r->buf + r->pos;
	item->len = (size_t)h->arg;
	return take_string(r, h, 0);
}

static lwm2m_err
read_container(struct lwm2m_cbor_reader *r, const struct head *h,
               struct lwm2m_cbor_item *item)
{
	uint64_t left = r->len - r->pos;

	item->kind = h->major == 4 ? LWM2M_CBOR_ARRAY : LWM2M_CBOR_MAP;
	item->indefinite = h->ai == 31;
	item->u = h->arg;
	if (!item->indefinite &&
	    (h->arg > left || (h->major == 5 && h->arg > left / 2))) {
		return lwm2m_cbor_fail(
		    r, LWM2M_EPROTO, h->at,
		    "truncated: %" PRIu64 " %s cannot fit "
		    "in %" PRIu64 " bytes",
		    h->arg, h->major == 4 ? "elements" : "pairs", left);
	}
	if (r->depth >= r->limits->max_depth) {
		return lwm2m_cbor_fail(r, LWM2M_ELIMIT, h->at,
		                       "nesting deeper than %" PRIu32,
		                       r->limits->max_depth);
	}
	r->depth++;
	return LWM2M_OK;
}

static double
half_to_double(uint16_t h)
{
	int exp = (h >> 10) & 0x1f;
	double mant = h & 0x3ff;
	double v;

	if (exp == 0) {
		v = ldexp(mant, -24);
	} else if (exp == 31) {
		v = mant == 0 ? INFINITY : NAN;
	} else {
		v = ldexp(mant + 1024, exp - 25);
	}
	return (h & 0x8000) ? -v : v;
}

static lwm2m_err
read_simple(struct lwm2m_cbor_reader *r, const struct head *h,
            struct lwm2m_cbor_item *item)
{
	float f32;
	uint32_t b32;

	item->u = h->arg;
	switch (h->ai) {
	case 20:
		item->kind = LWM2M_CBOR_FALSE;
		return LWM2M_OK;
	case 21:
		item->kind = LWM2M_CBOR_TRUE;
		return LWM2M_OK;
	case 22:
		item->kind = LWM2M_CBOR_NULL;
		return LWM2M_OK;
	case 23:
		item->kind = LWM2M_CBOR_UNDEFINED;
		return LWM2M_OK;
	case 24:
		if (h->arg < 32) {
			return lwm2m_cbor_fail(r, LWM2M_EPROTO, h->at,
			                       "simple value %" PRIu64
			                       " must use the one-byte form",
			                       h->arg);
		}
		item->kind = LWM2M_CBOR_SIMPLE;
		return LWM2M_OK;
	case 25:
		item->kind = LWM2M_CBOR_FLOAT;
		item->f = half_to_double((uint16_t)h->arg);
		return LWM2M_OK;
	case 26:
		item->kind = LWM2M_CBOR_FLOAT;
		b32 = (uint32_t)h->arg;
		memcpy(&f32, &b32, sizeof(f32));
		item->f = f32;
		return LWM2M_OK;
	case 27:
		item->kind = LWM2M_CBOR_FLOAT;
		memcpy(&item->f, &h->arg, sizeof(item->f));
		return LWM2M_OK;
	case 31:
		return lwm2m_cbor_fail(r, LWM2M_EPROTO, h->at,
		                       "break outside an indefinite container");
	default:
		item->kind = LWM2M_CBOR_SIMPLE;
		return LWM2M_OK;
	}
}

/* read_tags consumes any self-describe tags (55799), then at most one other
 * tag, and leaves the head of the tagged item in h. */
static lwm2m_err
read_tags(struct lwm2m_cbor_reader *r, struct head *h,
          struct lwm2m_cbor_item *item)
{
	lwm2m_err err = read_head(r, h);

	while (err == LWM2M_OK && h->major == 6 && h->ai != 31 &&
	       h->arg == TAG_SELF_DESCRIBE) {
		err = read_head(r, h);
	}
	if (err == LWM2M_OK && h->major == 6 && h->ai != 31) {
		item->tagged = true;
		item->tag = h->arg;
		err = read_head(r, h);
	}
	if (err == LWM2M_OK && h->major == 6) {
		return lwm2m_cbor_fail(r, LWM2M_EPROTO, h->at,
		                       h->ai == 31 ? "indefinite tag"
		                                   : "a tag on a tag");
	}
	return err;
}

lwm2m_err
lwm2m_cbor_read(struct lwm2m_cbor_reader *r, struct lwm2m_cbor_item *ret_item)
{
	struct lwm2m_cbor_item item = {0};
	struct head h;
	lwm2m_err err;

	item.offset = r->pos;
	err = read_tags(r, &h, &item);
	if (err != LWM2M_OK) {
		return err;
	}
	switch (h.major) {
	case 0:
	case 1:
		if (h.ai == 31) {
			return lwm2m_cbor_fail(
			    r, LWM2M_EPROTO, h.at,
			    "indefinite length on an integer");
		}
		item.kind = h.major == 0 ? LWM2M_CBOR_UINT : LWM2M_CBOR_NEGINT;
		item.u = h.arg;
		break;
	case 2:
	case 3:
		err = read_string(r, &h, &item);
		break;
	case 4:
	case 5:
		err = read_container(r, &h, &item);
		break;
	default:
		err = read_simple(r, &h, &item);
		break;
	}
	if (err == LWM2M_OK) {
		*ret_item = item;
	}
	return err;
}

lwm2m_err
lwm2m_cbor_next(struct lwm2m_cbor_reader *r, struct lwm2m_cbor_item *c,
                bool *ret_more)
{
	bool more;

	if (c->indefinite) {
		if (r->pos >= r->len) {
			return lwm2m_cbor_fail(
			    r, LWM2M_EPROTO, r->pos,
			    "truncated: break of the %s "
			    "at offset %zu expected",
			    c->kind == LWM2M_CBOR_MAP ? "map" : "array",
			    c->offset);
		}
		more = r->buf[r->pos] != BREAK_BYTE;
		if (!more) {
			r->pos++;
		}
	} else {
		more = c->u > 0;
		if (more) {
			c->u--;
		}
	}
	if (!more && r->depth > 0) {
		r->depth--;
	}
	*ret_more = more;
	return LWM2M_OK;
}

static lwm2m_err
skip_one(struct lwm2m_cbor_reader *r)
{
	struct lwm2m_cbor_item item;
	lwm2m_err err = lwm2m_cbor_read(r, &item);

	if (err != LWM2M_OK) {
		return err;
	}
	return lwm2m_cbor_skip(r, &item);
}

lwm2m_err
lwm2m_cbor_skip(struct lwm2m_cbor_reader *r, struct lwm2m_cbor_item *item)
{
	bool more = true;
	lwm2m_err err = LWM2M_OK;

	if (item->kind != LWM2M_CBOR_ARRAY && item->kind != LWM2M_CBOR_MAP) {
		return LWM2M_OK;
	}
	while (err == LWM2M_OK) {
		err = lwm2m_cbor_next(r, item, &more);
		if (err != LWM2M_OK || !more) {
			break;
		}
		err = skip_one(r);
		if (err == LWM2M_OK && item->kind == LWM2M_CBOR_MAP) {
			err = skip_one(r);
		}
	}
	return err;
}

lwm2m_err
lwm2m_cbor_finish(struct lwm2m_cbor_reader *r)
{
	if (r->pos != r->len) {
		return lwm2m_cbor_fail(r, LWM2M_EPROTO, r->pos,
		                       "%zu bytes after the end of the item",
		                       r->len - r->pos);
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_cbor_validate(const uint8_t *buf, size_t len,
                    const struct lwm2m_limits *limits, struct lwm2m_diag *diag)
{
	struct lwm2m_cbor_reader r;
	lwm2m_err err = lwm2m_cbor_reader_init(&r, buf, len, limits, diag);

	if (err == LWM2M_OK) {
		err = skip_one(&r);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_cbor_finish(&r);
	}
	return err;
}

/* head_size returns the argument of a well-formed head at p and its size. */
static uint64_t
head_size(const uint8_t *p, size_t *ret_size)
{
	uint8_t ai = p[0] & 0x1f;
	size_t n = ai >= 24 && ai <= 27 ? (size_t)1 << (ai - 24) : 0;

	*ret_size = 1 + n;
	return n == 0 ? ai : load_be(p + 1, n);
}

void
lwm2m_cbor_string_copy(const struct lwm2m_cbor_item *item, uint8_t *dst)
{
	const uint8_t *p = item->ptr;
	size_t done = 0, hs;
	uint64_t n;

	if (!item->indefinite) {
		if (item->len > 0) {
			memcpy(dst, item->ptr, item->len);
		}
		return;
	}
	while (done < item->len) {
		n = head_size(p, &hs);
		memcpy(dst + done, p + hs, (size_t)n);
		done += (size_t)n;
		p += hs + (size_t)n;
	}
}

const uint8_t *
lwm2m_cbor_string_flat(const struct lwm2m_cbor_item *item,
                       struct lwm2m_tree *tree)
{
	uint8_t *copy;

	if (!item->indefinite) {
		return item->ptr;
	}
	copy = lwm2m_tree_alloc(tree, item->len + 1);
	if (copy != NULL) {
		lwm2m_cbor_string_copy(item, copy);
	}
	return copy;
}

static lwm2m_err
int_value(struct lwm2m_cbor_reader *r, const struct lwm2m_cbor_item *item,
          struct lwm2m_value *v)
{
	if (item->kind == LWM2M_CBOR_UINT && item->u > INT64_MAX) {
		v->type = LWM2M_TYPE_UNSIGNED;
		v->v.u = item->u;
	} else if (item->kind == LWM2M_CBOR_UINT) {
		v->type = LWM2M_TYPE_INTEGER;
		v->v.i = (int64_t)item->u;
	} else if (item->u > INT64_MAX) {
		return lwm2m_cbor_fail(r, LWM2M_EPROTO, item->offset,
		                       "negative integer below INT64_MIN");
	} else {
		v->type = LWM2M_TYPE_INTEGER;
		v->v.i = -1 - (int64_t)item->u;
	}
	return LWM2M_OK;
}

/* time_value applies tag 1 to an already converted number. */
static lwm2m_err
time_value(struct lwm2m_cbor_reader *r, const struct lwm2m_cbor_item *item,
           struct lwm2m_value *v)
{
	if (v->type == LWM2M_TYPE_FLOAT && v->v.f == floor(v->v.f) &&
	    v->v.f >= -9.2e18 && v->v.f <= 9.2e18) {
		v->v.i = (int64_t)v->v.f;
	} else if (v->type != LWM2M_TYPE_INTEGER) {
		return lwm2m_cbor_fail(r, LWM2M_EPROTO, item->offset,
		                       "tag 1 (epoch time) needs an integral "
		                       "number of seconds in range");
	}
	v->type = LWM2M_TYPE_TIME;
	return LWM2M_OK;
}

static lwm2m_err
scalar_value(struct lwm2m_cbor_reader *r, const struct lwm2m_cbor_item *item,
             struct lwm2m_tree *tree, struct lwm2m_value *v)
{
	switch (item->kind) {
	case LWM2M_CBOR_UINT:
	case LWM2M_CBOR_NEGINT:
		return int_value(r, item, v);
	case LWM2M_CBOR_FLOAT:
		v->type = LWM2M_TYPE_FLOAT;
		v->v.f = item->f;
		return LWM2M_OK;
	case LWM2M_CBOR_FALSE:
	case LWM2M_CBOR_TRUE:
		v->type = LWM2M_TYPE_BOOLEAN;
		v->v.b = item->kind == LWM2M_CBOR_TRUE;
		return LWM2M_OK;
	case LWM2M_CBOR_BYTES:
	case LWM2M_CBOR_TEXT:
		v->type = item->kind == LWM2M_CBOR_TEXT ? LWM2M_TYPE_STRING
		                                        : LWM2M_TYPE_OPAQUE;
		v->v.bytes.len = item->len;
		v->v.bytes.ptr = lwm2m_cbor_string_flat(item, tree);
		return v->v.bytes.ptr != NULL ? LWM2M_OK : LWM2M_ENOMEM;
	case LWM2M_CBOR_ARRAY:
	case LWM2M_CBOR_MAP:
	case LWM2M_CBOR_NULL:
	case LWM2M_CBOR_UNDEFINED:
	case LWM2M_CBOR_SIMPLE:
		break;
	}
	return lwm2m_cbor_fail(r, LWM2M_EPROTO, item->offset,
	                       "an array, map, null, undefined or simple "
	                       "value is not an LwM2M value");
}

lwm2m_err
lwm2m_cbor_item_value(struct lwm2m_cbor_reader *r,
                      const struct lwm2m_cbor_item *item,
                      struct lwm2m_tree *tree, struct lwm2m_value *ret_value)
{
	struct lwm2m_value v = {0};
	lwm2m_err err;

	if (item->tagged && item->tag != TAG_EPOCH_TIME) {
		return lwm2m_cbor_fail(r, LWM2M_EPROTO, item->offset,
		                       "unsupported tag %" PRIu64, item->tag);
	}
	err = scalar_value(r, item, tree, &v);
	if (err == LWM2M_OK && item->tagged) {
		err = time_value(r, item, &v);
	}
	if (err == LWM2M_OK) {
		*ret_value = v;
	}
	return err;
}

lwm2m_err
lwm2m__cbor_set(struct lwm2m_cbor_reader *r, struct lwm2m_tree *tree,
                const struct lwm2m_path *path, const struct lwm2m_value *value,
                size_t offset)
{
	char p[32];
	lwm2m_err err = lwm2m_tree_set(tree, path, value);

	if (err == LWM2M_OK || err == LWM2M_ENOMEM) {
		return err;
	}
	if (lwm2m_path_format(path, p, sizeof(p)) < 0) {
		p[0] = '\0';
	}
	if (err == LWM2M_ELIMIT) {
		return lwm2m_cbor_fail(
		    r, err, offset, "%s: over the node or value size limit", p);
	}
	return lwm2m_cbor_fail(r, LWM2M_EPROTO, offset,
	                       "%s: duplicate value, or conflicts with a "
	                       "resource of another kind",
	                       p);
}

/* ---- writer ---------------------------------------------------------- */

void
lwm2m_cbor_writer_init(struct lwm2m_cbor_writer *w, struct lwm2m_buf *out)
{
	w->out = out;
	w->err = LWM2M_OK;
}

static void
put_raw(struct lwm2m_cbor_writer *w, const void *p, size_t len)
{
	if (w->err == LWM2M_OK && len > 0) {
		w->err = lwm2m_buf_append(w->out, p, len);
	}
}

static uint8_t
ai_for(size_t n)
{
	return n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27;
}

static void
put_head(struct lwm2m_cbor_writer *w, uint8_t major, uint64_t arg)
{
	uint8_t b[9];
	size_t n;

	if (arg < 24) {
		b[0] = (uint8_t)(major << 5 | arg);
		put_raw(w, b, 1);
		return;
	}
	if (arg <= UINT8_MAX) {
		n = 1;
	} else if (arg <= UINT16_MAX) {
		n = 2;
	} else if (arg <= UINT32_MAX) {
		n = 4;
	} else {
		n = 8;
	}
	b[0] = (uint8_t)(major << 5 | ai_for(n));
	for (size_t i = 0; i < n; i++) {
		b[n - i] = (uint8_t)(arg >> (8 * i));
	}
	put_raw(w, b, n + 1);
}

void
lwm2m_cbor_put_uint(struct lwm2m_cbor_writer *w, uint64_t v)
{
	put_head(w, 0, v);
}

void
lwm2m_cbor_put_int(struct lwm2m_cbor_writer *w, int64_t v)
{
	if (v >= 0) {
		put_head(w, 0, (uint64_t)v);
	} else {
		put_head(w, 1, (uint64_t)(-1 - v));
	}
}

void
lwm2m_cbor_put_negint(struct lwm2m_cbor_writer *w, uint64_t n)
{
	put_head(w, 1, n);
}

void
lwm2m_cbor_put_bytes(struct lwm2m_cbor_writer *w, const void *p, size_t len)
{
	put_head(w, 2, len);
	put_raw(w, p, len);
}

void
lwm2m_cbor_put_text(struct lwm2m_cbor_writer *w, const char *p, size_t len)
{
	put_head(w, 3, len);
	put_raw(w, p, len);
}

void
lwm2m_cbor_put_array(struct lwm2m_cbor_writer *w, uint64_t n)
{
	put_head(w, 4, n);
}

void
lwm2m_cbor_put_map(struct lwm2m_cbor_writer *w, uint64_t n)
{
	put_head(w, 5, n);
}

void
lwm2m_cbor_put_tag(struct lwm2m_cbor_writer *w, uint64_t tag)
{
	put_head(w, 6, tag);
}

void
lwm2m_cbor_put_bool(struct lwm2m_cbor_writer *w, bool v)
{
	uint8_t b = v ? 0xf5 : 0xf4;

	put_raw(w, &b, 1);
}

/* double_to_half stores the half-precision bits of v in *ret_bits and
 * returns true when v is exactly representable (v finite or infinite). */
static bool
double_to_half(double v, uint16_t *ret_bits)
{
	uint16_t sign = signbit(v) ? 0x8000 : 0;
	double a = fabs(v), m;
	int e;

	if (a == 0 || isinf(a)) {
		*ret_bits = sign | (a == 0 ? 0 : 0x7c00);
		return true;
	}
	frexp(a, &e); /* a = m * 2^e, 0.5 <= m < 1: half exponent is e + 14 */
	if (e + 14 >= 31) {
		return false;
	}
	if (e + 14 <= 0) {
		m = ldexp(a, 24); /* subnormal: a = m * 2^-24 */
		*ret_bits = sign | (uint16_t)m;
		return m == floor(m) && m < 1024;
	}
	m = ldexp(a, 11 - e) - 1024; /* a = (1024 + m) * 2^(e - 11) */
	*ret_bits = sign | (uint16_t)((e + 14) << 10) | (uint16_t)m;
	return m == floor(m);
}

void
lwm2m_cbor_put_float(struct lwm2m_cbor_writer *w, double v)
{
	uint8_t b[9];
	uint16_t h;
	float f = (float)v;
	uint32_t b32;
	uint64_t b64;

	if (isnan(v)) {
		h = 0x7e00;
	}
	if (isnan(v) || double_to_half(v, &h)) {
		b[0] = 0xf9;
		b[1] = (uint8_t)(h >> 8);
		b[2] = (uint8_t)h;
		put_raw(w, b, 3);
	} else if ((double)f == v) {
		memcpy(&b32, &f, sizeof(b32));
		b[0] = 0xfa;
		for (size_t i = 0; i < 4; i++) {
			b[4 - i] = (uint8_t)(b32 >> (8 * i));
		}
		put_raw(w, b, 5);
	} else {
		memcpy(&b64, &v, sizeof(b64));
		b[0] = 0xfb;
		for (size_t i = 0; i < 8; i++) {
			b[8 - i] = (uint8_t)(b64 >> (8 * i));
		}
		put_raw(w, b, 9);
	}
}

void
lwm2m_cbor_put_value(struct lwm2m_cbor_writer *w, const struct lwm2m_value *v)
{
	char lnk[16];
	int n;

	switch (v->type) {
	case LWM2M_TYPE_NONE:
		if (w->err == LWM2M_OK) {
			w->err = LWM2M_EINVAL;
		}
		return;
	case LWM2M_TYPE_RAW:
	case LWM2M_TYPE_OPAQUE:
		lwm2m_cbor_put_bytes(w, v->v.bytes.ptr, v->v.bytes.len);
		return;
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		lwm2m_cbor_put_text(w, (const char *)v->v.bytes.ptr,
		                    v->v.bytes.len);
		return;
	case LWM2M_TYPE_INTEGER:
		lwm2m_cbor_put_int(w, v->v.i);
		return;
	case LWM2M_TYPE_TIME:
		lwm2m_cbor_put_tag(w, TAG_EPOCH_TIME);
		lwm2m_cbor_put_int(w, v->v.i);
		return;
	case LWM2M_TYPE_UNSIGNED:
		lwm2m_cbor_put_uint(w, v->v.u);
		return;
	case LWM2M_TYPE_FLOAT:
		lwm2m_cbor_put_float(w, v->v.f);
		return;
	case LWM2M_TYPE_BOOLEAN:
		lwm2m_cbor_put_bool(w, v->v.b);
		return;
	case LWM2M_TYPE_OBJLNK:
		n = snprintf(lnk, sizeof(lnk), "%u:%u", v->v.lnk.obj,
		             v->v.lnk.inst);
		lwm2m_cbor_put_text(w, lnk, (size_t)n);
		return;
	}
}
