/* brk_fanout.c - the broker daemon: nng sub0 listener for gateway events,
 * subscription lookup in Redis, one delivery job per matching subscription
 * on the stream LWM2M_KEY_DELIVERIES. */
#include "brk.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "lwm2m_env.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_metrics.h"
#include "lwm2m_redis.h"

#define RECV_BUF_MSGS 1024 /* events nng holds while Redis is slow */

struct brk_ctx {
	struct event_base *base;
	const struct brk_config *cfg;
	struct lwm2m_redis *redis;
	nng_socket sock;
	bool sock_open;
	struct event *recv_ev;
	struct lwm2m_metrics_http *health;
	struct brk_stream *stream; /* BRK_SRC_STREAM */
	struct brk_defcache *defs; /* definitions for notifications */
	struct brk_lua_set luas;   /* SHA1 of the scripts */
	char run[BRK_RUN_MAX];     /* "<consumer> <random id>" */
	unsigned long long queued, events;
	TAILQ_HEAD(, brk_fetch) backlog; /* steps waiting for Redis */
	size_t n_backlog;
	bool closing;
};

/* One step of handling an event, re-issued from the backlog when Redis is
 * unavailable: read an index set, read one subscription, or add its job. */
enum brk_stage {
	ST_ORG_INDEX = 0, /* SMEMBERS org:{org}:evsubs:<type> */
	ST_CLIENT_INDEX,  /* SMEMBERS client:{cid}:evsubs:<type> */
	ST_SUB,           /* HGETALL sub:{id} */
	ST_XADD,          /* XADD the rendered job */
};

struct brk_fetch {
	TAILQ_ENTRY(brk_fetch) link; /* in brk_ctx.backlog */
	struct brk_ctx *ctx;
	enum brk_stage stage;
	struct lwm2m_event ev;
	enum brk_event event;
	char id[LWM2M_ID_SIZE];  /* ST_SUB, ST_XADD: subscription id */
	char did[LWM2M_ID_SIZE]; /* ST_XADD: delivery id */
	char *job;               /* ST_XADD: encoded job, owned */
	size_t job_len;
	struct brk_entry *entry; /* stream entry (a reference), or NULL */
};

static void issue(struct brk_fetch *f);

void
brk_config_defaults(struct brk_config *config)
{
	config->redis_url = NULL;
	config->events_url = NULL;
	config->health_addr = NULL;
	config->backlog_max = BRK_BACKLOG_MAX_DEFAULT;
	config->source = BRK_SRC_STREAM;
	config->consumer_buf[sizeof config->consumer_buf - 1] = '\0';
	if (gethostname(config->consumer_buf,
	                sizeof config->consumer_buf - 1) != 0) {
		snprintf(config->consumer_buf, sizeof config->consumer_buf,
		         "lwds-broker");
	}
	config->consumer = config->consumer_buf;
	config->claim_idle_ms = BRK_CLAIM_IDLE_MS_DEFAULT;
	config->trim_ms = BRK_TRIM_MS_DEFAULT;
}

static void
fetch_free(struct brk_fetch *f)
{
	brk__entry_unref(f->entry);
	free(f->job);
	free(f);
}

/* backlog keeps f until Redis is back (bounded: peers can flood us). */
static void
backlog(struct brk_fetch *f)
{
	struct brk_ctx *ctx = f->ctx;

	if (ctx->closing || ctx->n_backlog >= ctx->cfg->backlog_max) {
		lwm2m_log(LWM2M_LOG_ERR,
		          "redis unavailable and backlog full, event %s id=%s "
		          "lost",
		          brk_event_name(f->event), f->ev.id);
		fetch_free(f);
		return;
	}
	if (ctx->n_backlog == 0) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "redis unavailable, holding events until it is back");
	}
	TAILQ_INSERT_TAIL(&ctx->backlog, f, link);
	ctx->n_backlog++;
}

