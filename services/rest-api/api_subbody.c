/* api_subbody.c - subscription bodies (JSON or XML) and stored records:
 * parsing and validation only, no I/O (spec 6.1, 6.3). */
#define _GNU_SOURCE /* strcasestr, asprintf */
#include "api_sub.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lwm2m_keys.h"
#include "lwm2m_loop.h"

static const char *const types[] = {
    "Observation",   "ClientConnected",         "ClientDisconnected",
    "ClientUpdated", "ClientConnectionExpired",
};

static const char *const attr_names[API_SUB_N_ATTRS] = {
    "Pmin", "Pmax", "Step", "LessThan", "GreaterThan",
};

static const char *const attr_fields[API_SUB_N_ATTRS] = {
    LWM2M_SF_PMIN, LWM2M_SF_PMAX, LWM2M_SF_STEP, LWM2M_SF_LT, LWM2M_SF_GT,
};

const char *
api_sub_type_canonical(const char *text)
{
	for (size_t i = 0; text != NULL && i < sizeof types / sizeof *types;
	     i++) {
		if (strcasecmp(text, types[i]) == 0) {
			return types[i];
		}
	}
	return NULL;
}

const char *
api_sub_attr_name(enum api_sub_attr a)
{
	return a < API_SUB_N_ATTRS ? attr_names[a] : "";
}

const char *
api_sub_attr_field(enum api_sub_attr a)
{
	return a < API_SUB_N_ATTRS ? attr_fields[a] : "";
}

bool
api_sub_decimal_ok(const char *text, bool integer, bool negative)
{
	const char *p = text;
	size_t digits = 0, frac = 0;

	if (text == NULL || strlen(text) > API_SUB_ATTR_MAX) {
		return false;
	}
	if (*p == '-' && negative) {
		p++;
	}
	for (; isdigit((unsigned char)*p); p++) {
		digits++;
	}
	if (*p == '.' && !integer) {
		for (p++; isdigit((unsigned char)*p); p++) {
			frac++;
		}
		if (frac == 0) {
			return false;
		}
	}
	return digits > 0 && *p == '\0';
}

/* ---- a member of the body, JSON or XML ---------------------------------- */

struct member {
	yajl_val json;
	xmlNodePtr xml;
};

static bool
member_get(const struct member *parent, const char *name, struct member *ret)
{
	yajl_val o = parent->json;

	*ret = (struct member){NULL, NULL};
	if (o != NULL && YAJL_IS_OBJECT(o)) {
		for (size_t i = 0; i < o->u.object.len; i++) {
			if (strcasecmp(o->u.object.keys[i], name) == 0) {
				ret->json = o->u.object.values[i];
				return true;
			}
		}
	}
	for (xmlNodePtr n = parent->xml ? parent->xml->children : NULL;
	     n != NULL; n = n->next) {
		if (n->type == XML_ELEMENT_NODE &&
		    strcasecmp((const char *)n->name, name) == 0) {
			ret->xml = n;
			return true;
		}
	}
	return false;
}

/* The text of a string or number member (JSON numbers verbatim), or of an
 * XML element with surrounding blanks removed; malloc()ed.  NULL for other
 * JSON types. */
static char *
member_text(const struct member *m)
{
	xmlChar *raw;
	char *copy;
	size_t start = 0, end;

	if (m->json != NULL) {
		if (YAJL_IS_STRING(m->json)) {
			return strdup(m->json->u.string);
		}
		return YAJL_IS_NUMBER(m->json) ? strdup(m->json->u.number.r)
		                               : NULL;
	}
	raw = xmlNodeGetContent(m->xml);
	if (raw == NULL) {
		return strdup("");
	}
	end = strlen((const char *)raw);
	while (start < end && isspace(raw[start])) {
		start++;
	}
	while (end > start && isspace(raw[end - 1])) {
		end--;
	}
	copy = strndup((const char *)raw + start, end - start);
	xmlFree(raw);
	return copy;
}

/* Reads string member name into *ret (NULL when absent); EPROTO when it is
 * not a string/number or longer than max. */
static lwm2m_err
text_member(const struct member *root, const char *name, size_t max, char **ret,
            char *diag, size_t size)
{
	struct member m;

	*ret = NULL;
	if (!member_get(root, name, &m)) {
		return LWM2M_OK;
	}
	*ret = member_text(&m);
	if (*ret == NULL) {
		return lwm2m_errf(LWM2M_EPROTO, diag, size,
		                  "%s must be a string", name);
	}
	if (strlen(*ret) > max) {
		return lwm2m_errf(LWM2M_EPROTO, diag, size,
		                  "%s is longer than %zu bytes", name, max);
	}
	return LWM2M_OK;
}

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= ' ' || *s == 0x7f) {
			return false;
		}
	}
	return true;
}

