/* lwm2m_value.h - the one in-memory value tree every codec reads and writes.
 *
 * A tree is rooted at a ROOT node whose children are OBJECT nodes, then
 * INSTANCE, then RESOURCE (single value) or MULTI_RESOURCE (children are
 * RESOURCE_INSTANCE).  Children are kept sorted by id and ids are unique among
 * siblings.  All nodes and all byte strings of a tree live in the tree's arena:
 * lwm2m_tree_fini() frees everything at once, nothing is freed piecemeal.
 *
 * Codecs that carry no types (TLV, text, opaque, LwM2M JSON numbers) produce
 * values of type LWM2M_TYPE_RAW or a best guess; lwm2m_value_coerce() turns a
 * value into the type an object definition asks for.
 */
#ifndef LWM2M_VALUE_H
#define LWM2M_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_err.h"

/* CoAP Content-Format numbers a device may use. */
enum lwm2m_format {
	LWM2M_FMT_TEXT = 0,
	LWM2M_FMT_LINK = 40,
	LWM2M_FMT_OPAQUE = 42,
	LWM2M_FMT_CBOR = 60,
	LWM2M_FMT_SENML_JSON = 110,
	LWM2M_FMT_SENML_CBOR = 112,
	LWM2M_FMT_LEGACY_TEXT = 1541,
	LWM2M_FMT_LEGACY_TLV = 1542,
	LWM2M_FMT_LEGACY_JSON = 1543,
	LWM2M_FMT_TLV = 11542,
	LWM2M_FMT_LWM2M_JSON = 11543,
	LWM2M_FMT_LWM2M_CBOR = 11544,
};

enum lwm2m_type {
	LWM2M_TYPE_NONE = 0, /* no value (object/instance/multi nodes) */
	LWM2M_TYPE_RAW,      /* untyped bytes from TLV/text/opaque */
	LWM2M_TYPE_STRING,
	LWM2M_TYPE_INTEGER,
	LWM2M_TYPE_UNSIGNED,
	LWM2M_TYPE_FLOAT,
	LWM2M_TYPE_BOOLEAN,
	LWM2M_TYPE_OPAQUE,
	LWM2M_TYPE_TIME,
	LWM2M_TYPE_OBJLNK,
	LWM2M_TYPE_CORELNK,
};

/* A scalar.  bytes.ptr points into the owning tree's arena (or, for values
 * built by a caller outside any tree, to memory the caller owns). */
struct lwm2m_value {
	enum lwm2m_type type;
	union {
		int64_t i;   /* INTEGER, TIME (seconds since 1970) */
		uint64_t u;  /* UNSIGNED */
		double f;    /* FLOAT */
		bool b;      /* BOOLEAN */
		struct {
			uint16_t obj, inst;
		} lnk;       /* OBJLNK */
		struct {
			const uint8_t *ptr;
			size_t len;
		} bytes;     /* RAW, STRING, OPAQUE, CORELNK (not NUL-terminated) */
	} v;
};

/* An LwM2M path: /o, /o/i, /o/i/r or /o/i/r/ri; len 0 is the root "/". */
#define LWM2M_PATH_MAX_LEN 4
struct lwm2m_path {
	uint8_t len;
	uint16_t ids[LWM2M_PATH_MAX_LEN];
};

enum lwm2m_node_kind {
	LWM2M_NODE_ROOT = 0,
	LWM2M_NODE_OBJECT,
	LWM2M_NODE_INSTANCE,
	LWM2M_NODE_RESOURCE,          /* single-instance resource with a value */
	LWM2M_NODE_MULTI_RESOURCE,    /* children are RESOURCE_INSTANCE */
	LWM2M_NODE_RESOURCE_INSTANCE, /* has a value */
};

struct lwm2m_node {
	enum lwm2m_node_kind kind;
	uint16_t id;                /* unused for ROOT */
	struct lwm2m_value value;   /* RESOURCE and RESOURCE_INSTANCE only */
	struct lwm2m_node *parent;
	struct lwm2m_node *first_child; /* sorted by id */
	struct lwm2m_node *next_sibling;
	struct lwm2m_node *last_child;  /* makes in-order appends O(1) */
	uint32_t n_children;
};

/* Limits that every decoder enforces on peer input. */
struct lwm2m_limits {
	uint32_t max_nodes;      /* total nodes in one tree */
	uint32_t max_depth;      /* nesting depth of the wire format (CBOR/JSON) */
	size_t max_value_len;    /* one string/opaque value */
	size_t max_input_len;    /* one encoded payload */
};
/* Defaults: 65536 nodes, depth 16, 1 MiB value, 4 MiB input. */
extern const struct lwm2m_limits lwm2m_limits_default;

