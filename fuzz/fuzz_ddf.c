/* libFuzzer target for the OMA DDF importer: parse, render every definition
 * as JSON, read it back and check it renders the same, then free. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_objdef.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lwm2m_objdef_list list;
	struct lwm2m_diag diag;

	lwm2m_objdef_list_init(&list);
	if (lwm2m_ddf_parse((const char *)data, size, &list, &diag) ==
	    LWM2M_OK) {
		for (size_t i = 0; i < list.n; i++) {
			struct lwm2m_objdef *back = NULL;
			char *a = NULL, *b = NULL;
			size_t la, lb;

			if (lwm2m_objdef_json_render(list.defs[i], NULL, false,
			                             &a, &la) != LWM2M_OK) {
				continue;
			}
			if (lwm2m_objdef_json_parse(a, la, &back, NULL) !=
			        LWM2M_OK ||
			    lwm2m_objdef_json_render(back, NULL, false, &b,
			                             &lb) != LWM2M_OK ||
			    strcmp(a, b) != 0) {
				abort();
			}
			lwm2m_objdef_free(back);
			free(a);
			free(b);
		}
	}
	lwm2m_objdef_list_fini(&list);
	return 0;
}
