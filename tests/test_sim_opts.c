/* Unit tests of lwds-sim's option parsing and local address ranges. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static lwm2m_err
parse(struct sim_opts *o, int argc, char **argv)
{
	char err[256];
	bool help;

	sim_opts_init(o);
	return sim_opts_parse(o, argc, argv, &help, err, sizeof err);
}

START_TEST(test_sim_opts_parse_defaults)
{
	struct sim_opts o;
	char *argv[] = {"lwds-sim", NULL};

	unsetenv("LWDS_SIM_COUNT");
	ck_assert_int_eq(parse(&o, 1, argv), LWM2M_OK);
	ck_assert_str_eq(o.server, "coap://127.0.0.1:5683");
	ck_assert_uint_eq(o.count, 1);
	ck_assert_str_eq(o.prefix, "sim-");
	ck_assert_uint_eq(o.lifetime, 300);
	ck_assert_uint_eq(o.lwm2m_minor, 1);
	ck_assert_uint_eq(o.n_objects, 5);
	ck_assert_uint_eq(o.max_inflight, 128);
}
END_TEST

/* --endpoint names the one client exactly (a certificate CN ending in a
 * letter cannot be --prefix + --first); more than one client is refused */
START_TEST(test_sim_opts_parse_endpoint)
{
	struct sim_opts o;
	char *one[] = {"lwds-sim", "--endpoint",
	               "703f83b8-df39-ddd8-a4b0-a1928c32855c", NULL};
	char *many[] = {"lwds-sim", "--endpoint", "x", "--count", "2", NULL};
	char *empty[] = {"lwds-sim", "--endpoint", "", NULL};

	ck_assert_int_eq(parse(&o, 3, one), LWM2M_OK);
	ck_assert_str_eq(o.endpoint, "703f83b8-df39-ddd8-a4b0-a1928c32855c");
	ck_assert_int_eq(parse(&o, 5, many), LWM2M_EINVAL);
	ck_assert_int_eq(parse(&o, 3, empty), LWM2M_EINVAL);
	ck_assert_int_eq(parse(&o, 1, (char *[]){"lwds-sim", NULL}), LWM2M_OK);
	ck_assert_str_eq(o.endpoint, "");
}
END_TEST

START_TEST(test_sim_opts_parse_flags)
{
	struct sim_opts o;
	char *argv[] = {"lwds-sim",
	                "--count",
	                "250",
	                "--prefix",
	                "dev-",
	                "--lwm2m",
	                "1.0",
	                "--queue",
	                "--objects",
	                "3,3303",
	                "--formats",
	                "11542,112",
	                "--rate",
	                "1000.5",
	                "--local-addrs",
	                "127.0.0.1-127.0.0.10",
	                "--local-addr",
	                "127.0.1.1",
	                NULL};

	ck_assert_int_eq(parse(&o, 18, argv), LWM2M_OK);
	ck_assert_uint_eq(o.count, 250);
	ck_assert_str_eq(o.prefix, "dev-");
	ck_assert_uint_eq(o.lwm2m_minor, 0);
	ck_assert(o.queue);
	ck_assert_uint_eq(o.n_objects, 2);
	ck_assert_uint_eq(o.objects[1], 3303);
	ck_assert_uint_eq(o.n_formats, 2);
	ck_assert_uint_eq(o.formats[1], 112);
	ck_assert(o.rate > 1000.4 && o.rate < 1000.6);
	ck_assert_uint_eq(o.n_addrs, 2);
	ck_assert_uint_eq(sim_opts_addr_total(&o), 11);
}
END_TEST

START_TEST(test_sim_opts_parse_env)
{
	struct sim_opts o;
	char *argv[] = {"lwds-sim", "--lifetime", "60", NULL};

	setenv("LWDS_SIM_COUNT", "42", 1);
	setenv("LWDS_SIM_LIFETIME", "99", 1);
	ck_assert_int_eq(parse(&o, 3, argv), LWM2M_OK);
	ck_assert_uint_eq(o.count, 42);
	ck_assert_uint_eq(o.lifetime, 60); /* the flag wins */
	unsetenv("LWDS_SIM_COUNT");
	unsetenv("LWDS_SIM_LIFETIME");
}
END_TEST

