/* wh_http.c - a small HTTP(S) client pool on libevent's evhttp: per
 * scheme/host/port at most max_conn_per_host keep-alive connections, one
 * request at a time on each, the rest waiting in the host's queue. */
#include "wh.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lwm2m_log.h"

#define WH_RESPONSE_HEADERS_MAX 16384 /* bytes of a hook's response headers */
#define WH_RESPONSE_BODY_MAX 65536    /* bytes of a hook's response body */

struct wh_host;

struct wh_req {
	TAILQ_ENTRY(wh_req) link;
	struct wh_host *host;
	struct wh_conn *conn;
	struct evhttp_request *req; /* ours until made, then evhttp's */
	char *target;               /* path and query */
	const char *error;          /* set by on_error */
	wh_http_cb cb;
	void *arg;
};
TAILQ_HEAD(wh_req_list, wh_req);

struct wh_conn {
	TAILQ_ENTRY(wh_conn) link;
	struct wh_host *host;
	struct evhttp_connection *evcon;
	struct wh_req *cur; /* the request in flight, or NULL when idle */
	bool closed;        /* the peer or an error closed it: make anew */
};
TAILQ_HEAD(wh_conn_list, wh_conn);

struct wh_host {
	TAILQ_ENTRY(wh_host) link;
	struct wh_http *http;
	char *name;
	int port;
	bool tls;
	struct wh_conn_list conns;
	unsigned n_conns;
	struct wh_req_list waiting;
	struct event *pump;
};
TAILQ_HEAD(wh_host_list, wh_host);

struct wh_http {
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *ssl;
	struct wh_http_config config;
	struct wh_host_list hosts;
	unsigned n_hosts;
	unsigned active;
	struct event *reap_ev; /* drops idle hosts past max_hosts */
};

static void
req_finish(struct wh_req *r, int status, const char *error)
{
	r->host->http->active--;
	r->cb(status, error, r->arg);
	free(r->target);
	free(r);
}

static void
conn_free(struct wh_conn *c)
{
	struct wh_host *h = c->host;

	if (c->cur != NULL) {
		c->cur->conn = NULL;
		req_finish(c->cur, 0, "shutdown");
		c->cur = NULL;
	}
	TAILQ_REMOVE(&h->conns, c, link);
	h->n_conns--;
	if (c->evcon != NULL) {
		evhttp_connection_free(c->evcon);
	}
	free(c);
}

static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	struct wh_conn *c = arg;

	c->closed = true;
}

