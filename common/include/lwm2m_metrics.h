/* lwm2m_metrics.h - Prometheus metrics: a small registry and its exposition.
 *
 * A registry holds counters, gauges and histograms with fixed buckets and
 * renders them in the Prometheus text format (version 0.0.4).  A metric name
 * may carry constant labels: "lwds_http_requests_total{code=\"200\"}" is one
 * series of the family lwds_http_requests_total; HELP and TYPE are written
 * once per family.
 *
 * Each process has one default registry (lwm2m_metrics_default()); like the
 * log level it is process-wide so that a hook in any module is one line.
 * Updates take a mutex, so any thread may update a metric; registering and
 * rendering may also run on any thread.  Metric handles live as long as their
 * registry; the default registry lives until exit.  Every update function
 * accepts a NULL metric and does nothing, so a failed registration never
 * needs a check at the call site.
 */
#ifndef LWM2M_METRICS_H
#define LWM2M_METRICS_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>

#include "lwm2m_err.h"

struct lwm2m_metrics;
struct lwm2m_metric;
struct lwm2m_metrics_http;

/* Limits: names are at most this long (labels included); a registry holds
 * at most LWM2M_METRICS_MAX metrics and a histogram at most
 * LWM2M_METRICS_MAX_BUCKETS finite buckets. */
#define LWM2M_METRICS_NAME_MAX 200
#define LWM2M_METRICS_MAX 256
#define LWM2M_METRICS_MAX_BUCKETS 16

/* lwm2m_metrics_new creates an empty registry (for tests and libraries that
 * want their own); the caller frees it with lwm2m_metrics_free. */
lwm2m_err lwm2m_metrics_new(struct lwm2m_metrics **ret_reg);

/* lwm2m_metrics_free frees a registry and all its metrics.  NULL-safe;
 * returns NULL. */
struct lwm2m_metrics *lwm2m_metrics_free(struct lwm2m_metrics *reg);

/* lwm2m_metrics_default returns the process registry, created on first use
 * (NULL only if that allocation failed). */
struct lwm2m_metrics *lwm2m_metrics_default(void);

/* lwm2m_metrics_counter returns the counter called name in reg (NULL: the
 * default registry), registering it with help text on first use.  NULL when
 * the name is invalid, already registered with another type, or the
 * registry is full. */
struct lwm2m_metric *lwm2m_metrics_counter(struct lwm2m_metrics *reg,
                                           const char *name, const char *help);

/* lwm2m_metrics_gauge is lwm2m_metrics_counter for a gauge. */
struct lwm2m_metric *lwm2m_metrics_gauge(struct lwm2m_metrics *reg,
                                         const char *name, const char *help);

/* lwm2m_metrics_histogram is lwm2m_metrics_counter for a histogram with the
 * given strictly increasing finite upper bounds (1..LWM2M_METRICS_MAX_BUCKETS
 * of them; +Inf is implicit).  bounds is copied.  NULL also when the bounds
 * are invalid. */
struct lwm2m_metric *lwm2m_metrics_histogram(struct lwm2m_metrics *reg,
                                             const char *name, const char *help,
                                             const double *bounds,
                                             size_t nbounds);

/* lwm2m_metrics_add adds v to a counter (v < 0 is ignored) or a gauge.
 * NULL-safe. */
void lwm2m_metrics_add(struct lwm2m_metric *m, double v);

/* lwm2m_metrics_inc adds 1 to a counter or a gauge.  NULL-safe. */
void lwm2m_metrics_inc(struct lwm2m_metric *m);

/* lwm2m_metrics_set sets a gauge to v.  NULL-safe; ignored for other
 * types. */
void lwm2m_metrics_set(struct lwm2m_metric *m, double v);

/* lwm2m_metrics_observe records one sample v in a histogram.  NULL-safe;
 * ignored for other types. */
void lwm2m_metrics_observe(struct lwm2m_metric *m, double v);

/* lwm2m_metrics_value returns a counter's or gauge's value, or a histogram's
 * sample count (0 for NULL); for tests and health output. */
double lwm2m_metrics_value(const struct lwm2m_metric *m);

/* lwm2m_metrics_render writes reg (NULL: the default registry) in the
 * Prometheus text format to out.  LWM2M_ENOMEM when the buffer cannot
 * grow. */
lwm2m_err lwm2m_metrics_render(struct lwm2m_metrics *reg, struct evbuffer *out);

/* lwm2m_metrics_evhttp_handler is an evhttp callback (arg: a registry or
 * NULL for the default) answering GET /metrics; attach it to a service's own
 * evhttp with evhttp_set_cb(http, "/metrics", lwm2m_metrics_evhttp_handler,
 * NULL).  Loop thread of that evhttp. */
void lwm2m_metrics_evhttp_handler(struct evhttp_request *req, void *arg);

/* Health callback of lwm2m_metrics_http: returns 1 when healthy and may write
 * a short JSON object to out (when it writes nothing, {"status":...} is
 * sent). */
typedef int (*lwm2m_metrics_health_cb)(struct evbuffer *out, void *arg);

/* lwm2m_metrics_http_new listens on addr ("host:port"; port 0 picks one)
 * on base and answers GET /health (200 or 503 from health(arg); always 200
 * when health is NULL) and GET /metrics (the default registry).  The caller
 * frees it with lwm2m_metrics_http_free.  LWM2M_EINVAL for a bad address,
 * LWM2M_EIO when the port cannot be bound.  Loop thread only. */
lwm2m_err lwm2m_metrics_http_new(struct event_base *base, const char *addr,
                                 lwm2m_metrics_health_cb health, void *arg,
                                 struct lwm2m_metrics_http **ret_http);

/* lwm2m_metrics_http_start is a service's --health-addr at start: no
 * listener when addr is NULL or "" (*ret_http NULL, LWM2M_OK), else
 * lwm2m_metrics_http_new; when that fails it logs one error line naming
 * addr, for the service that then stops.  Loop thread. */
lwm2m_err lwm2m_metrics_http_start(struct event_base *base, const char *addr,
                                   lwm2m_metrics_health_cb health, void *arg,
                                   struct lwm2m_metrics_http **ret_http);

/* lwm2m_metrics_http_free closes the listener.  NULL-safe; returns NULL. */
struct lwm2m_metrics_http *
lwm2m_metrics_http_free(struct lwm2m_metrics_http *http);

/* lwm2m_metrics_parse_addr splits "host:port" (the last colon separates;
 * "[v6]:port" keeps the brackets off) into host and port. */
lwm2m_err lwm2m_metrics_parse_addr(const char *addr, char *host,
                                   size_t host_size, int *ret_port);

#endif
