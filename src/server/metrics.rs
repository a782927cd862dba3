//! Prometheus metrics at `GET /metrics`, behind `STUDIO_METRICS_TOKEN` (a bearer token;
//! without it the route does not exist). Recorded with the `metrics` crate, rendered by
//! `metrics-exporter-prometheus` without its own listener.
//!
//! | Metric | Labels | What |
//! |---|---|---|
//! | `http_requests_total` | `method`, `route`, `status` | requests answered, by matched route |
//! | `http_request_duration_seconds` | `method`, `route` | how long they took (histogram) |
//! | `ledger_operations_total` | `operation`, `outcome` | usage API calls: `ok` or the error code |
//! | `webhook_events_total` | `type`, `outcome` | Stripe deliveries: applied, duplicate, ignored, refused |
//! | `scheduler_last_run_timestamp_seconds` | `job` | when each background job last finished |
//! | `scheduler_lag_seconds` | `job` | how far past its interval a job's next run is |
//! | `scheduler_runs_total` | `job`, `outcome` | background job runs, `ok` or `error` |
//! | `db_pool_connections` | `pool`, `state` | database connections `idle` and `in_use` |
//! | `holds_past_expiry` | | holds still open past their expiry (the sweep is behind) |

use crate::server::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use (`None` if another recorder was
/// installed first).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".to_owned()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ],
                )
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "a metrics recorder was already installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Middleware on the matched routes: counts each request and times it, by route pattern
/// (never the raw path, so ids in paths do not multiply the series).
pub async fn track_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::histogram!("http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    res
}

/// Counts one usage API call by operation and outcome (`ok` or the error's code).
pub fn ledger_operation(operation: &'static str, outcome: Result<(), &crate::error::AppError>) {
    let outcome = match outcome {
        Ok(()) => "ok".to_owned(),
        Err(e) => error_code(e),
    };
    metrics::counter!("ledger_operations_total", "operation" => operation, "outcome" => outcome)
        .increment(1);
}

/// The `code` an error is answered with, e.g. `insufficient_credits`.
fn error_code(e: &crate::error::AppError) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "internal".to_owned())
}

/// Counts one webhook delivery by event type and outcome.
pub fn webhook_event(kind: &str, outcome: &str) {
    metrics::counter!("webhook_events_total", "type" => kind.to_owned(), "outcome" => outcome.to_owned())
        .increment(1);
}

/// Records a background job's run.
pub fn job_ran(job: &'static str, ok: bool, at: i64) {
    metrics::counter!("scheduler_runs_total", "job" => job, "outcome" => if ok { "ok" } else { "error" })
        .increment(1);
    metrics::gauge!("scheduler_last_run_timestamp_seconds", "job" => job).set(at as f64);
}

/// `GET /metrics`: the Prometheus text format, for a caller with the metrics token.
pub async fn serve(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = state.config.metrics_token.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !constant_time_eq(presented.as_bytes(), expected.expose().as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "Send the metrics token: Authorization: Bearer <STUDIO_METRICS_TOKEN>\n",
        )
            .into_response();
    }
    let Some(handle) = handle() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are not being recorded in this process\n",
        )
            .into_response();
    };
    // Gauges read at scrape time.
    let now = state.clock.now();
    for (job, run) in state.ops.jobs() {
        metrics::gauge!("scheduler_lag_seconds", "job" => job).set(run.lag_secs(now) as f64);
    }
    for (pool, size, idle) in state.db.pool_use() {
        metrics::gauge!("db_pool_connections", "pool" => pool, "state" => "idle").set(idle as f64);
        metrics::gauge!("db_pool_connections", "pool" => pool, "state" => "in_use")
            .set((size as usize).saturating_sub(idle) as f64);
    }
    match crate::server::db::ledger::holds_past_expiry(&state.db, now).await {
        Ok((n, _)) => metrics::gauge!("holds_past_expiry").set(n as f64),
        Err(e) => tracing::warn!(error = %e, "counting holds past expiry"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
