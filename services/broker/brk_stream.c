/* brk_stream.c - the broker's durable event source: the consumer group
 * BRK_EVENTS_GROUP on the gateways' stream LWM2M_KEY_EVENTS.  An entry is
 * acknowledged only after every step it started (index reads, subscription
 * reads, job XADDs) has ended, so a broker killed in between reads it again
 * at its next start (same consumer name) or another broker claims it
 * (XAUTOCLAIM): at least once, never lost. */
#include "brk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_metrics.h"
#include "lwm2m_redis.h"
#include "lwm2m_rpc.h"

#define STREAM_ID_MAX 48
#define BLOCK_MS 1000

struct brk_stream {
	struct brk_ctx *ctx;
	const struct brk_config *cfg;
	struct lwm2m_redis *reader;   /* XREADGROUP BLOCK has its own line */
	struct lwm2m_rpc_client *rpc; /* to the gateways (observations) */
	struct event *claim_timer;
	struct event *trim_timer; /* LWDS_EVENTS_TRIM_MS, NULL when off */
	struct lwm2m_metric *m_trimmed;
	struct lwm2m_metric *m_events;
	struct lwm2m_metric *m_unsubscribed; /* events with no lookup */
	struct brk_batch *spare; /* reused by the next reads (BATCH_SPARES) */
	size_t n_spare;
	struct event *ack_ev; /* flushes acks, once per loop iteration */
	char acks[BRK_STREAM_READ_MAX][STREAM_ID_MAX]; /* ids to XACK */
	size_t n_acks;
	bool reading;     /* an XREADGROUP is in flight */
	bool pending;     /* re-reading this consumer's pending entries */
	bool group_ready; /* XGROUP CREATE answered */
	char cursor[STREAM_ID_MAX]; /* pending phase: last id read */
	char claim_cursor[STREAM_ID_MAX];
	char consumer[256];
	long long claim_idle_ms;
	size_t inflight;
	bool closing; /* brk__stream_free ran: acknowledge nothing more */
	bool freed;   /* ... and the last entry frees the struct */
};

struct brk_entry {
	struct brk_stream *stream; /* outlives its entries */
	char id[STREAM_ID_MAX];
	unsigned refs;
};

static void read_next(struct brk_stream *s);

/* ---- parsing ------------------------------------------------------------ */

static bool
type_event(const redisReply *type, enum brk_event *ret)
{
	static const struct {
		const char *name;
		enum brk_event event;
	} map[] = {
	    {"registered", BRK_EV_CONNECTED},
	    {"updated", BRK_EV_UPDATED},
	    {"deregistered", BRK_EV_DISCONNECTED},
	    {"removed", BRK_EV_DISCONNECTED},
	    {"expired", BRK_EV_EXPIRED},
	};

	for (size_t i = 0; type != NULL && i < sizeof map / sizeof *map; i++) {
		if (strcmp(type->str, map[i].name) == 0) {
			*ret = map[i].event;
			return true;
		}
	}
	return false;
}

static lwm2m_err
text(const redisReply *v, char *buf, size_t size)
{
	if (v == NULL) {
		buf[0] = '\0';
		return LWM2M_OK;
	}
	if (v->len >= size) {
		return LWM2M_ELIMIT;
	}
	memcpy(buf, v->str, v->len + 1);
	return LWM2M_OK;
}

lwm2m_err
brk_stream_event(const redisReply *fields, enum brk_event *ret_event,
                 struct lwm2m_event *ret_ev)
{
	struct lwm2m_event ev = {0};
	const redisReply *id, *org, *ts;
	char num[24];
	long long n;
	enum brk_event event;

