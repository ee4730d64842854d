#include "lwm2m_link.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *buf;
	size_t len, pos, max_links;
	struct lwm2m_link_list *list;
	size_t links_cap, attrs_cap;
	struct lwm2m_link_space *space; /* the list's first arrays, or NULL */
	char *diag;
	size_t diag_size;
};

static lwm2m_err fail(struct parser *p, lwm2m_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static lwm2m_err
fail(struct parser *p, lwm2m_err err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->diag == NULL || p->diag_size == 0) {
		return err;
	}
	n = snprintf(p->diag, p->diag_size, "link-format offset %zu: ", p->pos);
	if (n >= 0 && (size_t)n < p->diag_size) {
		va_start(ap, fmt);
		vsnprintf(p->diag + n, p->diag_size - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* The parser's classes of bytes, one bit each in link_class[]: a lookup
 * per byte instead of up to eight compares or a strchr call per byte
 * (bench/README.md, ninth storm round).  The table is built at compile
 * time from the definitions in LC_OF. */
#define LC_WS 1u       /* optional whitespace */
#define LC_PARMNAME 2u /* parmname character of RFC 5988 */
#define LC_PTOKEN 4u   /* ptoken character of RFC 6690 */
#define LC_URI 8u      /* may stand between '<' and '>' */
#define LC_QPLAIN 16u  /* stands for itself in a quoted value */

#define LC_ALNUM(c)                                                            \
	(((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') ||           \
	 ((c) >= '0' && (c) <= '9'))
#define LC_IS_WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')
#define LC_IS_PARMNAME(c)                                                      \
	(LC_ALNUM(c) || (c) == '!' || (c) == '#' || (c) == '$' ||              \
	 (c) == '&' || (c) == '+' || (c) == '-' || (c) == '.' || (c) == '^' || \
	 (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
/* every visible ASCII character but '"', ',', ';' and '\\' */
#define LC_IS_PTOKEN(c)                                                        \
	((c) > 0x20 && (c) < 0x7f && (c) != '"' && (c) != ',' && (c) != ';' && \
	 (c) != '\\')
#define LC_IS_URI(c) ((c) > 0x20 && (c) != 0x7f && (c) != '<' && (c) != '>')
#define LC_IS_QPLAIN(c)                                                        \
	(((c) >= 0x20 || (c) == '\t') && (c) != '"' && (c) != '\\')
#define LC_OF(c)                                                               \
	((LC_IS_WS(c) ? LC_WS : 0) | (LC_IS_PARMNAME(c) ? LC_PARMNAME : 0) |   \
	 (LC_IS_PTOKEN(c) ? LC_PTOKEN : 0) | (LC_IS_URI(c) ? LC_URI : 0) |     \
	 (LC_IS_QPLAIN(c) ? LC_QPLAIN : 0))
#define LC_4(c) LC_OF(c), LC_OF((c) + 1), LC_OF((c) + 2), LC_OF((c) + 3)
#define LC_16(c) LC_4(c), LC_4((c) + 4), LC_4((c) + 8), LC_4((c) + 12)
#define LC_64(c) LC_16(c), LC_16((c) + 16), LC_16((c) + 32), LC_16((c) + 48)

static const unsigned char link_class[256] = {LC_64(0), LC_64(64), LC_64(128),
                                              LC_64(192)};

static bool
is_class(char c, unsigned cls)
{
	return (link_class[(unsigned char)c] & cls) != 0;
}

static void
skip_ws(struct parser *p)
{
	while (p->pos < p->len && is_class(p->buf[p->pos], LC_WS)) {
		p->pos++;
	}
}

static bool
peek(struct parser *p, char c)
{
	return p->pos < p->len && p->buf[p->pos] == c;
}

/* makes room for need elements in *arr; an array in the caller's space
 * (fixed) moves to the heap, a heap array is reallocated */
static lwm2m_err
grow(void **arr, size_t *cap, size_t need, size_t elem, const void *fixed)
{
	size_t ncap = *cap ? *cap * 2 : 8;
	void *n;

	if (need <= *cap) {
		return LWM2M_OK;
	}
	if (fixed != NULL && *arr == fixed) {
		n = malloc(ncap * elem);
		if (n != NULL) {
			memcpy(n, fixed, *cap * elem);
		}
	} else {
		n = realloc(*arr, ncap * elem);
	}
	if (n == NULL) {
		return LWM2M_ENOMEM;
	}
	*arr = n;
	*cap = ncap;
	return LWM2M_OK;
}

/* The URI and quoted-value loops below run on locals, not on p->pos:
 * through the parser struct each byte cost a load and a store more
 * (bench/README.md, ninth storm round). */
static lwm2m_err
parse_quoted(struct parser *p, struct lwm2m_link_attr *a)
{
	const char *s = p->buf;
	size_t start = p->pos + 1, i = start, len = p->len;

	for (;;) {
		while (i < len && is_class(s[i], LC_QPLAIN)) {
			i++;
		}
		if (i >= len || s[i] == '"') {
			break;
		}
		if (s[i] != '\\') {
			p->pos = i;
			return fail(p, LWM2M_EPROTO,
			            "control character in quoted value");
		}
		if (++i >= len) { /* the byte after a backslash is kept as is */
			break;
		}
		i++;
	}
	p->pos = i;
	if (i >= len) {
		return fail(p, LWM2M_EPROTO, "unterminated quoted value");
	}
	a->value = s + start;
	a->value_len = i - start;
	a->quoted = true;
	p->pos++;
	return LWM2M_OK;
}

static lwm2m_err
parse_value(struct parser *p, struct lwm2m_link_attr *a)
{
	size_t start;

	p->pos++; /* '=' */
	if (peek(p, '"')) {
		return parse_quoted(p, a);
	}
	start = p->pos;
	while (p->pos < p->len && is_class(p->buf[p->pos], LC_PTOKEN)) {
		p->pos++;
	}
	if (p->pos == start) {
		return fail(p, LWM2M_EPROTO, "empty attribute value");
	}
	a->value = p->buf + start;
	a->value_len = p->pos - start;
	return LWM2M_OK;
}

static lwm2m_err
parse_attr(struct parser *p, struct lwm2m_link *link)
{
	struct lwm2m_link_list *l = p->list;
	struct lwm2m_link_attr *a;
	size_t start;

	if (link->n_attrs >= LWM2M_LINK_MAX_ATTRS) {
		return fail(p, LWM2M_ELIMIT, "more than %d attributes",
		            LWM2M_LINK_MAX_ATTRS);
	}
	if (grow((void **)&l->attrs, &p->attrs_cap, l->n_attrs + 1,
	         sizeof *l->attrs,
	         p->space ? p->space->attrs : NULL) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	a = &l->attrs[l->n_attrs];
	memset(a, 0, sizeof *a);
	start = p->pos;
	while (p->pos < p->len && is_class(p->buf[p->pos], LC_PARMNAME)) {
		p->pos++;
	}
	if (p->pos == start) {
		return fail(p, LWM2M_EPROTO, "attribute name expected");
	}
	a->name = p->buf + start;
	a->name_len = p->pos - start;
	if (peek(p, '=')) {
		lwm2m_err err = parse_value(p, a);
		if (err != LWM2M_OK) {
			return err;
		}
	}
	l->n_attrs++;
	link->n_attrs++;
	return LWM2M_OK;
}

static lwm2m_err
parse_uri(struct parser *p, struct lwm2m_link *link)
{
	const char *s = p->buf;
	size_t start, i, len = p->len;

	if (!peek(p, '<')) {
		return fail(p, LWM2M_EPROTO, "'<' expected");
	}
	start = i = p->pos + 1;
	while (i < len && is_class(s[i], LC_URI)) {
		i++;
	}
	p->pos = i;
	if (i >= len) {
		return fail(p, LWM2M_EPROTO, "'>' expected");
	}
	if (s[i] != '>') {
		return fail(p, LWM2M_EPROTO, "bad character in URI");
	}
	link->uri = s + start;
	link->uri_len = i - start;
	p->pos++;
	return LWM2M_OK;
}

static lwm2m_err
parse_link(struct parser *p)
{
	struct lwm2m_link_list *l = p->list;
	struct lwm2m_link link = {.first_attr = l->n_attrs};
	lwm2m_err err;

	if (l->n_links >= p->max_links) {
		return fail(p, LWM2M_ELIMIT, "more than %zu links",
		            p->max_links);
	}
	err = parse_uri(p, &link);
	skip_ws(p);
	while (err == LWM2M_OK && peek(p, ';')) {
		p->pos++;
		skip_ws(p);
		err = parse_attr(p, &link);
		skip_ws(p);
	}
	if (err != LWM2M_OK) {
		return err;
	}
	if (grow((void **)&l->links, &p->links_cap, l->n_links + 1,
	         sizeof *l->links,
	         p->space ? p->space->links : NULL) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	l->links[l->n_links++] = link;
	return LWM2M_OK;
}

static lwm2m_err
parse_all(struct parser *p)
{
	lwm2m_err err;

	skip_ws(p);
	if (p->pos == p->len) {
		return LWM2M_OK;
	}
	for (;;) {
		err = parse_link(p);
		if (err != LWM2M_OK) {
			return err;
		}
		skip_ws(p);
		if (p->pos == p->len) {
			return LWM2M_OK;
		}
		if (!peek(p, ',')) {
			return fail(p, LWM2M_EPROTO, "',' or ';' expected");
		}
		p->pos++;
		skip_ws(p);
	}
}

/* parses into list (zeroed by the caller), starting in space when not
 * NULL; on failure frees what it allocated */
static lwm2m_err
parse_into(const char *buf, size_t len, size_t max_links,
           struct lwm2m_link_space *space, struct lwm2m_link_list *list,
           char *diag, size_t diag_size)
{
	struct parser p = {.buf = buf,
	                   .len = len,
	                   .max_links = max_links,
	                   .list = list,
	                   .space = space,
	                   .diag = diag,
	                   .diag_size = diag_size};
	lwm2m_err err;

	if (space != NULL) {
		list->links = space->links;
		list->attrs = space->attrs;
		p.links_cap = LWM2M_LINK_SPACE_LINKS;
		p.attrs_cap = LWM2M_LINK_SPACE_ATTRS;
	}
	err = parse_all(&p);
	if (err != LWM2M_OK) {
		lwm2m_link_list_fini(list, space);
	}
	return err;
}

lwm2m_err
lwm2m_link_parse(const char *buf, size_t len, size_t max_links,
                 struct lwm2m_link_list **ret_list, char *diag,
                 size_t diag_size)
{
	struct lwm2m_link_list *list = calloc(1, sizeof *list);
	lwm2m_err err;

	if (list == NULL) {
		return LWM2M_ENOMEM;
	}
	err = parse_into(buf, len, max_links, NULL, list, diag, diag_size);
	if (err != LWM2M_OK) {
		free(list);
		return err;
	}
	*ret_list = list;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_link_parse_in(const char *buf, size_t len, size_t max_links,
                    struct lwm2m_link_space *space,
                    struct lwm2m_link_list *ret_list, char *diag,
                    size_t diag_size)
{
	struct lwm2m_link_list list = {0};
	lwm2m_err err =
	    parse_into(buf, len, max_links, space, &list, diag, diag_size);

	if (err == LWM2M_OK) {
		*ret_list = list;
	}
	return err;
}

void
lwm2m_link_list_fini(struct lwm2m_link_list *list,
                     const struct lwm2m_link_space *space)
{
	if (list == NULL) {
		return;
	}
	if (space == NULL || list->links != space->links) {
		free(list->links);
	}
	if (space == NULL || list->attrs != space->attrs) {
		free(list->attrs);
	}
	memset(list, 0, sizeof *list);
}

struct lwm2m_link_list *
lwm2m_link_list_free(struct lwm2m_link_list *list)
{
	lwm2m_link_list_fini(list, NULL);
	free(list);
	return NULL;
}

/* whether the n bytes at s are name's, all of it */
static bool
is_name(const char *s, size_t n, const char *name)
{
	size_t i = 0;

	while (i < n && name[i] != '\0' && name[i] == s[i]) {
		i++;
	}
	return i == n && name[i] == '\0';
}

/* Names are a few bytes, compared in place: without strlen and memcmp
 * calls the function calls nothing and saves no registers, which was most
 * of its cost on a Register's twelve lookups (bench/README.md, ninth storm
 * round). */
const struct lwm2m_link_attr *
lwm2m_link_attr_find(const struct lwm2m_link_list *list,
                     const struct lwm2m_link *link, const char *name)
{
	const struct lwm2m_link_attr *a;

	if (link->n_attrs == 0) {
		return NULL; /* and attrs may be NULL */
	}
	a = &list->attrs[link->first_attr];
	for (size_t i = 0; i < link->n_attrs; i++) {
		if (is_name(a[i].name, a[i].name_len, name)) {
			return &a[i];
		}
	}
	return NULL;
}

/* out appends to buf when it fits and always counts the length */
struct out {
	char *buf;
	size_t size, len;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->buf != NULL && o->len + n < o->size) {
		memcpy(o->buf + o->len, s, n);
	}
	o->len += n;
}

static void
write_list(const struct lwm2m_link_list *list, struct out *o)
{
	for (size_t i = 0; i < list->n_links; i++) {
		const struct lwm2m_link *l = &list->links[i];
		if (i > 0) {
			put(o, ",", 1);
		}
		put(o, "<", 1);
		put(o, l->uri, l->uri_len);
		put(o, ">", 1);
		for (size_t j = 0; j < l->n_attrs; j++) {
			const struct lwm2m_link_attr *a =
			    &list->attrs[l->first_attr + j];
			put(o, ";", 1);
			put(o, a->name, a->name_len);
			if (a->value == NULL) {
				continue;
			}
			put(o, a->quoted ? "=\"" : "=", a->quoted ? 2 : 1);
			put(o, a->value, a->value_len);
			if (a->quoted) {
				put(o, "\"", 1);
			}
		}
	}
}

size_t
lwm2m_link_format_len(const struct lwm2m_link_list *list)
{
	struct out o = {0};

	write_list(list, &o);
	return o.len;
}

lwm2m_err
lwm2m_link_format(const struct lwm2m_link_list *list, char *buf, size_t size,
                  size_t *ret_len)
{
	size_t need = lwm2m_link_format_len(list);
	struct out o = {.buf = buf, .size = size};

	if (buf == NULL || need >= size) {
		return LWM2M_ELIMIT;
	}
	write_list(list, &o);
	buf[o.len] = '\0';
	if (ret_len != NULL) {
		*ret_len = o.len;
	}
	return LWM2M_OK;
}
