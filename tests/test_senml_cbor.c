/* Unit tests of SenML CBOR, content format 112 (lwm2m_senml_cbor.c).  The
 * Device object vector is the SenML example of LwM2M 1.1 Core 7.4.5 (Read
 * /3/0) with the CBOR labels of RFC 8428 table 6, checked byte by byte:
 * 90 = array of 16 records, a3 = map of 3, 21 = label -2 (bn),
 * 65 "/3/0/", 00 = n, 61 "0", 03 = vs, 74 "Open Mobile Alliance", ... */
#include <check.h>

#include "check_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_cbor.h"

static const uint8_t senml_device[] = {
    0x90, 0xa3, 0x21, 0x65, 0x2f, 0x33, 0x2f, 0x30, 0x2f, 0x00, 0x61, 0x30,
    0x03, 0x74, 0x4f, 0x70, 0x65, 0x6e, 0x20, 0x4d, 0x6f, 0x62, 0x69, 0x6c,
    0x65, 0x20, 0x41, 0x6c, 0x6c, 0x69, 0x61, 0x6e, 0x63, 0x65, 0xa2, 0x00,
    0x61, 0x31, 0x03, 0x76, 0x4c, 0x69, 0x67, 0x68, 0x74, 0x77, 0x65, 0x69,
    0x67, 0x68, 0x74, 0x20, 0x4d, 0x32, 0x4d, 0x20, 0x43, 0x6c, 0x69, 0x65,
    0x6e, 0x74, 0xa2, 0x00, 0x61, 0x32, 0x03, 0x69, 0x33, 0x34, 0x35, 0x30,
    0x30, 0x30, 0x31, 0x32, 0x33, 0xa2, 0x00, 0x61, 0x33, 0x03, 0x63, 0x31,
    0x2e, 0x30, 0xa2, 0x00, 0x63, 0x36, 0x2f, 0x30, 0x02, 0x01, 0xa2, 0x00,
    0x63, 0x36, 0x2f, 0x31, 0x02, 0x05, 0xa2, 0x00, 0x63, 0x37, 0x2f, 0x30,
    0x02, 0x19, 0x0e, 0xd8, 0xa2, 0x00, 0x63, 0x37, 0x2f, 0x31, 0x02, 0x19,
    0x13, 0x88, 0xa2, 0x00, 0x63, 0x38, 0x2f, 0x30, 0x02, 0x18, 0x7d, 0xa2,
    0x00, 0x63, 0x38, 0x2f, 0x31, 0x02, 0x19, 0x03, 0x84, 0xa2, 0x00, 0x61,
    0x39, 0x02, 0x18, 0x64, 0xa2, 0x00, 0x62, 0x31, 0x30, 0x02, 0x0f, 0xa2,
    0x00, 0x64, 0x31, 0x31, 0x2f, 0x30, 0x02, 0x00, 0xa2, 0x00, 0x62, 0x31,
    0x33, 0x02, 0x1a, 0x51, 0x82, 0x42, 0x8f, 0xa2, 0x00, 0x62, 0x31, 0x34,
    0x03, 0x66, 0x2b, 0x30, 0x32, 0x3a, 0x30, 0x30, 0xa2, 0x00, 0x62, 0x31,
    0x36, 0x03, 0x61, 0x55,
};

/* The Device object instance of the LwM2M specification's examples (the
 * TLV/JSON/SenML examples of Core 7.4), as the CBOR decoders type it. */
static void
device_tree(struct lwm2m_tree *t)
{
	static const struct {
		uint16_t r, ri;
		bool multi;
		const char *s;
		int64_t i;
	} v[] = {
	    {0, 0, false, "Open Mobile Alliance", 0},
	    {1, 0, false, "Lightweight M2M Client", 0},
	    {2, 0, false, "345000123", 0},
	    {3, 0, false, "1.0", 0},
	    {6, 0, true, NULL, 1},
	    {6, 1, true, NULL, 5},
	    {7, 0, true, NULL, 3800},
	    {7, 1, true, NULL, 5000},
	    {8, 0, true, NULL, 125},
	    {8, 1, true, NULL, 900},
	    {9, 0, false, NULL, 100},
	    {10, 0, false, NULL, 15},
	    {11, 0, true, NULL, 0},
	    {13, 0, false, NULL, 1367491215},
	    {14, 0, false, "+02:00", 0},
	    {16, 0, false, "U", 0},
	};

	for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		struct lwm2m_path p = {v[k].multi ? 4 : 3,
		                       {3, 0, v[k].r, v[k].ri}};
		struct lwm2m_value val = {.type = LWM2M_TYPE_INTEGER,
		                          .v.i = v[k].i};

		if (v[k].s != NULL) {
			val.type = LWM2M_TYPE_STRING;
			val.v.bytes.ptr = (const uint8_t *)v[k].s;
			val.v.bytes.len = strlen(v[k].s);
		}
		ck_assert_int_eq(lwm2m_tree_set(t, &p, &val), LWM2M_OK);
	}
}

