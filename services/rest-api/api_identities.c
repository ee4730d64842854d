/* api_identities.c - /identities and /identities/psk (REST spec 3.1, 3.2)
 * with defect 6 fixed: single-identity lookups only see the caller's
 * organisation.  Storage: docs/redis-schema.md ({psk} keys); every change
 * bumps {psk}:version so the gateways reload their handshake cache. */
#include "api_identities.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "lwm2m_id.h"
#include "lwm2m_keys.h"
#include "lwm2m_loop.h"
#include "lwm2m_x509.h"

#define CERT_DAYS 1096 /* three years (spec 3.3) */

struct psk_state {
	char id[LWM2M_ID_SIZE];
	char secret[2 * API_PSK_SECRET_BYTES + 1];
	char ep[API_PSK_EP_MAX + 1];
	struct api_page page;
	long long total;
};

static void
psk_free(void *data)
{
	struct psk_state *s = data;

	if (s != NULL) {
		OPENSSL_cleanse(s->secret, sizeof s->secret);
		free(s);
	}
}

static struct psk_state *
psk_state(struct api_req *r)
{
	struct psk_state *s = calloc(1, sizeof *s);

	if (s == NULL) {
		api_reply_error(r, 503, "out of memory");
		return NULL;
	}
	r->data = s;
	r->data_free = psk_free;
	return s;
}

static void
psk_links(struct api_doc *doc, const char *id)
{
	char path[64];

	snprintf(path, sizeof path, "/identities/psk/%s", id);
	api_doc_links_begin(doc);
	api_doc_link(doc, "self", path, NULL);
	api_doc_link(doc, "remove", path, NULL);
	api_doc_end(doc);
}

/* ---- GET /identities ------------------------------------------------------
 */

void
api_identities_get(struct api_req *r)
{
	struct api_doc *doc = api_req_doc(r, "Identities");

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_links_begin(doc);
	api_doc_link(doc, "psk", "/identities/psk", API_MT_PSKIDENTITIES);
	api_doc_link(doc, "certificate", "/identities/certificates",
	             API_MT_CERTIFICATES);
	api_doc_end(doc);
	api_reply_doc(r, 200, doc, API_MT_IDENTITIES);
}

/* ---- POST /identities/psk -------------------------------------------------
 */

static bool
ep_valid(const char *ep)
{
	size_t n = strlen(ep);

	if (n == 0 || n > API_PSK_EP_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (ep[i] <= ' ' || ep[i] > '~') {
			return false;
		}
	}
	return true;
}

/* The body is optional and ignored unless it parses (spec 3.2); a present
 * Endpoint must be a printable name.  false after answering 400. */
static bool
body_endpoint(struct api_req *r, struct psk_state *s)
{
	struct api_body body;
	char diag[160];
	char *ep;

	if (r->body_len == 0 ||
	    api_body_parse(api_req_header(r, "Content-Type"), r->body,
	                   r->body_len, NULL, &body, diag,
	                   sizeof diag) != LWM2M_OK) {
		return true;
	}
	ep = api_body_string(&body, "Endpoint");
	api_body_fini(&body);
	if (ep == NULL) {
		return true;
	}
	if (!ep_valid(ep)) {
		free(ep);
		api_reply_error(r, 400,
		                "Endpoint must be 1 to %d printable characters "
		                "without spaces",
		                API_PSK_EP_MAX);
		return false;
	}
	snprintf(s->ep, sizeof s->ep, "%s", ep);
	free(ep);
	return true;
}

static bool
new_secret(struct psk_state *s)
{
	uint8_t raw[API_PSK_SECRET_BYTES];

	if (lwm2m_random(raw, sizeof raw) != LWM2M_OK) {
		return false;
	}
	lwm2m_hex_encode(raw, sizeof raw, s->secret);
	OPENSSL_cleanse(raw, sizeof raw);
	for (char *p = s->secret; *p != '\0'; p++) {
		*p = (char)toupper((unsigned char)*p);
	}
	return true;
}

