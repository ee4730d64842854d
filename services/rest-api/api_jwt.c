/* api_jwt.c - HS256 JSON Web Tokens (spec 2.3, with defects 7 and 8 fixed):
 * every token carries OrgID (0 for the admin), exp, a type claim TT
 * ("access" or "refresh"; refresh tokens also carry RT "1" as the original
 * did) and AK, the access key it was issued to. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <yajl/yajl_gen.h>

#include "lwm2m_id.h"

/* The string of a yajl value already checked to be a string. */
#define STR(v) ((v)->u.string)

#define JWT_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define JWT_MAX_LEN 2048
#define JWT_MAX_CLAIMS 1024

static lwm2m_err
hmac(const uint8_t *key, size_t key_len, const char *data, size_t len,
     uint8_t out[32])
{
	unsigned int out_len = 0;

	if (HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data,
	         len, out, &out_len) == NULL ||
	    out_len != 32) {
		return LWM2M_EIO;
	}
	return LWM2M_OK;
}

/* Serialises the claims of tok with yajl (keys and strings escaped). */
static lwm2m_err
claims_json(const struct api_token *tok, char *buf, size_t size,
            size_t *ret_len)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *out;
	size_t len;
	char num[24];
	lwm2m_err err = LWM2M_ENOMEM;

	if (g == NULL) {
		return LWM2M_ENOMEM;
	}
	yajl_gen_map_open(g);
	yajl_gen_string(g, (const unsigned char *)"OrgID", 5);
	snprintf(num, sizeof num, "%lld", tok->org);
	yajl_gen_number(g, num, strlen(num));
	yajl_gen_string(g, (const unsigned char *)"TT", 2);
	yajl_gen_string(g, (const unsigned char *)(tok->refresh ? "refresh"
	                                                        : "access"),
	                tok->refresh ? 7 : 6);
	if (tok->refresh) {
		yajl_gen_string(g, (const unsigned char *)"RT", 2);
		yajl_gen_string(g, (const unsigned char *)"1", 1);
	}
	yajl_gen_string(g, (const unsigned char *)"AK", 2);
	yajl_gen_string(g, (const unsigned char *)tok->key, strlen(tok->key));
	yajl_gen_string(g, (const unsigned char *)"exp", 3);
	snprintf(num, sizeof num, "%lld", (long long)tok->exp);
	yajl_gen_number(g, num, strlen(num));
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &out, &len) == yajl_gen_status_ok &&
	    len < size) {
		memcpy(buf, out, len);
		*ret_len = len;
		err = LWM2M_OK;
	}
	yajl_gen_free(g);
	return err;
}

lwm2m_err
api_jwt_sign(const uint8_t *key, size_t key_len, const struct api_token *tok,
             char **ret_jwt)
{
	char claims[JWT_MAX_CLAIMS];
	size_t claims_len, off;
	uint8_t mac[32];
	char *jwt;
	lwm2m_err err = claims_json(tok, claims, sizeof claims, &claims_len);

	if (err != LWM2M_OK) {
		return err;
	}
	jwt = malloc(JWT_MAX_LEN);
	if (jwt == NULL) {
		return LWM2M_ENOMEM;
	}
	off = lwm2m_b64_encode((const uint8_t *)JWT_HEADER,
	                       strlen(JWT_HEADER), jwt, true);
	jwt[off++] = '.';
	off += lwm2m_b64_encode((const uint8_t *)claims, claims_len,
	                        jwt + off, true);
	err = hmac(key, key_len, jwt, off, mac);
	if (err != LWM2M_OK) {
		free(jwt);
		return err;
	}
	jwt[off++] = '.';
	lwm2m_b64_encode(mac, sizeof mac, jwt + off, true);
	*ret_jwt = jwt;
	return LWM2M_OK;
}

static bool
b64url_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			return false;
		}
	}
	return true;
}

/* Reads an integer claim written as a JSON number or a decimal string. */
static bool
claim_int(yajl_val v, long long *ret)
{
	char *end;
	long long n;

	if (YAJL_IS_INTEGER(v)) {
		*ret = YAJL_GET_INTEGER(v);
		return true;
	}
	if (!YAJL_IS_STRING(v) || *STR(v) == '\0') {
		return false;
	}
	n = strtoll(STR(v), &end, 10);
	if (*end != '\0') {
		return false;
	}
	*ret = n;
	return true;
}

