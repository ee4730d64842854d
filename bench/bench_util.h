/* bench_util: what the C benchmark tools of bench/ share: clocks, plain
 * CoAP message parsing and building over UDP, latency histograms and
 * address parsing.  Single-threaded tools; nothing here keeps state.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_HIST_STEP_US 10
#define BENCH_HIST_BUCKETS 1000000 /* 10 s at 10 us */

/* bench_stop is set by SIGINT and SIGTERM once bench_catch_signals has
 * run; the tools' loops end when it is. */
extern volatile sig_atomic_t bench_stop;

/* bench_catch_signals sets bench_stop on SIGINT and SIGTERM and ignores
 * SIGPIPE (a peer that hung up shows as a failed write instead). */
void bench_catch_signals(void);

/* bench_now_us returns CLOCK_MONOTONIC in microseconds. */
int64_t bench_now_us(void);

/* bench_real_us returns CLOCK_REALTIME in microseconds. */
int64_t bench_real_us(void);

/* A parsed CoAP message: header fields and where its options start.  All
 * pointers borrow the datagram passed to bench_coap_parse. */
struct bench_coap {
	unsigned type;
	uint8_t code, tkl;
	uint16_t mid;
	const uint8_t *token;
	const uint8_t *opt; /* next option (bench_coap_next_opt) */
	const uint8_t *end;
	unsigned opt_num; /* number of the last option read */
};

/* bench_coap_parse checks the CoAP header of buf (version 1, token length
 * at most 8 and present) and fills *ret; false when malformed (*ret is
 * then zeroed).  buf must outlive *ret. */
bool bench_coap_parse(const uint8_t *buf, size_t len, struct bench_coap *ret);

/* bench_coap_next_opt reads the next option of m into *ret_num, *ret_val
 * and *ret_len.  Returns 1 for an option, 0 at the payload marker or the
 * end of the message, -1 when the option runs past the datagram. */
int bench_coap_next_opt(struct bench_coap *m, unsigned *ret_num,
                        const uint8_t **ret_val, unsigned *ret_len);

/* A CoAP message being built into a caller-owned buffer of cap bytes. */
struct bench_coap_out {
	uint8_t *b;
	size_t cap, len;
	unsigned last; /* last option number written */
};

/* bench_coap_put_header starts a message in out (buffer b of cap bytes,
 * cap >= 12): version 1, type, code, mid and the tkl (<= 8) bytes of
 * token. */
void bench_coap_put_header(struct bench_coap_out *out, uint8_t *b, size_t cap,
                           unsigned type, uint8_t code, uint16_t mid,
                           const uint8_t *token, uint8_t tkl);

/* bench_coap_put_opt appends option num (>= the last one written) of vlen
 * bytes; false, and nothing written, when it does not fit. */
bool bench_coap_put_opt(struct bench_coap_out *out, unsigned num,
                        const void *val, size_t vlen);

/* bench_coap_put_uint_opt appends option num holding v in the fewest
 * bytes (none for 0); false when it does not fit. */
bool bench_coap_put_uint_opt(struct bench_coap_out *out, unsigned num,
                             uint32_t v);

/* bench_coap_put_payload appends the payload marker and len bytes of
 * data; false, and nothing written, when it does not fit. */
bool bench_coap_put_payload(struct bench_coap_out *out, const void *data,
                            size_t len);

/* bench_coap_send_ack sends an empty ACK for mid from socket fd to "to";
 * a lost ACK is the peer's to retransmit for, so errors are ignored. */
void bench_coap_send_ack(int fd, uint16_t mid, const struct sockaddr_in *to);

/* The registrations a benchmark tool acting as its devices' LwM2M server
 * keeps: each client's address, in order of first Register (index = the
 * device), found again by address through an open-addressing table. */
struct bench_rd {
	int fd; /* the UDP socket the devices talk to */
	uint32_t max, n, hash_size;
	struct sockaddr_in *devs;
	uint32_t *hash; /* address -> device index + 1; 0 = empty */
};

/* bench_rd_init prepares rd for up to max devices answering on socket fd
 * (not owned); false when out of memory. */
