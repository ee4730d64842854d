/* Integration tests of lwds-broker and lwds-webhook against a real
 * redis-server (started here on a free port) and an HTTP sink (a libevent
 * evhttp server on its own thread): a job is delivered and signed, a failing
 * hook is retried then dead-lettered, a hook that recovers gets the job, a
 * dispatcher killed with SIGKILL mid-delivery loses nothing, jobs of a dead
 * consumer are claimed, and a broker event reaches exactly the matching
 * subscriptions' hooks.  Suite 'integration': fails when Redis is missing. */
#include <check.h>

#include "check_util.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <hiredis/hiredis.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "brk.h"
#include "lwm2m_env.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "wh.h"

#define SUB_A "zxkHFgg4tTUFA4Moq4pDnA"
#define SUB_B "iv0ufY3IKZm6vk1zI-hzLQ"
#define SUB_C "pFRn92gTAIJLwFeC0-IsFA"
#define SUB_D "7w-Fwhr0QqXbKPtVkYgkfA"
#define CLIENT "CbbKiujtCQml3G-ul8fjwg"
#define OTHER "Xq2lb4m0T0e7k1Ujx0sBQw"

static pid_t redis_pid;
static int redis_port;
static char redis_url[64];

/* ---- redis-server --------------------------------------------------- */

static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	ck_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static redisContext *
redis_sync(void)
{
	redisContext *c = redisConnect("127.0.0.1", redis_port);

	ck_assert_msg(c != NULL && c->err == 0, "redis-server not reachable");
	return c;
}

static char redis_dir[64];

/* redis_exec starts redis-server on redis_port with its files in redis_dir
 * (a restart loads the dump saved there) and waits until it answers. */
static void
redis_exec(void)
{
	char port[16];
	int i;

	snprintf(port, sizeof port, "%d", redis_port);
	snprintf(redis_url, sizeof redis_url, "redis://127.0.0.1:%d",
	         redis_port);
	redis_pid = fork();
	if (redis_pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execlp("redis-server", "redis-server", "--port", port, "--bind",
		       "127.0.0.1", "--save", "", "--appendonly", "no",
		       "--loglevel", "warning", "--dir", redis_dir,
		       "--dbfilename", "lwds-test.rdb", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		redisContext *c = redisConnect("127.0.0.1", redis_port);
		bool up = c != NULL && c->err == 0;

		redisFree(c);
		if (up) {
			return;
		}
		usleep(50000);
	}
	ck_abort_msg("redis-server did not start (is it installed?)");
}

static void
redis_start(void)
{
	snprintf(redis_dir, sizeof redis_dir, "/tmp/lwds-wh-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(redis_dir));
	redis_port = free_port();
	redis_exec();
}

static void
redis_kill(void)
{
	redisContext *c;
	int i;

	if (redis_pid <= 0) {
		return;
	}
	kill(redis_pid, SIGTERM);
	if (waitpid(redis_pid, NULL, 0) < 0) {
		/* started by another process: wait until the port is closed */
		for (i = 0; i < 100; i++) {
			c = redisConnect("127.0.0.1", redis_port);
			if (c == NULL || c->err != 0) {
				redisFree(c);
				break;
			}
			redisFree(c);
			usleep(50000);
		}
	}
	redis_pid = 0;
}

static void
redis_stop(void)
{
	char path[128];

	redis_kill();
	snprintf(path, sizeof path, "%s/lwds-test.rdb", redis_dir);
	unlink(path);
	rmdir(redis_dir);
}

static long long
redis_int(const char *fmt, ...)
{
	redisContext *c = redis_sync();
	redisReply *r;
	va_list ap;
	long long v = -1;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
		v = r->integer;
	}
	freeReplyObject(r);
	redisFree(c);
	return v;
}

static void
redis_do(const char *fmt, ...)
{
	redisContext *c = redis_sync();
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt,
	              r ? r->str : "no reply");
	freeReplyObject(r);
	redisFree(c);
}

/* redis_restart saves the data set, stops redis-server and starts it again
 * on the same port once run_down() returns. */
static void
redis_restart(void (*run_down)(void *), void *arg)
{
	redis_do("SAVE");
	redis_kill();
	run_down(arg);
	redis_exec();
}

