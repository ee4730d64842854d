/* brk_observe.c - observation collation (REST spec 7): every Observation
 * subscription on the same client and path shares ONE observation on the
 * device.  The state lives in Redis (LWM2M_KEY_CLIENT_OBS_SUBS: the
 * subscriptions of a path, written by the REST API;
 * LWM2M_KEY_CLIENT_OBSERVED: token, gateway and attributes of the
 * observation held, written here), so a restarted broker or gateway picks
 * it up.  A reconcile step compares the two and sends what is missing to
 * the owning gateway over rpc: Write-Attributes + Observe for a first
 * subscription, Write-Attributes when the merged attributes change, Cancel
 * when the last subscription went.  It is idempotent, so an event handled
 * twice does no harm. */
#include "brk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_devop.h"
#include "lwm2m_env.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_redis.h"
#include "lwm2m_rpc.h"

#define OBS_RPC_TIMEOUT_MS 15000
#define OBS_DEVICE_WAIT_MS 10000
#define OBS_QUERY_MAX 200
#define OBS_GW_MAX 129
#define OBS_URL_MAX 300
#define OBS_LOCK_MS                                                            \
	45000            /* > attributes + observe, each OBS_RPC_TIMEOUT_MS    \
	                  */
#define OBS_RETRY_MS 200 /* another reconcile of the path holds the lock */

/* Takes the path's lock and reads the client's side of what a reconcile
 * step needs, in one step of the client's slot.  KEYS the path's lock, its
 * obsubs set, the client's observed hash, the client record; ARGV path,
 * lock value ("<consumer> <start> <job>"), lock ms, "<consumer> <start>"
 * of this broker.  One reconcile of a path at a time, across brokers (two
 * concurrent first subscriptions would both Observe): returns {-1} while
 * someone else holds the lock; a lock of an earlier run of this consumer
 * (killed while holding it: its entries come back to this run) is taken
 * over at once.  Returns {observed value or "", the client's gateway,
 * state, registration time, then the ids of the subscriptions on the
 * path}; the gateway's record and the subscriptions' attributes are read
 * next, each in its own slot (read_gateway_and_attrs). */
const char brk__lua_obs_state[] =
    "local me = ARGV[4] .. ' ' "
    "local cur = redis.call('GET', KEYS[1]) "
    "if cur and cur ~= ARGV[2] then "
    "if string.sub(cur, 1, #me) == me then return {-1} end "
    "if string.match(cur, '^(.*) %S+ %S+$') ~= "
    "string.match(ARGV[4], '^(.*) %S+$') then return {-1} end end "
    "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) "
    "local rec = redis.call('HMGET', KEYS[4], 'gw', 'state', 'reg') "
    "local out = {redis.call('HGET', KEYS[3], ARGV[1]) or '', "
    "rec[1] or '', rec[2] or '', rec[3] or ''} "
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do "
    "table.insert(out, id) end "
    "return out";

