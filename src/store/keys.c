/* Key metadata queries. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store_internal.h"

void key_row_free(struct hg_key_row *k)
{
	if (!k)
		return;
	for (char **u = k->usage; u && *u; u++)
		free(*u);
	free(k->usage);
	free(k->labels_json);
	free(k->policy_json);
	free(k->description);
	free(k->versions);
	free(k);
}

static bool dup_str(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst;
}

struct hg_key_row *key_row_dup(const struct hg_key_row *k)
{
	struct hg_key_row *d = malloc(sizeof *d);
	if (!d)
		return NULL;
	*d = *k;
	d->usage = NULL;
	d->labels_json = d->policy_json = d->description = NULL;
	d->versions = NULL;
	size_t n = 0;
	while (k->usage && k->usage[n])
		n++;
	bool ok = (d->usage = calloc(n + 1, sizeof *d->usage)) != NULL;
	for (size_t i = 0; ok && i < n; i++)
		ok = dup_str(&d->usage[i], k->usage[i]);
	ok = ok && dup_str(&d->labels_json, k->labels_json) && dup_str(&d->policy_json, k->policy_json) &&
	     dup_str(&d->description, k->description);
	if (ok && k->n_versions > 0) {
		d->versions = malloc(k->n_versions * sizeof *d->versions);
		ok = d->versions != NULL;
		if (ok)
			memcpy(d->versions, k->versions, k->n_versions * sizeof *d->versions);
	}
	if (!ok) {
		key_row_free(d);
		return NULL;
	}
	return d;
}

void key_rows_free(struct hg_key_row **rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		key_row_free(rows[i]);
	free(rows);
}

static int64_t get_i64(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static char *get_str_or_null(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static void copy_field(char *dst, size_t cap, PGresult *r, int row, int col)
{
	snprintf(dst, cap, "%s", PQgetvalue(r, row, col));
}

static bool versions_from_json(struct hg_key_row *k, const char *text)
{
	json_t *arr = json_loads(text, 0, NULL);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return false;
	}
	k->n_versions = json_array_size(arr);
	k->versions = calloc(k->n_versions ? k->n_versions : 1, sizeof *k->versions);
	size_t i;
	json_t *v;
	bool ok = true;
	json_array_foreach (arr, i, v) {
		struct hg_version_row *vr = &k->versions[i];
		const char *id = json_string_value(json_object_get(v, "id"));
		const char *state = json_string_value(json_object_get(v, "state"));
		const char *kcv = json_string_value(json_object_get(v, "kcv"));
		vr->version = (int)json_integer_value(json_object_get(v, "version"));
		vr->created_at_us = json_integer_value(json_object_get(v, "created_at"));
		vr->retire_at_us = json_integer_value(json_object_get(v, "retire_at"));
		ok = ok && id && state && uuid_parse(id, &vr->id);
		snprintf(vr->state, sizeof vr->state, "%s", state ? state : "");
		snprintf(vr->kcv, sizeof vr->kcv, "%s", kcv ? kcv : "");
	}
	json_decref(arr);
	return ok;
}

/* Builds a row from column layout HG_SQL_KEY_SELECT. Returns NULL if the data is corrupt. */
static struct hg_key_row *key_row_from(PGresult *r, int row)
{
	struct hg_key_row *k = calloc(1, sizeof *k);
	bool ok = uuid_parse(PQgetvalue(r, row, 0), &k->id);
	k->seq = get_i64(r, row, 1);
	copy_field(k->tenant, sizeof k->tenant, r, row, 2);
	copy_field(k->name, sizeof k->name, r, row, 3);
	copy_field(k->type, sizeof k->type, r, row, 4);
	k->size = atoi(PQgetvalue(r, row, 5));
	json_t *usage = json_loads(PQgetvalue(r, row, 6), 0, NULL);
	size_t n = json_array_size(usage);
	k->usage = calloc(n + 1, sizeof *k->usage);
	for (size_t i = 0; i < n; i++)
		k->usage[i] = strdup(json_string_value(json_array_get(usage, i)) ?: "");
	json_decref(usage);
	copy_field(k->state, sizeof k->state, r, row, 7);
	k->primary_version = atoi(PQgetvalue(r, row, 8));
	k->exportable = PQgetvalue(r, row, 9)[0] == 't';
	k->labels_json = strdup(PQgetvalue(r, row, 10));
	k->policy_json = strdup(PQgetvalue(r, row, 11));
	k->description = get_str_or_null(r, row, 12);
	k->rotation_period_days = PQgetisnull(r, row, 13) ? -1 : atoi(PQgetvalue(r, row, 13));
	k->next_rotation_at_us = get_i64(r, row, 14);
	k->expires_at_us = get_i64(r, row, 15);
	k->activate_at_us = get_i64(r, row, 16);
	k->destroy_at_us = get_i64(r, row, 17);
	k->created_at_us = get_i64(r, row, 18);
	k->updated_at_us = get_i64(r, row, 19);
	ok = ok && !PQgetisnull(r, row, 20) && versions_from_json(k, PQgetvalue(r, row, 20));
	copy_field(k->curve, sizeof k->curve, r, row, 21);
	if (!ok) {
		log_error("db: key row %s is corrupt", PQgetvalue(r, row, 0));
		key_row_free(k);
		return NULL;
	}
	return k;
}

