/* lwm2m_cbor.h - a small, strict CBOR (RFC 8949) reader and writer, and the
 * three LwM2M content formats built on it: CBOR single value (60), SenML
 * CBOR (112) and LwM2M CBOR (11544).
 *
 * Reader: a pull parser over a borrowed buffer.  lwm2m_cbor_read() returns
 * one data item at a time; arrays and maps are walked with lwm2m_cbor_next().
 * Every item is checked while it is read: truncation, reserved additional
 * information (28-30), indefinite integers and tags, two-byte simple values
 * below 32, a break outside an indefinite container, invalid UTF-8 in text,
 * indefinite-string chunks of the wrong type, nesting past limits->max_depth
 * (LWM2M_ELIMIT) and strings past limits->max_value_len (LWM2M_ELIMIT).
 * Errors fill the reader's diag with the byte offset and the rule broken.
 * Non-shortest heads are accepted on input (RFC 8949 section 5.1).
 *
 * Tags: self-describe tags (55799) are dropped; one further tag is reported
 * in the item (tagged/tag); a tag on a tag is rejected.  The LwM2M codecs
 * accept tag 1 (epoch time) on numbers and reject every other tag.
 *
 * Writer: appends to a struct lwm2m_buf with a sticky error, so a sequence
 * of puts is checked once at the end.  The encoders below have the shape
 * lwm2m_encode() dispatches to: they append to out (LWM2M_ENOTFOUND when
 * base is not in the tree).  Output is canonical:
 * shortest heads, definite lengths, and the shortest float (half, single,
 * double) that keeps the value exactly; NaN is written as half 0x7e00.
 */
#ifndef LWM2M_CBOR_H
#define LWM2M_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_err.h"
#include "lwm2m_value.h"

enum lwm2m_cbor_kind {
	LWM2M_CBOR_UINT = 0, /* major 0: u */
	LWM2M_CBOR_NEGINT,   /* major 1: the value is -1 - u */
	LWM2M_CBOR_BYTES,    /* major 2 */
	LWM2M_CBOR_TEXT,     /* major 3, valid UTF-8 */
	LWM2M_CBOR_ARRAY,    /* major 4 */
	LWM2M_CBOR_MAP,      /* major 5 */
	LWM2M_CBOR_FALSE,
	LWM2M_CBOR_TRUE,
	LWM2M_CBOR_NULL,
	LWM2M_CBOR_UNDEFINED,
	LWM2M_CBOR_SIMPLE, /* other simple values: u */
	LWM2M_CBOR_FLOAT,  /* half, single or double: f */
};

struct lwm2m_cbor_item {
	enum lwm2m_cbor_kind kind;
	size_t offset; /* first byte of the item (its tag, if any) */
	bool tagged;
	uint64_t tag;
	bool indefinite; /* ARRAY, MAP, BYTES, TEXT */
	uint64_t u;      /* UINT, NEGINT, SIMPLE; ARRAY/MAP: entries left */
	double f;        /* FLOAT */
	/* BYTES/TEXT: definite: the content; indefinite: the first chunk's
	 * head (use lwm2m_cbor_string_copy).  len is the content length. */
	const uint8_t *ptr;
	size_t len;
};

struct lwm2m_cbor_reader {
	const uint8_t *buf;
	size_t len, pos;
	uint32_t depth;
	const struct lwm2m_limits *limits;
	struct lwm2m_diag *diag;
};

/* lwm2m_cbor_reader_init prepares r to read buf[0..len) (borrowed).  limits
 * NULL means lwm2m_limits_default; diag may be NULL.  LWM2M_ELIMIT when len
 * is over limits->max_input_len. */
lwm2m_err lwm2m_cbor_reader_init(struct lwm2m_cbor_reader *r,
                                 const uint8_t *buf, size_t len,
                                 const struct lwm2m_limits *limits,
                                 struct lwm2m_diag *diag);

/* lwm2m_cbor_read reads the next data item into ret_item.  Strings come
 * whole (all chunks checked); for arrays and maps only the head is read and
 * the depth grows by one: walk them with lwm2m_cbor_next().  LWM2M_EPROTO or
 * LWM2M_ELIMIT with diag on malformed input. */
lwm2m_err lwm2m_cbor_read(struct lwm2m_cbor_reader *r,
                          struct lwm2m_cbor_item *ret_item);

/* lwm2m_cbor_next steps through the array or map `c` (an item returned by
 * lwm2m_cbor_read, updated in place): *ret_more is true when one more
 * element (for a map: one key/value pair) follows, false when the container
 * ended (its break consumed, depth back to the container's level). */
lwm2m_err lwm2m_cbor_next(struct lwm2m_cbor_reader *r,
                          struct lwm2m_cbor_item *c, bool *ret_more);

/* lwm2m_cbor_skip skips what is left of item (the elements of an array or
 * map, recursively); a no-op for other kinds. */
lwm2m_err lwm2m_cbor_skip(struct lwm2m_cbor_reader *r,
                          struct lwm2m_cbor_item *item);

