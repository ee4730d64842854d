/* wh_queue.c - the dispatcher: reads jobs from the delivery stream with a
 * consumer group, posts them, and settles each one atomically in Redis
 * (acknowledged, scheduled for a retry, or dead-lettered) with Lua scripts.
 *
 * Two Redis connections: `blk` only runs the blocking XREADGROUP, `cmd`
 * everything else, so acknowledgements never wait behind a BLOCK. */
#include "wh.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>

#include "lwm2m_id.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_metrics.h"
#include "lwm2m_redis.h"

#define ENTRY_ID_MAX 64
#define READ_COUNT_MAX 128
#define ACK_BATCH_MAX 512

struct wh_job {
	TAILQ_ENTRY(wh_job) link;
	TAILQ_ENTRY(wh_job) ack_link; /* in wh_ctx.acks while waiting */
	struct wh_ctx *ctx;
	char entry[ENTRY_ID_MAX];
	struct lwm2m_delivery d;
	int64_t started;
};
TAILQ_HEAD(wh_job_list, wh_job);

struct wh_ctx {
	struct event_base *base;
	const struct wh_config *cfg;
	struct lwm2m_redis *cmd, *blk;
	struct wh_http *http;
	struct lwm2m_metrics_http *health;
	struct event *retry_timer, *claim_timer, *read_timer, *grace_timer;
	struct event *ack_ev;    /* flushes acks once per loop iteration */
	struct wh_job_list acks; /* delivered, acknowledgement not sent */
	struct wh_job_list jobs;
	unsigned inflight;
	bool group_ready, reading, pending_phase, stopping, closing;
	char cursor[ENTRY_ID_MAX];
	char claim_cursor[ENTRY_ID_MAX];
	void (*done)(void *);
	void *done_arg;
	/* metric handles, looked up once (a lookup is a locked name search) */
	struct lwm2m_metric *m_inflight, *m_latency;
	struct lwm2m_metric *m_outcome[WH_DROP + 1];
};

static const char ACK_LUA[] = "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) "
                              "redis.call('XDEL', KEYS[1], ARGV[2]) return 1";
static const char RETRY_LUA[] =
    "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then "
    "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4]) end "
    "redis.call('XDEL', KEYS[1], ARGV[2]) return 1";
static const char DEAD_LUA[] =
    "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then "
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', "
    "'org', ARGV[4], 'sub', ARGV[5], 'id', ARGV[6], 'url', ARGV[7], "
    "'status', ARGV[8], 'error', ARGV[9], 'attempts', ARGV[10], "
    "'job', ARGV[11]) end "
    "redis.call('XDEL', KEYS[1], ARGV[2]) return 1";
static const char PROMOTE_LUA[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], "
    "'LIMIT', 0, tonumber(ARGV[2])) "
    "for _, job in ipairs(due) do "
    "redis.call('XADD', KEYS[1], '*', 'job', job) "
    "redis.call('ZREM', KEYS[2], job) end return #due";

static void read_next(struct wh_ctx *ctx);

static bool
in_flight(const struct wh_ctx *ctx, const char *entry)
{
	const struct wh_job *j;

	TAILQ_FOREACH(j, &ctx->jobs, link)
	{
		if (strcmp(j->entry, entry) == 0) {
			return true;
		}
	}
	return false;
}

static void
maybe_done(struct wh_ctx *ctx)
{
	if (ctx->stopping && ctx->inflight == 0 && ctx->done != NULL) {
		void (*done)(void *) = ctx->done;

		ctx->done = NULL;
		done(ctx->done_arg);
	}
}

static void
job_free(struct wh_job *job)
{
	struct wh_ctx *ctx = job->ctx;

	TAILQ_REMOVE(&ctx->jobs, job, link);
	ctx->inflight--;
	lwm2m_metrics_set(ctx->m_inflight, ctx->inflight);
	lwm2m_delivery_fini(&job->d);
	free(job);
	if (!ctx->closing) {
		read_next(ctx);
		maybe_done(ctx);
	}
}

