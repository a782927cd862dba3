//! A plan bought through Stripe Checkout with a method that clears later (a bank debit),
//! told in Stripe's own events (built from Stripe's published fixtures) over HTTP, on
//! SQLite and PostgreSQL. Checkout completes unpaid and the subscription's first invoice
//! is paid days later: meanwhile the page says the payment is processing and no second
//! plan checkout can start; the invoice's payment starts the plan (and only it); a failed
//! debit ends the wait; late and repeated events never bring the notice back.

use crate::common;

use axum::http::{Method, StatusCode};
use common::stripe_fixtures::{Fixtures, Inv, Line, Sub, Version};
use common::{Backend, TEST_NOW, TestApp, account_of, call, sign_up};
use serde_json::{Value, json};
use studio_billing::domain::subscription::add_month;
use studio_billing::server::db::{ledger, plan_checkouts};

const SECRET: &str = "whsec_processing_test";
const CUSTOMER: &str = "cus_bank";

/// The app in Stripe mode; nothing listens at its API address, so any call to Stripe
/// fails (as when Stripe cannot be reached).
async fn stripe_app(backend: Backend) -> TestApp {
    TestApp::with_stripe(backend, "http://127.0.0.1:9/", &[SECRET]).await
}

struct Bank<'a> {
    app: &'a TestApp,
    fx: Fixtures,
    account: i64,
    cookie: String,
    next_id: u32,
}

