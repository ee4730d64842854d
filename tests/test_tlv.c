/* Unit tests of the TLV codec (lwm2m_tlv.c) against the Core TS examples. */
#include "check_util.h"
#include "codec_fixtures.h"

/* Core TS 7.4.3 example: Read /3/0 of the Device object, 121 bytes. */
static const uint8_t device_tlv[] = {
    0xC8, 0x00, 0x14, 'O',  'p',  'e',  'n',  ' ',  'M',  'o',  'b',
    'i',  'l',  'e',  ' ',  'A',  'l',  'l',  'i',  'a',  'n',  'c',
    'e',  0xC8, 0x01, 0x16, 'L',  'i',  'g',  'h',  't',  'w',  'e',
    'i',  'g',  'h',  't',  ' ',  'M',  '2',  'M',  ' ',  'C',  'l',
    'i',  'e',  'n',  't',  0xC8, 0x02, 0x09, '3',  '4',  '5',  '0',
    '0',  '0',  '1',  '2',  '3',  0xC3, 0x03, '1',  '.',  '0',  0x86,
    0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05, 0x88, 0x07, 0x08, 0x42,
    0x00, 0x0E, 0xD8, 0x42, 0x01, 0x13, 0x88, 0x87, 0x08, 0x41, 0x00,
    0x7D, 0x42, 0x01, 0x03, 0x84, 0xC1, 0x09, 0x64, 0xC1, 0x0A, 0x0F,
    0x83, 0x0B, 0x41, 0x00, 0x00, 0xC4, 0x0D, 0x51, 0x82, 0x42, 0x8F,
    0xC6, 0x0E, '+',  '0',  '2',  ':',  '0',  '0',  0xC1, 0x10, 'U',
};

/* Coerces every value of got to the type of the same path in want. */
static void
coerce_like(struct lwm2m_tree *got, const struct lwm2m_node *want_node,
            const struct lwm2m_tree *want)
{
	struct lwm2m_path p;
	struct lwm2m_node *n;
	struct lwm2m_diag d;

	for (const struct lwm2m_node *c = want_node->first_child; c != NULL;
	     c = c->next_sibling) {
		coerce_like(got, c, want);
	}
	if (want_node->value.type == LWM2M_TYPE_NONE) {
		return;
	}
	lwm2m_node_path(want_node, &p);
	n = lwm2m_tree_get(got, &p);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(lwm2m_value_coerce(got, &n->value,
	                                    want_node->value.type, false, &d),
	                 LWM2M_OK);
}

START_TEST(test_lwm2m_tlv_encode_device)
{
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/3/0");
	uint8_t *out;
	size_t len;

	ck_assert_uint_eq(sizeof(device_tlv), 121);
	lwm2m_tree_init(&t, NULL);
	build_device(&t);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_TLV, &t, &base, &out, &len),
	                 LWM2M_OK);
	ck_assert_uint_eq(len, sizeof(device_tlv));
	ck_assert_mem_eq(out, device_tlv, len);
	free(out);
	base = P("/3");
	ck_assert_int_eq(
	    lwm2m_encode(LWM2M_FMT_LEGACY_TLV, &t, &base, &out, &len),
	    LWM2M_OK);
	ck_assert_uint_eq(len, 3 + sizeof(device_tlv));
	ck_assert_mem_eq(out, "\x08\x00\x79", 3);
	ck_assert_mem_eq(out + 3, device_tlv, sizeof(device_tlv));
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_tlv_encode_single_and_instance)
{
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/3/0/7");
	uint8_t *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	build_device(&t);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_TLV, &t, &base, &out, &len),
	                 LWM2M_OK);
	ck_assert_uint_eq(len, 11);
	ck_assert_mem_eq(out, device_tlv + 23 + 25 + 12 + 5 + 8, 11);
	free(out);
	base = P("/3/0/7/1");
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_TLV, &t, &base, &out, &len),
	                 LWM2M_OK);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(out, "\x42\x01\x13\x88", 4);
	free(out);
	base = P("/");
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_TLV, &t, &base, &out, &len),
	                 LWM2M_EINVAL);
	base = P("/4");
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_TLV, &t, &base, &out, &len),
	                 LWM2M_ENOTFOUND);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_tlv_encode_widths)
{
	static const struct {
		int64_t i;
		size_t len;
	} cases[] = {{0, 1},
	             {-1, 1},
	             {127, 1},
	             {-128, 1},
	             {128, 2},
	             {-129, 2},
	             {32767, 2},
	             {32768, 4},
	             {-2147483648LL, 4},
	             {2147483648LL, 8},
	             {INT64_MIN, 8}};
	struct lwm2m_path base = P("/1/0/1");
	uint8_t *out;
	size_t len;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lwm2m_tree t;

		lwm2m_tree_init(&t, NULL);
		set_int(&t, "/1/0/1", cases[i].i);
		ck_assert_int_eq(
		    lwm2m_encode(LWM2M_FMT_TLV, &t, &base, &out, &len),
		    LWM2M_OK);
		/* 8 bytes no longer fit the 3-bit length */
		if (cases[i].len == 8) {
			ck_assert_uint_eq(len, 3 + 8);
			ck_assert_mem_eq(out, "\xC8\x01\x08", 3);
		} else {
			ck_assert_uint_eq(len, 2 + cases[i].len);
			ck_assert_uint_eq(out[0], 0xC0 | cases[i].len);
		}
		free(out);
		lwm2m_tree_fini(&t);
	}
}
END_TEST

