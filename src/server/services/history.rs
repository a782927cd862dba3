//! The customer's credit history, read from the journal.

use crate::domain::history::{HistoryCursor, HistoryFilter};
use crate::error::AppError;
use crate::model::history::{HistoryLine, HistoryView};
use crate::server::db::history;
use crate::server::error::internal;
use crate::server::services::usage as ledger_service;
use crate::server::state::AppState;

/// Entries per page.
pub const PAGE: i64 = 25;

pub async fn view(
    state: &AppState,
    account: i64,
    kind: Option<&str>,
    before: Option<&str>,
) -> Result<HistoryView, AppError> {
    let filter = HistoryFilter::parse(kind);
    let before = match before.filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(HistoryCursor::parse(b).ok_or_else(|| {
            AppError::bad_request(
                "That page of your history does not exist. Start again from the newest.",
            )
        })?),
    };
    let rows = history::history(&state.db, account, filter, before, PAGE)
        .await
        .map_err(internal("reading the credit history"))?;
    let next_before = (rows.len() as i64 == PAGE)
        .then(|| {
            rows.last().map(|r| {
                HistoryCursor {
                    at: r.at,
                    seq: r.seq,
                }
                .format()
            })
        })
        .flatten();
    let balance = ledger_service::balance(state, account).await?;
    let lines = rows
        .into_iter()
        .map(|r| {
            let detail: Option<serde_json::Value> = r
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok());
            let field = |name: &str| {
                detail
                    .as_ref()
                    .and_then(|d| d.get(name))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            HistoryLine {
                at: r.at,
                credits_kind: r.grant_kind,
                amount: r.amount,
                balance_after: r.balance_after,
                reason: field("reason"),
                operation: field("operation")
                    .and_then(|o| serde_json::from_value(serde_json::Value::String(o)).ok()),
                by_support: r.manual,
                kind: r.kind,
            }
        })
        .collect();
    Ok(HistoryView {
        filter,
        lines,
        next_before,
        balance: balance.total.get(),
    })
}
