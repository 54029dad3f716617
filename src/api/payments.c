/* /v1/payments/…: PIN translation, PIN verification values, card verification values and
 * payment MACs. Validation and JSON mapping here; the algorithms are payments/'s, run over
 * the HSM's block operations (the provider below). No PIN, PIN block or PAN ever goes into
 * a detail message. */
#include <string.h>

#include <openssl/crypto.h>

#include "api_internal.h"
#include "hsmgw/payments.h"

/* ---- the key provider: payments/ algorithms on HSM keys ---- */

static hg_err hsm_block(void *ctx, const struct hg_pay_key *key, enum hg_pay_cipher c, bool encrypt, const uint8_t *iv,
			const uint8_t *in, size_t n, uint8_t *out)
{
	enum hg_block_key bk = c == HG_PAY_DES_LEFT    ? HG_BLK_DES_LEFT
			       : c == HG_PAY_DES_RIGHT ? HG_BLK_DES_RIGHT
			       : key->aes              ? HG_BLK_AES
						       : HG_BLK_TDES;
	return p11_block(ctx, key->ref, bk, encrypt, iv, in, n, out);
}

static struct hg_pay_ops ops_of(struct hg_request *req)
{
	return (struct hg_pay_ops){.ctx = app_of(req)->p11, .block = hsm_block};
}

/* A key named in the body, with the version an operation uses and its provider view. */
struct pay_key {
	struct hg_key_row *row;
	const struct hg_version_row *v;
	struct hg_pay_key k;
};

static void pay_key_free(struct pay_key *k)
{
	key_row_free(k->row);
	k->row = NULL;
}

/* Resolves the key a body field names for the caller's tenant and checks its usage and
 * state. Generating operations (protecting) use the primary version of an active key; those
 * that read what another party made (incoming PIN blocks, verification) use the primary
 * version of an active or deactivated key. The first key resolved is the audit row's. */
static hg_err body_key(struct hg_request *req, const char *field, const char *name, enum hg_usage use, bool protecting,
		       struct pay_key *out)
{
	hg_err e = api_body_key(req, field, name, &out->row);
	if (e != HG_OK)
		return e;
	e = keys_version_for(out->row, use, protecting ? 0 : out->row->primary_version, &out->v, req->detail,
			     sizeof req->detail);
	if (e != HG_OK)
		return e;
	struct hg_p11_keyspec spec;
	e = keys_p11_spec(out->row, &spec);
	if (e != HG_OK)
		return e;
	out->k = (struct hg_pay_key){.ref = &out->v->id, .aes = spec.type == HG_KT_AES, .halves = spec.halves};
	if (!req->key_version && memcmp(&req->key_id, &out->row->id, sizeof req->key_id) == 0)
		req->key_version = out->v->version;
	req->used_hsm = true;
	return HG_OK;
}

static const char *const pin_formats[] = {"ISO-0", "ISO-1", "ISO-3", "ISO-4", NULL};

/* A PIN block field of format f: exactly its length in hex. */
static hg_err pin_block_field(struct hg_request *req, const char *hex, enum hg_pin_format f, uint8_t out[16])
{
	if (!hex_decode(hex, out, pin_block_len(f)))
		return http_fail(req, HG_E_INVALID, "pin_block must be %zu hex digits for %s", 2 * pin_block_len(f),
				 pin_format_name(f));
	return HG_OK;
}

/* The key a format needs: AES for ISO-4, TDES for the others. */
static hg_err key_fits_format(struct hg_request *req, const char *field, const struct pay_key *k, enum hg_pin_format f)
{
	bool aes = f == HG_PIN_ISO4;
	if (k->k.aes != aes || k->k.halves)
		return http_fail(req, HG_E_INVALID, "%s PIN blocks need %s key for '%s'", pin_format_name(f),
				 aes ? "an AES" : "a TDES", field);
	return HG_OK;
}

static hg_err pan_field(struct hg_request *req, const char *pan, bool needed)
{
	if (pan && !pin_pan_ok(pan))
		return http_fail(req, HG_E_INVALID, "pan must be 12 to 19 decimal digits");
	if (!pan && needed)
		return http_fail(req, HG_E_INVALID, "field 'pan' is required by these PIN block formats");
	return HG_OK;
}

/* What payments/ answers, as the API reports it; the detail never says which check failed. */
static hg_err pay_fail(struct hg_request *req, hg_err e)
{
	if (e == HG_E_PIN_BLOCK)
		return http_fail(req, e, "invalid PIN block");
	if (e == HG_E_INVALID)
		return http_fail(req, e, "the request's values do not fit the operation");
	return e;
}

