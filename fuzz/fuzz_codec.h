/* fuzz_codec.h - the body shared by the fuzz targets of codec A's formats.
 *
 * The first input byte picks the request path (so the decoders see every
 * kind of base), the rest is the payload.  A payload that decodes must
 * re-encode (unless the format cannot express what was decoded, e.g. TLV
 * of an empty tree), and the re-encoded bytes must decode to an equal tree;
 * anything else aborts, which libFuzzer reports. */
#ifndef FUZZ_CODEC_H
#define FUZZ_CODEC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_cbor.h"
#include "lwm2m_value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct lwm2m_path fuzz_bases[] = {
    {1, {3}}, {2, {3, 0}},  {3, {3, 0, 7}},       {4, {3, 0, 7, 1}},
    {0, {0}}, {2, {66, 1}}, {3, {3303, 0, 5700}}, {1, {1}},
};

static const struct lwm2m_limits fuzz_limits = {
    .max_nodes = 4096,
    .max_depth = 16,
    .max_value_len = 65536,
    .max_input_len = 1 << 20,
};

static inline int
fuzz_codec_one(enum lwm2m_format fmt, const uint8_t *data, size_t size)
{
	const struct lwm2m_path *base;
	struct lwm2m_tree first, second;
	struct lwm2m_diag diag;
	uint8_t *out = NULL;
	size_t out_len = 0;
	lwm2m_err err;

	if (size == 0) {
		return 0;
	}
	base =
	    &fuzz_bases[data[0] % (sizeof(fuzz_bases) / sizeof(fuzz_bases[0]))];
	lwm2m_tree_init(&first, &fuzz_limits);
	lwm2m_tree_init(&second, &fuzz_limits);
	err = lwm2m_decode(fmt, data + 1, size - 1, base, &first, &diag);
	if (err == LWM2M_OK) {
		err = lwm2m_encode(fmt, &first, base, &out, &out_len);
	}
	if (err == LWM2M_OK && (lwm2m_decode(fmt, out, out_len, base, &second,
	                                     &diag) != LWM2M_OK ||
	                        !lwm2m_tree_equal(&first, &second))) {
		abort();
	}
	free(out);
	lwm2m_tree_fini(&second);
	lwm2m_tree_fini(&first);
	return 0;
}

/* fuzz_codec_root is the flavour of the CBOR targets: the whole input is the
 * payload, decoded at the root path without limits; a payload that decodes
 * must re-encode (or run out of memory) and decode to an equal tree. */
static inline int
fuzz_codec_root(enum lwm2m_format fmt, const uint8_t *data, size_t size)
{
	static const struct lwm2m_path base = {0, {0}};
	struct lwm2m_tree first, second;
	struct lwm2m_diag diag;
	uint8_t *out = NULL;
	size_t out_len = 0;
	lwm2m_err err;

	lwm2m_tree_init(&first, NULL);
	lwm2m_tree_init(&second, NULL);
	err = lwm2m_decode(fmt, data, size, &base, &first, &diag);
	if (err == LWM2M_OK) {
		err = lwm2m_encode(fmt, &first, &base, &out, &out_len);
		if (err != LWM2M_OK && err != LWM2M_ENOMEM) {
			abort();
		}
	}
	if (err == LWM2M_OK) {
		if (lwm2m_decode(fmt, out, out_len, &base, &second, &diag) !=
		        LWM2M_OK ||
		    !lwm2m_tree_equal(&first, &second)) {
			abort();
		}
	}
	free(out);
	lwm2m_tree_fini(&second);
	lwm2m_tree_fini(&first);
	return 0;
}

/* fuzz_paths_one decodes the whole input as a Read-Composite path list
 * (lwm2m_senml_decode_paths); every path that comes back must be valid,
 * and for SenML CBOR the list must re-encode and decode to the same paths. */
static inline int
fuzz_paths_one(enum lwm2m_format fmt, const uint8_t *data, size_t size)
{
	struct lwm2m_path paths[64], again[64];
	struct lwm2m_buf out = {0};
	struct lwm2m_tree scratch;
	struct lwm2m_diag diag;
	size_t n = 0, n2 = 0;

	lwm2m_tree_init(&scratch, &fuzz_limits);
	if (lwm2m_senml_decode_paths(fmt, data, size, &scratch, paths, 64, &n,
	                             &diag) == LWM2M_OK) {
		for (size_t i = 0; i < n; i++) {
			if (paths[i].len > LWM2M_PATH_MAX_LEN) {
				abort();
			}
		}
		if (fmt == LWM2M_FMT_SENML_CBOR &&
		    lwm2m_senml_cbor_encode_paths(paths, n, &out) == LWM2M_OK &&
		    (lwm2m_senml_decode_paths(fmt, out.data, out.len, &scratch,
		                              again, 64, &n2,
		                              &diag) != LWM2M_OK ||
		     n2 != n ||
		     memcmp(again, paths, n * sizeof paths[0]) != 0)) {
			abort();
		}
	}
	lwm2m_buf_fini(&out);
	lwm2m_tree_fini(&scratch);
	return 0;
}

#endif
