//! The life cycle with the app's own billing (no Stripe keys): subscribe, upgrade,
//! downgrade, cancel, resume, and what the clock makes due (renewal, end, purge).

use super::*;
use crate::domain::catalog::{Catalog, Plan, PlanId};

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
    use crate::domain::subscription::test_support::*;

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
    #[test]
    fn the_ledger_shows_a_live_plan_and_its_renewal_unless_cancelled() {
        let s = creator();
        assert_eq!(s.plan_and_renewal(), (Some(&id("creator")), Some(JULY_1)));
        let cancelled = apply(Some(&s), &Command::Cancel, &catalog(), JUNE_1)
            .unwrap()
            .next;
        assert_eq!(cancelled.plan_and_renewal(), (Some(&id("creator")), None));
        let past_due = apply(Some(&s), &Command::RenewalFailed, &catalog(), JULY_1)
            .unwrap()
            .next;
        assert_eq!(past_due.plan_and_renewal(), (Some(&id("creator")), None));
        let ended = apply(Some(&cancelled), &Command::End, &catalog(), JULY_1)
            .unwrap()
            .next;
        assert_eq!(ended.plan_and_renewal(), (None, None));
    }

    #[test]
    fn grants_name_their_plan_and_their_local_payment_once_per_period() {
        let cat = with_studio();
        let s = creator();
        let period = apply(None, &Command::Subscribe(id("creator")), &cat, JUNE_1)
            .unwrap()
            .grant
            .unwrap();
        assert_eq!(
            period.journal_reason("Creator"),
            "Creator plan: credits for this period"
        );
        assert_eq!(period.local_invoice_id(7), format!("in_local_7_{JUNE_1}"));
        let up = apply(
            Some(&s),
            &Command::ChangePlan(id("studio")),
            &cat,
            JUNE_1 + DAY,
        )
        .unwrap()
        .grant
        .unwrap();
        assert_eq!(
            up.journal_reason("Studio"),
            "Upgrade to Studio: extra credits for the rest of this period"
        );
        assert_eq!(
            up.local_invoice_id(7),
            format!("in_local_7_{JUNE_1}_upgrade_studio")
        );
    }
}
