//! E-mail notices (issue 16): which there are, which a customer may turn off (all but
//! payment failures), when one is due, what each says, and when a failed sending is tried
//! again. The outbox that holds them is `server::db::notices`; the scheduler that finds
//! and sends them is `server::services::notices`.

use crate::domain::catalog::format_usd;
use crate::domain::credits::group_thousands;
use crate::domain::ledger::UnixSeconds;
use crate::domain::zone::Zone;

const DAY: i64 = 86_400;
/// "Your plan ends in 3 days": sent once the end is this close.
pub const PLAN_ENDING_AHEAD: i64 = 3 * DAY;
/// "Your grace period ends in 7 days": sent once the end is this close.
pub const GRACE_ENDING_AHEAD: i64 = 7 * DAY;
/// A notice that cannot be sent is tried this many times in all (over about a day and a
/// half: an SMTP server down for a day loses nothing), then left as failed.
pub const MAX_ATTEMPTS: i64 = 14;
/// The shares of the period's credits a customer can ask to hear about (P17), in percent.
pub const USAGE_LEVELS: [u8; 3] = [50, 80, 100];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    LowBalance,
    UsageAlert,
    TopUpMade,
    TopUpFailed,
    RenewalFailed,
    PlanEnding,
    GraceEnding,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 7] = [
        NoticeKind::LowBalance,
        NoticeKind::UsageAlert,
        NoticeKind::TopUpMade,
        NoticeKind::TopUpFailed,
        NoticeKind::RenewalFailed,
        NoticeKind::PlanEnding,
        NoticeKind::GraceEnding,
    ];

    /// As stored (`notices.kind`).
    pub fn key(self) -> &'static str {
        match self {
            NoticeKind::LowBalance => "low_balance",
            NoticeKind::UsageAlert => "usage_alert",
            NoticeKind::TopUpMade => "top_up_made",
            NoticeKind::TopUpFailed => "top_up_failed",
            NoticeKind::RenewalFailed => "renewal_failed",
            NoticeKind::PlanEnding => "plan_ending",
            NoticeKind::GraceEnding => "grace_ending",
        }
    }

    pub fn parse(key: &str) -> Option<NoticeKind> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }

    /// Payment failures are always sent: a customer who turned them off would find out
    /// only when a generation is refused.
    pub fn can_turn_off(self) -> bool {
        !matches!(self, NoticeKind::TopUpFailed | NoticeKind::RenewalFailed)
    }
}

/// What a customer wants to be told. The default: every notice, no usage alerts (a
/// customer asks for those, P17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NoticeSettings {
    pub low_balance: bool,
    pub top_up_made: bool,
    pub plan_ending: bool,
    pub grace_ending: bool,
    /// P17: tell me at 50, 80, 100% of the period's credits used (in `USAGE_LEVELS` order).
    pub usage: [bool; 3],
}

impl Default for NoticeSettings {
    fn default() -> Self {
        NoticeSettings {
            low_balance: true,
            top_up_made: true,
            plan_ending: true,
            grace_ending: true,
            usage: [false; 3],
        }
    }
}

impl NoticeSettings {
    /// Whether a notice of `kind` is sent. A usage alert is sent for each level the
    /// customer chose; choosing it is asking for the e-mail.
    pub fn wants(&self, kind: NoticeKind) -> bool {
        match kind {
            NoticeKind::LowBalance => self.low_balance,
            NoticeKind::TopUpMade => self.top_up_made,
            NoticeKind::PlanEnding => self.plan_ending,
            NoticeKind::GraceEnding => self.grace_ending,
            NoticeKind::UsageAlert => self.usage.contains(&true),
            NoticeKind::TopUpFailed | NoticeKind::RenewalFailed => true,
        }
    }

    /// The usage levels chosen, lowest first.
    pub fn usage_levels(&self) -> Vec<u8> {
        USAGE_LEVELS
            .into_iter()
            .zip(self.usage)
            .filter_map(|(level, on)| on.then_some(level))
            .collect()
    }
}

/// The share of `plan_credits` that `used` is, in whole percent rounded down.
pub fn used_percent(used: u64, plan_credits: u64) -> u64 {
    if plan_credits == 0 {
        return 0;
    }
    u64::try_from(u128::from(used) * 100 / u128::from(plan_credits)).unwrap_or(u64::MAX)
}

