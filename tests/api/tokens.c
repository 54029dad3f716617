/* Tokenization through the API: 1000 PANs round trip in one call, preserved digits, Luhn,
 * determinism, token ≠ value for every one, per-value errors, scopes, the refusal to reverse
 * deterministic tokens, and no PAN in the log or the audit trail. */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "crypto_interop.h"

#define TOK_SCOPES "keys:read keys:write tokens:tokenize tokens:detokenize"

static const char *tok_tok(void)
{
	static char *t; /* per test process */
	if (!t)
		t = h_token("acme", TOK_SCOPES);
	return t;
}

static bool luhn_ok(const char *d)
{
	size_t n = strlen(d);
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v = (unsigned)(d[n - 1 - i] - '0');
		if (i % 2)
			v = v * 2 > 9 ? v * 2 - 9 : v * 2;
		sum += v;
	}
	return sum % 10 == 0;
}

/* A random Luhn-valid PAN of n digits starting with 4. */
static void random_pan(char *out, size_t n)
{
	uint8_t r[24];
	ck_assert(RAND_bytes(r, sizeof r) == 1);
	out[0] = '4';
	for (size_t i = 1; i < n; i++)
		out[i] = (char)('0' + r[i] % 10);
	out[n] = '\0';
	for (char c = '0'; c <= '9'; c++) {
		out[n - 1] = c;
		if (luhn_ok(out))
			break;
	}
}

static void key_of(const char *type, char id[KM_ID_LEN])
{
	km_key_id("tok", json_pack("{s:s, s:[s]}", "type", type, "usage", "tokenize"), id, NULL);
}

static struct h_resp *call(const char *token, const char *path, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	struct h_resp *r = h_send(&(struct h_req){.method = "POST",
						  .path = path,
						  .token = token ? token : tok_tok(),
						  .body = text,
						  .timeout_s = H_LONG_TIMEOUT_S - 30});
	free(text);
	return r;
}

START_TEST(test_1000_pans_round_trip_keep_first_6_last_4_pass_luhn_and_never_equal_the_pan)
{
	char aes[KM_ID_LEN];
	key_of("AES", aes);
	static char pans[1000][20];
	json_t *values = json_array();
	for (int i = 0; i < 1000; i++) {
		random_pan(pans[i], 16 + (size_t)(i % 4)); /* 16 to 19 digits */
		json_array_append_new(values, json_string(pans[i]));
	}
	struct h_resp *r =
	    call(NULL, "/v1/tokens/tokenize", json_pack("{s:s, s:O, s:b}", "key", aes, "values", values, "luhn", true));
	h_assert_status(r, 200);
	json_t *tokens = json_object_get(r->json, "tokens");
	ck_assert_uint_eq(json_array_size(tokens), 1000);
	ck_assert_ptr_null(json_object_get(r->json, "errors"));
	for (int i = 0; i < 1000; i++) {
		const char *t = json_string_value(json_array_get(tokens, (size_t)i));
		ck_assert_msg(t && strlen(t) == strlen(pans[i]), "token %d", i);
		ck_assert_msg(strcmp(t, pans[i]) != 0, "token %d equals its PAN", i);
		ck_assert_msg(strncmp(t, pans[i], 6) == 0, "token %d: first 6 not kept", i);
		ck_assert_msg(strcmp(t + strlen(t) - 4, pans[i] + strlen(pans[i]) - 4) == 0, "token %d: last 4", i);
		ck_assert_msg(luhn_ok(t), "token %d fails Luhn", i);
		ck_assert_msg(strspn(t, "0123456789") == strlen(t), "token %d is not digits", i);
	}
	/* Determinism: 50 of the PANs again, in another call, give the same tokens. */
	json_t *some = json_array();
	for (size_t i = 0; i < 50; i++)
		json_array_append(some, json_array_get(values, i * 20));
	struct h_resp *r2 =
	    call(NULL, "/v1/tokens/tokenize", json_pack("{s:s, s:o, s:b}", "key", aes, "values", some, "luhn", true));
	h_assert_status(r2, 200);
	for (size_t i = 0; i < 50; i++)
		ck_assert(
		    json_equal(json_array_get(tokens, i * 20), json_array_get(json_object_get(r2->json, "tokens"), i)));
	h_resp_free(r2);
	/* And back. */
	struct h_resp *d = call(NULL, "/v1/tokens/detokenize",
				json_pack("{s:s, s:O, s:b}", "key", aes, "tokens", tokens, "luhn", true));
	h_assert_status(d, 200);
	ck_assert_msg(json_equal(json_object_get(d->json, "values"), values), "the round trip changed values");
	h_resp_free(d);
	/* Other options give other tokens (the tweak binds them). */
	json_t *one = json_pack("[s]", pans[0]);
	r2 = call(
	    NULL, "/v1/tokens/tokenize",
	    json_pack("{s:s, s:O, s:{s:i, s:i}}", "key", aes, "values", one, "preserve", "leading", 4, "trailing", 4));
	h_assert_status(r2, 200);
	const char *t2 = json_string_value(json_array_get(json_object_get(r2->json, "tokens"), 0));
	ck_assert(t2 && strncmp(t2, pans[0], 4) == 0 && strcmp(t2, pans[0]) != 0);
	ck_assert(strcmp(t2, json_string_value(json_array_get(tokens, 0))) != 0);
	h_resp_free(r2);
	json_decref(one);
	json_decref(values);
	h_resp_free(r);
}
END_TEST

