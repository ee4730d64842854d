/* Unit tests of the CBOR reader and writer (lwm2m_cbor.c): the examples of
 * RFC 8949 Appendix A, the not-well-formed items of Appendix F, limits, and
 * the canonical writer. */
#include <check.h>

#include "check_util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_cbor.h"

/* unhex turns "8301" into bytes and returns the length. */
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

static void
tohex(const uint8_t *p, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		sprintf(out + 2 * i, "%02x", p[i]);
	}
	out[2 * len] = '\0';
}

static lwm2m_err copy_item(struct lwm2m_cbor_reader *r,
                           struct lwm2m_cbor_writer *w);

/* copy_container re-encodes the elements with a definite count. */
static lwm2m_err
copy_container(struct lwm2m_cbor_reader *r, struct lwm2m_cbor_writer *w,
               struct lwm2m_cbor_item *it)
{
	struct lwm2m_buf inner = {0};
	struct lwm2m_cbor_writer wi;
	uint64_t n = 0;
	bool more = true;
	lwm2m_err err = LWM2M_OK;

	lwm2m_cbor_writer_init(&wi, &inner);
	while (err == LWM2M_OK) {
		err = lwm2m_cbor_next(r, it, &more);
		if (err != LWM2M_OK || !more) {
			break;
		}
		n++;
		err = copy_item(r, &wi);
		if (err == LWM2M_OK && it->kind == LWM2M_CBOR_MAP) {
			err = copy_item(r, &wi);
		}
	}
	if (err == LWM2M_OK) {
		if (it->kind == LWM2M_CBOR_ARRAY) {
			lwm2m_cbor_put_array(w, n);
		} else {
			lwm2m_cbor_put_map(w, n);
		}
		if (inner.len > 0 && w->err == LWM2M_OK) {
			w->err =
			    lwm2m_buf_append(w->out, inner.data, inner.len);
		}
	}
	lwm2m_buf_fini(&inner);
	return err;
}

static void
copy_string(struct lwm2m_cbor_writer *w, const struct lwm2m_cbor_item *it)
{
	uint8_t *s = malloc(it->len + 1);

	lwm2m_cbor_string_copy(it, s);
	if (it->kind == LWM2M_CBOR_TEXT) {
		lwm2m_cbor_put_text(w, (const char *)s, it->len);
	} else {
		lwm2m_cbor_put_bytes(w, s, it->len);
	}
	free(s);
}

static void
copy_simple(struct lwm2m_cbor_writer *w, uint64_t v)
{
	uint8_t b[2] = {0xf8, (uint8_t)v};

	if (v < 24) {
		b[0] = (uint8_t)(0xe0 | v);
		w->err = lwm2m_buf_append(w->out, b, 1);
	} else {
		w->err = lwm2m_buf_append(w->out, b, 2);
	}
}

/* copy_item re-encodes one item canonically (definite lengths). */
static lwm2m_err
copy_item(struct lwm2m_cbor_reader *r, struct lwm2m_cbor_writer *w)
{
	struct lwm2m_cbor_item it;
	lwm2m_err err = lwm2m_cbor_read(r, &it);

	if (err != LWM2M_OK) {
		return err;
	}
	if (it.tagged) {
		lwm2m_cbor_put_tag(w, it.tag);
	}
	switch (it.kind) {
	case LWM2M_CBOR_UINT:
		lwm2m_cbor_put_uint(w, it.u);
		break;
	case LWM2M_CBOR_NEGINT:
		lwm2m_cbor_put_negint(w, it.u);
		break;
	case LWM2M_CBOR_BYTES:
	case LWM2M_CBOR_TEXT:
		copy_string(w, &it);
		break;
	case LWM2M_CBOR_ARRAY:
	case LWM2M_CBOR_MAP:
		return copy_container(r, w, &it);
	case LWM2M_CBOR_FALSE:
	case LWM2M_CBOR_TRUE:
	case LWM2M_CBOR_NULL:
	case LWM2M_CBOR_UNDEFINED:
	case LWM2M_CBOR_SIMPLE:
		copy_simple(w, it.u);
		break;
	case LWM2M_CBOR_FLOAT:
		lwm2m_cbor_put_float(w, it.f);
		break;
	}
	return err;
}

