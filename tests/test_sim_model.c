/* Unit tests of lwds-sim's object model (objects 1, 3, 5, 3303, 3442). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static const uint16_t all_objs[] = {1, 3, 5, 3303, 3442};

static struct sim_model *
model(void)
{
	struct sim_model *m = NULL;

	ck_assert_int_eq(sim_model_new(all_objs, 5, "ep-1", &m), LWM2M_OK);
	return m;
}

static struct lwm2m_path
P(const char *text) {
	struct lwm2m_path p;

	ck_assert_int_eq(lwm2m_path_parse(text, strlen(text), &p), LWM2M_OK);
	return p;
}

START_TEST(test_sim_model_new_unknown_object)
{
	static const uint16_t objs[] = {3, 4242};
	struct sim_model *m = NULL;

	ck_assert_int_eq(sim_model_new(objs, 2, "x", &m), LWM2M_EINVAL);
	ck_assert_ptr_null(m);
	sim_model_free(NULL);
}
END_TEST

START_TEST(test_sim_model_read_resource)
{
	struct sim_model *m = model();
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/3/0/2");
	struct lwm2m_node *n;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(sim_model_read(m, &p, &t), LWM2M_OK);
	n = lwm2m_tree_get(&t, &p);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_STRING);
	ck_assert_mem_eq(n->value.v.bytes.ptr, "ep-1", 4);
	lwm2m_tree_fini(&t);
	sim_model_free(m);
}
END_TEST

START_TEST(test_sim_model_read_instance_multi)
{
	struct sim_model *m = model();
	struct lwm2m_tree t;
	struct lwm2m_path p = P("/3/0"), r = P("/3/0/7");
	struct lwm2m_node *n;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(sim_model_read(m, &p, &t), LWM2M_OK);
	n = lwm2m_tree_get(&t, &r);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->kind, LWM2M_NODE_MULTI_RESOURCE);
	ck_assert_uint_eq(n->n_children, 2);
	r = P("/3/0/4"); /* executable: never in a read */
	ck_assert_ptr_null(lwm2m_tree_get(&t, &r));
	lwm2m_tree_fini(&t);
	sim_model_free(m);
}
END_TEST

START_TEST(test_sim_model_read_errors)
{
	struct sim_model *m = model();
	struct lwm2m_tree t;
	struct lwm2m_path p;

	lwm2m_tree_init(&t, NULL);
	p = P("/3/0/4");
	ck_assert_int_eq(sim_model_read(m, &p, &t), LWM2M_EDENIED);
	p = P("/3/1");
	ck_assert_int_eq(sim_model_read(m, &p, &t), LWM2M_ENOTFOUND);
	p = P("/4");
	ck_assert_int_eq(sim_model_read(m, &p, &t), LWM2M_ENOTFOUND);
	p = P("/3/0/999");
	ck_assert_int_eq(sim_model_read(m, &p, &t), LWM2M_ENOTFOUND);
	p = P("/5/0/0"); /* write-only Package */
	ck_assert_int_eq(sim_model_read(m, &p, &t), LWM2M_EDENIED);
	lwm2m_tree_fini(&t);
	sim_model_free(m);
}
END_TEST

static lwm2m_err
write_text(struct sim_model *m, const char *path, const char *text,
           bool replace)
{
	struct lwm2m_tree t;
	struct lwm2m_path p = P(path);
	struct lwm2m_value v = {.type = LWM2M_TYPE_RAW};
	lwm2m_err err;

	lwm2m_tree_init(&t, NULL);
	v.v.bytes.ptr = (const uint8_t *)text;
	v.v.bytes.len = strlen(text);
	ck_assert_int_eq(lwm2m_tree_set(&t, &p, &v), LWM2M_OK);
	err = sim_model_write(m, &p, &t, replace, true);
	lwm2m_tree_fini(&t);
	return err;
}

START_TEST(test_sim_model_write_ok)
{
	struct sim_model *m = model();
	struct lwm2m_path p = P("/3442/0/120");
	double v;

	ck_assert_int_eq(write_text(m, "/3442/0/120", "-7", true), LWM2M_OK);
	ck_assert(sim_model_number(m, &p, &v));
	ck_assert(v == -7.0);
	sim_model_free(m);
}
END_TEST

