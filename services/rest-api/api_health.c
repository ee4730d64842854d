/* api_health.c - GET /health on the API port, the internal /health and
 * /metrics listener, request metrics and ids. */
#include "api_health.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "lwm2m_id.h"
#include "lwm2m_log.h"
#include "lwm2m_metrics.h"

/* health_body is the /health answer of both listeners for ctx; sets *ok. */
static const char *
health_body(const struct api_ctx *ctx, bool *ok)
{
	*ok = ctx->redis != NULL && lwm2m_redis_connected(ctx->redis);
	return *ok ? "{\"status\":\"ok\"}\n"
	           : "{\"status\":\"redis unavailable\"}\n";
}

void
api_health_get(struct api_req *r)
{
	bool ok;
	const char *body = health_body(r->api, &ok);

	api_reply_body(r, ok ? 200 : 503, "application/json", body,
	               strlen(body));
}

/* lwm2m_metrics_http's health callback: the same answer as api_health_get */
static int
on_health(struct evbuffer *out, void *arg)
{
	bool ok;

	evbuffer_add_printf(out, "%s", health_body(arg, &ok));
	return ok;
}

lwm2m_err
api_health_listen(struct api_ctx *ctx)
{
	return lwm2m_metrics_http_start(ctx->base, ctx->cfg.health_addr,
	                                on_health, ctx, &ctx->health);
}

void
api_req_observe(int status, int64_t started_ms)
{
	static const double bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1,
	                                0.5,   1,     5,    30};
	char name[64];

	snprintf(name, sizeof name, "lwds_api_requests_total{code=\"%d\"}",
	         status);
	lwm2m_metrics_inc(
	    lwm2m_metrics_counter(NULL, name, "HTTP requests by status"));
	lwm2m_metrics_observe(
	    lwm2m_metrics_histogram(NULL, "lwds_api_request_seconds",
	                            "HTTP request latency", bounds,
	                            sizeof bounds / sizeof bounds[0]),
	    (double)(lwm2m_mono_ms() - started_ms) / 1000.0);
}

static bool
req_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= API_REQ_ID_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!strchr(
		        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		        "0123456789._:-",
		        s[i])) {
			return false;
		}
	}
	return true;
}

void
api_req_id_set(const char *given, char *out)
{
	if (req_id_valid(given)) {
		strcpy(out, given);
		return;
	}
	if (lwm2m_id_new(out) != LWM2M_OK) {
		strcpy(out, "-");
	}
}
