/* sim_udp.c - the shared-socket transport of lwds-sim (--shared-sockets).
 *
 * A libcoap client session needs a socket of its own, so one process could
 * simulate no more devices than it may open descriptors.  Here a few UDP
 * sockets bound to the wildcard address serve every client: client i sends
 * from address i mod A of the --local-addrs (IP_PKTINFO picks the source
 * address of each datagram) and from the port of socket i / A; a datagram's
 * destination address (IP_PKTINFO again) and the socket it arrived on say
 * which client it is for.  The CoAP messaging layer (RFC 7252 section 4:
 * retransmission of CON messages, ACK/RST, duplicate detection) is done here;
 * requests go to the one device-management implementation, sim_dm.c.
 */
#define _GNU_SOURCE /* recvmmsg, struct mmsghdr */
#include "sim_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lwm2m_id.h"
#include "lwm2m_log.h"

#define SIM_UDP_SOCKS_MAX SIM_SHARED_SOCKETS_MAX
#define SIM_UDP_BATCH 64              /* datagrams per recvmmsg() */
#define SIM_UDP_ROUNDS 16             /* recvmmsg() calls per readable event */
#define SIM_UDP_BUF (4 * 1024 * 1024) /* SO_RCVBUF and SO_SNDBUF asked */
/* RFC 7252 4.8: ACK_TIMEOUT 2 s, ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4,
 * MAX_TRANSMIT_WAIT 93 s, EXCHANGE_LIFETIME 247 s. */
#define SIM_UDP_ACK_TIMEOUT_MS 2000
#define SIM_UDP_MAX_RETRANSMIT 4
#define SIM_UDP_SEPARATE_WAIT_MS 93000
#define SIM_UDP_EXCHANGE_MS 247000
/* NSTART 1 (RFC 7252 4.7), as libcoap: one CON message of a client awaits
 * its ACK, the next ones wait in order behind it, at most this many. */
#define SIM_UDP_QUEUE_MAX 32
/* Answers kept for retransmitted requests: one slot per hash of (client,
 * message id), so memory stays bounded whatever the number of clients. */
#define SIM_UDP_DEDUP_SLOTS 4096
#define SIM_UDP_BODY_MAX 65536 /* a Block1 request body */
#define SIM_UDP_BLK1_MAX 64    /* Block1 transfers under way, all clients */

struct sim_udp_pend {
	struct sim_udp_pend *next;
	struct sim_client *c;
	struct event *ev;
	uint16_t mid;
	uint8_t tkl;
	uint8_t token[8];
	bool request;  /* a request of ours: its answer may come separately */
	bool acked;    /* empty ACK received: waiting for that answer */
	unsigned sent; /* transmissions; 0 while queued */
	unsigned timeout_ms;
	size_t len;
	uint8_t bytes[];
};

struct sim_udp_blk1 {
	coap_string_t *path; /* Uri-Path of the transfer */
	unsigned szx;
	size_t len;
	uint8_t *buf;
};

struct sim_udp_dedup {
	const struct sim_client *c;
	int64_t at_ms;
	uint16_t mid;
	size_t len;
	uint8_t *bytes;
};

struct sim_udp_sock {
	struct sim_udp *u;
	int fd;
	unsigned k;    /* serves clients k * A .. k * A + A - 1 */
	uint16_t port; /* host order */
	struct event *ev;
};

union sim_udp_cmsg {
	char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
	struct cmsghdr align;
};

struct sim_udp {
	struct sim_ctx *ctx;
	uint64_t n_addrs;
	struct sim_udp_sock *socks;
	unsigned n_socks;
	unsigned n_blk1;
	uint64_t rng;
	struct sim_udp_dedup dedup[SIM_UDP_DEDUP_SLOTS];
	struct mmsghdr msgs[SIM_UDP_BATCH];
	struct iovec iov[SIM_UDP_BATCH];
	struct sockaddr_in from[SIM_UDP_BATCH];
	union sim_udp_cmsg cmsg[SIM_UDP_BATCH];
	uint8_t rx[SIM_UDP_BATCH][SIM_WIRE_RX_MAX + 1];
};

