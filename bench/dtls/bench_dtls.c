/* bench_dtls.c - lwds-bench-dtls: full DTLS 1.2 PSK handshakes against a
 * CoAP server (OpenSSL client, no session resumption).
 *
 *   lwds-bench-dtls HOST PORT IDENTITY HEXKEY [options]
 *     --count N        handshakes in total (1000)
 *     --concurrency C  handshakes in flight (64)
 *     --hold           keep every session open until stdin closes (for
 *                      measuring sessions held and server memory)
 *     --cipher LIST    OpenSSL cipher list (PSK-AES128-CCM8)
 *
 * Prints one JSON line: {"handshakes":N,"failed":F,"seconds":S,"rate":R}.
 */
#include <netdb.h>
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
	double started; /* a handshake taking over 10 s has failed */
};

struct bench {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	const char *identity;
	uint8_t key[64];
	size_t key_len;
	long count, concurrency, started, done, failed;
	bool hold;
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

	if (strlen(b->identity) + 1 > max_id || b->key_len > max_psk) {
		return 0;
	}
	strcpy(identity, b->identity);
	memcpy(psk, b->key, b->key_len);
	return (unsigned int)b->key_len;
}

static double now_s(void);

static bool
conn_start(struct bench *b, struct conn *c)
{
	BIO *bio;

	c->fd = socket(b->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&b->addr, b->addr_len) != 0) {
		perror("socket/connect");
		return false;
	}
	c->ssl = SSL_new(b->ctx);
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
	SSL_free(c->ssl);
	close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

/* one step of a handshake; false when it ended */
static void
conn_step(struct bench *b, struct conn *c)
{
	int r = SSL_do_handshake(c->ssl);

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
		} else if (DTLSv1_get_timeout(c->ssl, &tv) == 1 &&
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
	struct bench b = {.count = 1000, .concurrency = 64,
	                  .cipher = "PSK-AES128-CCM8"};
	struct conn *conns;
	struct pollfd *pfd;
	double t0, secs;
	char line[16];

	if (!parse_args(&b, argc, argv)) {
		fprintf(stderr, "usage: lwds-bench-dtls HOST PORT IDENTITY HEXKEY "
		                "[--count N] [--concurrency C] [--hold] "
		                "[--cipher LIST]\n");
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
