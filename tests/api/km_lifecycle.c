/* The key lifecycle through the API: every transition the table allows and the ones it
 * refuses, what each state lets a key do, rotation with its grace period, rollback,
 * scheduled destruction down to the HSM objects, the time-driven changes (applied with
 * `hsmgwctl lifecycle run --at`), PATCH, list filters, the event history and Idempotency-Key. */
#include <stdlib.h>
#include <string.h>

#include "km_util.h"

#define DAY (86400LL)
#define PT  "a20gbGlmZWN5Y2xl" /* "km lifecycle" */

static void new_aes(const char *label, char id[KM_ID_LEN])
{
	km_key_id(label, json_pack("{s:s}", "type", "AES"), id, NULL);
}

/* A change: POST /v1/keys/{id}/{action}, or DELETE / PATCH /v1/keys/{id}. */
static struct h_resp *change(const char *id, const char *action, const char *body)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/keys/%s", id);
	if (strcmp(action, "DELETE") == 0 || strcmp(action, "PATCH") == 0)
		return km_send(action, path, body, NULL);
	return km_act(id, action, body);
}

/* The change answers 200 with the key in state `to`, and GET agrees. */
#define expect_ok(id, action, body, to) expect_ok_at(__LINE__, (id), (action), (body), (to))
static void expect_ok_at(int line, const char *id, const char *action, const char *body, const char *to)
{
	struct h_resp *r = change(id, action, body);
	ck_assert_msg(r->status == 200, "line %d: %s %s: expected 200, got %ld: %.600s", line, action, body ? body : "",
		      r->status, r->body);
	const char *st = h_str(r, "state");
	ck_assert_msg(st && strcmp(st, to) == 0, "line %d: %s answered state %s, expected %s", line, action,
		      st ? st : "(none)", to);
	h_resp_free(r);
	km_assert_state_at(__FILE__, line, id, to);
}

/* The change is 409 conflict and the key reads exactly as before. */
#define expect_409(id, action, body) expect_409_at(__LINE__, (id), (action), (body))
static void expect_409_at(int line, const char *id, const char *action, const char *body)
{
	struct h_resp *before = km_get(id);
	struct h_resp *r = change(id, action, body);
	ck_assert_msg(r->status == 409, "line %d: %s %s on a %s key: expected 409, got %ld: %.600s", line, action,
		      body ? body : "", h_str(before, "state"), r->status, r->body);
	h_assert_problem_at(__FILE__, line, r, 409, "conflict");
	h_resp_free(r);
	struct h_resp *after = km_get(id);
	ck_assert_msg(json_equal(before->json, after->json), "line %d: refused %s changed the key:\n%.1500s\n%.1500s",
		      line, action, before->body, after->body);
	h_resp_free(before);
	h_resp_free(after);
}

/* A time member in microseconds (0 when null or absent). */
static int64_t t_of(const json_t *o, const char *member)
{
	const char *s = km_s(o, member);
	int64_t us = 0;
	if (s)
		ck_assert_msg(time_parse_rfc3339(s, &us), "%s is not RFC 3339: %s", member, s);
	return us;
}

/* The time member lies within 5 minutes of now + offset_s. */
#define assert_time_near(o, member, offset_s) assert_time_near_at(__LINE__, (o), (member), (offset_s))
static void assert_time_near_at(int line, const json_t *o, const char *member, long long offset_s)
{
	int64_t got = t_of(o, member), want = time_now_us() + offset_s * 1000000LL;
	ck_assert_msg(got && llabs((long long)(got - want)) < 300LL * 1000000,
		      "line %d: %s is %s, expected about now%+llds", line, member,
		      km_s(o, member) ? km_s(o, member) : "null", offset_s);
}

