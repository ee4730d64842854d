/* sim_wire.c - CoAP datagrams to and from libcoap PDUs for the shared-socket
 * transport (sim_udp.c), through libcoap's public accessors only. */
#include "sim_int.h"

#include <string.h>

/* Block option value: NUM (up to 20 bits), M, SZX (RFC 7959 section 2.2). */
static unsigned
block_value(unsigned num, bool more, unsigned szx)
{
	return num << 4 | (more ? 8u : 0u) | szx;
}

coap_pdu_t *
sim_wire_parse(const uint8_t *data, size_t len)
{
	coap_pdu_t *pdu;

	/* RFC 7252 3: version 1, token of at most 8 bytes. */
	if (len < 4 || len > SIM_WIRE_RX_MAX || (data[0] >> 6) != 1 ||
	    (data[0] & 0x0f) > 8) {
		return NULL;
	}
	pdu = coap_pdu_init(COAP_MESSAGE_CON, 0, 0, len);
	if (pdu == NULL) {
		return NULL;
	}
	if (coap_pdu_parse(COAP_PROTO_UDP, data, len, pdu) == 0) {
		coap_delete_pdu(pdu);
		return NULL;
	}
	return pdu;
}

/* put_options writes the options of pdu at buf + *off (delta encoded, in
 * the ascending order libcoap keeps them in). */
static lwm2m_err
put_options(const coap_pdu_t *pdu, uint8_t *buf, size_t size, size_t *off)
{
	coap_opt_iterator_t it;
	coap_opt_t *opt;
	uint16_t prev = 0;

	coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
	while ((opt = coap_option_next(&it)) != NULL) {
		size_t n = coap_opt_encode(
		    buf + *off, size - *off, (uint16_t)(it.number - prev),
		    coap_opt_value(opt), coap_opt_length(opt));

		if (n == 0) {
			return LWM2M_ELIMIT;
		}
		*off += n;
		prev = it.number;
	}
	return LWM2M_OK;
}

lwm2m_err
sim_wire_encode(const coap_pdu_t *pdu, uint8_t *buf, size_t size,
                size_t *ret_len)
{
	coap_bin_const_t tok = coap_pdu_get_token(pdu);
	coap_mid_t mid = coap_pdu_get_mid(pdu);
	const uint8_t *data = NULL;
	size_t off = 4 + tok.length, dlen = 0;

	if (tok.length > 8 || size < off) {
		return LWM2M_ELIMIT;
	}
	buf[0] =
	    (uint8_t)(0x40 | (coap_pdu_get_type(pdu) & 3) << 4 | tok.length);
	buf[1] = (uint8_t)coap_pdu_get_code(pdu);
	buf[2] = (uint8_t)((unsigned)mid >> 8);
	buf[3] = (uint8_t)mid;
	if (tok.length > 0) {
		memcpy(buf + 4, tok.s, tok.length);
	}
	if (put_options(pdu, buf, size, &off) != LWM2M_OK) {
		return LWM2M_ELIMIT;
	}
	if (coap_get_data(pdu, &dlen, &data) && dlen > 0) {
		if (size - off < dlen + 1) {
			return LWM2M_ELIMIT;
		}
		buf[off++] = 0xff;
		memcpy(buf + off, data, dlen);
		off += dlen;
	}
	*ret_len = off;
	return LWM2M_OK;
}

/* add_uint_option adds option num with the shortest encoding of v. */
static bool
add_uint_option(coap_pdu_t *pdu, coap_option_num_t num, unsigned v)
{
	uint8_t b[4];

	return coap_add_option(pdu, num, coap_encode_var_safe(b, sizeof b, v),
	                       b) > 0;
}

coap_pdu_code_t
sim_wire_add_body(const coap_pdu_t *req, coap_pdu_t *resp, uint16_t fmt,
                  const uint8_t *body, size_t len)
{
	coap_block_t b;
	bool asked = coap_get_block(req, COAP_OPTION_BLOCK2, &b) == 1;
	size_t size, off;
	bool more;

	if (!asked) {
		/* coap_get_block() zeroes b when there is no Block2 */
		b.num = 0;
		b.szx = SIM_WIRE_SZX;
	}
	if (!add_uint_option(resp, COAP_OPTION_CONTENT_FORMAT, fmt)) {
		return COAP_RESPONSE_CODE_INTERNAL_ERROR;
	}
	if (!asked && len <= SIM_WIRE_BLOCK) {
		return len == 0 || coap_add_data(resp, len, body) == 1
		           ? 0
		           : COAP_RESPONSE_CODE_INTERNAL_ERROR;
	}
	b.szx = b.szx > SIM_WIRE_SZX ? SIM_WIRE_SZX : b.szx;
	size = (size_t)1 << (b.szx + 4);
	off = (size_t)b.num * size;
	if (b.num > 0 && off >= len) {
		return COAP_RESPONSE_CODE_BAD_OPTION;
	}
	more = off + size < len;
	if (!add_uint_option(resp, COAP_OPTION_BLOCK2,
	                     block_value(b.num, more, b.szx)) ||
	    !add_uint_option(resp, COAP_OPTION_SIZE2, (unsigned)len) ||
	    (len > off &&
	     coap_add_data(resp, more ? size : len - off, body + off) != 1)) {
		return COAP_RESPONSE_CODE_INTERNAL_ERROR;
	}
	return 0;
}

bool
sim_wire_add_block1(coap_pdu_t *resp, unsigned num, bool more, unsigned szx)
{
	return add_uint_option(resp, COAP_OPTION_BLOCK1,
	                       block_value(num, more, szx));
}
