/* gw_observe.c - observations held on devices (token -> client, path,
 * format), their notifications (published on the events socket and
 * appended to the durable events stream), connectivity events on the same
 * stream, the intrusive queue lists, and the per-client/per-organisation
 * traffic counters of spec section 8, flushed once per loop iteration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "lwm2m_id.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_metrics.h"
#include "lwm2m_redis.h"

/* Device counters are written at most this often: a device read N times
 * in between costs one HINCRBY per counter, not N. */
#define GW_METRICS_FLUSH_MS 1000
/* organisations summed per flush before their sums are written early */
#define GW_METRICS_ORGS 32
/* devices whose counters are written per loop iteration */
#define GW_METRICS_BATCH 256
#define OBS_BUCKETS 4096 /* fixed; chains stay short for 10^5 observations */
#define OBS_MAX 1000000
#define OBS_REORDER_MS 128000 /* RFC 7641 3.4: 128 seconds */

struct gw_obs {
	struct gw_obs *next;
	uint8_t token[LWM2M_DEVOP_MAX_TOKEN];
	char client[LWM2M_ID_SIZE];
	long long org;
	struct lwm2m_path path;
	uint16_t ct;
	bool fresh_seen; /* a notification arrived after the first answer */
	uint32_t seq;
	int64_t ms;
};

/* ---- lists ---------------------------------------------------------------
 */

void
gw_qlist_push(struct gw_qlist *l, struct gw_qnode *n)
{
	n->next = NULL;
	n->prev = l->tail;
	if (l->tail != NULL) {
		l->tail->next = n;
	} else {
		l->head = n;
	}
	l->tail = n;
	l->n++;
}

bool
gw_qlist_push_bounded(struct gw_qlist *l, struct gw_qnode *n, size_t max)
{
	if (l->n >= max) {
		return false;
	}
	gw_qlist_push(l, n);
	return true;
}

void
gw_qlist_remove(struct gw_qlist *l, struct gw_qnode *n)
{
	if (n->prev == NULL && l->head != n) {
		return;
	}
	if (n->prev != NULL) {
		n->prev->next = n->next;
	} else {
		l->head = n->next;
	}
	if (n->next != NULL) {
		n->next->prev = n->prev;
	} else {
		l->tail = n->prev;
	}
	n->prev = n->next = NULL;
	l->n--;
}

struct gw_qnode *
gw_qlist_pop(struct gw_qlist *l)
{
	struct gw_qnode *n = l->head;

	if (n != NULL) {
		gw_qlist_remove(l, n);
	}
	return n;
}

/* ---- observation table ---------------------------------------------------
 */

bool
gw_obs_fresh(uint32_t last_seq, int64_t last_ms, uint32_t seq, int64_t now_ms)
{
	const uint32_t half = 1u << 23; /* Observe values are 24 bits */

	last_seq &= 0xffffff;
	seq &= 0xffffff;
	return (last_seq < seq && seq - last_seq < half) ||
	       (last_seq > seq && last_seq - seq > half) ||
	       now_ms > last_ms + OBS_REORDER_MS;
}

static size_t
token_hash(const uint8_t *token)
{
	size_t h = 0;

	memcpy(&h, token, sizeof h < 8 ? sizeof h : 8);
	return h & (OBS_BUCKETS - 1);
}

static struct gw_obs **
obs_slot(struct gw_devops *ds, const uint8_t *token)
{
	struct gw_obs **pp = &ds->obs[token_hash(token)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (memcmp((*pp)->token, token, LWM2M_DEVOP_MAX_TOKEN) == 0) {
			break;
		}
	}
	return pp;
}

static void
token_hex(const uint8_t *token, char out[2 * LWM2M_DEVOP_MAX_TOKEN + 1])
{
	lwm2m_hex_encode(token, LWM2M_DEVOP_MAX_TOKEN, out);
}

