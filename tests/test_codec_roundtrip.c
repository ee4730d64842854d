/* Round trips through lwm2m_encode/lwm2m_decode across every pair of
 * supported formats, on the Device example and on random value trees
 * (seeded PRNG, so failures reproduce).  New formats join automatically:
 * every number lwm2m_format_supported() accepts is tried, and a format that
 * cannot express a subtree (LWM2M_EINVAL from the encoder) is skipped for
 * that subtree. */
#include <math.h>
#include <stdio.h>

#include "codec_fixtures.h"

static const unsigned candidates[] = {0,    40,   42,   60,    110,   112,
                                      1541, 1542, 1543, 11542, 11543, 11544};

struct prng {
	uint64_t s;
};

static uint64_t
next(struct prng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

static uint64_t
below(struct prng *r, uint64_t n)
{
	return next(r) % n;
}

static bool
is_text(unsigned fmt)
{
	return fmt == LWM2M_FMT_TEXT || fmt == LWM2M_FMT_LEGACY_TEXT;
}

/* Makes every value of got the type of the same path in want. */
static bool
coerce_like(struct lwm2m_tree *got, const struct lwm2m_node *want_node,
            bool from_text, char *why, size_t why_size)
{
	struct lwm2m_path p;
	struct lwm2m_node *n;
	struct lwm2m_diag d = {0};

	for (const struct lwm2m_node *c = want_node->first_child; c != NULL;
	     c = c->next_sibling) {
		if (!coerce_like(got, c, from_text, why, why_size)) {
			return false;
		}
	}
	if (want_node->value.type == LWM2M_TYPE_NONE) {
		return true;
	}
	lwm2m_node_path(want_node, &p);
	n = lwm2m_tree_get(got, &p);
	if (n == NULL) {
		snprintf(why, why_size, "missing a value");
		return false;
	}
	if (lwm2m_value_coerce(got, &n->value, want_node->value.type, from_text,
	                       &d) != LWM2M_OK) {
		snprintf(why, why_size, "coerce: %s", d.msg);
		return false;
	}
	return true;
}

/* Copies the subtree of src at base (with its ancestors) into dst. */
static void
copy_subtree(struct lwm2m_tree *dst, const struct lwm2m_node *n)
{
	struct lwm2m_path p;
	struct lwm2m_node *made;

	lwm2m_node_path(n, &p);
	if (n->value.type != LWM2M_TYPE_NONE) {
		ck_assert_int_eq(lwm2m_tree_set(dst, &p, &n->value), LWM2M_OK);
	} else {
		ck_assert_int_eq(
		    lwm2m_tree_add_node(
		        dst, &p, n->kind == LWM2M_NODE_MULTI_RESOURCE, &made),
		    LWM2M_OK);
	}
	for (const struct lwm2m_node *c = n->first_child; c != NULL;
	     c = c->next_sibling) {
		copy_subtree(dst, c);
	}
}

/* Encodes src at base with fmt and decodes into a fresh *ret (coerced to
 * the types of want).  Returns false when fmt cannot express the subtree. */
static bool
through(unsigned fmt, const struct lwm2m_tree *src,
        const struct lwm2m_tree *want, const struct lwm2m_path *base,
        struct lwm2m_tree *ret, const char *label)
{
	uint8_t *buf;
	size_t len;
	struct lwm2m_diag d = {0};
	char why[200] = "";
	lwm2m_err err = lwm2m_encode(fmt, src, base, &buf, &len);

	if (err == LWM2M_EINVAL) {
		return false;
	}
	ck_assert_msg(err == LWM2M_OK, "%s: encode %u failed: %d", label, fmt,
	              err);
	lwm2m_tree_init(ret, NULL);
	err = lwm2m_decode(fmt, buf, len, base, ret, &d);
	ck_assert_msg(err == LWM2M_OK, "%s: decode %u failed at %zu: %s (%.*s)",
	              label, fmt, d.offset, d.msg, (int)(len < 300 ? len : 300),
	              buf);
	ck_assert_msg(coerce_like(ret,
	                          lwm2m_tree_get(want, base) ?: &want->root,
	                          is_text(fmt), why, sizeof(why)),
	              "%s: format %u: %s", label, fmt, why);
	free(buf);
	return true;
}

/* Every pair (f1, f2) over the subtree of t at base. */
static unsigned
check_pairs(const struct lwm2m_tree *t, const struct lwm2m_path *base,
            const char *label)
{
	struct lwm2m_tree want, a, b;
	unsigned done = 0;
	char text[40];

	lwm2m_tree_init(&want, NULL);
	copy_subtree(&want, lwm2m_tree_get(t, base));
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]);
	     i++) {
		unsigned f1 = candidates[i];

		if (!lwm2m_format_supported(f1) ||
		    !through(f1, t, &want, base, &a, label)) {
			continue;
		}
		lwm2m_path_format(base, text, sizeof(text));
		ck_assert_msg(lwm2m_tree_equal(&want, &a), "%s %s: %u differs",
		              label, text, f1);
		for (size_t k = 0;
		     k < sizeof(candidates) / sizeof(candidates[0]); k++) {
			unsigned f2 = candidates[k];

			if (!lwm2m_format_supported(f2) ||
			    !through(f2, &a, &want, base, &b, label)) {
				continue;
			}
			ck_assert_msg(lwm2m_tree_equal(&want, &b),
			              "%s %s: %u then %u differs", label, text,
			              f1, f2);
			lwm2m_tree_fini(&b);
			done++;
		}
		lwm2m_tree_fini(&a);
	}
	lwm2m_tree_fini(&want);
	return done;
}

