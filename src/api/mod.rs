//! Server functions, grouped by page. Each one decides who may call it, parses its input,
//! calls a service and maps the error; nothing else.

pub mod account;
pub mod auth;
pub mod demo;
pub mod faq;
pub mod history;
pub mod operations;
pub mod payments;
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
    if let Err(e) = &result
        && !is_form_post()
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

/// A plain form post, made without JavaScript (it asks for a page back).
#[cfg(feature = "ssr")]
fn is_form_post() -> bool {
    leptos::prelude::use_context::<axum::http::request::Parts>()
        .is_some_and(|p| crate::server::form_errors::accepts_html(&p.headers))
}

/// A plain form post that failed goes back to `path` (a path on this site) with its
/// error, instead of to the page it was posted from: the form shows what was asked, not
/// what the page's address happened to hold. `S` is the server function that failed.
#[cfg(feature = "ssr")]
pub(crate) fn fail_back_to<S: leptos::server_fn::ServerFn>(
    path: &str,
    error: &crate::error::AppError,
) {
    use leptos::server_fn::error::ServerFnUrlError;
    if !is_form_post() {
        return;
    }
    if let Ok(url) =
        ServerFnUrlError::new(S::PATH, error.clone()).to_url(&format!("http://this.app{path}"))
    {
        leptos_axum::redirect(&url[url::Position::BeforePath..]);
    }
}

/// `respond`, for a server function posted by a form whose result the page says: on
/// success the result is handed back (`hand_back`).
#[cfg(feature = "ssr")]
pub(crate) fn respond_form<S>(
    result: Result<S::Output, crate::error::AppError>,
) -> Result<S::Output, crate::error::AppError>
where
    S: leptos::server_fn::ServerFn,
    S::Output: serde::Serialize,
{
    if let Ok(output) = &result {
        hand_back::<S>(output);
    }
    respond(result)
}

/// A plain form post that succeeded hands `output`, what the server function `S` did, to
/// the page the browser goes back to, which says it once (see `server::form_errors`).
#[cfg(feature = "ssr")]
pub(crate) fn hand_back<S>(output: &S::Output)
where
    S: leptos::server_fn::ServerFn,
    S::Output: serde::Serialize,
{
    use crate::server::form_errors::{CookiePolicy, result_cookie};
    if !is_form_post() {
        return;
    }
    let Ok(state) = crate::server::state::app_state() else {
        return;
    };
    match serde_json::to_string(output) {
        Ok(json) => match crate::server::auth::request_headers()
            .ok()
            .and_then(|h| result_cookie(&CookiePolicy::of(&state.config), S::PATH, &json, &h))
        {
            Some(cookie) => crate::server::auth::set_cookie(&cookie),
            None => tracing::warn!(path = S::PATH, "a form's result is too big to hand on"),
        },
        Err(e) => tracing::error!(path = S::PATH, error = %e, "a form's result did not serialise"),
    }
}

/// The client's address, for rate limits: the TCP peer, or, when the peer is one of
/// `STUDIO_TRUSTED_PROXIES`, what those proxies put in `X-Forwarded-For`.
#[cfg(feature = "ssr")]
pub(crate) fn client_address() -> String {
    let Some(parts) = leptos::prelude::use_context::<axum::http::request::Parts>() else {
        return "unknown".to_owned();
    };
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let trusted = crate::server::state::app_state()
        .map(|s| s.config.trusted_proxies.clone())
        .unwrap_or_default();
    client_ip(peer, forwarded, &trusted)
}

/// The client behind a chain of proxies: the rightmost `X-Forwarded-For` entry that is not
/// a trusted proxy, when the peer itself is trusted; otherwise the peer. Entries to the left
/// of an untrusted one could be made up by the client, so they never count.
#[cfg(feature = "ssr")]
pub(crate) fn client_ip(
    peer: Option<std::net::IpAddr>,
    forwarded: Option<&str>,
    trusted: &[std::net::IpAddr],
) -> String {
    let Some(peer) = peer else {
        return "unknown".to_owned();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    forwarded
        .into_iter()
        .flat_map(|f| f.split(',').rev())
        .map(str::trim)
        .map(|entry| entry.parse::<std::net::IpAddr>().ok())
        .find(|ip| ip.is_none_or(|ip| !trusted.contains(&ip)))
        .flatten()
        .map_or_else(|| peer.to_string(), |ip| ip.to_string())
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::client_ip;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_peer_counts_unless_it_is_a_trusted_proxy() {
        let lb = ip("10.0.0.2");
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), Some("1.2.3.4"), &[lb]),
            "203.0.113.9"
        );
        assert_eq!(
            client_ip(Some(lb), Some("198.51.100.7"), &[lb]),
            "198.51.100.7"
        );
        assert_eq!(client_ip(Some(lb), None, &[lb]), "10.0.0.2");
        assert_eq!(client_ip(None, None, &[]), "unknown");
    }

    #[test]
    fn made_up_entries_on_the_left_never_count() {
        let (lb, inner) = (ip("10.0.0.2"), ip("10.0.0.3"));
        // The client claims to be 1.1.1.1; the proxies saw 198.51.100.7.
        assert_eq!(
            client_ip(
                Some(lb),
                Some("1.1.1.1, 198.51.100.7, 10.0.0.3"),
                &[lb, inner]
            ),
            "198.51.100.7"
        );
        // Garbage where the client's address should be: the peer, never the made-up part.
        assert_eq!(
            client_ip(Some(lb), Some("1.1.1.1, nonsense"), &[lb]),
            "10.0.0.2"
        );
    }
}
