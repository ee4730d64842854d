/* Unit tests of the object-instance representation (lwm2m_instance.c) with
 * the shipped definitions of objects 1, 3, 5 and 3303. */
#include <check.h>

#include "check_util.h"
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_instance.h"
#include "lwm2m_objdef.h"

static struct lwm2m_objdef_list shipped;

static void
setup(void)
{
	char file[PATH_MAX / 2], path[PATH_MAX];
	struct lwm2m_diag diag = {0};

	snprintf(file, sizeof(file), "%s", __FILE__);
	snprintf(path, sizeof(path), "%s/../data/objects/lwds-objects.json",
	         dirname(file));
	lwm2m_objdef_list_init(&shipped);
	ck_assert_msg(lwm2m_objdef_load_file(path, &shipped, &diag) == LWM2M_OK,
	              "%s", diag.msg);
}

static void
teardown(void)
{
	lwm2m_objdef_list_fini(&shipped);
}

static const struct lwm2m_objdef *
def_of(uint16_t oid)
{
	const struct lwm2m_objdef *d = lwm2m_objdef_list_find(&shipped, oid);

	ck_assert_ptr_nonnull(d);
	return d;
}

static void
set(struct lwm2m_tree *t, const char *path, struct lwm2m_value v)
{
	struct lwm2m_path p;

	ck_assert_int_eq(lwm2m_path_parse(path, strlen(path), &p), LWM2M_OK);
	ck_assert_int_eq(lwm2m_tree_set(t, &p, &v), LWM2M_OK);
}

static struct lwm2m_value
sv(const char *s)
{
	struct lwm2m_value v = {.type = LWM2M_TYPE_STRING};

	v.v.bytes.ptr = (const uint8_t *)s;
	v.v.bytes.len = strlen(s);
	return v;
}

static struct lwm2m_value
iv(int64_t i)
{
	struct lwm2m_value v = {.type = LWM2M_TYPE_INTEGER};

	v.v.i = i;
	return v;
}

static struct lwm2m_value
tv(int64_t secs)
{
	struct lwm2m_value v = {.type = LWM2M_TYPE_TIME};

	v.v.i = secs;
	return v;
}

static const struct lwm2m_node *
node_at(const struct lwm2m_tree *t, const char *path)
{
	struct lwm2m_path p;

	ck_assert_int_eq(lwm2m_path_parse(path, strlen(path), &p), LWM2M_OK);
	return lwm2m_tree_get(t, &p);
}

/* The spec 4.7 example device, with a RAW (TLV) battery level. */
static void
device_tree(struct lwm2m_tree *t)
{
	static const uint8_t battery[] = {100};
	struct lwm2m_value raw = {.type = LWM2M_TYPE_RAW};

	lwm2m_tree_init(t, NULL);
	set(t, "/3/0/0", sv("Acme"));
	set(t, "/3/0/1", sv("Thermo 1"));
	set(t, "/3/0/6/0", iv(1));
	set(t, "/3/0/6/1", iv(5));
	raw.v.bytes.ptr = battery;
	raw.v.bytes.len = 1;
	set(t, "/3/0/9", raw);
	set(t, "/3/0/11/0", iv(0));
	set(t, "/3/0/13", tv(1467863000));
	set(t, "/3/0/14", sv("+12:00"));
}

