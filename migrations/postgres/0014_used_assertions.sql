-- JWT assertions already used (a client's private_key_jwt, the JWT bearer
-- grant): each (issuer, jti) is accepted once, on every node, until the
-- assertion expires; then the purge deletes it. The jti is kept as a
-- digest, so its length is bounded whatever the assertion carried.
CREATE TABLE used_assertions (
    issuer     TEXT NOT NULL,
    jti_hash   TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti_hash)
);
CREATE INDEX used_assertions_by_expiry ON used_assertions (expires_at);
