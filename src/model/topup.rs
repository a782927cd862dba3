//! What the topup server functions return (see `api::topup`).

use crate::domain::payments::PaymentStatus;
use serde::{Deserialize, Serialize};

/// How a top-up checkout stands, with the balance as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpProgress {
    pub status: PaymentStatus,
    pub credits: u64,
    pub amount_cents: u64,
    pub test_mode: bool,
    pub balance_total: u64,
    pub topup_balance: u64,
}

/// The local checkout page's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalCheckoutView {
    /// The plan's name when the checkout is for a plan; `None` for a top-up.
    pub plan_name: Option<String>,
    pub session_id: String,
    pub email: String,
    pub credits: u64,
    pub amount_cents: u64,
    pub status: PaymentStatus,
    /// The card is kept for automatic top-ups (asked for before the checkout, as with
    /// Stripe): a card only, and the page says so.
    #[serde(default)]
    pub saves_card: bool,
}
