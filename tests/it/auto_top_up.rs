//! Automatic top-ups (P16), the decision, on SQLite and PostgreSQL: however many reserves
//! cross the threshold at once, one automatic top-up is started; one per crossing (a
//! failed one is not tried again until the balance has risen and fallen again); the
//! month's cap, counted in the customer's own month, is never passed, racing or not; off,
//! without a card, or stopped, none. Its charge settles through the webhook on Stripe's
//! own PaymentIntent fixtures of both API versions: paid, its credits once, however often
//! told; failed twice, stopped, and the customer told each time. A reserve through the
//! usage API that crosses the threshold starts it: without Stripe the local test card is
//! charged through the webhook code (20 reserves at once buy one pack; a declined card
//! buys none); with Stripe (its stand-in) the saved card is charged off-session with the
//! automatic top-up's own idempotency key, again with the same key while no outcome has
//! come, and only the webhook grants. (The decision tests settle each one by hand.)

use crate::common;
use common::stripe_fixtures::{Fixtures, Pi, Version};
use common::{Backend, TEST_NOW, TestApp, account_of, sign_up};
use studio_billing::domain::auto_top_up::{AutoTopUpSettings, Skip};
use studio_billing::domain::credits::Credits;
use studio_billing::domain::ledger::GrantKind;
use studio_billing::domain::pricing::Operation;
use studio_billing::server::db::auto_top_up as store;
use studio_billing::server::db::ledger::{self, NewGrant, NewHold};
use studio_billing::server::services::auto_top_up::{Considered, consider};

fn c(n: u64) -> Credits {
    Credits::new(n).unwrap()
}

/// A customer with `credits` top-up credits and automatic top-ups of the small pack
/// (500 credits, $5) below 500 credits, capped at `cap_cents` a month, with a saved card.
async fn customer(app: &TestApp, email: &str, credits: u64, cap_cents: u64) -> i64 {
    customer_with_card(app, email, credits, cap_cents, "pm_card_visa").await
}

async fn customer_with_card(
    app: &TestApp,
    email: &str,
    credits: u64,
    cap_cents: u64,
    card: &str,
) -> i64 {
    sign_up(app, email).await;
    let account = account_of(app, email).await;
    give(app, account, credits).await;
    let settings = AutoTopUpSettings {
        enabled: true,
        threshold: 500,
        pack: "small".into(),
        monthly_cap_cents: cap_cents,
    };
    let db = &app.state.db;
    store::save_settings(db, account, &settings, TEST_NOW)
        .await
        .unwrap();
    store::save_card(
        db.writer(),
        account,
        card,
        "Visa ending 4242",
        &settings,
        TEST_NOW,
        TEST_NOW,
    )
    .await
    .unwrap();
    account
}

async fn give(app: &TestApp, account: i64, credits: u64) {
    let grant = NewGrant {
        kind: GrantKind::Topup,
        amount: c(credits),
        expires_at: None,
        reason: "test".into(),
        actor: None,
    };
    ledger::grant(&app.state.db, account, grant, None, app.state.clock.now())
        .await
        .unwrap();
}

async fn reserve(app: &TestApp, account: i64, credits: u64) {
    let now = app.state.clock.now();
    let hold = NewHold {
        operation: Operation::VoiceGeneration,
        quantity: credits,
        estimate: c(credits),
        amount: c(credits),
        expires_at: now + 600,
    };
    ledger::reserve(&app.state.db, account, hold, None, now)
        .await
        .unwrap();
}

/// Settles the account's automatic top-up being charged as its webhook will: `paid`
/// grants its credits.
async fn settle(app: &TestApp, account: i64, paid: bool) {
    let status = if paid { "succeeded" } else { "failed" };
    let n = sqlx::query(
        "UPDATE auto_top_ups SET status = $1 WHERE account_id = $2 AND status = 'charging'",
    )
    .bind(status)
    .bind(account)
    .execute(app.state.db.writer())
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(n, 1, "one being charged");
    if paid {
        give(app, account, 500).await;
    }
}

async fn statuses(app: &TestApp, account: i64) -> Vec<String> {
    let mut rows = store::attempts(&app.state.db, account, 100).await.unwrap();
    rows.reverse();
    rows.into_iter().map(|r| r.status).collect()
}

