/* Key objects: specs, the templates every created key follows (generated or unwrapped),
 * attribute read-back, and destruction of everything under one CKA_ID. */
#include <stdlib.h>
#include <string.h>

#include "p11_internal.h"

static const CK_BBOOL ck_true = CK_TRUE, ck_false = CK_FALSE;

bool type_is_pair(enum hg_p11_type t)
{
	return t == HG_KT_RSA || t == HG_KT_EC || t == HG_KT_ED25519;
}

CK_KEY_TYPE spec_key_type(const struct hg_p11_keyspec *spec)
{
	switch (spec->type) {
	case HG_KT_AES: return CKK_AES;
	case HG_KT_TDES: return spec->bits == 128 ? CKK_DES2 : CKK_DES3;
	case HG_KT_HMAC: return CKK_GENERIC_SECRET;
	case HG_KT_RSA: return CKK_RSA;
	case HG_KT_EC: return CKK_EC;
	case HG_KT_ED25519: return CKK_EC_EDWARDS;
	}
	return CKK_VENDOR_DEFINED;
}

hg_err spec_check(const struct hg_p11_keyspec *spec)
{
	const unsigned all =
	    HG_P11_ENCRYPT | HG_P11_DECRYPT | HG_P11_SIGN | HG_P11_VERIFY | HG_P11_WRAP | HG_P11_UNWRAP | HG_P11_DERIVE;
	if (spec->usage & ~all)
		return HG_E_INVALID;
	if (spec->halves && (spec->type != HG_KT_TDES || spec->bits != 128 || spec->exportable))
		return HG_E_INVALID;
	unsigned b = spec->bits;
	switch (spec->type) {
	case HG_KT_AES: return b == 128 || b == 192 || b == 256 ? HG_OK : HG_E_INVALID;
	case HG_KT_TDES: return b == 128 || b == 192 ? HG_OK : HG_E_INVALID;
	case HG_KT_HMAC: return b >= 256 && b <= 512 && b % 8 == 0 ? HG_OK : HG_E_INVALID;
	case HG_KT_RSA: return b == 2048 || b == 3072 || b == 4096 ? HG_OK : HG_E_INVALID;
	case HG_KT_EC: return ec_curve_by_bits(spec->curve_bits) ? HG_OK : HG_E_INVALID;
	case HG_KT_ED25519: return HG_OK;
	}
	return HG_E_INVALID;
}

unsigned usage_needed_while_making(const struct hg_p11_keyspec *spec, bool unwrapping)
{
	if (spec->type == HG_KT_AES || spec->type == HG_KT_TDES)
		return HG_P11_ENCRYPT;
	if (spec->type == HG_KT_EC && unwrapping)
		return HG_P11_SIGN;
	return 0;
}

void tmpl_add(struct key_tmpl *t, CK_ATTRIBUTE_TYPE type, const void *v, CK_ULONG len)
{
	/* An overflowing template is emptied for good, so that the token refuses it
	 * (CKR_TEMPLATE_INCOMPLETE) instead of making a key without one of its attributes. */
	if (t->overflow || t->n == sizeof t->a / sizeof *t->a) {
		t->overflow = true;
		t->n = 0;
		return;
	}
	t->a[t->n++] = (CK_ATTRIBUTE){type, (void *)v, len}; /* the token only reads templates */
}

static void add_bool(struct key_tmpl *t, CK_ATTRIBUTE_TYPE type, bool v)
{
	tmpl_add(t, type, v ? &ck_true : &ck_false, sizeof(CK_BBOOL));
}

/* The usage attributes an object of class cls has, with the flag that sets each. For a key
 * pair the public key encrypts, verifies and wraps; the private key decrypts, signs, unwraps
 * and derives. The *_RECOVER variants are never used by the gateway: always FALSE. */
static const struct {
	CK_OBJECT_CLASS cls;
	CK_ATTRIBUTE_TYPE attr;
	unsigned flag;
} usage_attrs[] = {
    {CKO_SECRET_KEY, CKA_ENCRYPT, HG_P11_ENCRYPT},  {CKO_SECRET_KEY, CKA_DECRYPT, HG_P11_DECRYPT},
    {CKO_SECRET_KEY, CKA_SIGN, HG_P11_SIGN},        {CKO_SECRET_KEY, CKA_VERIFY, HG_P11_VERIFY},
    {CKO_SECRET_KEY, CKA_WRAP, HG_P11_WRAP},        {CKO_SECRET_KEY, CKA_UNWRAP, HG_P11_UNWRAP},
    {CKO_SECRET_KEY, CKA_DERIVE, HG_P11_DERIVE},    {CKO_PUBLIC_KEY, CKA_ENCRYPT, HG_P11_ENCRYPT},
    {CKO_PUBLIC_KEY, CKA_VERIFY, HG_P11_VERIFY},    {CKO_PUBLIC_KEY, CKA_WRAP, HG_P11_WRAP},
    {CKO_PUBLIC_KEY, CKA_VERIFY_RECOVER, 0},        {CKO_PUBLIC_KEY, CKA_DERIVE, 0},
    {CKO_PRIVATE_KEY, CKA_DECRYPT, HG_P11_DECRYPT}, {CKO_PRIVATE_KEY, CKA_SIGN, HG_P11_SIGN},
    {CKO_PRIVATE_KEY, CKA_UNWRAP, HG_P11_UNWRAP},   {CKO_PRIVATE_KEY, CKA_DERIVE, HG_P11_DERIVE},
    {CKO_PRIVATE_KEY, CKA_SIGN_RECOVER, 0},
};

