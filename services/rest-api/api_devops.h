/* api_devops.h - device operations of the REST API (docs/api-device-
 * operations.md): the engine that takes one LwM2M operation of a request to
 * the gateway owning the client and maps what comes back onto HTTP, and
 * the handlers built on it (instances, resources, metrics, operations).
 *
 * Routing: the client's hash (LWM2M_KEY_CLIENT) names its gateway
 * (LWM2M_CF_GATEWAY), whose hash holds the rpc URL ("rpc") and whose alive
 * key must exist; the request goes out with lwm2m_rpc_call and kind
 * LWM2M_ENV_RPC_DEVICE (payload: lwm2m_devop.h).
 *
 * Status mapping: device 4.00 -> 400, 4.01/4.03 -> 403, 4.04 -> 404,
 * 4.05 -> 405, 4.06 -> 406, 4.13 -> 413, 4.15 -> 415, other 4.xx -> 400,
 * 5.xx -> 502; device timeout -> 504 (body names the client and the
 * operation); client not registered -> 404; gateway down, restarting or
 * busy -> 503 with Retry-After; a sleeping queue-mode device -> 202 with
 * the Location of /clients/{id}/operations/{opid} once the caller's wait
 * (LWDS_QUEUE_WAIT_MS, or "Prefer: wait=<seconds>" / "respond-async")
 * ran out, or 504 when the caller sent "Prefer: handling=strict".
 *
 * Everything runs on the loop thread.
 */
#ifndef API_DEVOPS_H
#define API_DEVOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "lwm2m_devop.h"

#define API_DEVOP_DEFAULT_WAIT_MS 10000    /* LWDS_QUEUE_WAIT_MS */
#define API_DEVOP_MAX_WAIT_MS 300000       /* longest Prefer: wait */
#define API_DEVOP_RETRY_AFTER "5"          /* seconds, with 503 */

/* The 404 of a device operation on a client that is unknown, of another
 * organisation or not registered: one text for all, so that it tells
 * another organisation nothing. */
#define API_MSG_NOT_REGISTERED                                                 \
	"the client is not a registered client of this organisation"

/* Called with a reply whose status is OK and whose CoAP code is 2.xx; the
 * reply (and its payload) is valid only during the call.  The callback
 * answers r. */
typedef void (*api_devop_done)(struct api_req *r,
                               const struct lwm2m_devop_reply *reply,
                               void *arg);

/* api_devop_call checks that req->client is a registered client of r's
 * organisation, fills req's wait_ms, opid and queue flag from the request's
 * Prefer header and the configuration, sends it to the owning gateway and
 * calls done(r, reply, arg) on success.  Every other outcome is answered
 * here (see the header comment) and done is not called.  ctx (may be NULL,
 * at most 95 chars) is stored with a queued operation for
 * api_instances_resume.  req and its borrowed payload may be freed when
 * the call returns. */
void api_devop_call(struct api_req *r, struct lwm2m_devop_req *req,
                    const char *ctx, api_devop_done done, void *arg);

/* api_devop_resume answers r from the stored result rep of a queued
 * operation exactly as api_devop_call would have (done on 2.xx). */
void api_devop_resume(struct api_req *r, const char *client, const char *what,
                      const struct lwm2m_devop_reply *rep, api_devop_done done,
                      void *arg);

/* api_operation_reply_pending answers status (202 when queued, 200 on a
 * later GET) with {"Status": "pending", "Links": [self: path]}. */
void api_operation_reply_pending(struct api_req *r, int status,
                                 const char *path);

/* api_instances_resume renders the stored result (reply, encoded devop
 * reply bytes, copied) of a queued operation of client whose api_devop_call
 * context was ctx: the representation the synchronous call would have
 * returned.  Later steps of the request (e.g. executes after a write) go to
 * the device. */
void api_instances_resume(struct api_req *r, const char *client,
                          const char *ctx, const uint8_t *reply, size_t len);

/* api_devop_wait_parse reads a Prefer header value (may be NULL): "wait=N"
 * (seconds, capped at API_DEVOP_MAX_WAIT_MS), "respond-async" (wait 0) and
 * "handling=strict" (never queue).  *ret_wait_ms keeps dflt when no wait is
 * given.  Returns false for a malformed wait value. */
bool api_devop_wait_parse(const char *prefer, uint32_t dflt,
                          uint32_t *ret_wait_ms, bool *ret_strict);

/* api_devop_http_status maps a device's CoAP response code (class << 5 |
 * detail, 4.xx or 5.xx) onto an HTTP status. */
int api_devop_http_status(uint8_t code);

/* api_devop_path_text writes "/o/i/r" for the first path of req into buf. */
const char *api_devop_path_text(const struct lwm2m_devop_req *req, char *buf,
                                size_t size);

/* ---- handlers (api_routes.c) -------------------------------------------- */
void api_instances_list(struct api_req *r);
void api_instances_create(struct api_req *r);
void api_instance_get(struct api_req *r);
void api_instance_put(struct api_req *r);
void api_instance_delete(struct api_req *r);
void api_resource_get(struct api_req *r);
void api_resource_put(struct api_req *r);
void api_resource_execute(struct api_req *r);
void api_discover_object(struct api_req *r);
void api_discover_instance(struct api_req *r);
void api_discover_resource(struct api_req *r);
void api_attributes_object(struct api_req *r);
void api_attributes_instance(struct api_req *r);
void api_attributes_resource(struct api_req *r);
void api_composite_read(struct api_req *r);
void api_composite_write(struct api_req *r);
void api_metrics_list(struct api_req *r);
void api_metric_get(struct api_req *r);
void api_client_metrics_list(struct api_req *r);
void api_client_metric_get(struct api_req *r);
void api_operation_get(struct api_req *r);

#endif
