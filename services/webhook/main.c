/* lwds-webhook: delivers subscription notifications to web hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "lwm2m_cli.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_redis.h"
#include "wh.h"

enum {
	OPT_REDIS_URL,
	OPT_REDIS_SENTINELS,
	OPT_REDIS_MASTER,
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
    [OPT_REDIS_SENTINELS] = LWM2M_CLI_OPT_REDIS_SENTINELS,
    [OPT_REDIS_MASTER] = LWM2M_CLI_OPT_REDIS_MASTER,
    [OPT_CONSUMER] = {"consumer", "LWDS_WEBHOOK_CONSUMER", "NAME", NULL,
                      "consumer name, stable across restarts\n"
                      "(the host name)",
                      LWM2M_CLI_TEXT, 0, 0, NULL},
    [OPT_HEALTH_ADDR] =
        LWM2M_CLI_OPT_HEALTH_ADDR("LWDS_WEBHOOK_HEALTH_ADDR", "127.0.0.1:7722"),
    [OPT_LOG_LEVEL] = LWM2M_CLI_OPT_LOG_LEVEL("info"),
    [OPT_LOG_JSON] = LWM2M_CLI_OPT_LOG_JSON,
    [OPT_MAX_CONN_PER_HOST] = {NULL, "LWDS_WEBHOOK_MAX_CONN_PER_HOST", NULL,
                               LWM2M_CLI_STR(WH_MAX_CONN_PER_HOST_DEFAULT),
                               "connections per scheme/host/port",
                               LWM2M_CLI_INT, 1, 1024, NULL},
    [OPT_PIPELINE] = {NULL, "LWDS_WEBHOOK_PIPELINE", NULL,
                      LWM2M_CLI_STR(WH_PIPELINE_DEFAULT),
                      "requests in flight per HTTP/1.1 keep-alive\n"
                      "connection (1: none)",
                      LWM2M_CLI_INT, 1, 1024, NULL},
    [OPT_MAX_INFLIGHT] = {NULL, "LWDS_WEBHOOK_MAX_INFLIGHT", NULL,
                          LWM2M_CLI_STR(WH_MAX_INFLIGHT_DEFAULT),
                          "deliveries at once", LWM2M_CLI_INT, 1, 100000, NULL},
    [OPT_TIMEOUT_MS] = {NULL, "LWDS_WEBHOOK_TIMEOUT_MS", NULL,
                        LWM2M_CLI_STR(WH_TIMEOUT_MS_DEFAULT),
                        "connect and response timeout, ms", LWM2M_CLI_INT, 100,
                        600000, NULL},
    [OPT_MAX_RETRIES] = {NULL, "LWDS_WEBHOOK_MAX_RETRIES", NULL,
                         LWM2M_CLI_STR(WH_MAX_RETRIES_DEFAULT),
                         "retries after the first attempt", LWM2M_CLI_INT, 0,
                         100, NULL},
    [OPT_BACKOFF_BASE_MS] = {NULL, "LWDS_WEBHOOK_BACKOFF_BASE_MS", NULL,
                             LWM2M_CLI_STR(WH_BACKOFF_BASE_MS_DEFAULT),
                             "first retry delay, doubling, ms", LWM2M_CLI_INT,
                             1, 3600000, NULL},
    [OPT_BACKOFF_MAX_MS] = {NULL, "LWDS_WEBHOOK_BACKOFF_MAX_MS", NULL,
                            LWM2M_CLI_STR(WH_BACKOFF_MAX_MS_DEFAULT),
                            "cap of the delay, +0..50% jitter, ms",
                            LWM2M_CLI_INT, 1, 86400000, NULL},
    [OPT_CLAIM_IDLE_MS] = {NULL, "LWDS_WEBHOOK_CLAIM_IDLE_MS", NULL,
                           LWM2M_CLI_STR(WH_CLAIM_IDLE_MS_DEFAULT),
                           "take over jobs of consumers idle this long, ms",
                           LWM2M_CLI_INT, 1000, 86400000, NULL},
    [OPT_RETRY_POLL_MS] = {NULL, "LWDS_WEBHOOK_RETRY_POLL_MS", NULL,
                           LWM2M_CLI_STR(WH_RETRY_POLL_MS_DEFAULT),
                           "how often due retries are re-queued, ms",
                           LWM2M_CLI_INT, 10, 60000, NULL},
    [OPT_DEADLETTER_MAX] = {NULL, "LWDS_WEBHOOK_DEADLETTER_MAX", NULL,
                            LWM2M_CLI_STR(WH_DEADLETTER_MAX_DEFAULT),
                            "approximate length cap of dead letters",
                            LWM2M_CLI_INT, 1, 100000000, NULL},
    [OPT_CA_FILE] = {NULL, "LWDS_WEBHOOK_CA_FILE", NULL, NULL,
                     "extra PEM CA bundle for https hooks", LWM2M_CLI_TEXT, 0,
                     4095, NULL},
};

static const struct lwm2m_cli cli = {
    .prog = "lwds-webhook",
    .about = "Delivers the jobs of the Redis stream lwds:v2:{deliveries} to "
             "web hooks.\n",
    .opts = opts,
    .n_opts = OPT_COUNT,
};

/* config's settings from the resolved options v */
static void
apply_options(struct wh_config *c, const struct lwm2m_cli_val *v)
{
	c->redis_url = v[OPT_REDIS_URL].text;
	c->health_addr = v[OPT_HEALTH_ADDR].text;
	if (v[OPT_CONSUMER].text != NULL) {
		c->consumer = v[OPT_CONSUMER].text;
	}
	c->http.max_conn_per_host = (unsigned)v[OPT_MAX_CONN_PER_HOST].num;
	c->http.max_pipeline = (unsigned)v[OPT_PIPELINE].num;
	c->max_inflight = (unsigned)v[OPT_MAX_INFLIGHT].num;
	c->http.timeout_ms = v[OPT_TIMEOUT_MS].num;
	c->retry.max_retries = (unsigned)v[OPT_MAX_RETRIES].num;
	c->retry.base_ms = v[OPT_BACKOFF_BASE_MS].num;
	c->retry.max_ms = v[OPT_BACKOFF_MAX_MS].num;
	c->claim_idle_ms = v[OPT_CLAIM_IDLE_MS].num;
	c->retry_poll_ms = v[OPT_RETRY_POLL_MS].num;
	c->deadletter_max = v[OPT_DEADLETTER_MAX].num;
	c->http.ca_file = v[OPT_CA_FILE].text;
}

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
	apply_options(&config, v);
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
