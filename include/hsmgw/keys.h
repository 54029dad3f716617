/* hsmgw — the key model: creation, resolution by UUID or name within a tenant, and the
 * rules that say which version an operation may use in which state. Knows nothing of HTTP;
 * stores metadata through store/ and material through p11/. */
#ifndef HSMGW_KEYS_H
#define HSMGW_KEYS_H

#include "hsmgw/audit.h"
#include "hsmgw/error.h"
#include "hsmgw/p11.h"
#include "hsmgw/store.h"

/* Key usages of API.md. X(enum, name) */
#define HG_USAGES(X)                                                                                                   \
	X(HG_USE_ENCRYPT, "encrypt")                                                                                   \
	X(HG_USE_DECRYPT, "decrypt")                                                                                   \
	X(HG_USE_SIGN, "sign")                                                                                         \
	X(HG_USE_VERIFY, "verify")                                                                                     \
	X(HG_USE_MAC, "mac")                                                                                           \
	X(HG_USE_WRAP, "wrap")                                                                                         \
	X(HG_USE_UNWRAP, "unwrap")                                                                                     \
	X(HG_USE_DERIVE, "derive")                                                                                     \
	X(HG_USE_TOKENIZE, "tokenize")                                                                                 \
	X(HG_USE_PIN, "pin")                                                                                           \
	X(HG_USE_PIN_VERIFY, "pin_verify")                                                                             \
	X(HG_USE_CVV, "cvv")

enum hg_usage {
#define HG_USAGE_ENUM(e, s) e,
	HG_USAGES(HG_USAGE_ENUM)
#undef HG_USAGE_ENUM
	    HG_USE_COUNT
};
/* The usage names, NULL-terminated (a field spec's list of choices). */
extern const char *const hg_usage_names[HG_USE_COUNT + 1];

/* What a caller asks for at creation; strings are borrowed. */
struct hg_key_spec {
	const char *name;
	const char *type;
	int size;          /* 0: the type's default; ignored for EC keys, whose size is their curve's */
	const char *curve; /* EC only: "P-256", "P-384" or "P-521"; NULL otherwise */
	unsigned usage;    /* bits 1 << HG_USE_*; 0: the type's default */
	const char *labels_json;
	const char *description; /* NULL when absent */
	bool exportable;
	int rotation_period_days;              /* 0: no automatic rotation */
	int64_t activate_at_us, expires_at_us; /* 0 when absent */
};

/* Who asks for a change, for the key's event history. */
struct hg_actor {
	const char *sub;
	const char *request_id; /* NULL for the scheduler */
};

struct hg_key_cache;

struct hg_keys {
	struct hg_db *db;
	struct hg_p11 *p11;
	struct hg_audit *audit;     /* where the scheduler's changes are audited (NULL: not) */
	struct hg_key_cache *cache; /* keys_resolve's metadata cache (NULL: none) */
};

/* ---- the metadata cache (keys/cache.c) ---- */
/* Up to `entries` keys, each for at most ttl_ms; NULL when entries is 0. */
struct hg_key_cache *key_cache_new(unsigned entries, unsigned ttl_ms);
void key_cache_free(struct hg_key_cache *c);
/* A copy of the row cached for (tenant, name) at db generation gen, if it is still fresh. */
bool key_cache_get(struct hg_key_cache *c, const char *tenant, const char *name, uint64_t gen, struct hg_key_row **out);
/* Remembers a copy of row, read from the database at generation gen. */
void key_cache_put(struct hg_key_cache *c, const char *tenant, const char *name, uint64_t gen,
		   const struct hg_key_row *row);
void key_cache_stats(const struct hg_key_cache *c, unsigned long *hits, unsigned long *misses);

/* Generates the key's first version in the HSM and records it. On a metadata failure the
 * HSM object is destroyed again, so a failed create leaves nothing behind. *out is freed
 * with key_row_free. detail receives a reason for HG_E_INVALID / HG_E_CONFLICT. */
hg_err keys_create(const struct hg_keys *k, const char *tenant, const struct hg_key_spec *spec,
		   const struct hg_actor *actor, struct hg_key_row **out, char *detail,
		   size_t detail_len) HG_WARN_UNUSED;