static void
on_settled(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct wh_job *job = arg;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(
		    LWM2M_LOG_WARNING,
		    "settle failed entry=%s delivery=%s: %s, left pending",
		    job->entry, job->d.id,
		    reply ? reply->str : "connection lost");
	}
	job_free(job);
}

static void
settle_argv(struct wh_job *job, const char *script, int n_keys,
            const char **args, int n_args)
{
	const char *argv[24];
	char nk[4];
	int argc = 0, i;

	snprintf(nk, sizeof nk, "%d", n_keys);
	argv[argc++] = "EVAL";
	argv[argc++] = script;
	argv[argc++] = nk;
	argv[argc++] = LWM2M_KEY_DELIVERIES;
	if (n_keys == 2) {
		argv[argc++] = script == RETRY_LUA ? LWM2M_KEY_DELIVERY_RETRY
		                                   : LWM2M_KEY_DEADLETTERS;
	}
	argv[argc++] = LWM2M_DELIVERY_GROUP;
	argv[argc++] = job->entry;
	for (i = 0; i < n_args; i++) {
		argv[argc++] = args[i];
	}
	if (lwm2m_redis_cmdargv(job->ctx->cmd, on_settled, job, argc, argv,
	                        NULL) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "redis down, entry=%s delivery=%s left pending",
		          job->entry, job->d.id);
		job_free(job);
	}
}

static void
settle_retry(struct wh_job *job)
{
	struct wh_ctx *ctx = job->ctx;
	uint32_t rnd = 0;
	char due[24], *text = NULL;
	size_t len;
	int64_t delay;
	const char *args[2];

	lwm2m_random(&rnd, sizeof rnd);
	delay = wh_retry_delay_ms(&ctx->cfg->retry, job->d.attempt, rnd);
	if (lwm2m_delivery_encode(&job->d, &text, &len) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR,
		          "out of memory, delivery=%s left pending", job->d.id);
		job_free(job);
		return;
	}
	snprintf(due, sizeof due, "%" PRId64, lwm2m_now_ms() + delay);
	args[0] = due;
	args[1] = text;
	lwm2m_log(LWM2M_LOG_INFO,
	          "retry sub=%s delivery=%s attempt=%u in %" PRId64 " ms",
	          job->d.sub, job->d.id, job->d.attempt + 1, delay);
	settle_argv(job, RETRY_LUA, 2, args, 2);
	free(text);
}

static void
settle_dead(struct wh_job *job, int status, const char *error)
{
	char maxlen[24], org[24], st[16], attempts[16], *text = NULL;
	size_t len;
	const char *args[9];

	if (lwm2m_delivery_encode(&job->d, &text, &len) != LWM2M_OK) {
		job_free(job);
		return;
	}
	snprintf(maxlen, sizeof maxlen, "%lld", job->ctx->cfg->deadletter_max);
	snprintf(org, sizeof org, "%lld", job->d.org);
	snprintf(st, sizeof st, "%d", status);
	snprintf(attempts, sizeof attempts, "%u", job->d.attempt);
	args[0] = maxlen;
	args[1] = org;
	args[2] = job->d.sub;
	args[3] = job->d.id;
	args[4] = job->d.url;
	args[5] = st;
	args[6] = error;
	args[7] = attempts;
	args[8] = text;
	lwm2m_log(LWM2M_LOG_WARNING,
	          "dead letter sub=%s delivery=%s attempts=%u "
	          "status=%d: %s",
	          job->d.sub, job->d.id, job->d.attempt, status, error);
	settle_argv(job, DEAD_LUA, 2, args, 9);
	free(text);
}

/* One EVAL acknowledging and deleting up to ACK_BATCH_MAX delivered jobs. */
struct ack_batch {
	size_t n;
	struct wh_job *jobs[ACK_BATCH_MAX];
};

static void
on_acked(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct ack_batch *b = arg;
	size_t i;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "ack of %zu jobs failed: %s, left "
		          "pending",
		          b->n, reply ? reply->str : "connection lost");
	}
	for (i = 0; i < b->n; i++) {
		job_free(b->jobs[i]);
	}
	free(b);
}

