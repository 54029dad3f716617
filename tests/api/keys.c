/* /v1/keys: create, read, list, and input validation that never leaves anything behind. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static bool is_rfc3339(const char *s)
{
	/* 2026-11-23T10:26:26.123456Z (fraction optional, Z or an offset). */
	return s && strlen(s) >= 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' &&
	       isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[18]);
}

static bool strings_are(json_t *arr, const char *a, const char *b)
{
	size_t n = b ? 2 : 1;
	if (!json_is_array(arr) || json_array_size(arr) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *v = json_string_value(json_array_get(arr, i));
		if (!v || (strcmp(v, a) != 0 && (!b || strcmp(v, b) != 0)))
			return false;
	}
	return !b || strcmp(a, b) != 0;
}

START_TEST(test_create_key_returns_201_with_the_key_object_and_location)
{
	char name[H_NAME_MAX], rid[H_RID_MAX];
	h_name(name, "create");
	h_rid(rid);
	json_t *body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "name", name, "type", "AES", "labels", "team",
				 "payments", "env", "test", "description", "orders at rest");
	struct h_resp *r = h_post_json("/v1/keys", h_tok("acme"), body, rid);
	h_assert_status(r, 201);
	ck_assert_msg(r->content_type && strncmp(r->content_type, "application/json", 16) == 0, "Content-Type %s",
		      r->content_type);
	json_t *k = r->json;
	hg_uuid u;
	const char *id = h_str(r, "id");
	ck_assert_msg(id && uuid_parse(id, &u), "id %s", id ? id : "(none)");
	char loc[128];
	snprintf(loc, sizeof loc, "/v1/keys/%s", id);
	ck_assert_ptr_nonnull(r->location);
	ck_assert_msg(strcmp(r->location, loc) == 0 ||
			  (strlen(r->location) > strlen(loc) &&
			   strcmp(r->location + strlen(r->location) - strlen(loc), loc) == 0),
		      "Location %s, expected %s", r->location, loc);
	ck_assert_str_eq(h_str(r, "name"), name);
	ck_assert_str_eq(h_str(r, "type"), "AES");
	ck_assert_int_eq(json_integer_value(json_object_get(k, "size")), 256);
	ck_assert(strings_are(json_object_get(k, "usage"), "encrypt", "decrypt"));
	ck_assert_str_eq(h_str(r, "state"), "active");
	ck_assert_int_eq(json_integer_value(json_object_get(k, "primary_version")), 1);
	ck_assert(json_is_false(json_object_get(k, "exportable")));
	json_t *versions = json_object_get(k, "versions");
	ck_assert(json_is_array(versions) && json_array_size(versions) == 1);
	json_t *v = json_array_get(versions, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "version")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(v, "state")), "primary");
	const char *kcv = json_string_value(json_object_get(v, "kcv"));
	ck_assert_msg(kcv && strlen(kcv) == 6 && strspn(kcv, "0123456789ABCDEF") == 6, "kcv %s", kcv ? kcv : "(none)");
	ck_assert(is_rfc3339(json_string_value(json_object_get(v, "created_at"))));
	json_t *labels = json_pack("{s:s, s:s}", "team", "payments", "env", "test");
	ck_assert_msg(json_equal(json_object_get(k, "labels"), labels), "labels: %s", r->body);
	json_decref(labels);
	ck_assert_str_eq(h_str(r, "description"), "orders at rest");
	json_t *policy = json_object_get(k, "policy");
	ck_assert(json_is_object(policy) && json_object_size(policy) == 0);
	ck_assert(is_rfc3339(h_str(r, "created_at")));
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "keys.create", .outcome = "success",
		       .http_status = 201, .error_code = NULL, .key_id = id, .key_version = 1);
	/* The HSM change was announced before it was made (issue 7: intent and outcome). */
	ck_assert_int_eq(h_audit_intents(rid, "hsm.generate.intent"), 1);
	h_resp_free(r);
}
END_TEST

