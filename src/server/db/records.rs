//! The rows of the customer's records (P18, `domain::records`), a page at a time in the
//! order of their time: each page starts after the last row of the one before (`After`),
//! so a download of any length holds one page in memory, and no statement or connection
//! stays open while the reader's browser takes its time.

use crate::domain::ledger::{GrantKind, HoldStatus};
use crate::domain::payments::{PaymentKind, PaymentStatus, Provider, RefundState};
use crate::domain::records::{GenerationRecord, PaymentRecord};
use crate::server::db::Db;
use crate::server::db::usage::paid_from;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Where the next page starts: after this time and id (the start of the range, before
/// the first page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    pub at: i64,
    pub id: i64,
}

/// Times from `from` (included) to `until` (excluded), unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub until: i64,
}

fn decode<T>(what: &str, value: &str, parsed: Option<T>) -> Result<T, sqlx::Error> {
    parsed.ok_or_else(|| sqlx::Error::Decode(format!("unknown {what} {value}").into()))
}

/// Generations started in `window`, after `after`, at most `limit`.
pub async fn generations(
    db: &Db,
    account: i64,
    window: Window,
    after: After,
    limit: i64,
) -> Result<Vec<GenerationRecord>, sqlx::Error> {
    let sql = format!(
        "SELECT h.id, h.created_at, h.settled_at, h.operation, h.quantity, h.actual_quantity, \
         h.status, h.estimate, h.amount, COALESCE(h.charged, 0) AS charged, h.refunded, \
         {} AS from_subscription, {} AS from_top_up, {} AS from_adjustment \
         FROM holds h WHERE h.account_id = $1 AND h.created_at >= $2 AND h.created_at < $3 \
         AND (h.created_at > $4 OR (h.created_at = $4 AND h.id > $5)) \
         ORDER BY h.created_at, h.id LIMIT $6",
        paid_from(GrantKind::Subscription),
        paid_from(GrantKind::Topup),
        paid_from(GrantKind::Adjustment),
    );
    page(db, &sql, account, window, after, limit)
        .await?
        .iter()
        .map(generation)
        .collect()
}

/// The rows of `sql`, whose parameters are the account, the window, where the page starts
/// and its length, in that order.
async fn page(
    db: &Db,
    sql: &str,
    account: i64,
    window: Window,
    after: After,
    limit: i64,
) -> Result<Vec<AnyRow>, sqlx::Error> {
    sqlx::query(sql)
        .bind(account)
        .bind(window.from)
        .bind(window.until)
        .bind(after.at)
        .bind(after.id)
        .bind(limit)
        .fetch_all(db.reader())
        .await
}

fn generation(r: &AnyRow) -> Result<GenerationRecord, sqlx::Error> {
    let status: String = r.try_get("status")?;
    Ok(GenerationRecord {
        receipt: r.try_get("id")?,
        started_at: r.try_get("created_at")?,
        settled_at: r.try_get("settled_at")?,
        operation: r.try_get("operation")?,
        quantity: r.try_get("quantity")?,
        used_quantity: r.try_get("actual_quantity")?,
        status: decode("hold status", &status, HoldStatus::parse(&status))?,
        estimate: r.try_get("estimate")?,
        held: r.try_get("amount")?,
        charged: r.try_get("charged")?,
        credited_back: r.try_get("refunded")?,
        from_subscription: r.try_get("from_subscription")?,
        from_top_up: r.try_get("from_top_up")?,
        from_adjustment: r.try_get("from_adjustment")?,
    })
}

/// Payments started in `window`, after `after`, at most `limit`.
pub async fn payments(
    db: &Db,
    account: i64,
    window: Window,
    after: After,
    limit: i64,
) -> Result<Vec<PaymentRecord>, sqlx::Error> {
    const SQL: &str = "SELECT p.id, p.created_at, p.updated_at, p.kind, p.product, p.credits, \
         p.amount_cents, p.currency, p.status, p.provider, r.status AS refund \
         FROM payments p LEFT JOIN payment_refunds r ON r.payment_id = p.id \
         WHERE p.account_id = $1 AND p.created_at >= $2 AND p.created_at < $3 \
         AND (p.created_at > $4 OR (p.created_at = $4 AND p.id > $5)) \
         ORDER BY p.created_at, p.id LIMIT $6";
    page(db, SQL, account, window, after, limit)
        .await?
        .iter()
        .map(payment)
        .collect()
}

fn payment(r: &AnyRow) -> Result<PaymentRecord, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    let status: String = r.try_get("status")?;
    let provider: String = r.try_get("provider")?;
    let refund: Option<String> = r.try_get("refund")?;
    Ok(PaymentRecord {
        payment: r.try_get("id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        kind: decode("payment kind", &kind, PaymentKind::parse(&kind))?,
        product: r.try_get("product")?,
        credits: r.try_get("credits")?,
        amount_cents: r.try_get("amount_cents")?,
        currency: r.try_get("currency")?,
        status: decode("payment status", &status, PaymentStatus::parse(&status))?,
        provider: decode("provider", &provider, Provider::parse(&provider))?,
        refund: refund
            .map(|s| decode("refund state", &s, RefundState::parse(&s)))
            .transpose()?,
    })
}
