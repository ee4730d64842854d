/* gw_registry.c - registration state in Redis.
 *
 * Every operation answers once Redis acknowledged the write of its result,
 * so whoever reads Redis after the device got its answer sees the new
 * state.  Register is one Lua script (one round trip): it learns whether
 * the endpoint already has a client id, whether that id is blacklisted and
 * which gateway owned it, and writes the record, the indexes and the event.
 * Update and De-register read the record and the blacklist first (the
 * device may have moved to another gateway, or been de-registered or
 * deleted there), take the device over when another gateway owned it, and
 * write with MULTI/EXEC.  The in-memory table caches what this gateway owns
 * (for rpc and device operations).  When Redis is down every operation
 * answers 5.03 with Max-Age.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "lwm2m_env.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_redis.h"

#define SWEEP_BATCH 1000
/* past expiry, before a table entry is dropped */
#define PRUNE_AFTER_MS 60000
#define PRUNE_BUCKETS 4096 /* table buckets looked at per sweep */

struct op {
	struct gw_ctx *gw;
	struct gw_exchange *ex;
	struct gw_request req;
	struct gw_record rec;
	char new_id[LWM2M_ID_SIZE];
	char old_gw[GW_EP_MAX + 1];
	bool blacklisted, found, overwrite_index;
	enum gw_state state;
	int waiting; /* replies still expected in the current step */
	bool failed;
};

static void
op_free(struct op *op)
{
	gw_reg_links_fini(&op->req.links);
	gw_record_fini(&op->rec);
	free(op);
}

static void
finish(struct gw_exchange *ex, uint8_t code, const char *id, const char *diag)
{
	struct gw_result res;

	memset(&res, 0, sizeof res);
	res.code = code;
	if (id != NULL) {
		snprintf(res.id, sizeof res.id, "%s", id);
	}
	if (diag != NULL) {
		snprintf(res.diag, sizeof res.diag, "%s", diag);
	}
	gw_exchange_done(ex, &res);
}

static void
op_finish(struct op *op, uint8_t code, const char *diag)
{
	finish(op->ex, code,
	       code == COAP_RESPONSE_CODE(201) ? op->rec.id : NULL, diag);
	op_free(op);
}

static void
op_unavailable(struct op *op)
{
	op_finish(op, COAP_RESPONSE_CODE(503),
	          "storage unavailable, retry later");
}

static bool
reply_ok(const redisReply *r)
{
	return r != NULL && r->type != REDIS_REPLY_ERROR;
}

static void
key_client(char *buf, size_t size, const char *id)
{
	snprintf(buf, size, LWM2M_KEY_CLIENT, id);
}

/* ---- writes ------------------------------------------------------------ */

/* fire-and-forget command inside a MULTI batch; errors show up on EXEC */
#define BATCH(gw, ...) lwm2m_redis_cmd((gw)->redis, NULL, NULL, __VA_ARGS__)

/* removes id from the connected, expiry and gateway indexes */
static void
write_unindex(struct gw_ctx *gw, const char *id, long long org,
              const char *owner)
{
	char key[GW_EP_MAX + 128];

	snprintf(key, sizeof key, LWM2M_KEY_ORG_CLIENTS, org);
	BATCH(gw, "ZREM %s %s", key, id);
	BATCH(gw, "ZREM " LWM2M_KEY_EXPIRY " %s", id);
	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_CLIENTS, owner);
	BATCH(gw, "SREM %s %s", key, id);
}

static void
remember(struct gw_ctx *gw, const char *id, const char *ep, long long org,
         uint32_t lt, bool queue, int64_t exp_ms, const coap_address_t *addr)
{
	struct gw_device *d = gw_table_put(&gw->table, id, ep);

	if (d == NULL) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "out of memory for device table, id=%s not cached",
		          id);
		return;
	}
	d->state = GW_STATE_REGISTERED;
	d->org = org;
	d->lt = lt;
	d->queue = queue;
	d->exp_ms = exp_ms;
	d->addr = *addr;
}

