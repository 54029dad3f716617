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

/* Opens a pool of `size` connections to conninfo (connected lazily, re-connected after a
 * failure). wait_ms bounds how long a caller waits for a free connection. */
struct hg_db *db_open(const char *conninfo, unsigned size, unsigned wait_ms);
void db_close(struct hg_db *db);
/* HG_OK if a connection answers `SELECT 1`. */
hg_err db_ping(struct hg_db *db);

/* ---- key metadata ---- */
#define HG_MAX_NAME 128

struct hg_version_row {
	int version;
	hg_uuid id; /* the HSM object's CKA_ID */
	char state[16];
	char kcv[8];
	int64_t created_at_us;
};

struct hg_key_row {
	hg_uuid id;
	int64_t seq; /* list order; the cursor */
	char tenant[64];
	char name[HG_MAX_NAME + 1];
	char type[16];
	int size;
	char **usage; /* NULL-terminated */
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

/* Inserts a key and its first version in one transaction (creating the tenant's row on
 * its first key). HG_E_CONFLICT if the name is
 * taken in the tenant. Fills created/updated times and seq back into k. */
hg_err store_key_insert(struct hg_db *db, struct hg_key_row *k) HG_WARN_UNUSED;
/* Looks a tenant's key up by UUID (when id is non-NULL) or by name. HG_E_NOT_FOUND if the
 * tenant has no such key. *out is freed with key_row_free. */
hg_err store_key_get(struct hg_db *db, const char *tenant, const hg_uuid *id, const char *name,
		     struct hg_key_row **out) HG_WARN_UNUSED;
/* Up to `limit` keys of the tenant with seq > after, in seq order. *out is an array of
 * *n rows; free it with key_rows_free. */
hg_err store_key_list(struct hg_db *db, const char *tenant, int64_t after, unsigned limit, struct hg_key_row ***out,
		      size_t *n) HG_WARN_UNUSED;
void key_rows_free(struct hg_key_row **rows, size_t n);

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

/* ---- migrations ---- */
/* Applies every not yet applied NNN_name.sql file of dir in order, each in its own
 * transaction, under an advisory lock, recording them in schema_migrations. Progress goes to
 * out. Returns 0 on success. */
int store_migrate(const char *conninfo, const char *dir, FILE *out);

#endif
