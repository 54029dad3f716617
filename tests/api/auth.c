/* Authentication (401 for every kind of bad token, with a denied audit row that names no
 * tenant) and scopes (403). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

/* GET /v1/keys with this Authorization value (NULL: none) must be 401 unauthenticated and
 * leave exactly one denied audit row without tenant or caller. */
#define expect_401(authz) expect_401_at(__FILE__, __LINE__, (authz))
static void expect_401_at(const char *file, int line, const char *authz)
{
	char rid[H_RID_MAX];
	h_rid(rid);
	struct h_resp *r = h_send(
	    &(struct h_req){.method = "GET", .path = "/v1/keys?limit=1", .authorization = authz, .request_id = rid});
	h_assert_problem_at(file, line, r, 401, "unauthenticated");
	ck_assert_msg(!json_object_get(r->json, "items"), "%s:%d: a 401 carried data", file, line);
	h_resp_free(r);
	h_assert_audit_at(file, line, rid,
			  &(struct h_audit_want){.tenant = NULL,
						 .caller = NULL,
						 .operation = "keys.list",
						 .outcome = "denied",
						 .http_status = 401,
						 .error_code = "unauthenticated",
						 .key_id = NULL,
						 .key_version = 0});
}

/* Expects a token to be refused. */
#define expect_token_401(tok) expect_token_401_at(__FILE__, __LINE__, (tok))
static void expect_token_401_at(const char *file, int line, char *tok)
{
	char *authz;
	ck_assert(asprintf(&authz, "Bearer %s", tok) > 0);
	expect_401_at(file, line, authz);
	free(authz);
	free(tok);
}

/* Expects a token to be accepted (200 on the key list). */
static void expect_token_ok(char *tok)
{
	struct h_resp *r = h_get("/v1/keys?limit=1", tok, NULL);
	h_assert_status(r, 200);
	ck_assert(json_is_array(json_object_get(r->json, "items")));
	h_resp_free(r);
	free(tok);
}

static char *acme_with(const char *member, json_t *value)
{
	json_t *c = h_claims("acme", H_ALL_SCOPES);
	if (value)
		json_object_set_new(c, member, value);
	else
		json_object_del(c, member);
	char *tok = h_sign("acme", c);
	json_decref(c);
	return tok;
}

static json_int_t now_s(void)
{
	return (json_int_t)time(NULL);
}

START_TEST(test_request_without_authorization_is_401)
{
	expect_401(NULL);
}
END_TEST

START_TEST(test_non_bearer_scheme_is_401)
{
	const char *tok = h_tok("acme");
	char *s;
	ck_assert(asprintf(&s, "Token %s", tok) > 0);
	expect_401(s);
	free(s);
	ck_assert(asprintf(&s, "Bearer%s", tok) > 0);
	expect_401(s);
	free(s);
	expect_401(tok); /* no scheme at all */
	expect_401("Basic YXBpdGVzdDpzZWNyZXQ=");
	expect_401("Bearer");
}
END_TEST

START_TEST(test_bearer_scheme_is_matched_case_insensitively)
{
	char *s;
	ck_assert(asprintf(&s, "bearer %s", h_tok("acme")) > 0);
	struct h_resp *r = h_send(&(struct h_req){.method = "GET", .path = "/v1/keys?limit=1", .authorization = s});
	h_assert_status(r, 200);
	h_resp_free(r);
	free(s);
}
END_TEST

START_TEST(test_malformed_token_is_401)
{
	static const char *const bad[] = {
	    "Bearer abc",         "Bearer a.b",
	    "Bearer a.b.c.d",     "Bearer ..",
	    "Bearer !!!.###.$$$", "Bearer eyJub3QganNvbg.eyJub3QganNvbg.c2ln", /* segments that are not JSON */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		expect_401(bad[i]);
	/* A valid token with its signature removed. */
	char *tok = h_token("acme", H_ALL_SCOPES);
	*(strrchr(tok, '.') + 1) = '\0';
	expect_token_401(tok);
}
END_TEST

START_TEST(test_alg_none_token_is_401)
{
	static const char *const headers[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"None\"}",
					      "{\"alg\":\"NONE\"}", "{\"typ\":\"JWT\"}"};
	for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
		json_t *c = h_claims("acme", H_ALL_SCOPES);
		expect_token_401(h_token_raw(headers[i], c, ""));
		expect_token_401(h_token_raw(headers[i], c, "c2lnbmF0dXJl"));
		json_decref(c);
	}
}
END_TEST

