/* hsmgw — PostgreSQL: a bounded connection pool, one small function per query (prepared
 * statements named after what they do), and the migrations runner. Only store/ includes
 * libpq-fe.h. Database failures come back as HG_E_AUDIT_UNAVAILABLE: the database is the
 * audit store, and nothing is answered as done without it. */
#ifndef HSMGW_STORE_H
#define HSMGW_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hsmgw/error.h"
#include "hsmgw/util.h"

struct hg_db;
struct hg_key_event;

/* Opens a pool of `size` connections to conninfo (connected lazily, re-connected after a
 * failure). wait_ms bounds how long a caller waits for a free connection. */
struct hg_db *db_open(const char *conninfo, unsigned size, unsigned wait_ms);
void db_close(struct hg_db *db);
/* HG_OK if a connection answers `SELECT 1`. */
hg_err db_ping(struct hg_db *db);
/* A counter that grows with every change committed to a key's metadata or versions — by
 * this process, or by any other (heard through db_listen_keys): a copy of a key taken at
 * generation g is current only while it is still g. 0 while changes elsewhere cannot be
 * heard (no listener, or its connection is down): then no copy is current. */
uint64_t db_keys_generation(struct hg_db *db);
/* Starts the thread that listens for other processes' key changes (the daemon). */
void db_listen_keys(struct hg_db *db);

/* ---- key metadata ---- */
#define HG_MAX_NAME 128

struct hg_version_row {
	int version;
	hg_uuid id; /* the HSM object's CKA_ID */
	char state[16];
	char kcv[8];
	int64_t created_at_us;
	int64_t retire_at_us; /* 0 when unset */
};

struct hg_key_row {
	hg_uuid id;
	int64_t seq; /* list order; the cursor */
	char tenant[64];
	char name[HG_MAX_NAME + 1];
	char type[16];
	int size;
	char curve[8]; /* EC only: "P-256", …; "" otherwise */
	char **usage;  /* NULL-terminated */
	char state[24];
	int primary_version;
	bool exportable;
	char *labels_json; /* JSON object text */
	char *policy_json;
	char *description;                                                         /* NULL when unset */
	int rotation_period_days;                                                  /* -1 when unset */
	int64_t next_rotation_at_us, expires_at_us, activate_at_us, destroy_at_us; /* 0 when unset */
	int64_t created_at_us, updated_at_us;
	struct hg_version_row *versions; /* ordered by version */
	size_t n_versions;
};

/* Frees what a key row owns, and the row. NULL is fine. */
void key_row_free(struct hg_key_row *k);
/* A deep copy of k (freed with key_row_free), or NULL when memory runs out. */
struct hg_key_row *key_row_dup(const struct hg_key_row *k);

/* Inserts a key and its first version in one transaction (creating the tenant's row on
 * its first key), with its "create" event by actor/request_id. HG_E_CONFLICT if the name is
 * taken in the tenant. Fills created/updated times and seq back into k. */
hg_err store_key_insert(struct hg_db *db, struct hg_key_row *k, const struct hg_key_event *ev) HG_WARN_UNUSED;
/* Looks a tenant's key up by UUID (when id is non-NULL) or by name. HG_E_NOT_FOUND if the
 * tenant has no such key. *out is freed with key_row_free. */
hg_err store_key_get(struct hg_db *db, const char *tenant, const hg_uuid *id, const char *name,
		     struct hg_key_row **out) HG_WARN_UNUSED;
/* Up to `limit` keys of the tenant with seq > after, in seq order. *out is an array of
 * *n rows; free it with key_rows_free. */
/* List filters; NULL means any. label_json is a one-entry JSON object {"k":"v"}. */
struct hg_key_filter {
	const char *state, *type, *name, *label_json;
};
hg_err store_key_list(struct hg_db *db, const char *tenant, const struct hg_key_filter *f, int64_t after,
		      unsigned limit, struct hg_key_row ***out, size_t *n) HG_WARN_UNUSED;
void key_rows_free(struct hg_key_row **rows, size_t n);

/* How many keys each tenant has in each state, and of the active ones how many are past
 * their rotation time (for /metrics). *out is an array of *n entries; free it. */
struct hg_key_count {
	char tenant[64];
	char state[24];
	int64_t keys, rotation_due;
};
hg_err store_key_counts(struct hg_db *db, struct hg_key_count **out, size_t *n) HG_WARN_UNUSED;

