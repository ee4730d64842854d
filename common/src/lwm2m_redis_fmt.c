/* lwm2m_redis_fmt.c - a fast path for hiredis-style command formats.
 *
 * hiredis 0.14's redisvFormatCommand appends the format string one byte at
 * a time to a growing sds string and prints every length with sprintf: on
 * the registration path of coap-gw it cost about 11,000 instructions per
 * command, more than everything else the gateway does (bench/README.md).
 * This formatter writes the RESP encoding into a caller's buffer in one
 * pass for the conversions the project uses (%s %b %d %i %u with the
 * l and ll modifiers, and %%) and reports anything else, or a command
 * too large for the buffer, so the caller can fall back to hiredis. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_loop.h"
#include "lwm2m_redis.h"

#define MAX_ARGS 64

struct fmt_state {
	char *args; /* argument bytes, back to back */
	size_t size, len;
	size_t starts[MAX_ARGS + 1];
	size_t argc;
	bool touched;
};

static bool
put(struct fmt_state *st, const void *p, size_t n)
{
	if (n > st->size - st->len) {
		return false;
	}
	memcpy(st->args + st->len, p, n);
	st->len += n;
	st->touched = true;
	return true;
}

static bool
end_arg(struct fmt_state *st)
{
	if (!st->touched) {
		return true;
	}
	if (st->argc >= MAX_ARGS) {
		return false;
	}
	st->starts[++st->argc] = st->len;
	st->touched = false;
	return true;
}

/* One integer conversion at *pfmt (after '%'); advances *pfmt. */
static bool
put_int(struct fmt_state *st, const char **pfmt, va_list *ap)
{
	const char *f = *pfmt;
	char num[24], *p;
	int lmod = 0;

	for (; *f == 'l' && lmod < 2; f++) {
		lmod++;
	}
	if (*f == 'd' || *f == 'i') {
		long long v = lmod == 2   ? va_arg(*ap, long long)
		              : lmod == 1 ? va_arg(*ap, long)
		                          : va_arg(*ap, int);
		p = lwm2m_dec_digits(num + sizeof num,
		                     v < 0 ? 0 - (unsigned long long)v
		                           : (unsigned long long)v);
		if (v < 0) {
			*--p = '-';
		}
	} else if (*f == 'u') {
		unsigned long long v = lmod == 2
		                           ? va_arg(*ap, unsigned long long)
		                       : lmod == 1 ? va_arg(*ap, unsigned long)
		                                   : va_arg(*ap, unsigned);
		p = lwm2m_dec_digits(num + sizeof num, v);
	} else {
		return false;
	}
	*pfmt = f + 1;
	return put(st, p, (size_t)(num + sizeof num - p));
}

/* One conversion after '%'; false when unsupported or out of room. */
static bool
put_conv(struct fmt_state *st, const char **pfmt, va_list *ap)
{
	const char *f = *pfmt;

	if (*f == 's') {
		const char *s = va_arg(*ap, const char *);
		*pfmt = f + 1;
		return put(st, s, strlen(s));
	}
	if (*f == 'b') {
		const void *p = va_arg(*ap, const void *);
		size_t n = va_arg(*ap, size_t);
		*pfmt = f + 1;
		return put(st, p, n);
	}
	if (*f == '%') {
		*pfmt = f + 1;
		return put(st, "%", 1);
	}
	return put_int(st, pfmt, ap);
}

static bool
split(struct fmt_state *st, const char *fmt, va_list *ap)
{
	const char *f = fmt;

	while (*f != '\0') {
		if (*f == ' ') {
			f++;
			if (!end_arg(st)) {
				return false;
			}
		} else if (*f == '%') {
			f++;
			if (!put_conv(st, &f, ap)) {
				return false;
			}
		} else if (!put(st, f++, 1)) {
			return false;
		}
	}
	return end_arg(st) && st->argc > 0;
}

/* "<c><n>\r\n" at out+*pos; false when it does not fit.  The digits go
 * straight into out: a call of memcpy per length cost coap-gw about 1,000
 * instructions per Register (callgrind, bench/README.md, seventh storm
 * round). */
