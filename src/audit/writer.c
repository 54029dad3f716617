/* The audit writer: a queue drained by one thread that commits rows in batches (group
 * commit) with one COPY each, and the hash chain over them.
 *
 * Ownership: a queued row belongs to the queue until the writer marks it done. The waiting
 * request then frees it — unless it gave up waiting (commit timeout), in which case it marks
 * the row abandoned and the writer frees it. Either way exactly one side frees it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "audit_internal.h"

struct qrow {
	struct hg_audit_entry e;
	struct qrow *next;
	pthread_cond_t *waiter; /* the requesting thread's own condition variable */
	bool done, abandoned;
	hg_err result;
};

/* Each requesting thread waits on its own condition variable, which the writer signals when
 * that thread's row is committed: a commit wakes exactly the threads it concerns (one
 * shared broadcast woke every waiting thread at every commit, most of them to sleep again). */
static __thread struct {
	bool ready;
	pthread_cond_t cv;
} tl_waiter;

static pthread_cond_t *my_waiter(void)
{
	if (!tl_waiter.ready) {
		pthread_cond_init(&tl_waiter.cv, NULL);
		tl_waiter.ready = true;
	}
	return &tl_waiter.cv;
}

struct hg_audit {
	pthread_mutex_t mu;
	pthread_cond_t work; /* the writer waits here for rows */
	struct qrow *head, *tail;
	size_t queued; /* rows in the queue, not yet taken by the writer */
	bool stopping;
	pthread_t thread;

	/* What /metrics shows: written by the writer, read by scrapes. */
	struct hg_hist commit_hist;
	atomic_ulong rows_committed, batches_failed;
	atomic_ulong queue_depth; /* a copy of queued, readable without the lock */

	/* Writer-only state. */
	char *conninfo;
	char *chain_id;
	unsigned batch_max;
	unsigned commit_timeout_ms;
	struct hg_db_conn *conn;
	int64_t last_connect_us;
	bool head_known;
	int64_t seq;
	char prev_hash[65];

	/* Checkpoints and the SIEM feed (writer-only). */
	struct hg_audit_signer *signer;
	unsigned checkpoint_rows;
	int64_t checkpoint_us;
	int64_t rows_since_cp, last_cp_mono_us;
	char *anchor_dir;
	struct hg_siem *siem;
};

const char *audit_outcome_name(enum hg_outcome o)
{
	return o == HG_OUTCOME_SUCCESS ? "success" : o == HG_OUTCOME_DENIED ? "denied" : "error";
}

size_t netstring_put(char *out, size_t cap, size_t at, const char *s)
{
	int n = s ? snprintf(at < cap ? out + at : NULL, at < cap ? cap - at : 0, "%zu:%s,", strlen(s), s)
		  : snprintf(at < cap ? out + at : NULL, at < cap ? cap - at : 0, "~,");
	return at + (size_t)n;
}

size_t audit_canonical(char *out, size_t cap, const char *chain_id, int64_t seq, int64_t ts_us, const char *tenant,
		       const char *caller, const char *request_id, const char *operation, const char *key_id,
		       int key_version, const char *outcome, int http_status, const char *error_code,
		       const char *hsm_node, int64_t duration_us, const char *prev_hash)
{
	char seq_s[24], ts_s[24], kv_s[16], st_s[16], du_s[24];
	snprintf(seq_s, sizeof seq_s, "%lld", (long long)seq);
	snprintf(ts_s, sizeof ts_s, "%lld", (long long)ts_us);
	snprintf(kv_s, sizeof kv_s, "%d", key_version);
	snprintf(st_s, sizeof st_s, "%d", http_status);
	snprintf(du_s, sizeof du_s, "%lld", (long long)duration_us);
	const char *f[] = {
	    "hsmgw-audit-v1",          chain_id, seq_s, ts_s,       tenant,   caller, request_id, operation, key_id,
	    key_version ? kv_s : NULL, outcome,  st_s,  error_code, hsm_node, du_s,   prev_hash};
	size_t at = 0;
	for (size_t i = 0; i < sizeof f / sizeof *f; i++)
		at = netstring_put(out, cap, at, f[i]);
	return at;
}

void audit_hash(const char *canonical, size_t n, char out[65])
{
	uint8_t d[SHA256_DIGEST_LENGTH];
	SHA256((const uint8_t *)canonical, n, d);
	hex_encode_lower(d, sizeof d, out);
}

