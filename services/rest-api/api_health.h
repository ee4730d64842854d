/* api_health.h - GET /health and GET /metrics of lwds-rest-api (anonymous),
 * and the request hooks that feed the metrics and the request id. */
#ifndef API_HEALTH_H
#define API_HEALTH_H

#include "api.h"

/* api_health_get answers 200 {"status":"ok"} while Redis is connected, else
 * 503 {"status":"redis unavailable"}: what a load balancer polls. */
void api_health_get(struct api_req *r);

/* api_metrics_get answers the process metrics in the Prometheus text
 * format. */
void api_metrics_get(struct api_req *r);

/* api_req_observe counts a finished request and its latency (from started_ms)
 * under its HTTP status.  Loop thread. */
void api_req_observe(int status, int64_t started_ms);

/* api_req_id_set fills out (size >= API_REQ_ID_MAX) with the caller's
 * X-Request-Id when it is 1..64 characters of [A-Za-z0-9._:-], else with a
 * new random id. */
#define API_REQ_ID_MAX 65
void api_req_id_set(const char *given, char *out);

#endif
