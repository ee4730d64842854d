/* gw_dtls.c - CoAP over DTLS 1.2 (libcoap's OpenSSL backend): the secure
 * endpoint, the PSK identity cache consulted during handshakes, and the
 * binding of a request to the credential of its session.
 *
 * libcoap asks for a PSK synchronously inside the handshake, so a Redis
 * round trip cannot happen there.  Every gateway keeps the whole identity
 * table ({psk} hash, a few dozen bytes per identity) in memory and polls the
 * {psk}:version counter every LWDS_DTLS_PSK_POLL_MS (250 ms): when it moved,
 * the hash is read again and swapped in.  A new or revoked identity is
 * therefore seen within one poll period plus one HGETALL, without restart;
 * a request on a session whose identity disappeared since its handshake is
 * refused with 4.03 as well.
 *
 * Certificates: devices present certificates issued by the device CA
 * (LWDS_CA_CERT/LWDS_CA_KEY, else the CA in Redis, created by whichever
 * service needs it first) on the same context and port as PSK.  The
 * gateway's own server certificate is issued from that CA at start.  CN (a
 * dashed GUID) gives the client id and the endpoint name, O the
 * organisation.  Expired, foreign and self-signed certificates fail the
 * handshake.
 *
 * Cipher suites: libcoap 4.3.1 gives its DTLS SSL_CTX the list
 * "TLSv1.3:TLSv1.2:!NULL", which leaves out PSK-AES128-CBC-SHA256 (OpenSSL
 * files it under TLSv1).  The only per-session hook libcoap offers is the
 * PKI set-up's additional_tls_setup_call_back, called for every server SSL
 * (PSK handshakes included) once PKI is configured: it sets SUITES.
 * LWDS_DTLS_CERT_LISTEN adds a second endpoint to the same context.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "gw.h"
#include "lwm2m_id.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_redis.h"
#include "lwm2m_x509.h"

#define PSK_KEY_MAX 64 /* bytes of a pre-shared key */
#define PSK_ID_MAX 128 /* bytes of an identity */
#define PSK_BUCKETS_MIN 64
/* OpenSSL sizes a session's record write buffer, kept for the session's
 * lifetime (SSL_MODE_RELEASE_BUFFERS does not apply to DTLS), after the
 * largest record it may send: 16 kB by default.  A CoAP datagram is at most
 * COAP_RXBUFFER_SIZE (1472) bytes, so 2 kB records suffice. */
#define SEND_FRAGMENT_MAX 2048

struct psk_entry {
	struct psk_entry *next;
	long long org;
	size_t key_len;
	uint8_t key[PSK_KEY_MAX];
	char ep[GW_EP_MAX + 1]; /* "" when the endpoint must be the identity */
	char id[];              /* NUL-terminated */
};

struct psk_table {
	struct psk_entry **buckets;
	size_t n_buckets, count;
};

struct gw_dtls {
	struct gw_ctx *gw;
	struct psk_table psk;
	struct event *poll_timer;
	long long version; /* of the loaded table; -1 before the first load */
	bool polling;      /* a GET/HGETALL is in flight */
	coap_bin_const_t key_out; /* handed to libcoap, which copies it */
	bool pki_wanted;
	struct gw_shards *shards;       /* LWDS_DTLS_SHARDS > 1 */
	const coap_context_t *walk_ctx; /* throttled (gw_walk_throttle) */
	bool pki_ready;                 /* certificates for setup_ctx */
	char *ca_cert, *server_pem;     /* PEM of the CA and the server */
	/* DER copies libcoap keeps pointing to (see pki_setup_data) */
	uint8_t *ca_der, *cert_der, *key_der;
	/* the same, parsed once: shared by every server SSL (on_tls_setup) */
	X509 *cert_x;
	EVP_PKEY *key_x;
	int ca_der_len, cert_der_len, key_der_len;
	/* session ticket keys shared by every shard's SSL_CTX, so a device
	 * resumes whichever shard its new address lands on */
	unsigned char ticket_keys[80];
	bool ticket_keys_set;
};

/* ---- the identity table ---------------------------------------------------
 */

static size_t
hash_id(const char *id, size_t len)
{
	size_t h = 5381;

	for (size_t i = 0; i < len; i++) {
		h = h * 33 + (unsigned char)id[i];
	}
	return h;
}