/* hands the device's session and formats to gw_devop.c */
static void
attach(struct op *op, bool registered)
{
	struct gw_device *d = gw_table_get(&op->gw->table, op->rec.id);

	if (d != NULL) {
		gw_devop_attach(op->gw, d, op->req.session, &op->rec,
		                registered);
	}
}

/* ---- Register ------------------------------------------------------------
 *
 * One round trip: a Lua script reads the endpoint index, the blacklist and
 * the previous owner, writes the record, the indexes and the "registered"
 * event on the {events} stream, atomically.  Like the MULTI/EXEC it
 * replaces it touches keys of several hash slots (a single Redis master,
 * with Sentinel), and builds the client keys from the id it reads.  Sent as
 * EVALSHA once SCRIPT LOAD answered on connect, as EVAL before that and
 * after a NOSCRIPT (a failover to a master without the script). */

/* KEYS: endpoint index, org clients, expiry, own gateway clients, events.
 * ARGV: new id, secure, gateway id, registered-at, expiry, events MAXLEN,
 * org, endpoint, then the record's other values (record_values).  Returns {1,
 * id}, or {0, id} for a blacklisted id (nothing written but the index of a new
 * endpoint).  A new endpoint (SET NX took our id, the storm's case) needs
 * no blacklist, owner or old record: six calls in all.  An index that does
 * not hold a client id (22 characters of base64url) is re-pointed; over
 * DTLS the credential's id is used and the index re-pointed to it. */
static const char register_lua[] =
    "local new, secure, gw = ARGV[1], ARGV[2] == '1', ARGV[3]\n"
    "local old = redis.call('SET', KEYS[1], new, 'NX', 'GET')\n"
    "local id, setidx, oldgw = new, false, false\n"
    "if old and not secure and #old == 22 and\n"
    "    not string.find(old, '[^%w_-]') then\n"
    "  id = old\n"
    "elseif old then\n"
    "  setidx = old ~= new\n"
    "end\n"
    "local ck = string.format('" LWM2M_KEY_CLIENT "', id)\n"
    "if old or secure then\n"
    "  if redis.call('EXISTS', string.format('" LWM2M_KEY_CLIENT_BLACKLIST
    "', id)) == 1 then\n"
    "    return {0, id}\n"
    "  end\n"
    "  oldgw = redis.call('HGET', ck, 'gw')\n"
    "  redis.call('DEL', ck)\n"
    "end\n"
    "redis.call('HSET', ck, 'ep', ARGV[8], 'org', ARGV[7], 'addr',\n"
    "  ARGV[9], 'lt', ARGV[10], 'b', ARGV[11], 'q', ARGV[12], 'lwm2m',\n"
    "  ARGV[13], 'sms', ARGV[14], 'root', ARGV[15], 'ct', ARGV[16],\n"
    "  'objs', ARGV[17], 'reg', ARGV[4], 'upd', ARGV[18], 'exp', ARGV[5],\n"
    "  'gw', gw, 'state', ARGV[19], 'sec', ARGV[20], 'extra', ARGV[21])\n"
    "redis.call('ZADD', KEYS[2], ARGV[4], id)\n"
    "redis.call('ZADD', KEYS[3], ARGV[5], id)\n"
    "redis.call('SADD', KEYS[4], id)\n"
    "if oldgw and oldgw ~= '' and oldgw ~= gw then\n"
    "  redis.call('SREM', string.format('" LWM2M_KEY_GATEWAY_CLIENTS
    "', oldgw), id)\n"
    "end\n"
    "if setidx then redis.call('SET', KEYS[1], id) end\n"
    "redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'type',\n"
    "  'registered', 'id', id, 'org', ARGV[7], 'gw', gw, 'ts', ARGV[4],\n"
    "  'ep', ARGV[8])\n"
    "return {1, id}\n";

#define REG_VALUES 13 /* record values not already in ARGV[1..8] */
#define REG_ARGS (3 + 5 + 8 + REG_VALUES) /* EVAL, script, 5, KEYS, ARGV */

