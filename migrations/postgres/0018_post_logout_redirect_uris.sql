-- Where RP-initiated logout may send the browser back to, per client
-- (exact match), like client_redirect_uris for the authorization response.
CREATE TABLE client_post_logout_uris (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    uri       TEXT NOT NULL,
    PRIMARY KEY (client_id, uri)
);
