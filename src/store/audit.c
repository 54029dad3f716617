/* The audit trail: the head of a chain, batch appends with COPY, checkpoints, and the
 * verifier's reads. */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

hg_err store_audit_head(struct hg_db_conn *hc, const char *chain_id, int64_t *seq, char hash[65])
{
	PGconn *c = (PGconn *)hc;
	const char *p[] = {chain_id};
	PGresult *r = PQexecParams(c, "SELECT seq, hash FROM audit_log WHERE chain_id = $1 ORDER BY seq DESC LIMIT 1",
				   1, NULL, p, NULL, NULL, 0);
	hg_err e = db_result_err(c, r, PGRES_TUPLES_OK, "audit_head");
	if (e == HG_OK) {
		if (PQntuples(r) == 0) {
			*seq = 0;
			memset(hash, '0', 64);
			hash[64] = '\0';
		} else {
			*seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
			snprintf(hash, 65, "%s", PQgetvalue(r, 0, 1));
		}
	}
	PQclear(r);
	return e;
}

/* Appends s to the COPY text buffer, escaped per COPY's text format; NULL becomes \N. */
static void copy_field(char **buf, size_t *len, size_t *cap, const char *s, bool last)
{
	size_t need = (s ? strlen(s) * 2 : 2) + 2;
	if (*len + need >= *cap) {
		*cap = (*cap + need) * 2;
		*buf = realloc(*buf, *cap);
	}
	char *o = *buf + *len;
	if (!s) {
		*o++ = '\\';
		*o++ = 'N';
	} else {
		for (; *s; s++) {
			unsigned char ch = (unsigned char)*s;
			if (ch == '\\' || ch == '\t' || ch == '\n' || ch == '\r') {
				*o++ = '\\';
				*o++ = ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : '\\';
			} else {
				*o++ = (char)ch;
			}
		}
	}
	*o++ = last ? '\n' : '\t';
	*len = (size_t)(o - *buf);
}

hg_err store_audit_append(struct hg_db_conn *hc, const struct hg_audit_record *rows, size_t n)
{
	PGconn *c = (PGconn *)hc;
	PGresult *r =
	    PQexec(c, "COPY audit_log (chain_id, seq, ts, tenant, caller, request_id, operation, key_id,"
		      " key_version, outcome, http_status, error_code, hsm_node, duration_us, prev_hash, hash)"
		      " FROM STDIN");
	hg_err e = db_result_err(c, r, PGRES_COPY_IN, "audit COPY");
	PQclear(r);
	if (e != HG_OK)
		return e;
	size_t cap = n * 512 + 64, len = 0;
	char *buf = malloc(cap);
	for (size_t i = 0; i < n; i++) {
		const struct hg_audit_record *a = &rows[i];
		char seq[24], ts[32], kv[16], status[16], dur[24];
		snprintf(seq, sizeof seq, "%lld", (long long)a->seq);
		time_format_rfc3339(a->ts_us, ts);
		snprintf(kv, sizeof kv, "%d", a->key_version);
		snprintf(status, sizeof status, "%d", a->http_status);
		snprintf(dur, sizeof dur, "%lld", (long long)a->duration_us);
		const char *f[] = {a->chain_id,  seq,       ts,
				   a->tenant,    a->caller, a->request_id,
				   a->operation, a->key_id, a->key_version ? kv : NULL,
				   a->outcome,   status,    a->error_code,
				   a->hsm_node,  dur,       a->prev_hash,
				   a->hash};
		size_t nf = sizeof f / sizeof *f;
		for (size_t j = 0; j < nf; j++)
			copy_field(&buf, &len, &cap, f[j], j == nf - 1);
	}
	bool sent = PQputCopyData(c, buf, (int)len) == 1;
	free(buf);
	if (PQputCopyEnd(c, sent ? NULL : "client failed to send") != 1)
		return db_result_err(c, NULL, PGRES_COMMAND_OK, "audit COPY end");
	r = PQgetResult(c);
	e = db_result_err(c, r, PGRES_COMMAND_OK, "audit COPY");
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);
	return e;
}