/* the strings register_send points argv at */
struct reg_buf {
	char idx[GW_EP_MAX + 128], org_clients[128], gw_clients[GW_EP_MAX + 64];
	char org[24], lt[24], reg[24], upd[24], exp[24], maxlen[24];
};

/* fills argv[0..REG_VALUES) with the record's values ARGV[9..21] (the
 * field names are in the script: half the arguments Redis turns into Lua
 * strings, bench/README.md) */
static void
record_values(const struct gw_record *r, const struct reg_buf *b,
              const char **argv)
{
	const char *v[REG_VALUES] = {r->addr,
	                             b->lt,
	                             r->b,
	                             r->queue ? "1" : "0",
	                             r->lwm2m,
	                             r->sms,
	                             r->root,
	                             r->ct,
	                             r->objs ? r->objs : "",
	                             b->upd,
	                             gw_state_name(r->state),
	                             r->secure ? "1" : "0",
	                             r->extra};

	memcpy(argv, v, sizeof v);
}

/* writes v in decimal to buf (at least 21 bytes), like "%lld" but a
 * tenth of snprintf's instructions */
static void
put_ll(char *buf, long long v)
{
	unsigned long long u =
	    v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0) {
		*buf++ = '-';
	}
	while (n > 0) {
		*buf++ = tmp[--n];
	}
	*buf = '\0';
}

static void
format_numbers(const struct gw_ctx *gw, const struct gw_record *r,
               struct reg_buf *b)
{
	long long maxlen = gw->devops != NULL ? gw->devops->events_maxlen
	                                      : GW_EVENTS_MAXLEN_DEFAULT;

	snprintf(b->idx, sizeof b->idx, LWM2M_KEY_ORG_ENDPOINT, r->org, r->ep);
	snprintf(b->org_clients, sizeof b->org_clients, LWM2M_KEY_ORG_CLIENTS,
	         r->org);
	snprintf(b->gw_clients, sizeof b->gw_clients, LWM2M_KEY_GATEWAY_CLIENTS,
	         gw->cfg.gw_id);
	put_ll(b->org, r->org);
	put_ll(b->lt, r->lt);
	put_ll(b->reg, r->reg_ms);
	put_ll(b->upd, r->upd_ms);
	put_ll(b->exp, r->exp_ms);
	put_ll(b->maxlen, maxlen);
}

static void on_registered(struct lwm2m_redis *redis, redisReply *reply,
                          void *arg);

/* sends the Register script: EVALSHA when loaded and !by_body, else EVAL */
static lwm2m_err
register_send(struct op *op, bool by_body)
{
	struct gw_ctx *gw = op->gw;
	const struct gw_record *r = &op->rec;
	struct reg_buf b;
	bool sha = !by_body && gw->reg_sha[0] != '\0';
	const char *argv[REG_ARGS] = {sha ? "EVALSHA" : "EVAL",
	                              sha ? gw->reg_sha : register_lua,
	                              "5",
	                              b.idx,
	                              b.org_clients,
	                              LWM2M_KEY_EXPIRY,
	                              b.gw_clients,
	                              LWM2M_KEY_EVENTS,
	                              op->new_id,
	                              r->secure ? "1" : "0",
	                              gw->cfg.gw_id,
	                              b.reg,
	                              b.exp,
	                              b.maxlen,
	                              b.org,
	                              r->ep};

	format_numbers(gw, r, &b);
	record_values(r, &b, argv + REG_ARGS - REG_VALUES);
	return lwm2m_redis_cmdargv(gw->redis, on_registered, op, REG_ARGS, argv,
	                           NULL);
}

static bool
is_noscript(const redisReply *reply)
{
	return reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	       strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

/* the script's answer {1|0, id}; false for anything else */
static bool
register_result(struct op *op, const redisReply *reply, bool *ret_ok)
{
	const redisReply *e0, *e1;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2) {
		return false;
	}
	e0 = reply->element[0];
	e1 = reply->element[1];
	if (e0->type != REDIS_REPLY_INTEGER || e1->type != REDIS_REPLY_STRING ||
	    e1->len != LWM2M_ID_LEN) {
		return false;
	}
	memcpy(op->rec.id, e1->str, LWM2M_ID_LEN);
	op->rec.id[LWM2M_ID_LEN] = '\0';
	*ret_ok = e0->integer == 1;
	return true;
}

