//! Storage of the subscription life cycle: the subscription row, the grants it made (one
//! per period and kind, by `subscription_grants`' key), the Stripe customer and the
//! subscription it follows. Small statements in the caller's transaction;
//! `services::lifecycle` decides what to write and in which order.

use crate::domain::catalog::PlanId;
use crate::domain::ledger::UnixSeconds;
use crate::domain::subscription::{GrantReason, LifecycleError, PeriodGrant, Status, Subscription};
use crate::server::db::ledger::{self, LedgerError, Tx};
use crate::server::db::{Backend, Db};
use sqlx::any::AnyRow;

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error(transparent)]
    Rule(#[from] LifecycleError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}

const COLUMNS: &str = "plan_id, status, period_start, period_end, cancel_at_period_end, \
     pending_plan_id, grace_until, billing_anchor";

/// A `subscriptions` row as stored ([`COLUMNS`]).
#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    plan_id: String,
    status: String,
    period_start: i64,
    period_end: i64,
    cancel_at_period_end: i64,
    pending_plan_id: Option<String>,
    grace_until: Option<i64>,
    billing_anchor: Option<i64>,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = SubscriptionError;

    fn try_from(r: SubscriptionRow) -> Result<Subscription, SubscriptionError> {
        let corrupt = |what: String| SubscriptionError::Corrupt(what);
        let plan = |p: &str| PlanId::parse(p).map_err(|_| corrupt(format!("plan {p}")));
        Ok(Subscription {
            plan: plan(&r.plan_id)?,
            status: Status::parse(&r.status)
                .ok_or_else(|| corrupt(format!("status {}", r.status)))?,
            period_start: r.period_start,
            period_end: r.period_end,
            cancel_at_period_end: r.cancel_at_period_end != 0,
            pending_plan: r.pending_plan_id.as_deref().map(plan).transpose()?,
            grace_until: r.grace_until,
            // Rows from before the anchor was kept: the current period's start.
            anchor: r.billing_anchor.unwrap_or(r.period_start),
        })
    }
}

fn from_row(r: &AnyRow) -> Result<Subscription, SubscriptionError> {
    Subscription::try_from(<SubscriptionRow as sqlx::FromRow<AnyRow>>::from_row(r)?)
}

