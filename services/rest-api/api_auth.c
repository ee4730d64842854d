/* api_auth.c - bearer tokens on each request, POST /oauth/token, and the
 * start-up bootstrap of the admin access key and the signing key. */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "lwm2m_id.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_retention.h"

#define FORM_FIELD_MAX 2100

/* ---- per-request token check -------------------------------------------- */

/* auth_fail refuses r's token (why: a static text for the 401's
 * WWW-Authenticate, NULL when no bearer token was presented). */
static void
auth_fail(struct api_req *r, const char *why)
{
	r->authed = false;
	r->org = -1;
	r->auth_error = why;
	if (r->route->auth == API_AUTH_OPTIONAL) {
		r->auth_done(r);
	} else {
		api_reply_status(r, 401);
	}
}

static void
on_key_org(struct api_req *r, redisReply *reply, void *arg)
{
	long long org;

	/* GET / never fails: without storage it shows the anonymous links. */
	if ((reply == NULL || reply->type == REDIS_REPLY_ERROR) &&
	    r->route->auth != API_AUTH_OPTIONAL) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	/* The key was deleted (tokens revoked) or moved: refuse. */
	if (reply == NULL || reply->type != REDIS_REPLY_STRING ||
	    lwm2m_parse_int(reply->str, 0, INT64_MAX, &org) != LWM2M_OK ||
	    org != r->token.org) {
		auth_fail(r, "the access key of this token was deleted");
		return;
	}
	r->authed = true;
	r->org = org;
	r->auth_done(r);
}

/* Why jwt was refused with err (api_jwt_verify_access's result). */
static const char *
token_error(const struct api_req *r, const char *jwt, lwm2m_err err)
{
	struct api_token tok;

	switch (err) {
	case LWM2M_ETIMEDOUT:
		return "the access token has expired; get a new one from "
		       "POST /oauth/token";
	case LWM2M_EDENIED:
		err = api_jwt_verify(r->api->signing_key,
		                     r->api->signing_key_len, jwt, strlen(jwt),
		                     lwm2m_now_ms() / 1000, true, &tok);
		if (err == LWM2M_OK || err == LWM2M_ETIMEDOUT) {
			return "this is a refresh token; send the access_token";
		}
		return "the token's signature does not verify";
	default:
		return "the bearer token is not a valid JWT";
	}
}

void
api_auth_check(struct api_req *r, void (*done)(struct api_req *r))
{
	const char *h = api_req_header(r, "Authorization");
	struct api_ctx *api = r->api;
	lwm2m_err err;

	r->auth_done = done;
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		auth_fail(r, h == NULL ? NULL
		                       : "expected Authorization: Bearer "
		                         "<access_token>");
		return;
	}
	h += 7;
	while (*h == ' ') {
		h++;
	}
	err = api_jwt_verify_access(api->jwt_cache, api->signing_key,
	                            api->signing_key_len, h, strlen(h),
	                            lwm2m_now_ms() / 1000, &r->token);
	if (err != LWM2M_OK) {
		auth_fail(r, token_error(r, h, err));
		return;
	}
	err = api_redis_cmd(r, on_key_org, NULL, "HGET " LWM2M_KEY_ACCESSKEY
	                    " org", r->token.key);
	if (err != LWM2M_OK) {
		on_key_org(r, NULL, NULL);
	}
}

/* ---- POST /oauth/token -------------------------------------------------- */

struct token_req {
	char key[API_KEY_LEN + 1];
	char secret_hash[65];
	struct api_token refresh;
};

