//! Automatic top-ups (P16): deciding one, in one transaction under the account's lock, so
//! that however many reserves cross the threshold at once, one is started, and the month's
//! cap is never passed.
//!
//! Its charge settles through the webhook, in the transaction that records the event
//! ([`settle_in`]): paid, the pack's credits are granted once, as a top-up payment; failed,
//! it counts toward the stop. Either way the customer is told by e-mail.
//!
//! A reserve that leaves the available balance below the threshold considers one
//! ([`after_reserve`]) and, when one is decided, charges the saved card in the background
//! ([`charge`]): the reserve is never held up. Stripe: an off-session PaymentIntent with
//! the automatic top-up's own idempotency key, tried again by the scheduler while its
//! outcome has not come ([`retry_charging`]). Without Stripe: the local test card, through
//! the same webhook code.
//!
//! The card is saved at a top-up whose customer asked for it: Stripe's event of that
//! top-up's PaymentIntent, or the local checkout's ([`save_card_in`]). The charge and what
//! happens when its outcome is late: [`charge`].

mod charge;
pub use charge::{charge, retry_charging};

use crate::domain::auto_top_up::AutoTopUpSettings;
use crate::domain::auto_top_up::{Decision, Situation, Skip, decide, month_start, stops_after};
use crate::domain::credits::Credits;
use crate::domain::ledger::{GrantKind, UnixSeconds};
use crate::domain::notices::Notice;
use crate::error::AppError;
use crate::model::subscription::AutoTopUpView;
use crate::server::db::Backend;
use crate::server::db::auto_top_up::{self as store, NewAttempt};
use crate::server::db::ledger::{self, LedgerError};
use crate::server::db::ledger::{NewGrant, Tx};
use crate::server::db::payments::{self as db_payments, AutoTopUpPayment, PaymentsError};
use crate::server::db::users;
use crate::server::error::internal;
use crate::server::payments::events::{PaymentIntentObject, PaymentIntentOutcome};
use crate::server::payments::local;
use crate::server::services::notices;
use crate::server::state::AppState;

/// What `consider` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Considered {
    /// An automatic top-up was decided: its id, to charge.
    Started(i64),
    Skipped(Skip),
    /// The account set nothing.
    NotSet,
}

#[derive(Debug, thiserror::Error)]
pub enum AutoTopUpError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Decides, for `account` now, whether to start an automatic top-up, and records it when
/// so: under the account's lock, with what the ledger says now, the record of the last
/// one, and what the customer's month has spent.
pub async fn consider(state: &AppState, account: i64) -> Result<Considered, AutoTopUpError> {
    let db = &state.db;
    let now = state.clock.now();
    let mut tx = db.begin_write().await?;
    let locked = ledger::lock_account(&mut tx, db.backend(), account).await?;
    let Some(record) = store::get(&mut *tx, account).await? else {
        return Ok(Considered::NotSet);
    };
    let Some(pack) = state.config.catalog.top_up(&record.settings.pack) else {
        // A pack no longer sold: nothing is bought until the customer chooses another.
        return Ok(Considered::Skipped(Skip::Off));
    };
    let zone = crate::server::zones::named_or_utc(
        users::time_zone_of_account(&mut *tx, account)
            .await?
            .as_deref(),
    );
    let situation = Situation {
        available: locked.available(),
        risen_since_last: match store::last_decided_at_in(&mut tx, account).await? {
            None => true,
            Some(seq) => {
                store::risen_since_in(&mut tx, account, seq, record.settings.threshold).await?
            }
        },
        running: store::charging_since(&mut *tx, account, 0).await?,
        spent_this_month_cents: store::spent_since(&mut *tx, account, month_start(&zone, now))
            .await?,
        card_saved: record.payment_method.is_some(),
        stopped: record.stopped_reason.is_some(),
    };
    let considered = match decide(&record.settings, pack, &situation) {
        Decision::Skip(why) => Considered::Skipped(why),
        Decision::Start => {
            let attempt = NewAttempt {
                account,
                pack: pack.id.as_str(),
                credits: pack.credits.get(),
                amount_cents: pack.price_cents,
                currency: "usd",
                journal_seq: locked.journal_seq(),
                payment_method: record.payment_method.as_deref().unwrap_or_default(),
            };
            match store::insert_attempt_in(&mut tx, &attempt, now).await? {
                Some(id) => Considered::Started(id),
                None => Considered::Skipped(Skip::Running),
            }
        }
    };
    tx.commit().await?;
    Ok(considered)
}

