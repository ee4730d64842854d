/* sim_client.c - the registration lifecycle of the simulated clients. */
#include "sim_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lwm2m_id.h"
#include "lwm2m_log.h"

#define SIM_LINKS_MAX 4096
#define SIM_RETRY_MIN_S 2
#define SIM_RETRY_MAX_S 60
#define SIM_STOP_WAIT_MS 5000
/* Sessions per libcoap context: libcoap walks all sessions of a context
 * each time it processes I/O, so contexts stay small. */
#define SIM_PER_CONTEXT 1000
#define SIM_SUMMARY_MAX 65536
/* Clients started per loop iteration when --rate is 0, so answers are
 * read while the storm goes on. */
#define SIM_START_BATCH 256

static void client_register(struct sim_client *c);
static void stop_more(struct sim_ctx *ctx);

/* ---- libcoap on the libevent loop ---------------------------------------- */

/* libcoap's epoll descriptor also carries its retransmission timer, so
 * reading it when readable is all it needs; the periodic call below only
 * covers what libcoap might not signal there. */
static void
on_coap(evutil_socket_t fd, short what, void *arg)
{
	struct sim_coap *cc = arg;

	coap_io_process(cc->coap, COAP_IO_NO_WAIT);
}

static void
on_coap_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sim_ctx *ctx = arg;

	for (unsigned i = 0; i < ctx->n_coaps; i++) {
		coap_io_process(ctx->coaps[i].coap, COAP_IO_NO_WAIT);
	}
}

/* ---- sessions ---------------------------------------------------------- */

static int
probe_fd(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd >= 0) {
		close(fd);
	}
	return fd;
}

/* find_fd returns the socket of session s, which libcoap just created at
 * or above the lowest free descriptor `from`, checked by its addresses. */
static int
find_fd(coap_session_t *s, int from)
{
	const coap_address_t *local = coap_session_get_addr_local(s);

	for (int fd = from; from >= 0 && fd < from + 8; fd++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;

		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
		    len == local->size &&
		    memcmp(&ss, &local->addr.sa, len) == 0) {
			return fd;
		}
	}
	return -1;
}

/* local_port picks the port of client c (sim_opts_local_port), or 0
 * (ephemeral) after a failed attempt. */
static uint16_t
local_port(const struct sim_client *c)
{
	if (c->retries > 0) {
		return 0;
	}
	return sim_opts_local_port(&c->ctx->opts, c->idx, c->ctx->n_coaps);
}

/* new_dtls_session opens the DTLS session of c with a PSK or a
 * certificate (--cert/--key, --ca to verify the server). */
static coap_session_t *
new_dtls_session(struct sim_client *c, const coap_address_t *local)
{
	const struct sim_opts *o = &c->ctx->opts;
	coap_dtls_cpsk_t psk;
	coap_dtls_pki_t pki;

	if (o->cert_file[0] == '\0') {
		memset(&psk, 0, sizeof psk);
		psk.version = COAP_DTLS_CPSK_SETUP_VERSION;
		psk.psk_info.identity.s = (const uint8_t *)o->psk_identity;
		psk.psk_info.identity.length = strlen(o->psk_identity);
		psk.psk_info.key.s = o->psk_key;
		psk.psk_info.key.length = o->psk_key_len;
		return coap_new_client_session_psk2(
		    c->cc->coap, local, &c->ctx->server, COAP_PROTO_DTLS, &psk);
	}
	memset(&pki, 0, sizeof pki);
	pki.version = COAP_DTLS_PKI_SETUP_VERSION;
	pki.verify_peer_cert = o->ca_file[0] != '\0';
	pki.check_common_ca = o->ca_file[0] != '\0';
	pki.cert_chain_validation = o->ca_file[0] != '\0';
	pki.cert_chain_verify_depth = 2;
	pki.allow_self_signed = o->ca_file[0] == '\0';
	pki.allow_expired_certs = o->ca_file[0] == '\0';
	pki.pki_key.key_type = COAP_PKI_KEY_PEM;
	pki.pki_key.key.pem.public_cert = o->cert_file;
	pki.pki_key.key.pem.private_key = o->key_file;
	pki.pki_key.key.pem.ca_file = o->ca_file[0] != '\0' ? o->ca_file : NULL;
	return coap_new_client_session_pki(c->cc->coap, local, &c->ctx->server,
	                                   COAP_PROTO_DTLS, &pki);
}

