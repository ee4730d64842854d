/* Unit tests of lwm2m_rpc over inproc:// (nng) and the stream transport
 * (ipc://, tcp://): many concurrent calls answered out of order, error
 * replies, timeouts, a missing, late or vanishing server, a hostile peer. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lwm2m_rpc.h"

#define N_CALLS 200

struct fixture {
	struct event_base *base;
	struct lwm2m_rpc_server *srv;
	struct lwm2m_rpc_client *cli;
	struct lwm2m_rpc_req *held[N_CALLS];
	int n_held, hold_until; /* hold requests, then answer in reverse */
	int mode;               /* 0 echo, 1 error, 2 drop */
	int done, ok;
	lwm2m_err last_err;
	char url[64];
};

static void
on_request(struct lwm2m_rpc_req *req, const struct lwm2m_env *env, void *arg)
{
	struct fixture *f = arg;

	if (f->mode == 1) {
		lwm2m_rpc_reply_error(req, LWM2M_ENOTFOUND, "nobody");
		return;
	}
	if (f->mode == 2) {
		f->held[f->n_held++] = req;
		return;
	}
	if (f->hold_until == 0) {
		lwm2m_rpc_reply(req, 0, env->payload, env->payload_len);
		return;
	}
	/* echo later, in reverse order of arrival */
	f->held[f->n_held++] = req;
	if (f->n_held == f->hold_until) {
		while (f->n_held > 0) {
			struct lwm2m_rpc_req *r = f->held[--f->n_held];
			lwm2m_rpc_reply(r, 0, NULL, 0);
		}
	}
}

/* A loopback TCP port that is free right now. */
static int
free_tcp_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void
setup(struct fixture *f, const char *name, bool with_server)
{
	static int seq;

	memset(f, 0, sizeof *f);
	if (strncmp(name, "tcp", 3) == 0) {
		snprintf(f->url, sizeof f->url, "tcp://127.0.0.1:%d",
		         free_tcp_port());
	} else if (strncmp(name, "ipc", 3) == 0) {
		snprintf(f->url, sizeof f->url,
		         "ipc:///tmp/lwds-test-rpc-%ld-%d", (long)getpid(),
		         ++seq);
	} else {
		snprintf(f->url, sizeof f->url, "inproc://rpc-%s-%d", name,
		         ++seq);
	}
	f->base = event_base_new();
	ck_assert_ptr_nonnull(f->base);
	if (with_server) {
		ck_assert_int_eq(lwm2m_rpc_server_new(f->base, f->url,
		                                      on_request, f, &f->srv),
		                 LWM2M_OK);
	}
	ck_assert_int_eq(lwm2m_rpc_client_new(f->base, &f->cli), LWM2M_OK);
}

static void
teardown(struct fixture *f)
{
	for (int i = 0; i < f->n_held; i++) {
		lwm2m_rpc_req_drop(f->held[i]);
	}
	lwm2m_rpc_client_free(f->cli);
	lwm2m_rpc_server_free(f->srv);
	event_base_free(f->base);
}

static void
run(struct fixture *f, int want, int max_ms)
{
	struct timeval tv = {0, 10000};

	for (int i = 0; i < max_ms / 10 && f->done < want; i++) {
		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
}

/* ok_ms stretches a time budget for calls that must succeed the way Check
 * stretches its own timeouts (CK_TIMEOUT_MULTIPLIER, set for valgrind runs),
 * so a slowed-down run is not mistaken for a failure. */
static int
ok_ms(int ms)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	int mult = m != NULL ? atoi(m) : 1;

	return mult > 1 ? ms * mult : ms;
}

struct callctx {
	struct fixture *f;
	char text[16];
};

static void
on_echo(lwm2m_err err, const struct lwm2m_env *reply, void *arg)
{
	struct callctx *c = arg;

	c->f->done++;
	c->f->last_err = err;
	if (err == LWM2M_OK && reply != NULL &&
	    (reply->flags & LWM2M_ENV_F_REPLY) != 0 &&
	    reply->payload_len == strlen(c->text) &&
	    memcmp(reply->payload, c->text, reply->payload_len) == 0) {
		c->f->ok++;
	}
}

static void
on_any(lwm2m_err err, const struct lwm2m_env *reply, void *arg)
{
	struct fixture *f = arg;

	f->done++;
	f->last_err = err;
	if (reply != NULL) {
		f->ok++;
	}
}

