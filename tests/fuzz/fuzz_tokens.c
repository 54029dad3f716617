/* Tokens of digit strings (token_one, fpe mode, over FF1) with an AES binding of the target's
 * own (a clear AES-128 key, OpenSSL), as /v1/tokens/tokenize and /detokenize run them.
 *
 * Input: a flags byte (bit 0: PAN format, bit 1: luhn, bit 2: detokenize first), the leading
 * and trailing counts (modulo 64: beyond the API's 0–19 too, which token_one must refuse by
 * itself), then the value.
 * Properties: a value is refused with a reason, or gives a token of the same length, of
 * digits only, with the preserved digits in place and, with luhn, passing the Luhn check; a
 * token is never the value; reversing the token gives the value back (and tokenizing what a
 * token reverses to gives the token back). */
#include <openssl/evp.h>

#include "fuzz.h"
#include "hsmgw/tokens.h"

static const uint8_t aes_key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
				    0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};

static hg_err aes_run(const EVP_CIPHER *ci, const uint8_t *in, size_t n, uint8_t *out)
{
	static const uint8_t zero[16];
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	bool ok = x && EVP_EncryptInit_ex(x, ci, NULL, aes_key, zero) && EVP_CIPHER_CTX_set_padding(x, 0) &&
		  EVP_EncryptUpdate(x, out, &l1, in, (int)n) && EVP_EncryptFinal_ex(x, out + l1, &l2);
	EVP_CIPHER_CTX_free(x);
	if (!ok || n == 0 || n % 16)
		abort(); /* FF1 asks for whole blocks only */
	return HG_OK;
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

static bool luhn_ok(const char *d, size_t n)
{
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v = (unsigned)(d[n - 1 - i] - '0');
		sum += i % 2 ? (2 * v > 9 ? 2 * v - 9 : 2 * v) : v;
	}
	return sum % 10 == 0;
}

/* What a token (or a value a token reversed to) promises about in → out. */
static void check_pair(const struct hg_token_spec *s, const char *in, const char *out)
{
	size_t n = strlen(in);
	FUZZ_ASSERT(strlen(out) == n);
	FUZZ_ASSERT(strspn(out, "0123456789") == n);
	FUZZ_ASSERT(memcmp(out, in, s->leading) == 0);
	FUZZ_ASSERT(memcmp(out + n - s->trailing, in + n - s->trailing, s->trailing) == 0);
	FUZZ_ASSERT(strcmp(out, in) != 0);
	if (s->luhn)
		FUZZ_ASSERT(luhn_ok(out, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	struct hg_token_spec s = {.mode = HG_TOKEN_FPE,
				  .pan = data[0] & 1,
				  .luhn = data[0] & 2,
				  .leading = data[1] % 64,
				  .trailing = data[2] % 64,
				  /* The longest tenant name the tweak takes (63), and then some. */
				  .tenant = "tenant-with-a-name-longer-than-the-sixty-three-bytes-the-tweak-keeps"};
	memset(s.key_id.b, 0xa5, sizeof s.key_id.b);
	bool reverse_first = data[0] & 4;
	char *in = fuzz_cstr(data + 3, size - 3);
	size_t n = strlen(in);
	char *out = malloc(n + 1), *back = malloc(n + 1);
	const struct hg_token_keys k = {.aes = &aes};
	const char *why = NULL;
	hg_err e = token_one(&k, &s, reverse_first, in, out, &why);
	FUZZ_ASSERT(e == HG_OK || e == HG_E_INVALID);
	FUZZ_ASSERT(e != HG_OK || (s.leading <= HG_TOKEN_MAX_PRESERVE && s.trailing <= HG_TOKEN_MAX_PRESERVE));
	if (e != HG_OK) {
		FUZZ_ASSERT(why != NULL);
		FUZZ_ASSERT(n < 4 || strstr(why, in) == NULL); /* the reason never quotes the value */
	} else {
		check_pair(&s, in, out);
		FUZZ_ASSERT(token_one(&k, &s, !reverse_first, out, back, &why) == HG_OK);
		FUZZ_ASSERT(strcmp(back, in) == 0);
	}
	free(back);
	free(out);
	free(in);
	return 0;
}