/* KEYS lock, ARGV its value: releases the lock if it is still ours. */
const char brk__lua_obs_unlock[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

/* After an Update: KEYS the client's obspaths, record and observed hash;
 * ARGV the gateway and its start time read before ("" when none).  Returns
 * the paths that have subscriptions and no observation made through the
 * client's gateway as it runs now and in its current registration (same
 * gateway id, same start time and same registration time: the 2nd, 4th
 * and 5th words of the observed value); every path when the record names
 * another gateway than ARGV[1] (moved meanwhile: each reconcile decides). */
const char brk__lua_obs_check[] =
    "local paths = redis.call('SMEMBERS', KEYS[1]) "
    "if #paths == 0 then return {} end "
    "local rec = redis.call('HMGET', KEYS[2], 'gw', 'reg') "
    "local gw, reg = rec[1] or '', rec[2] or '-' "
    "if gw ~= ARGV[1] then return paths end "
    "local boot = ARGV[2] "
    "if boot == '' then boot = '-' end "
    "local out = {} "
    "for _, p in ipairs(paths) do "
    "local v = redis.call('HGET', KEYS[3], p) or '' "
    "local _, g, _, b, r = "
    "string.match(v, '^(%S+) (%S+) (%S+) ?(%S*) ?(%S*)') "
    "if g ~= gw or b ~= boot or r ~= reg then "
    "table.insert(out, p) end end "
    "return out";

/* STEP_FORGET: the device did not answer the Cancel; the gateway forgets
 * the token (F_PASSIVE), so the device's next notification gets an RST
 * instead of reaching the hooks. */
enum obs_step { STEP_ATTRS, STEP_OBSERVE, STEP_CANCEL, STEP_FORGET };

struct obs_job {
	struct brk_ctx *ctx;
	struct lwm2m_rpc_client *rpc;
	struct brk_entry *entry;
	char client[LWM2M_ID_SIZE];
	char path[32];
	char gw[OBS_GW_MAX], url[OBS_URL_MAX], query[OBS_QUERY_MAX];
	char old_token[2 * LWM2M_DEVOP_MAX_TOKEN + 1], old_gw[OBS_GW_MAX];
	char old_query[OBS_QUERY_MAX];
	char boot[24], old_boot[24]; /* start time of the gateway (ms) */
	char reg[24], old_reg[24];   /* registration time of the client */
	char lock[BRK_RUN_MAX + LWM2M_ID_SIZE]; /* the path's lock, "" none */
	long long n_subs;
	char best[3][33];  /* merged pmin, pmax, stp */
	bool none[3];      /* a subscription without pmin, -, stp */
	long long waiting; /* replies still to come (gateway, attributes) */
	bool failed;
	bool observed, observe_after;
	enum obs_step step;
};

static void
job_done(struct obs_job *j)
{
	char key[160];

	if (j->lock[0] != '\0') {
		snprintf(key, sizeof key, LWM2M_KEY_CLIENT_OBS_LOCK, j->client,
		         j->path);
		brk__lua_run(j->ctx, BRK_LUA_OBS_UNLOCK, NULL, NULL, "1 %s %s",
		             key, j->lock);
	}
	brk__entry_unref(j->entry);
	free(j);
}

static const char *
elem(const redisReply *r, size_t i)
{
	return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING
	           ? r->element[i]->str
	           : "";
}

/* Splits "<token> <gw> <query> <gateway start> <registration time>" of
 * LWM2M_KEY_CLIENT_OBSERVED (records without the last two come from an
 * older broker: observed again once). */
static void
parse_observed(struct obs_job *j, const char *v)
{
	char tok[40] = "", gw[OBS_GW_MAX] = "", q[OBS_QUERY_MAX] = "";
	char boot[24] = "", reg[24] = "";

	j->observed = v[0] != '\0' && sscanf(v, "%39s %128s %199s %23s %23s",
	                                     tok, gw, q, boot, reg) >= 2;
	snprintf(j->old_reg, sizeof j->old_reg, "%s", reg);
	snprintf(j->old_token, sizeof j->old_token, "%s", tok);
	snprintf(j->old_gw, sizeof j->old_gw, "%s", gw);
	snprintf(j->old_boot, sizeof j->old_boot, "%s", boot);
	snprintf(j->old_query, sizeof j->old_query, "%s",
	         strcmp(q, "-") == 0 ? "" : q);
}

static void
on_stored(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	job_done(arg);
}

static void
store(struct obs_job *j, const char *token)
{
	char key[128],
	    value[2 * LWM2M_DEVOP_MAX_TOKEN + OBS_GW_MAX + OBS_QUERY_MAX + 64];
	lwm2m_err err;

	snprintf(key, sizeof key, LWM2M_KEY_CLIENT_OBSERVED, j->client);
	if (token == NULL) {
		err = lwm2m_redis_cmd(brk__redis(j->ctx), on_stored, j,
		                      "HDEL %s %s", key, j->path);
	} else {
		snprintf(value, sizeof value, "%s %s %s %s %s", token, j->gw,
		         j->query[0] ? j->query : "-",
		         j->boot[0] ? j->boot : "-", j->reg[0] ? j->reg : "-");
		err = lwm2m_redis_cmd(brk__redis(j->ctx), on_stored, j,
		                      "HSET %s %s %s", key, j->path, value);
	}
	if (err != LWM2M_OK) {
		job_done(j);
	}
}

static void send_op(struct obs_job *j, enum obs_step step);

static const char *
step_name(enum obs_step step)
{
	return step == STEP_ATTRS     ? "write-attributes"
	       : step == STEP_OBSERVE ? "observe"
	       : step == STEP_CANCEL  ? "cancel"
	                              : "forget";
}

/* Reply of one rpc: true when the device answered 2.xx; otherwise why not,
 * in words, into why, and the level at which a failure that ends the job
 * is logged: the device's own answer is notice, a device away (not
 * registered, asleep, silent) info as its next registration observes
 * again, a gateway or rpc failure warning. */
static bool
reply_ok(lwm2m_err err, const struct lwm2m_env *env,
         struct lwm2m_devop_reply *ret, char *why, size_t size, int *ret_level)
{
	if (err == LWM2M_OK && (env->flags & LWM2M_ENV_F_ERROR)) {
		lwm2m_rpc_error_parse(env, &err);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_devop_reply_decode(env->payload, env->payload_len,
		                               ret);
	}
	if (err != LWM2M_OK) {
		snprintf(why, size, "gateway: %s", lwm2m_strerror(err));
		*ret_level = LWM2M_LOG_WARNING;
		return false;
	}
	switch (ret->status) {
	case LWM2M_DEVOP_ST_OK:
		if ((ret->code >> 5) == 2) {
			return true;
		}
		snprintf(why, size, "device answered %d.%02d", ret->code >> 5,
		         ret->code & 31);
		*ret_level = LWM2M_LOG_NOTICE;
		return false;
	case LWM2M_DEVOP_ST_NOT_REGISTERED:
	case LWM2M_DEVOP_ST_TIMEOUT:
	case LWM2M_DEVOP_ST_QUEUED:
		*ret_level = LWM2M_LOG_INFO;
		break;
	default:
		*ret_level = LWM2M_LOG_WARNING;
		break;
	}
	snprintf(why, size, "%s", lwm2m_devop_status_name(ret->status));
	return false;
}

/* Logs, once, that step failed and what happens next: steps that the
 * job carries on from are info. */
static void
log_failed(const struct obs_job *j, const char *why, int level)
{
	const char *next = "not observed";

	if (j->step == STEP_ATTRS && j->observe_after) {
		level = LWM2M_LOG_INFO;
		next = "observing without them";
	} else if (j->step == STEP_ATTRS) {
		next = "attributes unchanged";
	} else if (j->step == STEP_CANCEL) {
		level = LWM2M_LOG_INFO;
		next = "forgetting the observation";
	} else if (j->step == STEP_FORGET) {
		level = LWM2M_LOG_INFO;
		next = "forgotten anyway";
	}
	lwm2m_log(level, "%s id=%s path=%s: %s, %s", step_name(j->step),
	          j->client, j->path, why, next);
}

static void
on_reply(lwm2m_err err, const struct lwm2m_env *env, void *arg)
{
	struct obs_job *j = arg;
	struct lwm2m_devop_reply rep;
	char hex[2 * LWM2M_DEVOP_MAX_TOKEN + 1], why[64];
	int level = LWM2M_LOG_WARNING;
	bool ok = reply_ok(err, env, &rep, why, sizeof why, &level);

	if (!ok) {
		log_failed(j, why, level);
	}

	switch (j->step) {
	case STEP_ATTRS:
		if (j->observe_after) {
			send_op(j,
			        STEP_OBSERVE); /* observe even without pmin */
		} else if (ok) {
			store(j, j->old_token);
		} else {
			job_done(j);
		}
		return;
	case STEP_OBSERVE:
		if (!ok || rep.token_len == 0) {
			job_done(j);
			return;
		}
		lwm2m_hex_encode(rep.token, rep.token_len, hex);
		lwm2m_log(LWM2M_LOG_INFO, "observing id=%s path=%s token=%s",
		          j->client, j->path, hex);
		store(j, hex);
		return;
	case STEP_CANCEL:
		if (!ok) {
			send_op(j, STEP_FORGET);
			return;
		}
		store(j, NULL);
		return;
	case STEP_FORGET:
		store(j, NULL); /* the device may be gone: forget it anyway */
		return;
	}
}

static bool
req_token(struct lwm2m_devop_req *req, const char *hex)
{
	size_t n = strlen(hex) / 2;

	if (n == 0 || n > LWM2M_DEVOP_MAX_TOKEN) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			return false;
		}
		req->token[i] = (uint8_t)v;
	}
	req->token_len = (uint8_t)n;
	return true;
}

