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
//! Tested on Stripe's published fixtures for both versions (`tests/fixtures/stripe/`).

use crate::domain::payments::CheckoutEvent;
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
    /// A type the app does not act on.
    Other,
}

/// A Checkout Session event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub event: CheckoutEvent,
    /// `payment`, `subscription` or `setup`.
    pub mode: Option<String>,
    /// The account the app put in the session's metadata.
    pub account_id: Option<i64>,
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
    pub status: String,
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
        !self.deleted && !matches!(self.status.as_str(), "canceled" | "incomplete_expired")
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
    pub hosted_invoice_url: Option<String>,
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
    #[serde(default)]
    hosted_invoice_url: Option<String>,
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

fn checkout_event(kind: &str, payment_status: Option<&str>) -> Option<CheckoutEvent> {
    Some(match (kind, payment_status) {
        ("checkout.session.completed", Some("paid" | "no_payment_required")) => {
            CheckoutEvent::CompletedPaid
        }
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
                    id: s.id,
                    event,
                    mode: s.mode,
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
        status: s.status.unwrap_or_else(|| "active".to_owned()),
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
        hosted_invoice_url: i.hosted_invoice_url,
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

#[cfg(test)]
mod tests {
    //! On Stripe's own published objects (`tests/fixtures/stripe/`), both versions.
    use super::*;
    use serde_json::json;

    const V2023: &str = include_str!("../../../tests/fixtures/stripe/fixtures3.2023-10-16.json");
    const CURRENT: &str = include_str!("../../../tests/fixtures/stripe/fixtures3.current.json");

    fn fixture(file: &str, name: &str) -> Value {
        let all: Value = serde_json::from_str(file).unwrap();
        all["resources"][name].clone()
    }

    fn event(file: &str, kind: &str, version: &str, object: Value) -> Vec<u8> {
        let mut e = fixture(file, "event");
        e["id"] = json!("evt_test_1");
        e["type"] = json!(kind);
        e["api_version"] = json!(version);
        e["data"]["object"] = object;
        serde_json::to_vec(&e).unwrap()
    }

    #[test]
    fn a_2023_subscription_line_is_read_from_price() {
        let mut inv = fixture(V2023, "invoice");
        inv["subscription"] = json!("sub_1");
        inv["lines"]["data"][0]["type"] = json!("subscription");
        inv["lines"]["data"][0]["price"]["id"] = json!("price_creator");
        inv["amount_paid"] = json!(2900);
        let e = parse(&event(V2023, "invoice.paid", "2023-10-16", inv)).unwrap();
        assert!(e.version_is_tested());
        let Fact::Invoice(i) = e.fact else { panic!() };
        assert_eq!(i.subscription.as_deref(), Some("sub_1"));
        assert_eq!(i.outcome, InvoiceOutcome::Paid);
        assert_eq!(i.amount_paid, 2900);
        let line = i.period_line().unwrap();
        assert_eq!(line.price.as_deref(), Some("price_creator"));
        assert_eq!(
            (line.period_start, line.period_end),
            (1703175358, 1703175358)
        );
    }

    #[test]
    fn a_legacy_plan_line_is_read_from_plan() {
        let mut inv = fixture(V2023, "invoice");
        inv["subscription"] = json!("sub_1");
        let line = &mut inv["lines"]["data"][0];
        line["price"] = Value::Null;
        line["plan"] = json!({"id": "price_legacy", "object": "plan"});
        let e = parse(&event(
            V2023,
            "invoice.payment_succeeded",
            "2023-10-16",
            inv,
        ))
        .unwrap();
        let Fact::Invoice(i) = e.fact else { panic!() };
        assert_eq!(i.lines[0].price.as_deref(), Some("price_legacy"));
    }

    #[test]
    fn a_current_invoice_names_its_price_and_subscription_under_pricing_and_parent() {
        let mut inv = fixture(CURRENT, "invoice");
        inv["parent"]["subscription_details"]["subscription"] = json!("sub_2");
        let line = &mut inv["lines"]["data"][0];
        line["pricing"]["price_details"] = json!({"price": "price_studio", "product": "prod_1"});
        line["parent"]["type"] = json!("subscription_item_details");
        line["parent"]["invoice_item_details"] = Value::Null;
        line["parent"]["subscription_item_details"]["proration"] = json!(false);
        let e = parse(&event(CURRENT, "invoice.paid", "2026-06-24.dahlia", inv)).unwrap();
        assert!(e.version_is_tested());
        let Fact::Invoice(i) = e.fact else { panic!() };
        assert_eq!(i.subscription.as_deref(), Some("sub_2"));
        assert_eq!(i.customer, "cus_QXg1o8vcGmoR32");
        assert_eq!(
            i.period_line().and_then(|l| l.price.as_deref()),
            Some("price_studio")
        );
        assert_eq!(i.lines[0].product.as_deref(), Some("prod_1"));
    }

    #[test]
    fn prorations_are_seen_in_every_version() {
        // Current: the fixture's line is a proration under `parent`.
        let mut inv = fixture(CURRENT, "invoice");
        inv["lines"]["data"][0]["parent"]["subscription_item_details"]["proration"] = json!(false);
        let Fact::Invoice(i) = parse(&event(CURRENT, "invoice.paid", "2026-06-24.dahlia", inv))
            .unwrap()
            .fact
        else {
            panic!()
        };
        assert!(i.lines[0].proration, "invoice_item_details.proration");
        assert!(i.period_line().is_none());
        let mut inv = fixture(CURRENT, "invoice");
        inv["lines"]["data"][0]["parent"]["invoice_item_details"]["proration"] = json!(false);
        let Fact::Invoice(i) = parse(&event(CURRENT, "invoice.paid", "2026-06-24.dahlia", inv))
            .unwrap()
            .fact
        else {
            panic!()
        };
        assert!(i.lines[0].proration, "subscription_item_details.proration");
        // 2023: top-level `proration`.
        let mut inv = fixture(V2023, "invoice");
        inv["lines"]["data"][0]["proration"] = json!(true);
        let Fact::Invoice(i) = parse(&event(V2023, "invoice.paid", "2023-10-16", inv))
            .unwrap()
            .fact
        else {
            panic!()
        };
        assert_eq!(i.prorations().count(), 1);
    }

    #[test]
    fn subscription_periods_come_from_the_subscription_or_its_items() {
        let s = fixture(V2023, "subscription");
        let Fact::Subscription(s) = parse(&event(
            V2023,
            "customer.subscription.updated",
            "2023-10-16",
            s,
        ))
        .unwrap()
        .fact
        else {
            panic!()
        };
        assert_eq!(s.price.as_deref(), Some("price_1OPouiJN5vQBdWExAQaqTooZ"));
        assert_eq!(s.product.as_deref(), Some("prod_PEHTfnvdJH6K0k"));
        assert_eq!(s.item_id.as_deref(), Some("si_PEHTru8PmLRCo3"));
        assert_eq!(s.period_start, 1234567890);
        assert!(!s.deleted && s.is_live());

        let mut s = fixture(CURRENT, "subscription");
        s["metadata"] = Value::Null;
        let Fact::Subscription(s) = parse(&event(
            CURRENT,
            "customer.subscription.deleted",
            "2026-06-24.dahlia",
            s,
        ))
        .unwrap()
        .fact
        else {
            panic!()
        };
        assert_eq!(s.id, "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw");
        assert_eq!((s.period_start, s.period_end), (1896570518, 976287773));
        assert!(s.deleted && !s.is_live());
    }

    #[test]
    fn cancel_at_within_the_period_is_a_cancellation() {
        let mut s = fixture(CURRENT, "subscription");
        s["items"]["data"][0]["current_period_start"] = json!(1_000);
        s["items"]["data"][0]["current_period_end"] = json!(2_000);
        s["cancel_at_period_end"] = json!(false);
        s["cancel_at"] = json!(1_500);
        let s = subscription(s).unwrap();
        assert_eq!(s.ends_at(), Some(1_500));
        let mut later = s.clone();
        later.cancel_at = Some(5_000);
        assert_eq!(later.ends_at(), None, "a date after this period");
        later.cancel_at_period_end = true;
        assert_eq!(later.ends_at(), Some(2_000));
    }

    #[test]
    fn checkout_sessions_of_both_versions() {
        for (file, version) in [(V2023, "2023-10-16"), (CURRENT, "2026-06-24.dahlia")] {
            let mut cs = fixture(file, "checkout.session");
            cs["payment_status"] = json!("paid");
            cs["metadata"] = json!({"account_id": "7"});
            let e = parse(&event(file, "checkout.session.completed", version, cs)).unwrap();
            let Fact::Checkout(c) = e.fact else { panic!() };
            assert_eq!(c.event, CheckoutEvent::CompletedPaid);
            assert_eq!(c.account_id, Some(7));
            let mut cs = fixture(file, "checkout.session");
            cs["metadata"] = Value::Null;
            let e = parse(&event(file, "checkout.session.expired", version, cs)).unwrap();
            let Fact::Checkout(c) = e.fact else { panic!() };
            assert_eq!((c.event, c.account_id), (CheckoutEvent::Expired, None));
        }
    }

    #[test]
    fn an_untested_version_is_flagged_and_other_types_are_other() {
        let e = parse(&event(
            CURRENT,
            "plan.created",
            "2099-01-01.future",
            fixture(CURRENT, "plan"),
        ))
        .unwrap();
        assert!(!e.version_is_tested());
        assert_eq!(e.fact, Fact::Other);
        assert!(parse(b"{\"id\": 1}").is_err());
    }
}