START_TEST(test_create_key_with_each_aes_size_reports_that_size)
{
	static const int sizes[] = {128, 192, 256};
	for (size_t i = 0; i < 3; i++) {
		char name[H_NAME_MAX];
		h_name(name, "size");
		struct h_resp *r =
		    h_post_json("/v1/keys", h_tok("acme"),
				json_pack("{s:s, s:s, s:i}", "name", name, "type", "AES", "size", sizes[i]), NULL);
		h_assert_status(r, 201);
		ck_assert_int_eq(json_integer_value(json_object_get(r->json, "size")), sizes[i]);
		h_resp_free(r);
		char *ct = h_encrypt("acme", name, "aGVsbG8=", NULL);
		struct h_resp *d = h_decrypt("acme", name, ct, NULL, NULL);
		h_assert_status(d, 200);
		ck_assert_str_eq(h_str(d, "plaintext"), "aGVsbG8=");
		h_resp_free(d);
		free(ct);
	}
}
END_TEST

START_TEST(test_created_key_reads_the_same_by_id_and_by_name)
{
	char id[HG_UUID_STR_LEN + 1], name[H_NAME_MAX], p1[160], p2[160], rid[H_RID_MAX];
	h_key("acme", "read", id, name);
	snprintf(p1, sizeof p1, "/v1/keys/%s", id);
	snprintf(p2, sizeof p2, "/v1/keys/%s", name);
	h_rid(rid);
	struct h_resp *a = h_get(p1, h_tok("acme"), rid), *b = h_get(p2, h_tok("acme"), NULL);
	h_assert_status(a, 200);
	h_assert_status(b, 200);
	ck_assert_str_eq(h_str(a, "id"), id);
	ck_assert_str_eq(h_str(a, "name"), name);
	ck_assert_msg(json_equal(a->json, b->json), "by id: %s\nby name: %s", a->body, b->body);
	h_resp_free(a);
	h_resp_free(b);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "keys.get", .outcome = "success",
		       .http_status = 200, .error_code = NULL, .key_id = id, .key_version = H_ANY_VERSION);
}
END_TEST

START_TEST(test_create_with_a_taken_name_is_409_conflict_and_keeps_the_first_key)
{
	char id[HG_UUID_STR_LEN + 1], name[H_NAME_MAX], rid[H_RID_MAX], p[160];
	h_key("acme", "dup", id, name);
	h_rid(rid);
	struct h_resp *r = h_post_json("/v1/keys", h_tok("acme"),
				       json_pack("{s:s, s:s, s:i}", "name", name, "type", "AES", "size", 128), rid);
	h_assert_problem(r, 409, "conflict");
	h_resp_free(r);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "keys.create", .outcome = "error",
		       .http_status = 409, .error_code = "conflict", .key_id = NULL, .key_version = 0);
	snprintf(p, sizeof p, "/v1/keys/%s", name);
	r = h_get(p, h_tok("acme"), NULL);
	h_assert_status(r, 200);
	ck_assert_str_eq(h_str(r, "id"), id);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "size")), 256);
	h_resp_free(r);
}
END_TEST

START_TEST(test_get_unknown_key_is_404_not_found)
{
	char rid[H_RID_MAX], name[H_NAME_MAX], p[160];
	hg_uuid u;
	char id[HG_UUID_STR_LEN + 1];
	ck_assert_int_eq(uuid_v4(&u), 0);
	uuid_format(&u, id);
	snprintf(p, sizeof p, "/v1/keys/%s", id);
	h_rid(rid);
	struct h_resp *r = h_get(p, h_tok("acme"), rid);
	h_assert_problem(r, 404, "not_found");
	h_resp_free(r);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "keys.get", .outcome = "error",
		       .http_status = 404, .error_code = "not_found", .key_id = NULL, .key_version = 0);
	h_name(name, "absent");
	ck_assert_int_eq(h_key_status("acme", name), 404);
}
END_TEST

/* POST /v1/keys with the body built from fmt (one %s: a fresh name) must be 400
 * invalid_request, mention `field` in its detail when field is not NULL, and create nothing. */
#define expect_create_400(fmt, field) expect_create_400_at(__FILE__, __LINE__, (fmt), (field))
static void expect_create_400_at(const char *file, int line, const char *fmt, const char *field)
{
	char name[H_NAME_MAX], rid[H_RID_MAX];
	h_name(name, "bad");
	h_rid(rid);
	char *body = h_fill(fmt, name);
	struct h_resp *r = h_post("/v1/keys", h_tok("acme"), body, rid);
	ck_assert_msg(r->status == 400, "%s:%d: body %s: got %ld %s", file, line, body, r->status, r->body);
	h_assert_problem_at(file, line, r, 400, "invalid_request");
	if (field)
		h_assert_detail_has_at(file, line, r, field);
	h_resp_free(r);
	ck_assert_msg(h_key_status("acme", name) == 404, "%s:%d: body %s created a key", file, line, body);
	free(body);
	h_assert_audit_at(file, line, rid,
			  &(struct h_audit_want){.tenant = "acme",
						 .caller = h_sub("acme"),
						 .operation = "keys.create",
						 .outcome = "error",
						 .http_status = 400,
						 .error_code = "invalid_request",
						 .key_id = NULL,
						 .key_version = 0});
}

