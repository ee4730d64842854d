/* gw_devop.c - device operations: LWM2M_ENV_RPC_DEVICE requests
 * (lwm2m_devop.h) become CoAP requests on the device's session; the answer,
 * a device timeout or "queued" goes back over rpc.
 *
 * Requests are CON with a fresh random 8-byte token; libcoap retransmits
 * (RFC 7252 defaults) and does block-wise transfers both ways.  Reads pick
 * the Accept format from the registration (lwm2m_format.h) and move on to the
 * next one after 4.06; writes are transcoded from the caller's format to the
 * device's and retried in the next format after 4.15.  Queue-mode devices
 * get requests only while awake (LWDS_QUEUE_AWAKE_MS after their last
 * message); otherwise requests wait in a bounded per-device queue.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include "gw.h"
#include "lwm2m_devop.h"
#include "lwm2m_keys.h"
#include "lwm2m_log.h"
#include "lwm2m_metrics.h"
#include "lwm2m_redis.h"
#include "lwm2m_rpc.h"

struct gw_devop {
	struct gw_qnode node; /* first: in the device queue or in flight */
	struct gw_devops *ds;
	struct lwm2m_rpc_req *rpc; /* NULL once answered "queued" */
	struct lwm2m_devop_req req;
	uint8_t *body; /* copy of req.payload */
	char query[LWM2M_DEVOP_MAX_QUERY + 1];
	long long org;
	uint8_t token[LWM2M_DEVOP_MAX_TOKEN];
	enum lwm2m_format refused[LWM2M_FORMAT_MAX_CAND];
	size_t n_refused;
	enum lwm2m_format fmt; /* Accept or Content-Format of the last try */
	bool has_fmt, sent, queued;
	bool from_queue; /* sent from the device queue: the next waits for it */
	uint8_t retries; /* waits for a session to the device */
	struct event *timer; /* device timeout, or the caller's wait */
	int64_t created_ms;
};

/* ---- pure helpers --------------------------------------------------------
 */

coap_pdu_code_t
gw_devop_method(enum lwm2m_devop_op op)
{
	switch (op) {
	case LWM2M_DEVOP_READ:
	case LWM2M_DEVOP_DISCOVER:
	case LWM2M_DEVOP_OBSERVE:
	case LWM2M_DEVOP_CANCEL_OBSERVE:
		return COAP_REQUEST_CODE_GET;
	case LWM2M_DEVOP_WRITE_REPLACE:
	case LWM2M_DEVOP_WRITE_ATTRIBUTES:
		return COAP_REQUEST_CODE_PUT;
	case LWM2M_DEVOP_WRITE_UPDATE:
	case LWM2M_DEVOP_EXECUTE:
	case LWM2M_DEVOP_CREATE:
		return COAP_REQUEST_CODE_POST;
	case LWM2M_DEVOP_DELETE:
		return COAP_REQUEST_CODE_DELETE;
	case LWM2M_DEVOP_READ_COMPOSITE:
		return COAP_REQUEST_CODE_FETCH;
	case LWM2M_DEVOP_WRITE_COMPOSITE:
		return COAP_REQUEST_CODE_IPATCH;
	case LWM2M_DEVOP_OP_MAX:
		break;
	}
	return COAP_REQUEST_CODE_GET;
}

size_t
gw_devop_segments(const char *root, const struct lwm2m_path *path, char *buf,
                  size_t size, struct gw_str *segs, size_t max)
{
	size_t n = 0, used = 0, len;
	const char *p = root != NULL ? root : "", *slash;
	int w;

	while (*p != '\0') {
		p += *p == '/';
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (len > 0 && n < max) {
			segs[n++] = (struct gw_str){p, len};
		}
		p += len;
	}
	for (uint8_t i = 0; i < path->len && n < max; i++) {
		w = snprintf(buf + used, size - used, "%u", path->ids[i]);
		if (w < 0 || (size_t)w >= size - used) {
			return 0;
		}
		segs[n++] = (struct gw_str){buf + used, (size_t)w};
		used += (size_t)w + 1;
	}
	return n;
}

/* SenML CBOR: array of maps {0 (n): text}; SenML JSON: [{"n":"..."}] */
lwm2m_err
gw_devop_composite_body(enum lwm2m_format fmt, const struct lwm2m_path *paths,
                        size_t n, uint8_t **ret_buf, size_t *ret_len)
{
	struct lwm2m_buf b = {0};
	char text[40];
	uint8_t hdr[3];
	lwm2m_err err = LWM2M_OK;
	int len;

	if (fmt != LWM2M_FMT_SENML_CBOR && fmt != LWM2M_FMT_SENML_JSON) {
		return LWM2M_EINVAL;
	}
	if (fmt == LWM2M_FMT_SENML_CBOR) {
		hdr[0] = 0x98; /* array, 1-byte count */
		hdr[1] = (uint8_t)n;
		err = lwm2m_buf_append(&b, hdr, 2);
	} else {
		err = lwm2m_buf_append(&b, "[", 1);
	}
	for (size_t i = 0; i < n && err == LWM2M_OK; i++) {
		len = lwm2m_path_format(&paths[i], text, sizeof text);
		if (fmt == LWM2M_FMT_SENML_CBOR) {
			hdr[0] = 0xa1;                  /* map of 1 */
			hdr[1] = 0x00;                  /* key 0: n */
			hdr[2] = (uint8_t)(0x60 + len); /* text, len < 24 */
			err = lwm2m_buf_append(&b, hdr, 3);
			if (err == LWM2M_OK) {
				err = lwm2m_buf_append(&b, text, (size_t)len);
			}
			continue;
		}
		err = lwm2m_buf_append(&b, i > 0 ? ",{\"n\":\"" : "{\"n\":\"",
		                       i > 0 ? 7 : 6);
		if (err == LWM2M_OK) {
			err = lwm2m_buf_append(&b, text, (size_t)len);
		}
		if (err == LWM2M_OK) {
			err = lwm2m_buf_append(&b, "\"}", 2);
		}
	}
	if (err == LWM2M_OK && fmt == LWM2M_FMT_SENML_JSON) {
		err = lwm2m_buf_append(&b, "]", 1);
	}
	if (err != LWM2M_OK) {
		lwm2m_buf_fini(&b);
		return err;
	}
	*ret_buf = b.data;
	*ret_len = b.len;
	return LWM2M_OK;
}

