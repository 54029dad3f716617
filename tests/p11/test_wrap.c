/* p11_wrap and p11_unwrap: interop with OpenSSL (RFC 5649 AES-KWP, RSA-OAEP, PKCS#8), KCV
 * known answers, and refusals. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "p11t.h"

/* NIST SP 800-38B's AES-256 example key; KCV = AES-CMAC(K, 0^128)[0..3), from `openssl mac`. */
static const uint8_t known_aes[32] = {0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
				      0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
				      0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4};
#define KNOWN_AES_KCV "1A0B2D"
/* The classic TDES test key (odd parity); KCV = TDES-ECB(K, 0^64)[0..3), from `openssl enc`.
 * Its first 16 bytes are the 2-key variant. */
static const uint8_t known_tdes[24] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98,
				       0x76, 0x54, 0x32, 0x10, 0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67};
#define KNOWN_TDES3_KCV "3FD539"
#define KNOWN_TDES2_KCV "08D7B4"

static struct hg_p11_keyspec spec_of(enum hg_p11_type type, unsigned bits, unsigned usage, bool exportable)
{
	struct hg_p11_keyspec s = {.type = type, .usage = usage, .exportable = exportable};
	if (type == HG_KT_EC)
		s.curve_bits = bits;
	else
		s.bits = bits;
	return s;
}

static void assert_nothing_at(const hg_uuid *id)
{
	ck_assert(!p11t_attrs(id, true).found);
	ck_assert(!p11t_attrs(id, false).found);
}

/* Encrypts `key` for the token's RSA key rsa_id with OAEP (md) and unwraps it as spec. */
static hg_err import_with_oaep(const hg_uuid *rsa_id, enum hg_wrap_alg alg, const uint8_t *key, size_t n,
			       const hg_uuid *id, const struct hg_p11_keyspec *spec, char kcv[HG_KCV_HEX_LEN + 1])
{
	EVP_PKEY *pub = p11t_public_key(rsa_id, HG_KT_RSA);
	size_t wn;
	uint8_t *w = ossl_oaep_encrypt(pub, alg == HG_WRAP_RSA_OAEP_SHA256 ? "SHA256" : "SHA1", key, n, &wn);
	hg_err e = p11_unwrap(P, rsa_id, alg, w, wn, id, spec, kcv);
	free(w);
	EVP_PKEY_free(pub);
	return e;
}

/* Checks that the token's GCM output under id decrypts in OpenSSL under the known bytes. */
static void assert_gcm_interop(const hg_uuid *id, const uint8_t key[32])
{
	uint8_t ct[HG_GCM_IV_LEN + 7 + HG_GCM_TAG_LEN], pt[7];
	ck_assert_int_eq(p11_aes_gcm_encrypt(P, id, (const uint8_t *)"aad", 3, (const uint8_t *)"payload", 7, ct),
			 HG_OK);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0;
	ck_assert(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1);
	ck_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, HG_GCM_IV_LEN, NULL) == 1);
	ck_assert(EVP_DecryptInit_ex(c, NULL, NULL, key, ct) == 1);
	ck_assert(EVP_DecryptUpdate(c, NULL, &l, (const uint8_t *)"aad", 3) == 1);
	ck_assert(EVP_DecryptUpdate(c, pt, &l, ct + HG_GCM_IV_LEN, 7) == 1);
	ck_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, HG_GCM_TAG_LEN, ct + HG_GCM_IV_LEN + 7) == 1);
	ck_assert(EVP_DecryptFinal_ex(c, pt + l, &l) == 1);
	ck_assert_mem_eq(pt, "payload", 7);
	EVP_CIPHER_CTX_free(c);
}

START_TEST(test_token_implements_aes_kwp_and_rsa_oaep_sha1)
{
	ck_assert(p11_wrap_alg_supported(P, HG_WRAP_AES_KWP));
	ck_assert(p11_wrap_alg_supported(P, HG_WRAP_RSA_OAEP_SHA1));
	ck_assert(!p11_wrap_alg_supported(P, (enum hg_wrap_alg)7));
}
END_TEST

