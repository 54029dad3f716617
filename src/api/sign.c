/* /v1/keys/{key}/sign, /verify, /mac, /mac/verify and /v1/random. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>

#include "api_internal.h"

#define MAX_MESSAGE (256 * 1024)

/* Every algorithm: its name, the key type it needs, whether it is a MAC, and for which key
 * (type, curve) it is the default. */
static const struct alg {
	const char *name;
	enum hg_sig_alg alg;
	const char *key_type;
	bool mac;
	const char *default_for; /* a key type, or "EC:<curve>"; NULL: never the default */
} algs[] = {
    {"RSA-PSS-SHA256", HG_SIG_RSA_PSS_SHA256, "RSA", false, "RSA"},
    {"RSA-PSS-SHA384", HG_SIG_RSA_PSS_SHA384, "RSA", false, NULL},
    {"RSA-PKCS1-SHA256", HG_SIG_RSA_PKCS1_SHA256, "RSA", false, NULL},
    {"ECDSA-SHA256", HG_SIG_ECDSA_SHA256, "EC", false, "EC:P-256"},
    {"ECDSA-SHA384", HG_SIG_ECDSA_SHA384, "EC", false, "EC:P-384"},
    {"EDDSA", HG_SIG_EDDSA, "ED25519", false, "ED25519"},
    {"HMAC-SHA256", HG_MAC_HMAC_SHA256, "HMAC", true, "HMAC"},
    {"HMAC-SHA384", HG_MAC_HMAC_SHA384, "HMAC", true, NULL},
    {"HMAC-SHA512", HG_MAC_HMAC_SHA512, "HMAC", true, NULL},
    {"AES-CMAC", HG_MAC_AES_CMAC, "AES", true, "AES"},
};
#define N_ALGS (sizeof algs / sizeof *algs)

static const char *const sig_names[] = {
    "RSA-PSS-SHA256", "RSA-PSS-SHA384", "RSA-PKCS1-SHA256", "ECDSA-SHA256", "ECDSA-SHA384", "EDDSA", NULL};
static const char *const mac_names[] = {"HMAC-SHA256", "HMAC-SHA384", "HMAC-SHA512", "AES-CMAC", NULL};
static const char *const sig_formats[] = {"der", "raw", NULL};

/* The algorithm asked for (or the key's default) after checking it fits the key. */
static hg_err pick_alg(struct hg_request *req, const struct hg_key_row *key, const char *name, bool mac,
		       const struct alg **out)
{
	char dflt[32];
	snprintf(dflt, sizeof dflt, "%s%s%s", key->type, key->curve[0] ? ":" : "", key->curve);
	for (size_t i = 0; i < N_ALGS; i++) {
		const struct alg *a = &algs[i];
		bool named = name ? strcmp(a->name, name) == 0
				  : a->default_for && a->mac == mac &&
					(strcmp(a->default_for, dflt) == 0 || strcmp(a->default_for, key->type) == 0);
		if (!named)
			continue;
		if (strcmp(a->key_type, key->type) != 0 || a->mac != mac)
			return http_fail(req, HG_E_INVALID, "%s does not fit a %s key", a->name, key->type);
		*out = a;
		return HG_OK;
	}
	/* No default: P-521 keys (ECDSA-SHA384 must be named) or a type without this operation. */
	return http_fail(req, HG_E_INVALID, "name an algorithm for this %s key", key->type);
}

/* The byte length of each of r and s for a curve. */
static size_t ec_field(const char *curve)
{
	return strcmp(curve, "P-256") == 0 ? 32 : strcmp(curve, "P-384") == 0 ? 48 : 66;
}

/* DER → raw r ‖ s of 2·field bytes; false if it does not parse or does not fit. */
static bool ecdsa_der_to_raw(const uint8_t *der, size_t n, size_t field, uint8_t *raw)
{
	const uint8_t *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
	bool ok = sig && p == der + n;
	if (ok) {
		const BIGNUM *r, *s;
		ECDSA_SIG_get0(sig, &r, &s);
		ok = BN_bn2binpad(r, raw, (int)field) > 0 && BN_bn2binpad(s, raw + field, (int)field) > 0;
	}
	ECDSA_SIG_free(sig);
	return ok;
}

