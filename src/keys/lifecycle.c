/* The key lifecycle: the state machine as a table, rotation and rollback of versions, and
 * the time-driven changes one scheduler pass applies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsmgw/keys.h"

/* Every transition: the action, the states it may start from, the state it leads to. The
 * README's state table says the same; a unit test holds the two together. */
static const struct hg_transition transitions[HG_ACT_COUNT] = {
    [HG_ACT_SUSPEND] = {"suspend", "suspend", {"active", NULL}, "suspended"},
    [HG_ACT_RESUME] = {"resume", "resume", {"suspended", NULL}, "active"},
    [HG_ACT_DEACTIVATE] = {"deactivate", "deactivate", {"active", "suspended", NULL}, "deactivated"},
    [HG_ACT_REVOKE_COMPROMISED] = {"revoke (compromised)",
				   "revoke",
				   {"pre_active", "active", "suspended", "deactivated", NULL},
				   "compromised"},
    [HG_ACT_REVOKE] = {"revoke (superseded, cessation)",
		       "revoke",
		       {"pre_active", "active", "suspended", NULL},
		       "deactivated"},
    [HG_ACT_SCHEDULE_DESTRUCTION] = {"schedule-destruction, DELETE",
				     "schedule-destruction",
				     {"pre_active", "active", "suspended", "deactivated", "compromised", NULL},
				     "destroy_scheduled"},
    [HG_ACT_CANCEL_DESTRUCTION] = {"cancel-destruction",
				   "cancel-destruction",
				   {"destroy_scheduled", NULL},
				   "suspended"},
    [HG_ACT_ACTIVATE] = {"activate_at passes", "activate", {"pre_active", NULL}, "active"},
    [HG_ACT_EXPIRE] = {"expires_at passes", "expire", {"active", "suspended", NULL}, "deactivated"},
    [HG_ACT_DESTROY] = {"destroy_at passes", "destroy", {"destroy_scheduled", NULL}, "destroyed"},
};

const struct hg_transition *keys_transition_of(enum hg_key_action a)
{
	return (unsigned)a < HG_ACT_COUNT ? &transitions[a] : NULL;
}

bool keys_transition_allowed(enum hg_key_action a, const char *state)
{
	for (const char *const *f = transitions[a].from; *f; f++)
		if (strcmp(*f, state) == 0)
			return true;
	return false;
}

static hg_err conflict(const struct hg_key_row *key, const char *what, char *detail, size_t len)
{
	snprintf(detail, len, "a key in state %s cannot %s", key->state, what);
	return HG_E_CONFLICT;
}

/* Re-reads the key after a change, for the response. */
static hg_err reload(const struct hg_keys *k, const struct hg_key_row *key, struct hg_key_row **out)
{
	return store_key_get(k->db, key->tenant, &key->id, NULL, out);
}

hg_err keys_transition(const struct hg_keys *k, const struct hg_key_row *key, enum hg_key_action a, int pending_days,
		       const char *reason, const struct hg_actor *actor, struct hg_key_row **out, char *detail,
		       size_t len)
{
	const struct hg_transition *t = &transitions[a];
	if (!keys_transition_allowed(a, key->state))
		return conflict(key, t->action, detail, len);
	char ev_detail[128] = "{}";
	if (reason)
		snprintf(ev_detail, sizeof ev_detail, "{\"reason\":\"%s\"}", reason);
	else if (a == HG_ACT_SCHEDULE_DESTRUCTION)
		snprintf(ev_detail, sizeof ev_detail, "{\"pending_days\":%d}", pending_days);
	struct hg_key_event ev = {
	    .event = t->action, .actor = actor->sub, .request_id = actor->request_id, .detail_json = ev_detail};
	int64_t destroy_at = time_now_us() + (int64_t)pending_days * 86400 * 1000000;
	hg_err e = store_key_set_state(k->db, &key->id, t->from, t->to, destroy_at, &ev);
	if (e == HG_E_CONFLICT) /* the state changed under us */
		snprintf(detail, len, "the key's state changed; it cannot %s now", t->action);
	return e == HG_OK && out ? reload(k, key, out) : e;
}

