/* FF1 (tokens.h) over AES keys held in the token: the NIST SP 800-38G radix-10 samples on the
 * sample keys imported into SoftHSM, the same code over OpenSSL's AES as a cross-check of the
 * callback interface, round trips, refusals and errors passed on from the binding. */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "hsmgw/tokens.h"
#include "p11t.h"

/* The keys of NIST's FF1 samples (csrc.nist.gov, FF1samples.pdf): AES-128, -192 and -256 are
 * prefixes of one byte string. */
static const uint8_t sample_key[32] = {0x2B, 0x7E, 0x15, 0x16, 0x28, 0xAE, 0xD2, 0xA6, 0xAB, 0xF7, 0x15,
				       0x88, 0x09, 0xCF, 0x4F, 0x3C, 0xEF, 0x43, 0x59, 0xD8, 0xD5, 0x80,
				       0xAA, 0x4F, 0x7F, 0x03, 0x6D, 0x6F, 0x04, 0xFC, 0x6A, 0x94};
static const uint8_t sample_tweak[10] = {0x39, 0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31, 0x30};

/* Samples 1, 2, 4, 5, 7 and 8 (3, 6 and 9 are radix 36). */
static const struct sample {
	int no;
	size_t key_len, tweak_len;
	const char *pt, *ct;
} samples[] = {
    {1, 16, 0, "0123456789", "2433477484"}, {2, 16, 10, "0123456789", "6124200773"},
    {4, 24, 0, "0123456789", "2830668132"}, {5, 24, 10, "0123456789", "2496655549"},
    {7, 32, 0, "0123456789", "6657667009"}, {8, 32, 10, "0123456789", "1001623463"},
};

/* Beyond the samples: lengths 2 to 64 (61 and more need S longer than one block, so ECB
 * calls) and the longest tweak. Computed with an independent implementation (Python integers
 * and the `cryptography` package's AES) that reproduces all nine NIST samples. tweak 128 is
 * the bytes 0x00…0x7F. */
static const struct extra {
	size_t key_len, tweak_len;
	const char *pt, *ct;
} extras[] = {
    {16, 0, "0123456789012345678901234567890123456789012345678901234567890123",
     "3007473813044841596958958701729304780307735831278462675152417337"},
    {32, 128, "9876543210987654321098765432109876543210987654321098765432109",
     "4428220668621757502894665326647073727705063571417884072835358"},
    {16, 10, "42", "17"},
    {24, 10, "4111111111111111", "1949733091730673"},
    {32, 0, "4000123456789012345", "8141356177628569584"},
    {24, 128, "012345", "378983"},
};

static const uint8_t *tweak_of(size_t len)
{
	static uint8_t t128[128];
	for (size_t i = 0; i < sizeof t128; i++)
		t128[i] = (uint8_t)i;
	return len == 0 ? NULL : len == 10 ? sample_tweak : t128;
}

/* Imports key (n bytes) as a new AES token key with the encrypt usage only: OpenSSL wraps it
 * with AES-KWP under the known KEK, the token unwraps it; the KCV must be OpenSSL's. */
static hg_uuid import_aes(const struct known_kek *kek, const uint8_t *key, size_t n)
{
	hg_uuid id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1], want[HG_KCV_HEX_LEN + 1];
	size_t wn;
	uint8_t *w = ossl_kwp_wrap(kek->key, key, n, &wn);
	struct hg_p11_keyspec spec = {.type = HG_KT_AES, .bits = (unsigned)n * 8, .usage = HG_P11_ENCRYPT};
	ck_assert_int_eq(p11_unwrap(P, &kek->id, HG_WRAP_AES_KWP, w, wn, &id, &spec, kcv), HG_OK);
	ossl_kcv_aes(key, n, want);
	ck_assert_str_eq(kcv, want);
	free(w);
	return id;
}

/* ---- OpenSSL's AES behind the same interface ---- */

struct sw_aes {
	struct hg_ff1_aes aes;
	const uint8_t *key;
	size_t key_len;
};

