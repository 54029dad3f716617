/* Start-up reconciliation of the HSM with the key metadata.
 *
 * Every change to the HSM follows one order: an intent row is committed to the audit trail,
 * then the HSM is changed, then the metadata (key_versions) is committed, then the request's
 * outcome row. A crash between two steps leaves:
 *   - an object without a key version: create, rotation or import generated or unwrapped it
 *     and died before its row was committed. Nothing refers to it; it is destroyed.
 *   - a key version without its object: a destruction (destroy_at passed) destroyed the
 *     objects and died before recording the key as destroyed. It is finished: the key becomes
 *     destroyed. A live version of any other key whose object is missing is not something a
 *     crash can cause (the object always exists before its row): it is reported (log error,
 *     audit row hsm.reconcile.missing) and left alone for an operator.
 *   - open intents in this process's own chain: their requests were never answered. Each gets
 *     an hsm.reconcile.close row with its request id, so the verifier no longer counts it.
 *
 * Which objects are the gateway's: token key objects whose CKA_LABEL is the UUID text of their
 * 16-byte CKA_ID (p11_enumerate), and whose CKA_ID is a version 4 UUID of variant 10 (a key
 * version's) or 110/111 (a TDES half, p11_half_id). The audit signing key (version 0) and any
 * object another application made are never touched. A half's ID has lost bit 5 of byte 8 of
 * its version's ID, so an ID stands for the family of the two version IDs it could come from;
 * it is an orphan only if neither has a live (not destroyed) key version.
 *
 * Never destroying what a live instance is creating: an instance commits its intent row before
 * it makes the object and the key version before it writes its outcome row. So the token is
 * read first, the intents second and the versions last: an object seen on the token whose
 * version is still missing at the end was made under an intent committed before the token was
 * read. If any other chain has an open intent younger than grace_s (keys.reconcile_grace_seconds),
 * that may be it, and the orphans are left for a later reconciliation. Open intents of this
 * process's own chain never defer: the process that wrote them is gone (a chain has one writer,
 * and this one serves nothing yet). An open intent older than grace_s belongs to an instance
 * that died: no creation takes that long. */
#include <stdlib.h>
#include <string.h>

#include "hsmgw/keys.h"

#define ACTOR "reconcile"

/* The two key version IDs an object's CKA_ID can stand for; false if it is not a gateway key
 * version's (or half's) ID. */
static bool family_of(const hg_uuid *id, hg_uuid fam[2])
{
	if ((id->b[6] >> 4) != 4 || (id->b[8] & 0x80) == 0)
		return false; /* not version 4, or variant 0xx */
	fam[0] = fam[1] = *id;
	fam[0].b[8] = (uint8_t)((id->b[8] & 0x1f) | 0x80);
	fam[1].b[8] = (uint8_t)((id->b[8] & 0x1f) | 0xa0);
	return true;
}

static int uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(hg_uuid));
}

static int live_cmp(const void *a, const void *b)
{
	const struct hg_rc_version *const *x = a, *const *y = b;
	return memcmp(&(*x)->hsm_id, &(*y)->hsm_id, sizeof(hg_uuid));
}

struct rc {
	const struct hg_keys *k;
	const struct hg_reconcile_opts *o;
	struct hg_reconcile_report *out;
	hg_uuid *objs;
	size_t n_objs;
	struct hg_rc_version *vers;
	size_t n_vers;
	const struct hg_rc_version **live; /* versions not destroyed, sorted by hsm_id */
	size_t n_live;
	hg_uuid *completed; /* keys whose destruction this run finished */
	size_t n_completed;
};

static bool on_token(const struct rc *r, const hg_uuid *id)
{
	return bsearch(id, r->objs, r->n_objs, sizeof *id, uuid_cmp) != NULL;
}

static bool owned(const struct rc *r, const hg_uuid *id)
{
	struct hg_rc_version key = {.hsm_id = *id};
	const struct hg_rc_version *kp = &key;
	return bsearch(&kp, r->live, r->n_live, sizeof *r->live, live_cmp) != NULL;
}

