/* Symmetric operations against independent OpenSSL code, with keys whose bytes the test knows
 * (imported wrapped under RSA-OAEP-SHA1): AES-GCM and AES-CBC-PAD ciphertexts in both
 * directions, AES-CMAC and HMAC values, data keys; then re-encryption after a rotation, the
 * precise errors of ciphertexts that cannot be right, and random bytes. */
#include "crypto_interop.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/rand.h>

/* The known keys. */
static const uint8_t known_aes[32] = {0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
				      0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
				      0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4};
static const uint8_t known_hmac[32] = {0x0b, 0x1c, 0x2d, 0x3e, 0x4f, 0x50, 0x61, 0x72, 0x83, 0x94, 0xa5,
				       0xb6, 0xc7, 0xd8, 0xe9, 0xfa, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a,
				       0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0};

static const char aad[] = "tenant=acme;order=8812";
#define AAD     ((const uint8_t *)aad)
#define AAD_LEN (sizeof aad - 1)

/* The known AES-256 key with usage encrypt, decrypt and mac. */
static void known_aes_key(char id[KM_ID_LEN])
{
	ci_import_known("AES", 256, json_pack("[s, s, s]", "encrypt", "decrypt", "mac"), known_aes, sizeof known_aes,
			id);
}

/* ---- OpenSSL's side ---- */

/* AES-256-GCM of pt under key with a random 96-bit IV: out receives IV ‖ ciphertext ‖ tag;
 * returns its length. */
static size_t ossl_gcm_encrypt(const uint8_t *pt, size_t n, const uint8_t *a, size_t an, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l = 0;
	ck_assert(RAND_bytes(out, 12) == 1);
	ck_assert(ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
		  EVP_EncryptInit_ex(ctx, NULL, NULL, known_aes, out) == 1);
	if (an)
		ck_assert(EVP_EncryptUpdate(ctx, NULL, &l, a, (int)an) == 1);
	ck_assert(EVP_EncryptUpdate(ctx, out + 12, &l, pt, (int)n) == 1 && (size_t)l == n);
	ck_assert(EVP_EncryptFinal_ex(ctx, out + 12 + n, &l) == 1 && l == 0);
	ck_assert(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + n) == 1);
	EVP_CIPHER_CTX_free(ctx);
	return 12 + n + 16;
}

/* The reverse, of IV ‖ ciphertext ‖ tag under key; false if the tag does not verify. out
 * receives n − 28 bytes. */
static bool ossl_gcm_decrypt(const uint8_t *key, const uint8_t *raw, size_t n, const uint8_t *a, size_t an,
			     uint8_t *out)
{
	ck_assert(n >= 28);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l = 0;
	ck_assert(ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
		  EVP_DecryptInit_ex(ctx, NULL, NULL, key, raw) == 1);
	if (an)
		ck_assert(EVP_DecryptUpdate(ctx, NULL, &l, a, (int)an) == 1);
	ck_assert(EVP_DecryptUpdate(ctx, out, &l, raw + 12, (int)(n - 28)) == 1 && (size_t)l == n - 28);
	ck_assert(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(raw + n - 16)) == 1);
	bool ok = EVP_DecryptFinal_ex(ctx, out + l, &l) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/* AES-256-CBC under the known key with PKCS #7 padding (or none): encrypts with a random IV
 * into IV ‖ ciphertext, or decrypts IV ‖ ciphertext. Returns the output's length, or -1 when
 * decryption finds bad padding. */
static long ossl_cbc(bool enc, bool pad, const uint8_t *in, size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	const uint8_t *iv = in;
	size_t off = 0;
	if (enc) {
		ck_assert(RAND_bytes(out, 16) == 1);
		iv = out;
		off = 16;
	} else {
		ck_assert(n >= 16);
		in += 16;
		n -= 16;
	}
	int l = 0, l2 = 0;
	ck_assert(ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, known_aes, iv, enc) == 1 &&
		  EVP_CIPHER_CTX_set_padding(ctx, pad) == 1);
	ck_assert(EVP_CipherUpdate(ctx, out + off, &l, in, (int)n) == 1);
	int fin = EVP_CipherFinal_ex(ctx, out + off + l, &l2);
	EVP_CIPHER_CTX_free(ctx);
	ck_assert(enc ? fin == 1 : true);
	return fin == 1 ? (long)(off + (size_t)l + (size_t)l2) : -1;
}

/* EVP_MAC `name` ("CMAC" with cipher, "HMAC" with digest) of data under key; returns the
 * length written to out. */