/* ---- operation lifecycle --------------------------------------------------
 */

static void
op_free(struct gw_devop *op)
{
	if (op->timer != NULL) {
		event_free(op->timer);
	}
	if (op->rpc != NULL) {
		lwm2m_rpc_req_drop(op->rpc);
	}
	op->ds->n_ops--;
	free(op->body);
	free(op);
}

/* Writes the outcome of a queued operation for the API (LWM2M_KEY_OP). */
static void
store_result(struct gw_devop *op, const struct lwm2m_devop_reply *r)
{
	struct gw_ctx *gw = op->ds->gw;
	char key[64];
	uint8_t *buf;
	size_t len;

	if (lwm2m_devop_reply_encode(r, &buf, &len) != LWM2M_OK) {
		return;
	}
	snprintf(key, sizeof key, LWM2M_KEY_OP, op->req.opid);
	lwm2m_redis_cmd(gw->redis, NULL, NULL, "HSET %s " LWM2M_OF_REPLY " %b",
	                key, buf, len);
	lwm2m_redis_cmd(gw->redis, NULL, NULL, "EXPIRE %s %d", key,
	                LWM2M_OP_TTL_S);
	free(buf);
}

static void queue_next(struct gw_devops *ds, const char *client);

/* Answers the caller (or stores the result of a queued operation) and
 * frees op; op must be unlinked already.  The device's next queued
 * request goes out once op, sent from the queue, is over. */
static void
op_finish(struct gw_devop *op, const struct lwm2m_devop_reply *r)
{
	struct gw_devops *ds = op->ds;
	char client[LWM2M_ID_SIZE];
	bool next = op->from_queue;
	uint8_t *buf;
	size_t len;

	if (r->status < LWM2M_DEVOP_ST_MAX) {
		lwm2m_metrics_inc(op->ds->m_status[r->status]);
	}
	if (op->rpc != NULL) {
		if (lwm2m_devop_reply_encode(r, &buf, &len) == LWM2M_OK) {
			lwm2m_rpc_reply(op->rpc, 0, buf, len);
			free(buf);
		} else {
			lwm2m_rpc_reply_error(op->rpc, LWM2M_EINVAL,
			                      "reply over the limits");
		}
		op->rpc = NULL;
	} else if (op->queued && op->req.opid[0] != '\0') {
		store_result(op, r);
	}
	memcpy(client, op->req.client, sizeof client);
	op_free(op);
	if (next) {
		queue_next(ds, client);
	}
}

static void
op_fail(struct gw_devop *op, enum lwm2m_devop_status st, const char *msg)
{
	struct lwm2m_devop_reply r = {
	    .status = st, .message = msg, .message_len = strlen(msg)};

	if (r.message_len > LWM2M_DEVOP_MAX_MESSAGE) {
		r.message_len = LWM2M_DEVOP_MAX_MESSAGE;
	}
	op_finish(op, &r);
}

/* Answers "not registered" etc. for a request that never became an op. */
static void
reply_status(struct lwm2m_rpc_req *rpc, enum lwm2m_devop_status st,
             const char *msg)
{
	struct lwm2m_devop_reply r = {
	    .status = st, .message = msg, .message_len = strlen(msg)};
	uint8_t *buf;
	size_t len;

	if (lwm2m_devop_reply_encode(&r, &buf, &len) != LWM2M_OK) {
		lwm2m_rpc_reply_error(rpc, LWM2M_ENOMEM, "out of memory");
		return;
	}
	lwm2m_rpc_reply(rpc, 0, buf, len);
	free(buf);
}

static struct gw_devop *
op_new(struct gw_devops *ds, struct lwm2m_rpc_req *rpc,
       const struct lwm2m_devop_req *req, long long org)
{
	struct gw_devop *op = calloc(1, sizeof *op);

	if (op == NULL) {
		return NULL;
	}
	op->req = *req;
	if (req->payload_len > 0) {
		op->body = malloc(req->payload_len);
		if (op->body == NULL) {
			free(op);
			return NULL;
		}
		memcpy(op->body, req->payload, req->payload_len);
	}
	op->req.payload = op->body;
	memcpy(op->query, req->query, req->query_len);
	op->req.query = op->query;
	op->ds = ds;
	op->rpc = rpc;
	op->org = org;
	op->created_ms = lwm2m_mono_ms();
	ds->n_ops++;
	return op;
}

/* ---- in-flight table ---------------------------------------------------- */

static void
inflight_add(struct gw_devops *ds, struct gw_devop *op)
{
	gw_qlist_push(&ds->inflight, &op->node);
}

static struct gw_devop *
inflight_find(struct gw_devops *ds, const uint8_t *token, size_t len)
{
	struct gw_qnode *n;

	if (len != LWM2M_DEVOP_MAX_TOKEN) {
		return NULL;
	}
	for (n = ds->inflight.head; n != NULL; n = n->next) {
		struct gw_devop *op = (struct gw_devop *)n;
		if (memcmp(op->token, token, len) == 0) {
			return op;
		}
	}
	return NULL;
}

static void
set_timer(struct gw_devop *op, event_callback_fn fn, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (op->timer != NULL) {
		event_free(op->timer);
	}
	op->timer = evtimer_new(op->ds->gw->base, fn, op);
	if (op->timer != NULL) {
		evtimer_add(op->timer, &tv);
	}
}

/* ---- the device's session ------------------------------------------------
 * A plain-UDP device is reached through a client session of our own, bound
 * to the CoAP listen address (so the device sees the address it registered
 * with) and connected to the device.  Server sessions are not kept: libcoap
 * walks every session of an endpoint each time it creates one, so holding
 * one per registered device would cost O(devices) per registration.  Idle
 * client sessions are kept for reuse, least recently used closed first past
 * LWDS_DEVICE_SESSIONS_MAX (each is a socket; by default half the
 * descriptor limit, see sessions_default).  A DTLS device can only be
 * reached on the session it opened; that one is held while it is
 * registered. */

