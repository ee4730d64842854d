/* brk_notify.c - observation notifications (REST spec 6.6, 6.7): a "notify"
 * entry of the gateways' event stream reaches every Observation
 * subscription of that client on its path or an ancestor path; each one is
 * filtered by its own attributes (pmin, pmax, step, lt, gt, against the
 * last value delivered to it, kept in its record) and gets a delivery job
 * with the body of spec 6.7: the object instance rendered with its
 * definition (lwm2m_instance.h) in JSON or XML, relative links, UTC time. */
#define _GNU_SOURCE /* asprintf */
#include "brk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "lwm2m_instance.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_objdef_store.h"
#include "lwm2m_redis.h"

#define NOTIFY_SUBS_MAX 1000 /* subscriptions of one path and ancestors */
#define DEFCACHE_SIZE 64
#define DEFCACHE_TTL_MS 5000

#define SUBS_POOL 256 /* spare one-subscription arrays kept for reuse */

struct obs_sub;

/* Per-context state of this module: the definitions, and spare arrays of
 * one obs_sub (2.7 KiB: a malloc that size per notification made glibc
 * consolidate its free lists every time). */
struct brk_defcache {
	struct obs_sub *pool[SUBS_POOL];
	size_t n_pool;
	struct {
		long long org;
		uint16_t oid;
		int64_t until; /* ms; 0: empty */
		struct lwm2m_objdef *def;
	} slot[DEFCACHE_SIZE];
};

lwm2m_err
brk__defcache_new(struct brk_defcache **ret_cache)
{
	struct brk_defcache *c = calloc(1, sizeof *c);

	if (c == NULL) {
		return LWM2M_ENOMEM;
	}
	*ret_cache = c;
	return LWM2M_OK;
}

void
brk__defcache_free(struct brk_defcache *c)
{
	if (c == NULL) {
		return;
	}
	for (size_t i = 0; i < DEFCACHE_SIZE; i++) {
		lwm2m_objdef_free(c->slot[i].def);
	}
	for (size_t i = 0; i < c->n_pool; i++) {
		free(c->pool[i]);
	}
	free(c);
}

static const struct lwm2m_objdef *
defcache_get(struct brk_defcache *c, long long org, uint16_t oid)
{
	int64_t now = lwm2m_mono_ms();

	for (size_t i = 0; i < DEFCACHE_SIZE; i++) {
		if (c->slot[i].until > now && c->slot[i].org == org &&
		    c->slot[i].oid == oid) {
			return c->slot[i].def;
		}
	}
	return NULL;
}

/* Keeps a copy of def, in the slot that expires first. */
static void
defcache_put(struct brk_defcache *c, long long org,
             const struct lwm2m_objdef *def)
{
	size_t oldest = 0;
	struct lwm2m_objdef *copy;

	if (lwm2m_objdef_dup(def, &copy) != LWM2M_OK) {
		return;
	}
	for (size_t i = 1; i < DEFCACHE_SIZE; i++) {
		if (c->slot[i].until < c->slot[oldest].until) {
			oldest = i;
		}
	}
	lwm2m_objdef_free(c->slot[oldest].def);
	c->slot[oldest].org = org;
	c->slot[oldest].oid = def->object_id;
	c->slot[oldest].def = copy;
	c->slot[oldest].until = lwm2m_mono_ms() + DEFCACHE_TTL_MS;
}

/* KEYS the client's observed hash, then the obsubs set of each candidate
 * path; ARGV the notified path, limit, then the candidate paths in the
 * order of their KEYS.  Returns the ids (at most limit) of the Observation
 * subscriptions to offer the notification of path to: those of the path
 * itself, of each ancestor path (an instance subscription gets the
 * notifications of its resources) and of each descendant path (a resource
 * subscription gets the notifications of its instance: spec 6.6).  A
 * subscription on another path than the notified one is offered it only
 * when its own path holds no observation: otherwise the device notifies
 * that path too, and each change would reach the subscription twice.  The
 * candidate paths come from the client's obspaths (related()); every key
 * is of the client's slot and declared. */
const char brk__lua_notify_subs[] =
    "local path, max = ARGV[1], tonumber(ARGV[2]) "
    "local out, seen = {}, {} "
    "for i = 2, #KEYS do "
    "local p = ARGV[i + 1] "
    "if p == path or redis.call('HEXISTS', KEYS[1], p) == 0 then "
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[i])) do "
    "if #out < max and not seen[id] then seen[id] = true "
    "table.insert(out, id) end end end end "
    "return out";

