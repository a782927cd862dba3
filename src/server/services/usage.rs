//! What the usage API does, between HTTP and storage: prices operations with the
//! configured price book and turns ledger errors into customer-facing ones.

use crate::domain::credits::Credits;
use crate::domain::pricing::Operation;
use crate::error::AppError;
use crate::server::api_error::from_ledger;
use crate::server::db::ledger::{
    self, CaptureReceipt, HoldReceipt, Idempotency, NewHold, RefundReceipt, ReleaseReceipt,
};
use crate::server::error::internal;
use crate::server::state::AppState;

/// The largest quantity the usage API prices (the OpenAPI document states it).
pub const MAX_QUANTITY: u64 = 1_000_000_000;

/// The price of `quantity` units of `operation` (the estimate for a request, the actual
/// cost for an output: one function, P2).
pub fn price(
    state: &AppState,
    operation: Operation,
    quantity: u64,
) -> Result<(Credits, String), AppError> {
    let rule = state
        .config
        .catalog
        .price_book
        .rule(operation)
        .ok_or_else(|| {
            tracing::error!(operation = operation.key(), "the price book has no rule");
            AppError::Internal
        })?;
    if quantity > MAX_QUANTITY {
        return Err(AppError::bad_request(format!(
            "The quantity is too large: at most {} units.",
            crate::domain::credits::group_thousands(MAX_QUANTITY)
        )));
    }
    let credits = rule
        .price(quantity)
        .map_err(|_| AppError::bad_request("The quantity is too large to price."))?;
    Ok((credits, rule.describe()))
}

/// An ended subscription (in its grace period, or purged) runs no generations until the
/// customer subscribes again (P13); everything they have stays as it is (P11).
async fn refuse_after_plan_end(state: &AppState, account: i64) -> Result<(), AppError> {
    use crate::domain::subscription::Status;
    let sub = crate::server::db::subscriptions::get(&state.db, account)
        .await
        .map_err(internal("reading the subscription"))?;
    match sub {
        Some(s) if matches!(s.status, Status::Ended | Status::Purged) => {
            let until = s
                .grace_until
                .filter(|_| s.status == Status::Ended)
                .map(|t| {
                    format!(
                        " Your projects are kept until {}.",
                        crate::domain::ledger::long_date(t)
                    )
                })
                .unwrap_or_default();
            Err(AppError::PlanEnded {
                message: format!(
                    "Your plan has ended, so new generations are paused. Subscribe again to carry on.{until}"
                ),
            })
        }
        _ => Ok(()),
    }
}

/// Where a P10 notice sends the customer to buy credits.
pub(crate) fn top_up_url(state: &AppState) -> String {
    format!("{}/subscription#top-up", state.config.public_url)
}

fn ledger_err(state: &AppState) -> impl Fn(ledger::LedgerError) -> AppError + '_ {
    move |e| from_ledger(e, &top_up_url(state))
}

pub async fn reserve(
    state: &AppState,
    account: i64,
    operation: Operation,
    quantity: u64,
    idem: &Idempotency,
) -> Result<HoldReceipt, AppError> {
    if quantity == 0 {
        return Err(AppError::bad_request("The quantity must be at least 1."));
    }
    let (estimate, _) = price(state, operation, quantity)?;
    let now = state.clock.now();
    // A retry of a reserve that went through replays its result, even if the plan ended
    // in between; only new reserves are refused. (The key is looked up only then.)
    if let Err(refused) = refuse_after_plan_end(state, account).await
        && !ledger::key_used(&state.db, idem)
            .await
            .map_err(ledger_err(state))?
    {
        return Err(refused);
    }
    let hold = NewHold {
        operation,
        quantity,
        estimate,
        amount: estimate,
        expires_at: now + state.config.hold_ttl_secs,
    };
    let mut reserved = ledger::reserve(&state.db, account, hold, Some(idem), now)
        .await
        .map_err(ledger_err(state));
    // P16: below the customer's threshold, an automatic top-up starts in the background;
    // a reserve refused meanwhile says it is coming, so the service can try again.
    crate::server::services::auto_top_up::after_reserve(state, account).await;
    if let Err(AppError::InsufficientCredits {
        auto_top_up_coming, ..
    }) = &mut reserved
    {
        *auto_top_up_coming = crate::server::services::auto_top_up::coming(state, account).await;
    }
    reserved
}

pub async fn capture(
    state: &AppState,
    account: i64,
    hold_id: i64,
    actual_quantity: u64,
    idem: &Idempotency,
) -> Result<CaptureReceipt, AppError> {
    let operation = ledger::hold_operation(&state.db, hold_id, account)
        .await
        .map_err(ledger_err(state))?;
    let (actual, _) = price(state, operation, actual_quantity)?;
    ledger::capture(
        &state.db,
        hold_id,
        Some(account),
        ledger::Actual {
            quantity: actual_quantity,
            cost: actual,
            tolerance_percent: state.config.capture_tolerance_percent,
        },
        Some(idem),
        state.clock.now(),
    )
    .await
    .map_err(ledger_err(state))
}

pub async fn release(
    state: &AppState,
    account: i64,
    hold_id: i64,
    idem: &Idempotency,
) -> Result<ReleaseReceipt, AppError> {
    ledger::release(
        &state.db,
        hold_id,
        Some(account),
        Some(idem),
        state.clock.now(),
    )
    .await
    .map_err(ledger_err(state))
}

pub async fn refund(
    state: &AppState,
    account: i64,
    hold_id: i64,
    credits: u64,
    reason: &str,
    idem: &Idempotency,
) -> Result<RefundReceipt, AppError> {
    let amount = Credits::new(credits)
        .map_err(|_| AppError::bad_request("The amount is larger than the ledger can hold."))?;
    if amount.is_zero() {
        return Err(AppError::bad_request(
            "The amount to refund must be at least 1 credit.",
        ));
    }
    let reason = reason.trim();
    if reason.is_empty()
        || reason.chars().count() > 500
        || crate::domain::ledger::has_control_characters(reason)
    {
        return Err(AppError::bad_request(
            "Give a reason for the refund (1-500 characters, no control characters); the customer sees it on the receipt.",
        ));
    }
    ledger::refund(
        &state.db,
        hold_id,
        Some(account),
        amount,
        reason,
        Some(idem),
        state.clock.now(),
    )
    .await
    .map_err(ledger_err(state))
}

pub async fn balance(state: &AppState, account: i64) -> Result<ledger::BalanceView, AppError> {
    ledger::balance(&state.db, account, state.clock.now())
        .await
        .map_err(ledger_err(state))
}

pub async fn journal(
    state: &AppState,
    account: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ledger::JournalEntry>, AppError> {
    if !ledger::account_exists(&state.db, account)
        .await
        .map_err(ledger_err(state))?
    {
        return Err(AppError::not_found(format!("Account {account}")));
    }
    ledger::journal(&state.db, account, before, limit)
        .await
        .map_err(ledger_err(state))
}
