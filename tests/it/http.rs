//! The foundation through the real router: health checks, the FAQ page, the 404 page,
//! security headers, compression and server functions.

use crate::common;

use axum::body::Body;
use axum::http::Method;
use axum::http::{Request, StatusCode};
use common::{Backend, TestApp, sign_up};

async fn healthz_answers_while_the_process_is_up(backend: Backend) {
    let app = TestApp::start(backend).await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["status"], "ok");
    app.cleanup().await;
}

async fn readyz_reports_the_database_and_fails_when_it_is_gone(backend: Backend) {
    let app = TestApp::start(backend).await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status, StatusCode::OK);
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(res.json()["database"], expected);

    app.state.db.close().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.json()["status"], "unavailable");
    assert!(
        !res.body.to_lowercase().contains("pool"),
        "no internal error text: {}",
        res.body
    );
    app.cleanup().await;
}

async fn faq_renders_every_question_with_the_configured_facts(backend: Backend) {
    let app = TestApp::start(backend).await;
    let res = app.get("/faq").await;
    assert_eq!(res.status, StatusCode::OK);
    let html = &res.body;
    assert_eq!(html.matches("<h1").count(), 1, "one h1");
    assert!(html.contains("Credits &amp; Billing FAQ") || html.contains("Credits & Billing FAQ"));
    for anchor in [
        "do-credits-expire",
        "which-credits-are-used-first",
        "what-happens-when-i-run-out",
        "can-i-downgrade-instead-of-cancelling",
    ] {
        assert!(
            html.contains(&format!("id=\"{anchor}\"")),
            "anchor {anchor} missing"
        );
    }
    assert!(
        html.contains("support@brainports.ai"),
        "default support address shown"
    );
    assert!(
        html.contains("Creator") && html.contains("5,000 credits"),
        "plan credits shown"
    );
    assert!(html.contains("60 days"), "Creator grace period shown");
    assert!(html.contains("Sound effects"), "operations listed");
    app.cleanup().await;
}

async fn changing_the_configuration_changes_the_faq(backend: Backend) {
    let app = TestApp::with_config(backend, |config| {
        config.support_email = "credits-desk@studio.test".into();
        config.catalog.plans[1].grace_period_days = 21;
        config.catalog.plans[0].credits_per_period =
            studio_billing::domain::credits::Credits::new(1234).unwrap();
    })
    .await;
    let html = app.get("/faq").await.body;
    assert!(html.contains("credits-desk@studio.test"));
    assert!(!html.contains("support@brainports.ai"));
    assert!(html.contains("21 days"));
    assert!(!html.contains("60 days"));
    assert!(html.contains("1,234 credits"));
    app.cleanup().await;
}

async fn faq_search_works_without_javascript(backend: Backend) {
    let app = TestApp::start(backend).await;
    let html = app.get("/faq?q=refunded").await.body;
    // The <details> that holds the answer with this anchor carries `hidden` when filtered out.
    let visible = |slug: &str| {
        let start = html.find(&format!("id=\"{slug}\"")).expect("entry present");
        let details = html[..start].rfind("<details").unwrap();
        let tag = &html[details..details + html[details..].find('>').unwrap()];
        !tag.contains("hidden")
    };
    assert!(visible("are-subscription-fees-refunded"));
    assert!(!visible("do-credits-expire"));
    assert!(
        html.contains("value=\"refunded\""),
        "the search box keeps the query"
    );

    let none = app.get("/faq?q=zzzunknownzzz").await.body;
    assert!(none.contains("No question matches"));
    assert!(none.contains("0 questions match"));
    app.cleanup().await;
}

async fn unknown_pages_get_a_friendly_404(backend: Backend) {
    let app = TestApp::start(backend).await;
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(res.body.contains("Page not found"));
    assert!(res.body.contains("href=\"/faq\""));
    app.cleanup().await;
}