START_TEST(test_known_aes256_key_imported_with_rsa_oaep_has_the_openssl_cmac_kcv_and_interoperates)
{
	hg_uuid rsa = p11t_id(), id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1], want[HG_KCV_HEX_LEN + 1];
	p11t_generate(&rsa, HG_KT_RSA, 2048, HG_P11_WRAP | HG_P11_UNWRAP, false, kcv);
	struct hg_p11_keyspec spec = spec_of(HG_KT_AES, 256, HG_P11_ENCRYPT | HG_P11_DECRYPT, false);
	ck_assert_int_eq(import_with_oaep(&rsa, HG_WRAP_RSA_OAEP_SHA1, known_aes, 32, &id, &spec, kcv), HG_OK);
	ossl_kcv_aes(known_aes, 32, want);
	ck_assert_str_eq(want, KNOWN_AES_KCV);
	ck_assert_str_eq(kcv, KNOWN_AES_KCV);
	struct hg_p11_attrs a = p11t_attrs(&id, true);
	ck_assert(a.found && a.token && a.private_ && a.sensitive && !a.extractable);
	ck_assert(a.encrypt && a.decrypt && !a.sign && !a.verify && !a.wrap && !a.unwrap && !a.derive);
	ck_assert(a.value_len == 32 || a.value_len == 0); /* 0: SoftHSM 2.6.1 keeps none for unwrapped keys */
	assert_gcm_interop(&id, known_aes);
	p11t_destroy(&id);
	p11t_destroy(&rsa);
}
END_TEST

START_TEST(test_known_tdes_keys_imported_with_rsa_oaep_have_the_openssl_tdes_ecb_kcv)
{
	hg_uuid rsa = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1], want[HG_KCV_HEX_LEN + 1];
	p11t_generate(&rsa, HG_KT_RSA, 2048, HG_P11_WRAP | HG_P11_UNWRAP, false, kcv);
	static const struct {
		unsigned bits;
		const char *kcv;
	} cases[] = {{192, KNOWN_TDES3_KCV}, {128, KNOWN_TDES2_KCV}};
	for (size_t i = 0; i < 2; i++) {
		hg_uuid id = p11t_id();
		size_t n = cases[i].bits / 8;
		/* decrypt only: the encrypt granted for the KCV must be gone afterwards */
		struct hg_p11_keyspec spec = spec_of(HG_KT_TDES, cases[i].bits, HG_P11_DECRYPT, false);
		ck_assert_int_eq(import_with_oaep(&rsa, HG_WRAP_RSA_OAEP_SHA1, known_tdes, n, &id, &spec, kcv), HG_OK);
		ossl_kcv_tdes(known_tdes, n, want);
		ck_assert_str_eq(want, cases[i].kcv);
		ck_assert_str_eq(kcv, cases[i].kcv);
		struct hg_p11_attrs a = p11t_attrs(&id, true);
		ck_assert(a.sensitive && !a.extractable && a.decrypt && !a.encrypt);
		p11t_destroy(&id);
	}
	p11t_destroy(&rsa);
}
END_TEST

START_TEST(test_rsa_oaep_sha256_imports_the_known_key_where_implemented_and_is_refused_cleanly_elsewhere)
{
	hg_uuid rsa = p11t_id(), id = p11t_id(), aes = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&rsa, HG_KT_RSA, 2048, HG_P11_WRAP | HG_P11_UNWRAP, false, kcv);
	p11t_generate(&aes, HG_KT_AES, 256, HG_P11_ENCRYPT, true, kcv);
	struct hg_p11_keyspec spec = spec_of(HG_KT_AES, 256, HG_P11_ENCRYPT | HG_P11_DECRYPT, false);
	hg_err e = import_with_oaep(&rsa, HG_WRAP_RSA_OAEP_SHA256, known_aes, 32, &id, &spec, kcv);
	uint8_t *w = NULL;
	size_t n = 0;
	hg_err we = p11_wrap(P, &rsa, HG_WRAP_RSA_OAEP_SHA256, &aes, HG_KT_AES, &w, &n);
	if (p11_wrap_alg_supported(P, HG_WRAP_RSA_OAEP_SHA256)) {
		ck_assert_int_eq(e, HG_OK);
		ck_assert_str_eq(kcv, KNOWN_AES_KCV);
		ck_assert_int_eq(we, HG_OK);
		free(w);
	} else { /* SoftHSM: OAEP with SHA-1 only */
		ck_assert_int_eq(e, HG_E_INVALID);
		ck_assert_str_eq(kcv, "");
		ck_assert_int_eq(we, HG_E_INVALID);
		ck_assert_ptr_null(w);
	}
	p11t_destroy(&id);
	p11t_destroy(&aes);
	p11t_destroy(&rsa);
}
END_TEST