START_TEST(test_lwm2m_tlv_encode_float_and_big_ids)
{
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/3303/0/5700");
	struct lwm2m_value v = {.type = LWM2M_TYPE_FLOAT, .v.f = 1.5};
	uint8_t *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_TLV, &t, &p, &out, &len),
	                 LWM2M_OK);
	/* 16-bit id, 4-byte float */
	ck_assert_uint_eq(len, 7);
	ck_assert_mem_eq(out, "\xE4\x16\x44\x3F\xC0\x00\x00", 7);
	free(out);
	lwm2m_tree_fini(&t);
	lwm2m_tree_init(&t, NULL);
	v.v.f = 0.1;
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_TLV, &t, &p, &out, &len),
	                 LWM2M_OK);
	ck_assert_uint_eq(len, 12);
	ck_assert_uint_eq(out[0], 0xE8);
	ck_assert_uint_eq(out[3], 8);
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_device)
{
	struct lwm2m_tree want, got;
	struct lwm2m_path base = P("/3/0");
	struct lwm2m_diag d;

	lwm2m_tree_init(&want, NULL);
	lwm2m_tree_init(&got, NULL);
	build_device(&want);
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_TLV, device_tlv,
	                              sizeof(device_tlv), &base, &got, &d),
	                 LWM2M_OK);
	ck_assert(!lwm2m_tree_equal(&want, &got)); /* RAW until coerced */
	coerce_like(&got, &want.root, &want);
	ck_assert(lwm2m_tree_equal(&want, &got));
	lwm2m_tree_fini(&want);
	lwm2m_tree_fini(&got);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_signed_byte)
{
	static const uint8_t in[] = {0xC1, 0x09, 0xFF};
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/3/0/9");
	struct lwm2m_node *n;
	struct lwm2m_diag d;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_LEGACY_TLV, in, sizeof(in), &base, &t, &d),
	    LWM2M_OK);
	n = lwm2m_tree_get(&t, &base);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &n->value, LWM2M_TYPE_INTEGER, false, &d),
	    LWM2M_OK);
	ck_assert_int_eq(n->value.v.i, -1);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_instances_and_objlnk)
{
	/* /66: two instances; resource 1 is an objlnk 66:1 / 3:0 */
	static const uint8_t in[] = {
	    0x08, 0x00, 0x0B, 0xC3, 0x00, 'o',  'n',  'e',  0xC4, 0x01,
	    0x00, 0x42, 0x00, 0x01, 0x08, 0x01, 0x0B, 0xC3, 0x00, 't',
	    'w',  'o',  0xC4, 0x01, 0x00, 0x03, 0x00, 0x00,
	};
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/66"), p = P("/66/1/1");
	struct lwm2m_node *n;
	struct lwm2m_diag d;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_TLV, in, sizeof(in), &base, &t, &d),
	    LWM2M_OK);
	ck_assert_uint_eq(lwm2m_tree_get(&t, &base)->n_children, 2);
	n = lwm2m_tree_get(&t, &p);
	ck_assert_int_eq(
	    lwm2m_value_coerce(&t, &n->value, LWM2M_TYPE_OBJLNK, false, &d),
	    LWM2M_OK);
	ck_assert_uint_eq(n->value.v.lnk.obj, 3);
	ck_assert_uint_eq(n->value.v.lnk.inst, 0);
	lwm2m_tree_fini(&t);
}
END_TEST