START_TEST(test_lwm2m_encode_device_all_pairs)
{
	static const char *const bases[] = {
	    "/3", "/3/0", "/3/0/0", "/3/0/7", "/3/0/7/1", "/3/0/13", "/"};
	struct lwm2m_tree t;
	unsigned done = 0;

	lwm2m_tree_init(&t, NULL);
	build_device(&t);
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		struct lwm2m_path p = P(bases[i]);

		done += check_pairs(&t, &p, bases[i]);
	}
	/* at least TLV, SenML JSON and LwM2M JSON pairs on /3/0 */
	ck_assert_uint_ge(done, 9);
	lwm2m_tree_fini(&t);
}
END_TEST

static void
random_bytes(struct prng *r, struct lwm2m_tree *t, struct lwm2m_value *v,
             bool text)
{
	size_t len = below(r, 4) == 0 ? 0 : below(r, 40);
	uint8_t *p = lwm2m_tree_alloc(t, len + 1);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < len; i++) {
		/* text: printable ASCII plus the JSON specials " \ and tab */
		if (!text) {
			p[i] = (uint8_t)next(r);
		} else if (below(r, 8) == 0) {
			p[i] = (uint8_t) "\"\\\t/"[below(r, 4)];
		} else {
			p[i] = (uint8_t)(0x20 + below(r, 95));
		}
	}
	v->v.bytes.ptr = p;
	v->v.bytes.len = len;
}

static double
random_double(struct prng *r)
{
	switch (below(r, 4)) {
	case 0:
		return (double)(int64_t)below(r, 20001) - 10000.0;
	case 1:
		return ((double)below(r, 1000000) - 500000.0) / 64.0;
	case 2:
		return ((double)next(r) / 18446744073709551616.0 - 0.5) *
		       pow(10, (double)below(r, 40) - 20);
	default:
		return (double)(float)((double)below(r, 100000) / 7.0);
	}
}

static int64_t
random_int(struct prng *r)
{
	switch (below(r, 4)) {
	case 0:
		return (int64_t)below(r, 256) - 128;
	case 1:
		return (int64_t)below(r, 70000) - 35000;
	case 2:
		return (int64_t)(next(r) >> below(r, 64));
	default:
		return -(int64_t)(next(r) >> 1) - 1;
	}
}

