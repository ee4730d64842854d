/* lwm2m_instance.c - object instances as REST JSON/XML (spec 4.7, 4.8). */
#include "lwm2m_instance.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/tree.h>
#include <libxml/xmlwriter.h>
#include <yajl/yajl_tree.h>

#include "lwm2m_codec_internal.h"

#include "lwm2m_id.h"
#include "lwm2m_jsonw.h"
#include "lwm2m_loop.h"
#include "lwm2m_objdef_int.h"

/* ---- rendering: one value as text --------------------------------------- */

enum scalar_kind { S_STRING, S_NUMBER, S_BOOL };

struct scalar {
	enum scalar_kind kind;
	char *text; /* small, or malloc()ed when longer */
	size_t len;
	bool b;
	char small[64];
};

/* Frees what a scalar holds; safe on a zeroed one. */
static void
scalar_fini(struct scalar *s)
{
	if (s->text != s->small) {
		free(s->text);
	}
	s->text = NULL;
}

/* Room for len bytes and a NUL in s->text; false when out of memory. */
static bool
scalar_room(struct scalar *s, size_t len)
{
	s->text = len < sizeof s->small ? s->small : malloc(len + 1);
	return s->text != NULL;
}

static bool
scalar_set(struct scalar *s, enum scalar_kind kind, const char *text,
           size_t len)
{
	s->kind = kind;
	if (!scalar_room(s, len)) {
		return false;
	}
	memcpy(s->text, text, len);
	s->text[len] = '\0';
	s->len = len;
	return true;
}

static bool
scalar_bytes(struct scalar *s, const struct lwm2m_value *v, bool opaque)
{
	const uint8_t *p = v->v.bytes.ptr;
	size_t len = v->v.bytes.len;
	const uint8_t *nul;

	if (opaque) {
		s->kind = S_STRING;
		if (!scalar_room(s, lwm2m_b64_encoded_len(len, false))) {
			return false;
		}
		s->len = lwm2m_b64_encode(p, len, s->text, false);
		return true;
	}
	nul = len > 0 ? memchr(p, '\0', len) : NULL;
	if (nul != NULL) {
		len = (size_t)(nul - p); /* text after a NUL is dropped (4.7) */
	}
	if (lwm2m__utf8_bad(p, len) != len) {
		return false;
	}
	return scalar_set(s, S_STRING, (const char *)p, len);
}

/* Seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: ISO 8601
 * without extensions has four-digit years. */
#define TIME_MIN (-62167219200LL)
#define TIME_MAX 253402300799LL

/* format_time writes "yyyy-MM-ddTHH:mm:ssZ" (xml: with 7 fraction digits);
 * -1 outside years 0..9999. */
static int
format_time(int64_t secs, bool xml, char *buf, size_t size)
{
	time_t t = (time_t)secs;
	struct tm tm;

	if (secs < TIME_MIN || secs > TIME_MAX || gmtime_r(&t, &tm) == NULL) {
		return -1;
	}
	return snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%sZ",
	                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	                tm.tm_hour, tm.tm_min, tm.tm_sec,
	                xml ? ".0000000" : "");
}

/* scalar_of formats a typed value; false when it cannot be shown. */
static bool
scalar_of(struct scalar *s, const struct lwm2m_value *v, bool xml)
{
	char buf[64];
	int n = 0;

	switch (v->type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
	case LWM2M_TYPE_RAW:
		return scalar_bytes(s, v, false);
	case LWM2M_TYPE_OPAQUE:
		return scalar_bytes(s, v, true);
	case LWM2M_TYPE_INTEGER:
		n = snprintf(buf, sizeof(buf), "%" PRId64, v->v.i);
		return scalar_set(s, S_NUMBER, buf, (size_t)n);
	case LWM2M_TYPE_UNSIGNED:
		n = snprintf(buf, sizeof(buf), "%" PRIu64, v->v.u);
		return scalar_set(s, S_NUMBER, buf, (size_t)n);
	case LWM2M_TYPE_FLOAT:
		if (!isfinite(v->v.f)) {
			return false;
		}
		n = snprintf(buf, sizeof(buf), "%.15g", v->v.f);
		return scalar_set(s, S_NUMBER, buf, (size_t)n);
	case LWM2M_TYPE_BOOLEAN:
		s->b = v->v.b;
		n = snprintf(buf, sizeof(buf), "%s",
		             xml ? (v->v.b ? "True" : "False")
		                 : (v->v.b ? "true" : "false"));
		return scalar_set(s, S_BOOL, buf, (size_t)n);
	case LWM2M_TYPE_TIME:
		n = format_time(v->v.i, xml, buf, sizeof(buf));
		return n > 0 && scalar_set(s, S_STRING, buf, (size_t)n);
	case LWM2M_TYPE_OBJLNK:
		n = snprintf(buf, sizeof(buf), "%u:%u", (unsigned)v->v.lnk.obj,
		             (unsigned)v->v.lnk.inst);
		return scalar_set(s, S_STRING, buf, (size_t)n);
	case LWM2M_TYPE_NONE:
		break;
	}
	return false;
}