static lwm2m_err
build_req(struct obs_job *j, enum obs_step step, struct lwm2m_devop_req *req)
{
	static const char clear[] = "pmin&pmax&st";
	static const enum lwm2m_devop_op ops[] = {
	    [STEP_ATTRS] = LWM2M_DEVOP_WRITE_ATTRIBUTES,
	    [STEP_OBSERVE] = LWM2M_DEVOP_OBSERVE,
	    [STEP_CANCEL] = LWM2M_DEVOP_CANCEL_OBSERVE,
	    [STEP_FORGET] = LWM2M_DEVOP_CANCEL_OBSERVE,
	};

	memset(req, 0, sizeof *req);
	req->op = ops[step];
	req->flags = LWM2M_DEVOP_F_NO_QUEUE |
	             (step == STEP_FORGET ? LWM2M_DEVOP_F_PASSIVE : 0);
	req->wait_ms = OBS_DEVICE_WAIT_MS;
	memcpy(req->client, j->client, sizeof req->client);
	req->n_paths = 1;
	if (lwm2m_path_parse(j->path, strlen(j->path), &req->paths[0]) !=
	    LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	if (step == STEP_ATTRS) {
		req->query = j->query[0] ? j->query : clear;
		req->query_len = strlen(req->query);
	}
	if ((step == STEP_CANCEL || step == STEP_FORGET) &&
	    !req_token(req, j->old_token)) {
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

static void
send_op(struct obs_job *j, enum obs_step step)
{
	struct lwm2m_devop_req *req = malloc(sizeof *req);
	uint8_t *buf = NULL;
	size_t len;
	lwm2m_err err = req == NULL ? LWM2M_ENOMEM : build_req(j, step, req);

	j->step = step;
	if (err == LWM2M_OK) {
		err = lwm2m_devop_req_encode(req, &buf, &len);
	}
	free(req);
	if (err == LWM2M_OK) {
		err = lwm2m_rpc_call(j->rpc, j->url, LWM2M_ENV_RPC_DEVICE, buf,
		                     len, OBS_RPC_TIMEOUT_MS, on_reply, j);
	}
	free(buf);
	if (err != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_WARNING, "%s id=%s path=%s: %s",
		          step_name(step), j->client, j->path,
		          lwm2m_strerror(err));
		job_done(j);
	}
}

/* Chooses what the device needs from the state read by read_lua. */
static void
decide(struct obs_job *j)
{
	bool same_gw = j->observed && strcmp(j->old_gw, j->gw) == 0 &&
	               strcmp(j->old_boot, j->boot[0] ? j->boot : "-") == 0 &&
	               strcmp(j->old_reg, j->reg[0] ? j->reg : "-") == 0;

	if (j->n_subs > 0 && !same_gw) {
		/* first subscription, or the device moved to another gateway
		 * or its gateway restarted (the observations died with the old
		 * gateway process); attributes always go first, and the
		 * merged query clears those no subscription wants, so that none
		 * left by earlier subscriptions remain on the device */
		j->observe_after = true;
		send_op(j, STEP_ATTRS);
	} else if (j->n_subs > 0 && strcmp(j->old_query, j->query) != 0) {
		send_op(j, STEP_ATTRS);
	} else if (j->n_subs == 0 && same_gw) {
		send_op(j, STEP_CANCEL);
	} else if (j->n_subs == 0 && j->observed) {
		store(j, NULL);
	} else {
		job_done(j);
	}
}

static void read_state(struct obs_job *j);

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	read_state(arg);
}

/* The merged attribute query satisfies every subscription: the smallest
 * pmin and step (none when a subscription has none: it wants every
 * change), the smallest pmax; lt/gt cannot be merged and are not sent: the
 * broker filters them (brk_notify.c).  The query names all three: an
 * attribute no subscription wants is cleared ("pmin" without a value), so
 * none left on the device by earlier subscriptions delays or thins out
 * the notifications of the ones now there. */
static void
merge_attrs(struct obs_job *j, const redisReply *a)
{
	for (size_t i = 0; i < 3; i++) {
		const redisReply *v = i < a->elements ? a->element[i] : NULL;

		if (v == NULL || v->type != REDIS_REPLY_STRING || v->len == 0 ||
		    v->len >= sizeof j->best[i]) {
			j->none[i] = true;
		} else if (j->best[i][0] == '\0' ||
		           strtod(v->str, NULL) < strtod(j->best[i], NULL)) {
			memcpy(j->best[i], v->str, v->len + 1);
		}
	}
}

static void
build_query(struct obs_job *j)
{
	static const char *const names[] = {"pmin", "pmax", "st"};
	size_t at = 0;

	for (size_t i = 0; i < 3; i++) {
		bool wanted = j->best[i][0] != '\0' && (i == 1 || !j->none[i]);

		at += (size_t)snprintf(j->query + at, sizeof j->query - at,
		                       "%s%s%s%s", at > 0 ? "&" : "", names[i],
		                       wanted ? "=" : "",
		                       wanted ? j->best[i] : "");
		if (at >= sizeof j->query) {
			j->query[0] = '\0';
			return;
		}
	}
}

static void
on_gateway_or_attrs(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct obs_job *j = arg;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		j->failed = true;
	} else if (j->waiting == j->n_subs + 1) {
		snprintf(j->url, sizeof j->url, "%s", elem(reply, 0));
		snprintf(j->boot, sizeof j->boot, "%s", elem(reply, 1));
	} else {
		merge_attrs(j, reply);
	}
	if (--j->waiting > 0) {
		return;
	}
	if (j->failed || j->url[0] == '\0') {
		/* not readable, or no gateway to reach the device through:
		 * done again at its next registration */
		job_done(j);
		return;
	}
	build_query(j);
	decide(j);
}

