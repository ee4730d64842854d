/* gw_table.c - the compact in-memory table of the devices a gateway owns:
 * a chained hash table keyed by client id, one allocation per device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

#define MIN_BUCKETS 1024

static size_t
hash_id(const char *id)
{
	size_t h = 1469598103934665603ull;

	for (; *id != '\0'; id++) {
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	}
	return h;
}

/* frees d, after the owner's hook (gw_devop.c) released what it holds */
static void
device_free(struct gw_table *t, struct gw_device *d)
{
	if (t->on_free != NULL) {
		t->on_free(t->on_free_arg, d);
	}
	free(d);
}

void
gw_table_init(struct gw_table *t)
{
	memset(t, 0, sizeof *t);
}

void
gw_table_fini(struct gw_table *t)
{
	if (t == NULL) {
		return;
	}
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct gw_device *d = t->buckets[i], *next;
		for (; d != NULL; d = next) {
			next = d->next;
			device_free(t, d);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof *t);
}

/* the entry of id, whose hash_id is h, or NULL */
static struct gw_device *
find(const struct gw_table *t, const char *id, size_t h)
{
	struct gw_device *d;

	if (t->n_buckets == 0) {
		return NULL;
	}
	d = t->buckets[h & (t->n_buckets - 1)];
	for (; d != NULL; d = d->next) {
		if (strcmp(d->id, id) == 0) {
			return d;
		}
	}
	return NULL;
}

struct gw_device *
gw_table_get(const struct gw_table *t, const char *id)
{
	return find(t, id, hash_id(id));
}

static bool
grow(struct gw_table *t)
{
	size_t n = t->n_buckets ? t->n_buckets * 2 : MIN_BUCKETS;
	struct gw_device **b = calloc(n, sizeof *b);

	if (b == NULL) {
		return false;
	}
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct gw_device *d = t->buckets[i], *next;
		for (; d != NULL; d = next) {
			size_t k = hash_id(d->id) & (n - 1);
			next = d->next;
			d->next = b[k];
			b[k] = d;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
	return true;
}

struct gw_device *
gw_table_put(struct gw_table *t, const char *id, const char *ep)
{
	size_t eplen = strlen(ep);
	size_t h = hash_id(id); /* once: ~200 instructions a Register */
	struct gw_device *d = find(t, id, h);

	if (d != NULL && strcmp(d->ep, ep) == 0) {
		return d;
	}
	if (d != NULL) {
		gw_table_del(t, id);
	}
	if (t->count >= t->n_buckets && !grow(t) && t->n_buckets == 0) {
		return NULL;
	}
	d = calloc(1, sizeof *d + eplen + 1);
	if (d == NULL) {
		return NULL;
	}
	memcpy(d->id, id, strnlen(id, sizeof d->id - 1)); /* calloc'd: NUL */
	memcpy(d->ep, ep, eplen + 1);
	d->next = t->buckets[h & (t->n_buckets - 1)];
	t->buckets[h & (t->n_buckets - 1)] = d;
	t->count++;
	return d;
}

bool
gw_table_del(struct gw_table *t, const char *id)
{
	struct gw_device **pp;

	if (t->n_buckets == 0) {
		return false;
	}
	pp = &t->buckets[hash_id(id) & (t->n_buckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->next) {
		struct gw_device *d = *pp;
		if (strcmp(d->id, id) == 0) {
			*pp = d->next;
			t->count--;
			device_free(t, d);
			return true;
		}
	}
	return false;
}

size_t
gw_table_prune(struct gw_table *t, int64_t before_ms, size_t n_buckets)
{
	size_t freed = 0;

	for (size_t i = 0; i < n_buckets && i < t->n_buckets; i++) {
		struct gw_device **pp;
		t->prune_pos = (t->prune_pos + 1) & (t->n_buckets - 1);
		pp = &t->buckets[t->prune_pos];
		while (*pp != NULL) {
			struct gw_device *d = *pp;
			if (d->exp_ms >= before_ms) {
				pp = &d->next;
				continue;
			}
			*pp = d->next;
			t->count--;
			device_free(t, d);
			freed++;
		}
	}
	return freed;
}
