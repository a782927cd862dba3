//! What the account server functions return (see `api::account`).

use crate::domain::ledger::{BalanceView, JournalEntry};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOverview {
    pub email: String,
    pub balance: BalanceView,
    pub recent: Vec<JournalEntry>,
}

/// The profile's time zone setting: the zone chosen (`None`: not yet, times read in UTC)
/// and every zone there is to choose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeZoneSetting {
    pub chosen: Option<String>,
    pub names: Vec<String>,
}