/// The chosen levels `used` has reached, lowest first (P17).
pub fn levels_reached(used: u64, plan_credits: u64, chosen: &[u8]) -> Vec<u8> {
    let share = used_percent(used, plan_credits);
    if plan_credits == 0 {
        return Vec::new();
    }
    chosen
        .iter()
        .copied()
        .filter(|level| share >= u64::from(*level))
        .collect()
}

/// A plan cancelled at the end of its period, within three days of it.
pub fn plan_ending_due(period_end: UnixSeconds, now: UnixSeconds) -> bool {
    now < period_end && period_end - now <= PLAN_ENDING_AHEAD
}

/// A grace period within seven days of its end.
pub fn grace_ending_due(grace_until: UnixSeconds, now: UnixSeconds) -> bool {
    now < grace_until && grace_until - now <= GRACE_ENDING_AHEAD
}

/// What a failed sending does next: tried again at the time given, or given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(UnixSeconds),
    GiveUp,
}

/// After the `attempts`-th failed try (1 for the first): a minute, then doubling to at
/// most six hours, until `MAX_ATTEMPTS`; a refusal the server says is permanent (an
/// address that does not exist) is not tried again.
pub fn after_failure(attempts: i64, permanent: bool, now: UnixSeconds) -> AfterFailure {
    if permanent || attempts >= MAX_ATTEMPTS {
        return AfterFailure::GiveUp;
    }
    let exponent = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let wait = (60_i64 << exponent).min(6 * 3_600);
    AfterFailure::RetryAt(now + wait)
}

/// An event a notice tells of, with what the letter says and what makes it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The balance fell below the low-balance share of the plan (P10's early warning),
    /// once per period.
    LowBalance {
        available: u64,
        plan_credits: u64,
        period_start: UnixSeconds,
        renews_at: UnixSeconds,
    },
    /// `level` percent of the period's credits used (P17), once per period and level.
    UsageAlert {
        level: u8,
        used: u64,
        plan_credits: u64,
        period_start: UnixSeconds,
        renews_at: UnixSeconds,
    },
    /// An automatic top-up was bought (P16).
    TopUpMade {
        payment: String,
        credits: u64,
        amount_cents: u64,
    },
    /// An automatic top-up could not be charged (P16); `stopped` when no more are tried.
    TopUpFailed {
        payment: String,
        reason: String,
        stopped: bool,
    },
    /// A renewal's payment failed (Stripe's `invoice.payment_failed`), once per invoice.
    RenewalFailed {
        invoice: String,
        plan: String,
        amount_cents: u64,
    },
    /// A cancelled plan ends in three days or less, once per end date.
    PlanEnding { plan: String, ends_at: UnixSeconds },
    /// The grace period ends in seven days or less, once per end date.
    GraceEnding { ends_at: UnixSeconds },
}

/// A notice as it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub subject: String,
    pub body: String,
}

impl Notice {
    pub fn kind(&self) -> NoticeKind {
        match self {
            Notice::LowBalance { .. } => NoticeKind::LowBalance,
            Notice::UsageAlert { .. } => NoticeKind::UsageAlert,
            Notice::TopUpMade { .. } => NoticeKind::TopUpMade,
            Notice::TopUpFailed { .. } => NoticeKind::TopUpFailed,
            Notice::RenewalFailed { .. } => NoticeKind::RenewalFailed,
            Notice::PlanEnding { .. } => NoticeKind::PlanEnding,
            Notice::GraceEnding { .. } => NoticeKind::GraceEnding,
        }
    }

    /// Names the event, so it makes one notice however often, and by however many
    /// instances, it is seen.
    pub fn dedupe_key(&self, account: i64) -> String {
        let kind = self.kind().key();
        match self {
            Notice::LowBalance { period_start, .. } => format!("{kind}:{account}:{period_start}"),
            Notice::UsageAlert {
                level,
                period_start,
                ..
            } => format!("{kind}:{account}:{period_start}:{level}"),
            Notice::TopUpMade { payment, .. } | Notice::TopUpFailed { payment, .. } => {
                format!("{kind}:{account}:{payment}")
            }
            Notice::RenewalFailed { invoice, .. } => format!("{kind}:{account}:{invoice}"),
            Notice::PlanEnding { ends_at, .. } | Notice::GraceEnding { ends_at } => {
                format!("{kind}:{account}:{ends_at}")
            }
        }
    }

