/* api_subscriptions.c - subscriptions (spec 6.1-6.4): create at the
 * organisation, client and object-instance levels, list, read, update,
 * delete, and the dead letters of a subscription.  Records and indexes are
 * those of lwm2m_keys.h (LWM2M_KEY_SUB*, docs/redis-schema.md); the broker
 * reads them.  Another organisation's subscription is 404 (defect 6). */
#define _GNU_SOURCE /* strcasestr */
#include "api_sub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_objdef_store.h"
#include "lwm2m_sub.h"

#define MT_SUBSCRIPTION "application/vnd.imgtec.subscription"
#define MT_RESOURCECREATED "application/vnd.imgtec.resourcecreated"
#define MT_DEADLETTERS "application/vnd.imgtec.deadletters"
#define SECRET_BYTES 32
#define DEADLETTER_SCAN 10000 /* newest dead letters searched per request */

/* Writes go in single-slot steps (Redis Cluster; docs/redis-schema.md):
 * the record (sub:{s}), the organisation's indexes and duplicate claim
 * (org:{o}:...), the client's indexes (client:{c}:...), the event.  A
 * create writes the record first and answers 201 once the client's indexes
 * are written; a delete removes the indexes first and the record last.  A
 * crash (or a caller gone) between steps leaves either a record no index
 * names (never returned to anyone, invisible), or a subscription whose
 * retry completes it: a create retried meets its own duplicate claim, gets
 * 409 naming it, and the claim's client indexes are written again; a
 * delete retried finds the record and runs again.  A duplicate claim is
 * honoured only while the record it names exists with that fingerprint;
 * otherwise (left by an interrupted update or delete) it is reclaimed. */

/* KEYS org zset, dedup hash, then the organisation's index sets; ARGV fp,
 * id, created, limit, the id of a claim found stale ("" none).  Returns 1,
 * the id holding the claim, or -1 at the limit. */
static const char claim_lua[] =
    "local d = redis.call('HGET', KEYS[2], ARGV[1]) "
    "if d and d ~= ARGV[2] and d ~= ARGV[5] then return d end "
    "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) and "
    "not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return -1 end "
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) "
    "redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2]) "
    "for i = 3, #KEYS do redis.call('SADD', KEYS[i], ARGV[2]) end "
    "return 1";

/* KEYS dedup hash; ARGV new fp, id, stale claim id.  Returns 1 or the id
 * holding the claim. */
static const char fp_claim_lua[] =
    "local d = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if d and d ~= ARGV[2] and d ~= ARGV[3] then return d end "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1";

/* KEYS dedup hash; ARGV fp, id: drops the claim if it is still id's. */
static const char fp_release_lua[] =
    "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then "
    "redis.call('HDEL', KEYS[1], ARGV[1]) end return 1";

/* KEYS sub; ARGV old fp, then field/value pairs ("" values skipped).
 * Returns 1, or 0 when the record changed meanwhile (or is gone). */
static const char rec_update_lua[] =
    "if redis.call('HGET', KEYS[1], 'fp') ~= ARGV[1] then return 0 end "
    "for i = 2, #ARGV, 2 do if ARGV[i + 1] ~= '' then "
    "redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end end "
    "return 1";

struct sub_state {
	struct api_sub_body in;
	struct api_sub_rec rec;
	char fp_old[LWM2M_DELIVERY_URL_MAX + 256];
	char fp_new[LWM2M_DELIVERY_URL_MAX + 256];
	char stale[LWM2M_ID_SIZE]; /* a duplicate claim found stale */
	char dup[LWM2M_ID_SIZE];   /* the id holding the claim */
	int claims;                /* stale claims taken over */
	bool failed;               /* a pipelined write failed */
	char secret[LWM2M_DELIVERY_SECRET_MAX + 1];
	bool def_from_url;
	/* lists */
	struct api_sub_rec *recs;
	char **ids;
	size_t n, done;
};

static void
state_free(void *data)
{
	struct sub_state *s = data;

	if (s == NULL) {
		return;
	}
	api_sub_body_fini(&s->in);
	for (size_t i = 0; s->ids != NULL && i < s->n; i++) {
		free(s->ids[i]);
	}
	free(s->ids);
	free(s->recs);
	free(s);
}

/* Reads the ids of the route ({clientID}, {definitionID}, {instanceID},
 * {subscriptionID} as present) into a new state; answers 400 itself. */
static struct sub_state *
state_new(struct api_req *r)
{
	struct sub_state *s = calloc(1, sizeof *s);
	char buf[32];
	long long inst;

	if (s == NULL) {
		api_reply_error(r, 503, "out of memory");
		return NULL;
	}
	r->data = s;
	r->data_free = state_free;
	s->in.inst = -1;
	if (api_req_param(r, "clientID", buf, sizeof buf) != NULL) {
		if (!lwm2m_id_valid(buf, strlen(buf))) {
			api_reply_error(r, 400, "invalid client id");
			return NULL;
		}
		memcpy(s->rec.client, buf, LWM2M_ID_SIZE);
	}
	if (api_req_param(r, "definitionID", buf, sizeof buf) != NULL) {
		if (!lwm2m_id_valid(buf, strlen(buf))) {
			api_reply_error(r, 400, "invalid definition id");
			return NULL;
		}
		memcpy(s->rec.def, buf, LWM2M_ID_SIZE);
		s->def_from_url = true;
	}
	if (api_req_param(r, "instanceID", buf, sizeof buf) != NULL) {
		if (lwm2m_parse_int(buf, 0, 65534, &inst) != LWM2M_OK) {
			api_reply_error(r, 400, "invalid instance id");
			return NULL;
		}
		snprintf(s->rec.inst, sizeof s->rec.inst, "%lld", inst);
	}
	return s;
}