/* typed converts a node's value to the property's type into a scalar. */
static bool
typed(const struct lwm2m_instance_render *r, const struct lwm2m_propdef *p,
      const struct lwm2m_node *node, bool xml, struct scalar *s)
{
	struct lwm2m_value v = node->value;
	enum lwm2m_type want = lwm2m_objdef_value_type(p->type);

	memset(s, 0, sizeof(*s));
	if (want == LWM2M_TYPE_NONE || v.type == LWM2M_TYPE_NONE) {
		return false;
	}
	if (v.type != want &&
	    lwm2m_value_coerce(r->tree, &v, want, r->raw_is_text, NULL) !=
	        LWM2M_OK) {
		return false;
	}
	return scalar_of(s, &v, xml);
}

static const struct lwm2m_node *
child(const struct lwm2m_node *node, uint16_t id)
{
	for (const struct lwm2m_node *c = node->first_child; c != NULL;
	     c = c->next_sibling) {
		if (c->id == id) {
			return c;
		}
	}
	return NULL;
}

/* A single resource that came as a multiple resource whose only instance
 * has the resource's own id is that instance: Wakaama 1.0's LwM2M JSON names
 * a single resource /o/i/r "bn":"/o/i/r/","n":"r", which resolves to
 * /o/i/r/r.  Other multiple values of a single property stay an array
 * (below). */
const struct lwm2m_node *
lwm2m_instance_prop_node(const struct lwm2m_node *inst,
                         const struct lwm2m_propdef *p)
{
	const struct lwm2m_node *node = child(inst, p->resource_id);

	if (node != NULL && !p->is_collection &&
	    node->kind == LWM2M_NODE_MULTI_RESOURCE &&
	    node->first_child != NULL &&
	    node->first_child->next_sibling == NULL &&
	    node->first_child->id == p->resource_id) {
		return node->first_child;
	}
	return node;
}

/* ---- rendering JSON -----------------------------------------------------
 * Written by hand (lwm2m_jsonw), byte for byte what yajl_gen wrote before
 * (no spaces, strings escaped alike): building the instance JSON through
 * yajl_gen was about 13% of rest-api's CPU per instance read
 * (bench/README.md, sixth round). */

#define JSON_MAX (64u << 20) /* largest rendering, NUL included */

struct jout {
	struct lwm2m_jsonw w;
	bool first; /* nothing yet in the innermost object or array */
};

/* The comma before a member or element, unless it is the first. */
static void
jsep(struct jout *o)
{
	if (!o->first) {
		lwm2m_jsonw_raw(&o->w, ",", 1);
	}
	o->first = false;
}

static void
jopen(struct jout *o, const char *bracket)
{
	lwm2m_jsonw_raw(&o->w, bracket, 1);
	o->first = true;
}

static void
jclose(struct jout *o, const char *bracket)
{
	lwm2m_jsonw_raw(&o->w, bracket, 1);
	o->first = false;
}

/* A member's name and colon; its value follows. */
static void
jkey(struct jout *o, const char *name)
{
	jsep(o);
	lwm2m_jsonw_str(&o->w, name, strlen(name));
	lwm2m_jsonw_raw(&o->w, ":", 1);
}

static void
jscalar(struct jout *o, const struct scalar *s)
{
	if (s->kind == S_BOOL) {
		lwm2m_jsonw_raw(&o->w, s->b ? "true" : "false", s->b ? 4 : 5);
	} else if (s->kind == S_NUMBER) {
		lwm2m_jsonw_raw(&o->w, s->text, s->len);
	} else {
		lwm2m_jsonw_str(&o->w, s->text, s->len);
	}
}

/* Text of a link's href: its bytes, and whether they need no escape. */
struct jhref {
	const char *s;
	size_t len;
	bool plain;
};

static struct jhref
jhref_of(const char *s)
{
	size_t len = strlen(s);

	return (struct jhref){s, len, lwm2m_jsonw_plain(s, len)};
}

/* One element {"rel":rel,"href":href+suffix}; rel and suffix (may be NULL)
 * are constants that need no escape. */
static void
jlink(struct jout *o, const char *rel, const struct jhref *href,
      const char *suffix)
{
	jsep(o);
	lwm2m_jsonw_raw(&o->w, "{\"rel\":\"", 8);
	lwm2m_jsonw_raw(&o->w, rel, strlen(rel));
	lwm2m_jsonw_raw(&o->w, "\",\"href\":\"", 10);
	if (href->plain) {
		lwm2m_jsonw_raw(&o->w, href->s, href->len);
	} else {
		lwm2m_jsonw_esc(&o->w, href->s, href->len);
	}
	if (suffix != NULL) {
		lwm2m_jsonw_raw(&o->w, suffix, strlen(suffix));
	}
	lwm2m_jsonw_raw(&o->w, "\"}", 2);
}

