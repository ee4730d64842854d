/* lwds-bench-relay: the hops of issue 4's read path with no work done on
 * them, to measure the floor of any server built on those hops
 * (bench/README.md, "The floor of the read path").  Two roles, one epoll
 * loop each, as lwds runs them in two processes:
 *
 *   gw:  the LwM2M server of an lwds-sim (--listen ADDR:PORT, UDP; Register,
 *        Update and De-register answered as lwds-bench-reads coap does) and
 *        a stream listener (--stream ADDR:PORT, TCP) for api processes.  A
 *        request frame names a device, an Accept and a path and becomes a
 *        CON GET to that device; its answer goes back as a response frame.
 *        Prints {"event":"registered"} once --devices have registered.
 *   api: an HTTP/1.1 keep-alive server (--listen ADDR:PORT) with one stream
 *        to gw (--gw ADDR:PORT).  "GET /<device>/<accept>/<path>" becomes
 *        a request frame; the response frame becomes "200 OK" (2.05, else
 *        "502 Bad Gateway") with the device's payload as the body.
 *
 * What lwds does on the same hops and this does not: check the token, look
 * up the client, its gateway and the object definition in Redis, decode
 * the device's answer and render JSON, retransmit, count metrics.
 *
 * Stream frames: u16 length of what follows (big-endian), u32 corr_id;
 * then a request has u32 device, u16 accept and the path, a response one
 * byte of CoAP code and the payload.  Frames to write are gathered per
 * connection and sent once per loop iteration, as lwds's rpc streams do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_CONNS 1024
#define MAX_DEVICES 200000u
#define BUF_SIZE 65536
#define PKT_MAX 1500
#define FRAME_HDR 6
#define PATH_MAX_LEN 128
#define TAG_MAIN 0 /* gw: the UDP socket; api: the stream to gw */
#define TAG_LISTEN 1
#define TAG_CONN 2 /* + connection index */

/* A TCP connection: HTTP (api) or stream (gw); buffers of BUF_SIZE. */
struct conn {
	int fd;
	size_t rlen, wlen;
	uint8_t *rbuf, *wbuf;
	bool busy;    /* api: a request of this connection is at gw */
	uint16_t seq; /* api: corr_id of that request, low half */
};

/* gw: where the answer to the GET with token <slot, gen> goes. */
struct pending {
	bool busy;
	uint16_t gen;
	uint16_t conn;
	uint32_t corr;
};

struct relay {
	bool gw;
	struct sockaddr_in listen, peer; /* peer: gw's --stream (api) */
	uint32_t ndevices;
	int ep, listen_fd;
	struct conn conns[MAX_CONNS];
	uint32_t n_conns; /* slots ever used: the loop looks at no others */
	struct conn main; /* api: the stream to gw */
	/* gw */
	struct sockaddr_in stream;
	struct bench_rd rd;
	struct pending *pending; /* 65536 */
	uint16_t next_slot, next_mid;
};

static void
put_u16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	put_u16(p, v >> 16);
	put_u16(p + 2, v & 0xffff);
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* conn_open gives c the descriptor fd and its buffers; false when out of
 * memory (fd then closed). */
static bool
conn_open(struct relay *r, struct conn *c, int fd, uint32_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	*c = (struct conn){.fd = fd};
	c->rbuf = malloc(BUF_SIZE);
	c->wbuf = malloc(BUF_SIZE);
	if (c->rbuf == NULL || c->wbuf == NULL ||
	    epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		free(c->rbuf);
		free(c->wbuf);
		close(fd);
		*c = (struct conn){.fd = -1};
		return false;
	}
	return true;
}

static void
conn_close(struct relay *r, struct conn *c)
{
	epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	*c = (struct conn){.fd = -1};
}

/* conn_frame appends a frame (header plus the n parts) to c's output;
 * false when it does not fit before the next flush. */
static bool
conn_frame(struct conn *c, uint32_t corr, const struct iovec *parts, int n)
{
	size_t len = 0;

	for (int i = 0; i < n; i++) {
		len += parts[i].iov_len;
	}
	if (len > 0xffff - 4 || BUF_SIZE - c->wlen < FRAME_HDR + len) {
		return false;
	}
	put_u16(c->wbuf + c->wlen, (unsigned)(4 + len));
	put_u32(c->wbuf + c->wlen + 2, corr);
	c->wlen += FRAME_HDR;
	for (int i = 0; i < n; i++) {
		memcpy(c->wbuf + c->wlen, parts[i].iov_base, parts[i].iov_len);
		c->wlen += parts[i].iov_len;
	}
	return true;
}

/* conn_flush writes what c has gathered; false when the peer is gone.  A
 * stream that cannot take it all (not seen on loopback at these rates)
 * blocks the loop until it can: this tool measures the floor, not a
 * congested path. */
