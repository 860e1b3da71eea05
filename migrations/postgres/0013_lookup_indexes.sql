-- Lookups that read a whole table without these: a person's sessions (a
-- password change, signing out everywhere), the service account's clients
-- (disabling it), and the rows that a deleted client or scope takes with
-- it or must not leave behind (ON DELETE CASCADE, foreign-key checks).
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX access_tokens_by_client ON access_tokens (client_id);
CREATE INDEX consents_by_client ON consents (client_id);
CREATE INDEX clients_by_service_account ON clients (service_account_id);
CREATE INDEX client_scopes_by_scope ON client_scopes (scope);