START_TEST(test_aes_kwp_wrap_then_unwrap_under_the_same_key_gives_the_same_key)
{
	hg_uuid kek = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1], kcv2[HG_KCV_HEX_LEN + 1];
	p11t_generate(&kek, HG_KT_AES, 256, HG_P11_WRAP | HG_P11_UNWRAP, false, kcv);
	static const struct {
		enum hg_p11_type type;
		unsigned bits;
	} cases[] = {{HG_KT_AES, 256}, {HG_KT_AES, 128}, {HG_KT_TDES, 192}, {HG_KT_TDES, 128}, {HG_KT_HMAC, 384}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		hg_uuid id = p11t_id(), copy = p11t_id();
		unsigned usage = cases[i].type == HG_KT_HMAC ? HG_P11_SIGN | HG_P11_VERIFY : HG_P11_DECRYPT;
		p11t_generate(&id, cases[i].type, cases[i].bits, usage, true, kcv);
		uint8_t *w = NULL;
		size_t n = 0;
		ck_assert_int_eq(p11_wrap(P, &kek, HG_WRAP_AES_KWP, &id, cases[i].type, &w, &n), HG_OK);
		ck_assert_uint_ge(n, cases[i].bits / 8 + 8);
		struct hg_p11_keyspec spec = spec_of(cases[i].type, cases[i].bits, usage, false);
		ck_assert_int_eq(p11_unwrap(P, &kek, HG_WRAP_AES_KWP, w, n, &copy, &spec, kcv2), HG_OK);
		ck_assert_str_eq(kcv2, kcv);
		struct hg_p11_attrs a = p11t_attrs(&copy, true), b = p11t_attrs(&id, true);
		ck_assert(a.sensitive && !a.extractable && b.extractable);
		ck_assert(a.encrypt == b.encrypt && a.decrypt == b.decrypt && a.sign == b.sign && a.verify == b.verify);
		ck_assert(!a.encrypt);
		ck_assert_uint_eq(a.key_type, b.key_type);
		ck_assert(a.value_len == b.value_len || a.value_len == 0); /* see p11.h, value_len */
		free(w);
		p11t_destroy(&id);
		p11t_destroy(&copy);
	}
	p11t_destroy(&kek);
}
END_TEST

START_TEST(test_aes_kwp_matches_openssl_rfc5649_both_ways_and_generated_kcvs_are_right)
{
	struct known_kek kek;
	p11t_known_kek(&kek);
	char kcv[HG_KCV_HEX_LEN + 1], want[HG_KCV_HEX_LEN + 1];
	/* OpenSSL wraps, the token unwraps */
	hg_uuid id = p11t_id();
	size_t n;
	uint8_t *w = ossl_kwp_wrap(kek.key, known_aes, 32, &n);
	struct hg_p11_keyspec spec = spec_of(HG_KT_AES, 256, HG_P11_ENCRYPT | HG_P11_DECRYPT, true);
	ck_assert_int_eq(p11_unwrap(P, &kek.id, HG_WRAP_AES_KWP, w, n, &id, &spec, kcv), HG_OK);
	ck_assert_str_eq(kcv, KNOWN_AES_KCV);
	ck_assert(p11t_attrs(&id, true).extractable);
	free(w);
	p11t_destroy(&id);
	/* the token wraps generated keys, OpenSSL unwraps them: their KCVs are OpenSSL's */
	static const struct {
		enum hg_p11_type type;
		unsigned bits;
	} cases[] = {{HG_KT_AES, 128}, {HG_KT_AES, 192}, {HG_KT_AES, 256}, {HG_KT_TDES, 128}, {HG_KT_TDES, 192}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		id = p11t_id();
		p11t_generate(&id, cases[i].type, cases[i].bits, HG_P11_DECRYPT, true, kcv);
		ck_assert_int_eq(p11_wrap(P, &kek.id, HG_WRAP_AES_KWP, &id, cases[i].type, &w, &n), HG_OK);
		size_t kn = 0;
		uint8_t *key = ossl_kwp_unwrap(kek.key, w, n, &kn);
		ck_assert_ptr_nonnull(key);
		ck_assert_uint_eq(kn, cases[i].bits / 8);
		if (cases[i].type == HG_KT_AES)
			ossl_kcv_aes(key, kn, want);
		else
			ossl_kcv_tdes(key, kn, want);
		ck_assert_str_eq(kcv, want);
		free(key);
		free(w);
		p11t_destroy(&id);
	}
	p11t_known_kek_destroy(&kek);
}
END_TEST

