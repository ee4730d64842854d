/* Unit tests of the REST API's HS256 tokens (services/rest-api/api_jwt.c). */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "lwm2m_id.h"

static const uint8_t key[] = "0123456789abcdef0123456789abcdef";
#define KEY_LEN (sizeof key - 1)
#define NOW 1800000000LL

/* noinline: GCC 12 at -O3 inlines this and then reports a false
 * -Wdangling-pointer on the returned token. */
static __attribute__((noinline)) char *
sign(long long org, bool refresh, int64_t exp)
{
	struct api_token t = {.org = org, .refresh = refresh, .exp = exp};
	char *jwt = NULL;

	strcpy(t.key, "AK-key_1");
	ck_assert_int_eq(api_jwt_sign(key, KEY_LEN, &t, &jwt), LWM2M_OK);
	return jwt;
}

START_TEST(test_api_jwt_sign_roundtrip)
{
	char *jwt = sign(7, false, NOW + 60);
	struct api_token t;

	ck_assert_int_eq(api_jwt_verify(key, KEY_LEN, jwt, strlen(jwt), NOW,
	                                false, &t),
	                 LWM2M_OK);
	ck_assert_int_eq(t.org, 7);
	ck_assert(!t.refresh);
	ck_assert_int_eq(t.exp, NOW + 60);
	ck_assert_str_eq(t.key, "AK-key_1");
	ck_assert_int_eq(strncmp(jwt, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
	                         37),
	                 0);
	free(jwt);
}
END_TEST

START_TEST(test_api_jwt_sign_admin_org_written)
{
	char *jwt = sign(0, false, NOW + 60);
	const char *claims = strchr(jwt, '.') + 1;
	uint8_t raw[512];
	size_t n;

	ck_assert_int_eq(lwm2m_b64_decode(claims, strcspn(claims, "."), raw,
	                                  sizeof raw - 1, &n),
	                 LWM2M_OK);
	raw[n] = '\0';
	ck_assert_ptr_nonnull(strstr((char *)raw, "\"OrgID\":0"));
	free(jwt);
}
END_TEST

START_TEST(test_api_jwt_verify_bad_signature)
{
	char *jwt = sign(1, false, NOW + 60);
	struct api_token t;
	uint8_t other[] = "another key";

	ck_assert_int_eq(api_jwt_verify(other, sizeof other - 1, jwt,
	                                strlen(jwt), NOW, false, &t),
	                 LWM2M_EDENIED);
	jwt[strlen(jwt) - 2] ^= 1; /* flip a signature character */
	ck_assert_int_ne(api_jwt_verify(key, KEY_LEN, jwt, strlen(jwt), NOW,
	                                false, &t),
	                 LWM2M_OK);
	free(jwt);
}
END_TEST

START_TEST(test_api_jwt_verify_expired)
{
	char *jwt = sign(1, false, NOW);
	struct api_token t;

	ck_assert_int_eq(api_jwt_verify(key, KEY_LEN, jwt, strlen(jwt), NOW,
	                                false, &t),
	                 LWM2M_ETIMEDOUT);
	ck_assert_int_eq(api_jwt_verify(key, KEY_LEN, jwt, strlen(jwt),
	                                NOW - 1, false, &t),
	                 LWM2M_OK);
	free(jwt);
}
END_TEST

START_TEST(test_api_jwt_verify_wrong_type)
{
	char *refresh = sign(1, true, NOW + 60);
	char *access = sign(1, false, NOW + 60);
	struct api_token t;

	ck_assert_int_eq(api_jwt_verify(key, KEY_LEN, refresh, strlen(refresh),
	                                NOW, false, &t),
	                 LWM2M_EDENIED);
	ck_assert_int_eq(api_jwt_verify(key, KEY_LEN, access, strlen(access),
	                                NOW, true, &t),
	                 LWM2M_EDENIED);
	ck_assert_int_eq(api_jwt_verify(key, KEY_LEN, refresh, strlen(refresh),
	                                NOW, true, &t),
	                 LWM2M_OK);
	ck_assert(t.refresh);
	free(refresh);
	free(access);
}
END_TEST

