/* p11_generate, p11_key_attrs, p11_public_key_der and p11_destroy_all against the token. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>

/* The p11 tier alone may read CKK_* values: p11_key_attrs reports the token's key type. */
#include <p11-kit/pkcs11.h>

#include "p11t.h"

#define ALL_USAGES                                                                                                     \
	(HG_P11_ENCRYPT | HG_P11_DECRYPT | HG_P11_SIGN | HG_P11_VERIFY | HG_P11_WRAP | HG_P11_UNWRAP | HG_P11_DERIVE)

/* The secret key's usage attributes are exactly `usage`. */
static void assert_secret_usage(const struct hg_p11_attrs *a, unsigned usage)
{
	ck_assert_int_eq(a->encrypt, !!(usage & HG_P11_ENCRYPT));
	ck_assert_int_eq(a->decrypt, !!(usage & HG_P11_DECRYPT));
	ck_assert_int_eq(a->sign, !!(usage & HG_P11_SIGN));
	ck_assert_int_eq(a->verify, !!(usage & HG_P11_VERIFY));
	ck_assert_int_eq(a->wrap, !!(usage & HG_P11_WRAP));
	ck_assert_int_eq(a->unwrap, !!(usage & HG_P11_UNWRAP));
	ck_assert_int_eq(a->derive, !!(usage & HG_P11_DERIVE));
}

/* A pair's usages are split: encrypt/verify/wrap on the public key, the rest on the private. */
static void assert_pair_usage(const struct hg_p11_attrs *priv, const struct hg_p11_attrs *pub, unsigned usage)
{
	ck_assert_int_eq(priv->decrypt, !!(usage & HG_P11_DECRYPT));
	ck_assert_int_eq(priv->sign, !!(usage & HG_P11_SIGN));
	ck_assert_int_eq(priv->unwrap, !!(usage & HG_P11_UNWRAP));
	ck_assert_int_eq(priv->derive, !!(usage & HG_P11_DERIVE));
	ck_assert(!priv->encrypt && !priv->verify && !priv->wrap);
	ck_assert_int_eq(pub->encrypt, !!(usage & HG_P11_ENCRYPT));
	ck_assert_int_eq(pub->verify, !!(usage & HG_P11_VERIFY));
	ck_assert_int_eq(pub->wrap, !!(usage & HG_P11_WRAP));
	ck_assert(!pub->decrypt && !pub->sign && !pub->unwrap && !pub->derive);
}

/* Found, a private token object; sensitive and extractable as given (secret/private keys). */
static void assert_protected(const struct hg_p11_attrs *a, bool exportable)
{
	ck_assert(a->found && a->token && a->private_ && a->sensitive);
	ck_assert_int_eq(a->extractable, exportable);
}

START_TEST(test_aes_128_192_256_are_sensitive_private_token_keys_with_exact_usage)
{
	static const unsigned sizes[] = {128, 192, 256};
	for (size_t i = 0; i < 3; i++) {
		hg_uuid id = p11t_id();
		char kcv[HG_KCV_HEX_LEN + 1];
		p11t_generate(&id, HG_KT_AES, sizes[i], HG_P11_ENCRYPT | HG_P11_DECRYPT, false, kcv);
		p11t_assert_kcv_format(kcv);
		struct hg_p11_attrs a = p11t_attrs(&id, true);
		assert_protected(&a, false);
		assert_secret_usage(&a, HG_P11_ENCRYPT | HG_P11_DECRYPT);
		ck_assert_uint_eq(a.key_type, CKK_AES);
		ck_assert_uint_eq(a.value_len, sizes[i] / 8);
		ck_assert(!p11t_attrs(&id, false).found); /* a secret key has no public object */
		p11t_destroy(&id);
	}
}
END_TEST

