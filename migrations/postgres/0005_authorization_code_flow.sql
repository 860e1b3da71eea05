-- The authorization code flow: browser sessions, remembered consent, grants
-- (one per authorization, the family of every token issued from it), codes
-- and refresh tokens. Secrets (session ids, codes, refresh tokens) are
-- stored only as keyed hashes.

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    auth_time    BIGINT,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE grants (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_by_user ON grants (user_id);
CREATE INDEX grants_by_client ON grants (client_id);

CREATE TABLE authorization_codes (
    code_hash          TEXT PRIMARY KEY,
    grant_id           TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id          TEXT NOT NULL,
    redirect_uri       TEXT NOT NULL,
    redirect_uri_given BIGINT NOT NULL,
    code_challenge     TEXT,
    nonce              TEXT,
    expires_at         BIGINT NOT NULL,
    used_at            BIGINT
);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);

ALTER TABLE access_tokens ADD COLUMN grant_id TEXT;
