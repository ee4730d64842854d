#include "lwm2m_err.h"

#include <stdarg.h>
#include <stdio.h>

const char *
lwm2m_strerror(lwm2m_err err)
{
	switch (err) {
	case LWM2M_OK:
		return "success";
	case LWM2M_ENOMEM:
		return "out of memory";
	case LWM2M_EINVAL:
		return "invalid argument";
	case LWM2M_EPROTO:
		return "malformed input";
	case LWM2M_ENOTFOUND:
		return "not found";
	case LWM2M_ETIMEDOUT:
		return "timed out";
	case LWM2M_ECLOSED:
		return "closed";
	case LWM2M_EIO:
		return "input/output error";
	case LWM2M_EBACKEND:
		return "storage backend error";
	case LWM2M_ELIMIT:
		return "limit exceeded";
	case LWM2M_EEXIST:
		return "already exists";
	case LWM2M_EDENIED:
		return "permission denied";
	case LWM2M_ERR_MAX:
		break;
	}
	return "unknown error";
}

lwm2m_err
lwm2m_errf(lwm2m_err err, char *diag, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (diag != NULL && size > 0) {
		va_start(ap, fmt);
		vsnprintf(diag, size, fmt, ap);
		va_end(ap);
	}
	return err;
}
