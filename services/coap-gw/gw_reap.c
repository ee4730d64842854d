/* gw_reap.c - the records of clients that left (de-registered, expired,
 * removed) deleted once LWDS_CLIENT_RETENTION_S has passed, with the
 * client's keys, its endpoint index and its subscriptions, so that Redis
 * does not grow with every endpoint ever seen.  The sweep (gw_registry.c)
 * finds them through the expiry entry their leave moved to left +
 * retention.  The steps, each single-slot and idempotent, are in gw.h
 * (gw_reap_start) and docs/redis-schema.md ("Retention"); a crash between
 * two leaves the expiry entry, whose lease runs out, and the next sweep
 * takes the reap up again from what it finds.  The client step comes
 * first and decides: a Register that wrote the record before it keeps the
 * client (the reap changes nothing), one after it finds the record marked
 * (then gone) and takes a new id (gw_registry.c); the organisation's
 * indexes are changed only after that decision.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_metrics.h"
#include "lwm2m_redis.h"
#include "lwm2m_sub.h"

/* (1) KEYS record, subscription ids, metrics, observed paths, observed
 * (broker), observation tokens; ARGV left ("": the record must be gone),
 * count.  0 when the record is registered, or left again since (or, with
 * "", exists): nothing is done.  A record still there (not registered,
 * the same left, or already marked by a reap that stopped) gets the field
 * reap = 1, under which a Register's takeover never writes it again; the
 * reply is {1, up to count subscription ids}.  A record gone: the client's
 * other keys are deleted (written again since by a late writer) and the
 * reply is {0, up to count ids}.  The sets of subscription ids empty
 * themselves as (3) deletes each subscription; the path locks expire by
 * themselves. */
const char gw_reap_client_lua[] =
    "local s = redis.call('HMGET', KEYS[1], 'state', 'left', 'reap')\n"
    "if not s[1] then\n"
    "  redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6])\n"
    "elseif ARGV[1] == '' then\n"
    "  return 0\n"
    "elseif s[3] ~= '1' then\n"
    "  if s[1] == 'registered' or s[2] ~= ARGV[1] then return 0 end\n"
    "  redis.call('HSET', KEYS[1], 'reap', '1')\n"
    "end\n"
    "local ids = redis.call('SRANDMEMBER', KEYS[2], ARGV[2])\n"
    "table.insert(ids, 1, s[1] and 1 or 0)\n"
    "return ids\n";

/* (2) KEYS endpoint index, connected index; ARGV id.  The id leaves the
 * connected index (a leave that stopped before it) and the endpoint index
 * if that still names it.  After (1) no Register writes the record again
 * (the reap field, then no record: gw_takeover_lua), so neither write can
 * undo one. */
const char gw_reap_org_lua[] = "redis.call('ZREM', KEYS[2], ARGV[1])\n"
                               "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                               "  redis.call('DEL', KEYS[1])\n"
                               "end\n"
                               "return 1\n";

/* (5) KEYS expiry set; ARGV id, lease, new score ("": removed).  Only
 * while the entry's score is still the lease: a Register since moved it
 * (a DTLS client registered again once (4) deleted the record). */
const char gw_reap_entry_lua[] =
    "local sc = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
    "if not sc or tonumber(sc) ~= tonumber(ARGV[2]) then return 0 end\n"
    "if ARGV[3] == '' then\n"
    "  redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "else\n"
    "  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])\n"
    "end\n"
    "return 1\n";

/* one reap; freed after its last step, or when a step fails (the lease
 * then runs out and the next sweep starts over) */
struct reap {
	struct gw_ctx *gw;
	struct gw_left l;
	char left[24];  /* l.left in decimal, "" when the record is gone */
	size_t pending; /* replies of (2) and (3) not in */
	bool more;   /* not done: subscriptions may be left, or a step failed */
	bool record; /* (1) marked the record: (4) deletes it */
};

/* one subscription of (3) */
struct reap_sub {
	struct reap *rp;
	char id[LWM2M_ID_SIZE];
};

/* logs a step that failed (reply NULL: connection lost), "ignoring": the
 * entry's lease runs out and the next sweep starts over */
static void
warn_failed(const redisReply *reply, const char *what)
{
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_WARNING, "reap: %s failed: %s, ignoring",
		          what,
		          reply && reply->str ? reply->str : "connection lost");
	}
}

static void
on_entry(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	warn_failed(reply, "the expiry entry");
}

static void
on_deleted(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct gw_ctx *gw = arg;

	warn_failed(reply, "the record");
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer > 0) {
		lwm2m_metrics_inc(gw->m_reaped);
		gw->reaped_unlogged++;
	}
}

