/* lwm2m_objdef_json.c - object definitions in the REST JSON shape (spec 5). */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "lwm2m_loop.h"
#include "lwm2m_objdef.h"
#include "lwm2m_objdef_int.h"

/* How one member is read: kind and where it goes in the struct. */
enum field_kind {
	F_STR,    /* char * (max LWM2M_OBJDEF_MAX_NAME) */
	F_TEXT,   /* char * (max LWM2M_OBJDEF_MAX_TEXT) */
	F_ID,     /* char[LWM2M_ID_SIZE], a valid id or "" */
	F_U16,    /* uint16_t from decimal text or a number, 0..65534 */
	F_BOOL,   /* bool */
	F_TYPE,   /* enum lwm2m_objdef_type */
	F_ACCESS, /* enum lwm2m_objdef_access */
	F_INT,    /* int64_t, with a has_ flag at aux */
};

struct field {
	const char *name;
	enum field_kind kind;
	size_t off;
	size_t aux; /* offset of the has_ flag for F_INT */
};

#define OD(m) offsetof(struct lwm2m_objdef, m)
#define PD(m) offsetof(struct lwm2m_propdef, m)

static const struct field object_fields[] = {
	{"ObjectDefinitionID", F_ID, OD(id), 0},
	{"ObjectID", F_U16, OD(object_id), 0},
	{"Name", F_STR, OD(name), 0},
	{"MIMEType", F_STR, OD(mime_type), 0},
	{"Description", F_TEXT, OD(description), 0},
	{"SerialisationName", F_STR, OD(serialisation_name), 0},
	{"Singleton", F_BOOL, OD(singleton), 0},
};

static const struct field prop_fields[] = {
	{"PropertyDefinitionID", F_ID, PD(id), 0},
	{"PropertyID", F_U16, PD(resource_id), 0},
	{"Name", F_STR, PD(name), 0},
	{"Description", F_TEXT, PD(description), 0},
	{"DataType", F_TYPE, PD(type), 0},
	{"DataTypeLength", F_INT, PD(data_type_length), PD(has_length)},
	{"MIMEType", F_STR, PD(mime_type), 0},
	{"MinValue", F_STR, PD(min_value), 0},
	{"MaxValue", F_STR, PD(max_value), 0},
	{"Units", F_STR, PD(units), 0},
	{"IsCollection", F_BOOL, PD(is_collection), 0},
	{"IsMandatory", F_BOOL, PD(is_mandatory), 0},
	{"Access", F_ACCESS, PD(access), 0},
	{"SortOrder", F_INT, PD(sort_order), PD(has_sort_order)},
	{"SerialisationName", F_STR, PD(serialisation_name), 0},
	{"CollectionItemSerialisationName", F_STR, PD(item_name), 0},
};

#define N_OBJECT_FIELDS (sizeof(object_fields) / sizeof(object_fields[0]))
#define N_PROP_FIELDS (sizeof(prop_fields) / sizeof(prop_fields[0]))

static bool
depth_ok(const char *buf, size_t len, unsigned max)
{
	unsigned depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (in_str) {
			if (c == '\\') {
				i++;
			} else if (c == '"') {
				in_str = false;
			}
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max) {
				return false;
			}
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return true;
}

lwm2m_err
lwm2m__json_parse(const char *buf, size_t len, size_t max, yajl_val *ret_tree,
                  struct lwm2m_diag *diag)
{
	char errbuf[128];
	char *copy;
	yajl_val tree;

	if (len > max) {
		return lwm2m__diag(diag, LWM2M_ELIMIT,
		                   "body of %zu bytes exceeds the limit of %zu",
		                   len, max);
	}
	if (!depth_ok(buf, len, LWM2M_OBJDEF_MAX_DEPTH)) {
		return lwm2m__diag(diag, LWM2M_ELIMIT,
		                   "JSON nested deeper than %d levels",
		                   LWM2M_OBJDEF_MAX_DEPTH);
	}
	copy = malloc(len + 1);
	if (copy == NULL) {
		return LWM2M_ENOMEM;
	}
	memcpy(copy, buf, len);
	copy[len] = '\0';
	errbuf[0] = '\0';
	tree = yajl_tree_parse(copy, errbuf, sizeof(errbuf));
	free(copy);
	if (tree == NULL) {
		errbuf[strcspn(errbuf, "\r\n")] = '\0';
		return lwm2m__diag(diag, LWM2M_EPROTO, "malformed JSON: %s",
		                   errbuf[0] != '\0' ? errbuf : "parse error");
	}
	*ret_tree = tree;
	return LWM2M_OK;
}