/* "reconcile-<uuid>": the request id of one repair, its intent row and its outcome row. */
static void new_rid(char out[HG_UUID_STR_LEN + 16])
{
	hg_uuid u;
	char s[HG_UUID_STR_LEN + 1] = "";
	if (uuid_v4(&u) == 0)
		uuid_format(&u, s);
	snprintf(out, HG_UUID_STR_LEN + 16, "reconcile-%s", s);
}

/* One outcome row: caller "reconcile"; error_code NULL means success. */
static void audit_row(const struct rc *r, const char *rid, const char *tenant, const char *op, const hg_uuid *key_id,
		      int version, const char *error_code, bool used_hsm)
{
	if (!r->k->audit)
		return;
	struct hg_audit_entry e = {.ts_us = time_now_us(),
				   .operation = op,
				   .has_key = key_id != NULL,
				   .key_version = version,
				   .outcome = error_code ? HG_OUTCOME_ERROR : HG_OUTCOME_SUCCESS,
				   .error_code = error_code,
				   .hsm_node = used_hsm ? p11_info(r->k->p11)->node : NULL};
	if (key_id)
		e.key_id = *key_id;
	snprintf(e.tenant, sizeof e.tenant, "%s", tenant ? tenant : "");
	snprintf(e.caller, sizeof e.caller, ACTOR);
	snprintf(e.request_id, sizeof e.request_id, "%s", rid);
	if (audit_record(r->k->audit, &e) != HG_OK)
		log_error("reconcile: the audit row %s of %s could not be written", op, rid);
}

/* Destroys the objects of an orphan ID (and of its family: a half's sibling half goes too). */
static void destroy_orphan(struct rc *r, const hg_uuid *id, const hg_uuid fam[2])
{
	char rid[HG_UUID_STR_LEN + 16], text[HG_UUID_STR_LEN + 1];
	new_rid(rid);
	uuid_format(id, text);
	const struct hg_actor actor = {.sub = ACTOR, .request_id = rid};
	if (keys_audit_intent(r->k, "", &actor, "hsm.destroy.intent", id, 0) != HG_OK) {
		r->out->orphans_failed++;
		return;
	}
	/* p11_destroy_all(v) takes v's objects and those of both halves of v. */
	hg_err e = p11_destroy_all(r->k->p11, (id->b[8] & 0x40) ? &fam[0] : id);
	if (e == HG_OK) {
		r->out->orphans_destroyed++;
		log_warn("reconcile: HSM object %s had no key version (a create, rotation or import was interrupted): "
			 "destroyed",
			 text);
	} else {
		r->out->orphans_failed++;
		log_error("reconcile: HSM object %s has no key version and could not be destroyed: %s", text,
			  hg_err_code(e));
	}
	audit_row(r, rid, NULL, "hsm.reconcile.destroy", id, 0, e == HG_OK ? NULL : hg_err_code(e), true);
}

/* Objects no live key version owns. */
static void orphans(struct rc *r, size_t others_young)
{
	for (size_t i = 0; i < r->n_objs; i++) {
		hg_uuid fam[2];
		if (!family_of(&r->objs[i], fam) || owned(r, &fam[0]) || owned(r, &fam[1]))
			continue;
		if (r->out->orphans < HG_RC_LIST)
			r->out->orphan_ids[r->out->orphans] = r->objs[i];
		r->out->orphans++;
		if (r->o->dry_run)
			continue;
		if (others_young) {
			r->out->deferred = true;
			continue;
		}
		destroy_orphan(r, &r->objs[i], fam);
	}
	if (r->out->deferred)
		log_warn("reconcile: %zu HSM objects have no key version, but other instances have %zu key changes in "
			 "progress (open intents younger than %u s): left for a later reconciliation",
			 r->out->orphans, others_young, r->o->grace_s);
}

