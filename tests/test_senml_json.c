/* Unit tests of SenML JSON (lwm2m_senml_json.c). */
#include <math.h>

#include "codec_fixtures.h"

/* Core TS 1.1 7.4.5 example (Read /3/0), as our encoder writes it. */
static const char device_senml[] =
    "[{\"bn\":\"/3/0/\",\"n\":\"0\",\"vs\":\"Open Mobile Alliance\"},"
    "{\"n\":\"1\",\"vs\":\"Lightweight M2M Client\"},"
    "{\"n\":\"2\",\"vs\":\"345000123\"},{\"n\":\"3\",\"vs\":\"1.0\"},"
    "{\"n\":\"6/0\",\"v\":1},{\"n\":\"6/1\",\"v\":5},"
    "{\"n\":\"7/0\",\"v\":3800},{\"n\":\"7/1\",\"v\":5000},"
    "{\"n\":\"8/0\",\"v\":125},{\"n\":\"8/1\",\"v\":900},"
    "{\"n\":\"9\",\"v\":100},{\"n\":\"10\",\"v\":15},"
    "{\"n\":\"11/0\",\"v\":0},{\"n\":\"13\",\"v\":1367491215},"
    "{\"n\":\"14\",\"vs\":\"+02:00\"},{\"n\":\"16\",\"vs\":\"U\"}]";

