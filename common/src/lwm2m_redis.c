#include "lwm2m_redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>

#include "lwm2m_log.h"

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 2000

struct lwm2m_redis {
	struct event_base *base;
	struct lwm2m_redis_url url;
	redisAsyncContext *ac;  /* NULL while disconnected */
	bool ready;             /* connected and AUTH/SELECT done */
	bool closing;
	int backoff_ms;
	struct event *retry_ev;
	lwm2m_redis_ready_cb ready_cb;
	void *ready_arg;
};

static void redis_connect(struct lwm2m_redis *redis);

static bool
copy_field(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size) {
		return false;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
	return true;
}

static lwm2m_err
parse_db(const char *s, int *ret_db)
{
	char *end;
	long db = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || db < 0 || db > 65535) {
		return LWM2M_EINVAL;
	}
	*ret_db = (int)db;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_redis_url_parse(const char *url, struct lwm2m_redis_url *ret_url)
{
	struct lwm2m_redis_url u = {.port = 6379};
	const char *p = url, *at, *slash, *colon, *hostend;

	if (url == NULL || *url == '\0') {
		return LWM2M_EINVAL;
	}
	if (strncmp(p, "unix://", 7) == 0) {
		const char *q = strchr(p + 7, '?');
		size_t len = q ? (size_t)(q - p - 7) : strlen(p + 7);
		if (len == 0 || !copy_field(u.path, sizeof u.path, p + 7, len)) {
			return LWM2M_EINVAL;
		}
		if (q != NULL && (strncmp(q, "?db=", 4) != 0 ||
		                  parse_db(q + 4, &u.db) != LWM2M_OK)) {
			return LWM2M_EINVAL;
		}
		*ret_url = u;
		return LWM2M_OK;
	}
	if (strncmp(p, "redis://", 8) == 0) {
		p += 8;
	}
	slash = strchr(p, '/');
	at = memchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
	if (at != NULL) {
		const char *pw = memchr(p, ':', (size_t)(at - p));
		pw = pw ? pw + 1 : p;
		if (!copy_field(u.password, sizeof u.password, pw,
		                (size_t)(at - pw))) {
			return LWM2M_EINVAL;
		}
		p = at + 1;
	}
	hostend = slash ? slash : p + strlen(p);
	colon = memchr(p, ':', (size_t)(hostend - p));
	if (colon != NULL) {
		char port[8];
		char *end;
		long v;
		if (!copy_field(port, sizeof port, colon + 1,
		                (size_t)(hostend - colon - 1))) {
			return LWM2M_EINVAL;
		}
		v = strtol(port, &end, 10);
		if (*port == '\0' || *end != '\0' || v < 1 || v > 65535) {
			return LWM2M_EINVAL;
		}
		u.port = (int)v;
		hostend = colon;
	}
	if (hostend == p ||
	    !copy_field(u.host, sizeof u.host, p, (size_t)(hostend - p))) {
		return LWM2M_EINVAL;
	}
	if (slash != NULL && slash[1] != '\0' &&
	    parse_db(slash + 1, &u.db) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	*ret_url = u;
	return LWM2M_OK;
}

static void
schedule_retry(struct lwm2m_redis *redis)
{
	struct timeval tv = {redis->backoff_ms / 1000,
	                     (redis->backoff_ms % 1000) * 1000};

	if (redis->closing) {
		return;
	}
	evtimer_add(redis->retry_ev, &tv);
	redis->backoff_ms *= 2;
	if (redis->backoff_ms > RECONNECT_MAX_MS) {
		redis->backoff_ms = RECONNECT_MAX_MS;
	}
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	redis_connect(arg);
}

static void
on_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct lwm2m_redis *redis = privdata;
	redisReply *reply = r;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_ERR, "redis: AUTH/SELECT failed: %s",
		          reply ? reply->str : "connection lost");
		return;
	}
	if (!redis->ready && redis->ac == ac) {
		redis->ready = true;
		redis->backoff_ms = RECONNECT_MIN_MS;
		lwm2m_log(LWM2M_LOG_NOTICE, "redis: connected");
		if (redis->ready_cb != NULL) {
			redis->ready_cb(redis, redis->ready_arg);
		}
	}
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct lwm2m_redis *redis = ac->data;

	if (status != REDIS_OK) {
		lwm2m_log(LWM2M_LOG_WARNING, "redis: connect failed: %s",
		          ac->errstr);
		redis->ac = NULL; /* hiredis frees ac after this callback */
		schedule_retry(redis);
		return;
	}
	redisAsyncContext *mac = (redisAsyncContext *)ac;
	if (redis->url.password[0] != '\0') {
		redisAsyncCommand(mac, on_setup_reply, redis, "AUTH %s",
		                  redis->url.password);
	}
	/* SELECT always runs: its reply marks the connection ready. */
	redisAsyncCommand(mac, on_setup_reply, redis, "SELECT %d",
	                  redis->url.db);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct lwm2m_redis *redis = ac->data;

	if (redis->ac == ac) {
		redis->ac = NULL;
		redis->ready = false;
	}
	if (!redis->closing) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "redis: connection lost (%s), reconnecting",
		          status == REDIS_OK ? "closed" : ac->errstr);
		schedule_retry(redis);
	}
}

