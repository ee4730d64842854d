/* Unit tests of services/broker/brk_subs.c: event kinds, subscription
 * records, matching (organisation level vs client level), webhook bodies. */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include "brk.h"
#include "lwm2m_env.h"

#define SUB "zxkHFgg4tTUFA4Moq4pDnA"
#define CLIENT "CbbKiujtCQml3G-ul8fjwg"
#define OTHER "pFRn92gTAIJLwFeC0-IsFA"

/* A hand-built HGETALL reply: pairs of strings. */
struct fake_reply {
	redisReply top;
	redisReply items[32];
	redisReply *ptrs[32];
};

static redisReply *
fake_hash(struct fake_reply *f, const char *const *kv)
{
	size_t n = 0;

	memset(f, 0, sizeof *f);
	for (n = 0; kv[n] != NULL; n++) {
		f->items[n].type = REDIS_REPLY_STRING;
		f->items[n].str = (char *)kv[n];
		f->items[n].len = strlen(kv[n]);
		f->ptrs[n] = &f->items[n];
	}
	f->top.type = REDIS_REPLY_ARRAY;
	f->top.elements = n;
	f->top.element = f->ptrs;
	return &f->top;
}

static struct lwm2m_event
event_of(const char *id, long long org)
{
	struct lwm2m_event ev;

	memset(&ev, 0, sizeof ev);
	strcpy(ev.id, id);
	strcpy(ev.ep, "dev-1");
	ev.org = org;
	return ev;
}

START_TEST(test_brk_event_from_kind_map)
{
	enum brk_event e;

	ck_assert(brk_event_from_kind(LWM2M_ENV_EV_REGISTERED, &e));
	ck_assert_str_eq(brk_event_name(e), "ClientConnected");
	ck_assert(brk_event_from_kind(LWM2M_ENV_EV_UPDATED, &e));
	ck_assert_str_eq(brk_event_name(e), "ClientUpdated");
	ck_assert(brk_event_from_kind(LWM2M_ENV_EV_DEREGISTERED, &e));
	ck_assert_str_eq(brk_event_name(e), "ClientDisconnected");
	ck_assert(brk_event_from_kind(LWM2M_ENV_EV_REMOVED, &e));
	ck_assert_str_eq(brk_event_name(e), "ClientDisconnected");
	ck_assert(brk_event_from_kind(LWM2M_ENV_EV_EXPIRED, &e));
	ck_assert_str_eq(brk_event_name(e), "ClientConnectionExpired");
	ck_assert(!brk_event_from_kind(LWM2M_ENV_RPC_PING, &e));
	ck_assert(!brk_event_from_kind(0, &e));
}
END_TEST

START_TEST(test_brk_sub_parse_fields)
{
	static const char *const kv[] = {"org",     "5",
	                                 "type",    "ClientConnected",
	                                 "client",  CLIENT,
	                                 "url",     "http://h/hook",
	                                 "accept",  "application/xml",
	                                 "secret",  "s",
	                                 "created", "1",
	                                 NULL};
	struct fake_reply f;
	struct brk_sub s;

	ck_assert_int_eq(brk_sub_parse(SUB, fake_hash(&f, kv), &s), LWM2M_OK);
	ck_assert_str_eq(s.id, SUB);
	ck_assert_int_eq(s.org, 5);
	ck_assert_str_eq(s.type, "ClientConnected");
	ck_assert_str_eq(s.client, CLIENT);
	ck_assert_str_eq(s.url, "http://h/hook");
	ck_assert_str_eq(s.accept, "application/xml");
	ck_assert_str_eq(s.secret, "s");
}
END_TEST

