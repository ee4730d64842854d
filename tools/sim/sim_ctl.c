/* sim_ctl.c - control commands (stdin, UDP port) and the stats line. */
#include "sim_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lwm2m_log.h"

#define SIM_CMD_MAX 512
#define SIM_STATS_MAX 65536

struct sim_ctl {
	struct sim_ctx *ctx;
	struct event *stdin_ev, *udp_ev;
	int udp_fd;
	char line[SIM_CMD_MAX];
	size_t line_len;
	bool line_overflow;
};

/* ---- stats ------------------------------------------------------------------
 */

void
sim_stats_count_path(struct sim_path_count *table, const char *path)
{
	size_t h = 5381, len = strlen(path);

	if (len >= sizeof table[0].path) {
		return;
	}
	for (size_t i = 0; i < len; i++) {
		h = h * 33 + (unsigned char)path[i];
	}
	for (size_t i = 0; i < SIM_STATS_PATHS; i++) {
		struct sim_path_count *e = &table[(h + i) % SIM_STATS_PATHS];

		if (e->n == 0) {
			memcpy(e->path, path, len + 1);
		}
		if (strcmp(e->path, path) == 0) {
			e->n++;
			return;
		}
	}
}

static size_t add(char *buf, size_t size, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t
add(char *buf, size_t size, size_t off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (off >= size) {
		return off;
	}
	va_start(ap, fmt);
	n = vsnprintf(buf + off, size - off, fmt, ap);
	va_end(ap);
	return n < 0 ? off : off + (size_t)n;
}

static size_t
paths_json(const struct sim_path_count *t, char *buf, size_t size, size_t off)
{
	bool first = true;

	off = add(buf, size, off, "{");
	for (size_t i = 0; i < SIM_STATS_PATHS; i++) {
		if (t[i].n > 0) {
			off = add(buf, size, off, "%s\"%s\":%llu",
			          first ? "" : ",", t[i].path,
			          (unsigned long long)t[i].n);
			first = false;
		}
	}
	return add(buf, size, off, "}");
}

static unsigned
count_registered(const struct sim_ctx *ctx)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ctx->n_started; i++) {
		enum sim_state st = ctx->clients[i].state;

		n += st == SIM_ST_REGISTERED || st == SIM_ST_UPDATING;
	}
	return n;
}

/* shared_json adds the counters of the shared sockets (sim_udp.c). */
static size_t
shared_json(const struct sim_stats *s, char *buf, size_t size, size_t off)
{
	return add(buf, size, off,
	           ",\"shared\":{\"malformed\":%llu,\"foreign\":%llu,"
	           "\"muted\":%llu,\"retransmits\":%llu,\"duplicates\":%llu,"
	           "\"timeouts\":%llu,\"send_errors\":%llu}",
	           (unsigned long long)s->udp_malformed,
	           (unsigned long long)s->udp_foreign,
	           (unsigned long long)s->udp_muted,
	           (unsigned long long)s->udp_retransmits,
	           (unsigned long long)s->udp_duplicates,
	           (unsigned long long)s->udp_timeouts,
	           (unsigned long long)s->udp_send_errors);
}

