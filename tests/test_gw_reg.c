/* Unit tests of the coap-gw registration logic (gw_reg.c, gw_table.c):
 * query and payload parsing and the registration state machine, no sockets. */
#include <arpa/inet.h>
#include <check.h>

#include "check_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gw.h"

/* splits "a=1&b" into options like the Uri-Query options of a request */
static size_t
split(char *text, struct gw_str *opts, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *p = strtok_r(text, "&", &save); p && n < max;
	     p = strtok_r(NULL, "&", &save)) {
		opts[n].ptr = p;
		opts[n].len = strlen(p);
		n++;
	}
	return n;
}

static lwm2m_err
query(const char *text, enum gw_op op, struct gw_reg_query *q, char *diag)
{
	char buf[1024];
	struct gw_str opts[32];
	size_t n;

	snprintf(buf, sizeof buf, "%s", text);
	n = split(buf, opts, 32);
	return gw_reg_query_parse(opts, n, op, q, diag, GW_DIAG_MAX);
}

START_TEST(test_gw_reg_query_parse_full)
{
	struct gw_reg_query q;
	char diag[GW_DIAG_MAX];

	ck_assert_int_eq(query("ep=urn:imei:1234&lt=300&lwm2m=1.1&b=U&sms=123&Q"
	                       "&foo=bar&flag",
	                       GW_OP_REGISTER, &q, diag),
	                 LWM2M_OK);
	ck_assert_str_eq(q.ep, "urn:imei:1234");
	ck_assert(q.has_lt);
	ck_assert_uint_eq(q.lt, 300);
	ck_assert_str_eq(q.lwm2m, "1.1");
	ck_assert_str_eq(q.b, "U");
	ck_assert_str_eq(q.sms, "123");
	ck_assert(q.q);
	ck_assert_str_eq(q.extra, "foo=bar&flag");
	ck_assert_int_eq(query("ep=n&lwm2m=1.0.0", GW_OP_REGISTER, &q, diag),
	                 LWM2M_OK);
	ck_assert_str_eq(q.lwm2m, "1.0");
}
END_TEST

START_TEST(test_gw_reg_query_parse_defaults)
{
	struct gw_reg_query q;
	char diag[GW_DIAG_MAX];

	ck_assert_int_eq(query("ep=a", GW_OP_REGISTER, &q, diag), LWM2M_OK);
	ck_assert(!q.has_lt && !q.has_lwm2m && !q.has_b && !q.q);
	ck_assert_int_eq(query("", GW_OP_UPDATE, &q, diag), LWM2M_OK);
	ck_assert(!q.has_ep && !q.has_lt);
}
END_TEST

START_TEST(test_gw_reg_query_parse_errors)
{
	static const struct {
		const char *q;
		enum gw_op op;
		lwm2m_err err;
		const char *word;
	} cases[] = {
	    {"lt=60", GW_OP_REGISTER, LWM2M_EPROTO, "ep"},
	    {"ep=", GW_OP_REGISTER, LWM2M_EPROTO, "ep"},
	    {"ep", GW_OP_REGISTER, LWM2M_EPROTO, "ep"},
	    {"ep=a&lt=abc", GW_OP_REGISTER, LWM2M_EPROTO, "lt"},
	    {"ep=a&lt=", GW_OP_REGISTER, LWM2M_EPROTO, "lt"},
	    {"ep=a&lt=0", GW_OP_REGISTER, LWM2M_EPROTO, "lt"},
	    {"ep=a&lt=99999999999", GW_OP_REGISTER, LWM2M_EPROTO, "lt"},
	    {"ep=a&lt=-5", GW_OP_REGISTER, LWM2M_EPROTO, "lt"},
	    {"ep=a&Q=1", GW_OP_REGISTER, LWM2M_EPROTO, "Q"},
	    {"ep=a&Q=", GW_OP_REGISTER, LWM2M_EPROTO, "Q"},
	    {"ep=a&lwm2m=x", GW_OP_REGISTER, LWM2M_EPROTO, "lwm2m"},
	    {"ep=a&lwm2m=2.0", GW_OP_REGISTER, LWM2M_ENOTFOUND, "2.0"},
	    {"ep=a&lwm2m=1.0.", GW_OP_REGISTER, LWM2M_EPROTO, "lwm2m"},
	    {"ep=a&lwm2m=1.0.10", GW_OP_REGISTER, LWM2M_EPROTO, "lwm2m"},
	    {"ep=a&b=X", GW_OP_REGISTER, LWM2M_EPROTO, "b"},
	    {"ep=a&b=UU", GW_OP_REGISTER, LWM2M_EPROTO, "b"},
	    {"ep=a&ep=b", GW_OP_REGISTER, LWM2M_EPROTO, "twice"},
	    {"ep=b", GW_OP_UPDATE, LWM2M_EPROTO, "Update"},
	    {"lwm2m=1.1", GW_OP_UPDATE, LWM2M_EPROTO, "Update"},
	};
	struct gw_reg_query q;
	char diag[GW_DIAG_MAX];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		diag[0] = '\0';
		ck_assert_msg(query(cases[i].q, cases[i].op, &q, diag) ==
		                  cases[i].err,
		              "case %s", cases[i].q);
		ck_assert_msg(strstr(diag, cases[i].word) != NULL,
		              "diag \"%s\" for %s", diag, cases[i].q);
	}
}
END_TEST

