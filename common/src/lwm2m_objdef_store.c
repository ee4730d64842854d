/* lwm2m_objdef_store.c - object definitions in Redis, see the header. */
#include "lwm2m_objdef_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_keys.h"
#include "lwm2m_objdef_int.h"

/* Every script that changes a scope gives its KEYS[3] (the scope's version,
 * LWM2M_KEY_ORG_OBJDEFS_VER) a value it never had: a count one above the
 * last, with the server's time, so a scope flushed and written again does
 * not repeat an old value either. */
#define SCRIPT_BUMP_VERSION                                                    \
	"local t = redis.call('TIME')\n"                                       \
	"local n = tonumber(string.match(redis.call('GET', KEYS[3]) or '0',"   \
	" '^%d+') or '0') + 1\n"                                               \
	"redis.call('SET', KEYS[3], n .. '.' .. t[1] .. '.' .. t[2])\n"

/* ARGV: id1 oid1 json1 id2 ...; returns 0, or the 1-based index of the
 * first definition whose id or ObjectID exists already. */
static const char script_create[] =
    "local n = #ARGV / 3\n"
    "for i = 0, n - 1 do\n"
    "  local id, oid = ARGV[i * 3 + 1], ARGV[i * 3 + 2]\n"
    "  if redis.call('HEXISTS', KEYS[1], id) == 1 then return i + 1 end\n"
    "  if #redis.call('ZRANGEBYSCORE', KEYS[2], oid, oid, 'LIMIT', 0, 1)"
    " > 0 then return i + 1 end\n"
    "end\n"
    "for i = 0, n - 1 do\n"
    "  redis.call('HSET', KEYS[1], ARGV[i * 3 + 1], ARGV[i * 3 + 3])\n"
    "  redis.call('ZADD', KEYS[2], ARGV[i * 3 + 2], ARGV[i * 3 + 1])\n"
    "end\n" SCRIPT_BUMP_VERSION "return 0\n";

/* ARGV: id oid json; -1 gone, -2 ObjectID taken by another id, 0 done. */
static const char script_replace[] =
    "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end\n"
    "for _, o in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2],"
    " ARGV[2])) do\n"
    "  if o ~= ARGV[1] then return -2 end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])\n" SCRIPT_BUMP_VERSION
    "return 0\n";

/* ARGV: id; returns 1 when deleted. */
static const char script_delete[] =
    "local r = redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "if r == 1 then\n" SCRIPT_BUMP_VERSION "end\n"
    "return r\n";

/* A version for a scope written before versions existed. */
static const char script_ensure_version[] =
    "if redis.call('EXISTS', KEYS[3]) == 0 then\n" SCRIPT_BUMP_VERSION "end\n"
    "return 0\n";

/* ARGV: oid; returns the JSON of the scope's definition for it, or nil. */
static const char script_find[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], ARGV[1],"
    " 'LIMIT', 0, 1)\n"
    "if #ids == 0 then return false end\n"
    "return redis.call('HGET', KEYS[1], ids[1])\n";

struct keys {
	char hash[64];
	char zset[64];
	char ver[64];
};

static void
keys_init(struct keys *k, long long org)
{
	snprintf(k->hash, sizeof(k->hash), LWM2M_KEY_ORG_OBJDEFS, org);
	snprintf(k->zset, sizeof(k->zset), LWM2M_KEY_ORG_OBJDEF_OIDS, org);
	snprintf(k->ver, sizeof(k->ver), LWM2M_KEY_ORG_OBJDEFS_VER, org);
}

static lwm2m_err
parse_stored(const redisReply *r, long long org, struct lwm2m_objdef **ret)
{
	lwm2m_err err;

	err = lwm2m_objdef_json_parse(r->str, (size_t)r->len, ret, NULL);
	if (err == LWM2M_OK) {
		(*ret)->org = org;
	}
	return err == LWM2M_ENOMEM ? err : (err ? LWM2M_EBACKEND : LWM2M_OK);
}

