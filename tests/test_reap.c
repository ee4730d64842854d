/* test_reap.c - the reap of a client past its retention (gw_reap.c) raced
 * by a Register of its endpoint (gw_registry.c), against a private
 * redis-server: the scripts and commands of both, sent with the gateway's
 * KEYS and ARGV in every order their steps can interleave in, each order
 * ending in one of the two consistent states of docs/redis-schema.md
 * ("Retention"): the client kept (record registered, endpoint index naming
 * it, its subscription intact) or reaped, the Register under a fresh id
 * and nothing of the old one left (no record, subscription, index entry
 * or expiry entry).
 *
 * The reap's steps: (1) client script (the record marked), (2)
 * organisation script, (3) the subscription delete, (4) the record's DEL,
 * (5) the expiry entry.
 * The Register's: R1 the endpoint index (SET NX GET), R3 the expiry entry
 * and the record (the takeover script for a known id), R4 the connected
 * index; a takeover that finds the id reaped reclaims the index and starts
 * again from its answer. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "gw.h"
#include "lwm2m_keys.h"
#include "lwm2m_redis.h"
#include "lwm2m_sub.h"
#include "redis_util.h"

#define EP "reap-ep"
#define OLD "OOOOOOOOOOOOOOOOOOOOOO" /* the client that left */
#define SUB "SSSSSSSSSSSSSSSSSSSSSS" /* its subscription */
#define FP "fp-of-the-subscription"
#define OWNER "gw-owner" /* its gateway, which reaps it */
#define OTHER "gw-other" /* the gateway of the Register */
#define LEFT "1000"
#define LEASE "5000" /* the score of the entry the reap holds */
#define EXP "90000"  /* the Register's expiry */

static struct event_base *base;
static struct lwm2m_redis *aredis;
static redisContext *c;

static void
run_until(const bool *done)
{
	redis_util_loop_until(base, done);
}

static redisReply *
vcmd(const char *fmt, va_list ap)
{
	redisReply *r = redisvCommand(c, fmt, ap);

	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r->str);
	return r;
}

/* the command fmt (hiredis format), its reply; freed by the caller */
static redisReply *
cmd(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = vcmd(fmt, ap);
	va_end(ap);
	return r;
}

static void
cmd_ok(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	freeReplyObject(vcmd(fmt, ap));
	va_end(ap);
}

/* the string the command fmt answers into buf ("" and false for another
 * reply: nil) */
static bool
cmd_str(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;
	bool is_str;

	va_start(ap, fmt);
	r = vcmd(fmt, ap);
	va_end(ap);
	is_str = r->type == REDIS_REPLY_STRING;
	snprintf(buf, size, "%s", is_str ? r->str : "");
	freeReplyObject(r);
	return is_str;
}

static redisReply *
cmd_argv(int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(c, argc, argv, NULL);

	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s", r->str);
	return r;
}

static long long
int_of(const char *fmt, const char *key, const char *member)
{
	redisReply *r = cmd(fmt, key, member);
	long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
	              : r->type == REDIS_REPLY_STRING ? atoll(r->str)
	                                              : -1;

	freeReplyObject(r);
	return v;
}

/* the key fmt (of lwm2m_keys.h, one %s) of id, into buf[128] */
#define k(buf, fmt, id) snprintf(buf, 128, fmt, id)

