/* Public keys: DER SubjectPublicKeyInfo built with OpenSSL from a public key object's
 * attributes, and the public key object that an unwrapped private key lacks (SoftHSM
 * unwraps the private half only). */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "p11_internal.h"

static const uint8_t p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t p384_oid[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t p521_oid[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
const uint8_t ed25519_params[5] = {0x06, 0x03, 0x2b, 0x65, 0x70};

static const struct ec_curve curves[] = {
    {256, NID_X9_62_prime256v1, "prime256v1", p256_oid, sizeof p256_oid},
    {384, NID_secp384r1, "secp384r1", p384_oid, sizeof p384_oid},
    {521, NID_secp521r1, "secp521r1", p521_oid, sizeof p521_oid},
};

#define EC_MAX_FIELD_BYTES 66                           /* P-521 */
#define EC_MAX_POINT_LEN   (1 + 2 * EC_MAX_FIELD_BYTES) /* uncompressed */

const struct ec_curve *ec_curve_by_bits(unsigned bits)
{
	for (size_t i = 0; i < sizeof curves / sizeof *curves; i++)
		if (curves[i].bits == bits)
			return &curves[i];
	return NULL;
}

static const struct ec_curve *ec_curve_by_params(const uint8_t *der, size_t n)
{
	for (size_t i = 0; i < sizeof curves / sizeof *curves; i++)
		if (curves[i].params_len == n && memcmp(curves[i].params, der, n) == 0)
			return &curves[i];
	return NULL;
}

static size_t field_bytes(const struct ec_curve *c)
{
	return (c->bits + 7) / 8;
}

/* The content of the DER OCTET STRING that is exactly der[0, n), or NULL. */
static const uint8_t *octet_string_content(const uint8_t *der, size_t n, size_t *len)
{
	if (n < 2 || der[0] != 0x04)
		return NULL;
	size_t l, hdr;
	if (der[1] < 0x80) {
		l = der[1];
		hdr = 2;
	} else if (der[1] == 0x81 && n >= 3) {
		l = der[2];
		hdr = 3;
	} else {
		return NULL;
	}
	if (hdr + l != n)
		return NULL;
	*len = l;
	return der + hdr;
}

/* CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 2.40; SoftHSM also for
 * Ed25519); some modules return the bare point. Accepts either when the length fits. */
static const uint8_t *ec_point_bytes(const uint8_t *v, size_t n, size_t want, size_t *len)
{
	const uint8_t *c = octet_string_content(v, n, len);
	if (c && *len == want)
		return c;
	*len = n;
	return n == want ? v : NULL;
}

/* DER OCTET STRING of n < 256 bytes into out (n + 3 bytes); returns its length. */
static size_t der_octet_string(const uint8_t *in, size_t n, uint8_t *out)
{
	size_t hdr = 2;
	out[0] = 0x04;
	if (n < 0x80) {
		out[1] = (uint8_t)n;
	} else {
		out[1] = 0x81;
		out[2] = (uint8_t)n;
		hdr = 3;
	}
	memcpy(out + hdr, in, n);
	return hdr + n;
}

/* ---- SubjectPublicKeyInfo ---- */

static EVP_PKEY *pkey_from_params(const char *alg, OSSL_PARAM_BLD *b)
{
	EVP_PKEY *pk = NULL;
	OSSL_PARAM *params = b ? OSSL_PARAM_BLD_to_param(b) : NULL;
	EVP_PKEY_CTX *c = params ? EVP_PKEY_CTX_new_from_name(NULL, alg, NULL) : NULL;
	if (c && EVP_PKEY_fromdata_init(c) > 0 && EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pk = NULL;
	EVP_PKEY_CTX_free(c);
	OSSL_PARAM_free(params);
	return pk;
}

static hg_err spki_of(EVP_PKEY *pk, uint8_t **der, size_t *n)
{
	int len = pk ? i2d_PUBKEY(pk, NULL) : -1;
	uint8_t *buf = len > 0 ? malloc((size_t)len) : NULL, *q = buf;
	if (buf && i2d_PUBKEY(pk, &q) == len) {
		*der = buf;
		*n = (size_t)len;
	} else {
		free(buf);
		buf = NULL;
	}
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return buf ? HG_OK : HG_E_INTERNAL;
}

static hg_err spki_rsa(const uint8_t *mod, size_t mod_len, const uint8_t *exp, size_t exp_len, uint8_t **der, size_t *n)
{
	BIGNUM *bn_n = BN_bin2bn(mod, (int)mod_len, NULL), *bn_e = BN_bin2bn(exp, (int)exp_len, NULL);
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	EVP_PKEY *pk = NULL;
	if (bn_n && bn_e && b && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, bn_e))
		pk = pkey_from_params("RSA", b);
	OSSL_PARAM_BLD_free(b);
	BN_free(bn_n);
	BN_free(bn_e);
	return spki_of(pk, der, n);
}

static hg_err spki_ec(const uint8_t *params, size_t params_len, const uint8_t *point, size_t point_len, uint8_t **der,
		      size_t *n)
{
	const struct ec_curve *c = ec_curve_by_params(params, params_len);
	size_t len;
	const uint8_t *pt = c ? ec_point_bytes(point, point_len, 1 + 2 * field_bytes(c), &len) : NULL;
	if (!pt)
		return HG_E_INTERNAL;
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	EVP_PKEY *pk = NULL;
	/* Importing checks that the point is on the curve. */
	if (b && OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, c->name, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, len))
		pk = pkey_from_params("EC", b);
	OSSL_PARAM_BLD_free(b);
	return spki_of(pk, der, n);
}

static hg_err spki_ed25519(const uint8_t *point, size_t point_len, uint8_t **der, size_t *n)
{
	size_t len;
	const uint8_t *pt = ec_point_bytes(point, point_len, 32, &len);
	if (!pt)
		return HG_E_INTERNAL;
	return spki_of(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pt, len), der, n);
}

