/* api_limit.h - request-rate limit per access key (api_limit.c). */
#ifndef API_LIMIT_H
#define API_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "lwm2m_err.h"

struct api_limits;

/* api_limits_new reads LWDS_RATE_LIMIT (requests per second and access key,
 * 0 = off, the default) and LWDS_RATE_BURST (default twice the rate) into a
 * token-bucket table; *ret_limits is NULL when off.  LWM2M_EINVAL (logged)
 * for a bad number. */
lwm2m_err api_limits_new(struct api_limits **ret_limits);

/* api_limits_free frees the table; NULL-safe; returns NULL. */
struct api_limits *api_limits_free(struct api_limits *l);

/* api_limits_take spends one request of key at now_ms.  false when the key
 * is over its rate; *ret_retry_s is then the seconds until one request is
 * allowed again (at least 1).  Always true when l is NULL.  Loop thread. */
bool api_limits_take(struct api_limits *l, const char *key, int64_t now_ms,
                     int *ret_retry_s);

#endif
