//! Pages that are the same for every anonymous reader, rendered once a minute instead of
//! once a request.
//!
//! `/faq` asked without a query, by a reader who is not signed in, depends on nothing but
//! this process's configuration (the FAQ is made once at start-up) and the time zone the
//! reader's browser chose (the `studio_tz` cookie, which the page's footer names; every
//! browser with JavaScript sends it after its first page). So it is kept once per zone.
//! Only one thing differs from one answer to the next: the CSP nonce `security_headers`
//! picks for each response, which the page's scripts carry. The page is kept as the parts
//! between its nonces, and each answer is those parts joined with its own nonce. Anything
//! else (any other cookie: a session, a form's result; a query; another method; any
//! answer but a 200 page) goes to the page itself, and is never kept.
//!
//! A render is used for a minute at most, so nothing a page shows can go stale for
//! longer, whatever it comes to depend on. (Requests that come while a new render is
//! being made render too; a few renders a minute cost nothing.)

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use leptos::nonce::Nonce;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The routes kept: anonymous, the same for everyone, and public.
const KEPT: &[&str] = &["/faq"];
/// How long one render is used.
const FRESH_FOR: Duration = Duration::from_secs(60);
/// A page larger than this is not kept (none is near it).
const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;
/// The most renders kept (one per route and zone): a bound on the memory whatever zones
/// readers send.
const MAX_KEPT: usize = 64;

/// The kept pages of one router.
#[derive(Default)]
pub struct PageCache {
    pages: RwLock<Vec<(Key, Arc<Kept>)>>,
}

/// What a kept page depends on: its route, and the zone its reader chose (none: UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    route: &'static str,
    zone: Option<chrono_tz::Tz>,
}

/// One render: its headers, and its body cut at each place the render's nonce stood.
struct Kept {
    made: Instant,
    headers: HeaderMap,
    parts: Vec<Bytes>,
}

impl Kept {
    fn new(headers: HeaderMap, body: &Bytes, nonce: &str) -> Kept {
        let mut parts = Vec::new();
        let mut from = 0;
        if !nonce.is_empty() {
            let bytes = body.as_ref();
            let needle = nonce.as_bytes();
            let mut at = 0;
            while let Some(i) = find(&bytes[at..], needle) {
                parts.push(body.slice(from..at + i));
                at += i + needle.len();
                from = at;
            }
        }
        parts.push(body.slice(from..));
        Kept {
            made: Instant::now(),
            headers,
            parts,
        }
    }

    /// The page as sent with `nonce`: the kept parts themselves (shared, not copied) with
    /// the nonce between each two.
    fn pieces_with(&self, nonce: &str) -> Pieces {
        let nonce = Bytes::copy_from_slice(nonce.as_bytes());
        let mut pieces = VecDeque::with_capacity(self.parts.len() * 2);
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                pieces.push_back(nonce.clone());
            }
            if !part.is_empty() {
                pieces.push_back(part.clone());
            }
        }
        let len = pieces.iter().map(|p| p.len() as u64).sum();
        Pieces { pieces, len }
    }

    fn response(&self, nonce: &str) -> Response {
        let mut res = Response::new(Body::new(self.pieces_with(nonce)));
        *res.headers_mut() = self.headers.clone();
        res
    }
}

/// A body sent as the pieces it is made of, its whole length known (so it goes out with a
/// `Content-Length`, as a page made for this request has).
struct Pieces {
    pieces: VecDeque<Bytes>,
    len: u64,
}

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let piece = self.pieces.pop_front();
        if let Some(piece) = &piece {
            self.len -= piece.len() as u64;
        }
        Poll::Ready(piece.map(|p| Ok(http_body::Frame::data(p))))
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl PageCache {
    fn fresh(&self, key: &Key) -> Option<Arc<Kept>> {
        let pages = self.pages.read().unwrap_or_else(|e| e.into_inner());
        pages
            .iter()
            .find(|(k, _)| k == key)
            .filter(|(_, kept)| kept.made.elapsed() < FRESH_FOR)
            .map(|(_, kept)| kept.clone())
    }

    fn keep(&self, key: Key, kept: Kept) {
        let mut pages = self.pages.write().unwrap_or_else(|e| e.into_inner());
        pages.retain(|(k, kept)| *k != key && kept.made.elapsed() < FRESH_FOR);
        if pages.len() < MAX_KEPT {
            pages.push((key, Arc::new(kept)));
        }
    }
}

/// What `req`'s answer would be kept as, when it may be kept and shared: a GET of a kept
/// route with no query, and no cookie but a time zone the tz database knows.
fn key_of(req: &Request) -> Option<Key> {
    if req.method() != Method::GET || req.uri().query().is_some() {
        return None;
    }
    let matched = req.extensions().get::<MatchedPath>()?.as_str();
    let route = KEPT.iter().copied().find(|r| *r == matched)?;
    let mut zone = None;
    for cookies in req.headers().get_all(header::COOKIE) {
        for pair in cookies.to_str().ok()?.split(';') {
            let (name, value) = pair.trim().split_once('=')?;
            if name != crate::server::zones::COOKIE || zone.is_some() {
                return None;
            }
            zone = Some(crate::server::zones::parse(value)?);
        }
    }
    Some(Key { route, zone })
}