static void
on_queued(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct brk_fetch *f = arg;

	if (reply == NULL) {
		/* it may have been added: the same delivery id lets the hook
		 * drop a duplicate */
		backlog(f);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_ERR, "XADD failed sub=%s id=%s: %s", f->id,
		          f->ev.id, reply->str);
		lwm2m_metrics_inc(lwm2m_metrics_counter(
		    NULL, "lwds_broker_errors_total", "Failed Redis writes"));
	} else {
		f->ctx->queued++;
		lwm2m_metrics_inc(lwm2m_metrics_counter(
		    NULL, "lwds_broker_deliveries_queued_total",
		    "Delivery jobs added to the deliveries stream"));
		lwm2m_log(LWM2M_LOG_DEBUG, "queued %s sub=%s id=%s delivery=%s",
		          brk_event_name(f->event), f->id, f->ev.id, f->did);
	}
	fetch_free(f);
}

static void
enqueue(struct brk_fetch *f, const struct brk_sub *sub)
{
	char *body = NULL;
	size_t body_len;
	lwm2m_err err;

	err = brk_body_render(sub, f->event, &f->ev, lwm2m_now_ms() / 1000,
	                      &body, &body_len);
	if (err == LWM2M_OK) {
		err = brk_job_new(sub, body, body_len, &f->job, &f->job_len,
		                  f->did);
	}
	free(body);
	if (err != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot queue sub=%s id=%s: %s",
		          sub->id, f->ev.id, lwm2m_strerror(err));
		fetch_free(f);
		return;
	}
	f->stage = ST_XADD;
	issue(f);
}

static void
on_sub(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct brk_fetch *f = arg;
	struct brk_sub *sub;
	lwm2m_err err;

	if (reply == NULL) {
		backlog(f);
		return;
	}
	sub = malloc(sizeof *sub);
	err = sub == NULL ? LWM2M_ENOMEM : brk_sub_parse(f->id, reply, sub);
	if (err == LWM2M_OK && brk_sub_matches(sub, f->event, &f->ev)) {
		enqueue(f, sub);
		free(sub);
		return;
	}
	if (err != LWM2M_OK && err != LWM2M_ENOTFOUND) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "subscription sub=%s unreadable: %s, ignoring", f->id,
		          lwm2m_strerror(err));
	}
	free(sub);
	fetch_free(f);
}

static void
fetch_sub(const struct brk_fetch *proto, const redisReply *id)
{
	struct brk_fetch *f;

	if (id->type != REDIS_REPLY_STRING ||
	    !lwm2m_id_valid(id->str, id->len)) {
		return;
	}
	f = calloc(1, sizeof *f);
	if (f == NULL) {
		return;
	}
	f->ctx = proto->ctx;
	f->ev = proto->ev;
	f->event = proto->event;
	f->entry = proto->entry;
	brk__entry_ref(f->entry);
	f->stage = ST_SUB;
	memcpy(f->id, id->str, id->len + 1);
	issue(f);
}

static void
on_index(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct brk_fetch *f = arg;
	size_t i;

	if (reply == NULL) {
		backlog(f);
		return;
	}
	if (reply->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i < reply->elements; i++) {
			fetch_sub(f, reply->element[i]);
		}
	} else {
		lwm2m_log(LWM2M_LOG_ERR, "subscription lookup failed id=%s: %s",
		          f->ev.id, reply->str ? reply->str : "odd reply");
	}
	fetch_free(f);
}

/* issue sends f's command, or keeps f in the backlog while Redis is down. */
static void
issue(struct brk_fetch *f)
{
	struct lwm2m_redis *r = f->ctx->redis;
	const char *name = brk_event_name(f->event);
	lwm2m_err err = LWM2M_EBACKEND;

	switch (f->stage) {
	case ST_ORG_INDEX:
		err = lwm2m_redis_cmd(r, on_index, f,
		                      "SMEMBERS " LWM2M_KEY_ORG_EVENT_SUBS,
		                      f->ev.org, name);
		break;
	case ST_CLIENT_INDEX:
		err = lwm2m_redis_cmd(r, on_index, f,
		                      "SMEMBERS " LWM2M_KEY_CLIENT_EVENT_SUBS,
		                      f->ev.id, name);
		break;
	case ST_SUB:
		err = lwm2m_redis_cmd(r, on_sub, f, "HGETALL " LWM2M_KEY_SUB,
		                      f->id);
		break;
	case ST_XADD:
		err = lwm2m_redis_cmd(r, on_queued, f, "XADD %s * %s %b",
		                      LWM2M_KEY_DELIVERIES,
		                      LWM2M_DELIVERY_FIELD, f->job, f->job_len);
		break;
	}
	if (err != LWM2M_OK) {
		backlog(f);
	}
}

