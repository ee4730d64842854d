/* Unit tests of lwm2m_link: the CoRE link-format parser and writer. */
#include <check.h>

#include "check_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_link.h"

static struct lwm2m_link_list *
parse_ok(const char *text)
{
	struct lwm2m_link_list *l = NULL;
	char diag[128];

	ck_assert_int_eq(
	    lwm2m_link_parse(text, strlen(text), 100, &l, diag, sizeof diag),
	    LWM2M_OK);
	return l;
}

static lwm2m_err
parse_err(const char *text, size_t max, char *diag, size_t size)
{
	struct lwm2m_link_list *l = NULL;
	lwm2m_err err =
	    lwm2m_link_parse(text, strlen(text), max, &l, diag, size);

	ck_assert_ptr_null(l);
	return err;
}

START_TEST(test_lwm2m_link_parse_registration)
{
	struct lwm2m_link_list *l = parse_ok(
	    "</>;rt=\"oma.lwm2m\";ct=\"60 110 112\",</1/0>,</3/0>,</5>,"
	    "</3303/0>;ver=1.1,</3303/1>");

	ck_assert_uint_eq(l->n_links, 6);
	ck_assert_uint_eq(l->links[0].uri_len, 1);
	ck_assert_uint_eq(l->links[0].n_attrs, 2);
	ck_assert_uint_eq(l->links[4].uri_len, 7);
	ck_assert_int_eq(memcmp(l->links[4].uri, "/3303/0", 7), 0);
	ck_assert_uint_eq(l->links[4].n_attrs, 1);
	lwm2m_link_list_free(l);
}
END_TEST

START_TEST(test_lwm2m_link_parse_empty)
{
	struct lwm2m_link_list *l = parse_ok("");

	ck_assert_uint_eq(l->n_links, 0);
	lwm2m_link_list_free(l);
	l = parse_ok("  \r\n");
	ck_assert_uint_eq(l->n_links, 0);
	lwm2m_link_list_free(l);
}
END_TEST

START_TEST(test_lwm2m_link_parse_whitespace_and_flags)
{
	struct lwm2m_link_list *l =
	    parse_ok(" </a> ; obs ;title=\"x, y;z\" ,\n</b>");

	ck_assert_uint_eq(l->n_links, 2);
	ck_assert_uint_eq(l->links[0].n_attrs, 2);
	ck_assert_ptr_null(l->attrs[0].value);
	ck_assert_uint_eq(l->attrs[1].value_len, 6);
	ck_assert(l->attrs[1].quoted);
	lwm2m_link_list_free(l);
}
END_TEST

START_TEST(test_lwm2m_link_parse_escaped_quote)
{
	struct lwm2m_link_list *l = parse_ok("</a>;t=\"a\\\"b\"");

	ck_assert_uint_eq(l->attrs[0].value_len, 4);
	lwm2m_link_list_free(l);
}
END_TEST

START_TEST(test_lwm2m_link_parse_malformed)
{
	static const char *const bad[] = {
	    "</a",         "<a>,",  "</a>;",           "</a>;=1",    "</a>;x=",
	    "</a>;x=\"ab", "/a",    "</a></b>",        "</a>,,</b>", "</a b>",
	    "</a>;x=a\"b", "</a>x", "</a>;x=\"\x01\"",
	};
	char diag[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		diag[0] = '\0';
		ck_assert_msg(parse_err(bad[i], 100, diag, sizeof diag) ==
		                  LWM2M_EPROTO,
		              "accepted %s", bad[i]);
		ck_assert_msg(strstr(diag, "offset") != NULL, "no diag for %s",
		              bad[i]);
	}
}
END_TEST

START_TEST(test_lwm2m_link_parse_limits)
{
	char diag[128], buf[2048];
	size_t n = 0;

	ck_assert_int_eq(parse_err("</a>,</b>,</c>", 2, diag, sizeof diag),
	                 LWM2M_ELIMIT);
	n += (size_t)sprintf(buf, "</a>");
	for (int i = 0; i <= LWM2M_LINK_MAX_ATTRS; i++) {
		n += (size_t)sprintf(buf + n, ";a%d", i);
	}
	ck_assert_int_eq(parse_err(buf, 10, diag, sizeof diag), LWM2M_ELIMIT);
	ck_assert_int_eq(parse_err("</a", 10, NULL, 0), LWM2M_EPROTO);
}
END_TEST

/* the classes of RFC 6690 / RFC 5988 as the parser's table must give
 * them, written out the long way */
static bool
ref_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool
parses(const char *prefix, int b, const char *suffix)
{
	char text[32];
	size_t n = strlen(prefix);
	struct lwm2m_link_list *l = NULL;
	lwm2m_err err;

	memcpy(text, prefix, n);
	text[n++] = (char)b;
	strcpy(text + n, suffix);
	n += strlen(suffix);
	err = lwm2m_link_parse(text, n, 10, &l, NULL, 0);
	lwm2m_link_list_free(l);
	return err == LWM2M_OK;
}