static size_t ossl_mac(const char *name, const char *param, const char *value, const uint8_t *key, size_t kn,
		       const uint8_t *data, size_t n, uint8_t out[64])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, name, NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(param, (char *)value, 0), OSSL_PARAM_construct_end()};
	size_t len = 0;
	ck_assert(ctx && EVP_MAC_init(ctx, key, kn, params) == 1 && EVP_MAC_update(ctx, data, n) == 1 &&
		  EVP_MAC_final(ctx, out, &len, 64) == 1);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return len;
}

/* ---- hsmgw's side ---- */

/* POST encrypt of pt with alg (NULL: the default) and aad a (NULL: none); asserts 200 and
 * returns the envelope (caller frees). */
#define hsm_encrypt(key, alg, pt, n, a, an) hsm_encrypt_at(__LINE__, (key), (alg), (pt), (n), (a), (an))
static char *hsm_encrypt_at(int line, const char *key, const char *alg, const uint8_t *pt, size_t n, const uint8_t *a,
			    size_t an)
{
	char *p64 = h_b64(pt, n);
	json_t *b = json_pack("{s:s}", "plaintext", p64);
	free(p64);
	if (alg)
		json_object_set_new(b, "algorithm", json_string(alg));
	if (a) {
		char *a64 = h_b64(a, an);
		json_object_set_new(b, "aad", json_string(a64));
		free(a64);
	}
	struct h_resp *r = ci_post(key, "encrypt", b);
	h_assert_status_at(__FILE__, line, r, 200);
	const char *ct = h_str(r, "ciphertext");
	ck_assert_msg(ct != NULL, "line %d: no ciphertext: %.300s", line, r->body);
	char *out = strdup(ct);
	h_resp_free(r);
	return out;
}

/* POST decrypt of env with alg (NULL: not sent) and aad (NULL: not sent). */
static struct h_resp *hsm_decrypt(const char *key, const char *alg, const char *env, const uint8_t *a, size_t an)
{
	json_t *b = json_pack("{s:s}", "ciphertext", env);
	if (alg)
		json_object_set_new(b, "algorithm", json_string(alg));
	if (a) {
		char *a64 = h_b64(a, an);
		json_object_set_new(b, "aad", json_string(a64));
		free(a64);
	}
	return ci_post(key, "decrypt", b);
}

/* hsmgw decrypts env to exactly pt[0..n). */
#define expect_plaintext(r, pt, n) expect_plaintext_at(__LINE__, (r), (pt), (n))
static void expect_plaintext_at(int line, struct h_resp *r, const uint8_t *pt, size_t n)
{
	h_assert_status_at(__FILE__, line, r, 200);
	size_t got;
	uint8_t *p = ci_bytes_at(__FILE__, line, r, "plaintext", &got);
	ck_assert_msg(got == n && memcmp(p, pt, n) == 0, "line %d: decrypted %zu bytes, not the %zu expected", line,
		      got, n);
	free(p);
	h_resp_free(r);
}

static const size_t lens[] = {0, 1, 15, 16, 17, 100};
#define N_LENS (sizeof lens / sizeof *lens)

START_TEST(test_aes_gcm_ciphertext_of_hsmgw_with_aad_decrypts_in_openssl_with_the_known_key)
{
	char id[KM_ID_LEN];
	known_aes_key(id);
	uint8_t pt[100], out[100];
	ck_assert(RAND_bytes(pt, sizeof pt) == 1);
	for (size_t i = 0; i < N_LENS; i++) {
		for (int with_aad = 0; with_aad < 2; with_aad++) {
			char *env = hsm_encrypt(id, "AES-GCM", pt, lens[i], with_aad ? AAD : NULL, AAD_LEN);
			size_t n;
			uint8_t *raw = ci_envelope_data(env, 1, &n);
			ck_assert_uint_eq(n, 12 + lens[i] + 16);
			ck_assert_msg(ossl_gcm_decrypt(known_aes, raw, n, AAD, with_aad ? AAD_LEN : 0, out),
				      "OpenSSL: the tag of %zu bytes (aad: %d) does not verify", lens[i], with_aad);
			ck_assert(memcmp(out, pt, lens[i]) == 0);
			/* The aad is authenticated: OpenSSL refuses it without, or with another. */
			ck_assert(!ossl_gcm_decrypt(known_aes, raw, n, (const uint8_t *)"x", with_aad ? 0 : 1, out));
			free(raw);
			free(env);
		}
	}
}
END_TEST

