/* sim_model.c - the object model of one simulated client.
 *
 * Definitions are static tables; each client owns its instances and values.
 * Values are struct lwm2m_value whose byte strings are malloc()ed here.
 */
#include "sim.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_id.h"

#define R SIM_OP_R
#define W SIM_OP_W
#define E SIM_OP_E
#define RW (SIM_OP_R | SIM_OP_W)

static const struct sim_res_def server_res[] = {
    {0, R, false, LWM2M_TYPE_INTEGER, "Short Server ID"},
    {1, RW, false, LWM2M_TYPE_INTEGER, "Lifetime"},
    {2, RW, false, LWM2M_TYPE_INTEGER, "Default Minimum Period"},
    {3, RW, false, LWM2M_TYPE_INTEGER, "Default Maximum Period"},
    {5, RW, false, LWM2M_TYPE_INTEGER, "Disable Timeout"},
    {6, RW, false, LWM2M_TYPE_BOOLEAN, "Notification Storing"},
    {7, RW, false, LWM2M_TYPE_STRING, "Binding"},
    {8, E, false, LWM2M_TYPE_NONE, "Registration Update Trigger"},
};

static const struct sim_res_def device_res[] = {
    {0, R, false, LWM2M_TYPE_STRING, "Manufacturer"},
    {1, R, false, LWM2M_TYPE_STRING, "Model Number"},
    {2, R, false, LWM2M_TYPE_STRING, "Serial Number"},
    {3, R, false, LWM2M_TYPE_STRING, "Firmware Version"},
    {4, E, false, LWM2M_TYPE_NONE, "Reboot"},
    {5, E, false, LWM2M_TYPE_NONE, "Factory Reset"},
    {6, R, true, LWM2M_TYPE_INTEGER, "Available Power Sources"},
    {7, R, true, LWM2M_TYPE_INTEGER, "Power Source Voltage"},
    {8, R, true, LWM2M_TYPE_INTEGER, "Power Source Current"},
    {9, R, false, LWM2M_TYPE_INTEGER, "Battery Level"},
    {10, R, false, LWM2M_TYPE_INTEGER, "Memory Free"},
    {11, R, true, LWM2M_TYPE_INTEGER, "Error Code"},
    {12, E, false, LWM2M_TYPE_NONE, "Reset Error Code"},
    {13, RW, false, LWM2M_TYPE_TIME, "Current Time"},
    {14, RW, false, LWM2M_TYPE_STRING, "UTC Offset"},
    {15, RW, false, LWM2M_TYPE_STRING, "Timezone"},
    {16, R, false, LWM2M_TYPE_STRING, "Supported Binding and Modes"},
    {17, R, false, LWM2M_TYPE_STRING, "Device Type"},
    {21, R, false, LWM2M_TYPE_INTEGER, "Memory Total"},
};

static const struct sim_res_def fw_res[] = {
    {0, W, false, LWM2M_TYPE_OPAQUE, "Package"},
    {1, RW, false, LWM2M_TYPE_STRING, "Package URI"},
    {2, E, false, LWM2M_TYPE_NONE, "Update"},
    {3, R, false, LWM2M_TYPE_INTEGER, "State"},
    {5, R, false, LWM2M_TYPE_INTEGER, "Update Result"},
    {6, R, false, LWM2M_TYPE_STRING, "PkgName"},
    {7, R, false, LWM2M_TYPE_STRING, "PkgVersion"},
    {8, R, true, LWM2M_TYPE_INTEGER, "Firmware Update Protocol Support"},
    {9, R, false, LWM2M_TYPE_INTEGER, "Firmware Update Delivery Method"},
};

static const struct sim_res_def temp_res[] = {
    {5601, R, false, LWM2M_TYPE_FLOAT, "Min Measured Value"},
    {5602, R, false, LWM2M_TYPE_FLOAT, "Max Measured Value"},
    {5603, R, false, LWM2M_TYPE_FLOAT, "Min Range Value"},
    {5604, R, false, LWM2M_TYPE_FLOAT, "Max Range Value"},
    {5605, E, false, LWM2M_TYPE_NONE, "Reset Min and Max Measured Values"},
    {5700, R, false, LWM2M_TYPE_FLOAT, "Sensor Value"},
    {5701, R, false, LWM2M_TYPE_STRING, "Sensor Units"},
    {5750, RW, false, LWM2M_TYPE_STRING, "Application Type"},
};

/* A test object with one writable resource of every type. */
static const struct sim_res_def test_res[] = {
    {110, RW, false, LWM2M_TYPE_STRING, "String"},
    {120, RW, false, LWM2M_TYPE_INTEGER, "Integer"},
    {125, RW, false, LWM2M_TYPE_UNSIGNED, "Unsigned"},
    {130, RW, false, LWM2M_TYPE_FLOAT, "Float"},
    {140, RW, false, LWM2M_TYPE_BOOLEAN, "Boolean"},
    {150, RW, false, LWM2M_TYPE_OPAQUE, "Opaque"},
    {160, RW, false, LWM2M_TYPE_TIME, "Time"},
    {170, RW, false, LWM2M_TYPE_OBJLNK, "Object Link"},
    {1110, RW, true, LWM2M_TYPE_STRING, "Multi String"},
    {1120, RW, true, LWM2M_TYPE_INTEGER, "Multi Integer"},
};

#define DEF(id, multi, ver, tbl)                                               \
	{                                                                      \
		id, multi, ver, tbl, sizeof tbl / sizeof tbl[0]                \
	}
