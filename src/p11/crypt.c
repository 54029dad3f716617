/* Encryption beyond AES-GCM: AES-CBC with PKCS #7 padding, and RSA-OAEP-SHA256 decryption.
 *
 * RSA-OAEP with SHA-256 runs natively where the token implements it. SoftHSM implements OAEP
 * with SHA-1 only: there the HSM performs the raw RSA operation (CKM_RSA_X_509) and the
 * gateway removes the OAEP padding with OpenSSL's constant-time check. The decrypted
 * plaintext goes back to the caller anyway, so nothing is exposed that the operation does not
 * return; every failure is the same HG_E_INVALID, so there is no padding oracle to ask. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "p11_internal.h"

/* Arguments and results of AES-CBC and RSA-OAEP, in the operation's arena. */
struct crypt_args {
	hg_uuid id;
	const uint8_t *in;
	size_t n;
	uint8_t *out;
	CK_ULONG out_len;
	bool native; /* RSA-OAEP: the token does SHA-256 OAEP itself */
};

static CK_RV cbc_encrypt_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct crypt_args *a = arg;
	CK_OBJECT_HANDLE k;
	CK_RV rv = handles_get(p, s, &a->id, CKO_SECRET_KEY, &k);
	if (rv == CKR_OK)
		rv = p->f->C_GenerateRandom(s, a->out, HG_CBC_IV_LEN);
	CK_MECHANISM m = {CKM_AES_CBC_PAD, a->out, HG_CBC_IV_LEN};
	if (rv == CKR_OK)
		rv = p->f->C_EncryptInit(s, &m, k);
	if (rv == CKR_OK) {
		static const uint8_t empty[1];
		CK_ULONG len = a->n + 16;
		rv = p->f->C_Encrypt(s, (CK_BYTE_PTR)(a->n ? a->in : empty), a->n, a->out + HG_CBC_IV_LEN, &len);
		a->out_len = HG_CBC_IV_LEN + len;
	}
	return rv;
}

hg_err p11_aes_cbc_encrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *pt, size_t n, uint8_t *out,
			   size_t *out_len)
{
	struct p11_op *op;
	hg_err e = op_begin(p, "encrypt", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct crypt_args *a = op_alloc(op, sizeof *a);
	*a = (struct crypt_args){
	    .id = *id, .in = op_copy(op, pt, n), .n = n, .out = op_alloc(op, HG_CBC_IV_LEN + n + 16)};
	CK_RV rv = op_run(p, op, cbc_encrypt_body, a);
	if (rv == CKR_OK) {
		memcpy(out, a->out, a->out_len);
		*out_len = a->out_len;
	}
	return op_end(p, op, rv);
}

static CK_RV cbc_decrypt_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct crypt_args *a = arg;
	CK_OBJECT_HANDLE k;
	CK_RV rv = handles_get(p, s, &a->id, CKO_SECRET_KEY, &k);
	uint8_t iv[HG_CBC_IV_LEN];
	memcpy(iv, a->in, sizeof iv);
	CK_MECHANISM m = {CKM_AES_CBC_PAD, iv, sizeof iv};
	if (rv == CKR_OK) {
		a->out_len = a->n;
		rv = decrypt_data(p, s, k, &m, a->in + HG_CBC_IV_LEN, a->n - HG_CBC_IV_LEN, a->out, &a->out_len);
	}
	return rv;
}

