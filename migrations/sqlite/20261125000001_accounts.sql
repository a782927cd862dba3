-- Customer accounts. Credits, plans and sign-in hang off this table.
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    email       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL, -- unix seconds, UTC
    CONSTRAINT accounts_email_unique UNIQUE (email)
);
