/* Signatures and RSA-OAEP against independent OpenSSL code: every signature algorithm's
 * output verifies with OpenSSL under the public key GET /public-key gives (over a message or a
 * precomputed digest, DER and raw ECDSA), /verify tells a good signature from an altered one
 * and refuses blobs that cannot be a signature of the key, data encrypted by OpenSSL with
 * RSA-OAEP-SHA256 decrypts through hsmgw, and the sign inputs that do not fit are 400. Also the
 * helpers crypto_interop.h declares. */
#include "crypto_interop.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

/* ---- the shared helpers ---- */

const char *ci_tok(void)
{
	static char *tok; /* per test process; reachable until exit */
	if (!tok)
		tok = h_token("acme", CI_SCOPES);
	return tok;
}

struct h_resp *ci_post_as(const char *token, const char *key, const char *action, json_t *body)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/keys/%s/%s", key, action);
	if (!token)
		token = ci_tok();
	if (!body)
		return h_post(path, token, NULL, NULL);
	return h_post_json(path, token, body, NULL);
}

EVP_PKEY *ci_public_key_at(const char *file, int line, const char *key)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/keys/%s/public-key", key);
	struct h_resp *r = h_get(path, ci_tok(), NULL);
	h_assert_status_at(file, line, r, 200);
	const char *pem = h_str(r, "pem");
	ck_assert_msg(pem && strstr(pem, "-----BEGIN PUBLIC KEY-----"), "%s:%d: no PEM: %.600s", file, line, r->body);
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ck_assert_msg(pk != NULL, "%s:%d: OpenSSL cannot parse the PEM: %s", file, line, pem);
	h_resp_free(r);
	return pk;
}

/* RSA-OAEP with md for the hash and MGF1, no label; *out_len receives the length. */
static void oaep_encrypt(EVP_PKEY *pub, const EVP_MD *md, const uint8_t *in, size_t n, uint8_t out[512],
			 size_t *out_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
	*out_len = 512;
	ck_assert(ctx && EVP_PKEY_encrypt_init(ctx) == 1 &&
		  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
		  EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1 &&
		  EVP_PKEY_encrypt(ctx, out, out_len, in, n) == 1);
	EVP_PKEY_CTX_free(ctx);
}

void ci_import_known_at(const char *file, int line, const char *type, int size, json_t *usage, const uint8_t *key,
			size_t n, size_t parts, char id[KM_ID_LEN])
{
	char kek[KM_ID_LEN], name[H_NAME_MAX];
	km_key_id("kek", json_pack("{s:s, s:i, s:[s, s]}", "type", "RSA", "size", 2048, "usage", "wrap", "unwrap"), kek,
		  NULL);
	EVP_PKEY *pub = ci_public_key_at(file, line, kek);
	/* Each part wrapped on its own, the results concatenated (keys held as halves). */
	uint8_t wrapped[2 * 512];
	size_t wl = 0;
	ck_assert(parts == 1 || parts == 2);
	for (size_t i = 0; i < parts; i++) {
		size_t l;
		oaep_encrypt(pub, EVP_sha1(), key + i * (n / parts), n / parts, wrapped + wl, &l);
		wl += l;
	}
	EVP_PKEY_free(pub);
	char *w64 = h_b64(wrapped, wl);
	h_name(name, "known");
	json_t *b = json_pack("{s:s, s:s, s:i, s:o, s:s, s:s, s:s}", "name", name, "type", type, "size", size, "usage",
			      usage, "wrapping_key", kek, "algorithm", "RSA-OAEP-SHA1", "wrapped_key", w64);
	free(w64);
	char *body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	struct h_resp *r = km_send("POST", "/v1/keys/import", body, NULL);
	ck_assert_msg(r->status == 201, "%s:%d: importing a known %s-%d key: expected 201, got %ld: %.600s", file, line,
		      type, size, r->status, r->body);
	free(body);
	const char *got = h_str(r, "id");
	ck_assert_msg(got && strlen(got) == HG_UUID_STR_LEN, "%s:%d: imported key has no id: %.600s", file, line,
		      r->body);
	snprintf(id, KM_ID_LEN, "%s", got);
	h_resp_free(r);
}

uint8_t *ci_bytes_at(const char *file, int line, const struct h_resp *r, const char *member, size_t *n)
{
	const char *s = h_str(r, member);
	ck_assert_msg(s != NULL, "%s:%d: no %s in %.600s", file, line, member, r->body);
	return h_unb64(s, n);
}

uint8_t *ci_envelope_data_at(const char *file, int line, const char *env, int version, size_t *n)
{
	char prefix[32];
	snprintf(prefix, sizeof prefix, "hsmgw:v%d:", version);
	ck_assert_msg(env && strncmp(env, prefix, strlen(prefix)) == 0, "%s:%d: envelope %.60s does not start with %s",
		      file, line, env ? env : "(none)", prefix);
	return h_unb64(env + strlen(prefix), n);
}

char *ci_envelope(int version, const uint8_t *raw, size_t n)
{
	char *b64 = h_b64(raw, n), *s;
	ck_assert(asprintf(&s, "hsmgw:v%d:%s", version, b64) > 0);
	free(b64);
	return s;
}