/* Code classes (RFC 7252 3): 0 requests (0.00 is an empty message), 2 to 5
 * responses, 1, 6 and 7 reserved. */
static bool
is_request(const coap_pdu_t *pdu)
{
	unsigned code = coap_pdu_get_code(pdu);

	return code != 0 && code >> 5 == 0;
}

static bool
is_response(const coap_pdu_t *pdu)
{
	unsigned cls = (unsigned)coap_pdu_get_code(pdu) >> 5;

	return cls >= 2 && cls <= 5;
}

unsigned
sim_udp_sockets(unsigned count, uint64_t n_addrs)
{
	if (n_addrs == 0) {
		return 0;
	}
	return (unsigned)(((uint64_t)count + n_addrs - 1) / n_addrs);
}

/* ---- sending --------------------------------------------------------------
 */

static struct sim_udp_sock *
sock_of(const struct sim_client *c)
{
	struct sim_udp *u = c->ctx->udp;

	return &u->socks[c->idx / u->n_addrs];
}

void
sim_udp_local(const struct sim_client *c, uint32_t *ret_addr,
              uint16_t *ret_port)
{
	uint32_t addr = 0;

	sim_opts_local_addr(&c->ctx->opts, c->idx, &addr);
	*ret_addr = addr;
	*ret_port = sock_of(c)->port;
}

/* send_bytes sends one datagram to the server from c's address. */
static bool
send_bytes(struct sim_client *c, const uint8_t *buf, size_t len)
{
	union sim_udp_cmsg cm;
	struct iovec iov = {(void *)buf, len};
	struct msghdr mh = {.msg_name = &c->ctx->server.addr.sin,
	                    .msg_namelen = sizeof c->ctx->server.addr.sin,
	                    .msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = cm.buf,
	                    .msg_controllen = sizeof cm.buf};
	struct cmsghdr *cmsg;
	struct in_pktinfo pi;
	uint32_t addr;
	uint16_t port;

	memset(&cm, 0, sizeof cm);
	memset(&pi, 0, sizeof pi);
	sim_udp_local(c, &addr, &port);
	pi.ipi_spec_dst.s_addr = htonl(addr);
	cmsg = CMSG_FIRSTHDR(&mh);
	cmsg->cmsg_level = IPPROTO_IP;
	cmsg->cmsg_type = IP_PKTINFO;
	cmsg->cmsg_len = CMSG_LEN(sizeof pi);
	memcpy(CMSG_DATA(cmsg), &pi, sizeof pi);
	if (sendmsg(sock_of(c)->fd, &mh, 0) < 0) {
		c->ctx->stats.udp_send_errors++;
		return false;
	}
	return true;
}

static void
send_empty(struct sim_client *c, coap_pdu_type_t type, uint16_t mid)
{
	uint8_t b[4] = {(uint8_t)(0x40 | (type & 3) << 4), 0,
	                (uint8_t)(mid >> 8), (uint8_t)mid};

	send_bytes(c, b, sizeof b);
}

coap_pdu_t *
sim_udp_new_pdu(struct sim_client *c, coap_pdu_type_t type,
                coap_pdu_code_t code)
{
	c->mid++;
	return coap_pdu_init(type, code, c->mid, SIM_WIRE_PDU_MAX);
}

/* next_random steps xorshift64: tokens and retransmission jitter need to
 * be unlikely to repeat, not secret. */
static uint64_t
next_random(struct sim_udp *u)
{
	u->rng ^= u->rng << 13;
	u->rng ^= u->rng >> 7;
	u->rng ^= u->rng << 17;
	return u->rng;
}

void
sim_udp_new_token(struct sim_client *c, uint8_t *tok, size_t *ret_len)
{
	uint64_t r = next_random(c->ctx->udp);

	memcpy(tok, &r, 8);
	*ret_len = 8;
}

/* ---- CON messages awaiting an acknowledgement ------------------------------
 */