/* Where and why decoding failed: offset is the byte offset in the input. */
struct lwm2m_diag {
	size_t offset;
	char msg[160];
};

struct lwm2m_arena; /* opaque bump allocator, see lwm2m_tree.c */

struct lwm2m_tree {
	struct lwm2m_node root;
	struct lwm2m_arena *arena;
	uint32_t n_nodes;
	const struct lwm2m_limits *limits; /* never NULL after init */
};

/* lwm2m_tree_init prepares an empty tree; limits NULL means the defaults.
 * The limits object is borrowed and must outlive the tree. */
void lwm2m_tree_init(struct lwm2m_tree *tree, const struct lwm2m_limits *limits);

/* lwm2m_tree_fini frees every node and byte string of the tree; NULL-safe. */
void lwm2m_tree_fini(struct lwm2m_tree *tree);

/* lwm2m_tree_get returns the node at path, or NULL. */
struct lwm2m_node *lwm2m_tree_get(const struct lwm2m_tree *tree,
                                  const struct lwm2m_path *path);

/* lwm2m_tree_add_node makes sure the node at path exists, creating missing
 * ancestors, and returns it through ret_node.  A path of length 3 creates a
 * RESOURCE unless multi is true (then MULTI_RESOURCE); length 4 creates a
 * RESOURCE_INSTANCE under a MULTI_RESOURCE.  Fails with LWM2M_EPROTO when the
 * path conflicts with what exists (e.g. a RESOURCE where a MULTI_RESOURCE is
 * asked for) and LWM2M_ELIMIT past limits->max_nodes. */
lwm2m_err lwm2m_tree_add_node(struct lwm2m_tree *tree,
                              const struct lwm2m_path *path, bool multi,
                              struct lwm2m_node **ret_node);

/* lwm2m_tree_set sets the value at a resource (len 3) or resource-instance
 * (len 4) path, creating the node; byte values are copied into the arena.
 * Setting a value twice on the same path is LWM2M_EPROTO (duplicate). */
lwm2m_err lwm2m_tree_set(struct lwm2m_tree *tree, const struct lwm2m_path *path,
                         const struct lwm2m_value *value);

/* lwm2m_tree_alloc returns len bytes from the tree's arena (freed with it),
 * or NULL. */
void *lwm2m_tree_alloc(struct lwm2m_tree *tree, size_t len);

/* lwm2m_node_path writes the absolute path of node into ret_path. */
void lwm2m_node_path(const struct lwm2m_node *node, struct lwm2m_path *ret_path);

/* lwm2m_path_parse parses "/3/0/1" (also "/", "3/0", trailing '/' allowed)
 * into ret_path.  Ids are 0..65534 (65535 is reserved by LwM2M). */
lwm2m_err lwm2m_path_parse(const char *text, size_t len,
                           struct lwm2m_path *ret_path);

/* lwm2m_path_format writes "/o/i/r/ri" (or "/") into buf, NUL-terminated;
 * returns the length written, or -1 when buf is too small. */
int lwm2m_path_format(const struct lwm2m_path *path, char *buf, size_t size);

/* lwm2m_path_is_prefix is true when prefix is path or one of its ancestors. */
bool lwm2m_path_is_prefix(const struct lwm2m_path *prefix,
                          const struct lwm2m_path *path);

/* lwm2m_value_coerce converts value in place to type `to` (e.g. RAW TLV bytes
 * to INTEGER, a FLOAT holding an integral number to INTEGER, RAW text to
 * BOOLEAN).  from_text says RAW bytes are text/plain rather than TLV binary.
 * Byte results may point into the original bytes; when a new buffer is needed
 * it comes from tree's arena.  LWM2M_EPROTO with diag filled when impossible.
 * Rules: RAW binary (TLV): integers/time big-endian two's complement of 1, 2,
 * 4 or 8 bytes (unsigned: same widths, read unsigned), float 4 or 8 bytes,
 * boolean one byte 0/1, objlnk 4 bytes.  RAW text, STRING and CORELNK: the
 * text forms (decimal integers, JSON-syntax floats, "0"/"1", "oid:iid",
 * time as integer or ISO 8601, opaque as base64 of either alphabet).  Byte
 * types convert to each other as they are; numbers convert when exact
 * (3.0 -> 3, -1 never to UNSIGNED). */
lwm2m_err lwm2m_value_coerce(struct lwm2m_tree *tree, struct lwm2m_value *value,
                             enum lwm2m_type to, bool from_text,
                             struct lwm2m_diag *diag);

