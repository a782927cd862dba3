-- People who sign in: customers (each with one ledger account) and support staff.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    email          TEXT NOT NULL,
    password_hash  TEXT NOT NULL, -- argon2id, PHC string
    role           TEXT NOT NULL CHECK (role IN ('customer', 'support')),
    account_id     INTEGER REFERENCES accounts (id),
    created_at     INTEGER NOT NULL,
    CONSTRAINT users_email_unique UNIQUE (email),
    CONSTRAINT users_customer_has_account CHECK (role <> 'customer' OR account_id IS NOT NULL)
);

-- Server-side sessions, shared by every app instance. Only a SHA-256 of the cookie's
-- token is stored.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed sign-ins, per address and per e-mail, to slow down guessing.
CREATE TABLE sign_in_failures (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    key  TEXT NOT NULL,
    at   INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_key_at ON sign_in_failures (key, at);