async fn p16_twenty_reserves_crossing_at_once_start_one(backend: Backend) {
    let app = TestApp::start(backend).await;
    let account = customer(&app, "twenty@example.com", 600, 5_000).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let app_state = app.state.clone();
        tasks.push(tokio::spawn(async move {
            let now = app_state.clock.now();
            let hold = NewHold {
                operation: Operation::VoiceGeneration,
                quantity: 10,
                estimate: c(10),
                amount: c(10),
                expires_at: now + 600,
            };
            ledger::reserve(&app_state.db, account, hold, None, now)
                .await
                .unwrap();
            consider(&app_state, account).await.unwrap()
        }));
    }
    let mut started = 0;
    for t in tasks {
        match t.await.unwrap() {
            Considered::Started(_) => started += 1,
            Considered::Skipped(Skip::AboveThreshold | Skip::Running) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(started, 1, "one for the crossing");
    assert_eq!(statuses(&app, account).await, ["charging"]);
    app.cleanup().await;
}

async fn p16_one_per_crossing_and_a_failure_waits_for_the_next(backend: Backend) {
    let app = TestApp::start(backend).await;
    let account = customer(&app, "crossing@example.com", 600, 5_000).await;
    assert_eq!(
        consider_now(&app, account).await,
        Considered::Skipped(Skip::AboveThreshold)
    );
    reserve(&app, account, 150).await;
    assert!(matches!(
        consider_now(&app, account).await,
        Considered::Started(_)
    ));
    // It fails: still below, but the same crossing: no second try.
    settle(&app, account, false).await;
    reserve(&app, account, 10).await;
    assert_eq!(
        consider_now(&app, account).await,
        Considered::Skipped(Skip::SameCrossing)
    );
    // The balance rises above the threshold (a top-up bought by hand) and falls again: a
    // new crossing.
    give(&app, account, 500).await;
    reserve(&app, account, 600).await;
    assert!(matches!(
        consider_now(&app, account).await,
        Considered::Started(_)
    ));
    assert_eq!(statuses(&app, account).await, ["failed", "charging"]);
    app.cleanup().await;
}

/// `consider` for `app`'s state, unwrapped.
async fn consider_now(app: &TestApp, account: i64) -> Considered {
    consider(&app.state, account).await.unwrap()
}

async fn p16_the_cap_is_never_passed_and_a_new_month_starts_afresh(backend: Backend) {
    let app = TestApp::start(backend).await;
    // A $10 cap: two $5 packs a month.
    let account = customer(&app, "cap@example.com", 600, 1_000).await;
    reserve(&app, account, 150).await;
    for _ in 0..2 {
        assert!(matches!(
            consider_now(&app, account).await,
            Considered::Started(_)
        ));
        // Paid (950 available), then below the threshold again (450).
        settle(&app, account, true).await;
        reserve(&app, account, 500).await;
    }
    // The third would pass it, however many race for it.
    let mut racers = Vec::new();
    for _ in 0..10 {
        let state = app.state.clone();
        racers.push(tokio::spawn(async move {
            consider(&state, account).await.unwrap()
        }));
    }
    for r in racers {
        assert_eq!(r.await.unwrap(), Considered::Skipped(Skip::Cap));
    }
    assert_eq!(statuses(&app, account).await, ["succeeded", "succeeded"]);
    // The customer's next month (UTC here: no zone chosen) has its own cap.
    let next_month = studio_billing::domain::auto_top_up::month_start(
        &studio_billing::domain::zone::Zone::utc(),
        app.state.clock.now() + 32 * 86_400,
    );
    app.state
        .clock
        .advance(next_month - app.state.clock.now() + 60);
    assert!(matches!(
        consider_now(&app, account).await,
        Considered::Started(_)
    ));
    app.cleanup().await;
}

async fn p16_none_when_off_without_a_card_or_never_set(backend: Backend) {
    let app = TestApp::start(backend).await;
    sign_up(&app, "unset@example.com").await;
    let unset = account_of(&app, "unset@example.com").await;
    assert_eq!(consider_now(&app, unset).await, Considered::NotSet);

    let account = customer(&app, "off@example.com", 600, 5_000).await;
    reserve(&app, account, 150).await;
    let off = AutoTopUpSettings {
        enabled: false,
        threshold: 500,
        pack: "small".into(),
        monthly_cap_cents: 5_000,
    };
    let db = &app.state.db;
    store::save_settings(db, account, &off, TEST_NOW)
        .await
        .unwrap();
    assert_eq!(
        consider_now(&app, account).await,
        Considered::Skipped(Skip::Off)
    );

    sign_up(&app, "cardless@example.com").await;
    let cardless = account_of(&app, "cardless@example.com").await;
    give(&app, cardless, 100).await;
    let on = AutoTopUpSettings {
        enabled: true,
        ..off
    };
    store::save_settings(db, cardless, &on, TEST_NOW)
        .await
        .unwrap();
    assert_eq!(
        consider_now(&app, cardless).await,
        Considered::Skipped(Skip::NoCard)
    );
    assert!(statuses(&app, account).await.is_empty());
    assert!(statuses(&app, cardless).await.is_empty());
    app.cleanup().await;
}

const SECRET: &str = "whsec_auto_top_up_test";

/// Delivers `kind` for automatic top-up `attempt`'s PaymentIntent: the webhook's outcome.
async fn deliver(app: &TestApp, fx: &Fixtures, event: &str, kind: &str, pi: &Pi<'_>) -> String {
    let body = fx.event(event, kind, TEST_NOW, fx.payment_intent(pi));
    let res = app.deliver_webhook(SECRET, &body).await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.json()["outcome"].as_str().unwrap().to_owned()
}

fn started(c: Considered) -> i64 {
    match c {
        Considered::Started(id) => id,
        other => panic!("not started: {other:?}"),
    }
}

async fn available(app: &TestApp, account: i64) -> u64 {
    ledger::balance(&app.state.db, account, app.state.clock.now())
        .await
        .unwrap()
        .available
        .get()
}

/// Links the account to the Stripe customer the fixtures' PaymentIntents name.
async fn link(app: &TestApp, account: i64) {
    studio_billing::server::db::subscriptions::link_customer(
        &app.state.db,
        account,
        &format!("cus_auto_{account}"),
        TEST_NOW,
    )
    .await
    .unwrap();
}

async fn notices_of(app: &TestApp, account: i64) -> Vec<(String, String)> {
    sqlx::query_as("SELECT kind, subject FROM notices WHERE account_id = $1 ORDER BY id")
        .bind(account)
        .fetch_all(app.state.db.reader())
        .await
        .unwrap()
}

async fn p16_a_paid_charge_grants_its_pack_once_on_stripes_events(backend: Backend) {
    for version in Version::ALL {
        let app = TestApp::with_stripe(backend, "http://127.0.0.1:9/", &[SECRET]).await;
        let fx = Fixtures::load(version);
        let account = customer(&app, "paid@example.com", 600, 5_000).await;
        link(&app, account).await;
        reserve(&app, account, 150).await;
        let attempt = started(consider_now(&app, account).await);
        assert_eq!(available(&app, account).await, 450);
        let pi = Pi {
            id: "pi_auto_1",
            amount: 500,
            account,
            auto_top_up: attempt,
            failure: None,
        };
        let kind = "payment_intent.succeeded";
        assert_eq!(
            deliver(&app, &fx, "evt_a1", kind, &pi).await,
            "granted",
            "{version:?}"
        );
        assert_eq!(available(&app, account).await, 950, "{version:?}");
        // Again (Stripe resends), and a second event of the same charge: nothing more.
        assert_eq!(deliver(&app, &fx, "evt_a1", kind, &pi).await, "duplicate");
        assert_eq!(
            deliver(&app, &fx, "evt_a2", kind, &pi).await,
            "settled_before"
        );
        assert_eq!(available(&app, account).await, 950);
        let payments: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT kind, provider, status, credits, amount_cents FROM payments WHERE account_id = $1",
        )
        .bind(account)
        .fetch_all(app.state.db.reader())
        .await
        .unwrap();
        assert_eq!(
            payments,
            [("topup".into(), "stripe".into(), "paid".into(), 500, 500)]
        );
        assert_eq!(statuses(&app, account).await, ["succeeded"]);
        assert_eq!(
            notices_of(&app, account).await,
            [("top_up_made".into(), "Automatic top-up made".into())]
        );
        // A PaymentIntent naming another account's top-up, or another amount: nothing.
        sign_up(&app, "other@example.com").await;
        let other = account_of(&app, "other@example.com").await;
        let forged = Pi {
            id: "pi_auto_x",
            account: other,
            ..pi.clone()
        };
        assert_eq!(
            deliver(&app, &fx, "evt_x1", kind, &forged).await,
            "unknown_auto_top_up"
        );
        // Nor one for another amount, or of another Stripe customer (another
        // installation's, say): the account's attempt is settled already, so a second
        // account's fresh one is asked about.
        let second = customer(&app, "second@example.com", 600, 5_000).await;
        link(&app, second).await;
        reserve(&app, second, 150).await;
        let attempt2 = started(consider_now(&app, second).await);
        let wrong_amount = Pi {
            id: "pi_auto_y",
            amount: 499,
            account: second,
            auto_top_up: attempt2,
            failure: None,
        };
        assert_eq!(
            deliver(&app, &fx, "evt_y1", kind, &wrong_amount).await,
            "unknown_auto_top_up"
        );
        let mut other_customer = fx.payment_intent(&Pi {
            amount: 500,
            ..wrong_amount.clone()
        });
        other_customer["customer"] = serde_json::json!("cus_someone_else");
        let body = fx.event("evt_y2", kind, TEST_NOW, other_customer);
        let res = app.deliver_webhook(SECRET, &body).await;
        assert_eq!(res.json()["outcome"], "unknown_auto_top_up");
        assert_eq!(statuses(&app, second).await, ["charging"], "{version:?}");
        app.cleanup().await;
    }
}