START_TEST(test_lwm2m_senml_json_encode_device)
{
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/3/0");
	uint8_t *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	build_device(&t);
	ck_assert_int_eq(
	    lwm2m_encode(LWM2M_FMT_SENML_JSON, &t, &base, &out, &len),
	    LWM2M_OK);
	ck_assert_uint_eq(len, strlen(device_senml));
	ck_assert_mem_eq(out, device_senml, len);
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_senml_json_encode_types)
{
	static const char want[] =
	    "[{\"bn\":\"/1/0/\",\"n\":\"1\",\"v\":2.0},"
	    "{\"n\":\"2\",\"vb\":true},{\"n\":\"3\",\"vd\":\"-_8\"},"
	    "{\"n\":\"4\",\"vlo\":\"3:0\"},"
	    "{\"n\":\"5\",\"v\":18446744073709551615},"
	    "{\"n\":\"6\",\"vs\":\"a\\\"\\\\\\u0001\"}]";
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/1/0/1");
	struct lwm2m_value v = {.type = LWM2M_TYPE_FLOAT, .v.f = 2.0};
	uint8_t *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	p.ids[2] = 2;
	v.type = LWM2M_TYPE_BOOLEAN;
	v.v.b = true;
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	p.ids[2] = 3;
	v.type = LWM2M_TYPE_OPAQUE;
	v.v.bytes.ptr = (const uint8_t *)"\xfb\xff";
	v.v.bytes.len = 2;
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	p.ids[2] = 4;
	v.type = LWM2M_TYPE_OBJLNK;
	v.v.lnk.obj = 3;
	v.v.lnk.inst = 0;
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	p.ids[2] = 5;
	v.type = LWM2M_TYPE_UNSIGNED;
	v.v.u = UINT64_MAX;
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	set_str(&t, "/1/0/6", "a\"\\\x01");
	p.len = 2;
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_SENML_JSON, &t, &p, &out, &len),
	                 LWM2M_OK);
	ck_assert_msg(len == strlen(want) && memcmp(out, want, len) == 0,
	              "%.*s", (int)len, out);
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_senml_json_encode_leaf_and_root)
{
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/3/0/9");
	uint8_t *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	build_device(&t);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_SENML_JSON, &t, &p, &out, &len),
	                 LWM2M_OK);
	ck_assert_uint_eq(len, 25);
	ck_assert_mem_eq(out, "[{\"bn\":\"/3/0/9\",\"v\":100}]", 25);
	free(out);
	p = P("/");
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_SENML_JSON, &t, &p, &out, &len),
	                 LWM2M_OK);
	ck_assert_mem_eq(out, "[{\"bn\":\"/\",\"n\":\"3/0/0\",", 23);
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_device)
{
	/* The spec's layout: white space, bn repeated on a later record. */
	static const char in[] =
	    "[ {\"bn\":\"/3/0/\", \"n\":\"0\", \"vs\":\"Open Mobile "
	    "Alliance\"},\n"
	    "  {\"n\":\"1\", \"vs\":\"Lightweight M2M Client\"},\n"
	    "  {\"n\":\"2\", \"vs\":\"345000123\"}, "
	    "{\"n\":\"3\",\"vs\":\"1.0\"},\n"
	    "  {\"n\":\"6/0\",\"v\":1}, {\"n\":\"6/1\",\"v\":5},\n"
	    "  {\"bn\":\"/3/0/7/\", \"n\":\"0\",\"v\":3800}, "
	    "{\"n\":\"1\",\"v\":5000},\n"
	    "  {\"bn\":\"/3/0/\", \"n\":\"8/0\",\"v\":125}, "
	    "{\"n\":\"8/1\",\"v\":900},\n"
	    "  {\"n\":\"9\",\"v\":100}, {\"n\":\"10\",\"v\":15},\n"
	    "  {\"n\":\"11/0\",\"v\":0}, {\"n\":\"13\",\"v\":1367491215, "
	    "\"t\": 5},\n"
	    "  {\"n\":\"14\",\"vs\":\"+02:00\", \"unknown\": [1, {\"x\": "
	    "null}]},\n"
	    "  {\"vs\":\"U\", \"n\":\"16\"} ]\n";
	struct lwm2m_tree want, got;
	struct lwm2m_path base = P("/3/0");
	struct lwm2m_diag d;

	lwm2m_tree_init(&want, NULL);
	lwm2m_tree_init(&got, NULL);
	build_device(&want);
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_SENML_JSON, (const uint8_t *)in,
	                              strlen(in), &base, &got, &d),
	                 LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&want, &got));
	lwm2m_tree_fini(&want);
	lwm2m_tree_fini(&got);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_types)
{
	static const char in[] =
	    "[{\"bn\":\"/66/0/"
	    "\",\"n\":\"0\",\"vs\":\"my\\u00e9\\ud83d\\ude00\"},"
	    "{\"n\":\"1\",\"vlo\":\"67:1\"},{\"n\":\"2\",\"vd\":\"-_8=\"},"
	    "{\"n\":\"3\",\"vd\":\"+/8\"},{\"n\":\"4\",\"vb\":false},"
	    "{\"n\":\"5\",\"v\":-1.5e2},{\"n\":\"6\",\"v\":-7}]";
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/66"), p = P("/66/0/0");
	struct lwm2m_diag d;
	struct lwm2m_node *n;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_SENML_JSON, (const uint8_t *)in,
	                              strlen(in), &base, &t, &d),
	                 LWM2M_OK);
	n = lwm2m_tree_get(&t, &p);
	ck_assert_uint_eq(n->value.v.bytes.len, 2 + 2 + 4);
	ck_assert_mem_eq(n->value.v.bytes.ptr, "my\xc3\xa9\xf0\x9f\x98\x80", 8);
	n = n->next_sibling;
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_OBJLNK);
	ck_assert_uint_eq(n->value.v.lnk.obj, 67);
	n = n->next_sibling;
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_OPAQUE);
	ck_assert_mem_eq(n->value.v.bytes.ptr, "\xfb\xff", 2);
	n = n->next_sibling;
	ck_assert_mem_eq(n->value.v.bytes.ptr, "\xfb\xff", 2);
	n = n->next_sibling;
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_BOOLEAN);
	ck_assert(!n->value.v.b);
	n = n->next_sibling;
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_FLOAT);
	ck_assert(n->value.v.f == -150.0);
	n = n->next_sibling;
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_INTEGER);
	ck_assert_int_eq(n->value.v.i, -7);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_malformed)
{
	const enum lwm2m_format f = LWM2M_FMT_SENML_JSON;

	expect_bad(f, "/3/0", "", LWM2M_EPROTO, 0);
	expect_bad(f, "/3/0", "{}", LWM2M_EPROTO, 0);
	expect_bad(f, "/3/0", "[", LWM2M_EPROTO, 1);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\"}]", LWM2M_EPROTO, 1);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"v\":1,}]", LWM2M_EPROTO,
	           22);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"v\":1}] x", LWM2M_EPROTO,
	           24);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"v\":01}]", LWM2M_EPROTO,
	           20);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"v\":\"1\"}]", LWM2M_EPROTO,
	           20);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"v\":1,\"vs\":\"a\"}]",
	           LWM2M_EPROTO, 27);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/1/1\",\"v\":1}]", LWM2M_EPROTO, 1);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0\",\"v\":1}]", LWM2M_EPROTO, 1);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"v\":1},{\"v\":2}]",
	           LWM2M_EPROTO, 23);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"vd\":\"@@\"}]",
	           LWM2M_EPROTO, 21);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"vlo\":\"3\"}]",
	           LWM2M_EPROTO, 22);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"vb\":1}]", LWM2M_EPROTO,
	           21);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"vs\":\"a\x01\"}]",
	           LWM2M_EPROTO, 23);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"vs\":\"\\ud800\"}]",
	           LWM2M_EPROTO, 28);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"vs\":\"abc", LWM2M_EPROTO,
	           25);
	expect_bad(f, "/3/0", "[{\"bn\":\"/3/0/1\",\"x_\":1,\"v\":1}]",
	           LWM2M_EPROTO, 21);
	expect_bad(f, "/3/0",
	           "[{\"bn\":\"/3/0/1\",\"x\":[[[[[[[[[[[[[[[[[[1]]]]]"
	           "]]]]]]]]]]]]],\"v\":1}]",
	           LWM2M_ELIMIT, 34);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_limits)
{
	static const char in[] = "[{\"bn\":\"/3/0/1\",\"vs\":\"abcdef\"}]";
	struct lwm2m_limits lim = lwm2m_limits_default;
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/3/0");
	struct lwm2m_diag d;

	lim.max_value_len = 5;
	lwm2m_tree_init(&t, &lim);
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_SENML_JSON, (const uint8_t *)in,
	                              strlen(in), &base, &t, &d),
	                 LWM2M_ELIMIT);
	lwm2m_tree_fini(&t);
	lim.max_value_len = 100;
	lim.max_nodes = 2;
	lwm2m_tree_init(&t, &lim);
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_SENML_JSON, (const uint8_t *)in,
	                              strlen(in), &base, &t, &d),
	                 LWM2M_ELIMIT);
	lwm2m_tree_fini(&t);
}
END_TEST

