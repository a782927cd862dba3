//! The plans section of `/subscription`: the customer's plan, what each change would mean,
//! and the changes themselves; and support's demo clock.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

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
    /// What choosing it means, e.g. "From 1 July 2026: 1,000 credits each period".
    pub effect: String,
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
    /// When the server looked (unix seconds): the page's re-check goes to an address of
    /// its own each time, since a refresh to the same address with a `#fragment` is only a
    /// scroll and never reloads.
    pub checked_at: i64,
}

/// The customer's subscription, as the plans section shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanState {
    /// `none`, `active`, `past_due`, `ended` or `purged`.
    pub status: String,
    pub plan_name: Option<String>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub pending_plan_name: Option<String>,
    pub grace_until: Option<i64>,
    /// The next tier down, offered before a cancel (P15), with its credits.
    pub lower_tier: Option<(String, String, u64)>,
    pub options: Vec<PlanOption>,
    /// Paid through the app's own test billing (no Stripe keys).
    pub test_mode: bool,
    /// While there is no live plan: a plan payment under way. While it is processing, no
    /// other plan can be bought.
    pub payment_in_progress: Option<PlanPaymentInProgress>,
}

/// The caller's plan and what each change would mean. Customers only.
#[server(endpoint = "plans/mine")]
pub async fn my_plan() -> Result<PlanState, AppError> {
    use crate::server::{auth, services::plans, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            plans::state(&state, account, &crate::api::reader_zone()).await
        }
        .await,
    )
}

/// Changes the caller's plan. `action`: `subscribe` or `change` (with `plan`), `keep`
/// (undo a pending downgrade), `cancel` (with an optional `reason`), `resume`. Answers
/// with a redirect to `/subscription`, so it works without JavaScript. Customers only.
#[server(endpoint = "plans/change")]
pub async fn change_plan(
    action: String,
    plan: Option<String>,
    reason: Option<String>,
) -> Result<String, AppError> {
    use crate::server::{auth, services::plans, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (user, account) = auth::require_customer(&state).await?;
            let changed = plans::change(
                &state,
                account,
                &user.email,
                &action,
                plan.as_deref(),
                reason.as_deref(),
                &crate::api::reader_zone(),
            )
            .await?;
            match changed {
                plans::Changed::Done(message) => {
                    leptos_axum::redirect("/subscription#plans");
                    Ok(message)
                }
                plans::Changed::Checkout(url) => {
                    leptos_axum::redirect(&url);
                    Ok("Taking you to the checkout…".to_owned())
                }
            }
        }
        .await,
    )
}

/// Sends the customer to Stripe's portal to fix the payment of a past-due plan. Customers
/// only, with Stripe only.
#[server(endpoint = "plans/fix_payment")]
pub async fn fix_payment() -> Result<(), AppError> {
    use crate::server::{auth, services::plans, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            let url = plans::fix_payment_url(&state, account).await?;
            leptos_axum::redirect(&url);
            Ok(())
        }
        .await,
    )
}

/// Demo mode: the app's time (`now`, unix seconds) and how many days it was moved ahead of
/// real time; `None` outside demo mode. Support only.
#[server(endpoint = "support/demo_clock")]
pub async fn demo_clock() -> Result<Option<(i64, i64)>, AppError> {
    use crate::server::{auth, services::plans, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            auth::require_support(&state).await?;
            Ok(plans::demo_clock(&state))
        }
        .await,
    )
}

/// Demo mode: moves the app's clock forward by `days` and runs what became due (renewals,
/// ends of cancelled plans, ends of grace periods). Support only.
#[server(endpoint = "support/advance_clock")]
pub async fn advance_clock(days: String) -> Result<String, AppError> {
    use crate::server::{auth, services::plans, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            auth::require_support(&state).await?;
            plans::advance_clock(&state, &days).await
        }
        .await,
    )
}
