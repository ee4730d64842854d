/* api_instances.c - object instances on the device (spec 4.7-4.13) and the
 * resource-level operations beyond the original (docs/api-device-
 * operations.md).  Values always come from the device: each request is one
 * LwM2M operation through api_devop_call; answers are decoded with
 * lwm2m_decode and rendered by lwm2m_instance.h, request bodies parsed by
 * it and sent as SenML CBOR for the gateway to transcode. */
#include "api_devops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_instance.h"
#include "lwm2m_link.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_objdef_store.h"

#define MT_RESOURCECREATED "application/vnd.imgtec.resourcecreated"
#define HREF_MAX (API_BASE_URL_MAX + 160)

enum inst_kind {
	K_LIST,     /* GET .../instances */
	K_GET,      /* GET .../instances/{iid} */
	K_CREATE,   /* POST .../instances */
	K_PUT,      /* PUT .../instances/{iid} */
	K_DELETE,   /* DELETE .../instances/{iid} */
	K_RES_GET,  /* GET .../resources/{rid} */
	K_RES_PUT,  /* PUT .../resources/{rid} */
	K_RES_EXEC, /* POST .../resources/{rid}/execute */
	K_DISCOVER, /* GET [.../{iid}[/resources/{rid}]]/discover */
	K_ATTRS,    /* PUT [.../{iid}[/resources/{rid}]]/attributes */
};

struct inst_state {
	enum inst_kind kind;
	char client[LWM2M_ID_SIZE];
	char def_id[LWM2M_ID_SIZE];
	long iid; /* -1: none in the URL */
	long rid; /* -1: none in the URL */
	struct lwm2m_objdef *def;
	struct lwm2m_tree tree; /* request body */
	struct lwm2m_instance_body body;
	size_t next_exec;
	uint8_t *resume; /* stored reply of a queued operation, or NULL */
	size_t resume_len;
};

static void
state_free(void *data)
{
	struct inst_state *s = data;

	if (s != NULL) {
		lwm2m_objdef_free(s->def);
		lwm2m_tree_fini(&s->tree);
		free(s->resume);
		free(s);
	}
}

static void run(struct api_req *r);

/* ---- small helpers ------------------------------------------------------ */

static long
param_id(struct api_req *r, const char *name)
{
	char buf[8];
	long long v;

	if (api_req_param(r, name, buf, sizeof buf) == NULL ||
	    lwm2m_parse_int(buf, 0, 65534, &v) != LWM2M_OK) {
		return -1;
	}
	return (long)v;
}

static void
instances_href(struct api_req *r, char *buf, size_t size)
{
	struct inst_state *s = r->data;

	snprintf(buf, size, "%s/clients/%s/objecttypes/%s/instances",
	         r->base_url, s->client, s->def_id);
}

static void
devop_init(struct inst_state *s, struct lwm2m_devop_req *req,
           enum lwm2m_devop_op op, int len)
{
	memset(req, 0, sizeof *req);
	req->op = op;
	memcpy(req->client, s->client, sizeof req->client);
	req->n_paths = 1;
	req->paths[0].len = (uint8_t)len;
	req->paths[0].ids[0] = s->def->object_id;
	req->paths[0].ids[1] = (uint16_t)(s->iid < 0 ? 0 : s->iid);
	req->paths[0].ids[2] = (uint16_t)(s->rid < 0 ? 0 : s->rid);
}

/* One device operation of the request: the stored result first when
 * resuming a queued operation, else through the engine. */
static void
devop(struct api_req *r, struct lwm2m_devop_req *req, api_devop_done done,
      void *arg)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_reply rep;
	char ctx[96], what[64], path[32];
	uint8_t *stored;

	if (s->resume == NULL) {
		snprintf(ctx, sizeof ctx, "%d %s %ld %ld", (int)s->kind,
		         s->def_id, s->iid, s->rid);
		api_devop_call(r, req, ctx, done, arg);
		return;
	}
	stored = s->resume; /* later steps go to the device */
	s->resume = NULL;
	snprintf(what, sizeof what, "%s %s", lwm2m_devop_op_name(req->op),
	         api_devop_path_text(req, path, sizeof path));
	if (lwm2m_devop_reply_decode(stored, s->resume_len, &rep) != LWM2M_OK) {
		api_reply_error(r, 502, "unreadable stored result");
	} else {
		api_devop_resume(r, s->client, what, &rep, done, arg);
	}
	free(stored); /* rep borrowed from it: done has run */
}

