/* lwm2m_keys.h - the Redis key schema, version 2.  docs/redis-schema.md
 * describes every key; change both together and bump the version when a
 * stored layout changes incompatibly.  Hash tags {...} place a key in a
 * Redis Cluster slot: a client's data shares the client's tag, an
 * organisation's indexes the organisation's, a gateway's keys the
 * gateway's.  Every transaction and Lua script touches keys of one tag
 * only (docs/redis-schema.md, "Cluster"). */
#ifndef LWM2M_KEYS_H
#define LWM2M_KEYS_H

#define LWM2M_KEY_PREFIX "lwds:v2:"

/* HASH, one per client: the connectivity record (fields below). */
#define LWM2M_KEY_CLIENT LWM2M_KEY_PREFIX "client:{%s}"
/* STRING, set while the client id is blacklisted (DELETE /clients/{id});
 * value: organisation id. */
#define LWM2M_KEY_CLIENT_BLACKLIST LWM2M_KEY_PREFIX "client:{%s}:blacklisted"
/* ZSET per organisation: connected clients, score = registered-at ms. */
#define LWM2M_KEY_ORG_CLIENTS LWM2M_KEY_PREFIX "org:{%lld}:clients"
/* STRING per organisation and endpoint name: the client id. */
#define LWM2M_KEY_ORG_ENDPOINT LWM2M_KEY_PREFIX "org:{%lld}:ep:%s"
/* HASH per gateway instance: rpc (nng URL), started (ms); and a STRING
 * ".../alive" with a short TTL refreshed while the instance runs. */
#define LWM2M_KEY_GATEWAY LWM2M_KEY_PREFIX "gw:{%s}"
#define LWM2M_KEY_GATEWAY_ALIVE LWM2M_KEY_PREFIX "gw:{%s}:alive"
/* SET per gateway instance: the client ids it owns. */
#define LWM2M_KEY_GATEWAY_CLIENTS LWM2M_KEY_PREFIX "gw:{%s}:clients"
/* ZSET per gateway instance: the clients it registered, score = expiry
 * time in ms (or a sweeper's lease, gw_registry.c).  Swept by the gateway
 * itself, and by every live gateway once its alive key has lapsed. */
#define LWM2M_KEY_GATEWAY_EXPIRY LWM2M_KEY_PREFIX "gw:{%s}:expiry"
/* SET of every gateway id that ever announced itself (the sweepers walk
 * it to find the expiry sets of dead gateways). */
#define LWM2M_KEY_GATEWAYS LWM2M_KEY_PREFIX "gateways"

/* Metrics (REST spec 8): HASH per client and per organisation, field =
 * metric name (LWM2M_METRIC_*), value = decimal counter.  The gateway adds
 * to both with HINCRBY after each answered device request; NumberClients is
 * not stored (the API counts LWM2M_KEY_ORG_CLIENTS). */
#define LWM2M_KEY_CLIENT_METRICS LWM2M_KEY_PREFIX "client:{%s}:metrics"
#define LWM2M_KEY_ORG_METRICS LWM2M_KEY_PREFIX "org:{%lld}:metrics"
#define LWM2M_METRIC_BYTES_SENT "BytesSent"          /* whole CoAP requests */
#define LWM2M_METRIC_BYTES_RECEIVED "BytesReceived"  /* answer payloads */
#define LWM2M_METRIC_TRANSACTIONS "TransactionCount" /* answered requests */

/* HASH per queued device operation (lwm2m_devop.h opid), TTL one hour
 * (LWM2M_OP_TTL_S), written field by field with HSET so either side may
 * come first: the API writes "client", "org" and "ctx" (its own note to
 * render the result) when it answers 202; the gateway writes "reply" (the
 * lwm2m_devop_reply_encode() bytes: the device's answer, or status
 * TIMEOUT/FAILED) when the operation ends.  No "reply" yet: pending. */
#define LWM2M_KEY_OP LWM2M_KEY_PREFIX "op:{%s}"
#define LWM2M_OF_CLIENT "client"
#define LWM2M_OF_ORG "org"
#define LWM2M_OF_CTX "ctx"
#define LWM2M_OF_REPLY "reply"
#define LWM2M_OP_TTL_S 3600

/* Access keys and organisations. */
#define LWM2M_KEY_ACCESSKEY LWM2M_KEY_PREFIX "accesskey:%s" /* HASH */
#define LWM2M_KEY_ORG_ACCESSKEYS                                               \
	LWM2M_KEY_PREFIX "org:{%lld}:accesskeys"             /* ZSET */
#define LWM2M_KEY_ORG_COUNTER LWM2M_KEY_PREFIX "org:counter" /* STRING */
#define LWM2M_KEY_SIGNING_KEY                                                  \
	LWM2M_KEY_PREFIX "config:signing-key" /* STRING                        \
	                                       */
/* STRING with a 60 s expiry: the lock of the rest-api instance generating
 * the admin key (SET NX), so instances starting together create one admin
 * key, not one each. */
