/* lwm2m_retention.h - how long the record of a client that is no longer
 * registered is kept (LWDS_CLIENT_RETENTION_S), read by lwds-coap-gw (its
 * sweep reaps records past it) and lwds-rest-api (DELETE /clients
 * schedules the reap).  Every instance of both must use the same value;
 * docs/redis-schema.md, "Retention". */
#ifndef LWM2M_RETENTION_H
#define LWM2M_RETENTION_H

#include "lwm2m_err.h"

#define LWM2M_RETENTION_DEFAULT_S 2592000LL /* 30 days */
#define LWM2M_RETENTION_MAX_S 3153600000LL  /* 100 years */

/* lwm2m_retention_env reads LWDS_CLIENT_RETENTION_S (whole seconds,
 * 0..LWM2M_RETENTION_MAX_S; unset or empty: LWM2M_RETENTION_DEFAULT_S)
 * into *ret_ms, in milliseconds; 0 means records are kept forever.
 * LWM2M_EINVAL (nothing written) for another value: the caller says so
 * and refuses to start. */
lwm2m_err lwm2m_retention_env(long long *ret_ms);

/* lwm2m_retention_until returns when the record of a client that left at
 * left_ms is reaped (ms; the score of its gateway expiry entry), or 0 when
 * retention_ms is 0: records are kept forever and the entry is removed. */
long long lwm2m_retention_until(long long retention_ms, long long left_ms);

#endif