struct sign_in {
	struct hg_bytes message, digest, signature, mac;
	const char *algorithm, *signature_format;
	long key_version;
};

static hg_err one_of_message_digest(struct hg_request *req, const struct sign_in *in)
{
	if (in->message.set == in->digest.set)
		return http_fail(req, HG_E_INVALID, "give exactly one of 'message' and 'digest'");
	if (in->message.set && in->message.n == 0)
		return http_fail(req, HG_E_INVALID, "field 'message' must not be empty");
	return HG_OK;
}

/* A precomputed digest must have the algorithm's hash length; EdDSA signs messages only. */
static hg_err check_digest(struct hg_request *req, const struct alg *a, const struct hg_bytes *d)
{
	size_t want = p11_sig_digest_len(a->alg);
	if (want == 0)
		return http_fail(req, HG_E_INVALID, "%s signs a message, not a digest", a->name);
	if (d->n != want)
		return http_fail(req, HG_E_INVALID, "field 'digest': %s takes a digest of %zu bytes", a->name, want);
	return HG_OK;
}

/* The version an unprotecting operation uses: the one named, else the primary. */
static hg_err verify_version(struct hg_request *req, const struct hg_key_row *key, enum hg_usage use, long named,
			     const struct hg_version_row **v)
{
	return keys_version_for(key, use, named ? (int)named : key->primary_version, v, req->detail,
				sizeof req->detail);
}

static void reply_b64(struct hg_request *req, const char *field, const uint8_t *data, size_t n, int version,
		      const char *alg)
{
	char *b64 = malloc(b64_encoded_len(n) + 1);
	b64_encode(data, n, b64);
	http_reply(req, 200, json_pack("{s:s, s:i, s:s}", field, b64, "key_version", version, "algorithm", alg));
	free(b64);
}

static void free_in(struct sign_in *in, json_t *root)
{
	api_bytes_free(&in->message);
	api_bytes_free(&in->digest);
	api_bytes_free(&in->signature);
	api_bytes_free(&in->mac);
	json_decref(root);
}

/* The common start of sign and verify: the body, a message or a digest, the key, the
 * version (the primary to sign; the one named, else the primary, to verify) and the
 * algorithm. */
static hg_err sig_prepare(struct hg_request *req, const struct hg_field *fields, size_t n, bool verify,
			  struct sign_in *in, json_t **root, struct hg_key_row **key, const struct hg_version_row **v,
			  const struct alg **a)
{
	hg_err e = api_parse(req, fields, n, in, root);
	if (e == HG_OK)
		e = one_of_message_digest(req, in);
	if (e == HG_OK)
		e = api_key_resolve(req, key);
	if (e == HG_OK)
		e = verify ? verify_version(req, *key, HG_USE_VERIFY, in->key_version, v)
			   : keys_version_for(*key, HG_USE_SIGN, 0, v, req->detail, sizeof req->detail);
	if (e == HG_OK)
		e = pick_alg(req, *key, in->algorithm, false, a);
	if (e == HG_OK && in->digest.set)
		e = check_digest(req, *a, &in->digest);
	return e;
}

static const struct hg_field sign_fields[] = {
    {"message", HG_F_BASE64, false, offsetof(struct sign_in, message), 0, MAX_MESSAGE, NULL},
    {"digest", HG_F_BASE64, false, offsetof(struct sign_in, digest), 0, 64, NULL},
    {"algorithm", HG_F_STRING, false, offsetof(struct sign_in, algorithm), 1, 32, sig_names},
    {"signature_format", HG_F_STRING, false, offsetof(struct sign_in, signature_format), 1, 8, sig_formats},
};

