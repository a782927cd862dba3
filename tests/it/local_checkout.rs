//! The local test checkout (no Stripe keys): paying through the same webhook code,
//! cancelling, the pages that show the checkout and its progress, on SQLite and PostgreSQL.

use crate::common;

use axum::http::{Method, StatusCode};
use common::{Backend, ORIGIN, TestApp, account_of, call, form, sign_up};
use studio_billing::domain::payments::PaymentStatus;
use studio_billing::server::db::ledger;

use common::payments::*;

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

on_both_backends!(
    the_local_checkout_pays_through_the_webhook_and_cancels_cleanly,
    the_local_checkout_is_closed_when_stripe_is_configured,
    the_pages_show_the_checkout_its_progress_and_the_payments,
);
