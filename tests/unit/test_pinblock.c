/* ISO 9564-1 PIN block formats: published vectors, round trips and strict decoding. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "hsmgw/payments.h"
#include "unit.h"

static void hex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* Vectors: (1) EFTlab, "Complete list of PIN blocks" (eftlab.com.au knowledge base), ISO-0:
 * PAN 43219876543210987, PIN 1234 → 0412AC89ABCDEF67. (2) The ANSI X9.8 / ISO format 0
 * example in IBM's and HP NonStop's PIN block documentation: PAN 4000001234562, PIN 92389 →
 * 0592789FFFEDCBA9. Format 0 is deterministic, so encoding must give them exactly. */
START_TEST(test_iso0_encodes_the_published_vectors)
{
	uint8_t b[8];
	char h[17];
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO0, "1234", "43219876543210987", b), HG_OK);
	hex_encode(b, 8, h);
	ck_assert_str_eq(h, "0412AC89ABCDEF67");
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO0, "92389", "4000001234562", b), HG_OK);
	hex_encode(b, 8, h);
	ck_assert_str_eq(h, "0592789FFFEDCBA9");
}
END_TEST

START_TEST(test_iso0_decodes_the_published_vector)
{
	uint8_t b[8];
	char pin[HG_PIN_MAX + 1];
	hex("0412AC89ABCDEF67", b, 8);
	ck_assert_int_eq(pin_block_decode(HG_PIN_ISO0, b, "43219876543210987", pin), HG_OK);
	ck_assert_str_eq(pin, "1234");
}
END_TEST

START_TEST(test_formats_1_and_3_round_trip_with_their_fill_rules)
{
	uint8_t b[8], c[8];
	char pin[HG_PIN_MAX + 1];
	const char *pan = "4111111111111111";
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO1, "987654321", NULL, b), HG_OK);
	ck_assert_uint_eq(b[0], 0x19);
	ck_assert_int_eq(pin_block_decode(HG_PIN_ISO1, b, NULL, pin), HG_OK);
	ck_assert_str_eq(pin, "987654321");
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO3, "1234", pan, b), HG_OK);
	ck_assert_int_eq(pin_block_decode(HG_PIN_ISO3, b, pan, pin), HG_OK);
	ck_assert_str_eq(pin, "1234");
	/* Random fills: two encodings of one PIN differ (with overwhelming probability). */
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO3, "1234", pan, c), HG_OK);
	ck_assert(memcmp(b, c, 8) != 0);
}
END_TEST

START_TEST(test_strict_decoding_refuses_every_malformed_block_alike)
{
	char pin[HG_PIN_MAX + 1];
	const char *pan = "43219876543210987";
	static const char *bad[] = {
	    "1412AC89ABCDEF67", /* wrong control nibble */
	    "0312AC89ABCDEF67", /* PIN length 3 */
	    "0D12AC89ABCDEF67", /* PIN length 13 */
	    "0412AC89ABCDEF66", /* a fill nibble that is not F */
	    "041AAC89ABCDEF67", /* a PIN digit that is not a digit */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		uint8_t b[8];
		hex(bad[i], b, 8);
		ck_assert_msg(pin_block_decode(HG_PIN_ISO0, b, pan, pin) == HG_E_INVALID, "accepted %s", bad[i]);
	}
	/* The right block under another PAN does not decode. */
	uint8_t b[8];
	hex("0412AC89ABCDEF67", b, 8);
	ck_assert_int_eq(pin_block_decode(HG_PIN_ISO0, b, "4111111111111111", pin), HG_E_INVALID);
	/* Format 3 fills must be A–F. */
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO0, "1234", pan, b), HG_OK);
	b[0] = (uint8_t)((b[0] & 0x0f) | 0x30); /* an ISO-0 block relabelled as ISO-3 has F fills: fine */
	ck_assert_int_eq(pin_block_decode(HG_PIN_ISO3, b, pan, pin), HG_OK);
	b[7] ^= 0x0f; /* a fill nibble below A */
	ck_assert_int_eq(pin_block_decode(HG_PIN_ISO3, b, pan, pin), HG_E_INVALID);
}
END_TEST