/* Connects (at most every 500 ms while the database is down) and loads the chain head. */
static hg_err writer_ready(struct hg_audit *a)
{
	if (a->conn && !db_conn_alive(a->conn)) {
		db_conn_close(a->conn);
		a->conn = NULL;
		a->last_connect_us = 0; /* the server came back or went away: try now */
	}
	if (!a->conn) {
		int64_t now = time_mono_us();
		if (a->last_connect_us && now - a->last_connect_us < 500000)
			return HG_E_AUDIT_UNAVAILABLE;
		a->last_connect_us = now;
		if (!(a->conn = db_conn_open(a->conninfo)))
			return HG_E_AUDIT_UNAVAILABLE;
		log_info("audit: connected; chain %s", a->chain_id);
		a->head_known = false;
	}
	if (!a->head_known) {
		if (store_audit_head(a->conn, a->chain_id, &a->seq, a->prev_hash) != HG_OK)
			return HG_E_AUDIT_UNAVAILABLE;
		a->head_known = true;
	}
	return HG_OK;
}

static void tenant_or_null(const char *s, const char **out)
{
	*out = s[0] ? s : NULL;
}

/* ---- the SIEM feed ---- */

static void siem_rows(struct hg_audit *a, const struct hg_audit_record *recs, size_t n)
{
	if (!a->siem)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct hg_audit_record *r = &recs[i];
		char ts[40];
		time_format_rfc3339(r->ts_us, ts);
		json_t *o = json_pack(
		    "{s:s, s:s, s:I, s:s, s:s?, s:s?, s:s, s:s, s:s?, s:s, s:i, s:s?, s:s?, s:I, s:s, s:s}", "type",
		    "audit_row", "chain_id", r->chain_id, "seq", (json_int_t)r->seq, "ts", ts, "tenant", r->tenant,
		    "caller", r->caller, "request_id", r->request_id, "operation", r->operation, "key_id", r->key_id,
		    "outcome", r->outcome, "http_status", r->http_status, "error_code", r->error_code, "hsm_node",
		    r->hsm_node, "duration_us", (json_int_t)r->duration_us, "prev_hash", r->prev_hash, "hash", r->hash);
		if (o && r->key_version)
			json_object_set_new(o, "key_version", json_integer(r->key_version));
		siem_emit(a->siem, o);
		json_decref(o);
	}
	siem_flush(a->siem);
}

/* ---- checkpoints ---- */

static json_t *checkpoint_json(const struct hg_audit_checkpoint *cp, const char *pem)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:s}", "type", "audit_checkpoint", "chain_id",
			 cp->chain_id, "seq", (json_int_t)cp->seq, "head_hash", cp->head_hash, "ts_us",
			 (json_int_t)cp->ts_us, "key_fingerprint", cp->key_fingerprint, "signature", cp->signature,
			 "public_key", pem);
}

/* The newest checkpoint, outside the database: written to a temporary file and renamed, so a
 * reader sees the old one or the new one, never half of either. */
static void anchor_write(struct hg_audit *a, const json_t *j)
{
	char path[4096], tmp[4200];
	audit_anchor_path(a->anchor_dir, a->chain_id, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	bool ok = f && json_dumpf(j, f, JSON_INDENT(2)) == 0 && fputc('\n', f) != EOF;
	ok = f && fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0)
		log_error("audit: the anchor file %s cannot be written", path);
}

/* Signs the chain's head and stores the checkpoint; a failure is logged and retried at the
 * next occasion (it never fails requests: their rows are committed). */
static void checkpoint(struct hg_audit *a)
{
	if (!a->signer || a->rows_since_cp == 0 || !a->conn || !a->head_known)
		return;
	struct hg_audit_checkpoint cp = {.seq = a->seq, .ts_us = time_now_us()};
	snprintf(cp.chain_id, sizeof cp.chain_id, "%s", a->chain_id);
	memcpy(cp.head_hash, a->prev_hash, sizeof cp.head_hash);
	snprintf(cp.key_fingerprint, sizeof cp.key_fingerprint, "%s", audit_signer_fingerprint(a->signer));
	char msg[512];
	size_t n = audit_checkpoint_message(msg, sizeof msg, cp.chain_id, cp.seq, cp.head_hash, cp.ts_us);
	uint8_t sig[64];
	hg_err e = n < sizeof msg ? audit_signer_sign(a->signer, msg, n, sig) : HG_E_INTERNAL;
	if (e == HG_OK) {
		b64_encode(sig, sizeof sig, cp.signature);
		e = store_audit_checkpoint_insert(a->conn, &cp);
	}
	a->last_cp_mono_us = time_mono_us();
	if (e != HG_OK) {
		log_error("audit: checkpoint of chain %s at seq %lld failed (%s); retrying later", cp.chain_id,
			  (long long)cp.seq, hg_err_code(e));
		return;
	}
	a->rows_since_cp = 0;
	json_t *j = checkpoint_json(&cp, audit_signer_public_pem(a->signer));
	if (a->anchor_dir)
		anchor_write(a, j);
	siem_emit(a->siem, j);
	siem_flush(a->siem);
	json_decref(j);
}