static void
psk_table_fini(struct psk_table *t)
{
	for (size_t i = 0; t->buckets != NULL && i < t->n_buckets; i++) {
		struct psk_entry *e = t->buckets[i], *next;
		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof *t);
}

static const struct psk_entry *
psk_find(const struct psk_table *t, const char *id, size_t len)
{
	const struct psk_entry *e;

	if (t->n_buckets == 0) {
		return NULL;
	}
	e = t->buckets[hash_id(id, len) % t->n_buckets];
	for (; e != NULL; e = e->next) {
		if (strlen(e->id) == len && memcmp(e->id, id, len) == 0) {
			return e;
		}
	}
	return NULL;
}

/* "org:HEX[:ep]" -> e; false for anything malformed */
static bool
parse_value(const char *v, struct psk_entry *e)
{
	char *end;
	const char *hex;
	size_t n = 0;

	e->org = strtoll(v, &end, 10);
	if (end == v || *end != ':' || e->org < 0) {
		return false;
	}
	hex = end + 1;
	while (hex[2 * n] != '\0' && hex[2 * n] != ':') {
		if (n == PSK_KEY_MAX ||
		    !lwm2m_hex_decode(hex + 2 * n, 1, &e->key[n])) {
			return false;
		}
		n++;
	}
	e->key_len = n;
	if (n == 0) {
		return false;
	}
	if (hex[2 * n] == ':') {
		snprintf(e->ep, sizeof e->ep, "%s", hex + 2 * n + 1);
	}
	return true;
}

static bool
psk_add(struct psk_table *t, const redisReply *id, const redisReply *val)
{
	struct psk_entry *e;
	size_t b;

	if (id->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING ||
	    id->len == 0 || id->len > PSK_ID_MAX) {
		return false;
	}
	e = calloc(1, sizeof *e + id->len + 1);
	if (e == NULL) {
		return false;
	}
	memcpy(e->id, id->str, id->len);
	if (!parse_value(val->str, e)) {
		free(e);
		return false;
	}
	b = hash_id(e->id, id->len) % t->n_buckets;
	e->next = t->buckets[b];
	t->buckets[b] = e;
	t->count++;
	return true;
}

/* builds a table from an HGETALL reply; false on ENOMEM */
static bool
psk_table_load(struct psk_table *t, const redisReply *r)
{
	size_t n = r->elements / 2, skipped = 0;

	t->n_buckets = n < PSK_BUCKETS_MIN ? PSK_BUCKETS_MIN : n;
	t->buckets = calloc(t->n_buckets, sizeof *t->buckets);
	if (t->buckets == NULL) {
		return false;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		if (!psk_add(t, r->element[i], r->element[i + 1])) {
			skipped++;
		}
	}
	if (skipped > 0) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "%zu unusable PSK identities in Redis, ignoring",
		          skipped);
	}
	return true;
}

/* ---- polling Redis --------------------------------------------------------
 */

struct load {
	struct gw_dtls *d;
	long long version;
};

static void
on_psk_all(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct load *l = arg;
	struct gw_dtls *d = l->d;
	struct psk_table t = {0};

	d->polling = false;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		free(l);
		return;
	}
	if (!psk_table_load(&t, reply)) {
		psk_table_fini(&t);
		free(l);
		return;
	}
	psk_table_fini(&d->psk);
	d->psk = t;
	d->version = l->version;
	lwm2m_log(LWM2M_LOG_DEBUG, "PSK identities loaded: %zu (version %lld)",
	          t.count, l->version);
	free(l);
}

static void
on_psk_version(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct gw_dtls *d = arg;
	struct load *l;
	long long v = 0;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		d->polling = false;
		return;
	}
	if (reply->type == REDIS_REPLY_STRING) {
		v = strtoll(reply->str, NULL, 10);
	}
	l = malloc(sizeof *l);
	if (v == d->version || l == NULL) {
		free(l);
		d->polling = false;
		return;
	}
	l->d = d;
	l->version = v;
	if (lwm2m_redis_cmd(redis, on_psk_all, l, "HGETALL " LWM2M_KEY_PSK) !=
	    LWM2M_OK) {
		free(l);
		d->polling = false;
	}
}