#define LWM2M_KEY_ADMIN_LOCK LWM2M_KEY_PREFIX "config:admin-lock"
/* STRING: the device CA (certificate and private key PEM, lwm2m_x509.h)
 * when LWDS_CA_CERT/LWDS_CA_KEY are not configured; whichever service
 * needs it first generates it (SET NX). */
#define LWM2M_KEY_CA LWM2M_KEY_PREFIX "config:ca"

/* PSK identities (REST spec 3.2), one hash tag so they change atomically.
 * HASH identity -> "org:SECRETHEX" or "org:SECRETHEX:endpoint" (every
 * gateway loads it whole into its handshake cache); ZSET per organisation
 * of its identities, score = created ms; STRING counter bumped on every
 * change, polled by the gateways to know when to reload. */
#define LWM2M_KEY_PSK LWM2M_KEY_PREFIX "{psk}"
#define LWM2M_KEY_ORG_PSK LWM2M_KEY_PREFIX "{psk}:org:%lld"
#define LWM2M_KEY_PSK_VERSION LWM2M_KEY_PREFIX "{psk}:version"

/* Subscriptions (REST spec 6; written by the REST API, read by the broker). */
/* HASH per subscription, fields LWM2M_SF_* below. */
#define LWM2M_KEY_SUB LWM2M_KEY_PREFIX "sub:{%s}"
/* ZSET per organisation: every subscription id, score = created ms. */
#define LWM2M_KEY_ORG_SUBS LWM2M_KEY_PREFIX "org:{%lld}:subs"
/* SET per organisation and client-event type ("ClientConnected", ...): ids
 * of the organisation-level subscriptions (no client target) of that type. */
#define LWM2M_KEY_ORG_EVENT_SUBS LWM2M_KEY_PREFIX "org:{%lld}:evsubs:%s"
/* SET per client: ids of every subscription targeting that client. */
#define LWM2M_KEY_CLIENT_SUBS LWM2M_KEY_PREFIX "client:{%s}:subs"
/* SET per client and client-event type: client-level subscription ids. */
#define LWM2M_KEY_CLIENT_EVENT_SUBS LWM2M_KEY_PREFIX "client:{%s}:evsubs:%s"
/* HASH per organisation: duplicate key of each subscription (type, client,
 * definition, instance, property, lower-case url; spec 6.3) -> id. */
#define LWM2M_KEY_ORG_SUB_DEDUP LWM2M_KEY_PREFIX "org:{%lld}:subs:dedup"
/* Observation collation (spec 7; docs/webhooks.md).  SET per client and
 * path ("/3303/0/5700"): ids of the Observation subscriptions on it. */
#define LWM2M_KEY_CLIENT_OBS_SUBS LWM2M_KEY_PREFIX "client:{%s}:obsubs:%s"
/* SET per client: the paths that have Observation subscriptions. */
#define LWM2M_KEY_CLIENT_OBS_PATHS LWM2M_KEY_PREFIX "client:{%s}:obspaths"
/* HASH per client, written by the broker: path -> "<token hex> <gateway
 * id> <attribute query> <gateway start ms> <registration ms>" of the one
 * observation held on the device. */
#define LWM2M_KEY_CLIENT_OBSERVED LWM2M_KEY_PREFIX "client:{%s}:observed"
/* STRING per client and path, PX 45 s: held by the broker reconciling the
 * path's observation (one at a time, across brokers). */
#define LWM2M_KEY_CLIENT_OBS_LOCK LWM2M_KEY_PREFIX "client:{%s}:obslock:%s"

/* Webhook delivery queue (docs/webhooks.md); one hash tag, so the Lua
 * scripts of the dispatcher may touch all three atomically. */
/* STREAM of jobs, field "job" (lwm2m_delivery.h), group "lwds-webhook". */
#define LWM2M_KEY_DELIVERIES LWM2M_KEY_PREFIX "{deliveries}"
/* ZSET of jobs waiting for a retry: member = job JSON, score = due ms. */
#define LWM2M_KEY_DELIVERY_RETRY LWM2M_KEY_PREFIX "{deliveries}:retry"
/* HASH per subscription with attributes: lastt, lastv (gateway time in ms
 * and value of the last notification delivered), written by the broker's
 * filter script in the same step as the job's XADD (one slot).  Deleting
 * the subscription replaces it with the STRING "deleted", which expires
 * after LWM2M_SUB_FILTER_GONE_MS; the filter script queues nothing then. */
#define LWM2M_KEY_SUB_FILTER LWM2M_KEY_PREFIX "{deliveries}:filter:%s"
#define LWM2M_SUB_FILTER_GONE_MS 600000
/* STREAM of dead letters: fields org, sub, id, status, error, job. */
#define LWM2M_KEY_DEADLETTERS LWM2M_KEY_PREFIX "{deliveries}:dead"