static void
setup(void)
{
	char key[128], idx[128];
	bool ready = false;

	base = event_base_new();
	ck_assert_int_eq(lwm2m_redis_sync_connect(redis_url, &c), LWM2M_OK);
	ck_assert_int_eq(lwm2m_redis_new(base, redis_url, redis_util_on_ready,
	                                 &ready, &aredis),
	                 LWM2M_OK);
	run_until(&ready);
	cmd_ok("FLUSHALL");
	/* OLD left, its retention is over and the owner's sweep holds its
	 * entry; a client-level subscription targets it */
	k(key, LWM2M_KEY_CLIENT, OLD);
	cmd_ok("HSET %s ep " EP " org 0 state deregistered left " LEFT
	       " gw " OWNER " exp 1",
	       key);
	k(key, LWM2M_KEY_CLIENT_METRICS, OLD);
	cmd_ok("HSET %s BytesSent 10", key);
	snprintf(idx, sizeof idx, LWM2M_KEY_ORG_ENDPOINT, 0LL, EP);
	cmd_ok("SET %s " OLD, idx);
	k(key, LWM2M_KEY_GATEWAY_EXPIRY, OWNER);
	cmd_ok("ZADD %s " LEASE " " OLD, key);
	k(key, LWM2M_KEY_SUB, SUB);
	cmd_ok("HSET %s org 0 type ClientUpdated client " OLD " fp " FP, key);
	k(key, LWM2M_KEY_CLIENT_SUBS, OLD);
	cmd_ok("SADD %s " SUB, key);
	snprintf(key, sizeof key, LWM2M_KEY_CLIENT_EVENT_SUBS, OLD,
	         "ClientUpdated");
	cmd_ok("SADD %s " SUB, key);
	snprintf(key, sizeof key, LWM2M_KEY_ORG_SUBS, 0LL);
	cmd_ok("ZADD %s 1 " SUB, key);
	snprintf(key, sizeof key, LWM2M_KEY_ORG_SUB_DEDUP, 0LL);
	cmd_ok("HSET %s " FP " " SUB, key);
}

static void
teardown(void)
{
	lwm2m_redis_free(aredis);
	redisFree(c);
	event_base_free(base);
}

static bool
exists_key(const char *key)
{
	return int_of("EXISTS %s", key, NULL) == 1;
}

/* whether the key fmt of id exists */
#define exists(fmt, id)                                                        \
	({                                                                     \
		char key_[128];                                                \
		k(key_, fmt, id);                                              \
		exists_key(key_);                                              \
	})

/* ---- the reap's steps --------------------------------------------------- */

/* what (1) answered: kept (nothing done), else whether the record was
 * there (marked) and the number of subscription ids */
struct step1 {
	bool kept, record;
	size_t n_ids;
};

/* (1) for OLD; left "" for the record required gone */
static struct step1
reap_client(const char *left)
{
	char keys[6][128];
	const char *argv[] = {"EVAL",  gw_reap_client_lua,
	                      "6",     keys[0],
	                      keys[1], keys[2],
	                      keys[3], keys[4],
	                      keys[5], left,
	                      "32"};
	struct step1 s = {0};
	redisReply *r;

	k(keys[0], LWM2M_KEY_CLIENT, OLD);
	k(keys[1], LWM2M_KEY_CLIENT_SUBS, OLD);
	k(keys[2], LWM2M_KEY_CLIENT_METRICS, OLD);
	k(keys[3], LWM2M_KEY_CLIENT_OBS_PATHS, OLD);
	k(keys[4], LWM2M_KEY_CLIENT_OBSERVED, OLD);
	k(keys[5], LWM2M_KEY_CLIENT_OBS, OLD);
	r = cmd_argv(11, argv);
	if (r->type == REDIS_REPLY_INTEGER) {
		s.kept = true;
	} else {
		ck_assert_uint_ge(r->elements, 1);
		s.record = r->element[0]->integer == 1;
		s.n_ids = r->elements - 1;
	}
	freeReplyObject(r);
	return s;
}

/* (2) */
static void
reap_org(void)
{
	char idx[128], clients[128];
	const char *argv[] = {"EVAL", gw_reap_org_lua, "2", idx, clients, OLD};

	snprintf(idx, sizeof idx, LWM2M_KEY_ORG_ENDPOINT, 0LL, EP);
	snprintf(clients, sizeof clients, LWM2M_KEY_ORG_CLIENTS, 0LL);
	freeReplyObject(cmd_argv(6, argv));
}

static void
on_deleted(struct lwm2m_redis *r, redisReply *reply, void *arg)
{
	*(bool *)arg = true;
}

