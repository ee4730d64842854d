/* sim.h - lwds-sim: many LwM2M clients in one process.
 *
 * sim_opts.c   options from flags and LWDS_SIM_* environment variables
 * sim_model.c  the object model of one client (objects 1, 3, 5, 3303, 3442)
 * sim_client.c registration lifecycle and device-management requests (CoAP)
 * sim_dm.c     device management and observations, for both transports
 * sim_udp.c    --shared-sockets: a few UDP sockets for all clients
 * sim_wire.c   datagrams to and from libcoap PDUs for sim_udp.c
 * sim_ctl.c    the control interface (stdin and a UDP port on 127.0.0.1)
 *
 * Everything runs on one libevent loop; nothing here is thread-safe.
 */
#ifndef SIM_H
#define SIM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m_err.h"
#include "lwm2m_value.h"

#define SIM_MAX_OBJECTS 16
#define SIM_MAX_FORMATS 16
#define SIM_MAX_ADDR_RANGES 64
#define SIM_EP_MAX 64

/* An inclusive IPv4 range, host byte order. */
struct sim_addr_range {
	uint32_t first, last;
};

struct sim_opts {
	char server[256];       /* coap://host:port or coaps://host:port */
	char psk_identity[128]; /* coaps only */
	uint8_t psk_key[64];
	size_t psk_key_len;
	char cert_file[256]; /* coaps with a certificate: PEM files */
	char key_file[256];
	char ca_file[256]; /* "" = the server's certificate is not checked */
	unsigned count;
	unsigned first_index; /* endpoint numbers start here */
	char prefix[SIM_EP_MAX - 16];
	/* --endpoint: the one client's exact name; "" = prefix + number */
	char endpoint[SIM_EP_MAX];
	unsigned lifetime;        /* seconds */
	unsigned update_interval; /* seconds; 0 = 80% of the lifetime */
	unsigned lwm2m_minor;     /* 0 = LwM2M 1.0, 1 = LwM2M 1.1 */
	char binding[8];          /* "U" by default */
	bool queue;
	unsigned awake; /* queue mode: seconds awake after an Update */
	uint16_t objects[SIM_MAX_OBJECTS];
	size_t n_objects;
	unsigned formats[SIM_MAX_FORMATS]; /* advertised in ct= (1.1) */
	size_t n_formats;
	double rate;           /* registrations per second, 0 = unlimited */
	unsigned max_inflight; /* initial registrations awaiting an answer */
	struct sim_addr_range addrs[SIM_MAX_ADDR_RANGES];
	size_t n_addrs;
	unsigned sensor_period_ms; /* temperature changes and observe checks */
	unsigned control_port;     /* UDP on 127.0.0.1, 0 = none */
	bool control_stdin;
	bool con_notify;     /* confirmable notifications */
	bool shared_sockets; /* a few sockets for all clients (sim_udp.c) */
	bool quiet, verbose;
};

/* sim_opts_init fills o with the defaults. */
void sim_opts_init(struct sim_opts *o);

/* sim_opts_parse reads LWDS_SIM_* variables, then argv (flags win).  On a
 * bad value returns LWM2M_EINVAL with a one-line message in err.  Sets
 * *ret_help when --help was given. */
lwm2m_err sim_opts_parse(struct sim_opts *o, int argc, char **argv,
                         bool *ret_help, char *err, size_t err_size);

/* sim_opts_usage writes the --help text to f (a FILE *). */
void sim_opts_usage(void *f);

/* sim_addr_range_parse parses "127.0.0.1" or "127.0.0.1-127.0.1.255". */
lwm2m_err sim_addr_range_parse(const char *text, struct sim_addr_range *ret);

/* sim_opts_addr_total returns how many local addresses the ranges hold. */
uint64_t sim_opts_addr_total(const struct sim_opts *o);

/* sim_opts_local_addr returns the local address (host order) of client
 * number idx: clients are spread round-robin over all addresses.  Returns
 * false when no --local-addr was given. */
