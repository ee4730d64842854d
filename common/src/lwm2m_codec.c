/* lwm2m_codec.c - lwm2m_decode/lwm2m_encode: one table row per content format.
 *
 * To add a format, add one row to `codecs` with functions of the shapes
 * codec_decode_fn and codec_encode_fn (see lwm2m_codec_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "lwm2m_cbor.h"
#include "lwm2m_codec_internal.h"
#include "lwm2m_value.h"

typedef lwm2m_err (*codec_decode_fn)(const uint8_t *buf, size_t len,
                                     const struct lwm2m_path *base,
                                     struct lwm2m_tree *tree,
                                     struct lwm2m_diag *diag);
typedef lwm2m_err (*codec_encode_fn)(const struct lwm2m_tree *tree,
                                     const struct lwm2m_path *base,
                                     struct lwm2m_buf *out);

struct codec {
	unsigned fmt;
	const char *name;
	codec_decode_fn decode;
	codec_encode_fn encode;
};

static const struct codec codecs[] = {
    {LWM2M_FMT_TEXT, "text/plain", lwm2m_text_decode, lwm2m_text_encode},
    {LWM2M_FMT_OPAQUE, "application/octet-stream", lwm2m_opaque_decode,
     lwm2m_opaque_encode},
    {LWM2M_FMT_CBOR, "application/cbor", lwm2m_cbor_value_decode,
     lwm2m_cbor_value_encode},
    {LWM2M_FMT_SENML_JSON, "application/senml+json", lwm2m_senml_json_decode,
     lwm2m_senml_json_encode},
    {LWM2M_FMT_SENML_CBOR, "application/senml+cbor", lwm2m_senml_cbor_decode,
     lwm2m_senml_cbor_encode},
    {LWM2M_FMT_LEGACY_TEXT, "application/vnd.oma.lwm2m+text", lwm2m_text_decode,
     lwm2m_text_encode},
    {LWM2M_FMT_LEGACY_TLV, "application/vnd.oma.lwm2m+tlv", lwm2m_tlv_decode,
     lwm2m_tlv_encode},
    {LWM2M_FMT_LEGACY_JSON, "application/vnd.oma.lwm2m+json",
     lwm2m_lwjson_decode, lwm2m_lwjson_encode},
    {LWM2M_FMT_TLV, "application/vnd.oma.lwm2m+tlv", lwm2m_tlv_decode,
     lwm2m_tlv_encode},
    {LWM2M_FMT_LWM2M_JSON, "application/vnd.oma.lwm2m+json",
     lwm2m_lwjson_decode, lwm2m_lwjson_encode},
    {LWM2M_FMT_LWM2M_CBOR, "application/vnd.oma.lwm2m+cbor",
     lwm2m_lwcbor_decode, lwm2m_lwcbor_encode},
};

/* Names of formats known but without a codec row (yet). */
static const struct codec names_only[] = {
    {LWM2M_FMT_LINK, "application/link-format", NULL, NULL},
};

static const struct codec *
find_codec(unsigned fmt)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
		if (codecs[i].fmt == fmt) {
			return &codecs[i];
		}
	}
	return NULL;
}

bool
lwm2m_format_supported(unsigned fmt)
{
	return find_codec(fmt) != NULL;
}

const char *
lwm2m_format_name(unsigned fmt)
{
	const struct codec *c = find_codec(fmt);

	if (c != NULL) {
		return c->name;
	}
	for (size_t i = 0; i < sizeof(names_only) / sizeof(names_only[0]);
	     i++) {
		if (names_only[i].fmt == fmt) {
			return names_only[i].name;
		}
	}
	return NULL;
}

lwm2m_err
lwm2m_decode(enum lwm2m_format fmt, const uint8_t *buf, size_t len,
             const struct lwm2m_path *base, struct lwm2m_tree *tree,
             struct lwm2m_diag *diag)
{
	const struct codec *c = find_codec(fmt);