/* The {subscriptionID} of r in s->rec.id; answers 400 itself (spec
 * 6.4: undecodable id). */
static bool
state_sub_id(struct api_req *r, struct sub_state *s)
{
	if (api_req_param(r, "subscriptionID", s->rec.id, sizeof s->rec.id) ==
	        NULL ||
	    !lwm2m_id_valid(s->rec.id, strlen(s->rec.id))) {
		api_reply_error(r, 400,
		                "invalid subscription id: 22 characters "
		                "of URL-safe base64 expected");
		return false;
	}
	return true;
}

static bool
storage_ok(struct api_req *r, const redisReply *reply)
{
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return false;
	}
	return true;
}

/* ---- representation ----------------------------------------------------- */

static bool
has_attrs(const struct api_sub_rec *rec)
{
	for (int a = 0; a < API_SUB_N_ATTRS; a++) {
		if (rec->attrs[a][0] != '\0') {
			return true;
		}
	}
	return false;
}

static void
sub_item(struct api_doc *doc, const struct api_sub_rec *rec)
{
	char path[64], dead[96];

	api_doc_string(doc, "SubscriptionType", rec->type);
	if (rec->prop[0] != '\0') {
		api_doc_string(doc, "Property",
		               rec->propname[0] != '\0' ? rec->propname
		                                        : rec->prop);
	}
	api_doc_string(doc, "Url", rec->url);
	api_doc_string(doc, "AcceptContentType",
	               rec->accept[0] ? rec->accept : "application/json");
	if (has_attrs(rec)) {
		api_doc_object_begin(doc, "Attributes");
		for (int a = 0; a < API_SUB_N_ATTRS; a++) {
			api_doc_number(doc, api_sub_attr_name(a),
			               rec->attrs[a][0] ? rec->attrs[a] : NULL);
		}
		api_doc_end(doc);
	}
	snprintf(path, sizeof path, "/subscriptions/%s", rec->id);
	snprintf(dead, sizeof dead, "%s/deadletters", path);
	api_doc_links_begin(doc);
	api_doc_link(doc, "self", path, NULL);
	api_doc_link(doc, "update", path, NULL);
	api_doc_link(doc, "remove", path, NULL);
	api_doc_link(doc, "deadletters", dead, MT_DEADLETTERS);
	api_doc_end(doc);
}

/* ---- observation collation hand-off (spec 7) ---------------------------- */

/* After an Observation subscription was added or removed: keeps the path in
 * LWM2M_KEY_CLIENT_OBS_PATHS while it has subscriptions (this script, the
 * client's slot: KEYS paths set, obsubs set; ARGV path), then tells the
 * broker (an event on LWM2M_KEY_EVENTS) to reconcile the device's
 * observation of that path. */
static const char obs_sync_lua[] =
    "if redis.call('SCARD', KEYS[2]) > 0 then "
    "redis.call('SADD', KEYS[1], ARGV[1]) else "
    "redis.call('SREM', KEYS[1], ARGV[1]) end return 1";

/* rec as the lwm2m_sub.h reference that names its index sets (fp as
 * given; "" when the caller needs none) */
static struct lwm2m_sub_ref
sub_ref(const struct api_sub_rec *rec, const char *fp)
{
	return (struct lwm2m_sub_ref){.id = rec->id,
	                              .org = rec->org,
	                              .type = rec->type,
	                              .client = rec->client,
	                              .obj = rec->obj,
	                              .inst = rec->inst,
	                              .prop = rec->prop,
	                              .fp = fp};
}

/* The LwM2M path an Observation subscription observes ("/3303/0/5700"),
 * or false when it targets no client and object (stored, never acts). */
static bool
obs_path(const struct api_sub_rec *rec, char *buf, size_t size)
{
	struct lwm2m_sub_ref ref = sub_ref(rec, "");

	return lwm2m_sub_obs_path(&ref, buf, size);
}

static void
on_obs_synced(struct api_req *r, redisReply *reply, void *arg)
{
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "req=%llu: observation hand-off "
		          "failed; the next registration re-establishes it",
		          (unsigned long long)r->id);
	}
}

static void
obs_sync(struct api_req *r, const struct api_sub_rec *rec)
{
	char path[32], paths[160], subs[200], org[24];
	const char *sync[] = {"EVAL", obs_sync_lua, "2", paths, subs, path};
	const char *xadd[] = {
	    "XADD", LWM2M_KEY_EVENTS, "*",   "type", "subscription",
	    "id",   rec->client,      "org", org,    "path",
	    path};

	if (!obs_path(rec, path, sizeof path)) {
		return;
	}
	snprintf(paths, sizeof paths, LWM2M_KEY_CLIENT_OBS_PATHS, rec->client);
	snprintf(subs, sizeof subs, LWM2M_KEY_CLIENT_OBS_SUBS, rec->client,
	         path);
	snprintf(org, sizeof org, "%lld", rec->org);
	if (api_redis_cmdargv(r, on_obs_synced, NULL, 6, sync, NULL) !=
	        LWM2M_OK ||
	    api_redis_cmdargv(r, on_obs_synced, NULL, 11, xadd, NULL) !=
	        LWM2M_OK) {
		on_obs_synced(r, NULL, NULL);
	}
}

