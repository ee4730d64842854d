/* Unit tests of the object definition model and its JSON/XML forms
 * (lwm2m_objdef.c, lwm2m_objdef_json.c, lwm2m_objdef_xml.c), including the
 * shipped definitions against the original's data file. */
#include <check.h>

#include "check_util.h"
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_objdef.h"

/* The spec 5.4 example, plus a collection and optional fields. */
static const char demo_json[] =
	"{\"ObjectID\":\"20020\",\"Name\":\"DemoObject\","
	"\"MIMEType\":\"application/vnd.oma.lwm2m.ext.demoobject\","
	"\"SerialisationName\":\"DemoObject\",\"Description\":\"Two buttons "
	"and an LED\",\"Singleton\":true,\"Properties\":["
	"{\"PropertyID\":\"0\",\"Name\":\"Button1State\",\"DataType\":"
	"\"Integer\",\"IsCollection\":false,\"IsMandatory\":false,\"Access\":"
	"\"Read\",\"SerialisationName\":\"Button1State\"},"
	"{\"PropertyID\":\"1\",\"Name\":\"Led1\",\"DataType\":\"boolean\","
	"\"Access\":\"readwrite\",\"SerialisationName\":\"Led1\","
	"\"DataTypeLength\":1,\"MinValue\":0,\"MaxValue\":\"1\",\"Units\":\"-\","
	"\"SortOrder\":3},"
	"{\"PropertyID\":\"2\",\"Name\":\"Blink\",\"DataType\":\"NotSet\","
	"\"IsMandatory\":true,\"Access\":\"Execute\",\"SerialisationName\":"
	"\"Blink\"},"
	"{\"PropertyID\":\"3\",\"Name\":\"Error Code\",\"DataType\":"
	"\"Integer\",\"IsCollection\":true,\"Access\":\"Read\"}]}";

static const char *
source_dir(void)
{
	static char dir[PATH_MAX / 2];
	char file[PATH_MAX / 2];

	if (dir[0] == '\0') {
		snprintf(file, sizeof(file), "%s", __FILE__);
		snprintf(dir, sizeof(dir), "%s/..", dirname(file));
	}
	return dir;
}

static const char *
env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : dflt;
}

static struct lwm2m_objdef *
demo(void)
{
	struct lwm2m_objdef *def = NULL;
	struct lwm2m_diag diag = {0};

	ck_assert_int_eq(
	    lwm2m_objdef_json_parse(demo_json, strlen(demo_json), &def, &diag),
	    LWM2M_OK);
	ck_assert_int_eq(lwm2m_objdef_complete(def, &diag), LWM2M_OK);
	return def;
}

START_TEST(test_lwm2m_objdef_new_defaults)
{
	struct lwm2m_objdef *def;

	ck_assert_int_eq(lwm2m_objdef_new(&def), LWM2M_OK);
	ck_assert_int_eq(def->org, LWM2M_OBJDEF_GLOBAL);
	ck_assert_uint_eq(def->n_props, 0);
	ck_assert_str_eq(def->id, "");
	ck_assert_ptr_null(lwm2m_objdef_free(def));
	ck_assert_ptr_null(lwm2m_objdef_free(NULL));
}
END_TEST

START_TEST(test_lwm2m_objdef_dup_deep)
{
	struct lwm2m_objdef *a = demo(), *b;

	ck_assert_int_eq(lwm2m_objdef_dup(a, &b), LWM2M_OK);
	ck_assert_ptr_ne(a->name, b->name);
	ck_assert_str_eq(b->name, "DemoObject");
	ck_assert_uint_eq(b->n_props, 4);
	ck_assert_str_eq(b->props[1].units, "-");
	lwm2m_objdef_free(a);
	ck_assert_str_eq(b->props[2].serialisation_name, "Blink");
	lwm2m_objdef_free(b);
}
END_TEST

/* Each free drops one hold; the last one frees (ASan/valgrind: no leak,
 * no use after free). */
