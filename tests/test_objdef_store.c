/* Unit tests of the object definition store (lwm2m_objdef_store.c) against a
 * private redis-server started on a free port (fails when Redis is
 * missing). */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "lwm2m_objdef.h"
#include "lwm2m_objdef_store.h"
#include "lwm2m_redis.h"
#include "redis_util.h"

/* ---- per-test loop and connection --------------------------------------- */

static struct event_base *base;
static struct lwm2m_redis *redis;
static redisContext *sync_c;

static void
run_until(const bool *done)
{
	redis_util_loop_until(base, done);
}

static void
setup(void)
{
	bool ready = false;
	redisReply *r;

	base = event_base_new();
	ck_assert_int_eq(lwm2m_redis_sync_connect(redis_url, &sync_c),
	                 LWM2M_OK);
	r = redisCommand(sync_c, "FLUSHALL");
	freeReplyObject(r);
	ck_assert_int_eq(lwm2m_redis_new(base, redis_url, redis_util_on_ready,
	                                 &ready, &redis),
	                 LWM2M_OK);
	run_until(&ready);
}

static void
teardown(void)
{
	lwm2m_redis_free(redis);
	redisFree(sync_c);
	event_base_free(base);
}

static struct lwm2m_objdef *
mkdef(uint16_t oid, const char *name)
{
	struct lwm2m_objdef *d;
	struct lwm2m_propdef *p;

	ck_assert_int_eq(lwm2m_objdef_new(&d), LWM2M_OK);
	d->object_id = oid;
	d->name = strdup(name);
	ck_assert_int_eq(lwm2m_objdef_add_prop(d, &p), LWM2M_OK);
	p->resource_id = 1;
	p->name = strdup("Value");
	p->type = LWM2M_OBJDEF_INTEGER;
	ck_assert_int_eq(lwm2m_objdef_add_prop(d, &p), LWM2M_OK);
	p->resource_id = 2;
	p->name = strdup("Other");
	ck_assert_int_eq(lwm2m_objdef_complete(d, NULL), LWM2M_OK);
	return d;
}

/* create stores one definition synchronously and returns its id. */
static void
create(long long org, uint16_t oid, const char *name, char id[LWM2M_ID_SIZE])
{
	struct lwm2m_objdef *d = mkdef(oid, name);

	ck_assert_int_eq(lwm2m_objdef_sync_create(sync_c, org, &d, 1, NULL),
	                 LWM2M_OK);
	memcpy(id, d->id, LWM2M_ID_SIZE);
	lwm2m_objdef_free(d);
}

/* create_as stores one definition synchronously under the given id (a
 * definition written again with the id it had). */
static void
create_as(long long org, uint16_t oid, const char *name,
          const char id[LWM2M_ID_SIZE])
{
	struct lwm2m_objdef *d = mkdef(oid, name);

	memcpy(d->id, id, LWM2M_ID_SIZE);
	ck_assert_int_eq(lwm2m_objdef_sync_create(sync_c, org, &d, 1, NULL),
	                 LWM2M_OK);
	lwm2m_objdef_free(d);
}

struct result {
	bool done;
	lwm2m_err err;
	size_t index;
	char name[64];
	char prop_id[LWM2M_ID_SIZE];
	long long org;
	size_t n;
	uint16_t oids[16];
	long long orgs[16];
};

static void
on_done(lwm2m_err err, size_t index, void *arg)
{
	struct result *r = arg;

	r->err = err;
	r->index = index;
	r->done = true;
}

static void
on_get(lwm2m_err err, const struct lwm2m_objdef *def, void *arg)
{
	struct result *r = arg;

	r->err = err;
	if (def != NULL) {
		snprintf(r->name, sizeof(r->name), "%s", def->name);
		memcpy(r->prop_id, def->props[0].id, LWM2M_ID_SIZE);
		r->org = def->org;
	}
	r->done = true;
}

static void
on_list(lwm2m_err err, const struct lwm2m_objdef_list *list, void *arg)
{
	struct result *r = arg;

	r->err = err;
	for (size_t i = 0; list != NULL && i < list->n && i < 16; i++) {
		r->oids[i] = list->defs[i]->object_id;
		r->orgs[i] = list->defs[i]->org;
	}
	r->n = list != NULL ? list->n : 0;
	r->done = true;
}

static struct result
get(long long viewer, const char *id)
{
	struct result r = {0};

	ck_assert_int_eq(lwm2m_objdef_store_get(redis, viewer, id, on_get, &r),
	                 LWM2M_OK);
	run_until(&r.done);
	return r;
}