#define SESSION_RETRY_MS 100
#define SESSION_RETRIES 20

static struct gw_device *
idle_device(struct gw_qnode *n)
{
	return (struct gw_device *)((char *)n -
	                            offsetof(struct gw_device, idle));
}

static coap_session_t *
device_session(struct gw_devops *ds, struct gw_device *dev)
{
	gw_qlist_remove(&ds->idle, &dev->idle);
	if (dev->session == NULL && !dev->dtls && ds->gw->coap != NULL) {
		dev->session = coap_new_client_session(
		    ds->gw->coap, &ds->local, &dev->addr, COAP_PROTO_UDP);
		if (dev->session != NULL) {
			coap_session_set_no_observe_cancel(dev->session);
			ds->n_client++;
		}
	}
	return dev->session;
}

static void
close_client(struct gw_devops *ds, struct gw_device *dev)
{
	gw_qlist_remove(&ds->idle, &dev->idle);
	if (dev->session != NULL) {
		coap_session_release(dev->session);
		dev->session = NULL;
		if (!dev->dtls && ds->n_client > 0) {
			ds->n_client--;
		}
	}
}

/* dev's client session is unused: keep it for reuse, in LRU order */
static void
release_later(struct gw_devops *ds, struct gw_device *dev)
{
	if (dev->dtls || dev->n_sent > 0 || dev->session == NULL) {
		return;
	}
	gw_qlist_remove(&ds->idle, &dev->idle);
	gw_qlist_push(&ds->idle, &dev->idle);
	if (ds->n_client > ds->client_max && ds->flush_ev != NULL) {
		event_active(ds->flush_ev, EV_TIMEOUT, 0);
	}
}

void
gw_devop_release_sessions(struct gw_devops *ds)
{
	struct gw_qnode *n;

	while (ds->n_client > ds->client_max &&
	       (n = gw_qlist_pop(&ds->idle)) != NULL) {
		close_client(ds, idle_device(n));
	}
}

/* op is no longer out on the device's session */
static void
op_unsent(struct gw_devop *op, struct gw_device *dev)
{
	gw_qlist_remove(&op->ds->inflight, &op->node);
	if (op->sent && dev != NULL && dev->n_sent > 0) {
		dev->n_sent--;
		release_later(op->ds, dev);
	}
	op->sent = false;
}

/* ---- building and sending ----------------------------------------------- */

static bool
single_value(const struct gw_devop *op, const struct lwm2m_path *p)
{
	return p->len == 4 ||
	       (p->len == 3 && (op->req.flags & LWM2M_DEVOP_F_SINGLE));
}

/* The format of this try: Accept for reads, Content-Format for writes. */
static lwm2m_err
pick_format(struct gw_devop *op, const struct gw_device *dev,
            const struct lwm2m_path *p)
{
	if (op->req.op == LWM2M_DEVOP_READ ||
	    op->req.op == LWM2M_DEVOP_OBSERVE) {
		if (op->req.flags & LWM2M_DEVOP_F_ACCEPT) {
			if (op->n_refused > 0) {
				return LWM2M_ENOTFOUND;
			}
			op->fmt = (enum lwm2m_format)op->req.accept;
			return LWM2M_OK;
		}
	}
	return lwm2m_format_next(&dev->caps, p, single_value(op, p),
	                         op->refused, op->n_refused, &op->fmt);
}

static lwm2m_err
transcode(struct gw_devop *op, const struct lwm2m_path *base, uint8_t **ret_buf,
          size_t *ret_len, char *msg, size_t msg_size)
{
	struct lwm2m_tree tree;
	struct lwm2m_diag diag = {0};
	lwm2m_err err;

	lwm2m_tree_init(&tree, NULL);
	err = lwm2m_decode((enum lwm2m_format)op->req.ct, op->req.payload,
	                   op->req.payload_len, base, &tree, &diag);
	if (err != LWM2M_OK) {
		snprintf(msg, msg_size, "payload: %s", diag.msg);
	} else {
		err = lwm2m_encode(op->fmt, &tree, base, ret_buf, ret_len);
		if (err != LWM2M_OK) {
			snprintf(msg, msg_size, "cannot encode as %u",
			         (unsigned)op->fmt);
		}
	}
	lwm2m_tree_fini(&tree);
	return err;
}

/* The request body of this try in *ret_buf (malloc) or NULL. */
static lwm2m_err
make_body(struct gw_devop *op, const struct gw_device *dev, uint8_t **ret_buf,
          size_t *ret_len, char *msg, size_t msg_size)
{
	static const struct lwm2m_path root = {0};
	enum lwm2m_devop_op o = op->req.op;
	lwm2m_err err;

	*ret_buf = NULL;
	*ret_len = 0;
	if (o == LWM2M_DEVOP_READ_COMPOSITE) {
		return gw_devop_composite_body(
		    op->fmt == LWM2M_FMT_SENML_JSON ? LWM2M_FMT_SENML_JSON
		                                    : LWM2M_FMT_SENML_CBOR,
		    op->req.paths, op->req.n_paths, ret_buf, ret_len);
	}
	if (o == LWM2M_DEVOP_EXECUTE && op->req.payload_len > 0) {
		*ret_buf = malloc(op->req.payload_len);
		if (*ret_buf == NULL) {
			return LWM2M_ENOMEM;
		}
		memcpy(*ret_buf, op->req.payload, op->req.payload_len);
		*ret_len = op->req.payload_len;
		return LWM2M_OK;
	}
	if (o != LWM2M_DEVOP_WRITE_REPLACE && o != LWM2M_DEVOP_WRITE_UPDATE &&
	    o != LWM2M_DEVOP_CREATE && o != LWM2M_DEVOP_WRITE_COMPOSITE) {
		return LWM2M_OK;
	}
	err = transcode(
	    op, o == LWM2M_DEVOP_WRITE_COMPOSITE ? &root : &op->req.paths[0],
	    ret_buf, ret_len, msg, msg_size);
	(void)dev;
	return err;
}

