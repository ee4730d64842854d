/* codec_fixtures.h - helpers shared by the codec unit tests (header-only,
 * included once per test binary): the Core TS Device object example as a
 * tree, malformed-input checks and the suite boilerplate. */
#ifndef CODEC_FIXTURES_H
#define CODEC_FIXTURES_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "lwm2m_value.h"

static struct lwm2m_path
P(const char *s) {
	struct lwm2m_path p;

	ck_assert_int_eq(lwm2m_path_parse(s, strlen(s), &p), LWM2M_OK);
	return p;
}

static void
set_str(struct lwm2m_tree *t, const char *path, const char *s)
{
	struct lwm2m_path p = P(path);
	struct lwm2m_value v = {.type = LWM2M_TYPE_STRING};

	v.v.bytes.ptr = (const uint8_t *)s;
	v.v.bytes.len = strlen(s);
	ck_assert_int_eq(lwm2m_tree_set(t, &p, &v), LWM2M_OK);
}

static void
set_int(struct lwm2m_tree *t, const char *path, int64_t i)
{
	struct lwm2m_path p = P(path);
	struct lwm2m_value v = {.type = LWM2M_TYPE_INTEGER, .v.i = i};

	ck_assert_int_eq(lwm2m_tree_set(t, &p, &v), LWM2M_OK);
}

__attribute__((unused)) static void
build_device(struct lwm2m_tree *t)
{
	set_str(t, "/3/0/0", "Open Mobile Alliance");
	set_str(t, "/3/0/1", "Lightweight M2M Client");
	set_str(t, "/3/0/2", "345000123");
	set_str(t, "/3/0/3", "1.0");
	set_int(t, "/3/0/6/0", 1);
	set_int(t, "/3/0/6/1", 5);
	set_int(t, "/3/0/7/0", 3800);
	set_int(t, "/3/0/7/1", 5000);
	set_int(t, "/3/0/8/0", 125);
	set_int(t, "/3/0/8/1", 900);
	set_int(t, "/3/0/9", 100);
	set_int(t, "/3/0/10", 15);
	set_int(t, "/3/0/11/0", 0);
	set_int(t, "/3/0/13", 0x5182428F);
	set_str(t, "/3/0/14", "+02:00");
	set_str(t, "/3/0/16", "U");
}

/* Decodes in (NUL-terminated) as fmt at path and expects err at offset. */
__attribute__((unused)) static void
expect_bad(enum lwm2m_format fmt, const char *path, const char *in,
           lwm2m_err want, size_t off)
{
	struct lwm2m_tree t;
	struct lwm2m_path base = P(path);
	struct lwm2m_diag d = {0};
	lwm2m_err err;

	lwm2m_tree_init(&t, NULL);
	err = lwm2m_decode(fmt, (const uint8_t *)in, strlen(in), &base, &t, &d);
	ck_assert_msg(err == want, "%s: got %d, want %d (%s)", in, err, want,
	              d.msg);
	ck_assert_msg(d.offset == off, "%s: offset %zu, want %zu (%s)", in,
	              d.offset, off, d.msg);
	ck_assert(d.msg[0] != '\0');
	lwm2m_tree_fini(&t);
}

__attribute__((unused)) static Suite *
make_suite(const char *name, const char *const *names, const TTest *const *fns,
           size_t n)
{
	Suite *s = suite_create(name);
	TCase *tc = NULL;
	const char *prev = "";

	for (size_t i = 0; i < n; i++) {
		if (strcmp(prev, names[i]) != 0) {
			tc = tcase_create(names[i]);
			/* the property tests take seconds under sanitizers */
			tcase_set_timeout(tc, 100);
			suite_add_tcase(s, tc);
			prev = names[i];
		}
		tcase_add_test(tc, fns[i]);
	}
	return s;
}

#endif