/* recode decodes hex and re-encodes it canonically into out (hex). */
static lwm2m_err
recode(const char *hex, char *out)
{
	uint8_t in[256];
	size_t n = unhex(hex, in);
	struct lwm2m_cbor_reader r;
	struct lwm2m_buf buf = {0};
	struct lwm2m_cbor_writer w;
	lwm2m_err err;

	lwm2m_cbor_writer_init(&w, &buf);
	err = lwm2m_cbor_reader_init(&r, in, n, NULL, NULL);
	if (err == LWM2M_OK) {
		err = copy_item(&r, &w);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_cbor_finish(&r);
	}
	if (err == LWM2M_OK) {
		err = w.err;
	}
	if (err == LWM2M_OK) {
		tohex(buf.data, buf.len, out);
	}
	lwm2m_buf_fini(&buf);
	return err;
}

/* RFC 8949 Appendix A examples that are already canonical. */
static const char *const canonical[] = {
    "00",
    "01",
    "0a",
    "17",
    "1818",
    "1819",
    "1864",
    "1903e8",
    "1a000f4240",
    "1b000000e8d4a51000",
    "1bffffffffffffffff",
    "c249010000000000000000",
    "3bffffffffffffffff",
    "c349010000000000000000",
    "20",
    "29",
    "3863",
    "3903e7",
    "f90000",
    "f98000",
    "f93c00",
    "fb3ff199999999999a",
    "f93e00",
    "f97bff",
    "fa47c35000",
    "fa7f7fffff",
    "fb7e37e43c8800759c",
    "f90001",
    "f90400",
    "f9c400",
    "fbc010666666666666",
    "f97c00",
    "f97e00",
    "f9fc00",
    "f4",
    "f5",
    "f6",
    "f7",
    "f0",
    "f8ff",
    "c074323031332d30332d32315432303a30343a30305a",
    "c11a514b67b0",
    "c1fb41d452d9ec200000",
    "d74401020304",
    "d818456449455446",
    "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
    "40",
    "4401020304",
    "60",
    "6161",
    "6449455446",
    "62225c",
    "62c3bc",
    "63e6b0b4",
    "64f0908591",
    "80",
    "83010203",
    "8301820203820405",
    "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
    "a0",
    "a201020304",
    "a26161016162820203",
    "826161a161626163",
    "a56161614161626142616361436164614461656145",
};

START_TEST(test_lwm2m_cbor_read_appendix_a)
{
	char out[256];

	for (size_t i = 0; i < sizeof(canonical) / sizeof(canonical[0]); i++) {
		ck_assert_msg(recode(canonical[i], out) == LWM2M_OK, "%s",
		              canonical[i]);
		ck_assert_str_eq(out, canonical[i]);
	}
}
END_TEST

/* Non-canonical Appendix A forms and what the writer makes of them. */
static const char *const recoded[][2] = {
    {"fa7f800000", "f97c00"},
    {"fa7fc00000", "f97e00"},
    {"faff800000", "f9fc00"},
    {"fb7ff0000000000000", "f97c00"},
    {"fb7ff8000000000000", "f97e00"},
    {"fbfff0000000000000", "f9fc00"},
    {"5f42010243030405ff", "450102030405"},
    {"7f657374726561646d696e67ff", "6973747265616d696e67"},
    {"9fff", "80"},
    {"9f018202039f0405ffff", "8301820203820405"},
    {"9f01820203820405ff", "8301820203820405"},
    {"83018202039f0405ff", "8301820203820405"},
    {"83019f0203ff820405", "8301820203820405"},
    {"9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff",
     "98190102030405060708090a0b0c0d0e0f101112131415161718181819"},
    {"bf61610161629f0203ffff", "a26161016162820203"},
    {"826161bf61626163ff", "826161a161626163"},
    {"bf6346756ef563416d7421ff", "a26346756ef563416d7421"},
    {"1800", "00"},
    {"190001", "01"},
    {"d9d9f7d9d9f701", "01"},
    {"d9d9f701", "01"},       /* self-describe tag dropped */
    {"fa3fc00000", "f93e00"}, /* 1.5 as single */
};