/* ---- parse cache ---------------------------------------------------------
 * A lookup that reads a definition from Redis keeps the parse of the exact
 * bytes Redis returned (the JSON and the scope are the key, compared in
 * full), so a cached entry can never differ from what a fresh parse would
 * give.  A lookup by id first reads the scopes' versions (see the header)
 * and skips the JSON when they did not move since it kept a parse for that
 * viewer and id (struct ver_entry).  One direct-mapped table of each per
 * Redis connection (lwm2m_redis_set_data). */

#define CACHE_SLOTS 64
#define CACHE_JSON_MAX 65536 /* larger definitions are parsed every time */

struct cache_entry {
	long long org;
	char *json;
	size_t len;
	struct lwm2m_objdef *def;
};

/* A parse found for (viewer, id), or for (viewer, ObjectID) under the key
 * "#<ObjectID>", while the scopes it depends on had the
 * version values in ver ("<viewer's>|<global>"): as long as Redis still
 * has those values, nothing it could return differs, and the lookup reads
 * the versions instead of the JSON.  def is held (lwm2m_objdef_hold). */
#define VER_MAX 128

struct ver_entry {
	long long viewer;
	char id[LWM2M_ID_SIZE];
	char ver[VER_MAX];
	struct lwm2m_objdef *def;
};

struct def_cache {
	struct cache_entry e[CACHE_SLOTS];
	struct ver_entry v[CACHE_SLOTS];
};

static const char cache_key; /* our lwm2m_redis_set_data key */

static void
cache_free(void *arg)
{
	struct def_cache *c = arg;

	for (size_t i = 0; c != NULL && i < CACHE_SLOTS; i++) {
		free(c->e[i].json);
		lwm2m_objdef_free(c->e[i].def);
		lwm2m_objdef_free(c->v[i].def);
	}
	free(c);
}

static struct def_cache *
cache_of(struct lwm2m_redis *redis)
{
	struct def_cache *c = lwm2m_redis_data(redis, &cache_key);

	if (c == NULL && (c = calloc(1, sizeof *c)) != NULL &&
	    lwm2m_redis_set_data(redis, &cache_key, c, cache_free) !=
	        LWM2M_OK) {
		free(c);
		c = NULL;
	}
	return c;
}

/* FNV-1a over the scope, the length and a sample of the bytes: it only
 * picks the slot; the entry is compared in full. */
static size_t
cache_slot(long long org, const char *json, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)org ^ len;
	size_t step = len / 64 + 1;

	for (size_t i = 0; i < len; i += step) {
		h = (h ^ (uint8_t)json[i]) * 1099511628211ull;
	}
	return (size_t)(h % CACHE_SLOTS);
}

/* The parsed definition stored as r (scope org), borrowed from the cache
 * until the next lookup on redis; *ret_owned is set when the definition
 * could not be cached and the caller must free it. */
static lwm2m_err
parse_cached(struct lwm2m_redis *redis, const redisReply *r, long long org,
             struct lwm2m_objdef **ret, bool *ret_owned)
{
	struct def_cache *c = cache_of(redis);
	struct cache_entry *e;
	struct lwm2m_objdef *def;
	char *json;
	lwm2m_err err;

	*ret_owned = true;
	if (c == NULL || r->len > CACHE_JSON_MAX) {
		return parse_stored(r, org, ret);
	}
	e = &c->e[cache_slot(org, r->str, r->len)];
	if (e->def != NULL && e->org == org && e->len == r->len &&
	    memcmp(e->json, r->str, r->len) == 0) {
		*ret = e->def;
		*ret_owned = false;
		return LWM2M_OK;
	}
	err = parse_stored(r, org, &def);
	if (err != LWM2M_OK || (json = malloc(r->len + 1)) == NULL) {
		*ret = def;
		return err;
	}
	memcpy(json, r->str, r->len);
	free(e->json);
	lwm2m_objdef_free(e->def);
	*e = (struct cache_entry){
	    .org = org, .json = json, .len = r->len, .def = def};
	*ret = def;
	*ret_owned = false;
	return LWM2M_OK;
}

static size_t
ver_slot(long long viewer, const char *id)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)viewer;

	for (const char *p = id; *p != '\0'; p++) {
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	}
	return (size_t)(h % CACHE_SLOTS);
}