void
gw_obs_add(struct gw_ctx *gw, struct gw_device *dev, const uint8_t *token,
           const struct lwm2m_path *path, uint16_t ct, uint32_t seq)
{
	struct gw_devops *ds = gw->devops;
	struct gw_obs **pp = obs_slot(ds, token), *o;
	char key[64], hex[2 * LWM2M_DEVOP_MAX_TOKEN + 1], text[48];

	if (*pp != NULL || ds->n_obs >= OBS_MAX) {
		return;
	}
	o = calloc(1, sizeof *o);
	if (o == NULL) {
		return;
	}
	memcpy(o->token, token, sizeof o->token);
	memcpy(o->client, dev->id, sizeof o->client);
	o->org = dev->org;
	o->path = *path;
	o->ct = ct;
	o->seq = seq;
	o->ms = lwm2m_now_ms();
	*pp = o;
	ds->n_obs++;
	dev->n_obs++;
	snprintf(key, sizeof key, LWM2M_KEY_CLIENT_OBS, dev->id);
	if (dev->n_obs == 1) {
		/* tokens left by an earlier process of this gateway, or by
		 * the gateway the device came from: none is valid any more */
		lwm2m_redis_cmd(gw->redis, NULL, NULL, "DEL %s", key);
	}
	token_hex(token, hex);
	lwm2m_path_format(path, text, sizeof text - 8);
	snprintf(text + strlen(text), 8, " %u", ct);
	lwm2m_redis_cmd(gw->redis, NULL, NULL, "HSET %s %s %s", key, hex, text);
}

/* hex: 2 * LWM2M_DEVOP_MAX_TOKEN hex digits */
static bool
token_parse(const char *hex, uint8_t *token)
{
	return strlen(hex) == 2 * LWM2M_DEVOP_MAX_TOKEN &&
	       lwm2m_hex_decode(hex, LWM2M_DEVOP_MAX_TOKEN, token);
}

bool
gw_obs_restore(struct gw_ctx *gw, struct gw_device *dev, const char *hex,
               const char *text)
{
	struct gw_devops *ds = gw->devops;
	const char *sp = strchr(text, ' ');
	uint8_t token[LWM2M_DEVOP_MAX_TOKEN];
	struct lwm2m_path path;
	struct gw_obs **pp, *o;
	char *end;
	long ct;

	if (ds == NULL || sp == NULL || !token_parse(hex, token) ||
	    lwm2m_path_parse(text, (size_t)(sp - text), &path) != LWM2M_OK) {
		return false;
	}
	ct = strtol(sp + 1, &end, 10);
	pp = obs_slot(ds, token);
	if (*end != '\0' || ct < 0 || ct > 65535 || *pp != NULL ||
	    ds->n_obs >= OBS_MAX || (o = calloc(1, sizeof *o)) == NULL) {
		return false;
	}
	memcpy(o->token, token, sizeof o->token);
	memcpy(o->client, dev->id, sizeof o->client);
	o->org = dev->org;
	o->path = path;
	o->ct = (uint16_t)ct;
	/* ms 0: the first notification is fresh whatever its sequence */
	*pp = o;
	ds->n_obs++;
	dev->n_obs++;
	return true;
}

static void
obs_unlink(struct gw_ctx *gw, struct gw_obs **pp, bool redis)
{
	struct gw_obs *o = *pp;
	char key[64], hex[2 * LWM2M_DEVOP_MAX_TOKEN + 1];

	*pp = o->next;
	gw->devops->n_obs--;
	if (redis) {
		/* a single cancel; a whole device is dropped with DEL */
		struct gw_device *dev = gw_table_get(&gw->table, o->client);
		if (dev != NULL && dev->n_obs > 0) {
			dev->n_obs--;
		}
		snprintf(key, sizeof key, LWM2M_KEY_CLIENT_OBS, o->client);
		token_hex(o->token, hex);
		lwm2m_redis_cmd(gw->redis, NULL, NULL, "HDEL %s %s", key, hex);
	}
	free(o);
}

void
gw_obs_forget(struct gw_ctx *gw, const uint8_t *token)
{
	struct gw_obs **pp;

	if (gw->devops == NULL) {
		return;
	}
	pp = obs_slot(gw->devops, token);
	if (*pp != NULL) {
		obs_unlink(gw, pp, true);
	}
}

