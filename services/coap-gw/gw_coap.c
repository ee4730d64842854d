/* gw_coap.c - libcoap glue: the /rd resource tree, request parsing into a
 * struct gw_request, answers (piggybacked when Redis answers within
 * DEFER_ACK_MS, else a separate response after an empty ACK), and the loop
 * sources.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "gw.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_redis.h"

#define MAX_QUERY_OPTS 32
#define COAP_POLL_MS 50 /* libcoap's timer work (retransmissions...) */
#define EPOLL_BATCH 32
#define IDLE_SESSION_TIMEOUT_S 60
#define READ_ROUNDS 64  /* epoll_wait rounds per readable callback */
#define RETRY_MAX_AGE 5 /* seconds, on 5.03 */
/* A CON request whose answer waits for Redis gets no empty ACK at first:
 * when Redis answers within this time the answer goes piggybacked in the
 * ACK (one datagram instead of empty ACK, CON response and the device's
 * ACK); later, the timer sends the empty ACK and the answer comes as a
 * separate response.  Well below ACK_TIMEOUT (2 s), so devices do not
 * retransmit meanwhile. */
#define DEFER_ACK_MS 500

/* A request whose answer waits for Redis.  libcoap's async support is not
 * used: it sends the empty ACK as soon as the handler returns (no
 * piggybacked answer is possible after that) and keeps every pending
 * request on a list that each coap_io_process() walks. */
struct gw_exchange {
	struct gw_ctx *gw;
	coap_session_t *session; /* referenced while the answer is pending */
	coap_pdu_type_t type;    /* of the request: CON or NON */
	coap_mid_t mid;          /* of the request */
	coap_tick_t started;
	uint8_t token[8];
	size_t token_len;
	bool in_handler, done;
	bool acked; /* CON: empty ACK sent, the answer goes separately */
	struct gw_result res;
	struct gw_exchange *prev, *next; /* gw->exchanges, while pending */
	struct gw_exchange *hnext;       /* gw->ex_index's chain */
};

#define EX_INDEX_MIN 256

/* Finished exchanges kept for reuse (gw->spare_ex): about 300 bytes, past
 * glibc's fast bins (bench/README.md, eighth storm round).  1,024 at most
 * (300 KB), the operations' bound (gw_registry.c). */
#define SPARE_EX_MAX 1024

/* a zeroed exchange, a spare one when there is one; NULL on ENOMEM */
static struct gw_exchange *
ex_alloc(struct gw_ctx *gw)
{
	struct gw_exchange *ex = lwm2m_spares_take(&gw->spare_ex);

	if (ex == NULL) {
		return calloc(1, sizeof *ex);
	}
	memset(ex, 0, sizeof *ex);
	return ex;
}

/* frees ex (unlinked, its session released), or keeps it for reuse */
static void
ex_release(struct gw_ctx *gw, struct gw_exchange *ex)
{
	lwm2m_spares_put(&gw->spare_ex, ex, SPARE_EX_MAX);
}

/* bucket of (session, token) in an index of nbuckets (a power of two):
 * FNV-1a over the token bytes, after one step over the whole session
 * pointer (a step per pointer byte was ~100 instructions a Register;
 * bench/README.md, ninth storm round) */
static size_t
ex_bucket(const coap_session_t *session, const uint8_t *token, size_t len,
          size_t nbuckets)
{
	uint64_t h =
	    (14695981039346656037ull ^ (uintptr_t)session) * 1099511628211ull;

	for (size_t i = 0; i < len; i++) {
		h = (h ^ token[i]) * 1099511628211ull;
	}
	return (size_t)(h ^ (h >> 32)) & (nbuckets - 1);
}

/* Rebuilds gw->ex_index with nbuckets from the list of exchanges; on
 * allocation failure the old index stays (longer chains, still right). */
static void
ex_index_resize(struct gw_ctx *gw, size_t nbuckets)
{
	struct gw_exchange **idx = calloc(nbuckets, sizeof *idx);

	if (idx == NULL) {
		return;
	}
	for (struct gw_exchange *ex = gw->exchanges; ex != NULL;
	     ex = ex->next) {
		size_t b =
		    ex_bucket(ex->session, ex->token, ex->token_len, nbuckets);

		ex->hnext = idx[b];
		idx[b] = ex;
	}
	free(gw->ex_index);
	gw->ex_index = idx;
	gw->ex_buckets = nbuckets;
}

