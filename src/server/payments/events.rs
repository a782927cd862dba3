//! Stripe's webhook events as the app's own typed facts: the one place that knows Stripe's
//! shapes. Every API version from `2023-10-16` (the one async-stripe pins for requests) to
//! today is read:
//!
//! - an invoice line's price is `price.id`, the legacy `plan.id`, or (since `2025-03-31.basil`)
//!   `pricing.price_details.price`;
//! - a proration line says so in `proration`, or under `parent.subscription_item_details` or
//!   `parent.invoice_item_details`;
//! - an invoice's subscription is top-level `subscription` or
//!   `parent.subscription_details.subscription`;
//! - a subscription's period is on the subscription or (newer versions) on its items;
//! - `metadata: null` is an empty map.
//!
//! Tested on Stripe's published fixtures for both versions (`tests/fixtures/stripe/`), in
//! `tests/it/stripe_events.rs`.

use crate::domain::payments::CheckoutEvent;
use crate::domain::subscription::StripeStatus;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::HashMap;

/// The webhook API versions the app is built and tested for; the endpoint `stripe setup`
/// creates is pinned to [`PINNED_API_VERSION`].
pub const TESTED_API_VERSIONS: &[&str] = &["2023-10-16", "2026-06-24.dahlia"];
/// The version async-stripe 0.41 sends with every request, so the objects the API returns
/// and the events the endpoint receives have one shape.
pub const PINNED_API_VERSION: &str = "2023-10-16";

/// The event types the app acts on (and so the ones its webhook endpoint subscribes to).
pub const HANDLED_EVENTS: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

fn shape(e: impl std::fmt::Display) -> ShapeError {
    ShapeError(e.to_string())
}

/// One webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub kind: String,
    /// When Stripe made the event (orders subscription states).
    pub created: Option<i64>,
    pub api_version: Option<String>,
    pub fact: Fact,
}

impl Event {
    /// Whether the app was tested with the event's API version (events without one, such
    /// as the local checkout's, are the app's own shape).
    pub fn version_is_tested(&self) -> bool {
        self.api_version
            .as_deref()
            .is_none_or(|v| TESTED_API_VERSIONS.contains(&v))
    }
}

/// What an event says, in the app's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    Checkout(CheckoutSession),
    Subscription(SubscriptionObject),
    Invoice(Invoice),
    /// A PaymentIntent's success or failure (an automatic top-up's charge, P16).
    PaymentIntent(PaymentIntentObject),
    /// A type the app does not act on.
    Other,
}

/// A `payment_intent.succeeded` or `payment_intent.payment_failed` event's PaymentIntent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIntentObject {
    pub id: String,
    pub amount: u64,
    pub currency: String,
    /// The account and the automatic top-up the app put in the metadata (none for a
    /// PaymentIntent a Checkout Session made: those are settled by the session's events).
    pub account_id: Option<i64>,
    pub auto_top_up: Option<i64>,
    /// The Stripe customer it charged (none for the local test card).
    pub customer: Option<String>,
    /// A top-up's card kept for automatic top-ups (P16): the app asked Checkout for it
    /// (`save_card` in the metadata) and Stripe set it up for charges while the customer
    /// is away (`setup_future_usage` `off_session`). The card is `payment_method`.
    pub saves_card: bool,
    pub payment_method: Option<String>,
    /// When Stripe made it (seconds), so an older card never replaces a newer one.
    pub created: Option<i64>,
    pub outcome: PaymentIntentOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentIntentOutcome {
    Succeeded,
    Failed {
        /// Stripe's words for it (`last_payment_error.message`), or its code.
        reason: String,
        /// The bank wants the customer (3-D Secure): `authentication_required`.
        needs_customer: bool,
    },
}

/// A Checkout Session event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub event: CheckoutEvent,
    /// The account the app put in the session's metadata.
    pub account_id: Option<i64>,
    /// A plan's checkout (`mode` `subscription`): what it is for.
    pub plan: Option<PlanSession>,
}