START_TEST(test_deterministic_tokens_are_stable_differ_from_the_value_and_cannot_be_detokenized)
{
	char hmac[KM_ID_LEN];
	key_of("HMAC", hmac);
	json_t *values = json_array();
	char pans[50][20];
	for (int i = 0; i < 50; i++) {
		random_pan(pans[i], 16);
		json_array_append_new(values, json_string(pans[i]));
	}
	json_t *toks[2];
	for (int k = 0; k < 2; k++) {
		struct h_resp *r = call(NULL, "/v1/tokens/tokenize",
					json_pack("{s:s, s:s, s:O, s:b}", "key", hmac, "mode", "deterministic",
						  "values", values, "luhn", true));
		h_assert_status(r, 200);
		toks[k] = json_incref(json_object_get(r->json, "tokens"));
		h_resp_free(r);
	}
	ck_assert(json_equal(toks[0], toks[1]));
	for (int i = 0; i < 50; i++) {
		const char *t = json_string_value(json_array_get(toks[0], (size_t)i));
		ck_assert(t && strcmp(t, pans[i]) != 0 && luhn_ok(t) && strncmp(t, pans[i], 6) == 0);
	}
	struct h_resp *r = call(NULL, "/v1/tokens/detokenize",
				json_pack("{s:s, s:O, s:b}", "key", hmac, "tokens", toks[0], "luhn", true));
	h_assert_problem(r, 400, "invalid_request");
	h_assert_detail_has(r, "not reversible");
	h_resp_free(r);
	/* The mode must match the key. */
	r = call(NULL, "/v1/tokens/tokenize",
		 json_pack("{s:s, s:s, s:O}", "key", hmac, "mode", "fpe", "values", values));
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	json_decref(toks[0]);
	json_decref(toks[1]);
	json_decref(values);
}
END_TEST

START_TEST(test_bad_values_get_per_value_errors_in_order_and_the_others_are_served)
{
	char aes[KM_ID_LEN], pan[20];
	key_of("AES", aes);
	random_pan(pan, 16);
	char bad_luhn[20];
	snprintf(bad_luhn, sizeof bad_luhn, "%s", pan);
	bad_luhn[15] = bad_luhn[15] == '9' ? '0' : (char)(bad_luhn[15] + 1);
	struct h_resp *r = call(NULL, "/v1/tokens/tokenize",
				json_pack("{s:s, s:[s, s, s, s, i], s:b}", "key", aes, "values", pan, "4111-1111",
					  bad_luhn, "41111111111", 7, "luhn", true));
	h_assert_status(r, 200);
	json_t *t = json_object_get(r->json, "tokens"), *errs = json_object_get(r->json, "errors");
	ck_assert_uint_eq(json_array_size(t), 5);
	ck_assert(json_is_string(json_array_get(t, 0)));
	for (size_t i = 1; i < 5; i++)
		ck_assert_msg(json_is_null(json_array_get(t, i)), "value %zu was tokenized", i);
	ck_assert_uint_eq(json_array_size(errs), 4);
	for (size_t i = 0; i < 4; i++) {
		json_t *e = json_array_get(errs, i);
		ck_assert_int_eq(json_integer_value(json_object_get(e, "index")), (json_int_t)i + 1);
		ck_assert_str_eq(json_string_value(json_object_get(e, "code")), "invalid_request");
	}
	ck_assert_msg(!strstr(r->body, bad_luhn) && !strstr(r->body, "4111-1111"), "an error quotes a value");
	h_resp_free(r);
	/* Whole-request errors: no values, too many, a key without usage tokenize. */
	r = call(NULL, "/v1/tokens/tokenize", json_pack("{s:s, s:[]}", "key", aes, "values"));
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	json_t *many = json_array();
	for (int i = 0; i < 1001; i++)
		json_array_append_new(many, json_string(pan));
	r = call(NULL, "/v1/tokens/tokenize", json_pack("{s:s, s:o}", "key", aes, "values", many));
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	char enc[KM_ID_LEN];
	km_key_id("notok", json_pack("{s:s}", "type", "AES"), enc, NULL);
	r = call(NULL, "/v1/tokens/tokenize", json_pack("{s:s, s:[s]}", "key", enc, "values", pan));
	h_assert_problem(r, 403, "key_usage");
	h_resp_free(r);
}
END_TEST