impl<'a> Bank<'a> {
    async fn new(app: &'a TestApp, version: Version) -> Bank<'a> {
        let cookie = sign_up(app, "bank@example.com").await;
        let account = account_of(app, "bank@example.com").await;
        studio_billing::server::db::subscriptions::link_customer(
            &app.state.db,
            account,
            CUSTOMER,
            TEST_NOW,
        )
        .await
        .unwrap();
        Bank {
            app,
            fx: Fixtures::load(version),
            account,
            cookie,
            next_id: 0,
        }
    }

    /// Delivers one event, signed as Stripe signs it; the webhook's outcome.
    async fn deliver(&self, body: &str) -> String {
        let res = self.app.deliver_webhook(SECRET, body).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        res.json()["outcome"].as_str().unwrap().to_owned()
    }

    fn event(&mut self, kind: &str, object: Value) -> String {
        self.next_id += 1;
        let id = format!("evt_bank_{}", self.next_id);
        self.fx.event(&id, kind, TEST_NOW, object)
    }

    /// The app's Creator checkout, as Stripe sends it once the customer completed it: the
    /// subscription it made, the plan in the metadata the app gave it.
    fn session(&self, id: &str, subscription: &str, paid: bool) -> Value {
        let mut s = self
            .fx
            .checkout_session(id, "subscription", self.account, paid);
        s["customer"] = json!(CUSTOMER);
        s["subscription"] = json!(subscription);
        s["amount_total"] = json!(2900);
        s["currency"] = json!("usd");
        s["metadata"]["plan_id"] = json!("creator");
        s
    }

    fn subscription(&self, id: &str, status: &str) -> Value {
        let mut sub = Sub::active(id, CUSTOMER, "price_creator", TEST_NOW, add_month(TEST_NOW));
        sub.status = status;
        self.fx.subscription(&sub)
    }

    fn invoice(&self, id: &str, subscription: &str, paid: bool) -> Value {
        self.fx.invoice(&Inv {
            id,
            customer: CUSTOMER,
            subscription,
            paid,
            billing_reason: "subscription_create",
            lines: vec![Line {
                price: "price_creator",
                amount: 2900,
                start: TEST_NOW,
                end: add_month(TEST_NOW),
                proration: false,
            }],
        })
    }

    async fn plan(&self) -> Value {
        let res = call(self.app, "plans/mine", Some(&self.cookie), &[]).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        res.json()
    }

    async fn page(&self) -> String {
        let cookie = format!("sb_session={}", self.cookie);
        let res = self
            .app
            .call(Method::GET, "/subscription", &[("cookie", &cookie)], None)
            .await;
        assert_eq!(res.status, StatusCode::OK);
        res.body
    }

    async fn subscribe(&self, plan: &str) -> common::TestResponse {
        call(
            self.app,
            "plans/change",
            Some(&self.cookie),
            &[("action", "subscribe"), ("plan", plan)],
        )
        .await
    }

    async fn total(&self) -> u64 {
        ledger::balance(&self.app.state.db, self.account, self.app.state.clock.now())
            .await
            .unwrap()
            .total
            .get()
    }

    async fn payments(&self) -> Vec<(String, String)> {
        sqlx::query_as("SELECT external_id, status FROM payments WHERE account_id = $1 ORDER BY id")
            .bind(self.account)
            .fetch_all(self.app.state.db.reader())
            .await
            .unwrap()
    }

    async fn checkout_status(&self, session: &str) -> Option<String> {
        plan_checkouts::by_session(&self.app.state.db, session)
            .await
            .unwrap()
            .map(|c| c.status)
    }
}

/// Money and trust: before, a plan paid by bank debit in Stripe's Checkout left the page
/// at "no plan yet" with nothing processing, and offered Subscribe again; the second
/// checkout was refused only by asking Stripe, with "reload in a minute" for a payment
/// that takes days. Now the page says it is processing, a second plan checkout is refused
/// with why (without asking Stripe), and the paid invoice starts the plan, once.
async fn a_bank_debit_plan_processes_until_its_invoice_is_paid(backend: Backend) {
    for version in Version::ALL {
        let app = stripe_app(backend).await;
        let mut bank = Bank::new(&app, version).await;
        let v = version.name();
        let session = bank.session("cs_bank_1", "sub_bank_1", false);
        let completed = bank.event("checkout.session.completed", session.clone());
        assert_eq!(bank.deliver(&completed).await, "plan_checkout", "{v}");
        let created = bank.event(
            "customer.subscription.created",
            bank.subscription("sub_bank_1", "incomplete"),
        );
        bank.deliver(&created).await;

        let plan = bank.plan().await;
        assert_eq!(plan["status"], "none", "{v}: {plan}");
        let progress = &plan["payment_in_progress"];
        assert_eq!(progress["processing"], true, "{v}: {plan}");
        assert_eq!(progress["plan_name"], "Creator");
        assert_eq!(progress["amount_cents"], 2900);
        assert_eq!(progress["credits"], 5000);
        let html = bank.page().await;
        assert!(html.contains(r#"data-testid="plan-processing""#), "{v}");
        assert!(
            html.contains("Your payment for the Creator plan ($29, 5,000 credits) is processing."),
            "{v}"
        );
        // Nothing is granted and nothing listed as paid before the money is in.
        assert_eq!(bank.total().await, 0, "{v}");
        assert!(bank.payments().await.is_empty(), "{v}");

        // No second plan while it processes: refused with why, without asking Stripe
        // (which cannot be reached here, so asking would have failed otherwise).
        let res = bank.subscribe("starter").await;
        assert_eq!(res.status, StatusCode::CONFLICT, "{v}: {}", res.body);
        assert!(
            res.body
                .contains("Your payment for the Creator plan is still being processed."),
            "{v}: {}",
            res.body
        );

        // The debit clears: Stripe says so for the session, then pays the invoice. The
        // session's word alone starts nothing; the paid invoice starts the plan.
        let succeeded = bank.event(
            "checkout.session.async_payment_succeeded",
            bank.session("cs_bank_1", "sub_bank_1", true),
        );
        assert_eq!(bank.deliver(&succeeded).await, "plan_checkout", "{v}");
        assert_eq!(bank.plan().await["payment_in_progress"]["processing"], true);
        assert_eq!(bank.total().await, 0, "{v}");
        let updated = bank.event(
            "customer.subscription.updated",
            bank.subscription("sub_bank_1", "active"),
        );
        bank.deliver(&updated).await;
        let invoice = bank.invoice("in_bank_1", "sub_bank_1", true);
        let paid = bank.event("invoice.paid", invoice.clone());
        assert_eq!(bank.deliver(&paid).await, "granted", "{v}");
        let succeeded_too = bank.event("invoice.payment_succeeded", invoice);
        bank.deliver(&succeeded_too).await;

        let plan = bank.plan().await;
        assert_eq!(plan["status"], "active", "{v}: {plan}");
        assert_eq!(plan["plan_name"], "Creator");
        assert_eq!(plan["payment_in_progress"], Value::Null, "{v}");
        assert_eq!(bank.total().await, 5000, "{v}");
        assert_eq!(
            bank.payments().await,
            vec![("in_bank_1".to_owned(), "paid".to_owned())],
            "one payment, the invoice"
        );
        assert_eq!(
            bank.checkout_status("cs_bank_1").await.as_deref(),
            Some("settled")
        );

        // Every event again (Stripe resends), and the session's "completed" once more under
        // a new event id: nothing more is granted, and nothing is processing again.
        for e in [&completed, &created, &succeeded, &updated, &paid] {
            assert_eq!(bank.deliver(e).await, "duplicate", "{v}");
        }
        let late = bank.event("checkout.session.completed", session);
        bank.deliver(&late).await;
        assert_eq!(
            bank.checkout_status("cs_bank_1").await.as_deref(),
            Some("settled")
        );
        assert_eq!(bank.total().await, 5000, "{v}");
        app.cleanup().await;
    }
}

/// A debit that fails ends the wait, whichever of Stripe's two failure events says it: the
/// page no longer says processing, nothing was granted, and a new plan checkout is no
/// longer refused for it.
async fn a_failed_bank_debit_ends_the_wait(backend: Backend) {
    for failure in [
        "checkout.session.async_payment_failed",
        "invoice.payment_failed",
    ] {
        let app = stripe_app(backend).await;
        let mut bank = Bank::new(&app, Version::Current).await;
        let completed = bank.event(
            "checkout.session.completed",
            bank.session("cs_bank_2", "sub_bank_2", false),
        );
        bank.deliver(&completed).await;
        assert_eq!(bank.plan().await["payment_in_progress"]["processing"], true);
        let object = if failure.starts_with("invoice") {
            bank.invoice("in_bank_2", "sub_bank_2", false)
        } else {
            bank.session("cs_bank_2", "sub_bank_2", false)
        };
        let failed = bank.event(failure, object);
        bank.deliver(&failed).await;

        let plan = bank.plan().await;
        assert_eq!(plan["status"], "none", "{failure}: {plan}");
        assert_eq!(plan["payment_in_progress"], Value::Null, "{failure}");
        assert_eq!(
            bank.checkout_status("cs_bank_2").await.as_deref(),
            Some("failed")
        );
        assert_eq!(bank.total().await, 0);
        assert!(
            !bank
                .page()
                .await
                .contains(r#"data-testid="plan-processing""#)
        );
        // Subscribing again goes on to Stripe (unreachable here), not refused for it.
        let res = bank.subscribe("creator").await;
        assert!(
            !res.body.contains("still being processed"),
            "{failure}: {}",
            res.body
        );
        app.cleanup().await;
    }
}

/// Stripe does not promise an order, and resends a failed delivery for days: the
/// session's "completed" may arrive after its invoice was paid, and even after the plan it
/// started has ended. The plan starts with the invoice; the late session is recorded as
/// settled, so nothing claims a payment is processing and Subscribe stays open. (Before,
/// a "completed" arriving once the plan had ended was recorded as processing, and no later
/// event could settle it: the customer could never subscribe again.)
async fn a_session_after_its_paid_invoice_is_not_processing(backend: Backend) {
    for ended_first in [false, true] {
        let app = stripe_app(backend).await;
        let mut bank = Bank::new(&app, Version::V2023).await;
        let created = bank.event(
            "customer.subscription.created",
            bank.subscription("sub_bank_3", "active"),
        );
        bank.deliver(&created).await;
        let paid = bank.event(
            "invoice.paid",
            bank.invoice("in_bank_3", "sub_bank_3", true),
        );
        assert_eq!(bank.deliver(&paid).await, "granted");
        let mut sub = bank.subscription("sub_bank_3", "canceled");
        sub["ended_at"] = json!(TEST_NOW + 3600);
        let deleted = bank.event("customer.subscription.deleted", sub);
        if ended_first {
            bank.deliver(&deleted).await;
        }
        let completed = bank.event(
            "checkout.session.completed",
            bank.session("cs_bank_3", "sub_bank_3", false),
        );
        assert_eq!(bank.deliver(&completed).await, "plan_checkout");
        assert_eq!(
            bank.checkout_status("cs_bank_3").await.as_deref(),
            Some("settled"),
            "ended first: {ended_first}"
        );
        if !ended_first {
            bank.deliver(&deleted).await;
        }
        let plan = bank.plan().await;
        assert_eq!(plan["status"], "ended", "{plan}");
        assert_eq!(plan["payment_in_progress"], Value::Null, "{plan}");
        assert_eq!(bank.total().await, 5000);
        let res = bank.subscribe("creator").await;
        assert!(!res.body.contains("still being processed"), "{}", res.body);
        app.cleanup().await;
    }
}

/// A plan checkout whose settling event never comes (Stripe stopped resending it) stops
/// blocking after three weeks, longer than any bank debit takes; Stripe's own refusal of a
/// second live subscription still stands behind it.
async fn a_processing_plan_payment_stops_blocking_after_three_weeks(backend: Backend) {
    let app = stripe_app(backend).await;
    let mut bank = Bank::new(&app, Version::Current).await;
    let completed = bank.event(
        "checkout.session.completed",
        bank.session("cs_bank_6", "sub_bank_6", false),
    );
    bank.deliver(&completed).await;
    app.state.clock.advance(20 * 86_400);
    assert_eq!(bank.plan().await["payment_in_progress"]["processing"], true);
    assert_eq!(bank.subscribe("starter").await.status, StatusCode::CONFLICT);
    app.state.clock.advance(2 * 86_400);
    assert_eq!(bank.plan().await["payment_in_progress"], Value::Null);
    let res = bank.subscribe("starter").await;
    assert!(!res.body.contains("still being processed"), "{}", res.body);
    app.cleanup().await;
}

/// A subscription-mode session that names no plan of the catalogue, an account that does
/// not exist, or an account that is not its customer's, is acknowledged and records nothing (answering 4xx or 5xx would make
/// Stripe resend it for days).
async fn a_plan_session_the_app_did_not_make_records_nothing(backend: Backend) {
    let app = stripe_app(backend).await;
    let mut bank = Bank::new(&app, Version::Current).await;
    let mut unknown_plan = bank.session("cs_bank_4", "sub_bank_4", false);
    unknown_plan["metadata"]["plan_id"] = json!("platinum");
    let e = bank.event("checkout.session.completed", unknown_plan);
    assert_eq!(bank.deliver(&e).await, "unknown_checkout");
    let mut no_account = bank.session("cs_bank_5", "sub_bank_5", false);
    no_account["metadata"]["account_id"] = json!("999999");
    no_account["client_reference_id"] = json!("999999");
    let e = bank.event("checkout.session.completed", no_account);
    assert_eq!(bank.deliver(&e).await, "unknown_checkout");
    // Our account in the metadata, but another Stripe customer's session (a payment link
    // lets its buyer fill in the reference): not this account's checkout.
    let mut other_customer = bank.session("cs_bank_7", "sub_bank_7", false);
    other_customer["customer"] = json!("cus_someone_else");
    let e = bank.event("checkout.session.completed", other_customer);
    assert_eq!(bank.deliver(&e).await, "unknown_checkout");
    assert_eq!(bank.checkout_status("cs_bank_4").await, None);
    assert_eq!(bank.checkout_status("cs_bank_5").await, None);
    assert_eq!(bank.checkout_status("cs_bank_7").await, None);
    assert_eq!(bank.plan().await["payment_in_progress"], Value::Null);
    app.cleanup().await;
}

on_both_backends!(
    a_bank_debit_plan_processes_until_its_invoice_is_paid,
    a_failed_bank_debit_ends_the_wait,
    a_session_after_its_paid_invoice_is_not_processing,
    a_plan_session_the_app_did_not_make_records_nothing,
    a_processing_plan_payment_stops_blocking_after_three_weeks,
);