static void
on_registered(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct op *op = arg;
	struct gw_record *r = &op->rec;
	char q[GW_EP_MAX * 2];
	bool ok;

	if (is_noscript(reply) && register_send(op, true) == LWM2M_OK) {
		return;
	}
	if (!register_result(op, reply, &ok)) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "register ep=\"%s\": redis "
		          "write failed: %s",
		          lwm2m_log_quote(q, sizeof q, r->ep, strlen(r->ep)),
		          reply && reply->str ? reply->str : "no reply");
		op_unavailable(op);
		return;
	}
	if (!ok) {
		lwm2m_log(LWM2M_LOG_NOTICE,
		          "register id=%s refused: blacklisted", r->id);
		op_finish(op, COAP_RESPONSE_CODE(403), "client is blacklisted");
		return;
	}
	remember(op->gw, r->id, r->ep, r->org, r->lt, r->queue, r->exp_ms,
	         &op->req.addr);
	attach(op, true);
	lwm2m_log(LWM2M_LOG_INFO, "registered ep=\"%s\" id=%s org=%lld lt=%u",
	          lwm2m_log_quote(q, sizeof q, r->ep, strlen(r->ep)), r->id,
	          r->org, r->lt);
	gw_publish_nng(op->gw, LWM2M_ENV_EV_REGISTERED, r->id, r->ep, r->org);
	op_finish(op, COAP_RESPONSE_CODE(201), NULL);
}

static void
on_script_loaded(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct gw_ctx *gw = arg;

	if (reply != NULL && reply->type == REDIS_REPLY_STRING &&
	    reply->len < sizeof gw->reg_sha) {
		memcpy(gw->reg_sha, reply->str, reply->len);
		gw->reg_sha[reply->len] = '\0';
	}
}

void
gw_registry_ready(struct gw_ctx *gw)
{
	const char *argv[] = {"SCRIPT", "LOAD", register_lua};

	/* a new connection may be a new master without the script */
	gw->reg_sha[0] = '\0';
	(void)lwm2m_redis_cmdargv(gw->redis, on_script_loaded, gw, 3, argv,
	                          NULL);
	gw_registry_announce(gw);
	gw_restore_start(gw);
}

static struct op *
op_new(struct gw_ctx *gw, struct gw_exchange *ex, struct gw_request *req)
{
	struct op *op = calloc(1, sizeof *op);

	if (op == NULL) {
		gw_reg_links_fini(&req->links);
		finish(ex, COAP_RESPONSE_CODE(500), NULL, "out of memory");
		return NULL;
	}
	op->gw = gw;
	op->ex = ex;
	op->req = *req;
	memset(&req->links, 0, sizeof req->links);
	return op;
}

void
gw_registry_register(struct gw_ctx *gw, struct gw_exchange *ex,
                     struct gw_request *req)
{
	struct op *op = op_new(gw, ex, req);

	if (op == NULL) {
		return;
	}
	gw_reg_build_register(&op->req.q,
	                      op->req.has_links ? &op->req.links : NULL,
	                      lwm2m_now_ms(), &op->rec);
	op->rec.org = op->req.cred.present ? op->req.cred.org : gw->cfg.org;
	op->rec.secure = op->req.cred.present;
	snprintf(op->rec.addr, sizeof op->rec.addr, "%s", op->req.addr_text);
	if (op->req.cred.present) {
		memcpy(op->new_id, op->req.cred.id, sizeof op->new_id);
	} else if (lwm2m_id_new(op->new_id) != LWM2M_OK) {
		op_finish(op, COAP_RESPONSE_CODE(500), "no randomness");
		return;
	}
	if (register_send(op, false) != LWM2M_OK) {
		op_unavailable(op);
	}
}

/* ---- Update and De-register ------------------------------------------------
 */

