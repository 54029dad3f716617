/* The HTTP contract every route shares: request ids, problem bodies, content types, body
 * limits, 404/405 and query parameters. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

START_TEST(test_client_request_id_is_echoed_in_header_body_and_audit_row)
{
	char rid[H_RID_MAX];
	h_rid(rid);
	struct h_resp *r = h_get("/v1/keys?limit=1", h_tok("acme"), rid);
	h_assert_status(r, 200);
	ck_assert_ptr_nonnull(r->request_id);
	ck_assert_str_eq(r->request_id, rid);
	h_resp_free(r);
	ck_assert_int_eq(h_audit_count(rid), 1);

	h_rid(rid);
	r = h_get("/v1/keys/apitest-no-such-key", h_tok("acme"), rid);
	h_assert_problem(r, 404, "not_found");
	ck_assert_str_eq(r->request_id, rid);
	h_resp_free(r);
	ck_assert_int_eq(h_audit_count(rid), 1);
}
END_TEST

START_TEST(test_missing_request_id_is_replaced_by_a_fresh_uuid)
{
	hg_uuid u;
	struct h_resp *a = h_get("/v1/keys/apitest-no-such-key", h_tok("acme"), NULL);
	struct h_resp *b = h_get("/v1/keys/apitest-no-such-key", h_tok("acme"), NULL);
	h_assert_problem(a, 404, "not_found");
	h_assert_problem(b, 404, "not_found");
	ck_assert_msg(uuid_parse(a->request_id, &u), "generated request id %s is not a UUID", a->request_id);
	ck_assert_msg(uuid_parse(b->request_id, &u), "generated request id %s is not a UUID", b->request_id);
	ck_assert_str_ne(a->request_id, b->request_id);
	ck_assert_int_eq(h_audit_count(a->request_id), 1);
	h_resp_free(a);
	h_resp_free(b);
}
END_TEST

START_TEST(test_request_id_of_128_printable_chars_is_echoed_and_longer_or_non_ascii_is_replaced)
{
	char rid[H_RID_MAX], id128[129], id129[130], nonascii[H_RID_MAX + 8];
	h_rid(rid);
	snprintf(id128, sizeof id128, "%s%0*d", rid, (int)(128 - strlen(rid)), 0);
	snprintf(id129, sizeof id129, "%s%0*d", rid, (int)(129 - strlen(rid)), 1);
	snprintf(nonascii, sizeof nonascii, "%s-\xc3\xa9", rid);
	ck_assert_uint_eq(strlen(id128), 128);
	ck_assert_uint_eq(strlen(id129), 129);

	struct h_resp *r = h_get("/healthz", NULL, id128);
	h_assert_status(r, 200);
	ck_assert_str_eq(r->request_id, id128);
	h_resp_free(r);

	const char *replaced[] = {id129, nonascii};
	for (size_t i = 0; i < 2; i++) {
		hg_uuid u;
		r = h_get("/v1/keys/apitest-no-such-key", h_tok("acme"), replaced[i]);
		h_assert_problem(r, 404, "not_found");
		ck_assert_msg(uuid_parse(r->request_id, &u), "request id %s was not replaced by a UUID", r->request_id);
		h_resp_free(r);
		ck_assert_int_eq(h_audit_count(replaced[i]), 0);
	}
}
END_TEST

/* POST /v1/keys with this Content-Type must be 400 and create nothing. */
static void expect_content_type_refused(const char *content_type)
{
	char name[H_NAME_MAX], body[256], rid[H_RID_MAX];
	h_name(name, "ctype");
	h_rid(rid);
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"AES\"}", name);
	struct h_resp *r = h_send(&(struct h_req){.method = "POST",
						  .path = "/v1/keys",
						  .token = h_tok("acme"),
						  .body = body,
						  .content_type = content_type,
						  .request_id = rid});
	ck_assert_msg(r->status == 400, "Content-Type %s: got %ld", content_type, r->status);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	ck_assert_int_eq(h_key_status("acme", name), 404);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "keys.create", .outcome = "error",
		       .http_status = 400, .error_code = "invalid_request", .key_id = NULL, .key_version = 0);
}

START_TEST(test_non_json_content_type_is_400_and_creates_nothing)
{
	expect_content_type_refused("text/plain");
	expect_content_type_refused("application/x-www-form-urlencoded");
	expect_content_type_refused("application/xml");
}
END_TEST

START_TEST(test_content_type_merely_starting_with_application_json_is_400)
{
	expect_content_type_refused("application/json-patch+json");
	expect_content_type_refused("application/jsonl");
}
END_TEST

