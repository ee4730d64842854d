/* api_limit.c - a token bucket per access key, in memory (per rest-api
 * instance).  Buckets idle long enough to be full are dropped when the
 * table grows, so its size follows the keys active in the last seconds. */
#include "api_limit.h"

#include <stdlib.h>
#include <string.h>

#include "lwm2m_log.h"
#include "lwm2m_loop.h"

#define BUCKETS 1024
#define SWEEP_AT 4096 /* entries before idle ones are dropped */

struct bucket {
	struct bucket *next;
	double tokens;
	int64_t last_ms;
	char key[]; /* NUL-terminated */
};

struct api_limits {
	double rate, burst; /* requests per second, bucket size */
	size_t count;
	struct bucket *heads[BUCKETS];
};

lwm2m_err
api_limits_new(long long rate, long long burst,
               struct api_limits **ret_limits)
{
	struct api_limits *l;

	*ret_limits = NULL;
	if (rate == 0) {
		return LWM2M_OK;
	}
	l = calloc(1, sizeof *l);
	if (l == NULL) {
		return LWM2M_ENOMEM;
	}
	l->rate = (double)rate;
	l->burst = burst > 0 ? (double)burst : 2.0 * (double)rate;
	*ret_limits = l;
	return LWM2M_OK;
}

struct api_limits *
api_limits_free(struct api_limits *l)
{
	if (l == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < BUCKETS; i++) {
		struct bucket *b = l->heads[i], *next;
		for (; b != NULL; b = next) {
			next = b->next;
			free(b);
		}
	}
	free(l);
	return NULL;
}

static size_t
hash(const char *s)
{
	size_t h = 5381;

	while (*s != '\0') {
		h = h * 33 + (unsigned char)*s++;
	}
	return h % BUCKETS;
}

/* drops buckets that would be full again by now */
static void
sweep(struct api_limits *l, int64_t now_ms)
{
	double full_ms = l->burst / l->rate * 1000.0;

	for (size_t i = 0; i < BUCKETS; i++) {
		struct bucket **p = &l->heads[i];
		while (*p != NULL) {
			struct bucket *b = *p;
			if ((double)(now_ms - b->last_ms) >= full_ms) {
				*p = b->next;
				free(b);
				l->count--;
			} else {
				p = &b->next;
			}
		}
	}
}

static struct bucket *
find(struct api_limits *l, const char *key, int64_t now_ms)
{
	size_t h = hash(key);
	struct bucket *b;

	for (b = l->heads[h]; b != NULL; b = b->next) {
		if (strcmp(b->key, key) == 0) {
			return b;
		}
	}
	if (l->count >= SWEEP_AT) {
		sweep(l, now_ms);
	}
	b = malloc(sizeof *b + strlen(key) + 1);
	if (b == NULL) {
		return NULL;
	}
	strcpy(b->key, key);
	b->tokens = l->burst;
	b->last_ms = now_ms;
	b->next = l->heads[h];
	l->heads[h] = b;
	l->count++;
	return b;
}

bool
api_limits_take(struct api_limits *l, const char *key, int64_t now_ms,
                int *ret_retry_s)
{
	struct bucket *b;

	if (l == NULL || (b = find(l, key, now_ms)) == NULL) {
		return true;
	}
	b->tokens += (double)(now_ms - b->last_ms) / 1000.0 * l->rate;
	if (b->tokens > l->burst) {
		b->tokens = l->burst;
	}
	b->last_ms = now_ms;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return true;
	}
	*ret_retry_s = (int)((1.0 - b->tokens) / l->rate) + 1;
	return false;
}