/* The parse kept for (viewer, id) at versions ver, or NULL. */
static const struct lwm2m_objdef *
ver_find(struct lwm2m_redis *redis, long long viewer, const char *id,
         const char *ver)
{
	struct def_cache *c = cache_of(redis);
	struct ver_entry *e;

	if (c == NULL) {
		return NULL;
	}
	e = &c->v[ver_slot(viewer, id)];
	if (e->def == NULL || e->viewer != viewer || strcmp(e->id, id) != 0 ||
	    strcmp(e->ver, ver) != 0) {
		return NULL;
	}
	return e->def;
}

/* Keeps def (held) as what (viewer, id) gives at versions ver. */
static void
ver_keep(struct lwm2m_redis *redis, long long viewer, const char *id,
         const char *ver, const struct lwm2m_objdef *def)
{
	struct def_cache *c = cache_of(redis);
	struct ver_entry *e;

	if (c == NULL) {
		return;
	}
	e = &c->v[ver_slot(viewer, id)];
	lwm2m_objdef_free(e->def);
	e->viewer = viewer;
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->ver, sizeof(e->ver), "%s", ver);
	e->def = lwm2m_objdef_hold(def);
}

/* ---- the arguments of the Lua scripts ----------------------------------- */

struct args {
	int argc;
	const char **argv;
	size_t *lens;
	char **owned; /* rendered JSON and ObjectID strings */
	size_t n_owned;
};

static void
args_fini(struct args *a)
{
	for (size_t i = 0; i < a->n_owned; i++) {
		free(a->owned[i]);
	}
	free(a->owned);
	free(a->argv);
	free(a->lens);
	memset(a, 0, sizeof(*a));
}

static lwm2m_err
args_init(struct args *a, size_t n_defs, const char *script,
          const struct keys *k)
{
	size_t max = 6 + 3 * n_defs;

	memset(a, 0, sizeof(*a));
	a->argv = calloc(max, sizeof(*a->argv));
	a->lens = calloc(max, sizeof(*a->lens));
	a->owned = calloc(2 * n_defs + 1, sizeof(*a->owned));
	if (a->argv == NULL || a->lens == NULL || a->owned == NULL) {
		args_fini(a);
		return LWM2M_ENOMEM;
	}
	a->argv[a->argc++] = "EVAL";
	a->argv[a->argc++] = script;
	a->argv[a->argc++] = "3";
	a->argv[a->argc++] = k->hash;
	a->argv[a->argc++] = k->zset;
	a->argv[a->argc++] = k->ver;
	return LWM2M_OK;
}

static void
args_push(struct args *a, const char *s, size_t len)
{
	a->argv[a->argc] = s;
	a->lens[a->argc++] = len;
}

/* args_push_def adds id, ObjectID and JSON of def. */
static lwm2m_err
args_push_def(struct args *a, const struct lwm2m_objdef *def)
{
	char *json, *oid;
	size_t len;
	lwm2m_err err;

	err = lwm2m_objdef_json_render(def, NULL, false, &json, &len);
	if (err != LWM2M_OK) {
		return err;
	}
	a->owned[a->n_owned++] = json;
	oid = malloc(8);
	if (oid == NULL) {
		return LWM2M_ENOMEM;
	}
	a->owned[a->n_owned++] = oid;
	snprintf(oid, 8, "%u", (unsigned)def->object_id);
	args_push(a, def->id, strlen(def->id));
	args_push(a, oid, strlen(oid));
	args_push(a, json, len);
	return LWM2M_OK;
}

static void
args_fix_lens(struct args *a)
{
	for (int i = 0; i < 6 && i < a->argc; i++) {
		a->lens[i] = strlen(a->argv[i]);
	}
}

/* prepare_create checks defs among themselves, assigns ids and builds the
 * script arguments. */
static lwm2m_err
prepare_create(long long org, struct lwm2m_objdef *const *defs, size_t n,
               const struct keys *k, struct args *a, size_t *ret_index)
{
	lwm2m_err err;

	for (size_t i = 0; i < n; i++) {
		err = lwm2m_objdef_assign_ids(defs[i]);
		if (err != LWM2M_OK) {
			return err;
		}
		defs[i]->org = org;
		for (size_t j = 0; j < i; j++) {
			if (defs[j]->object_id == defs[i]->object_id ||
			    strcmp(defs[j]->id, defs[i]->id) == 0) {
				*ret_index = i;
				return LWM2M_EEXIST;
			}
		}
	}
	err = args_init(a, n, script_create, k);
	for (size_t i = 0; err == LWM2M_OK && i < n; i++) {
		err = args_push_def(a, defs[i]);
	}
	if (err != LWM2M_OK) {
		args_fini(a);
		return err;
	}
	args_fix_lens(a);
	return LWM2M_OK;
}

