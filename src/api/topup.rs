//! Buying top-ups: start a checkout, see how it went, and the local (test-mode) checkout.

use crate::domain::payments::PaymentStatus;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// How a top-up checkout stands, with the balance as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpProgress {
    pub status: PaymentStatus,
    pub credits: u64,
    pub amount_cents: u64,
    pub test_mode: bool,
    pub balance_total: u64,
    pub topup_balance: u64,
}

/// The local checkout page's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalCheckoutView {
    /// The plan's name when the checkout is for a plan; `None` for a top-up.
    pub plan_name: Option<String>,
    pub session_id: String,
    pub email: String,
    pub credits: u64,
    pub amount_cents: u64,
    pub status: PaymentStatus,
}

/// Starts a checkout for a top-up pack and sends the browser to it. The form's
/// `request_key` makes a second send of the same form go to the same checkout; `then`
/// (a path on this site) is where the customer goes back to once it is paid.
/// Customers only.
#[server(endpoint = "top-up/buy")]
pub async fn buy_top_up(
    pack: String,
    request_key: String,
    then: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{auth, services::topup, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (user, account) = auth::require_customer(&state).await?;
            let url = topup::start(
                &state,
                account,
                &user.email,
                &pack,
                &request_key,
                then.as_deref(),
            )
            .await?;
            leptos_axum::redirect(&url);
            Ok(())
        }
        .await,
    )
}

/// How the caller's own checkout `session_id` stands. Customers only.
#[server(endpoint = "top-up/status")]
pub async fn top_up_status(session_id: String) -> Result<TopUpProgress, AppError> {
    use crate::server::{auth, services::topup, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            topup::status(&state, account, &session_id).await
        }
        .await,
    )
}

/// The caller's own local checkout. Only without Stripe keys.
#[server(endpoint = "checkout/local/view")]
pub async fn local_checkout(session_id: String) -> Result<LocalCheckoutView, AppError> {
    use crate::server::{auth, services::topup, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (user, account) = auth::require_customer(&state).await?;
            topup::local_view(&state, account, &user.email, &session_id).await
        }
        .await,
    )
}

/// "Pay" in the local checkout (`method`: `card` or `delayed`), then back to the app
/// (with `then`, the way back the top-up was started with).
#[server(endpoint = "checkout/local/pay")]
pub async fn pay_local_checkout(
    session_id: String,
    method: String,
    then: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{auth, services::topup, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            let method = topup::LocalMethod::parse(&method)?;
            let back =
                topup::local_pay(&state, account, &session_id, method, then.as_deref()).await?;
            leptos_axum::redirect(&back);
            Ok(())
        }
        .await,
    )
}

/// "Cancel" in the local checkout, then back to the app.
#[server(endpoint = "checkout/local/cancel")]
pub async fn cancel_local_checkout(
    session_id: String,
    then: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{auth, services::topup, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            let back = topup::local_cancel(&state, account, &session_id, then.as_deref()).await?;
            leptos_axum::redirect(&back);
            Ok(())
        }
        .await,
    )
}