/* Key material brought in wrapped (import). */
struct hg_key_wrapped {
	const hg_uuid *unwrapping_id; /* the HSM object (a version) that unwraps */
	enum hg_wrap_alg alg;
	const uint8_t *data;
	size_t len;
	const char *kcv; /* the KCV the importer expects (hex), or NULL */
};

/* Like keys_create, but the first version is unwrapped into the HSM from w; it is as
 * exportable as spec says (not by default). HG_E_INVALID with a detail when it does not
 * unwrap to a key of the spec's type and size. */
hg_err keys_import(const struct hg_keys *k, const char *tenant, const struct hg_key_spec *spec,
		   const struct hg_key_wrapped *w, const struct hg_actor *actor, struct hg_key_row **out, char *detail,
		   size_t detail_len) HG_WARN_UNUSED;
/* A tenant's key by UUID or by name; another tenant's key is HG_E_NOT_FOUND. Served from
 * k->cache when it holds a current copy. */
hg_err keys_resolve(const struct hg_keys *k, const char *tenant, const char *id_or_name,
		    struct hg_key_row **out) HG_WARN_UNUSED;

/* The version an operation uses: `version` 0 asks for the primary one (protecting
 * operations); otherwise the one named (unprotecting operations). Checks the key's usage
 * (HG_E_KEY_USAGE), the key's and the version's state (HG_E_KEY_STATE), and that the
 * version exists (HG_E_INVALID). */
hg_err keys_version_for(const struct hg_key_row *key, enum hg_usage use, int version, const struct hg_version_row **out,
			char *detail, size_t detail_len) HG_WARN_UNUSED;

/* ---- lifecycle ---- */
#define HG_DEFAULT_GRACE_DAYS 30
#define HG_KEYS_DETAIL        256

enum hg_key_action {
	HG_ACT_SUSPEND,
	HG_ACT_RESUME,
	HG_ACT_DEACTIVATE,
	HG_ACT_REVOKE_COMPROMISED, /* revoke with reason "compromised" */
	HG_ACT_REVOKE,             /* revoke with reason "superseded" or "cessation" */
	HG_ACT_SCHEDULE_DESTRUCTION,
	HG_ACT_CANCEL_DESTRUCTION,
	HG_ACT_ACTIVATE, /* scheduler: activate_at passed */
	HG_ACT_EXPIRE,   /* scheduler: expires_at passed */
	HG_ACT_DESTROY,  /* scheduler: destroy_at passed */
	HG_ACT_COUNT
};

struct hg_transition {
	const char *label;   /* its name in the README's table */
	const char *action;  /* its name in events */
	const char *from[7]; /* the states it may start from, NULL-terminated */
	const char *to;
};

/* The transition table's row for an action. */
const struct hg_transition *keys_transition_of(enum hg_key_action a);
bool keys_transition_allowed(enum hg_key_action a, const char *state);
/* Whether a key in this state allows protecting operations (encrypt, sign, MAC, wrap) or,
 * when protecting is false, unprotecting ones (decrypt, verify, unwrap). */
bool keys_state_allows(const char *state, bool protecting);

/* Applies a caller's (or the scheduler's) state change to key. HG_E_CONFLICT with a detail
 * when the key's state does not allow it. pending_days is used by schedule-destruction,
 * reason (may be NULL) is recorded in the event. *out (when out is not NULL) receives the
 * key as it is afterwards. */
hg_err keys_transition(const struct hg_keys *k, const struct hg_key_row *key, enum hg_key_action a, int pending_days,
		       const char *reason, const struct hg_actor *actor, struct hg_key_row **out, char *detail,
		       size_t detail_len) HG_WARN_UNUSED;
/* A new primary version generated in the HSM; the previous one stays usable for
 * unprotecting operations for grace_days (0: retired at once). */
hg_err keys_rotate(const struct hg_keys *k, const struct hg_key_row *key, int grace_days, const struct hg_actor *actor,
		   struct hg_key_row **out, char *detail, size_t detail_len) HG_WARN_UNUSED;
/* The newest older version that is still active becomes primary; the current one retires. */
hg_err keys_rollback(const struct hg_keys *k, const struct hg_key_row *key, const struct hg_actor *actor,
		     struct hg_key_row **out, char *detail, size_t detail_len) HG_WARN_UNUSED;
