/* lwm2m_json.c - the small strict JSON reader and string writer shared by
 * SenML JSON and LwM2M JSON (RFC 8259 syntax; no extensions). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lwm2m_codec_internal.h"
#include "lwm2m_id.h"
#include "lwm2m_value.h"

static lwm2m_err
fail(struct lwm2m__json *j, const char *what)
{
	lwm2m_diag_set(j->diag, j->pos, "JSON: %s", what);
	return LWM2M_EPROTO;
}

static void
skip_ws(struct lwm2m__json *j)
{
	while (j->pos < j->len &&
	       (j->buf[j->pos] == ' ' || j->buf[j->pos] == '\t' ||
	        j->buf[j->pos] == '\n' || j->buf[j->pos] == '\r')) {
		j->pos++;
	}
}

enum lwm2m__json_kind
lwm2m__json_peek(struct lwm2m__json *j)
{
	skip_ws(j);
	if (j->pos >= j->len) {
		return LWM2M__JSON_END;
	}
	switch (j->buf[j->pos]) {
	case '"':
		return LWM2M__JSON_STRING;
	case '{':
		return LWM2M__JSON_OBJECT;
	case '[':
		return LWM2M__JSON_ARRAY;
	case 't':
		return LWM2M__JSON_TRUE;
	case 'f':
		return LWM2M__JSON_FALSE;
	case 'n':
		return LWM2M__JSON_NULL;
	default:
		break;
	}
	if (j->buf[j->pos] == '-' ||
	    (j->buf[j->pos] >= '0' && j->buf[j->pos] <= '9')) {
		return LWM2M__JSON_NUMBER;
	}
	return LWM2M__JSON_BAD;
}

lwm2m_err
lwm2m__json_expect(struct lwm2m__json *j, char c)
{
	char what[32];

	skip_ws(j);
	if (j->pos >= j->len || j->buf[j->pos] != (uint8_t)c) {
		snprintf(what, sizeof(what), "expected '%c'", c);
		return fail(j, what);
	}
	j->pos++;
	return LWM2M_OK;
}

bool
lwm2m__json_more(struct lwm2m__json *j, char close, bool first,
                 lwm2m_err *ret_err)
{
	*ret_err = LWM2M_OK;
	skip_ws(j);
	if (j->pos < j->len && j->buf[j->pos] == (uint8_t)close) {
		j->pos++;
		return false;
	}
	if (!first) {
		*ret_err = lwm2m__json_expect(j, ',');
		if (*ret_err != LWM2M_OK) {
			return false;
		}
		skip_ws(j);
		if (j->pos < j->len && j->buf[j->pos] == (uint8_t)close) {
			*ret_err = fail(j, "trailing comma");
			return false;
		}
	}
	if (j->pos >= j->len) {
		*ret_err = fail(j, "unexpected end of input");
		return false;
	}
	return true;
}

lwm2m_err
lwm2m__json_enter(struct lwm2m__json *j)
{
	if (++j->depth > j->max_depth) {
		lwm2m_diag_set(j->diag, j->pos, "JSON: nesting deeper than %u",
		               (unsigned)j->max_depth);
		return LWM2M_ELIMIT;
	}
	return LWM2M_OK;
}

void
lwm2m__json_leave(struct lwm2m__json *j)
{
	j->depth--;
}

static int
hex4(const uint8_t *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		int d = lwm2m_hex_digit((char)p[i]);

		if (d < 0) {
			return -1;
		}
		v = v << 4 | d;
	}
	return v;
}

static size_t
put_utf8(uint8_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xC0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xE0 | cp >> 12);
		o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (uint8_t)(0xF0 | cp >> 18);
	o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* Reads the \uXXXX escape (or surrogate pair) at j->pos (just after the
 * backslash and 'u'); writes UTF-8 to o. */
