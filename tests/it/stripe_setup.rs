//! `stripe setup`, `stripe check` and `stripe reconcile` against a local stand-in of Stripe's
//! API that answers with Stripe's published objects and records every call. On SQLite and
//! PostgreSQL.

use crate::common;

use axum::http::Method;
use common::stripe_fixtures::{Fixtures, Inv, Line, Version};
use common::stripe_standin;
use common::{Backend, TEST_NOW, TestApp, TestDb, account_of, sign_up};
use serde_json::json;
use studio_billing::domain::catalog::Catalog;
use studio_billing::domain::credits::Credits;
use studio_billing::domain::ledger::GrantKind;
use studio_billing::server::config::{Config, PaymentsConfig, Secret, StripeConfig};
use studio_billing::server::db::{ledger, payments, subscriptions};
use studio_billing::server::payments::events::{HANDLED_EVENTS, PINNED_API_VERSION};
use studio_billing::server::payments::signature;
use studio_billing::server::services::reconcile::{self, Difference};
use studio_billing::server::services::stripe_setup::{self as setup, Drift};

const PUBLIC: &str = "https://billing.example.com";
const WEBHOOK_SECRET: &str = "whsec_reconcile_test";

fn stripe(base: &str, secret: &str) -> StripeConfig {
    StripeConfig {
        secret_key: Secret::new("sk_test_setup"),
        webhook_secrets: vec![Secret::new(secret)],
        api_base: base.to_owned(),
    }
}

fn catalog(db_url: &str) -> Catalog {
    Config::demo(db_url).catalog
}

