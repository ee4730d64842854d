/* lwm2m_retention.c - LWDS_CLIENT_RETENTION_S; see the header. */
#include "lwm2m_retention.h"

long long
lwm2m_retention_until(long long retention_ms, long long left_ms)
{
	return retention_ms == 0 ? 0 : left_ms + retention_ms;
}
