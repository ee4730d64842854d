/* redis_util.h - a private redis-server for the unit tests that need one
 * (header-only, like check_util.h): started on a free port before the
 * suite runs, stopped after it.  A test binary that cannot start one
 * fails: a skipped Redis test hides a broken install. */
#ifndef REDIS_UTIL_H
#define REDIS_UTIL_H

#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "check_util.h"
#include "lwm2m_redis.h"

/* the URL of the server started by redis_util_start */
static char redis_url[64];
static pid_t redis_pid = -1;

static inline int
redis_util_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		return -1;
	}
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* redis_util_start starts redis-server without persistence on a free
 * loopback port and waits (5 s at most) until it answers; false if not. */
static inline bool
redis_util_start(void)
{
	char port[16];
	int p = redis_util_free_port();
	redisContext *c = NULL;

	snprintf(port, sizeof(port), "%d", p);
	snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d", p);
	redis_pid = fork();
	if (redis_pid == 0) {
		if (freopen("/dev/null", "w", stdout) == NULL) {
			_exit(127);
		}
		execlp("redis-server", "redis-server", "--port", port, "--bind",
		       "127.0.0.1", "--save", "", "--appendonly", "no",
		       "--loglevel", "warning", NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && redis_pid > 0; i++) {
		if (lwm2m_redis_sync_connect(redis_url, &c) == LWM2M_OK) {
			redisFree(c);
			return true;
		}
		usleep(50 * 1000);
	}
	return false;
}

/* redis_util_stop stops the server redis_util_start started, if any. */
static inline void
redis_util_stop(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
	}
}

/* redis_util_on_ready is an lwm2m_redis_new ready callback that sets the
 * bool at arg. */
static inline void
redis_util_on_ready(struct lwm2m_redis *r, void *arg)
{
	*(bool *)arg = true;
}

/* redis_util_loop_until runs base until *done (10 s at most, then the
 * test fails). */
static inline void
redis_util_loop_until(struct event_base *base, const bool *done)
{
	for (int i = 0; i < 10000 && !*done; i++) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	ck_assert_msg(*done, "timed out");
}

/* redis_util_run runs every test of s with a redis-server of its own
 * (redis_url) and returns the process exit status: failure when the server
 * cannot start. */
static inline int
redis_util_run(Suite *s, const char *prog)
{
	int status;

	if (!redis_util_start()) {
		fprintf(stderr, "%s: cannot start redis-server\n", prog);
		redis_util_stop();
		return EXIT_FAILURE;
	}
	status = check_run(s);
	redis_util_stop();
	return status;
}

#endif
