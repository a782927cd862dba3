//! The ledger's rules: pure functions over a snapshot of an account's grants and holds
//! (the module above says which of them the PostgreSQL functions repeat).

use super::{GrantKind, UnixSeconds};
use crate::domain::credits::Credits;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A grant as the ledger sees it when deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub kind: GrantKind,
    pub remaining: Credits,
    pub expires_at: Option<UnixSeconds>,
}

impl Grant {
    /// A grant is spendable until (not at) its expiry.
    pub fn is_live(&self, now: UnixSeconds) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// Credits taken from (or returned to) one grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub grant_id: i64,
    pub kind: GrantKind,
    pub amount: Credits,
}

/// Not enough free credits for an operation (P10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this needs {needed} credits but only {available} are available")]
pub struct Insufficient {
    pub needed: Credits,
    pub available: Credits,
}

/// The order grants are spent in (P5): subscription grants first (earliest expiry
/// first), then adjustments (those with an expiry first), then top-ups; within a rank the
/// oldest grant (lowest id) first. Only live grants with credits left take part.
pub fn draw_order(grants: &[Grant], now: UnixSeconds) -> Vec<&Grant> {
    let mut live: Vec<&Grant> = grants
        .iter()
        .filter(|g| g.is_live(now) && !g.remaining.is_zero())
        .collect();
    live.sort_by(|a, b| {
        a.kind
            .draw_rank()
            .cmp(&b.kind.draw_rank())
            .then_with(|| match (a.expires_at, b.expires_at) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
            .then_with(|| a.id.cmp(&b.id))
    });
    live
}

/// Credits in live grants: what the customer owns right now, held or not.
pub fn balance(grants: &[Grant], now: UnixSeconds) -> Credits {
    grants
        .iter()
        .filter(|g| g.is_live(now))
        .fold(Credits::ZERO, |sum, g| {
            sum.checked_add(g.remaining).unwrap_or(sum)
        })
}

/// Takes `amount` from the grants in draw order.
pub fn plan_draw(
    grants: &[Grant],
    amount: Credits,
    now: UnixSeconds,
) -> Result<Vec<Allocation>, Insufficient> {
    let mut left = amount.get();
    let mut out = Vec::new();
    for g in draw_order(grants, now) {
        if left == 0 {
            break;
        }
        let take = left.min(g.remaining.get());
        left -= take;
        out.push(Allocation {
            grant_id: g.id,
            kind: g.kind,
            amount: Credits::new(take).unwrap_or(Credits::ZERO),
        });
    }
    if left > 0 {
        return Err(Insufficient {
            needed: amount,
            available: balance(grants, now),
        });
    }
    Ok(out)
}

/// What may be reserved: the balance less what other holds already reserved.
pub fn available(balance: Credits, held: Credits) -> Credits {
    balance.checked_sub(held).unwrap_or(Credits::ZERO)
}

/// A hold of `amount` is allowed only if the free balance covers all of it (P10): no
/// partial holds.
pub fn check_reserve(balance: Credits, held: Credits, amount: Credits) -> Result<(), Insufficient> {
    let free = available(balance, held);
    if amount > free {
        return Err(Insufficient {
            needed: amount,
            available: free,
        });
    }
    Ok(())
}

/// The outcome of capturing a hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturePlan {
    /// What is charged: the actual cost, or less if it is above the limit or the balance
    /// could not cover it.
    pub charged: Credits,
    /// What the actual cost exceeded the hold's limit by (never charged; P2 lets the final
    /// charge differ only slightly from the estimate the customer saw).
    pub over_limit: Credits,
    /// What of the cost within the limit the balance could not cover.
    pub shortfall: Credits,
    /// The held credits given back (the hold less what was charged, never below zero).
    pub released: Credits,
    pub allocations: Vec<Allocation>,
}

/// The most a capture of a hold of `held` may charge: the hold plus `tolerance_percent`
/// of it, rounded up.
pub fn capture_limit(held: Credits, tolerance_percent: u32) -> Credits {
    let extra = (u128::from(held.get()) * u128::from(tolerance_percent)).div_ceil(100);
    let limit = u128::from(held.get()) + extra;
    Credits::new(u64::try_from(limit).unwrap_or(u64::MAX)).unwrap_or(Credits::MAX)
}

