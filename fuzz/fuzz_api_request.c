/* libFuzzer target for the HTTP request path of rest-api without a socket:
 * the input is "METHOD /path?query\nAccept\nContent-Type\nbody".  It runs
 * the route table match, parameter extraction, paging of the query, content
 * negotiation of Accept, and the JSON/XML body and form parsers the
 * handlers use, then writes a document with the negotiated format. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
next_line(const char **p, const char *end, size_t *ret_len)
{
	const char *start = *p, *nl = memchr(start, '\n', (size_t)(end - start));

	if (nl == NULL) {
		nl = end;
	}
	*ret_len = (size_t)(nl - start);
	*p = nl < end ? nl + 1 : end;
	return start;
}

static htp_method
method_of(const char *text, size_t len)
{
	static const struct {
		const char *name;
		htp_method m;
	} methods[] = {{"GET", htp_method_GET},       {"POST", htp_method_POST},
	               {"PUT", htp_method_PUT},       {"DELETE", htp_method_DELETE},
	               {"OPTIONS", htp_method_OPTIONS}};

	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		if (len == strlen(methods[i].name) &&
		    memcmp(text, methods[i].name, len) == 0) {
			return methods[i].m;
		}
	}
	return htp_method_PATCH;
}

static void
route(htp_method m, const char *target)
{
	char *path = strdup(target), *query = NULL, buf[128];
	const struct api_route *rt = NULL;
	struct api_param params[API_MAX_PARAMS];
	struct api_page page;
	size_t n = 0;
	unsigned allowed = 0;

	if (path == NULL) {
		return;
	}
	query = strchr(path, '?');
	if (query != NULL) {
		*query++ = '\0';
	}
	api_page_parse(query, &page);
	(void)api_page_count(&page, 12345);
	if (api_route_match(api_routes, api_n_routes, m, path, &rt, params, &n,
	                    &allowed) == API_MATCH_OK) {
		for (size_t i = 0; i < n && i < API_MAX_PARAMS; i++) {
			size_t l = params[i].value_len < sizeof buf - 1
			               ? params[i].value_len
			               : sizeof buf - 1;
			memcpy(buf, params[i].value, l);
			buf[l] = '\0';
		}
	}
	free(path);
}

static void
body(const char *ctype, const uint8_t *buf, size_t len)
{
	struct api_body b;
	char diag[160], form[256];

	if (api_body_parse(ctype, buf, len, NULL, &b, diag, sizeof diag) ==
	    LWM2M_OK) {
		free(api_body_string(&b, "Name"));
		free(api_body_string(&b, "Endpoint"));
		api_body_fini(&b);
	}
	(void)api_form_get((const char *)buf, len, "grant_type", form,
	                   sizeof form);
}

static void
negotiate(const char *accept)
{
	struct api_neg neg;
	struct api_doc *doc = NULL;
	const char *out;
	size_t out_len;

	api_negotiate(&accept, 1, &neg);
	if (api_doc_new(&neg, "https://fuzz", "Fuzz", &doc) != LWM2M_OK) {
		return;
	}
	api_doc_string(doc, "Accept", accept);
	api_doc_links_begin(doc);
	api_doc_link(doc, "self", "/fuzz", API_MT_CLIENT);
	api_doc_end(doc);
	(void)api_doc_result(doc, &out, &out_len);
	api_doc_free(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	const char *p, *end, *line, *sp;
	char *target, *accept, *ctype;
	size_t len;

	if (text == NULL) {
		return 0;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	p = text;
	end = text + strlen(text); /* lines stop at a NUL, like headers */
	line = next_line(&p, end, &len);
	sp = memchr(line, ' ', len);
	target = strndup(sp != NULL ? sp + 1 : line,
	                 sp != NULL ? len - (size_t)(sp + 1 - line) : len);
	line = next_line(&p, end, &len);
	accept = strndup(line, len);
	line = next_line(&p, end, &len);
	ctype = strndup(line, len);
	if (target != NULL && accept != NULL && ctype != NULL) {
		route(method_of(text, sp != NULL ? (size_t)(sp - text) : 0),
		      target);
		negotiate(accept);
		body(ctype, (const uint8_t *)p, strlen(p));
	}
	free(target);
	free(accept);
	free(ctype);
	free(text);
	return 0;
}
