#include "lwm2m_rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/listener.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "lwm2m_log.h"

/* Requests taken from the socket per loop wake-up, so one busy socket cannot
 * starve the other sources of the loop. */
#define RECV_BATCH 256
/* A reply that cannot be handed to its pipe within this time is dropped. */
#define REPLY_TIMEOUT_MS 10000
/* Stream transport (tcp://, ipc://): the largest envelope a peer may send,
 * the most unsent bytes a connection may hold before it is closed, and the
 * reconnection back-off of a client. */
#define FRAME_MAX (16u << 20)
#define OUT_MAX (64u << 20)
#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 2000
#define CALL_BUCKETS 1024

/* Replies waiting for the socket; see send_reply. */
struct outq {
	nng_msg *msg;
	struct outq *next;
};

struct conn;

/* A tcp:// or ipc:// address of the stream transport. */
struct stream_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	bool numeric; /* ss is valid; otherwise resolve host */
	char host[256];
	int port;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* ipc */
};

struct lwm2m_rpc_server {
	struct event_base *base;
	nng_socket sock;
	struct event *ev;
	struct evconnlistener *lev; /* stream transport */
	struct conn *conns;
	char *unix_path; /* ipc: unlinked on free */
	lwm2m_rpc_handler handler;
	void *arg;
	struct lwm2m_rpc_req *reqs; /* unanswered handles */
	nng_aio *send_aio;
	pthread_mutex_t mtx; /* guards the fields below */
	bool sending, closing;
	struct outq *out_head, *out_tail;
};

struct lwm2m_rpc_req {
	struct lwm2m_rpc_server *srv; /* NULL once the server is gone */
	nng_msg *msg;                 /* nng transport */
	struct conn *conn;            /* stream transport: the request's */
	uint8_t *frame;               /* stream transport: its bytes */
	struct lwm2m_env env;
	struct lwm2m_rpc_req *prev, *next;
};

/* ---- stream transport: addresses and frames ------------------------------
 * tcp:// and ipc:// carry envelopes on byte streams driven by the libevent
 * loop itself, with no threads and no hand-over between them: a frame is a
 * u32 length (network order) and the envelope's bytes; requests and replies
 * alike, a reply matched to its call by corr_id.  nng handed every message
 * through several of its worker threads on both sides (bench/README.md,
 * REST reads).  Other URLs (inproc://) still go through nng. */

static bool
is_stream_url(const char *url)
{
	return strncmp(url, "tcp://", 6) == 0 || strncmp(url, "ipc://", 6) == 0;
}

static bool
addr_numeric(struct stream_addr *a)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;

	memset(&a->ss, 0, sizeof a->ss);
	if (inet_pton(AF_INET, a->host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)a->port);
		a->len = sizeof *v4;
		return true;
	}
	if (inet_pton(AF_INET6, a->host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)a->port);
		a->len = sizeof *v6;
		return true;
	}
	return false;
}

/* "host:port", "[v6]:port", and for listening "*:port" or ":port". */
static lwm2m_err
parse_tcp(const char *hp, bool listening, struct stream_addr *a)
{
	const char *colon = strrchr(hp, ':');
	size_t hlen;
	char *end;
	long port;

	if (colon == NULL) {
		return LWM2M_EINVAL;
	}
	port = strtol(colon + 1, &end, 10);
	hlen = (size_t)(colon - hp);
	if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535 ||
	    hlen >= sizeof a->host) {
		return LWM2M_EINVAL;
	}
	if (hlen >= 2 && hp[0] == '[' && hp[hlen - 1] == ']') {
		hp++;
		hlen -= 2;
	}
	memcpy(a->host, hp, hlen);
	a->host[hlen] = '\0';
	a->port = (int)port;
	if (hlen == 0 || strcmp(a->host, "*") == 0) {
		if (!listening) {
			return LWM2M_EINVAL;
		}
		snprintf(a->host, sizeof a->host, "0.0.0.0");
	}
	a->numeric = addr_numeric(a);
	return LWM2M_OK;
}

static lwm2m_err
stream_parse(const char *url, bool listening, struct stream_addr *ret)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&ret->ss;
	const char *path = url + 6;

	memset(ret, 0, sizeof *ret);
	if (strncmp(url, "tcp://", 6) == 0) {
		return parse_tcp(url + 6, listening, ret);
	}
	if (path[0] == '\0' || strlen(path) >= sizeof un->sun_path) {
		return LWM2M_EINVAL;
	}
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, strlen(path));
	snprintf(ret->path, sizeof ret->path, "%s", path);
	ret->len = sizeof *un;
	ret->numeric = true;
	return LWM2M_OK;
}