/* ---- PIN translation ---- */

struct translate_in {
	const char *incoming_key, *incoming_format, *outgoing_key, *outgoing_format, *pin_block, *pan;
};

static const struct hg_field translate_fields[] = {
    {"incoming_key", HG_F_STRING, true, offsetof(struct translate_in, incoming_key), 1, HG_MAX_NAME, NULL},
    {"incoming_format", HG_F_STRING, true, offsetof(struct translate_in, incoming_format), 1, 8, pin_formats},
    {"outgoing_key", HG_F_STRING, true, offsetof(struct translate_in, outgoing_key), 1, HG_MAX_NAME, NULL},
    {"outgoing_format", HG_F_STRING, true, offsetof(struct translate_in, outgoing_format), 1, 8, pin_formats},
    {"pin_block", HG_F_STRING, true, offsetof(struct translate_in, pin_block), 16, 32, NULL},
    {"pan", HG_F_STRING, false, offsetof(struct translate_in, pan), 1, 19, NULL},
};

hg_err api_payments_pin_translate(struct hg_request *req)
{
	struct translate_in in = {0};
	json_t *root;
	struct pay_key ik = {0}, ok = {0};
	enum hg_pin_format inf = HG_PIN_ISO0, outf = HG_PIN_ISO0;
	uint8_t block[16], out[16];
	hg_err e = api_parse(req, translate_fields, NFIELDS(translate_fields), &in, &root);
	if (e == HG_OK) {
		(void)pin_format_parse(in.incoming_format, &inf); /* the field spec allowed only these */
		(void)pin_format_parse(in.outgoing_format, &outf);
		if (pin_format_pan_bound(inf) && !pin_format_pan_bound(outf))
			e = http_fail(req, HG_E_INVALID,
				      "a PAN-bound PIN block (%s) is never translated to ISO-1 (ISO 9564-1)",
				      in.incoming_format);
	}
	if (e == HG_OK)
		e = pan_field(req, in.pan, pin_format_pan_bound(inf) || pin_format_pan_bound(outf));
	if (e == HG_OK)
		e = pin_block_field(req, in.pin_block, inf, block);
	if (e == HG_OK)
		e = body_key(req, "incoming_key", in.incoming_key, HG_USE_PIN, false, &ik);
	if (e == HG_OK)
		e = body_key(req, "outgoing_key", in.outgoing_key, HG_USE_PIN, true, &ok);
	if (e == HG_OK)
		e = key_fits_format(req, "incoming_key", &ik, inf);
	if (e == HG_OK)
		e = key_fits_format(req, "outgoing_key", &ok, outf);
	if (e == HG_OK) {
		struct hg_pay_ops ops = ops_of(req);
		e = pay_fail(req, pay_pin_translate(&ops, &ik.k, inf, block, &ok.k, outf, in.pan, out));
	}
	if (e == HG_OK) {
		char hex[33];
		hex_encode(out, pin_block_len(outf), hex);
		http_reply(req, 200,
			   json_pack("{s:s, s:s, s:i, s:i}", "pin_block", hex, "format", in.outgoing_format,
				     "incoming_key_version", ik.v->version, "outgoing_key_version", ok.v->version));
	}
	OPENSSL_cleanse(block, sizeof block);
	OPENSSL_cleanse(out, sizeof out);
	pay_key_free(&ik);
	pay_key_free(&ok);
	json_decref(root);
	return e;
}

/* ---- PIN verification values: VISA PVV and IBM 3624 offsets ---- */

struct pinv_in {
	const char *pin_key, *pin_block, *format, *pan, *verification_key, *method, *offset, *pvv,
	    *decimalization_table, *validation_data;
	long pvki;
	bool pvki_set;
};

static const char *const pin_methods[] = {"IBM3624", "VISA-PVV", NULL};

static const struct hg_field pinv_fields[] = {
    {"pin_key", HG_F_STRING, true, offsetof(struct pinv_in, pin_key), 1, HG_MAX_NAME, NULL},
    {"pin_block", HG_F_STRING, true, offsetof(struct pinv_in, pin_block), 16, 32, NULL},
    {"format", HG_F_STRING, true, offsetof(struct pinv_in, format), 1, 8, pin_formats},
    {"pan", HG_F_STRING, true, offsetof(struct pinv_in, pan), 1, 19, NULL},
    {"verification_key", HG_F_STRING, true, offsetof(struct pinv_in, verification_key), 1, HG_MAX_NAME, NULL},
    {"method", HG_F_STRING, true, offsetof(struct pinv_in, method), 1, 16, pin_methods},
    {"pvki", HG_F_INT, false, offsetof(struct pinv_in, pvki), 0, 6, NULL},
    {"decimalization_table", HG_F_STRING, false, offsetof(struct pinv_in, decimalization_table), 16, 16, NULL},
    {"validation_data", HG_F_STRING, false, offsetof(struct pinv_in, validation_data), 16, 16, NULL},
    {"offset", HG_F_STRING, false, offsetof(struct pinv_in, offset), HG_PIN_MIN, HG_PIN_MAX, NULL},
    {"pvv", HG_F_STRING, false, offsetof(struct pinv_in, pvv), 4, 4, NULL},
};

