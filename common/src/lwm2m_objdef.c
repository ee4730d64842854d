/* lwm2m_objdef.c - the object definition model (REST spec 5.1). */
#include "lwm2m_objdef.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_objdef_int.h"

static const char *const type_names[] = {
	[LWM2M_OBJDEF_NOTSET] = "NotSet",   [LWM2M_OBJDEF_STRING] = "String",
	[LWM2M_OBJDEF_BOOLEAN] = "Boolean", [LWM2M_OBJDEF_INTEGER] = "Integer",
	[LWM2M_OBJDEF_FLOAT] = "Float",     [LWM2M_OBJDEF_DATETIME] = "DateTime",
	[LWM2M_OBJDEF_OPAQUE] = "Opaque",   [LWM2M_OBJDEF_OBJECT] = "Object",
	[LWM2M_OBJDEF_OBJLNK] = "ObjLink",
};

static const char *const access_names[] = {
	[LWM2M_OBJDEF_NOACCESS] = "NoAccess",
	[LWM2M_OBJDEF_READ] = "Read",
	[LWM2M_OBJDEF_WRITE] = "Write",
	[LWM2M_OBJDEF_READWRITE] = "ReadWrite",
	[LWM2M_OBJDEF_EXECUTE] = "Execute",
};

#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))
#define N_ACCESS (sizeof(access_names) / sizeof(access_names[0]))

lwm2m_err
lwm2m__diag(struct lwm2m_diag *diag, lwm2m_err err, const char *fmt, ...)
{
	va_list ap;

	if (diag != NULL) {
		va_start(ap, fmt);
		vsnprintf(diag->msg, sizeof(diag->msg), fmt, ap);
		va_end(ap);
	}
	return err;
}

bool
lwm2m__strncaseeq(const char *a, size_t len, const char *b)
{
	return strlen(b) == len && strncasecmp(a, b, len) == 0;
}

lwm2m_err
lwm2m__read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	bool failed;

	if (f == NULL) {
		return LWM2M_EIO;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		return LWM2M_ENOMEM;
	}
	n = fread(buf, 1, max + 1, f);
	failed = ferror(f) != 0;
	fclose(f);
	if (failed || n > max) {
		free(buf);
		return failed ? LWM2M_EIO : LWM2M_ELIMIT;
	}
	buf[n] = '\0';
	*ret_buf = buf;
	*ret_len = n;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_objdef_new(struct lwm2m_objdef **ret_def)
{
	struct lwm2m_objdef *def = calloc(1, sizeof(*def));

	if (def == NULL) {
		return LWM2M_ENOMEM;
	}
	def->org = LWM2M_OBJDEF_GLOBAL;
	*ret_def = def;
	return LWM2M_OK;
}

static void
prop_fini(struct lwm2m_propdef *p)
{
	free(p->name);
	free(p->description);
	free(p->mime_type);
	free(p->min_value);
	free(p->max_value);
	free(p->units);
	free(p->serialisation_name);
	free(p->item_name);
}

struct lwm2m_objdef *
lwm2m_objdef_free(struct lwm2m_objdef *def)
{
	if (def == NULL) {
		return NULL;
	}
	if (def->holds > 0) {
		def->holds--;
		return NULL;
	}
	for (size_t i = 0; i < def->n_props; i++) {
		prop_fini(&def->props[i]);
	}
	free(def->props);
	free(def->name);
	free(def->mime_type);
	free(def->description);
	free(def->serialisation_name);
	free(def);
	return NULL;
}

lwm2m_err
lwm2m_objdef_set_str(char **field, const char *text, size_t len, size_t max)
{
	char *copy;

	if (text == NULL) {
		free(*field);
		*field = NULL;
		return LWM2M_OK;
	}
	if (len > max) {
		return LWM2M_ELIMIT;
	}
	if (memchr(text, '\0', len) != NULL) {
		return LWM2M_EPROTO;
	}
	copy = malloc(len + 1);
	if (copy == NULL) {
		return LWM2M_ENOMEM;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	free(*field);
	*field = copy;
	return LWM2M_OK;
}

static lwm2m_err
dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL) {
		return LWM2M_OK;
	}
	*dst = strdup(src);
	return *dst == NULL ? LWM2M_ENOMEM : LWM2M_OK;
}

