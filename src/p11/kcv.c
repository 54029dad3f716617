/* Key check values: a short, public fingerprint of a secret key's value, computed inside the
 * HSM. AES: the first 3 bytes of AES-CMAC(K, 0^128). TDES: the first 3 bytes of
 * TDES-ECB(K, 0^64), the payment industry's classic KCV. HMAC keys have none. */
#include <openssl/crypto.h>

#include "p11_internal.h"

/* One single-part ECB encryption of one block of n bytes (for KCVs only). */
static CK_RV ecb_block(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, CK_MECHANISM_TYPE mech,
		       const uint8_t *in, uint8_t *out, CK_ULONG n)
{
	CK_MECHANISM m = {mech, NULL, 0};
	CK_RV rv = p->f->C_EncryptInit(s, &m, k);
	if (rv != CKR_OK)
		return rv;
	CK_ULONG outlen = n;
	rv = p->f->C_Encrypt(s, (CK_BYTE_PTR)in, n, out, &outlen);
	return rv == CKR_OK && outlen != n ? CKR_GENERAL_ERROR : rv;
}

/* For one complete block M, CMAC is E(K, M ⊕ K1) with K1 = dbl(E(K, 0^128)) (NIST SP
 * 800-38B), so two ECB blocks suffice. */
static CK_RV aes_kcv(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, char kcv[HG_KCV_HEX_LEN + 1])
{
	uint8_t zero[16] = {0}, l[16], k1[16], t[16];
	CK_RV rv = ecb_block(p, s, k, CKM_AES_ECB, zero, l, 16);
	if (rv != CKR_OK)
		return rv;
	for (int i = 0; i < 16; i++)
		k1[i] = (uint8_t)(l[i] << 1 | (i < 15 ? l[i + 1] >> 7 : 0));
	if (l[0] & 0x80)
		k1[15] ^= 0x87;
	rv = ecb_block(p, s, k, CKM_AES_ECB, k1, t, 16);
	if (rv == CKR_OK)
		hex_encode(t, 3, kcv);
	OPENSSL_cleanse(l, sizeof l);
	OPENSSL_cleanse(k1, sizeof k1);
	return rv;
}

/* CKM_DES3_ECB serves both 2-key (CKK_DES2) and 3-key (CKK_DES3) keys. */
static CK_RV tdes_kcv(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, char kcv[HG_KCV_HEX_LEN + 1])
{
	uint8_t zero[8] = {0}, t[8];
	CK_RV rv = ecb_block(p, s, k, CKM_DES3_ECB, zero, t, 8);
	if (rv == CKR_OK)
		hex_encode(t, 3, kcv);
	return rv;
}

CK_RV key_kcv(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, enum hg_p11_type type,
	      char kcv[HG_KCV_HEX_LEN + 1])
{
	kcv[0] = '\0';
	switch (type) {
	case HG_KT_AES: return aes_kcv(p, s, k, kcv);
	case HG_KT_TDES: return tdes_kcv(p, s, k, kcv);
	default: return CKR_OK;
	}
}
