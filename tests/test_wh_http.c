/* Unit tests of services/webhook/wh_http.c: the HTTP/1.1 client against a
 * scripted server on the same libevent loop (chunked, close-delimited and
 * interim responses, pipelining, a connection that breaks with requests on
 * it, limits, TLS towards a plain server). */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "wh.h"

#define MAX_REQS 16

/* what the server answers to each request it reads */
struct server {
	struct evconnlistener *lis;
	int port;
	const char *answer;   /* written once per request */
	unsigned close_after; /* close the connection after this many
	                       * requests (0: never) */
	bool hold;            /* answer nothing until close_after requests */
	const char *last;     /* answer to the close_after-th request */
	unsigned requests;    /* requests read, all connections */
	unsigned conns;       /* connections accepted */
	unsigned max_batch;   /* most requests seen in one read */
	struct bufferevent *open[32]; /* connections not closed yet */
};

struct result {
	int status[MAX_REQS];
	const char *error[MAX_REQS];
	unsigned calls[MAX_REQS];
	unsigned done;
	unsigned want;
	struct event_base *base;
};

static struct event_base *base;
static struct server srv;
static struct result res;

/* one_request removes one complete request (head + Content-Length body)
 * from in; false when none is complete */
static bool
one_request(struct evbuffer *in)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	size_t head, len = evbuffer_get_length(in);
	char *text, *cl;
	size_t body;

	if (end.pos < 0) {
		return false;
	}
	head = (size_t)end.pos + 4;
	text = malloc(head + 1);
	ck_assert_ptr_nonnull(text);
	evbuffer_copyout(in, text, head);
	text[head] = '\0';
	cl = strstr(text, "Content-Length: ");
	ck_assert_ptr_nonnull(cl);
	body = strtoul(cl + 16, NULL, 10);
	free(text);
	if (len < head + body) {
		return false;
	}
	evbuffer_drain(in, head + body);
	return true;
}

static void
srv_drained(struct bufferevent *bev, void *arg)
{
	for (size_t i = 0; i < 32; i++) {
		if (srv.open[i] == bev) {
			srv.open[i] = NULL;
		}
	}
	free(arg);
	bufferevent_free(bev);
}

/* srv_close frees bev once what was written to it has gone out */
static void
srv_close(struct bufferevent *bev, void *seen)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		srv_drained(bev, seen);
		return;
	}
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, srv_drained, NULL, seen);
}

static void
srv_read(struct bufferevent *bev, void *arg)
{
	unsigned *seen = arg, batch = 0;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char first = 0;

	evbuffer_copyout(in, &first, 1);
	if (first == 0x16) { /* a TLS ClientHello: answer in plain text */
		bufferevent_write(bev, srv.answer, strlen(srv.answer));
		srv_close(bev, seen);
		return;
	}
	while (one_request(in)) {
		srv.requests++;
		batch++;
		(*seen)++;
		if (srv.last != NULL && *seen == srv.close_after) {
			bufferevent_write(bev, srv.last, strlen(srv.last));
		} else if (!srv.hold) {
			bufferevent_write(bev, srv.answer, strlen(srv.answer));
		}
		if (srv.close_after != 0 && *seen >= srv.close_after) {
			srv_close(bev, seen);
			return;
		}
	}
	if (batch > srv.max_batch) {
		srv.max_batch = batch;
	}
}

static void
srv_event(struct bufferevent *bev, short what, void *arg)
{
	srv_drained(bev, arg);
}

