-- A plan payment that clears while the account already has a live plan buys nothing:
-- it is refunded, never left for a person to find in a log. One refund per payment,
-- written in the transaction that found it. The local checkout's refunds are done at
-- once (no money moved); Stripe's are made by the scheduler (cancel the subscription
-- that payment started, then a credit note that refunds its invoice) and marked done.
CREATE TABLE payment_refunds (
    payment_id              INTEGER PRIMARY KEY REFERENCES payments (id),
    reason                  TEXT    NOT NULL,
    status                  TEXT    NOT NULL CHECK (status IN ('due', 'done')),
    -- Stripe: the subscription the duplicate payment started, to cancel.
    stripe_subscription_id  TEXT,
    -- Stripe: the credit note that refunded it.
    external_id             TEXT,
    attempts                INTEGER NOT NULL DEFAULT 0,
    last_error              TEXT,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
);
CREATE INDEX payment_refunds_due ON payment_refunds (status, updated_at);

-- The customer's credit history reads an account's journal newest first by time.
CREATE INDEX journal_by_time ON journal (account_id, at, seq);
