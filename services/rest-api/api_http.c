/* api_http.c - the HTTP side of the framework: evhtp on the process's one
 * libevent loop, per-request state, body limit, CORS, dispatch, replies and
 * the Redis wrapper that outlives clients that hang up. */
#include "api.h"
#include "api_limit.h"
#include "api_server.h"
#include "api_tls.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_health.h"
#include "lwm2m_id.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_metrics.h"

#define CORS_METHODS "GET,POST,PUT,DELETE,OPTIONS"
#define CORS_HEADERS "Authorization,Content-Type,Accept"
#define MAX_ACCEPT 8

static void req_release(struct api_req *r);

/* ---- small request helpers --------------------------------------------- */

const char *
api_req_param(const struct api_req *r, const char *name, char *buf,
              size_t size)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < r->n_params; i++) {
		const struct api_param *p = &r->params[i];

		if (p->name_len == n && memcmp(p->name, name, n) == 0) {
			if (p->value_len >= size) {
				return NULL;
			}
			memcpy(buf, p->value, p->value_len);
			buf[p->value_len] = '\0';
			return buf;
		}
	}
	return NULL;
}

const char *
api_req_header(const struct api_req *r, const char *name)
{
	if (r->ev == NULL) {
		return NULL;
	}
	return evhtp_header_find(r->ev->headers_in, name);
}

struct api_doc *
api_req_doc(struct api_req *r, const char *root)
{
	struct api_doc *doc;

	if (api_doc_new(&r->neg, r->base_url, root, &doc) != LWM2M_OK) {
		return NULL;
	}
	return doc;
}

/* ---- replies ------------------------------------------------------------ */

static void
add_header(struct api_req *r, const char *k, const char *v)
{
	evhtp_headers_add_header(r->ev->headers_out,
	                         evhtp_header_new(k, v, 0, 1));
}

/* a header whose value outlives evhtp_send_reply, which writes the
 * headers into the output buffer: not copied */
static void
add_header_ref(struct api_req *r, const char *k, const char *v)
{
	evhtp_headers_add_header(r->ev->headers_out,
	                         evhtp_header_new(k, v, 0, 0));
}

/* The 401 challenge: RFC 6750 error and description when a token was
 * presented and refused, a bare "Bearer" when there was none. */
static void
www_authenticate(struct api_req *r)
{
	char v[256];

	if (r->auth_error == NULL) {
		add_header_ref(r, "WWW-Authenticate", "Bearer");
		return;
	}
	snprintf(v, sizeof v,
	         "Bearer error=\"invalid_token\", error_description=\"%s\"",
	         r->auth_error);
	add_header(r, "WWW-Authenticate", v);
}

static void
send_reply(struct api_req *r, int status, const char *content_type,
           const char *body, size_t len)
{
	if (r->replied) {
		lwm2m_log(LWM2M_LOG_ERR, "req=%llu: second reply, ignoring",
		          (unsigned long long)r->id);
		return;
	}
	r->replied = true;
	if (r->ev == NULL) {
		return;
	}
	add_header_ref(r, "Access-Control-Allow-Origin", "*");
	add_header_ref(r, "Access-Control-Allow-Methods", CORS_METHODS);
	add_header_ref(r, "Access-Control-Allow-Headers", CORS_HEADERS);
	if (content_type != NULL) {
		add_header_ref(r, "Content-Type", content_type);
	}
	if (status == 401) {
		www_authenticate(r);
	}
	if (r->too_large) {
		evhtp_request_set_keepalive(r->ev, 0);
	}
	if (len > 0) {
		evbuffer_add(r->ev->buffer_out, body, len);
	}
	add_header_ref(r, "X-Request-Id", r->req_id);
	api_req_observe(status, r->started_ms);
	lwm2m_log(LWM2M_LOG_DEBUG, "req=%llu rid=%s: %d",
	          (unsigned long long)r->id, r->req_id, status);
	evhtp_send_reply(r->ev, (evhtp_res)status);
	if (r->held) {
		api_server_release(r->ev);
	} else if (r->paused) {
		evhtp_request_resume(r->ev);
	}
}

