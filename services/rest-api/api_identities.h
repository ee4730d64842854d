/* api_identities.h - /identities (REST spec 3): PSK identities and device
 * certificates.  Handlers are listed in api_routes.c. */
#ifndef API_IDENTITIES_H
#define API_IDENTITIES_H

#include "api.h"

#define API_MT_PSKIDENTITIES "application/vnd.imgtec.pskidentities"
#define API_MT_PSKIDENTITY "application/vnd.imgtec.pskidentity"
#define API_MT_CERTIFICATES "application/vnd.imgtec.certificates"
#define API_MT_CERTIFICATE "application/vnd.imgtec.certificate"

#define API_PSK_SECRET_BYTES 32 /* 64 upper-case hex digits (spec 3.2) */
#define API_PSK_EP_MAX 128      /* optional Endpoint bound to an identity */

/* api_identities_get answers GET /identities: the psk and certificate
 * links (spec 3.1). */
void api_identities_get(struct api_req *r);

/* api_psk_create answers POST /identities/psk: a new identity (a fresh
 * client id) with a random 32-byte secret, returned once, in the caller's
 * organisation (403 for the admin organisation).  An optional body
 * {"Endpoint": "name"} binds the endpoint name the device must register
 * with; otherwise it must register with the identity itself. */
void api_psk_create(struct api_req *r);

/* api_psk_list answers GET /identities/psk: a page of the organisation's
 * identities, without secrets. */
void api_psk_list(struct api_req *r);

/* api_psk_get answers GET /identities/psk/{identity}: 404 unless it
 * belongs to the caller's organisation. */
void api_psk_get(struct api_req *r);

/* api_psk_delete answers DELETE /identities/psk/{identity}: revokes it
 * (gateways refuse new handshakes and requests within their poll period);
 * 404 unless it belongs to the caller's organisation. */
void api_psk_delete(struct api_req *r);

/* api_certificates_get answers GET /identities/certificates: only the add
 * link (issued certificates are not stored). */
void api_certificates_get(struct api_req *r);

/* api_certificates_create answers POST /identities/certificates: a P-256
 * key and a certificate signed by the device CA (LWDS_CA_CERT/LWDS_CA_KEY,
 * else the one in Redis, created on first use) with CN = a fresh client id
 * as a dashed GUID and O = the caller's organisation, valid three years
 * from today 00:00 UTC (spec 3.3); 403 for the admin organisation. */
void api_certificates_create(struct api_req *r);

#endif