static bool
is_xml(const char *content_type)
{
	return content_type != NULL && strstr(content_type, "xml") != NULL;
}

/* ---- rendering the device's answer -------------------------------------- */

static lwm2m_err
render(struct api_req *r, struct lwm2m_tree *tree, const struct lwm2m_node *n,
       bool text, char **ret_buf, size_t *ret_len)
{
	struct inst_state *s = r->data;
	char href[HREF_MAX], def_href[HREF_MAX];
	struct lwm2m_instance_render rd = {s->def, tree,     text,
	                                   href,   def_href, true};
	struct api_page page;

	instances_href(r, href, sizeof href);
	snprintf(def_href, sizeof def_href, "%s/objecttypes/definitions/%s",
	         r->base_url, s->def_id);
	if (s->kind == K_LIST) {
		api_page_parse(r->query, &page);
		return r->neg.fmt == API_FMT_XML
		           ? lwm2m_instance_list_to_xml(
		                 &rd, n, (size_t)page.start, (size_t)page.size,
		                 ret_buf, ret_len)
		           : lwm2m_instance_list_to_json(
		                 &rd, n, (size_t)page.start, (size_t)page.size,
		                 ret_buf, ret_len);
	}
	snprintf(href + strlen(href), sizeof href - strlen(href), "/%ld",
	         s->iid);
	return r->neg.fmt == API_FMT_XML
	           ? lwm2m_instance_to_xml(&rd, n, ret_buf, ret_len)
	           : lwm2m_instance_to_json(&rd, n, ret_buf, ret_len);
}

static void
reply_rendered(struct api_req *r, struct lwm2m_tree *tree,
               const struct lwm2m_node *n, bool text)
{
	struct inst_state *s = r->data;
	struct api_neg neg = r->neg;
	char base[160], type[200];
	char *buf;
	size_t len;

	neg.star =
	    false; /* instances: "*" "/" "*" gives <MIMEType>+json (1.4) */
	if (s->kind == K_LIST) {
		if (lwm2m_objdef_mime_plural(s->def, base, sizeof base) < 0) {
			base[0] = '\0';
		}
	} else {
		snprintf(base, sizeof base, "%s",
		         s->def->mime_type ? s->def->mime_type : "");
	}
	if (render(r, tree, n, text, &buf, &len) != LWM2M_OK) {
		api_reply_error(r, 502, "cannot render the device's answer");
		return;
	}
	api_reply_body(
	    r, 200,
	    api_media_type(&neg, base[0] ? base : NULL, type, sizeof type), buf,
	    len);
	free(buf);
}

/* Node of the tree to render for s; created empty when the device sent
 * nothing for it. */
static struct lwm2m_node *
answer_node(struct inst_state *s, struct lwm2m_tree *tree)
{
	struct lwm2m_path p = {.len = 2,
	                       .ids = {s->def->object_id, (uint16_t)s->iid}};
	struct lwm2m_node *n = NULL;

	if (s->kind == K_LIST) {
		p.len = 1;
		return lwm2m_tree_get(tree, &p);
	}
	if (lwm2m_tree_add_node(tree, &p, false, &n) != LWM2M_OK) {
		return NULL;
	}
	return n;
}

static void
on_read(struct api_req *r, const struct lwm2m_devop_reply *rep, void *arg)
{
	struct inst_state *s = r->data;
	const struct lwm2m_path *base = arg;
	struct lwm2m_tree tree;
	struct lwm2m_diag diag = {0};
	struct lwm2m_node *n;

	lwm2m_tree_init(&tree, NULL);
	if (rep->payload_len > 0 &&
	    (!(rep->flags & LWM2M_DEVOP_RF_CT) ||
	     lwm2m_decode((enum lwm2m_format)rep->ct, rep->payload,
	                  rep->payload_len, base, &tree, &diag) != LWM2M_OK)) {
		lwm2m_log(LWM2M_LOG_WARNING,
		          "req=%llu: id=%s: undecodable "
		          "answer (format %u): %s",
		          (unsigned long long)r->id, s->client,
		          (unsigned)rep->ct, diag.msg);
		api_reply_error(r, 502,
		                "client %s sent an undecodable answer "
		                "(format %u): %s",
		                s->client, (unsigned)rep->ct, diag.msg);
		lwm2m_tree_fini(&tree);
		return;
	}
	n = answer_node(s, &tree);
	reply_rendered(r, &tree, n,
	               rep->ct == LWM2M_FMT_TEXT ||
	                   rep->ct == LWM2M_FMT_LEGACY_TEXT);
	lwm2m_tree_fini(&tree);
}

