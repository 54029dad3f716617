/* /v1/keys/{key}/encrypt and /decrypt, and the ciphertext envelope. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "api_internal.h"

#define MAX_PLAINTEXT (512 * 1024)
#define MAX_AAD       (64 * 1024)

char *api_envelope_format(int version, const uint8_t *raw, size_t n)
{
	size_t cap = 32 + b64_encoded_len(n) + 1;
	char *out = malloc(cap);
	int p = snprintf(out, cap, "hsmgw:v%d:", version);
	b64_encode(raw, n, out + p);
	return out;
}

bool api_envelope_parse(const char *s, size_t len, int *version, uint8_t **raw, size_t *n)
{
	static const char prefix[] = "hsmgw:v";
	size_t pl = sizeof prefix - 1;
	if (len < pl + 3 || memcmp(s, prefix, pl) != 0)
		return false;
	size_t i = pl;
	long long v = 0;
	if (s[i] < '1' || s[i] > '9')
		return false;
	while (i < len && s[i] >= '0' && s[i] <= '9' && v <= 0x7fffffff)
		v = v * 10 + (s[i++] - '0');
	if (v > 0x7fffffff || i >= len || s[i] != ':')
		return false;
	i++;
	if (b64_decode(s + i, len - i, HG_ENVELOPE_MAX_RAW, raw, n) != 0)
		return false;
	*version = (int)v;
	return true;
}

/* The encryption algorithms, the key type each needs, and the defaults. */
static const char *const enc_algs[] = {"AES-GCM", "AES-CBC-PAD", "RSA-OAEP-SHA256", NULL};

static hg_err pick_enc(struct hg_request *req, const struct hg_key_row *key, const char *name, const char **out)
{
	bool rsa = strcmp(key->type, "RSA") == 0;
	if (!rsa && strcmp(key->type, "AES") != 0)
		return http_fail(req, HG_E_INVALID, "%s keys do not encrypt; AES and RSA keys do", key->type);
	*out = name ? name : rsa ? "RSA-OAEP-SHA256" : "AES-GCM";
	if (rsa != (strncmp(*out, "RSA", 3) == 0))
		return http_fail(req, HG_E_INVALID, "%s does not fit a %s key", *out, key->type);
	return HG_OK;
}

/* RSA-OAEP-SHA256 encryption needs only the public key: done here with OpenSSL. */
static hg_err rsa_oaep_encrypt(struct hg_request *req, const hg_uuid *id, const struct hg_bytes *pt, uint8_t **out,
			       size_t *out_len)
{
	uint8_t *der = NULL;
	size_t n = 0;
	hg_err e = p11_public_key_der(app_of(req)->p11, id, HG_KT_RSA, &der, &n);
	if (e != HG_OK)
		return e;
	const uint8_t *p = der;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)n);
	EVP_PKEY_CTX *ctx = pk ? EVP_PKEY_CTX_new(pk, NULL) : NULL;
	size_t len = 0;
	e = HG_E_INTERNAL;
	if (ctx && EVP_PKEY_encrypt_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
	    EVP_PKEY_encrypt(ctx, NULL, &len, pt->p, pt->n) == 1) {
		*out = malloc(len);
		if (EVP_PKEY_encrypt(ctx, *out, &len, pt->p, pt->n) == 1) {
			*out_len = len;
			e = HG_OK;
		} else {
			size_t max = (size_t)EVP_PKEY_get_size(pk) - 66;
			e = http_fail(req, HG_E_INVALID, "RSA-OAEP-SHA256 with this key takes at most %zu bytes", max);
		}
	}
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	free(der);
	return e;
}

/* Protects pt under version v with algorithm alg; *out (IV ‖ ciphertext ‖ tag for GCM) is
 * malloc'd. */
