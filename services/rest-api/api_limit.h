/* api_limit.h - request-rate limit per access key (api_limit.c). */
#ifndef API_LIMIT_H
#define API_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "lwm2m_err.h"

struct api_limits;

/* api_limits_new makes a token-bucket table of rate requests per second
 * and access key (LWDS_RATE_LIMIT; 0 = off) with buckets of burst requests
 * (LWDS_RATE_BURST; 0 = twice the rate); *ret_limits is NULL when off.
 * LWM2M_ENOMEM when out of memory. */
lwm2m_err api_limits_new(long long rate, long long burst,
                         struct api_limits **ret_limits);

/* api_limits_free frees the table; NULL-safe; returns NULL. */
struct api_limits *api_limits_free(struct api_limits *l);

/* api_limits_take spends one request of key at now_ms.  false when the key
 * is over its rate; *ret_retry_s is then the seconds until one request is
 * allowed again (at least 1).  Always true when l is NULL.  Loop thread. */
bool api_limits_take(struct api_limits *l, const char *key, int64_t now_ms,
                     int *ret_retry_s);

#endif
