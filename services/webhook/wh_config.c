#include "wh.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwm2m_log.h"
#include "lwm2m_loop.h"

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
	config->max_inflight = 256;
	config->block_ms = 1000;
	config->retry_poll_ms = 250;
	config->claim_interval_ms = 5000;
	config->claim_idle_ms = 60000;
	config->deadletter_max = 100000;
	config->retry.max_retries = 10;
	config->retry.base_ms = 1000;
	config->retry.max_ms = 300000;
	config->http.max_conn_per_host = 8;
	config->http.max_pipeline = 16;
	config->http.max_hosts = 1024;
	config->http.timeout_ms = 10000;
}

static lwm2m_err
env_int(const char *name, long long min, long long max, long long *value)
{
	const char *text = lwm2m_getenv(name, NULL);

	if (text == NULL) {
		return LWM2M_OK;
	}
	if (lwm2m_parse_int(text, min, max, value) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR,
		          "%s must be an integer in [%lld, %lld]", name, min,
		          max);
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

static lwm2m_err
env_ms(const char *name, long long min, long long max, int64_t *value)
{
	long long v = *value;
	lwm2m_err err = env_int(name, min, max, &v);

	*value = v;
	return err;
}

static lwm2m_err
env_uint(const char *name, long long min, long long max, unsigned *value)
{
	long long v = *value;
	lwm2m_err err = env_int(name, min, max, &v);

	*value = (unsigned)v;
	return err;
}

lwm2m_err
wh_config_from_env(struct wh_config *c)
{
	lwm2m_err err = LWM2M_OK;

	c->http.ca_file = lwm2m_getenv("LWDS_WEBHOOK_CA_FILE", c->http.ca_file);
	err |= env_uint("LWDS_WEBHOOK_MAX_CONN_PER_HOST", 1, 1024,
	                &c->http.max_conn_per_host);
	err |=
	    env_uint("LWDS_WEBHOOK_PIPELINE", 1, 1024, &c->http.max_pipeline);
	err |=
	    env_uint("LWDS_WEBHOOK_MAX_INFLIGHT", 1, 100000, &c->max_inflight);
	err |=
	    env_uint("LWDS_WEBHOOK_MAX_RETRIES", 0, 100, &c->retry.max_retries);
	err |=
	    env_ms("LWDS_WEBHOOK_TIMEOUT_MS", 100, 600000, &c->http.timeout_ms);
	err |= env_ms("LWDS_WEBHOOK_BACKOFF_BASE_MS", 1, 3600000,
	              &c->retry.base_ms);
	err |= env_ms("LWDS_WEBHOOK_BACKOFF_MAX_MS", 1, 86400000,
	              &c->retry.max_ms);
	err |= env_ms("LWDS_WEBHOOK_CLAIM_IDLE_MS", 1000, 86400000,
	              &c->claim_idle_ms);
	err |=
	    env_ms("LWDS_WEBHOOK_RETRY_POLL_MS", 10, 60000, &c->retry_poll_ms);
	err |= env_int("LWDS_WEBHOOK_DEADLETTER_MAX", 1, 100000000,
	               &c->deadletter_max);
	return err != LWM2M_OK ? LWM2M_EINVAL : LWM2M_OK;
}
