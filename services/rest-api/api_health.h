/* api_health.h - GET /health of lwds-rest-api (anonymous, on the API port),
 * the internal listener of GET /health and the Prometheus GET /metrics
 * (--health-addr), and the request hooks that feed the metrics and the
 * request id. */
#ifndef API_HEALTH_H
#define API_HEALTH_H

#include "api.h"

/* api_health_get answers 200 {"status":"ok"} while Redis is connected, else
 * 503 {"status":"redis unavailable"}: what a load balancer polls. */
void api_health_get(struct api_req *r);

/* api_health_listen opens ctx->health on ctx->cfg.health_addr (nothing when
 * NULL) on ctx->base: GET /health with api_health_get's answer and GET
 * /metrics with the process's Prometheus text (lwm2m_metrics_http_new).
 * api_ctx_stop frees it.  LWM2M_EINVAL for a bad address, LWM2M_EIO when
 * the port cannot be bound (both logged).  Loop thread, at start. */
lwm2m_err api_health_listen(struct api_ctx *ctx);

/* api_req_observe counts a finished request and its latency (from started_ms)
 * under its HTTP status.  Loop thread. */
void api_req_observe(int status, int64_t started_ms);

/* api_req_id_set fills out (size >= API_REQ_ID_MAX) with the caller's
 * X-Request-Id when it is 1..64 characters of [A-Za-z0-9._:-], else with a
 * new random id. */
#define API_REQ_ID_MAX 65
void api_req_id_set(const char *given, char *out);

#endif