/* Puts ex (not linked yet) on gw->exchanges and in gw->ex_index.  The
 * index keeps pending()'s lookup of a retransmission O(1): the walk of
 * the list cost O(requests in flight) per datagram, 8% of coap-gw at 1,024
 * in flight (bench/README.md, seventh storm round). */
static void
ex_link(struct gw_ctx *gw, struct gw_exchange *ex)
{
	ex->prev = NULL;
	ex->next = gw->exchanges;
	if (gw->exchanges != NULL) {
		gw->exchanges->prev = ex;
	}
	gw->exchanges = ex;
	gw->ex_count++;
	if (gw->ex_count > gw->ex_buckets) {
		ex_index_resize(gw, gw->ex_buckets ? gw->ex_buckets * 2
		                                   : EX_INDEX_MIN);
		if (gw->ex_index != NULL && gw->ex_count <= gw->ex_buckets) {
			return; /* ex was indexed with the others */
		}
	}
	if (gw->ex_index != NULL) {
		size_t b = ex_bucket(ex->session, ex->token, ex->token_len,
		                     gw->ex_buckets);

		ex->hnext = gw->ex_index[b];
		gw->ex_index[b] = ex;
	}
}

static void
ex_unindex(struct gw_exchange *ex)
{
	struct gw_ctx *gw = ex->gw;
	struct gw_exchange **pp;

	if (gw->ex_index == NULL) {
		return;
	}
	pp = &gw->ex_index[ex_bucket(ex->session, ex->token, ex->token_len,
	                             gw->ex_buckets)];
	while (*pp != NULL && *pp != ex) {
		pp = &(*pp)->hnext;
	}
	if (*pp == ex) {
		*pp = ex->hnext;
	}
	ex->hnext = NULL;
}

static void
ex_unlink(struct gw_exchange *ex)
{
	ex_unindex(ex);
	ex->gw->ex_count--;
	if (ex->prev != NULL) {
		ex->prev->next = ex->next;
	} else if (ex->gw->exchanges == ex) {
		ex->gw->exchanges = ex->next;
	}
	if (ex->next != NULL) {
		ex->next->prev = ex->prev;
	}
	ex->prev = ex->next = NULL;
}

static void
respond(coap_pdu_t *response, const struct gw_result *res)
{
	uint8_t buf[4];

	coap_pdu_set_code(response, res->code);
	if (res->code == COAP_RESPONSE_CODE(201)) {
		coap_add_option(response, COAP_OPTION_LOCATION_PATH, 2,
		                (const uint8_t *)"rd");
		coap_add_option(response, COAP_OPTION_LOCATION_PATH,
		                strlen(res->id), (const uint8_t *)res->id);
	}
	if (res->diag[0] != '\0') {
		coap_add_option(response, COAP_OPTION_CONTENT_FORMAT,
		                coap_encode_var_safe(buf, sizeof buf,
		                                     COAP_MEDIATYPE_TEXT_PLAIN),
		                buf);
	}
	if (res->code == COAP_RESPONSE_CODE(503)) {
		coap_add_option(
		    response, COAP_OPTION_MAXAGE,
		    coap_encode_var_safe(buf, sizeof buf, RETRY_MAX_AGE), buf);
	}
	if (res->diag[0] != '\0') {
		coap_add_data(response, strlen(res->diag),
		              (const uint8_t *)res->diag);
	}
}

static void
respond_error(coap_pdu_t *response, uint8_t code, const char *diag)
{
	struct gw_result res = {.code = code};
	char q[GW_DIAG_MAX + 8];

	snprintf(res.diag, sizeof res.diag, "%s", diag);
	lwm2m_log(LWM2M_LOG_INFO, "refused request: %u.%02u \"%s\", ignoring",
	          code >> 5, code & 31,
	          lwm2m_log_quote(q, sizeof q, res.diag, strlen(res.diag)));
	respond(response, &res);
}

/* sends the empty ACK of a CON request with message id mid */
static void
send_empty_ack(coap_session_t *session, coap_mid_t mid)
{
	/* coap_send_ack() reads only the type and id of the request */
	coap_pdu_t *req = coap_pdu_init(COAP_MESSAGE_CON, 0, mid, 0);

	if (req != NULL) {
		coap_send_ack(session, req);
		coap_delete_pdu(req);
	}
}

/* sends the answer of a pending exchange, piggybacked in the ACK of a CON
 * request not acknowledged yet, else as a separate response; frees it */
