/* main.c - lwds-rest-api: flags and environment, one event loop, the REST
 * service of api.h, clean stop on SIGINT/SIGTERM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "api.h"
#include "api_devops.h"
#include "api_server.h"
#include "lwm2m_cli.h"
#include "lwm2m_devop.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_redis.h"
#include "lwm2m_retention.h"

enum {
	OPT_HTTP_LISTEN,
	OPT_REDIS_URL,
	OPT_REDIS_SENTINELS,
	OPT_REDIS_MASTER,
	OPT_HEALTH_ADDR,
	OPT_MAX_BODY,
	OPT_MAX_HEADER,
	OPT_MAX_CONNECTIONS,
	OPT_LOG_LEVEL,
	OPT_LOG_JSON,
	OPT_ADMIN_KEY,
	OPT_ADMIN_SECRET,
	OPT_SIGNING_KEY,
	OPT_IO_TIMEOUT_S,
	OPT_RETENTION_S,
	OPT_DEVICE_TIMEOUT_MS,
	OPT_QUEUE_WAIT_MS,
	OPT_RATE_LIMIT,
	OPT_RATE_BURST,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_CLIENT_CA,
	OPT_CA_CERT,
	OPT_CA_KEY,
	OPT_OBJECTS_FILE,
	OPT_COUNT
};

static const struct lwm2m_cli_opt opts[OPT_COUNT] = {
    [OPT_HTTP_LISTEN] = {"http-listen", "LWDS_HTTP_LISTEN", "HOST:PORT",
                         "0.0.0.0:8080", "listen address", LWM2M_CLI_TEXT, 0, 0,
                         NULL},
    [OPT_REDIS_URL] = LWM2M_CLI_OPT_REDIS_URL,
    [OPT_REDIS_SENTINELS] = LWM2M_CLI_OPT_REDIS_SENTINELS,
    [OPT_REDIS_MASTER] = LWM2M_CLI_OPT_REDIS_MASTER,
    /* off by default, like coap-gw's: several instances behind one load
     * balancer often share a host, and one fixed port would stop the
     * second from starting */
    [OPT_HEALTH_ADDR] =
        LWM2M_CLI_OPT_HEALTH_ADDR("LWDS_API_HEALTH_ADDR", "off"),
    [OPT_MAX_BODY] = {"max-body", "LWDS_HTTP_MAX_BODY", "BYTES",
                      LWM2M_CLI_STR(API_MAX_BODY_DEFAULT),
                      "request body limit; a larger Content-Length\n"
                      "gets 413 at once",
                      LWM2M_CLI_INT, 1, 1LL << 30, NULL},
    [OPT_MAX_HEADER] = {"max-header", "LWDS_HTTP_MAX_HEADER", "BYTES",
                        LWM2M_CLI_STR(API_MAX_HEADER_DEFAULT),
                        "header bytes per request; more gets 431 and\n"
                        "the connection closes (so does a head line\n"
                        "over 8191 bytes: 431, request line 414)",
                        LWM2M_CLI_INT, 256, 1 << 20, NULL},
    [OPT_MAX_CONNECTIONS] = {"max-connections", "LWDS_HTTP_MAX_CONNECTIONS",
                             "N", LWM2M_CLI_STR(API_MAX_CONNS_DEFAULT),
                             "open connections; more get 503 (TLS:\n"
                             "closed) at accept",
                             LWM2M_CLI_INT, 1, 1000000, NULL},
    [OPT_LOG_LEVEL] = LWM2M_CLI_OPT_LOG_LEVEL("info"),
    [OPT_LOG_JSON] = LWM2M_CLI_OPT_LOG_JSON,
    [OPT_ADMIN_KEY] = {NULL, "LWDS_ADMIN_KEY", NULL, NULL,
                       "admin access key of organisation 0; when it\n"
                       "and its secret are unset and none exists, one\n"
                       "is generated and printed once",
                       LWM2M_CLI_TEXT, 0, 86, NULL},
    [OPT_ADMIN_SECRET] = {NULL, "LWDS_ADMIN_SECRET", NULL, NULL,
                          "secret of LWDS_ADMIN_KEY", LWM2M_CLI_TEXT, 0, 1024,
                          NULL},
    [OPT_SIGNING_KEY] = {NULL, "LWDS_SIGNING_KEY", NULL, NULL,
                         "token signing key; else generated and kept in\n"
                         "Redis",
                         LWM2M_CLI_TEXT, 0, 256, NULL},
    [OPT_IO_TIMEOUT_S] = {NULL, "LWDS_HTTP_IO_TIMEOUT_S", NULL,
                          LWM2M_CLI_STR(API_IO_TIMEOUT_DEFAULT_S),
                          "a connection that reads or writes nothing for\n"
                          "this long is closed, s; a request waiting\n"
                          "for its device is still answered",
                          LWM2M_CLI_INT, 1, 3600, NULL},
    [OPT_RETENTION_S] = LWM2M_CLI_OPT_RETENTION,
    [OPT_DEVICE_TIMEOUT_MS] = LWM2M_CLI_OPT_DEVICE_TIMEOUT,
    [OPT_QUEUE_WAIT_MS] = {NULL, "LWDS_QUEUE_WAIT_MS", NULL,
                           LWM2M_CLI_STR(API_DEVOP_DEFAULT_WAIT_MS),
                           "how long a request to a sleeping device\n"
                           "waits before 202, ms (Prefer: wait=N)",
                           LWM2M_CLI_INT, 0, API_DEVOP_MAX_WAIT_MS, NULL},
    [OPT_RATE_LIMIT] = {NULL, "LWDS_RATE_LIMIT", NULL, "0",
                        "requests per second per access key (0: off)",
                        LWM2M_CLI_INT, 0, 1000000, NULL},
    [OPT_RATE_BURST] = {NULL, "LWDS_RATE_BURST", NULL, "0",
                        "bucket of LWDS_RATE_LIMIT (0: twice the rate)",
                        LWM2M_CLI_INT, 0, 10000000, NULL},
    [OPT_TLS_CERT] = {NULL, "LWDS_TLS_CERT", NULL, NULL,
                      "HTTPS certificate, PEM file (with\n"
                      "LWDS_TLS_KEY; else plain HTTP)",
                      LWM2M_CLI_TEXT, 0, 4095, NULL},
    [OPT_TLS_KEY] = {NULL, "LWDS_TLS_KEY", NULL, NULL,
                     "private key of LWDS_TLS_CERT, PEM file", LWM2M_CLI_TEXT,
                     0, 4095, NULL},
    [OPT_TLS_CLIENT_CA] = {NULL, "LWDS_TLS_CLIENT_CA", NULL, NULL,
                           "CA of required client certificates, PEM",
                           LWM2M_CLI_TEXT, 0, 4095, NULL},
    [OPT_CA_CERT] = LWM2M_CLI_OPT_CA_CERT,
    [OPT_CA_KEY] = LWM2M_CLI_OPT_CA_KEY,
    [OPT_OBJECTS_FILE] = {NULL, "LWDS_OBJECTS_FILE", NULL, NULL,
                          "object definitions installed at start (the\n"
                          "installed lwds-objects.json)",
                          LWM2M_CLI_TEXT, 0, 4095, NULL},
};

