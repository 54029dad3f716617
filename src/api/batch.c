/* Batches: {"batch":[{…},…]} in place of the single fields on encrypt, decrypt, sign, verify
 * and mac. Each item runs through the route's own handler as a sub-request (so every rule of
 * the single form applies to it), all items on one pinned HSM session, in order. Each item
 * gets its own audit row, with request id "<request id>/<index>"; the request's own row
 * records the batch as a whole. The answer is 200 with one result or error per item. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

bool api_batch_requested(const struct hg_request *req)
{
	if (req->batch_item || !req->body || !memmem(req->body, req->body_len, "\"batch\"", 7))
		return false;
	json_t *j = json_loadb(req->body, req->body_len, 0, NULL);
	bool yes = json_is_object(j) && json_object_get(j, "batch");
	json_decref(j);
	return yes;
}

/* Runs item i; appends its result and fills its audit row. */
static void run_item(struct hg_request *req, json_t *item, size_t i, json_t *results, struct hg_audit_entry *row)
{
	struct hg_request sub = {0};
	sub.route = req->route;
	sub.batch_item = true;
	sub.authed = req->authed;
	sub.who = req->who;
	sub.app = req->app;
	sub.conn = req->conn;
	memcpy(sub.param, req->param, sizeof sub.param);
	snprintf(sub.request_id, sizeof sub.request_id, "%.110s/%zu", req->request_id, i);
	sub.status = 200;
	char *text = json_is_object(item) ? json_dumps(item, JSON_COMPACT) : NULL;
	int64_t t0 = time_mono_us();
	hg_err e = HG_E_INVALID;
	if (text) {
		sub.body = text;
		sub.body_len = strlen(text);
		e = req->route->handler(&sub);
		if (e == HG_OK && !sub.json)
			e = http_fail(&sub, HG_E_INTERNAL, "the result could not be built");
	} else {
		http_fail(&sub, e, "a batch item must be a JSON object");
	}
	if (e == HG_OK)
		json_array_append(results, sub.json);
	else
		json_array_append_new(results, json_pack("{s:{s:s, s:s}}", "error", "code", hg_err_code(e), "detail",
							 sub.detail[0] ? sub.detail : hg_err_title(e)));
	*row = (struct hg_audit_entry){.ts_us = time_now_us(),
				       .operation = req->route->operation,
				       .has_key = sub.has_key,
				       .key_id = sub.key_id,
				       .key_version = sub.key_version,
				       .http_status = e == HG_OK ? sub.status : hg_err_status(e),
				       .error_code = e == HG_OK ? NULL : hg_err_code(e),
				       .hsm_node = sub.used_hsm ? p11_info(app_of(req)->p11)->node : NULL,
				       .duration_us = time_mono_us() - t0};
	row->outcome = e == HG_OK                                                            ? HG_OUTCOME_SUCCESS
		       : (e == HG_E_FORBIDDEN || e == HG_E_KEY_STATE || e == HG_E_KEY_USAGE) ? HG_OUTCOME_DENIED
											     : HG_OUTCOME_ERROR;
	snprintf(row->tenant, sizeof row->tenant, "%s", req->who.tenant->name);
	snprintf(row->caller, sizeof row->caller, "%s", req->who.sub);
	memcpy(row->request_id, sub.request_id, sizeof row->request_id);
	json_decref(sub.json);
	if (text)
		hg_free_secret(text, sub.body_len + 1); /* items may carry plaintexts */
}

hg_err api_run_batch(struct hg_request *req)
{
	json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
	json_t *batch = json_object_get(root, "batch");
	hg_err e = HG_OK;
	if (json_object_size(root) != 1 || !json_is_array(batch))
		e = http_fail(req, HG_E_INVALID, "a batch request is {\"batch\": [items]} and nothing else");
	else if (json_array_size(batch) == 0 || json_array_size(batch) > HG_MAX_BATCH)
		e = http_fail(req, HG_E_INVALID, "a batch has 1 to %d items", HG_MAX_BATCH);
	if (e == HG_OK)
		e = p11_pin(app_of(req)->p11);
	if (e != HG_OK) {
		json_decref(root);
		return e;
	}
	size_t n = json_array_size(batch);
	struct hg_audit_entry *rows = calloc(n, sizeof *rows);
	json_t *results = json_array();
	for (size_t i = 0; i < n; i++)
		run_item(req, json_array_get(batch, i), i, results, &rows[i]);
	p11_unpin(app_of(req)->p11);
	req->used_hsm = true;
	/* Nothing is answered as done before every item's row is in the trail. */
	e = audit_record_many(app_of(req)->audit, rows, n);
	if (e == HG_OK)
		http_reply(req, 200, json_pack("{s:o}", "batch", results));
	else
		json_decref(results);
	free(rows);
	json_decref(root);
	return e;
}