static void
pend_free(struct sim_udp_pend *p)
{
	if (p == NULL) {
		return;
	}
	if (p->ev != NULL) {
		event_free(p->ev);
	}
	free(p);
}

static void
pend_unlink(struct sim_udp_pend *p)
{
	struct sim_udp_pend **pp = &p->c->pend;

	while (*pp != p) {
		pp = &(*pp)->next;
	}
	*pp = p->next;
}

static struct sim_udp_pend *
pend_by_mid(struct sim_client *c, uint16_t mid)
{
	for (struct sim_udp_pend *p = c->pend; p != NULL; p = p->next) {
		if (p->sent > 0 && p->mid == mid) {
			return p;
		}
	}
	return NULL;
}

static struct sim_udp_pend *
pend_by_token(struct sim_client *c, coap_bin_const_t tok)
{
	for (struct sim_udp_pend *p = c->pend; p != NULL; p = p->next) {
		if (p->sent > 0 && p->request && p->tkl == tok.length &&
		    memcmp(p->token, tok.s, tok.length) == 0) {
			return p;
		}
	}
	return NULL;
}

static void
pend_arm(struct sim_udp_pend *p, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(p->ev, &tv);
}

/* pend_next sends the first queued CON message of c when none of its
 * messages awaits an ACK. */
static void
pend_next(struct sim_client *c)
{
	struct sim_udp *u = c->ctx->udp;
	struct sim_udp_pend *p;

	for (p = c->pend; p != NULL; p = p->next) {
		if (p->sent > 0 && !p->acked) {
			return;
		}
		if (p->sent == 0) {
			break;
		}
	}
	if (p == NULL) {
		return;
	}
	p->sent = 1;
	/* ACK_TIMEOUT * random [1, ACK_RANDOM_FACTOR] */
	p->timeout_ms =
	    SIM_UDP_ACK_TIMEOUT_MS +
	    (unsigned)(next_random(u) % (SIM_UDP_ACK_TIMEOUT_MS / 2));
	send_bytes(c, p->bytes, p->len); /* lost: retransmitted */
	pend_arm(p, p->timeout_ms);
}

/* pend_done forgets p (acknowledged, reset or given up) and sends the next
 * queued message of its client. */
static void
pend_done(struct sim_udp_pend *p)
{
	struct sim_client *c = p->c;

	pend_unlink(p);
	pend_free(p);
	pend_next(c);
}

/* on_pend_timer retransmits (timeout doubling) or, after MAX_RETRANSMIT
 * retransmissions or a separate answer that never came, gives up. */
static void
on_pend_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sim_udp_pend *p = arg;
	struct sim_client *c = p->c;
	uint8_t tok[8], tkl = p->tkl;

	if (!p->acked && p->sent <= SIM_UDP_MAX_RETRANSMIT) {
		p->sent++;
		p->timeout_ms *= 2;
		c->ctx->stats.udp_retransmits++;
		send_bytes(c, p->bytes, p->len);
		pend_arm(p, p->timeout_ms);
		return;
	}
	c->ctx->stats.udp_timeouts++;
	memcpy(tok, p->token, tkl);
	pend_done(p);
	sim_client_nack(c, tok, tkl, false);
}

/* pend_count counts the CON messages of c, queued or awaiting an ACK, and
 * points *ret_tail at the end of their list. */
static unsigned
pend_count(struct sim_client *c, struct sim_udp_pend ***ret_tail)
{
	struct sim_udp_pend **pp = &c->pend;
	unsigned n = 0;

	while (*pp != NULL) {
		n++;
		pp = &(*pp)->next;
	}
	*ret_tail = pp;
	return n;
}

/* pend_add queues the CON message buf of c, sends it when it is first in
 * line and keeps it for retransmission.  False when the queue is full. */