/* A server's host name, resolved once at start-up (before the loop runs). */
static lwm2m_err
resolve_listen(struct stream_addr *a)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE};
	struct addrinfo *res;
	char port[8];

	snprintf(port, sizeof port, "%d", a->port);
	if (getaddrinfo(a->host, port, &hints, &res) != 0) {
		return LWM2M_EINVAL;
	}
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	a->numeric = true;
	freeaddrinfo(res);
	return LWM2M_OK;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* frame_take removes one frame from in: 1 with *ret_frame (malloc'd) and
 * *ret_len, 0 while incomplete, -1 for a length no peer may send. */
static int
frame_take(struct evbuffer *in, uint8_t **ret_frame, size_t *ret_len)
{
	uint8_t hdr[4];
	uint32_t n;
	uint8_t *f;

	if (evbuffer_copyout(in, hdr, 4) < 4) {
		return 0;
	}
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (n < LWM2M_ENV_HEADER_LEN || n > FRAME_MAX) {
		return -1;
	}
	if (evbuffer_get_length(in) < 4 + (size_t)n) {
		return 0;
	}
	f = malloc(n);
	if (f == NULL) {
		return -1;
	}
	evbuffer_drain(in, 4);
	evbuffer_remove(in, f, n);
	*ret_frame = f;
	*ret_len = n;
	return 1;
}

/* frame_write appends env as one frame to out. */
static lwm2m_err
frame_write(struct evbuffer *out, const struct lwm2m_env *env)
{
	uint8_t hdr[4 + LWM2M_ENV_HEADER_MAX];
	size_t hlen, n;

	if (lwm2m_env_header_encode(env, hdr + 4, &hlen) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	n = hlen + env->payload_len;
	if (n > FRAME_MAX) {
		return LWM2M_EINVAL;
	}
	if (evbuffer_get_length(out) > OUT_MAX) {
		return LWM2M_EIO; /* the peer does not read */
	}
	put_be32(hdr, (uint32_t)n);
	if (evbuffer_add(out, hdr, 4 + hlen) != 0 ||
	    (env->payload_len > 0 &&
	     evbuffer_add(out, env->payload, env->payload_len) != 0)) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

static void
set_nodelay(struct bufferevent *bev)
{
	int one = 1;

	/* fails harmlessly on unix sockets */
	(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
	                 sizeof one);
}

/* ---- server ------------------------------------------------------------ */

static void on_reply_sent(void *arg);

static void
req_link(struct lwm2m_rpc_server *srv, struct lwm2m_rpc_req *req)
{
	req->srv = srv;
	req->next = srv->reqs;
	if (srv->reqs != NULL) {
		srv->reqs->prev = req;
	}
	srv->reqs = req;
}

/* ---- server, stream transport ------------------------------------------ */

/* One accepted connection; requests keep it (refs) until answered. */
struct conn {
	struct lwm2m_rpc_server *srv; /* NULL once closed */
	struct bufferevent *bev;      /* NULL once closed */
	int refs;                     /* 1 while open, plus one per request */
	struct conn *prev, *next;
};

/* Not inlined: GCC's use-after-free check cannot see that a caller holding
 * its own reference keeps cn alive across conn_close. */
__attribute__((noinline)) static void
conn_unref(struct conn *cn)
{
	if (cn != NULL && --cn->refs == 0) {
		free(cn);
	}
}

static void
conn_close(struct conn *cn)
{
	struct lwm2m_rpc_server *srv = cn->srv;

	if (cn->bev == NULL) {
		return;
	}
	bufferevent_free(cn->bev);
	cn->bev = NULL;
	if (cn->prev != NULL) {
		cn->prev->next = cn->next;
	} else if (srv != NULL) {
		srv->conns = cn->next;
	}
	if (cn->next != NULL) {
		cn->next->prev = cn->prev;
	}
	cn->srv = NULL;
	conn_unref(cn);
}

static void
serve_frame(struct conn *cn, uint8_t *frame, size_t len)
{
	struct lwm2m_rpc_server *srv = cn->srv;
	struct lwm2m_rpc_req *req = calloc(1, sizeof *req);

	if (req == NULL ||
	    lwm2m_env_decode_buf(frame, len, &req->env) != LWM2M_OK ||
	    (req->env.flags & LWM2M_ENV_F_REPLY) != 0) {
		lwm2m_log(LWM2M_LOG_DEBUG, "rpc: bad request, dropping");
		free(req);
		free(frame);
		return;
	}
	req->frame = frame;
	req->conn = cn;
	cn->refs++;
	req_link(srv, req);
	srv->handler(req, &req->env, srv->arg);
}

static void
on_conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *cn = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t *frame;
	size_t len;
	int r;

	cn->refs++; /* a handler may close the server, and so cn */
	while (cn->srv != NULL && (r = frame_take(in, &frame, &len)) != 0) {
		if (r < 0) {
			lwm2m_log(LWM2M_LOG_WARNING,
			          "rpc: bad frame from a peer, closing");
			conn_close(cn);
			break;
		}
		serve_frame(cn, frame, len);
	}
	conn_unref(cn);
}

static void
on_conn_event(struct bufferevent *bev, short what, void *arg)
{
	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) != 0) {
		conn_close(arg);
	}
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
          int salen, void *arg)
{
	struct lwm2m_rpc_server *srv = arg;
	struct conn *cn = calloc(1, sizeof *cn);

	if (cn == NULL || (cn->bev = bufferevent_socket_new(
	                       srv->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(cn);
		evutil_closesocket(fd);
		return;
	}
	set_nodelay(cn->bev);
	bufferevent_setcb(cn->bev, on_conn_read, NULL, on_conn_event, cn);
	bufferevent_enable(cn->bev, EV_READ);
	cn->srv = srv;
	cn->refs = 1;
	cn->next = srv->conns;
	if (srv->conns != NULL) {
		srv->conns->prev = cn;
	}
	srv->conns = cn;
}

/* True when a server answers on the unix socket path (start-up only). */
static bool
unix_in_use(const struct stream_addr *a)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool used;

	if (fd < 0) {
		return false;
	}
	used = connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0;
	close(fd);
	return used;
}

static lwm2m_err
server_open_stream(struct lwm2m_rpc_server *srv, const char *url)
{
	struct stream_addr a;
	lwm2m_err err = stream_parse(url, true, &a);

	if (err == LWM2M_OK && !a.numeric) {
		err = resolve_listen(&a);
	}
	if (err != LWM2M_OK) {
		return err;
	}
	if (a.path[0] != '\0') {
		if (unix_in_use(&a)) {
			return LWM2M_EIO;
		}
		(void)unlink(a.path); /* left by a process that died */
	}
	srv->lev = evconnlistener_new_bind(
	    srv->base, on_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    -1, (struct sockaddr *)&a.ss, (int)a.len);
	if (srv->lev == NULL) {
		lwm2m_log(LWM2M_LOG_DEBUG, "rpc: listen %s: %s", url,
		          strerror(errno));
		return LWM2M_EIO;
	}
	if (a.path[0] != '\0' && (srv->unix_path = strdup(a.path)) == NULL) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

static void
server_close_stream(struct lwm2m_rpc_server *srv)
{
	if (srv->lev != NULL) {
		evconnlistener_free(srv->lev);
		srv->lev = NULL;
	}
	while (srv->conns != NULL) {
		conn_close(srv->conns);
	}
	if (srv->unix_path != NULL) {
		(void)unlink(srv->unix_path);
		free(srv->unix_path);
		srv->unix_path = NULL;
	}
}

static lwm2m_err
reply_stream(struct lwm2m_rpc_req *req, const struct lwm2m_env *env)
{
	lwm2m_err err;

	if (req->conn->bev == NULL) {
		return LWM2M_ECLOSED;
	}
	err = frame_write(bufferevent_get_output(req->conn->bev), env);
	if (err == LWM2M_EIO) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "rpc: a peer does not read its replies, closing");
		conn_close(req->conn);
	}
	return err;
}

