-- A client's public keys, for private_key_jwt and the JWT bearer grant:
-- a JWK set registered with the client (jwks, its JSON text), or the URL
-- the client publishes them at (jwks_uri). At most one is set.
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