/* dead_field returns field of the first dead letter (static buffer). */
static const char *
dead_field(const char *field)
{
	static char out[256];
	redisContext *c = redis_sync();
	redisReply *r =
	    redisCommand(c, "XRANGE %s - + COUNT 1", LWM2M_KEY_DEADLETTERS);
	size_t i;

	out[0] = '\0';
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
		redisReply *f = r->element[0]->element[1];

		for (i = 0; i + 1 < f->elements; i += 2) {
			if (strcmp(f->element[i]->str, field) == 0) {
				snprintf(out, sizeof out, "%s",
				         f->element[i + 1]->str);
			}
		}
	}
	freeReplyObject(r);
	redisFree(c);
	return out;
}

/* ---- HTTP sink -------------------------------------------------------- */

#define SINK_PATHS 9
#define SINK_CONNS_MAX 64

static struct sink {
	pthread_mutex_t mu;
	struct event_base *base;
	struct evhttp *http;
	pthread_t thread;
	int port;
	int hits[SINK_PATHS];
	int fail_first; /* /flaky answers 503 this many times */
	char last_id[SINK_PATHS][32];
	char last_sig[SINK_PATHS][80];
	char last_attempt[SINK_PATHS][8];
	char last_body[SINK_PATHS][1024];
	char last_ct[SINK_PATHS][64];
	const void *conns[SINK_CONNS_MAX]; /* distinct connections seen */
	int n_conns;
} sink;

static const char *const sink_paths[SINK_PATHS] = {
    "/ok", "/fail", "/gone",  "/flaky", "/hang-once",
    "/a",  "/b",    "/other", "/slow"};

static int
sink_index(const char *path)
{
	int i;

	for (i = 0; i < SINK_PATHS; i++) {
		if (strcmp(path, sink_paths[i]) == 0) {
			return i;
		}
	}
	return -1;
}

static void
copy_header(struct evkeyvalq *h, const char *name, char *dst, size_t size)
{
	const char *v = evhttp_find_header(h, name);

	snprintf(dst, size, "%s", v ? v : "");
}

static void
note_conn(const void *conn)
{
	int i;

	for (i = 0; i < sink.n_conns; i++) {
		if (sink.conns[i] == conn) {
			return;
		}
	}
	if (sink.n_conns < SINK_CONNS_MAX) {
		sink.conns[sink.n_conns++] = conn;
	}
}

static void
on_sink(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	int i = sink_index(evhttp_request_get_uri(req)), status = 200, hits;
	size_t n = evbuffer_get_length(in);

	if (i < 0) {
		evhttp_send_reply(req, 404, "Not Found", NULL);
		return;
	}
	pthread_mutex_lock(&sink.mu);
	hits = ++sink.hits[i];
	note_conn(evhttp_request_get_connection(req));
	copy_header(h, "X-Lwds-Delivery", sink.last_id[i], 32);
	copy_header(h, "X-Lwds-Signature", sink.last_sig[i], 80);
	copy_header(h, "X-Lwds-Attempt", sink.last_attempt[i], 8);
	copy_header(h, "Content-Type", sink.last_ct[i], 64);
	if (n >= sizeof sink.last_body[i]) {
		n = sizeof sink.last_body[i] - 1;
	}
	evbuffer_copyout(in, sink.last_body[i], n);
	sink.last_body[i][n] = '\0';
	pthread_mutex_unlock(&sink.mu);
	if (strcmp(sink_paths[i], "/fail") == 0 ||
	    (strcmp(sink_paths[i], "/flaky") == 0 && hits <= sink.fail_first)) {
		status = 500;
	} else if (strcmp(sink_paths[i], "/gone") == 0) {
		status = 404;
	} else if (strcmp(sink_paths[i], "/slow") == 0 ||
	           (strcmp(sink_paths[i], "/hang-once") == 0 && hits == 1)) {
		return; /* never answered: the dispatcher gets killed */
	}
	evhttp_send_reply(req, status, "X", NULL);
}

static void *
sink_main(void *arg)
{
	event_base_dispatch(sink.base);
	return NULL;
}

static void
sink_start(void)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in a;
	socklen_t len = sizeof a;

	memset(&sink, 0, sizeof sink);
	pthread_mutex_init(&sink.mu, NULL);
	sink.base = event_base_new();
	sink.http = evhttp_new(sink.base);
	bs = evhttp_bind_socket_with_handle(sink.http, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(bs);
	getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&a,
	            &len);
	sink.port = ntohs(a.sin_port);
	evhttp_set_gencb(sink.http, on_sink, NULL);
	pthread_create(&sink.thread, NULL, sink_main, NULL);
}