static void
reply_tokens(struct api_req *r, long long org, const char *key)
{
	struct api_ctx *api = r->api;
	int64_t now = lwm2m_now_ms() / 1000;
	struct api_token t = {.org = org, .exp = now + API_TOKEN_TTL};
	char *access = NULL, *refresh = NULL, type[128];
	struct api_doc *doc;

	snprintf(t.key, sizeof t.key, "%s", key);
	if (api_jwt_sign(api->signing_key, api->signing_key_len, &t,
	                 &access) != LWM2M_OK) {
		api_reply_error(r, 500, "cannot sign token");
		return;
	}
	t.refresh = true;
	t.exp = now + API_REFRESH_TTL;
	if (api_jwt_sign(api->signing_key, api->signing_key_len, &t,
	                 &refresh) != LWM2M_OK) {
		free(access);
		api_reply_error(r, 500, "cannot sign token");
		return;
	}
	doc = api_req_doc(r, "OAuthToken");
	if (doc != NULL) {
		api_doc_string(doc, "access_token", access);
		api_doc_string(doc, "token_type", "Bearer");
		api_doc_int(doc, "expires_in", API_TOKEN_TTL);
		api_doc_string(doc, "refresh_token", refresh);
	}
	free(access);
	free(refresh);
	/* application/json unless a +json/+xml type was asked for (2.2). */
	if (r->neg.suffixed && !r->neg.star) {
		api_media_type(&r->neg, API_MT_OAUTHTOKEN, type, sizeof type);
	} else {
		snprintf(type, sizeof type, "%s",
		         r->neg.fmt == API_FMT_XML && !r->neg.star
		             ? "application/xml"
		             : "application/json");
	}
	api_reply_doc_type(r, 201, doc, type);
}

static void
on_password_key(struct api_req *r, redisReply *reply, void *arg)
{
	struct token_req *t = r->data;
	long long org;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->len != 64 ||
	    lwm2m_parse_int(reply->element[0]->str, 0, INT64_MAX, &org) !=
	        LWM2M_OK ||
	    CRYPTO_memcmp(reply->element[1]->str, t->secret_hash, 64) != 0) {
		lwm2m_log(LWM2M_LOG_INFO, "req=%llu: login refused",
		          (unsigned long long)r->id);
		api_reply_error(r, 401, "unknown access key or wrong secret");
		return;
	}
	reply_tokens(r, org, t->key);
}

static void
grant_password(struct api_req *r, struct token_req *t)
{
	char secret[FORM_FIELD_MAX];
	const char *form = (const char *)r->body;

	if (api_form_get(form, r->body_len, "username", t->key,
	                 sizeof t->key) != LWM2M_OK ||
	    t->key[0] == '\0' ||
	    api_form_get(form, r->body_len, "password", secret,
	                 sizeof secret) != LWM2M_OK) {
		api_reply_error(r, 401,
		                "grant_type=password needs username "
		                "(the access key) and password (its "
		                "secret)");
		return;
	}
	api_secret_hash(secret, strlen(secret), t->secret_hash);
	OPENSSL_cleanse(secret, sizeof secret);
	if (api_redis_cmd(r, on_password_key, NULL,
	                  "HMGET " LWM2M_KEY_ACCESSKEY " org secret",
	                  t->key) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

static void
on_refresh_key(struct api_req *r, redisReply *reply, void *arg)
{
	struct token_req *t = r->data;
	long long org;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (reply->type != REDIS_REPLY_STRING ||
	    lwm2m_parse_int(reply->str, 0, INT64_MAX, &org) != LWM2M_OK ||
	    org != t->refresh.org) {
		api_reply_error(r, 400, "the access key of this refresh token "
		                        "no longer exists");
		return;
	}
	reply_tokens(r, org, t->refresh.key);
}

static void
grant_refresh(struct api_req *r, struct token_req *t)
{
	char jwt[FORM_FIELD_MAX];
	lwm2m_err err;

	err = api_form_get((const char *)r->body, r->body_len, "refresh_token",
	                   jwt, sizeof jwt);
	if (err != LWM2M_OK) {
		api_reply_error(r, 400, "missing or oversized refresh_token");
		return;
	}
	err = api_jwt_verify(r->api->signing_key, r->api->signing_key_len, jwt,
	                     strlen(jwt), lwm2m_now_ms() / 1000, true,
	                     &t->refresh);
	if (err != LWM2M_OK) {
		api_reply_error(r, 400, "refresh_token is %s",
		                err == LWM2M_ETIMEDOUT ? "expired"
		                : err == LWM2M_EDENIED ? "not a valid refresh token"
		                                       : "malformed");
		return;
	}
	if (api_redis_cmd(r, on_refresh_key, NULL,
	                  "HGET " LWM2M_KEY_ACCESSKEY " org",
	                  t->refresh.key) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

void
api_token_post(struct api_req *r)
{
	const char *ct = api_req_header(r, "Content-Type");
	char grant[32];
	struct token_req *t;

	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded",
	                              33) != 0) {
		api_reply_error(r, 415, "expected application/"
		                        "x-www-form-urlencoded");
		return;
	}
	if (api_form_get((const char *)r->body, r->body_len, "grant_type",
	                 grant, sizeof grant) != LWM2M_OK) {
		api_reply_error(r, 400, "missing or unknown grant_type");
		return;
	}
	t = calloc(1, sizeof *t);
	if (t == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	r->data = t;
	if (strcasecmp(grant, "password") == 0) {
		grant_password(r, t);
	} else if (strcasecmp(grant, "refresh_token") == 0) {
		grant_refresh(r, t);
	} else {
		api_reply_error(r, 400, "unsupported grant_type");
	}
}

/* ---- configuration and start-up bootstrap ------------------------------- */

static redisReply *
sync_cmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	redisReply *reply;

	va_start(ap, fmt);
	reply = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_ERR, "redis: %s", reply->str);
		freeReplyObject(reply);
		return NULL;
	}
	return reply;
}

