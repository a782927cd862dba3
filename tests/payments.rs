//! Top-ups: Checkout Sessions created through async-stripe against a local stub of
//! Stripe's API, the webhook (signatures, duplicates, order, concurrency), the local test
//! checkout, and the "Try a generation" panel, through the real router on SQLite and
//! PostgreSQL.

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use common::{
    Backend, ORIGIN, TEST_NOW, TestApp, TestResponse, account_of, call, form, parse_form, sign_up,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use studio_billing::domain::credits::Credits;
use studio_billing::domain::ledger::GrantKind;
use studio_billing::domain::payments::PaymentStatus;
use studio_billing::domain::subscription::Status;
use studio_billing::server::config::{Mode, PaymentsConfig, Secret, StripeConfig};
use studio_billing::server::db::ledger;
use studio_billing::server::db::payments::{self, NewCheckout};
use studio_billing::server::payments::signature;

const SECRET: &str = "whsec_current_test";
const PREVIOUS: &str = "whsec_previous_test";

// ---------------------------------------------------------------------------------------
// Helpers

async fn balance(app: &TestApp, account: i64) -> (u64, u64) {
    let b = ledger::balance(&app.state.db, account, TEST_NOW)
        .await
        .unwrap();
    (b.total.get(), b.topup.get())
}

async fn event_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events")
        .fetch_one(app.state.db.reader())
        .await
        .unwrap()
}

async fn grant_count(app: &TestApp, account: i64) -> i64 {
    common::count(
        app,
        "SELECT COUNT(*) FROM grants WHERE account_id = $1",
        account,
    )
    .await
}

async fn status_of(app: &TestApp, session: &str) -> PaymentStatus {
    payments::by_external_id(&app.state.db, session)
        .await
        .unwrap()
        .expect("payment recorded")
        .status
}

fn stripe_config(api_base: &str) -> PaymentsConfig {
    PaymentsConfig::Stripe(StripeConfig {
        secret_key: Secret::new("sk_test_studio_billing"),
        webhook_secrets: vec![Secret::new(SECRET), Secret::new(PREVIOUS)],
        api_base: api_base.to_owned(),
    })
}

/// An app billing through Stripe at `api_base`, each plan sold at the price `price_{plan}`.
async fn stripe_app(backend: Backend, api_base: &str) -> TestApp {
    TestApp::with_config(backend, |c| {
        c.payments = stripe_config(api_base);
        for plan in &mut c.catalog.plans {
            plan.stripe_price_id = Some(format!("price_{}", plan.id.as_str()));
        }
    })
    .await
}