/* HMGET of the gateway's record, then of each subscription's pmin, pmax
 * and stp (replies in order: on_gateway_or_attrs tells them apart) */
static void
read_gateway_and_attrs(struct obs_job *j, const redisReply *reply)
{
	char key[160];

	memset(j->best, 0, sizeof j->best);
	memset(j->none, 0, sizeof j->none);
	j->failed = false;
	j->waiting = j->n_subs + 1;
	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY, j->gw);
	if (lwm2m_redis_cmd(brk__redis(j->ctx), on_gateway_or_attrs, j,
	                    "HMGET %s rpc started", key) != LWM2M_OK) {
		job_done(j);
		return;
	}
	for (size_t i = 4; i < reply->elements; i++) {
		snprintf(key, sizeof key, LWM2M_KEY_SUB, elem(reply, i));
		if (lwm2m_redis_cmd(brk__redis(j->ctx), on_gateway_or_attrs, j,
		                    "HMGET %s pmin pmax stp",
		                    key) != LWM2M_OK) {
			j->failed = true;
			j->waiting--;
		}
	}
}

static void
on_state(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct obs_job *j = arg;
	struct timeval later = {0, OBS_RETRY_MS * 1000};

	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
	    reply->elements == 1 &&
	    reply->element[0]->type == REDIS_REPLY_INTEGER) {
		/* another reconcile of this path runs: after it, this one */
		j->lock[0] = '\0';
		if (event_base_once(brk__base(j->ctx), -1, EV_TIMEOUT, on_retry,
		                    j, &later) != 0) {
			job_done(j);
		}
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 4) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "observation state id=%s path=%s "
		          "unreadable, left for the next registration",
		          j->client, j->path);
		job_done(j);
		return;
	}
	j->n_subs = (long long)reply->elements - 4;
	parse_observed(j, elem(reply, 0));
	snprintf(j->gw, sizeof j->gw, "%s", elem(reply, 1));
	snprintf(j->reg, sizeof j->reg, "%s", elem(reply, 3));
	if (strcmp(elem(reply, 2), "registered") != 0 || j->gw[0] == '\0') {
		/* not connected: done again at its next registration */
		job_done(j);
		return;
	}
	read_gateway_and_attrs(j, reply);
}