    /// The e-mail, with dates in the customer's zone. The link to act on it is added
    /// when it is sent ([`Letter::text`]), where the app's address is known.
    pub fn letter(&self, zone: &Zone) -> Letter {
        let credits = |n: u64| format!("{} credits", group_thousands(n));
        let (subject, text) = match self {
            Notice::LowBalance {
                available,
                plan_credits,
                renews_at,
                ..
            } => (
                "Your credits are running low".to_owned(),
                format!(
                    "You have {} left of your plan's {} this period. Your plan renews on {}. \
                     To keep generating before then, buy a top-up on your Subscription page.",
                    credits(*available),
                    credits(*plan_credits),
                    zone.long_date(*renews_at)
                ),
            ),
            Notice::UsageAlert {
                level,
                used,
                plan_credits,
                renews_at,
                ..
            } => (
                format!("You have used {level}% of this period's credits"),
                format!(
                    "You have used {} of your plan's {} this period ({level}%). Your plan \
                     renews on {}. You asked to be told at {level}%; you can change that on \
                     your Subscription page.",
                    credits(*used),
                    credits(*plan_credits),
                    zone.long_date(*renews_at)
                ),
            ),
            Notice::TopUpMade {
                credits: n,
                amount_cents,
                ..
            } => (
                "Automatic top-up made".to_owned(),
                format!(
                    "Your balance fell below your threshold, so we added {} for {}, as you set \
                     up. Your Subscription page shows what this month's cap has left.",
                    credits(*n),
                    format_usd(*amount_cents)
                ),
            ),
            Notice::TopUpFailed {
                reason, stopped, ..
            } => (
                "Automatic top-up failed".to_owned(),
                format!(
                    "We could not charge your saved card for an automatic top-up: {reason}. {}",
                    if *stopped {
                        "Automatic top-ups are stopped until you fix the card on your \
                         Subscription page."
                    } else {
                        "We will try again when your balance next falls below your \
                         threshold."
                    }
                ),
            ),
            Notice::RenewalFailed {
                plan, amount_cents, ..
            } => (
                "Your plan's renewal payment failed".to_owned(),
                format!(
                    "The payment of {} for your {plan} plan did not go through. Your \
                     credits stay, but new ones come only once the payment is made: update \
                     your card from your Subscription page.",
                    format_usd(*amount_cents)
                ),
            ),
            Notice::PlanEnding { plan, ends_at } => (
                format!("Your plan ends on {}", zone.long_date(*ends_at)),
                format!(
                    "You cancelled your {plan} plan; it ends on {}. Your subscription \
                     credits end with it; top-up credits stay. Changed your mind? Resume it \
                     on your Subscription page before then.",
                    zone.long_date(*ends_at)
                ),
            ),
            Notice::GraceEnding { ends_at } => (
                format!(
                    "Your saved work may be deleted after {}",
                    zone.long_date(*ends_at)
                ),
                format!(
                    "Your plan has ended, and the grace period that keeps your work ends on \
                     {}. After that your generated content may be deleted for good (your \
                     billing records stay). Subscribe again before then to keep it.",
                    zone.long_date(*ends_at)
                ),
            ),
        };
        Letter {
            subject,
            body: text,
        }
    }
}

impl Letter {
    /// The e-mail's text: the body, then `page` (the Subscription page's address).
    pub fn text(body: &str, page: &str) -> String {
        format!("{body}\n\nYour Subscription page: {page}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_keys() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(kind.key()), Some(kind));
        }
        assert_eq!(NoticeKind::parse("spam"), None);
    }

    #[test]
    fn payment_failures_cannot_be_turned_off() {
        let off = NoticeSettings {
            low_balance: false,
            top_up_made: false,
            plan_ending: false,
            grace_ending: false,
            usage: [false; 3],
        };
        for kind in NoticeKind::ALL {
            assert_eq!(off.wants(kind), !kind.can_turn_off(), "{kind:?}");
        }
        let on = NoticeSettings::default();
        assert!(on.wants(NoticeKind::LowBalance));
        assert!(
            !on.wants(NoticeKind::UsageAlert),
            "usage alerts are asked for"
        );
    }