static lwm2m_err
prop_copy(struct lwm2m_propdef *dst, const struct lwm2m_propdef *src)
{
	bool ok;

	*dst = *src;
	/* every field is copied (or NULL) so prop_fini can free them all */
	ok = dup_str(&dst->name, src->name) == LWM2M_OK;
	ok &= dup_str(&dst->description, src->description) == LWM2M_OK;
	ok &= dup_str(&dst->mime_type, src->mime_type) == LWM2M_OK;
	ok &= dup_str(&dst->min_value, src->min_value) == LWM2M_OK;
	ok &= dup_str(&dst->max_value, src->max_value) == LWM2M_OK;
	ok &= dup_str(&dst->units, src->units) == LWM2M_OK;
	ok &= dup_str(&dst->serialisation_name, src->serialisation_name) ==
	      LWM2M_OK;
	ok &= dup_str(&dst->item_name, src->item_name) == LWM2M_OK;
	return ok ? LWM2M_OK : LWM2M_ENOMEM;
}

struct lwm2m_objdef *
lwm2m_objdef_hold(const struct lwm2m_objdef *def)
{
	struct lwm2m_objdef *d = (struct lwm2m_objdef *)def;

	d->holds++;
	return d;
}

lwm2m_err
lwm2m_objdef_dup(const struct lwm2m_objdef *src, struct lwm2m_objdef **ret_def)
{
	struct lwm2m_objdef *def;
	lwm2m_err err = LWM2M_OK;

	if (lwm2m_objdef_new(&def) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	memcpy(def->id, src->id, sizeof(def->id));
	def->object_id = src->object_id;
	def->org = src->org;
	def->singleton = src->singleton;
	if (dup_str(&def->name, src->name) != LWM2M_OK ||
	    dup_str(&def->mime_type, src->mime_type) != LWM2M_OK ||
	    dup_str(&def->description, src->description) != LWM2M_OK ||
	    dup_str(&def->serialisation_name, src->serialisation_name) !=
	        LWM2M_OK) {
		err = LWM2M_ENOMEM;
	}
	for (size_t i = 0; err == LWM2M_OK && i < src->n_props; i++) {
		struct lwm2m_propdef *p;

		err = lwm2m_objdef_add_prop(def, &p);
		if (err == LWM2M_OK) {
			err = prop_copy(p, &src->props[i]);
		}
	}
	if (err != LWM2M_OK) {
		lwm2m_objdef_free(def);
		return LWM2M_ENOMEM;
	}
	*ret_def = def;
	return LWM2M_OK;
}

lwm2m_err
lwm2m_objdef_add_prop(struct lwm2m_objdef *def, struct lwm2m_propdef **ret_prop)
{
	if (def->n_props >= LWM2M_OBJDEF_MAX_PROPS) {
		return LWM2M_ELIMIT;
	}
	if (def->n_props == def->cap_props) {
		size_t cap = def->cap_props ? def->cap_props * 2 : 16;
		struct lwm2m_propdef *props;

		props = realloc(def->props, cap * sizeof(*props));
		if (props == NULL) {
			return LWM2M_ENOMEM;
		}
		def->props = props;
		def->cap_props = cap;
	}
	memset(&def->props[def->n_props], 0, sizeof(def->props[0]));
	*ret_prop = &def->props[def->n_props++];
	return LWM2M_OK;
}

const struct lwm2m_propdef *
lwm2m_objdef_prop(const struct lwm2m_objdef *def, uint16_t resource_id)
{
	for (size_t i = 0; i < def->n_props; i++) {
		if (def->props[i].resource_id == resource_id) {
			return &def->props[i];
		}
	}
	return NULL;
}

const struct lwm2m_propdef *
lwm2m_objdef_prop_by_name(const struct lwm2m_objdef *def, const char *name,
                          size_t len)
{
	for (size_t i = 0; i < def->n_props; i++) {
		const char *sn = def->props[i].serialisation_name;

		if (sn != NULL && lwm2m__strncaseeq(name, len, sn)) {
			return &def->props[i];
		}
	}
	return NULL;
}

static bool
ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

/* inflect changes the last word of buf[0..len) in place; returns the new
 * length or -1 when it does not fit. */
static int
inflect(char *buf, size_t len, size_t size, bool plural)
{
	const char *add = "";
	size_t cut = 0;

	if (len == 0) {
		return 0;
	}
	if (plural) {
		if (ends_with(buf, len, "s")) {
			return (int)len; /* already plural */
		}
		if (len >= 2 && ends_with(buf, len, "y") &&
		    strchr("aeiouAEIOU", buf[len - 2]) == NULL) {
			cut = 1, add = "ies";
		} else if (ends_with(buf, len, "x") ||
		           ends_with(buf, len, "ch") ||
		           ends_with(buf, len, "sh")) {
			add = "es";
		} else {
			add = "s";
		}
	} else if (ends_with(buf, len, "ies") && len > 3) {
		cut = 3, add = "y";
	} else if (ends_with(buf, len, "sses") || ends_with(buf, len, "shes") ||
	           ends_with(buf, len, "ches") || ends_with(buf, len, "xes")) {
		cut = 2;
	} else if (ends_with(buf, len, "s") && !ends_with(buf, len, "ss") &&
	           len > 1) {
		cut = 1;
	}
	if (len - cut + strlen(add) + 1 > size) {
		return -1;
	}
	memcpy(buf + len - cut, add, strlen(add) + 1);
	return (int)(len - cut + strlen(add));
}

int
lwm2m_objdef_make_name(const char *text, bool plural, bool singular, char *buf,
                       size_t size)
{
	size_t n = 0;

	if (size == 0) {
		return -1;
	}
	for (const char *p = text; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') {
			continue;
		}
		if (n == 0 && !isalpha((unsigned char)*p) && *p != '_') {
			buf[n++] =
			    '_'; /* an XML name starts with a letter or _ */
		}
		if (n + 2 >= size) {
			return -1;
		}
		buf[n++] = *p;
	}
	buf[n] = '\0';
	if (plural || singular) {
		return inflect(buf, n, size, plural);
	}
	return (int)n;
}

