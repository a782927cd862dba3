-- The credits ledger: grants, holds, what each charge drew from, and the append-only
-- journal. All amounts are whole credits; all times are unix seconds, UTC.

-- The account's running totals, kept in step with the journal in the same transaction:
-- balance = credits in grants not yet expired by an entry; held = credits of open holds.
ALTER TABLE accounts
    ADD COLUMN balance BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    ADD COLUMN held BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
    -- The earliest expiry among grants with credits left; NULL when none can expire.
    ADD COLUMN next_expiry_at BIGINT,
    -- The next renewal of the plan's credits, shown when the balance runs out (P10).
    ADD COLUMN renews_at BIGINT,
    ADD COLUMN journal_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE grants (
    id          BIGSERIAL PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    kind        TEXT   NOT NULL CHECK (kind IN ('subscription', 'adjustment', 'topup')),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    remaining   BIGINT NOT NULL CHECK (remaining >= 0),
    expires_at  BIGINT,
    expired     BIGINT NOT NULL DEFAULT 0, -- 1 once its expiry is in the journal
    reason      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX grants_open ON grants (account_id) WHERE remaining > 0 AND expired = 0;

CREATE TABLE holds (
    id           BIGSERIAL PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts (id),
    operation    TEXT   NOT NULL,
    quantity     BIGINT NOT NULL,
    estimate     BIGINT NOT NULL CHECK (estimate >= 0),
    amount       BIGINT NOT NULL CHECK (amount > 0),
    status       TEXT   NOT NULL CHECK (status IN ('held', 'captured', 'released', 'expired')),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    settled_at   BIGINT,
    actual_quantity BIGINT,
    actual       BIGINT,
    charged      BIGINT,
    released     BIGINT,
    shortfall    BIGINT,
    refunded     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX holds_account ON holds (account_id, id);
CREATE INDEX holds_open_expiry ON holds (expires_at) WHERE status = 'held';

-- Which grants paid a captured charge (in draw order), and how much of each has been refunded.
CREATE TABLE charge_parts (
    position  BIGINT NOT NULL,
    hold_id   BIGINT NOT NULL REFERENCES holds (id),
    grant_id  BIGINT NOT NULL REFERENCES grants (id),
    kind      TEXT   NOT NULL,
    amount    BIGINT NOT NULL CHECK (amount > 0),
    refunded  BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    PRIMARY KEY (hold_id, grant_id)
);

-- Every change, never updated or deleted. `amount` is the signed change of the balance
-- (zero for reservations, which change `held_after` only).
CREATE TABLE journal (
    id            BIGSERIAL PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    seq           BIGINT NOT NULL,
    at            BIGINT NOT NULL,
    kind          TEXT   NOT NULL,
    amount        BIGINT NOT NULL,
    balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
    held_after    BIGINT NOT NULL CHECK (held_after >= 0),
    grant_id      BIGINT,
    hold_id       BIGINT,
    detail        TEXT,
    -- Who made a manual change (a support user's e-mail); NULL for the ledger's own entries.
    actor         TEXT,
    CONSTRAINT journal_account_seq UNIQUE (account_id, seq)
);
CREATE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only';
END;
$$;
CREATE TRIGGER journal_no_change BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();

-- Idempotency: a mutation from outside is stored with its key and the hash of its body;
-- a retry returns the stored response.
CREATE TABLE idempotency_keys (
    scope         TEXT   NOT NULL,
    key           TEXT   NOT NULL,
    request_hash  TEXT   NOT NULL,
    status        BIGINT NOT NULL,
    response      TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
