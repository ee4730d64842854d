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
 *
 * Over-long lines (head_lines_ok): libevhtp's parser holds one token of
 * the request head (the URI, a header name or value) in an 8 KB buffer and
 * fails on a longer one before any hook runs, and libevhtp then closes
 * the connection without a word.  So before each parse of a request head
 * the wrapper checks that no line of the input is longer than
 * API_LINE_MAX: a longer request line gets 414, a longer header line 431,
 * written straight into the output (there may be no request yet), and the
 * connection is closed once that is sent.  Ordinary requests cost a length
 * comparison and a memrchr (the bytes of the line the parser has taken
 * already, for the next read); the lines are scanned only when the line
 * so far and the input together exceed API_LINE_MAX, and never in a body:
 * api_server_head_done marks the end of the head, and a request that was
 * answered starts the next one.  The blank lines the parser skips before a
 * request line are drained there too: it skips one per call, after which
 * libevhtp "resumes" the connection that is not paused (the ODDITY).
 */
#define _GNU_SOURCE /* memrchr */
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
/* bytes of one line of a request head before its LF, CR included: the
 * parser keeps up to 8,191 bytes of a token, so any shorter line parses */
#define API_LINE_MAX 8191

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
	size_t line;      /* bytes of the head's current line parsed so far */
	size_t next_line; /* the same once the input is parsed */
	bool in_headers;  /* the current head's request line ended */
	bool in_body;     /* the current head ended (api_server_head_done) */
	bool closing;     /* refused: the answer goes out, then the close */
	bool lingering;   /* the answer is out: input is dropped until close */
	bool freeing;     /* free_refused ran */
};

static void on_flushed(struct evbuffer *buf,
                       const struct evbuffer_cb_info *info, void *arg);

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
	case 414:
		return "URITooLong";
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

/* frees the refused (paused) connection of c: libevhtp's resume callback
 * does it, in the next loop iteration */
static void
free_refused(struct api_conn *c)
{
	if (c->freeing) {
		return;
	}
	c->freeing = true;
	evbuffer_remove_cb(bufferevent_get_output(c->conn->bev), on_flushed, c);
	c->conn->flags |= EVHTP_CONN_FLAG_FREE_CONN;
	evhtp_connection_resume(c->conn);
}

/* The refusal is on the wire.  Closing now, with input of the peer unread
 * or still on its way, makes the kernel reset the connection, and a reset
 * can wipe the answer from the peer's buffers before it is read.  So the
 * write side is shut (the peer reads the answer, then its end), and what
 * else comes is read and dropped (conn_readcb) until the peer closes
 * (conn_eventcb) or API_REFUSE_GIVE_UP_S after the refusal (on_give_up). */
static void
linger(struct api_conn *c)
{
	struct bufferevent *bev = c->conn->bev;
	struct evbuffer *in = bufferevent_get_input(bev);

	c->lingering = true;
	shutdown(c->conn->sock, SHUT_WR);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_enable(bev, EV_READ);
}

static void
on_flushed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct api_conn *c = arg;

	if (evbuffer_get_length(buf) > 0) {
		return;
	}
	evbuffer_remove_cb(buf, on_flushed, c);
	linger(c);
}

/* the answer did not drain (the peer reset the connection, or reads
 * nothing), or the peer did not close after it: a paused connection is
 * never freed by libevhtp's own error handling, so free it now */
static void
on_give_up(evutil_socket_t fd, short what, void *arg)
{
	free_refused(arg);
}

/* conn is paused with an answer in its output: shut it once the answer is
 * on the wire (linger), free it API_REFUSE_GIVE_UP_S after this at the
 * latest */