fn kinds(drift: &[Drift]) -> Vec<String> {
    drift
        .iter()
        .map(|d| {
            format!("{d:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn setup_makes_the_account_match_and_a_second_run_changes_nothing(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let (base, standin) = stripe_standin::start().await;
    let mut cat = catalog(&t.url);
    let config = stripe(&base, "whsec_not_yet");

    // An empty account: every product, price and the endpoint are missing.
    let before = setup::check(&config, &t.db, &cat, PUBLIC).await.unwrap();
    assert_eq!(
        kinds(&before.drift),
        [
            "MissingProduct",
            "MissingPrice",
            "MissingProduct",
            "MissingPrice",
            "MissingProduct",
            "MissingPrice",
            "MissingEndpoint"
        ]
    );
    assert!(standin.writes().is_empty(), "check changes nothing");

    let done = setup::setup(&config, &t.db, &cat, PUBLIC, false)
        .await
        .unwrap();
    assert_eq!(done.created.len(), 7, "{:?}", done.created);
    assert!(done.left.is_empty(), "{:?}", done.left);
    let secret = done
        .new_webhook_secret
        .clone()
        .expect("a new endpoint's secret, once");
    {
        let a = standin.account.lock().unwrap();
        let product_ids: Vec<&String> = {
            let mut ids: Vec<&String> = a.products.keys().collect();
            ids.sort();
            ids
        };
        assert_eq!(
            product_ids,
            [
                "studio_billing_creator",
                "studio_billing_starter",
                "studio_billing_studio"
            ]
        );
        let creator = a
            .prices
            .iter()
            .find(|p| p["lookup_key"] == "creator")
            .unwrap();
        assert_eq!(creator["unit_amount"], 2900);
        assert_eq!(creator["currency"], "usd");
        assert_eq!(creator["recurring"]["interval"], "month");
        assert_eq!(creator["product"], "studio_billing_creator");
        assert_eq!(a.endpoints.len(), 1);
        let e = &a.endpoints[0];
        assert_eq!(e["url"], format!("{PUBLIC}/webhooks/stripe"));
        assert_eq!(e["api_version"], PINNED_API_VERSION);
        let mut events: Vec<&str> = e["enabled_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        events.sort();
        let mut handled = HANDLED_EVENTS.to_vec();
        handled.sort();
        assert_eq!(events, handled, "exactly the events the app handles");
        assert!(
            e.get("secret").is_none(),
            "the secret is not kept in the listing"
        );
    }
    let writes = standin.writes().len();

    // Again: nothing to do, nothing written.
    let again = setup::setup(&config, &t.db, &cat, PUBLIC, false)
        .await
        .unwrap();
    assert!(
        again.created.is_empty() && again.updated.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.new_webhook_secret, None);
    assert_eq!(standin.writes().len(), writes);

    // With the endpoint's secret configured, check finds nothing; with another, it says so.
    let right = stripe(&base, &secret);
    let report = setup::check(&right, &t.db, &cat, PUBLIC).await.unwrap();
    assert!(report.drift.is_empty(), "{:?}", report.drift);
    let wrong = setup::check(&config, &t.db, &cat, PUBLIC).await.unwrap();
    assert_eq!(wrong.drift, vec![Drift::SecretMismatch]);

    // Plans find their price by lookup key; an explicit price id in the catalogue wins.
    cat.plans[0].stripe_price_id = None;
    cat.plans[1].stripe_price_id = None;
    let explicit = {
        let a = standin.account.lock().unwrap();
        a.prices
            .iter()
            .find(|p| p["lookup_key"] == "studio")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    cat.plans[2].stripe_price_id = Some(explicit.clone());
    let unsold = setup::resolve_prices(&right, &mut cat).await.unwrap();
    assert!(unsold.is_empty(), "{unsold:?}");
    // The lookup keys were asked for in Stripe's indexed form.
    let asked = standin
        .account
        .lock()
        .unwrap()
        .calls
        .iter()
        .rev()
        .find(|c| c.path == "/v1/prices")
        .unwrap()
        .params
        .clone();
    assert_eq!(asked["lookup_keys[0]"], "starter");
    assert_eq!(asked["lookup_keys[1]"], "creator");
    assert_eq!(asked["active"], "true");
    let by_key = |k: &str| {
        let a = standin.account.lock().unwrap();
        a.prices.iter().find(|p| p["lookup_key"] == k).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(cat.plans[0].stripe_price_id, Some(by_key("starter")));
    assert_eq!(cat.plans[1].stripe_price_id, Some(by_key("creator")));
    assert_eq!(cat.plans[2].stripe_price_id, Some(explicit));
    t.cleanup().await;
}

async fn a_changed_price_makes_a_new_price_and_endpoint_drift_is_reported_and_put_right(
    backend: Backend,
) {
    let t = TestDb::migrated(backend).await;
    let (base, standin) = stripe_standin::start().await;
    let mut cat = catalog(&t.url);
    let config = stripe(&base, "whsec_x");
    let first = setup::setup(&config, &t.db, &cat, PUBLIC, false)
        .await
        .unwrap();
    let config = stripe(&base, &first.new_webhook_secret.unwrap());
    let old_price = {
        let a = standin.account.lock().unwrap();
        a.prices
            .iter()
            .find(|p| p["lookup_key"] == "creator")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // Creator now costs $35: check reports it; setup makes a new price and moves the
    // lookup key to it. The old price is never edited.
    cat.plans[1].monthly_price_cents = 3500;
    let report = setup::check(&config, &t.db, &cat, PUBLIC).await.unwrap();
    assert!(
        matches!(&report.drift[..], [Drift::PriceChanged { plan, price, .. }] if plan == "creator" && *price == old_price),
        "{:?}",
        report.drift
    );
    let writes_before = standin.writes().len();
    let done = setup::setup(&config, &t.db, &cat, PUBLIC, false)
        .await
        .unwrap();
    assert_eq!(done.created.len(), 1, "{:?}", done.created);
    let writes: Vec<_> = standin.writes().into_iter().skip(writes_before).collect();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, "/v1/prices");
    assert_eq!(writes[0].params["transfer_lookup_key"], "true");
    assert_eq!(writes[0].params["unit_amount"], "3500");
    {
        let a = standin.account.lock().unwrap();
        let old = a
            .prices
            .iter()
            .find(|p| p["id"] == old_price.as_str())
            .unwrap();
        assert_eq!(old["unit_amount"], 2900, "never edited");
        assert_eq!(old["lookup_key"], serde_json::Value::Null);
    }
    assert!(
        setup::check(&config, &t.db, &cat, PUBLIC)
            .await
            .unwrap()
            .drift
            .is_empty()
    );

    // The endpoint was changed by hand: other events, another API version, disabled.
    {
        let mut a = standin.account.lock().unwrap();
        let e = &mut a.endpoints[0];
        e["enabled_events"] = json!(["charge.succeeded", "invoice.paid"]);
        e["api_version"] = json!("2026-06-24.dahlia");
        e["status"] = json!("disabled");
    }
    let report = setup::check(&config, &t.db, &cat, PUBLIC).await.unwrap();
    assert_eq!(
        kinds(&report.drift),
        ["EndpointVersion", "EndpointEvents", "EndpointDisabled"]
    );
    let Drift::EndpointEvents { missing, extra } = &report.drift[1] else {
        unreachable!()
    };
    assert_eq!(extra, &["charge.succeeded".to_owned()]);
    assert_eq!(missing.len(), HANDLED_EVENTS.len() - 1);
    // Setup puts the events and the status right, and says the version needs a new endpoint.
    let done = setup::setup(&config, &t.db, &cat, PUBLIC, false)
        .await
        .unwrap();
    assert_eq!(done.updated.len(), 1, "{done:?}");
    assert_eq!(done.left.len(), 1, "{done:?}");
    assert!(done.left[0].contains("--recreate-endpoint"));
    let report = setup::check(&config, &t.db, &cat, PUBLIC).await.unwrap();
    assert_eq!(kinds(&report.drift), ["EndpointVersion"]);
    // With --recreate-endpoint: replaced, pinned, with a new secret.
    let done = setup::setup(&config, &t.db, &cat, PUBLIC, true)
        .await
        .unwrap();
    let secret = done.new_webhook_secret.expect("a new secret");
    let config = stripe(&base, &secret);
    let report = setup::check(&config, &t.db, &cat, PUBLIC).await.unwrap();
    assert!(report.drift.is_empty(), "{:?}", report.drift);
    assert_eq!(standin.account.lock().unwrap().endpoints.len(), 1);

    // A subscription still on the old price is known by its product: its invoice grants
    // Creator's period, though the catalogue now names the new price.
    // A price in Stripe that is not the catalogue's is not sold at start-up.
    let mut unmatched = cat.clone();
    unmatched.plans[0].monthly_price_cents = 1;
    for p in &mut unmatched.plans {
        p.stripe_price_id = None;
    }
    let unsold = setup::resolve_prices(&config, &mut unmatched)
        .await
        .unwrap();
    assert_eq!(unsold, ["starter"]);
    assert_eq!(unmatched.plans[0].stripe_price_id, None);
    let unsold = setup::resolve_prices(&config, &mut cat).await.unwrap();
    assert!(unsold.is_empty(), "{unsold:?}");
    assert_ne!(
        cat.plans[1].stripe_price_id.as_deref(),
        Some(old_price.as_str())
    );
    t.cleanup().await;
    let resolved = cat.clone();
    let app = TestApp::with_config(backend, |c| {
        c.payments = PaymentsConfig::Stripe(stripe(&base, WEBHOOK_SECRET));
        c.catalog = resolved;
    })
    .await;
    sign_up(&app, "old@example.com").await;
    let account = account_of(&app, "old@example.com").await;
    subscriptions::link_customer(&app.state.db, account, "cus_old", TEST_NOW)
        .await
        .unwrap();
    let fx = Fixtures::load(Version::Current);
    let mut inv = fx.invoice(&Inv {
        id: "in_old",
        customer: "cus_old",
        subscription: "sub_old",
        paid: true,
        billing_reason: "subscription_cycle",
        lines: vec![Line {
            price: &old_price,
            amount: 2900,
            start: TEST_NOW,
            end: TEST_NOW + 30 * 86_400,
            proration: false,
        }],
    });
    inv["lines"]["data"][0]["pricing"]["price_details"]["product"] =
        json!("studio_billing_creator");
    let body = fx.event("evt_old", "invoice.paid", TEST_NOW, inv);
    assert_eq!(deliver(&app, &body).await, "granted");
    let s = subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.plan.as_str(), "creator");
    app.cleanup().await;
}

async fn deliver(app: &TestApp, body: &str) -> String {
    let header = signature::header(WEBHOOK_SECRET, TEST_NOW, body.as_bytes());
    let res = app
        .call(
            Method::POST,
            "/webhooks/stripe",
            &[("stripe-signature", header.as_str())],
            Some(body.to_owned()),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.json()["outcome"].as_str().unwrap().to_owned()
}

async fn topup_checkout(app: &TestApp, account: i64, session: &str) {
    payments::record_checkout(
        &app.state.db,
        payments::NewCheckout {
            account_id: account,
            kind: studio_billing::domain::payments::PaymentKind::Topup,
            provider: studio_billing::domain::payments::Provider::Stripe,
            external_id: session,
            product: "small",
            credits: Credits::new(500).unwrap(),
            amount_cents: 500,
            currency: "usd",
            checkout_url: "https://checkout.stripe.com/c/pay/x",
            request_key: &format!("key-{session}"),
            saves_card: false,
        },
        TEST_NOW,
    )
    .await
    .unwrap();
}

/// Seeded with one of each: a paid top-up granted once (fine), a paid top-up never
/// granted, a top-up granted twice, a grant with no payment behind it, a paid invoice
/// granted (fine), and a paid invoice whose event never arrived.
async fn reconcile_finds_a_missing_grant_a_double_grant_and_a_grant_without_payment(
    backend: Backend,
) {
    let (base, standin) = stripe_standin::start().await;
    let app = TestApp::with_config(backend, |c| {
        c.payments = PaymentsConfig::Stripe(stripe(&base, WEBHOOK_SECRET));
        for plan in &mut c.catalog.plans {
            plan.stripe_price_id = Some(format!("price_{}", plan.id.as_str()));
        }
    })
    .await;
    sign_up(&app, "r@example.com").await;
    let account = account_of(&app, "r@example.com").await;
    subscriptions::link_customer(&app.state.db, account, "cus_r", TEST_NOW)
        .await
        .unwrap();
    let fx = Fixtures::load(Version::V2023);
    for s in ["cs_ok", "cs_unpaid_here", "cs_twice"] {
        topup_checkout(&app, account, s).await;
        let paid = fx.checkout_session(s, "payment", account, true);
        standin.account.lock().unwrap().sessions.push(paid.clone());
        if s != "cs_unpaid_here" {
            let body = fx.event(
                &format!("evt_{s}"),
                "checkout.session.completed",
                TEST_NOW,
                paid,
            );
            assert_eq!(deliver(&app, &body).await, "granted");
        }
    }
    // The second grant of cs_twice, and credits out of nowhere.
    for reason in [
        "Top-up bought (checkout cs_twice)",
        "Top-up bought (checkout cs_ghost)",
    ] {
        ledger::grant(
            &app.state.db,
            account,
            ledger::NewGrant {
                kind: GrantKind::Topup,
                amount: Credits::new(500).unwrap(),
                expires_at: None,
                reason: reason.to_owned(),
                actor: None,
            },
            None,
            TEST_NOW,
        )
        .await
        .unwrap();
    }
    // A session of someone else's app on the same Stripe account is not ours to check.
    let mut foreign = fx.checkout_session("cs_foreign", "payment", 0, true);
    foreign["metadata"] = json!({});
    standin.account.lock().unwrap().sessions.push(foreign);
    // Invoices.
    let invoice = |id: &'static str| {
        let mut i = fx.invoice(&Inv {
            id,
            customer: "cus_r",
            subscription: "sub_r",
            paid: true,
            billing_reason: "subscription_create",
            lines: vec![Line {
                price: "price_creator",
                amount: 2900,
                start: TEST_NOW,
                end: TEST_NOW + 30 * 86_400,
                proration: false,
            }],
        });
        i["status"] = json!("paid");
        i
    };
    let ok = invoice("in_ok");
    standin.account.lock().unwrap().invoices.push(ok.clone());
    assert_eq!(
        deliver(&app, &fx.event("evt_in_ok", "invoice.paid", TEST_NOW, ok)).await,
        "granted"
    );
    standin
        .account
        .lock()
        .unwrap()
        .invoices
        .push(invoice("in_never_delivered"));

    let config = stripe(&base, WEBHOOK_SECRET);
    let report = reconcile::with_stripe(&config, &app.state.db, TEST_NOW - 86_400, TEST_NOW + 60)
        .await
        .unwrap();
    assert_eq!(
        report.checked_payments, 5,
        "three top-ups and two invoices of ours"
    );
    let mut found: Vec<String> = report
        .differences
        .iter()
        .map(|d| match d {
            Difference::MissingGrant { payment, .. } => format!("missing {payment}"),
            Difference::DoubleGrant { payment, .. } => format!("double {payment}"),
            Difference::GrantWithoutPayment { reason, .. } => format!("unbacked {reason}"),
            Difference::NotPaidInStripe { payment, .. } => format!("not paid {payment}"),
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "double cs_twice",
            "missing cs_unpaid_here",
            "missing in_never_delivered",
            "unbacked Top-up bought (checkout cs_ghost)",
        ]
    );
    let table = report.table();
    assert!(table.contains("4 difference(s)"), "{table}");
    assert!(table.contains("grant without payment"), "{table}");
    // The ledger's own record of a Stripe payment Stripe does not list as paid.
    standin
        .account
        .lock()
        .unwrap()
        .sessions
        .retain(|s| s["id"] != "cs_ok");
    let report = reconcile::with_stripe(&config, &app.state.db, TEST_NOW - 86_400, TEST_NOW + 60)
        .await
        .unwrap();
    assert!(
        report.differences.contains(&Difference::NotPaidInStripe {
            payment: "cs_ok".into(),
            account
        }),
        "{:?}",
        report.differences
    );
    app.cleanup().await;
}

/// Without Stripe: the local test payments are checked the same way.
async fn reconcile_checks_the_local_payments_without_stripe(backend: Backend) {
    let app = TestApp::start(backend).await;
    sign_up(&app, "l@example.com").await;
    let account = account_of(&app, "l@example.com").await;
    // A plan bought through the local checkout and renewed: every period paid and granted.
    let cookie = sign_up(&app, "plan@example.com").await;
    let res = common::call(
        &app,
        "plans/change",
        Some(&cookie),
        &[("action", "subscribe"), ("plan", "starter")],
    )
    .await;
    let session = res
        .header("location")
        .strip_prefix("/checkout/local/")
        .expect("the local checkout")
        .to_owned();
    let paid = common::call(
        &app,
        "checkout/local/pay",
        Some(&cookie),
        &[("session_id", &session), ("method", "card")],
    )
    .await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    let clean = reconcile::local(&app.state.db, TEST_NOW - 86_400, TEST_NOW + 60)
        .await
        .unwrap();
    assert!(clean.differences.is_empty(), "{:?}", clean.differences);
    assert_eq!(clean.checked_payments, 1);
    // Credits with nothing behind them, and a payment marked paid that granted nothing.
    ledger::grant(
        &app.state.db,
        account,
        ledger::NewGrant {
            kind: GrantKind::Topup,
            amount: Credits::new(2000).unwrap(),
            expires_at: None,
            reason: "Top-up bought (checkout cs_local_gone)".into(),
            actor: None,
        },
        None,
        TEST_NOW,
    )
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO payments (account_id, kind, provider, external_id, product, credits, amount_cents, \
         currency, status, created_at, updated_at) VALUES ($1, 'topup', 'local', 'cs_local_paid', 'small', \
         500, 500, 'usd', 'paid', $2, $2)",
    )
    .bind(account)
    .bind(TEST_NOW)
    .execute(app.state.db.writer())
    .await
    .unwrap();
    let report = reconcile::local(&app.state.db, TEST_NOW - 86_400, TEST_NOW + 60)
        .await
        .unwrap();
    assert_eq!(report.differences.len(), 2, "{:?}", report.differences);
    assert!(report.differences.iter().any(
        |d| matches!(d, Difference::MissingGrant { payment, .. } if payment == "cs_local_paid")
    ));
    assert!(
        report
            .differences
            .iter()
            .any(|d| matches!(d, Difference::GrantWithoutPayment { amount: 2000, .. }))
    );
    app.cleanup().await;
}

on_both_backends!(
    setup_makes_the_account_match_and_a_second_run_changes_nothing,
    a_changed_price_makes_a_new_price_and_endpoint_drift_is_reported_and_put_right,
    reconcile_finds_a_missing_grant_a_double_grant_and_a_grant_without_payment,
    reconcile_checks_the_local_payments_without_stripe,
);
