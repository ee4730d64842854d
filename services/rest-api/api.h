/* api.h - lwds-rest-api: the REST framework and its resources.
 *
 * HOW TO ADD AN ENDPOINT
 *
 * 1. Write a handler `void api_<thing>_<verb>(struct api_req *r)` in an
 *    api_<thing>.c file and add one line to the route table in api_routes.c:
 *        {HTTP_GET, "/things/{thingID}", api_thing_get, API_AUTH_TOKEN},
 *    Paths match case-insensitively, segment by segment; "{name}" matches one
 *    non-empty segment and is read with api_req_param(r, "name").  A known
 *    path with another method answers 405 (with Allow), anything else 404.
 *    OPTIONS is answered by the framework (CORS preflight, 200).
 * 2. By the time the handler runs the framework has: checked Host, the body
 *    size (413), the bearer token (401 with WWW-Authenticate: Bearer for
 *    API_AUTH_TOKEN routes; r->authed says whether a token was valid for
 *    API_AUTH_OPTIONAL), checked that the token's access key still exists
 *    (deleting a key revokes its tokens), negotiated the response format
 *    (r->neg, spec 1.4) and read the body (r->body, r->body_len).
 *    r->org is the caller's organisation (0 = admin).
 * 3. The handler answers exactly once, now or later from a callback, with
 *    one of api_reply_doc(), api_reply_status(), api_reply_error().  The
 *    framework pauses the HTTP request while the handler waits.
 * 4. Redis: use api_redis_cmd(r, cb, arg, fmt, ...), never lwm2m_redis_cmd
 *    directly: it keeps r alive until the reply arrives and drops the reply
 *    when the client went away meanwhile (cb is then not called).  A failed
 *    send returns an error: answer api_reply_error(r, 503, ...).  Other
 *    asynchronous calls: bracket them with api_req_hold/api_req_release.
 * 5. Documents: build the body once with the api_doc_* writer; it produces
 *    JSON (spec 1.5) or XML (1.6) from the same calls:
 *        struct api_doc *d = api_req_doc(r, "Client");   root / XML element
 *        api_doc_string(d, "Name", name);        NULL values are omitted
 *        api_doc_links_begin(d);
 *        api_doc_link(d, "self", "/clients/abc", NULL);  href made absolute
 *        api_doc_link(d, "objecttypes", "/clients/abc/objecttypes",
 *                     API_MT_OBJECTTYPES);       type gets +json/+xml
 *        api_doc_end(d);                          closes Links
 *        api_reply_doc(r, 200, d, API_MT_CLIENT);   consumes d
 *    Collections: api_page_parse() then api_doc_page_info() writes PageInfo
 *    (with paging links, spec 1.7); open Items with
 *    api_doc_array_begin(d, "Items", "Client") only when there are items,
 *    then api_doc_object_begin(d, NULL) per item.
 * 6. Bodies: api_body_parse() reads JSON or XML per Content-Type (415
 *    otherwise) with size/depth/node limits; api_body_string() reads a
 *    top-level member/child element, case-insensitively.
 * 7. Errors: 400 with an error body (ErrorCode, ErrorMessage, ErrorDetails)
 *    naming the problem; 404 and 401 have empty bodies (spec 1.8).  Never
 *    500 for bad input.
 *
 * Threading: everything runs on the single libevent loop of struct api_ctx.
 */
#ifndef API_H
#define API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <evhtp/evhtp.h>
#include <hiredis/hiredis.h>
#include <libxml/tree.h>
#include <yajl/yajl_tree.h>

#include "lwm2m_err.h"
#include "lwm2m_redis.h"
#include "lwm2m_rpc.h"

/* Vendor media type bases (Appendix A); the suffix is added per request. */
#define API_MT_ENTRYPOINT "application/vnd.imgtec.apientrypoint"
#define API_MT_VERSIONS "application/vnd.imgtec.versions"
#define API_MT_OAUTHTOKEN "application/vnd.imgtec.oauthtoken"
#define API_MT_ACCESSKEYS "application/vnd.imgtec.accesskeys"
#define API_MT_ACCESSKEY "application/vnd.imgtec.accesskey"
#define API_MT_CONFIGURATION "application/vnd.imgtec.configuration"
#define API_MT_BOOTSTRAP "application/vnd.imgtec.bootstrap"
#define API_MT_CLIENTS "application/vnd.imgtec.clients"
#define API_MT_CLIENT "application/vnd.imgtec.client"
#define API_MT_IDENTITIES "application/vnd.imgtec.identities"
#define API_MT_OBJECTTYPES "application/vnd.imgtec.objecttypes"
#define API_MT_OBJECTTYPE "application/vnd.imgtec.objecttype"
#define API_MT_OBJECTDEFINITIONS "application/vnd.imgtec.objectdefinitions"
#define API_MT_OBJECTDEFINITION "application/vnd.imgtec.objectdefinition"
#define API_MT_SUBSCRIPTIONS "application/vnd.imgtec.subscriptions"
#define API_MT_METRICS "application/vnd.imgtec.metrics"
#define API_MT_ERROR "application/vnd.imgtec.error"