	if (c == NULL || base == NULL || tree == NULL ||
	    (buf == NULL && len > 0) || base->len > LWM2M_PATH_MAX_LEN) {
		lwm2m_diag_set(diag, 0,
		               "unsupported content format %u or bad "
		               "argument",
		               (unsigned)fmt);
		return LWM2M_EINVAL;
	}
	if (len > tree->limits->max_input_len) {
		lwm2m_diag_set(diag, tree->limits->max_input_len,
		               "payload of %zu bytes exceeds the limit of %zu",
		               len, tree->limits->max_input_len);
		return LWM2M_ELIMIT;
	}
	if (buf == NULL) {
		buf = (const uint8_t *)"";
	}
	return c->decode(buf, len, base, tree, diag);
}

lwm2m_err
lwm2m_senml_decode_paths(enum lwm2m_format fmt, const uint8_t *buf, size_t len,
                         struct lwm2m_tree *scratch,
                         struct lwm2m_path *ret_paths, size_t max_paths,
                         size_t *ret_n, struct lwm2m_diag *diag)
{
	if ((fmt != LWM2M_FMT_SENML_JSON && fmt != LWM2M_FMT_SENML_CBOR) ||
	    scratch == NULL || ret_paths == NULL || (buf == NULL && len > 0)) {
		lwm2m_diag_set(diag, 0, "content format %u cannot list paths",
		               (unsigned)fmt);
		return LWM2M_EINVAL;
	}
	if (len > scratch->limits->max_input_len) {
		lwm2m_diag_set(diag, scratch->limits->max_input_len,
		               "payload of %zu bytes exceeds the limit of %zu",
		               len, scratch->limits->max_input_len);
		return LWM2M_ELIMIT;
	}
	if (buf == NULL) {
		buf = (const uint8_t *)"";
	}
	if (fmt == LWM2M_FMT_SENML_JSON) {
		return lwm2m_senml_json_decode_paths(
		    buf, len, scratch, ret_paths, max_paths, ret_n, diag);
	}
	return lwm2m_senml_cbor_decode_paths(buf, len, scratch, ret_paths,
	                                     max_paths, ret_n, diag);
}

lwm2m_err
lwm2m_encode(enum lwm2m_format fmt, const struct lwm2m_tree *tree,
             const struct lwm2m_path *base, uint8_t **ret_buf, size_t *ret_len)
{
	const struct codec *c = find_codec(fmt);
	struct lwm2m_buf out = {0};
	lwm2m_err err;

	if (c == NULL || tree == NULL || base == NULL ||
	    base->len > LWM2M_PATH_MAX_LEN) {
		return LWM2M_EINVAL;
	}
	if (lwm2m_tree_get(tree, base) == NULL) {
		return LWM2M_ENOTFOUND;
	}
	err = c->encode(tree, base, &out);
	if (err == LWM2M_OK && out.data == NULL) {
		/* An empty payload still gets a buffer the caller can free. */
		out.data = malloc(1);
		err = out.data == NULL ? LWM2M_ENOMEM : LWM2M_OK;
	}
	if (err != LWM2M_OK) {
		lwm2m_buf_fini(&out);
		return err;
	}
	*ret_buf = out.data;
	*ret_len = out.len;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_buf_append(struct lwm2m_buf *b, const void *data, size_t len)
{
	if (len == 0) {
		return LWM2M_OK;
	}
	if (b->cap - b->len < len) {
		size_t cap = b->cap ? b->cap : 64;
		uint8_t *p;

		while (cap - b->len < len) {
			if (cap > SIZE_MAX / 2) {
				return LWM2M_ENOMEM;
			}
			cap *= 2;
		}
		p = realloc(b->data, cap);
		if (p == NULL) {
			return LWM2M_ENOMEM;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_buf_puts(struct lwm2m_buf *b, const char *s)
{
	return lwm2m_buf_append(b, s, strlen(s));
}

void
lwm2m_buf_fini(struct lwm2m_buf *b)
{
	if (b == NULL) {
		return;
	}
	free(b->data);
	memset(b, 0, sizeof(*b));
}