START_TEST(test_aes_gcm_ciphertext_made_by_openssl_with_aad_decrypts_through_hsmgw)
{
	char id[KM_ID_LEN];
	known_aes_key(id);
	uint8_t pt[100], raw[12 + 100 + 16];
	ck_assert(RAND_bytes(pt, sizeof pt) == 1);
	for (size_t i = 0; i < N_LENS; i++) {
		size_t n = ossl_gcm_encrypt(pt, lens[i], AAD, AAD_LEN, raw);
		char *env = ci_envelope(1, raw, n);
		expect_plaintext(hsm_decrypt(id, NULL, env, AAD, AAD_LEN), pt, lens[i]);
		expect_plaintext(hsm_decrypt(id, "AES-GCM", env, AAD, AAD_LEN), pt, lens[i]);
		ci_expect_400(hsm_decrypt(id, NULL, env, NULL, 0), "OpenSSL GCM without its aad");
		ci_expect_400(hsm_decrypt(id, NULL, env, AAD, AAD_LEN - 1), "OpenSSL GCM with another aad");
		free(env);
		/* And without aad. */
		n = ossl_gcm_encrypt(pt, lens[i], NULL, 0, raw);
		env = ci_envelope(1, raw, n);
		expect_plaintext(hsm_decrypt(id, NULL, env, NULL, 0), pt, lens[i]);
		free(env);
	}
}
END_TEST

START_TEST(test_aes_cbc_pad_ciphertexts_decrypt_both_ways_between_hsmgw_and_openssl)
{
	char id[KM_ID_LEN];
	known_aes_key(id);
	uint8_t pt[100], buf[16 + 112 + 16];
	ck_assert(RAND_bytes(pt, sizeof pt) == 1);
	for (size_t i = 0; i < N_LENS; i++) {
		/* hsmgw → OpenSSL: IV(16) ‖ PKCS #7-padded ciphertext. */
		char *env = hsm_encrypt(id, "AES-CBC-PAD", pt, lens[i], NULL, 0);
		size_t n;
		uint8_t *raw = ci_envelope_data(env, 1, &n);
		ck_assert_uint_eq(n, 16 + (lens[i] / 16 + 1) * 16);
		long got = ossl_cbc(false, true, raw, n, buf);
		ck_assert_msg(got == (long)lens[i] && memcmp(buf, pt, lens[i]) == 0,
			      "OpenSSL decrypts hsmgw's CBC of %zu bytes to %ld bytes", lens[i], got);
		free(raw);
		free(env);
		/* OpenSSL → hsmgw, which needs the algorithm named. */
		long cl = ossl_cbc(true, true, pt, lens[i], buf);
		env = ci_envelope(1, buf, (size_t)cl);
		expect_plaintext(hsm_decrypt(id, "AES-CBC-PAD", env, NULL, 0), pt, lens[i]);
		ci_expect_400(hsm_decrypt(id, NULL, env, NULL, 0), "a CBC ciphertext taken for GCM");
		free(env);
	}
}
END_TEST

START_TEST(test_aes_cbc_pad_ciphertext_with_bad_padding_or_a_partial_block_is_400)
{
	char id[KM_ID_LEN];
	known_aes_key(id);
	/* A last block that ends in 0x00 or 0x11 is no PKCS #7 padding. */
	static const uint8_t ends[] = {0x00, 0x11};
	uint8_t block[32], buf[16 + 32];
	for (size_t i = 0; i < sizeof ends; i++) {
		memset(block, 0x42, sizeof block);
		block[31] = ends[i];
		long cl = ossl_cbc(true, false, block, sizeof block, buf);
		ck_assert_int_eq(cl, 48);
		char *env = ci_envelope(1, buf, (size_t)cl);
		ci_expect_400(hsm_decrypt(id, "AES-CBC-PAD", env, NULL, 0), "bad padding");
		free(env);
	}
	/* The control: the same with valid padding (16 × 0x10) decrypts to the first block. */
	memset(block, 0x42, 16);
	memset(block + 16, 0x10, 16);
	long cl = ossl_cbc(true, false, block, sizeof block, buf);
	char *env = ci_envelope(1, buf, (size_t)cl);
	expect_plaintext(hsm_decrypt(id, "AES-CBC-PAD", env, NULL, 0), block, 16);
	free(env);
	static const size_t short_lens[] = {16 + 15, 16 + 17, 16, 15};
	for (size_t i = 0; i < sizeof short_lens / sizeof *short_lens; i++) {
		env = ci_envelope(1, buf, short_lens[i]);
		ci_expect_400(hsm_decrypt(id, "AES-CBC-PAD", env, NULL, 0), "partial CBC block");
		free(env);
	}
}
END_TEST

