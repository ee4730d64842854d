#include "lwm2m_id.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

lwm2m_err
lwm2m_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return LWM2M_EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return LWM2M_OK;
}

size_t
lwm2m_b64_encoded_len(size_t len, bool url)
{
	if (url) {
		return len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
	}
	return (len + 2) / 3 * 4;
}

size_t
lwm2m_b64_encode(const uint8_t *in, size_t len, char *out, bool url)
{
	const char *alpha = url ? b64_url : b64_std;
	size_t n = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		             in[i + 2];
		out[n++] = alpha[v >> 18];
		out[n++] = alpha[(v >> 12) & 63];
		out[n++] = alpha[(v >> 6) & 63];
		out[n++] = alpha[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len) {
			v |= (uint32_t)in[i + 1] << 8;
		}
		out[n++] = alpha[v >> 18];
		out[n++] = alpha[(v >> 12) & 63];
		if (i + 1 < len) {
			out[n++] = alpha[(v >> 6) & 63];
		} else if (!url) {
			out[n++] = '=';
		}
		if (!url) {
			out[n++] = '=';
		}
	}
	out[n] = '\0';
	return n;
}

static int
b64_value(char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '+' || c == '-') {
		return 62;
	}
	if (c == '/' || c == '_') {
		return 63;
	}
	return -1;
}

lwm2m_err
lwm2m_b64_decode(const char *in, size_t len, uint8_t *out, size_t out_size,
                 size_t *ret_len)
{
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0;

	while (len > 0 && in[len - 1] == '=') {
		len--;
	}
	if (len % 4 == 1) {
		return LWM2M_EPROTO;
	}
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(in[i]);
		if (v < 0) {
			return LWM2M_EPROTO;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= out_size) {
				return LWM2M_ELIMIT;
			}
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	*ret_len = n;
	return LWM2M_OK;
}

/* Ids draw from a per-thread buffer refilled from getrandom 4 KiB at a time
 * (one syscall per 256 ids instead of one per id).  A forked child starts
 * with an empty buffer so parent and child never hand out the same bytes. */
#define ID_POOL_SIZE 4096

static _Thread_local struct {
	uint8_t buf[ID_POOL_SIZE];
	size_t left;
} id_pool;
static pthread_once_t id_pool_once = PTHREAD_ONCE_INIT;

static void
id_pool_forget(void)
{
	explicit_bzero(id_pool.buf, sizeof id_pool.buf);
	id_pool.left = 0;
}

static void
id_pool_register(void)
{
	pthread_atfork(NULL, NULL, id_pool_forget);
}

/* id_pool_take copies len (<= ID_POOL_SIZE) fresh random bytes into out and
 * wipes them from the buffer. */
static lwm2m_err
id_pool_take(uint8_t *out, size_t len)
{
	uint8_t *p;

	pthread_once(&id_pool_once, id_pool_register);
	if (id_pool.left < len) {
		lwm2m_err err = lwm2m_random(id_pool.buf, sizeof id_pool.buf);
		if (err != LWM2M_OK) {
			return err;
		}
		id_pool.left = sizeof id_pool.buf;
	}
	id_pool.left -= len;
	p = id_pool.buf + id_pool.left;
	memcpy(out, p, len);
	explicit_bzero(p, len);
	return LWM2M_OK;
}

lwm2m_err
lwm2m_random_pooled(void *buf, size_t len)
{
	if (len > ID_POOL_SIZE / 4) {
		return lwm2m_random(buf, len);
	}
	return id_pool_take(buf, len);
}

lwm2m_err
lwm2m_id_new(char ret_id[LWM2M_ID_SIZE])
{
	uint8_t raw[16];
	lwm2m_err err = id_pool_take(raw, sizeof raw);

	if (err != LWM2M_OK) {
		return err;
	}
	lwm2m_b64_encode(raw, sizeof raw, ret_id, true);
	return LWM2M_OK;
}