static bool
pend_add(struct sim_client *c, const coap_pdu_t *pdu, const uint8_t *buf,
         size_t len)
{
	coap_bin_const_t tok = coap_pdu_get_token(pdu);
	struct sim_udp_pend *p, **tail;

	if (pend_count(c, &tail) >= SIM_UDP_QUEUE_MAX ||
	    (p = calloc(1, sizeof *p + len)) == NULL) {
		return false;
	}
	p->c = c;
	p->ev = evtimer_new(c->ctx->base, on_pend_timer, p);
	if (p->ev == NULL) {
		free(p);
		return false;
	}
	p->mid = (uint16_t)coap_pdu_get_mid(pdu);
	p->tkl = (uint8_t)tok.length;
	memcpy(p->token, tok.s, tok.length);
	p->request = is_request(pdu);
	p->len = len;
	memcpy(p->bytes, buf, len);
	*tail = p;
	pend_next(c);
	return true;
}

bool
sim_udp_send(struct sim_client *c, coap_pdu_t *pdu)
{
	uint8_t buf[SIM_WIRE_PDU_MAX];
	size_t len;
	bool ok = sim_wire_encode(pdu, buf, sizeof buf, &len) == LWM2M_OK;

	if (ok && coap_pdu_get_type(pdu) == COAP_MESSAGE_CON) {
		ok = pend_add(c, pdu, buf, len);
		if (!ok) {
			c->ctx->stats.udp_send_errors++;
		}
	} else if (ok) {
		ok = send_bytes(c, buf, len);
	}
	coap_delete_pdu(pdu);
	return ok;
}

/* ---- duplicate requests -------------------------------------------------- */

static struct sim_udp_dedup *
dedup_slot(struct sim_udp *u, const struct sim_client *c, uint16_t mid)
{
	uint64_t h = ((uint64_t)c->idx << 16 | mid) * 0x9e3779b97f4a7c15ull;

	return &u->dedup[h >> 52];
}

/* dedup_resend sends the answer kept for request mid of c again. */
static bool
dedup_resend(struct sim_udp *u, struct sim_client *c, uint16_t mid)
{
	struct sim_udp_dedup *d = dedup_slot(u, c, mid);

	if (d->c != c || d->mid != mid || d->bytes == NULL ||
	    lwm2m_mono_ms() - d->at_ms >= SIM_UDP_EXCHANGE_MS) {
		return false;
	}
	c->ctx->stats.udp_duplicates++;
	send_bytes(c, d->bytes, d->len);
	return true;
}

static void
dedup_keep(struct sim_udp *u, const struct sim_client *c, uint16_t mid,
           const uint8_t *buf, size_t len)
{
	struct sim_udp_dedup *d = dedup_slot(u, c, mid);
	uint8_t *copy = malloc(len);

	if (copy == NULL) {
		return;
	}
	memcpy(copy, buf, len);
	free(d->bytes);
	d->c = c;
	d->mid = mid;
	d->at_ms = lwm2m_mono_ms();
	d->len = len;
	d->bytes = copy;
}

/* ---- requests from the server ---------------------------------------------
 */

static void
blk1_free(struct sim_udp *u, struct sim_client *c)
{
	if (c->blk1 == NULL) {
		return;
	}
	coap_delete_string(c->blk1->path);
	free(c->blk1->buf);
	free(c->blk1);
	c->blk1 = NULL;
	u->n_blk1--;
}

/* whole_request copies req without Block1/Size1 and with body as payload. */
static coap_pdu_t *
whole_request(const coap_pdu_t *req, const uint8_t *body, size_t len)
{
	coap_bin_const_t tok = coap_pdu_get_token(req);
	coap_pdu_t *pdu = coap_pdu_init(
	    coap_pdu_get_type(req), coap_pdu_get_code(req),
	    coap_pdu_get_mid(req), SIM_WIRE_RX_MAX + SIM_UDP_BODY_MAX);
	coap_opt_iterator_t it;
	coap_opt_t *opt;
	bool ok;

	if (pdu == NULL) {
		return NULL;
	}
	ok = coap_add_token(pdu, tok.length, tok.s) == 1;
	coap_option_iterator_init(req, &it, COAP_OPT_ALL);
	while (ok && (opt = coap_option_next(&it)) != NULL) {
		if (it.number != COAP_OPTION_BLOCK1 &&
		    it.number != COAP_OPTION_SIZE1) {
			ok = coap_add_option(pdu, it.number,
			                     coap_opt_length(opt),
			                     coap_opt_value(opt)) > 0;
		}
	}
	if (!ok || (len > 0 && coap_add_data(pdu, len, body) != 1)) {
		coap_delete_pdu(pdu);
		return NULL;
	}
	return pdu;
}

