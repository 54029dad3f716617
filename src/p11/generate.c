/* Key generation inside the HSM: secret keys (AES, TDES, HMAC) with their KCV, and key pairs
 * (RSA, EC, Ed25519). Every key follows the templates of objects.c. */
#include <string.h>

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

/* Arguments and results of a generation, in the operation's arena. */
struct gen_args {
	struct p11_op *op;
	hg_uuid id;
	struct hg_p11_keyspec spec;
	char kcv[HG_KCV_HEX_LEN + 1];
};

/* On the session's thread. An operation given up while the key was being made is undone here:
 * nobody would record the key (op_commit). */
static CK_RV generate_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct gen_args *a = arg;
	const struct hg_p11_keyspec *spec = &a->spec;
	if (spec->halves)
		return halves_make(p, a->op, s, &a->id, spec, NULL, a->kcv);
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
	CK_RV rv;
	if (type_is_pair(spec->type))
		rv = gen_pair(p, s, &a->id, spec, &pub, &k);
	else
		rv = gen_secret(p, s, &a->id, spec, a->kcv, &k);
	if (rv == CKR_OK && !op_commit(a->op))
		rv = CKR_HG_TIMEOUT;
	if (rv == CKR_OK) {
		handles_put(&p->handles, &a->id, type_is_pair(spec->type) ? CKO_PRIVATE_KEY : CKO_SECRET_KEY, k);
		if (pub != CK_INVALID_HANDLE)
			handles_put(&p->handles, &a->id, CKO_PUBLIC_KEY, pub);
		return rv;
	}
	if (rv == CKR_USER_NOT_LOGGED_IN)
		(void)sess_login(p, s); /* private objects are destroyed only when logged in */
	object_discard(p, s, k);
	object_discard(p, s, pub);
	a->kcv[0] = '\0';
	return rv;
}

hg_err p11_generate(struct hg_p11 *p, const hg_uuid *id, const struct hg_p11_keyspec *spec,
		    char kcv[HG_KCV_HEX_LEN + 1])
{
	kcv[0] = '\0';
	hg_err e = spec_check(spec);
	if (e != HG_OK)
		return e;
	/* Never run twice: a repeated generation after an unclear failure could leave two objects
	 * with one CKA_ID. The caller (keys/) has recorded an intent and may retry as a whole. */
	struct p11_op *op;
	e = op_begin(p, "generate", OP_CREATES, &op);
	if (e != HG_OK)
		return e;
	struct gen_args *a = op_alloc(op, sizeof *a);
	*a = (struct gen_args){.op = op, .id = *id, .spec = *spec};
	CK_RV rv = op_run(p, op, generate_body, a);
	if (rv == CKR_OK)
		memcpy(kcv, a->kcv, sizeof a->kcv);
	e = op_end(p, op, rv);
	if (rv != CKR_OK) {
		char nb[24];
		log_error("hsm: %s key generation%s failed: %s", type_name(spec->type),
			  spec->halves ? " (as halves)" : "", p11_rv_name(rv, nb));
	}
	return e;
}