/* Is resource rid of s's definition a single-instance resource? */
static bool
single_resource(const struct inst_state *s, long rid)
{
	const struct lwm2m_propdef *p =
	    lwm2m_objdef_prop(s->def, (uint16_t)rid);

	return p != NULL && !p->is_collection;
}

static void
start_read(struct api_req *r, int len)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_req *req = malloc(sizeof *req);
	struct lwm2m_path *base;

	/* the base path must outlive the call: it lives in the state's tree
	 * arena, the request itself is freed at once */
	base = lwm2m_tree_alloc(&s->tree, sizeof *base);
	if (req == NULL || base == NULL) {
		free(req);
		api_reply_error(r, 503, "out of memory");
		return;
	}
	devop_init(s, req, LWM2M_DEVOP_READ, len);
	if (len == 3 && single_resource(s, s->rid)) {
		req->flags |= LWM2M_DEVOP_F_SINGLE;
	}
	*base = req->paths[0];
	devop(r, req, on_read, base);
	free(req);
}

/* ---- writes, executes, create, delete ----------------------------------- */

static void
on_done_204(struct api_req *r, const struct lwm2m_devop_reply *rep, void *arg)
{
	api_reply_status(r, 204);
}

static void send_execs(struct api_req *r);

static void
on_exec(struct api_req *r, const struct lwm2m_devop_reply *rep, void *arg)
{
	send_execs(r);
}

/* Executes the body's executable resources one after the other (4.11),
 * then answers 204; the first failure answers for the whole request. */
static void
send_execs(struct api_req *r)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_req *req;

	if (s->next_exec >= s->body.n_exec) {
		api_reply_status(r, 204);
		return;
	}
	req = malloc(sizeof *req);
	if (req == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	devop_init(s, req, LWM2M_DEVOP_EXECUTE, 3);
	req->paths[0].ids[2] = s->body.exec[s->next_exec++];
	devop(r, req, on_exec, NULL);
	free(req);
}

static void
on_written(struct api_req *r, const struct lwm2m_devop_reply *rep, void *arg)
{
	send_execs(r);
}

/* Parses r's body as an instance of s->def into s->tree; answers 400 and
 * returns false when it does not fit. */
static bool
parse_body(struct api_req *r, uint16_t default_iid)
{
	struct inst_state *s = r->data;
	const char *ct = api_req_header(r, "Content-Type");
	struct lwm2m_diag diag = {0};
	lwm2m_err err;

	if (r->body == NULL || r->body_len == 0) {
		api_reply_error(r, 400, "a request body is required");
		return false;
	}
	err = is_xml(ct) ? lwm2m_instance_from_xml(s->def, (char *)r->body,
	                                           r->body_len, default_iid,
	                                           &s->tree, &s->body, &diag)
	                 : lwm2m_instance_from_json(s->def, (char *)r->body,
	                                            r->body_len, default_iid,
	                                            &s->tree, &s->body, &diag);
	if (err != LWM2M_OK) {
		api_reply_error(r, 400, "%s",
		                diag.msg[0] ? diag.msg : lwm2m_strerror(err));
		return false;
	}
	return true;
}

/* Encodes the subtree at base of s->tree as SenML CBOR into req. */
static lwm2m_err
encode_values(struct inst_state *s, const struct lwm2m_path *base,
              struct lwm2m_devop_req *req, uint8_t **ret_buf)
{
	size_t len;
	lwm2m_err err =
	    lwm2m_encode(LWM2M_FMT_SENML_CBOR, &s->tree, base, ret_buf, &len);

