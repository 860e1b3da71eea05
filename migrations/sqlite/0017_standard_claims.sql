-- OpenID Connect standard claims of a person beyond username, name and
-- email: given_name, family_name, email_verified (0/1), locale (BCP 47)
-- and zoneinfo (IANA); updated_at already exists.
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN family_name TEXT;
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locale TEXT;
ALTER TABLE users ADD COLUMN zoneinfo TEXT;

-- The claims request parameter of the authorization that started a grant
-- (its JSON, as normalised), so the ID token at the code exchange and at
-- each refresh, and userinfo, release what it asked for.
ALTER TABLE grants ADD COLUMN claims TEXT;