static lwm2m_err
unicode_escape(struct lwm2m__json *j, uint8_t *o, size_t *ret_n)
{
	int hi, lo;

	if (j->len - j->pos < 4 || (hi = hex4(j->buf + j->pos)) < 0) {
		return fail(j, "bad \\u escape");
	}
	j->pos += 4;
	if (hi >= 0xDC00 && hi <= 0xDFFF) {
		return fail(j, "lone low surrogate");
	}
	if (hi >= 0xD800 && hi <= 0xDBFF) {
		if (j->len - j->pos < 6 || j->buf[j->pos] != '\\' ||
		    j->buf[j->pos + 1] != 'u' ||
		    (lo = hex4(j->buf + j->pos + 2)) < 0xDC00 || lo > 0xDFFF) {
			return fail(j, "high surrogate without low surrogate");
		}
		j->pos += 6;
		*ret_n = put_utf8(o, 0x10000 + (((uint32_t)hi - 0xD800) << 10) +
		                         ((uint32_t)lo - 0xDC00));
		return LWM2M_OK;
	}
	*ret_n = put_utf8(o, (uint32_t)hi);
	return LWM2M_OK;
}

static lwm2m_err
escape(struct lwm2m__json *j, uint8_t *o, size_t *ret_n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;

	if (j->pos >= j->len) {
		return fail(j, "string ends inside an escape");
	}
	if (j->buf[j->pos] == 'u') {
		j->pos++;
		return unicode_escape(j, o, ret_n);
	}
	hit = j->buf[j->pos] != '\0' ? strchr(from, j->buf[j->pos]) : NULL;
	if (hit == NULL) {
		return fail(j, "bad escape");
	}
	o[0] = (uint8_t)to[hit - from];
	*ret_n = 1;
	j->pos++;
	return LWM2M_OK;
}

/* Length of the raw string body at j->pos up to its closing quote, or
 * SIZE_MAX when the input ends first. */
static size_t
raw_span(const struct lwm2m__json *j)
{
	for (size_t i = j->pos; i < j->len; i++) {
		if (j->buf[i] == '"') {
			return i - j->pos;
		}
		if (j->buf[i] == '\\') {
			i++;
		}
	}
	return SIZE_MAX;
}

lwm2m_err
lwm2m__json_string(struct lwm2m__json *j, const char **ret_s, size_t *ret_len)
{
	size_t max = j->tree->limits->max_value_len, span, n = 0, k;
	uint8_t *out;
	lwm2m_err err;

	if ((err = lwm2m__json_expect(j, '"')) != LWM2M_OK) {
		return err;
	}
	span = raw_span(j);
	if (span == SIZE_MAX) {
		j->pos = j->len;
		return fail(j, "unterminated string");
	}
	/* Unescaping never grows the text: span bounds the output. */
	out = lwm2m_tree_alloc(j->tree, (span < max + 4 ? span : max + 4) + 1);
	if (out == NULL) {
		return LWM2M_ENOMEM;
	}
	while (j->buf[j->pos] != '"') {
		uint8_t c = j->buf[j->pos];

		if (n > max) {
			lwm2m_diag_set(j->diag, j->pos,
			               "JSON: string longer than "
			               "%zu bytes",
			               max);
			return LWM2M_ELIMIT;
		}
		if (c < 0x20) {
			return fail(j, "control character in string");
		}
		j->pos++;
		if (c != '\\') {
			out[n++] = c;
			continue;
		}
		if ((err = escape(j, out + n, &k)) != LWM2M_OK) {
			return err;
		}
		n += k;
	}
	if (n > max) {
		lwm2m_diag_set(j->diag, j->pos,
		               "JSON: string longer than %zu "
		               "bytes",
		               max);
		return LWM2M_ELIMIT;
	}
	j->pos++;
	out[n] = '\0';
	*ret_s = (const char *)out;
	*ret_len = n;
	return LWM2M_OK;
}

