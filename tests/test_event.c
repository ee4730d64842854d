/* Unit tests of lwm2m_event: the connectivity event JSON payload. */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include "lwm2m_env.h"
#include "lwm2m_event.h"

static const struct lwm2m_event sample = {
    .id = "pFRn92gTAIJLwFeC0-IsFA",
    .ep = "urn:imei:\"quoted\"\\",
    .org = 42,
    .gw = "host-1234",
    .ts = 1795606686695,
};

START_TEST(test_lwm2m_event_encode_text)
{
	char buf[LWM2M_EVENT_JSON_MAX];
	size_t len;

	ck_assert_int_eq(lwm2m_event_encode(&sample, buf, sizeof buf, &len),
	                 LWM2M_OK);
	ck_assert_str_eq(buf, "{\"id\":\"pFRn92gTAIJLwFeC0-IsFA\","
	                      "\"ep\":\"urn:imei:\\\"quoted\\\"\\\\\","
	                      "\"org\":42,\"gw\":\"host-1234\","
	                      "\"ts\":1795606686695}");
	ck_assert_uint_eq(len, strlen(buf));
	ck_assert_int_eq(lwm2m_event_encode(&sample, buf, 10, &len),
	                 LWM2M_ELIMIT);
}
END_TEST

START_TEST(test_lwm2m_event_encode_escapes)
{
	struct lwm2m_event ev = sample;
	char buf[LWM2M_EVENT_JSON_MAX];
	struct lwm2m_event back;
	size_t len;

	strcpy(ev.ep, "a\tb\nc\x01" "d/e");
	ev.org = -7;
	ev.ts = 0;
	ck_assert_int_eq(lwm2m_event_encode(&ev, buf, sizeof buf, &len),
	                 LWM2M_OK);
	ck_assert_str_eq(buf, "{\"id\":\"pFRn92gTAIJLwFeC0-IsFA\","
	                      "\"ep\":\"a\\tb\\nc\\u0001d/e\","
	                      "\"org\":-7,\"gw\":\"host-1234\",\"ts\":0}");
	ck_assert_int_eq(lwm2m_event_decode((const uint8_t *)buf, len, &back),
	                 LWM2M_OK);
	ck_assert_str_eq(back.ep, ev.ep);
}
END_TEST

START_TEST(test_lwm2m_event_encode_exact_size)
{
	char buf[LWM2M_EVENT_JSON_MAX], small[LWM2M_EVENT_JSON_MAX];
	size_t len, len2;

	ck_assert_int_eq(lwm2m_event_encode(&sample, buf, sizeof buf, &len),
	                 LWM2M_OK);
	/* the NUL needs a byte: len + 1 fits, len does not */
	ck_assert_int_eq(lwm2m_event_encode(&sample, small, len + 1, &len2),
	                 LWM2M_OK);
	ck_assert_uint_eq(len2, len);
	ck_assert_str_eq(small, buf);
	ck_assert_int_eq(lwm2m_event_encode(&sample, small, len, &len2),
	                 LWM2M_ELIMIT);
	ck_assert_int_eq(lwm2m_event_encode(&sample, small, 0, &len2),
	                 LWM2M_ELIMIT);
}
END_TEST

START_TEST(test_lwm2m_event_decode_roundtrip)
{
	char buf[LWM2M_EVENT_JSON_MAX];
	struct lwm2m_event ev;
	size_t len;

	ck_assert_int_eq(lwm2m_event_encode(&sample, buf, sizeof buf, &len),
	                 LWM2M_OK);
	ck_assert_int_eq(lwm2m_event_decode((const uint8_t *)buf, len, &ev),
	                 LWM2M_OK);
	ck_assert_str_eq(ev.id, sample.id);
	ck_assert_str_eq(ev.ep, sample.ep);
	ck_assert_str_eq(ev.gw, sample.gw);
	ck_assert_int_eq(ev.org, 42);
	ck_assert_int_eq(ev.ts, sample.ts);
}
END_TEST

START_TEST(test_lwm2m_event_decode_rejects)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{",
	    "{\"ep\":\"x\"}",
	    "{\"id\":\"short\"}",
	    "{\"id\":\"pFRn92gTAIJLwFeC0-IsFA\",\"org\":\"1\"}",
	    "{\"id\":\"pFRn92gTAIJLwFeC0-IsFA\",\"ep\":5}",
	    "{\"id\":\"pFRn92gTAIJLwFeC0-IsFA\",\"ts\":1.5}",
	};
	struct lwm2m_event ev;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(lwm2m_event_decode((const uint8_t *)bad[i],
		                                 strlen(bad[i]),
		                                 &ev) == LWM2M_EPROTO,
		              "accepted %s", bad[i]);
	}
}
END_TEST

START_TEST(test_lwm2m_event_decode_extra_members)
{
	const char *text = "{\"x\":[1,2],\"id\":\"pFRn92gTAIJLwFeC0-IsFA\"}";
	struct lwm2m_event ev;

	ck_assert_int_eq(
	    lwm2m_event_decode((const uint8_t *)text, strlen(text), &ev),
	    LWM2M_OK);
	ck_assert_str_eq(ev.ep, "");
	ck_assert_int_eq(ev.org, 0);
}
END_TEST

START_TEST(test_lwm2m_event_msg_new_envelope)
{
	struct lwm2m_env env;
	struct lwm2m_event ev;
	nng_msg *msg;

	ck_assert_int_eq(
	    lwm2m_event_msg_new(LWM2M_ENV_EV_EXPIRED, &sample, &msg), LWM2M_OK);
	ck_assert_int_eq(lwm2m_env_decode(msg, &env), LWM2M_OK);
	ck_assert_uint_eq(env.kind, LWM2M_ENV_EV_EXPIRED);
	ck_assert_int_eq(lwm2m_event_decode(env.payload, env.payload_len, &ev),
	                 LWM2M_OK);
	ck_assert_str_eq(ev.id, sample.id);
	nng_msg_free(msg);
}
END_TEST

static Suite *
event_suite(void)
{
	Suite *s = suite_create("lwm2m_event");
	TCase *tc;

	tc = tcase_create("lwm2m_event_encode");
	tcase_add_test(tc, test_lwm2m_event_encode_text);
	tcase_add_test(tc, test_lwm2m_event_encode_escapes);
	tcase_add_test(tc, test_lwm2m_event_encode_exact_size);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_event_decode");
	tcase_add_test(tc, test_lwm2m_event_decode_roundtrip);
	tcase_add_test(tc, test_lwm2m_event_decode_rejects);
	tcase_add_test(tc, test_lwm2m_event_decode_extra_members);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_event_msg_new");
	tcase_add_test(tc, test_lwm2m_event_msg_new_envelope);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(event_suite());
}