/* ---- lifecycle ---- */
/* A lifecycle event as recorded with the change it describes. */
struct hg_key_event {
	const char *event;       /* "suspend", "rotate", "patch", … */
	const char *actor;       /* the caller's sub, or "scheduler" */
	const char *request_id;  /* NULL for the scheduler */
	const char *detail_json; /* a JSON object, or NULL for {} */
};

/* Which metadata a PATCH changes; NULL / false leaves a field as it is. */
struct hg_key_patch {
	const char *labels_json, *policy_json; /* replace the whole object */
	bool set_description;
	const char *description; /* NULL clears */
	bool set_rotation;
	int rotation_period_days; /* 0 clears */
	bool set_expires;
	int64_t expires_at_us; /* 0 clears */
};

/* A change the scheduler owes: action is activate, expire, retire, rotate or destroy. */
struct hg_due {
	char action[16];
	hg_uuid key_id;
	char tenant[64];
	int version; /* retire: the version; rotate: the current primary */
};

/* Moves the key to state `to` if its state is one of `from` (NULL-terminated), atomically,
 * with its event. HG_E_CONFLICT when the state does not allow it. destroy_at_us is used
 * when `to` is destroy_scheduled; a key leaving that state loses its destroy_at, and never
 * gains rights by it: if it was deactivated or compromised when its destruction was
 * scheduled, it returns to that state instead of `to`. Moving to
 * destroyed also marks every version destroyed. */
hg_err store_key_set_state(struct hg_db *db, const hg_uuid *key_id, const char *const *from, const char *to,
			   int64_t destroy_at_us, const struct hg_key_event *ev) HG_WARN_UNUSED;
/* Adds nv (its version must be the current primary + 1) as the new primary; the old primary
 * stays `active` until retire_at_us (retired at once if that has passed). HG_E_CONFLICT if
 * the key is not active or another rotation came first. */
hg_err store_key_rotate(struct hg_db *db, const hg_uuid *key_id, const struct hg_version_row *nv, int64_t retire_at_us,
			const struct hg_key_event *ev) HG_WARN_UNUSED;
/* Makes the newest older `active` version primary again and retires the current one.
 * HG_E_CONFLICT when there is none, or the key is not active. */
hg_err store_key_rollback(struct hg_db *db, const hg_uuid *key_id, const struct hg_key_event *ev,
			  int *new_primary) HG_WARN_UNUSED;
hg_err store_key_patch(struct hg_db *db, const hg_uuid *key_id, const struct hg_key_patch *p,
		       const struct hg_key_event *ev) HG_WARN_UNUSED;
/* A JSON array of up to `limit` events with id > after (the caller frees *json_out). */
hg_err store_key_events(struct hg_db *db, const hg_uuid *key_id, int64_t after, unsigned limit,
			char **json_out) HG_WARN_UNUSED;
/* Everything due at now_us; *out is freed with free(). */
hg_err store_lifecycle_due(struct hg_db *db, int64_t now_us, struct hg_due **out, size_t *n) HG_WARN_UNUSED;
hg_err store_version_retire(struct hg_db *db, const hg_uuid *key_id, int version,
			    const struct hg_key_event *ev) HG_WARN_UNUSED;

/* ---- idempotency ---- */
/* The kept response of (tenant, key) within 24 h: HG_OK (the caller frees *location and
 * *body), HG_E_NOT_FOUND, or HG_E_CONFLICT when it was kept for another request hash. */
hg_err store_idem_get(struct hg_db *db, const char *tenant, const char *key, const char *hash, unsigned *status,
		      char **location, char **body) HG_WARN_UNUSED;
hg_err store_idem_put(struct hg_db *db, const char *tenant, const char *key, const char *hash, unsigned status,
		      const char *location, const char *body) HG_WARN_UNUSED;

/* ---- audit ---- */
/* One row as the audit writer hands it over; hashes are lowercase hex of SHA-256. */
struct hg_audit_record {
	const char *chain_id;
	int64_t seq;
	int64_t ts_us;
	const char *tenant, *caller, *request_id, *operation, *outcome, *error_code, *hsm_node;
	const char *key_id; /* canonical UUID text or NULL */
	int key_version;    /* 0 when none */
	int http_status;
	int64_t duration_us;
	char prev_hash[65], hash[65];
};

