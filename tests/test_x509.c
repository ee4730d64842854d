/* test_x509.c - unit tests of lwm2m_x509: CA generation, issuing, subject
 * reading and the GUID <-> id mapping of REST spec 3.4. */
#include <check.h>

#include "check_util.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "lwm2m_x509.h"

/* DER of the first CERTIFICATE block of pem (malloc) */
static uint8_t *
first_cert_der(const char *pem, int *ret_len)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	uint8_t *der = NULL;

	*ret_len = i2d_X509(x, &der);
	X509_free(x);
	BIO_free(b);
	return der;
}

static X509 *
read_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	return x;
}

START_TEST(test_lwm2m_x509_ca_new_valid)
{
	char *pem = NULL;

	ck_assert_int_eq(lwm2m_x509_ca_new("test CA", 30, &pem), LWM2M_OK);
	ck_assert_ptr_nonnull(strstr(pem, "BEGIN CERTIFICATE"));
	ck_assert_ptr_nonnull(strstr(pem, "BEGIN EC PRIVATE KEY"));
	ck_assert_int_eq(lwm2m_x509_ca_check(pem), LWM2M_OK);
	free(pem);
}
END_TEST

START_TEST(test_lwm2m_x509_ca_check_garbage)
{
	ck_assert_int_eq(lwm2m_x509_ca_check("not a pem"), LWM2M_EPROTO);
	ck_assert_int_eq(lwm2m_x509_ca_check(""), LWM2M_EPROTO);
}
END_TEST

START_TEST(test_lwm2m_x509_issue_verifies)
{
	char *ca = NULL, *leaf = NULL;
	X509 *cax, *x;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	const char *k, *p, *c;

	ck_assert_int_eq(lwm2m_x509_ca_new("test CA", 30, &ca), LWM2M_OK);
	ck_assert_int_eq(lwm2m_x509_issue(ca,
	                                  "8a39d904-f7a2-44bc-9917-e5e255b1bdf7",
	                                  42, time(NULL) - 60, 10, &leaf),
	                 LWM2M_OK);
	k = strstr(leaf, "BEGIN EC PRIVATE KEY");
	p = strstr(leaf, "BEGIN PUBLIC KEY");
	c = strstr(leaf, "BEGIN CERTIFICATE");
	ck_assert(k != NULL && p != NULL && c != NULL && k < p && p < c);
	cax = read_cert(ca);
	x = read_cert(leaf);
	X509_STORE_add_cert(store, cax);
	X509_STORE_CTX_init(ctx, store, x, NULL);
	ck_assert_int_eq(X509_verify_cert(ctx), 1);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(cax);
	X509_free(x);
	free(ca);
	free(leaf);
}
END_TEST

START_TEST(test_lwm2m_x509_issue_bad_ca)
{
	char *leaf = NULL;

	ck_assert_int_eq(lwm2m_x509_issue("junk", "cn", 1, 0, 1, &leaf),
	                 LWM2M_EPROTO);
	ck_assert_ptr_null(leaf);
}
END_TEST

START_TEST(test_lwm2m_x509_subject_der_roundtrip)
{
	char *ca = NULL, *leaf = NULL;
	struct lwm2m_x509_subject s;
	uint8_t *der;
	int len;

	ck_assert_int_eq(lwm2m_x509_ca_new("test CA", 30, &ca), LWM2M_OK);
	ck_assert_int_eq(lwm2m_x509_issue(ca, "dev-1", 7, time(NULL), 1, &leaf),
	                 LWM2M_OK);
	der = first_cert_der(leaf, &len);
	ck_assert_int_eq(lwm2m_x509_subject_der(der, (size_t)len, &s),
	                 LWM2M_OK);
	ck_assert_str_eq(s.cn, "dev-1");
	ck_assert_int_eq(s.org, 7);
	OPENSSL_free(der);
	der = first_cert_der(ca, &len);
	ck_assert_int_eq(lwm2m_x509_subject_der(der, (size_t)len, &s),
	                 LWM2M_OK);
	ck_assert_str_eq(s.cn, "test CA");
	ck_assert_int_eq(s.org, -1);
	OPENSSL_free(der);
	free(ca);
	free(leaf);
}
END_TEST

START_TEST(test_lwm2m_x509_subject_der_garbage)
{
	struct lwm2m_x509_subject s;
	const uint8_t junk[] = {0x30, 0x82, 0xff, 0xff, 0x01};

	ck_assert_int_eq(lwm2m_x509_subject_der(junk, sizeof junk, &s),
	                 LWM2M_EPROTO);
}
END_TEST

START_TEST(test_lwm2m_x509_guid_to_id_spec_example)
{
	const char *g = "8a39d904-f7a2-44bc-9917-e5e255b1bdf7";
	char id[LWM2M_ID_SIZE];

	ck_assert_int_eq(lwm2m_x509_guid_to_id(g, strlen(g), id), LWM2M_OK);
	ck_assert_str_eq(id, "BNk5iqL3vESZF-XiVbG99w");
}
END_TEST

START_TEST(test_lwm2m_x509_guid_to_id_malformed)
{
	char id[LWM2M_ID_SIZE];
	const char *bad[] = {"", "8a39d904f7a244bc9917e5e255b1bdf7",
	                     "8a39d904-f7a2-44bc-9917-e5e255b1bdfz",
	                     "8a39d904-f7a2-44bc-9917-e5e255b1bdf77"};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(lwm2m_x509_guid_to_id(bad[i], strlen(bad[i]),
		                                       id),
		                 LWM2M_EPROTO);
	}
}
END_TEST

START_TEST(test_lwm2m_x509_id_to_guid_roundtrip)
{
	char guid[LWM2M_GUID_LEN + 1], id[LWM2M_ID_SIZE];

	ck_assert_int_eq(lwm2m_x509_id_to_guid("BNk5iqL3vESZF-XiVbG99w", guid),
	                 LWM2M_OK);
	ck_assert_str_eq(guid, "8a39d904-f7a2-44bc-9917-e5e255b1bdf7");
	ck_assert_int_eq(lwm2m_x509_guid_to_id(guid, strlen(guid), id),
	                 LWM2M_OK);
	ck_assert_str_eq(id, "BNk5iqL3vESZF-XiVbG99w");
	ck_assert_int_eq(lwm2m_x509_id_to_guid("short", guid), LWM2M_EPROTO);
}
END_TEST

static Suite *
x509_suite(void)
{
	Suite *s = suite_create("lwm2m_x509");
	TCase *tc;

	tc = tcase_create("lwm2m_x509_ca_new");
	tcase_add_test(tc, test_lwm2m_x509_ca_new_valid);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_x509_ca_check");
	tcase_add_test(tc, test_lwm2m_x509_ca_check_garbage);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_x509_issue");
	tcase_add_test(tc, test_lwm2m_x509_issue_verifies);
	tcase_add_test(tc, test_lwm2m_x509_issue_bad_ca);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_x509_subject_der");
	tcase_add_test(tc, test_lwm2m_x509_subject_der_roundtrip);
	tcase_add_test(tc, test_lwm2m_x509_subject_der_garbage);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_x509_guid_to_id");
	tcase_add_test(tc, test_lwm2m_x509_guid_to_id_spec_example);
	tcase_add_test(tc, test_lwm2m_x509_guid_to_id_malformed);
	suite_add_tcase(s, tc);
	tc = tcase_create("lwm2m_x509_id_to_guid");
	tcase_add_test(tc, test_lwm2m_x509_id_to_guid_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(x509_suite());
}