START_TEST(test_every_allowed_transition_answers_200_with_the_expected_state)
{
	char a[KM_ID_LEN], b[KM_ID_LEN], c[KM_ID_LEN], d[KM_ID_LEN], e[KM_ID_LEN], f[KM_ID_LEN];
	new_aes("tr", a);
	expect_ok(a, "suspend", NULL, "suspended");
	expect_ok(a, "resume", "{}", "active");
	expect_ok(a, "suspend", NULL, "suspended");
	expect_ok(a, "deactivate", NULL, "deactivated");
	expect_ok(a, "revoke", "{\"reason\":\"compromised\"}", "compromised");
	expect_ok(a, "schedule-destruction", "{\"pending_days\":7}", "destroy_scheduled");
	new_aes("tr", b);
	expect_ok(b, "deactivate", NULL, "deactivated");
	new_aes("tr", c);
	expect_ok(c, "revoke", "{\"reason\":\"superseded\"}", "deactivated");
	expect_ok(c, "DELETE", NULL, "destroy_scheduled");
	new_aes("tr", d);
	expect_ok(d, "suspend", NULL, "suspended");
	expect_ok(d, "revoke", "{\"reason\":\"cessation\"}", "deactivated");
	new_aes("tr", e);
	struct h_resp *r = change(e, "schedule-destruction", "{\"pending_days\":7}");
	h_assert_status(r, 200);
	ck_assert_str_eq(h_str(r, "state"), "destroy_scheduled");
	assert_time_near(r->json, "destroy_at", 7 * DAY);
	h_resp_free(r);
	r = change(e, "cancel-destruction", NULL);
	h_assert_status(r, 200);
	ck_assert_str_eq(h_str(r, "state"), "suspended");
	ck_assert_msg(json_is_null(json_object_get(r->json, "destroy_at")), "destroy_at kept: %.600s", r->body);
	h_resp_free(r);
	r = change(e, "DELETE", NULL);
	h_assert_status(r, 200);
	ck_assert_str_eq(h_str(r, "state"), "destroy_scheduled");
	assert_time_near(r->json, "destroy_at", 30 * DAY);
	h_resp_free(r);
	/* From pre_active. */
	char at[32];
	km_time(DAY, at);
	km_key_id("tr", json_pack("{s:s, s:s}", "type", "AES", "activate_at", at), f, NULL);
	km_assert_state(f, "pre_active");
	expect_ok(f, "revoke", "{\"reason\":\"superseded\"}", "deactivated");
}
END_TEST

START_TEST(test_every_refused_transition_is_409_conflict_and_changes_nothing)
{
	char id[KM_ID_LEN];
	new_aes("refuse", id); /* active */
	expect_409(id, "resume", NULL);
	expect_409(id, "cancel-destruction", NULL);
	expect_409(id, "rollback", NULL); /* a single version */
	expect_ok(id, "suspend", NULL, "suspended");
	expect_409(id, "suspend", NULL);
	expect_409(id, "rotate", NULL);
	expect_409(id, "rollback", NULL);
	expect_ok(id, "deactivate", NULL, "deactivated");
	expect_409(id, "resume", NULL);
	expect_409(id, "suspend", NULL);
	expect_409(id, "deactivate", NULL);
	expect_409(id, "revoke", "{\"reason\":\"superseded\"}");
	expect_409(id, "rotate", "{}");
	expect_ok(id, "revoke", "{\"reason\":\"compromised\"}", "compromised");
	expect_409(id, "deactivate", NULL);
	expect_409(id, "resume", NULL);
	expect_409(id, "revoke", "{\"reason\":\"compromised\"}");
	expect_409(id, "revoke", "{\"reason\":\"cessation\"}");
	expect_409(id, "rotate", NULL);
	expect_ok(id, "schedule-destruction", "{\"pending_days\":7}", "destroy_scheduled");
	expect_409(id, "revoke", "{\"reason\":\"compromised\"}");
	expect_409(id, "revoke", "{\"reason\":\"superseded\"}");
	expect_409(id, "schedule-destruction", "{\"pending_days\":7}");
	expect_409(id, "DELETE", NULL);
	expect_409(id, "suspend", NULL);
	expect_409(id, "resume", NULL);
	expect_409(id, "deactivate", NULL);
	expect_409(id, "rotate", NULL);
	km_lifecycle_run(8 * DAY);
	km_assert_state(id, "destroyed");
	static const char *const all[][2] = {
	    {"suspend", NULL},
	    {"resume", NULL},
	    {"deactivate", NULL},
	    {"revoke", "{\"reason\":\"compromised\"}"},
	    {"revoke", "{\"reason\":\"superseded\"}"},
	    {"schedule-destruction", "{\"pending_days\":7}"},
	    {"cancel-destruction", NULL},
	    {"DELETE", NULL},
	    {"rotate", NULL},
	    {"rollback", NULL},
	    {"PATCH", "{\"description\":\"after the end\"}"},
	};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		expect_409(id, all[i][0], all[i][1]);
}
END_TEST