START_TEST(test_aes_cmac_of_hsmgw_equals_openssl_cmac_with_the_known_key)
{
	char id[KM_ID_LEN];
	known_aes_key(id);
	uint8_t m[1000];
	ck_assert(RAND_bytes(m, sizeof m) == 1);
	static const size_t mlens[] = {1, 15, 16, 17, 64, 1000};
	for (size_t i = 0; i < sizeof mlens / sizeof *mlens; i++) {
		uint8_t want[64];
		size_t wl = ossl_mac("CMAC", OSSL_MAC_PARAM_CIPHER, "AES-256-CBC", known_aes, sizeof known_aes, m,
				     mlens[i], want);
		ck_assert_uint_eq(wl, 16);
		char *m64 = h_b64(m, mlens[i]);
		struct h_resp *r = ci_post(id, "mac", json_pack("{s:s, s:s}", "message", m64, "algorithm", "AES-CMAC"));
		h_assert_status(r, 200);
		ck_assert_str_eq(h_str(r, "algorithm"), "AES-CMAC");
		size_t n;
		uint8_t *got = ci_bytes(r, "mac", &n);
		ck_assert_msg(n == wl && memcmp(got, want, wl) == 0, "AES-CMAC of %zu bytes differs from OpenSSL's",
			      mlens[i]);
		free(got);
		h_resp_free(r);
		/* OpenSSL's CMAC verifies through hsmgw; altered, it does not. */
		char *w64 = h_b64(want, wl);
		r = ci_post(id, "mac/verify",
			    json_pack("{s:s, s:s, s:s}", "message", m64, "mac", w64, "algorithm", "AES-CMAC"));
		h_assert_status(r, 200);
		ck_assert_msg(json_is_true(json_object_get(r->json, "valid")), "OpenSSL's CMAC: %.200s", r->body);
		h_resp_free(r);
		free(w64);
		want[0] ^= 0x80;
		w64 = h_b64(want, wl);
		r = ci_post(id, "mac/verify",
			    json_pack("{s:s, s:s, s:s}", "message", m64, "mac", w64, "algorithm", "AES-CMAC"));
		h_assert_status(r, 200);
		ck_assert(json_is_false(json_object_get(r->json, "valid")));
		h_resp_free(r);
		free(w64);
		free(m64);
	}
}
END_TEST

/* POST mac/verify of m64 with mac[0..n); asserts 200 and valid == want. */
static void expect_mac_valid(const char *key, const char *m64, const uint8_t *mac, size_t n, bool want)
{
	char *w64 = h_b64(mac, n);
	struct h_resp *r = ci_post(
	    key, "mac/verify", json_pack("{s:s, s:s, s:s}", "message", m64, "mac", w64, "algorithm", "HMAC-SHA256"));
	h_assert_status(r, 200);
	json_t *v = json_object_get(r->json, "valid");
	ck_assert_msg(json_is_boolean(v) && json_boolean_value(v) == want, "mac/verify of %zu bytes: %.200s", n,
		      r->body);
	h_resp_free(r);
	free(w64);
}

START_TEST(test_hmac_sha256_of_an_imported_known_key_equals_openssl_hmac_and_verifies)
{
	char id[KM_ID_LEN];
	ci_import_known("HMAC", 256, json_pack("[s]", "mac"), known_hmac, sizeof known_hmac, id);
	static const char *const msgs[] = {"a", "what do ya want for nothing?",
					   "tenant=acme;order=8812;amount=1250.00"};
	for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++) {
		uint8_t want[64];
		size_t wl = ossl_mac("HMAC", OSSL_MAC_PARAM_DIGEST, "SHA256", known_hmac, sizeof known_hmac,
				     (const uint8_t *)msgs[i], strlen(msgs[i]), want);
		ck_assert_uint_eq(wl, 32);
		char *m64 = h_b64(msgs[i], strlen(msgs[i]));
		/* Named, and as the HMAC key's default. */
		for (int named = 0; named < 2; named++) {
			json_t *b = json_pack("{s:s}", "message", m64);
			if (named)
				json_object_set_new(b, "algorithm", json_string("HMAC-SHA256"));
			struct h_resp *r = ci_post(id, "mac", b);
			h_assert_status(r, 200);
			ck_assert_str_eq(h_str(r, "algorithm"), "HMAC-SHA256");
			size_t n;
			uint8_t *got = ci_bytes(r, "mac", &n);
			ck_assert_msg(n == wl && memcmp(got, want, wl) == 0,
				      "HMAC-SHA256 of \"%s\" differs from OpenSSL's", msgs[i]);
			free(got);
			h_resp_free(r);
		}
		expect_mac_valid(id, m64, want, wl, true);
		expect_mac_valid(id, m64, want, 16, false); /* truncated */
		want[wl - 1] ^= 0x01;
		expect_mac_valid(id, m64, want, wl, false);
		free(m64);
	}
	/* Under the known key, a second import of the same bytes MACs the same. */
	char id2[KM_ID_LEN];
	ci_import_known("HMAC", 256, json_pack("[s]", "mac"), known_hmac, sizeof known_hmac, id2);
	struct h_resp *a = ci_post(id, "mac", json_pack("{s:s}", "message", "aGk=")),
		      *b = ci_post(id2, "mac", json_pack("{s:s}", "message", "aGk="));
	h_assert_status(a, 200);
	h_assert_status(b, 200);
	ck_assert_str_eq(h_str(a, "mac"), h_str(b, "mac"));
	h_resp_free(a);
	h_resp_free(b);
}
END_TEST