static void
req_unlink(struct lwm2m_rpc_req *req)
{
	if (req->srv == NULL) {
		return;
	}
	if (req->prev != NULL) {
		req->prev->next = req->next;
	} else {
		req->srv->reqs = req->next;
	}
	if (req->next != NULL) {
		req->next->prev = req->prev;
	}
	req->srv = NULL;
}

static void
serve_msg(struct lwm2m_rpc_server *srv, nng_msg *msg)
{
	struct lwm2m_rpc_req *req;

	req = calloc(1, sizeof *req);
	if (req == NULL || lwm2m_env_decode(msg, &req->env) != LWM2M_OK ||
	    (req->env.flags & LWM2M_ENV_F_REPLY) != 0) {
		lwm2m_log(LWM2M_LOG_DEBUG, "rpc: bad request, dropping");
		free(req);
		nng_msg_free(msg);
		return;
	}
	req->msg = msg;
	req_link(srv, req);
	srv->handler(req, &req->env, srv->arg);
}

static void
on_server_readable(evutil_socket_t fd, short what, void *arg)
{
	struct lwm2m_rpc_server *srv = arg;
	nng_msg *msg;

	for (int i = 0; i < RECV_BATCH; i++) {
		if (nng_recvmsg(srv->sock, &msg, NNG_FLAG_NONBLOCK) != 0) {
			return;
		}
		serve_msg(srv, msg);
	}
}

