/* The p11 tier's main, fixture and helpers (the token side and the OpenSSL side). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "hsmgw/config.h"
#include "p11t.h"

struct hg_p11 *P;
static struct hg_config *cfg;

static void setup(void)
{
	const char *path = getenv("HSMGW_TEST_CONFIG");
	ck_assert_msg(path != NULL, "HSMGW_TEST_CONFIG is not set");
	char err[512] = "";
	cfg = config_load(path, err, sizeof err);
	ck_assert_msg(cfg != NULL, "%s", err);
	P = p11_open(cfg, err, sizeof err);
	ck_assert_msg(P != NULL, "%s", err);
}

static void teardown(void)
{
	p11_close(P);
	config_free(cfg);
	P = NULL;
	cfg = NULL;
}

TCase *p11t_tcase(const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	return tc;
}

hg_uuid p11t_id(void)
{
	hg_uuid id;
	ck_assert_int_eq(uuid_v4(&id), 0);
	return id;
}

void p11t_generate(const hg_uuid *id, enum hg_p11_type type, unsigned bits, unsigned usage, bool exportable,
		   char kcv[HG_KCV_HEX_LEN + 1])
{
	struct hg_p11_keyspec spec = {.type = type, .usage = usage, .exportable = exportable};
	if (type == HG_KT_EC)
		spec.curve_bits = bits;
	else
		spec.bits = bits;
	hg_err e = p11_generate(P, id, &spec, kcv);
	ck_assert_msg(e == HG_OK, "p11_generate type %d bits %u: %s", type, bits, hg_err_code(e));
}

struct hg_p11_attrs p11t_attrs(const hg_uuid *id, bool private_or_secret)
{
	struct hg_p11_attrs a;
	ck_assert_int_eq(p11_key_attrs(P, id, private_or_secret, &a), HG_OK);
	return a;
}

EVP_PKEY *p11t_public_key(const hg_uuid *id, enum hg_p11_type type)
{
	uint8_t *der = NULL;
	size_t n = 0;
	ck_assert_int_eq(p11_public_key_der(P, id, type, &der, &n), HG_OK);
	const uint8_t *q = der;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &q, (long)n);
	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_eq(q, der + n); /* all of it, nothing after */
	free(der);
	return k;
}

void p11t_destroy(const hg_uuid *id)
{
	ck_assert_int_eq(p11_destroy_all(P, id), HG_OK);
	ck_assert(!p11t_attrs(id, true).found);
	ck_assert(!p11t_attrs(id, false).found);
}

void p11t_assert_kcv_format(const char *kcv)
{
	ck_assert_uint_eq(strlen(kcv), HG_KCV_HEX_LEN);
	for (const char *c = kcv; *c; c++)
		ck_assert_msg(isdigit((unsigned char)*c) || (*c >= 'A' && *c <= 'F'), "KCV %s", kcv);
}

/* ---- OpenSSL ---- */

static void kcv_hex(const uint8_t *b, char kcv[HG_KCV_HEX_LEN + 1])
{
	snprintf(kcv, HG_KCV_HEX_LEN + 1, "%02X%02X%02X", b[0], b[1], b[2]);
}

void ossl_kcv_aes(const uint8_t *key, size_t n, char kcv[HG_KCV_HEX_LEN + 1])
{
	static const uint8_t zero[16];
	char cipher[16];
	snprintf(cipher, sizeof cipher, "AES-%zu-CBC", n * 8);
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac);
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0), OSSL_PARAM_END};
	uint8_t out[16];
	size_t out_len = 0;
	ck_assert(c && EVP_MAC_init(c, key, n, params) == 1 && EVP_MAC_update(c, zero, sizeof zero) == 1 &&
		  EVP_MAC_final(c, out, &out_len, sizeof out) == 1 && out_len == 16);
	kcv_hex(out, kcv);
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(mac);
}