void
api_reply_doc_type(struct api_req *r, int status, struct api_doc *doc,
                   const char *content_type)
{
	const char *buf;
	size_t len;

	if (doc == NULL || api_doc_result(doc, &buf, &len) != LWM2M_OK) {
		api_doc_free(doc);
		lwm2m_log(LWM2M_LOG_ERR, "req=%llu: cannot render document",
		          (unsigned long long)r->id);
		send_reply(r, 500, NULL, NULL, 0);
		return;
	}
	send_reply(r, status, content_type, buf, len);
	api_doc_free(doc);
}

void
api_reply_doc(struct api_req *r, int status, struct api_doc *doc,
              const char *type_base)
{
	char type[256];

	api_reply_doc_type(r, status, doc,
	                   api_media_type(&r->neg, type_base, type,
	                                  sizeof type));
}

void
api_reply_status(struct api_req *r, int status)
{
	send_reply(r, status, NULL, NULL, 0);
}

void
api_reply_body(struct api_req *r, int status, const char *content_type,
               const void *body, size_t len)
{
	send_reply(r, status, content_type, body, len);
}

void
api_reply_header(struct api_req *r, const char *name, const char *value)
{
	if (r->ev != NULL && !r->replied) {
		add_header(r, name, value);
	}
}

void
api_reply_location(struct api_req *r, const char *path)
{
	char href[API_BASE_URL_MAX + 256];

	snprintf(href, sizeof href, "%s%s", r->base_url, path);
	api_reply_header(r, "Location", href);
}

static const char *
status_name(int status)
{
	switch (status) {
	case 400:
		return "BadRequest";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "NotFound";
	case 405:
		return "MethodNotAllowed";
	case 409:
		return "Conflict";
	case 413:
		return "PayloadTooLarge";
	case 406:
		return "NotAcceptable";
	case 415:
		return "UnsupportedMediaType";
	case 429:
		return "TooManyRequests";
	case 502:
		return "BadGateway";
	case 504:
		return "GatewayTimeout";
	case 503:
		return "ServiceUnavailable";
	default:
		return "InternalServerError";
	}
}

void
api_reply_error(struct api_req *r, int status, const char *fmt, ...)
{
	char details[512];
	struct api_doc *doc;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(details, sizeof details, fmt, ap);
	va_end(ap);
	doc = api_req_doc(r, "Error");
	if (doc != NULL) {
		api_doc_string(doc, "ErrorCode", status_name(status));
		api_doc_string(doc, "ErrorMessage",
		               status == 400   ? "ArgumentException"
		               : status == 409 ? "ConflictException"
		                               : "Exception");
		api_doc_string(doc, "ErrorDetails", details);
	}
	api_reply_doc(r, status, doc, API_MT_ERROR);
}

/* ---- Redis wrapper ------------------------------------------------------ */

struct redis_call {
	struct api_req *r;
	void (*cb)(struct api_req *r, redisReply *reply, void *arg);
	void *arg;
};

static void
on_redis_reply(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct redis_call *call = arg;
	struct api_req *r = call->r;

	/* pending still counts this call while cb runs, so r survives a
	 * reply that ends the request synchronously. */
	if (r->ev != NULL && call->cb != NULL) {
		call->cb(r, reply, call->arg);
	}
	r->pending--;
	free(call);
	if (r->ev == NULL && r->pending == 0) {
		req_release(r);
	}
}

lwm2m_err
api_redis_cmd(struct api_req *r,
              void (*cb)(struct api_req *r, redisReply *reply, void *arg),
              void *arg, const char *fmt, ...)
{
	struct redis_call *call = malloc(sizeof *call);
	va_list ap;
	lwm2m_err err;

	if (call == NULL) {
		return LWM2M_ENOMEM;
	}
	if (r->api->redis == NULL || !lwm2m_redis_connected(r->api->redis)) {
		free(call);
		return LWM2M_EBACKEND;
	}
	*call = (struct redis_call){r, cb, arg};
	va_start(ap, fmt);
	err = lwm2m_redis_vcmd(r->api->redis, on_redis_reply, call, fmt, ap);
	va_end(ap);
	if (err != LWM2M_OK) {
		free(call);
		return err;
	}
	r->pending++;
	return LWM2M_OK;
}

