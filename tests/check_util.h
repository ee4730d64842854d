/* check_util.h - Check boilerplate shared by the unit test binaries
 * (header-only): a suite built from a table of cases and the srunner main. */
#ifndef CHECK_UTIL_H
#define CHECK_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* One test of a suite table: the TCase it belongs to (named after the
 * function under test) and the test itself. */
struct check_case {
	const char *name;
	const TTest *fn;
};

/* check_suite_fixture returns a Suite called name holding cases[0..n):
 * consecutive cases with the same name share one TCase, with setup and
 * teardown run around each test (in its process, in Check's fork mode)
 * unless NULL, and a timeout of timeout_s seconds unless 0 (Check's
 * default). */
static inline Suite *
check_suite_fixture(const char *name, const struct check_case *cases, size_t n,
                    SFun setup, SFun teardown, double timeout_s)
{
	Suite *s = suite_create(name);
	TCase *tc = NULL;
	const char *prev = "";

	for (size_t i = 0; i < n; i++) {
		if (strcmp(prev, cases[i].name) != 0) {
			tc = tcase_create(cases[i].name);
			if (setup != NULL || teardown != NULL) {
				tcase_add_checked_fixture(tc, setup, teardown);
			}
			if (timeout_s > 0) {
				tcase_set_timeout(tc, timeout_s);
			}
			suite_add_tcase(s, tc);
			prev = cases[i].name;
		}
		tcase_add_test(tc, cases[i].fn);
	}
	return s;
}

/* check_suite is check_suite_fixture without fixture, with Check's
 * default timeout. */
static inline Suite *
check_suite(const char *name, const struct check_case *cases, size_t n)
{
	return check_suite_fixture(name, cases, n, NULL, NULL, 0);
}

/* check_run runs every test of s (in fork mode unless CK_FORK=no), frees the
 * runner and returns the process exit status. */
static inline int
check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