static void
sink_stop(void)
{
	event_base_loopbreak(sink.base);
	pthread_join(sink.thread, NULL);
	evhttp_free(sink.http);
	event_base_free(sink.base);
	pthread_mutex_destroy(&sink.mu);
}

static int
sink_hits(const char *path)
{
	int n;

	pthread_mutex_lock(&sink.mu);
	n = sink.hits[sink_index(path)];
	pthread_mutex_unlock(&sink.mu);
	return n;
}

static void
sink_url(char *buf, size_t size, const char *path)
{
	snprintf(buf, size, "http://127.0.0.1:%d%s", sink.port, path);
}

/* ---- helpers -------------------------------------------------------- */

static void
setup(void)
{
	lwm2m_log_init("test", LWM2M_LOG_WARNING);
	evthread_use_pthreads();
	redis_do("FLUSHALL");
	/* the jobs' subscription exists: a retry of a deleted one is dropped */
	redis_do("HSET " LWM2M_KEY_SUB " type ClientConnected", SUB_A);
	sink_start();
}

static void
teardown(void)
{
	sink_stop();
	nng_fini();
}

/* queue_job XADDs a job for path and returns its delivery id. */
static void
queue_job(const char *path, const char *secret, char ret_id[LWM2M_ID_SIZE])
{
	struct lwm2m_delivery d;
	char url[128], *text;
	size_t len;

	sink_url(url, sizeof url, path);
	ck_assert_int_eq(lwm2m_delivery_init(&d, SUB_A, 3, url,
	                                     "application/json", secret,
	                                     "{\"x\":1}", 7),
	                 LWM2M_OK);
	ck_assert_int_eq(lwm2m_delivery_encode(&d, &text, &len), LWM2M_OK);
	redis_do("XADD %s * job %b", LWM2M_KEY_DELIVERIES, text, len);
	if (ret_id != NULL) {
		memcpy(ret_id, d.id, LWM2M_ID_SIZE);
	}
	free(text);
	lwm2m_delivery_fini(&d);
}

static void
test_config(struct wh_config *c, const char *consumer)
{
	wh_config_defaults(c);
	c->redis_url = redis_url;
	c->consumer = consumer;
	c->health_addr = NULL;
	c->block_ms = 100;
	c->retry_poll_ms = 20;
	c->retry.base_ms = 20;
	c->retry.max_ms = 100;
	c->retry.max_retries = 2;
	c->http.timeout_ms = 5000;
}

typedef bool (*pred_fn)(void *arg);

/* run_until runs base until pred(arg) holds or timeout_ms passes. */
static bool
run_until(struct event_base *base, pred_fn pred, void *arg, int timeout_ms)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 20000};
	int waited;

	for (waited = 0; waited < timeout_ms; waited += 20) {
		if (pred(arg)) {
			return true;
		}
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return pred(arg);
}

static bool
queue_empty(void *arg)
{
	return redis_int("XLEN %s", LWM2M_KEY_DELIVERIES) == 0 &&
	       redis_int("ZCARD %s", LWM2M_KEY_DELIVERY_RETRY) == 0;
}

static bool
dead_letters(void *arg)
{
	return redis_int("XLEN %s", LWM2M_KEY_DEADLETTERS) >= *(int *)arg;
}

static bool
hits_reached(void *arg)
{
	const char **p = arg;

	return sink_hits(p[0]) >= atoi(p[1]);
}

struct dispatcher {
	struct event_base *base;
	struct wh_config cfg;
	struct wh_ctx *ctx;
};

static void
dispatcher_start(struct dispatcher *d, const char *consumer)
{
	d->base = event_base_new();
	test_config(&d->cfg, consumer);
	ck_assert_int_eq(wh_ctx_new(d->base, &d->cfg, &d->ctx), LWM2M_OK);
}

static void
dispatcher_stop(struct dispatcher *d)
{
	wh_ctx_free(d->ctx);
	event_base_free(d->base);
}

/* ---- webhook tests -------------------------------------------------- */

