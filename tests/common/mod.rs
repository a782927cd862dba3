//! Test harness: a fresh, migrated database per test on SQLite or PostgreSQL, and the real
//! router on top of it.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod payments;
pub mod stripe_fixtures;
pub mod stripe_standin;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use sqlx::Connection;
use std::sync::atomic::{AtomicU32, Ordering};
use studio_billing::server::clock::Clock;
use studio_billing::server::config::Config;
use studio_billing::server::db::Db;
use studio_billing::server::http::router;
use studio_billing::server::state::AppState;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database made for one test; `cleanup` removes it.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    backend: Backend,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server tests create their databases on. The test script makes sure it
/// answers; a test never skips because it does not.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The time the test app's clock stands at: 2026-06-01 00:00:00 UTC.
pub const TEST_NOW: i64 = 1_780_272_000;

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// An empty database, not migrated.
    pub async fn empty(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/test.db", dir.path().display());
                let db = Db::connect(&url, 5).await.expect("open sqlite");
                TestDb {
                    db,
                    url,
                    backend,
                    name: String::new(),
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!(
                    "sb_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    chrono::Utc::now().timestamp_micros()
                );
                let admin = postgres_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL must answer at {admin} for the tests: {e}")
                    });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                conn.close().await.expect("close admin connection");
                let (base, _) = admin.rsplit_once('/').expect("admin URL names a database");
                let url = format!("{base}/{name}");
                let db = Db::connect(&url, 5).await.expect("open postgres");
                TestDb {
                    db,
                    url,
                    backend,
                    name,
                    _dir: None,
                }
            }
        }
    }

    /// A fresh database with every migration applied.
    pub async fn migrated(backend: Backend) -> TestDb {
        let t = TestDb::empty(backend).await;
        t.db.migrate().await.expect("migrations apply");
        t
    }

    pub async fn cleanup(self) {
        self.db.close().await;
        if self.backend == Backend::Postgres {
            let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
                .await
                .expect("admin connection");
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await
            .expect("drop test database");
        }
    }
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub test_db: TestDb,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// The body as it came (`body` is it read as UTF-8).
    #[allow(dead_code)]
    pub bytes: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        TestApp::with_config(backend, |_| {}).await
    }

    /// Starts the app on a fresh database with a demo configuration changed by `adjust`.
    pub async fn with_config(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let test_db = TestDb::migrated(backend).await;
        let mut config = Config::demo(&test_db.url);
        adjust(&mut config);
        let state = AppState::new(config, test_db.db.clone(), Clock::fixed(TEST_NOW));
        TestApp {
            router: router(state.clone()),
            state,
            test_db,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        }
    }

    /// `GET path` with these request headers (a cookie, an `Accept-Encoding`).
    #[allow(dead_code)]
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> TestResponse {
        let mut req = Request::builder().uri(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> TestResponse {
        self.send(
            Request::builder()
                .method(Method::POST)
                .uri(path)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    /// Sends `body` (raw text) with the given headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> TestResponse {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        self.send(
            req.body(body.map(Body::from).unwrap_or_else(Body::empty))
                .unwrap(),
        )
        .await
    }

    /// The app billing through Stripe at `api_base` (`stripe_standin`'s; nothing listens
    /// at `http://127.0.0.1:9/`, as when Stripe cannot be reached), accepting webhooks signed
    /// with any of `secrets`, each plan sold at the price `price_{plan}`.
    pub async fn with_stripe(backend: Backend, api_base: &str, secrets: &[&str]) -> TestApp {
        TestApp::with_config(backend, |c| {
            c.payments = stripe_payments(api_base, secrets);
            for plan in &mut c.catalog.plans {
                plan.stripe_price_id = Some(format!("price_{}", plan.id.as_str()));
            }
        })
        .await
    }

    /// Delivers a webhook event `body` to `/webhooks/stripe`, signed with `secret` as Stripe
    /// signs it, at the test's time.
    pub async fn deliver_webhook(&self, secret: &str, body: &str) -> TestResponse {
        let header =
            studio_billing::server::payments::signature::header(secret, TEST_NOW, body.as_bytes());
        self.call(
            Method::POST,
            "/webhooks/stripe",
            &[
                ("stripe-signature", header.as_str()),
                ("content-type", "application/json"),
            ],
            Some(body.to_owned()),
        )
        .await
    }

    pub async fn cleanup(self) {
        self.test_db.cleanup().await;
    }
}

/// Payments through Stripe at `api_base`, accepting webhooks signed with any of `secrets`.
pub fn stripe_payments(
    api_base: &str,
    secrets: &[&str],
) -> studio_billing::server::config::PaymentsConfig {
    use studio_billing::server::config::{PaymentsConfig, Secret, StripeConfig};
    PaymentsConfig::Stripe(StripeConfig {
        secret_key: Secret::new("sk_test_studio_billing"),
        webhook_secrets: secrets.iter().map(|s| Secret::new(*s)).collect(),
        api_base: api_base.to_owned(),
    })
}

/// Runs each listed `async fn name(backend: Backend)` as one test per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Postgres).await })*
        }
    };
}

