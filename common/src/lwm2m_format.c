/* lwm2m_format.c - choosing the content format to ask a device for. */
#include <string.h>

#include "lwm2m_format.h"

#define USED_LEGACY_TLV (1u << 0)
#define USED_LEGACY_JSON (1u << 1)
#define USED_LWM2M_CBOR (1u << 2)

struct pref {
	const enum lwm2m_format *fmts;
	size_t n;
};

static const enum lwm2m_format multi_11[] = {
    LWM2M_FMT_SENML_CBOR, LWM2M_FMT_SENML_JSON, LWM2M_FMT_LWM2M_CBOR,
    LWM2M_FMT_TLV,        LWM2M_FMT_LWM2M_JSON,
};
static const enum lwm2m_format single_11[] = {
    LWM2M_FMT_CBOR, LWM2M_FMT_SENML_CBOR, LWM2M_FMT_SENML_JSON,
    LWM2M_FMT_TEXT, LWM2M_FMT_TLV,        LWM2M_FMT_LWM2M_CBOR,
};
static const enum lwm2m_format root_11[] = {
    LWM2M_FMT_SENML_CBOR,
    LWM2M_FMT_SENML_JSON,
};
static const enum lwm2m_format multi_10[] = {
    LWM2M_FMT_TLV,
    LWM2M_FMT_LWM2M_JSON,
};
static const enum lwm2m_format single_10[] = {
    LWM2M_FMT_TLV,
    LWM2M_FMT_TEXT,
};

#define PREF(a) ((struct pref){(a), sizeof(a) / sizeof((a)[0])})

/* parse_uint reads a decimal number up to limit from s[*i..len). */
static bool
parse_uint(const char *s, size_t len, size_t *i, unsigned limit, unsigned *ret)
{
	unsigned v = 0;
	size_t start = *i;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9' && *i - start < 5) {
		v = v * 10 + (unsigned)(s[*i] - '0');
		(*i)++;
	}
	*ret = v;
	return *i > start && v <= limit;
}

static lwm2m_err
parse_version(const char *s, size_t len, struct lwm2m_format_caps *caps)
{
	size_t i = 0;
	unsigned major, minor;

	if (s == NULL || len == 0) {
		caps->major = 1;
		caps->minor = 0;
		return LWM2M_OK;
	}
	if (!parse_uint(s, len, &i, 9, &major) || i >= len || s[i++] != '.' ||
	    !parse_uint(s, len, &i, 9, &minor) || i != len || major == 0) {
		return LWM2M_EPROTO;
	}
	caps->major = (uint8_t)major;
	caps->minor = (uint8_t)minor;
	return LWM2M_OK;
}

static lwm2m_err
parse_ct(const char *s, size_t len, struct lwm2m_format_caps *caps)
{
	size_t i = 0;
	unsigned fmt;

	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	while (i < len) {
		if (s[i] == ' ') {
			i++;
			continue;
		}
		if (!parse_uint(s, len, &i, 65535, &fmt) ||
		    (i < len && s[i] != ' ')) {
			return LWM2M_EPROTO;
		}
		if (caps->n_ct == LWM2M_FORMAT_MAX_CT) {
			return LWM2M_ELIMIT;
		}
		caps->ct[caps->n_ct++] = (uint16_t)fmt;
	}
	return LWM2M_OK;
}

lwm2m_err
lwm2m_format_caps_init(struct lwm2m_format_caps *ret_caps, const char *version,
                       size_t version_len, const char *ct, size_t ct_len)
{
	struct lwm2m_format_caps caps;
	lwm2m_err err;

	memset(&caps, 0, sizeof(caps));
	err = parse_version(version, version_len, &caps);
	if (err == LWM2M_OK && ct != NULL) {
		err = parse_ct(ct, ct_len, &caps);
	}
	if (err == LWM2M_OK) {
		*ret_caps = caps;
	}
	return err;
}

static uint32_t
used_bit(unsigned fmt)
{
	switch (fmt) {
	case LWM2M_FMT_LEGACY_TLV:
		return USED_LEGACY_TLV;
	case LWM2M_FMT_LEGACY_JSON:
		return USED_LEGACY_JSON;
	case LWM2M_FMT_LWM2M_CBOR:
		return USED_LWM2M_CBOR;
	default:
		return 0;
	}
}

void
lwm2m_format_note(struct lwm2m_format_caps *caps, unsigned fmt)
{
	caps->used |= used_bit(fmt);
}