/* Parses and checks a verification (verify true) or generation request, resolves both keys
 * and fills the parameters. */
static hg_err pinv_prepare(struct hg_request *req, bool verify, struct pinv_in *in, json_t **root, struct pay_key *pk,
			   struct pay_key *vk, enum hg_pin_format *fmt, uint8_t block[16],
			   struct hg_pin_verify_params *vp)
{
	/* offset and pvv belong to verification only. */
	hg_err e = api_parse(req, pinv_fields, verify ? NFIELDS(pinv_fields) : NFIELDS(pinv_fields) - 2, in, root);
	if (e != HG_OK)
		return e;
	in->pvki_set = json_is_integer(json_object_get(*root, "pvki"));
	(void)pin_format_parse(in->format, fmt);
	bool pvv = strcmp(in->method, "VISA-PVV") == 0;
	*vp = (struct hg_pin_verify_params){.method = pvv ? HG_PIN_VISA_PVV : HG_PIN_IBM3624,
					    .key = &vk->k,
					    .pvki = (int)in->pvki,
					    .decimalization_table = in->decimalization_table,
					    .validation_data = in->validation_data};
	if (pvv && !in->pvki_set)
		return http_fail(req, HG_E_INVALID, "VISA-PVV needs 'pvki' (0 to 6)");
	if (!pvv && (in->pvki_set || in->pvv))
		return http_fail(req, HG_E_INVALID, "'pvki' and 'pvv' belong to VISA-PVV");
	if (pvv && (in->decimalization_table || in->validation_data || in->offset))
		return http_fail(req, HG_E_INVALID,
				 "'decimalization_table', 'validation_data' and 'offset' belong to IBM3624");
	if (verify && !(pvv ? in->pvv : in->offset))
		return http_fail(req, HG_E_INVALID, "%s verification needs '%s'", in->method, pvv ? "pvv" : "offset");
	const char *expected = pvv ? in->pvv : in->offset;
	if (verify && !pay_digits(expected, 1, HG_PIN_MAX, false))
		return http_fail(req, HG_E_INVALID, "'%s' must be decimal digits", pvv ? "pvv" : "offset");
	if (in->decimalization_table && !pay_digits(in->decimalization_table, 16, 16, false))
		return http_fail(req, HG_E_INVALID, "decimalization_table must be 16 decimal digits");
	if (in->validation_data && !pay_digits(in->validation_data, 16, 16, true))
		return http_fail(req, HG_E_INVALID, "validation_data must be 16 hex digits");
	e = pan_field(req, in->pan, true);
	if (e == HG_OK)
		e = pin_block_field(req, in->pin_block, *fmt, block);
	if (e == HG_OK)
		e = body_key(req, "pin_key", in->pin_key, HG_USE_PIN, false, pk);
	if (e == HG_OK)
		e = key_fits_format(req, "pin_key", pk, *fmt);
	if (e == HG_OK)
		e = body_key(req, "verification_key", in->verification_key, HG_USE_PIN_VERIFY, !verify, vk);
	if (e == HG_OK && strcmp(vk->row->type, "TDES") != 0)
		e = http_fail(req, HG_E_INVALID, "the verification key must be a TDES key");
	return e;
}

static hg_err pin_values(struct hg_request *req, bool verify)
{
	struct pinv_in in = {0};
	json_t *root = NULL;
	struct pay_key pk = {0}, vk = {0};
	enum hg_pin_format fmt = HG_PIN_ISO0;
	uint8_t block[16];
	struct hg_pin_verify_params vp;
	hg_err e = pinv_prepare(req, verify, &in, &root, &pk, &vk, &fmt, block, &vp);
	struct hg_pay_ops ops = ops_of(req);
	if (e == HG_OK && verify) {
		bool valid = false;
		e = pay_fail(req, pay_pin_verify(&ops, &pk.k, fmt, block, in.pan, &vp,
						 vp.method == HG_PIN_VISA_PVV ? in.pvv : in.offset, &valid));
		if (e == HG_OK)
			http_reply(req, 200, json_pack("{s:b, s:s}", "valid", valid, "method", in.method));
	} else if (e == HG_OK) {
		char out[HG_PIN_MAX + 1];
		e = pay_fail(req, pay_pin_generate(&ops, &pk.k, fmt, block, in.pan, &vp, out));
		if (e == HG_OK)
			http_reply(req, 200,
				   json_pack("{s:s, s:s, s:i}", vp.method == HG_PIN_VISA_PVV ? "pvv" : "offset", out,
					     "method", in.method, "verification_key_version", vk.v->version));
		OPENSSL_cleanse(out, sizeof out);
	}
	OPENSSL_cleanse(block, sizeof block);
	pay_key_free(&pk);
	pay_key_free(&vk);
	json_decref(root);
	return e;
}

