//! The local checkout (no Stripe keys, demo mode): sessions the app makes itself, and the
//! events its test-mode checkout page sends (`services::webhook::deliver_local` signs them
//! exactly as Stripe signs its own and hands them to the same webhook code).

use crate::server::db::payments::Payment;

/// How long a delayed ("bank transfer") local payment takes to settle.
pub const DELAYED_SETTLE_SECS: u64 = 4;

pub fn new_session_id() -> String {
    format!("cs_local_{}", uuid::Uuid::new_v4().simple())
}

pub fn checkout_path(session_id: &str) -> String {
    format!("/checkout/local/{session_id}")
}

/// An event as Stripe sends one, around `object`, as JSON bytes.
fn event(kind: &str, now: i64, object: serde_json::Value) -> Vec<u8> {
    event_with_id(
        &format!("evt_local_{}", uuid::Uuid::new_v4().simple()),
        kind,
        now,
        object,
    )
}

fn event_with_id(id: &str, kind: &str, now: i64, object: serde_json::Value) -> Vec<u8> {
    serde_json::json!({
        "id": id,
        "object": "event",
        "type": kind,
        "created": now,
        "livemode": false,
        "data": { "object": object },
    })
    .to_string()
    .into_bytes()
}

/// The event Stripe would send about `payment`'s checkout, as JSON bytes.
pub fn event_body(kind: &str, payment: &Payment, payment_status: &str, now: i64) -> Vec<u8> {
    event(
        kind,
        now,
        serde_json::json!({
            "id": payment.external_id,
            "object": "checkout.session",
            "mode": "payment",
            "payment_status": payment_status,
            "client_reference_id": payment.account_id.to_string(),
            "amount_total": payment.amount_cents,
            "currency": payment.currency,
            "metadata": {
                "account_id": payment.account_id.to_string(),
                "pack_id": payment.product,
                "credits": payment.credits.get().to_string(),
            },
        }),
    )
}

/// The local checkout's saved test cards (no Stripe keys), as Stripe's own test payment
/// methods behave off-session: one that is charged, one that is declined, one whose bank
/// wants the customer (3-D Secure).
pub const TEST_CARD: &str = "pm_local_card";
pub const TEST_CARD_DECLINED: &str = "pm_local_declined";
pub const TEST_CARD_NEEDS_CUSTOMER: &str = "pm_local_needs_action";

/// How a local test card is shown.
pub fn test_card_label(payment_method: &str) -> Option<&'static str> {
    match payment_method {
        TEST_CARD => Some("Test card ending 4242"),
        TEST_CARD_DECLINED => Some("Test card ending 0002 (declines)"),
        TEST_CARD_NEEDS_CUSTOMER => Some("Test card ending 3155 (asks for 3-D Secure)"),
        _ => None,
    }
}

/// The event Stripe sends when a Checkout's payment has set its card up for later charges
/// (`payment_intent.succeeded` with `setup_future_usage` `off_session`, and the metadata
/// the app gave the session): for `payment`, a local top-up paid with the test card whose
/// customer asked to keep it for automatic top-ups (P16).
/// One event per checkout: sent again, it is a duplicate.
pub fn card_saved_event(payment: &Payment, now: i64) -> Vec<u8> {
    let session = payment.external_id.trim_start_matches("cs_local_");
    event_with_id(
        &format!("evt_local_card_{session}"),
        "payment_intent.succeeded",
        now,
        serde_json::json!({
            "id": format!("pi_local_{session}"),
            "object": "payment_intent",
            "amount": payment.amount_cents,
            "currency": payment.currency,
            "status": "succeeded",
            "created": now,
            "customer": null,
            "payment_method": TEST_CARD,
            "setup_future_usage": "off_session",
            "metadata": {
                "account_id": payment.account_id.to_string(),
                "save_card": "true",
            },
        }),
    )
}

/// An automatic top-up's charge of a local test card.
pub struct LocalCharge<'a> {
    pub account_id: i64,
    pub auto_top_up: i64,
    pub amount_cents: u64,
    pub payment_method: &'a str,
}

/// The event Stripe would send about charging `c`'s card off-session: its kind and body.
pub fn payment_intent_event(c: &LocalCharge<'_>, now: i64) -> (&'static str, Vec<u8>) {
    let failure = match c.payment_method {
        TEST_CARD_DECLINED => Some(("card_declined", "Your card was declined.")),
        TEST_CARD_NEEDS_CUSTOMER => Some((
            "authentication_required",
            "Your card was declined. This transaction requires authentication.",
        )),
        _ => None,
    };
    let kind = if failure.is_some() {
        "payment_intent.payment_failed"
    } else {
        "payment_intent.succeeded"
    };
    let body = event(
        kind,
        now,
        serde_json::json!({
            "id": format!("pi_local_auto_{}", c.auto_top_up),
            "object": "payment_intent",
            "amount": c.amount_cents,
            "currency": "usd",
            "status": if failure.is_some() { "requires_payment_method" } else { "succeeded" },
            "payment_method": c.payment_method,
            "metadata": {
                "account_id": c.account_id.to_string(),
                "auto_top_up_id": c.auto_top_up.to_string(),
            },
            "last_payment_error": failure.map(|(code, message)| serde_json::json!({
                "type": "card_error",
                "code": code,
                "message": message,
            })),
        }),
    );
    (kind, body)
}