START_TEST(test_known_ec_private_keys_imported_with_aes_kwp_get_their_own_public_key)
{
	struct known_kek kek;
	p11t_known_kek(&kek);
	static const struct {
		unsigned bits;
		const char *group;
		unsigned usage;
	} cases[] = {
	    {256, "P-256", HG_P11_SIGN | HG_P11_VERIFY},
	    {384, "P-384", HG_P11_VERIFY | HG_P11_DERIVE}, /* the recovery's sign is taken back */
	    {521, "P-521", HG_P11_SIGN},
	};
	for (size_t i = 0; i < 3; i++) {
		EVP_PKEY *k = ossl_keygen("EC", cases[i].group, 0);
		size_t p8n, wn, want_n, got_n;
		uint8_t *p8 = ossl_pkcs8(k, &p8n), *w = ossl_kwp_wrap(kek.key, p8, p8n, &wn);
		uint8_t *want = ossl_spki(k, &want_n), *got = NULL;
		hg_uuid id = p11t_id();
		char kcv[HG_KCV_HEX_LEN + 1] = "XXXXXX";
		struct hg_p11_keyspec spec = spec_of(HG_KT_EC, cases[i].bits, cases[i].usage, false);
		ck_assert_int_eq(p11_unwrap(P, &kek.id, HG_WRAP_AES_KWP, w, wn, &id, &spec, kcv), HG_OK);
		ck_assert_str_eq(kcv, "");
		ck_assert_int_eq(p11_public_key_der(P, &id, HG_KT_EC, &got, &got_n), HG_OK);
		ck_assert_uint_eq(got_n, want_n);
		ck_assert_mem_eq(got, want, want_n);
		struct hg_p11_attrs priv = p11t_attrs(&id, true), pub = p11t_attrs(&id, false);
		ck_assert(priv.sensitive && !priv.extractable && priv.private_ && pub.private_ && pub.token);
		ck_assert_int_eq(priv.sign, !!(cases[i].usage & HG_P11_SIGN));
		ck_assert_int_eq(priv.derive, !!(cases[i].usage & HG_P11_DERIVE));
		ck_assert_int_eq(pub.verify, !!(cases[i].usage & HG_P11_VERIFY));
		ck_assert(!priv.decrypt && !priv.unwrap && !pub.encrypt && !pub.wrap);
		free(got);
		free(want);
		free(w);
		OPENSSL_clear_free(p8, p8n);
		EVP_PKEY_free(k);
		p11t_destroy(&id);
	}
	p11t_known_kek_destroy(&kek);
}
END_TEST

START_TEST(test_known_rsa_private_key_imported_with_aes_kwp_gets_its_public_key_which_wraps_for_openssl)
{
	struct known_kek kek;
	p11t_known_kek(&kek);
	EVP_PKEY *k = ossl_keygen("RSA", NULL, 2048);
	size_t p8n, wn, want_n, got_n;
	uint8_t *p8 = ossl_pkcs8(k, &p8n), *w = ossl_kwp_wrap(kek.key, p8, p8n, &wn);
	uint8_t *want = ossl_spki(k, &want_n), *got = NULL;
	hg_uuid id = p11t_id(), aes = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1], want_kcv[HG_KCV_HEX_LEN + 1];
	struct hg_p11_keyspec spec = spec_of(HG_KT_RSA, 2048, HG_P11_WRAP | HG_P11_UNWRAP, false);
	ck_assert_int_eq(p11_unwrap(P, &kek.id, HG_WRAP_AES_KWP, w, wn, &id, &spec, kcv), HG_OK);
	ck_assert_int_eq(p11_public_key_der(P, &id, HG_KT_RSA, &got, &got_n), HG_OK);
	ck_assert_uint_eq(got_n, want_n);
	ck_assert_mem_eq(got, want, want_n);
	struct hg_p11_attrs priv = p11t_attrs(&id, true), pub = p11t_attrs(&id, false);
	ck_assert(priv.unwrap && !priv.sign && !priv.decrypt && pub.wrap && !pub.verify && !pub.encrypt);
	/* the imported public key wraps a generated key for the holder of the private key */
	p11t_generate(&aes, HG_KT_AES, 256, HG_P11_ENCRYPT, true, kcv);
	uint8_t *ww = NULL;
	size_t wwn = 0, kn = 0;
	ck_assert_int_eq(p11_wrap(P, &id, HG_WRAP_RSA_OAEP_SHA1, &aes, HG_KT_AES, &ww, &wwn), HG_OK);
	uint8_t *key = ossl_oaep_decrypt(k, "SHA1", ww, wwn, &kn);
	ck_assert_uint_eq(kn, 32);
	ossl_kcv_aes(key, kn, want_kcv);
	ck_assert_str_eq(kcv, want_kcv);
	OPENSSL_clear_free(key, kn);
	free(ww);
	free(got);
	free(want);
	free(w);
	OPENSSL_clear_free(p8, p8n);
	EVP_PKEY_free(k);
	p11t_destroy(&aes);
	p11t_destroy(&id);
	p11t_known_kek_destroy(&kek);
}
END_TEST