static lwm2m_err
server_open(struct lwm2m_rpc_server *srv, struct event_base *base,
            const char *url)
{
	int fd, rv;

	rv = nng_rep0_open_raw(&srv->sock);
	if (rv != 0) {
		return lwm2m_env_nng_err(rv);
	}
	rv = nng_listen(srv->sock, url, NULL, 0);
	if (rv == 0) {
		rv = nng_socket_get_int(srv->sock, NNG_OPT_RECVFD, &fd);
	}
	if (rv != 0) {
		lwm2m_log(LWM2M_LOG_DEBUG, "rpc: listen %s: %s", url,
		          nng_strerror(rv));
		return rv == NNG_EADDRINUSE ? LWM2M_EIO : lwm2m_env_nng_err(rv);
	}
	srv->ev =
	    event_new(base, fd, EV_READ | EV_PERSIST, on_server_readable, srv);
	if (srv->ev == NULL || event_add(srv->ev, NULL) != 0) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_rpc_server_new(struct event_base *base, const char *url,
                     lwm2m_rpc_handler handler, void *arg,
                     struct lwm2m_rpc_server **ret_srv)
{
	struct lwm2m_rpc_server *srv = calloc(1, sizeof *srv);
	lwm2m_err err;

	if (srv == NULL) {
		return LWM2M_ENOMEM;
	}
	srv->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
	srv->base = base;
	srv->handler = handler;
	srv->arg = arg;
	pthread_mutex_init(&srv->mtx, NULL);
	if (nng_aio_alloc(&srv->send_aio, on_reply_sent, srv) != 0) {
		lwm2m_rpc_server_free(srv);
		return LWM2M_ENOMEM;
	}
	nng_aio_set_timeout(srv->send_aio, REPLY_TIMEOUT_MS);
	err = is_stream_url(url) ? server_open_stream(srv, url)
	                         : server_open(srv, base, url);
	if (err != LWM2M_OK) {
		lwm2m_rpc_server_free(srv);
		return err;
	}
	*ret_srv = srv;
	return LWM2M_OK;
}

struct lwm2m_rpc_server *
lwm2m_rpc_server_free(struct lwm2m_rpc_server *srv)
{
	if (srv == NULL) {
		return NULL;
	}
	if (srv->ev != NULL) {
		event_free(srv->ev);
	}
	while (srv->reqs != NULL) {
		req_unlink(srv->reqs);
	}
	server_close_stream(srv);
	pthread_mutex_lock(&srv->mtx);
	srv->closing = true;
	pthread_mutex_unlock(&srv->mtx);
	if (nng_socket_id(srv->sock) > 0) {
		nng_close(srv->sock);
	}
	if (srv->send_aio != NULL) {
		nng_aio_free(srv->send_aio); /* waits for on_reply_sent */
	}
	while (srv->out_head != NULL) {
		struct outq *q = srv->out_head;
		srv->out_head = q->next;
		nng_msg_free(q->msg);
		free(q);
	}
	pthread_mutex_destroy(&srv->mtx);
	free(srv);
	return NULL;
}

static void
req_free(struct lwm2m_rpc_req *req)
{
	req_unlink(req);
	if (req->msg != NULL) {
		nng_msg_free(req->msg);
	}
	free(req->frame);
	conn_unref(req->conn);
	free(req);
}

/* Raw rep0 in nng 1.5 keeps one pending send per socket context, and a raw
 * socket has only one: so replies go out one at a time through send_aio,
 * the others wait in the server's queue.  Runs on an nng thread. */
static void
on_reply_sent(void *arg)
{
	struct lwm2m_rpc_server *srv = arg;
	struct outq *next;

	if (nng_aio_result(srv->send_aio) != 0) {
		nng_msg_free(nng_aio_get_msg(srv->send_aio));
	}
	nng_aio_set_msg(srv->send_aio, NULL);
	pthread_mutex_lock(&srv->mtx);
	while ((next = srv->out_head) != NULL) {
		srv->out_head = next->next;
		if (!srv->closing) {
			break;
		}
		nng_msg_free(next->msg);
		free(next);
	}
	srv->sending = next != NULL;
	if (next != NULL) {
		nng_aio_set_msg(srv->send_aio, next->msg);
		free(next);
		nng_send_aio(srv->sock, srv->send_aio);
	}
	pthread_mutex_unlock(&srv->mtx);
}

static lwm2m_err
send_reply(struct lwm2m_rpc_server *srv, nng_msg *msg)
{
	struct outq *q;
	bool ok = true;

	pthread_mutex_lock(&srv->mtx);
	if (!srv->sending) {
		srv->sending = true;
		nng_aio_set_msg(srv->send_aio, msg);
		nng_send_aio(srv->sock, srv->send_aio);
	} else if ((q = malloc(sizeof *q)) != NULL) {
		q->msg = msg;
		q->next = NULL;
		if (srv->out_head == NULL) {
			srv->out_head = q;
		} else {
			srv->out_tail->next = q;
		}
		srv->out_tail = q;
	} else {
		ok = false;
	}
	pthread_mutex_unlock(&srv->mtx);
	if (!ok) {
		nng_msg_free(msg);
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

void
lwm2m_rpc_req_drop(struct lwm2m_rpc_req *req)
{
	if (req != NULL) {
		req_free(req);
	}
}

lwm2m_err
lwm2m_rpc_reply(struct lwm2m_rpc_req *req, uint32_t flags, const void *payload,
                size_t len)
{
	struct lwm2m_env env = {.kind = req->env.kind,
	                        .flags = flags | LWM2M_ENV_F_REPLY,
	                        .corr_id = req->env.corr_id,
	                        .payload = payload,
	                        .payload_len = len};
	nng_msg *msg;
	lwm2m_err err = LWM2M_ECLOSED;

	if (req->srv != NULL && req->conn != NULL) {
		err = reply_stream(req, &env);
		req_free(req);
		return err;
	}
	if (req->srv != NULL) {
		err = lwm2m_env_encode(&env, &msg);
	}
	if (err == LWM2M_OK) {
		/* the raw rep header is the route back to the requester */
		if (nng_msg_header_append(msg, nng_msg_header(req->msg),
		                          nng_msg_header_len(req->msg)) != 0) {
			nng_msg_free(msg);
			err = LWM2M_ENOMEM;
		} else {
			err = send_reply(req->srv, msg);
		}
	}
	req_free(req);
	return err;
}

lwm2m_err
lwm2m_rpc_reply_error(struct lwm2m_rpc_req *req, lwm2m_err err,
                      const char *text)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "%d:%s", (int)err, text);

	if (n < 0) {
		n = 0;
	}
	if ((size_t)n >= sizeof buf) {
		n = sizeof buf - 1;
	}
	return lwm2m_rpc_reply(req, LWM2M_ENV_F_ERROR, buf, (size_t)n);
}

void
lwm2m_rpc_error_parse(const struct lwm2m_env *reply, lwm2m_err *ret_err)
{
	long long v = 0;
	size_t i;

	for (i = 0; i < reply->payload_len && i < 4; i++) {
		char c = (char)reply->payload[i];
		if (c < '0' || c > '9') {
			break;
		}
		v = v * 10 + (c - '0');
	}
	if (i == 0 || i >= reply->payload_len || reply->payload[i] != ':' ||
	    v <= LWM2M_OK || v >= LWM2M_ERR_MAX) {
		*ret_err = LWM2M_EPROTO;
		return;
	}
	*ret_err = (lwm2m_err)v;
}

/* ---- client ------------------------------------------------------------ */

struct target {
	char *url;
	nng_socket sock; /* nng transport */
	bool stream;     /* stream transport: the fields below */
	struct lwm2m_rpc_client *c;
	struct stream_addr addr;
	struct bufferevent *bev; /* NULL while not connected or connecting */
	bool connected;
	struct event *retry_ev;
	int backoff_ms;
	struct target *next;
};

struct call {
	struct lwm2m_rpc_client *c;
	nng_ctx ctx;
	nng_aio *aio;
	lwm2m_rpc_cb cb;
	void *arg;
	bool sent;      /* nng thread only, until done */
	bool done;      /* under c->mtx */
	int rv;         /* final nng result, valid once done */
	nng_msg *reply; /* valid once done */
	struct call *next_done;
	struct call *prev, *next; /* in flight, loop thread only */
	/* stream transport (aio == NULL) */
	struct target *t;
	uint64_t corr;
	struct event *timer;
	uint8_t *frame; /* not written yet */
	size_t frame_len;
	struct call *hnext; /* in c->buckets */
};

struct lwm2m_rpc_client {
	struct event_base *base;
	struct target *targets;
	int wake[2];
	struct event *wake_ev;
	pthread_mutex_t mtx;
	struct call *done_head, *done_tail;
	struct call *calls;
	uint64_t next_corr;
	struct call *buckets[CALL_BUCKETS]; /* stream calls by corr_id */
	struct evdns_base *dns;             /* made on first use */
};

/* Runs on an nng thread: only moves the call to the done queue. */
static void
push_done(struct call *call, int rv)
{
	struct lwm2m_rpc_client *c = call->c;
	bool was_empty;

	pthread_mutex_lock(&c->mtx);
	call->rv = rv;
	call->done = true;
	was_empty = c->done_head == NULL;
	if (was_empty) {
		c->done_head = call;
	} else {
		c->done_tail->next_done = call;
	}
	c->done_tail = call;
	if (was_empty) {
		ssize_t n = write(c->wake[1], "w", 1);
		(void)n; /* a full pipe already wakes the loop */
	}
	pthread_mutex_unlock(&c->mtx);
}

static void stream_finish(struct lwm2m_rpc_client *c, struct call *call,
                          lwm2m_err err, const struct lwm2m_env *reply);

static void
on_aio(void *arg)
{
	struct call *call = arg;
	int rv = nng_aio_result(call->aio);

	if (rv == 0 && !call->sent) {
		call->sent = true;
		nng_ctx_recv(call->ctx, call->aio);
		return;
	}
	if (rv != 0 && !call->sent) {
		nng_msg_free(nng_aio_get_msg(call->aio));
		nng_aio_set_msg(call->aio, NULL);
	}
	if (rv == 0) {
		call->reply = nng_aio_get_msg(call->aio);
	}
	push_done(call, rv);
}

static void
finish(struct lwm2m_rpc_client *c, struct call *call, int rv)
{
	struct lwm2m_env env;
	lwm2m_err err = lwm2m_env_nng_err(rv);
	const struct lwm2m_env *reply = NULL;

	if (err == LWM2M_OK &&
	    lwm2m_env_decode(call->reply, &env) != LWM2M_OK) {
		err = LWM2M_EPROTO;
	} else if (err == LWM2M_OK) {
		reply = &env;
		if ((env.flags & LWM2M_ENV_F_ERROR) != 0) {
			lwm2m_rpc_error_parse(&env, &err);
		}
	}
	if (call->prev != NULL) {
		call->prev->next = call->next;
	} else {
		c->calls = call->next;
	}
	if (call->next != NULL) {
		call->next->prev = call->prev;
	}
	call->cb(err, reply, call->arg);
	nng_aio_free(call->aio);
	nng_ctx_close(call->ctx);
	if (call->reply != NULL) {
		nng_msg_free(call->reply);
	}
	free(call);
}

static void
drain_done(struct lwm2m_rpc_client *c)
{
	struct call *list, *next;
	char buf[64];

	while (read(c->wake[0], buf, sizeof buf) > 0) {
	}
	pthread_mutex_lock(&c->mtx);
	list = c->done_head;
	c->done_head = c->done_tail = NULL;
	pthread_mutex_unlock(&c->mtx);
	for (; list != NULL; list = next) {
		next = list->next_done;
		finish(c, list, list->rv);
	}
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	drain_done(arg);
}

static lwm2m_err
make_pipe(int fds[2])
{
	if (pipe(fds) != 0) {
		return LWM2M_EIO;
	}
	for (int i = 0; i < 2; i++) {
		int fl = fcntl(fds[i], F_GETFL);
		if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) != 0 ||
		    fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
			return LWM2M_EIO;
		}
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_rpc_client_new(struct event_base *base,
                     struct lwm2m_rpc_client **ret_client)
{
	struct lwm2m_rpc_client *c = calloc(1, sizeof *c);

	if (c == NULL) {
		return LWM2M_ENOMEM;
	}
	c->base = base;
	c->wake[0] = c->wake[1] = -1;
	pthread_mutex_init(&c->mtx, NULL);
	if (make_pipe(c->wake) != LWM2M_OK) {
		lwm2m_rpc_client_free(c);
		return LWM2M_EIO;
	}
	c->wake_ev =
	    event_new(base, c->wake[0], EV_READ | EV_PERSIST, on_wake, c);
	if (c->wake_ev == NULL || event_add(c->wake_ev, NULL) != 0) {
		lwm2m_rpc_client_free(c);
		return LWM2M_ENOMEM;
	}
	*ret_client = c;
	return LWM2M_OK;
}

struct lwm2m_rpc_client *
lwm2m_rpc_client_free(struct lwm2m_rpc_client *c)
{
	struct target *t, *tn;

	if (c == NULL) {
		return NULL;
	}
	for (t = c->targets; t != NULL; t = t->next) {
		if (!t->stream) {
			nng_close(t->sock);
		} else if (t->bev != NULL) {
			bufferevent_free(t->bev);
			t->bev = NULL;
			t->connected = false;
		}
	}
	for (struct call *call = c->calls; call != NULL; call = call->next) {
		if (call->aio != NULL) {
			nng_aio_stop(call->aio);
		}
	}
	if (c->wake[0] >= 0) {
		drain_done(c);
	}
	/* calls whose last operation was refused after the stop */
	while (c->calls != NULL) {
		if (c->calls->aio == NULL) {
			stream_finish(c, c->calls, LWM2M_ECLOSED, NULL);
		} else {
			finish(c, c->calls, NNG_ECLOSED);
		}
	}
	for (t = c->targets; t != NULL; t = tn) {
		tn = t->next;
		if (t->retry_ev != NULL) {
			event_free(t->retry_ev);
		}
		free(t->url);
		free(t);
	}
	if (c->dns != NULL) {
		evdns_base_free(c->dns, 1);
	}
	if (c->wake_ev != NULL) {
		event_free(c->wake_ev);
	}
	for (int i = 0; i < 2; i++) {
		if (c->wake[i] >= 0) {
			close(c->wake[i]);
		}
	}
	pthread_mutex_destroy(&c->mtx);
	free(c);
	return NULL;
}

/* ---- client, stream transport ------------------------------------------ */

static size_t
bucket_of(uint64_t corr)
{
	return (size_t)(corr % CALL_BUCKETS);
}

static void
hash_remove(struct lwm2m_rpc_client *c, struct call *call)
{
	struct call **pp = &c->buckets[bucket_of(call->corr)];

	while (*pp != NULL && *pp != call) {
		pp = &(*pp)->hnext;
	}
	if (*pp != NULL) {
		*pp = call->hnext;
	}
}

static struct call *
hash_find(struct lwm2m_rpc_client *c, uint64_t corr)
{
	struct call *call = c->buckets[bucket_of(corr)];

	while (call != NULL && call->corr != corr) {
		call = call->hnext;
	}
	return call;
}

static void
call_unlink(struct lwm2m_rpc_client *c, struct call *call)
{
	if (call->prev != NULL) {
		call->prev->next = call->next;
	} else {
		c->calls = call->next;
	}
	if (call->next != NULL) {
		call->next->prev = call->prev;
	}
}

/* stream_finish ends a stream call: cb(err, reply), then frees it. */
static void
stream_finish(struct lwm2m_rpc_client *c, struct call *call, lwm2m_err err,
              const struct lwm2m_env *reply)
{
	call_unlink(c, call);
	hash_remove(c, call);
	if (call->timer != NULL) {
		event_free(call->timer);
	}
	call->cb(err, reply, call->arg);
	free(call->frame);
	free(call);
}

static void
on_call_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct call *call = arg;

	stream_finish(call->c, call, LWM2M_ETIMEDOUT, NULL);
}

