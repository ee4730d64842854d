/* libFuzzer target for the CoRE link-format parser (lwm2m_link) and the
 * registration payload interpretation of coap-gw (gw_reg_links_parse):
 * parse, write back, parse the result again (into a caller's space, as
 * coap-gw does) and check it is stable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "lwm2m_link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
roundtrip(const struct lwm2m_link_list *l)
{
	size_t len = lwm2m_link_format_len(l), len2;
	char *buf = malloc(len + 1), *buf2;
	struct lwm2m_link_space space;
	struct lwm2m_link_list again_list, *again = &again_list;

	if (buf == NULL) {
		return;
	}
	if (lwm2m_link_format(l, buf, len + 1, NULL) != LWM2M_OK ||
	    lwm2m_link_parse_in(buf, len, l->n_links, &space, again, NULL, 0) !=
	        LWM2M_OK ||
	    again->n_links != l->n_links) {
		abort();
	}
	len2 = lwm2m_link_format_len(again);
	buf2 = malloc(len2 + 1);
	if (buf2 != NULL) {
		if (lwm2m_link_format(again, buf2, len2 + 1, NULL) !=
		        LWM2M_OK ||
		    len2 != len || memcmp(buf, buf2, len) != 0) {
			abort();
		}
		free(buf2);
	}
	lwm2m_link_list_fini(again, &space);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lwm2m_link_list *l = NULL;
	struct gw_reg_links links;
	char diag[GW_DIAG_MAX];

	if (lwm2m_link_parse((const char *)data, size, 64, &l, diag,
	                     sizeof diag) == LWM2M_OK) {
		roundtrip(l);
		lwm2m_link_list_free(l);
	}
	if (gw_reg_links_parse((const char *)data, size, &links, diag,
	                       sizeof diag) == LWM2M_OK) {
		if (strlen(links.objs) > links.n_objs * 32) {
			abort();
		}
		gw_reg_links_fini(&links);
	}
	return 0;
}
