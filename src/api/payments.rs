//! A payment's receipt.

use crate::error::AppError;
use crate::model::payments::PaymentReceiptView;
use leptos::prelude::*;

/// The app's own receipt for the caller's payment `id` (money received only).
/// `stripe_unavailable`: Stripe could not say where its receipt is. Customers only.
#[server(endpoint = "payments/receipt")]
pub async fn payment_receipt(
    id: i64,
    stripe_unavailable: bool,
) -> Result<PaymentReceiptView, AppError> {
    use crate::server::{auth, services::payments, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (user, account) = auth::require_customer(&state).await?;
            payments::receipt(&state, account, &user.email, id, stripe_unavailable).await
        }
        .await,
    )
}
