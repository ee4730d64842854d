/* Unit tests of LwM2M CBOR, content format 11544 (lwm2m_lwcbor.c).  The
 * vectors were written by hand from the LwM2M 1.2 Core 7.4.6 structure
 * (nested maps keyed by ids or id arrays) and checked byte by byte. */
#include <check.h>

#include "check_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_cbor.h"

/* Read /3/0 answered as {[3, 0]: {0: "Open Mobile Alliance", ...,
 * 6: {0: 1, 1: 5}, 7: {0: 3800, 1: 5000}, ..., 16: "U"}}: a1 (map of 1),
 * 82 03 00 (key [3, 0]), ad (map of 13 resources), ... */
static const uint8_t lwcbor_device[] = {
    0xa1, 0x82, 0x03, 0x00, 0xad, 0x00, 0x74, 0x4f, 0x70, 0x65, 0x6e, 0x20,
    0x4d, 0x6f, 0x62, 0x69, 0x6c, 0x65, 0x20, 0x41, 0x6c, 0x6c, 0x69, 0x61,
    0x6e, 0x63, 0x65, 0x01, 0x76, 0x4c, 0x69, 0x67, 0x68, 0x74, 0x77, 0x65,
    0x69, 0x67, 0x68, 0x74, 0x20, 0x4d, 0x32, 0x4d, 0x20, 0x43, 0x6c, 0x69,
    0x65, 0x6e, 0x74, 0x02, 0x69, 0x33, 0x34, 0x35, 0x30, 0x30, 0x30, 0x31,
    0x32, 0x33, 0x03, 0x63, 0x31, 0x2e, 0x30, 0x06, 0xa2, 0x00, 0x01, 0x01,
    0x05, 0x07, 0xa2, 0x00, 0x19, 0x0e, 0xd8, 0x01, 0x19, 0x13, 0x88, 0x08,
    0xa2, 0x00, 0x18, 0x7d, 0x01, 0x19, 0x03, 0x84, 0x09, 0x18, 0x64, 0x0a,
    0x0f, 0x0b, 0xa1, 0x00, 0x00, 0x0d, 0x1a, 0x51, 0x82, 0x42, 0x8f, 0x0e,
    0x66, 0x2b, 0x30, 0x32, 0x3a, 0x30, 0x30, 0x10, 0x61, 0x55,
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

static lwm2m_err
decode(const uint8_t *buf, size_t len, const struct lwm2m_path *base,
       struct lwm2m_tree *t, struct lwm2m_diag *diag)
{
	return lwm2m_lwcbor_decode(buf, len, base, t, diag);
}

START_TEST(test_lwm2m_lwcbor_decode_device)
{
	struct lwm2m_tree got, want;
	uint8_t nested[sizeof(lwcbor_device)];

	lwm2m_tree_init(&got, NULL);
	lwm2m_tree_init(&want, NULL);
	device_tree(&want);
	ck_assert_int_eq(
	    decode(lwcbor_device, sizeof(lwcbor_device), &p_inst, &got, NULL),
	    LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&got, &want));
	lwm2m_tree_fini(&got);
	/* The same payload with the path written as nested maps: {3: {0: */
	memcpy(nested, lwcbor_device, sizeof(nested));
	memcpy(nested, "\xa1\x03\xa1\x00", 4);
	lwm2m_tree_init(&got, NULL);
	ck_assert_int_eq(decode(nested, sizeof(nested), &p_root, &got, NULL),
	                 LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&got, &want));
	lwm2m_tree_fini(&got);
	lwm2m_tree_fini(&want);
}
END_TEST

