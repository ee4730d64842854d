/* Unit tests of services/broker/brk_stream.c: reading the entries of the
 * gateway event stream lwds:v2:{events}. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "brk.h"

#define CLIENT "CbbKiujtCQml3G-ul8fjwg"

/* A hand-built XREADGROUP entry field array: pairs of strings. */
struct fake_fields {
	redisReply top;
	redisReply items[32];
	redisReply *ptrs[32];
};

static redisReply *
fields_of(struct fake_fields *f, const char *const *kv)
{
	size_t n;

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

START_TEST(test_brk_stream_event_types)
{
	static const struct {
		const char *type;
		enum brk_event event;
	} cases[] = {
	    {"registered", BRK_EV_CONNECTED},
	    {"updated", BRK_EV_UPDATED},
	    {"deregistered", BRK_EV_DISCONNECTED},
	    {"removed", BRK_EV_DISCONNECTED},
	    {"expired", BRK_EV_EXPIRED},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const char *kv[] = {
		    "type", cases[i].type, "id", CLIENT, "org", "7",
		    "ep",   "dev-1",       "gw", "gw-a", "ts",  "1700000000123",
		    NULL};
		struct fake_fields f;
		struct lwm2m_event ev;
		enum brk_event event;

		ck_assert_int_eq(
		    brk_stream_event(fields_of(&f, kv), &event, &ev), LWM2M_OK);
		ck_assert_int_eq(event, cases[i].event);
		ck_assert_str_eq(ev.id, CLIENT);
		ck_assert_int_eq(ev.org, 7);
		ck_assert_str_eq(ev.ep, "dev-1");
		ck_assert_str_eq(ev.gw, "gw-a");
		ck_assert_int_eq(ev.ts, 1700000000123LL);
	}
}
END_TEST

START_TEST(test_brk_stream_event_not_client_events)
{
	const char *notify[] = {"type", "notify", "id",           CLIENT, "org",
	                        "0",    "path",   "/3303/0/5700", NULL};
	const char *unknown[] = {"type", "rebooted", "id", CLIENT,
	                         "org",  "0",        NULL};
	const char *no_type[] = {"id", CLIENT, "org", "0", NULL};
	struct fake_fields f;
	struct lwm2m_event ev;
	enum brk_event event;

	ck_assert_int_eq(brk_stream_event(fields_of(&f, notify), &event, &ev),
	                 LWM2M_ENOTFOUND);
	ck_assert_int_eq(brk_stream_event(fields_of(&f, unknown), &event, &ev),
	                 LWM2M_ENOTFOUND);
	ck_assert_int_eq(brk_stream_event(fields_of(&f, no_type), &event, &ev),
	                 LWM2M_ENOTFOUND);
}
END_TEST

START_TEST(test_brk_stream_event_malformed)
{
	const char *bad_id[] = {"type", "registered", "id", "short",
	                        "org",  "0",          NULL};
	const char *no_org[] = {"type", "registered", "id", CLIENT, NULL};
	const char *bad_org[] = {"type", "registered", "id", CLIENT,
	                         "org",  "-1",         NULL};
	char ep[300];
	const char *long_ep[] = {"type", "registered", "id", CLIENT, "org",
	                         "1",    "ep",         ep,   NULL};
	struct fake_fields f;
	struct lwm2m_event ev;
	enum brk_event event;
	redisReply nil = {.type = REDIS_REPLY_NIL};

	memset(ep, 'e', sizeof ep - 1);
	ep[sizeof ep - 1] = '\0';
	ck_assert_int_eq(brk_stream_event(fields_of(&f, bad_id), &event, &ev),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(brk_stream_event(fields_of(&f, no_org), &event, &ev),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(brk_stream_event(fields_of(&f, bad_org), &event, &ev),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(brk_stream_event(fields_of(&f, long_ep), &event, &ev),
	                 LWM2M_ELIMIT);
	ck_assert_int_eq(brk_stream_event(&nil, &event, &ev), LWM2M_EPROTO);
	ck_assert_int_eq(brk_stream_event(NULL, &event, &ev), LWM2M_EPROTO);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("brk_stream");
	TCase *tc = tcase_create("brk_stream_event");

	tcase_add_test(tc, test_brk_stream_event_types);
	tcase_add_test(tc, test_brk_stream_event_not_client_events);
	tcase_add_test(tc, test_brk_stream_event_malformed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
