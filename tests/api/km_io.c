/* Keys in and out of the HSM: import of known key material wrapped by the test with
 * OpenSSL (RSA-OAEP-SHA1, the variant SoftHSM implements) and checked by its KCV and by
 * decrypting hsmgw's ciphertexts with OpenSSL; export and re-import under AES-KWP; the
 * refusals of export; public keys as PEM and JWK, checked against OpenSSL's parse. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "km_util.h"

/* The known keys: AES-256 00 01 … 1f, and a 3-key TDES key with odd parity bytes. */
static const uint8_t known_aes[32] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
				      0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
				      0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const uint8_t known_tdes[24] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98,
				       0x76, 0x54, 0x32, 0x10, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67};

static void kcv_hex(const uint8_t *b, char out[7])
{
	hex_encode(b, 3, out);
	out[6] = '\0';
}

/* AES KCV: the first 3 bytes of AES-CMAC over one zero block. */
static void aes_kcv(const uint8_t *key, size_t n, char out[7])
{
	char cipher[16];
	snprintf(cipher, sizeof cipher, "AES-%zu-CBC", n * 8);
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
			       OSSL_PARAM_construct_end()};
	uint8_t zero[16] = {0}, tag[16];
	size_t tl = 0;
	ck_assert(ctx && EVP_MAC_init(ctx, key, n, params) && EVP_MAC_update(ctx, zero, sizeof zero) &&
		  EVP_MAC_final(ctx, tag, &tl, sizeof tag) && tl == 16);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	kcv_hex(tag, out);
}

/* TDES KCV: the first 3 bytes of DES-EDE3-ECB over 8 zero bytes. */
static void tdes_kcv(const uint8_t key[24], char out[7])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t zero[8] = {0}, ct[16];
	int n = 0;
	ck_assert(EVP_EncryptInit_ex(ctx, EVP_des_ede3_ecb(), NULL, key, NULL) && EVP_CIPHER_CTX_set_padding(ctx, 0) &&
		  EVP_EncryptUpdate(ctx, ct, &n, zero, sizeof zero) && n == 8);
	EVP_CIPHER_CTX_free(ctx);
	kcv_hex(ct, out);
}

/* GET /v1/keys/{key}/public-key (asserts 200); *pkey receives the PEM parsed by OpenSSL. */
static struct h_resp *public_key(const char *key, EVP_PKEY **pkey)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/keys/%s/public-key", key);
	struct h_resp *r = km_send("GET", path, NULL, NULL);
	h_assert_status(r, 200);
	const char *pem = h_str(r, "pem");
	ck_assert_msg(pem && strstr(pem, "-----BEGIN PUBLIC KEY-----"), "no PEM: %.600s", r->body);
	BIO *bio = BIO_new_mem_buf(pem, -1);
	*pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ck_assert_msg(*pkey != NULL, "OpenSSL cannot parse the PEM: %s", pem);
	return r;
}

/* An RSA-2048 key with usage wrap and unwrap, and its public key from the API. */
static void rsa_kek(char id[KM_ID_LEN], EVP_PKEY **pub)
{
	km_key_id("kek", json_pack("{s:s, s:i, s:[s, s]}", "type", "RSA", "size", 2048, "usage", "wrap", "unwrap"), id,
		  NULL);
	h_resp_free(public_key(id, pub));
}

/* RSA-OAEP with md and MGF1-md, no label; returns the base64 of the result (caller frees). */
static char *oaep_wrap(EVP_PKEY *pub, const EVP_MD *md, const uint8_t *key, size_t n)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
	uint8_t out[512];
	size_t outl = sizeof out;
	ck_assert(ctx && EVP_PKEY_encrypt_init(ctx) > 0 &&
		  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
		  EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0 &&
		  EVP_PKEY_encrypt(ctx, out, &outl, key, n) > 0);
	EVP_PKEY_CTX_free(ctx);
	return h_b64(out, outl);
}

/* POST /v1/keys/import. size 0: not sent; kcv NULL: not sent. */
static struct h_resp *import(const char *name, const char *type, int size, const char *kek, const char *alg,
			     const char *wrapped, const char *kcv)
{
	json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "type", type, "wrapping_key", kek, "algorithm",
			      alg, "wrapped_key", wrapped);
	if (size)
		json_object_set_new(b, "size", json_integer(size));
	if (kcv)
		json_object_set_new(b, "kcv", json_string(kcv));
	char *body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	struct h_resp *r = km_send("POST", "/v1/keys/import", body, NULL);
	free(body);
	return r;
}