/* Whether the objects of a version are on the token: its own ID, or both halves. The list read
 * at the start is checked first; what it lacks is looked up again (a version committed after
 * the list was read has its object, made before its row). */
static bool version_present(const struct rc *r, const hg_uuid *id)
{
	hg_uuid h0, h1;
	p11_half_id(id, 0, &h0);
	p11_half_id(id, 1, &h1);
	if (on_token(r, id) || (on_token(r, &h0) && on_token(r, &h1)))
		return true;
	struct hg_p11_attrs a, b;
	if (p11_key_attrs(r->k->p11, id, true, &a) != HG_OK || a.found)
		return true; /* unreadable now: assume present, report nothing */
	return p11_key_attrs(r->k->p11, &h0, true, &a) != HG_OK || p11_key_attrs(r->k->p11, &h1, true, &b) != HG_OK ||
	       (a.found && b.found);
}

/* Finishes a destruction that destroyed objects and stopped before recording it. */
static void complete_destruction(struct rc *r, const struct hg_rc_version *v)
{
	for (size_t i = 0; i < r->n_completed; i++)
		if (memcmp(&r->completed[i], &v->key_id, sizeof v->key_id) == 0)
			return;
	hg_uuid *nc = realloc(r->completed, (r->n_completed + 1) * sizeof *nc);
	if (!nc)
		return;
	r->completed = nc;
	r->completed[r->n_completed++] = v->key_id;
	char rid[HG_UUID_STR_LEN + 16], text[HG_UUID_STR_LEN + 1];
	new_rid(rid);
	uuid_format(&v->key_id, text);
	const struct hg_actor actor = {.sub = ACTOR, .request_id = rid};
	hg_err e = keys_audit_intent(r->k, v->tenant, &actor, "hsm.destroy.intent", &v->key_id, 0);
	for (size_t i = 0; e == HG_OK && i < r->n_vers; i++)
		if (memcmp(&r->vers[i].key_id, &v->key_id, sizeof v->key_id) == 0)
			e = p11_destroy_all(r->k->p11, &r->vers[i].hsm_id);
	static const char *const from[] = {"destroy_scheduled", NULL};
	struct hg_key_event ev = {.event = "destroy", .actor = ACTOR, .request_id = rid};
	if (e == HG_OK)
		e = store_key_set_state(r->k->db, &v->key_id, from, "destroyed", 0, &ev);
	if (e == HG_E_CONFLICT) /* another instance finished it first */
		e = HG_OK;
	if (e == HG_OK) {
		r->out->destructions_completed++;
		log_warn("reconcile: key %s (tenant %s) was being destroyed when the gateway stopped: its destruction "
			 "is complete now",
			 text, v->tenant);
	} else {
		log_error("reconcile: the interrupted destruction of key %s (tenant %s) could not be finished: %s "
			  "(the scheduler retries it)",
			  text, v->tenant, hg_err_code(e));
	}
	audit_row(r, rid, v->tenant, "lifecycle.destroy", &v->key_id, 0, e == HG_OK ? NULL : hg_err_code(e), true);
}

/* Live versions whose objects are not on the token. */
static void missing(struct rc *r)
{
	for (size_t i = 0; i < r->n_live; i++) {
		const struct hg_rc_version *v = r->live[i];
		if (version_present(r, &v->hsm_id))
			continue;
		if (v->destroy_due) {
			if (!r->o->dry_run)
				complete_destruction(r, v);
			continue;
		}
		if (r->out->missing < HG_RC_LIST)
			r->out->missing_ids[r->out->missing] = v->hsm_id;
		r->out->missing++;
		if (r->o->dry_run)
			continue;
		char key[HG_UUID_STR_LEN + 1], obj[HG_UUID_STR_LEN + 1], rid[HG_UUID_STR_LEN + 16];
		uuid_format(&v->key_id, key);
		uuid_format(&v->hsm_id, obj);
		log_error(
		    "reconcile: key %s (tenant %s) version %d (%s, state %s) has no object in the HSM: operations "
		    "with it will fail; left as it is for an operator (README, Failure behaviour)",
		    key, v->tenant, v->version, obj, v->state);
		new_rid(rid);
		audit_row(r, rid, v->tenant, "hsm.reconcile.missing", &v->key_id, v->version, "hsm_object_missing",
			  true);
	}
}