void ci_expect_400_at(const char *file, int line, struct h_resp *r, const char *what)
{
	ck_assert_msg(r->status == 400, "%s:%d: %s: expected 400, got %ld: %.400s", file, line, what, r->status,
		      r->body);
	h_assert_problem_at(file, line, r, 400, "invalid_request");
	h_resp_free(r);
}

/* ---- signing through hsmgw, verifying with OpenSSL ---- */

static const char msg[] = "{\"invoice\":\"INV-2026-0042\",\"amount\":\"1250.00\"}";
static const char other_msg[] = "{\"invoice\":\"INV-2026-0042\",\"amount\":\"9250.00\"}";
#define MSG       ((const uint8_t *)msg)
#define MSG_LEN   (sizeof msg - 1)
#define OTHER     ((const uint8_t *)other_msg)
#define OTHER_LEN (sizeof other_msg - 1)

static json_t *rsa_sign_spec(void)
{
	return json_pack("{s:s, s:i, s:[s, s]}", "type", "RSA", "size", 2048, "usage", "sign", "verify");
}

/* POST sign with `field` ("message" or "digest") = data[0..n), algorithm alg and, unless NULL,
 * signature_format fmt. Asserts 200, the algorithm and key_version 1; returns the signature. */
#define hsm_sign(key, alg, field, data, n, fmt, sig_len)                                                               \
	hsm_sign_at(__FILE__, __LINE__, (key), (alg), (field), (data), (n), (fmt), (sig_len))
static uint8_t *hsm_sign_at(const char *file, int line, const char *key, const char *alg, const char *field,
			    const uint8_t *data, size_t n, const char *fmt, size_t *sig_len)
{
	char *b64 = h_b64(data, n);
	json_t *b = json_pack("{s:s, s:s}", field, b64, "algorithm", alg);
	free(b64);
	if (fmt)
		json_object_set_new(b, "signature_format", json_string(fmt));
	struct h_resp *r = ci_post(key, "sign", b);
	h_assert_status_at(file, line, r, 200);
	const char *got = h_str(r, "algorithm");
	ck_assert_msg(got && strcmp(got, alg) == 0, "%s:%d: sign answered algorithm %s, not %s", file, line,
		      got ? got : "(none)", alg);
	ck_assert_msg(km_int(r->json, "key_version") == 1, "%s:%d: key_version %ld", file, line,
		      km_int(r->json, "key_version"));
	uint8_t *sig = ci_bytes_at(file, line, r, "signature", sig_len);
	h_resp_free(r);
	return sig;
}

/* POST verify; fmt NULL: no signature_format. */
static struct h_resp *hsm_verify(const char *key, const char *alg, const char *field, const uint8_t *data, size_t n,
				 const uint8_t *sig, size_t sig_len, const char *fmt)
{
	char *d64 = h_b64(data, n), *s64 = h_b64(sig, sig_len);
	json_t *b = json_pack("{s:s, s:s, s:s}", field, d64, "signature", s64, "algorithm", alg);
	free(d64);
	free(s64);
	if (fmt)
		json_object_set_new(b, "signature_format", json_string(fmt));
	return ci_post(key, "verify", b);
}

/* /verify of a message answers 200 with valid == want. */
#define expect_valid(key, alg, data, n, sig, sig_len, fmt, want)                                                       \
	expect_valid_at(__LINE__, (key), (alg), (data), (n), (sig), (sig_len), (fmt), (want))
static void expect_valid_at(int line, const char *key, const char *alg, const uint8_t *data, size_t n,
			    const uint8_t *sig, size_t sig_len, const char *fmt, bool want)
{
	struct h_resp *r = hsm_verify(key, alg, "message", data, n, sig, sig_len, fmt);
	h_assert_status_at(__FILE__, line, r, 200);
	json_t *v = json_object_get(r->json, "valid");
	ck_assert_msg(json_is_boolean(v) && json_boolean_value(v) == want,
		      "line %d: %s verify: expected valid %s: %.300s", line, alg, want ? "true" : "false", r->body);
	h_resp_free(r);
}

/* The digest of an algorithm name (NULL for EDDSA). */
static const EVP_MD *md_of(const char *alg)
{
	return strstr(alg, "SHA384") ? EVP_sha384() : strstr(alg, "SHA256") ? EVP_sha256() : NULL;
}

/* Verifies sig over data with OpenSSL alone: the algorithm's digest (none for Ed25519), and
 * for RSA-PSS MGF1 with the same digest and a salt of exactly salt_len bytes. */
static bool ossl_verify(EVP_PKEY *pk, const char *alg, int salt_len, const uint8_t *data, size_t n, const uint8_t *sig,
			size_t sig_len)
{
	const EVP_MD *md = md_of(alg);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	ck_assert(ctx && EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pk) == 1);
	if (strncmp(alg, "RSA-PSS", 7) == 0)
		ck_assert(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
			  EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1 &&
			  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt_len) == 1);
	else if (strncmp(alg, "RSA-PKCS1", 9) == 0)
		ck_assert(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1);
	int rc = EVP_DigestVerify(ctx, sig, sig_len, data, n);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc == 1;
}