// ---------------------------------------------------------------------------------------
// Calling server functions as the browser does.

pub const ORIGIN: &str = "http://127.0.0.1:3000";
pub const PASSWORD: &str = "correct horse battery";

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.replace('%', "%25")
                    .replace('&', "%26")
                    .replace('+', "%2B")
                    .replace(' ', "+")
                    .replace('@', "%40")
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Calls a server function the way the hydrated app does (form-encoded, not a page load).
pub async fn call(
    app: &TestApp,
    endpoint: &str,
    cookie: Option<&str>,
    pairs: &[(&str, &str)],
) -> TestResponse {
    let cookie_header = cookie.map(|c| format!("sb_session={c}"));
    let mut headers = vec![
        ("origin", ORIGIN),
        ("content-type", "application/x-www-form-urlencoded"),
        ("accept", "application/json"),
    ];
    if let Some(c) = cookie_header.as_deref() {
        headers.push(("cookie", c));
    }
    app.call(
        Method::POST,
        &format!("/api/{endpoint}"),
        &headers,
        Some(form(pairs)),
    )
    .await
}

/// Calls a server function as a plain HTML form post, the way a browser without
/// JavaScript sends it from the page `referer`, with the request's `cookies`.
#[allow(dead_code)]
pub async fn form_post_from(
    app: &TestApp,
    endpoint: &str,
    cookies: &str,
    referer: &str,
    pairs: &[(&str, &str)],
) -> TestResponse {
    app.call(
        Method::POST,
        &format!("/api/{endpoint}"),
        &[
            ("origin", ORIGIN),
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "text/html"),
            ("referer", referer),
            ("cookie", cookies),
        ],
        Some(form(pairs)),
    )
    .await
}

/// Signs in with `email` and `password` and answers the session's token.
#[allow(dead_code)]
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> String {
    let res = call(
        app,
        "auth/sign_in",
        None,
        &[("email", email), ("password", password)],
    )
    .await;
    session_of(&res).unwrap_or_else(|| panic!("{email} signs in: {}", res.body))
}

/// The session token a response set, if any.
pub fn session_of(res: &TestResponse) -> Option<String> {
    res.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sb_session="))
        .map(|v| {
            v["sb_session=".len()..]
                .split(';')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|t| !t.is_empty())
}

pub fn set_cookie(res: &TestResponse) -> String {
    res.headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub async fn sign_up(app: &TestApp, email: &str) -> String {
    let res = call(
        app,
        "auth/sign_up",
        None,
        &[("email", email), ("password", PASSWORD)],
    )
    .await;
    assert!(
        res.status.is_success() || res.status.is_redirection(),
        "sign-up {email}: {} {}",
        res.status,
        res.body
    );
    session_of(&res).expect("sign-up starts a session")
}

/// The account of the customer signed up as `email`.
pub async fn account_of(app: &TestApp, email: &str) -> i64 {
    studio_billing::server::db::users::find_customer(
        &app.state.db,
        &studio_billing::domain::account::Email::parse(email).unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .account_id
    .unwrap()
}

/// `sql` (one `$1`: the account) as a count, e.g. the rows an account has in a table.
pub async fn count(app: &TestApp, sql: &str, account: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(account)
        .fetch_one(app.state.db.reader())
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// The stand-in of Stripe's API reads form bodies as Stripe does.

/// A form body, decoded.
pub fn parse_form(body: &str) -> std::collections::HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

pub fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Subscribes to `plan` through the local checkout (paid by card): the plan starts when
/// the checkout is paid, and the browser is sent back to say so.
#[allow(dead_code)]
pub async fn subscribe_locally(app: &TestApp, cookie: &str, plan: &str) {
    let res = call(
        app,
        "plans/change",
        Some(cookie),
        &[("action", "subscribe"), ("plan", plan)],
    )
    .await;
    assert_eq!(res.status, axum::http::StatusCode::OK, "{}", res.body);
    let session = res
        .header("location")
        .strip_prefix("/checkout/local/")
        .expect("the local checkout")
        .to_owned();
    let paid = call(
        app,
        "checkout/local/pay",
        Some(cookie),
        &[("session_id", &session), ("method", "card")],
    )
    .await;
    assert_eq!(paid.status, axum::http::StatusCode::OK, "{}", paid.body);
    assert_eq!(paid.header("location"), "/subscription?subscribed=1#plans");
}

/// Sets the renewal date the ledger shows beside the balance (the P10 notice) without a
/// subscription: a fixture for tests of the ledger alone. The app sets it only through the
/// subscription life cycle (`services::lifecycle`).
#[allow(dead_code)]
pub async fn set_renewal(db: &Db, account: i64, renews_at: Option<i64>) {
    let done = sqlx::query("UPDATE accounts SET renews_at = $1 WHERE id = $2")
        .bind(renews_at)
        .bind(account)
        .execute(db.writer())
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "no account {account}");
}
