/* Unit tests of the value tree (lwm2m_tree.c). */
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

static struct lwm2m_value
str(const char *s)
{
	struct lwm2m_value v = {.type = LWM2M_TYPE_STRING};

	v.v.bytes.ptr = (const uint8_t *)s;
	v.v.bytes.len = strlen(s);
	return v;
}

static struct lwm2m_value
raw(const void *p, size_t len)
{
	struct lwm2m_value v = {.type = LWM2M_TYPE_RAW};

	v.v.bytes.ptr = p;
	v.v.bytes.len = len;
	return v;
}

START_TEST(test_lwm2m_tree_init_empty)
{
	struct lwm2m_tree t;

	lwm2m_tree_init(&t, NULL);
	ck_assert_ptr_eq(t.limits, &lwm2m_limits_default);
	ck_assert_uint_eq(t.n_nodes, 0);
	ck_assert_int_eq(t.root.kind, LWM2M_NODE_ROOT);
	lwm2m_tree_fini(&t);
	lwm2m_tree_fini(&t);
	lwm2m_tree_fini(NULL);
}
END_TEST

START_TEST(test_lwm2m_tree_add_node_kinds)
{
	struct lwm2m_tree t;
	struct lwm2m_node *n;
	struct lwm2m_path p = P("/3/0/7/1");

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_tree_add_node(&t, &p, false, &n), LWM2M_OK);
	ck_assert_int_eq(n->kind, LWM2M_NODE_RESOURCE_INSTANCE);
	ck_assert_int_eq(n->parent->kind, LWM2M_NODE_MULTI_RESOURCE);
	ck_assert_int_eq(n->parent->parent->kind, LWM2M_NODE_INSTANCE);
	ck_assert_uint_eq(t.n_nodes, 4);
	p = P("/3/0/7");
	/* /3/0/7 is multiple: asking for a single resource conflicts */
	ck_assert_int_eq(lwm2m_tree_add_node(&t, &p, false, &n), LWM2M_EPROTO);
	ck_assert_int_eq(lwm2m_tree_add_node(&t, &p, true, &n), LWM2M_OK);
	p = P("/3/0/1");
	ck_assert_int_eq(lwm2m_tree_add_node(&t, &p, false, &n), LWM2M_OK);
	ck_assert_int_eq(n->kind, LWM2M_NODE_RESOURCE);
	p = P("/3/0/1/0");
	ck_assert_int_eq(lwm2m_tree_add_node(&t, &p, false, &n), LWM2M_EPROTO);
	p = P("/");
	ck_assert_int_eq(lwm2m_tree_add_node(&t, &p, false, &n), LWM2M_OK);
	ck_assert_ptr_eq(n, &t.root);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_tree_add_node_sorted_and_limit)
{
	static const uint16_t ids[] = {5, 1, 9, 3, 7, 2, 8, 0, 6, 4};
	struct lwm2m_limits lim = lwm2m_limits_default;
	struct lwm2m_tree t;
	struct lwm2m_node *n, *c;
	struct lwm2m_path p = {.len = 2, .ids = {1, 0}};
	uint16_t expect = 0;

	lim.max_nodes = 11;
	lwm2m_tree_init(&t, &lim);
	for (size_t i = 0; i < 10; i++) {
		p.ids[1] = ids[i];
		ck_assert_int_eq(lwm2m_tree_add_node(&t, &p, false, &n),
		                 LWM2M_OK);
	}
	n = lwm2m_tree_get(&t, &(struct lwm2m_path){.len = 1, .ids = {1}});
	ck_assert_uint_eq(n->n_children, 10);
	for (c = n->first_child; c != NULL; c = c->next_sibling) {
		ck_assert_uint_eq(c->id, expect++);
	}
	ck_assert_uint_eq(n->last_child->id, 9);
	p.ids[1] = 10;
	ck_assert_int_eq(lwm2m_tree_add_node(&t, &p, false, &n), LWM2M_ELIMIT);
	p.ids[1] = 65535;
	ck_assert_int_eq(lwm2m_tree_add_node(&t, &p, false, &n), LWM2M_EPROTO);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_tree_set_copies_and_rejects_duplicate)
{
	struct lwm2m_tree t;
	char buf[8] = "abc";
	struct lwm2m_value v = str(buf);
	struct lwm2m_path p = P("/3/0/0");
	struct lwm2m_node *n;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	buf[0] = 'X';
	n = lwm2m_tree_get(&t, &p);
	ck_assert_mem_eq(n->value.v.bytes.ptr, "abc", 3);
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_EPROTO);
	p = P("/3/0");
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_EINVAL);
	v.type = LWM2M_TYPE_NONE;
	p = P("/3/0/2");
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_EINVAL);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_tree_set_value_limit)
{
	struct lwm2m_limits lim = lwm2m_limits_default;
	struct lwm2m_tree t;
	struct lwm2m_value v = str("0123456789");
	struct lwm2m_path p = P("/3/0/0");

	lim.max_value_len = 9;
	lwm2m_tree_init(&t, &lim);
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_ELIMIT);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_tree_get_missing)
{
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/3/0/0");
	struct lwm2m_value v = str("x");

	lwm2m_tree_init(&t, NULL);
	ck_assert_ptr_null(lwm2m_tree_get(&t, &p));
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	p = P("/3/0/1");
	ck_assert_ptr_null(lwm2m_tree_get(&t, &p));
	p = P("/3/1");
	ck_assert_ptr_null(lwm2m_tree_get(&t, &p));
	p = P("/3");
	ck_assert_ptr_nonnull(lwm2m_tree_get(&t, &p));
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_tree_alloc_large)
{
	struct lwm2m_tree t;
	uint8_t *a, *b, *c;

	lwm2m_tree_init(&t, NULL);
	a = lwm2m_tree_alloc(&t, 10);
	b = lwm2m_tree_alloc(&t, 100000);
	c = lwm2m_tree_alloc(&t, 10);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(c);
	memset(b, 0xAA, 100000);
	memset(a, 1, 10);
	memset(c, 2, 10);
	ck_assert_ptr_null(lwm2m_tree_alloc(&t, SIZE_MAX - 4));
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_node_path_roundtrip)
{
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/3/0/7/1"), q;
	struct lwm2m_node *n;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_tree_add_node(&t, &p, false, &n), LWM2M_OK);
	lwm2m_node_path(n, &q);
	ck_assert_uint_eq(q.len, 4);
	ck_assert_mem_eq(q.ids, p.ids, sizeof(p.ids));
	lwm2m_node_path(&t.root, &q);
	ck_assert_uint_eq(q.len, 0);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_path_parse_forms)
{
	struct lwm2m_path p;
	static const char *bad[] = {"",           "//",     "/3//0",    "/a",
	                            "/3/0/1/2/3", "/65535", "/1234567", "/3 ",
	                            "3:0",        "/-1"};

	ck_assert_int_eq(lwm2m_path_parse("/", 1, &p), LWM2M_OK);
	ck_assert_uint_eq(p.len, 0);
	ck_assert_int_eq(lwm2m_path_parse("3/0/", 4, &p), LWM2M_OK);
	ck_assert_uint_eq(p.len, 2);
	ck_assert_int_eq(lwm2m_path_parse("/65534/0/1/2", 12, &p), LWM2M_OK);
	ck_assert_uint_eq(p.len, 4);
	ck_assert_uint_eq(p.ids[0], 65534);
	ck_assert_uint_eq(p.ids[3], 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(lwm2m_path_parse(bad[i], strlen(bad[i]), &p) ==
		                  LWM2M_EPROTO,
		              "accepted %s", bad[i]);
	}
}
END_TEST

