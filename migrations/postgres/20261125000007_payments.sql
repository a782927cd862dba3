-- Payments: top-up checkouts now, subscription invoices later. A row is written when the
-- checkout starts; only a verified webhook moves it to paid and grants its credits, once
-- (grant_id is set in the same transaction as the grant).
CREATE TABLE payments (
    id            BIGSERIAL PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    kind          TEXT    NOT NULL CHECK (kind IN ('topup', 'subscription')),
    provider      TEXT    NOT NULL CHECK (provider IN ('stripe', 'local')),
    -- The Checkout Session id (or invoice id).
    external_id   TEXT    NOT NULL,
    -- The top-up pack id (or plan id).
    product       TEXT    NOT NULL,
    credits       BIGINT NOT NULL CHECK (credits > 0),
    amount_cents  BIGINT NOT NULL CHECK (amount_cents >= 0),
    currency      TEXT    NOT NULL,
    status        TEXT    NOT NULL
        CHECK (status IN ('open', 'processing', 'paid', 'failed', 'expired', 'canceled')),
    checkout_url  TEXT,
    -- The key of the form that started it: sending that form twice starts one checkout.
    request_key   TEXT,
    grant_id      BIGINT REFERENCES grants (id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CONSTRAINT payments_external_unique UNIQUE (external_id),
    CONSTRAINT payments_request_unique UNIQUE (account_id, request_key)
);
CREATE INDEX payments_by_account ON payments (account_id, created_at);

-- Every webhook event applied, by Stripe's event id: a second delivery finds its id here
-- and changes nothing. Written in the same transaction as the event's effect.
CREATE TABLE webhook_events (
    id           TEXT    PRIMARY KEY,
    type         TEXT    NOT NULL,
    received_at  BIGINT NOT NULL,
    outcome      TEXT    NOT NULL
);
