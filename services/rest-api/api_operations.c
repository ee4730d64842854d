/* api_operations.c - GET /clients/{clientID}/operations/{operationID}: the
 * state of a device operation that was queued for a sleeping device
 * (api_devops.h).  Pending: 200 {"Status": "pending"}; done: exactly what
 * the synchronous request would have answered; the record lives one hour
 * (LWM2M_KEY_OP). */
#include "api_devops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_id.h"
#include "lwm2m_keys.h"
#include "lwm2m_loop.h"

#define MT_OPERATION "application/vnd.lwds.operation"

void
api_operation_reply_pending(struct api_req *r, int status, const char *path)
{
	struct api_doc *doc = api_req_doc(r, "Operation");

	if (doc == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	api_doc_string(doc, "Status", "pending");
	api_doc_links_begin(doc);
	api_doc_link(doc, "self", path, NULL);
	api_doc_end(doc);
	api_reply_doc(r, status, doc, MT_OPERATION);
}

static const char *
field(const redisReply *reply, size_t i)
{
	if (i >= reply->elements ||
	    reply->element[i]->type != REDIS_REPLY_STRING) {
		return NULL;
	}
	return reply->element[i]->str;
}

/* HMGET client org ctx reply of the operation. */
static void
on_operation(struct api_req *r, redisReply *reply, void *arg)
{
	const char *client = arg;
	const char *org, *ctx;
	char id[LWM2M_ID_SIZE];
	long long org_id;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 4) {
		api_reply_error(r, 503, "storage unavailable");
		return;
	}
	org = field(reply, 1);
	ctx = field(reply, 2);
	if (field(reply, 0) == NULL || strcmp(field(reply, 0), client) != 0 ||
	    org == NULL ||
	    lwm2m_parse_int(org, 0, INT64_MAX, &org_id) != LWM2M_OK ||
	    org_id != r->org || ctx == NULL) {
		api_reply_error(r, 404,
		                "no operation of this client at this URL "
		                "(results are kept for an hour)");
		return;
	}
	if (field(reply, 3) == NULL) {
		api_operation_reply_pending(r, 200, r->path);
		return;
	}
	snprintf(id, sizeof id, "%s", client);
	free(r->data); /* client: the resumed request state replaces it */
	r->data = NULL;
	api_instances_resume(r, id, ctx,
	                     (const uint8_t *)reply->element[3]->str,
	                     reply->element[3]->len);
}

void
api_operation_get(struct api_req *r)
{
	char *client = calloc(1, LWM2M_ID_SIZE);
	char opid[LWM2M_ID_SIZE], key[64];

	if (client == NULL) {
		api_reply_error(r, 503, "out of memory");
		return;
	}
	r->data = client; /* freed with r */
	if (api_req_param(r, "clientID", client, LWM2M_ID_SIZE) == NULL ||
	    !lwm2m_id_valid(client, strlen(client)) ||
	    api_req_param(r, "operationID", opid, sizeof opid) == NULL ||
	    !lwm2m_id_valid(opid, strlen(opid))) {
		api_reply_error(r, 404, "invalid client or operation id");
		return;
	}
	snprintf(key, sizeof key, LWM2M_KEY_OP, opid);
	if (api_redis_cmd(r, on_operation, client,
	                  "HMGET %s " LWM2M_OF_CLIENT " " LWM2M_OF_ORG
	                  " " LWM2M_OF_CTX " " LWM2M_OF_REPLY,
	                  key) != LWM2M_OK) {
		api_reply_error(r, 503, "storage unavailable");
	}
}