START_TEST(test_exported_private_key_is_pkcs8_of_the_same_key_and_imports_back)
{
	struct known_kek kek;
	p11t_known_kek(&kek);
	hg_uuid id = p11t_id(), copy = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&id, HG_KT_EC, 256, HG_P11_SIGN | HG_P11_VERIFY, true, kcv);
	uint8_t *w = NULL, *pub = NULL, *pub2 = NULL;
	size_t wn = 0, pub_n = 0, pub2_n = 0, p8n = 0, mine_n = 0;
	ck_assert_int_eq(p11_wrap(P, &kek.id, HG_WRAP_AES_KWP, &id, HG_KT_EC, &w, &wn), HG_OK);
	uint8_t *p8 = ossl_kwp_unwrap(kek.key, w, wn, &p8n);
	ck_assert_ptr_nonnull(p8);
	const uint8_t *q = p8;
	PKCS8_PRIV_KEY_INFO *info = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)p8n);
	ck_assert_ptr_nonnull(info);
	EVP_PKEY *k = EVP_PKCS82PKEY(info);
	ck_assert_ptr_nonnull(k);
	uint8_t *mine = ossl_spki(k, &mine_n);
	ck_assert_int_eq(p11_public_key_der(P, &id, HG_KT_EC, &pub, &pub_n), HG_OK);
	ck_assert_uint_eq(pub_n, mine_n);
	ck_assert_mem_eq(pub, mine, mine_n);
	struct hg_p11_keyspec spec = spec_of(HG_KT_EC, 256, HG_P11_SIGN | HG_P11_VERIFY, false);
	ck_assert_int_eq(p11_unwrap(P, &kek.id, HG_WRAP_AES_KWP, w, wn, &copy, &spec, kcv), HG_OK);
	ck_assert_int_eq(p11_public_key_der(P, &copy, HG_KT_EC, &pub2, &pub2_n), HG_OK);
	ck_assert_uint_eq(pub2_n, pub_n);
	ck_assert_mem_eq(pub2, pub, pub_n);
	free(mine);
	free(pub);
	free(pub2);
	free(w);
	EVP_PKEY_free(k);
	PKCS8_PRIV_KEY_INFO_free(info);
	OPENSSL_clear_free(p8, p8n);
	p11t_destroy(&id);
	p11t_destroy(&copy);
	p11t_known_kek_destroy(&kek);
}
END_TEST

START_TEST(test_wrapping_a_non_exportable_key_is_refused_as_key_usage)
{
	hg_uuid kek = p11t_id(), aes = p11t_id(), ec = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&kek, HG_KT_AES, 256, HG_P11_WRAP | HG_P11_UNWRAP, false, kcv);
	p11t_generate(&aes, HG_KT_AES, 256, HG_P11_ENCRYPT, false, kcv);
	p11t_generate(&ec, HG_KT_EC, 256, HG_P11_SIGN, false, kcv);
	uint8_t *w = NULL;
	size_t n = 0;
	ck_assert_int_eq(p11_wrap(P, &kek, HG_WRAP_AES_KWP, &aes, HG_KT_AES, &w, &n), HG_E_KEY_USAGE);
	ck_assert_int_eq(p11_wrap(P, &kek, HG_WRAP_AES_KWP, &ec, HG_KT_EC, &w, &n), HG_E_KEY_USAGE);
	ck_assert_ptr_null(w);
	ck_assert_uint_eq(n, 0);
	p11t_destroy(&kek);
	p11t_destroy(&aes);
	p11t_destroy(&ec);
}
END_TEST