START_TEST(test_lwm2m_link_parse_every_byte)
{
	for (int b = 0; b < 256; b++) {
		bool ws = b == ' ' || b == '\t' || b == '\r' || b == '\n';
		bool parmname =
		    ref_alnum(b) || (b != 0 && strchr("!#$&+-.^_`|~", b));
		bool ptoken =
		    ref_alnum(b) ||
		    (b != 0 && strchr("!#$%&'()*+-./:<=>?@[]^_`{|}~", b));
		bool uri = !(b <= 0x20 || b == 0x7f || b == '<' || b == '>');
		bool quoted = (b >= 0x20 || b == '\t') && b != '"' && b != '\\';

		ck_assert_msg(parses("</a>", b, "") == ws, "ws %d", b);
		ck_assert_msg(parses("</a>;", b, "") == parmname, "name %d", b);
		ck_assert_msg(parses("</a>;x=", b, "") == ptoken, "token %d",
		              b);
		ck_assert_msg(parses("<a", b, "b>") == uri, "uri %d", b);
		ck_assert_msg(parses("</a>;x=\"", b, "\"") == quoted,
		              "quoted %d", b);
	}
	/* an escaped quote or backslash stays in the value */
	ck_assert(parses("</a>;x=\"\\", '"', "\""));
	ck_assert(parses("</a>;x=\"\\", '\\', "\""));
	ck_assert(!parses("</a>;x=\"", '\\', ""));
}
END_TEST

START_TEST(test_lwm2m_link_attr_find_present_absent)
{
	struct lwm2m_link_list *l =
	    parse_ok("</>;rt=\"oma.lwm2m\";ct=110,</3>");
	const struct lwm2m_link_attr *a;

	a = lwm2m_link_attr_find(l, &l->links[0], "ct");
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->value_len, 3);
	ck_assert(!a->quoted);
	ck_assert_ptr_null(lwm2m_link_attr_find(l, &l->links[0], "ver"));
	ck_assert_ptr_null(lwm2m_link_attr_find(l, &l->links[1], "rt"));
	/* a name is all of it: no prefix either way */
	ck_assert_ptr_null(lwm2m_link_attr_find(l, &l->links[0], "r"));
	ck_assert_ptr_null(lwm2m_link_attr_find(l, &l->links[0], "rtt"));
	ck_assert_ptr_null(lwm2m_link_attr_find(l, &l->links[0], ""));
	a = lwm2m_link_attr_find(l, &l->links[0], "rt");
	ck_assert_ptr_eq(a, &l->attrs[0]);
	lwm2m_link_list_free(l);
	l = parse_ok("</3>"); /* no attribute at all */
	ck_assert_ptr_null(lwm2m_link_attr_find(l, &l->links[0], "rt"));
	lwm2m_link_list_free(l);
}
END_TEST

START_TEST(test_lwm2m_link_format_roundtrip)
{
	const char *text = "</>;rt=\"oma.lwm2m\";ct=\"60 110\",</3/0>;obs,"
	                   "</3303>;ver=1.1";
	struct lwm2m_link_list *l = parse_ok(text);
	char buf[128];
	size_t len;

	ck_assert_uint_eq(lwm2m_link_format_len(l), strlen(text));
	ck_assert_int_eq(lwm2m_link_format(l, buf, sizeof buf, &len), LWM2M_OK);
	ck_assert_str_eq(buf, text);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_int_eq(lwm2m_link_format(l, buf, strlen(text), &len),
	                 LWM2M_ELIMIT);
	lwm2m_link_list_free(l);
}
END_TEST

START_TEST(test_lwm2m_link_list_free_null)
{
	ck_assert_ptr_null(lwm2m_link_list_free(NULL));
}
END_TEST

/* the same links and attributes as lwm2m_link_parse's list */
static void
assert_same_list(const struct lwm2m_link_list *a,
                 const struct lwm2m_link_list *b)
{
	ck_assert_uint_eq(a->n_links, b->n_links);
	ck_assert_uint_eq(a->n_attrs, b->n_attrs);
	for (size_t i = 0; i < a->n_links; i++) {
		ck_assert_ptr_eq(a->links[i].uri, b->links[i].uri);
		ck_assert_uint_eq(a->links[i].uri_len, b->links[i].uri_len);
		ck_assert_uint_eq(a->links[i].first_attr,
		                  b->links[i].first_attr);
		ck_assert_uint_eq(a->links[i].n_attrs, b->links[i].n_attrs);
	}
	for (size_t i = 0; i < a->n_attrs; i++) {
		ck_assert_ptr_eq(a->attrs[i].name, b->attrs[i].name);
		ck_assert_uint_eq(a->attrs[i].name_len, b->attrs[i].name_len);
		ck_assert_ptr_eq(a->attrs[i].value, b->attrs[i].value);
		ck_assert_uint_eq(a->attrs[i].value_len, b->attrs[i].value_len);
		ck_assert_int_eq(a->attrs[i].quoted, b->attrs[i].quoted);
	}
}

