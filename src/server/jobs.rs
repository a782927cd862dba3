//! Background jobs of each app instance. They are safe to run on several instances
//! against one PostgreSQL: every change re-checks its row under the account lock.

use crate::server::db::ledger;
use crate::server::state::AppState;
use std::time::Duration;

/// How often stale holds are looked for.
const HOLD_SWEEP_EVERY: Duration = Duration::from_secs(30);
/// At most this many holds are expired per sweep, so one sweep never runs long.
const HOLD_SWEEP_BATCH: i64 = 500;

/// How often subscriptions are checked for renewals, ends and purges.
const SUBSCRIPTION_SWEEP_EVERY: Duration = Duration::from_secs(60);

pub fn spawn(state: AppState) {
    let scheduler = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SUBSCRIPTION_SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Without Stripe this renews and ends plans; with Stripe (whose events do
            // that) it only ends grace periods.
            match crate::server::services::plans::run_due(&scheduler).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(steps = n, "subscriptions renewed, ended or purged"),
                Err(e) => tracing::warn!(error = ?e, "subscription sweep failed; will retry"),
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HOLD_SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match ledger::expire_stale_holds(&state.db, state.clock.now(), HOLD_SWEEP_BATCH).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "released stale holds"),
                Err(e) => tracing::warn!(error = %e, "hold sweep failed; will retry"),
            }
        }
    });
}
