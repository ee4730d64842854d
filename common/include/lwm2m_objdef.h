/* lwm2m_objdef.h - object definitions (REST spec section 5.1) and their
 * JSON, XML and OMA DDF forms.
 *
 * An object definition describes one LwM2M object: its ObjectID, the media
 * type and the serialisation name of its instances, and one property per
 * resource.  Definitions are plain heap data: every string is malloc()ed and
 * owned by the definition, lwm2m_objdef_free() releases all of it.  Nothing
 * here touches the network; lwm2m_objdef_store_* (lwm2m_objdef_store.h)
 * keeps them in Redis.  Any thread may call these functions on objects it
 * owns.
 */
#ifndef LWM2M_OBJDEF_H
#define LWM2M_OBJDEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_gen.h>

#include "lwm2m_err.h"
#include "lwm2m_id.h"
#include "lwm2m_value.h"

/* Limits on peer-supplied definitions. */
#define LWM2M_OBJDEF_MAX_PROPS 1024 /* properties of one definition */
#define LWM2M_OBJDEF_MAX_DEFS 4096  /* definitions in one document */
#define LWM2M_OBJDEF_MAX_NAME 256   /* names, media types, units, ranges */
#define LWM2M_OBJDEF_MAX_TEXT 65536 /* a Description */
#define LWM2M_OBJDEF_MAX_INPUT (16u << 20) /* one JSON/XML/DDF document */
#define LWM2M_OBJDEF_MAX_DEPTH 32          /* nesting of a JSON document */

/* The global scope: definitions created by the admin organisation (0). */
#define LWM2M_OBJDEF_GLOBAL 0LL

/* DataType (5.1).  OBJLNK is ours ("ObjLink", value "<oid>:<iid>"), as the
 * spec recommends; old clients never see it for the shipped objects that
 * the original defined. */
enum lwm2m_objdef_type {
	LWM2M_OBJDEF_NOTSET = 0, /* executable resources */
	LWM2M_OBJDEF_STRING,
	LWM2M_OBJDEF_BOOLEAN,
	LWM2M_OBJDEF_INTEGER,
	LWM2M_OBJDEF_FLOAT,
	LWM2M_OBJDEF_DATETIME,
	LWM2M_OBJDEF_OPAQUE,
	LWM2M_OBJDEF_OBJECT,
	LWM2M_OBJDEF_OBJLNK,
};

/* Access (5.1). */
enum lwm2m_objdef_access {
	LWM2M_OBJDEF_NOACCESS = 0,
	LWM2M_OBJDEF_READ,
	LWM2M_OBJDEF_WRITE,
	LWM2M_OBJDEF_READWRITE,
	LWM2M_OBJDEF_EXECUTE,
};

/* PropertyDefinition.  Optional strings are NULL when unset; has_length and
 * has_sort_order say whether the optional integers are set. */
struct lwm2m_propdef {
	char id[LWM2M_ID_SIZE]; /* PropertyDefinitionID, "" when unset */
	uint16_t resource_id;   /* PropertyID */
	char *name;
	char *description;
	enum lwm2m_objdef_type type;
	bool has_length;
	int64_t data_type_length;
	char *mime_type;
	char *min_value;
	char *max_value;
	char *units;
	bool is_collection;
	bool is_mandatory;
	enum lwm2m_objdef_access access;
	bool has_sort_order;
	int64_t sort_order;
	char *serialisation_name;
	char *item_name; /* CollectionItemSerialisationName */
};

/* ObjectDefinition.  org is the scope (LWM2M_OBJDEF_GLOBAL or an
 * organisation id); the store sets it, documents do not carry it. */
struct lwm2m_objdef {
	char id[LWM2M_ID_SIZE]; /* ObjectDefinitionID, "" when unset */
	uint16_t object_id;     /* ObjectID */
	long long org;
	char *name;
	char *mime_type;
	char *description;
	char *serialisation_name;
	bool singleton;
	struct lwm2m_propdef *props; /* in definition order */
	size_t n_props;
	size_t cap_props;
	unsigned holds; /* lwm2m_objdef_hold count; one thread only */
};

