/* Key wrapping: export of exportable keys under a wrapping key (AES-KWP or RSA-OAEP), and
 * import (unwrap) into new token keys that follow the same attribute rules as generated keys. */
#include <stdlib.h>
#include <string.h>

#include "p11_internal.h"

/* Larger than any PKCS#8 of a supported key (RSA-4096 is about 2.4 KB) plus the wrapping. */
#define WRAPPED_MAX 16384

static const char *const alg_names[] = {"AES-KWP", "RSA-OAEP-SHA256", "RSA-OAEP-SHA1"};

/* A mechanism with the parameters it points at. */
struct wrap_mech {
	CK_MECHANISM m;
	CK_RSA_PKCS_OAEP_PARAMS oaep;
};

static void wrap_mech_init(struct wrap_mech *w, enum hg_wrap_alg alg)
{
	memset(w, 0, sizeof *w);
	if (alg == HG_WRAP_AES_KWP) {
		w->m.mechanism = CKM_AES_KEY_WRAP_PAD; /* the default IV of RFC 5649 */
		return;
	}
	bool sha256 = alg == HG_WRAP_RSA_OAEP_SHA256;
	w->oaep.hashAlg = sha256 ? CKM_SHA256 : CKM_SHA_1;
	w->oaep.mgf = sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1;
	w->oaep.source = CKZ_DATA_SPECIFIED; /* an empty label */
	w->m = (CK_MECHANISM){CKM_RSA_PKCS_OAEP, &w->oaep, sizeof w->oaep};
}

static bool alg_known(enum hg_wrap_alg alg)
{
	return (unsigned)alg < sizeof alg_names / sizeof *alg_names;
}

bool p11_wrap_alg_supported(const struct hg_p11 *p, enum hg_wrap_alg alg)
{
	return alg_known(alg) && (p->wrap_algs & 1u << alg);
}

/* ---- the probe at start ---- */

/* Any RSA-2048 public key serves the probe; this one's private half was thrown away. */
static const CK_BYTE probe_modulus[256] = {
    0xb0, 0x7b, 0x61, 0x2a, 0x59, 0xaf, 0x8c, 0x33, 0x7e, 0xed, 0xb5, 0xe8, 0x36, 0xda, 0x25, 0xc9, 0xde, 0x19, 0xa5,
    0xeb, 0x46, 0xb8, 0x60, 0x17, 0x79, 0xf7, 0xb6, 0x20, 0x17, 0xbf, 0x4e, 0x41, 0xcc, 0x62, 0x79, 0xe4, 0x6e, 0x2f,
    0xa5, 0xb2, 0xdd, 0x4d, 0xff, 0x36, 0xd1, 0xcb, 0xfa, 0x96, 0x7e, 0x73, 0xab, 0x6a, 0x29, 0xff, 0xcc, 0x7a, 0x34,
    0xa3, 0xc5, 0x99, 0x19, 0xa1, 0x93, 0xe1, 0x1b, 0x39, 0x89, 0xe4, 0x17, 0x7c, 0x19, 0x5f, 0x26, 0xab, 0x25, 0x5d,
    0x62, 0x62, 0xe0, 0x78, 0xb6, 0x23, 0xa7, 0x57, 0x34, 0x17, 0x6a, 0x52, 0x9d, 0x47, 0x2c, 0xe2, 0xe5, 0xfa, 0xe7,
    0xaa, 0xc5, 0x13, 0xed, 0xe1, 0x9d, 0x21, 0x32, 0x00, 0x45, 0xbc, 0x74, 0x66, 0x11, 0x18, 0xcc, 0x3b, 0x9c, 0x2a,
    0x97, 0xd1, 0x84, 0xbd, 0x2e, 0xf0, 0x23, 0xbe, 0xe2, 0xb4, 0xd8, 0x7e, 0x3d, 0xa0, 0xdf, 0xc6, 0x02, 0xd5, 0x55,
    0xc1, 0x67, 0xc5, 0x16, 0xd6, 0xc0, 0x0d, 0x75, 0xc6, 0xc5, 0xaf, 0xf9, 0xbe, 0xac, 0x87, 0x34, 0x7d, 0x7a, 0x4a,
    0xe1, 0xa3, 0x18, 0xa7, 0x89, 0xd2, 0xc3, 0xea, 0xf6, 0x37, 0x61, 0x9e, 0x95, 0x58, 0x6e, 0xa5, 0xaf, 0xaf, 0xfd,
    0x49, 0xaf, 0x96, 0xbc, 0x7e, 0x04, 0x6a, 0xeb, 0x7f, 0x6f, 0x96, 0xa1, 0x47, 0xc2, 0x50, 0x7d, 0x95, 0x1c, 0x21,
    0xd8, 0x60, 0x15, 0xf9, 0x3e, 0x54, 0x14, 0xef, 0xeb, 0x42, 0xcb, 0x98, 0xd1, 0xac, 0x07, 0xf4, 0x73, 0xda, 0x01,
    0x3c, 0x12, 0x01, 0x38, 0x11, 0x4f, 0x62, 0x4a, 0x53, 0x14, 0xc8, 0xce, 0x29, 0x50, 0x9a, 0x5b, 0xb4, 0x42, 0xb4,
    0x6d, 0xcf, 0x47, 0x78, 0x9a, 0x18, 0xf2, 0xdf, 0xcd, 0x05, 0x6e, 0xf3, 0xa7, 0x80, 0x21, 0xc6, 0xf0, 0x05, 0x0d,
    0xf8, 0x4b, 0x6f, 0x94, 0x05, 0xf3, 0xc0, 0x57, 0x29,
};

