/* api_server.c - connection and header limits of the HTTP server.
 *
 * libevhtp 1.2.18 has neither: it keeps every header a peer sends (only a
 * single line is bounded, by its parser) and accepts every connection.
 * Each connection gets a small struct api_conn that counts the header bytes
 * of the current request (reset when the next request line arrives) and
 * the open connections of the service.
 *
 * Refusing a request early (api_server_refuse): pause the request and
 * answer with evhtp_send_reply while the parser hook runs, and return
 * EVHTP_RES_PAUSE so that the parser stops: the rest of the request, a
 * body announced too large for instance, is never read.  A paused
 * connection ignores its write callback, so a callback on the output
 * buffer notices when the answer is on the wire, marks the connection
 * EVHTP_CONN_FLAG_FREE_CONN and resumes it: libevhtp's resume callback
 * then frees it.  When the answer does not drain within
 * API_REFUSE_GIVE_UP_S (the peer reset the connection first: a paused
 * connection survives libevhtp's error handling and would keep its place
 * under LWDS_HTTP_MAX_CONNECTIONS), a timer does the same.
 *
 * Holding a request that is answered later (api_server_hold): libevhtp's
 * own way, evhtp_request_pause, turns the connection's read interest off
 * and its resumption turns it back on and waits for the socket to be
 * writable: three epoll_ctl and one more loop iteration per request.
 * Instead, api_server_accept wraps the connection's bufferevent callbacks:
 * while a request is held the read callback leaves the input where it is
 * (a pipelining client's next request is not parsed over the unanswered
 * one; a read high watermark bounds what waits), and api_server_release
 * writes the answer in the loop iteration that produced it, by running the
 * bufferevent's pending write event at once, then parses whatever input
 * waited.  Where that is not possible (a request parsed outside the
 * wrapped callback, or the peer's end of input or a read time-out while
 * held) libevhtp's pause is used as before.
 *
 * One request per call (stop_parser): libevhtp's read callback parses one
 * request and, when input is left after it, calls evhtp_connection_resume
 * to go on, which on a connection that is not paused does nothing but
 * print "ODDITY, resuming when not paused?!?" on stderr.  So once a request
 * parsed from the wrapped callback is answered or held, the request is
 * marked paused the way evhtp_request_pause marks it, without turning read
 * interest off: libevhtp's callback then stops without resuming, and the
 * wrapper clears the mark as soon as the callback returns and parses the
 * rest itself.
 */
#include "api_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include "lwm2m_log.h"
#include "lwm2m_loop.h"

#define API_REFUSE_GIVE_UP_S 1
/* input a held connection buffers beyond one request's header limit */
#define API_HELD_INPUT_MAX 65536

struct api_conn {
	struct api_ctx *api;
	evhtp_connection_t *conn;
	size_t hdr_bytes;      /* of the request being parsed */
	bool refused;          /* the header limit answered already */
	struct event *give_up; /* a refused connection is freed by then */
	bufferevent_data_cb htp_readcb; /* libevhtp's, wrapped */
	bufferevent_data_cb htp_writecb;
	bufferevent_event_cb htp_eventcb;
	bool *alive;  /* set false when the connection is freed */
	bool parsing; /* conn_readcb runs libevhtp's parser */
	bool held;    /* a request waits for its answer; input waits too */
	bool paused;  /* the held request fell back to evhtp_request_pause */
	bool stopped; /* stop_parser marked the connection paused */
	evhtp_res stopped_status; /* the request's status before that */
};

static struct api_conn *
conn_of(evhtp_connection_t *conn)
{
	if (conn == NULL || conn->hooks == NULL) {
		return NULL;
	}
	return conn->hooks->on_connection_fini_arg;
}

static const char *
status_text(int status)
{
	switch (status) {
	case 413:
		return "PayloadTooLarge";
	case 431:
		return "RequestHeaderFieldsTooLarge";
	default:
		return "ServiceUnavailable";
	}
}

/* the JSON error document of api_reply_error, for details without quotes
 * or backslashes */
