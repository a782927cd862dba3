//! The HTTP stack: health checks, the Leptos pages and server functions, static files,
//! and the layers every response passes through (request id, logs, security headers,
//! compression, panic safety).

pub mod page_cache;
pub mod records;
pub mod usage_api;
pub mod webhook;

use crate::app::{App, shell};
use crate::server::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::nonce::Nonce;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::any::Any;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The largest request body accepted anywhere.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The app's routes, found once per process by running the whole app with its resources
/// held back. Leptos marks that hold with one flag for the whole process
/// (`SuppressResourceLoad`, leptos#4773): a resource that first runs while another thread
/// is generating the list waits forever. So the list is made once, before the first router
/// exists and so before any page can render, and every router after it (the tests build
/// many in one process, some while others render) reuses it.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState) -> Router {
    let routes = route_list();
    let context = {
        let state = state.clone();
        move || {
            provide_context(state.clone());
            provide_context(state.faq);
            provide_context(crate::server::auth::RequestUser::default());
            // The nonce chosen by `security_headers` for this request's CSP.
            if let Some(nonce) = use_context::<http::request::Parts>()
                .and_then(|p| p.extensions.get::<Nonce>().cloned())
            {
                provide_context(nonce);
            }
            // The reader's time zone, for every time the page shows.
            if let Some(parts) = use_context::<http::request::Parts>() {
                provide_context(crate::domain::zone::PageZone {
                    zone: crate::server::zones::of_headers(&parts.headers),
                    chosen: crate::server::zones::named_in(&parts.headers),
                });
            }
            // The error of a form posted without JavaScript, for the form it came from.
            if let Some(e) = use_context::<http::request::Parts>().and_then(|p| {
                p.extensions
                    .get::<crate::server::form_errors::FormError>()
                    .cloned()
            }) {
                provide_context(leptos::server::ServerActionError::new(&e.path, &e.err));
                provide_context(e);
            }
            // What the last form post did, for the page it came back to.
            if let Some(r) = use_context::<http::request::Parts>().and_then(|p| {
                p.extensions
                    .get::<crate::model::forms::FormResult>()
                    .cloned()
            }) {
                provide_context(r);
            }
        }
    };
    // Shared, as the state is: the page routes clone this closure for every request (a
    // render still clones the options, once).
    let pages = {
        let options = std::sync::Arc::new(state.leptos.clone());
        move || shell((*options).clone())
    };

    let (usage_api, _) = usage_api::router();
    Router::new()
        .route("/healthz", get(healthz))
        .merge(usage_api)
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::server::metrics::serve))
        .route("/payments/{id}/stripe-receipt", get(stripe_receipt))
        .route("/records/generations.csv", get(records::generations))
        .route("/records/payments.csv", get(records::payments))
        .route(
            crate::server::payments::WEBHOOK_PATH,
            axum::routing::post(webhook::handle),
        )
        .nest_service("/pkg", assets(&state))
        .leptos_routes_with_context(&state, routes, context.clone(), pages)
        // `/faq` for anonymous readers, rendered once a minute (`page_cache`).
        .route_layer(middleware::from_fn_with_state(
            std::sync::Arc::new(page_cache::PageCache::default()),
            page_cache::layer,
        ))
        // Per matched route, so the labels are route patterns, never raw paths.
        .route_layer(middleware::from_fn(crate::server::metrics::track_requests))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(context, shell))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                // Outside the panic handler, so even the 500 page carries the headers.
                .layer(middleware::from_fn_with_state(
                    HeaderPolicy {
                        form_targets: form_targets(&state),
                        hsts: state.config.mode == crate::server::config::Mode::Production,
                    },
                    security_headers,
                ))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(middleware::from_fn_with_state(state.clone(), same_origin_writes))
                .layer(middleware::from_fn_with_state(
                    crate::server::form_errors::CookiePolicy::of(&state.config),
                    crate::server::form_errors::layer,
                ))
                // Pages and JSON; never the site's files, which are compressed once, at
                // build time (`assets`), and sent as they are.
                .layer(CompressionLayer::new().compress_when(
                    DefaultPredicate::new()
                        .and(NotForContentType::const_new("application/wasm"))
                        .and(NotForContentType::const_new("text/javascript"))
                        .and(NotForContentType::const_new("text/css")),
                ))
                // Inside compression, so it reads bodies as the handlers wrote them.
                .layer(middleware::from_fn(crate::server::api_error::refusals_as_json))
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)),
        )
        .with_state(state)
}

