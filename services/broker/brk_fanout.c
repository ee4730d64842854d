/* brk_fanout.c - the broker daemon: nng sub0 listener for gateway events,
 * subscription lookup in Redis, one delivery job per matching subscription
 * on the stream LWM2M_KEY_DELIVERIES. */
#include "brk.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "lwm2m_env.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_redis.h"

#define RECV_BUF_MSGS 1024 /* events nng holds while Redis is slow */

struct brk_ctx {
	struct event_base *base;
	const struct brk_config *cfg;
	struct lwm2m_redis *redis;
	nng_socket sock;
	bool sock_open;
	struct event *recv_ev;
	struct evhttp *health;
	unsigned long long queued, events;
};

/* One lookup of an event: the two index sets, then one fetch per id. */
struct brk_fetch {
	struct brk_ctx *ctx;
	struct lwm2m_event ev;
	enum brk_event event;
	char id[LWM2M_ID_SIZE];
};

void
brk_config_defaults(struct brk_config *config)
{
	const char *health =
	    lwm2m_getenv("LWDS_BROKER_HEALTH_ADDR", "127.0.0.1:7721");

	config->redis_url =
	    lwm2m_getenv("LWDS_REDIS_URL", "redis://127.0.0.1:6379");
	config->events_url =
	    lwm2m_getenv("LWDS_EVENTS_URL", "tcp://127.0.0.1:7720");
	config->health_addr = strcmp(health, "off") == 0 ? NULL : health;
}

static void
on_queued(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct brk_fetch *f = arg;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_ERR, "XADD failed sub=%s id=%s: %s", f->id,
		          f->ev.id, reply ? reply->str : "connection lost");
	}
	free(f);
}

static void
enqueue(struct brk_fetch *f, const struct brk_sub *sub)
{
	char *body = NULL, *job = NULL, did[LWM2M_ID_SIZE];
	size_t body_len, job_len;
	lwm2m_err err;

	err = brk_body_render(sub, f->event, &f->ev, lwm2m_now_ms() / 1000,
	                      &body, &body_len);
	if (err == LWM2M_OK) {
		err = brk_job_new(sub, body, body_len, &job, &job_len, did);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_redis_cmd(f->ctx->redis, on_queued, f,
		                      "XADD %s * %s %b", LWM2M_KEY_DELIVERIES,
		                      LWM2M_DELIVERY_FIELD, job, job_len);
	}
	free(body);
	free(job);
	if (err != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot queue sub=%s id=%s: %s",
		          sub->id, f->ev.id, lwm2m_strerror(err));
		free(f);
		return;
	}
	f->ctx->queued++;
	lwm2m_log(LWM2M_LOG_INFO, "queued %s sub=%s id=%s delivery=%s",
	          brk_event_name(f->event), sub->id, f->ev.id, did);
}

static void
on_sub(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct brk_fetch *f = arg;
	struct brk_sub *sub;
	lwm2m_err err;

	sub = malloc(sizeof *sub);
	err = sub == NULL ? LWM2M_ENOMEM : brk_sub_parse(f->id, reply, sub);
	if (err == LWM2M_OK && brk_sub_matches(sub, f->event, &f->ev)) {
		enqueue(f, sub);
		free(sub);
		return;
	}
	if (err != LWM2M_OK && err != LWM2M_ENOTFOUND) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "subscription sub=%s unreadable: "
		          "%s, ignoring",
		          f->id, lwm2m_strerror(err));
	}
	free(sub);
	free(f);
}

static void
fetch(const struct brk_fetch *proto, const redisReply *id)
{
	struct brk_fetch *f;

	if (id->type != REDIS_REPLY_STRING ||
	    !lwm2m_id_valid(id->str, id->len)) {
		return;
	}
	f = malloc(sizeof *f);
	if (f == NULL) {
		return;
	}
	*f = *proto;
	memcpy(f->id, id->str, id->len + 1);
	if (lwm2m_redis_cmd(f->ctx->redis, on_sub, f, "HGETALL " LWM2M_KEY_SUB,
	                    f->id) != LWM2M_OK) {
		free(f);
	}
}