/* The outcome of an open intent, as far as the metadata shows it: made (a version row exists),
 * destroyed (the key is), or not. */
static bool intent_took_effect(const struct rc *r, const struct hg_rc_intent *t)
{
	bool destroy = strcmp(t->operation, "hsm.destroy.intent") == 0;
	for (size_t i = 0; t->has_key && i < r->n_completed; i++)
		if (destroy && memcmp(&r->completed[i], &t->key_id, sizeof t->key_id) == 0)
			return true;
	for (size_t i = 0; t->has_key && i < r->n_vers; i++) {
		const struct hg_rc_version *v = &r->vers[i];
		if (memcmp(&v->key_id, &t->key_id, sizeof t->key_id) != 0)
			continue;
		if (destroy ? strcmp(v->key_state, "destroyed") == 0 : v->version == t->key_version)
			return true;
	}
	return false;
}

/* This chain's open intents: their process is gone, and their requests were never answered. */
static void close_intents(struct rc *r, const struct hg_rc_intent *own, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct hg_rc_intent *t = &own[i];
		bool done = intent_took_effect(r, t);
		r->out->intents_closed++;
		if (r->o->dry_run)
			continue;
		log_info("reconcile: request %s stopped after its %s (audit row %lld): %s", t->request_id, t->operation,
			 (long long)t->id, done ? "the change was made, the request was not answered" : "interrupted");
		audit_row(r, t->request_id, t->tenant, "hsm.reconcile.close", t->has_key ? &t->key_id : NULL,
			  t->key_version, done ? NULL : "interrupted", false);
	}
}

hg_err keys_reconcile(const struct hg_keys *k, const struct hg_reconcile_opts *o, struct hg_reconcile_report *out)
{
	memset(out, 0, sizeof *out);
	int64_t t0 = time_mono_us();
	struct rc r = {.k = k, .o = o, .out = out};
	struct hg_rc_intent *own = NULL;
	size_t n_own = 0, others_young = 0;
	/* The order is the safety argument (see above): token, intents, versions. */
	hg_err e = p11_enumerate(k->p11, &r.objs, &r.n_objs);
	if (e == HG_OK)
		e = store_rc_intents(k->db, o->own_chain, o->grace_s, &own, &n_own, &others_young);
	if (e == HG_OK)
		e = store_rc_versions(k->db, &r.vers, &r.n_vers);
	if (e == HG_OK && !(r.live = calloc(r.n_vers ? r.n_vers : 1, sizeof *r.live)))
		e = HG_E_INTERNAL;
	if (e == HG_OK) {
		for (size_t i = 0; i < r.n_vers; i++)
			if (strcmp(r.vers[i].state, "destroyed") != 0)
				r.live[r.n_live++] = &r.vers[i];
		qsort(r.live, r.n_live, sizeof *r.live, live_cmp);
		out->objects = r.n_objs;
		out->versions = r.n_vers;
		out->others_young = others_young;
		orphans(&r, others_young);
		missing(&r);
		close_intents(&r, own, n_own);
		log_info("reconcile: %zu key IDs on the token, %zu key versions%s: %zu without a key version (%zu "
			 "destroyed%s), %zu versions without their object, %zu destructions completed, %zu "
			 "unanswered requests closed (%lld ms)",
			 out->objects, out->versions, o->dry_run ? " (dry run)" : "", out->orphans,
			 out->orphans_destroyed, out->deferred ? ", the others deferred" : "", out->missing,
			 out->destructions_completed, out->intents_closed, (long long)((time_mono_us() - t0) / 1000));
	}
	free(own);
	free(r.objs);
	free(r.vers);
	free(r.live);
	free(r.completed);
	return e;
}