/* A dedicated connection for the audit writer (not from the pool). */
struct hg_db_conn;
struct hg_db_conn *db_conn_open(const char *conninfo);
void db_conn_close(struct hg_db_conn *c);
/* False once the server has closed the connection (checked without blocking). */
bool db_conn_alive(struct hg_db_conn *c);
/* The newest row of a chain: *seq 0 and prev "" (64 zeros) when the chain is empty. */
hg_err store_audit_head(struct hg_db_conn *c, const char *chain_id, int64_t *seq, char hash[65]) HG_WARN_UNUSED;
/* Appends rows with one COPY (one transaction). */
hg_err store_audit_append(struct hg_db_conn *c, const struct hg_audit_record *rows, size_t n) HG_WARN_UNUSED;

/* A tenant's audit rows, newest filters applied, as a JSON array of up to `limit` rows with
 * id > after in id order (the caller frees *json_out). A NULL filter is not applied; since
 * and until are microseconds (0: none). */
struct hg_audit_filter {
	const char *key_id, *operation, *outcome, *caller;
	int64_t since_us, until_us;
};
hg_err store_audit_query(struct hg_db *db, const char *tenant, const struct hg_audit_filter *f, int64_t after,
			 unsigned limit, char **json_out) HG_WARN_UNUSED;

/* A signed checkpoint of a chain's head. */
struct hg_audit_checkpoint {
	int64_t id; /* 0 until stored */
	char chain_id[129];
	int64_t seq, ts_us;
	char head_hash[65];
	char key_fingerprint[65];
	char signature[129]; /* base64 of the raw ECDSA P-256 signature r ‖ s */
};
hg_err store_audit_checkpoint_insert(struct hg_db_conn *c, const struct hg_audit_checkpoint *cp) HG_WARN_UNUSED;

/* The verifier's reads. Every chain id (sorted); *ids and each string are malloc'd. */
hg_err store_audit_chain_ids(struct hg_db_conn *c, char ***ids, size_t *n) HG_WARN_UNUSED;
/* Calls fn for every row of the chain in order of seq (paged), with its id; fn returning
 * false stops the walk. */
hg_err store_audit_walk(struct hg_db_conn *c, const char *chain_id,
			bool (*fn)(void *ctx, int64_t id, const struct hg_audit_record *r), void *ctx) HG_WARN_UNUSED;
/* The chain's checkpoints in order of seq; *out is malloc'd. */
hg_err store_audit_checkpoints(struct hg_db_conn *c, const char *chain_id, struct hg_audit_checkpoint **out,
			       size_t *n) HG_WARN_UNUSED;

/* ---- start-up reconciliation of the HSM with the metadata (store/reconcile.c) ---- */
/* A key version as the reconciliation sees it. */
struct hg_rc_version {
	hg_uuid hsm_id; /* its objects' CKA_ID */
	hg_uuid key_id;
	char tenant[64];
	int version;
	char state[16];     /* the version's: primary, active, retired, destroyed */
	char key_state[24]; /* the key's */
	bool destroy_due;   /* the key is destroy_scheduled and its destroy_at has passed */
};
/* Every key version of every tenant. *out is malloc'd (*n entries): the caller frees it. */
hg_err store_rc_versions(struct hg_db *db, struct hg_rc_version **out, size_t *n) HG_WARN_UNUSED;

/* An open intent: an intent row with no later row of its request id in its chain. */
struct hg_rc_intent {
	int64_t id;
	char request_id[129];
	char operation[64];
	char tenant[64]; /* "" when none */
	bool has_key;
	hg_uuid key_id;
	int key_version;
};
/* The open intents of chain own_chain (NULL: none), of any age, in chain order (*own is
 * malloc'd, *n_own entries: the caller frees it); and in *others_young how many open intents
 * of every other chain are younger than young_s seconds (by the database's clock). */
hg_err store_rc_intents(struct hg_db *db, const char *own_chain, unsigned young_s, struct hg_rc_intent **own,
			size_t *n_own, size_t *others_young) HG_WARN_UNUSED;

/* ---- migrations ---- */
/* Applies every not yet applied NNN_name.sql file of dir in order, each in its own
 * transaction, under an advisory lock, recording them in schema_migrations. Progress goes to
 * out. Returns 0 on success. */
int store_migrate(const char *conninfo, const char *dir, FILE *out);

#endif