	if (fields == NULL || fields->type != REDIS_REPLY_ARRAY) {
		return LWM2M_EPROTO;
	}
	if (!type_event(lwm2m_redis_field(fields, "type"), &event)) {
		return LWM2M_ENOTFOUND;
	}
	id = lwm2m_redis_field(fields, "id");
	org = lwm2m_redis_field(fields, "org");
	if (id == NULL || !lwm2m_id_valid(id->str, id->len) || org == NULL ||
	    text(org, num, sizeof num) != LWM2M_OK ||
	    lwm2m_parse_int(num, 0, INT64_MAX, &ev.org) != LWM2M_OK) {
		return LWM2M_EPROTO;
	}
	memcpy(ev.id, id->str, id->len + 1);
	if (text(lwm2m_redis_field(fields, "ep"), ev.ep, sizeof ev.ep) !=
	        LWM2M_OK ||
	    text(lwm2m_redis_field(fields, "gw"), ev.gw, sizeof ev.gw) !=
	        LWM2M_OK) {
		return LWM2M_ELIMIT;
	}
	ts = lwm2m_redis_field(fields, "ts");
	if (ts != NULL && text(ts, num, sizeof num) == LWM2M_OK &&
	    lwm2m_parse_int(num, 0, INT64_MAX, &n) == LWM2M_OK) {
		ev.ts = n;
	}
	*ret_event = event;
	*ret_ev = ev;
	return LWM2M_OK;
}

/* ---- entries ------------------------------------------------------------ */

void
brk__entry_ref(struct brk_entry *entry)
{
	if (entry != NULL) {
		entry->refs++;
	}
}

static void
on_acked(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "XACK failed (%s), the event "
		          "will be handled again",
		          reply ? reply->str : "connection lost");
	}
}

/* Sends one XACK for every entry finished since the last flush. */
static void
flush_acks(struct brk_stream *s)
{
	const char *argv[3 + BRK_STREAM_READ_MAX];
	int argc = 0;

	if (s->n_acks == 0) {
		return;
	}
	argv[argc++] = "XACK";
	argv[argc++] = LWM2M_KEY_EVENTS;
	argv[argc++] = BRK_EVENTS_GROUP;
	for (size_t i = 0; i < s->n_acks; i++) {
		argv[argc++] = s->acks[i];
	}
	if (lwm2m_redis_cmdargv(brk__redis(s->ctx), on_acked, NULL, argc, argv,
	                        NULL) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "cannot XACK %zu entries, they will be handled again",
		          s->n_acks);
	}
	s->n_acks = 0;
}

static void
on_ack_ev(evutil_socket_t fd, short what, void *arg)
{
	flush_acks(arg);
}

/* Queues the XACK of id: one command per loop iteration carries them all
 * (one round trip and one Redis call instead of one per entry). */
static void
ack_later(struct brk_stream *s, const char *id)
{
	if (s->n_acks == BRK_STREAM_READ_MAX) {
		flush_acks(s);
	}
	memcpy(s->acks[s->n_acks++], id, STREAM_ID_MAX);
	if (s->n_acks == 1) {
		event_active(s->ack_ev, EV_TIMEOUT, 0);
	}
}

void
brk__entry_unref(struct brk_entry *entry)
{
	struct brk_stream *s;

	if (entry == NULL || --entry->refs > 0) {
		return;
	}
	s = entry->stream;
	s->inflight--;
	if (s->closing) {
		/* not acknowledged: the next start reads it again */
		if (s->inflight == 0 && s->freed) {
			free(s);
		}
		free(entry);
		return;
	}
	ack_later(s, entry->id);
	free(entry);
	read_next(s);
}

/* A "subscription" entry of the REST API: an Observation subscription of
 * client "id" on "path" came or went. */
static void
subscription_entry(struct brk_stream *s, const redisReply *fields,
                   struct brk_entry *entry)
{
	const redisReply *type = lwm2m_redis_field(fields, "type");
	const redisReply *id = lwm2m_redis_field(fields, "id");
	const redisReply *path = lwm2m_redis_field(fields, "path");

	if (type != NULL && strcmp(type->str, "notify") == 0) {
		brk__notify(s->ctx, fields, entry);
		return;
	}
	if (type == NULL || strcmp(type->str, "subscription") != 0 ||
	    id == NULL || path == NULL) {
		return;
	}
	lwm2m_log(LWM2M_LOG_DEBUG, "observation id=%s path=%s changed entry=%s",
	          id->str, path->str, entry->id);
	brk__observe_path(s->ctx, s->rpc, id->str, path->str, entry);
}

