//! Plans with Stripe as the source of truth, against `localstripe` (a stateful fake of
//! Stripe's API, started on a free port): a customer and a subscription are created, its
//! signed webhooks reach the app over real HTTP and grant the first period; the app cancels
//! at period end, resumes and changes the price through Stripe's API; Stripe ending the
//! subscription starts the grace period. On SQLite and PostgreSQL.

use crate::common;

use common::{Backend, TestDb};
use serde_json::Value;
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;
use studio_billing::domain::subscription::Status;
use studio_billing::server::clock::Clock;
use studio_billing::server::config::{Config, PaymentsConfig, Secret, StripeConfig};
use studio_billing::server::db::{ledger, subscriptions, users};
use studio_billing::server::payments::stripe_api;
use studio_billing::server::services::plans;
use studio_billing::server::state::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WEBHOOK_SECRET: &str = "whsec_localstripe";
const API_KEY: &str = "sk_test_localstripe";

/// localstripe, stopped when dropped.
struct LocalStripe {
    child: Child,
    port: u16,
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_localstripe() -> LocalStripe {
    let port = free_port();
    // localstripe, taught Stripe's `items[0][price]`, `proration_behavior` and
    // `payment_behavior` (see the shim).
    let shim = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/localstripe_shim.py"
    );
    let child = Process::new("python3")
        .args([shim, "--port", &port.to_string(), "--from-scratch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("localstripe is installed (scripts/setup.sh test)");
    let ls = LocalStripe { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return ls;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("localstripe did not start on port {port}");
}

/// A form POST to localstripe; its JSON answer.
async fn post(port: u16, path: &str, form: &str) -> Value {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("");
    assert!(response.starts_with("HTTP/1.1 2"), "{path}: {response}");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

async fn delete(port: u16, path: &str) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {API_KEY}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 2"), "{path}: {response}");
}

/// Waits (up to 15 s) until `check` holds: webhooks arrive a second or so after the change.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn stripe_is_the_source_of_truth_for_plans(backend: Backend) {
    let ls = start_localstripe().await;
    let test_db = TestDb::migrated(backend).await;

    // The app, listening for real: localstripe delivers its webhooks over HTTP. Its clock
    // is the real one, as Stripe's signatures are.
    let mut config = Config::demo(&test_db.url);
    config.payments = PaymentsConfig::Stripe(StripeConfig {
        secret_key: Secret::new(API_KEY),
        webhook_secrets: vec![Secret::new(WEBHOOK_SECRET)],
        api_base: format!("http://127.0.0.1:{}/", ls.port),
    });
    for plan in &mut config.catalog.plans {
        plan.stripe_price_id = Some(format!("plan_{}", plan.id.as_str()));
    }
    let stripe = match &config.payments {
        PaymentsConfig::Stripe(s) => s.clone(),
        PaymentsConfig::Local => unreachable!(),
    };
    let state = AppState::new(config, test_db.db.clone(), Clock::system());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_port = listener.local_addr().unwrap().port();
    let router = studio_billing::server::http::router(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    post(
        ls.port,
        "/_config/webhooks/app",
        &format!(
            "url=http%3A%2F%2F127.0.0.1%3A{app_port}%2Fwebhooks%2Fstripe&secret={WEBHOOK_SECRET}"
        ),
    )
    .await;

    // The catalogue's plans, as Stripe knows them.
    for plan in &state.config.catalog.plans {
        post(
            ls.port,
            "/v1/plans",
            &format!(
                "id=plan_{}&amount={}&currency=usd&interval=month&product[name]={}",
                plan.id.as_str(),
                plan.monthly_price_cents,
                plan.name
            ),
        )
        .await;
    }

    // A customer: the app creates its Stripe customer (as before a checkout) and links it.
    let email = studio_billing::domain::account::Email::parse("fan@example.com").unwrap();
    let user = users::create(
        &state.db,
        &email,
        "not-a-real-hash",
        studio_billing::domain::account::Role::Customer,
        users::Origin::SignUp,
        state.clock.now(),
    )
    .await
    .unwrap();
    let account = user.account_id.unwrap();
    let customer = stripe_api::create_customer(
        &stripe,
        account,
        "fan@example.com",
        format!("test-customer-{account}"),
    )
    .await
    .unwrap();
    subscriptions::link_customer(&state.db, account, &customer, state.clock.now())
        .await
        .unwrap();
    let card = post(
        ls.port,
        "/v1/tokens",
        "card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2040&card[cvc]=123",
    )
    .await;
    post(
        ls.port,
        &format!("/v1/customers/{customer}/sources"),
        &format!("source={}", card["id"].as_str().unwrap()),
    )
    .await;

    // The subscription, as Checkout would create it: its paid first invoice's webhook
    // grants the period's credits.
    let sub = post(
        ls.port,
        "/v1/subscriptions",
        &format!("customer={customer}&items[0][plan]=plan_creator&metadata[account_id]={account}"),
    )
    .await;
    let balance = |state: AppState| async move {
        ledger::balance(&state.db, account, state.clock.now())
            .await
            .unwrap()
    };
    eventually("the first invoice's credits land", || {
        let state = state.clone();
        async move { balance(state).await.subscription.get() == 5000 }
    })
    .await;
    let s = subscriptions::get(&state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.plan.as_str(), s.status), ("creator", Status::Active));
    assert_eq!(
        s.period_start,
        sub["current_period_start"].as_i64().unwrap()
    );
    assert_eq!(s.period_end, sub["current_period_end"].as_i64().unwrap());
    let payments: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM payments WHERE account_id = $1 AND kind = 'subscription' AND provider = 'stripe' AND status = 'paid'",
    )
    .bind(account)
    .fetch_one(state.db.reader())
    .await
    .unwrap();
    assert_eq!(payments, 1);

    // Cancel at period end and resume, through Stripe's API.
    let email = "fan@example.com";
    plans::change(&state, account, email, "cancel", None, None)
        .await
        .unwrap();
    assert!(
        subscriptions::get(&state.db, account)
            .await
            .unwrap()
            .unwrap()
            .cancel_at_period_end
    );
    plans::change(&state, account, email, "resume", None, None)
        .await
        .unwrap();
    assert!(
        !subscriptions::get(&state.db, account)
            .await
            .unwrap()
            .unwrap()
            .cancel_at_period_end
    );

    // Change the price: an upgrade, at once, invoiced and paid at once; the difference in
    // credits (prorated by the share of the period left: nearly all of it here) comes with
    // that invoice's paid event, once.
    plans::change(&state, account, email, "change", Some("studio"), None)
        .await
        .unwrap();
    let s = subscriptions::get(&state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.plan.as_str(), "studio");
    eventually("the upgrade's invoice grants its credits", || {
        let state = state.clone();
        async move { balance(state).await.subscription.get() > 5000 }
    })
    .await;
    let credits = balance(state.clone()).await.subscription.get();
    assert!(
        (19_900..=20_000).contains(&credits),
        "5,000 + the prorated 15,000: {credits}"
    );
    let paid_upgrade: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM payments WHERE account_id = $1 AND product = 'studio' AND status = 'paid'",
    )
    .bind(account)
    .fetch_one(state.db.reader())
    .await
    .unwrap();
    assert_eq!(paid_upgrade, 1, "the upgrade's invoice is a payment");

    // Stripe ends the subscription: its webhook starts the grace period; top-ups would
    // stay, and the period's credits are not granted again by any late event.
    delete(
        ls.port,
        &format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap()),
    )
    .await;
    eventually("the subscription ends", || {
        let state = state.clone();
        async move {
            subscriptions::get(&state.db, account)
                .await
                .unwrap()
                .is_some_and(|s| s.status == Status::Ended)
        }
    })
    .await;
    let s = subscriptions::get(&state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert!(s.grace_until.unwrap() > s.period_end);
    let grants: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM subscription_grants WHERE account_id = $1")
            .bind(account)
            .fetch_one(state.db.reader())
            .await
            .unwrap();
    assert_eq!(grants, 2, "the first period, and the upgrade");
    let kinds: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT type) FROM webhook_events \
         WHERE type IN ('customer.subscription.created', 'customer.subscription.deleted')",
    )
    .fetch_one(state.db.reader())
    .await
    .unwrap();
    assert_eq!(kinds, 2, "created and deleted arrived as signed webhooks");
    assert!(ledger::verify(&state.db).await.unwrap().is_empty());
    drop(ls);
    test_db.cleanup().await;
}

on_both_backends!(stripe_is_the_source_of_truth_for_plans);