lwm2m_err
lwm2m__json_number(struct lwm2m__json *j, struct lwm2m_value *ret_v)
{
	size_t start, len;
	const char *s;
	bool integral = true;

	skip_ws(j);
	start = j->pos;
	while (j->pos < j->len && strchr("+-0123456789.eE", j->buf[j->pos]) &&
	       j->buf[j->pos] != '\0') {
		integral &=
		    j->buf[j->pos] != '.' && (j->buf[j->pos] | 0x20) != 'e';
		j->pos++;
	}
	s = (const char *)j->buf + start;
	len = j->pos - start;
	/* JSON forbids leading zeros ("01", "-01"). */
	if (len > 1 + (s[0] == '-') && s[s[0] == '-'] == '0' &&
	    s[1 + (s[0] == '-')] >= '0' && s[1 + (s[0] == '-')] <= '9') {
		j->pos = start;
		return fail(j, "number with a leading zero");
	}
	if (integral && lwm2m__parse_i64(s, len, &ret_v->v.i)) {
		ret_v->type = LWM2M_TYPE_INTEGER;
	} else if (integral && lwm2m__parse_u64(s, len, &ret_v->v.u)) {
		ret_v->type = LWM2M_TYPE_UNSIGNED;
	} else if (lwm2m__parse_double(s, len, &ret_v->v.f)) {
		ret_v->type = LWM2M_TYPE_FLOAT;
	} else {
		j->pos = start;
		return fail(j, "bad number");
	}
	return LWM2M_OK;
}

static lwm2m_err
literal(struct lwm2m__json *j, const char *word)
{
	size_t n = strlen(word);

	if (j->len - j->pos < n || memcmp(j->buf + j->pos, word, n) != 0) {
		return fail(j, "bad literal");
	}
	j->pos += n;
	return LWM2M_OK;
}

static lwm2m_err
skip_container(struct lwm2m__json *j, char close)
{
	const char *s;
	size_t n;
	bool first = true;
	lwm2m_err err;

	if ((err = lwm2m__json_enter(j)) != LWM2M_OK) {
		return err;
	}
	j->pos++;
	while (lwm2m__json_more(j, close, first, &err)) {
		first = false;
		if (close == '}' &&
		    ((err = lwm2m__json_string(j, &s, &n)) != LWM2M_OK ||
		     (err = lwm2m__json_expect(j, ':')) != LWM2M_OK)) {
			return err;
		}
		if ((err = lwm2m__json_skip(j)) != LWM2M_OK) {
			return err;
		}
	}
	lwm2m__json_leave(j);
	return err;
}

lwm2m_err
lwm2m__json_skip(struct lwm2m__json *j)
{
	struct lwm2m_value v;
	const char *s;
	size_t n;

	switch (lwm2m__json_peek(j)) {
	case LWM2M__JSON_STRING:
		return lwm2m__json_string(j, &s, &n);
	case LWM2M__JSON_NUMBER:
		return lwm2m__json_number(j, &v);
	case LWM2M__JSON_TRUE:
		return literal(j, "true");
	case LWM2M__JSON_FALSE:
		return literal(j, "false");
	case LWM2M__JSON_NULL:
		return literal(j, "null");
	case LWM2M__JSON_OBJECT:
		return skip_container(j, '}');
	case LWM2M__JSON_ARRAY:
		return skip_container(j, ']');
	case LWM2M__JSON_END:
		return fail(j, "unexpected end of input");
	case LWM2M__JSON_BAD:
		break;
	}
	return fail(j, "unexpected character");
}

lwm2m_err
lwm2m__json_bool(struct lwm2m__json *j, bool *ret_b)
{
	switch (lwm2m__json_peek(j)) {
	case LWM2M__JSON_TRUE:
		*ret_b = true;
		return literal(j, "true");
	case LWM2M__JSON_FALSE:
		*ret_b = false;
		return literal(j, "false");
	default:
		return fail(j, "expected true or false");
	}
}