static hg_err sw_crypt(struct sw_aes *s, bool cbc, const uint8_t *in, size_t n, uint8_t *out)
{
	static const uint8_t zero_iv[16];
	const EVP_CIPHER *ci = s->key_len == 16   ? (cbc ? EVP_aes_128_cbc() : EVP_aes_128_ecb())
			       : s->key_len == 24 ? (cbc ? EVP_aes_192_cbc() : EVP_aes_192_ecb())
						  : (cbc ? EVP_aes_256_cbc() : EVP_aes_256_ecb());
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	bool ok = c && EVP_EncryptInit_ex(c, ci, NULL, s->key, cbc ? zero_iv : NULL) == 1 &&
		  EVP_CIPHER_CTX_set_padding(c, 0) == 1 && EVP_EncryptUpdate(c, out, &l1, in, (int)n) == 1 &&
		  EVP_EncryptFinal_ex(c, out + l1, &l2) == 1 && (size_t)(l1 + l2) == n;
	EVP_CIPHER_CTX_free(c);
	return ok ? HG_OK : HG_E_INTERNAL;
}

static hg_err sw_cbc(void *ctx, const uint8_t *in, size_t n, uint8_t *out)
{
	return sw_crypt(ctx, true, in, n, out);
}

static hg_err sw_ecb(void *ctx, const uint8_t *in, size_t n, uint8_t *out)
{
	return sw_crypt(ctx, false, in, n, out);
}

static const struct hg_ff1_aes *sw_bind(struct sw_aes *s, const uint8_t *key, size_t key_len)
{
	s->key = key;
	s->key_len = key_len;
	s->aes = (struct hg_ff1_aes){.ctx = s, .cbc = sw_cbc, .ecb = sw_ecb};
	return &s->aes;
}

/* ---- helpers ---- */

static void assert_ff1(const struct hg_ff1_aes *aes, const uint8_t *tweak, size_t t, const char *pt, const char *ct)
{
	size_t n = strlen(pt);
	char out[HG_FF1_MAX_LEN + 1] = "", back[HG_FF1_MAX_LEN + 1] = "";
	ck_assert_int_eq(ff1_encrypt(aes, tweak, t, pt, n, out), HG_OK);
	ck_assert_str_eq(out, ct);
	ck_assert_int_eq(ff1_decrypt(aes, tweak, t, ct, n, back), HG_OK);
	ck_assert_str_eq(back, pt);
}

static void random_digits(char *d, size_t n)
{
	uint8_t r[HG_FF1_MAX_LEN];
	ck_assert_int_eq(RAND_bytes(r, (int)n), 1);
	for (size_t i = 0; i < n; i++)
		d[i] = (char)('0' + r[i] % 10); /* the bias does not matter here */
	d[n] = '\0';
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* ---- tests ---- */

START_TEST(test_nist_ff1_radix10_samples_pass_on_the_sample_keys_imported_into_the_token)
{
	struct known_kek kek;
	p11t_known_kek(&kek);
	hg_uuid ids[3];
	for (size_t k = 0; k < 3; k++) {
		ids[k] = import_aes(&kek, sample_key, 16 + 8 * k);
		/* the key is the token's: sensitive, never extractable, good for encryption only */
		struct hg_p11_attrs a = p11t_attrs(&ids[k], true);
		ck_assert(a.found && a.sensitive && !a.extractable && a.encrypt && !a.decrypt);
	}
	for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
		const struct sample *s = &samples[i];
		struct hg_ff1_hsm h;
		const struct hg_ff1_aes *aes = ff1_hsm_bind(&h, P, &ids[(s->key_len - 16) / 8]);
		assert_ff1(aes, s->tweak_len ? sample_tweak : NULL, s->tweak_len, s->pt, s->ct);
	}
	for (size_t k = 0; k < 3; k++)
		p11t_destroy(&ids[k]);
	p11t_known_kek_destroy(&kek);
}
END_TEST

START_TEST(test_lengths_2_to_64_and_the_longest_tweak_match_an_independent_implementation_in_the_token)
{
	struct known_kek kek;
	p11t_known_kek(&kek);
	hg_uuid ids[3];
	for (size_t k = 0; k < 3; k++)
		ids[k] = import_aes(&kek, sample_key, 16 + 8 * k);
	for (size_t i = 0; i < sizeof extras / sizeof *extras; i++) {
		const struct extra *x = &extras[i];
		struct hg_ff1_hsm h;
		assert_ff1(ff1_hsm_bind(&h, P, &ids[(x->key_len - 16) / 8]), tweak_of(x->tweak_len), x->tweak_len,
			   x->pt, x->ct);
	}
	for (size_t k = 0; k < 3; k++)
		p11t_destroy(&ids[k]);
	p11t_known_kek_destroy(&kek);
}
END_TEST

