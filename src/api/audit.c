/* /v1/audit (the tenant's rows, filtered, cursor-paginated) and /v1/audit/verify. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "hsmgw/store.h"

static const char *const outcomes[] = {"success", "denied", "error", NULL};

/* An optional RFC 3339 query parameter as microseconds (0: absent). */
static hg_err time_param(struct hg_request *req, const char *name, int64_t *us)
{
	const char *v = http_query(req, name);
	*us = 0;
	if (v && (!time_parse_rfc3339(v, us) || *us <= 0))
		return http_fail(req, HG_E_INVALID, "%s must be an RFC 3339 time", name);
	return HG_OK;
}

hg_err api_audit_query(struct hg_request *req)
{
	long limit, after;
	struct hg_audit_filter f = {.operation = http_query(req, "operation"),
				    .outcome = http_query(req, "outcome"),
				    .caller = http_query(req, "caller")};
	hg_err e = api_page(req, &limit, &after);
	if (e == HG_OK)
		e = time_param(req, "since", &f.since_us);
	if (e == HG_OK)
		e = time_param(req, "until", &f.until_us);
	bool known = !f.outcome;
	for (size_t i = 0; f.outcome && outcomes[i]; i++)
		known |= strcmp(f.outcome, outcomes[i]) == 0;
	if (e == HG_OK && !known)
		e = http_fail(req, HG_E_INVALID, "outcome is success, denied or error");
	/* key: the key's UUID or its name; a name is resolved in the caller's tenant (a key that
	 * no longer resolves can still be asked for by UUID). */
	struct hg_key_row *key = NULL;
	char kid[HG_UUID_STR_LEN + 1];
	const char *k = http_query(req, "key");
	if (e == HG_OK && k && keys_looks_like_uuid(k)) {
		f.key_id = k;
	} else if (e == HG_OK && k) {
		e = keys_resolve(&app_of(req)->keys, req->who.tenant->name, k, &key);
		if (e == HG_E_NOT_FOUND)
			e = http_fail(req, e, "no key with that name");
		if (e == HG_OK) {
			uuid_format(&key->id, kid);
			f.key_id = kid;
		}
	}
	char *rows = NULL;
	if (e == HG_OK)
		e = store_audit_query(app_of(req)->db, req->who.tenant->name, &f, after, (unsigned)limit + 1, &rows);
	if (e == HG_OK)
		api_page_reply(req, rows, limit);
	free(rows);
	key_row_free(key);
	return e;
}

hg_err api_audit_verify(struct hg_request *req)
{
	const struct hg_app *app = app_of(req);
	struct hg_audit_verify v;
	hg_err e = audit_verify(app->cfg->db_conninfo, app->signer ? audit_signer_public_pem(app->signer) : NULL,
				app->cfg->audit_anchor_dir, &v);
	if (e == HG_E_AUDIT_UNAVAILABLE || e == HG_E_INTERNAL)
		return http_fail(req, HG_E_AUDIT_UNAVAILABLE, "the audit trail cannot be read now; retry");
	if (e != HG_OK)
		return http_fail(req, e, "%s", v.problem);
	http_reply(req, 200, audit_verify_json(&v));
	return HG_OK;
}
