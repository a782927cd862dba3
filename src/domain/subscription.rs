//! The subscription life cycle as a pure state machine (POLICY P3, P7, P11-P15):
//! subscribe, upgrade (at once, the difference in credits for the rest of the period),
//! downgrade (at the next renewal, undoable), cancel at period end, resume, renewal,
//! the end of a cancelled subscription, the grace period, purge, resubscribe.
//!
//! `apply` answers what the new state is and which credit grants follow; storage carries
//! them out in one transaction. Time only enters as `now`.

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

fn rank(catalog: &Catalog, id: &PlanId) -> Result<usize, LifecycleError> {
    catalog
        .plans
        .iter()
        .position(|p| &p.id == id)
        .ok_or(LifecycleError::UnknownPlan)
}

fn plan<'a>(catalog: &'a Catalog, id: &PlanId) -> Result<&'a Plan, LifecycleError> {
    catalog.plan(id).ok_or(LifecycleError::UnknownPlan)
}

fn period_grant(p: &Plan, start: UnixSeconds, end: UnixSeconds) -> PeriodGrant {
    PeriodGrant {
        credits: p.credits_per_period.get(),
        expires_at: end,
        period_start: start,
        kind: GrantReason::Period,
        plan: p.id.clone(),
        price_cents: p.monthly_price_cents,
    }
}

fn keep(next: Subscription) -> Outcome {
    Outcome {
        next,
        grant: None,
        purge_content: false,
    }
}

/// The next plan below `current`, offered before a cancel (P15).
pub fn lower_tier<'a>(catalog: &'a Catalog, current: &PlanId) -> Option<&'a Plan> {
    let i = catalog.plans.iter().position(|p| &p.id == current)?;
    i.checked_sub(1).and_then(|j| catalog.plans.get(j))
}

/// What the clock says is due for `s` at `now`, if anything.
pub fn due(s: &Subscription, now: UnixSeconds) -> Option<Command> {
    match s.status {
        Status::Active if now >= s.period_end => Some(if s.cancel_at_period_end {
            Command::End
        } else {
            Command::Renew
        }),
        Status::Ended if s.grace_until.is_some_and(|g| now >= g) => Some(Command::Purge),
        _ => None,
    }
}

/// Applies `cmd` to the subscription (or to none) at `now`.
pub fn apply(
    current: Option<&Subscription>,
    cmd: &Command,
    catalog: &Catalog,
    now: UnixSeconds,
) -> Result<Outcome, LifecycleError> {
    use Command as C;
    let Some(s) = current else {
        return match cmd {
            C::Subscribe(id) => subscribe(id, catalog, now),
            _ => Err(LifecycleError::NoSubscription),
        };
    };
    let mut next = s.clone();
    match (s.status, cmd) {
        (Status::Ended | Status::Purged, C::Subscribe(id)) => subscribe(id, catalog, now),
        (Status::Active | Status::PastDue, C::Subscribe(_)) => {
            Err(LifecycleError::AlreadySubscribed)
        }
        (
            Status::Ended | Status::Purged,
            C::ChangePlan(_) | C::KeepPlan | C::Cancel | C::Resume,
        ) => Err(LifecycleError::Ended),
        (Status::PastDue, C::ChangePlan(_) | C::KeepPlan | C::Cancel | C::Resume) => {
            Err(LifecycleError::PastDue)
        }
        (Status::Active, C::ChangePlan(id)) => {
            if s.cancel_at_period_end {
                return Err(LifecycleError::Cancelled);
            }
            let to = rank(catalog, id)?;
            let from = rank(catalog, &s.plan)?;
            if to == from {
                return if s.pending_plan.is_some() {
                    next.pending_plan = None;
                    Ok(keep(next))
                } else {
                    Err(LifecycleError::SamePlan)
                };
            }
            if to < from {
                // Downgrade: from the next renewal; no refund (P7).
                next.pending_plan = Some(id.clone());
                return Ok(keep(next));
            }
            // Upgrade: at once, paid and credited for the share of the period left.
            let old = plan(catalog, &s.plan)?;
            let new = plan(catalog, id)?;
            next.plan = id.clone();
            next.pending_plan = None;
            Ok(Outcome {
                next,
                grant: upgrade_grant(old, new, s.period_start, s.period_end, now),
                purge_content: false,
            })
        }
        (Status::Active, C::KeepPlan) => {
            if s.pending_plan.is_none() {
                return Err(LifecycleError::NothingPending);
            }
            next.pending_plan = None;
            Ok(keep(next))
        }
        (Status::Active, C::Cancel) => {
            if s.cancel_at_period_end {
                return Ok(keep(next));
            }
            // A booked downgrade stays booked: it matters again if the customer resumes.
            next.cancel_at_period_end = true;
            Ok(keep(next))
        }
        (Status::Active, C::Resume) => {
            if !s.cancel_at_period_end {
                return Err(LifecycleError::NotCancelled);
            }
            next.cancel_at_period_end = false;
            Ok(keep(next))
        }
        (Status::Active, C::Renew | C::RenewalFailed) => {
            if now < s.period_end || s.cancel_at_period_end {
                return Err(LifecycleError::NotDue);
            }
            let id = s.pending_plan.clone().unwrap_or_else(|| s.plan.clone());
            let p = plan(catalog, &id)?;
            next.plan = id;
            next.pending_plan = None;
            next.period_start = s.period_end;
            next.period_end = next_period_end(s.anchor, s.period_end);
            if *cmd == C::RenewalFailed {
                next.status = Status::PastDue;
                return Ok(keep(next));
            }
            let grant = period_grant(p, next.period_start, next.period_end);
            Ok(Outcome {
                next,
                grant: Some(grant),
                purge_content: false,
            })
        }
        (Status::PastDue, C::PaymentRecovered) => {
            let p = plan(catalog, &s.plan)?;
            next.status = Status::Active;
            let grant = (now < s.period_end).then(|| period_grant(p, s.period_start, s.period_end));
            Ok(Outcome {
                next,
                grant,
                purge_content: false,
            })
        }
        (Status::Active, C::End) => {
            if now < s.period_end || !s.cancel_at_period_end {
                return Err(LifecycleError::NotDue);
            }
            let p = plan(catalog, &s.plan)?;
            next.status = Status::Ended;
            next.cancel_at_period_end = false;
            next.grace_until = Some(s.period_end + i64::from(p.grace_period_days) * DAY);
            Ok(keep(next))
        }
        (Status::Ended, C::Purge) => {
            if s.grace_until.is_none_or(|g| now < g) {
                return Err(LifecycleError::NotDue);
            }
            next.status = Status::Purged;
            Ok(Outcome {
                next,
                grant: None,
                purge_content: true,
            })
        }
        _ => Err(LifecycleError::NotDue),
    }
}