/* ack_send acknowledges and deletes a batch in one transaction: MULTI,
 * XACK, XDEL, EXEC (cheaper in Redis than the same two calls in a Lua
 * script); on_acked runs once, with EXEC's reply. */
static void
ack_send(struct wh_ctx *ctx, struct ack_batch *b)
{
	const char *argv[ACK_BATCH_MAX + 3];
	size_t i;
	lwm2m_err err;

	argv[0] = "XACK";
	argv[1] = LWM2M_KEY_DELIVERIES;
	argv[2] = LWM2M_DELIVERY_GROUP;
	for (i = 0; i < b->n; i++) {
		argv[i + 3] = b->jobs[i]->entry;
	}
	err = lwm2m_redis_cmd(ctx->cmd, NULL, NULL, "MULTI");
	if (err == LWM2M_OK) {
		err = lwm2m_redis_cmdargv(ctx->cmd, NULL, NULL, (int)b->n + 3,
		                          argv, NULL);
		/* XDEL key id...: the same vector, one slot on */
		argv[1] = "XDEL";
		argv[2] = LWM2M_KEY_DELIVERIES;
		if (err == LWM2M_OK) {
			err =
			    lwm2m_redis_cmdargv(ctx->cmd, NULL, NULL,
			                        (int)b->n + 2, argv + 1, NULL);
		}
	}
	if (err == LWM2M_OK) {
		err = lwm2m_redis_cmd(ctx->cmd, on_acked, b, "EXEC");
	}
	if (err != LWM2M_OK) {
		lwm2m_redis_cmd(ctx->cmd, NULL, NULL, "DISCARD");
		lwm2m_log(LWM2M_LOG_WARNING,
		          "redis down, %zu delivered jobs left pending", b->n);
		on_acked(ctx->cmd, NULL, b);
	}
}

static void
on_ack_flush(evutil_socket_t fd, short what, void *arg)
{
	struct wh_ctx *ctx = arg;
	struct ack_batch *b;
	struct wh_job *job;

	while (!TAILQ_EMPTY(&ctx->acks)) {
		b = malloc(sizeof *b);
		if (b == NULL) {
			event_active(ctx->ack_ev, EV_TIMEOUT, 0);
			return;
		}
		b->n = 0;
		while (b->n < ACK_BATCH_MAX &&
		       (job = TAILQ_FIRST(&ctx->acks)) != NULL) {
			TAILQ_REMOVE(&ctx->acks, job, ack_link);
			b->jobs[b->n++] = job;
		}
		ack_send(ctx, b);
	}
}

static void
ack_later(struct wh_job *job)
{
	TAILQ_INSERT_TAIL(&job->ctx->acks, job, ack_link);
	event_active(job->ctx->ack_ev, EV_TIMEOUT, 0);
}

/* Metrics: one counter per outcome and the attempt latency. */
static void
metrics_init(struct wh_ctx *ctx)
{
	static const double bounds[] = {0.01, 0.05, 0.1, 0.5, 1, 5, 30};
	static const char *const names[] = {
	    [WH_DELIVERED] =
	        "lwds_webhook_attempts_total{outcome=\"delivered\"}",
	    [WH_RETRY] = "lwds_webhook_attempts_total{outcome=\"retry\"}",
	    [WH_DROP] = "lwds_webhook_attempts_total{outcome=\"dead\"}",
	};

	for (size_t i = 0; i <= WH_DROP; i++) {
		ctx->m_outcome[i] = lwm2m_metrics_counter(
		    NULL, names[i], "Delivery attempts by outcome");
	}
	ctx->m_latency = lwm2m_metrics_histogram(
	    NULL, "lwds_webhook_attempt_seconds", "Delivery attempt latency",
	    bounds, sizeof bounds / sizeof bounds[0]);
	ctx->m_inflight = lwm2m_metrics_gauge(NULL, "lwds_webhook_inflight",
	                                      "Deliveries in progress");
}

