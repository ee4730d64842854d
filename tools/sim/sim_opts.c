/* sim_opts.c - lwds-sim options from flags and LWDS_SIM_* variables. */
#include "sim.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m_id.h"
#include "lwm2m_loop.h"

enum {
	OPT_SERVER = 256,
	OPT_COUNT,
	OPT_FIRST,
	OPT_PREFIX,
	OPT_LIFETIME,
	OPT_UPDATE,
	OPT_LWM2M,
	OPT_BINDING,
	OPT_QUEUE,
	OPT_AWAKE,
	OPT_OBJECTS,
	OPT_FORMATS,
	OPT_RATE,
	OPT_INFLIGHT,
	OPT_LOCAL_ADDRS,
	OPT_SENSOR,
	OPT_CONTROL_PORT,
	OPT_NO_STDIN,
	OPT_CON_NOTIFY,
	OPT_SHARED,
	OPT_ENDPOINT,
	OPT_PSK_ID,
	OPT_PSK_KEY,
	OPT_CERT,
	OPT_KEY,
	OPT_CA,
	OPT_QUIET,
	OPT_VERBOSE,
	OPT_HELP,
};

static const struct option long_opts[] = {
    {"server", required_argument, NULL, OPT_SERVER},
    {"count", required_argument, NULL, OPT_COUNT},
    {"first", required_argument, NULL, OPT_FIRST},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"lifetime", required_argument, NULL, OPT_LIFETIME},
    {"update-interval", required_argument, NULL, OPT_UPDATE},
    {"lwm2m", required_argument, NULL, OPT_LWM2M},
    {"binding", required_argument, NULL, OPT_BINDING},
    {"queue", no_argument, NULL, OPT_QUEUE},
    {"awake", required_argument, NULL, OPT_AWAKE},
    {"objects", required_argument, NULL, OPT_OBJECTS},
    {"formats", required_argument, NULL, OPT_FORMATS},
    {"rate", required_argument, NULL, OPT_RATE},
    {"max-inflight", required_argument, NULL, OPT_INFLIGHT},
    {"local-addrs", required_argument, NULL, OPT_LOCAL_ADDRS},
    {"local-addr", required_argument, NULL, OPT_LOCAL_ADDRS},
    {"sensor-period", required_argument, NULL, OPT_SENSOR},
    {"control-port", required_argument, NULL, OPT_CONTROL_PORT},
    {"no-stdin", no_argument, NULL, OPT_NO_STDIN},
    {"con-notify", no_argument, NULL, OPT_CON_NOTIFY},
    {"shared-sockets", no_argument, NULL, OPT_SHARED},
    {"psk-identity", required_argument, NULL, OPT_PSK_ID},
    {"psk-key", required_argument, NULL, OPT_PSK_KEY},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"ca", required_argument, NULL, OPT_CA},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Environment variable for each option taking a value, same order. */
static const struct {
	const char *env;
	int opt;
} env_opts[] = {
    {"LWDS_SIM_SERVER", OPT_SERVER},
    {"LWDS_SIM_COUNT", OPT_COUNT},
    {"LWDS_SIM_FIRST", OPT_FIRST},
    {"LWDS_SIM_PREFIX", OPT_PREFIX},
    {"LWDS_SIM_ENDPOINT", OPT_ENDPOINT},
    {"LWDS_SIM_LIFETIME", OPT_LIFETIME},
    {"LWDS_SIM_UPDATE_INTERVAL", OPT_UPDATE},
    {"LWDS_SIM_LWM2M", OPT_LWM2M},
    {"LWDS_SIM_BINDING", OPT_BINDING},
    {"LWDS_SIM_AWAKE", OPT_AWAKE},
    {"LWDS_SIM_OBJECTS", OPT_OBJECTS},
    {"LWDS_SIM_FORMATS", OPT_FORMATS},
    {"LWDS_SIM_RATE", OPT_RATE},
    {"LWDS_SIM_MAX_INFLIGHT", OPT_INFLIGHT},
    {"LWDS_SIM_LOCAL_ADDRS", OPT_LOCAL_ADDRS},
    {"LWDS_SIM_SENSOR_PERIOD", OPT_SENSOR},
    {"LWDS_SIM_CONTROL_PORT", OPT_CONTROL_PORT},
    {"LWDS_SIM_PSK_IDENTITY", OPT_PSK_ID},
    {"LWDS_SIM_PSK_KEY", OPT_PSK_KEY},
    {"LWDS_SIM_CERT", OPT_CERT},
    {"LWDS_SIM_KEY", OPT_KEY},
    {"LWDS_SIM_CA", OPT_CA},
    {"LWDS_SIM_SHARED_SOCKETS", OPT_SHARED},
};

