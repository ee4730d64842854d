#include "lwm2m_redis.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>

#include "lwm2m_id.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 2000
#define MASTER_NAME_MAX (LWM2M_REDIS_MASTER_MAX + 1)

/* Redis Sentinel configuration (LWDS_REDIS_SENTINELS, LWDS_REDIS_MASTER):
 * when set, every (re)connect first asks the sentinels in turn for the
 * master's address, and a connection whose ROLE is not master is dropped. */
struct sentinel_cfg {
	int n;
	struct lwm2m_redis_url addr[LWM2M_REDIS_SENTINELS_MAX];
	char master[MASTER_NAME_MAX];
};

struct lwm2m_redis {
	struct event_base *base;
	struct lwm2m_redis_url url;
	redisAsyncContext *ac; /* NULL while disconnected */
	bool ready;            /* connected and AUTH/SELECT done */
	bool closing;
	int backoff_ms;
	struct event *retry_ev;
	lwm2m_redis_ready_cb ready_cb;
	void *ready_arg;
	struct sentinel_cfg sentinel;
	redisAsyncContext *sac; /* sentinel query in progress, or NULL */
	int sentinel_idx;       /* sentinel asked now */
	bool resolved;          /* the sentinel answered with a master */
	struct {
		const void *key;
		void *value;
		void (*free_fn)(void *);
	} data[LWM2M_REDIS_DATA_MAX];    /* lwm2m_redis_set_data */
	struct lwm2m_spares spare_calls; /* answered commands' calls */
	/* the spare reply objects of ac's reader, and of those before it
	 * (each freed with its context, before this is) */
	struct lwm2m__redis_replies replies;
	size_t obuf_last; /* bytes of ac's last write, so far (reserve_obuf) */
	char label[48];   /* "redis" or "redis (<name>)", for the log */
};

static void redis_connect(struct lwm2m_redis *redis);

static bool
copy_field(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size) {
		return false;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
	return true;
}

static lwm2m_err
parse_db(const char *s, int *ret_db)
{
	char *end;
	long db = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || db < 0 || db > 65535) {
		return LWM2M_EINVAL;
	}
	*ret_db = (int)db;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_redis_url_parse(const char *url, struct lwm2m_redis_url *ret_url)
{
	struct lwm2m_redis_url u = {.port = 6379};
	const char *p = url, *at, *slash, *colon, *hostend;

	if (url == NULL || *url == '\0') {
		return LWM2M_EINVAL;
	}
	if (strncmp(p, "unix://", 7) == 0) {
		const char *q = strchr(p + 7, '?');
		size_t len = q ? (size_t)(q - p - 7) : strlen(p + 7);
		if (len == 0 ||
		    !copy_field(u.path, sizeof u.path, p + 7, len)) {
			return LWM2M_EINVAL;
		}
		if (q != NULL && (strncmp(q, "?db=", 4) != 0 ||
		                  parse_db(q + 4, &u.db) != LWM2M_OK)) {
			return LWM2M_EINVAL;
		}
		*ret_url = u;
		return LWM2M_OK;
	}
	if (strncmp(p, "redis://", 8) == 0) {
		p += 8;
	}
	slash = strchr(p, '/');
	at = memchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
	if (at != NULL) {
		const char *pw = memchr(p, ':', (size_t)(at - p));
		pw = pw ? pw + 1 : p;
		if (!copy_field(u.password, sizeof u.password, pw,
		                (size_t)(at - pw))) {
			return LWM2M_EINVAL;
		}
		p = at + 1;
	}
	hostend = slash ? slash : p + strlen(p);
	colon = memchr(p, ':', (size_t)(hostend - p));
	if (colon != NULL) {
		char port[8];
		char *end;
		long v;
		if (!copy_field(port, sizeof port, colon + 1,
		                (size_t)(hostend - colon - 1))) {
			return LWM2M_EINVAL;
		}
		v = strtol(port, &end, 10);
		if (*port == '\0' || *end != '\0' || v < 1 || v > 65535) {
			return LWM2M_EINVAL;
		}
		u.port = (int)v;
		hostend = colon;
	}
	if (hostend == p ||
	    !copy_field(u.host, sizeof u.host, p, (size_t)(hostend - p))) {
		return LWM2M_EINVAL;
	}
	if (slash != NULL && slash[1] != '\0' &&
	    parse_db(slash + 1, &u.db) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	*ret_url = u;
	return LWM2M_OK;
}

static void
schedule_retry(struct lwm2m_redis *redis)
{
	struct timeval tv = {redis->backoff_ms / 1000,
	                     (redis->backoff_ms % 1000) * 1000};

	if (redis->closing) {
		return;
	}
	evtimer_add(redis->retry_ev, &tv);
	redis->backoff_ms *= 2;
	if (redis->backoff_ms > RECONNECT_MAX_MS) {
		redis->backoff_ms = RECONNECT_MAX_MS;
	}
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	redis_connect(arg);
}

static void
on_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct lwm2m_redis *redis = privdata;
	redisReply *reply = r;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		lwm2m_log(LWM2M_LOG_ERR, "%s: AUTH/SELECT failed: %s",
		          redis->label, reply ? reply->str : "connection lost");
		return;
	}
	if (!redis->ready && redis->ac == ac) {
		redis->ready = true;
		redis->backoff_ms = RECONNECT_MIN_MS;
		lwm2m_log(LWM2M_LOG_NOTICE, "%s: connected", redis->label);
		if (redis->ready_cb != NULL) {
			redis->ready_cb(redis, redis->ready_arg);
		}
	}
}

