//! The support console's customer view, on SQLite and PostgreSQL (issue 13): the plan's
//! status and a booked change in support's words, the customer's payments, the journal in
//! the order of its times, and a correction that names the charge it corrects (only one
//! of that customer's).

use crate::common;

use axum::http::StatusCode;
use common::{Backend, TEST_NOW, TestApp, account_of, call, session_of, sign_up};
use serde_json::Value;
use studio_billing::domain::credits::Credits;
use studio_billing::domain::ledger::GrantKind;
use studio_billing::server::db::ledger::{self, NewGrant};
use studio_billing::server::seed;

async fn support(app: &TestApp) -> String {
    seed::demo(&app.state).await.unwrap();
    let res = call(
        app,
        "auth/sign_in",
        None,
        &[
            ("email", seed::DEMO_SUPPORT_EMAIL),
            ("password", seed::DEMO_PASSWORD),
        ],
    )
    .await;
    session_of(&res).expect("support signs in")
}

async fn find(app: &TestApp, support: &str, email: &str) -> Value {
    let res = call(
        app,
        "support/find_customer",
        Some(support),
        &[("email", email)],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()
}

async fn grant_at(app: &TestApp, account: i64, amount: u64, reason: &str, at: i64) {
    ledger::grant(
        &app.state.db,
        account,
        NewGrant {
            kind: GrantKind::Topup,
            amount: Credits::new(amount).unwrap(),
            expires_at: None,
            reason: reason.to_owned(),
            actor: None,
        },
        None,
        at,
    )
    .await
    .unwrap();
}

async fn the_customer_view_has_the_plan_payments_and_the_journal_in_time_order(backend: Backend) {
    let app = TestApp::start(backend).await;
    let support = support(&app).await;
    let cookie = sign_up(&app, "viewed@example.com").await;
    let account = account_of(&app, "viewed@example.com").await;
    assert_eq!(
        find(&app, &support, "viewed@example.com").await["subscription"],
        Value::Null
    );
    // A plan bought through the local checkout, and a downgrade booked.
    common::subscribe_locally(&app, &cookie, "studio").await;
    call(
        &app,
        "plans/change",
        Some(&cookie),
        &[("action", "change"), ("plan", "creator")],
    )
    .await;
    // Two entries written out of time order.
    grant_at(&app, account, 7, "later", TEST_NOW + 7_200).await;
    grant_at(&app, account, 3, "earlier", TEST_NOW + 3_600).await;

    let v = find(&app, &support, "viewed@example.com").await;
    let s = &v["subscription"];
    assert_eq!(s["plan_name"], "Studio", "{v}");
    assert_eq!(s["status"], "active");
    assert_eq!(s["pending_plan_name"], "Creator");
    let payments = v["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["plan_name"], "Studio");
    assert_eq!(payments[0]["amount_cents"], 9900);
    let times: Vec<i64> = v["journal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_i64().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first by time");
    assert_eq!(times[0], TEST_NOW + 7_200);
    // The page says it in words.
    let html = app
        .call(
            axum::http::Method::GET,
            "/support?email=viewed%40example.com",
            &[("cookie", &format!("sb_session={support}"))],
            None,
        )
        .await;
    assert!(
        html.body.contains("Studio: active, period"),
        "{}",
        html.body
    );
    assert!(html.body.contains("Booked: Creator from"));
    app.cleanup().await;
}

async fn a_correction_names_the_charge_it_corrects(backend: Backend) {
    let app = TestApp::start(backend).await;
    let support = support(&app).await;
    let cookie = sign_up(&app, "corrected@example.com").await;
    let account = account_of(&app, "corrected@example.com").await;
    grant_at(&app, account, 500, "Top-up bought", TEST_NOW).await;
    let res = call(
        &app,
        "demo/try",
        Some(&cookie),
        &[
            ("operation", "music"),
            ("quantity", "10"),
            ("intent", "run"),
            ("request_key", "correct-try-key-000001"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let hold: i64 = sqlx::query_scalar("SELECT id FROM holds WHERE account_id = $1")
        .bind(account)
        .fetch_one(app.state.db.reader())
        .await
        .unwrap();
    let v = find(&app, &support, "corrected@example.com").await;
    let key = v["form_key"].as_str().unwrap().to_owned();
    let id = account.to_string();
    let adjust = |corrects: String, key: String| {
        let app = &app;
        let support = support.clone();
        let id = id.clone();
        async move {
            call(
                app,
                "support/adjust",
                Some(&support),
                &[
                    ("account_id", id.as_str()),
                    ("direction", "grant"),
                    ("amount", "20"),
                    ("reason", "Charged for a silent track"),
                    ("request_key", key.as_str()),
                    ("corrects", corrects.as_str()),
                ],
            )
            .await
        }
    };
    // Not a receipt number, or another customer's: refused, nothing changes.
    let before = ledger::balance(&app.state.db, account, TEST_NOW)
        .await
        .unwrap()
        .total
        .get();
    let res = adjust("abc".into(), format!("{key}-1")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(res.body.contains("receipt number"), "{}", res.body);
    let res = adjust((hold + 1000).to_string(), format!("{key}-2")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(res.body.contains("no charged generation"), "{}", res.body);
    assert_eq!(
        ledger::balance(&app.state.db, account, TEST_NOW)
            .await
            .unwrap()
            .total
            .get(),
        before
    );
    // Its own charge: applied, and the reason names it, in the customer's history too.
    let res = adjust(format!("#{hold}"), key.clone()).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let history = call(&app, "account/history", Some(&cookie), &[("kind", "added")])
        .await
        .json();
    let reason = history["lines"][0]["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.starts_with("Charged for a silent track (corrects receipt")
            && reason.contains(&hold.to_string())
            && reason.contains("Music"),
        "{reason}"
    );
    app.cleanup().await;
}

/// The console shows the demo clock's date and how far it was moved; moving it moves
/// that date and signs nobody out. Support only.
async fn the_console_says_what_date_the_demo_clock_reads(backend: Backend) {
    let app = TestApp::start(backend).await;
    let staff = support(&app).await;
    let reads = |cookie: String| {
        let app = &app;
        async move { call(app, "support/demo_clock", Some(&cookie), &[]).await }
    };
    let now = reads(staff.clone()).await;
    assert_eq!(now.status, StatusCode::OK, "{}", now.body);
    assert_eq!(now.json(), serde_json::json!([TEST_NOW, 0]));
    let moved = call(
        &app,
        "support/advance_clock",
        Some(&staff),
        &[("days", "3")],
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let now = reads(staff.clone()).await;
    assert_eq!(now.status, StatusCode::OK, "still signed in");
    assert_eq!(now.json(), serde_json::json!([TEST_NOW + 3 * 86_400, 3]));
    let customer = sign_up(&app, "curious@example.com").await;
    assert_eq!(reads(customer).await.status, StatusCode::FORBIDDEN);
    app.cleanup().await;
}

on_both_backends!(
    the_console_says_what_date_the_demo_clock_reads,
    the_customer_view_has_the_plan_payments_and_the_journal_in_time_order,
    a_correction_names_the_charge_it_corrects,
);