START_TEST(test_the_same_code_over_openssl_aes_passes_the_samples_and_agrees_with_the_token_at_every_length)
{
	for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
		struct sw_aes sw;
		const struct sample *s = &samples[i];
		assert_ff1(sw_bind(&sw, sample_key, s->key_len), s->tweak_len ? sample_tweak : NULL, s->tweak_len,
			   s->pt, s->ct);
	}
	for (size_t i = 0; i < sizeof extras / sizeof *extras; i++) {
		struct sw_aes sw;
		const struct extra *x = &extras[i];
		assert_ff1(sw_bind(&sw, sample_key, x->key_len), tweak_of(x->tweak_len), x->tweak_len, x->pt, x->ct);
	}
	/* A random AES-256 key in the token, its bytes known to the test, against OpenSSL on
	 * random inputs of every length and random tweaks. */
	struct known_kek kek;
	p11t_known_kek(&kek);
	uint8_t key[32];
	ck_assert_int_eq(RAND_bytes(key, sizeof key), 1);
	hg_uuid id = import_aes(&kek, key, sizeof key);
	struct hg_ff1_hsm h;
	struct sw_aes sw;
	const struct hg_ff1_aes *hsm = ff1_hsm_bind(&h, P, &id), *soft = sw_bind(&sw, key, sizeof key);
	for (size_t n = HG_FF1_MIN_LEN; n <= HG_FF1_MAX_LEN; n++) {
		char pt[HG_FF1_MAX_LEN + 1], a[HG_FF1_MAX_LEN + 1] = "", b[HG_FF1_MAX_LEN + 1] = "";
		uint8_t tweak[HG_FF1_TWEAK_MAX];
		size_t t = n * 2 % (HG_FF1_TWEAK_MAX + 1);
		random_digits(pt, n);
		ck_assert_int_eq(RAND_bytes(tweak, sizeof tweak), 1);
		ck_assert_int_eq(ff1_encrypt(hsm, tweak, t, pt, n, a), HG_OK);
		ck_assert_int_eq(ff1_encrypt(soft, tweak, t, pt, n, b), HG_OK);
		ck_assert_str_eq(a, b);
		ck_assert_int_eq(ff1_decrypt(hsm, tweak, t, a, n, b), HG_OK);
		ck_assert_str_eq(b, pt);
	}
	p11t_destroy(&id);
	p11t_known_kek_destroy(&kek);
}
END_TEST

START_TEST(test_pan_lengths_12_to_19_round_trip_with_random_digits_and_tweaks_in_the_token)
{
	hg_uuid id = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1];
	p11t_generate(&id, HG_KT_AES, 256, HG_P11_ENCRYPT, false, kcv);
	struct hg_ff1_hsm h;
	const struct hg_ff1_aes *aes = ff1_hsm_bind(&h, P, &id);
	for (size_t n = 12; n <= 19; n++) {
		for (int k = 0; k < 20; k++) {
			char pt[20], ct[20] = "", ct2[20] = "", other[20] = "", back[20] = "";
			uint8_t tweak[32];
			random_digits(pt, n);
			ck_assert_int_eq(RAND_bytes(tweak, sizeof tweak), 1);
			size_t t = (size_t)k; /* 0 … 19 bytes */
			ck_assert_int_eq(ff1_encrypt(aes, tweak, t, pt, n, ct), HG_OK);
			ck_assert_uint_eq(strlen(ct), n);
			ck_assert(all_digits(ct, n));
			/* deterministic; another tweak gives another token (equal by chance with
			 * probability 10^-n) */
			ck_assert_int_eq(ff1_encrypt(aes, tweak, t, pt, n, ct2), HG_OK);
			ck_assert_str_eq(ct2, ct);
			tweak[0] ^= 1;
			ck_assert_int_eq(ff1_encrypt(aes, tweak, t ? t : 1, pt, n, other), HG_OK);
			ck_assert_str_ne(other, ct);
			tweak[0] ^= 1;
			ck_assert_int_eq(ff1_decrypt(aes, tweak, t, ct, n, back), HG_OK);
			ck_assert_str_eq(back, pt);
		}
	}
	p11t_destroy(&id);
}
END_TEST