static bool checkpoint_due(const struct hg_audit *a)
{
	return a->signer && a->rows_since_cp > 0 &&
	       (a->rows_since_cp >= (int64_t)a->checkpoint_rows ||
		time_mono_us() - a->last_cp_mono_us >= a->checkpoint_us);
}

/* Writes one batch; returns its result. */
static hg_err write_batch(struct hg_audit *a, struct qrow **rows, size_t n)
{
	hg_err e = writer_ready(a);
	if (e != HG_OK)
		return e;
	struct hg_audit_record *recs = calloc(n, sizeof *recs);
	char(*kids)[HG_UUID_STR_LEN + 1] = calloc(n, sizeof *kids);
	int64_t seq = a->seq;
	char prev[65];
	memcpy(prev, a->prev_hash, sizeof prev);
	/* Every field of a row is bounded (chain id ≤ 128, caller ≤ 255, request id ≤ 128, …):
	 * the encoding is under 1.1 KiB, so it always fits. */
	char canon[2048];
	for (size_t i = 0; i < n; i++) {
		const struct hg_audit_entry *en = &rows[i]->e;
		struct hg_audit_record *r = &recs[i];
		r->chain_id = a->chain_id;
		r->seq = ++seq;
		r->ts_us = en->ts_us;
		tenant_or_null(en->tenant, &r->tenant);
		tenant_or_null(en->caller, &r->caller);
		r->request_id = en->request_id;
		r->operation = en->operation;
		if (en->has_key) {
			uuid_format(&en->key_id, kids[i]);
			r->key_id = kids[i];
		}
		r->key_version = en->key_version;
		r->outcome = audit_outcome_name(en->outcome);
		r->http_status = (int)en->http_status;
		r->error_code = en->error_code;
		r->hsm_node = en->hsm_node;
		r->duration_us = en->duration_us;
		memcpy(r->prev_hash, prev, sizeof prev);
		size_t len = audit_canonical(canon, sizeof canon, r->chain_id, r->seq, r->ts_us, r->tenant, r->caller,
					     r->request_id, r->operation, r->key_id, r->key_version, r->outcome,
					     r->http_status, r->error_code, r->hsm_node, r->duration_us, r->prev_hash);
		audit_hash(canon, len, r->hash);
		memcpy(prev, r->hash, sizeof prev);
	}
	e = store_audit_append(a->conn, recs, n);
	if (e == HG_OK) {
		a->seq = seq;
		memcpy(a->prev_hash, prev, sizeof prev);
		a->rows_since_cp += (int64_t)n;
		siem_rows(a, recs, n);
	} else {
		/* The outcome is unknown (the commit may have happened): reconnect and re-read the
		 * head, so the chain continues from what is really stored. */
		db_conn_close(a->conn);
		a->conn = NULL;
		a->head_known = false;
		log_error("audit: batch of %zu rows not committed", n);
	}
	free(recs);
	free(kids);
	return e == HG_OK ? HG_OK : HG_E_AUDIT_UNAVAILABLE;
}

static void *writer_main(void *arg)
{
	struct hg_audit *a = arg;
	struct qrow **batch = calloc(a->batch_max, sizeof *batch);
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->head && !a->stopping) {
			if (a->signer && a->rows_since_cp > 0) {
				/* Rows wait for a checkpoint: wake up when it is due even if idle. */
				struct timespec t;
				int64_t left_ms = (a->last_cp_mono_us + a->checkpoint_us - time_mono_us()) / 1000;
				time_deadline(&t, left_ms > 0 ? (unsigned)left_ms : 1);
				pthread_cond_timedwait(&a->work, &a->mu, &t);
				if (!a->head && checkpoint_due(a)) {
					pthread_mutex_unlock(&a->mu);
					checkpoint(a);
					pthread_mutex_lock(&a->mu);
				}
			} else {
				pthread_cond_wait(&a->work, &a->mu);
			}
		}
		if (!a->head && a->stopping)
			break;
		size_t n = 0;
		while (a->head && n < a->batch_max) {
			batch[n++] = a->head;
			a->head = a->head->next;
		}
		if (!a->head)
			a->tail = NULL;
		a->queued -= n;
		atomic_store_explicit(&a->queue_depth, a->queued, memory_order_relaxed);
		pthread_mutex_unlock(&a->mu);

		int64_t t0 = time_mono_us();
		hg_err e = write_batch(a, batch, n);
		hist_observe(&a->commit_hist, time_mono_us() - t0);
		atomic_fetch_add_explicit(e == HG_OK ? &a->rows_committed : &a->batches_failed, e == HG_OK ? n : 1,
					  memory_order_relaxed);
		if (e == HG_OK && checkpoint_due(a))
			checkpoint(a);

		pthread_mutex_lock(&a->mu);
		for (size_t i = 0; i < n; i++) {
			batch[i]->result = e;
			batch[i]->done = true;
			if (batch[i]->abandoned)
				free(batch[i]);
			else
				pthread_cond_signal(batch[i]->waiter);
		}
	}
	pthread_mutex_unlock(&a->mu);
	checkpoint(a); /* the last rows are covered when the process stops */
	free(batch);
	return NULL;
}

