/* Tokens of digit strings: the split into clear and tokenized digits, the Luhn digit, the
 * tweak, the single-cycle FF1 permutation and the deterministic HMAC digits (tokens.h). */
#include <string.h>

#include <openssl/crypto.h>

#include "hsmgw/p11.h"
#include "hsmgw/tokens.h"

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Whether the n digits pass the Luhn check. */
static bool luhn_ok(const char *d, size_t n)
{
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v = (unsigned)(d[n - 1 - i] - '0');
		if (i % 2) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

/* Sets d[pos] to the digit that makes the n digits pass the Luhn check. */
static void luhn_fix(char *d, size_t n, size_t pos)
{
	for (char c = '0'; c <= '9'; c++) {
		d[pos] = c;
		if (luhn_ok(d, n))
			return;
	}
}

/* The longest tweak: "HGT1", the key's UUID, the tenant's length and at most 63 bytes of it,
 * five option bytes, the preserved digits and "|". */
_Static_assert(4 + 16 + 1 + 63 + 5 + 2 * HG_TOKEN_MAX_PRESERVE + 1 <= HG_FF1_TWEAK_MAX, "a tweak must fit its buffer");

static size_t tweak_of(const struct hg_token_spec *s, const char *in, size_t n, uint8_t *t)
{
	size_t k = 0, tl = strlen(s->tenant);
	if (tl > 63)
		tl = 63;
	memcpy(t, "HGT1", 4);
	k = 4;
	memcpy(t + k, s->key_id.b, 16);
	k += 16;
	t[k++] = (uint8_t)tl;
	memcpy(t + k, s->tenant, tl);
	k += tl;
	t[k++] = s->mode == HG_TOKEN_FPE ? 'F' : 'D';
	t[k++] = s->pan ? 'P' : 'N';
	t[k++] = (uint8_t)s->leading;
	t[k++] = (uint8_t)s->trailing;
	t[k++] = s->luhn;
	memcpy(t + k, in, s->leading);
	k += s->leading;
	t[k++] = '|';
	memcpy(t + k, in + n - s->trailing, s->trailing);
	k += s->trailing;
	return k;
}

/* x ± 1 modulo 10^m, on m decimal digits. */
static void step(char *x, size_t m, bool up)
{
	for (size_t i = m; i-- > 0;) {
		if (up ? x[i] != '9' : x[i] != '0') {
			x[i] = (char)(x[i] + (up ? 1 : -1));
			return;
		}
		x[i] = up ? '0' : '9';
	}
}

/* G(x) = FF1⁻¹(FF1(x) + 1) or its inverse, in place on m digits. */
static hg_err fpe(const struct hg_ff1_aes *aes, const uint8_t *tw, size_t tl, char *x, size_t m, bool reverse)
{
	hg_err e = ff1_encrypt(aes, tw, tl, x, m, x);
	if (e == HG_OK) {
		step(x, m, !reverse);
		e = ff1_decrypt(aes, tw, tl, x, m, x);
	}
	return e;
}

/* m digits into out from HMAC(tweak ‖ 0 ‖ digits ‖ counter ‖ block), bytes ≥ 250 skipped. */
static hg_err hmac_digits(const struct hg_token_keys *k, const uint8_t *tw, size_t tl, const char *x, size_t m,
			  unsigned counter, char *out)
{
	uint8_t msg[256 + 2 * HG_FF1_MAX_LEN], mac[HG_SIG_MAX];
	size_t got = 0, n = 0;
	memcpy(msg, tw, tl);
	msg[tl] = 0;
	memcpy(msg + tl + 1, x, m);
	size_t base = tl + 1 + m;
	hg_err e = HG_OK;
	for (unsigned block = 0; got < m && e == HG_OK && block < 64; block++) {
		msg[base] = (uint8_t)counter;
		msg[base + 1] = (uint8_t)block;
		e = p11_sign(k->p, k->hmac_id, HG_MAC_HMAC_SHA256, msg, base + 2, false, mac, &n);
		for (size_t i = 0; e == HG_OK && i < n && got < m; i++)
			if (mac[i] < 250)
				out[got++] = (char)('0' + mac[i] % 10);
	}
	OPENSSL_cleanse(msg, sizeof msg);
	OPENSSL_cleanse(mac, sizeof mac);
	return e == HG_OK && got < m ? HG_E_INTERNAL : e;
}

hg_err token_one(const struct hg_token_keys *k, const struct hg_token_spec *s, bool reverse, const char *in, char *out,
		 const char **why)
{
	size_t n = strlen(in);
	*why = NULL;
	if (!all_digits(in, n)) {
		*why = "a value is decimal digits only";
		return HG_E_INVALID;
	}
	if (s->pan ? n < 12 || n > 19 : n < 6 || n > HG_FF1_MAX_LEN) {
		*why = s->pan ? "a PAN has 12 to 19 digits" : "a value has 6 to 64 digits";
		return HG_E_INVALID;
	}
	/* The tweak has room for this many preserved digits, no more (HG_FF1_TWEAK_MAX). */
	if (s->leading > HG_TOKEN_MAX_PRESERVE || s->trailing > HG_TOKEN_MAX_PRESERVE) {
		*why = "at most 19 digits are preserved at either end";
		return HG_E_INVALID;
	}
	if (s->leading + s->trailing + (s->luhn ? 1u : 0u) + HG_TOKEN_MIN_SECRET > n) {
		*why = "too few digits are left to tokenize after the preserved ones (at least 5)";
		return HG_E_INVALID;
	}
	if (s->luhn && !luhn_ok(in, n)) {
		*why = s->mode == HG_TOKEN_FPE && reverse ? "the token does not pass the Luhn check"
							  : "the value does not pass the Luhn check";
		return HG_E_INVALID;
	}
	uint8_t tw[HG_FF1_TWEAK_MAX];
	size_t tl = tweak_of(s, in, n, tw);
	size_t m = n - s->leading - s->trailing - (s->luhn ? 1 : 0); /* the tokenized digits */
	char buf[HG_FF1_MAX_LEN + 1];
	memcpy(buf, in, n + 1);
	char *x = buf + s->leading;
	hg_err e;
	if (s->mode == HG_TOKEN_FPE) {
		e = fpe(k->aes, tw, tl, x, m, reverse);
	} else {
		char d[HG_FF1_MAX_LEN];
		e = HG_OK;
		/* Another counter while the digits come out equal to the input's. */
		for (unsigned c = 0; e == HG_OK; c++) {
			e = hmac_digits(k, tw, tl, in + s->leading, m, c, d);
			if (e == HG_OK && memcmp(d, in + s->leading, m) != 0)
				break;
		}
		if (e == HG_OK)
			memcpy(x, d, m);
		OPENSSL_cleanse(d, sizeof d);
	}
	if (e == HG_OK && s->luhn)
		luhn_fix(buf, n, s->leading + m);
	if (e == HG_OK)
		memcpy(out, buf, n + 1);
	OPENSSL_cleanse(buf, sizeof buf);
	return e;
}