/// A signed-up customer, member@example.com, whose account is Stripe's customer `cus_1`;
/// their session cookie and account.
async fn stripe_member(app: &TestApp) -> (String, i64) {
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
async fn record_stripe_checkout(app: &TestApp, account: i64, session: &str, pack: &str) {
    let (credits, cents) = if pack == "medium" {
        (2000, 1800)
    } else {
        (500, 500)
    };
    payments::record_checkout(
        &app.state.db,
        NewCheckout {
            account_id: account,
            provider: "stripe",
            external_id: session,
            kind: "topup",
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
async fn stripe_customer_with_checkout(app: &TestApp, session: &str) -> i64 {
    sign_up(app, "buyer@example.com").await;
    let account = account_of(app, "buyer@example.com").await;
    record_stripe_checkout(app, account, session, "medium").await;
    account
}

fn checkout_event(
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

async fn deliver(app: &TestApp, body: &str, signature_header: &str) -> TestResponse {
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

async fn deliver_signed(app: &TestApp, body: &str) -> TestResponse {
    deliver(
        app,
        body,
        &signature::header(SECRET, TEST_NOW, body.as_bytes()),
    )
    .await
}

/// A server function called as a plain HTML form post (no JavaScript).
async fn form_post(
    app: &TestApp,
    endpoint: &str,
    cookie: &str,
    pairs: &[(&str, &str)],
) -> TestResponse {
    common::form_post_from(
        app,
        endpoint,
        &format!("sb_session={cookie}"),
        "http://127.0.0.1:3000/subscription",
        pairs,
    )
    .await
}

fn location(res: &TestResponse) -> String {
    res.header("location").to_owned()
}

// ---------------------------------------------------------------------------------------
// A stub of Stripe's API: records each request and answers like Stripe would.

#[derive(Clone, Debug)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    form: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Stub {
    seen: Arc<Mutex<Vec<Recorded>>>,
    failing: bool,
    /// What `GET /v1/subscriptions` lists (newest first).
    subscriptions: Arc<Mutex<Vec<serde_json::Value>>>,
    /// The Checkout Sessions made, as Stripe's objects (oldest first).
    sessions: Arc<Mutex<Vec<serde_json::Value>>>,
}

async fn stub_sessions(
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
        let fx = common::stripe_fixtures::Fixtures::load(common::stripe_fixtures::Version::V2023);
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
fn stripe_api_error() -> (StatusCode, axum::Json<serde_json::Value>) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(serde_json::json!({ "error": { "type": "api_error", "message": "boom" } })),
    )
}

async fn start_stub(failing: bool) -> (String, Stub) {
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

// ---------------------------------------------------------------------------------------
// Stripe Checkout

async fn buying_a_top_up_creates_a_checkout_session_with_the_right_fields(backend: Backend) {
    let (base, stub) = start_stub(false).await;
    let app = TestApp::with_config(backend, |c| c.payments = stripe_config(&base)).await;
    let cookie = sign_up(&app, "buyer@example.com").await;
    let account = account_of(&app, "buyer@example.com").await;
    let key = "0123456789abcdef0123456789abcdef-medium";

    let res = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[("pack", "medium"), ("request_key", key)],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        location(&res),
        "https://checkout.stripe.com/c/pay/cs_test_stub1"
    );

    let seen = stub.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.path, "/v1/checkout/sessions");
    assert_eq!(
        r.headers.get("authorization").unwrap(),
        "Bearer sk_test_studio_billing"
    );
    assert_eq!(
        r.headers.get("idempotency-key").unwrap().to_str().unwrap(),
        format!(
            "sb-{}-topup-{account}-{key}",
            app.state.db.install_id().await.unwrap()
        ),
        "the form's key, namespaced by this installation"
    );
    let f = &r.form;
    let field = |k: &str| {
        f.get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {k} in {f:?}"))
    };
    assert_eq!(field("mode"), "payment");
    assert_eq!(field("client_reference_id"), account.to_string());
    assert_eq!(field("customer_email"), "buyer@example.com");
    assert_eq!(field("metadata[account_id]"), account.to_string());
    assert_eq!(field("metadata[pack_id]"), "medium");
    assert_eq!(field("metadata[credits]"), "2000");
    assert_eq!(field("line_items[0][quantity]"), "1");
    assert_eq!(field("line_items[0][price_data][currency]"), "usd");
    assert_eq!(field("line_items[0][price_data][unit_amount]"), "1800");
    assert_eq!(
        field("line_items[0][price_data][product_data][name]"),
        "2,000 credits top-up"
    );
    assert_eq!(
        field("success_url"),
        "http://127.0.0.1:3000/top-up/complete?session_id={CHECKOUT_SESSION_ID}"
    );
    assert_eq!(
        field("cancel_url"),
        "http://127.0.0.1:3000/top-up/cancelled"
    );

    // Recorded as open, nothing granted yet: only the webhook grants.
    assert_eq!(status_of(&app, "cs_test_stub1").await, PaymentStatus::Open);
    assert_eq!(balance(&app, account).await, (0, 0));

    // The same form sent again goes to the same session without asking Stripe again.
    let again = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[("pack", "medium"), ("request_key", key)],
    )
    .await;
    assert_eq!(
        location(&again),
        "https://checkout.stripe.com/c/pay/cs_test_stub1"
    );
    assert_eq!(stub.seen.lock().unwrap().len(), 1);

    // Without JavaScript the form post is a real redirect to Stripe.
    let plain = form_post(
        &app,
        "top-up/buy",
        &cookie,
        &[
            ("pack", "small"),
            ("request_key", "fedcba9876543210fedcba9876543210-small"),
        ],
    )
    .await;
    assert_eq!(plain.status, StatusCode::FOUND);
    assert_eq!(
        location(&plain),
        "https://checkout.stripe.com/c/pay/cs_test_stub2"
    );
    // ...and the page's CSP lets the form lead there.
    let page = app.get("/faq").await;
    assert!(
        page.header("content-security-policy")
            .contains("form-action 'self' https://checkout.stripe.com")
    );

    // Bad input is refused before Stripe is asked.
    for (pack, key, want) in [
        ("gold", "0123456789abcdef0123456789abcdef-x", "not on sale"),
        ("small", "short", "Reload the page"),
    ] {
        let res = call(
            &app,
            "top-up/buy",
            Some(&cookie),
            &[("pack", pack), ("request_key", key)],
        )
        .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert!(res.body.contains(want), "{}", res.body);
    }
    assert_eq!(stub.seen.lock().unwrap().len(), 2);
    app.cleanup().await;
}

async fn stripe_failing_gives_a_clear_error_and_records_nothing(backend: Backend) {
    let (base, stub) = start_stub(true).await;
    let app = TestApp::with_config(backend, |c| c.payments = stripe_config(&base)).await;
    let cookie = sign_up(&app, "buyer@example.com").await;
    let res = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[
            ("pack", "small"),
            ("request_key", "0123456789abcdef0123456789abcdef"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.body);
    let error: studio_billing::error::AppError = serde_json::from_str(&res.body).unwrap();
    assert!(error.to_string().contains("Nothing was charged"), "{error}");
    assert!(
        !res.body.contains("boom"),
        "Stripe's text must not reach the customer"
    );
    assert_eq!(stub.seen.lock().unwrap().len(), 1);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments")
        .fetch_one(app.state.db.reader())
        .await
        .unwrap();
    assert_eq!(rows, 0);
    app.cleanup().await;
}

/// Money bug: subscribing again within the hour sent the customer to the earlier, completed
/// Checkout Session (the key was `plan-<account>-<plan>-<hour>`, and Stripe replays a key's
/// first answer for 24 hours). The same form twice is one session; once a subscription
/// came of it (and ended), a new checkout gets a new key.
async fn resubscribing_soon_after_gets_a_new_checkout(backend: Backend) {
    let (base, stub) = start_stub(false).await;
    let app = stripe_app(backend, &base).await;
    let cookie = sign_up(&app, "again@example.com").await;
    let subscribe = || {
        call(
            &app,
            "plans/change",
            Some(&cookie),
            &[("action", "subscribe"), ("plan", "starter")],
        )
    };
    let session_keys = || {
        stub.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == "/v1/checkout/sessions")
            .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let first = subscribe().await;
    assert_eq!(first.status, StatusCode::OK);
    let again = subscribe().await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        location(&again),
        location(&first),
        "the same form twice: one session"
    );
    let keys = session_keys();
    assert_eq!(keys.len(), 1, "the open session is reused, not made again");
    // The checkout was paid, the subscription made and then ended in Stripe's portal.
    let fx = common::stripe_fixtures::Fixtures::load(common::stripe_fixtures::Version::V2023);
    let mut ended = fx.subscription(&common::stripe_fixtures::Sub {
        status: "canceled",
        ended_at: Some(TEST_NOW + 60),
        ..common::stripe_fixtures::Sub::active(
            "sub_old",
            "cus_stub1",
            "price_starter",
            TEST_NOW,
            TEST_NOW + 30 * 86_400,
        )
    });
    ended["customer"] = "cus_stub1".into();
    stub.subscriptions.lock().unwrap().push(ended);
    stub.sessions.lock().unwrap()[0]["status"] = "complete".into();
    assert_eq!(subscribe().await.status, StatusCode::OK);
    let keys = session_keys();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[1], keys[0], "a new checkout, not the completed one");
    app.cleanup().await;
}

/// Issue 13: with two Checkout tabs for two plans, both could be paid (two subscriptions,
/// two payments). Choosing another plan expires the open session first, so only one can
/// be paid; coming back to the first plan makes a new session (its old one is expired,
/// and Stripe would replay it for the old key).
async fn choosing_another_plan_expires_the_open_checkout(backend: Backend) {
    let (base, stub) = start_stub(false).await;
    let app = stripe_app(backend, &base).await;
    let cookie = sign_up(&app, "tabs@example.com").await;
    let subscribe = async |plan: &'static str| {
        call(
            &app,
            "plans/change",
            Some(&cookie),
            &[("action", "subscribe"), ("plan", plan)],
        )
        .await
    };
    let paths = || {
        stub.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with("/v1/checkout/sessions"))
            .map(|r| {
                (
                    r.path.clone(),
                    r.headers["idempotency-key"].to_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    let starter = subscribe("starter").await;
    assert_eq!(starter.status, StatusCode::OK, "{}", starter.body);
    let creator = subscribe("creator").await;
    assert_eq!(creator.status, StatusCode::OK, "{}", creator.body);
    assert_ne!(location(&creator), location(&starter));
    let seen = paths();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[1].0, "/v1/checkout/sessions/cs_test_stub2/expire");
    let sessions = stub.sessions.lock().unwrap().clone();
    let open: Vec<_> = sessions.iter().filter(|s| s["status"] == "open").collect();
    assert_eq!(open.len(), 1, "only one session can be paid");
    assert_eq!(open[0]["metadata"]["plan_id"], "creator");
    // Back to Starter: Creator's session is expired and a new Starter one is made, with
    // a key of its own (not the first Starter session's, which Stripe would replay).
    let back = subscribe("starter").await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_ne!(location(&back), location(&starter));
    let seen = paths();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen[3].0.ends_with("/expire"));
    assert_ne!(seen[4].1, seen[0].1);
    let open = stub
        .sessions
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "open")
        .count();
    assert_eq!(open, 1);
    app.cleanup().await;
}