static void stream_connect(struct target *t);

static bool
has_unsent(const struct target *t)
{
	for (const struct call *call = t->c->calls; call != NULL;
	     call = call->next) {
		if (call->t == t && call->frame != NULL) {
			return true;
		}
	}
	return false;
}

static void
schedule_retry(struct target *t)
{
	struct timeval tv = {t->backoff_ms / 1000,
	                     (t->backoff_ms % 1000) * 1000};

	evtimer_add(t->retry_ev, &tv);
	t->backoff_ms =
	    t->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : t->backoff_ms * 2;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct target *t = arg;

	if (t->bev == NULL && has_unsent(t)) {
		stream_connect(t);
	}
}

/* The connection of t is gone: the calls out on it fail at once (their
 * answers cannot come), the unsent ones wait for the next connection. */
static void
target_lost(struct target *t)
{
	struct lwm2m_rpc_client *c = t->c;
	struct call *lost = NULL, *call, *next;

	if (t->bev != NULL) {
		bufferevent_free(t->bev);
		t->bev = NULL;
	}
	t->connected = false;
	for (call = c->calls; call != NULL; call = call->next) {
		if (call->t == t && call->frame == NULL) {
			call->next_done = lost;
			lost = call;
		}
	}
	for (call = lost; call != NULL; call = next) {
		next = call->next_done;
		stream_finish(c, call, LWM2M_ECLOSED, NULL);
	}
	if (has_unsent(t) && !evtimer_pending(t->retry_ev, NULL)) {
		schedule_retry(t);
	}
}

