/* lwm2m_loop.h - the per-process event loop helpers. */
#ifndef LWM2M_LOOP_H
#define LWM2M_LOOP_H

#include <event2/event.h>

#include "lwm2m_err.h"

struct lwm2m_signals;

/* lwm2m_loop_base_new creates a service's event base with epoll's change
 * list: the read/write interest toggles of HTTP and Redis traffic collapse
 * into one epoll_ctl per descriptor and loop pass (about 6% of rest-api's
 * CPU per REST read and 10% of the webhook's, bench/README.md).  Only for
 * processes that never dup() a descriptor the loop watches.  NULL on
 * failure; the caller frees it with event_base_free. */
struct event_base *lwm2m_loop_base_new(void);

/* lwm2m_signals_new installs SIGINT and SIGTERM handlers on base that call
 * on_stop(arg) on the loop thread, and ignores SIGPIPE. */
lwm2m_err lwm2m_signals_new(struct event_base *base, void (*on_stop)(void *),
                            void *arg, struct lwm2m_signals **ret_signals);

/* lwm2m_signals_free removes the handlers; NULL-safe. */
void lwm2m_signals_free(struct lwm2m_signals *signals);

/* lwm2m_getenv returns getenv(name) when set and non-empty, else dflt. */
const char *lwm2m_getenv(const char *name, const char *dflt);

/* lwm2m_parse_int parses a whole decimal string within [min, max]. */
lwm2m_err lwm2m_parse_int(const char *text, long long min, long long max,
                          long long *ret_value);

/* LWM2M_DEC_MAX: the digits of any unsigned long long (20) */
#define LWM2M_DEC_MAX 20

/* "00" to "99", the pairs lwm2m_dec_digits writes */
#define LWM2M__DEC_PAIRS                                                       \
	"00010203040506070809"                                                 \
	"10111213141516171819"                                                 \
	"20212223242526272829"                                                 \
	"30313233343536373839"                                                 \
	"40414243444546474849"                                                 \
	"50515253545556575859"                                                 \
	"60616263646566676869"                                                 \
	"70717273747576777879"                                                 \
	"80818283848586878889"                                                 \
	"90919293949596979899"

/* lwm2m_dec_digits writes the decimal digits of v so that the last one is
 * just before end (room for LWM2M_DEC_MAX before it) and returns the first:
 * the formatting the hot paths use instead of snprintf, which costs about
 * 700 instructions a number (bench/README.md).  Two digits per division
 * (a Register formats about 170 digits; bench/README.md, ninth storm
 * round).  No NUL is written. */
static inline char *
lwm2m_dec_digits(char *end, unsigned long long v)
{
	static const char pairs[] = LWM2M__DEC_PAIRS;

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		end -= 2;
		end[0] = pairs[2 * r];
		end[1] = pairs[2 * r + 1];
	}
	if (v >= 10) {
		end -= 2;
		end[0] = pairs[2 * v];
		end[1] = pairs[2 * v + 1];
	} else {
		*--end = (char)('0' + v);
	}
	return end;
}

/* lwm2m_dec_put writes the decimal digits of v at out (no NUL) and returns
 * the end of what it wrote. */
static inline char *
lwm2m_dec_put(char *out, unsigned long long v)
{
	char tmp[LWM2M_DEC_MAX], *end = tmp + sizeof tmp;
	char *d = lwm2m_dec_digits(end, v);

	while (d < end) {
		*out++ = *d++;
	}
	return out;
}

#endif