/* No key of this name exists. */
static void expect_absent(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/keys/%s", name);
	struct h_resp *r = km_send("GET", path, NULL, NULL);
	ck_assert_msg(r->status == 404, "key %s exists: %ld %.600s", name, r->status, r->body);
	h_resp_free(r);
}

/* Imports a known key under a fresh RSA KEK with RSA-OAEP-SHA1; asserts 201, the type and size,
 * not exportable, and the KCV want. Returns the response. */
static struct h_resp *import_known(const char *type, int size, const uint8_t *key, size_t n, const char *want_kcv,
				   char id[KM_ID_LEN])
{
	char kek[KM_ID_LEN], name[H_NAME_MAX];
	EVP_PKEY *pub;
	rsa_kek(kek, &pub);
	char *wrapped = oaep_wrap(pub, EVP_sha1(), key, n);
	EVP_PKEY_free(pub);
	h_name(name, "import");
	struct h_resp *r = import(name, type, size, kek, "RSA-OAEP-SHA1", wrapped, NULL);
	free(wrapped);
	h_assert_status(r, 201);
	ck_assert_str_eq(h_str(r, "name"), name);
	ck_assert_str_eq(h_str(r, "type"), type);
	ck_assert_int_eq(km_int(r->json, "size"), size);
	ck_assert_str_eq(h_str(r, "state"), "active");
	ck_assert(json_is_false(json_object_get(r->json, "exportable")));
	ck_assert_msg(r->location && strstr(r->location, h_str(r, "id")), "Location %s", r->location);
	const char *kcv = km_s(km_version(r->json, 1), "kcv");
	ck_assert_msg(kcv && strcmp(kcv, want_kcv) == 0, "%s import: kcv %s, OpenSSL says %s", type, kcv ? kcv : "null",
		      want_kcv);
	snprintf(id, KM_ID_LEN, "%s", h_str(r, "id"));
	return r;
}

START_TEST(test_import_of_a_known_aes256_key_under_rsa_oaep_sha1_has_the_kcv_openssl_computes)
{
	char kcv[7], id[KM_ID_LEN], path[256];
	aes_kcv(known_aes, sizeof known_aes, kcv);
	struct h_resp *r = import_known("AES", 256, known_aes, sizeof known_aes, kcv, id);
	h_resp_free(r);
	struct hg_p11_attrs a;
	km_attrs(id, 1, true, &a);
	ck_assert(a.found && a.sensitive && !a.extractable && a.encrypt && a.decrypt && !a.wrap);
	snprintf(path, sizeof path, "/v1/keys/%s/events", id);
	r = km_send("GET", path, NULL, NULL);
	h_assert_status(r, 200);
	ck_assert_str_eq(km_s(json_array_get(json_object_get(r->json, "items"), 0), "event"), "import");
	h_resp_free(r);
}
END_TEST

START_TEST(test_import_of_a_known_3_key_tdes_key_has_the_kcv_openssl_computes)
{
	char kcv[7], id[KM_ID_LEN];
	tdes_kcv(known_tdes, kcv);
	h_resp_free(import_known("TDES", 192, known_tdes, sizeof known_tdes, kcv, id));
}
END_TEST

START_TEST(test_data_encrypted_with_the_imported_aes_key_decrypts_in_openssl_with_the_known_key)
{
	char kcv[7], id[KM_ID_LEN];
	aes_kcv(known_aes, sizeof known_aes, kcv);
	h_resp_free(import_known("AES", 256, known_aes, sizeof known_aes, kcv, id));
	static const char msg[] = "the imported key is the known key";
	static const char aad[] = "order:42";
	char *pt64 = h_b64(msg, strlen(msg)), *aad64 = h_b64(aad, strlen(aad)), body[512];
	snprintf(body, sizeof body, "{\"plaintext\":\"%s\",\"aad\":\"%s\"}", pt64, aad64);
	struct h_resp *r = km_act(id, "encrypt", body);
	h_assert_status(r, 200);
	const char *env = h_str(r, "ciphertext");
	ck_assert_msg(env && strncmp(env, "hsmgw:v1:", 9) == 0, "envelope %s", env);
	size_t n;
	unsigned char *raw = h_unb64(env + 9, &n);
	ck_assert_uint_eq(n, 12 + strlen(msg) + 16);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t out[128];
	int l = 0, l2 = 0;
	ck_assert(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, known_aes, raw));
	ck_assert(EVP_DecryptUpdate(ctx, NULL, &l, (const uint8_t *)aad, (int)strlen(aad)));
	ck_assert(EVP_DecryptUpdate(ctx, out, &l, raw + 12, (int)(n - 28)));
	ck_assert(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, raw + n - 16));
	ck_assert_msg(EVP_DecryptFinal_ex(ctx, out + l, &l2) > 0, "the tag does not verify under the known key");
	ck_assert_int_eq(l + l2, (int)strlen(msg));
	ck_assert(memcmp(out, msg, strlen(msg)) == 0);
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	h_resp_free(r);
	free(pt64);
	free(aad64);
}
END_TEST

