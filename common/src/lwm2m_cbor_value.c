/* lwm2m_cbor_value.c - CBOR single value (content format 60). */
#include "lwm2m_cbor.h"

lwm2m_err
lwm2m_cbor_value_decode(const uint8_t *buf, size_t len,
                        const struct lwm2m_path *base, struct lwm2m_tree *tree,
                        struct lwm2m_diag *diag)
{
	struct lwm2m_cbor_reader r;
	struct lwm2m_cbor_item item;
	struct lwm2m_value v;
	lwm2m_err err;

	err = lwm2m_cbor_reader_init(&r, buf, len, tree->limits, diag);
	if (err != LWM2M_OK) {
		return err;
	}
	if (base->len != 3 && base->len != 4) {
		return lwm2m_cbor_fail(&r, LWM2M_EINVAL, 0,
		                       "a single CBOR value needs a resource "
		                       "or resource instance path");
	}
	err = lwm2m_cbor_read(&r, &item);
	if (err == LWM2M_OK) {
		err = lwm2m_cbor_item_value(&r, &item, tree, &v);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_cbor_finish(&r);
	}
	if (err == LWM2M_OK) {
		err = lwm2m__cbor_set(&r, tree, base, &v, item.offset);
	}
	return err;
}

lwm2m_err
lwm2m_cbor_value_encode(const struct lwm2m_tree *tree,
                        const struct lwm2m_path *base, struct lwm2m_buf *out)
{
	const struct lwm2m_node *n = lwm2m_tree_get(tree, base);
	struct lwm2m_cbor_writer w;

	if (n == NULL) {
		return LWM2M_ENOTFOUND;
	}
	if ((n->kind != LWM2M_NODE_RESOURCE &&
	     n->kind != LWM2M_NODE_RESOURCE_INSTANCE) ||
	    n->value.type == LWM2M_TYPE_NONE) {
		return LWM2M_EINVAL;
	}
	lwm2m_cbor_writer_init(&w, out);
	lwm2m_cbor_put_value(&w, &n->value);
	return w.err;
}