START_TEST(test_json_content_type_with_parameters_or_other_case_is_accepted)
{
	static const char *const ok[] = {"application/json; charset=utf-8", "Application/JSON"};
	for (size_t i = 0; i < 2; i++) {
		char name[H_NAME_MAX], body[256];
		h_name(name, "ctype-ok");
		snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"AES\"}", name);
		struct h_resp *r = h_send(&(struct h_req){
		    .method = "POST", .path = "/v1/keys", .token = h_tok("acme"), .body = body, .content_type = ok[i]});
		ck_assert_msg(r->status == 201, "Content-Type %s: got %ld %s", ok[i], r->status, r->body);
		h_resp_free(r);
	}
}
END_TEST

/* A create body of exactly `size` bytes: a valid request padded with trailing white space, so
 * that only its size can make it fail. */
static char *create_body_of_size(const char *name, size_t size)
{
	char *b = malloc(size + 1);
	int n = snprintf(b, size + 1, "{\"name\":\"%s\",\"type\":\"AES\",\"description\":\"x\"}", name);
	ck_assert(n > 0 && (size_t)n < size);
	memset(b + n, ' ', size - (size_t)n);
	b[size] = '\0';
	return b;
}

static void expect_too_large(bool chunked)
{
	char name[H_NAME_MAX], rid[H_RID_MAX];
	h_name(name, "big");
	h_rid(rid);
	size_t size = (size_t)1024 * 1024 + 1;
	char *body = create_body_of_size(name, size);
	struct h_resp *r = h_send(&(struct h_req){.method = "POST",
						  .path = "/v1/keys",
						  .token = h_tok("acme"),
						  .body = body,
						  .body_len = size,
						  .request_id = rid,
						  .chunked = chunked});
	h_assert_problem(r, 413, "payload_too_large");
	h_resp_free(r);
	free(body);
	ck_assert_int_eq(h_key_status("acme", name), 404);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "keys.create", .outcome = "error",
		       .http_status = 413, .error_code = "payload_too_large", .key_id = NULL, .key_version = 0);
}

START_TEST(test_body_over_1_mib_is_413_payload_too_large_and_creates_nothing)
{
	expect_too_large(false);
}
END_TEST

START_TEST(test_chunked_body_over_1_mib_is_413_payload_too_large_and_creates_nothing)
{
	expect_too_large(true);
}
END_TEST

START_TEST(test_body_of_exactly_1_mib_is_accepted)
{
	char name[H_NAME_MAX];
	h_name(name, "onemib");
	size_t size = (size_t)1024 * 1024;
	char *body = create_body_of_size(name, size);
	struct h_resp *r = h_send(&(struct h_req){
	    .method = "POST", .path = "/v1/keys", .token = h_tok("acme"), .body = body, .body_len = size});
	h_assert_status(r, 201);
	h_resp_free(r);
	free(body);
}
END_TEST

START_TEST(test_unknown_v1_route_is_404_not_found_and_audited_as_unmatched)
{
	char id[HG_UUID_STR_LEN + 1], p[160];
	h_key("acme", "route", id, NULL);
	snprintf(p, sizeof p, "/v1/keys/%s/no-such-action", id);
	const char *paths[] = {"/v1/no-such-thing", "/v1/keys/a/b/c", p, "/v1", "/v1/"};
	for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
		char rid[H_RID_MAX];
		h_rid(rid);
		struct h_resp *r = h_get(paths[i], h_tok("acme"), rid);
		ck_assert_msg(r->status == 404, "%s: got %ld", paths[i], r->status);
		h_assert_problem(r, 404, "not_found");
		h_resp_free(r);
		h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "unmatched",
			       .outcome = "error", .http_status = 404, .error_code = "not_found", .key_id = NULL,
			       .key_version = 0);
	}
}
END_TEST

static bool allow_has(const char *allow, const char *method)
{
	size_t n = strlen(method);
	for (const char *p = allow; p && *p;) {
		p += strspn(p, ", ");
		size_t w = strcspn(p, ", ");
		if (w == n && strncmp(p, method, n) == 0)
			return true;
		p += w;
	}
	return false;
}

static void expect_405(const char *method, const char *path, const char *allowed, const char *not_allowed)
{
	char rid[H_RID_MAX];
	h_rid(rid);
	struct h_resp *r = h_send(&(struct h_req){.method = method,
						  .path = path,
						  .token = h_tok("acme"),
						  .request_id = rid,
						  .body = strcmp(method, "GET") ? "{}" : NULL});
	h_assert_problem(r, 405, "invalid_request");
	ck_assert_msg(r->allow != NULL, "%s %s: 405 without an Allow header", method, path);
	ck_assert_msg(allow_has(r->allow, allowed), "%s %s: Allow \"%s\" lacks %s", method, path, r->allow, allowed);
	ck_assert_msg(!allow_has(r->allow, not_allowed), "%s %s: Allow \"%s\" has %s", method, path, r->allow,
		      not_allowed);
	h_resp_free(r);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "unmatched", .outcome = "error",
		       .http_status = 405, .error_code = "invalid_request", .key_id = NULL, .key_version = 0);
}