/* KEYS the subscription's filter state (LWM2M_KEY_SUB_FILTER), the
 * deliveries stream: one slot, {deliveries}; ARGV time (ms), value ("":
 * none), job, then the subscription's pmin, pmax, stp, lt, gt ("": unset).
 * The filter of the subscription's attributes and the queueing of its job
 * in one step, so brokers sharing the events (or two notifications in
 * flight in one broker) never both pass a filter: not sooner than pmin
 * after the last delivery, never a notification older than it; with step,
 * lt or gt, a change of at least step since the last value delivered or a
 * crossing of lt/gt, unless pmax has passed.  Returns 1 when queued, 0
 * when filtered out or when the filter state is the string a subscription
 * DELETE leaves (the subscription was deleted after this broker read it:
 * nothing is queued and no filter hash is created again). */
const char brk__lua_deliver[] =
    "local h = redis.pcall('HMGET', KEYS[1], 'lastt', 'lastv') "
    "if h.err then return 0 end "
    "local now, v = tonumber(ARGV[1]), tonumber(ARGV[2]) "
    "local lastt, lastv = tonumber(h[1]), tonumber(h[2]) "
    "local pmin, pmax = tonumber(ARGV[4]) or 0, tonumber(ARGV[5]) or 0 "
    "local stp, lt, gt = tonumber(ARGV[6]), tonumber(ARGV[7]), "
    "tonumber(ARGV[8]) "
    "if lastt then "
    "if now < lastt or now - lastt < pmin * 1000 then return 0 end "
    "if (stp or lt or gt) and v and lastv and "
    "not (pmax > 0 and now - lastt >= pmax * 1000) then "
    "local function crossed(l) return l and ((lastv < l) ~= (v < l)) end "
    "if not ((stp and math.abs(v - lastv) >= stp) or crossed(lt) or "
    "crossed(gt)) then return 0 end end end "
    "redis.call('HSET', KEYS[1], 'lastt', ARGV[1], 'lastv', ARGV[2]) "
    "redis.call('XADD', KEYS[2], '*', '" LWM2M_DELIVERY_FIELD "', ARGV[3]) "
    "return 1";

#define RELATED_MAX 64 /* candidate paths offered to the script */

struct obs_sub {
	struct brk_sub sub;
	char def[LWM2M_ID_SIZE];
	long inst, prop;   /* -1 when unset */
	char attrs[5][33]; /* pmin pmax stp lt gt */
};

struct notif {
	struct brk_ctx *ctx;
	struct brk_entry *entry;
	char client[LWM2M_ID_SIZE];
	long long org;
	struct lwm2m_path path;
	int ct;
	long long ts; /* ms, when the gateway got it */
	uint8_t *payload;
	size_t len;
	struct obs_sub *subs;
	size_t n_subs, subs_cap;
	/* the fast path (no Lua): ids of the path's subscriptions, then
	 * their records */
	char path_text[48];
	char (*ids)[LWM2M_ID_SIZE];
	size_t n_ids, next_rec;
	unsigned waiting;    /* replies still to come in this stage */
	bool other_paths;    /* a subscription elsewhere may want it: Lua */
	char (*related)[48]; /* those paths (other_paths) */
	size_t n_related;
	bool failed;
};

/* An array for n subscriptions (read_sub zeroes each). */
static struct obs_sub *
subs_alloc(struct notif *n, size_t cap)
{
	struct brk_defcache *c = brk__defcache(n->ctx);

	n->subs_cap = cap;
	if (cap == 1 && c->n_pool > 0) {
		return c->pool[--c->n_pool];
	}
	return malloc(cap * sizeof(struct obs_sub));
}

static void
notif_free(struct notif *n)
{
	struct brk_defcache *c = brk__defcache(n->ctx);

	brk__entry_unref(n->entry);
	free(n->payload);
	if (n->subs != NULL && n->subs_cap == 1 && c->n_pool < SUBS_POOL) {
		c->pool[c->n_pool++] = n->subs;
	} else {
		free(n->subs);
	}
	free(n->ids);
	free(n->related);
	free(n);
}

/* ---- subscriptions of the notification ---------------------------------- */

static long
num_field(const redisReply *v)
{
	long long x;

	return lwm2m_parse_int(v->str, 0, 65535, &x) == LWM2M_OK ? (long)x : -1;
}

