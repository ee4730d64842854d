/* test_cli.c - lwm2m_cli: the option tables of the services (the services'
 * own --help and exit statuses: tests/cli_services.py). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "lwm2m_cli.h"
#include "lwm2m_log.h"

enum {
	O_URL,
	O_NUM,
	O_JSON,
	O_ON,
	O_LEVEL,
	O_ADDR,
	O_SHORT,
	O_DOC,
	O_PICK,
	O_CHECKED,
	O_N
};

/* the check of O_CHECKED: texts starting with 'x' */
static const char *
starts_with_x(const char *text)
{
	return text[0] == 'x' ? NULL : "does not start with x";
}

static const struct lwm2m_cli_opt opts[O_N] = {
    [O_URL] = LWM2M_CLI_OPT_REDIS_URL,
    [O_NUM] = {"num", "LWDS_T_NUM", "N", "5", "a number", LWM2M_CLI_INT, 1, 10,
               NULL},
    [O_JSON] = LWM2M_CLI_OPT_LOG_JSON,
    [O_ON] = {"no-thing", "LWDS_T_ON", NULL, "1", "off", LWM2M_CLI_SWITCH, 0, 0,
              NULL},
    [O_LEVEL] = LWM2M_CLI_OPT_LOG_LEVEL("notice"),
    [O_ADDR] = LWM2M_CLI_OPT_HEALTH_ADDR("LWDS_T_ADDR", "127.0.0.1:1"),
    [O_SHORT] = {"short", NULL, "S", NULL, "at most 3 bytes", LWM2M_CLI_TEXT, 0,
                 3, NULL},
    [O_DOC] = {NULL, "LWDS_T_DOC", NULL, "7", "no flag\nsecond line",
               LWM2M_CLI_INT, 0, 9, NULL},
    [O_PICK] = {NULL, "LWDS_T_PICK", "a|bb|c", "c", "a choice",
                LWM2M_CLI_CHOICE, 0, 0, NULL},
    [O_CHECKED] = {NULL, "LWDS_T_CHECKED", NULL, NULL, "checked text",
                   LWM2M_CLI_TEXT, 0, 0, starts_with_x},
};

static const struct lwm2m_cli cli = {
    .prog = "test-cli",
    .about = "A table for the tests.\n",
    .opts = opts,
    .n_opts = O_N,
};

static void
clear_env(void)
{
	static const char *const names[] = {
	    "LWDS_REDIS_URL", "LWDS_T_NUM",     "LWDS_LOG_JSON",
	    "LWDS_T_ON",      "LWDS_LOG_LEVEL", "LWDS_T_ADDR",
	    "LWDS_T_DOC",     "LWDS_T_PICK",    "LWDS_T_CHECKED"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		unsetenv(names[i]);
	}
}

/* parses the NULL-terminated args after a program name */
static lwm2m_err
parse(struct lwm2m_cli_val *v, bool *help, const char *const *args)
{
	char *argv[16] = {"test-cli"};
	int argc = 1;

	while (args[argc - 1] != NULL) {
		argv[argc] = (char *)args[argc - 1];
		argc++;
	}
	return lwm2m_cli_parse(&cli, argc, argv, v, help);
}

START_TEST(test_lwm2m_cli_parse_defaults)
{
	const char *args[] = {NULL};
	struct lwm2m_cli_val v[O_N];
	bool help = true;

	clear_env();
	ck_assert_int_eq(parse(v, &help, args), LWM2M_OK);
	ck_assert(!help);
	ck_assert_str_eq(v[O_URL].text, "redis://127.0.0.1:6379");
	ck_assert_int_eq(v[O_NUM].num, 5);
	ck_assert_int_eq(v[O_JSON].num, 0);
	ck_assert_int_eq(v[O_ON].num, 1);
	ck_assert_int_eq(v[O_LEVEL].num, LWM2M_LOG_NOTICE);
	ck_assert_str_eq(v[O_ADDR].text, "127.0.0.1:1");
	ck_assert_ptr_null(v[O_SHORT].text);
	ck_assert_int_eq(v[O_DOC].num, 7);
	ck_assert_int_eq(v[O_PICK].num, 2);
	ck_assert_ptr_null(v[O_CHECKED].text);
}
END_TEST

START_TEST(test_lwm2m_cli_parse_flag_over_env)
{
	const char *args[] = {"--num",
	                      "9",
	                      "--log-json",
	                      "--no-thing",
	                      "--log-level=debug",
	                      "--health-addr=off",
	                      NULL};
	struct lwm2m_cli_val v[O_N];
	bool help;

	clear_env();
	setenv("LWDS_REDIS_URL", "redis://r:1", 1);
	setenv("LWDS_T_NUM", "2", 1);
	setenv("LWDS_LOG_LEVEL", "err", 1);
	setenv("LWDS_T_DOC", "3", 1);
	ck_assert_int_eq(parse(v, &help, args), LWM2M_OK);
	ck_assert_str_eq(v[O_URL].text, "redis://r:1"); /* the variable */
	ck_assert_int_eq(v[O_NUM].num, 9);
	ck_assert_int_eq(v[O_JSON].num, 1);
	ck_assert_int_eq(v[O_ON].num, 0); /* the opposite of its default */
	ck_assert_int_eq(v[O_LEVEL].num, LWM2M_LOG_DEBUG);
	ck_assert_ptr_null(v[O_ADDR].text);
	ck_assert_int_eq(v[O_DOC].num, 3); /* a variable without a flag */
}
END_TEST

