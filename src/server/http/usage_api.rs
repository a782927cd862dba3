//! The usage API the generation services call: JSON over HTTP under `/api/v1`, with a
//! service token (`Authorization: Bearer sbt_…`). Every mutation needs an
//! `Idempotency-Key` header: a retry with the same key and body returns the first result.
//!
//! The OpenAPI document at `/api/v1/openapi.json` is generated from the handlers below.

use crate::domain::credits::Credits;
use crate::domain::pricing::Operation;
use crate::error::AppError;
use crate::server::api_error::{ApiError, ErrorBody};
use crate::server::db::ledger::{
    BalanceView, CaptureReceipt, HoldReceipt, Idempotency, JournalEntry, RefundReceipt,
    ReleaseReceipt,
};
use crate::server::db::tokens::{self, Scope, ServiceToken};
use crate::server::services::usage;
use crate::server::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest JSON body the usage API reads.
const MAX_JSON_BYTES: usize = 16 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Studio Billing usage API", version = "1", description = "Estimate, reserve, capture, release and refund credits for AI operations."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody)),
    security(("service_token" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "service_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The usage API's routes and the OpenAPI document describing them.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(estimate))
        .routes(routes!(reserve))
        .routes(routes!(capture))
        .routes(routes!(release))
        .routes(routes!(refund))
        .routes(routes!(balance))
        .routes(routes!(journal))
        .split_for_parts();
    let served = doc.clone();
    let router = router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || std::future::ready(Json(served.clone()))),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BYTES));
    (router, doc)
}

// ---- Extractors: who is asking, the idempotency key, the JSON body.

/// A caller with a valid, unrevoked service token.
pub struct ServiceCaller(pub ServiceToken);

impl FromRequestParts<AppState> for ServiceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError(AppError::Unauthorized))?;
        match tokens::authenticate(&state.db, presented.trim()).await {
            Ok(Some(token)) => Ok(ServiceCaller(token)),
            Ok(None) => Err(ApiError(AppError::Unauthorized)),
            Err(e) => {
                tracing::error!(error = %e, "token lookup failed");
                Err(ApiError(AppError::Internal))
            }
        }
    }
}

impl ServiceCaller {
    /// A 403 naming the scope, unless the token has it. Checked before anything is read.
    fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError(AppError::MissingScope {
                scope: scope.as_str().to_owned(),
            }))
        }
    }
}

/// The `Idempotency-Key` header: 1-255 visible ASCII characters (only [`IdempotencyKey::parse`]
/// makes one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Option<IdempotencyKey> {
        let ok = !raw.is_empty() && raw.len() <= 255 && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| IdempotencyKey(raw.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError(AppError::bad_request("Send an Idempotency-Key header with every change, so a retry never applies twice.")))?;
        IdempotencyKey::parse(key).ok_or_else(|| {
            ApiError(AppError::bad_request(
                "The Idempotency-Key must be 1-255 visible ASCII characters.",
            ))
        })
    }
}

/// A path parameter whose rejections are answered in the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// A query string whose rejections are answered in the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// A JSON body whose rejections are answered in the API's error shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

fn idempotency(
    caller: &ServiceCaller,
    key: IdempotencyKey,
    route: &str,
    body: &impl Serialize,
) -> Idempotency {
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update(b"\n");
    hasher.update(serde_json::to_vec(body).unwrap_or_default());
    Idempotency {
        scope: format!("service:{}", caller.0.id),
        key: key.into_string(),
        request_hash: hex::encode(hasher.finalize()),
    }
}

// ---- Bodies.

