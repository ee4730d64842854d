/* lwm2m_err.h - the one error enum of the project and its mappings. */
#ifndef LWM2M_ERR_H
#define LWM2M_ERR_H

#include <stddef.h>
#include <stdint.h>

typedef enum lwm2m_err {
	LWM2M_OK = 0,
	LWM2M_ENOMEM,    /* allocation failed */
	LWM2M_EINVAL,    /* bad argument or bad configuration */
	LWM2M_EPROTO,    /* malformed input from a peer */
	LWM2M_ENOTFOUND, /* no such endpoint/object/instance/resource */
	LWM2M_ETIMEDOUT,
	LWM2M_ECLOSED,   /* socket, peer or loop is shutting down */
	LWM2M_EIO,       /* syscall or transport failure; errno logged there */
	LWM2M_EBACKEND,  /* Redis error reply or lost connection */
	LWM2M_ELIMIT,    /* a configured size or count limit was exceeded */
	LWM2M_EEXIST,    /* the thing to create already exists */
	LWM2M_EDENIED,   /* authenticated but not allowed */
	LWM2M_ERR_MAX
} lwm2m_err;

/* lwm2m_strerror returns a static, human readable text for err. */
const char *lwm2m_strerror(lwm2m_err err);

/* lwm2m_errf writes the printf-style message into diag (size bytes, may be
 * NULL or 0: nothing is written) and returns err, so that a parser can say
 * what is wrong and fail in one statement. */
lwm2m_err lwm2m_errf(lwm2m_err err, char *diag, size_t size, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

#endif
