/* The interoperability tests of the cryptographic operations (crypto_interop.c: signatures,
 * verification and RSA-OAEP; crypto_interop2.c: AES-GCM, AES-CBC-PAD, AES-CMAC, HMAC, data
 * keys, re-encryption and random bytes). What hsmgw produces is checked with independent
 * OpenSSL code (EVP), what OpenSSL produces is fed to hsmgw, and bad inputs must get their
 * precise error. The helpers below are shared by the two files and defined in
 * crypto_interop.c. */
#ifndef HSMGW_TEST_API_CRYPTO_INTEROP_H
#define HSMGW_TEST_API_CRYPTO_INTEROP_H

#include <stdint.h>

#include <openssl/evp.h>

#include "km_util.h"

/* Every scope these tests need. */
#define CI_SCOPES "keys:read keys:write keys:admin crypto:encrypt crypto:decrypt crypto:sign crypto:verify crypto:mac"

/* An acme token with CI_SCOPES, made once per test process; do not free. */
const char *ci_tok(void);
/* POST /v1/keys/{key}/{action} with body (taken; NULL: none) and token (NULL: ci_tok()). */
struct h_resp *ci_post_as(const char *token, const char *key, const char *action, json_t *body);
#define ci_post(key, action, body) ci_post_as(NULL, (key), (action), (body))

/* The public key of the key's primary version from GET /v1/keys/{key}/public-key, parsed by
 * OpenSSL (PEM_read_bio_PUBKEY); the caller frees it with EVP_PKEY_free. */
#define ci_public_key(key) ci_public_key_at(__FILE__, __LINE__, (key))
EVP_PKEY *ci_public_key_at(const char *file, int line, const char *key);

/* Imports the known bytes key[0..n) as a key of type and size with usage (a JSON array,
 * taken), wrapped by OpenSSL with RSA-OAEP-SHA1 under the public key of a fresh RSA-2048 key
 * with usage wrap and unwrap; asserts 201 and writes the new key's id. ci_import_known_halves
 * wraps each half of the key on its own and sends the two concatenated, as keys held as
 * halves (TDES with usage cvv or mac) are imported. */
#define ci_import_known(type, size, usage, key, n, id)                                                                 \
	ci_import_known_at(__FILE__, __LINE__, (type), (size), (usage), (key), (n), 1, (id))
#define ci_import_known_halves(type, size, usage, key, n, id)                                                          \
	ci_import_known_at(__FILE__, __LINE__, (type), (size), (usage), (key), (n), 2, (id))
void ci_import_known_at(const char *file, int line, const char *type, int size, json_t *usage, const uint8_t *key,
			size_t n, size_t parts, char id[KM_ID_LEN]);

/* The decoded base64 string member of a response (asserted present); the caller frees. */
#define ci_bytes(r, member, n) ci_bytes_at(__FILE__, __LINE__, (r), (member), (n))
uint8_t *ci_bytes_at(const char *file, int line, const struct h_resp *r, const char *member, size_t *n);

/* The data of an envelope "hsmgw:v<version>:<base64>" (the prefix is asserted); the caller
 * frees. */
#define ci_envelope_data(env, version, n) ci_envelope_data_at(__FILE__, __LINE__, (env), (version), (n))
uint8_t *ci_envelope_data_at(const char *file, int line, const char *env, int version, size_t *n);
/* The envelope "hsmgw:v<version>:<base64 of raw>"; the caller frees. */
char *ci_envelope(int version, const uint8_t *raw, size_t n);

/* Asserts an RFC 9457 400 invalid_request and frees the response. */
#define ci_expect_400(r, what) ci_expect_400_at(__FILE__, __LINE__, (r), (what))
void ci_expect_400_at(const char *file, int line, struct h_resp *r, const char *what);

TCase *tcase_crypto_interop(void);
TCase *tcase_crypto_interop2(void);
TCase *tcase_payments(void);
TCase *tcase_tokens(void);

#endif