START_TEST(test_tokenize_and_detokenize_need_their_own_scopes)
{
	char aes[KM_ID_LEN], pan[20];
	key_of("AES", aes);
	random_pan(pan, 16);
	char *only_tok = h_token("acme", "tokens:tokenize"), *only_detok = h_token("acme", "tokens:detokenize");
	struct h_resp *r = call(only_tok, "/v1/tokens/tokenize", json_pack("{s:s, s:[s]}", "key", aes, "values", pan));
	h_assert_status(r, 200);
	const char *t = json_string_value(json_array_get(json_object_get(r->json, "tokens"), 0));
	json_t *body = json_pack("{s:s, s:[s]}", "key", aes, "tokens", t);
	h_resp_free(r);
	r = call(only_tok, "/v1/tokens/detokenize", json_incref(body));
	h_assert_problem(r, 403, "forbidden");
	h_resp_free(r);
	r = call(only_detok, "/v1/tokens/detokenize", json_incref(body));
	h_assert_status(r, 200);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r->json, "values"), 0)), pan);
	h_resp_free(r);
	r = call(only_detok, "/v1/tokens/tokenize", json_pack("{s:s, s:[s]}", "key", aes, "values", pan));
	h_assert_problem(r, 403, "forbidden");
	h_resp_free(r);
	json_decref(body);
	free(only_tok);
	free(only_detok);
}
END_TEST

START_TEST(test_no_pan_or_token_reaches_the_log_or_the_audit_trail)
{
	char aes[KM_ID_LEN], pan[20], rid[H_RID_MAX];
	key_of("AES", aes);
	random_pan(pan, 16);
	h_rid(rid);
	struct h_resp *r = h_post_json("/v1/tokens/tokenize", tok_tok(),
				       json_pack("{s:s, s:[s, s]}", "key", aes, "values", pan, "x"), rid);
	h_assert_status(r, 200);
	char tok[32];
	snprintf(tok, sizeof tok, "%s", json_string_value(json_array_get(json_object_get(r->json, "tokens"), 0)));
	h_resp_free(r);
	size_t len;
	char *log = h_daemon_log(&len);
	const char *needles[] = {pan, tok, pan + 6};
	for (size_t i = 0; i < 3; i++) {
		ck_assert_msg(!memmem(log, len, needles[i], strlen(needles[i])), "the log contains secret %zu", i);
		ck_assert_msg(h_audit_rows_containing(needles[i]) == 0, "an audit row contains secret %zu", i);
	}
	ck_assert_int_eq(h_audit_count(rid), 1);
	free(log);
}
END_TEST

TCase *tcase_tokens(void)
{
	TCase *tc = tcase_create("tokens");
	tcase_add_test(tc, test_1000_pans_round_trip_keep_first_6_last_4_pass_luhn_and_never_equal_the_pan);
	tcase_add_test(tc, test_deterministic_tokens_are_stable_differ_from_the_value_and_cannot_be_detokenized);
	tcase_add_test(tc, test_bad_values_get_per_value_errors_in_order_and_the_others_are_served);
	tcase_add_test(tc, test_tokenize_and_detokenize_need_their_own_scopes);
	tcase_add_test(tc, test_no_pan_or_token_reaches_the_log_or_the_audit_trail);
	return tc;
}