/* Starts the subscription lookups of a client event. */
static void
start_event(struct brk_stream *s, struct brk_entry *entry, enum brk_event event,
            const struct lwm2m_event *ev)
{
	brk__event(s->ctx, event, ev, entry);
	if (event == BRK_EV_CONNECTED) {
		brk__observe_client(s->ctx, s->rpc, ev->id, entry);
	} else if (event == BRK_EV_UPDATED) {
		/* the Update may come through another gateway, or through a
		 * restarted one: observations to renew */
		brk__observe_check(s->ctx, s->rpc, ev->id, entry);
	}
}

/* ---- batches: no lookups for organisations without subscriptions -------
 *
 * A client event can only match a subscription of its own organisation,
 * and every subscription (organisation, client or instance level, any
 * type) is in LWM2M_KEY_ORG_SUBS, written by the same script as the index
 * sets the lookups read.  So the client events of one read wait for one
 * EXISTS per distinct organisation; those of an organisation with no
 * subscription at that moment are acknowledged with no lookup (their
 * three SMEMBERS could only find nothing; a subscription created after
 * the EXISTS is created after the event too, and the REST API's
 * "subscription" entry sets up its observations).  Any doubt (Redis
 * error, lost connection, no memory) takes the full lookups. */

struct held {
	struct brk_entry *entry; /* the reference handle_entry took */
	enum brk_event event;
	struct lwm2m_event ev;
};

struct org_check {
	struct brk_batch *batch;
	long long org;
	bool subs; /* has subscriptions, or could not tell */
};

struct brk_batch {
	struct brk_stream *s;
	size_t n_held, n_orgs;
	size_t due; /* EXISTS replies still to come, plus one while sending */
	struct held *held;      /* BRK_STREAM_READ_MAX of them */
	struct org_check *orgs; /* idem */
	struct brk_batch *next_spare;
};

/* Batches kept for reuse per stream: a read can come back while the
 * batches of earlier reads still wait for their EXISTS replies, and a new
 * 80 kB batch then cost a calloc (zeroing it) and a free that made glibc
 * consolidate its fast bins (about 2% of the broker in a storm's perf). */
#define BATCH_SPARES 4

static void
batch_free(struct brk_batch *b)
{
	if (b == NULL) {
		return;
	}
	free(b->held);
	free(b->orgs);
	free(b);
}

/* A batch for up to BRK_STREAM_READ_MAX client events (a spare one when
 * there is one: they are 80 kB), or NULL (no memory: the events then take
 * the full lookups one by one). */
static struct brk_batch *
batch_new(struct brk_stream *s)
{
	struct brk_batch *b = s->spare;

	if (b != NULL) {
		s->spare = b->next_spare;
		s->n_spare--;
		b->next_spare = NULL;
		return b;
	}
	b = calloc(1, sizeof *b);
	if (b == NULL) {
		return NULL;
	}
	b->s = s;
	b->held = calloc(BRK_STREAM_READ_MAX, sizeof *b->held);
	b->orgs = calloc(BRK_STREAM_READ_MAX, sizeof *b->orgs);
	if (b->held == NULL || b->orgs == NULL) {
		batch_free(b);
		return NULL;
	}
	return b;
}

/* Keeps b as a spare of its stream, or frees it; closing: the stream may
 * be gone, so b is freed without touching it. */
static void
batch_release(struct brk_batch *b, bool closing)
{
	if (closing || b->s->n_spare >= BATCH_SPARES) {
		batch_free(b);
		return;
	}
	b->n_held = 0;
	b->n_orgs = 0;
	b->due = 0;
	b->next_spare = b->s->spare;
	b->s->spare = b;
	b->s->n_spare++;
}

static struct org_check *
batch_org(struct brk_batch *b, long long org)
{
	for (size_t i = 0; i < b->n_orgs; i++) {
		if (b->orgs[i].org == org) {
			return &b->orgs[i];
		}
	}
	return NULL;
}