static int
error_body(char *buf, size_t size, int status, const char *details)
{
	return snprintf(buf, size,
	                "{\"ErrorCode\":\"%s\",\"ErrorMessage\":\"Exception\","
	                "\"ErrorDetails\":\"%s\"}",
	                status_text(status), details);
}

static lwm2m_err
parse_env(const char *name, long long min, long long max, long long *val)
{
	const char *v = lwm2m_getenv(name, NULL);

	if (v != NULL && lwm2m_parse_int(v, min, max, val) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "%s: not a number in %lld..%lld", name,
		          min, max);
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

lwm2m_err
api_server_config(struct api_config *cfg)
{
	long long io = API_IO_TIMEOUT_DEFAULT_S;

	if (parse_env("LWDS_HTTP_IO_TIMEOUT_S", 1, 3600, &io) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	cfg->io_timeout_s = (unsigned)io;
	return LWM2M_OK;
}

/* the refusal is on the wire: let libevhtp free the connection */
static void
on_flushed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	evhtp_connection_t *conn = arg;

	if (evbuffer_get_length(buf) > 0) {
		return;
	}
	evbuffer_remove_cb(buf, on_flushed, conn);
	conn->flags |= EVHTP_CONN_FLAG_FREE_CONN;
	evhtp_connection_resume(conn);
}

/* the answer did not drain (the peer reset the connection, or reads
 * nothing): a paused connection is never freed by libevhtp's own error
 * handling, so free it now */
static void
on_give_up(evutil_socket_t fd, short what, void *arg)
{
	struct api_conn *c = arg;

	evbuffer_remove_cb(bufferevent_get_output(c->conn->bev), on_flushed,
	                   c->conn);
	c->conn->flags |= EVHTP_CONN_FLAG_FREE_CONN;
	evhtp_connection_resume(c->conn);
}

evhtp_res
api_server_refuse(evhtp_request_t *ev, int status, const char *details)
{
	static const struct timeval give_up_after = {API_REFUSE_GIVE_UP_S, 0};
	evhtp_connection_t *conn = evhtp_request_get_connection(ev);
	struct api_conn *c;
	struct evbuffer *out;
	char body[512];
	int n = error_body(body, sizeof body, status, details);

	evhtp_request_set_keepalive(ev, 0);
	evhtp_headers_add_header(
	    ev->headers_out,
	    evhtp_header_new("Content-Type",
	                     "application/vnd.imgtec.error+json", 0, 0));
	evhtp_headers_add_header(ev->headers_out,
	                         evhtp_header_new("Connection", "close", 0, 0));
	if (n > 0 && (size_t)n < sizeof body) {
		evbuffer_add(ev->buffer_out, body, (size_t)n);
	}
	lwm2m_log(LWM2M_LOG_NOTICE, "HTTP request refused: %d %s", status,
	          details);
	evhtp_request_pause(ev);
	evhtp_send_reply(ev, (evhtp_res)status);
	c = conn_of(conn);
	if (c != NULL && c->give_up == NULL) {
		c->give_up = evtimer_new(c->api->base, on_give_up, c);
		if (c->give_up != NULL) {
			evtimer_add(c->give_up, &give_up_after);
		}
	}
	out = bufferevent_get_output(conn->bev);
	if (evbuffer_get_length(out) == 0) { /* written (or failed) already */
		conn->flags |= EVHTP_CONN_FLAG_FREE_CONN;
		evhtp_connection_resume(conn);
	} else {
		evbuffer_add_cb(out, on_flushed, conn);
	}
	return EVHTP_RES_PAUSE;
}

/* a new request line: its headers start from zero */
static evhtp_res
on_path(evhtp_request_t *ev, evhtp_path_t *path, void *arg)
{
	struct api_conn *c = arg;

	c->hdr_bytes = 0;
	c->refused = false;
	return EVHTP_RES_OK;
}

static evhtp_res
on_header(evhtp_request_t *ev, evhtp_header_t *hdr, void *arg)
{
	struct api_conn *c = arg;
	char details[128];

	if (c->refused) {
		return EVHTP_RES_PAUSE;
	}
	/* "Name: value\r\n" */
	c->hdr_bytes += hdr->klen + hdr->vlen + 4;
	if (c->hdr_bytes <= c->api->cfg.max_header) {
		return EVHTP_RES_OK;
	}
	c->refused = true;
	snprintf(details, sizeof details,
	         "request headers larger than %zu bytes",
	         c->api->cfg.max_header);
	return api_server_refuse(ev, 431, details);
}

static evhtp_res
on_conn_fini(evhtp_connection_t *conn, void *arg)
{
	struct api_conn *c = arg;

	c->api->n_conns--;
	if (c->alive != NULL) {
		*c->alive = false;
	}
	if (c->give_up != NULL) {
		event_free(c->give_up);
	}
	free(c);
	return EVHTP_RES_OK;
}

/* The request callback is done with ev, parsed by parse_input: stop
 * libevhtp's read callback after it (see the top); parse_input undoes
 * this when the callback returns. */
static void
stop_parser(struct api_conn *c, evhtp_request_t *ev)
{
	if (c->stopped || (c->conn->flags & EVHTP_CONN_FLAG_PAUSED)) {
		return;
	}
	c->stopped = true;
	c->stopped_status = ev->status;
	ev->status = EVHTP_RES_PAUSE;
	c->conn->flags |= EVHTP_CONN_FLAG_PAUSED;
}

static void
unstop_parser(struct api_conn *c)
{
	if (!c->stopped) {
		return;
	}
	c->stopped = false;
	c->conn->flags &= ~EVHTP_CONN_FLAG_PAUSED;
	if (c->conn->request != NULL) {
		c->conn->request->status = c->stopped_status;
	}
}

/* Parses the input of c one request at a time with libevhtp's read
 * callback, until a request is held (its answer comes later: the rest of
 * the input waits for api_server_release), libevhtp pauses, the input is
 * used up or a call makes no progress.  libevhtp's callback parses one
 * request per call (stop_parser), hence the loop.
 * False when the connection was freed meanwhile. */
static bool
parse_input(struct api_conn *c, struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	bool alive = true;
	size_t left;

	c->alive = &alive;
	while ((left = evbuffer_get_length(in)) > 0 && !c->held &&
	       !(c->conn->flags & EVHTP_CONN_FLAG_PAUSED)) {
		c->parsing = true;
		c->htp_readcb(bev, c->conn);
		if (!alive) {
			return false;
		}
		c->parsing = false;
		unstop_parser(c);
		if (evbuffer_get_length(in) >= left) {
			break;
		}
	}
	c->alive = NULL;
	return true;
}

static void
conn_readcb(struct bufferevent *bev, void *arg)
{
	parse_input(arg, bev);
}

/* libevhtp's write callback (it finishes the answered request), then the
 * input that waited behind it */
static void
conn_writecb(struct bufferevent *bev, void *arg)
{
	struct api_conn *c = arg;
	evhtp_request_t *req;
	bool alive = true;

	c->alive = &alive;
	c->htp_writecb(bev, c->conn);
	if (!alive) {
		return;
	}
	c->alive = NULL;
	req = c->conn->request;
	if (req == NULL || (req->flags & EVHTP_REQ_FLAG_FINISHED)) {
		parse_input(c, bev);
	}
}

/* The peer's end of input or a read time-out while a request is held: the
 * request still gets its answer, so stop reading the way libevhtp's pause
 * does; its resumption after the answer reads again and then sees the end
 * of input, or restarts the read time-out.  Anything else is libevhtp's. */
static void
conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct api_conn *c = arg;

	if (c->held && !c->paused && (what & BEV_EVENT_READING) &&
	    (what & (BEV_EVENT_EOF | BEV_EVENT_TIMEOUT))) {
		c->paused = true;
		evhtp_request_pause(c->conn->request);
		return;
	}
	c->htp_eventcb(bev, what, c->conn);
}