int
lwm2m_objdef_mime_plural(const struct lwm2m_objdef *def, char *buf, size_t size)
{
	const char *m = def->mime_type != NULL ? def->mime_type : "";
	size_t len = strlen(m);
	int n;

	if (len > 0 && m[len - 1] == 'y') {
		n = snprintf(buf, size, "%.*sies", (int)(len - 1), m);
	} else if (len > 0 && m[len - 1] == 'x') {
		n = snprintf(buf, size, "%ses", m);
	} else {
		n = snprintf(buf, size, "%ss", m);
	}
	return n < 0 || (size_t)n >= size ? -1 : n;
}

static bool
xml_name_ok(const char *s)
{
	if (s == NULL || s[0] == '\0' || isdigit((unsigned char)s[0]) ||
	    s[0] == '-' || s[0] == '.') {
		return false;
	}
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && strchr("-_.", *s) == NULL) {
			return false;
		}
	}
	return true;
}

static lwm2m_err
derive_name(char **field, const char *from, bool plural, bool singular)
{
	char buf[LWM2M_OBJDEF_MAX_NAME + 8];
	int n;

	if (from == NULL) {
		return LWM2M_OK;
	}
	n = lwm2m_objdef_make_name(from, plural, singular, buf, sizeof(buf));
	if (n <= 0) {
		return LWM2M_OK; /* nothing usable: the check below reports it
		                  */
	}
	return lwm2m_objdef_set_str(field, buf, (size_t)n,
	                            LWM2M_OBJDEF_MAX_NAME);
}

