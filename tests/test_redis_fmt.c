/* Unit tests of lwm2m__redis_vformat, lwm2m_redis_cmd's fast formatter:
 * every supported format must encode exactly as hiredis's own formatter;
 * and of the spare reply objects of lwm2m_redis's readers. */
#include <check.h>

#include "check_util.h"
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "lwm2m_redis.h"

static lwm2m_err
fmt_into(char *out, size_t size, size_t *ret_len, const char *fmt, ...)
{
	char scratch[2048];
	va_list ap;
	lwm2m_err err;

	va_start(ap, fmt);
	err = lwm2m__redis_vformat(out, size, scratch, sizeof scratch, fmt, ap,
	                           ret_len);
	va_end(ap);
	return err;
}

/* ours and hiredis's encodings of the same call must be byte-identical */
#define SAME(...)                                                              \
	do {                                                                   \
		char out_[4096];                                               \
		char *ref_ = NULL;                                             \
		size_t len_ = 0;                                               \
		int rlen_ = redisFormatCommand(&ref_, __VA_ARGS__);            \
		ck_assert_int_eq(                                              \
		    fmt_into(out_, sizeof out_, &len_, __VA_ARGS__),           \
		    LWM2M_OK);                                                 \
		ck_assert_int_gt(rlen_, 0);                                    \
		ck_assert_uint_eq(len_, (size_t)rlen_);                        \
		ck_assert_mem_eq(out_, ref_, len_);                            \
		redisFreeCommand(ref_);                                        \
	} while (0)

START_TEST(test_lwm2m__redis_vformat_strings)
{
	SAME("PING");
	SAME("HGET %s gw", "lwds:v2:client:abc");
	SAME("SET %s %s", "k", "");
	SAME("SET  %s   %s ", "k", "v");
	SAME("GET lwds:v2:{%s}:x%sy", "a", "b");
	SAME("SET k 100%%");
}
END_TEST

START_TEST(test_lwm2m__redis_vformat_integers)
{
	SAME("ZADD %s %lld %s", "z", -1234567890123LL, "id");
	SAME("EXPIRE %s %d", "k", -5);
	SAME("EXPIRE %s %u", "k", 4000000000u);
	SAME("X %ld %lu %i", -7L, 7UL, 42);
	SAME("X %llu", 18446744073709551615ULL);
	SAME("X %lld %d", LLONG_MIN, INT_MIN);
}
END_TEST

START_TEST(test_lwm2m__redis_vformat_binary)
{
	static const char bin[] = {'a', ' ', '\0', '\r', '\n', 'z'};

	SAME("SET %s %b", "k", bin, sizeof bin);
	SAME("SET %s %b", "k", bin, (size_t)0);
}
END_TEST

START_TEST(test_lwm2m__redis_vformat_fallback)
{
	char out[4096], big[3000];
	size_t len;
	char many[64 * 2 + 8] = "X";

	ck_assert_int_eq(fmt_into(out, sizeof out, &len, "X %f", 1.5),
	                 LWM2M_EINVAL);
	ck_assert_int_eq(fmt_into(out, sizeof out, &len, "X %5d", 1),
	                 LWM2M_EINVAL);
	ck_assert_int_eq(fmt_into(out, sizeof out, &len, "X %zu", (size_t)1),
	                 LWM2M_EINVAL);
	ck_assert_int_eq(fmt_into(out, sizeof out, &len, "X %"), LWM2M_EINVAL);
	ck_assert_int_eq(fmt_into(out, sizeof out, &len, ""), LWM2M_EINVAL);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ck_assert_int_eq(fmt_into(out, sizeof out, &len, "SET k %s", big),
	                 LWM2M_EINVAL);
	ck_assert_int_eq(fmt_into(out, 20, &len, "SET key value"),
	                 LWM2M_EINVAL);
	for (int i = 0; i < 64; i++) {
		strcat(many, " a");
	}
	ck_assert_int_eq(fmt_into(out, sizeof out, &len, many), LWM2M_EINVAL);
}
END_TEST

/* ours and hiredis's encodings of the same vector must be byte-identical,
 * into the caller's buffer (size bytes) when it fits, else malloc'd */
static void
same_argv_in(int argc, const char **argv, const size_t *argvlen, size_t size)
{
	char stack[256], *ours = NULL, *ref = NULL;
	size_t len = 0;
	int rlen = redisFormatCommandArgv(&ref, argc, argv, argvlen);

	ck_assert_uint_le(size, sizeof stack);
	ck_assert_int_eq(lwm2m__redis_argv_encode(argc, argv, argvlen,
	                                          size ? stack : NULL, size,
	                                          &ours, &len),
	                 LWM2M_OK);
	ck_assert_int_gt(rlen, 0);
	ck_assert_uint_eq(len, (size_t)rlen);
	ck_assert_mem_eq(ours, ref, len);
	ck_assert_int_eq(ours[len], '\0'); /* hiredis peeks past argument 1 */
	if (ours != stack) {
		free(ours);
	}
	redisFreeCommand(ref);
}

static void
same_argv(int argc, const char **argv, const size_t *argvlen)
{
	same_argv_in(argc, argv, argvlen, 0);
	same_argv_in(argc, argv, argvlen, 16);  /* too small: malloc'd */
	same_argv_in(argc, argv, argvlen, 256); /* fits */
}

