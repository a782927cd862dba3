//! Holds: reserve, capture the real cost, release, refund a failed part, and the sweep of
//! holds left open past their expiry. On PostgreSQL, reserve and capture are one call each
//! to the PL/pgSQL functions that follow the same rules.

use super::*;

/// Reserves credits for a job (P10: all or nothing).
pub async fn reserve(
    db: &Db,
    account: i64,
    h: NewHold,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<HoldReceipt, LedgerError> {
    if db.rules_in_rust() {
        reserve_in_steps(db, account, h, idem, now).await
    } else {
        reserve_in_one_call(db, account, h, idem, now).await
    }
}

/// PostgreSQL: `ledger_reserve` (migrations/postgres/…_ledger_hot_path.sql) does the same
/// as `reserve_in_steps`, in one round trip.
pub(super) async fn reserve_in_one_call(
    db: &Db,
    account: i64,
    h: NewHold,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<HoldReceipt, LedgerError> {
    let quantity = i64::try_from(h.quantity).map_err(|_| LedgerError::OutOfRange)?;
    let call = || {
        sqlx::query(
            "SELECT o_outcome, o_available, o_renews_at, o_response \
             FROM ledger_reserve($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(account)
        .bind(h.operation.key())
        .bind(quantity)
        .bind(db_int(h.estimate))
        .bind(db_int(h.amount))
        .bind(h.expires_at)
        .bind(now)
        .bind(idem.map(|i| i.scope.clone()))
        .bind(idem.map(|i| i.key.clone()))
        .bind(idem.map(|i| i.request_hash.clone()))
        .fetch_one(db.writer())
    };
    let row = match call().await {
        Err(e) if lost_key_race(&e) => call().await?,
        other => other?,
    };
    let outcome: String = row.try_get("o_outcome")?;
    match outcome.as_str() {
        "ok" | "replay" => stored(row.try_get("o_response")?),
        "account_not_found" => Err(LedgerError::AccountNotFound(account)),
        "idempotency_conflict" => Err(LedgerError::IdempotencyConflict),
        "insufficient" => Err(LedgerError::Insufficient(InsufficientCredits {
            needed: h.amount,
            available: credits(row.try_get::<Option<i64>, _>("o_available")?.unwrap_or(0))?,
            renews_at: row.try_get("o_renews_at")?,
        })),
        other => Err(LedgerError::Corrupt(format!(
            "ledger_reserve outcome {other}"
        ))),
    }
}

pub(super) async fn reserve_in_steps(
    db: &Db,
    account: i64,
    h: NewHold,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<HoldReceipt, LedgerError> {
    let mut tx = db.begin_write().await?;
    let mut a = lock_account(&mut tx, db.backend(), account).await?;
    if let Some(done) = claim_key(&mut tx, idem, now).await? {
        return Ok(done);
    }
    settle_expiries(&mut tx, &mut a, now).await?;
    rules::check_reserve(a.balance, a.held, h.amount).map_err(
        |Insufficient { needed, available }| {
            LedgerError::Insufficient(InsufficientCredits {
                needed,
                available,
                renews_at: a.renews_at,
            })
        },
    )?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO holds (account_id, operation, quantity, estimate, amount, status, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, 'held', $6, $7) RETURNING id",
    )
    .bind(account)
    .bind(h.operation.key())
    .bind(i64::try_from(h.quantity).map_err(|_| LedgerError::OutOfRange)?)
    .bind(db_int(h.estimate))
    .bind(db_int(h.amount))
    .bind(now)
    .bind(h.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    a.held = a
        .held
        .checked_add(h.amount)
        .map_err(|_| LedgerError::OutOfRange)?;
    let detail = serde_json::json!({ "operation": h.operation, "reserved": h.amount }).to_string();
    append(
        &mut tx,
        &mut a,
        now,
        Entry {
            kind: JournalKind::Reserve,
            amount: 0,
            grant_id: None,
            hold_id: Some(id),
            detail: Some(detail),
            actor: None,
        },
    )
    .await?;
    save_account(&mut tx, &a).await?;
    let receipt = HoldReceipt {
        hold_id: id,
        account_id: account,
        operation: h.operation,
        estimate: h.estimate,
        reserved: h.amount,
        expires_at: h.expires_at,
    };
    store_response(&mut tx, idem, &receipt).await?;
    tx.commit().await?;
    Ok(receipt)
}

/// Locks the hold's account, then reads the hold; checks it belongs to `expected_account`
/// when one is given.
pub(super) async fn lock_hold(
    db: &Db,
    tx: &mut Tx,
    hold_id: i64,
    expected_account: Option<i64>,
) -> Result<(Account, HoldRow), LedgerError> {
    let account = hold_account(tx, hold_id).await?;
    if expected_account.is_some_and(|e| e != account) {
        // Another account's hold is reported as missing: its existence is not the caller's business.
        return Err(LedgerError::HoldNotFound(hold_id));
    }
    let a = lock_account(tx, db.backend(), account).await?;
    let hold = load_hold(tx, hold_id).await?;
    Ok((a, hold))
}

pub(super) fn require_open(hold: &HoldRow, now: UnixSeconds) -> Result<(), LedgerError> {
    match hold.status {
        HoldStatus::Held if now >= hold.expires_at => Err(LedgerError::HoldExpired(hold.id)),
        HoldStatus::Held => Ok(()),
        HoldStatus::Expired => Err(LedgerError::HoldExpired(hold.id)),
        other @ (HoldStatus::Captured | HoldStatus::Released) => Err(LedgerError::HoldSettled {
            hold_id: hold.id,
            status: other,
        }),
    }
}

/// Charges the actual cost of a job and frees the rest of its hold (P2).
pub async fn capture(
    db: &Db,
    hold_id: i64,
    expected_account: Option<i64>,
    actual: Actual,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<CaptureReceipt, LedgerError> {
    if db.rules_in_rust() {
        capture_in_steps(db, hold_id, expected_account, actual, idem, now).await
    } else {
        capture_in_one_call(db, hold_id, expected_account, actual, idem, now).await
    }
}

/// PostgreSQL: `ledger_capture` does the same as `capture_in_steps`, in one round trip.
pub(super) async fn capture_in_one_call(
    db: &Db,
    hold_id: i64,
    expected_account: Option<i64>,
    actual: Actual,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<CaptureReceipt, LedgerError> {
    let Actual {
        quantity,
        cost: actual,
        tolerance_percent,
    } = actual;
    let quantity = i64::try_from(quantity).map_err(|_| LedgerError::OutOfRange)?;
    let call = || {
        sqlx::query(
            "SELECT o_outcome, o_status, o_response FROM ledger_capture($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(hold_id)
        .bind(expected_account)
        .bind(quantity)
        .bind(db_int(actual))
        .bind(i64::from(tolerance_percent))
        .bind(now)
        .bind(idem.map(|i| i.scope.clone()))
        .bind(idem.map(|i| i.key.clone()))
        .bind(idem.map(|i| i.request_hash.clone()))
        .fetch_one(db.writer())
    };
    let row = match call().await {
        Err(e) if lost_key_race(&e) => call().await?,
        other => other?,
    };
    let outcome: String = row.try_get("o_outcome")?;
    match outcome.as_str() {
        "ok" | "replay" => stored(row.try_get("o_response")?),
        "hold_not_found" => Err(LedgerError::HoldNotFound(hold_id)),
        "idempotency_conflict" => Err(LedgerError::IdempotencyConflict),
        "hold_expired" => Err(LedgerError::HoldExpired(hold_id)),
        "hold_settled" => {
            let status = row
                .try_get::<Option<String>, _>("o_status")?
                .unwrap_or_default();
            Err(LedgerError::HoldSettled {
                hold_id,
                status: HoldStatus::parse(&status)
                    .ok_or_else(|| LedgerError::Corrupt(format!("hold status {status}")))?,
            })
        }
        other => Err(LedgerError::Corrupt(format!(
            "ledger_capture outcome {other}"
        ))),
    }
}

pub(super) async fn capture_in_steps(
    db: &Db,
    hold_id: i64,
    expected_account: Option<i64>,
    actual: Actual,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<CaptureReceipt, LedgerError> {
    let Actual {
        quantity: actual_quantity,
        cost: actual,
        tolerance_percent,
    } = actual;
    let mut tx = db.begin_write().await?;
    let (mut a, hold) = lock_hold(db, &mut tx, hold_id, expected_account).await?;
    if let Some(done) = claim_key(&mut tx, idem, now).await? {
        return Ok(done);
    }
    require_open(&hold, now)?;
    settle_expiries(&mut tx, &mut a, now).await?;
    let grants = open_grants(&mut tx, a.id).await?;
    let other_held = a
        .held
        .checked_sub(hold.amount)
        .map_err(|_| LedgerError::Corrupt("held below hold".into()))?;
    let plan = rules::plan_capture(
        &grants,
        hold.amount,
        other_held,
        actual,
        tolerance_percent,
        now,
    );
    draw(&mut tx, &plan.allocations).await?;
    let mut paid_by = KindSplit::default();
    for (position, part) in plan.allocations.iter().enumerate() {
        paid_by.add(part.kind, part.amount)?;
        sqlx::query("INSERT INTO charge_parts (hold_id, position, grant_id, kind, amount) VALUES ($1, $2, $3, $4, $5)")
            .bind(hold.id)
            .bind(i64::try_from(position).map_err(|_| LedgerError::OutOfRange)?)
            .bind(part.grant_id)
            .bind(part.kind.as_str())
            .bind(db_int(part.amount))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE holds SET status = 'captured', settled_at = $1, actual_quantity = $2, actual = $3, charged = $4, \
         released = $5, shortfall = $6, over_limit = $7 WHERE id = $8",
    )
    .bind(now)
    .bind(i64::try_from(actual_quantity).map_err(|_| LedgerError::OutOfRange)?)
    .bind(db_int(actual))
    .bind(db_int(plan.charged))
    .bind(db_int(plan.released))
    .bind(db_int(plan.shortfall))
    .bind(db_int(plan.over_limit))
    .bind(hold.id)
    .execute(&mut *tx)
    .await?;
    a.balance = a
        .balance
        .checked_sub(plan.charged)
        .map_err(|_| LedgerError::Corrupt("charge below zero".into()))?;
    a.held = other_held;
    // `next_expiry_at` may now point at a drained grant; that only makes the next
    // mutation look for expiries once more, so it is left as it is.
    let detail = serde_json::json!({
        "operation": hold.operation, "actual_cost": actual, "charged": plan.charged,
        "released": plan.released, "shortfall": plan.shortfall, "over_limit": plan.over_limit,
    })
    .to_string();
    append(
        &mut tx,
        &mut a,
        now,
        Entry {
            kind: JournalKind::Capture,
            amount: -db_int(plan.charged),
            grant_id: None,
            hold_id: Some(hold.id),
            detail: Some(detail),
            actor: None,
        },
    )
    .await?;
    save_account(&mut tx, &a).await?;
    let receipt = CaptureReceipt {
        hold_id: hold.id,
        account_id: a.id,
        operation: hold.operation,
        estimate: hold.estimate,
        reserved: hold.amount,
        actual_cost: actual,
        charged: plan.charged,
        released: plan.released,
        shortfall: plan.shortfall,
        over_limit: plan.over_limit,
        paid_by,
        balance_after: a.balance,
    };
    store_response(&mut tx, idem, &receipt).await?;
    tx.commit().await?;
    Ok(receipt)
}

/// Frees a whole hold without charging (the job did not run).
pub async fn release(
    db: &Db,
    hold_id: i64,
    expected_account: Option<i64>,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<ReleaseReceipt, LedgerError> {
    let mut tx = db.begin_write().await?;
    let (mut a, hold) = lock_hold(db, &mut tx, hold_id, expected_account).await?;
    if let Some(done) = claim_key(&mut tx, idem, now).await? {
        return Ok(done);
    }
    require_open(&hold, now)?;
    let receipt = end_hold(&mut tx, &mut a, &hold, HoldStatus::Released, now).await?;
    store_response(&mut tx, idem, &receipt).await?;
    tx.commit().await?;
    Ok(receipt)
}

pub(super) async fn end_hold(
    tx: &mut Tx,
    a: &mut Account,
    hold: &HoldRow,
    status: HoldStatus,
    now: UnixSeconds,
) -> Result<ReleaseReceipt, LedgerError> {
    sqlx::query("UPDATE holds SET status = $1, settled_at = $2, released = amount, charged = 0 WHERE id = $3")
        .bind(status.as_str())
        .bind(now)
        .bind(hold.id)
        .execute(&mut **tx)
        .await?;
    a.held = a
        .held
        .checked_sub(hold.amount)
        .map_err(|_| LedgerError::Corrupt("held below hold".into()))?;
    let kind = if status == HoldStatus::Expired {
        JournalKind::HoldExpired
    } else {
        JournalKind::Release
    };
    append(
        tx,
        a,
        now,
        Entry {
            kind,
            amount: 0,
            grant_id: None,
            hold_id: Some(hold.id),
            detail: None,
            actor: None,
        },
    )
    .await?;
    save_account(tx, a).await?;
    Ok(ReleaseReceipt {
        hold_id: hold.id,
        account_id: a.id,
        released: hold.amount,
    })
}

/// Returns the failed portion of a captured charge to the grants that paid it (P8).
pub async fn refund(
    db: &Db,
    hold_id: i64,
    expected_account: Option<i64>,
    amount: Credits,
    reason: &str,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<RefundReceipt, LedgerError> {
    let mut tx = db.begin_write().await?;
    let (mut a, hold) = lock_hold(db, &mut tx, hold_id, expected_account).await?;
    if let Some(done) = claim_key(&mut tx, idem, now).await? {
        return Ok(done);
    }
    if hold.status != HoldStatus::Captured || hold.charged.is_none() {
        return Err(LedgerError::NotCaptured(hold.id));
    }
    settle_expiries(&mut tx, &mut a, now).await?;
    // In draw order, so the refund can undo the last draws first.
    let paid: Vec<Paid> = sqlx::query("SELECT grant_id, kind, amount, refunded FROM charge_parts WHERE hold_id = $1 ORDER BY position")
        .bind(hold.id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| -> Result<Paid, LedgerError> {
            let kind: String = r.try_get("kind")?;
            Ok(Paid {
                allocation: Allocation {
                    grant_id: r.try_get("grant_id")?,
                    kind: GrantKind::parse(&kind).ok_or_else(|| LedgerError::Corrupt(kind.clone()))?,
                    amount: credits(r.try_get("amount")?)?,
                },
                refunded: credits(r.try_get("refunded")?)?,
            })
        })
        .collect::<Result<_, _>>()?;
    let all_grants: Vec<Grant> = sqlx::query(
        "SELECT id, kind, remaining, expires_at FROM grants WHERE account_id = $1 AND expired = 0",
    )
    .bind(a.id)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(grant_from_row)
    .collect::<Result<_, _>>()?;
    let parts = rules::plan_refund(&paid, &all_grants, amount, now).map_err(
        |rules::RefundError::MoreThanCharged { refundable }| LedgerError::RefundTooLarge {
            refundable,
        },
    )?;

    let mut returned_to = KindSplit::default();
    for part in &parts {
        sqlx::query(
            "UPDATE charge_parts SET refunded = refunded + $1 WHERE hold_id = $2 AND grant_id = $3",
        )
        .bind(db_int(part.amount))
        .bind(hold.id)
        .bind(part.paid_by)
        .execute(&mut *tx)
        .await?;
        let to = match part.to {
            Some(id) => id,
            None => {
                // No live grant to return to: a new adjustment keeps the credits (DESIGN: never lost).
                sqlx::query_scalar(
                    "INSERT INTO grants (account_id, kind, amount, remaining, expires_at, reason, created_at) \
                     VALUES ($1, 'adjustment', $2, 0, NULL, $3, $4) RETURNING id",
                )
                .bind(a.id)
                .bind(db_int(part.amount))
                .bind(format!("refund of hold {}", hold.id))
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let kind: String = sqlx::query_scalar(
            "UPDATE grants SET remaining = remaining + $1 WHERE id = $2 RETURNING kind",
        )
        .bind(db_int(part.amount))
        .bind(to)
        .fetch_one(&mut *tx)
        .await?;
        returned_to.add(
            GrantKind::parse(&kind).ok_or_else(|| LedgerError::Corrupt(kind.clone()))?,
            part.amount,
        )?;
    }
    sqlx::query("UPDATE holds SET refunded = refunded + $1 WHERE id = $2")
        .bind(db_int(amount))
        .bind(hold.id)
        .execute(&mut *tx)
        .await?;
    a.balance = a
        .balance
        .checked_add(amount)
        .map_err(|_| LedgerError::OutOfRange)?;
    a.next_expiry_at = next_expiry(&mut tx, a.id).await?;
    let detail = serde_json::json!({ "reason": reason, "refunded": amount, "already_refunded": hold.refunded }).to_string();
    append(
        &mut tx,
        &mut a,
        now,
        Entry {
            kind: JournalKind::Refund,
            amount: db_int(amount),
            grant_id: None,
            hold_id: Some(hold.id),
            detail: Some(detail),
            actor: None,
        },
    )
    .await?;
    save_account(&mut tx, &a).await?;
    let receipt = RefundReceipt {
        hold_id: hold.id,
        account_id: a.id,
        refunded: amount,
        returned_to,
        reason: reason.to_owned(),
        balance_after: a.balance,
    };
    store_response(&mut tx, idem, &receipt).await?;
    tx.commit().await?;
    Ok(receipt)
}

/// Open holds past their expiry at `now` (the sweep has not reached them yet), and the
/// earliest of their expiries.
pub async fn holds_past_expiry(
    db: &Db,
    now: UnixSeconds,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(expires_at) AS oldest FROM holds WHERE status = 'held' AND expires_at <= $1",
    )
    .bind(now)
    .fetch_one(db.reader())
    .await?;
    Ok((row.try_get("n")?, row.try_get("oldest")?))
}

/// Releases holds left open past their expiry (a crashed worker never locks credits
/// forever). Safe to run from several instances at once: each hold is re-checked under its
/// account's lock, so a hold another instance (or its worker) settled first is skipped.
pub async fn expire_stale_holds(
    db: &Db,
    now: UnixSeconds,
    limit: i64,
) -> Result<usize, LedgerError> {
    let due: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM holds WHERE status = 'held' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    let mut expired = 0;
    for hold_id in due {
        // One hold that cannot be expired must not stop the others from being freed.
        match expire_hold(db, hold_id, now).await {
            Ok(true) => expired += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(hold_id, error = %e, "could not expire a stale hold"),
        }
    }
    Ok(expired)
}

/// Expires one hold if it is still open and past its time; false if it was settled meanwhile.
pub(super) async fn expire_hold(
    db: &Db,
    hold_id: i64,
    now: UnixSeconds,
) -> Result<bool, LedgerError> {
    let mut tx = db.begin_write().await?;
    let (mut a, hold) = lock_hold(db, &mut tx, hold_id, None).await?;
    if hold.status != HoldStatus::Held || hold.expires_at > now {
        return Ok(false); // settled meanwhile by another instance or the worker itself
    }
    end_hold(&mut tx, &mut a, &hold, HoldStatus::Expired, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// The open holds of an account, oldest first.
pub async fn open_holds(
    db: &Db,
    account: i64,
) -> Result<Vec<(i64, String, Credits, UnixSeconds)>, LedgerError> {
    let rows = sqlx::query("SELECT id, operation, amount, expires_at FROM holds WHERE account_id = $1 AND status = 'held' ORDER BY id")
        .bind(account)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("operation")?,
                credits(r.try_get("amount")?)?,
                r.try_get("expires_at")?,
            ))
        })
        .collect()
}

/// The operation of a hold of `account` (to price its actual output before capture).
pub async fn hold_operation(db: &Db, hold_id: i64, account: i64) -> Result<Operation, LedgerError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT account_id, operation FROM holds WHERE id = $1")
            .bind(hold_id)
            .fetch_optional(db.reader())
            .await?;
    match row {
        Some((owner, op)) if owner == account => parse_operation(&op),
        _ => Err(LedgerError::HoldNotFound(hold_id)),
    }
}
