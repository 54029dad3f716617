/* The audit trail: one committed row per /v1 request (also under concurrency), what the rows
 * say, the hash chain, and that nobody can change or remove a row. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

START_TEST(test_rows_name_the_hsm_node_only_when_the_hsm_was_used)
{
	char id[HG_UUID_STR_LEN + 1], p[200], erid[H_RID_MAX], lrid[H_RID_MAX];
	h_key("acme", "node", id, NULL);
	snprintf(p, sizeof p, "/v1/keys/%s/encrypt", id);
	h_rid(erid);
	h_rid(lrid);
	struct h_resp *r = h_post(p, h_tok("acme"), "{\"plaintext\":\"YWJj\"}", erid);
	h_assert_status(r, 200);
	h_resp_free(r);
	r = h_get("/v1/keys?limit=1", h_tok("acme"), lrid);
	h_assert_status(r, 200);
	h_resp_free(r);
	PGconn *c = h_db_admin();
	const char *ps[] = {erid, lrid};
	PGresult *q =
	    h_sql(c,
		  "SELECT request_id = $1, hsm_node, duration_us >= 0, abs(extract(epoch FROM now() - ts)) < 120"
		  " FROM audit_log WHERE request_id IN ($1, $2) ORDER BY 1 DESC",
		  2, ps);
	ck_assert_msg(PQresultStatus(q) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(q));
	ck_assert_int_eq(PQntuples(q), 2);
	ck_assert_str_eq(PQgetvalue(q, 0, 0), "t"); /* the encrypt row */
	ck_assert_msg(!PQgetisnull(q, 0, 1) && *PQgetvalue(q, 0, 1), "the encrypt row names no HSM node");
	ck_assert_msg(PQgetisnull(q, 1, 1), "the list row names HSM node %s", PQgetvalue(q, 1, 1));
	for (int i = 0; i < 2; i++) {
		ck_assert_str_eq(PQgetvalue(q, i, 2), "t");
		ck_assert_msg(strcmp(PQgetvalue(q, i, 3), "t") == 0, "the row's time stamp is not now");
	}
	PQclear(q);
	PQfinish(c);
}
END_TEST

#define N_THREADS    16
#define N_PER_THREAD 4

struct worker {
	const char *token, *path;
	char rids[N_PER_THREAD][H_RID_MAX];
	long status[N_PER_THREAD];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < N_PER_THREAD; i++) {
		/* Alternate successes and failures: both must be written. */
		const char *body = i % 2 ? "{\"plaintext\":\"YWJj\"}" : "{\"plaintext\":\"not base64\"}";
		struct h_resp *r = h_post(w->path, w->token, body, w->rids[i]);
		w->status[i] = r->status;
		h_resp_free(r);
	}
	return NULL;
}

START_TEST(test_concurrent_requests_each_write_exactly_one_committed_row)
{
	char id[HG_UUID_STR_LEN + 1], p[200];
	h_key("acme", "conc", id, NULL);
	snprintf(p, sizeof p, "/v1/keys/%s/encrypt", id);
	static struct worker w[N_THREADS];
	pthread_t t[N_THREADS];
	for (int i = 0; i < N_THREADS; i++) {
		w[i].token = h_tok("acme");
		w[i].path = p;
		for (int j = 0; j < N_PER_THREAD; j++)
			h_rid(w[i].rids[j]);
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N_THREADS; i++)
		for (int j = 0; j < N_PER_THREAD; j++) {
			ck_assert_msg(w[i].status[j] == (j % 2 ? 200 : 400), "request %s answered %ld", w[i].rids[j],
				      w[i].status[j]);
			h_assert_audit(w[i].rids[j], .tenant = "acme", .caller = h_sub("acme"),
				       .operation = "crypto.encrypt", .outcome = j % 2 ? "success" : "error",
				       .http_status = j % 2 ? 200 : 400, .error_code = j % 2 ? NULL : "invalid_request",
				       .key_id = j % 2 ? id : H_ANY, .key_version = j % 2 ? 1 : H_ANY_VERSION);
		}
	h_assert_chain(N_THREADS * N_PER_THREAD + 50);
}
END_TEST

START_TEST(test_hash_chain_links_and_hashes_every_recent_row)
{
	/* Some rows of every kind first, so the window holds NULLs and errors too. */
	char rid[H_RID_MAX];
	h_rid(rid);
	struct h_resp *r = h_get("/v1/keys?limit=1", NULL, rid);
	h_assert_status(r, 401);
	h_resp_free(r);
	r = h_get("/v1/keys/apitest-no-such-key", h_tok("globex"), NULL);
	h_assert_status(r, 404);
	h_resp_free(r);
	char id[HG_UUID_STR_LEN + 1];
	h_key("globex", "chain", id, NULL);
	long n = h_assert_chain(3000);
	ck_assert_int_ge(n, 3);
}
END_TEST

