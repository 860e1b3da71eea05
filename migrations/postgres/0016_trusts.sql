-- Trusted outside issuers (workload identity federation): a JWT from
-- `issuer`, signed with a key published at `jwks_uri`, naming `audience`
-- and meeting every condition, gets a token for the service account.
-- conditions: one NAME=VALUE per line; scopes and clients: space-separated.
-- Disabling sets tokens_not_before: the trust's tokens die on every node.
CREATE TABLE trusts (
    id                 TEXT PRIMARY KEY,
    issuer             TEXT NOT NULL,
    jwks_uri           TEXT NOT NULL,
    audience           TEXT NOT NULL,
    conditions         TEXT NOT NULL,
    service_account_id TEXT NOT NULL REFERENCES service_accounts (id),
    scopes             TEXT NOT NULL,
    max_ttl            BIGINT NOT NULL,
    clients            TEXT NOT NULL,
    without_client     INTEGER NOT NULL,
    enabled            INTEGER NOT NULL,
    tokens_not_before  BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX trusts_by_issuer ON trusts (issuer);