START_TEST(test_lwm2m_instance_to_json_device)
{
	struct lwm2m_tree t;
	struct lwm2m_instance_render r = {def_of(3),
	                                  &t,
	                                  false,
	                                  "https://h/clients/C/objecttypes/D/"
	                                  "instances/0",
	                                  "https://h/objecttypes/definitions/D",
	                                  false};
	char *out;
	size_t len;

	device_tree(&t);
	ck_assert_int_eq(
	    lwm2m_instance_to_json(&r, node_at(&t, "/3/0"), &out, &len),
	    LWM2M_OK);
	ck_assert_str_eq(
	    out,
	    "{\"Links\":[{\"rel\":\"self\",\"href\":\"https://h/clients/C/"
	    "objecttypes/D/instances/0\"},{\"rel\":\"update\",\"href\":"
	    "\"https://h/clients/C/objecttypes/D/instances/0\"},{\"rel\":"
	    "\"remove\",\"href\":\"https://h/clients/C/objecttypes/D/"
	    "instances/0\"},{\"rel\":\"subscriptions\",\"href\":\"https://h/"
	    "clients/C/objecttypes/D/instances/0/subscriptions\"},{\"rel\":"
	    "\"definition\",\"href\":\"https://h/objecttypes/definitions/"
	    "D\"}],\"InstanceID\":\"0\",\"Manufacturer\":\"Acme\","
	    "\"ModelNumber\":\"Thermo 1\",\"AvailablePowerSources\":[1,5],"
	    "\"BatteryLevel\":100,\"ErrorCodes\":[0],\"CurrentTime\":"
	    "\"2016-07-07T03:43:20Z\",\"UTCOffset\":\"+12:00\"}");
	free(out);
	ck_assert_int_eq(
	    lwm2m_instance_to_json(&r, node_at(&t, "/3"), &out, &len),
	    LWM2M_EINVAL);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_instance_to_json_types)
{
	struct lwm2m_tree t;
	struct lwm2m_instance_render r = {def_of(5), &t,   false,
	                                  NULL,      NULL, false};
	struct lwm2m_value pkg = {.type = LWM2M_TYPE_OPAQUE};
	struct lwm2m_value bad = {.type = LWM2M_TYPE_RAW};
	static const uint8_t bytes[] = {0xde, 0xad, 0xbe, 0xef, 0};
	char *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	pkg.v.bytes.ptr = bytes;
	pkg.v.bytes.len = sizeof(bytes);
	set(&t, "/5/0/0", pkg);
	set(&t, "/5/0/1", sv("coap://fw"));
	bad.v.bytes.ptr = bytes; /* 5 bytes: not a TLV integer */
	bad.v.bytes.len = 5;
	set(&t, "/5/0/3", bad);
	ck_assert_int_eq(
	    lwm2m_instance_to_json(&r, node_at(&t, "/5/0"), &out, &len),
	    LWM2M_OK);
	/* opaque: standard base64; the unconvertible State is left out */
	ck_assert_str_eq(out, "{\"InstanceID\":\"0\",\"Package\":\"3q2+7wA=\","
	                      "\"PackageURI\":\"coap://fw\"}");
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_instance_to_json_objlnk_float)
{
	struct lwm2m_tree t;
	struct lwm2m_instance_render r = {def_of(1), &t,   false,
	                                  NULL,      NULL, false};
	struct lwm2m_value l = {.type = LWM2M_TYPE_OBJLNK};
	struct lwm2m_value f = {.type = LWM2M_TYPE_FLOAT};
	char *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	l.v.lnk.obj = 11;
	l.v.lnk.inst = 2;
	set(&t, "/1/0/10", l);
	l.v.lnk.inst = 65535;
	set(&t, "/1/0/24/3", l);
	ck_assert_int_eq(
	    lwm2m_instance_to_json(&r, node_at(&t, "/1/0"), &out, &len),
	    LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(out, "\"APNLink\":\"11:2\""));
	ck_assert_ptr_nonnull(
	    strstr(out, "\"AlternateAPNLinks\":[\"11:65535\"]"));
	free(out);
	lwm2m_tree_fini(&t);

	r.def = def_of(3303);
	lwm2m_tree_init(&t, NULL);
	f.v.f = 0.1f; /* a 4-byte device float, widened */
	set(&t, "/3303/0/5700", f);
	ck_assert_int_eq(
	    lwm2m_instance_to_json(&r, node_at(&t, "/3303/0"), &out, &len),
	    LWM2M_OK);
	ck_assert_str_eq(out, "{\"InstanceID\":\"0\",\"SensorValue\":"
	                      "0.100000001490116}");
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

/* Hrefs and values that need escapes are escaped as yajl_gen escaped them. */
START_TEST(test_lwm2m_instance_to_json_escapes)
{
	struct lwm2m_tree t;
	struct lwm2m_instance_render r = {
	    def_of(3), &t, false, "https://h/\"q\\/0", "https://h/d\t", false};
	char *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	set(&t, "/3/0/0",
	    sv("A\"c\\m\x01"
	       "e/"));
	ck_assert_int_eq(
	    lwm2m_instance_to_json(&r, node_at(&t, "/3/0"), &out, &len),
	    LWM2M_OK);
	ck_assert_str_eq(
	    out,
	    "{\"Links\":[{\"rel\":\"self\",\"href\":\"https://h/\\\"q\\\\/0\"},"
	    "{\"rel\":\"update\",\"href\":\"https://h/\\\"q\\\\/0\"},"
	    "{\"rel\":\"remove\",\"href\":\"https://h/\\\"q\\\\/0\"},"
	    "{\"rel\":\"subscriptions\",\"href\":"
	    "\"https://h/\\\"q\\\\/0/subscriptions\"},"
	    "{\"rel\":\"definition\",\"href\":\"https://h/d\\t\"}],"
	    "\"InstanceID\":\"0\",\"Manufacturer\":\"A\\\"c\\\\m\\u0001e/\"}");
	ck_assert_uint_eq(len, strlen(out));
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

/* A string that is not UTF-8 fares the same whichever way it is not:
 * a byte that never occurs, an overlong form, an encoded surrogate. */
START_TEST(test_lwm2m_instance_to_json_not_utf8)
{
	static const char *bad[] = {"\xed\xa0\x80", "\xc0\xaf",
	                            "\xf4\x90\x80\x80"};
	struct lwm2m_instance_render r = {def_of(3),     NULL,          false,
	                                  "https://h/0", "https://h/d", false};
	struct lwm2m_tree t;
	char *first = NULL, *out = NULL;
	size_t len;
	lwm2m_err want, err;

	lwm2m_tree_init(&t, NULL);
	r.tree = &t;
	set(&t, "/3/0/0", sv("\xff"));
	want = lwm2m_instance_to_json(&r, node_at(&t, "/3/0"), &first, &len);
	lwm2m_tree_fini(&t);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		lwm2m_tree_init(&t, NULL);
		set(&t, "/3/0/0", sv(bad[i]));
		err =
		    lwm2m_instance_to_json(&r, node_at(&t, "/3/0"), &out, &len);
		ck_assert_int_eq(err, want);
		if (want == LWM2M_OK) {
			ck_assert_str_eq(out, first);
			free(out);
		}
		lwm2m_tree_fini(&t);
	}
	free(first);
}
END_TEST

START_TEST(test_lwm2m_instance_to_json_op_links)
{
	struct lwm2m_tree t;
	struct lwm2m_instance_render r = {def_of(3),       &t,   false,
	                                  "https://h/i/0", NULL, true};
	char *out;
	size_t len;

	device_tree(&t);
	ck_assert_int_eq(
	    lwm2m_instance_to_json(&r, node_at(&t, "/3/0"), &out, &len),
	    LWM2M_OK);
	ck_assert_ptr_nonnull(
	    strstr(out, "{\"rel\":\"subscriptions\",\"href\":\"https://h/i/"
	                "0/subscriptions\"},{\"rel\":\"discover\",\"href\":"
	                "\"https://h/i/0/discover\"},{\"rel\":\"attributes\","
	                "\"href\":\"https://h/i/0/attributes\"}]"));
	free(out);
	r.op_links = false;
	ck_assert_int_eq(
	    lwm2m_instance_to_xml(&r, node_at(&t, "/3/0"), &out, &len),
	    LWM2M_OK);
	ck_assert_ptr_null(strstr(out, "discover"));
	free(out);
	r.op_links = true;
	ck_assert_int_eq(
	    lwm2m_instance_to_xml(&r, node_at(&t, "/3/0"), &out, &len),
	    LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(out,
	                             "<Link rel=\"attributes\" "
	                             "href=\"https://h/i/0/attributes\"/>"));
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_instance_to_xml_device)
{
	struct lwm2m_tree t;
	struct lwm2m_instance_render r = {def_of(3),       &t,   false,
	                                  "https://h/i/0", NULL, false};
	char *out;
	size_t len;

	device_tree(&t);
	set(&t, "/3/0/2", sv(""));
	ck_assert_int_eq(
	    lwm2m_instance_to_xml(&r, node_at(&t, "/3/0"), &out, &len),
	    LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(out, "<Device xmlns:xsi="));
	ck_assert_ptr_nonnull(strstr(out,
	                             "<Link rel=\"subscriptions\" "
	                             "href=\"https://h/i/0/subscriptions\"/>"));
	ck_assert_ptr_nonnull(strstr(out, "<InstanceID>0</InstanceID>"));
	ck_assert_ptr_nonnull(
	    strstr(out, "<AvailablePowerSources><AvailablePowerSource>1"
	                "</AvailablePowerSource><AvailablePowerSource>5"
	                "</AvailablePowerSource></AvailablePowerSources>"));
	ck_assert_ptr_nonnull(strstr(out, "<CurrentTime>2016-07-07T03:43:20."
	                                  "0000000Z</CurrentTime>"));
	ck_assert_ptr_null(strstr(out, "SerialNumber")); /* empty: left out */
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

/* the property's node: the resource itself, or the only instance of a
 * single resource when it has the resource's own id */
START_TEST(test_lwm2m_instance_prop_node_single)
{
	const struct lwm2m_objdef *def = def_of(3);
	const struct lwm2m_node *inst;
	struct lwm2m_tree t;

	lwm2m_tree_init(&t, NULL);
	set(&t, "/3/0/9/9", iv(42));
	set(&t, "/3/0/0", sv("maker"));
	set(&t, "/3/0/2/0", sv("s0"));
	set(&t, "/3/0/6/6", iv(1)); /* a collection keeps its node */
	inst = node_at(&t, "/3/0");
	ck_assert_ptr_eq(
	    lwm2m_instance_prop_node(inst, lwm2m_objdef_prop(def, 9)),
	    node_at(&t, "/3/0/9/9"));
	ck_assert_ptr_eq(
	    lwm2m_instance_prop_node(inst, lwm2m_objdef_prop(def, 0)),
	    node_at(&t, "/3/0/0"));
	ck_assert_ptr_eq(
	    lwm2m_instance_prop_node(inst, lwm2m_objdef_prop(def, 2)),
	    node_at(&t, "/3/0/2"));
	ck_assert_ptr_eq(
	    lwm2m_instance_prop_node(inst, lwm2m_objdef_prop(def, 6)),
	    node_at(&t, "/3/0/6"));
	ck_assert_ptr_null(
	    lwm2m_instance_prop_node(inst, lwm2m_objdef_prop(def, 1)));
	lwm2m_tree_fini(&t);
}
END_TEST

/* Wakaama 1.0 names a single resource /o/i/r "bn":"/o/i/r/","n":"r" in
 * LwM2M JSON (an observation of /3/0/9): rendered as the resource's value;
 * other multiple values of a single resource stay an array. */
START_TEST(test_lwm2m_instance_to_json_wakaama_single)
{
	static const char wakaama[] = "{\"bn\":\"/3/0/9/\",\"e\":[{\"n\":\"9\","
	                              "\"v\":42}]}";
	struct lwm2m_tree t;
	struct lwm2m_instance_render r = {def_of(3), &t,   false,
	                                  NULL,      NULL, false};
	struct lwm2m_path base;
	char *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_path_parse("/3/0/9", 6, &base), LWM2M_OK);
	ck_assert_int_eq(lwm2m_decode(LWM2M_FMT_LWM2M_JSON,
	                              (const uint8_t *)wakaama, strlen(wakaama),
	                              &base, &t, NULL),
	                 LWM2M_OK);
	ck_assert_int_eq(
	    lwm2m_instance_to_json(&r, node_at(&t, "/3/0"), &out, &len),
	    LWM2M_OK);
	ck_assert_str_eq(out, "{\"InstanceID\":\"0\",\"BatteryLevel\":42}");
	free(out);
	ck_assert_int_eq(
	    lwm2m_instance_to_xml(&r, node_at(&t, "/3/0"), &out, &len),
	    LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(out, "<BatteryLevel>42</BatteryLevel>"));
	free(out);
	set(&t, "/3/0/2/0", sv("s0")); /* one instance, another id */
	set(&t, "/3/0/9/1", iv(43));   /* two instances */
	ck_assert_int_eq(
	    lwm2m_instance_to_json(&r, node_at(&t, "/3/0"), &out, &len),
	    LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(out, "\"SerialNumber\":[\"s0\"]"));
	ck_assert_ptr_nonnull(strstr(out, "\"BatteryLevel\":[4"));
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_instance_list_to_json_paging)
{
	struct lwm2m_tree t;
	struct lwm2m_instance_render r = {
	    def_of(3303), &t, false, "https://h/x/instances", NULL, false};
	struct lwm2m_value f = {.type = LWM2M_TYPE_FLOAT};
	char *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	f.v.f = 21.5;
	set(&t, "/3303/0/5700", f);
	f.v.f = 19.25;
	set(&t, "/3303/1/5700", f);
	set(&t, "/3303/1/5701", sv("Cel"));
	ck_assert_int_eq(lwm2m_instance_list_to_json(&r, node_at(&t, "/3303"),
	                                             1, 20, &out, &len),
	                 LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(out,
	                             "{\"Links\":[{\"rel\":\"add\",\"href\":"
	                             "\"https://h/x/instances\"}],"
	                             "\"PageInfo\":{\"TotalCount\":2,"
	                             "\"ItemsCount\":1,\"StartIndex\":1},"));
	ck_assert_ptr_nonnull(
	    strstr(out, "\"href\":\"https://h/x/instances/1\""));
	ck_assert_ptr_nonnull(strstr(out,
	                             "\"InstanceID\":\"1\",\"SensorValue\":"
	                             "19.25,\"SensorUnits\":\"Cel\""));
	ck_assert_ptr_null(strstr(out, "21.5"));
	free(out);
	ck_assert_int_eq(
	    lwm2m_instance_list_to_json(&r, NULL, 0, 20, &out, &len), LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(out, "\"Items\":[]"));
	free(out);
	ck_assert_int_eq(lwm2m_instance_list_to_xml(&r, node_at(&t, "/3303"), 0,
	                                            1, &out, &len),
	                 LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(out, "<Temperatures xmlns"));
	ck_assert_ptr_nonnull(strstr(out, "<ItemsCount>1</ItemsCount>"));
	ck_assert_ptr_nonnull(strstr(out, "<Items><Temperature>"));
	free(out);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_instance_from_json_device)
{
	const char body[] =
	    "{\"Links\":[{\"rel\":\"self\",\"href\":\"x\",\"type\":\"y\"}],"
	    "\"InstanceID\":\"0\",\"manufacturer\":\"Acme\","
	    "\"AvailablePowerSources\":[1,5],\"ErrorCodes\":{\"7\":3},"
	    "\"CurrentTime\":\"2016-07-07T03:43:20Z\",\"UTCOffset\":\"+12:00\","
	    "\"BatteryLevel\":\"100\",\"Reboot\":null,\"FactoryReset\":\"\"}";
	struct lwm2m_tree t, want;
	struct lwm2m_instance_body body_info;
	struct lwm2m_diag diag = {0};

	lwm2m_tree_init(&t, NULL);
	ck_assert_msg(lwm2m_instance_from_json(def_of(3), body, strlen(body), 9,
	                                       &t, &body_info,
	                                       &diag) == LWM2M_OK,
	              "%s", diag.msg);
	ck_assert(body_info.has_instance_id);
	ck_assert_uint_eq(body_info.instance_id, 0);
	ck_assert_uint_eq(body_info.n_exec, 2);
	ck_assert_uint_eq(body_info.exec[0], 4);
	ck_assert_uint_eq(body_info.exec[1], 5);
	lwm2m_tree_init(&want, NULL);
	set(&want, "/3/0/0", sv("Acme"));
	set(&want, "/3/0/6/0", iv(1)); /* multi-instance writes carry values */
	set(&want, "/3/0/6/1", iv(5));
	set(&want, "/3/0/9", iv(100));
	set(&want, "/3/0/11/7", iv(3));
	set(&want, "/3/0/13", tv(1467863000));
	set(&want, "/3/0/14", sv("+12:00"));
	ck_assert(lwm2m_tree_equal(&t, &want));
	lwm2m_tree_fini(&want);
	lwm2m_tree_fini(&t);
}
END_TEST

START_TEST(test_lwm2m_instance_from_json_wrapped_types)
{
	const char body[] =
	    "{\"Temperatures\":{\"Items\":{\"Temperature\":{\"SensorValue\":"
	    "\"21.5\",\"SensorUnits\":\"Cel\",\"ResetMinandMaxMeasuredValues\":"
	    "null}}}}";
	const char fw[] = "{\"Package\":\"3q2+7w==\",\"PackageURI\":\"u\"}";
	const char lnk[] = "{\"APNLink\":\"11:2\",\"AlternateAPNLinks\":"
	                   "[\"1:0\",\"2:1\"],\"Lifetime\":60}";
	struct lwm2m_tree t;
	struct lwm2m_instance_body b;
	const struct lwm2m_node *n;

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_instance_from_json(
	                     def_of(3303), body, strlen(body), 2, &t, &b, NULL),
	                 LWM2M_OK);
	ck_assert(!b.has_instance_id);
	n = node_at(&t, "/3303/2/5700");
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_FLOAT);
	ck_assert(n->value.v.f == 21.5);
	ck_assert_uint_eq(b.n_exec, 1);
	ck_assert_int_eq(lwm2m_instance_from_json(def_of(5), fw, strlen(fw), 0,
	                                          &t, &b, NULL),
	                 LWM2M_OK);
	n = node_at(&t, "/5/0/0");
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_OPAQUE);
	ck_assert_uint_eq(n->value.v.bytes.len, 4);
	ck_assert_uint_eq(n->value.v.bytes.ptr[0], 0xde);
	ck_assert_int_eq(lwm2m_instance_from_json(def_of(1), lnk, strlen(lnk),
	                                          0, &t, &b, NULL),
	                 LWM2M_OK);
	n = node_at(&t, "/1/0/24/1");
	ck_assert_int_eq(n->value.type, LWM2M_TYPE_OBJLNK);
	ck_assert_uint_eq(n->value.v.lnk.obj, 2);
	ck_assert_uint_eq(n->value.v.lnk.inst, 1);
	lwm2m_tree_fini(&t);
}
END_TEST

