/* Unit tests of lwm2m_jsonw: strings escaped byte for byte as yajl_gen
 * writes them, fixed and growable buffers and their limits. */
#include <check.h>

#include "check_util.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "lwm2m_jsonw.h"

/* Every byte value, each in a string of its own and all in one. */
START_TEST(test_lwm2m_jsonw_str_as_yajl)
{
	char all[256];

	for (int c = 0; c < 256; c++) {
		all[c] = (char)(c == 0 ? 'x' : c);
	}
	for (int c = -1; c < 256; c++) {
		const char *s = c < 0 ? all : &all[c];
		size_t n = c < 0 ? sizeof all : 1;
		yajl_gen g = yajl_gen_alloc(NULL);
		const unsigned char *want;
		size_t want_len, len;
		struct lwm2m_jsonw w;

		ck_assert_ptr_nonnull(g);
		ck_assert_int_eq(
		    yajl_gen_string(g, (const unsigned char *)s, n),
		    yajl_gen_status_ok);
		yajl_gen_get_buf(g, &want, &want_len);
		lwm2m_jsonw_init(&w, 4096);
		lwm2m_jsonw_str(&w, s, n);
		ck_assert_int_eq(lwm2m_jsonw_finish(&w, &len), LWM2M_OK);
		ck_assert_uint_eq(len, want_len);
		ck_assert_mem_eq(w.buf, want, len);
		ck_assert_int_eq(w.buf[len], '\0');
		free(w.buf);
		yajl_gen_free(g);
	}
}
END_TEST

START_TEST(test_lwm2m_jsonw_plain)
{
	ck_assert(lwm2m_jsonw_plain("https://h/a b/\x7f\xc3\xa9", 16));
	ck_assert(lwm2m_jsonw_plain("", 0));
	ck_assert(!lwm2m_jsonw_plain("a\"b", 3));
	ck_assert(!lwm2m_jsonw_plain("a\\b", 3));
	ck_assert(!lwm2m_jsonw_plain("a\x1f", 2));
	ck_assert(!lwm2m_jsonw_plain("a\0b", 3));
}
END_TEST

START_TEST(test_lwm2m_jsonw_int)
{
	char buf[128];
	struct lwm2m_jsonw w;
	size_t len;

	lwm2m_jsonw_init_fixed(&w, buf, sizeof buf);
	lwm2m_jsonw_int(&w, 0);
	lwm2m_jsonw_raw(&w, ",", 1);
	lwm2m_jsonw_int(&w, LLONG_MIN);
	lwm2m_jsonw_raw(&w, ",", 1);
	lwm2m_jsonw_int(&w, LLONG_MAX);
	ck_assert_int_eq(lwm2m_jsonw_finish(&w, &len), LWM2M_OK);
	ck_assert_str_eq(buf, "0,-9223372036854775808,9223372036854775807");
	ck_assert_uint_eq(len, strlen(buf));
}
END_TEST

/* A fixed buffer holds size - 1 bytes and the NUL, no more. */
START_TEST(test_lwm2m_jsonw_fixed_limit)
{
	char buf[6];
	struct lwm2m_jsonw w;
	size_t len;

	lwm2m_jsonw_init_fixed(&w, buf, sizeof buf);
	lwm2m_jsonw_str(&w, "abc", 3);
	ck_assert_int_eq(lwm2m_jsonw_finish(&w, &len), LWM2M_OK);
	ck_assert_str_eq(buf, "\"abc\"");
	lwm2m_jsonw_init_fixed(&w, buf, sizeof buf);
	lwm2m_jsonw_str(&w, "abcd", 4);
	ck_assert_int_eq(lwm2m_jsonw_finish(&w, &len), LWM2M_ELIMIT);
	lwm2m_jsonw_init_fixed(&w, buf, 0);
	ck_assert_int_eq(lwm2m_jsonw_finish(&w, &len), LWM2M_ELIMIT);
}
END_TEST

/* A growable writer grows past its first allocation up to max bytes. */
START_TEST(test_lwm2m_jsonw_grows_to_max)
{
	static char big[5000];
	struct lwm2m_jsonw w;
	size_t len;

	memset(big, 'a', sizeof big);
	lwm2m_jsonw_init(&w, sizeof big + 3);
	lwm2m_jsonw_str(&w, big, sizeof big);
	ck_assert_int_eq(lwm2m_jsonw_finish(&w, &len), LWM2M_OK);
	ck_assert_uint_eq(len, sizeof big + 2);
	ck_assert_uint_eq(strlen(w.buf), len);
	free(w.buf);
	lwm2m_jsonw_init(&w, sizeof big + 2);
	lwm2m_jsonw_str(&w, big, sizeof big);
	ck_assert_int_eq(lwm2m_jsonw_finish(&w, &len), LWM2M_ELIMIT);
	ck_assert_ptr_null(w.buf);
	lwm2m_jsonw_init(&w, 16);
	ck_assert_int_eq(lwm2m_jsonw_finish(&w, &len), LWM2M_OK);
	ck_assert_str_eq(w.buf, "");
	ck_assert_uint_eq(len, 0);
	free(w.buf);
}
END_TEST

int
main(void)
{
	const struct check_case cases[] = {
	    {"lwm2m_jsonw_str", test_lwm2m_jsonw_str_as_yajl},
	    {"lwm2m_jsonw_plain", test_lwm2m_jsonw_plain},
	    {"lwm2m_jsonw_int", test_lwm2m_jsonw_int},
	    {"lwm2m_jsonw_finish", test_lwm2m_jsonw_fixed_limit},
	    {"lwm2m_jsonw_finish", test_lwm2m_jsonw_grows_to_max},
	};

	return check_run(
	    check_suite("lwm2m_jsonw", cases, sizeof cases / sizeof cases[0]));
}
