/* Unit tests of the small common modules: ids, base64, time, env, redis URL. */
#include <check.h>

#include "check_util.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lwm2m_env.h"
#include "lwm2m_id.h"
#include "lwm2m_log.h"
#include "lwm2m_loop.h"
#include "lwm2m_redis.h"
#include "lwm2m_spares.h"

START_TEST(test_lwm2m_id_new_valid)
{
	char id[LWM2M_ID_SIZE];

	ck_assert_int_eq(lwm2m_id_new(id), LWM2M_OK);
	ck_assert_uint_eq(strlen(id), LWM2M_ID_LEN);
	ck_assert(lwm2m_id_valid(id, strlen(id)));
}
END_TEST

START_TEST(test_lwm2m_id_valid_rejects)
{
	ck_assert(lwm2m_id_valid("pFRn92gTAIJLwFeC0-IsFA", 22));
	ck_assert(!lwm2m_id_valid("AAAAAAAAAAAAAAAAAAAAAA", 22));
	ck_assert(!lwm2m_id_valid("pFRn92gTAIJLwFeC0+IsFA", 22));
	ck_assert(!lwm2m_id_valid("pFRn92gTAIJLwFeC0-IsF", 21));
	ck_assert(!lwm2m_id_valid("pFRn92gTAIJLwFeC0-Is$A", 22));
	/* the last character's low 4 bits are not part of the 16 bytes */
	ck_assert(!lwm2m_id_valid("AAAAAAAAAAAAAAAAAAAAAP", 22));
	ck_assert(lwm2m_id_valid("AAAAAAAAAAAAAAAAAAAAAQ", 22));
	ck_assert(lwm2m_id_valid("BAAAAAAAAAAAAAAAAAAAAA", 22));
	ck_assert(lwm2m_id_valid("AAAAAAAAAAAAAAAAAAAA_A", 22));
	ck_assert(!lwm2m_id_valid("AAAAAAAAAAAAAAAAAAAAA=", 22));
	/* the bytes just outside each class of the alphabet */
	for (const char *c = "@[`{/:,.\x7f\xc1\xe1"; *c != '\0'; c++) {
		char id[] = "pFRn92gTAIJLwFeC0-IsFA";

		id[5] = *c;
		ck_assert(!lwm2m_id_valid(id, 22));
		id[5] = '9';
		id[21] = *c;
		ck_assert(!lwm2m_id_valid(id, 22));
	}
}
END_TEST

/* ids from the buffered source stay distinct across many refills, and a
 * forked child does not repeat its parent's next ids */