static lwm2m_err
client_session(struct sim_client *c)
{
	struct sim_ctx *ctx = c->ctx;
	coap_address_t local;
	uint32_t addr = 0;
	uint16_t port = local_port(c);
	bool bind_local = sim_opts_local_addr(&ctx->opts, c->idx, &addr);
	int from = probe_fd();

	coap_address_init(&local);
	local.size = sizeof local.addr.sin;
	local.addr.sin.sin_family = AF_INET;
	local.addr.sin.sin_addr.s_addr = htonl(addr);
	local.addr.sin.sin_port = htons(port);
	if (ctx->proto == COAP_PROTO_DTLS) {
		c->session = new_dtls_session(c, bind_local ? &local : NULL);
	} else {
		c->session = coap_new_client_session(
		    c->cc->coap, bind_local ? &local : NULL, &ctx->server,
		    COAP_PROTO_UDP);
	}
	if (c->session == NULL) {
		lwm2m_log(LWM2M_LOG_ERR,
		          "ep=\"%s\" cannot create a CoAP "
		          "session (file descriptors?)",
		          c->ep);
		return LWM2M_EIO;
	}
	coap_session_set_app_data(c->session, c);
	c->fd = find_fd(c->session, from);
	if (c->muted) {
		sim_client_mute(c, true);
	}
	return LWM2M_OK;
}

/* ---- transport: a libcoap session, or the shared sockets ---------------- */

coap_pdu_t *
sim_client_new_pdu(struct sim_client *c, coap_pdu_type_t type,
                   coap_pdu_code_t code)
{
	if (c->ctx->udp != NULL) {
		return sim_udp_new_pdu(c, type, code);
	}
	return c->session != NULL ? coap_new_pdu(type, code, c->session) : NULL;
}

bool
sim_client_send(struct sim_client *c, coap_pdu_t *pdu)
{
	if (c->ctx->udp != NULL) {
		return sim_udp_send(c, pdu);
	}
	if (c->session == NULL) {
		coap_delete_pdu(pdu);
		return false;
	}
	return coap_send(c->session, pdu) != COAP_INVALID_MID;
}

bool
sim_client_online(const struct sim_client *c)
{
	return c->ctx->udp != NULL || c->session != NULL;
}

static void
new_token(struct sim_client *c)
{
	if (c->ctx->udp != NULL) {
		sim_udp_new_token(c, c->token, &c->tkl);
	} else {
		coap_session_new_token(c->session, &c->tkl, c->token);
	}
}

/* ---- requests ------------------------------------------------------------ */

static void
release_payload(coap_session_t *s, void *p)
{
	free(p);
}

static void
add_query(coap_optlist_t **opts, const char *name, const char *value)
{
	char q[128];
	int n = snprintf(q, sizeof q, "%s=%s", name, value);

	coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_QUERY,
	                                           (size_t)n, (uint8_t *)q));
}

static void
add_location(coap_optlist_t **opts, const char *loc)
{
	const char *p = loc;

	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		coap_insert_optlist(opts,
		                    coap_new_optlist(COAP_OPTION_URI_PATH, n,
		                                     (const uint8_t *)p));
		p += n;
		p += *p == '/';
	}
}

static void
add_reg_queries(struct sim_client *c, coap_optlist_t **opts, bool first)
{
	const struct sim_opts *o = &c->ctx->opts;
	char b[16];

	if (first) {
		add_query(opts, "ep", c->ep);
		add_query(opts, "lwm2m", o->lwm2m_minor ? "1.1" : "1.0");
	}
	snprintf(b, sizeof b, "%u", o->lifetime);
	add_query(opts, "lt", b);
	snprintf(b, sizeof b, "%s%s", o->binding,
	         o->queue && o->lwm2m_minor == 0 ? "Q" : "");
	add_query(opts, "b", b);
	if (first && o->queue && o->lwm2m_minor > 0) {
		coap_insert_optlist(
		    opts,
		    coap_new_optlist(COAP_OPTION_URI_QUERY, 1, (uint8_t *)"Q"));
	}
}

static bool
add_links(struct sim_client *c, coap_pdu_t *pdu)
{
	const struct sim_opts *o = &c->ctx->opts;
	char *buf = malloc(SIM_LINKS_MAX);
	bool ok;

	if (buf == NULL ||
	    sim_model_links(c->model, o->formats,
	                    o->lwm2m_minor > 0 ? o->n_formats : 0, buf,
	                    SIM_LINKS_MAX) != LWM2M_OK) {
		free(buf);
		return false;
	}
	if (c->ctx->udp != NULL) {
		/* the shared sockets send no block-wise requests */
		ok = strlen(buf) <= SIM_WIRE_BLOCK &&
		     coap_add_data(pdu, strlen(buf), (uint8_t *)buf) == 1;
		if (!ok) {
			lwm2m_log(LWM2M_LOG_ERR,
			          "ep=\"%s\" links of %zu bytes do not fit "
			          "in one datagram (--shared-sockets)",
			          c->ep, strlen(buf));
		}
		free(buf);
		return ok;
	}
	return coap_add_data_large_request(c->session, pdu, strlen(buf),
	                                   (uint8_t *)buf, release_payload,
	                                   buf) == 1;
}