	if (err != LWM2M_OK) {
		return err;
	}
	req->flags |= LWM2M_DEVOP_F_CT;
	req->ct = LWM2M_FMT_SENML_CBOR;
	req->payload = *ret_buf;
	req->payload_len = len;
	return LWM2M_OK;
}

/* Sends one write of the values at req->paths[0]; done then runs. */
static void
send_write(struct api_req *r, struct lwm2m_devop_req *req, api_devop_done done)
{
	struct inst_state *s = r->data;
	uint8_t *buf = NULL;

	if (encode_values(s, &req->paths[0], req, &buf) != LWM2M_OK) {
		api_reply_error(r, 400, "the body holds no writable value");
		return;
	}
	devop(r, req, done, NULL);
	free(buf);
}

/* add_execs makes req (a write of the instance, or with exec_only an
 * Execute of the first executable resource) run the body's executes after
 * it, in the gateway (F_THEN_EXECUTE): one operation, so a sleeping
 * device gets the whole sequence, in order, when it wakes. */
static bool
add_execs(struct inst_state *s, struct lwm2m_devop_req *req, bool exec_only)
{
	size_t n = s->body.n_exec;

	if (n == 0) {
		return true;
	}
	if (n + (exec_only ? 0 : 1) > LWM2M_DEVOP_MAX_PATHS) {
		return false;
	}
	if (exec_only) {
		req->op = LWM2M_DEVOP_EXECUTE;
		req->n_paths = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct lwm2m_path *p = &req->paths[req->n_paths++];

		*p = req->paths[0];
		p->len = 3;
		p->ids[0] = s->def->object_id;
		p->ids[1] = (uint16_t)s->iid;
		p->ids[2] = s->body.exec[i];
	}
	req->flags |= LWM2M_DEVOP_F_THEN_EXECUTE;
	s->next_exec = n; /* the gateway runs them */
	return true;
}

static void
instance_put(struct api_req *r)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_req req;
	struct lwm2m_node *n;

	if (!parse_body(r, (uint16_t)s->iid)) {
		return;
	}
	if (s->body.has_instance_id && s->body.instance_id != s->iid) {
		api_reply_error(r, 400,
		                "InstanceID %u differs from the URL's "
		                "%ld",
		                (unsigned)s->body.instance_id, s->iid);
		return;
	}
	devop_init(s, &req, LWM2M_DEVOP_WRITE_UPDATE, 2);
	n = lwm2m_tree_get(&s->tree, &req.paths[0]);
	if ((n == NULL || n->n_children == 0) && s->body.n_exec == 0) {
		/* a misspelt name must not look like a successful write */
		api_reply_error(r, 400,
		                "the body names no resource of %s (object %u): "
		                "nothing to write or execute",
		                s->def->serialisation_name
		                    ? s->def->serialisation_name
		                    : "the definition",
		                (unsigned)s->def->object_id);
		return;
	}
	if ((n == NULL || n->n_children == 0) && s->body.n_exec < 2) {
		send_execs(r); /* only executes: no write (4.11) */
		return;
	}
	if (!add_execs(s, &req, n == NULL || n->n_children == 0)) {
		api_reply_error(r, 400, "more than %d executable resources",
		                LWM2M_DEVOP_MAX_PATHS - 1);
		return;
	}
	if (req.op == LWM2M_DEVOP_EXECUTE) {
		devop(r, &req, on_done_204, NULL);
		return;
	}
	send_write(r, &req, on_written);
}

static void
resource_put(struct api_req *r)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_req req;

	if (!parse_body(r, (uint16_t)s->iid)) {
		return;
	}
	devop_init(s, &req, LWM2M_DEVOP_WRITE_REPLACE, 3);
	if (lwm2m_tree_get(&s->tree, &req.paths[0]) == NULL) {
		api_reply_error(r, 400,
		                "the body has no value for resource "
		                "%ld",
		                s->rid);
		return;
	}
	if (single_resource(s, s->rid)) {
		req.flags |= LWM2M_DEVOP_F_SINGLE;
	}
	send_write(r, &req, on_done_204);
}

static void
resource_exec(struct api_req *r)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_req req;

	devop_init(s, &req, LWM2M_DEVOP_EXECUTE, 3);
	req.payload = r->body;
	req.payload_len = r->body != NULL ? r->body_len : 0;
	devop(r, &req, on_done_204, NULL);
}