/// Captures a hold of `held_amount` at the `actual` cost. At most the hold's limit
/// ([`capture_limit`]) is billed; the rest is `over_limit`. The hold's own credits and
/// the free balance (what other holds have not reserved) may pay; if they cannot cover
/// what is billed, what they cover is charged and the rest reported as a shortfall. The
/// balance never goes negative.
pub fn plan_capture(
    grants: &[Grant],
    held_amount: Credits,
    other_held: Credits,
    actual: Credits,
    tolerance_percent: u32,
    now: UnixSeconds,
) -> CapturePlan {
    let billable = actual.min(capture_limit(held_amount, tolerance_percent));
    let payable = available(balance(grants, now), other_held);
    let charged = billable.min(payable);
    let allocations = plan_draw(grants, charged, now).unwrap_or_default();
    CapturePlan {
        charged,
        over_limit: actual.checked_sub(billable).unwrap_or(Credits::ZERO),
        shortfall: billable.checked_sub(charged).unwrap_or(Credits::ZERO),
        released: held_amount.checked_sub(charged).unwrap_or(Credits::ZERO),
        allocations,
    }
}

/// One grant that paid for a charge, with what of it has already been refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paid {
    pub allocation: Allocation,
    pub refunded: Credits,
}

/// Where one part of a refund goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundPart {
    /// The grant that originally paid (whose `refunded` counter grows).
    pub paid_by: i64,
    /// The grant the credits return to: the one that paid if still live, otherwise the
    /// current subscription grant; `None` when there is no live subscription grant (the
    /// storage then creates an adjustment grant so nothing is lost).
    pub to: Option<i64>,
    pub amount: Credits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("only {refundable} credits of this charge can still be refunded")]
    MoreThanCharged { refundable: Credits },
}