/// What Stripe says, read from a subscription object or an invoice
/// (`server::payments::events` reads Stripe's shapes; this is what they mean).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeFact {
    /// A `customer.subscription.*` object: Stripe's view of the plan and period.
    State {
        /// Stripe's subscription id.
        subscription: String,
        plan: PlanId,
        /// Stripe's status: `active`, `trialing`, `past_due`, `unpaid`, `canceled`, ...
        status: String,
        period_start: UnixSeconds,
        /// The period's end, or the set date it is cancelled on if that comes first.
        period_end: UnixSeconds,
        /// Cancelled: it ends at `period_end` (at the period's end, or on a set date).
        cancel_at_period_end: bool,
        /// When a cancelled subscription ended.
        ended_at: Option<UnixSeconds>,
    },
    /// A paid invoice for the period `[start, end)` of `plan`: that period's credits.
    PeriodPaid {
        subscription: Option<String>,
        plan: PlanId,
        period_start: UnixSeconds,
        period_end: UnixSeconds,
    },
    /// A paid invoice of proration lines alone: an upgrade within the period, paid for
    /// the time from `from_time` to the period's end. Its credits follow, prorated alike.
    UpgradePaid {
        subscription: Option<String>,
        from: PlanId,
        to: PlanId,
        from_time: UnixSeconds,
        period_end: UnixSeconds,
    },
    /// An invoice's payment failed. Only a renewal's (or the first one's) makes the plan
    /// past due; a failed upgrade invoice changes nothing (Stripe applied no upgrade).
    PaymentFailed {
        subscription: Option<String>,
        renewal: bool,
    },
}

