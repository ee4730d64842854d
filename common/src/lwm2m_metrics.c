#include "lwm2m_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "lwm2m_log.h"
#include "lwm2m_loop.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct lwm2m_metric {
	struct lwm2m_metrics *reg;
	enum metric_type type;
	char name[LWM2M_METRICS_NAME_MAX + 1];
	size_t family_len; /* name up to '{' */
	char *help;
	double value; /* counter/gauge value; histogram sum */
	unsigned long long count;
	size_t nbounds;
	double bounds[LWM2M_METRICS_MAX_BUCKETS];
	unsigned long long
	    buckets[LWM2M_METRICS_MAX_BUCKETS]; /* not cumulative */
};

struct lwm2m_metrics {
	pthread_mutex_t lock;
	size_t n;
	struct lwm2m_metric *m[LWM2M_METRICS_MAX];
};

struct lwm2m_metrics_http {
	struct evhttp *http;
	lwm2m_metrics_health_cb health;
	void *arg;
};

static struct lwm2m_metrics *default_reg;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static const char *const type_names[] = {"counter", "gauge", "histogram"};

lwm2m_err
lwm2m_metrics_new(struct lwm2m_metrics **ret_reg)
{
	struct lwm2m_metrics *reg = calloc(1, sizeof *reg);

	if (reg == NULL) {
		return LWM2M_ENOMEM;
	}
	pthread_mutex_init(&reg->lock, NULL);
	*ret_reg = reg;
	return LWM2M_OK;
}

struct lwm2m_metrics *
lwm2m_metrics_free(struct lwm2m_metrics *reg)
{
	if (reg == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < reg->n; i++) {
		free(reg->m[i]->help);
		free(reg->m[i]);
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
	return NULL;
}

static void
default_create(void)
{
	if (lwm2m_metrics_new(&default_reg) != LWM2M_OK) {
		default_reg = NULL;
	}
}

struct lwm2m_metrics *
lwm2m_metrics_default(void)
{
	pthread_once(&default_once, default_create);
	return default_reg;
}

/* A family name is [a-zA-Z_:][a-zA-Z0-9_:]*; an optional label part
 * {...} follows and ends the name.  Returns the family length, 0 if bad. */
static size_t
family_length(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > LWM2M_METRICS_NAME_MAX) {
		return 0;
	}
	for (i = 0; i < len && name[i] != '{'; i++) {
		char c = name[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             c == '_' || c == ':';
		if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
			return 0;
		}
	}
	if (i == 0 || (i < len && (name[len - 1] != '}' || len - i < 3))) {
		return 0;
	}
	return i;
}

static bool
bounds_valid(const double *bounds, size_t n)
{
	if (n == 0 || n > LWM2M_METRICS_MAX_BUCKETS || bounds == NULL) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(bounds[i]) ||
		    (i > 0 && bounds[i] <= bounds[i - 1])) {
			return false;
		}
	}
	return true;
}

static struct lwm2m_metric *
find_locked(struct lwm2m_metrics *reg, const char *name)
{
	for (size_t i = 0; i < reg->n; i++) {
		if (strcmp(reg->m[i]->name, name) == 0) {
			return reg->m[i];
		}
	}
	return NULL;
}

static struct lwm2m_metric *
create_locked(struct lwm2m_metrics *reg, enum metric_type type,
              const char *name, const char *help, size_t family_len)
{
	struct lwm2m_metric *m;

	if (reg->n == LWM2M_METRICS_MAX) {
		return NULL;
	}
	m = calloc(1, sizeof *m);
	if (m == NULL) {
		return NULL;
	}
	m->help = strdup(help ? help : "");
	if (m->help == NULL) {
		free(m);
		return NULL;
	}
	m->reg = reg;
	m->type = type;
	m->family_len = family_len;
	strcpy(m->name, name);
	reg->m[reg->n++] = m;
	return m;
}

static struct lwm2m_metric *
get_metric(struct lwm2m_metrics *reg, enum metric_type type, const char *name,
           const char *help, const double *bounds, size_t nbounds)
{
	struct lwm2m_metric *m;
	size_t family_len = name ? family_length(name) : 0;

	reg = reg ? reg : lwm2m_metrics_default();
	if (reg == NULL || family_len == 0) {
		return NULL;
	}
	pthread_mutex_lock(&reg->lock);
	m = find_locked(reg, name);
	if (m != NULL && m->type != type) {
		m = NULL;
	} else if (m == NULL) {
		m = create_locked(reg, type, name, help, family_len);
		if (m != NULL && type == METRIC_HISTOGRAM) {
			memcpy(m->bounds, bounds, nbounds * sizeof *bounds);
			m->nbounds = nbounds;
		}
	}
	pthread_mutex_unlock(&reg->lock);
	return m;
}

