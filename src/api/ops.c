/* Operational routes: liveness, readiness and the OpenAPI document. */
#include "api_internal.h"

extern const char hg_openapi_json[]; /* embedded at build time (openapi_blob.S) */

json_t *api_openapi_document(void)
{
	return json_loads(hg_openapi_json, 0, NULL);
}

hg_err api_ops_healthz(struct hg_request *req)
{
	http_reply(req, 200, json_pack("{s:s}", "status", "ok"));
	return HG_OK;
}

hg_err api_ops_readyz(struct hg_request *req)
{
	struct hg_app *app = app_of(req);
	bool hsm = p11_ping(app->p11) == HG_OK, db = db_ping(app->db) == HG_OK;
	http_reply(req, hsm && db ? 200 : 503,
		   json_pack("{s:s, s:s}", "hsm", hsm ? "ok" : "down", "database", db ? "ok" : "down"));
	return HG_OK;
}

hg_err api_ops_openapi(struct hg_request *req)
{
	http_reply(req, 200, json_incref(app_of(req)->openapi));
	return HG_OK;
}

static hg_err idem_lookup(void *ctx, const char *tenant, const char *key, const char *hash, unsigned *status,
			  char **location, char **body)
{
	return store_idem_get(ctx, tenant, key, hash, status, location, body);
}

static void idem_save(void *ctx, const char *tenant, const char *key, const char *hash, unsigned status,
		      const char *location, const char *body)
{
	/* Not kept means only that a retry runs again: the response already stands. */
	if (store_idem_put(ctx, tenant, key, hash, status, location, body) != HG_OK)
		log_warn("idempotency: a response could not be kept");
}

struct hg_idempotency api_idempotency(struct hg_db *db)
{
	return (struct hg_idempotency){.ctx = db, .lookup = idem_lookup, .save = idem_save};
}