START_TEST(test_create_with_an_unknown_field_is_400_naming_it_and_creates_nothing)
{
	expect_create_400("{\"name\":\"%s\",\"type\":\"AES\",\"colour\":\"blue\"}", "colour");
	expect_create_400("{\"name\":\"%s\",\"type\":\"AES\",\"owner\":\"ops\"}", "owner");
}
END_TEST

START_TEST(test_create_with_a_field_of_the_wrong_type_is_400_naming_it_and_creates_nothing)
{
	expect_create_400("{\"name\":\"%s\",\"type\":\"AES\",\"size\":\"256\"}", "size");
	expect_create_400("{\"name\":\"%s\",\"type\":\"AES\",\"size\":256.5}", "size");
	expect_create_400("{\"name\":\"%s\",\"type\":\"AES\",\"usage\":\"encrypt\"}", "usage");
	expect_create_400("{\"name\":\"%s\",\"type\":\"AES\",\"usage\":[1]}", "usage");
	expect_create_400("{\"name\":\"%s\",\"type\":\"AES\",\"labels\":[\"a\"]}", "labels");
	expect_create_400("{\"name\":\"%s\",\"type\":\"AES\",\"labels\":{\"a\":1}}", "labels");
	expect_create_400("{\"name\":\"%s\",\"type\":\"AES\",\"description\":false}", "description");
	expect_create_400("{\"name\":[\"%s\"],\"type\":\"AES\"}", "name");
	expect_create_400("{\"name\":\"%s\",\"type\":7}", "type");
}
END_TEST

START_TEST(test_create_without_a_required_field_is_400_naming_it_and_creates_nothing)
{
	expect_create_400("{\"name\":\"%s\"}", "type");
	expect_create_400("{\"name\":\"%s\",\"type\":null}", "type");
	expect_create_400("{\"type\":\"AES\",\"description\":\"%s\"}", "name");
}
END_TEST

START_TEST(test_create_with_unsupported_values_is_400_and_creates_nothing)
{
	static const char *const bodies[] = {
	    "{\"name\":\"%s\",\"type\":\"AES\",\"size\":64}",
	    "{\"name\":\"%s\",\"type\":\"AES\",\"size\":512}",
	    "{\"name\":\"%s\",\"type\":\"AES\",\"size\":0}",
	    "{\"name\":\"%s\",\"type\":\"AES\",\"size\":-256}",
	    "{\"name\":\"%s\",\"type\":\"aes\"}",
	    "{\"name\":\"%s\",\"type\":\"DES\"}",
	    "{\"name\":\"%s\",\"type\":\"AES\",\"usage\":[\"sign\"]}",
	    "{\"name\":\"%s\",\"type\":\"AES\",\"usage\":[\"encrypt\",\"pin\"]}",
	    "{\"name\":\"%s\",\"type\":\"AES\",\"usage\":[]}",
	    "{\"name\":\"%s\",\"type\":\"AES\",\"usage\":[\"encrypt\",\"encrypt\"]}",
	    "{\"name\":\"%s/x\",\"type\":\"AES\"}",
	    "{\"name\":\"-%s\",\"type\":\"AES\"}",
	    "{\"name\":\"%s \",\"type\":\"AES\"}",
	    "{\"name\":\"\",\"type\":\"AES\",\"description\":\"%s\"}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++)
		expect_create_400(bodies[i], NULL);
	/* A name of the form of a UUID would be ambiguous in /v1/keys/{key}. */
	hg_uuid u;
	char id[HG_UUID_STR_LEN + 1], body[256];
	ck_assert_int_eq(uuid_v4(&u), 0);
	uuid_format(&u, id);
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"AES\"}", id);
	struct h_resp *r = h_post("/v1/keys", h_tok("acme"), body, NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	ck_assert_int_eq(h_key_status("acme", id), 404);
	/* 128 characters is the longest name; 129 is one too many. */
	char name128[140];
	h_name(name128, "len");
	memset(name128 + strlen(name128), 'n', 128 - strlen(name128));
	name128[128] = '\0';
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"AES\"}", name128);
	r = h_post("/v1/keys", h_tok("acme"), body, NULL);
	h_assert_status(r, 201);
	h_resp_free(r);
	ck_assert_int_eq(h_key_status("acme", name128), 200);
	char longname[140];
	memset(longname, 'n', 129);
	longname[129] = '\0';
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"AES\"}", longname);
	r = h_post("/v1/keys", h_tok("acme"), body, NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	ck_assert_int_eq(h_key_status("acme", longname), 404);
}
END_TEST