START_TEST(test_lwm2m_objdef_store_create_all_or_nothing)
{
	struct lwm2m_objdef *defs[3] = {mkdef(3, "A"), mkdef(4, "B"),
	                                mkdef(5, "C")};
	struct lwm2m_objdef_list l;
	struct result r = {0};

	ck_assert_int_eq(
	    lwm2m_objdef_store_create(redis, 0, defs, 2, on_done, &r),
	    LWM2M_OK);
	run_until(&r.done);
	ck_assert_int_eq(r.err, LWM2M_OK);
	ck_assert(lwm2m_id_valid(defs[1]->id, strlen(defs[1]->id)));
	ck_assert_str_eq(get(0, defs[1]->id).name, "B");
	/* ObjectID 4 again, at index 1: nothing of the batch is stored */
	defs[1]->id[0] = '\0';
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(
	    lwm2m_objdef_store_create(redis, 0, defs + 1, 2, on_done, &r),
	    LWM2M_OK);
	run_until(&r.done);
	ck_assert_int_eq(r.err, LWM2M_EEXIST);
	ck_assert_uint_eq(r.index, 0);
	lwm2m_objdef_list_init(&l);
	ck_assert_int_eq(lwm2m_objdef_sync_list(sync_c, 0, &l), LWM2M_OK);
	ck_assert_uint_eq(l.n, 2);
	lwm2m_objdef_list_fini(&l);
	/* the same ObjectID in another organisation is fine */
	memset(&r, 0, sizeof(r));
	defs[1]->id[0] = '\0';
	ck_assert_int_eq(
	    lwm2m_objdef_store_create(redis, 9, defs + 1, 1, on_done, &r),
	    LWM2M_OK);
	run_until(&r.done);
	ck_assert_int_eq(r.err, LWM2M_OK);
	/* twice in one batch */
	memset(&r, 0, sizeof(r));
	defs[0]->id[0] = defs[2]->id[0] = '\0';
	defs[2]->object_id = 3;
	ck_assert_int_eq(
	    lwm2m_objdef_store_create(redis, 7, defs, 3, on_done, &r),
	    LWM2M_OK);
	run_until(&r.done);
	ck_assert_int_eq(r.err, LWM2M_EEXIST);
	ck_assert_uint_eq(r.index, 2);
	for (int i = 0; i < 3; i++) {
		lwm2m_objdef_free(defs[i]);
	}
}
END_TEST

START_TEST(test_lwm2m_objdef_store_get_visibility)
{
	char global[LWM2M_ID_SIZE], mine[LWM2M_ID_SIZE];
	struct result r;

	create(0, 3, "Global", global);
	create(5, 20000, "Private", mine);
	r = get(5, global);
	ck_assert_int_eq(r.err, LWM2M_OK);
	ck_assert_int_eq(r.org, 0);
	r = get(5, mine);
	ck_assert_str_eq(r.name, "Private");
	ck_assert_int_eq(r.org, 5);
	ck_assert_int_eq(get(6, mine).err, LWM2M_ENOTFOUND);
	ck_assert_int_eq(get(0, mine).err, LWM2M_ENOTFOUND);
	ck_assert_int_eq(get(0, "AAAAAAAAAAAAAAAAAAAAAQ").err, LWM2M_ENOTFOUND);
	ck_assert_int_eq(lwm2m_objdef_store_get(redis, 0, "bad", on_get, &r),
	                 LWM2M_EINVAL);
}
END_TEST

/* Lookups reuse the parse of unchanged stored bytes (a cache per Redis
 * connection) and see a change written behind their back at once. */
START_TEST(test_lwm2m_objdef_store_get_sees_changes)
{
	char id[LWM2M_ID_SIZE];
	struct result r;

	create(0, 3, "First", id);
	for (int i = 0; i < 3; i++) {
		r = get(0, id);
		ck_assert_int_eq(r.err, LWM2M_OK);
		ck_assert_str_eq(r.name, "First");
	}
	/* another process replaces it: same id, new JSON */
	ck_assert_int_eq(lwm2m_objdef_sync_delete(sync_c, 0, id), LWM2M_OK);
	create_as(0, 3, "Second", id);
	ck_assert_str_eq(get(0, id).name, "Second");
	/* and deletes it */
	ck_assert_int_eq(lwm2m_objdef_sync_delete(sync_c, 0, id), LWM2M_OK);
	ck_assert_int_eq(get(0, id).err, LWM2M_ENOTFOUND);
}
END_TEST

