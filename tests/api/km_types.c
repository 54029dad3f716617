/* Key types, sizes and usages: what each type generates, the PKCS#11 attributes its HSM
 * objects get (read back from the token), the combinations refused before anything is made,
 * and operations outside a key's usage or type. */
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "km_util.h"

struct gen_case {
	const char *type;
	int size;          /* 0: not sent */
	const char *curve; /* NULL: not sent */
	int want_size;
	bool has_kcv;
};

static void expect_generated(const struct gen_case *c)
{
	json_t *spec = json_pack("{s:s}", "type", c->type);
	if (c->size)
		json_object_set_new(spec, "size", json_integer(c->size));
	if (c->curve)
		json_object_set_new(spec, "curve", json_string(c->curve));
	char id[KM_ID_LEN];
	struct h_resp *r = km_key("gen", spec, id, NULL);
	const char *what = c->curve ? c->curve : c->type;
	ck_assert_msg(strcmp(h_str(r, "type"), c->type) == 0, "%s %d: type %s", what, c->size, h_str(r, "type"));
	ck_assert_msg(km_int(r->json, "size") == c->want_size, "%s %d: size %ld", what, c->size,
		      km_int(r->json, "size"));
	const char *curve = h_str(r, "curve");
	if (c->curve)
		ck_assert_msg(curve && strcmp(curve, c->curve) == 0, "%s: curve %s", what, curve ? curve : "(none)");
	else
		ck_assert_msg(curve == NULL, "%s %d: has a curve %s", what, c->size, curve);
	ck_assert_str_eq(h_str(r, "state"), "active");
	ck_assert_int_eq(km_int(r->json, "primary_version"), 1);
	json_t *v = km_version(r->json, 1);
	ck_assert_msg(v != NULL, "%s: no version 1: %.600s", what, r->body);
	json_t *kcv = json_object_get(v, "kcv");
	if (c->has_kcv)
		ck_assert_msg(km_is_kcv(json_string_value(kcv)), "%s %d: kcv %.600s", what, c->size, r->body);
	else
		ck_assert_msg(json_is_null(kcv), "%s %d: kcv should be null: %.600s", what, c->size, r->body);
	/* What GET says afterwards is what creation answered. */
	struct h_resp *g = km_get(id);
	ck_assert_msg(json_equal(r->json, g->json), "%s: GET differs from the creation response:\n%.1500s\n%.1500s",
		      what, r->body, g->body);
	h_resp_free(g);
	h_resp_free(r);
}

