//! The demo's "Try a generation" panel.

use crate::error::AppError;
use leptos::prelude::*;

/// Shows the estimate for an operation and size (`intent` = `estimate`), or runs a
/// pretend generation through the ledger (`intent` = `run`) and opens its receipt.
/// Either way the answer is a redirect to `/subscription`, so it works without
/// JavaScript. Customers only, demo mode only.
#[server(endpoint = "demo/try")]
pub async fn try_generation(
    operation: String,
    quantity: String,
    fail_part: Option<String>,
    intent: String,
    request_key: String,
) -> Result<(), AppError> {
    use crate::server::services::demo::{self, TryForm};
    use crate::server::{auth, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            let form = TryForm {
                operation: &operation,
                quantity: &quantity,
                fail_part: fail_part.is_some(),
                intent: &intent,
                request_key: &request_key,
            };
            match demo::submit(&state, account, form).await {
                Ok(back) => {
                    leptos_axum::redirect(&back);
                    Ok(())
                }
                Err(e) => {
                    // Without JavaScript, back to the panel with what was asked (and
                    // the error), so a top-up can bring the customer back to it.
                    if let Some(panel) = demo::panel_address(&operation, &quantity) {
                        crate::api::fail_back_to::<TryGeneration>(&panel, &e);
                    }
                    Err(e)
                }
            }
        }
        .await,
    )
}
