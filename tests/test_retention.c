/* test_retention.c - lwm2m_retention_env: LWDS_CLIENT_RETENTION_S (the
 * reap itself: tests/integration/test_retention.py). */
#include <check.h>
#include <stdlib.h>

#include "check_util.h"
#include "lwm2m_retention.h"

START_TEST(test_lwm2m_retention_env_values)
{
	long long ms = -1;

	unsetenv("LWDS_CLIENT_RETENTION_S");
	ck_assert_int_eq(lwm2m_retention_env(&ms), LWM2M_OK);
	ck_assert_int_eq(ms, 2592000LL * 1000);
	setenv("LWDS_CLIENT_RETENTION_S", "", 1); /* empty: the default */
	ck_assert_int_eq(lwm2m_retention_env(&ms), LWM2M_OK);
	ck_assert_int_eq(ms, 2592000LL * 1000);
	setenv("LWDS_CLIENT_RETENTION_S", "0", 1);
	ck_assert_int_eq(lwm2m_retention_env(&ms), LWM2M_OK);
	ck_assert_int_eq(ms, 0);
	setenv("LWDS_CLIENT_RETENTION_S", "3153600000", 1);
	ck_assert_int_eq(lwm2m_retention_env(&ms), LWM2M_OK);
	ck_assert_int_eq(ms, 3153600000LL * 1000);
}
END_TEST

START_TEST(test_lwm2m_retention_env_refuses)
{
	static const char *const bad[] = {"-1", "3153600001", "1.5", "30d",
	                                  "99999999999999999999"};
	long long ms = 42;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		setenv("LWDS_CLIENT_RETENTION_S", bad[i], 1);
		ck_assert_int_eq(lwm2m_retention_env(&ms), LWM2M_EINVAL);
		ck_assert_int_eq(ms, 42);
	}
}
END_TEST

int
main(void)
{
	const struct check_case cases[] = {
	    {"lwm2m_retention_env", test_lwm2m_retention_env_values},
	    {"lwm2m_retention_env", test_lwm2m_retention_env_refuses},
	};

	return check_run(
	    check_suite("retention", cases, sizeof cases / sizeof *cases));
}