START_TEST(test_wh_ctx_new_delivers_signed)
{
	struct dispatcher d;
	char id[LWM2M_ID_SIZE], sig[WH_SIGNATURE_SIZE];
	int i = sink_index("/ok");

	queue_job("/ok", "s3cret", id);
	dispatcher_start(&d, "c1");
	ck_assert(run_until(d.base, queue_empty, NULL, 5000));
	ck_assert_int_eq(sink_hits("/ok"), 1);
	ck_assert_str_eq(sink.last_id[i], id);
	ck_assert_str_eq(sink.last_attempt[i], "1");
	ck_assert_str_eq(sink.last_ct[i], "application/json");
	ck_assert_str_eq(sink.last_body[i], "{\"x\":1}");
	wh_sign("s3cret", 6, "{\"x\":1}", 7, sig);
	ck_assert_str_eq(sink.last_sig[i], sig);
	ck_assert_int_eq(redis_int("XLEN %s", LWM2M_KEY_DEADLETTERS), 0);
	dispatcher_stop(&d);
}
END_TEST

START_TEST(test_wh_ctx_new_retries_then_dead_letter)
{
	struct dispatcher d;
	char id[LWM2M_ID_SIZE];
	int one = 1;

	queue_job("/fail", "", id);
	dispatcher_start(&d, "c1");
	ck_assert(run_until(d.base, dead_letters, &one, 5000));
	/* one attempt plus max_retries (2) */
	ck_assert_int_eq(sink_hits("/fail"), 3);
	ck_assert_str_eq(sink.last_attempt[sink_index("/fail")], "3");
	ck_assert_str_eq(sink.last_id[sink_index("/fail")], id);
	ck_assert_str_eq(sink.last_sig[sink_index("/fail")], "");
	ck_assert_str_eq(dead_field("id"), id);
	ck_assert_str_eq(dead_field("status"), "500");
	ck_assert_str_eq(dead_field("attempts"), "3");
	ck_assert_str_eq(dead_field("org"), "3");
	ck_assert(queue_empty(NULL));
	dispatcher_stop(&d);
}
END_TEST

START_TEST(test_wh_ctx_new_no_retry_on_404)
{
	struct dispatcher d;
	int one = 1;

	queue_job("/gone", "", NULL);
	dispatcher_start(&d, "c1");
	ck_assert(run_until(d.base, dead_letters, &one, 5000));
	ck_assert_int_eq(sink_hits("/gone"), 1);
	ck_assert_str_eq(dead_field("status"), "404");
	ck_assert_str_eq(dead_field("error"), "rejected by the hook");
	dispatcher_stop(&d);
}
END_TEST

START_TEST(test_wh_ctx_new_hook_recovers)
{
	struct dispatcher d;
	char id[LWM2M_ID_SIZE];

	sink.fail_first = 2;
	queue_job("/flaky", "", id);
	dispatcher_start(&d, "c1");
	ck_assert(run_until(d.base, queue_empty, NULL, 5000));
	ck_assert_int_eq(sink_hits("/flaky"), 3);
	ck_assert_str_eq(sink.last_attempt[sink_index("/flaky")], "3");
	ck_assert_str_eq(sink.last_id[sink_index("/flaky")], id);
	ck_assert_int_eq(redis_int("XLEN %s", LWM2M_KEY_DEADLETTERS), 0);
	dispatcher_stop(&d);
}
END_TEST

