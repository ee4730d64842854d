/* Integration tests of the gateway's device operations: a private
 * redis-server, the gateway library on this process's loop, lwds-sim as the
 * device over real UDP, and LWM2M_ENV_RPC_DEVICE requests over nng rpc. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "gw.h"
#include "lwm2m_devop.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_rpc.h"
#include "lwm2m_value.h"

struct env {
	pid_t redis, sim;
	int redis_port, sim_in, sim_out;
	char dir[64], redis_url[64], rpc_url[64], events_url[64], coap[64];
	char client[LWM2M_ID_SIZE];
	struct event_base *base;
	struct gw_ctx *gw;
	struct lwm2m_rpc_client *rpc;
	nng_socket sub;
};

static struct env E;

static int
free_port(int type)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, type, 0), port;

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
	redisContext *c = redisConnect("127.0.0.1", E.redis_port);

	ck_assert_msg(c != NULL && c->err == 0, "redis-server not reachable");
	return c;
}

static void
redis_start(void)
{
	char port[16];

	snprintf(E.dir, sizeof E.dir, "/tmp/lwds-devop-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(E.dir));
	E.redis_port = free_port(SOCK_STREAM);
	snprintf(port, sizeof port, "%d", E.redis_port);
	snprintf(E.redis_url, sizeof E.redis_url, "redis://127.0.0.1:%d",
	         E.redis_port);
	E.redis = fork();
	if (E.redis == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		execlp("redis-server", "redis-server", "--port", port, "--bind",
		       "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
		       E.dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		redisContext *c = redisConnect("127.0.0.1", E.redis_port);
		bool up = c != NULL && c->err == 0;
		redisFree(c);
		if (up) {
			return;
		}
		usleep(50000);
	}
	ck_abort_msg("redis-server did not start (is it installed?)");
}

/* runs the loop until *flag or timeout_ms passed */
static void
spin(const bool *flag, int timeout_ms)
{
	int64_t end = lwm2m_mono_ms() + timeout_ms;

	while ((flag == NULL || !*flag) && lwm2m_mono_ms() < end) {
		event_base_loop(E.base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

static void
gw_start(void)
{
	struct gw_config cfg;
	bool help;
	char *argv[] = {
	    "gw",         "--redis-url", E.redis_url,  "--coap-listen",
	    E.coap,       "--rpc-url",   E.rpc_url,    "--events-url",
	    E.events_url, "--gw-id",     "devop-test", NULL};

	snprintf(E.coap, sizeof E.coap, "127.0.0.1:%d", free_port(SOCK_DGRAM));
	snprintf(E.rpc_url, sizeof E.rpc_url, "tcp://127.0.0.1:%d",
	         free_port(SOCK_STREAM));
	snprintf(E.events_url, sizeof E.events_url, "tcp://127.0.0.1:%d",
	         free_port(SOCK_STREAM));
	ck_assert_int_eq(nng_sub0_open(&E.sub), 0);
	ck_assert_int_eq(nng_socket_set(E.sub, NNG_OPT_SUB_SUBSCRIBE, "", 0),
	                 0);
	ck_assert_int_eq(nng_listen(E.sub, E.events_url, NULL, 0), 0);
	ck_assert_int_eq(gw_config_init(&cfg, 11, argv, &help), LWM2M_OK);
	E.base = event_base_new();
	ck_assert_int_eq(gw_new(E.base, &cfg, &E.gw), LWM2M_OK);
	ck_assert_int_eq(lwm2m_rpc_client_new(E.base, &E.rpc), LWM2M_OK);
	spin(NULL, 200);
}

static void
sim_path(char *buf, size_t size)
{
	const char *env = getenv("LWDS_SIM_BIN");
	char self[512];
	ssize_t n;

	if (env != NULL) {
		snprintf(buf, size, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	ck_assert(n > 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(buf, size, "%s/../tools/lwds-sim", self);
}

/* starts lwds-sim with extra arguments and waits for its "ready" line */
static void
sim_start(const char *const *extra)
{
	int in[2], out[2];
	char bin[600], server[80], line[4096];
	const char *argv[32] = {"lwds-sim", "--server", server, "--prefix",
	                        "devop-",   "--count",  "1"};
	size_t n = 7, got = 0;
	int64_t end;

	sim_path(bin, sizeof bin);
	snprintf(server, sizeof server, "coap://%s", E.coap);
	for (; extra != NULL && *extra != NULL; extra++) {
		argv[n++] = *extra;
	}
	ck_assert(pipe(in) == 0 && pipe(out) == 0);
	E.sim = fork();
	if (E.sim == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	E.sim_in = in[1];
	E.sim_out = out[0];
	fcntl(E.sim_out, F_SETFL, O_NONBLOCK);
	end = lwm2m_mono_ms() + 10000;
	while (lwm2m_mono_ms() < end) {
		ssize_t r = read(E.sim_out, line + got, sizeof line - 1 - got);
		if (r > 0) {
			got += (size_t)r;
			line[got] = '\0';
			if (strstr(line, "\"ready\"") != NULL) {
				break;
			}
		}
		spin(NULL, 10);
	}
	ck_assert_msg(strstr(line, "\"ready\"") != NULL, "lwds-sim not ready");
}

static void
sim_cmd(const char *cmd)
{
	ck_assert(write(E.sim_in, cmd, strlen(cmd)) == (ssize_t)strlen(cmd));
	spin(NULL, 300);
}

static void
find_client(void)
{
	redisContext *c = redis_sync();
	redisReply *r =
	    redisCommand(c, "GET " LWM2M_KEY_PREFIX "org:{0}:ep:devop-0");

	ck_assert(r != NULL && r->type == REDIS_REPLY_STRING);
	snprintf(E.client, sizeof E.client, "%s", r->str);
	freeReplyObject(r);
	redisFree(c);
}

static void
setup_with(const char *const *extra)
{
	memset(&E, 0, sizeof E);
	setenv("LWDS_DTLS_ENABLE", "0", 1);
	lwm2m_log_init("test", getenv("LWDS_TEST_DEBUG") ? LWM2M_LOG_DEBUG
	                                                 : LWM2M_LOG_WARNING);
	redis_start();
	gw_start();
	sim_start(extra);
	find_client();
}

static void
setup(void)
{
	setup_with(NULL);
}

static void
teardown(void)
{
	if (E.sim > 0) {
		kill(E.sim, SIGKILL);
		waitpid(E.sim, NULL, 0);
	}
	lwm2m_rpc_client_free(E.rpc);
	gw_free(E.gw);
	event_base_free(E.base);
	nng_close(E.sub);
	if (E.redis > 0) {
		kill(E.redis, SIGTERM);
		waitpid(E.redis, NULL, 0);
	}
}

/* ---- one call --------------------------------------------------------- */

struct result {
	bool done;
	lwm2m_err err;
	uint8_t *buf;
	size_t len;
	struct lwm2m_devop_reply reply;
};

static void
on_reply(lwm2m_err err, const struct lwm2m_env *reply, void *arg)
{
	struct result *res = arg;

	res->done = true;
	res->err = err;
	if (err == LWM2M_OK) {
		res->buf = malloc(reply->payload_len + 1);
		memcpy(res->buf, reply->payload, reply->payload_len);
		res->len = reply->payload_len;
	}
}

static void
call(struct lwm2m_devop_req *req, struct result *res)
{
	uint8_t *buf;
	size_t len;

	memset(res, 0, sizeof *res);
	ck_assert_int_eq(lwm2m_devop_req_encode(req, &buf, &len), LWM2M_OK);
	ck_assert_int_eq(lwm2m_rpc_call(E.rpc, E.rpc_url, LWM2M_ENV_RPC_DEVICE,
	                                buf, len, 20000, on_reply, res),
	                 LWM2M_OK);
	free(buf);
	spin(&res->done, 20000);
	ck_assert_msg(res->done, "no rpc reply");
	ck_assert_int_eq(res->err, LWM2M_OK);
	ck_assert_int_eq(
	    lwm2m_devop_reply_decode(res->buf, res->len, &res->reply),
	    LWM2M_OK);
}

static void
req_init(struct lwm2m_devop_req *req, enum lwm2m_devop_op op, const char *path)
{
	memset(req, 0, sizeof *req);
	req->op = op;
	snprintf(req->client, sizeof req->client, "%s", E.client);
	req->n_paths = 1;
	ck_assert_int_eq(lwm2m_path_parse(path, strlen(path), &req->paths[0]),
	                 LWM2M_OK);
}

/* decodes a reply's payload in its content format */
static void
decode(const struct result *res, const char *base, struct lwm2m_tree *tree)
{
	struct lwm2m_path p;

	ck_assert(res->reply.flags & LWM2M_DEVOP_RF_CT);
	lwm2m_path_parse(base, strlen(base), &p);
	lwm2m_tree_init(tree, NULL);
	ck_assert_int_eq(lwm2m_decode((enum lwm2m_format)res->reply.ct,
	                              res->reply.payload,
	                              res->reply.payload_len, &p, tree, NULL),
	                 LWM2M_OK);
}

/* ---- tests ------------------------------------------------------------ */

START_TEST(test_gw_devop_handle_read)
{
	struct lwm2m_devop_req req;
	struct result res;
	struct lwm2m_tree tree;
	struct lwm2m_path p;

	req_init(&req, LWM2M_DEVOP_READ, "/3/0");
	call(&req, &res);
	ck_assert_int_eq(res.reply.status, LWM2M_DEVOP_ST_OK);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(205));
	decode(&res, "/3/0", &tree);
	lwm2m_path_parse("/3/0/2", 6, &p);
	ck_assert_ptr_nonnull(lwm2m_tree_get(&tree, &p));
	lwm2m_tree_fini(&tree);
	free(res.buf);

	req_init(&req, LWM2M_DEVOP_READ, "/3/0/2");
	req.flags = LWM2M_DEVOP_F_ACCEPT | LWM2M_DEVOP_F_SINGLE;
	req.accept = LWM2M_FMT_TEXT;
	call(&req, &res);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(205));
	ck_assert_uint_eq(res.reply.ct, LWM2M_FMT_TEXT);
	ck_assert_mem_eq(res.reply.payload, "devop-0", 7);
	free(res.buf);
}
END_TEST

START_TEST(test_gw_devop_handle_not_registered)
{
	struct lwm2m_devop_req req;
	struct result res;

	req_init(&req, LWM2M_DEVOP_READ, "/3/0");
	snprintf(req.client, sizeof req.client, "AAAAAAAAAAAAAAAAAAAAAQ");
	call(&req, &res);
	ck_assert_int_eq(res.reply.status, LWM2M_DEVOP_ST_NOT_REGISTERED);
	free(res.buf);
}
END_TEST

static void
write_string(const char *path, const char *text, struct result *res)
{
	struct lwm2m_devop_req req;
	struct lwm2m_tree tree;
	struct lwm2m_value v = {.type = LWM2M_TYPE_STRING};
	uint8_t *body;
	size_t len;

	req_init(&req, LWM2M_DEVOP_WRITE_REPLACE, path);
	v.v.bytes.ptr = (const uint8_t *)text;
	v.v.bytes.len = strlen(text);
	lwm2m_tree_init(&tree, NULL);
	ck_assert_int_eq(lwm2m_tree_set(&tree, &req.paths[0], &v), LWM2M_OK);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_SENML_CBOR, &tree,
	                              &req.paths[0], &body, &len),
	                 LWM2M_OK);
	lwm2m_tree_fini(&tree);
	req.flags = LWM2M_DEVOP_F_CT | LWM2M_DEVOP_F_SINGLE;
	req.ct = LWM2M_FMT_SENML_CBOR;
	req.payload = body;
	req.payload_len = len;
	call(&req, res);
	free(body);
}

START_TEST(test_gw_devop_handle_write_transcoded)
{
	struct lwm2m_devop_req req;
	struct result res;

	/* a 1.0 device takes TLV or text, never SenML CBOR */
	write_string("/3442/0/110", "hello \"devop\"", &res);
	ck_assert_int_eq(res.reply.status, LWM2M_DEVOP_ST_OK);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(204));
	free(res.buf);
	req_init(&req, LWM2M_DEVOP_READ, "/3442/0/110");
	req.flags = LWM2M_DEVOP_F_ACCEPT | LWM2M_DEVOP_F_SINGLE;
	req.accept = LWM2M_FMT_TEXT;
	call(&req, &res);
	ck_assert_uint_eq(res.reply.payload_len, 13);
	ck_assert_mem_eq(res.reply.payload, "hello \"devop\"", 13);
	free(res.buf);
}
END_TEST

START_TEST(test_gw_devop_handle_format_fallback)
{
	struct lwm2m_devop_req req;
	struct result res;
	struct lwm2m_tree tree;

	/* TLV comes first for a 1.0 device; this one takes only LwM2M JSON */
	req_init(&req, LWM2M_DEVOP_READ, "/3/0");
	call(&req, &res);
	ck_assert_int_eq(res.reply.status, LWM2M_DEVOP_ST_OK);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(205));
	ck_assert_uint_eq(res.reply.ct, LWM2M_FMT_LWM2M_JSON);
	decode(&res, "/3/0", &tree);
	lwm2m_tree_fini(&tree);
	free(res.buf);
}
END_TEST

START_TEST(test_gw_devop_handle_create_execute_delete)
{
	struct lwm2m_devop_req req;
	struct result res;
	struct lwm2m_tree tree;
	struct lwm2m_value v = {.type = LWM2M_TYPE_STRING};
	struct lwm2m_path p;
	uint8_t *body;
	size_t len;

	req_init(&req, LWM2M_DEVOP_CREATE, "/3303");
	lwm2m_path_parse("/3303/7/5750", 12, &p);
	v.v.bytes.ptr = (const uint8_t *)"room";
	v.v.bytes.len = 4;
	lwm2m_tree_init(&tree, NULL);
	ck_assert_int_eq(lwm2m_tree_set(&tree, &p, &v), LWM2M_OK);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_SENML_CBOR, &tree,
	                              &req.paths[0], &body, &len),
	                 LWM2M_OK);
	lwm2m_tree_fini(&tree);
	req.flags = LWM2M_DEVOP_F_CT;
	req.ct = LWM2M_FMT_SENML_CBOR;
	req.payload = body;
	req.payload_len = len;
	call(&req, &res);
	free(body);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(201));
	ck_assert_uint_eq(res.reply.location_len, 7);
	ck_assert_mem_eq(res.reply.location, "/3303/7", 7);
	free(res.buf);

	req_init(&req, LWM2M_DEVOP_EXECUTE, "/3303/7/5605");
	call(&req, &res);
	ck_assert_msg(res.reply.code == COAP_RESPONSE_CODE(204),
	              "execute: status %d code %u \"%.*s\"", res.reply.status,
	              res.reply.code, (int)res.reply.message_len,
	              res.reply.message);
	free(res.buf);

	req_init(&req, LWM2M_DEVOP_DELETE, "/3303/7");
	call(&req, &res);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(202));
	free(res.buf);

	req_init(&req, LWM2M_DEVOP_READ, "/3303/7");
	call(&req, &res);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(404));
	free(res.buf);
}
END_TEST