/* Runs one command on c; for "BEGIN"/"COMMIT"/"ROLLBACK". */
static hg_err exec_simple(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	hg_err e = db_result_err(c, r, PGRES_COMMAND_OK, sql);
	PQclear(r);
	return e;
}

/* "{a,b}" array literal of simple words (usage names are checked words, never quoted). */
static void array_literal(char *const *items, char *out, size_t cap)
{
	size_t o = (size_t)snprintf(out, cap, "{");
	for (char *const *u = items; *u && o < cap; u++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", u == items ? "" : ",", *u);
	snprintf(out + (o < cap ? o : cap - 1), cap - (o < cap ? o : cap - 1), "}");
}

hg_err store_key_insert(struct hg_db *db, struct hg_key_row *k, const struct hg_key_event *ev)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char id[HG_UUID_STR_LEN + 1], vid[HG_UUID_STR_LEN + 1], size[16], primary[16], usage[256], vnum[16];
	char rot[16], act[24], exp[24];
	uuid_format(&k->id, id);
	snprintf(size, sizeof size, "%d", k->size);
	snprintf(primary, sizeof primary, "%d", k->primary_version);
	snprintf(rot, sizeof rot, "%d", k->rotation_period_days);
	snprintf(act, sizeof act, "%lld", (long long)k->activate_at_us);
	snprintf(exp, sizeof exp, "%lld", (long long)k->expires_at_us);
	array_literal(k->usage, usage, sizeof usage);
	const char *kp[] = {id,
			    k->tenant,
			    k->name,
			    k->type,
			    size,
			    usage,
			    k->state,
			    primary,
			    k->exportable ? "t" : "f",
			    k->labels_json,
			    k->description,
			    k->curve[0] ? k->curve : NULL,
			    k->rotation_period_days > 0 ? rot : NULL,
			    k->activate_at_us ? act : NULL,
			    k->expires_at_us ? exp : NULL};
	e = exec_simple(c, "BEGIN");
	PGresult *r = NULL;
	if (e == HG_OK) {
		const char *tp[] = {k->tenant};
		r = PQexecPrepared(c, "tenant_upsert", 1, tp, NULL, NULL, 0);
		e = db_result_err(c, r, PGRES_COMMAND_OK, "tenant_upsert");
		PQclear(r);
	}
	if (e == HG_OK) {
		r = PQexecPrepared(c, "key_insert", 15, kp, NULL, NULL, 0);
		e = db_result_err(c, r, PGRES_TUPLES_OK, "key_insert");
		if (e == HG_OK) {
			k->seq = get_i64(r, 0, 0);
			k->created_at_us = get_i64(r, 0, 1);
			k->updated_at_us = get_i64(r, 0, 2);
			k->next_rotation_at_us = get_i64(r, 0, 3);
		}
		PQclear(r);
	}
	for (size_t i = 0; e == HG_OK && i < k->n_versions; i++) {
		struct hg_version_row *v = &k->versions[i];
		uuid_format(&v->id, vid);
		snprintf(vnum, sizeof vnum, "%d", v->version);
		const char *vp[] = {id, vnum, vid, v->state, v->kcv[0] ? v->kcv : NULL};
		r = PQexecPrepared(c, "version_insert", 5, vp, NULL, NULL, 0);
		e = db_result_err(c, r, PGRES_TUPLES_OK, "version_insert");
		if (e == HG_OK)
			v->created_at_us = get_i64(r, 0, 0);
		PQclear(r);
	}
	if (e == HG_OK) {
		const char *ep[] = {id,
				    ev->event,
				    ev->actor,
				    ev->request_id,
				    k->state,
				    primary,
				    ev->detail_json ? ev->detail_json : "{}"};
		r = PQexecPrepared(c, "key_event_insert", 7, ep, NULL, NULL, 0);
		e = db_result_err(c, r, PGRES_COMMAND_OK, "key_event_insert");
		PQclear(r);
	}
	if (e == HG_OK)
		e = exec_simple(c, "COMMIT");
	else if (PQstatus(c) == CONNECTION_OK)
		(void)exec_simple(c, "ROLLBACK");
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_key_get(struct hg_db *db, const char *tenant, const hg_uuid *id, const char *name, struct hg_key_row **out)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char idtext[HG_UUID_STR_LEN + 1];
	if (id)
		uuid_format(id, idtext);
	const char *p[] = {tenant, id ? idtext : name};
	PGresult *r = PQexecPrepared(c, id ? "key_by_id" : "key_by_name", 2, p, NULL, NULL, 0);
	e = db_result_err(c, r, PGRES_TUPLES_OK, "key_get");
	if (e == HG_OK && PQntuples(r) == 0)
		e = HG_E_NOT_FOUND;
	if (e == HG_OK && !(*out = key_row_from(r, 0)))
		e = HG_E_INTERNAL;
	PQclear(r);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_key_counts(struct hg_db *db, struct hg_key_count **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	PGresult *r = PQexecPrepared(c, "key_counts", 0, NULL, NULL, NULL, 0);
	e = db_result_err(c, r, PGRES_TUPLES_OK, "key_counts");
	int rows = e == HG_OK ? PQntuples(r) : 0;
	if (rows > 0 && !(*out = calloc((size_t)rows, sizeof **out)))
		e = HG_E_INTERNAL;
	for (int i = 0; e == HG_OK && i < rows; i++) {
		struct hg_key_count *k = &(*out)[i];
		snprintf(k->tenant, sizeof k->tenant, "%s", PQgetvalue(r, i, 0));
		snprintf(k->state, sizeof k->state, "%s", PQgetvalue(r, i, 1));
		k->keys = get_i64(r, i, 2);
		k->rotation_due = get_i64(r, i, 3);
	}
	*n = e == HG_OK ? (size_t)rows : 0;
	PQclear(r);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_key_list(struct hg_db *db, const char *tenant, const struct hg_key_filter *f, int64_t after,
		      unsigned limit, struct hg_key_row ***out, size_t *n)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char a[24], l[16];
	snprintf(a, sizeof a, "%lld", (long long)after);
	snprintf(l, sizeof l, "%u", limit);
	const char *p[] = {tenant, a, l, f->state, f->type, f->name, f->label_json};
	PGresult *r = PQexecPrepared(c, "key_list", 7, p, NULL, NULL, 0);
	e = db_result_err(c, r, PGRES_TUPLES_OK, "key_list");
	*out = NULL;
	*n = 0;
	if (e == HG_OK) {
		int rows = PQntuples(r);
		*out = calloc((size_t)rows + 1, sizeof **out);
		for (int i = 0; i < rows && e == HG_OK; i++) {
			if (!((*out)[i] = key_row_from(r, i)))
				e = HG_E_INTERNAL;
			else
				(*n)++;
		}
		if (e != HG_OK) {
			key_rows_free(*out, *n);
			*out = NULL;
			*n = 0;
		}
	}
	PQclear(r);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_idem_get(struct hg_db *db, const char *tenant, const char *key, const char *hash, unsigned *status,
		      char **location, char **body)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	const char *p[] = {tenant, key};
	PGresult *r = PQexecParams(c,
				   "SELECT request_hash, status, location, body FROM idempotency WHERE tenant = $1 AND"
				   " idem_key = $2 AND created_at > now() - interval '24 hours'",
				   2, NULL, p, NULL, NULL, 0);
	e = db_result_err(c, r, PGRES_TUPLES_OK, "idempotency get");
	if (e == HG_OK && PQntuples(r) == 0)
		e = HG_E_NOT_FOUND;
	else if (e == HG_OK && strcmp(PQgetvalue(r, 0, 0), hash) != 0)
		e = HG_E_CONFLICT;
	else if (e == HG_OK) {
		*status = (unsigned)atoi(PQgetvalue(r, 0, 1));
		*location = get_str_or_null(r, 0, 2);
		*body = strdup(PQgetvalue(r, 0, 3));
	}
	PQclear(r);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}

hg_err store_idem_put(struct hg_db *db, const char *tenant, const char *key, const char *hash, unsigned status,
		      const char *location, const char *body)
{
	PGconn *c;
	hg_err e = db_borrow(db, &c);
	if (e != HG_OK)
		return e;
	char st[16];
	snprintf(st, sizeof st, "%u", status);
	const char *p[] = {tenant, key, hash, st, location, body};
	/* A row older than 24 hours is replaced; a newer one (a concurrent twin) is kept. */
	PGresult *r = PQexecParams(c,
				   "INSERT INTO idempotency (tenant, idem_key, request_hash, status, location, body)"
				   " VALUES ($1, $2, $3, $4::int, $5, $6) ON CONFLICT (tenant, idem_key) DO UPDATE SET"
				   " request_hash = EXCLUDED.request_hash, status = EXCLUDED.status, location ="
				   " EXCLUDED.location, body = EXCLUDED.body, created_at = now()"
				   " WHERE idempotency.created_at <= now() - interval '24 hours'",
				   6, NULL, p, NULL, NULL, 0);
	e = db_result_err(c, r, PGRES_COMMAND_OK, "idempotency put");
	PQclear(r);
	db_return(db, c, PQstatus(c) != CONNECTION_OK);
	return e;
}
