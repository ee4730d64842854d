/* gw_registry.c - registration state in Redis.
 *
 * Every operation answers once Redis acknowledged the write of its result,
 * so whoever reads Redis after the device got its answer sees the new
 * state.  Every write touches one Redis Cluster slot at a time (the
 * client's, its organisation's, a gateway's, {events}), in an order that
 * leaves nothing lost when a crash stops it between two steps
 * (docs/redis-schema.md, "Cluster").  Register learns whether the endpoint
 * already has a client id (SET NX GET), then writes the expiry entry, the
 * record (for a known id: a script that checks the blacklist and reads the
 * previous owner), the indexes and the event.  Update and De-register read
 * the record and the blacklist first (the device may have moved to another
 * gateway, or been de-registered or deleted there), take the device over
 * when another gateway owned it, and write the record in a MULTI/EXEC of
 * its slot.  The in-memory table caches what this gateway owns
 * (for rpc and device operations).  When Redis is down every operation
 * answers 5.03 with Max-Age.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "lwm2m_env.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_redis.h"
#include "lwm2m_retention.h"

#define SWEEP_BATCH 1000
/* past expiry, before a table entry is dropped */
#define PRUNE_AFTER_MS 60000
#define PRUNE_BUCKETS 4096 /* table buckets looked at per sweep */

/* the steps of a Register (see "Register" below) */
enum reg_step {
	REG_CLAIM,    /* 1: the endpoint index */
	REG_NEW,      /* 2-4, 6 for a new endpoint */
	REG_TAKEOVER, /* 2, 3 for an endpoint seen before */
	REG_INDEXES,  /* 4-6 after the takeover */
	REG_REFUSED,  /* blacklisted: 2 undone */
	REG_EVENT,    /* 6 alone: the check found subscriptions */
};

/* times a Register points the endpoint index away from ids the reap
 * deleted (gw_reclaim_lua) before it answers 5.03: once is enough unless
 * other Registers of the endpoint race it */
#define RECLAIMS_MAX 3

struct op {
	struct gw_ctx *gw;
	struct gw_exchange *ex;
	struct gw_record rec;
	char new_id[LWM2M_ID_SIZE];
	char old_gw[GW_EP_MAX + 1];
	char idx[GW_EP_MAX + 64]; /* the endpoint index key (Register) */
	enum reg_step step;
	bool blacklisted, found, overwrite_index;
	bool reaped;    /* the takeover found the id reaped: a new id */
	bool reaping;   /* ... a DTLS client's id, its reap not finished */
	int reclaims;   /* gw_reclaim_lua sent */
	bool subs;      /* the organisation has subscriptions (or unknown) */
	bool xadd_sent; /* the event is on its way to {events} */
	enum gw_state state;
	int waiting; /* replies still expected in the current step */
	bool failed;
	struct gw_request req; /* last: op_new zeroes what is before it */
};

/* Finished operations kept for reuse (gw->spare_ops): a struct op is about
 * 2 KB, over glibc's per-thread cache limit (1 KiB), so each calloc went
 * through the general allocator and consolidated its fast bins.  1,024
 * (2 MB at most): with 256 a storm at 1,024 in flight still sent three
 * operations in four through the general allocator (bench/README.md,
 * seventh storm round). */
#define SPARE_OPS_MAX 1024

static void
op_free(struct op *op)
{
	struct gw_ctx *gw = op->gw;

	gw_reg_links_fini(&op->req.links);
	gw_record_fini(&op->rec);
	if (gw->closing) {
		free(op);
		return;
	}
	lwm2m_spares_put(&gw->spare_ops, op, SPARE_OPS_MAX);
}

void
gw_registry_free_spares(struct gw_ctx *gw)
{
	lwm2m_spares_fini(&gw->spare_ops);
}

static void
finish(struct gw_exchange *ex, uint8_t code, const char *id, const char *diag)
{
	struct gw_result res;

	memset(&res, 0, sizeof res); /* the copies below stay NUL-terminated */
	res.code = code;
	if (id != NULL) {
		memcpy(res.id, id, strnlen(id, sizeof res.id - 1));
	}
	if (diag != NULL) {
		memcpy(res.diag, diag, strnlen(diag, sizeof res.diag - 1));
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

/* removes id from the connected index, then its entry in the owner's
 * expiry set (which is also the set of the gateway's clients): removed
 * when until is 0, else moved to until (the reap of the record), in the
 * same one command; the entry last so that a crash before it leaves an
 * entry the sweep repairs from */
static lwm2m_err
write_unindex(struct gw_ctx *gw, const char *id, long long org,
              const char *owner, long long until, lwm2m_redis_cb cb, void *arg)
{
	char key[GW_EP_MAX + 128];

	snprintf(key, sizeof key, LWM2M_KEY_ORG_CLIENTS, org);
	BATCH(gw, "ZREM %s %s", key, id);
	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_EXPIRY, owner);
	if (until != 0) {
		return lwm2m_redis_cmd(gw->redis, cb, arg, "ZADD %s %lld %s",
		                       key, until, id);
	}
	return lwm2m_redis_cmd(gw->redis, cb, arg, "ZREM %s %s", key, id);
}

/* drops id from the expiry set of old_gw after another gateway took it over
 * (fire and forget: the sweep of old_gw repairs what a crash leaves) */
static void
write_disown(struct gw_ctx *gw, const char *id, const char *old_gw)
{
	char key[GW_EP_MAX + 64];

	if (old_gw == NULL || old_gw[0] == '\0' ||
	    strcmp(old_gw, gw->cfg.gw_id) == 0) {
		return;
	}
	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_EXPIRY, old_gw);
	BATCH(gw, "ZREM %s %s", key, id);
}

/* caches the device in the table; returns its entry, NULL on ENOMEM */
static struct gw_device *
remember(struct gw_ctx *gw, const char *id, const char *ep, long long org,
         uint32_t lt, bool queue, int64_t exp_ms, const coap_address_t *addr)
{
	struct gw_device *d = gw_table_put(&gw->table, id, ep);

	if (d == NULL) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "out of memory for device table, id=%s not cached",
		          id);
		return NULL;
	}
	d->state = GW_STATE_REGISTERED;
	d->org = org;
	d->lt = lt;
	d->queue = queue;
	d->exp_ms = exp_ms;
	d->addr = *addr;
	return d;
}

/* hands the device's session and formats to gw_devop.c; d is the table's
 * entry (remember's; a second lookup of the table cost a cache miss per
 * Register with many devices, bench/README.md, eighth storm round), or
 * NULL when it could not be cached */
static void
attach(struct op *op, struct gw_device *d, bool registered)
{
	if (d != NULL) {
		gw_devop_attach(op->gw, d, op->req.session, &op->rec,
		                registered);
	}
}