static lwm2m_err
create_result(const redisReply *r, size_t *ret_index)
{
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		return LWM2M_EBACKEND;
	}
	if (r->integer > 0) {
		*ret_index = (size_t)(r->integer - 1);
		return LWM2M_EEXIST;
	}
	return LWM2M_OK;
}

/* ---- asynchronous operations -------------------------------------------- */

enum action { A_GET, A_FIND, A_REPLACE, A_DELETE, A_LIST, A_CREATE };

struct op {
	struct lwm2m_redis *redis;
	enum action action;
	long long viewer;
	long long scope; /* scope being looked at */
	char id[LWM2M_ID_SIZE];
	uint16_t oid;
	struct lwm2m_objdef *def; /* replace: the new content */
	struct lwm2m_objdef_list list;
	lwm2m_objdef_get_cb get_cb;
	lwm2m_objdef_list_cb list_cb;
	lwm2m_objdef_done_cb done_cb;
	void *arg;
	/* A_GET, A_FIND: the scopes' versions (ver_entry), read before the
	 * JSON, and what the kept parse is for: the id, or "#<ObjectID>" */
	char ver[VER_MAX];
	char ver_key[LWM2M_ID_SIZE];
	char ver_viewer[VER_MAX / 2];
	char ver_global[VER_MAX / 2];
	int ver_pending;  /* GET replies still to come */
	bool ver_ok;      /* both versions exist: ver can be kept */
	bool ver_failed;  /* a GET failed */
	bool ver_abandon; /* the second GET could not be sent */
};

static void
op_free(struct op *op)
{
	lwm2m_objdef_free(op->def);
	lwm2m_objdef_list_fini(&op->list);
	free(op);
}

static void
op_done(struct op *op, lwm2m_err err, size_t index)
{
	op->done_cb(err, index, op->arg);
	op_free(op);
}

static lwm2m_err
op_new(struct lwm2m_redis *redis, enum action action, long long viewer,
       void *arg, struct op **ret_op)
{
	struct op *op = calloc(1, sizeof(*op));

	if (op == NULL) {
		return LWM2M_ENOMEM;
	}
	op->redis = redis;
	op->action = action;
	op->viewer = viewer;
	op->scope = viewer;
	op->arg = arg;
	lwm2m_objdef_list_init(&op->list);
	*ret_op = op;
	return LWM2M_OK;
}

static void on_lookup(struct lwm2m_redis *redis, redisReply *r, void *arg);

static lwm2m_err
send_lookup(struct op *op)
{
	struct keys k;
	char oid[8];

	keys_init(&k, op->scope);
	if (op->action != A_FIND) {
		return lwm2m_redis_cmd(op->redis, on_lookup, op, "HGET %s %s",
		                       k.hash, op->id);
	}
	snprintf(oid, sizeof(oid), "%u", (unsigned)op->oid);
	return lwm2m_redis_cmd(op->redis, on_lookup, op, "EVAL %s 2 %s %s %s",
	                       script_find, k.hash, k.zset, oid);
}

static void on_changed(struct lwm2m_redis *redis, redisReply *r, void *arg);

/* found runs the action on the visible definition old. */
static lwm2m_err
found(struct op *op, const struct lwm2m_objdef *old)
{
	struct keys k;

	if (op->action == A_GET || op->action == A_FIND) {
		if (op->ver_ok) {
			ver_keep(op->redis, op->viewer, op->ver_key, op->ver,
			         old);
		}
		op->get_cb(LWM2M_OK, old, op->arg);
		op_free(op);
		return LWM2M_OK;
	}
	if (!lwm2m_objdef_can_modify(old, op->viewer)) {
		op_done(op, LWM2M_EDENIED, 0);
		return LWM2M_OK;
	}
	keys_init(&k, old->org);
	if (op->action == A_DELETE) {
		return lwm2m_redis_cmd(op->redis, on_changed, op,
		                       "EVAL %s 3 %s %s %s %s", script_delete,
		                       k.hash, k.zset, k.ver, op->id);
	}
	return LWM2M_EINVAL; /* A_REPLACE goes through send_replace */
}

