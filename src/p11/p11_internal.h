/* Shared by the files of p11/ only: the one place that includes pkcs11.h. */
#ifndef HSMGW_P11_INTERNAL_H
#define HSMGW_P11_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <p11-kit/pkcs11.h>

#include "hsmgw/p11.h"

/* A pooled session is idle (in the free stack), lent (to one request), or broken (failed
 * mid-operation: closed, and reopened before it is lent again). */
enum sess_state { SESS_IDLE, SESS_LENT, SESS_BROKEN };

struct p11_sess {
	CK_SESSION_HANDLE h;
	enum sess_state state;
};

/* Object handles by (CKA_ID, CKA_CLASS): open addressing, guarded by a rwlock; grows at 50% load. */
struct handle_cache {
	pthread_rwlock_t lock;
	struct {
		hg_uuid id;
		CK_OBJECT_CLASS cls;
		CK_OBJECT_HANDLE h;
		bool used;
	} * slots;
	size_t cap, n;
};

struct hg_p11 {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	struct hg_p11_info info;
	char *pin;
	size_t pin_len;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned wait_ms;
	struct p11_sess *sess; /* all sessions */
	size_t n_sess;
	struct p11_sess **idle; /* stack of idle sessions */
	size_t n_idle;

	struct handle_cache handles;
};

/* The one mapping from CK_RV to the gateway's errors. */
hg_err p11_rv_err(CK_RV rv);
/* True if rv means the session can no longer be trusted and must be replaced. */
bool p11_rv_breaks_session(CK_RV rv);

/* Lends a session within the pool's wait limit (reopening a broken one first). */
hg_err sess_borrow(struct hg_p11 *p, struct p11_sess **out) HG_WARN_UNUSED;
/* Gives it back; rv is the result of the last call made on it, which decides whether the
 * session goes back to idle or is marked broken and replaced. */
void sess_return(struct hg_p11 *p, struct p11_sess *s, CK_RV rv);
/* The preamble of every keyed operation: lends a session and resolves the handle of the
 * key object (id, cls) on it. On HG_OK a session is lent (give it back with sess_return)
 * and *rv holds the lookup's result; otherwise nothing is held. */
hg_err sess_borrow_key(struct hg_p11 *p, const hg_uuid *id, CK_OBJECT_CLASS cls, struct p11_sess **s,
		       CK_OBJECT_HANDLE *k, CK_RV *rv) HG_WARN_UNUSED;
hg_err pool_open(struct hg_p11 *p, size_t n, unsigned wait_ms);
void pool_close(struct hg_p11 *p);

void handles_init(struct handle_cache *c);
void handles_free(struct handle_cache *c);
/* The object handle of the secret/private key with CKA_ID id: from the cache, or found
 * once with C_FindObjects (always ended with C_FindObjectsFinal) and cached. */
CK_RV handles_get(struct hg_p11 *p, CK_SESSION_HANDLE s, const hg_uuid *id, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *out);
void handles_put(struct handle_cache *c, const hg_uuid *id, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE h);
void handles_drop(struct handle_cache *c, const hg_uuid *id);

#endif