START_TEST(test_cancelled_destruction_returns_a_compromised_or_deactivated_key_to_that_state)
{
	char comp[KM_ID_LEN], deact[KM_ID_LEN], act[KM_ID_LEN];
	new_aes("cancel", comp);
	expect_ok(comp, "revoke", "{\"reason\":\"compromised\"}", "compromised");
	expect_ok(comp, "schedule-destruction", "{\"pending_days\":7}", "destroy_scheduled");
	expect_ok(comp, "cancel-destruction", NULL, "compromised");
	expect_409(comp, "resume", NULL);
	struct h_resp *r = km_act(comp, "encrypt", "{\"plaintext\":\"" PT "\"}");
	h_assert_problem(r, 403, "key_state");
	h_resp_free(r);
	new_aes("cancel", deact);
	expect_ok(deact, "deactivate", NULL, "deactivated");
	expect_ok(deact, "DELETE", NULL, "destroy_scheduled");
	expect_ok(deact, "cancel-destruction", NULL, "deactivated");
	expect_409(deact, "resume", NULL);
	/* An active key comes back suspended, as the table says. */
	new_aes("cancel", act);
	expect_ok(act, "DELETE", NULL, "destroy_scheduled");
	expect_ok(act, "cancel-destruction", NULL, "suspended");
	expect_ok(act, "resume", NULL, "active");
}
END_TEST

/* encrypt is 403 key_state; decrypt of ct answers want_decrypt (200 or 403 key_state). */
#define expect_ops(id, ct, want_decrypt) expect_ops_at(__LINE__, (id), (ct), (want_decrypt))
static void expect_ops_at(int line, const char *id, const char *ct, long want_decrypt)
{
	struct h_resp *r = km_act(id, "encrypt", "{\"plaintext\":\"" PT "\"}");
	h_assert_problem_at(__FILE__, line, r, 403, "key_state");
	h_resp_free(r);
	if (!ct)
		return;
	r = km_decrypt(id, ct);
	if (want_decrypt == 200) {
		h_assert_status_at(__FILE__, line, r, 200);
		ck_assert_str_eq(h_str(r, "plaintext"), PT);
	} else {
		h_assert_problem_at(__FILE__, line, r, 403, "key_state");
		ck_assert_ptr_null(h_str(r, "plaintext"));
	}
	h_resp_free(r);
}

START_TEST(test_operations_the_state_forbids_are_403_key_state_and_deactivated_still_decrypts)
{
	char id[KM_ID_LEN], at[32];
	new_aes("ops", id);
	char *ct = km_encrypt(id, PT, 1);
	expect_ok(id, "suspend", NULL, "suspended");
	expect_ops(id, ct, 403);
	expect_ok(id, "deactivate", NULL, "deactivated");
	expect_ops(id, ct, 200);
	expect_ok(id, "revoke", "{\"reason\":\"compromised\"}", "compromised");
	expect_ops(id, ct, 403);
	free(ct);
	new_aes("ops", id);
	ct = km_encrypt(id, PT, 1);
	expect_ok(id, "schedule-destruction", NULL, "destroy_scheduled");
	expect_ops(id, ct, 403);
	free(ct);
	km_time(DAY, at);
	km_key_id("ops", json_pack("{s:s, s:s}", "type", "AES", "activate_at", at), id, NULL);
	expect_ops(id, NULL, 0);
}
END_TEST

START_TEST(test_rotation_keeps_old_ciphertexts_decryptable_until_the_grace_period_retires_them)
{
	char id[KM_ID_LEN];
	new_aes("rot", id);
	char *ct1 = km_encrypt(id, PT, 1);
	struct h_resp *r = km_act(id, "rotate", "{\"grace_days\":5}");
	h_assert_status(r, 200);
	ck_assert_int_eq(km_int(r->json, "primary_version"), 2);
	ck_assert_str_eq(km_s(km_version(r->json, 1), "state"), "active");
	ck_assert_str_eq(km_s(km_version(r->json, 2), "state"), "primary");
	ck_assert(km_is_kcv(km_s(km_version(r->json, 2), "kcv")));
	ck_assert_str_ne(km_s(km_version(r->json, 1), "kcv"), km_s(km_version(r->json, 2), "kcv"));
	assert_time_near(km_version(r->json, 1), "retire_at", 5 * DAY);
	h_resp_free(r);
	char *ct2 = km_encrypt(id, PT, 2);
	r = km_decrypt(id, ct1);
	h_assert_status(r, 200);
	ck_assert_str_eq(h_str(r, "plaintext"), PT);
	ck_assert_int_eq(km_int(r->json, "key_version"), 1);
	h_resp_free(r);
	km_lifecycle_run(4 * DAY); /* not yet */
	r = km_decrypt(id, ct1);
	h_assert_status(r, 200);
	h_resp_free(r);
	km_lifecycle_run(6 * DAY);
	r = km_get(id);
	ck_assert_str_eq(km_s(km_version(r->json, 1), "state"), "retired");
	ck_assert_str_eq(km_s(km_version(r->json, 2), "state"), "primary");
	h_resp_free(r);
	r = km_decrypt(id, ct1);
	h_assert_problem(r, 403, "key_state");
	h_resp_free(r);
	r = km_decrypt(id, ct2);
	h_assert_status(r, 200);
	ck_assert_int_eq(km_int(r->json, "key_version"), 2);
	h_resp_free(r);
	free(ct1);
	free(ct2);
}
END_TEST

