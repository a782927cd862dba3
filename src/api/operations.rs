//! The operations view for support staff: webhook deliveries, the background jobs, holds
//! past their expiry, and the last reconciliation.

use crate::error::AppError;
pub use crate::model::operations::*;
use leptos::prelude::*;

/// What the operations view shows. Support only.
#[server(endpoint = "support/operations")]
pub async fn operations() -> Result<OperationsView, AppError> {
    use crate::server::{auth, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            auth::require_support(&state).await?;
            crate::server::services::operations::view(&state).await
        }
        .await,
    )
}