/* on_redis_ready re-issues what waited for Redis, oldest first. */
static void
on_redis_ready(struct lwm2m_redis *redis, void *arg)
{
	struct brk_ctx *ctx = arg;
	struct brk_fetch *f;
	size_t n = ctx->n_backlog;

	brk__lua_load(redis); /* before any EVALSHA on this connection */
	if (n > 0) {
		lwm2m_log(LWM2M_LOG_NOTICE,
		          "redis back, resuming %zu held steps", n);
	}
	while (n-- > 0 && (f = TAILQ_FIRST(&ctx->backlog)) != NULL) {
		TAILQ_REMOVE(&ctx->backlog, f, link);
		ctx->n_backlog--;
		issue(f);
	}
}

/* brk__event reads the organisation-level and the client-level index of
 * the event's type; each step keeps its own copy of the event. */
void
brk__event(struct brk_ctx *ctx, enum brk_event event,
           const struct lwm2m_event *ev, struct brk_entry *entry)
{
	enum brk_stage stages[] = {ST_ORG_INDEX, ST_CLIENT_INDEX};
	struct brk_fetch *f;
	size_t i;

	for (i = 0; i < 2; i++) {
		f = calloc(1, sizeof *f);
		if (f == NULL) {
			lwm2m_log(LWM2M_LOG_ERR,
			          "out of memory, event id=%s lost", ev->id);
			return;
		}
		f->ctx = ctx;
		f->ev = *ev;
		f->event = event;
		f->stage = stages[i];
		f->entry = entry;
		brk__entry_ref(entry);
		issue(f);
	}
}

static void
handle_msg(struct brk_ctx *ctx, nng_msg *msg)
{
	struct lwm2m_env env;
	struct lwm2m_event ev;
	enum brk_event event;
	char ep[80], gw[80];
	lwm2m_err err = lwm2m_env_decode(msg, &env);

	if (err != LWM2M_OK || !brk_event_from_kind(env.kind, &event)) {
		lwm2m_log(LWM2M_LOG_WARNING, "envelope kind=%u: %s, ignoring",
		          err == LWM2M_OK ? env.kind : 0,
		          err == LWM2M_OK ? "not an event"
		                          : lwm2m_strerror(err));
		return;
	}
	err = lwm2m_event_decode(env.payload, env.payload_len, &ev);
	if (err != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_WARNING, "event kind=%u: %s, ignoring",
		          env.kind, lwm2m_strerror(err));
		return;
	}
	ctx->events++;
	lwm2m_metrics_inc(lwm2m_metrics_counter(
	    NULL, "lwds_broker_events_total", "Gateway events received"));
	lwm2m_log(LWM2M_LOG_DEBUG,
	          "event %s id=%s ep=\"%s\" org=%lld gw=\"%s\"",
	          brk_event_name(event), ev.id,
	          lwm2m_log_quote(ep, sizeof ep, ev.ep, strlen(ev.ep)), ev.org,
	          lwm2m_log_quote(gw, sizeof gw, ev.gw, strlen(ev.gw)));
	brk__event(ctx, event, &ev, NULL);
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct brk_ctx *ctx = arg;
	nng_msg *msg;

	/* the fd only signals; the messages come from nng */
	while (nng_recvmsg(ctx->sock, &msg, NNG_FLAG_NONBLOCK) == 0) {
		handle_msg(ctx, msg);
		nng_msg_free(msg);
	}
}

static lwm2m_err
listen_events(struct brk_ctx *ctx)
{
	int rv, fd;

	rv = nng_sub0_open(&ctx->sock);
	if (rv != 0) {
		return lwm2m_env_nng_err(rv);
	}
	ctx->sock_open = true;
	rv = nng_socket_set(ctx->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	if (rv == 0) {
		rv = nng_socket_set_int(ctx->sock, NNG_OPT_RECVBUF,
		                        RECV_BUF_MSGS);
	}
	if (rv == 0) {
		rv = nng_listen(ctx->sock, ctx->cfg->events_url, NULL, 0);
	}
	if (rv == 0) {
		rv = nng_socket_get_int(ctx->sock, NNG_OPT_RECVFD, &fd);
	}
	if (rv != 0) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot listen on %s: %s",
		          ctx->cfg->events_url, nng_strerror(rv));
		return lwm2m_env_nng_err(rv);
	}
	ctx->recv_ev =
	    event_new(ctx->base, fd, EV_READ | EV_PERSIST, on_readable, ctx);
	if (ctx->recv_ev == NULL || event_add(ctx->recv_ev, NULL) != 0) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