static lwm2m_err
load_signing_key(struct api_ctx *ctx, redisContext *c)
{
	uint8_t raw[32];
	char text[64];
	redisReply *reply;
	const char *key = ctx->cfg.signing_key;

	if (key == NULL) {
		if (lwm2m_random(raw, sizeof raw) != LWM2M_OK) {
			return LWM2M_EIO;
		}
		lwm2m_b64_encode(raw, sizeof raw, text, true);
		reply = sync_cmd(c, "SET %s %s NX", LWM2M_KEY_SIGNING_KEY, text);
		freeReplyObject(reply);
		reply = sync_cmd(c, "GET %s", LWM2M_KEY_SIGNING_KEY);
		if (reply == NULL || reply->type != REDIS_REPLY_STRING ||
		    reply->len == 0 || reply->len >= sizeof text) {
			freeReplyObject(reply);
			return LWM2M_EBACKEND;
		}
		memcpy(text, reply->str, reply->len + 1);
		freeReplyObject(reply);
		key = text;
	}
	ctx->signing_key_len = strlen(key);
	if (ctx->signing_key_len == 0 ||
	    ctx->signing_key_len > sizeof ctx->signing_key) {
		lwm2m_log(LWM2M_LOG_ERR, "LWDS_SIGNING_KEY: 1..256 bytes");
		return LWM2M_EINVAL;
	}
	memcpy(ctx->signing_key, key, ctx->signing_key_len);
	OPENSSL_cleanse(text, sizeof text);
	return LWM2M_OK;
}

static lwm2m_err
store_key(redisContext *c, const char *key, const char *secret,
          long long org, const char *name)
{
	char hash[65], org_key[64];
	long long now = lwm2m_now_ms();
	redisReply *reply;

	api_secret_hash(secret, strlen(secret), hash);
	snprintf(org_key, sizeof org_key, LWM2M_KEY_ORG_ACCESSKEYS, org);
	reply = sync_cmd(c, "HSET " LWM2M_KEY_ACCESSKEY
	                 " name %s org %lld secret %s created %lld",
	                 key, name, org, hash, now);
	if (reply == NULL) {
		return LWM2M_EBACKEND;
	}
	freeReplyObject(reply);
	reply = sync_cmd(c, "ZADD %s NX %lld %s", org_key, now, key);
	if (reply == NULL) {
		return LWM2M_EBACKEND;
	}
	freeReplyObject(reply);
	return LWM2M_OK;
}

static bool
key_chars_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= API_KEY_LEN &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                 "0123456789-_") == n;
}

