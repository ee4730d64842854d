/* lwm2m_lwcbor.c - LwM2M CBOR (content format 11544, LwM2M 1.2). */
#include <inttypes.h>

#include "lwm2m_cbor.h"

#define ID_MAX 65534

struct lwdec {
	struct lwm2m_cbor_reader r;
	struct lwm2m_tree *tree;
	const struct lwm2m_path *base;
};

static lwm2m_err decode_map(struct lwdec *d, struct lwm2m_cbor_item *map,
                            const struct lwm2m_path *at);

/* push_id appends the id in item to path. */
static lwm2m_err
push_id(struct lwdec *d, const struct lwm2m_cbor_item *item,
        struct lwm2m_path *path)
{
	if (item->kind != LWM2M_CBOR_UINT || item->tagged) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, item->offset,
		                       "path id must be an untagged unsigned "
		                       "integer");
	}
	if (item->u > ID_MAX) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, item->offset,
		                       "path id %" PRIu64 " over %d", item->u,
		                       ID_MAX);
	}
	if (path->len >= LWM2M_PATH_MAX_LEN) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, item->offset,
		                       "path longer than %d ids",
		                       LWM2M_PATH_MAX_LEN);
	}
	path->ids[path->len++] = (uint16_t)item->u;
	return LWM2M_OK;
}

/* read_key reads a map key (an id or an array of ids) and extends path. */
static lwm2m_err
read_key(struct lwdec *d, struct lwm2m_path *path)
{
	struct lwm2m_cbor_item key, id;
	uint8_t before = path->len;
	bool more = true;
	lwm2m_err err = lwm2m_cbor_read(&d->r, &key);

	if (err != LWM2M_OK || key.kind != LWM2M_CBOR_ARRAY || key.tagged) {
		return err != LWM2M_OK ? err : push_id(d, &key, path);
	}
	while (err == LWM2M_OK) {
		err = lwm2m_cbor_next(&d->r, &key, &more);
		if (err != LWM2M_OK || !more) {
			break;
		}
		err = lwm2m_cbor_read(&d->r, &id);
		if (err == LWM2M_OK) {
			err = push_id(d, &id, path);
		}
	}
	if (err == LWM2M_OK && path->len == before) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, key.offset,
		                       "empty path array as a key");
	}
	return err;
}

/* check_scope rejects paths that neither lie under base nor lead to it. */
static lwm2m_err
check_scope(struct lwdec *d, const struct lwm2m_path *path, size_t offset)
{
	char p[32];

	if (lwm2m_path_is_prefix(d->base, path) ||
	    lwm2m_path_is_prefix(path, d->base)) {
		return LWM2M_OK;
	}
	if (lwm2m_path_format(path, p, sizeof(p)) < 0) {
		p[0] = '\0';
	}
	return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, offset,
	                       "%s is outside the request path", p);
}

static lwm2m_err
decode_submap(struct lwdec *d, struct lwm2m_cbor_item *map,
              const struct lwm2m_path *path)
{
	struct lwm2m_node *n;
	lwm2m_err err;

	if (path->len == LWM2M_PATH_MAX_LEN) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, map->offset,
		                       "a map below a resource instance");
	}
	if (lwm2m_path_is_prefix(d->base, path)) {
		err = lwm2m_tree_add_node(d->tree, path, path->len == 3, &n);
		if (err != LWM2M_OK) {
			return lwm2m_cbor_fail(&d->r,
			                       err == LWM2M_ENOMEM ||
			                               err == LWM2M_ELIMIT
			                           ? err
			                           : LWM2M_EPROTO,
			                       map->offset,
			                       "cannot add this level to the "
			                       "tree: %s",
			                       lwm2m_strerror(err));
		}
	}
	return decode_map(d, map, path);
}