/* Keeps a client event (and its entry's reference) until its organisation
 * is checked. */
static void
batch_hold(struct brk_batch *b, struct brk_entry *entry, enum brk_event event,
           const struct lwm2m_event *ev)
{
	struct held *h = &b->held[b->n_held++];

	h->entry = entry;
	h->event = event;
	h->ev = *ev;
	if (batch_org(b, ev->org) == NULL) {
		b->orgs[b->n_orgs++] = (struct org_check){b, ev->org, true};
	}
}

/* One reply (or the end of sending) less; after the last, every held event
 * of an organisation with subscriptions starts its lookups, and every
 * entry's reference is dropped (the others are acknowledged). */
static void
batch_settle(struct brk_batch *b)
{
	bool closing = b->s->closing;

	if (--b->due > 0) {
		return;
	}
	for (size_t i = 0; i < b->n_held; i++) {
		struct held *h = &b->held[i];

		/* closing: no step, no acknowledgement (read again at the
		 * next start), and the last unref may free the stream */
		if (!closing && batch_org(b, h->ev.org)->subs) {
			start_event(b->s, h->entry, h->event, &h->ev);
		} else if (!closing) {
			lwm2m_metrics_inc(b->s->m_unsubscribed);
		}
		brk__entry_unref(h->entry);
	}
	batch_release(b, closing);
}

static void
on_org_checked(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct org_check *c = arg;

	c->subs = reply == NULL || reply->type != REDIS_REPLY_INTEGER ||
	          reply->integer != 0;
	batch_settle(c->batch);
}

/* Sends the EXISTS of every organisation of b (pipelined on the command
 * connection); b settles when the last reply came.  Consumes b. */
static void
batch_check(struct brk_batch *b)
{
	if (b->n_held == 0) {
		batch_release(b, false);
		return;
	}
	b->due = 1;
	for (size_t i = 0; i < b->n_orgs; i++) {
		if (lwm2m_redis_cmd(brk__redis(b->s->ctx), on_org_checked,
		                    &b->orgs[i], "EXISTS " LWM2M_KEY_ORG_SUBS,
		                    b->orgs[i].org) == LWM2M_OK) {
			b->due++;
		}
	}
	batch_settle(b);
}

/* Starts one stream entry (id, fields): a client event fans out, through
 * batch when there is one; anything else is handled or acknowledged at
 * once. */
static void
handle_entry(struct brk_stream *s, const redisReply *e, struct brk_batch *batch)
{
	struct brk_entry *entry;
	struct lwm2m_event ev;
	enum brk_event event;
	lwm2m_err err;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[0]->len >= STREAM_ID_MAX) {
		return;
	}
	entry = calloc(1, sizeof *entry);
	if (entry == NULL) {
		return; /* stays pending: read again after a restart */
	}
	entry->stream = s;
	entry->refs = 1;
	memcpy(entry->id, e->element[0]->str, e->element[0]->len + 1);
	s->inflight++;
	err = brk_stream_event(e->element[1], &event, &ev);
	if (err == LWM2M_OK) {
		lwm2m_metrics_inc(s->m_events);
		lwm2m_log(LWM2M_LOG_DEBUG, "event %s id=%s org=%lld entry=%s",
		          brk_event_name(event), ev.id, ev.org, entry->id);
		/* a reply longer than the COUNT asked is not trusted further */
		if (batch != NULL && batch->n_held < BRK_STREAM_READ_MAX) {
			batch_hold(batch, entry, event, &ev);
			return; /* batch_settle drops the reference */
		}
		start_event(s, entry, event, &ev);
	} else if (err == LWM2M_ENOTFOUND) {
		subscription_entry(s, e->element[1], entry);
	} else {
		lwm2m_log(LWM2M_LOG_WARNING, "event entry %s: %s, ignoring",
		          entry->id, lwm2m_strerror(err));
	}
	brk__entry_unref(entry);
}