START_TEST(test_wrapping_and_unwrapping_keys_need_the_wrap_and_unwrap_usage)
{
	hg_uuid kek = p11t_id(), aes = p11t_id(), rsa = p11t_id(), id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&kek, HG_KT_AES, 256, HG_P11_ENCRYPT | HG_P11_DECRYPT, false, kcv);
	p11t_generate(&rsa, HG_KT_RSA, 2048, HG_P11_ENCRYPT | HG_P11_DECRYPT, false, kcv);
	p11t_generate(&aes, HG_KT_AES, 256, HG_P11_ENCRYPT, true, kcv);
	uint8_t *w = NULL;
	size_t n = 0;
	ck_assert_int_eq(p11_wrap(P, &kek, HG_WRAP_AES_KWP, &aes, HG_KT_AES, &w, &n), HG_E_KEY_USAGE);
	ck_assert_int_eq(p11_wrap(P, &rsa, HG_WRAP_RSA_OAEP_SHA1, &aes, HG_KT_AES, &w, &n), HG_E_KEY_USAGE);
	ck_assert_ptr_null(w);
	size_t wn;
	uint8_t *blob = ossl_kwp_wrap(known_aes, known_aes, 32, &wn); /* any well-formed blob */
	struct hg_p11_keyspec spec = spec_of(HG_KT_AES, 256, HG_P11_ENCRYPT, false);
	ck_assert_int_eq(p11_unwrap(P, &kek, HG_WRAP_AES_KWP, blob, wn, &id, &spec, kcv), HG_E_KEY_USAGE);
	ck_assert_int_eq(import_with_oaep(&rsa, HG_WRAP_RSA_OAEP_SHA1, known_aes, 32, &id, &spec, kcv), HG_E_KEY_USAGE);
	assert_nothing_at(&id);
	free(blob);
	p11t_destroy(&kek);
	p11t_destroy(&rsa);
	p11t_destroy(&aes);
}
END_TEST

START_TEST(test_rsa_oaep_wraps_secret_keys_only)
{
	hg_uuid rsa = p11t_id(), ec = p11t_id(), id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&rsa, HG_KT_RSA, 2048, HG_P11_WRAP | HG_P11_UNWRAP, false, kcv);
	p11t_generate(&ec, HG_KT_EC, 256, HG_P11_SIGN, true, kcv);
	uint8_t *w = NULL, blob[256] = {1};
	size_t n = 0;
	ck_assert_int_eq(p11_wrap(P, &rsa, HG_WRAP_RSA_OAEP_SHA1, &ec, HG_KT_EC, &w, &n), HG_E_INVALID);
	ck_assert_ptr_null(w);
	struct hg_p11_keyspec spec = spec_of(HG_KT_EC, 256, HG_P11_SIGN, false);
	ck_assert_int_eq(p11_unwrap(P, &rsa, HG_WRAP_RSA_OAEP_SHA1, blob, sizeof blob, &id, &spec, kcv), HG_E_INVALID);
	assert_nothing_at(&id);
	p11t_destroy(&rsa);
	p11t_destroy(&ec);
}
END_TEST