static void
answer_later(struct gw_exchange *ex)
{
	coap_session_t *session = ex->session;
	bool piggyback = ex->type == COAP_MESSAGE_CON && !ex->acked;
	coap_pdu_t *pdu;

	ex_unlink(ex);
	pdu = coap_pdu_init(piggyback ? COAP_MESSAGE_ACK : ex->type, 0,
	                    piggyback ? ex->mid : coap_new_message_id(session),
	                    coap_session_max_pdu_size(session));
	if (pdu != NULL && coap_add_token(pdu, ex->token_len, ex->token)) {
		respond(pdu, &ex->res);
		coap_send(session, pdu); /* takes pdu */
	} else if (pdu != NULL) {
		coap_delete_pdu(pdu);
	}
	coap_session_release(session);
	ex_release(ex->gw, ex);
}

void
gw_exchange_done(struct gw_exchange *ex, const struct gw_result *res)
{
	ex->res = *res;
	ex->done = true;
	if (!ex->in_handler) {
		answer_later(ex);
	}
}

/* ---- request parsing ------------------------------------------------------
 */

/* What the handler reads from a request's options, in one pass over them
 * (a pass per option kind cost about 5,000 instructions per request). */
struct req_opts {
	struct gw_str seg[3]; /* Uri-Path */
	size_t n_seg;
	struct gw_str query[MAX_QUERY_OPTS];
	size_t n_query; /* MAX_QUERY_OPTS + 1: there were more */
	bool has_cf, cf_link, has_block1;
	size_t opts_len; /* bytes of all options, from the same pass */
};

static void
add_option(struct req_opts *o, uint16_t number, const coap_opt_t *opt)
{
	struct gw_str v = {(const char *)coap_opt_value(opt),
	                   coap_opt_length(opt)};

	switch (number) {
	case COAP_OPTION_URI_PATH:
		if (o->n_seg < 3) {
			o->seg[o->n_seg] = v;
		}
		o->n_seg += o->n_seg <= 3;
		break;
	case COAP_OPTION_URI_QUERY:
		if (o->n_query < MAX_QUERY_OPTS) {
			o->query[o->n_query] = v;
		}
		o->n_query += o->n_query <= MAX_QUERY_OPTS;
		break;
	case COAP_OPTION_CONTENT_FORMAT:
		if (!o->has_cf) {
			o->has_cf = true;
			o->cf_link =
			    coap_decode_var_bytes(coap_opt_value(opt),
			                          coap_opt_length(opt)) ==
			    COAP_MEDIATYPE_APPLICATION_LINK_FORMAT;
		}
		break;
	case COAP_OPTION_BLOCK1:
		o->has_block1 = true;
		break;
	default:
		break;
	}
}

static void
scan_options(const coap_pdu_t *pdu, struct req_opts *ret_o)
{
	coap_opt_iterator_t it;
	coap_opt_t *opt, *first;

	ret_o->n_seg = ret_o->n_query = 0;
	ret_o->has_cf = ret_o->cf_link = ret_o->has_block1 = false;
	ret_o->opts_len = 0;
	if (coap_option_iterator_init(pdu, &it, COAP_OPT_ALL) == NULL) {
		return; /* no options */
	}
	first = it.next_option;
	while ((opt = coap_option_next(&it)) != NULL) {
		add_option(ret_o, it.number, opt);
	}
	/* the iterator stops on the payload marker or the end */
	ret_o->opts_len = (size_t)(it.next_option - first);
}

/* true when a request without Block1 filled libcoap's whole receive buffer
 * (COAP_RXBUFFER_SIZE): the datagram may have been longer and cut.  Its
 * size as gw_pdu_size counts it, with the options' bytes of the one pass
 * (a second walk of the options was ~2% of coap-gw's instructions per
 * Register; bench/README.md, eighth storm round). */
static bool
datagram_full(const coap_pdu_t *request, const struct req_opts *o)
{
	coap_bin_const_t token = coap_pdu_get_token(request);
	size_t len = 0;
	const uint8_t *data;
	size_t n;

	if (o->has_block1) {
		return false;
	}
	(void)coap_get_data(request, &len, &data);
	n = 4 + token.length + o->opts_len + (len > 0 ? 1 + len : 0);
	return n >= COAP_RXBUFFER_SIZE;
}

/* fills req from the query and payload; on failure writes the response */
static bool
parse_request(const coap_pdu_t *request, const struct req_opts *o,
              struct gw_request *req, coap_pdu_t *response)
{
	char diag[GW_DIAG_MAX];
	const uint8_t *data = NULL;
	size_t len = 0, offset, total = 0;
	lwm2m_err err;

