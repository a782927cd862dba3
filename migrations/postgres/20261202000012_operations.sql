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
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
-- The demo's two accounts, made by `seed demo` before users had an origin.
UPDATE users SET origin = 'seed-demo' WHERE email IN ('demo@studio.test', 'support@studio.test');

CREATE TABLE staff_audit (
    id       BIGSERIAL PRIMARY KEY,
    at       BIGINT  NOT NULL,
    -- Who made the change: a support user's e-mail, or `operator (command line)`.
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    detail   TEXT
);
CREATE INDEX staff_audit_at ON staff_audit (at);

ALTER TABLE service_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'estimate,reserve,capture,refund,read';

ALTER TABLE holds ADD COLUMN over_limit BIGINT;

CREATE INDEX sign_in_failures_at ON sign_in_failures (at);

-- Support adjustments above STUDIO_APPROVAL_ABOVE_CREDITS wait here for a second support
-- user; approving applies the ledger change and marks the request in one transaction.
CREATE TABLE adjustment_requests (
    id            BIGSERIAL PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    direction     TEXT    NOT NULL CHECK (direction IN ('grant', 'debit')),
    amount        BIGINT NOT NULL CHECK (amount > 0),
    reason        TEXT    NOT NULL,
    expires_at    BIGINT,
    requested_by  TEXT    NOT NULL,
    requested_at  BIGINT NOT NULL,
    -- The form's key: sending the request twice makes one request.
    request_key   TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'rejected')),
    decided_by    TEXT,
    decided_at    BIGINT,
    CONSTRAINT adjustment_requests_key UNIQUE (requested_by, request_key)
);
CREATE INDEX adjustment_requests_status ON adjustment_requests (status, id);

-- Each `studio-billing stripe reconcile` result, for the operations view.
CREATE TABLE reconcile_runs (
    id           BIGSERIAL PRIMARY KEY,
    at           BIGINT NOT NULL,
    since_days   BIGINT NOT NULL,
    differences  BIGINT NOT NULL,
    report       TEXT    NOT NULL
);

