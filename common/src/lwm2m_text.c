/* lwm2m_text.c - text/plain (0, legacy 1541) and opaque (42) payloads.
 *
 * Both carry exactly one value addressed by the request path, which must be
 * a resource or a resource instance.  Text decodes to RAW (coerce with
 * from_text = true); opaque decodes to OPAQUE. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_codec_internal.h"
#include "lwm2m_id.h"
#include "lwm2m_value.h"

int
lwm2m__format_double(double f, char *buf, size_t size, bool force_point)
{
	int n = -1;

	if (f != f || f - f != 0) {
		return -1;
	}
	for (int prec = 1; prec <= 17; prec++) {
		n = snprintf(buf, size, "%.*g", prec, f);
		if (n < 0 || (size_t)n >= size) {
			return -1;
		}
		if (strtod(buf, NULL) == f) {
			break;
		}
	}
	/* %g turns 3800 into 3.8e+03 at precision 2: widen to the integer
	 * digits so values below 1e17 print without an exponent. */
	if (strchr(buf, 'e') != NULL && fabs(f) >= 1 && fabs(f) < 1e17) {
		int digits = (int)floor(log10(fabs(f))) + 1;

		n = snprintf(buf, size, "%.*g", digits > 17 ? 17 : digits, f);
		if (n < 0 || (size_t)n >= size || strtod(buf, NULL) != f) {
			n = snprintf(buf, size, "%.17g", f);
		}
	}
	if (force_point && strpbrk(buf, ".e") == NULL) {
		if ((size_t)n + 2 >= size) {
			return -1;
		}
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	return n;
}

lwm2m_err
lwm2m__put_number(struct lwm2m_buf *out, const struct lwm2m_value *v,
                  bool force_point)
{
	char tmp[40];
	int n;

	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		n = snprintf(tmp, sizeof(tmp), "%" PRId64, v->v.i);
		break;
	case LWM2M_TYPE_UNSIGNED:
		n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v->v.u);
		break;
	case LWM2M_TYPE_FLOAT:
		n = lwm2m__format_double(v->v.f, tmp, sizeof(tmp), force_point);
		break;
	default:
		return LWM2M_EINVAL;
	}
	if (n < 0) {
		return LWM2M_EINVAL;
	}
	return lwm2m_buf_append(out, tmp, (size_t)n);
}

static lwm2m_err
format_number(const struct lwm2m_value *v, struct lwm2m_buf *out)
{
	char tmp[40];
	int n;

	switch (v->type) {
	case LWM2M_TYPE_BOOLEAN:
		n = snprintf(tmp, sizeof(tmp), "%d", v->v.b ? 1 : 0);
		break;
	case LWM2M_TYPE_OBJLNK:
		n = snprintf(tmp, sizeof(tmp), "%u:%u", (unsigned)v->v.lnk.obj,
		             (unsigned)v->v.lnk.inst);
		break;
	default:
		return lwm2m__put_number(out, v, false);
	}
	if (n < 0) {
		return LWM2M_EINVAL;
	}
	return lwm2m_buf_append(out, tmp, (size_t)n);
}

lwm2m_err
lwm2m__format_scalar(const struct lwm2m_value *v, struct lwm2m_buf *out)
{
	size_t n;
	char *tmp;
	lwm2m_err err;

	switch (v->type) {
	case LWM2M_TYPE_RAW:
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		return lwm2m_buf_append(out, v->v.bytes.ptr, v->v.bytes.len);
	case LWM2M_TYPE_OPAQUE:
		n = lwm2m_b64_encoded_len(v->v.bytes.len, false);
		tmp = malloc(n + 1);
		if (tmp == NULL) {
			return LWM2M_ENOMEM;
		}
		lwm2m_b64_encode(v->v.bytes.ptr, v->v.bytes.len, tmp, false);
		err = lwm2m_buf_append(out, tmp, n);
		free(tmp);
		return err;
	case LWM2M_TYPE_NONE:
		return LWM2M_EINVAL;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_UNSIGNED:
	case LWM2M_TYPE_FLOAT:
	case LWM2M_TYPE_BOOLEAN:
	case LWM2M_TYPE_TIME:
	case LWM2M_TYPE_OBJLNK:
		break;
	}
	return format_number(v, out);
}

/* Both formats address one resource or resource instance. */
static lwm2m_err
single_value(const uint8_t *buf, size_t len, const struct lwm2m_path *base,
             struct lwm2m_tree *tree, struct lwm2m_diag *diag,
             enum lwm2m_type type)
{
	struct lwm2m_value v = {.type = type};
	lwm2m_err err;

	if (base->len != 3 && base->len != 4) {
		lwm2m_diag_set(
		    diag, 0,
		    "a single value needs a resource or "
		    "resource-instance path, not a path of length %u",
		    (unsigned)base->len);
		return LWM2M_EPROTO;
	}
	if (len > tree->limits->max_value_len) {
		lwm2m_diag_set(diag, tree->limits->max_value_len,
		               "value of %zu bytes exceeds the limit", len);
		return LWM2M_ELIMIT;
	}
	v.v.bytes.ptr = buf;
	v.v.bytes.len = len;
	err = lwm2m_tree_set(tree, base, &v);
	if (err == LWM2M_EPROTO) {
		lwm2m_diag_set(diag, 0,
		               "path already holds a value or a "
		               "multiple resource");
	}
	return err;
}

lwm2m_err
lwm2m_text_decode(const uint8_t *buf, size_t len, const struct lwm2m_path *base,
                  struct lwm2m_tree *tree, struct lwm2m_diag *diag)
{
	return single_value(buf, len, base, tree, diag, LWM2M_TYPE_RAW);
}

lwm2m_err
lwm2m_opaque_decode(const uint8_t *buf, size_t len,
                    const struct lwm2m_path *base, struct lwm2m_tree *tree,
                    struct lwm2m_diag *diag)
{
	return single_value(buf, len, base, tree, diag, LWM2M_TYPE_OPAQUE);
}

/* The value node at base, or NULL when base is not a valued node. */
static const struct lwm2m_value *
value_at(const struct lwm2m_tree *tree, const struct lwm2m_path *base)
{
	const struct lwm2m_node *n = lwm2m_tree_get(tree, base);

	if (n == NULL ||
	    (n->kind != LWM2M_NODE_RESOURCE &&
	     n->kind != LWM2M_NODE_RESOURCE_INSTANCE) ||
	    n->value.type == LWM2M_TYPE_NONE) {
		return NULL;
	}
	return &n->value;
}

lwm2m_err
lwm2m_text_encode(const struct lwm2m_tree *tree, const struct lwm2m_path *base,
                  struct lwm2m_buf *out)
{
	const struct lwm2m_value *v = value_at(tree, base);

	if (v == NULL) {
		return LWM2M_EINVAL;
	}
	return lwm2m__format_scalar(v, out);
}

lwm2m_err
lwm2m_opaque_encode(const struct lwm2m_tree *tree,
                    const struct lwm2m_path *base, struct lwm2m_buf *out)
{
	const struct lwm2m_value *v = value_at(tree, base);

	if (v == NULL ||
	    (v->type != LWM2M_TYPE_OPAQUE && v->type != LWM2M_TYPE_RAW)) {
		return LWM2M_EINVAL;
	}
	return lwm2m_buf_append(out, v->v.bytes.ptr, v->v.bytes.len);
}