/* The row's full text, to compare before and after an attempted change; caller frees. */
static char *row_text(const char *rid)
{
	PGconn *c = h_db_admin();
	PGresult *q = h_sql(c, "SELECT a::text FROM audit_log a WHERE request_id = $1", 1, &rid);
	ck_assert_msg(PQresultStatus(q) == PGRES_TUPLES_OK && PQntuples(q) == 1, "row %s: %s", rid,
		      PQresultErrorMessage(q));
	char *s = strdup(PQgetvalue(q, 0, 0));
	PQclear(q);
	PQfinish(c);
	return s;
}

/* Runs a statement that must be refused with SQLSTATE 42501 (insufficient_privilege: a
 * missing grant or the append-only trigger). */
static void expect_refused(PGconn *c, const char *who, const char *sql, const char *rid)
{
	PGresult *q = h_sql(c, sql, rid ? 1 : 0, rid ? &rid : NULL);
	const char *state = PQresultErrorField(q, PG_DIAG_SQLSTATE);
	ck_assert_msg(PQresultStatus(q) == PGRES_FATAL_ERROR && state && strcmp(state, "42501") == 0,
		      "as %s, \"%s\" was not refused: status %s, sqlstate %s, %s", who, sql,
		      PQresStatus(PQresultStatus(q)), state ? state : "-", PQresultErrorMessage(q));
	PQclear(q);
}

/* A committed row to attack: a request of this test. */
static void fresh_row(char rid[H_RID_MAX])
{
	h_rid(rid);
	struct h_resp *r = h_get("/v1/keys/apitest-no-such-key", h_tok("acme"), rid);
	h_assert_status(r, 404);
	h_resp_free(r);
}

/* UPDATE and DELETE of the row, and TRUNCATE (inside a transaction that is rolled back, so
 * that a missing protection cannot wipe the trail), must all be refused; the row unchanged. */
static void expect_write_once(PGconn *c, const char *who)
{
	char rid[H_RID_MAX];
	fresh_row(rid);
	char *before = row_text(rid);
	expect_refused(c, who, "UPDATE audit_log SET outcome = 'success', http_status = 200 WHERE request_id = $1",
		       rid);
	expect_refused(c, who, "UPDATE audit_log SET hash = prev_hash WHERE request_id = $1", rid);
	expect_refused(c, who, "DELETE FROM audit_log WHERE request_id = $1", rid);
	PQclear(h_sql(c, "BEGIN", 0, NULL));
	expect_refused(c, who, "TRUNCATE audit_log", NULL);
	PQclear(h_sql(c, "ROLLBACK", 0, NULL));
	char *after = row_text(rid);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
}

START_TEST(test_runtime_role_cannot_update_delete_or_truncate_audit_rows)
{
	PGconn *c = h_db_app();
	expect_write_once(c, "the runtime role");
	PQfinish(c);
}
END_TEST