static void
add_uint_opt(coap_optlist_t **chain, uint16_t num, unsigned v)
{
	uint8_t buf[4];

	coap_insert_optlist(
	    chain, coap_new_optlist(
	               num, coap_encode_var_safe(buf, sizeof buf, v), buf));
}

static void
add_path_opts(struct gw_devop *op, const struct gw_device *dev,
              coap_optlist_t **chain)
{
	static const struct lwm2m_path root = {0};
	const struct lwm2m_path *p = &op->req.paths[0];
	struct gw_str segs[LWM2M_PATH_MAX_LEN + 8];
	char buf[64];
	size_t n;

	if (op->req.op == LWM2M_DEVOP_READ_COMPOSITE ||
	    op->req.op == LWM2M_DEVOP_WRITE_COMPOSITE) {
		p = &root;
	}
	n = gw_devop_segments(dev->root, p, buf, sizeof buf, segs,
	                      sizeof segs / sizeof segs[0]);
	for (size_t i = 0; i < n; i++) {
		coap_insert_optlist(
		    chain, coap_new_optlist(COAP_OPTION_URI_PATH, segs[i].len,
		                            (const uint8_t *)segs[i].ptr));
	}
}

static void
add_query_opts(struct gw_devop *op, coap_optlist_t **chain)
{
	const char *q = op->query, *amp;
	size_t len;

	if (op->req.query_len == 0) {
		return;
	}
	op->query[op->req.query_len] = '\0';
	while (*q != '\0') {
		amp = strchr(q, '&');
		len = amp != NULL ? (size_t)(amp - q) : strlen(q);
		coap_insert_optlist(chain,
		                    coap_new_optlist(COAP_OPTION_URI_QUERY, len,
		                                     (const uint8_t *)q));
		q += len + (amp != NULL);
	}
}

static void
add_format_opts(struct gw_devop *op, coap_optlist_t **chain, bool has_body)
{
	switch (op->req.op) {
	case LWM2M_DEVOP_READ:
	case LWM2M_DEVOP_OBSERVE:
	case LWM2M_DEVOP_READ_COMPOSITE:
		if (op->has_fmt) {
			add_uint_opt(chain, COAP_OPTION_ACCEPT, op->fmt);
		}
		break;
	case LWM2M_DEVOP_DISCOVER:
		add_uint_opt(chain, COAP_OPTION_ACCEPT, LWM2M_FMT_LINK);
		break;
	default:
		break;
	}
	if (op->req.op == LWM2M_DEVOP_READ_COMPOSITE) {
		add_uint_opt(chain, COAP_OPTION_CONTENT_FORMAT,
		             op->fmt == LWM2M_FMT_SENML_JSON
		                 ? LWM2M_FMT_SENML_JSON
		                 : LWM2M_FMT_SENML_CBOR);
	} else if (has_body && op->req.op != LWM2M_DEVOP_EXECUTE) {
		add_uint_opt(chain, COAP_OPTION_CONTENT_FORMAT, op->fmt);
	}
	if (op->req.op == LWM2M_DEVOP_OBSERVE) {
		add_uint_opt(chain, COAP_OPTION_OBSERVE, 0);
	} else if (op->req.op == LWM2M_DEVOP_CANCEL_OBSERVE) {
		add_uint_opt(chain, COAP_OPTION_OBSERVE, 1);
	}
}

static void
release_body(coap_session_t *session, void *app_ptr)
{
	free(app_ptr);
}

static void on_device_timeout(evutil_socket_t fd, short what, void *arg);
static void on_retry(evutil_socket_t fd, short what, void *arg);

/* Builds the PDU of this try and sends it; false with *msg set when the
 * request cannot be built. */
static bool
send_pdu(struct gw_devop *op, struct gw_device *dev, uint8_t *body,
         size_t body_len, char *msg, size_t msg_size)
{
	coap_session_t *s = device_session(op->ds, dev);
	coap_optlist_t *chain = NULL;
	coap_pdu_t *pdu;
	bool ok;

	if (s == NULL) {
		free(body);
		snprintf(msg, msg_size, "no session to the device");
		return false;
	}
	pdu =
	    coap_pdu_init(COAP_MESSAGE_CON, gw_devop_method(op->req.op),
	                  coap_new_message_id(s), coap_session_max_pdu_size(s));
	if (pdu == NULL) {
		free(body);
		snprintf(msg, msg_size, "out of memory");
		return false;
	}
	add_path_opts(op, dev, &chain);
	add_query_opts(op, &chain);
	add_format_opts(op, &chain, body != NULL);
	ok = coap_add_token(pdu, sizeof op->token, op->token) &&
	     coap_add_optlist_pdu(pdu, &chain);
	coap_delete_optlist(chain);
	if (ok && body != NULL) {
		ok = coap_add_data_large_request(s, pdu, body_len, body,
		                                 release_body, body);
		body = NULL; /* libcoap releases it, even on failure */
	}
	free(body);
	if (!ok) {
		coap_delete_pdu(pdu);
		snprintf(msg, msg_size, "cannot build the CoAP request");
		return false;
	}
	gw_devop_count_tx(op->ds, dev, pdu, body_len);
	if (coap_send(s, pdu) == COAP_INVALID_MID) {
		snprintf(msg, msg_size, "CoAP send failed");
		return false;
	}
	return true;
}

/* Sends (or re-sends, after a refused format) op to dev; answers and frees
 * op on failure. */