bool
api_server_hold(evhtp_request_t *ev)
{
	struct api_conn *c = conn_of(evhtp_request_get_connection(ev));

	if (c == NULL || !c->parsing || c->held) {
		return false;
	}
	c->held = true;
	c->paused = false;
	stop_parser(c, ev);
	return true;
}

void
api_server_answered(evhtp_request_t *ev)
{
	struct api_conn *c = conn_of(evhtp_request_get_connection(ev));

	if (c != NULL && c->parsing) {
		stop_parser(c, ev);
	}
}

void
api_server_release(evhtp_request_t *ev)
{
	evhtp_connection_t *conn = evhtp_request_get_connection(ev);
	struct api_conn *c = conn_of(conn);
	struct bufferevent *bev = conn->bev;

	if (c == NULL || !c->held) {
		return;
	}
	c->held = false;
	if (c->paused) {
		c->paused = false;
		evhtp_request_resume(ev);
		return;
	}
	/* the answer made the write event pending for the next iteration:
	 * run it in this one (TLS bufferevents write on their own terms) */
	if (conn->ssl == NULL &&
	    event_pending(&bev->ev_write, EV_WRITE, NULL)) {
		event_active(&bev->ev_write, EV_WRITE, 1);
	}
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		bufferevent_trigger(bev, EV_READ,
		                    BEV_TRIG_IGNORE_WATERMARKS |
		                        BEV_TRIG_DEFER_CALLBACKS);
	}
}

