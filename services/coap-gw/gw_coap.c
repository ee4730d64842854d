/* gw_coap.c - libcoap glue: the /rd resource tree, request parsing into a
 * struct gw_request, answers (piggybacked, or separate through libcoap's
 * async support when Redis must be consulted first), and the loop sources.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gw.h"
#include "lwm2m_log.h"
#include "lwm2m_redis.h"

#define MAX_QUERY_OPTS 32
#define COAP_POLL_MS 100
#define RETRY_MAX_AGE 5 /* seconds, on 5.03 */

struct gw_exchange {
	struct gw_ctx *gw;
	coap_async_t *async; /* NULL while still inside the handler */
	bool in_handler, done, orphan;
	struct gw_result res;
	struct gw_exchange *prev, *next; /* gw->exchanges, while async */
};

static void
ex_unlink(struct gw_exchange *ex)
{
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

void
gw_exchange_done(struct gw_exchange *ex, const struct gw_result *res)
{
	ex->res = *res;
	ex->done = true;
	if (ex->in_handler) {
		return;
	}
	if (ex->orphan) {
		free(ex);
		return;
	}
	coap_async_trigger(ex->async);
	event_active(ex->gw->coap_timer, EV_TIMEOUT, 0);
}

/* ---- request parsing ------------------------------------------------------
 */

struct path {
	struct gw_str seg[3];
	size_t n;
};

static void
read_path(const coap_pdu_t *pdu, struct path *ret_path)
{
	coap_opt_iterator_t it;
	coap_opt_filter_t f;
	coap_opt_t *o;

	memset(ret_path, 0, sizeof *ret_path);
	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
	coap_option_iterator_init(pdu, &it, &f);
	while ((o = coap_option_next(&it)) != NULL) {
		if (ret_path->n < 3) {
			ret_path->seg[ret_path->n].ptr =
			    (const char *)coap_opt_value(o);
			ret_path->seg[ret_path->n].len = coap_opt_length(o);
		}
		ret_path->n++;
	}
}

static bool
read_query(const coap_pdu_t *pdu, struct gw_str *opts, size_t *ret_n)
{
	coap_opt_iterator_t it;
	coap_opt_filter_t f;
	coap_opt_t *o;
	size_t n = 0;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_QUERY);
	coap_option_iterator_init(pdu, &it, &f);
	while ((o = coap_option_next(&it)) != NULL) {
		if (n == MAX_QUERY_OPTS) {
			return false;
		}
		opts[n].ptr = (const char *)coap_opt_value(o);
		opts[n].len = coap_opt_length(o);
		n++;
	}
	*ret_n = n;
	return true;
}

static bool
content_format_ok(const coap_pdu_t *pdu)
{
	coap_opt_iterator_t it;
	coap_opt_t *o = coap_check_option(pdu, COAP_OPTION_CONTENT_FORMAT, &it);

	return o == NULL ||
	       coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) ==
	           COAP_MEDIATYPE_APPLICATION_LINK_FORMAT;
}

