/* api_root.c - GET / (spec 1.10), GET /versions (1.11) and
 * GET /configuration (9.6). */
#include "api.h"

#include <evhtp/evhtp.h>
#include <hiredis/hiredis.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <yajl/yajl_version.h>

#ifndef LWDS_VERSION
#define LWDS_VERSION "0.0.0"
#endif

struct root_link {
	const char *rel, *path, *type;
};

static const struct root_link root_links[] = {
	{"authenticate", "/oauth/token", API_MT_OAUTHTOKEN},
	{"accesskeys", "/accesskeys", API_MT_ACCESSKEYS},
	{"configuration", "/configuration", API_MT_CONFIGURATION},
	{"clients", "/clients", API_MT_CLIENTS},
	{"identities", "/identities", API_MT_IDENTITIES},
	{"objectdefinitions", "/objecttypes/definitions",
	 API_MT_OBJECTDEFINITIONS},
	{"subscriptions", "/subscriptions", API_MT_SUBSCRIPTIONS},
	{"metrics", "/metrics", API_MT_METRICS},
	{"versions", "/versions", API_MT_VERSIONS},
};

void
api_root_get(struct api_req *r)
{
	struct api_doc *doc = api_req_doc(r, "APIEntryPoint");
	size_t n = sizeof root_links / sizeof root_links[0];

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_links_begin(doc);
	for (size_t i = 0; i < n; i++) {
		const struct root_link *l = &root_links[i];

		/* Without a valid token: authenticate and versions only. */
		if (r->authed || i == 0 || i == n - 1) {
			api_doc_link(doc, l->rel, l->path, l->type);
		}
	}
	api_doc_end(doc);
	api_reply_doc(r, 200, doc, API_MT_ENTRYPOINT);
}

static void
component(struct api_doc *doc, const char *name, const char *version)
{
	api_doc_object_begin(doc, NULL);
	api_doc_string(doc, "Name", name);
	api_doc_string(doc, "Version", version);
	api_doc_end(doc);
}

void
api_versions_get(struct api_req *r)
{
	struct api_doc *doc = api_req_doc(r, "Versions");
	char hiredis[32], yajl[32];

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	snprintf(hiredis, sizeof hiredis, "%d.%d.%d", HIREDIS_MAJOR,
	         HIREDIS_MINOR, HIREDIS_PATCH);
	snprintf(yajl, sizeof yajl, "%d.%d.%d", YAJL_MAJOR, YAJL_MINOR,
	         YAJL_MICRO);
	api_doc_string(doc, "BuildNumber", LWDS_VERSION);
	/* Sorted by name. */
	api_doc_array_begin(doc, "Components", "VersionComponent");
	component(doc, "hiredis", hiredis);
	component(doc, "libevent", event_get_version());
	component(doc, "libevhtp", EVHTP_VERSION);
	component(doc, "lwds-rest-api", LWDS_VERSION);
	component(doc, "openssl", OPENSSL_VERSION_STR);
	component(doc, "yajl", yajl);
	api_doc_end(doc);
	api_reply_doc(r, 200, doc, API_MT_VERSIONS);
}

/* GET /configuration (9.6): the link to the bootstrap server's address. */
void
api_configuration_get(struct api_req *r)
{
	struct api_doc *doc = api_req_doc(r, "Configuration");

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_links_begin(doc);
	api_doc_link(doc, "bootstrap", "/configuration/bootstrap",
	             API_MT_BOOTSTRAP);
	api_doc_end(doc);
	api_reply_doc(r, 200, doc, API_MT_CONFIGURATION);
}

/* GET /configuration/bootstrap: lwds has no LwM2M bootstrap server, which
 * the spec answers with 404 ("no bootstrap server has announced itself"). */
void
api_bootstrap_get(struct api_req *r)
{
	api_reply_error(r, 404,
	                "lwds has no LwM2M bootstrap server: configure devices "
	                "with the LwM2M server address directly (CoAP port of "
	                "lwds-coap-gw)");
}