/* /health: 503 while Redis is not connected */
static int
on_health(struct evbuffer *out, void *arg)
{
	struct brk_ctx *ctx = arg;
	bool ok = lwm2m_redis_connected(ctx->redis);

	evbuffer_add_printf(out,
	                    "{\"status\":\"%s\",\"events\":%llu,"
	                    "\"queued\":%llu,\"inflight\":%zu}\n",
	                    ok ? "ok" : "redis unavailable", ctx->events,
	                    ctx->queued, brk__stream_inflight(ctx->stream));
	return ok;
}

static lwm2m_err
run_name(struct brk_ctx *ctx)
{
	char id[LWM2M_ID_SIZE];
	const char *consumer = ctx->cfg->consumer;
	int n;

	if (lwm2m_id_new(id) != LWM2M_OK) {
		return LWM2M_EIO;
	}
	n = snprintf(ctx->run, sizeof ctx->run, "%s %s",
	             consumer != NULL && consumer[0] != '\0' ? consumer
	                                                     : "lwds-broker",
	             id);
	return n > 0 && (size_t)n < sizeof ctx->run ? LWM2M_OK : LWM2M_EINVAL;
}

lwm2m_err
brk_ctx_new(struct event_base *base, const struct brk_config *config,
            struct brk_ctx **ret_ctx)
{
	struct brk_ctx *ctx = calloc(1, sizeof *ctx);
	lwm2m_err err;

	if (ctx == NULL) {
		return LWM2M_ENOMEM;
	}
	ctx->base = base;
	ctx->cfg = config;
	TAILQ_INIT(&ctx->backlog);
	brk__lua_init(&ctx->luas);
	err = run_name(ctx);
	if (err == LWM2M_OK) {
		err = brk__defcache_new(&ctx->defs);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_redis_new(base, config->redis_url, on_redis_ready,
		                      ctx, &ctx->redis);
	}
	if (err == LWM2M_OK) {
		err = config->source == BRK_SRC_STREAM
		          ? brk__stream_new(ctx, base, config, &ctx->stream)
		          : listen_events(ctx);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_metrics_http_start(base, config->health_addr,
		                               on_health, ctx, &ctx->health);
	}
	if (err != LWM2M_OK) {
		brk_ctx_free(ctx);
		return err;
	}
	*ret_ctx = ctx;
	return LWM2M_OK;
}

void
brk_ctx_free(struct brk_ctx *ctx)
{
	struct brk_fetch *f;

	if (ctx == NULL) {
		return;
	}
	brk__stream_free(ctx->stream);
	if (ctx->recv_ev != NULL) {
		event_free(ctx->recv_ev);
	}
	if (ctx->sock_open) {
		nng_close(ctx->sock);
	}
	lwm2m_metrics_http_free(ctx->health);
	ctx->closing = true;
	lwm2m_redis_free(ctx->redis);
	while ((f = TAILQ_FIRST(&ctx->backlog)) != NULL) {
		TAILQ_REMOVE(&ctx->backlog, f, link);
		fetch_free(f);
	}
	brk__defcache_free(ctx->defs); /* after every Redis callback ran */
	free(ctx);
}

unsigned long long
brk_ctx_queued(const struct brk_ctx *ctx)
{
	return ctx->queued;
}

struct lwm2m_redis *
brk__redis(struct brk_ctx *ctx)
{
	return ctx->redis;
}

struct brk_defcache *
brk__defcache(struct brk_ctx *ctx)
{
	return ctx->defs;
}

const struct brk_lua_set *
brk__luas(struct brk_ctx *ctx)
{
	return &ctx->luas;
}

struct event_base *
brk__base(struct brk_ctx *ctx)
{
	return ctx->base;
}

const char *
brk__run(struct brk_ctx *ctx)
{
	return ctx->run;
}
