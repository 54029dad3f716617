/* Keys in and out of the HSM, never in the clear: the public half of a key pair (PEM and
 * JWK), export of exportable keys wrapped under another of the tenant's keys, and import of
 * keys wrapped by the client. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "api_internal.h"

/* A BIGNUM parameter of pkey as base64url of its big-endian bytes, left-padded to len. */
static json_t *bn_b64url(const EVP_PKEY *pkey, const char *param, size_t len)
{
	BIGNUM *bn = NULL;
	if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
		return json_null();
	size_t n = len ? len : (size_t)BN_num_bytes(bn);
	uint8_t *buf = malloc(n);
	char *out = malloc(b64_encoded_len(n) + 1);
	BN_bn2binpad(bn, buf, (int)n);
	b64url_encode(buf, n, out);
	json_t *j = json_string(out);
	free(buf);
	free(out);
	BN_free(bn);
	return j;
}

/* RFC 7517/7518/8037 JWK of a public key. */
static json_t *jwk_of(const EVP_PKEY *pkey, const char *kid)
{
	int id = EVP_PKEY_get_base_id(pkey);
	if (id == EVP_PKEY_RSA)
		return json_pack("{s:s, s:s, s:o, s:o}", "kty", "RSA", "kid", kid, "n",
				 bn_b64url(pkey, OSSL_PKEY_PARAM_RSA_N, 0), "e",
				 bn_b64url(pkey, OSSL_PKEY_PARAM_RSA_E, 0));
	if (id == EVP_PKEY_ED25519) {
		uint8_t raw[32];
		size_t n = sizeof raw;
		char x[64];
		if (!EVP_PKEY_get_raw_public_key(pkey, raw, &n))
			return NULL;
		b64url_encode(raw, n, x);
		return json_pack("{s:s, s:s, s:s, s:s}", "kty", "OKP", "kid", kid, "crv", "Ed25519", "x", x);
	}
	if (id == EVP_PKEY_EC) {
		char group[32];
		if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL))
			return NULL;
		const char *crv = strcmp(group, "prime256v1") == 0  ? "P-256"
				  : strcmp(group, "secp384r1") == 0 ? "P-384"
								    : "P-521";
		size_t len = strcmp(crv, "P-256") == 0 ? 32 : strcmp(crv, "P-384") == 0 ? 48 : 66;
		return json_pack("{s:s, s:s, s:s, s:o, s:o}", "kty", "EC", "kid", kid, "crv", crv, "x",
				 bn_b64url(pkey, OSSL_PKEY_PARAM_EC_PUB_X, len), "y",
				 bn_b64url(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, len));
	}
	return NULL;
}

/* The version a read names (?version=), or the primary one. */
static hg_err version_param(struct hg_request *req, const struct hg_key_row *key, const struct hg_version_row **out)
{
	const char *vs = http_query(req, "version");
	char *end;
	long want = vs ? strtol(vs, &end, 10) : key->primary_version;
	if (vs && (*vs == '\0' || *end != '\0' || want < 1))
		return http_fail(req, HG_E_INVALID, "version must be a positive integer");
	for (size_t i = 0; i < key->n_versions; i++) {
		if (key->versions[i].version != want)
			continue;
		if (strcmp(key->versions[i].state, "destroyed") == 0)
			return http_fail(req, HG_E_KEY_STATE, "key version %ld is destroyed", want);
		*out = &key->versions[i];
		return HG_OK;
	}
	return http_fail(req, HG_E_NOT_FOUND, "the key has no version %ld", want);
}

hg_err api_keys_public_key(struct hg_request *req)
{
	struct hg_key_row *key = NULL;
	const struct hg_version_row *v = NULL;
	struct hg_p11_keyspec spec;
	uint8_t *der = NULL;
	size_t n = 0;
	EVP_PKEY *pkey = NULL;
	hg_err e = api_key_resolve(req, &key);
	if (e == HG_OK && (e = keys_p11_spec(key, &spec)) == HG_OK && spec.type != HG_KT_RSA && spec.type != HG_KT_EC &&
	    spec.type != HG_KT_ED25519)
		e = http_fail(req, HG_E_INVALID, "%s keys are symmetric: they have no public key", key->type);
	if (e == HG_OK)
		e = version_param(req, key, &v);
	if (e == HG_OK) {
		req->used_hsm = true;
		req->key_version = v->version;
		e = p11_public_key_der(app_of(req)->p11, &v->id, spec.type, &der, &n);
	}
	const uint8_t *p = der;
	if (e == HG_OK && !(pkey = d2i_PUBKEY(NULL, &p, (long)n)))
		e = http_fail(req, HG_E_INTERNAL, "the HSM returned a public key that does not parse");
	if (e == HG_OK) {
		BIO *bio = BIO_new(BIO_s_mem());
		PEM_write_bio_PUBKEY(bio, pkey);
		char *pem;
		long plen = BIO_get_mem_data(bio, &pem);
		char kid[HG_UUID_STR_LEN + 1];
		uuid_format(&v->id, kid);
		json_t *jwk = jwk_of(pkey, kid);
		http_reply(req, 200,
			   json_pack("{s:s%, s:o, s:i}", "pem", pem, (size_t)plen, "jwk", jwk ? jwk : json_null(),
				     "version", v->version));
		BIO_free(bio);
	}
	EVP_PKEY_free(pkey);
	free(der);
	key_row_free(key);
	return e;
}

