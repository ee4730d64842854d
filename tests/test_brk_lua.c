/* Unit tests of services/broker/brk_lua.c: the scripts the broker runs by
 * EVALSHA (their behaviour is tested against Redis in
 * tests/integration/test_observe.py and test_broker_pair.py). */
#include <check.h>
#include <string.h>

#include "brk.h"
#include "check_util.h"

START_TEST(test_brk_lua_sha_known)
{
	char sha[BRK_LUA_SHA_SIZE];

	/* the name Redis gives the script "return 1" (SCRIPT LOAD) */
	brk_lua_sha("return 1", sha);
	ck_assert_str_eq(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
	brk_lua_sha("", sha);
	ck_assert_str_eq(sha, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}
END_TEST

START_TEST(test_brk_lua_source_every_script)
{
	for (int i = 0; i < BRK_LUA_N; i++) {
		const char *src = brk_lua_source((enum brk_lua)i);

		ck_assert_ptr_nonnull(src);
		ck_assert_uint_gt(strlen(src), 10);
	}
	ck_assert_ptr_null(brk_lua_source(BRK_LUA_N));
}
END_TEST

START_TEST(test_brk_lua_source_deliver_fields)
{
	const char *src = brk_lua_source(BRK_LUA_DELIVER);

	/* the filter reads the subscription fields the REST API writes */
	ck_assert_ptr_nonnull(strstr(src, "'pmin'"));
	ck_assert_ptr_nonnull(strstr(src, "'stp'"));
	ck_assert_ptr_nonnull(strstr(src, "'" LWM2M_DELIVERY_FIELD "'"));
}
END_TEST

int
main(void)
{
	const struct check_case cases[] = {
	    {"brk_lua_sha", test_brk_lua_sha_known},
	    {"brk_lua_source", test_brk_lua_source_every_script},
	    {"brk_lua_source", test_brk_lua_source_deliver_fields},
	};

	return check_run(
	    check_suite("brk_lua", cases, sizeof cases / sizeof *cases));
}