static void
srv_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
           int len, void *arg)
{
	struct bufferevent *bev =
	    bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	unsigned *seen = calloc(1, sizeof *seen);

	ck_assert_uint_lt(srv.conns, 32);
	srv.open[srv.conns++] = bev;
	bufferevent_setcb(bev, srv_read, NULL, srv_event, seen);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
on_done(int status, const char *error, void *arg)
{
	size_t i = (size_t)(uintptr_t)arg;

	res.status[i] = status;
	res.error[i] = error;
	res.calls[i]++;
	if (++res.done == res.want) {
		event_base_loopexit(base, NULL);
	}
}

static void
setup(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof sin;

	base = event_base_new();
	memset(&srv, 0, sizeof srv);
	memset(&res, 0, sizeof res);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv.lis = evconnlistener_new_bind(
	    base, srv_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
	    16, (struct sockaddr *)&sin, sizeof sin);
	ck_assert_ptr_nonnull(srv.lis);
	getsockname(evconnlistener_get_fd(srv.lis), (struct sockaddr *)&sin,
	            &len);
	srv.port = ntohs(sin.sin_port);
}

static void
teardown(void)
{
	for (size_t i = 0; i < 32; i++) {
		if (srv.open[i] != NULL) {
			void *seen = NULL;

			bufferevent_getcb(srv.open[i], NULL, NULL, NULL, &seen);
			srv_drained(srv.open[i], seen);
		}
	}
	evconnlistener_free(srv.lis);
	event_base_free(base);
}

/* run posts n requests to scheme://127.0.0.1:port/hook on a pool of conns
 * connections and pipeline depth, and runs the loop until all finished */
static void
run(const char *scheme, unsigned n, unsigned conns, unsigned pipeline)
{
	struct wh_http_config cfg = {.max_conn_per_host = conns,
	                             .max_pipeline = pipeline,
	                             .max_hosts = 4,
	                             .timeout_ms = 3000};
	struct wh_http_headers hd = {.content_type = "application/json",
	                             .delivery_id = "d1",
	                             .attempt = 1};
	struct timeval limit = {.tv_sec = 10};
	struct wh_http *http;
	char url[64];

	snprintf(url, sizeof url, "%s://127.0.0.1:%d/hook", scheme, srv.port);
	ck_assert_int_eq(wh_http_new(base, &cfg, &http), LWM2M_OK);
	res.want = n;
	for (unsigned i = 0; i < n; i++) {
		ck_assert_int_eq(wh_http_post(http, url, &hd, "{}", 2, on_done,
		                              (void *)(uintptr_t)i),
		                 LWM2M_OK);
	}
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	ck_assert_uint_eq(wh_http_active(http), 0);
	wh_http_free(http);
	ck_assert_uint_eq(res.done, n);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_uint_eq(res.calls[i], 1);
	}
}

START_TEST(test_wh_http_post_chunked_pipelined)
{
	srv.answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n"
	             "Trailer: t\r\n\r\n";
	run("http", 12, 1, 8);
	for (unsigned i = 0; i < 12; i++) {
		ck_assert_int_eq(res.status[i], 200);
	}
	ck_assert_uint_eq(srv.conns, 1);
	ck_assert_uint_gt(srv.max_batch, 1); /* written ahead */
}
END_TEST

START_TEST(test_wh_http_post_interim_and_length)
{
	srv.answer = "HTTP/1.1 100 Continue\r\n\r\n"
	             "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n"
	             "connection: Keep-Alive\r\n\r\nhello";
	run("http", 4, 1, 4);
	for (unsigned i = 0; i < 4; i++) {
		ck_assert_int_eq(res.status[i], 201);
	}
	ck_assert_uint_eq(srv.conns, 1);
}
END_TEST

/* HTTP/1.0 without keep-alive: a body until the close, one connection per
 * request, never pipelined */
START_TEST(test_wh_http_post_http10_close)
{
	srv.answer = "HTTP/1.0 202 Accepted\r\n\r\nbody until close";
	srv.close_after = 1;
	run("http", 5, 1, 8);
	for (unsigned i = 0; i < 5; i++) {
		ck_assert_int_eq(res.status[i], 202);
	}
	ck_assert_uint_eq(srv.conns, 5);
	ck_assert_uint_eq(srv.requests, 5);
}
END_TEST

/* the server reads 3 pipelined requests and closes without answering: each
 * request fails exactly once with status 0 */