void
sim_opts_usage(void *f)
{
	fputs(
	    "Usage: lwds-sim [options]\n"
	    "Runs N LwM2M clients (endpoints <prefix>0 .. <prefix>N-1).\n"
	    "  --server URI        coap://127.0.0.1:5683 (coaps:// needs "
	    "--psk-* or --cert)\n"
	    "  --psk-identity ID   --psk-key HEX   DTLS PSK credentials\n"
	    "  --cert FILE --key FILE [--ca FILE]  DTLS with an X.509\n"
	    "                      certificate (PEM); --ca verifies the "
	    "server\n"
	    "  --count N           number of clients (1)\n"
	    "  --first I           number of the first endpoint (0)\n"
	    "  --prefix P          endpoint prefix (sim-)\n"
	    "  --endpoint EP       the exact endpoint name of the one client\n"
	    "                      (--count 1), e.g. a certificate's CN\n"
	    "  --lifetime S        registration lifetime (300)\n"
	    "  --update-interval S seconds between updates (80% of lifetime)\n"
	    "  --lwm2m 1.0|1.1     enabler version (1.1)\n"
	    "  --binding B         binding letters (U); --queue: queue mode\n"
	    "  --awake S           queue mode: sleep S s after each Update\n"
	    "  --objects LIST      objects to run (1,3,5,3303,3442)\n"
	    "  --formats LIST      ct list advertised by 1.1 clients\n"
	    "  --rate R            registrations per second, 0 = no limit\n"
	    "  --max-inflight N    initial registrations in flight (128)\n"
	    "  --local-addrs A[-B] local IPv4 address range; repeatable;\n"
	    "                      clients take its addresses in turn\n"
	    "  --shared-sockets    a few UDP sockets for all clients (coap://\n"
	    "                      only; needs --local-addrs): 100,000 and "
	    "more\n"
	    "                      clients in one process; env\n"
	    "                      LWDS_SIM_SHARED_SOCKETS=1\n"
	    "  --sensor-period MS  temperature step and observe check (1000)\n"
	    "  --con-notify        send notifications as CON (default NON)\n"
	    "  --control-port P    UDP control port on 127.0.0.1\n"
	    "  --no-stdin          do not read commands from stdin\n"
	    "  --quiet | --verbose\n"
	    "Environment: LWDS_SIM_<OPTION> (e.g. LWDS_SIM_COUNT=100).\n"
	    "Control commands (stdin or UDP, one per line):\n"
	    "  set <ep|*> /3303/0/5700 <value>   mute <ep|*> on|off\n"
	    "  sleep <ep|*> on|off   update <ep|*>   deregister <ep|*>\n"
	    "  register <ep|*>   fail <ep|*> <code, e.g. 4.03>|off\n"
	    "  stats   quit\n",
	    (FILE *)f);
}

