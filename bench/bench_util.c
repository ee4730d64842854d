/* bench_util: the helpers the C benchmark tools share (bench_util.h). */
#include "bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t bench_stop;

static void
on_stop_signal(int sig)
{
	(void)sig;
	bench_stop = 1;
}

void
bench_catch_signals(void)
{
	signal(SIGINT, on_stop_signal);
	signal(SIGTERM, on_stop_signal);
	signal(SIGPIPE, SIG_IGN);
}

static int64_t
clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
bench_now_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

int64_t
bench_real_us(void)
{
	return clock_us(CLOCK_REALTIME);
}

bool
bench_coap_parse(const uint8_t *buf, size_t len, struct bench_coap *ret)
{
	memset(ret, 0, sizeof *ret);
	if (len < 4 || (buf[0] >> 6) != 1 || (buf[0] & 0x0f) > 8 ||
	    len < 4u + (buf[0] & 0x0f)) {
		return false;
	}
	ret->type = (buf[0] >> 4) & 3;
	ret->tkl = buf[0] & 0x0f;
	ret->code = buf[1];
	ret->mid = (uint16_t)(buf[2] << 8 | buf[3]);
	ret->token = buf + 4;
	ret->opt = buf + 4 + ret->tkl;
	ret->end = buf + len;
	return true;
}

/* The value of an option delta or length nibble and its extension bytes. */
static bool
read_ext(const uint8_t **p, const uint8_t *end, unsigned nib, unsigned *ret)
{
	if (nib < 13) {
		*ret = nib;
		return true;
	}
	if (nib == 13 && *p < end) {
		*ret = 13u + *(*p)++;
		return true;
	}
	if (nib == 14 && end - *p >= 2) {
		*ret = 269u + ((unsigned)(*p)[0] << 8 | (*p)[1]);
		*p += 2;
		return true;
	}
	return false;
}

int
bench_coap_next_opt(struct bench_coap *m, unsigned *ret_num,
                    const uint8_t **ret_val, unsigned *ret_len)
{
	const uint8_t *p = m->opt;
	unsigned d, l;
	uint8_t h;

	if (p >= m->end || *p == 0xff) {
		return 0;
	}
	h = *p++;
	if (!read_ext(&p, m->end, h >> 4, &d) ||
	    !read_ext(&p, m->end, h & 15, &l) || (size_t)(m->end - p) < l) {
		return -1;
	}
	m->opt_num += d;
	m->opt = p + l;
	*ret_num = m->opt_num;
	*ret_val = p;
	*ret_len = l;
	return 1;
}

void
bench_coap_put_header(struct bench_coap_out *out, uint8_t *b, size_t cap,
                      unsigned type, uint8_t code, uint16_t mid,
                      const uint8_t *token, uint8_t tkl)
{
	out->b = b;
	out->cap = cap;
	b[0] = (uint8_t)(0x40 | type << 4 | tkl);
	b[1] = code;
	b[2] = (uint8_t)(mid >> 8);
	b[3] = (uint8_t)mid;
	memcpy(b + 4, token, tkl);
	out->len = 4u + tkl;
	out->last = 0;
}

/* Writes the extension bytes of v at p; returns their count. */
static size_t
put_ext(uint8_t *p, unsigned v, uint8_t *ret_nibble)
{
	if (v < 13) {
		*ret_nibble = (uint8_t)v;
		return 0;
	}
	if (v < 269) {
		*ret_nibble = 13;
		p[0] = (uint8_t)(v - 13);
		return 1;
	}
	*ret_nibble = 14;
	p[0] = (uint8_t)((v - 269) >> 8);
	p[1] = (uint8_t)(v - 269);
	return 2;
}

bool
bench_coap_put_opt(struct bench_coap_out *out, unsigned num, const void *val,
                   size_t vlen)
{
	uint8_t hdr[5], dn, ln;
	size_t h = 1;

	if (out->len + 5 + vlen > out->cap) {
		return false;
	}
	h += put_ext(hdr + h, num - out->last, &dn);
	h += put_ext(hdr + h, (unsigned)vlen, &ln);
	hdr[0] = (uint8_t)(dn << 4 | ln);
	memcpy(out->b + out->len, hdr, h);
	memcpy(out->b + out->len + h, val, vlen);
	out->len += h + vlen;
	out->last = num;
	return true;
}