bool
gw_obs_cancel(struct gw_ctx *gw, struct gw_device *dev,
              const struct lwm2m_devop_req *req)
{
	if (!(req->flags & LWM2M_DEVOP_F_PASSIVE)) {
		return false;
	}
	gw_obs_forget(gw, req->token);
	return true;
}

void
gw_obs_drop_device(struct gw_ctx *gw, struct gw_device *dev)
{
	struct gw_devops *ds = gw->devops;
	char key[64];

	if (ds == NULL || dev->n_obs == 0) {
		return;
	}
	for (size_t i = 0; i < OBS_BUCKETS && dev->n_obs > 0; i++) {
		struct gw_obs **pp = &ds->obs[i];
		while (*pp != NULL) {
			if (strcmp((*pp)->client, dev->id) == 0) {
				obs_unlink(gw, pp, false);
				dev->n_obs--;
			} else {
				pp = &(*pp)->next;
			}
		}
	}
	dev->n_obs = 0;
	if (gw->closing) {
		/* the device keeps observing: the next process of this
		 * gateway reloads the tokens (gw_restore.c) */
		return;
	}
	snprintf(key, sizeof key, LWM2M_KEY_CLIENT_OBS, dev->id);
	lwm2m_redis_cmd(gw->redis, NULL, NULL, "DEL %s", key);
}

/* ---- events ------------------------------------------------------------- */

static const char *
event_type(uint16_t kind)
{
	switch (kind) {
	case LWM2M_ENV_EV_REGISTERED:
		return "registered";
	case LWM2M_ENV_EV_UPDATED:
		return "updated";
	case LWM2M_ENV_EV_DEREGISTERED:
		return "deregistered";
	case LWM2M_ENV_EV_EXPIRED:
		return "expired";
	case LWM2M_ENV_EV_REMOVED:
		return "removed";
	default:
		return "notify";
	}
}

static void
on_events_len(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct gw_ctx *gw = arg;
	struct gw_devops *ds = gw->devops;

	if (ds == NULL || reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		return;
	}
	lwm2m_metrics_set(ds->m_events_len, (double)reply->integer);
	if (reply->integer >= ds->events_maxlen && !ds->events_at_cap) {
		ds->events_at_cap = true;
		lwm2m_metrics_inc(ds->m_events_cap);
		lwm2m_log(LWM2M_LOG_WARNING,
		          "%s holds %lld entries, its cap LWDS_EVENTS_MAXLEN: "
		          "the oldest are trimmed whether consumed or not (is "
		          "the broker running?)",
		          LWM2M_KEY_EVENTS, reply->integer);
	} else if (reply->integer < ds->events_maxlen / 10 * 9 &&
	           ds->events_at_cap) {
		ds->events_at_cap = false;
		lwm2m_log(LWM2M_LOG_NOTICE, "%s below its cap again (%lld)",
		          LWM2M_KEY_EVENTS, reply->integer);
	}
}

void
gw_events_check(struct gw_ctx *gw)
{
	if (gw->devops == NULL || !lwm2m_redis_connected(gw->redis)) {
		return;
	}
	lwm2m_redis_cmd(gw->redis, on_events_len, gw, "XLEN " LWM2M_KEY_EVENTS);
}

/* ---- entries of the events stream ----------------------------------------
 */

/* One entry on its way to LWM2M_KEY_EVENTS, a notification or a
 * connectivity event: owned by the XADD's callback while Redis has it,
 * else by gw->events_backlog. */
struct gw_events_copy {
	struct gw_qnode node; /* first: the node is the copy */
	struct gw_ctx *gw;
	size_t size;   /* counted against the backlog's limit */
	uint16_t kind; /* LWM2M_ENV_EV_NOTIFY or the connectivity event's */
	char ep[LWM2M_EVENT_EP_MAX + 1]; /* a connectivity event's */
	/* n.client, n.org and n.ts for every kind; the rest for a
	 * notification, whose n.payload points at data */
	struct lwm2m_devop_notify n;
	uint8_t data[];
};

static lwm2m_err events_xadd(struct gw_events_copy *c);

/* An error Redis gives while it cannot take writes for a while (loading,
 * a replica after a failover, out of memory, a failed save): the XADD is
 * sent again later.  Any other error would come back every time. */
