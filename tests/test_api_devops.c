/* Unit tests of the device-operation engine's pure parts
 * (services/rest-api/api_devops.c): Prefer parsing, status mapping, path
 * text; and that the route table reaches every device-operation handler. */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include "api_devops.h"

START_TEST(test_api_devop_wait_parse_default)
{
	uint32_t wait = 1;
	bool strict = true;

	ck_assert(api_devop_wait_parse(NULL, 7000, &wait, &strict));
	ck_assert_uint_eq(wait, 7000);
	ck_assert(!strict);
	ck_assert(api_devop_wait_parse("return=minimal", 7000, &wait, &strict));
	ck_assert_uint_eq(wait, 7000);
}
END_TEST

START_TEST(test_api_devop_wait_parse_values)
{
	uint32_t wait = 0;
	bool strict = false;

	ck_assert(api_devop_wait_parse("wait=3", 7000, &wait, &strict));
	ck_assert_uint_eq(wait, 3000);
	ck_assert(api_devop_wait_parse("respond-async, wait=0", 7000, &wait,
	                               &strict));
	ck_assert_uint_eq(wait, 0);
	ck_assert(!strict);
	ck_assert(api_devop_wait_parse("handling=strict; wait=2", 7000, &wait,
	                               &strict));
	ck_assert_uint_eq(wait, 2000);
	ck_assert(strict);
	ck_assert(api_devop_wait_parse("RESPOND-ASYNC", 7000, &wait, &strict));
	ck_assert_uint_eq(wait, 0);
}
END_TEST

START_TEST(test_api_devop_wait_parse_bad)
{
	uint32_t wait = 42;
	bool strict = false;

	ck_assert(!api_devop_wait_parse("wait=x", 7000, &wait, &strict));
	ck_assert(!api_devop_wait_parse("wait=-1", 7000, &wait, &strict));
	ck_assert(!api_devop_wait_parse("wait=301", 7000, &wait, &strict));
	ck_assert(!api_devop_wait_parse("wait=99999999999999999999", 7000,
	                                &wait, &strict));
	ck_assert_uint_eq(wait, 42); /* untouched on failure */
}
END_TEST

START_TEST(test_api_devop_http_status_codes)
{
	ck_assert_int_eq(api_devop_http_status(0x80), 400);
	ck_assert_int_eq(api_devop_http_status(0x81), 403);
	ck_assert_int_eq(api_devop_http_status(0x83), 403);
	ck_assert_int_eq(api_devop_http_status(0x84), 404);
	ck_assert_int_eq(api_devop_http_status(0x85), 405);
	ck_assert_int_eq(api_devop_http_status(0x86), 406);
	ck_assert_int_eq(api_devop_http_status(0x8d), 413);
	ck_assert_int_eq(api_devop_http_status(0x8f), 415);
	ck_assert_int_eq(api_devop_http_status(0x8c), 400); /* 4.12 */
	ck_assert_int_eq(api_devop_http_status(0xa0), 502); /* 5.00 */
	ck_assert_int_eq(api_devop_http_status(0xa3), 502); /* 5.03 */
}
END_TEST

START_TEST(test_api_devop_path_text_forms)
{
	struct lwm2m_devop_req req;
	char buf[32];

	memset(&req, 0, sizeof req);
	ck_assert_str_eq(api_devop_path_text(&req, buf, sizeof buf), "/");
	req.n_paths = 1;
	req.paths[0] = (struct lwm2m_path){.len = 3, .ids = {3303, 0, 5700}};
	ck_assert_str_eq(api_devop_path_text(&req, buf, sizeof buf),
	                 "/3303/0/5700");
}
END_TEST

static const struct {
	htp_method method;
	const char *path;
	api_handler handler;
} routed[] = {
    {htp_method_GET,
     "/clients/AAAAAAAAAAAAAAAAAAAAAA/objecttypes/"
     "BBBBBBBBBBBBBBBBBBBBBB/instances",
     api_instances_list},
    {htp_method_POST, "/clients/c/objecttypes/d/instances",
     api_instances_create},
    {htp_method_GET, "/clients/c/objecttypes/d/instances/0", api_instance_get},
    {htp_method_PUT, "/clients/c/objecttypes/d/instances/0", api_instance_put},
    {htp_method_DELETE, "/clients/c/objecttypes/d/instances/0",
     api_instance_delete},
    {htp_method_GET, "/clients/c/objecttypes/d/instances/0/resources/1",
     api_resource_get},
    {htp_method_PUT, "/clients/c/objecttypes/d/instances/0/resources/1",
     api_resource_put},
    {htp_method_POST,
     "/clients/c/objecttypes/d/instances/0/resources/1/execute",
     api_resource_execute},
    {htp_method_GET, "/metrics", api_metrics_list},
    {htp_method_GET, "/metrics/BytesSent", api_metric_get},
    {htp_method_GET, "/clients/c/metrics", api_client_metrics_list},
    {htp_method_GET, "/clients/c/metrics/TransactionCount",
     api_client_metric_get},
    {htp_method_GET, "/clients/c/operations/o", api_operation_get},
};

START_TEST(test_api_routes_devops)
{
	for (size_t i = 0; i < sizeof routed / sizeof routed[0]; i++) {
		const struct api_route *route = NULL;
		struct api_param p[API_MAX_PARAMS];
		size_t n = 0;
		unsigned allowed = 0;

		ck_assert_int_eq(
		    api_route_match(api_routes, api_n_routes, routed[i].method,
		                    routed[i].path, &route, p, &n, &allowed),
		    API_MATCH_OK);
		ck_assert_msg(route->handler == routed[i].handler, "%s",
		              routed[i].path);
	}
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("api_devops");
	TCase *tc;

	tc = tcase_create("api_devop_wait_parse");
	tcase_add_test(tc, test_api_devop_wait_parse_default);
	tcase_add_test(tc, test_api_devop_wait_parse_values);
	tcase_add_test(tc, test_api_devop_wait_parse_bad);
	suite_add_tcase(s, tc);
	tc = tcase_create("api_devop_http_status");
	tcase_add_test(tc, test_api_devop_http_status_codes);
	suite_add_tcase(s, tc);
	tc = tcase_create("api_devop_path_text");
	tcase_add_test(tc, test_api_devop_path_text_forms);
	suite_add_tcase(s, tc);
	tc = tcase_create("api_routes");
	tcase_add_test(tc, test_api_routes_devops);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(suite());
}