static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct gw_dtls *d = arg;

	if (d->polling || d->gw->redis == NULL) {
		return;
	}
	if (lwm2m_redis_cmd(d->gw->redis, on_psk_version, d,
	                    "GET " LWM2M_KEY_PSK_VERSION) == LWM2M_OK) {
		d->polling = true;
	}
}

/* ---- libcoap callbacks ----------------------------------------------------
 */

/* The handshake asks for the key of identity: from the cache only. */
static const coap_bin_const_t *
on_psk_identity(coap_bin_const_t *identity, coap_session_t *session, void *arg)
{
	struct gw_dtls *d = arg;
	const struct psk_entry *e;
	char q[PSK_ID_MAX + 8];
	coap_tls_library_t lib;
	SSL *ssl = coap_session_get_tls(session, &lib);

	/* this session's buffers exist already; the SSLs libcoap makes from
	 * now on inherit the limit (libcoap has no hook before them without
	 * certificates) */
	if (ssl != NULL && lib == COAP_TLS_LIBRARY_OPENSSL) {
		SSL_CTX_set_max_send_fragment(SSL_get_SSL_CTX(ssl),
		                              SEND_FRAGMENT_MAX);
	}
	e = psk_find(&d->psk, (const char *)identity->s, identity->length);
	if (e == NULL) {
		lwm2m_log(LWM2M_LOG_INFO,
		          "DTLS handshake with unknown PSK identity \"%s\" "
		          "refused",
		          lwm2m_log_quote(q, sizeof q,
		                          (const char *)identity->s,
		                          identity->length));
		return NULL;
	}
	d->key_out.s = e->key;
	d->key_out.length = e->key_len;
	return &d->key_out;
}

/* Device certificate checks after OpenSSL validated the chain: CN must be
 * a dashed GUID (the client id) and O an organisation above 0. */
static int
on_cn(const char *cn, const uint8_t *der, size_t len, coap_session_t *session,
      unsigned int depth, int validated, void *arg)
{
	struct lwm2m_x509_subject subj;
	char id[LWM2M_ID_SIZE], q[LWM2M_X509_CN_MAX + 8];

	if (!validated || depth > 0) {
		return validated;
	}
	if (lwm2m_x509_subject_der(der, len, &subj) != LWM2M_OK ||
	    subj.org < 1 ||
	    lwm2m_x509_guid_to_id(subj.cn, strlen(subj.cn), id) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_INFO,
		          "DTLS certificate \"%s\" refused: CN must be a GUID "
		          "and O an organisation",
		          lwm2m_log_quote(q, sizeof q, cn, strlen(cn)));
		return 0;
	}
	return 1;
}

/* the LwM2M profile: PSK with AES-128-CCM_8 and AES-128-CBC-SHA256,
 * certificates with ECDHE-ECDSA and the same two ciphers */
#define SUITES                                                                 \
	"PSK-AES128-CCM8:PSK-AES128-CBC-SHA256:ECDHE-ECDSA-AES128-CCM8:"       \
	"ECDHE-ECDSA-AES128-SHA256"

/* libcoap calls this for every server SSL once it loaded the PEM buffers.
 * Loading them leaves PEM_R_NO_START_LINE on the thread's OpenSSL error
 * queue (libcoap reads PEM objects until none is left); libcoap only
 * drains the queue when its DTLS log level is at least LOG_WARNING, and a
 * stale error makes SSL_get_error report SSL_ERROR_SSL instead of WANT_READ
 * later in the handshake: PSK handshakes then stall after the client's
 * Finished.  So the queue is cleared here. */
