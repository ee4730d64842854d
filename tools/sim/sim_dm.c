/* sim_dm.c - device-management requests and observations of the clients. */
#include "sim_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_id.h"
#include "lwm2m_log.h"

#define SIM_DISCOVER_MAX 8192
#define SIM_EXEC_ARGS_MAX 1024
#define SIM_MAX_OBS 64   /* observations per client */
#define SIM_MAX_ATTRS 64 /* attribute sets per client */
#define SIM_CON_EVERY 20
#define SIM_COMPOSITE_MAX 64 /* paths in one Read-Composite */

struct req {
	struct sim_client *c;
	coap_resource_t *r; /* r and s: NULL with the shared sockets */
	coap_session_t *s;
	const coap_pdu_t *pdu;
	const coap_string_t *query;
	coap_pdu_t *resp;
	struct lwm2m_path path;
	char ptext[32];
};

/* ---- small helpers --------------------------------------------------------
 */

unsigned
sim_opt_uint(const coap_pdu_t *pdu, coap_option_num_t num, bool *present)
{
	coap_opt_iterator_t it;
	coap_opt_t *opt = coap_check_option(pdu, num, &it);

	*present = opt != NULL;
	return opt != NULL ? coap_decode_var_bytes(coap_opt_value(opt),
	                                           coap_opt_length(opt))
	                   : 0;
}

static void
answer(struct req *q, coap_pdu_code_t code, const char *diag)
{
	coap_pdu_set_code(q->resp, code);
	if (diag != NULL) {
		coap_add_data(q->resp, strlen(diag), (const uint8_t *)diag);
	}
}

static coap_pdu_code_t
err_code(lwm2m_err err)
{
	switch (err) {
	case LWM2M_OK:
		return COAP_RESPONSE_CODE_CHANGED;
	case LWM2M_ENOTFOUND:
		return COAP_RESPONSE_CODE_NOT_FOUND;
	case LWM2M_EDENIED:
		return COAP_RESPONSE_CODE_NOT_ALLOWED;
	case LWM2M_ENOMEM:
		return COAP_RESPONSE_CODE_INTERNAL_ERROR;
	case LWM2M_ELIMIT:
		return COAP_RESPONSE_CODE_REQUEST_TOO_LARGE;
	default:
		return COAP_RESPONSE_CODE_BAD_REQUEST;
	}
}

static void
answer_err(struct req *q, lwm2m_err err)
{
	answer(q, err_code(err), lwm2m_strerror(err));
}

/* format_ok is true for the formats this client handles: text/plain and
 * opaque always, the others when listed in --formats (all the codecs
 * support by default). */
static bool
format_ok(const struct sim_client *c, unsigned fmt)
{
	const struct sim_opts *o = &c->ctx->opts;

	if (fmt == LWM2M_FMT_LINK || !lwm2m_format_supported(fmt)) {
		return false;
	}
	if (fmt == LWM2M_FMT_TEXT || fmt == LWM2M_FMT_OPAQUE) {
		return true;
	}
	for (size_t i = 0; i < o->n_formats; i++) {
		if (o->formats[i] == fmt) {
			return true;
		}
	}
	return false;
}

static uint16_t
default_fmt(const struct sim_client *c, const struct lwm2m_path *path)
{
	if (c->ctx->opts.lwm2m_minor > 0 &&
	    format_ok(c, LWM2M_FMT_SENML_CBOR)) {
		return LWM2M_FMT_SENML_CBOR;
	}
	return LWM2M_FMT_TLV;
}

static uint64_t
fnv1a(const uint8_t *p, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h = (h ^ p[i]) * 1099511628211ull;
	}
	return h;
}

static void
release_buf(coap_session_t *s, void *p)
{
	free(p);
}

/* answer_body answers 2.05 with body buf (malloc()ed, consumed) in format
 * fmt: libcoap does block-wise transfers for its sessions; the shared
 * sockets get the Block2 slice the request asks for. */
static void
answer_body(struct req *q, uint16_t fmt, uint8_t *buf, size_t len)
{
	coap_pdu_code_t code;

	coap_pdu_set_code(q->resp, COAP_RESPONSE_CODE_CONTENT);
	if (q->s != NULL) {
		coap_add_data_large_response(q->r, q->s, q->pdu, q->resp,
		                             q->query, fmt, -1, 0, len, buf,
		                             release_buf, buf);
		return;
	}
	code = sim_wire_add_body(q->pdu, q->resp, fmt, buf, len);
	free(buf);
	if (code != 0) {
		coap_pdu_set_code(q->resp, code);
	}
}

/* encode_path reads path of c and encodes it as fmt into a malloc()ed
 * buffer.  Returns 2.05 or the error code to answer. */
