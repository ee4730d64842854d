/* api_clients.c - /clients and /clients/{id}/objecttypes (spec 4.1-4.6),
 * answered from the connectivity records the gateways write to Redis.
 * Other organisations' clients are 404 (defect 6 fixed). */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_id.h"
#include "lwm2m_keys.h"
#include "lwm2m_link.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_objdef_store.h"
#include "lwm2m_retention.h"

#define MAX_OBJTYPES 1024
#define EVICT_TIMEOUT_MS 2000
#define STATE_REMOVED "removed" /* LWM2M_CF_STATE after DELETE */

struct client_state {
	char id[LWM2M_ID_SIZE];
	char def_id[LWM2M_ID_SIZE];
	struct api_objtype *types;
	size_t n_types;
	bool no_objects;
};

static void
client_free(void *data)
{
	struct client_state *s = data;

	if (s != NULL) {
		free(s->types);
		free(s);
	}
}

/* Reads and validates {clientID}; answers bad_status when invalid. */
static struct client_state *
client_state(struct api_req *r, int bad_status)
{
	struct client_state *s = calloc(1, sizeof *s);

	if (s == NULL) {
		api_reply_error(r, 503, "out of memory");
		return NULL;
	}
	r->data = s;
	r->data_free = client_free;
	if (api_req_param(r, "clientID", s->id, sizeof s->id) == NULL ||
	    !lwm2m_id_valid(s->id, strlen(s->id))) {
		api_reply_error(r, bad_status,
		                "invalid client id: 22 characters of URL-safe "
		                "base64 expected");
		return NULL;
	}
	return s;
}

static void
client_body(struct api_doc *doc, const char *id, const char *name)
{
	char path[64], sub[96];

	snprintf(path, sizeof path, "/clients/%s", id);
	api_doc_string(doc, "Name", name);
	api_doc_links_begin(doc);
	api_doc_link(doc, "self", path, NULL);
	api_doc_link(doc, "remove", path, NULL);
	snprintf(sub, sizeof sub, "%s/objecttypes", path);
	api_doc_link(doc, "objecttypes", sub, API_MT_OBJECTTYPES);
	snprintf(sub, sizeof sub, "%s/subscriptions", path);
	api_doc_link(doc, "subscriptions", sub, API_MT_SUBSCRIPTIONS);
	snprintf(sub, sizeof sub, "%s/metrics", path);
	api_doc_link(doc, "metrics", sub, API_MT_METRICS);
	snprintf(sub, sizeof sub, "%s/composite", path);
	api_doc_link(doc, "composite", sub, NULL);
	api_doc_end(doc);
}

/* ---- GET /clients ------------------------------------------------------- */

static void
render_clients(struct api_req *r, struct api_list *l)
{
	struct api_doc *doc = api_req_doc(r, "Clients");

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_page_info(doc, r->path, r->query, &l->page, l->total);
	if (l->n > 0) {
		api_doc_array_begin(doc, "Items", "Client");
		for (size_t i = 0; i < l->n; i++) {
			api_doc_object_begin(doc, NULL);
			client_body(doc, l->ids[i], l->vals[i]);
			api_doc_end(doc);
		}
		api_doc_end(doc);
	}
	api_reply_doc(r, 200, doc, API_MT_CLIENTS);
}

void
api_clients_list(struct api_req *r)
{
	char zset[64];

	snprintf(zset, sizeof zset, LWM2M_KEY_ORG_CLIENTS, r->org);
	api_list_fetch(r, zset, LWM2M_KEY_CLIENT, LWM2M_CF_ENDPOINT,
	               render_clients);
}

/* ---- shared: fetch org + fields of the client hash ---------------------- */

/* True when reply (HMGET org state ...) is a client of r's organisation
 * that DELETE has not removed. */
