-- The audit log: sign-ins, failures, reuse detections and every admin
-- change, with who, from where and when. Kept for 400 days.
CREATE TABLE audit_events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    actor    TEXT NOT NULL,
    address  TEXT,
    target   TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX audit_events_by_kind ON audit_events (kind, seq);
CREATE INDEX audit_events_by_time ON audit_events (at);

-- Tokens issued per client and hour, counted in memory and added here in
-- batches (never a write per token). Kept for 8 days.
CREATE TABLE token_issuance (
    client_id TEXT NOT NULL,
    hour      INTEGER NOT NULL,
    issued    INTEGER NOT NULL,
    PRIMARY KEY (client_id, hour)
);

-- "Revoke every token of this app": tokens issued at or before this time
-- are inactive (Keycloak's not-before policy).
ALTER TABLE clients ADD COLUMN tokens_not_before INTEGER;

-- Service accounts that may be granted the tessera:admin scope.
ALTER TABLE service_accounts ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;

-- Calls to the admin API (/api/v1) need this scope.
INSERT INTO scopes (name, description, builtin, enabled, created_at) VALUES
    ('tessera:admin', 'Manage Tessera: apps, accounts, keys and the audit log', 1, 1, 0);
