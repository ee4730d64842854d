/* libFuzzer target for the datagram codec of lwds-sim's shared sockets
 * (tools/sim/sim_wire.c): the input is one datagram from the server.  What
 * parses is encoded again from libcoap's accessors, parsed back and encoded
 * once more (the two encodings must be equal), and answered with a body
 * sliced by the Block2 option it carries.  No sockets. */
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
answer(const coap_pdu_t *req)
{
	static uint8_t body[3000];
	coap_pdu_t *resp = coap_pdu_init(
	    COAP_MESSAGE_ACK, COAP_RESPONSE_CODE_CONTENT, 1, SIM_WIRE_PDU_MAX);
	uint8_t buf[SIM_WIRE_PDU_MAX];
	size_t len;

	if (resp == NULL) {
		return;
	}
	if (sim_wire_add_body(req, resp, 11542, body, sizeof body) == 0 &&
	    sim_wire_encode(resp, buf, sizeof buf, &len) != LWM2M_OK) {
		abort(); /* a Block2 slice always fits in one datagram */
	}
	coap_delete_pdu(resp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool started;
	static uint8_t once[SIM_WIRE_RX_MAX], twice[SIM_WIRE_RX_MAX];
	coap_pdu_t *pdu, *back;
	size_t n1, n2;

	if (!started) {
		coap_startup();
		coap_set_log_level(LOG_EMERG);
		started = true;
	}
	pdu = sim_wire_parse(data, size);
	if (pdu == NULL) {
		return 0;
	}
	if (sim_wire_encode(pdu, once, sizeof once, &n1) != LWM2M_OK ||
	    (back = sim_wire_parse(once, n1)) == NULL) {
		abort(); /* what parsed must encode and parse again */
	}
	if (sim_wire_encode(back, twice, sizeof twice, &n2) != LWM2M_OK ||
	    n1 != n2 || memcmp(once, twice, n1) != 0) {
		abort();
	}
	answer(pdu);
	coap_delete_pdu(back);
	coap_delete_pdu(pdu);
	return 0;
}