async fn subscribing_with_stripe_goes_through_checkout_in_subscription_mode(backend: Backend) {
    let (base, stub) = start_stub(false).await;
    let app = stripe_app(backend, &base).await;
    let cookie = sign_up(&app, "buyer@example.com").await;
    let account = account_of(&app, "buyer@example.com").await;
    let res = call(
        &app,
        "plans/change",
        Some(&cookie),
        &[("action", "subscribe"), ("plan", "creator")],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(location(&res).starts_with("https://checkout.stripe.com/c/pay/"));
    let seen = stub.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "the customer, then the session");
    assert_eq!(seen[0].path, "/v1/customers");
    assert_eq!(seen[0].form["email"], "buyer@example.com");
    assert_eq!(seen[0].form["metadata[account_id]"], account.to_string());
    let f = &seen[1].form;
    assert_eq!(f["mode"], "subscription");
    assert_eq!(f["customer"], "cus_stub1");
    assert_eq!(f["line_items[0][price]"], "price_creator");
    assert_eq!(
        f["subscription_data[metadata][account_id]"],
        account.to_string()
    );
    assert_eq!(f["metadata[plan_id]"], "creator");
    // A past-due customer fixes the payment in Stripe's portal, for their own customer.
    let res = call(&app, "plans/fix_payment", Some(&cookie), &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(location(&res).starts_with("https://"));
    let seen = stub.seen.lock().unwrap().clone();
    assert_eq!(seen[2].path, "/v1/billing_portal/sessions");
    assert_eq!(seen[2].form["customer"], "cus_stub1");
    assert_eq!(
        seen[2].form["return_url"],
        "http://127.0.0.1:3000/subscription#plans"
    );
    let stranger = sign_up(&app, "stranger@example.com").await;
    let res = call(&app, "plans/fix_payment", Some(&stranger), &[]).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    // Every call to Stripe carries an idempotency key namespaced by this installation, so
    // two databases sharing one Stripe account never collide; the portal's too.
    let install = app.state.db.install_id().await.unwrap();
    for r in &seen {
        let key = r.headers["idempotency-key"].to_str().unwrap();
        assert!(
            key.starts_with(&format!("sb-{install}-")),
            "{}: {key}",
            r.path
        );
    }
    // Nothing is granted before Stripe's first paid invoice.
    assert_eq!(balance(&app, account).await, (0, 0));
    assert!(
        studio_billing::server::db::subscriptions::get(&app.state.db, account)
            .await
            .unwrap()
            .is_none()
    );
    app.cleanup().await;
}

/// A stateful stub of one Stripe subscription: lists it, applies updates to its price and
/// cancel flag, and records each update's form and idempotency key.
#[derive(Clone)]
struct SubscriptionStub {
    subscription: Arc<Mutex<serde_json::Value>>,
    updates: Arc<Mutex<Vec<Recorded>>>,
    /// A price Stripe refuses to move to (answering 500), if any.
    refused_price: Arc<Mutex<Option<String>>>,
    /// A price whose prorated invoice the customer's card cannot pay (answering 402
    /// `card_error`, changing nothing, as `payment_behavior=error_if_incomplete` does).
    declined_price: Arc<Mutex<Option<String>>>,
}

async fn start_subscription_stub(subscription: serde_json::Value) -> (String, SubscriptionStub) {
    let stub = SubscriptionStub {
        subscription: Arc::new(Mutex::new(subscription)),
        updates: Arc::default(),
        refused_price: Arc::default(),
        declined_price: Arc::default(),
    };
    async fn list(State(stub): State<SubscriptionStub>) -> axum::Json<serde_json::Value> {
        let sub = stub.subscription.lock().unwrap().clone();
        axum::Json(serde_json::json!({ "object": "list", "data": [sub] }))
    }
    async fn update(
        State(stub): State<SubscriptionStub>,
        uri: axum::http::Uri,
        headers: HeaderMap,
        body: String,
    ) -> (StatusCode, axum::Json<serde_json::Value>) {
        let form = parse_form(&body);
        let refused = stub.refused_price.lock().unwrap().clone();
        if refused.is_some() && form.get("items[0][price]") == refused.as_ref() {
            return stripe_api_error();
        }
        let declined = stub.declined_price.lock().unwrap().clone();
        if declined.is_some() && form.get("items[0][price]") == declined.as_ref() {
            return (
                StatusCode::PAYMENT_REQUIRED,
                axum::Json(serde_json::json!({ "error": {
                    "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                } })),
            );
        }
        let mut sub = stub.subscription.lock().unwrap();
        if let Some(price) = form.get("items[0][price]") {
            sub["items"]["data"][0]["price"]["id"] = price.clone().into();
        }
        if let Some(cancel) = form.get("cancel_at_period_end") {
            sub["cancel_at_period_end"] = (cancel == "true").into();
        }
        stub.updates.lock().unwrap().push(Recorded {
            path: uri.path().to_owned(),
            headers,
            form,
        });
        (StatusCode::OK, axum::Json(sub.clone()))
    }
    let app = axum::Router::new()
        .route("/v1/subscriptions", axum::routing::get(list))
        .route("/v1/subscriptions/{id}", axum::routing::post(update))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), stub)
}

/// A declined card on an upgrade changes neither plan nor credits, and says why, with the
/// way to fix the card.
async fn a_declined_upgrade_changes_nothing_and_says_how_to_fix_the_card(backend: Backend) {
    let subscription = serde_json::json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
        "current_period_start": TEST_NOW, "current_period_end": TEST_NOW + 30 * 86_400,
        "cancel_at_period_end": false,
        "items": { "data": [{ "id": "si_1", "price": { "id": "price_creator" } }] },
    });
    let (base, stub) = start_subscription_stub(subscription.clone()).await;
    *stub.declined_price.lock().unwrap() = Some("price_studio".into());
    let app = stripe_app(backend, &base).await;
    let (cookie, account) = stripe_member(&app).await;
    let paid = serde_json::json!({
        "id": "in_1", "object": "invoice", "customer": "cus_1", "subscription": "sub_1",
        "amount_paid": 2900, "amount_due": 2900, "currency": "usd",
        "lines": { "data": [
            { "proration": false, "type": "subscription", "price": { "id": "price_creator" },
              "period": { "start": TEST_NOW, "end": TEST_NOW + 30 * 86_400 } },
        ] },
    });
    deliver_signed(&app, &stripe_event("evt_i", "invoice.paid", paid)).await;
    let res = call(
        &app,
        "plans/change",
        Some(&cookie),
        &[("action", "change"), ("plan", "studio")],
    )
    .await;
    assert_eq!(res.status, StatusCode::PAYMENT_REQUIRED, "{}", res.body);
    let e = res.json();
    assert_eq!(e["code"], "card_declined");
    assert_eq!(e["message"], "Your card has insufficient funds.");
    let s = studio_billing::server::db::subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.plan.as_str(), "creator");
    assert_eq!(balance(&app, account).await, (5000, 0));
    // Without JavaScript the plans section says why, with the button to fix the card.
    let res = form_post(
        &app,
        "plans/change",
        &cookie,
        &[("action", "change"), ("plan", "studio")],
    )
    .await;
    // The browser comes back with the error's cookie (it is not in the address).
    let error = res
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("studio_form_error="))
        .and_then(|v| v.split(';').next())
        .expect("the error rides in a cookie")
        .to_owned();
    assert!(!location(&res).contains("__err"));
    let page = app
        .call(
            Method::GET,
            &location(&res),
            &[
                ("cookie", &format!("sb_session={cookie}; {error}")),
                ("accept", "text/html"),
            ],
            None,
        )
        .await;
    assert!(
        page.body.contains("Your card has insufficient funds.")
            && page.body.contains("plan-card-declined")
            && page.body.contains("Update payment method"),
        "{}",
        page.body
    );
    app.cleanup().await;
}

async fn a_second_subscription_is_refused_while_one_is_live_on_stripe(backend: Backend) {
    let (base, stub) = start_subscription_stub(serde_json::json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
        "current_period_start": TEST_NOW, "current_period_end": TEST_NOW + 30 * 86_400,
        "cancel_at_period_end": false,
        "items": { "data": [{ "id": "si_1", "price": { "id": "price_creator" } }] },
    }))
    .await;
    let app = stripe_app(backend, &base).await;
    let (cookie, _) = stripe_member(&app).await;
    // Another tab, or a retry before the first invoice's event: a second checkout would
    // bill twice, so it is refused with a message and nothing is sent to Stripe.
    let res = call(
        &app,
        "plans/change",
        Some(&cookie),
        &[("action", "subscribe"), ("plan", "studio")],
    )
    .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(res.body.contains("Reload the page"), "{}", res.body);
    assert!(stub.updates.lock().unwrap().is_empty());
    app.cleanup().await;
}

