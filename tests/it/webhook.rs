//! The Stripe webhook: signatures, duplicates, order, concurrency, unknown events, and
//! subscription events in any order, through the real router on SQLite and PostgreSQL.

use crate::common;

use axum::http::{Method, StatusCode};
use common::{Backend, TEST_NOW, TestApp, account_of, call, sign_up};
use std::sync::Arc;
use studio_billing::domain::payments::PaymentStatus;
use studio_billing::domain::subscription::Status;
use studio_billing::server::db::ledger;
use studio_billing::server::payments::signature;

use common::payments::*;

// ---------------------------------------------------------------------------------------
// The webhook

async fn a_paid_checkout_grants_its_credits_once(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.payments = stripe_config("http://127.0.0.1:9/")
    })
    .await;
    let account = stripe_customer_with_checkout(&app, "cs_test_a").await;
    // Support moved the demo clock a day ahead: Stripe's signatures are still judged by
    // real time, so its deliveries keep working.
    app.state.clock.advance(86_400);
    let body = checkout_event(
        "evt_1",
        "checkout.session.completed",
        "cs_test_a",
        "paid",
        account,
    );

    let res = deliver_signed(&app, &body).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["outcome"], "granted");
    assert_eq!(balance(&app, account).await, (2000, 2000));
    assert_eq!(status_of(&app, "cs_test_a").await, PaymentStatus::Paid);
    let grants = ledger::journal(&app.state.db, account, None, 10)
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].kind, "grant");
    assert!(
        grants[0]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("cs_test_a")
    );

    // The same event again (Stripe redelivers): acknowledged, nothing more.
    let again = deliver_signed(&app, &body).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["outcome"], "duplicate");
    // A different event about the same paid session: nothing more either.
    let other = checkout_event(
        "evt_2",
        "checkout.session.async_payment_succeeded",
        "cs_test_a",
        "paid",
        account,
    );
    assert_eq!(
        deliver_signed(&app, &other).await.json()["outcome"],
        "status"
    );
    assert_eq!(balance(&app, account).await, (2000, 2000));
    assert_eq!(grant_count(&app, account).await, 1);
    // A late `expired` for the paid session: paid never changes again.
    let expired = checkout_event(
        "evt_3",
        "checkout.session.expired",
        "cs_test_a",
        "unpaid",
        account,
    );
    assert_eq!(deliver_signed(&app, &expired).await.status, StatusCode::OK);
    assert_eq!(status_of(&app, "cs_test_a").await, PaymentStatus::Paid);
    assert_eq!(balance(&app, account).await, (2000, 2000));
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

async fn bad_signatures_get_a_400_and_change_nothing(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.payments = stripe_config("http://127.0.0.1:9/")
    })
    .await;
    let account = stripe_customer_with_checkout(&app, "cs_test_b").await;
    let body = checkout_event(
        "evt_b",
        "checkout.session.completed",
        "cs_test_b",
        "paid",
        account,
    );
    let tampered = body.replace("cs_test_b", "cs_test_c");
    let cases = [
        (
            "wrong secret",
            body.clone(),
            signature::header("whsec_wrong", TEST_NOW, body.as_bytes()),
        ),
        (
            "stale timestamp",
            body.clone(),
            signature::header(SECRET, TEST_NOW - 301, body.as_bytes()),
        ),
        (
            "from the future",
            body.clone(),
            signature::header(SECRET, TEST_NOW + 301, body.as_bytes()),
        ),
        (
            "tampered body",
            tampered,
            signature::header(SECRET, TEST_NOW, body.as_bytes()),
        ),
        ("no v1", body.clone(), format!("t={TEST_NOW}")),
        ("garbage", body.clone(), "nonsense".to_owned()),
    ];
    for (what, b, header) in cases {
        let res = deliver(&app, &b, &header).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{what}: {}", res.body);
        assert!(
            res.json()["error"].as_str().unwrap().contains("signature"),
            "{what}"
        );
    }
    let res = app
        .call(Method::POST, "/webhooks/stripe", &[], Some(body.clone()))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "no header");
    assert_eq!(balance(&app, account).await, (0, 0));
    assert_eq!(event_count(&app).await, 0);
    assert_eq!(status_of(&app, "cs_test_b").await, PaymentStatus::Open);

    // A signed body that is not an event: 400, nothing recorded.
    let junk = "{\"hello\":1}";
    let res = deliver_signed(&app, junk).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(event_count(&app).await, 0);

    // During a rotation the previous secret still works, and several v1 values are fine.
    let header = format!(
        "t={TEST_NOW},v1={},v1={}",
        signature::sign("whsec_somebody_else", TEST_NOW, body.as_bytes()),
        signature::sign(PREVIOUS, TEST_NOW, body.as_bytes())
    );
    let res = deliver(&app, &body, &header).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(balance(&app, account).await, (2000, 2000));
    app.cleanup().await;
}