void tmpl_init(struct key_tmpl *t, CK_OBJECT_CLASS cls, const struct hg_p11_keyspec *spec, const hg_uuid *id,
	       unsigned usage)
{
	t->n = 0;
	t->overflow = false;
	t->cls = cls;
	t->kt = spec_key_type(spec);
	uuid_format(id, t->label);
	tmpl_add(t, CKA_CLASS, &t->cls, sizeof t->cls);
	tmpl_add(t, CKA_KEY_TYPE, &t->kt, sizeof t->kt);
	add_bool(t, CKA_TOKEN, true);
	/* Public keys too: nothing about the gateway's keys is visible without a login. */
	add_bool(t, CKA_PRIVATE, true);
	tmpl_add(t, CKA_ID, id->b, sizeof id->b);
	tmpl_add(t, CKA_LABEL, t->label, HG_UUID_STR_LEN);
	if (cls != CKO_PUBLIC_KEY) {
		add_bool(t, CKA_SENSITIVE, true);
		add_bool(t, CKA_EXTRACTABLE, spec->exportable);
	}
	for (size_t i = 0; i < sizeof usage_attrs / sizeof *usage_attrs; i++)
		if (usage_attrs[i].cls == cls)
			add_bool(t, usage_attrs[i].attr, usage & usage_attrs[i].flag);
}

CK_RV usage_restore(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS cls, unsigned forced,
		    unsigned usage)
{
	CK_ATTRIBUTE off[8];
	CK_ULONG n = 0;
	for (size_t i = 0; i < sizeof usage_attrs / sizeof *usage_attrs; i++) {
		unsigned f = usage_attrs[i].flag;
		if (usage_attrs[i].cls == cls && (forced & f) && !(usage & f) && n < sizeof off / sizeof *off)
			off[n++] = (CK_ATTRIBUTE){usage_attrs[i].attr, (void *)&ck_false, sizeof ck_false};
	}
	return n ? p->f->C_SetAttributeValue(s, h, off, n) : CKR_OK;
}

CK_RV secret_finish(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, const struct hg_p11_keyspec *spec,
		    unsigned forced, char kcv[HG_KCV_HEX_LEN + 1])
{
	CK_RV rv = key_kcv(p, s, h, spec->type, kcv);
	if (rv == CKR_OK)
		rv = usage_restore(p, s, h, CKO_SECRET_KEY, forced, spec->usage);
	if (rv != CKR_OK)
		kcv[0] = '\0';
	return rv;
}

void object_discard(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	if (h == CK_INVALID_HANDLE)
		return;
	CK_RV rv = p->f->C_DestroyObject(s, h);
	if (rv != CKR_OK)
		log_error("hsm: cannot destroy the object of a failed key creation: CKR 0x%08lx", (unsigned long)rv);
}

CK_RV attr_alloc(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, uint8_t **v,
		 size_t *n)
{
	*v = NULL;
	*n = 0;
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv = p->f->C_GetAttributeValue(s, h, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > 65536)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (!a.pValue)
		return CKR_HOST_MEMORY;
	rv = p->f->C_GetAttributeValue(s, h, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	*v = a.pValue;
	*n = a.ulValueLen;
	return CKR_OK;
}

struct id_args {
	hg_uuid id;
	bool private_or_secret;    /* key_attrs */
	struct hg_p11_attrs attrs; /* key_attrs */
};

static CK_RV destroy_all_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct id_args *a = arg;
	/* The version's own CKA_ID and those of its halves, if it is held as halves. */
	hg_uuid ids[3] = {a->id};
	p11_half_id(&a->id, 0, &ids[1]);
	p11_half_id(&a->id, 1, &ids[2]);
	/* Collect, end the search, then destroy: destroying during a search is not portable. An
	 * ID has at most two objects; the bound only stops a token that will not let go. */
	CK_RV rv = CKR_OK;
	for (int i = 0; i < 3 && rv == CKR_OK; i++) {
		for (int round = 0; round < 4; round++) {
			CK_OBJECT_HANDLE h[8];
			CK_ULONG n = 0;
			rv = objects_find(p, s, &ids[i], NULL, h, sizeof h / sizeof *h, &n);
			if (rv != CKR_OK || n == 0)
				break;
			for (CK_ULONG j = 0; j < n && rv == CKR_OK; j++) {
				rv = p->f->C_DestroyObject(s, h[j]);
				if (rv == CKR_OBJECT_HANDLE_INVALID) /* gone meanwhile */
					rv = CKR_OK;
			}
			if (rv != CKR_OK)
				break;
		}
	}
	for (int i = 0; i < 3; i++)
		handles_drop(&p->handles, &ids[i]);
	return rv;
}

