/* Signatures and MACs. Messages are hashed in the gateway (OpenSSL) and the HSM signs the
 * digest with the raw mechanism (CKM_RSA_PKCS_PSS, CKM_RSA_PKCS over a DigestInfo,
 * CKM_ECDSA), so a message and a precomputed digest take the same path. EdDSA and MACs take
 * the message itself. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "p11_internal.h"

struct sig_info {
	CK_MECHANISM_TYPE mech;
	CK_OBJECT_CLASS sign_cls, verify_cls;
	const char *md; /* OpenSSL digest name, or NULL: the HSM takes the message */
	CK_MECHANISM_TYPE pss_hash;
	CK_RSA_PKCS_MGF_TYPE pss_mgf;
	size_t digest_len;
};

static const struct sig_info sigs[HG_SIG_COUNT] = {
    [HG_SIG_RSA_PSS_SHA256] = {CKM_RSA_PKCS_PSS, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, "SHA256", CKM_SHA256, CKG_MGF1_SHA256,
			       32},
    [HG_SIG_RSA_PSS_SHA384] = {CKM_RSA_PKCS_PSS, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, "SHA384", CKM_SHA384, CKG_MGF1_SHA384,
			       48},
    [HG_SIG_RSA_PKCS1_SHA256] = {CKM_RSA_PKCS, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, "SHA256", 0, 0, 32},
    [HG_SIG_ECDSA_SHA256] = {CKM_ECDSA, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, "SHA256", 0, 0, 32},
    [HG_SIG_ECDSA_SHA384] = {CKM_ECDSA, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, "SHA384", 0, 0, 48},
    [HG_SIG_EDDSA] = {CKM_EDDSA, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, NULL, 0, 0, 0},
    [HG_MAC_HMAC_SHA256] = {CKM_SHA256_HMAC, CKO_SECRET_KEY, CKO_SECRET_KEY, NULL, 0, 0, 0},
    [HG_MAC_HMAC_SHA384] = {CKM_SHA384_HMAC, CKO_SECRET_KEY, CKO_SECRET_KEY, NULL, 0, 0, 0},
    [HG_MAC_HMAC_SHA512] = {CKM_SHA512_HMAC, CKO_SECRET_KEY, CKO_SECRET_KEY, NULL, 0, 0, 0},
    [HG_MAC_AES_CMAC] = {CKM_AES_CMAC, CKO_SECRET_KEY, CKO_SECRET_KEY, NULL, 0, 0, 0},
};

/* DER DigestInfo prefix of SHA-256 (RFC 8017 §9.2, note 1), for PKCS #1 v1.5 signatures. */
static const uint8_t sha256_digest_info[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

size_t p11_sig_digest_len(enum hg_sig_alg alg)
{
	return (unsigned)alg < HG_SIG_COUNT ? sigs[alg].digest_len : 0;
}

/* What the HSM is given: the message, or its digest (computed here unless given), wrapped
 * in a DigestInfo for PKCS #1 v1.5. Returns false for a digest of the wrong length. */
static bool hsm_input(const struct sig_info *si, const uint8_t *data, size_t n, bool is_digest, uint8_t *buf,
		      size_t *len, const uint8_t **out)
{
	if (!si->md) {
		if (is_digest)
			return false;
		*out = data;
		*len = n;
		return true;
	}
	size_t pre = si->mech == CKM_RSA_PKCS ? sizeof sha256_digest_info : 0;
	memcpy(buf, sha256_digest_info, pre);
	if (is_digest) {
		if (n != si->digest_len)
			return false;
		memcpy(buf + pre, data, n);
	} else {
		unsigned int dl = 0;
		if (EVP_Digest(data, n, buf + pre, &dl, EVP_get_digestbyname(si->md), NULL) != 1)
			return false;
	}
	*out = buf;
	*len = pre + si->digest_len;
	return true;
}

static void mechanism(const struct sig_info *si, CK_MECHANISM *m, CK_RSA_PKCS_PSS_PARAMS *pss)
{
	*m = (CK_MECHANISM){si->mech, NULL, 0};
	if (si->mech == CKM_RSA_PKCS_PSS) {
		*pss = (CK_RSA_PKCS_PSS_PARAMS){si->pss_hash, si->pss_mgf, si->digest_len};
		m->pParameter = pss;
		m->ulParameterLen = sizeof *pss;
	}
}

/* Arguments and results of sign and verify, in the operation's arena. */
struct sig_args {
	hg_uuid id;
	const struct sig_info *si;
	const uint8_t *in; /* what the HSM is given (hsm_input) */
	size_t in_len;
	const uint8_t *sig_in; /* verify: the signature */
	size_t sig_in_len;
	uint8_t sig[HG_SIG_MAX]; /* sign: the signature */
	CK_ULONG sig_len;
	bool valid; /* verify */
};

static CK_RV sign_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct sig_args *a = arg;
	CK_OBJECT_HANDLE k;
	CK_RV rv = handles_get(p, s, &a->id, a->si->sign_cls, &k);
	CK_MECHANISM m;
	CK_RSA_PKCS_PSS_PARAMS pss;
	mechanism(a->si, &m, &pss);
	if (rv == CKR_OK)
		rv = p->f->C_SignInit(s, &m, k);
	if (rv == CKR_OK) {
		a->sig_len = sizeof a->sig;
		rv = p->f->C_Sign(s, (CK_BYTE_PTR)a->in, a->in_len, a->sig, &a->sig_len);
	}
	return rv;
}