START_TEST(test_import_with_a_wrong_kcv_or_rsa_oaep_sha256_is_400_and_creates_nothing)
{
	char kek[KM_ID_LEN], name[H_NAME_MAX], kcv[7];
	EVP_PKEY *pub;
	rsa_kek(kek, &pub);
	aes_kcv(known_aes, sizeof known_aes, kcv);
	const char *wrong = strcmp(kcv, "000000") == 0 ? "FFFFFF" : "000000";
	char *wrapped = oaep_wrap(pub, EVP_sha1(), known_aes, sizeof known_aes);
	h_name(name, "badkcv");
	struct h_resp *r = import(name, "AES", 256, kek, "RSA-OAEP-SHA1", wrapped, wrong);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	expect_absent(name);
	/* The right KCV (in lowercase too) is accepted. */
	char lower[7];
	for (int i = 0; i < 7; i++)
		lower[i] = (char)(kcv[i] >= 'A' && kcv[i] <= 'F' ? kcv[i] + 32 : kcv[i]);
	r = import(name, "AES", 256, kek, "RSA-OAEP-SHA1", wrapped, lower);
	h_assert_status(r, 201);
	ck_assert_str_eq(km_s(km_version(r->json, 1), "kcv"), kcv);
	h_resp_free(r);
	free(wrapped);
	/* SoftHSM has no RSA-OAEP with SHA-256: refused, naming the alternative. */
	wrapped = oaep_wrap(pub, EVP_sha256(), known_aes, sizeof known_aes);
	h_name(name, "sha256");
	r = import(name, "AES", 256, kek, "RSA-OAEP-SHA256", wrapped, NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_assert_detail_has(r, "RSA-OAEP-SHA1");
	h_resp_free(r);
	expect_absent(name);
	/* A blob wrapped with SHA-256 but announced as SHA-1 does not unwrap. */
	r = import(name, "AES", 256, kek, "RSA-OAEP-SHA1", wrapped, NULL);
	h_assert_problem(r, 400, "invalid_request");
	h_resp_free(r);
	expect_absent(name);
	free(wrapped);
	EVP_PKEY_free(pub);
}
END_TEST

/* A blob that unwraps to no key of the declared type (a length the type cannot have) is the
 * client's error: 400 invalid_request, and nothing is created. */
START_TEST(test_import_under_rsa_oaep_of_a_value_no_key_of_the_type_can_have_is_400_and_creates_nothing)
{
	char kek[KM_ID_LEN];
	EVP_PKEY *pub;
	rsa_kek(kek, &pub);
	static const struct {
		size_t len;
		const char *type;
		int size;
	} cases[] = {{20, "AES", 256}, {8, "TDES", 128}, {32, "TDES", 192}};
	uint8_t value[32];
	for (size_t i = 0; i < sizeof value; i++)
		value[i] = (uint8_t)(0x41 + i);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char name[H_NAME_MAX];
		h_name(name, "badlen");
		char *wrapped = oaep_wrap(pub, EVP_sha1(), value, cases[i].len);
		struct h_resp *r = import(name, cases[i].type, cases[i].size, kek, "RSA-OAEP-SHA1", wrapped, NULL);
		ck_assert_msg(r->status == 400, "%zu bytes as %s %d: expected 400, got %ld: %.300s", cases[i].len,
			      cases[i].type, cases[i].size, r->status, r->body);
		h_assert_problem(r, 400, "invalid_request");
		h_resp_free(r);
		free(wrapped);
		expect_absent(name);
	}
	EVP_PKEY_free(pub);
}
END_TEST

/* POST /v1/keys/{key}/export. */
static struct h_resp *export(const char *key, const char *kek, const char *alg)
{
	char body[256];
	snprintf(body, sizeof body, "{\"wrapping_key\":\"%s\",\"algorithm\":\"%s\"}", kek, alg);
	return km_act(key, "export", body);
}