static const struct lwm2m_path p_root = {0, {0}};
static const struct lwm2m_path p_inst = {2, {3, 0}};

static size_t
unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	unsigned v;

	for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
		sscanf(hex, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

START_TEST(test_lwm2m_senml_cbor_decode_device)
{
	struct lwm2m_tree got, want;

	lwm2m_tree_init(&want, NULL);
	device_tree(&want);
	lwm2m_tree_init(&got, NULL);
	ck_assert_int_eq(lwm2m_senml_cbor_decode(senml_device,
	                                         sizeof(senml_device), &p_inst,
	                                         &got, NULL),
	                 LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&got, &want));
	lwm2m_tree_fini(&got);
	lwm2m_tree_init(&got, NULL);
	ck_assert_int_eq(lwm2m_senml_cbor_decode(senml_device,
	                                         sizeof(senml_device), &p_root,
	                                         &got, NULL),
	                 LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&got, &want));
	lwm2m_tree_fini(&got);
	lwm2m_tree_fini(&want);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_decode_base_name)
{
	/* [{bn "/3/0/", n "1", vs "a"}, {n "2", vs "b"},
	 *  {bn "/4/0/", n "1", v 5}] */
	uint8_t in[64];
	size_t n = unhex("83a321652f332f302f006131036161a2006132036162a32165"
	                 "2f342f302f0061310205",
	                 in);
	static const struct lwm2m_path p32 = {3, {3, 0, 2}};
	static const struct lwm2m_path p41 = {3, {4, 0, 1}};
	struct lwm2m_tree t;
	struct lwm2m_node *node;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_senml_cbor_decode(in, n, &p_root, &t, NULL),
	                 LWM2M_OK);
	node = lwm2m_tree_get(&t, &p32);
	ck_assert_ptr_nonnull(node);
	ck_assert_mem_eq(node->value.v.bytes.ptr, "b", 1);
	node = lwm2m_tree_get(&t, &p41);
	ck_assert_ptr_nonnull(node);
	ck_assert_int_eq(node->value.v.i, 5);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_decode_types)
{
	/* [{bn "/1/0/", n "1", vb true}, {n "2", vd h'0102'},
	 *  {n "3", "vlo": "3:0"}, {n "4", v -7}, {n "5/1", v 2^64-1},
	 *  {n "6", "xyz": [1, {2: 3}], vs "s", u "Cel"}] */
	uint8_t in[128];
	size_t n = unhex("86a321652f312f302f00613104f5a200613208420102a20061"
	                 "3363766c6f63333a30a20061340226a20063352f31021bffff"
	                 "ffffffffffffa40061366378797a8201a10203036173016343"
	                 "656c",
	                 in);
	static const struct lwm2m_path base = {2, {1, 0}};
	static const enum lwm2m_type types[] = {
	    LWM2M_TYPE_BOOLEAN, LWM2M_TYPE_OPAQUE,   LWM2M_TYPE_OBJLNK,
	    LWM2M_TYPE_INTEGER, LWM2M_TYPE_UNSIGNED, LWM2M_TYPE_STRING,
	};
	struct lwm2m_tree t, back;
	struct lwm2m_buf out = {0};

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_senml_cbor_decode(in, n, &base, &t, NULL),
	                 LWM2M_OK);
	for (uint16_t r = 1; r <= 6; r++) {
		struct lwm2m_path p = {r == 5 ? 4 : 3, {1, 0, r, 1}};
		struct lwm2m_node *node = lwm2m_tree_get(&t, &p);

		ck_assert_ptr_nonnull(node);
		ck_assert_int_eq(node->value.type, types[r - 1]);
	}
	ck_assert_int_eq(lwm2m_senml_cbor_encode(&t, &base, &out), LWM2M_OK);
	lwm2m_tree_init(&back, NULL);
	ck_assert_int_eq(
	    lwm2m_senml_cbor_decode(out.data, out.len, &base, &back, NULL),
	    LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&t, &back));
	lwm2m_buf_fini(&out);
	lwm2m_tree_fini(&back);
	lwm2m_tree_fini(&t);
}
END_TEST

