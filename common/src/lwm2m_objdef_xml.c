/* lwm2m_objdef_xml.c - object definitions in the REST XML shape (spec 1.6,
 * 5) with libxml2: no network, no DTD, no entity expansion. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "lwm2m_objdef.h"
#include "lwm2m_objdef_int.h"

/* quiet drops libxml2's messages to stderr (e.g. encoding errors, which
 * XML_PARSE_NOERROR does not cover): the caller reports the error once. */
static void
quiet(void *ctx, const char *msg, ...)
{
}

lwm2m_err
lwm2m__xml_read(const char *buf, size_t len, xmlDocPtr *ret_doc,
                struct lwm2m_diag *diag)
{
	xmlDocPtr doc;

	if (len > LWM2M_OBJDEF_MAX_INPUT || len > INT_MAX) {
		return lwm2m__diag(diag, LWM2M_ELIMIT,
		                   "body of %zu bytes exceeds the limit", len);
	}
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, quiet);
	xmlResetLastError();
	doc = xmlReadMemory(buf, (int)len, NULL, NULL,
	                    XML_PARSE_NONET | XML_PARSE_NOERROR |
	                        XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
	if (doc == NULL) {
		const xmlError *e = xmlGetLastError();
		const char *m = e != NULL && e->message ? e->message : "?";
		int n = (int)strcspn(m, "\r\n");

		return lwm2m__diag(
		    diag, LWM2M_EPROTO, "malformed XML at line %d: %.*s",
		    e != NULL ? e->line : 0, n < 100 ? n : 100, m);
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		xmlFreeDoc(doc);
		return lwm2m__diag(diag, LWM2M_EPROTO,
		                   "XML with a DTD is not accepted");
	}
	if (xmlDocGetRootElement(doc) == NULL) {
		xmlFreeDoc(doc);
		return lwm2m__diag(diag, LWM2M_EPROTO,
		                   "XML without an element");
	}
	*ret_doc = doc;
	return LWM2M_OK;
}

bool
lwm2m__xml_is(const xmlNode *node, const char *name)
{
	return node != NULL && node->type == XML_ELEMENT_NODE &&
	       strcasecmp((const char *)node->name, name) == 0;
}

char *
lwm2m__xml_text(const xmlNode *node)
{
	xmlChar *c = xmlNodeGetContent(node);
	char *s;

	if (c == NULL) {
		return strdup("");
	}
	s = strdup((const char *)c);
	xmlFree(c);
	return s;
}

/* is_nil is true for an element with xsi:nil="true" (.NET's null). */
static bool
is_nil(const xmlNode *node)
{
	xmlChar *nil = xmlGetProp(node, BAD_CAST "nil");
	bool r = nil != NULL && strcasecmp((const char *)nil, "true") == 0;

	xmlFree(nil);
	return r;
}

/* read_fields_xml applies each child element of node to base. */
static lwm2m_err
read_fields_xml(const xmlNode *node, bool prop, void *base, const char *where,
                struct lwm2m_diag *diag)
{
	for (const xmlNode *c = node->children; c != NULL; c = c->next) {
		char *text;
		lwm2m_err err;

		if (c->type != XML_ELEMENT_NODE || lwm2m__xml_is(c, "Links") ||
		    lwm2m__xml_is(c, "Properties")) {
			continue;
		}
		if (is_nil(c)) {
			continue; /* xsi:nil="true": unset */
		}
		text = lwm2m__xml_text(c);
		if (text == NULL) {
			return LWM2M_ENOMEM;
		}
		err = lwm2m__objdef_field_text(prop, (const char *)c->name,
		                               strlen((const char *)c->name),
		                               text, base, where, diag);
		free(text);
		if (err != LWM2M_OK) {
			return err;
		}
	}
	return LWM2M_OK;
}