START_TEST(test_sim_opts_parse_rejects)
{
	struct sim_opts o;
	char *bad[][3] = {
	    {"lwds-sim", "--count", "0"},
	    {"lwds-sim", "--count", "12x"},
	    {"lwds-sim", "--lwm2m", "1.2"},
	    {"lwds-sim", "--server", "http://x"},
	    {"lwds-sim", "--objects", "3,9999"},
	    {"lwds-sim", "--local-addrs", "127.0.0.9-127.0.0.1"},
	    {"lwds-sim", "--binding", "X"},
	    {"lwds-sim", "--rate", "-1"},
	    {"lwds-sim", "--bogus", "1"},
	    {"lwds-sim", "--awake", "3"}, /* needs --queue */
	    {"lwds-sim", "--server", "coaps://127.0.0.1:5684"},
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *argv[] = {bad[i][0], bad[i][1], bad[i][2], NULL};

		ck_assert_int_eq(parse(&o, 3, argv), LWM2M_EINVAL);
	}
}
END_TEST

START_TEST(test_sim_opts_parse_cert)
{
	struct sim_opts o;
	char *argv[] = {"lwds-sim", "--server", "coaps://127.0.0.1:5684",
	                "--cert",   "d.crt",    "--key",
	                "d.key",    "--ca",     "ca.crt",
	                NULL};

	ck_assert_int_eq(parse(&o, 9, argv), LWM2M_OK);
	ck_assert_str_eq(o.cert_file, "d.crt");
	ck_assert_str_eq(o.key_file, "d.key");
	ck_assert_str_eq(o.ca_file, "ca.crt");
}
END_TEST

START_TEST(test_sim_opts_parse_cert_rejects)
{
	struct sim_opts o;
	char *no_key[] = {"lwds-sim", "--server", "coaps://h:5684",
	                  "--cert",   "d.crt",    NULL};
	char *ca_only[] = {"lwds-sim", "--ca", "ca.crt", NULL};
	char *both[] = {
	    "lwds-sim",       "--cert", "d.crt",     "--key", "d.key",
	    "--psk-identity", "abc",    "--psk-key", "0102",  NULL};

	ck_assert_int_eq(parse(&o, 5, no_key), LWM2M_EINVAL);
	ck_assert_int_eq(parse(&o, 3, ca_only), LWM2M_EINVAL);
	ck_assert_int_eq(parse(&o, 9, both), LWM2M_EINVAL);
}
END_TEST

START_TEST(test_sim_opts_parse_psk_key)
{
	struct sim_opts o;
	char *ok[] = {"lwds-sim", "--psk-key", "0aFf", NULL};
	char *odd[] = {"lwds-sim", "--psk-key", "0aF", NULL};
	char *space[] = {"lwds-sim", "--psk-key", " 1", NULL};
	char *prefix[] = {"lwds-sim", "--psk-key", "0x", NULL};

	ck_assert_int_eq(parse(&o, 3, ok), LWM2M_OK);
	ck_assert_uint_eq(o.psk_key_len, 2);
	ck_assert_uint_eq(o.psk_key[0], 0x0a);
	ck_assert_uint_eq(o.psk_key[1], 0xff);
	ck_assert_int_eq(parse(&o, 3, odd), LWM2M_EINVAL);
	ck_assert_int_eq(parse(&o, 3, space), LWM2M_EINVAL);
	ck_assert_int_eq(parse(&o, 3, prefix), LWM2M_EINVAL);
}
END_TEST

START_TEST(test_sim_opts_parse_help)
{
	struct sim_opts o;
	char *argv[] = {"lwds-sim", "--help", NULL};
	char err[64];
	bool help;

	sim_opts_init(&o);
	ck_assert_int_eq(sim_opts_parse(&o, 2, argv, &help, err, sizeof err),
	                 LWM2M_OK);
	ck_assert(help);
}
END_TEST

START_TEST(test_sim_addr_range_parse_ok)
{
	struct sim_addr_range r;

	ck_assert_int_eq(sim_addr_range_parse("127.0.0.1-127.0.1.0", &r),
	                 LWM2M_OK);
	ck_assert_uint_eq(r.first, 0x7f000001);
	ck_assert_uint_eq(r.last, 0x7f000100);
	ck_assert_int_eq(sim_addr_range_parse("10.1.2.3", &r), LWM2M_OK);
	ck_assert_uint_eq(r.first, r.last);
}
END_TEST

