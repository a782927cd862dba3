//! The subscription life cycle through the real router and storage, on SQLite and
//! PostgreSQL: every transition with its credits and dates, renewals exactly once with two
//! app instances at once, the grace period and the purge.

use crate::common;

use axum::http::{Method, StatusCode};
use common::{Backend, TEST_NOW, TestApp, TestResponse, account_of, call, sign_up};
use serde_json::Value;
use studio_billing::domain::subscription::{DAY, Status, add_month};
use studio_billing::server::clock::Clock;
use studio_billing::server::db::{Db, ledger, subscriptions, tokens};
use studio_billing::server::services::plans;
use studio_billing::server::state::AppState;

/// (total, subscription, top-up) at the app's current time.
async fn balance(app: &TestApp, account: i64) -> (u64, u64, u64) {
    let b = ledger::balance(&app.state.db, account, app.state.clock.now())
        .await
        .unwrap();
    (b.total.get(), b.subscription.get(), b.topup.get())
}

async fn change(app: &TestApp, cookie: &str, pairs: &[(&str, &str)]) -> TestResponse {
    call(app, "plans/change", Some(cookie), pairs).await
}

fn ok(res: &TestResponse) -> String {
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json().as_str().unwrap_or_default().to_owned()
}

/// A new session (sessions last 14 days; the tests move the clock further than that).
async fn sign_in(app: &TestApp, email: &str) -> String {
    let res = call(
        app,
        "auth/sign_in",
        None,
        &[("email", email), ("password", common::PASSWORD)],
    )
    .await;
    common::session_of(&res).expect("signed in")
}

/// Subscribes through the local checkout: the plan starts when the checkout is paid.
async fn subscribe(app: &TestApp, cookie: &str, plan: &str) {
    common::subscribe_locally(app, cookie, plan).await;
}

/// An account subscribed to Creator at `TEST_NOW` (no user: the scheduler's view).
async fn subscribed_account(app: &TestApp, email: &str) -> i64 {
    let account = ledger::create_account(&app.state.db, email, TEST_NOW)
        .await
        .unwrap();
    studio_billing::server::services::lifecycle::transition(
        &app.state.db,
        &app.state.config.catalog,
        studio_billing::server::services::lifecycle::Billing::Local,
        account,
        &studio_billing::domain::subscription::Command::Subscribe(
            studio_billing::domain::catalog::PlanId::parse("creator").unwrap(),
        ),
        None,
        TEST_NOW,
    )
    .await
    .unwrap();
    account
}

async fn sub(app: &TestApp, account: i64) -> studio_billing::domain::subscription::Subscription {
    subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .expect("a subscription")
}