async fn every_page_carries_security_headers_and_a_request_id(backend: Backend) {
    let app = TestApp::start(backend).await;
    for path in ["/faq", "/no/such/page", "/healthz"] {
        let res = app.get(path).await;
        let csp = res.header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("'wasm-unsafe-eval'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(res.header("x-content-type-options"), "nosniff");
        assert_eq!(res.header("x-frame-options"), "DENY");
        assert_eq!(
            res.header("referrer-policy"),
            "strict-origin-when-cross-origin"
        );
        assert_eq!(res.header("x-request-id").len(), 36, "a UUID request id");
    }
    let res = app.get("/faq").await;
    let csp = res.header("content-security-policy");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a nonce");
    assert!(
        res.body.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the CSP nonce"
    );
    let again = app.get("/faq").await;
    assert_ne!(
        again.header("content-security-policy"),
        csp,
        "a new nonce for each response"
    );
    app.cleanup().await;
}

/// A signed-in page or any API answer must not be kept by a shared cache or the browser's
/// history (a customer's balance, receipts, payments); public pages may be. Production
/// tells browsers to use https only (HSTS); a local demo does not.
async fn signed_in_pages_and_api_answers_are_never_stored(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = format!("sb_session={}", sign_up(&app, "cache@example.com").await);
    for path in ["/subscription", "/faq"] {
        let res = app
            .call(Method::GET, path, &[("cookie", cookie.as_str())], None)
            .await;
        assert_eq!(
            res.headers.get("cache-control").unwrap(),
            "no-store",
            "{path}"
        );
        assert!(res.headers.get("strict-transport-security").is_none());
    }
    let api = app
        .call(
            Method::POST,
            "/api/v1/estimates",
            &[],
            Some("{}".to_owned()),
        )
        .await;
    assert_eq!(api.headers.get("cache-control").unwrap(), "no-store");
    // An anonymous page is asked for again each time (it names the site's files by their
    // hashes), never kept from a signed-in one.
    let public = app.get("/faq").await;
    assert_eq!(
        public.headers.get("cache-control").unwrap(),
        "no-cache",
        "an anonymous FAQ is revalidated"
    );
    // A cookie of another name is not a session.
    let other = app
        .call(
            Method::GET,
            "/faq",
            &[("cookie", "sb_sessionx=1; theme=dark")],
            None,
        )
        .await;
    assert_eq!(other.headers.get("cache-control").unwrap(), "no-cache");
    app.cleanup().await;

    let app = TestApp::with_config(backend, |c| {
        c.mode = studio_billing::server::config::Mode::Production;
    })
    .await;
    let res = app.get("/faq").await;
    assert_eq!(
        res.header("strict-transport-security"),
        "max-age=31536000; includeSubDomains"
    );
    app.cleanup().await;
}

async fn responses_are_compressed(backend: Backend) {
    let app = TestApp::start(backend).await;
    let res = app
        .send(
            Request::builder()
                .uri("/faq")
                .header("accept-encoding", "br, gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-encoding"), "br");
    app.cleanup().await;
}

async fn the_faq_server_function_returns_the_facts(backend: Backend) {
    let app = TestApp::start(backend).await;
    let res = app
        .call(
            axum::http::Method::POST,
            "/api/faq/facts",
            &[
                ("origin", "http://127.0.0.1:3000"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(String::new()),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let facts = res.json();
    assert_eq!(facts["support_email"], "support@brainports.ai");
    assert_eq!(facts["catalog"]["plans"].as_array().unwrap().len(), 3);
    app.cleanup().await;
}

/// Search engines and link previews read a page's description: each public page has one
/// of its own.
async fn public_pages_describe_themselves(backend: Backend) {
    let app = TestApp::start(backend).await;
    let mut seen = Vec::new();
    for path in ["/", "/faq", "/sign-in", "/sign-up"] {
        let html = app.get(path).await.body;
        let metas: Vec<&str> = html
            .match_indices("<meta name=\"description\" content=\"")
            .map(|(i, m)| {
                let rest = &html[i + m.len()..];
                &rest[..rest.find('"').unwrap()]
            })
            .collect();
        assert_eq!(metas.len(), 1, "{path}: {metas:?}");
        assert!(metas[0].len() > 40, "{path}: {:?}", metas[0]);
        assert!(
            !seen.contains(&metas[0].to_owned()),
            "{path} repeats a description"
        );
        seen.push(metas[0].to_owned());
    }
    app.cleanup().await;
}

/// Pages render while other routers are being built in the same process, as the tests do
/// all the time. Leptos holds resources back with one process-wide flag while it generates
/// a route list; a page whose resource first ran in that window used to wait forever
/// (issue 15, leptos#4773). Routes are generated once per process now. The pages are
/// asked for on a thread of their own, so a page that never comes fails the test after
/// 20 seconds instead of hanging it.
async fn pages_render_while_other_routers_are_built(backend: Backend) {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::{Arc, mpsc};
    use std::time::Duration;
    /// Stops the router builder when the test ends, passed or failed.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let app = Arc::new(TestApp::start(backend).await);
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let built = Arc::new(AtomicU32::new(0));
    let runtime = tokio::runtime::Handle::current();
    let builder = {
        let (stop, built, state) = (stop.0.clone(), built.clone(), app.state.clone());
        let runtime = runtime.clone();
        std::thread::spawn(move || {
            let _in_runtime = runtime.enter();
            while !stop.load(Ordering::Relaxed) {
                drop(studio_billing::server::http::router(state.clone()));
                built.fetch_add(1, Ordering::Relaxed);
                std::thread::yield_now();
            }
        })
    };
    // Each page with the status and a line it must carry.
    let pages = [
        ("/faq", StatusCode::OK, "Credits"),
        ("/no/such/page", StatusCode::NOT_FOUND, "Page not found"),
        ("/sign-in", StatusCode::OK, "Sign in"),
    ];
    let (done, answers) = mpsc::channel();
    let pager = {
        let app = app.clone();
        std::thread::spawn(move || {
            for (i, (path, _, _)) in pages.iter().cycle().take(30).enumerate() {
                let res = runtime.block_on(app.get(path));
                if done.send((i, res)).is_err() {
                    return;
                }
            }
        })
    };
    for i in 0..30 {
        let (n, res) = match answers.recv_timeout(Duration::from_secs(20)) {
            Ok(answer) => answer,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("page {i} never finished while routers were built")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("the thread asking for pages failed at page {i}")
            }
        };
        let (path, status, line) = pages[n % pages.len()];
        assert_eq!(res.status, status, "page {n} ({path})");
        assert!(
            res.body.contains(line) && res.body.contains("</html>"),
            "page {n} ({path}): the whole page"
        );
    }
    drop(stop);
    builder.join().expect("router builder");
    pager.join().expect("pages");
    assert!(
        built.load(Ordering::Relaxed) > 0,
        "routers were built meanwhile"
    );
    Arc::into_inner(app)
        .expect("the threads are done")
        .cleanup()
        .await;
}

/// `/faq` for an anonymous reader is rendered once and kept (`server::http::page_cache`):
/// every answer is still that page with its own CSP nonce, the one its header names. A
/// signed-in reader, a reader with a chosen time zone and a search still get their own page.
async fn the_kept_faq_is_the_same_page_with_each_answers_own_nonce(backend: Backend) {
    let app = TestApp::start(backend).await;
    let nonce_of = |res: &common::TestResponse| {
        res.header("content-security-policy")
            .split("'nonce-")
            .nth(1)
            .and_then(|s| s.split('\'').next())
            .expect("a nonce")
            .to_owned()
    };
    // A signed-in reader and one with a zone first: neither render may be kept for others.
    let session = sign_up(&app, "kept-faq@studio.test").await;
    let signed_in = app
        .get_with("/faq", &[("cookie", &format!("sb_session={session}"))])
        .await;
    assert!(
        signed_in.body.contains("kept-faq@studio.test"),
        "the reader's own header"
    );
    assert!(!signed_in.body.contains("href=\"/sign-in\""));
    assert_eq!(signed_in.header("cache-control"), "no-store");

    let zoned = app
        .get_with("/faq", &[("cookie", "studio_tz=Europe/Berlin")])
        .await;
    assert!(
        zoned.body.contains("Times are in Europe/Berlin"),
        "the reader's zone"
    );

    let answers = [
        app.get("/faq").await,
        app.get("/faq").await,
        app.get("/faq").await,
    ];
    let mut seen = std::collections::HashSet::new();
    let mut pages = std::collections::HashSet::new();
    for res in &answers {
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.header("cache-control"), "no-cache");
        assert!(res.header("content-type").starts_with("text/html"));
        let nonce = nonce_of(res);
        assert!(
            res.body.contains(&format!("nonce=\"{nonce}\"")),
            "the page carries its header's nonce"
        );
        assert!(seen.insert(nonce.clone()), "a new nonce for each answer");
        pages.insert(res.body.replace(&nonce, "NONCE"));
    }
    assert_eq!(pages.len(), 1, "one page, but for the nonce");
    for res in &answers {
        let own = nonce_of(res);
        for other in seen.iter().filter(|n| **n != own) {
            assert!(
                !res.body.contains(other.as_str()),
                "no answer carries another's nonce"
            );
        }
    }
    assert!(answers[0].body.contains("href=\"/sign-in\""));
    assert!(!answers[0].body.contains("kept-faq@studio.test"));
    assert!(answers[0].body.contains("Times are in UTC"));
    // Berlin's page, now kept, is still Berlin's.
    let zoned = app
        .get_with("/faq", &[("cookie", "studio_tz=Europe/Berlin")])
        .await;
    assert!(zoned.body.contains("Times are in Europe/Berlin"));

    let search = app.get("/faq?q=zzzunknownzzz").await;
    assert!(search.body.contains("0 questions match"));
    assert!(!app.get("/faq").await.body.contains("0 questions match"));
    app.cleanup().await;
}

on_both_backends!(
    the_kept_faq_is_the_same_page_with_each_answers_own_nonce,
    public_pages_describe_themselves,
    pages_render_while_other_routers_are_built,
    healthz_answers_while_the_process_is_up,
    readyz_reports_the_database_and_fails_when_it_is_gone,
    faq_renders_every_question_with_the_configured_facts,
    changing_the_configuration_changes_the_faq,
    faq_search_works_without_javascript,
    unknown_pages_get_a_friendly_404,
    every_page_carries_security_headers_and_a_request_id,
    signed_in_pages_and_api_answers_are_never_stored,
    responses_are_compressed,
    the_faq_server_function_returns_the_facts,
);

/// The site's files (`/pkg/`) are sent as the build compressed them: the brotli copy to a
/// browser that takes brotli, the plain file otherwise, each marked `Vary:
/// Accept-Encoding`; with hashed names (a release build) cached for a year as `immutable`,
/// without them asked for again. A missing file is not cached. Pages are `no-cache`.
#[tokio::test]
async fn site_files_are_sent_as_built_and_cached_by_name() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    std::fs::write(
        site.path().join("pkg/studio-billing.abc.css"),
        "body { margin: 0 }",
    )
    .unwrap();
    std::fs::write(
        site.path().join("pkg/studio-billing.abc.css.br"),
        b"\x0b\x08brotli",
    )
    .unwrap();
    let root = site.path().to_str().unwrap().to_owned();
    for hashed in [false, true] {
        let mut app = TestApp::with_config(Backend::Sqlite, |c| c.site_root = root.clone()).await;
        // What a release build with `hash-files` reads from `hash.txt` beside the binary.
        if hashed {
            app.state = app.state.clone().with_asset_hashes(vec!["abc".to_owned()]);
            app.router = studio_billing::server::http::router(app.state.clone());
        }
        let cache = if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };

        let br = app
            .call(
                Method::GET,
                "/pkg/studio-billing.abc.css",
                &[("accept-encoding", "gzip, br")],
                None,
            )
            .await;
        assert_eq!(br.status, StatusCode::OK);
        assert_eq!(br.header("content-encoding"), "br");
        assert_eq!(
            br.body.as_bytes(),
            b"\x0b\x08brotli",
            "the file made at build, as it is"
        );
        assert_eq!(br.header("cache-control"), cache);
        assert_eq!(br.header("vary"), "accept-encoding");

        // A signed-in browser sends its session along: the file is the same for everyone.
        let plain = app
            .call(
                Method::GET,
                "/pkg/studio-billing.abc.css",
                &[("cookie", "sb_session=abc")],
                None,
            )
            .await;
        assert_eq!(plain.status, StatusCode::OK);
        assert!(plain.headers.get("content-encoding").is_none());
        assert_eq!(plain.body, "body { margin: 0 }");
        assert_eq!(plain.header("cache-control"), cache);

        let missing = app
            .call(Method::GET, "/pkg/studio-billing.zzz.css", &[], None)
            .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_ne!(
            missing
                .headers
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("public, max-age=31536000, immutable")
        );

        let page = app
            .call(Method::GET, "/faq", &[("accept", "text/html")], None)
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.header("cache-control"), "no-cache");
        app.cleanup().await;
    }
}
