/* lwm2m_sub.c - a subscription's index sets and its delete; see the
 * header. */
#include "lwm2m_sub.h"

#include <stdio.h>
#include <string.h>

#include "lwm2m_keys.h"

/* KEYS org zset, dedup hash, then the organisation's index sets; ARGV id,
 * fp: the id leaves them (its claim only if still its own). */
static const char org_remove_lua[] =
    "redis.call('ZREM', KEYS[1], ARGV[1]) "
    "if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then "
    "redis.call('HDEL', KEYS[2], ARGV[2]) end "
    "for i = 3, #KEYS do redis.call('SREM', KEYS[i], ARGV[1]) end "
    "return 1";

static bool
is_event(const struct lwm2m_sub_ref *s)
{
	return strcmp(s->type, "Observation") != 0;
}

bool
lwm2m_sub_obs_path(const struct lwm2m_sub_ref *s, char *buf, size_t size)
{
	if (is_event(s) || s->client[0] == '\0' || s->obj[0] == '\0') {
		return false;
	}
	if (s->inst[0] == '\0') {
		snprintf(buf, size, "/%s", s->obj);
	} else if (s->prop[0] == '\0') {
		snprintf(buf, size, "/%s/%s", s->obj, s->inst);
	} else {
		snprintf(buf, size, "/%s/%s/%s", s->obj, s->inst, s->prop);
	}
	return true;
}

size_t
lwm2m_sub_client_keys(const struct lwm2m_sub_ref *s,
                      char (*keys)[LWM2M_SUB_KEY_MAX])
{
	size_t n = 0;
	char path[32];

	if (s->client[0] == '\0') {
		return 0;
	}
	snprintf(keys[n++], LWM2M_SUB_KEY_MAX, LWM2M_KEY_CLIENT_SUBS,
	         s->client);
	if (lwm2m_sub_obs_path(s, path, sizeof path)) {
		snprintf(keys[n++], LWM2M_SUB_KEY_MAX,
		         LWM2M_KEY_CLIENT_OBS_SUBS, s->client, path);
	}
	if (is_event(s)) {
		snprintf(keys[n++], LWM2M_SUB_KEY_MAX,
		         LWM2M_KEY_CLIENT_EVENT_SUBS, s->client, s->type);
	}
	return n;
}

size_t
lwm2m_sub_org_keys(const struct lwm2m_sub_ref *s,
                   char (*keys)[LWM2M_SUB_KEY_MAX])
{
	size_t n = 0;

	snprintf(keys[n++], LWM2M_SUB_KEY_MAX, LWM2M_KEY_ORG_SUBS, s->org);
	snprintf(keys[n++], LWM2M_SUB_KEY_MAX, LWM2M_KEY_ORG_SUB_DEDUP, s->org);
	if (s->client[0] == '\0' && is_event(s)) {
		snprintf(keys[n++], LWM2M_SUB_KEY_MAX, LWM2M_KEY_ORG_EVENT_SUBS,
		         s->org, s->type);
	}
	return n;
}

/* the organisation's step: org_remove_lua over lwm2m_sub_org_keys */
static lwm2m_err
send_org_remove(struct lwm2m_redis *redis, const struct lwm2m_sub_ref *s)
{
	char keys[LWM2M_SUB_INDEX_MAX][LWM2M_SUB_KEY_MAX], nkeys[8];
	const char *argv[5 + LWM2M_SUB_INDEX_MAX];
	size_t n = lwm2m_sub_org_keys(s, keys);
	int argc = 0;

	snprintf(nkeys, sizeof nkeys, "%zu", n);
	argv[argc++] = "EVAL";
	argv[argc++] = org_remove_lua;
	argv[argc++] = nkeys;
	for (size_t i = 0; i < n; i++) {
		argv[argc++] = keys[i];
	}
	argv[argc++] = s->id;
	argv[argc++] = s->fp;
	return lwm2m_redis_cmdargv(redis, NULL, NULL, argc, argv, NULL);
}

lwm2m_err
lwm2m_sub_delete(struct lwm2m_redis *redis, const struct lwm2m_sub_ref *s,
                 unsigned flags, lwm2m_redis_cb cb, void *arg)
{
	char keys[LWM2M_SUB_INDEX_MAX][LWM2M_SUB_KEY_MAX];
	size_t n = lwm2m_sub_client_keys(s, keys);
	/* keys[0] is the client's LWM2M_KEY_CLIENT_SUBS when n > 0 */
	bool last = (flags & LWM2M_SUB_CLIENT_SET_LAST) != 0 && n > 0;
	lwm2m_err err = LWM2M_OK;

	for (size_t i = last ? 1 : 0; i < n && err == LWM2M_OK; i++) {
		err = lwm2m_redis_cmd(redis, NULL, NULL, "SREM %s %s", keys[i],
		                      s->id);
	}
	err = err ? err : send_org_remove(redis, s);
	err =
	    err ? err
	        : lwm2m_redis_cmd(redis, NULL, NULL,
	                          "SET " LWM2M_KEY_SUB_FILTER " deleted PX %d",
	                          s->id, LWM2M_SUB_FILTER_GONE_MS);
	if (last) {
		err = err ? err
		          : lwm2m_redis_cmd(redis, NULL, NULL,
		                            "DEL " LWM2M_KEY_SUB, s->id);
		return err ? err
		           : lwm2m_redis_cmd(redis, cb, arg, "SREM %s %s",
		                             keys[0], s->id);
	}
	return err ? err
	           : lwm2m_redis_cmd(redis, cb, arg, "DEL " LWM2M_KEY_SUB,
	                             s->id);
}
