/* lwds-broker: turns gateway events into webhook delivery jobs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "brk.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"

static const char usage[] =
    "Usage: lwds-broker [options]\n"
    "Receives connectivity events of the gateways and queues one webhook\n"
    "delivery per matching subscription on lwds:v2:{deliveries}.\n"
    "\n"
    "  -r, --redis URL        Redis URL (LWDS_REDIS_URL, "
    "redis://127.0.0.1:6379)\n"
    "  -e, --events URL       nng sub0 listen URL the gateways dial\n"
    "                         (LWDS_EVENTS_URL, tcp://127.0.0.1:7720)\n"
    "  -H, --health ADDR      host:port of GET /health, or \"off\"\n"
    "                         (LWDS_BROKER_HEALTH_ADDR, 127.0.0.1:7721)\n"
    "  -l, --log-level LEVEL  err|warning|notice|info|debug (LWDS_LOG_LEVEL)\n"
    "  -j, --log-json         one JSON object per log line (LWDS_LOG_JSON=1)\n"
    "  -h, --help             this text\n"
    "\n"
    "Environment only:\n"
    "  LWDS_BROKER_BACKLOG_MAX  steps held while Redis is down (100000)\n"
    "  LWDS_BROKER_EVENTS       event source: \"stream\" (default: consumer\n"
    "                           group on lwds:v2:{events}, nothing lost on\n"
    "                           a crash) or \"nng\" (the sub0 listener)\n"
    "  LWDS_BROKER_CONSUMER     consumer name in the group (host name);\n"
    "                           keep it across restarts, unique per broker\n"
    "  LWDS_BROKER_CLAIM_IDLE_MS  take over other brokers' entries idle\n"
    "                           this long (60000)\n"
    "  LWDS_EVENTS_TRIM_MS      period of the trim of lwds:v2:{events} up to\n"
    "                           the oldest entry a consumer group still\n"
    "                           needs (10000; 0 = never)\n";

static const struct option long_opts[] = {
    {"redis", required_argument, NULL, 'r'},
    {"events", required_argument, NULL, 'e'},
    {"health", required_argument, NULL, 'H'},
    {"log-level", required_argument, NULL, 'l'},
    {"log-json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int
parse_args(int argc, char **argv, struct brk_config *config)
{
	int c;

	while ((c = getopt_long(argc, argv, "r:e:H:l:jh", long_opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'r':
			config->redis_url = optarg;
			break;
		case 'e':
			config->events_url = optarg;
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
	int rc;

	lwm2m_loop_log_init("broker");
	brk_config_defaults(&config);
	rc = parse_args(argc, argv, &config);
	if (rc >= 0) {
		return rc;
	}
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