START_TEST(test_lwm2m_id_new_unique)
{
	enum { N = 1000 };
	static char ids[N][LWM2M_ID_SIZE];
	int fds[2];
	char child[LWM2M_ID_SIZE] = "";
	pid_t pid;
	int status;

	for (size_t i = 0; i < N; i++) {
		ck_assert_int_eq(lwm2m_id_new(ids[i]), LWM2M_OK);
		for (size_t j = 0; j < i; j++) {
			ck_assert_str_ne(ids[i], ids[j]);
		}
	}
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char id[LWM2M_ID_SIZE];
		bool ok = lwm2m_id_new(id) == LWM2M_OK &&
		          write(fds[1], id, LWM2M_ID_LEN) == LWM2M_ID_LEN;
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(lwm2m_id_new(ids[0]), LWM2M_OK);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(read(fds[0], child, LWM2M_ID_LEN), LWM2M_ID_LEN);
	ck_assert(lwm2m_id_valid(child, LWM2M_ID_LEN));
	ck_assert_str_ne(child, ids[0]);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

START_TEST(test_lwm2m_b64_roundtrip)
{
	const uint8_t in[] = "any carnal pleas";
	char enc[64];
	uint8_t dec[64];
	size_t n;

	for (size_t len = 0; len <= 16; len++) {
		for (int url = 0; url < 2; url++) {
			size_t e = lwm2m_b64_encode(in, len, enc, url);
			ck_assert_uint_eq(e, lwm2m_b64_encoded_len(len, url));
			ck_assert_int_eq(
			    lwm2m_b64_decode(enc, e, dec, sizeof dec, &n),
			    LWM2M_OK);
			ck_assert_uint_eq(n, len);
			ck_assert_mem_eq(dec, in, len);
		}
	}
	lwm2m_b64_encode((const uint8_t *)"foob", 4, enc, false);
	ck_assert_str_eq(enc, "Zm9vYg==");
	ck_assert_int_eq(lwm2m_b64_decode("Zm9v!", 5, dec, sizeof dec, &n),
	                 LWM2M_EPROTO);
	ck_assert_int_eq(lwm2m_b64_decode("Zm9vYmFy", 8, dec, 2, &n),
	                 LWM2M_ELIMIT);
}
END_TEST

START_TEST(test_lwm2m_time_parse_iso8601)
{
	int64_t t;
	char buf[32];

	ck_assert_int_eq(
	    lwm2m_time_parse_iso8601("2026-11-25T11:20:03Z", 20, &t), LWM2M_OK);
	ck_assert_str_eq(lwm2m_time_iso8601(t, buf, sizeof buf),
	                 "2026-11-25T11:20:03Z");
	ck_assert_int_eq(
	    lwm2m_time_parse_iso8601("2026-11-25T12:20:03.5+01:00", 27, &t),
	    LWM2M_OK);
	ck_assert_str_eq(lwm2m_time_iso8601(t, buf, sizeof buf),
	                 "2026-11-25T11:20:03Z");
	ck_assert_int_eq(
	    lwm2m_time_parse_iso8601("2026-13-25T11:20:03Z", 20, &t),
	    LWM2M_EPROTO);
	ck_assert_int_eq(lwm2m_time_parse_iso8601("2026-11-25", 10, &t),
	                 LWM2M_EPROTO);
}
END_TEST

START_TEST(test_lwm2m_env_roundtrip)
{
	struct lwm2m_env in = {.kind = LWM2M_ENV_EV_UPDATED,
	                       .flags = LWM2M_ENV_F_REPLY,
	                       .corr_id = 0x0102030405060708ull,
	                       .payload = (const uint8_t *)"abc",
	                       .payload_len = 3};
	struct lwm2m_env out;
	nng_msg *msg;

	ck_assert_int_eq(lwm2m_env_encode(&in, &msg), LWM2M_OK);
	ck_assert_int_eq(lwm2m_env_decode(msg, &out), LWM2M_OK);
	ck_assert_uint_eq(out.kind, in.kind);
	ck_assert_uint_eq(out.flags, in.flags);
	ck_assert(out.corr_id == in.corr_id);
	ck_assert_uint_eq(out.payload_len, 3);
	ck_assert_mem_eq(out.payload, "abc", 3);
	nng_msg_chop(msg, 3);
	ck_assert_int_eq(lwm2m_env_decode(msg, &out), LWM2M_OK);
	nng_msg_chop(msg, 1);
	ck_assert_int_eq(lwm2m_env_decode(msg, &out), LWM2M_EPROTO);
	nng_msg_free(msg);
}
END_TEST

START_TEST(test_lwm2m_env_request_id)
{
	struct lwm2m_env in = {.kind = LWM2M_ENV_RPC_PING,
	                       .payload = (const uint8_t *)"xy",
	                       .payload_len = 2,
	                       .rid = "req-42",
	                       .rid_len = 6};
	struct lwm2m_env out;
	nng_msg *msg;
	uint8_t *body;

	ck_assert_int_eq(lwm2m_env_encode(&in, &msg), LWM2M_OK);
	ck_assert_int_eq(lwm2m_env_decode(msg, &out), LWM2M_OK);
	ck_assert(out.flags & LWM2M_ENV_F_RID);
	ck_assert_uint_eq(out.rid_len, 6);
	ck_assert_mem_eq(out.rid, "req-42", 6);
	ck_assert_uint_eq(out.payload_len, 2);
	ck_assert_mem_eq(out.payload, "xy", 2);
	/* a length running past the body is refused */
	body = nng_msg_body(msg);
	body[LWM2M_ENV_HEADER_LEN] = 60;
	ck_assert_int_eq(lwm2m_env_decode(msg, &out), LWM2M_EPROTO);
	body[LWM2M_ENV_HEADER_LEN] = 0;
	ck_assert_int_eq(lwm2m_env_decode(msg, &out), LWM2M_EPROTO);
	nng_msg_free(msg);
	in.rid_len = LWM2M_ENV_RID_MAX + 1;
	ck_assert_int_eq(lwm2m_env_encode(&in, &msg), LWM2M_EINVAL);
}
END_TEST

START_TEST(test_lwm2m_redis_url_parse)
{
	struct lwm2m_redis_url u;

	ck_assert_int_eq(
	    lwm2m_redis_url_parse("redis://:pw@10.0.0.1:6380/2", &u), LWM2M_OK);
	ck_assert_str_eq(u.host, "10.0.0.1");
	ck_assert_int_eq(u.port, 6380);
	ck_assert_str_eq(u.password, "pw");
	ck_assert_int_eq(u.db, 2);
	ck_assert_int_eq(lwm2m_redis_url_parse("localhost", &u), LWM2M_OK);
	ck_assert_int_eq(u.port, 6379);
	ck_assert_int_eq(lwm2m_redis_url_parse("unix:///tmp/r.sock?db=3", &u),
	                 LWM2M_OK);
	ck_assert_str_eq(u.path, "/tmp/r.sock");
	ck_assert_int_eq(u.db, 3);
	ck_assert_int_eq(lwm2m_redis_url_parse("redis://h:99999", &u),
	                 LWM2M_EINVAL);
	ck_assert_int_eq(lwm2m_redis_url_parse("redis://:1", &u), LWM2M_EINVAL);
}
END_TEST

START_TEST(test_lwm2m_log_quote)
{
	char buf[8];

	ck_assert_str_eq(lwm2m_log_quote(buf, sizeof buf, "a\"b\n", 4), "a'b?");
	ck_assert_str_eq(lwm2m_log_quote(buf, sizeof buf, "0123456789", 10),
	                 "0123...");
}
END_TEST

/* small requests come from the pool, large ones from the kernel; both are
 * filled and successive draws differ */
START_TEST(test_lwm2m_random_pooled_fills)
{
	static uint8_t big[2][8192];
	uint8_t a[16], b[16], zero[16] = {0};

	ck_assert_int_eq(lwm2m_random_pooled(a, sizeof a), LWM2M_OK);
	ck_assert_int_eq(lwm2m_random_pooled(b, sizeof b), LWM2M_OK);
	ck_assert(memcmp(a, b, sizeof a) != 0);
	ck_assert(memcmp(a, zero, sizeof a) != 0);
	for (int i = 0; i < 1000; i++) { /* several refills */
		ck_assert_int_eq(lwm2m_random_pooled(a, sizeof a), LWM2M_OK);
		ck_assert(memcmp(a, b, sizeof a) != 0);
	}
	ck_assert_int_eq(lwm2m_random_pooled(big[0], sizeof big[0]), LWM2M_OK);
	ck_assert_int_eq(lwm2m_random_pooled(big[1], sizeof big[1]), LWM2M_OK);
	ck_assert(memcmp(big[0], big[1], sizeof big[0]) != 0);
	ck_assert_int_eq(lwm2m_random_pooled(a, 0), LWM2M_OK);
}
END_TEST

/* kept objects come back last put first, at most max are kept (the rest
 * freed), and fini frees them all (valgrind: no leak) */
START_TEST(test_lwm2m_spares_bounded)
{
	struct lwm2m_spares s = {0};
	void *obj[4];

	ck_assert_ptr_null(lwm2m_spares_take(&s));
	for (int i = 0; i < 4; i++) {
		obj[i] = malloc(32);
		ck_assert_ptr_nonnull(obj[i]);
	}
	for (int i = 0; i < 4; i++) {
		lwm2m_spares_put(&s, obj[i], 3); /* the fourth is freed */
	}
	lwm2m_spares_put(&s, NULL, 3);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_ptr_eq(lwm2m_spares_take(&s), obj[2]);
	ck_assert_ptr_eq(lwm2m_spares_take(&s), obj[1]);
	ck_assert_uint_eq(s.n, 1);
	lwm2m_spares_put(&s, obj[1], 3);
	free(obj[2]);
	lwm2m_spares_fini(&s);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_ptr_null(lwm2m_spares_take(&s));
}
END_TEST

/* v as lwm2m_dec_put writes it, against "%llu" */
static void
check_dec(unsigned long long v)
{
	char ours[LWM2M_DEC_MAX + 1], ref[32];

	*lwm2m_dec_put(ours, v) = '\0';
	snprintf(ref, sizeof ref, "%llu", v);
	ck_assert_str_eq(ours, ref);
}

START_TEST(test_lwm2m_dec_put_like_printf)
{
	unsigned long long p = 1;

	for (unsigned long long v = 0; v < 200000; v++) {
		check_dec(v);
	}
	for (int i = 0; i < 19; i++, p *= 10) {
		check_dec(p - 1);
		check_dec(p);
		check_dec(p + 1);
		check_dec(p * 10 - 1);
	}
	check_dec(1764115200123ull); /* a time in ms: 13 digits */
	check_dec(ULLONG_MAX);
}
END_TEST

START_TEST(test_lwm2m_hex_roundtrip)
{
	uint8_t in[256], out[256];
	char hex[2 * sizeof in + 1];

	for (int c = 0; c < 256; c++) {
		const char *digits = "0123456789abcdef0123456789ABCDEF";
		const char *at = c == 0 ? NULL : strchr(digits, c);
		int want = at == NULL ? -1 : (int)((at - digits) % 16);

		ck_assert_int_eq(lwm2m_hex_digit((char)c), want);
		in[c] = (uint8_t)(255 - c);
	}
	lwm2m_hex_encode(in, sizeof in, hex);
	ck_assert(lwm2m_hex_decode(hex, sizeof in, out));
	ck_assert_mem_eq(in, out, sizeof in);
	ck_assert(lwm2m_hex_decode("A0fF", 2, out));
	ck_assert_uint_eq(out[0], 0xa0);
	ck_assert_uint_eq(out[1], 0xff);
	ck_assert(!lwm2m_hex_decode("0g", 1, out));
	ck_assert(!lwm2m_hex_decode("g", 1, out)); /* stops at the bad digit */
	ck_assert(!lwm2m_hex_decode("1", 1, out)); /* reads the NUL, no further */
}
END_TEST

static Suite *
common_suite(void)
{
	Suite *s = suite_create("common");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
	    {"lwm2m_id_new", test_lwm2m_id_new_valid},
	    {"lwm2m_id_new_unique", test_lwm2m_id_new_unique},
	    {"lwm2m_random_pooled", test_lwm2m_random_pooled_fills},
	    {"lwm2m_id_valid", test_lwm2m_id_valid_rejects},
	    {"lwm2m_b64", test_lwm2m_b64_roundtrip},
	    {"lwm2m_hex", test_lwm2m_hex_roundtrip},
	    {"lwm2m_time", test_lwm2m_time_parse_iso8601},
	    {"lwm2m_env", test_lwm2m_env_roundtrip},
	    {"lwm2m_env_rid", test_lwm2m_env_request_id},
	    {"lwm2m_redis_url_parse", test_lwm2m_redis_url_parse},
	    {"lwm2m_log_quote", test_lwm2m_log_quote},
	    {"lwm2m_spares", test_lwm2m_spares_bounded},
	    {"lwm2m_dec_put", test_lwm2m_dec_put_like_printf},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int
main(void)
{
	return check_run(common_suite());
}