hg_err p11_aes_cbc_decrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *in, size_t n, uint8_t *pt,
			   size_t *pt_len)
{
	if (n < HG_CBC_IV_LEN + 16 || (n - HG_CBC_IV_LEN) % 16 != 0)
		return HG_E_INVALID;
	struct p11_op *op;
	hg_err e = op_begin(p, "decrypt", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct crypt_args *a = op_alloc(op, sizeof *a);
	*a = (struct crypt_args){.id = *id, .in = op_copy(op, in, n), .n = n, .out = op_alloc(op, n)};
	CK_RV rv = op_run(p, op, cbc_decrypt_body, a);
	if (rv == CKR_OK) {
		memcpy(pt, a->out, a->out_len);
		*pt_len = a->out_len;
	}
	return op_end(p, op, rv);
}

CK_RV decrypt_data(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, CK_MECHANISM *m, const uint8_t *in,
		   size_t n, uint8_t *out, CK_ULONG *len)
{
	CK_RV rv = p->f->C_DecryptInit(s, m, k);
	if (rv == CKR_OK)
		rv = p->f->C_Decrypt(s, (CK_BYTE_PTR)in, n, out, len);
	/* SoftHSM reports data that does not decrypt (a GCM tag, CBC padding) as
	 * CKR_GENERAL_ERROR, where vendor modules say CKR_ENCRYPTED_DATA_INVALID. If the session
	 * still answers, the failure was the data's, not the device's: keep the session. */
	CK_SESSION_INFO si;
	if ((rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) && p->f->C_GetSessionInfo(s, &si) == CKR_OK)
		rv = CKR_ENCRYPTED_DATA_INVALID;
	return rv;
}

static CK_RV oaep_decrypt_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct crypt_args *a = arg;
	CK_OBJECT_HANDLE k;
	CK_RV rv = handles_get(p, s, &a->id, CKO_PRIVATE_KEY, &k);
	/* A ciphertext is exactly as long as the modulus and below it; anything else is refused
	 * before the HSM decrypts anything. */
	uint8_t modulus[HG_RSA_MAX_BYTES];
	CK_ATTRIBUTE ma = {CKA_MODULUS, modulus, sizeof modulus};
	if (rv == CKR_OK)
		rv = p->f->C_GetAttributeValue(s, k, &ma, 1);
	if (rv == CKR_OK && (ma.ulValueLen != a->n || memcmp(a->in, modulus, a->n) >= 0))
		return CKR_ENCRYPTED_DATA_INVALID;
	a->out_len = HG_RSA_MAX_BYTES;
	if (rv == CKR_OK && a->native) {
		CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
		CK_MECHANISM m = {CKM_RSA_PKCS_OAEP, &op, sizeof op};
		rv = decrypt_data(p, s, k, &m, a->in, a->n, a->out, &a->out_len);
	} else if (rv == CKR_OK) {
		CK_MECHANISM m = {CKM_RSA_X_509, NULL, 0};
		rv = decrypt_data(p, s, k, &m, a->in, a->n, a->out, &a->out_len);
	}
	/* A ciphertext that does not fit the modulus is the caller's fault. */
	if (rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == CKR_DATA_LEN_RANGE || rv == CKR_ENCRYPTED_DATA_INVALID)
		rv = CKR_ENCRYPTED_DATA_INVALID;
	return rv;
}

hg_err p11_rsa_oaep_decrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *in, size_t n, uint8_t *pt,
			    size_t *pt_len)
{
	if (n == 0 || n > HG_RSA_MAX_BYTES)
		return HG_E_INVALID;
	struct p11_op *op;
	hg_err e = op_begin(p, "decrypt", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	bool native = p11_wrap_alg_supported(p, HG_WRAP_RSA_OAEP_SHA256);
	struct crypt_args *a = op_alloc(op, sizeof *a);
	*a = (struct crypt_args){
	    .id = *id, .in = op_copy(op, in, n), .n = n, .out = op_alloc(op, HG_RSA_MAX_BYTES), .native = native};
	CK_RV rv = op_run(p, op, oaep_decrypt_body, a);
	uint8_t em[HG_RSA_MAX_BYTES];
	CK_ULONG len = 0;
	if (rv == CKR_OK) {
		len = a->out_len;
		memcpy(native ? pt : em, a->out, len);
	}
	e = op_end(p, op, rv);
	if (e != HG_OK || native) {
		if (e == HG_OK)
			*pt_len = len;
		return e;
	}
	/* The encoded message is as long as the modulus, left-padded with zeros. */
	uint8_t padded[HG_RSA_MAX_BYTES];
	size_t mod = n;
	memset(padded, 0, sizeof padded);
	if (len > mod) {
		OPENSSL_cleanse(em, sizeof em);
		return HG_E_INVALID;
	}
	memcpy(padded + (mod - len), em, len);
	/* OpenSSL 3 deprecates the RSA_padding_* family without an EVP replacement for the
	 * padding check alone; this constant-time check is the one we need. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	int r = RSA_padding_check_PKCS1_OAEP_mgf1(pt, (int)mod, padded, (int)mod, (int)mod, NULL, 0, EVP_sha256(),
						  EVP_sha256());
#pragma GCC diagnostic pop
	OPENSSL_cleanse(em, sizeof em);
	OPENSSL_cleanse(padded, sizeof padded);
	if (r < 0)
		return HG_E_INVALID;
	*pt_len = (size_t)r;
	return HG_OK;
}
