/* Tokens of digit strings (token_one, fpe mode) over FF1 with an AES binding of the test's own
 * (a clear AES-128 key, OpenSSL): what the tokens keep, and what they refuse. */
#include <string.h>

#include <openssl/evp.h>

#include "hsmgw/tokens.h"
#include "unit.h"

static const uint8_t key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
				0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};

static hg_err aes_run(const EVP_CIPHER *ci, const uint8_t *in, size_t n, uint8_t *out)
{
	static const uint8_t zero[16];
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	bool ok = x && EVP_EncryptInit_ex(x, ci, NULL, key, zero) && EVP_CIPHER_CTX_set_padding(x, 0) &&
		  EVP_EncryptUpdate(x, out, &l1, in, (int)n) && EVP_EncryptFinal_ex(x, out + l1, &l2);
	EVP_CIPHER_CTX_free(x);
	return ok ? HG_OK : HG_E_INTERNAL;
}

static hg_err cbc(void *ctx, const uint8_t *in, size_t n, uint8_t *out)
{
	(void)ctx;
	return aes_run(EVP_aes_128_cbc(), in, n, out);
}

static hg_err ecb(void *ctx, const uint8_t *in, size_t n, uint8_t *out)
{
	(void)ctx;
	return aes_run(EVP_aes_128_ecb(), in, n, out);
}

static const struct hg_ff1_aes aes = {NULL, cbc, ecb};
static const struct hg_token_keys keys = {.aes = &aes};

/* A tenant name longer than the 63 bytes the tweak keeps of it. */
#define LONG_TENANT "tenant-with-a-name-longer-than-the-sixty-three-bytes-the-tweak-keeps"

START_TEST(test_fpe_token_keeps_length_preserved_digits_and_reverses)
{
	struct hg_token_spec s = {.mode = HG_TOKEN_FPE, .pan = true, .leading = 6, .trailing = 4, .tenant = "acme"};
	char tok[20], back[20];
	const char *why;
	ck_assert_int_eq(token_one(&keys, &s, false, "4111111111111111", tok, &why), HG_OK);
	ck_assert_uint_eq(strlen(tok), 16);
	ck_assert(strncmp(tok, "411111", 6) == 0 && strcmp(tok + 12, "1111") == 0);
	ck_assert_str_ne(tok, "4111111111111111");
	ck_assert_int_eq(token_one(&keys, &s, true, tok, back, &why), HG_OK);
	ck_assert_str_eq(back, "4111111111111111");
}
END_TEST

/* Found by tests/fuzz/fuzz_tokens: 59 leading digits and a long tenant name overflowed the
 * 128-byte tweak on the stack (the API allows 19; token_one relied on it). */
START_TEST(test_more_than_19_preserved_digits_are_refused)
{
	static const char value[] = "1234567890123456789012345678901234567890123456789012345678901234";
	char out[sizeof value];
	const char *why = NULL;
	struct hg_token_spec s = {.mode = HG_TOKEN_FPE, .leading = 59, .tenant = LONG_TENANT};
	ck_assert_int_eq(token_one(&keys, &s, false, value, out, &why), HG_E_INVALID);
	ck_assert_ptr_nonnull(why);
	s.leading = 0;
	s.trailing = HG_TOKEN_MAX_PRESERVE + 1;
	ck_assert_int_eq(token_one(&keys, &s, false, value, out, &why), HG_E_INVALID);
	/* The most the tweak holds still works. */
	s.leading = s.trailing = HG_TOKEN_MAX_PRESERVE;
	ck_assert_int_eq(token_one(&keys, &s, false, value, out, &why), HG_OK);
	ck_assert(strncmp(out, value, 19) == 0 && strcmp(out + 45, value + 45) == 0);
}
END_TEST

Suite *suite_tokens(void)
{
	Suite *s = suite_create("tokens");
	TCase *tc = tcase_create("tokens");
	tcase_add_test(tc, test_fpe_token_keeps_length_preserved_digits_and_reverses);
	tcase_add_test(tc, test_more_than_19_preserved_digits_are_refused);
	suite_add_tcase(s, tc);
	return s;
}
