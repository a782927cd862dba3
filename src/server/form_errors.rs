//! Errors of form posts made without JavaScript.
//!
//! A server function that fails a plain form post answers with a redirect back to the
//! page, and `server_fn` writes the error into that address as `__path` and a base64
//! `__err`. Left alone, the customer's address bar shows the base64, the page opens at its
//! top rather than at the form, a success message from the address (`?subscribed=1`,
//! `?tried=`) stays beside the error, and anyone can put words on our pages with a link.
//!
//! So this layer moves the error out of the address into a short-lived cookie, sends the
//! browser to the page without it and with `#form-error` (the error's element, so the
//! browser lands at the form), and hands the error to the next page render, once. An
//! address that still carries `__err` (a link) is answered with the same page without it.
//!
//! A form post that succeeds hands its result on the same way (`hand_back`): the server
//! function puts what it did into a short-lived cookie, and the page the browser is sent
//! back to says it, once. Both cookies are sealed (HMAC, with a key derived from the app's
//! secret) together with their time and the browser's session, so a page only ever shows
//! what this app handed to that session in the last two minutes. Every form on our pages is posted like this (islands:
//! the pages are not hydrated), so the result is said with JavaScript on or off.

use crate::error::FORM_ERROR_ANCHOR;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The cookie that carries one form error to the next page.
pub const COOKIE: &str = "studio_form_error";
/// Seconds the error waits for the page it belongs to.
const COOKIE_SECS: u32 = 120;
/// Query values that report a success; an error must not be shown beside them.
const SUCCESS_PARAMS: &[&str] = &["subscribed", "tried", "checked"];
const ERROR_PARAMS: &[&str] = &["__path", "__err"];

/// The error of the last form post, for the page it returned to: the server function's
/// path and its encoded error, as `leptos::server::ServerActionError` takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    pub path: String,
    pub err: String,
}

/// A server function's path: `/api/` and a few letters, digits and `/_-`.
fn path_ok(path: &str) -> bool {
    path.starts_with("/api/")
        && path.len() <= 200
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
}

/// The cookie that carries one form's result to the next page.
pub const RESULT_COOKIE: &str = "studio_form_result";
/// The largest result (its JSON) that is handed on: a cookie holds about 4 KB.
const RESULT_MAX_JSON: usize = 2000;

pub use crate::model::forms::FormResult;

/// The key both cookies are sealed with, so a page only ever says what this app handed
/// on, to the browser session it handed it to, within `COOKIE_SECS`.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl SealKey {
    /// Derived from the app's secret key (never the key itself).
    pub fn from_secret(secret: &str) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"studio-billing form cookies v1");
        SealKey(mac.finalize().into_bytes().into())
    }

    /// The MAC of one cookie: what it is (`kind`), for which server function, its
    /// payload, when, and for which session (`""` for none).
    fn mac(&self, kind: &str, path: &str, payload: &str, at: i64, session: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        for part in [kind, path, payload, &at.to_string(), session] {
            mac.update(part.as_bytes());
            mac.update(b"|");
        }
        mac
    }

    /// `path|payload|at|mac`, every part cookie-safe (`payload` must be base64url).
    fn seal(&self, kind: &str, path: &str, payload: &str, at: i64, session: &str) -> String {
        let mac = self
            .mac(kind, path, payload, at, session)
            .finalize()
            .into_bytes();
        format!("{path}|{payload}|{at}|{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// The path and payload of a sealed value, if this key sealed it as `kind` for
    /// `session` no more than `COOKIE_SECS` before `now`.
    fn open<'a>(
        &self,
        kind: &str,
        value: &'a str,
        now: i64,
        session: &str,
    ) -> Option<(&'a str, &'a str)> {
        let mut parts = value.split('|');
        let (path, payload, at, mac) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !path_ok(path) || payload.len() > 3000 {
            return None;
        }
        let at: i64 = at.parse().ok()?;
        if !(now - i64::from(COOKIE_SECS)..=now + 5).contains(&at) {
            return None;
        }
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        self.mac(kind, path, payload, at, session)
            .verify_slice(&mac)
            .ok()?;
        Some((path, payload))
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

const ERROR_KIND: &str = "error";
const RESULT_KIND: &str = "result";

impl FormError {
    /// The cookie's value; the error is server_fn's base64 already, and anything else is
    /// never sealed.
    fn seal(&self, key: &SealKey, at: i64, session: &str) -> Option<String> {
        let err_ok = !self.err.is_empty()
            && self
                .err
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b));
        (err_ok && path_ok(&self.path))
            .then(|| key.seal(ERROR_KIND, &self.path, &self.err, at, session))
    }

    fn open(value: &str, key: &SealKey, now: i64, session: &str) -> Option<Self> {
        let (path, err) = key.open(ERROR_KIND, value, now, session)?;
        Some(FormError {
            path: path.to_owned(),
            err: err.to_owned(),
        })
    }
}