static struct bufferevent *
tls_bufferevent(struct wh_http *http, const char *name)
{
	struct in6_addr a;
	struct bufferevent *bev;
	SSL *ssl = SSL_new(http->ssl);
	bool ip = inet_pton(AF_INET, name, &a) == 1 ||
	          inet_pton(AF_INET6, name, &a) == 1;

	if (ssl == NULL) {
		return NULL;
	}
	if (!ip) {
		SSL_set_tlsext_host_name(ssl, name);
		SSL_set1_host(ssl, name);
	} else {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
	}
	bev = bufferevent_openssl_socket_new(
	    http->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static struct wh_conn *
conn_new(struct wh_host *h)
{
	struct wh_http *http = h->http;
	struct wh_conn *c = calloc(1, sizeof *c);
	struct bufferevent *bev = NULL;
	struct timeval tv = {.tv_sec = http->config.timeout_ms / 1000,
	                     .tv_usec =
	                         (http->config.timeout_ms % 1000) * 1000};

	if (c == NULL) {
		return NULL;
	}
	if (h->tls && (bev = tls_bufferevent(http, h->name)) == NULL) {
		free(c);
		return NULL;
	}
	c->evcon = evhttp_connection_base_bufferevent_new(
	    http->base, http->dns, bev, h->name, (unsigned short)h->port);
	if (c->evcon == NULL) {
		free(c);
		return NULL;
	}
	evhttp_connection_set_timeout_tv(c->evcon, &tv);
	evhttp_connection_set_retries(c->evcon, 0);
	/* the hook's answer is only read for its status: bound what it may
	 * make us buffer */
	evhttp_connection_set_max_headers_size(c->evcon,
	                                       WH_RESPONSE_HEADERS_MAX);
	evhttp_connection_set_max_body_size(c->evcon, WH_RESPONSE_BODY_MAX);
	evhttp_connection_set_closecb(c->evcon, on_close, c);
	c->host = h;
	TAILQ_INSERT_TAIL(&h->conns, c, link);
	h->n_conns++;
	return c;
}

/* idle_conn returns an idle open connection of h, dropping closed idle ones
 * (an https connection cannot reconnect on its used TLS state), or a new one
 * while below the limit, or NULL. */
static struct wh_conn *
idle_conn(struct wh_host *h)
{
	struct wh_conn *c, *next;

	for (c = TAILQ_FIRST(&h->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->cur == NULL && c->closed) {
			conn_free(c);
		} else if (c->cur == NULL) {
			return c;
		}
	}
	if (h->n_conns < h->http->config.max_conn_per_host) {
		return conn_new(h);
	}
	return NULL;
}

static void
on_error(enum evhttp_request_error e, void *arg)
{
	struct wh_req *r = arg;

	switch (e) {
	case EVREQ_HTTP_TIMEOUT:
		r->error = "timeout";
		break;
	case EVREQ_HTTP_EOF:
		r->error = "connection closed";
		break;
	case EVREQ_HTTP_INVALID_HEADER:
	case EVREQ_HTTP_DATA_TOO_LONG:
		r->error = "bad response";
		break;
	case EVREQ_HTTP_BUFFER_ERROR:
	case EVREQ_HTTP_REQUEST_CANCEL:
	default:
		r->error = "connection failed";
		break;
	}
}

/* tls_error names the OpenSSL reason (e.g. "certificate verify failed")
 * when a TLS connection failed; the text is static. */
static void
tls_error(struct wh_conn *c, struct wh_req *r)
{
	struct bufferevent *bev;
	unsigned long e;

	if (!c->host->tls ||
	    (bev = evhttp_connection_get_bufferevent(c->evcon)) == NULL) {
		return;
	}
	e = bufferevent_get_openssl_error(bev);
	if (e != 0 && ERR_reason_error_string(e) != NULL) {
		r->error = ERR_reason_error_string(e);
	}
}

static void
on_response(struct evhttp_request *req, void *arg)
{
	struct wh_req *r = arg;
	struct wh_conn *c = r->conn;
	int status = req != NULL ? evhttp_request_get_response_code(req) : 0;

	if (c != NULL) {
		c->cur = NULL;
		if (status == 0) {
			c->closed = true;
			tls_error(c, r);
		}
		event_active(c->host->pump, EV_TIMEOUT, 0);
	}
	if (status == 0 && r->error == NULL) {
		r->error = "connection failed";
	}
	req_finish(r, status, status == 0 ? r->error : NULL);
}

static void
dispatch(struct wh_conn *c, struct wh_req *r)
{
	struct evhttp_request *req = r->req;

	r->req = NULL;
	r->conn = c;
	c->cur = r;
	if (evhttp_make_request(c->evcon, req, EVHTTP_REQ_POST, r->target) !=
	    0) {
		/* evhttp keeps or frees req on this path; never touch it */
		c->cur = NULL;
		c->closed = true;
		r->conn = NULL;
		req_finish(r, 0, "connection failed");
	}
}

static void
on_pump(evutil_socket_t fd, short what, void *arg)
{
	struct wh_host *h = arg;
	struct wh_req *r;
	struct wh_conn *c;

	while ((r = TAILQ_FIRST(&h->waiting)) != NULL) {
		c = idle_conn(h);
		if (c == NULL) {
			return;
		}
		TAILQ_REMOVE(&h->waiting, r, link);
		dispatch(c, r);
	}
}

static void
host_free(struct wh_host *h)
{
	struct wh_req *r;

	while ((r = TAILQ_FIRST(&h->waiting)) != NULL) {
		TAILQ_REMOVE(&h->waiting, r, link);
		evhttp_request_free(r->req);
		req_finish(r, 0, "shutdown");
	}
	while (!TAILQ_EMPTY(&h->conns)) {
		conn_free(TAILQ_FIRST(&h->conns));
	}
	TAILQ_REMOVE(&h->http->hosts, h, link);
	h->http->n_hosts--;
	if (h->pump != NULL) {
		event_free(h->pump);
	}
	free(h->name);
	free(h);
}

static bool
host_idle(const struct wh_host *h)
{
	const struct wh_conn *c;

	if (!TAILQ_EMPTY(&h->waiting)) {
		return false;
	}
	TAILQ_FOREACH(c, &h->conns, link)
	{
		if (c->cur != NULL) {
			return false;
		}
	}
	return true;
}

/* on_reap bounds the number of hosts kept (web hook URLs come from users).
 * It runs as its own loop callback, never nested in an evhttp or pump
 * callback, so freeing a host is safe. */
static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct wh_http *http = arg;
	struct wh_host *h, *next;

	for (h = TAILQ_FIRST(&http->hosts);
	     h != NULL && http->n_hosts >= http->config.max_hosts; h = next) {
		next = TAILQ_NEXT(h, link);
		if (host_idle(h)) {
			host_free(h);
		}
	}
}

static struct wh_host *
host_get(struct wh_http *http, const char *name, int port, bool tls)
{
	struct wh_host *h;

	TAILQ_FOREACH(h, &http->hosts, link)
	{
		if (h->port == port && h->tls == tls &&
		    strcmp(h->name, name) == 0) {
			return h;
		}
	}
	if (http->n_hosts >= http->config.max_hosts) {
		event_active(http->reap_ev, EV_TIMEOUT, 0);
	}
	h = calloc(1, sizeof *h);
	if (h == NULL) {
		return NULL;
	}
	h->http = http;
	h->port = port;
	h->tls = tls;
	TAILQ_INIT(&h->conns);
	TAILQ_INIT(&h->waiting);
	h->name = strdup(name);
	h->pump = event_new(http->base, -1, 0, on_pump, h);
	TAILQ_INSERT_TAIL(&http->hosts, h, link);
	http->n_hosts++;
	if (h->name == NULL || h->pump == NULL) {
		host_free(h);
		return NULL;
	}
	return h;
}

static SSL_CTX *
ssl_ctx_new(const struct wh_http_config *config)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1 ||
	    (config->ca_file != NULL &&
	     SSL_CTX_load_verify_locations(ctx, config->ca_file, NULL) != 1)) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot load CA certificates%s%s",
		          config->ca_file ? " from " : "",
		          config->ca_file ? config->ca_file : "");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(
	    ctx, config->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	return ctx;
}