/* Whether the token wraps a fresh session AES key under a session RSA public key with this
 * OAEP variant (SoftHSM implements SHA-1 only and answers CKR_ARGUMENTS_BAD for SHA-256). */
static bool probe_oaep(struct hg_p11 *p, CK_SESSION_HANDLE s, enum hg_wrap_alg alg)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static const CK_BYTE f4[] = {0x01, 0x00, 0x01};
	CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE rsa = CKK_RSA;
	CK_ATTRIBUTE pub_tmpl[] = {
	    {CKA_CLASS, &pub_cls, sizeof pub_cls},
	    {CKA_KEY_TYPE, &rsa, sizeof rsa},
	    {CKA_TOKEN, &no, sizeof no},
	    {CKA_WRAP, &yes, sizeof yes},
	    {CKA_MODULUS, (void *)probe_modulus, sizeof probe_modulus},
	    {CKA_PUBLIC_EXPONENT, (void *)f4, sizeof f4},
	};
	CK_ULONG len = 16;
	CK_ATTRIBUTE aes_tmpl[] = {
	    {CKA_TOKEN, &no, sizeof no},
	    {CKA_VALUE_LEN, &len, sizeof len},
	    {CKA_EXTRACTABLE, &yes, sizeof yes},
	};
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, aes = CK_INVALID_HANDLE;
	CK_RV rv = p->f->C_CreateObject(s, pub_tmpl, sizeof pub_tmpl / sizeof *pub_tmpl, &pub);
	if (rv == CKR_OK)
		rv = p->f->C_GenerateKey(s, &gen, aes_tmpl, sizeof aes_tmpl / sizeof *aes_tmpl, &aes);
	struct wrap_mech wm;
	wrap_mech_init(&wm, alg);
	CK_BYTE out[sizeof probe_modulus];
	CK_ULONG out_len = sizeof out;
	if (rv == CKR_OK)
		rv = p->f->C_WrapKey(s, &wm.m, pub, aes, out, &out_len);
	if (aes != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(s, aes);
	if (pub != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(s, pub);
	return rv == CKR_OK;
}

static bool mech_wraps(struct hg_p11 *p, CK_MECHANISM_TYPE m)
{
	CK_MECHANISM_INFO mi;
	return p->f->C_GetMechanismInfo(p->slot, m, &mi) == CKR_OK && (mi.flags & CKF_WRAP) && (mi.flags & CKF_UNWRAP);
}

static CK_RV oaep_probe_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	unsigned *algs = arg;
	for (enum hg_wrap_alg a = HG_WRAP_RSA_OAEP_SHA256; a <= HG_WRAP_RSA_OAEP_SHA1; a++)
		if (probe_oaep(p, s, a))
			*algs |= 1u << a;
	return CKR_OK;
}