static void
op_send(struct gw_devop *op, struct gw_device *dev)
{
	const struct lwm2m_path *p = &op->req.paths[0];
	static const struct lwm2m_path root = {0};
	char msg[LWM2M_DEVOP_MAX_MESSAGE];
	uint8_t *body;
	size_t body_len;
	lwm2m_err err;

	if (op->req.op == LWM2M_DEVOP_READ_COMPOSITE ||
	    op->req.op == LWM2M_DEVOP_WRITE_COMPOSITE) {
		if (dev->caps.major == 1 && dev->caps.minor == 0) {
			op_fail(op, LWM2M_DEVOP_ST_BAD_REQUEST,
			        "the client registered with LwM2M 1.0; "
			        "composite operations need 1.1");
			return;
		}
		p = &root;
	}
	op->has_fmt = pick_format(op, dev, p) == LWM2M_OK;
	if (!op->has_fmt &&
	    (op->n_refused > 0 || op->req.op == LWM2M_DEVOP_WRITE_COMPOSITE)) {
		op_fail(op, LWM2M_DEVOP_ST_BAD_REQUEST,
		        "no content format left that the device takes");
		return;
	}
	if (!op->has_fmt && (op->req.flags & LWM2M_DEVOP_F_CT)) {
		op->fmt = (enum lwm2m_format)op->req.ct;
		op->has_fmt = true;
	}
	msg[0] = '\0';
	err = make_body(op, dev, &body, &body_len, msg, sizeof msg);
	if (err != LWM2M_OK) {
		op_fail(op, LWM2M_DEVOP_ST_BAD_REQUEST,
		        msg[0] != '\0' ? msg : lwm2m_strerror(err));
		return;
	}
	if (op->req.op != LWM2M_DEVOP_CANCEL_OBSERVE) {
		(void)lwm2m_random_pooled(op->token, sizeof op->token);
	}
	if (!send_pdu(op, dev, body, body_len, msg, sizeof msg)) {
		release_later(op->ds, dev);
		if (dev->session == NULL && !dev->dtls &&
		    op->retries++ < SESSION_RETRIES) {
			/* our previous session to it is still closing */
			set_timer(op, on_retry, SESSION_RETRY_MS);
			return;
		}
		op_fail(op, LWM2M_DEVOP_ST_FAILED, msg);
		return;
	}
	op->sent = true;
	dev->n_sent++;
	inflight_add(op->ds, op);
	set_timer(op, on_device_timeout, op->ds->timeout_ms);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct gw_devop *op = arg;
	struct gw_device *dev =
	    gw_table_get(&op->ds->gw->table, op->req.client);

	if (dev == NULL) {
		op_fail(op, LWM2M_DEVOP_ST_NOT_REGISTERED,
		        "not registered here");
		return;
	}
	op_send(op, dev);
}

/* ---- queue mode ------------------------------------------------------------
 */

static void
queue_wait_over(evutil_socket_t fd, short what, void *arg)
{
	struct gw_devop *op = arg;
	struct gw_device *dev =
	    gw_table_get(&op->ds->gw->table, op->req.client);
	struct lwm2m_devop_reply r = {.status = LWM2M_DEVOP_ST_QUEUED};
	uint8_t *buf;
	size_t len;

	if (op->rpc == NULL) {
		/* a queued op that nobody picked up within the result TTL */
		if (dev != NULL && dev->q != NULL) {
			gw_qlist_remove(&dev->q->list, &op->node);
		}
		op_fail(op, LWM2M_DEVOP_ST_TIMEOUT, "device did not wake up");
		return;
	}
	if ((op->req.flags & LWM2M_DEVOP_F_NO_QUEUE) ||
	    op->req.opid[0] == '\0') {
		if (dev != NULL && dev->q != NULL) {
			gw_qlist_remove(&dev->q->list, &op->node);
		}
		op_fail(op, LWM2M_DEVOP_ST_TIMEOUT, "device is sleeping");
		return;
	}
	if (lwm2m_devop_reply_encode(&r, &buf, &len) == LWM2M_OK) {
		lwm2m_rpc_reply(op->rpc, 0, buf, len);
		free(buf);
	} else {
		lwm2m_rpc_req_drop(op->rpc);
	}
	op->rpc = NULL;
	op->queued = true;
	set_timer(op, queue_wait_over, LWM2M_OP_TTL_S * 1000);
}

static bool
enqueue(struct gw_devop *op, struct gw_device *dev)
{
	if (dev->q == NULL) {
		dev->q = calloc(1, sizeof *dev->q);
		if (dev->q == NULL) {
			return false;
		}
	}
	if (!gw_qlist_push_bounded(&dev->q->list, &op->node,
	                           (size_t)op->ds->queue_max)) {
		return false;
	}
	set_timer(op, queue_wait_over, (int)op->req.wait_ms);
	return true;
}

/* queue_busy is true while a request sent from dev's queue is out. */
static bool
queue_busy(struct gw_devops *ds, const struct gw_device *dev)
{
	for (struct gw_qnode *n = ds->inflight.head; n != NULL; n = n->next) {
		const struct gw_devop *op = (const struct gw_devop *)n;

		if (op->from_queue && strcmp(op->req.client, dev->id) == 0) {
			return true;
		}
	}
	return false;
}

/* queue_next sends the first queued request of client, if it is awake:
 * queued requests go out one after the other, in the order they came,
 * each after the previous one (and its executes) finished. */
static void
queue_next(struct gw_devops *ds, const char *client)
{
	struct gw_device *dev = gw_table_get(&ds->gw->table, client);
	struct gw_devop *op;

	if (dev == NULL || dev->q == NULL || ds->gw->devops != ds ||
	    lwm2m_mono_ms() >= dev->awake_until_ms || queue_busy(ds, dev)) {
		return;
	}
	op = (struct gw_devop *)gw_qlist_pop(&dev->q->list);
	if (op == NULL) {
		return;
	}
	if (op->timer != NULL) {
		evtimer_del(op->timer);
	}
	op->from_queue = true;
	op_send(op, dev);
}

/* enqueue_front puts op back at the head of dev's queue (it was first),
 * so the order of the requests survives a device falling asleep. */
