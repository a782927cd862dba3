-- Customer accounts. Credits, plans and sign-in hang off this table.
CREATE TABLE accounts (
    id          BIGSERIAL PRIMARY KEY,
    email       TEXT   NOT NULL,
    created_at  BIGINT NOT NULL, -- unix seconds, UTC
    CONSTRAINT accounts_email_unique UNIQUE (email)
);
