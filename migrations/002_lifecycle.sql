-- hsmgw schema, version 2: key lifecycle events, version retirement, idempotency records,
-- and the curve of EC keys.

ALTER TABLE keys ADD COLUMN curve text CHECK (curve IN ('P-256', 'P-384', 'P-521'));

-- When an older version stops being usable after a rotation (its grace period).
ALTER TABLE key_versions ADD COLUMN retire_at timestamptz;

-- The lifecycle history of each key: who did what, when (GET /v1/keys/{key}/events).
CREATE TABLE key_events (
    id         bigserial PRIMARY KEY,
    key_id     uuid NOT NULL REFERENCES keys (id),
    ts         timestamptz NOT NULL DEFAULT now(),
    event      text NOT NULL,
    actor      text,          -- the caller's sub, or 'scheduler'
    request_id text,
    from_state text,
    to_state   text,
    version    integer,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX key_events_key_idx ON key_events (key_id, id);

-- Idempotency-Key: the first response to (tenant, key) is kept 24 hours and replayed for the
-- same request; the same key with another request is a conflict. Only key-management
-- responses are kept (never a response that carries a plaintext).
CREATE TABLE idempotency (
    tenant       text NOT NULL,
    idem_key     text NOT NULL,
    request_hash text NOT NULL,
    status       integer NOT NULL,
    location     text,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, idem_key)
);

GRANT SELECT, INSERT ON key_events TO hsmgw_app;
GRANT USAGE ON SEQUENCE key_events_id_seq TO hsmgw_app;
GRANT SELECT, INSERT, DELETE ON idempotency TO hsmgw_app;