/* send_reg sends Register (code POST, location NULL), Update (POST on the
 * location) or De-register (DELETE). */
static bool
send_reg(struct sim_client *c, coap_pdu_code_t code, bool first, bool links)
{
	coap_pdu_t *pdu = sim_client_new_pdu(c, COAP_MESSAGE_CON, code);
	coap_optlist_t *opts = NULL;
	uint8_t cf[4];
	bool ok;

	if (pdu == NULL) {
		return false;
	}
	new_token(c);
	coap_add_token(pdu, c->tkl, c->token);
	add_location(&opts, first ? "rd" : c->location);
	if (links) {
		coap_insert_optlist(
		    &opts, coap_new_optlist(
		               COAP_OPTION_CONTENT_FORMAT,
		               coap_encode_var_safe(cf, sizeof cf, 40), cf));
	}
	if (code == COAP_REQUEST_CODE_POST) {
		add_reg_queries(c, &opts, first);
	}
	ok = coap_add_optlist_pdu(pdu, &opts) == 1 &&
	     (!links || add_links(c, pdu));
	coap_delete_optlist(opts);
	if (!ok) {
		coap_delete_pdu(pdu);
		return false;
	}
	c->reg_sent_ms = lwm2m_mono_ms();
	return sim_client_send(c, pdu);
}

static void
arm(struct sim_client *c, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(c->timer, &tv);
}

static unsigned
update_interval_ms(const struct sim_client *c)
{
	const struct sim_opts *o = &c->ctx->opts;

	if (o->update_interval > 0) {
		return o->update_interval * 1000u;
	}
	return o->lifetime * 800u;
}

static void first_done(struct sim_client *c);

static void
retry_later(struct sim_client *c)
{
	first_done(c);
	unsigned s = SIM_RETRY_MIN_S << (c->retries < 5 ? c->retries : 5);

	if (s > SIM_RETRY_MAX_S) {
		s = SIM_RETRY_MAX_S;
	}
	c->retries++;
	c->state = SIM_ST_WAITING;
	arm(c, s * 1000u + (c->seed % 1000u));
}

static void
client_register(struct sim_client *c)
{
	if (c->ctx->udp == NULL && c->session != NULL &&
	    coap_session_get_state(c->session) == COAP_SESSION_STATE_NONE) {
		/* libcoap gave up on it (ICMP error, DTLS failure): a new
		 * socket, as a rebooted device would have. */
		coap_session_release(c->session);
		c->session = NULL;
		c->fd = -1;
	}
	if (c->ctx->udp == NULL && c->session == NULL &&
	    client_session(c) != LWM2M_OK) {
		retry_later(c);
		return;
	}
	c->state = SIM_ST_REGISTERING;
	c->location[0] = '\0';
	c->links_dirty = false;
	if (!send_reg(c, COAP_REQUEST_CODE_POST, true, true)) {
		retry_later(c);
	}
}

void
sim_client_reregister(struct sim_client *c)
{
	sim_dm_drop_obs(c, NULL);
	client_register(c);
}

void
sim_client_update(struct sim_client *c)
{
	if (c->state != SIM_ST_REGISTERED || c->muted) {
		if (c->state == SIM_ST_WAITING || c->state == SIM_ST_IDLE) {
			client_register(c);
		}
		return;
	}
	c->state = SIM_ST_UPDATING;
	if (!send_reg(c, COAP_REQUEST_CODE_POST, false, c->links_dirty)) {
		retry_later(c);
		return;
	}
	c->links_dirty = false;
}

static void
send_deregister(struct sim_client *c)
{
	if ((c->state != SIM_ST_REGISTERED && c->state != SIM_ST_UPDATING) ||
	    c->muted || !send_reg(c, COAP_REQUEST_CODE_DELETE, false, false)) {
		c->state = SIM_ST_DONE;
		return;
	}
	c->state = SIM_ST_DEREGISTERING;
}

static void
on_client_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sim_client *c = arg;
	unsigned awake = c->ctx->opts.awake * 1000u;

	if (c->auto_sleep) {
		/* --awake: the sleep is over, wake with an Update. */
		c->auto_sleep = false;
		c->sleeping = false;
		sim_client_mute(c, false);
		sim_client_update(c);
		return;
	}
	if (c->sleeping || c->state == SIM_ST_DONE) {
		return;
	}
	if (c->state == SIM_ST_REGISTERED && awake > 0 && !c->muted) {
		unsigned interval = update_interval_ms(c);

		c->auto_sleep = true;
		c->sleeping = true;
		sim_client_mute(c, true);
		arm(c, interval > awake ? interval - awake : 0);
		return;
	}
	if (c->state == SIM_ST_REGISTERED) {
		sim_client_update(c);
	} else {
		client_register(c);
	}
}

