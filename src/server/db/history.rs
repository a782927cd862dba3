//! The customer's credit history: the journal entries that changed the balance, newest
//! first by their time (not by the order they were written: the demo's data, an import or
//! a late webhook may write an older time after a newer one), with the kind of grant each
//! names.

use crate::domain::history::{HistoryCursor, HistoryFilter};
use crate::domain::ledger::{GrantKind, JournalKind};
use crate::server::db::Db;
use sqlx::Row;

/// One entry of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub seq: i64,
    pub at: i64,
    pub kind: JournalKind,
    pub amount: i64,
    pub balance_after: i64,
    pub detail: Option<String>,
    /// The kind of the grant it names (`subscription`, `topup`, `adjustment`), if any.
    pub grant_kind: Option<GrantKind>,
    pub manual: bool,
}

pub async fn history(
    db: &Db,
    account: i64,
    filter: HistoryFilter,
    before: Option<HistoryCursor>,
    limit: i64,
) -> Result<Vec<HistoryRow>, sqlx::Error> {
    // The kinds come from the filter's own list, never from the request.
    let kinds = filter
        .kinds()
        .iter()
        .map(|k| format!("'{}'", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let before = before.unwrap_or(HistoryCursor::NEWEST);
    let sql = format!(
        "SELECT j.seq, j.at, j.kind, j.amount, j.balance_after, j.detail, j.actor, g.kind AS grant_kind \
         FROM journal j LEFT JOIN grants g ON g.id = j.grant_id \
         WHERE j.account_id = $1 AND j.kind IN ({kinds}) \
         AND (j.at < $2 OR (j.at = $2 AND j.seq < $3)) \
         ORDER BY j.at DESC, j.seq DESC LIMIT $4"
    );
    let rows = sqlx::query(&sql)
        .bind(account)
        .bind(before.at)
        .bind(before.seq)
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| {
            let actor: Option<String> = r.try_get("actor")?;
            Ok(HistoryRow {
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                kind: crate::server::db::ledger::journal_kind(r)?,
                amount: r.try_get("amount")?,
                balance_after: r.try_get("balance_after")?,
                detail: r.try_get("detail")?,
                grant_kind: r
                    .try_get::<Option<String>, _>("grant_kind")?
                    .map(|k| {
                        GrantKind::parse(&k).ok_or_else(|| {
                            sqlx::Error::Decode(format!("unknown grant kind {k}").into())
                        })
                    })
                    .transpose()?,
                manual: actor.is_some(),
            })
        })
        .collect()
}

/// A page of an account's whole journal (every kind, reservations too), newest first by
/// time, for support.
pub async fn journal(
    db: &Db,
    account: i64,
    before: Option<HistoryCursor>,
    limit: i64,
) -> Result<Vec<crate::domain::ledger::JournalEntry>, sqlx::Error> {
    let before = before.unwrap_or(HistoryCursor::NEWEST);
    let rows = sqlx::query(
        "SELECT seq, at, kind, amount, balance_after, held_after, grant_id, hold_id, detail, actor \
         FROM journal WHERE account_id = $1 AND (at < $2 OR (at = $2 AND seq < $3)) \
         ORDER BY at DESC, seq DESC LIMIT $4",
    )
    .bind(account)
    .bind(before.at)
    .bind(before.seq)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(crate::server::db::ledger::journal_entry)
        .collect()
}

/// A charged generation of the account (`hold` is its receipt number): its operation key,
/// what it was charged and when it settled.
pub async fn charge_of(
    db: &Db,
    account: i64,
    hold: i64,
) -> Result<Option<(String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT operation, COALESCE(charged, 0), COALESCE(settled_at, created_at) FROM holds \
         WHERE id = $1 AND account_id = $2 AND status = 'captured'",
    )
    .bind(hold)
    .bind(account)
    .fetch_optional(db.reader())
    .await
}
