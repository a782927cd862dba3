//! The "Try a generation" panel (demo mode): charges, refunds and refusals past the
//! balance, on SQLite and PostgreSQL.

use crate::common;

use axum::http::StatusCode;
use common::{Backend, TEST_NOW, TestApp, account_of, call, sign_up};
use studio_billing::domain::credits::Credits;
use studio_billing::domain::ledger::GrantKind;
use studio_billing::server::config::Mode;
use studio_billing::server::db::ledger;

use common::payments::*;

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
    try_a_generation_charges_refunds_and_refuses_past_the_balance,
    try_a_generation_is_demo_only,
);