static int
on_tls_setup(void *tls, coap_dtls_pki_t *setup)
{
	struct gw_dtls *d = setup->cn_call_back_arg;
	int mode = SSL_get_verify_mode(tls);

	/* libcoap parsed the certificate and key into this SSL: its own
	 * copies (about 10 kB per session) give way to the shared ones */
	if (d->cert_x != NULL && d->key_x != NULL &&
	    (SSL_use_certificate(tls, d->cert_x) != 1 ||
	     SSL_use_PrivateKey(tls, d->key_x) != 1)) {
		return 0;
	}

	ERR_clear_error();
	/* OpenSSL refuses to resume a session on an SSL that verifies its
	 * peer and has no session id context (an internal_error alert): with
	 * one, PSK and certificate devices resume with their ticket */
	if (SSL_set_session_id_context(tls, (const unsigned char *)"lwds", 4) !=
	    1) {
		return 0;
	}
	if (!d->ticket_keys_set) {
		d->ticket_keys_set =
		    lwm2m_random(d->ticket_keys, sizeof d->ticket_keys) ==
		    LWM2M_OK;
	}
	if (d->ticket_keys_set &&
	    SSL_CTX_set_tlsext_ticket_keys(SSL_get_SSL_CTX(tls), d->ticket_keys,
	                                   sizeof d->ticket_keys) != 1) {
		return 0;
	}
	/* a certificate suite without a client certificate fails the
	 * handshake (libcoap only asks for one) */
	if ((mode & SSL_VERIFY_PEER) != 0) {
		SSL_set_verify(tls, mode | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		               SSL_get_verify_callback(tls));
	}
	return SSL_set_max_send_fragment(tls, SEND_FRAGMENT_MAX) == 1 &&
	       SSL_set_cipher_list(tls, SUITES) == 1;
}

/* The PEM as DER for libcoap, which loads the server key and certificates
 * into every server SSL (PSK handshakes included): OpenSSL 3.0 decodes a
 * PEM key through its generic decoder chain, several times slower than
 * DER.  The parsed certificate and key stay for on_tls_setup. */
static bool
pki_der(struct gw_dtls *d)
{
	BIO *ca = BIO_new_mem_buf(d->ca_cert, -1);
	BIO *srv = BIO_new_mem_buf(d->server_pem, -1);
	BIO *key = BIO_new_mem_buf(d->server_pem, -1);
	X509 *ca_x =
	    ca != NULL ? PEM_read_bio_X509(ca, NULL, NULL, NULL) : NULL;
	X509 *srv_x =
	    srv != NULL ? PEM_read_bio_X509(srv, NULL, NULL, NULL) : NULL;
	EVP_PKEY *pk =
	    key != NULL ? PEM_read_bio_PrivateKey(key, NULL, NULL, NULL) : NULL;

	if (ca_x != NULL && srv_x != NULL && pk != NULL) {
		d->ca_der_len = i2d_X509(ca_x, &d->ca_der);
		d->cert_der_len = i2d_X509(srv_x, &d->cert_der);
		d->key_der_len = i2d_PrivateKey(pk, &d->key_der);
	}
	X509_free(ca_x);
	d->cert_x = srv_x;
	d->key_x = pk;
	BIO_free(ca);
	BIO_free(srv);
	BIO_free(key);
	ERR_clear_error();
	return d->ca_der_len > 0 && d->cert_der_len > 0 && d->key_der_len > 0;
}

static void
pki_setup_data(struct gw_dtls *d, coap_dtls_pki_t *setup)
{
	coap_pki_key_asn1_t *der = &setup->pki_key.key.asn1;

	memset(setup, 0, sizeof *setup);
	setup->version = COAP_DTLS_PKI_SETUP_VERSION;
	setup->verify_peer_cert = 1;
	setup->check_common_ca = 1;
	setup->cert_chain_validation = 1;
	setup->cert_chain_verify_depth = 2;
	setup->validate_cn_call_back = on_cn;
	setup->cn_call_back_arg = d;
	setup->additional_tls_setup_call_back = on_tls_setup;
	setup->pki_key.key_type = COAP_PKI_KEY_ASN1;
	der->ca_cert = d->ca_der;
	der->ca_cert_len = (size_t)d->ca_der_len;
	der->public_cert = d->cert_der;
	der->public_cert_len = (size_t)d->cert_der_len;
	der->private_key = d->key_der;
	der->private_key_len = (size_t)d->key_der_len;
	der->private_key_type = COAP_ASN1_PKEY_EC;
}

static lwm2m_err
open_endpoint(struct gw_ctx *gw, const char *listen)
{
	coap_address_t addr;
	coap_endpoint_t *ep;

	if (gw_coap_resolve(listen, &addr) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "bad DTLS listen address \"%s\"",
		          listen);
		return LWM2M_EINVAL;
	}
	ep = coap_new_endpoint(gw->coap, &addr, COAP_PROTO_DTLS);
	if (ep == NULL) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot listen on DTLS %s", listen);
		return LWM2M_EIO;
	}
	coap_endpoint_set_default_mtu(ep, COAP_RXBUFFER_SIZE);
	return LWM2M_OK;
}

