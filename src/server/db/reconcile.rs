//! What `stripe reconcile` reads of the ledger: the grants that money bought, each with the
//! paid payment behind it (if there is one), and the paid payments.

use crate::domain::ledger::UnixSeconds;
use crate::server::db::Db;

/// A top-up or subscription grant, and the paid payment whose grant it is.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MoneyGrant {
    pub grant_id: i64,
    pub account_id: i64,
    pub kind: String,
    pub amount: i64,
    pub reason: String,
    pub created_at: i64,
    /// The checkout session or invoice id of the payment it belongs to.
    pub payment: Option<String>,
}

/// Top-up and subscription grants made in `[from, to]`.
pub async fn money_grants(
    db: &Db,
    from: UnixSeconds,
    to: UnixSeconds,
) -> Result<Vec<MoneyGrant>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.id AS grant_id, g.account_id, g.kind, g.amount, g.reason, g.created_at, \
         p.external_id AS payment \
         FROM grants g LEFT JOIN payments p ON p.grant_id = g.id AND p.status = 'paid' \
         WHERE g.kind IN ('topup', 'subscription') AND g.created_at >= $1 AND g.created_at <= $2 \
         ORDER BY g.id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db.reader())
    .await
}

/// A paid payment on record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaidPayment {
    pub account_id: i64,
    pub provider: String,
    pub external_id: String,
    pub amount_cents: i64,
    pub grant_id: Option<i64>,
}

/// Payments recorded as paid whose row was written in `[from, to]`.
pub async fn paid_payments(
    db: &Db,
    from: UnixSeconds,
    to: UnixSeconds,
) -> Result<Vec<PaidPayment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT account_id, provider, external_id, amount_cents, grant_id FROM payments \
         WHERE status = 'paid' AND created_at >= $1 AND created_at <= $2 ORDER BY id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db.reader())
    .await
}

/// A `stripe reconcile` run as the operations view shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Run {
    pub at: i64,
    pub since_days: i64,
    pub differences: i64,
    pub report: String,
}

/// Records a run's result (the operations view shows the last one).
pub async fn record_run(db: &Db, run: &Run) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reconcile_runs (at, since_days, differences, report) VALUES ($1, $2, $3, $4)",
    )
    .bind(run.at)
    .bind(run.since_days)
    .bind(run.differences)
    .bind(&run.report)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// The latest recorded run.
pub async fn last_run(db: &Db) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, since_days, differences, report FROM reconcile_runs ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(db.reader())
    .await
}

/// Every Stripe customer the app knows, with its account.
pub async fn stripe_customers(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT customer_id, account_id FROM stripe_customers")
        .fetch_all(db.reader())
        .await
}