START_TEST(test_tdes_128_is_two_key_des2_and_192_is_three_key_des3_with_a_kcv)
{
	static const struct {
		unsigned bits;
		unsigned long ckk;
	} cases[] = {{128, CKK_DES2}, {192, CKK_DES3}};
	for (size_t i = 0; i < 2; i++) {
		hg_uuid id = p11t_id();
		char kcv[HG_KCV_HEX_LEN + 1];
		p11t_generate(&id, HG_KT_TDES, cases[i].bits, HG_P11_ENCRYPT | HG_P11_DECRYPT, false, kcv);
		p11t_assert_kcv_format(kcv);
		struct hg_p11_attrs a = p11t_attrs(&id, true);
		assert_protected(&a, false);
		assert_secret_usage(&a, HG_P11_ENCRYPT | HG_P11_DECRYPT);
		ck_assert_uint_eq(a.key_type, cases[i].ckk);
		p11t_destroy(&id);
	}
}
END_TEST

START_TEST(test_hmac_256_to_512_bits_are_generic_secrets_without_kcv)
{
	static const unsigned sizes[] = {256, 264, 384, 512};
	for (size_t i = 0; i < 4; i++) {
		hg_uuid id = p11t_id();
		char kcv[HG_KCV_HEX_LEN + 1] = "XXXXXX";
		p11t_generate(&id, HG_KT_HMAC, sizes[i], HG_P11_SIGN | HG_P11_VERIFY, false, kcv);
		ck_assert_str_eq(kcv, "");
		struct hg_p11_attrs a = p11t_attrs(&id, true);
		assert_protected(&a, false);
		assert_secret_usage(&a, HG_P11_SIGN | HG_P11_VERIFY);
		ck_assert_uint_eq(a.key_type, CKK_GENERIC_SECRET);
		ck_assert_uint_eq(a.value_len, sizes[i] / 8);
		p11t_destroy(&id);
	}
}
END_TEST

START_TEST(test_encrypt_granted_for_the_kcv_is_false_afterwards_and_the_hsm_refuses_encryption)
{
	static const struct {
		enum hg_p11_type type;
		unsigned bits, usage;
	} cases[] = {
	    {HG_KT_AES, 256, HG_P11_DECRYPT},
	    {HG_KT_AES, 128, 0},
	    {HG_KT_TDES, 192, HG_P11_DECRYPT},
	    {HG_KT_TDES, 128, HG_P11_WRAP | HG_P11_UNWRAP},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		hg_uuid id = p11t_id();
		char kcv[HG_KCV_HEX_LEN + 1];
		p11t_generate(&id, cases[i].type, cases[i].bits, cases[i].usage, false, kcv);
		p11t_assert_kcv_format(kcv);
		struct hg_p11_attrs a = p11t_attrs(&id, true);
		ck_assert(!a.encrypt);
		assert_secret_usage(&a, cases[i].usage);
		if (cases[i].type == HG_KT_AES) {
			uint8_t out[HG_GCM_IV_LEN + 4 + HG_GCM_TAG_LEN];
			ck_assert_int_eq(p11_aes_gcm_encrypt(P, &id, NULL, 0, (const uint8_t *)"data", 4, out),
					 HG_E_KEY_USAGE);
		}
		p11t_destroy(&id);
	}
}
END_TEST

START_TEST(test_every_usage_flag_sets_its_attribute_on_a_secret_key)
{
	hg_uuid id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&id, HG_KT_AES, 256, ALL_USAGES, false, kcv);
	struct hg_p11_attrs a = p11t_attrs(&id, true);
	assert_secret_usage(&a, ALL_USAGES);
	p11t_destroy(&id);
}
END_TEST

START_TEST(test_exportable_secret_key_is_extractable_and_still_sensitive)
{
	hg_uuid id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&id, HG_KT_AES, 256, HG_P11_ENCRYPT, true, kcv);
	struct hg_p11_attrs a = p11t_attrs(&id, true);
	assert_protected(&a, true);
	p11t_destroy(&id);
}
END_TEST

