/* Unit tests of text/plain and opaque payloads (lwm2m_text.c). */
#include <check.h>

#include "check_util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_value.h"

static struct lwm2m_path
P(const char *s) {
	struct lwm2m_path p;

	ck_assert_int_eq(lwm2m_path_parse(s, strlen(s), &p), LWM2M_OK);
	return p;
}

/* Encodes v at /1/0/1 as format fmt and compares with want. */
static void
encode_one(enum lwm2m_format fmt, const struct lwm2m_value *v, const char *want)
{
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/1/0/1");
	uint8_t *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, v), LWM2M_OK);
	ck_assert_int_eq(lwm2m_encode(fmt, &t, &p, &out, &len), LWM2M_OK);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_mem_eq(out, want, len);
	free(out);
	lwm2m_tree_fini(&t);
}

START_TEST(test_lwm2m_text_encode_types)
{
	struct lwm2m_value v = {.type = LWM2M_TYPE_INTEGER, .v.i = -5};

	encode_one(LWM2M_FMT_TEXT, &v, "-5");
	v.type = LWM2M_TYPE_UNSIGNED;
	v.v.u = UINT64_MAX;
	encode_one(LWM2M_FMT_TEXT, &v, "18446744073709551615");
	v.type = LWM2M_TYPE_FLOAT;
	v.v.f = 0.1;
	encode_one(LWM2M_FMT_TEXT, &v, "0.1");
	v.v.f = 3800.0;
	encode_one(LWM2M_FMT_LEGACY_TEXT, &v, "3800");
	v.type = LWM2M_TYPE_BOOLEAN;
	v.v.b = true;
	encode_one(LWM2M_FMT_TEXT, &v, "1");
	v.type = LWM2M_TYPE_OBJLNK;
	v.v.lnk.obj = 3;
	v.v.lnk.inst = 0;
	encode_one(LWM2M_FMT_TEXT, &v, "3:0");
	v.type = LWM2M_TYPE_TIME;
	v.v.i = 0x5182428F;
	encode_one(LWM2M_FMT_TEXT, &v, "1367491215");
	v.type = LWM2M_TYPE_OPAQUE;
	v.v.bytes.ptr = (const uint8_t *)"hello";
	v.v.bytes.len = 5;
	encode_one(LWM2M_FMT_TEXT, &v, "aGVsbG8=");
	v.type = LWM2M_TYPE_STRING;
	encode_one(LWM2M_FMT_TEXT, &v, "hello");
}
END_TEST

START_TEST(test_lwm2m_text_encode_rejects)
{
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/1/0/1"), inst = P("/1/0");
	struct lwm2m_value v = {.type = LWM2M_TYPE_FLOAT, .v.f = INFINITY};
	uint8_t *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_TEXT, &t, &p, &out, &len),
	                 LWM2M_EINVAL);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_TEXT, &t, &inst, &out, &len),
	                 LWM2M_EINVAL);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_OPAQUE, &t, &p, &out, &len),
	                 LWM2M_EINVAL);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_text_decode_values)
{
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/3/0/9");
	struct lwm2m_diag d;
	struct lwm2m_node *n;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_TEXT, (const uint8_t *)"100", 3, &p, &t, &d),
	    LWM2M_OK);
	n = lwm2m_tree_get(&t, &p);
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_RAW);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &n->value, LWM2M_TYPE_INTEGER, true, &d),
	    LWM2M_OK);
	ck_assert_int_eq(n->value.v.i, 100);
	p = P("/3/0/6/1");
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_TEXT, (const uint8_t *)"5", 1, &p, &t, &d),
	    LWM2M_OK);
	p = P("/3/0/14");
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_TEXT, NULL, 0, &p, &t, &d),
	                 LWM2M_OK);
	ck_assert_uint_eq(lwm2m_tree_get(&t, &p)->value.v.bytes.len, 0);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_text_decode_rejects)
{
	struct lwm2m_limits lim = lwm2m_limits_default;
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/3/0");
	struct lwm2m_diag d;

	lim.max_value_len = 2;
	lwm2m_tree_init(&t, &lim);
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_TEXT, (const uint8_t *)"1", 1, &p, &t, &d),
	    LWM2M_EPROTO);
	ck_assert_ptr_nonnull(strstr(d.msg, "resource"));
	p = P("/3/0/1");
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_TEXT, (const uint8_t *)"123", 3, &p, &t, &d),
	    LWM2M_ELIMIT);
	ck_assert_int_eq(
	    lwm2m_decode(9999, (const uint8_t *)"1", 1, &p, &t, &d),
	    LWM2M_EINVAL);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_opaque_decode_roundtrip)
{
	static const uint8_t bin[] = {0x00, 0xFF, 0x10, 0x80};
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/5/0/0");
	struct lwm2m_diag d;
	uint8_t *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_OPAQUE, bin, sizeof(bin), &p, &t, &d),
	    LWM2M_OK);
	ck_assert_int_eq(lwm2m_tree_get(&t, &p)->value.type, LWM2M_TYPE_OPAQUE);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_OPAQUE, &t, &p, &out, &len),
	                 LWM2M_OK);
	ck_assert_uint_eq(len, sizeof(bin));
	ck_assert_mem_eq(out, bin, len);
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_format_name_known)
{
	ck_assert_str_eq(lwm2m_format_name(LWM2M_FMT_TLV),
	                 "application/vnd.oma.lwm2m+tlv");
	ck_assert_str_eq(lwm2m_format_name(LWM2M_FMT_TEXT), "text/plain");
	ck_assert_ptr_null(lwm2m_format_name(7));
	ck_assert(lwm2m_format_supported(LWM2M_FMT_LEGACY_TLV));
	ck_assert(lwm2m_format_supported(LWM2M_FMT_OPAQUE));
	ck_assert(!lwm2m_format_supported(7));
}
END_TEST

static Suite *
text_suite(void)
{
	const struct check_case cases[] = {
	    {"lwm2m_text_encode", test_lwm2m_text_encode_types},
	    {"lwm2m_text_encode", test_lwm2m_text_encode_rejects},
	    {"lwm2m_text_decode", test_lwm2m_text_decode_values},
	    {"lwm2m_text_decode", test_lwm2m_text_decode_rejects},
	    {"lwm2m_opaque_decode", test_lwm2m_opaque_decode_roundtrip},
	    {"lwm2m_format_name", test_lwm2m_format_name_known},
	};
	return check_suite("text", cases, sizeof(cases) / sizeof(cases[0]));
}

int
main(void)
{
	return check_run(text_suite());
}