/* With sentinels: the address may be stale (a failover in progress), so a
 * connection is used only once the server says it is the master. */
static void
on_role_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct lwm2m_redis *redis = privdata;
	redisReply *reply = r;

	if (reply == NULL) {
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(reply->element[0]->str, "master") != 0) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "%s: %s:%d is not the master, asking the sentinels "
		          "again",
		          redis->label, redis->url.host, redis->url.port);
		redisAsyncDisconnect(ac);
		return;
	}
	redisAsyncCommand(ac, on_setup_reply, redis, "SELECT %d",
	                  redis->url.db);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct lwm2m_redis *redis = ac->data;

	if (status != REDIS_OK) {
		lwm2m_log(LWM2M_LOG_WARNING, "%s: connect failed: %s",
		          redis->label, ac->errstr);
		redis->ac = NULL; /* hiredis frees ac after this callback */
		schedule_retry(redis);
		return;
	}
	redisAsyncContext *mac = (redisAsyncContext *)ac;
	if (redis->url.password[0] != '\0') {
		redisAsyncCommand(mac, on_setup_reply, redis, "AUTH %s",
		                  redis->url.password);
	}
	if (redis->sentinel.n > 0) {
		redisAsyncCommand(mac, on_role_reply, redis, "ROLE");
		return;
	}
	/* SELECT always runs: its reply marks the connection ready. */
	redisAsyncCommand(mac, on_setup_reply, redis, "SELECT %d",
	                  redis->url.db);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct lwm2m_redis *redis = ac->data;

	if (redis->ac == ac) {
		redis->ac = NULL;
		redis->ready = false;
	}
	if (!redis->closing) {
		lwm2m_log(
		    LWM2M_LOG_WARNING, "%s: connection lost (%s), reconnecting",
		    redis->label, status == REDIS_OK ? "closed" : ac->errstr);
		schedule_retry(redis);
	}
}

/* A hiredis context's events on the loop, as hiredis's libevent adapter
 * makes them, but a command adds the write event only when it is not
 * pending already: hiredis asks for it after every command, and
 * event_add of a pending event cost ~90 instructions a command (coap-gw
 * sends four per Register; bench/README.md, ninth storm round). */
struct ev_glue {
	redisAsyncContext *ac;
	struct event *rev, *wev;
	bool writing; /* wev is pending */
};

static void
glue_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ev_glue *g = arg;

	redisAsyncHandleRead(g->ac);
}

static void
glue_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct ev_glue *g = arg;

	g->writing = false; /* libevent removed it: not EV_PERSIST */
	redisAsyncHandleWrite(g->ac);
}

static void
glue_add_read(void *arg)
{
	struct ev_glue *g = arg;

	event_add(g->rev, NULL);
}

