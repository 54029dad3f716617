/* FF1 (NIST SP 800-38G, Algorithms 7 and 8) for radix 10 over a forward AES function given
 * as callbacks, and the binding that runs those in the HSM.
 *
 * Numbers are kept as arrays of decimal digit values (0…9), most significant first, which is
 * what FF1 reads and writes; the three conversions a round needs are done on them directly:
 *   NUM_10(X) → b bytes big-endian   (num_to_bytes: multiply by 10 and add, byte-wise)
 *   NUM(S) mod 10^m → m digits       (bytes_mod_pow10: repeated division by 10)
 *   (x ± y) mod 10^m                 (digit-wise, the last carry or borrow dropped)
 * With at most HG_FF1_MAX_LEN digits every buffer is small and on the stack, and no number
 * passes through an allocator that would not wipe it. */
#include <string.h>

#include <openssl/crypto.h>

#include "hsmgw/p11.h"
#include "hsmgw/tokens.h"

#define BLOCK    16
#define HALF_MAX ((HG_FF1_MAX_LEN + 1) / 2) /* v = ⌈n/2⌉ */
#define B_MAX    14                         /* bytes of NUM_10 of v digits: 10^32 < 256^14 */
#define D_MAX    (4 * ((B_MAX + 3) / 4) + 4)
#define S_BLOCKS ((D_MAX + BLOCK - 1) / BLOCK)
/* P (one block) ‖ Q (T ‖ 0-padding ‖ round ‖ NUM_10, a whole number of blocks). */
#define PQ_MAX (BLOCK + HG_FF1_TWEAK_MAX + 1 + B_MAX + BLOCK - 1)

/* One FF1 computation: the parameters of steps 1–5 and its working buffers. */
struct ff1 {
	const struct hg_ff1_aes *aes;
	size_t n, u, v, b, d;
	size_t q_round; /* offset of [i]^1 in pq; NUM_10 follows it */
	size_t pq_len;
	uint8_t pq[PQ_MAX];
	uint8_t cbc[PQ_MAX];
	uint8_t s[S_BLOCKS * BLOCK];
	uint8_t digits[3][HALF_MAX]; /* A, B and the new half C, rotated by pointer */
	uint8_t y[HALF_MAX];
};

/* The n digit values of in, or false for a non-digit. */
static bool parse_digits(const char *in, size_t n, uint8_t *out)
{
	unsigned bad = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)in[i] - '0';
		bad |= c > 9;
		out[i] = (uint8_t)c;
	}
	return !bad;
}

/* NUM_10 of the m digits x as b bytes big-endian (b is large enough by construction). */
static void num_to_bytes(const uint8_t *x, size_t m, uint8_t *out, size_t b)
{
	memset(out, 0, b);
	for (size_t i = 0; i < m; i++) {
		unsigned carry = x[i];
		for (size_t j = b; j-- > 0;) {
			unsigned t = out[j] * 10u + carry;
			out[j] = (uint8_t)t;
			carry = t >> 8;
		}
	}
}

/* The m lowest decimal digits of the d-byte big-endian number s, i.e. STR_10^m(NUM(s) mod
 * 10^m). s is consumed. */
static void bytes_mod_pow10(uint8_t *s, size_t d, uint8_t *out, size_t m)
{
	for (size_t k = m; k-- > 0;) {
		unsigned rem = 0;
		for (size_t j = 0; j < d; j++) {
			unsigned t = rem << 8 | s[j];
			s[j] = (uint8_t)(t / 10);
			rem = t % 10;
		}
		out[k] = (uint8_t)rem;
	}
}

/* c = (x + y) mod 10^m, or (x − y) mod 10^m when subtract; all m digits. */
static void add_mod_pow10(const uint8_t *x, const uint8_t *y, size_t m, bool subtract, uint8_t *c)
{
	int carry = 0;
	for (size_t k = m; k-- > 0;) {
		int t = subtract ? x[k] - y[k] - carry : x[k] + y[k] + carry;
		int wrap = subtract ? t < 0 : t >= 10;
		c[k] = (uint8_t)(t + (subtract ? 10 : -10) * wrap);
		carry = wrap;
	}
}

/* Smallest b with 10^v < 256^b: ⌈⌈v·log2 10⌉ / 8⌉ of step 3 (10^v is never a power of two). */
static size_t bytes_for_digits(size_t v)
{
	uint8_t p[B_MAX + 1] = {0};
	p[B_MAX] = 1;
	for (size_t i = 0; i < v; i++) {
		unsigned carry = 0;
		for (size_t j = sizeof p; j-- > 0;) {
			unsigned t = p[j] * 10u + carry;
			p[j] = (uint8_t)t;
			carry = t >> 8;
		}
	}
	size_t lead = 0;
	while (p[lead] == 0)
		lead++;
	return sizeof p - lead;
}

static void put_be32(uint8_t *o, uint32_t x)
{
	o[0] = (uint8_t)(x >> 24);
	o[1] = (uint8_t)(x >> 16);
	o[2] = (uint8_t)(x >> 8);
	o[3] = (uint8_t)x;
}

/* Steps 1–5 and the constant part of Q: P = [1]^1 [2]^1 [1]^1 [10]^3 [10]^1 [u mod 256]^1
 * [n]^4 [t]^4, then T and its zero padding. */
