/* Raw block cipher operations (ECB and CBC without padding) for the algorithms the gateway
 * builds on a block cipher, and TDES keys held as their two single-DES halves (p11.h says
 * why). */
#include <string.h>

#include <openssl/crypto.h>

#include "p11_internal.h"

#define BLOCK_MAX (64u * 1024u)

void p11_half_id(const hg_uuid *id, unsigned half, hg_uuid *out)
{
	*out = *id;
	out->b[8] = (uint8_t)((out->b[8] & 0x1f) | (half ? 0xe0 : 0xc0));
}

/* ---- making the halves ---- */

/* The template of one half: a CKK_DES secret key, the left half with CKA_ENCRYPT only, the
 * right one with CKA_DECRYPT only. An unwrapped half is extractable only until its length is
 * checked. */
static void half_tmpl(struct key_tmpl *t, const struct hg_p11_keyspec *spec, const hg_uuid *half_id, unsigned half,
		      bool unwrapping)
{
	struct hg_p11_keyspec hs = *spec;
	hs.exportable = unwrapping;
	tmpl_init(t, CKO_SECRET_KEY, &hs, half_id, half ? HG_P11_DECRYPT : HG_P11_ENCRYPT);
	t->kt = CKK_DES; /* the template points at t->kt */
}

/* One single-DES ECB operation on one block with a half. */
static CK_RV des_block(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, bool encrypt, const uint8_t in[8],
		       uint8_t out[8])
{
	CK_MECHANISM m = {CKM_DES_ECB, NULL, 0};
	CK_ULONG len = 8;
	CK_RV rv = encrypt ? p->f->C_EncryptInit(s, &m, k) : p->f->C_DecryptInit(s, &m, k);
	if (rv == CKR_OK)
		rv = encrypt ? p->f->C_Encrypt(s, (CK_BYTE_PTR)in, 8, out, &len)
			     : p->f->C_Decrypt(s, (CK_BYTE_PTR)in, 8, out, &len);
	return rv == CKR_OK && len != 8 ? CKR_GENERAL_ERROR : rv;
}

/* The KCV of the TDES key the halves form: the first 3 bytes of E_L(D_R(E_L(0^64))). */
static CK_RV halves_kcv(struct hg_p11 *p, CK_SESSION_HANDLE s, const CK_OBJECT_HANDLE h[2],
			char kcv[HG_KCV_HEX_LEN + 1])
{
	uint8_t b[8] = {0};
	CK_RV rv = des_block(p, s, h[0], true, b, b);
	if (rv == CKR_OK)
		rv = des_block(p, s, h[1], false, b, b);
	if (rv == CKR_OK)
		rv = des_block(p, s, h[0], true, b, b);
	if (rv == CKR_OK)
		hex_encode(b, 3, kcv);
	return rv;
}

