/* api_server.h - connection and header limits of the HTTP server
 * (api_server.c): how many connections are open at once, how many header
 * bytes one request may send, and the early answers that refuse a request
 * before its body is read. */
#ifndef API_SERVER_H
#define API_SERVER_H

#include <evhtp/evhtp.h>

#include "api.h"

#define API_MAX_HEADER_DEFAULT 16384
#define API_MAX_CONNS_DEFAULT 4096

/* api_server_accept is the post-accept work for conn: over
 * cfg.max_conns open connections it writes a 503 (plain HTTP only) and
 * returns EVHTP_RES_SERVUNAVAIL, which makes libevhtp close conn;
 * otherwise it counts conn until it closes and hooks the header count.
 * EVHTP_RES_FATAL when out of memory. */
evhtp_res api_server_accept(struct api_ctx *api, evhtp_connection_t *conn);

/* api_server_refuse answers ev at once with status (413, 431...) and an
 * error body (details: what was over which limit), pauses the request so
 * nothing more is read, and closes the connection once the answer is
 * sent.  Returns EVHTP_RES_PAUSE, for a parser hook to return. */
evhtp_res api_server_refuse(evhtp_request_t *ev, int status,
                            const char *details);

/* api_server_head_done is called by the on_headers hook of ev: its head
 * ended, so what follows until the next request is body, which the check
 * of the head's line lengths skips.  Loop thread only. */
void api_server_head_done(evhtp_request_t *ev);

/* api_server_hold is called by the request callback for ev when its
 * answer comes later: true when the connection now holds its further input
 * until api_server_release (no read interest is changed); false when ev was
 * not parsed from the connection's own read callback, and the caller
 * pauses it with evhtp_request_pause as libevhtp expects. */
bool api_server_hold(evhtp_request_t *ev);

/* api_server_answered is called by the request callback for ev when it
 * answered ev at once: when ev was parsed from the connection's own read
 * callback, libevhtp's parser stops after ev and the rest of the input is
 * parsed by that callback, one request at a time.  Loop thread only. */
void api_server_answered(evhtp_request_t *ev);

/* api_server_release ends the hold of api_server_hold once ev's answer is
 * in the output (after evhtp_send_reply): writes it in this loop iteration
 * on plain TCP, then lets the input that waited be parsed; resumes the
 * request instead if the hold had to become a pause.  Loop thread only. */
void api_server_release(evhtp_request_t *ev);

#endif