	if (o->n_query > MAX_QUERY_OPTS) {
		respond_error(response, COAP_RESPONSE_CODE(400),
		              "too many query parameters");
		return false;
	}
	err = gw_reg_query_parse(o->query, o->n_query, req->op, &req->q, diag,
	                         sizeof diag);
	if (err != LWM2M_OK) {
		respond_error(response,
		              err == LWM2M_ENOTFOUND ? COAP_RESPONSE_CODE(412)
		                                     : COAP_RESPONSE_CODE(400),
		              diag);
		return false;
	}
	coap_get_data_large(request, &len, &data, &offset, &total);
	if (datagram_full(request, o)) {
		/* libcoap cut a larger datagram to its receive buffer */
		respond_error(response, COAP_RESPONSE_CODE(413),
		              "datagram too large, use Block1");
		return false;
	}
	if (total > GW_PAYLOAD_MAX || len > GW_PAYLOAD_MAX) {
		snprintf(diag, sizeof diag, "payload over %d bytes",
		         GW_PAYLOAD_MAX);
		respond_error(response, COAP_RESPONSE_CODE(413), diag);
		return false;
	}
	if (len == 0) {
		return true;
	}
	if (o->has_cf && !o->cf_link) {
		respond_error(response, COAP_RESPONSE_CODE(415),
		              "payload must be application/link-format (40)");
		return false;
	}
	err = gw_reg_links_parse((const char *)data, len, &req->links, diag,
	                         sizeof diag);
	if (err != LWM2M_OK) {
		respond_error(response,
		              err == LWM2M_ELIMIT ? COAP_RESPONSE_CODE(413)
		                                  : COAP_RESPONSE_CODE(400),
		              diag);
		return false;
	}
	req->has_links = true;
	return true;
}

/* ---- handler ------------------------------------------------------------- */

static bool
seg_is(const struct gw_str *s, const char *text)
{
	return s->len == strlen(text) && memcmp(s->ptr, text, s->len) == 0;
}

/* Decides the operation from method and path; false after writing an
 * error response. */
static bool
route(const coap_pdu_t *request, const struct req_opts *o,
      struct gw_request *req, coap_pdu_t *response)
{
	coap_pdu_code_t code = coap_pdu_get_code(request);

	if (o->n_seg == 0 || o->n_seg > 2 || !seg_is(&o->seg[0], "rd")) {
		respond_error(response, COAP_RESPONSE_CODE(404),
		              "no such resource");
		return false;
	}
	if (o->n_seg == 2 &&
	    (o->seg[1].len == 0 || o->seg[1].len > LWM2M_ID_LEN)) {
		respond_error(response, COAP_RESPONSE_CODE(404),
		              "no such registration");
		return false;
	}
	if (o->n_seg == 2) {
		memcpy(req->id, o->seg[1].ptr, o->seg[1].len);
		req->id[o->seg[1].len] = '\0';
	}
	if (code == COAP_REQUEST_CODE_POST) {
		req->op = o->n_seg == 1 ? GW_OP_REGISTER : GW_OP_UPDATE;
		return true;
	}
	if (code == COAP_REQUEST_CODE_DELETE && o->n_seg == 2) {
		req->op = GW_OP_UPDATE;
		req->deregister = true;
		return true;
	}
	respond_error(response, COAP_RESPONSE_CODE(405), "method not allowed");
	return false;
}

bool
gw_coap_parse(const coap_pdu_t *request, struct gw_request *ret_req,
              coap_pdu_t *response)
{
	struct req_opts o;

	memset(ret_req, 0, sizeof *ret_req);
	scan_options(request, &o);
	return route(request, &o, ret_req, response) &&
	       parse_request(request, &o, ret_req, response);
}

/* "a.b.c.d:port", the text coap_print_addr gives an IPv4 address, without
 * its inet_ntop and snprintf (1.7% of the gateway's time in a storm,
 * bench/README.md, seventh storm round); out has room for 22 bytes. */
static size_t
print_ipv4(const struct sockaddr_in *sin, char *out)
{
	const unsigned char *b = (const unsigned char *)&sin->sin_addr.s_addr;
	char *p = out;

	for (int i = 0; i < 4; i++) {
		p = lwm2m_dec_put(p, b[i]);
		*p++ = i < 3 ? '.' : ':';
	}
	p = lwm2m_dec_put(p, ntohs(sin->sin_port));
	*p = '\0';
	return (size_t)(p - out);
}

