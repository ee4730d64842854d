/* libFuzzer target for SENML_JSON through lwm2m_decode/lwm2m_encode: the first
 * byte picks the request path; decode, re-encode, decode again, compare,
 * free (see fuzz_codec.h).  The whole input is also decoded as a
 * Read-Composite path list. */
#include "fuzz_codec.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_paths_one(LWM2M_FMT_SENML_JSON, data, size);
	return fuzz_codec_one(LWM2M_FMT_SENML_JSON, data, size);
}
