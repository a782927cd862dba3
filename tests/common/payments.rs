//! What the payment tests share: the app billing through Stripe (at the stand-in,
//! `stripe_standin`, or nowhere), a Stripe customer, a recorded top-up checkout, and
//! Stripe's events signed with the test secrets.

use super::{Backend, TEST_NOW, TestApp, TestResponse, account_of, sign_up};
use axum::http::Method;
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
            saves_card: false,
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

pub fn stripe_event(id: &str, kind: &str, object: serde_json::Value) -> String {
    stripe_event_at(id, kind, object, TEST_NOW)
}

pub fn stripe_event_at(id: &str, kind: &str, object: serde_json::Value, created: i64) -> String {
    serde_json::json!({ "id": id, "object": "event", "type": kind, "created": created, "data": { "object": object } })
        .to_string()
}