START_TEST(test_lwm2m_objdef_hold_outlives_owner)
{
	struct lwm2m_objdef *owner = demo(), *h1, *h2;

	h1 = lwm2m_objdef_hold(owner);
	h2 = lwm2m_objdef_hold(owner);
	ck_assert_ptr_eq(h1, owner);
	ck_assert_ptr_null(lwm2m_objdef_free(owner));
	ck_assert_str_eq(h1->name, "DemoObject");
	lwm2m_objdef_free(h1);
	ck_assert_uint_eq(h2->n_props, 4);
	ck_assert_str_eq(h2->props[2].serialisation_name, "Blink");
	lwm2m_objdef_free(h2);
}
END_TEST

START_TEST(test_lwm2m_objdef_add_prop_limit)
{
	struct lwm2m_objdef *def;
	struct lwm2m_propdef *p;

	ck_assert_int_eq(lwm2m_objdef_new(&def), LWM2M_OK);
	for (int i = 0; i < LWM2M_OBJDEF_MAX_PROPS; i++) {
		ck_assert_int_eq(lwm2m_objdef_add_prop(def, &p), LWM2M_OK);
		p->resource_id = (uint16_t)i;
	}
	ck_assert_int_eq(lwm2m_objdef_add_prop(def, &p), LWM2M_ELIMIT);
	ck_assert_uint_eq(def->props[77].resource_id, 77);
	lwm2m_objdef_free(def);
}
END_TEST

START_TEST(test_lwm2m_objdef_set_str_rules)
{
	char *s = NULL;

	ck_assert_int_eq(lwm2m_objdef_set_str(&s, "abc", 2, 10), LWM2M_OK);
	ck_assert_str_eq(s, "ab");
	ck_assert_int_eq(lwm2m_objdef_set_str(&s, "abcdef", 6, 5),
	                 LWM2M_ELIMIT);
	ck_assert_str_eq(s, "ab");
	ck_assert_int_eq(lwm2m_objdef_set_str(&s, "a\0b", 3, 5), LWM2M_EPROTO);
	ck_assert_int_eq(lwm2m_objdef_set_str(&s, NULL, 0, 5), LWM2M_OK);
	ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_lwm2m_objdef_prop_lookup)
{
	struct lwm2m_objdef *def = demo();

	ck_assert_str_eq(lwm2m_objdef_prop(def, 1)->name, "Led1");
	ck_assert_ptr_null(lwm2m_objdef_prop(def, 9));
	ck_assert_uint_eq(
	    lwm2m_objdef_prop_by_name(def, "led1", 4)->resource_id, 1);
	ck_assert_ptr_null(lwm2m_objdef_prop_by_name(def, "Led", 3));
	lwm2m_objdef_free(def);
}
END_TEST

START_TEST(test_lwm2m_objdef_complete_derives)
{
	struct lwm2m_objdef *def = demo();
	const struct lwm2m_propdef *p = lwm2m_objdef_prop(def, 3);

	ck_assert_str_eq(p->serialisation_name, "ErrorCodes");
	ck_assert_str_eq(p->item_name, "ErrorCode");
	ck_assert_str_eq(def->mime_type,
	                 "application/vnd.oma.lwm2m.ext.demoobject");
	free(def->mime_type);
	def->mime_type = NULL;
	ck_assert_int_eq(lwm2m_objdef_complete(def, NULL), LWM2M_OK);
	ck_assert_str_eq(def->mime_type, "application/vnd.oma.lwm2m.ext:20020");
	def->object_id = 3;
	free(def->mime_type);
	def->mime_type = NULL;
	ck_assert_int_eq(lwm2m_objdef_complete(def, NULL), LWM2M_OK);
	ck_assert_str_eq(def->mime_type,
	                 "application/vnd.oma.lwm2m.demoobject");
	lwm2m_objdef_free(def);
}
END_TEST

START_TEST(test_lwm2m_objdef_complete_errors)
{
	struct lwm2m_objdef *def = demo();
	struct lwm2m_diag diag = {0};

	def->props[3].resource_id = 1;
	ck_assert_int_eq(lwm2m_objdef_complete(def, &diag), LWM2M_EINVAL);
	ck_assert_str_eq(diag.msg, "Properties[3]: PropertyID 1 given twice");
	def->props[3].resource_id = 3;
	free(def->props[0].serialisation_name);
	def->props[0].serialisation_name = strdup("a b");
	ck_assert_int_eq(lwm2m_objdef_complete(def, &diag), LWM2M_EINVAL);
	ck_assert_ptr_nonnull(strstr(diag.msg, "Properties[0]"));
	lwm2m_objdef_free(def);
}
END_TEST

