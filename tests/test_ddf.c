/* Unit tests of the OMA DDF importer (lwm2m_ddf.c) on hand-written
 * documents and on every file of the OMA registry copy in LWDS_DDF_DIR
 * (tests/meson.build sets it to shared/ddf beside the checkout). */
#include <check.h>

#include "check_util.h"
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_objdef.h"

static const char *
ddf_dir(void)
{
	const char *v = getenv("LWDS_DDF_DIR");

	return v != NULL && v[0] != '\0' ? v : "../shared/ddf";
}

static const char head[] = "<?xml version=\"1.0\"?>\n<LWM2M><Object "
                           "ObjectType=\"MODefinition\">";

/* ddf wraps items (one resource each) into a DDF of object 20001. */
static lwm2m_err
ddf(const char *items, struct lwm2m_objdef_list *l, struct lwm2m_diag *diag)
{
	char buf[4096];
	int n;

	n = snprintf(buf, sizeof(buf),
	             "%s<Name>Test Thing</Name><Description1>d</Description1>"
	             "<ObjectID>20001</ObjectID><MultipleInstances>Multiple"
	             "</MultipleInstances><Resources>%s</Resources></Object>"
	             "</LWM2M>",
	             head, items);
	ck_assert_int_lt(n, (int)sizeof(buf));
	return lwm2m_ddf_parse(buf, (size_t)n, l, diag);
}

static const char item_fmt[] =
	"<Item ID=\"%s\"><Name>%s</Name><Operations>%s</Operations>"
	"<MultipleInstances>%s</MultipleInstances><Mandatory>%s</Mandatory>"
	"<Type>%s</Type><RangeEnumeration>%s</RangeEnumeration><Units>%s"
	"</Units><Description>desc</Description></Item>";

static const struct lwm2m_propdef *
one_item(struct lwm2m_objdef_list *l, const char *ops, const char *type,
         const char *range, bool multi)
{
	char item[1024];
	struct lwm2m_diag diag = {0};

	snprintf(item, sizeof(item), item_fmt, "7", "Some Values", ops,
	         multi ? "Multiple" : "Single", "Mandatory", type, range, "mV");
	lwm2m_objdef_list_init(l);
	ck_assert_msg(ddf(item, l, &diag) == LWM2M_OK, "%s", diag.msg);
	ck_assert_uint_eq(l->n, 1);
	return &l->defs[0]->props[0];
}

START_TEST(test_lwm2m_ddf_parse_mapping)
{
	struct lwm2m_objdef_list l;
	const struct lwm2m_propdef *p;

	p = one_item(&l, "RW", "Unsigned Integer", "0..100", true);
	ck_assert_int_eq(p->type, LWM2M_OBJDEF_INTEGER);
	ck_assert_int_eq(p->access, LWM2M_OBJDEF_READWRITE);
	ck_assert(p->is_collection && p->is_mandatory);
	ck_assert_str_eq(p->min_value, "0");
	ck_assert_str_eq(p->max_value, "100");
	ck_assert_str_eq(p->units, "mV");
	ck_assert_str_eq(p->serialisation_name, "SomeValues");
	ck_assert_str_eq(p->item_name, "SomeValue");
	ck_assert_str_eq(l.defs[0]->serialisation_name, "TestThing");
	ck_assert_str_eq(l.defs[0]->mime_type,
	                 "application/vnd.oma.lwm2m.ext:20001");
	ck_assert(!l.defs[0]->singleton);
	lwm2m_objdef_list_fini(&l);

	p = one_item(&l, "E", "", "", false);
	ck_assert_int_eq(p->type, LWM2M_OBJDEF_NOTSET);
	ck_assert_int_eq(p->access, LWM2M_OBJDEF_EXECUTE);
	ck_assert_ptr_null(p->min_value);
	lwm2m_objdef_list_fini(&l);

	p = one_item(&l, "R", "Objlnk", "-128..127", false);
	ck_assert_int_eq(p->type, LWM2M_OBJDEF_OBJLNK);
	ck_assert_str_eq(p->min_value, "-128");
	ck_assert_str_eq(p->max_value, "127");
	lwm2m_objdef_list_fini(&l);

	p = one_item(&l, "W", "Time", "0-255 bytes", false);
	ck_assert_int_eq(p->type, LWM2M_OBJDEF_DATETIME);
	ck_assert_int_eq(p->access, LWM2M_OBJDEF_WRITE);
	ck_assert_str_eq(p->max_value, "255");
	lwm2m_objdef_list_fini(&l);

	p = one_item(&l, "", "Corelnk", "1, 2, 3", false);
	ck_assert_int_eq(p->type, LWM2M_OBJDEF_STRING);
	ck_assert_int_eq(p->access, LWM2M_OBJDEF_NOACCESS);
	ck_assert_ptr_null(p->min_value);
	lwm2m_objdef_list_fini(&l);
}
END_TEST