START_TEST(test_hs256_token_keyed_with_the_tenants_public_key_is_401)
{
	/* Algorithm confusion: an HMAC over the token keyed with the verification key's PEM,
	 * which a verifier trusting the header's alg would accept. */
	const struct hg_tenant_cfg *t = h_tenant("acme");
	size_t n;
	char *pem = file_read_all(t->key_file, 65536, &n);
	ck_assert_ptr_nonnull(pem);
	json_t *c = h_claims("acme", H_ALL_SCOPES);
	expect_token_401(h_sign_hs256(c, (unsigned char *)pem, n));
	json_decref(c);
	free(pem);
}
END_TEST

START_TEST(test_token_signed_by_another_tenant_with_this_issuer_is_401)
{
	json_t *c = h_claims("acme", H_ALL_SCOPES);
	expect_token_401(h_sign("globex", c));
	json_decref(c);
}
END_TEST

START_TEST(test_token_with_altered_claims_is_401)
{
	/* A genuine signature over a narrow scope, moved onto claims with every scope. */
	char *narrow = h_token("acme", "keys:read");
	json_t *wide = h_claims("acme", H_ALL_SCOPES);
	char *forged = h_token_raw("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", wide, strrchr(narrow, '.') + 1);
	expect_token_401(forged);
	json_decref(wide);
	free(narrow);
}
END_TEST

START_TEST(test_token_with_unknown_or_missing_issuer_is_401)
{
	expect_token_401(acme_with("iss", json_string("https://intruder.invalid/")));
	expect_token_401(acme_with("iss", NULL));
	expect_token_401(acme_with("iss", json_integer(7)));
}
END_TEST

START_TEST(test_token_expired_beyond_the_leeway_is_401)
{
	expect_token_401(acme_with("exp", json_integer(now_s() - 120)));
	expect_token_401(acme_with("exp", json_integer(0)));
}
END_TEST

START_TEST(test_token_expired_within_the_leeway_is_accepted)
{
	expect_token_ok(acme_with("exp", json_integer(now_s() - 20)));
}
END_TEST

START_TEST(test_token_with_nbf_beyond_the_leeway_is_401)
{
	expect_token_401(acme_with("nbf", json_integer(now_s() + 300)));
}
END_TEST

START_TEST(test_token_with_nbf_within_the_leeway_is_accepted)
{
	expect_token_ok(acme_with("nbf", json_integer(now_s() + 20)));
}
END_TEST

START_TEST(test_token_with_wrong_or_missing_audience_is_401)
{
	expect_token_401(acme_with("aud", json_string("someone-else")));
	expect_token_401(acme_with("aud", json_pack("[s]", "someone-else")));
	expect_token_401(acme_with("aud", NULL));
}
END_TEST

START_TEST(test_token_with_an_audience_list_including_ours_is_accepted)
{
	expect_token_ok(acme_with("aud", json_pack("[s, s]", "someone-else", h_tenant("acme")->audience)));
}
END_TEST

START_TEST(test_token_without_exp_is_401)
{
	expect_token_401(acme_with("exp", NULL));
	expect_token_401(acme_with("exp", json_string("tomorrow")));
}
END_TEST

START_TEST(test_token_without_a_valid_sub_is_401)
{
	expect_token_401(acme_with("sub", NULL));
	expect_token_401(acme_with("sub", json_string("")));
	expect_token_401(acme_with("sub", json_integer(42)));
}
END_TEST

START_TEST(test_unknown_v1_route_without_a_token_is_401_not_404)
{
	char rid[H_RID_MAX];
	h_rid(rid);
	struct h_resp *r = h_get("/v1/no-such-thing", NULL, rid);
	h_assert_problem(r, 401, "unauthenticated");
	h_resp_free(r);
	h_assert_audit(rid, .tenant = NULL, .caller = NULL, .operation = "unmatched", .outcome = "denied",
		       .http_status = 401, .error_code = "unauthenticated", .key_id = NULL, .key_version = 0);
}
END_TEST

