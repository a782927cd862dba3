//! Buying top-ups: start a checkout, see how it went, and the local (test-mode) checkout.

use crate::error::AppError;
pub use crate::model::topup::*;
use leptos::prelude::*;

/// Starts a checkout for a top-up pack and sends the browser to it. The form's
/// `request_key` makes a second send of the same form go to the same checkout; `then`
/// (a path on this site) is where the customer goes back to once it is paid; `save_card`
/// set keeps the card for automatic top-ups (P16). Customers only.
#[server(endpoint = "top-up/buy")]
pub async fn buy_top_up(
    pack: String,
    request_key: String,
    then: Option<String>,
    #[server(default)] save_card: Option<String>,
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
                topup::Purchase {
                    pack_id: &pack,
                    request_key: &request_key,
                    then: then.as_deref(),
                    save_card: save_card.is_some(),
                },
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