/* A growable array of owned definitions. */
struct lwm2m_objdef_list {
	struct lwm2m_objdef **defs;
	size_t n;
	size_t cap;
};

/* How to render links: base is the absolute URL of the collection, e.g.
 * "https://h/objecttypes/definitions" (no trailing '/'); NULL renders no
 * links.  viewer_org decides update/remove links (spec 5.3). */
struct lwm2m_objdef_links {
	const char *base;
	long long viewer_org;
};

/* ---- model (lwm2m_objdef.c) --------------------------------------------- */

/* lwm2m_objdef_new allocates an empty definition (global scope, no
 * properties).  LWM2M_ENOMEM on failure. */
lwm2m_err lwm2m_objdef_new(struct lwm2m_objdef **ret_def);

/* lwm2m_objdef_free frees def and everything it owns; NULL-safe; returns
 * NULL. */
struct lwm2m_objdef *lwm2m_objdef_free(struct lwm2m_objdef *def);

/* lwm2m_objdef_hold lets one more holder keep def, read-only, past its
 * owner's lwm2m_objdef_free: each lwm2m_objdef_free drops one hold, and
 * only a free with no hold left frees.  Cheaper than lwm2m_objdef_dup for
 * a definition borrowed from a cache (lwm2m_objdef_store_get).  Owner and
 * holders must be on one thread.  Returns def, for the holder to free. */
struct lwm2m_objdef *lwm2m_objdef_hold(const struct lwm2m_objdef *def);

/* lwm2m_objdef_dup deep-copies src into a new definition. */
lwm2m_err lwm2m_objdef_dup(const struct lwm2m_objdef *src,
                           struct lwm2m_objdef **ret_def);

/* lwm2m_objdef_add_prop appends a zeroed property to def and returns it
 * through ret_prop (valid until the next add).  LWM2M_ELIMIT past
 * LWM2M_OBJDEF_MAX_PROPS. */
lwm2m_err lwm2m_objdef_add_prop(struct lwm2m_objdef *def,
                                struct lwm2m_propdef **ret_prop);

/* lwm2m_objdef_set_str replaces *field with a NUL-terminated copy of the len
 * bytes at text (NULL text clears it).  LWM2M_ELIMIT when len > max,
 * LWM2M_EPROTO when text holds a NUL byte. */
lwm2m_err lwm2m_objdef_set_str(char **field, const char *text, size_t len,
                               size_t max);

/* lwm2m_objdef_prop returns the property for resource_id, or NULL. */
const struct lwm2m_propdef *lwm2m_objdef_prop(const struct lwm2m_objdef *def,
                                              uint16_t resource_id);

/* lwm2m_objdef_prop_by_name returns the first property whose
 * SerialisationName equals name (len bytes, ASCII case-insensitive), or
 * NULL. */
const struct lwm2m_propdef *
lwm2m_objdef_prop_by_name(const struct lwm2m_objdef *def, const char *name,
                          size_t len);

/* lwm2m_objdef_complete fills what a body may omit: SerialisationName from
 * Name (object and properties), MIMEType ("application/vnd.oma.lwm2m.<name>"
 * below ObjectID 1024, else "application/vnd.oma.lwm2m.ext:<ObjectID>") and
 * the collection item name; then checks the definition: Name or
 * SerialisationName present, serialisation names usable as XML element
 * names, PropertyIDs unique.  LWM2M_EINVAL with diag->msg naming the field
 * otherwise (diag may be NULL). */
lwm2m_err lwm2m_objdef_complete(struct lwm2m_objdef *def,
                                struct lwm2m_diag *diag);

/* lwm2m_objdef_assign_ids gives a fresh random id to the definition and each
 * property whose id is "". */
lwm2m_err lwm2m_objdef_assign_ids(struct lwm2m_objdef *def);

/* lwm2m_objdef_keep_prop_ids copies PropertyDefinitionIDs from old to the
 * properties of def with the same PropertyID that have none (5.6 fix). */
void lwm2m_objdef_keep_prop_ids(struct lwm2m_objdef *def,
                                const struct lwm2m_objdef *old);

