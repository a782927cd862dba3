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
/// fields: `insufficient_credits` has `needed`, `available`, `renews_at`, `top_up_url` and
/// `auto_top_up_coming` (an automatic top-up is being bought: try again shortly);
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
        // The message is said once, at the top of the error (a variant's own `message`
        // field would otherwise appear twice).
        details.remove("message");
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

/// A response in the one error shape with a code [`AppError`] has no variant for.
fn refusal(status: StatusCode, code: &str, message: String) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message,
            details: serde_json::Map::new(),
        },
    };
    (status, axum::Json(body)).into_response()
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Middleware: refusals made before any handler runs (a body over the size limit, an
/// unknown route or method, a panic) are answered as the caller reads errors. On the usage
/// API (`/api/v1/`) that is the one JSON error shape. A server function (the rest of
/// `/api/`) gets its error encoding, so the page shows the message; and an error a server
/// function gave for its own arguments keeps that error's status instead of the framework's
/// 500.
pub async fn refusals_as_json(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    let usage_api = path.starts_with("/api/v1/");
    let server_fn = !usage_api && path.starts_with("/api/");
    let method = req.method().clone();
    let res = next.run(req).await;
    let status = res.status();
    if !(usage_api || server_fn) || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    if usage_api {
        if is_json(&res) {
            return res;
        }
        return match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError(AppError::PayloadTooLarge).into_response(),
            StatusCode::NOT_FOUND => refusal(
                status,
                "not_found",
                "There is no such route in the usage API; its routes are listed in /api/v1/openapi.json.".to_owned(),
            ),
            StatusCode::METHOD_NOT_ALLOWED => refusal(
                status,
                "method_not_allowed",
                format!("This route does not take {method}; /api/v1/openapi.json lists what each route takes."),
            ),
            s if s.is_server_error() => ApiError(AppError::Internal).into_response(),
            s => refusal(
                s,
                "bad_request",
                "The request was refused; /api/v1/openapi.json describes what each route takes.".to_owned(),
            ),
        };
    }
    // A server function.
    if status == StatusCode::PAYLOAD_TOO_LARGE && !is_json(&res) {
        return (status, axum::Json(AppError::PayloadTooLarge)).into_response();
    }
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        let (mut parts, body) = res.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
            return (status, axum::Json(AppError::Internal)).into_response();
        };
        if let Ok(e) = serde_json::from_slice::<AppError>(&bytes)
            && let Ok(own) = StatusCode::from_u16(e.status())
        {
            parts.status = own;
        }
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    res
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
            auto_top_up_coming: false,
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