yajl_val
lwm2m__json_get(yajl_val obj, const char *name)
{
	if (!YAJL_IS_OBJECT(obj)) {
		return NULL;
	}
	for (size_t i = 0; i < obj->u.object.len; i++) {
		const char *key = obj->u.object.keys[i];

		if (strcasecmp(key, name) == 0) {
			yajl_val v = obj->u.object.values[i];
			return YAJL_IS_NULL(v) ? NULL : v;
		}
	}
	return NULL;
}

/* scalar_text returns the text of a string or number, else NULL. */
static const char *
scalar_text(yajl_val v)
{
	if (YAJL_IS_STRING(v)) {
		return YAJL_GET_STRING(v);
	}
	if (YAJL_IS_NUMBER(v)) {
		return YAJL_GET_NUMBER(v);
	}
	return NULL;
}

static lwm2m_err
read_u16(yajl_val v, uint16_t *out)
{
	const char *t = scalar_text(v);
	char *end;
	unsigned long n;

	if (t == NULL || *t < '0' || *t > '9') {
		return LWM2M_EPROTO;
	}
	n = strtoul(t, &end, 10);
	if (*end != '\0' || n > 65534) {
		return LWM2M_EPROTO;
	}
	*out = (uint16_t)n;
	return LWM2M_OK;
}

static lwm2m_err
read_field(const struct field *f, yajl_val v, char *base)
{
	const char *t = scalar_text(v);
	void *dst = base + f->off;

	switch (f->kind) {
	case F_STR:
	case F_TEXT:
		if (t == NULL) {
			return LWM2M_EPROTO;
		}
		return lwm2m_objdef_set_str(dst, t, strlen(t),
		                            f->kind == F_STR
		                                ? LWM2M_OBJDEF_MAX_NAME
		                                : LWM2M_OBJDEF_MAX_TEXT);
	case F_ID:
		if (!YAJL_IS_STRING(v) ||
		    (t[0] != '\0' && !lwm2m_id_valid(t, strlen(t)))) {
			return LWM2M_EPROTO;
		}
		snprintf(dst, LWM2M_ID_SIZE, "%s", t);
		return LWM2M_OK;
	case F_U16:
		return read_u16(v, dst);
	case F_BOOL:
		if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v)) {
			return LWM2M_EPROTO;
		}
		*(bool *)dst = YAJL_IS_TRUE(v);
		return LWM2M_OK;
	case F_TYPE:
		return t != NULL && lwm2m_objdef_type_parse(t, strlen(t), dst)
		           ? LWM2M_OK
		           : LWM2M_EPROTO;
	case F_ACCESS:
		return t != NULL && lwm2m_objdef_access_parse(t, strlen(t), dst)
		           ? LWM2M_OK
		           : LWM2M_EPROTO;
	case F_INT:
		if (!YAJL_IS_INTEGER(v)) {
			return LWM2M_EPROTO;
		}
		*(int64_t *)dst = YAJL_GET_INTEGER(v);
		*(bool *)(base + f->aux) = true;
		return LWM2M_OK;
	}
	return LWM2M_EPROTO;
}

static const char *
kind_expect(enum field_kind kind)
{
	switch (kind) {
	case F_STR:
	case F_TEXT:
		return "a string";
	case F_ID:
		return "a 22-character id";
	case F_U16:
		return "a decimal id 0..65534";
	case F_BOOL:
		return "true or false";
	case F_TYPE:
		return "one of NotSet, String, Boolean, Integer, Float, "
		       "DateTime, Opaque, Object, ObjLink";
	case F_ACCESS:
		return "one of NoAccess, Read, Write, ReadWrite, Execute";
	case F_INT:
		return "an integer";
	}
	return "?";
}

static lwm2m_err
read_fields(const struct field *fields, size_t n, yajl_val obj, void *base,
            const char *where, struct lwm2m_diag *diag)
{
	for (size_t i = 0; i < n; i++) {
		yajl_val v = lwm2m__json_get(obj, fields[i].name);
		lwm2m_err err;

		if (v == NULL) {
			continue;
		}
		err = read_field(&fields[i], v, base);
		if (err == LWM2M_ENOMEM) {
			return err;
		}
		if (err == LWM2M_ELIMIT) {
			return lwm2m__diag(diag, err, "%s%s: too long", where,
			                   fields[i].name);
		}
		if (err != LWM2M_OK) {
			return lwm2m__diag(
			    diag, LWM2M_EPROTO, "%s%s: expected %s", where,
			    fields[i].name, kind_expect(fields[i].kind));
		}
	}
	return LWM2M_OK;
}