/// The middleware, on every page route (`route_layer`, inside the request metrics, so a
/// kept page is counted like any other).
pub async fn layer(State(cache): State<Arc<PageCache>>, req: Request, next: Next) -> Response {
    let Some(key) = key_of(&req) else {
        return next.run(req).await;
    };
    // Set by `security_headers` on every request; without one, nothing can be patched.
    let Some(nonce) = req.extensions().get::<Nonce>().cloned() else {
        return next.run(req).await;
    };
    if let Some(kept) = cache.fresh(&key) {
        return kept.response(&nonce);
    }
    let res = next.run(req).await;
    let keepable = res.status() == StatusCode::OK
        && !res.headers().contains_key(header::SET_COOKIE)
        && res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
    if !keepable {
        return res;
    }
    let (parts, body) = res.into_parts();
    match axum::body::to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(bytes) => {
            let kept = Kept::new(parts.headers.clone(), &bytes, &nonce);
            cache.keep(key, kept);
            Response::from_parts(parts, Body::from(bytes))
        }
        // The page failed while it was being made (or is far larger than any page): not
        // kept, and the reader gets the error page rather than half a page.
        Err(e) => {
            tracing::error!(error = %e, route = key.route, "page could not be read whole");
            super::error_page()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Kept {
        /// The whole body `pieces_with` sends, and checks its length is the one announced.
        fn body_with(&self, nonce: &str) -> Bytes {
            let pieces = self.pieces_with(nonce);
            let announced = pieces.len;
            let body: Vec<u8> = pieces
                .pieces
                .iter()
                .flat_map(|p| p.iter().copied())
                .collect();
            assert_eq!(body.len() as u64, announced);
            Bytes::from(body)
        }
    }

    #[test]
    fn a_kept_page_carries_each_answers_own_nonce_wherever_the_first_one_stood() {
        let body =
            Bytes::from_static(b"<script nonce=\"AAA\">x</script><p>AA</p><i nonce=\"AAA\"/>AAA");
        let kept = Kept::new(HeaderMap::new(), &body, "AAA");
        assert_eq!(kept.parts.len(), 4);
        assert_eq!(
            kept.body_with("zq9"),
            Bytes::from_static(b"<script nonce=\"zq9\">x</script><p>AA</p><i nonce=\"zq9\"/>zq9")
        );
        assert_eq!(kept.body_with("AAA"), body);
        // A longer nonce fits as well as one of the same length.
        assert_eq!(
            kept.body_with("longer-nonce"),
            Bytes::from_static(
                b"<script nonce=\"longer-nonce\">x</script><p>AA</p><i nonce=\"longer-nonce\"/>longer-nonce"
            )
        );
    }

    #[test]
    fn a_page_without_the_nonce_is_kept_as_it_is() {
        let body = Bytes::from_static(b"<p>plain</p>");
        let kept = Kept::new(HeaderMap::new(), &body, "nonce");
        assert_eq!(kept.parts.len(), 1);
        assert_eq!(kept.body_with("other"), body);
    }

    /// The middleware on a router like the app's: a nonce set outside it per request, and a
    /// page that counts its renders and prints its nonce, as the real pages do.
    use axum::response::IntoResponse;

    fn app(
        status: StatusCode,
        set_cookie: bool,
    ) -> (axum::Router, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let renders = Arc::new(AtomicUsize::new(0));
        let counted = renders.clone();
        let page = move |req: Request| {
            let counted = counted.clone();
            async move {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                let nonce = req
                    .extensions()
                    .get::<Nonce>()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                let mut res = (
                    status,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    format!("<script nonce=\"{nonce}\"></script><p>render {n}</p>"),
                )
                    .into_response();
                if set_cookie {
                    res.headers_mut()
                        .insert(header::SET_COOKIE, "a=b".parse().unwrap());
                }
                res
            }
        };
        let router = axum::Router::new()
            .route("/faq", axum::routing::get(page.clone()).post(page.clone()))
            .route("/other", axum::routing::get(page))
            .route_layer(axum::middleware::from_fn_with_state(
                Arc::new(PageCache::default()),
                layer,
            ))
            .layer(axum::middleware::from_fn(
                |mut req: Request, next: Next| async move {
                    req.extensions_mut().insert(Nonce::new());
                    next.run(req).await
                },
            ));
        (router, renders)
    }

    async fn ask(
        router: &axum::Router,
        method: Method,
        uri: &str,
        cookie: Option<&str>,
    ) -> (StatusCode, String) {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let mut req = axum::http::Request::builder().method(method).uri(uri);
        if let Some(cookie) = cookie {
            req = req.header(header::COOKIE, cookie);
        }
        let res = router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        // Whatever the body is made of, its length is known before it is sent (a
        // `Content-Length`, as the page itself has), and stays right frame by frame, as
        // hyper reads it.
        let mut body = res.into_body();
        let mut bytes = Vec::new();
        loop {
            use http_body::Body as _;
            let left = body.size_hint().exact();
            let ended = body.is_end_stream();
            match body.frame().await {
                Some(frame) => {
                    let data = frame.unwrap().into_data().unwrap();
                    assert!(!ended, "{uri}: more after the end");
                    assert!(!data.is_empty(), "{uri}: no empty pieces");
                    assert_eq!(left.map(|n| n >= data.len() as u64), Some(true), "{uri}");
                    bytes.extend_from_slice(&data);
                }
                None => {
                    assert_eq!(left, Some(0), "{uri}: nothing announced at the end");
                    break;
                }
            }
        }
        (status, String::from_utf8(bytes).unwrap())
    }

    fn nonce_of(page: &str) -> &str {
        page.split("nonce=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
    }

    #[tokio::test]
    async fn an_anonymous_faq_is_rendered_once_and_each_answer_has_its_own_nonce() {
        use std::sync::atomic::Ordering;
        let (router, renders) = app(StatusCode::OK, false);
        let (_, first) = ask(&router, Method::GET, "/faq", None).await;
        let (status, second) = ask(&router, Method::GET, "/faq", None).await;
        let (_, third) = ask(&router, Method::GET, "/faq", None).await;
        assert_eq!(renders.load(Ordering::SeqCst), 1, "rendered once");
        assert_eq!(status, StatusCode::OK);
        assert!(second.ends_with("<p>render 1</p>"), "{second}");
        assert_ne!(nonce_of(&first), nonce_of(&second));
        assert_ne!(nonce_of(&second), nonce_of(&third));
        assert_eq!(
            second.replace(nonce_of(&second), "N"),
            first.replace(nonce_of(&first), "N")
        );
    }

    #[tokio::test]
    async fn a_cookie_a_query_another_method_or_another_route_is_always_rendered() {
        use std::sync::atomic::Ordering;
        let (router, renders) = app(StatusCode::OK, false);
        ask(&router, Method::GET, "/faq", None).await;
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        for (method, uri, cookie) in [
            (Method::GET, "/faq", Some("sb_session=abc")),
            (
                Method::GET,
                "/faq",
                Some("studio_tz=Europe/Berlin; sb_session=abc"),
            ),
            (Method::GET, "/faq", Some("studio_form_result=x")),
            (Method::GET, "/faq", Some("studio_tz=Nowhere/Land")),
            (
                Method::GET,
                "/faq",
                Some("studio_tz=Europe/Berlin; studio_tz=UTC"),
            ),
            (Method::GET, "/faq?q=refund", None),
            (Method::POST, "/faq", None),
            (Method::GET, "/other", None),
            (Method::GET, "/other", None),
        ] {
            let before = renders.load(Ordering::SeqCst);
            let (_, page) = ask(&router, method.clone(), uri, cookie).await;
            assert_eq!(
                renders.load(Ordering::SeqCst),
                before + 1,
                "{method} {uri} cookie={cookie:?}"
            );
            assert!(
                page.ends_with(&format!("render {}</p>", before + 1)),
                "{page}"
            );
        }
        // The kept page is still the first render.
        let (_, page) = ask(&router, Method::GET, "/faq", None).await;
        assert!(page.ends_with("render 1</p>"), "{page}");
    }

    #[tokio::test]
    async fn a_reader_who_chose_a_time_zone_gets_the_render_kept_for_that_zone() {
        use std::sync::atomic::Ordering;
        let (router, renders) = app(StatusCode::OK, false);
        let berlin = Some("studio_tz=Europe/Berlin");
        let (_, first) = ask(&router, Method::GET, "/faq", berlin).await;
        assert!(first.ends_with("render 1</p>"), "{first}");
        let (_, none) = ask(&router, Method::GET, "/faq", None).await;
        assert!(none.ends_with("render 2</p>"), "not Berlin's page: {none}");
        let (_, utc) = ask(&router, Method::GET, "/faq", Some("studio_tz=UTC")).await;
        assert!(
            utc.ends_with("render 3</p>"),
            "a chosen UTC is its own: {utc}"
        );
        let (_, again) = ask(
            &router,
            Method::GET,
            "/faq",
            Some(" studio_tz=Europe/Berlin "),
        )
        .await;
        assert!(again.ends_with("render 1</p>"), "{again}");
        let (_, again) = ask(&router, Method::GET, "/faq", None).await;
        assert!(again.ends_with("render 2</p>"), "{again}");
        assert_eq!(renders.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_error_page_or_a_page_that_sets_a_cookie_is_never_kept() {
        use std::sync::atomic::Ordering;
        for (status, set_cookie) in [
            (StatusCode::INTERNAL_SERVER_ERROR, false),
            (StatusCode::NOT_FOUND, false),
            (StatusCode::OK, true),
        ] {
            let (router, renders) = app(status, set_cookie);
            let (got, _) = ask(&router, Method::GET, "/faq", None).await;
            assert_eq!(got, status);
            ask(&router, Method::GET, "/faq", None).await;
            assert_eq!(
                renders.load(Ordering::SeqCst),
                2,
                "{status} set-cookie={set_cookie}"
            );
        }
    }
}
