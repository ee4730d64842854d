/* lwm2m_cli.h - the command line of the services.
 *
 * Each service describes its settings in one table: long flag, LWDS_*
 * environment variable, default, help text and kind of value.  A flag in
 * argv overrides the variable, which overrides the default.  --help is
 * printed from the table, so every service shows a shared option (the
 * LWM2M_CLI_OPT_* entries below) with the same flag, variable and line.  An
 * unknown flag, a missing value or a bad value gives one line on stderr
 * naming the flag or variable; the service then exits with status 2.
 */
#ifndef LWM2M_CLI_H
#define LWM2M_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lwm2m_err.h"

/* the most entries a table may have */
#define LWM2M_CLI_MAX_OPTS 64

enum lwm2m_cli_kind {
	LWM2M_CLI_TEXT,   /* non-empty text, at most max bytes when max > 0 */
	LWM2M_CLI_INT,    /* a decimal integer in [min, max] */
	LWM2M_CLI_SWITCH, /* a flag without value, which sets the opposite of
	                   * the default; the variable is 0|1|false|true */
	LWM2M_CLI_LEVEL,  /* a log level: err|warning|notice|info|debug */
	LWM2M_CLI_ADDR,   /* host:port as LWM2M_CLI_TEXT; "off" or no value:
	                   * text is NULL */
	LWM2M_CLI_CHOICE, /* one of the '|'-separated words of arg ("a|b");
	                   * num: its index */
};

struct lwm2m_cli_opt {
	const char *flag; /* long flag without "--"; NULL: environment only */
	const char *env;  /* LWDS_* variable; NULL: flag only */
	const char *arg;  /* name of the value in --help ("URL") */
	const char *dflt; /* value when neither is given; NULL: none */
	const char *help; /* text of --help; '\n' starts a continuation line */
	enum lwm2m_cli_kind kind;
	long long min, max; /* LWM2M_CLI_INT range; max length of TEXT/ADDR */
	/* TEXT: NULL, or the module's own check of the text, which returns
	 * NULL when it is good, else why not ("not host:port,...") */
	const char *(*check)(const char *text);
};

/* One program's command line. */
struct lwm2m_cli {
	const char *prog;  /* "lwds-broker", first word of every error line */
	const char *about; /* what the program does, lines ending in '\n' */
	const struct lwm2m_cli_opt *opts;
	size_t n_opts; /* at most LWM2M_CLI_MAX_OPTS */
};

/* The resolved value of one option. */
struct lwm2m_cli_val {
	const char *text; /* borrowed from argv, environ or the table; NULL
	                   * when unset */
	long long num;    /* INT: the number; SWITCH: 0 or 1; LEVEL: level;
	                   * CHOICE: index of the word */
};

/* LWM2M_CLI_STR(x): the text of macro x, for a default in a table */
#define LWM2M__CLI_STR(x) #x
#define LWM2M_CLI_STR(x) LWM2M__CLI_STR(x)

/* The options every service has: the same flag, variable and help line. */
#define LWM2M_CLI_OPT_REDIS_URL                                                \
	{                                                                      \
		"redis-url", "LWDS_REDIS_URL", "URL",                          \
		    "redis://127.0.0.1:6379",                                  \
		    "Redis server (with LWDS_REDIS_SENTINELS: password\n"      \
		    "and database of the master they name)",                   \
		    LWM2M_CLI_TEXT, 0, 255, NULL                               \
	}
#define LWM2M_CLI_OPT_LOG_LEVEL(dflt)                                          \
	{                                                                      \
		"log-level", "LWDS_LOG_LEVEL", "LEVEL", dflt,                  \
		    "err|warning|notice|info|debug", LWM2M_CLI_LEVEL, 0, 0,    \
		    NULL                                                       \
	}
#define LWM2M_CLI_OPT_LOG_JSON                                                 \
	{                                                                      \
		"log-json", "LWDS_LOG_JSON", NULL, "0",                        \
		    "one JSON object per log line", LWM2M_CLI_SWITCH, 0, 0,    \
		    NULL                                                       \
	}
/* GET /health and /metrics; the variable names the service, as services
 * sharing one host and one environment need distinct ports */
#define LWM2M_CLI_OPT_HEALTH_ADDR(env, dflt)                                   \
	{                                                                      \
		"health-addr", env, "HOST:PORT", dflt,                         \
		    "GET /health and /metrics; \"off\": none", LWM2M_CLI_ADDR, \
		    0, 127, NULL                                               \
	}

/* the device CA of coap-gw (DTLS certificates) and rest-api (identities) */
#define LWM2M_CLI_OPT_CA_CERT                                                  \
	{                                                                      \
		NULL, "LWDS_CA_CERT", NULL, NULL,                              \
		    "device CA certificate, PEM file (with\n"                  \
		    "LWDS_CA_KEY; else the CA kept in Redis)",                 \
		    LWM2M_CLI_TEXT, 0, 4095, NULL                              \
	}
#define LWM2M_CLI_OPT_CA_KEY                                                   \
	{                                                                      \
		NULL, "LWDS_CA_KEY", NULL, NULL,                               \
		    "private key of LWDS_CA_CERT, PEM file", LWM2M_CLI_TEXT,   \
		    0, 4095, NULL                                              \
	}

/* lwm2m_cli_parse resolves every option of cli into ret_vals (cli->n_opts
 * entries, in table order): its flag in argv ("--flag VALUE",
 * "--flag=VALUE"; the last one when given twice), else its variable (set
 * and non-empty), else its default, checked against its kind.  -h or --help
 * prints lwm2m_cli_help on stdout and sets *ret_help.  LWM2M_EINVAL after one
 * line on stderr for an unknown flag, a flag without its value, an argument
 * that is not a flag, or a bad value (the line names the flag or variable and
 * quotes the value).  The texts borrow argv and the environment.  Main thread,
 * at start. */
lwm2m_err lwm2m_cli_parse(const struct lwm2m_cli *cli, int argc,
                          char *const *argv, struct lwm2m_cli_val *ret_vals,
                          bool *ret_help);

/* lwm2m_cli_start is a service main's first step: lwm2m_cli_parse, then
 * lwm2m_log_init(service, ...) with the value of the table's LWM2M_CLI_LEVEL
 * entry and JSON lines when its "log-json" switch is on.  Returns -1 to go
 * on, or the status to exit with: 0 after --help, 2 after an error. */
int lwm2m_cli_start(const struct lwm2m_cli *cli, const char *service, int argc,
                    char *const *argv, struct lwm2m_cli_val *ret_vals);

/* lwm2m_cli_help writes the usage of cli to out: the options with a flag
 * (flag, help, variable and default), -h/--help, then the variables without
 * a flag. */
void lwm2m_cli_help(const struct lwm2m_cli *cli, FILE *out);

#endif