static void
obs_field(struct obs_sub *o, const redisReply *k, const redisReply *v)
{
	static const char *const attrs[] = {"pmin", "pmax", "stp", "lt", "gt"};

	if (strcmp(k->str, "def") == 0 && v->len < sizeof o->def) {
		memcpy(o->def, v->str, v->len + 1);
	} else if (strcmp(k->str, "inst") == 0) {
		o->inst = num_field(v);
	} else if (strcmp(k->str, "prop") == 0) {
		o->prop = num_field(v);
	}
	for (int a = 0; a < 5; a++) {
		if (strcmp(k->str, attrs[a]) == 0 &&
		    v->len < sizeof o->attrs[a]) {
			memcpy(o->attrs[a], v->str, v->len + 1);
		}
	}
}

static bool
read_sub(struct notif *n, const char *id, const redisReply *h)
{
	struct obs_sub *o = &n->subs[n->n_subs];

	memset(o, 0, sizeof *o);
	o->inst = o->prop = -1;
	if (h->type != REDIS_REPLY_ARRAY ||
	    brk_sub_parse(id, h, &o->sub) != LWM2M_OK || o->sub.org != n->org ||
	    strcmp(o->sub.client, n->client) != 0 ||
	    strcmp(o->sub.type, "Observation") != 0) {
		return false;
	}
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		if (h->element[i]->type == REDIS_REPLY_STRING &&
		    h->element[i + 1]->type == REDIS_REPLY_STRING) {
			obs_field(o, h->element[i], h->element[i + 1]);
		}
	}
	return true;
}

/* ---- filtering (each subscription sees what its attributes ask) ---------- */

bool
brk__watched_value(struct lwm2m_tree *tree, const struct lwm2m_path *path,
                   int prop, const struct lwm2m_objdef *def, bool text,
                   double *ret)
{
	struct lwm2m_path p = *path;
	const struct lwm2m_node *inst, *node;
	const struct lwm2m_propdef *pd;
	struct lwm2m_value v;
	uint16_t rid;

	if (prop >= 0 && p.len >= 2) {
		p.len = 3;
		p.ids[2] = (uint16_t)prop;
	}
	if (p.len != 3) {
		return false;
	}
	rid = p.ids[2];
	p.len = 2;
	if ((inst = lwm2m_tree_get(tree, &p)) == NULL ||
	    (pd = lwm2m_objdef_prop(def, rid)) == NULL ||
	    (node = lwm2m_instance_prop_node(inst, pd)) == NULL ||
	    (node->kind != LWM2M_NODE_RESOURCE &&
	     node->kind != LWM2M_NODE_RESOURCE_INSTANCE)) {
		return false;
	}
	v = node->value;
	if (lwm2m_value_coerce(tree, &v, LWM2M_TYPE_FLOAT, text, NULL) !=
	    LWM2M_OK) {
		return false;
	}
	*ret = v.v.f;
	return true;
}

/* true when the subscription has attributes: its deliveries go through the
 * filter script (brk__lua_deliver) */
static bool
filtered(const struct obs_sub *o)
{
	for (int a = 0; a < 5; a++) {
		if (o->attrs[a][0] != '\0') {
			return true;
		}
	}
	return false;
}

/* true when the decoded instance holds resource rid (spec 6.6: a property
 * subscription matches the notifications that contain its property) */
static bool
has_resource(const struct lwm2m_node *inst, long rid)
{
	for (const struct lwm2m_node *c = inst->first_child; c != NULL;
	     c = c->next_sibling) {
		if (c->id == rid) {
			return true;
		}
	}
	return false;
}

/* ---- the body of spec 6.7 ------------------------------------------------ */

static const struct lwm2m_node *
instance_node(struct lwm2m_tree *tree, const struct notif *n,
              const struct obs_sub *o)
{
	struct lwm2m_path p = n->path;
	const struct lwm2m_node *obj;

	if (p.len >= 2) {
		p.len = 2;
		return lwm2m_tree_get(tree, &p);
	}
	p.len = 1;
	obj = lwm2m_tree_get(tree, &p);
	for (const struct lwm2m_node *c = obj ? obj->first_child : NULL;
	     c != NULL; c = c->next_sibling) {
		if (o->inst < 0 || c->id == o->inst) {
			return c;
		}
	}
	return NULL;
}

