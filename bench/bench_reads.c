/* lwds-bench-reads: the load generator of the REST-read benchmark (bench/).
 *
 * Two modes, one epoll loop each, C concurrency slots with one request in
 * flight per slot, for D seconds per phase, closed-loop (as fast as the
 * answers come) or open-loop at --rate R requests/s.  In open-loop mode the
 * latency of a request counts from the moment it was due, so a backlog shows
 * in the figures (no coordinated omission).
 *
 *   coap: the raw CoAP baseline.  The tool is itself the LwM2M server of an
 *         lwds-sim process (--listen ADDR:PORT): it answers Register (2.01),
 *         Update (2.04) and De-register (2.02), remembers each client's
 *         address, and once --devices clients have registered it sends CON
 *         GETs for each --path to them round robin, from the address the
 *         clients know as their server's (they accept nothing else);
 *         --accept FMT after a --path adds an Accept option to its GETs.
 *   http: the full path.  C keep-alive HTTP/1.1 connections to --server
 *         send "GET <path>" with "Authorization: Bearer <token>" for the
 *         paths of --paths-file (one a line, used round robin); one phase.
 *
 * One JSON line per phase on stdout:
 *   {"phase":..,"requests":..,"ok":..,"errors":..,"timeouts":..,
 *    "elapsed_s":..,"rate":..,"p50_ms":..,"p99_ms":..,"p999_ms":..,
 *    "max_ms":..}
 * ok counts 2.05 / 2xx answers; errors other answers and broken
 * connections; timeouts requests unanswered after --timeout-ms.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_SLOTS 4096
#define MAX_DEVICES 200000u
#define MAX_PATHS 16
#define MAX_URLS 1000000u
#define HTTP_RBUF 65536
#define HTTP_WBUF 2048

struct slot {
	bool busy;
	int64_t start_us; /* when the request was due */
	/* coap */
	uint16_t mid;
	uint16_t seq;
	/* http */
	int fd;
	bool connected;
	size_t rlen;
	char *rbuf;
};

struct bench {
	bool coap;
	struct sockaddr_in addr;  /* coap: listen; http: server */
	struct bench_loop_opts o; /* slots, seconds per phase, time-out */
	double rate;
	int ep;
	struct slot *slots;
	struct bench_phase st;
	int64_t next_due_us; /* open loop: when the next request is due */
	uint64_t cursor;
	/* coap */
	uint32_t ndevices;
	struct bench_rd rd; /* the devices, registered with us */
	const char *paths[MAX_PATHS];
	int accepts[MAX_PATHS]; /* Accept option of each path, -1 for none */
	unsigned npaths, cur_path;
	uint16_t next_mid;
	/* http */
	const char *token;
	const char *paths_file;
	char **urls;
	uint32_t nurls;
	const char *label;
};

/* ---- CoAP ------------------------------------------------------------- */

static void
coap_send(struct bench *b, const uint8_t *pkt, size_t len,
          const struct sockaddr_in *to)
{
	(void)sendto(b->rd.fd, pkt, len, 0, (const struct sockaddr *)to,
	             sizeof *to);
}

static void
coap_start(struct bench *b, unsigned i, int64_t due)
{
	struct slot *s = &b->slots[i];
	const struct sockaddr_in *to = &b->rd.devs[b->cursor++ % b->rd.n];
	const char *path = b->paths[b->cur_path];
	uint8_t pkt[128];
	uint8_t token[4];
	struct bench_coap_out o;

	s->busy = true;
	s->start_us = due;
	s->mid = b->next_mid++;
	s->seq++;
	token[0] = (uint8_t)(i >> 8);
	token[1] = (uint8_t)i;
	token[2] = (uint8_t)(s->seq >> 8);
	token[3] = (uint8_t)s->seq;
	bench_coap_put_header(&o, pkt, sizeof pkt, 0, 0x01, s->mid, token, 4);
	for (const char *p = path; *p != '\0';) {
		const char *e;
		while (*p == '/') {
			p++;
		}
		e = strchrnul(p, '/');
		if (e > p) {
			(void)bench_coap_put_opt(&o, 11, p, (size_t)(e - p));
		}
		p = e;
	}
	if (b->accepts[b->cur_path] >= 0) {
		(void)bench_coap_put_uint_opt(
		    &o, 17, (uint32_t)b->accepts[b->cur_path]);
	}
	b->st.requests++;
	coap_send(b, pkt, o.len, to);
}