START_TEST(test_lwm2m__redis_argv_encode_vectors)
{
	const char *one[] = {"PING"};
	const char *hset[] = {"HSET", "k", "ep", "", "objs", "</1/0>,</3/0>"};
	const char *bin[] = {"SET", "k", "a\0b\r\n"};
	const size_t binlen[] = {3, 1, 5};
	const char *many[70];
	char *out = NULL;
	size_t len;

	same_argv(1, one, NULL);
	same_argv(6, hset, NULL);
	same_argv(3, bin, binlen);
	for (int i = 0; i < 70; i++) { /* lengths beyond the 64 kept */
		many[i] = i % 2 ? "v" : "field";
	}
	same_argv(70, many, NULL);
	ck_assert_int_eq(
	    lwm2m__redis_argv_encode(0, one, NULL, NULL, 0, &out, &len),
	    LWM2M_EINVAL);
	ck_assert_ptr_null(out);
}
END_TEST

/* an argument length of every width of digits, with the bytes it names */
START_TEST(test_lwm2m__redis_argv_encode_lengths)
{
	static const size_t sizes[] = {0, 9, 10, 99, 100, 999, 1000, 12345};
	char *big = malloc(12346);
	const char *arg[3] = {"SET", "k", big};
	size_t alen[3] = {3, 1, 0};

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 12346);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		alen[2] = sizes[i];
		same_argv(3, arg, alen);
	}
	free(big);
}
END_TEST

/* replies of an attached reader: top-level integers and nils come from
 * the spares and go back to them; everything else is hiredis's */
START_TEST(test_lwm2m__redis_replies)
{
	static const char wire[] =
	    ":42\r\n$-1\r\n*3\r\n:7\r\n$-1\r\n$3\r\nabc\r\n"
	    "+OK\r\n-ERR no\r\n:-1\r\n";
	struct lwm2m__redis_replies pool = {0};
	redisReader *reader = redisReaderCreate();
	redisReply *r, *first;
	void *obj;

	ck_assert_ptr_nonnull(reader);
	lwm2m__redis_replies_attach(&pool, reader);
	ck_assert_int_eq(redisReaderFeed(reader, wire, sizeof wire - 1),
	                 REDIS_OK);
	ck_assert_int_eq(redisReaderGetReply(reader, &obj), REDIS_OK);
	first = r = obj;
	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	ck_assert_int_eq(r->integer, 42);
	reader->fn->freeObject(r);
	ck_assert_uint_eq(pool.spares.n, 1);
	ck_assert_int_eq(redisReaderGetReply(reader, &obj), REDIS_OK);
	r = obj;
	ck_assert_ptr_eq(r, first); /* the spare again */
	ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
	ck_assert_uint_eq(pool.spares.n, 0);
	reader->fn->freeObject(r);
	ck_assert_int_eq(redisReaderGetReply(reader, &obj), REDIS_OK);
	r = obj;
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_int_eq(r->element[0]->type, REDIS_REPLY_INTEGER);
	ck_assert_int_eq(r->element[0]->integer, 7);
	ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_NIL);
	ck_assert_str_eq(r->element[2]->str, "abc");
	ck_assert_uint_eq(pool.spares.n, 1); /* elements are hiredis's */
	reader->fn->freeObject(r);
	ck_assert_uint_eq(pool.spares.n, 1);
	ck_assert_int_eq(redisReaderGetReply(reader, &obj), REDIS_OK);
	r = obj;
	ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
	ck_assert_str_eq(r->str, "OK");
	reader->fn->freeObject(r);
	ck_assert_int_eq(redisReaderGetReply(reader, &obj), REDIS_OK);
	r = obj;
	ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
	ck_assert_str_eq(r->str, "ERR no");
	reader->fn->freeObject(r);
	ck_assert_int_eq(redisReaderGetReply(reader, &obj), REDIS_OK);
	r = obj;
	ck_assert_int_eq(r->integer, -1);
	ck_assert_uint_eq(pool.spares.n, 0);
	/* a partial array the reader still holds goes with it */
	ck_assert_int_eq(redisReaderFeed(reader, "*2\r\n:1\r\n", 8), REDIS_OK);
	ck_assert_int_eq(redisReaderGetReply(reader, &obj), REDIS_OK);
	ck_assert_ptr_null(obj);
	reader->fn->freeObject(r);
	redisReaderFree(reader);
	ck_assert_uint_eq(pool.spares.n, 1);
	lwm2m__redis_replies_fini(&pool);
	ck_assert_uint_eq(pool.spares.n, 0);
	ck_assert_ptr_null(pool.spares.head);
	lwm2m__redis_replies_fini(NULL);
}
END_TEST

static Suite *
redis_fmt_suite(void)
{
	Suite *s = suite_create("redis_fmt");
	TCase *tc = tcase_create("lwm2m__redis_vformat");

	tcase_add_test(tc, test_lwm2m__redis_vformat_strings);
	tcase_add_test(tc, test_lwm2m__redis_vformat_integers);
	tcase_add_test(tc, test_lwm2m__redis_vformat_binary);
	tcase_add_test(tc, test_lwm2m__redis_vformat_fallback);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m__redis_argv_encode");
	tcase_add_test(tc, test_lwm2m__redis_argv_encode_vectors);
	tcase_add_test(tc, test_lwm2m__redis_argv_encode_lengths);
	tcase_add_test(tc, test_lwm2m__redis_replies);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(redis_fmt_suite());
}
