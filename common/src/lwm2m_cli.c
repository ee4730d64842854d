/* lwm2m_cli.c - option tables of the services: argv over the environment
 * over the defaults, and --help from the same table. */
#include "lwm2m_cli.h"

#include <stdlib.h>
#include <string.h>

#include "lwm2m_log.h"
#include "lwm2m_loop.h"

/* column of the help texts in --help */
#define HELP_COL 28

/* where a value came from, for the error line */
struct source {
	const char *name; /* "--flag", the variable or "default" */
	char buf[64 + 3]; /* "--" and the flag */
};

/* one line on stderr: "<prog>: <what> "<value>": <why>"; value (operator
 * text) quoted, its control bytes replaced and cut at 64 bytes */
static void
fail(const struct lwm2m_cli *cli, const char *what, const char *value,
     const char *why)
{
	char quoted[72];

	if (value != NULL) {
		lwm2m_log_quote(quoted, sizeof quoted, value, strlen(value));
		fprintf(stderr, "%s: %s \"%s\": %s\n", cli->prog, what, quoted,
		        why);
	} else {
		fprintf(stderr, "%s: %s: %s\n", cli->prog, what, why);
	}
}

static lwm2m_err
check_text(const struct lwm2m_cli *cli, const struct lwm2m_cli_opt *o,
           const struct source *src, const char *text)
{
	const char *bad;
	char why[64];

	if (*text == '\0') {
		fail(cli, src->name, NULL, "empty value");
		return LWM2M_EINVAL;
	}
	if (o->max > 0 && strlen(text) > (size_t)o->max) {
		snprintf(why, sizeof why, "longer than %lld bytes", o->max);
		fail(cli, src->name, text, why);
		return LWM2M_EINVAL;
	}
	if (o->kind == LWM2M_CLI_TEXT && o->check != NULL &&
	    (bad = o->check(text)) != NULL) {
		fail(cli, src->name, text, bad);
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

static lwm2m_err
check_switch(const struct lwm2m_cli *cli, const struct source *src,
             const char *text, long long *ret_num)
{
	if (strcmp(text, "1") == 0 || strcmp(text, "true") == 0) {
		*ret_num = 1;
	} else if (strcmp(text, "0") == 0 || strcmp(text, "false") == 0) {
		*ret_num = 0;
	} else {
		fail(cli, src->name, text, "not 0, 1, false or true");
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

/* the index of text among the '|'-separated words of choices */
static lwm2m_err
choice_index(const char *choices, const char *text, long long *ret_num)
{
	size_t len = strlen(text);

	for (long long i = 0; *choices != '\0'; i++) {
		size_t word = strcspn(choices, "|");

		if (word == len && memcmp(choices, text, len) == 0) {
			*ret_num = i;
			return LWM2M_OK;
		}
		choices += word;
		choices += *choices == '|';
	}
	return LWM2M_EINVAL;
}

/* checks text, the value of o from src, and stores it in ret_val */
static lwm2m_err
resolve(const struct lwm2m_cli *cli, const struct lwm2m_cli_opt *o,
        const struct source *src, const char *text,
        struct lwm2m_cli_val *ret_val)
{
	char why[96];
	long long num = 0;
	int level;

	switch (o->kind) {
	case LWM2M_CLI_ADDR:
	case LWM2M_CLI_TEXT:
		if (o->kind == LWM2M_CLI_ADDR && strcmp(text, "off") == 0) {
			text = NULL;
			break;
		}
		if (check_text(cli, o, src, text) != LWM2M_OK) {
			return LWM2M_EINVAL;
		}
		break;
	case LWM2M_CLI_INT:
		if (lwm2m_parse_int(text, o->min, o->max, &num) != LWM2M_OK) {
			snprintf(why, sizeof why,
			         "not an integer in %lld..%lld", o->min,
			         o->max);
			fail(cli, src->name, text, why);
			return LWM2M_EINVAL;
		}
		break;
	case LWM2M_CLI_SWITCH:
		if (check_switch(cli, src, text, &num) != LWM2M_OK) {
			return LWM2M_EINVAL;
		}
		break;
	case LWM2M_CLI_LEVEL:
		level = lwm2m_log_parse_level(text);
		if (level < 0) {
			fail(cli, src->name, text,
			     "not a log level (err|warning|notice|info|debug)");
			return LWM2M_EINVAL;
		}
		num = level;
		break;
	case LWM2M_CLI_CHOICE:
		if (choice_index(o->arg, text, &num) != LWM2M_OK) {
			snprintf(why, sizeof why, "not one of %s", o->arg);
			fail(cli, src->name, text, why);
			return LWM2M_EINVAL;
		}
		break;
	}
	ret_val->text = text;
	ret_val->num = num;
	return LWM2M_OK;
}

/* the entry of cli whose flag is the len bytes at name, or NULL */
static const struct lwm2m_cli_opt *
find_flag(const struct lwm2m_cli *cli, const char *name, size_t len)
{
	for (size_t i = 0; i < cli->n_opts; i++) {
		const char *flag = cli->opts[i].flag;

		if (flag != NULL && strlen(flag) == len &&
		    memcmp(flag, name, len) == 0) {
			return &cli->opts[i];
		}
	}
	return NULL;
}

/* the value of a switch's flag: the opposite of its default */
static const char *
switch_flag_value(const struct lwm2m_cli_opt *o)
{
	bool on_by_default = o->dflt != NULL && (strcmp(o->dflt, "1") == 0 ||
	                                         strcmp(o->dflt, "true") == 0);

	return on_by_default ? "0" : "1";
}

/* takes the flag at argv[*i] (and its value) into given[]; advances *i */
static lwm2m_err
take_flag(const struct lwm2m_cli *cli, int argc, char *const *argv, int *i,
          const char **given)
{
	const char *arg = argv[*i] + 2;
	const char *eq = strchr(arg, '=');
	size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	const struct lwm2m_cli_opt *o = find_flag(cli, arg, len);

	if (o == NULL) {
		fail(cli, "unknown option", argv[*i],
		     "see --help for the options");
		return LWM2M_EINVAL;
	}
	if (o->kind == LWM2M_CLI_SWITCH) {
		if (eq != NULL) {
			fail(cli, "option", argv[*i],
			     "the flag takes no value");
			return LWM2M_EINVAL;
		}
		given[o - cli->opts] = switch_flag_value(o);
	} else if (eq != NULL) {
		given[o - cli->opts] = eq + 1;
	} else if (*i + 1 < argc) {
		given[o - cli->opts] = argv[++*i];
	} else {
		fail(cli, argv[*i], NULL, "needs a value");
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

/* scans argv into given[] (the flags' values by entry); *ret_help when -h
 * or --help came first */
static lwm2m_err
scan_argv(const struct lwm2m_cli *cli, int argc, char *const *argv,
          const char **given, bool *ret_help)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			*ret_help = true;
			return LWM2M_OK;
		}
		if (arg[0] == '-' && strncmp(arg, "--", 2) != 0) {
			fail(cli, "unknown option", arg,
			     "see --help for the options");
			return LWM2M_EINVAL;
		}
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			fail(cli, "unexpected argument", arg,
			     "options are --flag VALUE");
			return LWM2M_EINVAL;
		}
		if (take_flag(cli, argc, argv, &i, given) != LWM2M_OK) {
			return LWM2M_EINVAL;
		}
	}
	return LWM2M_OK;
}

/* resolves entry o: given (its flag's value) over its variable over its
 * default */
static lwm2m_err
resolve_opt(const struct lwm2m_cli *cli, const struct lwm2m_cli_opt *o,
            const char *given, struct lwm2m_cli_val *ret_val)
{
	struct source src = {.name = "default"};
	const char *text = NULL;

	ret_val->text = NULL;
	ret_val->num = 0;
	if (given != NULL) {
		snprintf(src.buf, sizeof src.buf, "--%s", o->flag);
		src.name = src.buf;
		text = given;
	} else if (o->env != NULL &&
	           (text = lwm2m_getenv(o->env, NULL)) != NULL) {
		src.name = o->env;
	} else {
		text = o->dflt;
	}
	if (text == NULL) {
		return LWM2M_OK;
	}
	return resolve(cli, o, &src, text, ret_val);
}

lwm2m_err
lwm2m_cli_parse(const struct lwm2m_cli *cli, int argc, char *const *argv,
                struct lwm2m_cli_val *ret_vals, bool *ret_help)
{
	const char *given[LWM2M_CLI_MAX_OPTS] = {NULL};
	struct lwm2m_cli_val vals[LWM2M_CLI_MAX_OPTS];

	if (cli->n_opts > LWM2M_CLI_MAX_OPTS) {
		abort(); /* a table too long for this module */
	}
	*ret_help = false;
	if (scan_argv(cli, argc, argv, given, ret_help) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	if (*ret_help) {
		lwm2m_cli_help(cli, stdout);
		return LWM2M_OK;
	}
	for (size_t i = 0; i < cli->n_opts; i++) {
		if (resolve_opt(cli, &cli->opts[i], given[i], &vals[i]) !=
		    LWM2M_OK) {
			return LWM2M_EINVAL;
		}
	}
	memcpy(ret_vals, vals, cli->n_opts * sizeof vals[0]);
	return LWM2M_OK;
}

int
lwm2m_cli_start(const struct lwm2m_cli *cli, const char *service, int argc,
                char *const *argv, struct lwm2m_cli_val *ret_vals)
{
	int level = LWM2M_LOG_INFO;
	bool help, json = false;

	if (lwm2m_cli_parse(cli, argc, argv, ret_vals, &help) != LWM2M_OK) {
		return 2;
	}
	if (help) {
		return 0;
	}
	for (size_t i = 0; i < cli->n_opts; i++) {
		const struct lwm2m_cli_opt *o = &cli->opts[i];

		if (o->kind == LWM2M_CLI_LEVEL) {
			level = (int)ret_vals[i].num;
		} else if (o->flag != NULL &&
		           strcmp(o->flag, "log-json") == 0) {
			json = ret_vals[i].num != 0;
		}
	}
	lwm2m_log_init(service, level);
	lwm2m_log_set_json(json);
	return -1;
}

/* writes text (lines split at '\n') at HELP_COL, the first line after the
 * col characters already written (on a line of its own when they leave
 * less than two spaces) */
static void
help_lines(FILE *out, int col, const char *text)
{
	if (col > HELP_COL - 2) {
		fputc('\n', out);
		col = 0;
	}
	while (*text != '\0') {
		size_t len = strcspn(text, "\n");

		fprintf(out, "%*s%.*s\n", HELP_COL - col, "", (int)len, text);
		col = 0;
		text += len;
		text += *text == '\n';
	}
}

/* the help of one entry: left column, then its help text followed by its
 * variable and default (a flag's) or its default alone (a variable's, on
 * the last line when it fits) */
static void
help_opt(FILE *out, const struct lwm2m_cli_opt *o)
{
	char text[1024];
	const char *last = strrchr(o->help, '\n');
	size_t last_len = strlen(last != NULL ? last + 1 : o->help);
	int col, n;

	if (o->flag != NULL) {
		col = fprintf(out, "  --%s%s%s", o->flag,
		              o->arg != NULL ? " " : "",
		              o->arg != NULL ? o->arg : "");
	} else {
		col = fprintf(out, "  %s", o->env);
	}
	n = snprintf(text, sizeof text, "%s", o->help);
	if (o->flag != NULL && o->env != NULL) {
		n +=
		    snprintf(text + n, sizeof text - (size_t)n, "\n%s", o->env);
		last_len = 0;
	}
	if (o->dflt != NULL) {
		bool fits = HELP_COL + last_len + strlen(o->dflt) + 3 <= 80;

		snprintf(text + n, sizeof text - (size_t)n, "%s(%s)",
		         fits ? " " : "\n", o->dflt);
	}
	help_lines(out, col, text);
}

void
lwm2m_cli_help(const struct lwm2m_cli *cli, FILE *out)
{
	bool env_only = false;

	fprintf(out,
	        "Usage: %s [options]\n%s\nOptions (flag, then variable "
	        "and default):\n",
	        cli->prog, cli->about);
	for (size_t i = 0; i < cli->n_opts; i++) {
		if (cli->opts[i].flag != NULL) {
			help_opt(out, &cli->opts[i]);
		}
	}
	help_lines(out, fprintf(out, "  -h, --help"), "this text");
	for (size_t i = 0; i < cli->n_opts; i++) {
		if (cli->opts[i].flag == NULL) {
			if (!env_only) {
				fputs("\nEnvironment only:\n", out);
				env_only = true;
			}
			help_opt(out, &cli->opts[i]);
		}
	}
}
