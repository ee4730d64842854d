/* api_health.c - GET /health, GET /metrics, request metrics and ids. */
#include "api_health.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "lwm2m_id.h"
#include "lwm2m_metrics.h"

void
api_health_get(struct api_req *r)
{
	bool ok = r->api->redis != NULL && lwm2m_redis_connected(r->api->redis);
	const char *body = ok ? "{\"status\":\"ok\"}\n"
	                      : "{\"status\":\"redis unavailable\"}\n";

	api_reply_body(r, ok ? 200 : 503, "application/json", body,
	               strlen(body));
}

void
api_metrics_get(struct api_req *r)
{
	struct evbuffer *out = evbuffer_new();
	size_t len;

	if (out == NULL || lwm2m_metrics_render(NULL, out) != LWM2M_OK) {
		evbuffer_free(out);
		api_reply_error(r, 503, "out of memory");
		return;
	}
	len = evbuffer_get_length(out);
	api_reply_body(r, 200, "text/plain; version=0.0.4",
	               evbuffer_pullup(out, (ev_ssize_t)len), len);
	evbuffer_free(out);
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