async fn p16_the_failures_that_stop_them_are_configured(backend: Backend) {
    // `STUDIO_AUTO_TOP_UP_ATTEMPTS=1`: the first failed charge stops them.
    let app = TestApp::with_config(backend, |c| {
        c.payments = common::stripe_payments("http://127.0.0.1:9/", &[SECRET]);
        c.auto_top_up_attempts = 1;
    })
    .await;
    let fx = Fixtures::load(Version::V2023);
    let account = customer(&app, "once@example.com", 600, 5_000).await;
    link(&app, account).await;
    reserve(&app, account, 150).await;
    let first = started(consider_now(&app, account).await);
    let declined = Pi {
        id: "pi_auto_once",
        amount: 500,
        account,
        auto_top_up: first,
        failure: Some(("card_declined", "Your card was declined.")),
    };
    assert_eq!(
        deliver(
            &app,
            &fx,
            "evt_once",
            "payment_intent.payment_failed",
            &declined
        )
        .await,
        "auto_top_up_stopped"
    );
    let record = store::get(app.state.db.reader(), account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.failures, 1);
    assert!(record.stopped_reason.is_some(), "{record:?}");
    app.cleanup().await;
}

async fn p16_two_failures_stop_it_and_the_customer_is_told_each_time(backend: Backend) {
    let app = TestApp::with_stripe(backend, "http://127.0.0.1:9/", &[SECRET]).await;
    let fx = Fixtures::load(Version::Current);
    let account = customer(&app, "declined@example.com", 600, 5_000).await;
    link(&app, account).await;
    reserve(&app, account, 150).await;
    let first = started(consider_now(&app, account).await);
    let declined = Pi {
        id: "pi_auto_d1",
        amount: 500,
        account,
        auto_top_up: first,
        failure: Some(("card_declined", "Your card was declined.")),
    };
    let kind = "payment_intent.payment_failed";
    assert_eq!(
        deliver(&app, &fx, "evt_d1", kind, &declined).await,
        "auto_top_up_failed"
    );
    assert_eq!(
        available(&app, account).await,
        450,
        "no credits for a failed charge"
    );
    // A new crossing, and the bank wants the customer (3-D Secure): the second failure.
    give(&app, account, 500).await;
    reserve(&app, account, 600).await;
    let second = started(consider_now(&app, account).await);
    let needs_customer = Pi {
        id: "pi_auto_d2",
        auto_top_up: second,
        failure: Some((
            "authentication_required",
            "Your card was declined. This transaction requires authentication.",
        )),
        ..declined.clone()
    };
    assert_eq!(
        deliver(&app, &fx, "evt_d2", kind, &needs_customer).await,
        "auto_top_up_stopped"
    );
    // Stopped: another crossing starts nothing until the customer acts.
    give(&app, account, 500).await;
    reserve(&app, account, 600).await;
    assert_eq!(
        consider_now(&app, account).await,
        Considered::Skipped(Skip::Stopped)
    );
    let record = store::get(app.state.db.reader(), account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.failures, 2);
    assert!(
        record
            .stopped_reason
            .as_deref()
            .is_some_and(|r| r.contains("confirm the payment")),
        "{record:?}"
    );
    let bodies: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, body FROM notices WHERE account_id = $1 ORDER BY id")
            .bind(account)
            .fetch_all(app.state.db.reader())
            .await
            .unwrap();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies.iter().all(|(k, _)| k == "top_up_failed"));
    assert!(
        bodies[0]
            .1
            .contains("Your card was declined. We will try again"),
        "{}",
        bodies[0].1
    );
    assert!(
        bodies[1].1.contains("Automatic top-ups are stopped"),
        "{}",
        bodies[1].1
    );
    // A new card is the customer acting: on again.
    store::save_card(
        app.state.db.writer(),
        account,
        "pm_card_new",
        "Visa ending 1111",
        &record.settings,
        TEST_NOW,
        TEST_NOW,
    )
    .await
    .unwrap();
    assert!(matches!(
        consider_now(&app, account).await,
        Considered::Started(_)
    ));
    app.cleanup().await;
}

/// A service token for the usage API.
async fn token(app: &TestApp) -> String {
    studio_billing::server::db::tokens::create(
        &app.state.db,
        "voice-worker",
        &studio_billing::server::db::tokens::Scope::ALL,
        TEST_NOW,
    )
    .await
    .unwrap()
}

/// Reserves `quantity` seconds of voice through the usage API, as a generation service.
async fn reserve_over_http(
    router: &axum::Router,
    token: &str,
    account: i64,
    quantity: u64,
    key: &str,
) -> u16 {
    reserve_answer(router, token, account, quantity, key)
        .await
        .0
}