static bool
conn_flush(struct conn *c)
{
	size_t off = 0;

	while (off < c->wlen) {
		ssize_t n =
		    send(c->fd, c->wbuf + off, c->wlen - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return false;
		}
		off += (size_t)n;
	}
	c->wlen = 0;
	return true;
}

/* conn_fill reads what c's peer sent; false at end of stream or error. */
static bool
conn_fill(struct conn *c)
{
	ssize_t n =
	    recv(c->fd, c->rbuf + c->rlen, BUF_SIZE - c->rlen, MSG_DONTWAIT);

	if (n < 0) {
		return errno == EAGAIN || errno == EINTR;
	}
	c->rlen += (size_t)n;
	return n > 0 && c->rlen < BUF_SIZE;
}

/* conn_next_frame returns the length of the complete frame at the start of
 * c's input (header included), 0 when incomplete. */
static size_t
conn_next_frame(const struct conn *c, size_t off)
{
	size_t len;

	if (c->rlen - off < 2) {
		return 0;
	}
	len = 2u + (size_t)(c->rbuf[off] << 8 | c->rbuf[off + 1]);
	return len >= FRAME_HDR && c->rlen - off >= len ? len : 0;
}

static void
conn_consume(struct conn *c, size_t n)
{
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
}

/* conn_free_slot returns a slot of r->conns without a connection (its
 * index in *ret_idx, counted in r->n_conns), NULL when all are taken. */
static struct conn *
conn_free_slot(struct relay *r, uint32_t *ret_idx)
{
	for (uint32_t i = 0; i < MAX_CONNS; i++) {
		if (r->conns[i].fd < 0) {
			*ret_idx = i;
			if (i >= r->n_conns) {
				r->n_conns = i + 1;
			}
			return &r->conns[i];
		}
	}
	return NULL;
}

static void
accept_all(struct relay *r)
{
	int fd;

	/* blocking sockets: reads use MSG_DONTWAIT, writes wait (conn_flush) */
	while ((fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		uint32_t i;
		struct conn *c = conn_free_slot(r, &i);
		if (c == NULL) {
			close(fd);
			continue;
		}
		(void)conn_open(r, c, fd, TAG_CONN + i);
	}
}

static int
tcp_listen(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0) {
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)a, sizeof *a) != 0 ||
	    listen(fd, 1024) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- gw --------------------------------------------------------------- */

/* A request frame from api connection ci: a CON GET to the device. */
static void
gw_request(struct relay *r, uint16_t ci, const uint8_t *f, size_t len)
{
	uint8_t pkt[PKT_MAX], token[4];
	struct bench_coap_out o;
	struct pending *p;
	const struct sockaddr_in *to;
	const char *path = (const char *)f + FRAME_HDR + 6;
	const char *end = (const char *)f + len;
	uint16_t slot = r->next_slot;

	if (len < FRAME_HDR + 6 || r->rd.n == 0) {
		return;
	}
	while (r->pending[slot].busy) {
		slot++;
	}
	r->next_slot = (uint16_t)(slot + 1);
	p = &r->pending[slot];
	*p = (struct pending){.busy = true,
	                      .gen = (uint16_t)(p->gen + 1),
	                      .conn = ci,
	                      .corr = get_u32(f + 2)};
	put_u16(token, slot);
	put_u16(token + 2, p->gen);
	bench_coap_put_header(&o, pkt, sizeof pkt, 0, 0x01, r->next_mid++,
	                      token, 4);
	for (const char *s = path; s < end;) {
		const char *e = memchr(s, '/', (size_t)(end - s));
		e = e == NULL ? end : e;
		if (e > s) {
			(void)bench_coap_put_opt(&o, 11, s, (size_t)(e - s));
		}
		s = e + 1;
	}
	(void)bench_coap_put_uint_opt(
	    &o, 17, (uint32_t)(f[FRAME_HDR + 4] << 8 | f[FRAME_HDR + 5]));
	to = &r->rd.devs[get_u32(f + FRAME_HDR) % r->rd.n];
	(void)sendto(r->rd.fd, pkt, o.len, 0, (const struct sockaddr *)to,
	             sizeof *to);
}

/* The device's answer to a GET: a response frame to the api that sent it. */
static void
gw_response(void *arg, struct bench_coap *m, const struct sockaddr_in *from)
{
	struct relay *r = arg;
	const uint8_t *v, *payload;
	unsigned num, len;
	struct pending *p;
	struct conn *c;
	uint8_t code = m->code;
	struct iovec parts[2];

	if (m->type == 0) { /* separate CON response: ACK it */
		bench_coap_send_ack(r->rd.fd, m->mid, from);
	}
	if (m->code == 0 || m->tkl != 4) {
		return; /* empty ACK: the answer comes later */
	}
	p = &r->pending[m->token[0] << 8 | m->token[1]];
	if (!p->busy || p->gen != (m->token[2] << 8 | m->token[3])) {
		return;
	}
	p->busy = false;
	while (bench_coap_next_opt(m, &num, &v, &len) > 0) {
	}
	payload = m->opt < m->end ? m->opt + 1 : m->end;
	c = &r->conns[p->conn];
	parts[0] = (struct iovec){&code, 1};
	parts[1] = (struct iovec){(void *)payload, (size_t)(m->end - payload)};
	if (c->fd >= 0 && !conn_frame(c, p->corr, parts, 2)) {
		conn_close(r, c);
	}
}