void
sim_opts_init(struct sim_opts *o)
{
	static const uint16_t objs[] = {1, 3, 5, 3303, 3442};

	memset(o, 0, sizeof *o);
	snprintf(o->server, sizeof o->server, "coap://127.0.0.1:5683");
	o->count = 1;
	snprintf(o->prefix, sizeof o->prefix, "sim-");
	o->lifetime = 300;
	o->lwm2m_minor = 1;
	snprintf(o->binding, sizeof o->binding, "U");
	memcpy(o->objects, objs, sizeof objs);
	o->n_objects = sizeof objs / sizeof objs[0];
	o->sensor_period_ms = 1000;
	o->max_inflight = 128;
	o->control_stdin = true;
}

static lwm2m_err
parse_ipv4(const char *text, size_t len, uint32_t *ret)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	if (len == 0 || len >= sizeof buf) {
		return LWM2M_EINVAL;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1) {
		return LWM2M_EINVAL;
	}
	*ret = ntohl(a.s_addr);
	return LWM2M_OK;
}

lwm2m_err
sim_addr_range_parse(const char *text, struct sim_addr_range *ret)
{
	const char *dash = strchr(text, '-');
	struct sim_addr_range r;

	if (dash == NULL) {
		if (parse_ipv4(text, strlen(text), &r.first) != LWM2M_OK) {
			return LWM2M_EINVAL;
		}
		r.last = r.first;
	} else if (parse_ipv4(text, (size_t)(dash - text), &r.first) !=
	               LWM2M_OK ||
	           parse_ipv4(dash + 1, strlen(dash + 1), &r.last) !=
	               LWM2M_OK ||
	           r.last < r.first) {
		return LWM2M_EINVAL;
	}
	*ret = r;
	return LWM2M_OK;
}

uint64_t
sim_opts_addr_total(const struct sim_opts *o)
{
	uint64_t total = 0;

	for (size_t i = 0; i < o->n_addrs; i++) {
		total += (uint64_t)o->addrs[i].last - o->addrs[i].first + 1;
	}
	return total;
}

bool
sim_opts_addr_index(const struct sim_opts *o, uint32_t addr, uint64_t *ret_idx)
{
	uint64_t base = 0;

	for (size_t i = 0; i < o->n_addrs; i++) {
		if (addr >= o->addrs[i].first && addr <= o->addrs[i].last) {
			*ret_idx = base + (addr - o->addrs[i].first);
			return true;
		}
		base += (uint64_t)o->addrs[i].last - o->addrs[i].first + 1;
	}
	return false;
}

bool
sim_opts_local_addr(const struct sim_opts *o, uint64_t idx, uint32_t *ret_addr)
{
	uint64_t total = sim_opts_addr_total(o);

	if (total == 0) {
		return false;
	}
	idx %= total;
	for (size_t i = 0; i < o->n_addrs; i++) {
		uint64_t n = (uint64_t)o->addrs[i].last - o->addrs[i].first + 1;

		if (idx < n) {
			*ret_addr = o->addrs[i].first + (uint32_t)idx;
			return true;
		}
		idx -= n;
	}
	return false;
}

uint16_t
sim_opts_local_port(const struct sim_opts *o, uint64_t idx, unsigned n_contexts)
{
	uint64_t a = sim_opts_addr_total(o);
	uint64_t row;

	if (a == 0 || n_contexts == 0) {
		return 0;
	}
	row = idx / (a < n_contexts ? a : n_contexts);
	if (row >= SIM_PORT_SPAN) {
		return 0;
	}
	return (uint16_t)(SIM_PORT_BASE + row);
}

/* parse_list parses a comma (or space) separated list of numbers in
 * [0, max] into out (at most cap); EINVAL on junk, ELIMIT when too many. */
static lwm2m_err
parse_list(const char *text, long long max, unsigned *out, size_t cap,
           size_t *ret_n)
{
	size_t n = 0;
	const char *p = text;

	while (*p != '\0') {
		char num[16];
		size_t len = strcspn(p, ", ");
		long long v;

		if (len == 0 || len >= sizeof num) {
			return LWM2M_EINVAL;
		}
		memcpy(num, p, len);
		num[len] = '\0';
		if (lwm2m_parse_int(num, 0, max, &v) != LWM2M_OK) {
			return LWM2M_EINVAL;
		}
		if (n == cap) {
			return LWM2M_ELIMIT;
		}
		out[n++] = (unsigned)v;
		p += len;
		p += *p != '\0';
	}
	*ret_n = n;
	return LWM2M_OK;
}