lwm2m_err
api_redis_cmdargv(struct api_req *r,
                  void (*cb)(struct api_req *r, redisReply *reply, void *arg),
                  void *arg, int argc, const char **argv,
                  const size_t *argvlen)
{
	struct redis_call *call = malloc(sizeof *call);
	lwm2m_err err;

	if (call == NULL) {
		return LWM2M_ENOMEM;
	}
	if (r->api->redis == NULL || !lwm2m_redis_connected(r->api->redis)) {
		free(call);
		return LWM2M_EBACKEND;
	}
	*call = (struct redis_call){r, cb, arg};
	err = lwm2m_redis_cmdargv(r->api->redis, on_redis_reply, call, argc,
	                          argv, argvlen);
	if (err != LWM2M_OK) {
		free(call);
		return err;
	}
	r->pending++;
	return LWM2M_OK;
}

/* ---- request lifecycle -------------------------------------------------- */

void
api_req_hold(struct api_req *r)
{
	r->pending++;
}

bool
api_req_release(struct api_req *r)
{
	r->pending--;
	if (r->ev != NULL) {
		return true;
	}
	if (r->pending == 0) {
		req_release(r);
	}
	return false;
}

static void
req_release(struct api_req *r)
{
	free(r->body);
	if (r->data_free != NULL) {
		r->data_free(r->data);
	} else {
		free(r->data);
	}
	free(r);
}

static evhtp_res
on_request_fini(evhtp_request_t *ev, void *arg)
{
	struct api_req *r = arg;

	r->ev = NULL;
	if (r->pending == 0) {
		req_release(r);
	}
	return EVHTP_RES_OK;
}

static evhtp_res
on_read(evhtp_request_t *ev, struct evbuffer *buf, void *arg)
{
	struct api_req *r = arg;
	size_t n = evbuffer_get_length(buf);

	if (r->too_large || r->body_len + n > r->api->cfg.max_body) {
		r->too_large = true;
		evbuffer_drain(buf, n);
		return EVHTP_RES_OK;
	}
	r->body_len += n;
	return EVHTP_RES_OK;
}

static evhtp_res
on_headers(evhtp_request_t *ev, evhtp_headers_t *hdrs, void *arg)
{
	struct api_ctx *api = arg;
	const char *cl = evhtp_header_find(hdrs, "Content-Length");
	struct api_req *r;

	api_server_head_done(ev);
	if (cl != NULL && strtoull(cl, NULL, 10) > api->cfg.max_body) {
		char details[96];

		/* refused before a byte of the body is read */
		snprintf(details, sizeof details,
		         "request body larger than %zu bytes",
		         api->cfg.max_body);
		return api_server_refuse(ev, 413, details);
	}
	r = calloc(1, sizeof *r);
	if (r == NULL) {
		return EVHTP_RES_FATAL;
	}
	r->api = api;
	r->ev = ev;
	r->id = ++api->next_req_id;
	r->org = -1;
	r->started_ms = lwm2m_mono_ms();
	api_req_id_set(evhtp_header_find(hdrs, "X-Request-Id"), r->req_id);
	evhtp_request_set_hook(ev, evhtp_hook_on_read, (evhtp_hook)on_read, r);
	evhtp_request_set_hook(ev, evhtp_hook_on_request_fini,
	                       (evhtp_hook)on_request_fini, r);
	return EVHTP_RES_OK;
}

static evhtp_res
on_accept(evhtp_connection_t *conn, void *arg)
{
	evhtp_res res = api_server_accept(arg, conn);

	if (res == EVHTP_RES_OK) {
		evhtp_connection_set_hook(conn, evhtp_hook_on_headers,
		                          (evhtp_hook)on_headers, arg);
	}
	return res;
}

/* Host header characters we accept into absolute links. */
static bool
host_ok(const char *h)
{
	size_t n = h ? strlen(h) : 0;

	if (n == 0 || n > 255) {
		return false;
	}
	return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789.-:[]_") == n;
}

static bool
set_base_url(struct api_req *r)
{
	const char *host = api_req_header(r, "Host");
	const char *proto = api_req_header(r, "X-Forwarded-Proto");
	const char *scheme = "http";

	if (r->ev->conn != NULL && r->ev->conn->ssl != NULL) {
		scheme = "https";
	}
	if (host == NULL) {
		host = "localhost";
	}
	if (!host_ok(host)) {
		return false;
	}
	if (proto != NULL && (strcasecmp(proto, "https") == 0 ||
	                      strcasecmp(proto, "http") == 0)) {
		scheme = strcasecmp(proto, "https") == 0 ? "https" : "http";
	}
	snprintf(r->base_url, sizeof r->base_url, "%s://%s", scheme, host);
	return true;
}