START_TEST(test_rotate_with_grace_days_0_retires_the_previous_version_at_once)
{
	char id[KM_ID_LEN];
	new_aes("rot0", id);
	char *ct1 = km_encrypt(id, PT, 1);
	struct h_resp *r = km_act(id, "rotate", "{\"grace_days\":0}");
	h_assert_status(r, 200);
	ck_assert_int_eq(km_int(r->json, "primary_version"), 2);
	ck_assert_str_eq(km_s(km_version(r->json, 1), "state"), "retired");
	h_resp_free(r);
	r = km_decrypt(id, ct1);
	h_assert_problem(r, 403, "key_state");
	h_resp_free(r);
	free(km_encrypt(id, PT, 2));
	free(ct1);
}
END_TEST

START_TEST(test_rollback_makes_the_previous_version_primary_again_and_a_second_rollback_is_409)
{
	char id[KM_ID_LEN];
	new_aes("rollback", id);
	struct h_resp *r = km_act(id, "rotate", NULL);
	h_assert_status(r, 200);
	ck_assert_int_eq(km_int(r->json, "primary_version"), 2);
	h_resp_free(r);
	char *ct2 = km_encrypt(id, PT, 2);
	r = km_act(id, "rollback", NULL);
	h_assert_status(r, 200);
	ck_assert_int_eq(km_int(r->json, "primary_version"), 1);
	ck_assert_str_eq(km_s(km_version(r->json, 1), "state"), "primary");
	ck_assert_str_eq(km_s(km_version(r->json, 2), "state"), "retired");
	ck_assert_msg(json_is_null(json_object_get(km_version(r->json, 1), "retire_at")), "%.600s", r->body);
	h_resp_free(r);
	free(km_encrypt(id, PT, 1));
	r = km_decrypt(id, ct2);
	h_assert_problem(r, 403, "key_state");
	h_resp_free(r);
	expect_409(id, "rollback", NULL);
	free(ct2);
}
END_TEST

static bool hsm_has(const char *id, int version)
{
	struct hg_p11_attrs a;
	km_attrs(id, version, true, &a);
	return a.found;
}

START_TEST(test_scheduled_destruction_runs_when_due_and_removes_every_version_from_the_hsm)
{
	char id[KM_ID_LEN];
	new_aes("destroy", id);
	struct h_resp *r = km_act(id, "rotate", NULL);
	h_assert_status(r, 200);
	h_resp_free(r);
	expect_ok(id, "schedule-destruction", "{\"pending_days\":7}", "destroy_scheduled");
	km_lifecycle_run(DAY);
	km_assert_state(id, "destroy_scheduled");
	ck_assert_msg(hsm_has(id, 1) && hsm_has(id, 2), "HSM objects gone before destroy_at");
	km_lifecycle_run(8 * DAY);
	r = km_get(id);
	ck_assert_str_eq(h_str(r, "state"), "destroyed");
	for (int v = 1; v <= 2; v++)
		ck_assert_str_eq(km_s(km_version(r->json, v), "state"), "destroyed");
	h_resp_free(r);
	ck_assert_msg(!hsm_has(id, 1), "version 1 is still in the HSM");
	ck_assert_msg(!hsm_has(id, 2), "version 2 is still in the HSM");
	r = km_act(id, "encrypt", "{\"plaintext\":\"" PT "\"}");
	h_assert_problem(r, 403, "key_state");
	h_resp_free(r);
}
END_TEST