static void
glue_del_read(void *arg)
{
	struct ev_glue *g = arg;

	event_del(g->rev);
}

static void
glue_add_write(void *arg)
{
	struct ev_glue *g = arg;

	if (!g->writing) {
		g->writing = event_add(g->wev, NULL) == 0;
	}
}

static void
glue_del_write(void *arg)
{
	struct ev_glue *g = arg;

	g->writing = false;
	event_del(g->wev);
}

static void
glue_cleanup(void *arg)
{
	struct ev_glue *g = arg;

	event_free(g->rev);
	event_free(g->wev);
	free(g);
}

/* puts ac's socket on base (both events added, as hiredis's adapter does:
 * the write event tells when a connect completes); redisAsyncFree undoes
 * it.  LWM2M_ENOMEM leaves ac as it was. */
static lwm2m_err
attach(redisAsyncContext *ac, struct event_base *base)
{
	struct ev_glue *g = calloc(1, sizeof *g);

	if (g == NULL) {
		return LWM2M_ENOMEM;
	}
	g->ac = ac;
	g->rev = event_new(base, ac->c.fd, EV_READ, glue_on_read, g);
	g->wev = event_new(base, ac->c.fd, EV_WRITE, glue_on_write, g);
	if (g->rev == NULL || g->wev == NULL) {
		if (g->rev != NULL) {
			event_free(g->rev);
		}
		if (g->wev != NULL) {
			event_free(g->wev);
		}
		free(g);
		return LWM2M_ENOMEM;
	}
	ac->ev.data = g;
	ac->ev.addRead = glue_add_read;
	ac->ev.delRead = glue_del_read;
	ac->ev.addWrite = glue_add_write;
	ac->ev.delWrite = glue_del_write;
	ac->ev.cleanup = glue_cleanup;
	event_add(g->rev, NULL);
	g->writing = event_add(g->wev, NULL) == 0;
	return LWM2M_OK;
}

static void
connect_master(struct lwm2m_redis *redis)
{
	redisAsyncContext *ac;

	if (redis->url.path[0] != '\0') {
		ac = redisAsyncConnectUnix(redis->url.path);
	} else {
		ac = redisAsyncConnect(redis->url.host, redis->url.port);
	}
	if (ac == NULL || ac->err) {
		lwm2m_log(LWM2M_LOG_WARNING, "%s: connect failed: %s",
		          redis->label, ac ? ac->errstr : "out of memory");
		if (ac != NULL) {
			redisAsyncFree(ac);
		}
		schedule_retry(redis);
		return;
	}
	if (attach(ac, redis->base) != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_WARNING, "%s: connect failed: %s",
		          redis->label, "out of memory");
		redisAsyncFree(ac);
		schedule_retry(redis);
		return;
	}
	ac->data = redis;
	lwm2m__redis_replies_attach(&redis->replies, ac->c.reader);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	redis->ac = ac;
}

static void sentinel_ask(struct lwm2m_redis *redis);

static void
sentinel_next(struct lwm2m_redis *redis)
{
	redis->sentinel_idx++;
	if (redis->sentinel_idx < redis->sentinel.n) {
		sentinel_ask(redis);
		return;
	}
	lwm2m_log(LWM2M_LOG_WARNING, "%s: no sentinel named master \"%s\"",
	          redis->label, redis->sentinel.master);
	schedule_retry(redis);
}

/* Takes host and port from a get-master-addr-by-name reply. */
static bool
master_from_reply(const redisReply *reply, struct lwm2m_redis_url *url)
{
	long long port;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_STRING ||
	    reply->element[0]->len == 0 ||
	    reply->element[0]->len >= sizeof url->host ||
	    lwm2m_parse_int(reply->element[1]->str, 1, 65535, &port) !=
	        LWM2M_OK) {
		return false;
	}
	memcpy(url->host, reply->element[0]->str, reply->element[0]->len + 1);
	url->port = (int)port;
	return true;
}

static void
on_sentinel_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct lwm2m_redis *redis = privdata;

	if (r == NULL) {
		return; /* the disconnect callback decides */
	}
	redis->resolved = master_from_reply(r, &redis->url);
	redisAsyncDisconnect(ac);
}

