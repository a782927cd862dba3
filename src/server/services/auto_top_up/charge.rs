//! Charging an automatic top-up's saved card, and what follows when its outcome does not
//! come: tried again with the same key within the day, then settled from Stripe's own
//! list of the customer's PaymentIntents.

use super::{AutoTopUpError, store};
use crate::server::db::ledger;
use crate::server::payments::events::PaymentIntentOutcome;
use crate::server::state::AppState;

/// Charges automatic top-up `id`'s card. Its outcome comes by the webhook; an unclear
/// answer leaves it being charged, for [`retry_charging`].
pub async fn charge(state: &AppState, id: i64) {
    if let Err(e) = try_charge(state, id).await {
        tracing::warn!(auto_top_up = id, error = %e, "automatic top-up charge failed; the scheduler tries again");
    }
}

/// Automatic top-up `id`, while it is being charged.
async fn charging(state: &AppState, id: i64) -> Result<Option<store::AttemptRow>, String> {
    let attempt = store::attempt(state.db.reader(), id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(attempt.filter(|a| a.status == "charging"))
}

async fn try_charge(state: &AppState, id: i64) -> Result<(), String> {
    let db = &state.db;
    let Some(attempt) = charging(state, id).await? else {
        return Ok(());
    };
    let account = attempt.account_id;
    // The card fixed when it was decided: a retry sends what the first try sent.
    let payment_method = attempt.payment_method.clone();
    let amount_cents = u64::try_from(attempt.amount_cents).unwrap_or(0);
    let credits = u64::try_from(attempt.credits).unwrap_or(0);
    match &state.config.payments {
        crate::server::config::PaymentsConfig::Local => {
            let charge = crate::server::payments::local::LocalCharge {
                account_id: account,
                auto_top_up: id,
                amount_cents,
                payment_method: &payment_method,
            };
            crate::server::services::webhook::deliver_local_charge(state, &charge)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
        crate::server::config::PaymentsConfig::Stripe(config) => {
            let customer = crate::server::db::subscriptions::customer_of(db, account)
                .await
                .map_err(|e| e.to_string())?;
            let Some(customer) = customer else {
                return end_unpaid(state, &attempt, "no Stripe customer to charge").await;
            };
            // A retry (no outcome came for the first try): not if the customer has turned
            // them off or stopped meanwhile, or saved another card. A first try that
            // reached Stripe would have had its event by now.
            let retry = attempt.created_at < state.clock.now() - RETRY_AFTER;
            if retry {
                let record = store::get(db.reader(), account)
                    .await
                    .map_err(|e| e.to_string())?;
                let still_wanted = record.is_some_and(|r| {
                    r.settings.enabled
                        && r.stopped_reason.is_none()
                        && r.payment_method.as_deref() == Some(payment_method.as_str())
                });
                if !still_wanted {
                    // Its first try may have been charged after all (an answer lost, its
                    // webhook late): Stripe's word settles it; none, it ends uncharged.
                    return settle_from_stripe(
                        state,
                        config,
                        &attempt,
                        &customer,
                        "turned off before it was charged",
                    )
                    .await;
                }
            }
            // The key names this installation, as every key the app sends Stripe does.
            let key = crate::server::payments::stripe_key(state, &format!("auto-top-up-{id}"))
                .await
                .map_err(|e| e.to_string())?;
            let charge = crate::server::payments::stripe_intents::AutoCharge {
                account_id: account,
                auto_top_up: id,
                customer: &customer,
                payment_method: &payment_method,
                amount_cents,
                credits,
                idempotency_key: key,
            };
            match crate::server::payments::stripe_intents::charge_off_session(config, &charge).await
            {
                Ok(pi) => {
                    tracing::info!(
                        auto_top_up = id,
                        payment_intent = pi,
                        "automatic top-up charged; its webhook settles it"
                    );
                    store::set_payment_intent(db, id, &pi)
                        .await
                        .map_err(|e| e.to_string())
                }
                // A declined card: Stripe's `payment_intent.payment_failed` settles it.
                Err(e) if e.card_declined().is_some() => Ok(()),
                // Refused outright (a card detached, a customer deleted): nothing was made
                // and no event will come, so it fails now, as a failed charge does.
                Err(e) if e.refused_outright() => {
                    tracing::warn!(auto_top_up = id, error = %e, "Stripe refused an automatic top-up's charge outright");
                    let failed = crate::server::payments::events::PaymentIntentObject {
                        id: format!("none_auto_top_up_{id}"),
                        amount: amount_cents,
                        currency: "usd".to_owned(),
                        account_id: Some(account),
                        auto_top_up: Some(id),
                        customer: None,
                        saves_card: false,
                        payment_method: None,
                        created: None,
                        outcome: PaymentIntentOutcome::Failed {
                            reason: "The saved card can no longer be charged.".to_owned(),
                            needs_customer: false,
                        },
                    };
                    crate::server::services::payment_events::apply_direct(
                        db,
                        crate::server::services::payment_events::EventEffect::AutoTopUp {
                            pi: &failed,
                            attempts: state.config.auto_top_up_attempts,
                        },
                        state.clock.now(),
                    )
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

/// Ends automatic top-up `attempt` unpaid without counting it as a failed charge (nothing
/// was charged): the customer turned them off first, or there is nobody to charge.
async fn end_unpaid(
    state: &AppState,
    attempt: &store::AttemptRow,
    why: &str,
) -> Result<(), String> {
    let db = &state.db;
    let run = async {
        let mut tx = db.begin_write().await?;
        ledger::lock_account(&mut tx, db.backend(), attempt.account_id).await?;
        let ended = store::finish_attempt_in(
            &mut tx,
            attempt.id,
            "failed",
            &format!("none_auto_top_up_{}", attempt.id),
            Some(why),
            state.clock.now(),
        )
        .await?;
        tx.commit().await?;
        Ok::<bool, AutoTopUpError>(ended)
    };
    let ended = run.await.map_err(|e| e.to_string())?;
    if ended {
        tracing::info!(
            auto_top_up = attempt.id,
            why,
            "automatic top-up ended without a charge"
        );
    }
    Ok(())
}

/// How long after an automatic top-up is decided its charge is tried again when no outcome
/// has come.
const RETRY_AFTER: i64 = 120;

/// Charges again, with the same key, the automatic top-ups still being charged a while
/// after they were decided (their first answer was unclear, or their webhook is late): the
/// key makes Stripe answer a charge it already made with that charge. Older than a day
/// (Stripe keeps a key that long) they are left for support and logged.
pub async fn retry_charging(state: &AppState) -> Result<usize, sqlx::Error> {
    const KEY_KEPT: i64 = 23 * 3_600;
    let now = state.clock.now();
    let due = store::charging_between(&state.db, now - KEY_KEPT, now - RETRY_AFTER, 50).await?;
    for &id in &due {
        charge(state, id).await;
    }
    // Past the last retry, and past any call it may still have under way.
    let stuck = store::charging_between(&state.db, 0, now - KEY_KEPT - 600, 50).await?;
    for id in stuck {
        if let Err(e) = ask_stripe(state, id).await {
            tracing::error!(
                auto_top_up = id,
                error = %e,
                "an automatic top-up has had no outcome for a day and Stripe could not tell; check it in Stripe"
            );
        }
    }
    Ok(due.len())
}

/// An automatic top-up with no outcome a day after it was decided (its webhook never
/// came): Stripe's word settles it ([`settle_from_stripe`]).
async fn ask_stripe(state: &AppState, id: i64) -> Result<(), String> {
    let crate::server::config::PaymentsConfig::Stripe(config) = &state.config.payments else {
        return Err("no Stripe keys".to_owned());
    };
    let db = &state.db;
    let Some(attempt) = charging(state, id).await? else {
        return Ok(());
    };
    let customer = crate::server::db::subscriptions::customer_of(db, attempt.account_id)
        .await
        .map_err(|e| e.to_string())?;
    let Some(customer) = customer else {
        return end_unpaid(state, &attempt, "no Stripe customer to charge").await;
    };
    settle_from_stripe(
        state,
        config,
        &attempt,
        &customer,
        "no charge reached Stripe",
    )
    .await
}

/// Settles automatic top-up `attempt` from the customer's PaymentIntents at Stripe, made
/// while its key could be used: the one naming it settles it as its event would have
/// (paid: its credits, once; failed: counted); none names it: no charge was made, and it
/// ends without one (`why`, not counted as a failure); one with no outcome yet at Stripe
/// is left for the next run.
async fn settle_from_stripe(
    state: &AppState,
    config: &crate::server::config::StripeConfig,
    attempt: &store::AttemptRow,
    customer: &str,
    why: &str,
) -> Result<(), String> {
    // Stripe's times are real ones; ours may run ahead of them (demo mode), never behind.
    // The charges are made within a day of the decision, with its key.
    let decided = attempt.created_at;
    let since = decided - state.clock.ahead() - 600;
    let until = decided + 25 * 3_600;
    let listed =
        crate::server::payments::stripe_intents::payment_intents_of(config, customer, since, until)
            .await
            .map_err(|e| e.to_string())?;
    let mine: Vec<_> = listed
        .into_iter()
        .filter(|(named, _)| *named == Some(attempt.id))
        .map(|(_, read)| read)
        .collect();
    match mine.iter().flatten().next() {
        Some(pi) => {
            tracing::warn!(
                auto_top_up = attempt.id,
                payment_intent = pi.id,
                "an automatic top-up settled from Stripe's PaymentIntent, its webhook not yet come"
            );
            crate::server::services::payment_events::apply_direct(
                &state.db,
                crate::server::services::payment_events::EventEffect::AutoTopUp {
                    pi,
                    attempts: state.config.auto_top_up_attempts,
                },
                state.clock.now(),
            )
            .await
            .map(drop)
            .map_err(|e| e.to_string())
        }
        None if mine.is_empty() => end_unpaid(state, attempt, why).await,
        None => {
            tracing::warn!(
                auto_top_up = attempt.id,
                "an automatic top-up's PaymentIntent has no outcome at Stripe yet"
            );
            Ok(())
        }
    }
}