/* Core TS example: Read /2 (Access Control), instances 0 and 2; the ACL of
 * instance 2 has a resource instance with the 16-bit id 310. */
START_TEST(test_lwm2m_tlv_decode_multiple_instances)
{
	static const uint8_t in[] = {
	    0x08, 0x00, 0x0E, 0xC1, 0x00, 0x01, 0xC1, 0x01, 0x00, 0x83,
	    0x02, 0x41, 0x7F, 0x07, 0xC1, 0x03, 0x7F, 0x08, 0x02, 0x12,
	    0xC1, 0x00, 0x03, 0xC1, 0x01, 0x00, 0x87, 0x02, 0x41, 0x7F,
	    0x07, 0x61, 0x01, 0x36, 0x01, 0xC1, 0x03, 0x7F,
	};
	struct lwm2m_tree want, got;
	struct lwm2m_path base = P("/2");
	struct lwm2m_diag d;
	uint8_t *out;
	size_t len;

	ck_assert_uint_eq(sizeof(in), 38);
	lwm2m_tree_init(&want, NULL);
	set_int(&want, "/2/0/0", 1);
	set_int(&want, "/2/0/1", 0);
	set_int(&want, "/2/0/2/127", 7);
	set_int(&want, "/2/0/3", 127);
	set_int(&want, "/2/2/0", 3);
	set_int(&want, "/2/2/1", 0);
	set_int(&want, "/2/2/2/127", 7);
	set_int(&want, "/2/2/2/310", 1);
	set_int(&want, "/2/2/3", 127);
	lwm2m_tree_init(&got, NULL);
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_TLV, in, sizeof(in), &base, &got, &d),
	    LWM2M_OK);
	coerce_like(&got, &want.root, &want);
	ck_assert(lwm2m_tree_equal(&want, &got));
	ck_assert_int_eq(lwm2m_encode(LWM2M_FMT_TLV, &want, &base, &out, &len),
	                 LWM2M_OK);
	ck_assert_uint_eq(len, sizeof(in));
	ck_assert_mem_eq(out, in, len);
	free(out);
	lwm2m_tree_fini(&want);
	lwm2m_tree_fini(&got);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_path_forms)
{
	static const uint8_t wrapped[] = {0x03, 0x00, 0xC1, 0x09, 0x64};
	static const uint8_t insts[] = {0x41, 0x00, 0x01, 0x41, 0x01, 0x05};
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/3/0"), p = P("/3/0/9");
	struct lwm2m_diag d;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_TLV, wrapped, sizeof(wrapped),
	                              &base, &t, &d),
	                 LWM2M_OK);
	ck_assert_ptr_nonnull(lwm2m_tree_get(&t, &p));
	base = P("/4");
	/* resources without an instance item are read as instance 0 */
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_TLV, wrapped + 2, 3, &base, &t, &d),
	    LWM2M_OK);
	p = P("/4/0/9");
	ck_assert_ptr_nonnull(lwm2m_tree_get(&t, &p));
	base = P("/3/0/6");
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_TLV, insts, sizeof(insts), &base, &t, &d),
	    LWM2M_OK);
	ck_assert_int_eq(lwm2m_tree_get(&t, &base)->kind,
	                 LWM2M_NODE_MULTI_RESOURCE);
	ck_assert_uint_eq(lwm2m_tree_get(&t, &base)->n_children, 2);
	base = P("/3/0/9");
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_TLV, wrapped + 2, 3, &base, &t, &d),
	    LWM2M_EPROTO); /* duplicate of /3/0/9 */
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_malformed)
{
	static const struct {
		const char *path;
		const char *in;
		size_t len;
		size_t off;
	} bad[] = {
	    {"/3/0", "\xC8", 1, 0},     /* no id */
	    {"/3/0", "\xC8\x00", 2, 0}, /* no length */
	    {"/3/0",
	     "\xC8\x00\x05"
	     "ab",
	     5, 0},                                   /* value past end */
	    {"/3/0", "\xD8\x00\x00\x01", 4, 0},       /* 16-bit length cut */
	    {"/3/0", "\xE1\xFF\xFF\x00", 4, 1},       /* reserved id */
	    {"/3/0", "\xC1\x01\x00\xC1\x02", 5, 3},   /* second item cut */
	    {"/3/0", "\x41\x00\x01", 3, 0},           /* res. inst. at top */
	    {"/3/0", "\x81\x06\xC0\x00", 4, 2},       /* resource in multi */
	    {"/3/0/1", "\xC1\x02\x00", 3, 0},         /* id mismatch */
	    {"/3", "\x08\x00\x03\x81\x06\x41", 6, 5}, /* nested cut */
	    {"/", "\xC1\x00\x00", 3, 0},              /* root */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lwm2m_tree t;
		struct lwm2m_path base = P(bad[i].path);
		struct lwm2m_diag d = {0};

		lwm2m_tree_init(&t, NULL);
		ck_assert_msg(
		    lwm2m_decode(LWM2M_FMT_TLV, (const uint8_t *)bad[i].in,
		                 bad[i].len, &base, &t, &d) == LWM2M_EPROTO,
		    "case %zu accepted", i);
		ck_assert_msg(d.offset == bad[i].off,
		              "case %zu: offset %zu (%s)", i, d.offset, d.msg);
		ck_assert(d.msg[0] != '\0');
		lwm2m_tree_fini(&t);
	}
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_limits)
{
	static const uint8_t in[] = {0xC1, 0x00, 0x01, 0xC1, 0x01,
	                             0x01, 0xC1, 0x02, 0x01};
	struct lwm2m_limits lim = lwm2m_limits_default;
	struct lwm2m_tree t;
	struct lwm2m_path base = P("/3/0");
	struct lwm2m_diag d;

	lim.max_nodes = 4;
	lwm2m_tree_init(&t, &lim);
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_TLV, in, sizeof(in), &base, &t, &d),
	    LWM2M_ELIMIT);
	ck_assert_uint_eq(d.offset, 6);
	lwm2m_tree_fini(&t);
	lim.max_nodes = 100;
	lim.max_input_len = 8;
	lwm2m_tree_init(&t, &lim);
	ck_assert_int_eq(
	    lwm2m_decode(LWM2M_FMT_TLV, in, sizeof(in), &base, &t, &d),
	    LWM2M_ELIMIT);
	lwm2m_tree_fini(&t);
}
END_TEST