START_TEST(test_rsa_2048_3072_4096_pairs_have_a_public_key_der_of_that_size_and_exponent_65537)
{
	static const unsigned sizes[] = {2048, 3072, 4096};
	for (size_t i = 0; i < 3; i++) {
		hg_uuid id = p11t_id();
		char kcv[HG_KCV_HEX_LEN + 1] = "XXXXXX";
		p11t_generate(&id, HG_KT_RSA, sizes[i], HG_P11_SIGN | HG_P11_VERIFY, false, kcv);
		ck_assert_str_eq(kcv, "");
		struct hg_p11_attrs priv = p11t_attrs(&id, true), pub = p11t_attrs(&id, false);
		assert_protected(&priv, false);
		ck_assert(pub.found && pub.token && pub.private_);
		assert_pair_usage(&priv, &pub, HG_P11_SIGN | HG_P11_VERIFY);
		ck_assert_uint_eq(priv.key_type, CKK_RSA);
		ck_assert_uint_eq(pub.key_type, CKK_RSA);
		EVP_PKEY *k = p11t_public_key(&id, HG_KT_RSA);
		ck_assert(EVP_PKEY_is_a(k, "RSA"));
		ck_assert_int_eq(EVP_PKEY_get_bits(k), (int)sizes[i]);
		BIGNUM *e = NULL;
		ck_assert_int_eq(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e), 1);
		ck_assert_uint_eq(BN_get_word(e), 65537);
		BN_free(e);
		EVP_PKEY_free(k);
		p11t_destroy(&id);
	}
}
END_TEST

START_TEST(test_pair_usages_go_encrypt_verify_wrap_to_public_and_decrypt_sign_unwrap_derive_to_private)
{
	static const unsigned usages[] = {ALL_USAGES, HG_P11_ENCRYPT | HG_P11_DECRYPT | HG_P11_WRAP | HG_P11_UNWRAP,
					  HG_P11_VERIFY, 0};
	for (size_t i = 0; i < sizeof usages / sizeof *usages; i++) {
		hg_uuid id = p11t_id();
		char kcv[HG_KCV_HEX_LEN + 1];
		p11t_generate(&id, HG_KT_RSA, 2048, usages[i], false, kcv);
		struct hg_p11_attrs priv = p11t_attrs(&id, true), pub = p11t_attrs(&id, false);
		assert_pair_usage(&priv, &pub, usages[i]);
		p11t_destroy(&id);
	}
}
END_TEST

START_TEST(test_ec_p256_p384_p521_pairs_have_a_public_key_der_on_that_curve)
{
	static const struct {
		unsigned bits;
		const char *group;
	} curves[] = {{256, "prime256v1"}, {384, "secp384r1"}, {521, "secp521r1"}};
	for (size_t i = 0; i < 3; i++) {
		hg_uuid id = p11t_id();
		char kcv[HG_KCV_HEX_LEN + 1] = "XXXXXX";
		unsigned usage = HG_P11_SIGN | HG_P11_VERIFY | HG_P11_DERIVE;
		p11t_generate(&id, HG_KT_EC, curves[i].bits, usage, false, kcv);
		ck_assert_str_eq(kcv, "");
		struct hg_p11_attrs priv = p11t_attrs(&id, true), pub = p11t_attrs(&id, false);
		assert_protected(&priv, false);
		assert_pair_usage(&priv, &pub, usage);
		ck_assert_uint_eq(priv.key_type, CKK_EC);
		EVP_PKEY *k = p11t_public_key(&id, HG_KT_EC);
		ck_assert(EVP_PKEY_is_a(k, "EC"));
		char group[32];
		ck_assert_int_eq(
		    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL), 1);
		ck_assert_str_eq(group, curves[i].group);
		ck_assert_int_eq(EVP_PKEY_get_bits(k), (int)curves[i].bits);
		EVP_PKEY_free(k);
		p11t_destroy(&id);
	}
}
END_TEST

START_TEST(test_ed25519_pair_has_an_ed25519_public_key_der)
{
	hg_uuid id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1] = "XXXXXX";
	p11t_generate(&id, HG_KT_ED25519, 0, HG_P11_SIGN | HG_P11_VERIFY, false, kcv);
	ck_assert_str_eq(kcv, "");
	struct hg_p11_attrs priv = p11t_attrs(&id, true), pub = p11t_attrs(&id, false);
	assert_protected(&priv, false);
	assert_pair_usage(&priv, &pub, HG_P11_SIGN | HG_P11_VERIFY);
	ck_assert_uint_eq(priv.key_type, CKK_EC_EDWARDS);
	EVP_PKEY *k = p11t_public_key(&id, HG_KT_ED25519);
	ck_assert(EVP_PKEY_is_a(k, "ED25519"));
	EVP_PKEY_free(k);
	p11t_destroy(&id);
}
END_TEST

