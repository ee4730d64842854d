/* lwm2m_log.h - one line per event on stderr, level checked before formatting.
 *
 * Plain form:  2026-11-25T11:20:03.123Z coap-gw notice registered ep="dev-1" id=...
 * JSON form (lwm2m_log_set_json(true)): {"ts":"...","svc":"coap-gw","level":"notice","msg":"..."}
 * The level and the service name are the only mutable globals of a process.
 */
#ifndef LWM2M_LOG_H
#define LWM2M_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum lwm2m_log_level {
	LWM2M_LOG_ERR = 3,
	LWM2M_LOG_WARNING = 4,
	LWM2M_LOG_NOTICE = 5,
	LWM2M_LOG_INFO = 6,
	LWM2M_LOG_DEBUG = 7,
};

extern int lwm2m_log_level;

/* lwm2m_log_init sets the service name printed on each line (borrowed:
 * must be static) and the level. */
void lwm2m_log_init(const char *service, int level);

/* lwm2m_log_parse_level maps "err", "warning", "notice", "info", "debug" (or
 * a digit) to a level; returns -1 for anything else. */
int lwm2m_log_parse_level(const char *text);

/* lwm2m_log_set_json switches to one JSON object per line. */
void lwm2m_log_set_json(bool json);

void lwm2m__log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define lwm2m_log(level, ...)                                                  \
	do {                                                                   \
		if ((level) <= lwm2m_log_level) {                              \
			lwm2m__log((level), __VA_ARGS__);                      \
		}                                                              \
	} while (0)

/* lwm2m_log_quote copies a peer-controlled string into buf for logging:
 * non-printable bytes become '?', '"' and '\\' become '\'', and the result is
 * cut to size - 1 bytes with "..." when longer.  Returns buf. */
const char *lwm2m_log_quote(char *buf, size_t size, const char *s, size_t len);

#endif