/* text_field reads one field from its XML text form. */
static lwm2m_err
text_field(const struct field *f, const char *t, char *base)
{
	void *dst = base + f->off;
	char *end;

	if (t[0] == '\0' && f->kind != F_STR && f->kind != F_TEXT) {
		return LWM2M_OK; /* an empty element: unset */
	}
	switch (f->kind) {
	case F_STR:
	case F_TEXT:
		return lwm2m_objdef_set_str(dst, t, strlen(t),
		                            f->kind == F_STR
		                                ? LWM2M_OBJDEF_MAX_NAME
		                                : LWM2M_OBJDEF_MAX_TEXT);
	case F_ID:
		if (!lwm2m_id_valid(t, strlen(t))) {
			return LWM2M_EPROTO;
		}
		snprintf(dst, LWM2M_ID_SIZE, "%s", t);
		return LWM2M_OK;
	case F_U16: {
		unsigned long n;

		if (*t < '0' || *t > '9') {
			return LWM2M_EPROTO;
		}
		n = strtoul(t, &end, 10);
		if (*end != '\0' || n > 65534) {
			return LWM2M_EPROTO;
		}
		*(uint16_t *)dst = (uint16_t)n;
		return LWM2M_OK;
	}
	case F_BOOL:
		if (strcasecmp(t, "true") != 0 && strcasecmp(t, "false") != 0) {
			return LWM2M_EPROTO;
		}
		*(bool *)dst = strcasecmp(t, "true") == 0;
		return LWM2M_OK;
	case F_TYPE:
		return lwm2m_objdef_type_parse(t, strlen(t), dst)
		           ? LWM2M_OK
		           : LWM2M_EPROTO;
	case F_ACCESS:
		return lwm2m_objdef_access_parse(t, strlen(t), dst)
		           ? LWM2M_OK
		           : LWM2M_EPROTO;
	case F_INT: {
		long long n;

		if (lwm2m_parse_int(t, INT64_MIN, INT64_MAX, &n) != LWM2M_OK) {
			return LWM2M_EPROTO;
		}
		*(int64_t *)dst = n;
		*(bool *)(base + f->aux) = true;
		return LWM2M_OK;
	}
	}
	return LWM2M_EPROTO;
}

lwm2m_err
lwm2m__objdef_field_text(bool prop, const char *name, size_t name_len,
                         const char *text, void *base, const char *where,
                         struct lwm2m_diag *diag)
{
	const struct field *fields = prop ? prop_fields : object_fields;
	size_t n = prop ? N_PROP_FIELDS : N_OBJECT_FIELDS;

	for (size_t i = 0; i < n; i++) {
		lwm2m_err err;

		if (!lwm2m__strncaseeq(name, name_len, fields[i].name)) {
			continue;
		}
		err = text_field(&fields[i], text, base);
		if (err == LWM2M_OK || err == LWM2M_ENOMEM) {
			return err;
		}
		if (err == LWM2M_ELIMIT) {
			return lwm2m__diag(diag, err, "%s%s: too long", where,
			                   fields[i].name);
		}
		return lwm2m__diag(diag, LWM2M_EPROTO, "%s%s: expected %s",
		                   where, fields[i].name,
		                   kind_expect(fields[i].kind));
	}
	return LWM2M_OK; /* unknown elements are ignored */
}

static lwm2m_err
read_props(struct lwm2m_objdef *def, yajl_val arr, const char *where,
           struct lwm2m_diag *diag)
{
	char at[64];

	if (!YAJL_IS_ARRAY(arr)) {
		return lwm2m__diag(diag, LWM2M_EPROTO,
		                   "%sProperties: expected an array", where);
	}
	for (size_t i = 0; i < arr->u.array.len; i++) {
		yajl_val pv = arr->u.array.values[i];
		struct lwm2m_propdef *p;
		lwm2m_err err;

		snprintf(at, sizeof(at), "%sProperties[%zu].", where, i);
		if (!YAJL_IS_OBJECT(pv)) {
			return lwm2m__diag(diag, LWM2M_EPROTO,
			                   "%s: expected an object", at);
		}
		if (lwm2m__json_get(pv, "PropertyID") == NULL) {
			return lwm2m__diag(diag, LWM2M_EPROTO,
			                   "%sPropertyID: missing", at);
		}
		err = lwm2m_objdef_add_prop(def, &p);
		if (err != LWM2M_OK) {
			return lwm2m__diag(diag, err,
			                   "%s: more than %d properties", where,
			                   LWM2M_OBJDEF_MAX_PROPS);
		}
		err = read_fields(prop_fields, N_PROP_FIELDS, pv, p, at, diag);
		if (err != LWM2M_OK) {
			return err;
		}
	}
	return LWM2M_OK;
}

