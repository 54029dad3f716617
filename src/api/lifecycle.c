/* /v1/keys/{key}: PATCH, DELETE, rotate, rollback, the state changes and the event history.
 * Each answers with the key as it is afterwards. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/* Answers with the key after a change made by fn; frees both rows. */
static hg_err reply_key(struct hg_request *req, hg_err e, struct hg_key_row *before, struct hg_key_row *after)
{
	if (e == HG_OK)
		http_reply(req, 200, api_key_json(after));
	key_row_free(before);
	key_row_free(after);
	return e;
}

/* Parses an optional-fields body and resolves the key. */
static hg_err begin(struct hg_request *req, const struct hg_field *f, size_t n, void *in, json_t **root,
		    struct hg_key_row **key)
{
	*key = NULL;
	hg_err e = api_parse(req, f, n, in, root);
	return e == HG_OK ? api_key_resolve(req, key) : e;
}

hg_err api_keys_transition(struct hg_request *req)
{
	json_t *root;
	struct hg_key_row *key, *after = NULL;
	hg_err e = begin(req, NULL, 0, NULL, &root, &key);
	struct hg_actor actor = api_actor(req);
	if (e == HG_OK)
		e = keys_transition(&app_of(req)->keys, key, (enum hg_key_action)req->route->arg, 0, NULL, &actor,
				    &after, req->detail, sizeof req->detail);
	json_decref(root);
	return reply_key(req, e, key, after);
}

struct revoke_in {
	const char *reason;
};

static const char *const reasons[] = {"compromised", "superseded", "cessation", NULL};
static const struct hg_field revoke_fields[] = {
    {"reason", HG_F_STRING, true, offsetof(struct revoke_in, reason), 1, 16, reasons},
};

hg_err api_keys_revoke(struct hg_request *req)
{
	struct revoke_in in = {0};
	json_t *root;
	struct hg_key_row *key, *after = NULL;
	hg_err e = begin(req, revoke_fields, NFIELDS(revoke_fields), &in, &root, &key);
	struct hg_actor actor = api_actor(req);
	if (e == HG_OK) {
		enum hg_key_action a =
		    strcmp(in.reason, "compromised") == 0 ? HG_ACT_REVOKE_COMPROMISED : HG_ACT_REVOKE;
		e = keys_transition(&app_of(req)->keys, key, a, 0, in.reason, &actor, &after, req->detail,
				    sizeof req->detail);
	}
	json_decref(root);
	return reply_key(req, e, key, after);
}

struct destroy_in {
	long pending_days;
};

static const struct hg_field destroy_fields[] = {
    {"pending_days", HG_F_INT, false, offsetof(struct destroy_in, pending_days), 7, 30, NULL},
};

/* POST schedule-destruction, and DELETE (route arg 1: no body, the default window). */
hg_err api_keys_schedule_destruction(struct hg_request *req)
{
	struct destroy_in in = {.pending_days = 30};
	json_t *root;
	struct hg_key_row *key, *after = NULL;
	hg_err e = begin(req, destroy_fields, req->route->arg ? 0 : NFIELDS(destroy_fields), &in, &root, &key);
	struct hg_actor actor = api_actor(req);
	if (e == HG_OK)
		e = keys_transition(&app_of(req)->keys, key, HG_ACT_SCHEDULE_DESTRUCTION, (int)in.pending_days, NULL,
				    &actor, &after, req->detail, sizeof req->detail);
	json_decref(root);
	return reply_key(req, e, key, after);
}

struct rotate_in {
	long grace_days;
};

static const struct hg_field rotate_fields[] = {
    {"grace_days", HG_F_INT, false, offsetof(struct rotate_in, grace_days), 0, 3650, NULL},
};

hg_err api_keys_rotate(struct hg_request *req)
{
	struct rotate_in in = {.grace_days = HG_DEFAULT_GRACE_DAYS};
	json_t *root;
	struct hg_key_row *key, *after = NULL;
	hg_err e = begin(req, rotate_fields, NFIELDS(rotate_fields), &in, &root, &key);
	struct hg_actor actor = api_actor(req);
	if (e == HG_OK) {
		req->used_hsm = true;
		e = keys_rotate(&app_of(req)->keys, key, (int)in.grace_days, &actor, &after, req->detail,
				sizeof req->detail);
	}
	if (e == HG_OK)
		req->key_version = after->primary_version;
	json_decref(root);
	return reply_key(req, e, key, after);
}