/* Arguments and results of p11_public_key_der, in the operation's arena. */
struct pub_args {
	struct p11_op *op;
	hg_uuid id;
	enum hg_p11_type type;
	uint8_t *a, *b; /* RSA: modulus, exponent; EC: params, point; Ed25519: -, point */
	size_t an, bn;
};

/* Reads attribute type of h into the arena. */
static CK_RV attr_arena(struct hg_p11 *p, struct p11_op *op, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
			CK_ATTRIBUTE_TYPE type, uint8_t **v, size_t *n)
{
	uint8_t *m = NULL;
	CK_RV rv = attr_alloc(p, s, h, type, &m, n);
	if (rv == CKR_OK)
		*v = op_copy(op, m, *n);
	free(m);
	return rv;
}

static CK_RV public_key_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct pub_args *a = arg;
	CK_OBJECT_HANDLE h;
	CK_RV rv = handles_get(p, s, &a->id, CKO_PUBLIC_KEY, &h);
	struct hg_p11_keyspec spec = {.type = a->type};
	CK_KEY_TYPE kt = CKK_VENDOR_DEFINED;
	CK_ATTRIBUTE kta = {CKA_KEY_TYPE, &kt, sizeof kt};
	if (rv == CKR_OK)
		rv = p->f->C_GetAttributeValue(s, h, &kta, 1);
	if (rv == CKR_OK && kt != spec_key_type(&spec))
		rv = CKR_KEY_TYPE_INCONSISTENT;
	bool rsa = a->type == HG_KT_RSA;
	if (rv == CKR_OK)
		rv = attr_arena(p, a->op, s, h, rsa ? CKA_MODULUS : CKA_EC_PARAMS, &a->a, &a->an);
	if (rv == CKR_OK)
		rv = attr_arena(p, a->op, s, h, rsa ? CKA_PUBLIC_EXPONENT : CKA_EC_POINT, &a->b, &a->bn);
	return rv;
}