START_TEST(test_gw_reg_query_parse_limits)
{
	char text[1024], diag[GW_DIAG_MAX];
	struct gw_reg_query q;
	struct gw_str opt;

	memset(text, 'e', sizeof text);
	memcpy(text, "ep=", 3);
	opt.ptr = text;
	opt.len = 3 + GW_EP_MAX;
	ck_assert_int_eq(
	    gw_reg_query_parse(&opt, 1, GW_OP_REGISTER, &q, diag, sizeof diag),
	    LWM2M_OK);
	opt.len++;
	ck_assert_int_eq(
	    gw_reg_query_parse(&opt, 1, GW_OP_REGISTER, &q, diag, sizeof diag),
	    LWM2M_EPROTO);
	memcpy(text, "xx=", 3);
	opt.len = GW_EXTRA_MAX + 1;
	ck_assert_int_eq(
	    gw_reg_query_parse(&opt, 1, GW_OP_UPDATE, &q, diag, sizeof diag),
	    LWM2M_EPROTO);
	text[5] = '\x01';
	opt.len = 10;
	ck_assert_int_eq(
	    gw_reg_query_parse(&opt, 1, GW_OP_UPDATE, &q, diag, sizeof diag),
	    LWM2M_EPROTO);
}
END_TEST

static void
links_ok(const char *text, struct gw_reg_links *l)
{
	char diag[GW_DIAG_MAX] = "";

	ck_assert_msg(gw_reg_links_parse(text, strlen(text), l, diag,
	                                 sizeof diag) == LWM2M_OK,
	              "%s: %s", text, diag);
}

START_TEST(test_gw_reg_links_parse_root)
{
	struct gw_reg_links l;

	links_ok("</>;rt=\"oma.lwm2m\";ct=\"60 110 112\",</3/0>,</1/0>,</5>,"
	         "</3303/0>;ver=1.1,</3303>;ver=1.1",
	         &l);
	ck_assert_str_eq(l.root, "");
	ck_assert_str_eq(l.ct, "60 110 112");
	ck_assert_str_eq(l.objs,
	                 "</3/0>,</1/0>,</5>,</3303/0>,</3303>;ver=1.1");
	ck_assert_uint_eq(l.n_objs, 5);
	gw_reg_links_fini(&l);
}
END_TEST

START_TEST(test_gw_reg_links_parse_alternate_path)
{
	struct gw_reg_links l;

	links_ok("</lwm2m>;rt=\"oma.lwm2m\",</lwm2m/1/0>,</lwm2m/3/0>", &l);
	ck_assert_str_eq(l.root, "/lwm2m");
	ck_assert_str_eq(l.ct, "");
	ck_assert_str_eq(l.objs, "</1/0>,</3/0>");
	gw_reg_links_fini(&l);
	links_ok("</3/0>,</>;ct=11543", &l);
	ck_assert_str_eq(l.ct, "11543");
	ck_assert_str_eq(l.objs, "</3/0>");
	gw_reg_links_fini(&l);
	links_ok("", &l);
	ck_assert_str_eq(l.objs, "");
	gw_reg_links_fini(&l);
	links_ok("</3/0>,</1/0>,</3/0>,</3/1>,</1>,</1/0>", &l);
	ck_assert_str_eq(l.objs, "</3/0>,</1/0>,</3/1>,</1>");
	ck_assert_uint_eq(l.n_objs, 4);
	gw_reg_links_fini(&l);
}
END_TEST