hg_err api_keys_rollback(struct hg_request *req)
{
	json_t *root;
	struct hg_key_row *key, *after = NULL;
	hg_err e = begin(req, NULL, 0, NULL, &root, &key);
	struct hg_actor actor = api_actor(req);
	if (e == HG_OK)
		e = keys_rollback(&app_of(req)->keys, key, &actor, &after, req->detail, sizeof req->detail);
	if (e == HG_OK)
		req->key_version = after->primary_version;
	json_decref(root);
	return reply_key(req, e, key, after);
}

struct patch_in {
	json_t *labels, *policy;
	const char *description, *expires_at;
	long rotation_period_days;
};

static const struct hg_field patch_fields[] = {
    {"labels", HG_F_LABELS, false, offsetof(struct patch_in, labels), 0, 64, NULL},
    {"policy", HG_F_OBJECT, false, offsetof(struct patch_in, policy), 0, 64, NULL},
    {"description", HG_F_STRING, false, offsetof(struct patch_in, description), 0, 1024, NULL},
    {"expires_at", HG_F_STRING, false, offsetof(struct patch_in, expires_at), 20, 40, NULL},
    {"rotation_period_days", HG_F_INT, false, offsetof(struct patch_in, rotation_period_days), 0, 3650, NULL},
};

/* PATCH: each field given replaces the stored one. rotation_period_days 0 and expires_at
 * null stop automatic rotation and expiry. */
hg_err api_keys_patch(struct hg_request *req)
{
	struct patch_in in = {.rotation_period_days = -1};
	json_t *root;
	struct hg_key_row *key = NULL, *after = NULL;
	hg_err e = api_parse(req, patch_fields, NFIELDS(patch_fields), &in, &root);
	struct hg_key_patch p = {0};
	if (e == HG_OK) {
		p.set_description = json_object_get(root, "description") != NULL;
		p.description = in.description;
		p.set_rotation = in.rotation_period_days >= 0;
		p.rotation_period_days = (int)in.rotation_period_days;
		p.set_expires = json_object_get(root, "expires_at") != NULL; /* null clears it */
		if (in.expires_at && !time_parse_rfc3339(in.expires_at, &p.expires_at_us))
			e = http_fail(req, HG_E_INVALID, "field 'expires_at' must be an RFC 3339 time");
		else if (in.expires_at && p.expires_at_us <= time_now_us())
			e = http_fail(req, HG_E_INVALID, "field 'expires_at' must be in the future");
	}
	char *labels = in.labels ? json_dumps(in.labels, JSON_COMPACT) : NULL;
	char *policy = in.policy ? json_dumps(in.policy, JSON_COMPACT) : NULL;
	p.labels_json = labels;
	p.policy_json = policy;
	if (e == HG_OK)
		e = api_key_resolve(req, &key);
	struct hg_actor actor = api_actor(req);
	if (e == HG_OK)
		e = keys_patch(&app_of(req)->keys, key, &p, &actor, &after, req->detail, sizeof req->detail);
	free(labels);
	free(policy);
	json_decref(root);
	return reply_key(req, e, key, after);
}

hg_err api_keys_events(struct hg_request *req)
{
	long limit, after;
	hg_err e = api_page(req, &limit, &after);
	struct hg_key_row *key = NULL;
	if (e == HG_OK)
		e = api_key_resolve(req, &key);
	char *events = NULL;
	if (e == HG_OK)
		e = store_key_events(app_of(req)->db, &key->id, after, (unsigned)limit + 1, &events);
	if (e == HG_OK)
		api_page_reply(req, events, limit);
	free(events);
	key_row_free(key);
	return e;
}

const struct api_body_spec api_lifecycle_bodies[] = {
    API_BODY("POST /v1/keys/{key}/revoke", revoke_fields, struct revoke_in),
    API_BODY("POST /v1/keys/{key}/schedule-destruction", destroy_fields, struct destroy_in),
    API_BODY("POST /v1/keys/{key}/rotate", rotate_fields, struct rotate_in),
    API_BODY("PATCH /v1/keys/{key}", patch_fields, struct patch_in),
    {"POST /v1/keys/{key}/suspend, /resume, /rollback, …, DELETE /v1/keys/{key}: no fields", NULL, 0, 0},
    {NULL, NULL, 0, 0},
};