hg_err api_payments_pin_verify(struct hg_request *req)
{
	return pin_values(req, true);
}

hg_err api_payments_pin_pvv(struct hg_request *req)
{
	return pin_values(req, false);
}

/* ---- card verification values ---- */

struct cvv_in {
	const char *key, *pan, *expiry, *service_code, *cvv;
};

static const struct hg_field cvv_fields[] = {
    {"key", HG_F_STRING, true, offsetof(struct cvv_in, key), 1, HG_MAX_NAME, NULL},
    {"pan", HG_F_STRING, true, offsetof(struct cvv_in, pan), 1, 19, NULL},
    {"expiry", HG_F_STRING, true, offsetof(struct cvv_in, expiry), 4, 4, NULL},
    {"service_code", HG_F_STRING, true, offsetof(struct cvv_in, service_code), 3, 3, NULL},
    {"cvv", HG_F_STRING, true, offsetof(struct cvv_in, cvv), 3, 3, NULL},
};

static hg_err cvv_common(struct hg_request *req, bool verify)
{
	struct cvv_in in = {0};
	json_t *root;
	struct pay_key k = {0};
	char cvv[4] = "";
	hg_err e = api_parse(req, cvv_fields, verify ? NFIELDS(cvv_fields) : NFIELDS(cvv_fields) - 1, &in, &root);
	if (e == HG_OK)
		e = pan_field(req, in.pan, true);
	if (e == HG_OK && !pay_digits(in.expiry, 4, 4, false))
		e = http_fail(req, HG_E_INVALID, "expiry must be 4 digits, YYMM");
	if (e == HG_OK && !pay_digits(in.service_code, 3, 3, false))
		e = http_fail(req, HG_E_INVALID, "service_code must be 3 digits (000 for CVV2, 999 for iCVV)");
	if (e == HG_OK && verify && !pay_digits(in.cvv, 3, 3, false))
		e = http_fail(req, HG_E_INVALID, "cvv must be 3 digits");
	if (e == HG_OK)
		e = body_key(req, "key", in.key, HG_USE_CVV, !verify, &k);
	if (e == HG_OK) {
		struct hg_pay_ops ops = ops_of(req);
		e = pay_fail(req, pay_cvv(&ops, &k.k, in.pan, in.expiry, in.service_code, cvv));
	}
	if (e == HG_OK && verify)
		http_reply(
		    req, 200,
		    json_pack("{s:b, s:i}", "valid", CRYPTO_memcmp(cvv, in.cvv, 3) == 0, "key_version", k.v->version));
	else if (e == HG_OK)
		http_reply(req, 200, json_pack("{s:s, s:i}", "cvv", cvv, "key_version", k.v->version));
	OPENSSL_cleanse(cvv, sizeof cvv);
	pay_key_free(&k);
	json_decref(root);
	return e;
}

hg_err api_payments_cvv(struct hg_request *req)
{
	return cvv_common(req, false);
}

hg_err api_payments_cvv_verify(struct hg_request *req)
{
	return cvv_common(req, true);
}

/* ---- payment MACs ---- */

struct pmac_in {
	const char *key, *message, *algorithm, *padding, *mac;
};

static const char *const pmac_algs[] = {"ISO9797-1-ALG1", "ISO9797-1-ALG3", "AES-CMAC", NULL};
static const char *const pmac_pads[] = {"M1", "M2", NULL};

static const struct hg_field pmac_fields[] = {
    {"key", HG_F_STRING, true, offsetof(struct pmac_in, key), 1, HG_MAX_NAME, NULL},
    {"message", HG_F_STRING, true, offsetof(struct pmac_in, message), 0, 2 * HG_PAY_MAC_MAX_MSG, NULL},
    {"algorithm", HG_F_STRING, true, offsetof(struct pmac_in, algorithm), 1, 16, pmac_algs},
    {"padding", HG_F_STRING, false, offsetof(struct pmac_in, padding), 2, 2, pmac_pads},
    {"mac", HG_F_STRING, true, offsetof(struct pmac_in, mac), 8, 32, NULL},
};

