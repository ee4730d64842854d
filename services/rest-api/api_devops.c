/* api_devops.c - the device-operation engine: client and gateway lookup in
 * Redis, the rpc to the gateway, and the mapping of every outcome onto HTTP
 * (api_devops.h). */
#include "api_devops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lwm2m_id.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"

#define RPC_MARGIN_MS 3000 /* rpc timeout past the device timeout */
#define STATE_REGISTERED "registered"

struct devop_call {
	struct api_req *r;
	api_devop_done done;
	void *arg;
	char client[LWM2M_ID_SIZE];
	char opid[LWM2M_ID_SIZE];
	char what[64]; /* "read /3/0" for messages */
	char ctx[96];  /* the handler's note, kept with a queued operation */
	uint8_t *buf;  /* encoded request */
	size_t len;
	uint32_t wait_ms;
	bool strict;
	char *rpc_url;
	bool lookup_failed; /* the gateway's HGET had an error reply */
	bool lone_hget;     /* the EXISTS after it could not be sent */
};

static void
call_free(struct devop_call *c)
{
	if (c != NULL) {
		free(c->buf);
		free(c->rpc_url);
		free(c);
	}
}

/* ---- pure helpers ------------------------------------------------------- */

static bool
token_is(const char *tok, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(tok, name, len) == 0;
}

/* One preference "name[=value]" of a Prefer header. */
static bool
wait_pref(const char *tok, size_t len, uint32_t *wait, bool *strict)
{
	char num[16];
	long long secs;

	if (token_is(tok, len, "respond-async")) {
		*wait = 0;
	} else if (token_is(tok, len, "handling=strict")) {
		*strict = true;
	} else if (len > 5 && strncasecmp(tok, "wait=", 5) == 0) {
		if (len - 5 >= sizeof num) {
			return false;
		}
		memcpy(num, tok + 5, len - 5);
		num[len - 5] = '\0';
		if (lwm2m_parse_int(num, 0, API_DEVOP_MAX_WAIT_MS / 1000,
		                    &secs) != LWM2M_OK) {
			return false;
		}
		*wait = (uint32_t)secs * 1000u;
	}
	return true;
}

bool
api_devop_wait_parse(const char *prefer, uint32_t dflt, uint32_t *ret_wait_ms,
                     bool *ret_strict)
{
	uint32_t wait = dflt;
	bool strict = false;
	const char *p = prefer != NULL ? prefer : "";

	while (*p != '\0') {
		size_t len;

		p += strspn(p, " \t,;");
		len = strcspn(p, " \t,;");
		if (len > 0 && !wait_pref(p, len, &wait, &strict)) {
			return false;
		}
		p += len;
	}
	*ret_wait_ms = wait;
	*ret_strict = strict;
	return true;
}

int
api_devop_http_status(uint8_t code)
{
	switch (code) {
	case 0x80: /* 4.00 */
		return 400;
	case 0x81: /* 4.01 */
	case 0x83: /* 4.03 */
		return 403;
	case 0x84:
		return 404;
	case 0x85:
		return 405;
	case 0x86:
		return 406;
	case 0x8d:
		return 413;
	case 0x8f:
		return 415;
	default:
		return (code >> 5) == 4 ? 400 : 502;
	}
}

const char *
api_devop_path_text(const struct lwm2m_devop_req *req, char *buf, size_t size)
{
	if (req->n_paths == 0 ||
	    lwm2m_path_format(&req->paths[0], buf, size) < 0) {
		snprintf(buf, size, "/");
	}
	return buf;
}

/* ---- outcome ------------------------------------------------------------ */

static void
reply_unavailable(struct api_req *r, const char *why)
{
	api_reply_header(r, "Retry-After", API_DEVOP_RETRY_AFTER);
	api_reply_error(r, 503, "%s", why);
}

/* 202 with the operation's Location and its pending representation; the
 * API's half of the operation record (the gateway adds the reply). */
static void
reply_queued(struct api_req *r, struct devop_call *c)
{
	char path[128], key[64];

	snprintf(key, sizeof key, LWM2M_KEY_OP, c->opid);
	if (r->api->redis != NULL) {
		(void)lwm2m_redis_cmd(r->api->redis, NULL, NULL,
		                      "HSET %s " LWM2M_OF_CLIENT
		                      " %s " LWM2M_OF_ORG " %lld " LWM2M_OF_CTX
		                      " %s",
		                      key, c->client, r->org, c->ctx);
		(void)lwm2m_redis_cmd(r->api->redis, NULL, NULL, "EXPIRE %s %d",
		                      key, LWM2M_OP_TTL_S);
	}
	snprintf(path, sizeof path, "/clients/%s/operations/%s", c->client,
	         c->opid);
	api_reply_location(r, path);
	api_operation_reply_pending(r, 202, path);
}