/* A response (or empty ACK) to one of our GETs. */
static void
coap_on_response(void *arg, struct bench_coap *m,
                 const struct sockaddr_in *from)
{
	struct bench *b = arg;
	unsigned i;
	struct slot *s;

	if (m->tkl != 4 && m->code != 0) {
		return;
	}
	if (m->type == 0) { /* separate CON response: ACK it */
		bench_coap_send_ack(b->rd.fd, m->mid, from);
	}
	if (m->code == 0 || m->tkl != 4) {
		return; /* empty ACK: the answer comes later */
	}
	i = (unsigned)m->token[0] << 8 | m->token[1];
	s = i < b->o.nslots ? &b->slots[i] : NULL;
	if (s == NULL || !s->busy ||
	    s->seq != (uint16_t)(m->token[2] << 8 | m->token[3])) {
		return;
	}
	s->busy = false;
	if (m->code == 0x45) {
		bench_phase_record_ok(&b->st, s->start_us, bench_now_us());
	} else {
		b->st.errors++;
	}
}

/* ---- HTTP ------------------------------------------------------------- */

static void
http_close(struct bench *b, struct slot *s)
{
	if (s->fd >= 0) {
		epoll_ctl(b->ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
	}
	s->fd = -1;
	s->connected = false;
	s->rlen = 0;
}

static bool
http_connect(struct bench *b, unsigned i)
{
	struct slot *s = &b->slots[i];
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		return false;
	}
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(s->fd, (struct sockaddr *)&b->addr, sizeof b->addr) != 0 ||
	    epoll_ctl(b->ep, EPOLL_CTL_ADD, s->fd, &ev) != 0) {
		http_close(b, s);
		return false;
	}
	s->connected = true;
	return true;
}

