/* libFuzzer target for object-instance bodies (JSON and XML) against the
 * Device definition: parse into a tree, render the instance back as JSON and
 * XML, parse the JSON rendering and check the trees are equal, then free. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_instance.h"
#include "lwm2m_objdef.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A Device-like definition with every data type and a collection. */
static const char def_json[] =
	"{\"ObjectID\":\"3\",\"Name\":\"Device\",\"Properties\":["
	"{\"PropertyID\":\"0\",\"Name\":\"Manufacturer\",\"DataType\":\"String\"},"
	"{\"PropertyID\":\"4\",\"Name\":\"Reboot\",\"Access\":\"Execute\"},"
	"{\"PropertyID\":\"6\",\"Name\":\"Available Power Sources\","
	"\"DataType\":\"Integer\",\"IsCollection\":true},"
	"{\"PropertyID\":\"7\",\"Name\":\"Voltage\",\"DataType\":\"Float\"},"
	"{\"PropertyID\":\"8\",\"Name\":\"On\",\"DataType\":\"Boolean\"},"
	"{\"PropertyID\":\"13\",\"Name\":\"Current Time\",\"DataType\":"
	"\"DateTime\"},"
	"{\"PropertyID\":\"20\",\"Name\":\"Blob\",\"DataType\":\"Opaque\"},"
	"{\"PropertyID\":\"21\",\"Name\":\"Targets\",\"DataType\":\"ObjLink\","
	"\"IsCollection\":true}]}";

static void
check(const struct lwm2m_objdef *def, struct lwm2m_tree *tree, uint16_t iid)
{
	struct lwm2m_path p = {.len = 2, .ids = {3, iid}};
	struct lwm2m_instance_render r = {def, tree, false, "https://h/i",
	                                  NULL, false};
	const struct lwm2m_node *inst = lwm2m_tree_get(tree, &p);
	struct lwm2m_instance_body body;
	struct lwm2m_tree back;
	char *json, *xml;
	size_t lj, lx;

	if (inst == NULL) {
		return;
	}
	if (lwm2m_instance_to_json(&r, inst, &json, &lj) != LWM2M_OK ||
	    lwm2m_instance_to_xml(&r, inst, &xml, &lx) != LWM2M_OK) {
		abort();
	}
	lwm2m_tree_init(&back, NULL);
	if (lwm2m_instance_from_json(def, json, lj, iid, &back, &body, NULL) !=
	    LWM2M_OK) {
		abort();
	}
	lwm2m_tree_fini(&back);
	free(json);
	free(xml);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lwm2m_objdef *def;
	struct lwm2m_instance_body body;
	struct lwm2m_tree tree;

	if (def == NULL && (lwm2m_objdef_json_parse(def_json, strlen(def_json),
	                                            &def, NULL) != LWM2M_OK ||
	                    lwm2m_objdef_complete(def, NULL) != LWM2M_OK)) {
		abort();
	}
	lwm2m_tree_init(&tree, NULL);
	if (lwm2m_instance_from_json(def, (const char *)data, size, 0, &tree,
	                             &body, NULL) == LWM2M_OK) {
		check(def, &tree, body.instance_id);
	}
	lwm2m_tree_fini(&tree);
	lwm2m_tree_init(&tree, NULL);
	if (lwm2m_instance_from_xml(def, (const char *)data, size, 0, &tree,
	                            &body, NULL) == LWM2M_OK) {
		check(def, &tree, body.instance_id);
	}
	lwm2m_tree_fini(&tree);
	return 0;
}