fn seal_result(result: &FormResult, key: &SealKey, at: i64, session: &str) -> Option<String> {
    if result.json.len() > RESULT_MAX_JSON || !path_ok(&result.path) {
        return None;
    }
    let payload = URL_SAFE_NO_PAD.encode(result.json.as_bytes());
    Some(key.seal(RESULT_KIND, &result.path, &payload, at, session))
}

fn open_result(value: &str, key: &SealKey, now: i64, session: &str) -> Option<FormResult> {
    let (path, payload) = key.open(RESULT_KIND, value, now, session)?;
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    Some(FormResult {
        path: path.to_owned(),
        json,
    })
}

/// Real time in Unix seconds: the cookies' age, like a session's, never follows the demo
/// clock.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The request's session cookie, or `""`: the form cookies are for that session only.
fn session_of(headers: &HeaderMap) -> String {
    crate::server::auth::cookie_value(headers, crate::server::auth::SESSION_COOKIE)
        .unwrap_or_default()
}

/// How the layer writes and reads its cookies: `Secure` in production (the session
/// cookie's rule), and the key they are sealed with.
#[derive(Debug, Clone)]
pub struct CookiePolicy {
    pub secure: bool,
    pub key: SealKey,
}

impl CookiePolicy {
    pub fn of(config: &crate::server::config::Config) -> Self {
        CookiePolicy {
            secure: config.mode == crate::server::config::Mode::Production,
            key: SealKey::from_secret(config.secret_key.expose()),
        }
    }
}

/// The `Set-Cookie` value that hands `json`, the result of the server function at `path`,
/// to the next page of the session `request` came from (see the module's comment).
pub fn result_cookie(
    policy: &CookiePolicy,
    path: &str,
    json: &str,
    request: &HeaderMap,
) -> Option<String> {
    let result = FormResult {
        path: path.to_owned(),
        json: json.to_owned(),
    };
    let value = seal_result(&result, &policy.key, now(), &session_of(request))?;
    Some(crate::server::auth::set_cookie_value(
        RESULT_COOKIE,
        &value,
        i64::from(COOKIE_SECS),
        policy.secure,
    ))
}

pub(crate) fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// `pairs` without the error's parameters, and, when `drop_success`, without the ones that
/// report a success.
fn cleaned_query(query: &str, drop_success: bool) -> String {
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| {
            let success = drop_success && SUCCESS_PARAMS.contains(&k.as_ref());
            !(ERROR_PARAMS.contains(&k.as_ref()) || success)
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish()
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// Splits a redirect's `Location` that carries a form error into the error and where to
/// send the browser instead (a path on this site, no error, no success message, the anchor).
fn split_location(location: &str) -> Option<(FormError, String)> {
    let base = url::Url::parse("http://this.app/").ok()?;
    let url = base.join(location).ok()?;
    let mut path = None;
    let mut err = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "__path" => path = Some(v.into_owned()),
            "__err" => err = Some(v.into_owned()),
            _ => {}
        }
    }
    let error = FormError {
        path: path?,
        err: err?,
    };
    let query = cleaned_query(url.query().unwrap_or(""), true);
    let to = format!("{}#{FORM_ERROR_ANCHOR}", with_query(url.path(), &query));
    Some((error, to))
}