static CK_RV verify_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct sig_args *a = arg;
	CK_OBJECT_HANDLE k;
	CK_RV rv = handles_get(p, s, &a->id, a->si->verify_cls, &k);
	CK_MECHANISM m;
	CK_RSA_PKCS_PSS_PARAMS pss;
	mechanism(a->si, &m, &pss);
	if (rv == CKR_OK)
		rv = p->f->C_VerifyInit(s, &m, k);
	if (rv == CKR_OK)
		rv = p->f->C_Verify(s, (CK_BYTE_PTR)a->in, a->in_len, (CK_BYTE_PTR)a->sig_in, a->sig_in_len);
	a->valid = rv == CKR_OK;
	/* A signature that does not verify is an answer, not an error. */
	return rv == CKR_SIGNATURE_INVALID ? CKR_OK : rv;
}

hg_err p11_sign(struct hg_p11 *p, const hg_uuid *id, enum hg_sig_alg alg, const uint8_t *data, size_t n, bool is_digest,
		uint8_t sig[HG_SIG_MAX], size_t *sig_len)
{
	const struct sig_info *si = &sigs[alg];
	uint8_t buf[128];
	const uint8_t *in;
	size_t in_len;
	if (!hsm_input(si, data, n, is_digest, buf, &in_len, &in))
		return HG_E_INVALID;
	struct p11_op *op;
	hg_err e = op_begin(p, "sign", OP_REPEATABLE, &op);
	if (e == HG_OK) {
		struct sig_args *a = op_alloc(op, sizeof *a);
		*a = (struct sig_args){.id = *id, .si = si, .in = op_copy(op, in, in_len), .in_len = in_len};
		CK_RV rv = op_run(p, op, sign_body, a);
		if (rv == CKR_OK) {
			memcpy(sig, a->sig, a->sig_len);
			*sig_len = a->sig_len;
		}
		e = op_end(p, op, rv);
	}
	OPENSSL_cleanse(buf, sizeof buf);
	return e;
}

hg_err p11_verify(struct hg_p11 *p, const hg_uuid *id, enum hg_sig_alg alg, const uint8_t *data, size_t n,
		  bool is_digest, const uint8_t *sig, size_t sig_len, bool *valid)
{
	const struct sig_info *si = &sigs[alg];
	uint8_t buf[128];
	const uint8_t *in;
	size_t in_len;
	*valid = false;
	if (!hsm_input(si, data, n, is_digest, buf, &in_len, &in))
		return HG_E_INVALID;
	struct p11_op *op;
	hg_err e = op_begin(p, "verify", OP_REPEATABLE, &op);
	if (e == HG_OK) {
		struct sig_args *a = op_alloc(op, sizeof *a);
		*a = (struct sig_args){.id = *id,
				       .si = si,
				       .in = op_copy(op, in, in_len),
				       .in_len = in_len,
				       .sig_in = op_copy(op, sig, sig_len),
				       .sig_in_len = sig_len};
		CK_RV rv = op_run(p, op, verify_body, a);
		if (rv == CKR_OK)
			*valid = a->valid;
		e = op_end(p, op, rv);
	}
	OPENSSL_cleanse(buf, sizeof buf);
	return e;
}

struct random_args {
	uint8_t *out;
	size_t n;
};

static CK_RV random_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct random_args *a = arg;
	return p->f->C_GenerateRandom(s, a->out, a->n);
}

hg_err p11_random(struct hg_p11 *p, uint8_t *out, size_t n)
{
	struct p11_op *op;
	hg_err e = op_begin(p, "random", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct random_args *a = op_alloc(op, sizeof *a);
	*a = (struct random_args){.out = op_alloc(op, n ? n : 1), .n = n};
	CK_RV rv = op_run(p, op, random_body, a);
	if (rv == CKR_OK)
		memcpy(out, a->out, n);
	return op_end(p, op, rv);
}
