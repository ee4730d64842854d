/* lwm2m_retention.h - how long the record of a client that is no longer
 * registered is kept (LWDS_CLIENT_RETENTION_S), read by lwds-coap-gw (its
 * sweep reaps records past it) and lwds-rest-api (DELETE /clients
 * schedules the reap).  Every instance of both must use the same value;
 * docs/redis-schema.md, "Retention". */
#ifndef LWM2M_RETENTION_H
#define LWM2M_RETENTION_H

#include "lwm2m_cli.h"
#include "lwm2m_err.h"

#define LWM2M_RETENTION_DEFAULT_S 2592000 /* 30 days */
#define LWM2M_RETENTION_MAX_S 3153600000  /* 100 years */

/* The option of both services (lwm2m_cli.h): whole seconds; the service
 * keeps num * 1000 ms, 0 meaning records are kept forever. */
#define LWM2M_CLI_OPT_RETENTION                                                \
	{                                                                      \
		NULL, "LWDS_CLIENT_RETENTION_S", NULL,                         \
		    LWM2M_CLI_STR(LWM2M_RETENTION_DEFAULT_S),                  \
		    "seconds the record of a client that left\n"               \
		    "(de-registered, expired, removed) is kept,\n"             \
		    "then reaped with its subscriptions (30 days;\n"           \
		    "0 = forever; the same on every gateway and\n"             \
		    "rest-api)",                                               \
		    LWM2M_CLI_INT, 0, LWM2M_RETENTION_MAX_S, NULL              \
	}

/* lwm2m_retention_until returns when the record of a client that left at
 * left_ms is reaped (ms; the score of its gateway expiry entry), or 0 when
 * retention_ms is 0: records are kept forever and the entry is removed. */
long long lwm2m_retention_until(long long retention_ms, long long left_ms);

#endif