bool bench_rd_init(struct bench_rd *rd, int fd, uint32_t max);

/* bench_rd_serve answers the request m (parsed by bench_coap_parse, no
 * option read yet) from "from" when it is a CON: Register (POST /rd)
 * 2.01 with Location-Path rd/<index> (a new address gets the next index;
 * 5.03 once max devices have registered), Update 2.04, De-register 2.02,
 * any other path 4.04. */
void bench_rd_serve(struct bench_rd *rd, struct bench_coap *m,
                    const struct sockaddr_in *from);

/* bench_rd_drain reads what waits on rd->fd (up to 1,024 datagrams):
 * requests go to bench_rd_serve, responses and empty ACKs to
 * on_response(arg, message, sender); malformed datagrams are dropped. */
void bench_rd_drain(struct bench_rd *rd,
                    void (*on_response)(void *arg, struct bench_coap *m,
                                        const struct sockaddr_in *from),
                    void *arg);

/* bench_hist_add counts a latency of us microseconds (negative counts as
 * 0) in hist, BENCH_HIST_BUCKETS buckets of BENCH_HIST_STEP_US; false when
 * it was beyond the last bucket (then counted in the last). */
bool bench_hist_add(uint32_t *hist, int64_t us);

/* bench_hist_percentile returns the q-quantile (0..1) of the count
 * latencies in hist, in milliseconds, at the middle of its bucket; 0 when
 * count is 0, max_us / 1000 when the buckets hold fewer than count. */
double bench_hist_percentile(const uint32_t *hist, uint64_t count,
                             int64_t max_us, double q);

/* The counters of one load phase of a closed- or open-loop generator. */
struct bench_phase {
	uint64_t requests, ok, errors, timeouts, retransmits;
	uint32_t *hist; /* BENCH_HIST_BUCKETS, caller-allocated */
	uint32_t max_us;
	int64_t last_ok_us;
};

/* bench_phase_record_ok counts a success at t (microseconds, monotonic) of
 * a request started at start_us: ok, last_ok_us, histogram and maximum. */
void bench_phase_record_ok(struct bench_phase *st, int64_t start_us, int64_t t);

/* bench_phase_print writes the phase's JSON line to stdout and flushes it:
 * counters (retransmits only when with_retransmits), elapsed_s since
 * start_us, rate (successes over the time to the last one) and p50, p99,
 * p999 and max latency in ms. */
void bench_phase_print(const struct bench_phase *st, const char *name,
                       int64_t start_us, bool with_retransmits);

/* bench_parse_addr parses "A.B.C.D:PORT" into *ret; false (*ret then
 * undefined) when it is not an IPv4 address and a port 1..65535. */
bool bench_parse_addr(const char *text, struct sockaddr_in *ret);

/* bench_parse_accept parses a CoAP Content-Format number (0..65535, the
 * value of an Accept option) into *ret; false, *ret untouched, otherwise. */
bool bench_parse_accept(const char *text, int *ret);

/* bench_udp_open opens a non-blocking UDP socket bound to IPv4 address
 * addr (host order, port chosen by the kernel) and adds it to epoll set ep
 * for EPOLLIN with data.u32 = tag; the descriptor goes to *ret_fd on
 * success.  False (errno set, nothing left open) on failure. */
bool bench_udp_open(uint32_t addr, int ep, uint32_t tag, int *ret_fd);

/* The closed-loop settings both read tools take: --concurrency C (slots),
 * --seconds D (per phase) and --timeout-ms MS. */
struct bench_loop_opts {
	unsigned nslots;
	double seconds;
	int64_t timeout_us;
};

/* bench_loop_opt applies getopt_long's result o and its argument arg to
 * *opts when o is one of those options ('c', 'd', 'T'); false, and *opts
 * untouched, for any other o. */
bool bench_loop_opt(int o, const char *arg, struct bench_loop_opts *opts);

/* bench_raise_nofile raises the soft limit of open files to the hard
 * limit when it is below need; best effort. */
void bench_raise_nofile(unsigned need);

#endif