START_TEST(test_sim_addr_range_parse_bad)
{
	struct sim_addr_range r;

	ck_assert_int_eq(sim_addr_range_parse("", &r), LWM2M_EINVAL);
	ck_assert_int_eq(sim_addr_range_parse("127.0.0.1-", &r), LWM2M_EINVAL);
	ck_assert_int_eq(sim_addr_range_parse("-127.0.0.1", &r), LWM2M_EINVAL);
	ck_assert_int_eq(sim_addr_range_parse("127.0.0.256", &r), LWM2M_EINVAL);
	ck_assert_int_eq(sim_addr_range_parse("::1", &r), LWM2M_EINVAL);
}
END_TEST

START_TEST(test_sim_opts_local_addr_round_robin)
{
	struct sim_opts o;
	uint32_t a;

	sim_opts_init(&o);
	ck_assert(!sim_opts_local_addr(&o, 0, &a));
	sim_addr_range_parse("127.0.0.1-127.0.0.2", &o.addrs[0]);
	sim_addr_range_parse("127.0.1.5", &o.addrs[1]);
	o.n_addrs = 2;
	ck_assert(sim_opts_local_addr(&o, 0, &a));
	ck_assert_uint_eq(a, 0x7f000001);
	ck_assert(sim_opts_local_addr(&o, 2, &a));
	ck_assert_uint_eq(a, 0x7f000105);
	ck_assert(sim_opts_local_addr(&o, 4, &a));
	ck_assert_uint_eq(a, 0x7f000002);
}
END_TEST

/* every client of the range gets its own address before any address is
 * reused; no two clients share address and port, no two clients of one
 * context (idx % n) share a port */
static void
check_spread(unsigned n_addrs, unsigned n_contexts, unsigned clients)
{
	struct sim_opts o;
	uint32_t first = 0x7f000001;
	static uint8_t used[64][256];
	static uint8_t ctx_port[16][256];

	sim_opts_init(&o);
	o.addrs[0].first = first;
	o.addrs[0].last = first + n_addrs - 1;
	o.n_addrs = 1;
	memset(used, 0, sizeof used);
	memset(ctx_port, 0, sizeof ctx_port);
	for (unsigned i = 0; i < clients; i++) {
		uint32_t a;
		uint16_t p = sim_opts_local_port(&o, i, n_contexts);

		ck_assert(sim_opts_local_addr(&o, i, &a));
		ck_assert_uint_eq(a, first + i % n_addrs);
		ck_assert_uint_ge(p, SIM_PORT_BASE);
		ck_assert_uint_lt(p - SIM_PORT_BASE, 256);
		ck_assert(!used[a - first][p - SIM_PORT_BASE]);
		used[a - first][p - SIM_PORT_BASE] = 1;
		ck_assert(!ctx_port[i % n_contexts][p - SIM_PORT_BASE]);
		ctx_port[i % n_contexts][p - SIM_PORT_BASE] = 1;
	}
}

START_TEST(test_sim_opts_local_port_spread)
{
	check_spread(4, 1, 40);  /* one context: the reported bug */
	check_spread(4, 3, 100); /* fewer contexts than addresses */
	check_spread(3, 8, 200); /* more contexts than addresses */
	check_spread(8, 8, 200);
	check_spread(1, 5, 200);
}
END_TEST

START_TEST(test_sim_opts_local_port_none)
{
	struct sim_opts o;

	sim_opts_init(&o);
	ck_assert_uint_eq(sim_opts_local_port(&o, 7, 1), 0);
	o.addrs[0].first = o.addrs[0].last = 0x7f000001;
	o.n_addrs = 1;
	ck_assert_uint_eq(sim_opts_local_port(&o, 7, 1), SIM_PORT_BASE + 7);
	ck_assert_uint_eq(sim_opts_local_port(&o, SIM_PORT_SPAN, 1), 0);
}
END_TEST

START_TEST(test_sim_opts_parse_shared)
{
	struct sim_opts o;
	char *ok[] = {"lwds-sim", "--shared-sockets", "--count",
	              "5000",     "--local-addrs",    "127.3.0.0-127.3.3.255",
	              NULL};

	ck_assert_int_eq(parse(&o, 6, ok), LWM2M_OK);
	ck_assert(o.shared_sockets);
	setenv("LWDS_SIM_SHARED_SOCKETS", "yes", 1);
	ck_assert_int_eq(parse(&o, 5,
	                       (char *[]){"lwds-sim", "--local-addrs",
	                                  "127.3.0.1", "--count", "9", NULL}),
	                 LWM2M_OK);
	ck_assert(o.shared_sockets);
	setenv("LWDS_SIM_SHARED_SOCKETS", "maybe", 1);
	ck_assert_int_eq(parse(&o, 1, (char *[]){"lwds-sim", NULL}),
	                 LWM2M_EINVAL);
	unsetenv("LWDS_SIM_SHARED_SOCKETS");
}
END_TEST

