#include "lwm2m_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int lwm2m_log_level = LWM2M_LOG_INFO;
static const char *log_service = "lwds";
static bool log_json;

static const char *const level_names[] = {
	[LWM2M_LOG_ERR] = "err",       [LWM2M_LOG_WARNING] = "warning",
	[LWM2M_LOG_NOTICE] = "notice", [LWM2M_LOG_INFO] = "info",
	[LWM2M_LOG_DEBUG] = "debug",
};

void
lwm2m_log_init(const char *service, int level)
{
	log_service = service;
	lwm2m_log_level = level;
}

void
lwm2m_log_set_json(bool json)
{
	log_json = json;
}

int
lwm2m_log_parse_level(const char *text)
{
	if (text == NULL) {
		return -1;
	}
	for (int i = LWM2M_LOG_ERR; i <= LWM2M_LOG_DEBUG; i++) {
		if (strcmp(text, level_names[i]) == 0) {
			return i;
		}
	}
	if (text[0] >= '0' && text[0] <= '7' && text[1] == '\0') {
		int level = text[0] - '0';
		return level < LWM2M_LOG_ERR ? LWM2M_LOG_ERR : level;
	}
	return -1;
}

const char *
lwm2m_log_quote(char *buf, size_t size, const char *s, size_t len)
{
	size_t n = 0;

	if (size == 0) {
		return buf;
	}
	for (size_t i = 0; i < len && n + 1 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			c = '\'';
		} else if (c < 0x20 || c >= 0x7f) {
			c = '?';
		}
		buf[n++] = (char)c;
	}
	if (n < len && size > 4) {
		n = n < size - 4 ? n : size - 4;
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* json_escape writes s into out as the inside of a JSON string. */
static size_t
json_escape(char *out, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

void
lwm2m__log(int level, const char *fmt, ...)
{
	char msg[2048], ts[40];
	struct timeval tv;
	struct tm tm;
	va_list ap;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (level < LWM2M_LOG_ERR || level > LWM2M_LOG_DEBUG) {
		level = LWM2M_LOG_ERR;
	}
	if (log_json) {
		char esc[sizeof msg * 2];
		json_escape(esc, sizeof esc, msg);
		fprintf(stderr,
		        "{\"ts\":\"%s.%03ldZ\",\"svc\":\"%s\",\"level\":\"%s\","
		        "\"msg\":\"%s\"}\n",
		        ts, (long)tv.tv_usec / 1000, log_service,
		        level_names[level], esc);
	} else {
		fprintf(stderr, "%s.%03ldZ %s %s %s\n", ts,
		        (long)tv.tv_usec / 1000, log_service, level_names[level],
		        msg);
	}
}
