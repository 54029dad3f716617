/* Key creation, resolution and the per-operation version rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsmgw/keys.h"

const char *const hg_usage_names[HG_USE_COUNT + 1] = {
#define HG_USAGE_NAME(e, s) [e] = s,
    HG_USAGES(HG_USAGE_NAME)
#undef HG_USAGE_NAME
};

bool keys_looks_like_uuid(const char *s)
{
	hg_uuid u;
	return uuid_parse(s, &u);
}

static hg_err invalid(char *detail, size_t len, const char *why)
{
	snprintf(detail, len, "%s", why);
	return HG_E_INVALID;
}

#define U(x)           (1u << HG_USE_##x)
#define PAYMENT_USAGES (U(PIN) | U(PIN_VERIFY) | U(CVV))
/* TDES keys with these usages use each half on its own (CVV, ISO 9797-1 algorithm 3). */
#define HALVES_USAGES (U(CVV) | U(MAC))

/* What each key type may be: its HSM type, sizes, and the usages it allows. Payment usages
 * (pin, pin_verify, cvv) stand alone: one per key, never with a generic usage (key
 * separation). RSA keys either encrypt/wrap or sign, never both. */
// clang-format off
static const struct type_rule {
	const char *name;
	enum hg_p11_type kt;
	int sizes[4];	    /* allowed sizes; HMAC: {min, max} in steps of 8 */
	int default_size;   /* when the request names none */
	unsigned usages;    /* generic and payment usages allowed */
	unsigned default_usage;
} type_rules[] = {
	{"AES", HG_KT_AES, {128, 192, 256}, 256,
	 U(ENCRYPT) | U(DECRYPT) | U(WRAP) | U(UNWRAP) | U(MAC) | U(TOKENIZE) | U(PIN), U(ENCRYPT) | U(DECRYPT)},
	{"TDES", HG_KT_TDES, {128, 192}, 192,
	 U(ENCRYPT) | U(DECRYPT) | U(WRAP) | U(UNWRAP) | U(MAC) | PAYMENT_USAGES, U(ENCRYPT) | U(DECRYPT)},
	{"HMAC", HG_KT_HMAC, {256, 512}, 256, U(MAC) | U(TOKENIZE) | U(DERIVE), U(MAC)},
	{"RSA", HG_KT_RSA, {2048, 3072, 4096}, 3072,
	 U(ENCRYPT) | U(DECRYPT) | U(WRAP) | U(UNWRAP) | U(SIGN) | U(VERIFY), U(ENCRYPT) | U(DECRYPT)},
	{"EC", HG_KT_EC, {0}, 0, U(SIGN) | U(VERIFY) | U(DERIVE), U(SIGN) | U(VERIFY)},
	{"ED25519", HG_KT_ED25519, {256}, 256, U(SIGN) | U(VERIFY), U(SIGN) | U(VERIFY)},
};
// clang-format on

static const struct {
	const char *name;
	unsigned bits;
} curves[] = {{"P-256", 256}, {"P-384", 384}, {"P-521", 521}};

static const struct type_rule *rule_of(const char *type)
{
	for (size_t i = 0; i < sizeof type_rules / sizeof *type_rules; i++)
		if (strcmp(type_rules[i].name, type) == 0)
			return &type_rules[i];
	return NULL;
}

static unsigned curve_bits(const char *curve)
{
	for (size_t i = 0; curve && i < sizeof curves / sizeof *curves; i++)
		if (strcmp(curves[i].name, curve) == 0)
			return curves[i].bits;
	return 0;
}

static bool size_ok(const struct type_rule *r, int size)
{
	if (r->kt == HG_KT_HMAC)
		return size >= r->sizes[0] && size <= r->sizes[1] && size % 8 == 0;
	for (size_t i = 0; i < sizeof r->sizes / sizeof *r->sizes && r->sizes[i]; i++)
		if (r->sizes[i] == size)
			return true;
	return false;
}

/* The PKCS#11 attributes a key's usages need: the HSM then refuses anything else. Tokens
 * come from AES (FF1 rounds: encryption) or from HMAC (deterministic: a MAC, which PKCS#11
 * calls signing). */