static lwm2m_err
check_url(const char *url, char *diag, size_t size)
{
	if (url == NULL) {
		return LWM2M_OK;
	}
	if ((strncasecmp(url, "http://", 7) != 0 &&
	     strncasecmp(url, "https://", 8) != 0) ||
	    !printable(url) || strlen(url) < 9) {
		return lwm2m_errf(LWM2M_EPROTO, diag, size,
		                  "Url must be an http:// or https:// "
		                  "URL without blanks");
	}
	return LWM2M_OK;
}

/* ---- Attributes --------------------------------------------------------- */

static lwm2m_err
read_attr(const struct member *attrs, enum api_sub_attr a,
          struct api_sub_body *b, char *diag, size_t size)
{
	bool integer = a == API_SUB_PMIN || a == API_SUB_PMAX;
	bool negative = a == API_SUB_LT || a == API_SUB_GT;
	struct member m;
	char *text;

	if (!member_get(attrs, attr_names[a], &m)) {
		return LWM2M_OK;
	}
	text = member_text(&m);
	if (text == NULL || !api_sub_decimal_ok(text, integer, negative) ||
	    (integer && strlen(text) > 9)) {
		free(text);
		return lwm2m_errf(LWM2M_EPROTO, diag, size,
		                  "Attributes.%s must be %s", attr_names[a],
		                  integer ? "an integer of 0..999999999 seconds"
		                  : negative
		                      ? "a plain decimal number"
		                      : "a plain non-negative decimal number");
	}
	snprintf(b->attrs[a], sizeof b->attrs[a], "%s", text);
	free(text);
	return LWM2M_OK;
}

static lwm2m_err
read_attrs(const struct member *root, struct api_sub_body *b, char *diag,
           size_t size)
{
	struct member attrs;
	lwm2m_err err = LWM2M_OK;

	if (!member_get(root, "Attributes", &attrs)) {
		return LWM2M_OK;
	}
	if (attrs.json != NULL && !YAJL_IS_OBJECT(attrs.json) &&
	    !YAJL_IS_NULL(attrs.json)) {
		return lwm2m_errf(LWM2M_EPROTO, diag, size,
		                  "Attributes must be an object");
	}
	for (int a = 0; err == LWM2M_OK && a < API_SUB_N_ATTRS; a++) {
		err = read_attr(&attrs, (enum api_sub_attr)a, b, diag, size);
	}
	return err;
}

/* ---- Links rel="object" ------------------------------------------------- */

/* Copies the segment after "<name>/" in href into buf; false when absent. */
static bool
href_segment(const char *href, const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);
	const char *p = href;

	while ((p = strcasestr(p, name)) != NULL) {
		if ((p == href || p[-1] == '/') && p[n] == '/') {
			size_t len = strcspn(p + n + 1, "/?#");

			if (len == 0 || len >= size) {
				buf[0] = '\0';
				return true;
			}
			memcpy(buf, p + n + 1, len);
			buf[len] = '\0';
			return true;
		}
		p += n;
	}
	return false;
}

lwm2m_err
api_sub_href_target(const char *href, struct api_sub_body *b, char *diag,
                    size_t size)
{
	char seg[32];
	long long inst;

	if (b->client[0] == '\0' &&
	    href_segment(href, "clients", seg, sizeof seg)) {
		if (!lwm2m_id_valid(seg, strlen(seg))) {
			return lwm2m_errf(LWM2M_EPROTO, diag, size,
			                  "invalid client id in the "
			                  "object link");
		}
		memcpy(b->client, seg, LWM2M_ID_SIZE);
	}
	if (b->def[0] == '\0' &&
	    href_segment(href, "objecttypes", seg, sizeof seg)) {
		if (!lwm2m_id_valid(seg, strlen(seg))) {
			return lwm2m_errf(LWM2M_EPROTO, diag, size,
			                  "invalid definition id in the "
			                  "object link");
		}
		memcpy(b->def, seg, LWM2M_ID_SIZE);
	}
	if (b->inst < 0 && href_segment(href, "instances", seg, sizeof seg)) {
		if (lwm2m_parse_int(seg, 0, 65534, &inst) != LWM2M_OK) {
			return lwm2m_errf(LWM2M_EPROTO, diag, size,
			                  "invalid instance id in the "
			                  "object link");
		}
		b->inst = (long)inst;
	}
	return LWM2M_OK;
}