static const char *const wrap_algs[] = {"AES-KWP", "RSA-OAEP-SHA256", "RSA-OAEP-SHA1", NULL};

static enum hg_wrap_alg wrap_alg_of(const char *name)
{
	return strcmp(name, "AES-KWP") == 0           ? HG_WRAP_AES_KWP
	       : strcmp(name, "RSA-OAEP-SHA256") == 0 ? HG_WRAP_RSA_OAEP_SHA256
						      : HG_WRAP_RSA_OAEP_SHA1;
}

/* The tenant's wrapping key named in the request, checked for the usage (wrap or unwrap)
 * and state the operation needs, with the version to use. */
static hg_err wrapping_key(struct hg_request *req, const char *name, const char *alg, enum hg_usage use,
			   struct hg_key_row **out, const struct hg_version_row **v)
{
	hg_err e = keys_resolve(&app_of(req)->keys, req->who.tenant->name, name, out);
	if (e == HG_E_NOT_FOUND)
		return http_fail(req, e, "no wrapping key %s", keys_looks_like_uuid(name) ? name : "with that name");
	if (e != HG_OK)
		return e;
	bool rsa = strncmp(alg, "RSA-", 4) == 0;
	if (strcmp((*out)->type, rsa ? "RSA" : "AES") != 0)
		return http_fail(req, HG_E_INVALID, "%s needs an %s wrapping key", alg, rsa ? "RSA" : "AES");
	if (!p11_wrap_alg_supported(app_of(req)->p11, wrap_alg_of(alg)))
		return http_fail(req, HG_E_INVALID, "this HSM does not implement %s; use %s", alg,
				 rsa ? "RSA-OAEP-SHA1 or AES-KWP" : "RSA-OAEP-SHA1");
	return keys_version_for(*out, use, 0, v, req->detail, sizeof req->detail);
}

struct export_in {
	const char *wrapping_key, *algorithm;
};

static const struct hg_field export_fields[] = {
    {"wrapping_key", HG_F_STRING, true, offsetof(struct export_in, wrapping_key), 1, HG_MAX_NAME, NULL},
    {"algorithm", HG_F_STRING, true, offsetof(struct export_in, algorithm), 1, 32, wrap_algs},
};

hg_err api_keys_export(struct hg_request *req)
{
	struct export_in in = {0};
	json_t *root;
	struct hg_key_row *key = NULL, *wk = NULL;
	const struct hg_version_row *wv = NULL, *v = NULL;
	struct hg_p11_keyspec spec;
	uint8_t *wrapped = NULL;
	size_t n = 0;
	hg_err e = api_parse(req, export_fields, NFIELDS(export_fields), &in, &root);
	if (e == HG_OK)
		e = api_key_resolve(req, &key);
	if (e == HG_OK && !key->exportable)
		e = http_fail(req, HG_E_KEY_USAGE, "the key was not created exportable; it never leaves the HSM");
	if (e == HG_OK && !keys_state_allows(key->state, true))
		e = http_fail(req, HG_E_KEY_STATE, "the key is %s", key->state);
	if (e == HG_OK)
		e = version_param(req, key, &v);
	if (e == HG_OK)
		e = wrapping_key(req, in.wrapping_key, in.algorithm, HG_USE_WRAP, &wk, &wv);
	if (e == HG_OK)
		e = keys_p11_spec(key, &spec);
	if (e == HG_OK) {
		req->used_hsm = true;
		req->key_version = v->version;
		e = p11_wrap(app_of(req)->p11, &wv->id, wrap_alg_of(in.algorithm), &v->id, spec.type, &wrapped, &n);
		if (e == HG_E_INVALID)
			http_fail(req, e, "%s cannot wrap a %s key", in.algorithm, key->type);
	}
	if (e == HG_OK) {
		char *b64 = malloc(b64_encoded_len(n) + 1);
		b64_encode(wrapped, n, b64);
		http_reply(req, 200,
			   json_pack("{s:s, s:s, s:i, s:i}", "wrapped_key", b64, "algorithm", in.algorithm,
				     "key_version", v->version, "wrapping_key_version", wv->version));
		free(b64);
	}
	free(wrapped);
	key_row_free(key);
	key_row_free(wk);
	json_decref(root);
	return e;
}

