-- hsmgw schema, version 5: signed checkpoints of the audit chains. Every N rows or T seconds a
-- gateway signs the head of its chain (chain id, sequence number, hash of that row, time) with
-- an ECDSA P-256 key that lives in the HSM, and stores the signature here. A database
-- superuser who rewrites rows and recomputes every later hash cannot forge these signatures.
-- Write-once like audit_log.
CREATE TABLE audit_checkpoints (
    id              bigserial PRIMARY KEY,
    chain_id        text NOT NULL,
    seq             bigint NOT NULL CHECK (seq >= 1),
    head_hash       text NOT NULL,
    ts              timestamptz NOT NULL,
    ts_us           bigint NOT NULL,
    key_fingerprint text NOT NULL,
    signature       text NOT NULL,
    UNIQUE (chain_id, seq)
);

CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

GRANT SELECT, INSERT ON audit_checkpoints TO hsmgw_app;
GRANT USAGE ON SEQUENCE audit_checkpoints_id_seq TO hsmgw_app;