async fn delayed_payments_grant_on_success_whatever_the_order(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.payments = stripe_config("http://127.0.0.1:9/")
    })
    .await;
    let account = stripe_customer_with_checkout(&app, "cs_test_d").await;

    // In order: completed but unpaid, then the async success.
    let unpaid = checkout_event(
        "evt_d1",
        "checkout.session.completed",
        "cs_test_d",
        "unpaid",
        account,
    );
    assert_eq!(
        deliver_signed(&app, &unpaid).await.json()["outcome"],
        "status"
    );
    assert_eq!(
        status_of(&app, "cs_test_d").await,
        PaymentStatus::Processing
    );
    assert_eq!(balance(&app, account).await, (0, 0));
    let ok = checkout_event(
        "evt_d2",
        "checkout.session.async_payment_succeeded",
        "cs_test_d",
        "paid",
        account,
    );
    assert_eq!(deliver_signed(&app, &ok).await.json()["outcome"], "granted");
    assert_eq!(balance(&app, account).await, (2000, 2000));

    // Out of order, on a second checkout: the success arrives before the completion.
    record_stripe_checkout(&app, account, "cs_test_e", "small").await;
    let ok = checkout_event(
        "evt_e2",
        "checkout.session.async_payment_succeeded",
        "cs_test_e",
        "paid",
        account,
    );
    let late = checkout_event(
        "evt_e1",
        "checkout.session.completed",
        "cs_test_e",
        "unpaid",
        account,
    );
    assert_eq!(deliver_signed(&app, &ok).await.json()["outcome"], "granted");
    assert_eq!(
        deliver_signed(&app, &late).await.json()["outcome"],
        "status"
    );
    assert_eq!(status_of(&app, "cs_test_e").await, PaymentStatus::Paid);
    assert_eq!(balance(&app, account).await, (2500, 2500));

    // A failed delayed payment grants nothing.
    record_stripe_checkout(&app, account, "cs_test_f", "small").await;
    for (id, kind, status) in [
        ("evt_f1", "checkout.session.completed", "unpaid"),
        ("evt_f2", "checkout.session.async_payment_failed", "unpaid"),
    ] {
        let e = checkout_event(id, kind, "cs_test_f", status, account);
        assert_eq!(deliver_signed(&app, &e).await.status, StatusCode::OK);
    }
    assert_eq!(status_of(&app, "cs_test_f").await, PaymentStatus::Failed);
    assert_eq!(balance(&app, account).await, (2500, 2500));
    assert_eq!(grant_count(&app, account).await, 2);
    app.cleanup().await;
}

async fn unknown_events_and_sessions_are_acknowledged_and_change_nothing(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.payments = stripe_config("http://127.0.0.1:9/")
    })
    .await;
    let account = stripe_customer_with_checkout(&app, "cs_test_u").await;
    let other_type = serde_json::json!({
        "id": "evt_u1", "object": "event", "type": "customer.created",
        "data": { "object": { "id": "cus_1", "object": "customer" } },
    })
    .to_string();
    let res = deliver_signed(&app, &other_type).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["outcome"], "ignored");
    // A session this app never started, and one whose metadata names another account.
    let stranger = checkout_event(
        "evt_u2",
        "checkout.session.completed",
        "cs_test_nobody",
        "paid",
        account,
    );
    assert_eq!(
        deliver_signed(&app, &stranger).await.json()["outcome"],
        "unknown_checkout"
    );
    let wrong_account = checkout_event(
        "evt_u3",
        "checkout.session.completed",
        "cs_test_u",
        "paid",
        account + 1,
    );
    assert_eq!(
        deliver_signed(&app, &wrong_account).await.json()["outcome"],
        "unknown_checkout"
    );
    assert_eq!(balance(&app, account).await, (0, 0));
    assert_eq!(status_of(&app, "cs_test_u").await, PaymentStatus::Open);
    assert_eq!(event_count(&app).await, 3);
    app.cleanup().await;
}