START_TEST(test_lwm2m_objdef_assign_ids_fills_missing)
{
	struct lwm2m_objdef *def = demo(), *old;

	strcpy(def->props[0].id, "pFRn92gTAIJLwFeC0-IsFA");
	ck_assert_int_eq(lwm2m_objdef_assign_ids(def), LWM2M_OK);
	ck_assert(lwm2m_id_valid(def->id, strlen(def->id)));
	ck_assert_str_eq(def->props[0].id, "pFRn92gTAIJLwFeC0-IsFA");
	ck_assert(lwm2m_id_valid(def->props[3].id, 22));
	ck_assert_str_ne(def->props[2].id, def->props[3].id);
	/* keep_prop_ids: a replacement keeps ids by PropertyID */
	ck_assert_int_eq(lwm2m_objdef_dup(def, &old), LWM2M_OK);
	for (size_t i = 0; i < def->n_props; i++) {
		def->props[i].id[0] = '\0';
	}
	def->props[2].resource_id = 99;
	lwm2m_objdef_keep_prop_ids(def, old);
	ck_assert_str_eq(def->props[1].id, old->props[1].id);
	ck_assert_str_eq(def->props[2].id, "");
	lwm2m_objdef_free(old);
	lwm2m_objdef_free(def);
}
END_TEST

START_TEST(test_lwm2m_objdef_type_names)
{
	enum lwm2m_objdef_type t;
	enum lwm2m_objdef_access a;

	ck_assert(lwm2m_objdef_type_parse("datetime", 8, &t));
	ck_assert_int_eq(t, LWM2M_OBJDEF_DATETIME);
	ck_assert_str_eq(lwm2m_objdef_type_name(t), "DateTime");
	ck_assert(lwm2m_objdef_type_parse("ObjLink", 7, &t));
	ck_assert_int_eq(lwm2m_objdef_value_type(t), LWM2M_TYPE_OBJLNK);
	ck_assert(!lwm2m_objdef_type_parse("Date", 4, &t));
	ck_assert(lwm2m_objdef_access_parse("EXECUTE", 7, &a));
	ck_assert_str_eq(lwm2m_objdef_access_name(a), "Execute");
	ck_assert(!lwm2m_objdef_access_parse("RW", 2, &a));
	ck_assert_int_eq(lwm2m_objdef_value_type(LWM2M_OBJDEF_NOTSET),
	                 LWM2M_TYPE_NONE);
}
END_TEST

START_TEST(test_lwm2m_objdef_make_name_rules)
{
	char buf[64];

	lwm2m_objdef_make_name("Supported Binding and Modes", false, false, buf,
	                       sizeof(buf));
	ck_assert_str_eq(buf, "SupportedBindingandModes");
	lwm2m_objdef_make_name("APN", true, false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "APNs");
	lwm2m_objdef_make_name("Power Source Voltage", true, false, buf,
	                       sizeof(buf));
	ck_assert_str_eq(buf, "PowerSourceVoltages");
	lwm2m_objdef_make_name("IP Addresses", false, true, buf, sizeof(buf));
	ck_assert_str_eq(buf, "IPAddress");
	lwm2m_objdef_make_name("AvailablePowerSources", false, true, buf,
	                       sizeof(buf));
	ck_assert_str_eq(buf, "AvailablePowerSource");
	lwm2m_objdef_make_name("On/Off switch", false, false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "OnOffswitch");
	lwm2m_objdef_make_name("3GPP PSM", false, false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "_3GPPPSM");
	ck_assert_int_eq(
	    lwm2m_objdef_make_name("Long name", false, false, buf, 4), -1);
}
END_TEST

