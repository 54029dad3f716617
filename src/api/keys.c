/* /v1/keys: create, list, read. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/* A timestamp field: RFC 3339, or null when unset (0). */
static json_t *time_or_null(int64_t us)
{
	if (!us)
		return json_null();
	char t[32];
	time_format_rfc3339(us, t);
	return json_string(t);
}

static json_t *json_text_or_empty(const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	return j ? j : json_object();
}

json_t *api_key_json(const struct hg_key_row *k)
{
	char id[HG_UUID_STR_LEN + 1];
	uuid_format(&k->id, id);
	json_t *usage = json_array();
	for (char **u = k->usage; *u; u++)
		json_array_append_new(usage, json_string(*u));
	json_t *versions = json_array();
	for (size_t i = 0; i < k->n_versions; i++) {
		const struct hg_version_row *v = &k->versions[i];
		json_array_append_new(
		    versions, json_pack("{s:i, s:s, s:o, s:o, s:o}", "version", v->version, "state", v->state, "kcv",
					v->kcv[0] ? json_string(v->kcv) : json_null(), "created_at",
					time_or_null(v->created_at_us), "retire_at", time_or_null(v->retire_at_us)));
	}
	json_t *key = json_pack(
	    "{s:s, s:s, s:s, s:i, s:o, s:s, s:i, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
	    " s:o}",
	    "id", id, "name", k->name, "type", k->type, "size", k->size, "usage", usage, "state", k->state,
	    "primary_version", k->primary_version, "exportable", k->exportable, "versions", versions,
	    "rotation_period_days", k->rotation_period_days < 0 ? json_null() : json_integer(k->rotation_period_days),
	    "next_rotation_at", time_or_null(k->next_rotation_at_us), "expires_at", time_or_null(k->expires_at_us),
	    "activate_at", time_or_null(k->activate_at_us), "destroy_at", time_or_null(k->destroy_at_us), "labels",
	    json_text_or_empty(k->labels_json), "description",
	    k->description ? json_string(k->description) : json_null(), "policy", json_text_or_empty(k->policy_json),
	    "created_at", time_or_null(k->created_at_us), "updated_at", time_or_null(k->updated_at_us));
	if (key && k->curve[0])
		json_object_set_new(key, "curve", json_string(k->curve));
	return key;
}

unsigned api_usage_bits(const json_t *usage)
{
	unsigned bits = 0;
	size_t i;
	json_t *u;
	json_array_foreach (usage, i, u) {
		for (unsigned b = 0; b < HG_USE_COUNT; b++)
			if (strcmp(json_string_value(u), hg_usage_names[b]) == 0)
				bits |= 1u << b;
	}
	return bits;
}

hg_err api_key_resolve(struct hg_request *req, struct hg_key_row **out)
{
	hg_err e = keys_resolve(&app_of(req)->keys, req->who.tenant->name, req->param, out);
	if (e == HG_E_NOT_FOUND)
		return http_fail(req, e, "no key %s", keys_looks_like_uuid(req->param) ? req->param : "with that name");
	if (e == HG_OK) {
		req->has_key = true;
		req->key_id = (*out)->id;
	}
	return e;
}

hg_err api_body_key(struct hg_request *req, const char *field, const char *name, struct hg_key_row **out)
{
	hg_err e = keys_resolve(&app_of(req)->keys, req->who.tenant->name, name, out);
	if (e == HG_E_NOT_FOUND)
		return http_fail(req, e, "no key %s for '%s'", keys_looks_like_uuid(name) ? name : "with that name",
				 field);
	if (e == HG_OK && !req->has_key) {
		req->has_key = true;
		req->key_id = (*out)->id;
	}
	return e;
}

struct create_in {
	const char *name, *type, *description, *curve, *activate_at, *expires_at;
	long size, rotation_period_days;
	bool exportable;
	json_t *usage, *labels;
};

static const char *const key_types[] = {"AES", "TDES", "HMAC", "RSA", "EC", "ED25519", NULL};
static const char *const key_curves[] = {"P-256", "P-384", "P-521", NULL};

/* An optional RFC 3339 field that must lie in the future; 0 when absent. */
static hg_err future_time(struct hg_request *req, const char *name, const char *text, int64_t *us)
{
	*us = 0;
	if (!text)
		return HG_OK;
	if (!time_parse_rfc3339(text, us))
		return http_fail(req, HG_E_INVALID, "field '%s' must be an RFC 3339 time", name);
	if (*us <= time_now_us())
		return http_fail(req, HG_E_INVALID, "field '%s' must be in the future", name);
	return HG_OK;
}

static const struct hg_field create_fields[] = {
    {"name", HG_F_STRING, true, offsetof(struct create_in, name), 1, HG_MAX_NAME, NULL},
    {"type", HG_F_STRING, true, offsetof(struct create_in, type), 1, 16, key_types},
    {"size", HG_F_INT, false, offsetof(struct create_in, size), 1, 65536, NULL},
    {"curve", HG_F_STRING, false, offsetof(struct create_in, curve), 1, 8, key_curves},
    {"usage", HG_F_STRINGS, false, offsetof(struct create_in, usage), 1, HG_USE_COUNT, hg_usage_names},
    {"labels", HG_F_LABELS, false, offsetof(struct create_in, labels), 0, 64, NULL},
    {"description", HG_F_STRING, false, offsetof(struct create_in, description), 0, 1024, NULL},
    {"exportable", HG_F_BOOL, false, offsetof(struct create_in, exportable), 0, 0, NULL},
    {"rotation_period_days", HG_F_INT, false, offsetof(struct create_in, rotation_period_days), 1, 3650, NULL},
    {"activate_at", HG_F_STRING, false, offsetof(struct create_in, activate_at), 20, 40, NULL},
    {"expires_at", HG_F_STRING, false, offsetof(struct create_in, expires_at), 20, 40, NULL},
};