static const struct sim_obj_def obj_defs[] = {
    DEF(1, true, NULL, server_res),  DEF(3, false, NULL, device_res),
    DEF(5, false, NULL, fw_res),     DEF(3303, true, "1.1", temp_res),
    DEF(3442, true, NULL, test_res),
};

struct sim_ri {
	uint16_t id;
	struct lwm2m_value val;
};

struct sim_res {
	struct lwm2m_value val; /* single resources */
	struct sim_ri *ri;      /* multi resources, sorted by id */
	uint16_t n_ri;
};

struct sim_inst {
	uint16_t id;
	struct sim_inst *next; /* sorted by id */
	struct sim_res res[];  /* parallel to def->res */
};

struct sim_obj {
	const struct sim_obj_def *def;
	struct sim_inst *insts;
};

struct sim_model {
	struct sim_obj objs[SIM_MAX_OBJECTS];
	size_t n_objs;
	int64_t time_offset; /* written Current Time minus the clock */
	char ep[SIM_EP_MAX];
};

/* Maximum instances of one multi-instance object and of one multi
 * resource: both are peer-controlled through Create and Write. */
#define SIM_MAX_INSTANCES 64
#define SIM_MAX_RES_INSTANCES 64

const struct sim_obj_def *
sim_obj_def_find(uint16_t id)
{
	for (size_t i = 0; i < sizeof obj_defs / sizeof obj_defs[0]; i++) {
		if (obj_defs[i].id == id) {
			return &obj_defs[i];
		}
	}
	return NULL;
}

static bool
type_has_bytes(enum lwm2m_type t)
{
	return t == LWM2M_TYPE_RAW || t == LWM2M_TYPE_STRING ||
	       t == LWM2M_TYPE_OPAQUE || t == LWM2M_TYPE_CORELNK;
}

static void
value_clear(struct lwm2m_value *v)
{
	if (type_has_bytes(v->type)) {
		free((void *)v->v.bytes.ptr);
	}
	memset(v, 0, sizeof *v);
}

/* value_copy deep-copies src into dst (dst is cleared first). */
static lwm2m_err
value_copy(struct lwm2m_value *dst, const struct lwm2m_value *src)
{
	struct lwm2m_value v = *src;

	if (type_has_bytes(src->type)) {
		uint8_t *p = malloc(src->v.bytes.len + 1);

		if (p == NULL) {
			return LWM2M_ENOMEM;
		}
		memcpy(p, src->v.bytes.ptr, src->v.bytes.len);
		v.v.bytes.ptr = p;
	}
	value_clear(dst);
	*dst = v;
	return LWM2M_OK;
}

static lwm2m_err
value_set_str(struct lwm2m_value *dst, enum lwm2m_type t, const char *s)
{
	struct lwm2m_value v = {.type = t};

	v.v.bytes.ptr = (const uint8_t *)s;
	v.v.bytes.len = strlen(s);
	return value_copy(dst, &v);
}

static const struct sim_res_def *
res_def(const struct sim_obj_def *d, uint16_t rid, size_t *ret_idx)
{
	for (size_t i = 0; i < d->n_res; i++) {
		if (d->res[i].id == rid) {
			*ret_idx = i;
			return &d->res[i];
		}
	}
	return NULL;
}

static struct sim_obj *
find_obj(struct sim_model *m, uint16_t oid)
{
	for (size_t i = 0; i < m->n_objs; i++) {
		if (m->objs[i].def->id == oid) {
			return &m->objs[i];
		}
	}
	return NULL;
}

static struct sim_inst *
find_inst(struct sim_obj *o, uint16_t iid)
{
	for (struct sim_inst *in = o->insts; in != NULL; in = in->next) {
		if (in->id == iid) {
			return in;
		}
	}
	return NULL;
}

static struct sim_ri *
find_ri(struct sim_res *r, uint16_t id)
{
	for (uint16_t i = 0; i < r->n_ri; i++) {
		if (r->ri[i].id == id) {
			return &r->ri[i];
		}
	}
	return NULL;
}

static void
res_clear(struct sim_res *r)
{
	value_clear(&r->val);
	for (uint16_t i = 0; i < r->n_ri; i++) {
		value_clear(&r->ri[i].val);
	}
	free(r->ri);
	r->ri = NULL;
	r->n_ri = 0;
}

/* ri_set sets resource instance id of r to v, inserting it sorted. */
static lwm2m_err
ri_set(struct sim_res *r, uint16_t id, const struct lwm2m_value *v)
{
	struct sim_ri *ri = find_ri(r, id), *grown;
	uint16_t pos = 0;

	if (ri != NULL) {
		return value_copy(&ri->val, v);
	}
	if (r->n_ri >= SIM_MAX_RES_INSTANCES) {
		return LWM2M_ELIMIT;
	}
	grown = realloc(r->ri, (r->n_ri + 1u) * sizeof *grown);
	if (grown == NULL) {
		return LWM2M_ENOMEM;
	}
	r->ri = grown;
	while (pos < r->n_ri && r->ri[pos].id < id) {
		pos++;
	}
	memmove(&r->ri[pos + 1], &r->ri[pos], (r->n_ri - pos) * sizeof *grown);
	memset(&r->ri[pos], 0, sizeof *grown);
	r->ri[pos].id = id;
	r->n_ri++;
	return value_copy(&r->ri[pos].val, v);
}

static void
inst_free(const struct sim_obj_def *d, struct sim_inst *in)
{
	if (in == NULL) {
		return;
	}
	for (size_t i = 0; i < d->n_res; i++) {
		res_clear(&in->res[i]);
	}
	free(in);
}

static struct sim_res *
inst_res(const struct sim_obj_def *d, struct sim_inst *in, uint16_t rid)
{
	size_t idx;

	return res_def(d, rid, &idx) != NULL ? &in->res[idx] : NULL;
}

