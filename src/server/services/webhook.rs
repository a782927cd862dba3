//! A webhook delivery received: Stripe's events (or the local checkout's, signed the same
//! way). Verify the signature over the raw body, read the little the app needs, apply the
//! event once. Unused event types are acknowledged so Stripe stops resending them. The
//! route is `server::http::webhook`.

use crate::server::config::Config;
use crate::server::db::payments::{Payment, PaymentsError};
use crate::server::payments::events::{self, Fact, InvoiceOutcome, PaymentIntentOutcome};
use crate::server::payments::facts::{invoice_fact, plan_checkout, subscription_fact};
use crate::server::payments::signature::{self, SignatureError, TOLERANCE_SECS};
use crate::server::payments::{local, local_webhook_secret, webhook_secrets};
use crate::server::services::lifecycle::StripeInvoice;
use crate::server::services::payment_events::{
    self as payments, Applied, CheckoutNotice, EventEffect,
};
use crate::server::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("the event could not be read: {0}")]
    Malformed(String),
    #[error("storage: {0}")]
    Storage(#[from] PaymentsError),
}

/// What an event asks of the app. `second_subscription`: Stripe confirmed that the
/// subscription on record is live, so a paid invoice of another one is a second
/// subscription's (refunded, see [`second_subscription`]).
fn effect_of<'a>(
    event: &'a events::Event,
    config: &'a Config,
    second_subscription: bool,
    card_label: Option<&'a str>,
) -> EventEffect<'a> {
    let catalog = &config.catalog;
    match &event.fact {
        Fact::Checkout(s) => EventEffect::Checkout(CheckoutNotice {
            catalog,
            session_id: &s.id,
            event: s.event,
            account_id: s.account_id,
            plan: s.plan.as_ref().and_then(|p| plan_checkout(p, catalog)),
        }),
        Fact::Subscription(s) => match subscription_fact(s, catalog) {
            Some(fact) => EventEffect::Subscription {
                catalog,
                customer: &s.customer,
                fact,
                invoice: None,
                at: event.created,
            },
            None => EventEffect::None,
        },
        // An invoice of no subscription (the app sells none) is acknowledged.
        Fact::Invoice(inv) if inv.subscription.is_some() => match invoice_fact(inv, catalog) {
            Some(fact) => EventEffect::Subscription {
                catalog,
                customer: &inv.customer,
                fact,
                invoice: Some(StripeInvoice {
                    id: &inv.id,
                    amount_cents: match inv.outcome {
                        InvoiceOutcome::Paid => inv.amount_paid,
                        InvoiceOutcome::Failed => inv.amount_due,
                    },
                    currency: &inv.currency,
                    paid: inv.outcome == InvoiceOutcome::Paid,
                    second_subscription,
                }),
                at: event.created,
            },
            None => EventEffect::None,
        },
        Fact::PaymentIntent(pi) if pi.auto_top_up.is_some() => EventEffect::AutoTopUp {
            pi,
            attempts: config.auto_top_up_attempts,
        },
        // A top-up's card kept for automatic top-ups (its credits came by the checkout's
        // own events).
        Fact::PaymentIntent(pi)
            if pi.saves_card && pi.outcome == PaymentIntentOutcome::Succeeded =>
        {
            EventEffect::SaveCard {
                pi,
                label: card_label,
                defaults: crate::server::services::auto_top_up::defaults_of(catalog),
            }
        }
        Fact::PaymentIntent(_) | Fact::Invoice(_) | Fact::Other => EventEffect::None,
    }
}

fn other_subscription_live(e: &PaymentsError) -> bool {
    use crate::domain::subscription::LifecycleError;
    use crate::server::db::subscriptions::SubscriptionError;
    matches!(
        e,
        PaymentsError::Subscription(SubscriptionError::Rule(
            LifecycleError::OtherSubscriptionLive
        ))
    )
}