START_TEST(test_decrypt_only_key_refuses_encrypt_with_403_key_usage)
{
	char name[H_NAME_MAX], p[200], rid[H_RID_MAX];
	h_name(name, "deconly");
	struct h_resp *r =
	    h_post_json("/v1/keys", h_tok("acme"),
			json_pack("{s:s, s:s, s:[s]}", "name", name, "type", "AES", "usage", "decrypt"), NULL);
	h_assert_status(r, 201);
	ck_assert(strings_are(json_object_get(r->json, "usage"), "decrypt", NULL));
	char id[HG_UUID_STR_LEN + 1];
	snprintf(id, sizeof id, "%s", h_str(r, "id"));
	h_resp_free(r);
	snprintf(p, sizeof p, "/v1/keys/%s/encrypt", name);
	h_rid(rid);
	r = h_post(p, h_tok("acme"), "{\"plaintext\":\"aGVsbG8=\"}", rid);
	h_assert_problem(r, 403, "key_usage");
	ck_assert_ptr_null(h_str(r, "ciphertext"));
	h_resp_free(r);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "crypto.encrypt",
		       .outcome = "denied", .http_status = 403, .error_code = "key_usage", .key_id = id,
		       .key_version = H_ANY_VERSION);
}
END_TEST

/* Walks the tenant's whole list with pages of `limit`; returns the ids in list order. */
static json_t *list_all(const char *tenant, int limit)
{
	json_t *ids = json_array();
	char *cursor = NULL;
	for (int page = 0; page < 100000; page++) {
		char p[160];
		if (cursor)
			snprintf(p, sizeof p, "/v1/keys?limit=%d&cursor=%s", limit, cursor);
		else
			snprintf(p, sizeof p, "/v1/keys?limit=%d", limit);
		struct h_resp *r = h_get(p, h_tok(tenant), NULL);
		h_assert_status(r, 200);
		json_t *items = json_object_get(r->json, "items"), *next = json_object_get(r->json, "next_cursor");
		ck_assert_msg(json_is_array(items), "list without items: %.200s", r->body);
		ck_assert_msg(json_array_size(items) <= (size_t)limit, "page of %zu items for limit %d",
			      json_array_size(items), limit);
		ck_assert_msg(json_is_null(next) || (json_is_string(next) && json_string_length(next) > 0),
			      "next_cursor is neither null nor a string: %.200s", r->body);
		size_t i;
		json_t *it;
		json_array_foreach (items, i, it)
			json_array_append(ids, json_object_get(it, "id"));
		free(cursor);
		cursor = json_is_string(next) ? strdup(json_string_value(next)) : NULL;
		if (cursor)
			ck_assert_msg(json_array_size(items) == (size_t)limit, "a short page before the end");
		h_resp_free(r);
		if (!cursor)
			return ids;
	}
	ck_abort_msg("the list never ended");
	return NULL;
}

static long index_of(json_t *ids, const char *id)
{
	long found = -1;
	size_t i;
	json_t *v;
	json_array_foreach (ids, i, v) {
		if (strcmp(json_string_value(v), id) == 0) {
			ck_assert_msg(found < 0, "key %s is listed twice", id);
			found = (long)i;
		}
	}
	return found;
}

START_TEST(test_list_pages_through_every_key_once_in_creation_order)
{
	char ids[3][HG_UUID_STR_LEN + 1];
	for (int i = 0; i < 3; i++)
		h_key("acme", "list", ids[i], NULL);
	json_t *big = list_all("acme", 1000), *small = list_all("acme", 7);
	ck_assert_msg(json_equal(big, small), "pages of 7 and of 1000 list different keys");
	long at[3];
	for (int i = 0; i < 3; i++) {
		at[i] = index_of(small, ids[i]);
		ck_assert_msg(at[i] >= 0, "new key %s is missing from the list", ids[i]);
	}
	ck_assert(at[0] < at[1] && at[1] < at[2]);
	json_t *seen = json_object(), *v;
	size_t i;
	json_array_foreach (small, i, v)
		json_object_set(seen, json_string_value(v), json_true());
	ck_assert_msg(json_object_size(seen) == json_array_size(small), "%zu keys listed, %zu distinct",
		      json_array_size(small), json_object_size(seen));
	json_decref(seen);
	json_decref(big);
	json_decref(small);
}
END_TEST