static hg_err protect(struct hg_request *req, const struct hg_version_row *v, const char *alg,
		      const struct hg_bytes *pt, const struct hg_bytes *aad, uint8_t **out, size_t *out_len)
{
	struct hg_p11 *p11 = app_of(req)->p11;
	req->used_hsm = true;
	if (strcmp(alg, "RSA-OAEP-SHA256") == 0)
		return rsa_oaep_encrypt(req, &v->id, pt, out, out_len);
	if (strcmp(alg, "AES-CBC-PAD") == 0) {
		*out = malloc(HG_CBC_IV_LEN + pt->n + 16);
		return p11_aes_cbc_encrypt(p11, &v->id, pt->p, pt->n, *out, out_len);
	}
	*out_len = HG_GCM_IV_LEN + pt->n + HG_GCM_TAG_LEN;
	*out = malloc(*out_len);
	return p11_aes_gcm_encrypt(p11, &v->id, aad->p, aad->n, pt->p, pt->n, *out);
}

/* The size of the plaintext buffer unprotect allocates for n bytes of ciphertext (RSA needs
 * room for a whole modulus). */
static size_t pt_cap(size_t n)
{
	return n > HG_RSA_MAX_BYTES ? n : HG_RSA_MAX_BYTES;
}

/* The reverse; *pt (malloc'd, pt_cap(n) bytes, wiped by the caller with hg_free_secret)
 * holds *pt_len bytes. */
static hg_err unprotect(struct hg_request *req, const struct hg_version_row *v, const char *alg, const uint8_t *in,
			size_t n, const struct hg_bytes *aad, uint8_t **pt, size_t *pt_len)
{
	struct hg_p11 *p11 = app_of(req)->p11;
	req->used_hsm = true;
	*pt = malloc(pt_cap(n));
	hg_err e;
	if (strcmp(alg, "RSA-OAEP-SHA256") == 0)
		e = p11_rsa_oaep_decrypt(p11, &v->id, in, n, *pt, pt_len);
	else if (strcmp(alg, "AES-CBC-PAD") == 0)
		e = p11_aes_cbc_decrypt(p11, &v->id, in, n, *pt, pt_len);
	else
		e = p11_aes_gcm_decrypt(p11, &v->id, aad->p, aad->n, in, n, *pt, pt_len);
	if (e == HG_E_INVALID)
		http_fail(req, e,
			  strcmp(alg, "AES-GCM") ? "the ciphertext does not decrypt under this key"
						 : "the ciphertext and aad do not authenticate under this key");
	return e;
}

static void reply_ciphertext(struct hg_request *req, int version, const char *alg, const uint8_t *ct, size_t n,
			     json_t *extra)
{
	char *env = api_envelope_format(version, ct, n);
	json_t *body = json_pack("{s:s, s:i, s:s}", "ciphertext", env, "key_version", version, "algorithm", alg);
	if (extra)
		json_object_update(body, extra);
	json_decref(extra);
	http_reply(req, 200, body);
	free(env);
}

struct crypt_in {
	struct hg_bytes plaintext, aad;
	const char *algorithm, *ciphertext;
	long bits;
};

static void free_crypt(struct crypt_in *in, json_t *root, struct hg_key_row *key)
{
	api_bytes_free(&in->plaintext);
	api_bytes_free(&in->aad);
	key_row_free(key);
	json_decref(root);
}

/* aad is for AES-GCM only. */
static hg_err check_aad(struct hg_request *req, const struct crypt_in *in, const char *alg)
{
	return in->aad.set && strcmp(alg, "AES-GCM") != 0 ? http_fail(req, HG_E_INVALID, "aad is for AES-GCM only")
							  : HG_OK;
}

static const struct hg_field encrypt_fields[] = {
    {"plaintext", HG_F_BASE64, true, offsetof(struct crypt_in, plaintext), 0, MAX_PLAINTEXT, NULL},
    {"aad", HG_F_BASE64, false, offsetof(struct crypt_in, aad), 0, MAX_AAD, NULL},
    {"algorithm", HG_F_STRING, false, offsetof(struct crypt_in, algorithm), 1, 32, enc_algs},
};

