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

/// Saves what the customer wants to be told (each box ticked is on; payment failures are
/// always sent), back to `/subscription#notices`, so it works without JavaScript.
/// Customers only, their own account.
#[server(endpoint = "subscription/notices")]
pub async fn save_notices(
    low_balance: Option<String>,
    #[server(default)] top_up_made: Option<String>,
    plan_ending: Option<String>,
    grace_ending: Option<String>,
    usage_50: Option<String>,
    usage_80: Option<String>,
    usage_100: Option<String>,
) -> Result<String, AppError> {
    use crate::domain::notices::NoticeSettings;
    use crate::server::{auth, services::notices, state::app_state};
    crate::api::respond_form::<SaveNotices>(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            // The automatic top-up box is on the form only where they are offered;
            // elsewhere its setting stays as it is.
            let top_up_made = if crate::server::services::auto_top_up::offered(&state) {
                top_up_made.is_some()
            } else {
                notices::settings(&state, account).await?.top_up_made
            };
            let settings = NoticeSettings {
                low_balance: low_balance.is_some(),
                top_up_made,
                plan_ending: plan_ending.is_some(),
                grace_ending: grace_ending.is_some(),
                usage: [usage_50.is_some(), usage_80.is_some(), usage_100.is_some()],
            };
            notices::save_settings(&state, account, &settings).await?;
            leptos_axum::redirect("/subscription#notices");
            Ok("Your notice settings are saved.".to_owned())
        }
        .await,
    )
}

/// Saves the customer's automatic top-ups (P16): on or off, the threshold in credits, the
/// pack and the monthly cap in dollars; back to `/subscription#auto-top-up`, so it works
/// without JavaScript. Customers only, their own account.
#[server(endpoint = "subscription/auto_top_up")]
pub async fn save_auto_top_up(
    enabled: Option<String>,
    threshold: String,
    pack: String,
    cap: String,
) -> Result<String, AppError> {
    use crate::domain::catalog::format_usd;
    use crate::domain::credits::group_thousands;
    use crate::server::{auth, services::auto_top_up, state::app_state};
    crate::api::respond_form::<SaveAutoTopUp>(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            let s = auto_top_up::save(&state, account, enabled.is_some(), &threshold, &pack, &cap)
                .await?;
            leptos_axum::redirect("/subscription#auto-top-up");
            Ok(if s.enabled {
                format!(
                    "Automatic top-ups are on: below {} credits, at most {} a month.",
                    group_thousands(s.threshold),
                    format_usd(s.monthly_cap_cents)
                )
            } else {
                "Automatic top-ups are off.".to_owned()
            })
        }
        .await,
    )
}

/// Test mode only (the local test checkout): how the saved test card behaves on its next
/// charge (`card`: paid, `declined`, `needs_action`: the bank asks for 3-D Secure).
/// Customers only, their own account.
#[server(endpoint = "subscription/test_card")]
pub async fn set_test_card(card: String) -> Result<String, AppError> {
    use crate::server::{auth, services::auto_top_up, state::app_state};
    crate::api::respond_form::<SetTestCard>(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            auto_top_up::save_test_card(&state, account, &card).await?;
            leptos_axum::redirect("/subscription#auto-top-up");
            Ok("The test card is saved.".to_owned())
        }
        .await,
    )
}