static void
serve(struct sim_client *c, const coap_pdu_t *req, coap_pdu_t *resp)
{
	coap_string_t *query = coap_get_query(req);

	sim_dm_request(c, NULL, NULL, req, query, resp);
	coap_delete_string(query);
}

static bool
same_path(const coap_string_t *a, const coap_string_t *b)
{
	size_t la = a != NULL ? a->length : 0, lb = b != NULL ? b->length : 0;

	return la == lb && (la == 0 || memcmp(a->s, b->s, la) == 0);
}

/* blk1_start begins a Block1 transfer of c on path (consumed). */
static coap_pdu_code_t
blk1_start(struct sim_udp *u, struct sim_client *c, coap_string_t *path,
           unsigned szx)
{
	blk1_free(u, c);
	if (u->n_blk1 >= SIM_UDP_BLK1_MAX ||
	    (c->blk1 = calloc(1, sizeof *c->blk1)) == NULL) {
		coap_delete_string(path);
		return COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE;
	}
	u->n_blk1++;
	c->blk1->path = path;
	c->blk1->szx = szx;
	return 0;
}

/* blk1_append adds block b (payload data) to the transfer of c.  Returns 0
 * or the code that ends the transfer. */
static coap_pdu_code_t
blk1_append(struct sim_udp *u, struct sim_client *c, const coap_pdu_t *req,
            const coap_block_t *b)
{
	struct sim_udp_blk1 *t;
	const uint8_t *data = NULL;
	size_t len = 0, size = (size_t)1 << (b->szx + 4);
	coap_string_t *path = coap_get_uri_path(req);
	uint8_t *grown;

	coap_get_data(req, &len, &data);
	if (b->num == 0) {
		coap_pdu_code_t code = blk1_start(u, c, path, b->szx);

		if (code != 0) {
			return code;
		}
	} else if (c->blk1 == NULL || !same_path(c->blk1->path, path) ||
	           c->blk1->szx != b->szx ||
	           c->blk1->len != (size_t)b->num * size) {
		coap_delete_string(path);
		return COAP_RESPONSE_CODE_INCOMPLETE;
	} else {
		coap_delete_string(path);
	}
	t = c->blk1;
	if ((b->m && len != size) || t->len + len > SIM_UDP_BODY_MAX) {
		return b->m && len != size
		           ? COAP_RESPONSE_CODE_BAD_REQUEST
		           : COAP_RESPONSE_CODE_REQUEST_TOO_LARGE;
	}
	grown = realloc(t->buf, t->len + len + 1);
	if (grown == NULL) {
		return COAP_RESPONSE_CODE_INTERNAL_ERROR;
	}
	t->buf = grown;
	memcpy(t->buf + t->len, data, len);
	t->len += len;
	return 0;
}

/* serve_block1 takes one block of a request body (RFC 7959 2.5): 2.31
 * Continue until the last, which runs the whole request. */
static void
serve_block1(struct sim_udp *u, struct sim_client *c, const coap_pdu_t *req,
             coap_pdu_t *resp)
{
	coap_block_t b = {0};
	coap_pdu_code_t code;
	coap_pdu_t *whole;
	uint8_t v[4];

	coap_get_block(req, COAP_OPTION_BLOCK1, &b);
	code = b.szx > SIM_WIRE_SZX ? COAP_RESPONSE_CODE_BAD_OPTION
	                            : blk1_append(u, c, req, &b);
	if (code != 0) {
		blk1_free(u, c);
		coap_pdu_set_code(resp, code);
		if (code == COAP_RESPONSE_CODE_REQUEST_TOO_LARGE) {
			coap_add_option(
			    resp, COAP_OPTION_SIZE1,
			    coap_encode_var_safe(v, sizeof v, SIM_UDP_BODY_MAX),
			    v);
		}
		return;
	}
	sim_wire_add_block1(resp, b.num, b.m, b.szx);
	if (b.m) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTINUE);
		return;
	}
	whole = whole_request(req, c->blk1->buf, c->blk1->len);
	blk1_free(u, c);
	if (whole == NULL) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE_INTERNAL_ERROR);
		return;
	}
	serve(c, whole, resp);
	coap_delete_pdu(whole);
}

