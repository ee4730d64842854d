/* Unit tests of the REST API router (services/rest-api/api_route.c). */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include "api.h"

static void
h_a(struct api_req *r)
{
}

static void
h_b(struct api_req *r)
{
}

static const struct api_route table[] = {
	{htp_method_GET, "/", h_a, API_AUTH_NONE},
	{htp_method_GET, "/clients", h_a, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}", h_a, API_AUTH_TOKEN},
	{htp_method_DELETE, "/clients/{clientID}", h_b, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/objecttypes/{definitionID}", h_b,
	 API_AUTH_TOKEN},
};
#define N (sizeof table / sizeof table[0])

static enum api_match
match(htp_method m, const char *path, const struct api_route **route,
      struct api_param *params, size_t *n, unsigned *allowed)
{
	return api_route_match(table, N, m, path, route, params, n, allowed);
}

START_TEST(test_api_route_match_params)
{
	const struct api_route *route = NULL;
	struct api_param p[API_MAX_PARAMS];
	size_t n = 0;
	unsigned allowed = 0;

	ck_assert_int_eq(match(htp_method_GET, "/clients/abc/objecttypes/def",
	                       &route, p, &n, &allowed),
	                 API_MATCH_OK);
	ck_assert_ptr_eq(route, &table[4]);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(strncmp(p[0].name, "clientID", p[0].name_len), 0);
	ck_assert_int_eq(strncmp(p[0].value, "abc", p[0].value_len), 0);
	ck_assert_uint_eq(p[1].value_len, 3);
	ck_assert_int_eq(match(htp_method_DELETE, "/clients/x", &route, p, &n,
	                       &allowed),
	                 API_MATCH_OK);
	ck_assert_ptr_eq(route, &table[3]);
}
END_TEST

START_TEST(test_api_route_match_case_and_slash)
{
	const struct api_route *route = NULL;
	struct api_param p[API_MAX_PARAMS];
	size_t n;
	unsigned allowed;

	ck_assert_int_eq(match(htp_method_GET, "/CLIENTS", &route, p, &n,
	                       &allowed),
	                 API_MATCH_OK);
	ck_assert_ptr_eq(route, &table[1]);
	ck_assert_int_eq(match(htp_method_GET, "/clients/", &route, p, &n,
	                       &allowed),
	                 API_MATCH_OK);
	ck_assert_ptr_eq(route, &table[1]);
	ck_assert_int_eq(match(htp_method_GET, "/", &route, p, &n, &allowed),
	                 API_MATCH_OK);
	ck_assert_ptr_eq(route, &table[0]);
}
END_TEST

START_TEST(test_api_route_match_method)
{
	const struct api_route *route;
	struct api_param p[API_MAX_PARAMS];
	size_t n;
	unsigned allowed = 0;

	ck_assert_int_eq(match(htp_method_PUT, "/clients/x", &route, p, &n,
	                       &allowed),
	                 API_MATCH_METHOD);
	ck_assert_uint_eq(allowed, (1u << htp_method_GET) |
	                               (1u << htp_method_DELETE));
}
END_TEST

START_TEST(test_api_route_match_none)
{
	const struct api_route *route;
	struct api_param p[API_MAX_PARAMS];
	size_t n;
	unsigned allowed;
	const char *paths[] = {"/nothing", "/clients/x/y", "/clients//objecttypes/d",
	                       "", "clients", "/clients/a/objecttypes/b/c"};

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		ck_assert_int_eq(match(htp_method_GET, paths[i], &route, p, &n,
		                       &allowed),
		                 API_MATCH_NONE);
	}
}
END_TEST

START_TEST(test_api_route_match_real_table)
{
	const struct api_route *route;
	struct api_param p[API_MAX_PARAMS];
	size_t n;
	unsigned allowed;

	ck_assert_int_eq(api_route_match(api_routes, api_n_routes,
	                                 htp_method_POST, "/oauth/token",
	                                 &route, p, &n, &allowed),
	                 API_MATCH_OK);
	ck_assert(route->auth == API_AUTH_NONE);
	ck_assert_int_eq(api_route_match(api_routes, api_n_routes,
	                                 htp_method_GET, "/accesskeys/k",
	                                 &route, p, &n, &allowed),
	                 API_MATCH_OK);
	ck_assert(route->auth == API_AUTH_TOKEN);
}
END_TEST

static Suite *
api_route_suite(void)
{
	Suite *s = suite_create("api_route");
	TCase *tc = tcase_create("api_route_match");

	tcase_add_test(tc, test_api_route_match_params);
	tcase_add_test(tc, test_api_route_match_case_and_slash);
	tcase_add_test(tc, test_api_route_match_method);
	tcase_add_test(tc, test_api_route_match_none);
	tcase_add_test(tc, test_api_route_match_real_table);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(api_route_suite());
}
