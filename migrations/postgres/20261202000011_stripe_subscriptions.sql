-- Stripe as the source of truth, made safe (issue 11):
-- * the Stripe subscription a local subscription follows, so a late event of an earlier
--   subscription changes nothing and a new one after the old one ended starts the plan;
-- * the billing anchor, so local periods keep their day of the month (31 Jan, 28 Feb,
--   31 Mar; not 28 Mar);
-- * one period grant per period, whatever the plan (a late first invoice after an upgrade
--   granted the period a second time when the key included the plan);
-- * a per-install id that namespaces every idempotency key sent to Stripe, so two
--   databases sharing one Stripe account never collide.
ALTER TABLE subscriptions ADD COLUMN stripe_subscription_id TEXT;
ALTER TABLE subscriptions ADD COLUMN billing_anchor BIGINT;

-- A database that met the old bug has two `period` rows for one period: the first grant
-- stays the period's, the later one loses its key row (its credits stay in the ledger, and
-- `studio-billing stripe reconcile` lists it as a grant without a payment, for support).
DELETE FROM subscription_grants
WHERE kind = 'period' AND EXISTS (
    SELECT 1 FROM subscription_grants AS earlier
    WHERE earlier.account_id = subscription_grants.account_id
      AND earlier.period_start = subscription_grants.period_start
      AND earlier.kind = 'period'
      AND earlier.grant_id < subscription_grants.grant_id
);

CREATE UNIQUE INDEX subscription_grants_one_per_period
    ON subscription_grants (account_id, period_start) WHERE kind = 'period';

CREATE TABLE install (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    install_id  TEXT    NOT NULL,
    -- The webhook endpoint `stripe setup` made, and the SHA-256 of its signing secret (the
    -- secret itself is shown once and never stored), so `stripe check` can tell whether
    -- STRIPE_WEBHOOK_SECRET is that endpoint's.
    webhook_endpoint_id    TEXT,
    webhook_secret_sha256  TEXT,
    created_at  BIGINT  NOT NULL
);
INSERT INTO install (id, install_id, created_at)
VALUES (1, substr(md5(random()::text || clock_timestamp()::text), 1, 16), CAST(extract(epoch FROM now()) AS BIGINT));