async fn an_upgrade_after_a_pending_downgrade_is_prorated_from_the_plan_paid_for(backend: Backend) {
    let (start, end) = (TEST_NOW, TEST_NOW + 30 * 86_400);
    let subscription = serde_json::json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
        "current_period_start": start, "current_period_end": end, "cancel_at_period_end": false,
        "items": { "data": [{ "id": "si_1", "price": { "id": "price_creator" } }] },
    });
    let (base, stub) = start_subscription_stub(subscription.clone()).await;
    let app = stripe_app(backend, &base).await;
    let (cookie, account) = stripe_member(&app).await;
    // Creator, paid for this period.
    deliver_signed(
        &app,
        &stripe_event("evt_s", "customer.subscription.created", subscription),
    )
    .await;
    let invoice = serde_json::json!({
        "id": "in_1", "object": "invoice", "customer": "cus_1", "subscription": "sub_1",
        "amount_paid": 2900, "amount_due": 2900, "currency": "usd",
        "lines": { "data": [
            { "proration": false, "type": "subscription", "price": { "id": "price_creator" }, "period": { "start": start, "end": end } },
        ] },
    });
    let res = deliver_signed(&app, &stripe_event("evt_i", "invoice.paid", invoice)).await;
    assert_eq!(res.json()["outcome"], "granted", "{}", res.body);
    let subscription_credits = || async {
        ledger::balance(&app.state.db, account, TEST_NOW)
            .await
            .unwrap()
            .subscription
            .get()
    };
    assert_eq!(subscription_credits().await, 5000);

    // A downgrade waits for the renewal: Stripe gets the lower price, not prorated.
    let change = |plan: &'static str| {
        let (app, cookie) = (&app, &cookie);
        async move {
            call(
                app,
                "plans/change",
                Some(cookie),
                &[("action", "change"), ("plan", plan)],
            )
            .await
        }
    };
    let res = change("starter").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    {
        let updates = stub.updates.lock().unwrap();
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].form["items[0][price]"], "price_starter");
        assert_eq!(updates[0].form["proration_behavior"], "none");
    }
    let s = studio_billing::server::db::subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (s.plan.as_str(), s.pending_plan.as_ref().map(|p| p.as_str())),
        ("creator", Some("starter"))
    );

    // An upgrade that Stripe refuses after the restore: the downgrade is undone on Stripe,
    // and the app says so too (it does not keep showing a downgrade Stripe no longer has).
    *stub.refused_price.lock().unwrap() = Some("price_studio".into());
    let res = change("studio").await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.body);
    assert_eq!(stub.updates.lock().unwrap().len(), 2, "the restore only");
    let s = studio_billing::server::db::subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.plan.as_str(), s.pending_plan), ("creator", None));
    assert_eq!(subscription_credits().await, 5000);
    *stub.refused_price.lock().unwrap() = None;
    let res = change("starter").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    // Then an upgrade in the same period: Creator is put back first (not prorated), so
    // Stripe prorates Studio from Creator, the plan paid for, not from Starter.
    let res = change("studio").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    {
        let updates = stub.updates.lock().unwrap();
        assert_eq!(updates.len(), 5, "restore, then upgrade");
        assert_eq!(updates[3].form["items[0][price]"], "price_creator");
        assert_eq!(updates[3].form["proration_behavior"], "none");
        assert_eq!(updates[4].form["items[0][price]"], "price_studio");
        // The upgrade is invoiced and paid at once, or not made at all.
        assert_eq!(updates[4].form["proration_behavior"], "always_invoice");
        assert_eq!(updates[4].form["payment_behavior"], "error_if_incomplete");
        let key = |i: usize| {
            updates[i].headers["idempotency-key"]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_ne!(key(3), key(4), "each call its own idempotency key");
    }
    let s = studio_billing::server::db::subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.plan.as_str(), s.pending_plan), ("studio", None));
    assert_eq!(
        subscription_credits().await,
        5000,
        "no extra credits before the upgrade's invoice is paid"
    );
    // Stripe's proration invoice, paid: the difference over Creator (the whole period is
    // left), once, whichever of Stripe's two events says so.
    let fx = common::stripe_fixtures::Fixtures::load(common::stripe_fixtures::Version::Current);
    let proration = |price, amount| common::stripe_fixtures::Line {
        price,
        amount,
        start: TEST_NOW,
        end,
        proration: true,
    };
    let upgrade_invoice = fx.invoice(&common::stripe_fixtures::Inv {
        id: "in_up",
        customer: "cus_1",
        subscription: "sub_1",
        paid: true,
        billing_reason: "subscription_update",
        lines: vec![
            proration("price_creator", -2900),
            proration("price_studio", 9900),
        ],
    });
    for (id, kind) in [
        ("evt_up", "invoice.paid"),
        ("evt_up2", "invoice.payment_succeeded"),
    ] {
        let res =
            deliver_signed(&app, &fx.event(id, kind, TEST_NOW, upgrade_invoice.clone())).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    assert_eq!(
        subscription_credits().await,
        20_000,
        "Studio's credits, the difference over Creator granted once"
    );
    // The restore's own webhook, made in the same second as the upgrade and delivered
    // after it, is no newer than the answer already applied: Studio stays, with no
    // downgrade to Creator pending.
    let restored = stub.subscription.lock().unwrap().clone();
    let mut restored = restored;
    restored["items"]["data"][0]["price"]["id"] = "price_creator".into();
    let res = deliver_signed(
        &app,
        &stripe_event_at(
            "evt_restore",
            "customer.subscription.updated",
            restored,
            app.state.clock.wall(),
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let s = studio_billing::server::db::subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.plan.as_str(), s.pending_plan), ("studio", None));
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// The webhook

async fn a_paid_checkout_grants_its_credits_once(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.payments = stripe_config("http://127.0.0.1:9/")
    })
    .await;
    let account = stripe_customer_with_checkout(&app, "cs_test_a").await;
    // Support moved the demo clock a day ahead: Stripe's signatures are still judged by
    // real time, so its deliveries keep working.
    app.state.clock.advance(86_400);
    let body = checkout_event(
        "evt_1",
        "checkout.session.completed",
        "cs_test_a",
        "paid",
        account,
    );

    let res = deliver_signed(&app, &body).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["outcome"], "granted");
    assert_eq!(balance(&app, account).await, (2000, 2000));
    assert_eq!(status_of(&app, "cs_test_a").await, PaymentStatus::Paid);
    let grants = ledger::journal(&app.state.db, account, None, 10)
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].kind, "grant");
    assert!(
        grants[0]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("cs_test_a")
    );

    // The same event again (Stripe redelivers): acknowledged, nothing more.
    let again = deliver_signed(&app, &body).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["outcome"], "duplicate");
    // A different event about the same paid session: nothing more either.
    let other = checkout_event(
        "evt_2",
        "checkout.session.async_payment_succeeded",
        "cs_test_a",
        "paid",
        account,
    );
    assert_eq!(
        deliver_signed(&app, &other).await.json()["outcome"],
        "status"
    );
    assert_eq!(balance(&app, account).await, (2000, 2000));
    assert_eq!(grant_count(&app, account).await, 1);
    // A late `expired` for the paid session: paid never changes again.
    let expired = checkout_event(
        "evt_3",
        "checkout.session.expired",
        "cs_test_a",
        "unpaid",
        account,
    );
    assert_eq!(deliver_signed(&app, &expired).await.status, StatusCode::OK);
    assert_eq!(status_of(&app, "cs_test_a").await, PaymentStatus::Paid);
    assert_eq!(balance(&app, account).await, (2000, 2000));
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