static bool
redis_busy(const char *err)
{
	static const char *const kinds[] = {
	    "LOADING", "READONLY", "MASTERDOWN", "BUSY",
	    "OOM",     "MISCONF",  "TRYAGAIN",   "CLUSTERDOWN"};

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		size_t len = strlen(kinds[i]);
		if (strncmp(err, kinds[i], len) == 0 &&
		    (err[len] == ' ' || err[len] == '\0')) {
			return true;
		}
	}
	return false;
}

static void
backlog_lost(struct gw_ctx *gw, const struct gw_events_copy *c, const char *why)
{
	struct gw_events_backlog *b = &gw->events_backlog;

	lwm2m_metrics_inc(b->m_dropped);
	if (!b->warned) {
		b->warned = true;
		lwm2m_log(LWM2M_LOG_WARNING,
		          "%s entry of client %s not written to %s: %s "
		          "(further losses are counted in "
		          "lwds_gw_notify_dropped_total)",
		          event_type(c->kind), c->n.client, LWM2M_KEY_EVENTS,
		          why);
	}
}

/* backlog_push takes c: at the tail of the backlog, or freed when it is
 * full. */
static void
backlog_push(struct gw_ctx *gw, struct gw_events_copy *c)
{
	struct gw_events_backlog *b = &gw->events_backlog;

	if (b->bytes + c->size > b->max_bytes) {
		backlog_lost(gw, c,
		             "Redis is unavailable and "
		             "LWDS_GW_NOTIFY_BACKLOG_BYTES is reached");
		free(c);
		return;
	}
	gw_qlist_push(&b->list, &c->node);
	b->bytes += c->size;
	lwm2m_metrics_set(b->m_len, (double)b->list.n);
}

static void
on_events_stored(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct gw_events_copy *c = arg;

	/* lwm2m_redis_free wrote it out before failing what is in flight */
	if (c->gw->closing ||
	    (reply != NULL && reply->type != REDIS_REPLY_ERROR)) {
		free(c);
	} else if (reply == NULL || redis_busy(reply->str)) {
		backlog_push(c->gw, c);
	} else {
		backlog_lost(c->gw, c, reply->str);
		free(c);
	}
}

static long long
events_maxlen(const struct gw_ctx *gw)
{
	return gw->devops != NULL ? gw->devops->events_maxlen
	                          : GW_EVENTS_MAXLEN_DEFAULT;
}

static lwm2m_err
events_xadd(struct gw_events_copy *c)
{
	const struct lwm2m_devop_notify *n = &c->n;
	struct gw_ctx *gw = c->gw;
	char path[48], hex[2 * LWM2M_DEVOP_MAX_TOKEN + 1];

	if (c->kind != LWM2M_ENV_EV_NOTIFY) {
		return lwm2m_redis_cmd(
		    gw->redis, on_events_stored, c,
		    "XADD " LWM2M_KEY_EVENTS " MAXLEN ~ %lld * type %s id %s "
		    "org %lld gw %s ts %lld ep %s",
		    events_maxlen(gw), event_type(c->kind), n->client,
		    (long long)n->org, gw->cfg.gw_id, (long long)n->ts, c->ep);
	}
	lwm2m_path_format(&n->path, path, sizeof path);
	token_hex(n->token, hex);
	return lwm2m_redis_cmd(
	    gw->redis, on_events_stored, c,
	    "XADD " LWM2M_KEY_EVENTS " MAXLEN ~ %lld * type notify "
	    "id %s org %lld gw %s ts %lld path %s ct %d code %d "
	    "seq %u token %s payload %b",
	    events_maxlen(gw), n->client, (long long)n->org, gw->cfg.gw_id,
	    (long long)n->ts, path, (n->flags & LWM2M_DEVOP_RF_CT) ? n->ct : -1,
	    n->code, n->observe, hex, c->data, n->payload_len);
}

/* events_store takes c (filled but for gw and size, of payload_len bytes
 * of data) and appends it to LWM2M_KEY_EVENTS, keeping it until Redis
 * acknowledged it; behind the backlog when one is waiting, so the stream
 * keeps the order of arrival. */