/* lwm2m_objdef_type_name / lwm2m_objdef_access_name return the REST
 * spelling ("DateTime", "ReadWrite"). */
const char *lwm2m_objdef_type_name(enum lwm2m_objdef_type type);
const char *lwm2m_objdef_access_name(enum lwm2m_objdef_access access);

/* lwm2m_objdef_type_parse / lwm2m_objdef_access_parse read those names
 * case-insensitively; false for anything else. */
bool lwm2m_objdef_type_parse(const char *text, size_t len,
                             enum lwm2m_objdef_type *ret_type);
bool lwm2m_objdef_access_parse(const char *text, size_t len,
                               enum lwm2m_objdef_access *ret_access);

/* lwm2m_objdef_value_type maps a DataType onto the value tree's type;
 * LWM2M_TYPE_NONE for NotSet and Object. */
enum lwm2m_type lwm2m_objdef_value_type(enum lwm2m_objdef_type type);

/* lwm2m_objdef_make_name writes a serialisation name derived from a human
 * name into buf: characters other than letters, digits, '-' and '_' are
 * dropped ("Supported Binding and Modes" -> "SupportedBindingandModes"), and
 * "_" goes in front of a leading digit or '-' ("3GPP" -> "_3GPP").
 * plural/singular (at most one true) also inflect the last word the way the
 * shipped definitions do ("APN" -> "APNs", "IP Addresses" -> "IPAddress").
 * Returns the length, or -1 when buf is too small. */
int lwm2m_objdef_make_name(const char *text, bool plural, bool singular,
                           char *buf, size_t size);

/* lwm2m_objdef_mime_plural writes the media type of an instance list (spec
 * 4.7: "y" -> "ies", "x" -> "xes", else + "s") into buf.  -1 when too small. */
int lwm2m_objdef_mime_plural(const struct lwm2m_objdef *def, char *buf,
                             size_t size);

/* lwm2m_objdef_list_init / _fini: fini frees every definition; NULL-safe. */
void lwm2m_objdef_list_init(struct lwm2m_objdef_list *list);
void lwm2m_objdef_list_fini(struct lwm2m_objdef_list *list);

/* lwm2m_objdef_list_add appends def; the list owns it from then on, also
 * when the call fails (def is freed then).  LWM2M_ELIMIT past
 * LWM2M_OBJDEF_MAX_DEFS. */
lwm2m_err lwm2m_objdef_list_add(struct lwm2m_objdef_list *list,
                                struct lwm2m_objdef *def);

/* lwm2m_objdef_list_sort sorts by ObjectID (stable for equal ids). */
void lwm2m_objdef_list_sort(struct lwm2m_objdef_list *list);

/* lwm2m_objdef_list_find returns the first definition with object_id. */
struct lwm2m_objdef *
lwm2m_objdef_list_find(const struct lwm2m_objdef_list *list,
                       uint16_t object_id);

/* lwm2m_objdef_can_modify is true when viewer_org may update or delete def:
 * the admin organisation always, others only their own (5.3). */
bool lwm2m_objdef_can_modify(const struct lwm2m_objdef *def,
                             long long viewer_org);

/* ---- JSON (lwm2m_objdef_json.c) ----------------------------------------- */

/* lwm2m_objdef_json_parse reads one ObjectDefinition (REST shape, member
 * names case-insensitive, unknown members ignored).  buf need not be
 * NUL-terminated.  LWM2M_EPROTO / LWM2M_ELIMIT with diag->msg naming the
 * member and the reason.  The result is not completed (see
 * lwm2m_objdef_complete). */
lwm2m_err lwm2m_objdef_json_parse(const char *buf, size_t len,
                                  struct lwm2m_objdef **ret_def,
                                  struct lwm2m_diag *diag);

/* lwm2m_objdef_json_parse_list reads {"Items":[...]} (or a bare array) and
 * appends each definition to list.  On failure list may hold a part. */
lwm2m_err lwm2m_objdef_json_parse_list(const char *buf, size_t len,
                                       struct lwm2m_objdef_list *list,
                                       struct lwm2m_diag *diag);