static bool
client_owned(struct api_req *r, redisReply *reply)
{
	long long org;

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    lwm2m_parse_int(reply->element[0]->str, 0, INT64_MAX, &org) !=
	        LWM2M_OK ||
	    org != r->org) {
		return false;
	}
	return reply->element[1]->type != REDIS_REPLY_STRING ||
	       strcmp(reply->element[1]->str, STATE_REMOVED) != 0;
}

static bool
reply_ok(struct api_req *r, redisReply *reply)
{
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return false;
	}
	if (!client_owned(r, reply)) {
		api_reply_error(r, 404, API_MSG_NO_CLIENT);
		return false;
	}
	return true;
}

static const char *
element_str(redisReply *reply, size_t i)
{
	if (i >= reply->elements ||
	    reply->element[i]->type != REDIS_REPLY_STRING) {
		return NULL;
	}
	return reply->element[i]->str;
}

/* ---- GET /clients/{id} -------------------------------------------------- */

static void
on_client(struct api_req *r, redisReply *reply, void *arg)
{
	struct client_state *s = r->data;
	struct api_doc *doc;

	if (!reply_ok(r, reply)) {
		return;
	}
	doc = api_req_doc(r, "Client");
	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	client_body(doc, s->id, element_str(reply, 2));
	api_reply_doc(r, 200, doc, API_MT_CLIENT);
}

