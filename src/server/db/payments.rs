//! Payments and webhook events. A checkout's row is written when it starts; a verified
//! webhook event is recorded, and its effect (status, and the grant when it becomes paid)
//! written, in one transaction, so each event and each grant happens exactly once.

use crate::domain::credits::Credits;
use crate::domain::ledger::{GrantKind, UnixSeconds};
use crate::domain::payments::{
    self as rules, CheckoutEvent, PaymentKind, PaymentStatus, Provider, RefundState,
};
use crate::server::db::ledger::{self, LedgerError, NewGrant, Tx};
use crate::server::db::{Backend, Db};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Subscription(#[from] crate::server::db::subscriptions::SubscriptionError),
}

/// A payment row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: i64,
    pub account_id: i64,
    pub kind: PaymentKind,
    pub provider: Provider,
    pub external_id: String,
    pub product: String,
    pub credits: Credits,
    pub amount_cents: u64,
    pub currency: String,
    pub status: PaymentStatus,
    pub checkout_url: Option<String>,
    pub grant_id: Option<i64>,
    pub created_at: UnixSeconds,
}

/// A checkout about to be recorded.
#[derive(Debug, Clone)]
pub struct NewCheckout<'a> {
    pub account_id: i64,
    /// A pack, or a plan's first period.
    pub kind: PaymentKind,
    pub provider: Provider,
    pub external_id: &'a str,
    /// The pack's or the plan's id.
    pub product: &'a str,
    pub credits: Credits,
    pub amount_cents: u64,
    pub currency: &'a str,
    pub checkout_url: &'a str,
    pub request_key: &'a str,
}

const COLUMNS: &str = "id, account_id, kind, provider, external_id, product, credits, amount_cents, \
     currency, status, checkout_url, grant_id, created_at";

fn from_row(r: &AnyRow) -> Result<Payment, PaymentsError> {
    let status: String = r.try_get("status")?;
    let kind: String = r.try_get("kind")?;
    let provider: String = r.try_get("provider")?;
    let credits: i64 = r.try_get("credits")?;
    let amount: i64 = r.try_get("amount_cents")?;
    Ok(Payment {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        kind: PaymentKind::parse(&kind)
            .ok_or_else(|| PaymentsError::Corrupt(format!("payment kind {kind}")))?,
        provider: Provider::parse(&provider)
            .ok_or_else(|| PaymentsError::Corrupt(format!("provider {provider}")))?,
        external_id: r.try_get("external_id")?,
        product: r.try_get("product")?,
        credits: u64::try_from(credits)
            .ok()
            .and_then(|c| Credits::new(c).ok())
            .ok_or_else(|| PaymentsError::Corrupt(format!("credits {credits}")))?,
        amount_cents: u64::try_from(amount)
            .map_err(|_| PaymentsError::Corrupt(format!("amount {amount}")))?,
        currency: r.try_get("currency")?,
        status: PaymentStatus::parse(&status)
            .ok_or_else(|| PaymentsError::Corrupt(format!("status {status}")))?,
        checkout_url: r.try_get("checkout_url")?,
        grant_id: r.try_get("grant_id")?,
        created_at: r.try_get("created_at")?,
    })
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The checkout a form with `request_key` already started, if any.
pub async fn by_request_key(
    db: &Db,
    account: i64,
    request_key: &str,
) -> Result<Option<Payment>, PaymentsError> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE account_id = $1 AND request_key = $2");
    let row = sqlx::query(&sql)
        .bind(account)
        .bind(request_key)
        .fetch_optional(db.writer())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Records a started checkout. When the same form was sent twice, the first record wins
/// and is returned.
pub async fn record_checkout(
    db: &Db,
    c: NewCheckout<'_>,
    now: UnixSeconds,
) -> Result<Payment, PaymentsError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO payments (account_id, kind, provider, external_id, product, credits, \
         amount_cents, currency, status, checkout_url, request_key, created_at, updated_at) \
         VALUES ($1, $11, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $10, $10) \
         ON CONFLICT DO NOTHING",
    )
    .bind(c.account_id)
    .bind(c.provider.as_str())
    .bind(c.external_id)
    .bind(c.product)
    .bind(int(c.credits.get()))
    .bind(int(c.amount_cents))
    .bind(c.currency)
    .bind(c.checkout_url)
    .bind(c.request_key)
    .bind(now)
    .bind(c.kind.as_str())
    .execute(&mut *tx)
    .await?;
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE account_id = $1 AND request_key = $2");
    let row = sqlx::query(&sql)
        .bind(c.account_id)
        .bind(c.request_key)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    from_row(&row)
}

