/* api_list.c - one page of a Redis sorted set plus a field of each
 * member's hash, fetched asynchronously for collection endpoints. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
list_free(void *data)
{
	struct api_list *l = data;

	if (l == NULL) {
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		free(l->ids[i]);
		free(l->vals[i]);
	}
	free(l->ids);
	free(l->vals);
	free(l);
}

static void
on_field(struct api_req *r, redisReply *reply, void *arg)
{
	struct api_list *l = r->data;
	size_t i = (size_t)(uintptr_t)arg;

	if (r->replied) {
		return;
	}
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (reply->type == REDIS_REPLY_STRING) {
		l->vals[i] = strndup(reply->str, reply->len);
	}
	if (++l->done == l->n) {
		l->render(r, l);
	}
}

static bool
copy_ids(struct api_list *l, redisReply *reply)
{
	l->ids = calloc(reply->elements + 1, sizeof *l->ids);
	l->vals = calloc(reply->elements + 1, sizeof *l->vals);
	if (l->ids == NULL || l->vals == NULL) {
		return false;
	}
	for (size_t i = 0; i < reply->elements; i++) {
		redisReply *e = reply->element[i];

		if (e->type != REDIS_REPLY_STRING) {
			return false;
		}
		l->ids[i] = strndup(e->str, e->len);
		if (l->ids[i] == NULL) {
			return false;
		}
		l->n = i + 1;
	}
	return true;
}

static void
on_range(struct api_req *r, redisReply *reply, void *arg)
{
	struct api_list *l = r->data;

	if (r->replied) {
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    !copy_ids(l, reply)) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (l->n == 0) {
		l->render(r, l);
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		char key[256];
		const char *pct = strstr(l->hash_fmt, "%s");

		snprintf(key, sizeof key, "%.*s%s%s", (int)(pct - l->hash_fmt),
		         l->hash_fmt, l->ids[i], pct + 2);
		if (api_redis_cmd(r, on_field, (void *)(uintptr_t)i,
		                  "HGET %s %s", key, l->field) != LWM2M_OK) {
			api_reply_error(r, 503, "storage unavailable");
			return;
		}
	}
}

static void
on_card(struct api_req *r, redisReply *reply, void *arg)
{
	struct api_list *l = r->data;

	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	l->total = reply->integer;
	if (l->page.size == 0 || l->page.start >= l->total) {
		l->render(r, l);
	}
}

/* ZCARD and ZRANGE are pipelined; the range callback runs after on_card. */
void
api_list_fetch(struct api_req *r, const char *zset_key, const char *hash_fmt,
               const char *field,
               void (*render)(struct api_req *r, struct api_list *l))
{
	struct api_list *l = calloc(1, sizeof *l);

	if (l == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	r->data = l;
	r->data_free = list_free;
	api_page_parse(r->query, &l->page);
	if (strstr(hash_fmt, "%s") == NULL) {
		api_reply_error(r, 500, "bad hash key pattern");
		return;
	}
	snprintf(l->hash_fmt, sizeof l->hash_fmt, "%s", hash_fmt);
	snprintf(l->field, sizeof l->field, "%s", field);
	l->render = render;
	if (api_redis_cmd(r, on_card, NULL, "ZCARD %s", zset_key) !=
	        LWM2M_OK ||
	    api_redis_cmd(r, on_range, NULL, "ZRANGE %s %lld %lld", zset_key,
	                  l->page.start,
	                  l->page.start + (l->page.size > 0 ? l->page.size : 1) -
	                      1) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}
