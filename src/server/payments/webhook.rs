//! `POST /webhooks/stripe`: Stripe's events (or the local checkout's, signed the same way).
//! Verify the signature over the raw body, read the little the app needs, apply the event
//! once, answer fast. Unused event types are acknowledged so Stripe stops resending them.

use crate::domain::catalog::Catalog;
use crate::domain::payments::CheckoutEvent;
use crate::domain::subscription::StripeFact;
use crate::server::db::payments::{self, Applied, CheckoutNotice, EventEffect};
use crate::server::db::subscriptions::StripeInvoice;
use crate::server::payments::signature::{self, SignatureError, TOLERANCE_SECS};
use crate::server::payments::webhook_secrets;
use crate::server::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

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
    #[serde(default)]
    created: Option<i64>,
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

fn malformed(what: &str) -> WebhookError {
    WebhookError::Malformed(format!("{what} is missing"))
}

/// The price (or legacy plan) id of a subscription item or invoice line.
fn price_of(item: &Value) -> Option<&str> {
    item["price"]["id"]
        .as_str()
        .or_else(|| item["plan"]["id"].as_str())
}

/// Subscription and invoice events: what they say, for the customer they name. `None` for
/// other events, and for invoices that belong to no subscription.
pub(crate) fn subscription_effect<'a>(
    kind: &str,
    object: &'a Value,
    catalog: &'a Catalog,
    at: Option<i64>,
) -> Result<Option<EventEffect<'a>>, WebhookError> {
    let customer = || {
        object["customer"]
            .as_str()
            .ok_or_else(|| malformed("customer"))
    };
    // A price no plan sells is acknowledged and logged (answering 400 would make Stripe
    // resend it for days); it changes nothing.
    let plan_for =
        |price: Option<&str>| -> Result<Option<crate::domain::catalog::PlanId>, WebhookError> {
            let price = price.ok_or_else(|| malformed("price"))?;
            let plan = catalog.plan_by_stripe_price(price).map(|p| p.id.clone());
            if plan.is_none() {
                tracing::warn!(
                    price,
                    "webhook names a price no plan in the catalogue sells"
                );
            }
            Ok(plan)
        };
    let int = |v: &Value| v.as_i64();
    match kind {
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => {
            let item = &object["items"]["data"][0];
            let start = int(&object["current_period_start"])
                .or_else(|| int(&item["current_period_start"]))
                .ok_or_else(|| malformed("current_period_start"))?;
            let end = int(&object["current_period_end"])
                .or_else(|| int(&item["current_period_end"]))
                .ok_or_else(|| malformed("current_period_end"))?;
            let status = if kind.ends_with(".deleted") {
                "canceled".to_owned()
            } else {
                object["status"].as_str().unwrap_or("active").to_owned()
            };
            let Some(plan) = plan_for(price_of(item))? else {
                return Ok(Some(EventEffect::None));
            };
            Ok(Some(EventEffect::Subscription {
                catalog,
                customer: customer()?,
                fact: StripeFact::State {
                    plan,
                    status,
                    period_start: start,
                    period_end: end,
                    cancel_at_period_end: object["cancel_at_period_end"].as_bool().unwrap_or(false),
                    ended_at: int(&object["ended_at"]).or_else(|| {
                        int(&object["canceled_at"]).filter(|_| kind.ends_with(".deleted"))
                    }),
                },
                invoice: None,
                at,
            }))
        }
        "invoice.paid" | "invoice.payment_succeeded" | "invoice.payment_failed" => {
            // Newer API versions name the subscription under `parent`.
            let of_subscription = !object["subscription"].is_null()
                || !object["parent"]["subscription_details"]["subscription"].is_null();
            if !of_subscription {
                return Ok(None);
            }
            let id = object["id"].as_str().ok_or_else(|| malformed("id"))?;
            let currency = object["currency"].as_str().unwrap_or("usd");
            // The subscription's own line, not a proration ("unused time on ...").
            let line = object["lines"]["data"]
                .as_array()
                .and_then(|lines| {
                    lines.iter().find(|l| {
                        l["proration"].as_bool() != Some(true)
                            && l["parent"]["subscription_item_details"]["proration"].as_bool()
                                != Some(true)
                            && l["type"].as_str().is_none_or(|t| t == "subscription")
                    })
                })
                .unwrap_or(&Value::Null);
            let paid = kind != "invoice.payment_failed";
            let amount = if paid {
                int(&object["amount_paid"])
            } else {
                int(&object["amount_due"])
            }
            .and_then(|a| u64::try_from(a).ok())
            .unwrap_or(0);
            let fact = if paid {
                let Some(plan) = plan_for(price_of(line))? else {
                    return Ok(Some(EventEffect::None));
                };
                StripeFact::PeriodPaid {
                    plan,
                    period_start: int(&line["period"]["start"])
                        .ok_or_else(|| malformed("period.start"))?,
                    period_end: int(&line["period"]["end"])
                        .ok_or_else(|| malformed("period.end"))?,
                }
            } else {
                StripeFact::PaymentFailed
            };
            Ok(Some(EventEffect::Subscription {
                catalog,
                customer: customer()?,
                fact,
                invoice: Some(StripeInvoice {
                    id,
                    amount_cents: amount,
                    currency,
                    paid,
                }),
                at,
            }))
        }
        _ => Ok(None),
    }
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
            serde_json::from_value::<Session>(event.data.object.clone())
                .map_err(|e| WebhookError::Malformed(e.to_string()))?,
        )
    } else {
        None
    };
    if let Some(effect) = subscription_effect(
        &event.kind,
        &event.data.object,
        &state.config.catalog,
        event.created,
    )? {
        let applied = payments::apply_event(&state.db, &event.id, &event.kind, effect, now).await?;
        tracing::info!(event_id = %event.id, event_type = %event.kind, outcome = applied.outcome(), "webhook event");
        return Ok(applied);
    }
    // Top-ups, and plans bought through the local checkout, are started by the session;
    // a Stripe plan's session has no payment on record here (its invoice grants), so it
    // is acknowledged as an unknown checkout.
    let notice = session.as_ref().and_then(|s| {
        let event = checkout_event(&event.kind, s.payment_status.as_deref())?;
        Some(CheckoutNotice {
            catalog: &state.config.catalog,
            session_id: &s.id,
            event,
            account_id: s
                .metadata
                .get("account_id")
                .and_then(|a| a.parse::<i64>().ok()),
        })
    });
    let effect = notice.map_or(EventEffect::None, EventEffect::Checkout);
    let applied = payments::apply_event(&state.db, &event.id, &event.kind, effect, now).await?;
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