async fn bad_signatures_get_a_400_and_change_nothing(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.payments = stripe_config("http://127.0.0.1:9/")
    })
    .await;
    let account = stripe_customer_with_checkout(&app, "cs_test_b").await;
    let body = checkout_event(
        "evt_b",
        "checkout.session.completed",
        "cs_test_b",
        "paid",
        account,
    );
    let tampered = body.replace("cs_test_b", "cs_test_c");
    let cases = [
        (
            "wrong secret",
            body.clone(),
            signature::header("whsec_wrong", TEST_NOW, body.as_bytes()),
        ),
        (
            "stale timestamp",
            body.clone(),
            signature::header(SECRET, TEST_NOW - 301, body.as_bytes()),
        ),
        (
            "from the future",
            body.clone(),
            signature::header(SECRET, TEST_NOW + 301, body.as_bytes()),
        ),
        (
            "tampered body",
            tampered,
            signature::header(SECRET, TEST_NOW, body.as_bytes()),
        ),
        ("no v1", body.clone(), format!("t={TEST_NOW}")),
        ("garbage", body.clone(), "nonsense".to_owned()),
    ];
    for (what, b, header) in cases {
        let res = deliver(&app, &b, &header).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{what}: {}", res.body);
        assert!(
            res.json()["error"].as_str().unwrap().contains("signature"),
            "{what}"
        );
    }
    let res = app
        .call(Method::POST, "/webhooks/stripe", &[], Some(body.clone()))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "no header");
    assert_eq!(balance(&app, account).await, (0, 0));
    assert_eq!(event_count(&app).await, 0);
    assert_eq!(status_of(&app, "cs_test_b").await, PaymentStatus::Open);

    // A signed body that is not an event: 400, nothing recorded.
    let junk = "{\"hello\":1}";
    let res = deliver_signed(&app, junk).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(event_count(&app).await, 0);

    // During a rotation the previous secret still works, and several v1 values are fine.
    let header = format!(
        "t={TEST_NOW},v1={},v1={}",
        signature::sign("whsec_somebody_else", TEST_NOW, body.as_bytes()),
        signature::sign(PREVIOUS, TEST_NOW, body.as_bytes())
    );
    let res = deliver(&app, &body, &header).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(balance(&app, account).await, (2000, 2000));
    app.cleanup().await;
}

async fn delayed_payments_grant_on_success_whatever_the_order(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.payments = stripe_config("http://127.0.0.1:9/")
    })
    .await;
    let account = stripe_customer_with_checkout(&app, "cs_test_d").await;

    // In order: completed but unpaid, then the async success.
    let unpaid = checkout_event(
        "evt_d1",
        "checkout.session.completed",
        "cs_test_d",
        "unpaid",
        account,
    );
    assert_eq!(
        deliver_signed(&app, &unpaid).await.json()["outcome"],
        "status"
    );
    assert_eq!(
        status_of(&app, "cs_test_d").await,
        PaymentStatus::Processing
    );
    assert_eq!(balance(&app, account).await, (0, 0));
    let ok = checkout_event(
        "evt_d2",
        "checkout.session.async_payment_succeeded",
        "cs_test_d",
        "paid",
        account,
    );
    assert_eq!(deliver_signed(&app, &ok).await.json()["outcome"], "granted");
    assert_eq!(balance(&app, account).await, (2000, 2000));

    // Out of order, on a second checkout: the success arrives before the completion.
    record_stripe_checkout(&app, account, "cs_test_e", "small").await;
    let ok = checkout_event(
        "evt_e2",
        "checkout.session.async_payment_succeeded",
        "cs_test_e",
        "paid",
        account,
    );
    let late = checkout_event(
        "evt_e1",
        "checkout.session.completed",
        "cs_test_e",
        "unpaid",
        account,
    );
    assert_eq!(deliver_signed(&app, &ok).await.json()["outcome"], "granted");
    assert_eq!(
        deliver_signed(&app, &late).await.json()["outcome"],
        "status"
    );
    assert_eq!(status_of(&app, "cs_test_e").await, PaymentStatus::Paid);
    assert_eq!(balance(&app, account).await, (2500, 2500));

    // A failed delayed payment grants nothing.
    record_stripe_checkout(&app, account, "cs_test_f", "small").await;
    for (id, kind, status) in [
        ("evt_f1", "checkout.session.completed", "unpaid"),
        ("evt_f2", "checkout.session.async_payment_failed", "unpaid"),
    ] {
        let e = checkout_event(id, kind, "cs_test_f", status, account);
        assert_eq!(deliver_signed(&app, &e).await.status, StatusCode::OK);
    }
    assert_eq!(status_of(&app, "cs_test_f").await, PaymentStatus::Failed);
    assert_eq!(balance(&app, account).await, (2500, 2500));
    assert_eq!(grant_count(&app, account).await, 2);
    app.cleanup().await;
}

async fn unknown_events_and_sessions_are_acknowledged_and_change_nothing(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.payments = stripe_config("http://127.0.0.1:9/")
    })
    .await;
    let account = stripe_customer_with_checkout(&app, "cs_test_u").await;
    let other_type = serde_json::json!({
        "id": "evt_u1", "object": "event", "type": "customer.created",
        "data": { "object": { "id": "cus_1", "object": "customer" } },
    })
    .to_string();
    let res = deliver_signed(&app, &other_type).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["outcome"], "ignored");
    // A session this app never started, and one whose metadata names another account.
    let stranger = checkout_event(
        "evt_u2",
        "checkout.session.completed",
        "cs_test_nobody",
        "paid",
        account,
    );
    assert_eq!(
        deliver_signed(&app, &stranger).await.json()["outcome"],
        "unknown_checkout"
    );
    let wrong_account = checkout_event(
        "evt_u3",
        "checkout.session.completed",
        "cs_test_u",
        "paid",
        account + 1,
    );
    assert_eq!(
        deliver_signed(&app, &wrong_account).await.json()["outcome"],
        "unknown_checkout"
    );
    assert_eq!(balance(&app, account).await, (0, 0));
    assert_eq!(status_of(&app, "cs_test_u").await, PaymentStatus::Open);
    assert_eq!(event_count(&app).await, 3);
    app.cleanup().await;
}

async fn concurrent_deliveries_grant_exactly_once(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.payments = stripe_config("http://127.0.0.1:9/")
    })
    .await;
    let account = stripe_customer_with_checkout(&app, "cs_test_c").await;
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            // Half are redeliveries of one event, half are other events saying "paid".
            let (id, kind) = if i % 2 == 0 {
                ("evt_same".to_owned(), "checkout.session.completed")
            } else {
                (
                    format!("evt_other_{i}"),
                    "checkout.session.async_payment_succeeded",
                )
            };
            let body = checkout_event(&id, kind, "cs_test_c", "paid", account);
            deliver_signed(&app, &body).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(balance(&app, account).await, (2000, 2000));
    assert_eq!(grant_count(&app, account).await, 1);
    assert_eq!(event_count(&app).await, 9);
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    Arc::into_inner(app).unwrap().cleanup().await;
}

