/* wh.h - lwds-webhook: delivers the jobs of the durable delivery stream to
 * web hooks over HTTP(S), with retries and dead letters (docs/webhooks.md).
 *
 * Everything runs on one libevent loop; only the loop thread may call these
 * functions unless a comment says otherwise.
 */
#ifndef WH_H
#define WH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "lwm2m_delivery.h"
#include "lwm2m_err.h"

/* ---- retry policy (wh_retry.c) ---------------------------------------- */

enum wh_outcome {
	WH_DELIVERED = 0, /* 2xx: acknowledge */
	WH_RETRY,         /* try again later */
	WH_DROP,          /* 400/401/404/405: never retried, dead-lettered */
};

struct wh_retry_policy {
	unsigned max_retries; /* attempts after the first; default 10 */
	int64_t base_ms;      /* delay before the first retry; default 1000 */
	int64_t max_ms;       /* cap of the un-jittered delay; default 300000 */
};

/* wh_retry_classify maps an HTTP status (0 for a transport failure or a
 * timeout) onto what to do with the job, ignoring the attempt count. */
enum wh_outcome wh_retry_classify(int status);

/* wh_retry_decide is wh_retry_classify plus the bound: attempts is the
 * number of attempts made including the one that gave status; WH_RETRY
 * becomes WH_DROP once attempts > policy->max_retries. */
enum wh_outcome wh_retry_decide(const struct wh_retry_policy *policy,
                                int status, unsigned attempts);

/* wh_retry_delay_ms returns the delay before retry number `retry` (1 for the
 * first retry): d = min(base * 2^(retry-1), max), then d + rnd % (d/2 + 1),
 * i.e. within [d, 1.5 d].  rnd is a random number the caller draws. */
int64_t wh_retry_delay_ms(const struct wh_retry_policy *policy, unsigned retry,
                          uint32_t rnd);

/* WH_SIGNATURE_SIZE holds "sha256=" plus 64 hex digits plus NUL. */
#define WH_SIGNATURE_SIZE (7 + 64 + 1)

/* wh_sign writes "sha256=<hex HMAC-SHA256 of body keyed with secret>" into
 * ret_sig.  LWM2M_EIO when OpenSSL fails.  Any thread. */
lwm2m_err wh_sign(const char *secret, size_t secret_len, const void *body,
                  size_t body_len, char ret_sig[WH_SIGNATURE_SIZE]);

/* ---- HTTP client pool (wh_http.c) ------------------------------------- */

struct wh_http;

struct wh_http_config {
	unsigned max_conn_per_host; /* default 8 */
	unsigned max_pipeline;      /* requests written ahead on one HTTP/1.1
	                             * keep-alive connection; default 16, 1: none */
	unsigned max_hosts;  /* hosts kept; idle ones are dropped past it */
	int64_t timeout_ms;  /* connect + response, default 10000 */
	const char *ca_file; /* extra CA bundle (PEM) or NULL */
	bool insecure;       /* skip certificate checks: tests only */
};

/* Result of one POST: status is the HTTP status, or 0 with error set to a
 * static text when no response came (connect failure, timeout, TLS). */
typedef void (*wh_http_cb)(int status, const char *error, void *arg);

/* Headers of one POST besides Host, Content-Length and Accept. */
struct wh_http_headers {
	const char *content_type;
	const char *signature; /* NULL: no X-Lwds-Signature */
	const char *delivery_id;
	unsigned attempt; /* 1 for the first attempt */
};

/* wh_http_new creates the pool on base (system CA store plus
 * config->ca_file for https). */
lwm2m_err wh_http_new(struct event_base *base,
                      const struct wh_http_config *config,
                      struct wh_http **ret_http);

/* wh_http_free closes every connection; callbacks of requests still queued
 * or in flight run with status 0 and error "shutdown".  NULL-safe. */
void wh_http_free(struct wh_http *http);

/* wh_http_post POSTs body (copied) to url, on an idle keep-alive connection
 * to the same scheme/host/port when one exists, else on a new one while the
 * host has fewer than max_conn_per_host, else pipelined behind the requests
 * of the least busy connection that showed HTTP/1.1 keep-alive (up to
 * max_pipeline on it), else after the host's queue.  Responses are matched
 * to requests in order; when a connection breaks, its requests without a
 * response fail with status 0.  cb
 * runs exactly once, later, on the loop (never from within this call).
 * LWM2M_EINVAL for a URL that is not absolute http/https (cb not called). */
lwm2m_err wh_http_post(struct wh_http *http, const char *url,
                       const struct wh_http_headers *headers, const void *body,
                       size_t body_len, wh_http_cb cb, void *arg);

/* wh_http_active returns the number of requests queued or in flight. */
unsigned wh_http_active(const struct wh_http *http);

/* ---- the dispatcher (wh_queue.c) -------------------------------------- */

/* defaults of the settings (main.c's option table and wh_config_defaults) */
#define WH_MAX_CONN_PER_HOST_DEFAULT 8
#define WH_PIPELINE_DEFAULT 16
#define WH_MAX_INFLIGHT_DEFAULT 256
#define WH_TIMEOUT_MS_DEFAULT 10000
#define WH_MAX_RETRIES_DEFAULT 10
#define WH_BACKOFF_BASE_MS_DEFAULT 1000
#define WH_BACKOFF_MAX_MS_DEFAULT 300000
#define WH_CLAIM_IDLE_MS_DEFAULT 60000
#define WH_RETRY_POLL_MS_DEFAULT 250
#define WH_DEADLETTER_MAX_DEFAULT 100000

struct wh_config {
	const char *redis_url;
	const char *consumer;      /* consumer name; stable across restarts */
	char consumer_buf[256];    /* storage of the default (host name) */
	unsigned max_inflight;     /* deliveries at once; default 256 */
	int64_t block_ms;          /* XREADGROUP BLOCK; default 1000 */
	int64_t retry_poll_ms;     /* how often due retries move back; 250 */
	int64_t claim_interval_ms; /* how often XAUTOCLAIM runs; 5000 */
	int64_t claim_idle_ms;     /* idle time after which a job of another
	                            * consumer is taken over; 60000 */
	long long deadletter_max;  /* approximate MAXLEN of dead letters */
	const char *health_addr;   /* "host:port" of GET /health, NULL: none */
	struct wh_retry_policy retry;
	struct wh_http_config http;
};

struct wh_ctx;

/* wh_config_defaults fills config with the defaults above (main.c then
 * sets what its command line gives, lwm2m_cli.h). */
void wh_config_defaults(struct wh_config *config);

/* wh_ctx_new creates the dispatcher on base and starts connecting to Redis;
 * config (and its strings) must outlive it. */
lwm2m_err wh_ctx_new(struct event_base *base, const struct wh_config *config,
                     struct wh_ctx **ret_ctx);

/* wh_ctx_stop stops taking jobs and calls done(arg) on the loop once the
 * deliveries in flight finished or grace_ms passed; unfinished jobs stay
 * pending in Redis and are taken again after a restart. */
void wh_ctx_stop(struct wh_ctx *ctx, int64_t grace_ms, void (*done)(void *),
                 void *arg);

/* wh_ctx_free frees the dispatcher; NULL-safe. */
void wh_ctx_free(struct wh_ctx *ctx);

#endif