static void
links(char *buf, size_t size, const struct notif *n, const struct obs_sub *o,
      const struct lwm2m_objdef *def, unsigned iid, bool xml)
{
	if (xml) {
		snprintf(
		    buf, size,
		    "<Links><Link rel=\"subscription\" href=\"/subscriptions/"
		    "%s\" /><Link rel=\"client\" href=\"/clients/%s\" />"
		    "<Link rel=\"object\" href=\"/clients/%s/objecttypes/%s/"
		    "instances/%u\" /><Link rel=\"definition\" href=\"/"
		    "objecttypes/definitions/%s\" /></Links>",
		    o->sub.id, n->client, n->client, def->id, iid, def->id);
		return;
	}
	snprintf(buf, size,
	         "[{\"rel\":\"subscription\",\"href\":\"/subscriptions/%s\"},"
	         "{\"rel\":\"client\",\"href\":\"/clients/%s\"},{\"rel\":"
	         "\"object\",\"href\":\"/clients/%s/objecttypes/%s/instances/"
	         "%u\"},{\"rel\":\"definition\",\"href\":\"/objecttypes/"
	         "definitions/%s\"}]",
	         o->sub.id, n->client, n->client, def->id, iid, def->id);
}

static char *
render(const struct notif *n, const struct obs_sub *o,
       const struct lwm2m_objdef *def, struct lwm2m_tree *tree,
       const struct lwm2m_node *inst, size_t *ret_len)
{
	struct lwm2m_instance_render r = {.def = def,
	                                  .tree = tree,
	                                  .raw_is_text =
	                                      n->ct == LWM2M_FMT_TEXT ||
	                                      n->ct == LWM2M_FMT_LEGACY_TEXT};
	bool xml = brk_sub_is_xml(&o->sub);
	char l[1024], when[32], *value = NULL, *body = NULL;
	size_t vlen;
	int len;

	if ((xml ? lwm2m_instance_to_xml(&r, inst, &value, &vlen)
	         : lwm2m_instance_to_json(&r, inst, &value, &vlen)) !=
	    LWM2M_OK) {
		return NULL;
	}
	links(l, sizeof l, n, o, def, inst->id, xml);
	lwm2m_time_iso8601(lwm2m_now_ms() / 1000, when, sizeof when);
	len = xml ? asprintf(&body,
	                     "<Notifications><Items><Notification>%s"
	                     "<TimeTriggered>%s</TimeTriggered>"
	                     "<SubscriptionType>Observation</SubscriptionType>"
	                     "<Value>%s</Value></Notification></Items>"
	                     "</Notifications>",
	                     l, when,
	                     strncmp(value, "<?xml", 5) == 0
	                         ? strchr(value, '>') + 1
	                         : value)
	          : asprintf(&body,
	                     "{\"Items\":[{\"Links\":%s,\"TimeTriggered\":"
	                     "\"%s\",\"SubscriptionType\":\"Observation\","
	                     "\"Value\":%s}]}",
	                     l, when, value);
	free(value);
	if (len < 0) {
		return NULL;
	}
	*ret_len = (size_t)len;
	return body;
}

/* ---- queueing ------------------------------------------------------------ */

static void
on_job(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct brk_entry *entry = arg;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_ERR, "XADD of a notification failed: %s",
		          reply ? reply->str : "connection lost");
	}
	brk__entry_unref(entry);
}

/* the filter script (brk__lua_deliver) for the job of o */
static lwm2m_err
deliver_filtered(struct notif *n, const struct obs_sub *o, const char *job,
                 size_t job_len, bool has_v, double v)
{
	char key[96], val[48], ts[24];
	const char *argv[] = {"2",
	                      key,
	                      LWM2M_KEY_DELIVERIES,
	                      ts,
	                      has_v ? val : "",
	                      job,
	                      o->attrs[0],
	                      o->attrs[1],
	                      o->attrs[2],
	                      o->attrs[3],
	                      o->attrs[4]};
	size_t lens[11];

	snprintf(key, sizeof key, LWM2M_KEY_SUB_FILTER, o->sub.id);
	snprintf(val, sizeof val, "%.17g", has_v ? v : 0.0);
	snprintf(ts, sizeof ts, "%lld", n->ts);
	for (size_t i = 0; i < 11; i++) {
		lens[i] = argv[i] == job ? job_len : strlen(argv[i]);
	}
	return brk__lua_runargv(n->ctx, BRK_LUA_DELIVER, on_job, n->entry, 11,
	                        argv, lens);
}