START_TEST(test_list_limit_1_returns_one_item_and_a_cursor_to_the_next)
{
	char id[HG_UUID_STR_LEN + 1], p[160], rid[H_RID_MAX];
	h_key("acme", "limit1", id, NULL);
	h_key("acme", "limit1", id, NULL);
	h_rid(rid);
	struct h_resp *r = h_get("/v1/keys?limit=1", h_tok("acme"), rid);
	h_assert_status(r, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(r->json, "items")), 1);
	const char *next = h_str(r, "next_cursor");
	ck_assert_ptr_nonnull(next);
	snprintf(p, sizeof p, "/v1/keys?limit=1&cursor=%s", next);
	struct h_resp *r2 = h_get(p, h_tok("acme"), NULL);
	h_assert_status(r2, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(r2->json, "items")), 1);
	ck_assert_msg(!json_equal(json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "id"),
				  json_object_get(json_array_get(json_object_get(r2->json, "items"), 0), "id")),
		      "the cursor did not advance");
	h_resp_free(r);
	h_resp_free(r2);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "keys.list", .outcome = "success",
		       .http_status = 200, .error_code = NULL, .key_id = NULL, .key_version = 0);
}
END_TEST

START_TEST(test_list_limit_outside_1_to_1000_is_400)
{
	static const char *const bad[] = {"0", "1001", "-1", "abc", "", "2.5", "99999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char p[80];
		snprintf(p, sizeof p, "/v1/keys?limit=%s", bad[i]);
		struct h_resp *r = h_get(p, h_tok("acme"), NULL);
		ck_assert_msg(r->status == 400, "limit=%s: got %ld", bad[i], r->status);
		h_assert_problem(r, 400, "invalid_request");
		h_resp_free(r);
	}
	struct h_resp *r = h_get("/v1/keys?limit=1000", h_tok("acme"), NULL);
	h_assert_status(r, 200);
	h_resp_free(r);
}
END_TEST

START_TEST(test_list_with_a_cursor_never_issued_is_400)
{
	static const char *const bad[] = {"abc", "-5", "", "1x"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char p[80];
		snprintf(p, sizeof p, "/v1/keys?cursor=%s", bad[i]);
		struct h_resp *r = h_get(p, h_tok("acme"), NULL);
		ck_assert_msg(r->status == 400, "cursor=%s: got %ld", bad[i], r->status);
		h_assert_problem(r, 400, "invalid_request");
		h_resp_free(r);
	}
}
END_TEST

TCase *tcase_keys(void)
{
	TCase *tc = tcase_create("keys");
	tcase_add_test(tc, test_create_key_returns_201_with_the_key_object_and_location);
	tcase_add_test(tc, test_create_key_with_each_aes_size_reports_that_size);
	tcase_add_test(tc, test_created_key_reads_the_same_by_id_and_by_name);
	tcase_add_test(tc, test_create_with_a_taken_name_is_409_conflict_and_keeps_the_first_key);
	tcase_add_test(tc, test_get_unknown_key_is_404_not_found);
	tcase_add_test(tc, test_create_with_an_unknown_field_is_400_naming_it_and_creates_nothing);
	tcase_add_test(tc, test_create_with_a_field_of_the_wrong_type_is_400_naming_it_and_creates_nothing);
	tcase_add_test(tc, test_create_without_a_required_field_is_400_naming_it_and_creates_nothing);
	tcase_add_test(tc, test_create_with_unsupported_values_is_400_and_creates_nothing);
	tcase_add_test(tc, test_decrypt_only_key_refuses_encrypt_with_403_key_usage);
	tcase_add_test(tc, test_list_pages_through_every_key_once_in_creation_order);
	tcase_add_test(tc, test_list_limit_1_returns_one_item_and_a_cursor_to_the_next);
	tcase_add_test(tc, test_list_limit_outside_1_to_1000_is_400);
	tcase_add_test(tc, test_list_with_a_cursor_never_issued_is_400);
	return tc;
}