size_t
sim_stats_json(const struct sim_ctx *ctx, char *buf, size_t size)
{
	static const char *ops[SIM_K_MAX] = {
	    "read",    "discover",       "write",           "write_attributes",
	    "execute", "create",         "delete",          "observe",
	    "cancel",  "read_composite", "write_composite", "other"};
	const struct sim_stats *s = &ctx->stats;
	size_t off = add(
	    buf, size, 0,
	    "{\"clients\":%u,\"registered\":%u,\"registrations\":"
	    "%llu,\"registration_failures\":%llu,\"updates\":%llu,"
	    "\"update_failures\":%llu,\"reregistrations\":%llu,"
	    "\"deregistrations\":%llu,\"notifications\":%llu,"
	    "\"reg_latency_avg_ms\":%.3f,\"reg_latency_max_ms\":%llu,"
	    "\"requests\":%llu,\"ops\":{",
	    ctx->n_clients, count_registered(ctx),
	    (unsigned long long)s->registrations,
	    (unsigned long long)s->reg_failures, (unsigned long long)s->updates,
	    (unsigned long long)s->update_failures,
	    (unsigned long long)s->reregistrations,
	    (unsigned long long)s->deregistrations,
	    (unsigned long long)s->notifications,
	    s->registrations > 0
	        ? (double)s->reg_lat_sum_ms / (double)s->registrations
	        : 0.0,
	    (unsigned long long)s->reg_lat_max_ms,
	    (unsigned long long)s->requests);

	for (int i = 0; i < SIM_K_MAX; i++) {
		off = add(buf, size, off, "%s\"%s\":%llu", i > 0 ? "," : "",
		          ops[i], (unsigned long long)s->ops[i]);
	}
	off = add(buf, size, off, "},\"paths\":");
	off = paths_json(s->paths, buf, size, off);
	off = add(buf, size, off, ",\"observe_paths\":");
	off = paths_json(s->obs_paths, buf, size, off);
	if (ctx->udp != NULL) {
		off = shared_json(s, buf, size, off);
	}
	off = add(buf, size, off, "}");
	if (off >= size) {
		snprintf(buf, size, "{\"error\":\"stats too large\"}");
		return strlen(buf);
	}
	return off;
}

/* ---- commands
 * ------------------------------------------------------------------ */

typedef lwm2m_err (*client_fn)(struct sim_client *c, const char *arg);