async fn every_step_of_the_life_cycle_with_its_credits_and_dates(backend: Backend) {
    let app = TestApp::start(backend).await;
    let mut cookie = sign_up(&app, "member@example.com").await;
    let account = account_of(&app, "member@example.com").await;
    let mine = call(&app, "plans/mine", Some(&cookie), &[]).await.json();
    assert_eq!(mine["status"], "none");
    assert_eq!(mine["options"].as_array().unwrap().len(), 3);

    // Subscribe: through the local checkout. Leaving it starts nothing; paying starts the
    // plan: the first period's credits, a renewal date a month out, its payment.
    let res = change(
        &app,
        &cookie,
        &[("action", "subscribe"), ("plan", "creator")],
    )
    .await;
    let left = res
        .header("location")
        .trim_start_matches("/checkout/local/")
        .to_owned();
    let res = call(
        &app,
        "checkout/local/cancel",
        Some(&cookie),
        &[("session_id", &left)],
    )
    .await;
    assert_eq!(res.header("location"), "/subscription#plans");
    assert!(
        subscriptions::get(&app.state.db, account)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(balance(&app, account).await, (0, 0, 0));
    subscribe(&app, &cookie, "creator").await;
    let end = add_month(TEST_NOW);
    assert_eq!(balance(&app, account).await, (5000, 5000, 0));
    let s = sub(&app, account).await;
    assert_eq!(
        (s.period_start, s.period_end, s.status),
        (TEST_NOW, end, Status::Active)
    );
    let overview = call(&app, "subscription/overview", Some(&cookie), &[])
        .await
        .json();
    assert_eq!(overview["plan"]["name"], "Creator");
    assert_eq!(overview["balance"]["renews_at"], end);
    let payments: Vec<&Value> = overview["payments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "paid")
        .collect();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["kind"], "subscription");
    assert_eq!(payments[0]["amount_cents"], 2900);
    // Subscribing twice is refused.
    let again = change(
        &app,
        &cookie,
        &[("action", "subscribe"), ("plan", "starter")],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // Upgrade mid-period, with 20 of the period's 30 days left: at once, paid for the
    // rest of the period (two thirds of the $70 difference, recorded as the test-mode
    // payment) and credited alike (two thirds of the 15,000 difference).
    app.state.clock.advance(10 * DAY);
    let mine = call(&app, "plans/mine", Some(&cookie), &[]).await.json();
    let studio = mine["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "studio")
        .unwrap();
    // The confirm step says both numbers (the page words them: "Starts now: $46.66
    // charged today for the rest of this period and 10,000 more credits until ...").
    assert_eq!(
        (&studio["charge_today_cents"], &studio["extra_credits"]),
        (&serde_json::json!(4666), &serde_json::json!(10_000)),
        "{studio}"
    );
    ok(&change(&app, &cookie, &[("action", "change"), ("plan", "studio")]).await);
    assert_eq!(balance(&app, account).await, (15_000, 15_000, 0));
    assert_eq!(sub(&app, account).await.plan.as_str(), "studio");
    let upgrade_paid: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT amount_cents, credits, status FROM payments WHERE account_id = $1 AND product = 'studio'",
    )
    .bind(account)
    .fetch_all(app.state.db.reader())
    .await
    .unwrap();
    assert_eq!(upgrade_paid, vec![(4666, 10_000, "paid".to_owned())]);
    // The same upgrade's grant cannot happen twice in one period.
    let again = change(&app, &cookie, &[("action", "change"), ("plan", "studio")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(balance(&app, account).await.0, 15_000);

    // Downgrade: waits for the renewal, and can be undone.
    // What it did, said as the page says it.
    let res = change(&app, &cookie, &[("action", "change"), ("plan", "starter")]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let said = studio_billing::ui::components::plans::said(
        &serde_json::from_value(res.json()).expect("what the change did"),
    );
    assert!(
        said.starts_with("Switch booked: you move to Starter on")
            && said.ends_with("Nothing changes before then."),
        "{said}"
    );
    let mine = call(&app, "plans/mine", Some(&cookie), &[]).await.json();
    assert_eq!(mine["pending_plan_name"], "Starter");
    ok(&change(&app, &cookie, &[("action", "keep")]).await);
    assert_eq!(sub(&app, account).await.pending_plan, None);
    ok(&change(&app, &cookie, &[("action", "change"), ("plan", "starter")]).await);
    assert_eq!(
        balance(&app, account).await.0,
        15_000,
        "no refund, nothing taken (P7)"
    );

    // Renewal: the old period's credits expire (a journal entry), Starter's are granted.
    app.state.clock.advance(end - app.state.clock.now());
    assert_eq!(plans::run_due(&app.state).await.unwrap(), 1);
    assert_eq!(
        plans::run_due(&app.state).await.unwrap(),
        0,
        "once per period"
    );
    let s = sub(&app, account).await;
    assert_eq!(
        (s.plan.as_str(), s.period_start, s.period_end),
        ("starter", end, add_month(end))
    );
    // The page's usage window is that period (1 July to 1 August: 31 days), not the 30
    // days before the renewal, which lost the period's first day.
    let overview =
        studio_billing::server::services::subscription::overview(&app.state, account, None)
            .await
            .unwrap();
    assert_eq!(
        (overview.period_start, overview.period_end),
        (end, add_month(end))
    );
    assert_eq!(overview.days.len(), 31);
    assert_eq!(balance(&app, account).await, (1000, 1000, 0));
    let journal = ledger::journal(&app.state.db, account, None, 50)
        .await
        .unwrap();
    assert!(journal.iter().any(|e| e.kind == "expire"), "{journal:?}");
    cookie = sign_in(&app, "member@example.com").await;

    // Cancel: nothing changes until the period ends; resume undoes it.
    ok(&change(
        &app,
        &cookie,
        &[("action", "cancel"), ("reason", "Too expensive")],
    )
    .await);
    assert!(sub(&app, account).await.cancel_at_period_end);
    let mine = call(&app, "plans/mine", Some(&cookie), &[]).await.json();
    assert_eq!(mine["grace_until"], add_month(end) + 30 * DAY);
    assert!(mine["lower_tier"].is_null(), "Starter is the lowest tier");
    ok(&change(&app, &cookie, &[("action", "resume")]).await);
    assert!(!sub(&app, account).await.cancel_at_period_end);
    let resumed = change(&app, &cookie, &[("action", "resume")]).await;
    assert_eq!(resumed.status, StatusCode::CONFLICT);

    // Cancel for good; buy a top-up meanwhile: it outlives the plan (P14). A generation
    // service reserves just before the end; its retry after the end still gets that hold.
    ok(&change(&app, &cookie, &[("action", "cancel")]).await);
    let token = tokens::create(&app.state.db, "svc", &tokens::Scope::ALL, TEST_NOW)
        .await
        .unwrap();
    let reserve = |key: &'static str| {
        let bearer = format!("Bearer {token}");
        let app = &app;
        async move {
            app.call(
                Method::POST,
                &format!("/api/v1/accounts/{account}/holds"),
                &[("authorization", &bearer), ("idempotency-key", key)],
                Some(r#"{"operation":"voice_generation","quantity":5}"#.into()),
            )
            .await
        }
    };
    let first = reserve("before-the-end").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let released = app
        .call(
            Method::POST,
            &format!(
                "/api/v1/accounts/{account}/holds/{}/release",
                first.json()["hold_id"]
            ),
            &[
                ("authorization", &format!("Bearer {token}")),
                ("idempotency-key", "release-1"),
            ],
            None,
        )
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    ledger::grant(
        &app.state.db,
        account,
        ledger::NewGrant {
            kind: studio_billing::domain::ledger::GrantKind::Topup,
            amount: studio_billing::domain::credits::Credits::new(700).unwrap(),
            expires_at: None,
            reason: "top-up".into(),
            actor: None,
        },
        None,
        app.state.clock.now(),
    )
    .await
    .unwrap();
    let period_end = add_month(end);
    app.state.clock.advance(period_end - app.state.clock.now());
    assert_eq!(plans::run_due(&app.state).await.unwrap(), 1);
    let s = sub(&app, account).await;
    assert_eq!(s.status, Status::Ended);
    assert_eq!(s.grace_until, Some(period_end + 30 * DAY));
    assert_eq!(balance(&app, account).await, (700, 0, 700));
    cookie = sign_in(&app, "member@example.com").await;

    // In the grace period generations are refused, clearly, and nothing is touched.
    let bearer = format!("Bearer {token}");
    let res = app
        .call(
            Method::POST,
            &format!("/api/v1/accounts/{account}/holds"),
            &[("authorization", &bearer), ("idempotency-key", "grace-1")],
            Some(r#"{"operation":"voice_generation","quantity":5}"#.into()),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    assert!(
        res.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Subscribe again")
    );
    let retry = reserve("before-the-end").await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(retry.json()["hold_id"], first.json()["hold_id"]);
    assert_eq!(balance(&app, account).await, (700, 0, 700));
    let overview = call(&app, "subscription/overview", Some(&cookie), &[])
        .await
        .json();
    assert!(overview["plan"].is_null());
    assert!(overview["balance"]["renews_at"].is_null());

    // Resubscribe in the grace period: access is back, top-ups still there.
    app.state.clock.advance(5 * DAY);
    subscribe(&app, &cookie, "starter").await;
    assert_eq!(balance(&app, account).await, (1700, 1000, 700));
    assert_eq!(sub(&app, account).await.status, Status::Active);

    // And once more to the end, past the grace period: the purge keeps the money records.
    ok(&change(
        &app,
        &cookie,
        &[("action", "cancel"), ("reason", "Moving on")],
    )
    .await);
    let cancel_reason = || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT cancel_reason FROM subscriptions WHERE account_id = $1",
        )
        .bind(account)
        .fetch_one(app.state.db.reader())
        .await
        .unwrap()
    };
    assert_eq!(cancel_reason().await.as_deref(), Some("Moving on"));
    let s = sub(&app, account).await;
    app.state
        .clock
        .advance(s.period_end + 30 * DAY - app.state.clock.now());
    cookie = sign_in(&app, "member@example.com").await;
    assert_eq!(
        call(&app, "plans/mine", Some(&cookie), &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        plans::run_due(&app.state).await.unwrap(),
        2,
        "end, then purge"
    );
    assert_eq!(sub(&app, account).await.status, Status::Purged);
    let purged: Option<i64> =
        sqlx::query_scalar("SELECT content_purged_at FROM accounts WHERE id = $1")
            .bind(account)
            .fetch_one(app.state.db.reader())
            .await
            .unwrap();
    assert_eq!(purged, Some(app.state.clock.now()));
    assert_eq!(
        cancel_reason().await,
        None,
        "the cancel reason goes with the content"
    );
    assert_eq!(
        balance(&app, account).await,
        (700, 0, 700),
        "top-ups stay (P14)"
    );
    let payments: i64 = common::count(
        &app,
        "SELECT COUNT(*) FROM payments WHERE account_id = $1",
        account,
    )
    .await;
    assert_eq!(
        payments, 5,
        "a checkout left unpaid, the first period, the upgrade, the renewal, the resubscription"
    );
    // P14 and the FAQ: the top-up credits stay "for when you come back". The customer can
    // still sign in, sees that the plan is over, and starts again with the credits intact.
    let res = call(&app, "plans/mine", Some(&cookie), &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["status"], "purged");
    let cookie = sign_in(&app, "member@example.com").await;
    subscribe(&app, &cookie, "starter").await;
    assert_eq!(sub(&app, account).await.status, Status::Active);
    assert_eq!(balance(&app, account).await, (1700, 1000, 700));
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

async fn bad_plan_changes_get_a_clear_error_and_change_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "member@example.com").await;
    let account = account_of(&app, "member@example.com").await;
    for (pairs, status, words) in [
        (
            vec![("action", "subscribe"), ("plan", "gold")],
            StatusCode::BAD_REQUEST,
            "Pick one of the plans",
        ),
        (
            vec![("action", "subscribe")],
            StatusCode::BAD_REQUEST,
            "Pick one of the plans",
        ),
        (
            vec![("action", "explode")],
            StatusCode::BAD_REQUEST,
            "not one this page offers",
        ),
        (
            vec![("action", "cancel")],
            StatusCode::CONFLICT,
            "don't have a plan",
        ),
        (
            vec![("action", "change"), ("plan", "studio")],
            StatusCode::CONFLICT,
            "don't have a plan",
        ),
    ] {
        let res = change(&app, &cookie, &pairs).await;
        assert_eq!(res.status, status, "{pairs:?}: {}", res.body);
        let error: studio_billing::error::AppError = serde_json::from_str(&res.body).unwrap();
        assert!(error.to_string().contains(words), "{pairs:?}: {error}");
    }
    subscribe(&app, &cookie, "starter").await;
    let long = "x".repeat(501);
    let res = change(&app, &cookie, &[("action", "cancel"), ("reason", &long)]).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(!sub(&app, account).await.cancel_at_period_end);
    // The demo clock is support's, in demo mode only.
    let res = call(
        &app,
        "support/advance_clock",
        Some(&cookie),
        &[("days", "30")],
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(app.state.clock.now(), TEST_NOW);
    app.cleanup().await;
}

async fn support_moves_the_demo_clock_and_renewals_follow(backend: Backend) {
    let app = TestApp::start(backend).await;
    studio_billing::server::seed::demo(&app.state)
        .await
        .unwrap();
    let res = call(
        &app,
        "auth/sign_in",
        None,
        &[
            ("email", studio_billing::server::seed::DEMO_SUPPORT_EMAIL),
            ("password", studio_billing::server::seed::DEMO_PASSWORD),
        ],
    )
    .await;
    let support = common::session_of(&res).unwrap();
    let demo = account_of(&app, studio_billing::server::seed::DEMO_CUSTOMER_EMAIL).await;
    let before = sub(&app, demo).await;
    for bad in ["0", "-3", "abc", "401"] {
        let res = call(
            &app,
            "support/advance_clock",
            Some(&support),
            &[("days", bad)],
        )
        .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let said = ok(&call(
        &app,
        "support/advance_clock",
        Some(&support),
        &[("days", "15")],
    )
    .await);
    assert!(said.contains("1 subscription step ran"), "{said}");
    let after = sub(&app, demo).await;
    assert_eq!(after.period_start, before.period_end);
    assert_eq!(app.state.clock.now(), TEST_NOW + 15 * DAY);
    app.cleanup().await;
}

async fn two_instances_renew_each_subscription_exactly_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let mut accounts = Vec::new();
    for i in 0..12 {
        accounts.push(subscribed_account(&app, &format!("r{i}@example.com")).await);
    }
    // Two instances: their own connection pools and clocks, one database, both past two
    // period ends.
    let at = add_month(add_month(TEST_NOW)) + 1;
    let mut instances = Vec::new();
    for _ in 0..2 {
        let db = Db::connect(&app.test_db.url, 5).await.unwrap();
        instances.push(AppState::new(
            (*app.state.config).clone(),
            db,
            Clock::fixed(at),
        ));
    }
    let mut tasks = Vec::new();
    for _ in 0..3 {
        for state in &instances {
            let state = state.clone();
            tasks.push(tokio::spawn(async move {
                plans::run_due(&state).await.unwrap()
            }));
        }
    }
    let mut steps = 0;
    for t in tasks {
        steps += t.await.unwrap();
    }
    assert_eq!(steps, 2 * 12, "two renewals per subscription, in all");
    for account in accounts {
        let grants: i64 = common::count(
            &app,
            "SELECT COUNT(*) FROM subscription_grants WHERE account_id = $1",
            account,
        )
        .await;
        // The first period, and the current one; the missed middle period grants nothing.
        assert_eq!(grants, 2, "account {account}");
        let s = sub(&app, account).await;
        assert_eq!(s.period_start, add_month(add_month(TEST_NOW)));
        let b = ledger::balance(&app.state.db, account, at).await.unwrap();
        assert_eq!(b.subscription.get(), 5000);
    }
    for state in instances {
        state.db.close().await;
    }
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

async fn a_period_is_granted_once_even_if_its_renewal_runs_again(backend: Backend) {
    let app = TestApp::start(backend).await;
    let account = subscribed_account(&app, "k@example.com").await;
    let end = add_month(TEST_NOW);
    app.state.clock.advance(end - TEST_NOW);
    assert_eq!(plans::run_due(&app.state).await.unwrap(), 1);
    assert_eq!(balance(&app, account).await.0, 5000);
    // Put the subscription back a period, as a stale second writer might: the renewal runs
    // again, and the period's grant key stops a second grant (and a second payment).
    sqlx::query(
        "UPDATE subscriptions SET period_start = $1, period_end = $2 WHERE account_id = $3",
    )
    .bind(TEST_NOW)
    .bind(end)
    .bind(account)
    .execute(app.state.db.writer())
    .await
    .unwrap();
    assert_eq!(plans::run_due(&app.state).await.unwrap(), 1);
    assert_eq!(balance(&app, account).await.0, 5000);
    let grants: i64 = common::count(
        &app,
        "SELECT COUNT(*) FROM grants WHERE account_id = $1",
        account,
    )
    .await;
    assert_eq!(grants, 2);
    let payments: i64 = common::count(
        &app,
        "SELECT COUNT(*) FROM payments WHERE account_id = $1",
        account,
    )
    .await;
    assert_eq!(payments, 2);
    app.cleanup().await;
}

async fn two_paid_plan_checkouts_start_one_plan(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "twice@example.com").await;
    let account = account_of(&app, "twice@example.com").await;
    // Two checkouts opened side by side (two tabs), both paid.
    let mut sessions = Vec::new();
    for plan in ["creator", "studio"] {
        let res = change(&app, &cookie, &[("action", "subscribe"), ("plan", plan)]).await;
        sessions.push(
            res.header("location")
                .trim_start_matches("/checkout/local/")
                .to_owned(),
        );
    }
    for session in &sessions {
        let paid = call(
            &app,
            "checkout/local/pay",
            Some(&cookie),
            &[("session_id", session), ("method", "card")],
        )
        .await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    }
    // Opening the second closed the first, so paying it took nothing: only the second
    // was paid, and it started its plan (tests/plan_payments.rs has the rest).
    assert_eq!(sub(&app, account).await.plan.as_str(), "studio");
    assert_eq!(balance(&app, account).await, (20_000, 20_000, 0));
    let paid: i64 = common::count(
        &app,
        "SELECT COUNT(*) FROM payments WHERE account_id = $1 AND status = 'paid'",
        account,
    )
    .await;
    assert_eq!(paid, 1);
    let grants: i64 = common::count(
        &app,
        "SELECT COUNT(*) FROM grants WHERE account_id = $1",
        account,
    )
    .await;
    assert_eq!(grants, 1);
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

on_both_backends!(
    two_paid_plan_checkouts_start_one_plan,
    a_period_is_granted_once_even_if_its_renewal_runs_again,
    every_step_of_the_life_cycle_with_its_credits_and_dates,
    bad_plan_changes_get_a_clear_error_and_change_nothing,
    support_moves_the_demo_clock_and_renewals_follow,
    two_instances_renew_each_subscription_exactly_once,
);