/* raw r ‖ s (each n/2 bytes) as a DER ECDSA-Sig-Value, built by OpenSSL; the caller frees. */
static uint8_t *raw_to_der(const uint8_t *raw, size_t n, size_t *der_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)(n / 2), NULL), *s = BN_bin2bn(raw + n / 2, (int)(n / 2), NULL);
	ck_assert(sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1);
	uint8_t *der = NULL;
	int l = i2d_ECDSA_SIG(sig, &der);
	ck_assert(l > 0);
	*der_len = (size_t)l;
	ECDSA_SIG_free(sig);
	return der;
}

/* Whether der is exactly one DER ECDSA-Sig-Value (OpenSSL parses all of it). */
static bool is_one_der_sig(const uint8_t *der, size_t n)
{
	const uint8_t *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
	bool ok = sig && p == der + n;
	ECDSA_SIG_free(sig);
	return ok;
}

START_TEST(test_rsa_pss_sha256_and_sha384_signatures_verify_in_openssl_with_mgf1_and_a_salt_of_the_digest_length)
{
	char id[KM_ID_LEN];
	km_key_id("pss", rsa_sign_spec(), id, NULL);
	EVP_PKEY *pk = ci_public_key(id);
	ck_assert_int_eq(EVP_PKEY_get_base_id(pk), EVP_PKEY_RSA);
	static const struct {
		const char *alg;
		int salt;
	} cases[] = {{"RSA-PSS-SHA256", 32}, {"RSA-PSS-SHA384", 48}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t n;
		uint8_t *sig = hsm_sign(id, cases[i].alg, "message", MSG, MSG_LEN, NULL, &n);
		ck_assert_uint_eq(n, 256);
		ck_assert_msg(ossl_verify(pk, cases[i].alg, cases[i].salt, MSG, MSG_LEN, sig, n),
			      "%s signature does not verify in OpenSSL (salt %d)", cases[i].alg, cases[i].salt);
		/* OpenSSL checks an explicit salt length exactly: the salt is the digest's length. */
		ck_assert_msg(!ossl_verify(pk, cases[i].alg, 20, MSG, MSG_LEN, sig, n), "%s salt is not %d bytes",
			      cases[i].alg, cases[i].salt);
		ck_assert(!ossl_verify(pk, cases[i].alg, cases[i].salt, OTHER, OTHER_LEN, sig, n));
		/* PSS is randomized: a second signature differs and verifies too. */
		size_t n2;
		uint8_t *sig2 = hsm_sign(id, cases[i].alg, "message", MSG, MSG_LEN, NULL, &n2);
		ck_assert(n2 == n && memcmp(sig, sig2, n) != 0);
		ck_assert(ossl_verify(pk, cases[i].alg, cases[i].salt, MSG, MSG_LEN, sig2, n2));
		free(sig2);
		free(sig);
	}
	EVP_PKEY_free(pk);
}
END_TEST

START_TEST(test_rsa_pkcs1_sha256_signature_verifies_in_openssl_and_is_deterministic)
{
	char id[KM_ID_LEN];
	km_key_id("pkcs1", rsa_sign_spec(), id, NULL);
	EVP_PKEY *pk = ci_public_key(id);
	size_t n, n2;
	uint8_t *sig = hsm_sign(id, "RSA-PKCS1-SHA256", "message", MSG, MSG_LEN, NULL, &n);
	ck_assert_uint_eq(n, 256);
	ck_assert_msg(ossl_verify(pk, "RSA-PKCS1-SHA256", 0, MSG, MSG_LEN, sig, n),
		      "RSA-PKCS1-SHA256 signature does not verify in OpenSSL");
	ck_assert(!ossl_verify(pk, "RSA-PKCS1-SHA256", 0, OTHER, OTHER_LEN, sig, n));
	/* Not a PSS signature, nor one over SHA-384. */
	ck_assert(!ossl_verify(pk, "RSA-PSS-SHA256", 32, MSG, MSG_LEN, sig, n));
	ck_assert(!ossl_verify(pk, "RSA-PKCS1-SHA384", 0, MSG, MSG_LEN, sig, n));
	uint8_t *sig2 = hsm_sign(id, "RSA-PKCS1-SHA256", "message", MSG, MSG_LEN, NULL, &n2);
	ck_assert_msg(n2 == n && memcmp(sig, sig2, n) == 0, "PKCS #1 v1.5 signatures of one message differ");
	free(sig2);
	free(sig);
	EVP_PKEY_free(pk);
}
END_TEST

/* ECDSA on curve with alg: the DER signature verifies in OpenSSL, and so does the raw r ‖ s
 * (of 2·field bytes) once OpenSSL encodes it as DER; /verify takes the raw one back. */
