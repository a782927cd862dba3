//! "Try a generation" (demo mode): the app plays a generation service, through the same
//! ledger code the usage API runs: estimate, reserve, capture the real cost, and refund a
//! failed part when asked to fail.

use crate::domain::pricing::{CostDriver, Operation};
use crate::error::AppError;
use crate::server::config::Mode;
use crate::server::db::ledger::Idempotency;
use crate::server::services::usage;
use crate::server::state::AppState;
use sha2::{Digest, Sha256};

/// The largest size the panel accepts.
pub const MAX_QUANTITY: u64 = 100_000;

/// The panel's request, as the form sends it.
pub struct TryForm<'a> {
    pub operation: &'a str,
    pub quantity: &'a str,
    pub fail_part: bool,
    /// `estimate` (show it) or `run`.
    pub intent: &'a str,
    pub request_key: &'a str,
}

/// Handles the panel's form and returns where to send the browser: back to the panel
/// with the estimate, or to the new generation's receipt. Both answers live in the
/// address, so the panel works without JavaScript.
pub async fn submit(state: &AppState, account: i64, form: TryForm<'_>) -> Result<String, AppError> {
    if state.config.mode != Mode::Demo {
        return Err(AppError::not_found("This page"));
    }
    let operation = parse_operation(form.operation)?;
    let quantity = parse_quantity(form.quantity)?;
    let back = format!("/subscription?op={}&qty={quantity}", operation.key());
    match form.intent {
        "estimate" => Ok(format!("{back}#try")),
        "run" => {
            let hold = try_generation(state, account, operation, quantity, &form).await?;
            Ok(format!("{back}&tried={hold}#receipt-{hold}"))
        }
        _ => Err(AppError::bad_request("Choose Show estimate or Run it.")),
    }
}

/// The panel's address with `operation` and `quantity` chosen, if both are valid.
pub fn panel_address(operation: &str, quantity: &str) -> Option<String> {
    let operation = parse_operation(operation).ok()?;
    let quantity = parse_quantity(quantity).ok()?;
    Some(format!(
        "/subscription?op={}&qty={quantity}#try",
        operation.key()
    ))
}

fn parse_operation(key: &str) -> Result<Operation, AppError> {
    Operation::from_key(key)
        .ok_or_else(|| AppError::bad_request("Pick one of the operations listed."))
}

fn parse_quantity(raw: &str) -> Result<u64, AppError> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
        .ok_or_else(|| {
            AppError::bad_request(format!(
                "The size must be a whole number from 1 to {MAX_QUANTITY}."
            ))
        })
}

/// What the pretend service "really" produced: an audio clip comes out a little shorter
/// than asked, so the receipt shows a release; anything else is exactly what was asked.
pub fn actual_quantity(asked: u64, driver: CostDriver) -> u64 {
    match driver {
        CostDriver::AudioSeconds => asked - asked / 10,
        _ => asked,
    }
}

fn idem(account: i64, key: &str, step: &str, request: &str) -> Idempotency {
    let mut hasher = Sha256::new();
    hasher.update(step.as_bytes());
    hasher.update(b"\n");
    hasher.update(request.as_bytes());
    Idempotency {
        scope: format!("demo:{account}"),
        key: format!("{key}:{step}"),
        request_hash: hex::encode(hasher.finalize()),
    }
}

/// Runs one pretend generation for the caller and returns its hold id (its receipt).
/// Sending the same form twice runs it once. Too little balance is the P10 refusal, and
/// nothing is reserved or charged.
async fn try_generation(
    state: &AppState,
    account: i64,
    operation: Operation,
    quantity: u64,
    form: &TryForm<'_>,
) -> Result<i64, AppError> {
    let key = form.request_key;
    if !crate::server::services::topup::valid_key(key) {
        return Err(AppError::bad_request(
            "The form was incomplete. Reload the page and try again.",
        ));
    }
    let request = format!("{}:{quantity}:{}", operation.key(), form.fail_part);
    let hold = usage::reserve(
        state,
        account,
        operation,
        quantity,
        &idem(account, key, "reserve", &request),
    )
    .await?;
    let driver = state
        .config
        .catalog
        .price_book
        .rule(operation)
        .map(|r| r.driver)
        .unwrap_or(CostDriver::Generations);
    let actual = actual_quantity(quantity, driver);
    let capture = usage::capture(
        state,
        account,
        hold.hold_id,
        actual,
        &idem(account, key, "capture", &request),
    )
    .await?;
    let failed = capture.charged.get() / 2;
    if form.fail_part && failed > 0 {
        usage::refund(
            state,
            account,
            hold.hold_id,
            failed,
            "Part of the output failed (demo); those credits went back where they came from",
            &idem(account, key, "refund", &request),
        )
        .await?;
    }
    Ok(hold.hold_id)
}
