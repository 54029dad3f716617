/* Operational routes: liveness, readiness and the OpenAPI document. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "hsmgw/metrics.h"

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
	struct hg_p11_health h;
	p11_health(app->p11, &h);
	bool db = db_ping(app->db) == HG_OK;
	json_t *body = json_pack("{s:s, s:s}", "hsm", h.up ? "ok" : "down", "database", db ? "ok" : "down");
	/* What is down, and why: for the operator, who reads it next to the logs. */
	if (body && (!h.up || !db)) {
		json_t *why = json_object();
		if (!h.up)
			json_object_set_new(why, "hsm", json_string(h.reason));
		if (!db)
			json_object_set_new(why, "database", json_string("PostgreSQL does not answer"));
		json_object_set_new(body, "reasons", why);
	}
	http_reply(req, h.up && db ? 200 : 503, body);
	return HG_OK;
}

/* ---- GET /metrics ---- */

static void cache_families(struct hg_prom *p, const char *cache, unsigned long hits, unsigned long misses)
{
	char name[96];
	snprintf(name, sizeof name, "hsmgw_%s_cache_hits_total", cache);
	prom_family(p, name, "counter", "Lookups answered from the cache.");
	prom_sample(p, name, NULL, (double)hits);
	snprintf(name, sizeof name, "hsmgw_%s_cache_misses_total", cache);
	prom_family(p, name, "counter", "Lookups the cache could not answer.");
	prom_sample(p, name, NULL, (double)misses);
}

static void audit_families(struct hg_prom *p, struct hg_audit *a)
{
	struct hg_audit_stats st;
	audit_stats(a, &st);
	prom_family(p, "hsmgw_audit_queue_depth", "gauge", "Audit rows waiting for the writer.");
	prom_sample(p, "hsmgw_audit_queue_depth", NULL, (double)st.queue_depth);
	prom_family(p, "hsmgw_audit_rows_total", "counter", "Audit rows committed.");
	prom_sample(p, "hsmgw_audit_rows_total", NULL, (double)st.rows_committed);
	prom_family(p, "hsmgw_audit_commit_failures_total", "counter", "Audit batches whose commit failed.");
	prom_sample(p, "hsmgw_audit_commit_failures_total", NULL, (double)st.batches_failed);
	if (st.commit) {
		prom_family(p, "hsmgw_audit_commit_duration_seconds", "histogram",
			    "Time to write and commit one batch of audit rows.");
		prom_hist(p, "hsmgw_audit_commit_duration_seconds", NULL, st.commit);
	}
}

/* Keys by tenant and state, and rotations overdue; nothing when the database does not
 * answer (hsmgw_up_database says so). */
static bool key_families(struct hg_prom *p, struct hg_db *db)
{
	struct hg_key_count *kc;
	size_t n;
	if (store_key_counts(db, &kc, &n) != HG_OK)
		return false;
	char labels[256];
	prom_family(p, "hsmgw_keys", "gauge", "Keys by tenant and lifecycle state.");
	for (size_t i = 0; i < n; i++) {
		prom_labels(labels, sizeof labels, "tenant", kc[i].tenant, "state", kc[i].state, (const char *)NULL);
		prom_sample(p, "hsmgw_keys", labels, (double)kc[i].keys);
	}
	prom_family(p, "hsmgw_keys_rotation_due", "gauge", "Active keys past their automatic rotation time.");
	int64_t due = 0; /* the rows come ordered by tenant */
	for (size_t i = 0; i < n; i++) {
		due += kc[i].rotation_due;
		if (i + 1 < n && strcmp(kc[i + 1].tenant, kc[i].tenant) == 0)
			continue;
		prom_labels(labels, sizeof labels, "tenant", kc[i].tenant, (const char *)NULL);
		prom_sample(p, "hsmgw_keys_rotation_due", labels, (double)due);
		due = 0;
	}
	free(kc);
	return true;
}

hg_err api_ops_metrics(struct hg_request *req)
{
	struct hg_app *app = app_of(req);
	struct hg_prom p = {0};
	const char **routes = calloc(api_n_routes, sizeof *routes), **methods = calloc(api_n_routes, sizeof *methods);
	const char **tenants = calloc(app->cfg->n_tenants + 1, sizeof *tenants);
	if (!routes || !methods || !tenants) {
		free(routes);
		free(methods);
		free(tenants);
		return http_fail(req, HG_E_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < api_n_routes; i++) {
		routes[i] = api_routes[i].pattern;
		methods[i] = api_routes[i].method;
	}
	for (size_t i = 0; i < app->cfg->n_tenants; i++)
		tenants[i] = app->cfg->tenants[i].name;
	if (app->metrics)
		req_metrics_render(app->metrics, &p, routes, methods, tenants);
	free(routes);
	free(methods);
	free(tenants);
	p11_metrics(app->p11, &p);
	audit_families(&p, app->audit);
	unsigned long hits, misses;
	auth_cache_stats(app->auth, &hits, &misses);
	cache_families(&p, "jwt", hits, misses);
	key_cache_stats(app->keys.cache, &hits, &misses);
	cache_families(&p, "key", hits, misses);
	bool db = key_families(&p, app->db);
	prom_family(&p, "hsmgw_database_up", "gauge", "Whether PostgreSQL answered this scrape's query.");
	prom_sample(&p, "hsmgw_database_up", NULL, db ? 1 : 0);
	metrics_process(&p);
	if (p.failed) {
		free(p.buf);
		return http_fail(req, HG_E_INTERNAL, "the metrics could not be rendered");
	}
	req->raw_body = p.buf;
	req->content_type = "text/plain; version=0.0.4; charset=utf-8";
	req->status = 200;
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
