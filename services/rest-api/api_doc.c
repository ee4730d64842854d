/* api_doc.c - content negotiation, the JSON/XML document writer, paging. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yajl/yajl_gen.h>

#define DOC_MAX_DEPTH 32

/* ---- negotiation -------------------------------------------------------- */

static bool
ends_with_ci(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

/* Examines one Accept value piece by piece; true when a piece decided. */
static bool
negotiate_value(const char *v, struct api_neg *neg)
{
	const char *p = v;

	while (*p != '\0') {
		size_t len = strcspn(p, ",;");
		const char *s = p;
		size_t n = len;

		while (n > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
			n--;
		}
		if (ends_with_ci(s, n, "json") || ends_with_ci(s, n, "xml")) {
			neg->fmt = ends_with_ci(s, n, "xml") ? API_FMT_XML
			                                     : API_FMT_JSON;
			neg->suffixed = ends_with_ci(s, n, "+json") ||
			                ends_with_ci(s, n, "+xml");
			neg->named = true;
			return true;
		}
		p += len;
		if (*p != '\0') {
			p++;
		}
	}
	return false;
}

void
api_negotiate(const char *const *accept, size_t n, struct api_neg *ret)
{
	struct api_neg neg = {.fmt = API_FMT_JSON};

	for (size_t i = 0; i < n; i++) {
		if (accept[i] != NULL && strstr(accept[i], "*/*") != NULL) {
			neg.star = true;
			*ret = neg;
			return;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (accept[i] != NULL && negotiate_value(accept[i], &neg)) {
			break;
		}
	}
	*ret = neg;
}

const char *
api_media_type(const struct api_neg *neg, const char *base, char *buf,
               size_t size)
{
	int n;

	if (base == NULL) {
		return NULL;
	}
	if (neg->star) {
		n = snprintf(buf, size, "application/json");
	} else {
		n = snprintf(buf, size, "%s+%s", base,
		             neg->fmt == API_FMT_XML ? "xml" : "json");
	}
	return n > 0 && (size_t)n < size ? buf : NULL;
}

/* ---- writer ------------------------------------------------------------- */

struct frame {
	bool array;
	const char *name; /* XML element to close */
	const char *item; /* arrays: element name of items */
};

struct api_doc {
	struct api_neg neg;
	char base_url[API_BASE_URL_MAX];
	yajl_gen gen;            /* JSON */
	char *xml;               /* XML text */
	size_t xml_len, xml_cap;
	struct frame stack[DOC_MAX_DEPTH];
	int depth;
	bool failed;
	bool closed;
};

static void
xml_put(struct api_doc *doc, const char *s, size_t len)
{
	if (doc->failed) {
		return;
	}
	if (doc->xml_len + len + 1 > doc->xml_cap) {
		size_t cap = doc->xml_cap * 2 + len + 256;
		char *p = realloc(doc->xml, cap);

		if (p == NULL) {
			doc->failed = true;
			return;
		}
		doc->xml = p;
		doc->xml_cap = cap;
	}
	memcpy(doc->xml + doc->xml_len, s, len);
	doc->xml_len += len;
	doc->xml[doc->xml_len] = '\0';
}

static void
xml_puts(struct api_doc *doc, const char *s)
{
	xml_put(doc, s, strlen(s));
}

/* Escapes text for element content and attribute values; bytes that XML 1.0
 * cannot carry (controls other than tab, LF, CR) become '?'. */
static void
xml_escape(struct api_doc *doc, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&':
			xml_puts(doc, "&amp;");
			break;
		case '<':
			xml_puts(doc, "&lt;");
			break;
		case '>':
			xml_puts(doc, "&gt;");
			break;
		case '"':
			xml_puts(doc, "&quot;");
			break;
		case '\'':
			xml_puts(doc, "&apos;");
			break;
		default:
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
				c = '?';
			}
			xml_put(doc, (const char *)&c, 1);
		}
	}
}

static void
json_key(struct api_doc *doc, const char *name)
{
	if (name != NULL && doc->depth > 0 && !doc->stack[doc->depth - 1].array &&
	    yajl_gen_string(doc->gen, (const unsigned char *)name,
	                    strlen(name)) != yajl_gen_status_ok) {
		doc->failed = true;
	}
}

