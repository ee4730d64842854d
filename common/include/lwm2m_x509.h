/* lwm2m_x509.h - the server's device CA and device certificates (REST spec
 * 3.3, 3.4), shared by the REST API (issues) and the gateway (verifies).
 *
 * A "CA PEM" is one NUL-terminated string holding the CA certificate and
 * its private key as PEM blocks, in any order; it is what LWM2M_KEY_CA
 * stores when the CA is not configured from files. */
#ifndef LWM2M_X509_H
#define LWM2M_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_err.h"
#include "lwm2m_id.h"

#define LWM2M_GUID_LEN 36 /* "8a39d904-f7a2-44bc-9917-e5e255b1bdf7" */
#define LWM2M_X509_CN_MAX 64

/* The subject of a device certificate. */
struct lwm2m_x509_subject {
	char cn[LWM2M_X509_CN_MAX + 1];
	long long org; /* from O; -1 when absent or not a decimal number */
};

/* lwm2m_x509_ca_new generates an ECDSA P-256 self-signed CA valid for
 * days days from now and returns its CA PEM (malloc, caller frees). */
lwm2m_err lwm2m_x509_ca_new(const char *name, int days, char **ret_pem);

/* lwm2m_x509_ca_check is LWM2M_OK when pem holds a certificate and a
 * matching private key (LWM2M_EPROTO otherwise). */
lwm2m_err lwm2m_x509_ca_check(const char *pem);

/* lwm2m_x509_ca_from_files reads the CA certificate and key PEM files
 * (LWDS_CA_CERT, LWDS_CA_KEY) into one CA PEM (malloc) and checks that they
 * match: LWM2M_EIO unreadable, LWM2M_EPROTO unusable. */
lwm2m_err lwm2m_x509_ca_from_files(const char *cert_path,
                                   const char *key_path, char **ret_pem);

/* lwm2m_x509_cert_only returns (malloc) only the first certificate of pem,
 * as PEM, e.g. the CA certificate without its key; NULL if none. */
char *lwm2m_x509_cert_only(const char *pem);

/* lwm2m_x509_issue generates a P-256 key pair and a certificate for it
 * signed by the CA of ca_pem: subject CN=cn, O=org (omitted when org < 0),
 * valid from not_before (seconds since 1970) for days days, random serial,
 * basicConstraints CA:FALSE, keyUsage digitalSignature+keyEncipherment,
 * extendedKeyUsage serverAuth+clientAuth, key identifiers.  ret_pem
 * (malloc, caller frees) holds "EC PRIVATE KEY", "PUBLIC KEY" and
 * "CERTIFICATE" blocks in that order (spec 3.3). */
lwm2m_err lwm2m_x509_issue(const char *ca_pem, const char *cn, long long org,
                           int64_t not_before, int days, char **ret_pem);

/* lwm2m_x509_subject_der reads CN and O of a DER certificate. */
lwm2m_err lwm2m_x509_subject_der(const uint8_t *der, size_t len,
                                 struct lwm2m_x509_subject *ret_subject);

/* lwm2m_x509_guid_to_id maps a dashed GUID (any case) onto the 22-char id
 * of the same 16 bytes in .NET Guid layout (spec 3.4).  LWM2M_EPROTO for
 * anything but 8-4-4-4-12 hex digits. */
lwm2m_err lwm2m_x509_guid_to_id(const char *guid, size_t len,
                                char ret_id[LWM2M_ID_SIZE]);

/* lwm2m_x509_id_to_guid is the inverse: lower-case dashed text. */
lwm2m_err lwm2m_x509_id_to_guid(const char *id,
                                char ret_guid[LWM2M_GUID_LEN + 1]);

#endif