START_TEST(test_sim_model_write_rejects)
{
	struct sim_model *m = model();

	ck_assert_int_eq(write_text(m, "/3/0/0", "x", true), LWM2M_EDENIED);
	ck_assert_int_eq(write_text(m, "/3442/0/120", "abc", true),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(write_text(m, "/3442/9/120", "1", true),
	                 LWM2M_ENOTFOUND);
	sim_model_free(m);
}
END_TEST

/* set_int puts an INTEGER value at path into t. */
static void
set_int(struct lwm2m_tree *t, const char *path, int64_t i)
{
	struct lwm2m_path p = P(path);
	struct lwm2m_value v = {.type = LWM2M_TYPE_INTEGER, .v.i = i};

	ck_assert_int_eq(lwm2m_tree_set(t, &p, &v), LWM2M_OK);
}

START_TEST(test_sim_model_write_composite_ok)
{
	struct sim_model *m = model();
	struct lwm2m_path p = P("/3442/0/120");
	struct lwm2m_path multi = P("/3442/0/1120");
	struct lwm2m_tree t, back;
	struct lwm2m_node *n;
	double v;

	lwm2m_tree_init(&t, NULL);
	set_int(&t, "/3442/0/120", 5);
	set_int(&t, "/3442/0/1120/3", 30);
	set_int(&t, "/3442/0/130", 1); /* an integer into a float */
	ck_assert_int_eq(sim_model_write_composite(m, &t), LWM2M_OK);
	lwm2m_tree_fini(&t);
	ck_assert(sim_model_number(m, &p, &v));
	ck_assert(v == 5.0);
	p = P("/3442/0/130");
	ck_assert(sim_model_number(m, &p, &v));
	ck_assert(v == 1.0);
	lwm2m_tree_init(&t, NULL);
	set_int(&t, "/3442/0/1120/4", 40); /* instance 3 stays */
	ck_assert_int_eq(sim_model_write_composite(m, &t), LWM2M_OK);
	lwm2m_tree_fini(&t);
	lwm2m_tree_init(&back, NULL);
	ck_assert_int_eq(sim_model_read(m, &multi, &back), LWM2M_OK);
	n = lwm2m_tree_get(&back, &multi);
	ck_assert_ptr_nonnull(n);
	ck_assert_uint_eq(n->n_children, 2);
	lwm2m_tree_fini(&back);
	sim_model_free(m);
}
END_TEST

START_TEST(test_sim_model_write_composite_all_or_nothing)
{
	struct sim_model *m = model();
	struct lwm2m_path p = P("/3442/0/120");
	struct lwm2m_tree t;
	double v;

	lwm2m_tree_init(&t, NULL);
	set_int(&t, "/3442/0/120", 5);
	set_int(&t, "/3442/7/120", 5);
	ck_assert_int_eq(sim_model_write_composite(m, &t), LWM2M_ENOTFOUND);
	lwm2m_tree_fini(&t);
	lwm2m_tree_init(&t, NULL);
	set_int(&t, "/3442/0/120", 5);
	set_int(&t, "/3/0/9", 5); /* battery level: read-only */
	ck_assert_int_eq(sim_model_write_composite(m, &t), LWM2M_EDENIED);
	lwm2m_tree_fini(&t);
	lwm2m_tree_init(&t, NULL);
	set_int(&t, "/3442/0/120", 5);
	set_int(&t, "/4/0/0", 5);
	ck_assert_int_eq(sim_model_write_composite(m, &t), LWM2M_ENOTFOUND);
	lwm2m_tree_fini(&t);
	ck_assert(sim_model_number(m, &p, &v));
	ck_assert(v == -42.0);
	sim_model_free(m);
}
END_TEST

START_TEST(test_sim_model_create_and_delete)
{
	struct sim_model *m = model();
	struct lwm2m_tree t;
	uint16_t iid;
	char links[1024];

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(sim_model_create(m, 3303, &t, &iid), LWM2M_OK);
	ck_assert_uint_eq(iid, 1);
	ck_assert_int_eq(sim_model_create(m, 3, &t, &iid), LWM2M_EDENIED);
	ck_assert_int_eq(sim_model_links(m, NULL, 0, links, sizeof links),
	                 LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(links, "</3303/1>"));
	ck_assert_int_eq(sim_model_delete(m, 3303, 1), LWM2M_OK);
	ck_assert_int_eq(sim_model_delete(m, 3303, 1), LWM2M_ENOTFOUND);
	lwm2m_tree_fini(&t);
	sim_model_free(m);
}
END_TEST

START_TEST(test_sim_model_execute_firmware)
{
	struct sim_model *m = model();
	struct lwm2m_path upd = P("/5/0/2"), state = P("/5/0/3"),
	                  result = P("/5/0/5");
	enum sim_exec_effect e;
	double v;

	ck_assert_int_eq(sim_model_execute(m, &upd, "", 0, &e), LWM2M_EDENIED);
	ck_assert_int_eq(write_text(m, "/5/0/1", "coap://x/fw", true),
	                 LWM2M_OK);
	ck_assert(sim_model_number(m, &state, &v) && v == 2.0);
	ck_assert_int_eq(sim_model_execute(m, &upd, "", 0, &e), LWM2M_OK);
	ck_assert_int_eq(e, SIM_EXEC_FW_UPDATE);
	ck_assert(sim_model_number(m, &result, &v) && v == 1.0);
	sim_model_free(m);
}
END_TEST

START_TEST(test_sim_model_execute_effects)
{
	struct sim_model *m = model();
	struct lwm2m_path p = P("/3/0/4");
	enum sim_exec_effect e;

	ck_assert_int_eq(sim_model_execute(m, &p, "0='a'", 5, &e), LWM2M_OK);
	ck_assert_int_eq(e, SIM_EXEC_REBOOT);
	p = P("/1/0/8");
	ck_assert_int_eq(sim_model_execute(m, &p, "", 0, &e), LWM2M_OK);
	ck_assert_int_eq(e, SIM_EXEC_UPDATE);
	p = P("/3/0/9");
	ck_assert_int_eq(sim_model_execute(m, &p, "", 0, &e), LWM2M_EDENIED);
	sim_model_free(m);
}
END_TEST

START_TEST(test_sim_model_set_text_values)
{
	struct sim_model *m = model();
	struct lwm2m_path p = P("/3303/0/5700");
	double v;

	ck_assert_int_eq(sim_model_set_text(m, &p, "21.5"), LWM2M_OK);
	ck_assert(sim_model_number(m, &p, &v) && v == 21.5);
	ck_assert_int_eq(sim_model_set_text(m, &p, "warm"), LWM2M_EPROTO);
	p = P("/3303/0");
	ck_assert_int_eq(sim_model_set_text(m, &p, "1"), LWM2M_EINVAL);
	sim_model_free(m);
}
END_TEST

START_TEST(test_sim_model_tick_changes)
{
	struct sim_model *m = model();
	struct lwm2m_path p = P("/3303/0/5700");
	uint32_t seed = 1;
	double first, v;
	bool changed = false;

	ck_assert(sim_model_number(m, &p, &first));
	for (int i = 0; i < 20; i++) {
		changed = sim_model_tick(m, &seed) || changed;
	}
	ck_assert(changed);
	ck_assert(sim_model_number(m, &p, &v));
	ck_assert(v >= -40.0 && v <= 85.0);
	sim_model_free(m);
}
END_TEST

START_TEST(test_sim_model_links_root)
{
	struct sim_model *m = model();
	static const unsigned ct[] = {110, 11542};
	char buf[1024], small[16];

	ck_assert_int_eq(sim_model_links(m, ct, 2, buf, sizeof buf), LWM2M_OK);
	ck_assert_str_eq(buf, "</>;rt=\"oma.lwm2m\";ct=\"110 11542\",</1/0>,"
	                      "</3/0>,</5/0>,</3303>;ver=1.1,</3303/0>,"
	                      "</3442/0>");
	ck_assert_int_eq(sim_model_links(m, ct, 2, small, sizeof small),
	                 LWM2M_ELIMIT);
	sim_model_free(m);
}
END_TEST

START_TEST(test_sim_model_discover_dim)
{
	struct sim_model *m = model();
	struct lwm2m_path p = P("/3/0/7");
	char buf[4096];

	ck_assert_int_eq(sim_model_discover(m, &p, NULL, NULL, buf, sizeof buf),
	                 LWM2M_OK);
	ck_assert_str_eq(buf, "</3/0/7>;dim=2");
	p = P("/3303");
	ck_assert_int_eq(sim_model_discover(m, &p, NULL, NULL, buf, sizeof buf),
	                 LWM2M_OK);
	ck_assert(
	    strncmp(buf, "</3303>;ver=1.1,</3303/0>,</3303/0/5601>", 40) == 0);
	sim_model_free(m);
}
END_TEST

static Suite *
sim_model_suite(void)
{
	Suite *s = suite_create("sim_model");
	TCase *tc;

	tc = tcase_create("sim_model_new");
	tcase_add_test(tc, test_sim_model_new_unknown_object);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_model_read");
	tcase_add_test(tc, test_sim_model_read_resource);
	tcase_add_test(tc, test_sim_model_read_instance_multi);
	tcase_add_test(tc, test_sim_model_read_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_model_write");
	tcase_add_test(tc, test_sim_model_write_ok);
	tcase_add_test(tc, test_sim_model_write_rejects);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_model_write_composite");
	tcase_add_test(tc, test_sim_model_write_composite_ok);
	tcase_add_test(tc, test_sim_model_write_composite_all_or_nothing);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_model_create");
	tcase_add_test(tc, test_sim_model_create_and_delete);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_model_execute");
	tcase_add_test(tc, test_sim_model_execute_firmware);
	tcase_add_test(tc, test_sim_model_execute_effects);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_model_set_text");
	tcase_add_test(tc, test_sim_model_set_text_values);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_model_tick");
	tcase_add_test(tc, test_sim_model_tick_changes);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_model_links");
	tcase_add_test(tc, test_sim_model_links_root);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_model_discover");
	tcase_add_test(tc, test_sim_model_discover_dim);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sim_model_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