static Suite *
tlv_suite(void)
{
	const struct check_case cases[] = {
	    {"lwm2m_tlv_encode", test_lwm2m_tlv_encode_device},
	    {"lwm2m_tlv_encode", test_lwm2m_tlv_encode_single_and_instance},
	    {"lwm2m_tlv_encode", test_lwm2m_tlv_encode_widths},
	    {"lwm2m_tlv_encode", test_lwm2m_tlv_encode_float_and_big_ids},
	    {"lwm2m_tlv_decode", test_lwm2m_tlv_decode_device},
	    {"lwm2m_tlv_decode", test_lwm2m_tlv_decode_signed_byte},
	    {"lwm2m_tlv_decode", test_lwm2m_tlv_decode_instances_and_objlnk},
	    {"lwm2m_tlv_decode", test_lwm2m_tlv_decode_multiple_instances},
	    {"lwm2m_tlv_decode", test_lwm2m_tlv_decode_path_forms},
	    {"lwm2m_tlv_decode", test_lwm2m_tlv_decode_malformed},
	    {"lwm2m_tlv_decode", test_lwm2m_tlv_decode_limits},
	};
	return check_suite("tlv", cases, sizeof(cases) / sizeof(cases[0]));
}

int
main(void)
{
	return check_run(tlv_suite());
}
