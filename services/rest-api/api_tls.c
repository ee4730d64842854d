/* api_tls.c - HTTPS for the REST API with libevhtp's OpenSSL support:
 * LWDS_TLS_CERT + LWDS_TLS_KEY (PEM files) switch the listener to TLS 1.2+;
 * LWDS_TLS_CLIENT_CA additionally requires a client certificate signed by
 * that CA.  Without them the API speaks plain HTTP, which is logged as a
 * warning unless it listens on a loopback address. */
#include "api_tls.h"

#include <string.h>

#include <openssl/ssl.h>

#include "lwm2m_log.h"
#include "lwm2m_loop.h"

static bool
loopback(const char *listen)
{
	return strncmp(listen, "127.", 4) == 0 ||
	       strncmp(listen, "localhost:", 10) == 0 ||
	       strncmp(listen, "[::1]:", 6) == 0;
}

lwm2m_err
api_tls_setup(evhtp_t *htp, const struct api_config *api_cfg)
{
	const char *cert = api_cfg->tls_cert, *key = api_cfg->tls_key;
	const char *ca = api_cfg->tls_client_ca, *listen = api_cfg->listen;
	evhtp_ssl_cfg_t cfg;

	if (cert == NULL && key == NULL) {
		if (!loopback(listen)) {
			lwm2m_log(LWM2M_LOG_WARNING,
			          "plain HTTP on %s: set LWDS_TLS_CERT and "
			          "LWDS_TLS_KEY for HTTPS",
			          listen);
		}
		return LWM2M_OK;
	}
	if (cert == NULL || key == NULL) {
		lwm2m_log(LWM2M_LOG_ERR, "LWDS_TLS_CERT and LWDS_TLS_KEY go "
		                         "together");
		return LWM2M_EINVAL;
	}
	memset(&cfg, 0, sizeof cfg);
	cfg.pemfile = (char *)cert;
	cfg.privfile = (char *)key;
	cfg.cafile = (char *)ca;
	cfg.ssl_opts = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
	               SSL_OP_NO_TLSv1_1 | SSL_OP_NO_COMPRESSION;
	cfg.verify_peer = ca != NULL ? SSL_VERIFY_PEER |
	                                   SSL_VERIFY_FAIL_IF_NO_PEER_CERT
	                             : SSL_VERIFY_NONE;
	cfg.verify_depth = 3;
	cfg.scache_type = evhtp_ssl_scache_type_internal;
	cfg.scache_timeout = 300;
	if (evhtp_ssl_init(htp, &cfg) != 0) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot use LWDS_TLS_CERT/LWDS_TLS_KEY"
		                         "%s",
		          ca != NULL ? "/LWDS_TLS_CLIENT_CA" : "");
		return LWM2M_EINVAL;
	}
	lwm2m_log(LWM2M_LOG_NOTICE, "HTTPS on %s%s", listen,
	          ca != NULL ? ", client certificates required" : "");
	return LWM2M_OK;
}