START_TEST(test_export_and_import_under_aes_kwp_keep_the_kcv_and_the_import_is_not_exportable)
{
	char src[KM_ID_LEN], kek[KM_ID_LEN], name[H_NAME_MAX];
	struct h_resp *s = km_key("exp", json_pack("{s:s, s:b}", "type", "AES", "exportable", 1), src, NULL);
	ck_assert(json_is_true(json_object_get(s->json, "exportable")));
	const char *src_kcv = km_s(km_version(s->json, 1), "kcv");
	km_key_id("kwp", json_pack("{s:s, s:[s, s]}", "type", "AES", "usage", "wrap", "unwrap"), kek, NULL);
	struct h_resp *r = export(src, kek, "AES-KWP");
	h_assert_status(r, 200);
	ck_assert_str_eq(h_str(r, "algorithm"), "AES-KWP");
	ck_assert_int_eq(km_int(r->json, "key_version"), 1);
	ck_assert_int_eq(km_int(r->json, "wrapping_key_version"), 1);
	size_t n;
	unsigned char *blob = h_unb64(h_str(r, "wrapped_key"), &n);
	ck_assert_uint_eq(n, 40); /* RFC 5649 of 32 bytes */
	free(blob);
	h_name(name, "reimport");
	struct h_resp *i = import(name, "AES", 256, kek, "AES-KWP", h_str(r, "wrapped_key"), src_kcv);
	h_assert_status(i, 201);
	ck_assert_str_ne(h_str(i, "id"), src);
	ck_assert_str_eq(km_s(km_version(i->json, 1), "kcv"), src_kcv);
	ck_assert(json_is_false(json_object_get(i->json, "exportable")));
	char imp[KM_ID_LEN];
	snprintf(imp, sizeof imp, "%s", h_str(i, "id"));
	struct hg_p11_attrs a;
	km_attrs(imp, 1, true, &a);
	ck_assert(a.found && a.sensitive && !a.extractable);
	/* And so it cannot be exported in turn. */
	struct h_resp *again = export(imp, kek, "AES-KWP");
	h_assert_problem(again, 403, "key_usage");
	h_resp_free(again);
	h_resp_free(i);
	h_resp_free(r);
	h_resp_free(s);
}
END_TEST

START_TEST(test_import_under_aes_kwp_of_a_key_of_another_size_is_400_and_creates_nothing)
{
	char src[KM_ID_LEN], kek[KM_ID_LEN], name[H_NAME_MAX];
	km_key_id("exp128", json_pack("{s:s, s:i, s:b}", "type", "AES", "size", 128, "exportable", 1), src, NULL);
	km_key_id("kwp", json_pack("{s:s, s:[s, s]}", "type", "AES", "usage", "wrap", "unwrap"), kek, NULL);
	struct h_resp *r = export(src, kek, "AES-KWP");
	h_assert_status(r, 200);
	static const char *const as[][2] = {{"AES", "256"}, {"AES", "192"}, {"TDES", "192"}, {"HMAC", "256"}};
	for (size_t i = 0; i < sizeof as / sizeof *as; i++) {
		h_name(name, "kwpsize");
		struct h_resp *i2 =
		    import(name, as[i][0], atoi(as[i][1]), kek, "AES-KWP", h_str(r, "wrapped_key"), NULL);
		ck_assert_msg(i2->status == 400, "AES-128 imported as %s %s: %ld %.300s", as[i][0], as[i][1],
			      i2->status, i2->body);
		h_assert_problem(i2, 400, "invalid_request");
		h_resp_free(i2);
		expect_absent(name);
	}
	/* The control: as what it is, it imports. */
	h_name(name, "kwpsize");
	struct h_resp *ok = import(name, "AES", 128, kek, "AES-KWP", h_str(r, "wrapped_key"), NULL);
	h_assert_status(ok, 201);
	h_resp_free(ok);
	h_resp_free(r);
}
END_TEST

