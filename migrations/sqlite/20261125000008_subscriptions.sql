-- The subscription life cycle (src/domain/subscription.rs): one row per account that has
-- ever had a plan. accounts.plan_id and accounts.renews_at are kept in step with it.
CREATE TABLE subscriptions (
    account_id            INTEGER PRIMARY KEY REFERENCES accounts (id),
    plan_id               TEXT    NOT NULL,
    status                TEXT    NOT NULL CHECK (status IN ('active', 'past_due', 'ended', 'purged')),
    period_start          INTEGER NOT NULL,
    period_end            INTEGER NOT NULL,
    cancel_at_period_end  INTEGER NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1)),
    pending_plan_id       TEXT,
    grace_until           INTEGER,
    cancel_reason         TEXT,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX subscriptions_due ON subscriptions (status, period_end);

-- Each period's subscription grant (and each upgrade's extra credits) exactly once, however
-- many app instances or duplicate events try.
CREATE TABLE subscription_grants (
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    period_start  INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('period', 'upgrade')),
    plan_id       TEXT    NOT NULL,
    grant_id      INTEGER NOT NULL REFERENCES grants (id),
    PRIMARY KEY (account_id, period_start, kind, plan_id)
);

-- When the grace period ended and the customer's content was deleted (P14).
ALTER TABLE accounts ADD COLUMN content_purged_at INTEGER;
