/* Card verification values and ISO 9797-1 MACs: algorithms on DES-based keys over a key
 * provider, with the single-DES steps done by the halves of the key. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "payments_internal.h"

/* One block through TDES-EDE with a key held as halves. */
static hg_err ede(const struct hg_pay_ops *ops, const struct hg_pay_key *key, uint8_t b[8])
{
	hg_err e = pay_ecb(ops, key, HG_PAY_DES_LEFT, true, b, 8, b);
	if (e == HG_OK)
		e = pay_ecb(ops, key, HG_PAY_DES_RIGHT, false, b, 8, b);
	if (e == HG_OK)
		e = pay_ecb(ops, key, HG_PAY_DES_LEFT, true, b, 8, b);
	return e;
}

hg_err pay_cvv(const struct hg_pay_ops *ops, const struct hg_pay_key *cvk, const char *pan, const char *expiry,
	       const char *service_code, char cvv[4])
{
	cvv[0] = '\0';
	if (!pin_pan_ok(pan) || !pay_digits(expiry, 4, 4, false) || !pay_digits(service_code, 3, 3, false) ||
	    !cvk->halves)
		return HG_E_INVALID;
	/* PAN ‖ expiry ‖ service code, zero-filled on the right to 32 digits: two blocks. */
	char data[33];
	memset(data, '0', 32);
	data[32] = '\0';
	size_t n = strlen(pan);
	memcpy(data, pan, n);
	memcpy(data + n, expiry, 4);
	memcpy(data + n + 4, service_code, 3);
	uint8_t b1[8], b2[8];
	pay_pack(data, 16, b1);
	pay_pack(data + 16, 16, b2);
	/* E_left(B1) ⊕ B2, then TDES-EDE with the pair: E_left(D_right(E_left(·))). */
	hg_err e = pay_ecb(ops, cvk, HG_PAY_DES_LEFT, true, b1, 8, b1);
	if (e == HG_OK) {
		for (int i = 0; i < 8; i++)
			b1[i] ^= b2[i];
		e = ede(ops, cvk, b1);
	}
	if (e == HG_OK)
		pay_decimalise(b1, 3, cvv);
	OPENSSL_cleanse(data, sizeof data);
	OPENSSL_cleanse(b1, sizeof b1);
	OPENSSL_cleanse(b2, sizeof b2);
	return e;
}

hg_err pay_mac_iso9797(const struct hg_pay_ops *ops, const struct hg_pay_key *key, enum hg_pay_mac_alg alg,
		       enum hg_pay_padding pad, const uint8_t *msg, size_t n, uint8_t mac[8])
{
	if (n > HG_PAY_MAC_MAX_MSG || !key->halves || (alg != HG_MAC_ISO9797_ALG1 && alg != HG_MAC_ISO9797_ALG3) ||
	    (pad != HG_PAD_M1 && pad != HG_PAD_M2))
		return HG_E_INVALID;
	/* Padding method 1: zeros to a whole block (an empty message is one zero block);
	 * method 2: 0x80, then zeros to a whole block. */
	size_t len = pad == HG_PAD_M2 ? (n / 8 + 1) * 8 : n == 0 ? 8 : (n + 7) / 8 * 8;
	uint8_t *d = calloc(1, len);
	if (!d)
		return HG_E_INTERNAL;
	if (n)
		memcpy(d, msg, n);
	if (pad == HG_PAD_M2)
		d[n] = 0x80;
	hg_err e = HG_OK;
	uint8_t h[8] = {0};
	if (alg == HG_MAC_ISO9797_ALG3) {
		/* CBC with the left half over every block, then D_right and E_left on the last:
		 * three calls whatever the length. */
		e = ops->block(ops->ctx, key, HG_PAY_DES_LEFT, true, h, d, len, d);
		if (e == HG_OK) {
			memcpy(h, d + len - 8, 8);
			e = pay_ecb(ops, key, HG_PAY_DES_RIGHT, false, h, 8, h);
		}
		if (e == HG_OK)
			e = pay_ecb(ops, key, HG_PAY_DES_LEFT, true, h, 8, h);
	} else {
		/* CBC with the whole TDES key, block by block through the halves. */
		for (size_t i = 0; i < len && e == HG_OK; i += 8) {
			for (int j = 0; j < 8; j++)
				h[j] ^= d[i + j];
			e = ede(ops, key, h);
		}
	}
	if (e == HG_OK)
		memcpy(mac, h, 8);
	OPENSSL_clear_free(d, len);
	OPENSSL_cleanse(h, sizeof h);
	return e;
}