START_TEST(test_export_refusals_non_exportable_key_or_wrapping_key_without_wrap_is_403_key_usage)
{
	char plain[KM_ID_LEN], src[KM_ID_LEN], kek[KM_ID_LEN], unwrap_only[KM_ID_LEN], enc[KM_ID_LEN];
	km_key_id("noexp", json_pack("{s:s}", "type", "AES"), plain, NULL);
	km_key_id("exp", json_pack("{s:s, s:b}", "type", "AES", "exportable", 1), src, NULL);
	km_key_id("kwp", json_pack("{s:s, s:[s, s]}", "type", "AES", "usage", "wrap", "unwrap"), kek, NULL);
	km_key_id("unwraponly", json_pack("{s:s, s:[s]}", "type", "AES", "usage", "unwrap"), unwrap_only, NULL);
	km_key_id("enc", json_pack("{s:s}", "type", "AES"), enc, NULL);
	struct h_resp *r = export(plain, kek, "AES-KWP");
	h_assert_problem(r, 403, "key_usage");
	ck_assert_ptr_null(h_str(r, "wrapped_key"));
	h_resp_free(r);
	r = export(src, unwrap_only, "AES-KWP");
	h_assert_problem(r, 403, "key_usage");
	h_resp_free(r);
	r = export(src, enc, "AES-KWP");
	h_assert_problem(r, 403, "key_usage");
	h_resp_free(r);
	r = export(src, kek, "AES-KWP"); /* the control: this one works */
	h_assert_status(r, 200);
	h_resp_free(r);
}
END_TEST

START_TEST(test_export_with_a_wrapping_key_of_the_wrong_type_for_the_algorithm_is_400)
{
	char src[KM_ID_LEN], tdes[KM_ID_LEN], ec[KM_ID_LEN], aes[KM_ID_LEN];
	km_key_id("exp", json_pack("{s:s, s:b}", "type", "AES", "exportable", 1), src, NULL);
	km_key_id("tdeskek", json_pack("{s:s, s:[s, s]}", "type", "TDES", "usage", "wrap", "unwrap"), tdes, NULL);
	km_key_id("eckek", json_pack("{s:s, s:s}", "type", "EC", "curve", "P-256"), ec, NULL);
	km_key_id("aeskek", json_pack("{s:s, s:[s, s]}", "type", "AES", "usage", "wrap", "unwrap"), aes, NULL);
	const char *const cases[][2] = {
	    {tdes, "AES-KWP"}, {ec, "AES-KWP"}, {aes, "RSA-OAEP-SHA1"}, {aes, "RSA-OAEP-SHA256"}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct h_resp *r = export(src, cases[i][0], cases[i][1]);
		ck_assert_msg(r->status == 400, "%s under a wrong key: %ld %.600s", cases[i][1], r->status, r->body);
		h_assert_problem(r, 400, "invalid_request");
		h_resp_free(r);
	}
}
END_TEST

/* The base64url of the big-endian bytes of a BIGNUM parameter, left-padded to len (0: none). */
static char *bn_param_b64url(const EVP_PKEY *pk, const char *param, size_t len)
{
	BIGNUM *bn = NULL;
	ck_assert(EVP_PKEY_get_bn_param(pk, param, &bn));
	size_t n = len ? len : (size_t)BN_num_bytes(bn);
	uint8_t *buf = malloc(n);
	ck_assert(BN_bn2binpad(bn, buf, (int)n) == (int)n);
	char *s = h_b64url(buf, n);
	free(buf);
	BN_free(bn);
	return s;
}

/* The JWK member equals s (which it frees). */
static void expect_member(const json_t *jwk, const char *member, char *s)
{
	const char *got = km_s(jwk, member);
	ck_assert_msg(got && strcmp(got, s) == 0, "jwk.%s is %s, the PEM says %s", member, got ? got : "(none)", s);
	free(s);
}