static void check_ecdsa(const char *curve, const char *group, const char *alg, size_t field)
{
	char id[KM_ID_LEN], got_group[64];
	km_key_id("ecdsa", json_pack("{s:s, s:s}", "type", "EC", "curve", curve), id, NULL);
	EVP_PKEY *pk = ci_public_key(id);
	ck_assert_int_eq(EVP_PKEY_get_base_id(pk), EVP_PKEY_EC);
	ck_assert(EVP_PKEY_get_group_name(pk, got_group, sizeof got_group, NULL) == 1);
	ck_assert_str_eq(got_group, group);
	size_t n;
	uint8_t *der = hsm_sign(id, alg, "message", MSG, MSG_LEN, NULL, &n);
	ck_assert_msg(is_one_der_sig(der, n), "%s default signature is not one DER ECDSA-Sig-Value", alg);
	ck_assert_msg(ossl_verify(pk, alg, 0, MSG, MSG_LEN, der, n), "%s DER signature does not verify in OpenSSL",
		      alg);
	ck_assert(!ossl_verify(pk, alg, 0, OTHER, OTHER_LEN, der, n));
	free(der);
	der = hsm_sign(id, alg, "message", MSG, MSG_LEN, "der", &n);
	ck_assert(ossl_verify(pk, alg, 0, MSG, MSG_LEN, der, n));
	free(der);
	size_t rn, dn;
	uint8_t *raw = hsm_sign(id, alg, "message", MSG, MSG_LEN, "raw", &rn);
	ck_assert_uint_eq(rn, 2 * field);
	der = raw_to_der(raw, rn, &dn);
	ck_assert_msg(ossl_verify(pk, alg, 0, MSG, MSG_LEN, der, dn), "%s raw signature does not verify in OpenSSL",
		      alg);
	expect_valid(id, alg, MSG, MSG_LEN, raw, rn, "raw", true);
	expect_valid(id, alg, MSG, MSG_LEN, der, dn, NULL, true);
	OPENSSL_free(der);
	free(raw);
	EVP_PKEY_free(pk);
}

START_TEST(test_ecdsa_sha256_on_p256_der_and_raw_signatures_verify_in_openssl)
{
	check_ecdsa("P-256", "prime256v1", "ECDSA-SHA256", 32);
}
END_TEST

START_TEST(test_ecdsa_sha384_on_p384_der_and_raw_signatures_verify_in_openssl)
{
	check_ecdsa("P-384", "secp384r1", "ECDSA-SHA384", 48);
}
END_TEST

START_TEST(test_eddsa_signature_verifies_in_openssl_as_pure_ed25519_and_is_deterministic)
{
	char id[KM_ID_LEN];
	km_key_id("eddsa", json_pack("{s:s}", "type", "ED25519"), id, NULL);
	EVP_PKEY *pk = ci_public_key(id);
	ck_assert_int_eq(EVP_PKEY_get_base_id(pk), EVP_PKEY_ED25519);
	size_t n, n2;
	uint8_t *sig = hsm_sign(id, "EDDSA", "message", MSG, MSG_LEN, NULL, &n);
	ck_assert_uint_eq(n, 64);
	ck_assert_msg(ossl_verify(pk, "EDDSA", 0, MSG, MSG_LEN, sig, n), "EDDSA signature does not verify in OpenSSL");
	ck_assert(!ossl_verify(pk, "EDDSA", 0, OTHER, OTHER_LEN, sig, n));
	uint8_t *sig2 = hsm_sign(id, "EDDSA", "message", MSG, MSG_LEN, NULL, &n2);
	ck_assert_msg(n2 == n && memcmp(sig, sig2, n) == 0, "Ed25519 signatures of one message differ");
	free(sig2);
	free(sig);
	EVP_PKEY_free(pk);
}
END_TEST

START_TEST(test_signatures_over_a_precomputed_digest_verify_in_openssl_over_the_message)
{
	char rsa[KM_ID_LEN], ec[KM_ID_LEN];
	km_key_id("dgstrsa", rsa_sign_spec(), rsa, NULL);
	km_key_id("dgstec", json_pack("{s:s, s:s}", "type", "EC", "curve", "P-256"), ec, NULL);
	uint8_t d[32];
	ck_assert(EVP_Digest(MSG, MSG_LEN, d, NULL, EVP_sha256(), NULL) == 1);
	EVP_PKEY *rpk = ci_public_key(rsa), *epk = ci_public_key(ec);
	size_t n, n2;
	uint8_t *sig = hsm_sign(rsa, "RSA-PSS-SHA256", "digest", d, sizeof d, NULL, &n);
	ck_assert_msg(ossl_verify(rpk, "RSA-PSS-SHA256", 32, MSG, MSG_LEN, sig, n),
		      "RSA-PSS-SHA256 signature of the digest does not verify over the message in OpenSSL");
	expect_valid(rsa, "RSA-PSS-SHA256", MSG, MSG_LEN, sig, n, NULL, true);
	free(sig);
	/* PKCS #1 v1.5 is deterministic: the digest's signature is the message's, byte for byte. */
	sig = hsm_sign(rsa, "RSA-PKCS1-SHA256", "digest", d, sizeof d, NULL, &n);
	uint8_t *sig2 = hsm_sign(rsa, "RSA-PKCS1-SHA256", "message", MSG, MSG_LEN, NULL, &n2);
	ck_assert(ossl_verify(rpk, "RSA-PKCS1-SHA256", 0, MSG, MSG_LEN, sig, n));
	ck_assert_msg(n == n2 && memcmp(sig, sig2, n) == 0,
		      "PKCS #1 signature of the digest differs from the message's");
	free(sig2);
	free(sig);
	sig = hsm_sign(ec, "ECDSA-SHA256", "digest", d, sizeof d, NULL, &n);
	ck_assert_msg(ossl_verify(epk, "ECDSA-SHA256", 0, MSG, MSG_LEN, sig, n),
		      "ECDSA-SHA256 signature of the digest does not verify over the message in OpenSSL");
	expect_valid(ec, "ECDSA-SHA256", MSG, MSG_LEN, sig, n, NULL, true);
	/* And /verify takes the digest as well. */
	struct h_resp *r = hsm_verify(ec, "ECDSA-SHA256", "digest", d, sizeof d, sig, n, NULL);
	h_assert_status(r, 200);
	ck_assert(json_is_true(json_object_get(r->json, "valid")));
	h_resp_free(r);
	free(sig);
	EVP_PKEY_free(rpk);
	EVP_PKEY_free(epk);
}
END_TEST

