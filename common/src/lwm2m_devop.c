/* lwm2m_devop.c - the binary payload of LWM2M_ENV_RPC_DEVICE requests and
 * replies (layout in lwm2m_devop.h). */
#include "lwm2m_devop.h"

#include <stdlib.h>
#include <string.h>

/* Fixed part of a request: version..token (before the path count). */
#define REQ_FIXED (1 + 1 + 2 + 2 * LWM2M_ID_LEN + 2 + 2 + 4 + 1 + 8)
/* Fixed part of a reply: version..token. */
#define REPLY_FIXED (1 + 1 + 1 + 1 + 2 + 4 + 1 + 8)

struct wr {
	uint8_t *p;
};

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static void
put8(struct wr *w, uint8_t v)
{
	*w->p++ = v;
}

static void
put16(struct wr *w, uint16_t v)
{
	put8(w, (uint8_t)(v >> 8));
	put8(w, (uint8_t)v);
}

static void
put32(struct wr *w, uint32_t v)
{
	put16(w, (uint16_t)(v >> 16));
	put16(w, (uint16_t)v);
}

static void
putn(struct wr *w, const void *src, size_t n)
{
	if (n > 0) {
		memcpy(w->p, src, n);
		w->p += n;
	}
}

static bool
avail(struct rd *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return false;
	}
	return true;
}

static uint8_t
get8(struct rd *r)
{
	if (!avail(r, 1)) {
		return 0;
	}
	return *r->p++;
}

static uint16_t
get16(struct rd *r)
{
	uint16_t hi = get8(r);

	return (uint16_t)(hi << 8 | get8(r));
}

static uint32_t
get32(struct rd *r)
{
	uint32_t hi = get16(r);

	return hi << 16 | get16(r);
}

static const uint8_t *
getn(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (!avail(r, n)) {
		return NULL;
	}
	r->p += n;
	return p;
}

static bool
path_len_ok(enum lwm2m_devop_op op, uint8_t len)
{
	switch (op) {
	case LWM2M_DEVOP_READ:
	case LWM2M_DEVOP_OBSERVE:
	case LWM2M_DEVOP_CANCEL_OBSERVE:
	case LWM2M_DEVOP_WRITE_ATTRIBUTES:
		return len >= 1 && len <= 4;
	case LWM2M_DEVOP_DISCOVER:
		return len >= 1 && len <= 3;
	case LWM2M_DEVOP_WRITE_REPLACE:
	case LWM2M_DEVOP_WRITE_UPDATE:
		return len >= 2 && len <= 4;
	case LWM2M_DEVOP_EXECUTE:
		return len == 3;
	case LWM2M_DEVOP_CREATE:
		return len == 1;
	case LWM2M_DEVOP_DELETE:
		return len == 2;
	case LWM2M_DEVOP_READ_COMPOSITE:
	case LWM2M_DEVOP_WRITE_COMPOSITE:
		return len <= 4;
	case LWM2M_DEVOP_OP_MAX:
		break;
	}
	return false;
}

static bool
n_paths_ok(enum lwm2m_devop_op op, uint16_t n)
{
	if (n > LWM2M_DEVOP_MAX_PATHS) {
		return false;
	}
	if (op == LWM2M_DEVOP_WRITE_COMPOSITE) {
		return true;
	}
	if (op == LWM2M_DEVOP_READ_COMPOSITE) {
		return n >= 1;
	}
	return n == 1;
}

static bool
needs_payload(enum lwm2m_devop_op op)
{
	return op == LWM2M_DEVOP_WRITE_REPLACE ||
	       op == LWM2M_DEVOP_WRITE_UPDATE || op == LWM2M_DEVOP_CREATE ||
	       op == LWM2M_DEVOP_WRITE_COMPOSITE;
}

static bool
attr_name_ok(const char *s, size_t n)
{
	static const char *const names[] = {"pmin", "pmax",  "gt",   "lt",
	                                    "st",   "epmin", "epmax"};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) {
			return true;
		}
	}
	return false;
}

/* A decimal: optional '-', digits, optional '.' and digits. */
static bool
decimal_ok(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && s[i] == '-') {
		i++;
	}
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		digits++;
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i == n) {
			return false;
		}
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			digits++;
		}
	}
	return i == n && digits > 0 && digits <= 40;
}