/* Creates a key pair, fetches its public key and checks the PEM and the JWK against each other. */
static void expect_public_key(json_t *spec, int base_id, const char *kty, const char *crv, size_t coord_len)
{
	char id[KM_ID_LEN], kid[KM_ID_LEN];
	km_key_id("pub", spec, id, NULL);
	EVP_PKEY *pk;
	struct h_resp *r = public_key(id, &pk);
	ck_assert_msg(EVP_PKEY_get_base_id(pk) == base_id, "PEM key type %d, expected %d", EVP_PKEY_get_base_id(pk),
		      base_id);
	ck_assert_int_eq(km_int(r->json, "version"), 1);
	json_t *jwk = json_object_get(r->json, "jwk");
	ck_assert_msg(json_is_object(jwk), "no jwk: %.600s", r->body);
	ck_assert_str_eq(km_s(jwk, "kty"), kty);
	hg_uuid hsm;
	km_hsm_id(id, 1, &hsm);
	uuid_format(&hsm, kid);
	ck_assert_str_eq(km_s(jwk, "kid"), kid);
	if (crv)
		ck_assert_str_eq(km_s(jwk, "crv"), crv);
	if (base_id == EVP_PKEY_RSA) {
		ck_assert_int_eq(EVP_PKEY_get_bits(pk), 2048);
		expect_member(jwk, "n", bn_param_b64url(pk, OSSL_PKEY_PARAM_RSA_N, 0));
		expect_member(jwk, "e", bn_param_b64url(pk, OSSL_PKEY_PARAM_RSA_E, 0));
		ck_assert_str_eq(km_s(jwk, "e"), "AQAB");
	} else if (base_id == EVP_PKEY_EC) {
		/* From the encoded point 04 ‖ X ‖ Y, independent of how the gateway got x and y. */
		uint8_t pt[1 + 2 * 66];
		size_t n = 0;
		ck_assert(EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof pt, &n));
		ck_assert(n == 1 + 2 * coord_len && pt[0] == 0x04);
		expect_member(jwk, "x", h_b64url(pt + 1, coord_len));
		expect_member(jwk, "y", h_b64url(pt + 1 + coord_len, coord_len));
	} else {
		uint8_t raw[32];
		size_t n = sizeof raw;
		ck_assert(EVP_PKEY_get_raw_public_key(pk, raw, &n) && n == 32);
		expect_member(jwk, "x", h_b64url(raw, n));
	}
	EVP_PKEY_free(pk);
	h_resp_free(r);
}

START_TEST(test_public_key_pem_parses_in_openssl_and_the_jwk_matches_it)
{
	expect_public_key(json_pack("{s:s, s:i, s:[s, s]}", "type", "RSA", "size", 2048, "usage", "sign", "verify"),
			  EVP_PKEY_RSA, "RSA", NULL, 0);
	expect_public_key(json_pack("{s:s, s:s}", "type", "EC", "curve", "P-256"), EVP_PKEY_EC, "EC", "P-256", 32);
	expect_public_key(json_pack("{s:s, s:s}", "type", "EC", "curve", "P-384"), EVP_PKEY_EC, "EC", "P-384", 48);
	expect_public_key(json_pack("{s:s, s:s}", "type", "EC", "curve", "P-521"), EVP_PKEY_EC, "EC", "P-521", 66);
	expect_public_key(json_pack("{s:s}", "type", "ED25519"), EVP_PKEY_ED25519, "OKP", "Ed25519", 0);
}
END_TEST

START_TEST(test_public_key_of_a_symmetric_key_is_400)
{
	static const char *const types[] = {"AES", "HMAC", "TDES"};
	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		char id[KM_ID_LEN], path[256];
		km_key_id("sym", json_pack("{s:s}", "type", types[i]), id, NULL);
		snprintf(path, sizeof path, "/v1/keys/%s/public-key", id);
		struct h_resp *r = km_send("GET", path, NULL, NULL);
		ck_assert_msg(r->status == 400, "%s public key: %ld %.600s", types[i], r->status, r->body);
		h_assert_problem(r, 400, "invalid_request");
		ck_assert_ptr_null(h_str(r, "pem"));
		h_resp_free(r);
	}
}
END_TEST

TCase *tcase_km_io(void)
{
	TCase *tc = tcase_create("km_io");
	tcase_add_test(tc, test_import_of_a_known_aes256_key_under_rsa_oaep_sha1_has_the_kcv_openssl_computes);
	tcase_add_test(tc, test_import_of_a_known_3_key_tdes_key_has_the_kcv_openssl_computes);
	tcase_add_test(tc, test_data_encrypted_with_the_imported_aes_key_decrypts_in_openssl_with_the_known_key);
	tcase_add_test(tc, test_import_with_a_wrong_kcv_or_rsa_oaep_sha256_is_400_and_creates_nothing);
	tcase_add_test(tc,
		       test_import_under_rsa_oaep_of_a_value_no_key_of_the_type_can_have_is_400_and_creates_nothing);
	tcase_add_test(tc, test_export_and_import_under_aes_kwp_keep_the_kcv_and_the_import_is_not_exportable);
	tcase_add_test(tc, test_import_under_aes_kwp_of_a_key_of_another_size_is_400_and_creates_nothing);
	tcase_add_test(tc, test_export_refusals_non_exportable_key_or_wrapping_key_without_wrap_is_403_key_usage);
	tcase_add_test(tc, test_export_with_a_wrapping_key_of_the_wrong_type_for_the_algorithm_is_400);
	tcase_add_test(tc, test_public_key_pem_parses_in_openssl_and_the_jwk_matches_it);
	tcase_add_test(tc, test_public_key_of_a_symmetric_key_is_400);
	return tc;
}
