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
    /// When it takes effect or ends, by `kind`: the end of the current plan's period (a
    /// booked change, an upgrade's extra credits, a downgrade), or of a new plan's first.
    /// `None` for the current plan with nothing booked.
    pub date: Option<i64>,
    /// An upgrade: what is charged today for the rest of the period.
    pub charge_today_cents: u64,
    /// An upgrade: the extra credits for the rest of the period.
    pub extra_credits: u64,
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
    /// Seconds until the page looks again (more the longer it has taken).
    pub recheck_secs: u32,
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
    /// The next tier down, offered before a cancel (P15).
    pub lower_tier: Option<LowerTier>,
    pub options: Vec<PlanOption>,
    /// Paid through the app's own test billing (no Stripe keys).
    pub test_mode: bool,
    /// While there is no live plan: a plan payment under way. While it is processing, no
    /// other plan can be bought.
    pub payment_in_progress: Option<PlanPaymentInProgress>,
}

/// The plan offered instead of a cancel (P15): the tier below what the next period will be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LowerTier {
    pub id: String,
    pub name: String,
    pub credits_per_period: u64,
}

/// What a plan change did, in names and dates; the page says it in words, in the reader's
/// time zone (`ui::components::plans::said`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanChanged {
    /// On `plan` until `period_end`; it renews each month.
    Subscribed { plan: String, period_end: i64 },
    /// A switch to `next` from `on`; nothing changes before then.
    SwitchBooked { next: String, on: i64 },
    /// On `plan` now (an upgrade).
    Upgraded { plan: String },
    /// Ends on `ends`; a switch to `booked` happens only with a resume before then.
    Cancelled { ends: i64, booked: Option<String> },
    /// Continues: `plan` until `until`, then `booked` as booked; or renews on `until`.
    Resumed {
        plan: String,
        until: i64,
        booked: Option<String>,
    },
    /// Stays on `plan` (a booked switch undone).
    Stayed { plan: String },
    /// On the way to a checkout.
    Checkout,
}

/// A plan change the Subscription page's forms ask for (their `action` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// Buy a plan (no live plan): a checkout.
    Subscribe,
    /// Move to another plan: an upgrade now, a downgrade from the renewal.
    Change,
    /// Undo a booked downgrade.
    Keep,
    /// End at the period's end.
    Cancel,
    /// Undo a cancel before the period ends.
    Resume,
}

impl PlanAction {
    pub const ALL: [PlanAction; 5] = [
        PlanAction::Subscribe,
        PlanAction::Change,
        PlanAction::Keep,
        PlanAction::Cancel,
        PlanAction::Resume,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PlanAction::Subscribe => "subscribe",
            PlanAction::Change => "change",
            PlanAction::Keep => "keep",
            PlanAction::Cancel => "cancel",
            PlanAction::Resume => "resume",
        }
    }

    pub fn parse(s: &str) -> Option<PlanAction> {
        PlanAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_actions_round_trip() {
        for a in PlanAction::ALL {
            assert_eq!(PlanAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(PlanAction::parse("upgrade"), None);
    }
}
