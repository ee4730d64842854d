/* fuzz_devop: lwm2m_devop_req_decode, _reply_decode and _notify_decode, then
 * encode and compare: every accepted payload re-encodes to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_devop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen || memcmp(a, b, alen) != 0) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lwm2m_devop_req req;
	struct lwm2m_devop_reply reply;
	struct lwm2m_devop_notify notify;
	uint8_t *buf;
	size_t len;

	if (lwm2m_devop_req_decode(data, size, &req) == LWM2M_OK) {
		if (lwm2m_devop_req_encode(&req, &buf, &len) != LWM2M_OK) {
			abort();
		}
		same_bytes(data, size, buf, len);
		free(buf);
	}
	if (lwm2m_devop_reply_decode(data, size, &reply) == LWM2M_OK) {
		if (lwm2m_devop_reply_encode(&reply, &buf, &len) != LWM2M_OK) {
			abort();
		}
		same_bytes(data, size, buf, len);
		free(buf);
	}
	if (lwm2m_devop_notify_decode(data, size, &notify) == LWM2M_OK) {
		if (lwm2m_devop_notify_encode(&notify, &buf, &len) !=
		    LWM2M_OK) {
			abort();
		}
		same_bytes(data, size, buf, len);
		free(buf);
	}
	return 0;
}
