/* lwds-webhook: delivers subscription notifications to web hooks. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "wh.h"

static const char usage[] =
    "Usage: lwds-webhook [options]\n"
    "Delivers the jobs of the Redis stream lwds:v2:{deliveries} to web hooks.\n"
    "\n"
    "  -r, --redis URL        Redis URL (LWDS_REDIS_URL, "
    "redis://127.0.0.1:6379)\n"
    "  -c, --consumer NAME    consumer name, stable across restarts\n"
    "                         (LWDS_WEBHOOK_CONSUMER, the host name)\n"
    "  -H, --health ADDR      host:port of GET /health, or \"off\"\n"
    "                         (LWDS_WEBHOOK_HEALTH_ADDR, 127.0.0.1:7722)\n"
    "  -l, --log-level LEVEL  err|warning|notice|info|debug (LWDS_LOG_LEVEL)\n"
    "  -j, --log-json         one JSON object per log line (LWDS_LOG_JSON=1)\n"
    "  -h, --help             this text\n"
    "\n"
    "Environment only:\n"
    "  LWDS_WEBHOOK_MAX_CONN_PER_HOST  connections per scheme/host/port (8)\n"
    "  LWDS_WEBHOOK_PIPELINE           requests in flight per HTTP/1.1\n"
    "                                  keep-alive connection (16; 1: none)\n"
    "  LWDS_WEBHOOK_MAX_INFLIGHT       deliveries at once (256)\n"
    "  LWDS_WEBHOOK_TIMEOUT_MS         connect and response timeout (10000)\n"
    "  LWDS_WEBHOOK_MAX_RETRIES        retries after the first attempt (10)\n"
    "  LWDS_WEBHOOK_BACKOFF_BASE_MS    first retry delay (1000), doubling\n"
    "  LWDS_WEBHOOK_BACKOFF_MAX_MS     cap of the delay (300000), +0..50% "
    "jitter\n"
    "  LWDS_WEBHOOK_CLAIM_IDLE_MS      take over jobs of consumers idle this "
    "long (60000)\n"
    "  LWDS_WEBHOOK_RETRY_POLL_MS      how often due retries are re-queued "
    "(250)\n"
    "  LWDS_WEBHOOK_DEADLETTER_MAX     approximate length cap of dead letters "
    "(100000)\n"
    "  LWDS_WEBHOOK_CA_FILE            extra PEM CA bundle for https hooks\n";

static const struct option long_opts[] = {
    {"redis", required_argument, NULL, 'r'},
    {"consumer", required_argument, NULL, 'c'},
    {"health", required_argument, NULL, 'H'},
    {"log-level", required_argument, NULL, 'l'},
    {"log-json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int
parse_args(int argc, char **argv, struct wh_config *config)
{
	int c;

	while ((c = getopt_long(argc, argv, "r:c:H:l:jh", long_opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'r':
			config->redis_url = optarg;
			break;
		case 'c':
			config->consumer = optarg;
			break;
		case 'H':
			config->health_addr =
			    strcmp(optarg, "off") == 0 ? NULL : optarg;
			break;
		case 'l':
			if (lwm2m_loop_log_level_arg(optarg) != LWM2M_OK) {
				return 2;
			}
			break;
		case 'j':
			lwm2m_log_set_json(true);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	return -1;
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
	int rc;

	lwm2m_loop_log_init("webhook");
	wh_config_defaults(&config);
	if (wh_config_from_env(&config) != LWM2M_OK) {
		return 2;
	}
	rc = parse_args(argc, argv, &config);
	if (rc >= 0) {
		return rc;
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
