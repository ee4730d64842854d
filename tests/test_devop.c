/* Unit tests of lwm2m_devop: the LWM2M_ENV_RPC_DEVICE payloads. */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include "lwm2m_devop.h"

#define CLIENT "pFRn92gTAIJLwFeC0-IsFA"
#define OPID "AAAAAAAAAAAAAAAAAAAAAQ"

static void
sample_write(struct lwm2m_devop_req *req)
{
	static const uint8_t body[] = {0x81, 0xa2, 0x00, 0x63, 0x2f, 0x31};

	memset(req, 0, sizeof *req);
	req->op = LWM2M_DEVOP_WRITE_REPLACE;
	req->flags = LWM2M_DEVOP_F_CT | LWM2M_DEVOP_F_SINGLE;
	strcpy(req->client, CLIENT);
	strcpy(req->opid, OPID);
	req->ct = 112;
	req->wait_ms = 30000;
	req->n_paths = 1;
	req->paths[0] = (struct lwm2m_path){3, {3303, 0, 5700}};
	req->payload = body;
	req->payload_len = sizeof body;
}

START_TEST(test_lwm2m_devop_req_encode_roundtrip)
{
	struct lwm2m_devop_req req, out;
	uint8_t *buf;
	size_t len;

	sample_write(&req);
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len), LWM2M_OK);
	ck_assert_int_eq(lwm2m_devop_req_decode(buf, len, &out), LWM2M_OK);
	ck_assert_int_eq(out.op, LWM2M_DEVOP_WRITE_REPLACE);
	ck_assert_uint_eq(out.flags, req.flags);
	ck_assert_str_eq(out.client, CLIENT);
	ck_assert_str_eq(out.opid, OPID);
	ck_assert_uint_eq(out.ct, 112);
	ck_assert_uint_eq(out.wait_ms, 30000);
	ck_assert_uint_eq(out.n_paths, 1);
	ck_assert_uint_eq(out.paths[0].len, 3);
	ck_assert_uint_eq(out.paths[0].ids[2], 5700);
	ck_assert_uint_eq(out.payload_len, req.payload_len);
	ck_assert_mem_eq(out.payload, req.payload, req.payload_len);
	free(buf);
}
END_TEST

START_TEST(test_lwm2m_devop_req_encode_rejects)
{
	struct lwm2m_devop_req req;
	uint8_t *buf;
	size_t len;

	sample_write(&req);
	req.flags = 0; /* a write without a content format */
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len),
	                 LWM2M_EINVAL);
	sample_write(&req);
	req.op = LWM2M_DEVOP_EXECUTE;
	req.paths[0].len = 2;
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len),
	                 LWM2M_EINVAL);
	sample_write(&req);
	strcpy(req.client, "short");
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len),
	                 LWM2M_EINVAL);
	sample_write(&req);
	req.op = LWM2M_DEVOP_WRITE_ATTRIBUTES;
	req.query = "pmin=1&foo=2";
	req.query_len = strlen(req.query);
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len),
	                 LWM2M_EINVAL);
	sample_write(&req);
	req.token_len = 9;
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len),
	                 LWM2M_EINVAL);
}
END_TEST

START_TEST(test_lwm2m_devop_req_decode_composite)
{
	struct lwm2m_devop_req req, out;
	uint8_t *buf;
	size_t len;
	int i;

	memset(&req, 0, sizeof req);
	req.op = LWM2M_DEVOP_READ_COMPOSITE;
	strcpy(req.client, CLIENT);
	req.n_paths = LWM2M_DEVOP_MAX_PATHS;
	for (i = 0; i < LWM2M_DEVOP_MAX_PATHS; i++) {
		req.paths[i] = (struct lwm2m_path){2, {3, (uint16_t)i}};
	}
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len), LWM2M_OK);
	ck_assert_int_eq(lwm2m_devop_req_decode(buf, len, &out), LWM2M_OK);
	ck_assert_uint_eq(out.n_paths, LWM2M_DEVOP_MAX_PATHS);
	ck_assert_uint_eq(out.paths[63].ids[1], 63);
	ck_assert_str_eq(out.opid, "");
	free(buf);
}
END_TEST

