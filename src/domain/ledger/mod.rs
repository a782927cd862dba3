//! The rules of the credits ledger (DESIGN "The ledger"; POLICY P2-P5, P8, P10).
//!
//! Pure functions over a snapshot of an account's grants and holds. Storage loads the
//! snapshot inside a transaction, asks these functions what to do, and writes the result.
//!
//! - A *grant* is a block of credits: `subscription` (expires at its period's end),
//!   `adjustment` (support; expires only if support set a date) or `topup` (never expires).
//! - Spending draws subscription grants first (earliest expiry first), then adjustments,
//!   then top-ups oldest first (P5).
//! - A *hold* reserves credits before a job; `capture` charges the real cost and frees the
//!   rest, `release` frees it all. The balance never goes negative.
//!
//! ## These rules, twice: the PostgreSQL functions
//!
//! On PostgreSQL the two hottest mutations, reserve and capture, are PL/pgSQL functions
//! (`ledger_reserve`, `ledger_capture`, `ledger_settle_expiries`: the expiries in
//! `migrations/postgres/…_ledger_functions.sql`, the latest reserve in `…_ledger_hot_path.sql`,
//! the latest capture in `…_operations.sql`) that repeat these
//! rules, so each is one round trip instead of about ten. Every other mutation, and both on
//! SQLite, runs the rules below from Rust (`server::db::ledger`, "in steps").
//!
//! **Decision: keep the functions as the one PostgreSQL implementation**, guarded by the
//! model test (`tests/it/ledger_model.rs`), which drives random histories through both
//! backends and, on PostgreSQL, through both implementations (`Db::with_rules_in_rust`),
//! and compares every balance, grant and journal with an in-memory model. Measured with
//! `scripts/bench.sh ledger` (reserve -> capture cycles, 20 workers, 50 accounts, 30 s, the
//! same PostgreSQL; the bar is a pgledger transfer, about 1,470/s here):
//! - the functions: 1,539 and 1,595 cycles/s (reserve p99 18.8 / 14.9 ms), 1.4x the bar;
//! - the same rules in Rust steps: 967 and 944 cycles/s (reserve p99 21.8 / 23.0 ms), 0.85x
//!   the bar, because each cycle is about twenty round trips instead of two;
//! - pgledger in the same session: 1,115 transfers/s (2026-12-05, this 2-core machine).
//!
//! Moving the rules to Rust would fail the bar, so the duplication stays, and a change to
//! any rule below is a change to both places, caught by the model test if one is missed.
//!
//! The rules the functions mirror, each with its Rust original:
//! - expiry first (P3): grants past `expires_at` are written off with an `expire` entry
//!   before anything is reserved or charged ([`Grant::is_live`]; the write-off is
//!   `server::db::ledger`'s `settle_expiries`);
//! - reserve all or nothing (P10): the hold needs `balance - held` ([`check_reserve`]);
//! - capture (P2): at most the hold plus the tolerance is billable, of that at most what
//!   the other holds leave, the rest of the hold is freed ([`capture_limit`],
//!   [`plan_capture`]);
//! - the draw order (P5): subscription grants by earliest expiry, then adjustments, then
//!   top-ups oldest first ([`draw_order`], [`plan_draw`]);
//! - a hold past its expiry cannot be captured; a settled hold answers with its status;
//! - the idempotency key is looked up after the account lock and stored with the answer in
//!   the same transaction (`server::db::ledger::idempotency`);
//! - the journal entry's amounts and detail, and the account's totals (`balance`, `held`,
//!   `next_expiry_at`), written in the same transaction.

pub mod kinds;
pub mod rules;

pub use self::kinds::{Direction, GrantKind, HoldStatus, JournalKind};
pub use self::rules::*;

use crate::domain::credits::Credits;
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, UTC. Every rule takes the time from its caller's clock.
pub type UnixSeconds = i64;

/// `1780272000` -> `1 June 2026` (UTC): how dates read to customers, in pages and messages.
pub fn long_date(unix: UnixSeconds) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|d| d.format("%-d %B %Y").to_string())
        .unwrap_or_default()
}

// ---- What the ledger shows: shared with the browser.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    pub account_id: i64,
    /// Credits in live grants, held or not.
    pub total: Credits,
    pub subscription: Credits,
    pub adjustment: Credits,
    pub topup: Credits,
    /// Reserved by open holds.
    pub held: Credits,
    /// What a new hold may take: total less held.
    pub available: Credits,
    /// When the earliest-expiring subscription credits expire.
    pub subscription_expires_at: Option<UnixSeconds>,
    pub renews_at: Option<UnixSeconds>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub seq: i64,
    pub at: UnixSeconds,
    pub kind: JournalKind,
    /// Signed change of the balance.
    pub amount: i64,
    pub balance_after: i64,
    pub held_after: i64,
    pub grant_id: Option<i64>,
    pub hold_id: Option<i64>,
    pub detail: Option<String>,
    /// Who made a manual change.
    pub actor: Option<String>,
}

impl JournalEntry {
    /// The entry as a customer sees it: a change support made shows as made by "Studio
    /// support", not by the staff member's address.
    pub fn for_customer(mut self) -> Self {
        if self.actor.is_some() {
            self.actor = Some("Studio support".to_owned());
        }
        self
    }
}

/// Whether a reason written for people (a refund's, an adjustment's) holds a control
/// character other than a tab or a line break: such text is refused, never stored.
pub fn has_control_characters(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// A change made by hand, for the support audit list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualChange {
    pub at: UnixSeconds,
    pub account_id: i64,
    pub account_email: String,
    pub kind: JournalKind,
    pub amount: i64,
    pub detail: Option<String>,
    pub actor: String,
}