START_TEST(test_lwm2m_cbor_read_indefinite_and_nonshortest)
{
	char out[256];

	for (size_t i = 0; i < sizeof(recoded) / sizeof(recoded[0]); i++) {
		ck_assert_msg(recode(recoded[i][0], out) == LWM2M_OK, "%s",
		              recoded[i][0]);
		ck_assert_str_eq(out, recoded[i][1]);
	}
}
END_TEST

/* Not well-formed (RFC 8949 Appendix F and more): all LWM2M_EPROTO. */
static const char *const malformed[] = {
    "",
    "18",
    "19",
    "1a",
    "1b",
    "1901",
    "1a0102",
    "1b01020304050607",
    "38",
    "58",
    "78",
    "98",
    "9a01ff00",
    "b8",
    "d8",
    "f8",
    "f900",
    "fa0000",
    "fb000000",
    "41",
    "61",
    "5affffffff00",
    "5bffffffffffffffff010203",
    "7affffffff00",
    "7b7fffffffffffffff010203",
    "81",
    "818181818181818181",
    "8200",
    "a1",
    "a20102",
    "a100",
    "a2000000",
    "c0",
    "5f4100",
    "5f410001",
    "7f6100",
    "9f",
    "9f0102",
    "bf",
    "bf01020102",
    "819f",
    "9f8000",
    "9f9f9f9f9fffffffff",
    "9f819f819f9fffffff",
    "1c",
    "1d",
    "1e",
    "3c",
    "3d",
    "3e",
    "5c",
    "5d",
    "5e",
    "7c",
    "7d",
    "7e",
    "9c",
    "9d",
    "9e",
    "bc",
    "bd",
    "be",
    "dc",
    "dd",
    "de",
    "fc",
    "fd",
    "fe",
    "f800",
    "f801",
    "f818",
    "f81f",
    "1f",
    "3f",
    "df",
    "ff",
    "81ff",
    "8200ff",
    "a1ff",
    "a1ff00",
    "a100ff",
    "a20000ff",
    "9f81ff",
    "9f829f819f9fffffffff",
    "5f00ff",
    "5f21ff",
    "5f6100ff",
    "5f80ff",
    "5fa0ff",
    "5fc000ff",
    "5fe0ff",
    "7f4100ff",
    "5f5f4100ffff",
    "7f7f6100ffff",
    "bf00ff",
    "bf000000ff",
    "62c328",
    "62c080",
    "63eda080",
    "64f4908080",
    "61ff",
    "0000",
    "c1c101",
    "9bffffffffffffffff",
};

START_TEST(test_lwm2m_cbor_read_malformed)
{
	char out[256];

	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		ck_assert_msg(recode(malformed[i], out) == LWM2M_EPROTO, "%s",
		              malformed[i]);
	}
}
END_TEST

START_TEST(test_lwm2m_cbor_read_diag_offset)
{
	uint8_t in[16];
	size_t n = unhex("83010262c328", in);
	struct lwm2m_diag diag = {0};

	ck_assert_int_eq(lwm2m_cbor_validate(in, n, NULL, &diag), LWM2M_EPROTO);
	ck_assert_uint_eq(diag.offset, 4);
	ck_assert_ptr_nonnull(strstr(diag.msg, "UTF-8"));
	n = unhex("8200ff", in);
	ck_assert_int_eq(lwm2m_cbor_validate(in, n, NULL, &diag), LWM2M_EPROTO);
	ck_assert_uint_eq(diag.offset, 2);
	ck_assert_ptr_nonnull(strstr(diag.msg, "break"));
	n = unhex("1c", in);
	ck_assert_int_eq(lwm2m_cbor_validate(in, n, NULL, &diag), LWM2M_EPROTO);
	ck_assert_ptr_nonnull(strstr(diag.msg, "reserved"));
}
END_TEST