hg_err api_keys_create(struct hg_request *req)
{
	struct create_in in = {0};
	json_t *root;
	struct hg_key_spec spec = {0};
	hg_err e = api_parse(req, create_fields, NFIELDS(create_fields), &in, &root);
	if (e == HG_OK)
		e = future_time(req, "activate_at", in.activate_at, &spec.activate_at_us);
	if (e == HG_OK)
		e = future_time(req, "expires_at", in.expires_at, &spec.expires_at_us);
	if (e == HG_OK && spec.activate_at_us && spec.expires_at_us && spec.expires_at_us <= spec.activate_at_us)
		e = http_fail(req, HG_E_INVALID, "field 'expires_at' must come after 'activate_at'");
	if (e != HG_OK) {
		json_decref(root);
		return e;
	}
	spec.name = in.name;
	spec.type = in.type;
	spec.size = (int)in.size;
	spec.curve = in.curve;
	spec.description = in.description;
	spec.exportable = in.exportable;
	spec.rotation_period_days = (int)in.rotation_period_days;
	spec.usage = api_usage_bits(in.usage);

	char *labels = in.labels ? json_dumps(in.labels, JSON_COMPACT) : NULL;
	spec.labels_json = labels;
	struct hg_key_row *key = NULL;
	struct hg_actor actor = api_actor(req);
	e = keys_create(&app_of(req)->keys, req->who.tenant->name, &spec, &actor, &key, req->detail,
			sizeof req->detail);
	free(labels);
	json_decref(root);
	req->used_hsm = true;
	if (e != HG_OK)
		return e;
	req->has_key = true;
	req->key_id = key->id;
	req->key_version = key->primary_version;
	char id[HG_UUID_STR_LEN + 1];
	uuid_format(&key->id, id);
	snprintf(req->location, sizeof req->location, "/v1/keys/%s", id);
	http_reply(req, 201, api_key_json(key));
	key_row_free(key);
	return HG_OK;
}

hg_err api_keys_get(struct hg_request *req)
{
	struct hg_key_row *key;
	hg_err e = api_key_resolve(req, &key);
	if (e != HG_OK)
		return e;
	http_reply(req, 200, api_key_json(key));
	key_row_free(key);
	return HG_OK;
}

static const char *const key_states[] = {"pre_active",        "active",    "suspended", "deactivated", "compromised",
					 "destroy_scheduled", "destroyed", NULL};
static const char *const all_key_types[] = {"AES", "TDES", "HMAC", "RSA", "EC", "ED25519", NULL};

static bool one_of(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* The list cursor is the last row's seq, opaque to clients. Filters: state, type, name and
 * label=k:v (the key's labels contain k with value v). */
hg_err api_keys_list(struct hg_request *req)
{
	long limit, after;
	hg_err pe = api_page(req, &limit, &after);
	if (pe != HG_OK)
		return pe;
	struct hg_key_filter f = {
	    .state = http_query(req, "state"), .type = http_query(req, "type"), .name = http_query(req, "name")};
	if (f.state && !one_of(key_states, f.state))
		return http_fail(req, HG_E_INVALID, "state must be one of the key states");
	if (f.type && !one_of(all_key_types, f.type))
		return http_fail(req, HG_E_INVALID, "type must be one of the key types");
	const char *label = http_query(req, "label");
	char *label_json = NULL;
	if (label) {
		const char *colon = strchr(label, ':');
		if (!colon || colon == label)
			return http_fail(req, HG_E_INVALID, "label must be key:value");
		json_t *o = json_object();
		char k[64];
		snprintf(k, sizeof k, "%.*s", (int)(colon - label), label);
		json_object_set_new(o, k, json_string(colon + 1));
		label_json = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		f.label_json = label_json;
	}
	struct hg_key_row **rows;
	size_t n;
	/* One more than asked tells whether another page exists. */
	hg_err e = store_key_list(app_of(req)->db, req->who.tenant->name, &f, after, (unsigned)limit + 1, &rows, &n);
	free(label_json);
	if (e != HG_OK)
		return e;
	json_t *items = json_array();
	size_t shown = n > (size_t)limit ? (size_t)limit : n;
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(items, api_key_json(rows[i]));
	json_t *next = json_null();
	if (n > shown) {
		char c[24];
		snprintf(c, sizeof c, "%lld", (long long)rows[shown - 1]->seq);
		next = json_string(c);
	}
	key_rows_free(rows, n);
	http_reply(req, 200, json_pack("{s:o, s:o}", "items", items, "next_cursor", next));
	return HG_OK;
}

const struct api_body_spec api_keys_bodies[] = {
    API_BODY("POST /v1/keys", create_fields, struct create_in),
    {NULL, NULL, 0, 0},
};
