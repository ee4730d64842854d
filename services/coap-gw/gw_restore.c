/* gw_restore.c - the device table of a restarted gateway.
 *
 * A gateway keeps its devices (address, lifetime, queue mode, formats) and
 * its observation tokens in memory; Redis holds the same state
 * (client:{id}, gw:{id}:expiry, obs:{id}).  When a gateway process starts
 * again under the same LWDS_GW_ID, this module reads that state back in
 * batches: ZSCAN of gw:{id}:expiry, then for each id one HMGET of the
 * record and one HGETALL of its tokens, the next SSCAN once the batch is
 * in.  So REST reads reach the devices and notifications carrying the
 * previous process's tokens are accepted without waiting for each device's
 * next Update.  DTLS devices come back without a session (gone with the
 * process): requests to them fail until they handshake and talk again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_redis.h"

#define SCAN_BATCH 256

/* one restore run; freed when it ends (done or connection lost) */
struct restore {
	struct gw_ctx *gw;
	int pending; /* replies of the current batch still expected */
	bool failed;
	char cursor[24];
	int64_t t0;
};

/* one id of a batch: its record, then its tokens */
struct restore_dev {
	struct restore *r;
	char id[LWM2M_ID_SIZE];
	bool ok;
	bool orphan; /* its HGETALL was not sent: on_record frees it */
	struct gw_record rec;
};

static void next_batch(struct restore *r);

static bool
num(const char *s, long long min, long long max, long long *ret_v)
{
	char *end;
	long long v;

	if (s[0] == '\0') {
		return false;
	}
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < min || v > max) {
		return false;
	}
	*ret_v = v;
	return true;
}

bool
gw_restore_record(const char *const *v, const char *gw_id, int64_t now_ms,
                  struct gw_record *ret_rec)
{
	struct gw_record rec;
	enum gw_state state;
	long long org, exp, lt;

	if (!gw_state_parse(v[GW_RF_STATE], &state) ||
	    state != GW_STATE_REGISTERED || strcmp(v[GW_RF_GW], gw_id) != 0 ||
	    !num(v[GW_RF_ORG], 0, INT64_MAX, &org) ||
	    !num(v[GW_RF_EXP], 0, INT64_MAX, &exp) ||
	    !num(v[GW_RF_LT], 1, GW_LT_MAX, &lt) ||
	    exp + GW_EXPIRY_GRACE_MS <= now_ms || v[GW_RF_EP][0] == '\0' ||
	    strlen(v[GW_RF_EP]) > GW_EP_MAX) {
		return false;
	}
	memset(&rec, 0, sizeof rec);
	snprintf(rec.ep, sizeof rec.ep, "%s", v[GW_RF_EP]);
	rec.org = org;
	rec.exp_ms = exp;
	rec.lt = (uint32_t)lt;
	rec.state = state;
	rec.queue = strcmp(v[GW_RF_Q], "1") == 0;
	rec.secure = strcmp(v[GW_RF_SEC], "1") == 0;
	snprintf(rec.addr, sizeof rec.addr, "%s", v[GW_RF_ADDR]);
	snprintf(rec.root, sizeof rec.root, "%s", v[GW_RF_ROOT]);
	snprintf(rec.lwm2m, sizeof rec.lwm2m, "%s", v[GW_RF_VER]);
	snprintf(rec.ct, sizeof rec.ct, "%s", v[GW_RF_CT]);
	*ret_rec = rec;
	return true;
}

/* the run ends: logged, and started again on the next connect if it
 * did not finish */
static void
restore_end(struct restore *r)
{
	struct gw_ctx *gw = r->gw;

	if (r->failed) {
		gw->restore_state = GW_RESTORE_NONE;
		lwm2m_log(gw->closing ? LWM2M_LOG_DEBUG : LWM2M_LOG_WARNING,
		          "restore of the device table interrupted after %zu "
		          "devices; it starts again on the next connect",
		          gw->restored);
	} else {
		gw->restore_state = GW_RESTORE_DONE;
		lwm2m_log(
		    LWM2M_LOG_NOTICE,
		    "restored %zu devices and %zu observations of gateway "
		    "%s in %lld ms",
		    gw->restored, gw->restored_obs, gw->cfg.gw_id,
		    (long long)(lwm2m_now_ms() - r->t0));
	}
	free(r);
}

/* a reply of the batch is in; the batch's last one moves on */
static void
batch_reply(struct restore *r)
{
	if (--r->pending > 0) {
		return;
	}
	if (r->failed || strcmp(r->cursor, "0") == 0) {
		restore_end(r);
	} else {
		next_batch(r);
	}
}