/* wraps libevhtp's bufferevent callbacks of conn (see the top) */
static void
wrap_callbacks(struct api_conn *c)
{
	struct bufferevent *bev = c->conn->bev;

	bufferevent_getcb(bev, &c->htp_readcb, &c->htp_writecb, &c->htp_eventcb,
	                  NULL);
	bufferevent_setcb(bev, conn_readcb, conn_writecb, conn_eventcb, c);
	bufferevent_setwatermark(bev, EV_READ, 0,
	                         c->api->cfg.max_header + API_HELD_INPUT_MAX);
}

/* plain HTTP over the limit: a 503 straight into the fresh socket (a few
 * hundred bytes fit its send buffer); TLS connections are just closed */
static void
send_busy(struct api_ctx *api, evhtp_connection_t *conn)
{
	char body[256], msg[512];
	int n, m;

	if (conn->ssl != NULL) {
		return;
	}
	n = error_body(body, sizeof body, 503,
	               "too many connections, try again");
	m = snprintf(msg, sizeof msg,
	             "HTTP/1.1 503 Service Unavailable\r\n"
	             "Content-Type: application/vnd.imgtec.error+json\r\n"
	             "Content-Length: %d\r\nRetry-After: 1\r\n"
	             "Connection: close\r\n\r\n%s",
	             n, body);
	if (n > 0 && m > 0 && (size_t)m < sizeof msg &&
	    send(conn->sock, msg, (size_t)m, MSG_DONTWAIT | MSG_NOSIGNAL) ==
	        m) {
		shutdown(conn->sock, SHUT_WR);
	}
}

evhtp_res
api_server_accept(struct api_ctx *api, evhtp_connection_t *conn)
{
	struct api_conn *c;

	if (api->cfg.max_conns == 0) { /* api_server_config did not run */
		api->cfg.max_conns = API_MAX_CONNS_DEFAULT;
	}
	if (api->cfg.max_header == 0) {
		api->cfg.max_header = API_MAX_HEADER_DEFAULT;
	}
	if (api->n_conns >= api->cfg.max_conns) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "connection refused: %u open "
		          "(LWDS_HTTP_MAX_CONNECTIONS)",
		          api->n_conns);
		send_busy(api, conn);
		return EVHTP_RES_SERVUNAVAIL;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		return EVHTP_RES_FATAL;
	}
	c->api = api;
	c->conn = conn;
	api->n_conns++;
	evhtp_connection_set_hook(conn, evhtp_hook_on_connection_fini,
	                          (evhtp_hook)on_conn_fini, c);
	evhtp_connection_set_hook(conn, evhtp_hook_on_path, (evhtp_hook)on_path,
	                          c);
	evhtp_connection_set_hook(conn, evhtp_hook_on_header,
	                          (evhtp_hook)on_header, c);
	wrap_callbacks(c);
	return EVHTP_RES_OK;
}