static hg_err pmac_common(struct hg_request *req, bool verify)
{
	struct pmac_in in = {0};
	json_t *root;
	struct pay_key k = {0};
	uint8_t *msg = NULL, mac[HG_SIG_MAX], want[16];
	size_t n = 0, mac_len = 0, want_len = 0;
	hg_err e = api_parse(req, pmac_fields, verify ? NFIELDS(pmac_fields) : NFIELDS(pmac_fields) - 1, &in, &root);
	bool cmac = e == HG_OK && strcmp(in.algorithm, "AES-CMAC") == 0;
	if (e == HG_OK) {
		n = strlen(in.message) / 2;
		msg = malloc(n ? n : 1);
		if (!msg)
			e = HG_E_INTERNAL;
		else if (strlen(in.message) % 2 || !hex_decode(in.message, msg, n))
			e = http_fail(req, HG_E_INVALID, "message must be hex digits (whole bytes)");
	}
	if (e == HG_OK && cmac && in.padding)
		e = http_fail(req, HG_E_INVALID, "'padding' belongs to the ISO 9797-1 algorithms");
	if (e == HG_OK && verify) {
		/* A MAC may be checked on its leftmost bytes, as payment messages often carry 4. */
		want_len = strlen(in.mac) / 2;
		if (strlen(in.mac) % 2 || !hex_decode(in.mac, want, want_len) || want_len < 4 ||
		    want_len > (cmac ? 16u : 8u))
			e = http_fail(req, HG_E_INVALID, "mac must be 4 to %u bytes in hex", cmac ? 16u : 8u);
	}
	if (e == HG_OK)
		e = body_key(req, "key", in.key, HG_USE_MAC, !verify, &k);
	if (e == HG_OK && strcmp(k.row->type, cmac ? "AES" : "TDES") != 0)
		e = http_fail(req, HG_E_INVALID, "%s needs %s key", in.algorithm, cmac ? "an AES" : "a TDES");
	if (e == HG_OK && cmac) {
		e = p11_sign(app_of(req)->p11, &k.v->id, HG_MAC_AES_CMAC, msg, n, false, mac, &mac_len);
	} else if (e == HG_OK) {
		enum hg_pay_mac_alg alg =
		    strcmp(in.algorithm, "ISO9797-1-ALG1") == 0 ? HG_MAC_ISO9797_ALG1 : HG_MAC_ISO9797_ALG3;
		enum hg_pay_padding pad = in.padding && strcmp(in.padding, "M2") == 0 ? HG_PAD_M2 : HG_PAD_M1;
		struct hg_pay_ops ops = ops_of(req);
		e = pay_fail(req, pay_mac_iso9797(&ops, &k.k, alg, pad, msg, n, mac));
		mac_len = 8;
	}
	if (e == HG_OK && verify) {
		bool valid = CRYPTO_memcmp(want, mac, want_len) == 0;
		http_reply(req, 200, json_pack("{s:b, s:i}", "valid", valid, "key_version", k.v->version));
	} else if (e == HG_OK) {
		char hex[2 * 16 + 1];
		hex_encode(mac, mac_len, hex);
		http_reply(req, 200, json_pack("{s:s, s:i}", "mac", hex, "key_version", k.v->version));
	}
	OPENSSL_cleanse(mac, sizeof mac);
	free(msg);
	pay_key_free(&k);
	json_decref(root);
	return e;
}

hg_err api_payments_mac(struct hg_request *req)
{
	return pmac_common(req, false);
}

hg_err api_payments_mac_verify(struct hg_request *req)
{
	return pmac_common(req, true);
}

const struct api_body_spec api_payments_bodies[] = {
    API_BODY("POST /v1/payments/pin/translate", translate_fields, struct translate_in),
    API_BODY("POST /v1/payments/pin/verify", pinv_fields, struct pinv_in),
    {"POST /v1/payments/pin/pvv", pinv_fields, NFIELDS(pinv_fields) - 2, sizeof(struct pinv_in)},
    {"POST /v1/payments/card/cvv", cvv_fields, NFIELDS(cvv_fields) - 1, sizeof(struct cvv_in)},
    API_BODY("POST /v1/payments/card/cvv/verify", cvv_fields, struct cvv_in),
    {"POST /v1/payments/mac", pmac_fields, NFIELDS(pmac_fields) - 1, sizeof(struct pmac_in)},
    API_BODY("POST /v1/payments/mac/verify", pmac_fields, struct pmac_in),
    {NULL, NULL, 0, 0},
};