/* (4): the record and the client's keys */
static void
reap_delete(const struct reap *rp)
{
	char keys[5][LWM2M_ID_SIZE + 48];
	const char *id = rp->l.id;

	snprintf(keys[0], sizeof keys[0], LWM2M_KEY_CLIENT, id);
	snprintf(keys[1], sizeof keys[1], LWM2M_KEY_CLIENT_METRICS, id);
	snprintf(keys[2], sizeof keys[2], LWM2M_KEY_CLIENT_OBS_PATHS, id);
	snprintf(keys[3], sizeof keys[3], LWM2M_KEY_CLIENT_OBSERVED, id);
	snprintf(keys[4], sizeof keys[4], LWM2M_KEY_CLIENT_OBS, id);
	lwm2m_redis_cmd(rp->gw->redis, on_deleted, rp->gw, "DEL %s %s %s %s %s",
	                keys[0], keys[1], keys[2], keys[3], keys[4]);
	lwm2m_log(LWM2M_LOG_DEBUG, "reaped id=%s org=%lld", id, rp->l.org);
}

/* (4) once (2) and (3) are done, then (5), and the reap is over: both are
 * sent at once, (4) first in Redis's order */
static void
reap_finish(struct reap *rp)
{
	char key[GW_EP_MAX + 64], lease[24], score[24] = "";
	const char *argv[] = {
	    "EVAL", gw_reap_entry_lua, "1", key, rp->l.id, lease, score};

	if (rp->record && !rp->more) {
		reap_delete(rp);
	}
	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_EXPIRY, rp->l.owner);
	snprintf(lease, sizeof lease, "%lld", rp->l.lease);
	if (rp->more) {
		snprintf(score, sizeof score, "%lld",
		         (long long)lwm2m_now_ms());
	}
	lwm2m_redis_cmdargv(rp->gw->redis, on_entry, NULL, 7, argv, NULL);
	free(rp);
}

/* one reply of (2) or (3) in (NULL or an error: not known to be done) */
static void
reap_step_done(struct reap *rp, const redisReply *reply)
{
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		rp->more = true; /* come back */
	}
	if (--rp->pending == 0) {
		reap_finish(rp);
	}
}

static void
on_sub_done(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct reap_sub *rs = arg;
	struct reap *rp = rs->rp;

	free(rs);
	reap_step_done(rp, reply);
}

/* the fields of a subscription record (3) reads, in its HMGET's order */
enum {
	SUB_ORG,
	SUB_TYPE,
	SUB_CLIENT,
	SUB_OBJ,
	SUB_INST,
	SUB_PROP,
	SUB_FP,
	SUB_N
};

static const char *
str_or_empty(const redisReply *e)
{
	return e->type == REDIS_REPLY_STRING ? e->str : "";
}

/* (3) for one subscription, whose record reply holds: deleted as DELETE
 * /subscriptions does; a record gone, or of another client, only leaves
 * the client's set */
static void
on_sub_record(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct reap_sub *rs = arg;
	const redisReply *const *e;
	struct lwm2m_sub_ref ref;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != SUB_N) {
		on_sub_done(redis, NULL, rs);
		return;
	}
	e = (const redisReply *const *)reply->element;
	ref = (struct lwm2m_sub_ref){
	    .id = rs->id,
	    .org = strtoll(str_or_empty(e[SUB_ORG]), NULL, 10),
	    .type = str_or_empty(e[SUB_TYPE]),
	    .client = str_or_empty(e[SUB_CLIENT]),
	    .obj = str_or_empty(e[SUB_OBJ]),
	    .inst = str_or_empty(e[SUB_INST]),
	    .prop = str_or_empty(e[SUB_PROP]),
	    .fp = str_or_empty(e[SUB_FP])};
	if (ref.type[0] != '\0' && strcmp(ref.client, rs->rp->l.id) == 0) {
		if (lwm2m_sub_delete(redis, &ref, LWM2M_SUB_CLIENT_SET_LAST,
		                     on_sub_done, rs) != LWM2M_OK) {
			on_sub_done(redis, NULL, rs);
		}
		return;
	}
	if (lwm2m_redis_cmd(redis, on_sub_done, rs,
	                    "SREM " LWM2M_KEY_CLIENT_SUBS " %s", rs->rp->l.id,
	                    rs->id) != LWM2M_OK) {
		on_sub_done(redis, NULL, rs);
	}
}

/* (3): reads each subscription of ids[0..n), then deletes it */
static void
reap_subs(struct reap *rp, redisReply *const *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct reap_sub *rs;

		if (ids[i]->type != REDIS_REPLY_STRING ||
		    ids[i]->len >= sizeof rs->id ||
		    (rs = calloc(1, sizeof *rs)) == NULL) {
			rp->more = true;
			continue;
		}
		rs->rp = rp;
		memcpy(rs->id, ids[i]->str, ids[i]->len);
		rp->pending++;
		if (lwm2m_redis_cmd(rp->gw->redis, on_sub_record, rs,
		                    "HMGET " LWM2M_KEY_SUB
		                    " org type client obj inst prop fp",
		                    rs->id) != LWM2M_OK) {
			rp->pending--;
			rp->more = true;
			free(rs);
		}
	}
}

