-- Pushed authorization requests (RFC 9126): the request as the client
-- pushed it (URL-encoded, client authentication removed), found by the
-- keyed digest of its request_uri. It must be opened within 90 s; opening
-- gives the person 10 minutes to sign in and approve; the code it yields
-- marks it used, and it never works again.
CREATE TABLE pushed_requests (
    request_uri_hash TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    opened_at        BIGINT,
    used_at          BIGINT
);
CREATE INDEX pushed_requests_by_expiry ON pushed_requests (expires_at);

-- Apps that must push their authorization requests.
ALTER TABLE clients ADD COLUMN require_par INTEGER NOT NULL DEFAULT 0;
