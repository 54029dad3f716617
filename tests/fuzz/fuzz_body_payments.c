/* Request bodies of the payment routes: PIN translation, PIN verification and PVV/offset
 * generation, CVV and its verification, payment MACs and their verification. After a
 * successful parse, the checks the handlers make before any key is resolved: the PAN, the
 * PIN block's hex for its format (and, as if it had been deciphered, the block itself), the
 * digit fields and the hex message and MAC. */
#include "fuzz_body.h"
#include "hsmgw/payments.h"

/* A hex string into at most cap bytes, as the handlers read one; false if it is not. */
static bool unhex(const char *h, uint8_t *out, size_t cap, size_t *n)
{
	size_t len = strlen(h);
	*n = len / 2;
	return len % 2 == 0 && *n <= cap && hex_decode(h, out, *n);
}

static void pin_block_checks(const char *hex, const char *format, const char *pan)
{
	enum hg_pin_format f;
	uint8_t block[16];
	char pin[HG_PIN_MAX + 1];
	if (!hex || !format)
		return;
	FUZZ_ASSERT(pin_format_parse(format, &f)); /* the field's choices allow only these */
	if (!hex_decode(hex, block, pin_block_len(f)))
		return;
	hg_err e = f == HG_PIN_ISO4 ? pin_iso4_pin_from_field(block, pin) : pin_block_decode(f, block, pan, pin);
	if (e == HG_OK)
		FUZZ_ASSERT(pay_digits(pin, HG_PIN_MIN, HG_PIN_MAX, false));
	else
		FUZZ_ASSERT(e == HG_E_INVALID);
}

static void body_after_parse(const struct api_body_spec *s, void *in)
{
	const char *pan = body_str(s, in, "pan");
	if (pan && !pin_pan_ok(pan))
		pan = NULL; /* 400 before anything else */
	pin_block_checks(body_str(s, in, "pin_block"), body_str(s, in, "format"), pan);
	pin_block_checks(body_str(s, in, "pin_block"), body_str(s, in, "incoming_format"), pan);
	const char *digits[] = {"expiry", "service_code", "cvv", "offset", "pvv", "decimalization_table"};
	for (size_t i = 0; i < sizeof digits / sizeof *digits; i++)
		(void)pay_digits(body_str(s, in, digits[i]), 1, 32, false);
	(void)pay_digits(body_str(s, in, "validation_data"), 16, 16, true);
	uint8_t buf[HG_PAY_MAC_MAX_MSG];
	size_t n;
	const char *msg = body_str(s, in, "message"), *mac = body_str(s, in, "mac");
	if (msg && unhex(msg, buf, sizeof buf, &n))
		FUZZ_ASSERT(2 * n == strlen(msg));
	if (mac && unhex(mac, buf, 16, &n))
		FUZZ_ASSERT(n >= 4 && n <= 16);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct api_body_spec *const tables[] = {api_payments_bodies};
	body_run_tables(tables, sizeof tables / sizeof *tables, data, size);
	return 0;
}