static void
instance_delete(struct api_req *r)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_req req;

	devop_init(s, &req, LWM2M_DEVOP_DELETE, 2);
	devop(r, &req, on_done_204, NULL);
}

/* 201 ResourceCreated (4.10) for the id in the device's Location-Path. */
static void
on_created(struct api_req *r, const struct lwm2m_devop_reply *rep, void *arg)
{
	struct inst_state *s = r->data;
	struct lwm2m_path loc;
	char path[HREF_MAX], id[8] = "";
	struct api_doc *doc;

	if (rep->location_len > 0 &&
	    lwm2m_path_parse(rep->location, rep->location_len, &loc) ==
	        LWM2M_OK &&
	    loc.len == 2) {
		snprintf(id, sizeof id, "%u", (unsigned)loc.ids[1]);
	} else if (s->body.has_instance_id) {
		snprintf(id, sizeof id, "%u", (unsigned)s->body.instance_id);
	}
	snprintf(path, sizeof path, "/clients/%s/objecttypes/%s/instances/%s",
	         s->client, s->def_id, id);
	doc = api_req_doc(r, "ResourceCreated");
	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_string(doc, "ID", id[0] ? id : NULL);
	api_doc_links_begin(doc);
	api_doc_link(doc, "self", path, NULL);
	api_doc_link(doc, "update", path, NULL);
	api_doc_link(doc, "remove", path, NULL);
	api_doc_end(doc);
	api_reply_location(r, path);
	api_reply_doc(r, 201, doc, MT_RESOURCECREATED);
}

static void
send_create(struct api_req *r)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_req req;

	devop_init(s, &req, LWM2M_DEVOP_CREATE, 1);
	send_write(r, &req, on_created);
}

/* Lowest instance id that obj (may be NULL) does not have. */
static uint16_t
free_id(const struct lwm2m_node *obj)
{
	uint16_t id = 0;

	for (const struct lwm2m_node *n = obj ? obj->first_child : NULL;
	     n != NULL && n->id == id; n = n->next_sibling) {
		id++;
	}
	return id;
}

/* The object's instances as the device reported them: the new instance
 * takes the lowest free id. */
static void
on_existing(struct api_req *r, const struct lwm2m_devop_reply *rep, void *arg)
{
	struct inst_state *s = r->data;
	struct lwm2m_path p = {.len = 1, .ids = {s->def->object_id}};
	struct lwm2m_tree tree;
	struct lwm2m_node *obj;

	lwm2m_tree_init(&tree, NULL);
	if (rep->payload_len > 0 && (rep->flags & LWM2M_DEVOP_RF_CT)) {
		(void)lwm2m_decode((enum lwm2m_format)rep->ct, rep->payload,
		                   rep->payload_len, &p, &tree, NULL);
	}
	obj = lwm2m_tree_get(&s->tree, &p);
	if (obj != NULL && obj->first_child != NULL) {
		obj->first_child->id = free_id(lwm2m_tree_get(&tree, &p));
		s->body.instance_id = obj->first_child->id;
		s->body.has_instance_id = true;
	}
	lwm2m_tree_fini(&tree);
	send_create(r);
}

/* Create (4.10).  The values go as one instance; without an InstanceID in
 * the body the object is read first and the lowest free id is asked for,
 * so that every device format (TLV included) can carry the request. */
static void
instance_create(struct api_req *r)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_req req;

	if (!parse_body(r, 0)) {
		return;
	}
	if (s->body.has_instance_id) {
		send_create(r);
		return;
	}
	devop_init(s, &req, LWM2M_DEVOP_READ, 1);
	devop(r, &req, on_existing, NULL);
}

/* ---- Discover and Write-Attributes ------------------------------------- */

/* Length of the LwM2M path the URL names: object, instance or resource. */
static int
url_path_len(const struct inst_state *s)
{
	return s->rid >= 0 ? 3 : s->iid >= 0 ? 2 : 1;
}

/* Attribute names are written as JSON members / XML elements: only
 * [a-z0-9_-] names of the device are kept. */
static bool
attr_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > 32) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-')) {
			return false;
		}
	}
	return true;
}

