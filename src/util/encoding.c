/* base64, base64url and hex: strict decoders, because every one of them is reachable by an
 * attacker. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>

#include "hsmgw/util.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0, o = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_std[v >> 18 & 63];
		out[o++] = b64_std[v >> 12 & 63];
		out[o++] = b64_std[v >> 6 & 63];
		out[o++] = b64_std[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = b64_std[v >> 18 & 63];
		out[o++] = b64_std[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64_std[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

void b64url_encode(const uint8_t *in, size_t n, char *out)
{
	b64_encode(in, n, out);
	char *o = out;
	for (char *c = out; *c && *c != '='; c++)
		*o++ = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	*o = '\0';
}

/* Value of one symbol in the given alphabet, or -1. */
static int b64_value(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Shared decoder. Standard: length a multiple of 4, up to two '=' at the end. URL: no
 * padding at all. In both, the unused low bits of the last symbol must be zero, so every
 * byte string has exactly one accepted encoding. */
static int decode(const char *in, size_t len, bool url, size_t max, uint8_t **out, size_t *out_len)
{
	size_t pad = 0;
	if (!url) {
		if (len % 4 != 0)
			return -1;
		while (pad < 2 && len > pad && in[len - 1 - pad] == '=')
			pad++;
	} else if (len % 4 == 1) {
		return -1;
	}
	size_t sym = len - pad; /* symbols carrying data */
	size_t n = sym / 4 * 3 + (sym % 4 ? sym % 4 - 1 : 0);
	if (n > max)
		return -2;
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return -1;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < sym; i++) {
		int v = b64_value(in[i], url);
		if (v < 0)
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* non-canonical trailing bits */
		goto bad;
	*out = buf;
	*out_len = o;
	return 0;
bad:
	hg_free_secret(buf, n ? n : 1);
	return -1;
}

int b64_decode(const char *in, size_t in_len, size_t max, uint8_t **out, size_t *out_len)
{
	return decode(in, in_len, false, max, out, out_len);
}

int b64url_decode(const char *in, size_t in_len, size_t max, uint8_t **out, size_t *out_len)
{
	return decode(in, in_len, true, max, out, out_len);
}

static void hex_with(const uint8_t *in, size_t n, char *out, const char *digits)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	hex_with(in, n, out, "0123456789ABCDEF");
}

void hex_encode_lower(const uint8_t *in, size_t n, char *out)
{
	hex_with(in, n, out, "0123456789abcdef");
}

bool hex_decode(const char *in, uint8_t *out, size_t n)
{
	if (strlen(in) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)in[2 * i]),
		    lo = OPENSSL_hexchar2int((unsigned char)in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

size_t ecdsa_raw_to_der(const uint8_t *raw, size_t n, uint8_t *der, size_t cap)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)(n / 2), NULL), *s = BN_bin2bn(raw + n / 2, (int)(n / 2), NULL);
	size_t len = 0;
	if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
		r = s = NULL;
		int l = i2d_ECDSA_SIG(sig, NULL);
		if (l > 0 && (size_t)l <= cap) {
			uint8_t *p = der;
			len = (size_t)i2d_ECDSA_SIG(sig, &p);
		}
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return len;
}
