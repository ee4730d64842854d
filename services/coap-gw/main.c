/* lwds-coap-gw: thin main around gateway_lib (see gw.h). */
#include <stdlib.h>

#include <coap3/coap.h>
#include <event2/event.h>

#include "gw.h"
#include "lwm2m_log.h"

int
main(int argc, char **argv)
{
	struct gw_config cfg;
	struct event_base *base;
	struct gw_ctx *gw = NULL;
	bool help;
	lwm2m_err err;

	if (gw_config_init(&cfg, argc, argv, &help) != LWM2M_OK) {
		return 2;
	}
	if (help) {
		return 0;
	}
	lwm2m_log_init("coap-gw", cfg.log_level);
	lwm2m_log_set_json(cfg.log_json);
	coap_startup();
	gw_coap_log_init(cfg.log_level);
	base = event_base_new();
	if (base == NULL) {
		return 1;
	}
	err = gw_new(base, &cfg, &gw);
	if (err == LWM2M_OK) {
		event_base_dispatch(base);
	} else {
		lwm2m_log(LWM2M_LOG_ERR, "cannot start: %s",
		          lwm2m_strerror(err));
	}
	gw_free(gw);
	event_base_free(base);
	coap_cleanup();
	return err == LWM2M_OK ? 0 : 1;
}
