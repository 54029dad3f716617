-- hsmgw schema, version 1: tenants, keys, key versions and the audit trail.
-- Applied by `hsmgwctl migrate` as the schema owner. An applied file is never edited:
-- changes go into a new numbered file.

-- The runtime role the daemon connects as. It may read and write key metadata, and only
-- INSERT and SELECT the audit trail.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hsmgw_app') THEN
        CREATE ROLE hsmgw_app LOGIN;
    END IF;
END
$$;

CREATE TABLE tenants (
    name       text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE keys (
    id                   uuid PRIMARY KEY,
    seq                  bigserial UNIQUE,
    tenant               text NOT NULL REFERENCES tenants (name),
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    type                 text NOT NULL CHECK (type IN ('AES', 'TDES', 'HMAC', 'RSA', 'EC', 'ED25519')),
    size                 integer NOT NULL,
    usage                text[] NOT NULL,
    state                text NOT NULL CHECK (state IN ('pre_active', 'active', 'suspended', 'deactivated',
                                                        'compromised', 'destroy_scheduled', 'destroyed')),
    primary_version      integer NOT NULL,
    exportable           boolean NOT NULL DEFAULT false,
    labels               jsonb NOT NULL DEFAULT '{}',
    policy               jsonb NOT NULL DEFAULT '{}',
    description          text,
    rotation_period_days integer,
    next_rotation_at     timestamptz,
    expires_at           timestamptz,
    activate_at          timestamptz,
    destroy_at           timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);

CREATE TABLE key_versions (
    key_id     uuid NOT NULL REFERENCES keys (id),
    version    integer NOT NULL CHECK (version >= 1),
    hsm_id     uuid NOT NULL UNIQUE, -- CKA_ID of the HSM object
    state      text NOT NULL CHECK (state IN ('primary', 'active', 'retired', 'destroyed')),
    kcv        text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_id, version)
);

-- The audit trail. One row per /v1 request. Each gateway process appends to its own chain
-- (chain_id); hash = SHA-256 over the canonical encoding of the row, which includes the
-- previous row's hash (see README, "Audit trail").
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    chain_id    text NOT NULL,
    seq         bigint NOT NULL CHECK (seq >= 1),
    ts          timestamptz NOT NULL,
    tenant      text,
    caller      text,
    request_id  text NOT NULL,
    operation   text NOT NULL,
    key_id      uuid,
    key_version integer,
    outcome     text NOT NULL CHECK (outcome IN ('success', 'denied', 'error')),
    http_status integer NOT NULL,
    error_code  text,
    hsm_node    text,
    duration_us bigint NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL,
    UNIQUE (chain_id, seq)
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant, id);

-- Write-once: nobody, the owner included, may change or remove audit rows.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

GRANT USAGE ON SCHEMA public TO hsmgw_app;
GRANT SELECT, INSERT ON tenants TO hsmgw_app;
GRANT SELECT, INSERT, UPDATE ON keys, key_versions TO hsmgw_app;
GRANT USAGE ON SEQUENCE keys_seq_seq TO hsmgw_app;
GRANT SELECT, INSERT ON audit_log TO hsmgw_app;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO hsmgw_app;