START_TEST(test_exportable_private_key_is_extractable_and_still_sensitive)
{
	hg_uuid id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&id, HG_KT_EC, 256, HG_P11_SIGN, true, kcv);
	struct hg_p11_attrs a = p11t_attrs(&id, true);
	assert_protected(&a, true);
	p11t_destroy(&id);
}
END_TEST

START_TEST(test_invalid_specs_are_refused_before_the_hsm_and_create_nothing)
{
	static const struct hg_p11_keyspec bad[] = {
	    {.type = HG_KT_AES, .bits = 0},
	    {.type = HG_KT_AES, .bits = 512},
	    {.type = HG_KT_TDES, .bits = 64},
	    {.type = HG_KT_TDES, .bits = 168},
	    {.type = HG_KT_HMAC, .bits = 248},
	    {.type = HG_KT_HMAC, .bits = 520},
	    {.type = HG_KT_HMAC, .bits = 257},
	    {.type = HG_KT_RSA, .bits = 1024},
	    {.type = HG_KT_RSA, .bits = 2047},
	    {.type = HG_KT_EC, .curve_bits = 224},
	    {.type = HG_KT_EC, .bits = 256},
	    {.type = HG_KT_AES, .bits = 128, .usage = 1u << 7},
	    {.type = (enum hg_p11_type)99, .bits = 128},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		hg_uuid id = p11t_id();
		char kcv[HG_KCV_HEX_LEN + 1] = "XXXXXX";
		ck_assert_msg(p11_generate(P, &id, &bad[i], kcv) == HG_E_INVALID, "bad spec %zu", i);
		ck_assert_str_eq(kcv, "");
		ck_assert(!p11t_attrs(&id, true).found && !p11t_attrs(&id, false).found);
	}
}
END_TEST

START_TEST(test_aes_generate_keeps_its_contract_for_existing_callers)
{
	hg_uuid id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	ck_assert_int_eq(p11_aes_generate(P, &id, 256, HG_P11_ENCRYPT | HG_P11_DECRYPT, kcv), HG_OK);
	p11t_assert_kcv_format(kcv);
	struct hg_p11_attrs a = p11t_attrs(&id, true);
	assert_protected(&a, false);
	assert_secret_usage(&a, HG_P11_ENCRYPT | HG_P11_DECRYPT);
	uint8_t ct[HG_GCM_IV_LEN + 5 + HG_GCM_TAG_LEN], pt[sizeof ct];
	size_t pt_len = 0;
	ck_assert_int_eq(p11_aes_gcm_encrypt(P, &id, (const uint8_t *)"aad", 3, (const uint8_t *)"hello", 5, ct),
			 HG_OK);
	ck_assert_int_eq(p11_aes_gcm_decrypt(P, &id, (const uint8_t *)"aad", 3, ct, sizeof ct, pt, &pt_len), HG_OK);
	ck_assert_uint_eq(pt_len, 5);
	ck_assert_mem_eq(pt, "hello", 5);
	ck_assert_int_eq(p11_destroy(P, &id), HG_OK);
	ck_assert(!p11t_attrs(&id, true).found);
	ck_assert_int_eq(p11_destroy(P, &id), HG_E_KEY_STATE);
}
END_TEST

START_TEST(test_destroy_all_removes_a_secret_key_and_forgets_its_cached_handle)
{
	hg_uuid id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&id, HG_KT_AES, 128, HG_P11_ENCRYPT, false, kcv);
	uint8_t out[HG_GCM_IV_LEN + 1 + HG_GCM_TAG_LEN];
	ck_assert_int_eq(p11_aes_gcm_encrypt(P, &id, NULL, 0, (const uint8_t *)"x", 1, out), HG_OK); /* cached */
	p11t_destroy(&id);
	ck_assert_int_eq(p11_aes_gcm_encrypt(P, &id, NULL, 0, (const uint8_t *)"x", 1, out), HG_E_KEY_STATE);
}
END_TEST