static int
collect_accept(evhtp_kv_t *kv, void *arg)
{
	const char **list = arg;

	if (strcasecmp(kv->key, "Accept") == 0) {
		for (int i = 0; i < MAX_ACCEPT; i++) {
			if (list[i] == NULL) {
				list[i] = kv->val;
				break;
			}
		}
	}
	return 0;
}

static void
negotiate(struct api_req *r)
{
	const char *list[MAX_ACCEPT + 1] = {NULL};
	size_t n = 0;

	evhtp_kvs_for_each(r->ev->headers_in, collect_accept, list);
	while (n < MAX_ACCEPT && list[n] != NULL) {
		n++;
	}
	api_negotiate(list, n, &r->neg);
}

static bool
copy_body(struct api_req *r)
{
	size_t n = evbuffer_get_length(r->ev->buffer_in);

	r->body = malloc(n + 1);
	if (r->body == NULL) {
		return false;
	}
	evbuffer_remove(r->ev->buffer_in, r->body, n);
	r->body[n] = '\0';
	r->body_len = n;
	return true;
}

static void
run_handler(struct api_req *r)
{
	char retry[16];
	int secs = 1;

	if (r->authed && !api_limits_take(r->api->limits, r->token.key,
	                                  lwm2m_mono_ms(), &secs)) {
		snprintf(retry, sizeof retry, "%d", secs);
		add_header(r, "Retry-After", retry);
		api_reply_error(r, 429,
		                "too many requests for this access key (limit "
		                "LWDS_RATE_LIMIT per second); retry after %d s",
		                secs);
		return;
	}
	r->route->handler(r);
}

static void
reply_not_allowed(struct api_req *r, unsigned allowed)
{
	static const char *const names[] = {
		[htp_method_GET] = "GET", [htp_method_POST] = "POST",
		[htp_method_PUT] = "PUT", [htp_method_DELETE] = "DELETE",
	};
	char list[64] = "OPTIONS";

	for (int m = 0; m <= htp_method_DELETE; m++) {
		if ((allowed & (1u << m)) && names[m] != NULL) {
			strcat(list, ",");
			strcat(list, names[m]);
		}
	}
	add_header(r, "Allow", list);
	api_reply_error(r, 405, "method not allowed on this resource");
}

/* Routes a complete request; the handler may answer later. */
static void
dispatch(struct api_req *r)
{
	unsigned allowed = 0;
	enum api_match m;

	if (r->method == htp_method_OPTIONS) {
		api_reply_status(r, 200);
		return;
	}
	if (r->too_large) {
		api_reply_error(r, 413, "request body larger than %zu bytes",
		                r->api->cfg.max_body);
		return;
	}
	if (!set_base_url(r)) {
		api_reply_error(r, 400, "invalid Host header");
		return;
	}
	m = api_route_match(api_routes, api_n_routes, r->method, r->path,
	                    &r->route, r->params, &r->n_params, &allowed);
	if (m == API_MATCH_NONE) {
		api_reply_error(r, 404,
		                "no resource at this path; start at GET / and "
		                "follow the links");
	} else if (m == API_MATCH_METHOD) {
		reply_not_allowed(r, allowed);
	} else if (!copy_body(r)) {
		api_reply_error(r, 503, "out of memory");
	} else if (r->route->auth == API_AUTH_NONE) {
		run_handler(r);
	} else {
		api_auth_check(r, run_handler);
	}
}