/* ---- POST <level>/subscriptions ----------------------------------------- */

/* Field/value pairs of rec (+ secret, fp) into argv from position at. */
static int
rec_fields(const struct api_sub_rec *rec, const char **argv, int at,
           char num[2][24], const char *secret, const char *fp)
{
	snprintf(num[0], 24, "%lld", rec->org);
	snprintf(num[1], 24, "%lld", rec->created);
	const char *pairs[][2] = {
	    {LWM2M_SF_ORG, num[0]},
	    {LWM2M_SF_TYPE, rec->type},
	    {LWM2M_SF_CLIENT, rec->client},
	    {LWM2M_SF_DEFINITION, rec->def},
	    {LWM2M_SF_OBJECT, rec->obj},
	    {LWM2M_SF_INSTANCE, rec->inst},
	    {LWM2M_SF_PROPERTY, rec->prop},
	    {LWM2M_SF_PROPERTY_NAME, rec->propname},
	    {LWM2M_SF_URL, rec->url},
	    {LWM2M_SF_ACCEPT, rec->accept},
	    {LWM2M_SF_SECRET, secret},
	    {LWM2M_SF_CREATED, num[1]},
	    {LWM2M_SF_FINGERPRINT, fp},
	};

	for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
		argv[at++] = pairs[i][0];
		argv[at++] = pairs[i][1];
	}
	for (int a = 0; a < API_SUB_N_ATTRS; a++) {
		argv[at++] = api_sub_attr_field(a);
		argv[at++] = rec->attrs[a];
	}
	return at;
}

/* HSET of the record's fields that have a value (id, fingerprint and
 * secret from s) */
static lwm2m_err
send_record(struct api_req *r, struct sub_state *s,
            void (*cb)(struct api_req *, redisReply *, void *))
{
	const char *pairs[64], *argv[66];
	char key[160], num[2][24];
	int n = rec_fields(&s->rec, pairs, 0, num, s->secret, s->fp_new);
	int argc = 0;

	snprintf(key, sizeof key, LWM2M_KEY_SUB, s->rec.id);
	argv[argc++] = "HSET";
	argv[argc++] = key;
	for (int i = 0; i < n; i += 2) {
		if (pairs[i + 1][0] != '\0') {
			argv[argc++] = pairs[i];
			argv[argc++] = pairs[i + 1];
		}
	}
	return api_redis_cmdargv(r, cb, NULL, argc, argv, NULL);
}

static void
on_record_written(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;

	s->failed =
	    s->failed || reply == NULL || reply->type == REDIS_REPLY_ERROR;
}

/* adds id to the client's index sets of rec; the reply of the last
 * command goes to cb (at once with NULL arg when rec has none: an
 * organisation-level subscription) */
static lwm2m_err
client_index(struct api_req *r, const struct api_sub_rec *rec, const char *id,
             void (*cb)(struct api_req *, redisReply *, void *))
{
	char keys[LWM2M_SUB_INDEX_MAX][LWM2M_SUB_KEY_MAX];
	struct lwm2m_sub_ref ref = sub_ref(rec, "");
	size_t n = lwm2m_sub_client_keys(&ref, keys);
	lwm2m_err err = LWM2M_OK;

	for (size_t i = 0; i < n && err == LWM2M_OK; i++) {
		err = api_redis_cmd(r, i + 1 == n ? cb : NULL, NULL,
		                    "SADD %s %s", keys[i], id);
	}
	if (n == 0 && cb != NULL) {
		cb(r, NULL, (void *)1);
	}
	return err;
}

static void
on_created(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;
	struct api_doc *doc;
	char path[64];

	if (arg == NULL && !storage_ok(r, reply)) {
		return;
	}
	doc = api_req_doc(r, "ResourceCreated");
	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	snprintf(path, sizeof path, "/subscriptions/%s", s->rec.id);
	api_doc_string(doc, "ID", s->rec.id);
	api_doc_string(doc, "Secret", s->secret);
	api_doc_links_begin(doc);
	api_doc_link(doc, "self", path, MT_SUBSCRIPTION);
	api_doc_end(doc);
	lwm2m_log(LWM2M_LOG_INFO, "req=%llu: sub=%s %s created",
	          (unsigned long long)r->id, s->rec.id, s->rec.type);
	obs_sync(r, &s->rec);
	api_reply_location(r, path);
	api_reply_doc(r, 201, doc, MT_RESOURCECREATED);
}

static void on_claimed(struct api_req *r, redisReply *reply, void *arg);
static lwm2m_err send_fp_claim(struct api_req *r, struct sub_state *s);

