/* api_definitions.c - /objecttypes/definitions (spec 5) on the object
 * definition store of common/, with the defects of spec 11.2 fixed: PUT
 * replaces the definition named in the URL and keeps property ids, bad
 * bodies are 400 with a reason (never 500/721), 409 on a duplicate ObjectID,
 * 403 when a non-admin organisation changes a global definition. */
#define _GNU_SOURCE /* strcasestr */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api.h"
#include "lwm2m_log.h"
#include "lwm2m_objdef.h"
#include "lwm2m_objdef_store.h"

#define MT_RESOURCECREATED "application/vnd.imgtec.resourcecreated"
#define MT_RESOURCESCREATED "application/vnd.imgtec.resourcescreated"
#define DEFS_PATH "/objecttypes/definitions"

/* ---- rendering ---------------------------------------------------------- */

static void
doc_prop(struct api_doc *d, const struct lwm2m_propdef *p)
{
	char rid[8];

	snprintf(rid, sizeof rid, "%u", (unsigned)p->resource_id);
	api_doc_object_begin(d, NULL);
	api_doc_string(d, "PropertyDefinitionID", p->id[0] ? p->id : NULL);
	api_doc_string(d, "PropertyID", rid);
	api_doc_string(d, "Name", p->name);
	api_doc_string(d, "Description", p->description);
	api_doc_string(d, "DataType", lwm2m_objdef_type_name(p->type));
	if (p->has_length) {
		api_doc_int(d, "DataTypeLength", p->data_type_length);
	}
	api_doc_string(d, "MIMEType", p->mime_type);
	api_doc_string(d, "MinValue", p->min_value);
	api_doc_string(d, "MaxValue", p->max_value);
	api_doc_string(d, "Units", p->units);
	api_doc_bool(d, "IsCollection", p->is_collection);
	api_doc_bool(d, "IsMandatory", p->is_mandatory);
	api_doc_string(d, "Access", lwm2m_objdef_access_name(p->access));
	if (p->has_sort_order) {
		api_doc_int(d, "SortOrder", p->sort_order);
	}
	api_doc_string(d, "SerialisationName", p->serialisation_name);
	api_doc_string(d, "CollectionItemSerialisationName", p->item_name);
	api_doc_end(d);
}

/* doc_def writes the members of def into the open object of d. */
static void
doc_def(struct api_doc *d, const struct lwm2m_objdef *def, long long viewer)
{
	char oid[8], path[64];

	snprintf(oid, sizeof oid, "%u", (unsigned)def->object_id);
	snprintf(path, sizeof path, DEFS_PATH "/%s", def->id);
	api_doc_string(d, "ObjectDefinitionID", def->id);
	api_doc_string(d, "ObjectID", oid);
	api_doc_string(d, "Name", def->name);
	api_doc_string(d, "MIMEType", def->mime_type);
	api_doc_string(d, "Description", def->description);
	api_doc_string(d, "SerialisationName", def->serialisation_name);
	api_doc_bool(d, "Singleton", def->singleton);
	api_doc_array_begin(d, "Properties", "PropertyDefinition");
	for (size_t i = 0; i < def->n_props; i++) {
		doc_prop(d, &def->props[i]);
	}
	api_doc_end(d);
	api_doc_links_begin(d);
	api_doc_link(d, "self", path, NULL);
	if (lwm2m_objdef_can_modify(def, viewer)) {
		api_doc_link(d, "update", path, NULL);
		api_doc_link(d, "remove", path, NULL);
	}
	api_doc_end(d);
}

/* reply_err maps a store error onto the spec's statuses. */
static void
reply_err(struct api_req *r, lwm2m_err err)
{
	switch (err) {
	case LWM2M_ENOTFOUND:
		api_reply_error(r, 404,
		                "no object definition at this URL is "
		                "visible to this organisation");
		break;
	case LWM2M_EDENIED:
		api_reply_error(r, 403,
		                "the definition is global: only the "
		                "administrator organisation may change "
		                "or delete it");
		break;
	case LWM2M_EEXIST:
		api_reply_error(r, 409,
		                "this organisation already has a "
		                "definition with that ObjectID");
		break;
	case LWM2M_EINVAL:
		api_reply_error(r, 400, "invalid definition id");
		break;
	default:
		api_reply_error(r, 503, "storage: %s", lwm2m_strerror(err));
		break;
	}
}

