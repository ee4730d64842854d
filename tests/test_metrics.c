/* Unit tests of lwm2m_metrics: registry, updates, text exposition, HTTP. */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "lwm2m_metrics.h"

static char *
render(struct lwm2m_metrics *reg)
{
	struct evbuffer *out = evbuffer_new();
	size_t len;
	char *text;

	ck_assert_int_eq(lwm2m_metrics_render(reg, out), LWM2M_OK);
	len = evbuffer_get_length(out);
	text = calloc(1, len + 1);
	evbuffer_remove(out, text, len);
	evbuffer_free(out);
	return text;
}

START_TEST(test_lwm2m_metrics_counter_basic)
{
	struct lwm2m_metrics *reg;
	struct lwm2m_metric *c;

	ck_assert_int_eq(lwm2m_metrics_new(&reg), LWM2M_OK);
	c = lwm2m_metrics_counter(reg, "lwds_x_total", "X things");
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_eq(lwm2m_metrics_counter(reg, "lwds_x_total", "again"),
	                 c);
	lwm2m_metrics_inc(c);
	lwm2m_metrics_add(c, 2.5);
	lwm2m_metrics_add(c, -10); /* counters never go down */
	ck_assert(lwm2m_metrics_value(c) == 3.5);
	lwm2m_metrics_free(reg);
}
END_TEST

START_TEST(test_lwm2m_metrics_counter_bad_names)
{
	struct lwm2m_metrics *reg;

	ck_assert_int_eq(lwm2m_metrics_new(&reg), LWM2M_OK);
	ck_assert_ptr_null(lwm2m_metrics_counter(reg, "", "h"));
	ck_assert_ptr_null(lwm2m_metrics_counter(reg, "9abc", "h"));
	ck_assert_ptr_null(lwm2m_metrics_counter(reg, "a-b", "h"));
	ck_assert_ptr_null(lwm2m_metrics_counter(reg, "a{b", "h"));
	ck_assert_ptr_null(lwm2m_metrics_counter(reg, NULL, "h"));
	ck_assert_ptr_nonnull(lwm2m_metrics_gauge(reg, "g", "h"));
	/* same name, other type */
	ck_assert_ptr_null(lwm2m_metrics_counter(reg, "g", "h"));
	lwm2m_metrics_inc(NULL); /* NULL-safe */
	lwm2m_metrics_free(reg);
}
END_TEST

START_TEST(test_lwm2m_metrics_counter_limit)
{
	struct lwm2m_metrics *reg;
	char name[32];

	ck_assert_int_eq(lwm2m_metrics_new(&reg), LWM2M_OK);
	for (int i = 0; i < LWM2M_METRICS_MAX; i++) {
		snprintf(name, sizeof name, "m%d", i);
		ck_assert_ptr_nonnull(lwm2m_metrics_counter(reg, name, "h"));
	}
	ck_assert_ptr_null(lwm2m_metrics_counter(reg, "one_more", "h"));
	lwm2m_metrics_free(reg);
}
END_TEST

START_TEST(test_lwm2m_metrics_gauge_set)
{
	struct lwm2m_metrics *reg;
	struct lwm2m_metric *g;

	ck_assert_int_eq(lwm2m_metrics_new(&reg), LWM2M_OK);
	g = lwm2m_metrics_gauge(reg, "lwds_depth", "Queue depth");
	lwm2m_metrics_set(g, 7);
	lwm2m_metrics_add(g, -2);
	ck_assert(lwm2m_metrics_value(g) == 5);
	lwm2m_metrics_observe(g, 1); /* ignored: not a histogram */
	ck_assert(lwm2m_metrics_value(g) == 5);
	lwm2m_metrics_free(reg);
}
END_TEST

