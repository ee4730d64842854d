/* lwm2m_codec_internal.h - helpers shared by the codecs of common/, not for
 * services.  Text scalars (text/plain, JSON strings) are parsed here so every
 * codec accepts exactly the same syntax. */
#ifndef LWM2M_CODEC_INTERNAL_H
#define LWM2M_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_value.h"

/* lwm2m__parse_i64 parses an optional '-' and 1..19 decimal digits, nothing
 * else, into ret; false on syntax error or overflow. */
bool lwm2m__parse_i64(const char *s, size_t len, int64_t *ret);

/* lwm2m__parse_u64 parses 1..20 decimal digits into ret; false otherwise. */
bool lwm2m__parse_u64(const char *s, size_t len, uint64_t *ret);

/* lwm2m__parse_double parses a JSON-syntax number (no nan/inf/hex, at most
 * 64 characters) into ret; false otherwise. */
bool lwm2m__parse_double(const char *s, size_t len, double *ret);

/* lwm2m__parse_objlnk parses "oid:iid" (each 0..65535) into ret. */
bool lwm2m__parse_objlnk(const char *s, size_t len, struct lwm2m_value *ret);

/* lwm2m__format_double writes the shortest "%.*g" form of f that reads back
 * to the same double, with ".0" added when it would look like an integer
 * and force_point is true; returns the length (buf holds >= 32 bytes).
 * Non-finite values are not representable: returns -1. */
int lwm2m__format_double(double f, char *buf, size_t size, bool force_point);

/* lwm2m__utf8_bad returns the index of the first byte of p that is not
 * part of valid UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF), or len when all of it is. */
size_t lwm2m__utf8_bad(const uint8_t *p, size_t len);

/* lwm2m__put_number appends the digits of an INTEGER, TIME, UNSIGNED or
 * FLOAT value (floats as lwm2m__format_double writes them, with a decimal
 * point when force_point); LWM2M_EINVAL, nothing appended, for any other
 * type or a float that is not finite. */
lwm2m_err lwm2m__put_number(struct lwm2m_buf *out, const struct lwm2m_value *v,
                            bool force_point);

/* lwm2m__format_scalar writes the text/plain form of v into out (numbers in
 * decimal, booleans 0/1, objlnk "o:i", opaque in standard base64, strings
 * as they are).  LWM2M_EINVAL for NONE or a non-finite float. */
lwm2m_err lwm2m__format_scalar(const struct lwm2m_value *v,
                               struct lwm2m_buf *out);

/* lwm2m__tree_leaves calls cb for each node with a value at or below node,
 * in path order, stopping at the first error, which it returns.  A RESOURCE
 * or RESOURCE_INSTANCE without a value is LWM2M_EINVAL. */
typedef lwm2m_err (*lwm2m__leaf_cb)(void *ctx, const struct lwm2m_node *leaf);
lwm2m_err lwm2m__tree_leaves(const struct lwm2m_node *node, lwm2m__leaf_cb cb,
                             void *ctx);

/* lwm2m__relative_name writes the ids of leaf below base ("6/0"; "" when
 * leaf is at base) and returns its length; buf holds >= 32 bytes. */
size_t lwm2m__relative_name(const struct lwm2m_node *leaf, uint8_t base_len,
                            char *buf);

/* lwm2m__base_name writes base as "/3/0/" (or "/3/0/1" when the node at base
 * is itself a leaf, "/" for the root); returns its length. */
size_t lwm2m__base_name(const struct lwm2m_tree *tree,
                        const struct lwm2m_path *base, char *buf);

/* lwm2m__json_put_string appends s as a JSON string literal, quotes
 * included, escaping what JSON requires. */
lwm2m_err lwm2m__json_put_string(struct lwm2m_buf *out, const uint8_t *s,
                                 size_t len);

/* lwm2m__json_put_number appends the member "v":<number> for an INTEGER,
 * TIME, UNSIGNED or FLOAT value (floats with a decimal point, shortest form
 * that reads back); LWM2M_EINVAL for any other type.  Both JSON codecs use
 * the "v" label for numbers. */
lwm2m_err lwm2m__json_put_number(struct lwm2m_buf *out,
                                 const struct lwm2m_value *v);

/* A pull reader over a JSON text, used by the JSON codecs.  Strings are
 * unescaped into the tree's arena. */
struct lwm2m__json {
	const uint8_t *buf;
	size_t len, pos;
	uint32_t depth, max_depth;
	struct lwm2m_tree *tree;
	struct lwm2m_diag *diag;
};

enum lwm2m__json_kind {
	LWM2M__JSON_STRING,
	LWM2M__JSON_NUMBER,
	LWM2M__JSON_TRUE,
	LWM2M__JSON_FALSE,
	LWM2M__JSON_NULL,
	LWM2M__JSON_OBJECT,
	LWM2M__JSON_ARRAY,
	LWM2M__JSON_END, /* end of input */
	LWM2M__JSON_BAD,
};

