/* /v1/tokens/tokenize and /v1/tokens/detokenize: up to 1000 values per call, each answered
 * in order; a value that does not fit is null in the answer with an entry in "errors" (its
 * index and why, never the value), and the others are still served. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api_internal.h"
#include "hsmgw/tokens.h"

#define MAX_VALUES 1000

struct tok_in {
	const char *key, *mode, *format;
	json_t *values, *tokens, *preserve;
	bool luhn;
	long key_version;
};

static const char *const modes[] = {"fpe", "deterministic", NULL};
static const char *const formats[] = {"pan", "digits", NULL};

/* The preserve object: {"leading": 0–19, "trailing": 0–19}; PAN defaults 6 and 4, digits 0. */
static hg_err preserve_of(struct hg_request *req, const json_t *p, bool pan, unsigned *lead, unsigned *trail)
{
	*lead = pan ? 6 : 0;
	*trail = pan ? 4 : 0;
	if (!p)
		return HG_OK;
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)p, k, v) {
		bool l = strcmp(k, "leading") == 0, t = strcmp(k, "trailing") == 0;
		if (!l && !t)
			return http_fail(req, HG_E_INVALID, "preserve has leading and trailing only");
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > HG_TOKEN_MAX_PRESERVE)
			return http_fail(req, HG_E_INVALID, "preserve.%s is an integer from 0 to %d", k,
					 HG_TOKEN_MAX_PRESERVE);
		*(l ? lead : trail) = (unsigned)json_integer_value(v);
	}
	return HG_OK;
}

static const struct hg_field tok_fields[] = {
    {"key", HG_F_STRING, true, offsetof(struct tok_in, key), 1, HG_MAX_NAME, NULL},
    {"mode", HG_F_STRING, false, offsetof(struct tok_in, mode), 1, 16, modes},
    {"format", HG_F_STRING, false, offsetof(struct tok_in, format), 1, 8, formats},
    {"preserve", HG_F_OBJECT, false, offsetof(struct tok_in, preserve), 0, 2, NULL},
    {"luhn", HG_F_BOOL, false, offsetof(struct tok_in, luhn), 0, 0, NULL},
    {"values", HG_F_ARRAY, true, offsetof(struct tok_in, values), 1, MAX_VALUES, NULL},
    {"tokens", HG_F_ARRAY, true, offsetof(struct tok_in, tokens), 1, MAX_VALUES, NULL},
    {"key_version", HG_F_INT, false, offsetof(struct tok_in, key_version), 1, 1000000, NULL},
};

static hg_err tok_common(struct hg_request *req, bool reverse)
{
	/* tokenize takes values (and a mode); detokenize takes tokens (and a key version). */
	struct hg_field f[NFIELDS(tok_fields)];
	size_t nf = 0;
	for (size_t i = 0; i < NFIELDS(tok_fields); i++) {
		const char *n = tok_fields[i].name;
		if ((reverse && (strcmp(n, "values") == 0 || strcmp(n, "mode") == 0)) ||
		    (!reverse && (strcmp(n, "tokens") == 0 || strcmp(n, "key_version") == 0)))
			continue;
		f[nf++] = tok_fields[i];
	}
	struct tok_in in = {0};
	json_t *root = NULL;
	struct hg_key_row *key = NULL;
	const struct hg_version_row *v = NULL;
	hg_err e = api_parse(req, f, nf, &in, &root);
	json_t *list = reverse ? in.tokens : in.values;
	struct hg_token_spec spec = {
	    .pan = !in.format || strcmp(in.format, "pan") == 0, .luhn = in.luhn, .tenant = req->who.tenant->name};
	if (e == HG_OK)
		e = preserve_of(req, in.preserve, spec.pan, &spec.leading, &spec.trailing);
	if (e == HG_OK)
		e = api_body_key(req, "key", in.key, &key);
	if (e == HG_OK)
		e = keys_version_for(key, HG_USE_TOKENIZE, reverse && in.key_version ? (int)in.key_version : 0, &v,
				     req->detail, sizeof req->detail);
	bool aes = e == HG_OK && strcmp(key->type, "AES") == 0;
	spec.mode = aes ? HG_TOKEN_FPE : HG_TOKEN_DETERMINISTIC;
	if (e == HG_OK && in.mode && (strcmp(in.mode, "fpe") == 0) != aes)
		e = http_fail(req, HG_E_INVALID, "mode %s needs %s key", in.mode, aes ? "an HMAC" : "an AES");
	if (e == HG_OK && reverse && !aes)
		e = http_fail(req, HG_E_INVALID,
			      "deterministic tokens are not reversible: only fpe tokens (AES keys) "
			      "can be detokenized");
	if (e != HG_OK) {
		key_row_free(key);
		json_decref(root);
		return e;
	}
	spec.key_id = key->id;
	req->used_hsm = true;
	req->key_version = v->version;
	struct hg_ff1_hsm bind;
	struct hg_token_keys tk = {.aes = aes ? ff1_hsm_bind(&bind, app_of(req)->p11, &v->id) : NULL,
				   .p = app_of(req)->p11,
				   .hmac_id = &v->id};
	json_t *out = json_array(), *errors = json_array();
	size_t i;
	json_t *val;
	/* One HSM session for the whole call. */
	e = p11_pin(app_of(req)->p11);
	bool pinned = e == HG_OK;
	json_array_foreach (list, i, val) {
		if (e != HG_OK)
			break;
		const char *s = json_string_value(val), *why = "a value is a string of digits";
		char tok[HG_FF1_MAX_LEN + 1];
		hg_err r =
		    s && strlen(s) <= HG_FF1_MAX_LEN ? token_one(&tk, &spec, reverse, s, tok, &why) : HG_E_INVALID;
		if (r == HG_OK) {
			json_array_append_new(out, json_string(tok));
		} else if (r == HG_E_INVALID) {
			json_array_append_new(out, json_null());
			json_array_append_new(errors, json_pack("{s:I, s:s, s:s}", "index", (json_int_t)i, "code",
								hg_err_code(r), "detail", why));
		} else {
			e = r; /* the HSM failed: the whole call does */
		}
		OPENSSL_cleanse(tok, sizeof tok);
	}
	if (pinned)
		p11_unpin(app_of(req)->p11);
	if (e == HG_OK) {
		json_t *body = json_pack("{s:o, s:i}", reverse ? "values" : "tokens", out, "key_version", v->version);
		if (json_array_size(errors))
			json_object_set_new(body, "errors", errors);
		else
			json_decref(errors);
		http_reply(req, 200, body);
	} else {
		json_decref(out);
		json_decref(errors);
	}
	key_row_free(key);
	json_decref(root);
	return e;
}

hg_err api_tokens_tokenize(struct hg_request *req)
{
	return tok_common(req, false);
}

hg_err api_tokens_detokenize(struct hg_request *req)
{
	return tok_common(req, true);
}

/* Both routes' fields; each route takes the subset tok_common picks. */
const struct api_body_spec api_tokens_bodies[] = {
    API_BODY("POST /v1/tokens/tokenize, /detokenize", tok_fields, struct tok_in),
    {NULL, NULL, 0, 0},
};