static void
events_store(struct gw_ctx *gw, struct gw_events_copy *c, size_t payload_len)
{
	c->gw = gw;
	c->size = sizeof *c + payload_len;
	if (gw->events_backlog.list.n > 0 || events_xadd(c) != LWM2M_OK) {
		backlog_push(gw, c);
	}
}

/* a fresh copy with room for payload_len bytes of data; NULL (counted and
 * logged as a loss) when out of memory */
static struct gw_events_copy *
events_copy_new(struct gw_ctx *gw, uint16_t kind, const char *client,
                size_t payload_len)
{
	struct gw_events_copy *c = malloc(sizeof *c + payload_len);

	if (c == NULL) {
		lwm2m_log(LWM2M_LOG_ERR,
		          "%s entry of client %s dropped: out of memory",
		          event_type(kind), client);
		lwm2m_metrics_inc(gw->events_backlog.m_dropped);
		return NULL;
	}
	memset(c, 0, sizeof *c);
	c->kind = kind;
	return c;
}

void
gw_events_add(struct gw_ctx *gw, uint16_t kind, const char *id, const char *ep,
              long long org)
{
	struct gw_events_copy *c;

	if (gw->redis == NULL ||
	    (c = events_copy_new(gw, kind, id, 0)) == NULL) {
		return;
	}
	snprintf(c->n.client, sizeof c->n.client, "%s", id);
	snprintf(c->ep, sizeof c->ep, "%s", ep);
	c->n.org = org;
	c->n.ts = lwm2m_now_ms();
	events_store(gw, c, 0);
}

/* store_notify appends n to LWM2M_KEY_EVENTS through a copy */
static void
store_notify(struct gw_ctx *gw, const struct lwm2m_devop_notify *n)
{
	struct gw_events_copy *c =
	    events_copy_new(gw, LWM2M_ENV_EV_NOTIFY, n->client, n->payload_len);

	if (c == NULL) {
		return;
	}
	c->n = *n;
	if (n->payload_len > 0) {
		memcpy(c->data, n->payload, n->payload_len);
	}
	c->n.payload = c->data;
	events_store(gw, c, n->payload_len);
}

void
gw_events_flush(struct gw_ctx *gw)
{
	struct gw_events_backlog *b = &gw->events_backlog;
	size_t sent = 0;

	while (b->list.head != NULL && lwm2m_redis_connected(gw->redis)) {
		struct gw_events_copy *c =
		    (struct gw_events_copy *)b->list.head;

		/* its callback runs later, never inside events_xadd */
		if (events_xadd(c) != LWM2M_OK) {
			break;
		}
		gw_qlist_remove(&b->list, &c->node);
		b->bytes -= c->size;
		sent++;
	}
	if (sent > 0) {
		lwm2m_log(LWM2M_LOG_NOTICE,
		          "%zu entries held while Redis was unavailable "
		          "sent to %s",
		          sent, LWM2M_KEY_EVENTS);
	}
	if (b->list.n == 0) {
		b->warned = false;
	}
	lwm2m_metrics_set(b->m_len, (double)b->list.n);
}

void
gw_events_backlog_free(struct gw_ctx *gw)
{
	struct gw_events_backlog *b = &gw->events_backlog;
	struct gw_qnode *n;

	if (b->list.n > 0) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "%zu entries never written to %s: Redis was "
		          "unavailable until the gateway stopped",
		          b->list.n, LWM2M_KEY_EVENTS);
	}
	while ((n = gw_qlist_pop(&b->list)) != NULL) {
		free(n);
	}
	memset(b, 0, sizeof *b);
}

static void
publish_notify(struct gw_ctx *gw, const struct lwm2m_devop_notify *n)
{
	struct lwm2m_env env = {.kind = LWM2M_ENV_EV_NOTIFY};
	uint8_t *buf;
	size_t len;
	nng_msg *msg;

	lwm2m_metrics_inc(gw->devops->m_notify);
	store_notify(gw, n);
	if (!gw->pub_open ||
	    lwm2m_devop_notify_encode(n, &buf, &len) != LWM2M_OK) {
		return;
	}
	env.payload = buf;
	env.payload_len = len;
	if (lwm2m_env_encode(&env, &msg) == LWM2M_OK) {
		lwm2m_env_send(gw->pub, msg);
	}
	free(buf);
}