hg_err p11_destroy_all(struct hg_p11 *p, const hg_uuid *id)
{
	struct p11_op *op;
	hg_err e = op_begin(p, "destroy", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct id_args *a = op_alloc(op, sizeof *a);
	a->id = *id;
	CK_RV rv = op_run(p, op, destroy_all_body, a);
	e = op_end(p, op, rv);
	if (rv != CKR_OK) {
		char nb[24];
		log_error("hsm: destroying a key's objects failed: %s", p11_rv_name(rv, nb));
	}
	return e;
}

/* Reads one CK_BBOOL; attributes the object does not have read as false. */
static CK_RV read_bool(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, bool *out)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = {type, &v, sizeof v};
	CK_RV rv = p->f->C_GetAttributeValue(s, h, &a, 1);
	*out = rv == CKR_OK && v == CK_TRUE;
	return rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ? CKR_OK : rv;
}

static CK_RV read_ulong(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
			unsigned long *out)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = {type, &v, sizeof v};
	CK_RV rv = p->f->C_GetAttributeValue(s, h, &a, 1);
	*out = rv == CKR_OK ? v : 0;
	return rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ? CKR_OK : rv;
}

static CK_RV attrs_read(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, struct hg_p11_attrs *out)
{
	const struct {
		CK_ATTRIBUTE_TYPE type;
		bool *dst;
	} bools[] = {
	    {CKA_SENSITIVE, &out->sensitive}, {CKA_EXTRACTABLE, &out->extractable},
	    {CKA_ENCRYPT, &out->encrypt},     {CKA_DECRYPT, &out->decrypt},
	    {CKA_SIGN, &out->sign},           {CKA_VERIFY, &out->verify},
	    {CKA_WRAP, &out->wrap},           {CKA_UNWRAP, &out->unwrap},
	    {CKA_DERIVE, &out->derive},       {CKA_TOKEN, &out->token},
	    {CKA_PRIVATE, &out->private_},
	};
	CK_RV rv = CKR_OK;
	for (size_t i = 0; i < sizeof bools / sizeof *bools && rv == CKR_OK; i++)
		rv = read_bool(p, s, h, bools[i].type, bools[i].dst);
	if (rv == CKR_OK)
		rv = read_ulong(p, s, h, CKA_KEY_TYPE, &out->key_type);
	if (rv == CKR_OK)
		rv = read_ulong(p, s, h, CKA_VALUE_LEN, &out->value_len);
	return rv;
}

static CK_RV key_attrs_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct id_args *a = arg;
	static const CK_OBJECT_CLASS secret = CKO_SECRET_KEY, priv = CKO_PRIVATE_KEY, pub = CKO_PUBLIC_KEY;
	const CK_OBJECT_CLASS *classes[2] = {&secret, &priv};
	int n_classes = 2;
	if (!a->private_or_secret) {
		classes[0] = &pub;
		n_classes = 1;
	}
	memset(&a->attrs, 0, sizeof a->attrs);
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	CK_RV rv = CKR_OK;
	for (int i = 0; i < n_classes && rv == CKR_OK && n == 0; i++)
		rv = objects_find(p, s, &a->id, classes[i], &h, 1, &n);
	if (rv == CKR_OK && n == 1) {
		a->attrs.found = true;
		rv = attrs_read(p, s, h, &a->attrs);
	}
	return rv;
}

hg_err p11_key_attrs(struct hg_p11 *p, const hg_uuid *id, bool private_or_secret, struct hg_p11_attrs *out)
{
	memset(out, 0, sizeof *out);
	struct p11_op *op;
	hg_err e = op_begin(p, "key attributes", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct id_args *a = op_alloc(op, sizeof *a);
	*a = (struct id_args){.id = *id, .private_or_secret = private_or_secret};
	CK_RV rv = op_run(p, op, key_attrs_body, a);
	if (rv == CKR_OK)
		*out = a->attrs;
	return op_end(p, op, rv);
}
