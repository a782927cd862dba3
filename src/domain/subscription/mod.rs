//! The subscription life cycle as a pure state machine (POLICY P3, P7, P11-P15):
//! subscribe, upgrade (at once, the difference in credits for the rest of the period),
//! downgrade (at the next renewal, undoable), cancel at period end, resume, renewal,
//! the end of a cancelled subscription, the grace period, purge, resubscribe.
//!
//! `apply` answers what the new state is and which credit grants follow; storage carries
//! them out in one transaction. Time only enters as `now`.
//!
//! - [`lifecycle`]: the app's own billing (no Stripe keys): commands and what is due.
//! - [`stripe`]: Stripe as the source of truth: what each thing Stripe says changes.
//!
//! Both share the types, the calendar and the proration below.

pub mod lifecycle;
pub mod stripe;

pub use self::lifecycle::{apply, due, lower_tier};
pub use self::stripe::{StripeFact, StripeStatus, apply_stripe};

use crate::domain::catalog::{Catalog, Plan, PlanId};
use crate::domain::ledger::UnixSeconds;
use serde::{Deserialize, Serialize};

pub use crate::domain::usage::DAY;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Paid up; the plan's credits are granted each period.
    Active,
    /// The renewal payment failed: no new subscription credits until it is paid.
    PastDue,
    /// Ended (cancelled at period end): the grace period runs; data stays (P11, P13).
    Ended,
    /// The grace period is over and the customer's content may be deleted (P14); the
    /// sign-in, the financial records and the top-up credits stay.
    Purged,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::PastDue => "past_due",
            Status::Ended => "ended",
            Status::Purged => "purged",
        }
    }

    /// Active or past due: the plan runs (even if a payment is owed).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Active | Status::PastDue)
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Active,
            Status::PastDue,
            Status::Ended,
            Status::Purged,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A customer's subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub plan: PlanId,
    pub status: Status,
    /// The current (or, once ended, the last) billing period: `[start, end)`.
    pub period_start: UnixSeconds,
    pub period_end: UnixSeconds,
    /// Cancelled: ends at `period_end` (P12).
    pub cancel_at_period_end: bool,
    /// A downgrade that takes effect at the next renewal.
    pub pending_plan: Option<PlanId>,
    /// When an ended subscription's grace period is over (P13).
    pub grace_until: Option<UnixSeconds>,
    /// The billing anchor: periods end on its day of the month (the 31st stays the 31st
    /// where a month has one), however short an earlier month was.
    pub anchor: UnixSeconds,
}

impl Subscription {
    /// The plan the account is on and when it next renews, as the ledger keeps them beside
    /// the balance (the Subscription page and the P10 notice read them): a live plan, and
    /// its renewal unless it is cancelled or a payment is owed.
    pub fn plan_and_renewal(&self) -> (Option<&PlanId>, Option<UnixSeconds>) {
        match self.status {
            Status::Active if !self.cancel_at_period_end => {
                (Some(&self.plan), Some(self.period_end))
            }
            Status::Active | Status::PastDue => (Some(&self.plan), None),
            Status::Ended | Status::Purged => (None, None),
        }
    }
}

/// What the customer (or the clock) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start a plan: a customer without one, or whose plan ended (resubscribe, P13).
    Subscribe(PlanId),
    /// Move to another plan: up at once, down at the next renewal.
    ChangePlan(PlanId),
    /// Keep the current plan after all (undo a pending downgrade).
    KeepPlan,
    /// Cancel at the end of the period (P12).
    Cancel,
    /// Undo a cancel before the period ends.
    Resume,
    /// The period is over and its renewal was paid: next period.
    Renew,
    /// The period is over and its renewal payment failed.
    RenewalFailed,
    /// A past-due renewal was paid after all.
    PaymentRecovered,
    /// The period of a cancelled subscription is over.
    End,
    /// The grace period is over.
    Purge,
}

/// A grant of subscription credits that follows a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodGrant {
    pub credits: u64,
    /// Subscription credits expire at the end of their period (P3).
    pub expires_at: UnixSeconds,
    /// The period it belongs to: at most one grant of each kind per period.
    pub period_start: UnixSeconds,
    pub kind: GrantReason,
    /// The plan it is for: the period's plan, or the plan upgraded to (an upgrade's grant
    /// is made once per period and plan upgraded to, whatever the plan is by then).
    pub plan: PlanId,
    /// What it costs: the plan's monthly price for a period, the prorated difference for
    /// an upgrade (the local test billing records it as the payment).
    pub price_cents: u64,
}

impl PeriodGrant {
    /// The grant's line in the journal (`plan_name` is its plan's name).
    pub fn journal_reason(&self, plan_name: &str) -> String {
        match self.kind {
            GrantReason::Period => format!("{plan_name} plan: credits for this period"),
            GrantReason::Upgrade => {
                format!("Upgrade to {plan_name}: extra credits for the rest of this period")
            }
        }
    }