static void
on_created(struct api_req *r, redisReply *reply, void *arg)
{
	struct psk_state *s = r->data;
	struct api_doc *doc;
	char path[64];

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 3 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER ||
	    reply->element[0]->integer != 1) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	doc = api_req_doc(r, "PSKIdentity");
	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_string(doc, "Identity", s->id);
	api_doc_string(doc, "Secret", s->secret);
	api_doc_string(doc, "Endpoint", s->ep[0] != '\0' ? s->ep : NULL);
	psk_links(doc, s->id);
	snprintf(path, sizeof path, "/identities/psk/%s", s->id);
	api_reply_location(r, path);
	api_reply_doc(r, 201, doc, API_MT_PSKIDENTITY);
}

static void
store_identity(struct api_req *r, struct psk_state *s)
{
	char zset[64], value[2 * API_PSK_SECRET_BYTES + API_PSK_EP_MAX + 32];
	long long now = lwm2m_now_ms();

	snprintf(zset, sizeof zset, LWM2M_KEY_ORG_PSK, r->org);
	snprintf(value, sizeof value, "%lld:%s%s%s", r->org, s->secret,
	         s->ep[0] != '\0' ? ":" : "", s->ep);
	if (api_redis_cmd(r, NULL, NULL, "MULTI") != LWM2M_OK ||
	    api_redis_cmd(r, NULL, NULL, "HSETNX " LWM2M_KEY_PSK " %s %s",
	                  s->id, value) != LWM2M_OK ||
	    api_redis_cmd(r, NULL, NULL, "ZADD %s %lld %s", zset, now,
	                  s->id) != LWM2M_OK ||
	    api_redis_cmd(r, NULL, NULL, "INCR " LWM2M_KEY_PSK_VERSION) !=
	        LWM2M_OK ||
	    api_redis_cmd(r, on_created, NULL, "EXEC") != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
	OPENSSL_cleanse(value, sizeof value);
}

void
api_psk_create(struct api_req *r)
{
	struct psk_state *s;

	if (r->org == 0) {
		api_reply_error(r, 403, "the administrator organisation cannot "
		                        "own device identities");
		return;
	}
	s = psk_state(r);
	if (s == NULL || !body_endpoint(r, s)) {
		return;
	}
	if (lwm2m_id_new(s->id) != LWM2M_OK || !new_secret(s)) {
		api_reply_error(r, 500, "no randomness");
		return;
	}
	store_identity(r, s);
}

/* ---- GET /identities/psk --------------------------------------------------
 */

static void
render_list(struct api_req *r, const redisReply *ids)
{
	struct psk_state *s = r->data;
	struct api_doc *doc = api_req_doc(r, "PSKIdentities");

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_page_info(doc, r->path, r->query, &s->page, s->total);
	if (ids != NULL && ids->elements > 0) {
		api_doc_array_begin(doc, "Items", "PSKIdentity");
		for (size_t i = 0; i < ids->elements; i++) {
			api_doc_object_begin(doc, NULL);
			api_doc_string(doc, "Identity", ids->element[i]->str);
			psk_links(doc, ids->element[i]->str);
			api_doc_end(doc);
		}
		api_doc_end(doc);
	}
	api_doc_links_begin(doc);
	api_doc_link(doc, "add", "/identities/psk", NULL);
	api_doc_end(doc);
	api_reply_doc(r, 200, doc, API_MT_PSKIDENTITIES);
}

static void
on_range(struct api_req *r, redisReply *reply, void *arg)
{
	if (r->replied) {
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	for (size_t i = 0; i < reply->elements; i++) {
		if (reply->element[i]->type != REDIS_REPLY_STRING) {
			api_reply_error(r, 503, "storage unavailable");
			return;
		}
	}
	render_list(r, reply);
}

static void
on_card(struct api_req *r, redisReply *reply, void *arg)
{
	struct psk_state *s = r->data;

	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	s->total = reply->integer;
	if (s->page.size == 0 || s->page.start >= s->total) {
		render_list(r, NULL);
	}
}

void
api_psk_list(struct api_req *r)
{
	struct psk_state *s = psk_state(r);
	char zset[64];
	long long last;

	if (s == NULL) {
		return;
	}
	api_page_parse(r->query, &s->page);
	snprintf(zset, sizeof zset, LWM2M_KEY_ORG_PSK, r->org);
	last = s->page.start + (s->page.size > 0 ? s->page.size : 1) - 1;
	if (api_redis_cmd(r, on_card, NULL, "ZCARD %s", zset) != LWM2M_OK ||
	    api_redis_cmd(r, on_range, NULL, "ZRANGE %s %lld %lld", zset,
	                  s->page.start, last) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* ---- /identities/psk/{identity} -------------------------------------------
 */

/* true when an HGET reply is an identity of r's organisation; copies its
 * endpoint binding into s->ep */
static bool
owned(struct api_req *r, struct psk_state *s, const redisReply *reply)
{
	char *end;
	long long org;

	if (reply->type != REDIS_REPLY_STRING) {
		return false;
	}
	org = strtoll(reply->str, &end, 10);
	if (end == reply->str || *end != ':' || org != r->org) {
		return false;
	}
	end = strchr(end + 1, ':');
	if (end != NULL) {
		snprintf(s->ep, sizeof s->ep, "%s", end + 1);
	}
	return true;
}

static void
on_get(struct api_req *r, redisReply *reply, void *arg)
{
	struct psk_state *s = r->data;
	struct api_doc *doc;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (!owned(r, s, reply)) {
		api_reply_error(r, 404,
		                "no such PSK identity in this organisation");
		return;
	}
	doc = api_req_doc(r, "PSKIdentity");
	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_string(doc, "Identity", s->id);
	api_doc_string(doc, "Endpoint", s->ep[0] != '\0' ? s->ep : NULL);
	psk_links(doc, s->id);
	api_reply_doc(r, 200, doc, API_MT_PSKIDENTITY);
}

/* reads {identity} and sends HGET; cb gets the stored value */
static void
lookup(struct api_req *r,
       void (*cb)(struct api_req *r, redisReply *reply, void *arg))
{
	struct psk_state *s = psk_state(r);

	if (s == NULL) {
		return;
	}
	if (api_req_param(r, "identity", s->id, sizeof s->id) == NULL ||
	    !lwm2m_id_valid(s->id, strlen(s->id))) {
		api_reply_error(r, 404,
		                "invalid PSK identity: 22 characters "
		                "of URL-safe base64 expected");
		return;
	}
	if (api_redis_cmd(r, cb, NULL, "HGET " LWM2M_KEY_PSK " %s", s->id) !=
	    LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

void
api_psk_get(struct api_req *r)
{
	lookup(r, on_get);
}

static void
on_deleted(struct api_req *r, redisReply *reply, void *arg)
{
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	api_reply_status(r, 204);
}

static void
on_delete_owner(struct api_req *r, redisReply *reply, void *arg)
{
	struct psk_state *s = r->data;
	char zset[64];

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (!owned(r, s, reply)) {
		api_reply_error(r, 404,
		                "no such PSK identity in this organisation");
		return;
	}
	snprintf(zset, sizeof zset, LWM2M_KEY_ORG_PSK, r->org);
	if (api_redis_cmd(r, NULL, NULL, "MULTI") != LWM2M_OK ||
	    api_redis_cmd(r, NULL, NULL, "HDEL " LWM2M_KEY_PSK " %s", s->id) !=
	        LWM2M_OK ||
	    api_redis_cmd(r, NULL, NULL, "ZREM %s %s", zset, s->id) !=
	        LWM2M_OK ||
	    api_redis_cmd(r, NULL, NULL, "INCR " LWM2M_KEY_PSK_VERSION) !=
	        LWM2M_OK ||
	    api_redis_cmd(r, on_deleted, NULL, "EXEC") != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

void
api_psk_delete(struct api_req *r)
{
	lookup(r, on_delete_owner);
}

/* ---- /identities/certificates (spec 3.3) ----------------------------------
 */

void
api_certificates_get(struct api_req *r)
{
	struct api_doc *doc = api_req_doc(r, "Certificates");

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_links_begin(doc);
	api_doc_link(doc, "add", "/identities/certificates", NULL);
	api_doc_end(doc);
	api_reply_doc(r, 200, doc, API_MT_CERTIFICATES);
}

/* Issues a certificate for a fresh client id under the CA of ca_pem. */
static void
issue(struct api_req *r, const char *ca_pem)
{
	char id[LWM2M_ID_SIZE], guid[LWM2M_GUID_LEN + 1];
	int64_t today = lwm2m_now_ms() / 1000;
	struct api_doc *doc;
	char *pem = NULL;

	today -= today % 86400;
	if (lwm2m_id_new(id) != LWM2M_OK ||
	    lwm2m_x509_id_to_guid(id, guid) != LWM2M_OK ||
	    lwm2m_x509_issue(ca_pem, guid, r->org, today, CERT_DAYS, &pem) !=
	        LWM2M_OK) {
		api_reply_error(r, 500, "cannot issue a certificate");
		return;
	}
	doc = api_req_doc(r, "Certificate");
	if (doc == NULL) {
		OPENSSL_cleanse(pem, strlen(pem));
		free(pem);
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_string(doc, "CertificateFormat", "PEM");
	api_doc_string(doc, "RawCertificate", pem);
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
	api_reply_doc(r, 201, doc, API_MT_CERTIFICATE);
}

static void on_ca(struct api_req *r, redisReply *reply, void *arg);

static void
on_ca_stored(struct api_req *r, redisReply *reply, void *arg)
{
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	/* ours or a concurrent creator's: read whichever won */
	if (api_redis_cmd(r, on_ca, (void *)1, "GET " LWM2M_KEY_CA) !=
	    LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

static void
create_ca(struct api_req *r)
{
	char *pem = NULL;

	if (lwm2m_x509_ca_new("lwds device CA", 3650, &pem) != LWM2M_OK) {
		api_reply_error(r, 500, "cannot create the device CA");
		return;
	}
	if (api_redis_cmd(r, on_ca_stored, NULL, "SET " LWM2M_KEY_CA " %s NX",
	                  pem) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
}

/* arg is non-NULL on the read after creating: no second creation */
static void
on_ca(struct api_req *r, redisReply *reply, void *arg)
{
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (reply->type == REDIS_REPLY_STRING) {
		issue(r, reply->str);
	} else if (arg == NULL) {
		create_ca(r);
	} else {
		api_reply_error(r, 503, "device CA unavailable");
	}
}

void
api_certificates_create(struct api_req *r)
{
	const char *cert = r->api->cfg.ca_cert, *key = r->api->cfg.ca_key;
	char *pem = NULL;

	if (r->org == 0) {
		api_reply_error(r, 403, "the administrator organisation cannot "
		                        "own device identities");
		return;
	}
	if (cert == NULL || key == NULL) {
		if (api_redis_cmd(r, on_ca, NULL, "GET " LWM2M_KEY_CA) !=
		    LWM2M_OK) {
			api_reply_error(r, 503, "storage unavailable");
		}
		return;
	}
	if (lwm2m_x509_ca_from_files(cert, key, &pem) != LWM2M_OK) {
		api_reply_error(r, 500, "LWDS_CA_CERT/LWDS_CA_KEY unusable");
		return;
	}
	issue(r, pem);
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
}