/* Starts every entry of an XREADGROUP or XAUTOCLAIM reply. */
static void
handle_entries(struct brk_stream *s, const redisReply *entries)
{
	struct brk_batch *batch;

	if (entries == NULL || entries->elements == 0) {
		return;
	}
	batch = batch_new(s);
	for (size_t i = 0; i < entries->elements; i++) {
		handle_entry(s, entries->element[i], batch);
	}
	if (batch != NULL) {
		batch_check(batch);
	}
}

/* ---- reading ------------------------------------------------------------ */

static void
on_group(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct brk_stream *s = arg;

	if (reply == NULL) {
		return; /* on_reader_ready tries again */
	}
	if (reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "BUSYGROUP", 9) != 0) {
		lwm2m_log(LWM2M_LOG_ERR, "XGROUP CREATE %s: %s",
		          LWM2M_KEY_EVENTS, reply->str);
		return;
	}
	s->group_ready = true;
	read_next(s);
}

/* Entries of an XREADGROUP/XAUTOCLAIM reply; NULL when there are none. */
static const redisReply *
read_entries(const redisReply *reply)
{
	const redisReply *stream;

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
		return NULL;
	}
	stream = reply->element[0];
	if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 ||
	    stream->element[1]->type != REDIS_REPLY_ARRAY) {
		return NULL;
	}
	return stream->element[1];
}

static void
take_entries(struct brk_stream *s, const redisReply *entries)
{
	const redisReply *last;

	if (s->pending) {
		if (entries == NULL || entries->elements == 0) {
			s->pending = false; /* none left: switch to new ones */
		} else {
			last = entries->element[entries->elements - 1];
			if (last->type == REDIS_REPLY_ARRAY &&
			    last->elements == 2 &&
			    last->element[0]->len < STREAM_ID_MAX) {
				memcpy(s->cursor, last->element[0]->str,
				       last->element[0]->len + 1);
			}
		}
	}
	handle_entries(s, entries);
}

static void
on_read(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct brk_stream *s = arg;

	s->reading = false;
	if (s->closing) {
		return;
	}
	if (reply == NULL) {
		return; /* on_reader_ready starts over with the pending ones */
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_ERR, "XREADGROUP: %s", reply->str);
		if (strncmp(reply->str, "NOGROUP", 7) == 0) {
			s->group_ready = false;
			lwm2m_redis_cmd(s->reader, on_group, s,
			                "XGROUP CREATE %s %s 0 MKSTREAM",
			                LWM2M_KEY_EVENTS, BRK_EVENTS_GROUP);
		}
		return;
	}
	take_entries(s, reply->type == REDIS_REPLY_NIL ? NULL
	                                               : read_entries(reply));
	read_next(s);
}

static void
read_next(struct brk_stream *s)
{
	size_t room = BRK_STREAM_READ_MAX - s->inflight;

	if (s->closing || s->reading || !s->group_ready ||
	    s->inflight >= BRK_STREAM_READ_MAX) {
		return;
	}
	if (lwm2m_redis_cmd(s->reader, on_read, s,
	                    "XREADGROUP GROUP %s %s COUNT %d BLOCK %d "
	                    "STREAMS %s %s",
	                    BRK_EVENTS_GROUP, s->consumer, (int)room, BLOCK_MS,
	                    LWM2M_KEY_EVENTS,
	                    s->pending ? s->cursor : ">") == LWM2M_OK) {
		s->reading = true;
	}
}

static void
on_reader_ready(struct lwm2m_redis *redis, void *arg)
{
	struct brk_stream *s = arg;

	/* after every (re)connect: this consumer's pending entries first */
	s->reading = false;
	s->pending = true;
	snprintf(s->cursor, sizeof s->cursor, "0");
	s->group_ready = false;
	lwm2m_redis_cmd(redis, on_group, s, "XGROUP CREATE %s %s 0 MKSTREAM",
	                LWM2M_KEY_EVENTS, BRK_EVENTS_GROUP);
}

/* ---- taking over the entries of dead brokers ----------------------------- */