static void
discover_item(struct api_doc *doc, const struct lwm2m_link_list *l,
              const struct lwm2m_link *k)
{
	char path[64], name[40], value[128];

	snprintf(path, sizeof path, "%.*s", (int)k->uri_len, k->uri);
	api_doc_object_begin(doc, NULL);
	api_doc_string(doc, "Path", path);
	if (k->n_attrs > 0) {
		api_doc_object_begin(doc, "Attributes");
		for (size_t i = k->first_attr; i < k->first_attr + k->n_attrs;
		     i++) {
			const struct lwm2m_link_attr *a = &l->attrs[i];

			if (!attr_name_ok(a->name, a->name_len)) {
				continue;
			}
			snprintf(name, sizeof name, "%.*s", (int)a->name_len,
			         a->name);
			snprintf(value, sizeof value, "%.*s",
			         (int)(a->value ? a->value_len : 0),
			         a->value ? a->value : "");
			api_doc_string(doc, name, value);
		}
		api_doc_end(doc);
	}
	api_doc_end(doc);
}

/* The device's link-format answer as {"Links", "Items": [{"Path",
 * "Attributes": {...}}]} (XML <Discover><Items><Link>...). */
static void
on_discover(struct api_req *r, const struct lwm2m_devop_reply *rep, void *arg)
{
	struct lwm2m_link_list *l = NULL;
	struct api_doc *doc;

	if (lwm2m_link_parse((const char *)rep->payload, rep->payload_len, 4096,
	                     &l, NULL, 0) != LWM2M_OK) {
		api_reply_error(r, 502,
		                "the device's Discover answer is not "
		                "link-format");
		return;
	}
	doc = api_req_doc(r, "Discover");
	if (doc == NULL) {
		lwm2m_link_list_free(l);
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_links_begin(doc);
	api_doc_link(doc, "self", r->path, NULL);
	api_doc_end(doc);
	if (l->n_links > 0) {
		api_doc_array_begin(doc, "Items", "Link");
		for (size_t i = 0; i < l->n_links; i++) {
			discover_item(doc, l, &l->links[i]);
		}
		api_doc_end(doc);
	}
	lwm2m_link_list_free(l);
	api_reply_doc(r, 200, doc, "application/vnd.lwds.discover");
}

static void
discover(struct api_req *r)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_req req;

	devop_init(s, &req, LWM2M_DEVOP_DISCOVER, url_path_len(s));
	devop(r, &req, on_discover, NULL);
}

static const char *const attr_names[] = {"pmin", "pmax",  "gt",   "lt",
                                         "st",   "epmin", "epmax"};

/* Appends "name=value" ("name" alone for null) to q; false when the value
 * is neither a number nor null. */
static bool
attr_append(char *q, size_t size, const char *name, const char *value)
{
	size_t n = strlen(q);

	snprintf(q + n, size - n, "%s%s%s%s", n > 0 ? "&" : "", name,
	         value ? "=" : "", value ? value : "");
	return strlen(q) < size - 1;
}

/* The value of attribute name in body: NULL with *present for null or an
 * empty element; false when it is not a number. */
static bool
attr_value(const struct api_body *b, const char *name, char *buf, size_t size,
           bool *present, bool *null)
{
	const char *path[] = {name, NULL};
	yajl_val v;
	char *text;

	*present = *null = false;
	if (b->fmt == API_FMT_JSON) {
		v = yajl_tree_get(b->json, path, yajl_t_any);
		*present = v != NULL;
		*null = v != NULL && YAJL_IS_NULL(v);
		if (v == NULL || *null) {
			return true;
		}
		if (!YAJL_IS_NUMBER(v)) {
			return false;
		}
		snprintf(buf, size, "%s", v->u.number.r);
		return true;
	}
	text = api_body_string(b, name);
	*present = text != NULL;
	*null = text != NULL && text[0] == '\0';
	if (text != NULL) {
		snprintf(buf, size, "%s", text);
	}
	free(text);
	return true;
}

