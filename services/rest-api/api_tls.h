/* api_tls.h - HTTPS set-up of the REST API listener (api_tls.c). */
#ifndef API_TLS_H
#define API_TLS_H

#include <evhtp/evhtp.h>

#include "api.h"
#include "lwm2m_err.h"

/* api_tls_setup turns htp's listener into HTTPS when cfg's tls_cert and
 * tls_key are set (TLS 1.2 or later; tls_client_ca: client certificates
 * from that CA required), else leaves plain HTTP (a warning unless
 * cfg->listen is a loopback address).  Call before binding; LWM2M_EINVAL
 * (logged) for unusable files. */
lwm2m_err api_tls_setup(evhtp_t *htp, const struct api_config *cfg);

#endif