static void
reply_device_code(struct api_req *r, struct devop_call *c,
                  const struct lwm2m_devop_reply *rep)
{
	api_reply_error(r, api_devop_http_status(rep->code),
	                "client %s answered %u.%02u to %s", c->client,
	                (unsigned)(rep->code >> 5), (unsigned)(rep->code & 31),
	                c->what);
}

static void
dispatch_reply(struct api_req *r, struct devop_call *c,
               const struct lwm2m_devop_reply *rep)
{
	switch (rep->status) {
	case LWM2M_DEVOP_ST_OK:
		if ((rep->code >> 5) == 2) {
			c->done(r, rep, c->arg);
		} else {
			reply_device_code(r, c, rep);
		}
		break;
	case LWM2M_DEVOP_ST_NOT_REGISTERED:
		api_reply_error(r, 404, API_MSG_NOT_REGISTERED);
		break;
	case LWM2M_DEVOP_ST_TIMEOUT:
		api_reply_error(r, 504, "client %s did not answer %s",
		                c->client, c->what);
		break;
	case LWM2M_DEVOP_ST_QUEUED:
		reply_queued(r, c);
		break;
	case LWM2M_DEVOP_ST_BAD_REQUEST:
		api_reply_error(r, 400, "%s: %.*s", c->what,
		                (int)rep->message_len, rep->message);
		break;
	case LWM2M_DEVOP_ST_BUSY:
	case LWM2M_DEVOP_ST_FAILED:
	case LWM2M_DEVOP_ST_MAX:
		reply_unavailable(r, "gateway cannot send the request now");
		break;
	}
}

void
api_devop_resume(struct api_req *r, const char *client, const char *what,
                 const struct lwm2m_devop_reply *rep, api_devop_done done,
                 void *arg)
{
	struct devop_call c = {.r = r, .done = done, .arg = arg};

	snprintf(c.client, sizeof c.client, "%s", client);
	snprintf(c.what, sizeof c.what, "%s", what);
	if (rep->status == LWM2M_DEVOP_ST_QUEUED) {
		api_reply_error(r, 504, "client %s did not answer %s", client,
		                what);
		return;
	}
	dispatch_reply(r, &c, rep);
}

static void
on_rpc(lwm2m_err err, const struct lwm2m_env *env, void *arg)
{
	struct devop_call *c = arg;
	struct api_req *r = c->r;
	struct lwm2m_devop_reply rep;

	if (!api_req_release(r)) {
		call_free(c);
		return;
	}
	if (err != LWM2M_OK || env == NULL) {
		lwm2m_log(LWM2M_LOG_WARNING, "req=%llu: %s id=%s: gateway: %s",
		          (unsigned long long)r->id, c->what, c->client,
		          lwm2m_strerror(err));
		reply_unavailable(r, "gateway unavailable");
	} else if (lwm2m_devop_reply_decode(env->payload, env->payload_len,
	                                    &rep) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "req=%llu: unreadable gateway reply",
		          (unsigned long long)r->id);
		reply_unavailable(r, "gateway sent an unreadable reply");
	} else {
		dispatch_reply(r, c, &rep);
	}
	call_free(c);
}

/* ---- lookups ------------------------------------------------------------
 * Through lwm2m_redis with api_req_hold/release rather than api_redis_cmd,
 * so that every callback runs and frees the call even when the HTTP client
 * has gone. */

static void
send_rpc(struct api_req *r, struct devop_call *c)
{
	int timeout =
	    (int)(c->wait_ms + r->api->cfg.device_timeout_ms + RPC_MARGIN_MS);

	if (r->api->rpc == NULL ||
	    lwm2m_rpc_call_rid(r->api->rpc, c->rpc_url, LWM2M_ENV_RPC_DEVICE,
	                       r->req_id, c->buf, c->len, timeout, on_rpc,
	                       c) != LWM2M_OK) {
		reply_unavailable(r, "gateway unreachable");
		call_free(c);
		return;
	}
	api_req_hold(r);
}

/* The gateway lookup is two pipelined commands, HGET gw rpc then EXISTS
 * gw:alive (no Lua script: that cost Redis about 4 us per read); their
 * replies come in order and the second one decides. */
static void
on_gateway_url(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct devop_call *c = arg;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		c->lookup_failed = true;
	} else if (reply->type == REDIS_REPLY_STRING) {
		c->rpc_url = strdup(reply->str);
	}
	if (c->lone_hget) {
		if (api_req_release(c->r)) {
			reply_unavailable(c->r, "storage unavailable");
		}
		call_free(c);
	}
}

