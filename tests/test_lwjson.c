/* Unit tests of LwM2M JSON (lwm2m_lwjson.c). */
#include "codec_fixtures.h"

/* Core TS 1.0 7.4.4 example (Read /3/0), as our encoder writes it. */
static const char device_json[] =
    "{\"bn\":\"/3/0/\",\"e\":["
    "{\"n\":\"0\",\"sv\":\"Open Mobile Alliance\"},"
    "{\"n\":\"1\",\"sv\":\"Lightweight M2M Client\"},"
    "{\"n\":\"2\",\"sv\":\"345000123\"},{\"n\":\"3\",\"sv\":\"1.0\"},"
    "{\"n\":\"6/0\",\"v\":1},{\"n\":\"6/1\",\"v\":5},"
    "{\"n\":\"7/0\",\"v\":3800},{\"n\":\"7/1\",\"v\":5000},"
    "{\"n\":\"8/0\",\"v\":125},{\"n\":\"8/1\",\"v\":900},"
    "{\"n\":\"9\",\"v\":100},{\"n\":\"10\",\"v\":15},"
    "{\"n\":\"11/0\",\"v\":0},{\"n\":\"13\",\"v\":1367491215},"
    "{\"n\":\"14\",\"sv\":\"+02:00\"},{\"n\":\"16\",\"sv\":\"U\"}]}";

START_TEST(test_lwm2m_lwjson_encode_device)
{
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/3/0");
	uint8_t *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	build_device(&t);
	ck_assert_int_eq(
	    lwm2m_encode(LWM2M_FMT_LWM2M_JSON, &t, &base, &out, &len),
	    LWM2M_OK);
	ck_assert_msg(len == strlen(device_json) &&
	                  memcmp(out, device_json, len) == 0,
	              "%.*s", (int)len, out);
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_lwjson_encode_types)
{
	static const char want[] =
	    "{\"bn\":\"/66/0/\",\"e\":[{\"n\":\"1\",\"ov\":\"67:1\"},"
	    "{\"n\":\"2\",\"sv\":\"+/8=\"},{\"n\":\"3\",\"bv\":false},"
	    "{\"n\":\"4\",\"v\":0.5}]}";
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/66/0/1");
	struct lwm2m_value v = {.type = LWM2M_TYPE_OBJLNK};
	uint8_t *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	v.v.lnk.obj = 67;
	v.v.lnk.inst = 1;
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	p.ids[2] = 2;
	v.type = LWM2M_TYPE_OPAQUE;
	v.v.bytes.ptr = (const uint8_t *)"\xfb\xff";
	v.v.bytes.len = 2;
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	p.ids[2] = 3;
	v.type = LWM2M_TYPE_BOOLEAN;
	v.v.b = false;
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	p.ids[2] = 4;
	v.type = LWM2M_TYPE_FLOAT;
	v.v.f = 0.5;
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	p.len = 2;
	ck_assert_int_eq(
	    lwm2m_encode(LWM2M_FMT_LEGACY_JSON, &t, &p, &out, &len), LWM2M_OK);
	ck_assert_msg(len == strlen(want) && memcmp(out, want, len) == 0,
	              "%.*s", (int)len, out);
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_lwjson_decode_device)
{
	/* e before bn, white space, t on a record, an unknown member. */
	static const char in[] =
	    "{ \"e\": [\n"
	    " {\"n\":\"0\",\"sv\":\"Open Mobile Alliance\"},\n"
	    " {\"n\":\"1\",\"sv\":\"Lightweight M2M Client\"},\n"
	    " {\"n\":\"2\",\"sv\":\"345000123\"},{\"n\":\"3\",\"sv\":\"1.0\"},"
	    "\n"
	    " {\"n\":\"6/0\",\"v\":1},{\"n\":\"6/1\",\"v\":5},\n"
	    " {\"n\":\"7/0\",\"v\":3800},{\"n\":\"7/1\",\"v\":5000},\n"
	    " {\"n\":\"8/0\",\"v\":125},{\"n\":\"8/1\",\"v\":900},\n"
	    " {\"n\":\"9\",\"v\":100},{\"n\":\"10\",\"v\":15},\n"
	    " {\"n\":\"11/"
	    "0\",\"v\":0},{\"n\":\"13\",\"v\":1367491215,\"t\":-5},\n"
	    " {\"n\":\"14\",\"sv\":\"+02:00\"},{\"sv\":\"U\",\"n\":\"16\"}],\n"
	    "  \"bt\": 25462634, \"x\": {\"y\": [true]}, \"bn\": \"/3/0/\" }";
	struct lwm2m_tree want, got;
	struct lwm2m_path base = P("/3/0");
	struct lwm2m_diag d;

	lwm2m_tree_init(&want, NULL);
	lwm2m_tree_init(&got, NULL);
	build_device(&want);
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_LWM2M_JSON, (const uint8_t *)in,
	                              strlen(in), &base, &got, &d),
	                 LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&want, &got));
	lwm2m_tree_fini(&want);
	lwm2m_tree_fini(&got);
}
END_TEST

