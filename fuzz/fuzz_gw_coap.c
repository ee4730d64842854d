/* libFuzzer target for the CoAP request handling of coap-gw: the input is
 * one datagram; libcoap parses it into a PDU, then the gateway routes it
 * and parses its query and registration payload (gw_coap_parse), and a
 * successful Register/Update is turned into a record / update the way the
 * Redis flows do.  No sockets and no Redis. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "lwm2m_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
decide(struct gw_request *req)
{
	struct gw_record rec;
	struct gw_update upd;

	if (req->op == GW_OP_REGISTER) {
		memset(&rec, 0, sizeof rec);
		gw_reg_build_register(&req->q, req->has_links ? &req->links : NULL,
		                      1000, &rec);
		gw_record_fini(&rec);
		(void)gw_reg_decide_register(false);
		return;
	}
	gw_reg_build_update(&req->q, req->has_links ? &req->links : NULL, 60,
	                    false, 1000, &upd);
	free(upd.objs);
	(void)gw_reg_decide_update(true, GW_STATE_REGISTERED, 5000, false,
	                           req->deregister, 1000);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool started;
	coap_pdu_t *request, *response;
	struct gw_request req;

	if (!started) {
		coap_startup();
		coap_set_log_level(LOG_EMERG);
		lwm2m_log_level = 0;
		started = true;
	}
	request = coap_pdu_init(0, 0, 0, size + 16);
	response = coap_pdu_init(COAP_MESSAGE_ACK, 0, 0, 1152);
	if (request != NULL && response != NULL &&
	    coap_pdu_parse(COAP_PROTO_UDP, data, size, request) &&
	    gw_coap_parse(request, &req, response)) {
		decide(&req);
		gw_reg_links_fini(&req.links);
	}
	coap_delete_pdu(request);
	coap_delete_pdu(response);
	return 0;
}
