-- Jira usernames ignore case, so no two principals (users or service
-- accounts) may have names that differ only by case: each name's lower-case
-- key is claimed here, in the same transaction that creates or renames the
-- principal. Keys are computed by the server (Unicode lower case), which
-- also registers the names of principals created before this table.
CREATE TABLE principal_names (
    name_key     TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    principal_id TEXT NOT NULL
);
CREATE INDEX principal_names_by_principal ON principal_names (principal_id);