hg_err api_crypto_sign(struct hg_request *req)
{
	if (api_batch_requested(req))
		return api_run_batch(req);
	struct sign_in in = {0};
	json_t *root;
	struct hg_key_row *key = NULL;
	const struct alg *a = NULL;
	const struct hg_version_row *v = NULL;
	hg_err e = sig_prepare(req, sign_fields, NFIELDS(sign_fields), false, &in, &root, &key, &v, &a);
	uint8_t sig[HG_SIG_MAX], der[HG_SIG_MAX];
	size_t sig_len = 0;
	if (e == HG_OK) {
		req->used_hsm = true;
		req->key_version = v->version;
		const struct hg_bytes *d = in.digest.set ? &in.digest : &in.message;
		e = p11_sign(app_of(req)->p11, &v->id, a->alg, d->p, d->n, in.digest.set, sig, &sig_len);
	}
	if (e == HG_OK) {
		const uint8_t *out = sig;
		size_t out_len = sig_len;
		bool raw = in.signature_format && strcmp(in.signature_format, "raw") == 0;
		if (strcmp(key->type, "EC") == 0 && !raw) {
			out = der;
			out_len = ecdsa_raw_to_der(sig, sig_len, der, sizeof der);
		}
		reply_b64(req, "signature", out, out_len, v->version, a->name);
	}
	key_row_free(key);
	free_in(&in, root);
	return e;
}

static const struct hg_field verify_fields[] = {
    {"message", HG_F_BASE64, false, offsetof(struct sign_in, message), 0, MAX_MESSAGE, NULL},
    {"digest", HG_F_BASE64, false, offsetof(struct sign_in, digest), 0, 64, NULL},
    {"signature", HG_F_BASE64, true, offsetof(struct sign_in, signature), 1, HG_SIG_MAX, NULL},
    {"algorithm", HG_F_STRING, false, offsetof(struct sign_in, algorithm), 1, 32, sig_names},
    {"signature_format", HG_F_STRING, false, offsetof(struct sign_in, signature_format), 1, 8, sig_formats},
    {"key_version", HG_F_INT, false, offsetof(struct sign_in, key_version), 1, 1000000, NULL},
};

hg_err api_crypto_verify(struct hg_request *req)
{
	if (api_batch_requested(req))
		return api_run_batch(req);
	struct sign_in in = {0};
	json_t *root;
	struct hg_key_row *key = NULL;
	const struct alg *a = NULL;
	const struct hg_version_row *v = NULL;
	hg_err e = sig_prepare(req, verify_fields, NFIELDS(verify_fields), true, &in, &root, &key, &v, &a);
	uint8_t raw[2 * 66];
	const uint8_t *sig = in.signature.p;
	size_t sig_len = in.signature.n;
	bool valid = false;
	if (e == HG_OK && strcmp(key->type, "EC") == 0) {
		size_t field = ec_field(key->curve);
		bool as_raw = in.signature_format && strcmp(in.signature_format, "raw") == 0;
		if (as_raw && sig_len != 2 * field)
			e = http_fail(req, HG_E_INVALID, "a raw %s signature is %zu bytes", key->curve, 2 * field);
		else if (!as_raw && !ecdsa_der_to_raw(sig, sig_len, field, raw))
			e = http_fail(req, HG_E_INVALID, "the signature is not a DER ECDSA-Sig-Value for %s",
				      key->curve);
		else if (!as_raw) {
			sig = raw;
			sig_len = 2 * field;
		}
	}
	if (e == HG_OK) {
		req->used_hsm = true;
		req->key_version = v->version;
		const struct hg_bytes *d = in.digest.set ? &in.digest : &in.message;
		e = p11_verify(app_of(req)->p11, &v->id, a->alg, d->p, d->n, in.digest.set, sig, sig_len, &valid);
		if (e == HG_E_INVALID)
			http_fail(req, e, "the signature's length does not fit this key");
	}
	if (e == HG_OK)
		http_reply(
		    req, 200,
		    json_pack("{s:b, s:i, s:s}", "valid", valid, "key_version", v->version, "algorithm", a->name));
	key_row_free(key);
	free_in(&in, root);
	return e;
}

static const struct hg_field mac_fields[] = {
    {"message", HG_F_BASE64, true, offsetof(struct sign_in, message), 1, MAX_MESSAGE, NULL},
    {"algorithm", HG_F_STRING, false, offsetof(struct sign_in, algorithm), 1, 32, mac_names},
    {"mac", HG_F_BASE64, true, offsetof(struct sign_in, mac), 1, 64, NULL},
    {"key_version", HG_F_INT, false, offsetof(struct sign_in, key_version), 1, 1000000, NULL},
};