/* the same merge of repeated links at every list length: by scan (up to
 * 16 links), by sort on the stack (up to 64) and on the heap */
START_TEST(test_gw_reg_links_parse_duplicates)
{
	static const size_t lens[] = {1, 6, 16, 17, 40, 64, 65, 100};
	char text[2048], want[2048];

	for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
		size_t n = 0, w = 0, kept = 0;
		struct gw_reg_links l;

		for (size_t i = 0; i < lens[t]; i++) {
			unsigned obj = (unsigned)(i % 7) + 1;
			unsigned inst = (unsigned)(i * 3 % 5);
			char link[32];
			bool seen = false;

			snprintf(link, sizeof link, "</%u/%u>", obj, inst);
			n += (size_t)snprintf(text + n, sizeof text - n, "%s%s",
			                      i ? "," : "", link);
			for (size_t j = 0; j < i && !seen; j++) {
				seen = (j % 7) + 1 == obj && j * 3 % 5 == inst;
			}
			if (!seen) {
				w += (size_t)snprintf(want + w, sizeof want - w,
				                      "%s%s", kept ? "," : "",
				                      link);
				kept++;
			}
		}
		links_ok(text, &l);
		ck_assert_str_eq(l.objs, want);
		ck_assert_uint_eq(l.n_objs, kept);
		gw_reg_links_fini(&l);
	}
}
END_TEST

START_TEST(test_gw_reg_links_parse_errors)
{
	static const char *const bad[] = {
	    "</3/0",                            /* syntax */
	    "</3/0/1>",                         /* resource */
	    "</lwm2m>;rt=\"oma.lwm2m\",</3/0>", /* outside the root */
	    "</>;rt=\"oma.lwm2m\",</>",         /* two roots */
	    "</65535>",                         /* reserved id */
	    "</abc>",                           /* not numeric */
	    "</3/>",                            /* empty instance */
	    "</3>;ver=x",                       /* bad version */
	    "</>;ct=\"a b\"",                   /* bad ct */
	    "</lwm2m/>;rt=\"oma.lwm2m\"",       /* trailing slash */
	};
	struct gw_reg_links l;
	char diag[GW_DIAG_MAX];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		diag[0] = '\0';
		ck_assert_msg(gw_reg_links_parse(bad[i], strlen(bad[i]), &l,
		                                 diag,
		                                 sizeof diag) == LWM2M_EPROTO,
		              "accepted %s", bad[i]);
		ck_assert_msg(diag[0] != '\0', "no diag for %s", bad[i]);
	}
}
END_TEST

START_TEST(test_gw_reg_links_parse_limits)
{
	size_t size = GW_PAYLOAD_MAX + 2, n = 0;
	char *buf = malloc(size + 16), diag[GW_DIAG_MAX];
	struct gw_reg_links l;

	while (n < size) {
		n += (size_t)sprintf(buf + n, "</%zu>,", n);
	}
	ck_assert_int_eq(gw_reg_links_parse(buf, n, &l, diag, sizeof diag),
	                 LWM2M_ELIMIT);
	n = 0;
	for (int i = 0; i <= GW_LINKS_MAX; i++) {
		n += (size_t)sprintf(buf + n, "%s<>", i ? "," : "");
	}
	ck_assert_int_eq(gw_reg_links_parse(buf, n, &l, diag, sizeof diag),
	                 LWM2M_EPROTO);
	ck_assert_ptr_nonnull(strstr(diag, "links"));
	free(buf);
}
END_TEST

START_TEST(test_gw_reg_build_register_defaults)
{
	struct gw_reg_query q;
	struct gw_record r;
	char diag[GW_DIAG_MAX];

	ck_assert_int_eq(query("ep=dev", GW_OP_REGISTER, &q, diag), LWM2M_OK);
	gw_reg_build_register(&q, NULL, 1000, &r);
	ck_assert_str_eq(r.ep, "dev");
	ck_assert_uint_eq(r.lt, GW_LT_DEFAULT);
	ck_assert_str_eq(r.lwm2m, "1.0");
	ck_assert_str_eq(r.b, "U");
	ck_assert(!r.queue);
	ck_assert_int_eq(r.exp_ms, 1000 + GW_LT_DEFAULT * 1000LL);
	ck_assert_int_eq(r.state, GW_STATE_REGISTERED);
	gw_record_fini(&r);
}
END_TEST