/// Returns `amount` of a charge to the grants that paid it (P8), undoing the last draws
/// first (so non-expiring credits come back before expiring ones). A grant that has since
/// expired sends its part to the current subscription grant instead.
pub fn plan_refund(
    paid: &[Paid],
    grants: &[Grant],
    amount: Credits,
    now: UnixSeconds,
) -> Result<Vec<RefundPart>, RefundError> {
    let refundable = paid.iter().fold(Credits::ZERO, |sum, p| {
        sum.checked_add(
            p.allocation
                .amount
                .checked_sub(p.refunded)
                .unwrap_or(Credits::ZERO),
        )
        .unwrap_or(sum)
    });
    if amount > refundable {
        return Err(RefundError::MoreThanCharged { refundable });
    }
    let current_subscription = grants
        .iter()
        .filter(|g| g.kind == GrantKind::Subscription && g.is_live(now))
        .max_by_key(|g| (g.expires_at, g.id))
        .map(|g| g.id);
    let mut left = amount.get();
    let mut parts = Vec::new();
    for p in paid.iter().rev() {
        if left == 0 {
            break;
        }
        let open = p
            .allocation
            .amount
            .checked_sub(p.refunded)
            .unwrap_or(Credits::ZERO)
            .get();
        let take = left.min(open);
        if take == 0 {
            continue;
        }
        left -= take;
        let live = grants
            .iter()
            .any(|g| g.id == p.allocation.grant_id && g.is_live(now));
        let to = if live {
            Some(p.allocation.grant_id)
        } else {
            current_subscription
        };
        parts.push(RefundPart {
            paid_by: p.allocation.grant_id,
            to,
            amount: Credits::new(take).unwrap_or(Credits::ZERO),
        });
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: u64) -> Credits {
        Credits::new(n).unwrap()
    }

    fn grant(id: i64, kind: GrantKind, remaining: u64, expires_at: Option<i64>) -> Grant {
        Grant {
            id,
            kind,
            remaining: c(remaining),
            expires_at,
        }
    }

    const NOW: i64 = 1_000;

    #[test]
    fn p5_subscription_credits_are_spent_before_top_ups() {
        let grants = [
            grant(1, GrantKind::Topup, 50, None),
            grant(2, GrantKind::Subscription, 30, Some(2_000)),
        ];
        let plan = plan_draw(&grants, c(40), NOW).unwrap();
        assert_eq!(
            plan,
            vec![
                Allocation {
                    grant_id: 2,
                    kind: GrantKind::Subscription,
                    amount: c(30)
                },
                Allocation {
                    grant_id: 1,
                    kind: GrantKind::Topup,
                    amount: c(10)
                },
            ]
        );
    }

    #[test]
    fn p5_oldest_top_up_first_and_earliest_expiring_subscription_first() {
        let grants = [
            grant(5, GrantKind::Topup, 10, None),
            grant(3, GrantKind::Topup, 10, None),
            grant(9, GrantKind::Subscription, 10, Some(3_000)),
            grant(8, GrantKind::Subscription, 10, Some(2_000)),
        ];
        let order: Vec<i64> = draw_order(&grants, NOW).iter().map(|g| g.id).collect();
        assert_eq!(order, vec![8, 9, 3, 5]);
    }

    #[test]
    fn adjustments_are_spent_after_subscription_credits_and_before_top_ups() {
        let grants = [
            grant(1, GrantKind::Topup, 10, None),
            grant(2, GrantKind::Adjustment, 10, None),
            grant(3, GrantKind::Adjustment, 10, Some(5_000)),
            grant(4, GrantKind::Subscription, 10, Some(2_000)),
        ];
        let order: Vec<i64> = draw_order(&grants, NOW).iter().map(|g| g.id).collect();
        assert_eq!(order, vec![4, 3, 2, 1]);
    }

    #[test]
    fn p3_expired_subscription_credits_cannot_be_spent() {
        let grants = [
            grant(1, GrantKind::Subscription, 100, Some(NOW)),
            grant(2, GrantKind::Topup, 5, None),
        ];
        assert_eq!(balance(&grants, NOW), c(5));
        assert_eq!(balance(&grants, NOW - 1), c(105));
        assert_eq!(
            plan_draw(&grants, c(6), NOW),
            Err(Insufficient {
                needed: c(6),
                available: c(5)
            })
        );
    }

    #[test]
    fn p4_top_up_credits_never_expire() {
        let grants = [grant(1, GrantKind::Topup, 7, None)];
        assert_eq!(balance(&grants, i64::MAX - 1), c(7));
    }

    #[test]
    fn p10_a_hold_the_free_balance_cannot_cover_is_refused_whole() {
        assert_eq!(
            check_reserve(c(100), c(60), c(41)),
            Err(Insufficient {
                needed: c(41),
                available: c(40)
            })
        );
        assert_eq!(check_reserve(c(100), c(60), c(40)), Ok(()));
    }

    #[test]
    fn p2_capture_charges_the_actual_cost_and_frees_the_rest() {
        let grants = [grant(1, GrantKind::Subscription, 100, Some(2_000))];
        let plan = plan_capture(&grants, c(30), c(0), c(25), 10, NOW);
        assert_eq!(
            (plan.charged, plan.released, plan.shortfall),
            (c(25), c(5), c(0))
        );
    }

    #[test]
    fn p2_capture_above_the_hold_takes_the_extra_when_the_balance_covers_it() {
        let grants = [grant(1, GrantKind::Subscription, 100, Some(2_000))];
        let plan = plan_capture(&grants, c(30), c(0), c(33), 10, NOW);
        assert_eq!(
            (plan.charged, plan.released, plan.shortfall),
            (c(33), c(0), c(0))
        );
    }

    #[test]
    fn p2_a_capture_charges_at_most_the_hold_plus_the_tolerance() {
        let grants = [grant(1, GrantKind::Subscription, 1_000, Some(2_000))];
        // A 1-credit hold captured at 900 credits: 1 + 10% rounded up = 2 is the most.
        let plan = plan_capture(&grants, c(1), c(0), c(900), 10, NOW);
        assert_eq!(
            (plan.charged, plan.over_limit, plan.shortfall, plan.released),
            (c(2), c(898), c(0), c(0))
        );
        let plan = plan_capture(&grants, c(30), c(0), c(40), 10, NOW);
        assert_eq!((plan.charged, plan.over_limit), (c(33), c(7)));
        // No tolerance: never above the hold.
        let plan = plan_capture(&grants, c(30), c(0), c(31), 0, NOW);
        assert_eq!((plan.charged, plan.over_limit), (c(30), c(1)));
        // Within the limit nothing is over it.
        let plan = plan_capture(&grants, c(30), c(0), c(12), 10, NOW);
        assert_eq!(
            (plan.charged, plan.over_limit, plan.released),
            (c(12), c(0), c(18))
        );
    }

    #[test]
    fn the_capture_limit_never_overflows() {
        assert_eq!(capture_limit(c(0), 10), c(0));
        assert_eq!(capture_limit(c(10), 10), c(11));
        assert_eq!(capture_limit(c(11), 10), c(13));
        assert_eq!(capture_limit(Credits::MAX, 100), Credits::MAX);
    }

    #[test]
    fn capture_above_what_the_balance_covers_charges_what_it_can_and_reports_the_shortfall() {
        // 100 in the account; another job holds 60; this hold is 30; the job cost 50.
        let grants = [grant(1, GrantKind::Subscription, 100, Some(2_000))];
        let plan = plan_capture(&grants, c(30), c(60), c(50), 100, NOW);
        assert_eq!(
            (plan.charged, plan.released, plan.shortfall),
            (c(40), c(0), c(10))
        );
        assert_eq!(
            plan.allocations.iter().map(|a| a.amount.get()).sum::<u64>(),
            40
        );
    }

    #[test]
    fn p8_a_refund_returns_credits_to_the_grants_that_paid_last_draw_first() {
        let grants = [
            grant(1, GrantKind::Subscription, 0, Some(2_000)),
            grant(2, GrantKind::Topup, 0, None),
        ];
        let paid = [
            Paid {
                allocation: Allocation {
                    grant_id: 1,
                    kind: GrantKind::Subscription,
                    amount: c(30),
                },
                refunded: c(0),
            },
            Paid {
                allocation: Allocation {
                    grant_id: 2,
                    kind: GrantKind::Topup,
                    amount: c(10),
                },
                refunded: c(0),
            },
        ];
        let parts = plan_refund(&paid, &grants, c(15), NOW).unwrap();
        assert_eq!(
            parts,
            vec![
                RefundPart {
                    paid_by: 2,
                    to: Some(2),
                    amount: c(10)
                },
                RefundPart {
                    paid_by: 1,
                    to: Some(1),
                    amount: c(5)
                },
            ]
        );
    }

    #[test]
    fn p8_a_refund_to_an_expired_grant_goes_to_the_current_subscription_grant() {
        let grants = [
            grant(1, GrantKind::Subscription, 0, Some(NOW)),
            grant(7, GrantKind::Subscription, 500, Some(NOW + 100)),
        ];
        let paid = [Paid {
            allocation: Allocation {
                grant_id: 1,
                kind: GrantKind::Subscription,
                amount: c(30),
            },
            refunded: c(0),
        }];
        let parts = plan_refund(&paid, &grants, c(30), NOW).unwrap();
        assert_eq!(
            parts,
            vec![RefundPart {
                paid_by: 1,
                to: Some(7),
                amount: c(30)
            }]
        );
    }

    #[test]
    fn p8_a_refund_never_exceeds_what_is_left_of_the_charge() {
        let grants = [grant(1, GrantKind::Topup, 0, None)];
        let paid = [Paid {
            allocation: Allocation {
                grant_id: 1,
                kind: GrantKind::Topup,
                amount: c(30),
            },
            refunded: c(20),
        }];
        assert_eq!(
            plan_refund(&paid, &grants, c(11), NOW),
            Err(RefundError::MoreThanCharged { refundable: c(10) })
        );
    }
}
