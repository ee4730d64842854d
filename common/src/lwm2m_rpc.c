#include "lwm2m_rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "lwm2m_log.h"

/* Requests taken from the socket per loop wake-up, so one busy socket cannot
 * starve the other sources of the loop. */
#define RECV_BATCH 256
/* A reply that cannot be handed to its pipe within this time is dropped. */
#define REPLY_TIMEOUT_MS 10000

/* Replies waiting for the socket; see send_reply. */
struct outq {
	nng_msg *msg;
	struct outq *next;
};

struct lwm2m_rpc_server {
	nng_socket sock;
	struct event *ev;
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
	nng_msg *msg;
	struct lwm2m_env env;
	struct lwm2m_rpc_req *prev, *next;
};

/* ---- server ------------------------------------------------------------ */

static void on_reply_sent(void *arg);

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
	req->srv = srv;
	req->next = srv->reqs;
	if (srv->reqs != NULL) {
		srv->reqs->prev = req;
	}
	srv->reqs = req;
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
	srv->handler = handler;
	srv->arg = arg;
	pthread_mutex_init(&srv->mtx, NULL);
	if (nng_aio_alloc(&srv->send_aio, on_reply_sent, srv) != 0) {
		lwm2m_rpc_server_free(srv);
		return LWM2M_ENOMEM;
	}
	nng_aio_set_timeout(srv->send_aio, REPLY_TIMEOUT_MS);
	err = server_open(srv, base, url);
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
	nng_msg_free(req->msg);
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
	nng_socket sock;
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
		nng_close(t->sock);
	}
	for (struct call *call = c->calls; call != NULL; call = call->next) {
		nng_aio_stop(call->aio);
	}
	if (c->wake[0] >= 0) {
		drain_done(c);
	}
	/* calls whose last operation was refused after the stop */
	while (c->calls != NULL) {
		finish(c, c->calls, NNG_ECLOSED);
	}
	for (t = c->targets; t != NULL; t = tn) {
		tn = t->next;
		free(t->url);
		free(t);
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
	err = target_open(t);
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
lwm2m_rpc_call_rid(struct lwm2m_rpc_client *c, const char *url,
                   uint16_t kind, const char *rid, const void *payload,
                   size_t len, int timeout_ms, lwm2m_rpc_cb cb, void *arg)
{
	size_t rid_len = rid ? strnlen(rid, LWM2M_ENV_RID_MAX + 1) : 0;
	struct lwm2m_env env = {.kind = kind,
	                        .corr_id = ++c->next_corr,
	                        .payload = payload,
	                        .payload_len = len,
	                        .rid = rid,
	                        .rid_len = rid_len <= LWM2M_ENV_RID_MAX ? rid_len
	                                                                : 0};
	struct target *t;
	struct call *call;
	nng_msg *msg;
	lwm2m_err err;

	err = target_get(c, url, &t);
	if (err != LWM2M_OK) {
		return err;
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