#define API_TOKEN_TTL 3600         /* access token lifetime, seconds */
#define API_REFRESH_TTL 604800     /* refresh token lifetime, seconds */
#define API_KEY_LEN 86             /* access key / secret: b64url(64 bytes) */
#define API_MAX_PARAMS 6
#define API_BASE_URL_MAX 300       /* "https://" + Host (<= 255) */
#define API_DEFAULT_PAGE_SIZE 20
#define API_MAX_PAGE_SIZE 1000
#define API_IO_TIMEOUT_DEFAULT_S 60 /* read/write timeout of a connection */
#define API_MAX_BODY_DEFAULT 1048576 /* request body bytes */

/* ---- configuration and service context -------------------------------- */

struct lwm2m_metrics_http;

struct api_config {
	const char *listen;        /* "host:port", LWDS_HTTP_LISTEN */
	const char *redis_url;     /* LWDS_REDIS_URL */
	const char *admin_key;     /* LWDS_ADMIN_KEY or NULL */
	const char *admin_secret;  /* LWDS_ADMIN_SECRET or NULL */
	const char *signing_key;   /* LWDS_SIGNING_KEY or NULL */
	size_t max_body;           /* LWDS_HTTP_MAX_BODY, bytes */
	size_t max_header;         /* LWDS_HTTP_MAX_HEADER, bytes (api_server.c) */
	unsigned max_conns;        /* LWDS_HTTP_MAX_CONNECTIONS */
	unsigned io_timeout_s;     /* LWDS_HTTP_IO_TIMEOUT_S (api_server.c) */
	long long retention_ms;    /* LWDS_CLIENT_RETENTION_S, ms; 0 forever */
	const char *health_addr;   /* LWDS_API_HEALTH_ADDR, "host:port"; NULL:
	                            * no /health and /metrics listener */
	const char *ca_cert;       /* LWDS_CA_CERT or NULL */
	const char *ca_key;        /* LWDS_CA_KEY or NULL */
	const char *tls_cert;      /* LWDS_TLS_CERT or NULL (api_tls.c) */
	const char *tls_key;       /* LWDS_TLS_KEY or NULL */
	const char *tls_client_ca; /* LWDS_TLS_CLIENT_CA or NULL */
	const char *objects_file;  /* LWDS_OBJECTS_FILE or NULL */
	long long rate_limit;      /* LWDS_RATE_LIMIT, 0: off (api_limit.c) */
	long long rate_burst;      /* LWDS_RATE_BURST, 0: twice the rate */
	uint32_t queue_wait_ms;    /* LWDS_QUEUE_WAIT_MS (api_devops.c) */
	uint32_t device_timeout_ms; /* LWDS_DEVICE_TIMEOUT_MS (api_devops.c) */
};

struct api_ctx {
	struct event_base *base;
	evhtp_t *htp;
	struct lwm2m_redis *redis;
	struct lwm2m_rpc_client *rpc; /* requests to gateways */
	struct api_config cfg;
	uint8_t signing_key[256];
	size_t signing_key_len;
	uint64_t next_req_id;
	struct api_limits *limits; /* api_limit.c; NULL when off */
	unsigned n_conns;          /* open HTTP connections (api_server.c) */
	struct api_jwt_cache *jwt_cache; /* verified access tokens */
	struct lwm2m_metrics_http *health; /* cfg.health_addr's listener */
};

/* api_bootstrap does the blocking start-up work before the loop runs: makes
 * sure the admin access key exists (printing a generated one once to
 * stderr) and loads or creates the token signing key into ctx. */
lwm2m_err api_bootstrap(struct api_ctx *ctx);

/* api_ctx_start creates the HTTP server and the Redis connection on base,
 * binds cfg->listen and, when cfg->health_addr is set, the internal
 * GET /health and /metrics listener (api_health_listen).  ctx must be zeroed
 * with cfg set; api_bootstrap must have run.  On failure everything created is
 * freed. */