START_TEST(test_lwm2m_rpc_call_many_concurrent)
{
	static struct callctx calls[N_CALLS];
	struct fixture f;

	setup(&f, "many", true);
	for (int i = 0; i < N_CALLS; i++) {
		calls[i].f = &f;
		snprintf(calls[i].text, sizeof calls[i].text, "req-%d", i);
		ck_assert_int_eq(
		    lwm2m_rpc_call(f.cli, f.url, LWM2M_ENV_RPC_PING,
		                   calls[i].text, strlen(calls[i].text),
		                   ok_ms(5000), on_echo, &calls[i]),
		    LWM2M_OK);
	}
	run(&f, N_CALLS, ok_ms(10000));
	ck_assert_int_eq(f.done, N_CALLS);
	ck_assert_int_eq(f.ok, N_CALLS);
	teardown(&f);
}
END_TEST

START_TEST(test_lwm2m_rpc_call_many_ipc)
{
	static struct callctx calls[N_CALLS];
	struct fixture f;

	setup(&f, "ipc", true);
	for (int i = 0; i < N_CALLS; i++) {
		calls[i].f = &f;
		snprintf(calls[i].text, sizeof calls[i].text, "ipc-%d", i);
		ck_assert_int_eq(
		    lwm2m_rpc_call(f.cli, f.url, LWM2M_ENV_RPC_PING,
		                   calls[i].text, strlen(calls[i].text),
		                   ok_ms(5000), on_echo, &calls[i]),
		    LWM2M_OK);
	}
	run(&f, N_CALLS, ok_ms(10000));
	ck_assert_int_eq(f.ok, N_CALLS);
	teardown(&f);
}
END_TEST

START_TEST(test_lwm2m_rpc_call_out_of_order_ipc)
{
	struct fixture f;

	setup(&f, "ipc-order", true);
	f.hold_until = 50;
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(lwm2m_rpc_call(f.cli, f.url,
		                                LWM2M_ENV_RPC_PING, NULL, 0,
		                                ok_ms(5000), on_any, &f),
		                 LWM2M_OK);
	}
	run(&f, 50, ok_ms(10000));
	ck_assert_int_eq(f.ok, 50);
	teardown(&f);
}
END_TEST

START_TEST(test_lwm2m_rpc_call_out_of_order)
{
	struct fixture f;

	setup(&f, "order", true);
	f.hold_until = 20;
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(lwm2m_rpc_call(f.cli, f.url,
		                                LWM2M_ENV_RPC_PING, NULL, 0,
		                                ok_ms(5000), on_any, &f),
		                 LWM2M_OK);
	}
	run(&f, 20, ok_ms(10000));
	ck_assert_int_eq(f.done, 20);
	ck_assert_int_eq(f.ok, 20);
	ck_assert_int_eq(f.last_err, LWM2M_OK);
	teardown(&f);
}
END_TEST

START_TEST(test_lwm2m_rpc_call_error_reply)
{
	struct fixture f;

	setup(&f, "error", true);
	f.mode = 1;
	ck_assert_int_eq(lwm2m_rpc_call(f.cli, f.url, LWM2M_ENV_RPC_EVICT, "x",
	                                1, 5000, on_any, &f),
	                 LWM2M_OK);
	run(&f, 1, 5000);
	ck_assert_int_eq(f.done, 1);
	ck_assert_int_eq(f.last_err, LWM2M_ENOTFOUND);
	ck_assert_int_eq(f.ok, 1);
	teardown(&f);
}
END_TEST

START_TEST(test_lwm2m_rpc_call_timeout)
{
	struct fixture f;

	setup(&f, "timeout", true);
	f.mode = 2;
	ck_assert_int_eq(lwm2m_rpc_call(f.cli, f.url, LWM2M_ENV_RPC_PING, NULL,
	                                0, 200, on_any, &f),
	                 LWM2M_OK);
	run(&f, 1, 5000);
	ck_assert_int_eq(f.done, 1);
	ck_assert_int_eq(f.last_err, LWM2M_ETIMEDOUT);
	/* answering after the caller gave up is harmless */
	lwm2m_rpc_reply(f.held[--f.n_held], 0, NULL, 0);
	/* and later calls still work; their answer also shows that the late
	 * one went through the pipe before it (nng 1.5 loses a message still
	 * between the sockets when they close: valgrind and ASan saw it) */
	f.mode = 0;
	ck_assert_int_eq(lwm2m_rpc_call(f.cli, f.url, LWM2M_ENV_RPC_PING, NULL,
	                                0, ok_ms(5000), on_any, &f),
	                 LWM2M_OK);
	run(&f, 2, ok_ms(5000));
	ck_assert_int_eq(f.done, 2);
	ck_assert_int_eq(f.last_err, LWM2M_OK);
	teardown(&f);
}
END_TEST