/// The usage API's answer to a reserve: its status and JSON body.
async fn reserve_answer(
    router: &axum::Router,
    token: &str,
    account: i64,
    quantity: u64,
    key: &str,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::post(format!("/api/v1/accounts/{account}/holds"))
        .header("authorization", format!("Bearer {token}"))
        .header("idempotency-key", key)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            serde_json::json!({ "operation": "voice_generation", "quantity": quantity })
                .to_string(),
        ))
        .unwrap();
    let res = router.clone().oneshot(request).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Waits (up to 10 s) until the account's automatic top-ups are `want`.
async fn wait_for(app: &TestApp, account: i64, want: &[&str]) {
    for _ in 0..100 {
        if statuses(app, account).await == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(statuses(app, account).await, want);
}

async fn p16_twenty_reserves_over_http_buy_one_pack_with_the_local_test_card(backend: Backend) {
    let app = TestApp::start(backend).await;
    let account = customer_with_card(&app, "local@example.com", 600, 5_000, "pm_local_card").await;
    let token = token(&app).await;
    let mut calls = Vec::new();
    for i in 0..20 {
        let (router, token) = (app.router.clone(), token.clone());
        calls.push(tokio::spawn(async move {
            reserve_over_http(&router, &token, account, 10, &format!("r{i}")).await
        }));
    }
    for c in calls {
        assert_eq!(c.await.unwrap(), 201);
    }
    wait_for(&app, account, &["succeeded"]).await;
    // 600 - 200 held + 500 bought, once.
    assert_eq!(available(&app, account).await, 900);
    let kinds: Vec<String> = notices_of(&app, account)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["top_up_made"]);
    let payments: Vec<(String, String)> =
        sqlx::query_as("SELECT provider, status FROM payments WHERE account_id = $1")
            .bind(account)
            .fetch_all(app.state.db.reader())
            .await
            .unwrap();
    assert_eq!(payments, [("local".to_owned(), "paid".to_owned())]);
    app.cleanup().await;
}

async fn p16_a_reserve_refused_below_the_threshold_starts_one_too(backend: Backend) {
    let app = TestApp::start(backend).await;
    let account =
        customer_with_card(&app, "refused@example.com", 100, 5_000, "pm_local_card").await;
    let token = token(&app).await;
    // 100 credits cannot cover 1,000: refused, and below the threshold a pack is bought.
    assert_eq!(
        reserve_over_http(&app.router, &token, account, 1_000, "r1").await,
        402
    );
    wait_for(&app, account, &["succeeded"]).await;
    assert_eq!(available(&app, account).await, 600);
    app.cleanup().await;
}

async fn p16_a_declined_local_test_card_buys_nothing_and_says_so(backend: Backend) {
    let app = TestApp::start(backend).await;
    let account = customer_with_card(
        &app,
        "declines@example.com",
        600,
        5_000,
        "pm_local_declined",
    )
    .await;
    let token = token(&app).await;
    assert_eq!(
        reserve_over_http(&app.router, &token, account, 150, "d1").await,
        201
    );
    wait_for(&app, account, &["failed"]).await;
    assert_eq!(available(&app, account).await, 450);
    let kinds: Vec<String> = notices_of(&app, account)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["top_up_failed"]);
    app.cleanup().await;
}

async fn p16_stripe_charges_the_saved_card_off_session_once_and_the_webhook_grants(
    backend: Backend,
) {
    let (base, standin) = common::stripe_standin::start().await;
    standin.account.lock().unwrap().now = Some(TEST_NOW);
    let app = TestApp::with_stripe(backend, &base, &[SECRET]).await;
    let account = customer(&app, "stripe@example.com", 600, 5_000).await;
    link(&app, account).await;
    let token = token(&app).await;
    assert_eq!(
        reserve_over_http(&app.router, &token, account, 150, "s1").await,
        201
    );
    let charges = || {
        standin
            .writes()
            .into_iter()
            .filter(|c| c.path == "/v1/payment_intents")
            .collect::<Vec<_>>()
    };
    for _ in 0..100 {
        if !charges().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let first = charges();
    assert_eq!(first.len(), 1);
    let attempt = store::attempts(&app.state.db, account, 1).await.unwrap()[0].id;
    let p = &first[0].params;
    for (key, want) in [
        ("amount", "500".to_owned()),
        ("currency", "usd".to_owned()),
        ("customer", format!("cus_auto_{account}")),
        ("payment_method", "pm_card_visa".to_owned()),
        ("off_session", "true".to_owned()),
        ("confirm", "true".to_owned()),
        ("metadata[account_id]", account.to_string()),
        ("metadata[auto_top_up_id]", attempt.to_string()),
    ] {
        assert_eq!(p.get(key), Some(&want), "{key}: {p:?}");
    }
    let key = first[0]
        .headers
        .get("idempotency-key")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        key.starts_with("sb-") && key.ends_with(&format!("-auto-top-up-{attempt}")),
        "this installation's key for this automatic top-up: {key}"
    );
    // Charged, but no credits until the webhook says it is paid.
    assert_eq!(statuses(&app, account).await, ["charging"]);
    assert_eq!(available(&app, account).await, 450);
    // Meanwhile a reserve the balance cannot cover is refused, saying the credits are
    // coming, so the service can try again.
    let (status, body) = reserve_answer(&app.router, &token, account, 1_000, "s2").await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["error"]["auto_top_up_coming"], true, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("An automatic top-up is being bought: try again in a minute."),
        "{body}"
    );
    // No outcome yet a few minutes on: charged again with the same key, so the same charge.
    app.state.clock.advance(180);
    let retried = studio_billing::server::services::auto_top_up::retry_charging(&app.state)
        .await
        .unwrap();
    assert_eq!(retried, 1);
    let again = charges();
    assert_eq!(again.len(), 2);
    assert_eq!(
        again[1]
            .headers
            .get("idempotency-key")
            .unwrap()
            .to_str()
            .unwrap(),
        key
    );
    let pis: Vec<String> = standin
        .account
        .lock()
        .unwrap()
        .payment_intents
        .keys()
        .cloned()
        .collect();
    assert_eq!(pis.len(), 1, "one PaymentIntent for both calls");
    // Stripe's event: paid.
    let fx = Fixtures::load(Version::V2023);
    let pi = Pi {
        id: &pis[0],
        amount: 500,
        account,
        auto_top_up: attempt,
        failure: None,
    };
    assert_eq!(
        deliver(&app, &fx, "evt_s1", "payment_intent.succeeded", &pi).await,
        "granted"
    );
    assert_eq!(statuses(&app, account).await, ["succeeded"]);
    assert_eq!(available(&app, account).await, 950);
    // Its receipt is Stripe's, for its charge.
    let session = common::sign_in(&app, "stripe@example.com", common::PASSWORD).await;
    let payment: i64 = sqlx::query_scalar("SELECT id FROM payments WHERE external_id = $1")
        .bind(&pis[0])
        .fetch_one(app.state.db.reader())
        .await
        .unwrap();
    let res = app
        .get_with(
            &format!("/payments/{payment}/stripe-receipt"),
            &[
                ("cookie", &format!("sb_session={session}")),
                ("accept", "text/html"),
            ],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let expected = fx.object("charge")["receipt_url"].clone();
    assert_eq!(serde_json::json!(res.header("location")), expected);
    // `stripe reconcile` finds Stripe's payment and its credits agree.
    let reconcile = || async {
        let studio_billing::server::config::PaymentsConfig::Stripe(config) =
            &app.state.config.payments
        else {
            unreachable!("Stripe keys")
        };
        studio_billing::server::services::reconcile::with_stripe(
            config,
            &app.state.db,
            TEST_NOW - 86_400,
            TEST_NOW + 86_400,
        )
        .await
        .unwrap()
    };
    use studio_billing::server::services::reconcile::Difference;
    // (The test's own starting credits are a grant without a payment.)
    let of_money = |r: &studio_billing::server::services::reconcile::Report| {
        r.differences
            .iter()
            .filter(|d| !matches!(d, Difference::GrantWithoutPayment { reason, .. } if reason == "test"))
            .cloned()
            .collect::<Vec<_>>()
    };
    let report = reconcile().await;
    assert_eq!(of_money(&report), [], "{}", report.table());
    assert_eq!(report.checked_payments, 1);
    // A second automatic top-up paid in Stripe whose event never came: a missing grant.
    app.state.clock.advance(600);
    let account2 = customer(&app, "stripe2@example.com", 600, 5_000).await;
    link(&app, account2).await;
    assert_eq!(
        reserve_over_http(&app.router, &token, account2, 150, "s3").await,
        201
    );
    wait_for_charges(&standin, 3).await;
    let report = reconcile().await;
    assert_eq!(of_money(&report).len(), 1, "{}", report.table());
    assert!(
        report
            .table()
            .contains("an automatic top-up paid in Stripe"),
        "{}",
        report.table()
    );
    app.cleanup().await;
}