void ossl_kcv_tdes(const uint8_t *key, size_t n, char kcv[HG_KCV_HEX_LEN + 1])
{
	static const uint8_t zero[8];
	ck_assert(n == 16 || n == 24);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t out[16];
	int l1 = 0, l2 = 0;
	ck_assert(EVP_EncryptInit_ex(c, n == 24 ? EVP_des_ede3_ecb() : EVP_des_ede_ecb(), NULL, key, NULL) == 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	ck_assert(EVP_EncryptUpdate(c, out, &l1, zero, 8) == 1 && EVP_EncryptFinal_ex(c, out + l1, &l2) == 1);
	ck_assert_int_eq(l1 + l2, 8);
	kcv_hex(out, kcv);
	EVP_CIPHER_CTX_free(c);
}

static uint8_t *oaep(EVP_PKEY *k, bool enc, const char *md, const uint8_t *in, size_t n, size_t *out_len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(enc ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_oaep_md_name(c, md, NULL), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_mgf1_md_name(c, md, NULL), 1);
	size_t len = 0;
	ck_assert_int_eq(enc ? EVP_PKEY_encrypt(c, NULL, &len, in, n) : EVP_PKEY_decrypt(c, NULL, &len, in, n), 1);
	uint8_t *out = malloc(len);
	ck_assert_int_eq(enc ? EVP_PKEY_encrypt(c, out, &len, in, n) : EVP_PKEY_decrypt(c, out, &len, in, n), 1);
	*out_len = len;
	EVP_PKEY_CTX_free(c);
	return out;
}

uint8_t *ossl_oaep_encrypt(EVP_PKEY *pub, const char *md, const uint8_t *in, size_t n, size_t *out_len)
{
	return oaep(pub, true, md, in, n, out_len);
}

uint8_t *ossl_oaep_decrypt(EVP_PKEY *priv, const char *md, const uint8_t *in, size_t n, size_t *out_len)
{
	return oaep(priv, false, md, in, n, out_len);
}

static uint8_t *kwp(const uint8_t kek[32], bool enc, const uint8_t *in, size_t n, size_t *out_len)
{
	EVP_CIPHER *ci = EVP_CIPHER_fetch(NULL, "AES-256-WRAP-PAD", NULL);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	ck_assert(ci && c);
	uint8_t *out = malloc(n + 16);
	int l1 = 0, l2 = 0;
	bool ok = EVP_CipherInit_ex2(c, ci, kek, NULL, enc, NULL) == 1 &&
		  EVP_CipherUpdate(c, out, &l1, in, (int)n) == 1 && EVP_CipherFinal_ex(c, out + l1, &l2) == 1;
	EVP_CIPHER_CTX_free(c);
	EVP_CIPHER_free(ci);
	if (!ok) {
		free(out);
		return NULL;
	}
	*out_len = (size_t)(l1 + l2);
	return out;
}

uint8_t *ossl_kwp_wrap(const uint8_t kek[32], const uint8_t *in, size_t n, size_t *out_len)
{
	uint8_t *out = kwp(kek, true, in, n, out_len);
	ck_assert_ptr_nonnull(out);
	return out;
}

uint8_t *ossl_kwp_unwrap(const uint8_t kek[32], const uint8_t *in, size_t n, size_t *out_len)
{
	return kwp(kek, false, in, n, out_len);
}

uint8_t *ossl_pkcs8(EVP_PKEY *k, size_t *n)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
	ck_assert_ptr_nonnull(p8);
	uint8_t *der = NULL;
	int len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	ck_assert_int_gt(len, 0);
	PKCS8_PRIV_KEY_INFO_free(p8);
	/* OpenSSL's allocation: copy into malloc's so that every buffer here frees with free(). */
	uint8_t *out = malloc((size_t)len);
	memcpy(out, der, (size_t)len);
	OPENSSL_clear_free(der, (size_t)len);
	*n = (size_t)len;
	return out;
}

uint8_t *ossl_spki(EVP_PKEY *k, size_t *n)
{
	int len = i2d_PUBKEY(k, NULL);
	ck_assert_int_gt(len, 0);
	uint8_t *out = malloc((size_t)len), *q = out;
	ck_assert_int_eq(i2d_PUBKEY(k, &q), len);
	*n = (size_t)len;
	return out;
}

EVP_PKEY *ossl_keygen(const char *alg, const char *group, unsigned bits)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(EVP_PKEY_keygen_init(c), 1);
	if (group)
		ck_assert_int_eq(EVP_PKEY_CTX_set_group_name(c, group), 1);
	if (bits)
		ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_keygen_bits(c, (int)bits), 1);
	EVP_PKEY *k = NULL;
	ck_assert_int_eq(EVP_PKEY_keygen(c, &k), 1);
	EVP_PKEY_CTX_free(c);
	return k;
}

/* ---- a KEK the test knows ---- */

void p11t_known_kek(struct known_kek *k)
{
	for (size_t i = 0; i < sizeof k->key; i++)
		k->key[i] = (uint8_t)(0xA0 + i);
	char kcv[HG_KCV_HEX_LEN + 1], want[HG_KCV_HEX_LEN + 1];
	k->rsa_id = p11t_id();
	k->id = p11t_id();
	p11t_generate(&k->rsa_id, HG_KT_RSA, 2048, HG_P11_WRAP | HG_P11_UNWRAP, false, kcv);
	EVP_PKEY *pub = p11t_public_key(&k->rsa_id, HG_KT_RSA);
	size_t n;
	uint8_t *wrapped = ossl_oaep_encrypt(pub, "SHA1", k->key, sizeof k->key, &n);
	struct hg_p11_keyspec spec = {.type = HG_KT_AES, .bits = 256, .usage = HG_P11_WRAP | HG_P11_UNWRAP};
	ck_assert_int_eq(p11_unwrap(P, &k->rsa_id, HG_WRAP_RSA_OAEP_SHA1, wrapped, n, &k->id, &spec, kcv), HG_OK);
	ossl_kcv_aes(k->key, sizeof k->key, want);
	ck_assert_str_eq(kcv, want);
	free(wrapped);
	EVP_PKEY_free(pub);
}

void p11t_known_kek_destroy(struct known_kek *k)
{
	p11t_destroy(&k->id);
	p11t_destroy(&k->rsa_id);
}

int main(void)
{
	SRunner *sr = srunner_create(suite_p11_generate());
	srunner_add_suite(sr, suite_p11_wrap());
	srunner_add_suite(sr, suite_tokens_ff1());
	srunner_add_suite(sr, suite_p11_faults());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