static lwm2m_err
obs_state_send(struct obs_job *j, const char *run)
{
	char lock[160], subs[200], obs[128], rec[96], ms[16];

	snprintf(lock, sizeof lock, LWM2M_KEY_CLIENT_OBS_LOCK, j->client,
	         j->path);
	snprintf(subs, sizeof subs, LWM2M_KEY_CLIENT_OBS_SUBS, j->client,
	         j->path);
	snprintf(obs, sizeof obs, LWM2M_KEY_CLIENT_OBSERVED, j->client);
	snprintf(rec, sizeof rec, LWM2M_KEY_CLIENT, j->client);
	snprintf(ms, sizeof ms, "%d", OBS_LOCK_MS);
	{
		const char *argv[] = {"4",     lock,    subs, obs, rec,
		                      j->path, j->lock, ms,   run};
		return brk__lua_runargv(j->ctx, BRK_LUA_OBS_STATE, on_state, j,
		                        9, argv, NULL);
	}
}

/* Takes the path's lock and reads its state (on_state). */
static void
read_state(struct obs_job *j)
{
	char id[LWM2M_ID_SIZE];
	const char *run = brk__run(j->ctx);

	if (lwm2m_id_new(id) != LWM2M_OK ||
	    (size_t)snprintf(j->lock, sizeof j->lock, "%s %s", run, id) >=
	        sizeof j->lock ||
	    obs_state_send(j, run) != LWM2M_OK) {
		j->lock[0] = '\0';
		job_done(j);
	}
}