static void
count_outcome(struct wh_ctx *ctx, enum wh_outcome o, int64_t ms)
{
	lwm2m_metrics_inc(ctx->m_outcome[o]);
	lwm2m_metrics_observe(ctx->m_latency, (double)ms / 1000.0);
}

static void
on_http_done(int status, const char *error, void *arg)
{
	struct wh_job *job = arg;
	struct wh_ctx *ctx = job->ctx;
	enum wh_outcome o;
	char why[64];

	if (ctx->closing) {
		job_free(job);
		return;
	}
	job->d.attempt++;
	o = wh_retry_decide(&ctx->cfg->retry, status, job->d.attempt);
	count_outcome(ctx, o, lwm2m_mono_ms() - job->started);
	switch (o) {
	case WH_DELIVERED:
		lwm2m_log(LWM2M_LOG_DEBUG,
		          "delivered sub=%s delivery=%s status=%d "
		          "attempt=%u ms=%" PRId64 " age_ms=%" PRId64,
		          job->d.sub, job->d.id, status, job->d.attempt,
		          lwm2m_mono_ms() - job->started,
		          lwm2m_now_ms() - job->d.created);
		ack_later(job);
		break;
	case WH_RETRY:
		lwm2m_log(LWM2M_LOG_NOTICE,
		          "failed sub=%s delivery=%s status=%d%s%s", job->d.sub,
		          job->d.id, status, error ? " " : "",
		          error ? error : "");
		settle_retry(job);
		break;
	case WH_DROP:
		snprintf(why, sizeof why, "%s",
		         error ? error
		               : (wh_retry_classify(status) == WH_DROP
		                      ? "rejected by the hook"
		                      : "retries exhausted"));
		settle_dead(job, status, why);
		break;
	}
}

static void
job_start(struct wh_ctx *ctx, struct wh_job *job)
{
	char sig[WH_SIGNATURE_SIZE];
	struct wh_http_headers h = {
	    .content_type = job->d.content_type,
	    .signature = NULL,
	    .delivery_id = job->d.id,
	    .attempt = job->d.attempt + 1,
	};

	if (job->d.secret[0] != '\0' &&
	    wh_sign(job->d.secret, strlen(job->d.secret), job->d.body,
	            job->d.body_len, sig) == LWM2M_OK) {
		h.signature = sig;
	}
	job->started = lwm2m_mono_ms();
	if (wh_http_post(ctx->http, job->d.url, &h, job->d.body,
	                 job->d.body_len, on_http_done, job) != LWM2M_OK) {
		job->d.attempt++;
		settle_dead(job, 0, "bad url");
	}
}

/* The reply to EXISTS of a retried job's subscription: 0 drops the job
 * (acknowledged and removed; no dead letter, since the subscription and
 * its dead letters are gone); anything else, Redis unreachable included,
 * delivers it, as a first attempt would be. */
static void
on_sub_checked(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct wh_job *job = arg;

	if (job->ctx->closing) {
		job_free(job);
		return;
	}
	if (lwm2m_redis_reply_int(reply, 0)) {
		lwm2m_log(LWM2M_LOG_INFO,
		          "dropped sub=%s delivery=%s attempt=%u: "
		          "subscription deleted",
		          job->d.sub, job->d.id, job->d.attempt + 1);
		settle_argv(job, ACK_LUA, 1, NULL, 0);
		return;
	}
	job_start(job->ctx, job);
}

/* A first attempt goes out at once.  A retry waited in the retry set, up
 * to LWDS_WEBHOOK_BACKOFF_MAX_MS per attempt, so it first checks that its
 * subscription still exists: a deleted subscription's hook gets nothing
 * more. */
static void
job_begin(struct wh_ctx *ctx, struct wh_job *job)
{
	if (job->d.attempt == 0 ||
	    lwm2m_redis_cmd(ctx->cmd, on_sub_checked, job,
	                    "EXISTS " LWM2M_KEY_SUB, job->d.sub) != LWM2M_OK) {
		job_start(ctx, job);
	}
}