/* The Links of an instance: its href checked for escapes once. */
static void
jlinks(struct jout *o, const struct lwm2m_instance_render *r, const char *href)
{
	struct jhref h = jhref_of(href);

	jkey(o, "Links");
	jopen(o, "[");
	jlink(o, "self", &h, NULL);
	jlink(o, "update", &h, NULL);
	jlink(o, "remove", &h, NULL);
	jlink(o, "subscriptions", &h, "/subscriptions");
	if (r->def_href != NULL) {
		struct jhref d = jhref_of(r->def_href);

		jlink(o, "definition", &d, NULL);
	}
	if (r->op_links) {
		jlink(o, "discover", &h, "/discover");
		jlink(o, "attributes", &h, "/attributes");
	}
	jclose(o, "]");
}

static void
jitem(struct jout *o, const struct lwm2m_instance_render *r,
      const struct lwm2m_propdef *p, const struct lwm2m_node *node)
{
	struct scalar s;

	if (typed(r, p, node, false, &s)) {
		jsep(o);
		jscalar(o, &s);
	}
	scalar_fini(&s);
}

static void
jprop(struct jout *o, const struct lwm2m_instance_render *r,
      const struct lwm2m_propdef *p, const struct lwm2m_node *node)
{
	struct scalar s;

	if (!p->is_collection && node->kind != LWM2M_NODE_MULTI_RESOURCE) {
		if (typed(r, p, node, false, &s)) {
			jkey(o, p->serialisation_name);
			jscalar(o, &s);
		}
		scalar_fini(&s);
		return;
	}
	/* a collection, or values the device sent as one: always an array */
	jkey(o, p->serialisation_name);
	jopen(o, "[");
	if (node->kind != LWM2M_NODE_MULTI_RESOURCE) {
		jitem(o, r, p, node);
	}
	for (const struct lwm2m_node *c = node->first_child;
	     node->kind == LWM2M_NODE_MULTI_RESOURCE && c != NULL;
	     c = c->next_sibling) {
		jitem(o, r, p, c);
	}
	jclose(o, "]");
}

/* The instance as one object: a value (first in the output) or an element
 * of the array being written. */
static void
gen_instance(struct jout *o, const struct lwm2m_instance_render *r,
             const struct lwm2m_node *inst, const char *href)
{
	jsep(o);
	jopen(o, "{");
	if (href != NULL) {
		jlinks(o, r, href);
	}
	jkey(o, "InstanceID");
	lwm2m_jsonw_raw(&o->w, "\"", 1);
	lwm2m_jsonw_int(&o->w, (long long)inst->id);
	lwm2m_jsonw_raw(&o->w, "\"", 1);
	for (size_t i = 0; i < r->def->n_props; i++) {
		const struct lwm2m_propdef *p = &r->def->props[i];
		const struct lwm2m_node *node =
		    lwm2m_instance_prop_node(inst, p);

		if (node != NULL) {
			jprop(o, r, p, node);
		}
	}
	jclose(o, "}");
}

static void
json_start(struct jout *o)
{
	lwm2m_jsonw_init(&o->w, JSON_MAX);
	o->first = true;
}

static lwm2m_err
json_finish(struct jout *o, char **ret_buf, size_t *ret_len)
{
	lwm2m_err err = lwm2m_jsonw_finish(&o->w, ret_len);

	if (err == LWM2M_OK) {
		*ret_buf = o->w.buf;
	}
	return err;
}

lwm2m_err
lwm2m_instance_to_json(const struct lwm2m_instance_render *r,
                       const struct lwm2m_node *inst, char **ret_buf,
                       size_t *ret_len)
{
	struct jout o;

	if (inst == NULL || inst->kind != LWM2M_NODE_INSTANCE) {
		return LWM2M_EINVAL;
	}
	json_start(&o);
	gen_instance(&o, r, inst, r->href);
	return json_finish(&o, ret_buf, ret_len);
}

/* page_of returns the first instance to show and how many. */
static const struct lwm2m_node *
page_of(const struct lwm2m_node *obj, size_t start, size_t size,
        size_t *ret_total, size_t *ret_count)
{
	const struct lwm2m_node *first = NULL;
	size_t total = 0;

	for (const struct lwm2m_node *c = obj ? obj->first_child : NULL;
	     c != NULL; c = c->next_sibling) {
		if (total++ == start) {
			first = c;
		}
	}
	*ret_total = total;
	*ret_count =
	    start >= total ? 0 : (total - start < size ? total - start : size);
	return first;
}

static void
jpageinfo(struct jout *o, size_t total, size_t count, size_t start)
{
	jkey(o, "PageInfo");
	jopen(o, "{");
	jkey(o, "TotalCount");
	lwm2m_jsonw_int(&o->w, (long long)total);
	jkey(o, "ItemsCount");
	lwm2m_jsonw_int(&o->w, (long long)count);
	jkey(o, "StartIndex");
	lwm2m_jsonw_int(&o->w, (long long)start);
	jclose(o, "}");
}