static coap_pdu_code_t
encode_path(struct sim_client *c, const struct lwm2m_path *path, uint16_t fmt,
            uint8_t **ret_buf, size_t *ret_len)
{
	struct lwm2m_tree tree;
	lwm2m_err err;

	if (!format_ok(c, fmt)) {
		return COAP_RESPONSE_CODE_NOT_ACCEPTABLE;
	}
	lwm2m_tree_init(&tree, NULL);
	err = sim_model_read(c->model, path, &tree);
	if (err == LWM2M_OK) {
		err = lwm2m_encode(fmt, &tree, path, ret_buf, ret_len);
		if (err == LWM2M_EINVAL) {
			lwm2m_tree_fini(&tree);
			return COAP_RESPONSE_CODE_NOT_ACCEPTABLE;
		}
	}
	lwm2m_tree_fini(&tree);
	return err == LWM2M_OK ? COAP_RESPONSE_CODE_CONTENT : err_code(err);
}

/* ---- attributes ------------------------------------------------------------
 */

static bool
path_eq(const struct lwm2m_path *a, const struct lwm2m_path *b)
{
	return a->len == b->len &&
	       memcmp(a->ids, b->ids, a->len * sizeof a->ids[0]) == 0;
}

static struct sim_attr *
attr_find(struct sim_client *c, const struct lwm2m_path *p)
{
	for (struct sim_attr *a = c->attrs; a != NULL; a = a->next) {
		if (path_eq(&a->path, p)) {
			return a;
		}
	}
	return NULL;
}

/* effective merges the server defaults and the attributes written from
 * the object level down to path; the most specific level wins. */
static void
effective(struct sim_client *c, const struct lwm2m_path *path,
          struct sim_attr *ret)
{
	struct lwm2m_path p = {.len = 3, .ids = {1, 0, 2}};
	double v;

	memset(ret, 0, sizeof *ret);
	if (sim_model_number(c->model, &p, &v)) {
		ret->pmin = v;
	}
	p.ids[2] = 3;
	if (sim_model_number(c->model, &p, &v)) {
		ret->pmax = v;
	}
	for (p = *path, p.len = 1; p.len <= path->len; p.len++) {
		const struct sim_attr *a = attr_find(c, &p);

		if (a == NULL) {
			continue;
		}
		ret->set |= a->set;
		ret->pmin = a->set & SIM_A_PMIN ? a->pmin : ret->pmin;
		ret->pmax = a->set & SIM_A_PMAX ? a->pmax : ret->pmax;
		ret->gt = a->set & SIM_A_GT ? a->gt : ret->gt;
		ret->lt = a->set & SIM_A_LT ? a->lt : ret->lt;
		ret->st = a->set & SIM_A_ST ? a->st : ret->st;
	}
}

static unsigned
attr_bit(const char *name, size_t len)
{
	static const char *names[] = {"pmin", "pmax", "gt", "lt", "st"};

	for (unsigned i = 0; i < 5; i++) {
		if (strlen(names[i]) == len &&
		    memcmp(names[i], name, len) == 0) {
			return 1u << i;
		}
	}
	return 0;
}

static void
attr_store(struct sim_attr *a, unsigned bit, double v)
{
	a->set |= bit;
	switch (bit) {
	case SIM_A_PMIN:
		a->pmin = v;
		break;
	case SIM_A_PMAX:
		a->pmax = v;
		break;
	case SIM_A_GT:
		a->gt = v;
		break;
	case SIM_A_LT:
		a->lt = v;
		break;
	default:
		a->st = v;
		break;
	}
}

/* parse_attr applies one "name[=value]" of a Write-Attributes query to a;
 * epmin/epmax are accepted and ignored. */
static lwm2m_err
parse_attr(struct sim_attr *a, const char *s, size_t len)
{
	const char *eq = memchr(s, '=', len);
	size_t nlen = eq != NULL ? (size_t)(eq - s) : len;
	unsigned bit = attr_bit(s, nlen);
	char num[64], *end;
	double v;

	if (bit == 0) {
		return (nlen == 5 && (memcmp(s, "epmin", 5) == 0 ||
		                      memcmp(s, "epmax", 5) == 0))
		           ? LWM2M_OK
		           : LWM2M_EPROTO;
	}
	if (eq == NULL) {
		a->set &= ~bit;
		return LWM2M_OK;
	}
	if (len - nlen - 1 == 0 || len - nlen - 1 >= sizeof num) {
		return LWM2M_EPROTO;
	}
	memcpy(num, eq + 1, len - nlen - 1);
	num[len - nlen - 1] = '\0';
	v = strtod(num, &end);
	if (*end != '\0' || v != v ||
	    ((bit == SIM_A_PMIN || bit == SIM_A_PMAX || bit == SIM_A_ST) &&
	     v < 0)) {
		return LWM2M_EPROTO;
	}
	attr_store(a, bit, v);
	return LWM2M_OK;
}

