//! `POST /webhooks/stripe`: Stripe's events (or the local checkout's, signed the same way).
//! Verify the signature over the raw body, read the little the app needs, apply the event
//! once, answer fast. Unused event types are acknowledged so Stripe stops resending them.

use crate::domain::payments::CheckoutEvent;
use crate::server::db::payments::{self, Applied, CheckoutNotice};
use crate::server::payments::signature::{self, SignatureError, TOLERANCE_SECS};
use crate::server::payments::webhook_secrets;
use crate::server::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

pub const PATH: &str = "/webhooks/stripe";
pub const SIGNATURE_HEADER: &str = "stripe-signature";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("the event could not be read: {0}")]
    Malformed(String),
    #[error("storage: {0}")]
    Storage(#[from] payments::PaymentsError),
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// The parts of a Checkout Session the app reads.
#[derive(Deserialize)]
struct Session {
    id: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    payment_status: Option<String>,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
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

/// Verifies and applies one delivery. The route and the local checkout both call this.
pub async fn receive(
    state: &AppState,
    signature_header: Option<&str>,
    body: &[u8],
) -> Result<Applied, WebhookError> {
    let now = state.clock.now();
    let secrets = webhook_secrets(&state.config);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    // The signature's age is real time: the demo clock may have been moved forward.
    signature::verify(
        signature_header,
        body,
        &secrets,
        state.clock.wall(),
        TOLERANCE_SECS,
    )?;
    let event: Event =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let session = if event.kind.starts_with("checkout.session.") {
        Some(
            serde_json::from_value::<Session>(event.data.object)
                .map_err(|e| WebhookError::Malformed(e.to_string()))?,
        )
    } else {
        None
    };
    let notice = session.as_ref().and_then(|s| {
        // Plan checkouts (subscription mode) are driven by invoices, not by the session.
        if s.mode.as_deref().is_some_and(|m| m != "payment") {
            return None;
        }
        let event = checkout_event(&event.kind, s.payment_status.as_deref())?;
        Some(CheckoutNotice {
            session_id: &s.id,
            event,
            account_id: s
                .metadata
                .get("account_id")
                .and_then(|a| a.parse::<i64>().ok()),
        })
    });
    let applied = payments::apply_event(&state.db, &event.id, &event.kind, notice, now).await?;
    tracing::info!(event_id = %event.id, event_type = %event.kind, outcome = applied.outcome(), "webhook event");
    Ok(applied)
}

/// The axum handler.
pub async fn handle(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    // The local checkout hands its events to `receive` directly; nothing from outside
    // has a reason to reach this route without Stripe.
    if matches!(
        state.config.payments,
        crate::server::config::PaymentsConfig::Local
    ) {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "Stripe is not configured here." })),
        )
            .into_response();
    }
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    match receive(&state, header, &body).await {
        Ok(applied) => Json(serde_json::json!({
            "received": true,
            "outcome": applied.outcome(),
        }))
        .into_response(),
        Err(WebhookError::Signature(e)) => {
            tracing::warn!(error = %e, "webhook refused");
            (
                StatusCode::BAD_REQUEST,
                Json(
                    serde_json::json!({ "error": "The webhook signature could not be verified." }),
                ),
            )
                .into_response()
        }
        Err(WebhookError::Malformed(e)) => {
            tracing::warn!(error = %e, "webhook body unreadable");
            (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": "The webhook body is not a Stripe event." })),
            )
                .into_response()
        }
        Err(WebhookError::Storage(e)) => {
            // Stripe retries a 5xx, and the event id makes the retry safe.
            tracing::error!(error = %e, "webhook could not be applied");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(serde_json::json!({ "error": "The event could not be applied; it will be retried." })),
            )
                .into_response()
        }
    }
}