/// A paid invoice of another Stripe subscription while the one on record is live here.
/// Stripe is asked about the one on record:
/// - it has ended (its end's event is still on its way): its end is applied as Stripe
///   returned it, and then this invoice, which starts the new plan (a resubscribe);
/// - it is live: the invoice is a second subscription's, which bought nothing. It is
///   recorded with its refund due, and the refund (cancel that subscription, refund the
///   invoice) is made at once, or by the scheduler if Stripe cannot be reached now.
///
/// Without an answer from Stripe, the first error stands: 500, and Stripe sends the event
/// again.
async fn second_subscription(
    state: &AppState,
    event: &events::Event,
    first: PaymentsError,
    now: i64,
) -> Result<Applied, WebhookError> {
    let crate::server::config::PaymentsConfig::Stripe(config) = &state.config.payments else {
        return Err(first.into());
    };
    let Fact::Invoice(inv) = &event.fact else {
        return Err(first.into());
    };
    let catalog = &state.config.catalog;
    let followed =
        match crate::server::db::subscriptions::followed_subscription(&state.db, &inv.customer)
            .await
        {
            Ok(Some(f)) => f,
            _ => return Err(first.into()),
        };
    let on_record = match crate::server::payments::stripe_api::subscription(config, &followed).await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, subscription = %followed, "could not ask Stripe about the subscription on record; the event will be retried");
            return Err(first.into());
        }
    };
    if on_record.is_live() {
        let applied = payments::apply_event(
            &state.db,
            &event.id,
            &event.kind,
            effect_of(event, &state.config, true, None),
            now,
        )
        .await?;
        if applied == Applied::RefundDue {
            crate::server::services::refunds::run_due(state).await;
        }
        return Ok(applied);
    }
    // The end Stripe has not told us about yet, as its own event would apply it.
    if let Some(fact) = subscription_fact(&on_record, catalog) {
        payments::apply_direct(
            &state.db,
            EventEffect::Subscription {
                catalog,
                customer: &on_record.customer,
                fact,
                invoice: None,
                at: None,
            },
            now,
        )
        .await?;
    }
    Ok(payments::apply_event(
        &state.db,
        &event.id,
        &event.kind,
        effect_of(event, &state.config, false, None),
        now,
    )
    .await?)
}

/// How the card a top-up's PaymentIntent saves is shown: the local test card's name, or
/// Stripe's brand and last four digits (asked of Stripe before the event's transaction;
/// without an answer the card is kept all the same, shown in general words).
async fn saved_card_label(state: &AppState, event: &events::Event) -> Option<String> {
    let Fact::PaymentIntent(pi) = &event.fact else {
        return None;
    };
    if !pi.saves_card || pi.outcome != PaymentIntentOutcome::Succeeded {
        return None;
    }
    let card = pi.payment_method.as_deref()?;
    match &state.config.payments {
        crate::server::config::PaymentsConfig::Local => {
            local::test_card_label(card).map(str::to_owned)
        }
        crate::server::config::PaymentsConfig::Stripe(config) => {
            // Briefly: Stripe waits for the webhook's answer.
            let asked = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                crate::server::payments::stripe_intents::card_label(config, card),
            )
            .await
            .unwrap_or(Err(
                crate::server::payments::stripe_api::StripeCallError::Timeout(
                    std::time::Duration::from_secs(5),
                ),
            ));
            match asked {
                Ok(label) => label,
                Err(e) => {
                    tracing::warn!(error = %e, payment_method = card, "could not ask Stripe how the saved card is shown");
                    None
                }
            }
        }
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
    let event = events::parse(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    if !event.version_is_tested() {
        tracing::warn!(
            event_id = %event.id,
            api_version = event.api_version.as_deref().unwrap_or_default(),
            tested = ?events::TESTED_API_VERSIONS,
            "a webhook event of an API version this app was not tested with; handled as its shape is understood"
        );
    }
    let label = saved_card_label(state, &event).await;
    let first = payments::apply_event(
        &state.db,
        &event.id,
        &event.kind,
        effect_of(&event, &state.config, false, label.as_deref()),
        now,
    )
    .await;
    let applied = match first {
        Err(e) if other_subscription_live(&e) => second_subscription(state, &event, e, now).await?,
        other => other?,
    };
    tracing::info!(event_id = %event.id, event_type = %event.kind, outcome = applied.outcome(), "webhook event");
    crate::server::metrics::webhook_event(&event.kind, applied.outcome());
    Ok(applied)
}

/// Charges a local test card for an automatic top-up: the event Stripe would send,
/// signed as the local checkout's are, through the webhook code.
pub async fn deliver_local_charge(
    state: &AppState,
    charge: &local::LocalCharge<'_>,
) -> Result<Applied, WebhookError> {
    let now = state.clock.wall();
    let (_, body) = local::payment_intent_event(charge, now);
    let header = signature::header(&local_webhook_secret(&state.config), now, &body);
    receive(state, Some(&header), &body).await
}

/// The local checkout's top-up paid with the test card its customer asked to keep for
/// automatic top-ups: the event Stripe sends for that, through the webhook code.
pub async fn deliver_local_card_saved(
    state: &AppState,
    payment: &Payment,
) -> Result<Applied, WebhookError> {
    let now = state.clock.wall();
    let body = local::card_saved_event(payment, now);
    let header = signature::header(&local_webhook_secret(&state.config), now, &body);
    receive(state, Some(&header), &body).await
}

/// Signs an event about the local checkout's `payment`, as Stripe signs its own, and hands
/// it to [`receive`]: the local checkout takes the same path as Stripe's events.
pub async fn deliver_local(
    state: &AppState,
    kind: &str,
    payment: &Payment,
    payment_status: &str,
) -> Result<Applied, WebhookError> {
    let now = state.clock.wall();
    let body = local::event_body(kind, payment, payment_status, now);
    let header = signature::header(&local_webhook_secret(&state.config), now, &body);
    receive(state, Some(&header), &body).await
}