lwm2m_err api_ctx_start(struct api_ctx *ctx, struct event_base *base);

/* api_ctx_stop unbinds and frees what api_ctx_start created; NULL-safe,
 * idempotent.  Call from the loop thread after the loop exits. */
void api_ctx_stop(struct api_ctx *ctx);

/* ---- content negotiation (spec 1.4) ------------------------------------ */

enum api_fmt { API_FMT_JSON = 0, API_FMT_XML = 1 };

struct api_neg {
	enum api_fmt fmt;
	bool star;      /* some Accept value contained "*" "/" "*" */
	bool suffixed;  /* the deciding piece ended in "+json"/"+xml" */
	bool named;     /* an Accept piece ended in json/xml (no star) */
};

/* api_negotiate applies the spec 1.4 algorithm to the n Accept header
 * values (n may be 0). */
void api_negotiate(const char *const *accept, size_t n, struct api_neg *ret);

/* api_media_type writes the response media type for base into buf:
 * "application/json" under the star rule, else base + "+json"/"+xml".
 * base NULL gives NULL (links without type).  Returns buf or NULL. */
const char *api_media_type(const struct api_neg *neg, const char *base,
                           char *buf, size_t size);

/* ---- document writer ---------------------------------------------------- */

struct api_doc;

/* api_doc_new starts a document whose root object is XML element `root`.
 * base_url ("https://host") prefixes every link path; neg chooses the
 * format and link types.  Both are copied. */
lwm2m_err api_doc_new(const struct api_neg *neg, const char *base_url,
                      const char *root, struct api_doc **ret_doc);

/* api_doc_free frees doc; NULL-safe. */
void api_doc_free(struct api_doc *doc);

/* Writers.  name is the member name (JSON) / element name (XML); inside an
 * array pass NULL and the array's item name is used.  A NULL string value
 * writes nothing (null members are omitted).  Errors are sticky and reported
 * by api_doc_result(). */
void api_doc_object_begin(struct api_doc *doc, const char *name);
void api_doc_array_begin(struct api_doc *doc, const char *name,
                         const char *item);
void api_doc_end(struct api_doc *doc);
void api_doc_string(struct api_doc *doc, const char *name, const char *value);
void api_doc_int(struct api_doc *doc, const char *name, long long value);
void api_doc_bool(struct api_doc *doc, const char *name, bool value);
/* api_doc_number writes text, a valid JSON number, verbatim (exact
 * decimals); NULL writes nothing. */
void api_doc_number(struct api_doc *doc, const char *name, const char *text);

/* api_doc_links_begin opens "Links" (XML <Links>); close with api_doc_end. */
void api_doc_links_begin(struct api_doc *doc);

/* api_doc_link writes one link: href = base_url + path (path starts with
 * '/', or is a full URL when it contains "://"); type_base NULL for none. */
void api_doc_link(struct api_doc *doc, const char *rel, const char *path,
                  const char *type_base);

/* api_doc_result closes the root and returns the text (owned by doc) or
 * LWM2M_EINVAL when the calls were unbalanced, LWM2M_ENOMEM. */
lwm2m_err api_doc_result(struct api_doc *doc, const char **ret_buf,
                         size_t *ret_len);

/* ---- paging (spec 1.7) -------------------------------------------------- */

struct api_page {
	long long start;     /* effective startIndex (>= 0) */
	long long size;      /* effective pageSize (0..API_MAX_PAGE_SIZE) */
};

/* api_page_parse reads startIndex and pageSize from a raw query string
 * (may be NULL); non-numeric values fall back to 0 and 20. */
void api_page_parse(const char *query, struct api_page *ret);

/* api_page_count is ItemsCount: max(0, min(start + size, total) - start). */
long long api_page_count(const struct api_page *page, long long total);

/* api_page_href writes base_url + path + the rebuilt query for a page
 * starting at start (spec 1.7 rules) into buf.  LWM2M_ELIMIT when too
 * small. */
lwm2m_err api_page_href(const char *base_url, const char *path,
                        const char *query, const struct api_page *page,
                        long long start, char *buf, size_t size);

/* api_doc_page_info writes the PageInfo object with its links. */
void api_doc_page_info(struct api_doc *doc, const char *path,
                       const char *query, const struct api_page *page,
                       long long total);

/* ---- router ------------------------------------------------------------- */

struct api_req;
typedef void (*api_handler)(struct api_req *r);

enum api_auth { API_AUTH_NONE, API_AUTH_OPTIONAL, API_AUTH_TOKEN };