/* mac (and mac/verify) with algorithm alg under key: 400 invalid_request. */
static void expect_mac_400(const char *key, const char *alg, const char *what)
{
	static const char m64[] = "bWVzc2FnZQ==";
	ci_expect_400(ci_post(key, "mac", json_pack("{s:s, s:s}", "message", m64, "algorithm", alg)), what);
	ci_expect_400(
	    ci_post(key, "mac/verify", json_pack("{s:s, s:s, s:s}", "message", m64, "mac", "AAAA", "algorithm", alg)),
	    what);
}

/* The HSM needs an HMAC key at least as long as the hash: that is the client's error. */
START_TEST(test_hmac_sha384_or_sha512_with_a_shorter_key_is_400_and_a_long_enough_key_works)
{
	char k256[KM_ID_LEN], k384[KM_ID_LEN], k512[KM_ID_LEN];
	km_key_id("h256", json_pack("{s:s, s:i}", "type", "HMAC", "size", 256), k256, NULL);
	km_key_id("h384", json_pack("{s:s, s:i}", "type", "HMAC", "size", 384), k384, NULL);
	km_key_id("h512", json_pack("{s:s, s:i}", "type", "HMAC", "size", 512), k512, NULL);
	expect_mac_400(k256, "HMAC-SHA384", "HMAC-SHA384 with a 256-bit key");
	expect_mac_400(k256, "HMAC-SHA512", "HMAC-SHA512 with a 256-bit key");
	expect_mac_400(k384, "HMAC-SHA512", "HMAC-SHA512 with a 384-bit key");
	static const struct {
		const char *key_bits, *alg;
		size_t len;
	} ok[] = {{"384", "HMAC-SHA384", 48}, {"512", "HMAC-SHA384", 48}, {"512", "HMAC-SHA512", 64}};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		const char *key = strcmp(ok[i].key_bits, "384") == 0 ? k384 : k512;
		struct h_resp *r =
		    ci_post(key, "mac", json_pack("{s:s, s:s}", "message", "bWVzc2FnZQ==", "algorithm", ok[i].alg));
		h_assert_status(r, 200);
		size_t n;
		free(ci_bytes(r, "mac", &n));
		ck_assert_uint_eq(n, ok[i].len);
		h_resp_free(r);
	}
}
END_TEST

/* POST datakey with bits (0: not sent) and aad a (NULL: none); asserts 200. */
static struct h_resp *datakey(const char *key, int bits, const uint8_t *a, size_t an)
{
	json_t *b = json_object();
	if (bits)
		json_object_set_new(b, "bits", json_integer(bits));
	if (a) {
		char *a64 = h_b64(a, an);
		json_object_set_new(b, "aad", json_string(a64));
		free(a64);
	}
	struct h_resp *r = ci_post(key, "datakey", b);
	h_assert_status(r, 200);
	ck_assert_str_eq(h_str(r, "algorithm"), "AES-GCM");
	ck_assert_int_eq(km_int(r->json, "key_version"), 1);
	return r;
}

START_TEST(test_datakey_plaintext_of_128_and_256_bits_is_what_its_ciphertext_decrypts_to)
{
	char id[KM_ID_LEN];
	km_key_id("dk", json_pack("{s:s}", "type", "AES"), id, NULL);
	static const int bits[] = {128, 256, 0};
	for (size_t i = 0; i < sizeof bits / sizeof *bits; i++) {
		size_t want = bits[i] ? (size_t)bits[i] / 8 : 32; /* 256 by default */
		for (int with_aad = 0; with_aad < 2; with_aad++) {
			struct h_resp *r = datakey(id, bits[i], with_aad ? AAD : NULL, AAD_LEN);
			size_t n, rn;
			uint8_t *pt = ci_bytes(r, "plaintext", &n);
			ck_assert_uint_eq(n, want);
			free(ci_envelope_data(h_str(r, "ciphertext"), 1, &rn));
			ck_assert_uint_eq(rn, 12 + want + 16);
			expect_plaintext(hsm_decrypt(id, NULL, h_str(r, "ciphertext"), with_aad ? AAD : NULL, AAD_LEN),
					 pt, n);
			if (with_aad)
				ci_expect_400(hsm_decrypt(id, NULL, h_str(r, "ciphertext"), NULL, 0),
					      "datakey ciphertext without its aad");
			free(pt);
			h_resp_free(r);
		}
	}
	/* Two data keys differ. */
	struct h_resp *a = datakey(id, 256, NULL, 0), *b = datakey(id, 256, NULL, 0);
	ck_assert_str_ne(h_str(a, "plaintext"), h_str(b, "plaintext"));
	h_resp_free(a);
	h_resp_free(b);
}
END_TEST

