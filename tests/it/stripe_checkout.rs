//! Buying through Stripe Checkout: top-up and plan Checkout Sessions created through
//! async-stripe against the stand-in of Stripe's API (fields, idempotency keys, failures),
//! one open plan checkout at a time, and plan changes made on Stripe's subscription,
//! through the real router on SQLite and PostgreSQL.

use crate::common;

use axum::http::{Method, StatusCode};
use common::stripe_standin::{self, StandIn};
use common::{Backend, TEST_NOW, TestApp, account_of, call, sign_up};
use studio_billing::domain::payments::PaymentStatus;
use studio_billing::server::db::ledger;

use common::payments::*;

// ---------------------------------------------------------------------------------------
// Stripe Checkout

async fn buying_a_top_up_creates_a_checkout_session_with_the_right_fields(backend: Backend) {
    let (base, standin) = stripe_standin::start().await;
    let app = TestApp::with_config(backend, |c| c.payments = stripe_config(&base)).await;
    let cookie = sign_up(&app, "buyer@example.com").await;
    let account = account_of(&app, "buyer@example.com").await;
    let key = "0123456789abcdef0123456789abcdef-medium";

    let res = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[("pack", "medium"), ("request_key", key)],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        location(&res),
        "https://checkout.stripe.com/c/pay/cs_test_standin1"
    );

    let seen = standin.writes();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.path, "/v1/checkout/sessions");
    assert_eq!(
        r.headers.get("authorization").unwrap(),
        "Bearer sk_test_studio_billing"
    );
    assert_eq!(
        r.headers.get("idempotency-key").unwrap().to_str().unwrap(),
        format!(
            "sb-{}-topup-{account}-{key}",
            app.state.db.install_id().await.unwrap()
        ),
        "the form's key, namespaced by this installation"
    );
    let f = &r.params;
    let field = |k: &str| {
        f.get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {k} in {f:?}"))
    };
    assert_eq!(field("mode"), "payment");
    assert_eq!(field("client_reference_id"), account.to_string());
    assert_eq!(field("customer_email"), "buyer@example.com");
    assert_eq!(field("metadata[account_id]"), account.to_string());
    assert_eq!(field("metadata[pack_id]"), "medium");
    assert_eq!(field("metadata[credits]"), "2000");
    assert_eq!(field("line_items[0][quantity]"), "1");
    assert_eq!(field("line_items[0][price_data][currency]"), "usd");
    assert_eq!(field("line_items[0][price_data][unit_amount]"), "1800");
    assert_eq!(
        field("line_items[0][price_data][product_data][name]"),
        "2,000 credits top-up"
    );
    assert_eq!(
        field("success_url"),
        "http://127.0.0.1:3000/top-up/complete?session_id={CHECKOUT_SESSION_ID}"
    );
    assert_eq!(
        field("cancel_url"),
        "http://127.0.0.1:3000/top-up/cancelled"
    );

    // Recorded as open, nothing granted yet: only the webhook grants.
    assert_eq!(
        status_of(&app, "cs_test_standin1").await,
        PaymentStatus::Open
    );
    assert_eq!(balance(&app, account).await, (0, 0));

    // The same form sent again goes to the same session without asking Stripe again.
    let again = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[("pack", "medium"), ("request_key", key)],
    )
    .await;
    assert_eq!(
        location(&again),
        "https://checkout.stripe.com/c/pay/cs_test_standin1"
    );
    assert_eq!(standin.writes().len(), 1);

    // Without JavaScript the form post is a real redirect to Stripe.
    let plain = form_post(
        &app,
        "top-up/buy",
        &cookie,
        &[
            ("pack", "small"),
            ("request_key", "fedcba9876543210fedcba9876543210-small"),
        ],
    )
    .await;
    assert_eq!(plain.status, StatusCode::FOUND);
    assert_eq!(
        location(&plain),
        "https://checkout.stripe.com/c/pay/cs_test_standin2"
    );
    // ...and the page's CSP lets the form lead there.
    let page = app.get("/faq").await;
    assert!(
        page.header("content-security-policy")
            .contains("form-action 'self' https://checkout.stripe.com")
    );

    // Bad input is refused before Stripe is asked.
    for (pack, key, want) in [
        ("gold", "0123456789abcdef0123456789abcdef-x", "not on sale"),
        ("small", "short", "Reload the page"),
    ] {
        let res = call(
            &app,
            "top-up/buy",
            Some(&cookie),
            &[("pack", pack), ("request_key", key)],
        )
        .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert!(res.body.contains(want), "{}", res.body);
    }
    assert_eq!(standin.writes().len(), 2);
    app.cleanup().await;
}