static void
http_start(struct bench *b, unsigned i, int64_t due)
{
	struct slot *s = &b->slots[i];
	char req[HTTP_WBUF];
	int n;

	s->busy = true;
	s->start_us = due;
	s->rlen = 0;
	b->st.requests++;
	n = snprintf(req, sizeof req,
	             "GET %s HTTP/1.1\r\nHost: lwds\r\nAccept: "
	             "application/json\r\nAuthorization: Bearer %s\r\n\r\n",
	             b->urls[b->cursor++ % b->nurls], b->token);
	if ((n < 0 || (size_t)n >= sizeof req) ||
	    (!s->connected && !http_connect(b, i)) ||
	    send(s->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		http_close(b, s);
		s->busy = false;
		b->st.errors++;
	}
}

/* Length of a complete response in s->rbuf, 0 while incomplete, -1 when
 * it cannot be read; *ret_status gets the status code. */
static long
http_complete(const struct slot *s, int *ret_status, bool *ret_close)
{
	const char *end, *cl;
	long body;

	if (s->rlen < 12) {
		return 0;
	}
	end = memmem(s->rbuf, s->rlen, "\r\n\r\n", 4);
	if (end == NULL) {
		return s->rlen >= HTTP_RBUF - 1 ? -1 : 0;
	}
	*ret_status = atoi(s->rbuf + 9);
	*ret_close = memmem(s->rbuf, (size_t)(end - s->rbuf),
	                    "Connection: close", 17) != NULL;
	cl = memmem(s->rbuf, (size_t)(end - s->rbuf), "Content-Length:", 15);
	body = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;
	if (body < 0 || end + 4 - s->rbuf + body >= HTTP_RBUF) {
		return -1;
	}
	return end + 4 - s->rbuf + body <= (long)s->rlen
	           ? end + 4 - s->rbuf + body
	           : 0;
}

static void
http_readable(struct bench *b, unsigned i)
{
	struct slot *s = &b->slots[i];
	ssize_t n = recv(s->fd, s->rbuf + s->rlen, HTTP_RBUF - 1 - s->rlen,
	                 MSG_DONTWAIT);
	int status = 0;
	bool close_it = false;
	long done;

	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	if (n <= 0 || !s->busy) {
		if (s->busy) {
			b->st.errors++;
		}
		s->busy = false;
		http_close(b, s);
		return;
	}
	s->rlen += (size_t)n;
	done = http_complete(s, &status, &close_it);
	if (done == 0) {
		return;
	}
	s->busy = false;
	if (done > 0 && status >= 200 && status < 300) {
		bench_phase_record_ok(&b->st, s->start_us, bench_now_us());
	} else {
		b->st.errors++;
	}
	if (done < 0 || close_it || (size_t)done != s->rlen) {
		http_close(b, s);
	}
	s->rlen = 0;
}

/* ---- the load loop ---------------------------------------------------- */

static void
start_request(struct bench *b, unsigned i, int64_t due)
{
	if (b->coap) {
		coap_start(b, i, due);
	} else {
		http_start(b, i, due);
	}
}

/* Start requests on free slots: all of them closed-loop, those due by t
 * open-loop. */
static void
fill(struct bench *b, int64_t t, int64_t end)
{
	for (unsigned i = 0; i < b->o.nslots && t < end && !bench_stop; i++) {
		if (b->slots[i].busy) {
			continue;
		}
		if (b->rate <= 0) {
			start_request(b, i, t);
			continue;
		}
		if (b->next_due_us > t) {
			return;
		}
		start_request(b, i, b->next_due_us);
		b->next_due_us += (int64_t)(1e6 / b->rate);
	}
}

static bool
expire(struct bench *b, int64_t t)
{
	bool busy = false;

	for (unsigned i = 0; i < b->o.nslots; i++) {
		struct slot *s = &b->slots[i];
		if (s->busy && t - s->start_us > b->o.timeout_us) {
			s->busy = false;
			b->st.timeouts++;
			if (!b->coap) {
				http_close(b, s);
			}
		}
		busy = busy || s->busy;
	}
	return busy;
}

static int
wait_ms(const struct bench *b, int64_t t)
{
	int64_t d;

	if (b->rate <= 0) {
		return 5;
	}
	d = (b->next_due_us - t + 999) / 1000;
	return d < 0 ? 0 : d > 5 ? 5 : (int)d;
}

static void
run_phase(struct bench *b, const char *name)
{
	struct epoll_event evs[256];
	int64_t start = bench_now_us(),
	        end = start + (int64_t)(b->o.seconds * 1e6);
	int64_t t = start, last_expire = start;

	memset(b->st.hist, 0, sizeof(uint32_t) * BENCH_HIST_BUCKETS);
	b->st = (struct bench_phase){.hist = b->st.hist};
	b->next_due_us = start;
	fill(b, t, end);
	for (;;) {
		int n = epoll_wait(b->ep, evs, 256, wait_ms(b, t));
		for (int i = 0; i < n; i++) {
			if (b->coap) {
				bench_rd_drain(&b->rd, coap_on_response, b);
			} else {
				http_readable(b, evs[i].data.u32);
			}
		}
		t = bench_now_us();
		fill(b, t, end);
		if (t - last_expire >= 1000 || t >= end) {
			last_expire = t;
			if (!expire(b, t) && (t >= end || bench_stop)) {
				break;
			}
		}
	}
	bench_phase_print(&b->st, name, start, false);
}

/* ---- set-up ----------------------------------------------------------- */

static bool
load_urls(struct bench *b)
{
	FILE *f = fopen(b->paths_file, "r");
	char line[1024];

	if (f == NULL) {
		return false;
	}
	b->urls = calloc(MAX_URLS, sizeof *b->urls);
	while (b->urls != NULL && b->nurls < MAX_URLS &&
	       fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '/' && (b->urls[b->nurls] = strdup(line))) {
			b->nurls++;
		}
	}
	fclose(f);
	return b->nurls > 0;
}

static bool
coap_setup(struct bench *b)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int big = 4 << 20;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || !bench_rd_init(&b->rd, fd, b->ndevices) ||
	    bind(fd, (struct sockaddr *)&b->addr, sizeof b->addr) != 0 ||
	    epoll_ctl(b->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		return false;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	printf("{\"event\":\"listening\"}\n");
	fflush(stdout);
	return true;
}

/* Serve registrations until every device has registered. */
static bool
coap_wait_devices(struct bench *b)
{
	struct epoll_event evs[8];
	int64_t deadline = bench_now_us() + 120 * 1000000LL;

	while (b->rd.n < b->ndevices && bench_now_us() < deadline &&
	       !bench_stop) {
		if (epoll_wait(b->ep, evs, 8, 100) > 0) {
			bench_rd_drain(&b->rd, coap_on_response, b);
		}
	}
	printf("{\"event\":\"registered\",\"devices\":%u}\n", b->rd.n);
	fflush(stdout);
	return b->rd.n == b->ndevices;
}

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: lwds-bench-reads coap --listen ADDR:PORT --devices N "
	        "--path P [--accept FMT] [--path P2 ...] [options]\n"
	        "       lwds-bench-reads http --server ADDR:PORT --token T "
	        "--paths-file F [--label L] [options]\n"
	        "options: --concurrency C (64)  --seconds D (5)  --rate R "
	        "(0: closed loop)  --timeout-ms MS (5000)\n");
}