static bool
enqueue_front(struct gw_devop *op, struct gw_device *dev)
{
	struct gw_qlist rest = {0};
	struct gw_qnode *n;

	op->from_queue = false;
	if (dev->q == NULL) {
		return enqueue(op, dev);
	}
	while ((n = gw_qlist_pop(&dev->q->list)) != NULL) {
		gw_qlist_push(&rest, n);
	}
	gw_qlist_push(&dev->q->list, &op->node);
	while ((n = gw_qlist_pop(&rest)) != NULL) {
		gw_qlist_push(&dev->q->list, n);
	}
	set_timer(op, queue_wait_over, (int)op->req.wait_ms);
	return true;
}

void
gw_devop_wake(struct gw_ctx *gw, struct gw_device *dev)
{
	if (!dev->queue || gw->devops == NULL) {
		return;
	}
	dev->awake_until_ms = lwm2m_mono_ms() + gw->devops->awake_ms;
	queue_next(gw->devops, dev->id);
}

/* ---- rpc entry -------------------------------------------------------------
 */

void
gw_devop_handle(struct gw_ctx *gw, struct lwm2m_rpc_req *rpc,
                const struct lwm2m_env *env)
{
	struct gw_devops *ds = gw->devops;
	struct lwm2m_devop_req req;
	struct gw_device *dev;
	struct gw_devop *op;

	if (lwm2m_devop_req_decode(env->payload, env->payload_len, &req) !=
	    LWM2M_OK) {
		lwm2m_rpc_reply_error(rpc, LWM2M_EPROTO,
		                      "malformed device operation");
		return;
	}
	dev = gw_table_get(&gw->table, req.client);
	if (ds == NULL || dev == NULL || dev->state != GW_STATE_REGISTERED ||
	    (dev->dtls && dev->session == NULL)) {
		reply_status(rpc, LWM2M_DEVOP_ST_NOT_REGISTERED,
		             "not registered here");
		return;
	}
	if (ds->n_ops >= (size_t)ds->max_ops) {
		reply_status(rpc, LWM2M_DEVOP_ST_BUSY, "too many operations");
		return;
	}
	if (req.op == LWM2M_DEVOP_CANCEL_OBSERVE &&
	    gw_obs_cancel(gw, dev, &req)) {
		reply_status(rpc, LWM2M_DEVOP_ST_OK, "");
		return;
	}
	op = op_new(ds, rpc, &req, dev->org);
	if (op == NULL) {
		reply_status(rpc, LWM2M_DEVOP_ST_FAILED, "out of memory");
		return;
	}
	if (req.op == LWM2M_DEVOP_CANCEL_OBSERVE) {
		memcpy(op->token, req.token, sizeof op->token);
	}
	lwm2m_log(LWM2M_LOG_DEBUG, "devop %s id=%s queue=%d awake_ms=%lld",
	          lwm2m_devop_op_name(req.op), dev->id, dev->queue,
	          (long long)(dev->awake_until_ms - lwm2m_mono_ms()));
	if (dev->queue && lwm2m_mono_ms() >= dev->awake_until_ms) {
		if (!enqueue(op, dev)) {
			op_fail(op, LWM2M_DEVOP_ST_BUSY, "device queue full");
		}
		return;
	}
	op_send(op, dev);
}

/* ---- responses ---------------------------------------------------------- */

static void
read_location(const coap_pdu_t *pdu, char *buf, size_t size, size_t *ret_len)
{
	coap_opt_iterator_t it;
	coap_opt_filter_t f;
	coap_opt_t *o;
	size_t n = 0, len;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_LOCATION_PATH);
	coap_option_iterator_init(pdu, &it, &f);
	while ((o = coap_option_next(&it)) != NULL) {
		len = coap_opt_length(o);
		if (n + 1 + len >= size) {
			break;
		}
		buf[n++] = '/';
		memcpy(buf + n, coap_opt_value(o), len);
		n += len;
	}
	*ret_len = n;
}

static bool
uint_opt(const coap_pdu_t *pdu, uint16_t num, uint32_t *ret_v)
{
	coap_opt_iterator_t it;
	coap_opt_t *o = coap_check_option(pdu, num, &it);

	if (o == NULL) {
		return false;
	}
	*ret_v = coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
	return true;
}

/* next_execute moves an F_THEN_EXECUTE sequence on to its next Execute
 * after a 2.xx answer; false when there is none (op is then finished with
 * this answer). */
static bool
next_execute(struct gw_devop *op, struct gw_device *dev, uint8_t code)
{
	struct lwm2m_devop_req *req = &op->req;

	if (!(req->flags & LWM2M_DEVOP_F_THEN_EXECUTE) || req->n_paths < 2 ||
	    (code >> 5) != 2 || dev == NULL) {
		return false;
	}
	memmove(&req->paths[0], &req->paths[1],
	        (req->n_paths - 1u) * sizeof req->paths[0]);
	req->n_paths--;
	req->op = LWM2M_DEVOP_EXECUTE;
	req->flags &= (uint16_t) ~(LWM2M_DEVOP_F_CT | LWM2M_DEVOP_F_SINGLE);
	req->payload_len = 0;
	op->n_refused = 0;
	if (op->timer != NULL) {
		evtimer_del(op->timer);
	}
	op_send(op, dev);
	return true;
}