/* the organisation's step: duplicate claim, limit, org indexes */
static lwm2m_err
send_claim(struct api_req *r, struct sub_state *s)
{
	char keys[LWM2M_SUB_INDEX_MAX][LWM2M_SUB_KEY_MAX];
	char nkeys[8], created[24], limit[16];
	const char *argv[16];
	struct lwm2m_sub_ref ref = sub_ref(&s->rec, "");
	size_t n = lwm2m_sub_org_keys(&ref, keys);
	int argc = 0;

	snprintf(nkeys, sizeof nkeys, "%zu", n);
	snprintf(created, sizeof created, "%lld", s->rec.created);
	snprintf(limit, sizeof limit, "%d", API_SUB_ORG_MAX);
	argv[argc++] = "EVAL";
	argv[argc++] = claim_lua;
	argv[argc++] = nkeys;
	for (size_t i = 0; i < n; i++) {
		argv[argc++] = keys[i];
	}
	argv[argc++] = s->fp_new;
	argv[argc++] = s->rec.id;
	argv[argc++] = created;
	argv[argc++] = limit;
	argv[argc++] = s->stale;
	return api_redis_cmdargv(r, on_claimed, NULL, argc, argv, NULL);
}

/* the fingerprint of the record holding a claim: a live duplicate, or a
 * stale claim to take over (then cont(r, s) claims again) */