void
api_client_get(struct api_req *r)
{
	struct client_state *s = client_state(r, 404);

	if (s == NULL) {
		return;
	}
	if (api_redis_cmd(r, on_client, NULL,
	                  "HMGET " LWM2M_KEY_CLIENT " %s %s %s", s->id,
	                  LWM2M_CF_ORG, LWM2M_CF_STATE,
	                  LWM2M_CF_ENDPOINT) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* ---- DELETE /clients/{id} ----------------------------------------------- */

static void
on_evicted(lwm2m_err err, const struct lwm2m_env *reply, void *arg)
{
	char *id = arg;

	/* not found: the gateway has no session of it (it left, or never
	 * registered), which is what the eviction wanted */
	if (err != LWM2M_OK) {
		lwm2m_log(err == LWM2M_ENOTFOUND ? LWM2M_LOG_DEBUG
		                                 : LWM2M_LOG_WARNING,
		          "evict id=%s: gateway: %s; the "
		          "registration is removed in Redis only",
		          id, lwm2m_strerror(err));
	}
	free(id);
}

/* Asks the owning gateway to drop the session; fire and forget. */
static void
on_gateway(struct api_req *r, redisReply *reply, void *arg)
{
	struct client_state *s = r->data;
	char *id;

	if (reply == NULL || reply->type != REDIS_REPLY_STRING ||
	    r->api->rpc == NULL || (id = strdup(s->id)) == NULL) {
		return;
	}
	if (lwm2m_rpc_call(r->api->rpc, reply->str, LWM2M_ENV_RPC_EVICT, id,
	                   strlen(id), EVICT_TIMEOUT_MS, on_evicted,
	                   id) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "evict id=%s: cannot reach gateway", id);
		free(id);
	}
}

static void
on_removed(struct api_req *r, redisReply *reply, void *arg)
{
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	api_reply_status(r, 204);
}

#define DEL_IF_SAME                                                            \
	"if redis.call('GET', KEYS[1]) == ARGV[1] then "                       \
	"redis.call('DEL', KEYS[1]) end return 1"

/* the record's state "removed" and, with a retention, the time it left
 * (LWM2M_CF_LEFT), in one HSET */
static lwm2m_err
mark_removed(struct api_req *r, const char *id, long long now)
{
	if (r->api->cfg.retention_ms == 0) {
		return api_redis_cmd(r, NULL, NULL,
		                     "HSET " LWM2M_KEY_CLIENT " %s %s", id,
		                     LWM2M_CF_STATE, STATE_REMOVED);
	}
	return api_redis_cmd(r, NULL, NULL,
	                     "HSET " LWM2M_KEY_CLIENT " %s %s %s %lld", id,
	                     LWM2M_CF_STATE, STATE_REMOVED, LWM2M_CF_LEFT, now);
}

/* the gateway's expiry entry: removed, or with a retention moved to when
 * the gateway's sweep reaps the record (docs/redis-schema.md) */
static lwm2m_err
unschedule(struct api_req *r, const char *id, const char *gw, long long now)
{
	long long until = lwm2m_retention_until(r->api->cfg.retention_ms, now);

	if (until == 0) {
		return api_redis_cmd(r, NULL, NULL,
		                     "ZREM " LWM2M_KEY_GATEWAY_EXPIRY " %s", gw,
		                     id);
	}
	return api_redis_cmd(r, NULL, NULL,
	                     "ZADD " LWM2M_KEY_GATEWAY_EXPIRY " %lld %s", gw,
	                     until, id);
}

static lwm2m_err
remove_client(struct api_req *r, const char *id, const char *ep, const char *gw)
{
	long long now = (long long)lwm2m_now_ms();
	char key[600];
	lwm2m_err err;

	err = api_redis_cmd(r, NULL, NULL,
	                    "SET " LWM2M_KEY_CLIENT_BLACKLIST " %lld", id,
	                    r->org);
	snprintf(key, sizeof key, LWM2M_KEY_ORG_CLIENTS, r->org);
	err = err ? err : api_redis_cmd(r, NULL, NULL, "ZREM %s %s", key, id);
	err = err ? err : mark_removed(r, id, now);
	if (ep != NULL && strlen(ep) < 256) {
		snprintf(key, sizeof key, LWM2M_KEY_ORG_ENDPOINT, r->org, ep);
		err = err ? err
		          : api_redis_cmd(r, NULL, NULL, "EVAL %s 1 %s %s",
		                          DEL_IF_SAME, key, id);
	}
	if (gw != NULL && strlen(gw) < 256) {
		err =
		    err ? err
		        : api_redis_cmd(r, NULL, NULL,
		                        "SREM " LWM2M_KEY_GATEWAY_CLIENTS " %s",
		                        gw, id);
		err = err ? err : unschedule(r, id, gw, now);
		err = err ? err
		          : api_redis_cmd(r, on_gateway, NULL,
		                          "HGET " LWM2M_KEY_GATEWAY " rpc", gw);
	}
	return err ? err : api_redis_cmd(r, on_removed, NULL, "PING");
}

static void
on_delete_owner(struct api_req *r, redisReply *reply, void *arg)
{
	struct client_state *s = r->data;

	if (!reply_ok(r, reply)) {
		return;
	}
	if (remove_client(r, s->id, element_str(reply, 2),
	                  element_str(reply, 3)) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	lwm2m_log(LWM2M_LOG_NOTICE,
	          "req=%llu: client id=%s removed and "
	          "blacklisted",
	          (unsigned long long)r->id, s->id);
}

void
api_client_delete(struct api_req *r)
{
	struct client_state *s = client_state(r, 404);

	if (s == NULL) {
		return;
	}
	if (api_redis_cmd(r, on_delete_owner, NULL,
	                  "HMGET " LWM2M_KEY_CLIENT " %s %s %s %s", s->id,
	                  LWM2M_CF_ORG, LWM2M_CF_STATE, LWM2M_CF_ENDPOINT,
	                  LWM2M_CF_GATEWAY) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* ---- /clients/{id}/objecttypes ------------------------------------------ */

/* Object id of a link "/o[/i...]", or -1. */
static long
link_object(const struct lwm2m_link *l)
{
	char num[8];
	size_t n;
	long long oid;

	if (l->uri_len < 2 || l->uri[0] != '/') {
		return -1;
	}
	n = strcspn(l->uri + 1, "/");
	n = n < l->uri_len - 1 ? n : l->uri_len - 1;
	if (n == 0 || n >= sizeof num) {
		return -1;
	}
	memcpy(num, l->uri + 1, n);
	num[n] = '\0';
	if (lwm2m_parse_int(num, 0, 65534, &oid) != LWM2M_OK) {
		return -1;
	}
	return (long)oid;
}

/* Fills s->types with the distinct object ids of objs, in order. */
static lwm2m_err
parse_objects(struct client_state *s, const char *objs, size_t len)
{
	struct lwm2m_link_list *list;
	lwm2m_err err =
	    lwm2m_link_parse(objs, len, MAX_OBJTYPES, &list, NULL, 0);

	if (err != LWM2M_OK) {
		return err;
	}
	s->types = calloc(list->n_links + 1, sizeof *s->types);
	for (size_t i = 0; s->types != NULL && i < list->n_links; i++) {
		long oid = link_object(&list->links[i]);
		bool seen = oid < 0;

		for (size_t j = 0; !seen && j < s->n_types; j++) {
			seen = s->types[j].oid == (unsigned)oid;
		}
		if (!seen) {
			s->types[s->n_types++].oid = (unsigned)oid;
		}
	}
	lwm2m_link_list_free(list);
	return s->types != NULL ? LWM2M_OK : LWM2M_ENOMEM;
}

static void
objtype_item(struct api_req *r, struct api_doc *doc,
             const struct api_objtype *t)
{
	struct client_state *s = r->data;
	char oid[8], path[128], def[96], mime[160];

	snprintf(oid, sizeof oid, "%u", t->oid);
	api_doc_string(doc, "ObjectTypeID", oid);
	if (!t->known) {
		return;
	}
	snprintf(path, sizeof path, "/clients/%s/objecttypes/%s", s->id,
	         t->def_id);
	snprintf(def, sizeof def, "/objecttypes/definitions/%s", t->def_id);
	snprintf(mime, sizeof mime, "%s", t->mime);
	api_doc_links_begin(doc);
	api_doc_link(doc, "self", path, NULL);
	api_doc_link(doc, "definition", def, API_MT_OBJECTDEFINITION);
	strncat(path, "/instances", sizeof path - strlen(path) - 1);
	api_doc_link(doc, "instances", path, mime);
	/* device operations on the whole object (api_instances.c) */
	snprintf(path, sizeof path, "/clients/%s/objecttypes/%s/discover",
	         s->id, t->def_id);
	api_doc_link(doc, "discover", path, NULL);
	snprintf(path, sizeof path, "/clients/%s/objecttypes/%s/attributes",
	         s->id, t->def_id);
	api_doc_link(doc, "attributes", path, NULL);
	api_doc_end(doc);
}

static void
render_objtypes(struct api_req *r)
{
	struct client_state *s = r->data;
	struct api_doc *doc = api_req_doc(r, "ObjectTypes");
	struct api_page page;

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_page_parse(r->query, &page);
	if (!s->no_objects) {
		long long n = api_page_count(&page, (long long)s->n_types);

		api_doc_page_info(doc, r->path, r->query, &page,
		                  (long long)s->n_types);
		if (n > 0) {
			api_doc_array_begin(doc, "Items", "ObjectType");
			for (long long i = page.start; i < page.start + n;
			     i++) {
				api_doc_object_begin(doc, NULL);
				objtype_item(r, doc, &s->types[i]);
				api_doc_end(doc);
			}
			api_doc_end(doc);
		}
	}
	api_reply_doc(r, 200, doc, API_MT_OBJECTTYPES);
}

static void
render_objtype(struct api_req *r)
{
	struct client_state *s = r->data;
	struct api_doc *doc;

	for (size_t i = 0; i < s->n_types; i++) {
		if (s->types[i].known &&
		    strcmp(s->types[i].def_id, s->def_id) == 0) {
			doc = api_req_doc(r, "ObjectType");
			if (doc == NULL) {
				api_reply_error(r, 503, "out of memory");
				return;
			}
			objtype_item(r, doc, &s->types[i]);
			api_reply_doc(r, 200, doc, API_MT_OBJECTTYPE);
			return;
		}
	}
	api_reply_error(r, 404,
	                "the client did not register an object of this "
	                "definition (or the definition is not visible)");
}

static void
on_objects(struct api_req *r, redisReply *reply, void *arg)
{
	struct client_state *s = r->data;
	void (*done)(struct api_req *) =
	    s->def_id[0] ? render_objtype : render_objtypes;
	redisReply *objs;

	if (!reply_ok(r, reply)) {
		return;
	}
	objs = reply->element[2];
	if (objs->type != REDIS_REPLY_STRING) {
		s->no_objects = true;
		done(r);
		return;
	}
	if (parse_objects(s, objs->str, objs->len) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "req=%llu: client id=%s has an "
		          "unreadable object list",
		          (unsigned long long)r->id, s->id);
		s->no_objects = true;
		done(r);
		return;
	}
	api_objtypes_resolve(r, s->types, s->n_types, done);
}

static void
fetch_objects(struct api_req *r, struct client_state *s)
{
	if (api_redis_cmd(r, on_objects, NULL,
	                  "HMGET " LWM2M_KEY_CLIENT " %s %s %s", s->id,
	                  LWM2M_CF_ORG, LWM2M_CF_STATE,
	                  LWM2M_CF_OBJECTS) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

void
api_objecttypes_list(struct api_req *r)
{
	struct client_state *s = client_state(r, 400);

	if (s != NULL) {
		fetch_objects(r, s);
	}
}

void
api_objecttype_get(struct api_req *r)
{
	struct client_state *s = client_state(r, 400);

	if (s == NULL) {
		return;
	}
	if (api_req_param(r, "definitionID", s->def_id, sizeof s->def_id) ==
	        NULL ||
	    !lwm2m_id_valid(s->def_id, strlen(s->def_id))) {
		api_reply_error(r, 400, "invalid definition id");
		return;
	}
	fetch_objects(r, s);
}

/* ---- object definitions of the reported types ---------------------------- */

struct resolve {
	struct api_req *r;
	void (*done)(struct api_req *r);
	size_t remaining; /* lookups in flight + 1 while starting */
};

struct resolve_call {
	struct resolve *res;
	struct api_objtype *type;
};

static void
resolve_step(struct resolve *res)
{
	struct api_req *r = res->r;
	void (*done)(struct api_req * r) = res->done;

	if (--res->remaining > 0) {
		return;
	}
	free(res);
	if (api_req_release(r)) {
		done(r);
	}
}

static void
on_definition(lwm2m_err err, const struct lwm2m_objdef *def, void *arg)
{
	struct resolve_call *c = arg;
	struct api_objtype *t = c->type;

	if (err == LWM2M_OK && def != NULL && def->mime_type != NULL) {
		t->known = true;
		snprintf(t->def_id, sizeof t->def_id, "%s", def->id);
		snprintf(t->mime, sizeof t->mime, "%s", def->mime_type);
	} else if (err != LWM2M_OK && err != LWM2M_ENOTFOUND) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "object %u: definition lookup: "
		          "%s, rendering without links",
		          t->oid, lwm2m_strerror(err));
	}
	resolve_step(c->res);
	free(c);
}

/* One lookup per reported object id, in parallel (spec 4.5: the caller's
 * own definition first, then the global one). */
void
api_objtypes_resolve(struct api_req *r, struct api_objtype *types, size_t n,
                     void (*done)(struct api_req *r))
{
	struct resolve *res = calloc(1, sizeof *res);

	if (res == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	*res = (struct resolve){r, done, 1};
	api_req_hold(r);
	for (size_t i = 0; i < n; i++) {
		struct resolve_call *c = malloc(sizeof *c);

		types[i].known = false;
		if (c == NULL) {
			continue;
		}
		*c = (struct resolve_call){res, &types[i]};
		res->remaining++;
		if (lwm2m_objdef_store_find(r->api->redis, r->org,
		                            (uint16_t)types[i].oid,
		                            on_definition, c) != LWM2M_OK) {
			res->remaining--;
			free(c);
		}
	}
	resolve_step(res);
}
