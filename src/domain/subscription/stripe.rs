//! Stripe as the source of truth: what a subscription object or an invoice says, and
//! what it changes. Credits follow the same rules as the app's own billing.

use super::*;
use crate::domain::catalog::{Catalog, PlanId};

/// A Stripe subscription's `status`, as the life cycle reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeStatus {
    Active,
    Trialing,
    PastDue,
    Unpaid,
    Canceled,
    /// The first invoice is not paid yet (a bank debit still clearing, a card that needs
    /// the customer).
    Incomplete,
    /// The first invoice was never paid: final.
    IncompleteExpired,
    Paused,
    /// A status this app does not know (kept for the log).
    Other(String),
}

impl StripeStatus {
    const KNOWN: [(&'static str, StripeStatus); 8] = [
        ("active", StripeStatus::Active),
        ("trialing", StripeStatus::Trialing),
        ("past_due", StripeStatus::PastDue),
        ("unpaid", StripeStatus::Unpaid),
        ("canceled", StripeStatus::Canceled),
        ("incomplete", StripeStatus::Incomplete),
        ("incomplete_expired", StripeStatus::IncompleteExpired),
        ("paused", StripeStatus::Paused),
    ];

    pub fn parse(s: &str) -> StripeStatus {
        Self::KNOWN
            .iter()
            .find(|(name, _)| *name == s)
            .map_or_else(|| StripeStatus::Other(s.to_owned()), |(_, st)| st.clone())
    }

    pub fn as_str(&self) -> &str {
        match self {
            StripeStatus::Other(s) => s,
            known => Self::KNOWN
                .iter()
                .find(|(_, st)| st == known)
                .map_or("", |(name, _)| name),
        }
    }

    /// Ended for good: it bills no more.
    pub fn has_ended(&self) -> bool {
        matches!(
            self,
            StripeStatus::Canceled | StripeStatus::IncompleteExpired
        )
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
        status: StripeStatus,
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
            if *status == StripeStatus::Canceled {
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
            if matches!(status, StripeStatus::PastDue | StripeStatus::Unpaid) {
                next.status = Status::PastDue;
            } else if matches!(status, StripeStatus::Active | StripeStatus::Trialing) {
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

/// The time a fact takes its place in the order of Stripe's subscription states: a
/// subscription state's (when Stripe made it, `at`). An end is final whenever its news
/// arrives, and an invoice is no state: neither takes a place (`None`).
pub fn state_time(fact: &StripeFact, at: Option<UnixSeconds>) -> Option<UnixSeconds> {
    match fact {
        StripeFact::State { status, .. } if *status != StripeStatus::Canceled => at,
        _ => None,
    }
}

/// Whether a state at `at` (its [`state_time`]) is older than the last one applied: then
/// it was delivered late and changes nothing.
pub fn state_is_stale(at: UnixSeconds, last: Option<UnixSeconds>) -> bool {
    last.is_some_and(|last| at < last)
}

/// The plan an invoice paid (or failed to pay) for: the period's, the one upgraded to, or
/// else the plan on record.
pub fn invoice_plan(fact: &StripeFact, current: Option<&Subscription>) -> Option<PlanId> {
    match fact {
        StripeFact::PeriodPaid { plan, .. } => Some(plan.clone()),
        StripeFact::UpgradePaid { to, .. } => Some(to.clone()),
        _ => current.map(|s| s.plan.clone()),
    }
}

/// What an invoice is recorded as buying: the credits it granted, else its plan's credits
/// per period (a failed invoice, or a paid one whose credits were granted before). A
/// payment row counts at least one credit; an invoice naming no plan this catalogue
/// knows (a plan since retired, say) is recorded with that one.
pub fn invoice_credits(
    granted: Option<&PeriodGrant>,
    plan: Option<&PlanId>,
    catalog: &Catalog,
) -> u64 {
    granted
        .map(|g| g.credits)
        .or_else(|| {
            plan.and_then(|p| catalog.plan(p))
                .map(|p| p.credits_per_period.get())
        })
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::subscription::test_support::*;

    fn stripe_state(plan: &str, status: &str, start: i64, end: i64, cancel: bool) -> StripeFact {
        StripeFact::State {
            subscription: "sub_1".into(),
            plan: id(plan),
            status: StripeStatus::parse(status),
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
            status: StripeStatus::Canceled,
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
    fn stripe_statuses_round_trip_and_keep_an_unknown_one() {
        for (name, _) in StripeStatus::KNOWN {
            assert_eq!(StripeStatus::parse(name).as_str(), name);
        }
        assert_eq!(
            StripeStatus::parse("frozen"),
            StripeStatus::Other("frozen".into())
        );
        assert!(StripeStatus::Canceled.has_ended() && StripeStatus::IncompleteExpired.has_ended());
        assert!(!StripeStatus::Incomplete.has_ended());
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
            status: StripeStatus::Active,
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
    #[test]
    fn a_state_older_than_the_last_applied_is_stale_but_an_end_never_is() {
        let active = stripe_state("creator", "active", JUNE_1, JULY_1, false);
        let ended = stripe_state("creator", "canceled", JUNE_1, JULY_1, false);
        // As the life cycle asks: a fact with a place in the order, then its age.
        let stale = |fact: &StripeFact, at: Option<i64>, last: Option<i64>| {
            state_time(fact, at).is_some_and(|at| state_is_stale(at, last))
        };
        assert!(stale(&active, Some(10), Some(11)));
        assert!(!stale(&active, Some(11), Some(11)));
        assert!(!stale(&active, Some(12), Some(11)));
        assert!(!stale(&active, Some(10), None));
        assert!(!stale(&active, None, Some(11)));
        assert!(!stale(&ended, Some(10), Some(11)));
        assert_eq!(state_time(&active, Some(10)), Some(10));
        assert_eq!(state_time(&ended, Some(10)), None);
        let paid = StripeFact::PeriodPaid {
            subscription: None,
            plan: id("creator"),
            period_start: JUNE_1,
            period_end: JULY_1,
        };
        assert!(!stale(&paid, Some(10), Some(11)));
        assert_eq!(state_time(&paid, Some(10)), None);
    }

    #[test]
    fn an_invoice_is_recorded_with_what_it_bought() {
        let cat = with_studio();
        let s = creator();
        let paid = StripeFact::PeriodPaid {
            subscription: None,
            plan: id("studio"),
            period_start: JUNE_1,
            period_end: JULY_1,
        };
        let upgrade = StripeFact::UpgradePaid {
            subscription: None,
            from: id("creator"),
            to: id("studio"),
            from_time: JUNE_1,
            period_end: JULY_1,
        };
        let failed = StripeFact::PaymentFailed {
            subscription: None,
            renewal: true,
        };
        assert_eq!(invoice_plan(&paid, Some(&s)), Some(id("studio")));
        assert_eq!(invoice_plan(&upgrade, Some(&s)), Some(id("studio")));
        assert_eq!(invoice_plan(&failed, Some(&s)), Some(id("creator")));
        assert_eq!(invoice_plan(&failed, None), None);
        // What was granted now, else the plan's credits per period.
        let g = upgrade_grant(
            cat.plan(&id("creator")).unwrap(),
            cat.plan(&id("studio")).unwrap(),
            s.period_start,
            s.period_end,
            JUNE_1 + 15 * DAY,
        )
        .unwrap();
        assert_eq!(
            invoice_credits(Some(&g), Some(&id("studio")), &cat),
            g.credits
        );
        assert_eq!(invoice_credits(None, Some(&id("studio")), &cat), 20_000);
        assert_eq!(invoice_credits(None, Some(&id("retired")), &cat), 1);
        assert_eq!(invoice_credits(None, None, &cat), 1);
    }
}
