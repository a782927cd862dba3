//! The support console: look a customer up, correct a charge, see every manual change.

use crate::domain::ledger::ManualChange;
use crate::error::AppError;
pub use crate::model::support::*;
use leptos::prelude::*;

/// A customer by e-mail, with balance, open holds and a page of the journal (entries
/// before `before`, newest first). Support only.
#[server(endpoint = "support/find_customer")]
pub async fn find_customer(
    email: String,
    #[server(default)] before: Option<String>,
) -> Result<CustomerView, AppError> {
    use crate::server::{auth, services::support, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            auth::require_support(&state).await?;
            support::find_customer(&state, &email, before.as_deref()).await
        }
        .await,
    )
}

/// Grants or takes credits by hand, with a reason; once only per `request_key` (the form
/// carries one, so sending it twice changes nothing more). Support only.
#[server(endpoint = "support/adjust")]
pub async fn adjust(
    account_id: i64,
    direction: String,
    amount: String,
    reason: String,
    expires_on: Option<String>,
    request_key: String,
    /// The receipt number of the charge this corrects, if it corrects one.
    #[server(default)]
    corrects: Option<String>,
) -> Result<crate::model::support::Adjusted, AppError> {
    use crate::server::{auth, services::support, state::app_state};
    crate::api::respond_form::<Adjust>(
        async {
            let state = app_state()?;
            let staff = auth::require_support(&state).await?;
            let form = support::AdjustmentForm {
                account_id,
                direction,
                amount,
                reason,
                expires_on,
                request_key,
                corrects,
            };
            support::adjust(&state, &staff, form).await
        }
        .await,
    )
}

/// Every manual change, newest first. Support only.
#[server(endpoint = "support/audit")]
pub async fn audit() -> Result<Vec<ManualChange>, AppError> {
    use crate::server::{auth, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            auth::require_support(&state).await?;
            crate::server::services::support::audit(&state).await
        }
        .await,
    )
}

/// Every change to staff and access, newest first. Support only.
#[server(endpoint = "support/staff_audit")]
pub async fn staff_audit() -> Result<Vec<StaffChangeView>, AppError> {
    use crate::server::{auth, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            auth::require_support(&state).await?;
            crate::server::services::support::staff_audit(&state).await
        }
        .await,
    )
}

/// Adjustments waiting for a second approval, oldest first. Support only.
#[server(endpoint = "support/pending_adjustments")]
pub async fn pending_adjustments() -> Result<Vec<PendingAdjustment>, AppError> {
    use crate::server::{auth, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            auth::require_support(&state).await?;
            crate::server::services::support::pending_adjustments(&state).await
        }
        .await,
    )
}

/// Approves or rejects a waiting adjustment (`decision`: `approve` or `reject`). Only
/// another support user than the one who asked may approve it. Support only.
#[server(endpoint = "support/decide")]
pub async fn decide(
    request_id: i64,
    decision: String,
) -> Result<crate::model::support::Decided, AppError> {
    use crate::server::{auth, state::app_state};
    crate::api::respond_form::<Decide>(
        async {
            let state = app_state()?;
            let staff = auth::require_support(&state).await?;
            crate::server::services::support::decide(&state, &staff, request_id, &decision).await
        }
        .await,
    )
}

/// The newest e-mail notices, to everyone (in demo mode, without an SMTP server, this is
/// where they can be read). Support only.
#[server(endpoint = "support/notices")]
pub async fn notices() -> Result<Vec<NoticeView>, AppError> {
    use crate::server::{auth, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            auth::require_support(&state).await?;
            crate::server::services::support::notices(&state).await
        }
        .await,
    )
}
