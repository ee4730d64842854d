/* bench_dtls.c - lwds-bench-dtls: full DTLS 1.2 PSK handshakes against a
 * CoAP server (OpenSSL client, no session resumption).
 *
 *   lwds-bench-dtls HOST PORT IDENTITY HEXKEY [options]
 *     --count N        handshakes in total (1000)
 *     --concurrency C  handshakes in flight (64)
 *     --hold           keep every session open until stdin closes (for
 *                      measuring sessions held and server memory)
 *     --cipher LIST    OpenSSL cipher list (PSK-AES128-CCM8)
 *     --register       sessions held by the server: handshake number i
 *                      uses identity IDENTITY with its last 10 characters
 *                      replaced by i (zero-padded digits, then "A"), sends
 *                      a CoAP Register (ep = that identity, lt = 86400)
 *                      over the session, waits for 2.01, then forgets the
 *                      session without closing it (no close_notify), so
 *                      the gateway keeps it and the client needs only C
 *                      sockets.  Socket i is bound to 127.0.0.(2 + i /
 *                      40000) port 20000 + i % 40000: no two sessions
 *                      share an address and port.
 *
 * Without --register, against a server on 127.0.0.0/8, socket i is bound
 * to 127.0.0.(200 + i / 40000) port 20000 + i % 40000 as well: with
 * kernel-chosen ports a port was sometimes reused while the server still
 * held the previous session on it, and libcoap 4.3.1 ignores a ClientHello
 * on an existing session, so that handshake timed out (10 s).
 *
 * Prints one JSON line: {"handshakes":N,"failed":F,"seconds":S,"rate":R}.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct conn {
	int fd;
	SSL *ssl;
	bool busy;
	bool registering; /* handshake done, Register sent */
	long idx;         /* number of this handshake */
	char identity[64];
	double started; /* a handshake taking over 10 s has failed */
};

struct bench {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	const char *identity;
	uint8_t key[64];
	size_t key_len;
	long count, concurrency, started, done, failed;
	bool hold, reg;
	long first; /* --register: number of the first handshake */
	const char *cipher;
	SSL_CTX *ctx;
};

/* the one bench of the process, for the PSK callback */
static struct bench *the_bench;

static unsigned int
on_psk(SSL *ssl, const char *hint, char *identity, unsigned int max_id,
       unsigned char *psk, unsigned int max_psk)
{
	struct bench *b = the_bench;
	const struct conn *c = SSL_get_app_data(ssl);

	if (strlen(c->identity) + 1 > max_id || b->key_len > max_psk) {
		return 0;
	}
	strcpy(identity, c->identity);
	memcpy(psk, b->key, b->key_len);
	return (unsigned int)b->key_len;
}

static double now_s(void);

/* --register: identity and local address of handshake c->idx */
static bool
reg_bind(struct conn *c)
{
	struct sockaddr_in local = {.sin_family = AF_INET};
	size_t len = strlen(c->identity);

	if (len < 10) {
		return false;
	}
	snprintf(c->identity + len - 10, 11, "%09ldA", c->idx);
	local.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(c->idx / 40000));
	local.sin_port = htons((uint16_t)(20000 + c->idx % 40000));
	return c->fd >= 0 &&
	       bind(c->fd, (struct sockaddr *)&local, sizeof local) == 0;
}

/* without --register: a distinct loopback address and port for handshake
 * c->idx when the server is on 127.0.0.0/8, else the kernel's choice */
static bool
shake_bind(const struct bench *b, struct conn *c)
{
	struct sockaddr_in local = {.sin_family = AF_INET};
	const struct sockaddr_in *srv = (const struct sockaddr_in *)&b->addr;

	if (b->addr.ss_family != AF_INET ||
	    (ntohl(srv->sin_addr.s_addr) >> 24) != 127) {
		return true;
	}
	local.sin_addr.s_addr = htonl(0x7f0000c8u + (uint32_t)(c->idx / 40000));
	local.sin_port = htons((uint16_t)(20000 + c->idx % 40000));
	return c->fd >= 0 &&
	       bind(c->fd, (struct sockaddr *)&local, sizeof local) == 0;
}

