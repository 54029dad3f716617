/* hsmgw — payment cryptography. This part: ISO 9564-1 PIN block formats as pure functions
 * (no keys): building and strictly checking the clear PIN field and PAN field of formats
 * 0, 1, 3 (8 bytes, TDES) and 4 (16 bytes, AES). Encryption and translation sit on top of
 * them and use the HSM.
 *
 * Every decoding failure is one answer, HG_E_INVALID, whatever check failed (control nibble,
 * length, digit, fill, PAN): a caller, or an attacker probing with chosen blocks, learns
 * nothing about which part was wrong. Buffers that held a PIN are wiped with
 * OPENSSL_cleanse. */
#ifndef HSMGW_PAYMENTS_H
#define HSMGW_PAYMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "hsmgw/error.h"
#include "hsmgw/util.h"

enum hg_pin_format { HG_PIN_ISO0, HG_PIN_ISO1, HG_PIN_ISO3, HG_PIN_ISO4, HG_PIN_FORMAT_COUNT };

#define HG_PIN_MIN 4
#define HG_PIN_MAX 12

/* "ISO-0" … "ISO-4" ↔ the enum. Returns false for another name. */
bool pin_format_parse(const char *name, enum hg_pin_format *out);
const char *pin_format_name(enum hg_pin_format f);
/* 8 for formats 0, 1, 3; 16 for format 4. */
size_t pin_block_len(enum hg_pin_format f);
/* Whether the format binds the block to the PAN (0, 3, 4: yes; 1: no). ISO 9564 forbids
 * translating a PAN-bound block to format 1. */
bool pin_format_pan_bound(enum hg_pin_format f);

/* Whether s (NULL is false) has min to max characters, all decimal digits (or, with hex,
 * hexadecimal digits of either case). */
bool pay_digits(const char *s, size_t min, size_t max, bool hex);
/* A PAN as ISO 9564 takes it: 12 to 19 decimal digits. */
bool pin_pan_ok(const char *pan);

/* Formats 0, 1, 3: the clear 8-byte PIN block for pin (4–12 digits) and, for 0 and 3, pan.
 * Fill digits of 1 and 3 are random. */
hg_err pin_block_encode(enum hg_pin_format f, const char *pin, const char *pan, uint8_t out[8]) HG_WARN_UNUSED;
/* The reverse, strictly; pin receives the digits, NUL-terminated. */
hg_err pin_block_decode(enum hg_pin_format f, const uint8_t in[8], const char *pan,
			char pin[HG_PIN_MAX + 1]) HG_WARN_UNUSED;

/* Format 4 (ISO 9564-1:2017) has two 16-byte fields that are combined under AES:
 *   block = E(K, E(K, pin_field) XOR pan_field);  pin_field = D(K, D(K, block) XOR pan_field). */
hg_err pin_iso4_pin_field(const char *pin, uint8_t out[16]) HG_WARN_UNUSED;
hg_err pin_iso4_pan_field(const char *pan, uint8_t out[16]) HG_WARN_UNUSED;
hg_err pin_iso4_pin_from_field(const uint8_t field[16], char pin[HG_PIN_MAX + 1]) HG_WARN_UNUSED;

/* ---- the algorithms on keys ----
 *
 * The payment algorithms below are written once, over the block cipher operations of a
 * key provider (struct hg_pay_ops): the gateway's provider runs them in the HSM through
 * PKCS#11 (p11_block), the unit tests' provider runs them with OpenSSL over known keys. A
 * key is an opaque reference that only the provider understands.
 *
 * With a general-purpose PKCS#11 HSM, PIN blocks are deciphered in the gateway's memory:
 * the clear PIN exists for the instant of an operation in a buffer of the calling thread's
 * own, locked in RAM (mlock) and kept out of core dumps (MADV_DONTDUMP), and is wiped before
 * the function returns. A payment HSM that
 * translates and verifies PINs inside its own boundary would implement pay_pin_translate,
 * pay_pin_verify and pay_pin_generate itself: they are the interface the API layer uses,
 * and nothing above them sees a clear PIN. */

struct hg_pay_key {
	const void *ref; /* the provider's reference to the key (the gateway: a version's UUID) */
	bool aes;        /* an AES key (16-byte blocks); otherwise TDES (8-byte blocks) */
	bool halves;     /* a 2-key TDES key held as its single-DES halves (CVV, ISO 9797-1 alg 3) */
};

/* Which cipher a raw block operation uses. */
enum hg_pay_cipher {
	HG_PAY_WHOLE,     /* the whole key: AES or TDES (not for a key held as halves) */
	HG_PAY_DES_LEFT,  /* single DES with the left half of a key held as halves: encrypt only */
	HG_PAY_DES_RIGHT, /* single DES with the right half: decrypt only */
};

struct hg_pay_ops {
	void *ctx;
	/* Encrypts or decrypts n bytes (whole blocks) in ECB, or in CBC from iv when iv is not
	 * NULL, without padding; in and out may be the same buffer. */
	hg_err (*block)(void *ctx, const struct hg_pay_key *key, enum hg_pay_cipher c, bool encrypt, const uint8_t *iv,
			const uint8_t *in, size_t n, uint8_t *out);
};

