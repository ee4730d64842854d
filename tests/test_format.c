/* Unit tests of the content-format choice (lwm2m_format.c). */
#include <check.h>

#include "check_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_format.h"

static const struct lwm2m_path p_root = {0, {0}};
static const struct lwm2m_path p_inst = {2, {3, 0}};
static const struct lwm2m_path p_res = {3, {3, 0, 1}};
static const struct lwm2m_path p_ri = {4, {3, 0, 7, 0}};

static struct lwm2m_format_caps
caps(const char *version, const char *ct)
{
	struct lwm2m_format_caps c;

	ck_assert_int_eq(lwm2m_format_caps_init(&c, version,
	                                        version ? strlen(version) : 0,
	                                        ct, ct ? strlen(ct) : 0),
	                 LWM2M_OK);
	return c;
}

/* cands returns the candidate list as "112 110 ..." for easy comparison. */
static const char *
cands(const struct lwm2m_format_caps *c, const struct lwm2m_path *p,
      bool single)
{
	static char out[128];
	enum lwm2m_format f[LWM2M_FORMAT_MAX_CAND];
	size_t n =
	    lwm2m_format_candidates(c, p, single, f, LWM2M_FORMAT_MAX_CAND);
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		off += (size_t)snprintf(out + off, sizeof(out) - off, "%s%u",
		                        i ? " " : "", (unsigned)f[i]);
	}
	return out;
}

START_TEST(test_lwm2m_format_caps_init_parses)
{
	struct lwm2m_format_caps c = caps("1.1", "\"60 110 112\"");
	char many[128] = "";

	ck_assert_uint_eq(c.major, 1);
	ck_assert_uint_eq(c.minor, 1);
	ck_assert_uint_eq(c.n_ct, 3);
	ck_assert_uint_eq(c.ct[2], 112);
	ck_assert(lwm2m_format_advertised(&c, 60));
	ck_assert(!lwm2m_format_advertised(&c, 11542));
	c = caps(NULL, NULL);
	ck_assert_uint_eq(c.major, 1);
	ck_assert_uint_eq(c.minor, 0);
	c = caps("1.2", "11544");
	ck_assert_uint_eq(c.minor, 2);
	ck_assert_uint_eq(c.n_ct, 1);
	ck_assert_int_eq(lwm2m_format_caps_init(&c, "1", 1, NULL, 0),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(lwm2m_format_caps_init(&c, "1.1.1", 5, NULL, 0),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(lwm2m_format_caps_init(&c, "x.1", 3, NULL, 0),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(lwm2m_format_caps_init(&c, "1.1", 3, "60,110", 6),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(lwm2m_format_caps_init(&c, "1.1", 3, "70000", 5),
	                 LWM2M_EPROTO);
	for (int i = 0; i < 17; i++) {
		strcat(many, "110 ");
	}
	ck_assert_int_eq(
	    lwm2m_format_caps_init(&c, "1.1", 3, many, strlen(many)),
	    LWM2M_ELIMIT);
}
END_TEST

START_TEST(test_lwm2m_format_candidates_v10)
{
	struct lwm2m_format_caps c = caps("1.0", NULL);

	ck_assert_str_eq(cands(&c, &p_inst, false), "11542 11543");
	ck_assert_str_eq(cands(&c, &p_res, false), "11542 11543");
	ck_assert_str_eq(cands(&c, &p_res, true), "11542 0");
	ck_assert_str_eq(cands(&c, &p_ri, false), "11542 0");
	ck_assert_str_eq(cands(&c, &p_root, false), "");
	lwm2m_format_note(&c, LWM2M_FMT_LEGACY_TLV);
	ck_assert_str_eq(cands(&c, &p_inst, false), "1542 11542 11543");
}
END_TEST

START_TEST(test_lwm2m_format_candidates_v11)
{
	struct lwm2m_format_caps c = caps("1.1", "60 110 112");

	ck_assert_str_eq(cands(&c, &p_inst, false), "112 110 11542 11543");
	ck_assert_str_eq(cands(&c, &p_ri, false), "60 112 110 0 11542");
	ck_assert_str_eq(cands(&c, &p_root, false), "112 110");
	c = caps("1.1", "110");
	ck_assert_str_eq(cands(&c, &p_inst, false), "110 112 11542 11543");
	c = caps("1.1", NULL);
	ck_assert_str_eq(cands(&c, &p_res, true), "60 112 110 0 11542");
	c = caps("1.1", "1542 110");
	ck_assert_str_eq(cands(&c, &p_inst, false), "110 1542 11542 112 11543");
}
END_TEST

START_TEST(test_lwm2m_format_candidates_v12)
{
	struct lwm2m_format_caps c = caps("1.2", "11544 112");

	ck_assert_str_eq(cands(&c, &p_inst, false),
	                 "112 11544 110 11542 11543");
	c = caps("1.2", "112");
	ck_assert_str_eq(cands(&c, &p_inst, false), "112 110 11542 11543");
	lwm2m_format_note(&c, LWM2M_FMT_LWM2M_CBOR);
	ck_assert_str_eq(cands(&c, &p_inst, false),
	                 "112 110 11544 11542 11543");
}
END_TEST

START_TEST(test_lwm2m_format_next_fallback)
{
	struct lwm2m_format_caps c = caps("1.1", "110 112");
	enum lwm2m_format refused[4];
	enum lwm2m_format f;
	size_t n = 0;

	ck_assert_int_eq(lwm2m_format_choose(&c, &p_inst, false, &f), LWM2M_OK);
	ck_assert_int_eq(f, LWM2M_FMT_SENML_CBOR);
	while (lwm2m_format_next(&c, &p_inst, false, refused, n, &f) ==
	       LWM2M_OK) {
		ck_assert_uint_lt(n, 4);
		refused[n++] = f;
	}
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(refused[1], LWM2M_FMT_SENML_JSON);
	ck_assert_int_eq(refused[2], LWM2M_FMT_TLV);
	ck_assert_int_eq(refused[3], LWM2M_FMT_LWM2M_JSON);
	c = caps("1.0", NULL);
	ck_assert_int_eq(lwm2m_format_choose(&c, &p_root, false, &f),
	                 LWM2M_ENOTFOUND);
	ck_assert(lwm2m_format_refused(0x86));
	ck_assert(lwm2m_format_refused(0x8f));
	ck_assert(!lwm2m_format_refused(0x84));
	ck_assert(!lwm2m_format_refused(0x45));
}
END_TEST

static Suite *
format_suite(void)
{
	Suite *s = suite_create("format");
	TCase *tc;

	tc = tcase_create("lwm2m_format_caps_init");
	tcase_add_test(tc, test_lwm2m_format_caps_init_parses);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_format_candidates");
	tcase_add_test(tc, test_lwm2m_format_candidates_v10);
	tcase_add_test(tc, test_lwm2m_format_candidates_v11);
	tcase_add_test(tc, test_lwm2m_format_candidates_v12);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_format_next");
	tcase_add_test(tc, test_lwm2m_format_next_fallback);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(format_suite());
}
