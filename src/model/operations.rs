//! What the operations server functions return (see `api::operations`).

use serde::{Deserialize, Serialize};

/// A webhook event the app applied (or acknowledged), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub at: i64,
    pub event_id: String,
    pub event_type: String,
    pub outcome: String,
}

/// A delivery this instance refused, and why (kept in memory, the latest only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedDelivery {
    pub at: i64,
    pub reason: String,
}

/// A background job of this instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub name: String,
    pub last_run_at: i64,
    pub every_secs: i64,
    pub lag_secs: i64,
    pub ok: bool,
}

/// The last `studio-billing stripe reconcile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub at: i64,
    pub since_days: i64,
    pub differences: i64,
    /// The report's table, as the command printed it.
    pub report: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationsView {
    pub now: i64,
    pub deliveries: Vec<Delivery>,
    pub refused: Vec<RefusedDelivery>,
    pub jobs: Vec<Job>,
    pub holds_past_expiry: i64,
    /// The longest-expired open hold's expiry.
    pub oldest_expiry: Option<i64>,
    pub reconciliation: Option<Reconciliation>,
}