hg_err p11_public_key_der(struct hg_p11 *p, const hg_uuid *id, enum hg_p11_type type, uint8_t **der, size_t *n)
{
	*der = NULL;
	*n = 0;
	if (!type_is_pair(type))
		return HG_E_INVALID;
	struct p11_op *op;
	hg_err e = op_begin(p, "public key", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct pub_args *a = op_alloc(op, sizeof *a);
	*a = (struct pub_args){.op = op, .id = *id, .type = type};
	CK_RV rv = op_run(p, op, public_key_body, a);
	if (rv == CKR_OK) {
		if (type == HG_KT_RSA)
			rv = spki_rsa(a->a, a->an, a->b, a->bn, der, n) == HG_OK ? CKR_OK : CKR_HOST_FAILED;
		else if (type == HG_KT_EC)
			rv = spki_ec(a->a, a->an, a->b, a->bn, der, n) == HG_OK ? CKR_OK : CKR_HOST_FAILED;
		else
			rv = spki_ed25519(a->b, a->bn, der, n) == HG_OK ? CKR_OK : CKR_HOST_FAILED;
		if (rv != CKR_OK)
			log_error("hsm: the token's public key attributes do not make a public key");
	}
	return op_end(p, op, rv);
}

/* ---- the public key of an unwrapped private key ---- */

/* Signs the 32-byte digest z with CKM_ECDSA; sig receives r ‖ s, each flen bytes. */
static CK_RV ecdsa_sign(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, const uint8_t z[32], uint8_t *sig,
			size_t flen)
{
	CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
	CK_RV rv = p->f->C_SignInit(s, &m, priv);
	if (rv != CKR_OK)
		return rv;
	CK_ULONG len = 2 * flen;
	rv = p->f->C_Sign(s, (CK_BYTE_PTR)z, 32, sig, &len);
	return rv == CKR_OK && len != 2 * flen ? CKR_HOST_FAILED : rv;
}

/* ECDSA public key recovery (SEC 1 §4.1.6). From a signature (r, s) on digest e, the public
 * key is Q = r⁻¹(sR − eG) where R is one of the two points with x = r (the case x = r + n has
 * a probability near 2⁻¹²⁸ and is not tried). The candidate that also verifies a second
 * signature (r2, s2) on e2 is the key. Writes the uncompressed point into out. */
static bool ecdsa_recover(const struct ec_curve *c, const uint8_t *sig1, const uint8_t *z1, const uint8_t *sig2,
			  const uint8_t *z2, uint8_t out[EC_MAX_POINT_LEN], size_t *out_len)
{
	int fl = (int)field_bytes(c);
	EC_GROUP *g = EC_GROUP_new_by_curve_name(c->nid);
	BN_CTX *ctx = BN_CTX_new();
	EC_POINT *R = g ? EC_POINT_new(g) : NULL, *Q = g ? EC_POINT_new(g) : NULL, *X = g ? EC_POINT_new(g) : NULL;
	bool found = false;
	if (!R || !Q || !X || !ctx)
		goto out;
	BN_CTX_start(ctx);
	BIGNUM *r = BN_CTX_get(ctx), *s = BN_CTX_get(ctx), *e = BN_CTX_get(ctx), *u1 = BN_CTX_get(ctx);
	BIGNUM *u2 = BN_CTX_get(ctx), *r2 = BN_CTX_get(ctx), *s2 = BN_CTX_get(ctx), *v1 = BN_CTX_get(ctx);
	BIGNUM *v2 = BN_CTX_get(ctx), *x = BN_CTX_get(ctx);
	const BIGNUM *n = EC_GROUP_get0_order(g);
	bool ok = x && BN_bin2bn(sig1, fl, r) && BN_bin2bn(sig1 + fl, fl, s) && BN_bin2bn(z1, 32, e) &&
		  BN_bin2bn(sig2, fl, r2) && BN_bin2bn(sig2 + fl, fl, s2) && BN_bin2bn(z2, 32, x) &&
		  /* u1 = −e·r⁻¹, u2 = s·r⁻¹ (mod n): Q = u1·G + u2·R */
		  BN_mod_inverse(v1, r, n, ctx) && BN_mod_mul(u1, e, v1, n, ctx) && BN_mod_sub(u1, n, u1, n, ctx) &&
		  BN_mod_mul(u2, s, v1, n, ctx) &&
		  /* the second signature verifies when x(v1·G + v2·Q) ≡ r2 with w = s2⁻¹, v1 = e2·w, v2 = r2·w */
		  BN_mod_inverse(v2, s2, n, ctx) && BN_mod_mul(v1, x, v2, n, ctx) && BN_mod_mul(v2, r2, v2, n, ctx);
	for (int ybit = 0; ok && ybit < 2 && !found; ybit++) {
		if (!EC_POINT_set_compressed_coordinates(g, R, r, ybit, ctx) || !EC_POINT_mul(g, Q, u1, R, u2, ctx) ||
		    !EC_POINT_mul(g, X, v1, Q, v2, ctx) || !EC_POINT_get_affine_coordinates(g, X, x, NULL, ctx) ||
		    !BN_nnmod(x, x, n, ctx))
			continue;
		found = BN_cmp(x, r2) == 0;
	}
	if (found) {
		*out_len = EC_POINT_point2oct(g, Q, POINT_CONVERSION_UNCOMPRESSED, out, EC_MAX_POINT_LEN, ctx);
		found = *out_len == 1 + 2 * field_bytes(c);
	}
	BN_CTX_end(ctx);
out:
	EC_POINT_free(R);
	EC_POINT_free(Q);
	EC_POINT_free(X);
	BN_CTX_free(ctx);
	EC_GROUP_free(g);
	ERR_clear_error();
	return found;
}

/* The public point of the EC private key priv, as CKA_EC_POINT (DER OCTET STRING) into out.
 * The token keeps no public point with an unwrapped EC private key, and the private value
 * never leaves it: two signatures made inside the token give the point (it needs CKA_SIGN,
 * which p11_unwrap grants while it makes the key). */
static CK_RV ec_public_point(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, const struct ec_curve *c,
			     uint8_t out[EC_MAX_POINT_LEN + 3], size_t *out_len)
{
	static const uint8_t z1[32] = "hsmgw: EC public key recovery 1", z2[32] = "hsmgw: EC public key recovery 2";
	uint8_t sig1[2 * EC_MAX_FIELD_BYTES], sig2[2 * EC_MAX_FIELD_BYTES], pt[EC_MAX_POINT_LEN];
	size_t pt_len = 0;
	CK_RV rv = ecdsa_sign(p, s, priv, z1, sig1, field_bytes(c));
	if (rv == CKR_OK)
		rv = ecdsa_sign(p, s, priv, z2, sig2, field_bytes(c));
	if (rv == CKR_OK && !ecdsa_recover(c, sig1, z1, sig2, z2, pt, &pt_len)) {
		log_error("hsm: cannot recover the public key of an unwrapped EC private key");
		rv = CKR_HOST_FAILED;
	}
	if (rv == CKR_OK)
		*out_len = der_octet_string(pt, pt_len, out);
	return rv;
}

CK_RV pub_create_for_private(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, const hg_uuid *id,
			     const struct hg_p11_keyspec *spec, CK_OBJECT_HANDLE *pub)
{
	*pub = CK_INVALID_HANDLE;
	struct key_tmpl t;
	tmpl_init(&t, CKO_PUBLIC_KEY, spec, id, spec->usage);
	uint8_t *mod = NULL, *exp = NULL, point[EC_MAX_POINT_LEN + 3];
	size_t mod_len = 0, exp_len = 0, point_len = 0;
	CK_RV rv;
	if (spec->type == HG_KT_RSA) {
		rv = attr_alloc(p, s, priv, CKA_MODULUS, &mod, &mod_len);
		if (rv == CKR_OK)
			rv = attr_alloc(p, s, priv, CKA_PUBLIC_EXPONENT, &exp, &exp_len);
		tmpl_add(&t, CKA_MODULUS, mod, mod_len);
		tmpl_add(&t, CKA_PUBLIC_EXPONENT, exp, exp_len);
	} else if (spec->type == HG_KT_EC) {
		const struct ec_curve *c = ec_curve_by_bits(spec->curve_bits);
		rv = ec_public_point(p, s, priv, c, point, &point_len);
		tmpl_add(&t, CKA_EC_PARAMS, c->params, c->params_len);
		tmpl_add(&t, CKA_EC_POINT, point, point_len);
	} else {
		rv = CKR_KEY_TYPE_INCONSISTENT; /* Ed25519: see p11_unwrap */
	}
	if (rv == CKR_OK)
		rv = p->f->C_CreateObject(s, t.a, t.n, pub);
	if (rv != CKR_OK)
		*pub = CK_INVALID_HANDLE;
	free(mod);
	free(exp);
	return rv;
}