/* A character of the URL-safe alphabet, tested without a branch per class
 * (ids are random, so branches on them mispredict; bench/README.md). */
static bool
url_b64_char(unsigned char c)
{
	return ((unsigned char)((c | 0x20) - 'a') < 26) |
	       ((unsigned char)(c - '0') < 10) | (c == '-') | (c == '_');
}

/* lwm2m_id_valid checks the characters against the URL-safe alphabet, no
 * decoding: 22 characters carry 132 bits of which the 16 bytes are the first
 * 128, so the id is all zero when the first 21 are 'A' (value 0) and the
 * last one's top two bits are zero (it is one of 'A'..'P', values 0..15). */
bool
lwm2m_id_valid(const char *text, size_t len)
{
	unsigned char last;
	unsigned diff = 0;
	bool ok = true;

	if (len != LWM2M_ID_LEN) {
		return false;
	}
	for (size_t i = 0; i + 1 < len; i++) {
		unsigned char c = (unsigned char)text[i];

		ok &= url_b64_char(c);
		diff |= c ^ (unsigned char)'A';
	}
	last = (unsigned char)text[len - 1];
	return ok && url_b64_char(last) &&
	       (diff != 0 || last < 'A' || last > 'P');
}

void
lwm2m_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int
lwm2m_hex_digit(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool
lwm2m_hex_decode(const char *text, size_t len, uint8_t *out)
{
	for (size_t i = 0; i < len; i++) {
		int hi = lwm2m_hex_digit(text[2 * i]);
		int lo = hi < 0 ? -1 : lwm2m_hex_digit(text[2 * i + 1]);

		if (lo < 0) {
			return false;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

int64_t
lwm2m_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
lwm2m_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
lwm2m_time_iso8601(int64_t seconds, char *buf, size_t size)
{
	time_t t = (time_t)seconds;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* digits reads exactly n decimal digits at *p. */
static bool
digits(const char **p, const char *end, int n, int *ret)
{
	int v = 0;

	if (end - *p < n) {
		return false;
	}
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9') {
			return false;
		}
		v = v * 10 + (c - '0');
	}
	*p += n;
	*ret = v;
	return true;
}

static bool
expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c) {
		return false;
	}
	(*p)++;
	return true;
}

lwm2m_err
lwm2m_time_parse_iso8601(const char *text, size_t len, int64_t *ret_seconds)
{
	const char *p = text, *end = text + len;
	int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
	struct tm tm = {0};

	if (!digits(&p, end, 4, &y) || !expect(&p, end, '-') ||
	    !digits(&p, end, 2, &mo) || !expect(&p, end, '-') ||
	    !digits(&p, end, 2, &d) ||
	    !(expect(&p, end, 'T') || expect(&p, end, 't') ||
	      expect(&p, end, ' ')) ||
	    !digits(&p, end, 2, &h) || !expect(&p, end, ':') ||
	    !digits(&p, end, 2, &mi) || !expect(&p, end, ':') ||
	    !digits(&p, end, 2, &s)) {
		return LWM2M_EPROTO;
	}
	if (expect(&p, end, '.')) {
		const char *start = p;
		while (p < end && *p >= '0' && *p <= '9') {
			p++;
		}
		if (p == start) {
			return LWM2M_EPROTO;
		}
	}
	if (expect(&p, end, 'Z') || expect(&p, end, 'z')) {
		sign = 0;
	} else if (p < end && (*p == '+' || *p == '-')) {
		sign = *p == '+' ? 1 : -1;
		p++;
		if (!digits(&p, end, 2, &oh)) {
			return LWM2M_EPROTO;
		}
		(void)(expect(&p, end, ':'));
		if (!digits(&p, end, 2, &om)) {
			return LWM2M_EPROTO;
		}
	} else {
		return LWM2M_EPROTO;
	}
	if (p != end || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || s > 60 || oh > 23 || om > 59) {
		return LWM2M_EPROTO;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	*ret_seconds = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
	return LWM2M_OK;
}