/* (3): the subscription deleted by lwm2m_sub_delete, as the reap does */
static void
reap_subs(void)
{
	struct lwm2m_sub_ref ref = {.id = SUB,
	                            .org = 0,
	                            .type = "ClientUpdated",
	                            .client = OLD,
	                            .obj = "",
	                            .inst = "",
	                            .prop = "",
	                            .fp = FP};
	bool done = false;

	ck_assert_int_eq(lwm2m_sub_delete(aredis, &ref,
	                                  LWM2M_SUB_CLIENT_SET_LAST, on_deleted,
	                                  &done),
	                 LWM2M_OK);
	run_until(&done);
}

/* (4) */
static void
reap_delete(void)
{
	char keys[5][128];

	k(keys[0], LWM2M_KEY_CLIENT, OLD);
	k(keys[1], LWM2M_KEY_CLIENT_METRICS, OLD);
	k(keys[2], LWM2M_KEY_CLIENT_OBS_PATHS, OLD);
	k(keys[3], LWM2M_KEY_CLIENT_OBSERVED, OLD);
	k(keys[4], LWM2M_KEY_CLIENT_OBS, OLD);
	cmd_ok("DEL %s %s %s %s %s", keys[0], keys[1], keys[2], keys[3],
	       keys[4]);
}

/* (5) on the entry of OLD in owner's set, held with score lease */
static void
reap_entry(const char *owner, const char *lease)
{
	char key[128];
	const char *argv[] = {"EVAL", gw_reap_entry_lua, "1", key, OLD, lease,
	                      ""};

	k(key, LWM2M_KEY_GATEWAY_EXPIRY, owner);
	freeReplyObject(cmd_argv(7, argv));
}

/* (2) to (5) after (1) answered s, as on_client sends them */
static void
reap_rest(struct step1 s, const char *owner, const char *lease)
{
	ck_assert(!s.kept);
	if (s.record) {
		reap_org();
	}
	if (s.n_ids > 0) {
		reap_subs();
	}
	if (s.record) {
		reap_delete();
	}
	reap_entry(owner, lease);
}

/* a later sweep of OLD's entry in owner's set, the entry's score taken as
 * its lease: the reap again (a marked record) or gw_reap_gone (none) */
static void
sweep(const char *owner)
{
	char key[128], lease[32];

	k(key, LWM2M_KEY_GATEWAY_EXPIRY, owner);
	if (!cmd_str(lease, sizeof lease, "ZSCORE %s %s", key, OLD)) {
		return;
	}
	reap_rest(reap_client(exists(LWM2M_KEY_CLIENT, OLD) ? LEFT : ""), owner,
	          lease);
}

/* ---- the Register ------------------------------------------------------- */

struct reg {
	char fresh[LWM2M_ID_SIZE]; /* its drawn id, or the credential's */
	char id[LWM2M_ID_SIZE];    /* the id it writes */
	bool secure, is_new;
	int code; /* the takeover's: 0 blacklisted, 1 written, 2 reaped,
	             3 being reaped (DTLS) */
	int reclaims;
};

static struct reg
reg_new(const char *fresh, bool secure)
{
	struct reg r = {.secure = secure};

	snprintf(r.fresh, sizeof r.fresh, "%s", fresh);
	return r;
}

/* the id the index answered (NULL: it took ours), as register_claimed */
static void
reg_claimed(struct reg *r, const redisReply *old)
{
	bool valid = old->type == REDIS_REPLY_STRING;

	r->is_new = !valid && !r->secure;
	snprintf(r->id, sizeof r->id, "%s",
	         valid && !r->secure ? old->str : r->fresh);
}

/* R1 */
static void
reg_lookup(struct reg *r)
{
	char idx[128];
	redisReply *old;

	snprintf(idx, sizeof idx, LWM2M_KEY_ORG_ENDPOINT, 0LL, EP);
	old = cmd("SET %s %s NX GET", idx, r->fresh);
	reg_claimed(r, old);
	freeReplyObject(old);
}

/* R3 through gateway gw: the expiry entry, then the record (the values
 * of the takeover in REG_FIELDS order) */