static bool
attr_ok(const char *s, size_t n)
{
	const char *eq = memchr(s, '=', n);

	if (eq == NULL) {
		return attr_name_ok(s, n);
	}
	return attr_name_ok(s, (size_t)(eq - s)) &&
	       decimal_ok(eq + 1, n - (size_t)(eq - s) - 1);
}

bool
lwm2m_devop_query_valid(const char *query, size_t len)
{
	size_t start = 0, i;

	if (len > LWM2M_DEVOP_MAX_QUERY) {
		return false;
	}
	for (i = 0; i <= len; i++) {
		if (i < len && query[i] != '&') {
			continue;
		}
		if (len > 0 && !attr_ok(query + start, i - start)) {
			return false;
		}
		start = i + 1;
	}
	return true;
}

/* paths_ok checks the paths of req; with F_THEN_EXECUTE paths[1..] are
 * resources of the instance of paths[0] to execute afterwards. */
static bool
paths_ok(const struct lwm2m_devop_req *req)
{
	bool exec = req->op == LWM2M_DEVOP_EXECUTE;
	const struct lwm2m_path *first = &req->paths[0];
	uint16_t i;

	if (!(req->flags & LWM2M_DEVOP_F_THEN_EXECUTE)) {
		for (i = 0; i < req->n_paths; i++) {
			if (!path_len_ok(req->op, req->paths[i].len)) {
				return false;
			}
		}
		return n_paths_ok(req->op, req->n_paths);
	}
	if ((!exec && req->op != LWM2M_DEVOP_WRITE_UPDATE &&
	     req->op != LWM2M_DEVOP_WRITE_REPLACE) ||
	    req->n_paths < 2 || req->n_paths > LWM2M_DEVOP_MAX_PATHS ||
	    (exec && req->payload_len > 0) || first->len != (exec ? 3 : 2)) {
		return false;
	}
	for (i = 1; i < req->n_paths; i++) {
		if (req->paths[i].len != 3 ||
		    req->paths[i].ids[0] != first->ids[0] ||
		    req->paths[i].ids[1] != first->ids[1]) {
			return false;
		}
	}
	return true;
}

static bool
req_valid(const struct lwm2m_devop_req *req)
{

	if (req->op < LWM2M_DEVOP_READ || req->op >= LWM2M_DEVOP_OP_MAX ||
	    (req->flags & ~LWM2M_DEVOP_F_ALL) != 0 ||
	    req->token_len > LWM2M_DEVOP_MAX_TOKEN ||
	    !lwm2m_id_valid(req->client, strlen(req->client)) ||
	    (req->opid[0] != '\0' &&
	     !lwm2m_id_valid(req->opid, strlen(req->opid))) ||
	    !paths_ok(req) || req->payload_len > LWM2M_DEVOP_MAX_PAYLOAD ||
	    !lwm2m_devop_query_valid(req->query, req->query_len)) {
		return false;
	}
	if (needs_payload(req->op) &&
	    (req->payload_len == 0 || !(req->flags & LWM2M_DEVOP_F_CT))) {
		return false;
	}
	return true;
}

static void
put_id(struct wr *w, const char *id)
{
	static const char zeros[LWM2M_ID_LEN];

	putn(w, id[0] != '\0' ? id : zeros, LWM2M_ID_LEN);
}

lwm2m_err
lwm2m_devop_req_encode(const struct lwm2m_devop_req *req, uint8_t **ret_buf,
                       size_t *ret_len)
{
	size_t len = REQ_FIXED + 2 + 2 + req->query_len + 4 + req->payload_len;
	uint8_t *buf;
	struct wr w;
	uint16_t i, j;

	if (!req_valid(req)) {
		return LWM2M_EINVAL;
	}
	for (i = 0; i < req->n_paths; i++) {
		len += 1 + 2u * req->paths[i].len;
	}
	buf = malloc(len);
	if (buf == NULL) {
		return LWM2M_ENOMEM;
	}
	w.p = buf;
	put8(&w, LWM2M_DEVOP_VERSION);
	put8(&w, (uint8_t)req->op);
	put16(&w, req->flags);
	put_id(&w, req->client);
	put_id(&w, req->opid);
	put16(&w, req->ct);
	put16(&w, req->accept);
	put32(&w, req->wait_ms);
	put8(&w, req->token_len);
	putn(&w, req->token, LWM2M_DEVOP_MAX_TOKEN);
	put16(&w, req->n_paths);
	for (i = 0; i < req->n_paths; i++) {
		put8(&w, req->paths[i].len);
		for (j = 0; j < req->paths[i].len; j++) {
			put16(&w, req->paths[i].ids[j]);
		}
	}
	put16(&w, (uint16_t)req->query_len);
	putn(&w, req->query, req->query_len);
	put32(&w, (uint32_t)req->payload_len);
	putn(&w, req->payload, req->payload_len);
	*ret_buf = buf;
	*ret_len = len;
	return LWM2M_OK;
}