/* ---- Register ------------------------------------------------------------
 *
 * Single-slot steps (Redis Cluster), in this order, each idempotent:
 * 1. org slot: SET org:{o}:ep:<ep> <new id> NX GET, the endpoint's id;
 * 2. gateway slot: ZADD gw:{g}:expiry (the gateway's clients), before the
 *    record, so a record that says registered always has an expiry entry
 *    (an entry whose record is missing is dropped by the sweep);
 * 3. client slot: the record (a plain HSET for a new endpoint; else the
 *    takeover script: blacklist check, previous owner, record replaced;
 *    a record the reap has marked, or without DTLS one that is missing,
 *    is never written again: register_reaped points the index at a new
 *    id, gw_reclaim_lua, and the Register starts again from its answer);
 * 4. org slot: ZADD org:{o}:clients (and the index re-pointed if needed);
 * 5. the previous owner's slot: its expiry entry removed;
 * 6. org slot: EXISTS org:{o}:subs, after the record on the same
 *    connection; {events}: XADD registered, only when that organisation
 *    has subscriptions (gw_subs_check).  The XADD goes in the same round
 *    trip as 4 and the check unless the last check of the organisation
 *    found none; when this check finds some and no XADD went, the XADD is
 *    sent alone and the device answered once it is acknowledged.  No
 *    check when one found subscriptions less than GW_SUBS_FRESH_MS ago
 *    (gw_subs_fresh): the XADD alone.
 * The device gets its 2.01 only once every step is acknowledged: a crash
 * between steps leaves it unanswered, it registers again and the steps run
 * again under the id the index now holds.  A new endpoint (1. took our id,
 * the storm's case) sends 2-4 and 6 in one pipelined round trip, no Lua.
 * The takeover script is sent as EVALSHA once SCRIPT LOAD answered on
 * connect, as EVAL before that and after a NOSCRIPT (a failover). */

/* the record's field names, in the order of record_values() */
#define REG_FIELDS                                                             \
	"ep", "org", "addr", "lt", "b", "q", "lwm2m", "sms", "root", "ct",     \
	    "objs", "reg", "upd", "exp", "gw", "state", "sec", "extra"
#define REG_VALUES 18

/* KEYS client record, its blacklist entry; ARGV the record's values in
 * REG_FIELDS order.  Returns {0, ""} for a blacklisted id; {2, ""} for an
 * id whose record the reap has marked (LWM2M_CF_REAP) or, for a client
 * without DTLS, whose record is missing (reaped: the endpoint index named
 * it, see register_reaped); {3, ""} for a DTLS client's (sec 1: its id is
 * its credential's) marked record; nothing is written in these three.
 * Else {1, previous owner or ""} once the record is replaced; like
 * send_record, it leaves out the fields at their default (d, as
 * reg_defaults), so a record is the same whichever path wrote it. */
const char gw_takeover_lua[] =
    "if redis.call('EXISTS', KEYS[2]) == 1 then return {0, ''} end\n"
    "local r = redis.call('HMGET', KEYS[1], 'gw', 'reap')\n"
    "if r[2] then return {ARGV[17] == '1' and 3 or 2, ''} end\n"
    "if not r[1] and ARGV[17] ~= '1' then return {2, ''} end\n"
    "local f = {'ep', 'org', 'addr', 'lt', 'b', 'q', 'lwm2m', 'sms',\n"
    "  'root', 'ct', 'objs', 'reg', 'upd', 'exp', 'gw', 'state', 'sec',\n"
    "  'extra'}\n"
    "local d = {q = '0', sms = '', root = '', ct = '', sec = '0',\n"
    "  extra = ''}\n"
    "local a = {}\n"
    "for i = 1, #f do\n"
    "  if d[f[i]] ~= ARGV[i] then a[#a + 1] = f[i] a[#a + 1] = ARGV[i] end\n"
    "end\n"
    "local old = r[1] or ''\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], unpack(a))\n"
    "return {1, old}\n";

/* KEYS endpoint index; ARGV the id the takeover found reaped, a new id.
 * The index is pointed at the new id if it is missing or still names the
 * reaped one (nil returned, as SET NX GET does when it set it), else its
 * value is returned (another Register pointed it at its own new id). */
const char gw_reclaim_lua[] = "local v = redis.call('GET', KEYS[1])\n"
                              "if v and v ~= ARGV[1] then return v end\n"
                              "redis.call('SET', KEYS[1], ARGV[2])\n"
                              "return false\n";

/* the strings the register steps point argv at */
struct reg_buf {
	char client[LWM2M_ID_SIZE + 32];
	const char *expiry; /* gw->reg_expiry_key */
	char org_clients[64], org[24], lt[24], reg[24], upd[24], exp[24];
	char maxlen[24];
};

/* fills v[0..REG_VALUES) with the record's values, in REG_FIELDS order */
static void
record_values(const struct gw_ctx *gw, const struct gw_record *r,
              const struct reg_buf *b, const char **v)
{
	const char *vals[REG_VALUES] = {r->ep,
	                                b->org,
	                                r->addr,
	                                b->lt,
	                                r->b,
	                                r->queue ? "1" : "0",
	                                r->lwm2m,
	                                r->sms,
	                                r->root,
	                                r->ct,
	                                r->objs ? r->objs : "",
	                                b->reg,
	                                b->upd,
	                                b->exp,
	                                gw->cfg.gw_id,
	                                gw_state_name(r->state),
	                                r->secure ? "1" : "0",
	                                r->extra};

	memcpy(v, vals, sizeof vals);
}

/* writes v in decimal to buf (at least 21 bytes), like "%lld" but a
 * tenth of snprintf's instructions */
static void
put_ll(char *buf, long long v)
{
	if (v < 0) {
		*buf++ = '-';
	}
	*lwm2m_dec_put(buf, v < 0 ? 0ull - (unsigned long long)v
	                          : (unsigned long long)v) = '\0';
}

/* Formats a key of lwm2m_keys.h into buf like snprintf, for formats made
 * of text, %s and %lld (all of lwm2m_keys.h's), in about a fifth of
 * snprintf's instructions (bench/README.md, seventh storm round); any
 * other conversion, or a key that does not fit, goes to vsnprintf. */