/* lwm2m_objdef_json_gen emits def as one JSON object into g (fields in spec
 * order, unset optional fields omitted, Links last when links->base). */
lwm2m_err lwm2m_objdef_json_gen(yajl_gen g, const struct lwm2m_objdef *def,
                                const struct lwm2m_objdef_links *links);

/* lwm2m_objdef_json_render renders one definition (list: {"Items":[...]})
 * into a malloc()ed NUL-terminated string; links may be NULL. */
lwm2m_err lwm2m_objdef_json_render(const struct lwm2m_objdef *def,
                                   const struct lwm2m_objdef_links *links,
                                   bool pretty, char **ret_buf,
                                   size_t *ret_len);
lwm2m_err lwm2m_objdef_json_render_list(const struct lwm2m_objdef_list *list,
                                        const struct lwm2m_objdef_links *links,
                                        bool pretty, char **ret_buf,
                                        size_t *ret_len);

/* ---- XML (lwm2m_objdef_xml.c) ------------------------------------------- */

/* lwm2m_objdef_xml_parse reads <ObjectDefinition> (element names
 * case-insensitive, Properties/PropertyDefinition children).  No network,
 * no DTD, no entity expansion. */
lwm2m_err lwm2m_objdef_xml_parse(const char *buf, size_t len,
                                 struct lwm2m_objdef **ret_def,
                                 struct lwm2m_diag *diag);

/* lwm2m_objdef_xml_parse_list reads
 * <ObjectDefinitions><Items><ObjectDefinition>... into list. */
lwm2m_err lwm2m_objdef_xml_parse_list(const char *buf, size_t len,
                                      struct lwm2m_objdef_list *list,
                                      struct lwm2m_diag *diag);

/* lwm2m_objdef_xml_render / _render_list write the XML form (Links first,
 * as the original) into a malloc()ed NUL-terminated string. */
lwm2m_err lwm2m_objdef_xml_render(const struct lwm2m_objdef *def,
                                  const struct lwm2m_objdef_links *links,
                                  char **ret_buf, size_t *ret_len);
lwm2m_err lwm2m_objdef_xml_render_list(const struct lwm2m_objdef_list *list,
                                       const struct lwm2m_objdef_links *links,
                                       char **ret_buf, size_t *ret_len);

/* ---- OMA DDF import (lwm2m_ddf.c) --------------------------------------- */

/* lwm2m_ddf_parse reads an OMA DDF document (<LWM2M><Object>...) and appends
 * one completed definition per <Object> to list (ids unset).  Mapping: Type
 * String/Integer/Unsigned Integer/Float/Boolean/Opaque/Time/Objlnk/Corelnk/
 * none -> String/Integer/Integer/Float/Boolean/Opaque/DateTime/ObjLink/
 * String/NotSet; Operations R/W/RW/E/none -> Read/Write/ReadWrite/Execute/
 * NoAccess; RangeEnumeration "a..b" or "a-b" -> MinValue/MaxValue.
 * LWM2M_EPROTO / LWM2M_ELIMIT with diag->msg giving the reason. */
lwm2m_err lwm2m_ddf_parse(const char *buf, size_t len,
                          struct lwm2m_objdef_list *list,
                          struct lwm2m_diag *diag);

/* lwm2m_ddf_load_file reads the DDF file at path (at most
 * LWM2M_OBJDEF_MAX_INPUT bytes) with lwm2m_ddf_parse.  LWM2M_EIO when the
 * file cannot be read. */
lwm2m_err lwm2m_ddf_load_file(const char *path, struct lwm2m_objdef_list *list,
                              struct lwm2m_diag *diag);

/* lwm2m_objdef_load_file reads a file of definitions in any form: OMA DDF
 * (root <LWM2M>), REST JSON (one definition or {"Items":[...]}, e.g. the
 * shipped data/objects/lwds-objects.json) or REST XML (<ObjectDefinition> or
 * <ObjectDefinitions>), appends them to list and completes each one.  diag
 * names the file or the reason. */
lwm2m_err lwm2m_objdef_load_file(const char *path,
                                 struct lwm2m_objdef_list *list,
                                 struct lwm2m_diag *diag);

#endif
