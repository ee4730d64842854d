/* api_body.c - reading request bodies: JSON (yajl tree), XML (libxml2
 * without network access, DTDs or entity expansion) and HTML forms, each
 * within limits. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#include "lwm2m_id.h"

const struct api_body_limits api_body_limits_default = {
	.max_len = 1024 * 1024,
	.max_depth = 32,
	.max_nodes = 100000,
};

/* The media type without parameters, trimmed; its length. */
static size_t
media_len(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) {
		n--;
	}
	return n;
}

static bool
media_is(const char *ct, size_t n, const char *fmt)
{
	char plain[32], text[32], suffix[32];
	size_t sl;

	snprintf(plain, sizeof plain, "application/%s", fmt);
	snprintf(text, sizeof text, "text/%s", fmt);
	snprintf(suffix, sizeof suffix, "+%s", fmt);
	sl = strlen(suffix);
	if ((n == strlen(plain) && strncasecmp(ct, plain, n) == 0) ||
	    (n == strlen(text) && strncasecmp(ct, text, n) == 0)) {
		return true;
	}
	return n > 12 + sl && strncasecmp(ct, "application/", 12) == 0 &&
	       strncasecmp(ct + n - sl, suffix, sl) == 0;
}

/* Nesting depth of a JSON text, counting only brackets outside strings;
 * ret_nul: a string holds the escape \u0000, which the parsed (C) string
 * would silently end at. */
static unsigned
json_depth(const uint8_t *buf, size_t len, unsigned *ret_nodes, bool *ret_nul)
{
	unsigned depth = 0, max = 0, nodes = 0;
	bool in_str = false, esc = false;

	*ret_nul = false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];

		if (in_str) {
			if (esc && c == 'u' && len - i > 4 &&
			    memcmp(buf + i + 1, "0000", 4) == 0) {
				*ret_nul = true;
			}
			esc = !esc && c == '\\';
			in_str = esc || c != '"';
			continue;
		}
		if (c == '"') {
			in_str = true;
			nodes++;
		} else if (c == '{' || c == '[') {
			nodes++;
			max = ++depth > max ? depth : max;
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		} else if (c == ',') {
			nodes++;
		}
	}
	*ret_nodes = nodes;
	return max;
}

static lwm2m_err
parse_json(const uint8_t *buf, size_t len, const struct api_body_limits *lim,
           struct api_body *body, char *diag, size_t size)
{
	char err[128] = "";
	unsigned nodes;
	bool nul;
	char *text;

	if (json_depth(buf, len, &nodes, &nul) > lim->max_depth) {
		return lwm2m_errf(LWM2M_ELIMIT, diag, size,
		                  "JSON nested deeper than %u levels",
		                  lim->max_depth);
	}
	if (nodes > lim->max_nodes) {
		return lwm2m_errf(LWM2M_ELIMIT, diag, size,
		                  "JSON has more than %u values",
		                  lim->max_nodes);
	}
	if (nul) {
		return lwm2m_errf(LWM2M_EPROTO, diag, size,
		                  "a JSON string holds \\u0000 (NUL)");
	}
	text = malloc(len + 1);
	if (text == NULL) {
		return LWM2M_ENOMEM;
	}
	memcpy(text, buf, len);
	text[len] = '\0';
	body->json = yajl_tree_parse(text, err, sizeof err);
	free(text);
	if (body->json == NULL) {
		err[strcspn(err, "\n")] = '\0';
		return lwm2m_errf(LWM2M_EPROTO, diag, size, "invalid JSON: %s",
		                  err);
	}
	body->fmt = API_FMT_JSON;
	return LWM2M_OK;
}

/* Depth and node count of an element tree, bounded by the limits. */
static bool
xml_within(xmlNodePtr node, unsigned depth, unsigned *nodes,
           const struct api_body_limits *lim)
{
	if (depth > lim->max_depth) {
		return false;
	}
	for (; node != NULL; node = node->next) {
		if (++*nodes > lim->max_nodes ||
		    !xml_within(node->children, depth + 1, nodes, lim)) {
			return false;
		}
	}
	return true;
}

static lwm2m_err
parse_xml(const uint8_t *buf, size_t len, const struct api_body_limits *lim,
          struct api_body *body, char *diag, size_t size)
{
	int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	           XML_PARSE_NOCDATA;
	unsigned nodes = 0;
	xmlDocPtr doc;

