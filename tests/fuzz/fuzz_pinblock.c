/* PIN block decoding (ISO 9564-1 formats 0, 1, 3, 4) and the PIN operations over it, with a
 * key provider of the target's own (clear TDES and AES keys, OpenSSL), as the unit tests run
 * payments without an HSM.
 *
 * Input: one selector byte, 16 bytes of block, then NUL-separated PAN, expected value,
 * decimalisation table and validation data (absent ones are NULL).
 * Properties: a clear block decodes to 4–12 digits or is refused alike (HG_E_INVALID);
 * a decoded PIN encodes back to a block that decodes to the same PIN (format 0, whose fill is
 * fixed, to the same block); translation answers OK, HG_E_INVALID or HG_E_PIN_BLOCK, and a
 * translated block holds the same PIN; a generated PVV or offset verifies. */
#include <openssl/evp.h>

#include "fuzz.h"
#include "hsmgw/payments.h"

static const uint8_t tdes_key[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
				     0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
static const uint8_t tdes_key2[16] = {0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78,
				      0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0};
static const uint8_t aes_key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
				    0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};

/* The provider: key->ref is the clear key (16 bytes); ECB or CBC without padding. */
static hg_err ossl_block(void *ctx, const struct hg_pay_key *key, enum hg_pay_cipher c, bool encrypt, const uint8_t *iv,
			 const uint8_t *in, size_t n, uint8_t *out)
{
	(void)ctx;
	if (c != HG_PAY_WHOLE || key->halves || n == 0 || n % (key->aes ? 16 : 8) != 0)
		return HG_E_INVALID;
	const EVP_CIPHER *ci =
	    key->aes ? (iv ? EVP_aes_128_cbc() : EVP_aes_128_ecb()) : (iv ? EVP_des_ede_cbc() : EVP_des_ede_ecb());
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	bool ok = x && EVP_CipherInit_ex(x, ci, NULL, key->ref, iv, encrypt) && EVP_CIPHER_CTX_set_padding(x, 0) &&
		  EVP_CipherUpdate(x, out, &l1, in, (int)n) && EVP_CipherFinal_ex(x, out + l1, &l2);
	EVP_CIPHER_CTX_free(x);
	if (!ok)
		abort(); /* the target's own provider must not fail */
	return HG_OK;
}

static const struct hg_pay_ops ops = {NULL, ossl_block};
static const struct hg_pay_key k_tdes = {tdes_key, false, false}, k_tdes2 = {tdes_key2, false, false},
			       k_aes = {aes_key, true, false}, k_halves = {tdes_key, false, true};

static const struct hg_pay_key *key_for(enum hg_pin_format f, unsigned pick)
{
	if (pick == 3)
		return &k_halves; /* never fits a PIN format */
	if (pick == 2)
		return f == HG_PIN_ISO4 ? &k_tdes : &k_aes; /* the wrong cipher */
	return f == HG_PIN_ISO4 ? &k_aes : pick ? &k_tdes2 : &k_tdes;
}

/* The PIN in an encrypted block, deciphered with the clear key as payments.h describes;
 * false if the block is not valid. */
static bool pin_of(const struct hg_pay_key *k, enum hg_pin_format f, const uint8_t *block, const char *pan,
		   char pin[HG_PIN_MAX + 1])
{
	uint8_t clear[16], field[16];
	if (f != HG_PIN_ISO4) {
		(void)ossl_block(NULL, k, HG_PAY_WHOLE, false, NULL, block, 8, clear);
		return pin_block_decode(f, clear, pan, pin) == HG_OK;
	}
	if (pin_iso4_pan_field(pan, field) != HG_OK)
		return false;
	(void)ossl_block(NULL, k, HG_PAY_WHOLE, false, NULL, block, 16, clear);
	for (int i = 0; i < 16; i++)
		clear[i] ^= field[i];
	(void)ossl_block(NULL, k, HG_PAY_WHOLE, false, NULL, clear, 16, clear);
	return pin_iso4_pin_from_field(clear, pin) == HG_OK;
}