struct api_route {
	htp_method method;
	const char *pattern;   /* "/clients/{clientID}" */
	api_handler handler;
	enum api_auth auth;
};

struct api_param {
	const char *name;      /* points into the pattern */
	size_t name_len;
	const char *value;     /* points into the path */
	size_t value_len;
};

enum api_match { API_MATCH_OK, API_MATCH_METHOD, API_MATCH_NONE };

/* api_routes is the table of api_routes.c; api_n_routes its length. */
extern const struct api_route api_routes[];
extern const size_t api_n_routes;

/* api_route_match finds the route for method and path (without query) in
 * table.  API_MATCH_OK writes the route and up to API_MAX_PARAMS params;
 * API_MATCH_METHOD: the path exists with other methods (their bit mask
 * 1 << method is written to ret_allowed); API_MATCH_NONE otherwise. */
enum api_match api_route_match(const struct api_route *table, size_t n,
                               htp_method method, const char *path,
                               const struct api_route **ret_route,
                               struct api_param *ret_params,
                               size_t *ret_n_params, unsigned *ret_allowed);

/* ---- tokens (spec 2.3, defects 7, 8, 24 fixed) -------------------------- */

struct api_token {
	long long org;                 /* always written; 0 = admin */
	bool refresh;                  /* token type claim */
	int64_t exp;                   /* seconds since 1970 */
	char key[API_KEY_LEN + 1];     /* access key the token was issued to */
};

/* api_jwt_sign writes an HS256 JWT for tok into a malloc()ed string. */
lwm2m_err api_jwt_sign(const uint8_t *key, size_t key_len,
                       const struct api_token *tok, char **ret_jwt);

/* api_jwt_verify checks structure, header, signature (constant time),
 * expiry against now (seconds) and the type: LWM2M_EPROTO malformed,
 * LWM2M_EDENIED bad signature or wrong type, LWM2M_ETIMEDOUT expired. */
lwm2m_err api_jwt_verify(const uint8_t *key, size_t key_len, const char *jwt,
                         size_t len, int64_t now, bool want_refresh,
                         struct api_token *ret_tok);

/* A bounded cache of verified access tokens (api_jwt.c): a hit skips the
 * base64, HMAC and JSON work of api_jwt_verify; expiry is still checked on
 * every use, and revocation is not cached at all (api_auth_check asks Redis
 * for the token's access key on every request).  The signing key must not
 * change while the cache lives. */
#define API_JWT_CACHE_SLOTS 4096 /* default slots (one token each) */
#define API_JWT_CACHE_MAX (1u << 20)
struct api_jwt_cache;

/* api_jwt_cache_new allocates a cache of slots (1..API_JWT_CACHE_MAX)
 * entries; LWM2M_EINVAL otherwise. */
lwm2m_err api_jwt_cache_new(size_t slots, struct api_jwt_cache **ret_cache);

/* api_jwt_cache_free frees c and its tokens; NULL-safe, returns NULL. */
struct api_jwt_cache *api_jwt_cache_free(struct api_jwt_cache *c);

/* api_jwt_verify_access is api_jwt_verify(..., want_refresh false, ...)
 * answered from c when these exact bytes were verified before (c NULL:
 * always verified); the same errors. */
lwm2m_err api_jwt_verify_access(struct api_jwt_cache *c, const uint8_t *key,
                                size_t key_len, const char *jwt, size_t len,
                                int64_t now, struct api_token *ret_tok);

/* api_jwt_cache_stats reads the hit and miss counters of c (0 for NULL). */
void api_jwt_cache_stats(const struct api_jwt_cache *c, uint64_t *ret_hits,
                         uint64_t *ret_misses);

/* api_secret_hash writes the SHA-256 hex (64 chars + NUL) of secret. */
void api_secret_hash(const char *secret, size_t len, char out[65]);

/* ---- request bodies ----------------------------------------------------- */

struct api_body_limits {
	size_t max_len;
	unsigned max_depth;
	unsigned max_nodes;
};
extern const struct api_body_limits api_body_limits_default;

struct api_body {
	enum api_fmt fmt;
	yajl_val json;         /* JSON: root value */
	xmlDocPtr xml;         /* XML: the document */
};

/* api_body_type: whether content_type is one of the JSON or XML types
 * api_body_parse accepts, and which (ret_fmt). */
bool api_body_type(const char *content_type, enum api_fmt *ret_fmt);

