/* lwm2m_redis.h - asynchronous Redis access on the process's event loop.
 *
 * One struct lwm2m_redis per process holds one hiredis async connection
 * attached to the libevent base.  It reconnects by itself with backoff
 * (100 ms doubling to 2 s) when Redis goes away; commands issued while it is
 * down fail at once with LWM2M_EBACKEND, and commands in flight when the
 * connection drops complete with reply == NULL.  Only the loop thread may
 * call these functions.
 *
 * Redis Sentinel: when LWDS_REDIS_SENTINELS=host:port[,host:port...] (at
 * most 8) is set, every connect and reconnect first asks the sentinels in
 * turn "SENTINEL get-master-addr-by-name" for LWDS_REDIS_MASTER (default
 * "mymaster") and connects there (password and db still come from the URL;
 * unix URLs are refused).  A server whose ROLE is not master is dropped and
 * the sentinels are asked again, so a failover is followed within the
 * reconnect backoff.  lwm2m_redis_sync_connect asks them the same way.
 */
#ifndef LWM2M_REDIS_H
#define LWM2M_REDIS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "lwm2m_cli.h"
#include "lwm2m_err.h"
#include "lwm2m_spares.h"

#define LWM2M_REDIS_SENTINELS_MAX 8
#define LWM2M_REDIS_MASTER_MAX 127 /* bytes of a master name */

/* lwm2m_redis_sentinels_check returns NULL when list is a good
 * LWDS_REDIS_SENTINELS value, else why not (a constant string). */
const char *lwm2m_redis_sentinels_check(const char *list);

/* The Sentinel options of every service (lwm2m_cli.h): checked at start;
 * the connections read them from the environment. */
#define LWM2M_CLI_OPT_REDIS_SENTINELS                                          \
	{                                                                      \
		NULL, "LWDS_REDIS_SENTINELS", NULL, NULL,                      \
		    "host:port,... of Redis Sentinels to ask for\n"            \
		    "the master (LWDS_REDIS_MASTER)",                          \
		    LWM2M_CLI_TEXT, 0, 0, lwm2m_redis_sentinels_check          \
	}
#define LWM2M_CLI_OPT_REDIS_MASTER                                             \
	{                                                                      \
		NULL, "LWDS_REDIS_MASTER", NULL, "mymaster",                   \
		    "master name the sentinels know", LWM2M_CLI_TEXT, 0,       \
		    LWM2M_REDIS_MASTER_MAX, NULL                               \
	}

struct lwm2m_redis;

/* Completion of one command.  reply is NULL when the connection failed; it
 * may be a REDIS_REPLY_ERROR.  reply is owned by hiredis and valid only during
 * the call. */
typedef void (*lwm2m_redis_cb)(struct lwm2m_redis *redis, redisReply *reply,
                               void *arg);

/* Called on the loop each time the connection becomes ready (first connect
 * and every reconnect, after AUTH/SELECT). */
typedef void (*lwm2m_redis_ready_cb)(struct lwm2m_redis *redis, void *arg);

struct lwm2m_redis_url {
	char host[256]; /* empty for unix sockets */
	int port;       /* default 6379 */
	char path[256]; /* unix socket path, or empty */
	char password[256];
	int db;
};

/* lwm2m_redis_url_parse parses redis://[[user]:password@]host[:port][/db],
 * unix:///path/to.sock[?db=N] or plain host:port. */
lwm2m_err lwm2m_redis_url_parse(const char *url,
                                struct lwm2m_redis_url *ret_url);

/* lwm2m_redis_new creates the connection object and starts connecting on
 * base.  ready (may be NULL) runs on every (re)connect. */
lwm2m_err lwm2m_redis_new(struct event_base *base, const char *url,
                          lwm2m_redis_ready_cb ready, void *ready_arg,
                          struct lwm2m_redis **ret_redis);

/* lwm2m_redis_set_name names redis in its log lines, "redis (<name>): ...",
 * for a process with more than one connection; unnamed ones say "redis: ".
 * Call right after lwm2m_redis_new (its connection is made later, on the
 * loop).  name is copied, cut at 38 bytes. */
void lwm2m_redis_set_name(struct lwm2m_redis *redis, const char *name);

/* lwm2m_redis_free disconnects; commands still buffered are written first
 * (waiting at most a second for the socket), then pending callbacks run with
 * reply == NULL before it returns.  NULL-safe. */
void lwm2m_redis_free(struct lwm2m_redis *redis);

/* lwm2m_redis_data returns the value another module attached to redis
 * under key (the address of one of that module's statics), or NULL.  It
 * lets a module keep per-connection state, such as a parse cache, without
 * a global. */
#define LWM2M_REDIS_DATA_MAX 4
void *lwm2m_redis_data(const struct lwm2m_redis *redis, const void *key);