static const struct lwm2m_cli cli = {
    .prog = "lwds-rest-api",
    .about = "The lwds REST API (HTTP, JSON/XML).\n",
    .opts = opts,
    .n_opts = OPT_COUNT,
};

static void
on_stop(void *arg)
{
	struct event_base *base = arg;

	lwm2m_log(LWM2M_LOG_NOTICE, "stopping");
	event_base_loopexit(base, NULL);
}

/* cfg's command-line settings from v */
static void
apply_options(struct api_config *cfg, const struct lwm2m_cli_val *v)
{
	cfg->listen = v[OPT_HTTP_LISTEN].text;
	cfg->redis_url = v[OPT_REDIS_URL].text;
	cfg->health_addr = v[OPT_HEALTH_ADDR].text;
	cfg->max_body = (size_t)v[OPT_MAX_BODY].num;
	cfg->max_header = (size_t)v[OPT_MAX_HEADER].num;
	cfg->max_conns = (unsigned)v[OPT_MAX_CONNECTIONS].num;
	cfg->admin_key = v[OPT_ADMIN_KEY].text;
	cfg->admin_secret = v[OPT_ADMIN_SECRET].text;
	cfg->signing_key = v[OPT_SIGNING_KEY].text;
	cfg->io_timeout_s = (unsigned)v[OPT_IO_TIMEOUT_S].num;
	cfg->retention_ms = v[OPT_RETENTION_S].num * 1000;
}

/* cfg's settings of device operations, TLS and files from v */
static void
apply_env_options(struct api_config *cfg, const struct lwm2m_cli_val *v)
{
	cfg->device_timeout_ms = (uint32_t)v[OPT_DEVICE_TIMEOUT_MS].num;
	cfg->queue_wait_ms = (uint32_t)v[OPT_QUEUE_WAIT_MS].num;
	cfg->rate_limit = v[OPT_RATE_LIMIT].num;
	cfg->rate_burst = v[OPT_RATE_BURST].num;
	cfg->tls_cert = v[OPT_TLS_CERT].text;
	cfg->tls_key = v[OPT_TLS_KEY].text;
	cfg->tls_client_ca = v[OPT_TLS_CLIENT_CA].text;
	cfg->ca_cert = v[OPT_CA_CERT].text;
	cfg->ca_key = v[OPT_CA_KEY].text;
	cfg->objects_file = v[OPT_OBJECTS_FILE].text;
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
		lwm2m_log(LWM2M_LOG_NOTICE,
		          "listening on http://%s, health on %s",
		          ctx->cfg.listen,
		          ctx->cfg.health_addr ? ctx->cfg.health_addr : "off");
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
	struct lwm2m_cli_val v[OPT_COUNT];
	int rc;

	rc = lwm2m_cli_start(&cli, "rest-api", argc, argv, v);
	if (rc >= 0) {
		return rc;
	}
	apply_options(&ctx.cfg, v);
	apply_env_options(&ctx.cfg, v);
	if (api_bootstrap(&ctx) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "start-up failed");
		return 1;
	}
	/* a bad or missing definitions file is logged, not fatal */
	(void)api_definitions_install(ctx.cfg.redis_url, ctx.cfg.objects_file);
	return run(&ctx);
}
