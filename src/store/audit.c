/* The audit trail's two queries: the head of a chain, and a batch append with COPY. */
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