lwm2m_err
sim_opts_parse_formats(struct sim_opts *o, const char *text)
{
	unsigned f[SIM_MAX_FORMATS];
	size_t n;
	lwm2m_err err = parse_list(text, 65535, f, SIM_MAX_FORMATS, &n);

	if (err != LWM2M_OK) {
		return err;
	}
	memcpy(o->formats, f, n * sizeof f[0]);
	o->n_formats = n;
	return LWM2M_OK;
}

lwm2m_err
sim_opts_parse_objects(struct sim_opts *o, const char *text)
{
	unsigned v[SIM_MAX_OBJECTS];
	size_t n;
	lwm2m_err err = parse_list(text, 65534, v, SIM_MAX_OBJECTS, &n);

	if (err != LWM2M_OK) {
		return err;
	}
	if (n == 0) {
		return LWM2M_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (sim_obj_def_find((uint16_t)v[i]) == NULL) {
			return LWM2M_ENOTFOUND;
		}
		o->objects[i] = (uint16_t)v[i];
	}
	o->n_objects = n;
	return LWM2M_OK;
}

static lwm2m_err
parse_uint(const char *text, long long min, long long max, unsigned *ret)
{
	long long v;

	if (lwm2m_parse_int(text, min, max, &v) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	*ret = (unsigned)v;
	return LWM2M_OK;
}

static lwm2m_err
parse_hex(const char *text, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t len = strlen(text);

	if (len == 0 || len % 2 != 0 || len / 2 > cap ||
	    !lwm2m_hex_decode(text, len / 2, out)) {
		return LWM2M_EINVAL;
	}
	*ret_len = len / 2;
	return LWM2M_OK;
}

static lwm2m_err
set_string(char *dst, size_t size, const char *text)
{
	size_t len = strlen(text);

	if (len == 0 || len >= size) {
		return LWM2M_EINVAL;
	}
	memcpy(dst, text, len + 1);
	return LWM2M_OK;
}

static lwm2m_err
set_rate(struct sim_opts *o, const char *text)
{
	char *end;
	double r = strtod(text, &end);

	if (*text == '\0' || *end != '\0' || !(r >= 0) || r > 1e7) {
		return LWM2M_EINVAL;
	}
	o->rate = r;
	return LWM2M_OK;
}

static lwm2m_err
add_addrs(struct sim_opts *o, const char *text)
{
	struct sim_addr_range r;

	if (o->n_addrs == SIM_MAX_ADDR_RANGES) {
		return LWM2M_ELIMIT;
	}
	if (sim_addr_range_parse(text, &r) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	o->addrs[o->n_addrs++] = r;
	return LWM2M_OK;
}

static lwm2m_err
set_lwm2m(struct sim_opts *o, const char *text)
{
	if (strcmp(text, "1.0") == 0) {
		o->lwm2m_minor = 0;
	} else if (strcmp(text, "1.1") == 0) {
		o->lwm2m_minor = 1;
	} else {
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

static lwm2m_err
set_binding(struct sim_opts *o, const char *text)
{
	if (strspn(text, "UTSNQ") != strlen(text)) {
		return LWM2M_EINVAL;
	}
	return set_string(o->binding, sizeof o->binding, text);
}

/* set_bool sets a flag: NULL (the flag given) or an environment value. */
static lwm2m_err
set_bool(bool *flag, const char *text)
{
	if (text == NULL || strcmp(text, "1") == 0 ||
	    strcmp(text, "yes") == 0 || strcmp(text, "true") == 0) {
		*flag = true;
	} else if (strcmp(text, "0") == 0 || strcmp(text, "no") == 0 ||
	           strcmp(text, "false") == 0) {
		*flag = false;
	} else {
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

/* apply sets the option opt from text (NULL for flags). */
static lwm2m_err
apply(struct sim_opts *o, int opt, const char *text)
{
	switch (opt) {
	case OPT_SERVER:
		if (strncmp(text, "coap://", 7) != 0 &&
		    strncmp(text, "coaps://", 8) != 0) {
			return LWM2M_EINVAL;
		}
		return set_string(o->server, sizeof o->server, text);
	case OPT_COUNT:
		return parse_uint(text, 1, 10000000, &o->count);
	case OPT_FIRST:
		return parse_uint(text, 0, 1000000000, &o->first_index);
	case OPT_PREFIX:
		return set_string(o->prefix, sizeof o->prefix, text);
	case OPT_ENDPOINT:
		return set_string(o->endpoint, sizeof o->endpoint, text);
	case OPT_LIFETIME:
		return parse_uint(text, 1, 100000000, &o->lifetime);
	case OPT_UPDATE:
		return parse_uint(text, 0, 100000000, &o->update_interval);
	case OPT_LWM2M:
		return set_lwm2m(o, text);
	case OPT_BINDING:
		return set_binding(o, text);
	case OPT_QUEUE:
		o->queue = true;
		return LWM2M_OK;
	case OPT_AWAKE:
		return parse_uint(text, 1, 100000000, &o->awake);
	case OPT_OBJECTS:
		return sim_opts_parse_objects(o, text);
	case OPT_FORMATS:
		return sim_opts_parse_formats(o, text);
	case OPT_RATE:
		return set_rate(o, text);
	case OPT_INFLIGHT:
		return parse_uint(text, 1, 1000000, &o->max_inflight);
	case OPT_LOCAL_ADDRS:
		return add_addrs(o, text);
	case OPT_SENSOR:
		return parse_uint(text, 1, 3600000, &o->sensor_period_ms);
	case OPT_CONTROL_PORT:
		return parse_uint(text, 1, 65535, &o->control_port);
	case OPT_NO_STDIN:
		o->control_stdin = false;
		return LWM2M_OK;
	case OPT_CON_NOTIFY:
		o->con_notify = true;
		return LWM2M_OK;
	case OPT_SHARED:
		return set_bool(&o->shared_sockets, text);
	case OPT_PSK_ID:
		return set_string(o->psk_identity, sizeof o->psk_identity,
		                  text);
	case OPT_PSK_KEY:
		return parse_hex(text, o->psk_key, sizeof o->psk_key,
		                 &o->psk_key_len);
	case OPT_CERT:
		return set_string(o->cert_file, sizeof o->cert_file, text);
	case OPT_KEY:
		return set_string(o->key_file, sizeof o->key_file, text);
	case OPT_CA:
		return set_string(o->ca_file, sizeof o->ca_file, text);
	case OPT_QUIET:
		o->quiet = true;
		return LWM2M_OK;
	case OPT_VERBOSE:
		o->verbose = true;
		return LWM2M_OK;
	default:
		return LWM2M_EINVAL;
	}
}

static const char *
opt_name(int opt)
{
	for (size_t i = 0; long_opts[i].name != NULL; i++) {
		if (long_opts[i].val == opt) {
			return long_opts[i].name;
		}
	}
	return "?";
}

static lwm2m_err
parse_env(struct sim_opts *o, char *err, size_t err_size)
{
	for (size_t i = 0; i < sizeof env_opts / sizeof env_opts[0]; i++) {
		const char *v = lwm2m_getenv(env_opts[i].env, NULL);

		if (v != NULL && apply(o, env_opts[i].opt, v) != LWM2M_OK) {
			snprintf(err, err_size, "invalid %s=\"%.64s\"",
			         env_opts[i].env, v);
			return LWM2M_EINVAL;
		}
	}
	return LWM2M_OK;
}

static bool
ranges_overlap(const struct sim_opts *o)
{
	for (size_t i = 0; i < o->n_addrs; i++) {
		for (size_t j = i + 1; j < o->n_addrs; j++) {
			if (o->addrs[i].first <= o->addrs[j].last &&
			    o->addrs[j].first <= o->addrs[i].last) {
				return true;
			}
		}
	}
	return false;
}

/* check_shared checks what --shared-sockets needs: plain coap://, local
 * addresses that do not overlap and are enough for the clients. */
static lwm2m_err
check_shared(const struct sim_opts *o, char *err, size_t err_size)
{
	uint64_t a = sim_opts_addr_total(o);

	if (strncmp(o->server, "coaps://", 8) == 0) {
		snprintf(err, err_size,
		         "--shared-sockets serves coap:// only: DTLS needs a "
		         "libcoap session, and a socket, per client");
	} else if (a == 0) {
		snprintf(err, err_size,
		         "--shared-sockets needs --local-addrs: the clients "
		         "send from their own addresses");
	} else if (ranges_overlap(o)) {
		snprintf(err, err_size,
		         "--shared-sockets needs --local-addrs ranges that "
		         "do not overlap");
	} else if (((uint64_t)o->count + a - 1) / a > SIM_SHARED_SOCKETS_MAX) {
		snprintf(err, err_size,
		         "--shared-sockets: %u clients on %llu addresses "
		         "need more than %d ports; give more --local-addrs",
		         o->count, (unsigned long long)a,
		         SIM_SHARED_SOCKETS_MAX);
	} else {
		return LWM2M_OK;
	}
	return LWM2M_EINVAL;
}

static lwm2m_err
check(const struct sim_opts *o, char *err, size_t err_size)
{
	if (o->shared_sockets && check_shared(o, err, err_size) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	if (o->awake > 0 && !o->queue) {
		snprintf(err, err_size, "--awake needs --queue");
		return LWM2M_EINVAL;
	}
	if (o->endpoint[0] != '\0' && o->count != 1) {
		snprintf(err, err_size,
		         "--endpoint names one client: --count 1");
		return LWM2M_EINVAL;
	}
	bool psk = o->psk_identity[0] != '\0' && o->psk_key_len > 0;
	bool cert = o->cert_file[0] != '\0';

	if ((o->cert_file[0] == '\0') != (o->key_file[0] == '\0') ||
	    (o->ca_file[0] != '\0' && !cert)) {
		snprintf(err, err_size,
		         "--cert and --key go together "
		         "(--ca needs them)");
		return LWM2M_EINVAL;
	}
	if (psk && cert) {
		snprintf(err, err_size,
		         "--psk-* and --cert exclude each other");
		return LWM2M_EINVAL;
	}
	if (strncmp(o->server, "coaps://", 8) == 0 && !psk && !cert) {
		snprintf(err, err_size,
		         "coaps:// needs --psk-identity and "
		         "--psk-key, or --cert and --key");
		return LWM2M_EINVAL;
	}
	return LWM2M_OK;
}

lwm2m_err
sim_opts_parse(struct sim_opts *o, int argc, char **argv, bool *ret_help,
               char *err, size_t err_size)
{
	int opt;

	*ret_help = false;
	if (parse_env(o, err, err_size) != LWM2M_OK) {
		return LWM2M_EINVAL;
	}
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			*ret_help = true;
			return LWM2M_OK;
		}
		if (opt == '?' || opt == ':') {
			snprintf(err, err_size,
			         "unknown option or missing "
			         "value: %.64s",
			         argv[optind - 1]);
			return LWM2M_EINVAL;
		}
		if (apply(o, opt, optarg) != LWM2M_OK) {
			snprintf(err, err_size, "invalid --%s \"%.64s\"",
			         opt_name(opt), optarg != NULL ? optarg : "");
			return LWM2M_EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, err_size, "unexpected argument: %.64s",
		         argv[optind]);
		return LWM2M_EINVAL;
	}
	return check(o, err, err_size);
}
