/* Encrypt and decrypt: round trips, the envelope, and every way a ciphertext can be wrong,
 * which must be 400 and never 200 with garbage. */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "harness.h"

#define PREFIX "hsmgw:v1:"

/* The raw IV ‖ ciphertext ‖ tag of a v1 envelope. */
static unsigned char *envelope_raw(const char *ct, size_t *n)
{
	ck_assert_msg(strncmp(ct, PREFIX, strlen(PREFIX)) == 0, "ciphertext %.40s does not start with " PREFIX, ct);
	return h_unb64(ct + strlen(PREFIX), n);
}

static char *envelope_of(const char *version, const unsigned char *raw, size_t n)
{
	char *b64 = h_b64(raw, n), *s;
	ck_assert(asprintf(&s, "hsmgw:%s:%s", version, b64) > 0);
	free(b64);
	return s;
}

/* Decrypting must be 400 invalid_request without any plaintext. */
#define expect_decrypt_400(key, ct, aad) expect_decrypt_400_at(__FILE__, __LINE__, (key), (ct), (aad))
static void expect_decrypt_400_at(const char *file, int line, const char *key, const char *ct, const char *aad)
{
	struct h_resp *r = h_decrypt("acme", key, ct, aad, NULL);
	ck_assert_msg(r->status == 400, "%s:%d: decrypt of %.60s answered %ld %.200s", file, line, ct, r->status,
		      r->body);
	h_assert_problem_at(file, line, r, 400, "invalid_request");
	ck_assert_msg(!json_object_get(r->json, "plaintext"), "%s:%d: a failed decrypt returned a plaintext", file,
		      line);
	h_resp_free(r);
}

START_TEST(test_encrypt_then_decrypt_round_trips_the_plaintext)
{
	char id[HG_UUID_STR_LEN + 1], name[H_NAME_MAX], p[200], erid[H_RID_MAX], drid[H_RID_MAX];
	h_key("acme", "rt", id, name);
	unsigned char pt[100];
	ck_assert_int_eq(RAND_bytes(pt, sizeof pt), 1);
	char *pt64 = h_b64(pt, sizeof pt);
	snprintf(p, sizeof p, "/v1/keys/%s/encrypt", name);
	h_rid(erid);
	struct h_resp *r = h_post_json(p, h_tok("acme"), json_pack("{s:s}", "plaintext", pt64), erid);
	h_assert_status(r, 200);
	ck_assert_str_eq(h_str(r, "algorithm"), "AES-GCM");
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "key_version")), 1);
	size_t n;
	unsigned char *raw = envelope_raw(h_str(r, "ciphertext"), &n);
	ck_assert_uint_eq(n, 12 + sizeof pt + 16);
	ck_assert_msg(memcmp(raw + 12, pt, sizeof pt) != 0, "the ciphertext is the plaintext");
	free(raw);
	h_rid(drid);
	struct h_resp *d = h_decrypt("acme", id, h_str(r, "ciphertext"), NULL, drid);
	h_assert_status(d, 200);
	ck_assert_str_eq(h_str(d, "plaintext"), pt64);
	ck_assert_int_eq(json_integer_value(json_object_get(d->json, "key_version")), 1);
	h_resp_free(r);
	h_resp_free(d);
	free(pt64);
	h_assert_audit(erid, .tenant = "acme", .caller = h_sub("acme"), .operation = "crypto.encrypt",
		       .outcome = "success", .http_status = 200, .error_code = NULL, .key_id = id, .key_version = 1);
	h_assert_audit(drid, .tenant = "acme", .caller = h_sub("acme"), .operation = "crypto.decrypt",
		       .outcome = "success", .http_status = 200, .error_code = NULL, .key_id = id, .key_version = 1);
}
END_TEST

START_TEST(test_two_encryptions_of_the_same_plaintext_differ)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "iv", id, NULL);
	char *a = h_encrypt("acme", id, "c2FtZSBwbGFpbnRleHQ=", NULL),
	     *b = h_encrypt("acme", id, "c2FtZSBwbGFpbnRleHQ=", NULL);
	ck_assert_str_ne(a, b);
	size_t na, nb;
	unsigned char *ra = envelope_raw(a, &na), *rb = envelope_raw(b, &nb);
	ck_assert_msg(memcmp(ra, rb, 12) != 0, "two encryptions used the same IV");
	free(ra), free(rb), free(a), free(b);
}
END_TEST