/* ---- GET /objecttypes/definitions --------------------------------------- */

static void
on_list(lwm2m_err err, const struct lwm2m_objdef_list *list, void *arg)
{
	struct api_req *r = arg;
	struct api_doc *d;
	struct api_page page;
	long long n;

	if (!api_req_release(r)) {
		return;
	}
	if (err != LWM2M_OK) {
		reply_err(r, err);
		return;
	}
	d = api_req_doc(r, "ObjectDefinitions");
	if (d == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_page_parse(r->query, &page);
	n = api_page_count(&page, (long long)list->n);
	api_doc_page_info(d, r->path, r->query, &page, (long long)list->n);
	if (n > 0) {
		api_doc_array_begin(d, "Items", "ObjectDefinition");
		for (long long i = page.start; i < page.start + n; i++) {
			api_doc_object_begin(d, NULL);
			doc_def(d, list->defs[i], r->org);
			api_doc_end(d);
		}
		api_doc_end(d);
	}
	api_doc_links_begin(d);
	api_doc_link(d, "add", DEFS_PATH, NULL);
	api_doc_end(d);
	api_reply_doc(r, 200, d, API_MT_OBJECTDEFINITIONS);
}

void
api_definitions_list(struct api_req *r)
{
	api_req_hold(r);
	if (lwm2m_objdef_store_list(r->api->redis, r->org, on_list, r) !=
	    LWM2M_OK) {
		if (api_req_release(r)) {
			api_reply_error(r, 503, "storage unavailable");
		}
	}
}

/* ---- GET /objecttypes/definitions/{definitionID} ------------------------- */

static void
on_get(lwm2m_err err, const struct lwm2m_objdef *def, void *arg)
{
	struct api_req *r = arg;
	struct api_doc *d;

	if (!api_req_release(r)) {
		return;
	}
	if (err != LWM2M_OK) {
		reply_err(r, err);
		return;
	}
	d = api_req_doc(r, "ObjectDefinition");
	if (d == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	doc_def(d, def, r->org);
	api_reply_doc(r, 200, d, API_MT_OBJECTDEFINITION);
}

/* url_id reads and checks {definitionID}, answering 400 itself. */
static bool
url_id(struct api_req *r, char id[LWM2M_ID_SIZE])
{
	if (api_req_param(r, "definitionID", id, LWM2M_ID_SIZE) == NULL ||
	    !lwm2m_id_valid(id, strlen(id))) {
		api_reply_error(r, 400, "invalid definition id");
		return false;
	}
	return true;
}

void
api_definition_get(struct api_req *r)
{
	char id[LWM2M_ID_SIZE];

	if (!url_id(r, id)) {
		return;
	}
	api_req_hold(r);
	if (lwm2m_objdef_store_get(r->api->redis, r->org, id, on_get, r) !=
	    LWM2M_OK) {
		if (api_req_release(r)) {
			api_reply_error(r, 503, "storage unavailable");
		}
	}
}

/* ---- bodies ------------------------------------------------------------- */

/* read_body parses r's body into list (bulk: {"Items":[...]}), completing
 * every definition; answers 400 itself and returns false on a bad body. */
static bool
read_body(struct api_req *r, bool bulk, struct lwm2m_objdef_list *list)
{
	const char *ct = api_req_header(r, "Content-Type");
	bool xml = ct != NULL && strcasestr(ct, "xml") != NULL;
	const char *buf = (const char *)r->body;
	struct lwm2m_diag diag = {0};
	struct lwm2m_objdef *def = NULL;
	lwm2m_err err;

	if (buf == NULL || r->body_len == 0) {
		api_reply_error(r, 400, "the body is empty");
		return false;
	}
	if (bulk) {
		err = xml ? lwm2m_objdef_xml_parse_list(buf, r->body_len, list,
		                                        &diag)
		          : lwm2m_objdef_json_parse_list(buf, r->body_len, list,
		                                         &diag);
	} else {
		err =
		    xml ? lwm2m_objdef_xml_parse(buf, r->body_len, &def, &diag)
		        : lwm2m_objdef_json_parse(buf, r->body_len, &def,
		                                  &diag);
		err = err == LWM2M_OK ? lwm2m_objdef_list_add(list, def) : err;
	}
	for (size_t i = 0; err == LWM2M_OK && i < list->n; i++) {
		char msg[sizeof diag.msg];

		err = lwm2m_objdef_complete(list->defs[i], &diag);
		if (err != LWM2M_OK && bulk) {
			snprintf(msg, sizeof msg, "%s", diag.msg);
			snprintf(diag.msg, sizeof diag.msg,
			         "Items[%zu]: %.130s", i, msg);
		}
	}
	if (err == LWM2M_OK && list->n == 0) {
		err = LWM2M_EPROTO;
		snprintf(diag.msg, sizeof diag.msg, "no definitions");
	}
	if (err != LWM2M_OK) {
		api_reply_error(r, 400, "%s", diag.msg);
		return false;
	}
	return true;
}

/* Handler state of POST and PUT: the parsed body. */
struct defs_state {
	struct lwm2m_objdef_list list;
	bool bulk;
};

static void
free_state(void *data)
{
	struct defs_state *s = data;

	lwm2m_objdef_list_fini(&s->list);
	free(s);
}

/* new_state allocates r->data; answers 503 itself on failure. */
static struct defs_state *
new_state(struct api_req *r)
{
	struct defs_state *s = calloc(1, sizeof *s);

	if (s == NULL) {
		api_reply_error(r, 503, "out of memory");
		return NULL;
	}
	r->data = s;
	r->data_free = free_state;
	return s;
}

/* ---- POST /objecttypes/definitions -------------------------------------- */

static void
created_item(struct api_doc *d, const struct lwm2m_objdef *def)
{
	char path[64];

	snprintf(path, sizeof path, DEFS_PATH "/%s", def->id);
	api_doc_string(d, "ID", def->id);
	api_doc_links_begin(d);
	api_doc_link(d, "self", path, NULL);
	api_doc_end(d);
}

static void
on_created(lwm2m_err err, size_t index, void *arg)
{
	struct api_req *r = arg;
	const struct lwm2m_objdef_list *list;
	bool bulk;
	struct api_doc *d;

	if (!api_req_release(r)) {
		return;
	}
	if (err != LWM2M_OK) {
		reply_err(r, err);
		return;
	}
	list = &((struct defs_state *)r->data)->list;
	bulk = ((struct defs_state *)r->data)->bulk;
	d = api_req_doc(r, bulk ? "ResourcesCreated" : "ResourceCreated");
	if (d == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	if (!bulk) {
		char path[64];

		created_item(d, list->defs[0]);
		snprintf(path, sizeof path, DEFS_PATH "/%s", list->defs[0]->id);
		api_reply_location(r, path);
		api_reply_doc(r, 201, d, MT_RESOURCECREATED);
		return;
	}
	api_doc_array_begin(d, "Items", "ResourceCreated");
	for (size_t i = 0; i < list->n; i++) {
		api_doc_object_begin(d, NULL);
		created_item(d, list->defs[i]);
		api_doc_end(d);
	}
	api_doc_end(d);
	api_reply_doc(r, 201, d, MT_RESOURCESCREATED);
}

void
api_definitions_create(struct api_req *r)
{
	const char *ct = api_req_header(r, "Content-Type");
	struct defs_state *s = new_state(r);

	if (s == NULL) {
		return;
	}
	/* the media type selects bulk mode (5.4) */
	s->bulk =
	    ct != NULL && strncasecmp(ct, API_MT_OBJECTDEFINITIONS,
	                              strlen(API_MT_OBJECTDEFINITIONS)) == 0;
	if (!read_body(r, s->bulk, &s->list)) {
		return;
	}
	api_req_hold(r);
	if (lwm2m_objdef_store_create(r->api->redis, r->org, s->list.defs,
	                              s->list.n, on_created, r) != LWM2M_OK) {
		if (api_req_release(r)) {
			api_reply_error(r, 503, "storage unavailable");
		}
	}
}

/* ---- PUT and DELETE /objecttypes/definitions/{definitionID} ------------- */

static void
on_changed(lwm2m_err err, size_t index, void *arg)
{
	struct api_req *r = arg;

	if (!api_req_release(r)) {
		return;
	}
	if (err != LWM2M_OK) {
		reply_err(r, err);
		return;
	}
	api_reply_status(r, 204);
}

void
api_definition_put(struct api_req *r)
{
	char id[LWM2M_ID_SIZE];
	struct defs_state *s;
	enum api_fmt fmt;

	if (!url_id(r, id)) {
		return;
	}
	/* a typed body (spec 1.4), unlike POST's */
	if (!api_body_type(api_req_header(r, "Content-Type"), &fmt)) {
		api_reply_error(r, 415,
		                "unsupported or missing Content-Type, "
		                "use JSON or XML");
		return;
	}
	if ((s = new_state(r)) == NULL || !read_body(r, false, &s->list)) {
		return;
	}
	api_req_hold(r);
	if (lwm2m_objdef_store_replace(r->api->redis, r->org, id,
	                               s->list.defs[0], on_changed,
	                               r) != LWM2M_OK) {
		if (api_req_release(r)) {
			api_reply_error(r, 503, "storage unavailable");
		}
	}
}

void
api_definition_delete(struct api_req *r)
{
	char id[LWM2M_ID_SIZE];

	if (!url_id(r, id)) {
		return;
	}
	api_req_hold(r);
	if (lwm2m_objdef_store_delete(r->api->redis, r->org, id, on_changed,
	                              r) != LWM2M_OK) {
		if (api_req_release(r)) {
			api_reply_error(r, 503, "storage unavailable");
		}
	}
}

/* ---- the shipped definitions -------------------------------------------- */

/* objects_file finds lwds-objects.json: configured (LWDS_OBJECTS_FILE),
 * the installed copies, or the source tree next to a build directory,
 * whose path is resolved into buf (PATH_MAX bytes) so the log names it
 * without the build directory's "..". */
static const char *
objects_file(const char *configured, char buf[PATH_MAX])
{
	static const char *const installed[] = {
	    "/usr/local/share/lwds/lwds-objects.json",
	    "/usr/share/lwds/lwds-objects.json",
	};
	char exe[PATH_MAX / 2], rel[PATH_MAX];
	ssize_t n;

	if (configured != NULL) {
		return configured;
	}
	for (size_t i = 0; i < sizeof installed / sizeof installed[0]; i++) {
		if (access(installed[i], R_OK) == 0) {
			return installed[i];
		}
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0) {
		return NULL;
	}
	exe[n] = '\0';
	if (strrchr(exe, '/') == NULL) {
		return NULL;
	}
	*strrchr(exe, '/') = '\0'; /* <build>/services/rest-api */
	snprintf(rel, sizeof rel, "%s/../../../data/objects/lwds-objects.json",
	         exe);
	return realpath(rel, buf) != NULL && access(buf, R_OK) == 0 ? buf
	                                                            : NULL;
}

lwm2m_err
api_definitions_install(const char *redis_url, const char *configured)
{
	struct lwm2m_objdef_list list;
	struct lwm2m_diag diag = {0};
	char buf[PATH_MAX];
	const char *path = objects_file(configured, buf);
	redisContext *c;
	size_t n = 0;
	lwm2m_err err;

	if (path == NULL) {
		lwm2m_log(
		    LWM2M_LOG_WARNING,
		    "no lwds-objects.json found (set "
		    "LWDS_OBJECTS_FILE), no shipped definitions installed");
		return LWM2M_OK;
	}
	lwm2m_objdef_list_init(&list);
	err = lwm2m_objdef_load_file(path, &list, &diag);
	if (err == LWM2M_OK) {
		err = lwm2m_redis_sync_connect(redis_url, &c);
		if (err == LWM2M_OK) {
			err = lwm2m_objdef_sync_install(c, LWM2M_OBJDEF_GLOBAL,
			                                &list, &n);
			redisFree(c);
		}
		snprintf(diag.msg, sizeof diag.msg, "%s", lwm2m_strerror(err));
	}
	lwm2m_objdef_list_fini(&list);
	if (err != LWM2M_OK) {
		lwm2m_log(LWM2M_LOG_ERR, "shipped definitions %s: %s", path,
		          diag.msg);
		return err;
	}
	lwm2m_log(LWM2M_LOG_INFO, "shipped definitions: %zu installed from %s",
	          n, path);
	return LWM2M_OK;
}
