//! The Subscription page's data: balance, plan, where the credits went, receipts.

use crate::error::AppError;
pub use crate::model::subscription::*;
use leptos::prelude::*;

/// The signed-in customer's own subscription overview. Customers only.
#[server(endpoint = "subscription/overview")]
pub async fn get_subscription(before: Option<i64>) -> Result<SubscriptionOverview, AppError> {
    use crate::server::{auth, services::subscription, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            subscription::overview(&state, account, before).await
        }
        .await,
    )
}

/// All of `/subscription` at once: the overview (as `get_subscription`) and the plans
/// section (as `plans::my_plan`), with one read of the subscription. Customers only.
#[server(endpoint = "subscription/page")]
pub async fn subscription_page(before: Option<i64>) -> Result<SubscriptionPageData, AppError> {
    use crate::server::{auth, services::subscription, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            subscription::page(&state, account, before).await
        }
        .await,
    )
}
