-- hsmgw schema, version 7: finding a request's audit rows by its id. The start-up
-- reconciliation looks for intent rows (hsm.generate.intent, …) that no later row of their
-- request closed; an auditor or a support engineer looks a request up by its X-Request-Id.
-- Intent rows are few (key creation, rotation, import, destruction): a partial index finds them
-- all without reading the trail.
CREATE INDEX audit_log_request_idx ON audit_log (request_id);
CREATE INDEX audit_log_intent_idx ON audit_log (chain_id, seq) WHERE operation LIKE '%.intent';