START_TEST(test_sim_opts_parse_shared_rejects)
{
	struct sim_opts o;
	/* no addresses; DTLS; overlapping ranges; more than 1024 ports */
	char *no_addrs[] = {"lwds-sim", "--shared-sockets", NULL};
	char *dtls[] = {"lwds-sim",
	                "--shared-sockets",
	                "--server",
	                "coaps://127.0.0.1:5684",
	                "--psk-identity",
	                "a",
	                "--psk-key",
	                "01",
	                "--local-addrs",
	                "127.3.0.1",
	                NULL};
	char *overlap[] = {"lwds-sim",
	                   "--shared-sockets",
	                   "--local-addrs",
	                   "127.3.0.0-127.3.0.9",
	                   "--local-addrs",
	                   "127.3.0.9",
	                   NULL};
	char *ports[] = {"lwds-sim",      "--shared-sockets", "--count", "1025",
	                 "--local-addrs", "127.3.0.1",        NULL};

	ck_assert_int_eq(parse(&o, 2, no_addrs), LWM2M_EINVAL);
	ck_assert_int_eq(parse(&o, 10, dtls), LWM2M_EINVAL);
	ck_assert_int_eq(parse(&o, 6, overlap), LWM2M_EINVAL);
	ck_assert_int_eq(parse(&o, 6, ports), LWM2M_EINVAL);
	ports[3] = "1024";
	ck_assert_int_eq(parse(&o, 6, ports), LWM2M_OK);
}
END_TEST

START_TEST(test_sim_opts_addr_index_inverse)
{
	struct sim_opts o;
	uint64_t idx;
	uint32_t a;

	sim_opts_init(&o);
	sim_addr_range_parse("127.0.0.1-127.0.0.2", &o.addrs[0]);
	sim_addr_range_parse("127.0.1.5-127.0.1.9", &o.addrs[1]);
	o.n_addrs = 2;
	for (uint64_t i = 0; i < 7; i++) {
		ck_assert(sim_opts_local_addr(&o, i, &a));
		ck_assert(sim_opts_addr_index(&o, a, &idx));
		ck_assert_uint_eq(idx, i);
	}
	ck_assert(!sim_opts_addr_index(&o, 0x7f000003, &idx));
	ck_assert(!sim_opts_addr_index(&o, 0x7f000104, &idx));
}
END_TEST

static Suite *
sim_opts_suite(void)
{
	Suite *s = suite_create("sim_opts");
	TCase *tc = tcase_create("sim_opts_parse");

	tcase_add_test(tc, test_sim_opts_parse_defaults);
	tcase_add_test(tc, test_sim_opts_parse_flags);
	tcase_add_test(tc, test_sim_opts_parse_endpoint);
	tcase_add_test(tc, test_sim_opts_parse_env);
	tcase_add_test(tc, test_sim_opts_parse_rejects);
	tcase_add_test(tc, test_sim_opts_parse_psk_key);
	tcase_add_test(tc, test_sim_opts_parse_help);
	tcase_add_test(tc, test_sim_opts_parse_cert);
	tcase_add_test(tc, test_sim_opts_parse_cert_rejects);
	tcase_add_test(tc, test_sim_opts_parse_shared);
	tcase_add_test(tc, test_sim_opts_parse_shared_rejects);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_opts_addr_index");
	tcase_add_test(tc, test_sim_opts_addr_index_inverse);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_addr_range_parse");
	tcase_add_test(tc, test_sim_addr_range_parse_ok);
	tcase_add_test(tc, test_sim_addr_range_parse_bad);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_opts_local_addr");
	tcase_add_test(tc, test_sim_opts_local_addr_round_robin);
	suite_add_tcase(s, tc);
	tc = tcase_create("sim_opts_local_port");
	tcase_add_test(tc, test_sim_opts_local_port_spread);
	tcase_add_test(tc, test_sim_opts_local_port_none);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sim_opts_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