static const struct {
	const char *name;
	const char *hex;
	size_t offset;
} bad[] = {
    {"not an array", "a10001", 0},
    {"record not a map", "8101", 1},
    {"no value", "81a100662f332f302f31", 1},
    {"two values", "81a300662f332f302f310201036178", 1},
    {"not a path", "81a200662f332f782f310201", 1},
    {"instance name", "81a200642f332f300201", 1},
    {"outside base", "81a200662f342f302f310201", 1},
    {"label twice", "81a300662f332f302f3102010202", 12},
    {"sum label", "81a200662f332f302f310501", 10},
    {"base value label", "81a300662f332f302f3124010201", 10},
    {"must-understand label", "81a300662f332f302f3164666f6f5f010201", 10},
    {"bad vlo", "81a200662f332f302f3163766c6f63333a78", 14},
    {"vs not text", "81a200662f332f302f310301", 11},
    {"tagged v", "81a200662f332f302f3102c101", 11},
    {"two records, one path", "82a200662f332f302f310201a200662f332f302f310202",
     12},
    {"name too long",
     "81a200784c2f332f302f3130303030303030303030303030303030303030303030"
     "303030303030303030303030303030303030303030303030303030303030303030"
     "3030303030303030303030300201",
     3},
    {"truncated", "81a200662f332f302f3102", 11},
};

START_TEST(test_lwm2m_senml_cbor_decode_rejects)
{
	static const struct lwm2m_path base = {2, {3, 0}};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t in[128];
		size_t n = unhex(bad[i].hex, in);
		struct lwm2m_tree t;
		struct lwm2m_diag diag = {0};

		lwm2m_tree_init(&t, NULL);
		ck_assert_msg(lwm2m_senml_cbor_decode(in, n, &base, &t,
		                                      &diag) == LWM2M_EPROTO,
		              "%s", bad[i].name);
		ck_assert_msg(diag.offset == bad[i].offset,
		              "%s: offset %zu (%s)", bad[i].name, diag.offset,
		              diag.msg);
		lwm2m_tree_fini(&t);
	}
}
END_TEST

struct seen {
	int n;
	double times[4];
	int64_t values[4];
};

static lwm2m_err
record_cb(void *ctx, const struct lwm2m_path *path,
          const struct lwm2m_value *value, double time, size_t offset)
{
	struct seen *s = ctx;

	(void)offset;
	ck_assert_uint_eq(path->len, 3);
	ck_assert_uint_eq(path->ids[0], 3303);
	s->times[s->n] = time;
	s->values[s->n] = value->v.i;
	s->n++;
	return LWM2M_OK;
}