static lwm2m_err
decode_leaf(struct lwdec *d, const struct lwm2m_cbor_item *item,
            const struct lwm2m_path *path)
{
	struct lwm2m_value v;
	lwm2m_err err;

	if (path->len < 3 || !lwm2m_path_is_prefix(d->base, path)) {
		return lwm2m_cbor_fail(&d->r, LWM2M_EPROTO, item->offset,
		                       path->len < 3
		                           ? "a value above resource level"
		                           : "a value outside the request "
		                             "path");
	}
	err = lwm2m_cbor_item_value(&d->r, item, d->tree, &v);
	if (err != LWM2M_OK) {
		return err;
	}
	return lwm2m__cbor_set(&d->r, d->tree, path, &v, item->offset);
}

static lwm2m_err
decode_entry(struct lwdec *d, const struct lwm2m_path *at)
{
	struct lwm2m_path path = *at;
	struct lwm2m_cbor_item val;
	size_t key_at = d->r.pos;
	lwm2m_err err = read_key(d, &path);

	if (err == LWM2M_OK) {
		err = check_scope(d, &path, key_at);
	}
	if (err == LWM2M_OK) {
		err = lwm2m_cbor_read(&d->r, &val);
	}
	if (err != LWM2M_OK) {
		return err;
	}
	if (val.kind == LWM2M_CBOR_MAP && !val.tagged) {
		return decode_submap(d, &val, &path);
	}
	return decode_leaf(d, &val, &path);
}

static lwm2m_err
decode_map(struct lwdec *d, struct lwm2m_cbor_item *map,
           const struct lwm2m_path *at)
{
	bool more = true;
	lwm2m_err err = LWM2M_OK;

	while (err == LWM2M_OK) {
		err = lwm2m_cbor_next(&d->r, map, &more);
		if (err != LWM2M_OK || !more) {
			break;
		}
		err = decode_entry(d, at);
	}
	return err;
}

lwm2m_err
lwm2m_lwcbor_decode(const uint8_t *buf, size_t len,
                    const struct lwm2m_path *base, struct lwm2m_tree *tree,
                    struct lwm2m_diag *diag)
{
	struct lwdec d = {.tree = tree, .base = base};
	struct lwm2m_cbor_item top;
	struct lwm2m_path root = {0};
	lwm2m_err err;

	err = lwm2m_cbor_reader_init(&d.r, buf, len, tree->limits, diag);
	if (err == LWM2M_OK) {
		err = lwm2m_cbor_read(&d.r, &top);
	}
	if (err != LWM2M_OK) {
		return err;
	}
	if (top.kind != LWM2M_CBOR_MAP || top.tagged) {
		return lwm2m_cbor_fail(&d.r, LWM2M_EPROTO, top.offset,
		                       "LwM2M CBOR must be a map at top level");
	}
	err = decode_map(&d, &top, &root);
	if (err == LWM2M_OK) {
		err = lwm2m_cbor_finish(&d.r);
	}
	return err;
}

static void
put_node(struct lwm2m_cbor_writer *w, const struct lwm2m_node *n)
{
	const struct lwm2m_node *c;

	if (n->kind == LWM2M_NODE_RESOURCE ||
	    n->kind == LWM2M_NODE_RESOURCE_INSTANCE) {
		lwm2m_cbor_put_value(w, &n->value);
		return;
	}
	lwm2m_cbor_put_map(w, n->n_children);
	for (c = n->first_child; c != NULL; c = c->next_sibling) {
		lwm2m_cbor_put_uint(w, c->id);
		put_node(w, c);
	}
}

lwm2m_err
lwm2m_lwcbor_encode(const struct lwm2m_tree *tree,
                    const struct lwm2m_path *base, struct lwm2m_buf *out)
{
	const struct lwm2m_node *n = lwm2m_tree_get(tree, base);
	struct lwm2m_cbor_writer w;

	if (n == NULL) {
		return LWM2M_ENOTFOUND;
	}
	lwm2m_cbor_writer_init(&w, out);
	if (base->len > 0) {
		lwm2m_cbor_put_map(&w, 1);
		if (base->len > 1) {
			lwm2m_cbor_put_array(&w, base->len);
		}
		for (uint8_t i = 0; i < base->len; i++) {
			lwm2m_cbor_put_uint(&w, base->ids[i]);
		}
	}
	put_node(&w, n);
	return w.err;
}
