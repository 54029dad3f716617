/* GET /metrics and GET /v1/hsm: the figures follow what the daemon did, in the Prometheus
 * text format, and the HSM description matches the configured token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The metrics text; the caller frees. */
static char *scrape(void)
{
	struct h_resp *r = h_get("/metrics", NULL, NULL);
	h_assert_status(r, 200);
	ck_assert_msg(r->content_type && strncmp(r->content_type, "text/plain; version=0.0.4", 25) == 0,
		      "content type %s", r->content_type ? r->content_type : "none");
	char *text = strdup(r->body);
	h_resp_free(r);
	return text;
}

/* The value of the sample whose name and labels are exactly `series` ("name{a=\"b\"}" or
 * "name"), or -1 when the text has no such line. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static double zero_if_absent(double v)
{
	return v < 0 ? 0 : v;
}

#define ENCRYPT_200                                                                                                    \
	"hsmgw_http_requests_total{route=\"/v1/keys/{key}/encrypt\",method=\"POST\",status=\"200\",tenant=\"acme\"}"
#define ENCRYPT_403                                                                                                    \
	"hsmgw_http_requests_total{route=\"/v1/keys/{key}/encrypt\",method=\"POST\",status=\"403\",tenant=\"acme\"}"
#define ENCRYPT_H "hsmgw_http_request_duration_seconds"

START_TEST(test_requests_are_counted_by_route_status_and_tenant_with_their_latency)
{
	char id[HG_UUID_STR_LEN + 1], p[128];
	h_key("acme", "metrics", id, NULL);
	char *before = scrape();
	for (int i = 0; i < 3; i++)
		free(h_encrypt("acme", id, "bWV0cmljcw==", NULL));
	char *readonly = h_token("acme", "keys:read");
	snprintf(p, sizeof p, "/v1/keys/%s/encrypt", id);
	struct h_resp *r = h_post(p, readonly, "{\"plaintext\":\"bWV0cmljcw==\"}", NULL);
	h_assert_problem(r, 403, "forbidden");
	h_resp_free(r);
	free(readonly);
	char *after = scrape();
	ck_assert_double_eq(sample(after, ENCRYPT_200) - zero_if_absent(sample(before, ENCRYPT_200)), 3);
	ck_assert_double_eq(sample(after, ENCRYPT_403) - zero_if_absent(sample(before, ENCRYPT_403)), 1);
	/* The route's histogram counted all four; its buckets are cumulative and end at _count. */
	const char *lbl = "{route=\"/v1/keys/{key}/encrypt\",method=\"POST\"";
	char series[256];
	snprintf(series, sizeof series, "%s_count%s}", ENCRYPT_H, lbl);
	double count = sample(after, series), count0 = zero_if_absent(sample(before, series));
	ck_assert_double_eq(count - count0, 4);
	snprintf(series, sizeof series, "%s_bucket%s,le=\"+Inf\"}", ENCRYPT_H, lbl);
	ck_assert_double_eq(sample(after, series), count);
	double prev = 0;
	static const char *const les[] = {"0.0001", "0.001", "0.01", "0.1", "1", "10"};
	for (size_t i = 0; i < sizeof les / sizeof *les; i++) {
		snprintf(series, sizeof series, "%s_bucket%s,le=\"%s\"}", ENCRYPT_H, lbl, les[i]);
		double v = sample(after, series);
		ck_assert_msg(v >= prev && v <= count, "bucket le=%s is %g (previous %g, count %g)", les[i], v, prev,
			      count);
		prev = v;
	}
	free(before);
	free(after);
}
END_TEST

START_TEST(test_audit_caches_and_process_figures_move)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "metrics-audit", id, NULL);
	char *before = scrape();
	for (int i = 0; i < 5; i++)
		free(h_encrypt("acme", id, "bWV0cmljcw==", NULL));
	/* A ciphertext whose tag does not verify: the HSM rejects it (the caller's input, not a
	 * failure of the HSM). */
	char *ct = h_encrypt("acme", id, "bWV0cmljcw==", NULL);
	char *tag = ct + strlen(ct) - 3;
	*tag = *tag == 'A' ? 'B' : 'A';
	struct h_resp *r = h_decrypt("acme", id, ct, NULL, NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	free(ct);
	char *after = scrape();
	const char *ok = "hsmgw_hsm_operations_total{node=\"hsm-0\",result=\"ok\"}",
		   *rejected = "hsmgw_hsm_operations_total{node=\"hsm-0\",result=\"rejected\"}";
	ck_assert_double_ge(sample(after, ok) - sample(before, ok), 6);
	ck_assert_double_eq(sample(after, rejected) - sample(before, rejected), 1);
	ck_assert_double_ge(sample(after, "hsmgw_hsm_operation_duration_seconds_count{node=\"hsm-0\"}") -
				sample(before, "hsmgw_hsm_operation_duration_seconds_count{node=\"hsm-0\"}"),
			    7);
	/* Five audited requests: at least five rows committed (other processes write none here). */
	ck_assert_double_ge(sample(after, "hsmgw_audit_rows_total") - sample(before, "hsmgw_audit_rows_total"), 5);
	ck_assert_double_ge(sample(after, "hsmgw_audit_commit_duration_seconds_count") -
				sample(before, "hsmgw_audit_commit_duration_seconds_count"),
			    1);
	ck_assert_double_eq(sample(after, "hsmgw_audit_queue_depth"), 0);
	/* The same token five times: verified once at most, then from the cache. */
	ck_assert_double_ge(sample(after, "hsmgw_jwt_cache_hits_total") - sample(before, "hsmgw_jwt_cache_hits_total"),
			    4);
	/* The same key five times: mostly from the cache (an entry lives keys.cache_ms, 1 s). */
	ck_assert_double_ge(sample(after, "hsmgw_key_cache_hits_total") - sample(before, "hsmgw_key_cache_hits_total"),
			    3);
	ck_assert_double_gt(sample(after, "process_resident_memory_bytes"), 1 << 20);
	ck_assert_double_ge(sample(after, "process_resident_memory_peak_bytes"),
			    sample(after, "process_resident_memory_bytes"));
	ck_assert_double_gt(sample(after, "process_open_fds"), 3);
	ck_assert_double_eq(sample(after, "hsmgw_database_up"), 1);
	free(before);
	free(after);
}
END_TEST