bool sim_opts_local_addr(const struct sim_opts *o, uint64_t idx,
                         uint32_t *ret_addr);

/* sim_opts_addr_index is the inverse of sim_opts_local_addr: the position
 * of addr (host order) among the addresses of the ranges (the first range
 * holding it wins).  False when no range holds it. */
bool sim_opts_addr_index(const struct sim_opts *o, uint32_t addr,
                         uint64_t *ret_idx);

/* --shared-sockets: at most this many sockets (ports); client i sends from
 * address i % A of the A local addresses and the port of socket i / A. */
#define SIM_SHARED_SOCKETS_MAX 1024

/* Local ports of clients bound to --local-addrs: SIM_PORT_BASE upwards. */
#define SIM_PORT_BASE 20000
#define SIM_PORT_SPAN 40000

/* sim_opts_local_port returns the local port of client number idx when
 * clients are bound to --local-addrs (idx takes address idx % A of the A
 * addresses) and spread round-robin over n_contexts libcoap contexts
 * (context idx % n_contexts).  No two clients share address and port, and
 * no two clients of one context share a port (libcoap refuses that even on
 * different addresses).  0 (an ephemeral port) when there are no local
 * addresses or the ports run out. */
uint16_t sim_opts_local_port(const struct sim_opts *o, uint64_t idx,
                             unsigned n_contexts);

/* sim_opts_parse_formats parses "11542,112" into o->formats. */
lwm2m_err sim_opts_parse_formats(struct sim_opts *o, const char *text);

/* sim_opts_parse_objects parses "1,3,5,3303" into o->objects. */
lwm2m_err sim_opts_parse_objects(struct sim_opts *o, const char *text);

/* ---- object model ------------------------------------------------------ */

enum sim_ops { SIM_OP_R = 1, SIM_OP_W = 2, SIM_OP_E = 4 };

struct sim_res_def {
	uint16_t id;
	uint8_t ops; /* SIM_OP_* */
	bool multi;
	enum lwm2m_type type; /* NONE for executables */
	const char *name;
};

struct sim_obj_def {
	uint16_t id;
	bool multi_instance;
	const char *ver; /* NULL for 1.0 */
	const struct sim_res_def *res;
	size_t n_res;
};

/* sim_obj_def_find returns the definition of object id, or NULL. */
const struct sim_obj_def *sim_obj_def_find(uint16_t id);

struct sim_model;

/* What an Execute did, for the caller to act on. */
enum sim_exec_effect {
	SIM_EXEC_NONE = 0,
	SIM_EXEC_REBOOT,    /* /3/0/4: the client re-registers */
	SIM_EXEC_UPDATE,    /* /1/x/8 registration update trigger */
	SIM_EXEC_FW_UPDATE, /* /5/0/2 */
};

/* sim_model_new builds the model of one client with the objects listed
 * (unknown ids are EINVAL) and its endpoint name (used for serial numbers).
 * sim_model_free is NULL-safe. */
lwm2m_err sim_model_new(const uint16_t *objects, size_t n_objects,
                        const char *endpoint, struct sim_model **ret_model);
void sim_model_free(struct sim_model *m);

/* sim_model_read adds the values at path (root, object, instance,
 * resource or resource instance) to tree.  ENOTFOUND when absent, EDENIED
 * when not readable (a single executable or write-only resource). */
lwm2m_err sim_model_read(struct sim_model *m, const struct lwm2m_path *path,
                         struct lwm2m_tree *tree);

/* sim_model_write applies the resources of tree under path (an instance or
 * resource).  raw_is_text: untyped values are text/plain, else TLV
 * binary.  replace: PUT semantics (an instance write replaces every
 * writable resource; a multi resource write replaces its instances).
 * ENOTFOUND, EDENIED (not writable), EPROTO (value of the wrong type). */
lwm2m_err sim_model_write(struct sim_model *m, const struct lwm2m_path *path,
                          struct lwm2m_tree *tree, bool replace,
                          bool raw_is_text);