async fn concurrent_deliveries_grant_exactly_once(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.payments = stripe_config("http://127.0.0.1:9/")
    })
    .await;
    let account = stripe_customer_with_checkout(&app, "cs_test_c").await;
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            // Half are redeliveries of one event, half are other events saying "paid".
            let (id, kind) = if i % 2 == 0 {
                ("evt_same".to_owned(), "checkout.session.completed")
            } else {
                (
                    format!("evt_other_{i}"),
                    "checkout.session.async_payment_succeeded",
                )
            };
            let body = checkout_event(&id, kind, "cs_test_c", "paid", account);
            deliver_signed(&app, &body).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(balance(&app, account).await, (2000, 2000));
    assert_eq!(grant_count(&app, account).await, 1);
    assert_eq!(event_count(&app).await, 9);
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    Arc::into_inner(app).unwrap().cleanup().await;
}

async fn without_stripe_the_webhook_route_is_closed(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cookie = sign_up(&app, "buyer@example.com").await;
    let account = account_of(&app, "buyer@example.com").await;
    let res = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[
            ("pack", "small"),
            ("request_key", "llllllllllllllllllllllllllllllll-small"),
        ],
    )
    .await;
    let session = location(&res)
        .trim_start_matches("/checkout/local/")
        .to_owned();
    // Even an event signed with the local checkout's own secret is refused from outside.
    let body = checkout_event(
        "evt_forged",
        "checkout.session.completed",
        &session,
        "paid",
        account,
    );
    let secret = studio_billing::server::payments::local_webhook_secret(&app.state.config);
    let res = deliver(
        &app,
        &body,
        &signature::header(&secret, TEST_NOW, body.as_bytes()),
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(event_count(&app).await, 0);
    assert_eq!(status_of(&app, &session).await, PaymentStatus::Open);
    assert_eq!(balance(&app, account).await, (0, 0));
    app.cleanup().await;
}