unsigned wrap_probe(struct hg_p11 *p)
{
	unsigned algs = 0;
	if (mech_wraps(p, CKM_AES_KEY_WRAP_PAD))
		algs |= 1u << HG_WRAP_AES_KWP;
	struct p11_op *op;
	if (mech_wraps(p, CKM_RSA_PKCS_OAEP) && op_begin(p, "wrap probe", OP_REPEATABLE, &op) == HG_OK) {
		unsigned *found = op_alloc(op, sizeof *found);
		if (op_run(p, op, oaep_probe_body, found) == CKR_OK)
			algs |= *found;
		(void)op_end(p, op, CKR_OK);
	}
	for (enum hg_wrap_alg a = HG_WRAP_AES_KWP; a <= HG_WRAP_RSA_OAEP_SHA1; a++)
		log_info("hsm: %s: key wrapping with %s %s", p->info.node, alg_names[a],
			 algs & 1u << a ? "available" : "NOT implemented by the token");
	return algs;
}

/* ---- wrap ---- */

static bool key_type_is(CK_KEY_TYPE kt, enum hg_p11_type type)
{
	if (type == HG_KT_TDES)
		return kt == CKK_DES2 || kt == CKK_DES3;
	struct hg_p11_keyspec spec = {.type = type};
	return kt == spec_key_type(&spec);
}

/* Checks the common preconditions of wrap and unwrap; HG_OK or HG_E_INVALID. */
static hg_err wrap_check(const struct hg_p11 *p, enum hg_wrap_alg alg, enum hg_p11_type type)
{
	if (!alg_known(alg))
		return HG_E_INVALID;
	/* A PKCS#8 private key is far longer than one RSA-OAEP block. */
	if (type_is_pair(type) && alg != HG_WRAP_AES_KWP)
		return HG_E_INVALID;
	if (!p11_wrap_alg_supported(p, alg)) {
		log_warn("hsm: %s: the token does not implement key wrapping with %s", p->info.node, alg_names[alg]);
		return HG_E_INVALID;
	}
	return HG_OK;
}

/* Arguments and results of p11_wrap, in the operation's arena. */
struct wrap_args {
	struct p11_op *op;
	hg_uuid wrapping_id, target_id;
	enum hg_wrap_alg alg;
	enum hg_p11_type target_type;
	uint8_t *out;
	CK_ULONG len;
};

static CK_RV wrap_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct wrap_args *a = arg;
	CK_OBJECT_HANDLE wk, tk = CK_INVALID_HANDLE;
	CK_RV rv = handles_get(p, s, &a->wrapping_id, a->alg == HG_WRAP_AES_KWP ? CKO_SECRET_KEY : CKO_PUBLIC_KEY, &wk);
	if (rv == CKR_OK)
		rv = handles_get(p, s, &a->target_id, type_is_pair(a->target_type) ? CKO_PRIVATE_KEY : CKO_SECRET_KEY,
				 &tk);
	CK_KEY_TYPE kt = CKK_VENDOR_DEFINED;
	CK_ATTRIBUTE kta = {CKA_KEY_TYPE, &kt, sizeof kt};
	if (rv == CKR_OK)
		rv = p->f->C_GetAttributeValue(s, tk, &kta, 1);
	if (rv == CKR_OK && !key_type_is(kt, a->target_type))
		rv = CKR_KEY_TYPE_INCONSISTENT;
	struct wrap_mech wm;
	wrap_mech_init(&wm, a->alg);
	a->len = 0;
	if (rv == CKR_OK)
		rv = p->f->C_WrapKey(s, &wm.m, wk, tk, NULL, &a->len);
	if (rv == CKR_OK && a->len > WRAPPED_MAX)
		rv = CKR_HOST_FAILED;
	if (rv == CKR_OK) {
		a->out = op_alloc(a->op, a->len ? a->len : 1);
		rv = p->f->C_WrapKey(s, &wm.m, wk, tk, a->out, &a->len);
	}
	return rv;
}

