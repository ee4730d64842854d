/* Unit tests of the pure parts of the gateway's device operations: queue
 * lists, RFC 7641 reordering, Uri-Path building, methods and the
 * Read-Composite body. */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include "gw.h"

START_TEST(test_gw_qlist_push_bounded)
{
	struct gw_qlist l = {0};
	struct gw_qnode n[4];

	ck_assert(gw_qlist_push_bounded(&l, &n[0], 2));
	ck_assert(gw_qlist_push_bounded(&l, &n[1], 2));
	ck_assert(!gw_qlist_push_bounded(&l, &n[2], 2));
	ck_assert_uint_eq(l.n, 2);
	ck_assert_ptr_eq(gw_qlist_pop(&l), &n[0]);
	ck_assert_ptr_eq(gw_qlist_pop(&l), &n[1]);
	ck_assert_ptr_null(gw_qlist_pop(&l));
	ck_assert_uint_eq(l.n, 0);
}
END_TEST

START_TEST(test_gw_qlist_remove_middle)
{
	struct gw_qlist l = {0};
	struct gw_qnode n[3];

	for (int i = 0; i < 3; i++) {
		gw_qlist_push(&l, &n[i]);
	}
	gw_qlist_remove(&l, &n[1]);
	gw_qlist_remove(&l, &n[1]); /* not in the list any more: nothing */
	ck_assert_uint_eq(l.n, 2);
	ck_assert_ptr_eq(l.head, &n[0]);
	ck_assert_ptr_eq(l.tail, &n[2]);
	gw_qlist_remove(&l, &n[2]);
	ck_assert_ptr_eq(l.tail, &n[0]);
	gw_qlist_remove(&l, &n[0]);
	ck_assert_ptr_null(l.head);
	ck_assert_ptr_null(l.tail);
}
END_TEST

START_TEST(test_gw_obs_fresh_rules)
{
	/* newer by sequence, within half the 24-bit space */
	ck_assert(gw_obs_fresh(5, 1000, 6, 1000));
	ck_assert(!gw_obs_fresh(6, 1000, 5, 1000));
	ck_assert(!gw_obs_fresh(6, 1000, 6, 1000));
	/* wrap-around */
	ck_assert(gw_obs_fresh(0xfffffe, 1000, 1, 1000));
	ck_assert(!gw_obs_fresh(1, 1000, 0xfffffe, 1000));
	/* more than 128 s later anything is newer */
	ck_assert(gw_obs_fresh(6, 1000, 5, 1000 + 128001));
}
END_TEST

START_TEST(test_gw_devop_segments_root)
{
	struct lwm2m_path p = {3, {3303, 0, 5700}};
	struct gw_str segs[8];
	char buf[32];
	size_t n;

	n = gw_devop_segments("/lwm2m/x", &p, buf, sizeof buf, segs, 8);
	ck_assert_uint_eq(n, 5);
	ck_assert_uint_eq(segs[0].len, 5);
	ck_assert_mem_eq(segs[0].ptr, "lwm2m", 5);
	ck_assert_mem_eq(segs[1].ptr, "x", 1);
	ck_assert_mem_eq(segs[2].ptr, "3303", 4);
	ck_assert_mem_eq(segs[4].ptr, "5700", 4);
	n = gw_devop_segments(NULL, &p, buf, sizeof buf, segs, 8);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(gw_devop_segments(NULL, &p, buf, 6, segs, 8), 0);
}
END_TEST

START_TEST(test_gw_devop_method_all)
{
	ck_assert_int_eq(gw_devop_method(LWM2M_DEVOP_READ),
	                 COAP_REQUEST_CODE_GET);
	ck_assert_int_eq(gw_devop_method(LWM2M_DEVOP_WRITE_REPLACE),
	                 COAP_REQUEST_CODE_PUT);
	ck_assert_int_eq(gw_devop_method(LWM2M_DEVOP_WRITE_UPDATE),
	                 COAP_REQUEST_CODE_POST);
	ck_assert_int_eq(gw_devop_method(LWM2M_DEVOP_WRITE_ATTRIBUTES),
	                 COAP_REQUEST_CODE_PUT);
	ck_assert_int_eq(gw_devop_method(LWM2M_DEVOP_DELETE),
	                 COAP_REQUEST_CODE_DELETE);
	ck_assert_int_eq(gw_devop_method(LWM2M_DEVOP_READ_COMPOSITE),
	                 COAP_REQUEST_CODE_FETCH);
	ck_assert_int_eq(gw_devop_method(LWM2M_DEVOP_WRITE_COMPOSITE),
	                 COAP_REQUEST_CODE_IPATCH);
	ck_assert_int_eq(gw_devop_method(LWM2M_DEVOP_CANCEL_OBSERVE),
	                 COAP_REQUEST_CODE_GET);
}
END_TEST

START_TEST(test_gw_devop_composite_body_formats)
{
	static const struct lwm2m_path paths[] = {{3, {3, 0, 0}}, {1, {3303}}};
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(
	    gw_devop_composite_body(LWM2M_FMT_SENML_JSON, paths, 2, &buf, &len),
	    LWM2M_OK);
	ck_assert_uint_eq(len,
	                  strlen("[{\"n\":\"/3/0/0\"},{\"n\":\"/3303\"}]"));
	ck_assert_mem_eq(buf, "[{\"n\":\"/3/0/0\"},{\"n\":\"/3303\"}]", len);
	free(buf);
	ck_assert_int_eq(
	    gw_devop_composite_body(LWM2M_FMT_SENML_CBOR, paths, 2, &buf, &len),
	    LWM2M_OK);
	ck_assert_uint_eq(buf[0], 0x98);
	ck_assert_uint_eq(buf[1], 2);
	ck_assert_uint_eq(buf[2], 0xa1);
	free(buf);
	ck_assert_int_eq(
	    gw_devop_composite_body(LWM2M_FMT_TLV, paths, 2, &buf, &len),
	    LWM2M_EINVAL);
}
END_TEST

static Suite *
gw_devop_suite(void)
{
	Suite *s = suite_create("gw_devop");
	TCase *tc;

	tc = tcase_create("gw_qlist_push");
	tcase_add_test(tc, test_gw_qlist_push_bounded);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_qlist_remove");
	tcase_add_test(tc, test_gw_qlist_remove_middle);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_obs_fresh");
	tcase_add_test(tc, test_gw_obs_fresh_rules);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_devop_segments");
	tcase_add_test(tc, test_gw_devop_segments_root);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_devop_method");
	tcase_add_test(tc, test_gw_devop_method_all);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_devop_composite_body");
	tcase_add_test(tc, test_gw_devop_composite_body_formats);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(gw_devop_suite());
}
