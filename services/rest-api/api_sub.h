/* api_sub.h - subscription bodies and records of the REST API (spec 6.1,
 * 6.3, 6.4); the handlers are in api_subscriptions.c, the pure parsing in
 * api_subbody.c.  Any thread may call these functions (they touch no
 * shared state). */
#ifndef API_SUB_H
#define API_SUB_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "api.h"
#include "lwm2m_delivery.h"
#include "lwm2m_err.h"
#include "lwm2m_id.h"

#define API_SUB_TYPE_MAX 32      /* "ClientConnectionExpired" + NUL fits */
#define API_SUB_ATTR_MAX 32      /* characters of one attribute value */
#define API_SUB_PROPERTY_MAX 128 /* Property as given */
#define API_SUB_ORG_MAX 10000    /* subscriptions per organisation */

enum api_sub_attr {
	API_SUB_PMIN = 0,
	API_SUB_PMAX,
	API_SUB_STEP,
	API_SUB_LT,
	API_SUB_GT,
	API_SUB_N_ATTRS
};

/* What a POST or PUT body says (spec 6.1); absent members stay empty. */
struct api_sub_body {
	char type[API_SUB_TYPE_MAX]; /* canonical SubscriptionType or "" */
	char *url;                   /* NULL when absent */
	char *accept;                /* AcceptContentType, NULL when absent */
	char *property;              /* PropertyID or SerialisationName */
	char attrs[API_SUB_N_ATTRS][API_SUB_ATTR_MAX + 1]; /* "" unset */
	char client[LWM2M_ID_SIZE]; /* from a Links rel="object" href, "" */
	char def[LWM2M_ID_SIZE];
	long inst; /* -1 when absent */
};

/* A stored subscription (LWM2M_KEY_SUB, fields LWM2M_SF_*). */
struct api_sub_rec {
	char id[LWM2M_ID_SIZE];
	long long org;
	char type[API_SUB_TYPE_MAX];
	char client[LWM2M_ID_SIZE];
	char def[LWM2M_ID_SIZE];
	char obj[8], inst[8], prop[8]; /* decimal, "" when unset */
	char propname[API_SUB_PROPERTY_MAX + 1];
	char url[LWM2M_DELIVERY_URL_MAX + 1];
	char accept[LWM2M_DELIVERY_CT_MAX + 1];
	char attrs[API_SUB_N_ATTRS][API_SUB_ATTR_MAX + 1];
	long long created;
};

/* api_sub_type_canonical returns the canonical spelling of a
 * SubscriptionType given in any case, or NULL when unknown. */
const char *api_sub_type_canonical(const char *text);

/* api_sub_attr_name returns the REST member ("Pmin", "Step"...) of a. */
const char *api_sub_attr_name(enum api_sub_attr a);

/* api_sub_attr_field returns the Redis field (LWM2M_SF_PMIN...) of a. */
const char *api_sub_attr_field(enum api_sub_attr a);

/* api_sub_decimal_ok is true for a plain decimal ("-12.50", "3"; no
 * exponent, at most API_SUB_ATTR_MAX characters); integer: digits only;
 * negative: a leading '-' is allowed. */
bool api_sub_decimal_ok(const char *text, bool integer, bool negative);

/* api_sub_body_parse reads body into ret (zeroed first; free with
 * api_sub_body_fini even on failure).  Checks, in order: SubscriptionType
 * known, Url http(s) and within LWM2M_DELIVERY_URL_MAX, AcceptContentType,
 * Property, Attributes (Pmin/Pmax integers >= 0, Step >= 0, LessThan and
 * GreaterThan decimals, numbers or numeric strings), Links rel="object".
 * Presence of type and Url is checked by the caller (PUT needs neither).
 * LWM2M_EPROTO with diag (size bytes) naming the problem. */
lwm2m_err api_sub_body_parse(const struct api_body *body,
                             struct api_sub_body *ret, char *diag, size_t size);

/* api_sub_body_fini frees the strings of b; NULL-safe. */
void api_sub_body_fini(struct api_sub_body *b);

/* api_sub_href_target fills client, def and inst of b (only those still
 * unset) from the clients/<x>, objecttypes/<y>, instances/<z> segments of
 * href.  LWM2M_EPROTO (diag) for an invalid id in a segment. */
lwm2m_err api_sub_href_target(const char *href, struct api_sub_body *b,
                              char *diag, size_t size);

/* api_sub_rec_parse reads an HGETALL reply of LWM2M_KEY_SUB for id into
 * ret.  LWM2M_ENOTFOUND for an empty reply, LWM2M_EPROTO for a record
 * without a valid org or type, LWM2M_ELIMIT for an oversized field. */
lwm2m_err api_sub_rec_parse(const char *id, const redisReply *reply,
                            struct api_sub_rec *ret);

/* api_sub_fingerprint writes the duplicate key of rec (type, client,
 * definition, instance, property, lower-case Url; spec 6.3) into a new
 * malloc()ed string; NULL when out of memory. */
char *api_sub_fingerprint(const struct api_sub_rec *rec);

#endif