lwm2m_err
wh_http_new(struct event_base *base, const struct wh_http_config *config,
            struct wh_http **ret_http)
{
	struct wh_http *http = calloc(1, sizeof *http);

	if (http == NULL) {
		return LWM2M_ENOMEM;
	}
	http->base = base;
	http->config = *config;
	if (http->config.max_conn_per_host == 0) {
		http->config.max_conn_per_host = 1;
	}
	if (http->config.max_hosts == 0) {
		http->config.max_hosts = 1024;
	}
	TAILQ_INIT(&http->hosts);
	http->reap_ev = event_new(base, -1, 0, on_reap, http);
	http->ssl = ssl_ctx_new(config);
	/* without a resolv.conf evhttp falls back to blocking getaddrinfo */
	http->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (http->ssl == NULL || http->reap_ev == NULL) {
		lwm2m_err err = http->ssl == NULL ? LWM2M_EINVAL : LWM2M_ENOMEM;

		wh_http_free(http);
		return err;
	}
	*ret_http = http;
	return LWM2M_OK;
}

void
wh_http_free(struct wh_http *http)
{
	if (http == NULL) {
		return;
	}
	while (!TAILQ_EMPTY(&http->hosts)) {
		host_free(TAILQ_FIRST(&http->hosts));
	}
	if (http->dns != NULL) {
		evdns_base_free(http->dns, 0);
	}
	if (http->reap_ev != NULL) {
		event_free(http->reap_ev);
	}
	SSL_CTX_free(http->ssl);
	free(http);
}

static char *
uri_target(const struct evhttp_uri *uri)
{
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	size_t len;
	char *out;

	if (path == NULL || path[0] == '\0') {
		path = "/";
	}
	len = strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
	out = malloc(len);
	if (out != NULL) {
		snprintf(out, len, "%s%s%s", path, query ? "?" : "",
		         query ? query : "");
	}
	return out;
}