static bool
read_uint(const coap_pdu_t *pdu, uint16_t num, uint32_t *ret_v)
{
	coap_opt_iterator_t it;
	coap_opt_t *o = coap_check_option(pdu, num, &it);

	if (o == NULL) {
		return false;
	}
	*ret_v = coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
	return true;
}

static void
notify_build(const struct gw_obs *o, const coap_pdu_t *received, uint32_t seq,
             struct lwm2m_devop_notify *n)
{
	size_t offset, total;
	uint32_t v;

	memset(n, 0, sizeof *n);
	memcpy(n->client, o->client, sizeof n->client);
	n->code = (uint8_t)coap_pdu_get_code(received);
	if (read_uint(received, COAP_OPTION_CONTENT_FORMAT, &v)) {
		n->flags = LWM2M_DEVOP_RF_CT;
		n->ct = (uint16_t)v;
	}
	n->observe = seq;
	n->org = o->org;
	n->ts = lwm2m_now_ms();
	n->token_len = LWM2M_DEVOP_MAX_TOKEN;
	memcpy(n->token, o->token, sizeof n->token);
	n->path = o->path;
	coap_get_data_large(received, &n->payload_len, &n->payload, &offset,
	                    &total);
	if (n->payload_len > LWM2M_DEVOP_MAX_PAYLOAD) {
		n->payload_len = 0; /* the event says it changed; read it */
	}
}

coap_response_t
gw_obs_notify(struct gw_ctx *gw, coap_session_t *session,
              const coap_pdu_t *received)
{
	coap_bin_const_t token = coap_pdu_get_token(received);
	struct gw_obs **pp, *o;
	struct gw_device *dev;
	struct lwm2m_devop_notify n;
	uint32_t seq = 0;
	bool has_seq, ended;

	if (token.length != LWM2M_DEVOP_MAX_TOKEN || gw->devops == NULL) {
		return COAP_RESPONSE_FAIL;
	}
	pp = obs_slot(gw->devops, token.s);
	if (*pp == NULL) {
		return COAP_RESPONSE_FAIL; /* unknown token: RST */
	}
	o = *pp;
	has_seq = read_uint(received, COAP_OPTION_OBSERVE, &seq);
	ended =
	    !has_seq || coap_pdu_get_code(received) >= COAP_RESPONSE_CODE(400);
	dev = gw_table_get(&gw->table, o->client);
	if (dev != NULL) {
		gw_devop_wake(gw, dev);
	}
	if (!ended && !gw_obs_fresh(o->seq, o->ms, seq, lwm2m_now_ms())) {
		return COAP_RESPONSE_OK; /* stale: ACK, drop */
	}
	notify_build(o, received, seq, &n);
	o->seq = seq;
	o->ms = n.ts;
	publish_notify(gw, &n);
	if (ended) {
		obs_unlink(gw, pp, true);
	}
	return COAP_RESPONSE_OK;
}

/* ---- metrics ---------------------------------------------------------------
 */

static size_t
payload_len(const coap_pdu_t *pdu)
{
	size_t len = 0, offset, total;
	const uint8_t *data;

	if (coap_get_data_large(pdu, &len, &data, &offset, &total) &&
	    total > len) {
		len = total;
	}
	return len;
}

/* the whole encoded PDU (4-byte header, token, options, payload marker and
 * payload; body_len for a block-wise body libcoap sends in parts) */
size_t
gw_pdu_size(const coap_pdu_t *pdu, size_t body_len)
{
	coap_bin_const_t token = coap_pdu_get_token(pdu);
	coap_opt_iterator_t it;
	coap_opt_t *o;
	size_t n = 4 + token.length, len = payload_len(pdu);

	coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
	while ((o = coap_option_next(&it)) != NULL) {
		n += coap_opt_size(o);
	}
	if (len < body_len) {
		len = body_len;
	}
	return n + (len > 0 ? 1 + len : 0);
}

static void arm_metrics(struct gw_devops *ds);

/* dev has counters to write: on the dirty list, and the metrics timer
 * armed if it was not (the counters of all reads within GW_METRICS_FLUSH_MS
 * go out together) */