START_TEST(test_gw_devop_handle_blockwise)
{
	struct lwm2m_devop_req req;
	struct result res;
	struct lwm2m_tree tree;
	struct lwm2m_value v = {.type = LWM2M_TYPE_OPAQUE};
	static uint8_t pkg[6000];
	uint8_t *body;
	size_t len;

	for (size_t i = 0; i < sizeof pkg; i++) {
		pkg[i] = (uint8_t)(i * 7);
	}
	req_init(&req, LWM2M_DEVOP_WRITE_REPLACE, "/5/0/0");
	v.v.bytes.ptr = pkg;
	v.v.bytes.len = sizeof pkg;
	lwm2m_tree_init(&tree, NULL);
	ck_assert_int_eq(lwm2m_tree_set(&tree, &req.paths[0], &v), LWM2M_OK);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_SENML_CBOR, &tree,
	                              &req.paths[0], &body, &len),
	                 LWM2M_OK);
	lwm2m_tree_fini(&tree);
	req.flags = LWM2M_DEVOP_F_CT | LWM2M_DEVOP_F_SINGLE;
	req.ct = LWM2M_FMT_SENML_CBOR;
	req.payload = body;
	req.payload_len = len;
	call(&req, &res);
	free(body);
	ck_assert_int_eq(res.reply.status, LWM2M_DEVOP_ST_OK);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(204));
	free(res.buf);

	/* a read of the whole device is larger than one datagram */
	req_init(&req, LWM2M_DEVOP_READ, "/3442");
	req.flags = LWM2M_DEVOP_F_ACCEPT;
	req.accept = LWM2M_FMT_SENML_JSON;
	call(&req, &res);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(205));
	ck_assert_uint_gt(res.reply.payload_len, 100);
	free(res.buf);
}
END_TEST