hg_err keys_rotate(const struct hg_keys *k, const struct hg_key_row *key, int grace_days, const struct hg_actor *actor,
		   struct hg_key_row **out, char *detail, size_t len)
{
	if (strcmp(key->state, "active") != 0)
		return conflict(key, "rotate", detail, len);
	struct hg_version_row nv = {.version = key->primary_version + 1};
	if (uuid_v4(&nv.id) != 0)
		return HG_E_INTERNAL;
	hg_err e = keys_audit_intent(k, key->tenant, actor, "hsm.generate.intent", &key->id, nv.version);
	if (e == HG_OK)
		e = keys_generate_version(k, key, &nv.id, nv.kcv);
	if (e != HG_OK)
		return e;
	char ev_detail[64];
	snprintf(ev_detail, sizeof ev_detail, "{\"grace_days\":%d}", grace_days);
	struct hg_key_event ev = {
	    .event = "rotate", .actor = actor->sub, .request_id = actor->request_id, .detail_json = ev_detail};
	e = store_key_rotate(k->db, &key->id, &nv, time_now_us() + (int64_t)grace_days * 86400 * 1000000, &ev);
	if (e != HG_OK) {
		/* Nothing refers to the new object: take it out of the HSM again. */
		if (p11_destroy_all(k->p11, &nv.id) != HG_OK)
			log_error("keys: could not destroy the HSM object of a rotation that failed");
		if (e == HG_E_CONFLICT)
			snprintf(detail, len, "the key changed during the rotation; retry");
		return e;
	}
	return out ? reload(k, key, out) : HG_OK;
}

hg_err keys_rollback(const struct hg_keys *k, const struct hg_key_row *key, const struct hg_actor *actor,
		     struct hg_key_row **out, char *detail, size_t len)
{
	if (strcmp(key->state, "active") != 0)
		return conflict(key, "roll back", detail, len);
	struct hg_key_event ev = {.event = "rollback", .actor = actor->sub, .request_id = actor->request_id};
	int v;
	hg_err e = store_key_rollback(k->db, &key->id, &ev, &v);
	if (e == HG_E_CONFLICT)
		snprintf(detail, len, "no earlier version is still active to roll back to");
	return e == HG_OK && out ? reload(k, key, out) : e;
}

hg_err keys_patch(const struct hg_keys *k, const struct hg_key_row *key, const struct hg_key_patch *p,
		  const struct hg_actor *actor, struct hg_key_row **out, char *detail, size_t len)
{
	struct hg_key_event ev = {.event = "update", .actor = actor->sub, .request_id = actor->request_id};
	hg_err e = store_key_patch(k->db, &key->id, p, &ev);
	if (e == HG_E_CONFLICT)
		snprintf(detail, len, "a destroyed key cannot change");
	return e == HG_OK && out ? reload(k, key, out) : e;
}

/* Destroys every version's HSM objects, then records the key as destroyed. Destroying is
 * idempotent, so a pass interrupted half-way completes at the next one. */
static hg_err destroy_key(const struct hg_keys *k, const struct hg_key_row *key, const struct hg_actor *actor)
{
	hg_err ie = keys_audit_intent(k, key->tenant, actor, "hsm.destroy.intent", &key->id, 0);
	if (ie != HG_OK)
		return ie;
	for (size_t i = 0; i < key->n_versions; i++) {
		hg_err e = p11_destroy_all(k->p11, &key->versions[i].id);
		if (e != HG_OK)
			return e;
	}
	char d[16];
	return keys_transition(k, key, HG_ACT_DESTROY, 0, NULL, actor, NULL, d, sizeof d);
}

