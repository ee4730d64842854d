/* Unit tests of request body reading (services/rest-api/api_body.c). */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include "api.h"

static lwm2m_err
parse(const char *ct, const char *text, const struct api_body_limits *lim,
      struct api_body *body)
{
	char diag[160];

	return api_body_parse(ct, (const uint8_t *)text, strlen(text), lim,
	                      body, diag, sizeof diag);
}

START_TEST(test_api_body_parse_json)
{
	struct api_body b;
	char *name;

	ck_assert_int_eq(parse("application/vnd.imgtec.accesskey+json; "
	                       "charset=utf-8",
	                       "{\"name\":\"x\",\"Key\":\"k\"}", NULL, &b),
	                 LWM2M_OK);
	name = api_body_string(&b, "Name");
	ck_assert_str_eq(name, "x");
	free(name);
	ck_assert_ptr_null(api_body_string(&b, "Missing"));
	api_body_fini(&b);
	ck_assert_int_eq(parse("text/json", "{\"Name\":3}", NULL, &b), LWM2M_OK);
	ck_assert_ptr_null(api_body_string(&b, "Name"));
	api_body_fini(&b);
}
END_TEST

START_TEST(test_api_body_parse_xml)
{
	struct api_body b;
	char *name;

	ck_assert_int_eq(parse("application/xml",
	                       "<AccessKey><Name>a &amp; b</Name></AccessKey>",
	                       NULL, &b),
	                 LWM2M_OK);
	name = api_body_string(&b, "name");
	ck_assert_str_eq(name, "a & b");
	free(name);
	api_body_fini(&b);
}
END_TEST

START_TEST(test_api_body_parse_errors)
{
	struct api_body b;

	ck_assert_int_eq(parse("application/json", "{\"Name\":", NULL, &b),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(parse("application/json", "", NULL, &b),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(parse("text/plain", "{}", NULL, &b), LWM2M_EDENIED);
	ck_assert_int_eq(parse(NULL, "{}", NULL, &b), LWM2M_EDENIED);
	ck_assert_int_eq(parse("application/xml", "<a><b></a>", NULL, &b),
	                 LWM2M_EPROTO);
}
END_TEST

START_TEST(test_api_body_parse_limits)
{
	const struct api_body_limits lim = {64, 3, 10};
	struct api_body b;
	char big[200];

	memset(big, ' ', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	big[0] = '{';
	big[sizeof big - 2] = '}';
	ck_assert_int_eq(parse("application/json", big, &lim, &b),
	                 LWM2M_ELIMIT);
	ck_assert_int_eq(parse("application/json", "[[[[1]]]]", &lim, &b),
	                 LWM2M_ELIMIT);
	ck_assert_int_eq(parse("application/json", "[\"[[[[\"]", &lim, &b),
	                 LWM2M_OK);
	api_body_fini(&b);
	ck_assert_int_eq(parse("application/json", "[1,2,3,4,5,6,7,8,9,10,11]",
	                       &lim, &b),
	                 LWM2M_ELIMIT);
	ck_assert_int_eq(parse("application/xml", "<a><b><c><d/></c></b></a>",
	                       &lim, &b),
	                 LWM2M_ELIMIT);
}
END_TEST

/* Entity definitions (billion laughs, external entities) are refused. */
START_TEST(test_api_body_parse_xml_doctype)
{
	struct api_body b;

	ck_assert_int_eq(parse("application/xml",
	                       "<!DOCTYPE a [<!ENTITY x \"xx\">]><a>&x;</a>",
	                       NULL, &b),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(parse("application/xml",
	                       "<!DOCTYPE a [<!ENTITY x SYSTEM "
	                       "\"file:///etc/passwd\">]><a>&x;</a>",
	                       NULL, &b),
	                 LWM2M_EPROTO);
}
END_TEST

START_TEST(test_api_form_get_decode)
{
	const char *form = "grant_type=password&username=a%2Bb&password=c+d%21"
	                   "&empty=&bad=%4";
	char buf[16];

	ck_assert_int_eq(api_form_get(form, strlen(form), "username", buf,
	                              sizeof buf),
	                 LWM2M_OK);
	ck_assert_str_eq(buf, "a+b");
	ck_assert_int_eq(api_form_get(form, strlen(form), "password", buf,
	                              sizeof buf),
	                 LWM2M_OK);
	ck_assert_str_eq(buf, "c d!");
	ck_assert_int_eq(api_form_get(form, strlen(form), "empty", buf,
	                              sizeof buf),
	                 LWM2M_OK);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(api_form_get(form, strlen(form), "bad", buf,
	                              sizeof buf),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(api_form_get(form, strlen(form), "user", buf,
	                              sizeof buf),
	                 LWM2M_ENOTFOUND);
	ck_assert_int_eq(api_form_get(form, strlen(form), "grant_type", buf,
	                              4),
	                 LWM2M_ELIMIT);
	ck_assert_int_eq(api_form_get("a=%00", 5, "a", buf, sizeof buf),
	                 LWM2M_EPROTO);
}
END_TEST

static Suite *
api_body_suite(void)
{
	Suite *s = suite_create("api_body");
	TCase *parse_tc = tcase_create("api_body_parse");
	TCase *form_tc = tcase_create("api_form_get");

	tcase_add_test(parse_tc, test_api_body_parse_json);
	tcase_add_test(parse_tc, test_api_body_parse_xml);
	tcase_add_test(parse_tc, test_api_body_parse_errors);
	tcase_add_test(parse_tc, test_api_body_parse_limits);
	tcase_add_test(parse_tc, test_api_body_parse_xml_doctype);
	tcase_add_test(form_tc, test_api_form_get_decode);
	suite_add_tcase(s, parse_tc);
	suite_add_tcase(s, form_tc);
	return s;
}

int
main(void)
{
	return check_run(api_body_suite());
}
