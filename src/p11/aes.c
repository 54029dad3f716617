/* AES keys: the AES-only generation entry point, destruction, and AES-GCM. */
#include <string.h>

#include "p11_internal.h"

hg_err p11_aes_generate(struct hg_p11 *p, const hg_uuid *id, unsigned bits, unsigned usage,
			char kcv[HG_KCV_HEX_LEN + 1])
{
	struct hg_p11_keyspec spec = {.type = HG_KT_AES, .bits = bits, .usage = usage, .exportable = false};
	return p11_generate(p, id, &spec, kcv);
}

hg_err p11_destroy(struct hg_p11 *p, const hg_uuid *id)
{
	struct p11_sess *s;
	CK_OBJECT_HANDLE h;
	CK_RV rv;
	hg_err e = sess_borrow_key(p, id, CKO_SECRET_KEY, &s, &h, &rv);
	if (e != HG_OK)
		return e;
	if (rv == CKR_OK)
		rv = p->f->C_DestroyObject(s->h, h);
	handles_drop(&p->handles, id);
	sess_return(p, s, rv);
	return p11_rv_err(rv);
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

hg_err p11_aes_gcm_encrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
			   size_t n, uint8_t *out)
{
	struct p11_sess *s;
	CK_OBJECT_HANDLE k;
	CK_RV rv;
	hg_err e = sess_borrow_key(p, id, CKO_SECRET_KEY, &s, &k, &rv);
	if (e != HG_OK)
		return e;
	if (rv == CKR_OK)
		rv = p->f->C_GenerateRandom(s->h, out, HG_GCM_IV_LEN);
	CK_GCM_PARAMS g;
	gcm_params(&g, out, aad, aad_len);
	CK_MECHANISM m = {CKM_AES_GCM, &g, sizeof g};
	if (rv == CKR_OK)
		rv = p->f->C_EncryptInit(s->h, &m, k);
	if (rv == CKR_OK) {
		static const uint8_t empty[1];
		CK_ULONG outlen = n + HG_GCM_TAG_LEN;
		rv = p->f->C_Encrypt(s->h, (CK_BYTE_PTR)(n ? pt : empty), n, out + HG_GCM_IV_LEN, &outlen);
		if (rv == CKR_OK && outlen != n + HG_GCM_TAG_LEN)
			rv = CKR_GENERAL_ERROR;
	}
	sess_return(p, s, rv);
	return p11_rv_err(rv);
}

hg_err p11_aes_gcm_decrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *aad, size_t aad_len, const uint8_t *in,
			   size_t n, uint8_t *pt, size_t *pt_len)
{
	if (n < HG_GCM_IV_LEN + HG_GCM_TAG_LEN)
		return HG_E_INVALID;
	struct p11_sess *s;
	CK_OBJECT_HANDLE k;
	CK_RV rv;
	hg_err e = sess_borrow_key(p, id, CKO_SECRET_KEY, &s, &k, &rv);
	if (e != HG_OK)
		return e;
	uint8_t iv[HG_GCM_IV_LEN];
	memcpy(iv, in, sizeof iv);
	CK_GCM_PARAMS g;
	gcm_params(&g, iv, aad, aad_len);
	CK_MECHANISM m = {CKM_AES_GCM, &g, sizeof g};
	if (rv == CKR_OK) {
		CK_ULONG outlen = n;
		rv = decrypt_data(p, s->h, k, &m, in + HG_GCM_IV_LEN, n - HG_GCM_IV_LEN, pt, &outlen);
		*pt_len = outlen;
	}
	sess_return(p, s, rv);
	return p11_rv_err(rv);
}
