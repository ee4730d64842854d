/* fuzz_delivery: lwm2m_delivery_decode, then encode, decode again and
 * compare: every accepted job survives a round trip unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_delivery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_same(const struct lwm2m_delivery *a, const struct lwm2m_delivery *b)
{
	if (strcmp(a->id, b->id) != 0 || strcmp(a->sub, b->sub) != 0 ||
	    a->org != b->org || a->attempt != b->attempt ||
	    a->created != b->created || strcmp(a->url, b->url) != 0 ||
	    strcmp(a->content_type, b->content_type) != 0 ||
	    strcmp(a->secret, b->secret) != 0 || a->body_len != b->body_len ||
	    memcmp(a->body, b->body, a->body_len) != 0) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lwm2m_delivery d, e;
	char *text;
	size_t len;

	if (lwm2m_delivery_decode((const char *)data, size, &d) != LWM2M_OK) {
		return 0;
	}
	if (lwm2m_delivery_encode(&d, &text, &len) != LWM2M_OK) {
		abort();
	}
	if (lwm2m_delivery_decode(text, len, &e) != LWM2M_OK) {
		abort();
	}
	check_same(&d, &e);
	free(text);
	lwm2m_delivery_fini(&d);
	lwm2m_delivery_fini(&e);
	return 0;
}