START_TEST(test_lwm2m_cbor_read_limits)
{
	struct lwm2m_limits lim = lwm2m_limits_default;
	uint8_t deep[40];
	uint8_t in[16];
	size_t n;
	struct lwm2m_diag diag = {0};

	memset(deep, 0x81, sizeof(deep));
	deep[sizeof(deep) - 1] = 0x00;
	ck_assert_int_eq(lwm2m_cbor_validate(deep, sizeof(deep), NULL, &diag),
	                 LWM2M_ELIMIT);
	ck_assert_uint_eq(diag.offset, 16);
	ck_assert_int_eq(lwm2m_cbor_validate(deep + 24, 16, NULL, NULL),
	                 LWM2M_OK);
	lim.max_value_len = 4;
	n = unhex("4401020304", in);
	ck_assert_int_eq(lwm2m_cbor_validate(in, n, &lim, NULL), LWM2M_OK);
	n = unhex("450102030405", in);
	ck_assert_int_eq(lwm2m_cbor_validate(in, n, &lim, NULL), LWM2M_ELIMIT);
	n = unhex("5f4301020342040502ff", in);
	ck_assert_int_eq(lwm2m_cbor_validate(in, n, &lim, NULL), LWM2M_ELIMIT);
	lim.max_input_len = 3;
	ck_assert_int_eq(lwm2m_cbor_validate(in, n, &lim, NULL), LWM2M_ELIMIT);
}
END_TEST

START_TEST(test_lwm2m_cbor_skip_nested)
{
	uint8_t in[32];
	size_t n = unhex("82a2616183010203616280f5", in);
	struct lwm2m_cbor_reader r;
	struct lwm2m_cbor_item top, first, second;
	bool more;

	ck_assert_int_eq(lwm2m_cbor_reader_init(&r, in, n, NULL, NULL),
	                 LWM2M_OK);
	ck_assert_int_eq(lwm2m_cbor_read(&r, &top), LWM2M_OK);
	ck_assert_int_eq(top.kind, LWM2M_CBOR_ARRAY);
	ck_assert_int_eq(lwm2m_cbor_next(&r, &top, &more), LWM2M_OK);
	ck_assert(more);
	ck_assert_int_eq(lwm2m_cbor_read(&r, &first), LWM2M_OK);
	ck_assert_int_eq(first.kind, LWM2M_CBOR_MAP);
	ck_assert_int_eq(lwm2m_cbor_skip(&r, &first), LWM2M_OK);
	ck_assert_int_eq(lwm2m_cbor_next(&r, &top, &more), LWM2M_OK);
	ck_assert(more);
	ck_assert_int_eq(lwm2m_cbor_read(&r, &second), LWM2M_OK);
	ck_assert_int_eq(second.kind, LWM2M_CBOR_TRUE);
	ck_assert_int_eq(lwm2m_cbor_next(&r, &top, &more), LWM2M_OK);
	ck_assert(!more);
	ck_assert_uint_eq(r.depth, 0);
	ck_assert_int_eq(lwm2m_cbor_finish(&r), LWM2M_OK);
}
END_TEST

/* item_value reads hex as one item and converts it. */
static lwm2m_err
item_value(const char *hex, struct lwm2m_tree *tree, struct lwm2m_value *v)
{
	static uint8_t in[64];
	size_t n = unhex(hex, in);
	struct lwm2m_cbor_reader r;
	struct lwm2m_cbor_item it;
	lwm2m_err err = lwm2m_cbor_reader_init(&r, in, n, NULL, NULL);

	if (err == LWM2M_OK) {
		err = lwm2m_cbor_read(&r, &it);
	}
	return err != LWM2M_OK ? err : lwm2m_cbor_item_value(&r, &it, tree, v);
}