START_TEST(test_empty_plaintext_round_trips)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "empty", id, NULL);
	char *ct = h_encrypt("acme", id, "", NULL);
	size_t n;
	free(envelope_raw(ct, &n));
	ck_assert_uint_eq(n, 12 + 16);
	struct h_resp *d = h_decrypt("acme", id, ct, NULL, NULL);
	h_assert_status(d, 200);
	ck_assert_ptr_nonnull(h_str(d, "plaintext"));
	ck_assert_str_eq(h_str(d, "plaintext"), "");
	h_resp_free(d);
	free(ct);
}
END_TEST

START_TEST(test_large_plaintext_round_trips)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "large", id, NULL);
	size_t size = 300 * 1024;
	unsigned char *pt = malloc(size);
	ck_assert_int_eq(RAND_bytes(pt, (int)size), 1);
	char *pt64 = h_b64(pt, size);
	char *ct = h_encrypt("acme", id, pt64, NULL);
	struct h_resp *d = h_decrypt("acme", id, ct, NULL, NULL);
	h_assert_status(d, 200);
	ck_assert_msg(h_str(d, "plaintext") && strcmp(h_str(d, "plaintext"), pt64) == 0, "large plaintext differs");
	h_resp_free(d);
	free(ct), free(pt64), free(pt);
}
END_TEST

START_TEST(test_round_trip_with_aad_and_explicit_algorithm)
{
	char id[HG_UUID_STR_LEN + 1], p[160];
	h_key("acme", "aad", id, NULL);
	snprintf(p, sizeof p, "/v1/keys/%s/encrypt", id);
	struct h_resp *r = h_post_json(
	    p, h_tok("acme"),
	    json_pack("{s:s, s:s, s:s}", "plaintext", "d2l0aCBhYWQ=", "aad", "b3JkZXI6NDI=", "algorithm", "AES-GCM"),
	    NULL);
	h_assert_status(r, 200);
	struct h_resp *d = h_decrypt("acme", id, h_str(r, "ciphertext"), "b3JkZXI6NDI=", NULL);
	h_assert_status(d, 200);
	ck_assert_str_eq(h_str(d, "plaintext"), "d2l0aCBhYWQ=");
	h_resp_free(d);
	h_resp_free(r);
}
END_TEST

START_TEST(test_decrypt_with_wrong_aad_is_400)
{
	char id[HG_UUID_STR_LEN + 1], rid[H_RID_MAX];
	h_key("acme", "wrongaad", id, NULL);
	char *ct = h_encrypt("acme", id, "c2VjcmV0", "b3JkZXI6NDI=");
	expect_decrypt_400(id, ct, "b3JkZXI6NDM=");
	expect_decrypt_400(id, ct, "");
	h_rid(rid);
	struct h_resp *r = h_decrypt("acme", id, ct, "b3JkZXI6NDM=", rid);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "crypto.decrypt",
		       .outcome = "error", .http_status = 400, .error_code = "invalid_request", .key_id = id,
		       .key_version = H_ANY_VERSION);
	free(ct);
}
END_TEST

START_TEST(test_decrypt_without_the_aad_used_at_encryption_is_400)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "noaad", id, NULL);
	char *ct = h_encrypt("acme", id, "c2VjcmV0", "b3JkZXI6NDI=");
	expect_decrypt_400(id, ct, NULL);
	free(ct);
}
END_TEST

START_TEST(test_decrypt_with_aad_not_used_at_encryption_is_400)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "extraaad", id, NULL);
	char *ct = h_encrypt("acme", id, "c2VjcmV0", NULL);
	expect_decrypt_400(id, ct, "b3JkZXI6NDI=");
	free(ct);
}
END_TEST

START_TEST(test_decrypt_with_any_flipped_bit_is_400)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "flip", id, NULL);
	char *ct = h_encrypt("acme", id, "MDEyMzQ1Njc4OWFiY2RlZg==", "YWFk");
	size_t n;
	unsigned char *raw = envelope_raw(ct, &n);
	ck_assert_uint_eq(n, 12 + 16 + 16);
	for (size_t i = 0; i < n; i++) { /* IV, ciphertext and tag: one bit in every byte */
		raw[i] ^= (unsigned char)(1u << (i % 8));
		char *bad = envelope_of("v1", raw, n);
		expect_decrypt_400(id, bad, "YWFk");
		free(bad);
		raw[i] ^= (unsigned char)(1u << (i % 8));
	}
	char *same = envelope_of("v1", raw, n); /* the unflipped bytes still decrypt */
	struct h_resp *d = h_decrypt("acme", id, same, "YWFk", NULL);
	h_assert_status(d, 200);
	h_resp_free(d);
	free(same), free(raw), free(ct);
}
END_TEST