static void
expect_error(uint16_t oid, const char *body, lwm2m_err want, const char *msg)
{
	struct lwm2m_tree t;
	struct lwm2m_instance_body b;
	struct lwm2m_diag diag = {0};

	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(lwm2m_instance_from_json(
	                     def_of(oid), body, strlen(body), 0, &t, &b, &diag),
	                 want);
	ck_assert_msg(strstr(diag.msg, msg) != NULL, "\"%s\" lacks \"%s\"",
	              diag.msg, msg);
	lwm2m_tree_fini(&t);
}

START_TEST(test_lwm2m_instance_from_json_errors)
{
	expect_error(3, "{\"BatteryLevel\":\"full\"}", LWM2M_EPROTO,
	             "BatteryLevel: expected an integer");
	expect_error(3, "{\"BatteryLevel\":1.5}", LWM2M_EPROTO,
	             "BatteryLevel: expected an integer");
	expect_error(3, "{\"AvailablePowerSources\":5}", LWM2M_EPROTO,
	             "AvailablePowerSources: a multi-instance resource");
	expect_error(3, "{\"ErrorCodes\":{\"x\":1}}", LWM2M_EPROTO,
	             "\"x\" is not an instance id");
	expect_error(3, "{\"Manufacturer\":[\"a\"]}", LWM2M_EPROTO,
	             "Manufacturer: expected a string (a single value");
	expect_error(3, "{\"CurrentTime\":\"yesterday\"}", LWM2M_EPROTO,
	             "CurrentTime: expected an ISO 8601 time");
	expect_error(3, "{\"InstanceID\":\"70000\"}", LWM2M_EPROTO,
	             "InstanceID: expected 0..65534");
	expect_error(3,
	             "{\"a\":{\"Manufacturer\":\"x\"},\"Manufacturer\":\"y\"}",
	             LWM2M_EPROTO, "Manufacturer: given twice");
	expect_error(3, "[1]", LWM2M_EPROTO, "a JSON object");
	expect_error(3, "{\"x\":", LWM2M_EPROTO, "malformed JSON");
	expect_error(5, "{\"Package\":\"***\"}", LWM2M_EPROTO,
	             "Package: expected standard base64");
	expect_error(1, "{\"APNLink\":\"11\"}", LWM2M_EPROTO,
	             "APNLink: expected \"<objectID>:<instanceID>\"");
	expect_error(3303, "{\"SensorValue\":true}", LWM2M_EPROTO,
	             "SensorValue: expected a number");
}
END_TEST