/// What a PaymentIntent's event did to its automatic top-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Paid: these credits granted.
    Paid(u64),
    /// Failed; `stopped` when automatic top-ups stop with it.
    Failed { stopped: bool },
    /// Settled before (another event of the same charge): nothing changed.
    Already,
    /// No automatic top-up of this app's, or not the account's, or another amount.
    Unknown,
}

impl Settled {
    pub fn outcome(&self) -> &'static str {
        match self {
            Settled::Paid(_) => "granted",
            Settled::Failed { stopped: false } => "auto_top_up_failed",
            Settled::Failed { stopped: true } => "auto_top_up_stopped",
            Settled::Already => "settled_before",
            Settled::Unknown => "unknown_auto_top_up",
        }
    }
}

/// Settles the automatic top-up a PaymentIntent's event names, in the webhook's
/// transaction, once: the first event of its charge does, any later one finds it settled.
pub(crate) async fn settle_in(
    tx: &mut Tx,
    backend: Backend,
    pi: &PaymentIntentObject,
    attempts: u32,
    now: UnixSeconds,
) -> Result<Settled, PaymentsError> {
    let (Some(id), Some(account)) = (pi.auto_top_up, pi.account_id) else {
        return Ok(Settled::Unknown);
    };
    match ledger::lock_account(tx, backend, account).await {
        Err(LedgerError::AccountNotFound(_)) => return Ok(Settled::Unknown),
        other => other?,
    };
    let Some(attempt) = store::attempt(&mut **tx, id).await? else {
        return Ok(Settled::Unknown);
    };
    let amount = u64::try_from(attempt.amount_cents).unwrap_or(0);
    if attempt.account_id != account
        || pi.amount != amount
        || !pi.currency.eq_ignore_ascii_case("usd")
    {
        tracing::error!(
            auto_top_up = id,
            account,
            payment_intent = pi.id,
            "a PaymentIntent names an automatic top-up that is not its own (account, amount or currency differ); nothing changed"
        );
        return Ok(Settled::Unknown);
    }
    // Stripe's PaymentIntent is the account's own customer's: another installation's or
    // another customer's event names no charge of ours.
    if let Some(customer) = pi.customer.as_deref()
        && !crate::server::db::subscriptions::is_customer_of(tx, account, customer)
            .await
            .map_err(PaymentsError::from)?
    {
        tracing::error!(
            auto_top_up = id,
            account,
            payment_intent = pi.id,
            "a PaymentIntent of another customer names an automatic top-up; nothing changed"
        );
        return Ok(Settled::Unknown);
    }
    if attempt.status != "charging" {
        if attempt.status == "failed" && pi.outcome == PaymentIntentOutcome::Succeeded {
            tracing::error!(
                auto_top_up = id,
                account,
                payment_intent = pi.id,
                "an automatic top-up recorded as failed was paid after all: grant its credits by hand (support adjustment) or refund it in Stripe"
            );
        }
        return Ok(Settled::Already);
    }
    let provider = if pi.id.starts_with("pi_local_") {
        "local"
    } else {
        "stripe"
    };
    match &pi.outcome {
        PaymentIntentOutcome::Succeeded => {
            let credits = Credits::new(u64::try_from(attempt.credits).unwrap_or(0))
                .map_err(|e| PaymentsError::Corrupt(format!("auto top-up {id}: {e}")))?;
            let receipt = ledger::grant_in(
                tx,
                backend,
                account,
                NewGrant {
                    kind: GrantKind::Topup,
                    amount: credits,
                    expires_at: None,
                    reason: format!("Automatic top-up (payment {})", pi.id),
                    actor: None,
                },
                None,
                now,
            )
            .await?;
            db_payments::record_auto_top_up(
                tx,
                &AutoTopUpPayment {
                    account_id: account,
                    provider,
                    external_id: &pi.id,
                    pack: &attempt.pack,
                    credits: credits.get(),
                    amount_cents: amount,
                    currency: "usd",
                    grant_id: receipt.grant_id,
                },
                now,
            )
            .await?;
            store::finish_attempt_in(tx, id, "succeeded", &pi.id, None, now).await?;
            store::clear_failures_in(tx, account).await?;
            let notice = Notice::TopUpMade {
                payment: pi.id.clone(),
                credits: credits.get(),
                amount_cents: amount,
            };
            notices::notify_in(tx, account, &notice, now).await?;
            Ok(Settled::Paid(credits.get()))
        }
        PaymentIntentOutcome::Failed {
            reason,
            needs_customer,
        } => {
            let told = if *needs_customer {
                "your bank asked you to confirm the payment, which cannot be done while you are away".to_owned()
            } else {
                reason.trim_end_matches('.').to_owned()
            };
            store::finish_attempt_in(tx, id, "failed", &pi.id, Some(reason), now).await?;
            let stop = |failures: u32| {
                stops_after(failures, attempts).then(|| {
                    format!("{failures} automatic top-ups in a row could not be charged: {told}")
                })
            };
            let failures = store::add_failure_in(tx, account, stop, now).await?;
            let stopped = stops_after(failures, attempts);
            let notice = Notice::TopUpFailed {
                payment: pi.id.clone(),
                reason: told.clone(),
                stopped,
            };
            notices::notify_in(tx, account, &notice, now).await?;
            Ok(Settled::Failed { stopped })
        }
    }
}