static lwm2m_err
read_props_xml(struct lwm2m_objdef *def, const xmlNode *props,
               const char *where, struct lwm2m_diag *diag)
{
	char at[64];
	size_t i = 0;

	for (const xmlNode *c = props->children; c != NULL; c = c->next) {
		struct lwm2m_propdef *p;
		lwm2m_err err;

		if (c->type != XML_ELEMENT_NODE) {
			continue;
		}
		snprintf(at, sizeof(at), "%sProperties[%zu].", where, i++);
		if (!lwm2m__xml_is(c, "PropertyDefinition")) {
			return lwm2m__diag(diag, LWM2M_EPROTO,
			                   "%s: expected <PropertyDefinition>",
			                   at);
		}
		err = lwm2m_objdef_add_prop(def, &p);
		if (err != LWM2M_OK) {
			return lwm2m__diag(diag, err, "%s: too many properties",
			                   where);
		}
		err = read_fields_xml(c, true, p, at, diag);
		if (err != LWM2M_OK) {
			return err;
		}
	}
	return LWM2M_OK;
}

static bool
has_child(const xmlNode *node, const char *name)
{
	for (const xmlNode *c = node->children; c != NULL; c = c->next) {
		if (lwm2m__xml_is(c, name)) {
			return true;
		}
	}
	return false;
}

static lwm2m_err
read_def_xml(const xmlNode *node, const char *where,
             struct lwm2m_objdef **ret_def, struct lwm2m_diag *diag)
{
	struct lwm2m_objdef *def;
	lwm2m_err err;

