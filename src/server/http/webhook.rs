//! `POST /webhooks/stripe`: verifies and applies a delivery (`services::webhook`) and
//! answers fast: 200 with the outcome, 400 for a bad signature or body, 500 (which Stripe
//! retries) when it could not be applied.

use crate::server::payments::SIGNATURE_HEADER;
use crate::server::services::webhook::{WebhookError, receive};
use crate::server::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

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
            crate::server::metrics::webhook_event("unverified", "refused");
            state
                .ops
                .refused(state.clock.now(), format!("signature: {e}"));
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
            crate::server::metrics::webhook_event("unreadable", "refused");
            state
                .ops
                .refused(state.clock.now(), format!("not a Stripe event: {e}"));
            (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": "The webhook body is not a Stripe event." })),
            )
                .into_response()
        }
        Err(WebhookError::Storage(e)) => {
            // Stripe retries a 5xx, and the event id makes the retry safe.
            tracing::error!(error = %e, "webhook could not be applied");
            crate::server::metrics::webhook_event("unknown", "error");
            state.ops.refused(
                state.clock.now(),
                "could not be applied (answered 500; Stripe retries it); see the log",
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(serde_json::json!({ "error": "The event could not be applied; it will be retried." })),
            )
                .into_response()
        }
    }
}