static void
reg_record(struct reg *r, const char *gw)
{
	char key[128], black[128];
	const char *argv[] = {
	    "EVAL", gw_takeover_lua, "2", key, black,
	    /* ep, org, addr, lt, b, q, lwm2m, sms, root, ct, objs */
	    EP, "0", "addr", "60", "U", "0", "1.1", "", "", "", "",
	    /* reg, upd, exp, gw, state, sec, extra */
	    "2000", "2000", EXP, gw, "registered", r->secure ? "1" : "0", ""};
	redisReply *rep;

	k(key, LWM2M_KEY_GATEWAY_EXPIRY, gw);
	cmd_ok("ZADD %s " EXP " %s", key, r->id);
	k(key, LWM2M_KEY_CLIENT, r->id);
	if (r->is_new) {
		cmd_ok("HSET %s ep " EP " org 0 state registered exp " EXP
		       " gw %s",
		       key, gw);
		r->code = 1;
		return;
	}
	k(black, LWM2M_KEY_CLIENT_BLACKLIST, r->id);
	rep = cmd_argv(23, argv);
	ck_assert_int_eq(rep->type, REDIS_REPLY_ARRAY);
	r->code = (int)rep->element[0]->integer;
	freeReplyObject(rep);
}

/* what register_reaped does first for a takeover that found the id
 * reaped: gw's entry for it made due ("now") */
static void
reg_refused(const struct reg *r, const char *gw)
{
	char key[128];

	k(key, LWM2M_KEY_GATEWAY_EXPIRY, gw);
	cmd_ok("ZADD %s 1 %s", key, r->id);
}

/* a takeover that found the id reaped: gw_reclaim_lua, then the record
 * again under the id it answers (register_reaped) */
static void
reg_reclaim(struct reg *r, const char *gw)
{
	char idx[128];
	const char *argv[] = {"EVAL", gw_reclaim_lua, "1",
	                      idx,    r->id,          r->fresh};
	redisReply *old;

	ck_assert_int_eq(r->code, 2);
	ck_assert_int_le(++r->reclaims, 3);
	reg_refused(r, gw);
	snprintf(idx, sizeof idx, LWM2M_KEY_ORG_ENDPOINT, 0LL, EP);
	old = cmd_argv(6, argv);
	reg_claimed(r, old);
	freeReplyObject(old);
}

/* R4 */
static void
reg_indexes(struct reg *r)
{
	char key[128];

	ck_assert_int_eq(r->code, 1);
	snprintf(key, sizeof key, LWM2M_KEY_ORG_CLIENTS, 0LL);
	cmd_ok("ZADD %s 2000 %s", key, r->id);
}

/* R3 to the end (the reclaims until the record is written) */
static void
reg_finish(struct reg *r, const char *gw)
{
	reg_record(r, gw);
	while (r->code == 2) {
		reg_reclaim(r, gw);
		reg_record(r, gw);
	}
	reg_indexes(r);
}

/* ---- the two end states ------------------------------------------------- */

static bool
in_zset(const char *key, const char *member)
{
	char score[32];

	return cmd_str(score, sizeof score, "ZSCORE %s %s", key, member);
}

static void
assert_index(const char *id)
{
	char idx[128], v[64];

	snprintf(idx, sizeof idx, LWM2M_KEY_ORG_ENDPOINT, 0LL, EP);
	cmd_str(v, sizeof v, "GET %s", idx);
	ck_assert_str_eq(v, id);
}

/* id registered, named by the indexes */
static void
assert_registered(const char *id)
{
	char key[128], state[32];

	k(key, LWM2M_KEY_CLIENT, id);
	cmd_str(state, sizeof state, "HGET %s state", key);
	ck_assert_str_eq(state, "registered");
	assert_index(id);
	snprintf(key, sizeof key, LWM2M_KEY_ORG_CLIENTS, 0LL);
	ck_assert(in_zset(key, id));
}