/* MAC and MAC verification share everything up to the comparison. */
static hg_err mac_common(struct hg_request *req, bool verify)
{
	struct sign_in in = {0};
	json_t *root;
	struct hg_key_row *key = NULL;
	const struct alg *a = NULL;
	const struct hg_version_row *v = NULL;
	/* mac and key_version belong to verification only. */
	hg_err e = api_parse(req, mac_fields, verify ? 4 : 2, &in, &root);
	if (e == HG_OK)
		e = api_key_resolve(req, &key);
	if (e == HG_OK)
		e = verify ? verify_version(req, key, HG_USE_MAC, in.key_version, &v)
			   : keys_version_for(key, HG_USE_MAC, 0, &v, req->detail, sizeof req->detail);
	if (e == HG_OK)
		e = pick_alg(req, key, in.algorithm, true, &a);
	uint8_t mac[HG_SIG_MAX];
	size_t mac_len = 0;
	if (e == HG_OK) {
		req->used_hsm = true;
		req->key_version = v->version;
		e = p11_sign(app_of(req)->p11, &v->id, a->alg, in.message.p, in.message.n, false, mac, &mac_len);
		if (e == HG_E_INVALID || e == HG_E_KEY_USAGE)
			http_fail(req, HG_E_INVALID, "%s is not possible with this %d-bit key", a->name, key->size);
		if (e == HG_E_KEY_USAGE)
			e = HG_E_INVALID;
	}
	if (e == HG_OK && verify) {
		/* Constant time: the comparison must not tell how many bytes matched. */
		bool valid = in.mac.n == mac_len && CRYPTO_memcmp(in.mac.p, mac, mac_len) == 0;
		http_reply(
		    req, 200,
		    json_pack("{s:b, s:i, s:s}", "valid", valid, "key_version", v->version, "algorithm", a->name));
	} else if (e == HG_OK) {
		reply_b64(req, "mac", mac, mac_len, v->version, a->name);
	}
	OPENSSL_cleanse(mac, sizeof mac);
	key_row_free(key);
	free_in(&in, root);
	return e;
}

hg_err api_crypto_mac(struct hg_request *req)
{
	if (api_batch_requested(req))
		return api_run_batch(req);
	return mac_common(req, false);
}

hg_err api_crypto_mac_verify(struct hg_request *req)
{
	return mac_common(req, true);
}

struct random_in {
	long bytes;
};

static const struct hg_field random_fields[] = {
    {"bytes", HG_F_INT, true, offsetof(struct random_in, bytes), 1, 1024, NULL},
};

hg_err api_crypto_random(struct hg_request *req)
{
	struct random_in in = {0};
	json_t *root;
	hg_err e = api_parse(req, random_fields, NFIELDS(random_fields), &in, &root);
	uint8_t buf[1024];
	if (e == HG_OK) {
		req->used_hsm = true;
		e = p11_random(app_of(req)->p11, buf, (size_t)in.bytes);
	}
	if (e == HG_OK) {
		char out[b64_encoded_len(sizeof buf) + 1];
		b64_encode(buf, (size_t)in.bytes, out);
		http_reply(req, 200, json_pack("{s:s}", "random", out));
	}
	OPENSSL_cleanse(buf, sizeof buf);
	json_decref(root);
	return e;
}

const struct api_body_spec api_sign_bodies[] = {
    API_BODY("POST /v1/keys/{key}/sign", sign_fields, struct sign_in),
    API_BODY("POST /v1/keys/{key}/verify", verify_fields, struct sign_in),
    {"POST /v1/keys/{key}/mac", mac_fields, 2, sizeof(struct sign_in)},
    API_BODY("POST /v1/keys/{key}/mac/verify", mac_fields, struct sign_in),
    API_BODY("POST /v1/random", random_fields, struct random_in),
    {NULL, NULL, 0, 0},
};
