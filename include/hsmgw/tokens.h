/* hsmgw — tokens. This part: FF1 (NIST SP 800-38G, §5.1) for radix 10, the reversible
 * format-preserving cipher behind `fpe` tokens.
 *
 * FF1 needs only the forward AES function: its PRF is AES-CBC-MAC with a zero IV and the
 * longer S blocks are AES-ECB, for encryption and decryption alike. Those two operations
 * are a small callback interface (struct hg_ff1_aes), so the Feistel rounds and the
 * numeral arithmetic do not know where the key lives; ff1_hsm_bind gives the gateway's
 * binding, which runs them in the HSM (p11_block on an AES key that has the encrypt usage
 * only). Buffers that held digits of the input, the output or a round are wiped with
 * OPENSSL_cleanse. */
#ifndef HSMGW_TOKENS_H
#define HSMGW_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "hsmgw/error.h"
#include "hsmgw/util.h"

struct hg_p11;

/* Input lengths in digits. SP 800-38G (2016) allows radix^minlen ≥ 100, i.e. 2 digits for
 * radix 10; its Revision 1 draft raises the domain to 10^6 (6 digits): a caller that
 * tokenizes should hold to that (HG_FF1_SAFE_MIN_LEN). 64 digits keep every number in the
 * rounds under 2^224 and exercise S longer than one block (from 61 digits on). */
#define HG_FF1_MIN_LEN      2
#define HG_FF1_SAFE_MIN_LEN 6
#define HG_FF1_MAX_LEN      64
/* Longest tweak, in bytes (SP 800-38G leaves maxTlen to the implementation). */
#define HG_FF1_TWEAK_MAX 128

/* The block cipher FF1 runs on: AES-128, -192 or -256 under a key the binding holds.
 * Both functions encrypt n bytes (a positive multiple of 16) without padding into out, which
 * may be in; they return HG_OK or the binding's error, which FF1 passes on unchanged. */
struct hg_ff1_aes {
	void *ctx;
	/* AES-CBC from a zero IV: out receives every ciphertext block (FF1 keeps the last). */
	hg_err (*cbc)(void *ctx, const uint8_t *in, size_t n, uint8_t *out);
	/* AES-ECB. */
	hg_err (*ecb)(void *ctx, const uint8_t *in, size_t n, uint8_t *out);
};

/* FF1.Encrypt (radix 10) of the n decimal digits at in (ASCII '0'…'9', not necessarily
 * NUL-terminated) under tweak (t bytes; NULL when t is 0). Writes n digits to out, without a
 * NUL; out may be in. A non-digit, n outside HG_FF1_MIN_LEN…HG_FF1_MAX_LEN or t above
 * HG_FF1_TWEAK_MAX is HG_E_INVALID; then, and on any error, out is left untouched. */
hg_err ff1_encrypt(const struct hg_ff1_aes *aes, const uint8_t *tweak, size_t t, const char *in, size_t n,
		   char *out) HG_WARN_UNUSED;
/* FF1.Decrypt, the inverse of ff1_encrypt under the same key and tweak; same contract. */
hg_err ff1_decrypt(const struct hg_ff1_aes *aes, const uint8_t *tweak, size_t t, const char *in, size_t n,
		   char *out) HG_WARN_UNUSED;

/* The HSM binding: the AES key with CKA_ID id, through p11_block (HG_BLK_AES, encrypt). A key
 * without the encrypt usage is HG_E_KEY_USAGE, as p11_block says. The binding keeps p and a
 * copy of id; it must outlive the calls made with it. Returns &b->aes. */
struct hg_ff1_hsm {
	struct hg_ff1_aes aes;
	struct hg_p11 *p;
	hg_uuid id;
};
const struct hg_ff1_aes *ff1_hsm_bind(struct hg_ff1_hsm *b, struct hg_p11 *p, const hg_uuid *id);

/* ---- tokens of digit strings (token.c) ----
 *
 * A value is split into the digits kept in clear (the first `leading`, the last `trailing`)
 * and the middle, which is tokenized. With luhn, the value must pass the Luhn check; the last
 * digit of the middle is then not tokenized but chosen so that the token passes it too.
 *
 * fpe (an AES key): the tokenized digits are FF1⁻¹(FF1(x) + 1 mod 10^m), a keyed permutation of
 * the m-digit domain that is one single cycle, so no value is its own token and every token
 * has exactly one value; reversing is FF1⁻¹(FF1(t) − 1). deterministic (an HMAC key): digits
 * drawn without modulo bias (bytes below 250, modulo 10) from HMAC-SHA256 in the HSM over the
 * tweak, the digits and a counter; when they equal the input's, the counter moves on. Not
 * reversible.
 *
 * The tweak (FF1's, and the HMAC's prefix) binds the token to the tenant, the key and the
 * options: "HGT1" ‖ the key's 16-byte UUID ‖ tenant length (1 byte) ‖ tenant ‖ mode byte ‖
 * format byte ‖ leading ‖ trailing ‖ luhn ‖ the leading digits ‖ "|" ‖ the trailing digits. */
enum hg_token_mode { HG_TOKEN_FPE, HG_TOKEN_DETERMINISTIC };
#define HG_TOKEN_MIN_SECRET 5 /* digits actually tokenized, at least (a domain of 10^5) */
/* Digits kept in clear at either end, at most: the tweak holds them both (HG_FF1_TWEAK_MAX). */
#define HG_TOKEN_MAX_PRESERVE 19

struct hg_token_spec {
	enum hg_token_mode mode;
	bool pan;                   /* PAN: 12–19 digits; otherwise any 6–64 digits */
	unsigned leading, trailing; /* digits kept in clear, each 0…HG_TOKEN_MAX_PRESERVE */
	bool luhn;
	const char *tenant;
	hg_uuid key_id; /* the key's UUID (not a version's): tokens survive nothing else */
};

/* Tokenizes (or, fpe only, reverses) one NUL-terminated value into out (the same length, NUL-
 * terminated). aes is the FF1 binding (fpe); hmac_p/hmac_id the HSM and HMAC key version
 * (deterministic). A value that does not fit the spec is HG_E_INVALID with *why set to a
 * static text that never quotes the value; the HSM's errors pass on. */
struct hg_token_keys {
	const struct hg_ff1_aes *aes;
	struct hg_p11 *p;
	const hg_uuid *hmac_id;
};
hg_err token_one(const struct hg_token_keys *k, const struct hg_token_spec *s, bool reverse, const char *in, char *out,
		 const char **why) HG_WARN_UNUSED;

#endif
