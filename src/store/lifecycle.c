/* Key lifecycle queries: state changes as compare-and-set, rotation, rollback, metadata
 * updates and the event history. Every change and its event are one transaction. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store_internal.h"

/* Timestamps travel as integer microseconds since the epoch and become timestamptz as
 * 'epoch' + n microseconds: exact, with no floating point on the way. */

static hg_err exec_ok(PGconn *c, const char *sql, int n, const char *const *p, ExecStatusType want, PGresult **keep)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
	hg_err e = db_result_err(c, r, want, sql);
	if (keep && e == HG_OK)
		*keep = r;
	else
		PQclear(r);
	return e;
}

static hg_err begin(PGconn *c)
{
	return exec_ok(c, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL);
}

/* COMMIT on success, ROLLBACK otherwise; returns the final result. A key changed: cached
 * copies of keys are stale from now on (db_keys_changed), whatever the COMMIT's outcome. */
static hg_err finish(struct hg_db *db, PGconn *c, hg_err e)
{
	if (e == HG_OK) {
		e = exec_ok(c, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL);
		db_keys_changed(db);
		return e;
	}
	if (PQstatus(c) == CONNECTION_OK)
		(void)exec_ok(c, "ROLLBACK", 0, NULL, PGRES_COMMAND_OK, NULL);
	return e;
}

static void fmt_i64(char *buf, size_t cap, int64_t v)
{
	snprintf(buf, cap, "%lld", (long long)v);
}

static hg_err insert_event(PGconn *c, const char *key_id, const struct hg_key_event *ev, const char *from,
			   const char *to, int version)
{
	char v[16];
	snprintf(v, sizeof v, "%d", version);
	const char *p[] = {key_id, ev->event, ev->actor,          ev->request_id,
			   from,   to,        version ? v : NULL, ev->detail_json ? ev->detail_json : "{}"};
	return exec_ok(
	    c,
	    "INSERT INTO key_events (key_id, event, actor, request_id, from_state, to_state, version, detail)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
	    8, p, PGRES_COMMAND_OK, NULL);
}