static void
on_claimed(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct brk_stream *s = arg;
	const redisReply *entries;

	if (s->closing || reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 2) {
		return;
	}
	if (reply->element[0]->type == REDIS_REPLY_STRING &&
	    reply->element[0]->len < STREAM_ID_MAX) {
		memcpy(s->claim_cursor, reply->element[0]->str,
		       reply->element[0]->len + 1);
	}
	entries = reply->element[1];
	if (entries->type != REDIS_REPLY_ARRAY) {
		return;
	}
	if (entries->elements > 0) {
		lwm2m_log(LWM2M_LOG_NOTICE, "claimed %zu idle events",
		          entries->elements);
	}
	handle_entries(s, entries);
}

static void
on_claim_timer(evutil_socket_t fd, short what, void *arg)
{
	struct brk_stream *s = arg;
	size_t room = BRK_STREAM_READ_MAX - s->inflight;

	if (!s->group_ready || s->inflight >= BRK_STREAM_READ_MAX) {
		return;
	}
	lwm2m_redis_cmd(brk__redis(s->ctx), on_claimed, s,
	                "XAUTOCLAIM %s %s %s %lld %s COUNT %d",
	                LWM2M_KEY_EVENTS, BRK_EVENTS_GROUP, s->consumer,
	                s->claim_idle_ms, s->claim_cursor, (int)room);
}

/* ---- trimming what every consumer group acknowledged -------------------
 *
 * The gateways XADD with a large MAXLEN safety cap only; this trim keeps
 * the stream short in normal operation without losing what a consumer
 * still needs.  KEYS[1] the stream.  For every consumer group the oldest
 * entry it still needs is its oldest pending (delivered, not acknowledged)
 * entry, else the one after its last delivered id; XTRIM MINID removes
 * what is older than the oldest of those.  No group: nothing is trimmed.
 * Returns {entries removed, the MINID used or ""}. */
const char brk__lua_events_trim[] =
    "local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1]) "
    "if not ok or #groups == 0 then return {0, ''} end "
    "local best_ms, best_seq "
    "for _, g in ipairs(groups) do "
    "local f = {} "
    "for i = 1, #g, 2 do f[g[i]] = g[i + 1] end "
    "local id, inc = f['last-delivered-id'], 1 "
    "if tonumber(f['pending']) > 0 then "
    "id, inc = redis.call('XPENDING', KEYS[1], f['name'])[2], 0 end "
    "local ms, seq = string.match(id, '^(%d+)-(%d+)$') "
    "ms, seq = tonumber(ms), tonumber(seq) + inc "
    "if best_ms == nil or ms < best_ms or "
    "(ms == best_ms and seq < best_seq) then "
    "best_ms, best_seq = ms, seq end end "
    "local minid = string.format('%.0f-%.0f', best_ms, best_seq) "
    "return {redis.call('XTRIM', KEYS[1], 'MINID', minid), minid}";

static void
on_trimmed(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct brk_stream *s = arg;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER) {
		if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
			lwm2m_log(LWM2M_LOG_WARNING, "trim of %s: %s",
			          LWM2M_KEY_EVENTS, reply->str);
		}
		return;
	}
	if (reply->element[0]->integer > 0) {
		lwm2m_metrics_add(s->m_trimmed,
		                  (double)reply->element[0]->integer);
		lwm2m_log(LWM2M_LOG_DEBUG,
		          "trimmed %lld acknowledged entries of %s",
		          reply->element[0]->integer, LWM2M_KEY_EVENTS);
	}
}

static void
on_trim_timer(evutil_socket_t fd, short what, void *arg)
{
	struct brk_stream *s = arg;

	if (s->closing || !s->group_ready) {
		return;
	}
	brk__lua_run(s->ctx, BRK_LUA_EVENTS_TRIM, on_trimmed, s, "1 %s",
	             LWM2M_KEY_EVENTS);
}

