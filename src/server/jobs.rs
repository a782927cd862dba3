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

/// How often notices are looked for and sent.
const NOTICES_EVERY: Duration = Duration::from_secs(30);

/// How often automatic top-ups whose charge has no outcome yet are charged again.
const AUTO_TOP_UPS_EVERY: Duration = Duration::from_secs(60);

/// How often due refunds are made (Stripe).
const REFUNDS_EVERY: Duration = Duration::from_secs(60);

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
    // Real time, as sessions and sign-in limits use.
    let now = state.clock.wall();
    Ok(Swept {
        sign_in_attempts: users::prune_attempts(
            &state.db,
            now - crate::server::auth::FAILURE_WINDOW_SECS,
        )
        .await?,
        sessions: users::prune_sessions(&state.db, now).await?,
    })
}

/// Notes a job's run for the operations view and `/metrics`.
fn ran(state: &AppState, job: &'static str, every: Duration, ok: bool) {
    let at = state.clock.now();
    state.ops.job_ran(
        job,
        crate::server::ops::JobRun {
            at,
            every_secs: i64::try_from(every.as_secs()).unwrap_or(i64::MAX),
            ok,
        },
    );
    crate::server::metrics::job_ran(job, ok, at);
}

/// One scheduled housekeeping run, noted for the operations view and `/metrics`.
pub async fn housekeeping_run(state: &AppState) {
    let result = housekeeping(state).await;
    ran(state, "housekeeping", HOUSEKEEPING_EVERY, result.is_ok());
    match result {
        Ok(Swept {
            sign_in_attempts: 0,
            sessions: 0,
        }) => {}
        Ok(swept) => tracing::info!(?swept, "old sign-in attempts and sessions deleted"),
        Err(e) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
    }
}

/// One scheduled run of the notices: the sweep, then the sending, noted for the
/// operations view and `/metrics`.
pub async fn notices_run(state: &AppState, mailer: &crate::server::mail::Mailer, sender: &str) {
    let result = crate::server::services::notices::run(state, mailer, sender).await;
    ran(state, "notices", NOTICES_EVERY, result.is_ok());
    match result {
        Ok(run) if run == Default::default() => {}
        Ok(run) => tracing::info!(?run, "e-mail notices queued and sent"),
        Err(e) => tracing::warn!(error = %e, "the notices run failed; will retry"),
    }
}

pub fn spawn(state: AppState, mailer: crate::server::mail::Mailer) {
    let notifier = state.clone();
    tokio::spawn(async move {
        // This instance's name on the notices it claims.
        let sender = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let mut tick = tokio::time::interval(NOTICES_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            notices_run(&notifier, &mailer, &sender).await;
        }
    });
    let charger = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(AUTO_TOP_UPS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let result = crate::server::services::auto_top_up::retry_charging(&charger).await;
            ran(
                &charger,
                "automatic top-ups",
                AUTO_TOP_UPS_EVERY,
                result.is_ok(),
            );
            if let Err(e) = result {
                tracing::warn!(error = %e, "automatic top-ups could not be charged again; will retry");
            }
        }
    });
    let housekeeper = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            housekeeping_run(&housekeeper).await;
        }
    });
    if matches!(
        state.config.payments,
        crate::server::config::PaymentsConfig::Stripe(_)
    ) {
        let refunder = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFUNDS_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let run = crate::server::services::refunds::run_due(&refunder).await;
                ran(&refunder, "refunds", REFUNDS_EVERY, run.failed == 0);
            }
        });
    }
    let scheduler = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SUBSCRIPTION_SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Without Stripe this renews and ends plans; with Stripe (whose events do
            // that) it only ends grace periods.
            let result = crate::server::services::plans::run_due(&scheduler).await;
            ran(
                &scheduler,
                "subscriptions",
                SUBSCRIPTION_SWEEP_EVERY,
                result.is_ok(),
            );
            match result {
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
            let result =
                ledger::expire_stale_holds(&state.db, state.clock.now(), HOLD_SWEEP_BATCH).await;
            ran(&state, "hold sweep", HOLD_SWEEP_EVERY, result.is_ok());
            match result {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "released stale holds"),
                Err(e) => tracing::warn!(error = %e, "hold sweep failed; will retry"),
            }
        }
    });
}