START_TEST(test_wh_http_post_broken_pipeline)
{
	struct wh_http_config cfg = {
	    .max_conn_per_host = 1, .max_pipeline = 8, .timeout_ms = 3000};
	struct wh_http_headers hd = {
	    .content_type = "text/plain", .delivery_id = "d", .attempt = 1};
	struct timeval limit = {.tv_sec = 10};
	struct wh_http *http;
	char url[64];

	/* first an answered request makes the connection pipeline */
	srv.answer = "HTTP/1.1 204 No Content\r\n\r\n";
	snprintf(url, sizeof url, "http://127.0.0.1:%d/h", srv.port);
	ck_assert_int_eq(wh_http_new(base, &cfg, &http), LWM2M_OK);
	res.want = 1;
	ck_assert_int_eq(
	    wh_http_post(http, url, &hd, "x", 1, on_done, (void *)0), LWM2M_OK);
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	ck_assert_int_eq(res.status[0], 204);
	srv.hold = true;
	srv.close_after = 4; /* this connection's 4th request */
	res.want = 4;
	for (uintptr_t i = 1; i <= 3; i++) {
		ck_assert_int_eq(
		    wh_http_post(http, url, &hd, "x", 1, on_done, (void *)i),
		    LWM2M_OK);
	}
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	for (unsigned i = 1; i <= 3; i++) {
		ck_assert_int_eq(res.status[i], 0);
		ck_assert_str_eq(res.error[i], "connection closed");
		ck_assert_uint_eq(res.calls[i], 1);
	}
	ck_assert_uint_eq(srv.conns, 1);
	wh_http_free(http);
}
END_TEST

/* a response that announces the end of the connection: the requests
 * pipelined behind it go out again on a new connection and succeed */
START_TEST(test_wh_http_post_close_announced)
{
	srv.answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	srv.last = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	           "Connection: close\r\n\r\n";
	srv.close_after = 3; /* each connection answers 3 requests */
	run("http", 12, 1, 8);
	for (unsigned i = 0; i < 12; i++) {
		ck_assert_int_eq(res.status[i], 200);
	}
	ck_assert_uint_ge(srv.conns, 4);
}
END_TEST

START_TEST(test_wh_http_post_bad_responses)
{
	srv.answer = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
	run("http", 1, 1, 1);
	ck_assert_int_eq(res.status[0], 0);
	ck_assert_str_eq(res.error[0], "bad response");
	teardown();
	setup();
	srv.answer = "SIP/2.0 200 OK\r\n\r\n";
	run("http", 1, 1, 1);
	ck_assert_int_eq(res.status[0], 0);
	ck_assert_str_eq(res.error[0], "bad response");
}
END_TEST

/* https towards a server that answers in plain text: the handshake fails */
START_TEST(test_wh_http_post_tls_handshake_fails)
{
	srv.answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	srv.close_after = 1;
	run("https", 2, 1, 4);
	ck_assert_int_eq(res.status[0], 0);
	ck_assert_int_eq(res.status[1], 0);
}
END_TEST

START_TEST(test_wh_http_post_bad_url)
{
	struct wh_http_config cfg = {.max_conn_per_host = 1};
	struct wh_http_headers hd = {
	    .content_type = "text/plain", .delivery_id = "d", .attempt = 1};
	struct wh_http *http;

	ck_assert_int_eq(wh_http_new(base, &cfg, &http), LWM2M_OK);
	ck_assert_int_eq(
	    wh_http_post(http, "ftp://h/x", &hd, "", 0, on_done, NULL),
	    LWM2M_EINVAL);
	ck_assert_int_eq(
	    wh_http_post(http, "http://h/a\r\nb", &hd, "", 0, on_done, NULL),
	    LWM2M_EINVAL);
	hd.delivery_id = "d\r\nX-Evil: 1";
	ck_assert_int_eq(
	    wh_http_post(http, "http://h/a", &hd, "", 0, on_done, NULL),
	    LWM2M_EINVAL);
	ck_assert_uint_eq(wh_http_active(http), 0);
	wh_http_free(http);
}
END_TEST

static Suite *
wh_http_suite(void)
{
	Suite *s = suite_create("wh_http");
	TCase *tc = tcase_create("wh_http_post");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_wh_http_post_chunked_pipelined);
	tcase_add_test(tc, test_wh_http_post_interim_and_length);
	tcase_add_test(tc, test_wh_http_post_http10_close);
	tcase_add_test(tc, test_wh_http_post_broken_pipeline);
	tcase_add_test(tc, test_wh_http_post_close_announced);
	tcase_add_test(tc, test_wh_http_post_bad_responses);
	tcase_add_test(tc, test_wh_http_post_tls_handshake_fails);
	tcase_add_test(tc, test_wh_http_post_bad_url);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(wh_http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