static void
gw_stream_readable(struct relay *r, uint16_t ci)
{
	struct conn *c = &r->conns[ci];
	size_t off = 0, len;
	bool open = conn_fill(c);

	while ((len = conn_next_frame(c, off)) > 0) {
		gw_request(r, ci, c->rbuf + off, len);
		off += len;
	}
	conn_consume(c, off);
	if (!open) {
		conn_close(r, c);
	}
}

static bool
gw_setup(struct relay *r)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_MAIN};
	int big = 4 << 20;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	r->pending = calloc(65536, sizeof *r->pending);
	if (fd < 0 || r->pending == NULL ||
	    !bench_rd_init(&r->rd, fd, r->ndevices) ||
	    bind(fd, (struct sockaddr *)&r->listen, sizeof r->listen) != 0 ||
	    epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		return false;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	r->listen_fd = tcp_listen(&r->stream);
	ev.data.u32 = TAG_LISTEN;
	return r->listen_fd >= 0 &&
	       epoll_ctl(r->ep, EPOLL_CTL_ADD, r->listen_fd, &ev) == 0;
}

/* ---- api -------------------------------------------------------------- */

/* api_next_request turns the first complete request in c's input into a
 * frame to gw, unless one of c's requests is there already.  False when
 * c must be closed (a request that is not "GET /<device>/<accept>/<path>"
 * or larger than the buffer). */
static bool
api_next_request(struct relay *r, uint16_t ci)
{
	struct conn *c = &r->conns[ci];
	const char *req = (const char *)c->rbuf, *end, *path, *sp;
	char *rest;
	uint8_t hdr[6];
	unsigned long dev, accept;
	struct iovec parts[2];

	if (c->busy || c->rlen == 0) {
		return true;
	}
	end = memmem(req, c->rlen, "\r\n\r\n", 4);
	if (end == NULL) {
		return c->rlen < BUF_SIZE;
	}
	if (c->rlen < 5 || memcmp(req, "GET /", 5) != 0) {
		return false;
	}
	dev = strtoul(req + 5, &rest, 10);
	if (*rest != '/') {
		return false;
	}
	accept = strtoul(rest + 1, &rest, 10);
	sp = memchr(rest, ' ', (size_t)(end - rest));
	if (*rest != '/' || sp == NULL || sp - rest > PATH_MAX_LEN ||
	    accept > 0xffff) {
		return false;
	}
	path = rest + 1;
	put_u32(hdr, (uint32_t)dev);
	put_u16(hdr + 4, (unsigned)accept);
	parts[0] = (struct iovec){hdr, sizeof hdr};
	parts[1] = (struct iovec){(void *)path, (size_t)(sp - path)};
	c->seq++;
	if (!conn_frame(&r->main, (uint32_t)ci << 16 | c->seq, parts, 2)) {
		return false;
	}
	c->busy = true;
	conn_consume(c, (size_t)(end + 4 - req));
	return true;
}

static void
api_http_readable(struct relay *r, uint16_t ci)
{
	struct conn *c = &r->conns[ci];

	if (!conn_fill(c) || !api_next_request(r, ci)) {
		conn_close(r, c);
	}
}

/* A response frame: the HTTP answer to the request it names. */
static void
api_response(struct relay *r, const uint8_t *f, size_t len)
{
	uint32_t corr = get_u32(f + 2);
	uint16_t ci = (uint16_t)(corr >> 16);
	struct conn *c = ci < MAX_CONNS ? &r->conns[ci] : NULL;
	char head[128];
	struct iovec iov[2];
	size_t body = len - FRAME_HDR - 1;
	bool ok = f[FRAME_HDR] == 0x45;

	if (c == NULL || c->fd < 0 || !c->busy || c->seq != (uint16_t)corr) {
		return;
	}
	c->busy = false;
	iov[0].iov_base = head;
	iov[0].iov_len = (size_t)snprintf(
	    head, sizeof head,
	    "HTTP/1.1 %s\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Length: %zu\r\n\r\n",
	    ok ? "200 OK" : "502 Bad Gateway", body);
	iov[1] = (struct iovec){(void *)(f + FRAME_HDR + 1), body};
	if (writev(c->fd, iov, 2) !=
	        (ssize_t)(iov[0].iov_len + iov[1].iov_len) ||
	    !api_next_request(r, ci)) {
		conn_close(r, c);
	}
}

