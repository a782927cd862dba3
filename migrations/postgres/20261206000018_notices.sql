-- E-mail notices (issue 16): an outbox. A notice is written in the transaction of the
-- event that causes it (a failed renewal payment in the webhook's; a threshold crossed in
-- the notices sweep's, which finds it), and sent afterwards by the scheduler of any
-- instance (`services::notices`). Each is one row, however many instances see the same
-- event: `dedupe_key` names the event (the kind, the account and, say, the period or the
-- invoice). A sender claims a row for a while (`claimed_until`) before it sends, so two
-- instances never send one notice at once; one that failed waits (`next_attempt_at`) and
-- is tried again, up to a limit, then stays 'failed' for support to see.
CREATE TABLE notices (
    id               BIGSERIAL PRIMARY KEY,
    account_id       BIGINT NOT NULL REFERENCES accounts (id),
    kind             TEXT    NOT NULL CHECK (kind IN ('low_balance', 'usage_alert', 'top_up_made',
                         'top_up_failed', 'renewal_failed', 'plan_ending', 'grace_ending')),
    dedupe_key       TEXT    NOT NULL,
    recipient        TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    -- pending: to be sent; sent; failed: given up (attempts exhausted or refused for good);
    -- skipped: recorded so it is never sent (the customer turned the kind off, or a higher
    -- usage level was crossed at the same time), `note` says which.
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts         BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  BIGINT NOT NULL,
    claimed_by       TEXT,
    claimed_until    BIGINT,
    created_at       BIGINT NOT NULL,
    sent_at          BIGINT,
    note             TEXT,
    CONSTRAINT notices_once UNIQUE (dedupe_key)
);
CREATE INDEX notices_due ON notices (status, next_attempt_at);
CREATE INDEX notices_by_account ON notices (account_id, created_at);

-- What a customer wants to be told. No row: the defaults (every notice on, no usage
-- alerts). Payment failures are always sent, so they have no setting.
CREATE TABLE notice_settings (
    account_id    BIGINT PRIMARY KEY REFERENCES accounts (id),
    low_balance   BIGINT NOT NULL CHECK (low_balance IN (0, 1)),
    top_up_made   BIGINT NOT NULL CHECK (top_up_made IN (0, 1)),
    plan_ending   BIGINT NOT NULL CHECK (plan_ending IN (0, 1)),
    grace_ending  BIGINT NOT NULL CHECK (grace_ending IN (0, 1)),
    -- P17: the shares of the period's credits used that the customer wants to hear about
    -- (on the page and by e-mail), once per period each.
    usage_50      BIGINT NOT NULL CHECK (usage_50 IN (0, 1)),
    usage_80      BIGINT NOT NULL CHECK (usage_80 IN (0, 1)),
    usage_100     BIGINT NOT NULL CHECK (usage_100 IN (0, 1)),
    updated_at    BIGINT NOT NULL
);

-- How far along the journal the notices sweep has looked, shared by every instance: the
-- accounts whose balance moved after it are looked at (a low balance, a usage level). It
-- moves only past entries a minute old, so one whose transaction committed after a later
-- one is still seen; an account looked at twice makes no second notice.
CREATE TABLE notice_sweep (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    journal_id  BIGINT NOT NULL
);
-- It starts where the journal is now: what moved before notices existed is not told.
INSERT INTO notice_sweep (id, journal_id) SELECT 1, COALESCE(MAX(id), 0) FROM journal;