static void
on_request(evhtp_request_t *ev, void *arg)
{
	struct api_ctx *api = arg;
	struct api_req *r = evhtp_request_get_hooks(ev) != NULL
	                        ? evhtp_request_get_hooks(ev)->on_request_fini_arg
	                        : NULL;

	if (r == NULL) {
		/* refused (answered) or out of memory: nothing to dispatch */
		if (on_headers(ev, ev->headers_in, api) != EVHTP_RES_OK) {
			return;
		}
		r = evhtp_request_get_hooks(ev)->on_request_fini_arg;
	}
	r->method = evhtp_request_get_method(ev);
	r->path = ev->uri && ev->uri->path ? ev->uri->path->full : "/";
	r->query = ev->uri ? (const char *)ev->uri->query_raw : NULL;
	negotiate(r);
	r->pending++; /* hold r while dispatching */
	dispatch(r);
	r->pending--;
	if (r->ev == NULL) {
		if (r->pending == 0) {
			req_release(r);
		}
		return;
	}
	if (r->replied) {
		api_server_answered(ev);
		return;
	}
	if (api_server_hold(ev)) {
		r->held = true;
	} else {
		r->paused = true;
		evhtp_request_pause(ev);
	}
}

/* ---- server ------------------------------------------------------------- */

static lwm2m_err
bind_listen(struct api_ctx *ctx)
{
	char host[256];
	const char *colon = strrchr(ctx->cfg.listen, ':');
	long long port;
	size_t hlen;

	if (colon == NULL ||
	    lwm2m_parse_int(colon + 1, 1, 65535, &port) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "bad LWDS_HTTP_LISTEN \"%s\"",
		          ctx->cfg.listen);
		return LWM2M_EINVAL;
	}
	hlen = (size_t)(colon - ctx->cfg.listen);
	if (hlen >= sizeof host - 6) {
		return LWM2M_EINVAL;
	}
	if (hlen > 2 && ctx->cfg.listen[0] == '[') {
		snprintf(host, sizeof host, "ipv6:%.*s", (int)hlen - 2,
		         ctx->cfg.listen + 1);
	} else {
		snprintf(host, sizeof host, "%.*s", (int)hlen, ctx->cfg.listen);
	}
	if (evhtp_bind_socket(ctx->htp, host, (uint16_t)port, 128) != 0) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot listen on %s", ctx->cfg.listen);
		return LWM2M_EIO;
	}
	return LWM2M_OK;
}

lwm2m_err
api_ctx_start(struct api_ctx *ctx, struct event_base *base)
{
	const struct timeval io_timeout = {(time_t)ctx->cfg.io_timeout_s, 0};
	lwm2m_err err;

	ctx->base = base;
	ctx->htp = evhtp_new(base, ctx);
	if (ctx->htp == NULL) {
		return LWM2M_ENOMEM;
	}
	evhtp_set_gencb(ctx->htp, on_request, ctx);
	/* Idle or slow peers are dropped; paused requests do not read. */
	evhtp_set_timeouts(ctx->htp, &io_timeout, &io_timeout);
	evhtp_set_post_accept_cb(ctx->htp, on_accept, ctx);
	err = lwm2m_redis_new(base, ctx->cfg.redis_url, NULL, NULL,
	                      &ctx->redis);
	if (err == LWM2M_OK) {
		err = lwm2m_rpc_client_new(base, &ctx->rpc);
	}
	if (err == LWM2M_OK) {
		err = api_limits_new(ctx->cfg.rate_limit, ctx->cfg.rate_burst,
		                     &ctx->limits);
	}
	if (err == LWM2M_OK) {
		err = api_jwt_cache_new(API_JWT_CACHE_SLOTS, &ctx->jwt_cache);
	}
	if (err == LWM2M_OK) {
		err = api_tls_setup(ctx->htp, &ctx->cfg);
	}
	if (err == LWM2M_OK) {
		err = bind_listen(ctx);
	}
	if (err == LWM2M_OK) {
		err = api_health_listen(ctx);
	}
	if (err != LWM2M_OK) {
		api_ctx_stop(ctx);
	}
	return err;
}

void
api_ctx_stop(struct api_ctx *ctx)
{
	if (ctx == NULL) {
		return;
	}
	if (ctx->htp != NULL) {
		evhtp_unbind_socket(ctx->htp);
		evhtp_free(ctx->htp);
		ctx->htp = NULL;
	}
	ctx->health = lwm2m_metrics_http_free(ctx->health);
	ctx->rpc = lwm2m_rpc_client_free(ctx->rpc);
	ctx->limits = api_limits_free(ctx->limits);
	ctx->jwt_cache = api_jwt_cache_free(ctx->jwt_cache);
	lwm2m_redis_free(ctx->redis);
	ctx->redis = NULL;
}