/// A payment by its checkout session id.
pub async fn by_external_id(db: &Db, external_id: &str) -> Result<Option<Payment>, PaymentsError> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE external_id = $1");
    let row = sqlx::query(&sql)
        .bind(external_id)
        .fetch_optional(db.writer())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// `SELECT` of the payment columns (as `p`) and its refund's status (`refund`), for
/// payments matching `condition`.
fn select_with_refund(condition: &str) -> String {
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("p.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {columns}, r.status AS refund FROM payments p \
         LEFT JOIN payment_refunds r ON r.payment_id = p.id WHERE {condition}"
    )
}

/// One of the account's payments, with its refund if it has one; another account's is
/// `None`.
pub async fn of_account(
    db: &Db,
    account: i64,
    id: i64,
) -> Result<Option<(Payment, Option<RefundState>)>, PaymentsError> {
    let sql = select_with_refund("p.account_id = $1 AND p.id = $2");
    let row = sqlx::query(&sql)
        .bind(account)
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref()
        .map(|r| Ok((from_row(r)?, refund_state(r)?)))
        .transpose()
}

fn refund_state(r: &AnyRow) -> Result<Option<RefundState>, PaymentsError> {
    let refund: Option<String> = r.try_get("refund")?;
    refund
        .map(|s| {
            RefundState::parse(&s).ok_or_else(|| PaymentsError::Corrupt(format!("refund {s}")))
        })
        .transpose()
}

/// An account's payments, newest first: money asked for or received. Checkouts the
/// customer left (cancelled or expired unpaid) are not payments and are not listed.
pub async fn for_account(
    db: &Db,
    account: i64,
    limit: i64,
) -> Result<Vec<(Payment, Option<RefundState>)>, PaymentsError> {
    let sql = select_with_refund(
        "p.account_id = $1 AND p.status NOT IN ('canceled', 'expired') \
         ORDER BY p.created_at DESC, p.id DESC LIMIT $2",
    );
    let rows = sqlx::query(&sql)
        .bind(account)
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| Ok((from_row(r)?, refund_state(r)?)))
        .collect()
}

/// What starting a plan checkout found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanCheckout {
    /// A new checkout; any other open plan checkout of the account was closed with it, so
    /// only one can ever be paid.
    Started(Payment),
    /// A checkout for the same plan is open already: the customer goes back to it.
    Open(Payment),
    /// A plan payment is processing: no other may start until it settles.
    Processing(Payment),
}