static void
on_sentinel_connect(const redisAsyncContext *ac, int status)
{
	struct lwm2m_redis *redis = ac->data;

	if (status == REDIS_OK) {
		return;
	}
	redis->sac = NULL; /* hiredis frees ac after this callback */
	if (!redis->closing) {
		sentinel_next(redis);
	}
}

static void
on_sentinel_disconnect(const redisAsyncContext *ac, int status)
{
	struct lwm2m_redis *redis = ac->data;

	redis->sac = NULL;
	if (redis->closing) {
		return;
	}
	if (!redis->resolved) {
		sentinel_next(redis);
		return;
	}
	lwm2m_log(LWM2M_LOG_INFO, "%s: sentinel names %s:%d as master",
	          redis->label, redis->url.host, redis->url.port);
	connect_master(redis);
}

static void
sentinel_ask(struct lwm2m_redis *redis)
{
	const struct lwm2m_redis_url *s =
	    &redis->sentinel.addr[redis->sentinel_idx];
	redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);

	if (ac == NULL || ac->err) {
		if (ac != NULL) {
			redisAsyncFree(ac);
		}
		sentinel_next(redis);
		return;
	}
	if (attach(ac, redis->base) != LWM2M_OK) {
		redisAsyncFree(ac);
		sentinel_next(redis);
		return;
	}
	ac->data = redis;
	redisAsyncSetConnectCallback(ac, on_sentinel_connect);
	redisAsyncSetDisconnectCallback(ac, on_sentinel_disconnect);
	redis->sac = ac;
	redis->resolved = false;
	redisAsyncCommand(ac, on_sentinel_reply, redis,
	                  "SENTINEL get-master-addr-by-name %s",
	                  redis->sentinel.master);
}

static void
redis_connect(struct lwm2m_redis *redis)
{
	if (redis->sentinel.n == 0) {
		connect_master(redis);
		return;
	}
	redis->sentinel_idx = 0;
	sentinel_ask(redis);
}

/* cfg from the sentinel list p (host:port,...; NULL: none) and master.
 * n stays 0 without sentinels. */
static lwm2m_err
sentinel_parse(const char *p, const char *master, struct sentinel_cfg *cfg)
{
	char item[300];

	memset(cfg, 0, sizeof *cfg);
	if (p == NULL) {
		return LWM2M_OK;
	}
	if (strlen(master) >= sizeof cfg->master) {
		return LWM2M_EINVAL;
	}
	strcpy(cfg->master, master);
	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (cfg->n == LWM2M_REDIS_SENTINELS_MAX || len == 0 ||
		    len >= sizeof item) {
			return LWM2M_EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (lwm2m_redis_url_parse(item, &cfg->addr[cfg->n]) !=
		        LWM2M_OK ||
		    cfg->addr[cfg->n].path[0] != '\0') {
			return LWM2M_EINVAL;
		}
		cfg->n++;
		p = comma ? comma + 1 : p + len;
	}
	return cfg->n > 0 ? LWM2M_OK : LWM2M_EINVAL;
}

/* Reads LWDS_REDIS_SENTINELS and LWDS_REDIS_MASTER (default "mymaster"),
 * which the services' option tables checked at start
 * (LWM2M_CLI_OPT_REDIS_SENTINELS), and lwds-objdef reads as they are. */
static lwm2m_err
sentinel_config(struct sentinel_cfg *cfg)
{
	return sentinel_parse(lwm2m_getenv("LWDS_REDIS_SENTINELS", NULL),
	                      lwm2m_getenv("LWDS_REDIS_MASTER", "mymaster"),
	                      cfg);
}

const char *
lwm2m_redis_sentinels_check(const char *list)
{
	struct sentinel_cfg cfg;

	if (sentinel_parse(list, "mymaster", &cfg) != LWM2M_OK) {
		return "not host:port[,host:port...] (at most " LWM2M_CLI_STR(
		    LWM2M_REDIS_SENTINELS_MAX) ")";
	}
	return NULL;
}

lwm2m_err
lwm2m_redis_new(struct event_base *base, const char *url,
                lwm2m_redis_ready_cb ready, void *ready_arg,
                struct lwm2m_redis **ret_redis)
{
	struct lwm2m_redis *redis = calloc(1, sizeof *redis);

