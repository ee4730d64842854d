/* api_composite.c - Read-Composite and Write-Composite for LwM2M 1.1+
 * devices (docs/api-device-operations.md):
 *   POST /clients/{id}/composite/read  {"Paths": ["/3/0/0", "/3303/0"]}
 *     -> 200 {"Items": [{"Path": "/3/0/0", "Value": "Acme"}, ...]}
 *   PUT /clients/{id}/composite
 *     {"Items": [{"Path": "/3303/0/5750", "Value": "room"},
 *                {"Path": "/3442/0/150", "Value": "AQI=", "Type": "Opaque"}]}
 *     -> 204
 * XML: <Composite><Paths><Path>...</Path></Paths></Composite> and
 * <Composite><Items><Item><Path/><Value/><Type/></Item></Items></Composite>.
 * Values are typed by the device's SenML answer (read) or by the JSON type
 * / the optional Type (write: String, Integer, Float, Boolean, Opaque,
 * DateTime, ObjLink; XML values are strings unless Type says otherwise). */
#include "api_devops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lwm2m_id.h"
#include "lwm2m_loop.h"
#include "lwm2m_objdef.h"

#define MT_COMPOSITE "application/vnd.lwds.composite"
#define MAX_TEXT 1024 /* one XML value or path */

struct composite_state {
	char client[LWM2M_ID_SIZE];
	struct lwm2m_tree tree;
	struct api_body body;
	bool have_body;
};

static void
state_free(void *data)
{
	struct composite_state *s = data;

	if (s != NULL) {
		lwm2m_tree_fini(&s->tree);
		if (s->have_body) {
			api_body_fini(&s->body);
		}
		free(s);
	}
}

/* ---- rendering the device's answer -------------------------------------- */

static void
doc_value(struct api_doc *doc, const struct lwm2m_value *v)
{
	char buf[64], *b64;

	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
		api_doc_int(doc, "Value", (long long)v->v.i);
		break;
	case LWM2M_TYPE_UNSIGNED:
		snprintf(buf, sizeof buf, "%" PRIu64, v->v.u);
		api_doc_number(doc, "Value", buf);
		break;
	case LWM2M_TYPE_FLOAT:
		snprintf(buf, sizeof buf, "%.15g", v->v.f);
		api_doc_number(doc, "Value", buf);
		break;
	case LWM2M_TYPE_BOOLEAN:
		api_doc_bool(doc, "Value", v->v.b);
		break;
	case LWM2M_TYPE_TIME:
		api_doc_string(doc, "Value",
		               lwm2m_time_iso8601(v->v.i, buf, sizeof buf));
		break;
	case LWM2M_TYPE_OBJLNK:
		snprintf(buf, sizeof buf, "%u:%u", (unsigned)v->v.lnk.obj,
		         (unsigned)v->v.lnk.inst);
		api_doc_string(doc, "Value", buf);
		break;
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_RAW:
		b64 = malloc(lwm2m_b64_encoded_len(v->v.bytes.len, false) + 1);
		if (b64 != NULL) {
			lwm2m_b64_encode(v->v.bytes.ptr, v->v.bytes.len, b64,
			                 false);
			api_doc_string(doc, "Value", b64);
			api_doc_string(doc, "Type", "Opaque");
		}
		free(b64);
		break;
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK: {
		char *t = strndup((const char *)v->v.bytes.ptr, v->v.bytes.len);

		api_doc_string(doc, "Value", t);
		free(t);
		break;
	}
	case LWM2M_TYPE_NONE:
		break;
	}
}

/* One item per value node (RESOURCE or RESOURCE_INSTANCE), depth first. */
static void
doc_values(struct api_doc *doc, const struct lwm2m_node *n)
{
	struct lwm2m_path p;
	char path[32];

	if (n->kind == LWM2M_NODE_RESOURCE ||
	    n->kind == LWM2M_NODE_RESOURCE_INSTANCE) {
		lwm2m_node_path(n, &p);
		lwm2m_path_format(&p, path, sizeof path);
		api_doc_object_begin(doc, NULL);
		api_doc_string(doc, "Path", path);
		doc_value(doc, &n->value);
		api_doc_end(doc);
	}
	for (const struct lwm2m_node *c = n->first_child; c != NULL;
	     c = c->next_sibling) {
		doc_values(doc, c);
	}
}