fn cookie(policy: &CookiePolicy, name: &str, value: &str, max_age: u32) -> Option<HeaderValue> {
    HeaderValue::from_str(&crate::server::auth::set_cookie_value(
        name,
        value,
        i64::from(max_age),
        policy.secure,
    ))
    .ok()
}

/// The layer (see the module's comment).
pub async fn layer(
    axum::extract::State(policy): axum::extract::State<CookiePolicy>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let page_get = req.method() == Method::GET
        && accepts_html(req.headers())
        && !path.starts_with("/api/")
        && !path.starts_with("/pkg/");
    let mut consumed = Vec::new();
    if page_get {
        let query = req.uri().query().unwrap_or("");
        if url::form_urlencoded::parse(query.as_bytes())
            .any(|(k, _)| ERROR_PARAMS.contains(&k.as_ref()))
        {
            let to = with_query(path, &cleaned_query(query, false));
            return (
                StatusCode::SEE_OTHER,
                [(
                    header::LOCATION,
                    HeaderValue::from_str(&to).unwrap_or(HeaderValue::from_static("/")),
                )],
            )
                .into_response();
        }
        let session = session_of(req.headers());
        if let Some(value) = crate::server::auth::cookie_value(req.headers(), COOKIE) {
            consumed.push(COOKIE);
            if let Some(error) = FormError::open(&value, &policy.key, now(), &session) {
                req.extensions_mut().insert(error);
            }
        }
        if let Some(value) = crate::server::auth::cookie_value(req.headers(), RESULT_COOKIE) {
            consumed.push(RESULT_COOKIE);
            if let Some(result) = open_result(&value, &policy.key, now(), &session) {
                req.extensions_mut().insert(result);
            }
        }
    }
    let form_post = req.method() == Method::POST && accepts_html(req.headers());
    let session = session_of(req.headers());
    let mut res = next.run(req).await;
    if form_post && res.status().is_redirection() {
        let moved = res
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(split_location);
        if let Some((error, to)) = moved
            && let Ok(location) = HeaderValue::from_str(&to)
            && let Some(sealed) = error.seal(&policy.key, now(), &session)
            && let Some(set) = cookie(&policy, COOKIE, &sealed, COOKIE_SECS)
        {
            res.headers_mut().insert(header::LOCATION, location);
            res.headers_mut().append(header::SET_COOKIE, set);
        }
    } else {
        for name in consumed {
            if let Some(clear) = cookie(&policy, name, "", 0) {
                res.headers_mut().append(header::SET_COOKIE, clear);
            }
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_with_an_error_moves_it_out_of_the_address() {
        let (error, to) = split_location(
            "http://127.0.0.1:3000/subscription?subscribed=1&confirm=cancel&__path=%2Fapi%2Fplans%2Fchange&__err=eyJhIjoxfQ%3D%3D",
        )
        .expect("an error is found");
        assert_eq!(error.path, "/api/plans/change");
        assert_eq!(error.err, "eyJhIjoxfQ==");
        assert_eq!(to, "/subscription?confirm=cancel#form-error");
    }

    #[test]
    fn a_redirect_without_an_error_is_left_alone() {
        assert_eq!(split_location("/subscription#plans"), None);
        assert_eq!(split_location("/subscription?__path=%2Fapi%2Fx"), None);
    }

    const NOW: i64 = 1_780_000_000;

    #[test]
    fn an_error_is_read_back_only_as_this_app_sealed_it() {
        let key = SealKey::from_secret("one secret");
        let e = FormError {
            path: "/api/plans/change".into(),
            err: "eyJhIjoxfQ==".into(),
        };
        let value = e.seal(&key, NOW, "s1").expect("a path and base64");
        assert_eq!(
            FormError::open(&value, &key, NOW + 60, "s1"),
            Some(e.clone())
        );
        // Another session, too late, another key: refused.
        assert_eq!(FormError::open(&value, &key, NOW + 60, "s2"), None);
        assert_eq!(FormError::open(&value, &key, NOW + 121, "s1"), None);
        let other = SealKey::from_secret("another secret");
        assert_eq!(FormError::open(&value, &other, NOW, "s1"), None);
        // Written by someone else: refused.
        for bad in [
            "/api/x",
            "/elsewhere|abc",
            "/api/x|<script>",
            "/api/plans/change|eyJhIjoxfQ==",
            "/api/plans/change|eyJiIjoxfQ==|1780000000|AAAA",
        ] {
            assert_eq!(FormError::open(bad, &key, NOW, "s1"), None, "{bad}");
        }
        // Not server_fn's base64: never sealed.
        let odd = FormError {
            path: "/api/x".into(),
            err: "<b>hi</b>".into(),
        };
        assert_eq!(odd.seal(&key, NOW, "s1"), None);
        // A result is not an error.
        let result = FormResult {
            path: "/api/plans/change".into(),
            json: "{}".into(),
        };
        let as_result = seal_result(&result, &key, NOW, "s1").unwrap();
        assert_eq!(FormError::open(&as_result, &key, NOW, "s1"), None);
    }

    #[test]
    fn a_result_is_read_back_only_as_this_app_sealed_it() {
        let key = SealKey::from_secret("one secret");
        let result = FormResult {
            path: "/api/plans/change".into(),
            json: r#"{"upgraded":{"plan":"Studio"}}"#.into(),
        };
        let value = seal_result(&result, &key, NOW, "s1").expect("small enough");
        assert!(
            value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-|".contains(&b)),
            "cookie-safe: {value}"
        );
        assert_eq!(
            open_result(&value, &key, NOW + 10, "s1"),
            Some(result.clone())
        );
        // Another key, session, time or path, or other words: refused.
        let other = SealKey::from_secret("another secret");
        assert_eq!(open_result(&value, &other, NOW, "s1"), None);
        assert_eq!(open_result(&value, &key, NOW, ""), None);
        assert_eq!(open_result(&value, &key, NOW + 121, "s1"), None);
        assert_eq!(open_result(&value, &key, NOW - 10, "s1"), None);
        let moved = value.replacen("/api/plans/change", "/api/support/adjust", 1);
        assert_eq!(open_result(&moved, &key, NOW, "s1"), None);
        let parts: Vec<&str> = value.split('|').collect();
        let forged = format!(
            "{}|{}|{}|{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(br#"{"upgraded":{"plan":"Free"}}"#),
            parts[2],
            parts[3]
        );
        assert_eq!(open_result(&forged, &key, NOW, "s1"), None);
        for bad in [
            "",
            "/api/x",
            "/api/x|e30",
            "/api/x|e30|1|!!|x",
            "/elsewhere|e30|1780000000|AAAA",
        ] {
            assert_eq!(open_result(bad, &key, NOW, "s1"), None, "{bad}");
        }
        // Too big for a cookie: not handed on at all.
        let big = FormResult {
            path: "/api/x".into(),
            json: "x".repeat(RESULT_MAX_JSON + 1),
        };
        assert_eq!(seal_result(&big, &key, NOW, "s1"), None);
    }

    #[test]
    fn a_link_loses_its_error_but_keeps_the_rest() {
        assert_eq!(
            cleaned_query("a=1&__err=x&__path=%2Fapi%2Fy&b=two+words", false),
            "a=1&b=two+words"
        );
        assert_eq!(cleaned_query("tried=4&op=tts", true), "op=tts");
    }
}