/* OLD kept: registered again with its subscription */
static void
assert_kept(void)
{
	char key[128];

	assert_registered(OLD);
	ck_assert(exists(LWM2M_KEY_SUB, SUB));
	k(key, LWM2M_KEY_CLIENT_SUBS, OLD);
	ck_assert_int_eq(int_of("SISMEMBER %s %s", key, SUB), 1);
	snprintf(key, sizeof key, LWM2M_KEY_ORG_SUBS, 0LL);
	ck_assert(in_zset(key, SUB));
	k(key, LWM2M_KEY_CLIENT, OLD);
	ck_assert_int_eq(int_of("HEXISTS %s %s", key, LWM2M_CF_REAP), 0);
}

/* nothing of OLD left (its blacklist entry aside) */
static void
assert_gone(void)
{
	char key[128];

	ck_assert(!exists(LWM2M_KEY_CLIENT, OLD));
	ck_assert(!exists(LWM2M_KEY_CLIENT_METRICS, OLD));
	ck_assert(!exists(LWM2M_KEY_CLIENT_SUBS, OLD));
	snprintf(key, sizeof key, LWM2M_KEY_CLIENT_EVENT_SUBS, OLD,
	         "ClientUpdated");
	ck_assert_int_eq(int_of("EXISTS %s", key, NULL), 0);
	ck_assert(!exists(LWM2M_KEY_SUB, SUB));
	snprintf(key, sizeof key, LWM2M_KEY_ORG_SUBS, 0LL);
	ck_assert(!in_zset(key, SUB));
	snprintf(key, sizeof key, LWM2M_KEY_ORG_SUB_DEDUP, 0LL);
	ck_assert_int_eq(int_of("HEXISTS %s %s", key, FP), 0);
	snprintf(key, sizeof key, LWM2M_KEY_ORG_CLIENTS, 0LL);
	ck_assert(!in_zset(key, OLD));
}

/* OLD reaped, the Register's id fresh; then the later sweeps of every
 * expiry entry of OLD (the Register's step 2 wrote one) drop them */
static void
assert_reaped_fresh(const struct reg *r)
{
	char key[128];

	ck_assert_str_ne(r->id, OLD);
	assert_gone();
	assert_registered(r->id);
	sweep(OWNER);
	sweep(OTHER);
	assert_gone();
	k(key, LWM2M_KEY_GATEWAY_EXPIRY, OWNER);
	ck_assert(!in_zset(key, OLD));
	k(key, LWM2M_KEY_GATEWAY_EXPIRY, OTHER);
	ck_assert(!in_zset(key, OLD));
	assert_registered(r->id);
}

/* ---- the interleavings -------------------------------------------------- */

#define FRESH "NNNNNNNNNNNNNNNNNNNNNN"

START_TEST(test_reap_registered_before_step_1)
{
	struct reg r = reg_new(FRESH, false);

	reg_lookup(&r);
	reg_finish(&r, OTHER);
	ck_assert_int_eq(reap_client(LEFT).kept, 1);
	assert_kept();
}
END_TEST

START_TEST(test_reap_step_1_between_record_and_indexes)
{
	struct reg r = reg_new(FRESH, false);

	reg_lookup(&r);
	reg_record(&r, OWNER);
	ck_assert_int_eq(r.code, 1);
	ck_assert_int_eq(reap_client(LEFT).kept, 1);
	reg_indexes(&r);
	assert_kept();
}
END_TEST

/* R1 read OLD before (1); R3 after step `after` (1, 2, 3 or 4) */
static void
lookup_before_record_after(int after)
{
	struct reg r = reg_new(FRESH, false);
	struct step1 s;

	reg_lookup(&r);
	ck_assert_str_eq(r.id, OLD);
	s = reap_client(LEFT);
	ck_assert(s.record);
	ck_assert_uint_eq(s.n_ids, 1);
	if (after == 1) {
		reg_finish(&r, OTHER);
	}
	reap_org();
	if (after == 2) {
		reg_finish(&r, OTHER);
	}
	reap_subs();
	if (after == 3) {
		reg_finish(&r, OTHER);
	}
	reap_delete();
	if (after == 4) {
		reg_finish(&r, OTHER);
	}
	reap_entry(OWNER, LEASE);
	ck_assert_int_eq(r.reclaims, 1);
	assert_reaped_fresh(&r);
}

