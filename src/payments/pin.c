/* PIN translation and verification over a key provider: PIN blocks are deciphered into a
 * locked buffer, used at once and wiped (payments.h says why and where this happens). */
#include <string.h>
#include <sys/mman.h>

#include <openssl/crypto.h>

#include "payments_internal.h"

/* Everything that holds a clear PIN or a clear PIN block during one operation. */
struct pin_work {
	char pin[HG_PIN_MAX + 1];
	uint8_t clear[16], field[16];
	char digits[HG_PIN_MAX + 1];
};

/* One work area per thread, on a page of its own: locked in RAM and kept out of core dumps at
 * its first use, wiped after every operation. (Not OpenSSL's secure heap: initialising that
 * changes where every OpenSSL private key in the process lives, a software token's
 * included, and a token that leaks keys exhausts it.) */
static _Thread_local struct pin_work tls_work __attribute__((aligned(4096)));
static _Thread_local bool tls_ready;

static struct pin_work *work_new(void)
{
	if (!tls_ready) {
		tls_ready = true;
		size_t len = (sizeof tls_work + 4095) & ~(size_t)4095;
		if (mlock(&tls_work, len) != 0 || madvise(&tls_work, len, MADV_DONTDUMP) != 0)
			log_warn("payments: the PIN work area cannot be locked in memory (RLIMIT_MEMLOCK?); it is "
				 "still wiped after every use");
	}
	return &tls_work;
}

static void work_free(struct pin_work *w)
{
	OPENSSL_cleanse(w, sizeof *w);
}

void pay_pack(const char *digits, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i += 2) {
		unsigned hi = OPENSSL_hexchar2int((unsigned char)digits[i]);
		unsigned lo = OPENSSL_hexchar2int((unsigned char)digits[i + 1]);
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
}

void pay_decimalise(const uint8_t b[8], size_t want, char *out)
{
	size_t k = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < 16 && k < want; i++) {
			unsigned v = i % 2 ? b[i / 2] & 0x0f : b[i / 2] >> 4;
			if (pass == 0 && v <= 9)
				out[k++] = (char)('0' + v);
			else if (pass == 1 && v > 9)
				out[k++] = (char)('0' + v - 10);
		}
	}
	out[k] = '\0';
}

bool pay_digits(const char *s, size_t min, size_t max, bool hex)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dec = s[i] >= '0' && s[i] <= '9';
		bool hx = (s[i] >= 'A' && s[i] <= 'F') || (s[i] >= 'a' && s[i] <= 'f');
		if (!dec && !(hex && hx))
			return false;
	}
	return true;
}

hg_err pay_ecb(const struct hg_pay_ops *ops, const struct hg_pay_key *key, enum hg_pay_cipher c, bool encrypt,
	       const uint8_t *in, size_t n, uint8_t *out)
{
	return ops->block(ops->ctx, key, c, encrypt, NULL, in, n, out);
}

/* Whether the key's block size is the format's: AES for format 4, TDES for 0, 1 and 3. */
static bool key_fits(const struct hg_pay_key *k, enum hg_pin_format f)
{
	return !k->halves && k->aes == (f == HG_PIN_ISO4);
}

static void xor16(uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] ^= b[i];
}

/* The PIN of an encrypted PIN block into w->pin. Any failure of the block itself is
 * HG_E_PIN_BLOCK, whatever was wrong; a failure of the key provider is passed on. */
static hg_err decipher(const struct hg_pay_ops *ops, const struct hg_pay_key *key, enum hg_pin_format f,
		       const uint8_t *block, const char *pan, struct pin_work *w)
{
	if (f == HG_PIN_ISO4) {
		/* pin_field = D(K, D(K, block) XOR pan_field) */
		hg_err e = pin_iso4_pan_field(pan, w->field);
		if (e == HG_OK)
			e = pay_ecb(ops, key, HG_PAY_WHOLE, false, block, 16, w->clear);
		if (e != HG_OK)
			return e;
		xor16(w->clear, w->field, 16);
		e = pay_ecb(ops, key, HG_PAY_WHOLE, false, w->clear, 16, w->clear);
		if (e == HG_OK && pin_iso4_pin_from_field(w->clear, w->pin) != HG_OK)
			e = HG_E_PIN_BLOCK;
		return e;
	}
	hg_err e = pay_ecb(ops, key, HG_PAY_WHOLE, false, block, 8, w->clear);
	if (e == HG_OK && pin_block_decode(f, w->clear, pan, w->pin) != HG_OK)
		e = HG_E_PIN_BLOCK;
	return e;
}

