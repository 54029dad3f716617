/* Tenant isolation: another tenant's key does not exist for a caller (404, never 403). */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

START_TEST(test_other_tenants_key_is_404_by_id_and_by_name)
{
	char id[HG_UUID_STR_LEN + 1], name[H_NAME_MAX], rid[H_RID_MAX], p[160];
	h_key("acme", "iso", id, name);
	ck_assert_int_eq(h_key_status("acme", id), 200);
	const char *keys[] = {id, name};
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof p, "/v1/keys/%s", keys[i]);
		h_rid(rid);
		struct h_resp *r = h_get(p, h_tok("globex"), rid);
		h_assert_problem(r, 404, "not_found");
		ck_assert_msg(!strstr(r->body, "acme"), "the 404 names the owning tenant: %s", r->body);
		h_resp_free(r);
		h_assert_audit(rid, .tenant = "globex", .caller = h_sub("globex"), .operation = "keys.get",
			       .outcome = "error", .http_status = 404, .error_code = "not_found", .key_id = NULL,
			       .key_version = 0);
	}
}
END_TEST

/* Whether the tenant's full list holds the id. */
static bool listed(const char *tenant, const char *id)
{
	bool found = false;
	char *cursor = NULL;
	for (;;) {
		char p[160];
		snprintf(p, sizeof p, cursor ? "/v1/keys?limit=1000&cursor=%s" : "/v1/keys?limit=1000", cursor);
		struct h_resp *r = h_get(p, h_tok(tenant), NULL);
		h_assert_status(r, 200);
		size_t i;
		json_t *it;
		json_array_foreach (json_object_get(r->json, "items"), i, it) {
			const char *v = json_string_value(json_object_get(it, "id"));
			found |= v && strcmp(v, id) == 0;
			ck_assert_msg(!v || strcmp(json_string_value(json_object_get(it, "name")), "") != 0,
				      "nameless key");
		}
		free(cursor);
		cursor = h_str(r, "next_cursor") ? strdup(h_str(r, "next_cursor")) : NULL;
		h_resp_free(r);
		if (!cursor)
			return found;
	}
}

START_TEST(test_other_tenants_key_is_absent_from_its_list)
{
	char a[HG_UUID_STR_LEN + 1], g[HG_UUID_STR_LEN + 1];
	h_key("acme", "isolist", a, NULL);
	h_key("globex", "isolist", g, NULL);
	ck_assert_msg(listed("acme", a), "acme's own key is missing from its list");
	ck_assert_msg(listed("globex", g), "globex's own key is missing from its list");
	ck_assert_msg(!listed("globex", a), "acme's key is in globex's list");
	ck_assert_msg(!listed("acme", g), "globex's key is in acme's list");
}
END_TEST

START_TEST(test_other_tenant_cannot_encrypt_or_decrypt_with_the_key)
{
	char id[HG_UUID_STR_LEN + 1], name[H_NAME_MAX], p[200], rid[H_RID_MAX];
	h_key("acme", "isocrypto", id, name);
	char *ct = h_encrypt("acme", id, "YWNtZSBvbmx5", NULL);
	const char *keys[] = {id, name};
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof p, "/v1/keys/%s/encrypt", keys[i]);
		h_rid(rid);
		struct h_resp *r = h_post(p, h_tok("globex"), "{\"plaintext\":\"YWJj\"}", rid);
		h_assert_problem(r, 404, "not_found");
		ck_assert_ptr_null(h_str(r, "ciphertext"));
		h_resp_free(r);
		h_assert_audit(rid, .tenant = "globex", .caller = h_sub("globex"), .operation = "crypto.encrypt",
			       .outcome = "error", .http_status = 404, .error_code = "not_found", .key_id = NULL,
			       .key_version = 0);
		h_rid(rid);
		r = h_decrypt("globex", keys[i], ct, NULL, rid);
		h_assert_problem(r, 404, "not_found");
		ck_assert_ptr_null(h_str(r, "plaintext"));
		h_resp_free(r);
		h_assert_audit(rid, .tenant = "globex", .caller = h_sub("globex"), .operation = "crypto.decrypt",
			       .outcome = "error", .http_status = 404, .error_code = "not_found", .key_id = NULL,
			       .key_version = 0);
	}
	/* The owner still can. */
	struct h_resp *d = h_decrypt("acme", id, ct, NULL, NULL);
	h_assert_status(d, 200);
	ck_assert_str_eq(h_str(d, "plaintext"), "YWNtZSBvbmx5");
	h_resp_free(d);
	free(ct);
}
END_TEST

START_TEST(test_the_same_key_name_may_exist_in_two_tenants)
{
	char name[H_NAME_MAX], body[256], ida[HG_UUID_STR_LEN + 1];
	h_name(name, "shared");
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"AES\"}", name);
	struct h_resp *a = h_post("/v1/keys", h_tok("acme"), body, NULL);
	struct h_resp *g = h_post("/v1/keys", h_tok("globex"), body, NULL);
	h_assert_status(a, 201);
	h_assert_status(g, 201);
	ck_assert_str_ne(h_str(a, "id"), h_str(g, "id"));
	snprintf(ida, sizeof ida, "%s", h_str(a, "id"));
	h_resp_free(a);
	h_resp_free(g);
	/* Each tenant's name resolves to its own key. */
	char p[160];
	snprintf(p, sizeof p, "/v1/keys/%s", name);
	a = h_get(p, h_tok("acme"), NULL);
	h_assert_status(a, 200);
	ck_assert_str_eq(h_str(a, "id"), ida);
	h_resp_free(a);
	char *ct = h_encrypt("globex", name, "Z2xvYmV4", NULL);
	struct h_resp *d = h_decrypt("acme", name, ct, NULL, NULL);
	h_assert_problem(d, 400, "invalid_request");
	h_resp_free(d);
	free(ct);
}
END_TEST

TCase *tcase_tenants(void)
{
	TCase *tc = tcase_create("tenants");
	tcase_add_test(tc, test_other_tenants_key_is_404_by_id_and_by_name);
	tcase_add_test(tc, test_other_tenants_key_is_absent_from_its_list);
	tcase_add_test(tc, test_other_tenant_cannot_encrypt_or_decrypt_with_the_key);
	tcase_add_test(tc, test_the_same_key_name_may_exist_in_two_tenants);
	return tc;
}
