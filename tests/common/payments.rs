//! What the payment tests share: the app billing through Stripe at a stub, a Stripe
//! customer, a recorded top-up checkout, Stripe's events signed with the test secrets, and a
//! stub of Stripe's API that records each request.

use super::{Backend, TEST_NOW, TestApp, TestResponse, account_of, parse_form, sign_up};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use studio_billing::domain::credits::Credits;
use studio_billing::domain::payments::PaymentStatus;
use studio_billing::server::config::PaymentsConfig;
use studio_billing::server::db::ledger;
use studio_billing::server::db::payments::{self, NewCheckout};

pub const SECRET: &str = "whsec_current_test";
pub const PREVIOUS: &str = "whsec_previous_test";

// ---------------------------------------------------------------------------------------
// Helpers

pub async fn balance(app: &TestApp, account: i64) -> (u64, u64) {
    let b = ledger::balance(&app.state.db, account, TEST_NOW)
        .await
        .unwrap();
    (b.total.get(), b.topup.get())
}

pub async fn event_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events")
        .fetch_one(app.state.db.reader())
        .await
        .unwrap()
}

pub async fn grant_count(app: &TestApp, account: i64) -> i64 {
    super::count(
        app,
        "SELECT COUNT(*) FROM grants WHERE account_id = $1",
        account,
    )
    .await
}

pub async fn status_of(app: &TestApp, session: &str) -> PaymentStatus {
    payments::by_external_id(&app.state.db, session)
        .await
        .unwrap()
        .expect("payment recorded")
        .status
}

pub fn stripe_config(api_base: &str) -> PaymentsConfig {
    super::stripe_payments(api_base, &[SECRET, PREVIOUS])
}

/// An app billing through Stripe at `api_base`, each plan sold at the price `price_{plan}`.
pub async fn stripe_app(backend: Backend, api_base: &str) -> TestApp {
    TestApp::with_stripe(backend, api_base, &[SECRET, PREVIOUS]).await
}

/// A signed-up customer, member@example.com, whose account is Stripe's customer `cus_1`;
/// their session cookie and account.
pub async fn stripe_member(app: &TestApp) -> (String, i64) {
    let cookie = sign_up(app, "member@example.com").await;
    let account = account_of(app, "member@example.com").await;
    studio_billing::server::db::subscriptions::link_customer(
        &app.state.db,
        account,
        "cus_1",
        TEST_NOW,
    )
    .await
    .unwrap();
    (cookie, account)
}

/// Records a Stripe top-up checkout for `pack` (`small`: 500 credits for $5, `medium`:
/// 2,000 for $18), as starting a checkout does.
pub async fn record_stripe_checkout(app: &TestApp, account: i64, session: &str, pack: &str) {
    let (credits, cents) = if pack == "medium" {
        (2000, 1800)
    } else {
        (500, 500)
    };
    payments::record_checkout(
        &app.state.db,
        NewCheckout {
            account_id: account,
            provider: studio_billing::domain::payments::Provider::Stripe,
            external_id: session,
            kind: studio_billing::domain::payments::PaymentKind::Topup,
            product: pack,
            credits: Credits::new(credits).unwrap(),
            amount_cents: cents,
            currency: "usd",
            checkout_url: &format!("https://checkout.stripe.com/c/pay/{session}"),
            request_key: &format!("key-{session}-0000000000"),
        },
        TEST_NOW,
    )
    .await
    .unwrap();
}

/// A customer with a Stripe checkout for the `medium` pack (2,000 credits, $18) on record.
pub async fn stripe_customer_with_checkout(app: &TestApp, session: &str) -> i64 {
    sign_up(app, "buyer@example.com").await;
    let account = account_of(app, "buyer@example.com").await;
    record_stripe_checkout(app, account, session, "medium").await;
    account
}

pub fn checkout_event(
    id: &str,
    kind: &str,
    session: &str,
    payment_status: &str,
    account: i64,
) -> String {
    serde_json::json!({
        "id": id,
        "object": "event",
        "type": kind,
        "created": TEST_NOW,
        "data": { "object": {
            "id": session,
            "object": "checkout.session",
            "mode": "payment",
            "payment_status": payment_status,
            "client_reference_id": account.to_string(),
            "metadata": { "account_id": account.to_string(), "pack_id": "medium" },
        }},
    })
    .to_string()
}

pub async fn deliver(app: &TestApp, body: &str, signature_header: &str) -> TestResponse {
    app.call(
        Method::POST,
        "/webhooks/stripe",
        &[
            ("stripe-signature", signature_header),
            ("content-type", "application/json"),
        ],
        Some(body.to_owned()),
    )
    .await
}

pub async fn deliver_signed(app: &TestApp, body: &str) -> TestResponse {
    app.deliver_webhook(SECRET, body).await
}

/// A server function called as a plain HTML form post (no JavaScript).
pub async fn form_post(
    app: &TestApp,
    endpoint: &str,
    cookie: &str,
    pairs: &[(&str, &str)],
) -> TestResponse {
    super::form_post_from(
        app,
        endpoint,
        &format!("sb_session={cookie}"),
        "http://127.0.0.1:3000/subscription",
        pairs,
    )
    .await
}