	if (!lwm2m__xml_is(node, "ObjectDefinition")) {
		return lwm2m__diag(diag, LWM2M_EPROTO,
		                   "%sexpected <ObjectDefinition>", where);
	}
	if (!has_child(node, "ObjectID")) {
		return lwm2m__diag(diag, LWM2M_EPROTO, "%sObjectID: missing",
		                   where);
	}
	if (lwm2m_objdef_new(&def) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	err = read_fields_xml(node, false, def, where, diag);
	for (const xmlNode *c = node->children; err == LWM2M_OK && c != NULL;
	     c = c->next) {
		if (lwm2m__xml_is(c, "Properties")) {
			err = read_props_xml(def, c, where, diag);
		}
	}
	if (err != LWM2M_OK) {
		lwm2m_objdef_free(def);
		return err;
	}
	*ret_def = def;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_objdef_xml_parse(const char *buf, size_t len,
                       struct lwm2m_objdef **ret_def, struct lwm2m_diag *diag)
{
	xmlDocPtr doc;
	lwm2m_err err;

	err = lwm2m__xml_read(buf, len, &doc, diag);
	if (err != LWM2M_OK) {
		return err;
	}
	err = read_def_xml(xmlDocGetRootElement(doc), "", ret_def, diag);
	xmlFreeDoc(doc);
	return err;
}

static lwm2m_err
read_items_xml(const xmlNode *items, struct lwm2m_objdef_list *list,
               struct lwm2m_diag *diag)
{
	char at[32];
	size_t i = 0;
	lwm2m_err err = LWM2M_OK;

	for (const xmlNode *c = items->children; err == LWM2M_OK && c != NULL;
	     c = c->next) {
		struct lwm2m_objdef *def;

		if (c->type != XML_ELEMENT_NODE) {
			continue;
		}
		snprintf(at, sizeof(at), "Items[%zu].", i++);
		err = read_def_xml(c, at, &def, diag);
		if (err == LWM2M_OK) {
			err = lwm2m_objdef_list_add(list, def);
		}
		if (err == LWM2M_ELIMIT) {
			lwm2m__diag(diag, err, "more than %d definitions",
			            LWM2M_OBJDEF_MAX_DEFS);
		}
	}
	return err;
}

lwm2m_err
lwm2m_objdef_xml_parse_list(const char *buf, size_t len,
                            struct lwm2m_objdef_list *list,
                            struct lwm2m_diag *diag)
{
	xmlDocPtr doc;
	xmlNode *root, *items = NULL;
	lwm2m_err err;

	err = lwm2m__xml_read(buf, len, &doc, diag);
	if (err != LWM2M_OK) {
		return err;
	}
	root = xmlDocGetRootElement(doc);
	if (lwm2m__xml_is(root, "ObjectDefinitions")) {
		for (xmlNode *c = root->children; c != NULL; c = c->next) {
			if (lwm2m__xml_is(c, "Items")) {
				items = c;
			}
		}
	}
	if (items == NULL) {
		err = lwm2m__diag(diag, LWM2M_EPROTO,
		                  "expected <ObjectDefinitions><Items>");
	} else {
		err = read_items_xml(items, list, diag);
	}
	xmlFreeDoc(doc);
	return err;
}

/* ---- rendering ---------------------------------------------------------- */

static void
put(xmlTextWriterPtr w, const char *name, const char *value)
{
	if (value != NULL) {
		xmlTextWriterWriteElement(w, BAD_CAST name, BAD_CAST value);
	}
}

static void
put_bool(xmlTextWriterPtr w, const char *name, bool value)
{
	put(w, name, value ? "true" : "false");
}

static void
put_int(xmlTextWriterPtr w, const char *name, bool has, long long value)
{
	char num[24];

	if (has) {
		snprintf(num, sizeof(num), "%lld", value);
		put(w, name, num);
	}
}

void
lwm2m__xml_link(xmlTextWriterPtr w, const char *rel, const char *href)
{
	xmlTextWriterStartElement(w, BAD_CAST "Link");
	xmlTextWriterWriteAttribute(w, BAD_CAST "rel", BAD_CAST rel);
	xmlTextWriterWriteAttribute(w, BAD_CAST "href", BAD_CAST href);
	xmlTextWriterEndElement(w);
}

static void
put_links(xmlTextWriterPtr w, const struct lwm2m_objdef *def,
          const struct lwm2m_objdef_links *links)
{
	char href[1024];

	snprintf(href, sizeof(href), "%s/%s", links->base, def->id);
	xmlTextWriterStartElement(w, BAD_CAST "Links");
	lwm2m__xml_link(w, "self", href);
	if (lwm2m_objdef_can_modify(def, links->viewer_org)) {
		lwm2m__xml_link(w, "update", href);
		lwm2m__xml_link(w, "remove", href);
	}
	xmlTextWriterEndElement(w);
}

static void
put_prop(xmlTextWriterPtr w, const struct lwm2m_propdef *p)
{
	xmlTextWriterStartElement(w, BAD_CAST "PropertyDefinition");
	put(w, "PropertyDefinitionID", p->id[0] ? p->id : NULL);
	put_int(w, "PropertyID", true, p->resource_id);
	put(w, "Name", p->name);
	put(w, "Description", p->description);
	put(w, "DataType", lwm2m_objdef_type_name(p->type));
	put_int(w, "DataTypeLength", p->has_length, p->data_type_length);
	put(w, "MIMEType", p->mime_type);
	put(w, "MinValue", p->min_value);
	put(w, "MaxValue", p->max_value);
	put(w, "Units", p->units);
	put_bool(w, "IsCollection", p->is_collection);
	put_bool(w, "IsMandatory", p->is_mandatory);
	put(w, "Access", lwm2m_objdef_access_name(p->access));
	put_int(w, "SortOrder", p->has_sort_order, p->sort_order);
	put(w, "SerialisationName", p->serialisation_name);
	put(w, "CollectionItemSerialisationName", p->item_name);
	xmlTextWriterEndElement(w);
}

static void
put_def(xmlTextWriterPtr w, const struct lwm2m_objdef *def,
        const struct lwm2m_objdef_links *links, bool root)
{
	xmlTextWriterStartElement(w, BAD_CAST "ObjectDefinition");
	if (root) {
		lwm2m__xml_namespaces(w);
	}
	if (links != NULL && links->base != NULL) {
		put_links(w, def, links);
	}
	put(w, "ObjectDefinitionID", def->id[0] ? def->id : NULL);
	put_int(w, "ObjectID", true, def->object_id);
	put(w, "Name", def->name);
	put(w, "MIMEType", def->mime_type);
	put(w, "Description", def->description);
	put(w, "SerialisationName", def->serialisation_name);
	put_bool(w, "Singleton", def->singleton);
	xmlTextWriterStartElement(w, BAD_CAST "Properties");
	for (size_t i = 0; i < def->n_props; i++) {
		put_prop(w, &def->props[i]);
	}
	xmlTextWriterEndElement(w);
	xmlTextWriterEndElement(w);
}

void
lwm2m__xml_namespaces(xmlTextWriterPtr w)
{
	xmlTextWriterWriteAttribute(
	    w, BAD_CAST "xmlns:xsi",
	    BAD_CAST "http://www.w3.org/2001/XMLSchema-instance");
	xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns:xsd",
	                            BAD_CAST
	                            "http://www.w3.org/2001/XMLSchema");
}

lwm2m_err
lwm2m__xml_writer_new(xmlBufferPtr *ret_buf, xmlTextWriterPtr *ret_w)
{
	xmlBufferPtr buf = xmlBufferCreate();
	xmlTextWriterPtr w;

	if (buf == NULL) {
		return LWM2M_ENOMEM;
	}
	w = xmlNewTextWriterMemory(buf, 0);
	if (w == NULL) {
		xmlBufferFree(buf);
		return LWM2M_ENOMEM;
	}
	*ret_buf = buf;
	*ret_w = w;
	return LWM2M_OK;
}

lwm2m_err
lwm2m__xml_writer_finish(xmlBufferPtr buf, xmlTextWriterPtr w, char **ret_buf,
                         size_t *ret_len)
{
	int rc = xmlTextWriterFlush(w);
	char *copy = NULL;
	size_t len;

	xmlFreeTextWriter(w);
	if (rc >= 0) {
		len = (size_t)xmlBufferLength(buf);
		copy = malloc(len + 1);
		if (copy != NULL) {
			memcpy(copy, xmlBufferContent(buf), len);
			copy[len] = '\0';
			*ret_buf = copy;
			*ret_len = len;
		}
	}
	xmlBufferFree(buf);
	if (rc < 0) {
		return LWM2M_EINVAL;
	}
	return copy == NULL ? LWM2M_ENOMEM : LWM2M_OK;
}

lwm2m_err
lwm2m_objdef_xml_render(const struct lwm2m_objdef *def,
                        const struct lwm2m_objdef_links *links, char **ret_buf,
                        size_t *ret_len)
{
	xmlBufferPtr buf;
	xmlTextWriterPtr w;

	if (lwm2m__xml_writer_new(&buf, &w) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	put_def(w, def, links, true);
	return lwm2m__xml_writer_finish(buf, w, ret_buf, ret_len);
}

lwm2m_err
lwm2m_objdef_xml_render_list(const struct lwm2m_objdef_list *list,
                             const struct lwm2m_objdef_links *links,
                             char **ret_buf, size_t *ret_len)
{
	xmlBufferPtr buf;
	xmlTextWriterPtr w;

	if (lwm2m__xml_writer_new(&buf, &w) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	xmlTextWriterStartElement(w, BAD_CAST "ObjectDefinitions");
	lwm2m__xml_namespaces(w);
	xmlTextWriterStartElement(w, BAD_CAST "Items");
	for (size_t i = 0; i < list->n; i++) {
		put_def(w, list->defs[i], links, false);
	}
	xmlTextWriterEndElement(w);
	xmlTextWriterEndElement(w);
	return lwm2m__xml_writer_finish(buf, w, ret_buf, ret_len);
}