static lwm2m_err
parse_claims(const uint8_t *json, size_t len, struct api_token *tok)
{
	char text[JWT_MAX_CLAIMS + 1];
	const char *org_p[] = {"OrgID", NULL}, *tt_p[] = {"TT", NULL};
	const char *ak_p[] = {"AK", NULL}, *exp_p[] = {"exp", NULL};
	yajl_val root, org, tt, ak, exp;
	lwm2m_err err = LWM2M_EPROTO;

	memcpy(text, json, len);
	text[len] = '\0';
	root = yajl_tree_parse(text, NULL, 0);
	if (root == NULL) {
		return LWM2M_EPROTO;
	}
	org = yajl_tree_get(root, org_p, yajl_t_any);
	tt = yajl_tree_get(root, tt_p, yajl_t_string);
	ak = yajl_tree_get(root, ak_p, yajl_t_string);
	exp = yajl_tree_get(root, exp_p, yajl_t_number);
	if (org != NULL && tt != NULL && ak != NULL && exp != NULL &&
	    YAJL_IS_INTEGER(exp) && claim_int(org, &tok->org) &&
	    tok->org >= 0 && strlen(STR(ak)) <= API_KEY_LEN) {
		tok->exp = YAJL_GET_INTEGER(exp);
		tok->refresh = strcmp(STR(tt), "refresh") == 0;
		strcpy(tok->key, STR(ak));
		err = strcmp(STR(tt), "access") == 0 ||
		              tok->refresh
		          ? LWM2M_OK
		          : LWM2M_EPROTO;
	}
	yajl_tree_free(root);
	return err;
}

/* Checks the header part is exactly {"alg":"HS256",...} semantically. */
static bool
header_ok(const char *b64, size_t len)
{
	uint8_t raw[256];
	char text[257];
	const char *alg_p[] = {"alg", NULL};
	yajl_val root, alg;
	size_t n;
	bool ok;

	if (lwm2m_b64_decode(b64, len, raw, sizeof raw, &n) != LWM2M_OK) {
		return false;
	}
	memcpy(text, raw, n);
	text[n] = '\0';
	root = yajl_tree_parse(text, NULL, 0);
	alg = root ? yajl_tree_get(root, alg_p, yajl_t_string) : NULL;
	ok = alg != NULL && strcmp(STR(alg), "HS256") == 0;
	yajl_tree_free(root);
	return ok;
}

lwm2m_err
api_jwt_verify(const uint8_t *key, size_t key_len, const char *jwt,
               size_t len, int64_t now, bool want_refresh,
               struct api_token *ret_tok)
{
	const char *dot1, *dot2;
	uint8_t mac[32], sig[40], claims[JWT_MAX_CLAIMS];
	size_t sig_len, claims_len;
	struct api_token tok = {0};
	lwm2m_err err;

	if (jwt == NULL || len == 0 || len > JWT_MAX_LEN ||
	    memchr(jwt, '\0', len) != NULL) {
		return LWM2M_EPROTO;
	}
	dot1 = memchr(jwt, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jwt))
	            : NULL;
	if (dot2 == NULL || !b64url_chars(jwt, (size_t)(dot1 - jwt)) ||
	    !b64url_chars(dot1 + 1, (size_t)(dot2 - dot1 - 1)) ||
	    !b64url_chars(dot2 + 1, len - (size_t)(dot2 + 1 - jwt)) ||
	    !header_ok(jwt, (size_t)(dot1 - jwt))) {
		return LWM2M_EPROTO;
	}
	if (lwm2m_b64_decode(dot2 + 1, len - (size_t)(dot2 + 1 - jwt), sig,
	                     sizeof sig, &sig_len) != LWM2M_OK ||
	    lwm2m_b64_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), claims,
	                     sizeof claims - 1, &claims_len) != LWM2M_OK) {
		return LWM2M_EPROTO;
	}
	err = hmac(key, key_len, jwt, (size_t)(dot2 - jwt), mac);
	if (err != LWM2M_OK) {
		return err;
	}
	if (sig_len != sizeof mac || CRYPTO_memcmp(mac, sig, sizeof mac) != 0) {
		return LWM2M_EDENIED;
	}
	err = parse_claims(claims, claims_len, &tok);
	if (err != LWM2M_OK) {
		return err;
	}
	if (tok.refresh != want_refresh) {
		return LWM2M_EDENIED;
	}
	if (tok.exp <= now) {
		return LWM2M_ETIMEDOUT;
	}
	*ret_tok = tok;
	return LWM2M_OK;
}