START_TEST(test_lwm2m_rpc_call_no_server)
{
	struct fixture f;

	setup(&f, "none", false);
	ck_assert_int_eq(lwm2m_rpc_call(f.cli, f.url, LWM2M_ENV_RPC_PING, NULL,
	                                0, 200, on_any, &f),
	                 LWM2M_OK);
	run(&f, 1, 5000);
	ck_assert_int_eq(f.done, 1);
	ck_assert_int_eq(f.last_err, LWM2M_ETIMEDOUT);
	ck_assert_int_ne(lwm2m_rpc_call(f.cli, "bogus://x", LWM2M_ENV_RPC_PING,
	                                NULL, 0, 200, on_any, &f),
	                 LWM2M_OK);
	teardown(&f);
}
END_TEST

/* One call held by the server of kind (a setup() name), then the server
 * freed: replying to the held request is LWM2M_ECLOSED and the call ends
 * once; returns the call's error. */
static lwm2m_err
call_then_server_gone(const char *kind, int timeout_ms)
{
	struct fixture f;
	lwm2m_err err;

	setup(&f, kind, true);
	f.mode = 2;
	ck_assert_int_eq(lwm2m_rpc_call(f.cli, f.url, LWM2M_ENV_RPC_PING, NULL,
	                                0, timeout_ms, on_any, &f),
	                 LWM2M_OK);
	for (int i = 0; i < 100 && f.n_held == 0; i++) {
		run(&f, 1, 10);
	}
	ck_assert_int_eq(f.n_held, 1);
	f.srv = lwm2m_rpc_server_free(f.srv);
	ck_assert_int_eq(lwm2m_rpc_reply(f.held[--f.n_held], 0, NULL, 0),
	                 LWM2M_ECLOSED);
	run(&f, 1, 5000);
	ck_assert_int_eq(f.done, 1);
	err = f.last_err;
	teardown(&f);
	return err;
}

START_TEST(test_lwm2m_rpc_call_server_gone)
{
	ck_assert_int_ne(call_then_server_gone("gone", 300), LWM2M_OK);
}
END_TEST

START_TEST(test_lwm2m_rpc_call_many_tcp)
{
	static struct callctx calls[N_CALLS];
	struct fixture f;

	setup(&f, "tcp", true);
	f.hold_until = 0;
	for (int i = 0; i < N_CALLS; i++) {
		calls[i].f = &f;
		snprintf(calls[i].text, sizeof calls[i].text, "tcp-%d", i);
		ck_assert_int_eq(
		    lwm2m_rpc_call(f.cli, f.url, LWM2M_ENV_RPC_PING,
		                   calls[i].text, strlen(calls[i].text),
		                   ok_ms(5000), on_echo, &calls[i]),
		    LWM2M_OK);
	}
	run(&f, N_CALLS, ok_ms(10000));
	ck_assert_int_eq(f.ok, N_CALLS);
	/* replies in reverse order on the same connection */
	f.hold_until = 30;
	f.done = f.ok = 0;
	for (int i = 0; i < 30; i++) {
		ck_assert_int_eq(lwm2m_rpc_call(f.cli, f.url,
		                                LWM2M_ENV_RPC_PING, NULL, 0,
		                                ok_ms(5000), on_any, &f),
		                 LWM2M_OK);
	}
	run(&f, 30, ok_ms(10000));
	ck_assert_int_eq(f.ok, 30);
	teardown(&f);
}
END_TEST

/* A call made while the server is not listening yet goes out once it is
 * (the client reconnects with a back-off). */
START_TEST(test_lwm2m_rpc_call_server_late)
{
	struct fixture f;

	setup(&f, "tcp-late", false);
	ck_assert_int_eq(lwm2m_rpc_call(f.cli, f.url, LWM2M_ENV_RPC_PING, NULL,
	                                0, ok_ms(5000), on_any, &f),
	                 LWM2M_OK);
	run(&f, 1, 200);
	ck_assert_int_eq(f.done, 0);
	ck_assert_int_eq(
	    lwm2m_rpc_server_new(f.base, f.url, on_request, &f, &f.srv),
	    LWM2M_OK);
	run(&f, 1, ok_ms(5000));
	ck_assert_int_eq(f.done, 1);
	ck_assert_int_eq(f.last_err, LWM2M_OK);
	teardown(&f);
}
END_TEST

/* A server that goes away fails the calls out on it at once (well before
 * the call's 60 s timeout). */
START_TEST(test_lwm2m_rpc_call_server_gone_tcp)
{
	ck_assert_int_eq(call_then_server_gone("tcp-gone", 60000),
	                 LWM2M_ECLOSED);
}
END_TEST