/* The server certificate issued from ca_pem, as DER for setup_ctx. */
static lwm2m_err
setup_pki(struct gw_dtls *d, const char *ca_pem)
{
	d->ca_cert = lwm2m_x509_cert_only(ca_pem);
	if (d->ca_cert == NULL ||
	    lwm2m_x509_issue(ca_pem, d->gw->cfg.gw_id, -1,
	                     lwm2m_now_ms() / 1000 - 3600, 825,
	                     &d->server_pem) != LWM2M_OK ||
	    !pki_der(d)) {
		lwm2m_log(LWM2M_LOG_ERR, "device CA unusable: no certificates");
		return LWM2M_EINVAL;
	}
	d->pki_ready = true;
	return LWM2M_OK;
}

/* ---- binding a request to its credential ----------------------------------
 */

static bool
refuse(coap_pdu_t *response, const char *diag)
{
	struct gw_result res = {.code = COAP_RESPONSE_CODE(403)};

	snprintf(res.diag, sizeof res.diag, "%s", diag);
	lwm2m_log(LWM2M_LOG_NOTICE, "DTLS request refused: %s", diag);
	coap_pdu_set_code(response, res.code);
	coap_add_data(response, strlen(res.diag), (const uint8_t *)res.diag);
	return false;
}

/* the PSK identity of the session, or NULL: libcoap records it in its PSK
 * callback, which a resumed handshake skips (libcoap then has an empty
 * one), so OpenSSL's session, which keeps the identity, answers then */
static const char *
session_psk_identity(coap_session_t *session, size_t *ret_len)
{
	const coap_bin_const_t *id = coap_session_get_psk_identity(session);
	coap_tls_library_t lib;
	SSL *ssl;
	const char *text;

	if (id != NULL && id->s != NULL && id->length > 0) {
		*ret_len = id->length;
		return (const char *)id->s;
	}
	ssl = coap_session_get_tls(session, &lib);
	if (ssl == NULL || lib != COAP_TLS_LIBRARY_OPENSSL ||
	    (text = SSL_get_psk_identity(ssl)) == NULL) {
		return NULL;
	}
	*ret_len = strlen(text);
	return text;
}

static bool
psk_credential(struct gw_dtls *d, coap_session_t *session, struct gw_cred *cred)
{
	const struct psk_entry *e;
	size_t len = 0;
	const char *id = session_psk_identity(session, &len);

	if (id == NULL) {
		return false;
	}
	e = psk_find(&d->psk, id, len);
	if (e == NULL || !lwm2m_id_valid(id, len)) {
		return false;
	}
	memcpy(cred->id, id, LWM2M_ID_LEN);
	cred->id[LWM2M_ID_LEN] = '\0';
	cred->org = e->org;
	snprintf(cred->ep, sizeof cred->ep, "%s",
	         e->ep[0] != '\0' ? e->ep : cred->id);
	return true;
}

static bool
pki_credential(coap_session_t *session, struct gw_cred *cred)
{
	coap_tls_library_t lib;
	SSL *ssl = coap_session_get_tls(session, &lib);
	struct lwm2m_x509_subject subj;
	uint8_t *der = NULL;
	X509 *peer;
	int len;
	bool ok;

	if (ssl == NULL || lib != COAP_TLS_LIBRARY_OPENSSL ||
	    (peer = SSL_get0_peer_certificate(ssl)) == NULL ||
	    (len = i2d_X509(peer, &der)) <= 0) {
		return false;
	}
	ok = lwm2m_x509_subject_der(der, (size_t)len, &subj) == LWM2M_OK &&
	     subj.org > 0 &&
	     lwm2m_x509_guid_to_id(subj.cn, strlen(subj.cn), cred->id) ==
	         LWM2M_OK;
	OPENSSL_free(der);
	if (ok) {
		cred->org = subj.org;
		snprintf(cred->ep, sizeof cred->ep, "%s", subj.cn);
	}
	return ok;
}