/* gw answered; false when the stream ended. */
static bool
api_stream_readable(struct relay *r)
{
	struct conn *c = &r->main;
	size_t off = 0, len;
	bool open = conn_fill(c);

	while ((len = conn_next_frame(c, off)) > 0) {
		if (len > FRAME_HDR) {
			api_response(r, c->rbuf + off, len);
		}
		off += len;
	}
	conn_consume(c, off);
	return open;
}

static bool
api_setup(struct relay *r)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_LISTEN};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 ||
	    connect(fd, (struct sockaddr *)&r->peer, sizeof r->peer) != 0 ||
	    !conn_open(r, &r->main, fd, TAG_MAIN)) {
		return false;
	}
	r->listen_fd = tcp_listen(&r->listen);
	return r->listen_fd >= 0 &&
	       epoll_ctl(r->ep, EPOLL_CTL_ADD, r->listen_fd, &ev) == 0;
}

/* ---- the loop --------------------------------------------------------- */

/* run serves until a signal (or, for api, the end of the stream to gw);
 * the output gathered during one iteration goes out at its end. */
static int
run(struct relay *r)
{
	struct epoll_event evs[256];
	bool announced = false;

	while (!bench_stop) {
		int n = epoll_wait(r->ep, evs, 256, 100);
		for (int i = 0; i < n; i++) {
			uint32_t tag = evs[i].data.u32;
			if (tag == TAG_LISTEN) {
				accept_all(r);
			} else if (tag == TAG_MAIN && r->gw) {
				bench_rd_drain(&r->rd, gw_response, r);
			} else if (tag == TAG_MAIN) {
				if (!api_stream_readable(r)) {
					return 1;
				}
			} else if (r->gw) {
				gw_stream_readable(r,
				                   (uint16_t)(tag - TAG_CONN));
			} else {
				api_http_readable(r,
				                  (uint16_t)(tag - TAG_CONN));
			}
		}
		for (unsigned i = 0; r->gw && i < r->n_conns; i++) {
			if (r->conns[i].fd >= 0 && r->conns[i].wlen > 0 &&
			    !conn_flush(&r->conns[i])) {
				conn_close(r, &r->conns[i]);
			}
		}
		if (!r->gw && r->main.wlen > 0 && !conn_flush(&r->main)) {
			return 1;
		}
		if (r->gw && !announced && r->rd.n == r->ndevices) {
			announced = true;
			printf("{\"event\":\"registered\",\"devices\":%u}\n",
			       r->rd.n);
			fflush(stdout);
		}
	}
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: lwds-bench-relay gw --listen ADDR:PORT (UDP) "
	           "--stream ADDR:PORT (TCP) --devices N\n"
	           "       lwds-bench-relay api --listen ADDR:PORT (HTTP) "
	           "--gw ADDR:PORT\n");
}

static bool
parse_opts(struct relay *r, int argc, char **argv)
{
	static const struct option opts[] = {{"listen", 1, NULL, 'l'},
	                                     {"stream", 1, NULL, 's'},
	                                     {"gw", 1, NULL, 'g'},
	                                     {"devices", 1, NULL, 'n'},
	                                     {NULL, 0, NULL, 0}};
	int o;

	if (argc < 2 ||
	    (strcmp(argv[1], "gw") != 0 && strcmp(argv[1], "api") != 0)) {
		return false;
	}
	r->gw = strcmp(argv[1], "gw") == 0;
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		switch (o) {
		case 'l':
			ok = bench_parse_addr(optarg, &r->listen);
			break;
		case 's':
			ok = bench_parse_addr(optarg, &r->stream);
			break;
		case 'g':
			ok = bench_parse_addr(optarg, &r->peer);
			break;
		case 'n':
			r->ndevices = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		default:
			ok = false;
		}
		if (!ok) {
			return false;
		}
	}
	if (r->listen.sin_port == 0) {
		return false;
	}
	return r->gw ? r->stream.sin_port != 0 && r->ndevices > 0 &&
	                   r->ndevices <= MAX_DEVICES
	             : r->peer.sin_port != 0;
}

int
main(int argc, char **argv)
{
	static struct relay r;

	if (!parse_opts(&r, argc, argv)) {
		usage(stderr);
		return 2;
	}
	bench_catch_signals();
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		r.conns[i].fd = -1;
	}
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (r.ep < 0 || !(r.gw ? gw_setup(&r) : api_setup(&r))) {
		fprintf(stderr, "lwds-bench-relay: set-up failed: %s\n",
		        strerror(errno));
		return 1;
	}
	printf("{\"event\":\"listening\"}\n");
	fflush(stdout);
	return run(&r);
}
