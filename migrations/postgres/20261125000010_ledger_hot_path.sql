-- A cheaper reserve and capture, same rules and same outcomes as 20261125000004.
--
-- 1. The idempotency key is looked up and stored inline. The helpers were SQL functions
--    called from PL/pgSQL, which PostgreSQL parses and plans again on every call; inline
--    statements keep their plans for the life of the connection.
-- 2. Drawing from a grant can be a HOT update (no new index entries, no dead index
--    tuples): the open-grants index no longer names `remaining`, and grants and accounts
--    leave room on each page for the new row version. A drained grant stays in the index
--    until it expires (top-ups never do); the queries still skip it by `remaining > 0`,
--    and an account holds few grants.

DROP INDEX grants_open;
CREATE INDEX grants_live ON grants (account_id) WHERE expired = 0;
ALTER TABLE grants SET (fillfactor = 70);
ALTER TABLE accounts SET (fillfactor = 70);

-- Reserves credits for a job, all or nothing (P10).
-- o_outcome: ok | replay | account_not_found | idempotency_conflict | insufficient
CREATE OR REPLACE FUNCTION ledger_reserve(p_account BIGINT, p_operation TEXT, p_quantity BIGINT, p_estimate BIGINT,
    p_amount BIGINT, p_expires_at BIGINT, p_now BIGINT, p_scope TEXT, p_key TEXT, p_hash TEXT,
    OUT o_outcome TEXT, OUT o_available BIGINT, OUT o_renews_at BIGINT, OUT o_response TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    v_balance BIGINT;
    v_held BIGINT;
    v_seq BIGINT;
    v_next BIGINT;
    v_hold BIGINT;
    v_hash TEXT;
BEGIN
    SELECT a.balance, a.held, a.journal_seq, a.renews_at, a.next_expiry_at
    INTO v_balance, v_held, v_seq, o_renews_at, v_next
    FROM accounts a WHERE a.id = p_account FOR UPDATE;
    IF NOT FOUND THEN
        o_outcome := 'account_not_found';
        RETURN;
    END IF;
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
    IF v_next IS NOT NULL AND v_next <= p_now THEN
        PERFORM ledger_settle_expiries(p_account, p_now);
        SELECT a.balance, a.journal_seq INTO v_balance, v_seq FROM accounts a WHERE a.id = p_account;
    END IF;
    IF p_amount > v_balance - v_held THEN
        o_outcome := 'insufficient';
        o_available := GREATEST(v_balance - v_held, 0);
        RETURN;
    END IF;
    INSERT INTO holds (account_id, operation, quantity, estimate, amount, status, created_at, expires_at)
    VALUES (p_account, p_operation, p_quantity, p_estimate, p_amount, 'held', p_now, p_expires_at)
    RETURNING id INTO v_hold;
    v_held := v_held + p_amount;
    v_seq := v_seq + 1;
    INSERT INTO journal (account_id, seq, at, kind, amount, balance_after, held_after, grant_id, hold_id, detail)
    VALUES (p_account, v_seq, p_now, 'reserve', 0, v_balance, v_held, NULL, v_hold,
            json_build_object('operation', p_operation, 'reserved', p_amount)::text);
    UPDATE accounts SET held = v_held, journal_seq = v_seq WHERE id = p_account;
    o_response := json_build_object('hold_id', v_hold, 'account_id', p_account, 'operation', p_operation,
        'estimate', p_estimate, 'reserved', p_amount, 'expires_at', p_expires_at)::text;
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (scope, key, request_hash, status, response, created_at)
        VALUES (p_scope, p_key, p_hash, 200, o_response, p_now);
    END IF;
    o_outcome := 'ok';
END
$$;

-- Charges the actual cost of a job and frees the rest of its hold (P2). Draws subscription
-- grants first (earliest expiry first), then adjustments, then top-ups oldest first (P5);
-- the balance never goes negative: what the hold and the free balance cannot cover is the
-- shortfall.
-- o_outcome: ok | replay | hold_not_found | idempotency_conflict | hold_expired | hold_settled
CREATE OR REPLACE FUNCTION ledger_capture(p_hold BIGINT, p_account BIGINT, p_actual_quantity BIGINT, p_actual BIGINT,
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
    v_charged := LEAST(p_actual, GREATEST(v_balance - v_other, 0));
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
        charged = v_charged, released = v_released, shortfall = p_actual - v_charged
    WHERE id = p_hold;
    v_balance := v_balance - v_charged;
    v_seq := v_seq + 1;
    INSERT INTO journal (account_id, seq, at, kind, amount, balance_after, held_after, grant_id, hold_id, detail)
    VALUES (v_account, v_seq, p_now, 'capture', -v_charged, v_balance, v_other, NULL, p_hold,
            json_build_object('operation', h.operation, 'actual_cost', p_actual, 'charged', v_charged,
                'released', v_released, 'shortfall', p_actual - v_charged)::text);
    UPDATE accounts SET balance = v_balance, held = v_other, journal_seq = v_seq WHERE id = v_account;
    o_response := json_build_object('hold_id', p_hold, 'account_id', v_account, 'operation', h.operation,
        'estimate', h.estimate, 'reserved', h.amount, 'actual_cost', p_actual, 'charged', v_charged,
        'released', v_released, 'shortfall', p_actual - v_charged,
        'paid_by', json_build_object('subscription', v_sub, 'adjustment', v_adj, 'topup', v_top),
        'balance_after', v_balance)::text;
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (scope, key, request_hash, status, response, created_at)
        VALUES (p_scope, p_key, p_hash, 200, o_response, p_now);
    END IF;
    o_outcome := 'ok';
END
$$;

DROP FUNCTION ledger_find_key(TEXT, TEXT, TEXT);
DROP FUNCTION ledger_store_key(TEXT, TEXT, TEXT, TEXT, BIGINT);
