/* A PostgreSQL outage: the audit store is gone, so nothing is done and the gateway says so
 * (503 audit_unavailable with Retry-After, /readyz 503) quickly, then recovers by itself when
 * the database is back. This TCase runs last; PostgreSQL is started again before any
 * assertion, and by the fixtures whatever happens (a failed or timed-out test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define OUTAGE_ANSWER_US (5 * 1000000) /* "within a few seconds" */
#define RECOVERY_US      (15 * 1000000)

static void ensure_pg_running(void)
{
	if (h_env("pg-start") != 0)
		fprintf(stderr, "test-api: could not start PostgreSQL again\n");
}

struct timed {
	struct h_resp *r;
	int64_t us;
};

static struct timed timed_post(const char *path, const char *body, const char *rid)
{
	int64_t t0 = time_mono_us();
	struct h_resp *r = h_post(path, h_tok("acme"), body, rid);
	return (struct timed){r, time_mono_us() - t0};
}

static void expect_503_audit_unavailable(const struct timed *t, const char *what)
{
	h_assert_problem(t->r, 503, "audit_unavailable");
	ck_assert_msg(t->r->retry_after && atol(t->r->retry_after) > 0, "%s: 503 without a positive Retry-After (%s)",
		      what, t->r->retry_after ? t->r->retry_after : "none");
	ck_assert_msg(t->us < OUTAGE_ANSWER_US, "%s took %lld ms to fail", what, (long long)(t->us / 1000));
	ck_assert_msg(!json_object_get(t->r->json, "ciphertext") && !json_object_get(t->r->json, "id"),
		      "%s: a 503 carried a result", what);
}

START_TEST(test_database_outage_is_503_audit_unavailable_then_recovers)
{
	char id[HG_UUID_STR_LEN + 1], name[H_NAME_MAX], p[200], body[256], rid[H_RID_MAX];
	h_key("acme", "outage", id, NULL);
	char *ct = h_encrypt("acme", id, "YmVmb3JlIHRoZSBvdXRhZ2U=", NULL);
	snprintf(p, sizeof p, "/v1/keys/%s/encrypt", id);
	h_name(name, "during-outage");
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"AES\"}", name);

	int stopped = h_env("pg-stop");
	struct timed enc = timed_post(p, "{\"plaintext\":\"ZHVyaW5nIHRoZSBvdXRhZ2U=\"}", NULL);
	struct timed create = timed_post("/v1/keys", body, NULL);
	int64_t t0 = time_mono_us();
	struct h_resp *ready = h_get("/readyz", NULL, NULL);
	int64_t ready_us = time_mono_us() - t0;
	struct h_resp *health = h_get("/healthz", NULL, NULL);
	int started = h_env("pg-start");

	ck_assert_msg(stopped == 0, "pg-stop failed (%d)", stopped);
	expect_503_audit_unavailable(&enc, "encrypt");
	expect_503_audit_unavailable(&create, "key create");
	h_assert_status(ready, 503);
	ck_assert_msg(h_str(ready, "database") && strcmp(h_str(ready, "database"), "down") == 0, "readyz: %s",
		      ready->body);
	ck_assert_msg(h_str(ready, "hsm") && strcmp(h_str(ready, "hsm"), "ok") == 0, "readyz: %s", ready->body);
	ck_assert_msg(ready_us < OUTAGE_ANSWER_US, "readyz took %lld ms", (long long)(ready_us / 1000));
	h_assert_status(health, 200);
	ck_assert_msg(started == 0, "pg-start failed (%d)", started);
	h_resp_free(enc.r), h_resp_free(create.r), h_resp_free(ready), h_resp_free(health);

	/* Recovery: the same request succeeds again within RECOVERY_US, without a restart. */
	long last = 0;
	for (int64_t end = time_mono_us() + RECOVERY_US; time_mono_us() < end; usleep(200 * 1000)) {
		h_rid(rid);
		struct h_resp *r = h_post(p, h_tok("acme"), "{\"plaintext\":\"YWZ0ZXIgdGhlIG91dGFnZQ==\"}", rid);
		last = r->status;
		h_resp_free(r);
		if (last == 200)
			break;
	}
	ck_assert_msg(last == 200, "encrypt still answers %ld %d s after PostgreSQL came back", last,
		      RECOVERY_US / 1000000);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "crypto.encrypt",
		       .outcome = "success", .http_status = 200, .error_code = NULL, .key_id = id, .key_version = 1);
	ready = h_get("/readyz", NULL, NULL);
	h_assert_status(ready, 200);
	h_resp_free(ready);
	/* The refused create left nothing behind, and it can be made now. */
	ck_assert_int_eq(h_key_status("acme", name), 404);
	struct h_resp *r = h_post("/v1/keys", h_tok("acme"), body, NULL);
	h_assert_status(r, 201);
	h_resp_free(r);
	/* Data protected before the outage is still readable. */
	r = h_decrypt("acme", id, ct, NULL, NULL);
	h_assert_status(r, 200);
	ck_assert_str_eq(h_str(r, "plaintext"), "YmVmb3JlIHRoZSBvdXRhZ2U=");
	h_resp_free(r);
	free(ct);
}
END_TEST

START_TEST(test_audit_chain_is_intact_across_the_outage)
{
	char rid[H_RID_MAX];
	h_rid(rid);
	struct h_resp *r = h_get("/v1/keys?limit=1", h_tok("acme"), rid);
	h_assert_status(r, 200);
	h_resp_free(r);
	ck_assert_int_eq(h_audit_count(rid), 1);
	ck_assert_int_ge(h_assert_chain(500), 2);
}
END_TEST

TCase *tcase_outage(void)
{
	TCase *tc = tcase_create("outage");
	/* Checked: before (and, when it passes, after) each test in its process. Unchecked: once
	 * more in the runner after the TCase, which also covers failed and timed-out tests. */
	tcase_add_checked_fixture(tc, ensure_pg_running, ensure_pg_running);
	tcase_add_unchecked_fixture(tc, NULL, ensure_pg_running);
	tcase_add_test(tc, test_database_outage_is_503_audit_unavailable_then_recovers);
	tcase_add_test(tc, test_audit_chain_is_intact_across_the_outage);
	return tc;
}