/* The XML element name for a value: its own name, else the array's item. */
static const char *
element_name(struct api_doc *doc, const char *name)
{
	if (name != NULL) {
		return name;
	}
	if (doc->depth > 0 && doc->stack[doc->depth - 1].array) {
		return doc->stack[doc->depth - 1].item;
	}
	doc->failed = true;
	return "Item";
}

static void
push(struct api_doc *doc, bool array, const char *name, const char *item)
{
	if (doc->depth >= DOC_MAX_DEPTH) {
		doc->failed = true;
		return;
	}
	doc->stack[doc->depth++] = (struct frame){array, name, item};
}

lwm2m_err
api_doc_new(const struct api_neg *neg, const char *base_url, const char *root,
            struct api_doc **ret_doc)
{
	struct api_doc *doc = calloc(1, sizeof *doc);

	if (doc == NULL) {
		return LWM2M_ENOMEM;
	}
	doc->neg = *neg;
	snprintf(doc->base_url, sizeof doc->base_url, "%s", base_url);
	if (neg->fmt == API_FMT_JSON) {
		doc->gen = yajl_gen_alloc(NULL);
		if (doc->gen == NULL) {
			free(doc);
			return LWM2M_ENOMEM;
		}
		yajl_gen_map_open(doc->gen);
	} else {
		xml_puts(doc, "<");
		xml_puts(doc, root);
		xml_puts(doc, " xmlns:xsi=\"http://www.w3.org/2001/"
		              "XMLSchema-instance\" xmlns:xsd=\"http://"
		              "www.w3.org/2001/XMLSchema\">");
	}
	push(doc, false, root, NULL);
	*ret_doc = doc;
	return LWM2M_OK;
}

void
api_doc_free(struct api_doc *doc)
{
	if (doc == NULL) {
		return;
	}
	if (doc->gen != NULL) {
		yajl_gen_free(doc->gen);
	}
	free(doc->xml);
	free(doc);
}

void
api_doc_object_begin(struct api_doc *doc, const char *name)
{
	const char *el = element_name(doc, name);

	if (doc->gen != NULL) {
		json_key(doc, name);
		yajl_gen_map_open(doc->gen);
	} else {
		xml_puts(doc, "<");
		xml_puts(doc, el);
		xml_puts(doc, ">");
	}
	push(doc, false, el, NULL);
}

void
api_doc_array_begin(struct api_doc *doc, const char *name, const char *item)
{
	const char *el = element_name(doc, name);

	if (doc->gen != NULL) {
		json_key(doc, name);
		yajl_gen_array_open(doc->gen);
	} else {
		xml_puts(doc, "<");
		xml_puts(doc, el);
		xml_puts(doc, ">");
	}
	push(doc, true, el, item);
}

void
api_doc_end(struct api_doc *doc)
{
	struct frame *f;

	if (doc->depth <= 1) {
		doc->failed = true;
		return;
	}
	f = &doc->stack[--doc->depth];
	if (doc->gen != NULL) {
		if (f->array) {
			yajl_gen_array_close(doc->gen);
		} else {
			yajl_gen_map_close(doc->gen);
		}
	} else {
		xml_puts(doc, "</");
		xml_puts(doc, f->name);
		xml_puts(doc, ">");
	}
}

/* Writes <el>text</el> with text already formatted. */
static void
xml_leaf(struct api_doc *doc, const char *name, const char *text)
{
	const char *el = element_name(doc, name);

	xml_puts(doc, "<");
	xml_puts(doc, el);
	xml_puts(doc, ">");
	xml_escape(doc, text);
	xml_puts(doc, "</");
	xml_puts(doc, el);
	xml_puts(doc, ">");
}

void
api_doc_string(struct api_doc *doc, const char *name, const char *value)
{
	if (value == NULL) {
		return;
	}
	if (doc->gen != NULL) {
		json_key(doc, name);
		if (yajl_gen_string(doc->gen, (const unsigned char *)value,
		                    strlen(value)) != yajl_gen_status_ok) {
			doc->failed = true;
		}
	} else {
		xml_leaf(doc, name, value);
	}
}

void
api_doc_int(struct api_doc *doc, const char *name, long long value)
{
	char text[24];

	snprintf(text, sizeof text, "%lld", value);
	if (doc->gen != NULL) {
		json_key(doc, name);
		yajl_gen_number(doc->gen, text, strlen(text));
	} else {
		xml_leaf(doc, name, text);
	}
}