bool
gw_dtls_bind(struct gw_ctx *gw, coap_session_t *session, struct gw_request *req,
             coap_pdu_t *response)
{
	struct gw_cred *cred = &req->cred;

	memset(cred, 0, sizeof *cred);
	if (coap_session_get_proto(session) != COAP_PROTO_DTLS) {
		return true;
	}
	if (gw->dtls == NULL || (!psk_credential(gw->dtls, session, cred) &&
	                         !pki_credential(session, cred))) {
		return refuse(response, "credential unknown or revoked");
	}
	cred->present = true;
	if (req->op == GW_OP_REGISTER && strcmp(req->q.ep, cred->ep) != 0) {
		return refuse(response, "endpoint does not match credential");
	}
	if (req->op == GW_OP_UPDATE && strcmp(req->id, cred->id) != 0) {
		return refuse(response,
		              "registration belongs to another credential");
	}
	return true;
}

/* ---- lifecycle --------------------------------------------------------------
 */

/* PSK and (when ready) certificates on ctx: gw->coap or a shard */
static lwm2m_err
setup_ctx(coap_context_t *ctx, void *arg)
{
	struct gw_dtls *d = arg;
	coap_dtls_spsk_t setup;
	coap_dtls_pki_t pki;

	memset(&setup, 0, sizeof setup);
	setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
	setup.validate_id_call_back = on_psk_identity;
	setup.id_call_back_arg = d;
	/* no hint: the identity alone selects the key */
	if (!coap_context_set_psk2(ctx, &setup)) {
		lwm2m_log(LWM2M_LOG_ERR, "libcoap refused the PSK set-up");
		return LWM2M_EIO;
	}
	if (!d->pki_ready) {
		return LWM2M_OK;
	}
	pki_setup_data(d, &pki);
	if (!coap_context_set_pki(ctx, &pki)) {
		lwm2m_log(LWM2M_LOG_ERR,
		          "libcoap refused the certificate set-up");
		return LWM2M_EIO;
	}
	return LWM2M_OK;
}

/* the CA PEM from Redis (blocking, at start-up before the loop runs),
 * created when absent; NULL when Redis cannot be reached */
static char *
ca_from_redis(const char *url)
{
	redisContext *c = NULL;
	redisReply *r = NULL;
	char *pem = NULL, *fresh = NULL;

	if (lwm2m_redis_sync_connect(url, &c) != LWM2M_OK) {
		return NULL;
	}
	r = redisCommand(c, "GET " LWM2M_KEY_CA);
	if (r != NULL && r->type == REDIS_REPLY_NIL &&
	    lwm2m_x509_ca_new("lwds device CA", 3650, &fresh) == LWM2M_OK) {
		freeReplyObject(
		    redisCommand(c, "SET " LWM2M_KEY_CA " %s NX", fresh));
		free(fresh);
		freeReplyObject(r);
		r = redisCommand(c, "GET " LWM2M_KEY_CA);
	}
	if (r != NULL && r->type == REDIS_REPLY_STRING) {
		pem = strdup(r->str);
	}
	freeReplyObject(r);
	redisFree(c);
	return pem;
}

/* Certificates (off with LWDS_DTLS_PKI=0): LWDS_CA_CERT + LWDS_CA_KEY,
 * else the CA in Redis. */
static lwm2m_err
pki_start(struct gw_dtls *d)
{
	const char *cert = d->gw->cfg.ca_cert, *key = d->gw->cfg.ca_key;
	char *pem = NULL;
	lwm2m_err err;

	if (!d->pki_wanted) {
		return LWM2M_OK;
	}
	if (cert != NULL && key != NULL) {
		if (lwm2m_x509_ca_from_files(cert, key, &pem) != LWM2M_OK) {
			lwm2m_log(LWM2M_LOG_ERR,
			          "LWDS_CA_CERT/LWDS_CA_KEY unusable");
			return LWM2M_EINVAL;
		}
	} else if ((pem = ca_from_redis(d->gw->cfg.redis_url)) == NULL) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "no device CA (Redis unreachable): "
		          "DTLS with PSK only");
		return LWM2M_OK;
	}
	err = setup_pki(d, pem);
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
	return err;
}