START_TEST(test_lwm2m_cbor_item_value_types)
{
	struct lwm2m_tree tree;
	struct lwm2m_value v;

	lwm2m_tree_init(&tree, NULL);
	ck_assert_int_eq(item_value("c11a514b67b0", &tree, &v), LWM2M_OK);
	ck_assert_int_eq(v.type, LWM2M_TYPE_TIME);
	ck_assert_int_eq(v.v.i, 1363896240);
	ck_assert_int_eq(item_value("c1fb41d452d9ec000000", &tree, &v),
	                 LWM2M_OK);
	ck_assert_int_eq(v.type, LWM2M_TYPE_TIME);
	ck_assert_int_eq(v.v.i, 1363896240);
	ck_assert_int_eq(item_value("c1fb41d452d9ec200000", &tree, &v),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(item_value("1bffffffffffffffff", &tree, &v), LWM2M_OK);
	ck_assert_int_eq(v.type, LWM2M_TYPE_UNSIGNED);
	ck_assert(v.v.u == UINT64_MAX);
	ck_assert_int_eq(item_value("3b7fffffffffffffff", &tree, &v), LWM2M_OK);
	ck_assert_int_eq(v.type, LWM2M_TYPE_INTEGER);
	ck_assert(v.v.i == INT64_MIN);
	ck_assert_int_eq(item_value("3bffffffffffffffff", &tree, &v),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(item_value("3903e7", &tree, &v), LWM2M_OK);
	ck_assert_int_eq(v.v.i, -1000);
	ck_assert_int_eq(item_value("f93e00", &tree, &v), LWM2M_OK);
	ck_assert_int_eq(v.type, LWM2M_TYPE_FLOAT);
	ck_assert(v.v.f == 1.5);
	ck_assert_int_eq(item_value("f5", &tree, &v), LWM2M_OK);
	ck_assert_int_eq(v.type, LWM2M_TYPE_BOOLEAN);
	ck_assert(v.v.b);
	ck_assert_int_eq(item_value("4401020304", &tree, &v), LWM2M_OK);
	ck_assert_int_eq(v.type, LWM2M_TYPE_OPAQUE);
	ck_assert_uint_eq(v.v.bytes.len, 4);
	ck_assert_int_eq(item_value("7f657374726561646d696e67ff", &tree, &v),
	                 LWM2M_OK);
	ck_assert_int_eq(v.type, LWM2M_TYPE_STRING);
	ck_assert_mem_eq(v.v.bytes.ptr, "streaming", 9);
	ck_assert_int_eq(
	    item_value("c074323031332d30332d32315432303a30343a30305a", &tree,
	               &v),
	    LWM2M_EPROTO);
	ck_assert_int_eq(item_value("f6", &tree, &v), LWM2M_EPROTO);
	ck_assert_int_eq(item_value("f7", &tree, &v), LWM2M_EPROTO);
	ck_assert_int_eq(item_value("80", &tree, &v), LWM2M_EPROTO);
	ck_assert_int_eq(item_value("a0", &tree, &v), LWM2M_EPROTO);
	lwm2m_tree_fini(&tree);
}
END_TEST

/* put runs one put into a fresh buffer and returns its hex. */
static const char *
put_hex(void (*fn)(struct lwm2m_cbor_writer *, const void *), const void *arg)
{
	static char out[128];
	struct lwm2m_buf buf = {0};
	struct lwm2m_cbor_writer w;

	lwm2m_cbor_writer_init(&w, &buf);
	fn(&w, arg);
	ck_assert_int_eq(w.err, LWM2M_OK);
	tohex(buf.data, buf.len, out);
	lwm2m_buf_fini(&buf);
	return out;
}

static void
put_float_fn(struct lwm2m_cbor_writer *w, const void *arg)
{
	lwm2m_cbor_put_float(w, *(const double *)arg);
}

static void
put_int_fn(struct lwm2m_cbor_writer *w, const void *arg)
{
	lwm2m_cbor_put_int(w, *(const int64_t *)arg);
}

static void
put_value_fn(struct lwm2m_cbor_writer *w, const void *arg)
{
	lwm2m_cbor_put_value(w, arg);
}

START_TEST(test_lwm2m_cbor_put_float_shortest)
{
	static const struct {
		double v;
		const char *hex;
	} cases[] = {
	    {0.0, "f90000"},
	    {-0.0, "f98000"},
	    {1.0, "f93c00"},
	    {1.5, "f93e00"},
	    {65504.0, "f97bff"},
	    {65505.0, "fa477fe100"},
	    {100000.0, "fa47c35000"},
	    {5.960464477539063e-8, "f90001"},
	    {0.00006103515625, "f90400"},
	    {2.98023223876953125e-8, "fa33000000"},
	    {-4.0, "f9c400"},
	    {1.1, "fb3ff199999999999a"},
	    {1.0e+300, "fb7e37e43c8800759c"},
	    {3.4028234663852886e+38, "fa7f7fffff"},
	};
	double v;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_str_eq(put_hex(put_float_fn, &cases[i].v),
		                 cases[i].hex);
	}
	v = INFINITY;
	ck_assert_str_eq(put_hex(put_float_fn, &v), "f97c00");
	v = -INFINITY;
	ck_assert_str_eq(put_hex(put_float_fn, &v), "f9fc00");
	v = NAN;
	ck_assert_str_eq(put_hex(put_float_fn, &v), "f97e00");
}
END_TEST

START_TEST(test_lwm2m_cbor_put_int_shortest)
{
	static const struct {
		int64_t v;
		const char *hex;
	} cases[] = {
	    {0, "00"},
	    {23, "17"},
	    {24, "1818"},
	    {255, "18ff"},
	    {256, "190100"},
	    {65536, "1a00010000"},
	    {-1, "20"},
	    {-24, "37"},
	    {-25, "3818"},
	    {-1000, "3903e7"},
	    {INT64_MIN, "3b7fffffffffffffff"},
	    {4294967296, "1b0000000100000000"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_str_eq(put_hex(put_int_fn, &cases[i].v),
		                 cases[i].hex);
	}
}
END_TEST

START_TEST(test_lwm2m_cbor_put_value_types)
{
	struct lwm2m_value v = {.type = LWM2M_TYPE_TIME, .v.i = 1363896240};
	struct lwm2m_buf buf = {0};
	struct lwm2m_cbor_writer w;

	ck_assert_str_eq(put_hex(put_value_fn, &v), "c11a514b67b0");
	v.type = LWM2M_TYPE_OBJLNK;
	v.v.lnk.obj = 3;
	v.v.lnk.inst = 65535;
	ck_assert_str_eq(put_hex(put_value_fn, &v), "67333a3635353335");
	v.type = LWM2M_TYPE_UNSIGNED;
	v.v.u = UINT64_MAX;
	ck_assert_str_eq(put_hex(put_value_fn, &v), "1bffffffffffffffff");
	v.type = LWM2M_TYPE_OPAQUE;
	v.v.bytes.ptr = (const uint8_t *)"\x01\x02";
	v.v.bytes.len = 2;
	ck_assert_str_eq(put_hex(put_value_fn, &v), "420102");
	v.type = LWM2M_TYPE_CORELNK;
	v.v.bytes.ptr = (const uint8_t *)"</3>";
	v.v.bytes.len = 4;
	ck_assert_str_eq(put_hex(put_value_fn, &v), "643c2f333e");
	v.type = LWM2M_TYPE_BOOLEAN;
	v.v.b = false;
	ck_assert_str_eq(put_hex(put_value_fn, &v), "f4");
	v.type = LWM2M_TYPE_NONE;
	lwm2m_cbor_writer_init(&w, &buf);
	lwm2m_cbor_put_value(&w, &v);
	ck_assert_int_eq(w.err, LWM2M_EINVAL);
	lwm2m_buf_fini(&buf);
}
END_TEST

static Suite *
cbor_suite(void)
{
	Suite *s = suite_create("cbor");
	TCase *tc;

	tc = tcase_create("lwm2m_cbor_read");
	tcase_add_test(tc, test_lwm2m_cbor_read_appendix_a);
	tcase_add_test(tc, test_lwm2m_cbor_read_indefinite_and_nonshortest);
	tcase_add_test(tc, test_lwm2m_cbor_read_malformed);
	tcase_add_test(tc, test_lwm2m_cbor_read_diag_offset);
	tcase_add_test(tc, test_lwm2m_cbor_read_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_cbor_skip");
	tcase_add_test(tc, test_lwm2m_cbor_skip_nested);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_cbor_item_value");
	tcase_add_test(tc, test_lwm2m_cbor_item_value_types);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_cbor_put_float");
	tcase_add_test(tc, test_lwm2m_cbor_put_float_shortest);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_cbor_put_int");
	tcase_add_test(tc, test_lwm2m_cbor_put_int_shortest);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_cbor_put_value");
	tcase_add_test(tc, test_lwm2m_cbor_put_value_types);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(cbor_suite());
}
