-- The device authorization grant (RFC 8628). Both codes are stored as
-- keyed digests only. status: pending, approved, denied or used; an
-- approval records the grant it started (with the person and the scope),
-- and the code's one redemption marks it used. interval grows by 5 s each
-- time the device polls too fast (slow_down).
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    status           TEXT NOT NULL,
    grant_id         TEXT REFERENCES grants (id),
    poll_interval    BIGINT NOT NULL,
    last_polled_at   BIGINT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX device_codes_by_expiry ON device_codes (expires_at);
CREATE INDEX device_codes_by_grant ON device_codes (grant_id);