/// After a reserve: when the account has automatic top-ups on and its available balance is
/// below its threshold, decides one, and charges it in the background. Never fails the
/// reserve: what goes wrong is logged.
pub async fn after_reserve(state: &AppState, account: i64) {
    let view = match store::trigger_view(&state.db, account).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(account, error = %e, "automatic top-up: the settings could not be read");
            return;
        }
    };
    let Some((true, threshold, available)) = view else {
        return;
    };
    if available >= threshold {
        return;
    }
    match consider(state, account).await {
        Ok(Considered::Started(id)) => {
            tracing::info!(account, auto_top_up = id, "automatic top-up started");
            let state = state.clone();
            tokio::spawn(async move { charge(&state, id).await });
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(account, error = %e, "automatic top-up could not be considered"),
    }
}

/// Whether automatic top-ups are offered: with Stripe (the card saved at a Checkout) and
/// with the local test checkout, whenever some top-up pack is on sale.
pub fn offered(state: &AppState) -> bool {
    !state.config.catalog.top_ups.is_empty()
}

/// Whether the local checkout's test cards are in use (no Stripe keys): the page's switch
/// for how the next charge goes.
fn test_cards(state: &AppState) -> bool {
    offered(state)
        && matches!(
            state.config.payments,
            crate::server::config::PaymentsConfig::Local
        )
}

/// What a customer who set nothing sees: off, below 500 credits, the smallest pack, $50 a
/// month.
pub fn default_settings(state: &AppState) -> AutoTopUpSettings {
    defaults_of(&state.config.catalog)
}

pub(crate) fn defaults_of(catalog: &crate::domain::catalog::Catalog) -> AutoTopUpSettings {
    AutoTopUpSettings {
        enabled: false,
        threshold: 500,
        pack: catalog
            .top_ups
            .first()
            .map_or_else(String::new, |p| p.id.as_str().to_owned()),
        monthly_cap_cents: 5_000,
    }
}

/// What a top-up's PaymentIntent that saved its card did (the webhook's outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardSaved {
    /// Kept: automatic top-ups charge it from now on.
    Saved,
    /// An older card than the one kept, another customer's, or no card: nothing changed.
    NotSaved,
}

impl CardSaved {
    pub fn outcome(self) -> &'static str {
        match self {
            CardSaved::Saved => "card_saved",
            CardSaved::NotSaved => "card_not_saved",
        }
    }
}

/// Keeps the card a top-up's PaymentIntent set up for later charges (P16), in the
/// webhook's transaction: the account the app put in its metadata, Stripe's customer of
/// that account (the local checkout has none), and the card it names. `label`: how to show
/// it ("Visa ending 4242"), when it could be found out.
pub(crate) async fn save_card_in(
    tx: &mut Tx,
    pi: &PaymentIntentObject,
    label: Option<&str>,
    defaults: &AutoTopUpSettings,
    now: UnixSeconds,
) -> Result<CardSaved, PaymentsError> {
    let (Some(account), Some(card)) = (pi.account_id, pi.payment_method.as_deref()) else {
        tracing::warn!(
            payment_intent = pi.id,
            "a PaymentIntent that saves a card names no account or no card; nothing saved"
        );
        return Ok(CardSaved::NotSaved);
    };
    if pi.outcome != PaymentIntentOutcome::Succeeded {
        return Ok(CardSaved::NotSaved);
    }
    let local = pi.id.starts_with("pi_local_");
    let own = match pi.customer.as_deref() {
        Some(customer) => crate::server::db::subscriptions::is_customer_of(tx, account, customer)
            .await
            .map_err(PaymentsError::from)?,
        // Stripe charges a saved card only with its customer; the local test card has none.
        None => local,
    };
    if !own {
        tracing::error!(
            account,
            payment_intent = pi.id,
            "a PaymentIntent that saves a card is not of the account's Stripe customer; nothing saved"
        );
        return Ok(CardSaved::NotSaved);
    }
    let label = label.map_or_else(|| "The card of your last top-up".to_owned(), str::to_owned);
    let saved = store::save_card(
        &mut **tx,
        account,
        card,
        &label,
        defaults,
        pi.created.unwrap_or(now),
        now,
    )
    .await?;
    Ok(if saved {
        CardSaved::Saved
    } else {
        CardSaved::NotSaved
    })
}

