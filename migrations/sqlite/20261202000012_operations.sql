-- Safe to run in production (issue 12):
-- * users made by an operator (`studio-billing user create`), by `seed demo` or by signing
--   up, and disabled users, who cannot sign in and whose sessions end;
-- * the staff audit list: every change to who may do what, and who made it;
-- * service-token scopes (a token made before this migration keeps every scope);
-- * the capture limit: what a capture did not charge because it was above the hold plus
--   the tolerance;
-- * pruning old sign-in attempts by time;
-- * large support adjustments waiting for a second support user's approval;
-- * the results of `stripe reconcile`, for the operations view.
ALTER TABLE users ADD COLUMN origin TEXT NOT NULL DEFAULT 'sign-up'
    CHECK (origin IN ('sign-up', 'seed-demo', 'operator'));
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
-- The demo's two accounts, made by `seed demo` before users had an origin.
UPDATE users SET origin = 'seed-demo' WHERE email IN ('demo@studio.test', 'support@studio.test');

CREATE TABLE staff_audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    -- Who made the change: a support user's e-mail, or `operator (command line)`.
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    detail   TEXT
);
CREATE INDEX staff_audit_at ON staff_audit (at);

ALTER TABLE service_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'estimate,reserve,capture,refund,read';

ALTER TABLE holds ADD COLUMN over_limit INTEGER;

CREATE INDEX sign_in_failures_at ON sign_in_failures (at);

-- Support adjustments above STUDIO_APPROVAL_ABOVE_CREDITS wait here for a second support
-- user; approving applies the ledger change and marks the request in one transaction.
CREATE TABLE adjustment_requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    direction     TEXT    NOT NULL CHECK (direction IN ('grant', 'debit')),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    reason        TEXT    NOT NULL,
    expires_at    INTEGER,
    requested_by  TEXT    NOT NULL,
    requested_at  INTEGER NOT NULL,
    -- The form's key: sending the request twice makes one request.
    request_key   TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'rejected')),
    decided_by    TEXT,
    decided_at    INTEGER,
    CONSTRAINT adjustment_requests_key UNIQUE (requested_by, request_key)
);
CREATE INDEX adjustment_requests_status ON adjustment_requests (status, id);

-- Each `studio-billing stripe reconcile` result, for the operations view.
CREATE TABLE reconcile_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    since_days   INTEGER NOT NULL,
    differences  INTEGER NOT NULL,
    report       TEXT    NOT NULL
);
