/* Listing the gateway's key objects on the token, for the start-up reconciliation of the HSM
 * with the key metadata (keys/reconcile.c). Never on a request's path: one operation finds every
 * token object, then operations of up to BATCH objects read three attributes of each (object
 * handles hold for every session of the process). Both walk the whole token, so both take the
 * long deadline of searches (op_searching … op_searched: hsm.long_operation_timeout_ms). */
#include <stdlib.h>
#include <string.h>

#include "p11_internal.h"

#define BATCH 256

/* ---- every token object's handle ---- */

struct find_args {
	struct p11_op *op;
	CK_OBJECT_HANDLE *h; /* in the operation's arena */
	size_t n, cap;
};

static CK_RV find_all_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct find_args *a = arg;
	a->n = 0; /* an operation may be run again (a lost login) */
	op_searching();
	static const CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {{CKA_TOKEN, (void *)&yes, sizeof yes}};
	CK_RV rv = p->f->C_FindObjectsInit(s, tmpl, 1);
	if (rv != CKR_OK)
		return rv;
	for (;;) {
		if (a->cap - a->n < 128) {
			/* Grows in the arena: what the caller gave up on is freed with the operation. */
			size_t cap = a->cap ? 2 * a->cap : 1024;
			CK_OBJECT_HANDLE *nh = op_alloc(a->op, cap * sizeof *nh);
			if (a->n)
				memcpy(nh, a->h, a->n * sizeof *nh);
			a->h = nh;
			a->cap = cap;
		}
		CK_ULONG got = 0;
		rv = p->f->C_FindObjects(s, a->h + a->n, 128, &got);
		if (rv != CKR_OK || got == 0)
			break;
		a->n += got;
	}
	CK_RV frv = p->f->C_FindObjectsFinal(s);
	op_searched();
	return rv == CKR_OK ? frv : rv;
}

/* On HG_OK *out is malloc'd (*n handles): the caller frees it. */
static hg_err find_all(struct hg_p11 *p, CK_OBJECT_HANDLE **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct p11_op *op;
	hg_err e = op_begin(p, "list objects", OP_REPEATABLE, &op);
	if (e != HG_OK)
		return e;
	struct find_args *a = op_alloc(op, sizeof *a);
	a->op = op;
	CK_RV rv = op_run(p, op, find_all_body, a);
	if (rv == CKR_OK && a->n && !(*out = malloc(a->n * sizeof **out)))
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK && a->n) {
		memcpy(*out, a->h, a->n * sizeof **out);
		*n = a->n;
	}
	return op_end(p, op, rv);
}

/* ---- which of them are the gateway's keys ---- */

struct read_args {
	CK_OBJECT_HANDLE h[BATCH];
	size_t n;
	hg_uuid id[BATCH];
	bool ours[BATCH];
};

/* Whether object h is one of the gateway's keys (a key object whose label is its 16-byte ID's
 * UUID text); its CKA_ID in *id if so. An object that vanished meanwhile, or lacks one of the
 * attributes, is not. */
static CK_RV read_one(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, hg_uuid *id, bool *ours)
{
	CK_OBJECT_CLASS cls = 0;
	uint8_t idb[32];
	char label[64];
	CK_ATTRIBUTE a[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_ID, idb, sizeof idb}, {CKA_LABEL, label, sizeof label}};
	*ours = false;
	CK_RV rv = p->f->C_GetAttributeValue(s, h, a, 3);
	if (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ||
	    rv == CKR_BUFFER_TOO_SMALL)
		return CKR_OK;
	if (rv != CKR_OK)
		return rv;
	if ((cls != CKO_SECRET_KEY && cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY) ||
	    a[1].ulValueLen != sizeof id->b || a[2].ulValueLen != HG_UUID_STR_LEN)
		return CKR_OK;
	memcpy(id->b, idb, sizeof id->b);
	char text[HG_UUID_STR_LEN + 1];
	uuid_format(id, text);
	*ours = memcmp(label, text, HG_UUID_STR_LEN) == 0;
	return CKR_OK;
}

static CK_RV read_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	struct read_args *a = arg;
	op_searching(); /* BATCH reads take as long as a search on a slow token */
	CK_RV rv = CKR_OK;
	for (size_t i = 0; i < a->n && rv == CKR_OK; i++)
		rv = read_one(p, s, a->h[i], &a->id[i], &a->ours[i]);
	op_searched();
	return rv;
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(hg_uuid));
}

hg_err p11_enumerate(struct hg_p11 *p, hg_uuid **ids, size_t *n)
{
	*ids = NULL;
	*n = 0;
	CK_OBJECT_HANDLE *h;
	size_t nh;
	hg_err e = find_all(p, &h, &nh);
	hg_uuid *v = NULL;
	size_t k = 0;
	if (e == HG_OK && !(v = malloc((nh ? nh : 1) * sizeof *v)))
		e = HG_E_INTERNAL;
	for (size_t at = 0; e == HG_OK && at < nh; at += BATCH) {
		struct p11_op *op;
		if ((e = op_begin(p, "read object IDs", OP_REPEATABLE, &op)) != HG_OK)
			break;
		struct read_args *a = op_alloc(op, sizeof *a);
		a->n = nh - at < BATCH ? nh - at : BATCH;
		memcpy(a->h, h + at, a->n * sizeof *a->h);
		CK_RV rv = op_run(p, op, read_body, a);
		for (size_t i = 0; rv == CKR_OK && i < a->n; i++)
			if (a->ours[i])
				v[k++] = a->id[i];
		e = op_end(p, op, rv);
	}
	free(h);
	if (e != HG_OK) {
		log_error("hsm: listing the token's key objects failed: %s", hg_err_code(e));
		free(v);
		return e;
	}
	/* A key pair's two objects share their ID: each ID once, in order. */
	if (k > 1)
		qsort(v, k, sizeof *v, id_cmp);
	size_t u = 0;
	for (size_t i = 0; i < k; i++)
		if (u == 0 || memcmp(&v[u - 1], &v[i], sizeof *v) != 0)
			v[u++] = v[i];
	*ids = v;
	*n = u;
	return HG_OK;
}