START_TEST(test_lwm2m_lwcbor_decode_mixed_keys)
{
	/* {[3, 0, 0]: "OMA", 3: {[0, 7]: {0: 3800}, [0, 7, 1]: 5000,
	 *  0: {[6]: {}}}, 1: {}} read from the root. */
	static const uint8_t in[] = {
	    0xa3, 0x83, 0x03, 0x00, 0x00, 0x63, 0x4f, 0x4d, 0x41, 0x03, 0xa3,
	    0x82, 0x00, 0x07, 0xa1, 0x00, 0x19, 0x0e, 0xd8, 0x83, 0x00, 0x07,
	    0x01, 0x19, 0x13, 0x88, 0x00, 0xa1, 0x81, 0x06, 0xa0, 0x01, 0xa0,
	};
	static const struct lwm2m_path p6 = {3, {3, 0, 6}};
	static const struct lwm2m_path p71 = {4, {3, 0, 7, 1}};
	static const struct lwm2m_path p1 = {1, {1}};
	struct lwm2m_tree t;
	struct lwm2m_node *n;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(decode(in, sizeof(in), &p_root, &t, NULL), LWM2M_OK);
	n = lwm2m_tree_get(&t, &p6);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->kind, LWM2M_NODE_MULTI_RESOURCE);
	ck_assert_uint_eq(n->n_children, 0);
	n = lwm2m_tree_get(&t, &p71);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->value.v.i, 5000);
	n = lwm2m_tree_get(&t, &p1);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->kind, LWM2M_NODE_OBJECT);
	ck_assert_uint_eq(t.n_nodes, 8);
	lwm2m_tree_fini(&t);
}
END_TEST

static const struct {
	const char *name;
	const char *hex;
	size_t offset;
	lwm2m_err err;
} bad[] = {
    {"top level array", "80", 0, LWM2M_EPROTO},
    {"text key", "a161610a", 1, LWM2M_EPROTO},
    {"negative id", "a120a0", 1, LWM2M_EPROTO},
    {"id 65535", "a119ffffa0", 1, LWM2M_EPROTO},
    {"empty path array", "a180a0", 1, LWM2M_EPROTO},
    {"five ids", "a18503000000000a", 6, LWM2M_EPROTO},
    {"value at object level", "a1030a", 2, LWM2M_EPROTO},
    {"value at instance level", "a182030001", 4, LWM2M_EPROTO},
    {"map below a resource instance", "a18403000700a0", 6, LWM2M_EPROTO},
    {"outside base", "a18204000a", 1, LWM2M_EPROTO},
    {"duplicate", "a28303000101830300010a", 10, LWM2M_EPROTO},
    {"single then multi", "a28303000101840300010002", 11, LWM2M_EPROTO},
    {"null value", "a183030001f6", 5, LWM2M_EPROTO},
    {"trailing byte", "a0a0", 1, LWM2M_EPROTO},
    {"truncated", "a1830300", 1, LWM2M_EPROTO},
    {"unknown tag", "a183030001c20a", 5, LWM2M_EPROTO},
    {"tagged key", "a1c10300", 1, LWM2M_EPROTO},
};

START_TEST(test_lwm2m_lwcbor_decode_rejects)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t in[32];
		size_t n = 0;
		unsigned v;
		struct lwm2m_tree t;
		struct lwm2m_diag diag = {0};
		const struct lwm2m_path *base =
		    strcmp(bad[i].name, "outside base") == 0 ? &p_inst
		                                             : &p_root;

		for (const char *h = bad[i].hex; h[0] != '\0'; h += 2) {
			sscanf(h, "%2x", &v);
			in[n++] = (uint8_t)v;
		}
		lwm2m_tree_init(&t, NULL);
		ck_assert_msg(decode(in, n, base, &t, &diag) == bad[i].err,
		              "%s", bad[i].name);
		ck_assert_msg(diag.offset == bad[i].offset,
		              "%s: offset %zu (%s)", bad[i].name, diag.offset,
		              diag.msg);
		ck_assert_msg(diag.msg[0] != '\0', "%s", bad[i].name);
		lwm2m_tree_fini(&t);
	}
}
END_TEST

