/* libFuzzer target for the generic CBOR reader and writer: read any item,
 * re-encode it canonically (definite lengths, shortest heads and floats),
 * check the result is well formed and that re-encoding it again gives the
 * same bytes, then free. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lwm2m_err copy_item(struct lwm2m_cbor_reader *r,
                           struct lwm2m_cbor_writer *w);

static lwm2m_err
copy_container(struct lwm2m_cbor_reader *r, struct lwm2m_cbor_writer *w,
               struct lwm2m_cbor_item *it)
{
	struct lwm2m_buf inner = {0};
	struct lwm2m_cbor_writer wi;
	uint64_t n = 0;
	bool more = true;
	lwm2m_err err = LWM2M_OK;

	lwm2m_cbor_writer_init(&wi, &inner);
	while (err == LWM2M_OK) {
		err = lwm2m_cbor_next(r, it, &more);
		if (err != LWM2M_OK || !more) {
			break;
		}
		n++;
		err = copy_item(r, &wi);
		if (err == LWM2M_OK && it->kind == LWM2M_CBOR_MAP) {
			err = copy_item(r, &wi);
		}
	}
	if (err == LWM2M_OK && it->kind == LWM2M_CBOR_ARRAY) {
		lwm2m_cbor_put_array(w, n);
	} else if (err == LWM2M_OK) {
		lwm2m_cbor_put_map(w, n);
	}
	if (err == LWM2M_OK && wi.err == LWM2M_OK && w->err == LWM2M_OK) {
		w->err = lwm2m_buf_append(w->out, inner.data, inner.len);
	}
	lwm2m_buf_fini(&inner);
	return err != LWM2M_OK ? err : wi.err;
}

static void
copy_scalar(struct lwm2m_cbor_writer *w, const struct lwm2m_cbor_item *it)
{
	uint8_t b[2] = {0xf8, (uint8_t)it->u};
	uint8_t *s;

	switch (it->kind) {
	case LWM2M_CBOR_UINT:
		lwm2m_cbor_put_uint(w, it->u);
		return;
	case LWM2M_CBOR_NEGINT:
		lwm2m_cbor_put_negint(w, it->u);
		return;
	case LWM2M_CBOR_FLOAT:
		lwm2m_cbor_put_float(w, it->f);
		return;
	case LWM2M_CBOR_BYTES:
	case LWM2M_CBOR_TEXT:
		s = malloc(it->len + 1);
		if (s == NULL) {
			w->err = LWM2M_ENOMEM;
			return;
		}
		lwm2m_cbor_string_copy(it, s);
		if (it->kind == LWM2M_CBOR_TEXT) {
			lwm2m_cbor_put_text(w, (const char *)s, it->len);
		} else {
			lwm2m_cbor_put_bytes(w, s, it->len);
		}
		free(s);
		return;
	default:
		if (it->u < 24) {
			b[0] = (uint8_t)(0xe0 | it->u);
		}
		if (w->err == LWM2M_OK) {
			w->err =
			    lwm2m_buf_append(w->out, b, it->u < 24 ? 1 : 2);
		}
		return;
	}
}

static lwm2m_err
copy_item(struct lwm2m_cbor_reader *r, struct lwm2m_cbor_writer *w)
{
	struct lwm2m_cbor_item it;
	lwm2m_err err = lwm2m_cbor_read(r, &it);

	if (err != LWM2M_OK) {
		return err;
	}
	if (it.tagged) {
		lwm2m_cbor_put_tag(w, it.tag);
	}
	if (it.kind == LWM2M_CBOR_ARRAY || it.kind == LWM2M_CBOR_MAP) {
		return copy_container(r, w, &it);
	}
	copy_scalar(w, &it);
	return LWM2M_OK;
}

/* recode writes the canonical form of buf into out. */
static lwm2m_err
recode(const uint8_t *buf, size_t len, struct lwm2m_buf *out)
{
	struct lwm2m_cbor_reader r;
	struct lwm2m_cbor_writer w;
	lwm2m_err err = lwm2m_cbor_reader_init(&r, buf, len, NULL, NULL);

	lwm2m_cbor_writer_init(&w, out);
	if (err == LWM2M_OK) {
		err = copy_item(&r, &w);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_cbor_finish(&r);
	}
	return err != LWM2M_OK ? err : w.err;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lwm2m_buf once = {0}, twice = {0};
	lwm2m_err valid = lwm2m_cbor_validate(data, size, NULL, NULL);
	lwm2m_err err = recode(data, size, &once);

	/* validate and a full read must agree on well-formedness. */
	if ((valid == LWM2M_OK) != (err == LWM2M_OK) && err != LWM2M_ENOMEM) {
		abort();
	}
	if (err == LWM2M_OK) {
		if (recode(once.data, once.len, &twice) != LWM2M_OK ||
		    twice.len != once.len ||
		    memcmp(twice.data, once.data, once.len) != 0) {
			abort();
		}
	}
	lwm2m_buf_fini(&twice);
	lwm2m_buf_fini(&once);
	return 0;
}