/// A whole number as JSON Schema counts one: `12` or `12.0` (never `12.5`, never negative).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number, zero or more")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("a whole number, zero or more"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            // Only up to 2^53 is every whole number exact in an f64; above it `x.0` may
            // stand for a neighbour, so such numbers must be sent without the `.0`.
            if v.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::custom("a whole number, zero or more"))
            }
        }
    }
    d.deserialize_any(Whole)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    pub operation: Operation,
    /// Units of what drives the cost: messages, characters, seconds of audio or generations.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "whole_number")]
    pub quantity: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Estimate {
    pub operation: Operation,
    pub quantity: u64,
    pub credits: Credits,
    /// The price book's rule, e.g. "2 credits per 1,000 characters".
    pub rule: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    pub operation: Operation,
    /// The requested size; the hold is the estimate for it.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "whole_number")]
    pub quantity: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// The real size of the output; the charge is priced from it, and is at most the hold
    /// plus the capture tolerance.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "whole_number")]
    pub actual_quantity: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Credits of the charge that paid for the failed portion.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    #[serde(deserialize_with = "whole_number")]
    pub credits: u64,
    /// Why, in words the customer reads on the receipt: 1-500 characters, not only spaces,
    /// and no control characters but tabs and line breaks.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct JournalQuery {
    /// Entries with a sequence number below this (the `next_before` of the previous page).
    pub before: Option<i64>,
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JournalPage {
    /// Newest first.
    pub entries: Vec<JournalEntry>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

// ---- Handlers.

/// Counts a ledger operation's outcome for `/metrics`, passing the result on.
fn counted<T>(operation: &'static str, result: Result<T, AppError>) -> Result<T, AppError> {
    crate::server::metrics::ledger_operation(operation, result.as_ref().map(|_| ()));
    result
}

/// Estimate what an operation of a given size will cost.
#[utoipa::path(post, path = "/api/v1/estimates", tag = "usage", request_body = EstimateRequest,
    responses((status = 200, body = Estimate), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "The token lacks the scope this call needs", body = ErrorBody)))]
async fn estimate(
    caller: ServiceCaller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EstimateRequest>,
) -> Result<Json<Estimate>, ApiError> {
    caller.require(Scope::Estimate)?;
    let (credits, rule) = counted(
        "estimate",
        usage::price(&state, req.operation, req.quantity),
    )?;
    Ok(Json(Estimate {
        operation: req.operation,
        quantity: req.quantity,
        credits,
        rule,
    }))
}