/* The device answered op with received. */
static void
op_answered(struct gw_devop *op, struct gw_device *dev,
            const coap_pdu_t *received)
{
	struct lwm2m_devop_reply r = {.status = LWM2M_DEVOP_ST_OK};
	char loc[LWM2M_DEVOP_MAX_LOCATION + 1];
	size_t len = 0, offset, total;
	uint32_t v;

	r.code = (uint8_t)coap_pdu_get_code(received);
	if (lwm2m_format_refused(r.code) && op->has_fmt &&
	    op->n_refused < LWM2M_FORMAT_MAX_CAND && dev != NULL) {
		op->refused[op->n_refused++] = op->fmt;
		if (op->timer != NULL) {
			evtimer_del(op->timer);
		}
		op_send(op, dev);
		return;
	}
	if (uint_opt(received, COAP_OPTION_CONTENT_FORMAT, &v)) {
		r.flags |= LWM2M_DEVOP_RF_CT;
		r.ct = (uint16_t)v;
		if (dev != NULL) {
			lwm2m_format_note(&dev->caps, v);
		}
	}
	coap_get_data_large(received, &r.payload_len, &r.payload, &offset,
	                    &total);
	if (r.payload_len > LWM2M_DEVOP_MAX_PAYLOAD) {
		op_fail(op, LWM2M_DEVOP_ST_FAILED, "device answer too large");
		return;
	}
	read_location(received, loc, sizeof loc, &len);
	r.location = loc;
	r.location_len = len;
	if (op->req.op == LWM2M_DEVOP_OBSERVE &&
	    uint_opt(received, COAP_OPTION_OBSERVE, &r.observe) &&
	    dev != NULL) {
		r.token_len = sizeof op->token;
		memcpy(r.token, op->token, sizeof op->token);
		gw_obs_add(op->ds->gw, dev, op->token, &op->req.paths[0], r.ct,
		           r.observe);
	}
	if (op->req.op == LWM2M_DEVOP_CANCEL_OBSERVE && dev != NULL) {
		gw_obs_forget(op->ds->gw, op->token);
	}
	if (!next_execute(op, dev, r.code)) {
		op_finish(op, &r);
	}
}

coap_response_t
gw_devop_response(struct gw_ctx *gw, coap_session_t *session,
                  const coap_pdu_t *received)
{
	coap_bin_const_t token = coap_pdu_get_token(received);
	struct gw_devop *op;
	struct gw_device *dev;

	op = inflight_find(gw->devops, token.s, token.length);
	if (op == NULL) {
		return gw_obs_notify(gw, session, received);
	}
	dev = gw_table_get(&gw->table, op->req.client);
	op_unsent(op, dev);
	if (dev != NULL) {
		gw_devop_count_rx(gw->devops, dev, received, true);
		if (dev->queue) {
			dev->awake_until_ms =
			    lwm2m_mono_ms() + gw->devops->awake_ms;
		}
	}
	/* first: a sequence goes on before the next queued request */
	op_answered(op, dev, received);
	if (dev != NULL) {
		gw_devop_wake(gw, dev);
	}
	return COAP_RESPONSE_OK;
}

static void
op_no_answer(struct gw_devop *op, const char *why)
{
	struct gw_devops *ds = op->ds;
	struct gw_device *dev = gw_table_get(&ds->gw->table, op->req.client);
	char msg[LWM2M_DEVOP_MAX_MESSAGE];

	op_unsent(op, dev);
	if (dev != NULL && dev->queue) {
		/* it fell asleep: keep the request for its next message */
		dev->awake_until_ms = 0;
		if (op->timer != NULL) {
			evtimer_del(op->timer);
		}
		if (enqueue_front(op, dev)) {
			return;
		}
	}
	snprintf(msg, sizeof msg, "device %s did not answer the %s of %s (%s)",
	         op->req.client, lwm2m_devop_op_name(op->req.op),
	         op->req.n_paths > 0 ? "its path" : "/", why);
	op_fail(op, LWM2M_DEVOP_ST_TIMEOUT, msg);
}

/* A request that timed out may still be out on dev's session: libcoap
 * retransmits a CON until MAX_TRANSMIT_WAIT (93 s), and with NSTART 1
 * every later request to the device waits behind it, so with
 * LWDS_DEVICE_TIMEOUT_MS below that a device that missed one request
 * stayed unreachable for the rest.  Once none of our requests is out on
 * the session, what libcoap still holds for it is dropped:
 * coap_session_disconnected leaves a plain-UDP session established and
 * only cancels its queued messages (their NACKs find no request of ours).
 * A DTLS session is the device's own and is left alone. */
static void
cancel_stale(struct gw_device *dev)
{
	if (dev != NULL && !dev->dtls && dev->session != NULL &&
	    dev->n_sent == 0) {
		coap_session_disconnected(dev->session,
		                          COAP_NACK_TOO_MANY_RETRIES);
	}
}

static void
on_device_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct gw_devop *op = arg;
	struct gw_devops *ds = op->ds;
	char client[LWM2M_ID_SIZE];

	memcpy(client, op->req.client, sizeof client);
	op_no_answer(op, "timeout");
	cancel_stale(gw_table_get(&ds->gw->table, client));
}

void
gw_devop_nack(struct gw_ctx *gw, const coap_pdu_t *sent,
              coap_nack_reason_t reason)
{
	coap_bin_const_t token;
	struct gw_devop *op;

	if (sent == NULL || gw->devops == NULL) {
		return;
	}
	token = coap_pdu_get_token(sent);
	op = inflight_find(gw->devops, token.s, token.length);
	if (op == NULL) {
		return;
	}
	if (reason == COAP_NACK_RST) {
		op_unsent(op, gw_table_get(&gw->table, op->req.client));
		op_fail(op, LWM2M_DEVOP_ST_FAILED, "device reset the request");
		return;
	}
	op_no_answer(op, reason == COAP_NACK_TOO_MANY_RETRIES
	                     ? "retransmissions exhausted"
	                     : "not deliverable");
}

/* ---- device lifecycle ------------------------------------------------------
 */

void
gw_devop_attach(struct gw_ctx *gw, struct gw_device *dev,
                coap_session_t *session, const struct gw_record *rec,
                bool registered)
{
	struct lwm2m_format_caps caps;

	if (gw->devops == NULL) {
		return; /* shutting down */
	}
	if (session != NULL &&
	    coap_session_get_proto(session) == COAP_PROTO_DTLS &&
	    session != dev->session) {
		/* requests out on a previous session finish or time out */
		coap_session_reference(session);
		close_client(gw->devops, dev);
		dev->session = session;
		dev->dtls = true;
	}
	if (rec != NULL) {
		free(dev->root);
		dev->root = rec->root[0] != '\0' ? strdup(rec->root) : NULL;
		if (lwm2m_format_caps_init(&caps, rec->lwm2m,
		                           strlen(rec->lwm2m), rec->ct,
		                           strlen(rec->ct)) != LWM2M_OK) {
			lwm2m_format_caps_init(&caps, NULL, 0, NULL, 0);
		}
		dev->caps = caps;
	}
	if (registered) {
		gw_obs_drop_device(gw, dev);
	}
	gw_devop_wake(gw, dev);
}

