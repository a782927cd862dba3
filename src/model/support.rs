//! What the support server functions return (see `api::support`).

use crate::domain::ledger::{BalanceView, JournalEntry};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenHold {
    pub hold_id: i64,
    pub operation: String,
    pub amount: u64,
    pub expires_at: i64,
}

/// The customer's subscription as support reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportPlanView {
    pub plan_name: String,
    pub status: crate::domain::subscription::Status,
    pub period_start: i64,
    pub period_end: i64,
    pub cancel_at_period_end: bool,
    /// A downgrade booked for the renewal.
    pub pending_plan_name: Option<String>,
    pub grace_until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerView {
    pub email: String,
    pub account_id: i64,
    /// The plan's name, or `None` when the customer has no plan.
    pub plan: Option<String>,
    /// The subscription on record (live or ended), if any.
    pub subscription: Option<SupportPlanView>,
    /// The customer's payments, newest first (as the customer sees them).
    pub payments: Vec<crate::model::payments::PaymentLine>,
    pub balance: BalanceView,
    pub holds: Vec<OpenHold>,
    /// A page of the journal, newest first.
    pub journal: Vec<JournalEntry>,
    /// Pass as `before` for the next (older) page; `None` on the last one.
    pub journal_next_before: Option<String>,
    /// A fresh key for the adjustment form: sending that form twice applies it once.
    pub form_key: String,
}

/// A change to who may do what: a user made, disabled or given another role (the staff
/// audit list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffChangeView {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: Option<String>,
}

/// A support adjustment above the approval limit, waiting for a second support user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAdjustment {
    pub id: i64,
    pub account_email: String,
    pub direction: crate::domain::ledger::Direction,
    pub amount: u64,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: i64,
}

/// What a support adjustment did (the console says it in words).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "done", rename_all = "snake_case")]
pub enum Adjusted {
    /// Applied at once: `credits` granted or taken.
    Applied {
        direction: crate::domain::ledger::Direction,
        credits: u64,
        balance_after: u64,
    },
    /// More than one person may change alone (`limit`): nothing changed yet, request
    /// `request_id` waits for another support user's approval.
    AwaitingApproval {
        credits: u64,
        limit: u64,
        request_id: i64,
    },
}

/// What deciding a waiting adjustment did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "done", rename_all = "snake_case")]
pub enum Decided {
    Approved {
        request_id: i64,
        direction: crate::domain::ledger::Direction,
        credits: u64,
        account_email: String,
        balance_after: u64,
    },
    Rejected {
        request_id: i64,
        account_email: String,
    },
}

/// An e-mail notice in the outbox (the support console's list): to whom, what, and
/// whether it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeView {
    pub id: i64,
    pub created_at: i64,
    pub recipient: String,
    pub kind: String,
    pub subject: String,
    pub body: String,
    /// `pending`, `sent`, `failed` or `skipped`.
    pub status: String,
    pub attempts: i64,
    pub sent_at: Option<i64>,
    /// Why it failed or was skipped.
    pub note: Option<String>,
}