/// What a subscription-mode Checkout Session says of the plan it sells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSession {
    /// The plan the app put in the session's metadata.
    pub plan_id: Option<String>,
    /// The subscription the session made (once it completes).
    pub subscription: Option<String>,
    /// The Stripe customer it is for (the app's plan sessions always name one).
    pub customer: Option<String>,
    pub amount_total: Option<u64>,
    pub currency: Option<String>,
}

/// A subscription, from a `customer.subscription.*` event or an API answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionObject {
    pub id: String,
    pub customer: String,
    /// The first item's price id (the app sells one price per subscription).
    pub price: Option<String>,
    /// That price's product.
    pub product: Option<String>,
    pub item_id: Option<String>,
    /// Stripe's status: `active`, `trialing`, `past_due`, `unpaid`, `canceled`,
    /// `incomplete`, `incomplete_expired`, `paused`.
    pub status: StripeStatus,
    /// The event said it was deleted (`customer.subscription.deleted`).
    pub deleted: bool,
    pub period_start: i64,
    pub period_end: i64,
    pub cancel_at_period_end: bool,
    /// A cancellation on a set date (Stripe's portal can make one).
    pub cancel_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
}

impl SubscriptionObject {
    /// Whether it can still bill (not ended).
    pub fn is_live(&self) -> bool {
        !self.deleted && !self.status.has_ended()
    }

    /// When, within the current period, it is set to end, if it is.
    pub fn ends_at(&self) -> Option<i64> {
        if self.cancel_at_period_end {
            return Some(self.period_end);
        }
        self.cancel_at.filter(|&at| at <= self.period_end)
    }
}

/// Whether an invoice event reports a payment or a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceOutcome {
    Paid,
    Failed,
}

/// An invoice event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    pub customer: String,
    /// The subscription it bills, if any.
    pub subscription: Option<String>,
    pub outcome: InvoiceOutcome,
    pub amount_paid: u64,
    pub amount_due: u64,
    pub currency: String,
    pub billing_reason: Option<String>,
    pub lines: Vec<InvoiceLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    pub price: Option<String>,
    pub product: Option<String>,
    /// A one-off invoice item (`type: invoiceitem`, or `parent.type: invoice_item_details`)
    /// rather than the subscription's own line.
    pub invoice_item: bool,
    pub proration: bool,
    /// Cents; a proration credit ("unused time on ...") is negative.
    pub amount: i64,
    pub period_start: i64,
    pub period_end: i64,
}

impl Invoice {
    /// The subscription's own line (the period billed), not a proration.
    pub fn period_line(&self) -> Option<&InvoiceLine> {
        self.lines.iter().find(|l| !l.proration && !l.invoice_item)
    }

    /// The proration lines: what an upgrade within the period charged and credited.
    pub fn prorations(&self) -> impl Iterator<Item = &InvoiceLine> {
        self.lines.iter().filter(|l| l.proration)
    }
}

// ---------------------------------------------------------------------------------------
// Stripe's shapes. Every field the app does not read is ignored; every field it reads
// that some version lacks is optional here.

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    created: Option<i64>,
    #[serde(default)]
    api_version: Option<String>,
    data: RawData,
}

#[derive(Deserialize)]
struct RawData {
    object: Value,
}

#[derive(Deserialize)]
struct RawSession {
    id: String,
    #[serde(default)]
    payment_status: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    metadata: HashMap<String, String>,
    #[serde(default)]
    client_reference_id: Option<String>,
    #[serde(default)]
    subscription: Option<Ref>,
    #[serde(default)]
    customer: Option<Ref>,
    #[serde(default)]
    amount_total: Option<u64>,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Deserialize)]
struct RawPaymentIntent {
    id: String,
    amount: u64,
    currency: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    metadata: HashMap<String, String>,
    #[serde(default)]
    customer: Option<Ref>,
    #[serde(default)]
    payment_method: Option<Ref>,
    #[serde(default)]
    setup_future_usage: Option<String>,
    #[serde(default)]
    created: Option<i64>,
    #[serde(default)]
    last_payment_error: Option<RawPaymentError>,
}