async fn subscription_webhooks_follow_stripe_whatever_the_order(backend: Backend) {
    let app = stripe_app(backend, "http://127.0.0.1:9/").await;
    let (_, account) = stripe_member(&app).await;
    let (p1, p2, p3) = (TEST_NOW, TEST_NOW + 30 * 86_400, TEST_NOW + 61 * 86_400);
    // Each invoice lists a proration line first (as after a plan change): the period and
    // plan come from the subscription's own line.
    let invoice = |id: &str, start: i64, end: i64, price: &str| {
        serde_json::json!({
            "id": id, "object": "invoice", "customer": "cus_1", "subscription": "sub_1",
            "amount_paid": 2900, "amount_due": 2900, "currency": "usd",
            "lines": { "data": [
                { "proration": true, "price": { "id": "price_starter" }, "period": { "start": start + 3600, "end": start + 7200 } },
                { "proration": false, "type": "subscription", "price": { "id": price }, "period": { "start": start, "end": end } },
            ] },
        })
    };
    let subscription = |start: i64, end: i64, cancel: bool| {
        serde_json::json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
            "current_period_start": start, "current_period_end": end, "cancel_at_period_end": cancel,
            "items": { "data": [{ "id": "si_1", "price": { "id": "price_creator" } }] },
        })
    };
    let send = |body: String| {
        let app = &app;
        async move {
            deliver_signed(app, &body).await.json()["outcome"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let subscription_balance = || async {
        ledger::balance(&app.state.db, account, TEST_NOW)
            .await
            .unwrap()
            .subscription
            .get()
    };

    // The subscription's event before its first invoice changes nothing yet.
    assert_eq!(
        send(stripe_event(
            "evt_s0",
            "customer.subscription.created",
            subscription(p1, p2, false)
        ))
        .await,
        "subscription"
    );
    assert_eq!(subscription_balance().await, 0);
    // The paid invoice grants the period, once, whichever of Stripe's two events says so.
    assert_eq!(
        send(stripe_event(
            "evt_i1",
            "invoice.paid",
            invoice("in_1", p1, p2, "price_creator")
        ))
        .await,
        "granted"
    );
    send(stripe_event(
        "evt_i1b",
        "invoice.payment_succeeded",
        invoice("in_1", p1, p2, "price_creator"),
    ))
    .await;
    assert_eq!(subscription_balance().await, 5000);
    let sub = || async {
        studio_billing::server::db::subscriptions::get(&app.state.db, account)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!((sub().await.period_start, sub().await.period_end), (p1, p2));
    // Cancel at period end; an update made earlier but delivered late changes nothing,
    // nor does one for an older period.
    send(stripe_event_at(
        "evt_s1",
        "customer.subscription.updated",
        subscription(p1, p2, true),
        TEST_NOW + 20,
    ))
    .await;
    assert!(sub().await.cancel_at_period_end);
    send(stripe_event_at(
        "evt_s1b",
        "customer.subscription.updated",
        subscription(p1, p2, false),
        TEST_NOW + 10,
    ))
    .await;
    assert!(sub().await.cancel_at_period_end);
    send(stripe_event_at(
        "evt_s2",
        "customer.subscription.updated",
        subscription(p1 - 30 * 86_400, p1, false),
        TEST_NOW + 30,
    ))
    .await;
    assert!(sub().await.cancel_at_period_end);
    // The invoice's second event, late, neither undoes the cancel nor grants again.
    send(stripe_event(
        "evt_i1c",
        "invoice.paid",
        invoice("in_1", p1, p2, "price_creator"),
    ))
    .await;
    assert!(sub().await.cancel_at_period_end);
    assert_eq!(subscription_balance().await, 5000);
    // Resumed.
    send(stripe_event_at(
        "evt_s3",
        "customer.subscription.updated",
        subscription(p1, p2, false),
        TEST_NOW + 40,
    ))
    .await;
    assert!(!sub().await.cancel_at_period_end);
    // The next renewal fails: past due, a failed payment, no credits.
    let mut failed = invoice("in_2", p2, p3, "price_creator");
    failed["amount_paid"] = 0.into();
    send(stripe_event("evt_i2", "invoice.payment_failed", failed)).await;
    assert_eq!(sub().await.status, Status::PastDue);
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM payments WHERE account_id = $1 ORDER BY id")
            .bind(account)
            .fetch_all(app.state.db.reader())
            .await
            .unwrap();
    assert_eq!(statuses, ["paid", "failed"]);
    // Paid after all: the new period's credits, and the payment turns paid.
    send(stripe_event(
        "evt_i3",
        "invoice.paid",
        invoice("in_2", p2, p3, "price_creator"),
    ))
    .await;
    assert_eq!(sub().await.status, Status::Active);
    assert_eq!(sub().await.period_start, p2);
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM payments WHERE account_id = $1 ORDER BY id")
            .bind(account)
            .fetch_all(app.state.db.reader())
            .await
            .unwrap();
    assert_eq!(statuses, ["paid", "paid"]);
    // A failed attempt of that invoice, delivered after it was paid, changes nothing.
    let mut late_failure = invoice("in_2", p2, p3, "price_creator");
    late_failure["amount_paid"] = 0.into();
    send(stripe_event(
        "evt_i2b",
        "invoice.payment_failed",
        late_failure,
    ))
    .await;
    assert_eq!(sub().await.status, Status::Active);
    // A customer the app does not know, and a price no plan sells: acknowledged, no change.
    let mut stranger = invoice("in_9", p2, p3, "price_creator");
    stranger["customer"] = "cus_other".into();
    assert_eq!(
        send(stripe_event("evt_x1", "invoice.paid", stranger)).await,
        "unknown_customer"
    );
    assert_eq!(
        send(stripe_event(
            "evt_x2",
            "invoice.paid",
            invoice("in_8", p3, p3 + 86_400, "price_gold")
        ))
        .await,
        "ignored"
    );
    let grants: i64 = common::count(
        &app,
        "SELECT COUNT(*) FROM subscription_grants WHERE account_id = $1",
        account,
    )
    .await;
    assert_eq!(grants, 2);
    // Deleted by Stripe: the grace period starts at the end.
    let mut gone = subscription(p2, p3, false);
    gone["status"] = "canceled".into();
    gone["ended_at"] = p3.into();
    send(stripe_event(
        "evt_s9",
        "customer.subscription.deleted",
        gone,
    ))
    .await;
    let s = sub().await;
    assert_eq!(s.status, Status::Ended);
    assert_eq!(s.grace_until, Some(p3 + 60 * 86_400));
    // A late event for the last invoice does not bring the ended plan back.
    send(stripe_event(
        "evt_i3b",
        "invoice.payment_succeeded",
        invoice("in_2", p2, p3, "price_creator"),
    ))
    .await;
    assert_eq!(sub().await.status, Status::Ended);
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

on_both_backends!(
    a_paid_checkout_grants_its_credits_once,
    bad_signatures_get_a_400_and_change_nothing,
    delayed_payments_grant_on_success_whatever_the_order,
    unknown_events_and_sessions_are_acknowledged_and_change_nothing,
    concurrent_deliveries_grant_exactly_once,
    without_stripe_the_webhook_route_is_closed,
    subscription_webhooks_follow_stripe_whatever_the_order,
);