/* the device goes into the table unless it talked meanwhile */
static void
adopt(struct gw_ctx *gw, struct restore_dev *d, const redisReply *obs)
{
	struct gw_device *dev;
	coap_address_t addr;

	if (gw_table_get(&gw->table, d->id) != NULL ||
	    gw_coap_resolve(d->rec.addr, &addr) != LWM2M_OK) {
		return;
	}
	dev = gw_table_put(&gw->table, d->id, d->rec.ep);
	if (dev == NULL) {
		return;
	}
	dev->state = GW_STATE_REGISTERED;
	dev->org = d->rec.org;
	dev->lt = d->rec.lt;
	dev->queue = d->rec.queue;
	dev->exp_ms = d->rec.exp_ms;
	dev->addr = addr;
	/* a DTLS device is reached only on the session it opens next */
	dev->dtls = d->rec.secure;
	/* what gw_devop_attach keeps, without waking a queue-mode device:
	 * it may be asleep, its requests wait until it talks */
	dev->root = d->rec.root[0] != '\0' ? strdup(d->rec.root) : NULL;
	if (lwm2m_format_caps_init(&dev->caps, d->rec.lwm2m,
	                           strlen(d->rec.lwm2m), d->rec.ct,
	                           strlen(d->rec.ct)) != LWM2M_OK) {
		lwm2m_format_caps_init(&dev->caps, NULL, 0, NULL, 0);
	}
	gw->restored++;
	for (size_t i = 0; i + 1 < obs->elements; i += 2) {
		const redisReply *k = obs->element[i], *v = obs->element[i + 1];
		if (k->type == REDIS_REPLY_STRING &&
		    v->type == REDIS_REPLY_STRING &&
		    gw_obs_restore(gw, dev, k->str, v->str)) {
			gw->restored_obs++;
		}
	}
}

static void
on_record(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct restore_dev *d = arg;
	const char *v[GW_RF_N];

	if (d->orphan) {
		free(d);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != GW_RF_N) {
		d->r->failed = d->r->failed || reply == NULL;
		return;
	}
	for (size_t i = 0; i < GW_RF_N; i++) {
		const redisReply *e = reply->element[i];
		v[i] = e->type == REDIS_REPLY_STRING ? e->str : "";
	}
	d->ok =
	    gw_restore_record(v, d->r->gw->cfg.gw_id, lwm2m_now_ms(), &d->rec);
}

static void
on_tokens(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct restore_dev *d = arg;
	struct restore *r = d->r;

	if (reply == NULL) {
		r->failed = true;
	} else if (d->ok && !r->failed && reply->type == REDIS_REPLY_ARRAY) {
		adopt(r->gw, d, reply);
	}
	free(d);
	batch_reply(r);
}

/* asks for id's record and tokens; false when nothing was sent */
static bool
ask_device(struct restore *r, const char *id, size_t len)
{
	struct restore_dev *d;
	char key[64];

	if (len != LWM2M_ID_LEN || (d = calloc(1, sizeof *d)) == NULL) {
		return false;
	}
	d->r = r;
	memcpy(d->id, id, LWM2M_ID_LEN);
	snprintf(key, sizeof key, LWM2M_KEY_CLIENT, d->id);
	if (lwm2m_redis_cmd(r->gw->redis, on_record, d,
	                    "HMGET %s ep org state exp lt q addr root lwm2m ct "
	                    "sec gw",
	                    key) != LWM2M_OK) {
		free(d);
		return false;
	}
	snprintf(key, sizeof key, LWM2M_KEY_CLIENT_OBS, d->id);
	if (lwm2m_redis_cmd(r->gw->redis, on_tokens, d, "HGETALL %s", key) !=
	    LWM2M_OK) {
		r->failed = true;
		d->orphan = true; /* on_record still runs and frees d */
		return false;
	}
	return true;
}

static void
on_scan(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct restore *r = arg;
	const redisReply *ids;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY ||
	    reply->element[0]->len >= sizeof r->cursor) {
		r->failed = true;
		restore_end(r);
		return;
	}
	memcpy(r->cursor, reply->element[0]->str, reply->element[0]->len + 1);
	ids = reply->element[1];
	r->pending = 1; /* held while the batch is sent */
	for (size_t i = 0; i < ids->elements && !r->failed; i++) {
		const redisReply *e = ids->element[i];
		if (i % 2 == 1) {
			continue; /* ZSCAN: member, score, member, ... */
		}
		if (e->type == REDIS_REPLY_STRING &&
		    ask_device(r, e->str, e->len)) {
			r->pending++;
		}
	}
	batch_reply(r);
}

static void
next_batch(struct restore *r)
{
	char key[GW_EP_MAX + 64];

	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY_EXPIRY, r->gw->cfg.gw_id);
	if (lwm2m_redis_cmd(r->gw->redis, on_scan, r, "ZSCAN %s %s COUNT %d",
	                    key, r->cursor, SCAN_BATCH) != LWM2M_OK) {
		r->failed = true;
		restore_end(r);
	}
}

void
gw_restore_start(struct gw_ctx *gw)
{
	struct restore *r;

	if (gw->restore_state != GW_RESTORE_NONE) {
		return;
	}
	r = calloc(1, sizeof *r);
	if (r == NULL) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "out of memory: device table not restored");
		return;
	}
	r->gw = gw;
	r->t0 = lwm2m_now_ms();
	snprintf(r->cursor, sizeof r->cursor, "0");
	gw->restore_state = GW_RESTORE_RUNNING;
	next_batch(r);
}