START_TEST(test_gw_reg_build_register_queue)
{
	struct gw_reg_query q;
	struct gw_reg_links l;
	struct gw_record r;
	char diag[GW_DIAG_MAX];

	ck_assert_int_eq(query("ep=d&b=UQ&lt=30", GW_OP_REGISTER, &q, diag),
	                 LWM2M_OK);
	links_ok("</3/0>", &l);
	gw_reg_build_register(&q, &l, 0, &r);
	ck_assert(r.queue);
	ck_assert_str_eq(r.objs, "</3/0>");
	ck_assert_ptr_null(l.objs);
	ck_assert_int_eq(r.exp_ms, 30000);
	gw_record_fini(&r);
	ck_assert_int_eq(query("ep=d&Q&lwm2m=1.1", GW_OP_REGISTER, &q, diag),
	                 LWM2M_OK);
	gw_reg_build_register(&q, NULL, 0, &r);
	ck_assert(r.queue);
	gw_record_fini(&r);
}
END_TEST

START_TEST(test_gw_reg_build_update_keeps_lifetime)
{
	struct gw_reg_query q;
	struct gw_update u;
	char diag[GW_DIAG_MAX];

	ck_assert_int_eq(query("", GW_OP_UPDATE, &q, diag), LWM2M_OK);
	gw_reg_build_update(&q, NULL, 60, true, 5000, &u);
	ck_assert_uint_eq(u.lt, 60);
	ck_assert(u.queue);
	ck_assert(!u.set_b && !u.set_sms && !u.set_objs);
	ck_assert_int_eq(u.exp_ms, 65000);
	ck_assert_int_eq(query("lt=10&b=U", GW_OP_UPDATE, &q, diag), LWM2M_OK);
	gw_reg_build_update(&q, NULL, 60, true, 5000, &u);
	ck_assert_uint_eq(u.lt, 10);
	ck_assert(!u.queue);
	ck_assert(u.set_b);
	ck_assert_int_eq(u.exp_ms, 15000);
}
END_TEST

START_TEST(test_gw_reg_decide_update_states)
{
	ck_assert_uint_eq(gw_reg_decide_update(true, GW_STATE_REGISTERED, 10000,
	                                       false, false, 5000),
	                  COAP_RESPONSE_CODE(204));
	ck_assert_uint_eq(gw_reg_decide_update(true, GW_STATE_REGISTERED, 10000,
	                                       false, true, 5000),
	                  COAP_RESPONSE_CODE(202));
	ck_assert_uint_eq(gw_reg_decide_update(false, GW_STATE_REGISTERED, 0,
	                                       false, false, 5000),
	                  COAP_RESPONSE_CODE(404));
	ck_assert_uint_eq(gw_reg_decide_update(true, GW_STATE_DEREGISTERED,
	                                       10000, false, false, 5000),
	                  COAP_RESPONSE_CODE(404));
	ck_assert_uint_eq(gw_reg_decide_update(true, GW_STATE_EXPIRED, 10000,
	                                       false, false, 5000),
	                  COAP_RESPONSE_CODE(404));
	/* within the grace period, then past it */
	ck_assert_uint_eq(gw_reg_decide_update(true, GW_STATE_REGISTERED, 10000,
	                                       false, false,
	                                       10000 + GW_EXPIRY_GRACE_MS),
	                  COAP_RESPONSE_CODE(204));
	ck_assert_uint_eq(gw_reg_decide_update(true, GW_STATE_REGISTERED, 10000,
	                                       false, false,
	                                       10001 + GW_EXPIRY_GRACE_MS),
	                  COAP_RESPONSE_CODE(404));
	ck_assert_uint_eq(gw_reg_decide_update(true, GW_STATE_REGISTERED, 10000,
	                                       true, false, 5000),
	                  COAP_RESPONSE_CODE(403));
}
END_TEST

START_TEST(test_gw_reg_decide_register_blacklist)
{
	ck_assert_uint_eq(gw_reg_decide_register(false),
	                  COAP_RESPONSE_CODE(201));
	ck_assert_uint_eq(gw_reg_decide_register(true),
	                  COAP_RESPONSE_CODE(403));
}
END_TEST

START_TEST(test_gw_state_parse_roundtrip)
{
	enum gw_state s;

	for (int i = GW_STATE_REGISTERED; i <= GW_STATE_EXPIRED; i++) {
		ck_assert(gw_state_parse(gw_state_name((enum gw_state)i), &s));
		ck_assert_int_eq(s, i);
	}
	ck_assert(!gw_state_parse("gone", &s));
}
END_TEST