static void
on_read(struct api_req *r, const struct lwm2m_devop_reply *rep, void *arg)
{
	struct composite_state *s = r->data;
	struct lwm2m_path root = {0};
	struct lwm2m_diag diag = {0};
	struct api_doc *doc;

	if (rep->payload_len > 0 &&
	    (!(rep->flags & LWM2M_DEVOP_RF_CT) ||
	     lwm2m_decode((enum lwm2m_format)rep->ct, rep->payload,
	                  rep->payload_len, &root, &s->tree,
	                  &diag) != LWM2M_OK)) {
		api_reply_error(r, 502,
		                "client %s sent an undecodable answer "
		                "(format %u): %s",
		                s->client, (unsigned)rep->ct, diag.msg);
		return;
	}
	doc = api_req_doc(r, "Composite");
	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_array_begin(doc, "Items", "Item");
	doc_values(doc, &s->tree.root);
	api_doc_end(doc);
	api_reply_doc(r, 200, doc, MT_COMPOSITE);
}

/* ---- request bodies ----------------------------------------------------- */

/* Parses r's body into s->body; answers 400/415 itself. */
static bool
parse_body(struct api_req *r, struct composite_state *s)
{
	char diag[160];
	lwm2m_err err;

	err =
	    api_body_parse(api_req_header(r, "Content-Type"), r->body,
	                   r->body ? r->body_len : 0, &api_body_limits_default,
	                   &s->body, diag, sizeof diag);
	if (err != LWM2M_OK) {
		api_reply_error(r, err == LWM2M_EDENIED ? 415 : 400, "%s",
		                diag);
		return false;
	}
	s->have_body = true;
	return true;
}

/* The items of array member `name` (JSON) or the element children of
 * child element `name` of the root (XML). */
static size_t
json_items(const struct api_body *b, const char *name, yajl_val *ret)
{
	const char *path[] = {name, NULL};
	yajl_val v = yajl_tree_get(b->json, path, yajl_t_array);

	*ret = v;
	return v != NULL ? v->u.array.len : 0;
}

static xmlNodePtr
xml_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c != NULL;
	     c = c->next) {
		if (c->type == XML_ELEMENT_NODE &&
		    strcasecmp((const char *)c->name, name) == 0) {
			return c;
		}
	}
	return NULL;
}

/* Copies the text of element e (may be NULL) into buf; false when absent
 * or too long. */
static bool
xml_text(xmlNodePtr e, char *buf, size_t size)
{
	xmlChar *t;
	bool ok;

	if (e == NULL || (t = xmlNodeGetContent(e)) == NULL) {
		return false;
	}
	ok = strlen((const char *)t) < size;
	if (ok) {
		snprintf(buf, size, "%s", (const char *)t);
	}
	xmlFree(t);
	return ok;
}

static bool
add_path(struct lwm2m_devop_req *req, const char *text)
{
	struct lwm2m_path p;

	if (text == NULL || req->n_paths >= LWM2M_DEVOP_MAX_PATHS ||
	    lwm2m_path_parse(text, strlen(text), &p) != LWM2M_OK) {
		return false;
	}
	req->paths[req->n_paths++] = p;
	return true;
}

/* Fills req's paths from {"Paths": [...]} / <Paths><Path>...; 400. */
static bool
read_paths(struct api_req *r, struct composite_state *s,
           struct lwm2m_devop_req *req)
{
	char text[MAX_TEXT];
	bool ok = true;

	if (s->body.fmt == API_FMT_JSON) {
		yajl_val a;
		size_t n = json_items(&s->body, "Paths", &a);

		for (size_t i = 0; ok && i < n; i++) {
			ok = add_path(req,
			              YAJL_GET_STRING(a->u.array.values[i]));
		}
	} else {
		xmlNodePtr paths =
		    xml_child(xmlDocGetRootElement(s->body.xml), "Paths");

		for (xmlNodePtr c = paths ? paths->children : NULL; ok && c;
		     c = c->next) {
			if (c->type == XML_ELEMENT_NODE) {
				ok = xml_text(c, text, sizeof text) &&
				     add_path(req, text);
			}
		}
	}
	if (!ok || req->n_paths == 0) {
		api_reply_error(r, 400,
		                "Paths: expected 1 to %d LwM2M paths "
		                "such as \"/3/0/0\"",
		                LWM2M_DEVOP_MAX_PATHS);
		return false;
	}
	return true;
}