    /// The id the local test-mode billing records its payment under: one per period, and
    /// one per period and plan upgraded to, as the grants themselves.
    pub fn local_invoice_id(&self, account: i64) -> String {
        match self.kind {
            GrantReason::Period => format!("in_local_{account}_{}", self.period_start),
            GrantReason::Upgrade => format!(
                "in_local_{account}_{}_upgrade_{}",
                self.period_start,
                self.plan.as_str()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantReason {
    /// The plan's credits for a period.
    Period,
    /// An upgrade's extra credits for the rest of the period.
    Upgrade,
}

impl GrantReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantReason::Period => "period",
            GrantReason::Upgrade => "upgrade",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub next: Subscription,
    pub grant: Option<PeriodGrant>,
    /// The customer's content may now be deleted for good (P14).
    pub purge_content: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("That plan is not offered.")]
    UnknownPlan,
    #[error("You already have an active plan. Change it instead of subscribing again.")]
    AlreadySubscribed,
    #[error("You don't have a plan yet. Choose one to subscribe.")]
    NoSubscription,
    #[error("You are already on that plan.")]
    SamePlan,
    #[error("Your subscription is cancelled. Resume it first, then change the plan.")]
    Cancelled,
    #[error("Your subscription is not cancelled.")]
    NotCancelled,
    #[error("There is no plan change waiting.")]
    NothingPending,
    #[error("Your subscription has ended. Subscribe again to choose a plan.")]
    Ended,
    #[error("The renewal payment is overdue. Fix the payment first.")]
    PastDue,
    #[error("That is not due yet.")]
    NotDue,
    /// A paid invoice of another Stripe subscription while the one on record is live: most
    /// likely the old one's end has not arrived yet. The webhook answers so that Stripe
    /// sends it again.
    #[error("a paid invoice of another Stripe subscription while this account's is live")]
    OtherSubscriptionLive,
    /// A paid upgrade for a period the record has not reached yet (its renewal's events
    /// have not arrived): retried.
    #[error("a paid upgrade for a period not on record yet")]
    PeriodNotYetKnown,
}

/// One calendar month after `t` (the same day of the month, or the month's last day).
pub fn add_month(t: UnixSeconds) -> UnixSeconds {
    add_months(t, 1)
}

/// `n` calendar months after `t` (the same day of the month, or the month's last day).
pub fn add_months(t: UnixSeconds, n: u32) -> UnixSeconds {
    chrono::DateTime::from_timestamp(t, 0)
        .and_then(|d| d.checked_add_months(chrono::Months::new(n)))
        .map(|d| d.timestamp())
        .unwrap_or(t + i64::from(n) * 30 * DAY)
}

/// The end of the period that follows one ending at `end`, for a subscription anchored at
/// `anchor`: the first whole number of months after `anchor` that is past `end`. An anchor
/// on the 31st gives 28 February, then 31 March (not 28 March).
pub fn next_period_end(anchor: UnixSeconds, end: UnixSeconds) -> UnixSeconds {
    if anchor > end {
        return add_month(end);
    }
    // Months from the anchor to `end`, give or take one; then step to the first past it.
    let approx = u32::try_from((end - anchor) / (31 * DAY)).unwrap_or(0);
    let mut n = approx.max(1);
    while add_months(anchor, n) <= end {
        n += 1;
    }
    add_months(anchor, n)
}

pub(super) fn rank(catalog: &Catalog, id: &PlanId) -> Result<usize, LifecycleError> {
    catalog
        .plans
        .iter()
        .position(|p| &p.id == id)
        .ok_or(LifecycleError::UnknownPlan)
}

pub(super) fn plan<'a>(catalog: &'a Catalog, id: &PlanId) -> Result<&'a Plan, LifecycleError> {
    catalog.plan(id).ok_or(LifecycleError::UnknownPlan)
}

pub(super) fn period_grant(p: &Plan, start: UnixSeconds, end: UnixSeconds) -> PeriodGrant {
    PeriodGrant {
        credits: p.credits_per_period.get(),
        expires_at: end,
        period_start: start,
        kind: GrantReason::Period,
        plan: p.id.clone(),
        price_cents: p.monthly_price_cents,
    }
}

pub(super) fn keep(next: Subscription) -> Outcome {
    Outcome {
        next,
        grant: None,
        purge_content: false,
    }
}

/// `amount` times the share `part / whole` of a period, rounded down (whole numbers only;
/// a part outside `0..=whole` is clamped).
pub fn prorate(amount: u64, part: i64, whole: i64) -> u64 {
    if whole <= 0 {
        return 0;
    }
    let part = part.clamp(0, whole);
    let scaled = u128::from(amount) * (part as u128) / (whole as u128);
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// An upgrade from `old` to `new` at `at` within `[start, end)`: the extra credits and the
/// price of the rest of the period, both prorated by the share of the period left.
pub fn upgrade_grant(
    old: &Plan,
    new: &Plan,
    start: UnixSeconds,
    end: UnixSeconds,
    at: UnixSeconds,
) -> Option<PeriodGrant> {
    let diff = new
        .credits_per_period
        .get()
        .saturating_sub(old.credits_per_period.get());
    let credits = prorate(diff, end - at, end - start);
    (credits > 0).then(|| PeriodGrant {
        credits,
        expires_at: end,
        period_start: start,
        kind: GrantReason::Upgrade,
        plan: new.id.clone(),
        price_cents: prorate(
            new.monthly_price_cents
                .saturating_sub(old.monthly_price_cents),
            end - at,
            end - start,
        ),
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    //! What the life cycle's tests share: the catalogue, dates and a Creator subscription.
    use super::*;
    use crate::domain::faq::tests::facts;

    // 2026-06-01T00:00:00Z
    pub const JUNE_1: i64 = 1_780_272_000;
    pub const JULY_1: i64 = JUNE_1 + 30 * DAY;

    pub fn catalog() -> Catalog {
        facts().catalog
    }

    /// The test catalogue with a Studio plan above Creator.
    pub fn with_studio() -> Catalog {
        let mut cat = catalog();
        cat.plans.push(Plan {
            id: id("studio"),
            name: "Studio".into(),
            monthly_price_cents: 9900,
            credits_per_period: crate::domain::credits::Credits::new(20_000).unwrap(),
            grace_period_days: 90,
            stripe_price_id: None,
        });
        cat
    }

    pub fn id(s: &str) -> PlanId {
        PlanId::parse(s).unwrap()
    }

    pub fn creator() -> Subscription {
        apply(None, &Command::Subscribe(id("creator")), &catalog(), JUNE_1)
            .unwrap()
            .next
    }
}
