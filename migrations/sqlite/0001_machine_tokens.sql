-- Service accounts, scopes, confidential clients, signing keys and access
-- tokens: the machine-token slice. Flags are INTEGER 0/1 so the same SQL
-- reads them on Postgres and SQLite (see docs/adr/0001-storage.md).

CREATE TABLE service_accounts (
    id           TEXT PRIMARY KEY,
    username     TEXT NOT NULL UNIQUE,
    display_name TEXT,
    enabled      INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL
);

CREATE TABLE scopes (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    builtin     INTEGER NOT NULL DEFAULT 0,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);

INSERT INTO scopes (name, description, builtin, enabled, created_at) VALUES
    ('openid', 'Sign you in with your Tessera account', 1, 1, 0),
    ('profile', 'Your name and username', 1, 1, 0),
    ('email', 'Your email address', 1, 1, 0),
    ('offline_access', 'Keep access while you are not using the app', 1, 1, 0);

CREATE TABLE clients (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    client_type        TEXT NOT NULL,
    auth_method        TEXT NOT NULL,
    token_format       TEXT NOT NULL,
    service_account_id TEXT REFERENCES service_accounts (id),
    access_token_ttl   INTEGER,
    resource_server    INTEGER NOT NULL DEFAULT 0,
    pkce               TEXT NOT NULL DEFAULT 'required',
    enabled            INTEGER NOT NULL DEFAULT 1,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE client_grants (
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    grant_type TEXT NOT NULL,
    PRIMARY KEY (client_id, grant_type)
);

CREATE TABLE client_scopes (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope     TEXT NOT NULL REFERENCES scopes (name),
    PRIMARY KEY (client_id, scope)
);

CREATE TABLE client_audiences (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    audience  TEXT NOT NULL,
    PRIMARY KEY (client_id, audience)
);

-- Keyed SHA-256 of each secret; after a rotation the old row gets an
-- expires_at (the grace period) and the new one none.
CREATE TABLE client_secrets (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER
);
CREATE INDEX client_secrets_by_client ON client_secrets (client_id);

-- Private keys sealed with AES-256-GCM under a key derived from the master key.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    private_key  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    activates_at INTEGER NOT NULL
);

-- Opaque access tokens, by keyed hash; JWT access tokens are not stored.
CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    jti        TEXT NOT NULL UNIQUE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    username   TEXT,
    scope      TEXT NOT NULL,
    audience   TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);

-- Revoked JWT access tokens, kept until they would have expired anyway.
CREATE TABLE revoked_jwts (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
);
CREATE INDEX revoked_jwts_by_expiry ON revoked_jwts (expires_at);