	if (redis == NULL) {
		return LWM2M_ENOMEM;
	}
	snprintf(redis->label, sizeof redis->label, "redis");
	if (lwm2m_redis_url_parse(url, &redis->url) != LWM2M_OK ||
	    sentinel_config(&redis->sentinel) != LWM2M_OK ||
	    (redis->sentinel.n > 0 && redis->url.path[0] != '\0')) {
		lwm2m_log(LWM2M_LOG_ERR, "%s: bad URL or sentinel list",
		          redis->label);
		free(redis);
		return LWM2M_EINVAL;
	}
	redis->base = base;
	redis->ready_cb = ready;
	redis->ready_arg = ready_arg;
	redis->backoff_ms = RECONNECT_MIN_MS;
	redis->retry_ev = evtimer_new(base, on_retry, redis);
	if (redis->retry_ev == NULL) {
		free(redis);
		return LWM2M_ENOMEM;
	}
	redis_connect(redis);
	*ret_redis = redis;
	return LWM2M_OK;
}

void
lwm2m_redis_set_name(struct lwm2m_redis *redis, const char *name)
{
	snprintf(redis->label, sizeof redis->label, "redis (%s)", name);
}

/* How long lwm2m_redis_free waits for the socket to take what is buffered. */
#define FREE_WRITE_MS 1000

/* Sends what hiredis still buffers for ac: commands issued since the loop
 * last wrote (a gateway's last metrics, say), which the stopping loop will
 * never send.  Blocks at most FREE_WRITE_MS, only on the way out; Redis runs
 * what it has read although the connection closes right after. */
static void
write_buffered(redisAsyncContext *ac)
{
	redisContext *c = &ac->c;
	int64_t deadline = lwm2m_now_ms() + FREE_WRITE_MS;
	int done = 0;

	if (!(c->flags & REDIS_CONNECTED)) {
		return;
	}
	while (redisBufferWrite(c, &done) == REDIS_OK && !done) {
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};
		int64_t left = deadline - lwm2m_now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			return;
		}
	}
}

void
lwm2m_redis_free(struct lwm2m_redis *redis)
{
	if (redis == NULL) {
		return;
	}
	redis->closing = true;
	if (redis->sac != NULL) {
		redisAsyncContext *sac = redis->sac;
		redis->sac = NULL;
		redisAsyncFree(sac);
	}
	if (redis->ac != NULL) {
		redisAsyncContext *ac = redis->ac;
		redis->ac = NULL;
		write_buffered(ac);
		redisAsyncFree(ac);
	}
	event_free(redis->retry_ev);
	lwm2m_spares_fini(&redis->spare_calls);
	lwm2m__redis_replies_fini(&redis->replies);
	for (int i = 0; i < LWM2M_REDIS_DATA_MAX; i++) {
		if (redis->data[i].key != NULL &&
		    redis->data[i].free_fn != NULL) {
			redis->data[i].free_fn(redis->data[i].value);
		}
	}
	free(redis);
}

void *
lwm2m_redis_data(const struct lwm2m_redis *redis, const void *key)
{
	for (int i = 0; i < LWM2M_REDIS_DATA_MAX; i++) {
		if (redis->data[i].key == key) {
			return redis->data[i].value;
		}
	}
	return NULL;
}

lwm2m_err
lwm2m_redis_set_data(struct lwm2m_redis *redis, const void *key, void *value,
                     void (*free_fn)(void *))
{
	int free_slot = -1;

	for (int i = 0; i < LWM2M_REDIS_DATA_MAX; i++) {
		if (redis->data[i].key == key) {
			if (redis->data[i].free_fn != NULL) {
				redis->data[i].free_fn(redis->data[i].value);
			}
			free_slot = i;
			break;
		}
		if (redis->data[i].key == NULL && free_slot < 0) {
			free_slot = i;
		}
	}
	if (free_slot < 0) {
		return LWM2M_ENOMEM;
	}
	redis->data[free_slot].key = key;
	redis->data[free_slot].value = value;
	redis->data[free_slot].free_fn = free_fn;
	return LWM2M_OK;
}

