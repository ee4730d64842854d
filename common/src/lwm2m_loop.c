#include "lwm2m_loop.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lwm2m_signals {
	struct event *sigint, *sigterm;
	void (*on_stop)(void *);
	void *arg;
};

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct lwm2m_signals *signals = arg;

	signals->on_stop(signals->arg);
}

lwm2m_err
lwm2m_signals_new(struct event_base *base, void (*on_stop)(void *), void *arg,
                  struct lwm2m_signals **ret_signals)
{
	struct lwm2m_signals *s = calloc(1, sizeof *s);

	if (s == NULL) {
		return LWM2M_ENOMEM;
	}
	signal(SIGPIPE, SIG_IGN);
	s->on_stop = on_stop;
	s->arg = arg;
	s->sigint = evsignal_new(base, SIGINT, on_signal, s);
	s->sigterm = evsignal_new(base, SIGTERM, on_signal, s);
	if (s->sigint == NULL || s->sigterm == NULL ||
	    evsignal_add(s->sigint, NULL) != 0 ||
	    evsignal_add(s->sigterm, NULL) != 0) {
		lwm2m_signals_free(s);
		return LWM2M_EIO;
	}
	*ret_signals = s;
	return LWM2M_OK;
}

void
lwm2m_signals_free(struct lwm2m_signals *signals)
{
	if (signals == NULL) {
		return;
	}
	if (signals->sigint != NULL) {
		event_free(signals->sigint);
	}
	if (signals->sigterm != NULL) {
		event_free(signals->sigterm);
	}
	free(signals);
}

const char *
lwm2m_getenv(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : dflt;
}

lwm2m_err
lwm2m_parse_int(const char *text, long long min, long long max,
                long long *ret_value)
{
	char *end;
	long long v;

	if (text == NULL || *text == '\0') {
		return LWM2M_EINVAL;
	}
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		return LWM2M_EINVAL;
	}
	*ret_value = v;
	return LWM2M_OK;
}

struct event_base *
lwm2m_loop_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL) {
		return NULL;
	}
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}
