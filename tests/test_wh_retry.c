/* Unit tests of services/webhook/wh_retry.c: which statuses retry, the
 * backoff bounds with jitter, and the HMAC signature. */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include "wh.h"

START_TEST(test_wh_retry_classify_statuses)
{
	ck_assert_int_eq(wh_retry_classify(200), WH_DELIVERED);
	ck_assert_int_eq(wh_retry_classify(201), WH_DELIVERED);
	ck_assert_int_eq(wh_retry_classify(204), WH_DELIVERED);
	ck_assert_int_eq(wh_retry_classify(299), WH_DELIVERED);
	ck_assert_int_eq(wh_retry_classify(400), WH_DROP);
	ck_assert_int_eq(wh_retry_classify(401), WH_DROP);
	ck_assert_int_eq(wh_retry_classify(404), WH_DROP);
	ck_assert_int_eq(wh_retry_classify(405), WH_DROP);
	ck_assert_int_eq(wh_retry_classify(0), WH_RETRY);
	ck_assert_int_eq(wh_retry_classify(301), WH_RETRY);
	ck_assert_int_eq(wh_retry_classify(403), WH_RETRY);
	ck_assert_int_eq(wh_retry_classify(429), WH_RETRY);
	ck_assert_int_eq(wh_retry_classify(500), WH_RETRY);
	ck_assert_int_eq(wh_retry_classify(503), WH_RETRY);
}
END_TEST

START_TEST(test_wh_retry_decide_bound)
{
	struct wh_retry_policy p = {
	    .max_retries = 10, .base_ms = 1000, .max_ms = 300000};

	ck_assert_int_eq(wh_retry_decide(&p, 500, 1), WH_RETRY);
	ck_assert_int_eq(wh_retry_decide(&p, 500, 10), WH_RETRY);
	ck_assert_int_eq(wh_retry_decide(&p, 500, 11), WH_DROP);
	ck_assert_int_eq(wh_retry_decide(&p, 200, 11), WH_DELIVERED);
	ck_assert_int_eq(wh_retry_decide(&p, 404, 1), WH_DROP);
	p.max_retries = 0;
	ck_assert_int_eq(wh_retry_decide(&p, 0, 1), WH_DROP);
}
END_TEST

START_TEST(test_wh_retry_delay_ms_bounds)
{
	struct wh_retry_policy p = {
	    .max_retries = 10, .base_ms = 1000, .max_ms = 60000};
	int64_t expect[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
	unsigned retry;
	uint32_t rnd;

	for (retry = 1; retry <= 8; retry++) {
		int64_t d = expect[retry - 1];

		ck_assert_int_eq(wh_retry_delay_ms(&p, retry, 0), d);
		ck_assert_int_eq(
		    wh_retry_delay_ms(&p, retry, (uint32_t)(d / 2)), d + d / 2);
		for (rnd = 0; rnd < 100000; rnd += 997) {
			int64_t v = wh_retry_delay_ms(&p, retry, rnd * 7919u);

			ck_assert_int_ge(v, d);
			ck_assert_int_le(v, d + d / 2);
			ck_assert_int_ge(v, 1000);
		}
	}
	ck_assert_int_le(wh_retry_delay_ms(&p, 1000, UINT32_MAX), 90000);
}
END_TEST

START_TEST(test_wh_sign_rfc4231)
{
	char sig[WH_SIGNATURE_SIZE];
	const char data[] = "what do ya want for nothing?";

	/* RFC 4231 test case 2 */
	ck_assert_int_eq(wh_sign("Jefe", 4, data, strlen(data), sig), LWM2M_OK);
	ck_assert_str_eq(sig, "sha256=5bdcc146bf60754e6a042426089575c7"
	                      "5a003f089d2739839dec58b964ec3843");
}
END_TEST

START_TEST(test_wh_sign_empty)
{
	char sig[WH_SIGNATURE_SIZE];

	/* HMAC-SHA256 with empty key and empty message */
	ck_assert_int_eq(wh_sign("", 0, "", 0, sig), LWM2M_OK);
	ck_assert_str_eq(sig, "sha256=b613679a0814d9ec772f95d778c35fc5"
	                      "ff1697c493715653c6c712144292c5ad");
}
END_TEST

static Suite *
retry_suite(void)
{
	Suite *s = suite_create("wh_retry");
	TCase *tc;

	tc = tcase_create("wh_retry_classify");
	tcase_add_test(tc, test_wh_retry_classify_statuses);
	suite_add_tcase(s, tc);
	tc = tcase_create("wh_retry_decide");
	tcase_add_test(tc, test_wh_retry_decide_bound);
	suite_add_tcase(s, tc);
	tc = tcase_create("wh_retry_delay_ms");
	tcase_add_test(tc, test_wh_retry_delay_ms_bounds);
	suite_add_tcase(s, tc);
	tc = tcase_create("wh_sign");
	tcase_add_test(tc, test_wh_sign_rfc4231);
	tcase_add_test(tc, test_wh_sign_empty);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(retry_suite());
}