START_TEST(test_reap_lookup_before_record_after_step_1)
{
	lookup_before_record_after(1);
}
END_TEST

START_TEST(test_reap_lookup_before_record_after_step_2)
{
	lookup_before_record_after(2);
}
END_TEST

START_TEST(test_reap_lookup_before_record_after_step_3)
{
	lookup_before_record_after(3);
}
END_TEST

START_TEST(test_reap_lookup_before_record_after_step_4)
{
	lookup_before_record_after(4);
}
END_TEST

START_TEST(test_reap_lookup_between_step_1_and_2)
{
	struct reg r = reg_new(FRESH, false);
	struct step1 s = reap_client(LEFT);

	reg_lookup(&r);
	ck_assert_str_eq(r.id, OLD);
	reg_finish(&r, OWNER); /* through the reaping gateway itself */
	ck_assert_str_eq(r.id, FRESH);
	reap_rest(s, OWNER, LEASE);
	assert_reaped_fresh(&r);
}
END_TEST

START_TEST(test_reap_lookup_after_step_2)
{
	struct reg r = reg_new(FRESH, false);
	struct step1 s = reap_client(LEFT);

	reap_org();
	reg_lookup(&r);
	ck_assert(r.is_new);
	reg_finish(&r, OTHER);
	reap_subs();
	reap_delete();
	reap_entry(OWNER, LEASE);
	ck_assert(s.record);
	ck_assert_int_eq(r.reclaims, 0);
	assert_reaped_fresh(&r);
}
END_TEST

/* two Registers of the endpoint read OLD, then both find it reaped: the
 * second takes the id the first reclaimed the index with */
START_TEST(test_reap_two_registers)
{
	struct reg a = reg_new(FRESH, false);
	struct reg b = reg_new("BBBBBBBBBBBBBBBBBBBBBB", false);
	struct step1 s;

	reg_lookup(&a);
	reg_lookup(&b);
	s = reap_client(LEFT);
	reg_record(&a, OTHER);
	reg_record(&b, OTHER);
	reg_reclaim(&a, OTHER);
	reg_reclaim(&b, OTHER);
	ck_assert_str_eq(b.id, FRESH);
	ck_assert(!b.is_new);
	reg_finish(&a, OTHER);
	reg_finish(&b, OTHER);
	reap_rest(s, OWNER, LEASE);
	assert_reaped_fresh(&a);
	assert_reaped_fresh(&b);
}
END_TEST

/* a crash after (1): the index still names OLD, its record is marked; a
 * Register then takes a fresh id, and the next sweep of the entry reaps
 * the marked record */
START_TEST(test_reap_crash_after_step_1)
{
	struct reg r = reg_new(FRESH, false);

	ck_assert(reap_client(LEFT).record);
	reg_lookup(&r);
	reg_finish(&r, OTHER);
	ck_assert_int_eq(r.reclaims, 1);
	sweep(OWNER);
	assert_reaped_fresh(&r);
}
END_TEST

/* the same crash, no Register: the sweep reaps, the index deleted too */
START_TEST(test_reap_crash_after_step_1_then_sweep)
{
	struct reg r = reg_new(FRESH, false);

	reap_client(LEFT);
	sweep(OWNER);
	assert_gone();
	reg_lookup(&r);
	ck_assert(r.is_new);
	reg_finish(&r, OTHER);
	assert_reaped_fresh(&r);
}
END_TEST

/* a Register that stopped between its steps 1 and 3 left an index naming
 * an id without a record: the next one takes a new id */
