/* api_metrics.c - metrics of spec 8: BytesSent, BytesReceived and
 * TransactionCount counted by the gateways in Redis (LWM2M_KEY_CLIENT_
 * METRICS, LWM2M_KEY_ORG_METRICS) and NumberClients, the size of the
 * organisation's connected set.  All need a token; the process's
 * Prometheus text is on the internal listener (--health-addr,
 * api_health.c). */
#include "api_devops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_id.h"
#include "lwm2m_keys.h"
#include "lwm2m_loop.h"

#define N_METRICS 4
#define STATE_REMOVED "removed"

static const char *const metric_names[N_METRICS] = {
    LWM2M_METRIC_BYTES_SENT, LWM2M_METRIC_BYTES_RECEIVED,
    LWM2M_METRIC_TRANSACTIONS, "NumberClients"};

struct metrics_state {
	char client[LWM2M_ID_SIZE]; /* "" at organisation level */
	char name[32];              /* one metric; "" for the list */
	bool has[N_METRICS];
	long long value[N_METRICS];
};

static int
metric_index(const char *name)
{
	for (int i = 0; i < N_METRICS; i++) {
		if (strcmp(metric_names[i], name) == 0) {
			return i;
		}
	}
	return -1;
}

static void
metric_body(struct api_req *r, struct api_doc *doc, int i)
{
	struct metrics_state *s = r->data;
	char path[128];

	if (s->client[0] != '\0') {
		snprintf(path, sizeof path, "/clients/%s/metrics/%s", s->client,
		         metric_names[i]);
	} else {
		snprintf(path, sizeof path, "/metrics/%s", metric_names[i]);
	}
	api_doc_string(doc, "Name", metric_names[i]);
	api_doc_int(doc, "Value", s->value[i]);
	api_doc_links_begin(doc);
	api_doc_link(doc, "self", path, NULL);
	api_doc_end(doc);
}

static void
render_one(struct api_req *r)
{
	struct metrics_state *s = r->data;
	int i = metric_index(s->name);
	struct api_doc *doc;

	if (i < 0 || !s->has[i]) {
		api_reply_error(r, 404, "metric %s has not been counted yet",
		                s->name);
		return;
	}
	doc = api_req_doc(r, "Metric");
	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	metric_body(r, doc, i);
	api_reply_doc(r, 200, doc, "application/vnd.imgtec.metric");
}

static void
render_list(struct api_req *r)
{
	struct metrics_state *s = r->data;
	struct api_doc *doc = api_req_doc(r, "Metrics");
	struct api_page page;
	int present[N_METRICS], n = 0;
	long long count;

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	for (int i = 0; i < N_METRICS; i++) {
		if (s->has[i]) {
			present[n++] = i;
		}
	}
	api_page_parse(r->query, &page);
	count = api_page_count(&page, n);
	api_doc_page_info(doc, r->path, r->query, &page, n);
	if (count > 0) {
		api_doc_array_begin(doc, "Items", "Metric");
		for (long long k = page.start; k < page.start + count; k++) {
			api_doc_object_begin(doc, NULL);
			metric_body(r, doc, present[k]);
			api_doc_end(doc);
		}
		api_doc_end(doc);
	}
	api_reply_doc(r, 200, doc, API_MT_METRICS);
}

/* HGETALL of a metrics hash; renders (the last reply of the batch). */
static void
on_metrics(struct api_req *r, redisReply *reply, void *arg)
{
	struct metrics_state *s = r->data;
	long long v;
	int i;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	for (size_t k = 0; k + 1 < reply->elements; k += 2) {
		if (reply->element[k]->type != REDIS_REPLY_STRING ||
		    reply->element[k + 1]->type != REDIS_REPLY_STRING ||
		    (i = metric_index(reply->element[k]->str)) < 0 ||
		    lwm2m_parse_int(reply->element[k + 1]->str, 0, INT64_MAX,
		                    &v) != LWM2M_OK) {
			continue;
		}
		s->has[i] = true;
		s->value[i] = v;
	}
	if (s->name[0] != '\0') {
		render_one(r);
	} else {
		render_list(r);
	}
}

static void
on_count(struct api_req *r, redisReply *reply, void *arg)
{
	struct metrics_state *s = r->data;

	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
		s->has[N_METRICS - 1] = true;
		s->value[N_METRICS - 1] = reply->integer;
	}
}

static void
fetch_client(struct api_req *r)
{
	struct metrics_state *s = r->data;

	if (api_redis_cmd(r, on_metrics, NULL,
	                  "HGETALL " LWM2M_KEY_CLIENT_METRICS,
	                  s->client) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

static void
fetch_org(struct api_req *r)
{
	char zset[64], hash[64];

	snprintf(zset, sizeof zset, LWM2M_KEY_ORG_CLIENTS, r->org);
	snprintf(hash, sizeof hash, LWM2M_KEY_ORG_METRICS, r->org);
	if (api_redis_cmd(r, on_count, NULL, "ZCARD %s", zset) != LWM2M_OK ||
	    api_redis_cmd(r, on_metrics, NULL, "HGETALL %s", hash) !=
	        LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* The client must belong to r's organisation (defect 6 fixed). */
static void
on_owner(struct api_req *r, redisReply *reply, void *arg)
{
	long long org;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	if (reply->element[0]->type != REDIS_REPLY_STRING ||
	    lwm2m_parse_int(reply->element[0]->str, 0, INT64_MAX, &org) !=
	        LWM2M_OK ||
	    org != r->org ||
	    (reply->element[1]->type == REDIS_REPLY_STRING &&
	     strcmp(reply->element[1]->str, STATE_REMOVED) == 0)) {
		api_reply_error(r, 404, API_MSG_NO_CLIENT);
		return;
	}
	fetch_client(r);
}

/* Allocates the state and reads the URL parameters; answers 404 itself. */
static struct metrics_state *
start(struct api_req *r, bool client, bool one)
{
	struct metrics_state *s = calloc(1, sizeof *s);

	if (s == NULL) {
		api_reply_error(r, 503, "out of memory");
		return NULL;
	}
	r->data = s;
	if ((client && (api_req_param(r, "clientID", s->client,
	                              sizeof s->client) == NULL ||
	                !lwm2m_id_valid(s->client, strlen(s->client)))) ||
	    (one &&
	     (api_req_param(r, "metricID", s->name, sizeof s->name) == NULL ||
	      metric_index(s->name) < 0))) {
		api_reply_error(r, 404,
		                "%s: the metrics are BytesSent, BytesReceived, "
		                "TransactionCount%s",
		                client ? "invalid client id or metric name"
		                       : "no such metric",
		                client ? "" : ", NumberClients");
		return NULL;
	}
	return s;
}

void
api_metrics_list(struct api_req *r)
{
	if (start(r, false, false) != NULL) {
		fetch_org(r);
	}
}

void
api_metric_get(struct api_req *r)
{
	if (start(r, false, true) != NULL) {
		fetch_org(r);
	}
}

static void
client_metrics(struct api_req *r, bool one)
{
	struct metrics_state *s = start(r, true, one);

	if (s == NULL) {
		return;
	}
	if (api_redis_cmd(r, on_owner, NULL, "HMGET " LWM2M_KEY_CLIENT " %s %s",
	                  s->client, LWM2M_CF_ORG,
	                  LWM2M_CF_STATE) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}

void
api_client_metrics_list(struct api_req *r)
{
	client_metrics(r, false);
}

void
api_client_metric_get(struct api_req *r)
{
	client_metrics(r, true);
}