/* Translates an encrypted PIN block from (in_key, in_fmt) to (out_key, out_fmt). Formats 0,
 * 1, 3 need TDES keys, format 4 an AES key (HG_E_INVALID otherwise, before anything is
 * deciphered). pan (12–19 digits) is needed by formats 0, 3 and 4 on either side. A
 * PAN-bound block is never translated to format 1 (HG_E_INVALID). A block that does not
 * decipher to a valid PIN block of in_fmt for this PAN is HG_E_PIN_BLOCK, whatever was
 * wrong (the same answer for every check, so it is no oracle). out receives pin_block_len(out_fmt) bytes. */
hg_err pay_pin_translate(const struct hg_pay_ops *ops, const struct hg_pay_key *in_key, enum hg_pin_format in_fmt,
			 const uint8_t *block, const struct hg_pay_key *out_key, enum hg_pin_format out_fmt,
			 const char *pan, uint8_t out[16]) HG_WARN_UNUSED;

/* PIN verification methods. */
enum hg_pin_method { HG_PIN_IBM3624, HG_PIN_VISA_PVV };

struct hg_pin_verify_params {
	enum hg_pin_method method;
	const struct hg_pay_key *key; /* the PIN verification key (PVK pair or PIN generation key) */
	/* VISA PVV: the key index 0–6. */
	int pvki;
	/* IBM 3624: 16 decimal digits (the default table 0123456789012345 when NULL), and the
	 * validation data: 16 hexadecimal digits (NULL: the PAN's 12 rightmost digits before the
	 * check digit, then "FFFF"). */
	const char *decimalization_table;
	const char *validation_data;
};

/* VISA PVV over an already deciphered PIN: the transformed security parameter (TSP) is the
 * 11 rightmost PAN digits before the check digit, the PVKI and the 4 leftmost PIN digits;
 * it is TDES-encrypted with the PVK and decimalised (digits first, then A–F minus 10); the
 * first four are the PVV. pvv receives 4 digits and a NUL. */
hg_err pay_pvv(const struct hg_pay_ops *ops, const struct hg_pay_key *pvk, const char *pan, int pvki, const char *pin,
	       char pvv[5]) HG_WARN_UNUSED;
/* IBM 3624 natural PIN of n digits (4–12): the validation data encrypted with the key,
 * decimalised through the table, the leftmost n digits. natural receives n digits and a NUL. */
hg_err pay_ibm3624_natural(const struct hg_pay_ops *ops, const struct hg_pay_key *key, const char *validation_data,
			   const char *decimalization_table, size_t n, char natural[HG_PIN_MAX + 1]) HG_WARN_UNUSED;

/* Deciphers the PIN block (as pay_pin_translate reads it) and computes its PVV, or its IBM
 * 3624 offset (the PIN minus the natural PIN, digit by digit modulo 10; as many digits as
 * the PIN). out receives the digits and a NUL. */
hg_err pay_pin_generate(const struct hg_pay_ops *ops, const struct hg_pay_key *pin_key, enum hg_pin_format fmt,
			const uint8_t *block, const char *pan, const struct hg_pin_verify_params *vp,
			char out[HG_PIN_MAX + 1]) HG_WARN_UNUSED;
/* Deciphers the PIN block and checks it against `expected` (a PVV of 4 digits, or an IBM 3624
 * offset of the PIN's length), in constant time over the digits: *valid. */
hg_err pay_pin_verify(const struct hg_pay_ops *ops, const struct hg_pay_key *pin_key, enum hg_pin_format fmt,
		      const uint8_t *block, const char *pan, const struct hg_pin_verify_params *vp,
		      const char *expected, bool *valid) HG_WARN_UNUSED;

/* Card verification values (CVV, CVV2 with service code 000, iCVV with 999) with a CVK pair
 * held as halves: PAN (12–19 digits), expiry YYMM and service code (3 digits) are
 * concatenated, padded with zeros to 32 digits, split in two blocks B1, B2; then
 * TDES(E_left(B1) XOR B2), decimalised; the first 3 digits. cvv receives them and a NUL. */
hg_err pay_cvv(const struct hg_pay_ops *ops, const struct hg_pay_key *cvk, const char *pan, const char *expiry,
	       const char *service_code, char cvv[4]) HG_WARN_UNUSED;

/* ISO 9797-1 MACs with DES-based keys. */
enum hg_pay_mac_alg { HG_MAC_ISO9797_ALG1, HG_MAC_ISO9797_ALG3 };
enum hg_pay_padding { HG_PAD_M1, HG_PAD_M2 };
#define HG_PAY_MAC_MAX_MSG 8192

/* Algorithm 1 (CBC-MAC with the whole TDES key) or 3 (the retail MAC: CBC-MAC with the left
 * half, then decrypt with the right half and encrypt with the left one on the last block),
 * after padding method 1 (zeros to a whole block; an empty message is one zero block) or 2
 * (0x80 then zeros). The key must be held as halves. mac receives 8 bytes. Messages up to
 * HG_PAY_MAC_MAX_MSG bytes. */
hg_err pay_mac_iso9797(const struct hg_pay_ops *ops, const struct hg_pay_key *key, enum hg_pay_mac_alg alg,
		       enum hg_pay_padding pad, const uint8_t *msg, size_t n, uint8_t mac[8]) HG_WARN_UNUSED;

#endif