static unsigned p11_usage(enum hg_p11_type kt, unsigned use)
{
	unsigned f = 0;
	if (use & U(TOKENIZE))
		f |= kt == HG_KT_HMAC ? HG_P11_SIGN : HG_P11_ENCRYPT;
	if (use & (U(ENCRYPT) | U(PIN) | U(PIN_VERIFY) | U(CVV)))
		f |= HG_P11_ENCRYPT;
	if (use & (U(DECRYPT) | U(PIN)))
		f |= HG_P11_DECRYPT;
	if (use & (U(SIGN) | U(MAC)))
		f |= HG_P11_SIGN;
	if (use & (U(VERIFY) | U(MAC)))
		f |= HG_P11_VERIFY;
	if (use & U(WRAP))
		f |= HG_P11_WRAP;
	if (use & U(UNWRAP))
		f |= HG_P11_UNWRAP;
	if (use & U(DERIVE))
		f |= HG_P11_DERIVE;
	return f;
}

/* The checks a spec must pass before anything is generated; fills in the type's defaults
 * for size and usage when the request named none. */
static hg_err check_spec(struct hg_key_spec *s, char *detail, size_t len)
{
	if (keys_looks_like_uuid(s->name))
		return invalid(detail, len, "a key name must not have the form of a UUID");
	if (strspn(s->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(s->name) ||
	    s->name[0] == '.' || s->name[0] == '-' || s->name[0] == '_')
		return invalid(detail, len,
			       "a key name is letters, digits, '.', '_' and '-', starting with a letter or digit");
	const struct type_rule *r = rule_of(s->type);
	if (!r)
		return invalid(detail, len, "unsupported key type");
	if (s->usage == 0)
		s->usage = r->default_usage;
	if (s->size == 0)
		s->size = r->kt == HG_KT_TDES && (s->usage & HALVES_USAGES) ? 128 : r->default_size;
	if (r->kt == HG_KT_EC) {
		if (!curve_bits(s->curve))
			return invalid(detail, len, "EC keys need a curve: P-256, P-384 or P-521");
	} else if (s->curve) {
		return invalid(detail, len, "only EC keys have a curve");
	} else if (!size_ok(r, s->size)) {
		snprintf(detail, len, "size %d is not allowed for %s keys", s->size, s->type);
		return HG_E_INVALID;
	}
	if (s->usage == 0 || (s->usage & ~r->usages)) {
		snprintf(detail, len, "a usage given is not possible for %s keys", s->type);
		return HG_E_INVALID;
	}
	unsigned pay = s->usage & PAYMENT_USAGES;
	if (pay && (pay != s->usage || (pay & (pay - 1))))
		return invalid(detail, len, "a payment usage (pin, pin_verify, cvv) stands alone on its key");
	/* Card validation and ISO 9797-1 MAC keys are held as single-DES halves (keys_p11_spec):
	 * 2-key only, alone on their key, and never leave the HSM. */
	if (r->kt == HG_KT_TDES && (s->usage & HALVES_USAGES)) {
		if (s->usage != (s->usage & HALVES_USAGES) || (s->usage & (s->usage - 1)))
			return invalid(detail, len, "a TDES key with usage cvv or mac has that usage alone");
		if (s->size != 128)
			return invalid(detail, len, "TDES keys with usage cvv or mac are 2-key (size 128)");
		if (s->exportable)
			return invalid(detail, len,
				       "TDES keys with usage cvv or mac are held in the HSM as single-DES halves and "
				       "cannot be exported");
	}
	if (r->kt == HG_KT_RSA && (s->usage & (U(SIGN) | U(VERIFY))) &&
	    (s->usage & (U(ENCRYPT) | U(DECRYPT) | U(WRAP) | U(UNWRAP))))
		return invalid(detail, len, "an RSA key either signs or encrypts, not both");
	return HG_OK;
}

hg_err keys_audit_intent(const struct hg_keys *k, const char *tenant, const struct hg_actor *actor, const char *op,
			 const hg_uuid *key_id, int version)
{
	if (!k->audit)
		return HG_OK;
	struct hg_audit_entry e = {.ts_us = time_now_us(),
				   .operation = op,
				   .has_key = true,
				   .key_id = *key_id,
				   .key_version = version,
				   .outcome = HG_OUTCOME_SUCCESS,
				   .http_status = 0,
				   .hsm_node = p11_info(k->p11)->node};
	snprintf(e.tenant, sizeof e.tenant, "%s", tenant);
	snprintf(e.caller, sizeof e.caller, "%s", actor->sub);
	snprintf(e.request_id, sizeof e.request_id, "%s", actor->request_id ? actor->request_id : "");
	hg_err r = audit_record(k->audit, &e);
	if (r != HG_OK)
		log_error("keys: the intent row of %s could not be written; the HSM is not changed", op);
	return r;
}

/* Creation and import share everything but where the first version's material comes from:
 * generated in the HSM (w NULL) or unwrapped into it. */
static hg_err create_key(const struct hg_keys *k, const char *tenant, const struct hg_key_spec *asked,
			 const struct hg_key_wrapped *w, const struct hg_actor *actor, struct hg_key_row **out,
			 char *detail, size_t len)
{
	struct hg_key_spec specd = *asked, *spec = &specd;
	hg_err e = check_spec(spec, detail, len);
	if (e != HG_OK)
		return e;
	if (strcmp(spec->type, "TDES") == 0 && (spec->usage & HALVES_USAGES) && !p11_single_des(k->p11))
		return invalid(detail, len,
			       "this HSM does not compute single DES, which TDES keys with usage cvv or mac need");
	/* A taken name is refused before the HSM does any work; the unique index still
	 * decides races. */
	struct hg_key_row *existing = NULL;
	e = store_key_get(k->db, tenant, NULL, spec->name, &existing);
	key_row_free(existing);
	if (e == HG_OK) {
		snprintf(detail, len, "a key named %s exists", spec->name);
		return HG_E_CONFLICT;
	}
	if (e != HG_E_NOT_FOUND)
		return e;

	struct hg_key_row *row = calloc(1, sizeof *row);
	row->versions = calloc(1, sizeof *row->versions);
	row->n_versions = 1;
	struct hg_version_row *v = &row->versions[0];
	if (uuid_v4(&row->id) != 0 || uuid_v4(&v->id) != 0) {
		key_row_free(row);
		return HG_E_INTERNAL;
	}
	snprintf(row->tenant, sizeof row->tenant, "%s", tenant);
	snprintf(row->name, sizeof row->name, "%s", spec->name);
	snprintf(row->type, sizeof row->type, "%s", spec->type);
	row->size = spec->curve ? (int)curve_bits(spec->curve) : spec->size;
	snprintf(row->curve, sizeof row->curve, "%s", spec->curve ? spec->curve : "");
	row->usage = calloc(HG_USE_COUNT + 1, sizeof *row->usage);
	for (size_t i = 0, n = 0; i < HG_USE_COUNT; i++)
		if (spec->usage & 1u << i)
			row->usage[n++] = strdup(hg_usage_names[i]);
	snprintf(row->state, sizeof row->state, "%s", spec->activate_at_us ? "pre_active" : "active");
	row->exportable = spec->exportable;
	row->activate_at_us = spec->activate_at_us;
	row->expires_at_us = spec->expires_at_us;
	row->primary_version = 1;
	row->labels_json = strdup(spec->labels_json ? spec->labels_json : "{}");
	row->policy_json = strdup("{}");
	row->description = spec->description ? strdup(spec->description) : NULL;
	row->rotation_period_days = spec->rotation_period_days > 0 ? spec->rotation_period_days : -1;
	v->version = 1;
	snprintf(v->state, sizeof v->state, "primary");
	e = keys_audit_intent(k, tenant, actor, w ? "hsm.unwrap.intent" : "hsm.generate.intent", &row->id, 1);
	if (e != HG_OK) {
		key_row_free(row);
		return e;
	}
	if (w) {
		struct hg_p11_keyspec ps;
		e = keys_p11_spec(row, &ps);
		if (e == HG_OK)
			e = p11_unwrap(k->p11, w->unwrapping_id, w->alg, w->data, w->len, &v->id, &ps, v->kcv);
		if (e == HG_E_INVALID)
			snprintf(detail, len, "the wrapped key does not unwrap to a %s key of this size under that key",
				 row->type);
		/* The importer's KCV proves the right key (and size) arrived: some tokens cannot tell
		 * an unwrapped key's length. */
		if (e == HG_OK && w->kcv && strcasecmp(w->kcv, v->kcv) != 0) {
			if (p11_destroy_all(k->p11, &v->id) != HG_OK)
				log_error("keys: could not destroy an imported key whose KCV did not match");
			snprintf(detail, len, "the imported key's KCV is %s, not the %s given",
				 v->kcv[0] ? v->kcv : "none", w->kcv);
			e = HG_E_INVALID;
		}
	} else {
		e = keys_generate_version(k, row, &v->id, v->kcv);
	}
	if (e != HG_OK) {
		key_row_free(row);
		return e;
	}

	struct hg_key_event ev = {
	    .event = w ? "import" : "create", .actor = actor->sub, .request_id = actor->request_id};
	e = store_key_insert(k->db, row, &ev);
	if (e != HG_OK) {
		if (p11_destroy_all(k->p11, &v->id) != HG_OK)
			log_error("keys: could not destroy the HSM object of a key whose metadata failed");
		if (e == HG_E_CONFLICT)
			snprintf(detail, len, "a key named %s exists", spec->name);
		key_row_free(row);
		return e;
	}
	*out = row;
	return HG_OK;
}

/* The usage names of a key as a bit set. */
static unsigned usage_bits(const struct hg_key_row *key)
{
	unsigned bits = 0;
	for (char **u = key->usage; *u; u++)
		for (unsigned b = 0; b < HG_USE_COUNT; b++)
			if (strcmp(*u, hg_usage_names[b]) == 0)
				bits |= 1u << b;
	return bits;
}

hg_err keys_p11_spec(const struct hg_key_row *key, struct hg_p11_keyspec *out)
{
	const struct type_rule *r = rule_of(key->type);
	if (!r)
		return HG_E_INTERNAL;
	*out = (struct hg_p11_keyspec){.type = r->kt,
				       .bits = (unsigned)key->size,
				       .curve_bits = curve_bits(key->curve),
				       .usage = p11_usage(r->kt, usage_bits(key)),
				       .exportable = key->exportable,
				       .halves = r->kt == HG_KT_TDES && (usage_bits(key) & HALVES_USAGES)};
	return HG_OK;
}

hg_err keys_generate_version(const struct hg_keys *k, const struct hg_key_row *key, const hg_uuid *id,
			     char kcv[HG_KCV_HEX_LEN + 1])
{
	struct hg_p11_keyspec spec;
	hg_err e = keys_p11_spec(key, &spec);
	return e == HG_OK ? p11_generate(k->p11, id, &spec, kcv) : e;
}

hg_err keys_create(const struct hg_keys *k, const char *tenant, const struct hg_key_spec *spec,
		   const struct hg_actor *actor, struct hg_key_row **out, char *detail, size_t len)
{
	return create_key(k, tenant, spec, NULL, actor, out, detail, len);
}

hg_err keys_import(const struct hg_keys *k, const char *tenant, const struct hg_key_spec *spec,
		   const struct hg_key_wrapped *w, const struct hg_actor *actor, struct hg_key_row **out, char *detail,
		   size_t len)
{
	return create_key(k, tenant, spec, w, actor, out, detail, len);
}

hg_err keys_resolve(const struct hg_keys *k, const char *tenant, const char *id_or_name, struct hg_key_row **out)
{
	/* The generation is read before the row: a change committed meanwhile makes the copy
	 * stale at once instead of being missed. */
	uint64_t gen = db_keys_generation(k->db);
	if (key_cache_get(k->cache, tenant, id_or_name, gen, out))
		return HG_OK;
	hg_uuid id;
	bool by_id = uuid_parse(id_or_name, &id);
	hg_err e = store_key_get(k->db, tenant, by_id ? &id : NULL, id_or_name, out);
	if (e == HG_OK)
		key_cache_put(k->cache, tenant, id_or_name, gen, *out);
	return e;
}

static bool has_usage(const struct hg_key_row *key, enum hg_usage use)
{
	for (char **u = key->usage; *u; u++)
		if (strcmp(*u, hg_usage_names[use]) == 0)
			return true;
	return false;
}

/* Protecting operations need an active key; unprotecting ones also work on a deactivated
 * key, so data protected before deactivation stays readable. */
bool keys_state_allows(const char *state, bool protecting)
{
	return strcmp(state, "active") == 0 || (!protecting && strcmp(state, "deactivated") == 0);
}

hg_err keys_version_for(const struct hg_key_row *key, enum hg_usage use, int version, const struct hg_version_row **out,
			char *detail, size_t len)
{
	if (!has_usage(key, use)) {
		snprintf(detail, len, "key usage does not include %s", hg_usage_names[use]);
		return HG_E_KEY_USAGE;
	}
	bool protecting = version == 0;
	if (!keys_state_allows(key->state, protecting)) {
		snprintf(detail, len, "the key is %s", key->state);
		return HG_E_KEY_STATE;
	}
	int want = protecting ? key->primary_version : version;
	for (size_t i = 0; i < key->n_versions; i++) {
		const struct hg_version_row *v = &key->versions[i];
		if (v->version != want)
			continue;
		if (strcmp(v->state, "primary") != 0 && strcmp(v->state, "active") != 0) {
			snprintf(detail, len, "key version %d is %s", want, v->state);
			return HG_E_KEY_STATE;
		}
		*out = v;
		return HG_OK;
	}
	snprintf(detail, len, "the key has no version %d", want);
	return HG_E_INVALID;
}