/* Queues the job of o: a plain XADD without attributes, else the filter
 * script, which decides and queues in one step (an entry handled again
 * after a crash is then filtered like the first time). */
static void
deliver(struct notif *n, struct obs_sub *o, const char *body, size_t len,
        bool has_v, double v)
{
	char *job = NULL, did[LWM2M_ID_SIZE];
	size_t job_len;
	lwm2m_err err;

	if (brk_job_new(&o->sub, body, len, &job, &job_len, did) != LWM2M_OK) {
		return;
	}
	brk__entry_ref(n->entry);
	if (filtered(o)) {
		err = deliver_filtered(n, o, job, job_len, has_v, v);
	} else {
		err = lwm2m_redis_cmd(brk__redis(n->ctx), on_job, n->entry,
		                      "XADD %s * %s %b", LWM2M_KEY_DELIVERIES,
		                      LWM2M_DELIVERY_FIELD, job, job_len);
	}
	if (err != LWM2M_OK) {
		brk__entry_unref(n->entry);
	} else {
		lwm2m_log(LWM2M_LOG_DEBUG,
		          "queued Observation sub=%s id=%s delivery=%s%s",
		          o->sub.id, n->client, did,
		          filtered(o) ? " (if its filter passes)" : "");
	}
	free(job);
}

static void
fan_out(struct notif *n, const struct lwm2m_objdef *def,
        struct lwm2m_tree *tree)
{
	for (size_t i = 0; i < n->n_subs; i++) {
		struct obs_sub *o = &n->subs[i];
		const struct lwm2m_node *inst = instance_node(tree, n, o);
		double v = 0;
		bool has_v;
		char *body;
		size_t len;

		if (inst == NULL || (o->inst >= 0 && inst->id != o->inst) ||
		    strcmp(o->def, def->id) != 0 ||
		    (o->prop >= 0 && !has_resource(inst, o->prop))) {
			continue;
		}
		has_v = filtered(o) &&
		        brk__watched_value(tree, &n->path, o->prop, def,
		                           n->ct == LWM2M_FMT_TEXT ||
		                               n->ct == LWM2M_FMT_LEGACY_TEXT,
		                           &v);
		body = render(n, o, def, tree, inst, &len);
		if (body != NULL) {
			deliver(n, o, body, len, has_v, v);
		}
		free(body);
	}
}

static void
on_def(lwm2m_err err, const struct lwm2m_objdef *def, void *arg)
{
	struct notif *n = arg;
	struct lwm2m_tree tree;
	struct lwm2m_diag diag = {0};

	lwm2m_tree_init(&tree, NULL);
	if (err == LWM2M_OK && def->object_id == n->path.ids[0] &&
	    defcache_get(brk__defcache(n->ctx), n->org, def->object_id) ==
	        NULL) {
		defcache_put(brk__defcache(n->ctx), n->org, def);
	}
	if (err != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "notification id=%s object %u: no "
		          "definition (%s), not delivered",
		          n->client, n->path.ids[0], lwm2m_strerror(err));
	} else if (n->ct < 0 ||
	           lwm2m_decode((enum lwm2m_format)n->ct, n->payload, n->len,
	                        &n->path, &tree, &diag) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "notification id=%s ct=%d "
		          "undecodable: %s",
		          n->client, n->ct, diag.msg);
	} else {
		fan_out(n, def, &tree);
	}
	lwm2m_tree_fini(&tree);
	notif_free(n);
}

/* The subscriptions are read: find the definition, then fan out. */
static void
with_subs(struct notif *n)
{
	const struct lwm2m_objdef *def;

	if (n->n_subs == 0) {
		notif_free(n);
		return;
	}
	def = defcache_get(brk__defcache(n->ctx), n->org, n->path.ids[0]);
	if (def != NULL) {
		on_def(LWM2M_OK, def, n);
	} else if (lwm2m_objdef_store_find(brk__redis(n->ctx), n->org,
	                                   n->path.ids[0], on_def,
	                                   n) != LWM2M_OK) {
		notif_free(n);
	}
}

/* ---- the fast path: plain commands, no Lua --------------------------------
 * Most notifications concern one observed path whose subscriptions are all
 * on that path.  Then SMEMBERS of the client's obspaths and of the path's
 * obsubs (sent together) and one HGETALL per subscription cost Redis about
 * a third of brk__lua_notify_subs (Lua's own overhead dominates it); when
 * obspaths holds an ancestor or descendant of the path, the script
 * decides instead. */