bool
lwm2m_redis_connected(const struct lwm2m_redis *redis)
{
	return redis->ready && redis->ac != NULL;
}

bool
lwm2m_redis_reply_int(const redisReply *reply, long long v)
{
	return reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	       reply->integer == v;
}

const redisReply *
lwm2m_redis_field(const redisReply *fields, const char *name)
{
	if (fields == NULL || fields->type != REDIS_REPLY_ARRAY) {
		return NULL;
	}
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i];
		const redisReply *v = fields->element[i + 1];

		if (k->type == REDIS_REPLY_STRING &&
		    v->type == REDIS_REPLY_STRING &&
		    strcmp(k->str, name) == 0) {
			return v;
		}
	}
	return NULL;
}

/* ---- reply objects -------------------------------------------------------
 *
 * hiredis callocs each reply and frees it after its callback: ~280
 * instructions a reply in coap-gw's storm, five replies per Register
 * (callgrind, bench/README.md, eighth storm round).  Every top-level
 * integer or nil reply of an attached reader is a struct
 * lwm2m__redis_spare, so free_reply tells ours from hiredis's by the type
 * alone: a top-level reply of another type, and every element of an array,
 * is hiredis's, freed by freeReplyObject (its default freeObject, which
 * frees an array's elements itself, without the reader's functions). */

/* Spare replies kept per connection at most. */
#define SPARE_REPLIES_MAX 4096

struct lwm2m__redis_spare {
	redisReply r;                      /* first: hiredis sees a reply */
	struct lwm2m__redis_replies *pool; /* the reader's */
};

/* a zeroed top-level reply of type from the reader's pool (task->privdata) */
static redisReply *
spare_take(const redisReadTask *task, int type)
{
	struct lwm2m__redis_replies *pool = task->privdata;
	struct lwm2m__redis_spare *sp = lwm2m_spares_take(&pool->spares);

	if (sp == NULL && (sp = malloc(sizeof *sp)) == NULL) {
		return NULL;
	}
	memset(&sp->r, 0, sizeof sp->r);
	sp->r.type = type;
	sp->pool = pool;
	return &sp->r;
}

static void *
create_integer(const redisReadTask *task, long long value)
{
	const struct lwm2m__redis_replies *pool = task->privdata;
	redisReply *r;

	if (task->parent != NULL) {
		return pool->defaults.createInteger(task, value);
	}
	r = spare_take(task, REDIS_REPLY_INTEGER);
	if (r != NULL) {
		r->integer = value;
	}
	return r;
}

static void *
create_nil(const redisReadTask *task)
{
	const struct lwm2m__redis_replies *pool = task->privdata;

	if (task->parent != NULL) {
		return pool->defaults.createNil(task);
	}
	return spare_take(task, REDIS_REPLY_NIL);
}

static void
free_reply(void *obj)
{
	redisReply *r = obj;
	struct lwm2m__redis_spare *sp;

	if (r == NULL) {
		return;
	}
	if (r->type != REDIS_REPLY_INTEGER && r->type != REDIS_REPLY_NIL) {
		freeReplyObject(r);
		return;
	}
	sp = (struct lwm2m__redis_spare *)r;
	lwm2m_spares_put(&sp->pool->spares, sp, SPARE_REPLIES_MAX);
}

void
lwm2m__redis_replies_attach(struct lwm2m__redis_replies *replies,
                            redisReader *reader)
{
	replies->defaults = *reader->fn;
	replies->fns = *reader->fn;
	replies->fns.createInteger = create_integer;
	replies->fns.createNil = create_nil;
	replies->fns.freeObject = free_reply;
	reader->fn = &replies->fns;
	reader->privdata = replies;
}

void
lwm2m__redis_replies_fini(struct lwm2m__redis_replies *replies)
{
	if (replies != NULL) {
		lwm2m_spares_fini(&replies->spares);
	}
}

/* ---- commands ------------------------------------------------------------ */

struct cmd_call {
	struct lwm2m_redis *redis;
	lwm2m_redis_cb cb;
	void *arg;
};