START_TEST(test_blobs_that_do_not_unwrap_as_declared_are_invalid_and_leave_nothing)
{
	struct known_kek kek;
	p11t_known_kek(&kek);
	hg_uuid other = p11t_id(), id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&other, HG_KT_AES, 256, HG_P11_WRAP | HG_P11_UNWRAP, false, kcv);
	EVP_PKEY *ec = ossl_keygen("EC", "P-256", 0), *rsa = ossl_keygen("RSA", NULL, 2048);
	size_t an, ecn, rsan, p8n;
	uint8_t *aes = ossl_kwp_wrap(kek.key, known_aes, 32, &an);
	uint8_t *p8 = ossl_pkcs8(ec, &p8n), *ecw = ossl_kwp_wrap(kek.key, p8, p8n, &ecn);
	OPENSSL_clear_free(p8, p8n);
	p8 = ossl_pkcs8(rsa, &p8n);
	uint8_t *rsaw = ossl_kwp_wrap(kek.key, p8, p8n, &rsan);
	OPENSSL_clear_free(p8, p8n);
	uint8_t *corrupt = malloc(an);
	memcpy(corrupt, aes, an);
	corrupt[an / 2] ^= 0x01;
	struct hg_p11_keyspec aes256 = spec_of(HG_KT_AES, 256, HG_P11_ENCRYPT, false);
	struct hg_p11_keyspec aes128 = spec_of(HG_KT_AES, 128, HG_P11_ENCRYPT, false);
	struct hg_p11_keyspec tdes = spec_of(HG_KT_TDES, 192, HG_P11_ENCRYPT, false);
	struct hg_p11_keyspec p384 = spec_of(HG_KT_EC, 384, HG_P11_SIGN, false);
	struct hg_p11_keyspec ec256 = spec_of(HG_KT_EC, 256, HG_P11_SIGN, false);
	struct hg_p11_keyspec rsa3072 = spec_of(HG_KT_RSA, 3072, HG_P11_SIGN, false);
	const struct {
		const char *what;
		const hg_uuid *kek;
		const uint8_t *blob;
		size_t n;
		const struct hg_p11_keyspec *spec;
	} cases[] = {
	    {"corrupt", &kek.id, corrupt, an, &aes256},
	    {"wrapped under another key", &other, aes, an, &aes256},
	    {"truncated", &kek.id, aes, an - 8, &aes256},
	    {"empty", &kek.id, aes, 0, &aes256},
	    {"AES-256 declared AES-128", &kek.id, aes, an, &aes128},
	    {"AES-256 declared TDES", &kek.id, aes, an, &tdes},
	    {"P-256 declared P-384", &kek.id, ecw, ecn, &p384},
	    {"RSA declared EC", &kek.id, rsaw, rsan, &ec256},
	    {"RSA-2048 declared RSA-3072", &kek.id, rsaw, rsan, &rsa3072},
	    {"secret key declared EC", &kek.id, aes, an, &ec256},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		strcpy(kcv, "XXXXXX");
		hg_err e =
		    p11_unwrap(P, cases[i].kek, HG_WRAP_AES_KWP, cases[i].blob, cases[i].n, &id, cases[i].spec, kcv);
		ck_assert_msg(e == HG_E_INVALID, "%s: %s", cases[i].what, hg_err_code(e));
		ck_assert_str_eq(kcv, "");
		assert_nothing_at(&id);
	}
	/* RSA-OAEP: a corrupt block */
	size_t on;
	EVP_PKEY *pub = p11t_public_key(&kek.rsa_id, HG_KT_RSA);
	uint8_t *oaep = ossl_oaep_encrypt(pub, "SHA1", known_aes, 32, &on);
	oaep[on - 1] ^= 0x01;
	ck_assert_int_eq(p11_unwrap(P, &kek.rsa_id, HG_WRAP_RSA_OAEP_SHA1, oaep, on, &id, &aes256, kcv), HG_E_INVALID);
	assert_nothing_at(&id);
	/* the session that saw those failures still works */
	ck_assert_int_eq(p11_ping(P), HG_OK);
	free(oaep);
	EVP_PKEY_free(pub);
	free(corrupt);
	free(aes);
	free(ecw);
	free(rsaw);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	p11t_destroy(&other);
	p11t_known_kek_destroy(&kek);
}
END_TEST

START_TEST(test_ed25519_private_keys_cannot_be_imported_and_the_token_refuses_to_wrap_them)
{
	struct known_kek kek;
	p11t_known_kek(&kek);
	EVP_PKEY *k = ossl_keygen("ED25519", NULL, 0);
	size_t p8n, wn;
	uint8_t *p8 = ossl_pkcs8(k, &p8n), *w = ossl_kwp_wrap(kek.key, p8, p8n, &wn);
	hg_uuid id = p11t_id(), ed = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	struct hg_p11_keyspec spec = spec_of(HG_KT_ED25519, 0, HG_P11_SIGN, false);
	ck_assert_int_eq(p11_unwrap(P, &kek.id, HG_WRAP_AES_KWP, w, wn, &id, &spec, kcv), HG_E_INVALID);
	assert_nothing_at(&id);
	p11t_generate(&ed, HG_KT_ED25519, 0, HG_P11_SIGN, true, kcv);
	uint8_t *out = NULL;
	size_t n = 0;
	hg_err e = p11_wrap(P, &kek.id, HG_WRAP_AES_KWP, &ed, HG_KT_ED25519, &out, &n);
	ck_assert_msg(e == HG_E_KEY_USAGE, "SoftHSM 2.6.1 answers CKR_KEY_NOT_WRAPPABLE: %s", hg_err_code(e));
	ck_assert_ptr_null(out);
	free(w);
	OPENSSL_clear_free(p8, p8n);
	EVP_PKEY_free(k);
	p11t_destroy(&ed);
	p11t_known_kek_destroy(&kek);
}
END_TEST