START_TEST(test_lwm2m_path_format_sizes)
{
	struct lwm2m_path p = P("/3/0/7/1");
	char buf[16];

	ck_assert_int_eq(lwm2m_path_format(&p, buf, sizeof(buf)), 8);
	ck_assert_str_eq(buf, "/3/0/7/1");
	ck_assert_int_eq(lwm2m_path_format(&p, buf, 8), -1);
	p.len = 0;
	ck_assert_int_eq(lwm2m_path_format(&p, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "/");
}
END_TEST

START_TEST(test_lwm2m_path_is_prefix_cases)
{
	struct lwm2m_path root = P("/"), a = P("/3/0"), b = P("/3/0/1"),
	                  c = P("/3/1/1");

	ck_assert(lwm2m_path_is_prefix(&root, &b));
	ck_assert(lwm2m_path_is_prefix(&a, &b));
	ck_assert(lwm2m_path_is_prefix(&b, &b));
	ck_assert(!lwm2m_path_is_prefix(&b, &a));
	ck_assert(!lwm2m_path_is_prefix(&a, &c));
}
END_TEST

START_TEST(test_lwm2m_value_coerce_tlv)
{
	struct lwm2m_tree t;
	struct lwm2m_value v;
	struct lwm2m_diag d;
	static const uint8_t ff[] = {0xFF}, i2[] = {0x0E, 0xD8},
	                     f4[] = {0x40, 0x49, 0x0F, 0xDB},
	                     ol[] = {0x00, 0x42, 0x00, 0x01}, i3[] = {1, 2, 3};

	lwm2m_tree_init(&t, NULL);
	v = raw(ff, 1);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_INTEGER, false, &d),
	    LWM2M_OK);
	ck_assert_int_eq(v.v.i, -1);
	v = raw(ff, 1);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_UNSIGNED, false, &d),
	    LWM2M_OK);
	ck_assert_uint_eq(v.v.u, 255);
	v = raw(i2, 2);
	ck_assert_int_eq(lwm2m_value_coerce(&t, &v, LWM2M_TYPE_TIME, false, &d),
	                 LWM2M_OK);
	ck_assert_int_eq(v.v.i, 3800);
	v = raw(f4, 4);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_FLOAT, false, &d), LWM2M_OK);
	ck_assert(fabs(v.v.f - 3.14159265) < 1e-6);
	v = raw(ol, 4);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_OBJLNK, false, &d), LWM2M_OK);
	ck_assert_uint_eq(v.v.lnk.obj, 66);
	ck_assert_uint_eq(v.v.lnk.inst, 1);
	v = raw(i3, 3);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_INTEGER, false, &d),
	    LWM2M_EPROTO);
	ck_assert_ptr_nonnull(strstr(d.msg, "1, 2, 4 or 8"));
	v = raw(i3, 1);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_BOOLEAN, false, &d),
	    LWM2M_OK);
	ck_assert(v.v.b);
	v = raw(i3 + 1, 1);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_BOOLEAN, false, &d),
	    LWM2M_EPROTO);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_value_coerce_text)
{
	struct lwm2m_tree t;
	struct lwm2m_value v;
	struct lwm2m_diag d;

	lwm2m_tree_init(&t, NULL);
	v = raw("-42", 3);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_INTEGER, true, &d), LWM2M_OK);
	ck_assert_int_eq(v.v.i, -42);
	v = raw("18446744073709551615", 20);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_UNSIGNED, true, &d),
	    LWM2M_OK);
	ck_assert_uint_eq(v.v.u, UINT64_MAX);
	v = raw("9223372036854775808", 19);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_INTEGER, true, &d),
	    LWM2M_EPROTO);
	v = raw("-9223372036854775808", 20);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_INTEGER, true, &d), LWM2M_OK);
	ck_assert(v.v.i == INT64_MIN);
	v = raw("2.5e3", 5);
	ck_assert_int_eq(lwm2m_value_coerce(&t, &v, LWM2M_TYPE_FLOAT, true, &d),
	                 LWM2M_OK);
	ck_assert(v.v.f == 2500.0);
	v = raw("nan", 3);
	ck_assert_int_eq(lwm2m_value_coerce(&t, &v, LWM2M_TYPE_FLOAT, true, &d),
	                 LWM2M_EPROTO);
	v = raw("1", 1);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_BOOLEAN, true, &d), LWM2M_OK);
	ck_assert(v.v.b);
	v = raw("true", 4);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_BOOLEAN, true, &d),
	    LWM2M_EPROTO);
	v = raw("3:0", 3);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_OBJLNK, true, &d), LWM2M_OK);
	ck_assert_uint_eq(v.v.lnk.obj, 3);
	v = raw("3:65536", 7);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_OBJLNK, true, &d),
	    LWM2M_EPROTO);
	v = raw("aGVsbG8", 7);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_OPAQUE, true, &d), LWM2M_OK);
	ck_assert_uint_eq(v.v.bytes.len, 5);
	ck_assert_mem_eq(v.v.bytes.ptr, "hello", 5);
	v = raw("2026-11-25T11:20:03Z", 20);
	ck_assert_int_eq(lwm2m_value_coerce(&t, &v, LWM2M_TYPE_TIME, true, &d),
	                 LWM2M_OK);
	ck_assert_int_eq(v.v.i, 1795605603);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_value_coerce_numbers)
{
	struct lwm2m_tree t;
	struct lwm2m_value v = {.type = LWM2M_TYPE_FLOAT, .v.f = 12.0};
	struct lwm2m_diag d;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_INTEGER, false, &d),
	    LWM2M_OK);
	ck_assert_int_eq(v.v.i, 12);
	v.type = LWM2M_TYPE_FLOAT;
	v.v.f = 12.5;
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_INTEGER, false, &d),
	    LWM2M_EPROTO);
	v.type = LWM2M_TYPE_INTEGER;
	v.v.i = -1;
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_UNSIGNED, false, &d),
	    LWM2M_EPROTO);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_FLOAT, false, &d), LWM2M_OK);
	ck_assert(v.v.f == -1.0);
	v.type = LWM2M_TYPE_BOOLEAN;
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &v, LWM2M_TYPE_OBJLNK, false, &d),
	    LWM2M_EPROTO);
	ck_assert_ptr_nonnull(strstr(d.msg, "boolean"));
	ck_assert_int_eq(lwm2m_value_coerce(&t, &v, LWM2M_TYPE_NONE, false, &d),
	                 LWM2M_EINVAL);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_tree_equal_cases)
{
	struct lwm2m_tree a, b;
	struct lwm2m_path p = P("/3/0/0"), q = P("/3/0/1");
	struct lwm2m_value x = str("x"), y = str("y");

	lwm2m_tree_init(&a, NULL);
	lwm2m_tree_init(&b, NULL);
	ck_assert(lwm2m_tree_equal(&a, &b));
	lwm2m_tree_set(&a, &p, &x);
	ck_assert(!lwm2m_tree_equal(&a, &b));
	lwm2m_tree_set(&b, &p, &x);
	ck_assert(lwm2m_tree_equal(&a, &b));
	lwm2m_tree_set(&a, &q, &x);
	lwm2m_tree_set(&b, &q, &y);
	ck_assert(!lwm2m_tree_equal(&a, &b));
	lwm2m_tree_fini(&a);
	lwm2m_tree_fini(&b);
}
END_TEST