	if (len > (size_t)INT32_MAX) {
		return lwm2m_errf(LWM2M_ELIMIT, diag, size,
		                  "XML body too large");
	}
	doc = xmlReadMemory((const char *)buf, (int)len, NULL, NULL, opts);
	if (doc == NULL || xmlDocGetRootElement(doc) == NULL) {
		xmlFreeDoc(doc);
		return lwm2m_errf(LWM2M_EPROTO, diag, size, "invalid XML");
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		xmlFreeDoc(doc);
		return lwm2m_errf(
		    LWM2M_EPROTO, diag, size,
		    "XML document type declarations are not accepted");
	}
	if (!xml_within(xmlDocGetRootElement(doc), 1, &nodes, lim)) {
		xmlFreeDoc(doc);
		return lwm2m_errf(
		    LWM2M_ELIMIT, diag, size,
		    "XML deeper than %u levels or more than %u nodes",
		    lim->max_depth, lim->max_nodes);
	}
	body->xml = doc;
	body->fmt = API_FMT_XML;
	return LWM2M_OK;
}

bool
api_body_type(const char *content_type, enum api_fmt *ret_fmt)
{
	size_t n;

	if (content_type == NULL) {
		return false;
	}
	n = media_len(content_type);
	if (media_is(content_type, n, "json")) {
		*ret_fmt = API_FMT_JSON;
		return true;
	}
	if (media_is(content_type, n, "xml")) {
		*ret_fmt = API_FMT_XML;
		return true;
	}
	return false;
}

lwm2m_err
api_body_parse(const char *content_type, const uint8_t *buf, size_t len,
               const struct api_body_limits *lim, struct api_body *ret_body,
               char *diag, size_t size)
{
	struct api_body body = {0};
	enum api_fmt fmt;
	lwm2m_err err;

	lim = lim ? lim : &api_body_limits_default;
	if (content_type == NULL) {
		return lwm2m_errf(LWM2M_EDENIED, diag, size,
		                  "missing Content-Type");
	}
	if (len > lim->max_len) {
		return lwm2m_errf(LWM2M_ELIMIT, diag, size,
		                  "body larger than %zu bytes", lim->max_len);
	}
	if (buf == NULL || len == 0) {
		return lwm2m_errf(LWM2M_EPROTO, diag, size, "missing body");
	}
	if (!api_body_type(content_type, &fmt)) {
		return lwm2m_errf(LWM2M_EDENIED, diag, size,
		                  "unsupported Content-Type, use JSON or XML");
	}
	err = fmt == API_FMT_XML ? parse_xml(buf, len, lim, &body, diag, size)
	                         : parse_json(buf, len, lim, &body, diag, size);
	if (err == LWM2M_OK) {
		*ret_body = body;
	}
	return err;
}

static char *
json_string(yajl_val root, const char *name)
{
	if (!YAJL_IS_OBJECT(root)) {
		return NULL;
	}
	for (size_t i = 0; i < root->u.object.len; i++) {
		yajl_val v = root->u.object.values[i];

		if (strcasecmp(root->u.object.keys[i], name) == 0) {
			return YAJL_IS_STRING(v) ? strdup(v->u.string)
			                         : NULL;
		}
	}
	return NULL;
}

static char *
xml_string(xmlDocPtr doc, const char *name)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlChar *text;
	char *copy;

	for (xmlNodePtr n = root ? root->children : NULL; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE ||
		    strcasecmp((const char *)n->name, name) != 0) {
			continue;
		}
		text = xmlNodeGetContent(n);
		copy = text ? strdup((const char *)text) : NULL;
		xmlFree(text);
		return copy;
	}
	return NULL;
}

char *
api_body_string(const struct api_body *body, const char *name)
{
	if (body->fmt == API_FMT_JSON) {
		return json_string(body->json, name);
	}
	return xml_string(body->xml, name);
}

void
api_body_fini(struct api_body *body)
{
	if (body == NULL) {
		return;
	}
	yajl_tree_free(body->json);
	body->json = NULL;
	xmlFreeDoc(body->xml);
	body->xml = NULL;
}

/* Decodes a form component (%XX and '+') into buf. */
static lwm2m_err
form_decode(const char *s, size_t len, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			uint8_t byte;

			if (i + 2 >= len ||
			    !lwm2m_hex_decode(s + i + 1, 1, &byte)) {
				return LWM2M_EPROTO;
			}
			c = byte;
			i += 2;
		}
		if (c == 0) {
			return LWM2M_EPROTO;
		}
		if (o + 1 >= size) {
			return LWM2M_ELIMIT;
		}
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return LWM2M_OK;
}

lwm2m_err
api_form_get(const char *form, size_t len, const char *name, char *buf,
             size_t size)
{
	size_t i = 0, nlen = strlen(name);

	while (i < len) {
		const char *p = form + i;
		const char *amp = memchr(p, '&', len - i);
		size_t plen = amp ? (size_t)(amp - p) : len - i;
		const char *eq = memchr(p, '=', plen);
		size_t klen = eq ? (size_t)(eq - p) : plen;

		if (klen == nlen && memcmp(p, name, nlen) == 0) {
			return eq ? form_decode(eq + 1, plen - klen - 1, buf, size)
			          : form_decode("", 0, buf, size);
		}
		i += plen + 1;
	}
	return LWM2M_ENOTFOUND;
}
