-- People from an LDAP directory or Active Directory.
--
-- users.origin: 'local' (password kept here) or 'directory' (password
-- checked by the directory; password_hash holds no hash). A directory user
-- keeps the DN and the groups (the ones that matter here: the admin group
-- and the groups scopes are limited to) of their last sign-in or sync, so
-- a refresh can be checked without asking the directory.
-- users.directory_disabled: the sync disabled them (missing or disabled in
-- the directory), so a later sync that finds them back may enable them.
ALTER TABLE users ADD COLUMN origin TEXT NOT NULL DEFAULT 'local';
ALTER TABLE users ADD COLUMN directory_dn TEXT;
ALTER TABLE users ADD COLUMN directory_groups TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN directory_seen_at INTEGER;
ALTER TABLE users ADD COLUMN directory_disabled INTEGER NOT NULL DEFAULT 0;

-- Scopes only members of these directory groups may grant (one name per
-- line); empty: anyone allowed to use the scope today.
ALTER TABLE scopes ADD COLUMN allowed_groups TEXT NOT NULL DEFAULT '';

-- The directory sync, one row: which node holds it (until lease_until, so
-- a node that dies mid-sync does not block the next), and the last run.
CREATE TABLE directory_sync (
    id             INTEGER PRIMARY KEY,
    holder         TEXT,
    lease_until    INTEGER,
    started_at     INTEGER,
    finished_at    INTEGER,
    outcome        TEXT,
    error          TEXT,
    people_seen    INTEGER NOT NULL DEFAULT 0,
    users_updated  INTEGER NOT NULL DEFAULT 0,
    users_disabled INTEGER NOT NULL DEFAULT 0,
    users_enabled  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO directory_sync (id) VALUES (1);