/// An account's subscription, if it ever had one.
pub async fn get(db: &Db, account: i64) -> Result<Option<Subscription>, SubscriptionError> {
    let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE account_id = $1");
    let row = sqlx::query(&sql)
        .bind(account)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Locks the account row: every change to an account's subscription, grants and payments
/// happens under it.
pub(crate) async fn lock(
    tx: &mut Tx,
    backend: Backend,
    account: i64,
) -> Result<(), SubscriptionError> {
    ledger::lock_account(tx, backend, account).await?;
    Ok(())
}

/// The account's subscription, inside the caller's transaction.
pub(crate) async fn read(
    tx: &mut Tx,
    account: i64,
) -> Result<Option<Subscription>, SubscriptionError> {
    let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE account_id = $1");
    let row = sqlx::query(&sql)
        .bind(account)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The grant that paid a period, if it was made: one per period, whatever the plan.
pub(crate) async fn period_grant_id(
    tx: &mut Tx,
    account: i64,
    period_start: UnixSeconds,
) -> Result<Option<i64>, SubscriptionError> {
    Ok(sqlx::query_scalar(
        "SELECT grant_id FROM subscription_grants \
         WHERE account_id = $1 AND period_start = $2 AND kind = 'period'",
    )
    .bind(account)
    .bind(period_start)
    .fetch_optional(&mut **tx)
    .await?)
}

/// The grant `g` calls for, if it was made already: a period's once per period, an
/// upgrade's once per period and plan upgraded to.
pub(crate) async fn existing_grant(
    tx: &mut Tx,
    account: i64,
    g: &PeriodGrant,
) -> Result<Option<i64>, SubscriptionError> {
    match g.kind {
        GrantReason::Period => period_grant_id(tx, account, g.period_start).await,
        GrantReason::Upgrade => Ok(sqlx::query_scalar(
            "SELECT grant_id FROM subscription_grants \
             WHERE account_id = $1 AND period_start = $2 AND kind = 'upgrade' AND plan_id = $3",
        )
        .bind(account)
        .bind(g.period_start)
        .bind(g.plan.as_str())
        .fetch_optional(&mut **tx)
        .await?),
    }
}

/// The Stripe subscription the account of `customer` follows, if any.
pub async fn followed_subscription(
    db: &Db,
    customer: &str,
) -> Result<Option<String>, SubscriptionError> {
    Ok(sqlx::query_scalar(
        "SELECT s.stripe_subscription_id FROM subscriptions s \
         JOIN stripe_customers c ON c.account_id = s.account_id WHERE c.customer_id = $1",
    )
    .bind(customer)
    .fetch_optional(db.writer())
    .await?
    .flatten())
}

/// The account a Stripe customer belongs to.
pub(crate) async fn account_of_customer(
    tx: &mut Tx,
    customer: &str,
) -> Result<Option<i64>, SubscriptionError> {
    Ok(
        sqlx::query_scalar("SELECT account_id FROM stripe_customers WHERE customer_id = $1")
            .bind(customer)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// Whether `customer` is the account's own Stripe customer.
pub(crate) async fn is_customer_of(
    tx: &mut Tx,
    account: i64,
    customer: &str,
) -> Result<bool, SubscriptionError> {
    let known: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM stripe_customers WHERE account_id = $1 AND customer_id = $2",
    )
    .bind(account)
    .bind(customer)
    .fetch_one(&mut **tx)
    .await?;
    Ok(known > 0)
}

/// The account's Stripe customer, if it has one.
pub async fn customer_of(db: &Db, account: i64) -> Result<Option<String>, SubscriptionError> {
    Ok(
        sqlx::query_scalar("SELECT customer_id FROM stripe_customers WHERE account_id = $1")
            .bind(account)
            .fetch_optional(db.writer())
            .await?,
    )
}

/// Records the account's Stripe customer; the first one recorded wins and is returned.
pub async fn link_customer(
    db: &Db,
    account: i64,
    customer: &str,
    now: UnixSeconds,
) -> Result<String, SubscriptionError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO stripe_customers (account_id, customer_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(account)
    .bind(customer)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let kept: String =
        sqlx::query_scalar("SELECT customer_id FROM stripe_customers WHERE account_id = $1")
            .bind(account)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(kept)
}

/// Accounts with something due at `now`, after `after` in id order (for paging).
pub async fn due_accounts(
    db: &Db,
    now: UnixSeconds,
    after: i64,
    limit: i64,
) -> Result<Vec<i64>, SubscriptionError> {
    let ids = sqlx::query_scalar(
        "SELECT account_id FROM subscriptions \
         WHERE ((status = 'active' AND period_end <= $1) OR (status = 'ended' AND grace_until <= $1)) \
         AND account_id > $2 ORDER BY account_id LIMIT $3",
    )
    .bind(now)
    .bind(after)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    Ok(ids)
}

/// When the last Stripe subscription state applied was made, if one was.
pub(crate) async fn state_at(
    tx: &mut Tx,
    account: i64,
) -> Result<Option<UnixSeconds>, SubscriptionError> {
    Ok(
        sqlx::query_scalar("SELECT state_at FROM stripe_customers WHERE account_id = $1")
            .bind(account)
            .fetch_optional(&mut **tx)
            .await?
            .flatten(),
    )
}

/// Records when the Stripe subscription state just applied was made.
pub(crate) async fn set_state_at(
    tx: &mut Tx,
    account: i64,
    at: UnixSeconds,
) -> Result<(), SubscriptionError> {
    sqlx::query("UPDATE stripe_customers SET state_at = $1 WHERE account_id = $2")
        .bind(at)
        .bind(account)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The Stripe subscription the account follows, inside the caller's transaction.
pub(crate) async fn followed(
    tx: &mut Tx,
    account: i64,
) -> Result<Option<String>, SubscriptionError> {
    Ok(
        sqlx::query_scalar(
            "SELECT stripe_subscription_id FROM subscriptions WHERE account_id = $1",
        )
        .bind(account)
        .fetch_optional(&mut **tx)
        .await?
        .flatten(),
    )
}

/// Makes the account follow Stripe subscription `subscription`.
pub(crate) async fn set_followed(
    tx: &mut Tx,
    account: i64,
    subscription: &str,
) -> Result<(), SubscriptionError> {
    sqlx::query("UPDATE subscriptions SET stripe_subscription_id = $1 WHERE account_id = $2")
        .bind(subscription)
        .bind(account)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Writes the account's subscription; `cancel_reason`, when given, replaces the one kept.
pub(crate) async fn save(
    tx: &mut Tx,
    account: i64,
    s: &Subscription,
    cancel_reason: Option<&str>,
    now: UnixSeconds,
) -> Result<(), SubscriptionError> {
    sqlx::query(
        "INSERT INTO subscriptions (account_id, plan_id, status, period_start, period_end, \
         cancel_at_period_end, pending_plan_id, grace_until, cancel_reason, updated_at, billing_anchor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (account_id) DO UPDATE SET plan_id = $2, status = $3, period_start = $4, \
         period_end = $5, cancel_at_period_end = $6, pending_plan_id = $7, grace_until = $8, \
         cancel_reason = COALESCE($9, subscriptions.cancel_reason), updated_at = $10, \
         billing_anchor = $11",
    )
    .bind(account)
    .bind(s.plan.as_str())
    .bind(s.status.as_str())
    .bind(s.period_start)
    .bind(s.period_end)
    .bind(i64::from(s.cancel_at_period_end))
    .bind(s.pending_plan.as_ref().map(PlanId::as_str))
    .bind(s.grace_until)
    .bind(cancel_reason)
    .bind(now)
    .bind(s.anchor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records that ledger grant `grant_id` is the one `g` called for.
pub(crate) async fn record_grant(
    tx: &mut Tx,
    account: i64,
    g: &PeriodGrant,
    grant_id: i64,
) -> Result<(), SubscriptionError> {
    sqlx::query(
        "INSERT INTO subscription_grants (account_id, period_start, kind, plan_id, grant_id) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(account)
    .bind(g.period_start)
    .bind(g.kind.as_str())
    .bind(g.plan.as_str())
    .bind(grant_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks the account's content deletable for good (the product's services read
/// `content_purged_at`) and forgets the cancel reason with it.
pub(crate) async fn mark_content_purged(
    tx: &mut Tx,
    account: i64,
    now: UnixSeconds,
) -> Result<(), SubscriptionError> {
    sqlx::query("UPDATE accounts SET content_purged_at = $1 WHERE id = $2")
        .bind(now)
        .bind(account)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE subscriptions SET cancel_reason = NULL WHERE account_id = $1")
        .bind(account)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Keeps the plan and renewal date the ledger shows beside the balance
/// ([`Subscription::plan_and_renewal`]) in step with the subscription.
pub(crate) async fn set_account_plan(
    tx: &mut Tx,
    account: i64,
    plan: Option<&PlanId>,
    renews_at: Option<UnixSeconds>,
) -> Result<(), SubscriptionError> {
    sqlx::query("UPDATE accounts SET plan_id = $1, renews_at = $2 WHERE id = $3")
        .bind(plan.map(PlanId::as_str))
        .bind(renews_at)
        .bind(account)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