/* Reads a 22-char id field; all zeros is "" when may_be_empty. */
static bool
get_id(struct rd *r, char *dst, bool may_be_empty)
{
	static const char zeros[LWM2M_ID_LEN];
	const uint8_t *p = getn(r, LWM2M_ID_LEN);

	if (p == NULL) {
		return false;
	}
	if (may_be_empty && memcmp(p, zeros, LWM2M_ID_LEN) == 0) {
		dst[0] = '\0';
		return true;
	}
	memcpy(dst, p, LWM2M_ID_LEN);
	dst[LWM2M_ID_LEN] = '\0';
	return lwm2m_id_valid(dst, LWM2M_ID_LEN);
}

static bool
get_paths(struct rd *r, struct lwm2m_devop_req *req)
{
	uint16_t i, j;

	req->n_paths = get16(r);
	if (r->bad || req->n_paths > LWM2M_DEVOP_MAX_PATHS) {
		return false;
	}
	for (i = 0; i < req->n_paths; i++) {
		req->paths[i].len = get8(r);
		if (r->bad || req->paths[i].len > LWM2M_PATH_MAX_LEN) {
			return false;
		}
		for (j = 0; j < req->paths[i].len; j++) {
			req->paths[i].ids[j] = get16(r);
		}
	}
	return !r->bad;
}

static bool
get_tail(struct rd *r, struct lwm2m_devop_req *req)
{
	req->query_len = get16(r);
	if (req->query_len > LWM2M_DEVOP_MAX_QUERY) {
		return false;
	}
	req->query = (const char *)getn(r, req->query_len);
	req->payload_len = get32(r);
	if (r->bad || req->payload_len > LWM2M_DEVOP_MAX_PAYLOAD) {
		return false;
	}
	req->payload = getn(r, req->payload_len);
	return !r->bad && r->p == r->end;
}

lwm2m_err
lwm2m_devop_req_decode(const uint8_t *buf, size_t len,
                       struct lwm2m_devop_req *ret_req)
{
	struct rd r = {buf, buf + len, false};
	struct lwm2m_devop_req req;
	const uint8_t *tok;

	memset(&req, 0, sizeof req);
	if (get8(&r) != LWM2M_DEVOP_VERSION) {
		return LWM2M_EPROTO;
	}
	req.op = (enum lwm2m_devop_op)get8(&r);
	req.flags = get16(&r);
	if (!get_id(&r, req.client, false) || !get_id(&r, req.opid, true)) {
		return LWM2M_EPROTO;
	}
	req.ct = get16(&r);
	req.accept = get16(&r);
	req.wait_ms = get32(&r);
	req.token_len = get8(&r);
	tok = getn(&r, LWM2M_DEVOP_MAX_TOKEN);
	if (tok != NULL) {
		memcpy(req.token, tok, LWM2M_DEVOP_MAX_TOKEN);
	}
	if (!get_paths(&r, &req) || !get_tail(&r, &req) || !req_valid(&req)) {
		return LWM2M_EPROTO;
	}
	*ret_req = req;
	return LWM2M_OK;
}

static bool
reply_valid(const struct lwm2m_devop_reply *reply)
{
	return reply->status < LWM2M_DEVOP_ST_MAX &&
	       (reply->flags & ~LWM2M_DEVOP_RF_ALL) == 0 &&
	       reply->token_len <= LWM2M_DEVOP_MAX_TOKEN &&
	       reply->location_len <= LWM2M_DEVOP_MAX_LOCATION &&
	       reply->message_len <= LWM2M_DEVOP_MAX_MESSAGE &&
	       reply->payload_len <= LWM2M_DEVOP_MAX_PAYLOAD;
}