START_TEST(test_lwm2m_metrics_histogram_buckets)
{
	static const double b[] = {0.01, 0.1, 1};
	struct lwm2m_metrics *reg;
	struct lwm2m_metric *h;
	char *text;

	ck_assert_int_eq(lwm2m_metrics_new(&reg), LWM2M_OK);
	h = lwm2m_metrics_histogram(reg, "lat_seconds{op=\"read\"}", "L", b, 3);
	ck_assert_ptr_nonnull(h);
	lwm2m_metrics_observe(h, 0.005);
	lwm2m_metrics_observe(h, 0.1);
	lwm2m_metrics_observe(h, 5);
	ck_assert(lwm2m_metrics_value(h) == 3);
	text = render(reg);
	ck_assert_ptr_nonnull(strstr(text, "# TYPE lat_seconds histogram\n"));
	ck_assert_ptr_nonnull(
	    strstr(text, "lat_seconds_bucket{op=\"read\",le=\"0.01\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(text, "lat_seconds_bucket{op=\"read\",le=\"0.10000000000"));
	ck_assert_ptr_nonnull(
	    strstr(text, "lat_seconds_bucket{op=\"read\",le=\"+Inf\"} 3\n"));
	ck_assert_ptr_nonnull(
	    strstr(text, "lat_seconds_count{op=\"read\"} 3\n"));
	free(text);
	lwm2m_metrics_free(reg);
}
END_TEST

START_TEST(test_lwm2m_metrics_histogram_bad_bounds)
{
	static const double dec[] = {1, 0.5};
	struct lwm2m_metrics *reg;

	ck_assert_int_eq(lwm2m_metrics_new(&reg), LWM2M_OK);
	ck_assert_ptr_null(lwm2m_metrics_histogram(reg, "h", "h", dec, 2));
	ck_assert_ptr_null(lwm2m_metrics_histogram(reg, "h", "h", dec, 0));
	ck_assert_ptr_null(lwm2m_metrics_histogram(
	    reg, "h", "h", dec, LWM2M_METRICS_MAX_BUCKETS + 1));
	lwm2m_metrics_free(reg);
}
END_TEST

START_TEST(test_lwm2m_metrics_render_families)
{
	struct lwm2m_metrics *reg;
	char *text, *first, *second;

	ck_assert_int_eq(lwm2m_metrics_new(&reg), LWM2M_OK);
	lwm2m_metrics_inc(
	    lwm2m_metrics_counter(reg, "req_total{code=\"200\"}", "Requests"));
	lwm2m_metrics_inc(lwm2m_metrics_gauge(reg, "other", "Other"));
	lwm2m_metrics_add(
	    lwm2m_metrics_counter(reg, "req_total{code=\"404\"}", "Requests"),
	    2);
	text = render(reg);
	/* one HELP/TYPE per family, its series together */
	first = strstr(text, "# TYPE req_total counter\n");
	ck_assert_ptr_nonnull(first);
	ck_assert_ptr_null(strstr(first + 1, "# TYPE req_total"));
	second = strstr(text, "req_total{code=\"404\"} 2\n");
	ck_assert_ptr_nonnull(second);
	ck_assert(second < strstr(text, "# TYPE other gauge"));
	ck_assert_ptr_nonnull(strstr(text, "req_total{code=\"200\"} 1\n"));
	free(text);
	lwm2m_metrics_free(reg);
}
END_TEST

START_TEST(test_lwm2m_metrics_default_shared)
{
	struct lwm2m_metric *a, *b;

	ck_assert_ptr_nonnull(lwm2m_metrics_default());
	ck_assert_ptr_eq(lwm2m_metrics_default(), lwm2m_metrics_default());
	a = lwm2m_metrics_counter(NULL, "shared_total", "S");
	b = lwm2m_metrics_counter(lwm2m_metrics_default(), "shared_total", "S");
	ck_assert_ptr_eq(a, b);
}
END_TEST

START_TEST(test_lwm2m_metrics_parse_addr_cases)
{
	char host[64];
	int port;

	ck_assert_int_eq(lwm2m_metrics_parse_addr("127.0.0.1:7723", host,
	                                          sizeof host, &port),
	                 LWM2M_OK);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_int_eq(port, 7723);
	ck_assert_int_eq(
	    lwm2m_metrics_parse_addr("[::1]:80", host, sizeof host, &port),
	    LWM2M_OK);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(
	    lwm2m_metrics_parse_addr("nohost", host, sizeof host, &port),
	    LWM2M_EINVAL);
	ck_assert_int_eq(
	    lwm2m_metrics_parse_addr(":80", host, sizeof host, &port),
	    LWM2M_EINVAL);
	ck_assert_int_eq(
	    lwm2m_metrics_parse_addr("h:99999", host, sizeof host, &port),
	    LWM2M_EINVAL);
}
END_TEST

START_TEST(test_lwm2m_metrics_http_new_bad_addr)
{
	struct event_base *base = event_base_new();
	struct lwm2m_metrics_http *h = NULL;

	ck_assert_int_eq(lwm2m_metrics_http_new(base, "bad", NULL, NULL, &h),
	                 LWM2M_EINVAL);
	ck_assert_int_eq(
	    lwm2m_metrics_http_new(base, "127.0.0.1:0", NULL, NULL, &h),
	    LWM2M_OK);
	ck_assert_ptr_null(lwm2m_metrics_http_free(h));
	ck_assert_ptr_null(lwm2m_metrics_http_free(NULL));
	event_base_free(base);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("lwm2m_metrics");
	struct {
		const char *name;
		const TTest *tests[4];
	} cases[] = {
	    {"lwm2m_metrics_counter",
	     {test_lwm2m_metrics_counter_basic,
	      test_lwm2m_metrics_counter_bad_names,
	      test_lwm2m_metrics_counter_limit}},
	    {"lwm2m_metrics_gauge", {test_lwm2m_metrics_gauge_set}},
	    {"lwm2m_metrics_histogram",
	     {test_lwm2m_metrics_histogram_buckets,
	      test_lwm2m_metrics_histogram_bad_bounds}},
	    {"lwm2m_metrics_render", {test_lwm2m_metrics_render_families}},
	    {"lwm2m_metrics_default", {test_lwm2m_metrics_default_shared}},
	    {"lwm2m_metrics_parse_addr", {test_lwm2m_metrics_parse_addr_cases}},
	    {"lwm2m_metrics_http_new", {test_lwm2m_metrics_http_new_bad_addr}},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		TCase *tc = tcase_create(cases[i].name);
		for (size_t j = 0; j < 4 && cases[i].tests[j]; j++) {
			tcase_add_test(tc, cases[i].tests[j]);
		}
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	return check_run(metrics_suite());
}