START_TEST(test_lwm2m_lwcbor_decode_node_limit)
{
	struct lwm2m_limits lim = lwm2m_limits_default;
	struct lwm2m_tree t;
	struct lwm2m_diag diag = {0};

	lim.max_nodes = 10;
	lwm2m_tree_init(&t, &lim);
	ck_assert_int_eq(
	    decode(lwcbor_device, sizeof(lwcbor_device), &p_inst, &t, &diag),
	    LWM2M_ELIMIT);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_lwcbor_encode_device)
{
	struct lwm2m_tree t, back;
	struct lwm2m_buf out = {0};

	lwm2m_tree_init(&t, NULL);
	device_tree(&t);
	ck_assert_int_eq(lwm2m_lwcbor_encode(&t, &p_inst, &out), LWM2M_OK);
	ck_assert_uint_eq(out.len, sizeof(lwcbor_device));
	ck_assert_mem_eq(out.data, lwcbor_device, out.len);
	lwm2m_buf_fini(&out);
	ck_assert_int_eq(lwm2m_lwcbor_encode(&t, &p_root, &out), LWM2M_OK);
	ck_assert_mem_eq(out.data, "\xa1\x03\xa1\x00\xad", 5);
	lwm2m_tree_init(&back, NULL);
	ck_assert_int_eq(decode(out.data, out.len, &p_root, &back, NULL),
	                 LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&t, &back));
	lwm2m_buf_fini(&out);
	lwm2m_tree_fini(&back);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_lwcbor_encode_types)
{
	static const struct lwm2m_path r = {3, {1, 0, 1}};
	static const struct lwm2m_path ri = {4, {1, 0, 2, 7}};
	static const struct lwm2m_path e = {2, {1, 1}};
	static const struct lwm2m_path missing = {2, {9, 9}};
	struct lwm2m_value tv = {.type = LWM2M_TYPE_TIME, .v.i = 1};
	struct lwm2m_value bv = {.type = LWM2M_TYPE_BOOLEAN, .v.b = true};
	struct lwm2m_tree t, back;
	struct lwm2m_node *n;
	struct lwm2m_buf out = {0};

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_tree_set(&t, &r, &tv), LWM2M_OK);
	ck_assert_int_eq(lwm2m_tree_set(&t, &ri, &bv), LWM2M_OK);
	ck_assert_int_eq(lwm2m_tree_add_node(&t, &e, false, &n), LWM2M_OK);
	ck_assert_int_eq(lwm2m_lwcbor_encode(&t, &p_root, &out), LWM2M_OK);
	/* {1: {0: {1: 1(1), 2: {7: true}}, 1: {}}} */
	ck_assert_uint_eq(out.len, 14);
	ck_assert_mem_eq(out.data,
	                 "\xa1\x01\xa2\x00\xa2\x01\xc1\x01\x02\xa1\x07\xf5"
	                 "\x01\xa0",
	                 14);
	lwm2m_tree_init(&back, NULL);
	ck_assert_int_eq(decode(out.data, out.len, &p_root, &back, NULL),
	                 LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&t, &back));
	lwm2m_buf_fini(&out);
	ck_assert_int_eq(lwm2m_lwcbor_encode(&t, &missing, &out),
	                 LWM2M_ENOTFOUND);
	lwm2m_buf_fini(&out);
	lwm2m_tree_fini(&back);
	lwm2m_tree_fini(&t);
}
END_TEST

/* through encodes t in fmt at base and decodes it into a fresh *ret. */
static void
through(enum lwm2m_format fmt, const struct lwm2m_tree *t,
        const struct lwm2m_path *base, struct lwm2m_tree *ret)
{
	uint8_t *buf;
	size_t len;

	ck_assert(lwm2m_format_supported(fmt));
	ck_assert_int_eq(lwm2m_encode(fmt, t, base, &buf, &len), LWM2M_OK);
	lwm2m_tree_init(ret, NULL);
	ck_assert_int_eq(lwm2m_decode(fmt, buf, len, base, ret, NULL),
	                 LWM2M_OK);
	free(buf);
}

START_TEST(test_lwm2m_lwcbor_encode_cross_formats)
{
	/* The Device instance through the dispatcher: tree -> SenML CBOR ->
	 * tree -> LwM2M CBOR -> tree, then each resource through CBOR 60. */
	struct lwm2m_tree t, a, b, c;
	struct lwm2m_node *n;

	lwm2m_tree_init(&t, NULL);
	device_tree(&t);
	for (int k = 0; k < 2; k++) {
		const struct lwm2m_path *base = k ? &p_root : &p_inst;

		through(LWM2M_FMT_SENML_CBOR, &t, base, &a);
		through(LWM2M_FMT_LWM2M_CBOR, &a, base, &b);
		ck_assert(lwm2m_tree_equal(&t, &b));
		lwm2m_tree_fini(&a);
		lwm2m_tree_fini(&b);
	}
	n = lwm2m_tree_get(&t, &p_inst);
	for (n = n->first_child; n != NULL; n = n->next_sibling) {
		struct lwm2m_path p;

		if (n->kind != LWM2M_NODE_RESOURCE) {
			continue;
		}
		lwm2m_node_path(n, &p);
		through(LWM2M_FMT_CBOR, &t, &p, &c);
		ck_assert(lwm2m_value_equal(&n->value,
		                            &lwm2m_tree_get(&c, &p)->value));
		lwm2m_tree_fini(&c);
	}
	lwm2m_tree_fini(&t);
}
END_TEST