static void
on_gateway_alive(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct devop_call *c = arg;
	struct api_req *r = c->r;

	if (!api_req_release(r)) {
		call_free(c);
		return;
	}
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR ||
	    c->lookup_failed) {
		call_free(c);
		reply_unavailable(r, "storage unavailable");
		return;
	}
	if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1 ||
	    c->rpc_url == NULL) {
		call_free(c);
		reply_unavailable(r, "the client's gateway is down");
		return;
	}
	send_rpc(r, c);
}

/* True for a client record of r's organisation that is registered. */
static bool
client_registered(struct api_req *r, redisReply *reply)
{
	long long org;

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_STRING ||
	    reply->element[2]->type != REDIS_REPLY_STRING) {
		return false;
	}
	return lwm2m_parse_int(reply->element[0]->str, 0, INT64_MAX, &org) ==
	           LWM2M_OK &&
	       org == r->org &&
	       strcmp(reply->element[1]->str, STATE_REGISTERED) == 0 &&
	       reply->element[2]->len > 0 && reply->element[2]->len < 200;
}

static void
on_client(struct lwm2m_redis *redis, redisReply *reply, void *arg)
{
	struct devop_call *c = arg;
	struct api_req *r = c->r;
	const char *gw;
	char key[256], alive[256];

	if (!api_req_release(r)) {
		call_free(c);
		return;
	}
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		call_free(c);
		reply_unavailable(r, "storage unavailable");
		return;
	}
	if (!client_registered(r, reply)) {
		api_reply_error(r, 404, API_MSG_NOT_REGISTERED);
		call_free(c);
		return;
	}
	gw = reply->element[2]->str;
	snprintf(key, sizeof key, LWM2M_KEY_GATEWAY, gw);
	snprintf(alive, sizeof alive, LWM2M_KEY_GATEWAY_ALIVE, gw);
	if (reply->elements < 4 ||
	    reply->element[3]->type != REDIS_REPLY_STRING ||
	    strcmp(reply->element[3]->str, "1") != 0) {
		c->wait_ms =
		    0; /* not in queue mode: no waiting for a wake-up */
	}
	if (lwm2m_redis_cmd(redis, on_gateway_url, c, "HGET %s rpc", key) !=
	    LWM2M_OK) {
		call_free(c);
		reply_unavailable(r, "storage unavailable");
		return;
	}
	api_req_hold(r);
	if (lwm2m_redis_cmd(redis, on_gateway_alive, c, "EXISTS %s", alive) !=
	    LWM2M_OK) {
		c->lone_hget = true; /* on_gateway_url answers */
	}
}

/* ---- entry -------------------------------------------------------------- */

static lwm2m_err
prepare(struct api_req *r, struct lwm2m_devop_req *req, struct devop_call *c)
{
	char path[32];
	bool strict;

	if (!api_devop_wait_parse(api_req_header(r, "Prefer"),
	                          r->api->cfg.queue_wait_ms, &c->wait_ms,
	                          &strict)) {
		return LWM2M_EINVAL;
	}
	if (lwm2m_id_new(c->opid) != LWM2M_OK) {
		return LWM2M_EIO;
	}
	req->wait_ms = c->wait_ms;
	memcpy(req->opid, c->opid, sizeof req->opid);
	if (strict) {
		req->flags |= LWM2M_DEVOP_F_NO_QUEUE;
	}
	snprintf(c->client, sizeof c->client, "%s", req->client);
	snprintf(c->what, sizeof c->what, "%s %s", lwm2m_devop_op_name(req->op),
	         api_devop_path_text(req, path, sizeof path));
	return lwm2m_devop_req_encode(req, &c->buf, &c->len);
}

void
api_devop_call(struct api_req *r, struct lwm2m_devop_req *req, const char *ctx,
               api_devop_done done, void *arg)
{
	struct devop_call *c = calloc(1, sizeof *c);
	lwm2m_err err;

	if (c == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	*c = (struct devop_call){.r = r, .done = done, .arg = arg};
	snprintf(c->ctx, sizeof c->ctx, "%s", ctx != NULL ? ctx : "");
	err = prepare(r, req, c);
	if (err != LWM2M_OK) {
		call_free(c);
		api_reply_error(r, 400,
		                err == LWM2M_EINVAL
		                    ? "invalid Prefer header or request"
		                    : "cannot build the request");
		return;
	}
	if (r->api->redis == NULL ||
	    lwm2m_redis_cmd(r->api->redis, on_client, c,
	                    "HMGET " LWM2M_KEY_CLIENT " %s %s %s %s", c->client,
	                    LWM2M_CF_ORG, LWM2M_CF_STATE, LWM2M_CF_GATEWAY,
	                    LWM2M_CF_QUEUE) != LWM2M_OK) {
		call_free(c);
		reply_unavailable(r, "storage unavailable");
		return;
	}
	api_req_hold(r);
}