START_TEST(test_activate_at_keeps_a_key_pre_active_until_a_run_past_it)
{
	char id[KM_ID_LEN], at[32];
	km_time(3600, at);
	struct h_resp *r = km_key("preact", json_pack("{s:s, s:s}", "type", "AES", "activate_at", at), id, NULL);
	ck_assert_str_eq(h_str(r, "state"), "pre_active");
	assert_time_near(r->json, "activate_at", 3600);
	h_resp_free(r);
	r = km_act(id, "encrypt", "{\"plaintext\":\"" PT "\"}");
	h_assert_problem(r, 403, "key_state");
	h_resp_free(r);
	km_lifecycle_run(1800);
	km_assert_state(id, "pre_active");
	km_lifecycle_run(7200);
	km_assert_state(id, "active");
	free(km_encrypt(id, PT, 1));
}
END_TEST

START_TEST(test_expires_at_deactivates_a_key_after_a_run_past_it)
{
	char id[KM_ID_LEN], at[32];
	km_time(DAY, at);
	struct h_resp *r = km_key("expire", json_pack("{s:s, s:s}", "type", "AES", "expires_at", at), id, NULL);
	ck_assert_str_eq(h_str(r, "state"), "active");
	assert_time_near(r->json, "expires_at", DAY);
	h_resp_free(r);
	char *ct = km_encrypt(id, PT, 1);
	km_lifecycle_run(DAY / 2);
	km_assert_state(id, "active");
	km_lifecycle_run(2 * DAY);
	km_assert_state(id, "deactivated");
	expect_ops(id, ct, 200);
	free(ct);
}
END_TEST

START_TEST(test_rotation_period_days_1_rotates_at_a_run_two_days_later)
{
	char id[KM_ID_LEN];
	struct h_resp *r =
	    km_key("autorot", json_pack("{s:s, s:i}", "type", "AES", "rotation_period_days", 1), id, NULL);
	ck_assert_int_eq(km_int(r->json, "rotation_period_days"), 1);
	assert_time_near(r->json, "next_rotation_at", DAY);
	h_resp_free(r);
	km_lifecycle_run(DAY / 2);
	r = km_get(id);
	ck_assert_int_eq(km_int(r->json, "primary_version"), 1);
	h_resp_free(r);
	km_lifecycle_run(2 * DAY);
	r = km_get(id);
	ck_assert_int_eq(km_int(r->json, "primary_version"), 2);
	ck_assert_str_eq(km_s(km_version(r->json, 1), "state"), "active");
	ck_assert_str_eq(km_s(km_version(r->json, 2), "state"), "primary");
	assert_time_near(km_version(r->json, 1), "retire_at", 30 * DAY);
	h_resp_free(r);
	free(km_encrypt(id, PT, 2));
	/* Stop it, so that later passes (of this run or the next) leave the key alone. */
	r = change(id, "PATCH", "{\"rotation_period_days\":0}");
	h_assert_status(r, 200);
	ck_assert(json_is_null(json_object_get(r->json, "next_rotation_at")));
	h_resp_free(r);
}
END_TEST

START_TEST(test_patch_replaces_labels_description_rotation_period_and_expiry)
{
	char id[KM_ID_LEN], at[32], body[256];
	km_key_id(
	    "patch",
	    json_pack("{s:s, s:{s:s, s:s}, s:s}", "type", "AES", "labels", "a", "1", "b", "2", "description", "first"),
	    id, NULL);
	km_time(40 * DAY, at);
	snprintf(body, sizeof body,
		 "{\"labels\":{\"team\":\"payments\"},\"description\":\"second\",\"rotation_period_days\":10,"
		 "\"expires_at\":\"%s\"}",
		 at);
	struct h_resp *r = change(id, "PATCH", body);
	h_assert_status(r, 200);
	h_resp_free(r);
	r = km_get(id);
	json_t *want = json_pack("{s:s}", "team", "payments");
	ck_assert_msg(json_equal(json_object_get(r->json, "labels"), want), "labels: %.600s", r->body);
	json_decref(want);
	ck_assert_str_eq(h_str(r, "description"), "second");
	ck_assert_int_eq(km_int(r->json, "rotation_period_days"), 10);
	assert_time_near(r->json, "next_rotation_at", 10 * DAY);
	assert_time_near(r->json, "expires_at", 40 * DAY);
	ck_assert_str_eq(h_str(r, "state"), "active");
	h_resp_free(r);
	/* Clearing: no rotation, no expiry, no description; labels untouched when absent. */
	r = change(id, "PATCH", "{\"rotation_period_days\":0,\"expires_at\":null,\"description\":null}");
	h_assert_status(r, 200);
	h_resp_free(r);
	r = km_get(id);
	static const char *const nulls[] = {"rotation_period_days", "next_rotation_at", "expires_at", "description"};
	for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++)
		ck_assert_msg(json_is_null(json_object_get(r->json, nulls[i])), "%s not cleared: %s", nulls[i],
			      r->body);
	ck_assert_str_eq(km_s(json_object_get(r->json, "labels"), "team"), "payments");
	h_resp_free(r);
	/* An expiry in the past is refused and changes nothing. */
	struct h_resp *before = km_get(id);
	r = change(id, "PATCH", "{\"expires_at\":\"2001-01-01T00:00:00Z\"}");
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	r = km_get(id);
	ck_assert(json_equal(before->json, r->json));
	h_resp_free(r);
	h_resp_free(before);
}
END_TEST