START_TEST(test_lwm2m_senml_cbor_parse_times)
{
	/* [{bn "/3303/0/5700", bt 1700000000, v 1, t -5}, {t 10, v 2}] */
	uint8_t in[64];
	size_t n = unhex("82a4216c2f333330332f302f35373030221a6553f100020106"
	                 "24a2060a0202",
	                 in);
	struct seen s = {0};
	struct lwm2m_tree t;
	struct lwm2m_diag diag = {0};

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(
	    lwm2m_senml_cbor_parse(in, n, &p_root, &t, record_cb, &s, NULL),
	    LWM2M_OK);
	ck_assert_int_eq(s.n, 2);
	ck_assert(s.times[0] == 1699999995.0);
	ck_assert(s.times[1] == 1700000010.0);
	ck_assert_int_eq(s.values[1], 2);
	/* The tree holds one value per path: a history does not fit. */
	ck_assert_int_eq(lwm2m_senml_cbor_decode(in, n, &p_root, &t, &diag),
	                 LWM2M_EPROTO);
	ck_assert_uint_eq(diag.offset, 26);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_encode_device)
{
	struct lwm2m_tree t, back;
	struct lwm2m_buf out = {0};
	static const struct lwm2m_path p13 = {3, {3, 0, 13}};
	static const struct lwm2m_path missing = {1, {4}};

	lwm2m_tree_init(&t, NULL);
	device_tree(&t);
	ck_assert_int_eq(lwm2m_senml_cbor_encode(&t, &p_inst, &out), LWM2M_OK);
	ck_assert_uint_eq(out.len, sizeof(senml_device));
	ck_assert_mem_eq(out.data, senml_device, out.len);
	lwm2m_buf_fini(&out);
	ck_assert_int_eq(lwm2m_senml_cbor_encode(&t, &p_root, &out), LWM2M_OK);
	/* [{bn "/", n "3/0/0", ...: 90 a3 21 61 2f 00 65 "3/0/0" */
	ck_assert_mem_eq(out.data,
	                 "\x90\xa3\x21\x61/\x00\x65"
	                 "3/0/0",
	                 12);
	lwm2m_tree_init(&back, NULL);
	ck_assert_int_eq(
	    lwm2m_senml_cbor_decode(out.data, out.len, &p_root, &back, NULL),
	    LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&t, &back));
	lwm2m_buf_fini(&out);
	/* One resource: only bn, no n. */
	ck_assert_int_eq(lwm2m_senml_cbor_encode(&t, &p13, &out), LWM2M_OK);
	ck_assert_uint_eq(out.len, 17);
	ck_assert_mem_eq(out.data,
	                 "\x81\xa2\x21\x67/3/0/13\x02\x1a\x51\x82\x42\x8f", 17);
	lwm2m_buf_fini(&out);
	ck_assert_int_eq(lwm2m_senml_cbor_encode(&t, &missing, &out),
	                 LWM2M_ENOTFOUND);
	lwm2m_tree_fini(&back);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_encode_paths_fetch)
{
	static const struct lwm2m_path paths[] = {
	    {3, {3, 0, 1}}, {1, {1}}, {0, {0}}};
	uint8_t want[32];
	size_t n = unhex("83a100662f332f302f31a100622f31a100612f", want);
	struct lwm2m_buf out = {0};

	ck_assert_int_eq(lwm2m_senml_cbor_encode_paths(paths, 3, &out),
	                 LWM2M_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert_mem_eq(out.data, want, n);
	lwm2m_buf_fini(&out);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_decode_paths_fetch)
{
	static const struct lwm2m_path paths[] = {
	    {3, {3, 0, 1}}, {1, {1}}, {0, {0}}, {4, {3, 0, 7, 1}}};
	struct lwm2m_path back[4];
	struct lwm2m_buf out = {0};
	struct lwm2m_tree t;
	struct lwm2m_diag d;
	size_t n = 0;

	ck_assert_int_eq(lwm2m_senml_cbor_encode_paths(paths, 4, &out),
	                 LWM2M_OK);
	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_senml_decode_paths(LWM2M_FMT_SENML_CBOR,
	                                          out.data, out.len, &t, back,
	                                          4, &n, &d),
	                 LWM2M_OK);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(back, paths, sizeof paths);
	ck_assert_int_eq(lwm2m_senml_cbor_decode_paths(out.data, out.len, &t,
	                                               back, 3, &n, &d),
	                 LWM2M_ELIMIT);
	lwm2m_buf_fini(&out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_decode_paths_rejects)
{
	struct lwm2m_path back[4];
	struct lwm2m_tree t;
	struct lwm2m_diag d;
	uint8_t in[32];
	size_t len, n = 99;

	lwm2m_tree_init(&t, NULL);
	/* [{0: "/3/0/1", 2: 1}]: a value in a path list */
	len = unhex("81a200662f332f302f310201", in);
	ck_assert_int_eq(
	    lwm2m_senml_cbor_decode_paths(in, len, &t, back, 4, &n, &d),
	    LWM2M_EPROTO);
	ck_assert_uint_eq(d.offset, 1);
	/* [{0: "3/0"}]: not absolute */
	len = unhex("81a10063332f30", in);
	ck_assert_int_eq(
	    lwm2m_senml_cbor_decode_paths(in, len, &t, back, 4, &n, &d),
	    LWM2M_EPROTO);
	/* [{}]: no name */
	len = unhex("81a0", in);
	ck_assert_int_eq(
	    lwm2m_senml_cbor_decode_paths(in, len, &t, back, 4, &n, &d),
	    LWM2M_EPROTO);
	ck_assert_uint_eq(n, 99);
	/* The value decoder still refuses name-only records. */
	len = unhex("81a100662f332f302f31", in);
	ck_assert_int_eq(lwm2m_senml_cbor_decode(in, len, &p_root, &t, &d),
	                 LWM2M_EPROTO);
	lwm2m_tree_fini(&t);
}
END_TEST

static Suite *
senml_cbor_suite(void)
{
	Suite *s = suite_create("senml_cbor");
	TCase *tc;

	tc = tcase_create("lwm2m_senml_cbor_decode");
	tcase_add_test(tc, test_lwm2m_senml_cbor_decode_device);
	tcase_add_test(tc, test_lwm2m_senml_cbor_decode_base_name);
	tcase_add_test(tc, test_lwm2m_senml_cbor_decode_types);
	tcase_add_test(tc, test_lwm2m_senml_cbor_decode_rejects);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_senml_cbor_parse");
	tcase_add_test(tc, test_lwm2m_senml_cbor_parse_times);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_senml_cbor_encode");
	tcase_add_test(tc, test_lwm2m_senml_cbor_encode_device);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_senml_cbor_encode_paths");
	tcase_add_test(tc, test_lwm2m_senml_cbor_encode_paths_fetch);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_senml_cbor_decode_paths");
	tcase_add_test(tc, test_lwm2m_senml_cbor_decode_paths_fetch);
	tcase_add_test(tc, test_lwm2m_senml_cbor_decode_paths_rejects);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(senml_cbor_suite());
}