/// The page's automatic top-up form, on, as the customer sends it (the cap in dollars).
async fn turn_on(
    app: &TestApp,
    session: &str,
    threshold: &str,
    pack: &str,
    cap: &str,
) -> common::TestResponse {
    common::call(
        app,
        "subscription/auto_top_up",
        Some(session),
        &[
            ("enabled", "on"),
            ("threshold", threshold),
            ("pack", pack),
            ("cap", cap),
        ],
    )
    .await
}

/// The page as a browser without JavaScript gets it.
async fn page(app: &TestApp, cookie: &str) -> String {
    let res = app
        .get_with(
            "/subscription",
            &[("cookie", cookie), ("accept", "text/html")],
        )
        .await;
    assert_eq!(res.status, axum::http::StatusCode::OK);
    res.body
}

async fn p16_turned_on_from_the_page_after_saving_the_card_at_a_top_up(backend: Backend) {
    use axum::http::StatusCode;
    let app = TestApp::start(backend).await;
    studio_billing::server::seed::demo(&app.state)
        .await
        .unwrap();
    let session = sign_up(&app, "page@example.com").await;
    let account = account_of(&app, "page@example.com").await;
    let cookie = format!("sb_session={session}");
    assert!(page(&app, &cookie).await.contains("No card saved yet"));
    // Nothing to turn on without a card; a form posted anyway is refused with why.
    let bad = common::form_post_from(
        &app,
        "subscription/auto_top_up",
        &cookie,
        "http://127.0.0.1:3000/subscription",
        &[
            ("enabled", "on"),
            ("threshold", "400"),
            ("pack", "small"),
            ("cap", "50"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::FOUND);
    assert!(
        store::get(app.state.db.reader(), account)
            .await
            .unwrap()
            .is_none()
    );
    let res = turn_on(&app, &session, "400", "small", "50").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(res.body.contains("Save a card first"), "{}", res.body);
    // A top-up bought without asking keeps no card, whatever the checkout is sent.
    let pay = |key: &'static str, save: bool| {
        let (app, session) = (&app, session.clone());
        async move {
            let mut form = vec![("pack", "small"), ("request_key", key)];
            if save {
                form.push(("save_card", "on"));
            }
            let buy = common::call(app, "top-up/buy", Some(&session), &form).await;
            assert_eq!(buy.status, StatusCode::OK, "{}", buy.body);
            let checkout = buy
                .header("location")
                .strip_prefix("/checkout/local/")
                .unwrap()
                .to_owned();
            // The test checkout says the card is kept, as Stripe's does, and takes a
            // card only.
            let view = common::call(
                app,
                "checkout/local/view",
                Some(&session),
                &[("session_id", &checkout)],
            )
            .await;
            assert_eq!(
                view.body.contains("\"saves_card\":true"),
                save,
                "{}",
                view.body
            );
            if save {
                let debit = common::call(
                    app,
                    "checkout/local/pay",
                    Some(&session),
                    &[("session_id", &checkout), ("method", "delayed")],
                )
                .await;
                assert_eq!(debit.status, StatusCode::BAD_REQUEST, "{}", debit.body);
            }
            let paid = common::call(
                app,
                "checkout/local/pay",
                Some(&session),
                &[
                    ("session_id", &checkout),
                    ("method", "card"),
                    ("save_card", "on"),
                ],
            )
            .await;
            assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
            // Sent again (a double click): nothing more.
            let again = common::call(
                app,
                "checkout/local/pay",
                Some(&session),
                &[("session_id", &checkout), ("method", "card")],
            )
            .await;
            assert_eq!(again.status, StatusCode::OK, "{}", again.body);
        }
    };
    pay("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-small", false).await;
    assert_eq!(available(&app, account).await, 500);
    assert!(page(&app, &cookie).await.contains("No card saved yet"));
    // "Buy and save the card": its payment's event keeps the test card.
    pay("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-small", true).await;
    assert_eq!(available(&app, account).await, 1_000);
    let body = page(&app, &cookie).await;
    assert!(body.contains("Card: Test card ending 4242."), "{body}");
    assert!(body.contains("Use another card: buy"), "{body}");
    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT outcome FROM webhook_events WHERE type = 'payment_intent.succeeded'",
    )
    .fetch_all(app.state.db.reader())
    .await
    .unwrap();
    assert_eq!(outcomes, ["card_saved"]);
    // Each refusal in the customer's words, nothing saved; then on.
    for (threshold, pack, cap, says) in [
        ("0", "small", "50", "whole number of credits"),
        ("400", "huge", "50", "top-up packs on sale"),
        ("400", "small", "4.999", "monthly cap in dollars"),
        ("400", "large", "50", "less than the pack's price"),
    ] {
        let res = turn_on(&app, &session, threshold, pack, cap).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
        assert!(res.body.contains(says), "{says}: {}", res.body);
    }
    assert!(
        !store::get(app.state.db.reader(), account)
            .await
            .unwrap()
            .unwrap()
            .settings
            .enabled
    );
    let on = common::form_post_from(
        &app,
        "subscription/auto_top_up",
        &cookie,
        "http://127.0.0.1:3000/subscription",
        &[
            ("enabled", "on"),
            ("threshold", "400"),
            ("pack", "small"),
            ("cap", "20"),
        ],
    )
    .await;
    assert_eq!(on.status, StatusCode::FOUND, "{}", on.body);
    assert_eq!(on.header("location"), "/subscription#auto-top-up");
    let body = page(&app, &cookie).await;
    assert!(
        body.contains(
            "This month (since 1 June 2026): $0 of $20 spent on automatic top-ups, $20 left."
        ),
        "{body}"
    );
    assert!(body.contains("Then, when your available balance falls below 400: an automatic top-up of 500 credits ($5), up to $20 a month."));
    // It happens: a generation takes the balance below 400.
    let token = token(&app).await;
    assert_eq!(
        reserve_over_http(&app.router, &token, account, 650, "g1").await,
        201
    );
    wait_for(&app, account, &["succeeded"]).await;
    assert!(
        page(&app, &cookie)
            .await
            .contains("$5 of $20 spent on automatic top-ups, $15 left.")
    );
    // Test mode's switch: the next charge is declined, and the page says so.
    let res = common::call(
        &app,
        "subscription/test_card",
        Some(&session),
        &[("card", "declined")],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        reserve_over_http(&app.router, &token, account, 500, "g2").await,
        201
    );
    wait_for(&app, account, &["succeeded", "failed"]).await;
    let body = page(&app, &cookie).await;
    assert!(
        body.contains("The last automatic top-up could not be charged: Your card was declined."),
        "{body}"
    );
    // Signed out, nobody sets them; support has no account of its own to set them for.
    let res = common::call(&app, "subscription/test_card", None, &[("card", "card")]).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let support = common::sign_in(
        &app,
        studio_billing::server::seed::DEMO_SUPPORT_EMAIL,
        studio_billing::server::seed::DEMO_PASSWORD,
    )
    .await;
    let res = common::call(
        &app,
        "subscription/test_card",
        Some(&support),
        &[("card", "card")],
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    app.cleanup().await;
}

async fn p16_a_card_saved_at_a_stripe_checkout_is_kept_from_stripes_event_and_charged(
    backend: Backend,
) {
    use axum::http::StatusCode;
    for version in Version::ALL {
        let (base, standin) = common::stripe_standin::start().await;
        let app = TestApp::with_stripe(backend, &base, &[SECRET]).await;
        let fx = Fixtures::load(version);
        let session = sign_up(&app, "stripe-card@example.com").await;
        let account = account_of(&app, "stripe-card@example.com").await;
        let cookie = format!("sb_session={session}");
        // Offered with Stripe; the test card's switch is not.
        let body = page(&app, &cookie).await;
        assert!(body.contains("No card saved yet"), "{body}");
        assert!(body.contains("Buy and save the card"), "{body}");
        assert!(!body.contains("Test mode: the saved test card"), "{body}");
        let res = common::call(
            &app,
            "subscription/test_card",
            Some(&session),
            &[("card", "card")],
        )
        .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
        // A plain top-up: Stripe is asked for nothing more than a payment.
        let buy = |key: &'static str, save: bool| {
            let (app, session) = (&app, session.clone());
            async move {
                let mut form = vec![("pack", "small"), ("request_key", key)];
                if save {
                    form.push(("save_card", "on"));
                }
                let res = common::call(app, "top-up/buy", Some(&session), &form).await;
                assert_eq!(res.status, StatusCode::OK, "{}", res.body);
                assert!(
                    res.header("location")
                        .starts_with("https://checkout.stripe.com/"),
                    "{}",
                    res.header("location")
                );
            }
        };
        let sessions = || {
            standin
                .writes()
                .into_iter()
                .filter(|c| c.path == "/v1/checkout/sessions")
                .collect::<Vec<_>>()
        };
        buy("dddddddddddddddddddddddddddddddd-small", false).await;
        let plain = &sessions()[0].params;
        assert_eq!(
            plain.get("customer_email").map(String::as_str),
            Some("stripe-card@example.com")
        );
        assert!(
            plain
                .get("payment_intent_data[setup_future_usage]")
                .is_none(),
            "{plain:?}"
        );
        // "Buy and save the card": the account's Stripe customer is made, and the session
        // asks Stripe to set the card up for charges while the customer is away.
        buy("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-small", true).await;
        let customer =
            studio_billing::server::db::subscriptions::customer_of(&app.state.db, account)
                .await
                .unwrap()
                .expect("a Stripe customer");
        let saving = &sessions()[1].params;
        for (key, want) in [
            ("customer", customer.as_str()),
            ("payment_intent_data[setup_future_usage]", "off_session"),
            (
                "payment_intent_data[metadata][account_id]",
                &account.to_string(),
            ),
            ("payment_intent_data[metadata][save_card]", "true"),
            ("payment_method_types[0]", "card"),
            ("metadata[pack_id]", "small"),
        ] {
            assert_eq!(
                saving.get(key).map(String::as_str),
                Some(want),
                "{key}: {saving:?}"
            );
        }
        assert!(saving.get("customer_email").is_none(), "{saving:?}");
        // The same form sent again is the same checkout; another choice on it is another.
        buy("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-small", true).await;
        assert_eq!(sessions().len(), 2);
        buy("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-small", false).await;
        assert_eq!(sessions().len(), 3);
        // Stripe's event for the session's PaymentIntent keeps the card, shown as Stripe
        // describes it; told again, nothing more.
        let deliver_pi = |id: &'static str, pi: serde_json::Value| {
            let (app, fx) = (&app, &fx);
            async move {
                let body = fx.event(id, "payment_intent.succeeded", TEST_NOW, pi);
                let res = app.deliver_webhook(SECRET, &body).await;
                assert_eq!(res.status, 200, "{}", res.body);
                res.json()["outcome"].as_str().unwrap().to_owned()
            }
        };
        let kept = fx.card_saving_payment_intent(
            "pi_save_1",
            account,
            &customer,
            "pm_card_mastercard",
            TEST_NOW - 10,
        );
        assert_eq!(deliver_pi("evt_save_1", kept.clone()).await, "card_saved");
        assert_eq!(deliver_pi("evt_save_1", kept).await, "duplicate");
        let card = || async {
            let r = store::get(app.state.db.reader(), account)
                .await
                .unwrap()
                .unwrap();
            (r.payment_method.unwrap(), r.card_label.unwrap())
        };
        let (pm, label) = card().await;
        assert_eq!(pm, "pm_card_mastercard");
        assert!(
            label.starts_with("Mastercard ending 4444, expires "),
            "{label}"
        );
        // An older card's event, come late, does not bring it back; another customer's
        // PaymentIntent naming this account keeps nothing; a PaymentIntent that saves no
        // card is not about cards at all.
        let older = fx.card_saving_payment_intent(
            "pi_save_0",
            account,
            &customer,
            "pm_card_visa",
            TEST_NOW - 100,
        );
        assert_eq!(deliver_pi("evt_save_0", older).await, "card_not_saved");
        let forged = fx.card_saving_payment_intent(
            "pi_save_2",
            account,
            "cus_someone_else",
            "pm_card_visa",
            TEST_NOW,
        );
        assert_eq!(deliver_pi("evt_save_2", forged).await, "card_not_saved");
        let mut plain_pi = fx.card_saving_payment_intent(
            "pi_save_3",
            account,
            &customer,
            "pm_card_visa",
            TEST_NOW,
        );
        plain_pi["setup_future_usage"] = serde_json::Value::Null;
        assert_eq!(deliver_pi("evt_save_3", plain_pi).await, "ignored");
        assert_eq!(card().await.0, "pm_card_mastercard");
        let body = page(&app, &cookie).await;
        assert!(body.contains("Card: Mastercard ending 4444"), "{body}");
        // Turned on; a generation crosses the threshold: Stripe charges that card of that
        // customer, off-session.
        let on = turn_on(&app, &session, "400", "small", "20").await;
        assert_eq!(on.status, StatusCode::OK, "{}", on.body);
        give(&app, account, 500).await;
        let token = token(&app).await;
        assert_eq!(
            reserve_over_http(&app.router, &token, account, 150, "c1").await,
            201
        );
        wait_for_charges(&standin, 1).await;
        let charge = standin
            .writes()
            .into_iter()
            .find(|c| c.path == "/v1/payment_intents")
            .unwrap();
        assert_eq!(
            charge.params.get("payment_method").map(String::as_str),
            Some("pm_card_mastercard")
        );
        assert_eq!(charge.params.get("customer"), Some(&customer));
        assert_eq!(
            charge.params.get("off_session").map(String::as_str),
            Some("true")
        );
        app.cleanup().await;
    }
}