START_TEST(test_gw_table_put_get_del)
{
	struct gw_table t;
	char id[LWM2M_ID_SIZE];
	struct gw_device *d;

	gw_table_init(&t);
	ck_assert_ptr_null(gw_table_get(&t, "x"));
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof id, "id%020d", i);
		d = gw_table_put(&t, id, "ep");
		ck_assert_ptr_nonnull(d);
		d->lt = (uint32_t)i;
	}
	ck_assert_uint_eq(t.count, 5000);
	d = gw_table_get(&t, "id00000000000000004321");
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->lt, 4321);
	ck_assert(gw_table_del(&t, "id00000000000000004321"));
	ck_assert(!gw_table_del(&t, "id00000000000000004321"));
	ck_assert_ptr_null(gw_table_get(&t, "id00000000000000004321"));
	d = gw_table_put(&t, "id00000000000000000001", "other");
	ck_assert_str_eq(d->ep, "other");
	ck_assert_uint_eq(t.count, 4999);
	gw_table_fini(&t);
	gw_table_fini(NULL);
}
END_TEST

START_TEST(test_gw_table_prune_expired)
{
	struct gw_table t;
	char id[LWM2M_ID_SIZE];

	gw_table_init(&t);
	ck_assert_uint_eq(gw_table_prune(&t, 100, 10), 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(id, sizeof id, "id%020d", i);
		gw_table_put(&t, id, "ep")->exp_ms = i % 2 ? 50 : 500;
	}
	ck_assert_uint_eq(gw_table_prune(&t, 100, t.n_buckets), 1500);
	ck_assert_uint_eq(t.count, 1500);
	ck_assert_ptr_null(gw_table_get(&t, "id00000000000000000001"));
	ck_assert_ptr_nonnull(gw_table_get(&t, "id00000000000000000002"));
	gw_table_fini(&t);
}
END_TEST

/* the fields of a registered record of gateway "gw-a", expiring at 10000 */
static void
restore_fields(const char **v)
{
	v[GW_RF_EP] = "dev-1";
	v[GW_RF_ORG] = "7";
	v[GW_RF_STATE] = "registered";
	v[GW_RF_EXP] = "10000";
	v[GW_RF_LT] = "60";
	v[GW_RF_Q] = "1";
	v[GW_RF_ADDR] = "127.0.0.1:40000";
	v[GW_RF_ROOT] = "/lwm2m";
	v[GW_RF_VER] = "1.1";
	v[GW_RF_CT] = "110 112";
	v[GW_RF_SEC] = "0";
	v[GW_RF_GW] = "gw-a";
}

START_TEST(test_gw_restore_record_registered)
{
	const char *v[GW_RF_N];
	struct gw_record rec;

	restore_fields(v);
	ck_assert(gw_restore_record(v, "gw-a", 9000, &rec));
	ck_assert_str_eq(rec.ep, "dev-1");
	ck_assert_int_eq(rec.org, 7);
	ck_assert_int_eq(rec.exp_ms, 10000);
	ck_assert_uint_eq(rec.lt, 60);
	ck_assert(rec.queue);
	ck_assert(!rec.secure);
	ck_assert_str_eq(rec.addr, "127.0.0.1:40000");
	ck_assert_str_eq(rec.root, "/lwm2m");
	ck_assert_str_eq(rec.lwm2m, "1.1");
	ck_assert_str_eq(rec.ct, "110 112");
	/* within the grace period after expiry it is still loaded */
	ck_assert(
	    gw_restore_record(v, "gw-a", 10000 + GW_EXPIRY_GRACE_MS - 1, &rec));
}
END_TEST

START_TEST(test_gw_restore_record_refused)
{
	const char *v[GW_RF_N];
	struct gw_record rec;

	restore_fields(v);
	ck_assert(!gw_restore_record(v, "gw-b", 9000, &rec)); /* moved */
	ck_assert(!gw_restore_record(v, "gw-a", 10000 + GW_EXPIRY_GRACE_MS,
	                             &rec)); /* expired while down */
	v[GW_RF_STATE] = "expired";
	ck_assert(!gw_restore_record(v, "gw-a", 9000, &rec));
	restore_fields(v);
	v[GW_RF_STATE] = "";
	ck_assert(!gw_restore_record(v, "gw-a", 9000, &rec)); /* no record */
	restore_fields(v);
	v[GW_RF_LT] = "0";
	ck_assert(!gw_restore_record(v, "gw-a", 9000, &rec));
	restore_fields(v);
	v[GW_RF_EXP] = "12x";
	ck_assert(!gw_restore_record(v, "gw-a", 9000, &rec));
	restore_fields(v);
	v[GW_RF_EP] = "";
	ck_assert(!gw_restore_record(v, "gw-a", 9000, &rec));
}
END_TEST

