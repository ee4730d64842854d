/* gw_reg.c - registration parsing and decisions: pure functions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "lwm2m_link.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"

static bool
printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
			return false;
		}
	}
	return true;
}

static bool
copy_str(char *dst, size_t size, const char *s, size_t len)
{
	if (len >= size) {
		return false;
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
	return true;
}

static lwm2m_err
parse_lt(const char *v, size_t len, struct gw_reg_query *q, char *diag,
         size_t dsize)
{
	uint64_t lt = 0;

	if (len == 0 || len > 10) {
		return lwm2m_errf(LWM2M_EPROTO, diag, dsize,
		                  "lt must be a number of seconds 1..%u",
		                  GW_LT_MAX);
	}
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9') {
			return lwm2m_errf(
			    LWM2M_EPROTO, diag, dsize,
			    "lt must be a number of seconds 1..%u", GW_LT_MAX);
		}
		lt = lt * 10 + (uint64_t)(v[i] - '0');
	}
	if (lt < 1 || lt > GW_LT_MAX) {
		return lwm2m_errf(LWM2M_EPROTO, diag, dsize,
		                  "lt must be a number of seconds 1..%u",
		                  GW_LT_MAX);
	}
	q->lt = (uint32_t)lt;
	q->has_lt = true;
	return LWM2M_OK;
}

static lwm2m_err
parse_version(const char *v, size_t len, struct gw_reg_query *q, char *diag,
              size_t dsize)
{
	/* "1.1", and leniently "1.0.0" as some clients (npm coap-node) send:
	 * the patch digit does not change the protocol. */
	bool patch = len == 5 && v[3] == '.' && v[4] >= '0' && v[4] <= '9';
	if ((len != 3 && !patch) || v[0] < '0' || v[0] > '9' || v[1] != '.' ||
	    v[2] < '0' || v[2] > '9') {
		return lwm2m_errf(LWM2M_EPROTO, diag, dsize,
		                  "lwm2m must be a version like 1.1");
	}
	if (v[0] != '1' || v[2] > '2') {
		return lwm2m_errf(
		    LWM2M_ENOTFOUND, diag, dsize,
		    "lwm2m version %.3s not supported (1.0, 1.1, 1.2)", v);
	}
	memcpy(q->lwm2m, v, 3);
	q->lwm2m[3] = '\0';
	q->has_lwm2m = true;
	return LWM2M_OK;
}

static lwm2m_err
parse_binding(const char *v, size_t len, struct gw_reg_query *q, char *diag,
              size_t dsize)
{
	if (len == 0 || len >= sizeof q->b) {
		return lwm2m_errf(LWM2M_EPROTO, diag, dsize,
		                  "b must be 1..7 letters");
	}
	for (size_t i = 0; i < len; i++) {
		if (strchr("UTSNQMH", v[i]) == NULL || v[i] == '\0' ||
		    memchr(v, v[i], i) != NULL) {
			return lwm2m_errf(
			    LWM2M_EPROTO, diag, dsize,
			    "b must use each of U T S N Q M H once");
		}
	}
	copy_str(q->b, sizeof q->b, v, len);
	q->has_b = true;
	return LWM2M_OK;
}

static lwm2m_err
add_extra(struct gw_reg_query *q, const char *s, size_t len, char *diag,
          size_t dsize)
{
	size_t cur = strlen(q->extra);
	size_t need = cur + (cur > 0) + len;

	if (need > GW_EXTRA_MAX) {
		return lwm2m_errf(LWM2M_EPROTO, diag, dsize,
		                  "unknown parameters longer than %d bytes",
		                  GW_EXTRA_MAX);
	}
	if (cur > 0) {
		q->extra[cur++] = '&';
	}
	memcpy(q->extra + cur, s, len);
	q->extra[cur + len] = '\0';
	return LWM2M_OK;
}

