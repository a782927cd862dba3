-- The credits ledger: grants, holds, what each charge drew from, and the append-only
-- journal. All amounts are whole credits; all times are unix seconds, UTC.

-- The account's running totals, kept in step with the journal in the same transaction:
-- balance = credits in grants not yet expired by an entry; held = credits of open holds.
ALTER TABLE accounts ADD COLUMN balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0);
ALTER TABLE accounts ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0);
-- The earliest expiry among grants with credits left; NULL when none can expire.
ALTER TABLE accounts ADD COLUMN next_expiry_at INTEGER;
-- The next renewal of the plan's credits, shown when the balance runs out (P10).
ALTER TABLE accounts ADD COLUMN renews_at INTEGER;
ALTER TABLE accounts ADD COLUMN journal_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE grants (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('subscription', 'adjustment', 'topup')),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    remaining   INTEGER NOT NULL CHECK (remaining >= 0),
    expires_at  INTEGER,
    expired     INTEGER NOT NULL DEFAULT 0, -- 1 once its expiry is in the journal
    reason      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX grants_open ON grants (account_id) WHERE remaining > 0 AND expired = 0;

CREATE TABLE holds (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    operation    TEXT    NOT NULL,
    quantity     INTEGER NOT NULL,
    estimate     INTEGER NOT NULL CHECK (estimate >= 0),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    status       TEXT    NOT NULL CHECK (status IN ('held', 'captured', 'released', 'expired')),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    settled_at   INTEGER,
    actual_quantity INTEGER,
    actual       INTEGER,
    charged      INTEGER,
    released     INTEGER,
    shortfall    INTEGER,
    refunded     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX holds_account ON holds (account_id, id);
CREATE INDEX holds_open_expiry ON holds (expires_at) WHERE status = 'held';

-- Which grants paid a captured charge (in draw order), and how much of each has been refunded.
CREATE TABLE charge_parts (
    position  INTEGER NOT NULL,
    hold_id   INTEGER NOT NULL REFERENCES holds (id),
    grant_id  INTEGER NOT NULL REFERENCES grants (id),
    kind      TEXT    NOT NULL,
    amount    INTEGER NOT NULL CHECK (amount > 0),
    refunded  INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    PRIMARY KEY (hold_id, grant_id)
);

-- Every change, never updated or deleted. `amount` is the signed change of the balance
-- (zero for reservations, which change `held_after` only).
CREATE TABLE journal (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    seq           INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    held_after    INTEGER NOT NULL CHECK (held_after >= 0),
    grant_id      INTEGER,
    hold_id       INTEGER,
    detail        TEXT,
    -- Who made a manual change (a support user's e-mail); NULL for the ledger's own entries.
    actor         TEXT,
    CONSTRAINT journal_account_seq UNIQUE (account_id, seq)
);
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;

-- Idempotency: a mutation from outside is stored with its key and the hash of its body;
-- a retry returns the stored response.
CREATE TABLE idempotency_keys (
    scope         TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    request_hash  TEXT    NOT NULL,
    status        INTEGER NOT NULL,
    response      TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
