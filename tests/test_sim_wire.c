/* Unit tests of lwds-sim's datagram codec for the shared sockets
 * (sim_wire.c): libcoap PDUs encoded from public accessors, parsed back. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

/* A GET /3/0?a=b, Accept 11542, Observe 0, token 01020304, mid 0x1234,
 * with a payload "hi", written out by hand from RFC 7252 section 3. */
static const uint8_t get_bytes[] = {0x44, 0x01, 0x12, 0x34,
                                    0x01, 0x02, 0x03, 0x04, /* header, token */
                                    0x60,      /* Observe 6, empty */
                                    0x51, '3', /* Uri-Path 11 */
                                    0x01, '0', /* Uri-Path 11 */
                                    0x43, 'a',  '=',  'b', /* Uri-Query 15 */
                                    0x22, 0x2d, 0x16, /* Accept 17: 11542 */
                                    0xff, 'h',  'i'};

START_TEST(test_sim_wire_encode_round_trip)
{
	coap_pdu_t *pdu = sim_wire_parse(get_bytes, sizeof get_bytes);
	uint8_t buf[64];
	size_t len;
	bool present;

	ck_assert_ptr_nonnull(pdu);
	ck_assert_int_eq(coap_pdu_get_type(pdu), COAP_MESSAGE_CON);
	ck_assert_int_eq(coap_pdu_get_code(pdu), COAP_REQUEST_CODE_GET);
	ck_assert_int_eq(coap_pdu_get_mid(pdu), 0x1234);
	ck_assert_uint_eq(sim_opt_uint(pdu, COAP_OPTION_ACCEPT, &present),
	                  11542);
	ck_assert_int_eq(sim_wire_encode(pdu, buf, sizeof buf, &len), LWM2M_OK);
	ck_assert_uint_eq(len, sizeof get_bytes);
	ck_assert_mem_eq(buf, get_bytes, len);
	ck_assert_int_eq(sim_wire_encode(pdu, buf, len - 1, &len),
	                 LWM2M_ELIMIT);
	coap_delete_pdu(pdu);
}
END_TEST

START_TEST(test_sim_wire_encode_built_out_of_order)
{
	coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_ACK,
	                                COAP_RESPONSE_CODE_CHANGED, 7, 1152);
	coap_pdu_t *back;
	uint8_t buf[64];
	size_t len, dlen;
	const uint8_t *data;
	bool present;

	/* Block1 first, then lower options: what serve_block1 does */
	ck_assert(sim_wire_add_block1(pdu, 3, false, 6));
	ck_assert_uint_gt(coap_add_option(pdu, COAP_OPTION_LOCATION_PATH, 1,
	                                  (const uint8_t *)"5"),
	                  0);
	ck_assert_int_eq(coap_add_data(pdu, 2, (const uint8_t *)"ok"), 1);
	ck_assert_int_eq(sim_wire_encode(pdu, buf, sizeof buf, &len), LWM2M_OK);
	back = sim_wire_parse(buf, len);
	ck_assert_ptr_nonnull(back);
	ck_assert_uint_eq(sim_opt_uint(back, COAP_OPTION_BLOCK1, &present),
	                  3 << 4 | 6);
	ck_assert(present);
	sim_opt_uint(back, COAP_OPTION_LOCATION_PATH, &present);
	ck_assert(present);
	ck_assert(coap_get_data(back, &dlen, &data));
	ck_assert_uint_eq(dlen, 2);
	ck_assert_int_eq(coap_pdu_get_mid(back), 7);
	ck_assert_int_eq(coap_pdu_get_type(back), COAP_MESSAGE_ACK);
	coap_delete_pdu(back);
	coap_delete_pdu(pdu);
}
END_TEST

START_TEST(test_sim_wire_parse_rejects)
{
	static const uint8_t short_msg[] = {0x40, 0x01, 0x00};
	static const uint8_t version2[] = {0x80, 0x01, 0x00, 0x01};
	static const uint8_t token9[] = {0x49, 0x01, 0x00, 0x01, 1, 2, 3,
	                                 4,    5,    6,    7,    8, 9};
	static const uint8_t opt_past_end[] = {0x40, 0x01, 0x00,
	                                       0x01, 0xb5, 'a'};
	static const uint8_t marker_only[] = {0x40, 0x01, 0x00, 0x01, 0xff};
	uint8_t huge[SIM_WIRE_RX_MAX + 1] = {0x40, 0x01, 0x00, 0x01};

	ck_assert_ptr_null(sim_wire_parse(short_msg, sizeof short_msg));
	ck_assert_ptr_null(sim_wire_parse(version2, sizeof version2));
	ck_assert_ptr_null(sim_wire_parse(token9, sizeof token9));
	ck_assert_ptr_null(sim_wire_parse(opt_past_end, sizeof opt_past_end));
	ck_assert_ptr_null(sim_wire_parse(marker_only, sizeof marker_only));
	ck_assert_ptr_null(sim_wire_parse(huge, sizeof huge));
}
END_TEST