static void __attribute__((format(printf, 3, 4)))
key_format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t pos = 0;
	const char *f = fmt;
	bool ok = true;

	va_start(ap, fmt);
	while (ok && *f != '\0') {
		const char *text = f;
		size_t len = 1;
		char num[24];

		if (f[0] == '%' && f[1] == 's') {
			text = va_arg(ap, const char *);
			len = strlen(text);
			f += 2;
		} else if (f[0] == '%' && strncmp(f, "%lld", 4) == 0) {
			put_ll(num, va_arg(ap, long long));
			text = num;
			len = strlen(num);
			f += 4;
		} else if (f[0] == '%') {
			ok = false;
			break;
		} else {
			const char *pct = strchr(f, '%');

			len = pct != NULL ? (size_t)(pct - f) : strlen(f);
			f += len;
		}
		ok = len < size - pos;
		if (ok) {
			memcpy(buf + pos, text, len);
			pos += len;
		}
	}
	va_end(ap);
	if (ok) {
		buf[pos] = '\0';
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* the numbers and keys of a Register's steps; the gateway's expiry key
 * is formatted once */
static void
format_numbers(struct gw_ctx *gw, const struct gw_record *r, struct reg_buf *b)
{
	long long maxlen = gw->devops != NULL ? gw->devops->events_maxlen
	                                      : GW_EVENTS_MAXLEN_DEFAULT;

	if (gw->reg_expiry_key[0] == '\0') {
		snprintf(gw->reg_expiry_key, sizeof gw->reg_expiry_key,
		         LWM2M_KEY_GATEWAY_EXPIRY, gw->cfg.gw_id);
	}
	key_format(b->client, sizeof b->client, LWM2M_KEY_CLIENT, r->id);
	key_format(b->org_clients, sizeof b->org_clients, LWM2M_KEY_ORG_CLIENTS,
	           r->org);
	b->expiry = gw->reg_expiry_key;
	put_ll(b->org, r->org);
	put_ll(b->lt, r->lt);
	put_ll(b->reg, r->reg_ms);
	if (r->upd_ms == r->reg_ms) { /* a Register: the same number */
		memcpy(b->upd, b->reg, sizeof b->upd);
	} else {
		put_ll(b->upd, r->upd_ms);
	}
	put_ll(b->exp, r->exp_ms);
	put_ll(b->maxlen, maxlen);
}

static void on_reg_step(struct lwm2m_redis *redis, redisReply *reply,
                        void *arg);
static void on_takeover(struct lwm2m_redis *redis, redisReply *reply,
                        void *arg);

/* sends one command of the current step; its reply counts down waiting */
static void
step_argv(struct op *op, lwm2m_redis_cb cb, int argc, const char **argv)
{
	if (op->failed) {
		return;
	}
	if (lwm2m_redis_cmdargv(op->gw->redis, cb, op, argc, argv, NULL) !=
	    LWM2M_OK) {
		op->failed = true;
		return;
	}
	op->waiting++;
}

/* step 2: the gateway's expiry entry */
static void
send_gw_index(struct op *op, const struct reg_buf *b)
{
	const char *zadd[] = {"ZADD", b->expiry, b->exp, op->rec.id};

	step_argv(op, on_reg_step, 4, zadd);
}

/* The default of each field of REG_FIELDS that every reader takes when
 * the field is missing (docs/redis-schema.md): q (index 5), sms (7), root
 * (8), ct (9), sec (16), extra (17); NULL for the fields always written. */
static const char *const reg_defaults[REG_VALUES] = {
    [5] = "0", [7] = "", [8] = "", [9] = "", [16] = "0", [17] = ""};

/* whether v is d, a default of reg_defaults ("" or "0"): a strcmp call
 * per field was ~120 instructions a Register */
static bool
is_default(const char *v, const char *d)
{
	return v[0] == d[0] && (d[0] == '\0' || strcmp(v + 1, d + 1) == 0);
}

/* step 3 for a new endpoint: HSET of the fields that differ from their
 * default (the key is new: the id was drawn for this registration).  Each
 * field costs Redis a search of the record's listpack, so the storm's
 * 12-field records cost less than 18. */
static void
send_record(struct op *op, const struct reg_buf *b)
{
	static const char *const names[REG_VALUES] = {REG_FIELDS};
	const char *vals[REG_VALUES], *argv[2 + 2 * REG_VALUES];
	int argc = 2;

	record_values(op->gw, &op->rec, b, vals);
	argv[0] = "HSET";
	argv[1] = b->client;
	for (int i = 0; i < REG_VALUES; i++) {
		if (reg_defaults[i] != NULL &&
		    is_default(vals[i], reg_defaults[i])) {
			continue;
		}
		argv[argc++] = names[i];
		argv[argc++] = vals[i];
	}
	step_argv(op, on_reg_step, argc, argv);
}

/* step 3 for an endpoint seen before: the takeover script */
static void
send_takeover(struct op *op, const struct reg_buf *b, bool by_body)
{
	struct gw_ctx *gw = op->gw;
	bool sha = !by_body && gw->reg_sha[0] != '\0';
	char black[LWM2M_ID_SIZE + 48];
	const char *argv[5 + REG_VALUES] = {sha ? "EVALSHA" : "EVAL",
	                                    sha ? gw->reg_sha : gw_takeover_lua,
	                                    "2", b->client, black};

	snprintf(black, sizeof black, LWM2M_KEY_CLIENT_BLACKLIST, op->rec.id);
	record_values(gw, &op->rec, b, argv + 5);
	step_argv(op, on_takeover, 5 + REG_VALUES, argv);
}

static void on_reg_subs(struct lwm2m_redis *redis, redisReply *reply,
                        void *arg);

/* step 6's event */
static void
send_event(struct op *op, const struct reg_buf *b)
{
	const char *xadd[] = {"XADD",    LWM2M_KEY_EVENTS,
	                      "MAXLEN",  "~",
	                      b->maxlen, "*",
	                      "type",    "registered",
	                      "id",      op->rec.id,
	                      "org",     b->org,
	                      "gw",      op->gw->cfg.gw_id,
	                      "ts",      b->reg,
	                      "ep",      op->rec.ep};

	step_argv(op, on_reg_step, 18, xadd);
	op->xadd_sent = !op->failed;
}

/* steps 4 to 6 (5 only when another gateway owned the client; the event
 * with them unless its organisation had no subscription when last
 * checked) */
static void
send_indexes(struct op *op, const struct reg_buf *b)
{
	const char *zadd[] = {"ZADD", b->org_clients, b->reg, op->rec.id};
	char key[GW_EP_MAX + 64];

	step_argv(op, on_reg_step, 4, zadd);
	if (op->overwrite_index) {
		const char *set[] = {"SET", op->idx, op->rec.id};
		step_argv(op, on_reg_step, 3, set);
	}
	if (op->old_gw[0] != '\0' && strcmp(op->old_gw, op->gw->cfg.gw_id)) {
		const char *zrem[] = {"ZREM", key, op->rec.id};
		snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_EXPIRY, op->old_gw);
		step_argv(op, on_reg_step, 3, zrem);
	}
	op->subs = true;
	if (gw_subs_fresh(op->gw, op->rec.org)) {
		send_event(op, b);
		return;
	}
	if (!op->failed) {
		if (gw_subs_check(op->gw, op->rec.org, on_reg_subs, op) ==
		    LWM2M_OK) {
			op->waiting++;
		} else {
			op->failed = true;
		}
	}
	if (gw_subs_maybe(op->gw, op->rec.org)) {
		send_event(op, b);
	}
}