static void
write_update(struct gw_ctx *gw, const char *id, const struct gw_update *u,
             const char *addr)
{
	char key[128];

	key_client(key, sizeof key, id);
	BATCH(gw, "HSET %s lt %u upd %lld exp %lld addr %s gw %s q %s", key,
	      u->lt, (long long)u->upd_ms, (long long)u->exp_ms, addr,
	      gw->cfg.gw_id, u->queue ? "1" : "0");
	if (u->set_b) {
		BATCH(gw, "HSET %s b %s", key, u->b);
	}
	if (u->set_sms) {
		BATCH(gw, "HSET %s sms %s", key, u->sms);
	}
	if (u->set_objs) {
		BATCH(gw, "HSET %s objs %s", key, u->objs ? u->objs : "");
	}
	if (u->set_extra) {
		BATCH(gw, "HSET %s extra %s", key, u->extra);
	}
	BATCH(gw, "ZADD " LWM2M_KEY_EXPIRY " %lld %s", (long long)u->exp_ms,
	      id);
}

static void
write_deregister(struct gw_ctx *gw, const char *id, long long org,
                 const char *owner)
{
	char key[128];

	key_client(key, sizeof key, id);
	BATCH(gw, "HSET %s state %s upd %lld", key,
	      gw_state_name(GW_STATE_DEREGISTERED), (long long)lwm2m_now_ms());
	write_unindex(gw, id, org, owner);
}

static void
on_exec_logged(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		lwm2m_log(LWM2M_LOG_WARNING, "redis batch failed: %s",
		          reply && reply->str ? reply->str : "connection lost");
	}
}

/* Applies an accepted Update/De-register of dev; the writes go out as one
 * MULTI/EXEC whose completion is cb(arg) (or only logged when cb is NULL). */
static lwm2m_err
apply_update(struct gw_ctx *gw, struct gw_device *dev, struct gw_request *req,
             const char *old_gw, lwm2m_redis_cb cb, void *arg)
{
	struct gw_update u;
	char key[GW_EP_MAX + 128];

	if (lwm2m_redis_cmd(gw->redis, NULL, NULL, "MULTI") != LWM2M_OK) {
		return LWM2M_EBACKEND;
	}
	if (req->deregister) {
		write_deregister(gw, dev->id, dev->org, gw->cfg.gw_id);
	} else {
		gw_reg_build_update(&req->q,
		                    req->has_links ? &req->links : NULL,
		                    dev->lt, dev->queue, lwm2m_now_ms(), &u);
		if ((dev->caps.major > 1 || dev->caps.minor > 0) && !req->q.q) {
			/* 1.1+: queue mode is the Q flag of the Register; a
			 * binding without Q in an Update does not end it */
			u.queue = dev->queue;
		}
		write_update(gw, dev->id, &u, req->addr_text);
		free(u.objs);
		dev->lt = u.lt;
		dev->queue = u.queue;
		dev->exp_ms = u.exp_ms;
		dev->addr = req->addr;
	}
	if (old_gw != NULL && old_gw[0] != '\0' &&
	    strcmp(old_gw, gw->cfg.gw_id) != 0) {
		snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_CLIENTS, old_gw);
		BATCH(gw, "SREM %s %s", key, dev->id);
	}
	if (!req->deregister) {
		snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_CLIENTS,
		         gw->cfg.gw_id);
		BATCH(gw, "SADD %s %s", key, dev->id);
	}
	return lwm2m_redis_cmd(gw->redis, cb ? cb : on_exec_logged, arg,
	                       "EXEC");
}

static void
announce_done(struct gw_ctx *gw, struct gw_device *dev, bool deregister)
{
	lwm2m_log(LWM2M_LOG_INFO, "%s id=%s org=%lld",
	          deregister ? "deregistered" : "updated", dev->id, dev->org);
	gw_publish(
	    gw, deregister ? LWM2M_ENV_EV_DEREGISTERED : LWM2M_ENV_EV_UPDATED,
	    dev->id, dev->ep, dev->org);
	if (deregister) {
		gw_table_del(&gw->table, dev->id);
	}
}