/* one "name[=value]" option; seen is a bit set of known names */
static lwm2m_err
parse_param(const struct gw_str *o, enum gw_op op, struct gw_reg_query *q,
            unsigned *seen, char *diag, size_t dsize)
{
	static const char *const names[] = {"ep", "lt",  "lwm2m",
	                                    "b",  "sms", "Q"};
	const char *eq = memchr(o->ptr, '=', o->len);
	size_t nlen = eq ? (size_t)(eq - o->ptr) : o->len;
	const char *v = eq ? eq + 1 : NULL;
	size_t vlen = eq ? o->len - nlen - 1 : 0;
	size_t k;

	if (o->len == 0 || !printable(o->ptr, o->len)) {
		return lwm2m_errf(LWM2M_EPROTO, diag, dsize,
		                  "query parameter empty or not printable");
	}
	for (k = 0; k < 6; k++) {
		if (strlen(names[k]) == nlen &&
		    memcmp(names[k], o->ptr, nlen) == 0) {
			break;
		}
	}
	if (k == 6) {
		return add_extra(q, o->ptr, o->len, diag, dsize);
	}
	if ((*seen & (1u << k)) != 0) {
		return lwm2m_errf(LWM2M_EPROTO, diag, dsize, "%s given twice",
		                  names[k]);
	}
	*seen |= 1u << k;
	if (k == 5) {
		if (v != NULL) {
			return lwm2m_errf(LWM2M_EPROTO, diag, dsize,
			                  "Q is a flag and takes no value");
		}
		q->q = true;
		return LWM2M_OK;
	}
	if (v == NULL) {
		return lwm2m_errf(LWM2M_EPROTO, diag, dsize, "%s needs a value",
		                  names[k]);
	}
	if (op == GW_OP_UPDATE && (k == 0 || k == 2)) {
		return lwm2m_errf(LWM2M_EPROTO, diag, dsize,
		                  "%s is not allowed in an Update", names[k]);
	}
	switch (k) {
	case 0:
		if (vlen == 0 || !copy_str(q->ep, sizeof q->ep, v, vlen)) {
			return lwm2m_errf(LWM2M_EPROTO, diag, dsize,
			                  "ep must be 1..%d bytes", GW_EP_MAX);
		}
		q->has_ep = true;
		return LWM2M_OK;
	case 1:
		return parse_lt(v, vlen, q, diag, dsize);
	case 2:
		return parse_version(v, vlen, q, diag, dsize);
	case 3:
		return parse_binding(v, vlen, q, diag, dsize);
	default:
		if (vlen == 0 || !copy_str(q->sms, sizeof q->sms, v, vlen)) {
			return lwm2m_errf(LWM2M_EPROTO, diag, dsize,
			                  "sms must be 1..%d bytes",
			                  GW_SMS_MAX);
		}
		q->has_sms = true;
		return LWM2M_OK;
	}
}

lwm2m_err
gw_reg_query_parse(const struct gw_str *opts, size_t n, enum gw_op op,
                   struct gw_reg_query *ret_q, char *diag, size_t diag_size)
{
	struct gw_reg_query q;
	unsigned seen = 0;
	lwm2m_err err;

	memset(&q, 0, sizeof q);
	for (size_t i = 0; i < n; i++) {
		err = parse_param(&opts[i], op, &q, &seen, diag, diag_size);
		if (err != LWM2M_OK) {
			return err;
		}
	}
	if (op == GW_OP_REGISTER && !q.has_ep) {
		return lwm2m_errf(LWM2M_EPROTO, diag, diag_size,
		                  "ep (endpoint client name) is missing");
	}
	*ret_q = q;
	return LWM2M_OK;
}

struct obj_link {
	uint16_t obj;
	int32_t inst; /* -1 for an object link */
	char ver[8];
};

static bool
attr_is(const struct lwm2m_link_attr *a, const char *value)
{
	return a != NULL && a->value != NULL && a->value_len == strlen(value) &&
	       memcmp(a->value, value, a->value_len) == 0;
}

