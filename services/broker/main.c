/* lwds-broker: turns gateway events into webhook delivery jobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "brk.h"
#include "lwm2m_cli.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_redis.h"

enum {
	OPT_REDIS_URL,
	OPT_REDIS_SENTINELS,
	OPT_REDIS_MASTER,
	OPT_EVENTS_URL,
	OPT_HEALTH_ADDR,
	OPT_LOG_LEVEL,
	OPT_LOG_JSON,
	OPT_BACKLOG_MAX,
	OPT_EVENTS,
	OPT_CONSUMER,
	OPT_CLAIM_IDLE_MS,
	OPT_TRIM_MS,
	OPT_COUNT
};

static const struct lwm2m_cli_opt opts[OPT_COUNT] = {
    [OPT_REDIS_URL] = LWM2M_CLI_OPT_REDIS_URL,
    [OPT_REDIS_SENTINELS] = LWM2M_CLI_OPT_REDIS_SENTINELS,
    [OPT_REDIS_MASTER] = LWM2M_CLI_OPT_REDIS_MASTER,
    [OPT_EVENTS_URL] = {"events-url", "LWDS_EVENTS_URL", "URL",
                        "tcp://127.0.0.1:7720",
                        "nng sub0 listen URL the gateways dial\n"
                        "(with LWDS_BROKER_EVENTS=nng)",
                        LWM2M_CLI_TEXT, 0, 0, NULL},
    [OPT_HEALTH_ADDR] =
        LWM2M_CLI_OPT_HEALTH_ADDR("LWDS_BROKER_HEALTH_ADDR", "127.0.0.1:7721"),
    [OPT_LOG_LEVEL] = LWM2M_CLI_OPT_LOG_LEVEL("info"),
    [OPT_LOG_JSON] = LWM2M_CLI_OPT_LOG_JSON,
    [OPT_BACKLOG_MAX] = {NULL, "LWDS_BROKER_BACKLOG_MAX", NULL,
                         LWM2M_CLI_STR(BRK_BACKLOG_MAX_DEFAULT),
                         "steps held while Redis is down", LWM2M_CLI_INT, 0,
                         10000000, NULL},
    /* arg: the words in the order of enum brk_source */
    [OPT_EVENTS] = {NULL, "LWDS_BROKER_EVENTS", "nng|stream", "stream",
                    "event source: \"stream\" (consumer group on\n"
                    "lwds:v2:{events}, nothing lost on a crash)\n"
                    "or \"nng\" (the sub0 listener)",
                    LWM2M_CLI_CHOICE, 0, 0, NULL},
    [OPT_CONSUMER] = {NULL, "LWDS_BROKER_CONSUMER", NULL, NULL,
                      "consumer name in the group (the host name);\n"
                      "keep it across restarts, unique per broker",
                      LWM2M_CLI_TEXT, 0, 255, NULL},
    [OPT_CLAIM_IDLE_MS] = {NULL, "LWDS_BROKER_CLAIM_IDLE_MS", NULL,
                           LWM2M_CLI_STR(BRK_CLAIM_IDLE_MS_DEFAULT),
                           "take over other brokers' entries idle\n"
                           "this long, ms",
                           LWM2M_CLI_INT, 1000, 86400000, NULL},
    [OPT_TRIM_MS] = {NULL, "LWDS_EVENTS_TRIM_MS", NULL,
                     LWM2M_CLI_STR(BRK_TRIM_MS_DEFAULT),
                     "period of the trim of lwds:v2:{events} up to\n"
                     "the oldest entry a consumer group still\n"
                     "needs, ms (0 = never)",
                     LWM2M_CLI_INT, 0, 86400000, NULL},
};

static const struct lwm2m_cli cli = {
    .prog = "lwds-broker",
    .about = "Receives connectivity events of the gateways and queues one "
             "webhook\ndelivery per matching subscription on "
             "lwds:v2:{deliveries}.\n",
    .opts = opts,
    .n_opts = OPT_COUNT,
};

static void
on_signal(void *arg)
{
	lwm2m_log(LWM2M_LOG_NOTICE, "stopping");
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	struct brk_config config;
	struct brk_ctx *ctx = NULL;
	struct lwm2m_signals *signals = NULL;
	struct event_base *base;
	struct lwm2m_cli_val v[OPT_COUNT];
	int rc;

	rc = lwm2m_cli_start(&cli, "broker", argc, argv, v);
	if (rc >= 0) {
		return rc;
	}
	brk_config_defaults(&config);
	config.redis_url = v[OPT_REDIS_URL].text;
	config.events_url = v[OPT_EVENTS_URL].text;
	config.health_addr = v[OPT_HEALTH_ADDR].text;
	config.backlog_max = (size_t)v[OPT_BACKLOG_MAX].num;
	config.source = (enum brk_source)v[OPT_EVENTS].num;
	if (v[OPT_CONSUMER].text != NULL) {
		config.consumer = v[OPT_CONSUMER].text;
	}
	config.claim_idle_ms = v[OPT_CLAIM_IDLE_MS].num;
	config.trim_ms = v[OPT_TRIM_MS].num;
	base = event_base_new();
	if (base == NULL || brk_ctx_new(base, &config, &ctx) != LWM2M_OK ||
	    lwm2m_signals_new(base, on_signal, base, &signals) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot start");
		brk_ctx_free(ctx);
		if (base != NULL) {
			event_base_free(base);
		}
		return 1;
	}
	lwm2m_log(LWM2M_LOG_NOTICE, "started events=%s redis=%s",
	          config.source == BRK_SRC_STREAM ? "stream"
	                                          : config.events_url,
	          config.redis_url);
	event_base_dispatch(base);
	lwm2m_signals_free(signals);
	brk_ctx_free(ctx);
	event_base_free(base);
	lwm2m_log(LWM2M_LOG_NOTICE, "stopped");
	return 0;
}