START_TEST(test_brk_sub_parse_rejects)
{
	static const char *const no_url[] = {"org", "5", "type", "X", NULL};
	static const char *const bad_org[] = {"org", "five", "type", "X",
	                                      "url", "u",    NULL};
	static const char *const bad_client[] = {
	    "org", "1", "type", "X", "url", "u", "client", "c", NULL};
	static const char *const empty[] = {NULL};
	static const char *const odd[] = {"org", NULL};
	struct fake_reply f;
	struct brk_sub s;

	ck_assert_int_eq(brk_sub_parse(SUB, fake_hash(&f, empty), &s),
	                 LWM2M_ENOTFOUND);
	ck_assert_int_eq(brk_sub_parse(SUB, fake_hash(&f, no_url), &s),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(brk_sub_parse(SUB, fake_hash(&f, bad_org), &s),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(brk_sub_parse(SUB, fake_hash(&f, bad_client), &s),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(brk_sub_parse(SUB, fake_hash(&f, odd), &s),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(brk_sub_parse("bad", fake_hash(&f, no_url), &s),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(brk_sub_parse(SUB, NULL, &s), LWM2M_EPROTO);
}
END_TEST

static struct brk_sub
sub_of(const char *type, long long org, const char *client)
{
	struct brk_sub s;

	memset(&s, 0, sizeof s);
	strcpy(s.id, SUB);
	strcpy(s.type, type);
	strcpy(s.client, client);
	strcpy(s.url, "http://h/");
	s.org = org;
	return s;
}

START_TEST(test_brk_sub_matches_org_level)
{
	struct brk_sub s = sub_of("ClientConnected", 3, "");
	struct lwm2m_event a = event_of(CLIENT, 3), b = event_of(OTHER, 3);
	struct lwm2m_event c = event_of(CLIENT, 4);

	ck_assert(brk_sub_matches(&s, BRK_EV_CONNECTED, &a));
	ck_assert(brk_sub_matches(&s, BRK_EV_CONNECTED, &b));
	ck_assert(!brk_sub_matches(&s, BRK_EV_CONNECTED, &c));
	ck_assert(!brk_sub_matches(&s, BRK_EV_DISCONNECTED, &a));
	strcpy(s.type, "clientconnected");
	ck_assert(brk_sub_matches(&s, BRK_EV_CONNECTED, &a));
}
END_TEST

START_TEST(test_brk_sub_matches_client_level)
{
	struct brk_sub s = sub_of("ClientDisconnected", 3, CLIENT);
	struct lwm2m_event a = event_of(CLIENT, 3), b = event_of(OTHER, 3);

	ck_assert(brk_sub_matches(&s, BRK_EV_DISCONNECTED, &a));
	/* the original fired for every client of the organisation */
	ck_assert(!brk_sub_matches(&s, BRK_EV_DISCONNECTED, &b));
	ck_assert(!brk_sub_matches(&s, BRK_EV_EXPIRED, &a));
}
END_TEST

START_TEST(test_brk_sub_matches_observation)
{
	struct brk_sub s = sub_of("Observation", 3, CLIENT);
	struct lwm2m_event a = event_of(CLIENT, 3);

	ck_assert(!brk_sub_matches(&s, BRK_EV_CONNECTED, &a));
}
END_TEST

START_TEST(test_brk_body_render_json)
{
	struct brk_sub s = sub_of("ClientConnected", 3, "");
	struct lwm2m_event ev = event_of(CLIENT, 3);
	char *body;
	size_t len;

	ck_assert(!brk_sub_is_xml(&s));
	ck_assert_int_eq(
	    brk_body_render(&s, BRK_EV_CONNECTED, &ev, 1484907302, &body, &len),
	    LWM2M_OK);
	ck_assert_str_eq(body,
	                 "{\"Items\":[{\"Links\":["
	                 "{\"rel\":\"subscription\",\"href\":"
	                 "\"/subscriptions/" SUB "\"},"
	                 "{\"rel\":\"client\",\"href\":\"/clients/" CLIENT
	                 "\"}],\"TimeTriggered\":\"2017-01-20T10:15:02Z\","
	                 "\"SubscriptionType\":\"ClientConnected\"}]}");
	ck_assert_uint_eq(len, strlen(body));
	free(body);
}
END_TEST

START_TEST(test_brk_body_render_xml)
{
	struct brk_sub s = sub_of("ClientUpdated", 3, "");
	struct lwm2m_event ev = event_of(CLIENT, 3);
	char *body;
	size_t len;

	strcpy(s.accept, "application/vnd.imgtec.notification+XML");
	ck_assert(brk_sub_is_xml(&s));
	ck_assert_int_eq(
	    brk_body_render(&s, BRK_EV_UPDATED, &ev, 1484907302, &body, &len),
	    LWM2M_OK);
	ck_assert_ptr_nonnull(
	    strstr(body, "<Notifications><Items><Notification>"
	                 "<Links><Link rel=\"subscription\" "
	                 "href=\"/subscriptions/" SUB "\" />"
	                 "<Link rel=\"client\" href=\"/clients/" CLIENT
	                 "\" /></Links>"));
	ck_assert_ptr_nonnull(strstr(body, "<TimeTriggered>2017-01-20T10:15:02Z"
	                                   "</TimeTriggered><SubscriptionType>"
	                                   "ClientUpdated</SubscriptionType>"));
	ck_assert_uint_eq(len, strlen(body));
	free(body);
}
END_TEST

START_TEST(test_brk_job_new_roundtrip)
{
	struct brk_sub s = sub_of("ClientConnected", 9, "");
	struct lwm2m_delivery d;
	char *job, id[LWM2M_ID_SIZE];
	size_t len;

	strcpy(s.secret, "top");
	ck_assert_int_eq(brk_job_new(&s, "{}", 2, &job, &len, id), LWM2M_OK);
	ck_assert_int_eq(lwm2m_delivery_decode(job, len, &d), LWM2M_OK);
	ck_assert_str_eq(d.id, id);
	ck_assert_str_eq(d.sub, SUB);
	ck_assert_int_eq(d.org, 9);
	ck_assert_str_eq(d.content_type, "application/json");
	ck_assert_str_eq(d.secret, "top");
	ck_assert_str_eq(d.body, "{}");
	lwm2m_delivery_fini(&d);
	free(job);
}
END_TEST

static Suite *
subs_suite(void)
{
	Suite *s = suite_create("brk_subs");
	TCase *tc;

	tc = tcase_create("brk_event_from_kind");
	tcase_add_test(tc, test_brk_event_from_kind_map);
	suite_add_tcase(s, tc);
	tc = tcase_create("brk_sub_parse");
	tcase_add_test(tc, test_brk_sub_parse_fields);
	tcase_add_test(tc, test_brk_sub_parse_rejects);
	suite_add_tcase(s, tc);
	tc = tcase_create("brk_sub_matches");
	tcase_add_test(tc, test_brk_sub_matches_org_level);
	tcase_add_test(tc, test_brk_sub_matches_client_level);
	tcase_add_test(tc, test_brk_sub_matches_observation);
	suite_add_tcase(s, tc);
	tc = tcase_create("brk_body_render");
	tcase_add_test(tc, test_brk_body_render_json);
	tcase_add_test(tc, test_brk_body_render_xml);
	suite_add_tcase(s, tc);
	tc = tcase_create("brk_job_new");
	tcase_add_test(tc, test_brk_job_new_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(subs_suite());
}