static void
expect_error(const char *doc, const char *msg)
{
	struct lwm2m_objdef_list l;
	struct lwm2m_diag diag = {0};

	lwm2m_objdef_list_init(&l);
	ck_assert_int_eq(lwm2m_ddf_parse(doc, strlen(doc), &l, &diag),
	                 LWM2M_EPROTO);
	ck_assert_msg(strstr(diag.msg, msg) != NULL, "\"%s\" lacks \"%s\"",
	              diag.msg, msg);
	ck_assert_uint_eq(l.n, 0);
	lwm2m_objdef_list_fini(&l);
}

START_TEST(test_lwm2m_ddf_parse_errors)
{
	struct lwm2m_objdef_list l;
	struct lwm2m_diag diag = {0};
	char item[1024];

	expect_error("", "malformed XML");
	expect_error("<Object/>", "root element is not <LWM2M>");
	expect_error("<LWM2M></LWM2M>", "without <Object>");
	expect_error(
	    "<!DOCTYPE LWM2M [<!ENTITY x SYSTEM \"file:///etc/passwd\">"
	    "]><LWM2M>&x;</LWM2M>",
	    "DTD");
	expect_error("<LWM2M><Object><ObjectID>x</ObjectID></Object></LWM2M>",
	             "valid ObjectID");
	expect_error("<LWM2M><Object><ObjectID>65535</ObjectID></Object>"
	             "</LWM2M>",
	             "valid ObjectID");
	lwm2m_objdef_list_init(&l);
	snprintf(item, sizeof(item), item_fmt, "x", "A", "R", "Single",
	         "Optional", "String", "", "");
	ck_assert_int_eq(ddf(item, &l, &diag), LWM2M_EPROTO);
	ck_assert_ptr_nonnull(strstr(diag.msg, "object 20001: Item without"));
	snprintf(item, sizeof(item), item_fmt, "1", "A", "R", "Single",
	         "Optional", "Text", "", "");
	ck_assert_int_eq(ddf(item, &l, &diag), LWM2M_EPROTO);
	ck_assert_ptr_nonnull(strstr(diag.msg, "unknown Type \"Text\""));
	snprintf(item, sizeof(item), item_fmt, "1", "A", "RX", "Single",
	         "Optional", "String", "", "");
	ck_assert_int_eq(ddf(item, &l, &diag), LWM2M_EPROTO);
	ck_assert_ptr_nonnull(strstr(diag.msg, "unknown Operations"));
	ck_assert_uint_eq(l.n, 0);
	lwm2m_objdef_list_fini(&l);
}
END_TEST

