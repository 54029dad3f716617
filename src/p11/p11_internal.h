/* Shared by the files of p11/ only: the one place that includes pkcs11.h. */
#ifndef HSMGW_P11_INTERNAL_H
#define HSMGW_P11_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <openssl/provider.h>
#include <p11-kit/pkcs11.h>

#include "hsmgw/metrics.h"
#include "hsmgw/p11.h"

/* ---- operations and the sessions that run them (pool.c) ----
 *
 * An operation is one sequence of PKCS#11 calls on one session (find the key, init, sign, …):
 * a function (p11_op_fn) and its arguments. Its arguments and results live in the operation's
 * arena, never on the caller's stack, because a call that outlives the operation's deadline is
 * given up by the caller and may still write its results when it returns (pool.c says how). */
typedef CK_RV (*p11_op_fn)(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg);

enum {
	OP_REPEATABLE = 1u << 0, /* changes nothing on the token: run again once after a lost login or
				    session (relogin, new session) within the same deadline */
	OP_CREATES = 1u << 1,    /* makes objects: hsm.long_operation_timeout_ms; never run again */
};

struct arena_block;
struct p11_op {
	const char *name; /* for logs and the health reason: "sign", "generate", … */
	p11_op_fn fn;
	void *arg;
	unsigned flags;
	int64_t begun_us;            /* time_mono_us() at op_begin */
	_Atomic int64_t deadline_us; /* time_mono_us(); 0: none (no session threads) */
	_Atomic unsigned state;      /* a futex word: op_state in pool.c */
	_Atomic unsigned bell;       /* a futex word the caller sleeps on: rung when state or the deadline
					changes (pool.c) */
	CK_RV rv;
	struct p11_sess *s;
	hg_uuid cached[4]; /* keys whose handles came from the cache in this run (op_note_cached) */
	unsigned n_cached;
	uint8_t *buf; /* the arena: ARENA_SIZE bytes, then blocks of their own */
	size_t used;
	struct arena_block *big;
};

/* A pooled session is idle (in the free stack), lent (to one request, or pinned to a thread),
 * or abandoned (its thread is still in a call whose operation was given up; it is closed,
 * opened again and put back when the call returns). */
enum sess_state { SESS_IDLE, SESS_LENT, SESS_ABANDONED };

struct p11_sess {
	struct hg_p11 *p;
	CK_SESSION_HANDLE h;   /* CK_INVALID_HANDLE while closed: opened before its next operation */
	enum sess_state state; /* p->mu */
	bool probe;            /* the health check's own session, never in the free stack */
	bool threaded;         /* has a thread of its own (hsm.operation_timeout_ms > 0) */
	int64_t lent_at_us;    /* when the current borrower got it (for the operation's latency) */
	pthread_t thread;
	_Atomic unsigned go; /* a futex word: the thread's next job (go_job in pool.c) */
	struct p11_op op;
};

/* The node's health (health.c): up or down, why, since when, the circuit breaker's window and
 * the counters p11_health reports. */
struct node_health {
	pthread_mutex_t mu; /* guards everything but the atomics */
	_Atomic bool up;
	char reason[160];      /* why it went down last (kept after it came back) */
	int64_t changed_us;    /* time_now_us() of the last change of up */
	int64_t down_mono_us;  /* time_mono_us() when it went down */
	int64_t win_start_us;  /* the breaker's window: failures since then, and successes */
	unsigned win_failures; /* (ok - win_ok_base) in it */
	uint64_t win_ok_base;
	int64_t last_check_us; /* time_now_us() of the last health check, and its result */
	CK_RV last_check_rv;
	pthread_cond_t cv; /* wakes the checker to stop */
	bool stop, running;
	pthread_t thread;
	struct p11_sess probe;
	_Atomic uint64_t ok, failed, timeouts, refused, relogins, replaced, downs;
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

	pthread_mutex_t mu; /* the pool: states and the free stack */
	pthread_cond_t cv;  /* a session came free, or the node went down */
	unsigned wait_ms;
	struct p11_sess *sess; /* all sessions */
	size_t n_sess;
	struct p11_sess **idle; /* stack of idle sessions */
	size_t n_idle;
	unsigned op_timeout_ms, long_timeout_ms; /* 0: no session threads, no deadlines */
	unsigned health_ms, breaker_failures, breaker_cooldown_ms;
	_Atomic bool closing;
	struct node_health health;

	struct handle_cache handles;
	struct p11_stats stats;
	unsigned wrap_algs; /* bit (1u << hg_wrap_alg) per algorithm the token implements; set at open */
	bool single_des;    /* the token computes single DES (CKM_DES_ECB); set at open */
	OSSL_PROVIDER *ossl_legacy, *ossl_default; /* hsm.openssl_legacy_provider */
};

/* A failure on the gateway's side of a PKCS#11 exchange (OpenSSL could not build or check
 * something): it maps to HG_E_INTERNAL and does not break the session. */
#define CKR_HOST_FAILED CKR_HOST_MEMORY
/* A result that does not come from the module: HG_E_HSM_UNAVAILABLE. */
#define CKR_HG_TIMEOUT (CKR_VENDOR_DEFINED | 0x48470001ul) /* the operation outlived its deadline */

/* The one mapping from CK_RV to the gateway's errors. */
hg_err p11_rv_err(CK_RV rv);
/* True if rv means the session can no longer be trusted and must be replaced. */
bool p11_rv_breaks_session(CK_RV rv);
/* "CKR_DEVICE_ERROR" and the like for logs ("CKR 0x…" in buf for the others). */
const char *p11_rv_name(CK_RV rv, char buf[24]);