/// `/pkg/`: the stylesheet, script and wasm the build made, as files. Brotli (quality 11)
/// and gzip copies made at build time (`cargo leptos build --release --precompress`) are
/// sent as they are to a browser that takes them, marked `Vary: Accept-Encoding`. A file
/// whose name carries one of the build's hashes (`AppState::asset_hashes`) is cached for a
/// year and never asked for again (`immutable`: a new build names it anew); any other
/// (a debug build's) is asked for again each time.
fn assets(state: &AppState) -> axum::routing::MethodRouter {
    let dir = std::path::Path::new(state.leptos.site_root.as_ref())
        .join(state.leptos.site_pkg_dir.as_ref());
    let hashes = state.asset_hashes.clone();
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    axum::routing::get_service(files).layer(middleware::map_response(
        move |uri: axum::http::Uri, mut res: Response| {
            let hashed = hashes.iter().any(|h| uri.path().contains(h.as_str()));
            async move {
                // A file that is not there must not be remembered as missing for a year.
                if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
                    let cache = if hashed {
                        "public, max-age=31536000, immutable"
                    } else {
                        "no-cache"
                    };
                    let headers = res.headers_mut();
                    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
                    // The same name is sent brotli, gzip or plain: caches keep each apart.
                    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
                }
                res
            }
        },
    ))
}

/// `GET /payments/{id}/stripe-receipt`: sends the signed-in customer to Stripe's receipt
/// for their payment (asked of Stripe when clicked, so it is always the current page).
/// Not signed in: to sign in; Stripe unable to say: to the app's own receipt, which says so.
async fn stripe_receipt(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    use crate::error::AppError;
    let see = |to: &str| {
        (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")),
            )],
        )
            .into_response()
    };
    let Ok(id) = id.parse::<i64>() else {
        return see("/subscription#payments-heading");
    };
    let account = match crate::server::auth::user_from_headers(&state, &headers).await {
        Ok(Some(user)) => user.account_id,
        Ok(None) => return see("/sign-in"),
        Err(_) => None,
    };
    let Some(account) = account else {
        return see(&format!("/payments/{id}"));
    };
    match crate::server::services::payments::stripe_receipt_url(&state, account, id).await {
        Ok(url) => see(&url),
        Err(AppError::PaymentProvider) => see(&format!("/payments/{id}?stripe=unavailable")),
        Err(_) => see(&format!("/payments/{id}")),
    }
}

/// `GET /healthz`: the process is up.
async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => axum::Json(
            serde_json::json!({ "status": "ready", "database": state.db.backend_name() }),
        )
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "status": "unavailable" })),
            )
                .into_response()
        }
    }
}

/// What `security_headers` adds, fixed at start-up.
#[derive(Clone)]
struct HeaderPolicy {
    form_targets: std::sync::Arc<str>,
    /// Production: browsers must use https for a year (`Strict-Transport-Security`).
    hsts: bool,
}