static void
on_update_written(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct op *op = arg;
	struct gw_device *dev = gw_table_get(&op->gw->table, op->req.id);

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || dev == NULL) {
		op_unavailable(op);
		return;
	}
	announce_done(op->gw, dev, op->req.deregister);
	op_finish(op,
	          op->req.deregister ? COAP_RESPONSE_CODE(202)
	                             : COAP_RESPONSE_CODE(204),
	          NULL);
}

/* fields of the HMGET in update_lookup, in order */
enum { F_EP, F_ORG, F_STATE, F_EXP, F_LT, F_Q, F_GW, F_ROOT, F_VER, F_CT, F_N };

static bool
read_record(struct op *op, const redisReply *r)
{
	const redisReply *const *e = (const redisReply *const *)r->element;
	long long org = 0, lt = 0;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != F_N ||
	    e[F_EP]->type != REDIS_REPLY_STRING) {
		return false;
	}
	for (int i = 0; i < F_N; i++) {
		if (e[i]->type != REDIS_REPLY_STRING) {
			return false;
		}
	}
	snprintf(op->rec.ep, sizeof op->rec.ep, "%s", e[F_EP]->str);
	snprintf(op->old_gw, sizeof op->old_gw, "%s", e[F_GW]->str);
	org = strtoll(e[F_ORG]->str, NULL, 10);
	lt = strtoll(e[F_LT]->str, NULL, 10);
	op->rec.org = org;
	op->rec.lt = lt > 0 && lt <= GW_LT_MAX ? (uint32_t)lt : GW_LT_DEFAULT;
	op->rec.exp_ms = strtoll(e[F_EXP]->str, NULL, 10);
	op->rec.queue = strcmp(e[F_Q]->str, "1") == 0;
	snprintf(op->rec.root, sizeof op->rec.root, "%s", e[F_ROOT]->str);
	snprintf(op->rec.lwm2m, sizeof op->rec.lwm2m, "%s", e[F_VER]->str);
	snprintf(op->rec.ct, sizeof op->rec.ct, "%s", e[F_CT]->str);
	return gw_state_parse(e[F_STATE]->str, &op->state);
}

static void
update_adopt(struct op *op)
{
	struct gw_record *r = &op->rec;
	uint8_t code = gw_reg_decide_update(op->found, op->state, r->exp_ms,
	                                    op->blacklisted, op->req.deregister,
	                                    lwm2m_now_ms());
	struct gw_device *dev;

	if (code == COAP_RESPONSE_CODE(403)) {
		op_finish(op, code, "client is blacklisted");
		return;
	}
	if (code == COAP_RESPONSE_CODE(404)) {
		gw_table_del(&op->gw->table, op->req.id);
		op_finish(op, code, "no such registration");
		return;
	}
	memcpy(r->id, op->req.id, sizeof r->id);
	remember(op->gw, r->id, r->ep, r->org, r->lt, r->queue, r->exp_ms,
	         &op->req.addr);
	attach(op, false);
	dev = gw_table_get(&op->gw->table, r->id);
	if (dev == NULL || apply_update(op->gw, dev, &op->req, op->old_gw,
	                                on_update_written, op) != LWM2M_OK) {
		op_unavailable(op);
	}
}

static void
on_update_lookup(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct op *op = arg;

	if (!reply_ok(reply)) {
		op->failed = true;
	} else if (reply->type == REDIS_REPLY_INTEGER) {
		op->blacklisted = reply->integer != 0;
	} else {
		op->found = read_record(op, reply);
	}
	if (--op->waiting > 0) {
		return;
	}
	if (op->failed) {
		op_unavailable(op);
	} else {
		update_adopt(op);
	}
}

