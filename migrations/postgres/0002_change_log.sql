-- Changes to clients and service accounts, so every node can drop what it
-- has cached about them (store/cache.rs). Kept for a day.
CREATE TABLE changes (
    seq        BIGSERIAL PRIMARY KEY,
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);