/* the entries of step 2 of a refused (blacklisted) id */
static void
send_unindex_refused(struct op *op, const struct reg_buf *b)
{
	const char *zrem[] = {"ZREM", b->expiry, op->rec.id};

	step_argv(op, on_reg_step, 3, zrem);
}

/* sends the next step of op; false when nothing could be sent */
static bool
register_next(struct op *op, bool by_body)
{
	struct reg_buf b;

	format_numbers(op->gw, &op->rec, &b);
	op->failed = false;
	op->waiting = 0;
	switch (op->step) {
	case REG_NEW:
		send_gw_index(op, &b);
		send_record(op, &b);
		send_indexes(op, &b);
		break;
	case REG_TAKEOVER:
		send_gw_index(op, &b);
		send_takeover(op, &b, by_body);
		break;
	case REG_INDEXES:
		send_indexes(op, &b);
		break;
	case REG_REFUSED:
		send_unindex_refused(op, &b);
		break;
	case REG_EVENT:
		send_event(op, &b);
		break;
	case REG_CLAIM:
		break;
	}
	return !op->failed || op->waiting > 0;
}

/* decides the client id from the endpoint index's previous value: an index
 * that does not hold a client id (22 characters of base64url) is
 * re-pointed; over DTLS the credential's id is used and the index
 * re-pointed to it */
static void
register_claimed(struct op *op, const redisReply *reply)
{
	const char *old = reply->type == REDIS_REPLY_STRING ? reply->str : NULL;

	memcpy(op->rec.id, op->new_id, sizeof op->rec.id);
	op->step = old == NULL && !op->rec.secure ? REG_NEW : REG_TAKEOVER;
	if (old == NULL) {
		return;
	}
	if (!op->rec.secure && lwm2m_id_valid(old, reply->len)) {
		memcpy(op->rec.id, old, LWM2M_ID_LEN);
		op->rec.id[LWM2M_ID_LEN] = '\0';
	} else {
		op->overwrite_index = strcmp(old, op->new_id) != 0;
	}
}

static void
on_claim(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct op *op = arg;
	char q[GW_EP_MAX * 2];

	if (!reply_ok(reply) || (reply->type != REDIS_REPLY_NIL &&
	                         reply->type != REDIS_REPLY_STRING)) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "register ep=\"%s\": redis write failed: %s",
		          lwm2m_log_quote(q, sizeof q, op->rec.ep,
		                          strlen(op->rec.ep)),
		          reply && reply->str ? reply->str : "no reply");
		op_unavailable(op);
		return;
	}
	register_claimed(op, reply);
	if (!register_next(op, false)) {
		op_unavailable(op);
	}
}

/* The takeover found op->rec.id reaped (its record marked by the reap, or
 * without DTLS missing): the record is not written under it.  A DTLS
 * client, whose id is its credential's, waits for the end of the reap
 * (5.03 with Max-Age; the record is then gone and written afresh); any
 * other Register points the endpoint index away from the reaped id and
 * starts again from the lookup, as on_claim: under a new id, or the one
 * another Register just set.  A record missing under an id the index named
 * is also what a Register that stopped between its steps 1 and 3 leaves:
 * that id was never answered, so a new one costs nothing.  The expiry
 * entry of step 2 is made due now: the sweep finds the record gone (it
 * drops the entry) or marked: in the set of the gateway the record names
 * it finishes a reap that stopped; in another's it drops the entry, and
 * the owner's own entry comes due when its lease ends (docs/redis-schema.md,
 * "Register against the reap"). */
static void
register_reaped(struct op *op)
{
	const char *argv[] = {"EVAL",  gw_reclaim_lua, "1",
	                      op->idx, op->rec.id,     op->new_id};
	char now[24];

	/* due at once: the sweep finishes a reap that stopped (or drops the
	 * entry), rather than when this Register's step 2 said */
	put_ll(now, (long long)lwm2m_now_ms());
	BATCH(op->gw, "ZADD %s %s %s", op->gw->reg_expiry_key, now, op->rec.id);
	if (op->reaping) {
		lwm2m_log(LWM2M_LOG_NOTICE,
		          "register id=%s: its record is being reaped, "
		          "answered 5.03",
		          op->rec.id);
		op_finish(op, COAP_RESPONSE_CODE(503),
		          "client record being reaped, retry later");
		return;
	}
	lwm2m_log(LWM2M_LOG_INFO, "register id=%s: reaped, a new id",
	          op->rec.id);
	op->reaped = false;
	op->overwrite_index = false;
	op->old_gw[0] = '\0';
	op->step = REG_CLAIM;
	if (++op->reclaims > RECLAIMS_MAX ||
	    lwm2m_redis_cmdargv(op->gw->redis, on_claim, op, 6, argv, NULL) !=
	        LWM2M_OK) {
		op_unavailable(op);
	}
}

static void
registered(struct op *op)
{
	struct gw_record *r = &op->rec;
	char q[GW_EP_MAX * 2];
	struct gw_device *d;

	d = remember(op->gw, r->id, r->ep, r->org, r->lt, r->queue, r->exp_ms,
	             &op->req.addr);
	attach(op, d, true);
	lwm2m_log(LWM2M_LOG_INFO, "registered ep=\"%s\" id=%s org=%lld lt=%u",
	          lwm2m_log_quote(q, sizeof q, r->ep, strlen(r->ep)), r->id,
	          r->org, r->lt);
	if (op->xadd_sent) {
		gw_publish_nng(op->gw, LWM2M_ENV_EV_REGISTERED, r->id, r->ep,
		               r->org);
	} else {
		gw_publish_skipped(op->gw, LWM2M_ENV_EV_REGISTERED, r->id,
		                   r->ep, r->org);
	}
	op_finish(op, COAP_RESPONSE_CODE(201), NULL);
}

/* the step's replies are all in: the next step, or the answer */
static void
step_done(struct op *op)
{
	if (op->failed) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "register id=%s: redis write "
		          "failed",
		          op->rec.id);
		op_unavailable(op);
		return;
	}
	switch (op->step) {
	case REG_TAKEOVER:
		if (op->reaped || op->reaping) {
			register_reaped(op);
			return;
		}
		op->step = op->blacklisted ? REG_REFUSED : REG_INDEXES;
		if (!register_next(op, false)) {
			op_unavailable(op);
		}
		return;
	case REG_REFUSED:
		lwm2m_log(LWM2M_LOG_NOTICE,
		          "register id=%s refused: blacklisted", op->rec.id);
		op_finish(op, COAP_RESPONSE_CODE(403), "client is blacklisted");
		return;
	case REG_NEW:
	case REG_INDEXES:
		if (op->subs && !op->xadd_sent) {
			/* subscriptions appeared since the last check */
			op->step = REG_EVENT;
			if (!register_next(op, false)) {
				op_unavailable(op);
			}
			return;
		}
		registered(op);
		return;
	case REG_CLAIM:
	case REG_EVENT:
		registered(op);
		return;
	}
}

