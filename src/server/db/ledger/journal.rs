//! Reads: the balance and the journal.

use super::*;

pub async fn balance(db: &Db, account: i64, now: UnixSeconds) -> Result<BalanceView, LedgerError> {
    // One statement: the account's row once for each of its open grants (once with no
    // grant when it has none).
    let rows = sqlx::query(
        "SELECT a.held, a.renews_at, g.id, g.kind, g.remaining, g.expires_at FROM accounts a \
         LEFT JOIN grants g ON g.account_id = a.id AND g.expired = 0 AND g.remaining > 0 \
         WHERE a.id = $1",
    )
    .bind(account)
    .fetch_all(db.reader())
    .await?;
    let first = rows.first().ok_or(LedgerError::AccountNotFound(account))?;
    let held = credits(first.try_get("held")?)?;
    let renews_at: Option<i64> = first.try_get("renews_at")?;
    let mut grants: Vec<Grant> = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i64>, _>("id")?.is_some() {
            grants.push(grant_from_row(row)?);
        }
    }
    let mut split = KindSplit::default();
    let mut subscription_expires_at: Option<i64> = None;
    for g in grants.iter().filter(|g| g.is_live(now)) {
        split.add(g.kind, g.remaining)?;
        if g.kind == GrantKind::Subscription {
            subscription_expires_at = match (subscription_expires_at, g.expires_at) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
        }
    }
    let total = rules::balance(&grants, now);
    Ok(BalanceView {
        account_id: account,
        total,
        subscription: split.subscription,
        adjustment: split.adjustment,
        topup: split.topup,
        held,
        available: rules::available(total, held),
        subscription_expires_at,
        renews_at,
    })
}

/// A page of the journal, newest first, starting below `before_seq` when given.
pub async fn journal(
    db: &Db,
    account: i64,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<JournalEntry>, LedgerError> {
    let rows = sqlx::query(
        "SELECT seq, at, kind, amount, balance_after, held_after, grant_id, hold_id, detail, actor FROM journal \
         WHERE account_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
    )
    .bind(account)
    .bind(before_seq.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(|r| Ok(journal_entry(r)?)).collect()
}

/// A journal row (its usual columns) as an entry.
pub(crate) fn journal_entry(r: &AnyRow) -> Result<JournalEntry, sqlx::Error> {
    Ok(JournalEntry {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        kind: journal_kind(r)?,
        amount: r.try_get("amount")?,
        balance_after: r.try_get("balance_after")?,
        held_after: r.try_get("held_after")?,
        grant_id: r.try_get("grant_id")?,
        hold_id: r.try_get("hold_id")?,
        detail: r.try_get("detail")?,
        actor: r.try_get("actor")?,
    })
}