static lwm2m_err
fill_request(struct wh_req *r, const struct evhttp_uri *uri,
             const struct wh_http_headers *hd, const void *body, size_t len)
{
	struct evkeyvalq *out;
	char host[300], attempt[16];
	int port = evhttp_uri_get_port(uri);

	r->req = evhttp_request_new(on_response, r);
	r->target = uri_target(uri);
	if (r->req == NULL || r->target == NULL) {
		return LWM2M_ENOMEM;
	}
	evhttp_request_set_error_cb(r->req, on_error);
	out = evhttp_request_get_output_headers(r->req);
	snprintf(host, sizeof host, port > 0 ? "%s:%d" : "%s",
	         evhttp_uri_get_host(uri), port);
	snprintf(attempt, sizeof attempt, "%u", hd->attempt);
	evhttp_add_header(out, "Host", host);
	evhttp_add_header(out, "User-Agent", "lwds-webhook/" LWDS_VERSION);
	evhttp_add_header(out, "Accept", "*/*");
	evhttp_add_header(out, "Content-Type", hd->content_type);
	evhttp_add_header(out, "X-Lwds-Delivery", hd->delivery_id);
	evhttp_add_header(out, "X-Lwds-Attempt", attempt);
	if (hd->signature != NULL) {
		evhttp_add_header(out, "X-Lwds-Signature", hd->signature);
	}
	if (evbuffer_add(evhttp_request_get_output_buffer(r->req), body, len) !=
	    0) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

static lwm2m_err
parse_url(const char *url, struct evhttp_uri **ret_uri, bool *ret_tls,
          int *ret_port)
{
	struct evhttp_uri *uri = evhttp_uri_parse(url);
	const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
	const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
	bool tls =
	    scheme != NULL && evutil_ascii_strcasecmp(scheme, "https") == 0;

	if (scheme == NULL || host == NULL || host[0] == '\0' ||
	    strlen(host) > 255 ||
	    (!tls && evutil_ascii_strcasecmp(scheme, "http") != 0)) {
		if (uri != NULL) {
			evhttp_uri_free(uri);
		}
		return LWM2M_EINVAL;
	}
	*ret_uri = uri;
	*ret_tls = tls;
	*ret_port = evhttp_uri_get_port(uri) > 0 ? evhttp_uri_get_port(uri)
	                                         : (tls ? 443 : 80);
	return LWM2M_OK;
}

/* connect_name returns host without the brackets of an IPv6 literal (the
 * Host header keeps them), using buf (at least 256 bytes). */
static const char *
connect_name(const char *host, char *buf)
{
	size_t n = strlen(host);

	if (n < 2 || host[0] != '[' || host[n - 1] != ']') {
		return host;
	}
	memcpy(buf, host + 1, n - 2);
	buf[n - 2] = '\0';
	return buf;
}

lwm2m_err
wh_http_post(struct wh_http *http, const char *url,
             const struct wh_http_headers *headers, const void *body,
             size_t body_len, wh_http_cb cb, void *arg)
{
	struct evhttp_uri *uri;
	struct wh_host *h;
	struct wh_req *r;
	lwm2m_err err;
	char name[256];
	bool tls;
	int port;

	err = parse_url(url, &uri, &tls, &port);
	if (err != LWM2M_OK) {
		return err;
	}
	h = host_get(http, connect_name(evhttp_uri_get_host(uri), name), port,
	             tls);
	r = calloc(1, sizeof *r);
	err = (h == NULL || r == NULL)
	          ? LWM2M_ENOMEM
	          : fill_request(r, uri, headers, body, body_len);
	evhttp_uri_free(uri);
	if (err != LWM2M_OK) {
		if (r != NULL && r->req != NULL) {
			evhttp_request_free(r->req);
		}
		free(r ? r->target : NULL);
		free(r);
		return err;
	}
	r->host = h;
	r->cb = cb;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&h->waiting, r, link);
	http->active++;
	event_active(h->pump, EV_TIMEOUT, 0);
	return LWM2M_OK;
}

unsigned
wh_http_active(const struct wh_http *http)
{
	return http->active;
}