/* Writes the frames of t's unsent calls to its connection. */
static void
target_flush(struct target *t)
{
	struct evbuffer *out = bufferevent_get_output(t->bev);

	for (struct call *call = t->c->calls; call != NULL; call = call->next) {
		if (call->t == t && call->frame != NULL &&
		    evbuffer_add(out, call->frame, call->frame_len) == 0) {
			free(call->frame);
			call->frame = NULL;
		}
	}
}

static void
on_target_read(struct bufferevent *bev, void *arg)
{
	struct target *t = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct lwm2m_env env;
	struct call *call;
	uint8_t *frame;
	size_t len;
	int r;

	while (t->bev == bev && (r = frame_take(in, &frame, &len)) != 0) {
		lwm2m_err err = LWM2M_OK;
		if (r < 0) {
			target_lost(t);
			return;
		}
		if (lwm2m_env_decode_buf(frame, len, &env) == LWM2M_OK &&
		    (env.flags & LWM2M_ENV_F_REPLY) != 0 &&
		    (call = hash_find(t->c, env.corr_id)) != NULL &&
		    call->t == t) {
			if ((env.flags & LWM2M_ENV_F_ERROR) != 0) {
				lwm2m_rpc_error_parse(&env, &err);
			}
			stream_finish(t->c, call, err, &env);
		}
		free(frame);
	}
}