/* sim_model_write_composite applies a Write-Composite: every resource or
 * resource instance of tree (decoded at the root) is a partial update of
 * its instance.  Everything is checked before anything changes: ENOTFOUND
 * (object, instance or resource absent), EDENIED (not writable), EPROTO
 * (value of the wrong type). */
lwm2m_err sim_model_write_composite(struct sim_model *m,
                                    struct lwm2m_tree *tree);

/* sim_model_create creates an instance of object obj from the resources
 * in tree (instance id from the tree when given, else the lowest free).
 * EEXIST when the id is taken, EDENIED for a single-instance object. */
lwm2m_err sim_model_create(struct sim_model *m, uint16_t obj,
                           struct lwm2m_tree *tree, uint16_t *ret_iid);

/* sim_model_delete deletes instance /obj/iid. */
lwm2m_err sim_model_delete(struct sim_model *m, uint16_t obj, uint16_t iid);

/* sim_model_execute runs the executable resource at path with arguments
 * args (text, may be empty). */
lwm2m_err sim_model_execute(struct sim_model *m, const struct lwm2m_path *path,
                            const char *args, size_t args_len,
                            enum sim_exec_effect *ret_effect);

/* sim_model_set_text sets the resource (instance) at path from text, as the
 * control command `set` does.  Creates a missing resource instance of a
 * multi resource. */
lwm2m_err sim_model_set_text(struct sim_model *m, const struct lwm2m_path *path,
                             const char *text);

/* sim_model_number returns the value at a single numeric resource path as
 * a double; false when there is none. */
bool sim_model_number(struct sim_model *m, const struct lwm2m_path *path,
                      double *ret_value);

/* sim_model_tick moves the temperature sensors of the client one random
 * step; returns true when a value changed. */
bool sim_model_tick(struct sim_model *m, uint32_t *seed);

/* sim_model_links writes the registration payload ("</>;rt=...,</1/0>,..")
 * into buf.  ct lists formats to advertise (n_ct may be 0).  ELIMIT when
 * buf is too small. */
lwm2m_err sim_model_links(const struct sim_model *m, const unsigned *ct,
                          size_t n_ct, char *buf, size_t size);

/* sim_model_discover writes the Discover answer for path into buf; attrs
 * is called for each link to append ";pmin=10"-style attributes (may be
 * NULL). */
lwm2m_err
sim_model_discover(const struct sim_model *m, const struct lwm2m_path *path,
                   size_t (*attrs)(void *arg, const struct lwm2m_path *p,
                                   char *out, size_t size),
                   void *arg, char *buf, size_t size);


/* ---- simulator ----------------------------------------------------------- */

struct sim_ctx;

/* sim_ctx_new creates the loop, the CoAP context and all clients (not yet
 * started).  sim_ctx_free is NULL-safe. */
lwm2m_err sim_ctx_new(const struct sim_opts *o, struct sim_ctx **ret_ctx);
void sim_ctx_free(struct sim_ctx *ctx);

/* sim_ctx_run starts registering and runs the loop until quit or a signal
 * has de-registered everybody.  Returns LWM2M_OK or the first fatal error. */
lwm2m_err sim_ctx_run(struct sim_ctx *ctx);

/* sim_ctx_command executes one control command line and writes its answer
 * (one line, newline-terminated) into out.  Returns false for `quit`. */
bool sim_ctx_command(struct sim_ctx *ctx, const char *line, char *out,
                     size_t size);

/* sim_ctl_start attaches the control interface (stdin and/or the UDP port
 * of the options) to the loop of ctx.  sim_ctl_stop is NULL-safe. */
struct sim_ctl;
struct event_base;
lwm2m_err sim_ctl_start(struct sim_ctx *ctx, struct event_base *base,
                        const struct sim_opts *o, struct sim_ctl **ret_ctl);
void sim_ctl_stop(struct sim_ctl *ctl);

#endif