static bool
is_root_link(const struct lwm2m_link_list *l, const struct lwm2m_link *k)
{
	return attr_is(lwm2m_link_attr_find(l, k, "rt"), "oma.lwm2m") ||
	       (k->uri_len == 1 && k->uri[0] == '/');
}

static bool
valid_ct(const char *s, size_t len)
{
	bool digit = false;

	for (size_t i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			digit = true;
		} else if (s[i] != ' ' || !digit) {
			return false;
		} else {
			digit = false;
		}
	}
	return digit;
}

static lwm2m_err
take_root(const struct lwm2m_link_list *l, const struct lwm2m_link *k,
          struct gw_reg_links *out, char *diag, size_t dsize)
{
	const struct lwm2m_link_attr *ct = lwm2m_link_attr_find(l, k, "ct");
	size_t ulen = k->uri_len;

	if (ulen == 0 || k->uri[0] != '/' ||
	    (ulen > 1 && k->uri[ulen - 1] == '/') ||
	    !copy_str(out->root, sizeof out->root, k->uri,
	              ulen == 1 ? 0 : ulen)) {
		return lwm2m_errf(
		    LWM2M_EPROTO, diag, dsize,
		    "root link must be </> or </path> (<= %d bytes)",
		    GW_ROOT_MAX);
	}
	if (ct != NULL &&
	    (ct->value == NULL || !valid_ct(ct->value, ct->value_len) ||
	     !copy_str(out->ct, sizeof out->ct, ct->value, ct->value_len))) {
		return lwm2m_errf(
		    LWM2M_EPROTO, diag, dsize,
		    "ct of the root link must be numbers separated by spaces");
	}
	return LWM2M_OK;
}

/* takes the root link, the only one is_root_link finds, into out;
 * *ret_root is it, or NULL */
static lwm2m_err
find_root(const struct lwm2m_link_list *l, struct gw_reg_links *out,
          const struct lwm2m_link **ret_root, char *diag, size_t dsize)
{
	const struct lwm2m_link *root = NULL;

	for (size_t i = 0; i < l->n_links; i++) {
		if (!is_root_link(l, &l->links[i])) {
			continue;
		}
		if (root != NULL) {
			return lwm2m_errf(LWM2M_EPROTO, diag, dsize,
			                  "more than one root link");
		}
		root = &l->links[i];
	}
	*ret_root = root;
	return root ? take_root(l, root, out, diag, dsize) : LWM2M_OK;
}

/* "o" or "o/i" with ids 0..65534; ret_inst -1 for "o" */
static bool
parse_ids(const char *s, size_t len, uint16_t *ret_obj, int32_t *ret_inst)
{
	long ids[2] = {-1, -1};
	int n = 0;
	size_t i = 0;

	while (i < len && n < 2) {
		long v = 0;
		size_t start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 5) {
			v = v * 10 + (s[i++] - '0');
		}
		if (i == start || v > 65534) {
			return false;
		}
		ids[n++] = v;
		if (i < len && s[i] == '/' && i + 1 < len) {
			i++;
		} else {
			break;
		}
	}
	if (i != len || n == 0) {
		return false;
	}
	*ret_obj = (uint16_t)ids[0];
	*ret_inst = (int32_t)ids[1];
	return true;
}

static bool
valid_ver(const struct lwm2m_link_attr *a)
{
	const char *dot;

	if (a->value == NULL || a->value_len == 0 || a->value_len >= 8) {
		return false;
	}
	dot = memchr(a->value, '.', a->value_len);
	if (dot == NULL || dot == a->value ||
	    dot == a->value + a->value_len - 1) {
		return false;
	}
	for (size_t i = 0; i < a->value_len; i++) {
		if (a->value + i != dot &&
		    (a->value[i] < '0' || a->value[i] > '9')) {
			return false;
		}
	}
	return true;
}

