//! Where the credits went: per-day usage in a period, by operation (P6), for the chart.

use crate::domain::pricing::Operation;
use serde::{Deserialize, Serialize};

pub const DAY: i64 = 86_400;

/// Credits one finished generation cost (after any refund), and when it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsagePoint {
    pub at: i64,
    pub operation: Operation,
    pub credits: u64,
}

/// One day of the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyUsage {
    pub day_start: i64,
    /// Credits per operation, in `Operation::ALL` order.
    pub by_operation: [u64; 6],
    pub total: u64,
}

fn index(op: Operation) -> usize {
    Operation::ALL.iter().position(|o| *o == op).unwrap_or(0)
}

/// The start of the (UTC) calendar day `t` falls on.
pub fn day_start(t: i64) -> i64 {
    t - t.rem_euclid(DAY)
}

/// Buckets `points` into the calendar days (UTC) of the period: from the start of the day
/// it began (so the first day is a whole day, named by its date) to its end. Points outside
/// are left out. Every day is present, empty or not.
pub fn daily_usage(points: &[UsagePoint], period_start: i64, period_end: i64) -> Vec<DailyUsage> {
    let period_start = day_start(period_start);
    let days = ((period_end - period_start).max(0) + DAY - 1) / DAY;
    let mut out: Vec<DailyUsage> = (0..days)
        .map(|d| DailyUsage {
            day_start: period_start + d * DAY,
            by_operation: [0; 6],
            total: 0,
        })
        .collect();
    for p in points
        .iter()
        .filter(|p| p.at >= period_start && p.at < period_end)
    {
        let day = &mut out[((p.at - period_start) / DAY) as usize];
        day.by_operation[index(p.operation)] += p.credits;
        day.total += p.credits;
    }
    out
}

/// Totals per operation over the days, largest first, leaving out operations not used.
pub fn totals_by_operation(days: &[DailyUsage]) -> Vec<(Operation, u64)> {
    let mut totals: Vec<(Operation, u64)> = Operation::ALL
        .iter()
        .map(|op| (*op, days.iter().map(|d| d.by_operation[index(*op)]).sum()))
        .filter(|(_, n)| *n > 0)
        .collect();
    totals.sort_by_key(|t| std::cmp::Reverse(t.1));
    totals
}

/// The receipt of one generation (P2, P8): what was estimated, held, charged, released and
/// credited back, and which kinds of credit paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationReceipt {
    pub hold_id: i64,
    pub operation: Operation,
    pub started_at: i64,
    pub status: crate::domain::ledger::HoldStatus,
    pub quantity: u64,
    pub estimate: u64,
    pub reserved: u64,
    pub actual_quantity: Option<u64>,
    pub charged: u64,
    pub released: u64,
    /// Actual cost the balance could not cover (never charged).
    pub shortfall: u64,
    /// Actual cost above the estimate's limit, the hold plus the capture tolerance (never
    /// charged).
    #[serde(default)]
    pub over_limit: u64,
    pub refunded: u64,
    pub refund_reasons: Vec<String>,
    pub paid_subscription: u64,
    pub paid_adjustment: u64,
    pub paid_topup: u64,
}

impl OperationReceipt {
    /// What the generation finally cost: the charge less what came back.
    pub fn net_cost(&self) -> u64 {
        self.charged.saturating_sub(self.refunded)
    }
}

/// True when the balance is below `percent` of the plan's credits per period (P10's early
/// warning).
pub fn is_low(balance: u64, plan_credits: u64, percent: u64) -> bool {
    plan_credits > 0 && balance.saturating_mul(100) < plan_credits.saturating_mul(percent)
}

#[cfg(test)]
mod tests {
    #[test]
    fn p10_low_balance_is_below_the_share_of_the_plan() {
        assert!(is_low(49, 500, 10));
        assert!(!is_low(50, 500, 10));
        assert!(!is_low(0, 0, 10), "no plan, no warning");
    }

    use super::*;

    #[test]
    fn every_day_of_the_period_is_there_and_points_land_on_their_day() {
        let points = [
            UsagePoint {
                at: 10,
                operation: Operation::Music,
                credits: 5,
            },
            UsagePoint {
                at: DAY + 1,
                operation: Operation::Music,
                credits: 7,
            },
            UsagePoint {
                at: DAY + 2,
                operation: Operation::AssistantChat,
                credits: 1,
            },
            UsagePoint {
                at: 3 * DAY,
                operation: Operation::Music,
                credits: 99,
            }, // after the period
        ];
        let days = daily_usage(&points, 0, 3 * DAY);
        assert_eq!(days.len(), 3);
        assert_eq!(
            days.iter().map(|d| d.total).collect::<Vec<_>>(),
            vec![5, 8, 0]
        );
        assert_eq!(days[1].by_operation[index(Operation::AssistantChat)], 1);
    }

    #[test]
    fn a_period_that_starts_mid_day_shows_its_whole_first_day() {
        // Subscribed at 15:00 on day 0; a generation at 15:30 and one at 09:00 next day.
        let start = 15 * 3_600;
        let end = start + 31 * DAY;
        let points = [
            UsagePoint {
                at: start + 1_800,
                operation: Operation::Music,
                credits: 3,
            },
            UsagePoint {
                at: DAY + 9 * 3_600,
                operation: Operation::Music,
                credits: 4,
            },
        ];
        let days = daily_usage(&points, start, end);
        assert_eq!(
            days[0].day_start, 0,
            "the first day is the day the period began"
        );
        assert_eq!(days[0].total, 3);
        assert_eq!(days[1].total, 4);
        assert_eq!(days.len(), 32, "31 days from 15:00 touch 32 calendar days");
        assert_eq!(day_start(DAY + 5), DAY);
        assert_eq!(day_start(-5), -DAY);
    }

    #[test]
    fn chart_totals_equal_the_sum_of_the_points_in_the_period() {
        let points: Vec<UsagePoint> = (0..50)
            .map(|i| UsagePoint {
                at: i * 3_600 * 7,
                operation: Operation::ALL[(i % 6) as usize],
                credits: (i as u64) % 13,
            })
            .collect();
        let days = daily_usage(&points, 0, 30 * DAY);
        let in_period: u64 = points
            .iter()
            .filter(|p| p.at < 30 * DAY)
            .map(|p| p.credits)
            .sum();
        assert_eq!(days.iter().map(|d| d.total).sum::<u64>(), in_period);
        assert_eq!(
            totals_by_operation(&days).iter().map(|t| t.1).sum::<u64>(),
            in_period
        );
    }
}