hg_err p11_wrap(struct hg_p11 *p, const hg_uuid *wrapping_id, enum hg_wrap_alg alg, const hg_uuid *target_id,
		enum hg_p11_type target_type, uint8_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	hg_err e = wrap_check(p, alg, target_type);
	if (e != HG_OK)
		return e;
	struct p11_op *op;
	e = op_begin(p, "wrap", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct wrap_args *a = op_alloc(op, sizeof *a);
	*a = (struct wrap_args){
	    .op = op, .wrapping_id = *wrapping_id, .target_id = *target_id, .alg = alg, .target_type = target_type};
	CK_RV rv = op_run(p, op, wrap_body, a);
	uint8_t *buf = NULL;
	if (rv == CKR_OK && !(buf = malloc(a->len ? a->len : 1)))
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK) {
		memcpy(buf, a->out, a->len);
		*out = buf;
		*n = a->len;
	}
	e = op_end(p, op, rv);
	if (rv != CKR_OK) {
		char nb[24];
		log_info("hsm: wrapping with %s refused: %s", alg_names[alg], p11_rv_name(rv, nb));
	}
	return e;
}

/* ---- unwrap ---- */

/* C_UnwrapKey, with the failures that come from the blob named as such. SoftHSM reports an
 * integrity check or a PKCS#8 that does not decode as CKR_GENERAL_ERROR or
 * CKR_FUNCTION_FAILED, and a key of the wrong length for its type as a template error; if the
 * session still answers, the data was at fault, not the device. */
CK_RV unwrap_data(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE uk, const uint8_t *wrapped,
		  size_t n, struct key_tmpl *t, CK_OBJECT_HANDLE *h)
{
	CK_RV rv = p->f->C_UnwrapKey(s, m, uk, (CK_BYTE_PTR)wrapped, n, t->a, t->n, h);
	if (rv == CKR_OK)
		return rv;
	*h = CK_INVALID_HANDLE;
	CK_SESSION_INFO si;
	bool data =
	    rv == CKR_TEMPLATE_INCOMPLETE || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
	    ((rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) && p->f->C_GetSessionInfo(s, &si) == CKR_OK);
	if (data) {
		log_info("hsm: a wrapped key did not unwrap (CKR 0x%08lx)", (unsigned long)rv);
		rv = CKR_WRAPPED_KEY_INVALID;
	}
	return rv;
}

CK_RV secret_measure(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, size_t *len)
{
	*len = 0;
	CK_ULONG vl = 0;
	CK_ATTRIBUTE a = {CKA_VALUE_LEN, &vl, sizeof vl};
	CK_RV rv = p->f->C_GetAttributeValue(s, h, &a, 1);
	if (rv == CKR_OK && vl != 0 && vl != CK_UNAVAILABLE_INFORMATION) {
		*len = vl;
		return CKR_OK;
	}
	/* The token does not say (SoftHSM 2.6.1 on unwrapped keys, and DES keys never): ask how
	 * long the key's AES-KWP wrapping under a throw-away session key would be, which is 8
	 * bytes more than the key rounded up to 8 (RFC 5649). Only the length is asked for; no
	 * wrapping is returned. */
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG klen = 16;
	CK_ATTRIBUTE t[] = {
	    {CKA_TOKEN, &no, sizeof no}, {CKA_WRAP, &yes, sizeof yes}, {CKA_VALUE_LEN, &klen, sizeof klen}};
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0}, kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE;
	rv = p->f->C_GenerateKey(s, &gen, t, sizeof t / sizeof *t, &kek);
	CK_ULONG wl = 0;
	if (rv == CKR_OK)
		rv = p->f->C_WrapKey(s, &kwp, kek, h, NULL, &wl);
	if (kek != CK_INVALID_HANDLE)
		p->f->C_DestroyObject(s, kek);
	if (rv == CKR_OK && wl >= 16)
		*len = wl - 8; /* rounded up to 8: exact for AES, DES and TDES, to 8 bytes for HMAC */
	return rv;
}