/* a CoAP CON POST /rd?ep=<identity>&lt=86400 with </3/0> */
static bool
send_register(struct conn *c)
{
	uint8_t m[256];
	size_t n = 0, ep = strlen(c->identity) + 3;
	static const char links[] = "</3/0>";

	if (ep < 13 || ep > 13 + 200) {
		return false;
	}
	m[n++] = 0x41; /* CON, token length 1 */
	m[n++] = 0x02; /* POST */
	m[n++] = (uint8_t)(c->idx >> 8);
	m[n++] = (uint8_t)c->idx;
	m[n++] = 0x5a; /* token */
	m[n++] = 0xb2; /* Uri-Path (11) "rd" */
	m[n++] = 'r';
	m[n++] = 'd';
	m[n++] = 0x11; /* Content-Format (12): 40 */
	m[n++] = 40;
	m[n++] = 0x3d; /* Uri-Query (15), length 13 + ext */
	m[n++] = (uint8_t)(ep - 13);
	n += (size_t)sprintf((char *)m + n, "ep=%s", c->identity);
	m[n++] = 0x08; /* Uri-Query "lt=86400" */
	memcpy(m + n, "lt=86400", 8);
	n += 8;
	m[n++] = 0xff;
	memcpy(m + n, links, sizeof links - 1);
	n += sizeof links - 1;
	return SSL_write(c->ssl, m, (int)n) == (int)n;
}

static bool
conn_start(struct bench *b, struct conn *c)
{
	BIO *bio;

	c->idx = b->first + b->started;
	snprintf(c->identity, sizeof c->identity, "%s", b->identity);
	c->registering = false;
	c->fd = socket(b->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (b->reg ? !reg_bind(c) : !shake_bind(b, c)) {
		perror("bind");
		close(c->fd);
		return false;
	}
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&b->addr, b->addr_len) != 0) {
		perror("socket/connect");
		return false;
	}
	c->ssl = SSL_new(b->ctx);
	SSL_set_app_data(c->ssl, c);
	bio = BIO_new_dgram(c->fd, BIO_NOCLOSE);
	if (c->ssl == NULL || bio == NULL) {
		return false;
	}
	BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &b->addr);
	SSL_set_bio(c->ssl, bio, bio);
	SSL_set_connect_state(c->ssl);
	c->busy = true;
	c->started = now_s();
	b->started++;
	return true;
}

static void
conn_end(struct bench *b, struct conn *c, bool ok)
{
	c->busy = false;
	b->done++;
	if (!ok) {
		b->failed++;
	}
	if (b->hold && ok) {
		return; /* keep the session (and its fd) open */
	}
	if (b->reg && ok) {
		/* forget the session without close_notify: the server keeps it
		 */
		SSL_set_quiet_shutdown(c->ssl, 1);
	}
	SSL_free(c->ssl);
	close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

/* one step of a handshake; false when it ended */
static void
reg_step(struct bench *b, struct conn *c)
{
	uint8_t buf[512];
	int n = SSL_read(c->ssl, buf, sizeof buf);

	if (n >= 4 && buf[1] == 0x00) {
		return; /* empty ACK: the answer comes separately */
	}
	if (n >= 4) {
		if ((buf[0] & 0x30) == 0) { /* a CON answer: acknowledge it */
			uint8_t ack[4] = {0x60, 0x00, buf[2], buf[3]};

			SSL_write(c->ssl, ack, sizeof ack);
		}
		/* 2.01 Created; anything else (4.03...) fails */
		conn_end(b, c, buf[1] == 0x41);
		return;
	}
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return;
	default:
		ERR_clear_error();
		conn_end(b, c, false);
	}
}