START_TEST(test_gw_devop_handle_timeout)
{
	struct lwm2m_devop_req req;
	struct result res;

	sim_cmd("mute * on\n");
	req_init(&req, LWM2M_DEVOP_READ, "/3/0");
	call(&req, &res);
	ck_assert_int_eq(res.reply.status, LWM2M_DEVOP_ST_TIMEOUT);
	ck_assert_uint_gt(res.reply.message_len, 0);
	free(res.buf);
}
END_TEST

START_TEST(test_gw_devop_handle_discover_attributes)
{
	struct lwm2m_devop_req req;
	struct result res;

	req_init(&req, LWM2M_DEVOP_WRITE_ATTRIBUTES, "/3303/0/5700");
	req.query = "pmin=2&pmax=60&gt=20.5";
	req.query_len = strlen(req.query);
	call(&req, &res);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(204));
	free(res.buf);

	req_init(&req, LWM2M_DEVOP_DISCOVER, "/3303/0");
	call(&req, &res);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(205));
	ck_assert_uint_eq(res.reply.ct, LWM2M_FMT_LINK);
	ck_assert_ptr_nonnull(
	    memmem(res.reply.payload, res.reply.payload_len, "gt=20.5", 7));
	free(res.buf);
}
END_TEST

START_TEST(test_gw_devop_handle_read_composite)
{
	static const struct lwm2m_path root = {0};
	struct lwm2m_path p;
	struct lwm2m_devop_req req;
	struct lwm2m_tree tree;
	struct result res;

	/* a FETCH on "/" with a SenML CBOR path list; the values come back
	 * as the device sent them */
	req_init(&req, LWM2M_DEVOP_READ_COMPOSITE, "/3/0/2");
	req.n_paths = 2;
	lwm2m_path_parse("/3303/0/5700", 12, &req.paths[1]);
	call(&req, &res);
	ck_assert_int_eq(res.reply.status, LWM2M_DEVOP_ST_OK);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(205));
	ck_assert_uint_eq(res.reply.ct, LWM2M_FMT_SENML_CBOR);
	lwm2m_tree_init(&tree, NULL);
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_SENML_CBOR, res.reply.payload,
	                              res.reply.payload_len, &root, &tree,
	                              NULL),
	                 LWM2M_OK);
	ck_assert_ptr_nonnull(lwm2m_tree_get(&tree, &req.paths[0]));
	ck_assert_ptr_nonnull(lwm2m_tree_get(&tree, &req.paths[1]));
	p = req.paths[0];
	p.ids[2] = 0;
	ck_assert_ptr_null(lwm2m_tree_get(&tree, &p));
	lwm2m_tree_fini(&tree);
	free(res.buf);
}
END_TEST

