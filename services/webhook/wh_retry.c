#include "wh.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lwm2m_id.h"

enum wh_outcome
wh_retry_classify(int status)
{
	if (status >= 200 && status <= 299) {
		return WH_DELIVERED;
	}
	if (status == 400 || status == 401 || status == 404 || status == 405) {
		return WH_DROP;
	}
	return WH_RETRY;
}

enum wh_outcome
wh_retry_decide(const struct wh_retry_policy *policy, int status,
                unsigned attempts)
{
	enum wh_outcome o = wh_retry_classify(status);

	if (o == WH_RETRY && attempts > policy->max_retries) {
		return WH_DROP;
	}
	return o;
}

int64_t
wh_retry_delay_ms(const struct wh_retry_policy *policy, unsigned retry,
                  uint32_t rnd)
{
	int64_t d = policy->base_ms > 0 ? policy->base_ms : 1;
	unsigned i;

	for (i = 1; i < retry && d < policy->max_ms; i++) {
		d *= 2;
	}
	if (d > policy->max_ms && policy->max_ms > 0) {
		d = policy->max_ms;
	}
	return d + (int64_t)(rnd % (uint64_t)(d / 2 + 1));
}

lwm2m_err
wh_sign(const char *secret, size_t secret_len, const void *body,
        size_t body_len, char ret_sig[WH_SIGNATURE_SIZE])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (HMAC(EVP_sha256(), secret, (int)secret_len, body, body_len, mac,
	         &mac_len) == NULL ||
	    mac_len != 32) {
		return LWM2M_EIO;
	}
	memcpy(ret_sig, "sha256=", 7);
	lwm2m_hex_encode(mac, mac_len, ret_sig + 7);
	return LWM2M_OK;
}
