/* ISO 9564-1 PIN block formats 0, 1, 3 and 4: the clear fields, built and checked.
 * Nibble layouts (ISO 9564-1; see the README's payment section):
 *   format 0: PIN field 0 L P…P F…F           ⊕  PAN field 0000 + 12 rightmost PAN digits
 *                                                 excluding the check digit
 *   format 1: PIN field 1 L P…P R…R (R random, the transaction field)
 *   format 3: PIN field 3 L P…P R…R (R random from A–F)  ⊕  the PAN field of format 0
 *   format 4: PIN field 4 L P…P A…A (to nibble 16) + 8 random bytes;
 *             PAN field M + PAN digits left-justified + 0 pad, where M = PAN length − 12. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "payments_internal.h"

static const char *const names[HG_PIN_FORMAT_COUNT] = {"ISO-0", "ISO-1", "ISO-3", "ISO-4"};
static const uint8_t control[HG_PIN_FORMAT_COUNT] = {0x0, 0x1, 0x3, 0x4};

bool pin_format_parse(const char *name, enum hg_pin_format *out)
{
	for (int i = 0; i < HG_PIN_FORMAT_COUNT; i++) {
		if (strcmp(names[i], name) == 0) {
			*out = (enum hg_pin_format)i;
			return true;
		}
	}
	return false;
}

const char *pin_format_name(enum hg_pin_format f)
{
	return (unsigned)f < HG_PIN_FORMAT_COUNT ? names[f] : "?";
}

size_t pin_block_len(enum hg_pin_format f)
{
	return f == HG_PIN_ISO4 ? 16 : 8;
}

bool pin_format_pan_bound(enum hg_pin_format f)
{
	return f != HG_PIN_ISO1;
}

bool pin_pan_ok(const char *pan)
{
	return pay_digits(pan, 12, 19, false);
}

static void set_nibble(uint8_t *b, size_t i, unsigned v)
{
	b[i / 2] = (uint8_t)(i % 2 ? (b[i / 2] & 0xf0) | (v & 0x0f) : (b[i / 2] & 0x0f) | (v & 0x0f) << 4);
}

static unsigned nibble(const uint8_t *b, size_t i)
{
	return i % 2 ? b[i / 2] & 0x0f : b[i / 2] >> 4;
}

/* The PAN field of formats 0 and 3: 0000 and the 12 digits before the check digit. */
static void pan_field_03(const char *pan, uint8_t out[8])
{
	size_t body = strlen(pan) - 1; /* without the check digit */
	size_t take = body < 12 ? body : 12;
	memset(out, 0, 8);
	/* Right-justified: a shorter PAN leaves zeros on the left. */
	for (size_t i = 0; i < take; i++)
		set_nibble(out, 16 - take + i, (unsigned)(pan[body - take + i] - '0'));
}

/* Control nibble, length and PIN digits from nibble 0; the fill is the caller's. */
static void pin_head(uint8_t *b, uint8_t c, const char *pin)
{
	size_t n = strlen(pin);
	set_nibble(b, 0, c);
	set_nibble(b, 1, (unsigned)n);
	for (size_t i = 0; i < n; i++)
		set_nibble(b, 2 + i, (unsigned)(pin[i] - '0'));
}

/* Reads control, length and digits; checks them. */
static bool pin_read(const uint8_t *b, uint8_t c, char pin[HG_PIN_MAX + 1], size_t *n)
{
	*n = nibble(b, 1);
	if (nibble(b, 0) != c || *n < HG_PIN_MIN || *n > HG_PIN_MAX)
		return false;
	bool ok = true;
	for (size_t i = 0; i < *n; i++) {
		unsigned d = nibble(b, 2 + i);
		ok &= d <= 9; /* no early exit: every block is read the same way */
		pin[i] = (char)('0' + (d <= 9 ? d : 0));
	}
	pin[*n] = '\0';
	return ok;
}

hg_err pin_block_encode(enum hg_pin_format f, const char *pin, const char *pan, uint8_t out[8])
{
	if (f == HG_PIN_ISO4 || !pay_digits(pin, HG_PIN_MIN, HG_PIN_MAX, false) ||
	    (pin_format_pan_bound(f) && !pin_pan_ok(pan)))
		return HG_E_INVALID;
	uint8_t rnd[8], panf[8];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return HG_E_INTERNAL;
	memset(out, 0, 8);
	pin_head(out, control[f], pin);
	for (size_t i = 2 + strlen(pin); i < 16; i++) {
		unsigned r = nibble(rnd, i);
		set_nibble(out, i, f == HG_PIN_ISO0 ? 0xf : f == HG_PIN_ISO1 ? r : 0xa + r % 6);
	}
	if (pin_format_pan_bound(f)) {
		pan_field_03(pan, panf);
		for (int i = 0; i < 8; i++)
			out[i] ^= panf[i];
	}
	OPENSSL_cleanse(rnd, sizeof rnd);
	return HG_OK;
}

hg_err pin_block_decode(enum hg_pin_format f, const uint8_t in[8], const char *pan, char pin[HG_PIN_MAX + 1])
{
	if (f == HG_PIN_ISO4 || (pin_format_pan_bound(f) && !pin_pan_ok(pan)))
		return HG_E_INVALID;
	uint8_t b[8], panf[8];
	memcpy(b, in, 8);
	if (pin_format_pan_bound(f)) {
		pan_field_03(pan, panf);
		for (int i = 0; i < 8; i++)
			b[i] ^= panf[i];
	}
	size_t n;
	bool ok = pin_read(b, control[f], pin, &n);
	for (size_t i = 2 + (ok ? n : 0); ok && i < 16; i++) {
		unsigned v = nibble(b, i);
		ok = f == HG_PIN_ISO0 ? v == 0xf : f == HG_PIN_ISO3 ? v >= 0xa : true;
	}
	OPENSSL_cleanse(b, sizeof b);
	if (!ok) {
		OPENSSL_cleanse(pin, HG_PIN_MAX + 1);
		return HG_E_INVALID;
	}
	return HG_OK;
}

hg_err pin_iso4_pin_field(const char *pin, uint8_t out[16])
{
	if (!pay_digits(pin, HG_PIN_MIN, HG_PIN_MAX, false))
		return HG_E_INVALID;
	memset(out, 0, 16);
	pin_head(out, control[HG_PIN_ISO4], pin);
	for (size_t i = 2 + strlen(pin); i < 16; i++)
		set_nibble(out, i, 0xa);
	return RAND_bytes(out + 8, 8) == 1 ? HG_OK : HG_E_INTERNAL;
}

hg_err pin_iso4_pan_field(const char *pan, uint8_t out[16])
{
	if (!pin_pan_ok(pan))
		return HG_E_INVALID;
	size_t n = strlen(pan);
	memset(out, 0, 16);
	set_nibble(out, 0, (unsigned)(n - 12));
	for (size_t i = 0; i < n; i++)
		set_nibble(out, 1 + i, (unsigned)(pan[i] - '0'));
	return HG_OK;
}

hg_err pin_iso4_pin_from_field(const uint8_t field[16], char pin[HG_PIN_MAX + 1])
{
	size_t n;
	bool ok = pin_read(field, control[HG_PIN_ISO4], pin, &n);
	for (size_t i = 2 + (ok ? n : 0); ok && i < 16; i++)
		ok = nibble(field, i) == 0xa;
	if (!ok) {
		OPENSSL_cleanse(pin, HG_PIN_MAX + 1);
		return HG_E_INVALID;
	}
	return HG_OK;
}