/* the object link k under root (rlen bytes) into ret */
static lwm2m_err
take_object(const struct lwm2m_link_list *l, const struct lwm2m_link *k,
            const char *root, size_t rlen, struct obj_link *ret, char *diag,
            size_t dsize)
{
	const struct lwm2m_link_attr *ver;

	memset(ret, 0, sizeof *ret);
	if (k->uri_len <= rlen + 1 || memcmp(k->uri, root, rlen) != 0 ||
	    k->uri[rlen] != '/') {
		return lwm2m_errf(
		    LWM2M_EPROTO, diag, dsize,
		    "link <%.*s> is not under the root path \"%s/\"",
		    (int)(k->uri_len > 40 ? 40 : k->uri_len), k->uri, root);
	}
	if (!parse_ids(k->uri + rlen + 1, k->uri_len - rlen - 1, &ret->obj,
	               &ret->inst)) {
		return lwm2m_errf(
		    LWM2M_EPROTO, diag, dsize,
		    "link <%.*s> is not an object or object instance",
		    (int)(k->uri_len > 40 ? 40 : k->uri_len), k->uri);
	}
	ver = lwm2m_link_attr_find(l, k, "ver");
	if (ver != NULL && !valid_ver(ver)) {
		return lwm2m_errf(
		    LWM2M_EPROTO, diag, dsize, "ver of <%.*s> must be like 1.1",
		    (int)(k->uri_len > 40 ? 40 : k->uri_len), k->uri);
	}
	if (ver != NULL && ret->inst < 0) {
		copy_str(ret->ver, sizeof ret->ver, ver->value, ver->value_len);
	}
	return LWM2M_OK;
}

static int
cmp_obj(const void *a, const void *b)
{
	const struct obj_link *x = a, *y = b;

	if (x->obj != y->obj) {
		return x->obj < y->obj ? -1 : 1;
	}
	return x->inst < y->inst ? -1 : x->inst > y->inst;
}

struct obj_ref {
	struct obj_link link;
	size_t idx;
};

static int
cmp_ref(const void *a, const void *b)
{
	const struct obj_ref *x = a, *y = b;
	int c = cmp_obj(&x->link, &y->link);

	if (c != 0) {
		return c;
	}
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Links a registration's scratch arrays hold on the stack; longer lists
 * take them from the heap.  Five allocations per Register were a tenth of
 * coap-gw's allocator work (bench/README.md, eighth storm round). */
#define LINKS_ON_STACK 64

/* Up to this many links, duplicates are found by comparing each link with
 * the ones kept before it: n^2/2 comparisons cost less than the sort below
 * (qsort was ~500 instructions per Register of six links; bench/README.md,
 * eighth storm round). */
#define MERGE_BY_SCAN 16

/* merge_duplicates for short lists; returns the links kept */
static size_t
merge_scan(struct obj_link *objs, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		bool seen = false;

		for (size_t j = 0; j < k && !seen; j++) {
			seen = cmp_obj(&objs[j], &objs[i]) == 0;
		}
		if (!seen) {
			objs[k++] = objs[i];
		}
	}
	return k;
}

/* Drops repeated links, keeping the first of each in the device's order
 * (clients do send "</3/0>,</3/0>"; Leshan merges them too). */
static lwm2m_err
merge_duplicates(struct obj_link *objs, size_t *n)
{
	struct obj_ref stack_refs[LINKS_ON_STACK];
	bool stack_drop[LINKS_ON_STACK];
	bool small = *n <= LINKS_ON_STACK;
	struct obj_ref *refs =
	    small ? stack_refs : malloc((*n + 1) * sizeof *refs);
	bool *drop = small ? stack_drop : malloc((*n + 1) * sizeof *drop);
	size_t k = 0;

	if (*n <= MERGE_BY_SCAN) {
		*n = merge_scan(objs, *n);
		return LWM2M_OK;
	}
	if (refs == NULL || drop == NULL) {
		if (!small) {
			free(refs);
			free(drop);
		}
		return LWM2M_ENOMEM;
	}
	memset(drop, 0, *n * sizeof *drop);
	for (size_t i = 0; i < *n; i++) {
		refs[i].link = objs[i];
		refs[i].idx = i;
	}
	qsort(refs, *n, sizeof *refs, cmp_ref);
	for (size_t i = 1; i < *n; i++) {
		drop[refs[i].idx] =
		    cmp_obj(&refs[i - 1].link, &refs[i].link) == 0;
	}
	for (size_t i = 0; i < *n; i++) {
		if (!drop[i]) {
			objs[k++] = objs[i];
		}
	}
	*n = k;
	if (!small) {
		free(refs);
		free(drop);
	}
	return LWM2M_OK;
}