/// The Stripe charges the stand-in was asked for.
fn charges(standin: &common::stripe_standin::StandIn) -> usize {
    standin
        .writes()
        .into_iter()
        .filter(|c| c.path == "/v1/payment_intents")
        .count()
}

/// Waits (up to 5 s) until the stand-in was asked for `n` charges.
async fn wait_for_charges(standin: &common::stripe_standin::StandIn, n: usize) {
    for _ in 0..100 {
        if charges(standin) >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(charges(standin), n);
}

async fn p16_a_card_stripe_refuses_outright_fails_at_once_and_a_retry_after_turning_off_charges_nothing(
    backend: Backend,
) {
    let (base, standin) = common::stripe_standin::start().await;
    let app = TestApp::with_stripe(backend, &base, &[SECRET]).await;
    let token = token(&app).await;
    // A detached card: Stripe makes no PaymentIntent, so no event will come; it fails now
    // and the customer is told.
    let detached =
        customer_with_card(&app, "detached@example.com", 600, 5_000, "pm_card_detached").await;
    link(&app, detached).await;
    assert_eq!(
        reserve_over_http(&app.router, &token, detached, 150, "x1").await,
        201
    );
    wait_for(&app, detached, &["failed"]).await;
    let record = store::get(app.state.db.reader(), detached)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.failures, 1);
    let kinds: Vec<String> = notices_of(&app, detached)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["top_up_failed"]);

    // Stripe cannot be reached: the charge's outcome is unclear, so it stays being charged.
    let account = customer(&app, "unclear@example.com", 600, 5_000).await;
    link(&app, account).await;
    standin.account.lock().unwrap().failing = true;
    let before = charges(&standin);
    assert_eq!(
        reserve_over_http(&app.router, &token, account, 150, "u1").await,
        201
    );
    wait_for_charges(&standin, before + 1).await;
    standin.account.lock().unwrap().failing = false;
    assert_eq!(statuses(&app, account).await, ["charging"]);
    // The customer turns them off; the retry a few minutes on charges nothing and ends it,
    // without counting a failed charge.
    let off = AutoTopUpSettings {
        enabled: false,
        ..record.settings.clone()
    };
    store::save_settings(&app.state.db, account, &off, TEST_NOW)
        .await
        .unwrap();
    app.state.clock.advance(180);
    studio_billing::server::services::auto_top_up::retry_charging(&app.state)
        .await
        .unwrap();
    assert_eq!(charges(&standin), before + 1, "no second charge");
    assert_eq!(statuses(&app, account).await, ["failed"]);
    let after = store::get(app.state.db.reader(), account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.failures, 0, "not a failed charge");
    app.cleanup().await;
}