async fn stripe_failing_gives_a_clear_error_and_records_nothing(backend: Backend) {
    let (base, standin) = stripe_standin::start().await;
    standin.account.lock().unwrap().failing = true;
    let app = TestApp::with_config(backend, |c| c.payments = stripe_config(&base)).await;
    let cookie = sign_up(&app, "buyer@example.com").await;
    let res = call(
        &app,
        "top-up/buy",
        Some(&cookie),
        &[
            ("pack", "small"),
            ("request_key", "0123456789abcdef0123456789abcdef"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.body);
    let error: studio_billing::error::AppError = serde_json::from_str(&res.body).unwrap();
    assert!(error.to_string().contains("Nothing was charged"), "{error}");
    assert!(
        !res.body.contains(stripe_standin::API_ERROR_MESSAGE),
        "Stripe's text must not reach the customer"
    );
    assert_eq!(standin.writes().len(), 1);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments")
        .fetch_one(app.state.db.reader())
        .await
        .unwrap();
    assert_eq!(rows, 0);
    app.cleanup().await;
}

/// Money bug: subscribing again within the hour sent the customer to the earlier, completed
/// Checkout Session (the key was `plan-<account>-<plan>-<hour>`, and Stripe replays a key's
/// first answer for 24 hours). The same form twice is one session; once a subscription
/// came of it (and ended), a new checkout gets a new key.
async fn resubscribing_soon_after_gets_a_new_checkout(backend: Backend) {
    let (base, standin) = stripe_standin::start().await;
    let app = stripe_app(backend, &base).await;
    let cookie = sign_up(&app, "again@example.com").await;
    let subscribe = || {
        call(
            &app,
            "plans/change",
            Some(&cookie),
            &[("action", "subscribe"), ("plan", "starter")],
        )
    };
    let session_keys = || {
        standin
            .writes()
            .iter()
            .filter(|r| r.path == "/v1/checkout/sessions")
            .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let first = subscribe().await;
    assert_eq!(first.status, StatusCode::OK);
    let again = subscribe().await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        location(&again),
        location(&first),
        "the same form twice: one session"
    );
    let keys = session_keys();
    assert_eq!(keys.len(), 1, "the open session is reused, not made again");
    // The checkout was paid, the subscription made and then ended in Stripe's portal.
    let fx = common::stripe_fixtures::Fixtures::load(common::stripe_fixtures::Version::V2023);
    let mut ended = fx.subscription(&common::stripe_fixtures::Sub {
        status: "canceled",
        ended_at: Some(TEST_NOW + 60),
        ..common::stripe_fixtures::Sub::active(
            "sub_old",
            "cus_standin1",
            "price_starter",
            TEST_NOW,
            TEST_NOW + 30 * 86_400,
        )
    });
    ended["customer"] = "cus_standin1".into();
    {
        let mut a = standin.account.lock().unwrap();
        a.subscriptions.insert("sub_old".into(), ended);
        a.sessions[0]["status"] = "complete".into();
    }
    assert_eq!(subscribe().await.status, StatusCode::OK);
    let keys = session_keys();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[1], keys[0], "a new checkout, not the completed one");
    app.cleanup().await;
}

/// Issue 13: with two Checkout tabs for two plans, both could be paid (two subscriptions,
/// two payments). Choosing another plan expires the open session first, so only one can
/// be paid; coming back to the first plan makes a new session (its old one is expired,
/// and Stripe would replay it for the old key).
async fn choosing_another_plan_expires_the_open_checkout(backend: Backend) {
    let (base, standin) = stripe_standin::start().await;
    let app = stripe_app(backend, &base).await;
    let cookie = sign_up(&app, "tabs@example.com").await;
    let subscribe = async |plan: &'static str| {
        call(
            &app,
            "plans/change",
            Some(&cookie),
            &[("action", "subscribe"), ("plan", plan)],
        )
        .await
    };
    let paths = || {
        standin
            .writes()
            .iter()
            .filter(|r| r.path.starts_with("/v1/checkout/sessions"))
            .map(|r| {
                (
                    r.path.clone(),
                    r.headers["idempotency-key"].to_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    let starter = subscribe("starter").await;
    assert_eq!(starter.status, StatusCode::OK, "{}", starter.body);
    let creator = subscribe("creator").await;
    assert_eq!(creator.status, StatusCode::OK, "{}", creator.body);
    assert_ne!(location(&creator), location(&starter));
    let seen = paths();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[1].0, "/v1/checkout/sessions/cs_test_standin2/expire");
    let sessions = standin.account.lock().unwrap().sessions.clone();
    let open: Vec<_> = sessions.iter().filter(|s| s["status"] == "open").collect();
    assert_eq!(open.len(), 1, "only one session can be paid");
    assert_eq!(open[0]["metadata"]["plan_id"], "creator");
    // Back to Starter: Creator's session is expired and a new Starter one is made, with
    // a key of its own (not the first Starter session's, which Stripe would replay).
    let back = subscribe("starter").await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_ne!(location(&back), location(&starter));
    let seen = paths();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen[3].0.ends_with("/expire"));
    assert_ne!(seen[4].1, seen[0].1);
    let open = standin
        .account
        .lock()
        .unwrap()
        .sessions
        .iter()
        .filter(|s| s["status"] == "open")
        .count();
    assert_eq!(open, 1);
    app.cleanup().await;
}

async fn subscribing_with_stripe_goes_through_checkout_in_subscription_mode(backend: Backend) {
    let (base, standin) = stripe_standin::start().await;
    let app = stripe_app(backend, &base).await;
    let cookie = sign_up(&app, "buyer@example.com").await;
    let account = account_of(&app, "buyer@example.com").await;
    let res = call(
        &app,
        "plans/change",
        Some(&cookie),
        &[("action", "subscribe"), ("plan", "creator")],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(location(&res).starts_with("https://checkout.stripe.com/c/pay/"));
    let seen = standin.writes();
    assert_eq!(seen.len(), 2, "the customer, then the session");
    assert_eq!(seen[0].path, "/v1/customers");
    assert_eq!(seen[0].params["email"], "buyer@example.com");
    assert_eq!(seen[0].params["metadata[account_id]"], account.to_string());
    let f = &seen[1].params;
    assert_eq!(f["mode"], "subscription");
    assert_eq!(f["customer"], "cus_standin1");
    assert_eq!(f["line_items[0][price]"], "price_creator");
    assert_eq!(
        f["subscription_data[metadata][account_id]"],
        account.to_string()
    );
    assert_eq!(f["metadata[plan_id]"], "creator");
    // A past-due customer fixes the payment in Stripe's portal, for their own customer.
    let res = call(&app, "plans/fix_payment", Some(&cookie), &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(location(&res).starts_with("https://"));
    let seen = standin.writes();
    assert_eq!(seen[2].path, "/v1/billing_portal/sessions");
    assert_eq!(seen[2].params["customer"], "cus_standin1");
    assert_eq!(
        seen[2].params["return_url"],
        "http://127.0.0.1:3000/subscription#plans"
    );
    let stranger = sign_up(&app, "stranger@example.com").await;
    let res = call(&app, "plans/fix_payment", Some(&stranger), &[]).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    // Every call to Stripe carries an idempotency key namespaced by this installation, so
    // two databases sharing one Stripe account never collide; the portal's too.
    let install = app.state.db.install_id().await.unwrap();
    for r in &seen {
        let key = r.headers["idempotency-key"].to_str().unwrap();
        assert!(
            key.starts_with(&format!("sb-{install}-")),
            "{}: {key}",
            r.path
        );
    }
    // Nothing is granted before Stripe's first paid invoice.
    assert_eq!(balance(&app, account).await, (0, 0));
    assert!(
        studio_billing::server::db::subscriptions::get(&app.state.db, account)
            .await
            .unwrap()
            .is_none()
    );
    app.cleanup().await;
}

/// The stand-in with `subscription` on Stripe.
async fn standin_with(subscription: serde_json::Value) -> (String, StandIn) {
    let (base, standin) = stripe_standin::start().await;
    let id = subscription["id"]
        .as_str()
        .expect("a subscription's id")
        .to_owned();
    standin
        .account
        .lock()
        .unwrap()
        .subscriptions
        .insert(id, subscription);
    (base, standin)
}

/// A declined card on an upgrade changes neither plan nor credits, and says why, with the
/// way to fix the card.
async fn a_declined_upgrade_changes_nothing_and_says_how_to_fix_the_card(backend: Backend) {
    let subscription = serde_json::json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
        "current_period_start": TEST_NOW, "current_period_end": TEST_NOW + 30 * 86_400,
        "cancel_at_period_end": false,
        "items": { "data": [{ "id": "si_1", "price": { "id": "price_creator" } }] },
    });
    let (base, standin) = standin_with(subscription.clone()).await;
    standin.account.lock().unwrap().declined_price = Some("price_studio".into());
    let app = stripe_app(backend, &base).await;
    let (cookie, account) = stripe_member(&app).await;
    let paid = serde_json::json!({
        "id": "in_1", "object": "invoice", "customer": "cus_1", "subscription": "sub_1",
        "amount_paid": 2900, "amount_due": 2900, "currency": "usd",
        "lines": { "data": [
            { "proration": false, "type": "subscription", "price": { "id": "price_creator" },
              "period": { "start": TEST_NOW, "end": TEST_NOW + 30 * 86_400 } },
        ] },
    });
    deliver_signed(&app, &stripe_event("evt_i", "invoice.paid", paid)).await;
    let res = call(
        &app,
        "plans/change",
        Some(&cookie),
        &[("action", "change"), ("plan", "studio")],
    )
    .await;
    assert_eq!(res.status, StatusCode::PAYMENT_REQUIRED, "{}", res.body);
    let e = res.json();
    assert_eq!(e["code"], "card_declined");
    assert_eq!(e["message"], "Your card has insufficient funds.");
    let s = studio_billing::server::db::subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.plan.as_str(), "creator");
    assert_eq!(balance(&app, account).await, (5000, 0));
    // Without JavaScript the plans section says why, with the button to fix the card.
    let res = form_post(
        &app,
        "plans/change",
        &cookie,
        &[("action", "change"), ("plan", "studio")],
    )
    .await;
    // The browser comes back with the error's cookie (it is not in the address).
    let error = res
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("studio_form_error="))
        .and_then(|v| v.split(';').next())
        .expect("the error rides in a cookie")
        .to_owned();
    assert!(!location(&res).contains("__err"));
    let page = app
        .call(
            Method::GET,
            &location(&res),
            &[
                ("cookie", &format!("sb_session={cookie}; {error}")),
                ("accept", "text/html"),
            ],
            None,
        )
        .await;
    assert!(
        page.body.contains("Your card has insufficient funds.")
            && page.body.contains("plan-card-declined")
            && page.body.contains("Update payment method"),
        "{}",
        page.body
    );
    app.cleanup().await;
}

