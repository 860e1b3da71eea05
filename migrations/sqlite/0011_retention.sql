-- The purge deletes a grant's codes and refresh tokens by grant, and finds
-- expired refresh tokens and ended personal tokens without reading every row.
CREATE INDEX authorization_codes_by_grant ON authorization_codes (grant_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
CREATE INDEX grants_by_expiry ON grants (expires_at);