static lwm2m_err
trim_start(struct brk_stream *s, struct event_base *base)
{
	struct timeval period = {s->cfg->trim_ms / 1000,
	                         (s->cfg->trim_ms % 1000) * 1000};

	if (s->cfg->trim_ms <= 0) {
		return LWM2M_OK;
	}
	s->m_trimmed = lwm2m_metrics_counter(
	    NULL, "lwds_broker_events_trimmed_total",
	    "Acknowledged entries trimmed from the {events} stream");
	s->trim_timer = event_new(base, -1, EV_PERSIST, on_trim_timer, s);
	if (s->trim_timer == NULL || event_add(s->trim_timer, &period) != 0) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

lwm2m_err
brk__stream_new(struct brk_ctx *ctx, struct event_base *base,
                const struct brk_config *cfg, struct brk_stream **ret_stream)
{
	struct brk_stream *s = calloc(1, sizeof *s);
	struct timeval period = {BRK_STREAM_CLAIM_MS / 1000,
	                         (BRK_STREAM_CLAIM_MS % 1000) * 1000};
	lwm2m_err err;

	if (s == NULL) {
		return LWM2M_ENOMEM;
	}
	s->ctx = ctx;
	s->cfg = cfg;
	snprintf(s->claim_cursor, sizeof s->claim_cursor, "0-0");
	snprintf(s->consumer, sizeof s->consumer, "%s",
	         cfg->consumer != NULL && cfg->consumer[0] != '\0'
	             ? cfg->consumer
	             : "lwds-broker");
	s->claim_idle_ms = cfg->claim_idle_ms > 0 ? cfg->claim_idle_ms : 60000;
	s->m_events = lwm2m_metrics_counter(NULL, "lwds_broker_events_total",
	                                    "Gateway events received");
	s->m_unsubscribed = lwm2m_metrics_counter(
	    NULL, "lwds_broker_events_unsubscribed_total",
	    "Gateway events of organisations without any subscription, "
	    "acknowledged without subscription lookups");
	s->claim_timer = event_new(base, -1, EV_PERSIST, on_claim_timer, s);
	s->ack_ev = event_new(base, -1, 0, on_ack_ev, s);
	if (s->claim_timer == NULL || s->ack_ev == NULL ||
	    event_add(s->claim_timer, &period) != 0) {
		brk__stream_free(s);
		return LWM2M_ENOMEM;
	}
	err = trim_start(s, base);
	if (err == LWM2M_OK) {
		err = lwm2m_rpc_client_new(base, &s->rpc);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_redis_new(base, cfg->redis_url, on_reader_ready, s,
		                      &s->reader);
	}
	if (err == LWM2M_OK) {
		lwm2m_redis_set_name(s->reader, "events reader");
	}
	if (err != LWM2M_OK) {
		brk__stream_free(s);
		return err;
	}
	lwm2m_log(LWM2M_LOG_INFO, "reading %s as %s/%s", LWM2M_KEY_EVENTS,
	          BRK_EVENTS_GROUP, s->consumer);
	*ret_stream = s;
	return LWM2M_OK;
}

void
brk__stream_free(struct brk_stream *s)
{
	if (s == NULL) {
		return;
	}
	flush_acks(s); /* what finished is acknowledged */
	s->closing = true;
	while (s->spare != NULL) { /* a batch still waiting frees itself */
		struct brk_batch *b = s->spare;
		s->spare = b->next_spare;
		batch_free(b);
	}
	s->n_spare = 0;
	if (s->claim_timer != NULL) {
		event_free(s->claim_timer);
	}
	if (s->trim_timer != NULL) {
		event_free(s->trim_timer);
	}
	if (s->ack_ev != NULL) {
		event_free(s->ack_ev);
	}
	lwm2m_rpc_client_free(s->rpc); /* calls back with LWM2M_ECLOSED */
	lwm2m_redis_free(s->reader);
	if (s->inflight > 0) {
		s->freed = true; /* entries still held by the fan-out steps */
		return;
	}
	free(s);
}

size_t
brk__stream_inflight(const struct brk_stream *s)
{
	return s != NULL ? s->inflight : 0;
}