/* ---- verified access tokens ---------------------------------------------
 * A direct-mapped table: the slot is a seeded FNV-1a hash of the token's
 * bytes (the seed is random per cache, so a peer cannot aim tokens at one
 * slot), a hit needs the same length and the same bytes (compared in
 * constant time).  A colliding token replaces the slot's. */

struct jwt_slot {
	char *jwt; /* NULL when empty */
	size_t len;
	struct api_token tok;
};

struct api_jwt_cache {
	struct jwt_slot *slots;
	size_t n;
	uint64_t seed;
	uint64_t hits, misses;
};

lwm2m_err
api_jwt_cache_new(size_t slots, struct api_jwt_cache **ret_cache)
{
	struct api_jwt_cache *c;

	if (slots == 0 || slots > API_JWT_CACHE_MAX) {
		return LWM2M_EINVAL;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		return LWM2M_ENOMEM;
	}
	c->slots = calloc(slots, sizeof *c->slots);
	if (c->slots == NULL ||
	    lwm2m_random((uint8_t *)&c->seed, sizeof c->seed) != LWM2M_OK) {
		free(c->slots);
		free(c);
		return LWM2M_ENOMEM;
	}
	c->n = slots;
	*ret_cache = c;
	return LWM2M_OK;
}

static void
slot_clear(struct jwt_slot *s)
{
	free(s->jwt);
	s->jwt = NULL;
	s->len = 0;
}

struct api_jwt_cache *
api_jwt_cache_free(struct api_jwt_cache *c)
{
	if (c == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < c->n; i++) {
		slot_clear(&c->slots[i]);
	}
	free(c->slots);
	free(c);
	return NULL;
}

static struct jwt_slot *
slot_of(const struct api_jwt_cache *c, const char *jwt, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ c->seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)jwt[i];
		h *= 0x100000001b3ULL;
	}
	return &c->slots[(h ^ (h >> 32)) % c->n];
}

static void
slot_store(struct jwt_slot *s, const char *jwt, size_t len,
           const struct api_token *tok)
{
	char *copy = malloc(len);

	if (copy == NULL) {
		return; /* not cached: the next request verifies again */
	}
	memcpy(copy, jwt, len);
	slot_clear(s);
	s->jwt = copy;
	s->len = len;
	s->tok = *tok;
}

lwm2m_err
api_jwt_verify_access(struct api_jwt_cache *c, const uint8_t *key,
                      size_t key_len, const char *jwt, size_t len, int64_t now,
                      struct api_token *ret_tok)
{
	struct jwt_slot *s;
	struct api_token tok;
	lwm2m_err err;

	if (c == NULL || len == 0 || len > JWT_MAX_LEN) {
		return api_jwt_verify(key, key_len, jwt, len, now, false,
		                      ret_tok);
	}
	s = slot_of(c, jwt, len);
	if (s->jwt != NULL && s->len == len &&
	    CRYPTO_memcmp(s->jwt, jwt, len) == 0) {
		if (s->tok.exp <= now) {
			slot_clear(s);
			return LWM2M_ETIMEDOUT;
		}
		c->hits++;
		*ret_tok = s->tok;
		return LWM2M_OK;
	}
	c->misses++;
	err = api_jwt_verify(key, key_len, jwt, len, now, false, &tok);
	if (err == LWM2M_OK) {
		slot_store(s, jwt, len, &tok);
		*ret_tok = tok;
	}
	return err;
}

void
api_jwt_cache_stats(const struct api_jwt_cache *c, uint64_t *ret_hits,
                    uint64_t *ret_misses)
{
	*ret_hits = c != NULL ? c->hits : 0;
	*ret_misses = c != NULL ? c->misses : 0;
}

void
api_secret_hash(const char *secret, size_t len, char out[65])
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)secret, len, md);
	lwm2m_hex_encode(md, sizeof md, out);
}
