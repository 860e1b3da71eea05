-- Personal API tokens: a person's long-lived bearer token for scripts,
-- stored by HMAC digest (shown once, at creation). `last_used_at` is
-- gathered in memory and written in batches, never once per request.
CREATE TABLE personal_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL,
    scope        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX personal_tokens_by_user ON personal_tokens (user_id, created_at);