/* Fields of LWM2M_KEY_SUB.  Absent or "" means unset. */
#define LWM2M_SF_ORG "org"        /* organisation id, decimal */
#define LWM2M_SF_TYPE "type"      /* "Observation", "ClientConnected", ... */
#define LWM2M_SF_CLIENT "client"  /* target client id */
#define LWM2M_SF_DEFINITION "def" /* target object definition id */
#define LWM2M_SF_OBJECT "obj"     /* LwM2M object id, decimal */
#define LWM2M_SF_INSTANCE "inst"  /* target instance id, decimal */
#define LWM2M_SF_PROPERTY "prop"  /* target resource id, decimal */
#define LWM2M_SF_PROPERTY_NAME "propname" /* its SerialisationName */
#define LWM2M_SF_FINGERPRINT "fp" /* its key in LWM2M_KEY_ORG_SUB_DEDUP */
#define LWM2M_SF_URL "url"        /* web-hook URL */
#define LWM2M_SF_ACCEPT "accept"  /* AcceptContentType */
#define LWM2M_SF_PMIN "pmin"      /* attributes: exact decimal strings */
#define LWM2M_SF_PMAX "pmax"
#define LWM2M_SF_STEP "stp"
#define LWM2M_SF_LT "lt"
#define LWM2M_SF_GT "gt"
#define LWM2M_SF_SECRET "secret"   /* HMAC-SHA256 key of X-Lwds-Signature */
#define LWM2M_SF_CREATED "created" /* ms since 1970 */

/* Object definitions per scope (organisation; 0 = global, the admin's):
 * HASH definition id -> definition JSON (REST shape, with ids), and ZSET of
 * the definition ids scored by ObjectID. */
#define LWM2M_KEY_ORG_OBJDEFS LWM2M_KEY_PREFIX "org:{%lld}:objdefs"
#define LWM2M_KEY_ORG_OBJDEF_OIDS LWM2M_KEY_PREFIX "org:{%lld}:objdefs:oid"
/* STRING: a new value ("<n>.<seconds>.<microseconds>") with every change
 * of the scope's definitions, written by the same script; readers that kept
 * a parse compare it instead of fetching the JSON (lwm2m_objdef_store.c). */
#define LWM2M_KEY_ORG_OBJDEFS_VER LWM2M_KEY_PREFIX "org:{%lld}:objdefs:ver"

/* Observations and events of the gateways (docs/coap-gw.md). */
/* HASH per client: observation token (16 hex digits) -> "<path> <ct>"
 * ("/3303/0/5700 112"), the observations a gateway holds on the device. */
#define LWM2M_KEY_CLIENT_OBS LWM2M_KEY_PREFIX "obs:{%s}"
/* STREAM of gateway events, XADD MAXLEN ~ LWDS_EVENTS_MAXLEN: field "type"
 * (registered, updated, deregistered, expired, removed, notify), "id",
 * "org", "gw", "ts" (ms); connectivity events add "ep"; notify adds "path",
 * "ct" (-1 when none), "code", "seq" (Observe value), "token" (hex) and
 * "payload" (raw bytes). */
#define LWM2M_KEY_EVENTS LWM2M_KEY_PREFIX "{events}"

/* Fields of LWM2M_KEY_CLIENT. */
#define LWM2M_CF_ENDPOINT "ep"   /* endpoint client name */
#define LWM2M_CF_ORG "org"       /* organisation id, decimal */
#define LWM2M_CF_ADDR "addr"     /* "ip:port" or "[ip6]:port" of the peer */
#define LWM2M_CF_LIFETIME "lt"   /* seconds */
#define LWM2M_CF_BINDING "b"     /* as sent, e.g. "U", "UQ" */
#define LWM2M_CF_QUEUE "q"       /* "1" in queue mode, else "0" */
#define LWM2M_CF_VERSION "lwm2m" /* "1.0", "1.1", "1.2" */
#define LWM2M_CF_SMS "sms"
#define LWM2M_CF_ROOT "root"         /* alternate path, "" for "/" */
#define LWM2M_CF_FORMATS "ct"        /* content formats, space separated */
#define LWM2M_CF_OBJECTS "objs"      /* normalised link list: "</1/0>,</3/0>" */
#define LWM2M_CF_REGISTERED_AT "reg" /* ms since 1970 */
#define LWM2M_CF_UPDATED_AT "upd"    /* ms since 1970 */
#define LWM2M_CF_EXPIRES_AT "exp"    /* ms since 1970 */
#define LWM2M_CF_GATEWAY "gw"        /* owning gateway instance id */
/* "registered", "deregistered", "expired", "removed" (DELETE /clients) */
#define LWM2M_CF_STATE "state"
#define LWM2M_CF_SECURE "sec"  /* "1" when registered over DTLS */
#define LWM2M_CF_EXTRA "extra" /* unknown query params, "a=b&c" */
/* ms since 1970 the client left (de-registered, expired, removed), written
 * with that state when LWDS_CLIENT_RETENTION_S is not 0: the record is
 * reaped once left + retention has passed (lwm2m_retention.h); gone again
 * when the client registers (the record is replaced) */
#define LWM2M_CF_LEFT "left"
/* "1" once the reap of the record has started (docs/redis-schema.md,
 * "Retention"): the record is deleted when the reap's other steps are done,
 * and until then a Register's takeover never writes it again (a new id; a
 * DTLS client, whose id is its credential's, 5.03) */
#define LWM2M_CF_REAP "reap"

#endif