START_TEST(test_lwm2m_devop_req_encode_then_execute)
{
	struct lwm2m_devop_req req, out;
	uint8_t *buf;
	size_t len;

	sample_write(&req);
	req.op = LWM2M_DEVOP_WRITE_UPDATE;
	req.flags = LWM2M_DEVOP_F_CT | LWM2M_DEVOP_F_THEN_EXECUTE;
	req.n_paths = 3;
	req.paths[0] = (struct lwm2m_path){2, {3303, 0}};
	req.paths[1] = (struct lwm2m_path){3, {3303, 0, 5605}};
	req.paths[2] = (struct lwm2m_path){3, {3303, 0, 5606}};
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len), LWM2M_OK);
	ck_assert_int_eq(lwm2m_devop_req_decode(buf, len, &out), LWM2M_OK);
	ck_assert_uint_eq(out.n_paths, 3);
	ck_assert_uint_eq(out.paths[2].ids[2], 5606);
	free(buf);
	/* the executes must be resources of the written instance */
	req.paths[2] = (struct lwm2m_path){3, {3303, 1, 5605}};
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len),
	                 LWM2M_EINVAL);
	req.paths[2] = (struct lwm2m_path){2, {3303, 0}};
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len),
	                 LWM2M_EINVAL);
	/* nothing to execute after the write */
	req.n_paths = 1;
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len),
	                 LWM2M_EINVAL);
	/* executes only: no arguments */
	memset(&req, 0, sizeof req);
	req.op = LWM2M_DEVOP_EXECUTE;
	req.flags = LWM2M_DEVOP_F_THEN_EXECUTE;
	strcpy(req.client, CLIENT);
	req.n_paths = 2;
	req.paths[0] = (struct lwm2m_path){3, {3303, 0, 5605}};
	req.paths[1] = (struct lwm2m_path){3, {3303, 0, 5605}};
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len), LWM2M_OK);
	free(buf);
	req.payload = (const uint8_t *)"1";
	req.payload_len = 1;
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len),
	                 LWM2M_EINVAL);
	/* not for other operations */
	req.payload_len = 0;
	req.op = LWM2M_DEVOP_READ;
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len),
	                 LWM2M_EINVAL);
}
END_TEST

START_TEST(test_lwm2m_devop_req_decode_rejects)
{
	struct lwm2m_devop_req req, out;
	uint8_t *buf, *copy;
	size_t len, cut;

	sample_write(&req);
	ck_assert_int_eq(lwm2m_devop_req_encode(&req, &buf, &len), LWM2M_OK);
	for (cut = 0; cut < len; cut++) {
		ck_assert_int_eq(lwm2m_devop_req_decode(buf, cut, &out),
		                 LWM2M_EPROTO);
	}
	copy = malloc(len + 1);
	memcpy(copy, buf, len);
	copy[len] = 0;
	ck_assert_int_eq(lwm2m_devop_req_decode(copy, len + 1, &out),
	                 LWM2M_EPROTO);
	copy[0] = 2; /* version */
	ck_assert_int_eq(lwm2m_devop_req_decode(copy, len, &out), LWM2M_EPROTO);
	copy[0] = 1;
	copy[1] = 99; /* op */
	ck_assert_int_eq(lwm2m_devop_req_decode(copy, len, &out), LWM2M_EPROTO);
	copy[1] = LWM2M_DEVOP_WRITE_REPLACE;
	copy[3] = 0x80; /* unknown flag */
	ck_assert_int_eq(lwm2m_devop_req_decode(copy, len, &out), LWM2M_EPROTO);
	copy[3] = (uint8_t)req.flags;
	copy[4] = '!'; /* client id */
	ck_assert_int_eq(lwm2m_devop_req_decode(copy, len, &out), LWM2M_EPROTO);
	free(copy);
	free(buf);
}
END_TEST