START_TEST(test_lwm2m_ddf_load_file_device)
{
	struct lwm2m_objdef_list l;
	struct lwm2m_diag diag = {0};
	char path[PATH_MAX];
	const struct lwm2m_objdef *d;

	snprintf(path, sizeof(path), "%s/3.xml", ddf_dir());
	lwm2m_objdef_list_init(&l);
	ck_assert_msg(lwm2m_ddf_load_file(path, &l, &diag) == LWM2M_OK, "%s",
	              diag.msg);
	d = l.defs[0];
	ck_assert_uint_eq(d->object_id, 3);
	ck_assert_str_eq(d->name, "Device");
	ck_assert_str_eq(d->serialisation_name, "Device");
	ck_assert_str_eq(d->mime_type, "application/vnd.oma.lwm2m.device");
	ck_assert(d->singleton);
	ck_assert_ptr_nonnull(d->description);
	ck_assert_int_eq(lwm2m_objdef_prop(d, 4)->access, LWM2M_OBJDEF_EXECUTE);
	ck_assert_int_eq(lwm2m_objdef_prop(d, 13)->type, LWM2M_OBJDEF_DATETIME);
	ck_assert_str_eq(lwm2m_objdef_prop(d, 7)->serialisation_name,
	                 "PowerSourceVoltages");
	ck_assert_str_eq(lwm2m_objdef_prop(d, 9)->max_value, "100");
	ck_assert_str_eq(lwm2m_objdef_prop(d, 9)->units, "/100");
	lwm2m_objdef_list_fini(&l);
	lwm2m_objdef_list_init(&l);
	ck_assert_int_eq(lwm2m_ddf_load_file("/nonexistent.xml", &l, &diag),
	                 LWM2M_EIO);
	lwm2m_objdef_list_fini(&l);
}
END_TEST

/* Every registry file imports: one completed definition each. */
START_TEST(test_lwm2m_ddf_load_file_registry)
{
	DIR *dir = opendir(ddf_dir());
	struct dirent *e;
	size_t files = 0;

	ck_assert_msg(dir != NULL, "cannot open %s", ddf_dir());
	while ((e = readdir(dir)) != NULL) {
		struct lwm2m_objdef_list l;
		struct lwm2m_diag diag = {0};
		char path[PATH_MAX];
		size_t len = strlen(e->d_name);

		if (len < 5 || strcmp(e->d_name + len - 4, ".xml") != 0 ||
		    e->d_name[0] < '0' || e->d_name[0] > '9') {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", ddf_dir(), e->d_name);
		lwm2m_objdef_list_init(&l);
		ck_assert_msg(lwm2m_ddf_load_file(path, &l, &diag) == LWM2M_OK,
		              "%s: %s", e->d_name, diag.msg);
		ck_assert_uint_eq(l.n, 1);
		ck_assert_uint_eq(l.defs[0]->object_id, atoi(e->d_name));
		ck_assert_ptr_nonnull(l.defs[0]->serialisation_name);
		ck_assert_ptr_nonnull(l.defs[0]->mime_type);
		lwm2m_objdef_list_fini(&l);
		files++;
	}
	closedir(dir);
	ck_assert_uint_ge(files, 300);
}
END_TEST

static Suite *
ddf_suite(void)
{
	const struct {
		const char *name;
		const TTest *fn;
	} cases[] = {
	    {"lwm2m_ddf_parse", test_lwm2m_ddf_parse_mapping},
	    {"lwm2m_ddf_parse", test_lwm2m_ddf_parse_errors},
	    {"lwm2m_ddf_load_file", test_lwm2m_ddf_load_file_device},
	    {"lwm2m_ddf_load_file", test_lwm2m_ddf_load_file_registry},
	};
	Suite *s = suite_create("ddf");
	TCase *tc = NULL;
	const char *prev = "";

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(prev, cases[i].name) != 0) {
			tc = tcase_create(cases[i].name);
			tcase_set_timeout(tc, 60);
			suite_add_tcase(s, tc);
			prev = cases[i].name;
		}
		tcase_add_test(tc, cases[i].fn);
	}
	return s;
}

int
main(void)
{
	return check_run(ddf_suite());
}