static lwm2m_err
send_replace(struct op *op, const struct lwm2m_objdef *old)
{
	struct keys k;
	struct args a;
	lwm2m_err err;

	if (!lwm2m_objdef_can_modify(old, op->viewer)) {
		op_done(op, LWM2M_EDENIED, 0);
		return LWM2M_OK;
	}
	memcpy(op->def->id, op->id, sizeof(op->id));
	op->def->org = old->org;
	lwm2m_objdef_keep_prop_ids(op->def, old);
	err = lwm2m_objdef_assign_ids(op->def);
	keys_init(&k, old->org);
	if (err == LWM2M_OK) {
		err = args_init(&a, 1, script_replace, &k);
	}
	if (err != LWM2M_OK) {
		return err;
	}
	err = args_push_def(&a, op->def);
	args_fix_lens(&a);
	if (err == LWM2M_OK) {
		err = lwm2m_redis_cmdargv(op->redis, on_changed, op, a.argc,
		                          a.argv, a.lens);
	}
	args_fini(&a);
	return err;
}

static lwm2m_err
lookup_reply(struct op *op, const redisReply *r)
{
	struct lwm2m_objdef *old;
	bool owned;
	lwm2m_err err;

	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		return LWM2M_EBACKEND;
	}
	if (r->type != REDIS_REPLY_STRING) {
		if (op->scope == LWM2M_OBJDEF_GLOBAL) {
			return LWM2M_ENOTFOUND;
		}
		op->scope = LWM2M_OBJDEF_GLOBAL;
		return send_lookup(op);
	}
	err = parse_cached(op->redis, r, op->scope, &old, &owned);
	if (err != LWM2M_OK) {
		return err;
	}
	err = op->action == A_REPLACE ? send_replace(op, old) : found(op, old);
	if (owned) {
		lwm2m_objdef_free(old);
	}
	return err;
}

static void
fail(struct op *op, lwm2m_err err)
{
	if (op->get_cb != NULL) {
		op->get_cb(err, NULL, op->arg);
		op_free(op);
	} else if (op->list_cb != NULL) {
		op->list_cb(err, NULL, op->arg);
		op_free(op);
	} else {
		op_done(op, err, 0);
	}
}

static void
on_lookup(struct lwm2m_redis *redis, redisReply *r, void *arg)
{
	struct op *op = arg;
	lwm2m_err err = lookup_reply(op, r);

	/* on success op now belongs to the next step or is gone */
	if (err != LWM2M_OK) {
		fail(op, err);
	}
}

static void
on_changed(struct lwm2m_redis *redis, redisReply *r, void *arg)
{
	struct op *op = arg;
	lwm2m_err err = LWM2M_EBACKEND;
	size_t index = 0;

	if (op->action == A_CREATE) {
		err = create_result(r, &index);
	} else if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
		err = r->integer == -2 ? LWM2M_EEXIST
		      : r->integer == -1 ||
		              (op->action == A_DELETE && r->integer == 0)
		          ? LWM2M_ENOTFOUND
		          : LWM2M_OK;
	}
	op_done(op, err, index);
}

static lwm2m_err
start_lookup(struct op *op)
{
	lwm2m_err err = send_lookup(op);

	if (err != LWM2M_OK) {
		op_free(op);
	}
	return err;
}

/* One scope's version into buf; false when the reply is no version.  A
 * scope without one ("-") has never been written through this module: it
 * gets one with its first definition (a tenant without definitions of its
 * own stays so, and its lookups still reuse their parses). */
static bool
ver_part(const redisReply *r, char *buf, size_t size)
{
	if (r->type == REDIS_REPLY_NIL && size > 1) {
		memcpy(buf, "-", 2);
		return true;
	}
	if (r->type != REDIS_REPLY_STRING || r->len == 0 ||
	    (size_t)r->len >= size) {
		return false;
	}
	memcpy(buf, r->str, (size_t)r->len);
	buf[r->len] = '\0';
	return true;
}