static void
mark_dirty(struct gw_devops *ds, struct gw_device *dev)
{
	if (dev->metrics_dirty) {
		return;
	}
	dev->metrics_dirty = true;
	dev->dirty_next = ds->dirty;
	ds->dirty = dev;
	arm_metrics(ds);
}

void
gw_devop_count_tx(struct gw_devops *ds, struct gw_device *dev,
                  const coap_pdu_t *pdu, size_t body_len)
{
	dev->tx_bytes += gw_pdu_size(pdu, body_len);
	mark_dirty(ds, dev);
}

void
gw_devop_count_rx(struct gw_devops *ds, struct gw_device *dev,
                  const coap_pdu_t *pdu, bool transaction)
{
	dev->rx_bytes += payload_len(pdu);
	dev->tx_count += transaction;
	mark_dirty(ds, dev);
}

/* Counters waiting to be added to one metrics hash. */
struct counts {
	long long org;
	uint64_t tx_bytes, rx_bytes, tx_count;
};

static void
write_counters(struct gw_ctx *gw, const char *key, const struct counts *c)
{
	if (c->tx_bytes > 0) {
		lwm2m_redis_cmd(gw->redis, NULL, NULL,
		                "HINCRBY %s " LWM2M_METRIC_BYTES_SENT " %llu",
		                key, (unsigned long long)c->tx_bytes);
	}
	if (c->rx_bytes > 0) {
		lwm2m_redis_cmd(gw->redis, NULL, NULL,
		                "HINCRBY %s " LWM2M_METRIC_BYTES_RECEIVED
		                " %llu",
		                key, (unsigned long long)c->rx_bytes);
	}
	if (c->tx_count > 0) {
		lwm2m_redis_cmd(gw->redis, NULL, NULL,
		                "HINCRBY %s " LWM2M_METRIC_TRANSACTIONS " %llu",
		                key, (unsigned long long)c->tx_count);
	}
}

static void
write_org(struct gw_ctx *gw, const struct counts *c)
{
	char key[64];

	snprintf(key, sizeof key, LWM2M_KEY_ORG_METRICS, c->org);
	write_counters(gw, key, c);
}

/* writes d's client counters, hands them to *ret_counts and clears them */
static void
take_device(struct gw_ctx *gw, struct gw_device *d, struct counts *ret_counts)
{
	char key[64];

	*ret_counts =
	    (struct counts){d->org, d->tx_bytes, d->rx_bytes, d->tx_count};
	snprintf(key, sizeof key, LWM2M_KEY_CLIENT_METRICS, d->id);
	write_counters(gw, key, ret_counts);
	d->tx_bytes = d->rx_bytes = d->tx_count = 0;
	d->metrics_dirty = false;
	d->dirty_next = NULL;
}

/* adds c to its organisation's sum in sums[*n] (GW_METRICS_ORGS long);
 * when the table is full, the sums are written and it starts again */
static void
add_org(struct gw_ctx *gw, struct counts *sums, size_t *n,
        const struct counts *c)
{
	size_t i = 0;

	while (i < *n && sums[i].org != c->org) {
		i++;
	}
	if (i == GW_METRICS_ORGS) {
		for (i = 0; i < *n; i++) {
			write_org(gw, &sums[i]);
		}
		*n = i = 0;
	}
	if (i == *n) {
		sums[(*n)++] = (struct counts){.org = c->org};
	}
	sums[i].tx_bytes += c->tx_bytes;
	sums[i].rx_bytes += c->rx_bytes;
	sums[i].tx_count += c->tx_count;
}

static void
arm_metrics(struct gw_devops *ds)
{
	static const struct timeval after = {
	    GW_METRICS_FLUSH_MS / 1000, (GW_METRICS_FLUSH_MS % 1000) * 1000};

	if (ds->metrics_ev != NULL && !evtimer_pending(ds->metrics_ev, NULL)) {
		evtimer_add(ds->metrics_ev, &after);
	}
}

/* The metrics timer: the devices dirty until now are written
 * GW_METRICS_BATCH per loop iteration (so that Redis and this loop never
 * take a whole table's counters in one go), each one's counters to its
 * client hash and their sums to each organisation's hash. */