static void setup(struct ff1 *f, const struct hg_ff1_aes *aes, const uint8_t *tweak, size_t t, size_t n)
{
	f->aes = aes;
	f->n = n;
	f->u = n / 2;
	f->v = n - f->u;
	f->b = bytes_for_digits(f->v);
	f->d = 4 * ((f->b + 3) / 4) + 4;
	uint8_t *p = f->pq;
	p[0] = 1;
	p[1] = 2;
	p[2] = 1;
	p[3] = 0;
	p[4] = 0;
	p[5] = 10; /* radix, 3 bytes */
	p[6] = 10; /* rounds */
	p[7] = (uint8_t)(f->u % 256);
	put_be32(p + 8, (uint32_t)n);
	put_be32(p + 12, (uint32_t)t);
	size_t pad = (BLOCK - (t + f->b + 1) % BLOCK) % BLOCK;
	if (t)
		memcpy(p + BLOCK, tweak, t);
	memset(p + BLOCK + t, 0, pad);
	f->q_round = BLOCK + t + pad;
	f->pq_len = f->q_round + 1 + f->b;
}

/* Steps 6.i–6.iv then STR of y mod 10^m into f->y: Q ends with [i]^1 [NUM_10(x)]^b; R is the
 * CBC-MAC of P ‖ Q; S is R ‖ CIPH(R ⊕ [1]^16) ‖ … cut to d bytes. */
static hg_err round_y(struct ff1 *f, unsigned i, const uint8_t *x, size_t lx, size_t m)
{
	f->pq[f->q_round] = (uint8_t)i;
	num_to_bytes(x, lx, f->pq + f->q_round + 1, f->b);
	hg_err e = f->aes->cbc(f->aes->ctx, f->pq, f->pq_len, f->cbc);
	if (e != HG_OK)
		return e;
	const uint8_t *r = f->cbc + f->pq_len - BLOCK;
	memcpy(f->s, r, BLOCK);
	size_t extra = (f->d + BLOCK - 1) / BLOCK - 1;
	if (extra) {
		uint8_t *xs = f->s + BLOCK;
		for (size_t j = 1; j <= extra; j++) {
			memcpy(xs + (j - 1) * BLOCK, r, BLOCK);
			xs[j * BLOCK - 1] ^= (uint8_t)j; /* [j]^16: j < 256 */
		}
		e = f->aes->ecb(f->aes->ctx, xs, extra * BLOCK, xs);
		if (e != HG_OK)
			return e;
	}
	bytes_mod_pow10(f->s, f->d, f->y, m);
	return HG_OK;
}

static hg_err ff1_run(const struct hg_ff1_aes *aes, const uint8_t *tweak, size_t t, const char *in, size_t n, char *out,
		      bool encrypt)
{
	if (!aes || !aes->cbc || !aes->ecb || !in || !out || n < HG_FF1_MIN_LEN || n > HG_FF1_MAX_LEN ||
	    t > HG_FF1_TWEAK_MAX || (t && !tweak))
		return HG_E_INVALID;
	struct ff1 f;
	setup(&f, aes, tweak, t, n);
	uint8_t *a = f.digits[0], *b = f.digits[1], *c = f.digits[2];
	hg_err e = HG_OK;
	if (!parse_digits(in, f.u, a) || !parse_digits(in + f.u, f.v, b))
		e = HG_E_INVALID;
	/* Encryption: y from B, C = A + y, then (A, B) = (B, C). Decryption undoes the rounds
	 * from the last: y from A, C = B − y, then (A, B) = (C, A). In round i the half that
	 * changes (A, or B when decrypting) has m digits, u in even rounds and v in odd ones; the
	 * half that goes into Q has the other count. */
	for (unsigned k = 0; k < 10 && e == HG_OK; k++) {
		unsigned i = encrypt ? k : 9 - k;
		size_t m = i % 2 ? f.v : f.u;
		size_t other = i % 2 ? f.u : f.v;
		e = round_y(&f, i, encrypt ? b : a, other, m);
		if (e != HG_OK)
			break;
		add_mod_pow10(encrypt ? a : b, f.y, m, !encrypt, c);
		uint8_t *old = encrypt ? a : b;
		if (encrypt) {
			a = b;
			b = c;
		} else {
			b = a;
			a = c;
		}
		c = old;
	}
	if (e == HG_OK) {
		for (size_t i = 0; i < f.u; i++)
			out[i] = (char)('0' + a[i]);
		for (size_t i = 0; i < f.v; i++)
			out[f.u + i] = (char)('0' + b[i]);
	}
	OPENSSL_cleanse(&f, sizeof f);
	return e;
}

hg_err ff1_encrypt(const struct hg_ff1_aes *aes, const uint8_t *tweak, size_t t, const char *in, size_t n, char *out)
{
	return ff1_run(aes, tweak, t, in, n, out, true);
}

hg_err ff1_decrypt(const struct hg_ff1_aes *aes, const uint8_t *tweak, size_t t, const char *in, size_t n, char *out)
{
	return ff1_run(aes, tweak, t, in, n, out, false);
}

/* ---- the HSM binding ---- */

static hg_err hsm_cbc(void *ctx, const uint8_t *in, size_t n, uint8_t *out)
{
	static const uint8_t zero_iv[BLOCK];
	struct hg_ff1_hsm *h = ctx;
	return p11_block(h->p, &h->id, HG_BLK_AES, true, zero_iv, in, n, out);
}

static hg_err hsm_ecb(void *ctx, const uint8_t *in, size_t n, uint8_t *out)
{
	struct hg_ff1_hsm *h = ctx;
	return p11_block(h->p, &h->id, HG_BLK_AES, true, NULL, in, n, out);
}

const struct hg_ff1_aes *ff1_hsm_bind(struct hg_ff1_hsm *b, struct hg_p11 *p, const hg_uuid *id)
{
	b->p = p;
	b->id = *id;
	b->aes = (struct hg_ff1_aes){.ctx = b, .cbc = hsm_cbc, .ecb = hsm_ecb};
	return &b->aes;
}
