//! The Subscription page: balance and plan (P6), usage in the current period, receipts
//! (P2, P8) and the low-balance notice (P10).

use crate::domain::notices::levels_reached;
use crate::domain::subscription::{Status, Subscription};
use crate::domain::usage::{DAY, daily_usage, day_start, is_low};
use crate::error::AppError;
use crate::model::subscription::{
    EndedPlan, PlanSummary, SubscriptionOverview, SubscriptionPageData, UsageReached,
};
use crate::server::config::{Mode, PaymentsConfig};
use crate::server::db::usage;
use crate::server::error::internal;
use crate::server::services::usage as ledger_service;
use crate::server::state::AppState;

/// What failed, in the log.
const CONTEXT: &str = "subscription page";

/// Receipts per page.
pub const PAGE: i64 = 20;
/// Payments listed.
pub const PAYMENTS: i64 = 20;

pub async fn overview(
    state: &AppState,
    account: i64,
    before: Option<i64>,
) -> Result<SubscriptionOverview, AppError> {
    let record = crate::server::db::subscriptions::get(&state.db, account)
        .await
        .map_err(internal(CONTEXT))?;
    overview_of(state, account, before, record).await
}

/// All of `/subscription`: the overview and the plans section, from one read of the
/// subscription.
pub async fn page(
    state: &AppState,
    account: i64,
    before: Option<i64>,
) -> Result<SubscriptionPageData, AppError> {
    let record = crate::server::db::subscriptions::get(&state.db, account)
        .await
        .map_err(internal(CONTEXT))?;
    let plans = crate::server::services::plans::state_of(state, account, record.clone()).await?;
    let overview = overview_of(state, account, before, record).await?;
    Ok(SubscriptionPageData { overview, plans })
}

/// The overview, from the account's subscription as just read (`record`).
async fn overview_of(
    state: &AppState,
    account: i64,
    before: Option<i64>,
    record: Option<Subscription>,
) -> Result<SubscriptionOverview, AppError> {
    let now = state.clock.now();
    let balance = ledger_service::balance(state, account).await?;
    // The plan the account is on: what the life cycle keeps beside the balance, read off
    // the subscription just read instead of a second statement.
    let plan = record
        .as_ref()
        .and_then(|s| s.plan_and_renewal().0)
        .and_then(|id| state.config.catalog.plan(id).cloned());
    let ended_plan = record
        .as_ref()
        .filter(|s| matches!(s.status, Status::Ended | Status::Purged))
        .map(|s| EndedPlan {
            name: state
                .config
                .catalog
                .plan(&s.plan)
                .map_or_else(|| s.plan.as_str().to_owned(), |p| p.name.clone()),
            ended_at: s.period_end,
            kept_until: s.grace_until.filter(|_| s.status == Status::Ended),
        });
    // The subscription's real period while it runs (a calendar month, not 30 days);
    // without one, the last 30 days.
    let sub = record.filter(|s| s.status.is_live() && s.period_end > now);
    let (period_start, period_end, plan_period) = match sub {
        Some(s) => (s.period_start, s.period_end, true),
        None => {
            let end = day_start(now) + DAY;
            (end - 30 * DAY, end, false)
        }
    };
    // The chart shows whole days, from the start of the day the period began.
    let points = usage::usage_points(&state.db, account, day_start(period_start), period_end)
        .await
        .map_err(internal(CONTEXT))?;
    let receipts = usage::receipts(&state.db, account, before, PAGE)
        .await
        .map_err(internal(CONTEXT))?;
    let next_before = (receipts.len() as i64 == PAGE)
        .then(|| receipts.last().map(|r| r.hold_id))
        .flatten();
    let low_balance = plan.as_ref().is_some_and(|p| {
        is_low(
            balance.total.get(),
            p.credits_per_period.get(),
            state.config.low_balance_percent,
        )
    });
    let payments = crate::server::services::payments::lines(state, account, PAYMENTS).await?;
    let notices = crate::server::services::notices::settings(state, account).await?;
    let auto_top_up = crate::server::services::auto_top_up::view(state, account).await?;
    // P17: the highest level asked about that the plan's period has reached. Its usage is
    // the chart's, from the period's start.
    let usage_reached = plan.as_ref().filter(|_| plan_period).and_then(|p| {
        let used: u64 = points
            .iter()
            .filter(|pt| pt.at >= period_start)
            .map(|pt| pt.credits)
            .sum();
        let plan_credits = p.credits_per_period.get();
        levels_reached(used, plan_credits, &notices.usage_levels())
            .last()
            .map(|&level| UsageReached {
                level,
                used,
                plan_credits,
            })
    });
    let config = &state.config;
    Ok(SubscriptionOverview {
        balance,
        ended_plan,
        plan: plan.map(|p| PlanSummary {
            name: p.name,
            credits_per_period: p.credits_per_period.get(),
        }),
        period_start,
        period_end,
        now,
        plan_period,
        days: daily_usage(&points, period_start, period_end),
        receipts,
        next_before,
        low_balance,
        support_email: config.support_email.clone(),
        top_ups: config.catalog.top_ups.clone(),
        test_checkout: matches!(config.payments, PaymentsConfig::Local),
        payments,
        form_key: uuid::Uuid::new_v4().simple().to_string(),
        price_book: config.catalog.price_book.clone(),
        try_panel: (config.mode == Mode::Demo).then(|| config.catalog.price_book.clone()),
        notices,
        usage_reached,
        auto_top_up,
    })
}