/* Starts an operation: fails at once while the node is down, else lends a session (the
 * thread's pinned one, or one from the pool within hsm.wait_ms and the deadline) and sets the
 * deadline. On HG_OK, *op is the session's operation: fill its arena, op_run it, op_end it. */
hg_err op_begin(struct hg_p11 *p, const char *name, unsigned flags, struct p11_op **op) HG_WARN_UNUSED;
/* op_begin on one given session (the health check's): NULL if it is not idle. */
struct p11_op *op_begin_on(struct hg_p11 *p, struct p11_sess *s, const char *name, unsigned flags);
/* n zeroed bytes of the operation's arena, valid until op_end (wiped then: they may hold
 * secrets). Aborts when memory is exhausted. */
void *op_alloc(struct p11_op *op, size_t n);
/* A copy of n bytes in the arena. */
void *op_copy(struct p11_op *op, const void *src, size_t n);
/* Runs fn(p, session, arg) on the session (on its thread, waiting until the deadline), with a
 * lost login redone and, for OP_REPEATABLE, a lost login or session recovered and fn run
 * again once. Returns fn's result, or CKR_HG_TIMEOUT when the deadline passed first: then the
 * operation is given up and arg must not be touched again. Reports the result to the node's
 * health. */
CK_RV op_run(struct hg_p11 *p, struct p11_op *op, p11_op_fn fn, void *arg);
/* Ends the operation (wipes the arena, gives the session back unless pinned or given up) and
 * returns rv as an hg_err. */
hg_err op_end(struct hg_p11 *p, struct p11_op *op, CK_RV rv);
/* For OP_CREATES functions, called on the session's thread when everything is made and only
 * bookkeeping is left: true if the caller still waits (the objects are then theirs); false if
 * the operation was given up, and the function must destroy what it made. */
bool op_commit(struct p11_op *op);
/* Called before a search of the token (C_FindObjects, which SoftHSM answers by reading every
 * object): the running operation gets the long deadline, as key creation does. */
void op_searching(void);
/* Called when the search is over: the rest of the operation gets the ordinary deadline again,
 * counted from now (a call that hangs after a slow search is still given up in time). */
void op_searched(void);
/* Notes that the running operation (on this thread) took the handle of key id from the cache,
 * so that a handle the token no longer knows is looked up again (op_run). */
void op_note_cached(const hg_uuid *id);
/* C_Login again on session s after the token lost its login (CKR_USER_ALREADY_LOGGED_IN is
 * success); for functions that must clean up after a CKR_USER_NOT_LOGGED_IN. */
CK_RV sess_login(struct hg_p11 *p, CK_SESSION_HANDLE s);

hg_err pool_open(struct hg_p11 *p, size_t n, unsigned wait_ms);
/* Stops the session threads and closes the sessions; false if a thread is still inside a
 * call after a grace period (then the module must not be finalised). */
bool pool_close(struct hg_p11 *p);
/* Opens s (and logs in) and starts its thread when operations have deadlines. */
CK_RV sess_start(struct hg_p11 *p, struct p11_sess *s);
/* Wakes every request waiting for a session (the node went down: they fail at once). */
void pool_wake_all(struct hg_p11 *p);

/* ---- health (health.c) ---- */
void health_init(struct hg_p11 *p);
/* Starts the periodic health check (after the pool is open). */
bool health_start(struct hg_p11 *p);
void health_stop(struct hg_p11 *p);
void health_free(struct hg_p11 *p);
static inline bool node_up(struct hg_p11 *p)
{
	return atomic_load_explicit(&p->health.up, memory_order_acquire);
}
/* The result of an operation: an answer (any result but a device-class failure) or a failure
 * that counts for the circuit breaker. */
void node_result(struct hg_p11 *p, const char *op, CK_RV rv);
/* An operation outlived its deadline: the node goes down. */
void node_timeout(struct hg_p11 *p, const char *op, unsigned ms);

/* One single-part decryption with mechanism m; data that does not decrypt is
 * CKR_ENCRYPTED_DATA_INVALID whatever the module says, as long as its session still answers. */
CK_RV decrypt_data(struct hg_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, CK_MECHANISM *m, const uint8_t *in,
		   size_t n, uint8_t *out, CK_ULONG *len);

void handles_init(struct handle_cache *c);
void handles_free(struct handle_cache *c);
/* The object handle of the secret/private key with CKA_ID id: from the cache, or found
 * once with C_FindObjects (always ended with C_FindObjectsFinal) and cached. */
CK_RV handles_get(struct hg_p11 *p, CK_SESSION_HANDLE s, const hg_uuid *id, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *out);
void handles_put(struct handle_cache *c, const hg_uuid *id, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE h);
void handles_drop(struct handle_cache *c, const hg_uuid *id);
/* Forgets every handle: after the token lost its login or came back, handles of private
 * objects may have changed. */
void handles_clear(struct handle_cache *c);

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
 * failure, nor when op was given up meanwhile (op_commit). On op's session thread. */
CK_RV halves_make(struct hg_p11 *p, struct p11_op *op, CK_SESSION_HANDLE s, const hg_uuid *id,
		  const struct hg_p11_keyspec *spec, const struct unwrap_src *src, char kcv[HG_KCV_HEX_LEN + 1]);

#endif