static lwm2m_err
complete_prop(struct lwm2m_propdef *p, size_t index, struct lwm2m_diag *diag)
{
	lwm2m_err err = LWM2M_OK;

	if (p->serialisation_name == NULL) {
		err = derive_name(&p->serialisation_name, p->name,
		                  p->is_collection, false);
	}
	if (err == LWM2M_OK && p->serialisation_name == NULL) {
		char fallback[16];

		snprintf(fallback, sizeof(fallback), "Resource%u",
		         (unsigned)p->resource_id);
		err = dup_str(&p->serialisation_name, fallback);
	}
	if (err == LWM2M_OK && p->is_collection && p->item_name == NULL) {
		err = derive_name(&p->item_name, p->serialisation_name, false,
		                  true);
	}
	if (err != LWM2M_OK) {
		return lwm2m__diag(diag, err, "Properties[%zu]: %s", index,
		                   lwm2m_strerror(err));
	}
	if (!xml_name_ok(p->serialisation_name)) {
		return lwm2m__diag(
		    diag, LWM2M_EINVAL,
		    "Properties[%zu] (PropertyID %u): "
		    "SerialisationName missing or not a valid name",
		    index, (unsigned)p->resource_id);
	}
	if (p->item_name != NULL && !xml_name_ok(p->item_name)) {
		return lwm2m__diag(
		    diag, LWM2M_EINVAL,
		    "Properties[%zu]: CollectionItemSerialisationName "
		    "is not a valid name",
		    index);
	}
	return LWM2M_OK;
}

static lwm2m_err
complete_object(struct lwm2m_objdef *def, struct lwm2m_diag *diag)
{
	char mime[LWM2M_OBJDEF_MAX_NAME];
	lwm2m_err err = LWM2M_OK;

	if (def->serialisation_name == NULL) {
		err = derive_name(&def->serialisation_name, def->name, false,
		                  false);
	}
	if (err == LWM2M_OK && def->serialisation_name == NULL) {
		char fallback[16];

		snprintf(fallback, sizeof(fallback), "Object%u",
		         (unsigned)def->object_id);
		err = dup_str(&def->serialisation_name, fallback);
	}
	if (err == LWM2M_OK && def->name == NULL &&
	    def->serialisation_name != NULL) {
		err = dup_str(&def->name, def->serialisation_name);
	}
	if (err != LWM2M_OK) {
		return lwm2m__diag(diag, err, "%s", lwm2m_strerror(err));
	}
	if (!xml_name_ok(def->serialisation_name)) {
		return lwm2m__diag(
		    diag, LWM2M_EINVAL,
		    "SerialisationName missing or not a valid name");
	}
	if (def->mime_type == NULL) {
		int n;

		if (def->object_id < 1024) {
			n = snprintf(mime, sizeof(mime),
			             "application/vnd.oma.lwm2m.");
			for (const char *s = def->serialisation_name;
			     *s != '\0' && (size_t)n + 1 < sizeof(mime); s++) {
				mime[n++] = (char)tolower((unsigned char)*s);
			}
			mime[n] = '\0';
		} else {
			n = snprintf(mime, sizeof(mime),
			             "application/vnd.oma.lwm2m.ext:%u",
			             (unsigned)def->object_id);
		}
		err = lwm2m_objdef_set_str(&def->mime_type, mime, strlen(mime),
		                           LWM2M_OBJDEF_MAX_NAME);
	}
	return err;
}