static void
on_reg_step(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct op *op = arg;

	if (!reply_ok(reply)) {
		op->failed = true;
	}
	if (--op->waiting == 0) {
		step_done(op);
	}
}

/* step 6's check: whether the event is needed */
static void
on_reg_subs(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct op *op = arg;

	op->subs = gw_subs_learn(op->gw, op->rec.org, reply);
	if (reply == NULL) {
		op->failed = true;
	}
	if (--op->waiting == 0) {
		step_done(op);
	}
}

static bool
is_noscript(const redisReply *reply)
{
	return reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	       strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

/* the takeover script's answer {1|0, previous owner} */
static void
on_takeover(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct op *op = arg;
	struct reg_buf b;

	if (is_noscript(reply)) {
		format_numbers(op->gw, &op->rec, &b);
		op->waiting--;
		send_takeover(op, &b, true);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER ||
	    reply->element[1]->type != REDIS_REPLY_STRING) {
		op->failed = true;
	} else {
		op->blacklisted = reply->element[0]->integer == 0;
		op->reaped = reply->element[0]->integer == 2;
		op->reaping = reply->element[0]->integer == 3;
		snprintf(op->old_gw, sizeof op->old_gw, "%s",
		         reply->element[1]->str);
	}
	if (--op->waiting == 0) {
		step_done(op);
	}
}

/* step 1: the endpoint index */
static lwm2m_err
register_send(struct op *op)
{
	const char *argv[] = {"SET", op->idx, op->new_id, "NX", "GET"};

	key_format(op->idx, sizeof op->idx, LWM2M_KEY_ORG_ENDPOINT, op->rec.org,
	           op->rec.ep);
	op->step = REG_CLAIM;
	return lwm2m_redis_cmdargv(op->gw->redis, on_claim, op, 5, argv, NULL);
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
	const char *argv[] = {"SCRIPT", "LOAD", gw_takeover_lua};

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
	struct op *op = lwm2m_spares_take(&gw->spare_ops);

	if (op == NULL) {
		op = malloc(sizeof *op);
	}
	if (op == NULL) {
		gw_reg_links_fini(&req->links);
		finish(ex, COAP_RESPONSE_CODE(500), NULL, "out of memory");
		return NULL;
	}
	/* req is copied over below: zeroing its 904 bytes first was ~115
	 * instructions a Register (bench/README.md, ninth storm round) */
	memset(op, 0, offsetof(struct op, req));
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
	_Static_assert(sizeof op->rec.addr == sizeof op->req.addr_text,
	               "the address text is copied whole");
	memcpy(op->rec.addr, op->req.addr_text, sizeof op->rec.addr);
	if (op->req.cred.present) {
		memcpy(op->new_id, op->req.cred.id, sizeof op->new_id);
	} else if (lwm2m_id_new(op->new_id) != LWM2M_OK) {
		op_finish(op, COAP_RESPONSE_CODE(500), "no randomness");
		return;
	}
	if (register_send(op) != LWM2M_OK) {
		op_unavailable(op);
	}
}

/* ---- Update and De-register ------------------------------------------------
 *
 * Single-slot steps.  Update: the gateway's expiry entry
 * (before the record, as in Register), then the record in a MULTI/EXEC of
 * the client's slot, whose reply answers the device, then the previous
 * owner's entries.  De-register: the record's state first, then the
 * connected and gateway indexes, the expiry entry last.  A crash between
 * steps leaves either an unanswered device (it retries the same request)
 * or an expiry entry whose record is not registered by that gateway, which
 * the sweep removes with the indexes it still finds (gw_registry_sweep). */

static void
write_update(struct gw_ctx *gw, const char *id, const struct gw_update *u,
             const char *addr)
{
	char key[GW_EP_MAX + 64];

	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_EXPIRY, gw->cfg.gw_id);
	BATCH(gw, "ZADD %s %lld %s", key, (long long)u->exp_ms, id);
	BATCH(gw, "MULTI");
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
}

static void
on_exec_logged(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_WARNING, "redis write failed: %s",
		          reply && reply->str ? reply->str : "connection lost");
	}
}

/* De-register: the record's state (and with a retention the time it left,
 * in the same HSET), the previous owner's entry, the indexes */
static lwm2m_err
write_deregister(struct gw_ctx *gw, struct gw_device *dev, const char *old_gw,
                 lwm2m_redis_cb cb, void *arg)
{
	long long now = (long long)lwm2m_now_ms();
	const char *state = gw_state_name(GW_STATE_DEREGISTERED);
	char key[128];

	key_client(key, sizeof key, dev->id);
	if (gw->cfg.retention_ms == 0) {
		BATCH(gw, "HSET %s state %s upd %lld", key, state, now);
	} else {
		BATCH(gw, "HSET %s state %s upd %lld " LWM2M_CF_LEFT " %lld",
		      key, state, now, now);
	}
	write_disown(gw, dev->id, old_gw);
	return write_unindex(gw, dev->id, dev->org, gw->cfg.gw_id,
	                     lwm2m_retention_until(gw->cfg.retention_ms, now),
	                     cb, arg);
}

/* Applies an accepted Update/De-register of dev in single-slot steps
 * (above); cb(arg) gets the reply of the step that answers the device. */
static lwm2m_err
apply_update(struct gw_ctx *gw, struct gw_device *dev, struct gw_request *req,
             const char *old_gw, lwm2m_redis_cb cb, void *arg)
{
	struct gw_update u;
	lwm2m_err err;

	if (!lwm2m_redis_connected(gw->redis)) {
		return LWM2M_EBACKEND;
	}
	if (req->deregister) {
		return write_deregister(gw, dev, old_gw, cb, arg);
	}
	gw_reg_build_update(&req->q, req->has_links ? &req->links : NULL,
	                    dev->lt, dev->queue, lwm2m_now_ms(), &u);
	if ((dev->caps.major > 1 || dev->caps.minor > 0) && !req->q.q) {
		/* 1.1+: queue mode is the Q flag of the Register; a binding
		 * without Q in an Update does not end it */
		u.queue = dev->queue;
	}
	write_update(gw, dev->id, &u, req->addr_text);
	free(u.objs);
	dev->lt = u.lt;
	dev->queue = u.queue;
	dev->exp_ms = u.exp_ms;
	dev->addr = req->addr;
	err = lwm2m_redis_cmd(gw->redis, cb, arg, "EXEC");
	write_disown(gw, dev->id, old_gw);
	return err;
}

/* the event of an Update or De-register, added to {events} only when the
 * check sent after the write found subscriptions (gw_subs_check) */
