/* api_accesskeys.c - /accesskeys (spec 2.5) with the defects fixed: the
 * single-key operations only see keys of the caller's organisation, a Key
 * in the body is ignored (keys are always generated) and only the SHA-256
 * of the secret is stored. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "lwm2m_id.h"
#include "lwm2m_keys.h"
#include "lwm2m_loop.h"

#define NAME_MAX_LEN 256

struct ak_state {
	char key[API_KEY_LEN + 1];
	char secret[API_KEY_LEN + 1];
	char *name;
	long long org;
	int tries;
};

static void
ak_free(void *data)
{
	struct ak_state *s = data;

	if (s == NULL) {
		return;
	}
	OPENSSL_cleanse(s->secret, sizeof s->secret);
	free(s->name);
	free(s);
}

static struct ak_state *
ak_state(struct api_req *r)
{
	struct ak_state *s = calloc(1, sizeof *s);

	if (s == NULL) {
		api_reply_error(r, 503, "out of memory");
		return NULL;
	}
	r->data = s;
	r->data_free = ak_free;
	return s;
}

static void
key_links(struct api_doc *doc, const char *key)
{
	char path[128];

	snprintf(path, sizeof path, "/accesskeys/%s", key);
	api_doc_links_begin(doc);
	api_doc_link(doc, "self", path, NULL);
	api_doc_link(doc, "update", path, NULL);
	api_doc_link(doc, "remove", path, NULL);
	api_doc_end(doc);
}

/* Reads {"Name": "..."} from r's body, answering 400/415 itself. */
static char *
body_name(struct api_req *r)
{
	struct api_body body;
	char diag[160];
	char *name;
	lwm2m_err err = api_body_parse(api_req_header(r, "Content-Type"),
	                               r->body, r->body_len, NULL, &body,
	                               diag, sizeof diag);

	if (err != LWM2M_OK) {
		api_reply_error(r, err == LWM2M_EDENIED ? 415 : 400, "%s", diag);
		return NULL;
	}
	name = api_body_string(&body, "Name");
	api_body_fini(&body);
	if (name == NULL || strlen(name) > NAME_MAX_LEN) {
		free(name);
		api_reply_error(r, 400, "Name must be a string of at most %d "
		                        "bytes", NAME_MAX_LEN);
		return NULL;
	}
	return name;
}

/* ---- GET /accesskeys ---------------------------------------------------- */

static void
render_list(struct api_req *r, struct api_list *l)
{
	struct api_doc *doc = api_req_doc(r, "AccessKeys");

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_page_info(doc, r->path, r->query, &l->page, l->total);
	if (l->n > 0) {
		api_doc_array_begin(doc, "Items", "AccessKey");
		for (size_t i = 0; i < l->n; i++) {
			api_doc_object_begin(doc, NULL);
			api_doc_string(doc, "Name", l->vals[i]);
			api_doc_string(doc, "Key", l->ids[i]);
			key_links(doc, l->ids[i]);
			api_doc_end(doc);
		}
		api_doc_end(doc);
	}
	api_doc_links_begin(doc);
	api_doc_link(doc, "add", "/accesskeys", NULL);
	api_doc_end(doc);
	api_reply_doc(r, 200, doc, API_MT_ACCESSKEYS);
}

void
api_accesskeys_list(struct api_req *r)
{
	char zset[64];

	snprintf(zset, sizeof zset, LWM2M_KEY_ORG_ACCESSKEYS, r->org);
	api_list_fetch(r, zset, LWM2M_KEY_ACCESSKEY, "name", render_list);
}

/* ---- POST /accesskeys --------------------------------------------------- */

static void claim_key(struct api_req *r);

static void
on_stored(struct api_req *r, redisReply *reply, void *arg)
{
	struct ak_state *s = r->data;
	struct api_doc *doc;
	char path[128];

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	doc = api_req_doc(r, "AccessKey");
	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_string(doc, "Name", s->name);
	api_doc_string(doc, "Key", s->key);
	api_doc_string(doc, "Secret", s->secret);
	key_links(doc, s->key);
	snprintf(path, sizeof path, "/accesskeys/%s", s->key);
	api_reply_location(r, path);
	api_reply_doc(r, 201, doc, API_MT_ACCESSKEY);
}