START_TEST(test_lwm2m_instance_from_xml_device)
{
	const char body[] =
	    "<Device><Links><Link rel=\"self\" href=\"x\"/></Links>"
	    "<InstanceID>0</InstanceID><Manufacturer>Acme &amp; Co"
	    "</Manufacturer><AvailablePowerSources><AvailablePowerSource>1"
	    "</AvailablePowerSource><AvailablePowerSource>5"
	    "</AvailablePowerSource></AvailablePowerSources><CurrentTime>"
	    "2016-07-07T03:43:20.0000000Z</CurrentTime><Reboot/></Device>";
	struct lwm2m_tree t, want;
	struct lwm2m_instance_body b;
	struct lwm2m_diag diag = {0};

	lwm2m_tree_init(&t, NULL);
	ck_assert_msg(lwm2m_instance_from_xml(def_of(3), body, strlen(body), 3,
	                                      &t, &b, &diag) == LWM2M_OK,
	              "%s", diag.msg);
	ck_assert(b.has_instance_id && b.instance_id == 0);
	ck_assert_uint_eq(b.n_exec, 1);
	lwm2m_tree_init(&want, NULL);
	set(&want, "/3/0/0", sv("Acme & Co"));
	set(&want, "/3/0/6/0", iv(1));
	set(&want, "/3/0/6/1", iv(5));
	set(&want, "/3/0/13", tv(1467863000));
	ck_assert(lwm2m_tree_equal(&t, &want));
	lwm2m_tree_fini(&want);
	lwm2m_tree_fini(&t);
	lwm2m_tree_init(&t, NULL);
	ck_assert_int_eq(
	    lwm2m_instance_from_xml(def_of(3), "<Dev/>", 6, 0, &t, &b, &diag),
	    LWM2M_EPROTO);
	ck_assert_str_eq(diag.msg, "the root element must be <Device>");
	ck_assert_int_eq(lwm2m_instance_from_xml(
	                     def_of(3),
	                     "<Device><BatteryLevel>x</BatteryLevel></Device>",
	                     47, 0, &t, &b, &diag),
	                 LWM2M_EPROTO);
	ck_assert_str_eq(diag.msg, "BatteryLevel: expected an integer");
	lwm2m_tree_fini(&t);
}
END_TEST

