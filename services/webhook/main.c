/* lwds-webhook: delivers subscription notifications to web hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "lwm2m_cli.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "wh.h"

enum {
	OPT_REDIS_URL,
	OPT_CONSUMER,
	OPT_HEALTH_ADDR,
	OPT_LOG_LEVEL,
	OPT_LOG_JSON,
	OPT_MAX_CONN_PER_HOST,
	OPT_PIPELINE,
	OPT_MAX_INFLIGHT,
	OPT_TIMEOUT_MS,
	OPT_MAX_RETRIES,
	OPT_BACKOFF_BASE_MS,
	OPT_BACKOFF_MAX_MS,
	OPT_CLAIM_IDLE_MS,
	OPT_RETRY_POLL_MS,
	OPT_DEADLETTER_MAX,
	OPT_CA_FILE,
	OPT_COUNT
};

static const struct lwm2m_cli_opt opts[OPT_COUNT] = {
    [OPT_REDIS_URL] = LWM2M_CLI_OPT_REDIS_URL,
    [OPT_CONSUMER] = {"consumer", "LWDS_WEBHOOK_CONSUMER", "NAME", NULL,
                      "consumer name, stable across restarts\n"
                      "(the host name)",
                      LWM2M_CLI_TEXT, 0, 0},
    [OPT_HEALTH_ADDR] =
        LWM2M_CLI_OPT_HEALTH_ADDR("LWDS_WEBHOOK_HEALTH_ADDR", "127.0.0.1:7722"),
    [OPT_LOG_LEVEL] = LWM2M_CLI_OPT_LOG_LEVEL("info"),
    [OPT_LOG_JSON] = LWM2M_CLI_OPT_LOG_JSON,
    [OPT_MAX_CONN_PER_HOST] = {NULL, "LWDS_WEBHOOK_MAX_CONN_PER_HOST", NULL,
                               "8", "connections per scheme/host/port",
                               LWM2M_CLI_DOC, 0, 0},
    [OPT_PIPELINE] =
        {NULL, "LWDS_WEBHOOK_PIPELINE", NULL, "16",
         "requests in flight per HTTP/1.1 keep-alive\nconnection (1: none)",
         LWM2M_CLI_DOC, 0, 0},
    [OPT_MAX_INFLIGHT] = {NULL, "LWDS_WEBHOOK_MAX_INFLIGHT", NULL, "256",
                          "deliveries at once", LWM2M_CLI_DOC, 0, 0},
    [OPT_TIMEOUT_MS] = {NULL, "LWDS_WEBHOOK_TIMEOUT_MS", NULL, "10000",
                        "connect and response timeout", LWM2M_CLI_DOC, 0, 0},
    [OPT_MAX_RETRIES] = {NULL, "LWDS_WEBHOOK_MAX_RETRIES", NULL, "10",
                         "retries after the first attempt", LWM2M_CLI_DOC, 0,
                         0},
    [OPT_BACKOFF_BASE_MS] = {NULL, "LWDS_WEBHOOK_BACKOFF_BASE_MS", NULL, "1000",
                             "first retry delay, doubling", LWM2M_CLI_DOC, 0,
                             0},
    [OPT_BACKOFF_MAX_MS] = {NULL, "LWDS_WEBHOOK_BACKOFF_MAX_MS", NULL, "300000",
                            "cap of the delay, +0..50% jitter", LWM2M_CLI_DOC,
                            0, 0},
    [OPT_CLAIM_IDLE_MS] = {NULL, "LWDS_WEBHOOK_CLAIM_IDLE_MS", NULL, "60000",
                           "take over jobs of consumers idle this long",
                           LWM2M_CLI_DOC, 0, 0},
    [OPT_RETRY_POLL_MS] = {NULL, "LWDS_WEBHOOK_RETRY_POLL_MS", NULL, "250",
                           "how often due retries are re-queued", LWM2M_CLI_DOC,
                           0, 0},
    [OPT_DEADLETTER_MAX] = {NULL, "LWDS_WEBHOOK_DEADLETTER_MAX", NULL, "100000",
                            "approximate length cap of dead letters",
                            LWM2M_CLI_DOC, 0, 0},
    [OPT_CA_FILE] = {NULL, "LWDS_WEBHOOK_CA_FILE", NULL, NULL,
                     "extra PEM CA bundle for https hooks", LWM2M_CLI_DOC, 0,
                     0},
};

static const struct lwm2m_cli cli = {
    .prog = "lwds-webhook",
    .about = "Delivers the jobs of the Redis stream lwds:v2:{deliveries} to "
             "web hooks.\n",
    .opts = opts,
    .n_opts = OPT_COUNT,
};

static void
on_stopped(void *arg)
{
	event_base_loopbreak(arg);
}

struct stopper {
	struct wh_ctx *ctx;
	struct event_base *base;
};

static void
on_signal(void *arg)
{
	struct stopper *s = arg;

	lwm2m_log(LWM2M_LOG_NOTICE, "stopping");
	wh_ctx_stop(s->ctx, 2000, on_stopped, s->base);
}

int
main(int argc, char **argv)
{
	struct wh_config config;
	struct stopper stopper = {0};
	struct lwm2m_signals *signals = NULL;
	struct lwm2m_cli_val v[OPT_COUNT];
	int rc;

	rc = lwm2m_cli_start(&cli, "webhook", argc, argv, v);
	if (rc >= 0) {
		return rc;
	}
	wh_config_defaults(&config);
	if (wh_config_from_env(&config) != LWM2M_OK) {
		return 2;
	}
	config.redis_url = v[OPT_REDIS_URL].text;
	config.health_addr = v[OPT_HEALTH_ADDR].text;
	if (v[OPT_CONSUMER].text != NULL) {
		config.consumer = v[OPT_CONSUMER].text;
	}
	stopper.base = lwm2m_loop_base_new();
	if (stopper.base == NULL ||
	    wh_ctx_new(stopper.base, &config, &stopper.ctx) != LWM2M_OK ||
	    lwm2m_signals_new(stopper.base, on_signal, &stopper, &signals) !=
	        LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot start");
		wh_ctx_free(stopper.ctx);
		if (stopper.base != NULL) {
			event_base_free(stopper.base);
		}
		return 1;
	}
	lwm2m_log(LWM2M_LOG_NOTICE, "started redis=%s consumer=%s",
	          config.redis_url, config.consumer);
	event_base_dispatch(stopper.base);
	lwm2m_signals_free(signals);
	wh_ctx_free(stopper.ctx);
	event_base_free(stopper.base);
	lwm2m_log(LWM2M_LOG_NOTICE, "stopped");
	return 0;
}