lwm2m_err
lwm2m__json_put_string(struct lwm2m_buf *out, const uint8_t *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	lwm2m_err err = lwm2m_buf_append(out, "\"", 1);
	size_t run = 0;

	if (len == 0) {
		return err ? err : lwm2m_buf_append(out, "\"", 1);
	}

	for (size_t i = 0; i < len && err == LWM2M_OK; i++) {
		char esc[6] = {'\\', 'u', '0', '0', 0, 0};

		if (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\') {
			continue;
		}
		err = lwm2m_buf_append(out, s + run, i - run);
		run = i + 1;
		if (s[i] == '"' || s[i] == '\\') {
			esc[1] = (char)s[i];
			err = err ? err : lwm2m_buf_append(out, esc, 2);
		} else {
			esc[4] = hex[s[i] >> 4];
			esc[5] = hex[s[i] & 15];
			err = err ? err : lwm2m_buf_append(out, esc, 6);
		}
	}
	if (err == LWM2M_OK) {
		err = lwm2m_buf_append(out, s + run, len - run);
	}
	return err ? err : lwm2m_buf_append(out, "\"", 1);
}

lwm2m_err
lwm2m__json_text_value(struct lwm2m__json *j, struct lwm2m_value *v,
                       bool objlnk)
{
	const char *s;
	size_t len, at = j->pos;
	lwm2m_err err = lwm2m__json_string(j, &s, &len);

	if (err != LWM2M_OK) {
		return err;
	}
	if (objlnk) {
		if (!lwm2m__parse_objlnk(s, len, v)) {
			lwm2m_diag_set(j->diag, at,
			               "objlnk must be "
			               "\"oid:iid\" with ids up to 65535");
			return LWM2M_EPROTO;
		}
		return LWM2M_OK;
	}
	v->type = LWM2M_TYPE_STRING;
	v->v.bytes.ptr = (const uint8_t *)s;
	v->v.bytes.len = len;
	return LWM2M_OK;
}

#define NAME_MAX_LEN 64

lwm2m_err
lwm2m__json_store(struct lwm2m__json *j, size_t at, const char *bn,
                  size_t bn_len, const char *n, size_t n_len,
                  const struct lwm2m_value *v, const struct lwm2m_path *base)
{
	char name[NAME_MAX_LEN + 1], req[32];
	struct lwm2m_path p;
	lwm2m_err err;

	/* Without a base name, relative names (LwM2M 1.0 clients omit bn)
	 * are relative to the request path. */
	if (bn_len == 0 && (n_len == 0 || n[0] != '/') &&
	    lwm2m_path_format(base, req, sizeof(req) - 1) > 0) {
		bn_len = strlen(req);
		if (req[bn_len - 1] != '/') {
			req[bn_len++] = '/';
		}
		req[bn_len] = '\0';
		bn = req;
	}
	if (bn_len + n_len > NAME_MAX_LEN) {
		lwm2m_diag_set(j->diag, at,
		               "record name is too long for a path");
		return LWM2M_EPROTO;
	}
	memcpy(name, bn, bn_len);
	memcpy(name + bn_len, n, n_len);
	if (lwm2m_path_parse(name, bn_len + n_len, &p) != LWM2M_OK ||
	    (p.len != 3 && p.len != 4) || !lwm2m_path_is_prefix(base, &p)) {
		lwm2m_diag_set(j->diag, at,
		               "record name \"%.*s\" is not a "
		               "resource path at or below the request path",
		               (int)(bn_len + n_len), name);
		return LWM2M_EPROTO;
	}
	err = lwm2m_tree_set(j->tree, &p, v);
	if (err == LWM2M_EPROTO) {
		lwm2m_diag_set(j->diag, at,
		               "record name \"%.*s\" duplicates "
		               "or conflicts with another record",
		               (int)(bn_len + n_len), name);
	} else if (err == LWM2M_ELIMIT) {
		lwm2m_diag_set(j->diag, at, "too many records");
	}
	return err;
}

lwm2m_err
lwm2m__json_put_number(struct lwm2m_buf *out, const struct lwm2m_value *v)
{
	size_t mark = out->len;
	lwm2m_err err = lwm2m_buf_append(out, "\"v\":", 4);

	if (err == LWM2M_OK) {
		err = lwm2m__put_number(out, v, true);
	}
	if (err != LWM2M_OK) {
		out->len = mark;
	}
	return err;
}