/* Replaces the claims part with other claims, keeping the signature. */
START_TEST(test_api_jwt_verify_tampered)
{
	char *jwt = sign(1, false, NOW + 60);
	const char *forged_claims = "{\"OrgID\":0,\"TT\":\"access\","
	                            "\"AK\":\"AK-key_1\",\"exp\":1900000000}";
	char forged[2048], enc[512];
	const char *dot1 = strchr(jwt, '.'), *dot2 = strrchr(jwt, '.');
	struct api_token t;

	lwm2m_b64_encode((const uint8_t *)forged_claims, strlen(forged_claims),
	                 enc, true);
	snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(dot1 - jwt), jwt,
	         enc, dot2);
	ck_assert_int_eq(api_jwt_verify(key, KEY_LEN, forged, strlen(forged),
	                                NOW, false, &t),
	                 LWM2M_EDENIED);
	free(jwt);
}
END_TEST

START_TEST(test_api_jwt_verify_malformed)
{
	struct api_token t;
	const char *bad[] = {"", "abc", "a.b", "a.b.c.d", "..",
	                     "eyJhbGciOiJub25lIn0.e30.", "a b.c.d"};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_ne(api_jwt_verify(key, KEY_LEN, bad[i],
		                                strlen(bad[i]), NOW, false, &t),
		                 LWM2M_OK);
	}
}
END_TEST

START_TEST(test_api_jwt_cache_new_bad_size)
{
	struct api_jwt_cache *c = NULL;

	ck_assert_int_eq(api_jwt_cache_new(0, &c), LWM2M_EINVAL);
	ck_assert_int_eq(api_jwt_cache_new(API_JWT_CACHE_MAX + 1, &c),
	                 LWM2M_EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_ptr_null(api_jwt_cache_free(NULL));
}
END_TEST

/* The second use of the same bytes is a hit with the same claims. */
START_TEST(test_api_jwt_verify_access_hit)
{
	struct api_jwt_cache *c = NULL;
	char *jwt = sign(7, false, NOW + 60);
	struct api_token t1, t2;
	uint64_t hits, misses;

	ck_assert_int_eq(api_jwt_cache_new(16, &c), LWM2M_OK);
	ck_assert_int_eq(
	    api_jwt_verify_access(c, key, KEY_LEN, jwt, strlen(jwt), NOW, &t1),
	    LWM2M_OK);
	ck_assert_int_eq(
	    api_jwt_verify_access(c, key, KEY_LEN, jwt, strlen(jwt), NOW, &t2),
	    LWM2M_OK);
	api_jwt_cache_stats(c, &hits, &misses);
	ck_assert_uint_eq(hits, 1);
	ck_assert_uint_eq(misses, 1);
	ck_assert_int_eq(t2.org, 7);
	ck_assert(!t2.refresh);
	ck_assert_int_eq(t2.exp, NOW + 60);
	ck_assert_str_eq(t2.key, "AK-key_1");
	free(jwt);
	c = api_jwt_cache_free(c);
}
END_TEST

/* A cached token still expires: the hit checks exp against now. */
START_TEST(test_api_jwt_verify_access_expired)
{
	struct api_jwt_cache *c = NULL;
	char *jwt = sign(7, false, NOW + 60);
	struct api_token t;

	ck_assert_int_eq(api_jwt_cache_new(16, &c), LWM2M_OK);
	ck_assert_int_eq(
	    api_jwt_verify_access(c, key, KEY_LEN, jwt, strlen(jwt), NOW, &t),
	    LWM2M_OK);
	ck_assert_int_eq(api_jwt_verify_access(c, key, KEY_LEN, jwt,
	                                       strlen(jwt), NOW + 60, &t),
	                 LWM2M_ETIMEDOUT);
	ck_assert_int_eq(api_jwt_verify_access(c, key, KEY_LEN, jwt,
	                                       strlen(jwt), NOW + 61, &t),
	                 LWM2M_ETIMEDOUT);
	free(jwt);
	c = api_jwt_cache_free(c);
}
END_TEST

/* Refresh tokens, forged and truncated tokens are refused, cached or not;
 * a failed verification is never cached. */
START_TEST(test_api_jwt_verify_access_refused)
{
	struct api_jwt_cache *c = NULL;
	char *jwt = sign(7, false, NOW + 60),
	     *refresh = sign(7, true, NOW + 60);
	char bad[2048];
	struct api_token t;
	uint64_t hits, misses;
	size_t len = strlen(jwt);

	ck_assert_int_eq(api_jwt_cache_new(1, &c), LWM2M_OK);
	ck_assert_int_eq(
	    api_jwt_verify_access(c, key, KEY_LEN, jwt, len, NOW, &t),
	    LWM2M_OK);
	snprintf(bad, sizeof bad, "%s", jwt);
	bad[len - 2] = bad[len - 2] == 'A' ? 'B' : 'A';
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(api_jwt_verify_access(c, key, KEY_LEN, refresh,
		                                       strlen(refresh), NOW,
		                                       &t),
		                 LWM2M_EDENIED);
		ck_assert_int_ne(
		    api_jwt_verify_access(c, key, KEY_LEN, bad, len, NOW, &t),
		    LWM2M_OK);
		ck_assert_int_ne(api_jwt_verify_access(c, key, KEY_LEN, jwt,
		                                       len - 1, NOW, &t),
		                 LWM2M_OK);
	}
	api_jwt_cache_stats(c, &hits, &misses);
	ck_assert_uint_eq(hits, 0);
	ck_assert_int_eq(
	    api_jwt_verify_access(NULL, key, KEY_LEN, jwt, len, NOW, &t),
	    LWM2M_OK);
	free(refresh);
	free(jwt);
	c = api_jwt_cache_free(c);
}
END_TEST