/* The reverse: w->pin as an encrypted PIN block of format f into out. */
static hg_err encipher(const struct hg_pay_ops *ops, const struct hg_pay_key *key, enum hg_pin_format f,
		       const char *pan, struct pin_work *w, uint8_t *out)
{
	if (f == HG_PIN_ISO4) {
		/* block = E(K, E(K, pin_field) XOR pan_field) */
		hg_err e = pin_iso4_pin_field(w->pin, w->clear);
		if (e == HG_OK)
			e = pin_iso4_pan_field(pan, w->field);
		if (e == HG_OK)
			e = pay_ecb(ops, key, HG_PAY_WHOLE, true, w->clear, 16, w->clear);
		if (e != HG_OK)
			return e;
		xor16(w->clear, w->field, 16);
		return pay_ecb(ops, key, HG_PAY_WHOLE, true, w->clear, 16, out);
	}
	hg_err e = pin_block_encode(f, w->pin, pan, w->clear);
	return e == HG_OK ? pay_ecb(ops, key, HG_PAY_WHOLE, true, w->clear, 8, out) : e;
}

/* Checks that apply before any block is deciphered. */
static hg_err inputs_ok(const struct hg_pay_key *key, enum hg_pin_format f, const char *pan)
{
	if ((unsigned)f >= HG_PIN_FORMAT_COUNT || !key_fits(key, f))
		return HG_E_INVALID;
	if (pin_format_pan_bound(f) && !pin_pan_ok(pan))
		return HG_E_INVALID;
	return HG_OK;
}

hg_err pay_pin_translate(const struct hg_pay_ops *ops, const struct hg_pay_key *in_key, enum hg_pin_format in_fmt,
			 const uint8_t *block, const struct hg_pay_key *out_key, enum hg_pin_format out_fmt,
			 const char *pan, uint8_t out[16])
{
	hg_err e = inputs_ok(in_key, in_fmt, pan);
	if (e == HG_OK)
		e = inputs_ok(out_key, out_fmt, pan);
	/* ISO 9564-1: a block bound to a PAN never becomes one that is not. */
	if (e == HG_OK && pin_format_pan_bound(in_fmt) && !pin_format_pan_bound(out_fmt))
		e = HG_E_INVALID;
	if (e != HG_OK)
		return e;
	struct pin_work *w = work_new();
	e = decipher(ops, in_key, in_fmt, block, pan, w);
	if (e == HG_OK)
		e = encipher(ops, out_key, out_fmt, pan, w, out);
	work_free(w);
	return e;
}

/* ---- verification values ---- */

hg_err pay_pvv(const struct hg_pay_ops *ops, const struct hg_pay_key *pvk, const char *pan, int pvki, const char *pin,
	       char pvv[5])
{
	pvv[0] = '\0';
	if (!pin_pan_ok(pan) || pvki < 0 || pvki > 6 || !pay_digits(pin, HG_PIN_MIN, HG_PIN_MAX, false) || pvk->aes ||
	    pvk->halves)
		return HG_E_INVALID;
	/* TSP: 11 PAN digits before the check digit, the PVKI, the 4 leftmost PIN digits. */
	char tsp[17];
	size_t body = strlen(pan) - 1;
	memcpy(tsp, pan + body - 11, 11);
	tsp[11] = (char)('0' + pvki);
	memcpy(tsp + 12, pin, 4);
	tsp[16] = '\0';
	uint8_t b[8];
	pay_pack(tsp, 16, b);
	hg_err e = pay_ecb(ops, pvk, HG_PAY_WHOLE, true, b, 8, b);
	if (e == HG_OK)
		pay_decimalise(b, 4, pvv);
	OPENSSL_cleanse(tsp, sizeof tsp);
	OPENSSL_cleanse(b, sizeof b);
	return e;
}

#define DEFAULT_DECTAB "0123456789012345"

hg_err pay_ibm3624_natural(const struct hg_pay_ops *ops, const struct hg_pay_key *key, const char *validation_data,
			   const char *decimalization_table, size_t n, char natural[HG_PIN_MAX + 1])
{
	natural[0] = '\0';
	const char *tab = decimalization_table ? decimalization_table : DEFAULT_DECTAB;
	if (!pay_digits(tab, 16, 16, false) || !pay_digits(validation_data, 16, 16, true) || n < HG_PIN_MIN ||
	    n > HG_PIN_MAX || key->aes || key->halves)
		return HG_E_INVALID;
	uint8_t b[8];
	pay_pack(validation_data, 16, b);
	hg_err e = pay_ecb(ops, key, HG_PAY_WHOLE, true, b, 8, b);
	if (e == HG_OK) {
		for (size_t i = 0; i < n; i++)
			natural[i] = tab[i % 2 ? b[i / 2] & 0x0f : b[i / 2] >> 4];
		natural[n] = '\0';
	}
	OPENSSL_cleanse(b, sizeof b);
	return e;
}