/* One item's value: text (NUL-terminated) of the given type. */
struct item {
	const char *path;
	const char *text;
	enum lwm2m_type type;
};

/* Adds it to s->tree; diag names the problem. */
static bool
add_item(struct composite_state *s, const struct item *it, char *diag,
         size_t size)
{
	struct lwm2m_path p;
	struct lwm2m_value v = {.type = LWM2M_TYPE_STRING};
	struct lwm2m_diag d = {0};
	const char *text = it->text;

	if (it->path == NULL ||
	    lwm2m_path_parse(it->path, strlen(it->path), &p) != LWM2M_OK ||
	    p.len < 3) {
		snprintf(diag, size,
		         "Path: expected a resource path such as "
		         "\"/3/0/13\" or \"/3/0/6/1\"");
		return false;
	}
	if (it->type == LWM2M_TYPE_BOOLEAN) {
		text = strcasecmp(text, "true") == 0    ? "1"
		       : strcasecmp(text, "false") == 0 ? "0"
		                                        : text;
	}
	v.v.bytes.ptr = (const uint8_t *)text;
	v.v.bytes.len = strlen(text);
	if (lwm2m_value_coerce(&s->tree, &v, it->type, true, &d) != LWM2M_OK) {
		snprintf(diag, size, "%s: %s", it->path, d.msg);
		return false;
	}
	if (lwm2m_tree_set(&s->tree, &p, &v) != LWM2M_OK) {
		snprintf(diag, size, "%s: repeated or conflicting path",
		         it->path);
		return false;
	}
	return true;
}

/* Type of an item: its "Type" name, else from the JSON value. */
static bool
item_type(const char *name, yajl_val json, enum lwm2m_type *ret)
{
	enum lwm2m_objdef_type t;

	if (name != NULL) {
		if (!lwm2m_objdef_type_parse(name, strlen(name), &t) ||
		    lwm2m_objdef_value_type(t) == LWM2M_TYPE_NONE) {
			return false;
		}
		*ret = lwm2m_objdef_value_type(t);
	} else if (json != NULL && YAJL_IS_NUMBER(json)) {
		*ret = YAJL_IS_INTEGER(json) ? LWM2M_TYPE_INTEGER
		                             : LWM2M_TYPE_FLOAT;
	} else if (json != NULL &&
	           (YAJL_IS_TRUE(json) || YAJL_IS_FALSE(json))) {
		*ret = LWM2M_TYPE_BOOLEAN;
	} else {
		*ret = LWM2M_TYPE_STRING;
	}
	return true;
}

static bool
json_item(struct composite_state *s, yajl_val o, char *diag, size_t size)
{
	const char *pp[] = {"Path", NULL}, *vp[] = {"Value", NULL},
	           *tp[] = {"Type", NULL};
	yajl_val v = yajl_tree_get(o, vp, yajl_t_any);
	struct item it = {YAJL_GET_STRING(yajl_tree_get(o, pp, yajl_t_string)),
	                  NULL, LWM2M_TYPE_STRING};

	if (!item_type(YAJL_GET_STRING(yajl_tree_get(o, tp, yajl_t_string)), v,
	               &it.type)) {
		snprintf(diag, size,
		         "Type: expected String, Integer, Float, "
		         "Boolean, Opaque, DateTime or ObjLink");
		return false;
	}
	if (v != NULL && YAJL_IS_STRING(v)) {
		it.text = YAJL_GET_STRING(v);
	} else if (v != NULL && YAJL_IS_NUMBER(v)) {
		it.text = v->u.number.r;
	} else if (v != NULL && (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))) {
		it.text = YAJL_IS_TRUE(v) ? "1" : "0";
	} else {
		snprintf(diag, size,
		         "%s: Value: expected a string, number or "
		         "boolean",
		         it.path ? it.path : "item");
		return false;
	}
	return add_item(s, &it, diag, size);
}