START_TEST(test_lwm2m_devop_reply_encode_roundtrip)
{
	struct lwm2m_devop_reply reply, out;
	uint8_t *buf;
	size_t len;

	memset(&reply, 0, sizeof reply);
	reply.status = LWM2M_DEVOP_ST_OK;
	reply.code = 0x41;
	reply.flags = LWM2M_DEVOP_RF_CT;
	reply.ct = 11542;
	reply.observe = 7;
	reply.token_len = 4;
	memcpy(reply.token, "\x01\x02\x03\x04", 4);
	reply.location = "/3303/1";
	reply.location_len = 7;
	reply.payload = (const uint8_t *)"\xc8\x00\x01\x41";
	reply.payload_len = 4;
	ck_assert_int_eq(lwm2m_devop_reply_encode(&reply, &buf, &len),
	                 LWM2M_OK);
	ck_assert_int_eq(lwm2m_devop_reply_decode(buf, len, &out), LWM2M_OK);
	ck_assert_int_eq(out.status, LWM2M_DEVOP_ST_OK);
	ck_assert_uint_eq(out.code, 0x41);
	ck_assert_uint_eq(out.ct, 11542);
	ck_assert_uint_eq(out.observe, 7);
	ck_assert_uint_eq(out.token_len, 4);
	ck_assert_mem_eq(out.token, reply.token, 4);
	ck_assert_uint_eq(out.location_len, 7);
	ck_assert_mem_eq(out.location, "/3303/1", 7);
	ck_assert_uint_eq(out.message_len, 0);
	ck_assert_mem_eq(out.payload, reply.payload, 4);
	free(buf);
	reply.message_len = LWM2M_DEVOP_MAX_MESSAGE + 1;
	ck_assert_int_eq(lwm2m_devop_reply_encode(&reply, &buf, &len),
	                 LWM2M_EINVAL);
}
END_TEST

START_TEST(test_lwm2m_devop_reply_decode_rejects)
{
	struct lwm2m_devop_reply reply, out;
	uint8_t *buf;
	size_t len, cut;

	memset(&reply, 0, sizeof reply);
	reply.status = LWM2M_DEVOP_ST_TIMEOUT;
	reply.message = "device timeout";
	reply.message_len = 14;
	ck_assert_int_eq(lwm2m_devop_reply_encode(&reply, &buf, &len),
	                 LWM2M_OK);
	for (cut = 0; cut < len; cut++) {
		ck_assert_int_eq(lwm2m_devop_reply_decode(buf, cut, &out),
		                 LWM2M_EPROTO);
	}
	buf[1] = LWM2M_DEVOP_ST_MAX;
	ck_assert_int_eq(lwm2m_devop_reply_decode(buf, len, &out),
	                 LWM2M_EPROTO);
	buf[1] = LWM2M_DEVOP_ST_TIMEOUT;
	buf[3] = 0x2;
	ck_assert_int_eq(lwm2m_devop_reply_decode(buf, len, &out),
	                 LWM2M_EPROTO);
	free(buf);
}
END_TEST

START_TEST(test_lwm2m_devop_query_valid_cases)
{
	ck_assert(lwm2m_devop_query_valid("", 0));
	ck_assert(lwm2m_devop_query_valid("pmin=10&pmax=60", 15));
	ck_assert(lwm2m_devop_query_valid("gt=-20.125&lt=1&st=0.5", 22));
	ck_assert(lwm2m_devop_query_valid("pmin", 4));
	ck_assert(lwm2m_devop_query_valid("epmin=1&epmax=2", 15));
	ck_assert(!lwm2m_devop_query_valid("pmin=", 5));
	ck_assert(!lwm2m_devop_query_valid("pmin=1.", 7));
	ck_assert(!lwm2m_devop_query_valid("pmin=1e3", 8));
	ck_assert(!lwm2m_devop_query_valid("pmin=1&", 7));
	ck_assert(!lwm2m_devop_query_valid("&pmin=1", 7));
	ck_assert(!lwm2m_devop_query_valid("x=1", 3));
}
END_TEST