static void
random_value(struct prng *r, struct lwm2m_tree *t, struct lwm2m_value *v)
{
	v->type = (enum lwm2m_type)(LWM2M_TYPE_STRING + below(r, 9));
	switch (v->type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		random_bytes(r, t, v, true);
		break;
	case LWM2M_TYPE_OPAQUE:
		random_bytes(r, t, v, false);
		break;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		v->v.i = random_int(r);
		break;
	case LWM2M_TYPE_UNSIGNED:
		v->v.u = below(r, 2) ? below(r, 1000) : next(r);
		break;
	case LWM2M_TYPE_FLOAT:
		v->v.f = random_double(r);
		break;
	case LWM2M_TYPE_BOOLEAN:
		v->v.b = below(r, 2);
		break;
	case LWM2M_TYPE_OBJLNK:
		v->v.lnk.obj = (uint16_t)below(r, 65536);
		v->v.lnk.inst = (uint16_t)below(r, 65536);
		break;
	default:
		ck_abort_msg("bad type");
	}
}

/* Random objects/instances/resources; no empty containers (SenML cannot
 * express them).  Ids go past 255 to exercise 16-bit TLV ids. */
static void
random_tree(struct prng *r, struct lwm2m_tree *t)
{
	static const uint16_t ids[] = {0, 1, 3, 7, 255, 256, 3303, 65534};
	struct lwm2m_path p = {.len = 3};
	struct lwm2m_value v;

	for (uint64_t no = 1 + below(r, 2); no > 0; no--) {
		p.ids[0] = ids[below(r, 8)];
		for (uint64_t ni = 1 + below(r, 2); ni > 0; ni--) {
			p.ids[1] = ids[below(r, 8)];
			for (uint64_t nr = 1 + below(r, 4); nr > 0; nr--) {
				struct lwm2m_path q = p;
				struct lwm2m_node *n;

				q.ids[2] = ids[below(r, 8)];
				if (lwm2m_tree_get(t, &q) != NULL) {
					continue;
				}
				if (below(r, 3) == 0) {
					q.len = 4;
					for (uint64_t k = 1 + below(r, 3);
					     k > 0; k--) {
						q.ids[3] = ids[below(r, 8)];
						random_value(r, t, &v);
						if (lwm2m_tree_get(t, &q) ==
						    NULL) {
							lwm2m_tree_set(t, &q,
							               &v);
						}
					}
					continue;
				}
				random_value(r, t, &v);
				ck_assert_int_eq(
				    lwm2m_tree_add_node(t, &q, false, &n),
				    LWM2M_OK);
				n->value = v;
			}
		}
	}
}

/* The root, each object, each instance and each leaf of t as bases. */
static unsigned
check_all_bases(const struct lwm2m_tree *t, const struct lwm2m_node *n,
                const char *label)
{
	struct lwm2m_path p;
	unsigned done;

	lwm2m_node_path(n, &p);
	done = check_pairs(t, &p, label);
	for (const struct lwm2m_node *c = n->first_child; c != NULL;
	     c = c->next_sibling) {
		done += check_all_bases(t, c, label);
	}
	return done;
}

START_TEST(test_lwm2m_encode_random_trees)
{
	struct prng r = {.s = 0x9E3779B97F4A7C15ULL};
	unsigned done = 0;
	char label[32];

	for (int seed = 0; seed < 150; seed++) {
		struct lwm2m_tree t;

		snprintf(label, sizeof(label), "tree %d", seed);
		lwm2m_tree_init(&t, NULL);
		random_tree(&r, &t);
		done += check_all_bases(&t, &t.root, label);
		lwm2m_tree_fini(&t);
	}
	ck_assert_uint_gt(done, 1000);
}
END_TEST

int
main(void)
{
	static const char *const names[] = {"lwm2m_encode", "lwm2m_encode"};
	const TTest *const fns[] = {test_lwm2m_encode_device_all_pairs,
	                            test_lwm2m_encode_random_trees};

	return check_run(make_suite("codec_roundtrip", names, fns, 2));
}
