//! The customer's own credit history (`/history`): every change of the balance, in their
//! words, newest first, paged and filtered by kind.

use crate::error::AppError;
pub use crate::model::history::*;
use leptos::prelude::*;

/// The caller's credit history. `kind`: `all` (or none), `added`, `charged`, `back`,
/// `expired`; `before`: a page's cursor. Customers only.
#[server(endpoint = "account/history")]
pub async fn credit_history(
    kind: Option<String>,
    before: Option<String>,
) -> Result<HistoryView, AppError> {
    use crate::server::{auth, services::history, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (_, account) = auth::require_customer(&state).await?;
            history::view(&state, account, kind.as_deref(), before.as_deref()).await
        }
        .await,
    )
}