impl RawPaymentIntent {
    /// What it says, as its event does: paid (`succeeded`), or failed and why.
    fn read(self, succeeded: bool) -> PaymentIntentObject {
        let pi = self;
        let number = |key: &str| pi.metadata.get(key).and_then(|v| v.parse().ok());
        let outcome = if succeeded {
            PaymentIntentOutcome::Succeeded
        } else {
            let error = pi.last_payment_error.clone().unwrap_or_default();
            let code = error.decline_code.or(error.code);
            // A card error's message is written for the card's owner; any other is for
            // developers, so the customer is told in general words.
            let for_the_customer = error.kind.as_deref() == Some("card_error");
            PaymentIntentOutcome::Failed {
                needs_customer: code.as_deref() == Some("authentication_required")
                    || pi.status.as_deref() == Some("requires_action"),
                reason: error
                    .message
                    .filter(|_| for_the_customer)
                    .unwrap_or_else(|| "The payment could not be made.".to_owned()),
            }
        };
        PaymentIntentObject {
            account_id: number("account_id"),
            auto_top_up: number("auto_top_up_id"),
            saves_card: pi.metadata.get("save_card").map(String::as_str) == Some("true")
                && pi.setup_future_usage.as_deref() == Some("off_session"),
            customer: pi.customer.map(Ref::id),
            payment_method: pi.payment_method.map(Ref::id),
            created: pi.created,
            id: pi.id,
            amount: pi.amount,
            currency: pi.currency,
            outcome,
        }
    }
}

/// A PaymentIntent as Stripe's API returns it (a list's item), read as its event would
/// be once it has an outcome: `None` while it has none yet (processing, or waiting for
/// the customer).
pub fn payment_intent(
    object: serde_json::Value,
) -> Result<Option<PaymentIntentObject>, ShapeError> {
    let pi: RawPaymentIntent = serde_json::from_value(object).map_err(shape)?;
    Ok(match pi.status.as_deref() {
        Some("succeeded") => Some(pi.read(true)),
        Some("requires_payment_method" | "canceled") => Some(pi.read(false)),
        _ => None,
    })
}