/* settle_bad removes an entry without a usable job: a deleted one is only
 * acknowledged, an undecodable one is kept as a dead letter. */
static void
settle_bad(struct wh_job *job, const redisReply *field, lwm2m_err err)
{
	char maxlen[24];
	const char *args[9];

	if (field == NULL || field->type != REDIS_REPLY_STRING) {
		lwm2m_log(LWM2M_LOG_WARNING, "entry=%s has no job, dropping",
		          job->entry);
		settle_argv(job, ACK_LUA, 1, NULL, 0);
		return;
	}
	lwm2m_log(LWM2M_LOG_WARNING,
	          "entry=%s: undecodable job (%s), "
	          "dead-lettered",
	          job->entry, lwm2m_strerror(err));
	snprintf(maxlen, sizeof maxlen, "%lld", job->ctx->cfg->deadletter_max);
	args[0] = maxlen;
	args[1] = "";
	args[2] = "";
	args[3] = "";
	args[4] = "";
	args[5] = "0";
	args[6] = "undecodable job";
	args[7] = "0";
	args[8] = field->str;
	settle_argv(job, DEAD_LUA, 2, args, 9);
}

/* take_entry starts delivering the stream entry [id, [field, value, ...]]
 * unless (when seen is true: a re-read of pending or claimed entries) it is
 * already in flight here.  New entries (id ">") cannot be, and skipping the
 * linear search for them keeps a full read O(n), not O(n * inflight). */
static void
take_entry(struct wh_ctx *ctx, const redisReply *e, bool seen)
{
	const redisReply *id, *f = NULL;
	struct wh_job *job;
	lwm2m_err err = LWM2M_EPROTO;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    (id = e->element[0])->type != REDIS_REPLY_STRING ||
	    id->len >= ENTRY_ID_MAX || (seen && in_flight(ctx, id->str))) {
		return;
	}
	job = calloc(1, sizeof *job);
	if (job == NULL) {
		return;
	}
	job->ctx = ctx;
	memcpy(job->entry, id->str, id->len + 1);
	TAILQ_INSERT_TAIL(&ctx->jobs, job, link);
	ctx->inflight++;
	f = lwm2m_redis_field(e->element[1], LWM2M_DELIVERY_FIELD);
	if (f != NULL) {
		err = lwm2m_delivery_decode(f->str, f->len, &job->d);
	}
	if (err != LWM2M_OK) {
		settle_bad(job, f, err);
		return;
	}
	job_begin(ctx, job);
}

static size_t
take_entries(struct wh_ctx *ctx, const redisReply *entries, bool seen)
{
	size_t i;

	if (entries->type != REDIS_REPLY_ARRAY) {
		return 0;
	}
	for (i = 0; i < entries->elements; i++) {
		take_entry(ctx, entries->element[i], seen);
	}
	return entries->elements;
}

static void
read_later(struct wh_ctx *ctx, int64_t ms)
{
	struct timeval tv = {.tv_sec = ms / 1000,
	                     .tv_usec = (ms % 1000) * 1000};

	evtimer_add(ctx->read_timer, &tv);
}

/* advance_cursor moves the pending-phase cursor past the n entries just
 * read, or ends the phase when there were none. */
static void
advance_cursor(struct wh_ctx *ctx, const redisReply *entries, size_t n)
{
	const redisReply *last;

	if (!ctx->pending_phase) {
		return;
	}
	if (n == 0) {
		ctx->pending_phase = false;
		lwm2m_log(
		    LWM2M_LOG_INFO,
		    "own pending jobs taken, reading new ones consumer=%s",
		    ctx->cfg->consumer);
		return;
	}
	last = entries->element[n - 1];
	if (last->type == REDIS_REPLY_ARRAY && last->elements == 2 &&
	    last->element[0]->type == REDIS_REPLY_STRING &&
	    last->element[0]->len < ENTRY_ID_MAX) {
		memcpy(ctx->cursor, last->element[0]->str,
		       last->element[0]->len + 1);
	}
}

