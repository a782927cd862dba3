//! Storage of the subscription life cycle. A transition is one transaction: lock the
//! account row, read the subscription, ask `domain::subscription`, write the new state, the
//! grant it calls for (once per period and kind, by `subscription_grants`' key), the local
//! renewal payment, and keep `accounts.plan_id` / `renews_at` in step.

use crate::domain::catalog::{Catalog, PlanId};
use crate::domain::credits::Credits;
use crate::domain::ledger::{GrantKind, UnixSeconds};
use crate::domain::subscription::{
    self as rules, Command, GrantReason, LifecycleError, Outcome, Status, StripeFact, Subscription,
};
use crate::server::db::ledger::{self, LedgerError, NewGrant, Tx};
use crate::server::db::{Backend, Db};
use sqlx::Row;
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

/// How the first period and renewals are paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    /// No Stripe: the app records each period's payment itself (test mode).
    Local,
    /// Stripe bills; its invoices are the payments.
    Stripe,
    /// No Stripe, and this period's payment is already recorded (a local checkout).
    Prepaid,
}

const COLUMNS: &str = "plan_id, status, period_start, period_end, cancel_at_period_end, \
     pending_plan_id, grace_until, billing_anchor";

fn from_row(r: &AnyRow) -> Result<Subscription, SubscriptionError> {
    let plan: String = r.try_get("plan_id")?;
    let status: String = r.try_get("status")?;
    let pending: Option<String> = r.try_get("pending_plan_id")?;
    let corrupt = |what: String| SubscriptionError::Corrupt(what);
    let period_start: i64 = r.try_get("period_start")?;
    let anchor: Option<i64> = r.try_get("billing_anchor")?;
    Ok(Subscription {
        plan: PlanId::parse(&plan).map_err(|_| corrupt(format!("plan {plan}")))?,
        status: Status::parse(&status).ok_or_else(|| corrupt(format!("status {status}")))?,
        period_start,
        period_end: r.try_get("period_end")?,
        cancel_at_period_end: r.try_get::<i64, _>("cancel_at_period_end")? != 0,
        pending_plan: pending
            .map(|p| PlanId::parse(&p).map_err(|_| corrupt(format!("plan {p}"))))
            .transpose()?,
        grace_until: r.try_get("grace_until")?,
        // Rows from before the anchor was kept: the current period's start.
        anchor: anchor.unwrap_or(period_start),
    })
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

async fn lock(tx: &mut Tx, backend: Backend, account: i64) -> Result<(), SubscriptionError> {
    ledger::lock_account(tx, backend, account).await?;
    Ok(())
}

async fn read(tx: &mut Tx, account: i64) -> Result<Option<Subscription>, SubscriptionError> {
    let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE account_id = $1");
    let row = sqlx::query(&sql)
        .bind(account)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Applies `cmd` for `account` in one transaction and returns what happened.
/// `cancel_reason` is kept with a cancel.
pub async fn transition(
    db: &Db,
    catalog: &Catalog,
    billing: Billing,
    account: i64,
    cmd: &Command,
    cancel_reason: Option<&str>,
    now: UnixSeconds,
) -> Result<Outcome, SubscriptionError> {
    let mut tx = db.begin_write().await?;
    let outcome = transition_in(
        &mut tx,
        db.backend(),
        catalog,
        billing,
        account,
        cmd,
        cancel_reason,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// [`transition`] inside the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn transition_in(
    tx: &mut Tx,
    backend: Backend,
    catalog: &Catalog,
    billing: Billing,
    account: i64,
    cmd: &Command,
    cancel_reason: Option<&str>,
    now: UnixSeconds,
) -> Result<Outcome, SubscriptionError> {
    lock(tx, backend, account).await?;
    let current = read(tx, account).await?;
    let outcome = rules::apply(current.as_ref(), cmd, catalog, now)?;
    write(
        tx,
        backend,
        catalog,
        billing,
        account,
        &outcome,
        cancel_reason,
        now,
    )
    .await?;
    Ok(outcome)
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
async fn existing_grant(
    tx: &mut Tx,
    account: i64,
    g: &rules::PeriodGrant,
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

/// Runs whatever the clock says is due for `account` (renewals, the end of a cancelled
/// subscription, the end of the grace period), catching up period by period. Returns how
/// many transitions ran. Safe to run from any number of instances at once: each step
/// re-reads the subscription under the account lock.
pub async fn run_due_for(
    db: &Db,
    catalog: &Catalog,
    billing: Billing,
    account: i64,
    now: UnixSeconds,
) -> Result<u32, SubscriptionError> {
    let mut steps = 0;
    // A bound, in case the clock jumped years: the rest is picked up on the next run.
    while steps < 60 {
        let mut tx = db.begin_write().await?;
        lock(&mut tx, db.backend(), account).await?;
        let Some(current) = read(&mut tx, account).await? else {
            break;
        };
        let Some(cmd) = rules::due(&current, now) else {
            break;
        };
        // With Stripe, its invoices and subscription events renew and end plans; only the
        // end of the grace period is the app's own.
        if billing == Billing::Stripe && cmd != Command::Purge {
            break;
        }
        let outcome = rules::apply(Some(&current), &cmd, catalog, now)?;
        write(
            &mut tx,
            db.backend(),
            catalog,
            billing,
            account,
            &outcome,
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        steps += 1;
    }
    Ok(steps)
}

/// A Stripe invoice, recorded as a payment.
#[derive(Debug, Clone)]
pub struct StripeInvoice<'a> {
    pub id: &'a str,
    pub amount_cents: u64,
    pub currency: &'a str,
    pub paid: bool,
    /// Stripe said just now that the subscription on record is still live: a paid invoice
    /// of another subscription is then a second subscription's, which bought nothing, and
    /// its payment is recorded with a refund due.
    pub second_subscription: bool,
}

/// What applying a Stripe fact did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StripeApplied {
    /// Credits granted now.
    pub granted: Option<u64>,
    /// The invoice was a second subscription's: its refund is now due.
    pub refund_due: bool,
}

/// Applies what Stripe says inside the caller's transaction (the webhook's, which records
/// the event id in it too): the subscription's state, its grant (once per period), and
/// the invoice as a payment. Returns the credits granted now, if any.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_stripe_in(
    tx: &mut Tx,
    backend: Backend,
    catalog: &Catalog,
    account: i64,
    fact: &StripeFact,
    invoice: Option<StripeInvoice<'_>>,
    state_at: Option<UnixSeconds>,
    now: UnixSeconds,
) -> Result<StripeApplied, SubscriptionError> {
    lock(tx, backend, account).await?;
    // A subscription state older than the last one applied is stale (delivered late);
    // an ended subscription is final whenever its news arrives.
    if let (StripeFact::State { status, .. }, Some(at)) = (fact, state_at)
        && *status != crate::domain::subscription::StripeStatus::Canceled
    {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT state_at FROM stripe_customers WHERE account_id = $1")
                .bind(account)
                .fetch_optional(&mut **tx)
                .await?
                .flatten();
        if last.is_some_and(|last| at < last) {
            return Ok(StripeApplied::default());
        }
        sqlx::query("UPDATE stripe_customers SET state_at = $1 WHERE account_id = $2")
            .bind(at)
            .bind(account)
            .execute(&mut **tx)
            .await?;
    }
    // A failed attempt delivered after the invoice was paid changes nothing.
    if matches!(fact, StripeFact::PaymentFailed { .. })
        && invoice_paid_before(tx, invoice.as_ref()).await?
    {
        return Ok(StripeApplied::default());
    }
    let current = read(tx, account).await?;
    let following: Option<String> = sqlx::query_scalar(
        "SELECT stripe_subscription_id FROM subscriptions WHERE account_id = $1",
    )
    .bind(account)
    .fetch_optional(&mut **tx)
    .await?
    .flatten();
    let mut refund_due = false;
    let outcome = match rules::apply_stripe(current.as_ref(), following.as_deref(), fact, catalog) {
        Ok(o) => o,
        // Another subscription's paid invoice already on record as paid: a late duplicate.
        Err(LifecycleError::OtherSubscriptionLive)
            if invoice_paid_before(tx, invoice.as_ref()).await? =>
        {
            None
        }
        // A second subscription's paid invoice (Stripe confirmed the one on record is
        // live): recorded below as paid, with its refund due; nothing is granted.
        Err(LifecycleError::OtherSubscriptionLive)
            if invoice
                .as_ref()
                .is_some_and(|i| i.paid && i.second_subscription) =>
        {
            refund_due = true;
            None
        }
        Err(e) => {
            tracing::warn!(account, error = %e, "a Stripe event cannot be applied yet; Stripe will send it again");
            return Err(e.into());
        }
    };
    // A plan checkout waiting for this subscription's first invoice: settled or failed.
    if let Some(named) = fact.subscription() {
        crate::server::db::plan_checkouts::apply_stripe_in(
            tx,
            account,
            named,
            fact,
            invoice.as_ref().map(|i| i.paid),
            now,
        )
        .await?;
    }
    if outcome.is_none()
        && let (Some(f), Some(named)) = (following.as_deref(), fact.subscription())
        && f != named
    {
        tracing::warn!(
            account,
            following = f,
            named,
            "a Stripe event names another subscription than the one this account follows; nothing changed"
        );
    }
    let mut granted = None;
    let mut grant_id = None;
    if let Some(o) = &outcome {
        granted = write(tx, backend, catalog, Billing::Stripe, account, o, None, now).await?;
        if let Some(named) = fact.subscription() {
            sqlx::query(
                "UPDATE subscriptions SET stripe_subscription_id = $1 WHERE account_id = $2",
            )
            .bind(named)
            .bind(account)
            .execute(&mut **tx)
            .await?;
        }
        if let Some(g) = &o.grant {
            grant_id = existing_grant(tx, account, g).await?;
        }
    }
    if let Some(inv) = invoice {
        let plan = match fact {
            StripeFact::PeriodPaid { plan, .. } => Some(plan.clone()),
            StripeFact::UpgradePaid { to, .. } => Some(to.clone()),
            _ => current.as_ref().map(|s| s.plan.clone()),
        };
        // What the invoice bought: the credits it granted, else its plan's per period.
        let credits = outcome
            .as_ref()
            .and_then(|o| o.grant.as_ref())
            .map(|g| g.credits)
            .or_else(|| {
                plan.as_ref()
                    .and_then(|p| catalog.plan(p))
                    .map(|p| p.credits_per_period.get())
            })
            .unwrap_or(1)
            .max(1);
        sqlx::query(
            "INSERT INTO payments (account_id, kind, provider, external_id, product, credits, \
             amount_cents, currency, status, grant_id, created_at, updated_at) \
             VALUES ($1, 'subscription', 'stripe', $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (external_id) DO UPDATE SET status = excluded.status, \
             grant_id = COALESCE(payments.grant_id, excluded.grant_id), updated_at = excluded.updated_at \
             WHERE payments.status <> 'paid'",
        )
        .bind(account)
        .bind(inv.id)
        .bind(plan.as_ref().map_or("", PlanId::as_str))
        .bind(i64::try_from(credits).unwrap_or(i64::MAX))
        .bind(i64::try_from(inv.amount_cents).unwrap_or(i64::MAX))
        .bind(inv.currency)
        .bind(if inv.paid { "paid" } else { "failed" })
        .bind(grant_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if refund_due {
            let payment: i64 = sqlx::query_scalar("SELECT id FROM payments WHERE external_id = $1")
                .bind(inv.id)
                .fetch_one(&mut **tx)
                .await?;
            tracing::warn!(account, invoice = inv.id, subscription = ?fact.subscription(),
                "a second Stripe subscription was paid; its refund is due");
            crate::server::db::payments::record_refund(
                tx,
                payment,
                crate::domain::payments::RefundState::Due,
                "A second subscription, paid while your plan was already active",
                fact.subscription(),
                now,
            )
            .await?;
        }
    }
    Ok(StripeApplied {
        granted,
        refund_due,
    })
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

/// Whether `invoice` is already on record as paid.
async fn invoice_paid_before(
    tx: &mut Tx,
    invoice: Option<&StripeInvoice<'_>>,
) -> Result<bool, SubscriptionError> {
    let Some(inv) = invoice else {
        return Ok(false);
    };
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM payments WHERE external_id = $1")
            .bind(inv.id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(status.as_deref() == Some("paid"))
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

#[allow(clippy::too_many_arguments)]
async fn write(
    tx: &mut Tx,
    backend: Backend,
    catalog: &Catalog,
    billing: Billing,
    account: i64,
    o: &Outcome,
    cancel_reason: Option<&str>,
    now: UnixSeconds,
) -> Result<Option<u64>, SubscriptionError> {
    let s = &o.next;
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

    // A catch-up over several missed periods grants nothing for periods already over.
    let mut granted = None;
    if let Some(g) = o.grant.as_ref().filter(|g| g.expires_at > now)
        && existing_grant(tx, account, g).await?.is_none()
    {
        granted = Some(g.credits);
        let plan = catalog
            .plan(&g.plan)
            .ok_or(SubscriptionError::Rule(LifecycleError::UnknownPlan))?;
        let reason = match g.kind {
            GrantReason::Period => format!("{} plan: credits for this period", plan.name),
            GrantReason::Upgrade => format!(
                "Upgrade to {}: extra credits for the rest of this period",
                plan.name
            ),
        };
        let amount = Credits::new(g.credits).map_err(|_| LedgerError::OutOfRange)?;
        let receipt = ledger::grant_in(
            tx,
            backend,
            account,
            NewGrant {
                kind: GrantKind::Subscription,
                amount,
                expires_at: Some(g.expires_at),
                reason,
                actor: None,
            },
            None,
            now,
        )
        .await?;
        sqlx::query(
            "INSERT INTO subscription_grants (account_id, period_start, kind, plan_id, grant_id) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(account)
        .bind(g.period_start)
        .bind(g.kind.as_str())
        .bind(g.plan.as_str())
        .bind(receipt.grant_id)
        .execute(&mut **tx)
        .await?;
        if billing == Billing::Local {
            // The period's (or the upgrade's prorated) payment, as the local test-mode
            // billing takes it: recorded with the credits it pays for.
            let external_id = match g.kind {
                GrantReason::Period => format!("in_local_{account}_{}", g.period_start),
                GrantReason::Upgrade => format!(
                    "in_local_{account}_{}_upgrade_{}",
                    g.period_start,
                    g.plan.as_str()
                ),
            };
            sqlx::query(
                "INSERT INTO payments (account_id, kind, provider, external_id, product, credits, \
                 amount_cents, currency, status, grant_id, created_at, updated_at) \
                 VALUES ($1, 'subscription', 'local', $2, $3, $4, $5, 'usd', 'paid', $6, $7, $7) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(account)
            .bind(external_id)
            .bind(g.plan.as_str())
            .bind(i64::try_from(g.credits).unwrap_or(i64::MAX))
            .bind(i64::try_from(g.price_cents).unwrap_or(i64::MAX))
            .bind(receipt.grant_id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
    }

    if o.purge_content {
        // P14: the content may now be deleted for good (the product's services read
        // `content_purged_at`), and the cancel reason goes with it. The sign-in stays, with
        // the journal, the payments and the top-up balance: the FAQ promises the top-up
        // credits are there "for when you come back", and coming back means signing in.
        sqlx::query("UPDATE accounts SET content_purged_at = $1 WHERE id = $2")
            .bind(now)
            .bind(account)
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE subscriptions SET cancel_reason = NULL WHERE account_id = $1")
            .bind(account)
            .execute(&mut **tx)
            .await?;
    }

    // The Subscription page and the P10 notice read these.
    let (plan, renews_at) = match s.status {
        Status::Active if !s.cancel_at_period_end => (Some(s.plan.as_str()), Some(s.period_end)),
        Status::Active | Status::PastDue => (Some(s.plan.as_str()), None),
        Status::Ended | Status::Purged => (None, None),
    };
    sqlx::query("UPDATE accounts SET plan_id = $1, renews_at = $2 WHERE id = $3")
        .bind(plan)
        .bind(renews_at)
        .bind(account)
        .execute(&mut **tx)
        .await?;
    Ok(granted)
}
