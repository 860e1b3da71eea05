-- A rotated refresh token remembers its successor (by digest), so a client
-- whose answer was lost can present the old token again and get the same
-- successor back, never a second chain.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