lwm2m_err
lwm2m_objdef_complete(struct lwm2m_objdef *def, struct lwm2m_diag *diag)
{
	lwm2m_err err = complete_object(def, diag);

	if (err != LWM2M_OK) {
		return err;
	}
	for (size_t i = 0; i < def->n_props; i++) {
		err = complete_prop(&def->props[i], i, diag);
		if (err != LWM2M_OK) {
			return err;
		}
		for (size_t j = 0; j < i; j++) {
			if (def->props[j].resource_id ==
			    def->props[i].resource_id) {
				return lwm2m__diag(
				    diag, LWM2M_EINVAL,
				    "Properties[%zu]: PropertyID %u given "
				    "twice",
				    i, (unsigned)def->props[i].resource_id);
			}
		}
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_objdef_assign_ids(struct lwm2m_objdef *def)
{
	lwm2m_err err = LWM2M_OK;

	if (def->id[0] == '\0') {
		err = lwm2m_id_new(def->id);
	}
	for (size_t i = 0; err == LWM2M_OK && i < def->n_props; i++) {
		if (def->props[i].id[0] == '\0') {
			err = lwm2m_id_new(def->props[i].id);
		}
	}
	return err;
}

void
lwm2m_objdef_keep_prop_ids(struct lwm2m_objdef *def,
                           const struct lwm2m_objdef *old)
{
	for (size_t i = 0; i < def->n_props; i++) {
		const struct lwm2m_propdef *o;

		if (def->props[i].id[0] != '\0') {
			continue;
		}
		o = lwm2m_objdef_prop(old, def->props[i].resource_id);
		if (o != NULL) {
			memcpy(def->props[i].id, o->id, sizeof(o->id));
		}
	}
}

const char *
lwm2m_objdef_type_name(enum lwm2m_objdef_type type)
{
	return (size_t)type < N_TYPES ? type_names[type] : "NotSet";
}

const char *
lwm2m_objdef_access_name(enum lwm2m_objdef_access access)
{
	return (size_t)access < N_ACCESS ? access_names[access] : "NoAccess";
}

bool
lwm2m_objdef_type_parse(const char *text, size_t len,
                        enum lwm2m_objdef_type *ret_type)
{
	for (size_t i = 0; i < N_TYPES; i++) {
		if (lwm2m__strncaseeq(text, len, type_names[i])) {
			*ret_type = (enum lwm2m_objdef_type)i;
			return true;
		}
	}
	return false;
}

bool
lwm2m_objdef_access_parse(const char *text, size_t len,
                          enum lwm2m_objdef_access *ret_access)
{
	for (size_t i = 0; i < N_ACCESS; i++) {
		if (lwm2m__strncaseeq(text, len, access_names[i])) {
			*ret_access = (enum lwm2m_objdef_access)i;
			return true;
		}
	}
	return false;
}

enum lwm2m_type
lwm2m_objdef_value_type(enum lwm2m_objdef_type type)
{
	switch (type) {
	case LWM2M_OBJDEF_STRING:
		return LWM2M_TYPE_STRING;
	case LWM2M_OBJDEF_BOOLEAN:
		return LWM2M_TYPE_BOOLEAN;
	case LWM2M_OBJDEF_INTEGER:
		return LWM2M_TYPE_INTEGER;
	case LWM2M_OBJDEF_FLOAT:
		return LWM2M_TYPE_FLOAT;
	case LWM2M_OBJDEF_DATETIME:
		return LWM2M_TYPE_TIME;
	case LWM2M_OBJDEF_OPAQUE:
		return LWM2M_TYPE_OPAQUE;
	case LWM2M_OBJDEF_OBJLNK:
		return LWM2M_TYPE_OBJLNK;
	case LWM2M_OBJDEF_NOTSET:
	case LWM2M_OBJDEF_OBJECT:
		break;
	}
	return LWM2M_TYPE_NONE;
}

void
lwm2m_objdef_list_init(struct lwm2m_objdef_list *list)
{
	memset(list, 0, sizeof(*list));
}

void
lwm2m_objdef_list_fini(struct lwm2m_objdef_list *list)
{
	if (list == NULL) {
		return;
	}
	for (size_t i = 0; i < list->n; i++) {
		lwm2m_objdef_free(list->defs[i]);
	}
	free(list->defs);
	memset(list, 0, sizeof(*list));
}

lwm2m_err
lwm2m_objdef_list_add(struct lwm2m_objdef_list *list, struct lwm2m_objdef *def)
{
	if (list->n >= LWM2M_OBJDEF_MAX_DEFS) {
		lwm2m_objdef_free(def);
		return LWM2M_ELIMIT;
	}
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		struct lwm2m_objdef **defs;

		defs = realloc(list->defs, cap * sizeof(*defs));
		if (defs == NULL) {
			lwm2m_objdef_free(def);
			return LWM2M_ENOMEM;
		}
		list->defs = defs;
		list->cap = cap;
	}
	list->defs[list->n++] = def;
	return LWM2M_OK;
}

void
lwm2m_objdef_list_sort(struct lwm2m_objdef_list *list)
{
	/* insertion sort: stable, and lists are short */
	for (size_t i = 1; i < list->n; i++) {
		struct lwm2m_objdef *d = list->defs[i];
		size_t j = i;

		while (j > 0 && list->defs[j - 1]->object_id > d->object_id) {
			list->defs[j] = list->defs[j - 1];
			j--;
		}
		list->defs[j] = d;
	}
}

struct lwm2m_objdef *
lwm2m_objdef_list_find(const struct lwm2m_objdef_list *list, uint16_t object_id)
{
	for (size_t i = 0; i < list->n; i++) {
		if (list->defs[i]->object_id == object_id) {
			return list->defs[i];
		}
	}
	return NULL;
}

bool
lwm2m_objdef_can_modify(const struct lwm2m_objdef *def, long long viewer_org)
{
	return viewer_org == LWM2M_OBJDEF_GLOBAL || def->org == viewer_org;
}

/* parse_any recognises the document form by its first element or member. */
static lwm2m_err
parse_any(const char *buf, size_t len, struct lwm2m_objdef_list *list,
          struct lwm2m_diag *diag)
{
	const char *lt = memchr(buf, '<', len);
	const char *brace = memchr(buf, '{', len);
	struct lwm2m_objdef *def;
	lwm2m_err err;

	if (brace != NULL && (lt == NULL || brace < lt)) {
		const char *items = strstr(buf, "\"Items\"");

		if (items == NULL) {
			items = strstr(buf, "\"items\"");
		}
		if (items != NULL) {
			return lwm2m_objdef_json_parse_list(buf, len, list,
			                                    diag);
		}
		err = lwm2m_objdef_json_parse(buf, len, &def, diag);
	} else if (strstr(buf, "<LWM2M") != NULL) {
		return lwm2m_ddf_parse(buf, len, list, diag);
	} else if (strstr(buf, "<ObjectDefinitions") != NULL) {
		return lwm2m_objdef_xml_parse_list(buf, len, list, diag);
	} else {
		err = lwm2m_objdef_xml_parse(buf, len, &def, diag);
	}
	return err == LWM2M_OK ? lwm2m_objdef_list_add(list, def) : err;
}

lwm2m_err
lwm2m_objdef_load_file(const char *path, struct lwm2m_objdef_list *list,
                       struct lwm2m_diag *diag)
{
	char *buf;
	size_t len, first = list->n;
	lwm2m_err err;

	err = lwm2m__read_file(path, LWM2M_OBJDEF_MAX_INPUT, &buf, &len);
	if (err != LWM2M_OK) {
		return lwm2m__diag(diag, err, "%s: %s", path,
		                   err == LWM2M_EIO ? strerror(errno)
		                                    : lwm2m_strerror(err));
	}
	err = parse_any(buf, len, list, diag);
	free(buf);
	for (size_t i = first; err == LWM2M_OK && i < list->n; i++) {
		err = lwm2m_objdef_complete(list->defs[i], diag);
	}
	return err;
}
