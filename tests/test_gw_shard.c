/* Unit tests of gw_shard.c: the throttled walk of libcoap's sessions (the
 * interposed coap_io_prepare_epoll) and DTLS endpoints of several libcoap
 * contexts on one UDP port (SO_REUSEPORT). */
#include <arpa/inet.h>
#include <check.h>

#include "check_util.h"
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gw.h"

/* a UDP port on 127.0.0.1 nobody is bound to right now */
static uint16_t
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void
loopback(coap_address_t *addr, uint16_t port)
{
	coap_address_init(addr);
	addr->addr.sin.sin_family = AF_INET;
	addr->addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr->addr.sin.sin_port = htons(port);
	addr->size = sizeof addr->addr.sin;
}

/* a context that may open DTLS endpoints (libcoap wants credentials) */
static coap_context_t *
dtls_context(void)
{
	coap_context_t *ctx = coap_new_context(NULL);
	coap_dtls_spsk_t setup;

	ck_assert_ptr_nonnull(ctx);
	memset(&setup, 0, sizeof setup);
	setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
	setup.psk_info.key.s = (const uint8_t *)"0123456789abcdef";
	setup.psk_info.key.length = 16;
	ck_assert_int_eq(coap_context_set_psk2(ctx, &setup), 1);
	return ctx;
}

/* true when a plain UDP socket (no SO_REUSEPORT) can bind port */
static bool
port_free(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), r;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	r = bind(fd, (struct sockaddr *)&a, sizeof a);
	close(fd);
	return r == 0;
}

START_TEST(test_gw_walk_throttle_paces)
{
	coap_context_t *ctx = coap_new_context(NULL);
	coap_tick_t now;
	unsigned int left;

	ck_assert_ptr_nonnull(ctx);
	ck_assert(gw_walk_throttle(ctx, 5000));
	coap_ticks(&now);
	/* the first call walks (nothing due: 0), the next one within 5 s
	 * does not and answers the time left */
	ck_assert_uint_eq(coap_io_prepare_epoll(ctx, now), 0);
	left = coap_io_prepare_epoll(ctx, now + 1);
	ck_assert_uint_ge(left, 1);
	ck_assert_uint_le(left, 6000);
	gw_walk_forget(ctx);
	coap_free_context(ctx);
}
END_TEST

START_TEST(test_gw_walk_throttle_zero_is_off)
{
	coap_context_t *ctx = coap_new_context(NULL);
	coap_tick_t now;

	ck_assert(!gw_walk_throttle(ctx, 0));
	coap_ticks(&now);
	ck_assert_uint_eq(coap_io_prepare_epoll(ctx, now), 0);
	ck_assert_uint_eq(coap_io_prepare_epoll(ctx, now + 1), 0);
	coap_free_context(ctx);
}
END_TEST

START_TEST(test_gw_walk_forget_passes_through)
{
	coap_context_t *ctx = coap_new_context(NULL);
	coap_tick_t now;

	ck_assert(gw_walk_throttle(ctx, 5000));
	coap_ticks(&now);
	ck_assert_uint_eq(coap_io_prepare_epoll(ctx, now), 0);
	gw_walk_forget(ctx);
	gw_walk_forget(ctx); /* twice: no effect */
	gw_walk_forget(NULL);
	/* libcoap's own answer again: nothing due */
	ck_assert_uint_eq(coap_io_prepare_epoll(ctx, now + 1), 0);
	coap_free_context(ctx);
}
END_TEST

START_TEST(test_gw_shard_listen_shares_port)
{
	coap_context_t *a = dtls_context();
	coap_context_t *b = dtls_context();
	coap_address_t addr;
	uint16_t port = free_port();

	loopback(&addr, port);
	ck_assert_int_eq(gw_shard_listen(a, &addr), LWM2M_OK);
	ck_assert_int_eq(gw_shard_listen(b, &addr), LWM2M_OK);
	/* the port is held, by sockets that only share with SO_REUSEPORT */
	ck_assert(!port_free(port));
	coap_free_context(a);
	coap_free_context(b);
	ck_assert(port_free(port));
}
END_TEST

START_TEST(test_gw_shard_listen_foreign_address)
{
	coap_context_t *ctx = dtls_context();
	coap_address_t addr;

	loopback(&addr, 5684);
	/* TEST-NET-1: not an address of this host */
	addr.addr.sin.sin_addr.s_addr = htonl(0xc0000201u);
	ck_assert_int_eq(gw_shard_listen(ctx, &addr), LWM2M_EIO);
	coap_free_context(ctx);
}
END_TEST

static Suite *
gw_shard_suite(void)
{
	Suite *s = suite_create("gw_shard");
	TCase *tc = tcase_create("gw_walk_throttle");

	tcase_add_test(tc, test_gw_walk_throttle_paces);
	tcase_add_test(tc, test_gw_walk_throttle_zero_is_off);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_walk_forget");
	tcase_add_test(tc, test_gw_walk_forget_passes_through);
	suite_add_tcase(s, tc);
	tc = tcase_create("gw_shard_listen");
	tcase_add_test(tc, test_gw_shard_listen_shares_port);
	tcase_add_test(tc, test_gw_shard_listen_foreign_address);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	coap_startup();
	coap_set_log_level(LOG_EMERG);
	return check_run(gw_shard_suite());
}