async fn a_second_subscription_is_refused_while_one_is_live_on_stripe(backend: Backend) {
    let (base, standin) = standin_with(serde_json::json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
        "current_period_start": TEST_NOW, "current_period_end": TEST_NOW + 30 * 86_400,
        "cancel_at_period_end": false,
        "items": { "data": [{ "id": "si_1", "price": { "id": "price_creator" } }] },
    }))
    .await;
    let app = stripe_app(backend, &base).await;
    let (cookie, _) = stripe_member(&app).await;
    // Another tab, or a retry before the first invoice's event: a second checkout would
    // bill twice, so it is refused with a message and nothing is sent to Stripe.
    let res = call(
        &app,
        "plans/change",
        Some(&cookie),
        &[("action", "subscribe"), ("plan", "studio")],
    )
    .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(res.body.contains("Reload the page"), "{}", res.body);
    assert!(standin.writes().is_empty(), "{:?}", standin.writes());
    app.cleanup().await;
}

async fn an_upgrade_after_a_pending_downgrade_is_prorated_from_the_plan_paid_for(backend: Backend) {
    let (start, end) = (TEST_NOW, TEST_NOW + 30 * 86_400);
    let subscription = serde_json::json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
        "current_period_start": start, "current_period_end": end, "cancel_at_period_end": false,
        "items": { "data": [{ "id": "si_1", "price": { "id": "price_creator" } }] },
    });
    let (base, standin) = standin_with(subscription.clone()).await;
    let app = stripe_app(backend, &base).await;
    let (cookie, account) = stripe_member(&app).await;
    // Creator, paid for this period.
    deliver_signed(
        &app,
        &stripe_event("evt_s", "customer.subscription.created", subscription),
    )
    .await;
    let invoice = serde_json::json!({
        "id": "in_1", "object": "invoice", "customer": "cus_1", "subscription": "sub_1",
        "amount_paid": 2900, "amount_due": 2900, "currency": "usd",
        "lines": { "data": [
            { "proration": false, "type": "subscription", "price": { "id": "price_creator" }, "period": { "start": start, "end": end } },
        ] },
    });
    let res = deliver_signed(&app, &stripe_event("evt_i", "invoice.paid", invoice)).await;
    assert_eq!(res.json()["outcome"], "granted", "{}", res.body);
    let subscription_credits = || async {
        ledger::balance(&app.state.db, account, TEST_NOW)
            .await
            .unwrap()
            .subscription
            .get()
    };
    assert_eq!(subscription_credits().await, 5000);

    // A downgrade waits for the renewal: Stripe gets the lower price, not prorated.
    let change = |plan: &'static str| {
        let (app, cookie) = (&app, &cookie);
        async move {
            call(
                app,
                "plans/change",
                Some(cookie),
                &[("action", "change"), ("plan", plan)],
            )
            .await
        }
    };
    let res = change("starter").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    {
        let updates = standin.updates();
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].params["items[0][price]"], "price_starter");
        assert_eq!(updates[0].params["proration_behavior"], "none");
    }
    let s = studio_billing::server::db::subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (s.plan.as_str(), s.pending_plan.as_ref().map(|p| p.as_str())),
        ("creator", Some("starter"))
    );

    // An upgrade that Stripe refuses after the restore: the downgrade is undone on Stripe,
    // and the app says so too (it does not keep showing a downgrade Stripe no longer has).
    standin.account.lock().unwrap().refused_price = Some("price_studio".into());
    let res = change("studio").await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.body);
    assert_eq!(standin.updates().len(), 2, "the restore only");
    let s = studio_billing::server::db::subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.plan.as_str(), s.pending_plan), ("creator", None));
    assert_eq!(subscription_credits().await, 5000);
    standin.account.lock().unwrap().refused_price = None;
    let res = change("starter").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    // Then an upgrade in the same period: Creator is put back first (not prorated), so
    // Stripe prorates Studio from Creator, the plan paid for, not from Starter.
    let res = change("studio").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    {
        let updates = standin.updates();
        assert_eq!(updates.len(), 5, "restore, then upgrade");
        assert_eq!(updates[3].params["items[0][price]"], "price_creator");
        assert_eq!(updates[3].params["proration_behavior"], "none");
        assert_eq!(updates[4].params["items[0][price]"], "price_studio");
        // The upgrade is invoiced and paid at once, or not made at all.
        assert_eq!(updates[4].params["proration_behavior"], "always_invoice");
        assert_eq!(updates[4].params["payment_behavior"], "error_if_incomplete");
        let key = |i: usize| {
            updates[i].headers["idempotency-key"]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_ne!(key(3), key(4), "each call its own idempotency key");
    }
    let s = studio_billing::server::db::subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.plan.as_str(), s.pending_plan), ("studio", None));
    assert_eq!(
        subscription_credits().await,
        5000,
        "no extra credits before the upgrade's invoice is paid"
    );
    // Stripe's proration invoice, paid: the difference over Creator (the whole period is
    // left), once, whichever of Stripe's two events says so.
    let fx = common::stripe_fixtures::Fixtures::load(common::stripe_fixtures::Version::Current);
    let proration = |price, amount| common::stripe_fixtures::Line {
        price,
        amount,
        start: TEST_NOW,
        end,
        proration: true,
    };
    let upgrade_invoice = fx.invoice(&common::stripe_fixtures::Inv {
        id: "in_up",
        customer: "cus_1",
        subscription: "sub_1",
        paid: true,
        billing_reason: "subscription_update",
        lines: vec![
            proration("price_creator", -2900),
            proration("price_studio", 9900),
        ],
    });
    for (id, kind) in [
        ("evt_up", "invoice.paid"),
        ("evt_up2", "invoice.payment_succeeded"),
    ] {
        let res =
            deliver_signed(&app, &fx.event(id, kind, TEST_NOW, upgrade_invoice.clone())).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    }
    assert_eq!(
        subscription_credits().await,
        20_000,
        "Studio's credits, the difference over Creator granted once"
    );
    // The restore's own webhook, made in the same second as the upgrade and delivered
    // after it, is no newer than the answer already applied: Studio stays, with no
    // downgrade to Creator pending.
    let mut restored = standin.account.lock().unwrap().subscriptions["sub_1"].clone();
    restored["items"]["data"][0]["price"]["id"] = "price_creator".into();
    let res = deliver_signed(
        &app,
        &stripe_event_at(
            "evt_restore",
            "customer.subscription.updated",
            restored,
            app.state.clock.wall(),
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let s = studio_billing::server::db::subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.plan.as_str(), s.pending_plan), ("studio", None));
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

on_both_backends!(
    buying_a_top_up_creates_a_checkout_session_with_the_right_fields,
    stripe_failing_gives_a_clear_error_and_records_nothing,
    subscribing_with_stripe_goes_through_checkout_in_subscription_mode,
    an_upgrade_after_a_pending_downgrade_is_prorated_from_the_plan_paid_for,
    a_declined_upgrade_changes_nothing_and_says_how_to_fix_the_card,
    resubscribing_soon_after_gets_a_new_checkout,
    choosing_another_plan_expires_the_open_checkout,
    a_second_subscription_is_refused_while_one_is_live_on_stripe,
);