/* true when p is an ancestor or a descendant of path */
static bool
related(const char *p, size_t len, const char *path)
{
	size_t plen = strlen(path);

	if (len > plen) {
		return strncmp(p, path, plen) == 0 && p[plen] == '/';
	}
	return len < plen && strncmp(path, p, len) == 0 && path[len] == '/';
}

static void
on_rec(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct notif *n = arg;
	const char *id = n->ids[n->next_rec++]; /* replies come in order */

	if (reply == NULL) {
		n->failed = true;
	} else if (!n->failed) {
		n->n_subs += read_sub(n, id, reply);
	}
	if (--n->waiting > 0) {
		return;
	}
	if (n->failed) {
		notif_free(n);
	} else {
		with_subs(n);
	}
}

/* Every id of the path is known: read their records. */
static void
read_records(struct notif *n)
{
	char key[96];

	n->subs = subs_alloc(n, n->n_ids);
	if (n->subs == NULL) {
		notif_free(n);
		return;
	}
	n->waiting = 1; /* until every HGETALL is out */
	for (size_t i = 0; i < n->n_ids; i++) {
		snprintf(key, sizeof key, LWM2M_KEY_SUB, n->ids[i]);
		if (lwm2m_redis_cmd(brk__redis(n->ctx), on_rec, n, "HGETALL %s",
		                    key) != LWM2M_OK) {
			n->failed = true;
			break;
		}
		n->waiting++;
	}
	if (--n->waiting > 0) {
		return;
	}
	if (n->failed) {
		notif_free(n);
	} else {
		with_subs(n);
	}
}

/* the script's ids replace those of the path alone: read their records */
static void
on_subs(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct notif *n = arg;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements == 0) {
		notif_free(n);
		return;
	}
	free(n->ids);
	n->n_ids = 0;
	n->ids = malloc(reply->elements * sizeof *n->ids);
	for (size_t i = 0; n->ids != NULL && i < reply->elements; i++) {
		const redisReply *id = reply->element[i];

		if (id->type == REDIS_REPLY_STRING && id->len == LWM2M_ID_LEN) {
			memcpy(n->ids[n->n_ids++], id->str, LWM2M_ID_SIZE);
		}
	}
	if (n->n_ids == 0) {
		notif_free(n);
		return;
	}
	read_records(n);
}

/* the script over the path and its related paths (brk__lua_notify_subs) */
static lwm2m_err
related_subs(struct notif *n)
{
	size_t nk = 2 + n->n_related, argc = 0;
	char(*keys)[160] = malloc(nk * sizeof *keys);
	const char **argv = malloc((2 * nk + 3) * sizeof *argv);
	char numkeys[16], limit[16];
	lwm2m_err err = LWM2M_ENOMEM;

	if (keys != NULL && argv != NULL) {
		snprintf(numkeys, sizeof numkeys, "%zu", nk);
		snprintf(limit, sizeof limit, "%d", NOTIFY_SUBS_MAX);
		snprintf(keys[0], 160, LWM2M_KEY_CLIENT_OBSERVED, n->client);
		snprintf(keys[1], 160, LWM2M_KEY_CLIENT_OBS_SUBS, n->client,
		         n->path_text);
		for (size_t i = 0; i < n->n_related; i++) {
			snprintf(keys[2 + i], 160, LWM2M_KEY_CLIENT_OBS_SUBS,
			         n->client, n->related[i]);
		}
		argv[argc++] = numkeys;
		for (size_t i = 0; i < nk; i++) {
			argv[argc++] = keys[i];
		}
		argv[argc++] = n->path_text;
		argv[argc++] = limit;
		argv[argc++] = n->path_text;
		for (size_t i = 0; i < n->n_related; i++) {
			argv[argc++] = n->related[i];
		}
		err = brk__lua_runargv(n->ctx, BRK_LUA_NOTIFY_SUBS, on_subs, n,
		                       (int)argc, argv, NULL);
	}
	free(keys);
	free(argv);
	return err;
}

/* Both SMEMBERS answered: records, the script, or nothing to do. */
static void
ids_known(struct notif *n)
{
	if (n->failed || (n->n_ids == 0 && !n->other_paths)) {
		notif_free(n);
	} else if (n->other_paths) {
		if (related_subs(n) != LWM2M_OK) {
			notif_free(n);
		}
	} else {
		read_records(n);
	}
}