/* next_timer arms the timer after a successful Register or Update: the
 * next Update, or with --awake in queue mode, falling asleep. */
static void
next_timer(struct sim_client *c)
{
	unsigned awake = c->ctx->opts.awake * 1000u;
	unsigned interval = update_interval_ms(c);

	arm(c, awake > 0 && awake < interval ? awake : interval);
}

/* ---- responses ------------------------------------------------------------
 */

static void
print_ready(struct sim_ctx *ctx)
{
	if (ctx->ready) {
		return;
	}
	ctx->ready = true;
	printf("{\"event\":\"ready\",\"clients\":%u,\"elapsed_ms\":%lld}\n",
	       ctx->n_clients, (long long)(lwm2m_mono_ms() - ctx->start_ms));
	fflush(stdout);
}

static void
read_location(struct sim_client *c, const coap_pdu_t *pdu)
{
	coap_opt_iterator_t it;
	coap_opt_t *opt;
	size_t off = 0;

	coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
	while ((opt = coap_option_next(&it)) != NULL) {
		size_t len = coap_opt_length(opt);

		if (it.number != COAP_OPTION_LOCATION_PATH ||
		    off + len + 2 > sizeof c->location) {
			continue;
		}
		if (off > 0) {
			c->location[off++] = '/';
		}
		memcpy(c->location + off, coap_opt_value(opt), len);
		off += len;
	}
	c->location[off] = '\0';
}

static void
log_registered(const struct sim_client *c)
{
	struct in_addr in;
	char ip[INET_ADDRSTRLEN] = "?";
	uint32_t addr;
	uint16_t port;

	if (c->ctx->udp != NULL) {
		sim_udp_local(c, &addr, &port);
		in.s_addr = htonl(addr);
	} else {
		const coap_address_t *a =
		    coap_session_get_addr_local(c->session);

		in = a->addr.sin.sin_addr;
		port = ntohs(a->addr.sin.sin_port);
	}
	inet_ntop(AF_INET, &in, ip, sizeof ip);
	lwm2m_log(LWM2M_LOG_INFO,
	          "ep=\"%s\" registered location=/%s addr=%s:%u", c->ep,
	          c->location, ip, (unsigned)port);
}

static void
registered(struct sim_client *c, const coap_pdu_t *pdu)
{
	struct sim_ctx *ctx = c->ctx;
	uint64_t lat = (uint64_t)(lwm2m_mono_ms() - c->reg_sent_ms);

	read_location(c, pdu);
	first_done(c);
	c->state = SIM_ST_REGISTERED;
	c->retries = 0;
	ctx->stats.registrations++;
	ctx->stats.reg_lat_sum_ms += lat;
	if (lat > ctx->stats.reg_lat_max_ms) {
		ctx->stats.reg_lat_max_ms = lat;
	}
	if (lwm2m_log_level >= LWM2M_LOG_INFO) {
		log_registered(c);
	}
	if (!c->ever_registered) {
		c->ever_registered = true;
		if (++ctx->n_first_registered == ctx->n_clients) {
			print_ready(ctx);
		}
	}
	next_timer(c);
}

static void
updated(struct sim_client *c, coap_pdu_code_t code)
{
	struct sim_ctx *ctx = c->ctx;

	if (code == COAP_RESPONSE_CODE_CHANGED) {
		ctx->stats.updates++;
		c->state = SIM_ST_REGISTERED;
		lwm2m_log(LWM2M_LOG_INFO, "ep=\"%s\" updated", c->ep);
		next_timer(c);
		return;
	}
	ctx->stats.update_failures++;
	ctx->stats.reregistrations++;
	lwm2m_log(LWM2M_LOG_INFO,
	          "ep=\"%s\" update got %d.%02d, "
	          "registering again",
	          c->ep, code >> 5, code & 31);
	sim_client_reregister(c);
}

static void
deregistered(struct sim_client *c)
{
	struct sim_ctx *ctx = c->ctx;

	ctx->stats.deregistrations++;
	c->state = SIM_ST_DONE;
	lwm2m_log(LWM2M_LOG_INFO, "ep=\"%s\" de-registered", c->ep);
	sim_dm_drop_obs(c, NULL);
	if (ctx->stopping && ctx->n_stop_inflight > 0) {
		ctx->n_stop_inflight--;
		ctx->n_done++;
		stop_more(ctx);
	}
}