/// Adds the security headers to every response. HTML pages get a Content-Security-Policy
/// whose nonce the hydration scripts carry; nothing else may run. Answers to a signed-in
/// request and every API answer are `Cache-Control: no-store`, so no shared cache or
/// browser history keeps a customer's balance, receipts or payments; other pages
/// `no-cache`. In production, HSTS.
async fn security_headers(
    State(policy): State<HeaderPolicy>,
    mut req: Request,
    next: Next,
) -> Response {
    let form_targets = &policy.form_targets;
    // The site's files are the same for everyone (they carry their own caching rule),
    // even when the browser sends its session cookie along.
    let site_file = req.uri().path().starts_with("/pkg/");
    let private = !site_file
        && (req.uri().path().starts_with("/api/")
            || req
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|c| {
                    c.split(';').any(|kv| {
                        kv.trim_start()
                            .strip_prefix(crate::server::auth::SESSION_COOKIE)
                            .is_some_and(|rest| rest.starts_with('='))
                    })
                }));
    let nonce = Nonce::new();
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
         base-uri 'self'; form-action {form_targets}; frame-ancestors 'none'",
        &*nonce
    );
    req.extensions_mut().insert(nonce);
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if private {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"))
    {
        // A page names the site's files by their hashes: asked again every time, it never
        // points at files a new release has replaced.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    if policy.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

/// Where forms may lead (CSP `form-action`, which also covers the redirect after a post):
/// this app, and Stripe's checkout when payments go through Stripe. A Stripe stand-in on
/// this machine (`STRIPE_API_BASE` on a loopback address, as the end-to-end tests run one)
/// serves its checkout pages from its own origin, so that origin is allowed too.
fn form_targets(state: &AppState) -> std::sync::Arc<str> {
    match &state.config.payments {
        crate::server::config::PaymentsConfig::Stripe(s) => {
            let stand_in = loopback_origin(&s.api_base)
                .map(|o| format!(" {o}"))
                .unwrap_or_default();
            format!("'self' https://checkout.stripe.com https://billing.stripe.com{stand_in}")
                .into()
        }
        crate::server::config::PaymentsConfig::Local => "'self'".into(),
    }
}

/// `scheme://host[:port]` of `url` when its host is a loopback address.
fn loopback_origin(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
        .then(|| &url[..url.len() - rest.len() + authority.len()])
}

/// Refuses state-changing requests from other sites: a POST (or PUT, PATCH, DELETE) must
/// carry an `Origin` (or else a `Referer`) of this app's own address. This is on top of the
/// session cookie's `SameSite=Lax`. The usage API is exempt: it authenticates with a bearer
/// token, never a cookie; Stripe's webhooks are authenticated by their signature.
async fn same_origin_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    use axum::http::Method;
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    if safe || path.starts_with("/api/v1/") || path == crate::server::payments::WEBHOOK_PATH {
        return next.run(req).await;
    }
    let headers = req.headers();
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(origin_of)
        });
    match origin {
        Some(o) if allowed_origins(&state).contains(&o) => next.run(req).await,
        other => {
            tracing::warn!(origin = ?other, path = %req.uri().path(), "cross-site request refused");
            crate::server::api_error::ApiError(crate::error::AppError::CrossSite).into_response()
        }
    }
}

/// `https://host:port/path?q` -> `https://host:port`.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

/// The public address, and in demo mode the local names of the listening port too.
fn allowed_origins(state: &AppState) -> Vec<String> {
    let mut out: Vec<String> = origin_of(&state.config.public_url).into_iter().collect();
    if state.config.mode == crate::server::config::Mode::Demo {
        let port = state.config.listen_addr.port();
        out.push(format!("http://127.0.0.1:{port}"));
        out.push(format!("http://localhost:{port}"));
    }
    out
}

/// A panic in a handler becomes a plain 500; its message goes to the log only.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    error_page()
}

/// The plain 500 page (no Leptos: whatever failed may be in it).
fn error_page() -> Response {
    let body = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Something went wrong</title></head>\
        <body><main><h1>Something went wrong</h1><p>Please try again. If it keeps happening, contact support.</p>\
        <p><a href=\"/\">Back to Studio Billing</a></p></main></body></html>";
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::loopback_origin;

    #[test]
    fn only_a_loopback_stand_in_is_added_to_form_action() {
        assert_eq!(
            loopback_origin("http://127.0.0.1:4100/"),
            Some("http://127.0.0.1:4100")
        );
        assert_eq!(
            loopback_origin("http://localhost:9/v1"),
            Some("http://localhost:9")
        );
        assert_eq!(loopback_origin("https://api.stripe.com/"), None);
        assert_eq!(loopback_origin("https://127.0.0.1.evil.example/"), None);
        assert_eq!(loopback_origin("ftp://127.0.0.1/"), None);
    }
}