static void
on_dup_fp(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;
	lwm2m_err (*cont)(struct api_req *, struct sub_state *) = arg;

	if (!storage_ok(r, reply)) {
		return;
	}
	if (reply->type == REDIS_REPLY_STRING &&
	    strcmp(reply->str, s->fp_new) == 0) {
		if (cont == send_claim) {
			/* our record is not needed; the duplicate's client
			 * indexes are written again, completing a create
			 * that was interrupted after its claim */
			api_redis_cmd(r, NULL, NULL, "DEL " LWM2M_KEY_SUB,
			              s->rec.id);
			client_index(r, &s->rec, s->dup, NULL);
			obs_sync(r, &s->rec);
		}
		api_reply_error(r, 409,
		                "a subscription with the same type, target "
		                "and Url exists: %.22s",
		                s->dup);
		return;
	}
	if (++s->claims > 3 || strcmp(s->stale, s->dup) == 0) {
		api_reply_error(r, 503, "storage busy, try again");
		return;
	}
	memcpy(s->stale, s->dup, sizeof s->stale);
	if (cont(r, s) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* a claim answered with the id holding it: checks that record */
static void
check_duplicate(struct api_req *r, struct sub_state *s, const redisReply *reply,
                lwm2m_err (*cont)(struct api_req *, struct sub_state *))
{
	snprintf(s->dup, sizeof s->dup, "%.*s", (int)reply->len, reply->str);
	if (api_redis_cmd(r, on_dup_fp, (void *)cont,
	                  "HGET " LWM2M_KEY_SUB " " LWM2M_SF_FINGERPRINT,
	                  s->dup) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

static void
on_claimed(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;

	if (!storage_ok(r, reply)) {
		return;
	}
	if (s->failed) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (reply->type == REDIS_REPLY_STRING) {
		check_duplicate(r, s, reply, send_claim);
		return;
	}
	if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
		api_redis_cmd(r, NULL, NULL, "DEL " LWM2M_KEY_SUB, s->rec.id);
		api_reply_error(r, 403,
		                "the organisation has %d "
		                "subscriptions, the limit",
		                API_SUB_ORG_MAX);
		return;
	}
	if (client_index(r, &s->rec, s->rec.id, on_created) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* the fingerprint of s->rec into s->fp_new; false (answered) on failure */
static bool
take_fingerprint(struct api_req *r, struct sub_state *s)
{
	char *fp = api_sub_fingerprint(&s->rec);
	size_t len = fp != NULL ? strlen(fp) : 0;

	if (fp == NULL || len >= sizeof s->fp_new) {
		free(fp);
		api_reply_error(r, 503, "out of memory");
		return false;
	}
	memcpy(s->fp_new, fp, len + 1);
	free(fp);
	return true;
}

static void
store(struct api_req *r, struct sub_state *s)
{
	uint8_t raw[SECRET_BYTES];

	s->rec.org = r->org;
	s->rec.created = lwm2m_now_ms();
	if (lwm2m_id_new(s->rec.id) != LWM2M_OK ||
	    lwm2m_random(raw, sizeof raw) != LWM2M_OK) {
		api_reply_error(r, 503, "out of memory or entropy");
		return;
	}
	if (!take_fingerprint(r, s)) {
		return;
	}
	lwm2m_b64_encode(raw, sizeof raw, s->secret, true);
	if (send_record(r, s, on_record_written) != LWM2M_OK ||
	    send_claim(r, s) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* Finds Property (PropertyID or SerialisationName) in def. */
static bool
resolve_property(struct sub_state *s, const struct lwm2m_objdef *def)
{
	long long rid = -1;

	if (lwm2m_parse_int(s->in.property, 0, 65534, &rid) != LWM2M_OK) {
		rid = -1;
	}
	for (size_t i = 0; i < def->n_props; i++) {
		const struct lwm2m_propdef *p = &def->props[i];

		const char *name = p->serialisation_name != NULL
		                       ? p->serialisation_name
		                       : p->name;

		if ((long long)p->resource_id == rid ||
		    (name != NULL && strcasecmp(name, s->in.property) == 0)) {
			snprintf(s->rec.prop, sizeof s->rec.prop, "%u",
			         p->resource_id);
			snprintf(s->rec.propname, sizeof s->rec.propname, "%s",
			         name != NULL ? name : s->rec.prop);
			return true;
		}
	}
	return false;
}

static void
on_target_def(lwm2m_err err, const struct lwm2m_objdef *def, void *arg)
{
	struct api_req *r = arg;
	struct sub_state *s;

	if (!api_req_release(r)) {
		return;
	}
	s = r->data;
	if (err == LWM2M_ENOTFOUND) {
		if (s->def_from_url) {
			api_reply_error(r, 404, API_MSG_NO_DEFINITION);
		} else {
			api_reply_error(r, 400,
			                "the object link names an "
			                "unknown object definition");
		}
		return;
	}
	if (err != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	snprintf(s->rec.obj, sizeof s->rec.obj, "%u", def->object_id);
	if (s->in.property != NULL && !resolve_property(s, def)) {
		api_reply_error(r, 400,
		                "Property \"%.64s\" is not a property "
		                "of object %u",
		                s->in.property, def->object_id);
		return;
	}
	store(r, s);
}

/* Completes rec from the body; answers 400 itself. */
static bool
take_body(struct api_req *r, struct sub_state *s)
{
	const char *ct = api_req_header(r, "Content-Type");
	struct api_body body;
	char diag[200];
	lwm2m_err err = api_body_parse(ct, r->body, r->body_len, NULL, &body,
	                               diag, sizeof diag);
	char client[LWM2M_ID_SIZE], def[LWM2M_ID_SIZE];

	if (err != LWM2M_OK) {
		api_reply_error(r, err == LWM2M_EDENIED ? 415 : 400, "%s",
		                diag);
		return false;
	}
	memcpy(client, s->rec.client, sizeof client);
	memcpy(def, s->rec.def, sizeof def);
	err = api_sub_body_parse(&body, &s->in, diag, sizeof diag);
	api_body_fini(&body);
	if (err != LWM2M_OK) {
		api_reply_error(r, 400, "%s", diag);
		return false;
	}
	/* Ids of the URL win over those of a Links rel="object". */
	memcpy(s->rec.client, client[0] ? client : s->in.client, LWM2M_ID_SIZE);
	memcpy(s->rec.def, def[0] ? def : s->in.def, LWM2M_ID_SIZE);
	if (s->rec.inst[0] == '\0' && s->in.inst >= 0) {
		snprintf(s->rec.inst, sizeof s->rec.inst, "%u",
		         (unsigned)(s->in.inst & 0xffff));
	}
	if (s->in.type[0] == '\0' || s->in.url == NULL) {
		api_reply_error(r, 400, "%s is required",
		                s->in.type[0] ? "Url" : "SubscriptionType");
		return false;
	}
	snprintf(s->rec.type, sizeof s->rec.type, "%s", s->in.type);
	snprintf(s->rec.url, sizeof s->rec.url, "%s", s->in.url);
	snprintf(s->rec.accept, sizeof s->rec.accept, "%s",
	         s->in.accept != NULL ? s->in.accept
	         : ct != NULL && strcasestr(ct, "xml") != NULL
	             ? "application/xml"
	             : "application/json");
	memcpy(s->rec.attrs, s->in.attrs, sizeof s->rec.attrs);
	return true;
}

static void create_target(struct api_req *r, struct sub_state *s);

/* the target client (URL or body) must be of r's organisation (defect 6) */
static void
on_create_client(struct api_req *r, redisReply *reply, void *arg)
{
	long long org;

	if (!storage_ok(r, reply)) {
		return;
	}
	if (reply->type != REDIS_REPLY_STRING ||
	    lwm2m_parse_int(reply->str, 0, INT64_MAX, &org) != LWM2M_OK ||
	    org != r->org) {
		api_reply_error(r, 404, API_MSG_NO_CLIENT);
		return;
	}
	create_target(r, r->data);
}

void
api_subscriptions_create(struct api_req *r)
{
	struct sub_state *s = state_new(r);

	if (s == NULL || !take_body(r, s)) {
		return;
	}
	if (s->rec.client[0] == '\0') {
		create_target(r, s);
		return;
	}
	if (api_redis_cmd(r, on_create_client, NULL,
	                  "HGET " LWM2M_KEY_CLIENT " " LWM2M_CF_ORG,
	                  s->rec.client) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

static void
create_target(struct api_req *r, struct sub_state *s)
{
	if (s->rec.def[0] == '\0') {
		if (s->in.property != NULL) {
			api_reply_error(r, 400,
			                "Property needs an object "
			                "definition target");
			return;
		}
		store(r, s);
		return;
	}
	api_req_hold(r);
	if (lwm2m_objdef_store_get(r->api->redis, r->org, s->rec.def,
	                           on_target_def, r) != LWM2M_OK) {
		api_req_release(r);
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* ---- GET <level>/subscriptions ------------------------------------------ */

static bool
in_level(const struct sub_state *s, const struct api_sub_rec *rec)
{
	if (rec->org < 0) {
		return false;
	}
	if (s->rec.client[0] != '\0' &&
	    strcmp(s->rec.client, rec->client) != 0) {
		return false;
	}
	if (s->rec.def[0] != '\0' && strcmp(s->rec.def, rec->def) != 0) {
		return false;
	}
	return s->rec.inst[0] == '\0' || strcmp(s->rec.inst, rec->inst) == 0;
}

static void
render_list(struct api_req *r, struct sub_state *s)
{
	struct api_doc *doc = api_req_doc(r, "Subscriptions");
	struct api_page page;
	long long total = 0, shown = 0, count;
	char path[256];

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		total += in_level(s, &s->recs[i]);
	}
	api_page_parse(r->query, &page);
	count = api_page_count(&page, total);
	api_doc_page_info(doc, r->path, r->query, &page, total);
	if (count > 0) {
		api_doc_array_begin(doc, "Items", "Subscription");
	}
	for (size_t i = 0, k = 0; i < s->n && shown < count; i++) {
		if (!in_level(s, &s->recs[i]) || (long long)k++ < page.start) {
			continue;
		}
		api_doc_object_begin(doc, NULL);
		sub_item(doc, &s->recs[i]);
		api_doc_end(doc);
		shown++;
	}
	if (count > 0) {
		api_doc_end(doc);
	}
	snprintf(path, sizeof path, "%s", r->path);
	api_doc_links_begin(doc);
	api_doc_link(doc, "add", path, MT_SUBSCRIPTION);
	api_doc_end(doc);
	api_reply_doc(r, 200, doc, API_MT_SUBSCRIPTIONS);
}

static void
on_list_item(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;
	size_t i = (size_t)(uintptr_t)arg;

	if (r->replied || !storage_ok(r, reply)) {
		return;
	}
	/* An id whose record is gone is dropped from the index: creates
	 * write the record before indexing it and deletes remove it last,
	 * so only a record removed by hand leaves one behind. */
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 0) {
		api_redis_cmd(r, NULL, NULL, "ZREM " LWM2M_KEY_ORG_SUBS " %s",
		              r->org, s->ids[i]);
	}
	/* Unreadable or foreign records are skipped (org stays -1). */
	if (api_sub_rec_parse(s->ids[i], reply, &s->recs[i]) != LWM2M_OK ||
	    s->recs[i].org != r->org) {
		s->recs[i].org = -1;
	}
	if (++s->done == s->n) {
		render_list(r, s);
	}
}

static void
on_list_ids(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;

	if (!storage_ok(r, reply) || reply->type != REDIS_REPLY_ARRAY) {
		return;
	}
	s->ids = calloc(reply->elements + 1, sizeof *s->ids);
	s->recs = calloc(reply->elements + 1, sizeof *s->recs);
	if (s->ids == NULL || s->recs == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	for (size_t i = 0; i < reply->elements; i++) {
		s->ids[i] =
		    strndup(reply->element[i]->str, reply->element[i]->len);
		s->recs[i].org = -1;
		s->n = i + 1;
		if (s->ids[i] == NULL ||
		    api_redis_cmd(r, on_list_item, (void *)(uintptr_t)i,
		                  "HGETALL " LWM2M_KEY_SUB,
		                  s->ids[i]) != LWM2M_OK) {
			api_reply_error(r, 503, "storage unavailable");
			return;
		}
	}
	if (s->n == 0) {
		render_list(r, s);
	}
}

static void
fetch_list(struct api_req *r)
{
	if (api_redis_cmd(r, on_list_ids, NULL,
	                  "ZRANGE " LWM2M_KEY_ORG_SUBS " 0 %d", r->org,
	                  API_SUB_ORG_MAX - 1) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

static void
on_list_def(lwm2m_err err, const struct lwm2m_objdef *def, void *arg)
{
	struct api_req *r = arg;

	if (!api_req_release(r)) {
		return;
	}
	if (err != LWM2M_OK) {
		if (err == LWM2M_ENOTFOUND) {
			api_reply_error(r, 404, API_MSG_NO_DEFINITION);
		} else {
			api_reply_error(r, 503, "storage unavailable");
		}
		return;
	}
	fetch_list(r);
}

static void
on_list_client(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;
	long long org;

	if (!storage_ok(r, reply)) {
		return;
	}
	if (reply->type != REDIS_REPLY_STRING ||
	    lwm2m_parse_int(reply->str, 0, INT64_MAX, &org) != LWM2M_OK ||
	    org != r->org) {
		api_reply_error(r, 404, API_MSG_NO_CLIENT);
		return;
	}
	if (s->rec.def[0] == '\0') {
		fetch_list(r);
		return;
	}
	api_req_hold(r);
	if (lwm2m_objdef_store_get(r->api->redis, r->org, s->rec.def,
	                           on_list_def, r) != LWM2M_OK) {
		api_req_release(r);
		api_reply_error(r, 503, "storage unavailable");
	}
}

void
api_subscriptions_list(struct api_req *r)
{
	struct sub_state *s = state_new(r);

	if (s == NULL) {
		return;
	}
	if (s->rec.client[0] == '\0') {
		fetch_list(r);
		return;
	}
	if (api_redis_cmd(r, on_list_client, NULL,
	                  "HGET " LWM2M_KEY_CLIENT " " LWM2M_CF_ORG,
	                  s->rec.client) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* ---- /subscriptions/{id} ------------------------------------------------ */

/* Reads s->rec for r's {subscriptionID}, then calls then(r, s); answers
 * 404 for unknown ids and other organisations' subscriptions. */
static void
on_one(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;
	void (*then)(struct api_req *, struct sub_state *) = arg;
	char id[LWM2M_ID_SIZE];
	char *fp;

	if (!storage_ok(r, reply)) {
		return;
	}
	memcpy(id, s->rec.id, sizeof id);
	if (api_sub_rec_parse(id, reply, &s->rec) != LWM2M_OK ||
	    s->rec.org != r->org) {
		api_reply_error(r, 404,
		                "no such subscription in this organisation");
		return;
	}
	fp = api_sub_fingerprint(&s->rec);
	if (fp == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	snprintf(s->fp_old, sizeof s->fp_old, "%s", fp);
	free(fp);
	then(r, s);
}

static void
fetch_one(struct api_req *r,
          void (*then)(struct api_req *r, struct sub_state *s))
{
	struct sub_state *s = state_new(r);

	if (s == NULL || !state_sub_id(r, s)) {
		return;
	}
	if (api_redis_cmd(r, on_one, (void *)then, "HGETALL " LWM2M_KEY_SUB,
	                  s->rec.id) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

static void
render_one(struct api_req *r, struct sub_state *s)
{
	struct api_doc *doc = api_req_doc(r, "Subscription");

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	sub_item(doc, &s->rec);
	api_reply_doc(r, 200, doc, MT_SUBSCRIPTION);
}

void
api_subscription_get(struct api_req *r)
{
	fetch_one(r, render_one);
}

/* the reply of the record's DEL (lwm2m_sub_delete): 204 */
static void
on_deleted(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct api_req *r = arg;
	struct sub_state *s;

	if (!api_req_release(r) || !storage_ok(r, reply)) {
		return;
	}
	s = r->data;
	lwm2m_log(LWM2M_LOG_INFO, "req=%llu: sub=%s deleted",
	          (unsigned long long)r->id, s->rec.id);
	obs_sync(r, &s->rec);
	api_reply_status(r, 204);
}

/* Delete (lwm2m_sub_delete: the indexes, the broker's filter state, the
 * record last), then the observation hand-off of obs_sync. */
static void
delete_rec(struct api_req *r, struct sub_state *s)
{
	struct lwm2m_sub_ref ref = sub_ref(&s->rec, s->fp_old);

	api_req_hold(r);
	if (lwm2m_sub_delete(r->api->redis, &ref, 0, on_deleted, r) !=
	        LWM2M_OK &&
	    api_req_release(r)) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

void
api_subscription_delete(struct api_req *r)
{
	fetch_one(r, delete_rec);
}

/* the old fingerprint's claim released after a changed one: 204 */
static void
on_updated(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;

	if (!storage_ok(r, reply)) {
		return;
	}
	obs_sync(r, &s->rec); /* the merged attributes may change */
	api_reply_status(r, 204);
}

static lwm2m_err
send_fp_release(struct api_req *r, const char *fp, const char *id,
                void (*cb)(struct api_req *, redisReply *, void *))
{
	char key[160];
	const char *argv[] = {"EVAL", fp_release_lua, "1", key, fp, id};

	snprintf(key, sizeof key, LWM2M_KEY_ORG_SUB_DEDUP, r->org);
	return api_redis_cmdargv(r, cb, NULL, 6, argv, NULL);
}

static void
on_rec_updated(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;
	bool moved = strcmp(s->fp_old, s->fp_new) != 0;
	lwm2m_err err;

	if (!storage_ok(r, reply)) {
		return;
	}
	if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
		if (moved) {
			send_fp_release(r, s->fp_new, s->rec.id, NULL);
		}
		api_reply_error(r, 409,
		                "the subscription changed meanwhile; "
		                "try again");
		return;
	}
	if (!moved) {
		on_updated(r, reply, NULL);
		return;
	}
	err = send_fp_release(r, s->fp_old, s->rec.id, on_updated);
	if (err != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* the record's step of an update, if its fingerprint is still fp_old */
static lwm2m_err
send_rec_update(struct api_req *r, struct sub_state *s)
{
	char key[160];
	const char *argv[32];
	int argc = 0;

	snprintf(key, sizeof key, LWM2M_KEY_SUB, s->rec.id);
	argv[argc++] = "EVAL";
	argv[argc++] = rec_update_lua;
	argv[argc++] = "1";
	argv[argc++] = key;
	argv[argc++] = s->fp_old;
	argv[argc++] = LWM2M_SF_URL;
	argv[argc++] = s->rec.url;
	argv[argc++] = LWM2M_SF_FINGERPRINT;
	argv[argc++] = s->fp_new;
	for (int a = 0; a < API_SUB_N_ATTRS; a++) {
		argv[argc++] = api_sub_attr_field(a);
		argv[argc++] = s->rec.attrs[a];
	}
	return api_redis_cmdargv(r, on_rec_updated, NULL, argc, argv, NULL);
}

static void
on_fp_claimed(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;

	if (!storage_ok(r, reply)) {
		return;
	}
	if (reply->type == REDIS_REPLY_STRING) {
		check_duplicate(r, s, reply, send_fp_claim);
		return;
	}
	if (send_rec_update(r, s) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* the organisation's step of an update: the new fingerprint's claim */
static lwm2m_err
send_fp_claim(struct api_req *r, struct sub_state *s)
{
	char key[160];
	const char *argv[] = {"EVAL",    fp_claim_lua, "1",     key,
	                      s->fp_new, s->rec.id,    s->stale};

	snprintf(key, sizeof key, LWM2M_KEY_ORG_SUB_DEDUP, r->org);
	return api_redis_cmdargv(r, on_fp_claimed, NULL, 7, argv, NULL);
}

/* Applies a PUT body (Url and/or Attributes; spec 6.4) to s->rec;
 * answers 400/415 itself. */
static bool
take_update(struct api_req *r, struct sub_state *s)
{
	struct api_body body;
	char diag[200];
	bool any = false;
	lwm2m_err err =
	    api_body_parse(api_req_header(r, "Content-Type"), r->body,
	                   r->body_len, NULL, &body, diag, sizeof diag);

	if (err != LWM2M_OK) {
		api_reply_error(r, err == LWM2M_EDENIED ? 415 : 400, "%s",
		                diag);
		return false;
	}
	err = api_sub_body_parse(&body, &s->in, diag, sizeof diag);
	api_body_fini(&body);
	if (err != LWM2M_OK) {
		api_reply_error(r, 400, "%s", diag);
		return false;
	}
	if (s->in.url != NULL) {
		snprintf(s->rec.url, sizeof s->rec.url, "%s", s->in.url);
		any = true;
	}
	for (int a = 0; a < API_SUB_N_ATTRS; a++) {
		if (s->in.attrs[a][0] != '\0') {
			memcpy(s->rec.attrs[a], s->in.attrs[a],
			       sizeof s->rec.attrs[a]);
			any = true;
		}
	}
	if (!any) {
		api_reply_error(r, 400,
		                "the body has neither Url nor "
		                "Attributes");
	}
	return any;
}

/* Update: the new fingerprint claimed (when it changes), the record
 * (if unchanged meanwhile), the old claim released; 204. */
static void
update_rec(struct api_req *r, struct sub_state *s)
{
	lwm2m_err err;

	if (!take_update(r, s) || !take_fingerprint(r, s)) {
		return;
	}
	if (strcmp(s->fp_old, s->fp_new) == 0) {
		err = send_rec_update(r, s);
	} else {
		err = send_fp_claim(r, s);
	}
	if (err != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

void
api_subscription_put(struct api_req *r)
{
	fetch_one(r, update_rec);
}

/* ---- GET /subscriptions/{id}/deadletters -------------------------------- */

/* The value of field name in a stream entry's field array, or NULL. */
static const char *
entry_field(const redisReply *fields, const char *name)
{
	const redisReply *v = lwm2m_redis_field(fields, name);

	return v != NULL ? v->str : NULL;
}

/* The fields of entry e when it is a dead letter of subscription id. */
static const redisReply *
dead_of(const redisReply *e, const char *id)
{
	const char *sub;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[1]->type != REDIS_REPLY_ARRAY) {
		return NULL;
	}
	sub = entry_field(e->element[1], "sub");
	return sub != NULL && strcmp(sub, id) == 0 ? e->element[1] : NULL;
}

static void
dead_item(struct api_doc *doc, const redisReply *e, const redisReply *f)
{
	char when[32];
	long long n;
	const char *v;

	api_doc_string(doc, "DeliveryID", entry_field(f, "id"));
	if (lwm2m_parse_int(e->element[0]->str, 0, INT64_MAX, &n) != LWM2M_OK) {
		n = strtoll(e->element[0]->str, NULL, 10);
	}
	api_doc_string(doc, "TimeFailed",
	               lwm2m_time_iso8601(n / 1000, when, sizeof when));
	api_doc_string(doc, "Url", entry_field(f, "url"));
	v = entry_field(f, "status");
	if (v != NULL && lwm2m_parse_int(v, 0, 999, &n) == LWM2M_OK) {
		api_doc_int(doc, "Status", n);
	}
	api_doc_string(doc, "Error", entry_field(f, "error"));
	v = entry_field(f, "attempts");
	if (v != NULL && lwm2m_parse_int(v, 0, INT32_MAX, &n) == LWM2M_OK) {
		api_doc_int(doc, "Attempts", n);
	}
}

static void
on_dead(struct api_req *r, redisReply *reply, void *arg)
{
	struct sub_state *s = r->data;
	struct api_doc *doc;
	struct api_page page;
	long long total = 0, count, k = 0, shown = 0;

	if (!storage_ok(r, reply) || reply->type != REDIS_REPLY_ARRAY ||
	    (doc = api_req_doc(r, "DeadLetters")) == NULL) {
		if (!r->replied) {
			api_reply_error(r, 503, "storage unavailable");
		}
		return;
	}
	for (size_t i = 0; i < reply->elements; i++) {
		total += dead_of(reply->element[i], s->rec.id) != NULL;
	}
	api_page_parse(r->query, &page);
	count = api_page_count(&page, total);
	api_doc_page_info(doc, r->path, r->query, &page, total);
	if (count > 0) {
		api_doc_array_begin(doc, "Items", "DeadLetter");
	}
	for (size_t i = 0; i < reply->elements && shown < count; i++) {
		const redisReply *f = dead_of(reply->element[i], s->rec.id);

		if (f == NULL || k++ < page.start) {
			continue;
		}
		api_doc_object_begin(doc, NULL);
		dead_item(doc, reply->element[i], f);
		api_doc_end(doc);
		shown++;
	}
	if (count > 0) {
		api_doc_end(doc);
	}
	api_reply_doc(r, 200, doc, MT_DEADLETTERS);
}

static void
fetch_dead(struct api_req *r, struct sub_state *s)
{
	if (api_redis_cmd(r, on_dead, NULL, "XREVRANGE %s + - COUNT %d",
	                  LWM2M_KEY_DEADLETTERS, DEADLETTER_SCAN) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

void
api_subscription_deadletters(struct api_req *r)
{
	fetch_one(r, fetch_dead);
}