static lwm2m_err
start_poll(struct gw_dtls *d)
{
	int ms = d->gw->cfg.dtls_psk_poll_ms;
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	d->poll_timer = event_new(d->gw->base, -1, EV_PERSIST, on_poll, d);
	if (d->poll_timer == NULL || event_add(d->poll_timer, &tv) != 0) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

/* LWDS_DTLS_SHARDS contexts on listen, else an endpoint of gw->coap;
 * LWDS_DTLS_CERT_LISTEN (certificates) is one more endpoint of gw->coap. */
static lwm2m_err
open_endpoints(struct gw_dtls *d, const char *listen)
{
	const char *extra = d->gw->cfg.dtls_cert_listen;
	int shards = d->gw->cfg.dtls_shards, walk_ms = d->gw->cfg.coap_walk_ms;
	coap_address_t addr;

	if (extra == NULL) {
		extra = "";
	}
	if (gw_walk_throttle(d->gw->coap, (unsigned int)walk_ms)) {
		d->walk_ctx = d->gw->coap;
	}
	if (shards == 1) {
		if (open_endpoint(d->gw, listen) != LWM2M_OK) {
			return LWM2M_EIO;
		}
	} else if (gw_coap_resolve(listen, &addr) != LWM2M_OK ||
	           gw_shards_start(d->gw, &addr, (size_t)shards, setup_ctx, d,
	                           (unsigned int)walk_ms,
	                           &d->shards) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR,
		          "cannot listen on DTLS %s in %d "
		          "shards",
		          listen, shards);
		return LWM2M_EIO;
	}
	if (extra[0] != '\0' && d->pki_ready &&
	    open_endpoint(d->gw, extra) != LWM2M_OK) {
		return LWM2M_EIO;
	}
	lwm2m_log(LWM2M_LOG_NOTICE, "DTLS listening on udp %s (%d %s)%s%s%s",
	          listen, shards, shards == 1 ? "context" : "shards",
	          d->pki_ready ? ", device certificates" : "",
	          d->pki_ready && extra[0] != '\0' ? ", also on udp " : "",
	          d->pki_ready ? extra : "");
	return LWM2M_OK;
}

lwm2m_err
gw_dtls_start(struct gw_ctx *gw)
{
	const char *listen = gw->cfg.dtls_listen;
	struct gw_dtls *d;
	lwm2m_err err;

	if (!gw->cfg.dtls_enable) {
		return LWM2M_OK;
	}
	if (!coap_dtls_is_supported()) {
		lwm2m_log(LWM2M_LOG_ERR, "libcoap was built without DTLS");
		return LWM2M_EINVAL;
	}
	d = calloc(1, sizeof *d);
	if (d == NULL) {
		return LWM2M_ENOMEM;
	}
	d->gw = gw;
	d->version = -1;
	d->pki_wanted = gw->cfg.dtls_pki;
	gw->dtls = d;
	err = pki_start(d);
	if (err == LWM2M_OK) {
		err = setup_ctx(gw->coap, d);
	}
	if (err == LWM2M_OK) {
		err = open_endpoints(d, listen);
	}
	if (err == LWM2M_OK) {
		err = start_poll(d);
	}
	if (err == LWM2M_OK) {
		on_poll(-1, 0, d);
	}
	return err;
}

void
gw_dtls_stop(struct gw_ctx *gw)
{
	struct gw_dtls *d = gw->dtls;

	if (d == NULL) {
		return;
	}
	d->shards = gw_shards_free(d->shards);
	gw_walk_forget(d->walk_ctx);
	if (d->poll_timer != NULL) {
		event_free(d->poll_timer);
	}
	psk_table_fini(&d->psk);
	free(d->ca_cert);
	OPENSSL_free(d->ca_der);
	OPENSSL_free(d->cert_der);
	X509_free(d->cert_x);
	EVP_PKEY_free(d->key_x);
	if (d->key_der != NULL) {
		OPENSSL_cleanse(d->key_der, (size_t)d->key_der_len);
		OPENSSL_free(d->key_der);
	}
	if (d->server_pem != NULL) {
		OPENSSL_cleanse(d->server_pem, strlen(d->server_pem));
		free(d->server_pem);
	}
	OPENSSL_cleanse(d->ticket_keys, sizeof d->ticket_keys);
	free(d);
	gw->dtls = NULL;
}