static char *
link_attr(const struct member *link, const char *name)
{
	struct member m;
	xmlChar *v;
	char *copy;

	if (link->json != NULL) {
		return member_get(link, name, &m) ? member_text(&m) : NULL;
	}
	v = xmlGetProp(link->xml, (const xmlChar *)name);
	copy = v != NULL ? strdup((const char *)v) : NULL;
	xmlFree(v);
	return copy;
}

static lwm2m_err
read_link(const struct member *link, struct api_sub_body *b, char *diag,
          size_t size)
{
	char *rel = link_attr(link, "rel");
	char *href = link_attr(link, "href");
	lwm2m_err err = LWM2M_OK;

	if (rel != NULL && strcasecmp(rel, "object") == 0) {
		err = href == NULL || strlen(href) > 2048
		          ? lwm2m_errf(LWM2M_EPROTO, diag, size,
		                       "the object link needs an href")
		          : api_sub_href_target(href, b, diag, size);
	}
	free(rel);
	free(href);
	return err;
}

static lwm2m_err
read_links(const struct member *root, struct api_sub_body *b, char *diag,
           size_t size)
{
	struct member links, link;
	lwm2m_err err = LWM2M_OK;

	if (!member_get(root, "Links", &links)) {
		return LWM2M_OK;
	}
	if (links.json != NULL) {
		if (!YAJL_IS_ARRAY(links.json)) {
			return lwm2m_errf(LWM2M_EPROTO, diag, size,
			                  "Links must be an array");
		}
		for (size_t i = 0;
		     err == LWM2M_OK && i < links.json->u.array.len; i++) {
			link = (struct member){links.json->u.array.values[i],
			                       NULL};
			err = read_link(&link, b, diag, size);
		}
		return err;
	}
	for (xmlNodePtr n = links.xml->children; err == LWM2M_OK && n != NULL;
	     n = n->next) {
		if (n->type == XML_ELEMENT_NODE) {
			link = (struct member){NULL, n};
			err = read_link(&link, b, diag, size);
		}
	}
	return err;
}

/* ---- the body ----------------------------------------------------------- */

static lwm2m_err
read_type(const struct member *root, struct api_sub_body *b, char *diag,
          size_t size)
{
	char *text;
	const char *canon;
	lwm2m_err err =
	    text_member(root, "SubscriptionType", 64, &text, diag, size);

	if (err != LWM2M_OK || text == NULL) {
		free(text);
		return err;
	}
	canon = api_sub_type_canonical(text);
	free(text);
	if (canon == NULL) {
		return lwm2m_errf(LWM2M_EPROTO, diag, size,
		                  "SubscriptionType must be one of "
		                  "Observation, ClientConnected, "
		                  "ClientDisconnected, ClientUpdated, "
		                  "ClientConnectionExpired");
	}
	snprintf(b->type, sizeof b->type, "%s", canon);
	return LWM2M_OK;
}

lwm2m_err
api_sub_body_parse(const struct api_body *body, struct api_sub_body *ret,
                   char *diag, size_t size)
{
	struct member root = {NULL, NULL};
	lwm2m_err err;

	*ret = (struct api_sub_body){.inst = -1};
	if (body->fmt == API_FMT_JSON) {
		root.json = body->json;
		if (!YAJL_IS_OBJECT(body->json)) {
			return lwm2m_errf(LWM2M_EPROTO, diag, size,
			                  "the body must be an object");
		}
	} else {
		root.xml = xmlDocGetRootElement(body->xml);
	}
	err = read_type(&root, ret, diag, size);
	err = err ? err
	          : text_member(&root, "Url", LWM2M_DELIVERY_URL_MAX, &ret->url,
	                        diag, size);
	err = err ? err : check_url(ret->url, diag, size);
	err =
	    err ? err
	        : text_member(&root, "AcceptContentType", LWM2M_DELIVERY_CT_MAX,
	                      &ret->accept, diag, size);
	if (err == LWM2M_OK && ret->accept != NULL &&
	    (ret->accept[0] == '\0' || strchr(ret->accept, '\n') != NULL ||
	     strchr(ret->accept, '\r') != NULL)) {
		err = lwm2m_errf(LWM2M_EPROTO, diag, size,
		                 "AcceptContentType must be a media type");
	}
	err = err ? err
	          : text_member(&root, "Property", API_SUB_PROPERTY_MAX,
	                        &ret->property, diag, size);
	err = err ? err : read_attrs(&root, ret, diag, size);
	return err ? err : read_links(&root, ret, diag, size);
}