static void
set_int(const struct sim_obj_def *d, struct sim_inst *in, uint16_t rid,
        int64_t v)
{
	struct sim_res *r = inst_res(d, in, rid);

	r->val.type = LWM2M_TYPE_INTEGER;
	r->val.v.i = v;
}

static void
set_float(const struct sim_obj_def *d, struct sim_inst *in, uint16_t rid,
          double v)
{
	struct sim_res *r = inst_res(d, in, rid);

	r->val.type = LWM2M_TYPE_FLOAT;
	r->val.v.f = v;
}

static lwm2m_err
set_str(const struct sim_obj_def *d, struct sim_inst *in, uint16_t rid,
        const char *s)
{
	return value_set_str(&inst_res(d, in, rid)->val, LWM2M_TYPE_STRING, s);
}

static lwm2m_err
set_multi_int(const struct sim_obj_def *d, struct sim_inst *in, uint16_t rid,
              const int64_t *v, size_t n)
{
	struct sim_res *r = inst_res(d, in, rid);

	for (size_t i = 0; i < n; i++) {
		struct lwm2m_value val = {.type = LWM2M_TYPE_INTEGER};
		lwm2m_err err;

		val.v.i = v[i];
		err = ri_set(r, (uint16_t)i, &val);
		if (err != LWM2M_OK) {
			return err;
		}
	}
	return LWM2M_OK;
}

static lwm2m_err
defaults_server(const struct sim_obj_def *d, struct sim_inst *in)
{
	struct lwm2m_value b = {.type = LWM2M_TYPE_BOOLEAN};

	set_int(d, in, 0, 101 + in->id);
	set_int(d, in, 1, 300);
	set_int(d, in, 2, 0);
	set_int(d, in, 3, 0);
	set_int(d, in, 5, 86400);
	b.v.b = true;
	value_copy(&inst_res(d, in, 6)->val, &b);
	return set_str(d, in, 7, "U");
}

static lwm2m_err
defaults_device(const struct sim_model *m, const struct sim_obj_def *d,
                struct sim_inst *in)
{
	static const int64_t sources[] = {1, 5}, volts[] = {3800, 5000},
	                     amps[] = {125, 900}, errs[] = {0};