lwm2m_err
lwm2m_instance_list_to_json(const struct lwm2m_instance_render *r,
                            const struct lwm2m_node *obj, size_t start_index,
                            size_t page_size, char **ret_buf, size_t *ret_len)
{
	struct jout o;
	const struct lwm2m_node *c;
	size_t total, count;
	char href[1200];

	json_start(&o);
	c = page_of(obj, start_index, page_size, &total, &count);
	jopen(&o, "{");
	if (r->href != NULL) {
		jkey(&o, "Links");
		jopen(&o, "[");
		struct jhref h = jhref_of(r->href);

		jlink(&o, "add", &h, NULL);
		jclose(&o, "]");
	}
	jpageinfo(&o, total, count, start_index);
	jkey(&o, "Items");
	jopen(&o, "[");
	for (size_t i = 0; i < count; i++, c = c->next_sibling) {
		snprintf(href, sizeof(href), "%s/%u", r->href ? r->href : "",
		         (unsigned)c->id);
		gen_instance(&o, r, c, r->href != NULL ? href : NULL);
	}
	jclose(&o, "]");
	jclose(&o, "}");
	return json_finish(&o, ret_buf, ret_len);
}

/* ---- rendering XML ------------------------------------------------------ */

static void
xlinks(xmlTextWriterPtr w, const struct lwm2m_instance_render *r,
       const char *href)
{
	char sub[1200];

	snprintf(sub, sizeof(sub), "%s/subscriptions", href);
	xmlTextWriterStartElement(w, BAD_CAST "Links");
	lwm2m__xml_link(w, "self", href);
	lwm2m__xml_link(w, "update", href);
	lwm2m__xml_link(w, "remove", href);
	lwm2m__xml_link(w, "subscriptions", sub);
	if (r->def_href != NULL) {
		lwm2m__xml_link(w, "definition", r->def_href);
	}
	if (r->op_links) {
		snprintf(sub, sizeof(sub), "%s/discover", href);
		lwm2m__xml_link(w, "discover", sub);
		snprintf(sub, sizeof(sub), "%s/attributes", href);
		lwm2m__xml_link(w, "attributes", sub);
	}
	xmlTextWriterEndElement(w);
}

static void
xvalue(xmlTextWriterPtr w, const char *name,
       const struct lwm2m_instance_render *r, const struct lwm2m_propdef *p,
       const struct lwm2m_node *node)
{
	struct scalar s;

	if (typed(r, p, node, true, &s) && s.len > 0) {
		xmlTextWriterWriteElement(w, BAD_CAST name, BAD_CAST s.text);
	}
	scalar_fini(&s);
}

static void
xprop(xmlTextWriterPtr w, const struct lwm2m_instance_render *r,
      const struct lwm2m_propdef *p, const struct lwm2m_node *node)
{
	char item[LWM2M_OBJDEF_MAX_NAME + 8];

	if (!p->is_collection && node->kind != LWM2M_NODE_MULTI_RESOURCE) {
		xvalue(w, p->serialisation_name, r, p, node);
		return;
	}
	if (p->item_name != NULL) {
		snprintf(item, sizeof(item), "%s", p->item_name);
	} else if (lwm2m_objdef_make_name(p->serialisation_name, false, true,
	                                  item, sizeof(item)) <= 0) {
		return;
	}
	xmlTextWriterStartElement(w, BAD_CAST p->serialisation_name);
	if (node->kind != LWM2M_NODE_MULTI_RESOURCE) {
		xvalue(w, item, r, p, node);
	}
	for (const struct lwm2m_node *c = node->first_child;
	     node->kind == LWM2M_NODE_MULTI_RESOURCE && c != NULL;
	     c = c->next_sibling) {
		xvalue(w, item, r, p, c);
	}
	xmlTextWriterEndElement(w);
}

static void
put_instance(xmlTextWriterPtr w, const struct lwm2m_instance_render *r,
             const struct lwm2m_node *inst, const char *href, bool root)
{
	char iid[8];

	xmlTextWriterStartElement(w, BAD_CAST r->def->serialisation_name);
	if (root) {
		lwm2m__xml_namespaces(w);
	}
	if (href != NULL) {
		xlinks(w, r, href);
	}
	snprintf(iid, sizeof(iid), "%u", (unsigned)inst->id);
	xmlTextWriterWriteElement(w, BAD_CAST "InstanceID", BAD_CAST iid);
	for (size_t i = 0; i < r->def->n_props; i++) {
		const struct lwm2m_propdef *p = &r->def->props[i];
		const struct lwm2m_node *node =
		    lwm2m_instance_prop_node(inst, p);

		if (node != NULL) {
			xprop(w, r, p, node);
		}
	}
	xmlTextWriterEndElement(w);
}

