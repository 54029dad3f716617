/* AES keys: generation with usage-bound attributes, key check values, and AES-GCM. */
#include <string.h>

#include <openssl/crypto.h>

#include "p11_internal.h"

/* Runs one single-part AES-ECB encryption of one block (for the KCV only). */
static CK_RV ecb_block(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, const uint8_t in[16], uint8_t out[16])
{
	CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
	CK_RV rv = p->f->C_EncryptInit(s, &m, k);
	if (rv != CKR_OK)
		return rv;
	CK_ULONG n = 16;
	return p->f->C_Encrypt(s, (CK_BYTE_PTR)in, 16, out, &n);
}

/* KCV = the first 3 bytes of AES-CMAC(K, 0^128). For one complete block M, CMAC is
 * E(K, M ⊕ K1) with K1 = dbl(E(K, 0^128)) (NIST SP 800-38B), so two ECB blocks suffice. */
static CK_RV aes_kcv(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, char kcv[HG_KCV_HEX_LEN + 1])
{
	uint8_t zero[16] = {0}, l[16], k1[16], t[16];
	CK_RV rv = ecb_block(p, s, k, zero, l);
	if (rv != CKR_OK)
		return rv;
	for (int i = 0; i < 16; i++)
		k1[i] = (uint8_t)(l[i] << 1 | (i < 15 ? l[i + 1] >> 7 : 0));
	if (l[0] & 0x80)
		k1[15] ^= 0x87;
	rv = ecb_block(p, s, k, k1, t);
	if (rv == CKR_OK)
		hex_encode(t, 3, kcv);
	OPENSSL_cleanse(l, sizeof l);
	OPENSSL_cleanse(k1, sizeof k1);
	return rv;
}

hg_err p11_aes_generate(struct hg_p11 *p, const hg_uuid *id, unsigned bits, unsigned usage,
			char kcv[HG_KCV_HEX_LEN + 1])
{
	struct p11_sess *s;
	hg_err e = sess_borrow(p, &s);
	if (e != HG_OK)
		return e;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = bits / 8;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL dec = (usage & HG_P11_DECRYPT) ? CK_TRUE : CK_FALSE;
	char label[HG_UUID_STR_LEN + 1];
	uuid_format(id, label);
	/* CKA_ENCRYPT starts TRUE so the KCV can be computed, and is switched off below when
	 * the usage does not include encryption. */
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &kt, sizeof kt},
	    {CKA_VALUE_LEN, &len, sizeof len},   {CKA_TOKEN, &yes, sizeof yes},
	    {CKA_PRIVATE, &yes, sizeof yes},     {CKA_SENSITIVE, &yes, sizeof yes},
	    {CKA_EXTRACTABLE, &no, sizeof no},   {CKA_MODIFIABLE, &yes, sizeof yes},
	    {CKA_ENCRYPT, &yes, sizeof yes},     {CKA_DECRYPT, &dec, sizeof dec},
	    {CKA_SIGN, &no, sizeof no},          {CKA_VERIFY, &no, sizeof no},
	    {CKA_WRAP, &no, sizeof no},          {CKA_UNWRAP, &no, sizeof no},
	    {CKA_DERIVE, &no, sizeof no},        {CKA_ID, (void *)id->b, sizeof id->b},
	    {CKA_LABEL, label, HG_UUID_STR_LEN},
	};
	CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv = p->f->C_GenerateKey(s->h, &m, tmpl, sizeof tmpl / sizeof *tmpl, &h);
	if (rv == CKR_OK)
		rv = aes_kcv(p, s->h, h, kcv);
	if (rv == CKR_OK && !(usage & HG_P11_ENCRYPT)) {
		CK_ATTRIBUTE off = {CKA_ENCRYPT, &no, sizeof no};
		rv = p->f->C_SetAttributeValue(s->h, h, &off, 1);
	}
	if (rv == CKR_OK)
		handles_put(&p->handles, id, cls, h);
	else if (h != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(s->h, h);
	sess_return(p, s, rv);
	if (rv != CKR_OK)
		log_error("hsm: AES key generation failed: CKR 0x%08lx", (unsigned long)rv);
	return p11_rv_err(rv);
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
	if (rv == CKR_OK)
		rv = p->f->C_DecryptInit(s->h, &m, k);
	if (rv == CKR_OK) {
		CK_ULONG outlen = n;
		rv = p->f->C_Decrypt(s->h, (CK_BYTE_PTR)in + HG_GCM_IV_LEN, n - HG_GCM_IV_LEN, pt, &outlen);
		*pt_len = outlen;
		/* SoftHSM reports a tag that does not verify as CKR_GENERAL_ERROR (vendor modules
		 * say CKR_ENCRYPTED_DATA_INVALID). If the session still answers, the failure was
		 * the data's, not the device's: keep the session and call the input invalid. */
		CK_SESSION_INFO si;
		if ((rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) &&
		    p->f->C_GetSessionInfo(s->h, &si) == CKR_OK)
			rv = CKR_ENCRYPTED_DATA_INVALID;
	}
	sess_return(p, s, rv);
	return p11_rv_err(rv);
}