START_TEST(test_lwm2m_lwjson_decode_objlnk_and_opaque)
{
	static const char in[] =
	    "{\"bn\":\"/\",\"e\":[{\"n\":\"66/0/0\",\"sv\":\"myService 1\"},"
	    "{\"n\":\"66/0/1\",\"ov\":\"67:0\"},{\"n\":\"66/1/"
	    "1\",\"ov\":\"67:1\"},"
	    "{\"n\":\"66/1/2\",\"sv\":\"+/8=\"}]}";
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/"), p = P("/66/1/1");
	struct lwm2m_diag d;
	struct lwm2m_node *n;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_LWM2M_JSON, (const uint8_t *)in,
	                              strlen(in), &base, &t, &d),
	                 LWM2M_OK);
	n = lwm2m_tree_get(&t, &p);
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_OBJLNK);
	ck_assert_uint_eq(n->value.v.lnk.inst, 1);
	n = n->next_sibling;
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &n->value, LWM2M_TYPE_OPAQUE, true, &d),
	    LWM2M_OK);
	ck_assert_uint_eq(n->value.v.bytes.len, 2);
	ck_assert_mem_eq(n->value.v.bytes.ptr, "\xfb\xff", 2);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_lwjson_decode_without_bn)
{
	static const char in[] = "{\"e\":[{\"n\":\"1\",\"sv\":\"x\"},"
	                         "{\"n\":\"6/0\",\"v\":1}]}";
	static const char leaf[] = "{\"e\":[{\"v\":100}]}";
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/3/0"), p = P("/3/0/6/0");
	struct lwm2m_diag d;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_LEGACY_JSON,
	                              (const uint8_t *)in, strlen(in), &base,
	                              &t, &d),
	                 LWM2M_OK);
	ck_assert_ptr_nonnull(lwm2m_tree_get(&t, &p));
	p = P("/3/0/9");
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_LEGACY_JSON,
	                              (const uint8_t *)leaf, strlen(leaf), &p,
	                              &t, &d),
	                 LWM2M_OK);
	ck_assert_int_eq(lwm2m_tree_get(&t, &p)->value.v.i, 100);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_lwjson_decode_malformed)
{
	const enum lwm2m_format f = LWM2M_FMT_LWM2M_JSON;

	expect_bad(f, "/3/0", "[]", LWM2M_EPROTO, 0);
	expect_bad(f, "/3/0", "{\"bn\":\"/3/0/\"}", LWM2M_EPROTO, 0);
	expect_bad(f, "/3/0", "{\"e\":{}}", LWM2M_EPROTO, 5);
	expect_bad(f, "/3/0", "{\"e\":[]} {", LWM2M_EPROTO, 9);
	expect_bad(f, "/3/0", "{\"e\":[{\"n\":\"1\"}],\"bn\":\"/3/0/\"}",
	           LWM2M_EPROTO, 6);
	expect_bad(f, "/3/0",
	           "{\"e\":[{\"n\":\"1\",\"v\":true}],\"bn\":\"/3/0/\"}",
	           LWM2M_EPROTO, 19);
	expect_bad(f, "/3/0",
	           "{\"e\":[{\"n\":\"1\",\"v\":1,\"sv\":\"\"}],"
	           "\"bn\":\"/3/0/\"}",
	           LWM2M_EPROTO, 26);
	expect_bad(f, "/3/0",
	           "{\"e\":[{\"n\":\"1\",\"v\":1}],\"bn\":\"/4/0/\"}",
	           LWM2M_EPROTO, 6);
	expect_bad(f, "/3/0",
	           "{\"e\":[{\"n\":\"1\",\"ov\":\"1:x\"}],"
	           "\"bn\":\"/3/0/\"}",
	           LWM2M_EPROTO, 20);
	expect_bad(f, "/3/0",
	           "{\"bn\":\"/3/0/\",\"e\":[{\"n\":\"1\",\"v\":1},"
	           "{\"n\":\"1\",\"v\":2}]}",
	           LWM2M_EPROTO, 35);
	expect_bad(f, "/3/0",
	           "{\"bn\":\"/3/0/\",\"e\":[{\"n\":\"1\",\"v\":1e999}]}",
	           LWM2M_EPROTO, 32);
	expect_bad(f, "/3/0", "{\"bn\":\"/3/0/\",\"bt\":\"x\",\"e\":[]}",
	           LWM2M_EPROTO, 19);
}
END_TEST

int
main(void)
{
	static const char *const names[] = {
	    "lwm2m_lwjson_encode", "lwm2m_lwjson_encode",
	    "lwm2m_lwjson_decode", "lwm2m_lwjson_decode",
	    "lwm2m_lwjson_decode", "lwm2m_lwjson_decode"};
	const TTest *const fns[] = {test_lwm2m_lwjson_encode_device,
	                            test_lwm2m_lwjson_encode_types,
	                            test_lwm2m_lwjson_decode_device,
	                            test_lwm2m_lwjson_decode_objlnk_and_opaque,
	                            test_lwm2m_lwjson_decode_without_bn,
	                            test_lwm2m_lwjson_decode_malformed};

	return check_run(make_suite("lwjson", names, fns, 6));
}
