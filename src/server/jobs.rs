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

/// How often old sign-in attempts and ended sessions are deleted.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);

/// What one housekeeping run deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub sign_in_attempts: u64,
    pub sessions: u64,
}

/// Deletes sign-in attempts older than the window they count in, and sessions past their
/// expiry: neither table grows without end.
pub async fn housekeeping(state: &AppState) -> Result<Swept, sqlx::Error> {
    use crate::server::db::users;
    let now = state.clock.now();
    Ok(Swept {
        sign_in_attempts: users::prune_attempts(
            &state.db,
            now - crate::server::auth::FAILURE_WINDOW_SECS,
        )
        .await?,
        sessions: users::prune_sessions(&state.db, now).await?,
    })
}

pub fn spawn(state: AppState) {
    let housekeeper = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match housekeeping(&housekeeper).await {
                Ok(Swept {
                    sign_in_attempts: 0,
                    sessions: 0,
                }) => {}
                Ok(swept) => tracing::info!(?swept, "old sign-in attempts and sessions deleted"),
                Err(e) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
            }
        }
    });
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