START_TEST(test_lwm2m_value_equal_nan)
{
	struct lwm2m_value a = {.type = LWM2M_TYPE_FLOAT, .v.f = NAN};
	struct lwm2m_value b = a;

	ck_assert(lwm2m_value_equal(&a, &b));
	b.type = LWM2M_TYPE_INTEGER;
	ck_assert(!lwm2m_value_equal(&a, &b));
}
END_TEST

static Suite *
tree_suite(void)
{
	const struct check_case cases[] = {
	    {"lwm2m_tree_init", test_lwm2m_tree_init_empty},
	    {"lwm2m_tree_add_node", test_lwm2m_tree_add_node_kinds},
	    {"lwm2m_tree_add_node", test_lwm2m_tree_add_node_sorted_and_limit},
	    {"lwm2m_tree_set",
	     test_lwm2m_tree_set_copies_and_rejects_duplicate},
	    {"lwm2m_tree_set", test_lwm2m_tree_set_value_limit},
	    {"lwm2m_tree_get", test_lwm2m_tree_get_missing},
	    {"lwm2m_tree_alloc", test_lwm2m_tree_alloc_large},
	    {"lwm2m_node_path", test_lwm2m_node_path_roundtrip},
	    {"lwm2m_path_parse", test_lwm2m_path_parse_forms},
	    {"lwm2m_path_format", test_lwm2m_path_format_sizes},
	    {"lwm2m_path_is_prefix", test_lwm2m_path_is_prefix_cases},
	    {"lwm2m_value_coerce", test_lwm2m_value_coerce_tlv},
	    {"lwm2m_value_coerce", test_lwm2m_value_coerce_text},
	    {"lwm2m_value_coerce", test_lwm2m_value_coerce_numbers},
	    {"lwm2m_tree_equal", test_lwm2m_tree_equal_cases},
	    {"lwm2m_value_equal", test_lwm2m_value_equal_nan},
	};
	return check_suite("tree", cases, sizeof(cases) / sizeof(cases[0]));
}

int
main(void)
{
	return check_run(tree_suite());
}
