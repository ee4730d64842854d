/* Unit tests of content negotiation, the JSON/XML document writer and
 * paging (services/rest-api/api_doc.c). */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include "api.h"

static struct api_neg
neg1(const char *accept)
{
	struct api_neg neg;
	const char *list[1] = {accept};

	api_negotiate(list, accept ? 1 : 0, &neg);
	return neg;
}

START_TEST(test_api_negotiate_rules)
{
	struct api_neg n;
	const char *two[] = {"application/xml", "text/html, */*;q=0.1"};

	n = neg1(NULL);
	ck_assert(n.fmt == API_FMT_JSON && !n.star);
	n = neg1("*/*");
	ck_assert(n.fmt == API_FMT_JSON && n.star);
	n = neg1("application/xml");
	ck_assert(n.fmt == API_FMT_XML && !n.star && !n.suffixed);
	n = neg1("application/vnd.imgtec.clients+XML");
	ck_assert(n.fmt == API_FMT_XML && n.suffixed);
	n = neg1("text/html, application/xml;q=0.9, application/json");
	ck_assert(n.fmt == API_FMT_XML);
	n = neg1("application/json, application/xml");
	ck_assert(n.fmt == API_FMT_JSON);
	n = neg1("text/html");
	ck_assert(n.fmt == API_FMT_JSON && !n.star);
	/* "*" "/" "*" in any value wins, even after an XML value. */
	api_negotiate(two, 2, &n);
	ck_assert(n.fmt == API_FMT_JSON && n.star);
	n = neg1("text/html,application/xhtml+xml,application/xml;q=0.9,"
	         "*/*;q=0.8");
	ck_assert(n.star);
}
END_TEST

START_TEST(test_api_media_type_suffix)
{
	char buf[128];
	struct api_neg n = neg1("application/xml");

	ck_assert_str_eq(api_media_type(&n, API_MT_CLIENTS, buf, sizeof buf),
	                 "application/vnd.imgtec.clients+xml");
	n = neg1("application/json");
	ck_assert_str_eq(api_media_type(&n, API_MT_CLIENTS, buf, sizeof buf),
	                 "application/vnd.imgtec.clients+json");
	n = neg1("*/*");
	ck_assert_str_eq(api_media_type(&n, API_MT_CLIENTS, buf, sizeof buf),
	                 "application/json");
	ck_assert_ptr_null(api_media_type(&n, NULL, buf, sizeof buf));
}
END_TEST

static char *
render(const char *accept, bool with_items)
{
	struct api_neg n = neg1(accept);
	struct api_doc *doc;
	const char *buf;
	size_t len;
	char *out;

	ck_assert_int_eq(api_doc_new(&n, "https://ds.example.com", "Clients",
	                             &doc),
	                 LWM2M_OK);
	api_doc_object_begin(doc, "PageInfo");
	api_doc_int(doc, "TotalCount", 1);
	api_doc_end(doc);
	if (with_items) {
		api_doc_array_begin(doc, "Items", "Client");
		api_doc_object_begin(doc, NULL);
		api_doc_string(doc, "Name", "a<b>&\"c\"");
		api_doc_string(doc, "Absent", NULL);
		api_doc_bool(doc, "On", true);
		api_doc_links_begin(doc);
		api_doc_link(doc, "self", "/clients/x", NULL);
		api_doc_link(doc, "objecttypes", "/clients/x/objecttypes",
		             API_MT_OBJECTTYPES);
		api_doc_end(doc);
		api_doc_end(doc);
		api_doc_end(doc);
	}
	ck_assert_int_eq(api_doc_result(doc, &buf, &len), LWM2M_OK);
	out = strndup(buf, len);
	api_doc_free(doc);
	return out;
}

