/* AES keys: the AES-only generation entry point, destruction, and AES-GCM. */
#include <string.h>

#include "p11_internal.h"

hg_err p11_aes_generate(struct hg_p11 *p, const hg_uuid *id, unsigned bits, unsigned usage,
			char kcv[HG_KCV_HEX_LEN + 1])
{
	struct hg_p11_keyspec spec = {.type = HG_KT_AES, .bits = bits, .usage = usage, .exportable = false};
	return p11_generate(p, id, &spec, kcv);
}

struct destroy_args {
	hg_uuid id;
};

static CK_RV destroy_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct destroy_args *a = arg;
	CK_OBJECT_HANDLE h;
	CK_RV rv = handles_get(p, s, &a->id, CKO_SECRET_KEY, &h);
	if (rv == CKR_OK)
		rv = p->f->C_DestroyObject(s, h);
	handles_drop(&p->handles, &a->id);
	return rv;
}

hg_err p11_destroy(struct hg_p11 *p, const hg_uuid *id)
{
	struct p11_op *op;
	hg_err e = op_begin(p, "destroy", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct destroy_args *a = op_alloc(op, sizeof *a);
	a->id = *id;
	return op_end(p, op, op_run(p, op, destroy_body, a));
}

/* Sets up GCM parameters; the IV is IV_LEN bytes at iv. */
static void gcm_params(CK_GCM_PARAMS *g, uint8_t *iv, const uint8_t *aad, size_t aad_len)
{
	static uint8_t none[1];
	g->pIv = iv;
	g->ulIvLen = HG_GCM_IV_LEN;
	g->ulIvBits = HG_GCM_IV_LEN * 8;
	g->pAAD = aad_len ? (CK_BYTE_PTR)aad : none;
	g->ulAADLen = aad_len;
	g->ulTagBits = HG_GCM_TAG_LEN * 8;
}

/* Arguments and results of AES-GCM, in the operation's arena. */
struct gcm_args {
	hg_uuid id;
	const uint8_t *aad, *in;
	size_t aad_len, n;
	uint8_t *out; /* encrypt: IV ‖ ciphertext ‖ tag; decrypt: the plaintext */
	CK_ULONG out_len;
};

static CK_RV gcm_encrypt_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct gcm_args *a = arg;
	CK_OBJECT_HANDLE k;
	CK_RV rv = handles_get(p, s, &a->id, CKO_SECRET_KEY, &k);
	if (rv == CKR_OK)
		rv = p->f->C_GenerateRandom(s, a->out, HG_GCM_IV_LEN);
	CK_GCM_PARAMS g;
	gcm_params(&g, a->out, a->aad, a->aad_len);
	CK_MECHANISM m = {CKM_AES_GCM, &g, sizeof g};
	if (rv == CKR_OK)
		rv = p->f->C_EncryptInit(s, &m, k);
	if (rv == CKR_OK) {
		static const uint8_t empty[1];
		a->out_len = a->n + HG_GCM_TAG_LEN;
		rv = p->f->C_Encrypt(s, (CK_BYTE_PTR)(a->n ? a->in : empty), a->n, a->out + HG_GCM_IV_LEN, &a->out_len);
		if (rv == CKR_OK && a->out_len != a->n + HG_GCM_TAG_LEN)
			rv = CKR_GENERAL_ERROR;
	}
	return rv;
}

hg_err p11_aes_gcm_encrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
			   size_t n, uint8_t *out)
{
	struct p11_op *op;
	hg_err e = op_begin(p, "encrypt", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct gcm_args *a = op_alloc(op, sizeof *a);
	*a = (struct gcm_args){.id = *id,
			       .aad = op_copy(op, aad, aad_len),
			       .aad_len = aad_len,
			       .in = op_copy(op, pt, n),
			       .n = n,
			       .out = op_alloc(op, HG_GCM_IV_LEN + n + HG_GCM_TAG_LEN)};
	CK_RV rv = op_run(p, op, gcm_encrypt_body, a);
	if (rv == CKR_OK)
		memcpy(out, a->out, HG_GCM_IV_LEN + n + HG_GCM_TAG_LEN);
	return op_end(p, op, rv);
}

static CK_RV gcm_decrypt_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct gcm_args *a = arg;
	CK_OBJECT_HANDLE k;
	CK_RV rv = handles_get(p, s, &a->id, CKO_SECRET_KEY, &k);
	uint8_t iv[HG_GCM_IV_LEN];
	memcpy(iv, a->in, sizeof iv);
	CK_GCM_PARAMS g;
	gcm_params(&g, iv, a->aad, a->aad_len);
	CK_MECHANISM m = {CKM_AES_GCM, &g, sizeof g};
	if (rv == CKR_OK) {
		a->out_len = a->n;
		rv = decrypt_data(p, s, k, &m, a->in + HG_GCM_IV_LEN, a->n - HG_GCM_IV_LEN, a->out, &a->out_len);
	}
	return rv;
}

hg_err p11_aes_gcm_decrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *aad, size_t aad_len, const uint8_t *in,
			   size_t n, uint8_t *pt, size_t *pt_len)
{
	if (n < HG_GCM_IV_LEN + HG_GCM_TAG_LEN)
		return HG_E_INVALID;
	struct p11_op *op;
	hg_err e = op_begin(p, "decrypt", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct gcm_args *a = op_alloc(op, sizeof *a);
	*a = (struct gcm_args){.id = *id,
			       .aad = op_copy(op, aad, aad_len),
			       .aad_len = aad_len,
			       .in = op_copy(op, in, n),
			       .n = n,
			       .out = op_alloc(op, n)};
	CK_RV rv = op_run(p, op, gcm_decrypt_body, a);
	if (rv == CKR_OK) {
		memcpy(pt, a->out, a->out_len);
		*pt_len = a->out_len;
	}
	return op_end(p, op, rv);
}