START_TEST(test_gw_devop_handle_device_error)
{
	struct lwm2m_devop_req req;
	struct result res;

	sim_cmd("fail * 4.03\n");
	req_init(&req, LWM2M_DEVOP_READ, "/3/0");
	call(&req, &res);
	ck_assert_int_eq(res.reply.status, LWM2M_DEVOP_ST_OK);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(403));
	free(res.buf);
}
END_TEST

static bool
recv_notify(struct lwm2m_devop_notify *n, nng_msg **ret_msg)
{
	int64_t end = lwm2m_mono_ms() + 5000;
	struct lwm2m_env env;
	nng_msg *msg;

	while (lwm2m_mono_ms() < end) {
		spin(NULL, 20);
		if (nng_recvmsg(E.sub, &msg, NNG_FLAG_NONBLOCK) != 0) {
			continue;
		}
		if (lwm2m_env_decode(msg, &env) == LWM2M_OK &&
		    env.kind == LWM2M_ENV_EV_NOTIFY &&
		    lwm2m_devop_notify_decode(env.payload, env.payload_len,
		                              n) == LWM2M_OK) {
			*ret_msg = msg;
			return true;
		}
		nng_msg_free(msg);
	}
	return false;
}

/* one of client's metrics once it reads want (the gateway writes them once
 * a second, so they may arrive in several writes); its last value after
 * 5 s otherwise, -1 when unset */
