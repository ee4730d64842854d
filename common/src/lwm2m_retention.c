/* lwm2m_retention.c - LWDS_CLIENT_RETENTION_S; see the header. */
#include "lwm2m_retention.h"

#include "lwm2m_loop.h"

lwm2m_err
lwm2m_retention_env(long long *ret_ms)
{
	const char *text = lwm2m_getenv("LWDS_CLIENT_RETENTION_S", NULL);
	long long s = LWM2M_RETENTION_DEFAULT_S;

	if (text != NULL &&
	    lwm2m_parse_int(text, 0, LWM2M_RETENTION_MAX_S, &s) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	*ret_ms = s * 1000;
	return LWM2M_OK;
}

long long
lwm2m_retention_until(long long retention_ms, long long left_ms)
{
	return retention_ms == 0 ? 0 : left_ms + retention_ms;
}