/* Every key the filtered list returns (all pages), as a JSON array of ids; asserts each item
 * has `state` and `type` when they are not NULL. */
static json_t *list_ids(const char *query, const char *state, const char *type)
{
	json_t *ids = json_array();
	char *cursor = NULL;
	for (int page = 0; page < 1000; page++) {
		char path[512];
		snprintf(path, sizeof path, "/v1/keys?limit=1000&%s%s%s", query, cursor ? "&cursor=" : "",
			 cursor ? cursor : "");
		struct h_resp *r = km_send("GET", path, NULL, NULL);
		h_assert_status(r, 200);
		size_t i;
		json_t *it;
		json_array_foreach (json_object_get(r->json, "items"), i, it) {
			if (state)
				ck_assert_msg(strcmp(km_s(it, "state"), state) == 0, "%s listed a %s key", query,
					      km_s(it, "state"));
			if (type)
				ck_assert_msg(strcmp(km_s(it, "type"), type) == 0, "%s listed a %s key", query,
					      km_s(it, "type"));
			json_array_append(ids, json_object_get(it, "id"));
		}
		free(cursor);
		const char *next = h_str(r, "next_cursor");
		cursor = next ? strdup(next) : NULL;
		h_resp_free(r);
		if (!cursor)
			return ids;
	}
	ck_abort_msg("the list never ended");
	return NULL;
}

static bool has_id(json_t *ids, const char *id)
{
	size_t i;
	json_t *v;
	json_array_foreach (ids, i, v)
		if (strcmp(json_string_value(v), id) == 0)
			return true;
	return false;
}

/* The list for query is exactly the n ids given. */
static void expect_exactly(const char *query, size_t n, const char *const *want)
{
	json_t *ids = list_ids(query, NULL, NULL);
	char *dump = json_dumps(ids, JSON_COMPACT);
	ck_assert_msg(json_array_size(ids) == n, "%s: %zu keys, expected %zu: %.600s", query, json_array_size(ids), n,
		      dump);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(has_id(ids, want[i]), "%s: %s is missing: %.600s", query, want[i], dump);
	free(dump);
	json_decref(ids);
}

