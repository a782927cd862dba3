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
            let op = demo::parse_operation(&operation)?;
            let qty = demo::parse_quantity(&quantity)?;
            let back = format!("/subscription?op={}&qty={qty}", op.key());
            match intent.as_str() {
                "estimate" => {
                    leptos_axum::redirect(&format!("{back}#try"));
                    Ok(())
                }
                "run" => {
                    let form = TryForm {
                        operation: &operation,
                        quantity: &quantity,
                        fail_part: fail_part.is_some(),
                        request_key: &request_key,
                    };
                    let hold = demo::try_generation(&state, account, form).await?;
                    leptos_axum::redirect(&format!("{back}&tried={hold}#receipt-{hold}"));
                    Ok(())
                }
                _ => Err(AppError::bad_request("Choose Show estimate or Run it.")),
            }
        }
        .await,
    )
}