static void
redis_connect(struct lwm2m_redis *redis)
{
	redisAsyncContext *ac;

	if (redis->url.path[0] != '\0') {
		ac = redisAsyncConnectUnix(redis->url.path);
	} else {
		ac = redisAsyncConnect(redis->url.host, redis->url.port);
	}
	if (ac == NULL || ac->err) {
		lwm2m_log(LWM2M_LOG_WARNING, "redis: connect failed: %s",
		          ac ? ac->errstr : "out of memory");
		if (ac != NULL) {
			redisAsyncFree(ac);
		}
		schedule_retry(redis);
		return;
	}
	ac->data = redis;
	redisLibeventAttach(ac, redis->base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	redis->ac = ac;
}

lwm2m_err
lwm2m_redis_new(struct event_base *base, const char *url,
                lwm2m_redis_ready_cb ready, void *ready_arg,
                struct lwm2m_redis **ret_redis)
{
	struct lwm2m_redis *redis = calloc(1, sizeof *redis);

	if (redis == NULL) {
		return LWM2M_ENOMEM;
	}
	if (lwm2m_redis_url_parse(url, &redis->url) != LWM2M_OK) {
		free(redis);
		return LWM2M_EINVAL;
	}
	redis->base = base;
	redis->ready_cb = ready;
	redis->ready_arg = ready_arg;
	redis->backoff_ms = RECONNECT_MIN_MS;
	redis->retry_ev = evtimer_new(base, on_retry, redis);
	if (redis->retry_ev == NULL) {
		free(redis);
		return LWM2M_ENOMEM;
	}
	redis_connect(redis);
	*ret_redis = redis;
	return LWM2M_OK;
}

void
lwm2m_redis_free(struct lwm2m_redis *redis)
{
	if (redis == NULL) {
		return;
	}
	redis->closing = true;
	if (redis->ac != NULL) {
		redisAsyncContext *ac = redis->ac;
		redis->ac = NULL;
		redisAsyncFree(ac);
	}
	event_free(redis->retry_ev);
	free(redis);
}

bool
lwm2m_redis_connected(const struct lwm2m_redis *redis)
{
	return redis->ready && redis->ac != NULL;
}

struct cmd_call {
	struct lwm2m_redis *redis;
	lwm2m_redis_cb cb;
	void *arg;
};

static void
on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cmd_call *call = privdata;

	call->cb(call->redis, r, call->arg);
	free(call);
}

static lwm2m_err
prepare_call(struct lwm2m_redis *redis, lwm2m_redis_cb cb, void *arg,
             struct cmd_call **ret_call)
{
	struct cmd_call *call;

	if (!lwm2m_redis_connected(redis)) {
		return LWM2M_EBACKEND;
	}
	*ret_call = NULL;
	if (cb == NULL) {
		return LWM2M_OK;
	}
	call = malloc(sizeof *call);
	if (call == NULL) {
		return LWM2M_ENOMEM;
	}
	call->redis = redis;
	call->cb = cb;
	call->arg = arg;
	*ret_call = call;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_redis_vcmd(struct lwm2m_redis *redis, lwm2m_redis_cb cb, void *arg,
                 const char *fmt, va_list ap)
{
	struct cmd_call *call;
	lwm2m_err err = prepare_call(redis, cb, arg, &call);

	if (err != LWM2M_OK) {
		return err;
	}
	if (redisvAsyncCommand(redis->ac, call ? on_reply : NULL, call, fmt,
	                       ap) != REDIS_OK) {
		free(call);
		return LWM2M_EBACKEND;
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_redis_cmd(struct lwm2m_redis *redis, lwm2m_redis_cb cb, void *arg,
                const char *fmt, ...)
{
	va_list ap;
	lwm2m_err err;

	va_start(ap, fmt);
	err = lwm2m_redis_vcmd(redis, cb, arg, fmt, ap);
	va_end(ap);
	return err;
}

lwm2m_err
lwm2m_redis_cmdargv(struct lwm2m_redis *redis, lwm2m_redis_cb cb, void *arg,
                    int argc, const char **argv, const size_t *argvlen)
{
	struct cmd_call *call;
	lwm2m_err err = prepare_call(redis, cb, arg, &call);

	if (err != LWM2M_OK) {
		return err;
	}
	if (redisAsyncCommandArgv(redis->ac, call ? on_reply : NULL, call,
	                          argc, argv, argvlen) != REDIS_OK) {
		free(call);
		return LWM2M_EBACKEND;
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_redis_sync_connect(const char *url, redisContext **ret_ctx)
{
	struct lwm2m_redis_url u;
	struct timeval tv = {2, 0};
	redisContext *ctx;
	redisReply *reply;

	if (lwm2m_redis_url_parse(url, &u) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	ctx = u.path[0] ? redisConnectUnixWithTimeout(u.path, tv)
	                : redisConnectWithTimeout(u.host, u.port, tv);
	if (ctx == NULL || ctx->err) {
		if (ctx != NULL) {
			redisFree(ctx);
		}
		return LWM2M_EBACKEND;
	}
	if (u.password[0] != '\0') {
		reply = redisCommand(ctx, "AUTH %s", u.password);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
			freeReplyObject(reply);
			redisFree(ctx);
			return LWM2M_EBACKEND;
		}
		freeReplyObject(reply);
	}
	reply = redisCommand(ctx, "SELECT %d", u.db);
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		freeReplyObject(reply);
		redisFree(ctx);
		return LWM2M_EBACKEND;
	}
	freeReplyObject(reply);
	*ret_ctx = ctx;
	return LWM2M_OK;
}