pub fn location(res: &TestResponse) -> String {
    res.header("location").to_owned()
}

// ---------------------------------------------------------------------------------------
// A stub of Stripe's API: records each request and answers like Stripe would.

#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub form: HashMap<String, String>,
}

#[derive(Clone, Default)]
pub struct Stub {
    pub seen: Arc<Mutex<Vec<Recorded>>>,
    pub failing: bool,
    /// What `GET /v1/subscriptions` lists (newest first).
    pub subscriptions: Arc<Mutex<Vec<serde_json::Value>>>,
    /// The Checkout Sessions made, as Stripe's objects (oldest first).
    pub sessions: Arc<Mutex<Vec<serde_json::Value>>>,
}

pub async fn stub_sessions(
    State(stub): State<Stub>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    let form = parse_form(&body);
    let n = {
        let mut seen = stub.seen.lock().unwrap();
        seen.push(Recorded {
            path: uri.path().to_owned(),
            headers,
            form,
        });
        seen.len()
    };
    if stub.failing {
        return stripe_api_error();
    }
    let id = if uri.path() == "/v1/customers" {
        format!("cus_stub{n}")
    } else {
        format!("cs_test_stub{n}")
    };
    if uri.path() == "/v1/checkout/sessions" {
        let form = stub.seen.lock().unwrap()[n - 1].form.clone();
        let fx = super::stripe_fixtures::Fixtures::load(super::stripe_fixtures::Version::V2023);
        let mut session = fx.object("checkout.session");
        session["id"] = id.clone().into();
        session["mode"] = form.get("mode").cloned().into();
        session["status"] = "open".into();
        session["customer"] = form.get("customer").cloned().into();
        session["metadata"] = serde_json::json!({ "plan_id": form.get("metadata[plan_id]") });
        session["url"] = format!("https://checkout.stripe.com/c/pay/{id}").into();
        stub.sessions.lock().unwrap().push(session);
    }
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "id": id,
            "object": "checkout.session",
            "mode": "payment",
            "payment_status": "unpaid",
            "url": format!("https://checkout.stripe.com/c/pay/{id}"),
        })),
    )
}

/// Stripe's answer when it fails.
pub fn stripe_api_error() -> (StatusCode, axum::Json<serde_json::Value>) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(serde_json::json!({ "error": { "type": "api_error", "message": "boom" } })),
    )
}

pub async fn start_stub(failing: bool) -> (String, Stub) {
    let stub = Stub {
        failing,
        ..Stub::default()
    };
    let app = axum::Router::new()
        .route("/v1/checkout/sessions", axum::routing::post(stub_sessions))
        .route("/v1/customers", axum::routing::post(stub_sessions))
        .route(
            "/v1/billing_portal/sessions",
            axum::routing::post(stub_sessions),
        )
        .route(
            "/v1/checkout/sessions",
            axum::routing::get(
                |State(stub): State<Stub>,
                 axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| async move {
                    // Newest first, filtered as Stripe filters them.
                    let data: Vec<serde_json::Value> = stub
                        .sessions
                        .lock()
                        .unwrap()
                        .iter()
                        .rev()
                        .filter(|s| q.get("customer").is_none_or(|c| s["customer"] == c.as_str()))
                        .filter(|s| q.get("status").is_none_or(|st| s["status"] == st.as_str()))
                        .cloned()
                        .collect();
                    axum::Json(serde_json::json!({ "object": "list", "data": data, "has_more": false }))
                },
            ),
        )
        .route(
            "/v1/checkout/sessions/{id}/expire",
            axum::routing::post(
                |State(stub): State<Stub>,
                 axum::extract::Path(id): axum::extract::Path<String>,
                 headers: HeaderMap| async move {
                    stub.seen.lock().unwrap().push(Recorded {
                        path: format!("/v1/checkout/sessions/{id}/expire"),
                        headers,
                        form: HashMap::new(),
                    });
                    let mut sessions = stub.sessions.lock().unwrap();
                    let s = sessions.iter_mut().find(|s| s["id"] == id.as_str()).unwrap();
                    s["status"] = "expired".into();
                    s["url"] = serde_json::Value::Null;
                    axum::Json(s.clone())
                },
            ),
        )
        .route(
            "/v1/subscriptions",
            axum::routing::get(|State(stub): State<Stub>| async move {
                let data = stub.subscriptions.lock().unwrap().clone();
                axum::Json(serde_json::json!({ "object": "list", "data": data }))
            }),
        )
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), stub)
}

pub fn stripe_event(id: &str, kind: &str, object: serde_json::Value) -> String {
    stripe_event_at(id, kind, object, TEST_NOW)
}

pub fn stripe_event_at(id: &str, kind: &str, object: serde_json::Value, created: i64) -> String {
    serde_json::json!({ "id": id, "object": "event", "type": kind, "created": created, "data": { "object": object } })
        .to_string()
}
