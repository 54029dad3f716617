/* The p11 tier (Check): the PKCS#11 layer against a real token. HSMGW_TEST_CONFIG names a
 * daemon config whose hsm section points at the token. Each test opens its own handle (a
 * checked fixture) and destroys the keys it made. */
#ifndef HSMGW_TESTS_P11T_H
#define HSMGW_TESTS_P11T_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "hsmgw/p11.h"

extern struct hg_p11 *P;

/* A test case with the fixture and a timeout fit for RSA-4096 generation. */
TCase *p11t_tcase(const char *name);

hg_uuid p11t_id(void);
/* p11_generate that must succeed. */
void p11t_generate(const hg_uuid *id, enum hg_p11_type type, unsigned bits, unsigned usage, bool exportable,
		   char kcv[HG_KCV_HEX_LEN + 1]);
struct hg_p11_attrs p11t_attrs(const hg_uuid *id, bool private_or_secret);
/* The key's public key through p11_public_key_der, parsed with d2i_PUBKEY; the caller frees. */
EVP_PKEY *p11t_public_key(const hg_uuid *id, enum hg_p11_type type);
/* p11_destroy_all that must succeed, then checks that nothing is left. */
void p11t_destroy(const hg_uuid *id);
/* Six uppercase hex digits. */
void p11t_assert_kcv_format(const char *kcv);

/* ---- the OpenSSL side (every buffer returned is malloc'd; the caller frees) ---- */
void ossl_kcv_aes(const uint8_t *key, size_t n, char kcv[HG_KCV_HEX_LEN + 1]);  /* AES-CMAC(K, 0^128) */
void ossl_kcv_tdes(const uint8_t *key, size_t n, char kcv[HG_KCV_HEX_LEN + 1]); /* TDES-ECB(K, 0^64) */
uint8_t *ossl_oaep_encrypt(EVP_PKEY *pub, const char *md, const uint8_t *in, size_t n, size_t *out_len);
uint8_t *ossl_oaep_decrypt(EVP_PKEY *priv, const char *md, const uint8_t *in, size_t n, size_t *out_len);
uint8_t *ossl_kwp_wrap(const uint8_t kek[32], const uint8_t *in, size_t n, size_t *out_len);   /* RFC 5649 */
uint8_t *ossl_kwp_unwrap(const uint8_t kek[32], const uint8_t *in, size_t n, size_t *out_len); /* NULL if bad */
uint8_t *ossl_pkcs8(EVP_PKEY *k, size_t *n);
uint8_t *ossl_spki(EVP_PKEY *k, size_t *n);
/* alg "RSA" (bits), "EC" (group name) or "ED25519". */
EVP_PKEY *ossl_keygen(const char *alg, const char *group, unsigned bits);

/* An AES-256 key-encryption key whose bytes the test knows, imported into the token with
 * RSA-OAEP-SHA1 under an RSA pair made by p11_generate (its KCV checked against OpenSSL's). */
struct known_kek {
	uint8_t key[32];
	hg_uuid id, rsa_id;
};
void p11t_known_kek(struct known_kek *k);
void p11t_known_kek_destroy(struct known_kek *k);

Suite *suite_p11_generate(void);
Suite *suite_p11_wrap(void);
Suite *suite_tokens_ff1(void);
Suite *suite_p11_faults(void);

#endif