lwm2m_err
lwm2m_devop_reply_encode(const struct lwm2m_devop_reply *reply,
                         uint8_t **ret_buf, size_t *ret_len)
{
	size_t len;
	uint8_t *buf;
	struct wr w;

	if (!reply_valid(reply)) {
		return LWM2M_EINVAL;
	}
	len = REPLY_FIXED + 2 + reply->location_len + 2 + reply->message_len +
	      4 + reply->payload_len;
	buf = malloc(len);
	if (buf == NULL) {
		return LWM2M_ENOMEM;
	}
	w.p = buf;
	put8(&w, LWM2M_DEVOP_VERSION);
	put8(&w, (uint8_t)reply->status);
	put8(&w, reply->code);
	put8(&w, reply->flags);
	put16(&w, reply->ct);
	put32(&w, reply->observe);
	put8(&w, reply->token_len);
	putn(&w, reply->token, LWM2M_DEVOP_MAX_TOKEN);
	put16(&w, (uint16_t)reply->location_len);
	putn(&w, reply->location, reply->location_len);
	put16(&w, (uint16_t)reply->message_len);
	putn(&w, reply->message, reply->message_len);
	put32(&w, (uint32_t)reply->payload_len);
	putn(&w, reply->payload, reply->payload_len);
	*ret_buf = buf;
	*ret_len = len;
	return LWM2M_OK;
}

static const char *
get_text(struct rd *r, size_t max, size_t *ret_len)
{
	size_t n = get16(r);

	if (r->bad || n > max) {
		r->bad = true;
		return NULL;
	}
	*ret_len = n;
	return (const char *)getn(r, n);
}

lwm2m_err
lwm2m_devop_reply_decode(const uint8_t *buf, size_t len,
                         struct lwm2m_devop_reply *ret_reply)
{
	struct rd r = {buf, buf + len, false};
	struct lwm2m_devop_reply reply;
	const uint8_t *tok;

	memset(&reply, 0, sizeof reply);
	if (get8(&r) != LWM2M_DEVOP_VERSION) {
		return LWM2M_EPROTO;
	}
	reply.status = (enum lwm2m_devop_status)get8(&r);
	reply.code = get8(&r);
	reply.flags = get8(&r);
	reply.ct = get16(&r);
	reply.observe = get32(&r);
	reply.token_len = get8(&r);
	tok = getn(&r, LWM2M_DEVOP_MAX_TOKEN);
	if (tok != NULL) {
		memcpy(reply.token, tok, LWM2M_DEVOP_MAX_TOKEN);
	}
	reply.location =
	    get_text(&r, LWM2M_DEVOP_MAX_LOCATION, &reply.location_len);
	reply.message =
	    get_text(&r, LWM2M_DEVOP_MAX_MESSAGE, &reply.message_len);
	reply.payload_len = get32(&r);
	if (r.bad || reply.payload_len > LWM2M_DEVOP_MAX_PAYLOAD) {
		return LWM2M_EPROTO;
	}
	reply.payload = getn(&r, reply.payload_len);
	if (r.bad || r.p != r.end || !reply_valid(&reply)) {
		return LWM2M_EPROTO;
	}
	*ret_reply = reply;
	return LWM2M_OK;
}

static bool
notify_valid(const struct lwm2m_devop_notify *n)
{
	return lwm2m_id_valid(n->client, strlen(n->client)) &&
	       (n->flags & ~LWM2M_DEVOP_RF_ALL) == 0 && n->token_len >= 1 &&
	       n->token_len <= LWM2M_DEVOP_MAX_TOKEN &&
	       n->path.len <= LWM2M_PATH_MAX_LEN &&
	       n->payload_len <= LWM2M_DEVOP_MAX_PAYLOAD;
}

static void
put64(struct wr *w, int64_t v)
{
	put32(w, (uint32_t)((uint64_t)v >> 32));
	put32(w, (uint32_t)v);
}

static int64_t
get64(struct rd *r)
{
	uint64_t hi = get32(r);

	return (int64_t)(hi << 32 | get32(r));
}