/* api_body_parse parses buf as JSON or XML according to content_type
 * (application/json, text/json, application/x+json, and the xml forms).
 * LWM2M_EDENIED: unsupported media type (415); LWM2M_ELIMIT: a limit;
 * LWM2M_EPROTO: malformed; diag (size bytes) names the problem. */
lwm2m_err api_body_parse(const char *content_type, const uint8_t *buf,
                         size_t len, const struct api_body_limits *lim,
                         struct api_body *ret_body, char *diag, size_t size);

/* api_body_string returns the string value of top-level member / child
 * element name (case-insensitive) copied into a malloc()ed string, or NULL
 * when absent or not a string. */
char *api_body_string(const struct api_body *body, const char *name);

/* api_body_fini frees the parsed body; NULL-safe. */
void api_body_fini(struct api_body *body);

/* api_form_get finds name in an application/x-www-form-urlencoded body and
 * writes its decoded value into buf.  LWM2M_ENOTFOUND, LWM2M_ELIMIT,
 * LWM2M_EPROTO (bad escape or NUL). */
lwm2m_err api_form_get(const char *form, size_t len, const char *name,
                       char *buf, size_t size);

/* ---- requests ----------------------------------------------------------- */

struct api_req {
	struct api_ctx *api;
	evhtp_request_t *ev;       /* NULL once the client has gone */
	uint64_t id;
	htp_method method;
	const char *path;          /* raw path, owned by evhtp */
	const char *query;         /* raw query or NULL */
	char base_url[API_BASE_URL_MAX]; /* scheme://host */
	struct api_neg neg;
	const struct api_route *route;
	struct api_param params[API_MAX_PARAMS];
	size_t n_params;
	bool authed;
	struct api_token token;    /* valid when authed */
	const char *auth_error;    /* static: why a token was refused (401) */
	long long org;             /* token org when authed, else -1 */
	uint8_t *body;             /* NUL-terminated copy, or NULL */
	size_t body_len;
	bool too_large;
	bool replied;
	bool held;                 /* answered later: api_server_hold */
	bool paused;               /* answered later: evhtp_request_pause */
	int64_t started_ms;        /* lwm2m_mono_ms() at the headers */
	char req_id[65];           /* X-Request-Id (api_health.h) */
	unsigned pending;          /* Redis commands in flight */
	void (*auth_done)(struct api_req *r); /* framework use */
	void *data;                /* handler state, freed with data_free */
	void (*data_free)(void *data); /* NULL means free() */
};

/* api_req_param copies param name (NUL-terminated) into buf; NULL when
 * missing or longer than size - 1. */
const char *api_req_param(const struct api_req *r, const char *name,
                          char *buf, size_t size);

/* api_req_header returns request header name or NULL. */
const char *api_req_header(const struct api_req *r, const char *name);

/* api_req_doc starts a document for r (its format and base URL); NULL on
 * allocation failure. */
struct api_doc *api_req_doc(struct api_req *r, const char *root);

/* api_reply_doc sends doc (consumed) with status and media type base
 * (negotiated suffix added). */
void api_reply_doc(struct api_req *r, int status, struct api_doc *doc,
                   const char *type_base);

/* api_reply_doc_type is api_reply_doc with a complete Content-Type. */
void api_reply_doc_type(struct api_req *r, int status, struct api_doc *doc,
                        const char *content_type);

/* api_reply_status sends an empty body (401 adds WWW-Authenticate). */
void api_reply_status(struct api_req *r, int status);

/* api_reply_body sends body (copied; len 0 for none) with status and a
 * complete Content-Type (NULL for none). */
void api_reply_body(struct api_req *r, int status, const char *content_type,
                    const void *body, size_t len);

/* api_reply_header adds a response header (e.g. Location, Retry-After) to
 * the reply r will send; call it before the reply. */
void api_reply_header(struct api_req *r, const char *name, const char *value);

/* api_reply_location adds "Location: <base URL><path>" (201 and 202
 * answers name what they created). */
void api_reply_location(struct api_req *r, const char *path);

/* 404 texts shared by several handlers.  Error texts never repeat an id
 * of the URL: the caller has it, and an answer holding another
 * organisation's id would read like a leak (test_tenancy_walk). */
#define API_MSG_NO_CLIENT "no such client in this organisation"
#define API_MSG_NO_DEFINITION                                                  \
	"no object definition with this id is visible to this organisation"

