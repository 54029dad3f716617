/* /v1/keys/{key}/encrypt and /decrypt, and the ciphertext envelope. */
#include <stdlib.h>
#include <string.h>

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

struct encrypt_in {
	struct hg_bytes plaintext, aad;
	const char *algorithm;
};

static const char *const aes_modes[] = {"AES-GCM", NULL};

hg_err api_crypto_encrypt(struct hg_request *req)
{
	static const struct hg_field fields[] = {
	    {"plaintext", HG_F_BASE64, true, offsetof(struct encrypt_in, plaintext), 0, MAX_PLAINTEXT, NULL},
	    {"aad", HG_F_BASE64, false, offsetof(struct encrypt_in, aad), 0, MAX_AAD, NULL},
	    {"algorithm", HG_F_STRING, false, offsetof(struct encrypt_in, algorithm), 1, 32, aes_modes},
	};
	struct encrypt_in in = {0};
	json_t *root;
	struct hg_key_row *key = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;
	hg_err e = api_parse(req, fields, NFIELDS(fields), &in, &root);
	if (e == HG_OK)
		e = api_key_resolve(req, &key);
	const struct hg_version_row *v = NULL;
	if (e == HG_OK)
		e = keys_version_for(key, HG_USE_ENCRYPT, 0, &v, req->detail, sizeof req->detail);
	if (e == HG_OK && strcmp(key->type, "AES") != 0)
		e = http_fail(req, HG_E_INVALID, "AES-GCM needs an AES key; this key is %s", key->type);
	if (e == HG_OK) {
		req->key_version = v->version;
		req->used_hsm = true;
		out_len = HG_GCM_IV_LEN + in.plaintext.n + HG_GCM_TAG_LEN;
		out = malloc(out_len);
		e = p11_aes_gcm_encrypt(app_of(req)->p11, &v->id, in.aad.p, in.aad.n, in.plaintext.p, in.plaintext.n,
					out);
	}
	if (e == HG_OK) {
		char *ct = api_envelope_format(v->version, out, out_len);
		http_reply(
		    req, 200,
		    json_pack("{s:s, s:i, s:s}", "ciphertext", ct, "key_version", v->version, "algorithm", "AES-GCM"));
		free(ct);
	}
	free(out);
	key_row_free(key);
	api_bytes_free(&in.plaintext);
	api_bytes_free(&in.aad);
	json_decref(root);
	return e;
}

struct decrypt_in {
	const char *ciphertext;
	struct hg_bytes aad;
};

hg_err api_crypto_decrypt(struct hg_request *req)
{
	static const struct hg_field fields[] = {
	    {"ciphertext", HG_F_STRING, true, offsetof(struct decrypt_in, ciphertext), 1, 2 * HG_ENVELOPE_MAX_RAW,
	     NULL},
	    {"aad", HG_F_BASE64, false, offsetof(struct decrypt_in, aad), 0, MAX_AAD, NULL},
	};
	struct decrypt_in in = {0};
	json_t *root;
	struct hg_key_row *key = NULL;
	uint8_t *raw = NULL, *pt = NULL;
	size_t raw_len = 0, pt_len = 0;
	int version = 0;
	hg_err e = api_parse(req, fields, NFIELDS(fields), &in, &root);
	if (e == HG_OK && !api_envelope_parse(in.ciphertext, strlen(in.ciphertext), &version, &raw, &raw_len))
		e = http_fail(req, HG_E_INVALID, "ciphertext is not a hsmgw:v<N>:<base64> envelope");
	if (e == HG_OK && raw_len < HG_GCM_IV_LEN + HG_GCM_TAG_LEN)
		e = http_fail(req, HG_E_INVALID, "ciphertext is too short to hold an IV and a tag");
	if (e == HG_OK)
		e = api_key_resolve(req, &key);
	const struct hg_version_row *v = NULL;
	if (e == HG_OK)
		e = keys_version_for(key, HG_USE_DECRYPT, version, &v, req->detail, sizeof req->detail);
	if (e == HG_OK && strcmp(key->type, "AES") != 0)
		e = http_fail(req, HG_E_INVALID, "AES-GCM needs an AES key; this key is %s", key->type);
	if (e == HG_OK) {
		req->key_version = v->version;
		req->used_hsm = true;
		pt = malloc(raw_len);
		e = p11_aes_gcm_decrypt(app_of(req)->p11, &v->id, in.aad.p, in.aad.n, raw, raw_len, pt, &pt_len);
		if (e == HG_E_INVALID)
			http_fail(req, e, "the ciphertext and aad do not authenticate under this key");
	}
	if (e == HG_OK) {
		char *b64 = malloc(b64_encoded_len(pt_len) + 1);
		b64_encode(pt, pt_len, b64);
		http_reply(req, 200, json_pack("{s:s, s:i}", "plaintext", b64, "key_version", v->version));
		hg_free_secret(b64, strlen(b64) + 1);
	}
	hg_free_secret(pt, raw_len);
	hg_free_secret(raw, raw_len);
	key_row_free(key);
	api_bytes_free(&in.aad);
	json_decref(root);
	return e;
}