bool
bench_coap_put_uint_opt(struct bench_coap_out *out, unsigned num, uint32_t v)
{
	uint8_t b[4];
	size_t n = 0;

	for (int shift = 24; shift >= 0; shift -= 8) {
		if (n > 0 || (v >> shift) != 0) {
			b[n++] = (uint8_t)(v >> shift);
		}
	}
	return bench_coap_put_opt(out, num, b, n);
}

bool
bench_coap_put_payload(struct bench_coap_out *out, const void *data, size_t len)
{
	if (out->len + 1 + len > out->cap) {
		return false;
	}
	out->b[out->len++] = 0xff;
	memcpy(out->b + out->len, data, len);
	out->len += len;
	return true;
}

void
bench_coap_send_ack(int fd, uint16_t mid, const struct sockaddr_in *to)
{
	uint8_t ack[4] = {0x60, 0, (uint8_t)(mid >> 8), (uint8_t)mid};

	(void)sendto(fd, ack, sizeof ack, 0, (const struct sockaddr *)to,
	             sizeof *to);
}

bool
bench_rd_init(struct bench_rd *rd, int fd, uint32_t max)
{
	*rd = (struct bench_rd){.fd = fd, .max = max, .hash_size = max * 2 + 1};
	rd->devs = calloc(max, sizeof *rd->devs);
	rd->hash = calloc(rd->hash_size, sizeof *rd->hash);
	return rd->devs != NULL && rd->hash != NULL;
}

static uint32_t
rd_hash(const struct bench_rd *rd, const struct sockaddr_in *a)
{
	uint32_t h = a->sin_addr.s_addr * 2654435761u ^ a->sin_port * 40503u;

	return h % rd->hash_size;
}

/* The device index of address a, registering it when new (UINT32_MAX when
 * the table is full). */
static uint32_t
rd_device_of(struct bench_rd *rd, const struct sockaddr_in *a)
{
	uint32_t h = rd_hash(rd, a);

	while (rd->hash[h] != 0) {
		const struct sockaddr_in *d = &rd->devs[rd->hash[h] - 1];
		if (d->sin_addr.s_addr == a->sin_addr.s_addr &&
		    d->sin_port == a->sin_port) {
			return rd->hash[h] - 1;
		}
		h = (h + 1) % rd->hash_size;
	}
	if (rd->n >= rd->max) {
		return UINT32_MAX;
	}
	rd->devs[rd->n] = *a;
	rd->hash[h] = rd->n + 1;
	return rd->n++;
}

/* ACK (piggybacked) to the CON request m from "to": code and, for 2.01,
 * the Location-Path rd/<idx>. */
static void
rd_answer(const struct bench_rd *rd, const struct bench_coap *m, uint8_t code,
          uint32_t idx, const struct sockaddr_in *to)
{
	uint8_t pkt[64];
	struct bench_coap_out o;
	char num[12];

	bench_coap_put_header(&o, pkt, sizeof pkt, 2, code, m->mid, m->token,
	                      m->tkl);
	if (code == 0x41) {
		int n = snprintf(num, sizeof num, "%u", (unsigned)idx);
		(void)bench_coap_put_opt(&o, 8, "rd", 2);
		(void)bench_coap_put_opt(&o, 8, num, (size_t)n);
	}
	(void)sendto(rd->fd, pkt, o.len, 0, (const struct sockaddr *)to,
	             sizeof *to);
}

void
bench_rd_serve(struct bench_rd *rd, struct bench_coap *m,
               const struct sockaddr_in *from)
{
	const uint8_t *v;
	unsigned num, len, npath = 0;
	bool rd_path = false;
	uint32_t idx;
	int got;

	if (m->type != 0) {
		return; /* only CON requests need an answer */
	}
	while ((got = bench_coap_next_opt(m, &num, &v, &len)) > 0) {
		if (num == 11) {
			rd_path = npath == 0
			              ? len == 2 && memcmp(v, "rd", 2) == 0
			              : rd_path;
			npath++;
		}
	}
	if (got < 0 || !rd_path || npath > 2) {
		rd_answer(rd, m, 0x84, 0, from); /* 4.04 */
		return;
	}
	if (m->code == 0x02 && npath == 1) {
		idx = rd_device_of(rd, from);
		rd_answer(rd, m, idx == UINT32_MAX ? 0xa3 : 0x41, idx, from);
		return;
	}
	rd_answer(rd, m, m->code == 0x04 ? 0x42 : 0x44, 0, from);
}