START_TEST(test_list_filters_by_state_type_name_and_label_return_exactly_the_matching_keys)
{
	char tag[H_NAME_MAX], aes[KM_ID_LEN], hmac[KM_ID_LEN], susp[KM_ID_LEN], other[KM_ID_LEN], hname[H_NAME_MAX];
	char q[512];
	h_name(tag, "tag");
	km_key_id("flt", json_pack("{s:s, s:{s:s}}", "type", "AES", "labels", "km", tag), aes, NULL);
	km_key_id("flt", json_pack("{s:s, s:{s:s}}", "type", "HMAC", "labels", "km", tag), hmac, hname);
	km_key_id("flt", json_pack("{s:s, s:{s:s, s:s}}", "type", "AES", "labels", "km", tag, "x", "y"), susp, NULL);
	expect_ok(susp, "suspend", NULL, "suspended");
	km_key_id("flt", json_pack("{s:s, s:{s:s}}", "type", "AES", "labels", "km", "another"), other, NULL);
	snprintf(q, sizeof q, "label=km:%s", tag);
	expect_exactly(q, 3, (const char *const[]){aes, hmac, susp});
	snprintf(q, sizeof q, "label=km:%s&state=suspended", tag);
	expect_exactly(q, 1, (const char *const[]){susp});
	snprintf(q, sizeof q, "label=km:%s&type=HMAC", tag);
	expect_exactly(q, 1, (const char *const[]){hmac});
	snprintf(q, sizeof q, "label=km:%s&type=AES&state=active", tag);
	expect_exactly(q, 1, (const char *const[]){aes});
	snprintf(q, sizeof q, "name=%s", hname);
	expect_exactly(q, 1, (const char *const[]){hmac});
	expect_exactly("label=x:y&state=active&name=apitest-none", 0, NULL);
	/* A filter alone: every key listed matches it, and ours are among them. */
	json_t *ids = list_ids("state=suspended", "suspended", NULL);
	ck_assert(has_id(ids, susp) && !has_id(ids, aes) && !has_id(ids, hmac));
	json_decref(ids);
	ids = list_ids("type=HMAC", NULL, "HMAC");
	ck_assert(has_id(ids, hmac) && !has_id(ids, aes));
	json_decref(ids);
	struct h_resp *r = km_send("GET", "/v1/keys?state=sleeping", NULL, NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
}
END_TEST

/* What one event must say. */
struct want_event {
	const char *event, *actor, *from, *to;
	int version; /* 0: null */
};

START_TEST(test_events_list_each_change_with_its_actor_and_states_and_page_with_a_cursor)
{
	char id[KM_ID_LEN], path[256];
	new_aes("events", id);
	expect_ok(id, "suspend", NULL, "suspended");
	expect_ok(id, "resume", NULL, "active");
	struct h_resp *r = km_act(id, "rotate", "{\"grace_days\":3}");
	h_assert_status(r, 200);
	h_resp_free(r);
	expect_ok(id, "deactivate", NULL, "deactivated");
	const char *me = h_sub("acme");
	const struct want_event want[] = {
	    {"create", me, NULL, "active", 1},
	    {"suspend", me, "active", "suspended", 0},
	    {"resume", me, "suspended", "active", 0},
	    {"rotate", me, NULL, NULL, 2},
	    {"deactivate", me, "active", "deactivated", 0},
	};
	size_t n = sizeof want / sizeof *want;
	snprintf(path, sizeof path, "/v1/keys/%s/events", id);
	r = km_send("GET", path, NULL, NULL);
	h_assert_status(r, 200);
	json_t *items = json_object_get(r->json, "items");
	ck_assert_msg(json_array_size(items) == n, "%zu events: %.1500s", json_array_size(items), r->body);
	ck_assert(json_is_null(json_object_get(r->json, "next_cursor")));
	for (size_t i = 0; i < n; i++) {
		json_t *ev = json_array_get(items, i);
		const struct want_event *w = &want[i];
		ck_assert_msg(strcmp(km_s(ev, "event"), w->event) == 0, "event %zu is %s, expected %s", i,
			      km_s(ev, "event"), w->event);
		ck_assert_msg(km_s(ev, "actor") && strcmp(km_s(ev, "actor"), w->actor) == 0, "event %s: actor %s",
			      w->event, km_s(ev, "actor"));
		ck_assert_msg(w->from ? km_s(ev, "from_state") && strcmp(km_s(ev, "from_state"), w->from) == 0
				      : json_is_null(json_object_get(ev, "from_state")),
			      "event %s: from_state %s", w->event, km_s(ev, "from_state"));
		ck_assert_msg(w->to ? km_s(ev, "to_state") && strcmp(km_s(ev, "to_state"), w->to) == 0
				    : json_is_null(json_object_get(ev, "to_state")),
			      "event %s: to_state %s", w->event, km_s(ev, "to_state"));
		if (w->version)
			ck_assert_int_eq(km_int(ev, "version"), w->version);
		ck_assert_msg(km_s(ev, "request_id") != NULL, "event %s has no request_id", w->event);
		ck_assert_msg(t_of(ev, "at") > 0, "event %s has no time", w->event);
	}
	ck_assert_int_eq(km_int(json_object_get(json_array_get(items, 3), "detail"), "grace_days"), 3);
	/* Pages of 2: 2, 2, 1, chained by next_cursor, the same events in the same order. */
	json_t *paged = json_array();
	char *cursor = NULL;
	for (int page = 0; page < 3; page++) {
		if (cursor)
			snprintf(path, sizeof path, "/v1/keys/%s/events?limit=2&cursor=%s", id, cursor);
		else
			snprintf(path, sizeof path, "/v1/keys/%s/events?limit=2", id);
		struct h_resp *p = km_send("GET", path, NULL, NULL);
		h_assert_status(p, 200);
		json_t *its = json_object_get(p->json, "items");
		ck_assert_uint_eq(json_array_size(its), page < 2 ? 2 : 1);
		json_array_extend(paged, its);
		free(cursor);
		cursor = h_str(p, "next_cursor") ? strdup(h_str(p, "next_cursor")) : NULL;
		ck_assert_msg(page < 2 ? cursor != NULL : cursor == NULL, "page %d: next_cursor %s", page,
			      cursor ? cursor : "null");
		h_resp_free(p);
	}
	ck_assert_msg(json_equal(paged, items), "paged events differ from the full list");
	json_decref(paged);
	h_resp_free(r);
}
END_TEST

START_TEST(test_idempotency_key_replays_the_first_response_and_refuses_another_body)
{
	char name[H_NAME_MAX], other[H_NAME_MAX], idem[H_RID_MAX], body[256], path[256];
	h_name(name, "idem");
	h_name(other, "idem");
	h_rid(idem);
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"AES\",\"size\":128}", name);
	struct h_resp *a = km_send("POST", "/v1/keys", body, idem);
	struct h_resp *b = km_send("POST", "/v1/keys", body, idem);
	h_assert_status(a, 201);
	h_assert_status(b, 201);
	ck_assert_msg(json_equal(a->json, b->json), "replayed body differs:\n%.1500s\n%.1500s", a->body, b->body);
	ck_assert_msg(a->location && b->location && strcmp(a->location, b->location) == 0, "Location %s vs %s",
		      a->location, b->location);
	char id[KM_ID_LEN];
	snprintf(id, sizeof id, "%s", h_str(a, "id"));
	h_resp_free(a);
	h_resp_free(b);
	snprintf(path, sizeof path, "name=%s", name);
	expect_exactly(path, 1, (const char *const[]){id});
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"AES\",\"size\":128}", other);
	a = km_send("POST", "/v1/keys", body, idem);
	h_assert_problem(a, 409, "conflict");
	h_resp_free(a);
	snprintf(path, sizeof path, "name=%s", other);
	expect_exactly(path, 0, NULL);
	/* A replayed rotation rotates once. */
	char idem2[H_RID_MAX];
	h_rid(idem2);
	snprintf(path, sizeof path, "/v1/keys/%s/rotate", id);
	a = km_send("POST", path, "{\"grace_days\":5}", idem2);
	b = km_send("POST", path, "{\"grace_days\":5}", idem2);
	h_assert_status(a, 200);
	h_assert_status(b, 200);
	ck_assert_int_eq(km_int(a->json, "primary_version"), 2);
	ck_assert_int_eq(km_int(b->json, "primary_version"), 2);
	ck_assert(json_equal(a->json, b->json));
	h_resp_free(a);
	h_resp_free(b);
	a = km_get(id);
	ck_assert_int_eq(km_int(a->json, "primary_version"), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(a->json, "versions")), 2);
	h_resp_free(a);
	/* The same Idempotency-Key with another rotation body is another request. */
	a = km_send("POST", path, "{\"grace_days\":6}", idem2);
	h_assert_problem(a, 409, "conflict");
	h_resp_free(a);
}
END_TEST

