//! The support console: look a customer up, correct a charge, see every manual change.

use crate::domain::ledger::{BalanceView, JournalEntry, ManualChange};
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenHold {
    pub hold_id: i64,
    pub operation: String,
    pub amount: u64,
    pub expires_at: i64,
}

/// The customer's subscription as support reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportPlanView {
    pub plan_name: String,
    /// `active`, `past_due`, `ended` or `purged`.
    pub status: String,
    pub period_start: i64,
    pub period_end: i64,
    pub cancel_at_period_end: bool,
    /// A downgrade booked for the renewal.
    pub pending_plan_name: Option<String>,
    pub grace_until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerView {
    pub email: String,
    pub account_id: i64,
    /// The plan's name, or `None` when the customer has no plan.
    pub plan: Option<String>,
    /// The subscription on record (live or ended), if any.
    pub subscription: Option<SupportPlanView>,
    /// The customer's payments, newest first (as the customer sees them).
    pub payments: Vec<crate::domain::payments::PaymentLine>,
    pub balance: BalanceView,
    pub holds: Vec<OpenHold>,
    /// A page of the journal, newest first.
    pub journal: Vec<JournalEntry>,
    /// Pass as `before` for the next (older) page; `None` on the last one.
    pub journal_next_before: Option<String>,
    /// A fresh key for the adjustment form: sending that form twice applies it once.
    pub form_key: String,
}

/// A change to who may do what: a user made, disabled or given another role (the staff
/// audit list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffChangeView {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: Option<String>,
}

/// A support adjustment above the approval limit, waiting for a second support user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAdjustment {
    pub id: i64,
    pub account_email: String,
    /// `grant` or `debit`.
    pub direction: String,
    pub amount: u64,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: i64,
}

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
) -> Result<String, AppError> {
    use crate::server::{auth, services::support, state::app_state};
    crate::api::respond(
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
pub async fn decide(request_id: i64, decision: String) -> Result<String, AppError> {
    use crate::server::{auth, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let staff = auth::require_support(&state).await?;
            crate::server::services::support::decide(&state, &staff, request_id, &decision).await
        }
        .await,
    )
}