static void
conn_step(struct bench *b, struct conn *c)
{
	int r;

	if (c->registering) {
		reg_step(b, c);
		return;
	}
	r = SSL_do_handshake(c->ssl);
	if (r == 1 && b->reg) {
		c->registering = true;
		if (!send_register(c)) {
			conn_end(b, c, false);
		}
		return;
	}
	if (r == 1) {
		conn_end(b, c, true);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return;
	default:
		ERR_clear_error();
		conn_end(b, c, false);
	}
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool
parse_args(struct bench *b, int argc, char **argv)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
	const char *hex;

	if (argc < 5) {
		return false;
	}
	if (getaddrinfo(argv[1], argv[2], &hints, &res) != 0) {
		return false;
	}
	memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
	b->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	b->identity = argv[3];
	hex = argv[4];
	for (b->key_len = 0; hex[2 * b->key_len] != '\0' && b->key_len < 64;
	     b->key_len++) {
		unsigned v;
		if (sscanf(hex + 2 * b->key_len, "%2x", &v) != 1) {
			return false;
		}
		b->key[b->key_len] = (uint8_t)v;
	}
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
			b->count = atol(argv[++i]);
		} else if (strcmp(argv[i], "--concurrency") == 0 &&
		           i + 1 < argc) {
			b->concurrency = atol(argv[++i]);
		} else if (strcmp(argv[i], "--cipher") == 0 && i + 1 < argc) {
			b->cipher = argv[++i];
		} else if (strcmp(argv[i], "--hold") == 0) {
			b->hold = true;
		} else if (strcmp(argv[i], "--register") == 0) {
			b->reg = true;
		} else if (strcmp(argv[i], "--first") == 0 && i + 1 < argc) {
			b->first = atol(argv[++i]);
		} else {
			return false;
		}
	}
	return b->count > 0 && b->concurrency > 0;
}

/* DTLS retransmissions of every handshake whose timer ran out, and
 * handshakes that take too long */
static void
timers(struct bench *b, struct conn *conns)
{
	double now = now_s();
	struct timeval tv;

	for (long i = 0; i < b->concurrency; i++) {
		struct conn *c = &conns[i];

		if (!c->busy) {
			continue;
		}
		if (now - c->started > 10.0) {
			conn_end(b, c, false);
		} else if (!c->registering &&
		           DTLSv1_get_timeout(c->ssl, &tv) == 1 &&
		           tv.tv_sec == 0 && tv.tv_usec == 0) {
			DTLSv1_handle_timeout(c->ssl);
		}
	}
}

static void
run(struct bench *b, struct conn *conns, struct pollfd *pfd)
{
	while (b->done < b->count) {
		long n = 0;

		for (long i = 0; i < b->concurrency; i++) {
			if (!conns[i].busy && b->started < b->count &&
			    conn_start(b, &conns[i])) {
				conn_step(b, &conns[i]);
			}
			pfd[i].fd = conns[i].busy ? conns[i].fd : -1;
			pfd[i].events = POLLIN;
			n += conns[i].busy;
		}
		if (n == 0) {
			continue;
		}
		poll(pfd, (nfds_t)b->concurrency, 20);
		for (long i = 0; i < b->concurrency; i++) {
			if (conns[i].busy && (pfd[i].revents & POLLIN)) {
				conn_step(b, &conns[i]);
			}
		}
		timers(b, conns);
	}
}

int
main(int argc, char **argv)
{
	struct bench b = {
	    .count = 1000, .concurrency = 64, .cipher = "PSK-AES128-CCM8"};
	struct conn *conns;
	struct pollfd *pfd;
	double t0, secs;
	char line[16];

	if (!parse_args(&b, argc, argv)) {
		fprintf(stderr,
		        "usage: lwds-bench-dtls HOST PORT IDENTITY HEXKEY "
		        "[--count N] [--concurrency C] [--hold] "
		        "[--register] [--cipher LIST]\n");
		return 2;
	}
	the_bench = &b;
	b.ctx = SSL_CTX_new(DTLS_client_method());
	if (b.ctx == NULL || SSL_CTX_set_cipher_list(b.ctx, b.cipher) != 1) {
		fprintf(stderr, "lwds-bench-dtls: bad cipher list\n");
		return 2;
	}
	SSL_CTX_set_psk_client_callback(b.ctx, on_psk);
	SSL_CTX_set_session_cache_mode(b.ctx, SSL_SESS_CACHE_OFF);
	conns = calloc((size_t)b.concurrency, sizeof *conns);
	pfd = calloc((size_t)b.concurrency, sizeof *pfd);
	if (conns == NULL || pfd == NULL) {
		return 1;
	}
	t0 = now_s();
	run(&b, conns, pfd);
	secs = now_s() - t0;
	printf("{\"handshakes\":%ld,\"failed\":%ld,\"seconds\":%.3f,"
	       "\"rate\":%.1f}\n",
	       b.done - b.failed, b.failed, secs,
	       (double)(b.done - b.failed) / secs);
	fflush(stdout);
	if (b.hold) {
		while (fgets(line, sizeof line, stdin) != NULL) {
		}
	}
	free(conns);
	free(pfd);
	SSL_CTX_free(b.ctx);
	return b.failed == 0 ? 0 : 1;
}