START_TEST(test_decrypt_of_a_truncated_or_extended_ciphertext_is_400)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "trunc", id, NULL);
	char *ct = h_encrypt("acme", id, "MDEyMzQ1Njc4OWFiY2RlZg==", NULL);
	size_t n;
	unsigned char *raw = envelope_raw(ct, &n);
	size_t lens[] = {n - 1, n - 16, 28, 27, 12, 1, 0};
	for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
		char *bad = envelope_of("v1", raw, lens[i]);
		expect_decrypt_400(id, bad, NULL);
		free(bad);
	}
	unsigned char *longer = malloc(n + 1);
	memcpy(longer, raw, n);
	longer[n] = 0;
	char *bad = envelope_of("v1", longer, n + 1);
	expect_decrypt_400(id, bad, NULL);
	free(bad), free(longer), free(raw), free(ct);
}
END_TEST

START_TEST(test_decrypt_of_a_ciphertext_naming_a_version_the_key_lacks_is_400)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "ver", id, NULL);
	char *ct = h_encrypt("acme", id, "c2VjcmV0", NULL);
	size_t n;
	unsigned char *raw = envelope_raw(ct, &n);
	static const char *const versions[] = {"v2", "v3", "v2147483647"};
	for (size_t i = 0; i < 3; i++) {
		char *bad = envelope_of(versions[i], raw, n);
		expect_decrypt_400(id, bad, NULL);
		free(bad);
	}
	free(raw), free(ct);
}
END_TEST

START_TEST(test_decrypt_of_a_malformed_envelope_is_400)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "env", id, NULL);
	char *ct = h_encrypt("acme", id, "c2VjcmV0", NULL);
	const char *b64 = ct + strlen(PREFIX);
	static const char *const fmts[] = {
	    "%s", /* no prefix */
	    "hsmgw:v0:%s",  "hsmgw:v01:%s", "hsmgw:v-1:%s",  "hsmgw:1:%s",   "hsmgw:v:%s",
	    "HSMGW:v1:%s",  "hsmgw:V1:%s",  "hsmgw:v1%s",    "hsmgw:v1::%s", "hsmgw:v99999999999:%s",
	    "hsmgw:v1: %s", "hsmgw:v1:%s!", "hsmgw:v1:%s\n", "xhsmgw:v1:%s",
	};
	for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
		char *bad = h_fill(fmts[i], b64);
		expect_decrypt_400(id, bad, NULL);
		free(bad);
	}
	char cut[64]; /* base64 whose length is not a multiple of 4 */
	snprintf(cut, sizeof cut, PREFIX "%.20s=", b64);
	expect_decrypt_400(id, cut, NULL);
	/* Base64 without its padding, and the URL-safe alphabet. */
	char unpadded[256], urlsafe[256];
	snprintf(unpadded, sizeof unpadded, "%s", ct);
	unpadded[strcspn(unpadded, "=")] = '\0';
	if (strcmp(unpadded, ct) != 0)
		expect_decrypt_400(id, unpadded, NULL);
	snprintf(urlsafe, sizeof urlsafe, "%s", ct);
	bool changed = false;
	for (char *c = urlsafe + strlen(PREFIX); *c; c++)
		if (*c == '+' || *c == '/')
			*c = *c == '+' ? '-' : '_', changed = true;
	if (changed)
		expect_decrypt_400(id, urlsafe, NULL);
	static const char *const fixed[] = {"", "hsmgw:v1:", "hsmgw", "not a ciphertext"};
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		expect_decrypt_400(id, fixed[i], NULL);
	free(ct);
}
END_TEST

START_TEST(test_ciphertext_of_one_key_does_not_decrypt_under_another)
{
	char a[HG_UUID_STR_LEN + 1], b[HG_UUID_STR_LEN + 1];
	h_key("acme", "keya", a, NULL);
	h_key("acme", "keyb", b, NULL);
	char *ct = h_encrypt("acme", a, "b25seSBmb3IgQQ==", NULL);
	expect_decrypt_400(b, ct, NULL);
	free(ct);
}
END_TEST

/* POST body to the key's encrypt (or decrypt) route: 400 naming `field`. */
static void expect_field_400(const char *key, const char *action, const char *body, const char *field)
{
	char p[200];
	snprintf(p, sizeof p, "/v1/keys/%s/%s", key, action);
	struct h_resp *r = h_post(p, h_tok("acme"), body, NULL);
	ck_assert_msg(r->status == 400, "%s %s: got %ld", action, body, r->status);
	h_assert_problem(r, 400, "invalid_request");
	h_assert_detail_has(r, field);
	h_resp_free(r);
}

