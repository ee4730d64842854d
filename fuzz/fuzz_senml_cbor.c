/* libFuzzer target for SenML CBOR (112) through lwm2m_decode/lwm2m_encode:
 * decode, re-encode, decode again and compare the two trees, then free.
 * The input is also decoded as a Read-Composite path list, which must
 * re-encode to the same paths. */
#include "fuzz_codec.h"
#include "lwm2m_cbor.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_paths_one(LWM2M_FMT_SENML_CBOR, data, size);
	return fuzz_codec_root(LWM2M_FMT_SENML_CBOR, data, size);
}