START_TEST(test_datakey_ciphertext_under_a_known_key_decrypts_in_openssl_to_the_returned_plaintext)
{
	char id[KM_ID_LEN];
	known_aes_key(id);
	static const int bits[] = {128, 256};
	for (size_t i = 0; i < sizeof bits / sizeof *bits; i++) {
		for (int with_aad = 0; with_aad < 2; with_aad++) {
			struct h_resp *r = datakey(id, bits[i], with_aad ? AAD : NULL, AAD_LEN);
			size_t n, rn;
			uint8_t *pt = ci_bytes(r, "plaintext", &n), out[32];
			uint8_t *raw = ci_envelope_data(h_str(r, "ciphertext"), 1, &rn);
			ck_assert_uint_eq(rn, 12 + n + 16);
			ck_assert_msg(ossl_gcm_decrypt(known_aes, raw, rn, AAD, with_aad ? AAD_LEN : 0, out),
				      "OpenSSL: the data key's tag does not verify (%d bits, aad %d)", bits[i],
				      with_aad);
			ck_assert_msg(memcmp(out, pt, n) == 0,
				      "OpenSSL decrypts another data key than the one returned");
			free(raw);
			free(pt);
			h_resp_free(r);
		}
	}
}
END_TEST

START_TEST(test_reencrypt_after_rotate_names_v2_and_decrypts_to_the_original_plaintext)
{
	char id[KM_ID_LEN];
	km_key_id("reenc", json_pack("{s:s}", "type", "AES"), id, NULL);
	uint8_t pt[40];
	ck_assert(RAND_bytes(pt, sizeof pt) == 1);
	char *gcm = hsm_encrypt(id, NULL, pt, sizeof pt, AAD, AAD_LEN),
	     *cbc = hsm_encrypt(id, "AES-CBC-PAD", pt, sizeof pt, NULL, 0);
	size_t n;
	free(ci_envelope_data(gcm, 1, &n));
	free(ci_envelope_data(cbc, 1, &n));
	struct h_resp *r = km_act(id, "rotate", NULL);
	h_assert_status(r, 200);
	ck_assert_int_eq(km_int(r->json, "primary_version"), 2);
	h_resp_free(r);
	char *a64 = h_b64(aad, AAD_LEN);
	r = ci_post(id, "reencrypt", json_pack("{s:s, s:s}", "ciphertext", gcm, "aad", a64));
	h_assert_status(r, 200);
	ck_assert_int_eq(km_int(r->json, "key_version"), 2);
	ck_assert_str_eq(h_str(r, "algorithm"), "AES-GCM");
	free(ci_envelope_data(h_str(r, "ciphertext"), 2, &n));
	ck_assert_uint_eq(n, 12 + sizeof pt + 16);
	expect_plaintext(hsm_decrypt(id, NULL, h_str(r, "ciphertext"), AAD, AAD_LEN), pt, sizeof pt);
	ci_expect_400(hsm_decrypt(id, NULL, h_str(r, "ciphertext"), NULL, 0), "re-encrypted GCM without its aad");
	h_resp_free(r);
	ci_expect_400(ci_post(id, "reencrypt", json_pack("{s:s}", "ciphertext", gcm)), "reencrypt without the aad");
	r = ci_post(id, "reencrypt", json_pack("{s:s, s:s}", "ciphertext", cbc, "algorithm", "AES-CBC-PAD"));
	h_assert_status(r, 200);
	ck_assert_int_eq(km_int(r->json, "key_version"), 2);
	ck_assert_str_eq(h_str(r, "algorithm"), "AES-CBC-PAD");
	free(ci_envelope_data(h_str(r, "ciphertext"), 2, &n));
	expect_plaintext(hsm_decrypt(id, "AES-CBC-PAD", h_str(r, "ciphertext"), NULL, 0), pt, sizeof pt);
	h_resp_free(r);
	/* Version 1 still decrypts within the grace period. */
	expect_plaintext(hsm_decrypt(id, NULL, gcm, AAD, AAD_LEN), pt, sizeof pt);
	free(a64);
	free(gcm);
	free(cbc);
}
END_TEST