START_TEST(test_wh_ctx_new_sigkill_loses_nothing)
{
	const char *until[] = {"/hang-once", "1"};
	struct dispatcher d;
	char id[LWM2M_ID_SIZE];
	pid_t child;
	int i;

	for (i = 0; i < 5; i++) {
		queue_job("/ok", "", NULL);
	}
	queue_job("/hang-once", "", id);
	child = fork();
	if (child == 0) {
		dispatcher_start(&d, "c1");
		event_base_dispatch(d.base);
		_exit(0);
	}
	/* the child took the jobs and hangs on the last one: kill it */
	for (i = 0; i < 250 && !hits_reached(until); i++) {
		usleep(20000);
	}
	ck_assert_int_eq(sink_hits("/hang-once"), 1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	ck_assert_int_ge(redis_int("XLEN %s", LWM2M_KEY_DELIVERIES), 1);
	dispatcher_start(&d, "c1");
	ck_assert(run_until(d.base, queue_empty, NULL, 5000));
	ck_assert_int_eq(sink_hits("/hang-once"), 2);
	ck_assert_str_eq(sink.last_id[sink_index("/hang-once")], id);
	ck_assert_int_ge(sink_hits("/ok"), 5);
	dispatcher_stop(&d);
}
END_TEST

START_TEST(test_wh_ctx_new_claims_dead_consumer)
{
	struct dispatcher d;

	queue_job("/ok", "", NULL);
	queue_job("/ok", "", NULL);
	redis_do("XGROUP CREATE %s %s 0", LWM2M_KEY_DELIVERIES,
	         LWM2M_DELIVERY_GROUP);
	/* a consumer that read both and died */
	redis_do("XREADGROUP GROUP %s gone COUNT 10 STREAMS %s >",
	         LWM2M_DELIVERY_GROUP, LWM2M_KEY_DELIVERIES);
	ck_assert_int_eq(redis_int("XLEN %s", LWM2M_KEY_DELIVERIES), 2);
	d.base = event_base_new();
	test_config(&d.cfg, "c2");
	d.cfg.claim_idle_ms = 100;
	d.cfg.claim_interval_ms = 50;
	ck_assert_int_eq(wh_ctx_new(d.base, &d.cfg, &d.ctx), LWM2M_OK);
	ck_assert(run_until(d.base, queue_empty, NULL, 5000));
	ck_assert_int_eq(sink_hits("/ok"), 2);
	dispatcher_stop(&d);
}
END_TEST

START_TEST(test_wh_ctx_new_reuses_connections)
{
	struct dispatcher d;
	int i;

	for (i = 0; i < 20; i++) {
		queue_job("/ok", "", NULL);
	}
	d.base = event_base_new();
	test_config(&d.cfg, "c1");
	d.cfg.http.max_conn_per_host = 2;
	ck_assert_int_eq(wh_ctx_new(d.base, &d.cfg, &d.ctx), LWM2M_OK);
	ck_assert(run_until(d.base, queue_empty, NULL, 5000));
	ck_assert_int_eq(sink_hits("/ok"), 20);
	/* keep-alive: 20 requests over at most two connections */
	ck_assert_int_ge(sink.n_conns, 1);
	ck_assert_int_le(sink.n_conns, 2);
	dispatcher_stop(&d);
}
END_TEST

START_TEST(test_wh_ctx_new_slow_hook_times_out)
{
	struct dispatcher d;
	int one = 1;

	queue_job("/slow", "", NULL);
	queue_job("/ok", "", NULL);
	d.base = event_base_new();
	test_config(&d.cfg, "c1");
	d.cfg.http.timeout_ms = 300;
	d.cfg.retry.max_retries = 1;
	ck_assert_int_eq(wh_ctx_new(d.base, &d.cfg, &d.ctx), LWM2M_OK);
	ck_assert(run_until(d.base, dead_letters, &one, 5000));
	/* a slow hook holds back neither other hooks nor its own retries */
	ck_assert_int_eq(sink_hits("/ok"), 1);
	ck_assert_int_eq(sink_hits("/slow"), 2);
	ck_assert_str_eq(dead_field("error"), "timeout");
	ck_assert_str_eq(dead_field("status"), "0");
	dispatcher_stop(&d);
}
END_TEST

START_TEST(test_wh_ctx_new_shared_group_delivers_once)
{
	struct dispatcher a, b;
	int i;

	for (i = 0; i < 40; i++) {
		queue_job("/ok", "", NULL);
	}
	dispatcher_start(&a, "c1");
	test_config(&b.cfg, "c2");
	b.base = NULL;
	/* both dispatchers on one loop, as two processes would share Redis */
	ck_assert_int_eq(wh_ctx_new(a.base, &b.cfg, &b.ctx), LWM2M_OK);
	ck_assert(run_until(a.base, queue_empty, NULL, 5000));
	ck_assert_int_eq(sink_hits("/ok"), 40);
	wh_ctx_free(b.ctx);
	dispatcher_stop(&a);
}
END_TEST

START_TEST(test_wh_ctx_new_bounds_hosts)
{
	struct lwm2m_delivery job;
	struct dispatcher d;
	char url[128], *text;
	size_t len;
	int i;

	/* the same sink under two host names: two hosts, one kept at a time */
	for (i = 0; i < 6; i++) {
		snprintf(url, sizeof url, "http://%s:%d/ok",
		         i % 2 ? "localhost" : "127.0.0.1", sink.port);
		ck_assert_int_eq(lwm2m_delivery_init(&job, SUB_A, 3, url,
		                                     "application/json", "",
		                                     "{}", 2),
		                 LWM2M_OK);
		ck_assert_int_eq(lwm2m_delivery_encode(&job, &text, &len),
		                 LWM2M_OK);
		redis_do("XADD %s * job %b", LWM2M_KEY_DELIVERIES, text, len);
		free(text);
		lwm2m_delivery_fini(&job);
	}
	d.base = event_base_new();
	test_config(&d.cfg, "c1");
	d.cfg.http.max_hosts = 1;
	ck_assert_int_eq(wh_ctx_new(d.base, &d.cfg, &d.ctx), LWM2M_OK);
	ck_assert(run_until(d.base, queue_empty, NULL, 5000));
	ck_assert_int_eq(sink_hits("/ok"), 6);
	dispatcher_stop(&d);
}
END_TEST

START_TEST(test_wh_ctx_new_dead_letters_undecodable)
{
	struct dispatcher d;
	int one = 1;

	redis_do("XADD %s * job {not-json", LWM2M_KEY_DELIVERIES);
	redis_do("XADD %s * other 1", LWM2M_KEY_DELIVERIES);
	queue_job("/ok", "", NULL);
	dispatcher_start(&d, "c1");
	ck_assert(run_until(d.base, queue_empty, NULL, 5000));
	ck_assert(run_until(d.base, dead_letters, &one, 5000));
	ck_assert_int_eq(redis_int("XLEN %s", LWM2M_KEY_DEADLETTERS), 1);
	ck_assert_str_eq(dead_field("error"), "undecodable job");
	ck_assert_str_eq(dead_field("job"), "{not-json");
	ck_assert_int_eq(sink_hits("/ok"), 1);
	dispatcher_stop(&d);
}
END_TEST

/* ---- broker end to end ---------------------------------------------- */

static void
add_sub(const char *id, long long org, const char *type, const char *client,
        const char *path, const char *accept)
{
	char url[128];

	sink_url(url, sizeof url, path);
	redis_do("HSET " LWM2M_KEY_SUB " org %lld type %s client %s url %s "
	         "accept %s secret k created 1",
	         id, org, type, client, url, accept);
	redis_do("ZADD " LWM2M_KEY_ORG_SUBS " 1 %s", org, id);
	if (client[0] == '\0') {
		redis_do("SADD " LWM2M_KEY_ORG_EVENT_SUBS " %s", org, type, id);
	} else {
		redis_do("SADD " LWM2M_KEY_CLIENT_SUBS " %s", client, id);
		redis_do("SADD " LWM2M_KEY_CLIENT_EVENT_SUBS " %s", client,
		         type, id);
	}
}

static void
publish(nng_socket pub, uint16_t kind, const char *client, long long org)
{
	struct lwm2m_event ev;
	nng_msg *msg;

	memset(&ev, 0, sizeof ev);
	strcpy(ev.id, client);
	strcpy(ev.ep, "dev-1");
	strcpy(ev.gw, "gw-test");
	ev.org = org;
	ev.ts = 1;
	ck_assert_int_eq(lwm2m_event_msg_new(kind, &ev, &msg), LWM2M_OK);
	ck_assert_int_eq(nng_sendmsg(pub, msg, 0), 0);
}

static bool
always_false(void *arg)
{
	return false;
}

START_TEST(test_brk_ctx_new_fans_out_to_matching)
{
	const char *until[] = {"/b", "1"};
	struct brk_config bc = {.redis_url = redis_url, .health_addr = NULL};
	struct dispatcher d;
	struct brk_ctx *brk;
	char events[64];
	nng_socket pub;
	int i = sink_index("/a");

	add_sub(SUB_A, 3, "ClientConnected", "", "/a", "");
	add_sub(SUB_B, 3, "ClientConnected", CLIENT, "/b", "application/xml");
	add_sub(SUB_C, 3, "ClientConnected", OTHER, "/other", "");
	add_sub(SUB_D, 4, "ClientConnected", "", "/other", "");
	snprintf(events, sizeof events, "tcp://127.0.0.1:%d", free_port());
	bc.events_url = events;
	dispatcher_start(&d, "c1");
	ck_assert_int_eq(brk_ctx_new(d.base, &bc, &brk), LWM2M_OK);
	ck_assert_int_eq(nng_pub0_open(&pub), 0);
	ck_assert_int_eq(nng_dial(pub, events, NULL, 0), 0);
	run_until(d.base, always_false, NULL, 200);
	publish(pub, LWM2M_ENV_EV_REGISTERED, CLIENT, 3);
	publish(pub, LWM2M_ENV_EV_DEREGISTERED, CLIENT, 3);
	ck_assert(run_until(d.base, hits_reached, until, 5000));
	ck_assert(run_until(d.base, queue_empty, NULL, 5000));
	run_until(d.base, always_false, NULL, 200);
	ck_assert_int_eq(sink_hits("/a"), 1);
	ck_assert_int_eq(sink_hits("/b"), 1);
	ck_assert_int_eq(sink_hits("/other"), 0);
	ck_assert_uint_eq(brk_ctx_queued(brk), 2);
	ck_assert_ptr_nonnull(
	    strstr(sink.last_body[i], "\"href\":\"/clients/" CLIENT "\""));
	ck_assert_ptr_nonnull(strstr(
	    sink.last_body[i], "\"SubscriptionType\":\"ClientConnected\""));
	ck_assert_str_eq(sink.last_ct[sink_index("/b")], "application/xml");
	ck_assert_ptr_nonnull(strstr(sink.last_body[sink_index("/b")],
	                             "<SubscriptionType>ClientConnected<"));
	nng_close(pub);
	brk_ctx_free(brk);
	dispatcher_stop(&d);
}
END_TEST

struct down_ctx {
	struct event_base *base;
	nng_socket pub;
};

static void
publish_while_down(void *arg)
{
	struct down_ctx *d = arg;

	publish(d->pub, LWM2M_ENV_EV_REGISTERED, CLIENT, 3);
	run_until(d->base, always_false, NULL, 500);
}

START_TEST(test_brk_ctx_new_holds_events_while_redis_down)
{
	const char *until[] = {"/a", "1"};
	struct brk_config bc = {
	    .redis_url = redis_url, .health_addr = NULL, .backlog_max = 100};
	struct dispatcher d;
	struct down_ctx down;
	struct brk_ctx *brk;
	char events[64];

	add_sub(SUB_A, 3, "ClientConnected", "", "/a", "");
	snprintf(events, sizeof events, "tcp://127.0.0.1:%d", free_port());
	bc.events_url = events;
	dispatcher_start(&d, "c1");
	ck_assert_int_eq(brk_ctx_new(d.base, &bc, &brk), LWM2M_OK);
	ck_assert_int_eq(nng_pub0_open(&down.pub), 0);
	ck_assert_int_eq(nng_dial(down.pub, events, NULL, 0), 0);
	run_until(d.base, always_false, NULL, 200);
	down.base = d.base;
	redis_restart(publish_while_down, &down);
	ck_assert(run_until(d.base, hits_reached, until, 8000));
	ck_assert(run_until(d.base, queue_empty, NULL, 5000));
	ck_assert_int_eq(sink_hits("/a"), 1);
	ck_assert_uint_eq(brk_ctx_queued(brk), 1);
	nng_close(down.pub);
	brk_ctx_free(brk);
	dispatcher_stop(&d);
}
END_TEST

static Suite *
integration_suite(void)
{
	Suite *s = suite_create("wh_integration");
	TCase *tc;

	tc = tcase_create("wh_ctx_new");
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_wh_ctx_new_delivers_signed);
	tcase_add_test(tc, test_wh_ctx_new_retries_then_dead_letter);
	tcase_add_test(tc, test_wh_ctx_new_no_retry_on_404);
	tcase_add_test(tc, test_wh_ctx_new_hook_recovers);
	tcase_add_test(tc, test_wh_ctx_new_sigkill_loses_nothing);
	tcase_add_test(tc, test_wh_ctx_new_claims_dead_consumer);
	tcase_add_test(tc, test_wh_ctx_new_reuses_connections);
	tcase_add_test(tc, test_wh_ctx_new_slow_hook_times_out);
	tcase_add_test(tc, test_wh_ctx_new_shared_group_delivers_once);
	tcase_add_test(tc, test_wh_ctx_new_bounds_hosts);
	tcase_add_test(tc, test_wh_ctx_new_dead_letters_undecodable);
	suite_add_tcase(s, tc);
	tc = tcase_create("brk_ctx_new");
	tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_brk_ctx_new_fans_out_to_matching);
	suite_add_tcase(s, tc);
	/* restarts Redis: a private one per test (checked fixtures run in the
	 * test's own process) */
	tc = tcase_create("brk_ctx_new_redis_restart");
	tcase_add_checked_fixture(tc, redis_start, redis_stop);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_brk_ctx_new_holds_events_while_redis_down);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(integration_suite());
}