START_TEST(test_each_symmetric_type_and_size_generates_with_its_size_and_a_kcv_only_for_aes_and_tdes)
{
	static const struct gen_case cases[] = {
	    {"AES", 128, NULL, 128, true},   {"AES", 192, NULL, 192, true},   {"AES", 256, NULL, 256, true},
	    {"TDES", 128, NULL, 128, true},  {"TDES", 192, NULL, 192, true},  {"HMAC", 256, NULL, 256, false},
	    {"HMAC", 512, NULL, 512, false}, {"HMAC", 384, NULL, 384, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		expect_generated(&cases[i]);
}
END_TEST

START_TEST(test_each_key_pair_type_generates_with_its_size_or_curve_and_no_kcv)
{
	static const struct gen_case cases[] = {
	    {"RSA", 2048, NULL, 2048, false}, {"EC", 0, "P-256", 256, false},   {"EC", 0, "P-384", 384, false},
	    {"EC", 0, "P-521", 521, false},   {"ED25519", 0, NULL, 256, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		expect_generated(&cases[i]);
}
END_TEST

START_TEST(test_rsa_3072_generates)
{
	static const struct gen_case c = {"RSA", 3072, NULL, 3072, false};
	expect_generated(&c);
}
END_TEST

/* Every attribute of a key object as the test expects it. */
struct want_attrs {
	bool sensitive, extractable, encrypt, decrypt, sign, verify, wrap, unwrap, derive;
	unsigned long key_type;
};

#define expect_attrs(id, priv, ...) expect_attrs_at(__FILE__, __LINE__, (id), (priv), &(struct want_attrs){__VA_ARGS__})
static void expect_attrs_at(const char *file, int line, const char *id, bool priv, const struct want_attrs *w)
{
	struct hg_p11_attrs a;
	km_attrs(id, 1, priv, &a);
	ck_assert_msg(a.found, "%s:%d: no %s object for key %s", file, line, priv ? "secret/private" : "public", id);
	const struct {
		const char *name;
		bool got, want;
	} b[] = {
	    {"CKA_SENSITIVE", a.sensitive, w->sensitive},
	    {"CKA_EXTRACTABLE", a.extractable, w->extractable},
	    {"CKA_ENCRYPT", a.encrypt, w->encrypt},
	    {"CKA_DECRYPT", a.decrypt, w->decrypt},
	    {"CKA_SIGN", a.sign, w->sign},
	    {"CKA_VERIFY", a.verify, w->verify},
	    {"CKA_WRAP", a.wrap, w->wrap},
	    {"CKA_UNWRAP", a.unwrap, w->unwrap},
	    {"CKA_DERIVE", a.derive, w->derive},
	    {"CKA_TOKEN", a.token, true},
	    {"CKA_PRIVATE", a.private_, true},
	};
	for (size_t i = 0; i < sizeof b / sizeof *b; i++)
		ck_assert_msg(b[i].got == b[i].want, "%s:%d: key %s %s object: %s is %s, expected %s", file, line, id,
			      priv ? "secret/private" : "public", b[i].name, b[i].got ? "true" : "false",
			      b[i].want ? "true" : "false");
	ck_assert_msg(a.key_type == w->key_type, "%s:%d: key %s: CKA_KEY_TYPE 0x%lx, expected 0x%lx", file, line, id,
		      a.key_type, w->key_type);
}

/* Creates a key from a JSON spec text and returns its id. */
static void make(const char *spec, char id[KM_ID_LEN])
{
	json_t *j = json_loads(spec, 0, NULL);
	ck_assert_msg(j != NULL, "bad spec %s", spec);
	km_key_id("attrs", j, id, NULL);
}

START_TEST(test_secret_keys_are_sensitive_non_extractable_with_exactly_their_usage_in_the_hsm)
{
	char id[KM_ID_LEN];
	make("{\"type\":\"AES\",\"usage\":[\"encrypt\"]}", id);
	expect_attrs(id, true, .sensitive = true, .encrypt = true, .key_type = CKK_AES);
	/* Made with CKA_ENCRYPT for its KCV, which it must lose again. */
	make("{\"type\":\"AES\",\"size\":128,\"usage\":[\"decrypt\"]}", id);
	expect_attrs(id, true, .sensitive = true, .decrypt = true, .key_type = CKK_AES);
	make("{\"type\":\"AES\",\"usage\":[\"mac\"]}", id);
	expect_attrs(id, true, .sensitive = true, .sign = true, .verify = true, .key_type = CKK_AES);
	make("{\"type\":\"TDES\",\"size\":128,\"usage\":[\"encrypt\",\"decrypt\"]}", id);
	expect_attrs(id, true, .sensitive = true, .encrypt = true, .decrypt = true, .key_type = CKK_DES2);
	make("{\"type\":\"TDES\",\"size\":192,\"usage\":[\"wrap\",\"unwrap\"]}", id);
	expect_attrs(id, true, .sensitive = true, .wrap = true, .unwrap = true, .key_type = CKK_DES3);
	make("{\"type\":\"HMAC\",\"size\":512}", id);
	expect_attrs(id, true, .sensitive = true, .sign = true, .verify = true, .key_type = CKK_GENERIC_SECRET);
	make("{\"type\":\"HMAC\",\"usage\":[\"derive\"]}", id);
	expect_attrs(id, true, .sensitive = true, .derive = true, .key_type = CKK_GENERIC_SECRET);
	struct hg_p11_attrs a;
	km_attrs(id, 1, true, &a);
	ck_assert_uint_eq(a.value_len, 32);
}
END_TEST

START_TEST(test_exportable_true_makes_the_hsm_object_extractable_and_nothing_else)
{
	char id[KM_ID_LEN];
	make("{\"type\":\"AES\",\"exportable\":true,\"usage\":[\"wrap\",\"unwrap\"]}", id);
	expect_attrs(id, true, .sensitive = true, .extractable = true, .wrap = true, .unwrap = true,
		     .key_type = CKK_AES);
	make("{\"type\":\"EC\",\"curve\":\"P-256\",\"exportable\":true}", id);
	expect_attrs(id, true, .sensitive = true, .extractable = true, .sign = true, .key_type = CKK_EC);
	make("{\"type\":\"AES\",\"exportable\":false}", id);
	expect_attrs(id, true, .sensitive = true, .encrypt = true, .decrypt = true, .key_type = CKK_AES);
}
END_TEST

START_TEST(test_key_pairs_split_their_usage_between_the_private_and_the_public_object)
{
	char id[KM_ID_LEN];
	make("{\"type\":\"RSA\",\"size\":2048,\"usage\":[\"sign\",\"verify\"]}", id);
	expect_attrs(id, true, .sensitive = true, .sign = true, .key_type = CKK_RSA);
	expect_attrs(id, false, .verify = true, .key_type = CKK_RSA);
	make("{\"type\":\"RSA\",\"size\":2048,\"usage\":[\"encrypt\",\"decrypt\"]}", id);
	expect_attrs(id, true, .sensitive = true, .decrypt = true, .key_type = CKK_RSA);
	expect_attrs(id, false, .encrypt = true, .key_type = CKK_RSA);
	make("{\"type\":\"EC\",\"curve\":\"P-384\",\"usage\":[\"sign\",\"verify\",\"derive\"]}", id);
	expect_attrs(id, true, .sensitive = true, .sign = true, .derive = true, .key_type = CKK_EC);
	expect_attrs(id, false, .verify = true, .key_type = CKK_EC);
	make("{\"type\":\"ED25519\",\"usage\":[\"verify\"]}", id);
	expect_attrs(id, true, .sensitive = true, .key_type = CKK_EC_EDWARDS);
	expect_attrs(id, false, .verify = true, .key_type = CKK_EC_EDWARDS);
}
END_TEST

/* POST /v1/keys with spec (a JSON text; the name is added) must be 400 invalid_request and
 * leave no key of that name. */
static void expect_refused(const char *spec)
{
	char name[H_NAME_MAX], path[256];
	h_name(name, "refused");
	json_t *j = json_loads(spec, 0, NULL);
	ck_assert_msg(j != NULL, "bad spec %s", spec);
	json_object_set_new(j, "name", json_string(name));
	char *body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	struct h_resp *r = km_send("POST", "/v1/keys", body, NULL);
	ck_assert_msg(r->status == 400, "%s: expected 400, got %ld: %.600s", spec, r->status, r->body);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	free(body);
	snprintf(path, sizeof path, "/v1/keys/%s", name);
	r = km_send("GET", path, NULL, NULL);
	ck_assert_msg(r->status == 404, "%s: the refused key exists (GET %ld)", spec, r->status);
	h_resp_free(r);
	snprintf(path, sizeof path, "/v1/keys?name=%s", name);
	r = km_send("GET", path, NULL, NULL);
	h_assert_status(r, 200);
	ck_assert_msg(json_array_size(json_object_get(r->json, "items")) == 0, "%s: listed: %.600s", spec, r->body);
	h_resp_free(r);
}

START_TEST(test_refused_type_size_usage_and_curve_combinations_are_400_and_create_nothing)
{
	static const char *const specs[] = {
	    "{\"type\":\"AES\",\"usage\":[\"sign\"]}",
	    "{\"type\":\"AES\",\"usage\":[\"encrypt\",\"verify\"]}",
	    "{\"type\":\"TDES\",\"usage\":[\"pin\",\"encrypt\"]}",
	    "{\"type\":\"AES\",\"usage\":[\"pin\",\"encrypt\"]}",
	    "{\"type\":\"TDES\",\"usage\":[\"pin\",\"cvv\"]}",
	    "{\"type\":\"TDES\",\"usage\":[\"pin_verify\",\"cvv\"]}",
	    "{\"type\":\"RSA\",\"size\":2048,\"usage\":[\"sign\",\"encrypt\"]}",
	    "{\"type\":\"RSA\",\"size\":2048,\"usage\":[\"verify\",\"unwrap\"]}",
	    "{\"type\":\"HMAC\",\"usage\":[\"encrypt\"]}",
	    "{\"type\":\"EC\"}",
	    "{\"type\":\"EC\",\"size\":256}",
	    "{\"type\":\"EC\",\"curve\":\"P-192\"}",
	    "{\"type\":\"EC\",\"curve\":\"P-256\",\"usage\":[\"encrypt\"]}",
	    "{\"type\":\"AES\",\"curve\":\"P-256\"}",
	    "{\"type\":\"RSA\",\"curve\":\"P-256\"}",
	    "{\"type\":\"ED25519\",\"curve\":\"P-256\"}",
	    "{\"type\":\"AES\",\"size\":512}",
	    "{\"type\":\"TDES\",\"size\":64}",
	    "{\"type\":\"TDES\",\"size\":256}",
	    "{\"type\":\"HMAC\",\"size\":200}",
	    "{\"type\":\"HMAC\",\"size\":520}",
	    "{\"type\":\"HMAC\",\"size\":300}",
	    "{\"type\":\"RSA\",\"size\":1024}",
	    "{\"type\":\"RSA\",\"size\":2047}",
	    "{\"type\":\"ED25519\",\"size\":448}",
	};
	for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
		expect_refused(specs[i]);
}
END_TEST

START_TEST(test_an_operation_outside_the_keys_usage_is_403_key_usage)
{
	char dec[KM_ID_LEN], enc[KM_ID_LEN];
	km_key_id("deconly", json_pack("{s:s, s:[s]}", "type", "AES", "usage", "decrypt"), dec, NULL);
	struct h_resp *r = km_act(dec, "encrypt", "{\"plaintext\":\"aGVsbG8=\"}");
	h_assert_problem(r, 403, "key_usage");
	ck_assert_ptr_null(h_str(r, "ciphertext"));
	h_resp_free(r);
	/* And the other way round: an encrypt-only key does not decrypt its own ciphertext. */
	km_key_id("enconly", json_pack("{s:s, s:[s]}", "type", "AES", "usage", "encrypt"), enc, NULL);
	char *ct = km_encrypt(enc, "aGVsbG8=", 1);
	r = km_decrypt(enc, ct);
	h_assert_problem(r, 403, "key_usage");
	ck_assert_ptr_null(h_str(r, "plaintext"));
	h_resp_free(r);
	free(ct);
}
END_TEST

/* The contract today (openapi: encrypt): only AES keys encrypt, so an RSA key with the usage
 * encrypt is 400. If RSA-OAEP encryption is added, this test must change with the contract. */
START_TEST(test_encrypt_with_an_rsa_key_and_an_aes_algorithm_is_400_invalid_request)
{
	char rsa[KM_ID_LEN];
	km_key_id("rsaenc", json_pack("{s:s, s:i}", "type", "RSA", "size", 2048), rsa, NULL);
	struct h_resp *r = km_act(rsa, "encrypt", "{\"plaintext\":\"aGVsbG8=\",\"algorithm\":\"AES-GCM\"}");
	h_assert_problem(r, 400, "invalid_request");
	ck_assert_ptr_null(h_str(r, "ciphertext"));
	h_resp_free(r);
	r = km_act(rsa, "encrypt", "{\"plaintext\":\"aGVsbG8=\",\"algorithm\":\"AES-CBC-PAD\"}");
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
}
END_TEST

START_TEST(test_encrypt_with_a_tdes_key_is_400_invalid_request)
{
	char tdes[KM_ID_LEN];
	km_key_id("tdesenc", json_pack("{s:s}", "type", "TDES"), tdes, NULL);
	struct h_resp *r = km_act(tdes, "encrypt", "{\"plaintext\":\"aGVsbG8=\"}");
	h_assert_problem(r, 400, "invalid_request");
	ck_assert_ptr_null(h_str(r, "ciphertext"));
	h_resp_free(r);
}
END_TEST

TCase *tcase_km_types(void)
{
	TCase *tc = tcase_create("km_types");
	tcase_add_test(tc, test_each_symmetric_type_and_size_generates_with_its_size_and_a_kcv_only_for_aes_and_tdes);
	tcase_add_test(tc, test_each_key_pair_type_generates_with_its_size_or_curve_and_no_kcv);
	tcase_add_test(tc, test_rsa_3072_generates);
	tcase_add_test(tc, test_secret_keys_are_sensitive_non_extractable_with_exactly_their_usage_in_the_hsm);
	tcase_add_test(tc, test_exportable_true_makes_the_hsm_object_extractable_and_nothing_else);
	tcase_add_test(tc, test_key_pairs_split_their_usage_between_the_private_and_the_public_object);
	tcase_add_test(tc, test_refused_type_size_usage_and_curve_combinations_are_400_and_create_nothing);
	tcase_add_test(tc, test_an_operation_outside_the_keys_usage_is_403_key_usage);
	tcase_add_test(tc, test_encrypt_with_an_rsa_key_and_an_aes_algorithm_is_400_invalid_request);
	tcase_add_test(tc, test_encrypt_with_a_tdes_key_is_400_invalid_request);
	return tc;
}