START_TEST(test_ff1_works_in_place)
{
	struct sw_aes sw;
	const struct hg_ff1_aes *aes = sw_bind(&sw, sample_key, 16);
	char buf[] = "xx0123456789yy"; /* the digits inside a longer string: only they change */
	ck_assert_int_eq(ff1_encrypt(aes, NULL, 0, buf + 2, 10, buf + 2), HG_OK);
	ck_assert_str_eq(buf, "xx2433477484yy");
	ck_assert_int_eq(ff1_decrypt(aes, NULL, 0, buf + 2, 10, buf + 2), HG_OK);
	ck_assert_str_eq(buf, "xx0123456789yy");
}
END_TEST

START_TEST(test_non_digits_bad_lengths_and_bad_tweaks_are_invalid_and_leave_the_output_alone)
{
	struct sw_aes sw;
	const struct hg_ff1_aes *aes = sw_bind(&sw, sample_key, 16);
	static const char *const bad[] = {"012345678a",
					  "01234 6789",
					  "/123456789",
					  "012345678:",
					  "-123456789",
					  "0123456\xef\xbc\x97"
					  "89",
					  "+123456789",
					  "01234\n6789"};
	uint8_t tweak[HG_FF1_TWEAK_MAX + 1] = {0};
	char long_in[HG_FF1_MAX_LEN + 2];
	memset(long_in, '1', sizeof long_in);
	for (int dec = 0; dec < 2; dec++) {
		hg_err (*op)(const struct hg_ff1_aes *, const uint8_t *, size_t, const char *, size_t, char *) =
		    dec ? ff1_decrypt : ff1_encrypt;
		char out[HG_FF1_MAX_LEN + 2];
		memset(out, '#', sizeof out);
		for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
			ck_assert_int_eq(op(aes, NULL, 0, bad[i], 10, out), HG_E_INVALID);
		ck_assert_int_eq(op(aes, NULL, 0,
				    "01234\0"
				    "6789",
				    10, out),
				 HG_E_INVALID);
		ck_assert_int_eq(op(aes, NULL, 0, "", 0, out), HG_E_INVALID);
		ck_assert_int_eq(op(aes, NULL, 0, "7", 1, out), HG_E_INVALID);
		ck_assert_int_eq(op(aes, NULL, 0, long_in, HG_FF1_MAX_LEN + 1, out), HG_E_INVALID);
		ck_assert_int_eq(op(aes, tweak, HG_FF1_TWEAK_MAX + 1, "0123456789", 10, out), HG_E_INVALID);
		ck_assert_int_eq(op(aes, NULL, 4, "0123456789", 10, out), HG_E_INVALID);
		ck_assert_int_eq(op(NULL, NULL, 0, "0123456789", 10, out), HG_E_INVALID);
		ck_assert_int_eq(op(aes, NULL, 0, NULL, 10, out), HG_E_INVALID);
		ck_assert_int_eq(op(aes, NULL, 0, "0123456789", 10, NULL), HG_E_INVALID);
		for (size_t i = 0; i < sizeof out; i++)
			ck_assert_int_eq(out[i], '#');
		/* the limits themselves are fine */
		ck_assert_int_eq(op(aes, tweak, HG_FF1_TWEAK_MAX, long_in, HG_FF1_MAX_LEN, out), HG_OK);
		ck_assert_int_eq(op(aes, NULL, 0, long_in, HG_FF1_MIN_LEN, out), HG_OK);
		ck_assert_int_eq(op(aes, tweak, 0, "0123456789", 10, out), HG_OK); /* a tweak pointer with t 0 */
	}
}
END_TEST

/* A binding that fails its k-th call (counting from 0) with err. */
struct failing {
	struct hg_ff1_aes aes;
	struct sw_aes sw;
	int calls, fail_at;
	hg_err err;
};

static hg_err failing_call(struct failing *f, bool cbc, const uint8_t *in, size_t n, uint8_t *out)
{
	if (f->calls++ == f->fail_at)
		return f->err;
	return cbc ? sw_cbc(&f->sw, in, n, out) : sw_ecb(&f->sw, in, n, out);
}

static hg_err failing_cbc(void *ctx, const uint8_t *in, size_t n, uint8_t *out)
{
	return failing_call(ctx, true, in, n, out);
}