hg_err api_crypto_encrypt(struct hg_request *req)
{
	if (api_batch_requested(req))
		return api_run_batch(req);
	struct crypt_in in = {0};
	json_t *root;
	struct hg_key_row *key = NULL;
	const struct hg_version_row *v = NULL;
	const char *alg = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;
	hg_err e = api_parse(req, encrypt_fields, NFIELDS(encrypt_fields), &in, &root);
	if (e == HG_OK)
		e = api_key_resolve(req, &key);
	if (e == HG_OK)
		e = keys_version_for(key, HG_USE_ENCRYPT, 0, &v, req->detail, sizeof req->detail);
	if (e == HG_OK)
		e = pick_enc(req, key, in.algorithm, &alg);
	if (e == HG_OK)
		e = check_aad(req, &in, alg);
	if (e == HG_OK) {
		req->key_version = v->version;
		e = protect(req, v, alg, &in.plaintext, &in.aad, &out, &out_len);
	}
	if (e == HG_OK)
		reply_ciphertext(req, v->version, alg, out, out_len, NULL);
	free(out);
	free_crypt(&in, root, key);
	return e;
}

/* The body of decrypt and reencrypt. */
static const struct hg_field unprotect_fields[] = {
    {"ciphertext", HG_F_STRING, true, offsetof(struct crypt_in, ciphertext), 1, 2 * HG_ENVELOPE_MAX_RAW, NULL},
    {"aad", HG_F_BASE64, false, offsetof(struct crypt_in, aad), 0, MAX_AAD, NULL},
    {"algorithm", HG_F_STRING, false, offsetof(struct crypt_in, algorithm), 1, 32, enc_algs},
};

/* Parses the envelope and resolves the version it names for decryption. */
static hg_err open_envelope(struct hg_request *req, const struct hg_key_row *key, const char *ciphertext,
			    const struct hg_version_row **v, uint8_t **raw, size_t *raw_len)
{
	int version;
	if (!api_envelope_parse(ciphertext, strlen(ciphertext), &version, raw, raw_len))
		return http_fail(req, HG_E_INVALID, "ciphertext is not a hsmgw:v<N>:<base64> envelope");
	return keys_version_for(key, HG_USE_DECRYPT, version, v, req->detail, sizeof req->detail);
}

hg_err api_crypto_decrypt(struct hg_request *req)
{
	if (api_batch_requested(req))
		return api_run_batch(req);
	struct crypt_in in = {0};
	json_t *root;
	struct hg_key_row *key = NULL;
	const struct hg_version_row *v = NULL;
	const char *alg = NULL;
	uint8_t *raw = NULL, *pt = NULL;
	size_t raw_len = 0, pt_len = 0;
	hg_err e = api_parse(req, unprotect_fields, NFIELDS(unprotect_fields), &in, &root);
	if (e == HG_OK)
		e = api_key_resolve(req, &key);
	if (e == HG_OK)
		e = pick_enc(req, key, in.algorithm, &alg);
	if (e == HG_OK)
		e = check_aad(req, &in, alg);
	if (e == HG_OK)
		e = open_envelope(req, key, in.ciphertext, &v, &raw, &raw_len);
	if (e == HG_OK) {
		req->key_version = v->version;
		e = unprotect(req, v, alg, raw, raw_len, &in.aad, &pt, &pt_len);
	}
	if (e == HG_OK) {
		char *b64 = malloc(b64_encoded_len(pt_len) + 1);
		b64_encode(pt, pt_len, b64);
		http_reply(req, 200,
			   json_pack("{s:s, s:i, s:s}", "plaintext", b64, "key_version", v->version, "algorithm", alg));
		hg_free_secret(b64, strlen(b64) + 1);
	}
	hg_free_secret(pt, pt_cap(raw_len));
	hg_free_secret(raw, raw_len);
	free_crypt(&in, root, key);
	return e;
}

