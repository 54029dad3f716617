/* The operational routes: /healthz, /readyz, /openapi.json (no token needed). */
#include <string.h>

#include "harness.h"

START_TEST(test_healthz_is_200_ok_without_a_token)
{
	char rid[H_RID_MAX];
	h_rid(rid);
	struct h_resp *r = h_get("/healthz", NULL, rid);
	h_assert_status(r, 200);
	ck_assert_ptr_nonnull(h_str(r, "status"));
	ck_assert_str_eq(h_str(r, "status"), "ok");
	ck_assert_ptr_nonnull(r->request_id);
	ck_assert_str_eq(r->request_id, rid);
	h_resp_free(r);
}
END_TEST

START_TEST(test_readyz_reports_hsm_and_database_ok)
{
	struct h_resp *r = h_get("/readyz", NULL, NULL);
	h_assert_status(r, 200);
	ck_assert_ptr_nonnull(h_str(r, "hsm"));
	ck_assert_ptr_nonnull(h_str(r, "database"));
	ck_assert_str_eq(h_str(r, "hsm"), "ok");
	ck_assert_str_eq(h_str(r, "database"), "ok");
	h_resp_free(r);
}
END_TEST

START_TEST(test_openapi_json_is_an_openapi_document_with_the_implemented_paths)
{
	struct h_resp *r = h_get("/openapi.json", NULL, NULL);
	h_assert_status(r, 200);
	ck_assert_ptr_nonnull(r->content_type);
	ck_assert_msg(strncmp(r->content_type, "application/json", 16) == 0, "Content-Type %s", r->content_type);
	const char *version = h_str(r, "openapi");
	ck_assert_msg(version && strncmp(version, "3.", 2) == 0, "openapi member: %s", version ? version : "(none)");
	json_t *paths = json_object_get(r->json, "paths");
	ck_assert(json_is_object(paths));
	static const char *const want[] = {"/v1/keys", "/v1/keys/{key}", "/v1/keys/{key}/encrypt",
					   "/v1/keys/{key}/decrypt"};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++)
		ck_assert_msg(json_object_get(paths, want[i]) != NULL, "the OpenAPI document lacks %s", want[i]);
	h_resp_free(r);
}
END_TEST

TCase *tcase_ops(void)
{
	TCase *tc = tcase_create("ops");
	tcase_add_test(tc, test_healthz_is_200_ok_without_a_token);
	tcase_add_test(tc, test_readyz_reports_hsm_and_database_ok);
	tcase_add_test(tc, test_openapi_json_is_an_openapi_document_with_the_implemented_paths);
	return tc;
}
