/* The object-handle cache: C_FindObjects runs once per key version and process, never on
 * the hot path after that. */
#include <stdlib.h>
#include <string.h>

#include "p11_internal.h"

void handles_init(struct handle_cache *c)
{
	pthread_rwlock_init(&c->lock, NULL);
	c->cap = 256;
	c->n = 0;
	c->slots = calloc(c->cap, sizeof *c->slots);
}

void handles_free(struct handle_cache *c)
{
	free(c->slots);
	pthread_rwlock_destroy(&c->lock);
}

static size_t slot_of(const struct handle_cache *c, const hg_uuid *id, CK_OBJECT_CLASS cls)
{
	uint64_t h;
	memcpy(&h, id->b, sizeof h); /* v4 UUIDs are random: their bytes are a good hash */
	size_t i = (size_t)((h ^ cls) & (c->cap - 1));
	while (c->slots[i].used && !(c->slots[i].cls == cls && memcmp(&c->slots[i].id, id, sizeof *id) == 0))
		i = (i + 1) & (c->cap - 1);
	return i;
}

static bool lookup(struct handle_cache *c, const hg_uuid *id, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *out)
{
	pthread_rwlock_rdlock(&c->lock);
	size_t i = slot_of(c, id, cls);
	bool hit = c->slots[i].used;
	if (hit)
		*out = c->slots[i].h;
	pthread_rwlock_unlock(&c->lock);
	return hit;
}

void handles_put(struct handle_cache *c, const hg_uuid *id, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE h)
{
	pthread_rwlock_wrlock(&c->lock);
	if ((c->n + 1) * 2 > c->cap) {
		size_t old_cap = c->cap;
		__typeof__(c->slots) old = c->slots;
		c->cap *= 2;
		c->slots = calloc(c->cap, sizeof *c->slots);
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].used)
				c->slots[slot_of(c, &old[i].id, old[i].cls)] = old[i];
		free(old);
	}
	size_t i = slot_of(c, id, cls);
	if (!c->slots[i].used)
		c->n++;
	c->slots[i].id = *id;
	c->slots[i].cls = cls;
	c->slots[i].h = h;
	c->slots[i].used = true;
	pthread_rwlock_unlock(&c->lock);
}

void handles_clear(struct handle_cache *c)
{
	pthread_rwlock_wrlock(&c->lock);
	memset(c->slots, 0, c->cap * sizeof *c->slots);
	c->n = 0;
	pthread_rwlock_unlock(&c->lock);
}

void handles_drop(struct handle_cache *c, const hg_uuid *id)
{
	/* Rebuild without the entry's classes: removals are rare (destruction), so simplicity
	 * wins over tombstones. */
	pthread_rwlock_wrlock(&c->lock);
	__typeof__(c->slots) old = c->slots;
	c->slots = calloc(c->cap, sizeof *c->slots);
	c->n = 0;
	for (size_t i = 0; i < c->cap; i++) {
		if (old[i].used && memcmp(&old[i].id, id, sizeof *id) != 0) {
			c->slots[slot_of(c, &old[i].id, old[i].cls)] = old[i];
			c->n++;
		}
	}
	free(old);
	pthread_rwlock_unlock(&c->lock);
}

CK_RV objects_find(struct hg_p11 *p, CK_SESSION_HANDLE s, const hg_uuid *id, const CK_OBJECT_CLASS *cls,
		   CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
	*n = 0;
	op_searching();
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_ID, (void *)id->b, sizeof id->b},
	    {CKA_CLASS, (void *)cls, sizeof *cls},
	};
	CK_RV rv = p->f->C_FindObjectsInit(s, tmpl, cls ? 2 : 1);
	if (rv != CKR_OK) {
		op_searched();
		return rv;
	}
	rv = p->f->C_FindObjects(s, out, max, n);
	CK_RV frv = p->f->C_FindObjectsFinal(s);
	op_searched();
	if (rv == CKR_OK)
		rv = frv;
	/* A token that lost the login finds no private object and says nothing else: nothing
	 * found counts only from a session that is logged in. */
	CK_SESSION_INFO si;
	if (rv == CKR_OK && *n == 0 && (rv = p->f->C_GetSessionInfo(s, &si)) == CKR_OK &&
	    si.state != CKS_RW_USER_FUNCTIONS && si.state != CKS_RO_USER_FUNCTIONS)
		rv = CKR_USER_NOT_LOGGED_IN;
	return rv;
}

CK_RV handles_get(struct hg_p11 *p, CK_SESSION_HANDLE s, const hg_uuid *id, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *out)
{
	if (lookup(&p->handles, id, cls, out)) {
		op_note_cached(id);
		return CKR_OK;
	}
	CK_ULONG n = 0;
	CK_RV rv = objects_find(p, s, id, &cls, out, 1, &n);
	if (rv == CKR_OK && n == 0)
		rv = CKR_OBJECT_HANDLE_INVALID;
	if (rv == CKR_OK)
		handles_put(&p->handles, id, cls, *out);
	return rv;
}
