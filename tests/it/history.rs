//! The customer's credit history (`/history` and its server function), on SQLite and
//! PostgreSQL (issue 13): every change of the balance in the order of the times it shows
//! (not the order rows were written), in the customer's words, filtered by kind, paged,
//! and only the customer's own.

use crate::common;

use axum::http::StatusCode;
use common::{Backend, TEST_NOW, TestApp, account_of, call, sign_up};
use serde_json::Value;
use studio_billing::domain::credits::Credits;
use studio_billing::domain::ledger::GrantKind;
use studio_billing::server::db::ledger::{self, NewGrant};

const HOUR: i64 = 3_600;

async fn grant(app: &TestApp, account: i64, kind: GrantKind, amount: u64, reason: &str, at: i64) {
    ledger::grant(
        &app.state.db,
        account,
        NewGrant {
            kind,
            amount: Credits::new(amount).unwrap(),
            expires_at: None,
            reason: reason.to_owned(),
            actor: (kind == GrantKind::Adjustment).then(|| "support@studio.test".to_owned()),
        },
        None,
        at,
    )
    .await
    .unwrap();
}

async fn history(app: &TestApp, cookie: &str, pairs: &[(&str, &str)]) -> Value {
    let res = call(app, "account/history", Some(cookie), pairs).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()
}

fn times(v: &Value) -> Vec<i64> {
    v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["at"].as_i64().unwrap())
        .collect()
}

async fn the_history_is_in_time_order_filtered_and_paged(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "history@example.com").await;
    let account = account_of(&app, "history@example.com").await;
    // Written out of time order: the later one first (as the demo's data, an import or a
    // late webhook may).
    grant(
        &app,
        account,
        GrantKind::Topup,
        500,
        "Top-up bought (checkout cs_1)",
        TEST_NOW + 2 * HOUR,
    )
    .await;
    grant(
        &app,
        account,
        GrantKind::Adjustment,
        25,
        "Refund for a double-charged export",
        TEST_NOW + HOUR,
    )
    .await;
    let all = history(&app, &cookie, &[]).await;
    assert_eq!(
        times(&all),
        vec![TEST_NOW + 2 * HOUR, TEST_NOW + HOUR],
        "newest first, by time"
    );
    let support = &all["lines"][1];
    assert_eq!(support["credits_kind"], "adjustment");
    assert_eq!(support["reason"], "Refund for a double-charged export");
    assert_eq!(support["by_support"], true);
    assert_eq!(support["amount"], 25);
    assert_eq!(all["balance"], 525);

    // Thirty more, one hour apart: a page of 25, then the rest, with no entry twice.
    for i in 0..30 {
        grant(
            &app,
            account,
            GrantKind::Topup,
            1,
            "Top-up bought",
            TEST_NOW + (3 + i) * HOUR,
        )
        .await;
    }
    let first = history(&app, &cookie, &[]).await;
    assert_eq!(first["lines"].as_array().unwrap().len(), 25);
    let cursor = first["next_before"].as_str().unwrap().to_owned();
    let second = history(&app, &cookie, &[("before", &cursor)]).await;
    assert_eq!(second["lines"].as_array().unwrap().len(), 7);
    assert_eq!(second["next_before"], Value::Null);
    let mut seen: Vec<i64> = times(&first);
    seen.extend(times(&second));
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "every entry once, newest first across pages");

    // A filter shows one kind; an unknown one shows everything; a bad cursor is a 400.
    let added = history(&app, &cookie, &[("kind", "added")]).await;
    assert_eq!(added["filter"], "added");
    let expired = history(&app, &cookie, &[("kind", "expired")]).await;
    assert!(expired["lines"].as_array().unwrap().is_empty());
    let odd = history(&app, &cookie, &[("kind", "nonsense")]).await;
    assert_eq!(odd["filter"], "all");
    let res = call(
        &app,
        "account/history",
        Some(&cookie),
        &[("before", "yesterday")],
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(res.body.contains("does not exist"), "{}", res.body);

    // Only one's own: another customer sees none of it; nobody signed in is refused.
    let other = sign_up(&app, "other@example.com").await;
    assert!(
        history(&app, &other, &[]).await["lines"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let res = call(&app, "account/history", None, &[]).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    app.cleanup().await;
}

async fn a_generation_and_its_refund_are_in_the_history_with_the_operation(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "gen@example.com").await;
    let account = account_of(&app, "gen@example.com").await;
    grant(
        &app,
        account,
        GrantKind::Topup,
        500,
        "Top-up bought",
        TEST_NOW,
    )
    .await;
    let res = call(
        &app,
        "demo/try",
        Some(&cookie),
        &[
            ("operation", "music"),
            ("quantity", "10"),
            ("fail_part", "on"),
            ("intent", "run"),
            ("request_key", "history-try-key-000001"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let all = history(&app, &cookie, &[]).await;
    let kinds: Vec<&str> = all["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"capture"), "{kinds:?}");
    assert!(
        kinds.contains(&"refund"),
        "the failed part's credits back: {kinds:?}"
    );
    let back = history(&app, &cookie, &[("kind", "back")]).await;
    assert!(
        back["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["kind"] == "refund")
    );
    assert!(!back["lines"].as_array().unwrap().is_empty());
    // Reservations change no balance and are not listed.
    assert!(!kinds.contains(&"reserve"), "{kinds:?}");
    let charge = all["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "capture")
        .unwrap();
    assert_eq!(charge["operation"], "music");
    assert!(charge["amount"].as_i64().unwrap() < 0);
    let charged = history(&app, &cookie, &[("kind", "charged")]).await;
    assert!(
        charged["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["kind"] == "capture" || l["kind"] == "debit")
    );
    // The balance after each line agrees with the balance now.
    assert_eq!(all["lines"][0]["balance_after"], all["balance"]);
    app.cleanup().await;
}

/// The demo's history (issue 13: "30 Nov above 1 Dec"): by time, each line's balance
/// follows from the one before it, so the demo data was written in the order of its times.
async fn the_demo_history_reads_as_a_running_balance(backend: Backend) {
    let app = TestApp::start(backend).await;
    studio_billing::server::seed::demo(&app.state)
        .await
        .unwrap();
    let cookie = common::sign_in(
        &app,
        studio_billing::server::seed::DEMO_CUSTOMER_EMAIL,
        studio_billing::server::seed::DEMO_PASSWORD,
    )
    .await;
    let all = history(&app, &cookie, &[]).await;
    let lines = all["lines"].as_array().unwrap();
    assert!(lines.len() > 10);
    for pair in lines.windows(2) {
        let (newer, older) = (&pair[0], &pair[1]);
        assert!(newer["at"].as_i64() >= older["at"].as_i64());
        assert_eq!(
            newer["balance_after"].as_i64().unwrap() - newer["amount"].as_i64().unwrap(),
            older["balance_after"].as_i64().unwrap(),
            "{newer} follows {older}"
        );
    }
    app.cleanup().await;
}

on_both_backends!(
    the_demo_history_reads_as_a_running_balance,
    the_history_is_in_time_order_filtered_and_paged,
    a_generation_and_its_refund_are_in_the_history_with_the_operation,
);
