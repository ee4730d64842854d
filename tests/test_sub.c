/* test_sub.c - lwm2m_sub: the index sets that name a subscription
 * (lwm2m_sub_delete itself runs against Redis in the integration tests:
 * test_subscriptions.py, test_retention.py). */
#include <check.h>

#include "check_util.h"
#include "lwm2m_sub.h"

static struct lwm2m_sub_ref
ref(const char *type, const char *client, const char *obj, const char *inst,
    const char *prop)
{
	return (struct lwm2m_sub_ref){.id = "s1",
	                              .org = 7,
	                              .type = type,
	                              .client = client,
	                              .obj = obj,
	                              .inst = inst,
	                              .prop = prop,
	                              .fp = "fp"};
}

START_TEST(test_lwm2m_sub_obs_path_levels)
{
	struct lwm2m_sub_ref s = ref("Observation", "c1", "3303", "0", "5700");
	char buf[32] = "untouched";

	ck_assert(lwm2m_sub_obs_path(&s, buf, sizeof buf));
	ck_assert_str_eq(buf, "/3303/0/5700");
	s.prop = "";
	ck_assert(lwm2m_sub_obs_path(&s, buf, sizeof buf));
	ck_assert_str_eq(buf, "/3303/0");
	s.inst = "";
	ck_assert(lwm2m_sub_obs_path(&s, buf, sizeof buf));
	ck_assert_str_eq(buf, "/3303");
	strcpy(buf, "untouched");
	s.obj = "";
	ck_assert(!lwm2m_sub_obs_path(&s, buf, sizeof buf));
	s = ref("ClientUpdated", "c1", "3303", "", "");
	ck_assert(!lwm2m_sub_obs_path(&s, buf, sizeof buf));
	s = ref("Observation", "", "3303", "0", "");
	ck_assert(!lwm2m_sub_obs_path(&s, buf, sizeof buf));
	ck_assert_str_eq(buf, "untouched");
}
END_TEST

START_TEST(test_lwm2m_sub_client_keys_by_kind)
{
	char keys[LWM2M_SUB_INDEX_MAX][LWM2M_SUB_KEY_MAX];
	struct lwm2m_sub_ref s = ref("Observation", "c1", "3", "0", "");

	ck_assert_uint_eq(lwm2m_sub_client_keys(&s, keys), 2);
	ck_assert_str_eq(keys[0], "lwds:v2:client:{c1}:subs");
	ck_assert_str_eq(keys[1], "lwds:v2:client:{c1}:obsubs:/3/0");
	s = ref("ClientUpdated", "c1", "", "", "");
	ck_assert_uint_eq(lwm2m_sub_client_keys(&s, keys), 2);
	ck_assert_str_eq(keys[0], "lwds:v2:client:{c1}:subs");
	ck_assert_str_eq(keys[1], "lwds:v2:client:{c1}:evsubs:ClientUpdated");
	s = ref("ClientUpdated", "", "", "", "");
	ck_assert_uint_eq(lwm2m_sub_client_keys(&s, keys), 0);
}
END_TEST

START_TEST(test_lwm2m_sub_org_keys_by_level)
{
	char keys[LWM2M_SUB_INDEX_MAX][LWM2M_SUB_KEY_MAX];
	struct lwm2m_sub_ref s = ref("ClientConnected", "", "", "", "");

	ck_assert_uint_eq(lwm2m_sub_org_keys(&s, keys), 3);
	ck_assert_str_eq(keys[0], "lwds:v2:org:{7}:subs");
	ck_assert_str_eq(keys[1], "lwds:v2:org:{7}:subs:dedup");
	ck_assert_str_eq(keys[2], "lwds:v2:org:{7}:evsubs:ClientConnected");
	s.client = "c1";
	ck_assert_uint_eq(lwm2m_sub_org_keys(&s, keys), 2);
	s = ref("Observation", "", "3", "", "");
	ck_assert_uint_eq(lwm2m_sub_org_keys(&s, keys), 2);
}
END_TEST

int
main(void)
{
	const struct check_case cases[] = {
	    {"lwm2m_sub_obs_path", test_lwm2m_sub_obs_path_levels},
	    {"lwm2m_sub_client_keys", test_lwm2m_sub_client_keys_by_kind},
	    {"lwm2m_sub_org_keys", test_lwm2m_sub_org_keys_by_level},
	};

	return check_run(
	    check_suite("sub", cases, sizeof cases / sizeof *cases));
}
