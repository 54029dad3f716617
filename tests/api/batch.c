/* Batches on encrypt, decrypt, sign, verify and mac: results in order, per-item errors that
 * fail only their item, the 1000-item bound, and one audit row per item. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char *tok(void)
{
	return h_token("acme", "keys:read keys:write crypto:encrypt crypto:decrypt crypto:sign crypto:verify");
}

static char *path_of(const char *id, const char *op)
{
	char *p = malloc(160);
	snprintf(p, 160, "/v1/keys/%s/%s", id, op);
	return p;
}

START_TEST(test_encrypt_batch_answers_each_item_in_order_and_an_item_error_fails_only_its_item)
{
	char id[HG_UUID_STR_LEN + 1], rid[H_RID_MAX];
	h_key("acme", "batch", id, NULL);
	h_rid(rid);
	char *t = tok(), *p = path_of(id, "encrypt");
	struct h_resp *r = h_post(
	    p, t, "{\"batch\":[{\"plaintext\":\"aGk=\"},{\"plaintext\":\"!!\"},{\"plaintext\":\"aGVsbG8=\"},7]}", rid);
	h_assert_status(r, 200);
	json_t *b = json_object_get(r->json, "batch");
	ck_assert_uint_eq(json_array_size(b), 4);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 0), "algorithm")), "AES-GCM");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(b, 1), "error"), "code")),
			 "invalid_request");
	ck_assert_ptr_nonnull(json_object_get(json_array_get(b, 2), "ciphertext"));
	ck_assert_ptr_nonnull(json_object_get(json_array_get(b, 3), "error"));
	/* The third item decrypts to its own plaintext: results are not shuffled. */
	const char *ct = json_string_value(json_object_get(json_array_get(b, 2), "ciphertext"));
	struct h_resp *d = h_decrypt("acme", id, ct, NULL, NULL);
	h_assert_status(d, 200);
	ck_assert_str_eq(h_str(d, "plaintext"), "aGVsbG8=");
	h_resp_free(d);
	/* One audit row per item, besides the request's own. */
	for (int i = 0; i < 4; i++) {
		char irid[H_RID_MAX + 8];
		snprintf(irid, sizeof irid, "%s/%d", rid, i);
		ck_assert_int_eq(h_audit_count(irid), 1);
	}
	ck_assert_int_eq(h_audit_count(rid), 1);
	h_resp_free(r);
	free(p);
	free(t);
}
END_TEST

START_TEST(test_decrypt_batch_of_1000_items_works_and_1001_items_is_400)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "batch1k", id, NULL);
	char *t = tok(), *p = path_of(id, "encrypt");
	char *ct = h_encrypt("acme", id, "aGVsbG8=", NULL);
	json_t *items = json_array();
	for (int i = 0; i < 1000; i++)
		json_array_append_new(items, json_pack("{s:s}", "ciphertext", ct));
	json_t *body = json_pack("{s:o}", "batch", items);
	char *dp = path_of(id, "decrypt");
	struct h_resp *r = h_post_json(dp, t, json_incref(body), NULL);
	h_assert_status(r, 200);
	json_t *b = json_object_get(r->json, "batch");
	ck_assert_uint_eq(json_array_size(b), 1000);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(b, 999), "plaintext")), "aGVsbG8=");
	h_resp_free(r);
	json_array_append_new(json_object_get(body, "batch"), json_pack("{s:s}", "ciphertext", ct));
	r = h_post_json(dp, t, body, NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_assert_detail_has(r, "1000");
	h_resp_free(r);
	r = h_post(p, t, "{\"batch\":[]}", NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	r = h_post(p, t, "{\"batch\":[{\"plaintext\":\"aGk=\"}],\"plaintext\":\"aGk=\"}", NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	free(ct);
	free(dp);
	free(p);
	free(t);
}
END_TEST

START_TEST(test_sign_and_verify_batches_agree_item_by_item)
{
	char *t = tok(), name[H_NAME_MAX];
	h_name(name, "batchec");
	struct h_resp *r = h_post_json(
	    "/v1/keys", t, json_pack("{s:s, s:s, s:s}", "name", name, "type", "EC", "curve", "P-256"), NULL);
	h_assert_status(r, 201);
	char *sp = path_of(name, "sign"), *vp = path_of(name, "verify");
	h_resp_free(r);
	r = h_post(sp, t, "{\"batch\":[{\"message\":\"aGk=\"},{\"message\":\"aGVsbG8=\"}]}", NULL);
	h_assert_status(r, 200);
	json_t *b = json_object_get(r->json, "batch");
	const char *s0 = json_string_value(json_object_get(json_array_get(b, 0), "signature"));
	const char *s1 = json_string_value(json_object_get(json_array_get(b, 1), "signature"));
	ck_assert_ptr_nonnull(s0);
	ck_assert_ptr_nonnull(s1);
	/* Each signature verifies against its own message and not against the other's. */
	json_t *v = json_pack("{s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}", "batch", "message", "aGk=", "signature", s0,
			      "message", "aGVsbG8=", "signature", s1, "message", "aGk=", "signature", s1);
	struct h_resp *vr = h_post_json(vp, t, v, NULL);
	h_assert_status(vr, 200);
	json_t *vb = json_object_get(vr->json, "batch");
	ck_assert(json_is_true(json_object_get(json_array_get(vb, 0), "valid")));
	ck_assert(json_is_true(json_object_get(json_array_get(vb, 1), "valid")));
	ck_assert(json_is_false(json_object_get(json_array_get(vb, 2), "valid")));
	h_resp_free(vr);
	h_resp_free(r);
	free(sp);
	free(vp);
	free(t);
}
END_TEST

TCase *tcase_batch(void)
{
	TCase *tc = tcase_create("batch");
	tcase_add_test(tc, test_encrypt_batch_answers_each_item_in_order_and_an_item_error_fails_only_its_item);
	tcase_add_test(tc, test_decrypt_batch_of_1000_items_works_and_1001_items_is_400);
	tcase_add_test(tc, test_sign_and_verify_batches_agree_item_by_item);
	return tc;
}