START_TEST(test_api_secret_hash_known)
{
	char hex[65];

	api_secret_hash("abc", 3, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
	                      "b00361a396177a9cb410ff61f20015ad");
}
END_TEST

static Suite *
api_jwt_suite(void)
{
	Suite *s = suite_create("api_jwt");
	TCase *sign_tc = tcase_create("api_jwt_sign");
	TCase *verify_tc = tcase_create("api_jwt_verify");
	TCase *hash_tc = tcase_create("api_secret_hash");
	TCase *cache_tc = tcase_create("api_jwt_cache_new");
	TCase *access_tc = tcase_create("api_jwt_verify_access");

	tcase_add_test(sign_tc, test_api_jwt_sign_roundtrip);
	tcase_add_test(sign_tc, test_api_jwt_sign_admin_org_written);
	tcase_add_test(verify_tc, test_api_jwt_verify_bad_signature);
	tcase_add_test(verify_tc, test_api_jwt_verify_expired);
	tcase_add_test(verify_tc, test_api_jwt_verify_wrong_type);
	tcase_add_test(verify_tc, test_api_jwt_verify_tampered);
	tcase_add_test(verify_tc, test_api_jwt_verify_malformed);
	tcase_add_test(hash_tc, test_api_secret_hash_known);
	tcase_add_test(cache_tc, test_api_jwt_cache_new_bad_size);
	tcase_add_test(access_tc, test_api_jwt_verify_access_hit);
	tcase_add_test(access_tc, test_api_jwt_verify_access_expired);
	tcase_add_test(access_tc, test_api_jwt_verify_access_refused);
	suite_add_tcase(s, sign_tc);
	suite_add_tcase(s, verify_tc);
	suite_add_tcase(s, hash_tc);
	suite_add_tcase(s, cache_tc);
	suite_add_tcase(s, access_tc);
	return s;
}

int
main(void)
{
	return check_run(api_jwt_suite());
}