static lwm2m_err
parse_onoff(const char *arg, bool *ret)
{
	if (arg != NULL && strcmp(arg, "on") == 0) {
		*ret = true;
	} else if (arg != NULL && strcmp(arg, "off") == 0) {
		*ret = false;
	} else {
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

static lwm2m_err
cmd_mute(struct sim_client *c, const char *arg)
{
	bool on;

	if (parse_onoff(arg, &on) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	return sim_client_mute(c, on);
}

static lwm2m_err
cmd_sleep(struct sim_client *c, const char *arg)
{
	bool on;
	lwm2m_err err;

	if (parse_onoff(arg, &on) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	err = sim_client_mute(c, on);
	if (err != LWM2M_OK) {
		return err;
	}
	c->sleeping = on;
	if (!on) {
		sim_client_update(c);
	}
	return LWM2M_OK;
}

static lwm2m_err
cmd_update(struct sim_client *c, const char *arg)
{
	sim_client_update(c);
	return LWM2M_OK;
}

static lwm2m_err
cmd_deregister(struct sim_client *c, const char *arg)
{
	sim_client_deregister(c);
	return LWM2M_OK;
}

static lwm2m_err
cmd_register(struct sim_client *c, const char *arg)
{
	if (c->state == SIM_ST_IDLE) {
		return LWM2M_OK;
	}
	sim_client_reregister(c);
	return LWM2M_OK;
}

/* cmd_set: arg is "<path> <value>"; the value may hold spaces. */
static lwm2m_err
cmd_set(struct sim_client *c, const char *arg)
{
	const char *sp = arg != NULL ? strchr(arg, ' ') : NULL;
	struct lwm2m_path p;
	lwm2m_err err;

	if (sp == NULL ||
	    lwm2m_path_parse(arg, (size_t)(sp - arg), &p) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	err = sim_model_set_text(c->model, &p, sp + 1);
	if (err == LWM2M_OK) {
		sim_dm_check_obs(c);
	}
	return err;
}

/* cmd_fail: arg is a CoAP code "4.03" (answer every device-management
 * request with it) or "off". */
static lwm2m_err
cmd_fail(struct sim_client *c, const char *arg)
{
	unsigned cls, detail;
	char end;

	if (arg != NULL && strcmp(arg, "off") == 0) {
		c->fail_code = 0;
		return LWM2M_OK;
	}
	if (arg == NULL || sscanf(arg, "%u.%u%c", &cls, &detail, &end) != 2 ||
	    cls < 2 || cls > 5 || detail > 31) {
		return LWM2M_EINVAL;
	}
	c->fail_code = (uint8_t)(cls << 5 | detail);
	return LWM2M_OK;
}

static const struct {
	const char *name;
	client_fn fn;
} client_cmds[] = {
    {"fail", cmd_fail},         {"set", cmd_set},
    {"mute", cmd_mute},         {"sleep", cmd_sleep},
    {"update", cmd_update},     {"deregister", cmd_deregister},
    {"register", cmd_register},
};

static struct sim_client *
find_client(struct sim_ctx *ctx, const char *ep)
{
	for (unsigned i = 0; i < ctx->n_clients; i++) {
		if (strcmp(ctx->clients[i].ep, ep) == 0) {
			return &ctx->clients[i];
		}
	}
	return NULL;
}

/* run_client_cmd applies fn to the client named target or to all ("*"). */
static void
run_client_cmd(struct sim_ctx *ctx, client_fn fn, const char *target,
               const char *arg, char *out, size_t size)
{
	unsigned ok = 0, failed = 0;
	lwm2m_err last = LWM2M_OK;

	if (strcmp(target, "*") != 0) {
		struct sim_client *c = find_client(ctx, target);

		if (c == NULL) {
			snprintf(out, size, "error no such endpoint\n");
			return;
		}
		last = fn(c, arg);
		ok = last == LWM2M_OK;
		failed = !ok;
	} else {
		for (unsigned i = 0; i < ctx->n_clients; i++) {
			lwm2m_err err = fn(&ctx->clients[i], arg);

			ok += err == LWM2M_OK;
			failed += err != LWM2M_OK;
			last = err != LWM2M_OK ? err : last;
		}
	}
	if (failed > 0) {
		snprintf(out, size, "error %s (%u failed, %u ok)\n",
		         lwm2m_strerror(last), failed, ok);
	} else {
		snprintf(out, size, "ok %u\n", ok);
	}
}

bool
sim_ctx_command(struct sim_ctx *ctx, const char *line, char *out, size_t size)
{
	char cmd[16], target[SIM_EP_MAX];
	int used = 0;

	out[0] = '\0';
	if (sscanf(line, "%15s%n", cmd, &used) != 1) {
		return true;
	}
	if (strcmp(cmd, "quit") == 0) {
		snprintf(out, size, "ok\n");
		sim_ctx_stop(ctx);
		return false;
	}
	if (strcmp(cmd, "stats") == 0) {
		size_t n = sim_stats_json(ctx, out, size - 1);

		snprintf(out + n, size - n, "\n");
		return true;
	}
	for (size_t i = 0; i < sizeof client_cmds / sizeof client_cmds[0];
	     i++) {
		const char *rest = line + used;
		int used2 = 0;

		if (strcmp(cmd, client_cmds[i].name) != 0) {
			continue;
		}
		if (sscanf(rest, " %63s%n", target, &used2) != 1) {
			snprintf(out, size, "error missing endpoint\n");
			return true;
		}
		rest += used2;
		rest += strspn(rest, " ");
		run_client_cmd(ctx, client_cmds[i].fn, target,
		               *rest != '\0' ? rest : NULL, out, size);
		return true;
	}
	snprintf(out, size, "error unknown command \"%.15s\"\n", cmd);
	return true;
}

/* ---- transports
 * -------------------------------------------------------------- */

static void
run_line(struct sim_ctl *ctl, char *line, char *out, size_t size)
{
	size_t len = strcspn(line, "\r\n");

	line[len] = '\0';
	sim_ctx_command(ctl->ctx, line, out, size);
}

static void
on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct sim_ctl *ctl = arg;
	char buf[4096], *out = malloc(SIM_STATS_MAX);
	ssize_t n = read(fd, buf, sizeof buf);

	if (n <= 0 || out == NULL) {
		event_del(ctl->stdin_ev);
		free(out);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (ctl->line_len + 1 < sizeof ctl->line) {
				ctl->line[ctl->line_len++] = buf[i];
			} else {
				ctl->line_overflow = true;
			}
			continue;
		}
		ctl->line[ctl->line_len] = '\0';
		if (ctl->line_overflow) {
			snprintf(out, SIM_STATS_MAX, "error line too long\n");
		} else {
			run_line(ctl, ctl->line, out, SIM_STATS_MAX);
		}
		fputs(out, stdout);
		fflush(stdout);
		ctl->line_len = 0;
		ctl->line_overflow = false;
	}
	free(out);
}

static void
on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct sim_ctl *ctl = arg;
	char line[SIM_CMD_MAX + 1], *out = malloc(SIM_STATS_MAX);
	struct sockaddr_storage from;
	socklen_t flen = sizeof from;
	ssize_t n =
	    recvfrom(fd, line, SIM_CMD_MAX, 0, (struct sockaddr *)&from, &flen);

	if (n < 0 || out == NULL) {
		free(out);
		return;
	}
	line[n] = '\0';
	run_line(ctl, line, out, SIM_STATS_MAX);
	sendto(fd, out, strlen(out), 0, (struct sockaddr *)&from, flen);
	free(out);
}

static lwm2m_err
udp_open(struct sim_ctl *ctl, unsigned port)
{
	struct sockaddr_in sin = {0};

	ctl->udp_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (ctl->udp_fd < 0) {
		return LWM2M_EIO;
	}
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ctl->udp_fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		lwm2m_log(LWM2M_LOG_ERR, "control port %u: %s", port,
		          strerror(errno));
		return LWM2M_EIO;
	}
	evutil_make_socket_nonblocking(ctl->udp_fd);
	return LWM2M_OK;
}

/* stdin_pollable is false for regular files and /dev/null, which epoll
 * refuses. */
static bool
stdin_pollable(void)
{
	struct stat st;

	if (fstat(0, &st) != 0) {
		return false;
	}
	return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(0);
}

lwm2m_err
sim_ctl_start(struct sim_ctx *ctx, struct event_base *base,
              const struct sim_opts *o, struct sim_ctl **ret_ctl)
{
	struct sim_ctl *ctl = calloc(1, sizeof *ctl);

	if (ctl == NULL) {
		return LWM2M_ENOMEM;
	}
	ctl->ctx = ctx;
	ctl->udp_fd = -1;
	if (o->control_stdin && stdin_pollable()) {
		ctl->stdin_ev =
		    event_new(base, 0, EV_READ | EV_PERSIST, on_stdin, ctl);
		if (ctl->stdin_ev == NULL || event_add(ctl->stdin_ev, NULL)) {
			lwm2m_log(LWM2M_LOG_NOTICE, "stdin cannot be polled, "
			                            "no stdin commands");
		}
	}
	if (o->control_port != 0) {
		if (udp_open(ctl, o->control_port) != LWM2M_OK ||
		    (ctl->udp_ev =
		         event_new(base, ctl->udp_fd, EV_READ | EV_PERSIST,
		                   on_udp, ctl)) == NULL ||
		    event_add(ctl->udp_ev, NULL) != 0) {
			sim_ctl_stop(ctl);
			return LWM2M_EIO;
		}
	}
	*ret_ctl = ctl;
	return LWM2M_OK;
}

void
sim_ctl_stop(struct sim_ctl *ctl)
{
	if (ctl == NULL) {
		return;
	}
	if (ctl->stdin_ev != NULL) {
		event_free(ctl->stdin_ev);
	}
	if (ctl->udp_ev != NULL) {
		event_free(ctl->udp_ev);
	}
	if (ctl->udp_fd >= 0) {
		close(ctl->udp_fd);
	}
	free(ctl);
}