void
sim_client_response(struct sim_client *c, const coap_pdu_t *received)
{
	coap_bin_const_t tok = coap_pdu_get_token(received);
	coap_pdu_code_t code = coap_pdu_get_code(received);

	if (c->tkl == 0 || tok.length != c->tkl ||
	    memcmp(tok.s, c->token, c->tkl) != 0) {
		return;
	}
	c->tkl = 0;
	switch (c->state) {
	case SIM_ST_REGISTERING:
		if (code == COAP_RESPONSE_CODE_CREATED) {
			registered(c, received);
		} else {
			c->ctx->stats.reg_failures++;
			lwm2m_log(LWM2M_LOG_WARNING,
			          "ep=\"%s\" register got "
			          "%d.%02d, retrying",
			          c->ep, code >> 5, code & 31);
			retry_later(c);
		}
		break;
	case SIM_ST_UPDATING:
		updated(c, code);
		break;
	case SIM_ST_DEREGISTERING:
		deregistered(c);
		break;
	default:
		break;
	}
}

static coap_response_t
on_response(coap_session_t *s, const coap_pdu_t *sent,
            const coap_pdu_t *received, const coap_mid_t mid)
{
	struct sim_client *c = coap_session_get_app_data(s);

	if (c != NULL) {
		sim_client_response(c, received);
	}
	return COAP_RESPONSE_OK;
}

void
sim_client_nack(struct sim_client *c, const uint8_t *tok, size_t tkl, bool rst)
{
	if (c->tkl == 0 || tkl != c->tkl || memcmp(tok, c->token, tkl) != 0) {
		if (rst) {
			sim_dm_drop_obs_token(c, tok, tkl);
		}
		return;
	}
	c->tkl = 0;
	if (c->state == SIM_ST_DEREGISTERING) {
		deregistered(c);
		return;
	}
	if (c->state == SIM_ST_REGISTERING) {
		c->ctx->stats.reg_failures++;
	} else if (c->state == SIM_ST_UPDATING) {
		c->ctx->stats.update_failures++;
	}
	lwm2m_log(LWM2M_LOG_WARNING,
	          "ep=\"%s\" no answer from the server (%s), retrying", c->ep,
	          rst ? "reset" : "timeout");
	retry_later(c);
}

static void
on_nack(coap_session_t *s, const coap_pdu_t *sent, coap_nack_reason_t reason,
        const coap_mid_t mid)
{
	struct sim_client *c = coap_session_get_app_data(s);
	coap_bin_const_t tok;

	if (c == NULL || sent == NULL) {
		return;
	}
	tok = coap_pdu_get_token(sent);
	sim_client_nack(c, tok.s, tok.length, reason == COAP_NACK_RST);
}

/* ---- start and stop ----------------------------------------------------- */

static void
on_start_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sim_ctx *ctx = arg;
	unsigned target = ctx->n_clients;
	struct timeval tv = {0, 10000};

	if (ctx->stopping) {
		return;
	}
	if (ctx->opts.rate > 0) {
		double secs =
		    (double)(lwm2m_mono_ms() - ctx->start_ms) / 1000.0;
		double allowed = ctx->opts.rate * secs + 1.0;

		target = allowed < target ? (unsigned)allowed : target;
	}
	while (ctx->n_started < target &&
	       ctx->n_inflight < ctx->opts.max_inflight) {
		struct sim_client *c = &ctx->clients[ctx->n_started++];

		c->inflight = true;
		ctx->n_inflight++;
		client_register(c);
	}
	if (ctx->n_started < ctx->n_clients && ctx->opts.rate > 0) {
		evtimer_add(ctx->start_timer, &tv);
	}
}

/* first_done ends the first registration attempt of c (answered, failed
 * or timed out), which frees a place in the --max-inflight window. */
static void
first_done(struct sim_client *c)
{
	struct sim_ctx *ctx = c->ctx;

	if (!c->inflight) {
		return;
	}
	c->inflight = false;
	ctx->n_inflight--;
	if (ctx->n_started < ctx->n_clients && ctx->opts.rate <= 0) {
		event_active(ctx->start_timer, EV_TIMEOUT, 0);
	}
}

static void
on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sim_ctx *ctx = arg;

	lwm2m_log(LWM2M_LOG_WARNING,
	          "%u clients did not finish "
	          "de-registering, exiting anyway",
	          ctx->n_started - ctx->n_done);
	event_base_loopexit(ctx->base, NULL);
}

/* stop_more sends the next de-registrations, --max-inflight at a time,
 * and ends the loop once every started client is done. */