START_TEST(test_encoding_refuses_bad_pins_and_pans)
{
	uint8_t b[8];
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO0, "123", "43219876543210987", b), HG_E_INVALID);
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO0, "1234567890123", "43219876543210987", b), HG_E_INVALID);
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO0, "12a4", "43219876543210987", b), HG_E_INVALID);
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO0, "1234", "12345678901", b), HG_E_INVALID);
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO3, "1234", "4321-9876543210987", b), HG_E_INVALID);
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO4, "1234", "43219876543210987", b), HG_E_INVALID);
}
END_TEST

START_TEST(test_short_pan_is_right_justified_in_the_pan_field)
{
	/* A 12-digit PAN has 11 digits before its check digit: one leading zero in the field.
	 * PIN field 041234FFFFFFFFFF ⊕ PAN field 0000012345678901 = 041235DCBA9876FE. */
	uint8_t b[8];
	char h[17];
	ck_assert_int_eq(pin_block_encode(HG_PIN_ISO0, "1234", "123456789012", b), HG_OK);
	hex_encode(b, 8, h);
	ck_assert_str_eq(h, "041235DCBA9876FE");
}
END_TEST

/* Format 4 with a software AES in the test: the composition of the two fields that the HSM
 * will perform, E(K, E(K, P) ⊕ A), reverses to the PIN. */
static void aes_ecb(const uint8_t key[16], const uint8_t in[16], uint8_t out[16], bool enc)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0;
	EVP_CipherInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL, enc);
	EVP_CIPHER_CTX_set_padding(c, 0);
	EVP_CipherUpdate(c, out, &l, in, 16);
	EVP_CIPHER_CTX_free(c);
}

START_TEST(test_iso4_fields_compose_and_reverse)
{
	const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	const char *pan = "1234567890123456789";
	uint8_t pf[16], af[16], t[16], blk[16];
	char pin[HG_PIN_MAX + 1], h[33];
	ck_assert_int_eq(pin_iso4_pin_field("1234", pf), HG_OK);
	hex_encode(pf, 8, h);
	ck_assert_str_eq(h, "441234AAAAAAAAAA");
	ck_assert_int_eq(pin_iso4_pan_field(pan, af), HG_OK);
	hex_encode(af, 16, h);
	ck_assert_str_eq(h, "71234567890123456789000000000000");
	aes_ecb(key, pf, t, true);
	for (int i = 0; i < 16; i++)
		t[i] ^= af[i];
	aes_ecb(key, t, blk, true);
	aes_ecb(key, blk, t, false);
	for (int i = 0; i < 16; i++)
		t[i] ^= af[i];
	aes_ecb(key, t, pf, false);
	ck_assert_int_eq(pin_iso4_pin_from_field(pf, pin), HG_OK);
	ck_assert_str_eq(pin, "1234");
	pf[5] = 0xab; /* a fill that is not A */
	ck_assert_int_eq(pin_iso4_pin_from_field(pf, pin), HG_E_INVALID);
}
END_TEST

START_TEST(test_format_names_and_pan_binding)
{
	enum hg_pin_format f;
	ck_assert(pin_format_parse("ISO-4", &f) && f == HG_PIN_ISO4);
	ck_assert(!pin_format_parse("ISO-2", &f));
	ck_assert(pin_format_pan_bound(HG_PIN_ISO0) && pin_format_pan_bound(HG_PIN_ISO3) &&
		  pin_format_pan_bound(HG_PIN_ISO4) && !pin_format_pan_bound(HG_PIN_ISO1));
	ck_assert_uint_eq(pin_block_len(HG_PIN_ISO4), 16);
	ck_assert_uint_eq(pin_block_len(HG_PIN_ISO1), 8);
}
END_TEST

Suite *suite_pinblock(void)
{
	Suite *s = suite_create("pinblock");
	TCase *tc = tcase_create("pinblock");
	tcase_add_test(tc, test_iso0_encodes_the_published_vectors);
	tcase_add_test(tc, test_iso0_decodes_the_published_vector);
	tcase_add_test(tc, test_formats_1_and_3_round_trip_with_their_fill_rules);
	tcase_add_test(tc, test_strict_decoding_refuses_every_malformed_block_alike);
	tcase_add_test(tc, test_encoding_refuses_bad_pins_and_pans);
	tcase_add_test(tc, test_short_pan_is_right_justified_in_the_pan_field);
	tcase_add_test(tc, test_iso4_fields_compose_and_reverse);
	tcase_add_test(tc, test_format_names_and_pan_binding);
	suite_add_tcase(s, tc);
	return s;
}