/* One call per route with a token lacking the route's scope: 403 forbidden, audited as
 * denied with the caller known. */
static void expect_403(const char *method, const char *path, const char *scope, const char *body, const char *operation)
{
	char rid[H_RID_MAX];
	h_rid(rid);
	char *tok = h_token("acme", scope);
	struct h_resp *r =
	    h_send(&(struct h_req){.method = method, .path = path, .token = tok, .body = body, .request_id = rid});
	h_assert_problem(r, 403, "forbidden");
	h_resp_free(r);
	free(tok);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = operation, .outcome = "denied",
		       .http_status = 403, .error_code = "forbidden", .key_id = H_ANY, .key_version = H_ANY_VERSION);
}

START_TEST(test_missing_scope_is_403_forbidden_and_changes_nothing)
{
	char id[HG_UUID_STR_LEN + 1], name[H_NAME_MAX], path[128], body[256];
	h_key("acme", "scope", id, NULL);
	h_name(name, "scope-denied");
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"AES\"}", name);
	expect_403("POST", "/v1/keys", "keys:read crypto:encrypt crypto:decrypt", body, "keys.create");
	ck_assert_int_eq(h_key_status("acme", name), 404);
	expect_403("GET", "/v1/keys", "keys:write", NULL, "keys.list");
	snprintf(path, sizeof path, "/v1/keys/%s", id);
	expect_403("GET", path, "crypto:encrypt", NULL, "keys.get");
	snprintf(path, sizeof path, "/v1/keys/%s/encrypt", id);
	expect_403("POST", path, "keys:read crypto:decrypt", "{\"plaintext\":\"AAAA\"}", "crypto.encrypt");
	char *ct = h_encrypt("acme", id, "AAAA", NULL);
	snprintf(path, sizeof path, "/v1/keys/%s/decrypt", id);
	char *dbody;
	ck_assert(asprintf(&dbody, "{\"ciphertext\":\"%s\"}", ct) > 0);
	expect_403("POST", path, "keys:read crypto:encrypt", dbody, "crypto.decrypt");
	expect_403("POST", path, "", dbody, "crypto.decrypt");
	free(dbody);
	free(ct);
}
END_TEST

TCase *tcase_auth(void)
{
	TCase *tc = tcase_create("auth");
	tcase_add_test(tc, test_request_without_authorization_is_401);
	tcase_add_test(tc, test_non_bearer_scheme_is_401);
	tcase_add_test(tc, test_bearer_scheme_is_matched_case_insensitively);
	tcase_add_test(tc, test_malformed_token_is_401);
	tcase_add_test(tc, test_alg_none_token_is_401);
	tcase_add_test(tc, test_hs256_token_keyed_with_the_tenants_public_key_is_401);
	tcase_add_test(tc, test_token_signed_by_another_tenant_with_this_issuer_is_401);
	tcase_add_test(tc, test_token_with_altered_claims_is_401);
	tcase_add_test(tc, test_token_with_unknown_or_missing_issuer_is_401);
	tcase_add_test(tc, test_token_expired_beyond_the_leeway_is_401);
	tcase_add_test(tc, test_token_expired_within_the_leeway_is_accepted);
	tcase_add_test(tc, test_token_with_nbf_beyond_the_leeway_is_401);
	tcase_add_test(tc, test_token_with_nbf_within_the_leeway_is_accepted);
	tcase_add_test(tc, test_token_with_wrong_or_missing_audience_is_401);
	tcase_add_test(tc, test_token_with_an_audience_list_including_ours_is_accepted);
	tcase_add_test(tc, test_token_without_exp_is_401);
	tcase_add_test(tc, test_token_without_a_valid_sub_is_401);
	tcase_add_test(tc, test_unknown_v1_route_without_a_token_is_401_not_404);
	tcase_add_test(tc, test_missing_scope_is_403_forbidden_and_changes_nothing);
	return tc;
}