void
brk__observe_path(struct brk_ctx *ctx, struct lwm2m_rpc_client *rpc,
                  const char *client, const char *path, struct brk_entry *entry)
{
	struct obs_job *j;

	if (rpc == NULL || strlen(path) >= sizeof j->path ||
	    !lwm2m_id_valid(client, strlen(client))) {
		return;
	}
	j = calloc(1, sizeof *j);
	if (j == NULL) {
		return;
	}
	j->ctx = ctx;
	j->rpc = rpc;
	j->entry = entry;
	brk__entry_ref(entry);
	memcpy(j->client, client, LWM2M_ID_SIZE);
	memcpy(j->path, path, strlen(path) + 1);
	read_state(j);
}

/* ---- a (re-)registration: the device forgot its observations ------------ */

struct reg_job {
	struct brk_ctx *ctx;
	struct lwm2m_rpc_client *rpc;
	struct brk_entry *entry;
	char client[LWM2M_ID_SIZE];
	char gw[OBS_GW_MAX]; /* the client's gateway, "" none */
};

static void
on_paths(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct reg_job *g = arg;

	for (size_t i = 0; reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
	                   i < reply->elements;
	     i++) {
		if (reply->element[i]->type == REDIS_REPLY_STRING) {
			brk__observe_path(g->ctx, g->rpc, g->client,
			                  reply->element[i]->str, g->entry);
		}
	}
	brk__entry_unref(g->entry);
	free(g);
}

