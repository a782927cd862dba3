//! Server functions, grouped by page. Each one decides who may call it, parses its input,
//! calls a service and maps the error; nothing else.

pub mod account;
pub mod auth;
pub mod demo;
pub mod faq;
pub mod plans;
pub mod subscription;
pub mod support;
pub mod topup;

/// Sets the HTTP status of a failed server function from its error (and `Retry-After`
/// for a 429). A plain form post (no JavaScript) is left alone: the server function
/// answers it with a redirect back to the form, which shows the error.
#[cfg(feature = "ssr")]
pub(crate) fn respond<T>(
    result: Result<T, crate::error::AppError>,
) -> Result<T, crate::error::AppError> {
    use axum::http::{HeaderValue, StatusCode, header};
    use leptos::prelude::use_context;
    let form_post = use_context::<axum::http::request::Parts>().is_some_and(|p| {
        p.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    });
    if let Err(e) = &result
        && !form_post
        && let Some(options) = use_context::<leptos_axum::ResponseOptions>()
        && let Ok(status) = StatusCode::from_u16(e.status())
    {
        options.set_status(status);
        if let crate::error::AppError::TooManyRequests { retry_after_secs } = e
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            options.insert_header(header::RETRY_AFTER, v);
        }
    }
    result
}

/// The client's address, for rate limits: the TCP peer (the app expects to be reached
/// directly or through a proxy that connects from its own address).
#[cfg(feature = "ssr")]
pub(crate) fn client_address() -> String {
    leptos::prelude::use_context::<axum::http::request::Parts>()
        .and_then(|p| {
            p.extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
