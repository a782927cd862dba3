//! Refunds the payment provider still has to make: a second Stripe subscription that was
//! paid while the account's plan was live bought nothing. Its subscription is cancelled
//! (so it never bills again) and its invoice refunded in full with a credit note; both
//! calls carry idempotency keys of the payment, so a retry (here or on another instance)
//! makes each once. The local checkout's refunds are recorded done when they are found.

use crate::server::config::PaymentsConfig;
use crate::server::db::payments::{self, DueRefund};
use crate::server::payments::{self as provider, stripe_api};
use crate::server::state::AppState;

/// Refunds handled per run.
const BATCH: i64 = 50;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefundRun {
    pub done: u32,
    pub failed: u32,
}

/// Makes every due refund it can; a failed one stays due, with its error, for the next
/// run. Nothing to do without Stripe.
pub async fn run_due(state: &AppState) -> RefundRun {
    let mut run = RefundRun::default();
    let PaymentsConfig::Stripe(config) = &state.config.payments else {
        return run;
    };
    let due = match payments::refunds_due(&state.db, BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "reading the refunds due failed; will retry");
            run.failed += 1;
            return run;
        }
    };
    for refund in due {
        let now = state.clock.now();
        match refund_one(state, config, &refund).await {
            Ok(credit_note) => {
                tracing::info!(payment = refund.payment_id, account = refund.account_id, %credit_note,
                    invoice = %refund.external_id, "second subscription cancelled and refunded");
                if let Err(e) =
                    payments::refund_done(&state.db, refund.payment_id, &credit_note, now).await
                {
                    tracing::error!(error = %e, payment = refund.payment_id, "a refund was made but could not be recorded; it is made again (same key) next run");
                    run.failed += 1;
                } else {
                    run.done += 1;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, payment = refund.payment_id, attempts = refund.attempts + 1,
                    "a due refund failed; will retry");
                let _ = payments::refund_failed(&state.db, refund.payment_id, &e, now).await;
                run.failed += 1;
            }
        }
    }
    run
}

async fn refund_one(
    state: &AppState,
    config: &crate::server::config::StripeConfig,
    r: &DueRefund,
) -> Result<String, String> {
    let key = |what: &'static str| {
        let what = format!("refund-{what}-{}", r.payment_id);
        async move { provider::stripe_key(state, &what).await }
    };
    if let Some(sub) = &r.stripe_subscription_id {
        let k = key("cancel").await.map_err(|e| e.to_string())?;
        stripe_api::cancel_subscription(config, sub, k)
            .await
            .map_err(|e| format!("cancelling {sub}: {e}"))?;
    }
    let k = key("credit-note").await.map_err(|e| e.to_string())?;
    stripe_api::refund_invoice(config, &r.external_id, r.amount_cents, r.payment_id, k)
        .await
        .map_err(|e| format!("refunding {}: {e}", r.external_id))
}