static void
on_target_event(struct bufferevent *bev, short what, void *arg)
{
	struct target *t = arg;

	if ((what & BEV_EVENT_CONNECTED) != 0) {
		t->connected = true;
		t->backoff_ms = RETRY_MIN_MS;
		set_nodelay(bev);
		target_flush(t);
	} else if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) != 0) {
		target_lost(t);
	}
}

static void
stream_connect(struct target *t)
{
	struct lwm2m_rpc_client *c = t->c;
	int rc;

	t->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (t->bev == NULL) {
		schedule_retry(t);
		return;
	}
	bufferevent_setcb(t->bev, on_target_read, NULL, on_target_event, t);
	bufferevent_enable(t->bev, EV_READ);
	if (t->addr.numeric) {
		rc = bufferevent_socket_connect(
		    t->bev, (struct sockaddr *)&t->addr.ss, (int)t->addr.len);
	} else {
		if (c->dns == NULL) {
			c->dns = evdns_base_new(
			    c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
		}
		rc = c->dns == NULL ? -1
		                    : bufferevent_socket_connect_hostname(
		                          t->bev, c->dns, AF_UNSPEC,
		                          t->addr.host, t->addr.port);
	}
	if (rc != 0 && t->bev != NULL) {
		bufferevent_free(t->bev);
		t->bev = NULL;
		schedule_retry(t);
	}
}

static lwm2m_err
frame_build(const struct lwm2m_env *env, uint8_t **ret, size_t *ret_len)
{
	struct evbuffer *b = evbuffer_new();
	lwm2m_err err = b != NULL ? frame_write(b, env) : LWM2M_ENOMEM;
	size_t n = b != NULL ? evbuffer_get_length(b) : 0;
	uint8_t *f = err == LWM2M_OK ? malloc(n) : NULL;

	if (err == LWM2M_OK && f == NULL) {
		err = LWM2M_ENOMEM;
	}
	if (err == LWM2M_OK) {
		evbuffer_remove(b, f, n);
		*ret = f;
		*ret_len = n;
	}
	if (b != NULL) {
		evbuffer_free(b);
	}
	return err;
}

static lwm2m_err
stream_call(struct lwm2m_rpc_client *c, struct target *t,
            const struct lwm2m_env *env, int timeout_ms, lwm2m_rpc_cb cb,
            void *arg)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	struct call *call = calloc(1, sizeof *call);
	lwm2m_err err = call != NULL ? LWM2M_OK : LWM2M_ENOMEM;

	if (err == LWM2M_OK) {
		err = frame_build(env, &call->frame, &call->frame_len);
	}
	if (err == LWM2M_OK && (call->timer = evtimer_new(
	                            c->base, on_call_timeout, call)) == NULL) {
		err = LWM2M_ENOMEM;
	}
	if (err != LWM2M_OK) {
		if (call != NULL) {
			free(call->frame);
		}
		free(call);
		return err;
	}
	*call = (struct call){.c = c,
	                      .cb = cb,
	                      .arg = arg,
	                      .t = t,
	                      .corr = env->corr_id,
	                      .timer = call->timer,
	                      .frame = call->frame,
	                      .frame_len = call->frame_len};
	call->next = c->calls;
	if (c->calls != NULL) {
		c->calls->prev = call;
	}
	c->calls = call;
	call->hnext = c->buckets[bucket_of(call->corr)];
	c->buckets[bucket_of(call->corr)] = call;
	evtimer_add(call->timer, &tv);
	if (t->connected) {
		if (evbuffer_add(bufferevent_get_output(t->bev), call->frame,
		                 call->frame_len) == 0) {
			free(call->frame);
			call->frame = NULL;
		}
	} else if (t->bev == NULL && !evtimer_pending(t->retry_ev, NULL)) {
		stream_connect(t);
	}
	return LWM2M_OK;
}