static void
stop_more(struct sim_ctx *ctx)
{
	while (ctx->stop_next < ctx->n_started &&
	       ctx->n_stop_inflight < ctx->opts.max_inflight) {
		struct sim_client *c = &ctx->clients[ctx->stop_next++];

		evtimer_del(c->timer);
		if (c->muted) {
			/* asleep or muted: wake up to say goodbye */
			sim_client_mute(c, false);
			c->sleeping = false;
			c->auto_sleep = false;
		}
		if (c->state != SIM_ST_DONE) {
			send_deregister(c);
		}
		if (c->state == SIM_ST_DEREGISTERING) {
			ctx->n_stop_inflight++;
		} else {
			ctx->n_done++;
		}
	}
	if (ctx->n_done == ctx->n_started) {
		event_base_loopexit(ctx->base, NULL);
	}
}

static void
begin_stop(void *arg)
{
	struct sim_ctx *ctx = arg;
	struct timeval tv = {SIM_STOP_WAIT_MS / 1000, 0};

	if (ctx->stopping) {
		event_base_loopexit(ctx->base, NULL);
		return;
	}
	ctx->stopping = true;
	lwm2m_log(LWM2M_LOG_NOTICE, "stopping: de-registering %u clients",
	          ctx->n_started);
	evtimer_add(ctx->stop_timer, &tv);
	stop_more(ctx);
}

/* sim_ctx_stop is what `quit` and the signals do. */
void
sim_ctx_stop(struct sim_ctx *ctx)
{
	begin_stop(ctx);
}

void
sim_client_deregister(struct sim_client *c)
{
	evtimer_del(c->timer);
	send_deregister(c);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	sim_dm_tick(arg);
}

/* ---- construction -----------------------------------------------------------
 */

static lwm2m_err
resolve_server(struct sim_ctx *ctx)
{
	coap_uri_t uri;
	struct addrinfo hints = {0}, *res;
	char host[256];
	int rc;

	if (coap_split_uri((const uint8_t *)ctx->opts.server,
	                   strlen(ctx->opts.server), &uri) != 0 ||
	    uri.host.length >= sizeof host) {
		return LWM2M_EINVAL;
	}
	ctx->proto = uri.scheme == COAP_URI_SCHEME_COAPS ? COAP_PROTO_DTLS
	                                                 : COAP_PROTO_UDP;
	memcpy(host, uri.host.s, uri.host.length);
	host[uri.host.length] = '\0';
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_DGRAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		lwm2m_log(LWM2M_LOG_ERR, "cannot resolve \"%s\": %s", host,
		          gai_strerror(rc));
		return LWM2M_EINVAL;
	}
	coap_address_init(&ctx->server);
	ctx->server.size = sizeof ctx->server.addr.sin;
	memcpy(&ctx->server.addr.sin, res->ai_addr,
	       sizeof ctx->server.addr.sin);
	ctx->server.addr.sin.sin_port = htons(uri.port);
	freeaddrinfo(res);
	return LWM2M_OK;
}

/* raise_nofile lifts RLIMIT_NOFILE so each socket (one per client, or
 * the shared ones) can be opened.  ELIMIT, with the way out in the log,
 * when the hard limit does not allow one socket per client. */
static lwm2m_err
raise_nofile(const struct sim_opts *o)
{
	struct rlimit rl;
	rlim_t sockets = o->shared_sockets
	                     ? sim_udp_sockets(o->count, sim_opts_addr_total(o))
	                     : o->count;
	rlim_t want = sockets + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) {
		return LWM2M_OK;
	}
	if (rl.rlim_max < want) {
		struct rlimit hard = {want, want};

		if (setrlimit(RLIMIT_NOFILE, &hard) == 0) {
			return LWM2M_OK;
		}
		want = rl.rlim_max;
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && want >= sockets + 16) {
		return LWM2M_OK;
	}
	lwm2m_log(LWM2M_LOG_ERR,
	          "%u clients need %llu sockets, RLIMIT_NOFILE allows %llu "
	          "descriptors (hard limit %llu)%s",
	          o->count, (unsigned long long)sockets,
	          (unsigned long long)want, (unsigned long long)rl.rlim_max,
	          o->shared_sockets
	              ? ": give more --local-addrs"
	              : ": use --shared-sockets with --local-addrs "
	                "(a few sockets for all clients), or "
	                "raise the limit");
	return LWM2M_ELIMIT;
}