/* The configured admin key must not already belong to another org. */
static lwm2m_err
configured_admin(redisContext *c, const char *key, const char *secret)
{
	redisReply *reply;
	bool other;

	if (!key_chars_ok(key) || strlen(secret) == 0 ||
	    strlen(secret) > 1024) {
		lwm2m_log(LWM2M_LOG_ERR, "LWDS_ADMIN_KEY must be 1..86 URL-safe "
		                         "base64 characters, LWDS_ADMIN_SECRET "
		                         "1..1024 bytes");
		return LWM2M_EINVAL;
	}
	reply = sync_cmd(c, "HGET " LWM2M_KEY_ACCESSKEY " org", key);
	if (reply == NULL) {
		return LWM2M_EBACKEND;
	}
	other = reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "0");
	freeReplyObject(reply);
	if (other) {
		lwm2m_log(LWM2M_LOG_ERR, "LWDS_ADMIN_KEY belongs to another "
		                         "organisation");
		return LWM2M_EEXIST;
	}
	return store_key(c, key, secret, 0, "admin");
}

/* Generates and prints the admin key when organisation 0 has none.  Of
 * several instances starting at once, only the one whose SET NX on
 * LWM2M_KEY_ADMIN_LOCK wins stores a key. */
static lwm2m_err
generated_admin(redisContext *c)
{
	uint8_t raw[64];
	char key[API_KEY_LEN + 1], secret[API_KEY_LEN + 1];
	redisReply *reply = sync_cmd(c, "ZCARD " LWM2M_KEY_ORG_ACCESSKEYS, 0LL);
	bool exists = reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	              reply->integer > 0;
	lwm2m_err err;

	if (reply == NULL) {
		return LWM2M_EBACKEND;
	}
	freeReplyObject(reply);
	if (exists) {
		return LWM2M_OK;
	}
	if (lwm2m_random(raw, sizeof raw) != LWM2M_OK) {
		return LWM2M_EIO;
	}
	lwm2m_b64_encode(raw, sizeof raw, key, true);
	reply = sync_cmd(c, "SET %s %s NX EX 60", LWM2M_KEY_ADMIN_LOCK, key);
	if (reply == NULL) {
		return LWM2M_EBACKEND;
	}
	exists = reply->type == REDIS_REPLY_NIL;
	freeReplyObject(reply);
	if (exists) {
		return LWM2M_OK; /* another instance generates it */
	}
	if (lwm2m_random(raw, sizeof raw) != LWM2M_OK) {
		return LWM2M_EIO;
	}
	lwm2m_b64_encode(raw, sizeof raw, secret, true);
	err = store_key(c, key, secret, 0, "admin");
	if (err == LWM2M_OK) {
		/* the only copy of the secret (Redis keeps its hash): one log
		 * line whatever LWDS_LOG_LEVEL says */
		lwm2m__log(LWM2M_LOG_NOTICE,
		           "generated the admin access key (no LWDS_ADMIN_KEY "
		           "given): LWDS_ADMIN_KEY=%s LWDS_ADMIN_SECRET=%s",
		           key, secret);
	}
	OPENSSL_cleanse(secret, sizeof secret);
	return err;
}

lwm2m_err
api_bootstrap(struct api_ctx *ctx)
{
	redisContext *c;
	lwm2m_err err;
	bool has_key = ctx->cfg.admin_key != NULL;

	if (has_key != (ctx->cfg.admin_secret != NULL)) {
		lwm2m_log(LWM2M_LOG_ERR, "set both LWDS_ADMIN_KEY and "
		                         "LWDS_ADMIN_SECRET, or neither");
		return LWM2M_EINVAL;
	}
	err = lwm2m_redis_sync_connect(ctx->cfg.redis_url, &c);
	if (err != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot reach Redis at %s",
		          ctx->cfg.redis_url);
		return err;
	}
	err = load_signing_key(ctx, c);
	if (err == LWM2M_OK) {
		err = has_key ? configured_admin(c, ctx->cfg.admin_key,
		                                 ctx->cfg.admin_secret)
		              : generated_admin(c);
	}
	redisFree(c);
	return err;
}
