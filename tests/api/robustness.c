/* Hostile input is refused with the right error and the daemon keeps serving. These run after
 * the other TCases, so a crash here does not hide their results. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The daemon still answers, and still does real work. */
static void assert_alive(void)
{
	struct h_resp *r = h_get("/healthz", NULL, NULL);
	h_assert_status(r, 200);
	h_resp_free(r);
	r = h_get("/v1/keys?limit=1", h_tok("acme"), NULL);
	h_assert_status(r, 200);
	h_resp_free(r);
}

START_TEST(test_create_with_an_unknown_usage_is_400_and_the_daemon_survives)
{
	static const char *const usages[] = {"bogus", "ENCRYPT", "encrypt ", ""};
	for (size_t i = 0; i < sizeof usages / sizeof *usages; i++) {
		char name[H_NAME_MAX];
		h_name(name, "usage");
		struct h_resp *r =
		    h_post_json("/v1/keys", h_tok("acme"),
				json_pack("{s:s, s:s, s:[s]}", "name", name, "type", "AES", "usage", usages[i]), NULL);
		ck_assert_msg(r->status == 400, "usage [\"%s\"]: got %ld %s", usages[i], r->status, r->curl_error);
		h_assert_problem(r, 400, "invalid_request");
		h_assert_detail_has(r, "usage");
		h_resp_free(r);
		ck_assert_int_eq(h_key_status("acme", name), 404);
	}
	assert_alive();
}
END_TEST

START_TEST(test_overlong_key_segment_or_token_is_refused_and_the_daemon_survives)
{
	char path[600];
	memcpy(path, "/v1/keys/", 9);
	memset(path + 9, 'k', 500);
	path[509] = '\0';
	struct h_resp *r = h_get(path, h_tok("acme"), NULL);
	h_assert_problem(r, 404, "not_found");
	h_resp_free(r);
	size_t n = 9000;
	char *tok = malloc(n + 1);
	memset(tok, 'A', n);
	tok[n] = '\0';
	memcpy(tok + 100, ".", 1);
	memcpy(tok + 200, ".", 1);
	r = h_get("/v1/keys?limit=1", tok, NULL);
	h_assert_problem(r, 401, "unauthenticated");
	h_resp_free(r);
	free(tok);
	assert_alive();
}
END_TEST

START_TEST(test_deeply_nested_or_nul_bearing_json_is_400_and_the_daemon_survives)
{
	size_t depth = 100000;
	char *body = malloc(2 * depth + 64), *o = body;
	o += sprintf(o, "{\"name\":");
	memset(o, '[', depth), o += depth;
	memset(o, ']', depth), o += depth;
	strcpy(o, ",\"type\":\"AES\"}");
	struct h_resp *r = h_post("/v1/keys", h_tok("acme"), body, NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	free(body);
	char name[H_NAME_MAX], nul[256];
	h_name(name, "nul");
	snprintf(nul, sizeof nul, "{\"name\":\"%s\\u0000x\",\"type\":\"AES\"}", name);
	r = h_post("/v1/keys", h_tok("acme"), nul, NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	ck_assert_int_eq(h_key_status("acme", name), 404);
	r = h_post("/v1/keys", h_tok("acme"), "{\"name\":\"a\",\"type\":\"AES\",\"size\":1e400}", NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	r = h_post("/v1/keys", h_tok("acme"), "{\"name\":\"a\",\"type\":\"AES\",\"size\":99999999999999999999999}",
		   NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	assert_alive();
}
END_TEST

TCase *tcase_robustness(void)
{
	TCase *tc = tcase_create("robustness");
	tcase_add_test(tc, test_create_with_an_unknown_usage_is_400_and_the_daemon_survives);
	tcase_add_test(tc, test_overlong_key_segment_or_token_is_refused_and_the_daemon_survives);
	tcase_add_test(tc, test_deeply_nested_or_nul_bearing_json_is_400_and_the_daemon_survives);
	return tc;
}