static void
announce_done(struct gw_ctx *gw, struct gw_device *dev, bool deregister,
              bool subs)
{
	uint16_t kind =
	    deregister ? LWM2M_ENV_EV_DEREGISTERED : LWM2M_ENV_EV_UPDATED;

	/* an update is the device's heartbeat: debug, like each request */
	lwm2m_log(deregister ? LWM2M_LOG_INFO : LWM2M_LOG_DEBUG,
	          "%s id=%s org=%lld", deregister ? "deregistered" : "updated",
	          dev->id, dev->org);
	if (subs) {
		gw_publish(gw, kind, dev->id, dev->ep, dev->org);
	} else {
		gw_publish_skipped(gw, kind, dev->id, dev->ep, dev->org);
	}
	if (deregister) {
		gw_table_del(&gw->table, dev->id);
	}
}

/* both replies of update_write are in: the event, then the answer */
static void
update_written(struct op *op)
{
	struct gw_device *dev = gw_table_get(&op->gw->table, op->req.id);

	if (op->failed || dev == NULL) {
		op_unavailable(op);
		return;
	}
	announce_done(op->gw, dev, op->req.deregister, op->subs);
	op_finish(op,
	          op->req.deregister ? COAP_RESPONSE_CODE(202)
	                             : COAP_RESPONSE_CODE(204),
	          NULL);
}

/* the reply of the write that answers the device */
static void
on_update_written(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct op *op = arg;

	if (!reply_ok(reply) ||
	    (!op->req.deregister && reply->type != REDIS_REPLY_ARRAY)) {
		op->failed = true;
	}
	if (--op->waiting == 0) {
		update_written(op);
	}
}

/* the reply of the check sent after that write */
static void
on_update_subs(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct op *op = arg;

	op->subs = gw_subs_learn(op->gw, op->rec.org, reply);
	if (--op->waiting == 0) {
		update_written(op);
	}
}

/* writes the accepted Update or De-register of dev, then the check of its
 * organisation's subscriptions on the same connection (after the record:
 * see gw_subs_check); the device is answered once both replies are in */
static lwm2m_err
update_write(struct op *op, struct gw_device *dev)
{
	lwm2m_err err = apply_update(op->gw, dev, &op->req, op->old_gw,
	                             on_update_written, op);

	if (err != LWM2M_OK) {
		return err;
	}
	op->failed = false;
	op->subs = true;
	op->waiting = 1;
	if (!gw_subs_fresh(op->gw, dev->org) &&
	    gw_subs_check(op->gw, dev->org, on_update_subs, op) == LWM2M_OK) {
		op->waiting++;
	}
	return LWM2M_OK;
}

/* fields of the HMGET in update_lookup, in order */
enum { F_EP, F_ORG, F_STATE, F_EXP, F_LT, F_Q, F_GW, F_ROOT, F_VER, F_CT, F_N };

/* an HMGET element: its text, "" for a missing field */
static const char *
field_or_empty(const redisReply *e)
{
	return e->type == REDIS_REPLY_STRING ? e->str : "";
}

