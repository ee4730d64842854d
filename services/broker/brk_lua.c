/* brk_lua.c - the broker's Lua scripts, run with EVALSHA: each is loaded
 * (SCRIPT LOAD) on every connect of the command connection, before any
 * other command goes out on it, so an EVALSHA never meets NOSCRIPT (a Redis
 * restart or failover is a reconnect).  The script text then crosses the
 * wire once per connection instead of once per call, and Redis skips
 * hashing it per call. */
#include "brk.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "lwm2m_log.h"
#include "lwm2m_redis.h"

static const char *const sources[BRK_LUA_N] = {
    [BRK_LUA_NOTIFY_SUBS] = brk__lua_notify_subs,
    [BRK_LUA_DELIVER] = brk__lua_deliver,
    [BRK_LUA_OBS_STATE] = brk__lua_obs_state,
    [BRK_LUA_OBS_CHECK] = brk__lua_obs_check,
    [BRK_LUA_OBS_UNLOCK] = brk__lua_obs_unlock,
    [BRK_LUA_EVENTS_TRIM] = brk__lua_events_trim,
};

const char *
brk_lua_source(enum brk_lua which)
{
	return which < BRK_LUA_N ? sources[which] : NULL;
}

void
brk_lua_sha(const char *src, char ret_sha[BRK_LUA_SHA_SIZE])
{
	unsigned char md[SHA_DIGEST_LENGTH];

	SHA1((const unsigned char *)src, strlen(src), md);
	lwm2m_hex_encode(md, sizeof md, ret_sha);
}

void
brk__lua_init(struct brk_lua_set *set)
{
	for (int i = 0; i < BRK_LUA_N; i++) {
		brk_lua_sha(sources[i], set->sha[i]);
	}
}

static void
on_loaded(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_ERR, "SCRIPT LOAD: %s", reply->str);
	}
}

void
brk__lua_load(struct lwm2m_redis *redis)
{
	for (int i = 0; i < BRK_LUA_N; i++) {
		if (lwm2m_redis_cmd(redis, on_loaded, NULL, "SCRIPT LOAD %s",
		                    sources[i]) != LWM2M_OK) {
			return; /* not connected: loaded at the next connect */
		}
	}
}

lwm2m_err
brk__lua_run(struct brk_ctx *ctx, enum brk_lua which, lwm2m_redis_cb cb,
             void *arg, const char *fmt, ...)
{
	char cmd[256];
	va_list ap;
	lwm2m_err err;
	int n;

	if (which >= BRK_LUA_N) {
		return LWM2M_EINVAL;
	}
	n = snprintf(cmd, sizeof cmd, "EVALSHA %s %s",
	             brk__luas(ctx)->sha[which], fmt);
	if (n < 0 || (size_t)n >= sizeof cmd) {
		return LWM2M_EINVAL;
	}
	va_start(ap, fmt);
	err = lwm2m_redis_vcmd(brk__redis(ctx), cb, arg, cmd, ap);
	va_end(ap);
	return err;
}

lwm2m_err
brk__lua_runargv(struct brk_ctx *ctx, enum brk_lua which, lwm2m_redis_cb cb,
                 void *arg, int argc, const char **argv, const size_t *argvlen)
{
	const char *all[128];
	size_t lens[128];

	if (which >= BRK_LUA_N || argc < 1 || argc > 126) {
		return LWM2M_EINVAL;
	}
	all[0] = "EVALSHA";
	all[1] = brk__luas(ctx)->sha[which];
	lens[0] = 7;
	lens[1] = strlen(all[1]);
	for (int i = 0; i < argc; i++) {
		all[2 + i] = argv[i];
		lens[2 + i] = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
	}
	return lwm2m_redis_cmdargv(brk__redis(ctx), cb, arg, argc + 2, all,
	                           lens);
}