/* api_reply_error sends an error body (spec 1.8) naming the problem. */
void api_reply_error(struct api_req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* api_redis_cmd sends a Redis command for r; see the header comment. */
lwm2m_err api_redis_cmd(struct api_req *r,
                        void (*cb)(struct api_req *r, redisReply *reply,
                                   void *arg),
                        void *arg, const char *fmt, ...);

/* api_redis_cmdargv is api_redis_cmd with an argument vector (argvlen NULL:
 * NUL-terminated strings). */
lwm2m_err api_redis_cmdargv(struct api_req *r,
                            void (*cb)(struct api_req *r, redisReply *reply,
                                       void *arg),
                            void *arg, int argc, const char **argv,
                            const size_t *argvlen);

/* api_req_hold keeps r allocated across an asynchronous call that does not
 * go through api_redis_cmd (e.g. a common/ store with its own callback).
 * Pair each hold with api_req_release(r) in the callback: it returns false
 * when the client has gone meanwhile; r must then not be used again (it may
 * have been freed). */
void api_req_hold(struct api_req *r);
bool api_req_release(struct api_req *r);

/* ---- paged lists from a Redis ZSET -------------------------------------- */

/* The ids of one page of a sorted set, with one hash field of each. */
struct api_list {
	struct api_page page;
	long long total;       /* ZCARD */
	size_t n;              /* ids on this page */
	char **ids;
	char **vals;           /* HGET <hash_fmt with id> <field>; NULL if none */
	size_t done;
	char hash_fmt[96];
	char field[32];
	void (*render)(struct api_req *r, struct api_list *l);
};

/* api_list_fetch reads the page of r's query from ZSET zset_key (ZRANGE by
 * rank), then field of hash hash_fmt (a "%s" key pattern) for each id, and
 * calls render(r, list) (list owned by r->data).  Storage errors answer
 * 503 without calling render. */
void api_list_fetch(struct api_req *r, const char *zset_key,
                    const char *hash_fmt, const char *field,
                    void (*render)(struct api_req *r, struct api_list *l));

/* ---- handlers (api_routes.c lists them) --------------------------------- */
void api_root_get(struct api_req *r);
void api_versions_get(struct api_req *r);
void api_configuration_get(struct api_req *r);
void api_bootstrap_get(struct api_req *r);
void api_token_post(struct api_req *r);
void api_accesskeys_list(struct api_req *r);
void api_accesskeys_create(struct api_req *r);
void api_accesskey_get(struct api_req *r);
void api_accesskey_put(struct api_req *r);
void api_accesskey_delete(struct api_req *r);
void api_clients_list(struct api_req *r);
void api_client_get(struct api_req *r);
void api_client_delete(struct api_req *r);
void api_objecttypes_list(struct api_req *r);
void api_objecttype_get(struct api_req *r);
void api_definitions_list(struct api_req *r);
void api_definitions_create(struct api_req *r);
void api_definition_get(struct api_req *r);
void api_definition_put(struct api_req *r);
void api_definition_delete(struct api_req *r);
void api_subscriptions_list(struct api_req *r);
void api_subscriptions_create(struct api_req *r);
void api_subscription_get(struct api_req *r);
void api_subscription_put(struct api_req *r);
void api_subscription_delete(struct api_req *r);
void api_subscription_deadletters(struct api_req *r);

/* api_definitions_install stores the shipped object definitions
 * (lwds-objects.json: objects_file (LWDS_OBJECTS_FILE) when not NULL, else the installed copy, else the
 * source tree) as global definitions where their ObjectID has none yet.
 * Blocking: call at start-up before the loop runs.  Logs what it did. */
lwm2m_err api_definitions_install(const char *redis_url,
                                  const char *objects_file);

/* api_auth_check verifies r's bearer token and that its access key still
 * exists, then calls done(r) with r->authed set (API_AUTH_OPTIONAL) or
 * answers 401 itself (API_AUTH_TOKEN). */
void api_auth_check(struct api_req *r, void (*done)(struct api_req *r));

/* An object type a client reported, with its definition when one is
 * visible to the caller. */
struct api_objtype {
	unsigned oid;          /* LWM2M object id */
	bool known;            /* a definition exists: def_id, mime valid */
	char def_id[23];
	char mime[128];        /* the definition's MIMEType base */
};

/* api_objtypes_resolve looks up the definition of each of types[0..n)
 * visible to r->org (own first, then global: spec 4.5) and then calls
 * done(r); types must stay valid until then (keep them in r->data).  The
 * single place where client object types meet object definitions. */
void api_objtypes_resolve(struct api_req *r, struct api_objtype *types,
                          size_t n, void (*done)(struct api_req *r));

#endif