/* decode_paths_json decodes in as a SenML JSON path list into paths. */
static lwm2m_err
decode_paths_json(const char *in, struct lwm2m_path *paths, size_t max,
                  size_t *ret_n, struct lwm2m_diag *d)
{
	struct lwm2m_tree t;
	lwm2m_err err;

	lwm2m_tree_init(&t, NULL);
	err =
	    lwm2m_senml_decode_paths(LWM2M_FMT_SENML_JSON, (const uint8_t *)in,
	                             strlen(in), &t, paths, max, ret_n, d);
	lwm2m_tree_fini(&t);
	return err;
}

START_TEST(test_lwm2m_senml_decode_paths_json)
{
	static const char in[] = "[{\"n\":\"/3/0/1\"},{\"n\":\"/\"},"
	                         "{\"bn\":\"/3303/\",\"n\":\"0\"},"
	                         "{\"n\":\"1/5700\"},{\"bn\":\"/3/0/7/1\"}]";
	struct lwm2m_path paths[8];
	struct lwm2m_diag d;
	size_t n = 0;

	ck_assert_int_eq(decode_paths_json(in, paths, 8, &n, &d), LWM2M_OK);
	ck_assert_uint_eq(n, 5);
	ck_assert_uint_eq(paths[0].len, 3);
	ck_assert_uint_eq(paths[0].ids[2], 1);
	ck_assert_uint_eq(paths[1].len, 0);
	ck_assert_uint_eq(paths[2].len, 2);
	ck_assert_uint_eq(paths[2].ids[0], 3303);
	ck_assert_uint_eq(paths[3].len, 3);
	ck_assert_uint_eq(paths[3].ids[1], 1);
	ck_assert_uint_eq(paths[3].ids[2], 5700);
	ck_assert_uint_eq(paths[4].len, 4);
	ck_assert_uint_eq(paths[4].ids[3], 1);
	ck_assert_int_eq(decode_paths_json("[]", paths, 8, &n, &d), LWM2M_OK);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_lwm2m_senml_decode_paths_rejects)
{
	struct lwm2m_path paths[2];
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/");
	struct lwm2m_diag d;
	size_t n = 99;

	ck_assert_int_eq(
	    decode_paths_json("[{\"n\":\"/3/0/1\",\"v\":1}]", paths, 2, &n, &d),
	    LWM2M_EPROTO);
	ck_assert_uint_eq(d.offset, 1);
	ck_assert_int_eq(
	    decode_paths_json("[{\"n\":\"3/0\"}]", paths, 2, &n, &d),
	    LWM2M_EPROTO);
	ck_assert_int_eq(
	    decode_paths_json("[{\"n\":\"/3/x\"}]", paths, 2, &n, &d),
	    LWM2M_EPROTO);
	ck_assert_int_eq(decode_paths_json("[{}]", paths, 2, &n, &d),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(
	    decode_paths_json("[{\"n\":\"/1/0/1/2/3\"}]", paths, 2, &n, &d),
	    LWM2M_EPROTO);
	ck_assert_int_eq(decode_paths_json("[{\"n\":\"/1\"},{\"n\":\"/2\"},"
	                                   "{\"n\":\"/3\"}]",
	                                   paths, 2, &n, &d),
	                 LWM2M_ELIMIT);
	ck_assert_int_eq(decode_paths_json("[{\"n\":\"/1\"}", paths, 2, &n, &d),
	                 LWM2M_EPROTO);
	ck_assert_uint_eq(n, 99); /* untouched on failure */
	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_senml_decode_paths(LWM2M_FMT_TLV,
	                                          (const uint8_t *)"", 0, &t,
	                                          paths, 2, &n, &d),
	                 LWM2M_EINVAL);
	/* The value decoder still refuses name-only records. */
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_SENML_JSON,
	                              (const uint8_t *)"[{\"n\":\"/3/0/1\"}]",
	                              17, &base, &t, &d),
	                 LWM2M_EPROTO);
	lwm2m_tree_fini(&t);
}
END_TEST

int
main(void)
{
	static const char *const names[] = {
	    "lwm2m_senml_json_encode", "lwm2m_senml_json_encode",
	    "lwm2m_senml_json_encode", "lwm2m_senml_json_decode",
	    "lwm2m_senml_json_decode", "lwm2m_senml_json_decode",
	    "lwm2m_senml_json_decode", "lwm2m_senml_decode_paths",
	    "lwm2m_senml_decode_paths"};
	const TTest *const fns[] = {test_lwm2m_senml_json_encode_device,
	                            test_lwm2m_senml_json_encode_types,
	                            test_lwm2m_senml_json_encode_leaf_and_root,
	                            test_lwm2m_senml_json_decode_device,
	                            test_lwm2m_senml_json_decode_types,
	                            test_lwm2m_senml_json_decode_malformed,
	                            test_lwm2m_senml_json_decode_limits,
	                            test_lwm2m_senml_decode_paths_json,
	                            test_lwm2m_senml_decode_paths_rejects};

	return check_run(make_suite("senml_json", names, fns, 9));
}
