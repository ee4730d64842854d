/* lwm2m_x509.c - device CA and certificates with OpenSSL 3.0. */
#include "lwm2m_x509.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ---- helpers ---------------------------------------------------------------
 */

static char *
bio_string(BIO *b)
{
	char *data, *out;
	long n = BIO_get_mem_data(b, &data);

	if (n < 0) {
		return NULL;
	}
	out = malloc((size_t)n + 1);
	if (out != NULL) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	return out;
}

static bool
add_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	bool ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL) {
		return false;
	}
	ok = X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

static bool
set_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	bool ok = bn != NULL && BN_rand(bn, 159, BN_RAND_TOP_ANY,
	                                BN_RAND_BOTTOM_ANY) == 1 &&
	          BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;

	BN_free(bn);
	return ok;
}

static bool
set_name(X509_NAME *n, const char *cn, long long org)
{
	char buf[24];

	if (X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	                               (const unsigned char *)cn, -1, -1,
	                               0) != 1) {
		return false;
	}
	if (org < 0) {
		return true;
	}
	snprintf(buf, sizeof buf, "%lld", org);
	return X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	                                  (const unsigned char *)buf, -1, -1,
	                                  0) == 1;
}

/* a certificate for key with subject (cn, org), validity set, unsigned */
static X509 *
cert_new(EVP_PKEY *key, const char *cn, long long org, int64_t not_before,
         int days)
{
	X509 *x = X509_new();

	if (x == NULL || X509_set_version(x, 2) != 1 || !set_serial(x) ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x),
	                  (time_t)(not_before + (int64_t)days * 86400)) ==
	        NULL ||
	    X509_set_pubkey(x, key) != 1 ||
	    !set_name(X509_get_subject_name(x), cn, org)) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* reads the first certificate and private key of pem */
static lwm2m_err
ca_read(const char *pem, X509 **ret_cert, EVP_PKEY **ret_key)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;

	if (b == NULL) {
		return LWM2M_ENOMEM;
	}
	cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	b = BIO_new_mem_buf(pem, -1);
	if (b != NULL) {
		key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if (cert == NULL || key == NULL || X509_check_private_key(cert, key) != 1) {
		X509_free(cert);
		EVP_PKEY_free(key);
		return LWM2M_EPROTO;
	}
	*ret_cert = cert;
	*ret_key = key;
	return LWM2M_OK;
}

/* ---- CA -------------------------------------------------------------------
 */

static bool
ca_extensions(X509 *x)
{
	return add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") &&
	       add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") &&
	       add_ext(x, x, NID_subject_key_identifier, "hash");
}

lwm2m_err
lwm2m_x509_ca_new(const char *name, int days, char **ret_pem)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	lwm2m_err err = LWM2M_ENOMEM;
	char *pem;

	if (key != NULL && b != NULL) {
		x = cert_new(key, name, -1, (int64_t)time(NULL) - 3600, days);
	}
	if (x != NULL &&
	    X509_set_issuer_name(x, X509_get_subject_name(x)) == 1 &&
	    ca_extensions(x) && X509_sign(x, key, EVP_sha256()) > 0 &&
	    PEM_write_bio_X509(b, x) == 1 &&
	    PEM_write_bio_PrivateKey_traditional(b, key, NULL, NULL, 0, NULL,
	                                         NULL) == 1 &&
	    (pem = bio_string(b)) != NULL) {
		*ret_pem = pem;
		err = LWM2M_OK;
	}
	X509_free(x);
	EVP_PKEY_free(key);
	BIO_free(b);
	return err;
}

lwm2m_err
lwm2m_x509_ca_check(const char *pem)
{
	X509 *cert;
	EVP_PKEY *key;
	lwm2m_err err = ca_read(pem, &cert, &key);

	if (err == LWM2M_OK) {
		X509_free(cert);
		EVP_PKEY_free(key);
	}
	return err;
}

static char *
read_file(const char *path)
{
	BIO *in = BIO_new_file(path, "r");
	BIO *out = BIO_new(BIO_s_mem());
	char buf[4096];
	char *text = NULL;
	int n;

	if (in != NULL && out != NULL) {
		while ((n = BIO_read(in, buf, sizeof buf)) > 0 &&
		       BIO_write(out, buf, n) == n) {
		}
		if (BIO_write(out, "\n", 1) == 1) {
			text = bio_string(out);
		}
	}
	BIO_free(in);
	BIO_free(out);
	return text;
}

lwm2m_err
lwm2m_x509_ca_from_files(const char *cert_path, const char *key_path,
                         char **ret_pem)
{
	char *cert = read_file(cert_path), *key = read_file(key_path);
	char *pem = NULL;
	lwm2m_err err = LWM2M_EIO;

	if (cert != NULL && key != NULL) {
		err = LWM2M_ENOMEM;
		pem = malloc(strlen(cert) + strlen(key) + 1);
	}
	if (pem != NULL) {
		strcpy(pem, cert);
		strcat(pem, key);
		err = lwm2m_x509_ca_check(pem);
	}
	if (err == LWM2M_OK) {
		*ret_pem = pem;
	} else {
		free(pem);
	}
	free(cert);
	free(key);
	return err;
}