static lwm2m_err
read_def(yajl_val obj, const char *where, struct lwm2m_objdef **ret_def,
         struct lwm2m_diag *diag)
{
	struct lwm2m_objdef *def;
	yajl_val props;
	lwm2m_err err;

	if (!YAJL_IS_OBJECT(obj)) {
		return lwm2m__diag(diag, LWM2M_EPROTO, "%sexpected an object",
		                   where);
	}
	if (lwm2m__json_get(obj, "ObjectID") == NULL) {
		return lwm2m__diag(diag, LWM2M_EPROTO, "%sObjectID: missing",
		                   where);
	}
	if (lwm2m_objdef_new(&def) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	err =
	    read_fields(object_fields, N_OBJECT_FIELDS, obj, def, where, diag);
	props = lwm2m__json_get(obj, "Properties");
	if (err == LWM2M_OK && props != NULL) {
		err = read_props(def, props, where, diag);
	}
	if (err != LWM2M_OK) {
		lwm2m_objdef_free(def);
		return err;
	}
	*ret_def = def;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_objdef_json_parse(const char *buf, size_t len,
                        struct lwm2m_objdef **ret_def, struct lwm2m_diag *diag)
{
	yajl_val tree;
	lwm2m_err err;

	err = lwm2m__json_parse(buf, len, LWM2M_OBJDEF_MAX_INPUT, &tree, diag);
	if (err != LWM2M_OK) {
		return err;
	}
	err = read_def(tree, "", ret_def, diag);
	yajl_tree_free(tree);
	return err;
}

lwm2m_err
lwm2m_objdef_json_parse_list(const char *buf, size_t len,
                             struct lwm2m_objdef_list *list,
                             struct lwm2m_diag *diag)
{
	yajl_val tree, items;
	lwm2m_err err;
	char at[32];

	err = lwm2m__json_parse(buf, len, LWM2M_OBJDEF_MAX_INPUT, &tree, diag);
	if (err != LWM2M_OK) {
		return err;
	}
	items = YAJL_IS_ARRAY(tree) ? tree : lwm2m__json_get(tree, "Items");
	if (!YAJL_IS_ARRAY(items)) {
		yajl_tree_free(tree);
		return lwm2m__diag(diag, LWM2M_EPROTO,
		                   "Items: missing or not an array");
	}
	for (size_t i = 0; err == LWM2M_OK && i < items->u.array.len; i++) {
		struct lwm2m_objdef *def;

		snprintf(at, sizeof(at), "Items[%zu].", i);
		err = read_def(items->u.array.values[i], at, &def, diag);
		if (err == LWM2M_OK) {
			err = lwm2m_objdef_list_add(list, def);
		}
		if (err == LWM2M_ELIMIT) {
			lwm2m__diag(diag, err, "more than %d definitions",
			            LWM2M_OBJDEF_MAX_DEFS);
		}
	}
	yajl_tree_free(tree);
	return err;
}

/* ---- rendering ---------------------------------------------------------- */

static void
gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void
gen_member(yajl_gen g, const char *key, const char *value)
{
	if (value != NULL) {
		gen_str(g, key);
		gen_str(g, value);
	}
}

static void
gen_bool(yajl_gen g, const char *key, bool value)
{
	gen_str(g, key);
	yajl_gen_bool(g, value);
}

static void
gen_int(yajl_gen g, const char *key, bool has, int64_t value)
{
	if (has) {
		gen_str(g, key);
		yajl_gen_integer(g, value);
	}
}

static void
gen_u16(yajl_gen g, const char *key, uint16_t value)
{
	char num[8];

	snprintf(num, sizeof(num), "%u", (unsigned)value);
	gen_member(g, key, num);
}

static void
gen_link(yajl_gen g, const char *rel, const char *href)
{
	yajl_gen_map_open(g);
	gen_member(g, "rel", rel);
	gen_member(g, "href", href);
	yajl_gen_map_close(g);
}

static void
gen_links(yajl_gen g, const struct lwm2m_objdef *def,
          const struct lwm2m_objdef_links *links)
{
	char href[1024];

	snprintf(href, sizeof(href), "%s/%s", links->base, def->id);
	gen_str(g, "Links");
	yajl_gen_array_open(g);
	gen_link(g, "self", href);
	if (lwm2m_objdef_can_modify(def, links->viewer_org)) {
		gen_link(g, "update", href);
		gen_link(g, "remove", href);
	}
	yajl_gen_array_close(g);
}

static void
gen_prop(yajl_gen g, const struct lwm2m_propdef *p)
{
	yajl_gen_map_open(g);
	gen_member(g, "PropertyDefinitionID", p->id[0] ? p->id : NULL);
	gen_u16(g, "PropertyID", p->resource_id);
	gen_member(g, "Name", p->name);
	gen_member(g, "Description", p->description);
	gen_member(g, "DataType", lwm2m_objdef_type_name(p->type));
	gen_int(g, "DataTypeLength", p->has_length, p->data_type_length);
	gen_member(g, "MIMEType", p->mime_type);
	gen_member(g, "MinValue", p->min_value);
	gen_member(g, "MaxValue", p->max_value);
	gen_member(g, "Units", p->units);
	gen_bool(g, "IsCollection", p->is_collection);
	gen_bool(g, "IsMandatory", p->is_mandatory);
	gen_member(g, "Access", lwm2m_objdef_access_name(p->access));
	gen_int(g, "SortOrder", p->has_sort_order, p->sort_order);
	gen_member(g, "SerialisationName", p->serialisation_name);
	gen_member(g, "CollectionItemSerialisationName", p->item_name);
	yajl_gen_map_close(g);
}

lwm2m_err
lwm2m_objdef_json_gen(yajl_gen g, const struct lwm2m_objdef *def,
                      const struct lwm2m_objdef_links *links)
{
	yajl_gen_map_open(g);
	gen_member(g, "ObjectDefinitionID", def->id[0] ? def->id : NULL);
	gen_u16(g, "ObjectID", def->object_id);
	gen_member(g, "Name", def->name);
	gen_member(g, "MIMEType", def->mime_type);
	gen_member(g, "Description", def->description);
	gen_member(g, "SerialisationName", def->serialisation_name);
	gen_bool(g, "Singleton", def->singleton);
	gen_str(g, "Properties");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < def->n_props; i++) {
		gen_prop(g, &def->props[i]);
	}
	yajl_gen_array_close(g);
	if (links != NULL && links->base != NULL) {
		gen_links(g, def, links);
	}
	return yajl_gen_map_close(g) == yajl_gen_status_ok ? LWM2M_OK
	                                                   : LWM2M_EINVAL;
}

static lwm2m_err
gen_finish(yajl_gen g, lwm2m_err err, char **ret_buf, size_t *ret_len)
{
	const unsigned char *out;
	size_t len;
	char *copy = NULL;

	if (err == LWM2M_OK &&
	    yajl_gen_get_buf(g, &out, &len) == yajl_gen_status_ok) {
		copy = malloc(len + 1);
		if (copy == NULL) {
			err = LWM2M_ENOMEM;
		} else {
			memcpy(copy, out, len);
			copy[len] = '\0';
			*ret_buf = copy;
			*ret_len = len;
		}
	} else if (err == LWM2M_OK) {
		err = LWM2M_EINVAL;
	}
	yajl_gen_free(g);
	return err;
}

static yajl_gen
gen_new(bool pretty)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (g != NULL && pretty) {
		yajl_gen_config(g, yajl_gen_beautify, 1);
		yajl_gen_config(g, yajl_gen_indent_string, "  ");
	}
	return g;
}

lwm2m_err
lwm2m_objdef_json_render(const struct lwm2m_objdef *def,
                         const struct lwm2m_objdef_links *links, bool pretty,
                         char **ret_buf, size_t *ret_len)
{
	yajl_gen g = gen_new(pretty);

	if (g == NULL) {
		return LWM2M_ENOMEM;
	}
	return gen_finish(g, lwm2m_objdef_json_gen(g, def, links), ret_buf,
	                  ret_len);
}

lwm2m_err
lwm2m_objdef_json_render_list(const struct lwm2m_objdef_list *list,
                              const struct lwm2m_objdef_links *links,
                              bool pretty, char **ret_buf, size_t *ret_len)
{
	yajl_gen g = gen_new(pretty);
	lwm2m_err err = LWM2M_OK;

	if (g == NULL) {
		return LWM2M_ENOMEM;
	}
	yajl_gen_map_open(g);
	gen_str(g, "Items");
	yajl_gen_array_open(g);
	for (size_t i = 0; err == LWM2M_OK && i < list->n; i++) {
		err = lwm2m_objdef_json_gen(g, list->defs[i], links);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	return gen_finish(g, err, ret_buf, ret_len);
}