void
brk__observe_client(struct brk_ctx *ctx, struct lwm2m_rpc_client *rpc,
                    const char *client, struct brk_entry *entry)
{
	/* the new registration time makes every observation of the client
	 * stale (the device forgot them); an entry handled twice finds them
	 * current the second time and observes nothing more (deleting the
	 * records instead made a second Observe, and the device notified
	 * twice) */
	brk__observe_check(ctx, rpc, client, entry);
}

static void
reg_job_free(struct reg_job *g)
{
	brk__entry_unref(g->entry);
	free(g);
}

/* the gateway's start time is known: the check script */
static void
on_check_boot(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct reg_job *g = arg;
	char paths[160], rec[96], obs[128];
	const char *boot = reply != NULL && reply->type == REDIS_REPLY_STRING
	                       ? reply->str
	                       : "";
	const char *argv[] = {"3", paths, rec, obs, g->gw, boot};

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		reg_job_free(g);
		return;
	}
	snprintf(paths, sizeof paths, LWM2M_KEY_CLIENT_OBS_PATHS, g->client);
	snprintf(rec, sizeof rec, LWM2M_KEY_CLIENT, g->client);
	snprintf(obs, sizeof obs, LWM2M_KEY_CLIENT_OBSERVED, g->client);
	if (brk__lua_runargv(g->ctx, BRK_LUA_OBS_CHECK, on_paths, g, 6, argv,
	                     NULL) != LWM2M_OK) {
		reg_job_free(g);
	}
}

/* the client's gateway: its start time next (another slot) */
static void
on_check_gw(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct reg_job *g = arg;
	char key[160];

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR ||
	    (reply->type == REDIS_REPLY_STRING && reply->len >= sizeof g->gw)) {
		reg_job_free(g);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING) {
		memcpy(g->gw, reply->str, reply->len + 1);
	}
	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY, g->gw);
	if (lwm2m_redis_cmd(brk__redis(g->ctx), on_check_boot, g,
	                    "HGET %s started", key) != LWM2M_OK) {
		reg_job_free(g);
	}
}

/* Most clients have no observation subscription: a plain SMEMBERS of the
 * obspaths tells, and only the others pay for the check (an Update is
 * frequent; a script per Update cost Redis several times the rest of its
 * handling): the client's gateway, its start time, then the script. */
static void
on_any_paths(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct reg_job *g = arg;
	char key[96];

	snprintf(key, sizeof key, LWM2M_KEY_CLIENT, g->client);
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements == 0 ||
	    lwm2m_redis_cmd(brk__redis(g->ctx), on_check_gw, g, "HGET %s gw",
	                    key) != LWM2M_OK) {
		reg_job_free(g);
	}
}

void
brk__observe_check(struct brk_ctx *ctx, struct lwm2m_rpc_client *rpc,
                   const char *client, struct brk_entry *entry)
{
	struct reg_job *g;

	if (rpc == NULL || !lwm2m_id_valid(client, strlen(client)) ||
	    (g = calloc(1, sizeof *g)) == NULL) {
		return;
	}
	*g = (struct reg_job){ctx, rpc, entry, "", ""};
	brk__entry_ref(entry);
	memcpy(g->client, client, LWM2M_ID_SIZE);
	if (lwm2m_redis_cmd(brk__redis(ctx), on_any_paths, g,
	                    "SMEMBERS " LWM2M_KEY_CLIENT_OBS_PATHS,
	                    client) != LWM2M_OK) {
		brk__entry_unref(g->entry);
		free(g);
	}
}