static void
peer_address(coap_session_t *session, struct gw_request *req)
{
	const coap_address_t *a = coap_session_get_addr_remote(session);
	size_t n;

	req->addr = *a;
	req->session = session;
	if (a->addr.sa.sa_family == AF_INET) {
		print_ipv4(&a->addr.sin, req->addr_text);
		return;
	}
	n = coap_print_addr(a, (unsigned char *)req->addr_text,
	                    sizeof req->addr_text - 1);
	req->addr_text[n] = '\0';
}

static void
dispatch(struct gw_ctx *gw, struct gw_exchange *ex, struct gw_request *req)
{
	if (req->op == GW_OP_REGISTER) {
		gw_registry_register(gw, ex, req);
	} else {
		gw_registry_update(gw, ex, req);
	}
}

/* Runs the operation; answers in the handler when it completed at once,
 * else keeps the exchange and answers later (answer_later).  The response
 * of a pending exchange is made NON with no code, which libcoap drops: no
 * empty ACK yet (see DEFER_ACK_MS). */
static void
start(struct gw_ctx *gw, coap_session_t *session, const coap_pdu_t *request,
      struct gw_request *req, coap_pdu_t *response)
{
	struct gw_exchange *ex = ex_alloc(gw);
	coap_bin_const_t token = coap_pdu_get_token(request);

	if (ex == NULL || token.length > sizeof ex->token) {
		if (ex != NULL) {
			ex_release(gw, ex);
		}
		gw_reg_links_fini(&req->links);
		respond_error(response, COAP_RESPONSE_CODE(500),
		              "out of memory");
		return;
	}
	ex->gw = gw;
	ex->type = coap_pdu_get_type(request) == COAP_MESSAGE_CON
	               ? COAP_MESSAGE_CON
	               : COAP_MESSAGE_NON;
	ex->mid = coap_pdu_get_mid(request);
	coap_ticks(&ex->started);
	memcpy(ex->token, token.s, token.length);
	ex->token_len = token.length;
	ex->session = coap_session_reference(session);
	ex_link(gw, ex);
	ex->in_handler = true;
	dispatch(gw, ex, req);
	ex->in_handler = false;
	if (ex->done) {
		respond(response, &ex->res);
		ex_unlink(ex);
		coap_session_release(ex->session);
		ex_release(gw, ex);
		return;
	}
	coap_pdu_set_type(response, COAP_MESSAGE_NON);
}

/* true for a retransmission of a request whose answer is still pending:
 * libcoap then repeats the empty ACK, unless the answer will be the
 * piggybacked ACK of that very message (response made NON: dropped) */
static bool
pending(struct gw_ctx *gw, coap_session_t *session, const coap_pdu_t *request,
        coap_pdu_t *response)
{
	coap_bin_const_t token = coap_pdu_get_token(request);
	struct gw_exchange *ex = gw->exchanges;

	if (gw->ex_index != NULL) {
		ex = gw->ex_index[ex_bucket(session, token.s, token.length,
		                            gw->ex_buckets)];
	}
	for (; ex != NULL; ex = gw->ex_index != NULL ? ex->hnext : ex->next) {
		if (ex->session == session && ex->token_len == token.length &&
		    memcmp(ex->token, token.s, token.length) == 0) {
			if (!ex->acked &&
			    ex->mid == coap_pdu_get_mid(request)) {
				coap_pdu_set_type(response, COAP_MESSAGE_NON);
			}
			return true;
		}
	}
	return false;
}

/* sends the empty ACK of CON exchanges pending for DEFER_ACK_MS */
static void
ack_overdue(struct gw_ctx *gw, coap_tick_t now)
{
	coap_tick_t limit = DEFER_ACK_MS * COAP_TICKS_PER_SECOND / 1000;

	for (struct gw_exchange *ex = gw->exchanges; ex != NULL;
	     ex = ex->next) {
		if (ex->type == COAP_MESSAGE_CON && !ex->acked &&
		    now - ex->started >= limit) {
			ex->acked = true;
			send_empty_ack(ex->session, ex->mid);
		}
	}
}

static void
on_request(coap_resource_t *resource, coap_session_t *session,
           const coap_pdu_t *request, const coap_string_t *query,
           coap_pdu_t *response)
{
	struct gw_ctx *gw =
	    coap_get_app_data(coap_session_get_context(session));
	struct gw_request req;
	struct req_opts o;

	if (pending(gw, session, request, response)) {
		return;
	}
	memset(&req, 0, sizeof req);
	scan_options(request, &o);
	if (!route(request, &o, &req, response)) {
		return;
	}
	if (req.op == GW_OP_REGISTER &&
	    coap_pdu_get_type(request) != COAP_MESSAGE_CON) {
		respond_error(response, COAP_RESPONSE_CODE(400),
		              "Register must be confirmable");
		return;
	}
	if (!parse_request(request, &o, &req, response)) {
		return;
	}
	peer_address(session, &req);
	if (!gw_dtls_bind(gw, session, &req, response)) {
		gw_reg_links_fini(&req.links);
		return;
	}
	start(gw, session, request, &req, response);
}

