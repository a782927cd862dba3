//! Plans bought through Stripe Checkout that have not started yet
//! (`stripe_plan_checkouts`): written by the webhook in the transaction of the event that
//! says so, read by the Subscription page ("your payment is processing") and by a new plan
//! checkout (refused meanwhile). What each event does is
//! `domain::payments::{plan_checkout_after, plan_checkout_after_stripe}`, asked by
//! `services::{payment_events, lifecycle}`.

use crate::domain::catalog::PlanId;
use crate::domain::ledger::UnixSeconds;
use crate::domain::payments::PlanCheckoutStatus;
use crate::server::db::Db;
use crate::server::db::ledger::Tx;

/// A subscription-mode Checkout Session, as the webhook read it.
#[derive(Debug, Clone)]
pub struct PlanCheckoutNotice<'a> {
    pub plan: PlanId,
    /// The subscription it made (Stripe names it once the session completes).
    pub subscription: Option<&'a str>,
    /// The Stripe customer it is for: must be the account's.
    pub customer: &'a str,
    pub amount_cents: u64,
    pub currency: &'a str,
}

/// A plan checkout on record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PlanCheckoutRow {
    pub session_id: String,
    pub account_id: i64,
    pub plan: String,
    pub amount_cents: i64,
    pub currency: String,
    pub status: String,
    pub created_at: i64,
}

/// The status of `account`'s plan checkout `session_id`, if one is on record.
pub(crate) async fn status_in(
    tx: &mut Tx,
    account: i64,
    session_id: &str,
) -> Result<Option<PlanCheckoutStatus>, sqlx::Error> {
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM stripe_plan_checkouts WHERE session_id = $1 AND account_id = $2",
    )
    .bind(session_id)
    .bind(account)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(status.as_deref().and_then(PlanCheckoutStatus::parse))
}

/// Whether Stripe's news of `subscription` has come for `account` already: the account
/// follows it (whatever has become of it since: live, ended), or its paid invoice was a
/// second subscription's and is refunded.
pub(crate) async fn subscription_known(
    tx: &mut Tx,
    account: i64,
    subscription: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM subscriptions \
                 WHERE account_id = $1 AND stripe_subscription_id = $2) \
              + (SELECT COUNT(*) FROM payment_refunds r JOIN payments p ON p.id = r.payment_id \
                 WHERE p.account_id = $1 AND r.stripe_subscription_id = $2)",
    )
    .bind(account)
    .bind(subscription)
    .fetch_one(&mut **tx)
    .await?;
    Ok(n > 0)
}

/// Records `account`'s plan checkout `session_id` in `status`.
pub(crate) async fn insert(
    tx: &mut Tx,
    account: i64,
    session_id: &str,
    notice: &PlanCheckoutNotice<'_>,
    status: PlanCheckoutStatus,
    now: UnixSeconds,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stripe_plan_checkouts (session_id, account_id, subscription_id, plan, \
         amount_cents, currency, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(session_id)
    .bind(account)
    .bind(notice.subscription)
    .bind(notice.plan.as_str())
    .bind(i64::try_from(notice.amount_cents).unwrap_or(i64::MAX))
    .bind(notice.currency)
    .bind(status.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves `account`'s plan checkout `session_id` to `status`, and names the subscription it
/// made if it did not yet.
pub(crate) async fn set_status(
    tx: &mut Tx,
    account: i64,
    session_id: &str,
    subscription: Option<&str>,
    status: PlanCheckoutStatus,
    now: UnixSeconds,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stripe_plan_checkouts SET status = $1, \
         subscription_id = COALESCE(subscription_id, $2), updated_at = $3 \
         WHERE session_id = $4 AND account_id = $5",
    )
    .bind(status.as_str())
    .bind(subscription)
    .bind(now)
    .bind(session_id)
    .bind(account)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves `account`'s plan checkouts still processing that made `subscription` (or that did
/// not say which they made) to `status`.
pub(crate) async fn settle_processing(
    tx: &mut Tx,
    account: i64,
    subscription: &str,
    status: PlanCheckoutStatus,
    now: UnixSeconds,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stripe_plan_checkouts SET status = $1, updated_at = $2 \
         WHERE account_id = $3 AND status = 'processing' \
         AND (subscription_id = $4 OR subscription_id IS NULL)",
    )
    .bind(status.as_str())
    .bind(now)
    .bind(account)
    .bind(subscription)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How long a plan checkout may stay processing before the page stops saying so: longer
/// than any bank debit takes to clear (SEPA's can take up to 14 business days). A record
/// whose settling event never came (Stripe gave up resending it) then no longer blocks the
/// customer; Stripe's own refusal of a second live subscription, and the refund of a second
/// paid one, still keep them from paying twice.
pub const PROCESSING_FOR_AT_MOST: i64 = 21 * 86_400;

/// The account's plan checkout still processing at `now`, if any (the newest).
pub async fn processing(
    db: &Db,
    account: i64,
    now: UnixSeconds,
) -> Result<Option<PlanCheckoutRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT session_id, account_id, plan, amount_cents, currency, status, created_at \
         FROM stripe_plan_checkouts WHERE account_id = $1 AND status = 'processing' \
         AND created_at > $2 ORDER BY created_at DESC, session_id DESC LIMIT 1",
    )
    .bind(account)
    .bind(now - PROCESSING_FOR_AT_MOST)
    .fetch_optional(db.reader())
    .await
}

/// The plan checkout of `session_id`, if one is on record.
pub async fn by_session(db: &Db, session_id: &str) -> Result<Option<PlanCheckoutRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT session_id, account_id, plan, amount_cents, currency, status, created_at \
         FROM stripe_plan_checkouts WHERE session_id = $1",
    )
    .bind(session_id)
    .fetch_optional(db.reader())
    .await
}