/* Fails the requests still queued for dev and drops its references. */
static void
device_gone(void *arg, struct gw_device *dev)
{
	struct gw_ctx *gw = arg;
	struct gw_qnode *n;

	gw_devop_flush_device(gw, dev);
	gw_obs_drop_device(gw, dev);
	while (dev->q != NULL && (n = gw_qlist_pop(&dev->q->list)) != NULL) {
		op_fail((struct gw_devop *)n, LWM2M_DEVOP_ST_NOT_REGISTERED,
		        "device left while the request was queued");
	}
	free(dev->q);
	dev->q = NULL;
	free(dev->root);
	dev->root = NULL;
	close_client(gw->devops, dev);
}

static coap_response_t
on_coap_response(coap_session_t *session, const coap_pdu_t *sent,
                 const coap_pdu_t *received, const coap_mid_t mid)
{
	struct gw_ctx *gw =
	    coap_get_app_data(coap_session_get_context(session));

	return gw_devop_response(gw, session, received);
}

static void
on_coap_nack(coap_session_t *session, const coap_pdu_t *sent,
             const coap_nack_reason_t reason, const coap_mid_t mid)
{
	struct gw_ctx *gw =
	    coap_get_app_data(coap_session_get_context(session));

	gw_devop_nack(gw, sent, reason);
}

static void
add_metrics(struct gw_devops *ds)
{
	char name[96];

	for (int st = 0; st < LWM2M_DEVOP_ST_MAX; st++) {
		snprintf(name, sizeof name,
		         "lwds_gw_devops_total{status=\"%s\"}",
		         lwm2m_devop_status_name((enum lwm2m_devop_status)st));
		ds->m_status[st] = lwm2m_metrics_counter(
		    NULL, name, "Device operations by final status");
	}
	ds->m_notify = lwm2m_metrics_counter(
	    NULL, "lwds_gw_notifications_total", "Notifications published");
}

/* Connected UDP sockets sharing the listen port cost every datagram to
 * that port a walk over all of them on Linux before 6.13 (no 4-tuple hash
 * for UDP): true there, or when the release cannot be read. */
static bool
udp_lookup_walks_connected(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) {
		return true;
	}
	return major < 6 || (major == 6 && minor < 13);
}

/* The default of LWDS_DEVICE_SESSIONS_MAX: half the descriptor limit, whose
 * soft value is first raised towards the hard one (up to what 65,536
 * sessions need), at most 65,536; GW_DEVICE_SESSIONS_MAX_DEFAULT (256) on
 * kernels where many connected sockets slow every datagram down.  Each
 * kept client session is a socket; keeping one per device read avoids a
 * socket opened and closed per read (bench/README.md, REST reads). */
#define SESSIONS_DEFAULT_CAP 65536

static size_t
sessions_default(void)
{
	struct rlimit rl;
	rlim_t want = 2 * (rlim_t)SESSIONS_DEFAULT_CAP;

	if (udp_lookup_walks_connected() ||
	    getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return GW_DEVICE_SESSIONS_MAX_DEFAULT;
	}
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		want = rl.rlim_max;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		struct rlimit up = {want, rl.rlim_max};

		if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
			rl.rlim_cur = want;
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur / 2 > SESSIONS_DEFAULT_CAP) {
		return SESSIONS_DEFAULT_CAP;
	}
	return (size_t)(rl.rlim_cur / 2);
}

/* libcoap's random numbers (message ids and tokens of new sessions, the
 * random part of each CON's retransmission time-out) from the pooled
 * source: its default calls getrandom once per CON request sent */
static int
coap_random(void *out, size_t len)
{
	return lwm2m_random_pooled(out, len) == LWM2M_OK;
}

lwm2m_err
gw_devop_start(struct gw_ctx *gw)
{
	struct gw_devops *ds = calloc(1, sizeof *ds);

	if (ds == NULL) {
		return LWM2M_ENOMEM;
	}
	ds->gw = gw;
	ds->timeout_ms = gw->cfg.device_timeout_ms;
	ds->awake_ms = gw->cfg.queue_awake_ms;
	ds->queue_max = gw->cfg.queue_max;
	/* raises the descriptor limit even when the value is given */
	ds->client_max = sessions_default();
	if (gw->cfg.sessions_max >= 0) {
		ds->client_max = (size_t)gw->cfg.sessions_max;
	}
	lwm2m_log(LWM2M_LOG_INFO, "device client sessions kept: %zu",
	          ds->client_max);
	ds->max_ops = gw->cfg.devop_max;
	if (gw_coap_resolve(gw->cfg.coap_listen, &ds->local) != LWM2M_OK) {
		coap_address_init(&ds->local);
	}
	add_metrics(ds);
	gw->devops = ds;
	gw->table.on_free = device_gone;
	gw->table.on_free_arg = gw;
	if (gw->coap != NULL) {
		gw_devop_handlers(gw->coap);
	}
	coap_set_prng(coap_random);
	return gw_obs_start(gw);
}

void
gw_devop_handlers(coap_context_t *ctx)
{
	coap_register_response_handler(ctx, on_coap_response);
	coap_register_nack_handler(ctx, on_coap_nack);
}

void
gw_devop_stop(struct gw_ctx *gw)
{
	struct gw_devops *ds = gw->devops;
	struct gw_qnode *n;

	if (ds == NULL) {
		return;
	}
	while ((n = gw_qlist_pop(&ds->inflight)) != NULL) {
		op_fail((struct gw_devop *)n, LWM2M_DEVOP_ST_FAILED,
		        "gateway shutting down");
	}
	/* fails queued requests and releases sessions before libcoap goes */
	gw_table_fini(&gw->table);
	gw_obs_stop(gw);
	gw->table.on_free = NULL;
	free(ds);
	gw->devops = NULL;
}
