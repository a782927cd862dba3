//! What the subscription server functions return (see `api::subscription`).

use crate::domain::catalog::TopUpPack;
use crate::domain::ledger::BalanceView;
use crate::domain::notices::NoticeSettings;
use crate::domain::pricing::PriceBook;
use crate::domain::usage::{DailyUsage, OperationReceipt};
use crate::model::payments::PaymentLine;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub name: String,
    pub credits_per_period: u64,
}

/// The customer's last plan, once it has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedPlan {
    pub name: String,
    pub ended_at: i64,
    /// Projects and audio are kept until then (the grace period); `None` once it is over.
    pub kept_until: Option<i64>,
}

/// All of `/subscription` in one answer: the overview and the plans section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionPageData {
    pub overview: SubscriptionOverview,
    pub plans: crate::model::plans::PlanState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionOverview {
    pub balance: BalanceView,
    pub plan: Option<PlanSummary>,
    /// A plan that ended (the banner at the top of the page says so).
    pub ended_plan: Option<EndedPlan>,
    pub period_start: i64,
    pub period_end: i64,
    /// When the page was made (the records form's last day).
    pub now: i64,
    /// The window is the plan's current period; else (no live plan) the last 30 days.
    pub plan_period: bool,
    /// Credits used per day of the period, by operation.
    pub days: Vec<DailyUsage>,
    /// A page of receipts, newest first.
    pub receipts: Vec<OperationReceipt>,
    /// Pass as `before` for the next page; `None` on the last one.
    pub next_before: Option<i64>,
    /// The balance is below the configured share of the plan's credits (P10).
    pub low_balance: bool,
    pub support_email: String,
    /// The top-up packs on sale, smallest first.
    pub top_ups: Vec<TopUpPack>,
    /// Payments taken through the app's own test checkout (no Stripe keys).
    pub test_checkout: bool,
    /// Top-ups and subscription payments, newest first.
    pub payments: Vec<PaymentLine>,
    /// A fresh key for this page's forms: sending one form twice acts once.
    pub form_key: String,
    /// The price book: the receipts name each operation's unit.
    pub price_book: PriceBook,
    /// The "Try a generation" panel is shown (demo mode), with the prices it estimates by.
    pub try_panel: Option<PriceBook>,
    /// What the customer wants to be told, by e-mail and here.
    pub notices: NoticeSettings,
    /// The highest usage level the customer asked about that this period has reached
    /// (P17), with what was used.
    pub usage_reached: Option<UsageReached>,
    /// Automatic top-ups (P16), where offered (the local test checkout for now).
    pub auto_top_up: Option<AutoTopUpView>,
}

/// P17 on the page: `level` percent of the period's credits asked about, `used` of
/// `plan_credits` used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReached {
    pub level: u8,
    pub used: u64,
    pub plan_credits: u64,
}

/// Automatic top-ups (P16) on the page: what is set, the card, what the customer's month
/// has spent of the cap, and why they stopped if they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoTopUpView {
    /// What is set (nothing set yet: off, 500 credits, the smallest pack, $50).
    pub settings: crate::domain::auto_top_up::AutoTopUpSettings,
    /// The saved card, as shown; `None`: no card saved yet.
    pub card: Option<String>,
    /// The local test card's behaviour (test mode only): `card`, `declined`,
    /// `needs_action`.
    pub test_card: Option<String>,
    /// The start of the customer's month, and what it has spent (charged or being
    /// charged), in cents.
    pub month_start: i64,
    pub spent_this_month_cents: u64,
    pub stopped_reason: Option<String>,
    /// The last one failed (and they are not stopped): why.
    pub last_failure: Option<String>,
}
