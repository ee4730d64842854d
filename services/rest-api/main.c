/* main.c - lwds-rest-api: flags and environment, one event loop, the REST
 * service of api.h, clean stop on SIGINT/SIGTERM. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "api.h"
#include "api_server.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"

static const char usage[] =
    "Usage: lwds-rest-api [options]\n"
    "The lwds REST API (HTTP, JSON/XML).\n\n"
    "  -l, --listen HOST:PORT   listen address     LWDS_HTTP_LISTEN "
    "(0.0.0.0:8080)\n"
    "  -r, --redis URL          Redis URL          LWDS_REDIS_URL "
    "(redis://127.0.0.1:6379)\n"
    "  -b, --max-body BYTES     request body limit LWDS_HTTP_MAX_BODY "
    "(1048576);\n"
    "                           a larger Content-Length gets 413 at once\n"
    "  -H, --max-header BYTES   header bytes per request LWDS_HTTP_MAX_HEADER\n"
    "                           (16384); more gets 431 and the connection "
    "closes\n"
    "  -c, --max-connections N  open connections LWDS_HTTP_MAX_CONNECTIONS\n"
    "                           (4096); more get 503 (TLS: closed) at accept\n"
    "  -v, --log-level LEVEL    err..debug         LWDS_LOG_LEVEL (info)\n"
    "  -j, --log-json           JSON log lines     LWDS_LOG_JSON=1\n"
    "  -h, --help               this text\n\n"
    "Environment only:\n"
    "  LWDS_ADMIN_KEY, LWDS_ADMIN_SECRET  admin access key of organisation 0;\n"
    "      when unset and none exists, one is generated and printed once\n"
    "  LWDS_SIGNING_KEY  token signing key; else generated and kept in Redis\n"
    "  LWDS_HTTP_IO_TIMEOUT_S  a connection that reads or writes nothing for\n"
    "      this long is closed (1..3600, default 60); a request waiting for\n"
    "      its device is still answered\n"
    "  LWDS_CLIENT_RETENTION_S  seconds a client that left keeps its record\n"
    "      (GET /clients/{id} finds it): DELETE /clients/{id} schedules the\n"
    "      gateway's reap of the record then (2592000 = 30 days; 0 = kept\n"
    "      forever; the same value as the gateways')\n";

static void
on_stop(void *arg)
{
	struct event_base *base = arg;

	lwm2m_log(LWM2M_LOG_NOTICE, "stopping");
	event_base_loopexit(base, NULL);
}

static int
parse_args(int argc, char **argv, struct api_config *cfg)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"redis", required_argument, NULL, 'r'},
	    {"max-body", required_argument, NULL, 'b'},
	    {"max-header", required_argument, NULL, 'H'},
	    {"max-connections", required_argument, NULL, 'c'},
	    {"log-level", required_argument, NULL, 'v'},
	    {"log-json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long long n;
	int c, level;

	while ((c = getopt_long(argc, argv, "l:r:b:H:c:v:jh", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'l':
			cfg->listen = optarg;
			break;
		case 'r':
			cfg->redis_url = optarg;
			break;
		case 'b':
			if (lwm2m_parse_int(optarg, 1, 1LL << 30, &n) !=
			    LWM2M_OK) {
				fprintf(stderr, "bad --max-body\n");
				return 2;
			}
			cfg->max_body = (size_t)n;
			break;
		case 'H':
			if (lwm2m_parse_int(optarg, 256, 1 << 20, &n) !=
			    LWM2M_OK) {
				fprintf(stderr, "bad --max-header\n");
				return 2;
			}
			cfg->max_header = (size_t)n;
			break;
		case 'c':
			if (lwm2m_parse_int(optarg, 1, 1000000, &n) !=
			    LWM2M_OK) {
				fprintf(stderr, "bad --max-connections\n");
				return 2;
			}
			cfg->max_conns = (unsigned)n;
			break;
		case 'v':
			level = lwm2m_log_parse_level(optarg);
			if (level < 0) {
				fprintf(stderr, "bad --log-level\n");
				return 2;
			}
			lwm2m_log_level = level;
			break;
		case 'j':
			lwm2m_log_set_json(true);
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	return 0;
}

static int
setup_log(void)
{
	const char *lvl = lwm2m_getenv("LWDS_LOG_LEVEL", "info");
	const char *json = lwm2m_getenv("LWDS_LOG_JSON", "0");
	int level = lwm2m_log_parse_level(lvl);

	if (level < 0) {
		fprintf(stderr, "bad LWDS_LOG_LEVEL \"%s\"\n", lvl);
		return -1;
	}
	lwm2m_log_init("rest-api", level);
	lwm2m_log_set_json(strcmp(json, "1") == 0 || strcmp(json, "true") == 0);
	return 0;
}

static int
run(struct api_ctx *ctx)
{
	struct event_base *base = lwm2m_loop_base_new();
	struct lwm2m_signals *sig = NULL;
	int rc = 1;

	if (base == NULL ||
	    lwm2m_signals_new(base, on_stop, base, &sig) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot set up the event loop");
	} else if (api_ctx_start(ctx, base) == LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_NOTICE, "listening on http://%s",
		          ctx->cfg.listen);
		event_base_dispatch(base);
		api_ctx_stop(ctx);
		rc = 0;
	}
	lwm2m_signals_free(sig);
	if (base != NULL) {
		event_base_free(base);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	static struct api_ctx ctx;
	int rc;

	if (setup_log() != 0 || api_config_from_env(&ctx.cfg) != LWM2M_OK ||
	    api_server_config(&ctx.cfg) != LWM2M_OK) {
		return 2;
	}
	rc = parse_args(argc, argv, &ctx.cfg);
	if (rc != 0) {
		return rc == 1 ? 0 : rc;
	}
	if (api_bootstrap(&ctx) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "start-up failed");
		return 1;
	}
	/* a bad or missing definitions file is logged, not fatal */
	(void)api_definitions_install(ctx.cfg.redis_url);
	return run(&ctx);
}