static char *
version_of(long long org)
{
	redisReply *r =
	    redisCommand(sync_c, "GET lwds:v2:org:{%lld}:objdefs:ver", org);
	char *v = NULL;

	ck_assert_ptr_nonnull(r);
	if (r->type == REDIS_REPLY_STRING) {
		v = strdup(r->str);
	}
	freeReplyObject(r);
	return v;
}

/* Every change of a scope gives its version a new value, a refused one
 * does not; a lookup that kept a parse at the versions it read sees each
 * change, a flushed and rewritten scope too, and a viewer's own scope
 * counts as well as the global one. */
START_TEST(test_lwm2m_objdef_store_get_versions)
{
	char id[LWM2M_ID_SIZE], mine[LWM2M_ID_SIZE], *v1, *v2, *v3;
	struct lwm2m_objdef *d;
	redisReply *r;

	ck_assert_ptr_null(version_of(0));
	create(0, 3, "First", id);
	v1 = version_of(0);
	ck_assert_ptr_nonnull(v1);
	ck_assert_str_eq(get(0, id).name, "First");
	ck_assert_str_eq(get(0, id).name, "First");
	ck_assert_str_eq(get(7, id).name, "First");
	/* refused: ObjectID 3 exists */
	d = mkdef(3, "Again");
	ck_assert_int_eq(lwm2m_objdef_sync_create(sync_c, 0, &d, 1, NULL),
	                 LWM2M_EEXIST);
	lwm2m_objdef_free(d);
	v2 = version_of(0);
	ck_assert_str_eq(v1, v2);
	free(v2);
	/* deleted and written again with the same id */
	ck_assert_int_eq(lwm2m_objdef_sync_delete(sync_c, 0, id), LWM2M_OK);
	v2 = version_of(0);
	ck_assert_str_ne(v1, v2);
	ck_assert_int_eq(get(0, id).err, LWM2M_ENOTFOUND);
	create_as(0, 3, "Second", id);
	v3 = version_of(0);
	ck_assert_str_ne(v2, v3);
	ck_assert_str_eq(get(0, id).name, "Second");
	ck_assert_str_eq(get(7, id).name, "Second");
	/* the viewer's own scope moves: still the global definition */
	create(7, 20000, "Mine", mine);
	ck_assert_str_eq(get(7, id).name, "Second");
	ck_assert_str_eq(get(7, mine).name, "Mine");
	/* everything flushed, then the same id written again */
	r = redisCommand(sync_c, "FLUSHALL");
	freeReplyObject(r);
	ck_assert_int_eq(get(0, id).err, LWM2M_ENOTFOUND);
	create_as(0, 3, "Third", id);
	ck_assert_str_eq(get(0, id).name, "Third");
	free(v1);
	free(v2);
	free(v3);
}
END_TEST

START_TEST(test_lwm2m_objdef_store_find_override)
{
	char id[LWM2M_ID_SIZE];
	struct result r = {0};

	create(0, 3, "Global", id);
	create(5, 3, "Own", id);
	ck_assert_int_eq(lwm2m_objdef_store_find(redis, 5, 3, on_get, &r),
	                 LWM2M_OK);
	run_until(&r.done);
	ck_assert_str_eq(r.name, "Own");
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(lwm2m_objdef_store_find(redis, 6, 3, on_get, &r),
	                 LWM2M_OK);
	run_until(&r.done);
	ck_assert_str_eq(r.name, "Global");
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(lwm2m_objdef_store_find(redis, 6, 4, on_get, &r),
	                 LWM2M_OK);
	run_until(&r.done);
	ck_assert_int_eq(r.err, LWM2M_ENOTFOUND);
}
END_TEST

static struct result
find(long long viewer, uint16_t oid)
{
	struct result r = {0};

	ck_assert_int_eq(
	    lwm2m_objdef_store_find(redis, viewer, oid, on_get, &r), LWM2M_OK);
	run_until(&r.done);
	return r;
}

/* calls of EVAL so far (INFO commandstats): the lookup by ObjectID's
 * script */
static long long
eval_calls(void)
{
	redisReply *r = redisCommand(sync_c, "INFO commandstats");
	const char *p;
	long long n = 0;

	ck_assert_ptr_nonnull(r);
	p = r->type == REDIS_REPLY_STRING
	        ? strstr(r->str, "cmdstat_eval:calls=")
	        : NULL;
	if (p != NULL) {
		n = strtoll(p + strlen("cmdstat_eval:calls="), NULL, 10);
	}
	freeReplyObject(r);
	return n;
}