START_TEST(test_lwm2m_devop_op_name_all)
{
	int op;

	for (op = LWM2M_DEVOP_READ; op < LWM2M_DEVOP_OP_MAX; op++) {
		ck_assert_str_ne(lwm2m_devop_op_name((enum lwm2m_devop_op)op),
		                 "?");
	}
	ck_assert_str_eq(lwm2m_devop_op_name(LWM2M_DEVOP_OP_MAX), "?");
	ck_assert_str_eq(lwm2m_devop_status_name(LWM2M_DEVOP_ST_TIMEOUT),
	                 "device timeout");
}
END_TEST

START_TEST(test_lwm2m_devop_notify_encode_roundtrip)
{
	struct lwm2m_devop_notify n, out;
	uint8_t *buf;
	size_t len, cut;

	memset(&n, 0, sizeof n);
	strcpy(n.client, CLIENT);
	n.code = 0x45;
	n.flags = LWM2M_DEVOP_RF_CT;
	n.ct = 112;
	n.observe = 0xabcdef;
	n.org = 42;
	n.ts = 1795606686695;
	n.token_len = 8;
	memcpy(n.token, "12345678", 8);
	n.path = (struct lwm2m_path){3, {3303, 0, 5700}};
	n.payload = (const uint8_t *)"\x81\xa1";
	n.payload_len = 2;
	ck_assert_int_eq(lwm2m_devop_notify_encode(&n, &buf, &len), LWM2M_OK);
	ck_assert_int_eq(lwm2m_devop_notify_decode(buf, len, &out), LWM2M_OK);
	ck_assert_str_eq(out.client, CLIENT);
	ck_assert_uint_eq(out.observe, 0xabcdef);
	ck_assert_int_eq(out.org, 42);
	ck_assert_int_eq(out.ts, 1795606686695);
	ck_assert_uint_eq(out.path.len, 3);
	ck_assert_uint_eq(out.path.ids[2], 5700);
	ck_assert_mem_eq(out.token, "12345678", 8);
	ck_assert_mem_eq(out.payload, "\x81\xa1", 2);
	for (cut = 0; cut < len; cut++) {
		ck_assert_int_eq(lwm2m_devop_notify_decode(buf, cut, &out),
		                 LWM2M_EPROTO);
	}
	free(buf);
	n.token_len = 0;
	ck_assert_int_eq(lwm2m_devop_notify_encode(&n, &buf, &len),
	                 LWM2M_EINVAL);
}
END_TEST

static Suite *
devop_suite(void)
{
	Suite *s = suite_create("lwm2m_devop");
	TCase *tc;

	tc = tcase_create("lwm2m_devop_req_encode");
	tcase_add_test(tc, test_lwm2m_devop_req_encode_roundtrip);
	tcase_add_test(tc, test_lwm2m_devop_req_encode_rejects);
	tcase_add_test(tc, test_lwm2m_devop_req_encode_then_execute);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_devop_req_decode");
	tcase_add_test(tc, test_lwm2m_devop_req_decode_composite);
	tcase_add_test(tc, test_lwm2m_devop_req_decode_rejects);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_devop_reply_encode");
	tcase_add_test(tc, test_lwm2m_devop_reply_encode_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_devop_reply_decode");
	tcase_add_test(tc, test_lwm2m_devop_reply_decode_rejects);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_devop_notify_encode");
	tcase_add_test(tc, test_lwm2m_devop_notify_encode_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_devop_query_valid");
	tcase_add_test(tc, test_lwm2m_devop_query_valid_cases);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_devop_op_name");
	tcase_add_test(tc, test_lwm2m_devop_op_name_all);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(devop_suite());
}
