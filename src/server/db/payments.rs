//! Payments, refunds and webhook events: their rows. A checkout's row is written when it
//! starts; `services::payment_events` claims each verified webhook event and applies its
//! effect (status, and the grant when it becomes paid) in one transaction with these
//! statements, so each event and each grant happens exactly once.

use crate::domain::credits::Credits;
use crate::domain::ledger::UnixSeconds;
use crate::domain::payments::{PaymentKind, PaymentStatus, Provider, RefundState};
use crate::server::db::Db;
use crate::server::db::ledger::{LedgerError, Tx};
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
    #[error("checkout {0} clashes with one on record")]
    Clash(String),
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
    /// A top-up whose card is kept for automatic top-ups (P16).
    pub saves_card: bool,
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
    /// A top-up whose card is kept for automatic top-ups (P16).
    pub saves_card: bool,
}

const COLUMNS: &str = "id, account_id, kind, provider, external_id, product, credits, amount_cents, \
     currency, status, checkout_url, grant_id, created_at, saves_card";

/// A `payments` row as stored ([`COLUMNS`]).
#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: i64,
    account_id: i64,
    kind: String,
    provider: String,
    external_id: String,
    product: String,
    credits: i64,
    amount_cents: i64,
    currency: String,
    status: String,
    checkout_url: Option<String>,
    grant_id: Option<i64>,
    created_at: i64,
    saves_card: i64,
}

impl TryFrom<PaymentRow> for Payment {
    type Error = PaymentsError;

    fn try_from(r: PaymentRow) -> Result<Payment, PaymentsError> {
        let corrupt = |what: String| PaymentsError::Corrupt(what);
        Ok(Payment {
            id: r.id,
            account_id: r.account_id,
            kind: PaymentKind::parse(&r.kind)
                .ok_or_else(|| corrupt(format!("payment kind {}", r.kind)))?,
            provider: Provider::parse(&r.provider)
                .ok_or_else(|| corrupt(format!("provider {}", r.provider)))?,
            external_id: r.external_id,
            product: r.product,
            credits: u64::try_from(r.credits)
                .ok()
                .and_then(|c| Credits::new(c).ok())
                .ok_or_else(|| corrupt(format!("credits {}", r.credits)))?,
            amount_cents: u64::try_from(r.amount_cents)
                .map_err(|_| corrupt(format!("amount {}", r.amount_cents)))?,
            currency: r.currency,
            status: PaymentStatus::parse(&r.status)
                .ok_or_else(|| corrupt(format!("status {}", r.status)))?,
            checkout_url: r.checkout_url,
            grant_id: r.grant_id,
            created_at: r.created_at,
            saves_card: r.saves_card != 0,
        })
    }
}

fn from_row(r: &AnyRow) -> Result<Payment, PaymentsError> {
    Payment::try_from(<PaymentRow as sqlx::FromRow<AnyRow>>::from_row(r)?)
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
    let p = insert_checkout(&mut tx, c, now).await?;
    tx.commit().await?;
    Ok(p)
}