struct lwm2m_metric *
lwm2m_metrics_counter(struct lwm2m_metrics *reg, const char *name,
                      const char *help)
{
	return get_metric(reg, METRIC_COUNTER, name, help, NULL, 0);
}

struct lwm2m_metric *
lwm2m_metrics_gauge(struct lwm2m_metrics *reg, const char *name,
                    const char *help)
{
	return get_metric(reg, METRIC_GAUGE, name, help, NULL, 0);
}

struct lwm2m_metric *
lwm2m_metrics_histogram(struct lwm2m_metrics *reg, const char *name,
                        const char *help, const double *bounds, size_t nbounds)
{
	if (!bounds_valid(bounds, nbounds)) {
		return NULL;
	}
	return get_metric(reg, METRIC_HISTOGRAM, name, help, bounds, nbounds);
}

void
lwm2m_metrics_add(struct lwm2m_metric *m, double v)
{
	if (m == NULL || m->type == METRIC_HISTOGRAM || !isfinite(v) ||
	    (m->type == METRIC_COUNTER && v < 0)) {
		return;
	}
	pthread_mutex_lock(&m->reg->lock);
	m->value += v;
	pthread_mutex_unlock(&m->reg->lock);
}

void
lwm2m_metrics_inc(struct lwm2m_metric *m)
{
	lwm2m_metrics_add(m, 1);
}

void
lwm2m_metrics_set(struct lwm2m_metric *m, double v)
{
	if (m == NULL || m->type != METRIC_GAUGE || isnan(v)) {
		return;
	}
	pthread_mutex_lock(&m->reg->lock);
	m->value = v;
	pthread_mutex_unlock(&m->reg->lock);
}

void
lwm2m_metrics_observe(struct lwm2m_metric *m, double v)
{
	size_t i;

	if (m == NULL || m->type != METRIC_HISTOGRAM || isnan(v)) {
		return;
	}
	pthread_mutex_lock(&m->reg->lock);
	for (i = 0; i < m->nbounds && v > m->bounds[i]; i++) {
	}
	if (i < m->nbounds) {
		m->buckets[i]++;
	}
	m->count++;
	m->value += v;
	pthread_mutex_unlock(&m->reg->lock);
}

double
lwm2m_metrics_value(const struct lwm2m_metric *m)
{
	double v;

	if (m == NULL) {
		return 0;
	}
	pthread_mutex_lock(&m->reg->lock);
	v = m->type == METRIC_HISTOGRAM ? (double)m->count : m->value;
	pthread_mutex_unlock(&m->reg->lock);
	return v;
}

/* Writes family + suffix + labels, with an extra label (le) merged in. */
static int
put_series(struct evbuffer *out, const struct lwm2m_metric *m,
           const char *suffix, const char *extra)
{
	const char *labels = m->name + m->family_len;
	size_t llen = strlen(labels);

	if (extra == NULL) {
		return evbuffer_add_printf(out, "%.*s%s%s ", (int)m->family_len,
		                           m->name, suffix, labels);
	}
	if (llen == 0) {
		return evbuffer_add_printf(out, "%.*s%s{%s} ",
		                           (int)m->family_len, m->name, suffix,
		                           extra);
	}
	return evbuffer_add_printf(out, "%.*s%s%.*s,%s} ", (int)m->family_len,
	                           m->name, suffix, (int)(llen - 1), labels,
	                           extra);
}

static int
put_histogram(struct evbuffer *out, const struct lwm2m_metric *m)
{
	unsigned long long cum = 0;
	char le[64];
	int rc = 0;

	for (size_t i = 0; i < m->nbounds && rc >= 0; i++) {
		cum += m->buckets[i];
		snprintf(le, sizeof le, "le=\"%.17g\"", m->bounds[i]);
		rc = put_series(out, m, "_bucket", le);
		rc = rc < 0 ? rc : evbuffer_add_printf(out, "%llu\n", cum);
	}
	if (rc >= 0) {
		rc = put_series(out, m, "_bucket", "le=\"+Inf\"");
	}
	rc = rc < 0 ? rc : evbuffer_add_printf(out, "%llu\n", m->count);
	rc = rc < 0 ? rc : put_series(out, m, "_sum", NULL);
	rc = rc < 0 ? rc : evbuffer_add_printf(out, "%.17g\n", m->value);
	rc = rc < 0 ? rc : put_series(out, m, "_count", NULL);
	return rc < 0 ? rc : evbuffer_add_printf(out, "%llu\n", m->count);
}

static int
put_metric(struct evbuffer *out, const struct lwm2m_metric *m)
{
	int rc;

	if (m->type == METRIC_HISTOGRAM) {
		return put_histogram(out, m);
	}
	rc = put_series(out, m, "", NULL);
	return rc < 0 ? rc : evbuffer_add_printf(out, "%.17g\n", m->value);
}