/* A lookup by ObjectID keeps its parse at the versions it read, like one
 * by id: repeated, it answers the same without the lookup script; a
 * definition of that ObjectID added to the viewer's scope, or deleted
 * from it, is seen at once. */
START_TEST(test_lwm2m_objdef_store_find_sees_changes)
{
	char global[LWM2M_ID_SIZE], own[LWM2M_ID_SIZE];
	long long evals;

	create(0, 3, "Global", global);
	ck_assert_str_eq(find(6, 3).name, "Global");
	evals = eval_calls();
	for (int i = 0; i < 3; i++) {
		ck_assert_str_eq(find(6, 3).name, "Global");
	}
	ck_assert_int_eq(eval_calls(), evals);
	create(6, 3, "Own", own);
	ck_assert_str_eq(find(6, 3).name, "Own");
	ck_assert_str_eq(find(7, 3).name, "Global");
	ck_assert_int_eq(lwm2m_objdef_sync_delete(sync_c, 6, own), LWM2M_OK);
	ck_assert_str_eq(find(6, 3).name, "Global");
	ck_assert_int_eq(lwm2m_objdef_sync_delete(sync_c, 0, global), LWM2M_OK);
	ck_assert_int_eq(find(6, 3).err, LWM2M_ENOTFOUND);
}
END_TEST

START_TEST(test_lwm2m_objdef_store_list_merged)
{
	char id[LWM2M_ID_SIZE];
	struct result r = {0};

	create(0, 3303, "T", id);
	create(0, 3, "D", id);
	create(0, 5, "F", id);
	create(5, 5, "Own F", id);
	create(5, 20000, "Own X", id);
	create(6, 4, "Other", id);
	ck_assert_int_eq(lwm2m_objdef_store_list(redis, 5, on_list, &r),
	                 LWM2M_OK);
	run_until(&r.done);
	ck_assert_int_eq(r.err, LWM2M_OK);
	ck_assert_uint_eq(r.n, 4);
	ck_assert_uint_eq(r.oids[0], 3);
	ck_assert_uint_eq(r.oids[1], 5);
	ck_assert_int_eq(r.orgs[1], 5); /* own overrides global */
	ck_assert_uint_eq(r.oids[2], 3303);
	ck_assert_uint_eq(r.oids[3], 20000);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(lwm2m_objdef_store_list(redis, 0, on_list, &r),
	                 LWM2M_OK);
	run_until(&r.done);
	ck_assert_uint_eq(r.n, 3);
}
END_TEST

static struct result
replace(long long viewer, const char *id, const struct lwm2m_objdef *d)
{
	struct result r = {0};

	ck_assert_int_eq(
	    lwm2m_objdef_store_replace(redis, viewer, id, d, on_done, &r),
	    LWM2M_OK);
	run_until(&r.done);
	return r;
}

START_TEST(test_lwm2m_objdef_store_replace_url_id)
{
	char global[LWM2M_ID_SIZE], mine[LWM2M_ID_SIZE], other[LWM2M_ID_SIZE];
	struct lwm2m_objdef *d = mkdef(20000, "New");
	struct lwm2m_objdef_list l;
	char prop_id[LWM2M_ID_SIZE];

	create(0, 3, "Global", global);
	create(5, 20000, "Mine", mine);
	create(5, 20001, "Other", other);
	memcpy(prop_id, get(5, mine).prop_id, LWM2M_ID_SIZE);
	strcpy(d->id, other); /* the body's id is ignored (11.2 item 11) */
	ck_assert_int_eq(replace(5, mine, d).err, LWM2M_OK);
	ck_assert_str_eq(get(5, mine).name, "New");
	ck_assert_str_eq(get(5, mine).prop_id, prop_id); /* kept */
	ck_assert_str_eq(get(5, other).name, "Other");
	lwm2m_objdef_list_init(&l);
	ck_assert_int_eq(lwm2m_objdef_sync_list(sync_c, 5, &l), LWM2M_OK);
	ck_assert_uint_eq(l.n, 2);
	lwm2m_objdef_list_fini(&l);
	ck_assert_int_eq(replace(5, global, d).err, LWM2M_EDENIED);
	ck_assert_int_eq(replace(6, mine, d).err, LWM2M_ENOTFOUND);
	d->object_id = 20001; /* taken by "other" in that scope */
	ck_assert_int_eq(replace(5, mine, d).err, LWM2M_EEXIST);
	d->object_id = 3;
	ck_assert_int_eq(replace(0, global, d).err, LWM2M_OK);
	ck_assert_int_eq(get(0, global).org, 0);
	lwm2m_objdef_free(d);
}
END_TEST