static void
on_metrics(evutil_socket_t fd, short what, void *arg)
{
	struct gw_ctx *gw = arg;
	struct gw_devops *ds = gw->devops;
	struct counts sums[GW_METRICS_ORGS], c;
	size_t n = 0;

	if (ds->flushing == NULL) {
		ds->flushing = ds->dirty;
		ds->dirty = NULL;
	}
	for (int i = 0; i < GW_METRICS_BATCH && ds->flushing != NULL; i++) {
		struct gw_device *d = ds->flushing;
		ds->flushing = d->dirty_next;
		take_device(gw, d, &c);
		add_org(gw, sums, &n, &c);
	}
	for (size_t i = 0; i < n; i++) {
		write_org(gw, &sums[i]);
	}
	if (ds->flushing != NULL) {
		event_active(ds->metrics_ev, EV_TIMEOUT, 1);
	} else if (ds->dirty != NULL) {
		arm_metrics(ds);
	}
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct gw_ctx *gw = arg;

	gw_devop_release_sessions(gw->devops);
}

/* removes dev from the list at *head; false when it is not on it */
static bool
unlink_dirty(struct gw_device **head, struct gw_device *dev)
{
	for (struct gw_device **pp = head; *pp != NULL;
	     pp = &(*pp)->dirty_next) {
		if (*pp == dev) {
			*pp = dev->dirty_next;
			return true;
		}
	}
	return false;
}

void
gw_devop_flush_device(struct gw_ctx *gw, struct gw_device *dev)
{
	struct counts c;

	if (gw->devops == NULL || !dev->metrics_dirty) {
		return;
	}
	if (!unlink_dirty(&gw->devops->dirty, dev)) {
		(void)unlink_dirty(&gw->devops->flushing, dev);
	}
	take_device(gw, dev, &c);
	write_org(gw, &c);
}

/* ---- lifecycle -------------------------------------------------------------
 */

lwm2m_err
gw_obs_start(struct gw_ctx *gw)
{
	struct gw_devops *ds = gw->devops;

	ds->events_maxlen = gw->cfg.events_maxlen;
	ds->m_events_len = lwm2m_metrics_gauge(
	    NULL, "lwds_gw_events_length", "Entries in the {events} stream");
	ds->m_events_cap = lwm2m_metrics_counter(
	    NULL, "lwds_gw_events_cap_reached_total",
	    "Times the {events} stream was found at LWDS_EVENTS_MAXLEN");
	gw->events_backlog.max_bytes = gw->cfg.notify_backlog;
	gw->events_backlog.m_len = lwm2m_metrics_gauge(
	    NULL, "lwds_gw_notify_backlog",
	    "Entries of the {events} stream (notifications, client "
	    "events) held while Redis cannot take them");
	gw->events_backlog.m_dropped = lwm2m_metrics_counter(
	    NULL, "lwds_gw_notify_dropped_total",
	    "Entries (notifications, client events) never written to the "
	    "{events} stream");
	ds->obs = calloc(OBS_BUCKETS, sizeof *ds->obs);
	ds->obs_buckets = OBS_BUCKETS;
	ds->flush_ev = event_new(gw->base, -1, 0, on_flush, gw);
	ds->metrics_ev = evtimer_new(gw->base, on_metrics, gw);
	if (ds->obs == NULL || ds->flush_ev == NULL || ds->metrics_ev == NULL) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

void
gw_obs_stop(struct gw_ctx *gw)
{
	struct gw_devops *ds = gw->devops;

	if (ds->flush_ev != NULL) {
		event_free(ds->flush_ev);
		ds->flush_ev = NULL;
	}
	if (ds->metrics_ev != NULL) {
		event_free(ds->metrics_ev);
		ds->metrics_ev = NULL;
	}
	for (size_t i = 0; ds->obs != NULL && i < ds->obs_buckets; i++) {
		struct gw_obs *o = ds->obs[i], *next;
		for (; o != NULL; o = next) {
			next = o->next;
			free(o);
		}
	}
	free(ds->obs);
	ds->obs = NULL;
}