static lwm2m_err
coap_setup_one(struct sim_ctx *ctx, struct sim_coap *cc)
{
	coap_resource_t *r;
	static const coap_request_t methods[] = {
	    COAP_REQUEST_GET,    COAP_REQUEST_PUT,   COAP_REQUEST_POST,
	    COAP_REQUEST_DELETE, COAP_REQUEST_FETCH, COAP_REQUEST_IPATCH};

	cc->ctx = ctx;
	cc->coap = coap_new_context(NULL);
	if (cc->coap == NULL) {
		return LWM2M_EIO;
	}
	coap_context_set_block_mode(cc->coap, COAP_BLOCK_USE_LIBCOAP |
	                                          COAP_BLOCK_SINGLE_BODY);
	coap_register_response_handler(cc->coap, on_response);
	coap_register_nack_handler(cc->coap, on_nack);
	r = coap_resource_unknown_init2(sim_dm_handler, 0);
	if (r == NULL) {
		return LWM2M_ENOMEM;
	}
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		coap_register_request_handler(r, methods[i], sim_dm_handler);
	}
	coap_add_resource(cc->coap, r);
	cc->ev = event_new(ctx->base, coap_context_get_coap_fd(cc->coap),
	                   EV_READ | EV_PERSIST, on_coap, cc);
	if (cc->ev == NULL || event_add(cc->ev, NULL) != 0) {
		return LWM2M_EIO;
	}
	return LWM2M_OK;
}

static lwm2m_err
coap_setup(struct sim_ctx *ctx)
{
	unsigned n = (ctx->opts.count + SIM_PER_CONTEXT - 1) / SIM_PER_CONTEXT;

	ctx->coaps = calloc(n, sizeof *ctx->coaps);
	if (ctx->coaps == NULL) {
		return LWM2M_ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		lwm2m_err err = coap_setup_one(ctx, &ctx->coaps[i]);

		ctx->n_coaps = i + 1;
		if (err != LWM2M_OK) {
			return err;
		}
	}
	return LWM2M_OK;
}

static lwm2m_err
events_setup(struct sim_ctx *ctx)
{
	struct timeval tick = {ctx->opts.sensor_period_ms / 1000,
	                       (ctx->opts.sensor_period_ms % 1000) * 1000};
	struct timeval safety = {0, 200000};

	ctx->coap_timer =
	    event_new(ctx->base, -1, EV_PERSIST, on_coap_timer, ctx);
	ctx->start_timer = evtimer_new(ctx->base, on_start_timer, ctx);
	ctx->stop_timer = evtimer_new(ctx->base, on_stop_timer, ctx);
	ctx->tick = event_new(ctx->base, -1, EV_PERSIST, on_tick, ctx);
	if (ctx->coap_timer == NULL || ctx->start_timer == NULL ||
	    ctx->stop_timer == NULL || ctx->tick == NULL ||
	    event_add(ctx->coap_timer, &safety) != 0 ||
	    event_add(ctx->tick, &tick) != 0) {
		return LWM2M_EIO;
	}
	return lwm2m_signals_new(ctx->base, begin_stop, ctx, &ctx->signals);
}

static lwm2m_err
clients_setup(struct sim_ctx *ctx)
{
	const struct sim_opts *o = &ctx->opts;

	ctx->clients = calloc(o->count, sizeof *ctx->clients);
	if (ctx->clients == NULL) {
		return LWM2M_ENOMEM;
	}
	ctx->n_clients = o->count;
	for (unsigned i = 0; i < o->count; i++) {
		struct sim_client *c = &ctx->clients[i];

		c->ctx = ctx;
		c->cc = ctx->n_coaps > 0 ? &ctx->coaps[i % ctx->n_coaps] : NULL;
		c->idx = i;
		c->fd = -1;
		c->seed = 2654435761u * (i + 1);
		if (o->endpoint[0] != '\0') {
			snprintf(c->ep, sizeof c->ep, "%s", o->endpoint);
		} else {
			snprintf(c->ep, sizeof c->ep, "%s%u", o->prefix,
			         o->first_index + i);
		}
		c->timer = evtimer_new(ctx->base, on_client_timer, c);
		if (c->timer == NULL ||
		    sim_model_new(o->objects, o->n_objects, c->ep, &c->model) !=
		        LWM2M_OK) {
			return LWM2M_ENOMEM;
		}
	}
	return LWM2M_OK;
}

/* default_formats advertises every format the codecs handle when
 * --formats was not given. */
static void
default_formats(struct sim_opts *o)
{
	static const unsigned all[] = {
	    LWM2M_FMT_TEXT,       LWM2M_FMT_OPAQUE,     LWM2M_FMT_CBOR,
	    LWM2M_FMT_SENML_JSON, LWM2M_FMT_SENML_CBOR, LWM2M_FMT_TLV,
	    LWM2M_FMT_LWM2M_JSON, LWM2M_FMT_LWM2M_CBOR};

	if (o->n_formats > 0) {
		return;
	}
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		if (lwm2m_format_supported(all[i])) {
			o->formats[o->n_formats++] = all[i];
		}
	}
}

