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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_redis.h"

#define PSK_KEY_MAX 64    /* bytes of a pre-shared key */
#define PSK_ID_MAX 128    /* bytes of an identity */
#define PSK_POLL_MS 250
#define PSK_BUCKETS_MIN 64

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

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
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
		int hi = hex_digit(hex[2 * n]), lo = hex_digit(hex[2 * n + 1]);
		if (hi < 0 || lo < 0 || n == PSK_KEY_MAX) {
			return false;
		}
		e->key[n++] = (uint8_t)(hi << 4 | lo);
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
on_psk_identity(coap_bin_const_t *identity, coap_session_t *session,
                void *arg)
{
	struct gw_dtls *d = arg;
	const struct psk_entry *e;
	char q[PSK_ID_MAX + 8];

	e = psk_find(&d->psk, (const char *)identity->s, identity->length);
	if (e == NULL) {
		lwm2m_log(LWM2M_LOG_INFO,
		          "DTLS handshake with unknown PSK identity \"%s\" "
		          "refused",
		          lwm2m_log_quote(q, sizeof q, (const char *)identity->s,
		                          identity->length));
		return NULL;
	}
	d->key_out.s = e->key;
	d->key_out.length = e->key_len;
	return &d->key_out;
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

static bool
psk_credential(struct gw_dtls *d, coap_session_t *session,
               struct gw_cred *cred)
{
	const coap_bin_const_t *id = coap_session_get_psk_identity(session);
	const struct psk_entry *e;

	if (id == NULL) {
		return false;
	}
	e = psk_find(&d->psk, (const char *)id->s, id->length);
	if (e == NULL || !lwm2m_id_valid((const char *)id->s, id->length)) {
		return false;
	}
	memcpy(cred->id, id->s, LWM2M_ID_LEN);
	cred->id[LWM2M_ID_LEN] = '\0';
	cred->org = e->org;
	snprintf(cred->ep, sizeof cred->ep, "%s",
	         e->ep[0] != '\0' ? e->ep : cred->id);
	return true;
}

bool
gw_dtls_bind(struct gw_ctx *gw, coap_session_t *session,
             struct gw_request *req, coap_pdu_t *response)
{
	struct gw_cred *cred = &req->cred;

	memset(cred, 0, sizeof *cred);
	if (coap_session_get_proto(session) != COAP_PROTO_DTLS) {
		return true;
	}
	if (gw->dtls == NULL || !psk_credential(gw->dtls, session, cred)) {
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

static lwm2m_err
setup_psk(struct gw_dtls *d)
{
	coap_dtls_spsk_t setup;

	memset(&setup, 0, sizeof setup);
	setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
	setup.validate_id_call_back = on_psk_identity;
	setup.id_call_back_arg = d;
	/* no hint: the identity alone selects the key */
	if (!coap_context_set_psk2(d->gw->coap, &setup)) {
		lwm2m_log(LWM2M_LOG_ERR, "libcoap refused the PSK set-up");
		return LWM2M_EIO;
	}
	return LWM2M_OK;
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

static lwm2m_err
start_poll(struct gw_dtls *d)
{
	long long ms = PSK_POLL_MS;
	struct timeval tv;

	if (lwm2m_parse_int(lwm2m_getenv("LWDS_DTLS_PSK_POLL_MS", "250"), 10,
	                    60000, &ms) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "bad LWDS_DTLS_PSK_POLL_MS");
		return LWM2M_EINVAL;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	d->poll_timer = event_new(d->gw->base, -1, EV_PERSIST, on_poll, d);
	if (d->poll_timer == NULL || event_add(d->poll_timer, &tv) != 0) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

lwm2m_err
gw_dtls_start(struct gw_ctx *gw)
{
	const char *enable = lwm2m_getenv("LWDS_DTLS_ENABLE", "1");
	const char *listen = lwm2m_getenv("LWDS_DTLS_LISTEN", "0.0.0.0:5684");
	struct gw_dtls *d;
	lwm2m_err err;

	if (strcmp(enable, "0") == 0 || strcmp(enable, "false") == 0) {
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
	gw->dtls = d;
	err = setup_psk(d);
	if (err == LWM2M_OK) {
		err = open_endpoint(gw, listen);
	}
	if (err == LWM2M_OK) {
		err = start_poll(d);
	}
	if (err == LWM2M_OK) {
		on_poll(-1, 0, d);
		lwm2m_log(LWM2M_LOG_NOTICE, "DTLS listening on udp %s",
		          listen);
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
	if (d->poll_timer != NULL) {
		event_free(d->poll_timer);
	}
	psk_table_fini(&d->psk);
	free(d);
	gw->dtls = NULL;
}