static lwm2m_err
target_open(struct target *t)
{
	int rv = nng_req0_open(&t->sock);

	if (rv != 0) {
		return lwm2m_env_nng_err(rv);
	}
	/* a lost request is reported by the timeout, never sent twice */
	rv = nng_socket_set_ms(t->sock, NNG_OPT_REQ_RESENDTIME,
	                       NNG_DURATION_INFINITE);
	if (rv == 0) {
		rv = nng_dial(t->sock, t->url, NULL, NNG_FLAG_NONBLOCK);
	}
	if (rv != 0) {
		nng_close(t->sock);
		return rv == NNG_ENOTSUP || rv == NNG_EADDRINVAL
		           ? LWM2M_EINVAL
		           : lwm2m_env_nng_err(rv);
	}
	return LWM2M_OK;
}

static lwm2m_err
target_open_stream(struct lwm2m_rpc_client *c, struct target *t)
{
	lwm2m_err err = stream_parse(t->url, false, &t->addr);

	if (err != LWM2M_OK) {
		return err;
	}
	t->retry_ev = evtimer_new(c->base, on_retry, t);
	if (t->retry_ev == NULL) {
		return LWM2M_ENOMEM;
	}
	t->stream = true;
	t->c = c;
	t->backoff_ms = RETRY_MIN_MS;
	return LWM2M_OK;
}

static lwm2m_err
target_get(struct lwm2m_rpc_client *c, const char *url,
           struct target **ret_target)
{
	struct target *t;
	lwm2m_err err;

	for (t = c->targets; t != NULL; t = t->next) {
		if (strcmp(t->url, url) == 0) {
			*ret_target = t;
			return LWM2M_OK;
		}
	}
	t = calloc(1, sizeof *t);
	if (t == NULL || (t->url = strdup(url)) == NULL) {
		free(t);
		return LWM2M_ENOMEM;
	}
	err = is_stream_url(url) ? target_open_stream(c, t) : target_open(t);
	if (err != LWM2M_OK) {
		free(t->url);
		free(t);
		return err;
	}
	t->next = c->targets;
	c->targets = t;
	*ret_target = t;
	return LWM2M_OK;
}

static lwm2m_err
call_start(struct call *call, nng_socket sock, nng_msg *msg, int timeout_ms)
{
	int rv = nng_ctx_open(&call->ctx, sock);

	if (rv != 0) {
		return lwm2m_env_nng_err(rv);
	}
	rv = nng_aio_alloc(&call->aio, on_aio, call);
	if (rv != 0) {
		nng_ctx_close(call->ctx);
		return lwm2m_env_nng_err(rv);
	}
	nng_aio_set_timeout(call->aio, timeout_ms);
	nng_aio_set_msg(call->aio, msg);
	nng_ctx_send(call->ctx, call->aio);
	return LWM2M_OK;
}

lwm2m_err
lwm2m_rpc_call(struct lwm2m_rpc_client *c, const char *url, uint16_t kind,
               const void *payload, size_t len, int timeout_ms, lwm2m_rpc_cb cb,
               void *arg)
{
	return lwm2m_rpc_call_rid(c, url, kind, NULL, payload, len, timeout_ms,
	                          cb, arg);
}

lwm2m_err
lwm2m_rpc_call_rid(struct lwm2m_rpc_client *c, const char *url, uint16_t kind,
                   const char *rid, const void *payload, size_t len,
                   int timeout_ms, lwm2m_rpc_cb cb, void *arg)
{
	size_t rid_len = rid ? strnlen(rid, LWM2M_ENV_RID_MAX + 1) : 0;
	struct lwm2m_env env = {.kind = kind,
	                        .corr_id = ++c->next_corr,
	                        .payload = payload,
	                        .payload_len = len,
	                        .rid = rid,
	                        .rid_len =
	                            rid_len <= LWM2M_ENV_RID_MAX ? rid_len : 0};
	struct target *t;
	struct call *call;
	nng_msg *msg;
	lwm2m_err err;

	err = target_get(c, url, &t);
	if (err != LWM2M_OK) {
		return err;
	}
	if (t->stream) {
		return stream_call(c, t, &env, timeout_ms, cb, arg);
	}
	call = calloc(1, sizeof *call);
	if (call == NULL) {
		return LWM2M_ENOMEM;
	}
	err = lwm2m_env_encode(&env, &msg);
	if (err == LWM2M_OK) {
		call->c = c;
		call->cb = cb;
		call->arg = arg;
		call->next = c->calls;
		if (c->calls != NULL) {
			c->calls->prev = call;
		}
		c->calls = call;
		err = call_start(call, t->sock, msg, timeout_ms);
		if (err != LWM2M_OK) {
			nng_msg_free(msg);
			c->calls = call->next;
			if (c->calls != NULL) {
				c->calls->prev = NULL;
			}
		}
	}
	if (err != LWM2M_OK) {
		free(call);
	}
	return err;
}
