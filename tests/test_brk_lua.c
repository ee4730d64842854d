/* Unit tests of services/broker/brk_lua.c: the scripts the broker runs by
 * EVALSHA (their behaviour is tested against Redis in
 * tests/integration/test_observe.py and test_broker_pair.py). */
#include <check.h>
#include <string.h>

#include "brk.h"
#include "lwm2m_keys.h"
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

	/* the filter state it keeps, and the job's field */
	ck_assert_ptr_nonnull(strstr(src, "'lastt'"));
	ck_assert_ptr_nonnull(strstr(src, "'lastv'"));
	ck_assert_ptr_nonnull(strstr(src, "'" LWM2M_DELIVERY_FIELD "'"));
}
END_TEST

START_TEST(test_brk_lua_source_keys_declared)
{
	/* Redis Cluster: a script touches only the keys passed in KEYS; one
	 * that builds a key name (the prefix, or a string concatenated into
	 * a key) would reach keys Redis does not route by */
	for (int i = 0; i < BRK_LUA_N; i++) {
		const char *src = brk_lua_source(i);

		ck_assert_ptr_null(strstr(src, LWM2M_KEY_PREFIX));
		ck_assert_ptr_null(strstr(src, "lwds:"));
		ck_assert_ptr_null(strstr(src, "pre .."));
	}
}
END_TEST

int
main(void)
{
	const struct check_case cases[] = {
	    {"brk_lua_sha", test_brk_lua_sha_known},
	    {"brk_lua_source", test_brk_lua_source_every_script},
	    {"brk_lua_source", test_brk_lua_source_deliver_fields},
	    {"brk_lua_source", test_brk_lua_source_keys_declared},
	};

	return check_run(
	    check_suite("brk_lua", cases, sizeof cases / sizeof *cases));
}