/* Both versions are in: the kept parse when they did not move, else the
 * JSON as always (keeping its parse if both versions exist). */
static void
versions_done(struct op *op)
{
	const struct lwm2m_objdef *def;
	lwm2m_err err;

	if (op->ver_abandon) {
		op_free(op);
		return;
	}
	if (op->ver_failed) {
		fail(op, LWM2M_EBACKEND);
		return;
	}
	if (op->ver_ok) {
		snprintf(op->ver, sizeof(op->ver), "%s|%s", op->ver_viewer,
		         op->ver_global);
		def = ver_find(op->redis, op->viewer, op->ver_key, op->ver);
		if (def != NULL) {
			op->get_cb(LWM2M_OK, def, op->arg);
			op_free(op);
			return;
		}
	}
	err = send_lookup(op);
	if (err != LWM2M_OK) {
		fail(op, err);
	}
}

static void
on_version(struct lwm2m_redis *redis, redisReply *r, void *arg, bool global)
{
	struct op *op = arg;

	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		op->ver_failed = true;
	} else if (!ver_part(r, global ? op->ver_global : op->ver_viewer,
	                     sizeof(op->ver_global))) {
		op->ver_ok = false;
	}
	if (--op->ver_pending == 0) {
		versions_done(op);
	}
}

static void
on_viewer_version(struct lwm2m_redis *redis, redisReply *r, void *arg)
{
	on_version(redis, r, arg, false);
}

static void
on_global_version(struct lwm2m_redis *redis, redisReply *r, void *arg)
{
	on_version(redis, r, arg, true);
}

/* A_GET and A_FIND start with the versions of the global scope and, for another
 * viewer, of the viewer's scope (two GETs: the keys are on different
 * cluster slots, so their replies may come in either order). */