START_TEST(test_destroy_all_removes_both_objects_of_a_pair)
{
	hg_uuid id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&id, HG_KT_EC, 256, HG_P11_SIGN | HG_P11_VERIFY, false, kcv);
	ck_assert(p11t_attrs(&id, true).found && p11t_attrs(&id, false).found);
	EVP_PKEY_free(p11t_public_key(&id, HG_KT_EC)); /* caches the public handle */
	p11t_destroy(&id);
	uint8_t *der = NULL;
	size_t n = 0;
	ck_assert_int_eq(p11_public_key_der(P, &id, HG_KT_EC, &der, &n), HG_E_KEY_STATE);
	ck_assert_ptr_null(der);
}
END_TEST

START_TEST(test_destroy_all_is_idempotent_and_fine_for_an_unknown_id)
{
	hg_uuid id = p11t_id(), never = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&id, HG_KT_RSA, 2048, HG_P11_SIGN, false, kcv);
	p11t_destroy(&id);
	p11t_destroy(&id);
	p11t_destroy(&never);
}
END_TEST

START_TEST(test_public_key_der_refuses_secret_types_and_a_pair_of_another_type)
{
	hg_uuid aes = p11t_id(), ec = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&aes, HG_KT_AES, 128, HG_P11_ENCRYPT, false, kcv);
	p11t_generate(&ec, HG_KT_EC, 256, HG_P11_SIGN, false, kcv);
	uint8_t *der = NULL;
	size_t n = 0;
	ck_assert_int_eq(p11_public_key_der(P, &aes, HG_KT_AES, &der, &n), HG_E_INVALID);
	ck_assert_int_eq(p11_public_key_der(P, &aes, HG_KT_RSA, &der, &n), HG_E_KEY_STATE); /* no public object */
	ck_assert_int_eq(p11_public_key_der(P, &ec, HG_KT_RSA, &der, &n), HG_E_KEY_USAGE);
	ck_assert_int_eq(p11_public_key_der(P, &ec, HG_KT_ED25519, &der, &n), HG_E_KEY_USAGE);
	ck_assert_ptr_null(der);
	p11t_destroy(&aes);
	p11t_destroy(&ec);
}
END_TEST

Suite *suite_p11_generate(void)
{
	Suite *s = suite_create("p11_generate");
	TCase *tc = p11t_tcase("secret");
	tcase_add_test(tc, test_aes_128_192_256_are_sensitive_private_token_keys_with_exact_usage);
	tcase_add_test(tc, test_tdes_128_is_two_key_des2_and_192_is_three_key_des3_with_a_kcv);
	tcase_add_test(tc, test_hmac_256_to_512_bits_are_generic_secrets_without_kcv);
	tcase_add_test(tc, test_encrypt_granted_for_the_kcv_is_false_afterwards_and_the_hsm_refuses_encryption);
	tcase_add_test(tc, test_every_usage_flag_sets_its_attribute_on_a_secret_key);
	tcase_add_test(tc, test_exportable_secret_key_is_extractable_and_still_sensitive);
	tcase_add_test(tc, test_invalid_specs_are_refused_before_the_hsm_and_create_nothing);
	tcase_add_test(tc, test_aes_generate_keeps_its_contract_for_existing_callers);
	suite_add_tcase(s, tc);
	tc = p11t_tcase("pairs");
	tcase_add_test(tc, test_rsa_2048_3072_4096_pairs_have_a_public_key_der_of_that_size_and_exponent_65537);
	tcase_add_test(tc, test_pair_usages_go_encrypt_verify_wrap_to_public_and_decrypt_sign_unwrap_derive_to_private);
	tcase_add_test(tc, test_ec_p256_p384_p521_pairs_have_a_public_key_der_on_that_curve);
	tcase_add_test(tc, test_ed25519_pair_has_an_ed25519_public_key_der);
	tcase_add_test(tc, test_exportable_private_key_is_extractable_and_still_sensitive);
	tcase_add_test(tc, test_public_key_der_refuses_secret_types_and_a_pair_of_another_type);
	suite_add_tcase(s, tc);
	tc = p11t_tcase("destroy");
	tcase_add_test(tc, test_destroy_all_removes_a_secret_key_and_forgets_its_cached_handle);
	tcase_add_test(tc, test_destroy_all_removes_both_objects_of_a_pair);
	tcase_add_test(tc, test_destroy_all_is_idempotent_and_fine_for_an_unknown_id);
	suite_add_tcase(s, tc);
	return s;
}
