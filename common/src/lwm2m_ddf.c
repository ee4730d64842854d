/* lwm2m_ddf.c - import of OMA LwM2M registry DDF files into definitions. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "lwm2m_loop.h"
#include "lwm2m_objdef.h"
#include "lwm2m_objdef_int.h"

struct ddf_type {
	const char *ddf;
	enum lwm2m_objdef_type type;
};

static const struct ddf_type ddf_types[] = {
	{"", LWM2M_OBJDEF_NOTSET},
	{"String", LWM2M_OBJDEF_STRING},
	{"Integer", LWM2M_OBJDEF_INTEGER},
	{"Unsigned Integer", LWM2M_OBJDEF_INTEGER},
	{"Float", LWM2M_OBJDEF_FLOAT},
	{"Boolean", LWM2M_OBJDEF_BOOLEAN},
	{"Opaque", LWM2M_OBJDEF_OPAQUE},
	{"Time", LWM2M_OBJDEF_DATETIME},
	{"Objlnk", LWM2M_OBJDEF_OBJLNK},
	{"Corelnk", LWM2M_OBJDEF_STRING},
	{"none", LWM2M_OBJDEF_NOTSET},
};

struct ddf_access {
	const char *ddf;
	enum lwm2m_objdef_access access;
};

static const struct ddf_access ddf_ops[] = {
	{"", LWM2M_OBJDEF_NOACCESS}, {"R", LWM2M_OBJDEF_READ},
	{"W", LWM2M_OBJDEF_WRITE},   {"RW", LWM2M_OBJDEF_READWRITE},
	{"E", LWM2M_OBJDEF_EXECUTE},
};

/* trimmed returns the malloc()ed text of node without surrounding white
 * space; NULL on ENOMEM. */
static char *
trimmed(const xmlNode *node)
{
	char *s = lwm2m__xml_text(node);
	size_t start = 0, len;

	if (s == NULL) {
		return NULL;
	}
	len = strlen(s);
	while (start < len && isspace((unsigned char)s[start])) {
		start++;
	}
	while (len > start && isspace((unsigned char)s[len - 1])) {
		len--;
	}
	memmove(s, s + start, len - start);
	s[len - start] = '\0';
	return s;
}

/* set_text stores the trimmed text of node into *field when non-empty. */
static lwm2m_err
set_text(char **field, const xmlNode *node, size_t max)
{
	char *s = trimmed(node);
	lwm2m_err err = LWM2M_OK;

	if (s == NULL) {
		return LWM2M_ENOMEM;
	}
	if (s[0] != '\0') {
		err = lwm2m_objdef_set_str(field, s, strlen(s), max);
	}
	free(s);
	return err;
}

/* number_at accepts an optional sign, digits and an optional fraction. */
static size_t
number_at(const char *s)
{
	size_t i = 0, digits = 0;

	if (s[i] == '-' || s[i] == '+') {
		i++;
	}
	while (isdigit((unsigned char)s[i]) ||
	       (s[i] == '.' && s[i + 1] != '.' && digits > 0)) {
		digits += isdigit((unsigned char)s[i]) != 0;
		i++;
	}
	return digits > 0 ? i : 0;
}

/* set_range reads "a..b" or "a-b" (trailing words such as "bytes" allowed)
 * into MinValue/MaxValue; other forms (enumerations) are left out. */
static lwm2m_err
set_range(struct lwm2m_propdef *p, const xmlNode *node)
{
	char *s = trimmed(node);
	size_t a, sep, b;
	lwm2m_err err = LWM2M_OK;

	if (s == NULL) {
		return LWM2M_ENOMEM;
	}
	a = number_at(s);
	sep = strncmp(s + a, "..", 2) == 0 ? 2 : (s[a] == '-' ? 1 : 0);
	b = a > 0 && sep > 0 ? number_at(s + a + sep) : 0;
	if (b > 0 && (s[a + sep + b] == '\0' || s[a + sep + b] == ' ')) {
		err = lwm2m_objdef_set_str(&p->min_value, s, a,
		                           LWM2M_OBJDEF_MAX_NAME);
		if (err == LWM2M_OK) {
			err = lwm2m_objdef_set_str(&p->max_value, s + a + sep,
			                           b, LWM2M_OBJDEF_MAX_NAME);
		}
	}
	free(s);
	return err;
}