	set_int(d, in, 9, 87);
	set_int(d, in, 10, 15);
	set_int(d, in, 21, 128);
	inst_res(d, in, 13)->val.type = LWM2M_TYPE_TIME;
	if (set_str(d, in, 0, "lwds") != LWM2M_OK ||
	    set_str(d, in, 1, "lwds-sim") != LWM2M_OK ||
	    set_str(d, in, 2, m->ep) != LWM2M_OK ||
	    set_str(d, in, 3, LWDS_VERSION) != LWM2M_OK ||
	    set_str(d, in, 14, "+00:00") != LWM2M_OK ||
	    set_str(d, in, 15, "Etc/UTC") != LWM2M_OK ||
	    set_str(d, in, 16, "UQ") != LWM2M_OK ||
	    set_str(d, in, 17, "simulator") != LWM2M_OK ||
	    set_multi_int(d, in, 6, sources, 2) != LWM2M_OK ||
	    set_multi_int(d, in, 7, volts, 2) != LWM2M_OK ||
	    set_multi_int(d, in, 8, amps, 2) != LWM2M_OK ||
	    set_multi_int(d, in, 11, errs, 1) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

static lwm2m_err
defaults_fw(const struct sim_obj_def *d, struct sim_inst *in)
{
	static const int64_t protocols[] = {0, 1};

	set_int(d, in, 3, 0);
	set_int(d, in, 5, 0);
	set_int(d, in, 9, 2);
	if (set_str(d, in, 1, "") != LWM2M_OK ||
	    set_str(d, in, 6, "") != LWM2M_OK ||
	    set_str(d, in, 7, "") != LWM2M_OK ||
	    set_multi_int(d, in, 8, protocols, 2) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

static lwm2m_err
defaults_temp(const struct sim_obj_def *d, struct sim_inst *in)
{
	double v = 20.0 + in->id;

	set_float(d, in, 5700, v);
	set_float(d, in, 5601, v);
	set_float(d, in, 5602, v);
	set_float(d, in, 5603, -40.0);
	set_float(d, in, 5604, 85.0);
	if (set_str(d, in, 5701, "Cel") != LWM2M_OK ||
	    set_str(d, in, 5750, "room") != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

static lwm2m_err
defaults_test(const struct sim_obj_def *d, struct sim_inst *in)
{
	struct sim_res *r;
	struct lwm2m_value v = {.type = LWM2M_TYPE_STRING};

	set_int(d, in, 120, -42);
	inst_res(d, in, 125)->val.type = LWM2M_TYPE_UNSIGNED;
	inst_res(d, in, 125)->val.v.u = 42;
	set_float(d, in, 130, 3.5);
	inst_res(d, in, 140)->val.type = LWM2M_TYPE_BOOLEAN;
	inst_res(d, in, 160)->val.type = LWM2M_TYPE_TIME;
	inst_res(d, in, 160)->val.v.i = 1700000000;
	r = inst_res(d, in, 170);
	r->val.type = LWM2M_TYPE_OBJLNK;
	r->val.v.lnk.obj = 3303;
	r->val.v.lnk.inst = 0;
	v.v.bytes.ptr = (const uint8_t *)"a";
	v.v.bytes.len = 1;
	if (set_str(d, in, 110, "hello") != LWM2M_OK ||
	    value_set_str(&inst_res(d, in, 150)->val, LWM2M_TYPE_OPAQUE,
	                  "\x01\x02\x03") != LWM2M_OK ||
	    ri_set(inst_res(d, in, 1110), 0, &v) != LWM2M_OK) {
		return LWM2M_ENOMEM;
	}
	return LWM2M_OK;
}

static lwm2m_err
inst_new(const struct sim_model *m, const struct sim_obj_def *d, uint16_t iid,
         struct sim_inst **ret)
{
	struct sim_inst *in =
	    calloc(1, sizeof *in + d->n_res * sizeof in->res[0]);
	lwm2m_err err = LWM2M_OK;

	if (in == NULL) {
		return LWM2M_ENOMEM;
	}
	in->id = iid;
	switch (d->id) {
	case 1:
		err = defaults_server(d, in);
		break;
	case 3:
		err = defaults_device(m, d, in);
		break;
	case 5:
		err = defaults_fw(d, in);
		break;
	case 3303:
		err = defaults_temp(d, in);
		break;
	default:
		err = defaults_test(d, in);
		break;
	}
	if (err != LWM2M_OK) {
		inst_free(d, in);
		return err;
	}
	*ret = in;
	return LWM2M_OK;
}

static void
inst_link(struct sim_obj *o, struct sim_inst *in)
{
	struct sim_inst **pp = &o->insts;

	while (*pp != NULL && (*pp)->id < in->id) {
		pp = &(*pp)->next;
	}
	in->next = *pp;
	*pp = in;
}

static size_t
inst_count(const struct sim_obj *o)
{
	size_t n = 0;

	for (const struct sim_inst *in = o->insts; in != NULL; in = in->next) {
		n++;
	}
	return n;
}

lwm2m_err
sim_model_new(const uint16_t *objects, size_t n_objects, const char *endpoint,
              struct sim_model **ret_model)
{
	struct sim_model *m;

	if (n_objects > SIM_MAX_OBJECTS) {
		return LWM2M_EINVAL;
	}
	m = calloc(1, sizeof *m);
	if (m == NULL) {
		return LWM2M_ENOMEM;
	}
	snprintf(m->ep, sizeof m->ep, "%s", endpoint);
	for (size_t i = 0; i < n_objects; i++) {
		const struct sim_obj_def *d = sim_obj_def_find(objects[i]);
		struct sim_inst *in;

		if (d == NULL || find_obj(m, objects[i]) != NULL) {
			sim_model_free(m);
			return LWM2M_EINVAL;
		}
		m->objs[m->n_objs].def = d;
		if (inst_new(m, d, 0, &in) != LWM2M_OK) {
			sim_model_free(m);
			return LWM2M_ENOMEM;
		}
		inst_link(&m->objs[m->n_objs++], in);
	}
	*ret_model = m;
	return LWM2M_OK;
}

void
sim_model_free(struct sim_model *m)
{
	if (m == NULL) {
		return;
	}
	for (size_t i = 0; i < m->n_objs; i++) {
		while (m->objs[i].insts != NULL) {
			struct sim_inst *in = m->objs[i].insts;

			m->objs[i].insts = in->next;
			inst_free(m->objs[i].def, in);
		}
	}
	free(m);
}

/* ---- read ---------------------------------------------------------------- */

static void
refresh_time(struct sim_model *m, uint16_t oid, struct sim_inst *in)
{
	if (oid == 3) {
		inst_res(sim_obj_def_find(3), in, 13)->val.v.i =
		    lwm2m_now_ms() / 1000 + m->time_offset;
	}
}

static lwm2m_err
read_res(struct lwm2m_tree *tree, struct lwm2m_path *p,
         const struct sim_res_def *rd, struct sim_res *r)
{
	struct lwm2m_node *node;
	lwm2m_err err;

	if (!rd->multi) {
		p->len = 3;
		return lwm2m_tree_set(tree, p, &r->val);
	}
	p->len = 3;
	err = lwm2m_tree_add_node(tree, p, true, &node);
	for (uint16_t i = 0; err == LWM2M_OK && i < r->n_ri; i++) {
		p->len = 4;
		p->ids[3] = r->ri[i].id;
		err = lwm2m_tree_set(tree, p, &r->ri[i].val);
	}
	return err;
}

static lwm2m_err
read_inst(struct sim_model *m, struct sim_obj *o, struct sim_inst *in,
          struct lwm2m_tree *tree)
{
	struct lwm2m_path p = {.len = 2, .ids = {o->def->id, in->id}};
	struct lwm2m_node *node;
	lwm2m_err err = lwm2m_tree_add_node(tree, &p, false, &node);

	refresh_time(m, o->def->id, in);
	for (size_t i = 0; err == LWM2M_OK && i < o->def->n_res; i++) {
		if ((o->def->res[i].ops & SIM_OP_R) == 0) {
			continue;
		}
		p.ids[2] = o->def->res[i].id;
		err = read_res(tree, &p, &o->def->res[i], &in->res[i]);
	}
	return err;
}

static lwm2m_err
read_obj(struct sim_model *m, struct sim_obj *o, struct lwm2m_tree *tree)
{
	struct lwm2m_path p = {.len = 1, .ids = {o->def->id}};
	struct lwm2m_node *node;
	lwm2m_err err = lwm2m_tree_add_node(tree, &p, false, &node);

	for (struct sim_inst *in = o->insts; err == LWM2M_OK && in != NULL;
	     in = in->next) {
		err = read_inst(m, o, in, tree);
	}
	return err;
}

/* locate resolves the first three levels of path; absent levels are left
 * NULL.  ENOTFOUND when a given level does not exist. */
static lwm2m_err
locate(struct sim_model *m, const struct lwm2m_path *path,
       struct sim_obj **ret_o, struct sim_inst **ret_in, size_t *ret_ridx)
{
	struct sim_obj *o;
	struct sim_inst *in = NULL;

	*ret_o = NULL;
	*ret_in = NULL;
	if (path->len == 0) {
		return LWM2M_OK;
	}
	o = find_obj(m, path->ids[0]);
	if (o == NULL) {
		return LWM2M_ENOTFOUND;
	}
	if (path->len >= 2 && (in = find_inst(o, path->ids[1])) == NULL) {
		return LWM2M_ENOTFOUND;
	}
	if (path->len >= 3 && res_def(o->def, path->ids[2], ret_ridx) == NULL) {
		return LWM2M_ENOTFOUND;
	}
	*ret_o = o;
	*ret_in = in;
	return LWM2M_OK;
}

static lwm2m_err
read_leaf(struct sim_model *m, const struct lwm2m_path *path, struct sim_obj *o,
          struct sim_inst *in, size_t ridx, struct lwm2m_tree *tree)
{
	const struct sim_res_def *rd = &o->def->res[ridx];
	struct sim_res *r = &in->res[ridx];
	struct lwm2m_path p = *path;
	struct sim_ri *ri;

	if ((rd->ops & SIM_OP_R) == 0) {
		return LWM2M_EDENIED;
	}
	refresh_time(m, o->def->id, in);
	if (path->len == 3) {
		return read_res(tree, &p, rd, r);
	}
	if (!rd->multi || (ri = find_ri(r, path->ids[3])) == NULL) {
		return LWM2M_ENOTFOUND;
	}
	return lwm2m_tree_set(tree, path, &ri->val);
}

lwm2m_err
sim_model_read(struct sim_model *m, const struct lwm2m_path *path,
               struct lwm2m_tree *tree)
{
	struct sim_obj *o;
	struct sim_inst *in;
	size_t ridx = 0;
	lwm2m_err err = locate(m, path, &o, &in, &ridx);

	if (err != LWM2M_OK) {
		return err;
	}
	switch (path->len) {
	case 0:
		for (size_t i = 0; err == LWM2M_OK && i < m->n_objs; i++) {
			err = read_obj(m, &m->objs[i], tree);
		}
		return err;
	case 1:
		return read_obj(m, o, tree);
	case 2:
		return read_inst(m, o, in, tree);
	default:
		return read_leaf(m, path, o, in, ridx, tree);
	}
}

bool
sim_model_number(struct sim_model *m, const struct lwm2m_path *path,
                 double *ret_value)
{
	struct sim_obj *o;
	struct sim_inst *in;
	size_t ridx = 0;
	const struct lwm2m_value *v;

	if (path->len != 3 || locate(m, path, &o, &in, &ridx) != LWM2M_OK ||
	    o->def->res[ridx].multi) {
		return false;
	}
	v = &in->res[ridx].val;
	switch (v->type) {
	case LWM2M_TYPE_FLOAT:
		*ret_value = v->v.f;
		return true;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		*ret_value = (double)v->v.i;
		return true;
	case LWM2M_TYPE_UNSIGNED:
		*ret_value = (double)v->v.u;
		return true;
	default:
		return false;
	}
}

/* ---- write --------------------------------------------------------------- */

/* coerce_node converts the value of a decoded node to the type of rd. */
static lwm2m_err
coerce_node(struct lwm2m_tree *tree, struct lwm2m_node *n,
            const struct sim_res_def *rd, bool raw_is_text)
{
	struct lwm2m_diag diag;

	if (n->value.type == rd->type) {
		return LWM2M_OK;
	}
	return lwm2m_value_coerce(tree, &n->value, rd->type, raw_is_text,
	                          &diag) == LWM2M_OK
	           ? LWM2M_OK
	           : LWM2M_EPROTO;
}

/* check_res validates (and coerces) a decoded RESOURCE/MULTI_RESOURCE or
 * RESOURCE_INSTANCE node against rd. */
static lwm2m_err
check_res(struct lwm2m_tree *tree, struct lwm2m_node *n,
          const struct sim_res_def *rd, bool creating, bool raw_is_text)
{
	if ((rd->ops & SIM_OP_W) == 0 && !(creating && rd->ops != SIM_OP_E)) {
		return LWM2M_EDENIED;
	}
	if (n->kind == LWM2M_NODE_MULTI_RESOURCE) {
		if (!rd->multi || n->n_children > SIM_MAX_RES_INSTANCES) {
			return rd->multi ? LWM2M_ELIMIT : LWM2M_EPROTO;
		}
		for (struct lwm2m_node *c = n->first_child; c != NULL;
		     c = c->next_sibling) {
			if (coerce_node(tree, c, rd, raw_is_text) != LWM2M_OK) {
				return LWM2M_EPROTO;
			}
		}
		return LWM2M_OK;
	}
	if (n->kind == LWM2M_NODE_RESOURCE && rd->multi) {
		return LWM2M_EPROTO;
	}
	return coerce_node(tree, n, rd, raw_is_text);
}

static void
fw_package(struct sim_inst *in, size_t len)
{
	const struct sim_obj_def *d = sim_obj_def_find(5);

	set_int(d, in, 3, len > 0 ? 2 : 0);
	set_int(d, in, 5, 0);
}

/* apply_res stores a validated node into r; replace empties a multi
 * resource first. */
static lwm2m_err
apply_res(struct sim_model *m, uint16_t oid, struct sim_inst *in, size_t ridx,
          const struct lwm2m_node *n, bool replace)
{
	const struct sim_obj_def *d = sim_obj_def_find(oid);
	struct sim_res *r = &in->res[ridx];
	lwm2m_err err = LWM2M_OK;

	if (n->kind == LWM2M_NODE_RESOURCE_INSTANCE) {
		return ri_set(r, n->id, &n->value);
	}
	if (n->kind == LWM2M_NODE_MULTI_RESOURCE) {
		if (replace) {
			res_clear(r);
		}
		for (const struct lwm2m_node *c = n->first_child;
		     err == LWM2M_OK && c != NULL; c = c->next_sibling) {
			err = ri_set(r, c->id, &c->value);
		}
		return err;
	}
	if (oid == 3 && d->res[ridx].id == 13) {
		m->time_offset = n->value.v.i - lwm2m_now_ms() / 1000;
		return LWM2M_OK;
	}
	if (oid == 5 && d->res[ridx].id == 0) {
		fw_package(in, n->value.v.bytes.len);
		return LWM2M_OK;
	}
	err = value_copy(&r->val, &n->value);
	if (err == LWM2M_OK && oid == 5 && d->res[ridx].id == 1) {
		fw_package(in, n->value.v.bytes.len);
	}
	return err;
}

/* check_inst validates (and coerces) every resource node under inst
 * node n against the definition of o. */
static lwm2m_err
check_inst(const struct sim_obj *o, struct lwm2m_tree *tree,
           struct lwm2m_node *n, bool creating, bool raw_is_text)
{
	size_t ridx;
	lwm2m_err err;

	for (struct lwm2m_node *c = n->first_child; c != NULL;
	     c = c->next_sibling) {
		const struct sim_res_def *rd = res_def(o->def, c->id, &ridx);

		if (rd == NULL) {
			return LWM2M_ENOTFOUND;
		}
		err = check_res(tree, c, rd, creating, raw_is_text);
		if (err != LWM2M_OK) {
			return err;
		}
	}
	return LWM2M_OK;
}

/* apply_inst stores every resource node under inst node n, checked by
 * check_inst, into in. */
static lwm2m_err
apply_inst(struct sim_model *m, struct sim_obj *o, struct sim_inst *in,
           const struct lwm2m_node *n, bool replace)
{
	size_t ridx = 0;
	lwm2m_err err = LWM2M_OK;

	for (const struct lwm2m_node *c = n->first_child;
	     err == LWM2M_OK && c != NULL; c = c->next_sibling) {
		res_def(o->def, c->id, &ridx);
		err = apply_res(m, o->def->id, in, ridx, c, replace);
	}
	return err;
}

/* write_inst validates then applies every resource node under inst node
 * n (two passes, so a bad value changes nothing). */
static lwm2m_err
write_inst(struct sim_model *m, struct sim_obj *o, struct sim_inst *in,
           struct lwm2m_tree *tree, struct lwm2m_node *n, bool replace,
           bool creating, bool raw_is_text)
{
	lwm2m_err err = check_inst(o, tree, n, creating, raw_is_text);

	return err != LWM2M_OK ? err : apply_inst(m, o, in, n, replace);
}

/* composite_pass checks (apply false) or applies every instance of tree. */
static lwm2m_err
composite_pass(struct sim_model *m, struct lwm2m_tree *tree, bool apply)
{
	lwm2m_err err = LWM2M_OK;

	for (struct lwm2m_node *on = tree->root.first_child;
	     err == LWM2M_OK && on != NULL; on = on->next_sibling) {
		struct sim_obj *o = find_obj(m, on->id);

		for (struct lwm2m_node *n = on->first_child;
		     err == LWM2M_OK && n != NULL; n = n->next_sibling) {
			struct sim_inst *in =
			    o != NULL ? find_inst(o, n->id) : NULL;

			if (in == NULL) {
				return LWM2M_ENOTFOUND;
			}
			err = apply ? apply_inst(m, o, in, n, false)
			            : check_inst(o, tree, n, false, false);
		}
	}
	return err;
}

lwm2m_err
sim_model_write_composite(struct sim_model *m, struct lwm2m_tree *tree)
{
	lwm2m_err err = composite_pass(m, tree, false);

	return err != LWM2M_OK ? err : composite_pass(m, tree, true);
}

lwm2m_err
sim_model_write(struct sim_model *m, const struct lwm2m_path *path,
                struct lwm2m_tree *tree, bool replace, bool raw_is_text)
{
	struct sim_obj *o;
	struct sim_inst *in;
	size_t ridx = 0;
	struct lwm2m_node *n;
	lwm2m_err err;

	if (path->len < 2) {
		return LWM2M_EDENIED;
	}
	err = locate(m, path, &o, &in, &ridx);
	if (err != LWM2M_OK) {
		return err;
	}
	n = lwm2m_tree_get(tree, path);
	if (n == NULL) {
		return LWM2M_EPROTO;
	}
	if (path->len == 2) {
		return write_inst(m, o, in, tree, n, replace, false,
		                  raw_is_text);
	}
	if (path->len == 4 && !o->def->res[ridx].multi) {
		return LWM2M_ENOTFOUND;
	}
	err = check_res(tree, n, &o->def->res[ridx], false, raw_is_text);
	if (err != LWM2M_OK) {
		return err;
	}
	return apply_res(m, o->def->id, in, ridx, n, replace);
}

static uint16_t
free_iid(const struct sim_obj *o)
{
	uint16_t id = 0;

	for (const struct sim_inst *in = o->insts; in != NULL; in = in->next) {
		if (in->id != id) {
			break;
		}
		id++;
	}
	return id;
}

lwm2m_err
sim_model_create(struct sim_model *m, uint16_t obj, struct lwm2m_tree *tree,
                 uint16_t *ret_iid)
{
	struct lwm2m_path p = {.len = 1, .ids = {obj}};
	struct sim_obj *o = find_obj(m, obj);
	struct lwm2m_node *on = lwm2m_tree_get(tree, &p), *n = NULL;
	struct sim_inst *in;
	uint16_t iid;
	lwm2m_err err;

	if (o == NULL) {
		return LWM2M_ENOTFOUND;
	}
	if (!o->def->multi_instance || inst_count(o) >= SIM_MAX_INSTANCES) {
		return o->def->multi_instance ? LWM2M_ELIMIT : LWM2M_EDENIED;
	}
	if (on != NULL && on->n_children > 1) {
		return LWM2M_EPROTO;
	}
	n = on != NULL ? on->first_child : NULL;
	iid = n != NULL ? n->id : free_iid(o);
	if (find_inst(o, iid) != NULL) {
		return LWM2M_EEXIST;
	}
	err = inst_new(m, o->def, iid, &in);
	if (err == LWM2M_OK && n != NULL) {
		err = write_inst(m, o, in, tree, n, true, true, false);
	}
	if (err != LWM2M_OK) {
		inst_free(o->def, in);
		return err;
	}
	inst_link(o, in);
	*ret_iid = iid;
	return LWM2M_OK;
}

lwm2m_err
sim_model_delete(struct sim_model *m, uint16_t obj, uint16_t iid)
{
	struct sim_obj *o = find_obj(m, obj);
	struct sim_inst **pp;

	if (o == NULL) {
		return LWM2M_ENOTFOUND;
	}
	for (pp = &o->insts; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->id == iid) {
			struct sim_inst *in = *pp;

			*pp = in->next;
			inst_free(o->def, in);
			return LWM2M_OK;
		}
	}
	return LWM2M_ENOTFOUND;
}

/* ---- execute --------------------------------------------------------------
 */

static lwm2m_err
exec_fw_update(struct sim_inst *in)
{
	const struct sim_obj_def *d = sim_obj_def_find(5);

	if (inst_res(d, in, 3)->val.v.i != 2) {
		return LWM2M_EDENIED;
	}
	set_int(d, in, 3, 0);
	set_int(d, in, 5, 1);
	return LWM2M_OK;
}

static void
exec_temp_reset(struct sim_inst *in)
{
	const struct sim_obj_def *d = sim_obj_def_find(3303);
	double v = inst_res(d, in, 5700)->val.v.f;

	set_float(d, in, 5601, v);
	set_float(d, in, 5602, v);
}

lwm2m_err
sim_model_execute(struct sim_model *m, const struct lwm2m_path *path,
                  const char *args, size_t args_len,
                  enum sim_exec_effect *ret_effect)
{
	struct sim_obj *o;
	struct sim_inst *in;
	size_t ridx = 0;
	lwm2m_err err;
	static const int64_t no_error[] = {0};

	*ret_effect = SIM_EXEC_NONE;
	if (path->len != 3) {
		return path->len < 3 ? LWM2M_EDENIED : LWM2M_ENOTFOUND;
	}
	err = locate(m, path, &o, &in, &ridx);
	if (err != LWM2M_OK) {
		return err;
	}
	if (o->def->res[ridx].ops != SIM_OP_E) {
		return LWM2M_EDENIED;
	}
	switch (o->def->id * 100000u + path->ids[2]) {
	case 100008:
		*ret_effect = SIM_EXEC_UPDATE;
		return LWM2M_OK;
	case 300004:
		*ret_effect = SIM_EXEC_REBOOT;
		return LWM2M_OK;
	case 300012:
		res_clear(inst_res(o->def, in, 11));
		return set_multi_int(o->def, in, 11, no_error, 1);
	case 500002:
		*ret_effect = SIM_EXEC_FW_UPDATE;
		return exec_fw_update(in);
	case 330305605:
		exec_temp_reset(in);
		return LWM2M_OK;
	default:
		return LWM2M_OK;
	}
}

/* ---- control and sensors ------------------------------------------------- */

lwm2m_err
sim_model_set_text(struct sim_model *m, const struct lwm2m_path *path,
                   const char *text)
{
	struct lwm2m_tree tree;
	struct lwm2m_value v = {.type = LWM2M_TYPE_RAW};
	lwm2m_err err;

	lwm2m_tree_init(&tree, NULL);
	v.v.bytes.ptr = (const uint8_t *)text;
	v.v.bytes.len = strlen(text);
	err = lwm2m_tree_set(&tree, path, &v);
	if (err == LWM2M_OK) {
		struct sim_obj *o;
		struct sim_inst *in;
		size_t ridx = 0;

		err = path->len < 3 ? LWM2M_EINVAL
		                    : locate(m, path, &o, &in, &ridx);
		if (err == LWM2M_OK) {
			struct lwm2m_node *n = lwm2m_tree_get(&tree, path);

			err = coerce_node(&tree, n, &o->def->res[ridx], true);
			if (err == LWM2M_OK) {
				err = apply_res(m, o->def->id, in, ridx, n,
				                false);
			}
		}
	}
	lwm2m_tree_fini(&tree);
	return err;
}

static uint32_t
next_rand(uint32_t *seed)
{
	uint32_t x = *seed != 0 ? *seed : 2463534242u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*seed = x;
	return x;
}

bool
sim_model_tick(struct sim_model *m, uint32_t *seed)
{
	const struct sim_obj_def *d = sim_obj_def_find(3303);
	struct sim_obj *o = find_obj(m, 3303);
	bool changed = false;

	if (o == NULL) {
		return false;
	}
	for (struct sim_inst *in = o->insts; in != NULL; in = in->next) {
		struct sim_res *r = inst_res(d, in, 5700);
		double v =
		    r->val.v.f + ((int)(next_rand(seed) % 21) - 10) / 10.0;

		v = round(fmin(fmax(v, -40.0), 85.0) * 10.0) / 10.0;
		changed = changed || v != r->val.v.f;
		r->val.v.f = v;
		if (v < inst_res(d, in, 5601)->val.v.f) {
			set_float(d, in, 5601, v);
		}
		if (v > inst_res(d, in, 5602)->val.v.f) {
			set_float(d, in, 5602, v);
		}
	}
	return changed;
}

/* ---- link-format ----------------------------------------------------------
 */

/* appendf appends to buf at *off; ELIMIT when it does not fit. */
static lwm2m_err appendf(char *buf, size_t size, size_t *off, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

static lwm2m_err
appendf(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= size) {
		return LWM2M_ELIMIT;
	}
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, size - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *off) {
		return LWM2M_ELIMIT;
	}
	*off += (size_t)n;
	return LWM2M_OK;
}

static lwm2m_err
links_root(const unsigned *ct, size_t n_ct, char *buf, size_t size, size_t *off)
{
	lwm2m_err err = appendf(buf, size, off, "</>;rt=\"oma.lwm2m\"");

	if (err != LWM2M_OK || n_ct == 0) {
		return err;
	}
	err = appendf(buf, size, off, n_ct > 1 ? ";ct=\"" : ";ct=");
	for (size_t i = 0; err == LWM2M_OK && i < n_ct; i++) {
		err = appendf(buf, size, off, "%s%u", i > 0 ? " " : "", ct[i]);
	}
	if (err == LWM2M_OK && n_ct > 1) {
		err = appendf(buf, size, off, "\"");
	}
	return err;
}

lwm2m_err
sim_model_links(const struct sim_model *m, const unsigned *ct, size_t n_ct,
                char *buf, size_t size)
{
	size_t off = 0;
	lwm2m_err err = links_root(ct, n_ct, buf, size, &off);

	for (size_t i = 0; err == LWM2M_OK && i < m->n_objs; i++) {
		const struct sim_obj *o = &m->objs[i];

		if (o->def->ver != NULL || o->insts == NULL) {
			err = appendf(buf, size, &off, ",</%u>",
			              (unsigned)o->def->id);
		}
		if (err == LWM2M_OK && o->def->ver != NULL) {
			err = appendf(buf, size, &off, ";ver=%s", o->def->ver);
		}
		for (const struct sim_inst *in = o->insts;
		     err == LWM2M_OK && in != NULL; in = in->next) {
			err = appendf(buf, size, &off, ",</%u/%u>",
			              (unsigned)o->def->id, (unsigned)in->id);
		}
	}
	return err;
}

struct disc {
	size_t (*attrs)(void *, const struct lwm2m_path *, char *, size_t);
	void *arg;
	char *buf;
	size_t size, off;
};

/* disc_link appends one link for p with its attributes and extra text. */
static lwm2m_err
disc_link(struct disc *d, const struct lwm2m_path *p, const char *extra)
{
	char path[64], attrs[256] = "";

	if (lwm2m_path_format(p, path, sizeof path) < 0) {
		return LWM2M_EINVAL;
	}
	if (d->attrs != NULL) {
		d->attrs(d->arg, p, attrs, sizeof attrs);
	}
	return appendf(d->buf, d->size, &d->off, "%s<%s>%s%s",
	               d->off > 0 ? "," : "", path, extra, attrs);
}

static lwm2m_err
disc_inst(struct disc *d, const struct sim_obj *o, const struct sim_inst *in,
          bool with_res)
{
	struct lwm2m_path p = {.len = 2, .ids = {o->def->id, in->id}};
	lwm2m_err err = disc_link(d, &p, "");

	for (size_t i = 0; with_res && err == LWM2M_OK && i < o->def->n_res;
	     i++) {
		char dim[16] = "";

		if (o->def->res[i].multi) {
			snprintf(dim, sizeof dim, ";dim=%u",
			         (unsigned)in->res[i].n_ri);
		}
		p.len = 3;
		p.ids[2] = o->def->res[i].id;
		err = disc_link(d, &p, dim);
	}
	return err;
}

lwm2m_err
sim_model_discover(const struct sim_model *m, const struct lwm2m_path *path,
                   size_t (*attrs)(void *arg, const struct lwm2m_path *p,
                                   char *out, size_t size),
                   void *arg, char *buf, size_t size)
{
	struct disc d = {attrs, arg, buf, size, 0};
	struct sim_obj *o;
	struct sim_inst *in;
	size_t ridx = 0;
	lwm2m_err err;

	buf[0] = '\0';
	if (path->len == 0 || path->len > 3) {
		return LWM2M_EDENIED;
	}
	err = locate((struct sim_model *)m, path, &o, &in, &ridx);
	if (err != LWM2M_OK) {
		return err;
	}
	if (path->len == 3) {
		char dim[16] = "";

		if (o->def->res[ridx].multi) {
			snprintf(dim, sizeof dim, ";dim=%u",
			         (unsigned)in->res[ridx].n_ri);
		}
		return disc_link(&d, path, dim);
	}
	if (path->len == 2) {
		return disc_inst(&d, o, in, true);
	}
	err = disc_link(&d, path, o->def->ver != NULL ? ";ver=1.1" : "");
	for (in = o->insts; err == LWM2M_OK && in != NULL; in = in->next) {
		err = disc_inst(&d, o, in, true);
	}
	return err;
}