START_TEST(test_bad_encrypt_and_decrypt_fields_are_400_naming_the_field)
{
	char id[HG_UUID_STR_LEN + 1];
	h_key("acme", "fields", id, NULL);
	static const char *const bad_b64[] = {"abc", "YQ", "@@@@", "YW Jj", "YWJj\\n", "YW=j", "-_-_"};
	for (size_t i = 0; i < sizeof bad_b64 / sizeof *bad_b64; i++) {
		char body[128];
		snprintf(body, sizeof body, "{\"plaintext\":\"%s\"}", bad_b64[i]);
		expect_field_400(id, "encrypt", body, "plaintext");
		snprintf(body, sizeof body, "{\"plaintext\":\"YWJj\",\"aad\":\"%s\"}", bad_b64[i]);
		expect_field_400(id, "encrypt", body, "aad");
	}
	expect_field_400(id, "encrypt", "{\"plaintext\":12}", "plaintext");
	expect_field_400(id, "encrypt", "{\"aad\":\"YWJj\"}", "plaintext");
	expect_field_400(id, "encrypt", "{\"plaintext\":null}", "plaintext");
	expect_field_400(id, "encrypt", "{\"plaintext\":\"YWJj\",\"iv\":\"AAAAAAAAAAAAAAAA\"}", "iv");
	expect_field_400(id, "encrypt", "{\"plaintext\":\"YWJj\",\"algorithm\":\"ROT13\"}", "algorithm");
	expect_field_400(id, "decrypt", "{}", "ciphertext");
	expect_field_400(id, "decrypt", "{\"ciphertext\":7}", "ciphertext");
	expect_field_400(id, "decrypt", "{\"ciphertext\":\"hsmgw:v1:AAAA\",\"aad\":\"a\"}", "aad");
	expect_field_400(id, "decrypt", "{\"ciphertext\":\"hsmgw:v1:AAAA\",\"nonce\":\"AAAA\"}", "nonce");
}
END_TEST

START_TEST(test_encrypt_or_decrypt_with_an_unknown_key_is_404)
{
	char name[H_NAME_MAX], p[200], rid[H_RID_MAX];
	h_name(name, "nokey");
	snprintf(p, sizeof p, "/v1/keys/%s/encrypt", name);
	h_rid(rid);
	struct h_resp *r = h_post(p, h_tok("acme"), "{\"plaintext\":\"YWJj\"}", rid);
	h_assert_problem(r, 404, "not_found");
	h_resp_free(r);
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "crypto.encrypt",
		       .outcome = "error", .http_status = 404, .error_code = "not_found", .key_id = NULL,
		       .key_version = 0);
	r = h_decrypt("acme", name, "hsmgw:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, NULL);
	h_assert_problem(r, 404, "not_found");
	h_resp_free(r);
}
END_TEST

TCase *tcase_crypto(void)
{
	TCase *tc = tcase_create("crypto");
	tcase_add_test(tc, test_encrypt_then_decrypt_round_trips_the_plaintext);
	tcase_add_test(tc, test_two_encryptions_of_the_same_plaintext_differ);
	tcase_add_test(tc, test_empty_plaintext_round_trips);
	tcase_add_test(tc, test_large_plaintext_round_trips);
	tcase_add_test(tc, test_round_trip_with_aad_and_explicit_algorithm);
	tcase_add_test(tc, test_decrypt_with_wrong_aad_is_400);
	tcase_add_test(tc, test_decrypt_without_the_aad_used_at_encryption_is_400);
	tcase_add_test(tc, test_decrypt_with_aad_not_used_at_encryption_is_400);
	tcase_add_test(tc, test_decrypt_with_any_flipped_bit_is_400);
	tcase_add_test(tc, test_decrypt_of_a_truncated_or_extended_ciphertext_is_400);
	tcase_add_test(tc, test_decrypt_of_a_ciphertext_naming_a_version_the_key_lacks_is_400);
	tcase_add_test(tc, test_decrypt_of_a_malformed_envelope_is_400);
	tcase_add_test(tc, test_ciphertext_of_one_key_does_not_decrypt_under_another);
	tcase_add_test(tc, test_bad_encrypt_and_decrypt_fields_are_400_naming_the_field);
	tcase_add_test(tc, test_encrypt_or_decrypt_with_an_unknown_key_is_404);
	return tc;
}