async fn p16_one_with_no_outcome_for_a_day_is_settled_from_stripes_own_list(backend: Backend) {
    let (base, standin) = common::stripe_standin::start().await;
    // Stripe's clock is the test's: its PaymentIntents are made at the app's real time,
    // which demo mode's moves (below) leave behind.
    standin.account.lock().unwrap().now = Some(TEST_NOW);
    let app = TestApp::with_stripe(backend, &base, &[SECRET]).await;
    // Demo mode moved the app's time two days ahead before anything was decided: the
    // app's times are then ahead of Stripe's.
    app.state.clock.advance(2 * 24 * 3_600);
    let token = token(&app).await;
    let retry = || studio_billing::server::services::auto_top_up::retry_charging(&app.state);
    // Charged at Stripe, but its webhook never comes: a day on, Stripe's list of the
    // customer's PaymentIntents settles it as the event would have, once.
    let paid = customer(&app, "lost-event@example.com", 600, 5_000).await;
    link(&app, paid).await;
    assert_eq!(
        reserve_over_http(&app.router, &token, paid, 150, "l1").await,
        201
    );
    wait_for_charges(&standin, 1).await;
    assert_eq!(statuses(&app, paid).await, ["charging"]);
    assert_eq!(available(&app, paid).await, 450);
    // Declined at Stripe, its webhook lost too: a failed charge, counted.
    let declined = customer_with_card(
        &app,
        "lost-decline@example.com",
        600,
        5_000,
        "pm_card_chargeDeclined",
    )
    .await;
    link(&app, declined).await;
    assert_eq!(
        reserve_over_http(&app.router, &token, declined, 150, "d1").await,
        201
    );
    wait_for_charges(&standin, 2).await;
    // Never charged: Stripe could not be reached, and nobody tried again within the day.
    let never = customer(&app, "never-charged@example.com", 600, 5_000).await;
    link(&app, never).await;
    standin.account.lock().unwrap().failing = true;
    assert_eq!(
        reserve_over_http(&app.router, &token, never, 150, "n1").await,
        201
    );
    wait_for_charges(&standin, 3).await;
    standin.account.lock().unwrap().failing = false;
    for account in [paid, declined, never] {
        assert_eq!(statuses(&app, account).await, ["charging"]);
    }

    // A day on by demo mode's clock (Stripe's real time has not moved).
    app.state.clock.advance(24 * 3_600 + 600);
    retry().await.unwrap();
    assert_eq!(charges(&standin), 3, "a day on, no charge is tried again");
    assert_eq!(statuses(&app, paid).await, ["succeeded"]);
    assert_eq!(available(&app, paid).await, 950);
    assert_eq!(statuses(&app, declined).await, ["failed"]);
    let record = store::get(app.state.db.reader(), declined)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.failures, 1, "a declined charge counts");
    // No PaymentIntent names it: no charge was made. It ends, not counted as a failure,
    // and the next crossing can start another.
    assert_eq!(statuses(&app, never).await, ["failed"]);
    let record = store::get(app.state.db.reader(), never)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.failures, 0);
    assert_eq!(available(&app, never).await, 450);
    // The late event, if it ever comes, changes nothing; nor does asking again.
    let attempt = store::attempts(&app.state.db, paid, 1).await.unwrap()[0].id;
    let pi_id = standin
        .account
        .lock()
        .unwrap()
        .payment_intents
        .values()
        .find(|p| p["metadata"]["auto_top_up_id"] == attempt.to_string().as_str())
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .unwrap();
    let fx = Fixtures::load(Version::Current);
    let pi = Pi {
        id: &pi_id,
        amount: 500,
        account: paid,
        auto_top_up: attempt,
        failure: None,
    };
    assert_eq!(
        deliver(&app, &fx, "evt_late", "payment_intent.succeeded", &pi).await,
        "settled_before"
    );
    retry().await.unwrap();
    assert_eq!(available(&app, paid).await, 950);
    app.cleanup().await;
}