/* ---- loop sources and lifecycle --------------------------------------------
 */

/* Readable: hand libcoap its ready sockets until none is left (bounded, so
 * the other sources get their turn).  coap_io_process() would also walk
 * every session for timeouts on each call, which costs O(sessions) per
 * datagram; that walk runs on the timer instead. */
static void
on_coap_readable(evutil_socket_t fd, short what, void *arg)
{
	struct gw_ctx *gw = arg;
	struct epoll_event evs[EPOLL_BATCH];

	for (int round = 0; round < READ_ROUNDS; round++) {
		int n = epoll_wait(fd, evs, EPOLL_BATCH, 0);
		if (n <= 0) {
			return;
		}
		coap_io_do_epoll(gw->coap, evs, (size_t)n);
	}
}

/* a fingerprint of the session's peer address (FNV-1a), never 0 */
static uint32_t
peer_print(const coap_session_t *session)
{
	const coap_address_t *a = coap_session_get_addr_remote(session);
	const uint8_t *p = (const uint8_t *)&a->addr;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < a->size && i < sizeof a->addr; i++) {
		h = (h ^ p[i]) * 16777619u;
	}
	return h | 1u;
}

void
gw_idle_init(struct gw_idle *idle, coap_context_t *ctx)
{
	memset(idle, 0, sizeof *idle);
	idle->ctx = ctx;
	idle->cap = GW_IDLE_MIN;
	coap_context_set_max_idle_sessions(ctx, idle->cap);
}

/* the decision of one window of created sessions */
static void
idle_decide(struct gw_idle *idle)
{
	unsigned cap = idle->cap;

	if (idle->returned * 2 >= idle->created && cap < GW_IDLE_MAX) {
		cap *= 2;
	} else if (idle->returned * 16 < idle->created && cap > GW_IDLE_MIN) {
		cap /= 2;
	}
	if (cap != idle->cap) {
		lwm2m_log(LWM2M_LOG_INFO,
		          "idle CoAP sessions kept: %u (%u of the last %u new "
		          "sessions were peers whose session had been dropped)",
		          cap, idle->returned, idle->created);
		idle->cap = cap;
		coap_context_set_max_idle_sessions(idle->ctx, cap);
	}
	idle->created = idle->returned = 0;
}

void
gw_idle_event(struct gw_idle *idle, coap_session_t *session, coap_event_t event)
{
	uint32_t h;
	uint32_t *slot;

	if ((event != COAP_EVENT_SERVER_SESSION_NEW &&
	     event != COAP_EVENT_SERVER_SESSION_DEL) ||
	    coap_session_get_proto(session) != COAP_PROTO_UDP) {
		return;
	}
	h = peer_print(session);
	slot = &idle->dropped[h & (GW_IDLE_DROPPED - 1)];
	if (event == COAP_EVENT_SERVER_SESSION_DEL) {
		*slot = h;
		return;
	}
	idle->returned += *slot == h;
	*slot = 0;
	if (++idle->created >= GW_IDLE_WINDOW) {
		idle_decide(idle);
	}
}

static int
on_coap_event(coap_session_t *session, coap_event_t event)
{
	struct gw_ctx *gw =
	    coap_get_app_data(coap_session_get_context(session));

	if (gw != NULL) {
		gw_idle_event(&gw->idle, session, event);
	}
	return 0;
}

/* Timer: retransmissions, session time-outs, block-wise clean-up. */
static void
on_coap_timer(evutil_socket_t fd, short what, void *arg)
{
	struct gw_ctx *gw = arg;
	coap_tick_t now;

	coap_ticks(&now);
	ack_overdue(gw, now);
	coap_io_prepare_epoll(gw->coap, now);
}