static lwm2m_err
start_versions(struct op *op)
{
	struct keys k;
	lwm2m_err err;

	op->ver_ok = true;
	op->ver_pending = 1;
	keys_init(&k, LWM2M_OBJDEF_GLOBAL);
	err =
	    lwm2m_redis_cmd(op->redis, on_global_version, op, "GET %s", k.ver);
	if (err != LWM2M_OK) {
		op_free(op);
		return err;
	}
	if (op->viewer == LWM2M_OBJDEF_GLOBAL) {
		return LWM2M_OK;
	}
	keys_init(&k, op->viewer);
	op->ver_pending++;
	if (lwm2m_redis_cmd(op->redis, on_viewer_version, op, "GET %s",
	                    k.ver) != LWM2M_OK) {
		/* the first GET's reply ends op without a callback */
		op->ver_pending--;
		op->ver_abandon = true;
		return LWM2M_EBACKEND;
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_objdef_store_get(struct lwm2m_redis *redis, long long viewer_org,
                       const char *id, lwm2m_objdef_get_cb cb, void *arg)
{
	struct op *op;

	if (!lwm2m_id_valid(id, strlen(id))) {
		return LWM2M_EINVAL;
	}
	if (op_new(redis, A_GET, viewer_org, arg, &op) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	snprintf(op->id, sizeof(op->id), "%s", id);
	memcpy(op->ver_key, op->id, sizeof(op->ver_key));
	op->get_cb = cb;
	return start_versions(op);
}

lwm2m_err
lwm2m_objdef_store_find(struct lwm2m_redis *redis, long long viewer_org,
                        uint16_t object_id, lwm2m_objdef_get_cb cb, void *arg)
{
	struct op *op;

	if (op_new(redis, A_FIND, viewer_org, arg, &op) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	op->oid = object_id;
	/* ids are base64url: "#" keeps the two kinds of key apart */
	snprintf(op->ver_key, sizeof(op->ver_key), "#%u", (unsigned)object_id);
	op->get_cb = cb;
	return start_versions(op);
}

lwm2m_err
lwm2m_objdef_store_replace(struct lwm2m_redis *redis, long long viewer_org,
                           const char *id, const struct lwm2m_objdef *def,
                           lwm2m_objdef_done_cb cb, void *arg)
{
	struct op *op;

	if (!lwm2m_id_valid(id, strlen(id))) {
		return LWM2M_EINVAL;
	}
	if (op_new(redis, A_REPLACE, viewer_org, arg, &op) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	if (lwm2m_objdef_dup(def, &op->def) != LWM2M_OK) {
		op_free(op);
		return LWM2M_ENOMEM;
	}
	snprintf(op->id, sizeof(op->id), "%s", id);
	op->done_cb = cb;
	return start_lookup(op);
}

lwm2m_err
lwm2m_objdef_store_delete(struct lwm2m_redis *redis, long long viewer_org,
                          const char *id, lwm2m_objdef_done_cb cb, void *arg)
{
	struct op *op;

	if (!lwm2m_id_valid(id, strlen(id))) {
		return LWM2M_EINVAL;
	}
	if (op_new(redis, A_DELETE, viewer_org, arg, &op) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	snprintf(op->id, sizeof(op->id), "%s", id);
	op->done_cb = cb;
	return start_lookup(op);
}

lwm2m_err
lwm2m_objdef_store_create(struct lwm2m_redis *redis, long long org,
                          struct lwm2m_objdef *const *defs, size_t n,
                          lwm2m_objdef_done_cb cb, void *arg)
{
	struct keys k;
	struct args a;
	struct op *op;
	size_t index = 0;
	lwm2m_err err;

	if (n == 0 || n > LWM2M_OBJDEF_MAX_DEFS) {
		return LWM2M_EINVAL;
	}
	keys_init(&k, org);
	err = prepare_create(org, defs, n, &k, &a, &index);
	if (err == LWM2M_EEXIST) {
		cb(err, index, arg);
		return LWM2M_OK;
	}
	if (err != LWM2M_OK) {
		return err;
	}
	err = op_new(redis, A_CREATE, org, arg, &op);
	if (err == LWM2M_OK) {
		op->done_cb = cb;
		err = lwm2m_redis_cmdargv(redis, on_changed, op, a.argc, a.argv,
		                          a.lens);
		if (err != LWM2M_OK) {
			op_free(op);
		}
	}
	args_fini(&a);
	return err;
}

/* ---- listing ------------------------------------------------------------ */

/* add_values parses an HVALS reply into list; with skip_overridden,
 * definitions whose ObjectID the list has already are left out. */
static lwm2m_err
add_values(struct lwm2m_objdef_list *list, const redisReply *r, long long org,
           bool skip_overridden)
{
	size_t own = list->n;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		return LWM2M_EBACKEND;
	}
	for (size_t i = 0; i < r->elements; i++) {
		struct lwm2m_objdef *def;
		lwm2m_err err;

		if (r->element[i]->type != REDIS_REPLY_STRING) {
			return LWM2M_EBACKEND;
		}
		err = parse_stored(r->element[i], org, &def);
		if (err != LWM2M_OK) {
			return err;
		}
		if (skip_overridden) {
			struct lwm2m_objdef_list mine = {list->defs, own, own};

			if (lwm2m_objdef_list_find(&mine, def->object_id)) {
				lwm2m_objdef_free(def);
				continue;
			}
		}
		err = lwm2m_objdef_list_add(list, def);
		if (err != LWM2M_OK) {
			return err;
		}
	}
	return LWM2M_OK;
}

static void
on_hvals(struct lwm2m_redis *redis, redisReply *r, void *arg)
{
	struct op *op = arg;
	bool global = op->scope == LWM2M_OBJDEF_GLOBAL;
	lwm2m_err err = add_values(&op->list, r, op->scope,
	                           global && op->viewer != LWM2M_OBJDEF_GLOBAL);
	struct keys k;

	if (err == LWM2M_OK && !global) {
		op->scope = LWM2M_OBJDEF_GLOBAL;
		keys_init(&k, op->scope);
		err = lwm2m_redis_cmd(redis, on_hvals, op, "HVALS %s", k.hash);
		if (err == LWM2M_OK) {
			return;
		}
	}
	if (err == LWM2M_OK) {
		lwm2m_objdef_list_sort(&op->list);
	}
	op->list_cb(err, err == LWM2M_OK ? &op->list : NULL, op->arg);
	op_free(op);
}

lwm2m_err
lwm2m_objdef_store_list(struct lwm2m_redis *redis, long long viewer_org,
                        lwm2m_objdef_list_cb cb, void *arg)
{
	struct op *op;
	struct keys k;
	lwm2m_err err;

	if (op_new(redis, A_LIST, viewer_org, arg, &op) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	op->list_cb = cb;
	keys_init(&k, viewer_org);
	err = lwm2m_redis_cmd(redis, on_hvals, op, "HVALS %s", k.hash);
	if (err != LWM2M_OK) {
		op_free(op);
	}
	return err;
}

/* ---- blocking variants -------------------------------------------------- */

lwm2m_err
lwm2m_objdef_sync_create(redisContext *c, long long org,
                         struct lwm2m_objdef *const *defs, size_t n,
                         size_t *ret_index)
{
	struct keys k;
	struct args a;
	redisReply *r;
	size_t index = 0;
	lwm2m_err err;

	if (n == 0 || n > LWM2M_OBJDEF_MAX_DEFS) {
		return LWM2M_EINVAL;
	}
	keys_init(&k, org);
	err = prepare_create(org, defs, n, &k, &a, &index);
	if (err == LWM2M_OK) {
		r = redisCommandArgv(c, a.argc, a.argv, a.lens);
		err = create_result(r, &index);
		freeReplyObject(r);
		args_fini(&a);
	}
	if (err == LWM2M_EEXIST && ret_index != NULL) {
		*ret_index = index;
	}
	return err;
}

lwm2m_err
lwm2m_objdef_sync_list(redisContext *c, long long org,
                       struct lwm2m_objdef_list *list)
{
	struct keys k;
	redisReply *r;
	lwm2m_err err;

	keys_init(&k, org);
	r = redisCommand(c, "HVALS %s", k.hash);
	err = add_values(list, r, org, false);
	freeReplyObject(r);
	lwm2m_objdef_list_sort(list);
	return err;
}

lwm2m_err
lwm2m_objdef_sync_delete(redisContext *c, long long org, const char *id)
{
	struct keys k;
	redisReply *r;
	lwm2m_err err = LWM2M_EBACKEND;

	keys_init(&k, org);
	r = redisCommand(c, "EVAL %s 3 %s %s %s %s", script_delete, k.hash,
	                 k.zset, k.ver, id);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
		err = r->integer == 1 ? LWM2M_OK : LWM2M_ENOTFOUND;
	}
	freeReplyObject(r);
	return err;
}

lwm2m_err
lwm2m_objdef_sync_install(redisContext *c, long long org,
                          const struct lwm2m_objdef_list *list,
                          size_t *ret_installed)
{
	struct lwm2m_objdef_list have;
	size_t installed = 0;
	lwm2m_err err;

	lwm2m_objdef_list_init(&have);
	err = lwm2m_objdef_sync_list(c, org, &have);
	for (size_t i = 0; err == LWM2M_OK && i < list->n; i++) {
		struct lwm2m_objdef *def;

		if (lwm2m_objdef_list_find(&have, list->defs[i]->object_id)) {
			continue;
		}
		err = lwm2m_objdef_dup(list->defs[i], &def);
		if (err != LWM2M_OK) {
			break;
		}
		err = lwm2m_objdef_sync_create(c, org, &def, 1, NULL);
		err = err == LWM2M_EEXIST ? LWM2M_OK : err; /* raced: fine */
		installed += err == LWM2M_OK;
		lwm2m_objdef_free(def);
	}
	lwm2m_objdef_list_fini(&have);
	if (err == LWM2M_OK) {
		struct keys k;
		redisReply *r;

		keys_init(&k, org);
		r = redisCommand(c, "EVAL %s 3 %s %s %s", script_ensure_version,
		                 k.hash, k.zset, k.ver);
		err = r != NULL && r->type == REDIS_REPLY_INTEGER
		          ? LWM2M_OK
		          : LWM2M_EBACKEND;
		freeReplyObject(r);
	}
	if (err == LWM2M_OK && ret_installed != NULL) {
		*ret_installed = installed;
	}
	return err;
}