void
api_doc_number(struct api_doc *doc, const char *name, const char *text)
{
	if (text == NULL) {
		return;
	}
	if (doc->gen != NULL) {
		json_key(doc, name);
		yajl_gen_number(doc->gen, text, strlen(text));
	} else {
		xml_leaf(doc, name, text);
	}
}

void
api_doc_bool(struct api_doc *doc, const char *name, bool value)
{
	if (doc->gen != NULL) {
		json_key(doc, name);
		yajl_gen_bool(doc->gen, value);
	} else {
		xml_leaf(doc, name, value ? "true" : "false");
	}
}

void
api_doc_links_begin(struct api_doc *doc)
{
	api_doc_array_begin(doc, "Links", "Link");
}

static void
json_pair(struct api_doc *doc, const char *k, const char *v)
{
	yajl_gen_string(doc->gen, (const unsigned char *)k, strlen(k));
	yajl_gen_string(doc->gen, (const unsigned char *)v, strlen(v));
}

static void
xml_attr(struct api_doc *doc, const char *k, const char *v)
{
	xml_puts(doc, " ");
	xml_puts(doc, k);
	xml_puts(doc, "=\"");
	xml_escape(doc, v);
	xml_puts(doc, "\"");
}

void
api_doc_link(struct api_doc *doc, const char *rel, const char *path,
             const char *type_base)
{
	char href[2048], tbuf[256];
	const char *type = api_media_type(&doc->neg, type_base, tbuf,
	                                  sizeof tbuf);
	bool full = strstr(path, "://") != NULL;
	int n = snprintf(href, sizeof href, "%s%s", full ? "" : doc->base_url,
	                 path);

	if (n < 0 || (size_t)n >= sizeof href) {
		doc->failed = true;
		return;
	}
	if (doc->gen != NULL) {
		yajl_gen_map_open(doc->gen);
		json_pair(doc, "rel", rel);
		json_pair(doc, "href", href);
		if (type != NULL) {
			json_pair(doc, "type", type);
		}
		yajl_gen_map_close(doc->gen);
		return;
	}
	xml_puts(doc, "<Link");
	xml_attr(doc, "rel", rel);
	xml_attr(doc, "href", href);
	if (type != NULL) {
		xml_attr(doc, "type", type);
	}
	xml_puts(doc, " />");
}

lwm2m_err
api_doc_result(struct api_doc *doc, const char **ret_buf, size_t *ret_len)
{
	const unsigned char *buf;
	size_t len;

	if (!doc->closed) {
		if (doc->depth != 1) {
			doc->failed = true;
		} else if (doc->gen != NULL) {
			yajl_gen_map_close(doc->gen);
		} else {
			xml_puts(doc, "</");
			xml_puts(doc, doc->stack[0].name);
			xml_puts(doc, ">");
		}
		doc->closed = true;
	}
	if (doc->failed) {
		return LWM2M_EINVAL;
	}
	if (doc->gen == NULL) {
		*ret_buf = doc->xml;
		*ret_len = doc->xml_len;
		return LWM2M_OK;
	}
	if (yajl_gen_get_buf(doc->gen, &buf, &len) != yajl_gen_status_ok) {
		return LWM2M_EINVAL;
	}
	*ret_buf = (const char *)buf;
	*ret_len = len;
	return LWM2M_OK;
}

/* ---- paging ------------------------------------------------------------- */

/* Parses a whole decimal number of at most 12 digits (optional '-'). */
static bool
parse_num(const char *s, size_t len, long long *ret)
{
	long long v = 0;
	bool neg = len > 0 && s[0] == '-';
	size_t i = neg ? 1 : 0;

	if (len == i || len - i > 12) {
		return false;
	}
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return false;
		}
		v = v * 10 + (s[i] - '0');
	}
	*ret = neg ? -v : v;
	return true;
}

void
api_page_parse(const char *query, struct api_page *ret)
{
	struct api_page page = {0, API_DEFAULT_PAGE_SIZE};
	const char *p = query;
	long long v;

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, "&");
		const char *eq = memchr(p, '=', len);

		if (eq != NULL) {
			size_t klen = (size_t)(eq - p);
			size_t vlen = len - klen - 1;

			if (klen == 10 && strncasecmp(p, "startIndex", 10) == 0 &&
			    parse_num(eq + 1, vlen, &v)) {
				page.start = v < 0 ? 0 : v;
			} else if (klen == 8 &&
			           strncasecmp(p, "pageSize", 8) == 0 &&
			           parse_num(eq + 1, vlen, &v)) {
				page.size = v < 0 ? API_DEFAULT_PAGE_SIZE : v;
			}
		}
		p += len;
		if (*p == '&') {
			p++;
		}
	}
	if (page.size > API_MAX_PAGE_SIZE) {
		page.size = API_MAX_PAGE_SIZE;
	}
	*ret = page;
}

