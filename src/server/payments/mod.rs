//! Taking payments. One flow, two providers (DESIGN "Payments"):
//! - **Stripe**: a Checkout Session is created through async-stripe; Stripe's signed
//!   webhooks say when it is paid.
//! - **Local** (no Stripe keys; demo mode only): the app's own checkout page, marked as
//!   test mode, whose "Pay" signs an event exactly as Stripe would and sends it through
//!   the same webhook code.
//!
//! Either way, credits are granted only by a verified webhook event.
//!
//! This module is the payment provider's side only (its client, its shapes, signatures,
//! the local checkout); it sits below the services and names none of them. What the app
//! does with an event is `services::{webhook, payment_events}`.

pub mod events;
pub mod facts;
pub mod local;
pub mod signature;
pub mod stripe_api;
pub mod stripe_intents;

use crate::server::config::{Config, PaymentsConfig};

/// Where Stripe posts its events (`server::http::webhook` answers there).
pub const WEBHOOK_PATH: &str = "/webhooks/stripe";
/// The header Stripe signs its events in.
pub const SIGNATURE_HEADER: &str = "stripe-signature";
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signing secrets the webhook accepts: Stripe's (current, then previous), or the
/// local checkout's, derived from the app's secret key so it is never a default.
pub fn webhook_secrets(config: &Config) -> Vec<String> {
    match &config.payments {
        PaymentsConfig::Stripe(s) => s
            .webhook_secrets
            .iter()
            .map(|s| s.expose().to_owned())
            .collect(),
        PaymentsConfig::Local => vec![local_webhook_secret(config)],
    }
}

/// An idempotency key for a call to Stripe: `what` (which names the account and the
/// action), namespaced by this installation's id.
pub async fn stripe_key(
    state: &crate::server::state::AppState,
    what: &str,
) -> Result<String, crate::error::AppError> {
    let install = state.db.install_id().await.map_err(|e| {
        tracing::error!(error = %e, "reading the install id");
        crate::error::AppError::Internal
    })?;
    Ok(format!("sb-{install}-{what}"))
}

/// The local checkout's signing secret.
pub fn local_webhook_secret(config: &Config) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(config.secret_key.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"studio-billing local checkout webhook");
    format!("whsec_local_{}", hex::encode(mac.finalize().into_bytes()))
}