static bool
same_family(const struct lwm2m_metric *a, const struct lwm2m_metric *b)
{
	return a->family_len == b->family_len &&
	       memcmp(a->name, b->name, a->family_len) == 0;
}

/* One family: HELP and TYPE from its first series, then every series. */
static int
put_family(struct evbuffer *out, struct lwm2m_metrics *reg, size_t first,
           bool *done)
{
	const struct lwm2m_metric *f = reg->m[first];
	int rc = evbuffer_add_printf(
	    out, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)f->family_len,
	    f->name, f->help, (int)f->family_len, f->name, type_names[f->type]);

	for (size_t j = first; j < reg->n && rc >= 0; j++) {
		if (!done[j] && same_family(f, reg->m[j])) {
			done[j] = true;
			rc = put_metric(out, reg->m[j]);
		}
	}
	return rc;
}

lwm2m_err
lwm2m_metrics_render(struct lwm2m_metrics *reg, struct evbuffer *out)
{
	bool done[LWM2M_METRICS_MAX] = {false};
	int rc = 0;

	reg = reg ? reg : lwm2m_metrics_default();
	if (reg == NULL) {
		return LWM2M_ENOMEM;
	}
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->n && rc >= 0; i++) {
		if (!done[i]) {
			rc = put_family(out, reg, i, done);
		}
	}
	pthread_mutex_unlock(&reg->lock);
	return rc < 0 ? LWM2M_ENOMEM : LWM2M_OK;
}

void
lwm2m_metrics_evhttp_handler(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();

	if (out == NULL || lwm2m_metrics_render(arg, out) != LWM2M_OK) {
		evbuffer_free(out);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void
on_health(struct evhttp_request *req, void *arg)
{
	struct lwm2m_metrics_http *h = arg;
	struct evbuffer *out = evbuffer_new();
	int ok = 1;

	if (out == NULL) {
		evhttp_send_error(req, 503, NULL);
		return;
	}
	if (h->health != NULL) {
		ok = h->health(out, h->arg);
	}
	if (evbuffer_get_length(out) == 0) {
		evbuffer_add_printf(out, "{\"status\":\"%s\"}\n",
		                    ok ? "ok" : "unavailable");
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "application/json");
	evhttp_send_reply(req, ok ? 200 : 503, ok ? "OK" : "Unavailable", out);
	evbuffer_free(out);
}

lwm2m_err
lwm2m_metrics_parse_addr(const char *addr, char *host, size_t host_size,
                         int *ret_port)
{
	const char *colon = addr ? strrchr(addr, ':') : NULL;
	size_t hlen;
	long long port;

	if (colon == NULL ||
	    lwm2m_parse_int(colon + 1, 0, 65535, &port) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	hlen = (size_t)(colon - addr);
	if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
		addr++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= host_size) {
		return LWM2M_EINVAL;
	}
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	*ret_port = (int)port;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_metrics_http_new(struct event_base *base, const char *addr,
                       lwm2m_metrics_health_cb health, void *arg,
                       struct lwm2m_metrics_http **ret_http)
{
	struct lwm2m_metrics_http *h;
	char host[256];
	int port;

	if (lwm2m_metrics_parse_addr(addr, host, sizeof host, &port) !=
	    LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	h = calloc(1, sizeof *h);
	if (h == NULL) {
		return LWM2M_ENOMEM;
	}
	h->health = health;
	h->arg = arg;
	h->http = evhttp_new(base);
	if (h->http == NULL ||
	    evhttp_bind_socket(h->http, host, (uint16_t)port) != 0) {
		lwm2m_metrics_http_free(h);
		return LWM2M_EIO;
	}
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(h->http, "/health", on_health, h);
	evhttp_set_cb(h->http, "/metrics", lwm2m_metrics_evhttp_handler, NULL);
	*ret_http = h;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_metrics_http_start(struct event_base *base, const char *addr,
                         lwm2m_metrics_health_cb health, void *arg,
                         struct lwm2m_metrics_http **ret_http)
{
	lwm2m_err err;

	*ret_http = NULL;
	if (addr == NULL || addr[0] == '\0') {
		return LWM2M_OK;
	}
	err = lwm2m_metrics_http_new(base, addr, health, arg, ret_http);
	if (err != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot serve /health on \"%s\": %s",
		          addr, lwm2m_strerror(err));
	}
	return err;
}

struct lwm2m_metrics_http *
lwm2m_metrics_http_free(struct lwm2m_metrics_http *http)
{
	if (http == NULL) {
		return NULL;
	}
	if (http->http != NULL) {
		evhttp_free(http->http);
	}
	free(http);
	return NULL;
}
