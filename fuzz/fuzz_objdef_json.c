/* libFuzzer target for object definitions in JSON (one and {"Items"}):
 * parse, complete, render as JSON and XML, parse both renderings back and
 * check they render identically, then free. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_objdef.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* roundtrip renders def, reads it back both ways and compares. */
static void
roundtrip(const struct lwm2m_objdef *def)
{
	struct lwm2m_objdef *back = NULL;
	char *a = NULL, *b = NULL, *xml = NULL;
	size_t la, lb, lx;

	if (lwm2m_objdef_json_render(def, NULL, false, &a, &la) != LWM2M_OK) {
		return;
	}
	if (lwm2m_objdef_json_parse(a, la, &back, NULL) != LWM2M_OK ||
	    lwm2m_objdef_json_render(back, NULL, false, &b, &lb) != LWM2M_OK ||
	    strcmp(a, b) != 0) {
		abort();
	}
	lwm2m_objdef_free(back);
	back = NULL;
	free(b);
	b = NULL;
	if (lwm2m_objdef_xml_render(def, NULL, &xml, &lx) != LWM2M_OK) {
		abort();
	}
	/* XML 1.0 cannot carry every control character a JSON string can */
	if (lwm2m_objdef_xml_parse(xml, lx, &back, NULL) == LWM2M_OK &&
	    lwm2m_objdef_json_render(back, NULL, false, &b, &lb) == LWM2M_OK &&
	    strcmp(a, b) != 0 && strpbrk(a, "\\") == NULL) {
		abort();
	}
	lwm2m_objdef_free(back);
	free(a);
	free(b);
	free(xml);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lwm2m_objdef *def = NULL;
	struct lwm2m_objdef_list list;
	struct lwm2m_diag diag;

	if (lwm2m_objdef_json_parse((const char *)data, size, &def, &diag) ==
	        LWM2M_OK &&
	    lwm2m_objdef_complete(def, &diag) == LWM2M_OK) {
		roundtrip(def);
	}
	lwm2m_objdef_free(def);
	lwm2m_objdef_list_init(&list);
	if (lwm2m_objdef_json_parse_list((const char *)data, size, &list,
	                                 &diag) == LWM2M_OK) {
		for (size_t i = 0; i < list.n; i++) {
			if (lwm2m_objdef_complete(list.defs[i], &diag) ==
			    LWM2M_OK) {
				roundtrip(list.defs[i]);
			}
		}
	}
	lwm2m_objdef_list_fini(&list);
	return 0;
}