static void
close_when_written(evhtp_connection_t *conn)
{
	static const struct timeval give_up_after = {API_REFUSE_GIVE_UP_S, 0};
	struct api_conn *c = conn_of(conn);
	struct evbuffer *out = bufferevent_get_output(conn->bev);

	if (c == NULL) { /* not from api_server_accept: free it at once */
		conn->flags |= EVHTP_CONN_FLAG_FREE_CONN;
		evhtp_connection_resume(conn);
		return;
	}
	c->closing = true;
	if (c->give_up == NULL) {
		c->give_up = evtimer_new(c->api->base, on_give_up, c);
		if (c->give_up != NULL) {
			evtimer_add(c->give_up, &give_up_after);
		}
	}
	if (evbuffer_get_length(out) == 0) { /* written (or failed) already */
		linger(c);
	} else {
		evbuffer_add_cb(out, on_flushed, c);
	}
}

evhtp_res
api_server_refuse(evhtp_request_t *ev, int status, const char *details)
{
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
	close_when_written(evhtp_request_get_connection(ev));
	return EVHTP_RES_PAUSE;
}

/* A whole answer with the JSON error body and Connection: close, for the
 * refusals written without libevhtp (no request to answer); extra: more
 * header lines, each ending in CRLF.  Its length, or -1 when it does not
 * fit size. */
static int
raw_reply(char *buf, size_t size, int status, const char *reason,
          const char *extra, const char *details)
{
	char body[256];
	int n = error_body(body, sizeof body, status, details);
	int m;

	if (n <= 0 || (size_t)n >= sizeof body) {
		return -1;
	}
	m = snprintf(buf, size,
	             "HTTP/1.1 %d %s\r\n"
	             "Content-Type: application/vnd.imgtec.error+json\r\n"
	             "Content-Length: %d\r\n%sConnection: close\r\n\r\n%s",
	             status, reason, n, extra, body);
	return m > 0 && (size_t)m < size ? m : -1;
}

/* status (414 or 431) for a line of the request head longer than
 * API_LINE_MAX: written straight into the output (the request may not
 * exist yet), reading and parsing stop, and the connection is closed once
 * the answer is sent */
static void
refuse_line(struct api_conn *c, int status)
{
	char details[96], msg[768];
	int n;

	snprintf(details, sizeof details, "%s longer than %d bytes",
	         status == 414 ? "request line" : "request header line",
	         API_LINE_MAX);
	lwm2m_log(LWM2M_LOG_NOTICE, "HTTP request refused: %d %s", status,
	          details);
	n = raw_reply(msg, sizeof msg, status,
	              status == 414 ? "URI Too Long"
	                            : "Request Header Fields Too Large",
	              "", details);
	evhtp_connection_pause(c->conn);
	if (n > 0) {
		bufferevent_write(c->conn->bev, msg, (size_t)n);
	}
	close_when_written(c->conn);
}

/* The lines of the request head in p (len bytes, the parser's input), the
 * first one continuing the c->line bytes parsed before: 414 or 431 for
 * one longer than API_LINE_MAX, else 0 and c->next_line set.  Empty lines
 * before the request line are skipped (as the parser does); the first
 * empty line after it ends the head. */
static int
scan_head(struct api_conn *c, const char *p, size_t len)
{
	const char *end = p + len, *nl;
	bool headers = c->in_headers;
	size_t line = c->line;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		line += (size_t)(nl - p);
		if (line > API_LINE_MAX) {
			return headers ? 431 : 414;
		}
		if (line <= 1 && headers) {
			c->next_line = 0;
			return 0; /* the head ends: a body follows */
		}
		headers = headers || line > 1;
		line = 0;
		p = nl + 1;
	}
	line += (size_t)(end - p);
	if (line > API_LINE_MAX) {
		return headers ? 431 : 414;
	}
	c->next_line = line;
	return 0;
}

/* The CR and LF bytes before a request line in p (len bytes), which the
 * parser skips, but one per call, after which libevhtp "resumes" the
 * connection that is not paused ("ODDITY" on stderr): drained here. */
static size_t
blank_prefix(const char *p, size_t len)
{
	size_t k = 0;

	while (k < len && (p[k] == '\r' || p[k] == '\n')) {
		k++;
	}
	return k;
}

