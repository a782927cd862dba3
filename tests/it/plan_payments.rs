//! Paying for a plan through the local checkout, on SQLite and PostgreSQL: a payment in
//! progress shows as such and no second plan checkout can start while it processes; an
//! open checkout is reused for the same plan and closed for another, so only one can be
//! paid; a plan payment that clears anyway while another plan is live is refunded
//! automatically, never left for a person to find in a log.

use crate::common;

use axum::http::StatusCode;
use common::{Backend, TestApp, TestResponse, account_of, call, sign_up};
use serde_json::Value;
use studio_billing::server::db::{ledger, payments, subscriptions};

async fn change(app: &TestApp, cookie: &str, pairs: &[(&str, &str)]) -> TestResponse {
    call(app, "plans/change", Some(cookie), pairs).await
}

/// Starts a plan checkout; its session id.
async fn start(app: &TestApp, cookie: &str, plan: &str) -> String {
    let res = change(app, cookie, &[("action", "subscribe"), ("plan", plan)]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.header("location")
        .strip_prefix("/checkout/local/")
        .expect("the local checkout")
        .to_owned()
}

async fn pay(app: &TestApp, cookie: &str, session: &str) {
    let res = call(
        app,
        "checkout/local/pay",
        Some(cookie),
        &[("session_id", session), ("method", "card")],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// Delivers one of the local checkout's signed events about `session`, through the same
/// webhook code Stripe's events take.
async fn deliver(app: &TestApp, session: &str, kind: &str, payment_status: &str) {
    let p = payments::by_external_id(&app.state.db, session)
        .await
        .unwrap()
        .expect("the checkout is recorded");
    studio_billing::server::services::webhook::deliver_local(&app.state, kind, &p, payment_status)
        .await
        .expect("the event is applied");
}

async fn my_plan(app: &TestApp, cookie: &str) -> Value {
    let res = call(app, "plans/mine", Some(cookie), &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()
}

async fn total(app: &TestApp, account: i64) -> u64 {
    ledger::balance(&app.state.db, account, app.state.clock.now())
        .await
        .unwrap()
        .total
        .get()
}

async fn status_of(app: &TestApp, session: &str) -> String {
    payments::by_external_id(&app.state.db, session)
        .await
        .unwrap()
        .unwrap()
        .status
        .as_str()
        .to_owned()
}

async fn a_processing_plan_payment_shows_and_no_second_checkout_can_start(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "bank@example.com").await;
    let account = account_of(&app, "bank@example.com").await;
    // Starter paid by bank debit: completed, not paid yet.
    let starter = start(&app, &cookie, "starter").await;
    deliver(&app, &starter, "checkout.session.completed", "unpaid").await;
    let plan = my_plan(&app, &cookie).await;
    assert_eq!(plan["status"], "none");
    let progress = &plan["payment_in_progress"];
    assert_eq!(progress["plan_name"], "Starter", "{plan}");
    assert_eq!(progress["processing"], true);
    assert_eq!(progress["amount_cents"], 900);

    // A second plan cannot be bought meanwhile: refused, and nothing recorded.
    let before: i64 = common::count(
        &app,
        "SELECT COUNT(*) FROM payments WHERE account_id = $1",
        account,
    )
    .await;
    let res = change(
        &app,
        &cookie,
        &[("action", "subscribe"), ("plan", "creator")],
    )
    .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(res.body.contains("still being processed"), "{}", res.body);
    let after: i64 = common::count(
        &app,
        "SELECT COUNT(*) FROM payments WHERE account_id = $1",
        account,
    )
    .await;
    assert_eq!(before, after);

    // It clears: Starter starts with its credits, and nothing is in progress any more.
    deliver(
        &app,
        &starter,
        "checkout.session.async_payment_succeeded",
        "paid",
    )
    .await;
    let plan = my_plan(&app, &cookie).await;
    assert_eq!(plan["status"], "active");
    assert_eq!(plan["plan_name"], "Starter");
    assert_eq!(plan["payment_in_progress"], Value::Null);
    assert_eq!(total(&app, account).await, 1000);
    app.cleanup().await;
}

async fn an_open_plan_checkout_is_reused_for_its_plan_and_closed_for_another(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "tabs@example.com").await;
    let account = account_of(&app, "tabs@example.com").await;
    let first = start(&app, &cookie, "creator").await;
    // The same plan again (another tab, the back button): the same checkout.
    assert_eq!(start(&app, &cookie, "creator").await, first);
    let plan = my_plan(&app, &cookie).await;
    assert_eq!(plan["payment_in_progress"]["processing"], false);
    assert_eq!(
        plan["payment_in_progress"]["checkout_url"],
        format!("/checkout/local/{first}")
    );
    // Another plan: a new checkout, and the first can no longer be paid.
    let second = start(&app, &cookie, "studio").await;
    assert_ne!(second, first);
    assert_eq!(status_of(&app, &first).await, "canceled");
    pay(&app, &cookie, &first).await;
    assert!(
        subscriptions::get(&app.state.db, account)
            .await
            .unwrap()
            .is_none(),
        "paying a closed checkout starts nothing"
    );
    assert_eq!(total(&app, account).await, 0);
    pay(&app, &cookie, &second).await;
    assert_eq!(
        subscriptions::get(&app.state.db, account)
            .await
            .unwrap()
            .unwrap()
            .plan
            .as_str(),
        "studio"
    );
    assert_eq!(total(&app, account).await, 20_000);
    // The closed checkout bought nothing and is not listed as a payment.
    let page = call(&app, "subscription/overview", Some(&cookie), &[]).await;
    let listed = page.json()["payments"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["amount_cents"], 9900);
    app.cleanup().await;
}

async fn a_plan_payment_that_clears_while_another_plan_is_live_is_refunded(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "late@example.com").await;
    let account = account_of(&app, "late@example.com").await;
    // Starter's checkout is open; the customer opens Creator's instead, which closes it...
    let starter = start(&app, &cookie, "starter").await;
    let creator = start(&app, &cookie, "creator").await;
    // ...but Starter's payment had already gone through: money received is honoured
    // (Stripe's rule), so Starter starts.
    deliver(&app, &starter, "checkout.session.completed", "paid").await;
    assert_eq!(total(&app, account).await, 1000);
    // Then Creator is paid too. It cannot start (Starter is live): it bought nothing, so
    // it is refunded at once, and nothing is granted for it.
    pay(&app, &cookie, &creator).await;
    let p = payments::by_external_id(&app.state.db, &creator)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status.as_str(), "paid");
    assert_eq!(p.grant_id, None);
    let (refund, reason) = payments::refund_of(&app.state.db, p.id)
        .await
        .unwrap()
        .expect("the second payment is refunded");
    assert_eq!(refund.as_str(), "done");
    assert!(reason.contains("another plan"), "{reason}");
    assert_eq!(total(&app, account).await, 1000);
    let grants: i64 = common::count(
        &app,
        "SELECT COUNT(*) FROM grants WHERE account_id = $1",
        account,
    )
    .await;
    assert_eq!(grants, 1);
    // The customer sees it: Starter paid, Creator refunded.
    let page = call(&app, "subscription/overview", Some(&cookie), &[]).await;
    let listed = page.json()["payments"].as_array().unwrap().clone();
    let refunded: Vec<&Value> = listed.iter().filter(|p| p["refund"] == "done").collect();
    assert_eq!(refunded.len(), 1, "{listed:?}");
    assert_eq!(refunded[0]["amount_cents"], 2900);
    // A repeat of the event changes nothing more.
    deliver(&app, &creator, "checkout.session.completed", "paid").await;
    assert_eq!(total(&app, account).await, 1000);
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

on_both_backends!(
    a_processing_plan_payment_shows_and_no_second_checkout_can_start,
    an_open_plan_checkout_is_reused_for_its_plan_and_closed_for_another,
    a_plan_payment_that_clears_while_another_plan_is_live_is_refunded,
);