/* ---- /verify ---- */

/* /verify says valid for the signature, invalid with one bit flipped (at byte flip_at) and
 * for another message. */
static void check_verify(const char *key, const char *alg, const char *fmt, size_t flip_at_from_end)
{
	size_t n;
	uint8_t *sig = hsm_sign(key, alg, "message", MSG, MSG_LEN, fmt, &n);
	expect_valid(key, alg, MSG, MSG_LEN, sig, n, fmt, true);
	expect_valid(key, alg, OTHER, OTHER_LEN, sig, n, fmt, false);
	sig[n - 1 - flip_at_from_end] ^= 0x01;
	expect_valid(key, alg, MSG, MSG_LEN, sig, n, fmt, false);
	free(sig);
}

START_TEST(test_verify_is_valid_for_the_signature_and_invalid_for_a_flipped_bit_or_another_message)
{
	char rsa[KM_ID_LEN], ec[KM_ID_LEN], ed[KM_ID_LEN];
	km_key_id("vrsa", rsa_sign_spec(), rsa, NULL);
	km_key_id("vec", json_pack("{s:s, s:s}", "type", "EC", "curve", "P-384"), ec, NULL);
	km_key_id("ved", json_pack("{s:s}", "type", "ED25519"), ed, NULL);
	check_verify(rsa, "RSA-PSS-SHA256", NULL, 100);
	check_verify(rsa, "RSA-PSS-SHA384", NULL, 100);
	check_verify(rsa, "RSA-PKCS1-SHA256", NULL, 100);
	check_verify(ec, "ECDSA-SHA384", NULL, 0); /* the last byte of s: still DER */
	check_verify(ec, "ECDSA-SHA384", "raw", 60);
	check_verify(ed, "EDDSA", NULL, 40);
	/* A signature made with another algorithm over the same message does not verify. */
	size_t n;
	uint8_t *sig = hsm_sign(rsa, "RSA-PSS-SHA256", "message", MSG, MSG_LEN, NULL, &n);
	expect_valid(rsa, "RSA-PSS-SHA384", MSG, MSG_LEN, sig, n, NULL, false);
	expect_valid(rsa, "RSA-PKCS1-SHA256", MSG, MSG_LEN, sig, n, NULL, false);
	free(sig);
}
END_TEST

START_TEST(test_verify_of_an_rsa_signature_of_the_wrong_length_or_a_non_der_ecdsa_blob_is_400)
{
	char rsa[KM_ID_LEN], ec[KM_ID_LEN], ed[KM_ID_LEN];
	km_key_id("lrsa", rsa_sign_spec(), rsa, NULL);
	km_key_id("lec", json_pack("{s:s, s:s}", "type", "EC", "curve", "P-256"), ec, NULL);
	km_key_id("led", json_pack("{s:s}", "type", "ED25519"), ed, NULL);
	size_t n;
	uint8_t *sig = hsm_sign(rsa, "RSA-PSS-SHA256", "message", MSG, MSG_LEN, NULL, &n);
	uint8_t longer[257];
	memcpy(longer, sig, 256);
	longer[256] = 0;
	ci_expect_400(hsm_verify(rsa, "RSA-PSS-SHA256", "message", MSG, MSG_LEN, sig, n - 1, NULL), "RSA 255 bytes");
	ci_expect_400(hsm_verify(rsa, "RSA-PSS-SHA256", "message", MSG, MSG_LEN, longer, 257, NULL), "RSA 257 bytes");
	ci_expect_400(hsm_verify(rsa, "RSA-PSS-SHA256", "message", MSG, MSG_LEN, sig, 128, NULL), "RSA 128 bytes");
	free(sig);
	/* ECDSA: not DER at all, DER with a byte after it, raw r ‖ s sent as DER, a raw one of the
	 * wrong length, and a DER value whose r and s do not fit P-256. */
	uint8_t junk[64];
	memset(junk, 0x41, sizeof junk);
	ci_expect_400(hsm_verify(ec, "ECDSA-SHA256", "message", MSG, MSG_LEN, junk, sizeof junk, NULL), "not DER");
	sig = hsm_sign(ec, "ECDSA-SHA256", "message", MSG, MSG_LEN, NULL, &n);
	uint8_t trailing[80];
	memcpy(trailing, sig, n);
	trailing[n] = 0x00;
	ci_expect_400(hsm_verify(ec, "ECDSA-SHA256", "message", MSG, MSG_LEN, trailing, n + 1, NULL), "DER + 1 byte");
	ci_expect_400(hsm_verify(ec, "ECDSA-SHA256", "message", MSG, MSG_LEN, sig, n - 1, NULL), "DER - 1 byte");
	free(sig);
	size_t rn, dn;
	uint8_t *raw = hsm_sign(ec, "ECDSA-SHA256", "message", MSG, MSG_LEN, "raw", &rn);
	ci_expect_400(hsm_verify(ec, "ECDSA-SHA256", "message", MSG, MSG_LEN, raw, rn, "der"), "raw as DER");
	ci_expect_400(hsm_verify(ec, "ECDSA-SHA256", "message", MSG, MSG_LEN, raw, rn - 1, "raw"), "raw of 63");
	uint8_t big[96];
	memset(big, 0xff, sizeof big);
	uint8_t *der = raw_to_der(big, sizeof big, &dn); /* r and s of 48 bytes */
	ci_expect_400(hsm_verify(ec, "ECDSA-SHA256", "message", MSG, MSG_LEN, der, dn, NULL), "P-384-sized DER");
	OPENSSL_free(der);
	free(raw);
	/* Ed25519 signatures are 64 bytes. */
	sig = hsm_sign(ed, "EDDSA", "message", MSG, MSG_LEN, NULL, &n);
	ci_expect_400(hsm_verify(ed, "EDDSA", "message", MSG, MSG_LEN, sig, n - 1, NULL), "Ed25519 63 bytes");
	free(sig);
}
END_TEST