/* Answered commands' calls kept for reuse: with more commands in flight
 * than glibc's per-thread cache holds (7 a size), each malloc and free of
 * one went through its fast bins, ~220 instructions a command in coap-gw
 * (bench/README.md, eighth storm round).  4,096 at most (128 KB). */
#define SPARE_CALLS_MAX 4096

/* keeps call for reuse (lwm2m_redis_free frees them); NULL-safe */
static void
call_release(struct cmd_call *call)
{
	if (call != NULL) {
		lwm2m_spares_put(&call->redis->spare_calls, call,
		                 SPARE_CALLS_MAX);
	}
}

static void
on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cmd_call *call = privdata;

	call->cb(call->redis, r, call->arg);
	call_release(call);
}

static lwm2m_err
prepare_call(struct lwm2m_redis *redis, lwm2m_redis_cb cb, void *arg,
             struct cmd_call **ret_call)
{
	struct cmd_call *call;

	if (!lwm2m_redis_connected(redis)) {
		return LWM2M_EBACKEND;
	}
	*ret_call = NULL;
	if (cb == NULL) {
		return LWM2M_OK;
	}
	call = lwm2m_spares_take(&redis->spare_calls);
	if (call == NULL && (call = malloc(sizeof *call)) == NULL) {
		return LWM2M_ENOMEM;
	}
	call->redis = redis;
	call->cb = cb;
	call->arg = arg;
	*ret_call = call;
	return LWM2M_OK;
}

/* hiredis frees its output buffer after each complete write, and
 * sdscatlen grew the next one from empty by doubling, a realloc and a copy
 * each time (~1,000 instructions per Register in coap-gw's storm;
 * bench/README.md, eighth storm round).  The first command of a write
 * makes room for as many bytes as the last write had (sdsMakeRoomFor
 * doubles that), so a write of about the same size grows no more. */
#define OBUF_RESERVE_MAX (512 * 1024)

static void
reserve_obuf(struct lwm2m_redis *redis, size_t cmd_len)
{
	sds obuf = redis->ac->c.obuf, grown;
	size_t want = redis->obuf_last + cmd_len;

	if (obuf == NULL) {
		return;
	}
	if (sdslen(obuf) > 0) {
		redis->obuf_last = sdslen(obuf) + cmd_len;
		return;
	}
	if (want > OBUF_RESERVE_MAX) {
		want = OBUF_RESERVE_MAX;
	}
	redis->obuf_last = cmd_len;
	if (sdsavail(obuf) >= want) {
		return;
	}
	grown = sdsMakeRoomFor(obuf, want);
	if (grown != NULL) {
		redis->ac->c.obuf = grown; /* else hiredis grows it as before */
	}
}

/* Commands that fit go through lwm2m__redis_vformat (hiredis's formatter
 * dominated the gateway's profile); the rest through hiredis.  The encoding
 * is NUL-terminated: redisAsyncFormattedCommand reads the byte after the
 * first argument to see whether more follow. */
static int
send_formatted(struct lwm2m_redis *redis, struct cmd_call *call,
               const char *fmt, va_list ap)
{
	char scratch[2048], out[4096];
	size_t len;

	if (lwm2m__redis_vformat(out, sizeof out - 1, scratch, sizeof scratch,
	                         fmt, ap, &len) == LWM2M_OK) {
		out[len] = '\0';
		reserve_obuf(redis, len);
		return redisAsyncFormattedCommand(
		    redis->ac, call ? on_reply : NULL, call, out, len);
	}
	return redisvAsyncCommand(redis->ac, call ? on_reply : NULL, call, fmt,
	                          ap);
}