static size_t
attr_count(const struct sim_client *c)
{
	size_t n = 0;

	for (const struct sim_attr *a = c->attrs; a != NULL; a = a->next) {
		n++;
	}
	return n;
}

static void
do_write_attr(struct req *q)
{
	struct sim_client *c = q->c;
	struct sim_attr *a = attr_find(c, &q->path), tmp = {0};
	const char *s = (const char *)q->query->s;
	size_t left = q->query->length;

	tmp.path = q->path;
	if (a != NULL) {
		tmp = *a;
	}
	while (left > 0) {
		size_t len = strcspn(s, "&");

		len = len < left ? len : left;
		if (parse_attr(&tmp, s, len) != LWM2M_OK) {
			answer(q, COAP_RESPONSE_CODE_BAD_REQUEST,
			       "bad attribute");
			return;
		}
		s += len + (len < left);
		left -= len + (len < left);
	}
	if (a == NULL) {
		if (attr_count(c) >= SIM_MAX_ATTRS ||
		    (a = malloc(sizeof *a)) == NULL) {
			answer_err(q, LWM2M_ELIMIT);
			return;
		}
		tmp.next = c->attrs;
		c->attrs = a;
	}
	*a = tmp;
	answer(q, COAP_RESPONSE_CODE_CHANGED, NULL);
}

static size_t
discover_attrs(void *arg, const struct lwm2m_path *p, char *out, size_t size)
{
	const struct sim_attr *a = attr_find(arg, p);
	static const char *names[] = {"pmin", "pmax", "gt", "lt", "st"};
	size_t off = 0;

	out[0] = '\0';
	for (unsigned i = 0; a != NULL && i < 5; i++) {
		double v[] = {a->pmin, a->pmax, a->gt, a->lt, a->st};
		int n;

		if ((a->set & (1u << i)) == 0) {
			continue;
		}
		n = snprintf(out + off, size - off, ";%s=%.15g", names[i],
		             v[i]);
		if (n < 0 || (size_t)n >= size - off) {
			break;
		}
		off += (size_t)n;
	}
	return off;
}

/* ---- observations -----------------------------------------------------------
 */

static size_t
obs_count(const struct sim_client *c)
{
	size_t n = 0;

	for (const struct sim_obs *o = c->obs; o != NULL; o = o->next) {
		n++;
	}
	return n;
}

void
sim_dm_drop_obs(struct sim_client *c, const struct lwm2m_path *path)
{
	struct sim_obs **pp = &c->obs;

	while (*pp != NULL) {
		struct sim_obs *o = *pp;

		if (path == NULL || lwm2m_path_is_prefix(path, &o->path)) {
			*pp = o->next;
			free(o);
		} else {
			pp = &o->next;
		}
	}
	while (path == NULL && c->attrs != NULL) {
		struct sim_attr *a = c->attrs;

		c->attrs = a->next;
		free(a);
	}
}

void
sim_dm_drop_obs_token(struct sim_client *c, const uint8_t *token, size_t len)
{
	for (struct sim_obs **pp = &c->obs; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->tkl == len &&
		    memcmp((*pp)->token, token, len) == 0) {
			struct sim_obs *o = *pp;

			*pp = o->next;
			free(o);
			return;
		}
	}
}

static struct sim_obs *
obs_add(struct sim_client *c, const struct req *q, uint16_t fmt)
{
	coap_bin_const_t tok = coap_pdu_get_token(q->pdu);
	struct sim_obs *o;

	sim_dm_drop_obs_token(c, tok.s, tok.length);
	if (obs_count(c) >= SIM_MAX_OBS || (o = calloc(1, sizeof *o)) == NULL) {
		return NULL;
	}
	o->path = q->path;
	memcpy(o->token, tok.s, tok.length);
	o->tkl = (uint8_t)tok.length;
	o->fmt = fmt;
	o->seq = 1;
	o->last_ms = lwm2m_mono_ms();
	o->has_num = sim_model_number(c->model, &q->path, &o->last_num);
	o->next = c->obs;
	c->obs = o;
	if (!c->on_observed) {
		c->on_observed = true;
		c->next_observed = c->ctx->observed;
		c->ctx->observed = c;
	}
	return o;
}