static void
on_read(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct wh_ctx *ctx = arg;
	const redisReply *entries;
	size_t n;

	/* ctx->reading stays set while the entries are taken, so a job that
	 * settles at once cannot start a read with a stale pending cursor */
	if (reply == NULL || ctx->closing) {
		ctx->reading = false;
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_WARNING, "XREADGROUP: %s, retrying",
		          reply->str);
		ctx->reading = false;
		read_later(ctx, 1000);
		return;
	}
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
	    reply->element[0]->type == REDIS_REPLY_ARRAY &&
	    reply->element[0]->elements == 2) {
		entries = reply->element[0]->element[1];
		n = take_entries(ctx, entries, ctx->pending_phase);
		advance_cursor(ctx, entries, n);
	}
	ctx->reading = false;
	read_next(ctx);
}

static void
read_next(struct wh_ctx *ctx)
{
	char count[16], block[24];
	const char *argv[12];
	unsigned free_slots = ctx->cfg->max_inflight - ctx->inflight;
	int argc = 0;

	if (ctx->reading || ctx->stopping || !ctx->group_ready ||
	    ctx->inflight >= ctx->cfg->max_inflight ||
	    !lwm2m_redis_connected(ctx->blk)) {
		return;
	}
	snprintf(count, sizeof count, "%u",
	         free_slots < READ_COUNT_MAX ? free_slots : READ_COUNT_MAX);
	snprintf(block, sizeof block, "%" PRId64, ctx->cfg->block_ms);
	argv[argc++] = "XREADGROUP";
	argv[argc++] = "GROUP";
	argv[argc++] = LWM2M_DELIVERY_GROUP;
	argv[argc++] = ctx->cfg->consumer;
	argv[argc++] = "COUNT";
	argv[argc++] = count;
	if (!ctx->pending_phase) {
		argv[argc++] = "BLOCK";
		argv[argc++] = block;
	}
	argv[argc++] = "STREAMS";
	argv[argc++] = LWM2M_KEY_DELIVERIES;
	argv[argc++] = ctx->pending_phase ? ctx->cursor : ">";
	if (lwm2m_redis_cmdargv(ctx->blk, on_read, ctx, argc, argv, NULL) ==
	    LWM2M_OK) {
		ctx->reading = true;
	}
}

static void
on_read_timer(evutil_socket_t fd, short what, void *arg)
{
	read_next(arg);
}

static void
on_claimed(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct wh_ctx *ctx = arg;
	size_t n;

	if (reply == NULL || ctx->closing) {
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[0]->len >= ENTRY_ID_MAX) {
		lwm2m_log(LWM2M_LOG_WARNING, "XAUTOCLAIM: %s",
		          reply->type == REDIS_REPLY_ERROR ? reply->str
		                                           : "odd reply");
		return;
	}
	memcpy(ctx->claim_cursor, reply->element[0]->str,
	       reply->element[0]->len + 1);
	n = take_entries(ctx, reply->element[1], true);
	if (n > 0) {
		lwm2m_log(LWM2M_LOG_NOTICE,
		          "claimed %zu jobs idle over %" PRId64
		          " ms from other consumers",
		          n, ctx->cfg->claim_idle_ms);
	}
}

static void
claim(struct wh_ctx *ctx)
{
	char idle[24], count[16];
	unsigned free_slots = ctx->cfg->max_inflight - ctx->inflight;

	if (ctx->stopping || !ctx->group_ready ||
	    ctx->inflight >= ctx->cfg->max_inflight) {
		return;
	}
	snprintf(idle, sizeof idle, "%" PRId64, ctx->cfg->claim_idle_ms);
	snprintf(count, sizeof count, "%u",
	         free_slots < READ_COUNT_MAX ? free_slots : READ_COUNT_MAX);
	lwm2m_redis_cmd(ctx->cmd, on_claimed, ctx,
	                "XAUTOCLAIM %s %s %s %s %s COUNT %s",
	                LWM2M_KEY_DELIVERIES, LWM2M_DELIVERY_GROUP,
	                ctx->cfg->consumer, idle, ctx->claim_cursor, count);
}