-- The capture, now with its limit: the same as 20261125000010 but for v_billable.
DROP FUNCTION ledger_capture(BIGINT, BIGINT, BIGINT, BIGINT, BIGINT, TEXT, TEXT, TEXT);
-- o_outcome: ok | replay | hold_not_found | idempotency_conflict | hold_expired | hold_settled
CREATE FUNCTION ledger_capture(p_hold BIGINT, p_account BIGINT, p_actual_quantity BIGINT, p_actual BIGINT,
    p_tolerance_percent BIGINT,
    p_now BIGINT, p_scope TEXT, p_key TEXT, p_hash TEXT,
    OUT o_outcome TEXT, OUT o_status TEXT, OUT o_response TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    h RECORD;
    g RECORD;
    v_account BIGINT;
    v_balance BIGINT;
    v_held BIGINT;
    v_seq BIGINT;
    v_next BIGINT;
    v_other BIGINT;
    v_charged BIGINT;
    v_billable BIGINT;
    v_over BIGINT;
    v_released BIGINT;
    v_left BIGINT;
    v_take BIGINT;
    v_hash TEXT;
    v_pos BIGINT := 0;
    v_sub BIGINT := 0;
    v_adj BIGINT := 0;
    v_top BIGINT := 0;
BEGIN
    SELECT a.id, a.balance, a.held, a.journal_seq, a.next_expiry_at INTO v_account, v_balance, v_held, v_seq, v_next
    FROM accounts a WHERE a.id = (SELECT ho.account_id FROM holds ho WHERE ho.id = p_hold) FOR UPDATE;
    IF NOT FOUND OR (p_account IS NOT NULL AND v_account <> p_account) THEN
        o_outcome := 'hold_not_found';
        RETURN;
    END IF;
    -- Read after the lock: every change to a hold happens under its account's lock.
    SELECT ho.id, ho.operation, ho.estimate, ho.amount, ho.status, ho.expires_at INTO h FROM holds ho WHERE ho.id = p_hold;
    IF p_key IS NOT NULL THEN
        SELECT k.request_hash, k.response INTO v_hash, o_response
        FROM idempotency_keys k WHERE k.scope = p_scope AND k.key = p_key;
        IF v_hash IS NOT NULL THEN
            IF v_hash <> p_hash THEN
                o_outcome := 'idempotency_conflict';
                o_response := NULL;
            ELSE
                o_outcome := 'replay';
            END IF;
            RETURN;
        END IF;
    END IF;
    IF h.status = 'expired' OR (h.status = 'held' AND p_now >= h.expires_at) THEN
        o_outcome := 'hold_expired';
        RETURN;
    ELSIF h.status <> 'held' THEN
        o_outcome := 'hold_settled';
        o_status := h.status;
        RETURN;
    END IF;
    IF v_next IS NOT NULL AND v_next <= p_now THEN
        PERFORM ledger_settle_expiries(v_account, p_now);
        SELECT a.balance, a.journal_seq INTO v_balance, v_seq FROM accounts a WHERE a.id = v_account;
    END IF;
    v_other := v_held - h.amount;
    -- At most the hold plus the tolerance (rounded up) is charged; the rest is over the limit.
    v_billable := LEAST(p_actual::numeric, h.amount + ceil(h.amount::numeric * p_tolerance_percent / 100))::bigint;
    v_over := p_actual - v_billable;
    v_charged := LEAST(v_billable, GREATEST(v_balance - v_other, 0));
    v_released := GREATEST(h.amount - v_charged, 0);
    v_left := v_charged;
    FOR g IN
        SELECT gr.id, gr.kind, gr.remaining FROM grants gr
        WHERE gr.account_id = v_account AND gr.expired = 0 AND gr.remaining > 0
          AND (gr.expires_at IS NULL OR gr.expires_at > p_now)
        ORDER BY CASE gr.kind WHEN 'subscription' THEN 0 WHEN 'adjustment' THEN 1 ELSE 2 END,
                 gr.expires_at IS NULL, gr.expires_at, gr.id
    LOOP
        EXIT WHEN v_left = 0;
        v_take := LEAST(v_left, g.remaining);
        UPDATE grants SET remaining = remaining - v_take WHERE id = g.id;
        INSERT INTO charge_parts (hold_id, position, grant_id, kind, amount) VALUES (p_hold, v_pos, g.id, g.kind, v_take);
        v_pos := v_pos + 1;
        v_left := v_left - v_take;
        IF g.kind = 'subscription' THEN v_sub := v_sub + v_take;
        ELSIF g.kind = 'adjustment' THEN v_adj := v_adj + v_take;
        ELSE v_top := v_top + v_take;
        END IF;
    END LOOP;
    UPDATE holds SET status = 'captured', settled_at = p_now, actual_quantity = p_actual_quantity, actual = p_actual,
        charged = v_charged, released = v_released, shortfall = v_billable - v_charged, over_limit = v_over
    WHERE id = p_hold;
    v_balance := v_balance - v_charged;
    v_seq := v_seq + 1;
    INSERT INTO journal (account_id, seq, at, kind, amount, balance_after, held_after, grant_id, hold_id, detail)
    VALUES (v_account, v_seq, p_now, 'capture', -v_charged, v_balance, v_other, NULL, p_hold,
            json_build_object('operation', h.operation, 'actual_cost', p_actual, 'charged', v_charged,
                'released', v_released, 'shortfall', v_billable - v_charged, 'over_limit', v_over)::text);
    UPDATE accounts SET balance = v_balance, held = v_other, journal_seq = v_seq WHERE id = v_account;
    o_response := json_build_object('hold_id', p_hold, 'account_id', v_account, 'operation', h.operation,
        'estimate', h.estimate, 'reserved', h.amount, 'actual_cost', p_actual, 'charged', v_charged,
        'released', v_released, 'shortfall', v_billable - v_charged, 'over_limit', v_over,
        'paid_by', json_build_object('subscription', v_sub, 'adjustment', v_adj, 'topup', v_top),
        'balance_after', v_balance)::text;
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (scope, key, request_hash, status, response, created_at)
        VALUES (p_scope, p_key, p_hash, 200, o_response, p_now);
    END IF;
    o_outcome := 'ok';
END
$$;