lwm2m_err
lwm2m_redis_vcmd(struct lwm2m_redis *redis, lwm2m_redis_cb cb, void *arg,
                 const char *fmt, va_list ap)
{
	struct cmd_call *call;
	lwm2m_err err = prepare_call(redis, cb, arg, &call);

	if (err != LWM2M_OK) {
		return err;
	}
	if (send_formatted(redis, call, fmt, ap) != REDIS_OK) {
		call_release(call);
		return LWM2M_EBACKEND;
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_redis_cmd(struct lwm2m_redis *redis, lwm2m_redis_cb cb, void *arg,
                const char *fmt, ...)
{
	va_list ap;
	lwm2m_err err;

	va_start(ap, fmt);
	err = lwm2m_redis_vcmd(redis, cb, arg, fmt, ap);
	va_end(ap);
	return err;
}

/* RESP encoded by lwm2m__redis_argv_encode: hiredis's argv formatter
 * (sdscatfmt) cost about 10,000 instructions for coap-gw's 39-argument
 * HSET (bench/README.md).  Into a stack buffer when it fits: the gateway's
 * record HSET needs over 1 KiB, and a malloc that size bypasses glibc's
 * per-thread cache and consolidates its fast bins on every Register. */
static lwm2m_err
send_argv(struct lwm2m_redis *redis, struct cmd_call *call, int argc,
          const char **argv, const size_t *argvlen)
{
	char stack[4096], *buf;
	size_t len;
	int rc;
	lwm2m_err err = lwm2m__redis_argv_encode(argc, argv, argvlen, stack,
	                                         sizeof stack, &buf, &len);

	if (err != LWM2M_OK) {
		return err;
	}
	reserve_obuf(redis, len);
	rc = redisAsyncFormattedCommand(redis->ac, call ? on_reply : NULL, call,
	                                buf, len);
	if (buf != stack) {
		free(buf);
	}
	return rc == REDIS_OK ? LWM2M_OK : LWM2M_EBACKEND;
}

lwm2m_err
lwm2m_redis_cmdargv(struct lwm2m_redis *redis, lwm2m_redis_cb cb, void *arg,
                    int argc, const char **argv, const size_t *argvlen)
{
	struct cmd_call *call;
	lwm2m_err err = prepare_call(redis, cb, arg, &call);

	if (err != LWM2M_OK) {
		return err;
	}
	err = send_argv(redis, call, argc, argv, argvlen);
	if (err != LWM2M_OK) {
		call_release(call);
	}
	return err;
}

/* Blocking sentinel query for lwm2m_redis_sync_connect: asks each sentinel
 * in turn and rewrites u's host and port (a no-op without sentinels). */
static lwm2m_err
resolve_master_sync(struct lwm2m_redis_url *u)
{
	struct sentinel_cfg cfg;
	struct timeval tv = {1, 0};

	if (sentinel_config(&cfg) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	if (cfg.n == 0) {
		return LWM2M_OK;
	}
	for (int i = 0; i < cfg.n; i++) {
		redisContext *c = redisConnectWithTimeout(cfg.addr[i].host,
		                                          cfg.addr[i].port, tv);
		redisReply *reply = NULL;
		bool ok = false;
		if (c != NULL && c->err == 0) {
			reply = redisCommand(
			    c, "SENTINEL get-master-addr-by-name %s",
			    cfg.master);
			ok = master_from_reply(reply, u);
		}
		freeReplyObject(reply);
		redisFree(c);
		if (ok) {
			return LWM2M_OK;
		}
	}
	return LWM2M_EBACKEND;
}

lwm2m_err
lwm2m_redis_sync_connect(const char *url, redisContext **ret_ctx)
{
	struct lwm2m_redis_url u;
	struct timeval tv = {2, 0};
	redisContext *ctx;
	redisReply *reply;

	if (lwm2m_redis_url_parse(url, &u) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	if (resolve_master_sync(&u) != LWM2M_OK) {
		return LWM2M_EBACKEND;
	}
	ctx = u.path[0] ? redisConnectUnixWithTimeout(u.path, tv)
	                : redisConnectWithTimeout(u.host, u.port, tv);
	if (ctx == NULL || ctx->err) {
		if (ctx != NULL) {
			redisFree(ctx);
		}
		return LWM2M_EBACKEND;
	}
	if (u.password[0] != '\0') {
		reply = redisCommand(ctx, "AUTH %s", u.password);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
			freeReplyObject(reply);
			redisFree(ctx);
			return LWM2M_EBACKEND;
		}
		freeReplyObject(reply);
	}
	reply = redisCommand(ctx, "SELECT %d", u.db);
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		freeReplyObject(reply);
		redisFree(ctx);
		return LWM2M_EBACKEND;
	}
	freeReplyObject(reply);
	*ret_ctx = ctx;
	return LWM2M_OK;
}