/* lwm2m_cbor_finish fails with LWM2M_EPROTO when bytes follow the item. */
lwm2m_err lwm2m_cbor_finish(struct lwm2m_cbor_reader *r);

/* lwm2m_cbor_fail records offset and a message in r's diag and returns err;
 * the codecs built on the reader use it for their own rules. */
lwm2m_err lwm2m_cbor_fail(struct lwm2m_cbor_reader *r, lwm2m_err err,
                          size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* lwm2m_cbor_validate checks that buf holds exactly one well-formed item. */
lwm2m_err lwm2m_cbor_validate(const uint8_t *buf, size_t len,
                              const struct lwm2m_limits *limits,
                              struct lwm2m_diag *diag);

/* lwm2m_cbor_string_copy writes the item->len content bytes of a BYTES or
 * TEXT item (definite or chunked) to dst. */
void lwm2m_cbor_string_copy(const struct lwm2m_cbor_item *item, uint8_t *dst);

/* lwm2m_cbor_string_flat returns the content of a BYTES or TEXT item as one
 * contiguous run: the input itself, or a copy in tree's arena for chunked
 * strings.  NULL when out of memory. */
const uint8_t *lwm2m_cbor_string_flat(const struct lwm2m_cbor_item *item,
                                      struct lwm2m_tree *tree);

/* lwm2m_cbor_item_value converts a scalar item into an LwM2M value:
 * unsigned -> INTEGER (UNSIGNED above INT64_MAX), negative -> INTEGER,
 * float -> FLOAT, bool -> BOOLEAN, text -> STRING, bytes -> OPAQUE, tag 1
 * on an integer (or integral float) -> TIME.  Byte values point into the
 * input or into tree's arena.  LWM2M_EPROTO for containers, null,
 * undefined, other simple values, other tags and out-of-range integers. */
lwm2m_err lwm2m_cbor_item_value(struct lwm2m_cbor_reader *r,
                                const struct lwm2m_cbor_item *item,
                                struct lwm2m_tree *tree,
                                struct lwm2m_value *ret_value);

/* lwm2m__cbor_set (internal to the CBOR codecs) stores value at path with
 * lwm2m_tree_set and turns its failures into diag messages at offset. */
lwm2m_err lwm2m__cbor_set(struct lwm2m_cbor_reader *r, struct lwm2m_tree *tree,
                          const struct lwm2m_path *path,
                          const struct lwm2m_value *value, size_t offset);

struct lwm2m_cbor_writer {
	struct lwm2m_buf *out; /* borrowed */
	lwm2m_err err;         /* sticky: the first failure */
};

/* lwm2m_cbor_writer_init starts a writer appending to out (borrowed; the
 * caller owns and frees out's data, see lwm2m_buf_fini). */
void lwm2m_cbor_writer_init(struct lwm2m_cbor_writer *w, struct lwm2m_buf *out);

/* Canonical puts; each records LWM2M_ENOMEM in w->err on failure and does
 * nothing once w->err is set: check w->err after the last put. */
void lwm2m_cbor_put_uint(struct lwm2m_cbor_writer *w, uint64_t v);
void lwm2m_cbor_put_int(struct lwm2m_cbor_writer *w, int64_t v);
void lwm2m_cbor_put_negint(struct lwm2m_cbor_writer *w, uint64_t n); /* -1-n */
void lwm2m_cbor_put_bytes(struct lwm2m_cbor_writer *w, const void *p,
                          size_t len);
void lwm2m_cbor_put_text(struct lwm2m_cbor_writer *w, const char *p,
                         size_t len);
void lwm2m_cbor_put_array(struct lwm2m_cbor_writer *w, uint64_t n);
void lwm2m_cbor_put_map(struct lwm2m_cbor_writer *w, uint64_t n);
void lwm2m_cbor_put_tag(struct lwm2m_cbor_writer *w, uint64_t tag);
void lwm2m_cbor_put_bool(struct lwm2m_cbor_writer *w, bool v);
void lwm2m_cbor_put_float(struct lwm2m_cbor_writer *w, double v);

/* lwm2m_cbor_put_value writes an LwM2M value the way
 * lwm2m_cbor_item_value reads it back: TIME as tag 1 + integer, OBJLNK as
 * text "oid:iid", CORELNK and STRING as text, OPAQUE and RAW as bytes.
 * LWM2M_EINVAL in w->err for LWM2M_TYPE_NONE. */
void lwm2m_cbor_put_value(struct lwm2m_cbor_writer *w,
                          const struct lwm2m_value *v);

/* ---- CBOR single value (format 60) ---------------------------------------
 * lwm2m_cbor_value_decode reads one CBOR scalar as the value of the
 * resource or resource instance at base (length 3 or 4, else LWM2M_EINVAL).
 * lwm2m_cbor_value_encode writes the value at base; LWM2M_EINVAL when base
 * is not a resource or resource instance with a value. */
lwm2m_err lwm2m_cbor_value_decode(const uint8_t *buf, size_t len,
                                  const struct lwm2m_path *base,
                                  struct lwm2m_tree *tree,
                                  struct lwm2m_diag *diag);
lwm2m_err lwm2m_cbor_value_encode(const struct lwm2m_tree *tree,
                                  const struct lwm2m_path *base,
                                  struct lwm2m_buf *out);

/* ---- SenML CBOR (format 112, RFC 8428 + LwM2M 1.1) ------------------------
 * An array of record maps with integer labels bn -2, bt -3, n 0, v 2, vs 3,
 * vb 4, t 6, vd 8 and the text label "vlo" (object link "oid:iid").
 * Labels bver -1, bu -4, u 1 and ut 7 are checked for type and ignored, as
 * are unknown text labels; sum/base-value labels (-5, -6, 5), other
 * integer labels and text labels ending in '_' are rejected.  Names
 * (bn + n) must be LwM2M paths of length 3 or 4 at or below base.  Values:
 * v integer -> INTEGER (UNSIGNED above INT64_MAX), v float -> FLOAT,
 * vs -> STRING, vb -> BOOLEAN, vd -> OPAQUE, vlo -> OBJLNK.
 * Times (bt + t) are not part of the value tree: the tree decoder rejects
 * two records for one path; lwm2m_senml_cbor_parse gives every record with
 * its time to a callback (e.g. for Send with historical values). */
typedef lwm2m_err (*lwm2m_senml_record_cb)(void *ctx,
                                           const struct lwm2m_path *path,
                                           const struct lwm2m_value *value,
                                           double time, size_t offset);

/* lwm2m_senml_cbor_parse calls cb for each record in order; byte values
 * point into buf or into tree's arena (used only for chunked strings).  An
 * error returned by cb stops the parse and is returned (diag names the
 * record).  Records without a value are LWM2M_EPROTO. */
lwm2m_err lwm2m_senml_cbor_parse(const uint8_t *buf, size_t len,
                                 const struct lwm2m_path *base,
                                 struct lwm2m_tree *tree,
                                 lwm2m_senml_record_cb cb, void *ctx,
                                 struct lwm2m_diag *diag);

lwm2m_err lwm2m_senml_cbor_decode(const uint8_t *buf, size_t len,
                                  const struct lwm2m_path *base,
                                  struct lwm2m_tree *tree,
                                  struct lwm2m_diag *diag);

/* lwm2m_senml_cbor_decode_paths: the SenML CBOR half of
 * lwm2m_senml_decode_paths (lwm2m_value.h), same contract. */
lwm2m_err lwm2m_senml_cbor_decode_paths(const uint8_t *buf, size_t len,
                                        struct lwm2m_tree *scratch,
                                        struct lwm2m_path *ret_paths,
                                        size_t max_paths, size_t *ret_n,
                                        struct lwm2m_diag *diag);

/* lwm2m_senml_cbor_encode writes one record per value at or below base, the
 * first one carrying bn (the base path, with a trailing '/' when the base
 * node has children), appended to out.  Numbers, TIME (seconds) included,
 * go in v; STRING and CORELNK in vs; BOOLEAN in vb; OPAQUE and RAW in vd;
 * OBJLNK in "vlo".  Nodes without a value (empty objects, instances or
 * multiple resources) produce no record.  LWM2M_ENOTFOUND when base is
 * not in tree, LWM2M_EINVAL for a resource without a value. */
lwm2m_err lwm2m_senml_cbor_encode(const struct lwm2m_tree *tree,
                                  const struct lwm2m_path *base,
                                  struct lwm2m_buf *out);

/* lwm2m_senml_cbor_encode_paths writes name-only records, the body of a
 * Read-Composite / Observe-Composite FETCH: [{0: "/3/0/1"}, ...]. */
lwm2m_err lwm2m_senml_cbor_encode_paths(const struct lwm2m_path *paths,
                                        size_t n, struct lwm2m_buf *out);

/* ---- LwM2M CBOR (format 11544, LwM2M 1.2 Core 7.4.6) ----------------------
 * Nested maps from the root: keys are an id (unsigned, 0..65534) or a
 * non-empty array of ids standing for several levels at once; a value is a
 * map (one level down) or a scalar (the value of the resource or resource
 * instance at the path so far, read with lwm2m_cbor_item_value).  An empty
 * map creates the node at its path (object, instance or multiple
 * resource).  Paths must not exceed 4 ids, leaves must be at length 3 or
 * 4 and every leaf must lie at or below base.
 * The encoder writes the base path as the first key (an id, or an array of
 * ids when base has more than one), then one map level per id below it:
 * {[3, 0]: {0: "OMA", 7: {0: 3800, 1: 5000}}} for base /3/0; from the root
 * it writes {3: {0: {...}}}.  LWM2M_ENOTFOUND when base is not in tree,
 * LWM2M_EINVAL for a resource without a value. */
lwm2m_err lwm2m_lwcbor_decode(const uint8_t *buf, size_t len,
                              const struct lwm2m_path *base,
                              struct lwm2m_tree *tree, struct lwm2m_diag *diag);
lwm2m_err lwm2m_lwcbor_encode(const struct lwm2m_tree *tree,
                              const struct lwm2m_path *base,
                              struct lwm2m_buf *out);

#endif
