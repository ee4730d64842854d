/* lwm2m_objdef_int.h - helpers shared by the object definition modules. */
#ifndef LWM2M_OBJDEF_INT_H
#define LWM2M_OBJDEF_INT_H

#include <stdarg.h>

#include <libxml/tree.h>
#include <libxml/xmlwriter.h>
#include <yajl/yajl_tree.h>

#include "lwm2m_objdef.h"

/* lwm2m__diag sets diag->msg (NULL-safe) and returns err. */
lwm2m_err lwm2m__diag(struct lwm2m_diag *diag, lwm2m_err err, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));

/* lwm2m__strncaseeq is true when the len bytes at a equal the C string b,
 * ASCII case-insensitively. */
bool lwm2m__strncaseeq(const char *a, size_t len, const char *b);

/* lwm2m__read_file reads a whole file (at most max bytes) into a malloc()ed
 * NUL-terminated buffer. */
lwm2m_err lwm2m__read_file(const char *path, size_t max, char **ret_buf,
                           size_t *ret_len);

/* lwm2m__json_parse parses len bytes of JSON (need not be NUL-terminated)
 * into a yajl tree after checking the size against max and the nesting
 * depth against LWM2M_OBJDEF_MAX_DEPTH.  Caller frees with yajl_tree_free. */
lwm2m_err lwm2m__json_parse(const char *buf, size_t len, size_t max,
                            yajl_val *ret_tree, struct lwm2m_diag *diag);

/* lwm2m__json_get returns the member of object obj named name (ASCII
 * case-insensitive), or NULL; a JSON null counts as absent. */
yajl_val lwm2m__json_get(yajl_val obj, const char *name);

/* lwm2m__objdef_field_text sets the member called name (case-insensitive)
 * of a definition (prop false, base is a struct lwm2m_objdef) or a property
 * (prop true, base is a struct lwm2m_propdef) from its text form; unknown
 * names are ignored.  where prefixes the diagnostic. */
lwm2m_err lwm2m__objdef_field_text(bool prop, const char *name, size_t name_len,
                                   const char *text, void *base,
                                   const char *where, struct lwm2m_diag *diag);

/* lwm2m__xml_read parses an XML document safely (no network, no DTD, size
 * limit); caller frees with xmlFreeDoc. */
lwm2m_err lwm2m__xml_read(const char *buf, size_t len, xmlDocPtr *ret_doc,
                          struct lwm2m_diag *diag);

/* lwm2m__xml_is is true for an element called name (case-insensitive). */
bool lwm2m__xml_is(const xmlNode *node, const char *name);

/* lwm2m__xml_text returns the malloc()ed text content of node (NULL on
 * ENOMEM). */
char *lwm2m__xml_text(const xmlNode *node);

/* XML writing helpers: a writer into a memory buffer, the xsi/xsd namespace
 * attributes of a root element, a <Link rel href/>, and finishing into a
 * malloc()ed string (frees buf and w). */
lwm2m_err lwm2m__xml_writer_new(xmlBufferPtr *ret_buf, xmlTextWriterPtr *ret_w);
void lwm2m__xml_namespaces(xmlTextWriterPtr w);
void lwm2m__xml_link(xmlTextWriterPtr w, const char *rel, const char *href);
lwm2m_err lwm2m__xml_writer_finish(xmlBufferPtr buf, xmlTextWriterPtr w,
                                   char **ret_buf, size_t *ret_len);

#endif