/* reply sends resp (consumed), the answer to request mid, and keeps it for
 * a retransmission of a CON request. */
static void
reply(struct sim_udp *u, struct sim_client *c, bool con, uint16_t mid,
      coap_pdu_t *resp)
{
	uint8_t buf[SIM_WIRE_PDU_MAX];
	size_t len;

	if (sim_wire_encode(resp, buf, sizeof buf, &len) != LWM2M_OK) {
		/* the answer does not fit: a bare 5.00, same token */
		coap_bin_const_t tok = coap_pdu_get_token(resp);

		buf[0] = (uint8_t)(0x40 | (coap_pdu_get_type(resp) & 3) << 4 |
		                   tok.length);
		buf[1] = COAP_RESPONSE_CODE_INTERNAL_ERROR;
		buf[2] = (uint8_t)((unsigned)coap_pdu_get_mid(resp) >> 8);
		buf[3] = (uint8_t)coap_pdu_get_mid(resp);
		memcpy(buf + 4, tok.s, tok.length);
		len = 4 + tok.length;
	}
	coap_delete_pdu(resp);
	send_bytes(c, buf, len);
	if (con) {
		dedup_keep(u, c, mid, buf, len);
	}
}

static void
on_request(struct sim_udp *u, struct sim_client *c, const coap_pdu_t *req)
{
	coap_pdu_type_t type = coap_pdu_get_type(req);
	uint16_t mid = (uint16_t)coap_pdu_get_mid(req);
	coap_bin_const_t tok = coap_pdu_get_token(req);
	coap_opt_iterator_t it;
	coap_pdu_t *resp;
	bool con = type == COAP_MESSAGE_CON;

	if (type != COAP_MESSAGE_CON && type != COAP_MESSAGE_NON) {
		c->ctx->stats.udp_malformed++;
		return;
	}
	if (con && dedup_resend(u, c, mid)) {
		return;
	}
	resp = con ? coap_pdu_init(COAP_MESSAGE_ACK, 0, mid, SIM_WIRE_PDU_MAX)
	           : sim_udp_new_pdu(c, COAP_MESSAGE_NON, 0);
	if (resp == NULL || coap_add_token(resp, tok.length, tok.s) != 1) {
		coap_delete_pdu(resp);
		return;
	}
	if (coap_check_option(req, COAP_OPTION_BLOCK1, &it) != NULL) {
		serve_block1(u, c, req, resp);
	} else {
		serve(c, req, resp);
	}
	reply(u, c, con, mid, resp);
}

/* ---- answers and acknowledgements -------------------------------------------
 */

static void
on_answer(struct sim_client *c, const coap_pdu_t *pdu)
{
	coap_pdu_type_t type = coap_pdu_get_type(pdu);
	uint16_t mid = (uint16_t)coap_pdu_get_mid(pdu);
	struct sim_udp_pend *p;

	if (type == COAP_MESSAGE_ACK) {
		p = pend_by_mid(c, mid);
	} else {
		if (type == COAP_MESSAGE_CON) {
			send_empty(c, COAP_MESSAGE_ACK, mid);
		}
		p = pend_by_token(c, coap_pdu_get_token(pdu));
	}
	if (p != NULL) {
		pend_done(p);
	}
	sim_client_response(c, pdu);
}