/* body_of answers req with a body of n bytes (byte i is i % 251) and
 * returns the answer parsed back from its datagram. */
static coap_pdu_t *
body_of(const coap_pdu_t *req, size_t n, coap_pdu_code_t *ret_code)
{
	uint8_t *body = malloc(n), buf[SIM_WIRE_PDU_MAX];
	coap_pdu_t *resp = coap_pdu_init(
	    COAP_MESSAGE_ACK, COAP_RESPONSE_CODE_CONTENT, 1, SIM_WIRE_PDU_MAX);
	coap_pdu_t *back = NULL;
	size_t len;

	for (size_t i = 0; i < n; i++) {
		body[i] = (uint8_t)(i % 251);
	}
	*ret_code = sim_wire_add_body(req, resp, 11542, body, n);
	if (*ret_code == 0 &&
	    sim_wire_encode(resp, buf, sizeof buf, &len) == LWM2M_OK) {
		back = sim_wire_parse(buf, len);
	}
	free(body);
	coap_delete_pdu(resp);
	return back;
}

static coap_pdu_t *
get_with_block2(unsigned value)
{
	coap_pdu_t *req =
	    coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, 1, 64);
	uint8_t v[4];

	coap_add_option(req, COAP_OPTION_BLOCK2,
	                coap_encode_var_safe(v, sizeof v, value), v);
	return req;
}

START_TEST(test_sim_wire_add_body_blocks)
{
	coap_pdu_t *plain =
	    coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, 1, 64);
	coap_pdu_t *req, *back;
	coap_pdu_code_t code;
	const uint8_t *data;
	size_t dlen;
	bool present;

	back = body_of(plain, 300, &code); /* fits: no Block2 */
	ck_assert_ptr_nonnull(back);
	sim_opt_uint(back, COAP_OPTION_BLOCK2, &present);
	ck_assert(!present);
	ck_assert_uint_eq(
	    sim_opt_uint(back, COAP_OPTION_CONTENT_FORMAT, &present), 11542);
	ck_assert(coap_get_data(back, &dlen, &data));
	ck_assert_uint_eq(dlen, 300);
	coap_delete_pdu(back);

	back = body_of(plain, 2500, &code); /* block 0 of 1024, more */
	ck_assert_uint_eq(sim_opt_uint(back, COAP_OPTION_BLOCK2, &present),
	                  0 << 4 | 8 | 6);
	ck_assert_uint_eq(sim_opt_uint(back, COAP_OPTION_SIZE2, &present),
	                  2500);
	ck_assert(coap_get_data(back, &dlen, &data));
	ck_assert_uint_eq(dlen, 1024);
	coap_delete_pdu(back);

	req = get_with_block2(2 << 4 | 6); /* the last block: 452 bytes */
	back = body_of(req, 2500, &code);
	ck_assert_uint_eq(sim_opt_uint(back, COAP_OPTION_BLOCK2, &present),
	                  2 << 4 | 6);
	ck_assert(coap_get_data(back, &dlen, &data));
	ck_assert_uint_eq(dlen, 452);
	ck_assert_uint_eq(data[0], 2048 % 251);
	coap_delete_pdu(back);
	coap_delete_pdu(req);

	req = get_with_block2(1 << 4 | 2); /* 64-byte blocks: the second */
	back = body_of(req, 2500, &code);
	ck_assert(coap_get_data(back, &dlen, &data));
	ck_assert_uint_eq(dlen, 64);
	ck_assert_uint_eq(data[0], 64);
	coap_delete_pdu(back);
	coap_delete_pdu(req);

	req = get_with_block2(3 << 4 | 6); /* past the end */
	ck_assert_ptr_null(body_of(req, 2500, &code));
	ck_assert_int_eq(code, COAP_RESPONSE_CODE_BAD_OPTION);
	coap_delete_pdu(req);
	coap_delete_pdu(plain);
}
END_TEST

static Suite *
sim_wire_suite(void)
{
	Suite *s = suite_create("sim_wire");
	TCase *tc = tcase_create("sim_wire_encode");

	tcase_add_test(tc, test_sim_wire_encode_round_trip);
	tcase_add_test(tc, test_sim_wire_encode_built_out_of_order);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_wire_parse");
	tcase_add_test(tc, test_sim_wire_parse_rejects);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_wire_add_body");
	tcase_add_test(tc, test_sim_wire_add_body_blocks);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	coap_startup();
	coap_set_log_level(LOG_EMERG);
	sr = srunner_create(sim_wire_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	coap_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