START_TEST(test_api_doc_json)
{
	char *out = render("application/json", true);

	ck_assert_str_eq(
		out,
		"{\"PageInfo\":{\"TotalCount\":1},\"Items\":[{\"Name\":"
		"\"a<b>&\\\"c\\\"\",\"On\":true,\"Links\":[{\"rel\":\"self\","
		"\"href\":\"https://ds.example.com/clients/x\"},{\"rel\":"
		"\"objecttypes\",\"href\":\"https://ds.example.com/clients/x/"
		"objecttypes\",\"type\":\"application/vnd.imgtec.objecttypes"
		"+json\"}]}]}");
	free(out);
	out = render("*/*", false);
	ck_assert_str_eq(out, "{\"PageInfo\":{\"TotalCount\":1}}");
	free(out);
}
END_TEST

START_TEST(test_api_doc_xml)
{
	char *out = render("application/xml", true);

	ck_assert_str_eq(
		out,
		"<Clients xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
		" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><PageInfo>"
		"<TotalCount>1</TotalCount></PageInfo><Items><Client><Name>"
		"a&lt;b&gt;&amp;&quot;c&quot;</Name><On>true</On><Links>"
		"<Link rel=\"self\" href=\"https://ds.example.com/clients/x\" />"
		"<Link rel=\"objecttypes\" href=\"https://ds.example.com/clients"
		"/x/objecttypes\" type=\"application/vnd.imgtec.objecttypes+xml"
		"\" /></Links></Client></Items></Clients>");
	free(out);
}
END_TEST

START_TEST(test_api_doc_unbalanced)
{
	struct api_neg n = neg1(NULL);
	struct api_doc *doc;
	const char *buf;
	size_t len;

	ck_assert_int_eq(api_doc_new(&n, "http://h", "X", &doc), LWM2M_OK);
	api_doc_object_begin(doc, "Open");
	ck_assert_int_eq(api_doc_result(doc, &buf, &len), LWM2M_EINVAL);
	api_doc_free(doc);
	ck_assert_int_eq(api_doc_new(&n, "http://h", "X", &doc), LWM2M_OK);
	api_doc_end(doc);
	ck_assert_int_eq(api_doc_result(doc, &buf, &len), LWM2M_EINVAL);
	api_doc_free(doc);
	api_doc_free(NULL);
}
END_TEST

START_TEST(test_api_page_parse_defaults)
{
	struct api_page p;

	api_page_parse(NULL, &p);
	ck_assert_int_eq(p.start, 0);
	ck_assert_int_eq(p.size, 20);
	api_page_parse("pageSize=abc&startIndex=x", &p);
	ck_assert_int_eq(p.start, 0);
	ck_assert_int_eq(p.size, 20);
	api_page_parse("a=1&startIndex=4&pageSize=2", &p);
	ck_assert_int_eq(p.start, 4);
	ck_assert_int_eq(p.size, 2);
	api_page_parse("pageSize=99999999&startIndex=-3", &p);
	ck_assert_int_eq(p.size, API_MAX_PAGE_SIZE);
	ck_assert_int_eq(p.start, 0);
}
END_TEST

START_TEST(test_api_page_count_formula)
{
	struct api_page p = {2, 2};

	ck_assert_int_eq(api_page_count(&p, 5), 2);
	p.start = 4;
	ck_assert_int_eq(api_page_count(&p, 5), 1);
	p.start = 9;
	ck_assert_int_eq(api_page_count(&p, 5), 0);
	p = (struct api_page){0, 0};
	ck_assert_int_eq(api_page_count(&p, 5), 0);
}
END_TEST