CK_RV halves_make(struct hg_p11 *p, struct p11_op *op, CK_SESSION_HANDLE s, const hg_uuid *id,
		  const struct hg_p11_keyspec *spec, const struct unwrap_src *src, char kcv[HG_KCV_HEX_LEN + 1])
{
	kcv[0] = '\0';
	CK_OBJECT_HANDLE h[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
	hg_uuid hid[2];
	CK_RV rv = CKR_OK;
	/* Two halves wrapped one by one have the same length; under AES-KWP an 8-byte key
	 * wraps to 16 bytes (RFC 5649). */
	if (src && (src->n % 2 || (src->alg == HG_WRAP_AES_KWP && src->n != 32)))
		rv = CKR_WRAPPED_KEY_INVALID;
	for (unsigned i = 0; i < 2 && rv == CKR_OK; i++) {
		p11_half_id(id, i, &hid[i]);
		struct key_tmpl t;
		half_tmpl(&t, spec, &hid[i], i, src != NULL);
		if (src) {
			size_t part = src->n / 2, len = 0;
			rv = unwrap_data(p, s, src->m, src->uk, src->wrapped + i * part, part, &t, &h[i]);
			if (rv == CKR_OK)
				rv = secret_measure(p, s, h[i], &len);
			if (rv == CKR_OK && len != 8)
				rv = CKR_WRAPPED_KEY_INVALID;
			if (rv == CKR_OK)
				rv = extractable_restore(p, s, h[i], false);
		} else {
			CK_MECHANISM m = {CKM_DES_KEY_GEN, NULL, 0};
			rv = p->f->C_GenerateKey(s, &m, t.a, t.n, &h[i]);
			if (rv != CKR_OK)
				h[i] = CK_INVALID_HANDLE;
		}
	}
	if (rv == CKR_OK) {
		rv = halves_kcv(p, s, h, kcv);
		/* A token that unwraps a value of any length refuses it at its first use. */
		if (src && (rv == CKR_MECHANISM_INVALID || rv == CKR_KEY_SIZE_RANGE || rv == CKR_KEY_TYPE_INCONSISTENT))
			rv = CKR_WRAPPED_KEY_INVALID;
	}
	if (rv == CKR_OK && !op_commit(op))
		rv = CKR_HG_TIMEOUT; /* the caller gave up: nobody will record the key */
	if (rv == CKR_OK) {
		for (unsigned i = 0; i < 2; i++)
			handles_put(&p->handles, &hid[i], CKO_SECRET_KEY, h[i]);
	} else {
		if (rv == CKR_USER_NOT_LOGGED_IN)
			(void)sess_login(p, s); /* private objects are destroyed only when logged in */
		for (unsigned i = 0; i < 2; i++)
			object_discard(p, s, h[i]);
		kcv[0] = '\0';
	}
	return rv;
}

static CK_RV des_probe_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	(void)arg;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {{CKA_TOKEN, &no, sizeof no}, {CKA_ENCRYPT, &yes, sizeof yes}};
	CK_MECHANISM gen = {CKM_DES_KEY_GEN, NULL, 0};
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	uint8_t b[8] = {0};
	CK_RV rv = p->f->C_GenerateKey(s, &gen, t, sizeof t / sizeof *t, &k);
	if (rv == CKR_OK)
		rv = des_block(p, s, k, true, b, b);
	if (k != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(s, k);
	return rv;
}

bool des_probe(struct hg_p11 *p)
{
	struct p11_op *op;
	if (op_begin(p, "single DES probe", OP_REPEATABLE, &op) != HG_OK)
		return false;
	CK_RV rv = op_run(p, op, des_probe_body, NULL);
	/* A token without single DES refuses the mechanism: an answer, not a failure. */
	(void)op_end(p, op, p11_rv_err(rv) == HG_E_HSM_UNAVAILABLE ? rv : CKR_OK);
	log_info("hsm: %s: single DES (card validation keys, ISO 9797-1 MACs) %s", p->info.node,
		 rv == CKR_OK ? "available" : "NOT available from the token");
	return rv == CKR_OK;
}

bool p11_single_des(const struct hg_p11 *p)
{
	return p->single_des;
}

/* ---- raw block operations ---- */

/* Arguments and results of a raw block operation, in the operation's arena. */
struct block_args {
	hg_uuid id;
	CK_MECHANISM m;
	uint8_t iv[16];
	bool encrypt;
	const uint8_t *in;
	uint8_t *out;
	size_t n;
};

static CK_RV block_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct block_args *a = arg;
	CK_OBJECT_HANDLE k;
	CK_RV rv = handles_get(p, s, &a->id, CKO_SECRET_KEY, &k);
	if (rv == CKR_OK)
		rv = a->encrypt ? p->f->C_EncryptInit(s, &a->m, k) : p->f->C_DecryptInit(s, &a->m, k);
	CK_ULONG len = a->n;
	if (rv == CKR_OK)
		rv = a->encrypt ? p->f->C_Encrypt(s, (CK_BYTE_PTR)a->in, a->n, a->out, &len)
				: p->f->C_Decrypt(s, (CK_BYTE_PTR)a->in, a->n, a->out, &len);
	if (rv == CKR_OK && len != a->n)
		rv = CKR_GENERAL_ERROR;
	return rv;
}

hg_err p11_block(struct hg_p11 *p, const hg_uuid *id, enum hg_block_key key, bool encrypt, const uint8_t *iv,
		 const uint8_t *in, size_t n, uint8_t *out)
{
	static const struct {
		CK_MECHANISM_TYPE ecb, cbc;
		size_t block;
	} mechs[] = {
	    [HG_BLK_AES] = {CKM_AES_ECB, CKM_AES_CBC, 16},
	    [HG_BLK_TDES] = {CKM_DES3_ECB, CKM_DES3_CBC, 8},
	    [HG_BLK_DES_LEFT] = {CKM_DES_ECB, CKM_DES_CBC, 8},
	    [HG_BLK_DES_RIGHT] = {CKM_DES_ECB, CKM_DES_CBC, 8},
	};
	if ((unsigned)key >= sizeof mechs / sizeof *mechs)
		return HG_E_INVALID;
	size_t bl = mechs[key].block;
	if (n == 0 || n % bl || n > BLOCK_MAX)
		return HG_E_INVALID;
	struct p11_op *op;
	hg_err e = op_begin(p, "block", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct block_args *a = op_alloc(op, sizeof *a);
	*a = (struct block_args){.id = *id,
				 .m = {mechs[key].ecb, NULL, 0},
				 .encrypt = encrypt,
				 .in = op_copy(op, in, n),
				 .out = op_alloc(op, n),
				 .n = n};
	if (key == HG_BLK_DES_LEFT || key == HG_BLK_DES_RIGHT)
		p11_half_id(id, key == HG_BLK_DES_RIGHT, &a->id);
	if (iv) {
		memcpy(a->iv, iv, bl);
		a->m = (CK_MECHANISM){mechs[key].cbc, a->iv, bl};
	}
	CK_RV rv = op_run(p, op, block_body, a);
	if (rv == CKR_OK)
		memcpy(out, a->out, n);
	return op_end(p, op, rv);
}
