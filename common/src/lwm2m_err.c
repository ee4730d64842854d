#include "lwm2m_err.h"

#include <stdarg.h>
#include <stdio.h>

#define COAP_CODE(c, d) ((uint8_t)(((c) << 5) | (d)))

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

uint8_t
lwm2m_err_to_coap(lwm2m_err err)
{
	switch (err) {
	case LWM2M_OK:
		return COAP_CODE(2, 5);
	case LWM2M_EINVAL:
	case LWM2M_EPROTO:
		return COAP_CODE(4, 0);
	case LWM2M_ENOTFOUND:
		return COAP_CODE(4, 4);
	case LWM2M_EDENIED:
		return COAP_CODE(4, 3);
	case LWM2M_ELIMIT:
		return COAP_CODE(4, 13);
	case LWM2M_EEXIST:
		return COAP_CODE(4, 0);
	case LWM2M_ETIMEDOUT:
		return COAP_CODE(5, 4);
	case LWM2M_ECLOSED:
	case LWM2M_EBACKEND:
		return COAP_CODE(5, 3);
	case LWM2M_ENOMEM:
	case LWM2M_EIO:
	case LWM2M_ERR_MAX:
		break;
	}
	return COAP_CODE(5, 0);
}

int
lwm2m_err_to_http(lwm2m_err err)
{
	switch (err) {
	case LWM2M_OK:
		return 200;
	case LWM2M_EINVAL:
	case LWM2M_EPROTO:
		return 400;
	case LWM2M_ENOTFOUND:
		return 404;
	case LWM2M_EDENIED:
		return 403;
	case LWM2M_EEXIST:
		return 409;
	case LWM2M_ELIMIT:
		return 413;
	case LWM2M_ETIMEDOUT:
		return 504;
	case LWM2M_ECLOSED:
	case LWM2M_EBACKEND:
		return 503;
	case LWM2M_ENOMEM:
	case LWM2M_EIO:
	case LWM2M_ERR_MAX:
		break;
	}
	return 500;
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