START_TEST(test_keys_are_counted_by_tenant_and_state)
{
	char id[HG_UUID_STR_LEN + 1], p[160];
	const char *susp = "hsmgw_keys{tenant=\"globex\",state=\"suspended\"}";
	char *before = scrape();
	h_key("globex", "metrics-keys", id, NULL);
	char *admin = h_token("globex", "keys:admin");
	snprintf(p, sizeof p, "/v1/keys/%s/suspend", id);
	struct h_resp *r = h_post(p, admin, NULL, NULL);
	h_assert_status(r, 200);
	h_resp_free(r);
	free(admin);
	char *after = scrape();
	ck_assert_double_ge(sample(after, susp) - zero_if_absent(sample(before, susp)), 1);
	ck_assert_msg(sample(after, "hsmgw_keys_rotation_due{tenant=\"globex\"}") >= 0, "no rotation_due for globex");
	free(before);
	free(after);
}
END_TEST

START_TEST(test_metrics_need_no_token_and_name_the_hsm_pool)
{
	char *text = scrape();
	char series[160];
	snprintf(series, sizeof series, "hsmgw_hsm_up{node=\"%s\"}", "hsm-0");
	/* The node's name is the configured one; every pooled session is idle or lent. */
	ck_assert_double_eq(sample(text, series), 1);
	snprintf(series, sizeof series, "hsmgw_hsm_sessions{node=\"hsm-0\",state=\"idle\"}");
	double idle = sample(text, series);
	snprintf(series, sizeof series, "hsmgw_hsm_sessions{node=\"hsm-0\",state=\"lent\"}");
	double lent = sample(text, series);
	ck_assert_double_eq(idle + lent, h_cfg->hsm_sessions);
	ck_assert_msg(strstr(text, "# TYPE hsmgw_http_request_duration_seconds histogram\n"), "no histogram TYPE line");
	free(text);
}
END_TEST

START_TEST(test_v1_hsm_describes_the_configured_token_and_needs_hsm_read)
{
	struct h_resp *r = h_get("/v1/hsm", h_tok("acme"), NULL); /* H_ALL_SCOPES lacks hsm:read */
	h_assert_problem(r, 403, "forbidden");
	h_resp_free(r);
	char *tok = h_token("acme", "hsm:read"), rid[H_RID_MAX];
	h_rid(rid);
	r = h_get("/v1/hsm", tok, rid);
	h_assert_status(r, 200);
	json_t *node = json_array_get(json_object_get(r->json, "nodes"), 0);
	ck_assert_ptr_nonnull(node);
	json_t *token = json_object_get(node, "token"), *lib = json_object_get(node, "library");
	ck_assert_str_eq(json_string_value(json_object_get(token, "label")), h_cfg->hsm_token_label);
	ck_assert_str_eq(json_string_value(json_object_get(lib, "manufacturer")), "SoftHSM");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(node, "sessions"), "total")),
			 h_cfg->hsm_sessions);
	ck_assert_str_eq(json_string_value(json_object_get(node, "health")), "ok");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(node, "status"), "state")), "up");
	json_t *sessions = json_object_get(node, "sessions");
	ck_assert_int_eq(json_integer_value(json_object_get(sessions, "idle")) +
			     json_integer_value(json_object_get(sessions, "busy")) +
			     json_integer_value(json_object_get(sessions, "abandoned")),
			 h_cfg->hsm_sessions);
	ck_assert_ptr_null(strstr(r->body, "pin"));
	h_resp_free(r);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "hsm.info", .outcome = "success",
		       .http_status = 200, .error_code = NULL, .key_id = NULL, .key_version = 0);
	free(tok);
}
END_TEST

TCase *tcase_metrics(void)
{
	TCase *tc = tcase_create("metrics");
	tcase_add_test(tc, test_requests_are_counted_by_route_status_and_tenant_with_their_latency);
	tcase_add_test(tc, test_audit_caches_and_process_figures_move);
	tcase_add_test(tc, test_keys_are_counted_by_tenant_and_state);
	tcase_add_test(tc, test_metrics_need_no_token_and_name_the_hsm_pool);
	tcase_add_test(tc, test_v1_hsm_describes_the_configured_token_and_needs_hsm_read);
	return tc;
}
