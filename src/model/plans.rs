//! What the plans server functions return (see `api::plans`).

use crate::domain::subscription::Status;
use serde::{Deserialize, Serialize};

/// Where the customer's subscription stands, as the plans section shows it: the
/// subscription's own status, or `None` when there has never been one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    None,
    Active,
    PastDue,
    Ended,
    Purged,
}

impl From<Option<Status>> for PlanStatus {
    fn from(status: Option<Status>) -> Self {
        match status {
            None => PlanStatus::None,
            Some(Status::Active) => PlanStatus::Active,
            Some(Status::PastDue) => PlanStatus::PastDue,
            Some(Status::Ended) => PlanStatus::Ended,
            Some(Status::Purged) => PlanStatus::Purged,
        }
    }
}

/// What a plan change would do, in the customer's dates and credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    Current,
    Subscribe,
    Upgrade,
    Downgrade,
    /// The downgrade already chosen for the next renewal.
    PendingDowngrade,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOption {
    pub id: String,
    pub name: String,
    pub monthly_price_cents: u64,
    pub credits_per_period: u64,
    pub grace_period_days: u32,
    pub kind: ChangeKind,
    /// What choosing it means, e.g. "From 1 July 2026: 1,000 credits each period".
    pub effect: String,
}

/// A plan payment that has not settled: processing (a bank debit), or a checkout opened
/// and not paid yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPaymentInProgress {
    pub plan_name: String,
    pub amount_cents: u64,
    pub credits: u64,
    /// Paid with a method that settles later; else the checkout is open, not paid yet.
    pub processing: bool,
    /// The open checkout, to go back to.
    pub checkout_url: Option<String>,
    /// When the server looked (unix seconds): the page's re-check goes to an address of
    /// its own each time, since a refresh to the same address with a `#fragment` is only a
    /// scroll and never reloads.
    pub checked_at: i64,
}

/// The customer's subscription, as the plans section shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanState {
    pub status: PlanStatus,
    pub plan_name: Option<String>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub pending_plan_name: Option<String>,
    pub grace_until: Option<i64>,
    /// The next tier down, offered before a cancel (P15), with its credits.
    pub lower_tier: Option<(String, String, u64)>,
    pub options: Vec<PlanOption>,
    /// Paid through the app's own test billing (no Stripe keys).
    pub test_mode: bool,
    /// While there is no live plan: a plan payment under way. While it is processing, no
    /// other plan can be bought.
    pub payment_in_progress: Option<PlanPaymentInProgress>,
}