lwm2m_err
lwm2m_instance_to_xml(const struct lwm2m_instance_render *r,
                      const struct lwm2m_node *inst, char **ret_buf,
                      size_t *ret_len)
{
	xmlBufferPtr buf;
	xmlTextWriterPtr w;

	if (inst == NULL || inst->kind != LWM2M_NODE_INSTANCE) {
		return LWM2M_EINVAL;
	}
	if (lwm2m__xml_writer_new(&buf, &w) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	put_instance(w, r, inst, r->href, true);
	return lwm2m__xml_writer_finish(buf, w, ret_buf, ret_len);
}

static void
xpageinfo(xmlTextWriterPtr w, size_t total, size_t count, size_t start)
{
	xmlTextWriterStartElement(w, BAD_CAST "PageInfo");
	xmlTextWriterWriteFormatElement(w, BAD_CAST "TotalCount", "%zu", total);
	xmlTextWriterWriteFormatElement(w, BAD_CAST "ItemsCount", "%zu", count);
	xmlTextWriterWriteFormatElement(w, BAD_CAST "StartIndex", "%zu", start);
	xmlTextWriterEndElement(w);
}

lwm2m_err
lwm2m_instance_list_to_xml(const struct lwm2m_instance_render *r,
                           const struct lwm2m_node *obj, size_t start_index,
                           size_t page_size, char **ret_buf, size_t *ret_len)
{
	struct lwm2m_objdef plural = {.mime_type = r->def->serialisation_name};
	char root[LWM2M_OBJDEF_MAX_NAME + 8], href[1200];
	const struct lwm2m_node *c;
	size_t total, count;
	xmlBufferPtr buf;
	xmlTextWriterPtr w;

	/* the root is pluralised like the media type (4.8) */
	if (lwm2m_objdef_mime_plural(&plural, root, sizeof(root)) < 0 ||
	    lwm2m__xml_writer_new(&buf, &w) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	c = page_of(obj, start_index, page_size, &total, &count);
	xmlTextWriterStartElement(w, BAD_CAST root);
	lwm2m__xml_namespaces(w);
	if (r->href != NULL) {
		xmlTextWriterStartElement(w, BAD_CAST "Links");
		lwm2m__xml_link(w, "add", r->href);
		xmlTextWriterEndElement(w);
	}
	xpageinfo(w, total, count, start_index);
	xmlTextWriterStartElement(w, BAD_CAST "Items");
	for (size_t i = 0; i < count; i++, c = c->next_sibling) {
		snprintf(href, sizeof(href), "%s/%u", r->href ? r->href : "",
		         (unsigned)c->id);
		put_instance(w, r, c, r->href != NULL ? href : NULL, false);
	}
	xmlTextWriterEndElement(w);
	xmlTextWriterEndElement(w);
	return lwm2m__xml_writer_finish(buf, w, ret_buf, ret_len);
}

/* ---- parsing: text to value --------------------------------------------- */

static bool
parse_objlnk(const char *t, struct lwm2m_value *v)
{
	unsigned long a, b;
	char *end;

	if (*t < '0' || *t > '9') {
		return false;
	}
	a = strtoul(t, &end, 10);
	if (*end != ':' || end[1] < '0' || end[1] > '9') {
		return false;
	}
	b = strtoul(end + 1, &end, 10);
	if (*end != '\0' || a > 65535 || b > 65535) {
		return false;
	}
	v->type = LWM2M_TYPE_OBJLNK;
	v->v.lnk.obj = (uint16_t)a;
	v->v.lnk.inst = (uint16_t)b;
	return true;
}

static bool
parse_time(const char *t, bool number, struct lwm2m_value *v)
{
	char zoned[48];
	long long n;
	int64_t secs;

	v->type = LWM2M_TYPE_TIME;
	if (number) {
		if (lwm2m_parse_int(t, INT64_MIN, INT64_MAX, &n) != LWM2M_OK) {
			return false;
		}
		v->v.i = n;
		return n >= TIME_MIN && n <= TIME_MAX;
	}
	if (lwm2m_time_parse_iso8601(t, strlen(t), &secs) != LWM2M_OK) {
		/* without a zone the time is UTC (4.7) */
		if (strlen(t) + 2 > sizeof(zoned)) {
			return false;
		}
		snprintf(zoned, sizeof(zoned), "%sZ", t);
		if (lwm2m_time_parse_iso8601(zoned, strlen(zoned), &secs) !=
		    LWM2M_OK) {
			return false;
		}
	}
	v->v.i = secs;
	return secs >= TIME_MIN && secs <= TIME_MAX;
}

static bool
parse_opaque(struct lwm2m_tree *tree, const char *t, struct lwm2m_value *v)
{
	size_t len = strlen(t), cap = len / 4 * 3 + 3, n;
	uint8_t *out = lwm2m_tree_alloc(tree, cap);

	if (out == NULL || lwm2m_b64_decode(t, len, out, cap, &n) != LWM2M_OK) {
		return false;
	}
	v->type = LWM2M_TYPE_OPAQUE;
	v->v.bytes.ptr = out;
	v->v.bytes.len = n;
	return true;
}

static bool
parse_number(const char *t, bool integer, struct lwm2m_value *v)
{
	char *end;
	long long n;
	double d;

	if (integer) {
		if (lwm2m_parse_int(t, INT64_MIN, INT64_MAX, &n) != LWM2M_OK) {
			return false;
		}
		v->type = LWM2M_TYPE_INTEGER;
		v->v.i = n;
		return true;
	}
	d = strtod(t, &end);
	if (end == t || *end != '\0' || !isfinite(d)) {
		return false;
	}
	v->type = LWM2M_TYPE_FLOAT;
	v->v.f = d;
	return true;
}

static const char *
type_expect(enum lwm2m_objdef_type type)
{
	switch (type) {
	case LWM2M_OBJDEF_INTEGER:
		return "expected an integer";
	case LWM2M_OBJDEF_FLOAT:
		return "expected a number";
	case LWM2M_OBJDEF_BOOLEAN:
		return "expected true or false";
	case LWM2M_OBJDEF_DATETIME:
		return "expected an ISO 8601 time such as 2016-07-07T03:43:20Z";
	case LWM2M_OBJDEF_OPAQUE:
		return "expected standard base64";
	case LWM2M_OBJDEF_OBJLNK:
		return "expected \"<objectID>:<instanceID>\"";
	case LWM2M_OBJDEF_STRING:
		return "expected a string";
	case LWM2M_OBJDEF_NOTSET:
	case LWM2M_OBJDEF_OBJECT:
		break;
	}
	return "has no value type";
}

/* text_value converts t (NUL-terminated; number: it was a JSON number) to
 * the property's type. */
static bool
text_value(struct lwm2m_tree *tree, const struct lwm2m_propdef *p,
           const char *t, bool number, struct lwm2m_value *v)
{
	memset(v, 0, sizeof(*v));
	switch (p->type) {
	case LWM2M_OBJDEF_STRING:
		v->type = LWM2M_TYPE_STRING;
		v->v.bytes.ptr = (const uint8_t *)t;
		v->v.bytes.len = strlen(t);
		return true;
	case LWM2M_OBJDEF_INTEGER:
		return parse_number(t, true, v);
	case LWM2M_OBJDEF_FLOAT:
		return parse_number(t, false, v);
	case LWM2M_OBJDEF_BOOLEAN:
		v->type = LWM2M_TYPE_BOOLEAN;
		v->v.b = strcasecmp(t, "true") == 0;
		return !number && (v->v.b || strcasecmp(t, "false") == 0);
	case LWM2M_OBJDEF_DATETIME:
		return parse_time(t, number, v);
	case LWM2M_OBJDEF_OPAQUE:
		return !number && parse_opaque(tree, t, v);
	case LWM2M_OBJDEF_OBJLNK:
		return !number && parse_objlnk(t, v);
	case LWM2M_OBJDEF_NOTSET:
	case LWM2M_OBJDEF_OBJECT:
		break;
	}
	return false;
}

/* ---- parsing: common walk state ----------------------------------------- */

struct walk {
	const struct lwm2m_objdef *def;
	struct lwm2m_tree *tree;
	struct lwm2m_instance_body *body;
	struct lwm2m_diag *diag;
};

static lwm2m_err
set_value(struct walk *w, const struct lwm2m_propdef *p, int riid,
          const char *text, bool number)
{
	struct lwm2m_path path = {.len = riid < 0 ? 3 : 4};
	struct lwm2m_value v;
	lwm2m_err err;

	if (strlen(text) > w->tree->limits->max_value_len) {
		return lwm2m__diag(w->diag, LWM2M_ELIMIT, "%s: value too long",
		                   p->serialisation_name);
	}
	if (!text_value(w->tree, p, text, number, &v)) {
		return lwm2m__diag(w->diag, LWM2M_EPROTO, "%s: %s",
		                   p->serialisation_name, type_expect(p->type));
	}
	path.ids[0] = w->def->object_id;
	path.ids[1] = w->body->instance_id;
	path.ids[2] = p->resource_id;
	path.ids[3] = (uint16_t)(riid < 0 ? 0 : riid);
	err = lwm2m_tree_set(w->tree, &path, &v);
	if (err == LWM2M_EPROTO) {
		return lwm2m__diag(w->diag, err, "%s: given twice",
		                   p->serialisation_name);
	}
	if (err == LWM2M_ELIMIT) {
		return lwm2m__diag(w->diag, err, "%s: too many values",
		                   p->serialisation_name);
	}
	return err;
}

/* claim handles Execute and value-less properties; true when done. */
static bool
claim(struct walk *w, const struct lwm2m_propdef *p)
{
	if (p->access == LWM2M_OBJDEF_EXECUTE) {
		for (size_t i = 0; i < w->body->n_exec; i++) {
			if (w->body->exec[i] == p->resource_id) {
				return true;
			}
		}
		if (w->body->n_exec < LWM2M_OBJDEF_MAX_PROPS) {
			w->body->exec[w->body->n_exec++] = p->resource_id;
		}
		return true;
	}
	return lwm2m_objdef_value_type(p->type) == LWM2M_TYPE_NONE;
}

static bool
parse_iid(const char *t, uint16_t *ret)
{
	long long n;

	if (lwm2m_parse_int(t, 0, 65534, &n) != LWM2M_OK) {
		return false;
	}
	*ret = (uint16_t)n;
	return true;
}

static void
body_init(struct lwm2m_instance_body *body, uint16_t default_iid)
{
	body->has_instance_id = false;
	body->instance_id = default_iid;
	body->n_exec = 0;
}

/* ---- parsing JSON ------------------------------------------------------- */

static lwm2m_err
json_scalar(struct walk *w, const struct lwm2m_propdef *p, int riid, yajl_val v)
{
	if (YAJL_IS_STRING(v)) {
		return set_value(w, p, riid, YAJL_GET_STRING(v), false);
	}
	if (YAJL_IS_NUMBER(v)) {
		return set_value(w, p, riid, YAJL_GET_NUMBER(v), true);
	}
	if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		if (p->type == LWM2M_OBJDEF_BOOLEAN ||
		    p->type == LWM2M_OBJDEF_STRING) {
			return set_value(w, p, riid,
			                 YAJL_IS_TRUE(v) ? "true" : "false",
			                 false);
		}
	}
	return lwm2m__diag(w->diag, LWM2M_EPROTO, "%s: %s%s",
	                   p->serialisation_name, type_expect(p->type),
	                   YAJL_IS_OBJECT(v) || YAJL_IS_ARRAY(v)
	                       ? " (a single value, not a structure)"
	                       : "");
}

static lwm2m_err
json_multi(struct walk *w, const struct lwm2m_propdef *p, yajl_val v)
{
	lwm2m_err err = LWM2M_OK;

	if (YAJL_IS_ARRAY(v)) {
		if (v->u.array.len > 65535) {
			return lwm2m__diag(w->diag, LWM2M_ELIMIT,
			                   "%s: too many values",
			                   p->serialisation_name);
		}
		for (size_t i = 0; err == LWM2M_OK && i < v->u.array.len; i++) {
			err = json_scalar(w, p, (int)i, v->u.array.values[i]);
		}
		return err;
	}
	if (!YAJL_IS_OBJECT(v)) {
		return lwm2m__diag(
		    w->diag, LWM2M_EPROTO,
		    "%s: a multi-instance resource takes an array "
		    "or an object {\"<id>\": value}",
		    p->serialisation_name);
	}
	for (size_t i = 0; err == LWM2M_OK && i < v->u.object.len; i++) {
		uint16_t riid;

		if (!parse_iid(v->u.object.keys[i], &riid)) {
			return lwm2m__diag(
			    w->diag, LWM2M_EPROTO,
			    "%s: \"%.20s\" is not an instance id "
			    "0..65534",
			    p->serialisation_name, v->u.object.keys[i]);
		}
		err = json_scalar(w, p, riid, v->u.object.values[i]);
	}
	return err;
}

static lwm2m_err
json_iid(struct walk *w, yajl_val val)
{
	if (!YAJL_IS_STRING(val)) {
		return LWM2M_OK; /* only a string sets the id (4.7) */
	}
	if (!parse_iid(YAJL_GET_STRING(val), &w->body->instance_id)) {
		return lwm2m__diag(w->diag, LWM2M_EPROTO,
		                   "InstanceID: expected 0..65534");
	}
	w->body->has_instance_id = true;
	return LWM2M_OK;
}

/* json_walk visits every member at any depth: the first pass (ids_only)
 * finds InstanceID, the second stores the properties under it. */
static lwm2m_err
json_walk(struct walk *w, yajl_val v, bool ids_only)
{
	lwm2m_err err = LWM2M_OK;

	for (size_t i = 0;
	     YAJL_IS_ARRAY(v) && err == LWM2M_OK && i < v->u.array.len; i++) {
		err = json_walk(w, v->u.array.values[i], ids_only);
	}
	for (size_t i = 0;
	     YAJL_IS_OBJECT(v) && err == LWM2M_OK && i < v->u.object.len; i++) {
		const char *key = v->u.object.keys[i];
		yajl_val val = v->u.object.values[i];
		const struct lwm2m_propdef *p;

		if (strcasecmp(key, "Links") == 0) {
			continue;
		}
		if (strcasecmp(key, "InstanceID") == 0) {
			err = ids_only ? json_iid(w, val) : LWM2M_OK;
			continue;
		}
		p = lwm2m_objdef_prop_by_name(w->def, key, strlen(key));
		if (p == NULL) {
			err = json_walk(w, val, ids_only);
		} else if (ids_only || claim(w, p) || YAJL_IS_NULL(val)) {
			continue;
		} else if (p->is_collection) {
			err = json_multi(w, p, val);
		} else {
			err = json_scalar(w, p, -1, val);
		}
	}
	return err;
}

lwm2m_err
lwm2m_instance_from_json(const struct lwm2m_objdef *def, const char *buf,
                         size_t len, uint16_t default_iid,
                         struct lwm2m_tree *tree,
                         struct lwm2m_instance_body *ret_body,
                         struct lwm2m_diag *diag)
{
	struct walk w = {def, tree, ret_body, diag};
	yajl_val doc;
	lwm2m_err err;

	body_init(ret_body, default_iid);
	err = lwm2m__json_parse(buf, len, tree->limits->max_input_len, &doc,
	                        diag);
	if (err != LWM2M_OK) {
		return err;
	}
	if (!YAJL_IS_OBJECT(doc)) {
		yajl_tree_free(doc);
		return lwm2m__diag(diag, LWM2M_EPROTO,
		                   "an instance body is a JSON object");
	}
	err = json_walk(&w, doc, true);
	if (err == LWM2M_OK) {
		err = json_walk(&w, doc, false);
	}
	yajl_tree_free(doc);
	return err;
}

/* ---- parsing XML -------------------------------------------------------- */

static lwm2m_err
xml_value(struct walk *w, const struct lwm2m_propdef *p, int riid,
          const xmlNode *node)
{
	char *text = lwm2m__xml_text(node);
	lwm2m_err err;

	if (text == NULL) {
		return LWM2M_ENOMEM;
	}
	err = set_value(w, p, riid, text, false);
	free(text);
	return err;
}

static lwm2m_err
xml_multi(struct walk *w, const struct lwm2m_propdef *p, const xmlNode *node)
{
	char item[LWM2M_OBJDEF_MAX_NAME + 8];
	lwm2m_err err = LWM2M_OK;
	int riid = 0;

	if (p->item_name != NULL) {
		snprintf(item, sizeof(item), "%s", p->item_name);
	} else if (lwm2m_objdef_make_name(p->serialisation_name, false, true,
	                                  item, sizeof(item)) <= 0) {
		return LWM2M_OK;
	}
	for (const xmlNode *c = node->children; err == LWM2M_OK && c != NULL;
	     c = c->next) {
		if (!lwm2m__xml_is(c, item)) {
			continue;
		}
		if (riid > 65534) {
			return lwm2m__diag(w->diag, LWM2M_ELIMIT,
			                   "%s: too many values",
			                   p->serialisation_name);
		}
		err = xml_value(w, p, riid++, c);
	}
	return err;
}

static lwm2m_err
xml_iid(struct walk *w, const xmlNode *root)
{
	for (const xmlNode *c = root->children; c != NULL; c = c->next) {
		char *text;
		bool ok;

		if (!lwm2m__xml_is(c, "InstanceID")) {
			continue;
		}
		text = lwm2m__xml_text(c);
		if (text == NULL) {
			return LWM2M_ENOMEM;
		}
		ok = parse_iid(text, &w->body->instance_id);
		free(text);
		if (!ok) {
			return lwm2m__diag(w->diag, LWM2M_EPROTO,
			                   "InstanceID: expected 0..65534");
		}
		w->body->has_instance_id = true;
	}
	return LWM2M_OK;
}

static lwm2m_err
xml_props(struct walk *w, const xmlNode *root)
{
	lwm2m_err err = LWM2M_OK;

	for (const xmlNode *c = root->children; err == LWM2M_OK && c != NULL;
	     c = c->next) {
		const char *name = (const char *)c->name;
		const struct lwm2m_propdef *p;

		if (c->type != XML_ELEMENT_NODE) {
			continue;
		}
		p = lwm2m_objdef_prop_by_name(w->def, name, strlen(name));
		if (p == NULL || claim(w, p)) {
			continue;
		}
		err = p->is_collection ? xml_multi(w, p, c)
		                       : xml_value(w, p, -1, c);
	}
	return err;
}

lwm2m_err
lwm2m_instance_from_xml(const struct lwm2m_objdef *def, const char *buf,
                        size_t len, uint16_t default_iid,
                        struct lwm2m_tree *tree,
                        struct lwm2m_instance_body *ret_body,
                        struct lwm2m_diag *diag)
{
	struct walk w = {def, tree, ret_body, diag};
	xmlDocPtr doc;
	xmlNode *root;
	lwm2m_err err;

	body_init(ret_body, default_iid);
	if (len > tree->limits->max_input_len) {
		return lwm2m__diag(diag, LWM2M_ELIMIT, "body too large");
	}
	err = lwm2m__xml_read(buf, len, &doc, diag);
	if (err != LWM2M_OK) {
		return err;
	}
	root = xmlDocGetRootElement(doc);
	if (!lwm2m__xml_is(root, def->serialisation_name)) {
		err = lwm2m__diag(diag, LWM2M_EPROTO,
		                  "the root element must be <%s>",
		                  def->serialisation_name);
	}
	if (err == LWM2M_OK) {
		err = xml_iid(&w, root);
	}
	if (err == LWM2M_OK) {
		err = xml_props(&w, root);
	}
	xmlFreeDoc(doc);
	return err;
}
