//! The operations view's facts: the database's (webhook events applied, holds past
//! expiry, the last reconciliation) and this instance's (jobs, refused deliveries).

use crate::error::AppError;
use crate::model::operations::{Delivery, Job, OperationsView, Reconciliation, RefusedDelivery};
use crate::server::db::{ledger, payments, reconcile};
use crate::server::error::internal;
use crate::server::state::AppState;

/// What failed, in the log.
const CONTEXT: &str = "operations view";

pub async fn view(state: &AppState) -> Result<OperationsView, AppError> {
    let now = state.clock.now();
    let deliveries = payments::recent_events(&state.db, 20)
        .await
        .map_err(internal(CONTEXT))?
        .into_iter()
        .map(|(event_id, event_type, at, outcome)| Delivery {
            at,
            event_id,
            event_type,
            outcome,
        })
        .collect();
    let refused = state
        .ops
        .recent_refusals()
        .into_iter()
        .take(20)
        .map(|r| RefusedDelivery {
            at: r.at,
            reason: r.reason,
        })
        .collect();
    let jobs = state
        .ops
        .jobs()
        .into_iter()
        .map(|(name, run)| Job {
            name: name.to_owned(),
            last_run_at: run.at,
            every_secs: run.every_secs,
            lag_secs: run.lag_secs(now),
            ok: run.ok,
        })
        .collect();
    let (holds_past_expiry, oldest_expiry) = ledger::holds_past_expiry(&state.db, now)
        .await
        .map_err(internal(CONTEXT))?;
    let reconciliation = reconcile::last_run(&state.db)
        .await
        .map_err(internal(CONTEXT))?
        .map(|r| Reconciliation {
            at: r.at,
            since_days: r.since_days,
            differences: r.differences,
            report: r.report,
        });
    Ok(OperationsView {
        now,
        deliveries,
        refused,
        jobs,
        holds_past_expiry,
        oldest_expiry,
        reconciliation,
    })
}
