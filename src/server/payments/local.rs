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

/// The event Stripe would send about `payment`'s checkout, as JSON bytes.
pub fn event_body(kind: &str, payment: &Payment, payment_status: &str, now: i64) -> Vec<u8> {
    serde_json::json!({
        "id": format!("evt_local_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "type": kind,
        "created": now,
        "livemode": false,
        "data": { "object": {
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
        }},
    })
    .to_string()
    .into_bytes()
}
