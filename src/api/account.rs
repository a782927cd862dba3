//! The signed-in customer's own account.

use crate::domain::ledger::{BalanceView, JournalEntry};
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOverview {
    pub email: String,
    pub balance: BalanceView,
    pub recent: Vec<JournalEntry>,
}

/// The caller's balance and latest journal entries. Customers only, their own account.
#[server(endpoint = "account/mine")]
pub async fn my_account() -> Result<AccountOverview, AppError> {
    use crate::server::{auth, services::usage, state::app_state};
    crate::api::respond(
        async {
            let state = app_state()?;
            let (user, account) = auth::require_customer(&state).await?;
            let balance = usage::balance(&state, account).await?;
            let recent = usage::journal(&state, account, None, 10)
                .await?
                .into_iter()
                .map(JournalEntry::for_customer)
                .collect();
            Ok(AccountOverview {
                email: user.email,
                balance,
                recent,
            })
        }
        .await,
    )
}
