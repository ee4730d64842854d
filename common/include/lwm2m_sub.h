/* lwm2m_sub.h - the index sets of a subscription and its delete, shared
 * by lwds-rest-api (DELETE /subscriptions/{id}, creates) and lwds-coap-gw
 * (the reaper of clients past their retention, docs/redis-schema.md).
 *
 * A subscription record (LWM2M_KEY_SUB) is named by index sets of three
 * slots: its client's (LWM2M_KEY_CLIENT_SUBS, _OBS_SUBS, _EVENT_SUBS), its
 * organisation's (LWM2M_KEY_ORG_SUBS, the duplicate claims, the
 * organisation-level event set) and {deliveries} (the broker's filter
 * state).  Only the loop thread calls lwm2m_sub_delete.
 */
#ifndef LWM2M_SUB_H
#define LWM2M_SUB_H

#include <stdbool.h>
#include <stddef.h>

#include "lwm2m_err.h"
#include "lwm2m_redis.h"

#define LWM2M_SUB_KEY_MAX 160 /* bytes of one index key name */
#define LWM2M_SUB_INDEX_MAX 3 /* index sets of one slot a record is in */

/* What says which index sets hold a subscription: the fields of its
 * record (LWM2M_SF_*), borrowed.  "" for an unset field. */
struct lwm2m_sub_ref {
	const char *id;
	long long org;
	const char *type;   /* "Observation", "ClientConnected", ... */
	const char *client; /* target client id, "" at organisation level */
	const char *obj, *inst, *prop; /* decimal */
	const char *fp;                /* its key in LWM2M_KEY_ORG_SUB_DEDUP */
};

/* lwm2m_sub_obs_path writes the LwM2M path an Observation subscription
 * observes ("/3303/0/5700") into buf and returns true; false (buf
 * untouched) when s is no Observation of a client's object. */
bool lwm2m_sub_obs_path(const struct lwm2m_sub_ref *s, char *buf, size_t size);

/* lwm2m_sub_client_keys writes the client's index sets of s (its client
 * slot) into keys and returns how many (0 at organisation level). */
size_t lwm2m_sub_client_keys(const struct lwm2m_sub_ref *s,
                             char (*keys)[LWM2M_SUB_KEY_MAX]);

/* lwm2m_sub_org_keys writes the keys of the organisation's step (its
 * slot): the subscription index, the duplicate claims and, at
 * organisation level, the event set of its type; returns how many. */
size_t lwm2m_sub_org_keys(const struct lwm2m_sub_ref *s,
                          char (*keys)[LWM2M_SUB_KEY_MAX]);

/* Flags of lwm2m_sub_delete. */
/* The client's set of subscription ids (LWM2M_KEY_CLIENT_SUBS) is left
 * last, after the record's DEL, instead of first: for a caller that finds
 * the ids to delete in that set (the reap, whose client is gone, so no
 * broker routes through it), a crash before the DEL then leaves the id in
 * the set, where the caller's next run finds it again. */
#define LWM2M_SUB_CLIENT_SET_LAST 1u

/* lwm2m_sub_delete sends the delete of s, in single-slot steps in this
 * order: the client's index sets (the broker stops routing to it), the
 * organisation's script (index, its own duplicate claim, event set), the
 * filter state replaced by the string "deleted" for
 * LWM2M_SUB_FILTER_GONE_MS (a broker that read the record just before
 * finds it and queues nothing, where a DEL would let its script create the
 * hash again for good), then DEL of the record, whose reply goes to cb
 * (NULL reply: connection lost); with LWM2M_SUB_CLIENT_SET_LAST in flags,
 * the client's LWM2M_KEY_CLIENT_SUBS after the DEL, and its SREM's reply
 * goes to cb.  A crash between steps leaves the record (or the id in that
 * set): running this again finishes the job.  LWM2M_EBACKEND when a
 * command could not be sent; cb is then not called. */
lwm2m_err lwm2m_sub_delete(struct lwm2m_redis *redis,
                           const struct lwm2m_sub_ref *s, unsigned flags,
                           lwm2m_redis_cb cb, void *arg);

#endif
