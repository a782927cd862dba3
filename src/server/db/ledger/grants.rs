//! Grants (blocks of credits added) and support's debits, each in one transaction.

use super::*;

/// Adds a block of credits to an account.
pub async fn grant(
    db: &Db,
    account: i64,
    g: NewGrant,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<GrantReceipt, LedgerError> {
    let mut tx = db.begin_write().await?;
    let receipt = grant_in(&mut tx, db.backend(), account, g, idem, now).await?;
    tx.commit().await?;
    Ok(receipt)
}

/// [`grant`] inside a transaction the caller commits, so the grant and what caused it
/// (a paid checkout's webhook event) are one change.
pub(crate) async fn grant_in(
    tx: &mut Tx,
    backend: Backend,
    account: i64,
    g: NewGrant,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<GrantReceipt, LedgerError> {
    let mut a = lock_account(tx, backend, account).await?;
    if let Some(done) = claim_key(tx, idem, now).await? {
        return Ok(done);
    }
    settle_expiries(tx, &mut a, now).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO grants (account_id, kind, amount, remaining, expires_at, reason, created_at) \
         VALUES ($1, $2, $3, $3, $4, $5, $6) RETURNING id",
    )
    .bind(account)
    .bind(g.kind.as_str())
    .bind(db_int(g.amount))
    .bind(g.expires_at)
    .bind(&g.reason)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    a.balance = a
        .balance
        .checked_add(g.amount)
        .map_err(|_| LedgerError::OutOfRange)?;
    if let Some(at) = g.expires_at {
        a.next_expiry_at = Some(a.next_expiry_at.map_or(at, |n| n.min(at)));
    }
    let detail = serde_json::json!({ "grant_kind": g.kind, "reason": g.reason }).to_string();
    append(
        tx,
        &mut a,
        now,
        Entry {
            kind: JournalKind::Grant,
            amount: db_int(g.amount),
            grant_id: Some(id),
            hold_id: None,
            detail: Some(detail),
            actor: g.actor.as_deref(),
        },
    )
    .await?;
    save_account(tx, &a).await?;
    let receipt = GrantReceipt {
        grant_id: id,
        account_id: account,
        kind: g.kind,
        amount: g.amount,
        expires_at: g.expires_at,
        balance_after: a.balance,
    };
    store_response(tx, idem, &receipt).await?;
    Ok(receipt)
}

/// Takes credits off an account by hand (support correcting a wrong grant), in the normal
/// draw order. It never pushes the balance below zero or into credits held for running jobs.
pub async fn debit(
    db: &Db,
    account: i64,
    amount: Credits,
    reason: &str,
    actor: &str,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<DebitReceipt, LedgerError> {
    let mut tx = db.begin_write().await?;
    let receipt = debit_in(
        &mut tx,
        db.backend(),
        account,
        amount,
        reason,
        actor,
        idem,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(receipt)
}

/// [`debit`] inside a transaction the caller commits (an approved adjustment and its
/// approval are one change).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn debit_in(
    tx: &mut Tx,
    backend: Backend,
    account: i64,
    amount: Credits,
    reason: &str,
    actor: &str,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<DebitReceipt, LedgerError> {
    let mut a = lock_account(tx, backend, account).await?;
    if let Some(done) = claim_key(tx, idem, now).await? {
        return Ok(done);
    }
    settle_expiries(tx, &mut a, now).await?;
    rules::check_reserve(a.balance, a.held, amount).map_err(
        |Insufficient { needed, available }| {
            LedgerError::Insufficient(InsufficientCredits {
                needed,
                available,
                renews_at: a.renews_at,
            })
        },
    )?;
    let grants = open_grants(tx, a.id).await?;
    let allocations =
        rules::plan_draw(&grants, amount, now).map_err(|Insufficient { needed, available }| {
            LedgerError::Insufficient(InsufficientCredits {
                needed,
                available,
                renews_at: a.renews_at,
            })
        })?;
    draw(tx, &allocations).await?;
    let mut paid_by = KindSplit::default();
    for part in &allocations {
        paid_by.add(part.kind, part.amount)?;
    }
    a.balance = a
        .balance
        .checked_sub(amount)
        .map_err(|_| LedgerError::Corrupt("debit below zero".into()))?;
    let detail = serde_json::json!({ "reason": reason }).to_string();
    append(
        tx,
        &mut a,
        now,
        Entry {
            kind: JournalKind::Debit,
            amount: -db_int(amount),
            grant_id: None,
            hold_id: None,
            detail: Some(detail),
            actor: Some(actor),
        },
    )
    .await?;
    save_account(tx, &a).await?;
    let receipt = DebitReceipt {
        account_id: a.id,
        amount,
        paid_by,
        balance_after: a.balance,
    };
    store_response(tx, idem, &receipt).await?;
    Ok(receipt)
}

/// Every change made by hand, newest first.
pub async fn manual_changes(db: &Db, limit: i64) -> Result<Vec<ManualChange>, LedgerError> {
    let rows = sqlx::query(
        "SELECT j.at, j.account_id, a.email, j.kind, j.amount, j.detail, j.actor FROM journal j \
         JOIN accounts a ON a.id = j.account_id WHERE j.actor IS NOT NULL ORDER BY j.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ManualChange {
                at: r.try_get("at")?,
                account_id: r.try_get("account_id")?,
                account_email: r.try_get("email")?,
                kind: journal_kind(r)?,
                amount: r.try_get("amount")?,
                detail: r.try_get("detail")?,
                actor: r.try_get("actor")?,
            })
        })
        .collect()
}