/// Starts a plan checkout in one transaction, under the account's lock: refused while a
/// plan payment is processing, the open one when it is for the same plan, else a new one
/// that closes (cancels) every other open plan checkout.
pub async fn start_plan_checkout(
    db: &Db,
    c: NewCheckout<'_>,
    now: UnixSeconds,
) -> Result<PlanCheckout, PaymentsError> {
    let mut tx = db.begin_write().await?;
    ledger::lock_account(&mut tx, db.backend(), c.account_id).await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE account_id = $1 AND kind = 'subscription' \
         AND status IN ('open', 'processing') ORDER BY created_at DESC, id DESC"
    );
    let unsettled = sqlx::query(&sql)
        .bind(c.account_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(p) = unsettled
        .iter()
        .find(|p| p.status == PaymentStatus::Processing)
    {
        return Ok(PlanCheckout::Processing(p.clone()));
    }
    if let Some(p) = unsettled.iter().find(|p| p.product == c.product) {
        return Ok(PlanCheckout::Open(p.clone()));
    }
    for p in &unsettled {
        // As the customer's "Cancel" in that checkout would: it can no longer be paid.
        let t = rules::apply(p.status, CheckoutEvent::Canceled);
        sqlx::query("UPDATE payments SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(t.status.as_str())
            .bind(now)
            .bind(p.id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO payments (account_id, kind, provider, external_id, product, credits, \
         amount_cents, currency, status, checkout_url, request_key, created_at, updated_at) \
         VALUES ($1, 'subscription', $2, $3, $4, $5, $6, $7, 'open', $8, $9, $10, $10)",
    )
    .bind(c.account_id)
    .bind(c.provider.as_str())
    .bind(c.external_id)
    .bind(c.product)
    .bind(int(c.credits.get()))
    .bind(int(c.amount_cents))
    .bind(c.currency)
    .bind(c.checkout_url)
    .bind(c.request_key)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE external_id = $1");
    let row = sqlx::query(&sql)
        .bind(c.external_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(PlanCheckout::Started(from_row(&row)?))
}

/// The account's plan payment that has not settled yet (open or processing), if any.
pub async fn plan_payment_in_progress(
    db: &Db,
    account: i64,
) -> Result<Option<Payment>, PaymentsError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE account_id = $1 AND kind = 'subscription' \
         AND status IN ('open', 'processing') \
         ORDER BY CASE status WHEN 'processing' THEN 0 ELSE 1 END, created_at DESC, id DESC LIMIT 1"
    );
    let row = sqlx::query(&sql)
        .bind(account)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// A refund recorded for a payment: its state and why.
pub async fn refund_of(
    db: &Db,
    payment_id: i64,
) -> Result<Option<(RefundState, String)>, PaymentsError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT status, reason FROM payment_refunds WHERE payment_id = $1")
            .bind(payment_id)
            .fetch_optional(db.writer())
            .await?;
    row.map(|(status, reason)| {
        RefundState::parse(&status)
            .map(|s| (s, reason))
            .ok_or_else(|| PaymentsError::Corrupt(format!("refund {status}")))
    })
    .transpose()
}

/// Records that `payment_id` is to be refunded (`Due`) or was (`Done`), in the caller's
/// transaction; a second record for the same payment changes nothing.
pub(crate) async fn record_refund(
    tx: &mut Tx,
    payment_id: i64,
    state: RefundState,
    reason: &str,
    stripe_subscription: Option<&str>,
    now: UnixSeconds,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payment_refunds (payment_id, reason, status, stripe_subscription_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
    )
    .bind(payment_id)
    .bind(reason)
    .bind(state.as_str())
    .bind(stripe_subscription)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A refund the payment provider still has to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRefund {
    pub payment_id: i64,
    pub account_id: i64,
    /// The invoice (Stripe) the payment paid.
    pub external_id: String,
    pub amount_cents: u64,
    pub currency: String,
    /// The subscription the payment started, to cancel first.
    pub stripe_subscription_id: Option<String>,
    pub attempts: i64,
}

/// Stripe refunds still to make, the least recently tried first.
pub async fn refunds_due(db: &Db, limit: i64) -> Result<Vec<DueRefund>, PaymentsError> {
    type Row = (i64, i64, String, i64, String, Option<String>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT p.id, p.account_id, p.external_id, p.amount_cents, p.currency, \
         r.stripe_subscription_id, r.attempts FROM payment_refunds r \
         JOIN payments p ON p.id = r.payment_id \
         WHERE r.status = 'due' AND p.provider = 'stripe' ORDER BY r.updated_at, p.id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.writer())
    .await?;
    rows.into_iter()
        .map(
            |(payment_id, account_id, external_id, amount, currency, sub, attempts)| {
                Ok(DueRefund {
                    payment_id,
                    account_id,
                    external_id,
                    amount_cents: u64::try_from(amount)
                        .map_err(|_| PaymentsError::Corrupt(format!("amount {amount}")))?,
                    currency,
                    stripe_subscription_id: sub,
                    attempts,
                })
            },
        )
        .collect()
}

/// Marks a due refund made, with the provider's id for it (a credit note).
pub async fn refund_done(
    db: &Db,
    payment_id: i64,
    external_id: &str,
    now: UnixSeconds,
) -> Result<(), PaymentsError> {
    sqlx::query(
        "UPDATE payment_refunds SET status = 'done', external_id = $1, attempts = attempts + 1, \
         last_error = NULL, updated_at = $2 WHERE payment_id = $3 AND status = 'due'",
    )
    .bind(external_id)
    .bind(now)
    .bind(payment_id)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Notes a failed attempt at a due refund; it stays due and is tried again.
pub async fn refund_failed(
    db: &Db,
    payment_id: i64,
    error: &str,
    now: UnixSeconds,
) -> Result<(), PaymentsError> {
    sqlx::query(
        "UPDATE payment_refunds SET attempts = attempts + 1, last_error = $1, updated_at = $2 \
         WHERE payment_id = $3 AND status = 'due'",
    )
    .bind(error.chars().take(500).collect::<String>())
    .bind(now)
    .bind(payment_id)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// What became of a webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// This event id was applied before; nothing changed.
    Duplicate,
    /// Recorded; it moved the payment to `status`, granting `granted` credits.
    Checkout {
        status: PaymentStatus,
        granted: Option<Credits>,
    },
    /// Recorded; a plan payment that cleared while the account already had a live plan:
    /// it bought nothing and is refunded.
    Refunded,
    /// Recorded; a second Stripe subscription's paid invoice: bought nothing, and its
    /// refund is due (the scheduler makes it).
    RefundDue,
    /// Recorded; it names a checkout this app did not start (or another account's).
    UnknownCheckout,
    /// Recorded; a plan's Stripe Checkout Session, now in this state (none: nothing on
    /// record, such as a session that expired unpaid).
    PlanCheckout {
        status: Option<crate::domain::payments::PlanCheckoutStatus>,
    },
    /// Recorded; it brought the customer's subscription in step with Stripe.
    Subscription { granted: Option<u64> },
    /// Recorded; it names a Stripe customer this app does not know.
    UnknownCustomer,
    /// Recorded; the app does not use this type of event.
    Ignored,
}

/// What an event asks of the app.
pub enum EventEffect<'a> {
    None,
    Checkout(CheckoutNotice<'a>),
    Subscription {
        catalog: &'a crate::domain::catalog::Catalog,
        customer: &'a str,
        fact: crate::domain::subscription::StripeFact,
        invoice: Option<crate::server::db::subscriptions::StripeInvoice<'a>>,
        /// When Stripe made this state (the event's time), to ignore older ones.
        at: Option<UnixSeconds>,
    },
}

impl Applied {
    pub fn outcome(&self) -> &'static str {
        match self {
            Applied::Duplicate => "duplicate",
            Applied::Checkout {
                granted: Some(_), ..
            } => "granted",
            Applied::Checkout { .. } => "status",
            Applied::Refunded => "refunded",
            Applied::RefundDue => "refund_due",
            Applied::UnknownCheckout => "unknown_checkout",
            Applied::PlanCheckout { .. } => "plan_checkout",
            Applied::Subscription {
                granted: Some(_), ..
            } => "granted",
            Applied::Subscription { .. } => "subscription",
            Applied::UnknownCustomer => "unknown_customer",
            Applied::Ignored => "ignored",
        }
    }
}

/// A checkout event as the webhook read it.
#[derive(Debug, Clone)]
pub struct CheckoutNotice<'a> {
    /// The plans a subscription checkout may start.
    pub catalog: &'a crate::domain::catalog::Catalog,
    pub session_id: &'a str,
    pub event: CheckoutEvent,
    /// The account named in the session's metadata, if any; must match the payment's.
    pub account_id: Option<i64>,
    /// A plan's Stripe Checkout Session (the app records those only once they complete).
    pub plan: Option<crate::server::db::plan_checkouts::PlanCheckoutNotice<'a>>,
}

/// Claims `event_id`: `false` when it was applied before.
async fn claim_event(
    tx: &mut Tx,
    event_id: &str,
    event_type: &str,
    now: UnixSeconds,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO webhook_events (id, type, received_at, outcome) VALUES ($1, $2, $3, 'pending') \
         ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(event_type)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The latest webhook events received: (id, type, received at, outcome), newest first.
pub async fn recent_events(
    db: &Db,
    limit: i64,
) -> Result<Vec<(String, String, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, type, received_at, outcome FROM webhook_events ORDER BY received_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.reader())
    .await
}

async fn set_outcome(tx: &mut Tx, event_id: &str, applied: &Applied) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_events SET outcome = $1 WHERE id = $2")
        .bind(applied.outcome())
        .bind(event_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Applies one webhook event exactly once: records its id and its effect together.
pub async fn apply_event(
    db: &Db,
    event_id: &str,
    event_type: &str,
    effect: EventEffect<'_>,
    now: UnixSeconds,
) -> Result<Applied, PaymentsError> {
    let mut tx = db.begin_write().await?;
    if !claim_event(&mut tx, event_id, event_type, now).await? {
        return Ok(Applied::Duplicate);
    }
    let applied = apply_effect_in(&mut tx, db.backend(), effect, now).await?;
    set_outcome(&mut tx, event_id, &applied).await?;
    tx.commit().await?;
    Ok(applied)
}

/// Applies what Stripe said outside a webhook: the object an API call returned. The
/// effect is the same as its event's, which, when it comes, then changes nothing.
pub async fn apply_direct(
    db: &Db,
    effect: EventEffect<'_>,
    now: UnixSeconds,
) -> Result<Applied, PaymentsError> {
    let mut tx = db.begin_write().await?;
    let applied = apply_effect_in(&mut tx, db.backend(), effect, now).await?;
    tx.commit().await?;
    Ok(applied)
}

async fn apply_effect_in(
    tx: &mut Tx,
    backend: Backend,
    effect: EventEffect<'_>,
    now: UnixSeconds,
) -> Result<Applied, PaymentsError> {
    Ok(match effect {
        EventEffect::None => Applied::Ignored,
        EventEffect::Checkout(notice) => apply_checkout(tx, backend, notice, now).await?,
        EventEffect::Subscription {
            catalog,
            customer,
            fact,
            invoice,
            at,
        } => {
            use crate::server::db::subscriptions as subs;
            match subs::account_of_customer(tx, customer).await? {
                None => Applied::UnknownCustomer,
                Some(account) => {
                    let applied = subs::apply_stripe_in(
                        tx, backend, catalog, account, &fact, invoice, at, now,
                    )
                    .await?;
                    if applied.refund_due {
                        Applied::RefundDue
                    } else {
                        Applied::Subscription {
                            granted: applied.granted,
                        }
                    }
                }
            }
        }
    })
}

async fn apply_checkout(
    tx: &mut Tx,
    backend: Backend,
    notice: CheckoutNotice<'_>,
    now: UnixSeconds,
) -> Result<Applied, PaymentsError> {
    // The account row first, as every change to an account does; a payment only changes
    // here, under that lock, so its row needs no lock of its own.
    let owner: Option<i64> =
        sqlx::query_scalar("SELECT account_id FROM payments WHERE external_id = $1")
            .bind(notice.session_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(owner) = owner else {
        return match (notice.plan.as_ref(), notice.account_id) {
            (Some(plan), Some(account)) => {
                plan_checkout(tx, backend, account, &notice, plan, now).await
            }
            _ => Ok(Applied::UnknownCheckout),
        };
    };
    ledger::lock_account(tx, backend, owner).await?;
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE external_id = $1");
    let row = sqlx::query(&sql)
        .bind(notice.session_id)
        .fetch_one(&mut **tx)
        .await?;
    let payment = from_row(&row)?;
    if notice.account_id.is_some_and(|a| a != payment.account_id) {
        return Ok(Applied::UnknownCheckout);
    }
    let t = rules::apply(payment.status, notice.event);
    let mut granted = None;
    let mut refunded = false;
    let mut grant_id = payment.grant_id;
    if !t.grant || payment.grant_id.is_some() {
        // Nothing to grant, or granted already.
    } else if payment.kind == PaymentKind::Subscription {
        // A plan bought through the local checkout: paid, so the plan starts now.
        match start_plan(tx, backend, notice.catalog, &payment, now).await? {
            PlanStart::Started(id) => {
                grant_id = id;
                granted = id.map(|_| payment.credits);
            }
            PlanStart::Refunded => refunded = true,
        }
    } else {
        let receipt = ledger::grant_in(
            tx,
            backend,
            payment.account_id,
            NewGrant {
                kind: GrantKind::Topup,
                amount: payment.credits,
                expires_at: None,
                reason: format!("Top-up bought (checkout {})", payment.external_id),
                actor: None,
            },
            None,
            now,
        )
        .await?;
        granted = Some(payment.credits);
        grant_id = Some(receipt.grant_id);
    }
    if t.status != payment.status || grant_id != payment.grant_id {
        sqlx::query(
            "UPDATE payments SET status = $1, grant_id = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(t.status.as_str())
        .bind(grant_id)
        .bind(now)
        .bind(payment.id)
        .execute(&mut **tx)
        .await?;
    }
    if refunded {
        return Ok(Applied::Refunded);
    }
    Ok(Applied::Checkout {
        status: t.status,
        granted,
    })
}

/// A plan's Stripe Checkout Session: Stripe makes the subscription and its first invoice's
/// payment starts the plan; until then the session is a plan payment processing.
async fn plan_checkout(
    tx: &mut Tx,
    backend: Backend,
    account: i64,
    notice: &CheckoutNotice<'_>,
    plan: &crate::server::db::plan_checkouts::PlanCheckoutNotice<'_>,
    now: UnixSeconds,
) -> Result<Applied, PaymentsError> {
    // The account the metadata names must be the session's customer's: a session made
    // outside the app (a payment link) names whatever its buyer typed.
    let known: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM stripe_customers WHERE account_id = $1 AND customer_id = $2",
    )
    .bind(account)
    .bind(plan.customer)
    .fetch_one(&mut **tx)
    .await?;
    if known == 0 {
        return Ok(Applied::UnknownCheckout);
    }
    ledger::lock_account(tx, backend, account).await?;
    let status = crate::server::db::plan_checkouts::apply_event_in(
        tx,
        account,
        notice.session_id,
        plan,
        notice.event,
        now,
    )
    .await?;
    Ok(Applied::PlanCheckout { status })
}

enum PlanStart {
    /// The plan started; its period grant's id.
    Started(Option<i64>),
    Refunded,
}

/// Starts the plan a paid subscription checkout was for.
/// When the plan cannot start (it cleared while another plan is live: a second checkout,
/// or a delayed payment that settled after the customer subscribed another way), the
/// payment bought nothing: it is refunded in the same transaction (the local checkout
/// moves no money, so the refund is done at once). Nothing is granted twice.
async fn start_plan(
    tx: &mut Tx,
    backend: Backend,
    catalog: &crate::domain::catalog::Catalog,
    payment: &Payment,
    now: UnixSeconds,
) -> Result<PlanStart, PaymentsError> {
    use crate::domain::subscription::Command;
    use crate::server::db::subscriptions::{self as subs, Billing, SubscriptionError};
    let plan = crate::domain::catalog::PlanId::parse(&payment.product)
        .map_err(|_| PaymentsError::Corrupt(format!("plan {}", payment.product)))?;
    let cmd = Command::Subscribe(plan);
    match subs::transition_in(
        tx,
        backend,
        catalog,
        Billing::Prepaid,
        payment.account_id,
        &cmd,
        None,
        now,
    )
    .await
    {
        Ok(o) => Ok(PlanStart::Started(match o.grant {
            Some(g) => subs::period_grant_id(tx, payment.account_id, g.period_start).await?,
            None => None,
        })),
        Err(SubscriptionError::Rule(e)) => {
            tracing::warn!(account = payment.account_id, checkout = %payment.external_id, error = %e,
                "a paid plan checkout could not start the plan; refunded");
            record_refund(
                tx,
                payment.id,
                RefundState::Done,
                &format!("It cleared while another plan was already active ({e})"),
                None,
                now,
            )
            .await?;
            Ok(PlanStart::Refunded)
        }
        Err(e) => Err(e.into()),
    }
}
