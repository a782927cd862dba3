//! The plans section of `/subscription`: the customer's plan, what each change would mean,
//! and the changes themselves; and support's demo clock.

use crate::error::AppError;
pub use crate::model::plans::*;
use leptos::prelude::*;

/// The caller's plan and what each change would mean. Customers only.
#[server(endpoint = "plans/mine")]
pub async fn my_plan() -> Result<PlanState, AppError> {
    use crate::server::{auth, services::plans, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            plans::state(&state, account).await
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
) -> Result<PlanChanged, AppError> {
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
            )
            .await?;
            match changed {
                plans::Changed::Done(message) => {
                    crate::api::hand_back::<ChangePlan>(&message);
                    leptos_axum::redirect("/subscription#plans");
                    Ok(message)
                }
                plans::Changed::Checkout(url) => {
                    leptos_axum::redirect(&url);
                    Ok(PlanChanged::Checkout)
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
    crate::api::respond_form::<AdvanceClock>(
        async {
            let state = app_state()?;
            auth::require_support(&state).await?;
            plans::advance_clock(&state, &days).await
        }
        .await,
    )
}