/* ---- RSA-OAEP-SHA256 ---- */

START_TEST(test_rsa_oaep_sha256_ciphertext_made_by_openssl_with_the_public_key_decrypts_through_hsmgw)
{
	char id[KM_ID_LEN];
	km_key_id("oaep", json_pack("{s:s, s:i}", "type", "RSA", "size", 2048), id, NULL);
	EVP_PKEY *pk = ci_public_key(id);
	static const size_t lens[] = {1, 32, 190}; /* 190: the most RSA-2048 takes */
	for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
		uint8_t pt[190], ct[512];
		size_t cl;
		ck_assert(RAND_bytes(pt, (int)lens[i]) == 1);
		oaep_encrypt(pk, EVP_sha256(), pt, lens[i], ct, &cl);
		ck_assert_uint_eq(cl, 256);
		char *env = ci_envelope(1, ct, cl);
		struct h_resp *r = km_decrypt(id, env);
		h_assert_status(r, 200);
		ck_assert_str_eq(h_str(r, "algorithm"), "RSA-OAEP-SHA256");
		size_t n;
		uint8_t *got = ci_bytes(r, "plaintext", &n);
		ck_assert_msg(n == lens[i] && memcmp(got, pt, n) == 0, "OpenSSL's %zu bytes decrypt to %zu others",
			      lens[i], n);
		free(got);
		h_resp_free(r);
		free(env);
	}
	/* With SHA-1 in OAEP, or one bit altered, it does not decrypt: the same 400. */
	uint8_t pt[16], ct[512];
	size_t cl;
	memset(pt, 0x5a, sizeof pt);
	oaep_encrypt(pk, EVP_sha1(), pt, sizeof pt, ct, &cl);
	char *env = ci_envelope(1, ct, cl);
	ci_expect_400(km_decrypt(id, env), "OAEP-SHA1 ciphertext");
	free(env);
	oaep_encrypt(pk, EVP_sha256(), pt, sizeof pt, ct, &cl);
	ct[cl / 2] ^= 0x01;
	env = ci_envelope(1, ct, cl);
	ci_expect_400(km_decrypt(id, env), "altered OAEP ciphertext");
	free(env);
	EVP_PKEY_free(pk);
}
END_TEST

START_TEST(test_rsa_oaep_sha256_ciphertext_of_hsmgw_is_modulus_long_and_decrypts_through_hsmgw)
{
	char id[KM_ID_LEN];
	km_key_id("oaep", json_pack("{s:s, s:i}", "type", "RSA", "size", 2048), id, NULL);
	static const char pt64[] = "aHNtZ3cncyBvd24gUlNBIGVuY3J5cHRpb24=";
	struct h_resp *a = ci_post(id, "encrypt", json_pack("{s:s}", "plaintext", pt64)),
		      *b = ci_post(id, "encrypt", json_pack("{s:s}", "plaintext", pt64));
	h_assert_status(a, 200);
	h_assert_status(b, 200);
	ck_assert_str_eq(h_str(a, "algorithm"), "RSA-OAEP-SHA256");
	ck_assert_str_ne(h_str(a, "ciphertext"), h_str(b, "ciphertext")); /* OAEP is randomized */
	size_t n;
	free(ci_envelope_data(h_str(a, "ciphertext"), 1, &n));
	ck_assert_uint_eq(n, 256);
	for (int i = 0; i < 2; i++) {
		struct h_resp *d = km_decrypt(id, h_str(i ? b : a, "ciphertext"));
		h_assert_status(d, 200);
		ck_assert_str_eq(h_str(d, "plaintext"), pt64);
		h_resp_free(d);
	}
	/* 191 bytes are one too many for RSA-2048 with SHA-256. */
	uint8_t big[191] = {0};
	char *big64 = h_b64(big, sizeof big);
	ci_expect_400(ci_post(id, "encrypt", json_pack("{s:s}", "plaintext", big64)), "191 bytes");
	free(big64);
	h_resp_free(a);
	h_resp_free(b);
}
END_TEST