static void
update_lookup(struct gw_ctx *gw, struct gw_exchange *ex, struct gw_request *req)
{
	struct op *op = op_new(gw, ex, req);
	char key[128];

	if (op == NULL) {
		return;
	}
	op->waiting = 2;
	snprintf(key, sizeof key, LWM2M_KEY_CLIENT_BLACKLIST, op->req.id);
	if (lwm2m_redis_cmd(gw->redis, on_update_lookup, op, "EXISTS %s",
	                    key) != LWM2M_OK) {
		op_unavailable(op);
		return;
	}
	key_client(key, sizeof key, op->req.id);
	if (lwm2m_redis_cmd(gw->redis, on_update_lookup, op,
	                    "HMGET %s ep org state exp lt q gw root lwm2m ct",
	                    key) != LWM2M_OK) {
		op->failed = true;
		op->waiting--;
	}
}

void
gw_registry_update(struct gw_ctx *gw, struct gw_exchange *ex,
                   struct gw_request *req)
{
	if (!lwm2m_id_valid(req->id, strlen(req->id))) {
		gw_reg_links_fini(&req->links);
		finish(ex, COAP_RESPONSE_CODE(404), NULL,
		       "no such registration");
		return;
	}
	if (!lwm2m_redis_connected(gw->redis)) {
		gw_reg_links_fini(&req->links);
		finish(ex, COAP_RESPONSE_CODE(503), NULL,
		       "storage unavailable, retry later");
		return;
	}
	/* Redis decides, not the table: another gateway may have taken the
	 * device over or de-registered it, or the API blacklisted it */
	update_lookup(gw, ex, req);
}

/* ---- expiry ------------------------------------------------------------- */

struct sweep {
	struct gw_ctx *gw;
	char id[LWM2M_ID_SIZE];
};

enum { S_EP, S_ORG, S_STATE, S_EXP, S_GW, S_N };

static void
expire(struct gw_ctx *gw, const char *id, const redisReply *const *e)
{
	long long org = strtoll(e[S_ORG]->str, NULL, 10);
	char key[128];

	if (lwm2m_redis_cmd(gw->redis, NULL, NULL, "MULTI") != LWM2M_OK) {
		return;
	}
	key_client(key, sizeof key, id);
	BATCH(gw, "HSET %s state %s", key, gw_state_name(GW_STATE_EXPIRED));
	write_unindex(gw, id, org, e[S_GW]->str);
	lwm2m_redis_cmd(gw->redis, on_exec_logged, NULL, "EXEC");
	gw_table_del(&gw->table, id);
	lwm2m_log(LWM2M_LOG_INFO, "expired id=%s org=%lld", id, org);
	gw_publish(gw, LWM2M_ENV_EV_EXPIRED, id, e[S_EP]->str, org);
}

static void
on_sweep_record(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct sweep *s = arg;
	const redisReply *const *e;
	enum gw_state state;
	long long exp;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != S_N) {
		free(s);
		return;
	}
	e = (const redisReply *const *)reply->element;
	for (int i = 0; i < S_N; i++) {
		if (e[i]->type != REDIS_REPLY_STRING) {
			free(s); /* record gone: nothing to expire */
			return;
		}
	}
	exp = strtoll(e[S_EXP]->str, NULL, 10);
	if (!gw_state_parse(e[S_STATE]->str, &state) ||
	    state != GW_STATE_REGISTERED) {
		free(s);
		return;
	}
	if (exp + GW_EXPIRY_GRACE_MS > lwm2m_now_ms()) {
		/* updated between our ZRANGEBYSCORE and ZREM: keep it */
		lwm2m_redis_cmd(s->gw->redis, NULL, NULL,
		                "ZADD " LWM2M_KEY_EXPIRY " %lld %s", exp,
		                s->id);
	} else {
		expire(s->gw, s->id, e);
	}
	free(s);
}

static void
on_sweep_claim(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct sweep *s = arg;
	char key[128];

	/* only the gateway whose ZREM removed the id expires it */
	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER ||
	    reply->integer != 1) {
		free(s);
		return;
	}
	key_client(key, sizeof key, s->id);
	if (lwm2m_redis_cmd(s->gw->redis, on_sweep_record, s,
	                    "HMGET %s ep org state exp gw", key) != LWM2M_OK) {
		free(s);
	}
}