/* The IBM 3624 validation data: given (16 hex digits), or by default the 12 PAN digits before
 * the check digit followed by FFFF. */
static hg_err validation_data(const struct hg_pin_verify_params *vp, const char *pan, char out[17])
{
	if (vp->validation_data) {
		if (!pay_digits(vp->validation_data, 16, 16, true))
			return HG_E_INVALID;
		memcpy(out, vp->validation_data, 17);
		return HG_OK;
	}
	if (!pin_pan_ok(pan))
		return HG_E_INVALID;
	size_t body = strlen(pan) - 1, take = body < 12 ? body : 12;
	memset(out, '0', 12 - take); /* a 12-digit PAN has 11 before its check digit */
	memcpy(out + 12 - take, pan + body - take, take);
	memcpy(out + 12, "FFFF", 5);
	return HG_OK;
}

/* The PVV or the IBM 3624 offset of w->pin into out. */
static hg_err value_of(const struct hg_pay_ops *ops, const char *pan, const struct hg_pin_verify_params *vp,
		       struct pin_work *w, char out[HG_PIN_MAX + 1])
{
	if (vp->method == HG_PIN_VISA_PVV)
		return pay_pvv(ops, vp->key, pan, vp->pvki, w->pin, out);
	char vd[17];
	size_t n = strlen(w->pin);
	hg_err e = validation_data(vp, pan, vd);
	if (e == HG_OK)
		e = pay_ibm3624_natural(ops, vp->key, vd, vp->decimalization_table, n, w->digits);
	if (e == HG_OK) {
		for (size_t i = 0; i < n; i++)
			out[i] = (char)('0' + (w->pin[i] - w->digits[i] + 10) % 10);
		out[n] = '\0';
	}
	return e;
}

static hg_err method_ok(const struct hg_pin_verify_params *vp)
{
	if (vp->method != HG_PIN_IBM3624 && vp->method != HG_PIN_VISA_PVV)
		return HG_E_INVALID;
	if (vp->method == HG_PIN_VISA_PVV && (vp->pvki < 0 || vp->pvki > 6))
		return HG_E_INVALID;
	if (vp->method == HG_PIN_IBM3624 && vp->decimalization_table &&
	    !pay_digits(vp->decimalization_table, 16, 16, false))
		return HG_E_INVALID;
	if (vp->key->aes || vp->key->halves)
		return HG_E_INVALID;
	return HG_OK;
}

hg_err pay_pin_generate(const struct hg_pay_ops *ops, const struct hg_pay_key *pin_key, enum hg_pin_format fmt,
			const uint8_t *block, const char *pan, const struct hg_pin_verify_params *vp,
			char out[HG_PIN_MAX + 1])
{
	out[0] = '\0';
	hg_err e = inputs_ok(pin_key, fmt, pan);
	if (e == HG_OK)
		e = method_ok(vp);
	/* PVV and the default validation data need the PAN whatever the format. */
	if (e == HG_OK && !pin_pan_ok(pan))
		e = HG_E_INVALID;
	if (e != HG_OK)
		return e;
	struct pin_work *w = work_new();
	e = decipher(ops, pin_key, fmt, block, pan, w);
	if (e == HG_OK)
		e = value_of(ops, pan, vp, w, out);
	work_free(w);
	return e;
}

hg_err pay_pin_verify(const struct hg_pay_ops *ops, const struct hg_pay_key *pin_key, enum hg_pin_format fmt,
		      const uint8_t *block, const char *pan, const struct hg_pin_verify_params *vp,
		      const char *expected, bool *valid)
{
	*valid = false;
	if (!pay_digits(expected, vp->method == HG_PIN_VISA_PVV ? 4 : HG_PIN_MIN,
			vp->method == HG_PIN_VISA_PVV ? 4 : HG_PIN_MAX, false))
		return HG_E_INVALID;
	char got[HG_PIN_MAX + 1];
	hg_err e = pay_pin_generate(ops, pin_key, fmt, block, pan, vp, got);
	if (e == HG_OK) {
		size_t n = strlen(expected);
		/* An offset of another length than the PIN does not match; equal lengths are
		 * compared in constant time. */
		*valid = strlen(got) == n && CRYPTO_memcmp(got, expected, n) == 0;
	}
	OPENSSL_cleanse(got, sizeof got);
	return e;
}