/* "0.0.0.0:5683", "[::]:5683" or "host:port" */
lwm2m_err
gw_coap_resolve(const char *text, coap_address_t *ret_addr)
{
	char host[128];
	const char *colon = strrchr(text, ':');
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_DGRAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	size_t hlen;

	if (colon == NULL || colon == text || colon[1] == '\0') {
		return LWM2M_EINVAL;
	}
	hlen = (size_t)(colon - text);
	if (text[0] == '[' && colon[-1] == ']') {
		text++;
		hlen -= 2;
	}
	if (hlen >= sizeof host) {
		return LWM2M_EINVAL;
	}
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL) {
		return LWM2M_EINVAL;
	}
	coap_address_init(ret_addr);
	ret_addr->size = res->ai_addrlen;
	memcpy(&ret_addr->addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return LWM2M_OK;
}

lwm2m_err
gw_coap_add_handlers(coap_context_t *ctx)
{
	coap_resource_t *r = coap_resource_unknown_init(on_request);

	if (r == NULL) {
		return LWM2M_ENOMEM;
	}
	coap_register_handler(r, COAP_REQUEST_POST, on_request);
	coap_register_handler(r, COAP_REQUEST_DELETE, on_request);
	coap_register_handler(r, COAP_REQUEST_GET, on_request);
	coap_add_resource(ctx, r);
	return LWM2M_OK;
}

#define SOCK_SCAN_MAX 1024 /* descriptors looked at; endpoints open early */

/* opt_force first (root or CAP_NET_ADMIN: past net.core.rmem_max), else
 * opt, which the kernel caps */
static void
set_buf(int fd, int opt_force, int opt, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, opt_force, &bytes, sizeof bytes) != 0) {
		(void)setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
	}
}

int
gw_unconnected_udp_family(int fd)
{
	struct sockaddr_storage local, peer;
	socklen_t len = sizeof local;
	int type = 0;
	socklen_t tlen = sizeof type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 ||
	    type != SOCK_DGRAM ||
	    getsockname(fd, (struct sockaddr *)&local, &len) != 0) {
		return AF_UNSPEC;
	}
	len = sizeof peer;
	if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0 ||
	    errno != ENOTCONN) {
		return AF_UNSPEC;
	}
	return local.ss_family;
}

/* an unconnected IPv4/IPv6 UDP socket: a listening endpoint */
static bool
is_listening_udp(int fd)
{
	int family = gw_unconnected_udp_family(fd);

	return family == AF_INET || family == AF_INET6;
}

size_t
gw_coap_set_bufs(int bytes, int *ret_effective)
{
	size_t n = 0;

	for (int fd = 0; fd < SOCK_SCAN_MAX; fd++) {
		int eff = 0;
		socklen_t len = sizeof eff;

		if (!is_listening_udp(fd)) {
			continue;
		}
		set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, bytes);
		set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, bytes);
		if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &eff, &len) == 0) {
			*ret_effective = eff;
		}
		n++;
	}
	return n;
}

/* LWDS_COAP_RCVBUF on the listening sockets (CoAP and DTLS), before any
 * client session to a device exists: bursts of notifications queue in
 * the kernel instead of being dropped (UDP RcvbufErrors) */
static void
size_buffers(struct gw_ctx *gw)
{
	int eff = 0;
	size_t n;

	if (gw->cfg.sockbuf == 0) {
		return;
	}
	n = gw_coap_set_bufs((int)gw->cfg.sockbuf, &eff);
	/* Linux reports twice the size asked for (bookkeeping overhead) */
	lwm2m_log(eff / 2 < gw->cfg.sockbuf ? LWM2M_LOG_WARNING
	                                    : LWM2M_LOG_NOTICE,
	          "socket buffers of %zu listening sockets: %lld bytes asked, "
	          "receive buffer %d bytes (net.core.rmem_max caps it when "
	          "not root)",
	          n, gw->cfg.sockbuf, eff / 2);
}