static void
on_claim_timer(evutil_socket_t fd, short what, void *arg)
{
	claim(arg);
}

static void
on_promoted(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer > 0) {
		lwm2m_log(LWM2M_LOG_DEBUG, "%lld retries due", reply->integer);
	}
}

/* Metrics: arg is the gauge that takes an integer reply (queue depth). */
static void
on_depth(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
		lwm2m_metrics_set(arg, (double)reply->integer);
	}
}

static void
on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	struct wh_ctx *ctx = arg;
	char now[24];

	if (ctx->stopping || !lwm2m_redis_connected(ctx->cmd)) {
		return;
	}
	snprintf(now, sizeof now, "%" PRId64, lwm2m_now_ms());
	lwm2m_redis_cmd(ctx->cmd, on_promoted, ctx, "EVAL %s 2 %s %s %s 500",
	                PROMOTE_LUA, LWM2M_KEY_DELIVERIES,
	                LWM2M_KEY_DELIVERY_RETRY, now);
	lwm2m_redis_cmd(ctx->cmd, on_depth,
	                lwm2m_metrics_gauge(NULL, "lwds_webhook_queue_depth",
	                                    "Jobs in the deliveries stream"),
	                "XLEN %s", LWM2M_KEY_DELIVERIES);
	lwm2m_redis_cmd(ctx->cmd, on_depth,
	                lwm2m_metrics_gauge(NULL, "lwds_webhook_retry_depth",
	                                    "Jobs waiting for a retry"),
	                "ZCARD %s", LWM2M_KEY_DELIVERY_RETRY);
}

static void
on_group(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct wh_ctx *ctx = arg;

	if (reply == NULL || ctx->closing) {
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "BUSYGROUP", 9) != 0) {
		lwm2m_log(LWM2M_LOG_ERR, "XGROUP CREATE: %s", reply->str);
		return;
	}
	ctx->group_ready = true;
	lwm2m_log(LWM2M_LOG_NOTICE, "consuming %s group=%s consumer=%s",
	          LWM2M_KEY_DELIVERIES, LWM2M_DELIVERY_GROUP,
	          ctx->cfg->consumer);
	claim(ctx);
	read_next(ctx);
}

static void
on_cmd_ready(struct lwm2m_redis *redis, void *arg)
{
	struct wh_ctx *ctx = arg;

	/* id 0: jobs queued before the first dispatcher ever ran count too */
	lwm2m_redis_cmd(redis, on_group, ctx, "XGROUP CREATE %s %s 0 MKSTREAM",
	                LWM2M_KEY_DELIVERIES, LWM2M_DELIVERY_GROUP);
}

static void
on_blk_ready(struct lwm2m_redis *redis, void *arg)
{
	struct wh_ctx *ctx = arg;

	/* after every (re)connect, first take what this consumer left
	 * unacknowledged (a SIGKILL, a lost connection) */
	ctx->pending_phase = true;
	strcpy(ctx->cursor, "0");
	read_next(ctx);
}

/* /health: 503 until Redis is connected and the consumer group exists */
static int
on_health(struct evbuffer *out, void *arg)
{
	struct wh_ctx *ctx = arg;
	bool ok = lwm2m_redis_connected(ctx->cmd) && ctx->group_ready;

	evbuffer_add_printf(out, "{\"status\":\"%s\",\"inflight\":%u}\n",
	                    ok ? "ok" : "redis unavailable", ctx->inflight);
	return ok;
}

