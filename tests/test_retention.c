/* test_retention.c - LWDS_CLIENT_RETENTION_S as coap-gw and rest-api read
 * it (LWM2M_CLI_OPT_RETENTION through lwm2m_cli_parse) and
 * lwm2m_retention_until (the reap itself: tests/integration/test_retention.py).
 */
#include <check.h>
#include <stdlib.h>

#include "check_util.h"
#include "lwm2m_retention.h"

static const struct lwm2m_cli_opt opts[] = {[0] = LWM2M_CLI_OPT_RETENTION};

static const struct lwm2m_cli cli = {
    .prog = "test-retention",
    .about = "",
    .opts = opts,
    .n_opts = 1,
};

/* the seconds LWDS_CLIENT_RETENTION_S=text gives (NULL: unset), or -1 when
 * the parser refuses it */
static long long
retention_s(const char *text)
{
	char *argv[] = {"test-retention", NULL};
	struct lwm2m_cli_val v;
	bool help;

	if (text == NULL) {
		unsetenv("LWDS_CLIENT_RETENTION_S");
	} else {
		setenv("LWDS_CLIENT_RETENTION_S", text, 1);
	}
	if (lwm2m_cli_parse(&cli, 1, argv, &v, &help) != LWM2M_OK) {
		return -1;
	}
	return v.num;
}

START_TEST(test_lwm2m_cli_opt_retention_values)
{
	ck_assert_int_eq(retention_s(NULL), 2592000);
	ck_assert_int_eq(retention_s(""), 2592000); /* empty: the default */
	ck_assert_int_eq(retention_s("0"), 0);
	ck_assert_int_eq(retention_s("3153600000"), 3153600000LL);
}
END_TEST

START_TEST(test_lwm2m_cli_opt_retention_refuses)
{
	static const char *const bad[] = {"-1", "3153600001", "1.5", "30d",
	                                  "99999999999999999999"};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_msg(retention_s(bad[i]) == -1, "accepted %s", bad[i]);
	}
}
END_TEST

START_TEST(test_lwm2m_retention_until_values)
{
	ck_assert_int_eq(lwm2m_retention_until(0, 1000), 0);
	ck_assert_int_eq(lwm2m_retention_until(5000, 1000), 6000);
}
END_TEST

int
main(void)
{
	const struct check_case cases[] = {
	    {"LWM2M_CLI_OPT_RETENTION", test_lwm2m_cli_opt_retention_values},
	    {"LWM2M_CLI_OPT_RETENTION", test_lwm2m_cli_opt_retention_refuses},
	    {"lwm2m_retention_until", test_lwm2m_retention_until_values},
	};

	return check_run(
	    check_suite("retention", cases, sizeof cases / sizeof *cases));
}