/* Builds the Write-Attributes query from r's body into q; answers 400. */
static bool
attrs_query(struct api_req *r, char *q, size_t size)
{
	struct api_body b;
	char diag[160], value[64];
	bool ok = true, present, null;

	q[0] = '\0';
	if (api_body_parse(api_req_header(r, "Content-Type"), r->body,
	                   r->body ? r->body_len : 0, &api_body_limits_default,
	                   &b, diag, sizeof diag) != LWM2M_OK) {
		api_reply_error(r, 400, "%s", diag);
		return false;
	}
	for (size_t i = 0; ok && i < sizeof attr_names / sizeof *attr_names;
	     i++) {
		ok = attr_value(&b, attr_names[i], value, sizeof value,
		                &present, &null);
		if (ok && present) {
			ok = attr_append(q, size, attr_names[i],
			                 null ? NULL : value);
		}
		if (!ok) {
			api_reply_error(r, 400, "%s: expected a number or null",
			                attr_names[i]);
		}
	}
	api_body_fini(&b);
	if (ok && !lwm2m_devop_query_valid(q, strlen(q))) {
		api_reply_error(r, 400,
		                "attributes must be decimal numbers "
		                "(pmin, pmax, epmin, epmax: non-negative "
		                "integers)");
		ok = false;
	}
	return ok;
}

static void
write_attributes(struct api_req *r)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_req req;
	char q[LWM2M_DEVOP_MAX_QUERY];

	if (!attrs_query(r, q, sizeof q)) {
		return;
	}
	if (q[0] == '\0') {
		api_reply_error(r, 400,
		                "no attribute given (pmin, pmax, gt, "
		                "lt, st, epmin, epmax)");
		return;
	}
	devop_init(s, &req, LWM2M_DEVOP_WRITE_ATTRIBUTES, url_path_len(s));
	req.query = q;
	req.query_len = strlen(q);
	devop(r, &req, on_done_204, NULL);
}

/* ---- entry points ------------------------------------------------------- */

/* A stored result of a queued write, execute, delete or create: its
 * request body is gone, so only the answer is rendered (the executes of a
 * PUT ran in the gateway, in the same operation). */
static bool
resume_write(struct api_req *r)
{
	struct inst_state *s = r->data;
	struct lwm2m_devop_req req;

	if (s->resume == NULL || s->kind == K_LIST || s->kind == K_GET ||
	    s->kind == K_RES_GET || s->kind == K_DISCOVER) {
		return false;
	}
	devop_init(s, &req, LWM2M_DEVOP_WRITE_UPDATE, s->rid >= 0 ? 3 : 2);
	devop(r, &req, s->kind == K_CREATE ? on_created : on_done_204, NULL);
	return true;
}

static void
run(struct api_req *r)
{
	struct inst_state *s = r->data;

	if (resume_write(r)) {
		return;
	}
	switch (s->kind) {
	case K_LIST:
		start_read(r, 1);
		break;
	case K_GET:
		start_read(r, 2);
		break;
	case K_RES_GET:
		start_read(r, 3);
		break;
	case K_CREATE:
		instance_create(r);
		break;
	case K_PUT:
		instance_put(r);
		break;
	case K_RES_PUT:
		resource_put(r);
		break;
	case K_RES_EXEC:
		resource_exec(r);
		break;
	case K_DELETE:
		instance_delete(r);
		break;
	case K_DISCOVER:
		discover(r);
		break;
	case K_ATTRS:
		write_attributes(r);
		break;
	}
}

