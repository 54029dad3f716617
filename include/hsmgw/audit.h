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

#include "hsmgw/config.h"
#include "hsmgw/error.h"
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

/* Starts the writer thread, appending to chain chain_id (each process writes its own chain).
 * It connects lazily and reconnects by itself. */
struct hg_audit *audit_start(const struct hg_config *cfg, const char *chain_id);
/* Drains the queue (every submitted row is written or failed), then stops the writer. */
void audit_stop(struct hg_audit *a);

/* Queues a copy of the entry and waits until its batch is committed, or has failed, or the
 * commit timeout passes. HG_OK means the row is durably in the trail;
 * HG_E_AUDIT_UNAVAILABLE means it is not known to be. */
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

#endif