START_TEST(test_api_page_href_rules)
{
	struct api_page p;
	char buf[256];

	api_page_parse("pageSize=2&startIndex=2", &p);
	ck_assert_int_eq(api_page_href("https://ds.example.com", "/clients",
	                               "pageSize=2&startIndex=2", &p, 0, buf,
	                               sizeof buf),
	                 LWM2M_OK);
	ck_assert_str_eq(buf, "https://ds.example.com/clients?pageSize=2&"
	                      "startIndex=0");
	/* pageSize only appended when asked or not 20; startIndex always. */
	api_page_parse("x=1&session_token=s&referrerUrl=r", &p);
	ck_assert_int_eq(api_page_href("http://h", "/c",
	                               "x=1&session_token=s&referrerUrl=r", &p,
	                               20, buf, sizeof buf),
	                 LWM2M_OK);
	ck_assert_str_eq(buf, "http://h/c?x=1&startIndex=20");
	api_page_parse("startIndex=5&pageSize=3", &p);
	ck_assert_int_eq(api_page_href("http://h", "/c",
	                               "startIndex=5&pageSize=3", &p, 8, buf,
	                               sizeof buf),
	                 LWM2M_OK);
	ck_assert_str_eq(buf, "http://h/c?startIndex=8&pageSize=3");
	ck_assert_int_eq(api_page_href("http://h", "/c", NULL, &p, 8, buf, 10),
	                 LWM2M_ELIMIT);
}
END_TEST

/* The spec 1.7 example: 5 clients, pageSize=2&startIndex=2. */
START_TEST(test_api_doc_page_info_example)
{
	struct api_neg n = neg1("application/json");
	struct api_page p;
	struct api_doc *doc;
	const char *buf;
	size_t len;

	api_page_parse("pageSize=2&startIndex=2", &p);
	ck_assert_int_eq(api_doc_new(&n, "https://ds.example.com", "Clients",
	                             &doc),
	                 LWM2M_OK);
	api_doc_page_info(doc, "/clients", "pageSize=2&startIndex=2", &p, 5);
	ck_assert_int_eq(api_doc_result(doc, &buf, &len), LWM2M_OK);
	ck_assert_str_eq(
		buf,
		"{\"PageInfo\":{\"TotalCount\":5,\"ItemsCount\":2,\"StartIndex\""
		":2,\"Links\":[{\"rel\":\"first\",\"href\":\"https://ds.example."
		"com/clients?pageSize=2&startIndex=0\"},{\"rel\":\"prev\",\"href"
		"\":\"https://ds.example.com/clients?pageSize=2&startIndex=0\"},"
		"{\"rel\":\"next\",\"href\":\"https://ds.example.com/clients?"
		"pageSize=2&startIndex=4\"},{\"rel\":\"last\",\"href\":\"https://"
		"ds.example.com/clients?pageSize=2&startIndex=3\"}]}}");
	api_doc_free(doc);
	/* Empty collection: numbers only, no links. */
	api_page_parse(NULL, &p);
	ck_assert_int_eq(api_doc_new(&n, "http://h", "Clients", &doc),
	                 LWM2M_OK);
	api_doc_page_info(doc, "/clients", NULL, &p, 0);
	ck_assert_int_eq(api_doc_result(doc, &buf, &len), LWM2M_OK);
	ck_assert_str_eq(buf, "{\"PageInfo\":{\"TotalCount\":0,\"ItemsCount\""
	                      ":0,\"StartIndex\":0}}");
	api_doc_free(doc);
}
END_TEST

static Suite *
api_doc_suite(void)
{
	Suite *s = suite_create("api_doc");
	struct {
		const char *name;
		const TTest *test;
	} t[] = {
		{"api_negotiate", test_api_negotiate_rules},
		{"api_media_type", test_api_media_type_suffix},
		{"api_doc_result", test_api_doc_json},
		{"api_doc_result", test_api_doc_xml},
		{"api_doc_result", test_api_doc_unbalanced},
		{"api_page_parse", test_api_page_parse_defaults},
		{"api_page_count", test_api_page_count_formula},
		{"api_page_href", test_api_page_href_rules},
		{"api_doc_page_info", test_api_doc_page_info_example},
	};
	TCase *tc = NULL;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (i == 0 || strcmp(t[i].name, t[i - 1].name) != 0) {
			tc = tcase_create(t[i].name);
			suite_add_tcase(s, tc);
		}
		tcase_add_test(tc, t[i].test);
	}
	return s;
}

int
main(void)
{
	return check_run(api_doc_suite());
}