TCase *tcase_km_lifecycle(void)
{
	TCase *tc = tcase_create("km_lifecycle");
	tcase_add_test(tc, test_every_allowed_transition_answers_200_with_the_expected_state);
	tcase_add_test(tc, test_every_refused_transition_is_409_conflict_and_changes_nothing);
	tcase_add_test(tc, test_cancelled_destruction_returns_a_compromised_or_deactivated_key_to_that_state);
	tcase_add_test(tc, test_operations_the_state_forbids_are_403_key_state_and_deactivated_still_decrypts);
	tcase_add_test(tc, test_rotation_keeps_old_ciphertexts_decryptable_until_the_grace_period_retires_them);
	tcase_add_test(tc, test_rotate_with_grace_days_0_retires_the_previous_version_at_once);
	tcase_add_test(tc, test_rollback_makes_the_previous_version_primary_again_and_a_second_rollback_is_409);
	tcase_add_test(tc, test_scheduled_destruction_runs_when_due_and_removes_every_version_from_the_hsm);
	tcase_add_test(tc, test_activate_at_keeps_a_key_pre_active_until_a_run_past_it);
	tcase_add_test(tc, test_expires_at_deactivates_a_key_after_a_run_past_it);
	tcase_add_test(tc, test_rotation_period_days_1_rotates_at_a_run_two_days_later);
	tcase_add_test(tc, test_patch_replaces_labels_description_rotation_period_and_expiry);
	tcase_add_test(tc, test_list_filters_by_state_type_name_and_label_return_exactly_the_matching_keys);
	tcase_add_test(tc, test_events_list_each_change_with_its_actor_and_states_and_page_with_a_cursor);
	tcase_add_test(tc, test_idempotency_key_replays_the_first_response_and_refuses_another_body);
	return tc;
}