static bool
parse_opts(struct bench *b, int argc, char **argv)
{
	static const struct option opts[] = {{"listen", 1, NULL, 'l'},
	                                     {"server", 1, NULL, 's'},
	                                     {"devices", 1, NULL, 'n'},
	                                     {"path", 1, NULL, 'p'},
	                                     {"token", 1, NULL, 't'},
	                                     {"paths-file", 1, NULL, 'f'},
	                                     {"label", 1, NULL, 'L'},
	                                     {"concurrency", 1, NULL, 'c'},
	                                     {"seconds", 1, NULL, 'd'},
	                                     {"rate", 1, NULL, 'r'},
	                                     {"timeout-ms", 1, NULL, 'T'},
	                                     {"accept", 1, NULL, 'a'},
	                                     {NULL, 0, NULL, 0}};
	int o;

	if (argc < 2 ||
	    (strcmp(argv[1], "coap") != 0 && strcmp(argv[1], "http") != 0)) {
		return false;
	}
	b->coap = strcmp(argv[1], "coap") == 0;
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
		case 's':
			if (!bench_parse_addr(optarg, &b->addr)) {
				return false;
			}
			break;
		case 'n':
			b->ndevices = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			if (b->npaths == MAX_PATHS || strlen(optarg) > 64) {
				return false;
			}
			b->accepts[b->npaths] = -1;
			b->paths[b->npaths++] = optarg;
			break;
		case 'a':
			if (b->npaths == 0 ||
			    !bench_parse_accept(optarg,
			                        &b->accepts[b->npaths - 1])) {
				return false;
			}
			break;
		case 't':
			b->token = optarg;
			break;
		case 'f':
			b->paths_file = optarg;
			break;
		case 'L':
			b->label = optarg;
			break;
		case 'r':
			b->rate = strtod(optarg, NULL);
			break;
		default:
			if (!bench_loop_opt(o, optarg, &b->o)) {
				return false;
			}
		}
	}
	if (b->addr.sin_port == 0 || b->o.nslots == 0 ||
	    b->o.nslots > MAX_SLOTS || b->o.seconds <= 0 ||
	    b->o.timeout_us <= 0) {
		return false;
	}
	if (b->coap) {
		return b->npaths > 0 && b->ndevices > 0 &&
		       b->ndevices <= MAX_DEVICES;
	}
	return b->token != NULL && strlen(b->token) < 1024 &&
	       b->paths_file != NULL;
}

static bool
setup(struct bench *b)
{
	b->ep = epoll_create1(EPOLL_CLOEXEC);
	b->slots = calloc(b->o.nslots, sizeof *b->slots);
	b->st.hist = calloc(BENCH_HIST_BUCKETS, sizeof(uint32_t));
	if (b->ep < 0 || b->slots == NULL || b->st.hist == NULL) {
		return false;
	}
	for (unsigned i = 0; i < b->o.nslots; i++) {
		b->slots[i].fd = -1;
		if (!b->coap &&
		    (b->slots[i].rbuf = malloc(HTTP_RBUF)) == NULL) {
			return false;
		}
	}
	return b->coap ? coap_setup(b) : load_urls(b);
}

int
main(int argc, char **argv)
{
	struct bench b = {
	    .o = {.nslots = 64, .seconds = 5, .timeout_us = 5000000},
	    .label = "http"};

	if (!parse_opts(&b, argc, argv)) {
		usage(stderr);
		return 2;
	}
	bench_catch_signals();
	if (!setup(&b)) {
		fprintf(stderr, "lwds-bench-reads: set-up failed: %s\n",
		        strerror(errno));
		return 1;
	}
	if (!b.coap) {
		run_phase(&b, b.label);
		return 0;
	}
	if (!coap_wait_devices(&b)) {
		return 1;
	}
	for (b.cur_path = 0; b.cur_path < b.npaths && !bench_stop;
	     b.cur_path++) {
		run_phase(&b, b.paths[b.cur_path]);
	}
	return 0;
}
