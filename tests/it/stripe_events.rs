//! Stripe's event shapes (`src/server/payments/events.rs`) on Stripe's own published
//! objects (`tests/fixtures/stripe/`), both API versions the app reads.

use crate::common;

use common::stripe_fixtures::{Fixtures, Version};
use serde_json::{Value, json};
use studio_billing::domain::payments::CheckoutEvent;
use studio_billing::server::payments::events::{Fact, InvoiceOutcome, parse, subscription};

const V2023: Version = Version::V2023;
const CURRENT: Version = Version::Current;

fn fixture(version: Version, name: &str) -> Value {
    Fixtures::load(version).object(name)
}

/// A whole event of `version`'s shape, saying it is of API version `api_version`.
fn event(version: Version, kind: &str, api_version: &str, object: Value) -> Vec<u8> {
    let body = Fixtures::load(version).event("evt_test_1", kind, 1_780_272_000, object);
    let mut e: Value = serde_json::from_str(&body).unwrap();
    e["api_version"] = json!(api_version);
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