bool
lwm2m_format_advertised(const struct lwm2m_format_caps *caps, unsigned fmt)
{
	for (uint8_t i = 0; i < caps->n_ct; i++) {
		if (caps->ct[i] == fmt) {
			return true;
		}
	}
	return false;
}

/* known is true when the device advertised or used fmt. */
static bool
known(const struct lwm2m_format_caps *caps, unsigned fmt)
{
	return lwm2m_format_advertised(caps, fmt) ||
	       (caps->used & used_bit(fmt)) != 0;
}

static void
add(enum lwm2m_format *out, size_t *n, size_t max, enum lwm2m_format fmt)
{
	for (size_t i = 0; i < *n; i++) {
		if (out[i] == fmt) {
			return;
		}
	}
	if (*n < max) {
		out[(*n)++] = fmt;
	}
}

/* add_with_legacy adds fmt, preceded by its legacy twin when known. */
static void
add_with_legacy(const struct lwm2m_format_caps *caps, enum lwm2m_format *out,
                size_t *n, size_t max, enum lwm2m_format fmt)
{
	if (fmt == LWM2M_FMT_TLV && known(caps, LWM2M_FMT_LEGACY_TLV)) {
		add(out, n, max, LWM2M_FMT_LEGACY_TLV);
	}
	if (fmt == LWM2M_FMT_LWM2M_JSON && known(caps, LWM2M_FMT_LEGACY_JSON)) {
		add(out, n, max, LWM2M_FMT_LEGACY_JSON);
	}
	add(out, n, max, fmt);
}

static struct pref
pick_pref(const struct lwm2m_format_caps *caps, const struct lwm2m_path *path,
          bool single_value)
{
	bool v11 = caps->major > 1 || caps->minor >= 1;
	bool single = path->len == 4 || (path->len == 3 && single_value);

	if (path->len == 0) {
		return v11 ? PREF(root_11) : (struct pref){NULL, 0};
	}
	if (single) {
		return v11 ? PREF(single_11) : PREF(single_10);
	}
	return v11 ? PREF(multi_11) : PREF(multi_10);
}

size_t
lwm2m_format_candidates(const struct lwm2m_format_caps *caps,
                        const struct lwm2m_path *path, bool single_value,
                        enum lwm2m_format *out, size_t max)
{
	struct pref p = pick_pref(caps, path, single_value);
	size_t n = 0;

	for (size_t i = 0; i < p.n; i++) {
		if (lwm2m_format_advertised(caps, p.fmts[i]) ||
		    (p.fmts[i] == LWM2M_FMT_TLV &&
		     lwm2m_format_advertised(caps, LWM2M_FMT_LEGACY_TLV)) ||
		    (p.fmts[i] == LWM2M_FMT_LWM2M_JSON &&
		     lwm2m_format_advertised(caps, LWM2M_FMT_LEGACY_JSON))) {
			add_with_legacy(caps, out, &n, max, p.fmts[i]);
		}
	}
	for (size_t i = 0; i < p.n; i++) {
		if (p.fmts[i] != LWM2M_FMT_LWM2M_CBOR ||
		    known(caps, LWM2M_FMT_LWM2M_CBOR)) {
			add_with_legacy(caps, out, &n, max, p.fmts[i]);
		}
	}
	return n;
}

lwm2m_err
lwm2m_format_choose(const struct lwm2m_format_caps *caps,
                    const struct lwm2m_path *path, bool single_value,
                    enum lwm2m_format *ret_fmt)
{
	return lwm2m_format_next(caps, path, single_value, NULL, 0, ret_fmt);
}

static bool
refused_has(const enum lwm2m_format *refused, size_t n, enum lwm2m_format f)
{
	for (size_t i = 0; i < n; i++) {
		if (refused[i] == f) {
			return true;
		}
	}
	return false;
}

lwm2m_err
lwm2m_format_next(const struct lwm2m_format_caps *caps,
                  const struct lwm2m_path *path, bool single_value,
                  const enum lwm2m_format *refused, size_t n_refused,
                  enum lwm2m_format *ret_fmt)
{
	enum lwm2m_format cand[LWM2M_FORMAT_MAX_CAND];
	size_t n = lwm2m_format_candidates(caps, path, single_value, cand,
	                                   LWM2M_FORMAT_MAX_CAND);

	for (size_t i = 0; i < n; i++) {
		if (!refused_has(refused, n_refused, cand[i])) {
			*ret_fmt = cand[i];
			return LWM2M_OK;
		}
	}
	return LWM2M_ENOTFOUND;
}

bool
lwm2m_format_refused(uint8_t coap_code)
{
	return coap_code == ((4 << 5) | 6) || coap_code == ((4 << 5) | 15);
}