async fn without_stripe_the_webhook_route_is_closed(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "buyer@example.com").await;
    let account = account_of(&app, "buyer@example.com").await;
    let res = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[
            ("pack", "small"),
            ("request_key", "llllllllllllllllllllllllllllllll-small"),
        ],
    )
    .await;
    let session = location(&res)
        .trim_start_matches("/checkout/local/")
        .to_owned();
    // Even an event signed with the local checkout's own secret is refused from outside.
    let body = checkout_event(
        "evt_forged",
        "checkout.session.completed",
        &session,
        "paid",
        account,
    );
    let secret = studio_billing::server::payments::local_webhook_secret(&app.state.config);
    let res = deliver(
        &app,
        &body,
        &signature::header(&secret, TEST_NOW, body.as_bytes()),
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(event_count(&app).await, 0);
    assert_eq!(status_of(&app, &session).await, PaymentStatus::Open);
    assert_eq!(balance(&app, account).await, (0, 0));
    app.cleanup().await;
}

fn stripe_event(id: &str, kind: &str, object: serde_json::Value) -> String {
    stripe_event_at(id, kind, object, TEST_NOW)
}

fn stripe_event_at(id: &str, kind: &str, object: serde_json::Value, created: i64) -> String {
    serde_json::json!({ "id": id, "object": "event", "type": kind, "created": created, "data": { "object": object } })
        .to_string()
}

