/* Unit tests of common/lwm2m_delivery: the job format on the durable queue
 * shared by lwds-broker (producer) and lwds-webhook (consumer). */
#include <check.h>

#include "check_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_delivery.h"

#define SUB "pFRn92gTAIJLwFeC0-IsFA"

START_TEST(test_lwm2m_delivery_init_fills)
{
	struct lwm2m_delivery d;

	ck_assert_int_eq(lwm2m_delivery_init(&d, SUB, 7, "http://h/x",
	                                     "application/json", "s3", "{}", 2),
	                 LWM2M_OK);
	ck_assert(lwm2m_id_valid(d.id, strlen(d.id)));
	ck_assert_str_eq(d.sub, SUB);
	ck_assert_int_eq(d.org, 7);
	ck_assert_uint_eq(d.attempt, 0);
	ck_assert_str_eq(d.body, "{}");
	ck_assert(d.created > 0);
	lwm2m_delivery_fini(&d);
	lwm2m_delivery_fini(&d);
	lwm2m_delivery_fini(NULL);
}
END_TEST

START_TEST(test_lwm2m_delivery_init_limits)
{
	struct lwm2m_delivery d;
	size_t big = LWM2M_DELIVERY_URL_MAX + 2;
	char *url = malloc(big);

	memset(url, 'a', big - 1);
	url[big - 1] = '\0';
	ck_assert_int_eq(lwm2m_delivery_init(&d, SUB, 1, url, "", "", "", 0),
	                 LWM2M_ELIMIT);
	ck_assert_int_eq(
	    lwm2m_delivery_init(&d, "short", 1, "http://h", "", "", "", 0),
	    LWM2M_EINVAL);
	ck_assert_int_eq(lwm2m_delivery_init(&d, SUB, 1, "", "", "", "", 0),
	                 LWM2M_EINVAL);
	ck_assert_int_eq(lwm2m_delivery_init(&d, SUB, 1, "http://h", "", "",
	                                     url, LWM2M_DELIVERY_BODY_MAX + 1),
	                 LWM2M_ELIMIT);
	free(url);
}
END_TEST

START_TEST(test_lwm2m_delivery_encode_roundtrip)
{
	struct lwm2m_delivery d, e;
	const char body[] = "<a href=\"x\">\n\t\"quoted\" \\ ü</a>";
	char *text;
	size_t len;

	ck_assert_int_eq(
	    lwm2m_delivery_init(&d, SUB, 42, "https://h:8443/p?q=1",
	                        "application/xml", "k\"ey", body, strlen(body)),
	    LWM2M_OK);
	d.attempt = 3;
	ck_assert_int_eq(lwm2m_delivery_encode(&d, &text, &len), LWM2M_OK);
	ck_assert_uint_eq(strlen(text), len);
	ck_assert_int_eq(lwm2m_delivery_decode(text, len, &e), LWM2M_OK);
	ck_assert_str_eq(e.id, d.id);
	ck_assert_str_eq(e.sub, SUB);
	ck_assert_int_eq(e.org, 42);
	ck_assert_uint_eq(e.attempt, 3);
	ck_assert_int_eq(e.created, d.created);
	ck_assert_str_eq(e.url, d.url);
	ck_assert_str_eq(e.content_type, "application/xml");
	ck_assert_str_eq(e.secret, "k\"ey");
	ck_assert_uint_eq(e.body_len, strlen(body));
	ck_assert_str_eq(e.body, body);
	free(text);
	lwm2m_delivery_fini(&d);
	lwm2m_delivery_fini(&e);
}
END_TEST

static lwm2m_err
decode_str(const char *s)
{
	struct lwm2m_delivery d;
	lwm2m_err err = lwm2m_delivery_decode(s, strlen(s), &d);

	if (err == LWM2M_OK) {
		lwm2m_delivery_fini(&d);
	}
	return err;
}

#define GOOD_PREFIX "{\"v\":1,\"id\":\"" SUB "\",\"sub\":\"" SUB "\","

START_TEST(test_lwm2m_delivery_decode_rejects)
{
	ck_assert_int_eq(decode_str(GOOD_PREFIX
	                            "\"org\":1,\"url\":\"u\","
	                            "\"ct\":\"\",\"secret\":\"\",\"attempt\":0,"
	                            "\"created\":1,\"body\":\"\"}"),
	                 LWM2M_OK);
	ck_assert_int_eq(decode_str(""), LWM2M_EPROTO);
	ck_assert_int_eq(decode_str("[1]"), LWM2M_EPROTO);
	ck_assert_int_eq(decode_str("{\"v\":1"), LWM2M_EPROTO);
	/* wrong version, missing body, mistyped attempt, bad id */
	ck_assert_int_eq(
	    decode_str("{\"v\":2,\"id\":\"" SUB "\",\"sub\":\"" SUB
	               "\",\"org\":1,\"url\":\"u\",\"ct\":\"\","
	               "\"secret\":\"\",\"attempt\":0,\"created\":1,"
	               "\"body\":\"\"}"),
	    LWM2M_EPROTO);
	ck_assert_int_eq(decode_str(GOOD_PREFIX
	                            "\"org\":1,\"url\":\"u\","
	                            "\"ct\":\"\",\"secret\":\"\",\"attempt\":0,"
	                            "\"created\":1}"),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(
	    decode_str(GOOD_PREFIX
	               "\"org\":1,\"url\":\"u\","
	               "\"ct\":\"\",\"secret\":\"\",\"attempt\":\"0\","
	               "\"created\":1,\"body\":\"\"}"),
	    LWM2M_EPROTO);
	ck_assert_int_eq(
	    decode_str(GOOD_PREFIX
	               "\"org\":1,\"url\":\"u\","
	               "\"ct\":\"\",\"secret\":\"\",\"attempt\":100000,"
	               "\"created\":1,\"body\":\"\"}"),
	    LWM2M_EPROTO);
	ck_assert_int_eq(
	    decode_str("{\"v\":1,\"id\":\"x\",\"sub\":\"" SUB
	               "\",\"org\":1,\"url\":\"u\",\"ct\":\"\","
	               "\"secret\":\"\",\"attempt\":0,\"created\":1,"
	               "\"body\":\"\"}"),
	    LWM2M_EPROTO);
	ck_assert_int_eq(decode_str(GOOD_PREFIX
	                            "\"org\":1,\"url\":\"\","
	                            "\"ct\":\"\",\"secret\":\"\",\"attempt\":0,"
	                            "\"created\":1,\"body\":\"\"}"),
	                 LWM2M_EINVAL);
}
END_TEST

START_TEST(test_lwm2m_delivery_decode_too_long)
{
	struct lwm2m_delivery d;

	ck_assert_int_eq(
	    lwm2m_delivery_decode("{}", LWM2M_DELIVERY_JSON_MAX + 1, &d),
	    LWM2M_ELIMIT);
}
END_TEST

static Suite *
delivery_suite(void)
{
	Suite *s = suite_create("lwm2m_delivery");
	TCase *tc;

	tc = tcase_create("lwm2m_delivery_init");
	tcase_add_test(tc, test_lwm2m_delivery_init_fills);
	tcase_add_test(tc, test_lwm2m_delivery_init_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_delivery_encode");
	tcase_add_test(tc, test_lwm2m_delivery_encode_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_delivery_decode");
	tcase_add_test(tc, test_lwm2m_delivery_decode_rejects);
	tcase_add_test(tc, test_lwm2m_delivery_decode_too_long);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(delivery_suite());
}
