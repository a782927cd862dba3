//! Plan changes as the customer sees them, on SQLite and PostgreSQL (issue 13): a booked
//! downgrade survives cancel and resume, and resuming says what it leads to; starting to
//! cancel offers the tier below what is booked, not the booked plan again (P15); the usage
//! window is the plan's real period with its whole first day, and without a plan it says
//! it is the last 30 days.

use crate::common;

use axum::http::StatusCode;
use common::{Backend, TestApp, TestResponse, account_of, call, sign_up};
use serde_json::Value;
use studio_billing::domain::subscription::DAY;
use studio_billing::server::db::subscriptions;
use studio_billing::server::services::plans;

async fn change(app: &TestApp, cookie: &str, pairs: &[(&str, &str)]) -> TestResponse {
    let res = call(app, "plans/change", Some(cookie), pairs).await;
    assert_eq!(res.status, StatusCode::OK, "{pairs:?}: {}", res.body);
    res
}

/// What the change did, said as the page shows it (in UTC, the zone of a reader who chose
/// none).
async fn said(app: &TestApp, cookie: &str, pairs: &[(&str, &str)]) -> String {
    let res = change(app, cookie, pairs).await;
    let changed = serde_json::from_value(res.json()).expect("what the change did");
    studio_billing::ui::components::plans::said(&changed)
}

async fn subscribe(app: &TestApp, cookie: &str, plan: &str) {
    common::subscribe_locally(app, cookie, plan).await;
}

async fn my_plan(app: &TestApp, cookie: &str) -> Value {
    let res = call(app, "plans/mine", Some(cookie), &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()
}

async fn a_booked_downgrade_survives_cancel_and_resume(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "studio@example.com").await;
    let account = account_of(&app, "studio@example.com").await;
    subscribe(&app, &cookie, "studio").await;
    change(&app, &cookie, &[("action", "change"), ("plan", "creator")]).await;
    let cancelled = said(&app, &cookie, &[("action", "cancel")]).await;
    assert!(
        cancelled.contains("The switch to Creator you booked happens only if you resume"),
        "{cancelled}"
    );
    let plan = my_plan(&app, &cookie).await;
    assert_eq!(plan["cancel_at_period_end"], true);
    assert_eq!(plan["pending_plan_name"], "Creator", "still booked: {plan}");
    let resumed = said(&app, &cookie, &[("action", "resume")]).await;
    assert!(
        resumed.contains("Studio until") && resumed.contains("then Creator"),
        "resuming says what it leads to: {resumed}"
    );
    let s = subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.plan.as_str(), "studio");
    assert_eq!(s.pending_plan.as_ref().map(|p| p.as_str()), Some("creator"));
    assert!(!s.cancel_at_period_end);
    // At the renewal the booked plan starts, at its price and credits.
    app.state
        .clock
        .advance(s.period_end - app.state.clock.now() + 60);
    plans::run_due(&app.state).await.unwrap();
    let s = subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.plan.as_str(), "creator");
    assert_eq!(s.pending_plan, None);
    app.cleanup().await;
}

async fn the_cancel_offer_is_the_tier_below_what_is_booked(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "offer@example.com").await;
    subscribe(&app, &cookie, "studio").await;
    // Nothing booked: the tier below the plan.
    assert_eq!(
        my_plan(&app, &cookie).await["lower_tier"]["name"],
        "Creator"
    );
    // Creator booked: not Creator again, the tier below it.
    change(&app, &cookie, &[("action", "change"), ("plan", "creator")]).await;
    assert_eq!(
        my_plan(&app, &cookie).await["lower_tier"]["name"],
        "Starter"
    );
    // The lowest tier booked: nothing lower to offer (the page says it is booked).
    change(&app, &cookie, &[("action", "change"), ("plan", "starter")]).await;
    let plan = my_plan(&app, &cookie).await;
    assert_eq!(plan["lower_tier"], Value::Null, "{plan}");
    assert_eq!(plan["pending_plan_name"], "Starter");
    app.cleanup().await;
}

async fn the_usage_window_is_the_plans_period_with_its_whole_first_day(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "window@example.com").await;
    let account = account_of(&app, "window@example.com").await;
    // Without a plan the window says it is the last 30 days, not a period.
    let page = call(&app, "subscription/overview", Some(&cookie), &[])
        .await
        .json();
    assert_eq!(page["plan_period"], false);
    // Subscribed at 15:00; a generation at 15:30 the same day.
    app.state.clock.advance(15 * 3_600);
    subscribe(&app, &cookie, "creator").await;
    app.state.clock.advance(1_800);
    let res = call(
        &app,
        "demo/try",
        Some(&cookie),
        &[
            ("operation", "music"),
            ("quantity", "1"),
            ("intent", "run"),
            ("request_key", "window-try-key-0000001"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let s = subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    let page = call(&app, "subscription/overview", Some(&cookie), &[])
        .await
        .json();
    assert_eq!(page["plan_period"], true);
    assert_eq!(page["period_start"], s.period_start);
    assert_eq!(page["period_end"], s.period_end);
    let days = page["days"].as_array().unwrap();
    // The first day shown is the day the period began, from its midnight, with the
    // generation made on it.
    let first = days[0]["day_start"].as_i64().unwrap();
    assert_eq!(first, s.period_start - s.period_start.rem_euclid(DAY));
    assert!(days[0]["total"].as_u64().unwrap() > 0, "{:?}", days[0]);
    let shown: u64 = days.iter().map(|d| d["total"].as_u64().unwrap()).sum();
    assert_eq!(shown, days[0]["total"].as_u64().unwrap());
    app.cleanup().await;
}

async fn an_ended_plan_is_named_at_the_top_not_no_plan_yet(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "ended@example.com").await;
    let account = account_of(&app, "ended@example.com").await;
    let page = call(&app, "subscription/overview", Some(&cookie), &[])
        .await
        .json();
    assert_eq!(page["ended_plan"], Value::Null, "never had a plan");
    subscribe(&app, &cookie, "starter").await;
    change(&app, &cookie, &[("action", "cancel")]).await;
    let s = subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    app.state
        .clock
        .advance(s.period_end - app.state.clock.now() + 60);
    plans::run_due(&app.state).await.unwrap();
    // A new session (a month later the first one has ended).
    let res = call(
        &app,
        "auth/sign_in",
        None,
        &[
            ("email", "ended@example.com"),
            ("password", common::PASSWORD),
        ],
    )
    .await;
    let cookie = common::session_of(&res).expect("signed in");
    let page = call(&app, "subscription/overview", Some(&cookie), &[])
        .await
        .json();
    let ended = &page["ended_plan"];
    assert_eq!(ended["name"], "Starter", "{page}");
    assert_eq!(ended["ended_at"], s.period_end);
    assert!(ended["kept_until"].as_i64().unwrap() > s.period_end);
    app.cleanup().await;
}

on_both_backends!(
    an_ended_plan_is_named_at_the_top_not_no_plan_yet,
    a_booked_downgrade_survives_cancel_and_resume,
    the_cancel_offer_is_the_tier_below_what_is_booked,
    the_usage_window_is_the_plans_period_with_its_whole_first_day,
);
