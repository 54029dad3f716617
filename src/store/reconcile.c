/* The start-up reconciliation's reads (keys/reconcile.c): every key version, and the intent
 * rows that no outcome row followed. */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

hg_err store_rc_versions(struct hg_db *db, struct hg_rc_version **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	PGresult *r = PQexec(c, "SELECT v.hsm_id::text, v.key_id::text, k.tenant, v.version, v.state, k.state,"
				" k.state = 'destroy_scheduled' AND k.destroy_at IS NOT NULL AND k.destroy_at <= now()"
				" FROM key_versions v JOIN keys k ON k.id = v.key_id");
	e = db_result_err(c, r, PGRES_TUPLES_OK, "reconcile: versions");
	int rows = e == HG_OK ? PQntuples(r) : 0;
	if (e == HG_OK && !(*out = calloc(rows ? (size_t)rows : 1, sizeof **out)))
		e = HG_E_INTERNAL;
	for (int i = 0; e == HG_OK && i < rows; i++) {
		struct hg_rc_version *v = &(*out)[i];
		if (!uuid_parse(PQgetvalue(r, i, 0), &v->hsm_id) || !uuid_parse(PQgetvalue(r, i, 1), &v->key_id)) {
			log_error("db: key version %s of key %s is corrupt", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
			e = HG_E_INTERNAL;
			break;
		}
		snprintf(v->tenant, sizeof v->tenant, "%s", PQgetvalue(r, i, 2));
		v->version = atoi(PQgetvalue(r, i, 3));
		snprintf(v->state, sizeof v->state, "%s", PQgetvalue(r, i, 4));
		snprintf(v->key_state, sizeof v->key_state, "%s", PQgetvalue(r, i, 5));
		v->destroy_due = PQgetvalue(r, i, 6)[0] == 't';
	}
	if (e == HG_OK) {
		*n = (size_t)rows;
	} else {
		free(*out);
		*out = NULL;
	}
	PQclear(r);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

/* An intent is open while no later row of its chain carries its request id (the verifier's
 * rule, audit/verify.c). */
#define OPEN_INTENT                                                                                                    \
	"i.operation LIKE '%.intent' AND NOT EXISTS (SELECT 1 FROM audit_log o WHERE o.request_id = i.request_id"      \
	" AND o.chain_id = i.chain_id AND o.seq > i.seq AND o.operation NOT LIKE '%.intent')"

static hg_err own_intents(PGconn *c, const char *chain, struct hg_rc_intent **out, size_t *n)
{
	const char *p[] = {chain};
	PGresult *r = PQexecParams(c,
				   "SELECT i.request_id, i.operation, coalesce(i.tenant, ''), i.key_id::text,"
				   " coalesce(i.key_version, 0), i.id FROM audit_log i WHERE i.chain_id = $1"
				   " AND " OPEN_INTENT " ORDER BY i.seq",
				   1, NULL, p, NULL, NULL, 0);
	hg_err e = db_result_err(c, r, PGRES_TUPLES_OK, "reconcile: open intents");
	int rows = e == HG_OK ? PQntuples(r) : 0;
	if (e == HG_OK && !(*out = calloc(rows ? (size_t)rows : 1, sizeof **out)))
		e = HG_E_INTERNAL;
	for (int i = 0; e == HG_OK && i < rows; i++) {
		struct hg_rc_intent *t = &(*out)[i];
		snprintf(t->request_id, sizeof t->request_id, "%s", PQgetvalue(r, i, 0));
		snprintf(t->operation, sizeof t->operation, "%s", PQgetvalue(r, i, 1));
		snprintf(t->tenant, sizeof t->tenant, "%s", PQgetvalue(r, i, 2));
		t->has_key = !PQgetisnull(r, i, 3) && uuid_parse(PQgetvalue(r, i, 3), &t->key_id);
		t->key_version = atoi(PQgetvalue(r, i, 4));
		t->id = strtoll(PQgetvalue(r, i, 5), NULL, 10);
	}
	if (e == HG_OK)
		*n = (size_t)rows;
	PQclear(r);
	return e;
}

hg_err store_rc_intents(struct hg_db *db, const char *own_chain, unsigned young_s, struct hg_rc_intent **own,
			size_t *n_own, size_t *others_young)
{
	*own = NULL;
	*n_own = 0;
	*others_young = 0;
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	if (own_chain)
		e = own_intents(c, own_chain, own, n_own);
	if (e == HG_OK) {
		char young[16];
		snprintf(young, sizeof young, "%u", young_s);
		const char *p[] = {own_chain, young};
		PGresult *r =
		    PQexecParams(c,
				 "SELECT count(*) FROM audit_log i WHERE ($1::text IS NULL OR i.chain_id <> $1)"
				 " AND i.ts > now() - $2::int * interval '1 second' AND " OPEN_INTENT,
				 2, NULL, p, NULL, NULL, 0);
		e = db_result_err(c, r, PGRES_TUPLES_OK, "reconcile: other chains' open intents");
		if (e == HG_OK)
			*others_young = (size_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	if (e != HG_OK) {
		free(*own);
		*own = NULL;
		*n_own = 0;
	}
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}