/* writes the list in the device's order; NULL on ENOMEM.  By hand, not
 * sprintf: four calls per link were a tenth of a registration's
 * instructions (bench/README.md). */
static char *
format_objs(const struct obj_link *objs, size_t n)
{
	char *out = malloc(n * 32 + 1), *p = out;
	size_t vlen;

	if (out == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (i > 0) {
			*p++ = ',';
		}
		*p++ = '<';
		*p++ = '/';
		p = lwm2m_dec_put(p, objs[i].obj);
		if (objs[i].inst >= 0) {
			*p++ = '/';
			p = lwm2m_dec_put(p, (uint32_t)objs[i].inst);
		}
		*p++ = '>';
		vlen = objs[i].ver[0] != '\0' ? strlen(objs[i].ver) : 0;
		if (vlen > 0) {
			memcpy(p, ";ver=", 5);
			memcpy(p + 5, objs[i].ver, vlen);
			p += 5 + vlen;
		}
	}
	*p = '\0';
	return out;
}

/* the object links of l, all but root (find_root's) */
static lwm2m_err
collect_objects(const struct lwm2m_link_list *l, const struct lwm2m_link *root,
                struct gw_reg_links *out, struct obj_link *objs, char *diag,
                size_t dsize)
{
	size_t n = 0, rlen = strlen(out->root);
	lwm2m_err err;

	for (size_t i = 0; i < l->n_links; i++) {
		if (&l->links[i] == root) {
			continue;
		}
		err = take_object(l, &l->links[i], out->root, rlen, &objs[n],
		                  diag, dsize);
		if (err != LWM2M_OK) {
			return err;
		}
		n++;
	}
	err = merge_duplicates(objs, &n);
	if (err != LWM2M_OK) {
		return err;
	}
	out->objs = format_objs(objs, n);
	out->n_objs = n;
	return out->objs ? LWM2M_OK : LWM2M_ENOMEM;
}

lwm2m_err
gw_reg_links_parse(const char *buf, size_t len, struct gw_reg_links *ret_links,
                   char *diag, size_t diag_size)
{
	struct gw_reg_links out;
	struct lwm2m_link_space space;
	struct lwm2m_link_list list, *l = &list;
	struct obj_link stack_objs[LINKS_ON_STACK], *objs = stack_objs;
	const struct lwm2m_link *root = NULL;
	lwm2m_err err;

	if (len > GW_PAYLOAD_MAX) {
		return lwm2m_errf(LWM2M_ELIMIT, diag, diag_size,
		                  "link-format payload over %d bytes",
		                  GW_PAYLOAD_MAX);
	}
	err = lwm2m_link_parse_in(buf, len, GW_LINKS_MAX, &space, l, diag,
	                          diag_size);
	if (err != LWM2M_OK) {
		return err == LWM2M_ELIMIT ? LWM2M_EPROTO : err;
	}
	memset(&out, 0, sizeof out);
	if (l->n_links > LINKS_ON_STACK) {
		objs = calloc(l->n_links, sizeof *objs);
	}
	err = objs ? find_root(l, &out, &root, diag, diag_size) : LWM2M_ENOMEM;
	if (err == LWM2M_OK) {
		err = collect_objects(l, root, &out, objs, diag, diag_size);
	}
	if (objs != stack_objs) {
		free(objs);
	}
	lwm2m_link_list_fini(l, &space);
	if (err != LWM2M_OK) {
		gw_reg_links_fini(&out);
		return err;
	}
	*ret_links = out;
	return LWM2M_OK;
}