static void
send_notify(struct sim_client *c, struct sim_obs *o, const uint8_t *buf,
            size_t len)
{
	/* Every SIM_CON_EVERY-th notification is confirmable even without
	 * --con-notify, so a server that forgot the token gets to answer
	 * with RST (libcoap does not report RSTs to NON messages). */
	bool con = c->ctx->opts.con_notify || (o->seq + 1) % SIM_CON_EVERY == 0;
	coap_pdu_t *pdu =
	    sim_client_new_pdu(c, con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON,
	                       COAP_RESPONSE_CODE_CONTENT);
	uint8_t b[4];

	if (pdu == NULL) {
		return;
	}
	o->seq = (o->seq + 1) & 0xffffff;
	if (coap_add_token(pdu, o->tkl, o->token) != 1 ||
	    coap_add_option(pdu, COAP_OPTION_OBSERVE,
	                    coap_encode_var_safe(b, sizeof b, o->seq),
	                    b) == 0 ||
	    coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
	                    coap_encode_var_safe(b, sizeof b, o->fmt),
	                    b) == 0 ||
	    coap_add_data(pdu, len, buf) != 1) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "ep=\"%s\" notification of %zu "
		          "bytes does not fit, skipped",
		          c->ep, len);
		coap_delete_pdu(pdu);
		return;
	}
	sim_client_send(c, pdu);
	c->ctx->stats.notifications++;
}

/* value_due applies gt/lt/st to a numeric resource: true when the change
 * from the last value sent is one the attributes ask for. */
static bool
value_due(const struct sim_attr *a, const struct sim_obs *o, double v)
{
	bool due = (a->set & (SIM_A_GT | SIM_A_LT | SIM_A_ST)) == 0;

	if (a->set & SIM_A_GT) {
		due = due || ((o->last_num <= a->gt) != (v <= a->gt));
	}
	if (a->set & SIM_A_LT) {
		due = due || ((o->last_num < a->lt) != (v < a->lt));
	}
	if (a->set & SIM_A_ST) {
		due = due ||
		      (v - o->last_num >= a->st || o->last_num - v >= a->st);
	}
	return due;
}

static void
obs_eval(struct sim_client *c, struct sim_obs *o, int64_t now)
{
	struct sim_attr a;
	uint8_t *buf;
	size_t len;
	uint64_t h;
	double v = 0;
	bool has_num, pmax_due, changed;

	effective(c, &o->path, &a);
	pmax_due = a.pmax > 0 && now - o->last_ms >= (int64_t)(a.pmax * 1000);
	if (!pmax_due && now - o->last_ms < (int64_t)(a.pmin * 1000)) {
		return;
	}
	if (encode_path(c, &o->path, o->fmt, &buf, &len) !=
	    COAP_RESPONSE_CODE_CONTENT) {
		return;
	}
	h = fnv1a(buf, len);
	has_num = sim_model_number(c->model, &o->path, &v);
	changed = h != o->last_hash &&
	          (!has_num || !o->has_num || value_due(&a, o, v));
	if (pmax_due || changed) {
		send_notify(c, o, buf, len);
		o->last_ms = now;
		o->last_hash = h;
		o->last_num = v;
		o->has_num = has_num;
	}
	free(buf);
}

void
sim_dm_check_obs(struct sim_client *c)
{
	int64_t now = lwm2m_mono_ms();

	if (c->muted || c->sleeping || !sim_client_online(c)) {
		return;
	}
	for (struct sim_obs *o = c->obs; o != NULL; o = o->next) {
		obs_eval(c, o, now);
	}
}

void
sim_dm_tick(struct sim_ctx *ctx)
{
	struct sim_client **pp = &ctx->observed;
	int64_t now = lwm2m_mono_ms();

	while (*pp != NULL) {
		struct sim_client *c = *pp;

		if (c->obs == NULL) {
			*pp = c->next_observed;
			c->on_observed = false;
			continue;
		}
		sim_model_tick(c->model, &c->seed);
		c->last_tick_ms = now;
		sim_dm_check_obs(c);
		pp = &c->next_observed;
	}
}

/* lazy_tick moves an unobserved client's sensors when it is read, so its
 * values change like an observed client's do. */
static void
lazy_tick(struct sim_client *c)
{
	int64_t now = lwm2m_mono_ms();

	if (!c->on_observed &&
	    now - c->last_tick_ms >= (int64_t)c->ctx->opts.sensor_period_ms) {
		sim_model_tick(c->model, &c->seed);
		c->last_tick_ms = now;
	}
}

/* ---- operations
 * -------------------------------------------------------------- */