async fn subscription_webhooks_follow_stripe_whatever_the_order(backend: Backend) {
    let app = stripe_app(backend, "http://127.0.0.1:9/").await;
    let (_, account) = stripe_member(&app).await;
    let (p1, p2, p3) = (TEST_NOW, TEST_NOW + 30 * 86_400, TEST_NOW + 61 * 86_400);
    // Each invoice lists a proration line first (as after a plan change): the period and
    // plan come from the subscription's own line.
    let invoice = |id: &str, start: i64, end: i64, price: &str| {
        serde_json::json!({
            "id": id, "object": "invoice", "customer": "cus_1", "subscription": "sub_1",
            "amount_paid": 2900, "amount_due": 2900, "currency": "usd",
            "lines": { "data": [
                { "proration": true, "price": { "id": "price_starter" }, "period": { "start": start + 3600, "end": start + 7200 } },
                { "proration": false, "type": "subscription", "price": { "id": price }, "period": { "start": start, "end": end } },
            ] },
        })
    };
    let subscription = |start: i64, end: i64, cancel: bool| {
        serde_json::json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
            "current_period_start": start, "current_period_end": end, "cancel_at_period_end": cancel,
            "items": { "data": [{ "id": "si_1", "price": { "id": "price_creator" } }] },
        })
    };
    let send = |body: String| {
        let app = &app;
        async move {
            deliver_signed(app, &body).await.json()["outcome"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let subscription_balance = || async {
        ledger::balance(&app.state.db, account, TEST_NOW)
            .await
            .unwrap()
            .subscription
            .get()
    };

    // The subscription's event before its first invoice changes nothing yet.
    assert_eq!(
        send(stripe_event(
            "evt_s0",
            "customer.subscription.created",
            subscription(p1, p2, false)
        ))
        .await,
        "subscription"
    );
    assert_eq!(subscription_balance().await, 0);
    // The paid invoice grants the period, once, whichever of Stripe's two events says so.
    assert_eq!(
        send(stripe_event(
            "evt_i1",
            "invoice.paid",
            invoice("in_1", p1, p2, "price_creator")
        ))
        .await,
        "granted"
    );
    send(stripe_event(
        "evt_i1b",
        "invoice.payment_succeeded",
        invoice("in_1", p1, p2, "price_creator"),
    ))
    .await;
    assert_eq!(subscription_balance().await, 5000);
    let sub = || async {
        studio_billing::server::db::subscriptions::get(&app.state.db, account)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!((sub().await.period_start, sub().await.period_end), (p1, p2));
    // Cancel at period end; an update made earlier but delivered late changes nothing,
    // nor does one for an older period.
    send(stripe_event_at(
        "evt_s1",
        "customer.subscription.updated",
        subscription(p1, p2, true),
        TEST_NOW + 20,
    ))
    .await;
    assert!(sub().await.cancel_at_period_end);
    send(stripe_event_at(
        "evt_s1b",
        "customer.subscription.updated",
        subscription(p1, p2, false),
        TEST_NOW + 10,
    ))
    .await;
    assert!(sub().await.cancel_at_period_end);
    send(stripe_event_at(
        "evt_s2",
        "customer.subscription.updated",
        subscription(p1 - 30 * 86_400, p1, false),
        TEST_NOW + 30,
    ))
    .await;
    assert!(sub().await.cancel_at_period_end);
    // The invoice's second event, late, neither undoes the cancel nor grants again.
    send(stripe_event(
        "evt_i1c",
        "invoice.paid",
        invoice("in_1", p1, p2, "price_creator"),
    ))
    .await;
    assert!(sub().await.cancel_at_period_end);
    assert_eq!(subscription_balance().await, 5000);
    // Resumed.
    send(stripe_event_at(
        "evt_s3",
        "customer.subscription.updated",
        subscription(p1, p2, false),
        TEST_NOW + 40,
    ))
    .await;
    assert!(!sub().await.cancel_at_period_end);
    // The next renewal fails: past due, a failed payment, no credits.
    let mut failed = invoice("in_2", p2, p3, "price_creator");
    failed["amount_paid"] = 0.into();
    send(stripe_event("evt_i2", "invoice.payment_failed", failed)).await;
    assert_eq!(sub().await.status, Status::PastDue);
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM payments WHERE account_id = $1 ORDER BY id")
            .bind(account)
            .fetch_all(app.state.db.reader())
            .await
            .unwrap();
    assert_eq!(statuses, ["paid", "failed"]);
    // Paid after all: the new period's credits, and the payment turns paid.
    send(stripe_event(
        "evt_i3",
        "invoice.paid",
        invoice("in_2", p2, p3, "price_creator"),
    ))
    .await;
    assert_eq!(sub().await.status, Status::Active);
    assert_eq!(sub().await.period_start, p2);
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM payments WHERE account_id = $1 ORDER BY id")
            .bind(account)
            .fetch_all(app.state.db.reader())
            .await
            .unwrap();
    assert_eq!(statuses, ["paid", "paid"]);
    // A failed attempt of that invoice, delivered after it was paid, changes nothing.
    let mut late_failure = invoice("in_2", p2, p3, "price_creator");
    late_failure["amount_paid"] = 0.into();
    send(stripe_event(
        "evt_i2b",
        "invoice.payment_failed",
        late_failure,
    ))
    .await;
    assert_eq!(sub().await.status, Status::Active);
    // A customer the app does not know, and a price no plan sells: acknowledged, no change.
    let mut stranger = invoice("in_9", p2, p3, "price_creator");
    stranger["customer"] = "cus_other".into();
    assert_eq!(
        send(stripe_event("evt_x1", "invoice.paid", stranger)).await,
        "unknown_customer"
    );
    assert_eq!(
        send(stripe_event(
            "evt_x2",
            "invoice.paid",
            invoice("in_8", p3, p3 + 86_400, "price_gold")
        ))
        .await,
        "ignored"
    );
    let grants: i64 = common::count(
        &app,
        "SELECT COUNT(*) FROM subscription_grants WHERE account_id = $1",
        account,
    )
    .await;
    assert_eq!(grants, 2);
    // Deleted by Stripe: the grace period starts at the end.
    let mut gone = subscription(p2, p3, false);
    gone["status"] = "canceled".into();
    gone["ended_at"] = p3.into();
    send(stripe_event(
        "evt_s9",
        "customer.subscription.deleted",
        gone,
    ))
    .await;
    let s = sub().await;
    assert_eq!(s.status, Status::Ended);
    assert_eq!(s.grace_until, Some(p3 + 60 * 86_400));
    // A late event for the last invoice does not bring the ended plan back.
    send(stripe_event(
        "evt_i3b",
        "invoice.payment_succeeded",
        invoice("in_2", p2, p3, "price_creator"),
    ))
    .await;
    assert_eq!(sub().await.status, Status::Ended);
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// The local checkout (no Stripe keys)

async fn the_local_checkout_pays_through_the_webhook_and_cancels_cleanly(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "buyer@example.com").await;
    let other = sign_up(&app, "other@example.com").await;
    let account = account_of(&app, "buyer@example.com").await;

    let res = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[
            ("pack", "medium"),
            ("request_key", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-medium"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let url = location(&res);
    let session = url
        .strip_prefix("/checkout/local/")
        .expect("a local checkout")
        .to_owned();
    assert!(session.starts_with("cs_local_"));

    // The checkout page's data: the owner sees it; nobody else does.
    let view = call(
        &app,
        "checkout/local/view",
        Some(&cookie),
        &[("session_id", &session)],
    )
    .await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.body);
    assert_eq!(view.json()["credits"], 2000);
    assert_eq!(view.json()["amount_cents"], 1800);
    for endpoint in [
        "checkout/local/view",
        "top-up/status",
        "checkout/local/pay",
        "checkout/local/cancel",
    ] {
        let res = call(
            &app,
            endpoint,
            Some(&other),
            &[("session_id", &session), ("method", "card")],
        )
        .await;
        assert_eq!(
            res.status,
            StatusCode::NOT_FOUND,
            "{endpoint}: {}",
            res.body
        );
    }
    assert_eq!(status_of(&app, &session).await, PaymentStatus::Open);

    // Pay: a signed event goes through the webhook code; the credits land once.
    let paid = form_post(
        &app,
        "checkout/local/pay",
        &cookie,
        &[("session_id", &session), ("method", "card")],
    )
    .await;
    assert_eq!(paid.status, StatusCode::FOUND, "{}", paid.body);
    assert_eq!(
        location(&paid),
        format!("/top-up/complete?session_id={session}")
    );
    assert_eq!(balance(&app, account).await, (2000, 2000));
    assert_eq!(event_count(&app).await, 1);
    let status = call(
        &app,
        "top-up/status",
        Some(&cookie),
        &[("session_id", &session)],
    )
    .await
    .json();
    assert_eq!(status["status"], "paid");
    assert_eq!(status["balance_total"], 2000);
    assert_eq!(status["test_mode"], true);
    // Paying again, or cancelling afterwards, changes nothing.
    call(
        &app,
        "checkout/local/pay",
        Some(&cookie),
        &[("session_id", &session), ("method", "card")],
    )
    .await;
    call(
        &app,
        "checkout/local/cancel",
        Some(&cookie),
        &[("session_id", &session)],
    )
    .await;
    assert_eq!(balance(&app, account).await, (2000, 2000));
    assert_eq!(status_of(&app, &session).await, PaymentStatus::Paid);
    // The same form again: that checkout is over.
    let again = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[
            ("pack", "medium"),
            ("request_key", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-medium"),
        ],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // Cancel a second checkout: nothing charged, nothing granted.
    let res = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[
            ("pack", "small"),
            ("request_key", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-small"),
        ],
    )
    .await;
    let second = location(&res)
        .trim_start_matches("/checkout/local/")
        .to_owned();
    let cancelled = form_post(
        &app,
        "checkout/local/cancel",
        &cookie,
        &[("session_id", &second)],
    )
    .await;
    assert_eq!(location(&cancelled), "/top-up/cancelled");
    assert_eq!(status_of(&app, &second).await, PaymentStatus::Canceled);
    call(
        &app,
        "checkout/local/pay",
        Some(&cookie),
        &[("session_id", &second), ("method", "card")],
    )
    .await;
    assert_eq!(status_of(&app, &second).await, PaymentStatus::Canceled);
    assert_eq!(balance(&app, account).await, (2000, 2000));

    // A delayed method: processing first, then paid a few seconds later.
    let res = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[
            ("pack", "small"),
            ("request_key", "cccccccccccccccccccccccccccccccc-small"),
        ],
    )
    .await;
    let third = location(&res)
        .trim_start_matches("/checkout/local/")
        .to_owned();
    call(
        &app,
        "checkout/local/pay",
        Some(&cookie),
        &[("session_id", &third), ("method", "delayed")],
    )
    .await;
    assert_eq!(status_of(&app, &third).await, PaymentStatus::Processing);
    assert_eq!(balance(&app, account).await, (2000, 2000));
    let mut settled = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        if status_of(&app, &third).await == PaymentStatus::Paid {
            settled = true;
            break;
        }
    }
    assert!(settled, "the delayed payment settles");
    assert_eq!(balance(&app, account).await, (2500, 2500));

    // The Subscription page lists the payments, newest first, in test mode; the
    // cancelled checkout bought nothing and is not a payment.
    let overview = call(&app, "subscription/overview", Some(&cookie), &[])
        .await
        .json();
    let list = overview["payments"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let statuses: Vec<&str> = list.iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["paid", "paid"]);
    assert!(list.iter().all(|p| p["test_mode"] == true));
    assert!(overview["top_ups"].as_array().unwrap().len() >= 3);
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

async fn the_local_checkout_is_closed_when_stripe_is_configured(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "buyer@example.com").await;
    let res = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[
            ("pack", "small"),
            ("request_key", "dddddddddddddddddddddddddddddddd-small"),
        ],
    )
    .await;
    let session = location(&res)
        .trim_start_matches("/checkout/local/")
        .to_owned();
    // The same database, now served by an app with Stripe keys.
    let mut config = (*app.state.config).clone();
    config.payments = stripe_config("http://127.0.0.1:9/");
    let stripe_app =
        studio_billing::server::http::router(studio_billing::server::state::AppState::new(
            config,
            app.state.db.clone(),
            app.state.clock.clone(),
        ));
    let res = tower::ServiceExt::oneshot(
        stripe_app,
        axum::http::Request::builder()
            .method(Method::POST)
            .uri("/api/checkout/local/pay")
            .header("origin", ORIGIN)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .header("cookie", format!("sb_session={cookie}"))
            .body(axum::body::Body::from(form(&[
                ("session_id", &session),
                ("method", "card"),
            ])))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(status_of(&app, &session).await, PaymentStatus::Open);
    app.cleanup().await;
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> String {
    let cookie = format!("sb_session={cookie}");
    let res = app
        .call(Method::GET, path, &[("cookie", &cookie)], None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{path}");
    res.body
}

async fn the_pages_show_the_checkout_its_progress_and_the_payments(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "buyer@example.com").await;
    let html = page(&app, "/subscription", &cookie).await;
    for want in [
        "Buy top-up credits",
        "Buy for $18",
        "No real money moves",
        "No payments yet",
        "Try a generation",
        "Estimate for Voice generation",
    ] {
        assert!(html.contains(want), "/subscription lacks {want:?}");
    }
    let res = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[
            ("pack", "medium"),
            ("request_key", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk-medium"),
        ],
    )
    .await;
    let url = location(&res);
    let session = url.trim_start_matches("/checkout/local/").to_owned();
    let html = page(&app, &url, &cookie).await;
    for want in [
        "TEST MODE",
        "2,000 credits",
        "Pay $18",
        "Cancel and go back",
        "buyer@example.com",
    ] {
        assert!(html.contains(want), "the checkout lacks {want:?}");
    }
    // Before the webhook: processing, and the page asks to be reloaded.
    let progress = format!("/top-up/complete?session_id={session}");
    let html = page(&app, &progress, &cookie).await;
    assert!(html.contains("Payment processing"));
    assert!(html.contains(r#"http-equiv="refresh""#));
    call(
        &app,
        "checkout/local/pay",
        Some(&cookie),
        &[("session_id", &session), ("method", "card")],
    )
    .await;
    let html = page(&app, &progress, &cookie).await;
    assert!(
        html.contains("Payment received: 2,000 credits were added."),
        "{html}"
    );
    assert!(html.contains("Your balance is now 2,000 credits"));
    assert!(!html.contains(r#"http-equiv="refresh""#));
    let html = page(&app, "/subscription", &cookie).await;
    assert!(html.contains("Top-up: 2,000 credits (test mode)"));
    assert!(html.contains(">Paid<"));
    let html = page(&app, "/top-up/cancelled", &cookie).await;
    assert!(html.contains("Nothing was charged"));
    app.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// Try a generation (demo mode)

async fn try_a_generation_charges_refunds_and_refuses_past_the_balance(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "maker@example.com").await;
    let account = account_of(&app, "maker@example.com").await;
    ledger::grant(
        &app.state.db,
        account,
        ledger::NewGrant {
            kind: GrantKind::Subscription,
            amount: Credits::new(100).unwrap(),
            expires_at: Some(TEST_NOW + 86_400 * 30),
            reason: "test".into(),
            actor: None,
        },
        None,
        TEST_NOW,
    )
    .await
    .unwrap();
    let run = |key: &'static str, op: &'static str, qty: &'static str, fail: bool| {
        let mut pairs = vec![
            ("operation", op),
            ("quantity", qty),
            ("intent", "run"),
            ("request_key", key),
        ];
        if fail {
            pairs.push(("fail_part", "on"));
        }
        pairs
    };

    // The estimate alone changes nothing and comes back in the address.
    let res = form_post(
        &app,
        "demo/try",
        &cookie,
        &[
            ("operation", "music"),
            ("quantity", "20"),
            ("intent", "estimate"),
            ("request_key", "eeeeeeeeeeeeeeeeeeee"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/subscription?op=music&qty=20#try");
    assert_eq!(balance(&app, account).await.0, 100);

    // Voice, 30 seconds asked: estimate 30, the clip comes out at 27 seconds.
    let res = form_post(
        &app,
        "demo/try",
        &cookie,
        &run("ffffffffffffffffffff", "voice_generation", "30", false),
    )
    .await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    let hold: i64 = location(&res).rsplit('-').next().unwrap().parse().unwrap();
    assert_eq!(
        location(&res),
        format!("/subscription?op=voice_generation&qty=30&tried={hold}#receipt-{hold}")
    );
    assert_eq!(balance(&app, account).await.0, 73);
    // The same form again: no second generation.
    form_post(
        &app,
        "demo/try",
        &cookie,
        &run("ffffffffffffffffffff", "voice_generation", "30", false),
    )
    .await;
    assert_eq!(balance(&app, account).await.0, 73);

    // With a failed part: half the charge comes back, with its reason on the receipt.
    form_post(
        &app,
        "demo/try",
        &cookie,
        &run("gggggggggggggggggggg", "sound_effects", "2", true),
    )
    .await;
    assert_eq!(balance(&app, account).await.0, 73 - 20 + 10);
    let overview = call(&app, "subscription/overview", Some(&cookie), &[])
        .await
        .json();
    let receipts = overview["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[0]["charged"], 20);
    assert_eq!(receipts[0]["refunded"], 10);
    assert!(
        receipts[0]["refund_reasons"][0]
            .as_str()
            .unwrap()
            .contains("failed")
    );
    assert_eq!(receipts[1]["estimate"], 30);
    assert_eq!(receipts[1]["charged"], 27);
    assert_eq!(receipts[1]["released"], 3);

    // More than the balance: the P10 refusal, and nothing the customer had is touched.
    let before = balance(&app, account).await;
    let res = call(
        &app,
        "demo/try",
        Some(&cookie),
        &run("hhhhhhhhhhhhhhhhhhhh", "music", "500", false),
    )
    .await;
    assert_eq!(res.status, StatusCode::PAYMENT_REQUIRED, "{}", res.body);
    let body = res.json();
    assert_eq!(body["code"], "insufficient_credits");
    assert_eq!(body["needed"], 1000);
    assert_eq!(body["available"], 63);
    assert_eq!(balance(&app, account).await, before);
    let holds: i64 = common::count(
        &app,
        "SELECT COUNT(*) FROM holds WHERE account_id = $1",
        account,
    )
    .await;
    assert_eq!(holds, 2);

    // Bad input: a clear 400 and no change.
    for (op, qty, want) in [
        ("juggling", "3", "Pick one"),
        ("music", "0", "whole number"),
        ("music", "abc", "whole number"),
    ] {
        let res = call(
            &app,
            "demo/try",
            Some(&cookie),
            &run("iiiiiiiiiiiiiiiiiiii", op, qty, false),
        )
        .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{op} {qty}");
        assert!(res.body.contains(want), "{}", res.body);
    }
    assert_eq!(balance(&app, account).await, before);
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

async fn try_a_generation_is_demo_only(backend: Backend) {
    let app = TestApp::with_config(backend, |c| c.mode = Mode::Production).await;
    let cookie = sign_up(&app, "maker@example.com").await;
    let res = call(
        &app,
        "demo/try",
        Some(&cookie),
        &[
            ("operation", "music"),
            ("quantity", "1"),
            ("intent", "run"),
            ("request_key", "jjjjjjjjjjjjjjjjjjjj"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    let overview = call(&app, "subscription/overview", Some(&cookie), &[])
        .await
        .json();
    assert!(overview["try_panel"].is_null());
    app.cleanup().await;
}

on_both_backends!(
    buying_a_top_up_creates_a_checkout_session_with_the_right_fields,
    stripe_failing_gives_a_clear_error_and_records_nothing,
    subscribing_with_stripe_goes_through_checkout_in_subscription_mode,
    an_upgrade_after_a_pending_downgrade_is_prorated_from_the_plan_paid_for,
    a_declined_upgrade_changes_nothing_and_says_how_to_fix_the_card,
    resubscribing_soon_after_gets_a_new_checkout,
    choosing_another_plan_expires_the_open_checkout,
    a_second_subscription_is_refused_while_one_is_live_on_stripe,
    a_paid_checkout_grants_its_credits_once,
    bad_signatures_get_a_400_and_change_nothing,
    delayed_payments_grant_on_success_whatever_the_order,
    unknown_events_and_sessions_are_acknowledged_and_change_nothing,
    concurrent_deliveries_grant_exactly_once,
    without_stripe_the_webhook_route_is_closed,
    subscription_webhooks_follow_stripe_whatever_the_order,
    the_local_checkout_pays_through_the_webhook_and_cancels_cleanly,
    the_local_checkout_is_closed_when_stripe_is_configured,
    the_pages_show_the_checkout_its_progress_and_the_payments,
    try_a_generation_charges_refunds_and_refuses_past_the_balance,
    try_a_generation_is_demo_only,
);
