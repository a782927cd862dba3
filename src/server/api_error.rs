//! How an [`AppError`] is answered over JSON: its status, and a body of one documented
//! shape, `{"error": {"code": "...", "message": "...", ...details}}`.

use crate::error::AppError;
use crate::server::db::ledger::LedgerError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The error body of every JSON route.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// `code` names the kind of error; `message` says it for a person. Some codes carry more
/// fields: `insufficient_credits` has `needed`, `available`, `renews_at` and `top_up_url`;
/// `too_many_requests` has `retry_after_secs`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// An [`AppError`] as a response.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut details = match serde_json::to_value(&self.0) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let code = match details.remove("code") {
            Some(serde_json::Value::String(code)) => code,
            _ => "internal".to_owned(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.0.to_string(),
                details,
            },
        };
        let mut res = (status, axum::Json(body)).into_response();
        if let AppError::TooManyRequests { retry_after_secs } = self.0
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError(AppError::bad_request(
            "Account and hold ids in the path must be whole numbers.",
        ))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(_: QueryRejection) -> Self {
        ApiError(AppError::bad_request(
            "The query string has an invalid value: `before` and `limit` must be whole numbers.",
        ))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError(match rejection {
            JsonRejection::MissingJsonContentType(_) => AppError::bad_request(
                "Send the body as JSON with the header Content-Type: application/json.",
            ),
            JsonRejection::JsonSyntaxError(_) => {
                AppError::bad_request("The body is not valid JSON.")
            }
            JsonRejection::JsonDataError(e) => {
                // serde's wording names the field and what was expected; it never holds stored data.
                AppError::bad_request(format!(
                    "The body has a missing or invalid field: {}",
                    e.body_text().trim_start_matches(
                        "Failed to deserialize the JSON body into the target type: "
                    )
                ))
            }
            JsonRejection::BytesRejection(_) => AppError::PayloadTooLarge,
            _ => AppError::bad_request("The body could not be read."),
        })
    }
}

/// The customer-facing error for a ledger error. `top_up_url` is where a P10 notice sends
/// the customer to buy more credits.
pub fn from_ledger(e: LedgerError, top_up_url: &str) -> AppError {
    match e {
        LedgerError::AccountNotFound(id) => AppError::not_found(format!("Account {id}")),
        LedgerError::HoldNotFound(id) => AppError::not_found(format!("Hold {id}")),
        LedgerError::HoldSettled { hold_id, status } => {
            AppError::conflict(format!("Hold {hold_id} is already {status}."))
        }
        LedgerError::HoldExpired(id) => AppError::conflict(format!(
            "Hold {id} expired and its credits were released. Reserve again before starting the job."
        )),
        LedgerError::NotCaptured(id) => AppError::conflict(format!(
            "Hold {id} was not captured, so there is no charge to refund."
        )),
        LedgerError::RefundTooLarge { refundable } => AppError::conflict(format!(
            "Only {refundable} credits of this charge can still be refunded."
        )),
        LedgerError::IdempotencyConflict => AppError::conflict(
            "This Idempotency-Key was already used with a different request. Use a new key for a new request.",
        ),
        LedgerError::OutOfRange => {
            AppError::bad_request("An amount is larger than the ledger can hold.")
        }
        LedgerError::Insufficient(i) => AppError::InsufficientCredits {
            needed: i.needed.get(),
            available: i.available.get(),
            renews_at: i
                .renews_at
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|d| d.to_rfc3339()),
            renews_on: i.renews_at.map(crate::domain::ledger::long_date),
            top_up_url: top_up_url.to_owned(),
        },
        LedgerError::Db(e) => {
            tracing::error!(error = %e, "ledger database error");
            AppError::Internal
        }
        LedgerError::Corrupt(what) => {
            tracing::error!(what, "ledger data could not be read");
            AppError::Internal
        }
    }
}