struct import_in {
	const char *name, *type, *curve, *description, *wrapping_key, *algorithm, *kcv;
	long size;
	bool exportable;
	json_t *usage, *labels;
	struct hg_bytes wrapped_key;
};

static const char *const types[] = {"AES", "TDES", "HMAC", "RSA", "EC", NULL};
static const char *const curves_[] = {"P-256", "P-384", "P-521", NULL};
static const struct hg_field import_fields[] = {
    {"name", HG_F_STRING, true, offsetof(struct import_in, name), 1, HG_MAX_NAME, NULL},
    {"type", HG_F_STRING, true, offsetof(struct import_in, type), 1, 16, types},
    {"size", HG_F_INT, false, offsetof(struct import_in, size), 1, 65536, NULL},
    {"curve", HG_F_STRING, false, offsetof(struct import_in, curve), 1, 8, curves_},
    {"usage", HG_F_STRINGS, false, offsetof(struct import_in, usage), 1, HG_USE_COUNT, hg_usage_names},
    {"labels", HG_F_LABELS, false, offsetof(struct import_in, labels), 0, 64, NULL},
    {"description", HG_F_STRING, false, offsetof(struct import_in, description), 0, 1024, NULL},
    {"exportable", HG_F_BOOL, false, offsetof(struct import_in, exportable), 0, 0, NULL},
    {"wrapping_key", HG_F_STRING, true, offsetof(struct import_in, wrapping_key), 1, HG_MAX_NAME, NULL},
    {"algorithm", HG_F_STRING, true, offsetof(struct import_in, algorithm), 1, 32, wrap_algs},
    {"wrapped_key", HG_F_BASE64, true, offsetof(struct import_in, wrapped_key), 1, 16384, NULL},
    {"kcv", HG_F_STRING, false, offsetof(struct import_in, kcv), 6, 6, NULL},
};

hg_err api_keys_import(struct hg_request *req)
{
	struct import_in in = {0};
	json_t *root;
	struct hg_key_row *wk = NULL, *key = NULL;
	const struct hg_version_row *wv = NULL;
	hg_err e = api_parse(req, import_fields, NFIELDS(import_fields), &in, &root);
	if (e == HG_OK)
		e = wrapping_key(req, in.wrapping_key, in.algorithm, HG_USE_UNWRAP, &wk, &wv);
	char *labels = in.labels ? json_dumps(in.labels, JSON_COMPACT) : NULL;
	if (e == HG_OK) {
		struct hg_key_spec spec = {.name = in.name,
					   .type = in.type,
					   .size = (int)in.size,
					   .curve = in.curve,
					   .usage = api_usage_bits(in.usage),
					   .labels_json = labels,
					   .description = in.description,
					   .exportable = in.exportable};
		struct hg_key_wrapped w = {.unwrapping_id = &wv->id,
					   .alg = wrap_alg_of(in.algorithm),
					   .data = in.wrapped_key.p,
					   .len = in.wrapped_key.n,
					   .kcv = in.kcv};
		struct hg_actor actor = api_actor(req);
		req->used_hsm = true;
		e = keys_import(&app_of(req)->keys, req->who.tenant->name, &spec, &w, &actor, &key, req->detail,
				sizeof req->detail);
	}
	if (e == HG_OK) {
		char id[HG_UUID_STR_LEN + 1];
		uuid_format(&key->id, id);
		req->has_key = true;
		req->key_id = key->id;
		req->key_version = 1;
		snprintf(req->location, sizeof req->location, "/v1/keys/%s", id);
		http_reply(req, 201, api_key_json(key));
	}
	free(labels);
	key_row_free(key);
	key_row_free(wk);
	api_bytes_free(&in.wrapped_key);
	json_decref(root);
	return e;
}

const struct api_body_spec api_keys_io_bodies[] = {
    API_BODY("POST /v1/keys/{key}/export", export_fields, struct export_in),
    API_BODY("POST /v1/keys/import", import_fields, struct import_in),
    {NULL, NULL, 0, 0},
};