START_TEST(test_lwm2m_cli_parse_env)
{
	const char *args[] = {NULL};
	struct lwm2m_cli_val v[O_N];
	bool help;

	clear_env();
	setenv("LWDS_LOG_JSON", "true", 1);
	setenv("LWDS_T_ON", "0", 1);
	setenv("LWDS_T_ADDR", "off", 1);
	setenv("LWDS_T_NUM", "", 1); /* empty: the default */
	setenv("LWDS_T_PICK", "bb", 1);
	setenv("LWDS_T_CHECKED", "xyz", 1);
	ck_assert_int_eq(parse(v, &help, args), LWM2M_OK);
	ck_assert_int_eq(v[O_PICK].num, 1);
	ck_assert_str_eq(v[O_CHECKED].text, "xyz");
	ck_assert_int_eq(v[O_JSON].num, 1);
	ck_assert_int_eq(v[O_ON].num, 0);
	ck_assert_ptr_null(v[O_ADDR].text);
	ck_assert_int_eq(v[O_NUM].num, 5);
}
END_TEST

START_TEST(test_lwm2m_cli_parse_refuses)
{
	static const char *const bad[][4] = {
	    {"--num", "11", NULL},
	    {"--num", "x", NULL},
	    {"--log-level", "loud", NULL},
	    {"--short", "abcd", NULL},
	    {"--short=", NULL},
	    {"--log-json=1", NULL},
	    {"--nope", "1", NULL},
	    {"--num", NULL},
	    {"positional", NULL},
	    {"-x", NULL},
	    {"--", NULL},
	};
	struct lwm2m_cli_val v[O_N];
	bool help;

	clear_env();
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ck_assert_msg(parse(v, &help, bad[i]) == LWM2M_EINVAL,
		              "accepted %s", bad[i][0]);
	}
}
END_TEST

START_TEST(test_lwm2m_cli_parse_refuses_env)
{
	static const char *const bad[][2] = {
	    {"LWDS_T_NUM", "0"},           {"LWDS_LOG_JSON", "yes"},
	    {"LWDS_LOG_LEVEL", "verbose"}, {"LWDS_T_DOC", "not a number"},
	    {"LWDS_T_PICK", "b"},          {"LWDS_T_PICK", "a|bb"},
	    {"LWDS_T_CHECKED", "abc"},
	};
	const char *args[] = {NULL};
	struct lwm2m_cli_val v[O_N];
	bool help;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		clear_env();
		setenv(bad[i][0], bad[i][1], 1);
		ck_assert_msg(parse(v, &help, args) == LWM2M_EINVAL,
		              "accepted %s", bad[i][0]);
	}
}
END_TEST

START_TEST(test_lwm2m_cli_parse_help)
{
	const char *args[] = {"--num", "1", "--help", "--bogus", NULL};
	struct lwm2m_cli_val v[O_N];
	bool help = false;

	clear_env();
	ck_assert_int_eq(parse(v, &help, args), LWM2M_OK);
	ck_assert(help);
}
END_TEST

START_TEST(test_lwm2m_cli_start_logs)
{
	char *ok[] = {"test-cli", "--log-level", "debug", NULL};
	char *bad[] = {"test-cli", "--log-level", "loud", NULL};
	char *help[] = {"test-cli", "-h", NULL};
	struct lwm2m_cli_val v[O_N];

	clear_env();
	ck_assert_int_eq(lwm2m_cli_start(&cli, "test", 3, ok, v), -1);
	ck_assert_int_eq(lwm2m_log_level, LWM2M_LOG_DEBUG);
	ck_assert_int_eq(lwm2m_cli_start(&cli, "test", 3, bad, v), 2);
	ck_assert_int_eq(lwm2m_cli_start(&cli, "test", 2, help, v), 0);
}
END_TEST

START_TEST(test_lwm2m_cli_help_lists)
{
	char *text = NULL, *line, *save = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	lwm2m_cli_help(&cli, out);
	fclose(out);
	ck_assert_ptr_nonnull(strstr(text, "Usage: test-cli [options]\n"));
	ck_assert_ptr_nonnull(strstr(text, "  --redis-url URL "));
	ck_assert_ptr_nonnull(
	    strstr(text, "LWDS_REDIS_URL (redis://127.0.0.1:6379)\n"));
	ck_assert_ptr_nonnull(strstr(text, "  --log-json "));
	ck_assert_ptr_nonnull(strstr(text, "  -h, --help "));
	/* a variable without a flag comes after the flags, with its default
	 * on its last line */
	ck_assert_ptr_nonnull(strstr(text, "\nEnvironment only:\n"
	                                   "  LWDS_T_DOC "));
	ck_assert_ptr_nonnull(strstr(text, "second line (7)\n"));
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		ck_assert_msg(strlen(line) <= 80, "long line: %s", line);
	}
	free(text);
}
END_TEST

int
main(void)
{
	const struct check_case cases[] = {
	    {"lwm2m_cli_parse", test_lwm2m_cli_parse_defaults},
	    {"lwm2m_cli_parse", test_lwm2m_cli_parse_flag_over_env},
	    {"lwm2m_cli_parse", test_lwm2m_cli_parse_env},
	    {"lwm2m_cli_parse", test_lwm2m_cli_parse_refuses},
	    {"lwm2m_cli_parse", test_lwm2m_cli_parse_refuses_env},
	    {"lwm2m_cli_parse", test_lwm2m_cli_parse_help},
	    {"lwm2m_cli_start", test_lwm2m_cli_start_logs},
	    {"lwm2m_cli_help", test_lwm2m_cli_help_lists},
	};

	return check_run(
	    check_suite("cli", cases, sizeof cases / sizeof *cases));
}