/* fills req from the query and payload; on failure writes the response */
static bool
parse_request(const coap_pdu_t *request, struct gw_request *req,
              coap_pdu_t *response)
{
	struct gw_str opts[MAX_QUERY_OPTS];
	char diag[GW_DIAG_MAX];
	const uint8_t *data = NULL;
	size_t n, len = 0, offset, total = 0;
	lwm2m_err err;

	if (!read_query(request, opts, &n)) {
		respond_error(response, COAP_RESPONSE_CODE(400),
		              "too many query parameters");
		return false;
	}
	err = gw_reg_query_parse(opts, n, req->op, &req->q, diag, sizeof diag);
	if (err != LWM2M_OK) {
		respond_error(response,
		              err == LWM2M_ENOTFOUND ? COAP_RESPONSE_CODE(412)
		                                     : COAP_RESPONSE_CODE(400),
		              diag);
		return false;
	}
	coap_get_data_large(request, &len, &data, &offset, &total);
	if (total > GW_PAYLOAD_MAX || len > GW_PAYLOAD_MAX) {
		snprintf(diag, sizeof diag, "payload over %d bytes",
		         GW_PAYLOAD_MAX);
		respond_error(response, COAP_RESPONSE_CODE(413), diag);
		return false;
	}
	if (len == 0) {
		return true;
	}
	if (!content_format_ok(request)) {
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
route(const coap_pdu_t *request, struct gw_request *req, coap_pdu_t *response)
{
	coap_pdu_code_t code = coap_pdu_get_code(request);
	struct path p;

	read_path(request, &p);
	if (p.n == 0 || p.n > 2 || !seg_is(&p.seg[0], "rd")) {
		respond_error(response, COAP_RESPONSE_CODE(404),
		              "no such resource");
		return false;
	}
	if (p.n == 2 && (p.seg[1].len == 0 || p.seg[1].len > LWM2M_ID_LEN)) {
		respond_error(response, COAP_RESPONSE_CODE(404),
		              "no such registration");
		return false;
	}
	if (p.n == 2) {
		memcpy(req->id, p.seg[1].ptr, p.seg[1].len);
		req->id[p.seg[1].len] = '\0';
	}
	if (code == COAP_REQUEST_CODE_POST) {
		req->op = p.n == 1 ? GW_OP_REGISTER : GW_OP_UPDATE;
		return true;
	}
	if (code == COAP_REQUEST_CODE_DELETE && p.n == 2) {
		req->op = GW_OP_UPDATE;
		req->deregister = true;
		return true;
	}
	respond_error(response, COAP_RESPONSE_CODE(405), "method not allowed");
	return false;
}

static void
peer_address(coap_session_t *session, struct gw_request *req)
{
	const coap_address_t *a = coap_session_get_addr_remote(session);
	size_t n;

	req->addr = *a;
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
 * else parks the request with libcoap (empty ACK now, separate response
 * later). */
static void
start(struct gw_ctx *gw, coap_session_t *session, const coap_pdu_t *request,
      struct gw_request *req, coap_pdu_t *response)
{
	struct gw_exchange *ex = calloc(1, sizeof *ex);

	if (ex == NULL) {
		gw_reg_links_fini(&req->links);
		respond_error(response, COAP_RESPONSE_CODE(500),
		              "out of memory");
		return;
	}
	ex->gw = gw;
	ex->in_handler = true;
	dispatch(gw, ex, req);
	ex->in_handler = false;
	if (ex->done) {
		respond(response, &ex->res);
		free(ex);
		return;
	}
	ex->async = coap_register_async(session, request, 0);
	if (ex->async == NULL) {
		ex->orphan = true; /* freed when the operation finishes */
		respond_error(response, COAP_RESPONSE_CODE(503), "busy");
		return;
	}
	coap_async_set_app_data(ex->async, ex);
	ex->next = gw->exchanges;
	if (gw->exchanges != NULL) {
		gw->exchanges->prev = ex;
	}
	gw->exchanges = ex;
}

/* the same request again: libcoap's re-run of a triggered async, or a
 * retransmission while the operation is still running */
static bool
resume(coap_session_t *session, const coap_pdu_t *request, coap_pdu_t *response)
{
	coap_async_t *async =
	    coap_find_async(session, coap_pdu_get_token(request));
	struct gw_exchange *ex;

	if (async == NULL) {
		return false;
	}
	ex = coap_async_get_app_data(async);
	if (ex != NULL && ex->done) {
		respond(response, &ex->res);
		ex_unlink(ex);
		coap_async_set_app_data(async, NULL);
		free(ex);
	}
	return true; /* libcoap frees the async after this run */
}

static void
on_request(coap_resource_t *resource, coap_session_t *session,
           const coap_pdu_t *request, const coap_string_t *query,
           coap_pdu_t *response)
{
	struct gw_ctx *gw =
	    coap_get_app_data(coap_session_get_context(session));
	struct gw_request req;

	if (resume(session, request, response)) {
		return;
	}
	memset(&req, 0, sizeof req);
	if (!route(request, &req, response)) {
		return;
	}
	if (req.op == GW_OP_REGISTER &&
	    coap_pdu_get_type(request) != COAP_MESSAGE_CON) {
		respond_error(response, COAP_RESPONSE_CODE(400),
		              "Register must be confirmable");
		return;
	}
	if (!parse_request(request, &req, response)) {
		return;
	}
	peer_address(session, &req);
	start(gw, session, request, &req, response);
}

/* ---- loop sources and lifecycle --------------------------------------------
 */

static void
on_coap_io(evutil_socket_t fd, short what, void *arg)
{
	struct gw_ctx *gw = arg;

	coap_io_process(gw->coap, COAP_IO_NO_WAIT);
}

/* "0.0.0.0:5683", "[::]:5683" or "host:port" */
static lwm2m_err
resolve_listen(const char *text, coap_address_t *ret_addr)
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

static lwm2m_err
add_resource(struct gw_ctx *gw)
{
	coap_resource_t *r = coap_resource_unknown_init(on_request);

	if (r == NULL) {
		return LWM2M_ENOMEM;
	}
	coap_register_handler(r, COAP_REQUEST_POST, on_request);
	coap_register_handler(r, COAP_REQUEST_DELETE, on_request);
	coap_register_handler(r, COAP_REQUEST_GET, on_request);
	coap_add_resource(gw->coap, r);
	return LWM2M_OK;
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
	    event_new(gw->base, fd, EV_READ | EV_PERSIST, on_coap_io, gw);
	gw->coap_timer = event_new(gw->base, -1, EV_PERSIST, on_coap_io, gw);
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

	if (resolve_listen(gw->cfg.coap_listen, &addr) != LWM2M_OK) {
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
	ep = coap_new_endpoint(gw->coap, &addr, COAP_PROTO_UDP);
	if (ep == NULL) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot listen on CoAP %s",
		          gw->cfg.coap_listen);
		return LWM2M_EIO;
	}
	/* take every datagram libcoap can receive (1472 bytes) rather than
	 * dropping those over the 1152-byte default MTU */
	coap_endpoint_set_default_mtu(ep, COAP_RXBUFFER_SIZE);
	err = add_resource(gw);
	if (err == LWM2M_OK) {
		err = add_sources(gw);
	}
	if (err == LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_NOTICE, "CoAP listening on udp %s",
		          gw->cfg.coap_listen);
	}
	return err;
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
	if (gw->coap != NULL) {
		coap_free_context(gw->coap);
		gw->coap = NULL;
	}
	for (ex = gw->exchanges; ex != NULL; ex = next) {
		next = ex->next;
		free(ex);
	}
	gw->exchanges = NULL;
}
