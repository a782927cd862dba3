-- Automatic top-ups (P16). What the customer set, and the card: `auto_top_up_settings`.
-- Each automatic top-up: `auto_top_ups`, one row from the moment it is decided (in the
-- transaction that decides it, under the account's lock) to its end. At most one is being
-- charged for an account at a time (`auto_top_ups_one_charging`), however many reserves
-- cross the threshold at once. Its credits come only with its payment, through the
-- webhook, like every other payment.
CREATE TABLE auto_top_up_settings (
    account_id         BIGINT PRIMARY KEY REFERENCES accounts (id),
    enabled            BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    threshold          BIGINT NOT NULL CHECK (threshold > 0),
    pack               TEXT    NOT NULL,
    monthly_cap_cents  BIGINT NOT NULL CHECK (monthly_cap_cents >= 0),
    -- The card saved for it: Stripe's payment method (pm_...), or the local checkout's
    -- test card; how it is shown ("Visa ending 4242").
    payment_method     TEXT,
    card_label         TEXT,
    -- Failed charges in a row; at the configured number automatic top-ups stop until the
    -- customer fixes the card and turns them on again.
    failures           BIGINT NOT NULL DEFAULT 0 CHECK (failures >= 0),
    stopped_at         BIGINT,
    stopped_reason     TEXT,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE auto_top_ups (
    id                 BIGSERIAL PRIMARY KEY,
    account_id         BIGINT NOT NULL REFERENCES accounts (id),
    pack               TEXT    NOT NULL,
    credits            BIGINT NOT NULL CHECK (credits > 0),
    amount_cents       BIGINT NOT NULL CHECK (amount_cents > 0),
    currency           TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('charging', 'succeeded', 'failed')),
    -- The account's journal position when it was decided: a later entry with the
    -- available balance at or above the threshold is a new crossing.
    journal_seq        BIGINT NOT NULL,
    -- The card it charges, fixed when it is decided, so a retry of the charge sends
    -- what the first try sent (Stripe refuses a reused key with other parameters).
    payment_method     TEXT    NOT NULL,
    payment_intent     TEXT,
    failure            TEXT,
    created_at         BIGINT NOT NULL,
    settled_at         BIGINT
);
CREATE UNIQUE INDEX auto_top_ups_one_charging ON auto_top_ups (account_id) WHERE status = 'charging';
CREATE INDEX auto_top_ups_by_account ON auto_top_ups (account_id, created_at);