static bool
xml_item(struct composite_state *s, xmlNodePtr e, char *diag, size_t size)
{
	char path[64], text[MAX_TEXT], type[32];
	struct item it = {path, text, LWM2M_TYPE_STRING};
	bool typed = xml_text(xml_child(e, "Type"), type, sizeof type);

	if (!xml_text(xml_child(e, "Path"), path, sizeof path)) {
		it.path = NULL;
	}
	if (!xml_text(xml_child(e, "Value"), text, sizeof text)) {
		snprintf(diag, size, "Item: Value missing or too long");
		return false;
	}
	if (!item_type(typed ? type : NULL, NULL, &it.type)) {
		snprintf(diag, size,
		         "Type: expected String, Integer, Float, "
		         "Boolean, Opaque, DateTime or ObjLink");
		return false;
	}
	return add_item(s, &it, diag, size);
}

/* Fills s->tree from the body's Items; answers 400 itself. */
static bool
write_items(struct api_req *r, struct composite_state *s)
{
	char diag[200] = "Items: expected at least one item";
	size_t n = 0;
	bool ok = true;

	if (s->body.fmt == API_FMT_JSON) {
		yajl_val a;
		size_t len = json_items(&s->body, "Items", &a);

		for (size_t i = 0; ok && i < len; i++, n++) {
			ok = json_item(s, a->u.array.values[i], diag,
			               sizeof diag);
		}
	} else {
		xmlNodePtr items =
		    xml_child(xmlDocGetRootElement(s->body.xml), "Items");

		for (xmlNodePtr c = items ? items->children : NULL; ok && c;
		     c = c->next) {
			if (c->type == XML_ELEMENT_NODE) {
				ok = xml_item(s, c, diag, sizeof diag);
				n++;
			}
		}
	}
	if (!ok || n == 0) {
		api_reply_error(r, 400, "%s", diag);
		return false;
	}
	return true;
}

static void
on_written(struct api_req *r, const struct lwm2m_devop_reply *rep, void *arg)
{
	api_reply_status(r, 204);
}

/* ---- entry points ------------------------------------------------------- */

static struct composite_state *
start(struct api_req *r, struct lwm2m_devop_req *req, enum lwm2m_devop_op op)
{
	struct composite_state *s = calloc(1, sizeof *s);

	if (s == NULL) {
		api_reply_error(r, 503, "out of memory");
		return NULL;
	}
	r->data = s;
	r->data_free = state_free;
	lwm2m_tree_init(&s->tree, NULL);
	if (api_req_param(r, "clientID", s->client, sizeof s->client) == NULL ||
	    !lwm2m_id_valid(s->client, strlen(s->client))) {
		api_reply_error(r, 404, "invalid client id");
		return NULL;
	}
	if (!parse_body(r, s)) {
		return NULL;
	}
	memset(req, 0, sizeof *req);
	req->op = op;
	memcpy(req->client, s->client, sizeof req->client);
	return s;
}

void
api_composite_read(struct api_req *r)
{
	struct lwm2m_devop_req *req = malloc(sizeof *req);
	struct composite_state *s;

	if (req == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	s = start(r, req, LWM2M_DEVOP_READ_COMPOSITE);
	if (s != NULL && read_paths(r, s, req)) {
		api_devop_call(r, req, NULL, on_read, NULL);
	}
	free(req);
}

void
api_composite_write(struct api_req *r)
{
	struct lwm2m_devop_req *req = malloc(sizeof *req);
	struct lwm2m_path root = {0};
	struct composite_state *s;
	uint8_t *buf = NULL;

	if (req == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	s = start(r, req, LWM2M_DEVOP_WRITE_COMPOSITE);
	if (s != NULL && write_items(r, s)) {
		if (lwm2m_encode(LWM2M_FMT_SENML_CBOR, &s->tree, &root, &buf,
		                 &req->payload_len) != LWM2M_OK) {
			api_reply_error(r, 400, "the values cannot be encoded");
		} else {
			req->flags |= LWM2M_DEVOP_F_CT;
			req->ct = LWM2M_FMT_SENML_CBOR;
			req->payload = buf;
			api_devop_call(r, req, NULL, on_written, NULL);
		}
	}
	free(buf);
	free(req);
}