static lwm2m_err
set_enum(const xmlNode *node, bool is_type, struct lwm2m_propdef *p,
         struct lwm2m_diag *diag)
{
	char *s = trimmed(node);
	bool found = false;

	if (s == NULL) {
		return LWM2M_ENOMEM;
	}
	for (size_t i = 0;
	     is_type && !found && i < sizeof(ddf_types) / sizeof(ddf_types[0]);
	     i++) {
		if (strcasecmp(s, ddf_types[i].ddf) == 0) {
			p->type = ddf_types[i].type;
			found = true;
		}
	}
	for (size_t i = 0;
	     !is_type && !found && i < sizeof(ddf_ops) / sizeof(ddf_ops[0]);
	     i++) {
		if (strcasecmp(s, ddf_ops[i].ddf) == 0) {
			p->access = ddf_ops[i].access;
			found = true;
		}
	}
	if (!found) {
		lwm2m__diag(diag, LWM2M_EPROTO,
		            "Item ID=%u: unknown %s \"%.40s\"",
		            (unsigned)p->resource_id,
		            is_type ? "Type" : "Operations", s);
	}
	free(s);
	return found ? LWM2M_OK : LWM2M_EPROTO;
}

/* flag is true when node's text equals yes (case-insensitive). */
static bool
flag(const xmlNode *node, const char *yes)
{
	char *s = trimmed(node);
	bool r = s != NULL && strcasecmp(s, yes) == 0;

	free(s);
	return r;
}

static lwm2m_err
item_field(struct lwm2m_propdef *p, const xmlNode *c, struct lwm2m_diag *diag)
{
	if (lwm2m__xml_is(c, "Name")) {
		return set_text(&p->name, c, LWM2M_OBJDEF_MAX_NAME);
	}
	if (lwm2m__xml_is(c, "Operations")) {
		return set_enum(c, false, p, diag);
	}
	if (lwm2m__xml_is(c, "Type")) {
		return set_enum(c, true, p, diag);
	}
	if (lwm2m__xml_is(c, "MultipleInstances")) {
		p->is_collection = flag(c, "Multiple");
	} else if (lwm2m__xml_is(c, "Mandatory")) {
		p->is_mandatory = flag(c, "Mandatory");
	} else if (lwm2m__xml_is(c, "RangeEnumeration")) {
		return set_range(p, c);
	} else if (lwm2m__xml_is(c, "Units")) {
		return set_text(&p->units, c, LWM2M_OBJDEF_MAX_NAME);
	} else if (lwm2m__xml_is(c, "Description")) {
		return set_text(&p->description, c, LWM2M_OBJDEF_MAX_TEXT);
	}
	return LWM2M_OK;
}

static lwm2m_err
read_item(struct lwm2m_objdef *def, const xmlNode *item,
          struct lwm2m_diag *diag)
{
	struct lwm2m_propdef *p;
	xmlChar *id = xmlGetProp(item, BAD_CAST "ID");
	long long rid = -1;
	lwm2m_err err;

	if (id != NULL) {
		(void)lwm2m_parse_int((const char *)id, 0, 65534, &rid);
		xmlFree(id);
	}
	if (rid < 0) {
		return lwm2m__diag(
		    diag, LWM2M_EPROTO,
		    "Item without a valid ID attribute (0..65534)");
	}
	err = lwm2m_objdef_add_prop(def, &p);
	if (err != LWM2M_OK) {
		return lwm2m__diag(diag, err, "more than %d resources",
		                   LWM2M_OBJDEF_MAX_PROPS);
	}
	p->resource_id = (uint16_t)rid;
	for (const xmlNode *c = item->children; c != NULL; c = c->next) {
		err = item_field(p, c, diag);
		if (err == LWM2M_ELIMIT) {
			return lwm2m__diag(diag, err,
			                   "Item ID=%lld: %s too long", rid,
			                   (const char *)c->name);
		}
		if (err != LWM2M_OK) {
			return err;
		}
	}
	return LWM2M_OK;
}

