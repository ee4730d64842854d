/* libFuzzer target for LwM2M CBOR (11544) through lwm2m_decode/lwm2m_encode:
 * decode, re-encode, decode again and compare the two trees, then free. */
#include <stdint.h>
#include <stdlib.h>

#include "lwm2m_cbor.h"
#include "lwm2m_value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct lwm2m_path base = {0, {0}};
	struct lwm2m_tree first, second;
	struct lwm2m_diag diag;
	uint8_t *out = NULL;
	size_t out_len = 0;
	lwm2m_err err;

	lwm2m_tree_init(&first, NULL);
	lwm2m_tree_init(&second, NULL);
	err = lwm2m_decode(LWM2M_FMT_LWM2M_CBOR, data, size, &base, &first,
	                   &diag);
	if (err == LWM2M_OK) {
		err = lwm2m_encode(LWM2M_FMT_LWM2M_CBOR, &first, &base, &out,
		                   &out_len);
		if (err != LWM2M_OK && err != LWM2M_ENOMEM) {
			abort();
		}
	}
	if (err == LWM2M_OK) {
		if (lwm2m_decode(LWM2M_FMT_LWM2M_CBOR, out, out_len, &base,
		                 &second, &diag) != LWM2M_OK ||
		    !lwm2m_tree_equal(&first, &second)) {
			abort();
		}
	}
	free(out);
	lwm2m_tree_fini(&second);
	lwm2m_tree_fini(&first);
	return 0;
}