void
bench_rd_drain(struct bench_rd *rd,
               void (*on_response)(void *arg, struct bench_coap *m,
                                   const struct sockaddr_in *from),
               void *arg)
{
	uint8_t buf[1500];
	struct sockaddr_in from;
	struct bench_coap m;

	for (int n = 0; n < 1024; n++) {
		socklen_t fl = sizeof from;
		ssize_t len = recvfrom(rd->fd, buf, sizeof buf, MSG_DONTWAIT,
		                       (struct sockaddr *)&from, &fl);
		if (len < 0) {
			return;
		}
		if (!bench_coap_parse(buf, (size_t)len, &m)) {
			continue;
		}
		if (m.code >= 1 && m.code < 32) {
			bench_rd_serve(rd, &m, &from);
		} else if (m.type == 2 || m.code >= 64) {
			on_response(arg, &m, &from);
		}
	}
}

bool
bench_hist_add(uint32_t *hist, int64_t us)
{
	uint64_t b = us > 0 ? (uint64_t)us / BENCH_HIST_STEP_US : 0;

	if (b >= BENCH_HIST_BUCKETS) {
		hist[BENCH_HIST_BUCKETS - 1]++;
		return false;
	}
	hist[b]++;
	return true;
}

double
bench_hist_percentile(const uint32_t *hist, uint64_t count, int64_t max_us,
                      double q)
{
	uint64_t want = (uint64_t)((double)count * q + 0.5), seen = 0;

	if (count == 0) {
		return 0;
	}
	if (want == 0) {
		want = 1;
	}
	for (uint32_t b = 0; b < BENCH_HIST_BUCKETS; b++) {
		seen += hist[b];
		if (seen >= want) {
			return (b + 0.5) * BENCH_HIST_STEP_US / 1000.0;
		}
	}
	return max_us / 1000.0;
}

void
bench_phase_record_ok(struct bench_phase *st, int64_t start_us, int64_t t)
{
	int64_t us = t - start_us;

	(void)bench_hist_add(st->hist, us);
	if (us > (int64_t)st->max_us) {
		st->max_us = (uint32_t)us;
	}
	st->ok++;
	st->last_ok_us = t;
}

void
bench_phase_print(const struct bench_phase *st, const char *name,
                  int64_t start_us, bool with_retransmits)
{
	double secs = (bench_now_us() - start_us) / 1e6;
	double busy = (st->last_ok_us - start_us) / 1e6;

	printf("{\"phase\":\"%s\",\"requests\":%" PRIu64 ",\"ok\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"timeouts\":%" PRIu64,
	       name, st->requests, st->ok, st->errors, st->timeouts);
	if (with_retransmits) {
		printf(",\"retransmits\":%" PRIu64, st->retransmits);
	}
	printf(",\"elapsed_s\":%.3f,\"rate\":%.1f,\"p50_ms\":%.3f,"
	       "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
	       secs, busy > 0 ? st->ok / busy : 0.0,
	       bench_hist_percentile(st->hist, st->ok, st->max_us, 0.50),
	       bench_hist_percentile(st->hist, st->ok, st->max_us, 0.99),
	       bench_hist_percentile(st->hist, st->ok, st->max_us, 0.999),
	       st->max_us / 1000.0);
	fflush(stdout);
}

bool
bench_parse_accept(const char *text, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 65535) {
		return false;
	}
	*ret = (int)v;
	return true;
}

bool
bench_parse_addr(const char *text, struct sockaddr_in *ret)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	long port;

	if (colon == NULL || (size_t)(colon - text) >= sizeof host) {
		return false;
	}
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	port = strtol(colon + 1, NULL, 10);
	memset(ret, 0, sizeof *ret);
	ret->sin_family = AF_INET;
	ret->sin_port = htons((uint16_t)port);
	return port > 0 && port < 65536 &&
	       inet_pton(AF_INET, host, &ret->sin_addr) == 1;
}

bool
bench_udp_open(uint32_t addr, int ep, uint32_t tag, int *ret_fd)
{
	struct sockaddr_in la = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(addr)};
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	if (fd < 0) {
		return false;
	}
	if (bind(fd, (struct sockaddr *)&la, sizeof la) != 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return false;
	}
	*ret_fd = fd;
	return true;
}

bool
bench_loop_opt(int o, const char *arg, struct bench_loop_opts *opts)
{
	switch (o) {
	case 'c':
		opts->nslots = (unsigned)strtoul(arg, NULL, 10);
		return true;
	case 'd':
		opts->seconds = strtod(arg, NULL);
		return true;
	case 'T':
		opts->timeout_us = strtoll(arg, NULL, 10) * 1000;
		return true;
	default:
		return false;
	}
}

void
bench_raise_nofile(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}