static void
do_discover(struct req *q)
{
	char *buf = malloc(SIM_DISCOVER_MAX);
	lwm2m_err err;

	if (buf == NULL) {
		answer_err(q, LWM2M_ENOMEM);
		return;
	}
	err = sim_model_discover(q->c->model, &q->path, discover_attrs, q->c,
	                         buf, SIM_DISCOVER_MAX);
	if (err != LWM2M_OK) {
		free(buf);
		answer_err(q, err);
		return;
	}
	answer_body(q, LWM2M_FMT_LINK, (uint8_t *)buf, strlen(buf));
}

static void
do_read(struct req *q, uint16_t fmt, bool has_observe, unsigned observe)
{
	struct sim_client *c = q->c;
	struct sim_ctx *ctx = c->ctx;
	uint8_t *buf, b[4];
	size_t len;
	coap_pdu_code_t code;
	struct sim_obs *o = NULL;

	lazy_tick(c);
	code = encode_path(c, &q->path, fmt, &buf, &len);
	if (code != COAP_RESPONSE_CODE_CONTENT) {
		answer(q, code, NULL);
		return;
	}
	if (has_observe && observe == 0) {
		ctx->stats.ops[SIM_K_OBSERVE]++;
		sim_stats_count_path(ctx->stats.obs_paths, q->ptext);
		o = obs_add(c, q, fmt);
	} else if (has_observe && observe == 1) {
		coap_bin_const_t tok = coap_pdu_get_token(q->pdu);

		ctx->stats.ops[SIM_K_CANCEL]++;
		sim_dm_drop_obs_token(c, tok.s, tok.length);
	}
	if (o != NULL) {
		o->last_hash = fnv1a(buf, len);
		coap_add_option(q->resp, COAP_OPTION_OBSERVE,
		                coap_encode_var_safe(b, sizeof b, o->seq), b);
	}
	answer_body(q, fmt, buf, len);
}

static void
do_get(struct req *q)
{
	bool has_accept, has_observe;
	unsigned accept = sim_opt_uint(q->pdu, COAP_OPTION_ACCEPT, &has_accept);
	unsigned observe =
	    sim_opt_uint(q->pdu, COAP_OPTION_OBSERVE, &has_observe);

	if (has_accept && accept == LWM2M_FMT_LINK) {
		q->c->ctx->stats.ops[SIM_K_DISCOVER]++;
		do_discover(q);
		return;
	}
	q->c->ctx->stats.ops[SIM_K_READ]++;
	do_read(q, has_accept ? (uint16_t)accept : default_fmt(q->c, &q->path),
	        has_observe, observe);
}

/* decode_body decodes the request payload into tree.  Answers and returns
 * false on failure. */
static bool
decode_body(struct req *q, const struct lwm2m_path *base,
            struct lwm2m_tree *tree, bool *ret_text)
{
	bool has_cf;
	unsigned cf = sim_opt_uint(q->pdu, COAP_OPTION_CONTENT_FORMAT, &has_cf);
	const uint8_t *data = NULL;
	size_t len = 0, off, total;
	struct lwm2m_diag diag = {0};

	coap_get_data_large(q->pdu, &len, &data, &off, &total);
	if (!has_cf) {
		cf = base->len >= 3 ? LWM2M_FMT_TEXT : LWM2M_FMT_TLV;
	}
	if (!format_ok(q->c, cf)) {
		answer(q, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT, NULL);
		return false;
	}
	*ret_text = cf == LWM2M_FMT_TEXT || cf == LWM2M_FMT_LEGACY_TEXT;
	if (lwm2m_decode((enum lwm2m_format)cf, data, len, base, tree, &diag) !=
	    LWM2M_OK) {
		char msg[200];

		snprintf(msg, sizeof msg, "offset %zu: %s", diag.offset,
		         diag.msg);
		answer(q, COAP_RESPONSE_CODE_BAD_REQUEST, msg);
		return false;
	}
	return true;
}

static void
do_write(struct req *q, bool replace)
{
	struct lwm2m_tree tree;
	bool text;
	lwm2m_err err;

	q->c->ctx->stats.ops[SIM_K_WRITE]++;
	lwm2m_tree_init(&tree, NULL);
	if (q->path.len < 2) {
		answer(q, COAP_RESPONSE_CODE_NOT_ALLOWED, NULL);
	} else if (decode_body(q, &q->path, &tree, &text)) {
		err = sim_model_write(q->c->model, &q->path, &tree, replace,
		                      text);
		if (err == LWM2M_OK) {
			answer(q, COAP_RESPONSE_CODE_CHANGED, NULL);
			sim_dm_check_obs(q->c);
		} else {
			answer_err(q, err);
		}
	}
	lwm2m_tree_fini(&tree);
}

