-- The purge finds revoked opaque tokens and revoked grants without reading
-- every live row: revoked rows are few, so these indexes stay small.
CREATE INDEX access_tokens_revoked ON access_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX grants_revoked ON grants (id) WHERE revoked_at IS NOT NULL;