START_TEST(test_superuser_cannot_update_delete_or_truncate_audit_rows)
{
	PGconn *c = h_db_admin();
	PGresult *q = h_sql(c, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user", 0, NULL);
	ck_assert_msg(PQntuples(q) == 1 && strcmp(PQgetvalue(q, 0, 0), "t") == 0, "admin_conninfo is no superuser");
	PQclear(q);
	expect_write_once(c, "the superuser");
	PQfinish(c);
}
END_TEST

START_TEST(test_generated_request_id_is_the_audit_rows_request_id)
{
	hg_uuid u;
	struct h_resp *r = h_get("/v1/keys?limit=1", h_tok("globex"), NULL);
	h_assert_status(r, 200);
	ck_assert_msg(r->request_id && uuid_parse(r->request_id, &u), "generated X-Request-Id %s",
		      r->request_id ? r->request_id : "(none)");
	h_assert_audit(r->request_id, .tenant = "globex", .caller = h_sub("globex"), .operation = "keys.list",
		       .outcome = "success", .http_status = 200, .error_code = NULL, .key_id = NULL, .key_version = 0);
	h_resp_free(r);
}
END_TEST

START_TEST(test_caller_is_the_tokens_sub)
{
	char rid[H_RID_MAX], sub[80];
	h_rid(rid);
	snprintf(sub, sizeof sub, "svc-%s", rid);
	json_t *c = h_claims("globex", "keys:read");
	json_object_set_new(c, "sub", json_string(sub));
	char *tok = h_sign("globex", c);
	json_decref(c);
	struct h_resp *r = h_get("/v1/keys?limit=1", tok, rid);
	h_assert_status(r, 200);
	h_resp_free(r);
	free(tok);
	h_assert_audit(rid, .tenant = "globex", .caller = sub, .operation = "keys.list", .outcome = "success",
		       .http_status = 200, .error_code = NULL, .key_id = NULL, .key_version = 0);
}
END_TEST

/* GET /v1/audit: the request just made is there with its fields, filters narrow, another
 * tenant sees none of it, pages follow their cursor, and bad filters are 400. */
START_TEST(test_audit_query_filters_pages_and_is_tenant_scoped)
{
	char *tok = h_token("acme", "keys:read audit:read");
	char rid[H_RID_MAX], path[512];
	h_rid(rid);
	struct h_resp *r = h_get("/v1/keys/apitest-no-such-key-for-audit", tok, rid);
	h_assert_status(r, 404);
	h_resp_free(r);
	ck_assert_int_eq(h_audit_count(rid), 1);
	/* The row of that 404, found by operation, outcome and caller. */
	snprintf(path, sizeof path, "/v1/audit?operation=keys.get&outcome=error&caller=%s&limit=1000", h_sub("acme"));
	bool found = false;
	char cursor[64] = "";
	for (int page = 0; page < 200 && !found; page++) {
		char p2[600];
		snprintf(p2, sizeof p2, "%s%s%s", path, cursor[0] ? "&cursor=" : "", cursor);
		r = h_get(p2, tok, NULL);
		h_assert_status(r, 200);
		json_t *items = json_object_get(r->json, "items"), *it;
		size_t i;
		json_array_foreach (items, i, it) {
			ck_assert_str_eq(json_string_value(json_object_get(it, "operation")), "keys.get");
			ck_assert_str_eq(json_string_value(json_object_get(it, "outcome")), "error");
			if (strcmp(json_string_value(json_object_get(it, "request_id")), rid) == 0) {
				found = true;
				ck_assert_int_eq(json_integer_value(json_object_get(it, "http_status")), 404);
				ck_assert_str_eq(json_string_value(json_object_get(it, "error_code")), "not_found");
				ck_assert_uint_eq(strlen(json_string_value(json_object_get(it, "hash"))), 64);
			}
		}
		const char *next = h_str(r, "next_cursor");
		snprintf(cursor, sizeof cursor, "%s", next ? next : "");
		bool last = !next;
		h_resp_free(r);
		if (last)
			break;
	}
	ck_assert_msg(found, "the row of request %s was not listed", rid);
	/* limit 1 gives one row and a cursor; the next page starts after it. */
	r = h_get("/v1/audit?limit=1", tok, NULL);
	h_assert_status(r, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "items")), 1);
	json_int_t first =
	    json_integer_value(json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "id"));
	ck_assert_ptr_nonnull(h_str(r, "next_cursor"));
	snprintf(path, sizeof path, "/v1/audit?limit=1&cursor=%s", h_str(r, "next_cursor"));
	h_resp_free(r);
	r = h_get(path, tok, NULL);
	h_assert_status(r, 200);
	ck_assert_int_gt(
	    json_integer_value(json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "id")), first);
	h_resp_free(r);
	/* Another tenant never sees acme's row. */
	char *gtok = h_token("globex", "audit:read");
	snprintf(path, sizeof path, "/v1/audit?caller=%s&limit=1000", h_sub("acme"));
	r = h_get(path, gtok, NULL);
	h_assert_status(r, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "items")), 0);
	ck_assert(!strstr(r->body, rid));
	h_resp_free(r);
	/* Bad filters, and the scope. */
	static const char *const bad[] = {"/v1/audit?outcome=maybe", "/v1/audit?since=yesterday", "/v1/audit?limit=0",
					  "/v1/audit?colour=blue"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		r = h_get(bad[i], tok, NULL);
		h_assert_problem(r, 400, "invalid_request");
		h_resp_free(r);
	}
	char *ktok = h_token("acme", "keys:read");
	r = h_get("/v1/audit", ktok, NULL);
	h_assert_problem(r, 403, "forbidden");
	h_resp_free(r);
	free(ktok);
	free(gtok);
	free(tok);
}
END_TEST

/* GET /v1/audit/verify on the live trail: sound, every row counted. */
START_TEST(test_audit_verify_reports_a_sound_trail)
{
	char *tok = h_token("acme", "audit:read");
	struct h_resp *r = h_get("/v1/audit/verify", tok, NULL);
	h_assert_status(r, 200);
	ck_assert_msg(json_is_true(json_object_get(r->json, "ok")), "verify: %s", r->body);
	ck_assert(json_is_null(json_object_get(r->json, "first_broken_id")));
	ck_assert_int_gt(json_integer_value(json_object_get(r->json, "rows_checked")), 0);
	ck_assert_int_ge(json_integer_value(json_object_get(r->json, "chains")), 1);
	h_resp_free(r);
	free(tok);
}
END_TEST

TCase *tcase_audit(void)
{
	TCase *tc = tcase_create("audit");
	tcase_add_test(tc, test_rows_name_the_hsm_node_only_when_the_hsm_was_used);
	tcase_add_test(tc, test_concurrent_requests_each_write_exactly_one_committed_row);
	tcase_add_test(tc, test_hash_chain_links_and_hashes_every_recent_row);
	tcase_add_test(tc, test_runtime_role_cannot_update_delete_or_truncate_audit_rows);
	tcase_add_test(tc, test_superuser_cannot_update_delete_or_truncate_audit_rows);
	tcase_add_test(tc, test_generated_request_id_is_the_audit_rows_request_id);
	tcase_add_test(tc, test_caller_is_the_tokens_sub);
	tcase_add_test(tc, test_audit_query_filters_pages_and_is_tenant_scoped);
	tcase_add_test(tc, test_audit_verify_reports_a_sound_trail);
	return tc;
}