static void
store_rest(struct api_req *r, struct ak_state *s)
{
	char hash[65], zset[64];
	long long now = lwm2m_now_ms();

	api_secret_hash(s->secret, strlen(s->secret), hash);
	snprintf(zset, sizeof zset, LWM2M_KEY_ORG_ACCESSKEYS, s->org);
	if (api_redis_cmd(r, NULL, NULL,
	                  "HSET " LWM2M_KEY_ACCESSKEY
	                  " name %s secret %s created %lld",
	                  s->key, s->name, hash, now) != LWM2M_OK ||
	    api_redis_cmd(r, on_stored, NULL, "ZADD %s %lld %s", zset, now,
	                  s->key) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

static void
on_claimed(struct api_req *r, redisReply *reply, void *arg)
{
	struct ak_state *s = r->data;

	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (reply->integer == 1) {
		store_rest(r, s);
	} else if (++s->tries < 3) {
		claim_key(r);
	} else {
		api_reply_error(r, 500, "cannot allocate a unique key");
	}
}

/* Generates key and secret and claims the key with HSETNX on its org. */
static void
claim_key(struct api_req *r)
{
	struct ak_state *s = r->data;
	uint8_t raw[64];

	if (lwm2m_random(raw, sizeof raw) != LWM2M_OK) {
		api_reply_error(r, 500, "no randomness");
		return;
	}
	lwm2m_b64_encode(raw, sizeof raw, s->key, true);
	if (lwm2m_random(raw, sizeof raw) != LWM2M_OK) {
		api_reply_error(r, 500, "no randomness");
		return;
	}
	lwm2m_b64_encode(raw, sizeof raw, s->secret, true);
	OPENSSL_cleanse(raw, sizeof raw);
	if (api_redis_cmd(r, on_claimed, NULL,
	                  "HSETNX " LWM2M_KEY_ACCESSKEY " org %lld", s->key,
	                  s->org) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

static void
on_new_org(struct api_req *r, redisReply *reply, void *arg)
{
	struct ak_state *s = r->data;

	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	s->org = reply->integer;
	claim_key(r);
}

void
api_accesskeys_create(struct api_req *r)
{
	struct ak_state *s;
	char *name = body_name(r);

	if (name == NULL) {
		return;
	}
	s = ak_state(r);
	if (s == NULL) {
		free(name);
		return;
	}
	s->name = name;
	s->org = r->org;
	if (r->org != 0) {
		claim_key(r);
		return;
	}
	/* The admin creates organisations by creating keys (spec 2.1). */
	if (api_redis_cmd(r, on_new_org, NULL,
	                  "INCR " LWM2M_KEY_ORG_COUNTER) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* ---- /accesskeys/{key} -------------------------------------------------- */

/* Copies the {key} parameter into s->key; false (404 sent) if invalid. */
static bool
param_key(struct api_req *r, struct ak_state *s)
{
	size_t n;

	if (api_req_param(r, "key", s->key, sizeof s->key) == NULL ||
	    (n = strlen(s->key)) == 0 ||
	    strspn(s->key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                   "0123456789-_") != n) {
		api_reply_error(r, 404,
		                "no such access key: an access key is "
		                "URL-safe base64");
		return false;
	}
	return true;
}

/* True when an HMGET reply's first element is r's organisation. */
static bool
owned(struct api_req *r, redisReply *reply)
{
	long long org;

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    reply->element[0]->type != REDIS_REPLY_STRING) {
		return false;
	}
	return lwm2m_parse_int(reply->element[0]->str, 0, INT64_MAX, &org) ==
	           LWM2M_OK &&
	       org == r->org;
}

static void
on_get(struct api_req *r, redisReply *reply, void *arg)
{
	struct ak_state *s = r->data;
	struct api_doc *doc;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (!owned(r, reply)) {
		api_reply_error(r, 404,
		                "no such access key in this organisation");
		return;
	}
	doc = api_req_doc(r, "AccessKey");
	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	if (reply->element[1]->type == REDIS_REPLY_STRING) {
		api_doc_string(doc, "Name", reply->element[1]->str);
	}
	api_doc_string(doc, "Key", s->key);
	key_links(doc, s->key);
	api_reply_doc(r, 200, doc, API_MT_ACCESSKEY);
}

void
api_accesskey_get(struct api_req *r)
{
	struct ak_state *s = ak_state(r);

	if (s == NULL || !param_key(r, s)) {
		return;
	}
	if (api_redis_cmd(r, on_get, NULL,
	                  "HMGET " LWM2M_KEY_ACCESSKEY " org name",
	                  s->key) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

static void
on_done(struct api_req *r, redisReply *reply, void *arg)
{
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	api_reply_status(r, 204);
}

static void
on_put_owner(struct api_req *r, redisReply *reply, void *arg)
{
	struct ak_state *s = r->data;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (!owned(r, reply)) {
		api_reply_error(r, 404,
		                "no such access key in this organisation");
		return;
	}
	if (api_redis_cmd(r, on_done, NULL,
	                  "HSET " LWM2M_KEY_ACCESSKEY " name %s", s->key,
	                  s->name) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

void
api_accesskey_put(struct api_req *r)
{
	struct ak_state *s = ak_state(r);

	if (s == NULL || !param_key(r, s)) {
		return;
	}
	s->name = body_name(r);
	if (s->name == NULL) {
		return;
	}
	if (api_redis_cmd(r, on_put_owner, NULL,
	                  "HMGET " LWM2M_KEY_ACCESSKEY " org", s->key) !=
	    LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

static void
on_delete_owner(struct api_req *r, redisReply *reply, void *arg)
{
	struct ak_state *s = r->data;
	char zset[64];

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (!owned(r, reply)) {
		api_reply_error(r, 404,
		                "no such access key in this organisation");
		return;
	}
	/* Tokens carry the key: once it is gone they stop working. */
	snprintf(zset, sizeof zset, LWM2M_KEY_ORG_ACCESSKEYS, r->org);
	if (api_redis_cmd(r, NULL, NULL, "DEL " LWM2M_KEY_ACCESSKEY,
	                  s->key) != LWM2M_OK ||
	    api_redis_cmd(r, on_done, NULL, "ZREM %s %s", zset, s->key) !=
	        LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

void
api_accesskey_delete(struct api_req *r)
{
	struct ak_state *s = ak_state(r);

	if (s == NULL || !param_key(r, s)) {
		return;
	}
	if (api_redis_cmd(r, on_delete_owner, NULL,
	                  "HMGET " LWM2M_KEY_ACCESSKEY " org", s->key) !=
	    LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}
