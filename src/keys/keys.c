/* Key creation, resolution and the per-operation version rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsmgw/keys.h"

const char *const hg_usage_names[HG_USE_COUNT] = {
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

/* The checks a spec must pass before anything is generated. */
static hg_err check_spec(const struct hg_key_spec *s, char *detail, size_t len)
{
	if (keys_looks_like_uuid(s->name))
		return invalid(detail, len, "a key name must not have the form of a UUID");
	if (strspn(s->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(s->name) ||
	    s->name[0] == '.' || s->name[0] == '-' || s->name[0] == '_')
		return invalid(detail, len,
			       "a key name is letters, digits, '.', '_' and '-', starting with a letter or digit");
	if (strcmp(s->type, "AES") != 0)
		return invalid(detail, len, "unsupported key type");
	if (s->size != 128 && s->size != 192 && s->size != 256)
		return invalid(detail, len, "AES keys are 128, 192 or 256 bits");
	if (s->usage == 0 || (s->usage & ~(1u << HG_USE_ENCRYPT | 1u << HG_USE_DECRYPT)))
		return invalid(detail, len, "AES keys allow the usages encrypt and decrypt");
	return HG_OK;
}

hg_err keys_create(const struct hg_keys *k, const char *tenant, const struct hg_key_spec *spec,
		   const struct hg_actor *actor, struct hg_key_row **out, char *detail, size_t len)
{
	hg_err e = check_spec(spec, detail, len);
	if (e != HG_OK)
		return e;
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
	unsigned p11use = (spec->usage & 1u << HG_USE_ENCRYPT ? HG_P11_ENCRYPT : 0) |
			  (spec->usage & 1u << HG_USE_DECRYPT ? HG_P11_DECRYPT : 0);
	e = p11_aes_generate(k->p11, &v->id, (unsigned)spec->size, p11use, v->kcv);
	if (e != HG_OK) {
		key_row_free(row);
		return e;
	}
	snprintf(row->tenant, sizeof row->tenant, "%s", tenant);
	snprintf(row->name, sizeof row->name, "%s", spec->name);
	snprintf(row->type, sizeof row->type, "%s", spec->type);
	row->size = spec->size;
	row->usage = calloc(HG_USE_COUNT + 1, sizeof *row->usage);
	for (size_t i = 0, n = 0; i < HG_USE_COUNT; i++)
		if (spec->usage & 1u << i)
			row->usage[n++] = strdup(hg_usage_names[i]);
	snprintf(row->state, sizeof row->state, "active");
	row->primary_version = 1;
	row->labels_json = strdup(spec->labels_json ? spec->labels_json : "{}");
	row->policy_json = strdup("{}");
	row->description = spec->description ? strdup(spec->description) : NULL;
	row->rotation_period_days = -1;
	v->version = 1;
	snprintf(v->state, sizeof v->state, "primary");

	struct hg_key_event ev = {.event = "create", .actor = actor->sub, .request_id = actor->request_id};
	e = store_key_insert(k->db, row, &ev);
	if (e != HG_OK) {
		if (p11_destroy(k->p11, &v->id) != HG_OK)
			log_error("keys: could not destroy the HSM object of a key whose metadata failed");
		if (e == HG_E_CONFLICT)
			snprintf(detail, len, "a key named %s exists", spec->name);
		key_row_free(row);
		return e;
	}
	*out = row;
	return HG_OK;
}

hg_err keys_resolve(const struct hg_keys *k, const char *tenant, const char *id_or_name, struct hg_key_row **out)
{
	hg_uuid id;
	bool by_id = uuid_parse(id_or_name, &id);
	return store_key_get(k->db, tenant, by_id ? &id : NULL, id_or_name, out);
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
static bool key_state_allows(const char *state, bool protecting)
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
	if (!key_state_allows(key->state, protecting)) {
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