hg_err store_audit_checkpoint_insert(struct hg_db_conn *hc, const struct hg_audit_checkpoint *cp)
{
	PGconn *c = (PGconn *)hc;
	char seq[24], ts_us[24], ts[40];
	snprintf(seq, sizeof seq, "%lld", (long long)cp->seq);
	snprintf(ts_us, sizeof ts_us, "%lld", (long long)cp->ts_us);
	time_format_rfc3339(cp->ts_us, ts);
	const char *p[] = {cp->chain_id, seq, cp->head_hash, ts, ts_us, cp->key_fingerprint, cp->signature};
	PGresult *r =
	    PQexecParams(c,
			 "INSERT INTO audit_checkpoints (chain_id, seq, head_hash, ts, ts_us, key_fingerprint,"
			 " signature) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			 7, NULL, p, NULL, NULL, 0);
	hg_err e = db_result_err(c, r, PGRES_COMMAND_OK, "audit checkpoint");
	PQclear(r);
	return e;
}

hg_err store_audit_chain_ids(struct hg_db_conn *hc, char ***ids, size_t *n)
{
	PGconn *c = (PGconn *)hc;
	*ids = NULL;
	*n = 0;
	PGresult *r = PQexec(c, "SELECT DISTINCT chain_id FROM audit_log UNION SELECT DISTINCT chain_id FROM "
				"audit_checkpoints ORDER BY 1");
	hg_err e = db_result_err(c, r, PGRES_TUPLES_OK, "audit chains");
	if (e == HG_OK) {
		*n = (size_t)PQntuples(r);
		*ids = calloc(*n ? *n : 1, sizeof **ids);
		for (size_t i = 0; i < *n; i++)
			(*ids)[i] = strdup(PQgetvalue(r, (int)i, 0));
	}
	PQclear(r);
	return e;
}

static const char *value_or_null(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

hg_err store_audit_walk(struct hg_db_conn *hc, const char *chain_id,
			bool (*fn)(void *ctx, int64_t id, const struct hg_audit_record *r), void *ctx)
{
	PGconn *c = (PGconn *)hc;
	int64_t after = 0;
	for (;;) {
		char after_s[24];
		snprintf(after_s, sizeof after_s, "%lld", (long long)after);
		const char *p[] = {chain_id, after_s};
		PGresult *r = PQexecParams(
		    c,
		    "SELECT id, seq, (EXTRACT(EPOCH FROM ts) * 1000000)::bigint, tenant, caller, request_id, operation,"
		    " key_id::text, coalesce(key_version, 0), outcome, http_status, error_code, hsm_node, duration_us,"
		    " prev_hash, hash FROM audit_log WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT 5000",
		    2, NULL, p, NULL, NULL, 0);
		hg_err e = db_result_err(c, r, PGRES_TUPLES_OK, "audit walk");
		int rows = e == HG_OK ? PQntuples(r) : 0;
		bool go = true;
		for (int i = 0; i < rows && go; i++) {
			struct hg_audit_record a = {
			    .chain_id = chain_id,
			    .seq = strtoll(PQgetvalue(r, i, 1), NULL, 10),
			    .ts_us = strtoll(PQgetvalue(r, i, 2), NULL, 10),
			    .tenant = value_or_null(r, i, 3),
			    .caller = value_or_null(r, i, 4),
			    .request_id = PQgetvalue(r, i, 5),
			    .operation = PQgetvalue(r, i, 6),
			    .key_id = value_or_null(r, i, 7),
			    .key_version = atoi(PQgetvalue(r, i, 8)),
			    .outcome = PQgetvalue(r, i, 9),
			    .http_status = atoi(PQgetvalue(r, i, 10)),
			    .error_code = value_or_null(r, i, 11),
			    .hsm_node = value_or_null(r, i, 12),
			    .duration_us = strtoll(PQgetvalue(r, i, 13), NULL, 10),
			};
			snprintf(a.prev_hash, sizeof a.prev_hash, "%s", PQgetvalue(r, i, 14));
			snprintf(a.hash, sizeof a.hash, "%s", PQgetvalue(r, i, 15));
			after = a.seq;
			go = fn(ctx, strtoll(PQgetvalue(r, i, 0), NULL, 10), &a);
		}
		PQclear(r);
		if (e != HG_OK || rows < 5000 || !go)
			return e;
	}
}

hg_err store_audit_checkpoints(struct hg_db_conn *hc, const char *chain_id, struct hg_audit_checkpoint **out, size_t *n)
{
	PGconn *c = (PGconn *)hc;
	*out = NULL;
	*n = 0;
	const char *p[] = {chain_id};
	PGresult *r = PQexecParams(c,
				   "SELECT id, seq, ts_us, head_hash, key_fingerprint, signature FROM audit_checkpoints"
				   " WHERE chain_id = $1 ORDER BY seq",
				   1, NULL, p, NULL, NULL, 0);
	hg_err e = db_result_err(c, r, PGRES_TUPLES_OK, "audit checkpoints");
	if (e == HG_OK) {
		*n = (size_t)PQntuples(r);
		*out = calloc(*n ? *n : 1, sizeof **out);
		for (size_t i = 0; i < *n; i++) {
			struct hg_audit_checkpoint *cp = &(*out)[i];
			int row = (int)i;
			cp->id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
			snprintf(cp->chain_id, sizeof cp->chain_id, "%s", chain_id);
			cp->seq = strtoll(PQgetvalue(r, row, 1), NULL, 10);
			cp->ts_us = strtoll(PQgetvalue(r, row, 2), NULL, 10);
			snprintf(cp->head_hash, sizeof cp->head_hash, "%s", PQgetvalue(r, row, 3));
			snprintf(cp->key_fingerprint, sizeof cp->key_fingerprint, "%s", PQgetvalue(r, row, 4));
			snprintf(cp->signature, sizeof cp->signature, "%s", PQgetvalue(r, row, 5));
		}
	}
	PQclear(r);
	return e;
}