lwm2m_err
lwm2m_devop_notify_encode(const struct lwm2m_devop_notify *n, uint8_t **ret_buf,
                          size_t *ret_len)
{
	size_t len;
	uint8_t *buf;
	struct wr w;

	if (!notify_valid(n)) {
		return LWM2M_EINVAL;
	}
	len = 1 + LWM2M_ID_LEN + 1 + 1 + 2 + 4 + 8 + 8 + 1 +
	      LWM2M_DEVOP_MAX_TOKEN + 1 + 2u * n->path.len + 4 + n->payload_len;
	buf = malloc(len);
	if (buf == NULL) {
		return LWM2M_ENOMEM;
	}
	w.p = buf;
	put8(&w, LWM2M_DEVOP_VERSION);
	putn(&w, n->client, LWM2M_ID_LEN);
	put8(&w, n->code);
	put8(&w, n->flags);
	put16(&w, n->ct);
	put32(&w, n->observe);
	put64(&w, n->org);
	put64(&w, n->ts);
	put8(&w, n->token_len);
	putn(&w, n->token, LWM2M_DEVOP_MAX_TOKEN);
	put8(&w, n->path.len);
	for (uint8_t i = 0; i < n->path.len; i++) {
		put16(&w, n->path.ids[i]);
	}
	put32(&w, (uint32_t)n->payload_len);
	putn(&w, n->payload, n->payload_len);
	*ret_buf = buf;
	*ret_len = len;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_devop_notify_decode(const uint8_t *buf, size_t len,
                          struct lwm2m_devop_notify *ret_n)
{
	struct rd r = {buf, buf + len, false};
	struct lwm2m_devop_notify n;
	const uint8_t *p;

	memset(&n, 0, sizeof n);
	if (get8(&r) != LWM2M_DEVOP_VERSION || !get_id(&r, n.client, false)) {
		return LWM2M_EPROTO;
	}
	n.code = get8(&r);
	n.flags = get8(&r);
	n.ct = get16(&r);
	n.observe = get32(&r);
	n.org = get64(&r);
	n.ts = get64(&r);
	n.token_len = get8(&r);
	p = getn(&r, LWM2M_DEVOP_MAX_TOKEN);
	if (p != NULL) {
		memcpy(n.token, p, LWM2M_DEVOP_MAX_TOKEN);
	}
	n.path.len = get8(&r);
	for (uint8_t i = 0; i < n.path.len && i < LWM2M_PATH_MAX_LEN; i++) {
		n.path.ids[i] = get16(&r);
	}
	n.payload_len = get32(&r);
	if (r.bad || n.payload_len > LWM2M_DEVOP_MAX_PAYLOAD) {
		return LWM2M_EPROTO;
	}
	n.payload = getn(&r, n.payload_len);
	if (r.bad || r.p != r.end || !notify_valid(&n)) {
		return LWM2M_EPROTO;
	}
	*ret_n = n;
	return LWM2M_OK;
}

const char *
lwm2m_devop_op_name(enum lwm2m_devop_op op)
{
	static const char *const names[] = {
	    [LWM2M_DEVOP_READ] = "read",
	    [LWM2M_DEVOP_DISCOVER] = "discover",
	    [LWM2M_DEVOP_WRITE_REPLACE] = "write-replace",
	    [LWM2M_DEVOP_WRITE_UPDATE] = "write-update",
	    [LWM2M_DEVOP_WRITE_ATTRIBUTES] = "write-attributes",
	    [LWM2M_DEVOP_EXECUTE] = "execute",
	    [LWM2M_DEVOP_CREATE] = "create",
	    [LWM2M_DEVOP_DELETE] = "delete",
	    [LWM2M_DEVOP_READ_COMPOSITE] = "read-composite",
	    [LWM2M_DEVOP_WRITE_COMPOSITE] = "write-composite",
	    [LWM2M_DEVOP_OBSERVE] = "observe",
	    [LWM2M_DEVOP_CANCEL_OBSERVE] = "cancel-observe",
	};

	if (op < LWM2M_DEVOP_READ || op >= LWM2M_DEVOP_OP_MAX) {
		return "?";
	}
	return names[op];
}

const char *
lwm2m_devop_status_name(enum lwm2m_devop_status status)
{
	static const char *const names[] = {
	    [LWM2M_DEVOP_ST_OK] = "ok",
	    [LWM2M_DEVOP_ST_NOT_REGISTERED] = "not registered",
	    [LWM2M_DEVOP_ST_TIMEOUT] = "device timeout",
	    [LWM2M_DEVOP_ST_QUEUED] = "queued",
	    [LWM2M_DEVOP_ST_BAD_REQUEST] = "bad request",
	    [LWM2M_DEVOP_ST_BUSY] = "busy",
	    [LWM2M_DEVOP_ST_FAILED] = "failed",
	};

	if (status >= LWM2M_DEVOP_ST_MAX) {
		return "?";
	}
	return names[status];
}