static void
on_definition(lwm2m_err err, const struct lwm2m_objdef *def, void *arg)
{
	struct api_req *r = arg;
	struct inst_state *s = r->data;

	if (!api_req_release(r)) {
		return;
	}
	if (err == LWM2M_ENOTFOUND || err == LWM2M_EINVAL) {
		api_reply_error(r, 404, API_MSG_NO_DEFINITION);
		return;
	}
	if (err != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	s->def = lwm2m_objdef_hold(def); /* kept past the cache's next use */
	if (s->rid >= 0 &&
	    lwm2m_objdef_prop(s->def, (uint16_t)s->rid) == NULL) {
		api_reply_error(
		    r, 404, "the definition of object %u has no resource %ld",
		    (unsigned)s->def->object_id, s->rid);
		return;
	}
	run(r);
}

static void
lookup(struct api_req *r)
{
	struct inst_state *s = r->data;

	api_req_hold(r);
	if (lwm2m_objdef_store_get(r->api->redis, r->org, s->def_id,
	                           on_definition, r) != LWM2M_OK) {
		api_req_release(r);
		api_reply_error(r, 503, "storage unavailable");
	}
}

/* Copies the URL's ids into s; what is wrong with them, or NULL. */
static const char *
bad_ids(struct api_req *r, struct inst_state *s, bool has_iid, bool has_rid)
{
	if (api_req_param(r, "clientID", s->client, sizeof s->client) == NULL ||
	    !lwm2m_id_valid(s->client, strlen(s->client))) {
		return "invalid client id";
	}
	if (api_req_param(r, "definitionID", s->def_id, sizeof s->def_id) ==
	        NULL ||
	    !lwm2m_id_valid(s->def_id, strlen(s->def_id))) {
		return "invalid definition id";
	}
	if (has_iid && s->iid < 0) {
		return "the instance id must be a number 0..65534";
	}
	if (has_rid && s->rid < 0) {
		return "the resource id must be a number 0..65534";
	}
	return NULL;
}

/* Reads the URL's ids (404 when malformed) and looks the definition up. */
static void
start(struct api_req *r, enum inst_kind kind, bool has_iid, bool has_rid)
{
	struct inst_state *s = calloc(1, sizeof *s);
	const char *bad;

	if (s == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	r->data = s;
	r->data_free = state_free;
	s->kind = kind;
	lwm2m_tree_init(&s->tree, NULL);
	s->iid = has_iid ? param_id(r, "instanceID") : -1;
	s->rid = has_rid ? param_id(r, "resourceID") : -1;
	bad = bad_ids(r, s, has_iid, has_rid);
	if (bad != NULL) {
		api_reply_error(r, 404, "%s", bad);
		return;
	}
	lookup(r);
}

void
api_instances_resume(struct api_req *r, const char *client, const char *ctx,
                     const uint8_t *reply, size_t len)
{
	struct inst_state *s = calloc(1, sizeof *s);
	int kind;

	if (s == NULL || (s->resume = malloc(len > 0 ? len : 1)) == NULL) {
		free(s);
		api_reply_error(r, 503, "out of memory");
		return;
	}
	r->data = s;
	r->data_free = state_free;
	lwm2m_tree_init(&s->tree, NULL);
	memcpy(s->resume, reply, len);
	s->resume_len = len;
	snprintf(s->client, sizeof s->client, "%s", client);
	if (sscanf(ctx, "%d %22s %ld %ld", &kind, s->def_id, &s->iid,
	           &s->rid) != 4 ||
	    kind < K_LIST || kind > K_ATTRS) {
		api_reply_error(r, 502, "unreadable operation record");
		return;
	}
	s->kind = (enum inst_kind)kind;
	lookup(r);
}

void
api_instances_list(struct api_req *r)
{
	start(r, K_LIST, false, false);
}

void
api_instances_create(struct api_req *r)
{
	start(r, K_CREATE, false, false);
}

void
api_instance_get(struct api_req *r)
{
	start(r, K_GET, true, false);
}

void
api_instance_put(struct api_req *r)
{
	start(r, K_PUT, true, false);
}

void
api_instance_delete(struct api_req *r)
{
	start(r, K_DELETE, true, false);
}

void
api_resource_get(struct api_req *r)
{
	start(r, K_RES_GET, true, true);
}

void
api_resource_put(struct api_req *r)
{
	start(r, K_RES_PUT, true, true);
}

void
api_resource_execute(struct api_req *r)
{
	start(r, K_RES_EXEC, true, true);
}

void
api_discover_object(struct api_req *r)
{
	start(r, K_DISCOVER, false, false);
}

void
api_discover_instance(struct api_req *r)
{
	start(r, K_DISCOVER, true, false);
}

void
api_discover_resource(struct api_req *r)
{
	start(r, K_DISCOVER, true, true);
}

void
api_attributes_object(struct api_req *r)
{
	start(r, K_ATTRS, false, false);
}

void
api_attributes_instance(struct api_req *r)
{
	start(r, K_ATTRS, true, false);
}

void
api_attributes_resource(struct api_req *r)
{
	start(r, K_ATTRS, true, true);
}
