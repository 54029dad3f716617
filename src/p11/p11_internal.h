/* Shared by the files of p11/ only: the one place that includes pkcs11.h. */
#ifndef HSMGW_P11_INTERNAL_H
#define HSMGW_P11_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <openssl/provider.h>
#include <p11-kit/pkcs11.h>

#include "hsmgw/metrics.h"
#include "hsmgw/p11.h"

/* A pooled session is idle (in the free stack), lent (to one request), or broken (failed
 * mid-operation: closed, and reopened before it is lent again). */
enum sess_state { SESS_IDLE, SESS_LENT, SESS_BROKEN };

struct p11_sess {
	CK_SESSION_HANDLE h;
	enum sess_state state;
	int64_t lent_at_us; /* when the current borrower got it (for the operation's latency) */
};

/* What the pool counts for /metrics (p11/metrics.c). */
#define P11_ERROR_CODES 16
struct p11_stats {
	struct hg_hist ops;   /* borrow → return: one operation's HSM calls */
	struct hg_hist waits; /* time spent waiting for a free session, when there was none */
	atomic_ulong ok, rejected, failed, waited;
	pthread_mutex_t mu; /* guards err */
	struct {
		CK_RV rv;
		unsigned long n;
	} err[P11_ERROR_CODES]; /* failed calls by CK_RV; the last slot counts any other */
};
void p11_stats_init(struct p11_stats *st);
/* Counts an operation that held a session for us microseconds and ended with rv. */
void p11_stats_op(struct p11_stats *st, CK_RV rv, int64_t us);

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
	struct p11_stats stats;
	unsigned wrap_algs; /* bit (1u << hg_wrap_alg) per algorithm the token implements; set at open */
	bool single_des;    /* the token computes single DES (CKM_DES_ECB); set at open */
	OSSL_PROVIDER *ossl_legacy, *ossl_default; /* hsm.openssl_legacy_provider */
};

/* A failure on the gateway's side of a PKCS#11 exchange (OpenSSL could not build or check
 * something): it maps to HG_E_INTERNAL and does not break the session. */
#define CKR_HOST_FAILED CKR_HOST_MEMORY

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
/* One single-part decryption with mechanism m; data that does not decrypt is
 * CKR_ENCRYPTED_DATA_INVALID whatever the module says, as long as its session still answers. */
CK_RV decrypt_data(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, CK_MECHANISM *m, const uint8_t *in,
		   size_t n, uint8_t *out, CK_ULONG *len);
hg_err pool_open(struct hg_p11 *p, size_t n, unsigned wait_ms);
void pool_close(struct hg_p11 *p);

void handles_init(struct handle_cache *c);
void handles_free(struct handle_cache *c);
/* The object handle of the secret/private key with CKA_ID id: from the cache, or found
 * once with C_FindObjects (always ended with C_FindObjectsFinal) and cached. */
CK_RV handles_get(struct hg_p11 *p, CK_SESSION_HANDLE s, const hg_uuid *id, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *out);
void handles_put(struct handle_cache *c, const hg_uuid *id, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE h);
void handles_drop(struct handle_cache *c, const hg_uuid *id);

/* Finds up to max objects with CKA_ID id, of class *cls (any class when cls is NULL), straight
 * from the token; the search always ends with C_FindObjectsFinal. */
CK_RV objects_find(struct hg_p11 *p, CK_SESSION_HANDLE s, const hg_uuid *id, const CK_OBJECT_CLASS *cls,
		   CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n);
/* Reads one attribute of any length into a malloc'd buffer (*v, *n) that the caller frees;
 * an empty value gives a 1-byte buffer and *n = 0. */
CK_RV attr_alloc(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, uint8_t **v,
		 size_t *n);

/* ---- key specs and templates (objects.c) ---- */
bool type_is_pair(enum hg_p11_type t);
/* The CKK_* of a spec (TDES: CKK_DES2 for 128 bits, CKK_DES3 for 192). */
CK_KEY_TYPE spec_key_type(const struct hg_p11_keyspec *spec);
/* HG_OK for a type, size and usage this layer creates; HG_E_INVALID otherwise. */
hg_err spec_check(const struct hg_p11_keyspec *spec);
/* Usages a key must have while it is being made, whatever its spec: encrypt for a KCV (AES,
 * TDES); sign for the public key recovery of an unwrapped EC private key. */
unsigned usage_needed_while_making(const struct hg_p11_keyspec *spec, bool unwrapping);