/* A peer announcing an impossible frame length is cut off; the server
 * keeps serving everybody else. */
START_TEST(test_lwm2m_rpc_server_new_hostile_peer)
{
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct fixture f;
	char buf[16];
	int fd;

	setup(&f, "tcp-hostile", true);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)atoi(strrchr(f.url, ':') + 1));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(write(fd, huge, sizeof huge), (ssize_t)sizeof huge);
	run(&f, 1, 100);
	/* closed by the server */
	ck_assert_int_eq(read(fd, buf, sizeof buf), 0);
	close(fd);
	ck_assert_int_eq(lwm2m_rpc_call(f.cli, f.url, LWM2M_ENV_RPC_PING, NULL,
	                                0, ok_ms(5000), on_any, &f),
	                 LWM2M_OK);
	run(&f, 1, ok_ms(5000));
	ck_assert_int_eq(f.last_err, LWM2M_OK);
	ck_assert_int_eq(f.ok, 1);
	teardown(&f);
}
END_TEST

START_TEST(test_lwm2m_rpc_client_free_pending)
{
	struct fixture f;

	setup(&f, "free", true);
	f.mode = 2;
	ck_assert_int_eq(lwm2m_rpc_call(f.cli, f.url, LWM2M_ENV_RPC_PING, NULL,
	                                0, 60000, on_any, &f),
	                 LWM2M_OK);
	run(&f, 1, 100);
	f.cli = lwm2m_rpc_client_free(f.cli);
	ck_assert_int_eq(f.done, 1);
	ck_assert_int_ne(f.last_err, LWM2M_OK);
	teardown(&f);
}
END_TEST

START_TEST(test_lwm2m_rpc_server_new_bad_url)
{
	struct event_base *base = event_base_new();
	struct lwm2m_rpc_server *srv = NULL;

	ck_assert_int_ne(
	    lwm2m_rpc_server_new(base, "nope://", on_request, NULL, &srv),
	    LWM2M_OK);
	ck_assert_ptr_null(srv);
	ck_assert_ptr_null(lwm2m_rpc_server_free(NULL));
	ck_assert_ptr_null(lwm2m_rpc_client_free(NULL));
	event_base_free(base);
}
END_TEST

START_TEST(test_lwm2m_rpc_error_parse_payloads)
{
	struct lwm2m_env env = {0};
	lwm2m_err err;

	env.payload = (const uint8_t *)"4:x";
	env.payload_len = 3;
	lwm2m_rpc_error_parse(&env, &err);
	ck_assert_int_eq(err, LWM2M_ENOTFOUND);
	env.payload = (const uint8_t *)"999:x";
	env.payload_len = 5;
	lwm2m_rpc_error_parse(&env, &err);
	ck_assert_int_eq(err, LWM2M_EPROTO);
	env.payload = (const uint8_t *)"x";
	env.payload_len = 1;
	lwm2m_rpc_error_parse(&env, &err);
	ck_assert_int_eq(err, LWM2M_EPROTO);
}
END_TEST

static Suite *
rpc_suite(void)
{
	Suite *s = suite_create("lwm2m_rpc");
	TCase *tc;

	tc = tcase_create("lwm2m_rpc_call");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_lwm2m_rpc_call_many_concurrent);
	tcase_add_test(tc, test_lwm2m_rpc_call_out_of_order);
	tcase_add_test(tc, test_lwm2m_rpc_call_many_ipc);
	tcase_add_test(tc, test_lwm2m_rpc_call_out_of_order_ipc);
	tcase_add_test(tc, test_lwm2m_rpc_call_error_reply);
	tcase_add_test(tc, test_lwm2m_rpc_call_timeout);
	tcase_add_test(tc, test_lwm2m_rpc_call_no_server);
	tcase_add_test(tc, test_lwm2m_rpc_call_server_gone);
	tcase_add_test(tc, test_lwm2m_rpc_call_many_tcp);
	tcase_add_test(tc, test_lwm2m_rpc_call_server_late);
	tcase_add_test(tc, test_lwm2m_rpc_call_server_gone_tcp);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_rpc_client_free");
	tcase_add_test(tc, test_lwm2m_rpc_client_free_pending);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_rpc_server_new");
	tcase_add_test(tc, test_lwm2m_rpc_server_new_bad_url);
	tcase_add_test(tc, test_lwm2m_rpc_server_new_hostile_peer);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_rpc_error_parse");
	tcase_add_test(tc, test_lwm2m_rpc_error_parse_payloads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(rpc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nng_fini(); /* joins nng's threads, for valgrind */
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