START_TEST(test_reencrypt_with_only_crypto_encrypt_or_only_crypto_decrypt_is_403_forbidden)
{
	char id[KM_ID_LEN];
	km_key_id("reencscope", json_pack("{s:s}", "type", "AES"), id, NULL);
	uint8_t pt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	char *ct = hsm_encrypt(id, NULL, pt, sizeof pt, NULL, 0);
	static const char *const scopes[] = {"crypto:encrypt", "crypto:decrypt", "keys:read crypto:encrypt"};
	for (size_t i = 0; i < sizeof scopes / sizeof *scopes; i++) {
		char *tok = h_token("acme", scopes[i]);
		struct h_resp *r = ci_post_as(tok, id, "reencrypt", json_pack("{s:s}", "ciphertext", ct));
		ck_assert_msg(r->status == 403, "reencrypt with scope \"%s\": %ld %.300s", scopes[i], r->status,
			      r->body);
		h_assert_problem(r, 403, "forbidden");
		ck_assert_ptr_null(h_str(r, "ciphertext"));
		h_resp_free(r);
		free(tok);
	}
	/* The control: both scopes suffice. */
	char *tok = h_token("acme", "crypto:encrypt crypto:decrypt");
	struct h_resp *r = ci_post_as(tok, id, "reencrypt", json_pack("{s:s}", "ciphertext", ct));
	h_assert_status(r, 200);
	h_resp_free(r);
	free(tok);
	free(ct);
}
END_TEST

START_TEST(test_gcm_envelope_shorter_than_iv_plus_tag_is_400)
{
	char id[KM_ID_LEN];
	km_key_id("short", json_pack("{s:s}", "type", "AES"), id, NULL);
	uint8_t junk[28];
	ck_assert(RAND_bytes(junk, sizeof junk) == 1);
	static const size_t short_lens[] = {1, 11, 12, 16, 27, 28}; /* 28: IV and tag, which is wrong */
	for (size_t i = 0; i < sizeof short_lens / sizeof *short_lens; i++) {
		char *env = ci_envelope(1, junk, short_lens[i]), what[64];
		snprintf(what, sizeof what, "GCM envelope of %zu bytes", short_lens[i]);
		ci_expect_400(hsm_decrypt(id, NULL, env, NULL, 0), what);
		ci_expect_400(ci_post(id, "reencrypt", json_pack("{s:s}", "ciphertext", env)), what);
		free(env);
	}
	ci_expect_400(hsm_decrypt(id, NULL, "hsmgw:v1:", NULL, 0), "an envelope without data");
}
END_TEST

START_TEST(test_gcm_ciphertext_with_a_truncated_or_extended_tag_is_400_never_200)
{
	char id[KM_ID_LEN];
	km_key_id("trunc", json_pack("{s:s}", "type", "AES"), id, NULL);
	uint8_t pt[20];
	ck_assert(RAND_bytes(pt, sizeof pt) == 1);
	static const size_t pt_lens[] = {0, 1, 20};
	for (size_t i = 0; i < sizeof pt_lens / sizeof *pt_lens; i++) {
		for (int with_aad = 0; with_aad < 2; with_aad++) {
			const uint8_t *a = with_aad ? AAD : NULL;
			char *env = hsm_encrypt(id, NULL, pt, pt_lens[i], a, AAD_LEN);
			size_t n;
			uint8_t *raw = ci_envelope_data(env, 1, &n), ext[64];
			expect_plaintext(hsm_decrypt(id, NULL, env, a, AAD_LEN), pt, pt_lens[i]); /* the control */
			/* The last byte dropped, a 96-bit tag (4 dropped), a byte appended. */
			static const int deltas[] = {-1, -4, 1};
			for (size_t d = 0; d < sizeof deltas / sizeof *deltas; d++) {
				memcpy(ext, raw, n);
				ext[n] = 0x00;
				char *bad = ci_envelope(1, ext, (size_t)((long)n + deltas[d])), what[80];
				snprintf(what, sizeof what, "GCM of %zu bytes, tag length changed by %d", pt_lens[i],
					 deltas[d]);
				ci_expect_400(hsm_decrypt(id, NULL, bad, a, AAD_LEN), what);
				free(bad);
			}
			free(raw);
			free(env);
		}
	}
}
END_TEST