static bool
read_record(struct op *op, const redisReply *r)
{
	const redisReply *const *e = (const redisReply *const *)r->element;
	long long org = 0, lt = 0;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != F_N) {
		return false;
	}
	/* q, root and ct are left out of a new record at their default */
	for (int i = 0; i < F_N; i++) {
		if (e[i]->type != REDIS_REPLY_STRING &&
		    (e[i]->type != REDIS_REPLY_NIL ||
		     (i != F_Q && i != F_ROOT && i != F_CT))) {
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
	op->rec.queue = strcmp(field_or_empty(e[F_Q]), "1") == 0;
	snprintf(op->rec.root, sizeof op->rec.root, "%s",
	         field_or_empty(e[F_ROOT]));
	snprintf(op->rec.lwm2m, sizeof op->rec.lwm2m, "%s", e[F_VER]->str);
	snprintf(op->rec.ct, sizeof op->rec.ct, "%s", field_or_empty(e[F_CT]));
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
	attach(op,
	       remember(op->gw, r->id, r->ep, r->org, r->lt, r->queue,
	                r->exp_ms, &op->req.addr),
	       false);
	dev = gw_table_get(&op->gw->table, r->id);
	if (dev == NULL || update_write(op, dev) != LWM2M_OK) {
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

/* ---- expiry -------------------------------------------------------------
 *
 * Each gateway has its own expiry set gw:{g}:expiry (one global set was a
 * hot key, written by every registration of every gateway, and of another
 * slot than the records).  A gateway sweeps its own set, and the set of
 * every gateway of LWM2M_KEY_GATEWAYS whose alive key has lapsed (a dead
 * gateway's devices still expire; several live gateways may sweep it at
 * once).  A sweep claims the due entries with a lease (claim_lua: their
 * score moves SWEEP_LEASE_MS ahead), so only one sweeper handles an entry at
 * a time, and one that crashes midway leaves an entry that comes due again.
 * For each claimed id the record decides:
 * - owned by another gateway (taken over): the entry is dropped;
 * - missing: the entry is dropped; with a retention (LWDS_CLIENT_RETENTION_S
 *   not 0) the reap that deleted it is finished first (gw_reap_gone);
 * - not registered (de-registered, removed, or expired by a sweeper that
 *   crashed: then the expired event is sent again, at least once): the
 *   indexes are cleaned, the expiry entry last: removed, or with a
 *   retention moved to left + retention (a record without LWM2M_CF_LEFT,
 *   left before retention existed, gets it now); with a retention and
 *   left + retention passed, the client is reaped instead (gw_reap.c);
 * - registered and not yet due (updated meanwhile): its score is restored;
 * - registered and due: state expired (and with a retention, left), the
 *   event, then the indexes as above. */

#define SWEEP_LEASE_MS 60000

/* KEYS expiry set; ARGV max score, lease score, limit.  Returns the ids
 * due (score <= max), each rescored to the lease. */
static const char claim_lua[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],\n"
    "  'LIMIT', 0, ARGV[3])\n"
    "for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end\n"
    "return ids\n";

struct sweep {
	struct gw_ctx *gw;
	char id[LWM2M_ID_SIZE];
	char owner[GW_EP_MAX + 1]; /* the gateway of the expiry set */
	long long lease;           /* the entry's score since the claim */
};

/* the fields of the record the sweep reads, in its HMGET's order; every
 * one but left must be there */
enum { S_EP, S_ORG, S_STATE, S_EXP, S_GW, S_LEFT, S_N };

/* an expiry waiting for the check of its organisation's subscriptions */
struct expired {
	struct gw_ctx *gw;
	long long org;
	long long until; /* write_unindex's */
	char id[LWM2M_ID_SIZE];
	char ep[GW_EP_MAX + 1];
	char owner[GW_EP_MAX + 1];
};

/* the event (when the check found subscriptions or cannot tell), then the
 * indexes, the expiry entry last: a crash before it leaves an entry whose
 * sweep sends the event again */
static void
on_expired_subs(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct expired *x = arg;

	if (reply == NULL) {
		free(x); /* connection lost: the entry is swept again */
		return;
	}
	if (gw_subs_learn(x->gw, x->org, reply)) {
		gw_publish(x->gw, LWM2M_ENV_EV_EXPIRED, x->id, x->ep, x->org);
	} else {
		gw_publish_skipped(x->gw, LWM2M_ENV_EV_EXPIRED, x->id, x->ep,
		                   x->org);
	}
	write_unindex(x->gw, x->id, x->org, x->owner, x->until, on_exec_logged,
	              NULL);
	free(x);
}

/* the expired event and the indexes of l, after the check of the
 * organisation's subscriptions sent after the record's state (both at
 * once when its subscriptions were seen just before, or the check cannot
 * be sent) */
static void
expired_event(struct gw_ctx *gw, const struct gw_left *l)
{
	struct expired *x =
	    gw_subs_fresh(gw, l->org) ? NULL : calloc(1, sizeof *x);
	long long until = lwm2m_retention_until(gw->cfg.retention_ms, l->left);

	if (x != NULL) {
		x->gw = gw;
		x->org = l->org;
		x->until = until;
		memcpy(x->id, l->id, sizeof x->id);
		memcpy(x->ep, l->ep, sizeof x->ep);
		memcpy(x->owner, l->owner, sizeof x->owner);
		if (gw_subs_check(gw, l->org, on_expired_subs, x) == LWM2M_OK) {
			return;
		}
		free(x);
	}
	gw_publish(gw, LWM2M_ENV_EV_EXPIRED, l->id, l->ep, l->org);
	write_unindex(gw, l->id, l->org, l->owner, until, on_exec_logged, NULL);
}

/* the expiry of l; set_state: the record's state first (with a retention
 * and the time it left, l->left, in the same HSET) */
static void
expire(struct gw_ctx *gw, const struct gw_left *l, bool set_state)
{
	const char *state = gw_state_name(GW_STATE_EXPIRED);
	char key[128];

	if (set_state) {
		key_client(key, sizeof key, l->id);
		if (gw->cfg.retention_ms == 0) {
			BATCH(gw, "HSET %s state %s", key, state);
		} else {
			BATCH(gw, "HSET %s state %s " LWM2M_CF_LEFT " %lld",
			      key, state, l->left);
		}
		lwm2m_log(LWM2M_LOG_INFO, "expired id=%s org=%lld", l->id,
		          l->org);
	}
	if (strcmp(l->owner, gw->cfg.gw_id) == 0) {
		gw_table_del(&gw->table, l->id);
	}
	expired_event(gw, l);
}

void
gw_registry_leave(struct gw_ctx *gw, const struct gw_left *l)
{
	if (l->state == GW_STATE_EXPIRED) {
		expire(gw, l, false);
		return;
	}
	write_unindex(gw, l->id, l->org, l->owner,
	              lwm2m_retention_until(gw->cfg.retention_ms, l->left),
	              on_exec_logged, NULL);
}

/* drops the entry of an id whose record is gone or another's */
static void
sweep_drop(struct sweep *s)
{
	char key[GW_EP_MAX + 64];

	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_EXPIRY, s->owner);
	BATCH(s->gw, "ZREM %s %s", key, s->id);
}

/* l for the record e of s (state as parsed; left 0 when the record has
 * none or a malformed one) */
static void
left_init(struct gw_left *l, const struct sweep *s, const redisReply *const *e,
          enum gw_state state)
{
	const redisReply *left = e[S_LEFT];

	memset(l, 0, sizeof *l);
	memcpy(l->id, s->id, sizeof l->id);
	memcpy(l->owner, s->owner, sizeof l->owner);
	snprintf(l->ep, sizeof l->ep, "%s", e[S_EP]->str);
	l->org = strtoll(e[S_ORG]->str, NULL, 10);
	l->state = state;
	l->lease = s->lease;
	if (left->type != REDIS_REPLY_STRING ||
	    lwm2m_parse_int(left->str, 1, INT64_MAX, &l->left) != LWM2M_OK) {
		l->left = 0;
	}
}

/* a record of this owner that is not registered: the rest of its leave,
 * or with a retention past left + retention its reap */
static void
sweep_left(struct sweep *s, const redisReply *const *e, enum gw_state state)
{
	struct gw_ctx *gw = s->gw;
	long long now = (long long)lwm2m_now_ms();
	struct gw_left l;
	char key[128];

	left_init(&l, s, e, state);
	if (gw->cfg.retention_ms != 0 && l.left == 0) {
		/* it left before LWDS_CLIENT_RETENTION_S was set: the
		 * retention starts now */
		l.left = now;
		key_client(key, sizeof key, l.id);
		BATCH(gw, "HSET %s " LWM2M_CF_LEFT " %lld", key, l.left);
	} else if (gw->cfg.retention_ms != 0 &&
	           lwm2m_retention_until(gw->cfg.retention_ms, l.left) <= now) {
		gw_reap_start(gw, &l);
		return;
	}
	gw_registry_leave(gw, &l);
}

static void
sweep_decide(struct sweep *s, const redisReply *const *e)
{
	long long exp = strtoll(e[S_EXP]->str, NULL, 10);
	long long now = (long long)lwm2m_now_ms();
	enum gw_state state = GW_STATE_DEREGISTERED;
	char key[GW_EP_MAX + 64];
	struct gw_left l;

	if (strcmp(e[S_GW]->str, s->owner) != 0) {
		sweep_drop(s);
	} else if (!gw_state_parse(e[S_STATE]->str, &state) ||
	           state != GW_STATE_REGISTERED) {
		sweep_left(s, e, state);
	} else if (exp + GW_EXPIRY_GRACE_MS > now) {
		snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_EXPIRY, s->owner);
		BATCH(s->gw, "ZADD %s %lld %s", key, exp, s->id);
	} else {
		left_init(&l, s, e, GW_STATE_EXPIRED);
		l.left = now;
		expire(s->gw, &l, true);
	}
}

static void
on_sweep_record(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct sweep *s = arg;
	const redisReply *const *e;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != S_N) {
		free(s); /* the lease runs out: swept again later */
		return;
	}
	e = (const redisReply *const *)reply->element;
	for (int i = 0; i < S_LEFT; i++) {
		if (e[i]->type != REDIS_REPLY_STRING) {
			/* record gone: with a retention, reaped (maybe
			 * partly, the rest is done now) */
			if (s->gw->cfg.retention_ms != 0) {
				gw_reap_gone(s->gw, s->id, s->owner, s->lease);
			} else {
				sweep_drop(s);
			}
			free(s);
			return;
		}
	}
	sweep_decide(s, e);
	free(s);
}

struct sweep_set {
	struct gw_ctx *gw;
	char owner[GW_EP_MAX + 1];
	long long lease; /* the score claim_lua gives the entries it claims */
};