static bool
put_len(char *out, size_t size, size_t *pos, char c, size_t n)
{
	size_t dl = 1;

	for (size_t v = n; v >= 10; v /= 10) {
		dl++;
	}
	if (dl + 3 > size - *pos) {
		return false;
	}
	out[(*pos)++] = c;
	*pos += dl;
	(void)lwm2m_dec_digits(out + *pos, n);
	out[(*pos)++] = '\r';
	out[(*pos)++] = '\n';
	return true;
}

/* "*argc\r\n" then "$len\r\n<bytes>\r\n" per argument into out. */
static bool
encode(const struct fmt_state *st, char *out, size_t size, size_t *ret_len)
{
	size_t pos = 0;

	if (!put_len(out, size, &pos, '*', st->argc)) {
		return false;
	}
	for (size_t i = 0; i < st->argc; i++) {
		size_t alen = st->starts[i + 1] - st->starts[i];
		if (!put_len(out, size, &pos, '$', alen) ||
		    alen + 2 > size - pos) {
			return false;
		}
		memcpy(out + pos, st->args + st->starts[i], alen);
		pos += alen;
		memcpy(out + pos, "\r\n", 2);
		pos += 2;
	}
	*ret_len = pos;
	return true;
}

lwm2m_err
lwm2m__redis_vformat(char *out, size_t size, char *scratch, size_t scratch_size,
                     const char *fmt, va_list ap, size_t *ret_len)
{
	struct fmt_state st = {.args = scratch, .size = scratch_size};
	va_list cp;
	bool ok;

	va_copy(cp, ap);
	ok = split(&st, fmt, &cp);
	va_end(cp);
	if (!ok || !encode(&st, out, size, ret_len)) {
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

/* "$<n>\r\n" at p, the header of an argument of n bytes; returns its end.
 * Lengths under 100, almost every argument, without the digit loop and
 * the bounds check of put_len: argv_encode's first pass sized the buffer
 * (bench/README.md, eighth storm round: -1,500 instructions a Register). */
static char *
put_arg_len(char *p, size_t n)
{
	*p++ = '$';
	if (n < 10) {
		*p++ = (char)('0' + n);
	} else if (n < 100) {
		*p++ = (char)('0' + n / 10);
		*p++ = (char)('0' + n % 10);
	} else {
		p = lwm2m_dec_put(p, n);
	}
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

/* Each argument's length is measured once: strlen in both passes was 40%
 * of this function's time on the gateway's record HSET (perf, bench/README.md,
 * seventh storm round).  Up to MAX_ARGS lengths are kept; beyond that the
 * second pass measures again.  Each argument takes at most 24 + 2 + 2 bytes
 * besides its own: "$", up to LWM2M_DEC_MAX digits and two CRLFs. */
lwm2m_err
lwm2m__redis_argv_encode(int argc, const char **argv, const size_t *argvlen,
                         char *buf, size_t size, char **ret_buf,
                         size_t *ret_len)
{
	size_t total = 24 + 2 + 1, pos = 0; /* + 1: the NUL after the command */
	size_t lens[MAX_ARGS];
	char *p;

	if (argc <= 0) {
		return LWM2M_EINVAL;
	}
	for (int i = 0; i < argc; i++) {
		size_t alen = argvlen ? argvlen[i] : strlen(argv[i]);

		if (i < MAX_ARGS) {
			lens[i] = alen;
		}
		total += 24 + 2 + 2 + alen;
	}
	if (buf == NULL || total > size) {
		buf = malloc(total);
		if (buf == NULL) {
			return LWM2M_ENOMEM;
		}
	}
	put_len(buf, total, &pos, '*', (size_t)argc);
	p = buf + pos;
	for (int i = 0; i < argc; i++) {
		size_t alen = i < MAX_ARGS ? lens[i] : strlen(argv[i]);

		p = put_arg_len(p, alen);
		memcpy(p, argv[i], alen);
		p[alen] = '\r';
		p[alen + 1] = '\n';
		p += alen + 2;
	}
	*p = '\0';
	*ret_buf = buf;
	*ret_len = (size_t)(p - buf);
	return LWM2M_OK;
}