long long
api_page_count(const struct api_page *page, long long total)
{
	long long end = page->start + page->size;
	long long n = (end < total ? end : total) - page->start;

	return n > 0 ? n : 0;
}

static bool
key_is(const char *p, size_t klen, const char *name)
{
	return klen == strlen(name) && strncasecmp(p, name, klen) == 0;
}

/* Appends "sep k=v" to buf at *off; false when it does not fit. */
static bool
append(char *buf, size_t size, size_t *off, const char *s, size_t len)
{
	if (*off + len + 1 > size) {
		return false;
	}
	memcpy(buf + *off, s, len);
	*off += len;
	buf[*off] = '\0';
	return true;
}

static bool
append_param(char *buf, size_t size, size_t *off, bool *first,
             const char *name, long long value)
{
	char tmp[64];
	int n = snprintf(tmp, sizeof tmp, "%s%s=%lld", *first ? "?" : "&",
	                 name, value);

	*first = false;
	return append(buf, size, off, tmp, (size_t)n);
}

lwm2m_err
api_page_href(const char *base_url, const char *path, const char *query,
              const struct api_page *page, long long start, char *buf,
              size_t size)
{
	size_t off = 0;
	bool first = true, had_size = false, had_start = false, ok = true;
	const char *p = query;

	ok = append(buf, size, &off, base_url, strlen(base_url)) &&
	     append(buf, size, &off, path, strlen(path));
	while (ok && p != NULL && *p != '\0') {
		size_t len = strcspn(p, "&");
		size_t klen = strcspn(p, "=");

		klen = klen < len ? klen : len;
		if (key_is(p, klen, "pageSize")) {
			had_size = true;
			ok = append_param(buf, size, &off, &first, "pageSize",
			                  page->size);
		} else if (key_is(p, klen, "startIndex")) {
			had_start = true;
			ok = append_param(buf, size, &off, &first, "startIndex",
			                  start);
		} else if (len > 0 && !key_is(p, klen, "referrerUrl") &&
		           !key_is(p, klen, "session_token")) {
			ok = append(buf, size, &off, first ? "?" : "&", 1) &&
			     append(buf, size, &off, p, len);
			first = false;
		}
		p += len;
		if (*p == '&') {
			p++;
		}
	}
	if (ok && !had_size && page->size != API_DEFAULT_PAGE_SIZE) {
		ok = append_param(buf, size, &off, &first, "pageSize",
		                  page->size);
	}
	if (ok && !had_start) {
		ok = append_param(buf, size, &off, &first, "startIndex", start);
	}
	return ok ? LWM2M_OK : LWM2M_ELIMIT;
}

static void
page_link(struct api_doc *doc, const char *rel, const char *path,
          const char *query, const struct api_page *page, long long start)
{
	char href[2048];

	if (api_page_href(doc->base_url, path, query, page, start, href,
	                  sizeof href) != LWM2M_OK) {
		doc->failed = true;
		return;
	}
	api_doc_link(doc, rel, href, NULL);
}

void
api_doc_page_info(struct api_doc *doc, const char *path, const char *query,
                  const struct api_page *page, long long total)
{
	long long count = api_page_count(page, total);
	long long last = total - page->size;

	api_doc_object_begin(doc, "PageInfo");
	api_doc_int(doc, "TotalCount", total);
	api_doc_int(doc, "ItemsCount", count);
	api_doc_int(doc, "StartIndex", page->start);
	if (total != 0 && page->size > 0 &&
	    (page->start > 0 || page->start + count < total)) {
		api_doc_links_begin(doc);
		if (page->start > 0) {
			long long prev = page->start - page->size;

			page_link(doc, "first", path, query, page, 0);
			page_link(doc, "prev", path, query, page,
			          prev > 0 ? prev : 0);
		}
		if (page->start + count < total) {
			page_link(doc, "next", path, query, page,
			          page->start + count);
			page_link(doc, "last", path, query, page,
			          last > 0 ? last : 0);
		}
		api_doc_end(doc);
	}
	api_doc_end(doc);
}
