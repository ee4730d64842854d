/* lwm2m_spares.h - freed objects of one kind kept for reuse, up to a bound.
 *
 * Hot paths that allocate and free an object per request (a Register's
 * operation and exchange, a Redis command's call record and reply) keep
 * the freed ones here: with more of them in flight than glibc's per-thread
 * cache holds (7 a size), each malloc and free went through its bins and
 * consolidated them (bench/README.md, fifth and eighth storm rounds).  The
 * list is linked through the first bytes of each kept object.  One thread.
 */
#ifndef LWM2M_SPARES_H
#define LWM2M_SPARES_H

#include <stddef.h>
#include <stdlib.h>

/* Zeroed, an empty list (no init function). */
struct lwm2m_spares {
	void *head; /* the last object put */
	size_t n;
};

/* lwm2m_spares_take returns the object put last (its bytes undefined), or
 * NULL when none is kept. */
static inline void *
lwm2m_spares_take(struct lwm2m_spares *s)
{
	void *obj = s->head;

	if (obj != NULL) {
		s->head = *(void **)obj;
		s->n--;
	}
	return obj;
}

/* lwm2m_spares_put keeps obj (malloc'd, at least a pointer's size) for
 * reuse, or frees it when s holds max objects already; NULL-safe. */
static inline void
lwm2m_spares_put(struct lwm2m_spares *s, void *obj, size_t max)
{
	if (obj == NULL) {
		return;
	}
	if (s->n >= max) {
		free(obj);
		return;
	}
	*(void **)obj = s->head;
	s->head = obj;
	s->n++;
}

/* lwm2m_spares_fini frees every kept object; s is empty after it. */
static inline void
lwm2m_spares_fini(struct lwm2m_spares *s)
{
	void *obj;

	while ((obj = lwm2m_spares_take(s)) != NULL) {
		free(obj);
	}
}

#endif
