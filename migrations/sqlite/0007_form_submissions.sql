-- Console forms that create a secret carry a one-time submission id, so a
-- reload (the browser posting again) cannot register a second app or
-- rotate a second time. Kept for a day.
CREATE TABLE form_submissions (
    id         TEXT PRIMARY KEY,
    result     TEXT,
    created_at INTEGER NOT NULL
);