/* lwm2m_tree_equal compares two trees structurally, values included. */
bool lwm2m_tree_equal(const struct lwm2m_tree *a, const struct lwm2m_tree *b);

/* lwm2m_type_name returns "integer", "objlnk"... for diagnostics. */
const char *lwm2m_type_name(enum lwm2m_type type);

/* lwm2m_diag_set fills diag (NULL-safe) with offset and a printf message. */
void lwm2m_diag_set(struct lwm2m_diag *diag, size_t offset, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));

/* lwm2m_value_equal compares two scalars: same type and same value (floats
 * by value, NaN equal to NaN; byte values by content). */
bool lwm2m_value_equal(const struct lwm2m_value *a, const struct lwm2m_value *b);

/* lwm2m_node_child returns the child of node with id, or NULL. */
struct lwm2m_node *lwm2m_node_child(const struct lwm2m_node *node, uint16_t id);

/* ---- codecs -------------------------------------------------------------
 * Every decoder: decodes buf (borrowed, only read within [buf, buf+len)) as a
 * payload addressed to `base` (the request's URI path; TLV and text need it
 * to know what the bytes are), adds what it finds into tree, and on failure
 * returns LWM2M_EPROTO / LWM2M_ELIMIT with diag naming the byte offset and
 * the rule broken.  On failure the tree may hold part of the input: callers
 * discard it.
 * Every encoder: encodes the subtree of `tree` at `base` into a fresh
 * malloc()ed buffer returned through ret_buf/ret_len (caller frees), or fails
 * with LWM2M_EINVAL when the format cannot express that subtree (e.g. text of
 * a whole instance, TLV of the root, a resource without a value) and
 * LWM2M_ENOTFOUND when base is not in the tree.
 * What comes back typed: TLV and text give RAW (coerce with from_text false
 * for TLV, true for text), opaque gives OPAQUE, LwM2M JSON gives STRING for
 * sv (opaque is base64 there: coerce to OPAQUE), the JSON numbers give
 * INTEGER (UNSIGNED above INT64_MAX) when written without fraction or
 * exponent and FLOAT otherwise.  Both functions are pure: any thread.
 */
struct lwm2m_buf {
	uint8_t *data;
	size_t len, cap;
};

lwm2m_err lwm2m_decode(enum lwm2m_format fmt, const uint8_t *buf, size_t len,
                       const struct lwm2m_path *base, struct lwm2m_tree *tree,
                       struct lwm2m_diag *diag);
lwm2m_err lwm2m_encode(enum lwm2m_format fmt, const struct lwm2m_tree *tree,
                       const struct lwm2m_path *base, uint8_t **ret_buf,
                       size_t *ret_len);

/* lwm2m_senml_decode_paths decodes the body of a Read-Composite or
 * Observe-Composite request (fmt SenML JSON 110 or SenML CBOR 112): records
 * that name a path (bn + n, absolute: "/" to "/o/i/r/ri") and carry no
 * value.  It fills ret_paths with at most max_paths paths in record order
 * and sets *ret_n.  lwm2m_decode keeps rejecting records without a value;
 * here a record WITH a value is LWM2M_EPROTO, a name that is not an
 * absolute path is LWM2M_EPROTO, more than max_paths records LWM2M_ELIMIT,
 * each with diag naming the byte offset; LWM2M_EINVAL for another fmt.
 * scratch (an initialised tree, left empty of nodes) holds the unescaped
 * strings; the caller finishes it. */
lwm2m_err lwm2m_senml_decode_paths(enum lwm2m_format fmt, const uint8_t *buf,
                                   size_t len, struct lwm2m_tree *scratch,
                                   struct lwm2m_path *ret_paths,
                                   size_t max_paths, size_t *ret_n,
                                   struct lwm2m_diag *diag);

/* lwm2m_buf_append appends len bytes to b, growing it with realloc();
 * b starts zeroed.  LWM2M_ENOMEM leaves b as it was.  lwm2m_buf_fini frees
 * the data and zeroes b; NULL-safe. */
lwm2m_err lwm2m_buf_append(struct lwm2m_buf *b, const void *data, size_t len);
/* lwm2m_buf_puts appends the string s without its NUL. */
lwm2m_err lwm2m_buf_puts(struct lwm2m_buf *b, const char *s);
void lwm2m_buf_fini(struct lwm2m_buf *b);

/* lwm2m_format_supported is true for every number lwm2m_decode accepts. */
bool lwm2m_format_supported(unsigned fmt);

/* lwm2m_format_name returns "application/senml+json" style names, or NULL. */
const char *lwm2m_format_name(unsigned fmt);

#endif