void
gw_reg_links_fini(struct gw_reg_links *links)
{
	if (links != NULL) {
		free(links->objs);
		links->objs = NULL;
	}
}

void
gw_record_fini(struct gw_record *rec)
{
	if (rec != NULL) {
		free(rec->objs);
		rec->objs = NULL;
	}
}

static bool
queue_mode(const struct gw_reg_query *q)
{
	return q->q || (q->has_b && strchr(q->b, 'Q') != NULL);
}

void
gw_reg_build_register(const struct gw_reg_query *q, struct gw_reg_links *links,
                      int64_t now_ms, struct gw_record *ret_rec)
{
	struct gw_record *r = ret_rec;

	memset(r, 0, sizeof *r);
	memcpy(r->ep, q->ep, sizeof r->ep);
	r->lt = q->has_lt ? q->lt : GW_LT_DEFAULT;
	strcpy(r->b, q->has_b ? q->b : "U");
	r->queue = queue_mode(q);
	strcpy(r->lwm2m, q->has_lwm2m ? q->lwm2m : "1.0");
	memcpy(r->sms, q->sms, sizeof r->sms);
	memcpy(r->extra, q->extra, sizeof r->extra);
	if (links != NULL) {
		memcpy(r->root, links->root, sizeof r->root);
		memcpy(r->ct, links->ct, sizeof r->ct);
		r->objs = links->objs;
		links->objs = NULL;
	}
	r->reg_ms = r->upd_ms = now_ms;
	r->exp_ms = now_ms + (int64_t)r->lt * 1000;
	r->state = GW_STATE_REGISTERED;
}

void
gw_reg_build_update(const struct gw_reg_query *q, struct gw_reg_links *links,
                    uint32_t cur_lt, bool cur_queue, int64_t now_ms,
                    struct gw_update *ret_upd)
{
	struct gw_update *u = ret_upd;

	memset(u, 0, sizeof *u);
	u->lt = q->has_lt ? q->lt : cur_lt;
	u->set_b = q->has_b;
	memcpy(u->b, q->b, sizeof u->b);
	u->queue = q->has_b || q->q ? queue_mode(q) : cur_queue;
	u->set_sms = q->has_sms;
	memcpy(u->sms, q->sms, sizeof u->sms);
	u->set_extra = q->extra[0] != '\0';
	memcpy(u->extra, q->extra, sizeof u->extra);
	if (links != NULL) {
		u->set_objs = true;
		u->objs = links->objs;
		links->objs = NULL;
	}
	u->upd_ms = now_ms;
	u->exp_ms = now_ms + (int64_t)u->lt * 1000;
}

uint8_t
gw_reg_decide_update(bool found, enum gw_state state, int64_t exp_ms,
                     bool blacklisted, bool deregister, int64_t now_ms)
{
	if (blacklisted) {
		return COAP_RESPONSE_CODE(403);
	}
	if (!found || state != GW_STATE_REGISTERED ||
	    now_ms > exp_ms + GW_EXPIRY_GRACE_MS) {
		return COAP_RESPONSE_CODE(404);
	}
	return deregister ? COAP_RESPONSE_CODE(202) : COAP_RESPONSE_CODE(204);
}

uint8_t
gw_reg_decide_register(bool blacklisted)
{
	return blacklisted ? COAP_RESPONSE_CODE(403) : COAP_RESPONSE_CODE(201);
}

const char *
gw_state_name(enum gw_state state)
{
	switch (state) {
	case GW_STATE_REGISTERED:
		return "registered";
	case GW_STATE_DEREGISTERED:
		return "deregistered";
	case GW_STATE_EXPIRED:
		return "expired";
	}
	return "registered";
}

bool
gw_state_parse(const char *text, enum gw_state *ret_state)
{
	for (int s = GW_STATE_REGISTERED; s <= GW_STATE_EXPIRED; s++) {
		if (strcmp(text, gw_state_name((enum gw_state)s)) == 0) {
			*ret_state = (enum gw_state)s;
			return true;
		}
	}
	return false;
}