/* A key template under construction: the attribute array and the values it points at. */
struct key_tmpl {
	CK_ATTRIBUTE a[24];
	CK_ULONG n;
	bool overflow;
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE kt;
	CK_ULONG ulong_val;
	char label[HG_UUID_STR_LEN + 1];
};
/* Starts a template for an object of class cls (secret, private or public key) of spec:
 * class, key type, token, private, id, label; sensitive and extractable for secret and
 * private keys; and the usage attributes of that class, TRUE exactly for the flags in usage. */
void tmpl_init(struct key_tmpl *t, CK_OBJECT_CLASS cls, const struct hg_p11_keyspec *spec, const hg_uuid *id,
	       unsigned usage);
void tmpl_add(struct key_tmpl *t, CK_ATTRIBUTE_TYPE type, const void *v, CK_ULONG len);
/* Sets FALSE the usage attributes in `forced` that are not in `usage`, on an object of class
 * cls (after a KCV or a public key recovery needed them). */
CK_RV usage_restore(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_OBJECT_CLASS cls, unsigned forced,
		    unsigned usage);
/* The last steps of making a secret key h (generated or unwrapped): its KCV, then its usage
 * as the spec says. */
CK_RV secret_finish(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, const struct hg_p11_keyspec *spec,
		    unsigned forced, char kcv[HG_KCV_HEX_LEN + 1]);
/* Destroys h if it is a handle (the cleanup of a failed create). */
void object_discard(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h);

/* ---- key check values (kcv.c) ---- */
/* The KCV of a secret key as p11_generate defines it ("" for HMAC). Needs CKA_ENCRYPT. */
CK_RV key_kcv(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, enum hg_p11_type type,
	      char kcv[HG_KCV_HEX_LEN + 1]);

/* ---- public keys (pubkey.c) ---- */
struct ec_curve {
	unsigned bits;
	int nid;
	const char *name; /* OpenSSL's group name */
	const uint8_t *params;
	size_t params_len; /* CKA_EC_PARAMS: the DER OID */
};
const struct ec_curve *ec_curve_by_bits(unsigned bits);
extern const uint8_t ed25519_params[5]; /* DER OID 1.3.101.112 */
/* Creates the public key object that belongs to the private key priv (which the token
 * unwrapped without one), with the spec's public usages. */
CK_RV pub_create_for_private(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, const hg_uuid *id,
			     const struct hg_p11_keyspec *spec, CK_OBJECT_HANDLE *pub);

/* ---- wrapping (wrap.c) ---- */
/* The wrap algorithms the token implements, as bits (1u << hg_wrap_alg). */
unsigned wrap_probe(struct hg_p11 *p);
/* C_UnwrapKey of wrapped (n bytes) under uk into an object of template t; failures that come
 * from the blob are CKR_WRAPPED_KEY_INVALID (as long as the session still answers). */
CK_RV unwrap_data(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE uk, const uint8_t *wrapped,
		  size_t n, struct key_tmpl *t, CK_OBJECT_HANDLE *h);

/* The length in bytes of the secret key h: CKA_VALUE_LEN, or where the token does not report
 * it, the length of its AES-KWP wrapping under a session key less 8 (the key must be
 * extractable then; the length is rounded up to 8). */
CK_RV secret_measure(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, size_t *len);
/* Sets CKA_EXTRACTABLE FALSE on h unless exportable (after secret_measure on an unwrapped key). */
CK_RV extractable_restore(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, bool exportable);

/* ---- TDES keys held as halves (block.c) ---- */
/* Where an unwrapped key comes from. */
struct unwrap_src {
	CK_MECHANISM *m;
	CK_OBJECT_HANDLE uk;
	enum hg_wrap_alg alg;
	const uint8_t *wrapped; /* the two halves, wrapped one by one, concatenated */
	size_t n;
};
/* Whether the token computes single DES with a key it generates (probed once at open). */
bool des_probe(struct hg_p11 *p);
/* Makes the two single-DES halves of version id (spec->halves): generated (src NULL) or
 * unwrapped from src; caches their handles and writes the KCV. Nothing is left behind on
 * failure. */
CK_RV halves_make(struct hg_p11 *p, CK_SESSION_HANDLE s, const hg_uuid *id, const struct hg_p11_keyspec *spec,
		  const struct unwrap_src *src, char kcv[HG_KCV_HEX_LEN + 1]);

#endif
