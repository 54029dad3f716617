/* hsmgw — the audit trail: one row per /v1 request, written by one writer thread per
 * process in group-committed batches, each row hash-chained to the one before it in this
 * process's chain. A request waits for its own row's commit before a 2xx is sent.
 *
 * This header decides what a row may carry: only the fields of struct hg_audit_entry, none of
 * which can hold a plaintext, a key, a PIN, a PIN block, a full PAN or a bearer token. */
#ifndef HSMGW_AUDIT_H
#define HSMGW_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "hsmgw/config.h"
#include "hsmgw/error.h"
#include "hsmgw/metrics.h"
#include "hsmgw/util.h"

enum hg_outcome { HG_OUTCOME_SUCCESS, HG_OUTCOME_DENIED, HG_OUTCOME_ERROR };

struct hg_audit_entry {
	int64_t ts_us;
	char tenant[64];  /* "" when the caller was not authenticated */
	char caller[256]; /* the token's sub; "" when unknown */
	char request_id[129];
	const char *operation; /* static: the route's audit name */
	bool has_key;
	hg_uuid key_id;
	int key_version; /* 0 when none */
	enum hg_outcome outcome;
	unsigned http_status;
	const char *error_code; /* static, NULL on success */
	const char *hsm_node;   /* static, NULL when the HSM was not used */
	int64_t duration_us;
};

struct hg_audit;
struct hg_audit_signer;
struct hg_p11;

/* Starts the writer thread, appending to chain chain_id (each process writes its own chain).
 * It connects lazily and reconnects by itself. With a signer it also signs the chain's head
 * every audit.checkpoint_rows rows or audit.checkpoint_seconds seconds (and at stop), stores
 * the checkpoint, and writes the newest one to <audit.anchor_dir>/<chain id>.json when set. */
struct hg_audit *audit_start(const struct hg_config *cfg, const char *chain_id, struct hg_audit_signer *signer);
/* Drains the queue (every submitted row is written or failed), then stops the writer. */
void audit_stop(struct hg_audit *a);

/* The writer's figures for /metrics. */
struct hg_audit_stats {
	unsigned long queue_depth;    /* rows waiting for the writer */
	unsigned long rows_committed; /* since start */
	unsigned long batches_failed; /* batches whose commit failed */
	const struct hg_hist *commit; /* time to write and commit one batch; NULL without a writer */
};
void audit_stats(struct hg_audit *a, struct hg_audit_stats *out);

/* Queues a copy of the entry and waits until its batch is committed, or has failed, or the
 * commit timeout passes. HG_OK means the row is durably in the trail;
 * HG_E_AUDIT_UNAVAILABLE means it is not known to be. (a NULL: no trail, HG_OK — only the
 * benchmark build hsmgwd-noaudit has none.) */
hg_err audit_record(struct hg_audit *a, const struct hg_audit_entry *e) HG_WARN_UNUSED;
/* The same for n rows queued together (they share group commits): HG_OK only if every one
 * is committed. */
hg_err audit_record_many(struct hg_audit *a, const struct hg_audit_entry *e, size_t n) HG_WARN_UNUSED;

/* The canonical encoding that a row's hash covers (documented in the README): each field as
 * a netstring "<len>:<bytes>," in a fixed order, NULL as "~,". Writes at most cap bytes into
 * out and returns the length it needs. Shared by the writer and the verifiers. */
size_t audit_canonical(char *out, size_t cap, const char *chain_id, int64_t seq, int64_t ts_us, const char *tenant,
		       const char *caller, const char *request_id, const char *operation, const char *key_id,
		       int key_version, const char *outcome, int http_status, const char *error_code,
		       const char *hsm_node, int64_t duration_us, const char *prev_hash);
/* hash = lowercase hex SHA-256 of the canonical encoding. */
void audit_hash(const char *canonical, size_t n, char out[65]);

const char *audit_outcome_name(enum hg_outcome o);

/* ---- signed checkpoints (checkpoint.c) ----
 * The audit signing key is an ECDSA P-256 key pair in the HSM, created once by the first
 * gateway that starts (usage sign and verify, never exportable) under a fixed CKA_ID, and
 * found by every later start. Its public key's fingerprint (SHA-256 of the DER
 * SubjectPublicKeyInfo, lowercase hex) is stored with every checkpoint. */
struct hg_audit_signer *audit_signer_open(struct hg_p11 *p, char *err, size_t len);
void audit_signer_close(struct hg_audit_signer *s);
const char *audit_signer_fingerprint(const struct hg_audit_signer *s);
/* The public key as PEM, for auditors (hsmgwctl audit public-key, the anchor file). */
const char *audit_signer_public_pem(const struct hg_audit_signer *s);

/* What a checkpoint signs, as netstrings like the rows: "hsmgw-checkpoint-v1", chain id,
 * seq, head hash, ts_us. Returns the length it needs (writes at most cap bytes). */
size_t audit_checkpoint_message(char *out, size_t cap, const char *chain_id, int64_t seq, const char *head_hash,
				int64_t ts_us);

/* ---- verification (verify.c): needs only read access to the database and the public key ---- */
struct hg_audit_verify {
	bool ok;
	int64_t rows_checked, chains, checkpoints_verified;
	int64_t first_broken_id; /* the first row found wrong (0: none, or no row to name) */
	/* Intent rows (operation "*.intent") with no later row of the same request id in their
	 * chain: an HSM change whose outcome was never recorded (or is still running). They do not
	 * make the trail unsound; they are reported. */
	int64_t open_intents, first_open_intent_id;
	char problem[512]; /* what is wrong, in words ("" when ok); names ids, never values */
};
/* Recomputes every chain (sequence, linkage, each row's hash) and checks every checkpoint:
 * its signature under public_pem (a PEM public key; NULL skips signatures) and that the row
 * at its seq still has the signed hash. anchor_dir (NULL: none) holds each chain's newest
 * checkpoint as kept outside the database: each must be in the database, validly signed,
 * and its rows present, so cutting off a chain's tail is seen. conninfo: any role that may
 * SELECT the audit tables. */
hg_err audit_verify(const char *conninfo, const char *public_pem, const char *anchor_dir,
		    struct hg_audit_verify *out) HG_WARN_UNUSED;
/* The result as the API and hsmgwctl print it: {"ok", "rows_checked", "chains",
 * "checkpoints_verified", "first_broken_id", "problem", "open_intents", "first_open_intent_id"}
 * (new reference; NULL ids as null). */
json_t *audit_verify_json(const struct hg_audit_verify *v);
/* The anchor file of a chain: <dir>/<chain id with anything but [A-Za-z0-9._-] as _>.json. */
void audit_anchor_path(const char *dir, const char *chain_id, char *out, size_t cap);

#endif
