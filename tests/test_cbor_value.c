/* Unit tests of the CBOR single-value format 60 (lwm2m_cbor_value.c). */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include "lwm2m_cbor.h"

static const struct lwm2m_path res = {3, {3, 0, 13}};
static const struct lwm2m_path res_inst = {4, {3, 0, 7, 1}};

START_TEST(test_lwm2m_cbor_value_decode_types)
{
	static const uint8_t time_v[] = {0xc1, 0x1a, 0x51, 0x82, 0x42, 0x8f};
	static const uint8_t int_v[] = {0x19, 0x13, 0x88};
	struct lwm2m_tree tree;
	struct lwm2m_node *n;

	lwm2m_tree_init(&tree, NULL);
	ck_assert_int_eq(
	    lwm2m_cbor_value_decode(time_v, sizeof(time_v), &res, &tree, NULL),
	    LWM2M_OK);
	n = lwm2m_tree_get(&tree, &res);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->kind, LWM2M_NODE_RESOURCE);
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_TIME);
	ck_assert_int_eq(n->value.v.i, 1367491215);
	ck_assert_int_eq(lwm2m_cbor_value_decode(int_v, sizeof(int_v),
	                                         &res_inst, &tree, NULL),
	                 LWM2M_OK);
	n = lwm2m_tree_get(&tree, &res_inst);
	ck_assert_int_eq(n->kind, LWM2M_NODE_RESOURCE_INSTANCE);
	ck_assert_int_eq(n->value.v.i, 5000);
	lwm2m_tree_fini(&tree);
}
END_TEST

START_TEST(test_lwm2m_cbor_value_decode_rejects)
{
	static const uint8_t two[] = {0x01, 0x02};
	static const uint8_t arr[] = {0x81, 0x01};
	static const uint8_t one[] = {0x01};
	static const struct lwm2m_path inst = {2, {3, 0}};
	struct lwm2m_tree tree;
	struct lwm2m_diag diag = {0};

	lwm2m_tree_init(&tree, NULL);
	ck_assert_int_eq(
	    lwm2m_cbor_value_decode(two, sizeof(two), &res, &tree, &diag),
	    LWM2M_EPROTO);
	ck_assert_uint_eq(diag.offset, 1);
	ck_assert_int_eq(
	    lwm2m_cbor_value_decode(arr, sizeof(arr), &res, &tree, &diag),
	    LWM2M_EPROTO);
	ck_assert_int_eq(lwm2m_cbor_value_decode(two, 0, &res, &tree, &diag),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(lwm2m_cbor_value_decode(one, 1, &inst, &tree, &diag),
	                 LWM2M_EINVAL);
	ck_assert_int_eq(lwm2m_cbor_value_decode(one, 1, &res, &tree, &diag),
	                 LWM2M_OK);
	ck_assert_int_eq(lwm2m_cbor_value_decode(one, 1, &res, &tree, &diag),
	                 LWM2M_EPROTO);
	ck_assert_ptr_nonnull(strstr(diag.msg, "/3/0/13"));
	lwm2m_tree_fini(&tree);
}
END_TEST

START_TEST(test_lwm2m_cbor_value_encode_roundtrip)
{
	static const struct lwm2m_path inst = {2, {3, 0}};
	struct lwm2m_value values[] = {
	    {.type = LWM2M_TYPE_STRING, .v.bytes = {(const uint8_t *)"U", 1}},
	    {.type = LWM2M_TYPE_INTEGER, .v.i = -42},
	    {.type = LWM2M_TYPE_FLOAT, .v.f = 21.5},
	    {.type = LWM2M_TYPE_BOOLEAN, .v.b = true},
	    {.type = LWM2M_TYPE_OPAQUE,
	     .v.bytes = {(const uint8_t *)"\0\1", 2}},
	    {.type = LWM2M_TYPE_TIME, .v.i = 1700000000},
	    {.type = LWM2M_TYPE_UNSIGNED, .v.u = UINT64_MAX},
	};
	struct lwm2m_buf out = {0};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct lwm2m_tree a, b;

		lwm2m_tree_init(&a, NULL);
		lwm2m_tree_init(&b, NULL);
		ck_assert_int_eq(lwm2m_tree_set(&a, &res, &values[i]),
		                 LWM2M_OK);
		ck_assert_int_eq(lwm2m_cbor_value_encode(&a, &res, &out),
		                 LWM2M_OK);
		ck_assert_int_eq(
		    lwm2m_cbor_value_decode(out.data, out.len, &res, &b, NULL),
		    LWM2M_OK);
		ck_assert(lwm2m_tree_equal(&a, &b));
		ck_assert_int_eq(lwm2m_cbor_value_encode(&a, &inst, &out),
		                 LWM2M_EINVAL);
		lwm2m_buf_fini(&out);
		lwm2m_tree_fini(&a);
		lwm2m_tree_fini(&b);
	}
}
END_TEST

static Suite *
cbor_value_suite(void)
{
	Suite *s = suite_create("cbor_value");
	TCase *tc;

	tc = tcase_create("lwm2m_cbor_value_decode");
	tcase_add_test(tc, test_lwm2m_cbor_value_decode_types);
	tcase_add_test(tc, test_lwm2m_cbor_value_decode_rejects);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_cbor_value_encode");
	tcase_add_test(tc, test_lwm2m_cbor_value_encode_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(cbor_value_suite());
}