static lwm2m_err delete (long long viewer, const char *id)
{
	struct result r = {0};

	ck_assert_int_eq(
	    lwm2m_objdef_store_delete(redis, viewer, id, on_done, &r),
	    LWM2M_OK);
	run_until(&r.done);
	return r.err;
}

START_TEST(test_lwm2m_objdef_store_delete_rules)
{
	char global[LWM2M_ID_SIZE], mine[LWM2M_ID_SIZE];
	char id[LWM2M_ID_SIZE];

	create(0, 3, "Global", global);
	create(5, 3, "Mine", mine);
	ck_assert_int_eq(delete (5, global), LWM2M_EDENIED);
	ck_assert_int_eq(delete (6, mine), LWM2M_ENOTFOUND);
	ck_assert_int_eq(delete (5, mine), LWM2M_OK);
	ck_assert_int_eq(delete (5, mine), LWM2M_ENOTFOUND);
	ck_assert_int_eq(get(5, mine).err, LWM2M_ENOTFOUND);
	create(5, 3, "Mine again", id); /* the ObjectID is free again */
	ck_assert_int_eq(delete (0, global), LWM2M_OK);
	ck_assert_int_eq(lwm2m_objdef_sync_delete(sync_c, 5, id), LWM2M_OK);
	ck_assert_int_eq(lwm2m_objdef_sync_delete(sync_c, 5, id),
	                 LWM2M_ENOTFOUND);
}
END_TEST

START_TEST(test_lwm2m_objdef_sync_install_if_absent)
{
	struct lwm2m_objdef_list l, have;
	char id[LWM2M_ID_SIZE], *v;
	size_t n = 99;

	lwm2m_objdef_list_init(&l);
	lwm2m_objdef_list_add(&l, mkdef(3, "Shipped 3"));
	lwm2m_objdef_list_add(&l, mkdef(4, "Shipped 4"));
	create(0, 3, "Operator's 3", id);
	ck_assert_int_eq(lwm2m_objdef_sync_install(sync_c, 0, &l, &n),
	                 LWM2M_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(get(0, id).name, "Operator's 3");
	ck_assert_int_eq(lwm2m_objdef_sync_install(sync_c, 0, &l, &n),
	                 LWM2M_OK);
	ck_assert_uint_eq(n, 0);
	lwm2m_objdef_list_init(&have);
	ck_assert_int_eq(lwm2m_objdef_sync_list(sync_c, 0, &have), LWM2M_OK);
	ck_assert_uint_eq(have.n, 2);
	ck_assert_str_eq(have.defs[1]->name, "Shipped 4");
	lwm2m_objdef_list_fini(&have);
	/* a scope written before versions existed gets one */
	freeReplyObject(
	    redisCommand(sync_c, "DEL lwds:v2:org:{0}:objdefs:ver"));
	ck_assert_ptr_null(version_of(0));
	ck_assert_int_eq(lwm2m_objdef_sync_install(sync_c, 0, &l, &n),
	                 LWM2M_OK);
	v = version_of(0);
	ck_assert_ptr_nonnull(v);
	free(v);
	lwm2m_objdef_list_fini(&l);
}
END_TEST

int
main(void)
{
	const struct check_case cases[] = {
	    {"lwm2m_objdef_store_create",
	     test_lwm2m_objdef_store_create_all_or_nothing},
	    {"lwm2m_objdef_store_get", test_lwm2m_objdef_store_get_visibility},
	    {"lwm2m_objdef_store_get",
	     test_lwm2m_objdef_store_get_sees_changes},
	    {"lwm2m_objdef_store_get", test_lwm2m_objdef_store_get_versions},
	    {"lwm2m_objdef_store_find", test_lwm2m_objdef_store_find_override},
	    {"lwm2m_objdef_store_find",
	     test_lwm2m_objdef_store_find_sees_changes},
	    {"lwm2m_objdef_store_list", test_lwm2m_objdef_store_list_merged},
	    {"lwm2m_objdef_store_replace",
	     test_lwm2m_objdef_store_replace_url_id},
	    {"lwm2m_objdef_store_delete", test_lwm2m_objdef_store_delete_rules},
	    {"lwm2m_objdef_sync_install",
	     test_lwm2m_objdef_sync_install_if_absent},
	};

	return redis_util_run(check_suite_fixture("objdef_store", cases,
	                                          sizeof cases / sizeof *cases,
	                                          setup, teardown, 30),
	                      "test_objdef_store");
}
