//! Automatic top-ups (P16): deciding one, in one transaction under the account's lock, so
//! that however many reserves cross the threshold at once, one is started, and the month's
//! cap is never passed.
//!
//! Its charge settles through the webhook, in the transaction that records the event
//! ([`settle_in`]): paid, the pack's credits are granted once, as a top-up payment; failed,
//! it counts toward the stop. Either way the customer is told by e-mail.
//!
//! Built so far: the settings and the card's storage, the decision with its record, and
//! the settlement. Not yet: charging the saved card (Stripe's off-session PaymentIntent,
//! the local test card) and the page's section; until they are, nothing calls
//! [`consider`] but the tests, and the page offers nothing.

use crate::domain::auto_top_up::{
    DEFAULT_ATTEMPTS, Decision, Situation, Skip, decide, month_start, stops_after,
};
use crate::domain::credits::Credits;
use crate::domain::ledger::{GrantKind, UnixSeconds};
use crate::domain::notices::Notice;
use crate::domain::zone::Zone;
use crate::server::db::Backend;
use crate::server::db::auto_top_up::{self as store, NewAttempt};
use crate::server::db::ledger::{self, LedgerError};
use crate::server::db::ledger::{NewGrant, Tx};
use crate::server::db::notices as recipients;
use crate::server::db::payments::{self as db_payments, AutoTopUpPayment, PaymentsError};
use crate::server::payments::events::{PaymentIntentObject, PaymentIntentOutcome};
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
    let zone = recipients::recipient(&mut *tx, account)
        .await?
        .and_then(|(_, zone)| zone)
        .as_deref()
        .and_then(crate::server::zones::table)
        .map_or_else(Zone::utc, |z| (*z).clone());
    let situation = Situation {
        available: locked.available(),
        risen_since_last: match store::last_decided_at_in(&mut tx, account).await? {
            None => true,
            Some(seq) => {
                store::risen_since_in(&mut tx, account, seq, record.settings.threshold).await?
            }
        },
        running: store::charging_in(&mut tx, account).await?,
        spent_this_month_cents: store::spent_since_in(&mut tx, account, month_start(&zone, now))
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
    now: UnixSeconds,
) -> Result<Settled, PaymentsError> {
    let (Some(id), Some(account)) = (pi.auto_top_up, pi.account_id) else {
        return Ok(Settled::Unknown);
    };
    match ledger::lock_account(tx, backend, account).await {
        Err(LedgerError::AccountNotFound(_)) => return Ok(Settled::Unknown),
        other => other?,
    };
    let Some(attempt) = store::attempt_in(tx, id).await? else {
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
    if attempt.status != "charging" {
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
                stops_after(failures, DEFAULT_ATTEMPTS).then(|| {
                    format!("{failures} automatic top-ups in a row could not be charged: {told}")
                })
            };
            let failures = store::add_failure_in(tx, account, stop, now).await?;
            let stopped = stops_after(failures, DEFAULT_ATTEMPTS);
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