/* remembers a related path for the script (at most RELATED_MAX) */
static void
keep_related(struct notif *n, const redisReply *p)
{
	if (n->related == NULL) {
		n->related = malloc(RELATED_MAX * sizeof *n->related);
	}
	if (n->related != NULL && n->n_related < RELATED_MAX) {
		memcpy(n->related[n->n_related++], p->str, p->len + 1);
	}
}

static void
on_obspaths(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct notif *n = arg;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		n->failed = true;
	}
	for (size_t i = 0; !n->failed && i < reply->elements; i++) {
		const redisReply *p = reply->element[i];

		if (p->type == REDIS_REPLY_STRING && p->len < 48 &&
		    related(p->str, p->len, n->path_text)) {
			n->other_paths = true;
			keep_related(n, p);
		}
	}
	if (--n->waiting == 0) {
		ids_known(n);
	}
}

static void
on_obsubs(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct notif *n = arg;
	size_t max;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		n->failed = true;
	} else {
		max = reply->elements < NOTIFY_SUBS_MAX ? reply->elements
		                                        : NOTIFY_SUBS_MAX;
		n->ids = max > 0 ? malloc(max * sizeof *n->ids) : NULL;
		for (size_t i = 0; n->ids != NULL && i < max; i++) {
			const redisReply *id = reply->element[i];

			if (id->type == REDIS_REPLY_STRING &&
			    id->len == LWM2M_ID_LEN) {
				memcpy(n->ids[n->n_ids++], id->str,
				       LWM2M_ID_SIZE);
			}
		}
	}
	if (--n->waiting == 0) {
		ids_known(n);
	}
}

/* Sends both SMEMBERS; the second answer goes on (ids_known). */
static void
lookup(struct notif *n)
{
	char key[160];

	n->waiting = 2;
	snprintf(key, sizeof key, LWM2M_KEY_CLIENT_OBS_PATHS, n->client);
	if (lwm2m_redis_cmd(brk__redis(n->ctx), on_obspaths, n, "SMEMBERS %s",
	                    key) != LWM2M_OK) {
		notif_free(n);
		return;
	}
	snprintf(key, sizeof key, LWM2M_KEY_CLIENT_OBS_SUBS, n->client,
	         n->path_text);
	if (lwm2m_redis_cmd(brk__redis(n->ctx), on_obsubs, n, "SMEMBERS %s",
	                    key) != LWM2M_OK) {
		n->failed = true; /* on_obspaths frees n */
		n->waiting--;
	}
}

void
brk__notify(struct brk_ctx *ctx, const redisReply *fields,
            struct brk_entry *entry)
{
	const redisReply *id = lwm2m_redis_field(fields, "id"),
	                 *org = lwm2m_redis_field(fields, "org");
	const redisReply *path = lwm2m_redis_field(fields, "path"),
	                 *ct = lwm2m_redis_field(fields, "ct");
	const redisReply *payload = lwm2m_redis_field(fields, "payload");
	const redisReply *ts = lwm2m_redis_field(fields, "ts");
	struct notif *n;

	if (id == NULL || !lwm2m_id_valid(id->str, id->len) || org == NULL ||
	    path == NULL || ct == NULL || payload == NULL ||
	    payload->len > LWM2M_DELIVERY_BODY_MAX || path->len >= 48 ||
	    (n = calloc(1, sizeof *n)) == NULL) {
		return;
	}
	n->ctx = ctx;
	memcpy(n->client, id->str, id->len + 1);
	memcpy(n->path_text, path->str, path->len + 1);
	n->org = strtoll(org->str, NULL, 10);
	n->ct = (int)strtol(ct->str, NULL, 10);
	n->ts = ts != NULL ? strtoll(ts->str, NULL, 10) : 0;
	if (n->ts <= 0) {
		n->ts = lwm2m_now_ms();
	}
	n->payload = malloc(payload->len + 1);
	if (n->payload == NULL ||
	    lwm2m_path_parse(path->str, path->len, &n->path) != LWM2M_OK ||
	    n->path.len == 0) {
		free(n->payload);
		free(n);
		return;
	}
	memcpy(n->payload, payload->str, payload->len);
	n->len = payload->len;
	n->entry = entry;
	brk__entry_ref(entry);
	lookup(n);
}