/* a UDP socket on 127.0.0.1, connected to itself when connect is true */
static int
udp_socket(bool connect_it)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	if (connect_it) {
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, len), 0);
	}
	return fd;
}

static int
rcvbuf(int fd)
{
	int v = 0;
	socklen_t len = sizeof v;

	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len), 0);
	return v;
}

START_TEST(test_gw_coap_set_bufs_listening_only)
{
	int lis = udp_socket(false), con = udp_socket(true);
	int before = rcvbuf(con), eff = 0;
	size_t n = gw_coap_set_bufs(96 * 1024, &eff);

	ck_assert_uint_ge(n, 1);
	/* Linux keeps twice the size asked for */
	ck_assert_int_eq(rcvbuf(lis), 2 * 96 * 1024);
	ck_assert_int_eq(eff, 2 * 96 * 1024);
	ck_assert_int_eq(rcvbuf(con), before);
	close(lis);
	close(con);
}
END_TEST

/* Sessions to PEERS distinct peers (127.0.0.1, ports from 40000): real
 * client sessions, one UDP socket each, only their addresses matter. */
#define PEERS 256

static void
peer_sessions(coap_context_t *ctx, coap_session_t **s, int n, int port0)
{
	for (int i = 0; i < n; i++) {
		coap_address_t a;

		coap_address_init(&a);
		a.addr.sin.sin_family = AF_INET;
		a.addr.sin.sin_port = htons((uint16_t)(port0 + i));
		a.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.size = sizeof a.addr.sin;
		s[i] = coap_new_client_session(ctx, NULL, &a, COAP_PROTO_UDP);
		ck_assert_ptr_nonnull(s[i]);
	}
}

/* one window of sessions created; those in back[] were dropped before */
static void
idle_window(struct gw_idle *idle, coap_session_t **s, bool back)
{
	for (int i = 0; i < PEERS; i++) {
		if (back) {
			gw_idle_event(idle, s[i],
			              COAP_EVENT_SERVER_SESSION_DEL);
		}
		gw_idle_event(idle, s[i], COAP_EVENT_SERVER_SESSION_NEW);
	}
}

/* The cap doubles, up to GW_IDLE_MAX, for each window in which at least
 * half of the new sessions are peers whose session had been dropped, and
 * halves, down to GW_IDLE_MIN, for each window of new peers. */
START_TEST(test_gw_idle_event_sizes_cap)
{
	coap_context_t *ctx = coap_new_context(NULL);
	coap_session_t *fresh[PEERS], *back[PEERS];
	struct gw_idle idle;
	unsigned cap = GW_IDLE_MIN;

	ck_assert_ptr_nonnull(ctx);
	peer_sessions(ctx, back, PEERS, 40000);
	peer_sessions(ctx, fresh, PEERS, 41000);
	gw_idle_init(&idle, ctx);
	ck_assert_uint_eq(coap_context_get_max_idle_sessions(ctx), GW_IDLE_MIN);
	idle_window(&idle, fresh, false);
	ck_assert_uint_eq(coap_context_get_max_idle_sessions(ctx), GW_IDLE_MIN);
	while (cap < GW_IDLE_MAX) {
		idle_window(&idle, back, true);
		cap *= 2;
		ck_assert_uint_eq(coap_context_get_max_idle_sessions(ctx), cap);
	}
	idle_window(&idle, back, true);
	ck_assert_uint_eq(coap_context_get_max_idle_sessions(ctx), GW_IDLE_MAX);
	/* sessions of new peers: no fingerprint matches any more */
	idle_window(&idle, fresh, false);
	ck_assert_uint_eq(coap_context_get_max_idle_sessions(ctx),
	                  GW_IDLE_MAX / 2);
	for (int i = 0; i < PEERS; i++) {
		coap_session_release(fresh[i]);
		coap_session_release(back[i]);
	}
	coap_free_context(ctx);
}
END_TEST