static void
on_org(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	warn_failed(reply, "the endpoint index");
	reap_step_done(arg, reply);
}

/* sends (2) */
static void
reap_org(struct reap *rp)
{
	char idx[GW_EP_MAX + 64], clients[64];

	snprintf(idx, sizeof idx, LWM2M_KEY_ORG_ENDPOINT, rp->l.org, rp->l.ep);
	snprintf(clients, sizeof clients, LWM2M_KEY_ORG_CLIENTS, rp->l.org);
	rp->pending++;
	if (lwm2m_redis_cmd(rp->gw->redis, on_org, rp, "EVAL %s 2 %s %s %s",
	                    gw_reap_org_lua, idx, clients,
	                    rp->l.id) != LWM2M_OK) {
		rp->pending--;
		rp->more = true;
	}
}

/* (1) answered: the record marked (or gone, or registered again: nothing
 * more to do, its Register moved the entry) */
static void
on_client(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct reap *rp = arg;

	if (reply == NULL ||
	    (reply->type != REDIS_REPLY_INTEGER &&
	     (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0))) {
		warn_failed(reply, "the client's record");
		free(rp);
		return;
	}
	if (reply->type == REDIS_REPLY_INTEGER) {
		lwm2m_log(LWM2M_LOG_DEBUG, "reap id=%s: registered again",
		          rp->l.id);
		free(rp);
		return;
	}
	rp->record = reply->element[0]->type == REDIS_REPLY_INTEGER &&
	             reply->element[0]->integer == 1;
	rp->pending = 1; /* held until every step is sent */
	rp->more = reply->elements - 1 >= GW_REAP_SUBS;
	if (rp->record) {
		reap_org(rp);
	}
	reap_subs(rp, reply->element + 1, reply->elements - 1);
	reap_step_done(rp, reply);
}

/* sends (1) */
static void
reap_client(struct reap *rp)
{
	char keys[6][LWM2M_ID_SIZE + 48], count[8];
	const char *argv[] = {"EVAL",  gw_reap_client_lua,
	                      "6",     keys[0],
	                      keys[1], keys[2],
	                      keys[3], keys[4],
	                      keys[5], rp->left,
	                      count};
	const char *id = rp->l.id;

	snprintf(keys[0], sizeof keys[0], LWM2M_KEY_CLIENT, id);
	snprintf(keys[1], sizeof keys[1], LWM2M_KEY_CLIENT_SUBS, id);
	snprintf(keys[2], sizeof keys[2], LWM2M_KEY_CLIENT_METRICS, id);
	snprintf(keys[3], sizeof keys[3], LWM2M_KEY_CLIENT_OBS_PATHS, id);
	snprintf(keys[4], sizeof keys[4], LWM2M_KEY_CLIENT_OBSERVED, id);
	snprintf(keys[5], sizeof keys[5], LWM2M_KEY_CLIENT_OBS, id);
	snprintf(count, sizeof count, "%d", GW_REAP_SUBS);
	if (lwm2m_redis_cmdargv(rp->gw->redis, on_client, rp, 11, argv, NULL) !=
	    LWM2M_OK) {
		free(rp);
	}
}

static struct reap *
reap_new(struct gw_ctx *gw)
{
	struct reap *rp = calloc(1, sizeof *rp);

	if (rp == NULL) {
		lwm2m_log(LWM2M_LOG_WARNING, "reap: out of memory, later");
		return NULL;
	}
	rp->gw = gw;
	if (gw->m_reaped == NULL) {
		gw->m_reaped = lwm2m_metrics_counter(
		    NULL, "lwds_gw_clients_reaped_total",
		    "Records of clients deleted LWDS_CLIENT_RETENTION_S after "
		    "they left");
	}
	return rp;
}

void
gw_reap_start(struct gw_ctx *gw, const struct gw_left *l)
{
	struct reap *rp = reap_new(gw);

	if (rp == NULL) {
		return;
	}
	rp->l = *l;
	snprintf(rp->left, sizeof rp->left, "%lld", l->left);
	reap_client(rp);
}

void
gw_reap_gone(struct gw_ctx *gw, const char *id, const char *owner,
             long long lease)
{
	struct reap *rp = reap_new(gw);

	if (rp == NULL) {
		return;
	}
	snprintf(rp->l.id, sizeof rp->l.id, "%s", id);
	snprintf(rp->l.owner, sizeof rp->l.owner, "%s", owner);
	rp->l.lease = lease;
	reap_client(rp);
}

void
gw_reap_report(struct gw_ctx *gw)
{
	if (gw->reaped_unlogged == 0) {
		return;
	}
	lwm2m_log(LWM2M_LOG_NOTICE,
	          "reaped %zu clients gone for more than %lld s "
	          "(LWDS_CLIENT_RETENTION_S)",
	          gw->reaped_unlogged, gw->cfg.retention_ms / 1000);
	gw->reaped_unlogged = 0;
}