/* lwm2m__json_peek skips white space and says what comes next. */
enum lwm2m__json_kind lwm2m__json_peek(struct lwm2m__json *j);

/* lwm2m__json_expect skips white space and consumes c, or fails with
 * LWM2M_EPROTO naming the offset. */
lwm2m_err lwm2m__json_expect(struct lwm2m__json *j, char c);

/* lwm2m__json_more is called in an array or object after '[' / '{' or a
 * member: it consumes ',' and returns true when another member follows,
 * consumes the closing `close` and returns false at the end.  Errors are
 * reported through *ret_err (LWM2M_OK otherwise). */
bool lwm2m__json_more(struct lwm2m__json *j, char close, bool first,
                      lwm2m_err *ret_err);

/* lwm2m__json_string reads a string into the arena (NUL-terminated, length
 * in ret_len). */
lwm2m_err lwm2m__json_string(struct lwm2m__json *j, const char **ret_s,
                             size_t *ret_len);

/* lwm2m__json_number reads a number into ret_v: INTEGER when it has no
 * fraction or exponent and fits int64, UNSIGNED when it only fits uint64,
 * FLOAT otherwise. */
lwm2m_err lwm2m__json_number(struct lwm2m__json *j, struct lwm2m_value *ret_v);

/* lwm2m__json_bool reads true or false. */
lwm2m_err lwm2m__json_bool(struct lwm2m__json *j, bool *ret_b);

/* lwm2m__json_text_value reads a string as a STRING value, or as an
 * OBJLNK ("oid:iid") when objlnk is true. */
lwm2m_err lwm2m__json_text_value(struct lwm2m__json *j, struct lwm2m_value *v,
                                 bool objlnk);

/* lwm2m__json_store resolves the record name bn + n (a path of length 3 or
 * 4 at or below base) and sets v there; at is the record's offset. */
lwm2m_err lwm2m__json_store(struct lwm2m__json *j, size_t at, const char *bn,
                            size_t bn_len, const char *n, size_t n_len,
                            const struct lwm2m_value *v,
                            const struct lwm2m_path *base);

/* lwm2m__json_skip skips any value, bounded by max_depth. */
lwm2m_err lwm2m__json_skip(struct lwm2m__json *j);

/* lwm2m__json_enter/leave count nesting for the depth limit. */
lwm2m_err lwm2m__json_enter(struct lwm2m__json *j);
void lwm2m__json_leave(struct lwm2m__json *j);

/* Per-format codecs dispatched by lwm2m_decode/lwm2m_encode; same contracts
 * as those two.  Encoders append to out. */
lwm2m_err lwm2m_text_decode(const uint8_t *buf, size_t len,
                            const struct lwm2m_path *base,
                            struct lwm2m_tree *tree, struct lwm2m_diag *diag);
lwm2m_err lwm2m_text_encode(const struct lwm2m_tree *tree,
                            const struct lwm2m_path *base,
                            struct lwm2m_buf *out);
lwm2m_err lwm2m_opaque_decode(const uint8_t *buf, size_t len,
                              const struct lwm2m_path *base,
                              struct lwm2m_tree *tree, struct lwm2m_diag *diag);
lwm2m_err lwm2m_opaque_encode(const struct lwm2m_tree *tree,
                              const struct lwm2m_path *base,
                              struct lwm2m_buf *out);
lwm2m_err lwm2m_tlv_decode(const uint8_t *buf, size_t len,
                           const struct lwm2m_path *base,
                           struct lwm2m_tree *tree, struct lwm2m_diag *diag);
lwm2m_err lwm2m_tlv_encode(const struct lwm2m_tree *tree,
                           const struct lwm2m_path *base,
                           struct lwm2m_buf *out);
lwm2m_err lwm2m_senml_json_decode(const uint8_t *buf, size_t len,
                                  const struct lwm2m_path *base,
                                  struct lwm2m_tree *tree,
                                  struct lwm2m_diag *diag);
lwm2m_err lwm2m_senml_json_encode(const struct lwm2m_tree *tree,
                                  const struct lwm2m_path *base,
                                  struct lwm2m_buf *out);
lwm2m_err lwm2m_senml_json_decode_paths(const uint8_t *buf, size_t len,
                                        struct lwm2m_tree *scratch,
                                        struct lwm2m_path *ret_paths,
                                        size_t max_paths, size_t *ret_n,
                                        struct lwm2m_diag *diag);
lwm2m_err lwm2m_lwjson_decode(const uint8_t *buf, size_t len,
                              const struct lwm2m_path *base,
                              struct lwm2m_tree *tree, struct lwm2m_diag *diag);
lwm2m_err lwm2m_lwjson_encode(const struct lwm2m_tree *tree,
                              const struct lwm2m_path *base,
                              struct lwm2m_buf *out);

#endif