START_TEST(test_gcm_decrypt_with_a_wrong_missing_or_unexpected_aad_is_400)
{
	char id[KM_ID_LEN];
	km_key_id("aad", json_pack("{s:s}", "type", "AES"), id, NULL);
	uint8_t pt[10];
	memcpy(pt, "0123456789", sizeof pt);
	char *with = hsm_encrypt(id, NULL, pt, sizeof pt, AAD, AAD_LEN),
	     *without = hsm_encrypt(id, NULL, pt, sizeof pt, NULL, 0);
	expect_plaintext(hsm_decrypt(id, NULL, with, AAD, AAD_LEN), pt, sizeof pt);
	expect_plaintext(hsm_decrypt(id, NULL, without, NULL, 0), pt, sizeof pt);
	uint8_t other[sizeof aad - 1];
	memcpy(other, aad, sizeof other);
	other[0] ^= 0x01;
	ci_expect_400(hsm_decrypt(id, NULL, with, other, sizeof other), "another aad of the same length");
	ci_expect_400(hsm_decrypt(id, NULL, with, AAD, AAD_LEN - 1), "a truncated aad");
	ci_expect_400(hsm_decrypt(id, NULL, with, NULL, 0), "no aad");
	ci_expect_400(hsm_decrypt(id, NULL, with, AAD, 0), "an empty aad");
	ci_expect_400(hsm_decrypt(id, NULL, without, AAD, AAD_LEN), "an aad the encryption had not");
	/* aad is for GCM only. */
	char *cbc = hsm_encrypt(id, "AES-CBC-PAD", pt, sizeof pt, NULL, 0);
	ci_expect_400(hsm_decrypt(id, "AES-CBC-PAD", cbc, AAD, AAD_LEN), "aad with AES-CBC-PAD");
	free(cbc);
	free(with);
	free(without);
}
END_TEST

START_TEST(test_random_of_0_or_1025_bytes_is_400_and_of_32_bytes_gives_32_bytes)
{
	static const int bad[] = {0, 1025, -1};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char what[32];
		snprintf(what, sizeof what, "random of %d bytes", bad[i]);
		ci_expect_400(h_post_json("/v1/random", ci_tok(), json_pack("{s:i}", "bytes", bad[i]), NULL), what);
	}
	char *prev = NULL;
	static const int good[] = {32, 32, 1, 1024};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		struct h_resp *r = h_post_json("/v1/random", ci_tok(), json_pack("{s:i}", "bytes", good[i]), NULL);
		h_assert_status(r, 200);
		size_t n;
		free(ci_bytes(r, "random", &n));
		ck_assert_uint_eq(n, (size_t)good[i]);
		if (i == 1)
			ck_assert_str_ne(h_str(r, "random"), prev); /* two draws of 32 bytes differ */
		free(prev);
		prev = strdup(h_str(r, "random"));
		h_resp_free(r);
	}
	free(prev);
}
END_TEST

TCase *tcase_crypto_interop2(void)
{
	TCase *tc = tcase_create("crypto_interop2");
	tcase_add_test(tc, test_aes_gcm_ciphertext_of_hsmgw_with_aad_decrypts_in_openssl_with_the_known_key);
	tcase_add_test(tc, test_aes_gcm_ciphertext_made_by_openssl_with_aad_decrypts_through_hsmgw);
	tcase_add_test(tc, test_aes_cbc_pad_ciphertexts_decrypt_both_ways_between_hsmgw_and_openssl);
	tcase_add_test(tc, test_aes_cbc_pad_ciphertext_with_bad_padding_or_a_partial_block_is_400);
	tcase_add_test(tc, test_aes_cmac_of_hsmgw_equals_openssl_cmac_with_the_known_key);
	tcase_add_test(tc, test_hmac_sha256_of_an_imported_known_key_equals_openssl_hmac_and_verifies);
	tcase_add_test(tc, test_hmac_sha384_or_sha512_with_a_shorter_key_is_400_and_a_long_enough_key_works);
	tcase_add_test(tc, test_datakey_plaintext_of_128_and_256_bits_is_what_its_ciphertext_decrypts_to);
	tcase_add_test(tc, test_datakey_ciphertext_under_a_known_key_decrypts_in_openssl_to_the_returned_plaintext);
	tcase_add_test(tc, test_reencrypt_after_rotate_names_v2_and_decrypts_to_the_original_plaintext);
	tcase_add_test(tc, test_reencrypt_with_only_crypto_encrypt_or_only_crypto_decrypt_is_403_forbidden);
	tcase_add_test(tc, test_gcm_envelope_shorter_than_iv_plus_tag_is_400);
	tcase_add_test(tc, test_gcm_ciphertext_with_a_truncated_or_extended_tag_is_400_never_200);
	tcase_add_test(tc, test_gcm_decrypt_with_a_wrong_missing_or_unexpected_aad_is_400);
	tcase_add_test(tc, test_random_of_0_or_1025_bytes_is_400_and_of_32_bytes_gives_32_bytes);
	return tc;
}