static void
on_sweep_claim(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct sweep_set *set = arg;
	struct gw_ctx *gw = set->gw;
	char key[128];

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		free(set);
		return;
	}
	if (reply->elements == SWEEP_BATCH) {
		/* more are due: sweep again right after these */
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
		memcpy(s->owner, set->owner, sizeof s->owner);
		s->lease = set->lease;
		key_client(key, sizeof key, s->id);
		if (lwm2m_redis_cmd(
		        gw->redis, on_sweep_record, s,
		        "HMGET %s ep org state exp gw " LWM2M_CF_LEFT,
		        key) != LWM2M_OK) {
			free(s);
		}
	}
	free(set);
}

/* claims and handles the due entries of owner's expiry set */
static void
sweep_set(struct gw_ctx *gw, const char *owner, size_t len)
{
	long long now = (long long)lwm2m_now_ms();
	struct sweep_set *set;
	char key[GW_EP_MAX + 64];

	if (len > GW_EP_MAX || (set = calloc(1, sizeof *set)) == NULL) {
		return;
	}
	set->gw = gw;
	memcpy(set->owner, owner, len);
	set->lease = now + SWEEP_LEASE_MS;
	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_EXPIRY, set->owner);
	if (lwm2m_redis_cmd(gw->redis, on_sweep_claim, set,
	                    "EVAL %s 1 %s %lld %lld %d", claim_lua, key,
	                    now - GW_EXPIRY_GRACE_MS, set->lease,
	                    SWEEP_BATCH) != LWM2M_OK) {
		free(set);
	}
}

/* KEYS a gateway's alive key and expiry set (one slot): 1 when the
 * gateway is dead and has no device left to expire, else 0 */
static const char idle_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 and "
    "redis.call('ZCARD', KEYS[2]) == 0 then return 1 end return 0";

/* Retiring the id of a gateway gone for good from LWM2M_KEY_GATEWAYS, so
 * that live gateways stop checking it every sweep: once idle_lua finds it
 * dead and empty, SREM, then idle_lua again, and SADD back when it no
 * longer holds (the gateway came back between the check and the SREM: it
 * sets its alive key before its first registration).  Each step's
 * callback takes set over and frees it at the end. */
static void retire_send(struct sweep_set *set, lwm2m_redis_cb cb);

static void
on_retire_recheck(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct sweep_set *set = arg;

	if (lwm2m_redis_reply_int(reply, 0)) {
		lwm2m_redis_cmd(redis, NULL, NULL,
		                "SADD " LWM2M_KEY_GATEWAYS " %s", set->owner);
	} else if (lwm2m_redis_reply_int(reply, 1)) {
		lwm2m_log(LWM2M_LOG_INFO,
		          "gateway %s retired: dead, no devices", set->owner);
	}
	free(set);
}

static void
on_retire_srem(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct sweep_set *set = arg;

	if (lwm2m_redis_reply_int(reply, 1)) {
		retire_send(set, on_retire_recheck);
		return;
	}
	free(set);
}

static void
on_retire_idle(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct sweep_set *set = arg;

	if (lwm2m_redis_reply_int(reply, 1) &&
	    lwm2m_redis_cmd(redis, on_retire_srem, set,
	                    "SREM " LWM2M_KEY_GATEWAYS " %s",
	                    set->owner) == LWM2M_OK) {
		return;
	}
	free(set);
}

static void
retire_send(struct sweep_set *set, lwm2m_redis_cb cb)
{
	char alive[GW_EP_MAX + 64], expiry[GW_EP_MAX + 64];

	snprintf(alive, sizeof alive, LWM2M_KEY_GATEWAY_ALIVE, set->owner);
	snprintf(expiry, sizeof expiry, LWM2M_KEY_GATEWAY_EXPIRY, set->owner);
	if (lwm2m_redis_cmd(set->gw->redis, cb, set, "EVAL %s 2 %s %s",
	                    idle_lua, alive, expiry) != LWM2M_OK) {
		free(set);
	}
}

/* a dead peer: its due entries swept, its id retired when nothing is left */
static void
on_peer_alive(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct sweep_set *set = arg;

	if (lwm2m_redis_reply_int(reply, 0)) {
		sweep_set(set->gw, set->owner, strlen(set->owner));
		retire_send(set, on_retire_idle);
		return;
	}
	free(set);
}

/* sweeps the sets of the gateways whose alive key has lapsed */
static void
on_gateways(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct gw_ctx *gw = arg;
	char key[GW_EP_MAX + 64];

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		return;
	}
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *e = reply->element[i];
		struct sweep_set *set;
		if (e->type != REDIS_REPLY_STRING || e->len > GW_EP_MAX ||
		    strcmp(e->str, gw->cfg.gw_id) == 0 ||
		    (set = calloc(1, sizeof *set)) == NULL) {
			continue;
		}
		set->gw = gw;
		memcpy(set->owner, e->str, e->len);
		snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_ALIVE, set->owner);
		if (lwm2m_redis_cmd(gw->redis, on_peer_alive, set, "EXISTS %s",
		                    key) != LWM2M_OK) {
			free(set);
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
	gw_reap_report(gw);
	sweep_set(gw, gw->cfg.gw_id, strlen(gw->cfg.gw_id));
	lwm2m_redis_cmd(gw->redis, on_gateways, gw,
	                "SMEMBERS " LWM2M_KEY_GATEWAYS);
}

/* ---- eviction and announcement ------------------------------------------- */

lwm2m_err
gw_registry_evict(struct gw_ctx *gw, const char *id)
{
	struct gw_device *dev = gw_table_get(&gw->table, id);

	if (dev == NULL) {
		return LWM2M_ENOTFOUND;
	}
	write_unindex(gw, id, dev->org, gw->cfg.gw_id,
	              lwm2m_retention_until(gw->cfg.retention_ms,
	                                    (long long)lwm2m_now_ms()),
	              on_exec_logged, NULL);
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
	                gw->cfg.rpc_advertise != NULL ? gw->cfg.rpc_advertise
	                                              : gw->cfg.rpc_url);
	/* started dates the observation tokens: a restart under the same id
	 * reloads them (gw_restore.c), so the first process's time stays and
	 * the broker sees its observations as still held */
	lwm2m_redis_cmd(gw->redis, NULL, NULL, "HSETNX %s started %lld", key,
	                (long long)gw->started_ms);
	lwm2m_redis_cmd(gw->redis, on_started, gw, "HGET %s started", key);
	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_ALIVE, gw->cfg.gw_id);
	lwm2m_redis_cmd(gw->redis, NULL, NULL, "SET %s 1 PX %d", key,
	                gw->cfg.alive_ms * 3);
	lwm2m_redis_cmd(gw->redis, NULL, NULL, "SADD " LWM2M_KEY_GATEWAYS " %s",
	                gw->cfg.gw_id);
}