lwm2m_err
sim_ctx_new(const struct sim_opts *o, struct sim_ctx **ret_ctx)
{
	struct sim_ctx *ctx = calloc(1, sizeof *ctx);
	lwm2m_err err;

	if (ctx == NULL) {
		return LWM2M_ENOMEM;
	}
	ctx->opts = *o;
	default_formats(&ctx->opts);
	coap_startup();
	coap_set_log_level(o->verbose ? LOG_WARNING : LOG_EMERG);
	ctx->base = event_base_new();
	err = ctx->base == NULL ? LWM2M_EIO : raise_nofile(o);
	if (err == LWM2M_OK) {
		err = resolve_server(ctx);
	}
	if (err == LWM2M_OK) {
		err = o->shared_sockets ? sim_udp_new(ctx, &ctx->udp)
		                        : coap_setup(ctx);
	}
	if (err == LWM2M_OK) {
		err = events_setup(ctx);
	}
	if (err == LWM2M_OK) {
		err = clients_setup(ctx);
	}
	if (err != LWM2M_OK) {
		sim_ctx_free(ctx);
		return err;
	}
	*ret_ctx = ctx;
	return LWM2M_OK;
}

static void
event_free_safe(struct event *ev)
{
	if (ev != NULL) {
		event_free(ev);
	}
}

void
sim_ctx_free(struct sim_ctx *ctx)
{
	if (ctx == NULL) {
		return;
	}
	sim_ctl_stop(ctx->ctl);
	sim_udp_free(ctx->udp);
	for (unsigned i = 0; ctx->clients != NULL && i < ctx->n_clients; i++) {
		struct sim_client *c = &ctx->clients[i];

		sim_dm_drop_obs(c, NULL);
		event_free_safe(c->timer);
		sim_model_free(c->model);
	}
	free(ctx->clients);
	lwm2m_signals_free(ctx->signals);
	event_free_safe(ctx->coap_timer);
	event_free_safe(ctx->start_timer);
	event_free_safe(ctx->stop_timer);
	event_free_safe(ctx->tick);
	for (unsigned i = 0; i < ctx->n_coaps; i++) {
		event_free_safe(ctx->coaps[i].ev);
		if (ctx->coaps[i].coap != NULL) {
			coap_free_context(ctx->coaps[i].coap);
		}
	}
	free(ctx->coaps);
	if (ctx->base != NULL) {
		event_base_free(ctx->base);
	}
	coap_cleanup();
	free(ctx);
}

lwm2m_err
sim_ctx_run(struct sim_ctx *ctx)
{
	lwm2m_err err = sim_ctl_start(ctx, ctx->base, &ctx->opts, &ctx->ctl);
	char *buf;

	if (err != LWM2M_OK) {
		return err;
	}
	ctx->start_ms = lwm2m_mono_ms();
	on_start_timer(-1, 0, ctx);
	event_base_dispatch(ctx->base);
	buf = malloc(SIM_SUMMARY_MAX);
	if (buf != NULL) {
		sim_stats_json(ctx, buf, SIM_SUMMARY_MAX);
		printf("{\"event\":\"summary\",\"stats\":%s}\n", buf);
		fflush(stdout);
		free(buf);
	}
	return ctx->fatal;
}

lwm2m_err
sim_client_mute(struct sim_client *c, bool on)
{
	/* A socket filter that accepts nothing: the kernel drops what the
	 * server sends without an ICMP error, as for a device out of
	 * reach. */
	static struct sock_filter drop_all[] = {{BPF_RET | BPF_K, 0, 0, 0}};
	struct sock_fprog prog = {1, drop_all};
	int rc, unused = 0;

	if (c->ctx->udp != NULL || c->session == NULL) {
		/* shared sockets: sim_udp.c drops what a muted client gets */
		c->muted = on;
		return LWM2M_OK;
	}
	if (c->fd < 0) {
		return LWM2M_EIO;
	}
	rc = on ? setsockopt(c->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
	                     sizeof prog)
	        : setsockopt(c->fd, SOL_SOCKET, SO_DETACH_FILTER, &unused,
	                     sizeof unused);
	if (rc != 0 && (on || errno != ENOENT)) {
		lwm2m_log(LWM2M_LOG_WARNING, "ep=\"%s\" mute: %s", c->ep,
		          strerror(errno));
		return LWM2M_EIO;
	}
	c->muted = on;
	return LWM2M_OK;
}

void
sim_client_soon(struct sim_client *c, enum sim_exec_effect effect)
{
	if (c->state == SIM_ST_DONE || c->sleeping) {
		return;
	}
	if (effect == SIM_EXEC_REBOOT) {
		sim_dm_drop_obs(c, NULL);
		evtimer_del(c->timer);
		c->state = SIM_ST_WAITING;
		arm(c, 1000);
	} else if (effect == SIM_EXEC_UPDATE && c->state == SIM_ST_REGISTERED) {
		arm(c, 0);
	}
}