static void
on_sweep_range(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct gw_ctx *gw = arg;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		return;
	}
	if (reply->elements == SWEEP_BATCH) {
		/* more are due: sweep again right after these claims */
		event_active(gw->sweep_timer, EV_TIMEOUT, 0);
	}
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *e = reply->element[i];
		struct sweep *s;
		if (e->type != REDIS_REPLY_STRING || e->len != LWM2M_ID_LEN ||
		    (s = calloc(1, sizeof *s)) == NULL) {
			continue;
		}
		s->gw = gw;
		memcpy(s->id, e->str, LWM2M_ID_LEN);
		if (lwm2m_redis_cmd(gw->redis, on_sweep_claim, s,
		                    "ZREM " LWM2M_KEY_EXPIRY " %s",
		                    s->id) != LWM2M_OK) {
			free(s);
		}
	}
}

void
gw_registry_sweep(struct gw_ctx *gw)
{
	long long max = (long long)lwm2m_now_ms() - GW_EXPIRY_GRACE_MS;

	/* leftovers that another gateway expired or took over */
	gw_table_prune(&gw->table, max - PRUNE_AFTER_MS, PRUNE_BUCKETS);
	if (!lwm2m_redis_connected(gw->redis)) {
		return;
	}
	gw->sweep_runs++;
	lwm2m_redis_cmd(gw->redis, on_sweep_range, gw,
	                "ZRANGEBYSCORE " LWM2M_KEY_EXPIRY
	                " -inf %lld LIMIT 0 %d",
	                max, SWEEP_BATCH);
}

/* ---- eviction and announcement ------------------------------------------- */

lwm2m_err
gw_registry_evict(struct gw_ctx *gw, const char *id)
{
	struct gw_device *dev = gw_table_get(&gw->table, id);

	if (dev == NULL) {
		return LWM2M_ENOTFOUND;
	}
	if (lwm2m_redis_cmd(gw->redis, NULL, NULL, "MULTI") == LWM2M_OK) {
		write_unindex(gw, id, dev->org, gw->cfg.gw_id);
		lwm2m_redis_cmd(gw->redis, on_exec_logged, NULL, "EXEC");
	}
	lwm2m_log(LWM2M_LOG_INFO, "evicted id=%s org=%lld", id, dev->org);
	gw_publish(gw, LWM2M_ENV_EV_REMOVED, dev->id, dev->ep, dev->org);
	gw_table_del(&gw->table, id);
	return LWM2M_OK;
}

static void
on_started(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct gw_ctx *gw = arg;
	char *end;
	long long v;

	if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
		return;
	}
	v = strtoll(reply->str, &end, 10);
	if (*end == '\0' && v > 0) {
		gw->started_ms = v;
	}
}

void
gw_registry_announce(struct gw_ctx *gw)
{
	char key[GW_EP_MAX + 64];

	if (!lwm2m_redis_connected(gw->redis)) {
		return;
	}
	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY, gw->cfg.gw_id);
	/* LWDS_GW_RPC_ADVERTISE: the rpc URL peers dial when the listen URL
	 * is a wildcard or a private name (containers, NAT) */
	lwm2m_redis_cmd(gw->redis, NULL, NULL, "HSET %s rpc %s", key,
	                lwm2m_getenv("LWDS_GW_RPC_ADVERTISE", gw->cfg.rpc_url));
	/* started dates the observation tokens: a restart under the same id
	 * reloads them (gw_restore.c), so the first process's time stays and
	 * the broker sees its observations as still held */
	lwm2m_redis_cmd(gw->redis, NULL, NULL, "HSETNX %s started %lld", key,
	                (long long)gw->started_ms);
	lwm2m_redis_cmd(gw->redis, on_started, gw, "HGET %s started", key);
	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_ALIVE, gw->cfg.gw_id);
	lwm2m_redis_cmd(gw->redis, NULL, NULL, "SET %s 1 PX %d", key,
	                gw->cfg.alive_ms * 3);
}