static uint64_t
rnd(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* random_value draws a value whose type survives the CBOR formats as is
 * (TIME only for LwM2M CBOR, OBJLNK only for SenML CBOR). */
static void
random_value(uint64_t *st, bool senml, struct lwm2m_value *v, uint8_t *bytes)
{
	uint64_t r = rnd(st);
	size_t len = rnd(st) % 9;

	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < len; i++) {
		bytes[i] = (uint8_t)('a' + rnd(st) % 26);
	}
	switch (r % 8) {
	case 0:
		v->type = LWM2M_TYPE_STRING;
		v->v.bytes.ptr = bytes;
		v->v.bytes.len = len;
		break;
	case 1:
		v->type = LWM2M_TYPE_OPAQUE;
		v->v.bytes.ptr = bytes;
		v->v.bytes.len = len;
		break;
	case 2:
		v->type = LWM2M_TYPE_UNSIGNED;
		v->v.u = rnd(st) | (1ull << 63);
		break;
	case 3:
		v->type = LWM2M_TYPE_FLOAT;
		v->v.f =
		    (double)(int64_t)rnd(st) / (double)(1 + rnd(st) % 1000);
		break;
	case 4:
		v->type = LWM2M_TYPE_BOOLEAN;
		v->v.b = rnd(st) & 1;
		break;
	case 5:
		v->type = senml ? LWM2M_TYPE_OBJLNK : LWM2M_TYPE_TIME;
		v->v.lnk.obj = (uint16_t)rnd(st);
		v->v.lnk.inst = (uint16_t)rnd(st);
		v->v.i = senml ? v->v.i : (int64_t)(rnd(st) >> 33);
		break;
	default:
		v->type = LWM2M_TYPE_INTEGER;
		v->v.i = (int64_t)rnd(st) >> (rnd(st) % 64);
		break;
	}
}

static void
random_tree(uint64_t *st, bool senml, struct lwm2m_tree *t)
{
	uint8_t bytes[16];
	struct lwm2m_value v;

	for (int k = 0; k < 1 + (int)(rnd(st) % 12); k++) {
		struct lwm2m_path p = {
		    3 + (uint8_t)(rnd(st) % 2),
		    {(uint16_t)(rnd(st) % 3), (uint16_t)(rnd(st) % 3),
		     (uint16_t)(rnd(st) % 8), (uint16_t)(rnd(st) % 3)}};

		random_value(st, senml, &v, bytes);
		(void)lwm2m_tree_set(t, &p, &v); /* conflicts are skipped */
	}
}

START_TEST(test_lwm2m_lwcbor_encode_generated)
{
	uint64_t st = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < 400; i++) {
		bool senml = i % 2;
		enum lwm2m_format fmt =
		    senml ? LWM2M_FMT_SENML_CBOR : LWM2M_FMT_LWM2M_CBOR;
		struct lwm2m_tree t, back;

		lwm2m_tree_init(&t, NULL);
		random_tree(&st, senml, &t);
		through(fmt, &t, &p_root, &back);
		ck_assert_msg(lwm2m_tree_equal(&t, &back), "tree %d", i);
		lwm2m_tree_fini(&back);
		lwm2m_tree_fini(&t);
	}
}
END_TEST

static Suite *
lwcbor_suite(void)
{
	Suite *s = suite_create("lwcbor");
	TCase *tc;

	tc = tcase_create("lwm2m_lwcbor_decode");
	tcase_add_test(tc, test_lwm2m_lwcbor_decode_device);
	tcase_add_test(tc, test_lwm2m_lwcbor_decode_mixed_keys);
	tcase_add_test(tc, test_lwm2m_lwcbor_decode_rejects);
	tcase_add_test(tc, test_lwm2m_lwcbor_decode_node_limit);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_lwcbor_encode");
	tcase_add_test(tc, test_lwm2m_lwcbor_encode_device);
	tcase_add_test(tc, test_lwm2m_lwcbor_encode_types);
	tcase_add_test(tc, test_lwm2m_lwcbor_encode_cross_formats);
	tcase_add_test(tc, test_lwm2m_lwcbor_encode_generated);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(lwcbor_suite());
}