/* Before libevhtp's callback parses in: false when a line of a request
 * head in it is too long (refuse_line has answered).  Drains the blank
 * lines before a request line (blank_prefix).  Sets c->next_line, the
 * bytes of the head's last line once in is parsed, which parse_input
 * keeps while the head goes on. */
static bool
head_lines_ok(struct api_conn *c, struct evbuffer *in)
{
	evhtp_request_t *req = c->conn->request;
	size_t len = evbuffer_get_length(in), k = 0;
	const char *p, *nl;
	int status;

	if (req != NULL && !(req->flags & EVHTP_REQ_FLAG_FINISHED) &&
	    c->in_body) {
		return true;
	}
	p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
	if (p == NULL) {
		return true; /* out of memory: libevhtp's pullup fails too */
	}
	if (req == NULL || (req->flags & EVHTP_REQ_FLAG_FINISHED)) {
		c->line = 0; /* the parser starts the next request */
		c->in_headers = false;
		c->in_body = false;
		k = blank_prefix(p, len);
	}
	if (k > 0) {
		evbuffer_drain(in, k);
		len -= k;
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
		if (p == NULL || len == 0) {
			return true;
		}
	}
	if (c->line + len <= API_LINE_MAX) {
		nl = memrchr(p, '\n', len);
		c->next_line =
		    nl != NULL ? (size_t)(p + len - nl - 1) : c->line + len;
		return true;
	}
	status = scan_head(c, p, len);
	if (status == 0) {
		return true;
	}
	refuse_line(c, status);
	return false;
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

/* the request line ended: the lines that follow are headers */
static evhtp_res
on_headers_start(evhtp_request_t *ev, void *arg)
{
	struct api_conn *c = arg;

	c->in_headers = true;
	return EVHTP_RES_OK;
}

void
api_server_head_done(evhtp_request_t *ev)
{
	struct api_conn *c = conn_of(evhtp_request_get_connection(ev));

	if (c != NULL) {
		c->in_body = true;
	}
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
		if (!head_lines_ok(c, in) ||
		    (left = evbuffer_get_length(in)) == 0) {
			break;
		}
		c->parsing = true;
		c->htp_readcb(bev, c->conn);
		if (!alive) {
			return false;
		}
		c->parsing = false;
		unstop_parser(c);
		if (!c->in_body) { /* the head goes on in the next input */
			c->line = c->next_line;
		}
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
	struct api_conn *c = arg;

	if (c->lingering) {
		evbuffer_drain(bufferevent_get_input(bev),
		               evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	parse_input(c, bev);
}

/* libevhtp's write callback (it finishes the answered request), then the
 * input that waited behind it */
static void
conn_writecb(struct bufferevent *bev, void *arg)
{
	struct api_conn *c = arg;
	evhtp_request_t *req;
	bool alive = true;

	if (c->closing) { /* nothing to finish: the connection closes */
		return;
	}
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

	if (c->lingering) { /* the peer closed, or an error: done */
		free_refused(c);
		return;
	}
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
	char msg[512];
	int m;

	if (conn->ssl != NULL) {
		return;
	}
	m = raw_reply(msg, sizeof msg, 503, "Service Unavailable",
	              "Retry-After: 1\r\n", "too many connections, try again");
	if (m > 0 && send(conn->sock, msg, (size_t)m,
	                  MSG_DONTWAIT | MSG_NOSIGNAL) == m) {
		shutdown(conn->sock, SHUT_WR);
	}
}

evhtp_res
api_server_accept(struct api_ctx *api, evhtp_connection_t *conn)
{
	struct api_conn *c;

	if (api->cfg.max_conns == 0) { /* main.c did not configure it */
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
	evhtp_connection_set_hook(conn, evhtp_hook_on_headers_start,
	                          (evhtp_hook)on_headers_start, c);
	evhtp_connection_set_hook(conn, evhtp_hook_on_header,
	                          (evhtp_hook)on_header, c);
	wrap_callbacks(c);
	return EVHTP_RES_OK;
}