#[derive(Deserialize, Default, Clone)]
struct RawPaymentError {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// A reference that is an id, or the object expanded.
#[derive(Deserialize)]
#[serde(untagged)]
enum Ref {
    Id(String),
    Object { id: String },
}

impl Ref {
    fn id(self) -> String {
        match self {
            Ref::Id(id) | Ref::Object { id } => id,
        }
    }
}

/// A price (or a legacy plan): its id and its product.
#[derive(Deserialize, Default)]
struct RawPrice {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    product: Option<Ref>,
}

#[derive(Deserialize)]
struct RawSubscription {
    id: String,
    customer: Ref,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    current_period_start: Option<i64>,
    #[serde(default)]
    current_period_end: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    cancel_at_period_end: bool,
    #[serde(default)]
    cancel_at: Option<i64>,
    #[serde(default)]
    canceled_at: Option<i64>,
    #[serde(default)]
    ended_at: Option<i64>,
    items: RawList<RawItem>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct RawList<T> {
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    data: Vec<T>,
}

#[derive(Deserialize)]
struct RawItem {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    price: RawPrice,
    #[serde(default, deserialize_with = "null_as_default")]
    plan: RawPrice,
    #[serde(default)]
    current_period_start: Option<i64>,
    #[serde(default)]
    current_period_end: Option<i64>,
}

#[derive(Deserialize)]
struct RawInvoice {
    id: String,
    customer: Ref,
    #[serde(default)]
    subscription: Option<Ref>,
    #[serde(default, deserialize_with = "null_as_default")]
    parent: RawInvoiceParent,
    #[serde(default)]
    amount_paid: Option<i64>,
    #[serde(default)]
    amount_due: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    billing_reason: Option<String>,
    lines: RawList<RawLine>,
}

#[derive(Deserialize, Default)]
struct RawInvoiceParent {
    #[serde(default, deserialize_with = "null_as_default")]
    subscription_details: RawSubscriptionDetails,
}

#[derive(Deserialize, Default)]
struct RawSubscriptionDetails {
    #[serde(default)]
    subscription: Option<Ref>,
}

#[derive(Deserialize)]
struct RawLine {
    #[serde(default)]
    amount: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    price: RawPrice,
    #[serde(default, deserialize_with = "null_as_default")]
    plan: RawPrice,
    #[serde(default, deserialize_with = "null_as_default")]
    pricing: RawPricing,
    #[serde(default)]
    proration: Option<bool>,
    /// 2023-10-16: `subscription` or `invoiceitem`.
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    parent: RawLineParent,
    period: RawPeriod,
}

#[derive(Deserialize, Default)]
struct RawPricing {
    #[serde(default, deserialize_with = "null_as_default")]
    price_details: RawPriceDetails,
}

#[derive(Deserialize, Default)]
struct RawPriceDetails {
    #[serde(default)]
    price: Option<Ref>,
    #[serde(default)]
    product: Option<Ref>,
}

#[derive(Deserialize, Default)]
struct RawLineParent {
    /// Current versions: `subscription_item_details` or `invoice_item_details`.
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    subscription_item_details: RawProrationFlag,
    #[serde(default, deserialize_with = "null_as_default")]
    invoice_item_details: RawProrationFlag,
}

#[derive(Deserialize, Default)]
struct RawProrationFlag {
    #[serde(default, deserialize_with = "null_as_default")]
    proration: bool,
}

#[derive(Deserialize)]
struct RawPeriod {
    start: i64,
    end: i64,
}

/// A session's `payment_status` says the money is in.
fn is_paid(payment_status: Option<&str>) -> bool {
    matches!(payment_status, Some("paid" | "no_payment_required"))
}

fn checkout_event(kind: &str, payment_status: Option<&str>) -> Option<CheckoutEvent> {
    Some(match (kind, payment_status) {
        ("checkout.session.completed", status) if is_paid(status) => CheckoutEvent::CompletedPaid,
        ("checkout.session.completed", _) => CheckoutEvent::CompletedUnpaid,
        ("checkout.session.async_payment_succeeded", _) => CheckoutEvent::AsyncSucceeded,
        ("checkout.session.async_payment_failed", _) => CheckoutEvent::AsyncFailed,
        ("checkout.session.expired", _) => CheckoutEvent::Expired,
        _ => return None,
    })
}

/// Reads a webhook body (already verified) into an [`Event`].
pub fn parse(body: &[u8]) -> Result<Event, ShapeError> {
    let raw: RawEvent = serde_json::from_slice(body).map_err(shape)?;
    let object = raw.data.object;
    let fact = match raw.kind.as_str() {
        k if k.starts_with("checkout.session.") => {
            let s: RawSession = serde_json::from_value(object).map_err(shape)?;
            match checkout_event(k, s.payment_status.as_deref()) {
                Some(event) => Fact::Checkout(CheckoutSession {
                    account_id: s
                        .metadata
                        .get("account_id")
                        .or(s.client_reference_id.as_ref())
                        .and_then(|a| a.parse().ok()),
                    plan: (s.mode.as_deref() == Some("subscription")).then(|| PlanSession {
                        plan_id: s.metadata.get("plan_id").cloned(),
                        subscription: s.subscription.map(Ref::id),
                        customer: s.customer.map(Ref::id),
                        amount_total: s.amount_total,
                        currency: s.currency,
                    }),
                    id: s.id,
                    event,
                }),
                None => Fact::Other,
            }
        }
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => {
            let mut s = subscription(object)?;
            s.deleted = raw.kind.ends_with(".deleted");
            Fact::Subscription(s)
        }
        "payment_intent.succeeded" | "payment_intent.payment_failed" => {
            let pi: RawPaymentIntent = serde_json::from_value(object).map_err(shape)?;
            Fact::PaymentIntent(pi.read(raw.kind == "payment_intent.succeeded"))
        }
        "invoice.paid" | "invoice.payment_succeeded" | "invoice.payment_failed" => {
            let outcome = if raw.kind == "invoice.payment_failed" {
                InvoiceOutcome::Failed
            } else {
                InvoiceOutcome::Paid
            };
            Fact::Invoice(invoice(object, outcome)?)
        }
        _ => Fact::Other,
    };
    Ok(Event {
        id: raw.id,
        kind: raw.kind,
        created: raw.created,
        api_version: raw.api_version,
        fact,
    })
}

/// A Checkout Session as Stripe's API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSession {
    pub id: String,
    pub mode: Option<String>,
    pub paid: bool,
    /// The app started it: its metadata names an account.
    pub ours: bool,
    pub account_id: Option<i64>,
}

/// Reads a Checkout Session object the API listed.
pub fn listed_session(object: Value) -> Result<ListedSession, ShapeError> {
    let s: RawSession = serde_json::from_value(object).map_err(shape)?;
    let account = s.metadata.get("account_id");
    Ok(ListedSession {
        paid: is_paid(s.payment_status.as_deref()),
        ours: account.is_some(),
        account_id: account.and_then(|a| a.parse().ok()),
        id: s.id,
        mode: s.mode,
    })
}

/// Reads a subscription object (an event's, or one the API returned).
pub fn subscription(object: Value) -> Result<SubscriptionObject, ShapeError> {
    let s: RawSubscription = serde_json::from_value(object).map_err(shape)?;
    let item = s.items.data.into_iter().next();
    let period_start = s
        .current_period_start
        .or_else(|| item.as_ref().and_then(|i| i.current_period_start))
        .ok_or_else(|| ShapeError("the subscription has no current period start".into()))?;
    let period_end = s
        .current_period_end
        .or_else(|| item.as_ref().and_then(|i| i.current_period_end))
        .ok_or_else(|| ShapeError("the subscription has no current period end".into()))?;
    let (price, product, item_id) = match item {
        Some(i) => (
            i.price.id.or(i.plan.id),
            i.price.product.or(i.plan.product).map(Ref::id),
            i.id,
        ),
        None => (None, None, None),
    };
    Ok(SubscriptionObject {
        id: s.id,
        customer: s.customer.id(),
        price,
        product,
        item_id,
        status: s
            .status
            .as_deref()
            .map_or(StripeStatus::Active, StripeStatus::parse),
        deleted: false,
        period_start,
        period_end,
        cancel_at_period_end: s.cancel_at_period_end,
        cancel_at: s.cancel_at,
        canceled_at: s.canceled_at,
        ended_at: s.ended_at,
    })
}

/// Reads an invoice object (an event's, or one the API listed).
pub fn invoice(object: Value, outcome: InvoiceOutcome) -> Result<Invoice, ShapeError> {
    let i: RawInvoice = serde_json::from_value(object).map_err(shape)?;
    let cents = |v: Option<i64>| v.and_then(|a| u64::try_from(a).ok()).unwrap_or(0);
    Ok(Invoice {
        id: i.id,
        customer: i.customer.id(),
        subscription: i
            .subscription
            .or(i.parent.subscription_details.subscription)
            .map(Ref::id),
        outcome,
        amount_paid: cents(i.amount_paid),
        amount_due: cents(i.amount_due),
        currency: i.currency.unwrap_or_else(|| "usd".to_owned()),
        billing_reason: i.billing_reason,
        lines: i
            .lines
            .data
            .into_iter()
            .map(|l| InvoiceLine {
                product: l
                    .price
                    .product
                    .or(l.plan.product)
                    .or(l.pricing.price_details.product)
                    .map(Ref::id),
                price: l
                    .price
                    .id
                    .or(l.plan.id)
                    .or(l.pricing.price_details.price.map(Ref::id)),
                invoice_item: l.kind.as_deref() == Some("invoiceitem")
                    || l.parent.kind.as_deref() == Some("invoice_item_details"),
                proration: l.proration.unwrap_or(false)
                    || l.parent.subscription_item_details.proration
                    || l.parent.invoice_item_details.proration,
                amount: l.amount,
                period_start: l.period.start,
                period_end: l.period.end,
            })
            .collect(),
    })
}