static lwm2m_err
timers_start(struct wh_ctx *ctx)
{
	struct timeval retry = {.tv_sec = ctx->cfg->retry_poll_ms / 1000,
	                        .tv_usec =
	                            (ctx->cfg->retry_poll_ms % 1000) * 1000};
	struct timeval claim_tv = {
	    .tv_sec = ctx->cfg->claim_interval_ms / 1000,
	    .tv_usec = (ctx->cfg->claim_interval_ms % 1000) * 1000};

	ctx->retry_timer =
	    event_new(ctx->base, -1, EV_PERSIST, on_retry_timer, ctx);
	ctx->claim_timer =
	    event_new(ctx->base, -1, EV_PERSIST, on_claim_timer, ctx);
	ctx->read_timer = evtimer_new(ctx->base, on_read_timer, ctx);
	ctx->ack_ev = event_new(ctx->base, -1, 0, on_ack_flush, ctx);
	if (ctx->retry_timer == NULL || ctx->claim_timer == NULL ||
	    ctx->read_timer == NULL || ctx->ack_ev == NULL ||
	    evtimer_add(ctx->retry_timer, &retry) ||
	    evtimer_add(ctx->claim_timer, &claim_tv)) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

lwm2m_err
wh_ctx_new(struct event_base *base, const struct wh_config *config,
           struct wh_ctx **ret_ctx)
{
	struct wh_ctx *ctx = calloc(1, sizeof *ctx);
	lwm2m_err err;

	if (ctx == NULL) {
		return LWM2M_ENOMEM;
	}
	ctx->base = base;
	ctx->cfg = config;
	TAILQ_INIT(&ctx->jobs);
	TAILQ_INIT(&ctx->acks);
	strcpy(ctx->cursor, "0");
	strcpy(ctx->claim_cursor, "0-0");
	metrics_init(ctx);
	err = wh_http_new(base, &config->http, &ctx->http);
	if (err == LWM2M_OK) {
		err = timers_start(ctx);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_metrics_http_start(base, config->health_addr,
		                               on_health, ctx, &ctx->health);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_redis_new(base, config->redis_url, on_cmd_ready,
		                      ctx, &ctx->cmd);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_redis_new(base, config->redis_url, on_blk_ready,
		                      ctx, &ctx->blk);
	}
	if (err == LWM2M_OK) {
		lwm2m_redis_set_name(ctx->blk, "blocking reads");
	}
	if (err != LWM2M_OK) {
		wh_ctx_free(ctx);
		return err;
	}
	*ret_ctx = ctx;
	return LWM2M_OK;
}

static void
on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct wh_ctx *ctx = arg;

	void (*done)(void *) = ctx->done;

	if (done != NULL) {
		lwm2m_log(LWM2M_LOG_NOTICE,
		          "stopping with %u deliveries in "
		          "flight; they stay pending",
		          ctx->inflight);
		ctx->done = NULL;
		done(ctx->done_arg);
	}
}

void
wh_ctx_stop(struct wh_ctx *ctx, int64_t grace_ms, void (*done)(void *),
            void *arg)
{
	struct timeval tv = {.tv_sec = grace_ms / 1000,
	                     .tv_usec = (grace_ms % 1000) * 1000};

	ctx->stopping = true;
	ctx->done = done;
	ctx->done_arg = arg;
	if (ctx->inflight == 0) {
		maybe_done(ctx);
		return;
	}
	ctx->grace_timer = evtimer_new(ctx->base, on_grace, ctx);
	if (ctx->grace_timer == NULL || evtimer_add(ctx->grace_timer, &tv)) {
		on_grace(-1, 0, ctx);
	}
}

static void
event_free_safe(struct event *ev)
{
	if (ev != NULL) {
		event_free(ev);
	}
}

void
wh_ctx_free(struct wh_ctx *ctx)
{
	if (ctx == NULL) {
		return;
	}
	ctx->closing = true;
	ctx->stopping = true;
	wh_http_free(ctx->http);
	lwm2m_redis_free(ctx->blk);
	lwm2m_redis_free(ctx->cmd);
	while (!TAILQ_EMPTY(&ctx->jobs)) {
		job_free(TAILQ_FIRST(&ctx->jobs));
	}
	lwm2m_metrics_http_free(ctx->health);
	event_free_safe(ctx->retry_timer);
	event_free_safe(ctx->claim_timer);
	event_free_safe(ctx->read_timer);
	event_free_safe(ctx->grace_timer);
	event_free_safe(ctx->ack_ev);
	free(ctx);
}