/* Decrypts under the version the ciphertext names and encrypts again under the primary. */
hg_err api_crypto_reencrypt(struct hg_request *req)
{
	struct crypt_in in = {0};
	json_t *root;
	struct hg_key_row *key = NULL;
	const struct hg_version_row *old = NULL, *v = NULL;
	const char *alg = NULL;
	uint8_t *raw = NULL, *out = NULL;
	size_t raw_len = 0, out_len = 0;
	struct hg_bytes pt = {0};
	hg_err e = api_parse(req, unprotect_fields, NFIELDS(unprotect_fields), &in, &root);
	if (e == HG_OK)
		e = api_key_resolve(req, &key);
	if (e == HG_OK)
		e = pick_enc(req, key, in.algorithm, &alg);
	if (e == HG_OK)
		e = check_aad(req, &in, alg);
	if (e == HG_OK)
		e = keys_version_for(key, HG_USE_ENCRYPT, 0, &v, req->detail, sizeof req->detail);
	if (e == HG_OK)
		e = open_envelope(req, key, in.ciphertext, &old, &raw, &raw_len);
	if (e == HG_OK)
		e = unprotect(req, old, alg, raw, raw_len, &in.aad, &pt.p, &pt.n);
	if (e == HG_OK) {
		req->key_version = v->version;
		e = protect(req, v, alg, &pt, &in.aad, &out, &out_len);
	}
	if (e == HG_OK)
		reply_ciphertext(req, v->version, alg, out, out_len, NULL);
	hg_free_secret(pt.p, pt_cap(raw_len));
	hg_free_secret(raw, raw_len);
	free(out);
	free_crypt(&in, root, key);
	return e;
}

static const struct hg_field datakey_fields[] = {
    {"bits", HG_F_INT, false, offsetof(struct crypt_in, bits), 128, 256, NULL},
    {"aad", HG_F_BASE64, false, offsetof(struct crypt_in, aad), 0, MAX_AAD, NULL},
};

/* A fresh data key from the HSM's RNG: returned once in the clear and encrypted under the
 * key (AES-GCM), for envelope encryption by the client. */
hg_err api_crypto_datakey(struct hg_request *req)
{
	struct crypt_in in = {.bits = 256};
	json_t *root;
	struct hg_key_row *key = NULL;
	const struct hg_version_row *v = NULL;
	uint8_t dk[32], *out = NULL;
	size_t out_len = 0;
	hg_err e = api_parse(req, datakey_fields, NFIELDS(datakey_fields), &in, &root);
	if (e == HG_OK && in.bits != 128 && in.bits != 256)
		e = http_fail(req, HG_E_INVALID, "field 'bits' must be 128 or 256");
	if (e == HG_OK)
		e = api_key_resolve(req, &key);
	if (e == HG_OK)
		e = keys_version_for(key, HG_USE_ENCRYPT, 0, &v, req->detail, sizeof req->detail);
	if (e == HG_OK && strcmp(key->type, "AES") != 0)
		e = http_fail(req, HG_E_INVALID, "data keys are encrypted under AES keys");
	struct hg_bytes pt = {.p = dk, .n = (size_t)in.bits / 8};
	if (e == HG_OK) {
		req->key_version = v->version;
		req->used_hsm = true;
		e = p11_random(app_of(req)->p11, dk, pt.n);
	}
	if (e == HG_OK)
		e = protect(req, v, "AES-GCM", &pt, &in.aad, &out, &out_len);
	if (e == HG_OK) {
		char b64[64];
		b64_encode(dk, pt.n, b64);
		reply_ciphertext(req, v->version, "AES-GCM", out, out_len, json_pack("{s:s}", "plaintext", b64));
		OPENSSL_cleanse(b64, sizeof b64);
	}
	OPENSSL_cleanse(dk, sizeof dk);
	free(out);
	free_crypt(&in, root, key);
	return e;
}

const struct api_body_spec api_crypto_bodies[] = {
    API_BODY("POST /v1/keys/{key}/encrypt", encrypt_fields, struct crypt_in),
    API_BODY("POST /v1/keys/{key}/decrypt, /reencrypt", unprotect_fields, struct crypt_in),
    API_BODY("POST /v1/keys/{key}/datakey", datakey_fields, struct crypt_in),
    {NULL, NULL, 0, 0},
};