static void
on_empty(struct sim_client *c, const coap_pdu_t *pdu)
{
	uint16_t mid = (uint16_t)coap_pdu_get_mid(pdu);
	struct sim_udp_pend *p = pend_by_mid(c, mid);
	uint8_t tok[8], tkl;

	switch (coap_pdu_get_type(pdu)) {
	case COAP_MESSAGE_CON: /* CoAP ping */
		send_empty(c, COAP_MESSAGE_RST, mid);
		return;
	case COAP_MESSAGE_ACK:
		if (p != NULL && p->request) {
			p->acked = true; /* the answer comes separately */
			pend_arm(p, SIM_UDP_SEPARATE_WAIT_MS);
			pend_next(c);
		} else if (p != NULL) {
			pend_done(p);
		}
		return;
	case COAP_MESSAGE_RST:
		if (p == NULL) {
			return;
		}
		tkl = p->tkl;
		memcpy(tok, p->token, tkl);
		pend_done(p);
		sim_client_nack(c, tok, tkl, true);
		return;
	default:
		c->ctx->stats.udp_malformed++;
		return;
	}
}

/* ---- receiving ------------------------------------------------------------
 */

static bool
from_server(const struct sim_udp *u, const struct sockaddr_in *from)
{
	const struct sockaddr_in *srv = &u->ctx->server.addr.sin;

	return from->sin_family == AF_INET &&
	       from->sin_addr.s_addr == srv->sin_addr.s_addr &&
	       from->sin_port == srv->sin_port;
}

/* client_for finds the client a datagram to dst (host order) arriving on
 * socket s is for, or NULL. */
static struct sim_client *
client_for(struct sim_udp *u, const struct sim_udp_sock *s, uint32_t dst)
{
	uint64_t ai, idx;

	if (!sim_opts_addr_index(&u->ctx->opts, dst, &ai)) {
		return NULL;
	}
	idx = (uint64_t)s->k * u->n_addrs + ai;
	return idx < u->ctx->n_clients ? &u->ctx->clients[idx] : NULL;
}

static bool
pktinfo_dst(struct msghdr *mh, uint32_t *ret_dst)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL;
	     cm = CMSG_NXTHDR(mh, cm)) {
		struct in_pktinfo pi;

		if (cm->cmsg_level == IPPROTO_IP &&
		    cm->cmsg_type == IP_PKTINFO) {
			memcpy(&pi, CMSG_DATA(cm), sizeof pi);
			*ret_dst = ntohl(pi.ipi_addr.s_addr);
			return true;
		}
	}
	return false;
}

static void
on_datagram(struct sim_udp *u, const struct sim_udp_sock *s, unsigned i)
{
	struct mmsghdr *m = &u->msgs[i];
	struct sim_stats *st = &u->ctx->stats;
	struct sim_client *c = NULL;
	coap_pdu_t *pdu;
	uint32_t dst;

	if (pktinfo_dst(&m->msg_hdr, &dst) && from_server(u, &u->from[i])) {
		c = client_for(u, s, dst);
	}
	if (c == NULL) {
		st->udp_foreign++;
		return;
	}
	if (c->muted) {
		st->udp_muted++;
		return;
	}
	pdu = (m->msg_hdr.msg_flags & MSG_TRUNC) != 0
	          ? NULL
	          : sim_wire_parse(u->rx[i], m->msg_len);
	if (pdu == NULL) {
		st->udp_malformed++;
		return;
	}
	if (coap_pdu_get_code(pdu) == 0) {
		on_empty(c, pdu);
	} else if (is_request(pdu)) {
		on_request(u, c, pdu);
	} else if (is_response(pdu)) {
		on_answer(c, pdu);
	} else {
		st->udp_malformed++;
	}
	coap_delete_pdu(pdu);
}