static void
on_index(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct brk_fetch *proto = arg;
	size_t i;

	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i < reply->elements; i++) {
			fetch(proto, reply->element[i]);
		}
	} else {
		lwm2m_log(LWM2M_LOG_ERR, "subscription lookup failed id=%s: %s",
		          proto->ev.id,
		          reply && reply->str ? reply->str : "connection lost");
	}
	free(proto);
}

/* lookup reads the organisation-level and the client-level index of the
 * event's type; each keeps its own copy of the event. */
static void
lookup(struct brk_ctx *ctx, enum brk_event event, const struct lwm2m_event *ev)
{
	struct brk_fetch *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
	const char *name = brk_event_name(event);

	if (a == NULL || b == NULL) {
		free(a);
		free(b);
		return;
	}
	a->ctx = ctx;
	a->ev = *ev;
	a->event = event;
	*b = *a;
	if (lwm2m_redis_cmd(ctx->redis, on_index, a,
	                    "SMEMBERS " LWM2M_KEY_ORG_EVENT_SUBS, ev->org,
	                    name) != LWM2M_OK) {
		free(a);
	}
	if (lwm2m_redis_cmd(ctx->redis, on_index, b,
	                    "SMEMBERS " LWM2M_KEY_CLIENT_EVENT_SUBS, ev->id,
	                    name) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "redis unavailable, event id=%s lost",
		          ev->id);
		free(b);
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
	lwm2m_log(LWM2M_LOG_INFO, "event %s id=%s ep=\"%s\" org=%lld gw=\"%s\"",
	          brk_event_name(event), ev.id,
	          lwm2m_log_quote(ep, sizeof ep, ev.ep, strlen(ev.ep)), ev.org,
	          lwm2m_log_quote(gw, sizeof gw, ev.gw, strlen(ev.gw)));
	lookup(ctx, event, &ev);
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

static void
on_health(struct evhttp_request *req, void *arg)
{
	struct brk_ctx *ctx = arg;
	struct evbuffer *out = evbuffer_new();
	bool ok = lwm2m_redis_connected(ctx->redis);

	if (out == NULL) {
		evhttp_send_error(req, 503, NULL);
		return;
	}
	evbuffer_add_printf(out,
	                    "{\"status\":\"%s\",\"events\":%llu,"
	                    "\"queued\":%llu}\n",
	                    ok ? "ok" : "redis unavailable", ctx->events,
	                    ctx->queued);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "application/json");
	evhttp_send_reply(req, ok ? 200 : 503, ok ? "OK" : "Unavailable", out);
	evbuffer_free(out);
}

static lwm2m_err
health_start(struct brk_ctx *ctx)
{
	const char *addr = ctx->cfg->health_addr, *colon;
	char host[256];
	long long port;

	if (addr == NULL) {
		return LWM2M_OK;
	}
	colon = strrchr(addr, ':');
	if (colon == NULL || (size_t)(colon - addr) >= sizeof host ||
	    lwm2m_parse_int(colon + 1, 0, 65535, &port) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "bad health address \"%s\"", addr);
		return LWM2M_EINVAL;
	}
	snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
	ctx->health = evhttp_new(ctx->base);
	if (ctx->health == NULL ||
	    evhttp_bind_socket(ctx->health, host, (uint16_t)port) != 0) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot listen on %s for /health",
		          addr);
		return LWM2M_EIO;
	}
	evhttp_set_cb(ctx->health, "/health", on_health, ctx);
	return LWM2M_OK;
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
	err = lwm2m_redis_new(base, config->redis_url, NULL, NULL, &ctx->redis);
	if (err == LWM2M_OK) {
		err = listen_events(ctx);
	}
	if (err == LWM2M_OK) {
		err = health_start(ctx);
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
	if (ctx == NULL) {
		return;
	}
	if (ctx->recv_ev != NULL) {
		event_free(ctx->recv_ev);
	}
	if (ctx->sock_open) {
		nng_close(ctx->sock);
	}
	if (ctx->health != NULL) {
		evhttp_free(ctx->health);
	}
	lwm2m_redis_free(ctx->redis);
	free(ctx);
}

unsigned long long
brk_ctx_queued(const struct brk_ctx *ctx)
{
	return ctx->queued;
}