/* "{a,b,c}" from a NULL-terminated list of plain words. */
static void words_literal(const char *const *w, char *out, size_t cap)
{
	size_t o = (size_t)snprintf(out, cap, "{");
	for (size_t i = 0; w[i] && o < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", w[i]);
	if (o < cap)
		snprintf(out + o, cap - o, "}");
}

hg_err store_key_set_state(struct hg_db *db, const hg_uuid *key_id, const char *const *from, const char *to,
			   int64_t destroy_at_us, const struct hg_key_event *ev)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char id[HG_UUID_STR_LEN + 1], states[256], da[24];
	uuid_format(key_id, id);
	words_literal(from, states, sizeof states);
	fmt_i64(da, sizeof da, destroy_at_us);
	const char *p[] = {id, states, to, da};
	PGresult *r = NULL;
	e = begin(c);
	if (e == HG_OK)
		e = exec_ok(c,
			    // clang-format off
			    "WITH old AS (SELECT state, prior_state FROM keys WHERE id = $1 FOR UPDATE)"
			    " UPDATE keys k SET updated_at = now(),"
			    /* Leaving destroy_scheduled never adds rights: back to deactivated or
			     * compromised if the key was so before. */
			    " state = CASE WHEN old.state = 'destroy_scheduled' AND $3 <> 'destroyed'"
			    "  AND old.prior_state IN ('deactivated', 'compromised') THEN old.prior_state ELSE $3 END,"
			    " prior_state = CASE WHEN $3 = 'destroy_scheduled' THEN old.state ELSE k.prior_state END,"
			    " destroy_at = CASE WHEN $3 = 'destroy_scheduled'"
			    "  THEN 'epoch'::timestamptz + $4::bigint * interval '1 microsecond'"
			    "  WHEN $3 = 'destroyed' THEN k.destroy_at ELSE NULL END"
			    " FROM old WHERE k.id = $1 AND old.state = ANY($2::text[]) RETURNING old.state, k.state",
			    // clang-format on
			    4, p, PGRES_TUPLES_OK, &r);
	if (e == HG_OK && PQntuples(r) == 0)
		e = HG_E_CONFLICT;
	if (e == HG_OK)
		e = insert_event(c, id, ev, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), 0);
	if (e == HG_OK && strcmp(to, "destroyed") == 0)
		e = exec_ok(c, "UPDATE key_versions SET state = 'destroyed' WHERE key_id = $1", 1, p, PGRES_COMMAND_OK,
			    NULL);
	PQclear(r);
	e = finish(db, c, e);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_key_rotate(struct hg_db *db, const hg_uuid *key_id, const struct hg_version_row *nv, int64_t retire_at_us,
			const struct hg_key_event *ev)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char id[HG_UUID_STR_LEN + 1], vid[HG_UUID_STR_LEN + 1], ver[16], ra[24];
	uuid_format(key_id, id);
	uuid_format(&nv->id, vid);
	snprintf(ver, sizeof ver, "%d", nv->version);
	fmt_i64(ra, sizeof ra, retire_at_us);
	const char *pk[] = {id};
	const char *pv[] = {id, ver, vid, nv->kcv[0] ? nv->kcv : NULL};
	const char *pr[] = {id, ra};
	PGresult *r = NULL;
	e = begin(c);
	if (e == HG_OK)
		e = exec_ok(c, "SELECT primary_version FROM keys WHERE id = $1 AND state = 'active' FOR UPDATE", 1, pk,
			    PGRES_TUPLES_OK, &r);
	/* Someone else rotated first, or the key left `active`: the caller's view is stale. */
	if (e == HG_OK && (PQntuples(r) == 0 || atoi(PQgetvalue(r, 0, 0)) != nv->version - 1))
		e = HG_E_CONFLICT;
	PQclear(r);
	if (e == HG_OK)
		e = exec_ok(c,
			    "UPDATE key_versions SET state = CASE WHEN "
			    "('epoch'::timestamptz + $2::bigint * interval '1 microsecond')"
			    " <= now() THEN 'retired'"
			    " ELSE 'active' END, retire_at = "
			    "('epoch'::timestamptz + $2::bigint * interval '1 microsecond')"
			    " WHERE key_id = $1 AND state = 'primary'",
			    2, pr, PGRES_COMMAND_OK, NULL);
	if (e == HG_OK)
		e = exec_ok(
		    c,
		    "INSERT INTO key_versions (key_id, version, hsm_id, state, kcv) VALUES ($1, $2, $3, 'primary', $4)",
		    4, pv, PGRES_COMMAND_OK, NULL);
	if (e == HG_OK)
		e = exec_ok(
		    c,
		    "UPDATE keys SET primary_version = $2, updated_at = now(), next_rotation_at = CASE WHEN"
		    " rotation_period_days IS NULL THEN NULL ELSE now() + rotation_period_days * interval '1 day'"
		    " END WHERE id = $1",
		    2, pv, PGRES_COMMAND_OK, NULL);
	if (e == HG_OK)
		e = insert_event(c, id, ev, NULL, NULL, nv->version);
	e = finish(db, c, e);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_key_rollback(struct hg_db *db, const hg_uuid *key_id, const struct hg_key_event *ev, int *new_primary)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char id[HG_UUID_STR_LEN + 1], prev[16];
	uuid_format(key_id, id);
	const char *pk[] = {id};
	PGresult *r = NULL;
	e = begin(c);
	if (e == HG_OK)
		e = exec_ok(
		    c,
		    "SELECT (SELECT max(v.version) FROM key_versions v WHERE v.key_id = k.id AND v.version <"
		    " k.primary_version AND v.state = 'active') FROM keys k WHERE k.id = $1 AND k.state = 'active'"
		    " FOR UPDATE",
		    1, pk, PGRES_TUPLES_OK, &r);
	if (e == HG_OK && (PQntuples(r) == 0 || PQgetisnull(r, 0, 0)))
		e = HG_E_CONFLICT;
	if (e == HG_OK)
		snprintf(prev, sizeof prev, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	const char *pp[] = {id, prev};
	if (e == HG_OK)
		e = exec_ok(
		    c,
		    "UPDATE key_versions SET state = CASE WHEN version = $2::int THEN 'primary' ELSE 'retired' END,"
		    " retire_at = CASE WHEN version = $2::int THEN NULL ELSE now() END"
		    " WHERE key_id = $1 AND (state = 'primary' OR version = $2::int)",
		    2, pp, PGRES_COMMAND_OK, NULL);
	if (e == HG_OK)
		e = exec_ok(c, "UPDATE keys SET primary_version = $2::int, updated_at = now() WHERE id = $1", 2, pp,
			    PGRES_COMMAND_OK, NULL);
	if (e == HG_OK) {
		*new_primary = atoi(prev);
		e = insert_event(c, id, ev, NULL, NULL, *new_primary);
	}
	e = finish(db, c, e);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_key_patch(struct hg_db *db, const hg_uuid *key_id, const struct hg_key_patch *pt,
		       const struct hg_key_event *ev)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char id[HG_UUID_STR_LEN + 1], rp[16], ex[24];
	uuid_format(key_id, id);
	snprintf(rp, sizeof rp, "%d", pt->rotation_period_days);
	fmt_i64(ex, sizeof ex, pt->expires_at_us);
	/* $n IS NULL: leave the column; the flags say which fields the caller sent. */
	const char *p[] = {id,
			   pt->labels_json,
			   pt->set_description ? "t" : "f",
			   pt->description,
			   pt->set_rotation ? "t" : "f",
			   pt->rotation_period_days > 0 ? rp : NULL,
			   pt->set_expires ? "t" : "f",
			   pt->expires_at_us ? ex : NULL,
			   pt->policy_json};
	PGresult *r = NULL;
	e = begin(c);
	if (e == HG_OK)
		e = exec_ok(c,
			    "UPDATE keys SET labels = COALESCE($2::jsonb, labels),"
			    " description = CASE WHEN $3 THEN $4 ELSE description END,"
			    " rotation_period_days = CASE WHEN $5 THEN $6::int ELSE rotation_period_days END,"
			    " next_rotation_at = CASE WHEN NOT $5 THEN next_rotation_at WHEN $6::int IS NULL THEN NULL"
			    " ELSE now() + $6::int * interval '1 day' END,"
			    " expires_at = CASE WHEN $7 THEN "
			    "('epoch'::timestamptz + $8::bigint * interval '1 microsecond')"
			    " ELSE expires_at END,"
			    " policy = COALESCE($9::jsonb, policy), updated_at = now()"
			    " WHERE id = $1 AND state <> 'destroyed' RETURNING state",
			    9, p, PGRES_TUPLES_OK, &r);
	if (e == HG_OK && PQntuples(r) == 0)
		e = HG_E_CONFLICT;
	PQclear(r);
	if (e == HG_OK)
		e = insert_event(c, id, ev, NULL, NULL, 0);
	e = finish(db, c, e);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_key_events(struct hg_db *db, const hg_uuid *key_id, int64_t after, unsigned limit, char **json_out)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char id[HG_UUID_STR_LEN + 1], a[24], l[16];
	uuid_format(key_id, id);
	fmt_i64(a, sizeof a, after);
	snprintf(l, sizeof l, "%u", limit);
	const char *p[] = {id, a, l};
	PGresult *r = NULL;
	e = exec_ok(
	    c,
	    "SELECT coalesce(json_agg(json_build_object('id', id, 'at', to_char(ts AT TIME ZONE 'UTC',"
	    " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'event', event, 'actor', actor, 'request_id', request_id,"
	    " 'from_state', from_state, 'to_state', to_state, 'version', version, 'detail', detail) ORDER BY id),"
	    " '[]') FROM (SELECT * FROM key_events WHERE key_id = $1 AND id > $2 ORDER BY id LIMIT $3) e",
	    3, p, PGRES_TUPLES_OK, &r);
	if (e == HG_OK)
		*json_out = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_lifecycle_due(struct hg_db *db, int64_t now_us, struct hg_due **out, size_t *n)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char now[24];
	fmt_i64(now, sizeof now, now_us);
	const char *p[] = {now};
	PGresult *r = NULL;
	/* One row per due change, in the order they are applied. */
	// clang-format off
	e = exec_ok(c,
		"WITH t AS (SELECT 'epoch'::timestamptz + $1::bigint * interval '1 microsecond' AS now)"
		" SELECT 'activate', id, tenant, 0 FROM keys, t WHERE state = 'pre_active' AND activate_at <= t.now"
		" UNION ALL SELECT 'expire', id, tenant, 0 FROM keys, t"
		"  WHERE state IN ('active', 'suspended') AND expires_at <= t.now"
		" UNION ALL SELECT 'retire', k.id, k.tenant, v.version FROM key_versions v JOIN keys k ON k.id = v.key_id, t"
		"  WHERE v.state = 'active' AND v.retire_at <= t.now"
		" UNION ALL SELECT 'rotate', id, tenant, primary_version FROM keys, t"
		"  WHERE state = 'active' AND next_rotation_at <= t.now"
		" UNION ALL SELECT 'destroy', id, tenant, 0 FROM keys, t"
		"  WHERE state = 'destroy_scheduled' AND destroy_at <= t.now",
		1, p, PGRES_TUPLES_OK, &r);
	// clang-format on
	*out = NULL;
	*n = 0;
	if (e == HG_OK) {
		int rows = PQntuples(r);
		*out = calloc((size_t)rows + 1, sizeof **out);
		for (int i = 0; i < rows; i++) {
			struct hg_due *d = &(*out)[*n];
			snprintf(d->action, sizeof d->action, "%s", PQgetvalue(r, i, 0));
			snprintf(d->tenant, sizeof d->tenant, "%s", PQgetvalue(r, i, 2));
			d->version = atoi(PQgetvalue(r, i, 3));
			if (uuid_parse(PQgetvalue(r, i, 1), &d->key_id))
				(*n)++;
		}
	}
	PQclear(r);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_version_retire(struct hg_db *db, const hg_uuid *key_id, int version, const struct hg_key_event *ev)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char id[HG_UUID_STR_LEN + 1], v[16];
	uuid_format(key_id, id);
	snprintf(v, sizeof v, "%d", version);
	const char *p[] = {id, v};
	PGresult *r = NULL;
	e = begin(c);
	if (e == HG_OK)
		e = exec_ok(
		    c,
		    "UPDATE key_versions SET state = 'retired' WHERE key_id = $1 AND version = $2::int AND state ="
		    " 'active' RETURNING version",
		    2, p, PGRES_TUPLES_OK, &r);
	if (e == HG_OK && PQntuples(r) == 0)
		e = HG_E_CONFLICT;
	PQclear(r);
	if (e == HG_OK)
		e = insert_event(c, id, ev, "active", "retired", version);
	e = finish(db, c, e);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_audit_query(struct hg_db *db, const char *tenant, const struct hg_audit_filter *f, int64_t after,
			 unsigned limit, char **json_out)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char a[24], l[16], since[24], until[24];
	fmt_i64(a, sizeof a, after);
	snprintf(l, sizeof l, "%u", limit);
	fmt_i64(since, sizeof since, f->since_us);
	fmt_i64(until, sizeof until, f->until_us);
	const char *p[] = {tenant,
			   a,
			   l,
			   f->key_id,
			   f->operation,
			   f->outcome,
			   f->caller,
			   f->since_us ? since : NULL,
			   f->until_us ? until : NULL};
	PGresult *r = NULL;
	/* Each filter is "$n IS NULL OR column = $n": one prepared shape for every combination. */
	e = exec_ok(
	    c,
	    "SELECT coalesce(json_agg(json_build_object('id', id, 'chain_id', chain_id, 'seq', seq, 'ts',"
	    " to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'caller', caller, 'request_id',"
	    " request_id, 'operation', operation, 'key_id', key_id, 'key_version', key_version, 'outcome', outcome,"
	    " 'http_status', http_status, 'error_code', error_code, 'hsm_node', hsm_node, 'duration_us', duration_us,"
	    " 'hash', hash) ORDER BY id), '[]') FROM (SELECT * FROM audit_log WHERE tenant = $1 AND id > $2"
	    " AND ($4::uuid IS NULL OR key_id = $4::uuid) AND ($5::text IS NULL OR operation = $5)"
	    " AND ($6::text IS NULL OR outcome = $6) AND ($7::text IS NULL OR caller = $7)"
	    " AND ($8::bigint IS NULL OR ts >= 'epoch'::timestamptz + $8::bigint * interval '1 microsecond')"
	    " AND ($9::bigint IS NULL OR ts < 'epoch'::timestamptz + $9::bigint * interval '1 microsecond')"
	    " ORDER BY id LIMIT $3) a",
	    9, p, PGRES_TUPLES_OK, &r);
	if (e == HG_OK)
		*json_out = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}