char *
lwm2m_x509_cert_only(const char *pem)
{
	BIO *in = BIO_new_mem_buf(pem, -1);
	BIO *out = BIO_new(BIO_s_mem());
	X509 *x = in != NULL ? PEM_read_bio_X509(in, NULL, NULL, NULL) : NULL;
	char *text = NULL;

	if (x != NULL && out != NULL && PEM_write_bio_X509(out, x) == 1) {
		text = bio_string(out);
	}
	X509_free(x);
	BIO_free(in);
	BIO_free(out);
	return text;
}

/* ---- device certificates --------------------------------------------------
 */

static bool
leaf_extensions(X509 *ca, X509 *x)
{
	return add_ext(ca, x, NID_basic_constraints, "critical,CA:FALSE") &&
	       add_ext(ca, x, NID_key_usage,
	               "critical,digitalSignature,keyEncipherment") &&
	       add_ext(ca, x, NID_ext_key_usage, "serverAuth,clientAuth") &&
	       add_ext(ca, x, NID_subject_key_identifier, "hash") &&
	       add_ext(ca, x, NID_authority_key_identifier, "keyid:always");
}

static bool
write_leaf(BIO *b, EVP_PKEY *key, X509 *x)
{
	return PEM_write_bio_PrivateKey_traditional(b, key, NULL, NULL, 0,
	                                            NULL, NULL) == 1 &&
	       PEM_write_bio_PUBKEY(b, key) == 1 && PEM_write_bio_X509(b, x) == 1;
}

lwm2m_err
lwm2m_x509_issue(const char *ca_pem, const char *cn, long long org,
                 int64_t not_before, int days, char **ret_pem)
{
	X509 *ca = NULL, *x = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	BIO *b = NULL;
	lwm2m_err err = ca_read(ca_pem, &ca, &ca_key);
	char *pem;

	if (err != LWM2M_OK) {
		return err;
	}
	err = LWM2M_ENOMEM;
	key = EVP_EC_gen("P-256");
	b = BIO_new(BIO_s_mem());
	if (key != NULL && b != NULL) {
		x = cert_new(key, cn, org, not_before, days);
	}
	if (x != NULL &&
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) == 1 &&
	    leaf_extensions(ca, x) && X509_sign(x, ca_key, EVP_sha256()) > 0 &&
	    write_leaf(b, key, x) && (pem = bio_string(b)) != NULL) {
		*ret_pem = pem;
		err = LWM2M_OK;
	}
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	BIO_free(b);
	return err;
}

static void
name_entry(X509_NAME *n, int nid, char *buf, size_t size)
{
	int i = X509_NAME_get_index_by_NID(n, nid, -1);
	ASN1_STRING *s;
	int len;

	buf[0] = '\0';
	if (i < 0) {
		return;
	}
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
	len = ASN1_STRING_length(s);
	if (len < 0 || (size_t)len >= size) {
		return;
	}
	memcpy(buf, ASN1_STRING_get0_data(s), (size_t)len);
	buf[len] = '\0';
	if (strlen(buf) != (size_t)len) {
		buf[0] = '\0'; /* embedded NUL */
	}
}

lwm2m_err
lwm2m_x509_subject_der(const uint8_t *der, size_t len,
                       struct lwm2m_x509_subject *ret_subject)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	char org[24];
	char *end;

	if (x == NULL) {
		return LWM2M_EPROTO;
	}
	name_entry(X509_get_subject_name(x), NID_commonName, ret_subject->cn,
	           sizeof ret_subject->cn);
	name_entry(X509_get_subject_name(x), NID_organizationName, org,
	           sizeof org);
	X509_free(x);
	ret_subject->org = strtoll(org, &end, 10);
	if (org[0] < '0' || org[0] > '9' || *end != '\0') {
		ret_subject->org = -1;
	}
	return LWM2M_OK;
}

/* ---- GUID text <-> id (spec 3.4) ------------------------------------------
 */

/* byte i of the 16 comes from text digit pair pos[i] */
static const uint8_t guid_pos[16] = {6,  4,  2,  0,  11, 9,  16, 14,
                                     19, 21, 24, 26, 28, 30, 32, 34};

lwm2m_err
lwm2m_x509_guid_to_id(const char *guid, size_t len,
                      char ret_id[LWM2M_ID_SIZE])
{
	uint8_t raw[16];

	if (len != LWM2M_GUID_LEN || guid[8] != '-' || guid[13] != '-' ||
	    guid[18] != '-' || guid[23] != '-') {
		return LWM2M_EPROTO;
	}
	for (int i = 0; i < 16; i++) {
		if (!lwm2m_hex_decode(guid + guid_pos[i], 1, &raw[i])) {
			return LWM2M_EPROTO;
		}
	}
	lwm2m_b64_encode(raw, sizeof raw, ret_id, true);
	return LWM2M_OK;
}

lwm2m_err
lwm2m_x509_id_to_guid(const char *id, char ret_guid[LWM2M_GUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[16];
	size_t n = 0;

	if (lwm2m_b64_decode(id, strlen(id), raw, sizeof raw, &n) !=
	        LWM2M_OK ||
	    n != sizeof raw) {
		return LWM2M_EPROTO;
	}
	memset(ret_guid, '-', LWM2M_GUID_LEN);
	ret_guid[LWM2M_GUID_LEN] = '\0';
	for (int i = 0; i < 16; i++) {
		ret_guid[guid_pos[i]] = hex[raw[i] >> 4];
		ret_guid[guid_pos[i] + 1] = hex[raw[i] & 15];
	}
	return LWM2M_OK;
}