START_TEST(test_lwm2m_objdef_mime_plural_rules)
{
	struct lwm2m_objdef d = {0};
	char buf[64];

	d.mime_type = "application/vnd.oma.lwm2m.device";
	lwm2m_objdef_mime_plural(&d, buf, sizeof(buf));
	ck_assert_str_eq(buf, "application/vnd.oma.lwm2m.devices");
	d.mime_type = "application/vnd.oma.lwm2m.ext:3303";
	lwm2m_objdef_mime_plural(&d, buf, sizeof(buf));
	ck_assert_str_eq(buf, "application/vnd.oma.lwm2m.ext:3303s");
	d.mime_type = "a.devicecapability";
	lwm2m_objdef_mime_plural(&d, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a.devicecapabilities");
	d.mime_type = "a.box";
	lwm2m_objdef_mime_plural(&d, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a.boxes");
	ck_assert_int_eq(lwm2m_objdef_mime_plural(&d, buf, 5), -1);
}
END_TEST

START_TEST(test_lwm2m_objdef_list_ops)
{
	struct lwm2m_objdef_list l;
	uint16_t ids[] = {3303, 3, 15, 3};

	lwm2m_objdef_list_init(&l);
	for (size_t i = 0; i < 4; i++) {
		struct lwm2m_objdef *d;

		ck_assert_int_eq(lwm2m_objdef_new(&d), LWM2M_OK);
		d->object_id = ids[i];
		d->org = (long long)i;
		ck_assert_int_eq(lwm2m_objdef_list_add(&l, d), LWM2M_OK);
	}
	lwm2m_objdef_list_sort(&l);
	ck_assert_uint_eq(l.defs[0]->object_id, 3);
	ck_assert_int_eq(l.defs[0]->org, 1); /* stable */
	ck_assert_int_eq(l.defs[1]->org, 3);
	ck_assert_uint_eq(l.defs[3]->object_id, 3303);
	ck_assert_int_eq(lwm2m_objdef_list_find(&l, 15)->org, 2);
	ck_assert_ptr_null(lwm2m_objdef_list_find(&l, 16));
	lwm2m_objdef_list_fini(&l);
	lwm2m_objdef_list_fini(NULL);
}
END_TEST

START_TEST(test_lwm2m_objdef_can_modify_rules)
{
	struct lwm2m_objdef d = {.org = 0};

	ck_assert(lwm2m_objdef_can_modify(&d, 0));
	ck_assert(!lwm2m_objdef_can_modify(&d, 7));
	d.org = 7;
	ck_assert(lwm2m_objdef_can_modify(&d, 7));
	ck_assert(lwm2m_objdef_can_modify(&d, 0));
	ck_assert(!lwm2m_objdef_can_modify(&d, 8));
}
END_TEST

START_TEST(test_lwm2m_objdef_json_parse_fields)
{
	struct lwm2m_objdef *def = demo();
	const struct lwm2m_propdef *led = &def->props[1];

	ck_assert_uint_eq(def->object_id, 20020);
	ck_assert(def->singleton);
	ck_assert_str_eq(def->description, "Two buttons and an LED");
	ck_assert_int_eq(led->type, LWM2M_OBJDEF_BOOLEAN);
	ck_assert_int_eq(led->access, LWM2M_OBJDEF_READWRITE);
	ck_assert(led->has_length && led->data_type_length == 1);
	ck_assert_str_eq(led->min_value, "0");
	ck_assert_str_eq(led->max_value, "1");
	ck_assert(led->has_sort_order && led->sort_order == 3);
	ck_assert(!def->props[0].has_length);
	ck_assert(def->props[2].is_mandatory);
	ck_assert_int_eq(def->props[2].access, LWM2M_OBJDEF_EXECUTE);
	lwm2m_objdef_free(def);
}
END_TEST

static void
expect_json_error(const char *json, lwm2m_err want, const char *msg)
{
	struct lwm2m_objdef *def = NULL;
	struct lwm2m_diag diag = {0};

	ck_assert_int_eq(
	    lwm2m_objdef_json_parse(json, strlen(json), &def, &diag), want);
	ck_assert_ptr_null(def);
	ck_assert_msg(strstr(diag.msg, msg) != NULL, "diag \"%s\" lacks \"%s\"",
	              diag.msg, msg);
}

START_TEST(test_lwm2m_objdef_json_parse_errors)
{
	char deep[200];

	expect_json_error("", LWM2M_EPROTO, "malformed JSON");
	expect_json_error("{\"ObjectID\":", LWM2M_EPROTO, "malformed JSON");
	expect_json_error("[]", LWM2M_EPROTO, "expected an object");
	expect_json_error("{\"Name\":\"x\"}", LWM2M_EPROTO,
	                  "ObjectID: missing");
	expect_json_error("{\"ObjectID\":\"70000\"}", LWM2M_EPROTO,
	                  "ObjectID: expected a decimal id");
	expect_json_error("{\"ObjectID\":\"1\",\"Singleton\":\"yes\"}",
	                  LWM2M_EPROTO, "Singleton: expected true or false");
	expect_json_error("{\"ObjectID\":\"1\",\"ObjectDefinitionID\":\"abc\"}",
	                  LWM2M_EPROTO, "ObjectDefinitionID");
	expect_json_error("{\"ObjectID\":\"1\",\"Properties\":{}}",
	                  LWM2M_EPROTO, "Properties: expected an array");
	expect_json_error("{\"ObjectID\":\"1\",\"Properties\":[{\"Name\":1}]}",
	                  LWM2M_EPROTO, "Properties[0].PropertyID: missing");
	expect_json_error("{\"ObjectID\":\"1\",\"Properties\":[{\"PropertyID\":"
	                  "\"1\",\"DataType\":\"Text\"}]}",
	                  LWM2M_EPROTO,
	                  "Properties[0].DataType: expected one of");
	expect_json_error("{\"ObjectID\":\"1\",\"Properties\":[{\"PropertyID\":"
	                  "\"1\",\"Access\":\"RW\"}]}",
	                  LWM2M_EPROTO, "Properties[0].Access");
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	expect_json_error(deep, LWM2M_ELIMIT, "nested deeper");
}
END_TEST

START_TEST(test_lwm2m_objdef_json_parse_list_forms)
{
	struct lwm2m_objdef_list l;
	struct lwm2m_diag diag = {0};
	const char *bad = "{\"Items\":[{\"ObjectID\":\"1\"},{\"Name\":\"x\"}]}";

	lwm2m_objdef_list_init(&l);
	ck_assert_int_eq(
	    lwm2m_objdef_json_parse_list("{\"items\":[{\"ObjectID\":\"3\"}]}",
	                                 29, &l, &diag),
	    LWM2M_OK);
	ck_assert_int_eq(
	    lwm2m_objdef_json_parse_list("[{\"ObjectID\":4}]", 16, &l, &diag),
	    LWM2M_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.defs[1]->object_id, 4);
	ck_assert_int_eq(
	    lwm2m_objdef_json_parse_list(bad, strlen(bad), &l, &diag),
	    LWM2M_EPROTO);
	ck_assert_str_eq(diag.msg, "Items[1].ObjectID: missing");
	ck_assert_int_eq(lwm2m_objdef_json_parse_list("{}", 2, &l, &diag),
	                 LWM2M_EPROTO);
	lwm2m_objdef_list_fini(&l);
}
END_TEST

START_TEST(test_lwm2m_objdef_json_render_roundtrip)
{
	struct lwm2m_objdef *def = demo(), *back;
	struct lwm2m_objdef_links links = {"https://h/objecttypes/definitions",
	                                   5};
	char *json, *json2;
	size_t len, len2;

	ck_assert_int_eq(lwm2m_objdef_assign_ids(def), LWM2M_OK);
	def->org = 0;
	ck_assert_int_eq(
	    lwm2m_objdef_json_render(def, &links, false, &json, &len),
	    LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(json, "\"rel\":\"self\""));
	ck_assert_ptr_null(strstr(json, "\"update\"")); /* global, org 5 */
	ck_assert_ptr_null(strstr(json, "\"SortOrder\":null"));
	ck_assert_ptr_nonnull(strstr(json, "\"ObjectID\":\"20020\""));
	ck_assert_int_eq(lwm2m_objdef_json_parse(json, len, &back, NULL),
	                 LWM2M_OK);
	links.base = NULL;
	ck_assert_int_eq(
	    lwm2m_objdef_json_render(back, &links, true, &json2, &len2),
	    LWM2M_OK);
	free(json);
	ck_assert_int_eq(lwm2m_objdef_json_render(def, NULL, true, &json, &len),
	                 LWM2M_OK);
	ck_assert_str_eq(json, json2);
	free(json);
	free(json2);
	lwm2m_objdef_free(back);
	lwm2m_objdef_free(def);
}
END_TEST

START_TEST(test_lwm2m_objdef_xml_roundtrip)
{
	struct lwm2m_objdef *def = demo(), *back;
	struct lwm2m_objdef_links links = {"https://h/objecttypes/definitions",
	                                   0};
	char *xml, *a, *b;
	size_t len, la, lb;

	ck_assert_int_eq(lwm2m_objdef_assign_ids(def), LWM2M_OK);
	ck_assert_int_eq(lwm2m_objdef_xml_render(def, &links, &xml, &len),
	                 LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(xml, "<ObjectDefinition xmlns:xsi"));
	ck_assert_ptr_nonnull(strstr(xml, "<Link rel=\"remove\""));
	ck_assert_ptr_nonnull(strstr(xml, "<IsCollection>true</IsCollection>"));
	ck_assert_int_eq(lwm2m_objdef_xml_parse(xml, len, &back, NULL),
	                 LWM2M_OK);
	ck_assert_int_eq(lwm2m_objdef_json_render(def, NULL, false, &a, &la),
	                 LWM2M_OK);
	ck_assert_int_eq(lwm2m_objdef_json_render(back, NULL, false, &b, &lb),
	                 LWM2M_OK);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	free(xml);
	lwm2m_objdef_free(back);
	lwm2m_objdef_free(def);
}
END_TEST

START_TEST(test_lwm2m_objdef_xml_parse_errors)
{
	struct lwm2m_objdef *def = NULL;
	struct lwm2m_diag diag = {0};
	const char *dtd =
	    "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><ObjectDefinition>"
	    "<ObjectID>1</ObjectID><Name>&a;</Name>"
	    "</ObjectDefinition>";
	const char *bad = "<ObjectDefinition><ObjectID>1</ObjectID><Singleton>"
	                  "maybe</Singleton></ObjectDefinition>";
	const char *prop =
	    "<ObjectDefinition><ObjectID>1</ObjectID><Properties>"
	    "<Foo/></Properties></ObjectDefinition>";

	ck_assert_int_eq(lwm2m_objdef_xml_parse(dtd, strlen(dtd), &def, &diag),
	                 LWM2M_EPROTO);
	ck_assert_str_eq(diag.msg, "XML with a DTD is not accepted");
	ck_assert_int_eq(lwm2m_objdef_xml_parse("<a>", 3, &def, &diag),
	                 LWM2M_EPROTO);
	ck_assert_ptr_nonnull(strstr(diag.msg, "malformed XML"));
	ck_assert_int_eq(lwm2m_objdef_xml_parse(bad, strlen(bad), &def, &diag),
	                 LWM2M_EPROTO);
	ck_assert_str_eq(diag.msg, "Singleton: expected true or false");
	ck_assert_int_eq(
	    lwm2m_objdef_xml_parse(prop, strlen(prop), &def, &diag),
	    LWM2M_EPROTO);
	ck_assert_ptr_nonnull(strstr(diag.msg, "<PropertyDefinition>"));
	ck_assert_ptr_null(def);
}
END_TEST

START_TEST(test_lwm2m_objdef_xml_list_roundtrip)
{
	struct lwm2m_objdef_list l, back;
	char *xml;
	size_t len;

	lwm2m_objdef_list_init(&l);
	lwm2m_objdef_list_init(&back);
	ck_assert_int_eq(lwm2m_objdef_list_add(&l, demo()), LWM2M_OK);
	ck_assert_int_eq(lwm2m_objdef_list_add(&l, demo()), LWM2M_OK);
	l.defs[1]->object_id = 7;
	ck_assert_int_eq(lwm2m_objdef_xml_render_list(&l, NULL, &xml, &len),
	                 LWM2M_OK);
	ck_assert_int_eq(lwm2m_objdef_xml_parse_list(xml, len, &back, NULL),
	                 LWM2M_OK);
	ck_assert_uint_eq(back.n, 2);
	ck_assert_uint_eq(back.defs[1]->object_id, 7);
	ck_assert_uint_eq(back.defs[1]->n_props, 4);
	free(xml);
	lwm2m_objdef_list_fini(&l);
	lwm2m_objdef_list_fini(&back);
}
END_TEST

/* ---- the shipped definitions -------------------------------------------- */

static void
load_shipped(struct lwm2m_objdef_list *l)
{
	char path[PATH_MAX];
	struct lwm2m_diag diag = {0};

	snprintf(path, sizeof(path), "%s/data/objects/lwds-objects.json",
	         source_dir());
	lwm2m_objdef_list_init(l);
	ck_assert_msg(lwm2m_objdef_load_file(path, l, &diag) == LWM2M_OK, "%s",
	              diag.msg);
}

static void
load_reference(struct lwm2m_objdef_list *l)
{
	char path[PATH_MAX];
	struct lwm2m_diag diag = {0};

	snprintf(path, sizeof(path), "%s/deviceserver-object-definitions.json",
	         env_or("LWDS_SPEC_DIR", "../shared/spec"));
	lwm2m_objdef_list_init(l);
	ck_assert_msg(lwm2m_objdef_load_file(path, l, &diag) == LWM2M_OK, "%s",
	              diag.msg);
}

START_TEST(test_lwm2m_objdef_load_file_shipped)
{
	struct lwm2m_objdef_list l;
	static const uint16_t core[] = {0, 1, 2, 3, 4, 5, 6, 7, 15};
	const struct lwm2m_objdef *dev;

	load_shipped(&l);
	for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++) {
		ck_assert_ptr_nonnull(lwm2m_objdef_list_find(&l, core[i]));
	}
	dev = lwm2m_objdef_list_find(&l, 3);
	ck_assert_str_eq(dev->serialisation_name, "Device");
	ck_assert_str_eq(dev->mime_type, "application/vnd.oma.lwm2m.device");
	ck_assert_int_eq(lwm2m_objdef_prop(dev, 13)->type,
	                 LWM2M_OBJDEF_DATETIME);
	ck_assert_int_eq(lwm2m_objdef_prop(dev, 4)->access,
	                 LWM2M_OBJDEF_EXECUTE);
	ck_assert_str_eq(lwm2m_objdef_prop(dev, 6)->item_name,
	                 "AvailablePowerSource");
	lwm2m_objdef_list_fini(&l);
}
END_TEST

/* Names are the REST contract: the shipped definitions must agree with the
 * original's on every object it defined and every resource both define. */
static void
compare_def(const struct lwm2m_objdef *ref, const struct lwm2m_objdef *ours)
{
	ck_assert_str_eq(ref->serialisation_name, ours->serialisation_name);
	ck_assert_str_eq(ref->mime_type, ours->mime_type);
	ck_assert_str_eq(ref->name, ours->name);
	ck_assert_int_eq(ref->singleton, ours->singleton);
	for (size_t i = 0; i < ref->n_props; i++) {
		const struct lwm2m_propdef *r = &ref->props[i];
		const struct lwm2m_propdef *o =
		    lwm2m_objdef_prop(ours, r->resource_id);

		if (o == NULL ||
		    ((ref->object_id == 3342 || ref->object_id == 3347) &&
		     r->resource_id == 5501)) {
			continue; /* removed from the registry, or a duplicate
			           */
		}
		ck_assert_msg(
		    strcmp(r->serialisation_name, o->serialisation_name) == 0,
		    "%u/%u: %s vs %s", ref->object_id, r->resource_id,
		    r->serialisation_name, o->serialisation_name);
		ck_assert_int_eq(r->is_collection, o->is_collection);
		ck_assert_int_eq(r->is_mandatory, o->is_mandatory);
		if (r->is_collection) {
			ck_assert_str_eq(r->item_name, o->item_name);
		}
	}
}

START_TEST(test_lwm2m_objdef_load_file_matches_original)
{
	struct lwm2m_objdef_list ours, ref;

	load_shipped(&ours);
	load_reference(&ref);
	ck_assert_uint_eq(ref.n, 57);
	for (size_t i = 0; i < ref.n; i++) {
		const struct lwm2m_objdef *o =
		    lwm2m_objdef_list_find(&ours, ref.defs[i]->object_id);

		ck_assert_msg(o != NULL, "object %u not shipped",
		              ref.defs[i]->object_id);
		compare_def(ref.defs[i], o);
	}
	lwm2m_objdef_list_fini(&ours);
	lwm2m_objdef_list_fini(&ref);
}
END_TEST

START_TEST(test_lwm2m_objdef_load_file_missing)
{
	struct lwm2m_objdef_list l;
	struct lwm2m_diag diag = {0};

	lwm2m_objdef_list_init(&l);
	ck_assert_int_eq(
	    lwm2m_objdef_load_file("/nonexistent/x.json", &l, &diag),
	    LWM2M_EIO);
	ck_assert_ptr_nonnull(strstr(diag.msg, "/nonexistent/x.json"));
	lwm2m_objdef_list_fini(&l);
}
END_TEST

struct test {
	const char *tcase;
	const TTest *fn;
};

static Suite *
objdef_suite(void)
{
	const struct test tests[] = {
	    {"lwm2m_objdef_new", test_lwm2m_objdef_new_defaults},
	    {"lwm2m_objdef_dup", test_lwm2m_objdef_dup_deep},
	    {"lwm2m_objdef_hold", test_lwm2m_objdef_hold_outlives_owner},
	    {"lwm2m_objdef_add_prop", test_lwm2m_objdef_add_prop_limit},
	    {"lwm2m_objdef_set_str", test_lwm2m_objdef_set_str_rules},
	    {"lwm2m_objdef_prop", test_lwm2m_objdef_prop_lookup},
	    {"lwm2m_objdef_complete", test_lwm2m_objdef_complete_derives},
	    {"lwm2m_objdef_complete", test_lwm2m_objdef_complete_errors},
	    {"lwm2m_objdef_assign_ids",
	     test_lwm2m_objdef_assign_ids_fills_missing},
	    {"lwm2m_objdef_type_name", test_lwm2m_objdef_type_names},
	    {"lwm2m_objdef_make_name", test_lwm2m_objdef_make_name_rules},
	    {"lwm2m_objdef_mime_plural", test_lwm2m_objdef_mime_plural_rules},
	    {"lwm2m_objdef_list", test_lwm2m_objdef_list_ops},
	    {"lwm2m_objdef_can_modify", test_lwm2m_objdef_can_modify_rules},
	    {"lwm2m_objdef_json_parse", test_lwm2m_objdef_json_parse_fields},
	    {"lwm2m_objdef_json_parse", test_lwm2m_objdef_json_parse_errors},
	    {"lwm2m_objdef_json_parse_list",
	     test_lwm2m_objdef_json_parse_list_forms},
	    {"lwm2m_objdef_json_render",
	     test_lwm2m_objdef_json_render_roundtrip},
	    {"lwm2m_objdef_xml_parse", test_lwm2m_objdef_xml_roundtrip},
	    {"lwm2m_objdef_xml_parse", test_lwm2m_objdef_xml_parse_errors},
	    {"lwm2m_objdef_xml_parse_list",
	     test_lwm2m_objdef_xml_list_roundtrip},
	    {"lwm2m_objdef_load_file", test_lwm2m_objdef_load_file_shipped},
	    {"lwm2m_objdef_load_file",
	     test_lwm2m_objdef_load_file_matches_original},
	    {"lwm2m_objdef_load_file", test_lwm2m_objdef_load_file_missing},
	};
	Suite *s = suite_create("objdef");
	TCase *tc = NULL;
	const char *cur = "";

	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (strcmp(cur, tests[i].tcase) != 0) {
			cur = tests[i].tcase;
			tc = tcase_create(cur);
			tcase_set_timeout(tc, 30);
			suite_add_tcase(s, tc);
		}
		tcase_add_test(tc, tests[i].fn);
	}
	return s;
}

int
main(void)
{
	return check_run(objdef_suite());
}