/// [`record_checkout`] inside the caller's transaction.
async fn insert_checkout(
    tx: &mut Tx,
    c: NewCheckout<'_>,
    now: UnixSeconds,
) -> Result<Payment, PaymentsError> {
    sqlx::query(
        "INSERT INTO payments (account_id, kind, provider, external_id, product, credits, \
         amount_cents, currency, status, checkout_url, request_key, created_at, updated_at, \
         saves_card) \
         VALUES ($1, $11, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $10, $10, $12) \
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
    .bind(i64::from(c.saves_card))
    .execute(&mut **tx)
    .await?;
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE account_id = $1 AND request_key = $2");
    let row = sqlx::query(&sql)
        .bind(c.account_id)
        .bind(c.request_key)
        .fetch_one(&mut **tx)
        .await?;
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

/// Records a checkout whose session id and request key are new: a clash with one on
/// record is an error, never that other checkout returned in its place.
pub(crate) async fn insert_new_checkout(
    tx: &mut Tx,
    c: NewCheckout<'_>,
    now: UnixSeconds,
) -> Result<Payment, PaymentsError> {
    let external_id = c.external_id;
    let p = insert_checkout(tx, c, now).await?;
    if p.external_id != external_id {
        return Err(PaymentsError::Clash(external_id.to_owned()));
    }
    Ok(p)
}

/// The account's plan payments that have not settled (open or processing), newest first,
/// inside the caller's transaction (which holds the account's lock).
pub(crate) async fn unsettled_plan_payments(
    tx: &mut Tx,
    account: i64,
) -> Result<Vec<Payment>, PaymentsError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE account_id = $1 AND kind = 'subscription' \
         AND status IN ('open', 'processing') ORDER BY created_at DESC, id DESC"
    );
    sqlx::query(&sql)
        .bind(account)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// The account that started checkout `external_id`, if the app started it.
pub(crate) async fn owner_of(tx: &mut Tx, external_id: &str) -> Result<Option<i64>, PaymentsError> {
    Ok(
        sqlx::query_scalar("SELECT account_id FROM payments WHERE external_id = $1")
            .bind(external_id)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// [`by_external_id`] inside the caller's transaction.
pub(crate) async fn by_external_id_in(
    tx: &mut Tx,
    external_id: &str,
) -> Result<Option<Payment>, PaymentsError> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE external_id = $1");
    let row = sqlx::query(&sql)
        .bind(external_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Sets a payment's status and the grant it made.
pub(crate) async fn set_status(
    tx: &mut Tx,
    payment_id: i64,
    status: PaymentStatus,
    grant_id: Option<i64>,
    now: UnixSeconds,
) -> Result<(), PaymentsError> {
    sqlx::query("UPDATE payments SET status = $1, grant_id = $2, updated_at = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(grant_id)
        .bind(now)
        .bind(payment_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A subscription's invoice, recorded as a payment.
#[derive(Debug, Clone)]
pub(crate) struct InvoiceRecord<'a> {
    pub account_id: i64,
    pub external_id: &'a str,
    /// The plan it paid for ("" when none is known).
    pub plan: &'a str,
    pub credits: u64,
    pub amount_cents: u64,
    pub currency: &'a str,
    pub paid: bool,
    pub grant_id: Option<i64>,
}

/// Records a Stripe invoice as a payment, or updates the one on record: a paid one never
/// changes again, and the grant it made is kept. Returns the payment's id.
pub(crate) async fn record_stripe_invoice(
    tx: &mut Tx,
    inv: &InvoiceRecord<'_>,
    now: UnixSeconds,
) -> Result<i64, PaymentsError> {
    sqlx::query(
        "INSERT INTO payments (account_id, kind, provider, external_id, product, credits, \
         amount_cents, currency, status, grant_id, created_at, updated_at) \
         VALUES ($1, 'subscription', 'stripe', $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         ON CONFLICT (external_id) DO UPDATE SET status = excluded.status, \
         grant_id = COALESCE(payments.grant_id, excluded.grant_id), updated_at = excluded.updated_at \
         WHERE payments.status <> 'paid'",
    )
    .bind(inv.account_id)
    .bind(inv.external_id)
    .bind(inv.plan)
    .bind(int(inv.credits))
    .bind(int(inv.amount_cents))
    .bind(inv.currency)
    .bind(if inv.paid { "paid" } else { "failed" })
    .bind(inv.grant_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT id FROM payments WHERE external_id = $1")
            .bind(inv.external_id)
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// An automatic top-up's charge, paid.
#[derive(Debug, Clone)]
pub struct AutoTopUpPayment<'a> {
    pub account_id: i64,
    /// `stripe`, or `local` (the local test card).
    pub provider: &'a str,
    /// The PaymentIntent.
    pub external_id: &'a str,
    pub pack: &'a str,
    pub credits: u64,
    pub amount_cents: u64,
    pub currency: &'a str,
    pub grant_id: i64,
}

/// Records an automatic top-up's charge as a paid top-up payment with the grant it made.
pub(crate) async fn record_auto_top_up(
    tx: &mut Tx,
    p: &AutoTopUpPayment<'_>,
    now: UnixSeconds,
) -> Result<(), PaymentsError> {
    sqlx::query(
        "INSERT INTO payments (account_id, kind, provider, external_id, product, credits, \
         amount_cents, currency, status, grant_id, created_at, updated_at) \
         VALUES ($1, 'topup', $2, $3, $4, $5, $6, $7, 'paid', $8, $9, $9)",
    )
    .bind(p.account_id)
    .bind(p.provider)
    .bind(p.external_id)
    .bind(p.pack)
    .bind(int(p.credits))
    .bind(int(p.amount_cents))
    .bind(p.currency)
    .bind(p.grant_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a period's (or an upgrade's) payment as the local test-mode billing takes it:
/// paid, once by its id.
pub(crate) async fn record_local_invoice(
    tx: &mut Tx,
    inv: &InvoiceRecord<'_>,
    now: UnixSeconds,
) -> Result<(), PaymentsError> {
    sqlx::query(
        "INSERT INTO payments (account_id, kind, provider, external_id, product, credits, \
         amount_cents, currency, status, grant_id, created_at, updated_at) \
         VALUES ($1, 'subscription', 'local', $2, $3, $4, $5, $6, 'paid', $7, $8, $8) \
         ON CONFLICT DO NOTHING",
    )
    .bind(inv.account_id)
    .bind(inv.external_id)
    .bind(inv.plan)
    .bind(int(inv.credits))
    .bind(int(inv.amount_cents))
    .bind(inv.currency)
    .bind(inv.grant_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
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

/// Claims `event_id`: `false` when it was applied before.
pub(crate) async fn claim_event(
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

/// Records what a claimed event did (`outcome`, a word the support console shows).
pub(crate) async fn set_outcome(
    tx: &mut Tx,
    event_id: &str,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_events SET outcome = $1 WHERE id = $2")
        .bind(outcome)
        .bind(event_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
