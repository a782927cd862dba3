//! What the history server functions return (see `api::history`).

use serde::{Deserialize, Serialize};

/// One change of the balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub at: i64,
    /// The journal's kind: `grant`, `expire`, `capture`, `refund`, `debit`.
    pub kind: crate::domain::ledger::JournalKind,
    /// For a grant or an expiry, the kind of credits: `subscription`, `topup`, `adjustment`.
    pub credits_kind: Option<crate::domain::ledger::GrantKind>,
    /// Signed change of the balance.
    pub amount: i64,
    pub balance_after: i64,
    /// What it was for, as written when it happened: the plan period, the operation, the
    /// reason support gave.
    pub reason: Option<String>,
    /// The operation a charge was for.
    pub operation: Option<crate::domain::pricing::Operation>,
    /// Made by a person (support), not by the ledger.
    pub by_support: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    pub filter: crate::domain::history::HistoryFilter,
    pub lines: Vec<HistoryLine>,
    /// The cursor of the next (older) page, if there is one.
    pub next_before: Option<String>,
    /// The balance now.
    pub balance: u64,
}