/* every slot of the hint as if its check ran delta_ms ago */
static void
subs_age(struct gw_ctx *gw, int64_t delta_ms)
{
	for (int i = 0; i < GW_SUBS_CACHE; i++) {
		gw->subs.checked_ms[i] = lwm2m_mono_ms() - delta_ms;
	}
}

/* The hint of gw_subs_*: unknown organisations may have subscriptions;
 * "none" only from an integer 0 reply; an error or no reply counts as
 * subscriptions; fresh only for "some" younger than GW_SUBS_FRESH_MS. */
START_TEST(test_gw_subs_hint)
{
	struct gw_ctx *gw = calloc(1, sizeof *gw);
	redisReply zero = {.type = REDIS_REPLY_INTEGER, .integer = 0};
	redisReply one = {.type = REDIS_REPLY_INTEGER, .integer = 1};
	redisReply err = {.type = REDIS_REPLY_ERROR};

	ck_assert_ptr_nonnull(gw);
	ck_assert(gw_subs_maybe(gw, 7));
	ck_assert(!gw_subs_fresh(gw, 7));
	ck_assert(!gw_subs_learn(gw, 7, &zero));
	ck_assert(!gw_subs_maybe(gw, 7));
	ck_assert(!gw_subs_fresh(gw, 7));
	ck_assert(gw_subs_maybe(gw, 8));
	ck_assert(gw_subs_learn(gw, 7, &one));
	ck_assert(gw_subs_maybe(gw, 7));
	subs_age(gw, -GW_SUBS_FRESH_MS); /* checked now, with a margin */
	ck_assert(gw_subs_fresh(gw, 7));
	ck_assert(!gw_subs_fresh(gw, 8));
	subs_age(gw, GW_SUBS_FRESH_MS);
	ck_assert(!gw_subs_fresh(gw, 7));
	ck_assert(gw_subs_maybe(gw, 7));
	ck_assert(!gw_subs_learn(gw, 7, &zero));
	ck_assert(gw_subs_learn(gw, 7, &err));
	ck_assert(gw_subs_maybe(gw, 7));
	ck_assert(!gw_subs_learn(gw, 7, &zero));
	ck_assert(gw_subs_learn(gw, 7, NULL));
	ck_assert(gw_subs_maybe(gw, 7));
	free(gw);
}
END_TEST

static Suite *
gw_reg_suite(void)
{
	Suite *s = suite_create("gw_reg");
	TCase *tc;

	tc = tcase_create("gw_reg_query_parse");
	tcase_add_test(tc, test_gw_reg_query_parse_full);
	tcase_add_test(tc, test_gw_reg_query_parse_defaults);
	tcase_add_test(tc, test_gw_reg_query_parse_errors);
	tcase_add_test(tc, test_gw_reg_query_parse_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_reg_links_parse");
	tcase_add_test(tc, test_gw_reg_links_parse_root);
	tcase_add_test(tc, test_gw_reg_links_parse_duplicates);
	tcase_add_test(tc, test_gw_reg_links_parse_alternate_path);
	tcase_add_test(tc, test_gw_reg_links_parse_errors);
	tcase_add_test(tc, test_gw_reg_links_parse_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_reg_build_register");
	tcase_add_test(tc, test_gw_reg_build_register_defaults);
	tcase_add_test(tc, test_gw_reg_build_register_queue);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_reg_build_update");
	tcase_add_test(tc, test_gw_reg_build_update_keeps_lifetime);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_reg_decide_update");
	tcase_add_test(tc, test_gw_reg_decide_update_states);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_reg_decide_register");
	tcase_add_test(tc, test_gw_reg_decide_register_blacklist);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_state_parse");
	tcase_add_test(tc, test_gw_state_parse_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_table_put");
	tcase_add_test(tc, test_gw_table_put_get_del);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_table_prune");
	tcase_add_test(tc, test_gw_table_prune_expired);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_coap_set_bufs");
	tcase_add_test(tc, test_gw_coap_set_bufs_listening_only);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_idle_event");
	tcase_add_test(tc, test_gw_idle_event_sizes_cap);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_subs");
	tcase_add_test(tc, test_gw_subs_hint);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_restore_record");
	tcase_add_test(tc, test_gw_restore_record_registered);
	tcase_add_test(tc, test_gw_restore_record_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(gw_reg_suite());
}