/* What we render we read back to the same values. */
START_TEST(test_lwm2m_instance_from_json_roundtrip)
{
	struct lwm2m_tree t, back;
	struct lwm2m_instance_render r = {def_of(3),       &t,   false,
	                                  "https://h/i/0", NULL, false};
	struct lwm2m_instance_body b;
	char *out;
	size_t len;

	lwm2m_tree_init(&t, NULL);
	set(&t, "/3/0/0", sv("Acme \"quoted\" \xc3\xa9"));
	set(&t, "/3/0/7/0", iv(3800));
	set(&t, "/3/0/7/1", iv(-5000));
	set(&t, "/3/0/13", tv(0));
	ck_assert_int_eq(
	    lwm2m_instance_to_json(&r, node_at(&t, "/3/0"), &out, &len),
	    LWM2M_OK);
	lwm2m_tree_init(&back, NULL);
	ck_assert_int_eq(
	    lwm2m_instance_from_json(def_of(3), out, len, 0, &back, &b, NULL),
	    LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&t, &back));
	free(out);
	lwm2m_tree_fini(&back);
	ck_assert_int_eq(
	    lwm2m_instance_to_xml(&r, node_at(&t, "/3/0"), &out, &len),
	    LWM2M_OK);
	lwm2m_tree_init(&back, NULL);
	ck_assert_int_eq(
	    lwm2m_instance_from_xml(def_of(3), out, len, 0, &back, &b, NULL),
	    LWM2M_OK);
	ck_assert(lwm2m_tree_equal(&t, &back));
	free(out);
	lwm2m_tree_fini(&back);
	lwm2m_tree_fini(&t);
}
END_TEST

