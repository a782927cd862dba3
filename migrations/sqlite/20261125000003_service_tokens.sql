-- Tokens the generation services use for the usage API. Only a SHA-256 hash of each
-- token is stored; the token itself is shown once, when it is created.
CREATE TABLE service_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    CONSTRAINT service_tokens_hash_unique UNIQUE (token_hash)
);
CREATE UNIQUE INDEX service_tokens_active_name ON service_tokens (name) WHERE revoked_at IS NULL;