static hg_err apply_due(const struct hg_keys *k, const struct hg_due *d, const char *rid)
{
	const struct hg_actor scheduler = {.sub = "scheduler", .request_id = rid};
	struct hg_key_row *key = NULL;
	hg_err e = store_key_get(k->db, d->tenant, &d->key_id, NULL, &key);
	if (e != HG_OK)
		return e;
	char detail[HG_KEYS_DETAIL];
	if (strcmp(d->action, "activate") == 0) {
		e = keys_transition(k, key, HG_ACT_ACTIVATE, 0, NULL, &scheduler, NULL, detail, sizeof detail);
	} else if (strcmp(d->action, "expire") == 0) {
		e = keys_transition(k, key, HG_ACT_EXPIRE, 0, NULL, &scheduler, NULL, detail, sizeof detail);
	} else if (strcmp(d->action, "retire") == 0) {
		struct hg_key_event ev = {.event = "retire", .actor = scheduler.sub};
		e = store_version_retire(k->db, &d->key_id, d->version, &ev);
	} else if (strcmp(d->action, "rotate") == 0) {
		/* Automatic rotation keeps the default grace period. */
		e = keys_rotate(k, key, HG_DEFAULT_GRACE_DAYS, &scheduler, NULL, detail, sizeof detail);
	} else if (strcmp(d->action, "destroy") == 0) {
		e = destroy_key(k, key, &scheduler);
	}
	key_row_free(key);
	return e;
}

/* One audit row per scheduler change, as a request would have: caller "scheduler". */
static void audit_change(const struct hg_keys *k, const struct hg_due *d, hg_err r, int64_t t0, const char *rid)
{
	static const char *const ops[][2] = {{"activate", "lifecycle.activate"},
					     {"expire", "lifecycle.expire"},
					     {"retire", "lifecycle.retire"},
					     {"rotate", "lifecycle.rotate"},
					     {"destroy", "lifecycle.destroy"}};
	if (!k->audit)
		return;
	struct hg_audit_entry e = {
	    .ts_us = time_now_us(), .has_key = true, .key_id = d->key_id, .key_version = d->version};
	e.operation = "lifecycle";
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		if (strcmp(d->action, ops[i][0]) == 0)
			e.operation = ops[i][1];
	snprintf(e.tenant, sizeof e.tenant, "%s", d->tenant);
	snprintf(e.caller, sizeof e.caller, "scheduler");
	snprintf(e.request_id, sizeof e.request_id, "%s", rid);
	e.http_status = r == HG_OK ? 200 : hg_err_status(r);
	e.outcome = r == HG_OK ? HG_OUTCOME_SUCCESS : HG_OUTCOME_ERROR;
	e.error_code = r == HG_OK ? NULL : hg_err_code(r);
	e.hsm_node =
	    strcmp(d->action, "rotate") == 0 || strcmp(d->action, "destroy") == 0 ? p11_info(k->p11)->node : NULL;
	e.duration_us = time_mono_us() - t0;
	if (audit_record(k->audit, &e) != HG_OK)
		log_error("lifecycle: the audit row of a %s could not be written", d->action);
}

hg_err keys_lifecycle_run(const struct hg_keys *k, int64_t now_us, unsigned *applied, unsigned *failed)
{
	struct hg_due *due;
	size_t n;
	*applied = *failed = 0;
	hg_err e = store_lifecycle_due(k->db, now_us, &due, &n);
	if (e != HG_OK)
		return e;
	for (size_t i = 0; i < n; i++) {
		char id[HG_UUID_STR_LEN + 1];
		uuid_format(&due[i].key_id, id);
		int64_t t0 = time_mono_us();
		/* One request id per change: its intent row (if it touches the HSM) and its outcome
		 * row carry it. */
		hg_uuid ru;
		char rs[HG_UUID_STR_LEN + 1] = "", rid[HG_UUID_STR_LEN + 16];
		if (uuid_v4(&ru) == 0)
			uuid_format(&ru, rs);
		snprintf(rid, sizeof rid, "lifecycle-%s", rs);
		hg_err r = apply_due(k, &due[i], rid);
		/* Conflicts too: another instance may have changed the key after this one's intent. */
		audit_change(k, &due[i], r, t0, rid);
		/* A conflict means another instance or a caller changed the key first. */
		if (r == HG_OK || r == HG_E_CONFLICT) {
			(*applied) += r == HG_OK;
			log_info("lifecycle: %s key %s (tenant %s)%s", due[i].action, id, due[i].tenant,
				 r == HG_OK ? "" : ": already changed");
		} else {
			(*failed)++;
			log_error("lifecycle: %s key %s (tenant %s) failed: %s", due[i].action, id, due[i].tenant,
				  hg_err_code(r));
		}
	}
	free(due);
	return HG_OK;
}