static long long
metric_wait(redisContext *c, const char *client, const char *name,
            long long want)
{
	int64_t end = lwm2m_mono_ms() + 5000;
	long long v;
	redisReply *r;

	for (;;) {
		r = redisCommand(
		    c, "HGET " LWM2M_KEY_PREFIX "client:{%s}:metrics %s",
		    client, name);
		v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
		freeReplyObject(r);
		if (v == want || lwm2m_mono_ms() > end) {
			return v;
		}
		spin(NULL, 100);
	}
}

START_TEST(test_gw_devop_handle_observe)
{
	struct lwm2m_devop_req req;
	struct lwm2m_devop_notify n;
	struct result res;
	redisContext *c;
	redisReply *r;
	nng_msg *msg;

	req_init(&req, LWM2M_DEVOP_OBSERVE, "/3303/0/5700");
	req.flags = LWM2M_DEVOP_F_SINGLE;
	call(&req, &res);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(205));
	ck_assert_uint_eq(res.reply.token_len, 8);
	memcpy(req.token, res.reply.token, 8);
	req.token_len = 8;
	free(res.buf);

	sim_cmd("set * /3303/0/5700 42.5\n");
	ck_assert_msg(recv_notify(&n, &msg), "no notification");
	ck_assert_str_eq(n.client, E.client);
	ck_assert_uint_eq(n.path.len, 3);
	ck_assert_uint_eq(n.path.ids[2], 5700);
	ck_assert_mem_eq(n.token, req.token, 8);
	nng_msg_free(msg);

	c = redis_sync();
	r = redisCommand(c, "XLEN " LWM2M_KEY_EVENTS);
	ck_assert_int_ge(r->integer, 2); /* registered + notify */
	freeReplyObject(r);
	r = redisCommand(c, "HLEN " LWM2M_KEY_PREFIX "obs:{%s}", E.client);
	ck_assert_int_eq(r->integer, 1);
	freeReplyObject(r);

	req.op = LWM2M_DEVOP_CANCEL_OBSERVE;
	call(&req, &res);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(205));
	free(res.buf);
	spin(NULL, 100);
	r = redisCommand(c, "HLEN " LWM2M_KEY_PREFIX "obs:{%s}", E.client);
	ck_assert_int_eq(r->integer, 0);
	freeReplyObject(r);
	ck_assert_int_eq(metric_wait(c, E.client, "TransactionCount", 2), 2);
	redisFree(c);
}
END_TEST