/// The local test card's behaviour, from its payment method.
fn test_card_of(payment_method: &str) -> &'static str {
    match payment_method {
        local::TEST_CARD_DECLINED => "declined",
        local::TEST_CARD_NEEDS_CUSTOMER => "needs_action",
        _ => "card",
    }
}

/// Automatic top-ups on the page, where offered.
pub async fn view(state: &AppState, account: i64) -> Result<Option<AutoTopUpView>, AppError> {
    if !offered(state) {
        return Ok(None);
    }
    let db = &state.db;
    const CONTEXT: &str = "automatic top-ups on the page";
    let record = store::get(db.reader(), account)
        .await
        .map_err(internal(CONTEXT))?;
    let Some(record) = record else {
        return Ok(Some(AutoTopUpView {
            settings: default_settings(state),
            card: None,
            test_card: None,
            month_start: state.clock.now(),
            spent_this_month_cents: 0,
            stopped_reason: None,
            last_failure: None,
        }));
    };
    let zone = crate::server::zones::named_or_utc(
        users::time_zone_of_account(db.reader(), account)
            .await
            .map_err(internal(CONTEXT))?
            .as_deref(),
    );
    let month = month_start(&zone, state.clock.now());
    let spent = store::spent_since(db.reader(), account, month)
        .await
        .map_err(internal(CONTEXT))?;
    let last = store::attempts(db, account, 1)
        .await
        .map_err(internal(CONTEXT))?;
    let last_failure = last
        .first()
        .filter(|a| a.status == "failed")
        .and_then(|a| a.failure.clone())
        .filter(|_| record.stopped_reason.is_none());
    Ok(Some(AutoTopUpView {
        test_card: record
            .payment_method
            .as_deref()
            .filter(|_| test_cards(state))
            .map(|pm| test_card_of(pm).to_owned()),
        card: record.card_label,
        settings: record.settings,
        month_start: month,
        spent_this_month_cents: spent,
        stopped_reason: record.stopped_reason,
        last_failure,
    }))
}

/// Saves what the customer set, from the form's fields.
pub async fn save(
    state: &AppState,
    account: i64,
    enabled: bool,
    threshold: &str,
    pack: &str,
    cap: &str,
) -> Result<AutoTopUpSettings, AppError> {
    if !offered(state) {
        return Err(AppError::not_found("Automatic top-ups"));
    }
    let settings = AutoTopUpSettings::parse(enabled, threshold, pack, cap, &state.config.catalog)
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    let card = store::get(state.db.reader(), account)
        .await
        .map_err(internal("reading automatic top-ups"))?
        .and_then(|r| r.payment_method);
    if enabled && card.is_none() {
        return Err(AppError::bad_request(
            "Save a card first: buy a top-up with \"Buy and save the card\" under Automatic top-ups.",
        ));
    }
    store::save_settings(&state.db, account, &settings, state.clock.wall())
        .await
        .map_err(internal("saving automatic top-ups"))?;
    Ok(settings)
}

/// Test mode: saves the local test card that behaves as asked (`card`, `declined`,
/// `needs_action`) as the customer's card.
pub async fn save_test_card(
    state: &AppState,
    account: i64,
    behaviour: &str,
) -> Result<(), AppError> {
    if !test_cards(state) {
        return Err(AppError::not_found("The test card"));
    }
    let pm = match behaviour {
        "card" => local::TEST_CARD,
        "declined" => local::TEST_CARD_DECLINED,
        "needs_action" => local::TEST_CARD_NEEDS_CUSTOMER,
        _ => return Err(AppError::bad_request("Pick how the test card behaves.")),
    };
    let label = local::test_card_label(pm).unwrap_or("Test card");
    let now = state.clock.wall();
    store::save_card(
        state.db.writer(),
        account,
        pm,
        label,
        &default_settings(state),
        now,
        now,
    )
    .await
    .map(drop)
    .map_err(internal("saving the test card"))
}

/// Whether an automatic top-up of the account decided in the last ten minutes is being
/// charged (its credits are on their way; an older one's outcome is late, and a caller told
/// to try again in a minute would wait in vain). A failed read says no.
pub async fn coming(state: &AppState, account: i64) -> bool {
    let since = state.clock.now() - 600;
    store::charging_since(state.db.reader(), account, since)
        .await
        .unwrap_or(false)
}
