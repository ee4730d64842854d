/* lwm2m_instance.h - the JSON and XML representation of object instances
 * (REST spec 4.7, 4.8) and its conversion to and from the value tree.
 *
 * Resources appear under their property's SerialisationName, typed by the
 * definition: Integer as a JSON number, Float with up to 15 significant
 * digits, Boolean true/false (XML True/False), DateTime as ISO 8601 UTC
 * ("2016-07-07T03:43:20Z"; XML with 7 fraction digits), Opaque as standard
 * base64, ObjLink as "<objectID>:<instanceID>", multi-instance resources as
 * arrays (XML: one element per value named CollectionItemSerialisationName
 * or the singular of SerialisationName).  A single resource that arrives as
 * one resource instance with the resource's own id (Wakaama 1.0's LwM2M JSON
 * names /o/i/r /o/i/r/r) is rendered as its value.  Any thread may call
 * these on data it owns.
 */
#ifndef LWM2M_INSTANCE_H
#define LWM2M_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_objdef.h"
#include "lwm2m_value.h"

/* What to render.  tree is not const: untyped values (TLV, text) are
 * converted to the definition's type with lwm2m_value_coerce(), whose new
 * buffers come from the tree's arena; the nodes are not changed. */
struct lwm2m_instance_render {
	const struct lwm2m_objdef *def;
	struct lwm2m_tree *tree;
	bool raw_is_text;     /* RAW values came as text/plain, not TLV */
	const char *href;     /* instance URL (list: the ".../instances" URL);
	                         NULL renders no Links */
	const char *def_href; /* definition URL for rel "definition", or NULL */
	bool op_links;        /* also rels "discover" and "attributes" (href +
	                         "/discover", "/attributes"), last */
};

/* lwm2m_instance_prop_node returns the node holding property p's value(s)
 * in the instance node inst, or NULL: the child with p's resource id, except
 * that a single (non-collection) resource whose node is a multiple resource
 * with exactly one instance of the resource's own id (Wakaama 1.0's LwM2M
 * JSON) is that resource instance. */
const struct lwm2m_node *
lwm2m_instance_prop_node(const struct lwm2m_node *inst,
                         const struct lwm2m_propdef *p);

/* lwm2m_instance_to_json / _to_xml render one instance into a malloc()ed
 * NUL-terminated string (XML root: the definition's SerialisationName). */
lwm2m_err lwm2m_instance_to_json(const struct lwm2m_instance_render *r,
                                 const struct lwm2m_node *inst, char **ret_buf,
                                 size_t *ret_len);
lwm2m_err lwm2m_instance_to_xml(const struct lwm2m_instance_render *r,
                                const struct lwm2m_node *inst, char **ret_buf,
                                size_t *ret_len);

/* lwm2m_instance_list_to_json / _to_xml render the instances of obj (an
 * LWM2M_NODE_OBJECT, or NULL for none) as the collection of spec 4.8: Links
 * (add -> r->href), PageInfo (numbers, no paging links), Items (always
 * present) holding at most page_size instances from start_index on; item
 * links are r->href + "/<id>".  XML root: the plural of SerialisationName. */
lwm2m_err lwm2m_instance_list_to_json(const struct lwm2m_instance_render *r,
                                      const struct lwm2m_node *obj,
                                      size_t start_index, size_t page_size,
                                      char **ret_buf, size_t *ret_len);
lwm2m_err lwm2m_instance_list_to_xml(const struct lwm2m_instance_render *r,
                                     const struct lwm2m_node *obj,
                                     size_t start_index, size_t page_size,
                                     char **ret_buf, size_t *ret_len);

/* Executable resources named in a body are not values: they are returned
 * here, in body order, for the caller to execute after the write (4.11). */
struct lwm2m_instance_body {
	bool has_instance_id; /* the body carried "InstanceID" */
	uint16_t instance_id; /* that id, else the default passed in */
	size_t n_exec;
	uint16_t exec[LWM2M_OBJDEF_MAX_PROPS];
};

/* lwm2m_instance_from_json reads an instance body (4.7): every member whose
 * name matches a property's SerialisationName (case-insensitive, at any
 * depth, so wrapped forms work) is that resource; "InstanceID" (a string)
 * sets the instance id; "Links" is ignored.  Values are added to tree under
 * /<ObjectID>/<id>/<resource> where id is the body's InstanceID or
 * default_iid.  Multi-instance resources take an array (instances numbered
 * 0, 1, 2...) or an object {"<riid>": value}.  NotSet/Object properties with
 * Execute access go to ret_body->exec; others of those types are ignored.
 * LWM2M_EPROTO / LWM2M_ELIMIT with diag->msg naming the property and the
 * reason (e.g. "BatteryLevel: expected an integer"); the tree may then hold
 * part of the body. */
lwm2m_err lwm2m_instance_from_json(const struct lwm2m_objdef *def,
                                   const char *buf, size_t len,
                                   uint16_t default_iid,
                                   struct lwm2m_tree *tree,
                                   struct lwm2m_instance_body *ret_body,
                                   struct lwm2m_diag *diag);

/* lwm2m_instance_from_xml is the same for XML: the root element must be the
 * definition's SerialisationName; children are properties, InstanceID and
 * Links; multi-instance values are child elements named as rendered. */
lwm2m_err lwm2m_instance_from_xml(const struct lwm2m_objdef *def,
                                  const char *buf, size_t len,
                                  uint16_t default_iid, struct lwm2m_tree *tree,
                                  struct lwm2m_instance_body *ret_body,
                                  struct lwm2m_diag *diag);

#endif