static lwm2m_err
object_field(struct lwm2m_objdef *def, const xmlNode *c,
             struct lwm2m_diag *diag)
{
	if (lwm2m__xml_is(c, "Name")) {
		return set_text(&def->name, c, LWM2M_OBJDEF_MAX_NAME);
	}
	if (lwm2m__xml_is(c, "Description1")) {
		return set_text(&def->description, c, LWM2M_OBJDEF_MAX_TEXT);
	}
	if (lwm2m__xml_is(c, "MultipleInstances")) {
		def->singleton = flag(c, "Single");
		return LWM2M_OK;
	}
	if (lwm2m__xml_is(c, "Resources")) {
		for (const xmlNode *i = c->children; i != NULL; i = i->next) {
			lwm2m_err err = LWM2M_OK;

			if (lwm2m__xml_is(i, "Item")) {
				err = read_item(def, i, diag);
			}
			if (err != LWM2M_OK) {
				return err;
			}
		}
	}
	return LWM2M_OK;
}

static lwm2m_err
read_object_id(struct lwm2m_objdef *def, const xmlNode *obj,
               struct lwm2m_diag *diag)
{
	for (const xmlNode *c = obj->children; c != NULL; c = c->next) {
		char *s;
		long long oid;
		lwm2m_err err;

		if (!lwm2m__xml_is(c, "ObjectID")) {
			continue;
		}
		s = trimmed(c);
		if (s == NULL) {
			return LWM2M_ENOMEM;
		}
		err = lwm2m_parse_int(s, 0, 65534, &oid);
		free(s);
		if (err != LWM2M_OK) {
			break;
		}
		def->object_id = (uint16_t)oid;
		return LWM2M_OK;
	}
	return lwm2m__diag(diag, LWM2M_EPROTO,
	                   "Object without a valid ObjectID (0..65534)");
}

static lwm2m_err
read_object(const xmlNode *obj, struct lwm2m_objdef_list *list,
            struct lwm2m_diag *diag)
{
	struct lwm2m_objdef *def;
	lwm2m_err err;
	char msg[sizeof(diag->msg)];

	if (lwm2m_objdef_new(&def) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	err = read_object_id(def, obj, diag);
	for (const xmlNode *c = obj->children; err == LWM2M_OK && c != NULL;
	     c = c->next) {
		err = object_field(def, c, diag);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_objdef_complete(def, diag);
	}
	if (err != LWM2M_OK) {
		if (diag != NULL && def->object_id != 0) {
			snprintf(msg, sizeof(msg), "%s", diag->msg);
			lwm2m__diag(diag, err, "object %u: %s",
			            (unsigned)def->object_id, msg);
		}
		lwm2m_objdef_free(def);
		return err;
	}
	return lwm2m_objdef_list_add(list, def);
}

lwm2m_err
lwm2m_ddf_parse(const char *buf, size_t len, struct lwm2m_objdef_list *list,
                struct lwm2m_diag *diag)
{
	xmlDocPtr doc;
	xmlNode *root;
	lwm2m_err err;
	size_t found = 0;

	err = lwm2m__xml_read(buf, len, &doc, diag);
	if (err != LWM2M_OK) {
		return err;
	}
	root = xmlDocGetRootElement(doc);
	if (!lwm2m__xml_is(root, "LWM2M")) {
		xmlFreeDoc(doc);
		return lwm2m__diag(
		    diag, LWM2M_EPROTO,
		    "not a DDF: the root element is not <LWM2M>");
	}
	for (xmlNode *c = root->children; err == LWM2M_OK && c != NULL;
	     c = c->next) {
		if (lwm2m__xml_is(c, "Object")) {
			err = read_object(c, list, diag);
			found++;
		}
	}
	xmlFreeDoc(doc);
	if (err == LWM2M_OK && found == 0) {
		err = lwm2m__diag(diag, LWM2M_EPROTO, "DDF without <Object>");
	}
	return err;
}

lwm2m_err
lwm2m_ddf_load_file(const char *path, struct lwm2m_objdef_list *list,
                    struct lwm2m_diag *diag)
{
	char *buf;
	size_t len;
	lwm2m_err err;

	err = lwm2m__read_file(path, LWM2M_OBJDEF_MAX_INPUT, &buf, &len);
	if (err != LWM2M_OK) {
		return lwm2m__diag(diag, err, "%s: %s", path,
		                   err == LWM2M_EIO ? strerror(errno)
		                                    : lwm2m_strerror(err));
	}
	err = lwm2m_ddf_parse(buf, len, list, diag);
	free(buf);
	return err;
}
