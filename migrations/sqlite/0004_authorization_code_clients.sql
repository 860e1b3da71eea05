-- Clients of the authorization code flow: redirect URIs and their own
-- refresh-token lifetime.
CREATE TABLE client_redirect_uris (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    uri       TEXT NOT NULL,
    PRIMARY KEY (client_id, uri)
);

ALTER TABLE clients ADD COLUMN refresh_token_ttl INTEGER;