/* parses text both ways, checks the lists are equal and whether the
 * space held the links and the attributes */
static void
check_parse_in(const char *text, bool links_in_space, bool attrs_in_space)
{
	struct lwm2m_link_space space;
	struct lwm2m_link_list list, *heap = parse_ok(text);

	ck_assert_int_eq(lwm2m_link_parse_in(text, strlen(text), 100, &space,
	                                     &list, NULL, 0),
	                 LWM2M_OK);
	assert_same_list(&list, heap);
	ck_assert_int_eq(list.links == space.links, links_in_space);
	ck_assert_int_eq(list.attrs == space.attrs, attrs_in_space);
	lwm2m_link_list_fini(&list, &space);
	ck_assert_ptr_null(list.links);
	lwm2m_link_list_free(heap);
}

START_TEST(test_lwm2m_link_parse_in_space)
{
	check_parse_in("</>;rt=\"oma.lwm2m\";ct=\"60 110 112 11542 11543\","
	               "</1/0>,</3/0>,</5/0>,</3303/0>,</3442/0>",
	               true, true);
	check_parse_in("", true, true);
}
END_TEST

START_TEST(test_lwm2m_link_parse_in_beyond_space)
{
	char buf[2048];
	size_t n = 0;

	/* one link past the space's links, then one attribute past its
	 * attributes: both arrays move to the heap mid-parse */
	for (int i = 0; i <= LWM2M_LINK_SPACE_LINKS; i++) {
		n += (size_t)sprintf(buf + n, "%s</%d/0>;a;b=\"x\"",
		                     i ? "," : "", i);
	}
	check_parse_in(buf, false, false);
	n = (size_t)sprintf(buf, "</a>");
	for (int i = 0; i < LWM2M_LINK_SPACE_ATTRS; i++) {
		n += (size_t)sprintf(buf + n, ";a%d", i);
	}
	sprintf(buf + n, ",</b>;c");
	check_parse_in(buf, true, false);
}
END_TEST

START_TEST(test_lwm2m_link_parse_in_errors)
{
	struct lwm2m_link_space space;
	struct lwm2m_link_list list = {.n_links = 7};
	char buf[2048], diag[128], diag_heap[128];
	size_t n = 0;

	/* the same errors and texts as lwm2m_link_parse, after the arrays
	 * moved to the heap (nothing leaks: valgrind) and before */
	for (int i = 0; i < 2 * LWM2M_LINK_SPACE_LINKS; i++) {
		n += (size_t)sprintf(buf + n, "</%d>;a;b,", i);
	}
	sprintf(buf + n, "</x");
	ck_assert_int_eq(lwm2m_link_parse_in(buf, strlen(buf), 100, &space,
	                                     &list, diag, sizeof diag),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(parse_err(buf, 100, diag_heap, sizeof diag_heap),
	                 LWM2M_EPROTO);
	ck_assert_str_eq(diag, diag_heap);
	ck_assert_int_eq(lwm2m_link_parse_in(buf, strlen(buf), 20, &space,
	                                     &list, diag, sizeof diag),
	                 LWM2M_ELIMIT);
	ck_assert_int_eq(lwm2m_link_parse_in("</a>,</b>,</c>", 14, 2, &space,
	                                     &list, NULL, 0),
	                 LWM2M_ELIMIT);
	ck_assert_uint_eq(list.n_links, 7); /* not written on failure */
}
END_TEST

START_TEST(test_lwm2m_link_list_fini_null)
{
	lwm2m_link_list_fini(NULL, NULL);
}
END_TEST

static Suite *
link_suite(void)
{
	Suite *s = suite_create("lwm2m_link");
	TCase *tc;

	tc = tcase_create("lwm2m_link_parse");
	tcase_add_test(tc, test_lwm2m_link_parse_registration);
	tcase_add_test(tc, test_lwm2m_link_parse_empty);
	tcase_add_test(tc, test_lwm2m_link_parse_whitespace_and_flags);
	tcase_add_test(tc, test_lwm2m_link_parse_escaped_quote);
	tcase_add_test(tc, test_lwm2m_link_parse_malformed);
	tcase_add_test(tc, test_lwm2m_link_parse_limits);
	tcase_add_test(tc, test_lwm2m_link_parse_every_byte);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_link_parse_in");
	tcase_add_test(tc, test_lwm2m_link_parse_in_space);
	tcase_add_test(tc, test_lwm2m_link_parse_in_beyond_space);
	tcase_add_test(tc, test_lwm2m_link_parse_in_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_link_attr_find");
	tcase_add_test(tc, test_lwm2m_link_attr_find_present_absent);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_link_format");
	tcase_add_test(tc, test_lwm2m_link_format_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_link_list_free");
	tcase_add_test(tc, test_lwm2m_link_list_free_null);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_link_list_fini");
	tcase_add_test(tc, test_lwm2m_link_list_fini_null);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(link_suite());
}