void
api_sub_body_fini(struct api_sub_body *b)
{
	if (b == NULL) {
		return;
	}
	free(b->url);
	free(b->accept);
	free(b->property);
	b->url = b->accept = b->property = NULL;
}

/* ---- stored records ----------------------------------------------------- */

static lwm2m_err
copy_field(char *dst, size_t size, const redisReply *v)
{
	if (v->len >= size) {
		return LWM2M_ELIMIT;
	}
	memcpy(dst, v->str, v->len);
	dst[v->len] = '\0';
	return LWM2M_OK;
}

/* The destination buffer of field name in rec, or NULL for unknown and
 * specially parsed fields. */
static char *
rec_field(struct api_sub_rec *rec, const char *name, size_t *ret_size)
{
	struct {
		const char *name;
		char *buf;
		size_t size;
	} map[] = {
	    {LWM2M_SF_TYPE, rec->type, sizeof rec->type},
	    {LWM2M_SF_CLIENT, rec->client, sizeof rec->client},
	    {LWM2M_SF_DEFINITION, rec->def, sizeof rec->def},
	    {LWM2M_SF_OBJECT, rec->obj, sizeof rec->obj},
	    {LWM2M_SF_INSTANCE, rec->inst, sizeof rec->inst},
	    {LWM2M_SF_PROPERTY, rec->prop, sizeof rec->prop},
	    {LWM2M_SF_PROPERTY_NAME, rec->propname, sizeof rec->propname},
	    {LWM2M_SF_URL, rec->url, sizeof rec->url},
	    {LWM2M_SF_ACCEPT, rec->accept, sizeof rec->accept},
	};

	for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
		if (strcmp(name, map[i].name) == 0) {
			*ret_size = map[i].size;
			return map[i].buf;
		}
	}
	for (int a = 0; a < API_SUB_N_ATTRS; a++) {
		if (strcmp(name, attr_fields[a]) == 0) {
			*ret_size = sizeof rec->attrs[a];
			return rec->attrs[a];
		}
	}
	return NULL;
}

static lwm2m_err
rec_set(struct api_sub_rec *rec, const redisReply *k, const redisReply *v)
{
	char num[24];
	size_t size;
	char *dst;

	if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
		return LWM2M_EPROTO;
	}
	if (strcmp(k->str, LWM2M_SF_ORG) == 0 ||
	    strcmp(k->str, LWM2M_SF_CREATED) == 0) {
		long long *out = k->str[0] == 'o' ? &rec->org : &rec->created;

		if (copy_field(num, sizeof num, v) != LWM2M_OK ||
		    lwm2m_parse_int(num, 0, INT64_MAX, out) != LWM2M_OK) {
			return LWM2M_EPROTO;
		}
		return LWM2M_OK;
	}
	dst = rec_field(rec, k->str, &size);
	return dst != NULL ? copy_field(dst, size, v) : LWM2M_OK;
}

lwm2m_err
api_sub_rec_parse(const char *id, const redisReply *reply,
                  struct api_sub_rec *ret)
{
	struct api_sub_rec *rec;
	lwm2m_err err = LWM2M_OK;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements == 0) {
		return LWM2M_ENOTFOUND;
	}
	rec = calloc(1, sizeof *rec);
	if (rec == NULL) {
		return LWM2M_ENOMEM;
	}
	rec->org = -1;
	snprintf(rec->id, sizeof rec->id, "%s", id);
	for (size_t i = 0; err == LWM2M_OK && i + 1 < reply->elements; i += 2) {
		err = rec_set(rec, reply->element[i], reply->element[i + 1]);
	}
	if (err == LWM2M_OK &&
	    (rec->org < 0 || api_sub_type_canonical(rec->type) == NULL)) {
		err = LWM2M_EPROTO;
	}
	if (err == LWM2M_OK) {
		*ret = *rec;
	}
	free(rec);
	return err;
}

char *
api_sub_fingerprint(const struct api_sub_rec *rec)
{
	size_t len = strlen(rec->url);
	char *url = malloc(len + 1), *fp = NULL;

	if (url == NULL) {
		return NULL;
	}
	for (size_t i = 0; i <= len; i++) {
		url[i] = (char)tolower((unsigned char)rec->url[i]);
	}
	if (asprintf(&fp, "%s|%s|%s|%s|%s|%s", rec->type, rec->client, rec->def,
	             rec->inst, rec->prop, url) < 0) {
		fp = NULL;
	}
	free(url);
	return fp;
}