/* Whether the unwrapped key h is of the spec's size (its type is the template's). RSA: the
 * modulus; EC: the curve; secret keys: their length as secret_measure finds it. */
static CK_RV unwrapped_check(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
			     const struct hg_p11_keyspec *spec)
{
	uint8_t *v = NULL;
	size_t n = 0;
	CK_RV rv = CKR_OK;
	bool fits = true;
	if (spec->type == HG_KT_RSA) {
		rv = attr_alloc(p, s, h, CKA_MODULUS, &v, &n);
		fits = rv != CKR_OK || (n == spec->bits / 8 && (v[0] & 0x80));
	} else if (spec->type == HG_KT_EC) {
		const struct ec_curve *c = ec_curve_by_bits(spec->curve_bits);
		rv = attr_alloc(p, s, h, CKA_EC_PARAMS, &v, &n);
		fits = rv != CKR_OK || (n == c->params_len && memcmp(v, c->params, n) == 0);
	} else {
		rv = secret_measure(p, s, h, &n);
		fits = rv != CKR_OK || n == ((spec->bits / 8 + 7) & ~(size_t)7);
	}
	free(v);
	if (rv == CKR_OK && !fits) {
		log_info("hsm: an unwrapped key is not of the size it was declared with");
		rv = CKR_WRAPPED_KEY_INVALID;
	}
	return rv;
}

/* A secret key is unwrapped extractable, so that its length can be measured, and made
 * non-extractable at once unless the spec wants it exportable (allowed: CKA_EXTRACTABLE may
 * go from TRUE to FALSE; unwrapped keys are never "never extractable" anyway). */
CK_RV extractable_restore(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, bool exportable)
{
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE a = {CKA_EXTRACTABLE, &no, sizeof no};
	return exportable ? CKR_OK : p->f->C_SetAttributeValue(s, h, &a, 1);
}

/* Arguments and results of p11_unwrap, in the operation's arena. */
struct unwrap_args {
	struct p11_op *op;
	hg_uuid unwrapping_id, new_id;
	enum hg_wrap_alg alg;
	const uint8_t *wrapped;
	size_t n;
	struct hg_p11_keyspec spec;
	char kcv[HG_KCV_HEX_LEN + 1];
};

/* On the session's thread. An operation given up while the key was being made is undone here
 * (op_commit), as is every failure: nothing is left behind. */