    #[test]
    fn p17_levels_are_reached_at_their_share_and_not_before() {
        let chosen = [50, 80, 100];
        assert!(levels_reached(499, 1_000, &chosen).is_empty());
        assert_eq!(levels_reached(500, 1_000, &chosen), vec![50]);
        assert_eq!(levels_reached(999, 1_000, &chosen), vec![50, 80]);
        assert_eq!(levels_reached(1_000, 1_000, &chosen), vec![50, 80, 100]);
        assert_eq!(levels_reached(5_000, 1_000, &[80]), vec![80]);
        assert!(
            levels_reached(5, 0, &chosen).is_empty(),
            "no plan, no share"
        );
        assert_eq!(used_percent(u64::MAX, 1), u64::MAX);
    }

    #[test]
    fn the_chosen_levels_come_lowest_first() {
        let s = NoticeSettings {
            usage: [true, false, true],
            ..NoticeSettings::default()
        };
        assert_eq!(s.usage_levels(), vec![50, 100]);
        assert!(s.wants(NoticeKind::UsageAlert));
    }

    #[test]
    fn endings_are_due_within_their_days_and_not_after() {
        let end = 100 * DAY;
        assert!(!plan_ending_due(end, end - 3 * DAY - 1));
        assert!(plan_ending_due(end, end - 3 * DAY));
        assert!(plan_ending_due(end, end - 1));
        assert!(!plan_ending_due(end, end), "over: nothing to warn of");
        assert!(!grace_ending_due(end, end - 7 * DAY - 1));
        assert!(grace_ending_due(end, end - 7 * DAY));
    }

    #[test]
    fn a_failed_sending_waits_longer_each_time_then_gives_up() {
        assert_eq!(after_failure(1, false, 0), AfterFailure::RetryAt(60));
        assert_eq!(after_failure(2, false, 0), AfterFailure::RetryAt(120));
        assert_eq!(after_failure(7, false, 0), AfterFailure::RetryAt(3_840));
        assert_eq!(after_failure(MAX_ATTEMPTS, false, 0), AfterFailure::GiveUp);
        assert_eq!(after_failure(1, true, 0), AfterFailure::GiveUp);
        assert_eq!(
            after_failure(12, false, 0),
            AfterFailure::RetryAt(6 * 3_600),
            "at most 6 h apart"
        );
        // Every try but the last waits: a server down for a day loses nothing.
        let waited: i64 = (1..MAX_ATTEMPTS)
            .map(|n| match after_failure(n, false, 0) {
                AfterFailure::RetryAt(at) => at,
                AfterFailure::GiveUp => panic!("gave up after {n}"),
            })
            .sum();
        assert!(waited >= 24 * 3_600, "{waited}");
    }

    #[test]
    fn each_event_has_its_own_key_and_the_same_event_the_same_key() {
        let low = |period_start| Notice::LowBalance {
            available: 10,
            plan_credits: 1_000,
            period_start,
            renews_at: 0,
        };
        assert_eq!(low(1).dedupe_key(7), low(1).dedupe_key(7));
        assert_ne!(low(1).dedupe_key(7), low(2).dedupe_key(7), "a new period");
        assert_ne!(
            low(1).dedupe_key(7),
            low(1).dedupe_key(8),
            "another account"
        );
        let usage = |level| Notice::UsageAlert {
            level,
            used: 0,
            plan_credits: 1,
            period_start: 1,
            renews_at: 0,
        };
        assert_ne!(usage(50).dedupe_key(7), usage(80).dedupe_key(7));
    }

    #[test]
    fn a_letter_names_the_figures_the_dates_in_the_customers_zone_and_the_page() {
        let letter = Notice::UsageAlert {
            level: 80,
            used: 8_123,
            plan_credits: 10_000,
            period_start: 0,
            // 1 July 2026, 00:30 UTC.
            renews_at: 1_782_865_800,
        }
        .letter(&Zone::utc());
        assert_eq!(letter.subject, "You have used 80% of this period's credits");
        assert!(letter.body.contains("8,123 credits"), "{}", letter.body);
        assert!(letter.body.contains("10,000 credits"));
        assert!(letter.body.contains("1 July 2026"));
        let text = Letter::text(&letter.body, "https://billing.example.com/subscription");
        assert!(text.starts_with(&letter.body));
        assert!(
            text.ends_with(
                "\n\nYour Subscription page: https://billing.example.com/subscription\n"
            )
        );
    }
}
