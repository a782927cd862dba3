-- A plan bought through Stripe Checkout that has not started yet: its session completed
-- (a bank debit completes unpaid and clears days later), its subscription's first invoice
-- is not paid yet. It is not a payment: the invoice is, and only its payment starts the
-- plan. It is what the Subscription page shows as "processing", and what refuses a second
-- plan checkout meanwhile (so nobody pays twice). Written by the webhook, in the
-- transaction of the event: 'processing' until the first invoice is paid ('settled') or
-- the payment fails or the session expires ('failed'); a settled or failed one never
-- changes again, whatever the order its events arrive in.
CREATE TABLE stripe_plan_checkouts (
    session_id       TEXT    PRIMARY KEY,
    account_id       INTEGER  NOT NULL REFERENCES accounts (id),
    -- The subscription the session made (Stripe names it once the session completes).
    subscription_id  TEXT,
    plan             TEXT    NOT NULL,
    amount_cents     INTEGER  NOT NULL CHECK (amount_cents >= 0),
    currency         TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('processing', 'settled', 'failed')),
    created_at       INTEGER  NOT NULL,
    updated_at       INTEGER  NOT NULL
);
CREATE INDEX stripe_plan_checkouts_by_account ON stripe_plan_checkouts (account_id, status);
