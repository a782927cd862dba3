//! Automatic top-ups (P16): deciding one, in one transaction under the account's lock, so
//! that however many reserves cross the threshold at once, one is started, and the month's
//! cap is never passed.
//!
//! Built so far: the settings and the card's storage, and the decision with its record.
//! Not yet: charging the saved card (Stripe's off-session PaymentIntent, the local test
//! card), its webhook, and the page's section; until they are, nothing calls
//! [`consider`] but the tests, and the page offers nothing.

use crate::domain::auto_top_up::{Decision, Situation, Skip, decide, month_start};
use crate::domain::zone::Zone;
use crate::server::db::auto_top_up::{self as store, NewAttempt};
use crate::server::db::ledger::{self, LedgerError};
use crate::server::db::notices as recipients;
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