static hg_err failing_ecb(void *ctx, const uint8_t *in, size_t n, uint8_t *out)
{
	return failing_call(ctx, false, in, n, out);
}

START_TEST(test_errors_of_the_aes_binding_are_passed_on_at_any_round_and_leave_the_output_alone)
{
	/* 64 digits: each round makes one CBC and one ECB call, 20 in all */
	char in[HG_FF1_MAX_LEN + 1];
	random_digits(in, HG_FF1_MAX_LEN);
	for (int at = 0; at < 20; at++) {
		struct failing f = {.fail_at = at, .err = at % 2 ? HG_E_HSM_UNAVAILABLE : HG_E_KEY_STATE};
		sw_bind(&f.sw, sample_key, 32);
		f.aes = (struct hg_ff1_aes){.ctx = &f, .cbc = failing_cbc, .ecb = failing_ecb};
		char out[HG_FF1_MAX_LEN];
		memset(out, '#', sizeof out);
		hg_err e = at < 10 ? ff1_encrypt(&f.aes, NULL, 0, in, HG_FF1_MAX_LEN, out)
				   : ff1_decrypt(&f.aes, NULL, 0, in, HG_FF1_MAX_LEN, out);
		ck_assert_int_eq(e, f.err);
		ck_assert_int_eq(f.calls, at + 1); /* nothing after the failure */
		for (size_t i = 0; i < sizeof out; i++)
			ck_assert_int_eq(out[i], '#');
	}
	struct failing ok = {.fail_at = -1};
	sw_bind(&ok.sw, sample_key, 32);
	ok.aes = (struct hg_ff1_aes){.ctx = &ok, .cbc = failing_cbc, .ecb = failing_ecb};
	char out[HG_FF1_MAX_LEN];
	ck_assert_int_eq(ff1_encrypt(&ok.aes, NULL, 0, in, HG_FF1_MAX_LEN, out), HG_OK);
	ck_assert_int_eq(ok.calls, 20);
}
END_TEST

START_TEST(test_a_key_without_the_encrypt_usage_or_no_key_at_all_is_refused_by_the_token)
{
	hg_uuid dec_only = p11t_id(), missing = p11t_id();
	char kcv[HG_KCV_HEX_LEN + 1], out[10];
	p11t_generate(&dec_only, HG_KT_AES, 128, HG_P11_DECRYPT, false, kcv);
	struct hg_ff1_hsm h;
	ck_assert_int_eq(ff1_encrypt(ff1_hsm_bind(&h, P, &dec_only), NULL, 0, "0123456789", 10, out), HG_E_KEY_USAGE);
	ck_assert_int_eq(ff1_decrypt(ff1_hsm_bind(&h, P, &dec_only), NULL, 0, "0123456789", 10, out), HG_E_KEY_USAGE);
	ck_assert_int_eq(ff1_encrypt(ff1_hsm_bind(&h, P, &missing), NULL, 0, "0123456789", 10, out), HG_E_KEY_STATE);
	p11t_destroy(&dec_only);
}
END_TEST

Suite *suite_tokens_ff1(void)
{
	Suite *s = suite_create("tokens_ff1");
	TCase *tc = p11t_tcase("vectors");
	tcase_add_test(tc, test_nist_ff1_radix10_samples_pass_on_the_sample_keys_imported_into_the_token);
	tcase_add_test(tc, test_lengths_2_to_64_and_the_longest_tweak_match_an_independent_implementation_in_the_token);
	tcase_add_test(
	    tc, test_the_same_code_over_openssl_aes_passes_the_samples_and_agrees_with_the_token_at_every_length);
	tcase_add_test(tc, test_pan_lengths_12_to_19_round_trip_with_random_digits_and_tweaks_in_the_token);
	tcase_add_test(tc, test_ff1_works_in_place);
	suite_add_tcase(s, tc);
	tc = p11t_tcase("refusals");
	tcase_add_test(tc, test_non_digits_bad_lengths_and_bad_tweaks_are_invalid_and_leave_the_output_alone);
	tcase_add_test(tc, test_errors_of_the_aes_binding_are_passed_on_at_any_round_and_leave_the_output_alone);
	tcase_add_test(tc, test_a_key_without_the_encrypt_usage_or_no_key_at_all_is_refused_by_the_token);
	suite_add_tcase(s, tc);
	return s;
}
