/* Unit tests of services/broker/brk_notify.c: the value a filtered
 * Observation subscription compares. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "brk.h"

/* A definition of object 3303 with a single Float (5700) and a collection
 * of Floats (5701). */
static struct lwm2m_objdef *
temp_def(void)
{
	struct lwm2m_objdef *def;
	struct lwm2m_propdef *p;

	ck_assert_int_eq(lwm2m_objdef_new(&def), LWM2M_OK);
	def->object_id = 3303;
	ck_assert_int_eq(lwm2m_objdef_add_prop(def, &p), LWM2M_OK);
	p->resource_id = 5700;
	p->type = LWM2M_OBJDEF_FLOAT;
	ck_assert_int_eq(lwm2m_objdef_add_prop(def, &p), LWM2M_OK);
	p->resource_id = 5701;
	p->type = LWM2M_OBJDEF_FLOAT;
	p->is_collection = true;
	return def;
}

/* decode decodes payload (fmt) notified on path into t. */
static void
decode(struct lwm2m_tree *t, enum lwm2m_format fmt, const char *path,
       const char *payload, struct lwm2m_path *ret_path)
{
	lwm2m_tree_init(t, NULL);
	ck_assert_int_eq(lwm2m_path_parse(path, strlen(path), ret_path),
	                 LWM2M_OK);
	ck_assert_int_eq(lwm2m_decode(fmt, (const uint8_t *)payload,
	                              strlen(payload), ret_path, t, NULL),
	                 LWM2M_OK);
}

START_TEST(test_brk__watched_value_plain)
{
	struct lwm2m_objdef *def = temp_def();
	struct lwm2m_tree t;
	struct lwm2m_path p;
	double v = 0;

	decode(&t, LWM2M_FMT_TEXT, "/3303/0/5700", "21.5", &p);
	ck_assert(brk__watched_value(&t, &p, -1, def, true, &v));
	ck_assert_double_eq(v, 21.5);
	lwm2m_tree_fini(&t);
	decode(&t, LWM2M_FMT_LWM2M_JSON, "/3303/0",
	       "{\"bn\":\"/3303/0/\",\"e\":[{\"n\":\"5700\",\"v\":7.25}]}", &p);
	ck_assert(brk__watched_value(&t, &p, 5700, def, false, &v));
	ck_assert_double_eq(v, 7.25);
	ck_assert(!brk__watched_value(&t, &p, -1, def, false, &v));
	ck_assert(!brk__watched_value(&t, &p, 5701, def, false, &v));
	lwm2m_tree_fini(&t);
	lwm2m_objdef_free(def);
}
END_TEST

/* Wakaama 1.0 names the single resource /3303/0/5700 as
 * "bn":"/3303/0/5700/","n":"5700", i.e. /3303/0/5700/5700 */
START_TEST(test_brk__watched_value_wakaama)
{
	static const char wakaama[] = "{\"bn\":\"/3303/0/5700/\",\"e\":[{\"n\":"
	                              "\"5700\",\"v\":42.5}]}";
	struct lwm2m_objdef *def = temp_def();
	struct lwm2m_tree t;
	struct lwm2m_path p;
	double v = 0;

	decode(&t, LWM2M_FMT_LWM2M_JSON, "/3303/0/5700", wakaama, &p);
	ck_assert(brk__watched_value(&t, &p, -1, def, false, &v));
	ck_assert_double_eq(v, 42.5);
	v = 0;
	ck_assert(brk__watched_value(&t, &p, 5700, def, false, &v));
	ck_assert_double_eq(v, 42.5);
	lwm2m_tree_fini(&t);
	/* one instance with another id, or two: no single value */
	decode(&t, LWM2M_FMT_LWM2M_JSON, "/3303/0/5700",
	       "{\"bn\":\"/3303/0/5700/\",\"e\":[{\"n\":\"1\",\"v\":1}]}", &p);
	ck_assert(!brk__watched_value(&t, &p, -1, def, false, &v));
	lwm2m_tree_fini(&t);
	decode(&t, LWM2M_FMT_LWM2M_JSON, "/3303/0/5700",
	       "{\"bn\":\"/3303/0/5700/\",\"e\":[{\"n\":\"5700\",\"v\":1},"
	       "{\"n\":\"5701\",\"v\":2}]}",
	       &p);
	ck_assert(!brk__watched_value(&t, &p, -1, def, false, &v));
	lwm2m_tree_fini(&t);
	lwm2m_objdef_free(def);
}
END_TEST

static Suite *
brk_notify_suite(void)
{
	Suite *s = suite_create("brk_notify");
	TCase *tc = tcase_create("brk__watched_value");

	tcase_add_test(tc, test_brk__watched_value_plain);
	tcase_add_test(tc, test_brk__watched_value_wakaama);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(brk_notify_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