static Suite *
instance_suite(void)
{
	const struct {
		const char *name;
		const TTest *fn;
	} cases[] = {
	    {"lwm2m_instance_prop_node", test_lwm2m_instance_prop_node_single},
	    {"lwm2m_instance_to_json", test_lwm2m_instance_to_json_device},
	    {"lwm2m_instance_to_json", test_lwm2m_instance_to_json_types},
	    {"lwm2m_instance_to_json",
	     test_lwm2m_instance_to_json_objlnk_float},
	    {"lwm2m_instance_to_json", test_lwm2m_instance_to_json_op_links},
	    {"lwm2m_instance_to_json", test_lwm2m_instance_to_json_escapes},
	    {"lwm2m_instance_to_json", test_lwm2m_instance_to_json_not_utf8},
	    {"lwm2m_instance_to_json",
	     test_lwm2m_instance_to_json_wakaama_single},
	    {"lwm2m_instance_to_xml", test_lwm2m_instance_to_xml_device},
	    {"lwm2m_instance_list_to_json",
	     test_lwm2m_instance_list_to_json_paging},
	    {"lwm2m_instance_from_json", test_lwm2m_instance_from_json_device},
	    {"lwm2m_instance_from_json",
	     test_lwm2m_instance_from_json_wrapped_types},
	    {"lwm2m_instance_from_json", test_lwm2m_instance_from_json_errors},
	    {"lwm2m_instance_from_json",
	     test_lwm2m_instance_from_json_roundtrip},
	    {"lwm2m_instance_from_xml", test_lwm2m_instance_from_xml_device},
	};
	Suite *s = suite_create("instance");
	TCase *tc = NULL;
	const char *prev = "";

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(prev, cases[i].name) != 0) {
			tc = tcase_create(cases[i].name);
			tcase_add_checked_fixture(tc, setup, teardown);
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
	return check_run(instance_suite());
}