static void
rx_prepare(struct sim_udp *u)
{
	for (unsigned i = 0; i < SIM_UDP_BATCH; i++) {
		struct msghdr *mh = &u->msgs[i].msg_hdr;

		u->iov[i].iov_base = u->rx[i];
		u->iov[i].iov_len = sizeof u->rx[i];
		memset(mh, 0, sizeof *mh);
		mh->msg_name = &u->from[i];
		mh->msg_namelen = sizeof u->from[i];
		mh->msg_iov = &u->iov[i];
		mh->msg_iovlen = 1;
		mh->msg_control = u->cmsg[i].buf;
		mh->msg_controllen = sizeof u->cmsg[i].buf;
	}
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct sim_udp_sock *s = arg;
	struct sim_udp *u = s->u;

	for (unsigned round = 0; round < SIM_UDP_ROUNDS; round++) {
		int n;

		rx_prepare(u);
		n = recvmmsg(fd, u->msgs, SIM_UDP_BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			on_datagram(u, s, (unsigned)i);
		}
		if (n < SIM_UDP_BATCH) {
			return;
		}
	}
}

/* ---- setup --------------------------------------------------------------- */

static lwm2m_err
sock_open(struct sim_udp *u, struct sim_udp_sock *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof a;
	int on = 1, buf = SIM_UDP_BUF;

	s->u = u;
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		lwm2m_log(LWM2M_LOG_ERR, "shared socket: %s", strerror(errno));
		return LWM2M_EIO;
	}
	setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
	setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
	/* port 0: the kernel picks one no socket uses on any address */
	if (setsockopt(s->fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0 ||
	    bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0) {
		lwm2m_log(LWM2M_LOG_ERR, "shared socket: %s", strerror(errno));
		return LWM2M_EIO;
	}
	s->port = ntohs(a.sin_port);
	s->ev = event_new(u->ctx->base, s->fd, EV_READ | EV_PERSIST,
	                  on_readable, s);
	if (s->ev == NULL || event_add(s->ev, NULL) != 0) {
		return LWM2M_EIO;
	}
	return LWM2M_OK;
}

lwm2m_err
sim_udp_new(struct sim_ctx *ctx, struct sim_udp **ret_udp)
{
	struct sim_udp *u = calloc(1, sizeof *u);
	lwm2m_err err = LWM2M_OK;

	if (u == NULL) {
		return LWM2M_ENOMEM;
	}
	u->ctx = ctx;
	u->n_addrs = sim_opts_addr_total(&ctx->opts);
	u->rng = (uint64_t)lwm2m_mono_ms() * 2654435761u ^ (uint64_t)getpid();
	u->rng |= 1;
	u->n_socks = sim_udp_sockets(ctx->opts.count, u->n_addrs);
	if (u->n_socks == 0 || u->n_socks > SIM_UDP_SOCKS_MAX) {
		free(u);
		return LWM2M_EINVAL;
	}
	u->socks = calloc(u->n_socks, sizeof *u->socks);
	for (unsigned k = 0; u->socks != NULL && k < u->n_socks; k++) {
		u->socks[k].fd = -1;
	}
	for (unsigned k = 0; u->socks != NULL && k < u->n_socks; k++) {
		u->socks[k].k = k;
		err = sock_open(u, &u->socks[k]);
		if (err != LWM2M_OK) {
			break;
		}
	}
	if (u->socks == NULL) {
		err = LWM2M_ENOMEM;
	}
	if (err != LWM2M_OK) {
		sim_udp_free(u);
		return err;
	}
	*ret_udp = u;
	return LWM2M_OK;
}

void
sim_udp_free(struct sim_udp *u)
{
	struct sim_ctx *ctx;

	if (u == NULL) {
		return;
	}
	ctx = u->ctx;
	for (unsigned i = 0; ctx->clients != NULL && i < ctx->n_clients; i++) {
		struct sim_client *c = &ctx->clients[i];

		while (c->pend != NULL) {
			struct sim_udp_pend *p = c->pend;

			c->pend = p->next;
			pend_free(p);
		}
		blk1_free(u, c);
	}
	for (unsigned i = 0; i < SIM_UDP_DEDUP_SLOTS; i++) {
		free(u->dedup[i].bytes);
	}
	for (unsigned k = 0; u->socks != NULL && k < u->n_socks; k++) {
		if (u->socks[k].ev != NULL) {
			event_free(u->socks[k].ev);
		}
		if (u->socks[k].fd >= 0) {
			close(u->socks[k].fd);
		}
	}
	free(u->socks);
	free(u);
}
