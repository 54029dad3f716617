/* Shared by the files of payments/ only. */
#ifndef HSMGW_PAYMENTS_INTERNAL_H
#define HSMGW_PAYMENTS_INTERNAL_H

#include "hsmgw/payments.h"

/* Packs n decimal or hexadecimal digits (n even) into n / 2 bytes, two nibbles each. The
 * caller has checked the digits. */
void pay_pack(const char *digits, size_t n, uint8_t *out);
/* The classic decimalisation of payment algorithms (CVV, PVV): the decimal nibbles of the 8
 * bytes from left to right, then the others (A–F) minus 10; the first `want` (≤ 16) go to
 * out, NUL-terminated. */
void pay_decimalise(const uint8_t b[8], size_t want, char *out);
/* One raw block operation through the provider, ECB on whole blocks. */
hg_err pay_ecb(const struct hg_pay_ops *ops, const struct hg_pay_key *key, enum hg_pay_cipher c, bool encrypt,
	       const uint8_t *in, size_t n, uint8_t *out) HG_WARN_UNUSED;

#endif