/* SoftHSM has no SHA-256 OAEP: the gateway has the HSM do raw RSA, which cannot take a value
 * of another length than the modulus's, or not below the modulus. Still the client's error. */
START_TEST(test_rsa_oaep_sha256_ciphertext_of_the_wrong_length_or_not_below_the_modulus_is_400)
{
	char id[KM_ID_LEN];
	km_key_id("oaeplen", json_pack("{s:s, s:i}", "type", "RSA", "size", 2048), id, NULL);
	uint8_t ct[512];
	static const struct {
		size_t len;
		uint8_t fill;
	} cases[] = {{255, 0x01}, {257, 0x01}, {128, 0x01}, {512, 0x01}, {256, 0xff}, {256, 0x00}};
	char wrong[512] = ""; /* every case that is not 400, to name them all */
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		memset(ct, cases[i].fill, cases[i].len);
		char *env = ci_envelope(1, ct, cases[i].len);
		struct h_resp *r = km_decrypt(id, env);
		if (r->status == 400)
			h_assert_problem(r, 400, "invalid_request");
		else
			snprintf(wrong + strlen(wrong), sizeof wrong - strlen(wrong), " %zu bytes of %02x: %ld %s;",
				 cases[i].len, cases[i].fill, r->status, h_str(r, "code") ? h_str(r, "code") : "");
		h_resp_free(r);
		free(env);
	}
	ck_assert_msg(!wrong[0], "RSA-OAEP-SHA256 ciphertexts that cannot be right, expected 400:%s", wrong);
}
END_TEST

/* ---- sign inputs that do not fit ---- */