/* lwm2m_redis_set_data attaches value under key, replacing (and freeing
 * with its free_fn) an earlier value; lwm2m_redis_free frees every value
 * with its free_fn (may be NULL).  LWM2M_ENOMEM past LWM2M_REDIS_DATA_MAX
 * keys (value is then not attached). */
lwm2m_err lwm2m_redis_set_data(struct lwm2m_redis *redis, const void *key,
                               void *value, void (*free_fn)(void *));

/* lwm2m_redis_connected is true while commands can be sent. */
bool lwm2m_redis_connected(const struct lwm2m_redis *redis);

/* lwm2m_redis_reply_int is true when reply is the integer v (false for
 * NULL: the connection was lost). */
bool lwm2m_redis_reply_int(const redisReply *reply, long long v);

/* lwm2m_redis_field returns the value of field name in fields, a flat
 * name/value array (HGETALL, a stream entry's fields), when it is a string;
 * NULL when fields is not an array or holds no such string field. */
const redisReply *lwm2m_redis_field(const redisReply *fields, const char *name);

/* lwm2m_redis_cmd sends a printf-style command (hiredis format: %s, %b with
 * pointer + size_t, %d...).  cb may be NULL when the reply does not matter.
 * LWM2M_EBACKEND when not connected: cb is then NOT called. */
lwm2m_err lwm2m_redis_cmd(struct lwm2m_redis *redis, lwm2m_redis_cb cb,
                          void *arg, const char *fmt, ...);

/* lwm2m_redis_vcmd is lwm2m_redis_cmd with a va_list, for wrappers. */
lwm2m_err lwm2m_redis_vcmd(struct lwm2m_redis *redis, lwm2m_redis_cb cb,
                           void *arg, const char *fmt, va_list ap);

/* lwm2m__redis_vformat (internal; lwm2m_redis_vcmd's fast path, exposed for
 * tests) writes the RESP encoding of a hiredis-style format into out (size
 * bytes), using scratch (scratch_size bytes) for the arguments, and sets
 * *ret_len.  Arguments split on spaces; conversions %s, %b (pointer and
 * size_t), %d %i %u with l or ll, and %%.  LWM2M_EINVAL for any other
 * conversion, more than 64 arguments or a command that does not fit: the
 * caller then uses hiredis's own formatter.  ap is not consumed. */
lwm2m_err lwm2m__redis_vformat(char *out, size_t size, char *scratch,
                               size_t scratch_size, const char *fmt, va_list ap,
                               size_t *ret_len);

/* lwm2m__redis_argv_encode (internal; lwm2m_redis_cmdargv's encoder,
 * exposed for tests) writes the RESP encoding of argv (lengths from argvlen,
 * or strlen when argvlen is NULL), *ret_len bytes followed by a NUL
 * (hiredis's redisAsyncFormattedCommand reads the byte after the first
 * argument), into buf (size bytes; NULL, 0 for none) when it fits, else
 * into a malloc'd buffer; *ret_buf says which, and the caller frees it when
 * it is not buf.  LWM2M_EINVAL when argc < 1, LWM2M_ENOMEM. */
lwm2m_err lwm2m__redis_argv_encode(int argc, const char **argv,
                                   const size_t *argvlen, char *buf,
                                   size_t size, char **ret_buf,
                                   size_t *ret_len);

/* Spare reply objects of one connection (internal, exposed for tests).
 * hiredis callocs every reply and frees it after its callback; attached
 * to a reader, integer and nil replies that are not inside an array (the
 * replies of most writes) come from and go back to this list instead.
 * Strings, statuses, errors and arrays (with all their elements) stay
 * hiredis's own. */
struct lwm2m__redis_replies {
	redisReplyObjectFunctions fns;      /* the reader's */
	redisReplyObjectFunctions defaults; /* hiredis's */
	struct lwm2m_spares spares;         /* of struct lwm2m__redis_spare */
};

/* lwm2m__redis_replies_attach makes reader (created with hiredis's default
 * reply functions) build its replies through replies, which must outlive
 * the reader and every reply it made. */
void lwm2m__redis_replies_attach(struct lwm2m__redis_replies *replies,
                                 redisReader *reader);

/* lwm2m__redis_replies_fini frees the spare replies; NULL-safe.  Every
 * reader attached must have been freed. */
void lwm2m__redis_replies_fini(struct lwm2m__redis_replies *replies);

/* lwm2m_redis_cmdargv is lwm2m_redis_cmd with an argument vector. */
lwm2m_err lwm2m_redis_cmdargv(struct lwm2m_redis *redis, lwm2m_redis_cb cb,
                              void *arg, int argc, const char **argv,
                              const size_t *argvlen);

/* lwm2m_redis_sync_connect opens a blocking connection for start-up work done
 * before the loop runs (and for tools); caller frees with redisFree(). */
lwm2m_err lwm2m_redis_sync_connect(const char *url, redisContext **ret_ctx);

#endif
