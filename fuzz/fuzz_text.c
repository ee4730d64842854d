/* libFuzzer target for text/plain through lwm2m_decode/lwm2m_encode (the
 * first byte picks the request path; decode, re-encode, decode again,
 * compare, free; see fuzz_codec.h), then every lwm2m_value_coerce()
 * conversion of the payload as text and as TLV bytes. */
#include "fuzz_codec.h"

static void
coerce_all(const uint8_t *data, size_t size)
{
	struct lwm2m_tree t;
	struct lwm2m_diag diag;

	lwm2m_tree_init(&t, &fuzz_limits);
	for (int to = LWM2M_TYPE_RAW; to <= LWM2M_TYPE_CORELNK; to++) {
		for (int text = 0; text < 2; text++) {
			struct lwm2m_value v = {.type = LWM2M_TYPE_RAW};

			v.v.bytes.ptr = data;
			v.v.bytes.len = size;
			if (lwm2m_value_coerce(&t, &v, (enum lwm2m_type)to,
			                       text, &diag) == LWM2M_OK &&
			    v.type != (enum lwm2m_type)to) {
				abort();
			}
		}
	}
	lwm2m_tree_fini(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	coerce_all(data, size);
	fuzz_codec_one((size > 0 && (data[0] & 0x80)) ? LWM2M_FMT_OPAQUE
	                                              : LWM2M_FMT_TEXT,
	               data, size);
	return 0;
}