START_TEST(test_wrong_method_is_405_with_an_allow_header)
{
	char id[HG_UUID_STR_LEN + 1], p[160];
	h_key("acme", "method", id, NULL);
	expect_405("PUT", "/v1/keys", "GET", "PUT");
	expect_405("PUT", "/v1/keys", "POST", "PUT");
	snprintf(p, sizeof p, "/v1/keys/%s", id);
	expect_405("PUT", p, "GET", "PUT");
	snprintf(p, sizeof p, "/v1/keys/%s/encrypt", id);
	expect_405("GET", p, "POST", "GET");
	snprintf(p, sizeof p, "/v1/keys/%s/decrypt", id);
	expect_405("PUT", p, "POST", "PUT");
}
END_TEST

START_TEST(test_unknown_query_parameter_is_400_naming_it)
{
	char id[HG_UUID_STR_LEN + 1], p[200];
	h_key("acme", "query", id, NULL);
	static const char *const lists[] = {"/v1/keys?colour=red&limit=5", "/v1/keys?limit=5&colour=red",
					    "/v1/keys?colour=red"};
	for (size_t i = 0; i < 3; i++) {
		struct h_resp *r = h_get(lists[i], h_tok("acme"), NULL);
		ck_assert_msg(r->status == 400, "%s: got %ld", lists[i], r->status);
		h_assert_problem(r, 400, "invalid_request");
		h_assert_detail_has(r, "colour");
		h_resp_free(r);
	}
	snprintf(p, sizeof p, "/v1/keys/%s?verbose=1", id);
	struct h_resp *r = h_get(p, h_tok("acme"), NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_assert_detail_has(r, "verbose");
	h_resp_free(r);
	snprintf(p, sizeof p, "/v1/keys/%s/encrypt?debug=1", id);
	r = h_post(p, h_tok("acme"), "{\"plaintext\":\"AAAA\"}", NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
}
END_TEST

START_TEST(test_body_that_is_not_one_json_object_is_400)
{
	static const char *const bodies[] = {
	    "",
	    "[]",
	    "null",
	    "42",
	    "\"text\"",
	    "{",
	    "{\"name\":",
	    "{\"name\":\"a\"} trailing",
	    "{\"name\":\"apitest-dup-a\",\"name\":\"apitest-dup-b\",\"type\":\"AES\"}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
		struct h_resp *r = h_send(&(struct h_req){.method = "POST",
							  .path = "/v1/keys",
							  .token = h_tok("acme"),
							  .body = bodies[i],
							  .body_len = strlen(bodies[i])});
		ck_assert_msg(r->status == 400, "body <%s>: got %ld", bodies[i], r->status);
		h_assert_problem(r, 400, "invalid_request");
		h_resp_free(r);
	}
	ck_assert_int_eq(h_key_status("acme", "apitest-dup-a"), 404);
	ck_assert_int_eq(h_key_status("acme", "apitest-dup-b"), 404);
}
END_TEST

TCase *tcase_protocol(void)
{
	TCase *tc = tcase_create("protocol");
	tcase_add_test(tc, test_client_request_id_is_echoed_in_header_body_and_audit_row);
	tcase_add_test(tc, test_missing_request_id_is_replaced_by_a_fresh_uuid);
	tcase_add_test(tc, test_request_id_of_128_printable_chars_is_echoed_and_longer_or_non_ascii_is_replaced);
	tcase_add_test(tc, test_non_json_content_type_is_400_and_creates_nothing);
	tcase_add_test(tc, test_content_type_merely_starting_with_application_json_is_400);
	tcase_add_test(tc, test_json_content_type_with_parameters_or_other_case_is_accepted);
	tcase_add_test(tc, test_body_over_1_mib_is_413_payload_too_large_and_creates_nothing);
	tcase_add_test(tc, test_chunked_body_over_1_mib_is_413_payload_too_large_and_creates_nothing);
	tcase_add_test(tc, test_body_of_exactly_1_mib_is_accepted);
	tcase_add_test(tc, test_unknown_v1_route_is_404_not_found_and_audited_as_unmatched);
	tcase_add_test(tc, test_wrong_method_is_405_with_an_allow_header);
	tcase_add_test(tc, test_unknown_query_parameter_is_400_naming_it);
	tcase_add_test(tc, test_body_that_is_not_one_json_object_is_400);
	return tc;
}