static lwm2m_err
add_sources(struct gw_ctx *gw)
{
	struct timeval tv = {0, COAP_POLL_MS * 1000};
	int fd = coap_context_get_coap_fd(gw->coap);

	if (fd < 0) {
		lwm2m_log(LWM2M_LOG_ERR,
		          "libcoap has no pollable fd (no epoll)");
		return LWM2M_EIO;
	}
	gw->coap_ev =
	    event_new(gw->base, fd, EV_READ | EV_PERSIST, on_coap_readable, gw);
	gw->coap_timer = event_new(gw->base, -1, EV_PERSIST, on_coap_timer, gw);
	if (gw->coap_ev == NULL || gw->coap_timer == NULL ||
	    event_add(gw->coap_ev, NULL) != 0 ||
	    event_add(gw->coap_timer, &tv) != 0) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

lwm2m_err
gw_coap_start(struct gw_ctx *gw)
{
	coap_endpoint_t *ep;
	coap_address_t addr;
	lwm2m_err err;

	if (gw_coap_resolve(gw->cfg.coap_listen, &addr) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "bad CoAP listen address \"%s\"",
		          gw->cfg.coap_listen);
		return LWM2M_EINVAL;
	}
	gw->coap = coap_new_context(NULL);
	if (gw->coap == NULL) {
		return LWM2M_ENOMEM;
	}
	coap_set_app_data(gw->coap, gw);
	coap_context_set_block_mode(gw->coap, COAP_BLOCK_USE_LIBCOAP |
	                                          COAP_BLOCK_SINGLE_BODY);
	/* Registration needs a session only while an exchange is pending (it
	 * holds a reference); libcoap walks all sessions when it creates one,
	 * so idle ones are kept only as many as returning peers need. */
	gw_idle_init(&gw->idle, gw->coap);
	coap_register_event_handler(gw->coap, on_coap_event);
	coap_context_set_session_timeout(gw->coap, IDLE_SESSION_TIMEOUT_S);
	ep = coap_new_endpoint(gw->coap, &addr, COAP_PROTO_UDP);
	if (ep == NULL) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot listen on CoAP %s",
		          gw->cfg.coap_listen);
		return LWM2M_EIO;
	}
	/* take every datagram libcoap can receive (1472 bytes) rather than
	 * dropping those over the 1152-byte default MTU */
	coap_endpoint_set_default_mtu(ep, COAP_RXBUFFER_SIZE);
	err = gw_coap_add_handlers(gw->coap);
	if (err == LWM2M_OK) {
		err = gw_dtls_start(gw);
	}
	if (err == LWM2M_OK) {
		size_buffers(gw);
		err = add_sources(gw);
	}
	if (err == LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_NOTICE, "CoAP listening on udp %s",
		          gw->cfg.coap_listen);
	}
	return err;
}

/* libcoap lines that report a peer's ordinary behaviour (a device
 * cancelling an observation with RST, or rebooted and rejecting our
 * request) at a level libcoap gives to its own failures */
static const char *const coap_ordinary[] = {
    "got RST for mid=",
};

int
gw_coap_log_level(coap_log_t level, const char *message)
{
	for (size_t i = 0; i < sizeof coap_ordinary / sizeof *coap_ordinary;
	     i++) {
		if (strncmp(message, coap_ordinary[i],
		            strlen(coap_ordinary[i])) == 0) {
			return LWM2M_LOG_DEBUG;
		}
	}
	if (level <= LOG_ERR) {
		return LWM2M_LOG_WARNING;
	}
	return level <= LOG_NOTICE ? LWM2M_LOG_INFO : LWM2M_LOG_DEBUG;
}

void
gw_coap_log(coap_log_t level, const char *message)
{
	char quoted[512];
	size_t len = strlen(message);
	int ours = gw_coap_log_level(level, message);

	while (len > 0 &&
	       (message[len - 1] == '\n' || message[len - 1] == ' ')) {
		len--;
	}
	lwm2m_log(ours, "libcoap: %s",
	          lwm2m_log_quote(quoted, sizeof quoted, message, len));
}

void
gw_coap_log_init(int level)
{
	coap_log_t coap_level = LOG_ERR;

	/* the most detailed libcoap level that can reach the log: libcoap's
	 * LOG_DEBUG (every datagram) stays off */
	if (level >= LWM2M_LOG_DEBUG) {
		coap_level = LOG_INFO;
	} else if (level >= LWM2M_LOG_INFO) {
		coap_level = LOG_NOTICE;
	}
	coap_set_log_handler(gw_coap_log);
	coap_set_log_level(coap_level);
}

void
gw_coap_stop(struct gw_ctx *gw)
{
	struct gw_exchange *ex, *next;

	if (gw->coap_ev != NULL) {
		event_free(gw->coap_ev);
		gw->coap_ev = NULL;
	}
	if (gw->coap_timer != NULL) {
		event_free(gw->coap_timer);
		gw->coap_timer = NULL;
	}
	for (ex = gw->exchanges; ex != NULL; ex = next) {
		next = ex->next;
		coap_session_release(ex->session);
		free(ex);
	}
	gw->exchanges = NULL;
	lwm2m_spares_fini(&gw->spare_ex);
	free(gw->ex_index);
	gw->ex_index = NULL;
	gw->ex_buckets = gw->ex_count = 0;
	if (gw->coap != NULL) {
		coap_free_context(gw->coap);
		gw->coap = NULL;
	}
	gw_dtls_stop(gw);
}