struct hg_audit *audit_start(const struct hg_config *cfg, const char *chain_id, struct hg_audit_signer *signer)
{
	struct hg_audit *a = calloc(1, sizeof *a);
	a->signer = signer;
	a->checkpoint_rows = cfg->audit_checkpoint_rows;
	a->checkpoint_us = (int64_t)cfg->audit_checkpoint_s * 1000000;
	a->last_cp_mono_us = time_mono_us();
	a->anchor_dir = signer && cfg->audit_anchor_dir ? strdup(cfg->audit_anchor_dir) : NULL;
	a->siem = siem_open(cfg);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->work, NULL);
	a->conninfo = strdup(cfg->db_conninfo);
	a->chain_id = strdup(chain_id);
	a->batch_max = cfg->audit_batch_max;
	a->commit_timeout_ms = cfg->audit_commit_timeout_ms;
	if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
		log_error("audit: cannot start the writer thread");
		siem_close(a->siem);
		free(a->anchor_dir);
		free(a->conninfo);
		free(a->chain_id);
		free(a);
		return NULL;
	}
	return a;
}

void audit_stop(struct hg_audit *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_signal(&a->work);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	db_conn_close(a->conn);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->work);
	siem_close(a->siem);
	free(a->anchor_dir);
	free(a->conninfo);
	free(a->chain_id);
	free(a);
}

hg_err audit_record_many(struct hg_audit *a, const struct hg_audit_entry *e, size_t n)
{
	/* No trail at all: only the benchmark's hsmgwd-noaudit, which measures what auditing
	 * costs, runs without one (hsmgwd refuses to start without its writer). */
	if (n == 0 || !a)
		return HG_OK;
	struct qrow **rows = calloc(n, sizeof *rows);
	for (size_t i = 0; rows && i < n; i++) {
		if (!(rows[i] = calloc(1, sizeof **rows))) {
			for (size_t j = 0; j < i; j++)
				free(rows[j]);
			free(rows);
			return HG_E_AUDIT_UNAVAILABLE;
		}
		rows[i]->e = e[i];
		rows[i]->waiter = my_waiter();
	}
	if (!rows)
		return HG_E_AUDIT_UNAVAILABLE;
	struct timespec deadline;
	time_deadline(&deadline, a->commit_timeout_ms);
	pthread_mutex_lock(&a->mu);
	if (a->stopping) {
		pthread_mutex_unlock(&a->mu);
		for (size_t i = 0; i < n; i++)
			free(rows[i]);
		free(rows);
		return HG_E_AUDIT_UNAVAILABLE;
	}
	/* All rows go in at once, so they share commits; then wait for each. */
	for (size_t i = 0; i < n; i++) {
		if (a->tail)
			a->tail->next = rows[i];
		else
			a->head = rows[i];
		a->tail = rows[i];
	}
	a->queued += n;
	atomic_store_explicit(&a->queue_depth, a->queued, memory_order_relaxed);
	pthread_cond_signal(&a->work);
	hg_err res = HG_OK;
	bool timed_out = false;
	for (size_t i = 0; i < n; i++) {
		while (!rows[i]->done && !timed_out)
			timed_out = pthread_cond_timedwait(rows[i]->waiter, &a->mu, &deadline) != 0 && !rows[i]->done;
		if (!rows[i]->done) {
			rows[i]->abandoned = true; /* the writer frees it */
			res = HG_E_AUDIT_UNAVAILABLE;
			continue;
		}
		if (rows[i]->result != HG_OK)
			res = rows[i]->result;
		free(rows[i]);
	}
	pthread_mutex_unlock(&a->mu);
	if (timed_out)
		log_error("audit: rows not committed within %u ms", a->commit_timeout_ms);
	free(rows);
	return res;
}

void audit_stats(struct hg_audit *a, struct hg_audit_stats *out)
{
	*out = (struct hg_audit_stats){0};
	if (!a)
		return;
	out->queue_depth = atomic_load_explicit(&a->queue_depth, memory_order_relaxed);
	out->rows_committed = atomic_load_explicit(&a->rows_committed, memory_order_relaxed);
	out->batches_failed = atomic_load_explicit(&a->batches_failed, memory_order_relaxed);
	out->commit = &a->commit_hist;
}

hg_err audit_record(struct hg_audit *a, const struct hg_audit_entry *e)
{
	return audit_record_many(a, e, 1);
}
