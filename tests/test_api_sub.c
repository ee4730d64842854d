/* Unit tests of subscription bodies and records
 * (services/rest-api/api_subbody.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "api_sub.h"
#include "lwm2m_keys.h"

static lwm2m_err
parse(const char *ct, const char *text, struct api_sub_body *ret, char *diag,
      size_t size)
{
	struct api_body body;
	lwm2m_err err = api_body_parse(ct, (const uint8_t *)text, strlen(text),
	                               NULL, &body, diag, size);

	ck_assert_int_eq(err, LWM2M_OK);
	err = api_sub_body_parse(&body, ret, diag, size);
	api_body_fini(&body);
	return err;
}

START_TEST(test_api_sub_type_canonical_cases)
{
	ck_assert_str_eq(api_sub_type_canonical("observation"), "Observation");
	ck_assert_str_eq(api_sub_type_canonical("CLIENTCONNECTIONEXPIRED"),
	                 "ClientConnectionExpired");
	ck_assert_ptr_null(api_sub_type_canonical("Client"));
	ck_assert_ptr_null(api_sub_type_canonical(NULL));
}
END_TEST

START_TEST(test_api_sub_attr_name_and_field)
{
	ck_assert_str_eq(api_sub_attr_name(API_SUB_STEP), "Step");
	ck_assert_str_eq(api_sub_attr_field(API_SUB_STEP), LWM2M_SF_STEP);
	ck_assert_str_eq(api_sub_attr_name(API_SUB_GT), "GreaterThan");
	ck_assert_str_eq(api_sub_attr_field(API_SUB_LT), LWM2M_SF_LT);
	ck_assert_str_eq(api_sub_attr_name(API_SUB_N_ATTRS), "");
}
END_TEST

START_TEST(test_api_sub_decimal_ok_cases)
{
	ck_assert(api_sub_decimal_ok("0", true, false));
	ck_assert(api_sub_decimal_ok("0.25", false, false));
	ck_assert(api_sub_decimal_ok("-10.125", false, true));
	ck_assert(!api_sub_decimal_ok("-1", false, false));
	ck_assert(!api_sub_decimal_ok("1.5", true, false));
	ck_assert(!api_sub_decimal_ok("1e5", false, true));
	ck_assert(!api_sub_decimal_ok("1.", false, true));
	ck_assert(!api_sub_decimal_ok(".5", false, true));
	ck_assert(!api_sub_decimal_ok("", false, true));
	ck_assert(!api_sub_decimal_ok(" ", false, true));
	ck_assert(!api_sub_decimal_ok("123456789012345678901234567890123",
	                              false, true));
}
END_TEST

START_TEST(test_api_sub_body_parse_json)
{
	struct api_sub_body b;
	char diag[200];

	ck_assert_int_eq(
	    parse("application/vnd.imgtec.subscription+json",
	          "{\"subscriptiontype\":\"observation\",\"Url\":"
	          "\"https://h/x\",\"Property\":5700,\"Attributes\":{\"Pmin\":"
	          "5,\"Step\":0.25,\"LessThan\":\"-3.5\"},\"Links\":[{\"rel\":"
	          "\"object\",\"href\":\"https://h/clients/"
	          "CbbKiujtCQml3G-ul8fjwg/objecttypes/7w-Fwhr0QqXbKPtVkYgkfA/"
	          "instances/4\"}]}",
	          &b, diag, sizeof diag),
	    LWM2M_OK);
	ck_assert_str_eq(b.type, "Observation");
	ck_assert_str_eq(b.url, "https://h/x");
	ck_assert_str_eq(b.property, "5700");
	ck_assert_str_eq(b.attrs[API_SUB_PMIN], "5");
	ck_assert_str_eq(b.attrs[API_SUB_STEP], "0.25");
	ck_assert_str_eq(b.attrs[API_SUB_LT], "-3.5");
	ck_assert_str_eq(b.attrs[API_SUB_PMAX], "");
	ck_assert_str_eq(b.client, "CbbKiujtCQml3G-ul8fjwg");
	ck_assert_str_eq(b.def, "7w-Fwhr0QqXbKPtVkYgkfA");
	ck_assert_int_eq(b.inst, 4);
	ck_assert_ptr_null(b.accept);
	api_sub_body_fini(&b);
}
END_TEST

START_TEST(test_api_sub_body_parse_xml)
{
	struct api_sub_body b;
	char diag[200];

	ck_assert_int_eq(
	    parse("application/xml",
	          "<Subscription><SubscriptionType> ClientUpdated "
	          "</SubscriptionType><Url>http://h/y</Url><AcceptContentType>"
	          "application/xml</AcceptContentType><Attributes><Pmax>60"
	          "</Pmax></Attributes><Links><Link rel=\"object\" "
	          "href=\"/clients/"
	          "CbbKiujtCQml3G-ul8fjwg\"/></Links></Subscription>",
	          &b, diag, sizeof diag),
	    LWM2M_OK);
	ck_assert_str_eq(b.type, "ClientUpdated");
	ck_assert_str_eq(b.accept, "application/xml");
	ck_assert_str_eq(b.attrs[API_SUB_PMAX], "60");
	ck_assert_str_eq(b.client, "CbbKiujtCQml3G-ul8fjwg");
	ck_assert_str_eq(b.def, "");
	ck_assert_int_eq(b.inst, -1);
	api_sub_body_fini(&b);
}
END_TEST

START_TEST(test_api_sub_body_parse_errors)
{
	static const struct {
		const char *json, *word;
	} cases[] = {
	    {"[]", "object"},
	    {"{\"SubscriptionType\":\"x\"}", "SubscriptionType"},
	    {"{\"SubscriptionType\":true}", "SubscriptionType"},
	    {"{\"Url\":\"mailto:a\"}", "Url"},
	    {"{\"Url\":\"http://a b/\"}", "Url"},
	    {"{\"Attributes\":{\"Pmin\":-1}}", "Pmin"},
	    {"{\"Attributes\":{\"Pmax\":1234567890}}", "Pmax"},
	    {"{\"Attributes\":{\"Step\":\" \"}}", "Step"},
	    {"{\"Attributes\":{\"GreaterThan\":1e3}}", "GreaterThan"},
	    {"{\"Attributes\":5}", "Attributes"},
	    {"{\"Links\":{}}", "Links"},
	    {"{\"Links\":[{\"rel\":\"object\",\"href\":\"/objecttypes/xx\"}]}",
	     "definition"},
	    {"{\"Links\":[{\"rel\":\"object\",\"href\":\"/clients/"
	     "CbbKiujtCQml3G-ul8fjwg/objecttypes/7w-Fwhr0QqXbKPtVkYgkfA/"
	     "instances/70000\"}]}",
	     "instance"},
	    {"{\"AcceptContentType\":\"\"}", "AcceptContentType"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct api_sub_body b;
		char diag[200] = "";

		ck_assert_int_eq(parse("application/json", cases[i].json, &b,
		                       diag, sizeof diag),
		                 LWM2M_EPROTO);
		ck_assert_msg(strstr(diag, cases[i].word) != NULL, "%s: %s",
		              cases[i].json, diag);
		api_sub_body_fini(&b);
	}
}
END_TEST

START_TEST(test_api_sub_body_fini_null)
{
	api_sub_body_fini(NULL);
}
END_TEST

START_TEST(test_api_sub_href_target_keeps_set_ids)
{
	struct api_sub_body b = {.inst = 7};
	char diag[100];

	memcpy(b.client, "AAAAAAAAAAAAAAAAAAAAAQ", LWM2M_ID_SIZE);
	ck_assert_int_eq(api_sub_href_target("/clients/CbbKiujtCQml3G-ul8fjwg/"
	                                     "objecttypes/7w-Fwhr0QqXbKPtVkYg"
	                                     "kfA/instances/1?x=1",
	                                     &b, diag, sizeof diag),
	                 LWM2M_OK);
	ck_assert_str_eq(b.client, "AAAAAAAAAAAAAAAAAAAAAQ");
	ck_assert_str_eq(b.def, "7w-Fwhr0QqXbKPtVkYgkfA");
	ck_assert_int_eq(b.inst, 7);
}
END_TEST

static redisReply *
str_reply(const char *s)
{
	redisReply *r = calloc(1, sizeof *r);

	r->type = REDIS_REPLY_STRING;
	r->str = (char *)s;
	r->len = strlen(s);
	return r;
}

static redisReply *
hash_reply(const char *const *kv, size_t n)
{
	redisReply *r = calloc(1, sizeof *r);

	r->type = REDIS_REPLY_ARRAY;
	r->elements = n;
	r->element = calloc(n + 1, sizeof *r->element);
	for (size_t i = 0; i < n; i++) {
		r->element[i] = str_reply(kv[i]);
	}
	return r;
}

static void
hash_free(redisReply *r)
{
	for (size_t i = 0; i < r->elements; i++) {
		free(r->element[i]);
	}
	free(r->element);
	free(r);
}

START_TEST(test_api_sub_rec_parse_fields)
{
	static const char *const kv[] = {
	    "org",           "3",      "type",
	    "Observation",   "client", "CbbKiujtCQml3G-ul8fjwg",
	    "prop",          "5700",   "propname",
	    "SensorValue",   "url",    "http://h/Z",
	    "stp",           "0.25",   "created",
	    "1700000000000", "secret", "s3cr3t",
	};
	redisReply *r = hash_reply(kv, sizeof kv / sizeof *kv);
	struct api_sub_rec rec;
	char *fp;

	ck_assert_int_eq(api_sub_rec_parse("iv0ufY3IKZm6vk1zI-hzLQ", r, &rec),
	                 LWM2M_OK);
	ck_assert_int_eq(rec.org, 3);
	ck_assert_str_eq(rec.type, "Observation");
	ck_assert_str_eq(rec.propname, "SensorValue");
	ck_assert_str_eq(rec.attrs[API_SUB_STEP], "0.25");
	ck_assert_int_eq(rec.created, 1700000000000LL);
	fp = api_sub_fingerprint(&rec);
	ck_assert_str_eq(fp, "Observation|CbbKiujtCQml3G-ul8fjwg|||5700|"
	                     "http://h/z");
	free(fp);
	hash_free(r);
}
END_TEST

START_TEST(test_api_sub_rec_parse_bad)
{
	static const char *const no_org[] = {"type", "Observation"};
	static const char *const bad_type[] = {"org", "1", "type", "Nope"};
	redisReply empty = {.type = REDIS_REPLY_ARRAY};
	redisReply *r;
	struct api_sub_rec rec;

	ck_assert_int_eq(api_sub_rec_parse("x", &empty, &rec), LWM2M_ENOTFOUND);
	ck_assert_int_eq(api_sub_rec_parse("x", NULL, &rec), LWM2M_ENOTFOUND);
	r = hash_reply(no_org, 2);
	ck_assert_int_eq(api_sub_rec_parse("x", r, &rec), LWM2M_EPROTO);
	hash_free(r);
	r = hash_reply(bad_type, 4);
	ck_assert_int_eq(api_sub_rec_parse("x", r, &rec), LWM2M_EPROTO);
	hash_free(r);
}
END_TEST

START_TEST(test_api_sub_fingerprint_differs_by_type)
{
	struct api_sub_rec a = {0}, b = {0};
	char *fa, *fb;

	strcpy(a.type, "ClientConnected");
	strcpy(b.type, "ClientUpdated");
	strcpy(a.url, "http://H/x");
	strcpy(b.url, "http://h/X");
	fa = api_sub_fingerprint(&a);
	fb = api_sub_fingerprint(&b);
	ck_assert_str_ne(fa, fb);
	strcpy(b.type, "ClientConnected");
	free(fb);
	fb = api_sub_fingerprint(&b);
	ck_assert_str_eq(fa, fb);
	free(fa);
	free(fb);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("api_sub");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
	    {"api_sub_type_canonical", test_api_sub_type_canonical_cases},
	    {"api_sub_attr_name", test_api_sub_attr_name_and_field},
	    {"api_sub_decimal_ok", test_api_sub_decimal_ok_cases},
	    {"api_sub_body_parse", test_api_sub_body_parse_json},
	    {"api_sub_body_parse", test_api_sub_body_parse_xml},
	    {"api_sub_body_parse", test_api_sub_body_parse_errors},
	    {"api_sub_body_fini", test_api_sub_body_fini_null},
	    {"api_sub_href_target", test_api_sub_href_target_keeps_set_ids},
	    {"api_sub_rec_parse", test_api_sub_rec_parse_fields},
	    {"api_sub_rec_parse", test_api_sub_rec_parse_bad},
	    {"api_sub_fingerprint", test_api_sub_fingerprint_differs_by_type},
	};
	TCase *tc = NULL;
	const char *last = "";

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		if (strcmp(last, cases[i].name) != 0) {
			tc = tcase_create(cases[i].name);
			suite_add_tcase(s, tc);
			last = cases[i].name;
		}
		tcase_add_test(tc, cases[i].test);
	}
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