START_TEST(test_missing_wrapping_or_target_key_is_key_state_and_type_mismatch_is_key_usage)
{
	hg_uuid kek = p11t_id(), missing = p11t_id(), hmac = p11t_id(), id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&kek, HG_KT_AES, 256, HG_P11_WRAP | HG_P11_UNWRAP, false, kcv);
	p11t_generate(&hmac, HG_KT_HMAC, 256, HG_P11_SIGN, true, kcv);
	uint8_t *w = NULL, blob[40] = {0};
	size_t n = 0;
	ck_assert_int_eq(p11_wrap(P, &missing, HG_WRAP_AES_KWP, &hmac, HG_KT_HMAC, &w, &n), HG_E_KEY_STATE);
	ck_assert_int_eq(p11_wrap(P, &kek, HG_WRAP_AES_KWP, &missing, HG_KT_AES, &w, &n), HG_E_KEY_STATE);
	ck_assert_int_eq(p11_wrap(P, &kek, HG_WRAP_AES_KWP, &hmac, HG_KT_AES, &w, &n), HG_E_KEY_USAGE);
	ck_assert_ptr_null(w);
	struct hg_p11_keyspec spec = spec_of(HG_KT_AES, 256, HG_P11_ENCRYPT, false);
	ck_assert_int_eq(p11_unwrap(P, &missing, HG_WRAP_AES_KWP, blob, sizeof blob, &id, &spec, kcv), HG_E_KEY_STATE);
	assert_nothing_at(&id);
	p11t_destroy(&kek);
	p11t_destroy(&hmac);
}
END_TEST

Suite *suite_p11_wrap(void)
{
	Suite *s = suite_create("p11_wrap");
	TCase *tc = p11t_tcase("interop");
	tcase_add_test(tc, test_token_implements_aes_kwp_and_rsa_oaep_sha1);
	tcase_add_test(tc, test_known_aes256_key_imported_with_rsa_oaep_has_the_openssl_cmac_kcv_and_interoperates);
	tcase_add_test(tc, test_known_tdes_keys_imported_with_rsa_oaep_have_the_openssl_tdes_ecb_kcv);
	tcase_add_test(tc,
		       test_rsa_oaep_sha256_imports_the_known_key_where_implemented_and_is_refused_cleanly_elsewhere);
	tcase_add_test(tc, test_aes_kwp_wrap_then_unwrap_under_the_same_key_gives_the_same_key);
	tcase_add_test(tc, test_aes_kwp_matches_openssl_rfc5649_both_ways_and_generated_kcvs_are_right);
	tcase_add_test(tc, test_known_ec_private_keys_imported_with_aes_kwp_get_their_own_public_key);
	tcase_add_test(tc,
		       test_known_rsa_private_key_imported_with_aes_kwp_gets_its_public_key_which_wraps_for_openssl);
	tcase_add_test(tc, test_exported_private_key_is_pkcs8_of_the_same_key_and_imports_back);
	suite_add_tcase(s, tc);
	tc = p11t_tcase("refusals");
	tcase_add_test(tc, test_wrapping_a_non_exportable_key_is_refused_as_key_usage);
	tcase_add_test(tc, test_wrapping_and_unwrapping_keys_need_the_wrap_and_unwrap_usage);
	tcase_add_test(tc, test_rsa_oaep_wraps_secret_keys_only);
	tcase_add_test(tc, test_blobs_that_do_not_unwrap_as_declared_are_invalid_and_leave_nothing);
	tcase_add_test(tc, test_ed25519_private_keys_cannot_be_imported_and_the_token_refuses_to_wrap_them);
	tcase_add_test(tc, test_missing_wrapping_or_target_key_is_key_state_and_type_mismatch_is_key_usage);
	suite_add_tcase(s, tc);
	return s;
}