static void clear_blocks(const uint8_t *block, const char *pan)
{
	char pin[HG_PIN_MAX + 1], again[HG_PIN_MAX + 1];
	uint8_t out[16];
	for (int f = HG_PIN_ISO0; f < HG_PIN_FORMAT_COUNT; f++) {
		hg_err e = f == HG_PIN_ISO4 ? pin_iso4_pin_from_field(block, pin)
					    : pin_block_decode((enum hg_pin_format)f, block, pan, pin);
		FUZZ_ASSERT(e == HG_OK || e == HG_E_INVALID);
		if (e != HG_OK)
			continue;
		FUZZ_ASSERT(pay_digits(pin, HG_PIN_MIN, HG_PIN_MAX, false));
		if (f == HG_PIN_ISO4) {
			FUZZ_ASSERT(pin_iso4_pin_field(pin, out) == HG_OK);
			FUZZ_ASSERT(memcmp(out, block, 8) == 0); /* the PIN half; the rest is random */
			FUZZ_ASSERT(pin_iso4_pin_from_field(out, again) == HG_OK && strcmp(again, pin) == 0);
			continue;
		}
		FUZZ_ASSERT(pin_block_encode((enum hg_pin_format)f, pin, pan, out) == HG_OK);
		FUZZ_ASSERT(pin_block_decode((enum hg_pin_format)f, out, pan, again) == HG_OK &&
			    strcmp(again, pin) == 0);
		if (f == HG_PIN_ISO0)
			FUZZ_ASSERT(memcmp(out, block, 8) == 0);
	}
}

static void translate(unsigned sel, const uint8_t *block, const char *pan)
{
	enum hg_pin_format inf = (enum hg_pin_format)(sel & 3), outf = (enum hg_pin_format)(sel >> 2 & 3);
	const struct hg_pay_key *ik = key_for(inf, sel >> 4 & 3), *ok = key_for(outf, sel >> 6 & 1);
	uint8_t out[16];
	hg_err e = pay_pin_translate(&ops, ik, inf, block, ok, outf, pan, out);
	FUZZ_ASSERT(e == HG_OK || e == HG_E_INVALID || e == HG_E_PIN_BLOCK);
	if (e != HG_OK)
		return;
	char p1[HG_PIN_MAX + 1], p2[HG_PIN_MAX + 1];
	FUZZ_ASSERT(pin_of(ik, inf, block, pan, p1));
	FUZZ_ASSERT(pin_of(ok, outf, out, pan, p2));
	FUZZ_ASSERT(strcmp(p1, p2) == 0);
}

static void verification(unsigned sel, const uint8_t *block, const char *pan, const char *expected, const char *dectab,
			 const char *valdata)
{
	enum hg_pin_format f = (enum hg_pin_format)(sel & 3);
	struct hg_pin_verify_params vp = {.method = sel & 0x80 ? HG_PIN_VISA_PVV : HG_PIN_IBM3624,
					  .key = sel & 0x40 ? &k_tdes2 : &k_tdes,
					  .pvki = (int)(sel >> 2 & 7),
					  .decimalization_table = dectab,
					  .validation_data = valdata};
	const struct hg_pay_key *pk = key_for(f, sel >> 5 & 1);
	char out[HG_PIN_MAX + 1];
	hg_err e = pay_pin_generate(&ops, pk, f, block, pan, &vp, out);
	FUZZ_ASSERT(e == HG_OK || e == HG_E_INVALID || e == HG_E_PIN_BLOCK);
	bool valid = true;
	if (e == HG_OK) {
		FUZZ_ASSERT(pay_digits(out, 4, HG_PIN_MAX, false));
		FUZZ_ASSERT(pay_pin_verify(&ops, pk, f, block, pan, &vp, out, &valid) == HG_OK && valid);
	}
	if (expected) {
		e = pay_pin_verify(&ops, pk, f, block, pan, &vp, expected, &valid);
		FUZZ_ASSERT(e == HG_OK || e == HG_E_INVALID || e == HG_E_PIN_BLOCK);
		FUZZ_ASSERT(e == HG_OK || !valid);
	}
}

/* The next NUL-terminated string of the rest of the input, or NULL when it is used up. */
static const char *next_str(const char **p, const char *end)
{
	if (*p >= end)
		return NULL;
	const char *s = *p;
	*p += strlen(s) + 1;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 17)
		return 0;
	unsigned sel = data[0];
	uint8_t *block = fuzz_copy(data + 1, 16);
	char *rest = fuzz_cstr(data + 17, size - 17);
	const char *p = rest, *end = rest + (size - 17);
	const char *pan = next_str(&p, end), *expected = next_str(&p, end), *dectab = next_str(&p, end),
		   *valdata = next_str(&p, end);
	clear_blocks(block, pan);
	translate(sel, block, pan);
	verification(sel, block, pan, expected, dectab, valdata);
	free(rest);
	free(block);
	return 0;
}
