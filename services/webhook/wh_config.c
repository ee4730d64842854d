#include "wh.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
wh_config_defaults(struct wh_config *config)
{
	memset(config, 0, sizeof *config);
	if (gethostname(config->consumer_buf,
	                sizeof config->consumer_buf - 1) != 0 ||
	    config->consumer_buf[0] == '\0') {
		strcpy(config->consumer_buf, "lwds-webhook");
	}
	config->consumer = config->consumer_buf;
	config->max_inflight = WH_MAX_INFLIGHT_DEFAULT;
	config->block_ms = 1000;
	config->retry_poll_ms = WH_RETRY_POLL_MS_DEFAULT;
	config->claim_interval_ms = 5000;
	config->claim_idle_ms = WH_CLAIM_IDLE_MS_DEFAULT;
	config->deadletter_max = WH_DEADLETTER_MAX_DEFAULT;
	config->retry.max_retries = WH_MAX_RETRIES_DEFAULT;
	config->retry.base_ms = WH_BACKOFF_BASE_MS_DEFAULT;
	config->retry.max_ms = WH_BACKOFF_MAX_MS_DEFAULT;
	config->http.max_conn_per_host = WH_MAX_CONN_PER_HOST_DEFAULT;
	config->http.max_pipeline = WH_PIPELINE_DEFAULT;
	config->http.max_hosts = 1024;
	config->http.timeout_ms = WH_TIMEOUT_MS_DEFAULT;
}