START_TEST(test_gw_devop_handle_queued)
{
	struct lwm2m_devop_req req;
	struct lwm2m_devop_reply out;
	struct result res;
	redisContext *c;
	redisReply *r = NULL;

	spin(NULL, 1500); /* past the awake windows: the device sleeps */
	req_init(&req, LWM2M_DEVOP_READ, "/3/0/2");
	req.flags = LWM2M_DEVOP_F_SINGLE;
	req.wait_ms = 300;
	snprintf(req.opid, sizeof req.opid, "BBBBBBBBBBBBBBBBBBBBBQ");
	call(&req, &res);
	ck_assert_int_eq(res.reply.status, LWM2M_DEVOP_ST_QUEUED);
	free(res.buf);

	sim_cmd("sleep * off\n"); /* wakes with an Update */
	c = redis_sync();
	for (int i = 0; i < 50; i++) {
		spin(NULL, 100);
		r = redisCommand(c, "HGET " LWM2M_KEY_PREFIX "op:{%s} reply",
		                 req.opid);
		if (r->type == REDIS_REPLY_STRING) {
			break;
		}
		freeReplyObject(r);
		r = NULL;
	}
	ck_assert_msg(r != NULL, "queued result not stored");
	ck_assert_int_eq(
	    lwm2m_devop_reply_decode((const uint8_t *)r->str, r->len, &out),
	    LWM2M_OK);
	ck_assert_int_eq(out.status, LWM2M_DEVOP_ST_OK);
	ck_assert_uint_eq(out.code, COAP_RESPONSE_CODE(205));
	freeReplyObject(r);
	redisFree(c);
}
END_TEST

