/* Key generation inside the HSM: secret keys (AES, TDES, HMAC) with their KCV, and key pairs
 * (RSA, EC, Ed25519). Every key follows the templates of objects.c. */
#include "p11_internal.h"

static const char *type_name(enum hg_p11_type t)
{
	switch (t) {
	case HG_KT_AES: return "AES";
	case HG_KT_TDES: return "TDES";
	case HG_KT_HMAC: return "HMAC";
	case HG_KT_RSA: return "RSA";
	case HG_KT_EC: return "EC";
	case HG_KT_ED25519: return "Ed25519";
	}
	return "?";
}

static CK_RV gen_secret(struct hg_p11 *p, CK_SESSION_HANDLE s, const hg_uuid *id, const struct hg_p11_keyspec *spec,
			char kcv[HG_KCV_HEX_LEN + 1], CK_OBJECT_HANDLE *h)
{
	/* A KCV needs CKA_ENCRYPT: the key is made with it and loses it again in secret_finish
	 * when its usage does not include encryption. */
	unsigned forced = usage_needed_while_making(spec, false);
	struct key_tmpl t;
	tmpl_init(&t, CKO_SECRET_KEY, spec, id, spec->usage | forced);
	CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
	t.ulong_val = spec->bits / 8;
	if (spec->type == HG_KT_TDES)
		m.mechanism = spec->bits == 128 ? CKM_DES2_KEY_GEN : CKM_DES3_KEY_GEN; /* length implied */
	else
		tmpl_add(&t, CKA_VALUE_LEN, &t.ulong_val, sizeof t.ulong_val);
	if (spec->type == HG_KT_HMAC)
		m.mechanism = CKM_GENERIC_SECRET_KEY_GEN;
	CK_RV rv = p->f->C_GenerateKey(s, &m, t.a, t.n, h);
	if (rv != CKR_OK) {
		*h = CK_INVALID_HANDLE;
		return rv;
	}
	return secret_finish(p, s, *h, spec, forced, kcv);
}

static CK_RV gen_pair(struct hg_p11 *p, CK_SESSION_HANDLE s, const hg_uuid *id, const struct hg_p11_keyspec *spec,
		      CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	static const CK_BYTE f4[] = {0x01, 0x00, 0x01};
	struct key_tmpl pt, vt;
	tmpl_init(&pt, CKO_PUBLIC_KEY, spec, id, spec->usage);
	tmpl_init(&vt, CKO_PRIVATE_KEY, spec, id, spec->usage);
	CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	if (spec->type == HG_KT_RSA) {
		pt.ulong_val = spec->bits;
		tmpl_add(&pt, CKA_MODULUS_BITS, &pt.ulong_val, sizeof pt.ulong_val);
		tmpl_add(&pt, CKA_PUBLIC_EXPONENT, f4, sizeof f4);
	} else if (spec->type == HG_KT_EC) {
		const struct ec_curve *c = ec_curve_by_bits(spec->curve_bits);
		m.mechanism = CKM_EC_KEY_PAIR_GEN;
		tmpl_add(&pt, CKA_EC_PARAMS, c->params, c->params_len);
	} else {
		/* SoftHSM 2.6.1 takes either the OID or the printable string "edwards25519"; the
		 * OID is what the SubjectPublicKeyInfo carries too (RFC 8410). */
		m.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		tmpl_add(&pt, CKA_EC_PARAMS, ed25519_params, sizeof ed25519_params);
	}
	CK_RV rv = p->f->C_GenerateKeyPair(s, &m, pt.a, pt.n, vt.a, vt.n, pub, priv);
	if (rv != CKR_OK)
		*pub = *priv = CK_INVALID_HANDLE;
	return rv;
}

hg_err p11_generate(struct hg_p11 *p, const hg_uuid *id, const struct hg_p11_keyspec *spec,
		    char kcv[HG_KCV_HEX_LEN + 1])
{
	kcv[0] = '\0';
	hg_err e = spec_check(spec);
	if (e != HG_OK)
		return e;
	struct p11_sess *s;
	e = sess_borrow(p, &s);
	if (e != HG_OK)
		return e;
	CK_OBJECT_HANDLE a = CK_INVALID_HANDLE, b = CK_INVALID_HANDLE;
	CK_RV rv;
	if (spec->halves) {
		rv = halves_make(p, s->h, id, spec, NULL, kcv);
		sess_return(p, s, rv);
		if (rv != CKR_OK)
			log_error("hsm: TDES key generation (as halves) failed: CKR 0x%08lx", (unsigned long)rv);
		return p11_rv_err(rv);
	}
	if (type_is_pair(spec->type))
		rv = gen_pair(p, s->h, id, spec, &b, &a);
	else
		rv = gen_secret(p, s->h, id, spec, kcv, &a);
	if (rv == CKR_OK) {
		handles_put(&p->handles, id, type_is_pair(spec->type) ? CKO_PRIVATE_KEY : CKO_SECRET_KEY, a);
		if (b != CK_INVALID_HANDLE)
			handles_put(&p->handles, id, CKO_PUBLIC_KEY, b);
	} else {
		object_discard(p, s->h, a);
		object_discard(p, s->h, b);
		kcv[0] = '\0';
	}
	sess_return(p, s, rv);
	if (rv != CKR_OK)
		log_error("hsm: %s key generation failed: CKR 0x%08lx", type_name(spec->type), (unsigned long)rv);
	return p11_rv_err(rv);
}