START_TEST(test_sign_with_an_empty_message_or_both_or_neither_of_message_and_digest_is_400)
{
	char id[KM_ID_LEN];
	km_key_id("empty", json_pack("{s:s, s:s}", "type", "EC", "curve", "P-256"), id, NULL);
	ci_expect_400(ci_post(id, "sign", json_pack("{s:s, s:s}", "message", "", "algorithm", "ECDSA-SHA256")),
		      "empty message");
	ci_expect_400(ci_post(id, "sign", json_pack("{s:s}", "algorithm", "ECDSA-SHA256")), "neither");
	ci_expect_400(ci_post(id, "sign",
			      json_pack("{s:s, s:s, s:s}", "message", "aGk=", "digest",
					"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "algorithm", "ECDSA-SHA256")),
		      "both");
	ci_expect_400(ci_post(id, "verify",
			      json_pack("{s:s, s:s, s:s}", "message", "", "signature", "MAYCAQECAQE=", "algorithm",
					"ECDSA-SHA256")),
		      "verify of an empty message");
}
END_TEST

/* sign and verify of key with algorithm alg (NULL: the default) over a digest of n bytes: 400
 * invalid_request whose detail speaks of the digest. */
static void expect_digest_400(const char *key, const char *alg, size_t n, size_t sig_len, const char *fmt)
{
	uint8_t d[64] = {0}, sig[256] = {0}; /* a signature of the right length: only the digest is wrong */
	char *d64 = h_b64(d, n), what[80];
	snprintf(what, sizeof what, "%s with a digest of %zu bytes", alg ? alg : "the default algorithm", n);
	json_t *b = json_pack("{s:s}", "digest", d64);
	if (alg)
		json_object_set_new(b, "algorithm", json_string(alg));
	struct h_resp *r = ci_post(key, "sign", b);
	ck_assert_msg(r->status == 400, "sign %s: %ld %.300s", what, r->status, r->body);
	h_assert_detail_has(r, "digest");
	ci_expect_400(r, what);
	r = hsm_verify(key, alg ? alg : "EDDSA", "digest", d, n, sig, sig_len, fmt);
	ck_assert_msg(r->status == 400, "verify %s: %ld %.300s", what, r->status, r->body);
	h_assert_detail_has(r, "digest");
	ci_expect_400(r, what);
	free(d64);
}

START_TEST(test_sign_and_verify_with_a_digest_of_the_wrong_length_are_400)
{
	char rsa[KM_ID_LEN], ec[KM_ID_LEN];
	km_key_id("dlrsa", rsa_sign_spec(), rsa, NULL);
	km_key_id("dlec", json_pack("{s:s, s:s}", "type", "EC", "curve", "P-384"), ec, NULL);
	static const struct {
		bool rsa;
		const char *alg;
		size_t len;
	} cases[] = {{true, "RSA-PSS-SHA256", 31}, {true, "RSA-PSS-SHA256", 33},   {true, "RSA-PSS-SHA256", 48},
		     {true, "RSA-PSS-SHA384", 32}, {true, "RSA-PKCS1-SHA256", 64}, {true, "RSA-PKCS1-SHA256", 0},
		     {false, "ECDSA-SHA384", 32},  {false, "ECDSA-SHA384", 47},    {false, "ECDSA-SHA256", 48}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		expect_digest_400(cases[i].rsa ? rsa : ec, cases[i].alg, cases[i].len, cases[i].rsa ? 256 : 96, "raw");
}
END_TEST

START_TEST(test_eddsa_with_a_digest_is_400)
{
	char id[KM_ID_LEN];
	km_key_id("eddig", json_pack("{s:s}", "type", "ED25519"), id, NULL);
	expect_digest_400(id, "EDDSA", 32, 64, NULL);
	expect_digest_400(id, "EDDSA", 64, 64, NULL);
	expect_digest_400(id, NULL, 32, 64, NULL);
}
END_TEST

START_TEST(test_eddsa_with_an_empty_digest_is_400_naming_the_digest)
{
	char id[KM_ID_LEN];
	km_key_id("eddig0", json_pack("{s:s}", "type", "ED25519"), id, NULL);
	expect_digest_400(id, "EDDSA", 0, 64, NULL);
}
END_TEST

START_TEST(test_an_algorithm_that_does_not_fit_the_key_is_400)
{
	char rsa[KM_ID_LEN], ec[KM_ID_LEN], ed[KM_ID_LEN], rsa_enc[KM_ID_LEN];
	km_key_id("fitrsa", rsa_sign_spec(), rsa, NULL);
	km_key_id("fitec", json_pack("{s:s, s:s}", "type", "EC", "curve", "P-256"), ec, NULL);
	km_key_id("fited", json_pack("{s:s}", "type", "ED25519"), ed, NULL);
	km_key_id("fitenc", json_pack("{s:s, s:i}", "type", "RSA", "size", 2048), rsa_enc, NULL);
	static const char m64[] = "bWVzc2FnZQ==";
	const char *const sign_cases[][2] = {{rsa, "ECDSA-SHA256"}, {rsa, "EDDSA"},       {ec, "RSA-PSS-SHA256"},
					     {ec, "EDDSA"},         {ed, "ECDSA-SHA256"}, {ed, "RSA-PKCS1-SHA256"},
					     {rsa, "HMAC-SHA256"},  {ec, "AES-CMAC"}};
	for (size_t i = 0; i < sizeof sign_cases / sizeof *sign_cases; i++) {
		char what[96];
		snprintf(what, sizeof what, "sign with %s on key %zu", sign_cases[i][1], i);
		ci_expect_400(ci_post(sign_cases[i][0], "sign",
				      json_pack("{s:s, s:s}", "message", m64, "algorithm", sign_cases[i][1])),
			      what);
	}
	/* Verify the same way, with a signature the key could have made. */
	size_t n;
	uint8_t *sig = hsm_sign(rsa, "RSA-PSS-SHA256", "message", MSG, MSG_LEN, NULL, &n);
	ci_expect_400(hsm_verify(rsa, "ECDSA-SHA256", "message", MSG, MSG_LEN, sig, n, NULL), "verify ECDSA on RSA");
	free(sig);
	/* And encryption: an AES algorithm on an RSA key. */
	ci_expect_400(ci_post(rsa_enc, "encrypt", json_pack("{s:s, s:s}", "plaintext", m64, "algorithm", "AES-GCM")),
		      "AES-GCM on RSA");
	ci_expect_400(
	    ci_post(rsa_enc, "encrypt", json_pack("{s:s, s:s}", "plaintext", m64, "algorithm", "AES-CBC-PAD")),
	    "AES-CBC-PAD on RSA");
}
END_TEST

TCase *tcase_crypto_interop(void)
{
	TCase *tc = tcase_create("crypto_interop");
	tcase_add_test(
	    tc, test_rsa_pss_sha256_and_sha384_signatures_verify_in_openssl_with_mgf1_and_a_salt_of_the_digest_length);
	tcase_add_test(tc, test_rsa_pkcs1_sha256_signature_verifies_in_openssl_and_is_deterministic);
	tcase_add_test(tc, test_ecdsa_sha256_on_p256_der_and_raw_signatures_verify_in_openssl);
	tcase_add_test(tc, test_ecdsa_sha384_on_p384_der_and_raw_signatures_verify_in_openssl);
	tcase_add_test(tc, test_eddsa_signature_verifies_in_openssl_as_pure_ed25519_and_is_deterministic);
	tcase_add_test(tc, test_signatures_over_a_precomputed_digest_verify_in_openssl_over_the_message);
	tcase_add_test(tc, test_verify_is_valid_for_the_signature_and_invalid_for_a_flipped_bit_or_another_message);
	tcase_add_test(tc, test_verify_of_an_rsa_signature_of_the_wrong_length_or_a_non_der_ecdsa_blob_is_400);
	tcase_add_test(tc, test_rsa_oaep_sha256_ciphertext_made_by_openssl_with_the_public_key_decrypts_through_hsmgw);
	tcase_add_test(tc, test_rsa_oaep_sha256_ciphertext_of_hsmgw_is_modulus_long_and_decrypts_through_hsmgw);
	tcase_add_test(tc, test_rsa_oaep_sha256_ciphertext_of_the_wrong_length_or_not_below_the_modulus_is_400);
	tcase_add_test(tc, test_sign_with_an_empty_message_or_both_or_neither_of_message_and_digest_is_400);
	tcase_add_test(tc, test_sign_and_verify_with_a_digest_of_the_wrong_length_are_400);
	tcase_add_test(tc, test_eddsa_with_a_digest_is_400);
	tcase_add_test(tc, test_eddsa_with_an_empty_digest_is_400_naming_the_digest);
	tcase_add_test(tc, test_an_algorithm_that_does_not_fit_the_key_is_400);
	return tc;
}