static void
do_create(struct req *q)
{
	struct lwm2m_tree tree;
	uint16_t iid;
	bool text;
	char num[8];
	size_t len = 0;
	const uint8_t *data;
	size_t off, total;
	lwm2m_err err;

	q->c->ctx->stats.ops[SIM_K_CREATE]++;
	lwm2m_tree_init(&tree, NULL);
	coap_get_data_large(q->pdu, &len, &data, &off, &total);
	if (len > 0 && !decode_body(q, &q->path, &tree, &text)) {
		lwm2m_tree_fini(&tree);
		return;
	}
	err = sim_model_create(q->c->model, q->path.ids[0], &tree, &iid);
	lwm2m_tree_fini(&tree);
	if (err != LWM2M_OK) {
		answer_err(q, err);
		return;
	}
	coap_pdu_set_code(q->resp, COAP_RESPONSE_CODE_CREATED);
	coap_add_option(q->resp, COAP_OPTION_LOCATION_PATH,
	                strlen(q->ptext + 1), (const uint8_t *)q->ptext + 1);
	snprintf(num, sizeof num, "%u", (unsigned)iid);
	coap_add_option(q->resp, COAP_OPTION_LOCATION_PATH, strlen(num),
	                (const uint8_t *)num);
	q->c->links_dirty = true;
	sim_client_soon(q->c, SIM_EXEC_UPDATE);
}

static bool
args_valid(const uint8_t *p, size_t len)
{
	if (len > SIM_EXEC_ARGS_MAX) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e) {
			return false;
		}
	}
	return true;
}

static void
do_execute(struct req *q)
{
	const uint8_t *data = NULL;
	size_t len = 0, off, total;
	enum sim_exec_effect effect;
	lwm2m_err err;

	q->c->ctx->stats.ops[SIM_K_EXECUTE]++;
	coap_get_data_large(q->pdu, &len, &data, &off, &total);
	if (!args_valid(data, len)) {
		answer(q, COAP_RESPONSE_CODE_BAD_REQUEST, "bad arguments");
		return;
	}
	err = sim_model_execute(q->c->model, &q->path, (const char *)data, len,
	                        &effect);
	if (err != LWM2M_OK) {
		answer_err(q, err);
		return;
	}
	lwm2m_log(LWM2M_LOG_INFO, "ep=\"%s\" executed %s", q->c->ep, q->ptext);
	answer(q, COAP_RESPONSE_CODE_CHANGED, NULL);
	sim_client_soon(q->c, effect);
}

static bool
is_executable(const struct lwm2m_path *p)
{
	const struct sim_obj_def *d = sim_obj_def_find(p->ids[0]);

	for (size_t i = 0; d != NULL && p->len == 3 && i < d->n_res; i++) {
		if (d->res[i].id == p->ids[2]) {
			return d->res[i].ops == SIM_OP_E;
		}
	}
	return false;
}

static void
do_post(struct req *q)
{
	if (q->path.len == 1) {
		do_create(q);
	} else if (is_executable(&q->path)) {
		do_execute(q);
	} else {
		do_write(q, false);
	}
}

static void
do_put(struct req *q)
{
	const uint8_t *data;
	size_t len = 0, off, total;

	coap_get_data_large(q->pdu, &len, &data, &off, &total);
	if (len == 0 && q->query != NULL && q->query->length > 0) {
		q->c->ctx->stats.ops[SIM_K_WRITE_ATTR]++;
		do_write_attr(q);
		return;
	}
	do_write(q, true);
}

static void
do_delete(struct req *q)
{
	const struct sim_obj_def *d = sim_obj_def_find(q->path.ids[0]);
	lwm2m_err err;

	q->c->ctx->stats.ops[SIM_K_DELETE]++;
	if (q->path.len != 2 || d == NULL || !d->multi_instance) {
		answer(q, COAP_RESPONSE_CODE_NOT_ALLOWED, NULL);
		return;
	}
	err = sim_model_delete(q->c->model, q->path.ids[0], q->path.ids[1]);
	if (err != LWM2M_OK) {
		answer_err(q, err);
		return;
	}
	sim_dm_drop_obs(q->c, &q->path);
	answer(q, COAP_RESPONSE_CODE_DELETED, NULL);
	q->c->links_dirty = true;
	sim_client_soon(q->c, SIM_EXEC_UPDATE);
}

/* ---- composite operations (LwM2M 1.1) ------------------------------------
 */

/* composite_fmt is the SenML format of a composite request body, or 0
 * after answering 4.15. */