static CK_RV unwrap_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct unwrap_args *a = arg;
	const struct hg_p11_keyspec *spec = &a->spec;
	bool pair = type_is_pair(spec->type);
	CK_OBJECT_HANDLE uk, h = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
	CK_RV rv =
	    handles_get(p, s, &a->unwrapping_id, a->alg == HG_WRAP_AES_KWP ? CKO_SECRET_KEY : CKO_PRIVATE_KEY, &uk);
	/* Encrypt (for the KCV) or sign (for the EC public key) while the key is being made;
	 * switched off afterwards unless the usage has it. */
	unsigned forced = usage_needed_while_making(spec, true);
	CK_OBJECT_CLASS cls = pair ? CKO_PRIVATE_KEY : CKO_SECRET_KEY;
	struct hg_p11_keyspec made = *spec;
	made.exportable = spec->exportable || !pair; /* see extractable_restore */
	struct key_tmpl t;
	tmpl_init(&t, cls, &made, &a->new_id, spec->usage | forced);
	struct wrap_mech wm;
	wrap_mech_init(&wm, a->alg);
	if (rv == CKR_OK && spec->halves) {
		struct unwrap_src src = {&wm.m, uk, a->alg, a->wrapped, a->n};
		return halves_make(p, a->op, s, &a->new_id, spec, &src, a->kcv);
	}
	if (rv == CKR_OK)
		rv = unwrap_data(p, s, &wm.m, uk, a->wrapped, a->n, &t, &h);
	if (rv == CKR_OK)
		rv = unwrapped_check(p, s, h, spec);
	if (rv == CKR_OK && !pair)
		rv = extractable_restore(p, s, h, spec->exportable);
	if (rv == CKR_OK && !pair) {
		rv = secret_finish(p, s, h, spec, forced, a->kcv);
		/* SoftHSM unwraps a value of any length and refuses only its first use: a key
		 * that cannot even compute its KCV was not a key of the declared type and size. */
		if (rv == CKR_MECHANISM_INVALID || rv == CKR_KEY_SIZE_RANGE || rv == CKR_KEY_TYPE_INCONSISTENT)
			rv = CKR_WRAPPED_KEY_INVALID;
	}
	if (rv == CKR_OK && pair)
		rv = pub_create_for_private(p, s, h, &a->new_id, spec, &pub);
	if (rv == CKR_OK && pair)
		rv = usage_restore(p, s, h, CKO_PRIVATE_KEY, forced, spec->usage);
	if (rv == CKR_OK && !op_commit(a->op))
		rv = CKR_HG_TIMEOUT;
	if (rv == CKR_OK) {
		handles_put(&p->handles, &a->new_id, cls, h);
		if (pub != CK_INVALID_HANDLE)
			handles_put(&p->handles, &a->new_id, CKO_PUBLIC_KEY, pub);
		return rv;
	}
	if (rv == CKR_USER_NOT_LOGGED_IN)
		(void)sess_login(p, s); /* private objects are destroyed only when logged in */
	object_discard(p, s, h);
	object_discard(p, s, pub);
	a->kcv[0] = '\0';
	return rv;
}

hg_err p11_unwrap(struct hg_p11 *p, const hg_uuid *unwrapping_id, enum hg_wrap_alg alg, const uint8_t *wrapped,
		  size_t n, const hg_uuid *new_id, const struct hg_p11_keyspec *spec, char kcv[HG_KCV_HEX_LEN + 1])
{
	kcv[0] = '\0';
	hg_err e = spec_check(spec);
	if (e == HG_OK)
		e = wrap_check(p, alg, spec->type);
	if (e != HG_OK)
		return e;
	if (n == 0 || n > WRAPPED_MAX)
		return HG_E_INVALID;
	if (spec->type == HG_KT_ED25519) {
		/* SoftHSM 2.6.1 cannot unwrap (nor wrap) Ed25519 private keys, and the public key of
		 * one cannot be found from outside the token: signatures do not reveal it. */
		log_info("hsm: Ed25519 private keys cannot be imported");
		return HG_E_INVALID;
	}
	/* Never run twice, as p11_generate. */
	struct p11_op *op;
	e = op_begin(p, "unwrap", OP_CREATES, &op);
	if (e != HG_OK)
		return e;
	struct unwrap_args *a = op_alloc(op, sizeof *a);
	*a = (struct unwrap_args){.op = op,
				  .unwrapping_id = *unwrapping_id,
				  .new_id = *new_id,
				  .alg = alg,
				  .wrapped = op_copy(op, wrapped, n),
				  .n = n,
				  .spec = *spec};
	CK_RV rv = op_run(p, op, unwrap_body, a);
	if (rv == CKR_OK)
		memcpy(kcv, a->kcv, sizeof a->kcv);
	e = op_end(p, op, rv);
	if (e == HG_E_INTERNAL || e == HG_E_HSM_UNAVAILABLE) {
		char nb[24];
		log_error("hsm: unwrapping with %s failed: %s", alg_names[alg], p11_rv_name(rv, nb));
	}
	return e;
}