START_TEST(test_reap_index_without_record)
{
	struct reg r = reg_new(FRESH, false);
	char idx[128];

	snprintf(idx, sizeof idx, LWM2M_KEY_ORG_ENDPOINT, 0LL, EP);
	cmd_ok("SET %s AAAAAAAAAAAAAAAAAAAAAA", idx);
	reg_lookup(&r);
	ck_assert_str_eq(r.id, "AAAAAAAAAAAAAAAAAAAAAA");
	reg_finish(&r, OTHER);
	ck_assert_str_eq(r.id, FRESH);
	assert_registered(FRESH);
}
END_TEST

/* A DTLS client keeps its credential's id: refused (5.03) while the
 * record is marked, registered afresh under it once (4) deleted it, its
 * old subscription gone; the reap's (5) leaves its new entry. */
START_TEST(test_reap_dtls_waits_for_the_end)
{
	struct reg r = reg_new(OLD, true);
	char key[128];

	reg_lookup(&r);
	ck_assert_str_eq(r.id, OLD);
	reap_client(LEFT);
	reg_record(&r, OWNER);
	ck_assert_int_eq(r.code, 3);
	reg_refused(&r, OWNER);
	reap_org();
	reg_record(&r, OWNER);
	ck_assert_int_eq(r.code, 3);
	reg_refused(&r, OWNER);
	reap_subs();
	reap_delete();
	reg_lookup(&r);
	reg_finish(&r, OWNER);
	reap_entry(OWNER, LEASE);
	assert_registered(OLD);
	ck_assert(!exists(LWM2M_KEY_SUB, SUB));
	ck_assert(!exists(LWM2M_KEY_CLIENT_SUBS, OLD));
	k(key, LWM2M_KEY_GATEWAY_EXPIRY, OWNER);
	ck_assert_int_eq(int_of("ZSCORE %s %s", key, OLD), atoll(EXP));
}
END_TEST

START_TEST(test_reap_blacklist_first)
{
	struct reg r = reg_new(FRESH, false);
	char key[128];

	k(key, LWM2M_KEY_CLIENT_BLACKLIST, OLD);
	cmd_ok("SET %s 0", key);
	reg_lookup(&r);
	reap_client(LEFT);
	reg_record(&r, OTHER);
	ck_assert_int_eq(r.code, 0);
}
END_TEST

/* a sweep that finds the record gone (a reap of the previous version
 * stopped after its record step) still deletes the subscription */
START_TEST(test_reap_gone_record)
{
	char key[128];

	k(key, LWM2M_KEY_CLIENT, OLD);
	cmd_ok("DEL %s", key);
	sweep(OWNER);
	ck_assert(!exists(LWM2M_KEY_SUB, SUB));
	ck_assert(!exists(LWM2M_KEY_CLIENT_SUBS, OLD));
	ck_assert(!exists(LWM2M_KEY_CLIENT_METRICS, OLD));
	k(key, LWM2M_KEY_GATEWAY_EXPIRY, OWNER);
	ck_assert(!in_zset(key, OLD));
}
END_TEST

int
main(void)
{
	const struct check_case cases[] = {
	    {"kept", test_reap_registered_before_step_1},
	    {"kept", test_reap_step_1_between_record_and_indexes},
	    {"fresh", test_reap_lookup_before_record_after_step_1},
	    {"fresh", test_reap_lookup_before_record_after_step_2},
	    {"fresh", test_reap_lookup_before_record_after_step_3},
	    {"fresh", test_reap_lookup_before_record_after_step_4},
	    {"fresh", test_reap_lookup_between_step_1_and_2},
	    {"fresh", test_reap_lookup_after_step_2},
	    {"fresh", test_reap_two_registers},
	    {"fresh", test_reap_index_without_record},
	    {"crash", test_reap_crash_after_step_1},
	    {"crash", test_reap_crash_after_step_1_then_sweep},
	    {"crash", test_reap_gone_record},
	    {"dtls", test_reap_dtls_waits_for_the_end},
	    {"dtls", test_reap_blacklist_first},
	};

	return redis_util_run(check_suite_fixture("reap", cases,
	                                          sizeof cases / sizeof *cases,
	                                          setup, teardown, 30),
	                      "test_reap");
}