async fn p16_a_retry_after_the_card_changed_settles_a_charge_stripe_made(backend: Backend) {
    let (base, standin) = common::stripe_standin::start().await;
    standin.account.lock().unwrap().now = Some(TEST_NOW);
    let app = TestApp::with_stripe(backend, &base, &[SECRET]).await;
    let token = token(&app).await;
    // Charged at Stripe, its webhook late.
    let account = customer(&app, "changed-card@example.com", 600, 5_000).await;
    link(&app, account).await;
    assert_eq!(
        reserve_over_http(&app.router, &token, account, 150, "k1").await,
        201
    );
    wait_for_charges(&standin, 1).await;
    assert_eq!(statuses(&app, account).await, ["charging"]);
    // The customer saves another card meanwhile: the retry charges nothing new, and
    // finds at Stripe that the first try was paid.
    let settings = store::get(app.state.db.reader(), account)
        .await
        .unwrap()
        .unwrap()
        .settings;
    store::save_card(
        app.state.db.writer(),
        account,
        "pm_card_mastercard",
        "Mastercard ending 4444",
        &settings,
        TEST_NOW + 60,
        TEST_NOW + 60,
    )
    .await
    .unwrap();
    app.state.clock.advance(180);
    studio_billing::server::services::auto_top_up::retry_charging(&app.state)
        .await
        .unwrap();
    assert_eq!(charges(&standin), 1, "no second charge");
    assert_eq!(statuses(&app, account).await, ["succeeded"]);
    assert_eq!(available(&app, account).await, 950);
    app.cleanup().await;
}

on_both_backends!(
    p16_the_failures_that_stop_them_are_configured,
    p16_one_with_no_outcome_for_a_day_is_settled_from_stripes_own_list,
    p16_a_retry_after_the_card_changed_settles_a_charge_stripe_made,
    p16_a_reserve_refused_below_the_threshold_starts_one_too,
    p16_a_card_stripe_refuses_outright_fails_at_once_and_a_retry_after_turning_off_charges_nothing,
    p16_turned_on_from_the_page_after_saving_the_card_at_a_top_up,
    p16_a_card_saved_at_a_stripe_checkout_is_kept_from_stripes_event_and_charged,
    p16_twenty_reserves_over_http_buy_one_pack_with_the_local_test_card,
    p16_a_declined_local_test_card_buys_nothing_and_says_so,
    p16_stripe_charges_the_saved_card_off_session_once_and_the_webhook_grants,
    p16_a_paid_charge_grants_its_pack_once_on_stripes_events,
    p16_two_failures_stop_it_and_the_customer_is_told_each_time,
    p16_twenty_reserves_crossing_at_once_start_one,
    p16_one_per_crossing_and_a_failure_waits_for_the_next,
    p16_the_cap_is_never_passed_and_a_new_month_starts_afresh,
    p16_none_when_off_without_a_card_or_never_set,
);