hg_err keys_patch(const struct hg_keys *k, const struct hg_key_row *key, const struct hg_key_patch *p,
		  const struct hg_actor *actor, struct hg_key_row **out, char *detail,
		  size_t detail_len) HG_WARN_UNUSED;
/* Before a change to the HSM (generating, unwrapping or destroying a key's objects): an
 * audit row "<op>" (hsm.generate.intent, hsm.unwrap.intent, hsm.destroy.intent) with the
 * request id of the row that will record the outcome, so that a change whose outcome was
 * never recorded (a crash in between) is visible to the verifier. HG_OK when k has no audit
 * trail; a row that cannot be written refuses the change (HG_E_AUDIT_UNAVAILABLE). */
hg_err keys_audit_intent(const struct hg_keys *k, const char *tenant, const struct hg_actor *actor, const char *op,
			 const hg_uuid *key_id, int version) HG_WARN_UNUSED;
/* The HSM spec of a key's versions (type, size or curve, PKCS#11 usage flags, exportable). */
hg_err keys_p11_spec(const struct hg_key_row *key, struct hg_p11_keyspec *out) HG_WARN_UNUSED;
/* Generates, in the HSM, a new version's object for key (same type, size and usage) with
 * CKA_ID id, and its KCV. */
hg_err keys_generate_version(const struct hg_keys *k, const struct hg_key_row *key, const hg_uuid *id,
			     char kcv[HG_KCV_HEX_LEN + 1]) HG_WARN_UNUSED;
/* One scheduler pass: applies every time-driven change due at now_us (activation, expiry,
 * retirement of versions past their grace period, automatic rotation, destruction).
 * Counts what it applied and what failed (and will be retried by the next pass). */
hg_err keys_lifecycle_run(const struct hg_keys *k, int64_t now_us, unsigned *applied, unsigned *failed) HG_WARN_UNUSED;

/* The scheduler thread: a pass every interval_s seconds (none when 0: NULL is returned). */
struct hg_scheduler;
struct hg_scheduler *scheduler_start(const struct hg_keys *keys, unsigned interval_s);
/* Stops it after the pass in progress. NULL is fine. */
void scheduler_stop(struct hg_scheduler *s);

/* ---- start-up reconciliation of the HSM with the metadata (keys/reconcile.c) ----
 * A crash (kill -9, power loss) between an HSM change and its metadata leaves one of two
 * things: an object without a key version (a create, rotation or import that had generated or
 * unwrapped the key but not yet committed its row), or a key version whose object is gone (a
 * destruction that had destroyed the objects but not yet recorded it). keys_reconcile finds
 * both and repairs what it safely can; the README ("Failure behaviour") states the rules. */
struct hg_reconcile_opts {
	const char *own_chain; /* this process's audit chain, whose open intents are dead (NULL: none) */
	unsigned grace_s;      /* open intents of other chains younger than this defer the orphans' clean-up */
	bool dry_run;          /* find and count only: change nothing, write no audit rows */
};
#define HG_RC_LIST 16
struct hg_reconcile_report {
	size_t objects;  /* distinct CKA_IDs of gateway key objects on the token */
	size_t versions; /* key versions in the database */
	size_t orphans;  /* of those IDs, the ones no live key version owns */
	size_t orphans_destroyed, orphans_failed;
	bool deferred;                   /* orphans were left alone: another instance may be creating keys */
	size_t others_young;             /* … its open intents younger than grace_s */
	size_t missing;                  /* live key versions whose objects are not on the token (left as they are) */
	size_t destructions_completed;   /* interrupted destructions finished (key now destroyed) */
	size_t intents_closed;           /* this chain's open intents closed with an hsm.reconcile.close row */
	hg_uuid orphan_ids[HG_RC_LIST];  /* the first orphans' CKA_IDs */
	hg_uuid missing_ids[HG_RC_LIST]; /* the first missing versions' CKA_IDs */
};
/* Runs one reconciliation (the daemon: once at start, before it serves; hsmgwctl keys
 * reconcile). Fills *out; HG_OK unless the token or the database could not be read (nothing is
 * changed then). */
hg_err keys_reconcile(const struct hg_keys *k, const struct hg_reconcile_opts *o,
		      struct hg_reconcile_report *out) HG_WARN_UNUSED;

/* True if s has the canonical UUID form, which names may never take. */
bool keys_looks_like_uuid(const char *s);

#endif