impl StripeFact {
    /// The Stripe subscription it is about, when it names one.
    pub fn subscription(&self) -> Option<&str> {
        match self {
            StripeFact::State { subscription, .. } => Some(subscription),
            StripeFact::PeriodPaid { subscription, .. }
            | StripeFact::UpgradePaid { subscription, .. }
            | StripeFact::PaymentFailed { subscription, .. } => subscription.as_deref(),
        }
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

/// Stripe is the source of truth when configured: brings the subscription in step with
/// what Stripe says. Credits follow the same rules as without Stripe: a paid period grants
/// its plan's credits (once, by its start), a paid upgrade grants the difference prorated
/// for the rest of the period, a lower price waits for the next period, and an ended
/// subscription starts its grace period.
///
/// `following` is the Stripe subscription on record. A fact about another one changes
/// nothing while the one on record is live (a late event of an earlier subscription); once
/// that one has ended, a paid period of a new subscription starts the plan again (a
/// resubscribe).
pub fn apply_stripe(
    current: Option<&Subscription>,
    following: Option<&str>,
    fact: &StripeFact,
    catalog: &Catalog,
) -> Result<Option<Outcome>, LifecycleError> {
    let other = matches!((following, fact.subscription()), (Some(f), Some(n)) if f != n);
    let current = match current {
        Some(s) if other => match s.status {
            // A paid period must not be dropped: answered so that Stripe sends it again
            // (storage lets a payment already on record pass as a duplicate).
            Status::Active | Status::PastDue if matches!(fact, StripeFact::PeriodPaid { .. }) => {
                return Err(LifecycleError::OtherSubscriptionLive);
            }
            Status::Active | Status::PastDue => return Ok(None),
            // Only a paid period of the new subscription starts anything.
            Status::Ended | Status::Purged => {
                if !matches!(fact, StripeFact::PeriodPaid { .. }) {
                    return Ok(None);
                }
                None
            }
        },
        c => c,
    };
    match fact {
        StripeFact::PeriodPaid {
            plan: id,
            period_start,
            period_end,
            ..
        } => {
            let p = plan(catalog, id)?;
            if let Some(s) = current {
                // An invoice for a period older than the one on record changes nothing,
                // and neither does a late one for a subscription that has since ended.
                if *period_start < s.period_start
                    || (matches!(s.status, Status::Ended | Status::Purged)
                        && *period_start < s.period_end)
                {
                    return Ok(None);
                }
                // The period on record (a second event for one invoice, or a late one):
                // only its grant, if it is still missing (by the period, whatever the plan
                // is now), and a past-due plan is paid up. The plan, a pending change and
                // a cancel stay as they are.
                if *period_start == s.period_start {
                    let mut next = s.clone();
                    if next.status == Status::PastDue {
                        next.status = Status::Active;
                    }
                    return Ok(Some(Outcome {
                        grant: Some(period_grant(p, s.period_start, s.period_end)),
                        next,
                        purge_content: false,
                    }));
                }
            }
            let next = Subscription {
                plan: id.clone(),
                status: Status::Active,
                period_start: *period_start,
                period_end: *period_end,
                cancel_at_period_end: false,
                pending_plan: None,
                grace_until: None,
                anchor: current
                    .filter(|s| s.status.is_live())
                    .map_or(*period_start, |s| s.anchor),
            };
            Ok(Some(Outcome {
                grant: Some(period_grant(p, *period_start, *period_end)),
                next,
                purge_content: false,
            }))
        }
        StripeFact::UpgradePaid {
            from,
            to,
            from_time,
            period_end,
            ..
        } => {
            let Some(s) = current.filter(|s| s.status.is_live()) else {
                return Ok(None);
            };
            // Prorations for a period already over grant nothing; for a period the record
            // has not reached (a renewal's events still on their way), they wait.
            if *period_end <= s.period_start {
                return Ok(None);
            }
            if *period_end > s.period_end {
                return Err(LifecycleError::PeriodNotYetKnown);
            }
            let (old, new) = (plan(catalog, from)?, plan(catalog, to)?);
            if rank(catalog, to)? <= rank(catalog, from)? {
                return Ok(None);
            }
            let mut next = s.clone();
            // The subscription's own event may not have come yet: the plan moves now.
            if rank(catalog, &s.plan)? < rank(catalog, to)? {
                next.plan = to.clone();
                next.pending_plan = None;
            }
            Ok(Some(Outcome {
                grant: upgrade_grant(old, new, s.period_start, s.period_end, *from_time),
                next,
                purge_content: false,
            }))
        }
        StripeFact::PaymentFailed { renewal: false, .. } => Ok(None),
        StripeFact::PaymentFailed { renewal: true, .. } => Ok(current
            .filter(|s| matches!(s.status, Status::Active))
            .map(|s| {
                keep(Subscription {
                    status: Status::PastDue,
                    ..s.clone()
                })
            })),
        StripeFact::State {
            plan: id,
            status,
            period_start,
            period_end,
            cancel_at_period_end,
            ended_at,
            ..
        } => {
            let p = plan(catalog, id)?;
            let Some(s) = current else {
                // Nothing on record yet: the first paid invoice makes it active.
                return Ok(None);
            };
            // An ended subscription is final: only a new paid period starts a plan again.
            if *period_start < s.period_start || matches!(s.status, Status::Ended | Status::Purged)
            {
                return Ok(None);
            }
            let mut next = s.clone();
            if status == "canceled" {
                let end = ended_at.unwrap_or(*period_end).min(*period_end);
                next.status = Status::Ended;
                next.cancel_at_period_end = false;
                next.pending_plan = None;
                next.period_end = end;
                next.grace_until = Some(end + i64::from(p.grace_period_days) * DAY);
                return Ok(Some(keep(next)));
            }
            next.cancel_at_period_end = *cancel_at_period_end;
            next.period_start = *period_start;
            next.period_end = *period_end;
            if matches!(status.as_str(), "past_due" | "unpaid") {
                next.status = Status::PastDue;
            } else if matches!(status.as_str(), "active" | "trialing") {
                // Paid up again (its paid invoice brings the period's credits).
                next.status = Status::Active;
            }
            if *period_start > s.period_start {
                // A new period: the plan Stripe bills for it (a downgrade took effect).
                next.plan = id.clone();
                next.pending_plan = None;
            } else if id != &s.plan {
                if rank(catalog, id)? > rank(catalog, &s.plan)? {
                    // Upgraded within the period: the plan moves; its credits come with
                    // the paid proration invoice (`UpgradePaid`), never before.
                    next.plan = id.clone();
                    next.pending_plan = None;
                } else {
                    // A lower price: from the next period (P7: no refund).
                    next.pending_plan = Some(id.clone());
                }
            } else {
                next.pending_plan = None;
            }
            if next == *s {
                return Ok(None);
            }
            Ok(Some(keep(next)))
        }
    }
}

fn subscribe(id: &PlanId, catalog: &Catalog, now: UnixSeconds) -> Result<Outcome, LifecycleError> {
    let p = plan(catalog, id)?;
    let end = add_month(now);
    Ok(Outcome {
        next: Subscription {
            plan: id.clone(),
            status: Status::Active,
            period_start: now,
            period_end: end,
            cancel_at_period_end: false,
            pending_plan: None,
            grace_until: None,
            anchor: now,
        },
        grant: Some(period_grant(p, now, end)),
        purge_content: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::faq::tests::facts;

    // 2026-06-01T00:00:00Z
    const JUNE_1: i64 = 1_780_272_000;
    const JULY_1: i64 = JUNE_1 + 30 * DAY;

    fn catalog() -> Catalog {
        facts().catalog
    }

    /// The test catalogue with a Studio plan above Creator.
    fn with_studio() -> Catalog {
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

    fn id(s: &str) -> PlanId {
        PlanId::parse(s).unwrap()
    }

    fn creator() -> Subscription {
        apply(None, &Command::Subscribe(id("creator")), &catalog(), JUNE_1)
            .unwrap()
            .next
    }

    #[test]
    fn months_are_calendar_months() {
        assert_eq!(add_month(JUNE_1), JULY_1);
        // 31 January -> 28 February (2027 is not a leap year).
        let jan31 = 1_801_353_600; // 2027-01-31
        assert_eq!(add_month(jan31), jan31 + 28 * DAY);
    }

    #[test]
    fn local_renewals_keep_the_anchor_day() {
        let jan31 = 1_801_353_600; // 2027-01-31
        let feb28 = jan31 + 28 * DAY;
        let mar31 = feb28 + 31 * DAY;
        let apr30 = mar31 + 30 * DAY;
        assert_eq!(next_period_end(jan31, jan31), feb28);
        assert_eq!(next_period_end(jan31, feb28), mar31, "not 28 March");
        assert_eq!(next_period_end(jan31, mar31), apr30);
        let mut s = apply(None, &Command::Subscribe(id("creator")), &catalog(), jan31)
            .unwrap()
            .next;
        let mut ends = vec![s.period_end];
        for _ in 0..3 {
            s = apply(Some(&s), &Command::Renew, &catalog(), s.period_end)
                .unwrap()
                .next;
            ends.push(s.period_end);
        }
        assert_eq!(ends, vec![feb28, mar31, apr30, apr30 + 31 * DAY]);
    }

    #[test]
    fn prorating_is_whole_and_clamped() {
        assert_eq!(prorate(15_000, 10, 30), 5_000);
        assert_eq!(prorate(7_000, 1, 3), 2_333);
        assert_eq!(prorate(100, -5, 30), 0);
        assert_eq!(prorate(100, 50, 30), 100);
        assert_eq!(prorate(100, 5, 0), 0);
        assert_eq!(prorate(u64::MAX, 1, 1), u64::MAX);
    }

    #[test]
    fn subscribing_grants_the_first_period() {
        let o = apply(None, &Command::Subscribe(id("creator")), &catalog(), JUNE_1).unwrap();
        assert_eq!(o.next.status, Status::Active);
        assert_eq!((o.next.period_start, o.next.period_end), (JUNE_1, JULY_1));
        assert_eq!(
            o.grant,
            Some(PeriodGrant {
                credits: 5000,
                expires_at: JULY_1,
                period_start: JUNE_1,
                kind: GrantReason::Period,
                plan: id("creator"),
                price_cents: 2900,
            })
        );
        let again = apply(
            Some(&o.next),
            &Command::Subscribe(id("starter")),
            &catalog(),
            JUNE_1,
        );
        assert_eq!(again.unwrap_err(), LifecycleError::AlreadySubscribed);
        assert_eq!(
            apply(None, &Command::Subscribe(id("gold")), &catalog(), JUNE_1).unwrap_err(),
            LifecycleError::UnknownPlan
        );
        assert_eq!(
            apply(None, &Command::Cancel, &catalog(), JUNE_1).unwrap_err(),
            LifecycleError::NoSubscription
        );
    }

    #[test]
    fn renewal_starts_a_new_period_with_the_plans_credits() {
        let s = creator();
        assert_eq!(due(&s, JULY_1 - 1), None);
        assert_eq!(due(&s, JULY_1), Some(Command::Renew));
        assert_eq!(
            apply(Some(&s), &Command::Renew, &catalog(), JULY_1 - 1).unwrap_err(),
            LifecycleError::NotDue
        );
        let o = apply(Some(&s), &Command::Renew, &catalog(), JULY_1).unwrap();
        assert_eq!(o.next.period_start, JULY_1);
        assert_eq!(o.next.period_end, add_month(JULY_1));
        let g = o.grant.unwrap();
        assert_eq!(
            (g.credits, g.period_start, g.expires_at),
            (5000, JULY_1, add_month(JULY_1))
        );
    }

    #[test]
    fn an_upgrade_is_at_once_with_the_difference_until_the_period_ends() {
        let s = creator();
        let cat = with_studio();
        let o = apply(
            Some(&s),
            &Command::ChangePlan(id("studio")),
            &cat,
            JUNE_1 + 10 * DAY,
        )
        .unwrap();
        assert_eq!(o.next.plan, id("studio"));
        // Two thirds of the period left: two thirds of the 15,000 extra credits, and two
        // thirds of the $70 difference.
        assert_eq!(
            o.grant,
            Some(PeriodGrant {
                credits: 10_000,
                expires_at: JULY_1,
                period_start: JUNE_1,
                kind: GrantReason::Upgrade,
                plan: id("studio"),
                price_cents: 4_666,
            })
        );
        // The next renewal grants the new plan's credits.
        let r = apply(Some(&o.next), &Command::Renew, &cat, JULY_1).unwrap();
        assert_eq!(r.grant.unwrap().credits, 20_000);
    }

    #[test]
    fn a_downgrade_waits_for_the_renewal_and_can_be_undone() {
        let s = creator();
        let o = apply(
            Some(&s),
            &Command::ChangePlan(id("starter")),
            &catalog(),
            JUNE_1 + DAY,
        )
        .unwrap();
        assert_eq!(o.grant, None, "no refund, no credits taken (P7)");
        assert_eq!(o.next.plan, id("creator"));
        assert_eq!(o.next.pending_plan, Some(id("starter")));
        // Undone: either way of saying so.
        let kept = apply(Some(&o.next), &Command::KeepPlan, &catalog(), JUNE_1 + DAY).unwrap();
        assert_eq!(kept.next.pending_plan, None);
        let kept = apply(
            Some(&o.next),
            &Command::ChangePlan(id("creator")),
            &catalog(),
            JUNE_1 + DAY,
        )
        .unwrap();
        assert_eq!(kept.next.pending_plan, None);
        // Not undone: the renewal moves to Starter and grants Starter's credits.
        let r = apply(Some(&o.next), &Command::Renew, &catalog(), JULY_1).unwrap();
        assert_eq!(r.next.plan, id("starter"));
        assert_eq!(r.next.pending_plan, None);
        assert_eq!(r.grant.unwrap().credits, 1000);
        assert_eq!(
            apply(
                Some(&s),
                &Command::ChangePlan(id("creator")),
                &catalog(),
                JUNE_1
            )
            .unwrap_err(),
            LifecycleError::SamePlan
        );
    }

    #[test]
    fn cancel_ends_at_period_end_then_grace_then_purge() {
        let s = creator();
        assert_eq!(
            lower_tier(&catalog(), &s.plan).map(|p| p.id.clone()),
            Some(id("starter"))
        );
        assert_eq!(lower_tier(&catalog(), &id("starter")), None);
        let c = apply(Some(&s), &Command::Cancel, &catalog(), JUNE_1 + DAY)
            .unwrap()
            .next;
        assert!(c.cancel_at_period_end);
        assert_eq!(
            c.status,
            Status::Active,
            "usable until the period ends (P12)"
        );
        assert_eq!(
            apply(
                Some(&c),
                &Command::ChangePlan(id("starter")),
                &catalog(),
                JUNE_1 + DAY
            )
            .unwrap_err(),
            LifecycleError::Cancelled
        );
        assert_eq!(due(&c, JULY_1), Some(Command::End));
        assert_eq!(
            apply(Some(&c), &Command::Renew, &catalog(), JULY_1).unwrap_err(),
            LifecycleError::NotDue
        );
        let ended = apply(Some(&c), &Command::End, &catalog(), JULY_1).unwrap();
        assert_eq!(ended.grant, None);
        assert_eq!(ended.next.status, Status::Ended);
        assert_eq!(ended.next.grace_until, Some(JULY_1 + 60 * DAY));
        let e = ended.next;
        assert_eq!(due(&e, JULY_1 + 60 * DAY - 1), None);
        assert_eq!(due(&e, JULY_1 + 60 * DAY), Some(Command::Purge));
        let purged = apply(Some(&e), &Command::Purge, &catalog(), JULY_1 + 60 * DAY).unwrap();
        assert!(purged.purge_content);
        assert_eq!(purged.next.status, Status::Purged);
        assert_eq!(due(&purged.next, i64::MAX), None);
    }

    #[test]
    fn resume_before_the_end_and_resubscribe_during_grace() {
        let s = creator();
        let c = apply(Some(&s), &Command::Cancel, &catalog(), JUNE_1)
            .unwrap()
            .next;
        let r = apply(Some(&c), &Command::Resume, &catalog(), JUNE_1 + DAY)
            .unwrap()
            .next;
        assert!(!r.cancel_at_period_end);
        assert_eq!(due(&r, JULY_1), Some(Command::Renew));
        assert_eq!(
            apply(Some(&r), &Command::Resume, &catalog(), JUNE_1).unwrap_err(),
            LifecycleError::NotCancelled
        );
        let ended = apply(Some(&c), &Command::End, &catalog(), JULY_1)
            .unwrap()
            .next;
        assert_eq!(
            apply(Some(&ended), &Command::Resume, &catalog(), JULY_1).unwrap_err(),
            LifecycleError::Ended
        );
        let back = apply(
            Some(&ended),
            &Command::Subscribe(id("starter")),
            &catalog(),
            JULY_1 + 5 * DAY,
        )
        .unwrap();
        assert_eq!(back.next.status, Status::Active);
        assert_eq!(back.next.grace_until, None);
        assert_eq!(back.next.period_start, JULY_1 + 5 * DAY);
        assert_eq!(back.grant.unwrap().credits, 1000);
    }

    fn stripe_state(plan: &str, status: &str, start: i64, end: i64, cancel: bool) -> StripeFact {
        StripeFact::State {
            subscription: "sub_1".into(),
            plan: id(plan),
            status: status.into(),
            period_start: start,
            period_end: end,
            cancel_at_period_end: cancel,
            ended_at: None,
        }
    }

    /// Stripe's word that Creator's June subscription `sub` was deleted at `ended_at`.
    fn deleted(sub: &str, ended_at: i64) -> StripeFact {
        StripeFact::State {
            subscription: sub.into(),
            plan: id("creator"),
            status: "canceled".into(),
            period_start: JUNE_1,
            period_end: JULY_1,
            cancel_at_period_end: false,
            ended_at: Some(ended_at),
        }
    }

    /// `apply_stripe` following Stripe subscription `sub_1`.
    fn stripe(s: Option<&Subscription>, fact: &StripeFact) -> Option<Outcome> {
        apply_stripe(s, s.map(|_| "sub_1"), fact, &catalog()).unwrap()
    }

    fn paid_on(sub: &str, plan: &str, start: i64, end: i64) -> StripeFact {
        StripeFact::PeriodPaid {
            subscription: Some(sub.into()),
            plan: id(plan),
            period_start: start,
            period_end: end,
        }
    }

    #[test]
    fn stripe_paid_periods_grant_once_each_and_never_go_back() {
        let paid = |start, end| paid_on("sub_1", "creator", start, end);
        // The subscription's own event before its first invoice: nothing yet.
        let early = stripe_state("creator", "active", JUNE_1, JULY_1, false);
        assert_eq!(stripe(None, &early), None);
        let first = stripe(None, &paid(JUNE_1, JULY_1)).unwrap();
        assert_eq!(first.next.status, Status::Active);
        assert_eq!(first.next.anchor, JUNE_1);
        assert_eq!(first.grant.as_ref().unwrap().credits, 5000);
        let next_period = stripe(Some(&first.next), &paid(JULY_1, add_month(JULY_1))).unwrap();
        assert_eq!(next_period.grant.as_ref().unwrap().period_start, JULY_1);
        // An invoice for an older period changes nothing.
        assert_eq!(stripe(Some(&next_period.next), &paid(JUNE_1, JULY_1)), None);
    }

    #[test]
    fn stripe_changes_follow_the_same_rules() {
        let s = creator();
        // Cancel at period end, then resume.
        let c = stripe(
            Some(&s),
            &stripe_state("creator", "active", JUNE_1, JULY_1, true),
        )
        .unwrap();
        assert!(c.next.cancel_at_period_end);
        assert_eq!(c.grant, None);
        let r = stripe(
            Some(&c.next),
            &stripe_state("creator", "active", JUNE_1, JULY_1, false),
        )
        .unwrap();
        assert!(!r.next.cancel_at_period_end);
        // The same state again: nothing to do.
        assert_eq!(
            stripe(
                Some(&r.next),
                &stripe_state("creator", "active", JUNE_1, JULY_1, false)
            ),
            None
        );
        // A lower price waits for the next period.
        let d = stripe(
            Some(&s),
            &stripe_state("starter", "active", JUNE_1, JULY_1, false),
        )
        .unwrap();
        assert_eq!(
            (d.next.plan.as_str(), d.next.pending_plan.clone()),
            ("creator", Some(id("starter")))
        );
        // Past due, then deleted: the grace period starts at the end.
        let failed = StripeFact::PaymentFailed {
            subscription: Some("sub_1".into()),
            renewal: true,
        };
        // A failed upgrade invoice (no upgrade was applied) changes nothing.
        let upgrade_failed = StripeFact::PaymentFailed {
            subscription: Some("sub_1".into()),
            renewal: false,
        };
        assert_eq!(stripe(Some(&s), &upgrade_failed), None);
        let pd = stripe(Some(&s), &failed).unwrap();
        assert_eq!(pd.next.status, Status::PastDue);
        // Stripe says it is active again: no longer past due.
        let back = stripe(
            Some(&pd.next),
            &stripe_state("creator", "active", JUNE_1, JULY_1, false),
        )
        .unwrap();
        assert_eq!(back.next.status, Status::Active);
        let gone = deleted("sub_1", JULY_1);
        let e = stripe(Some(&s), &gone).unwrap();
        assert_eq!(e.next.status, Status::Ended);
        assert_eq!(e.next.grace_until, Some(JULY_1 + 60 * DAY));
        assert_eq!(stripe(Some(&e.next), &gone), None);
    }

    #[test]
    fn a_stripe_upgrade_moves_the_plan_and_its_paid_invoice_brings_the_credits() {
        let cat = with_studio();
        let s = creator();
        let up = apply_stripe(
            Some(&s),
            Some("sub_1"),
            &stripe_state("studio", "active", JUNE_1, JULY_1, false),
            &cat,
        )
        .unwrap()
        .unwrap();
        assert_eq!(up.next.plan, id("studio"));
        assert_eq!(up.grant, None, "no credits before the payment");
        let paid = StripeFact::UpgradePaid {
            subscription: Some("sub_1".into()),
            from: id("creator"),
            to: id("studio"),
            from_time: JUNE_1 + 20 * DAY,
            period_end: JULY_1,
        };
        // One third of the period left: a third of the 15,000 difference.
        for before in [&s, &up.next] {
            let o = apply_stripe(Some(before), Some("sub_1"), &paid, &cat)
                .unwrap()
                .unwrap();
            assert_eq!(o.next.plan, id("studio"), "the plan moves with the payment");
            let g = o.grant.unwrap();
            assert_eq!(
                (g.credits, g.kind, g.expires_at),
                (5_000, GrantReason::Upgrade, JULY_1)
            );
        }
        // Prorations of a period already over grant nothing.
        let renewed = apply_stripe(
            Some(&up.next),
            Some("sub_1"),
            &paid_on("sub_1", "studio", JULY_1, add_month(JULY_1)),
            &cat,
        )
        .unwrap()
        .unwrap()
        .next;
        assert_eq!(
            apply_stripe(Some(&renewed), Some("sub_1"), &paid, &cat).unwrap(),
            None
        );
    }

    #[test]
    fn paid_upgrades_are_for_their_own_plan_and_wait_for_their_period() {
        let cat = with_studio();
        let starter = apply(None, &Command::Subscribe(id("starter")), &cat, JUNE_1)
            .unwrap()
            .next;
        let upgrade = |from: &str, to: &str, end| StripeFact::UpgradePaid {
            subscription: Some("sub_1".into()),
            from: id(from),
            to: id(to),
            from_time: JUNE_1,
            period_end: end,
        };
        let paid = |s: &Subscription, f: &StripeFact| apply_stripe(Some(s), Some("sub_1"), f, &cat);
        // Creator -> Studio paid before Starter -> Creator: each grant is for its own plan.
        let first = paid(&starter, &upgrade("creator", "studio", JULY_1))
            .unwrap()
            .unwrap();
        assert_eq!(first.grant.as_ref().unwrap().plan, id("studio"));
        let second = paid(&first.next, &upgrade("starter", "creator", JULY_1))
            .unwrap()
            .unwrap();
        assert_eq!(
            second.next.plan,
            id("studio"),
            "the plan does not go back down"
        );
        let g = second.grant.unwrap();
        assert_eq!((g.plan, g.credits), (id("creator"), 4_000));
        // Prorations of a period the record has not reached yet wait (retried).
        assert_eq!(
            paid(&starter, &upgrade("starter", "creator", add_month(JULY_1))),
            Err(LifecycleError::PeriodNotYetKnown)
        );
        // A past-due plan's paid upgrade still brings its credits.
        let mut past_due = starter.clone();
        past_due.status = Status::PastDue;
        assert!(
            paid(&past_due, &upgrade("starter", "creator", JULY_1))
                .unwrap()
                .unwrap()
                .grant
                .is_some()
        );
    }

    #[test]
    fn a_new_subscription_after_the_old_one_ended_starts_the_plan_again() {
        let s = creator();
        let gone = deleted("sub_1", JUNE_1 + 5 * DAY);
        let ended = stripe(Some(&s), &gone).unwrap().next;
        assert_eq!(
            (ended.status, ended.period_end),
            (Status::Ended, JUNE_1 + 5 * DAY)
        );
        let later = JUNE_1 + 6 * DAY;
        // The new subscription's own event changes nothing on the ended one...
        let created = StripeFact::State {
            subscription: "sub_2".into(),
            plan: id("starter"),
            status: "active".into(),
            period_start: later,
            period_end: add_month(later),
            cancel_at_period_end: false,
            ended_at: None,
        };
        assert_eq!(stripe(Some(&ended), &created), None);
        // ...its paid invoice starts it, with its own period and anchor.
        let back = stripe(
            Some(&ended),
            &paid_on("sub_2", "starter", later, add_month(later)),
        )
        .unwrap();
        assert_eq!(back.next.status, Status::Active);
        assert_eq!(back.next.plan, id("starter"));
        assert_eq!(back.next.grace_until, None);
        assert_eq!((back.next.period_start, back.next.anchor), (later, later));
        assert_eq!(back.grant.unwrap().credits, 1000);
        // While a subscription is live, another one's states change nothing, and its paid
        // period is answered so that Stripe sends it again (never dropped).
        assert_eq!(
            apply_stripe(
                Some(&s),
                Some("sub_1"),
                &paid_on("sub_9", "starter", later, add_month(later)),
                &catalog()
            ),
            Err(LifecycleError::OtherSubscriptionLive)
        );
        let other_gone = deleted("sub_9", JUNE_1);
        assert_eq!(stripe(Some(&s), &other_gone), None);
    }

    #[test]
    fn a_late_first_invoice_after_an_upgrade_grants_the_period_of_the_plan_it_paid() {
        // Starter, paid; upgraded to Creator; then the first invoice's second event.
        let starter = apply(None, &Command::Subscribe(id("starter")), &catalog(), JUNE_1)
            .unwrap()
            .next;
        let mut upgraded = starter.clone();
        upgraded.plan = id("creator");
        let o = stripe(
            Some(&upgraded),
            &paid_on("sub_1", "starter", JUNE_1, JULY_1),
        )
        .unwrap();
        let g = o.grant.unwrap();
        // The grant is the period's (storage grants it once per period, whatever the plan).
        assert_eq!(
            (g.kind, g.period_start, g.credits),
            (GrantReason::Period, JUNE_1, 1000)
        );
        assert_eq!(o.next.plan, id("creator"), "the plan stays as it is");
    }

    #[test]
    fn a_failed_renewal_grants_nothing_until_paid() {
        let s = creator();
        let pd = apply(Some(&s), &Command::RenewalFailed, &catalog(), JULY_1).unwrap();
        assert_eq!(pd.grant, None);
        assert_eq!(pd.next.status, Status::PastDue);
        assert_eq!(pd.next.period_start, JULY_1);
        assert_eq!(due(&pd.next, JULY_1 + 40 * DAY), None);
        assert_eq!(
            apply(
                Some(&pd.next),
                &Command::ChangePlan(id("starter")),
                &catalog(),
                JULY_1
            )
            .unwrap_err(),
            LifecycleError::PastDue
        );
        let paid = apply(
            Some(&pd.next),
            &Command::PaymentRecovered,
            &catalog(),
            JULY_1 + DAY,
        )
        .unwrap();
        assert_eq!(paid.next.status, Status::Active);
        let g = paid.grant.unwrap();
        assert_eq!((g.credits, g.period_start), (5000, JULY_1));
    }
}