static unsigned
composite_fmt(struct req *q)
{
	bool has_cf;
	unsigned cf = sim_opt_uint(q->pdu, COAP_OPTION_CONTENT_FORMAT, &has_cf);

	if (!has_cf ||
	    (cf != LWM2M_FMT_SENML_JSON && cf != LWM2M_FMT_SENML_CBOR) ||
	    !format_ok(q->c, cf)) {
		answer(q, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT, NULL);
		return 0;
	}
	return cf;
}

static void
answer_diag(struct req *q, const struct lwm2m_diag *diag)
{
	char msg[200];

	snprintf(msg, sizeof msg, "offset %zu: %s", diag->offset, diag->msg);
	answer(q, COAP_RESPONSE_CODE_BAD_REQUEST, msg);
}

/* covered is true when another path of the list reads paths[i] too: a
 * shorter prefix of it, or the same path earlier in the list. */
static bool
covered(const struct lwm2m_path *paths, size_t n, size_t i)
{
	for (size_t j = 0; j < n; j++) {
		if (j != i && lwm2m_path_is_prefix(&paths[j], &paths[i]) &&
		    (paths[j].len < paths[i].len || j < i)) {
			return true;
		}
	}
	return false;
}

/* read_paths reads every path of the list into tree; answers 4.04 naming
 * the first path that does not exist (4.05 when not readable). */
static bool
read_paths(struct req *q, const struct lwm2m_path *paths, size_t n,
           struct lwm2m_tree *tree)
{
	char msg[64], p[32];
	lwm2m_err err;

	for (size_t i = 0; i < n; i++) {
		if (covered(paths, n, i)) {
			continue;
		}
		err = sim_model_read(q->c->model, &paths[i], tree);
		if (err != LWM2M_OK) {
			lwm2m_path_format(&paths[i], p, sizeof p);
			snprintf(msg, sizeof msg, "%s: %s", p,
			         lwm2m_strerror(err));
			answer(q, err_code(err), msg);
			return false;
		}
	}
	return true;
}

/* do_fetch answers a Read-Composite (FETCH, a SenML list of paths) with
 * the values in the Accept format (default: the request's format).  An
 * Observe option is not honoured: the answer carries none, so no
 * observation is set up (RFC 7641 section 4.1). */
static void
do_fetch(struct req *q)
{
	static const struct lwm2m_path root = {0};
	struct lwm2m_path paths[SIM_COMPOSITE_MAX];
	struct lwm2m_tree tree;
	struct lwm2m_diag diag = {0};
	const uint8_t *data = NULL;
	size_t len = 0, off, total, n = 0, out_len;
	unsigned cf = composite_fmt(q), accept;
	bool has_accept;
	uint8_t *out;
	lwm2m_err err;

	q->c->ctx->stats.ops[SIM_K_READ_COMPOSITE]++;
	if (cf == 0) {
		return;
	}
	accept = sim_opt_uint(q->pdu, COAP_OPTION_ACCEPT, &has_accept);
	accept = has_accept ? accept : cf;
	coap_get_data_large(q->pdu, &len, &data, &off, &total);
	lwm2m_tree_init(&tree, NULL);
	if (lwm2m_senml_decode_paths((enum lwm2m_format)cf, data, len, &tree,
	                             paths, SIM_COMPOSITE_MAX, &n,
	                             &diag) != LWM2M_OK) {
		answer_diag(q, &diag);
	} else if (!format_ok(q->c, accept)) {
		answer(q, COAP_RESPONSE_CODE_NOT_ACCEPTABLE, NULL);
	} else if (read_paths(q, paths, n, &tree)) {
		err = lwm2m_encode((enum lwm2m_format)accept, &tree, &root,
		                   &out, &out_len);
		if (err == LWM2M_OK) {
			answer_body(q, (uint16_t)accept, out, out_len);
		} else {
			answer(q,
			       err == LWM2M_EINVAL
			           ? COAP_RESPONSE_CODE_NOT_ACCEPTABLE
			           : err_code(err),
			       NULL);
		}
	}
	lwm2m_tree_fini(&tree);
}

/* do_ipatch applies a Write-Composite (iPATCH, SenML records with
 * values): all or nothing. */
static void
do_ipatch(struct req *q)
{
	static const struct lwm2m_path root = {0};
	struct lwm2m_tree tree;
	struct lwm2m_diag diag = {0};
	const uint8_t *data = NULL;
	size_t len = 0, off, total;
	unsigned cf = composite_fmt(q);
	lwm2m_err err;

	q->c->ctx->stats.ops[SIM_K_WRITE_COMPOSITE]++;
	if (cf == 0) {
		return;
	}
	coap_get_data_large(q->pdu, &len, &data, &off, &total);
	lwm2m_tree_init(&tree, NULL);
	if (lwm2m_decode((enum lwm2m_format)cf, data, len, &root, &tree,
	                 &diag) != LWM2M_OK) {
		answer_diag(q, &diag);
	} else if ((err = sim_model_write_composite(q->c->model, &tree)) !=
	           LWM2M_OK) {
		answer_err(q, err);
	} else {
		answer(q, COAP_RESPONSE_CODE_CHANGED, NULL);
		sim_dm_check_obs(q->c);
	}
	lwm2m_tree_fini(&tree);
}

