//! `GET /records/generations.csv` and `GET /records/payments.csv` (P18): the signed-in
//! customer's records for the days asked (`?from=YYYY-MM-DD&to=YYYY-MM-DD`, either may be
//! empty), downloaded as a file. Plain links and a GET form reach them, so they work
//! without JavaScript. Not signed in: to sign in. Days that cannot be read: a 400 that says
//! what to write instead, and nothing is sent. A database that cannot answer: a 500 page
//! (the first page is read before the answer starts; a later one failing ends the
//! download as failed).

use crate::domain::records::DayRange;
use crate::server::services::records::{self, Records};
use crate::server::state::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, serde::Deserialize)]
pub struct Days {
    from: Option<String>,
    to: Option<String>,
}

pub async fn generations(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(days): Query<Days>,
) -> Response {
    download(state, &headers, &days, Records::Generations).await
}

pub async fn payments(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(days): Query<Days>,
) -> Response {
    download(state, &headers, &days, Records::Payments).await
}

/// A refusal a person reads in their browser.
fn say(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

async fn download(state: AppState, headers: &HeaderMap, days: &Days, what: Records) -> Response {
    let user = match crate::server::auth::user_from_headers(&state, headers).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, HeaderValue::from_static("/sign-in"))],
            )
                .into_response();
        }
        Err(e) => return say(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let Some(account) = user.account_id else {
        return say(
            StatusCode::FORBIDDEN,
            "A support account has no credits of its own, so no records to download. \
             A customer's records are on their page in the support console.",
        );
    };
    let range = match DayRange::parse(days.from.as_deref(), days.to.as_deref()) {
        Ok(range) => range,
        Err(e) => {
            return say(
                StatusCode::BAD_REQUEST,
                &format!("{e} Go back and pick other days."),
            );
        }
    };
    let tz = crate::server::zones::chosen_in(headers).unwrap_or(chrono_tz::UTC);
    let zone = crate::server::zones::of_headers(headers);
    let window = records::window(range, tz);
    let file = range.file_name(what.name());
    let body = match records::csv(state, account, what, window, zone).await {
        Ok(pages) => Body::from_stream(pages),
        Err(e) => return say(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}