static void
observe_temperature(struct lwm2m_devop_req *req)
{
	struct result res;

	req_init(req, LWM2M_DEVOP_OBSERVE, "/3303/0/5700");
	req->flags = LWM2M_DEVOP_F_SINGLE;
	call(req, &res);
	ck_assert_uint_eq(res.reply.code, COAP_RESPONSE_CODE(205));
	ck_assert_uint_eq(res.reply.token_len, 8);
	memcpy(req->token, res.reply.token, 8);
	req->token_len = 8;
	free(res.buf);
}

static long long
obs_count(void)
{
	redisContext *c = redis_sync();
	redisReply *r =
	    redisCommand(c, "HLEN " LWM2M_KEY_PREFIX "obs:{%s}", E.client);
	long long n = r->integer;

	freeReplyObject(r);
	redisFree(c);
	return n;
}

START_TEST(test_gw_devop_handle_observe_forgotten)
{
	struct lwm2m_devop_req req;
	struct lwm2m_devop_notify n;
	struct result res;
	nng_msg *msg;

	/* a passive cancel forgets the token: no more notifications */
	observe_temperature(&req);
	req.op = LWM2M_DEVOP_CANCEL_OBSERVE;
	req.flags = LWM2M_DEVOP_F_PASSIVE;
	call(&req, &res);
	ck_assert_int_eq(res.reply.status, LWM2M_DEVOP_ST_OK);
	free(res.buf);
	spin(NULL, 100);
	ck_assert_int_eq(obs_count(), 0);
	sim_cmd("set * /3303/0/5700 12.5\n");
	ck_assert_msg(!recv_notify(&n, &msg), "notification after a cancel");

	/* a new registration ends the observations on the device */
	observe_temperature(&req);
	ck_assert_int_eq(obs_count(), 1);
	sim_cmd("register *\n");
	spin(NULL, 500);
	ck_assert_int_eq(obs_count(), 0);
}
END_TEST

static void
setup_v10(void)
{
	static const char *const extra[] = {"--lwm2m", "1.0", NULL};

	setup_with(extra);
}

static void
setup_json_only(void)
{
	static const char *const extra[] = {"--lwm2m", "1.0", "--formats",
	                                    "11543", NULL};

	setup_with(extra);
}

static void
setup_queue(void)
{
	static const char *const extra[] = {"--queue", "--awake", "1", NULL};

	setenv("LWDS_QUEUE_AWAKE_MS", "800", 1);
	setup_with(extra);
}

static void
setup_short_timeout(void)
{
	setenv("LWDS_DEVICE_TIMEOUT_MS", "1500", 1);
	setup_with(NULL);
}

static TCase *
tcase(const char *name, void (*fn)(void), const TTest *test)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, fn, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test);
	return tc;
}

int
main(void)
{
	Suite *s = suite_create("gw_devop");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	suite_add_tcase(s, tcase("read", setup, test_gw_devop_handle_read));
	suite_add_tcase(s, tcase("not_registered", setup,
	                         test_gw_devop_handle_not_registered));
	suite_add_tcase(s, tcase("write", setup_v10,
	                         test_gw_devop_handle_write_transcoded));
	suite_add_tcase(s, tcase("fallback", setup_json_only,
	                         test_gw_devop_handle_format_fallback));
	suite_add_tcase(s, tcase("create", setup,
	                         test_gw_devop_handle_create_execute_delete));
	suite_add_tcase(s,
	                tcase("block", setup, test_gw_devop_handle_blockwise));
	suite_add_tcase(s, tcase("attributes", setup,
	                         test_gw_devop_handle_discover_attributes));
	suite_add_tcase(
	    s, tcase("composite", setup, test_gw_devop_handle_read_composite));
	suite_add_tcase(
	    s, tcase("device_error", setup, test_gw_devop_handle_device_error));
	suite_add_tcase(s, tcase("timeout", setup_short_timeout,
	                         test_gw_devop_handle_timeout));
	suite_add_tcase(s,
	                tcase("observe", setup, test_gw_devop_handle_observe));
	suite_add_tcase(s, tcase("observe_end", setup,
	                         test_gw_devop_handle_observe_forgotten));
	suite_add_tcase(
	    s, tcase("queued", setup_queue, test_gw_devop_handle_queued));
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