/// Reserve the estimate of an operation before the job starts. All or nothing: too low a
/// balance is a 402 and reserves nothing (P10).
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/holds", tag = "usage", request_body = ReserveRequest,
    params(("account_id" = i64, Path), ("Idempotency-Key" = String, Header, description = "1-255 visible ASCII characters; a retry with the same key and body returns the first result", min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    responses((status = 201, body = HoldReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "The token lacks the scope this call needs", body = ErrorBody),
        (status = 402, description = "Too low a balance (P10)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn reserve(
    caller: ServiceCaller,
    State(state): State<AppState>,
    ApiPath(account_id): ApiPath<i64>,
    key: IdempotencyKey,
    ApiJson(req): ApiJson<ReserveRequest>,
) -> Result<(StatusCode, Json<HoldReceipt>), ApiError> {
    caller.require(Scope::Reserve)?;
    let idem = idempotency(&caller, key, &format!("reserve:{account_id}"), &req);
    let receipt = counted(
        "reserve",
        usage::reserve(&state, account_id, req.operation, req.quantity, &idem).await,
    )?;
    Ok((StatusCode::CREATED, Json(receipt)))
}

/// Charge the actual cost of a finished job and free the rest of its hold (P2).
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/holds/{hold_id}/capture", tag = "usage", request_body = CaptureRequest,
    params(("account_id" = i64, Path), ("hold_id" = i64, Path), ("Idempotency-Key" = String, Header, description = "1-255 visible ASCII characters; a retry with the same key and body returns the first result", min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    responses((status = 200, body = CaptureReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "The token lacks the scope this call needs", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn capture(
    caller: ServiceCaller,
    State(state): State<AppState>,
    ApiPath((account_id, hold_id)): ApiPath<(i64, i64)>,
    key: IdempotencyKey,
    ApiJson(req): ApiJson<CaptureRequest>,
) -> Result<Json<CaptureReceipt>, ApiError> {
    caller.require(Scope::Capture)?;
    let idem = idempotency(
        &caller,
        key,
        &format!("capture:{account_id}:{hold_id}"),
        &req,
    );
    Ok(Json(counted(
        "capture",
        usage::capture(&state, account_id, hold_id, req.actual_quantity, &idem).await,
    )?))
}

/// Free a whole hold: the job never ran.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/holds/{hold_id}/release", tag = "usage",
    params(("account_id" = i64, Path), ("hold_id" = i64, Path), ("Idempotency-Key" = String, Header, description = "1-255 visible ASCII characters; a retry with the same key and body returns the first result", min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    responses((status = 200, body = ReleaseReceipt), (status = 400, description = "A malformed path, query or header", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "The token lacks the scope this call needs", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn release(
    caller: ServiceCaller,
    State(state): State<AppState>,
    ApiPath((account_id, hold_id)): ApiPath<(i64, i64)>,
    key: IdempotencyKey,
) -> Result<Json<ReleaseReceipt>, ApiError> {
    caller.require(Scope::Reserve)?;
    let idem = idempotency(
        &caller,
        key,
        &format!("release:{account_id}:{hold_id}"),
        &(),
    );
    Ok(Json(counted(
        "release",
        usage::release(&state, account_id, hold_id, &idem).await,
    )?))
}

/// Credit back the failed portion of a captured charge, to the grants that paid it (P8).
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/holds/{hold_id}/refund", tag = "usage", request_body = RefundRequest,
    params(("account_id" = i64, Path), ("hold_id" = i64, Path), ("Idempotency-Key" = String, Header, description = "1-255 visible ASCII characters; a retry with the same key and body returns the first result", min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    responses((status = 200, body = RefundReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "The token lacks the scope this call needs", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn refund(
    caller: ServiceCaller,
    State(state): State<AppState>,
    ApiPath((account_id, hold_id)): ApiPath<(i64, i64)>,
    key: IdempotencyKey,
    ApiJson(req): ApiJson<RefundRequest>,
) -> Result<Json<RefundReceipt>, ApiError> {
    caller.require(Scope::Refund)?;
    let idem = idempotency(
        &caller,
        key,
        &format!("refund:{account_id}:{hold_id}"),
        &req,
    );
    Ok(Json(counted(
        "refund",
        usage::refund(&state, account_id, hold_id, req.credits, &req.reason, &idem).await,
    )?))
}

/// An account's balance: total, by kind, held and available.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/balance", tag = "usage", params(("account_id" = i64, Path)),
    responses((status = 200, body = BalanceView), (status = 400, description = "A malformed path, query or header", body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "The token lacks the scope this call needs", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn balance(
    caller: ServiceCaller,
    State(state): State<AppState>,
    ApiPath(account_id): ApiPath<i64>,
) -> Result<Json<BalanceView>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(usage::balance(&state, account_id).await?))
}

/// An account's journal, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/journal", tag = "usage", params(("account_id" = i64, Path), JournalQuery),
    responses((status = 200, body = JournalPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, description = "The token lacks the scope this call needs", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn journal(
    caller: ServiceCaller,
    State(state): State<AppState>,
    ApiPath(account_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<JournalQuery>,
) -> Result<Json<JournalPage>, ApiError> {
    caller.require(Scope::Read)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::bad_request("The limit must be between 1 and 200.").into());
    }
    let entries = usage::journal(&state, account_id, q.before, limit).await?;
    let next_before = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(Json(JournalPage {
        entries,
        next_before,
    }))
}

#[cfg(test)]
mod tests {
    use super::IdempotencyKey;

    #[test]
    fn an_idempotency_key_is_1_to_255_visible_ascii_characters() {
        for ok in ["a", "job-42:reserve", &"k".repeat(255)] {
            assert_eq!(
                IdempotencyKey::parse(ok).map(IdempotencyKey::into_string),
                Some(ok.to_owned())
            );
        }
        for bad in ["", "with space", "tab\t", "é", &"k".repeat(256)] {
            assert_eq!(IdempotencyKey::parse(bad), None, "{bad:?}");
        }
    }
}
