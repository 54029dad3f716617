-- hsmgw schema, version 3: replacing an expired Idempotency-Key record (INSERT … ON CONFLICT
-- DO UPDATE) needs UPDATE on the table.
GRANT UPDATE ON idempotency TO hsmgw_app;