/* do_composite serves FETCH and iPATCH on any path (LwM2M 1.1 puts them
 * on "/"); a LwM2M 1.0 client answers 4.05 as 1.0 has no such methods. */
static void
do_composite(struct req *q, coap_pdu_code_t method)
{
	if (q->c->ctx->opts.lwm2m_minor == 0) {
		q->c->ctx->stats.ops[SIM_K_OTHER]++;
		answer(q, COAP_RESPONSE_CODE_NOT_ALLOWED,
		       "composite operations need LwM2M 1.1");
		return;
	}
	lazy_tick(q->c);
	if (method == COAP_REQUEST_CODE_FETCH) {
		do_fetch(q);
	} else {
		do_ipatch(q);
	}
}

static bool
parse_req_path(struct req *q)
{
	coap_string_t *uri = coap_get_uri_path(q->pdu);
	lwm2m_err err;

	if (uri == NULL || uri->length == 0) {
		coap_delete_string(uri);
		q->path.len = 0;
		snprintf(q->ptext, sizeof q->ptext, "/");
		return true;
	}
	err = lwm2m_path_parse((const char *)uri->s, uri->length, &q->path);
	coap_delete_string(uri);
	if (err != LWM2M_OK) {
		return false;
	}
	lwm2m_path_format(&q->path, q->ptext, sizeof q->ptext);
	return true;
}

static const char *
method_name(coap_pdu_code_t method)
{
	switch (method) {
	case COAP_REQUEST_CODE_GET:
		return "GET";
	case COAP_REQUEST_CODE_POST:
		return "POST";
	case COAP_REQUEST_CODE_PUT:
		return "PUT";
	case COAP_REQUEST_CODE_DELETE:
		return "DELETE";
	case COAP_REQUEST_CODE_FETCH:
		return "FETCH";
	case COAP_REQUEST_CODE_IPATCH:
		return "iPATCH";
	default:
		return "other";
	}
}

void
sim_dm_handler(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
               const coap_string_t *query, coap_pdu_t *resp)
{
	struct sim_client *c = coap_session_get_app_data(s);

	if (c == NULL) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE_NOT_FOUND);
		return;
	}
	sim_dm_request(c, r, s, req, query, resp);
}

void
sim_dm_request(struct sim_client *c, coap_resource_t *r, coap_session_t *s,
               const coap_pdu_t *req, const coap_string_t *query,
               coap_pdu_t *resp)
{
	struct req q = {
	    .c = c, .r = r, .s = s, .pdu = req, .query = query, .resp = resp};
	coap_pdu_code_t method = coap_pdu_get_code(req);

	if (!parse_req_path(&q)) {
		answer(&q, COAP_RESPONSE_CODE_NOT_FOUND, NULL);
		return;
	}
	q.c->ctx->stats.requests++;
	sim_stats_count_path(q.c->ctx->stats.paths, q.ptext);
	if (q.c->fail_code != 0) {
		answer(&q, q.c->fail_code, "failure set by the fail command");
	} else if (method == COAP_REQUEST_CODE_GET) {
		do_get(&q);
	} else if (method == COAP_REQUEST_CODE_FETCH ||
	           method == COAP_REQUEST_CODE_IPATCH) {
		do_composite(&q, method);
	} else if (q.path.len == 0) {
		q.c->ctx->stats.ops[SIM_K_OTHER]++;
		answer(&q, COAP_RESPONSE_CODE_NOT_ALLOWED, NULL);
	} else if (method == COAP_REQUEST_CODE_PUT) {
		do_put(&q);
	} else if (method == COAP_REQUEST_CODE_POST) {
		do_post(&q);
	} else if (method == COAP_REQUEST_CODE_DELETE) {
		do_delete(&q);
	} else {
		q.c->ctx->stats.ops[SIM_K_OTHER]++;
		answer(&q, COAP_RESPONSE_CODE_NOT_ALLOWED, NULL);
	}
	lwm2m_log(LWM2M_LOG_INFO, "ep=\"%s\" %s %s -> %d.%02d", q.c->ep,
	          method_name(method), q.ptext, coap_pdu_get_code(resp) >> 5,
	          coap_pdu_get_code(resp) & 31);
}
