//! A plan's whole life with Stripe, told in Stripe's own webhook events (built from Stripe's
//! published fixtures, `tests/fixtures/stripe/`) of both API versions the app supports:
//! subscribe, upgrade (paid by its proration invoice, then credited), a late first invoice,
//! downgrade, a failed renewal and its retry, cancel, the end and the grace period, and a
//! resubscribe with a new Stripe subscription. Each step's events are delivered in Stripe's
//! order or reversed, then all again (the same ids, and Stripe's second event for each
//! invoice), over HTTP through the real router, on SQLite and PostgreSQL.

use crate::common;

use axum::http::Method;
use common::stripe_fixtures::{Fixtures, Inv, Line, Sub, Version};
use common::{Backend, TEST_NOW, TestApp, account_of, sign_up};
use studio_billing::domain::subscription::{Status, Subscription, add_month};
use studio_billing::server::db::{ledger, subscriptions};

const SECRET: &str = "whsec_story_test";
const DAY: i64 = 86_400;

async fn stripe_app(backend: Backend) -> TestApp {
    // Nothing listens there: a call to Stripe's API fails, as when Stripe is unreachable.
    stripe_app_at(backend, "http://127.0.0.1:9/").await
}

/// The app with Stripe's API at `api_base`.
async fn stripe_app_at(backend: Backend, api_base: &str) -> TestApp {
    TestApp::with_stripe(backend, api_base, &[SECRET]).await
}

struct Story<'a> {
    app: &'a TestApp,
    fx: Fixtures,
    account: i64,
    reversed: bool,
    /// Every event delivered so far, to deliver all again at the end.
    sent: Vec<String>,
    next_id: u32,
}

impl Story<'_> {
    async fn deliver(&self, body: &str) -> String {
        let res = self.app.deliver_webhook(SECRET, body).await;
        assert_eq!(res.status, 200, "{}: {}", self.fx.version.name(), res.body);
        res.json()["outcome"].as_str().unwrap().to_owned()
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("evt_story_{}", self.next_id)
    }

    fn sub_event(&mut self, kind: &str, at: i64, s: &Sub) -> String {
        let id = self.id();
        self.fx.event(&id, kind, at, self.fx.subscription(s))
    }

    /// `invoice.paid` and `invoice.payment_succeeded` (Stripe sends both), or
    /// `invoice.payment_failed`.
    fn invoice_events(&mut self, at: i64, i: &Inv) -> Vec<String> {
        let object = self.fx.invoice(i);
        let kinds: &[&str] = if i.paid {
            &["invoice.paid", "invoice.payment_succeeded"]
        } else {
            &["invoice.payment_failed"]
        };
        kinds
            .iter()
            .map(|k| {
                let id = self.id();
                self.fx.event(&id, k, at, object.clone())
            })
            .collect()
    }

    /// Moves the app's clock to `at` and delivers one step's events, in Stripe's order or
    /// reversed.
    async fn step(&mut self, at: i64, mut events: Vec<String>) {
        let now = self.app.state.clock.now();
        if at > now {
            self.app.state.clock.advance(at - now);
        }
        if self.reversed {
            events.reverse();
        }
        for e in &events {
            self.deliver(e).await;
        }
        self.sent.extend(events);
    }

    async fn sub(&self) -> Subscription {
        subscriptions::get(&self.app.state.db, self.account)
            .await
            .unwrap()
            .expect("a subscription on record")
    }

    /// The subscription credits usable at `at`.
    async fn credits(&self, at: i64) -> u64 {
        ledger::balance(&self.app.state.db, self.account, at)
            .await
            .unwrap()
            .subscription
            .get()
    }

    async fn payments(&self) -> Vec<(String, String, i64)> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT external_id, status, amount_cents FROM payments WHERE account_id = $1 ORDER BY external_id",
        )
        .bind(self.account)
        .fetch_all(self.app.state.db.reader())
        .await
        .unwrap();
        rows
    }

    /// The account's e-mail notices: kind, status, subject and body, oldest first.
    async fn notices(&self) -> Vec<(String, String, String, String)> {
        sqlx::query_as(
            "SELECT kind, status, subject, body FROM notices WHERE account_id = $1 ORDER BY id",
        )
        .bind(self.account)
        .fetch_all(self.app.state.db.reader())
        .await
        .unwrap()
    }

    fn what(&self) -> String {
        format!(
            "{} {}",
            self.fx.version.name(),
            if self.reversed {
                "reversed"
            } else {
                "in order"
            }
        )
    }
}

async fn story(backend: Backend, version: Version, reversed: bool) {
    let app = stripe_app(backend).await;
    let (_, account) = story_customer(&app).await;
    let mut s = story_of(&app, version, account, reversed);
    let what = s.what();
    let (p1, p2) = (TEST_NOW, add_month(TEST_NOW));
    let p3 = add_month(p2);
    let cus = "cus_story";

    // 1. Subscribe to Creator through Checkout: the session (no payment of the app's own),
    //    the subscription, and its first invoice, which grants the period.
    let session =
        s.fx.checkout_session("cs_story_1", "subscription", account, true);
    let id = s.id();
    let mut events = vec![s.fx.event(&id, "checkout.session.completed", p1, session)];
    events.push(s.sub_event(
        "customer.subscription.created",
        p1,
        &Sub::active("sub_1", cus, "price_creator", p1, p2),
    ));
    let first_invoice = creator_invoice("in_1", "sub_1", p1, p2);
    events.extend(s.invoice_events(p1, &first_invoice));
    s.step(p1, events).await;
    let sub = s.sub().await;
    assert_eq!(
        (
            sub.plan.as_str(),
            sub.status,
            sub.period_start,
            sub.period_end
        ),
        ("creator", Status::Active, p1, p2),
        "{what}"
    );
    assert_eq!(s.credits(p1).await, 5_000, "{what}");

    // 2. Upgrade to Studio with 20 of the period's 30 days left: Stripe moves the price
    //    and invoices the prorated difference at once; the extra credits, prorated alike
    //    (two thirds of 15,000), come with that invoice's payment.
    let up_at = p1 + 10 * DAY;
    let mut events = vec![s.sub_event(
        "customer.subscription.updated",
        up_at,
        &Sub::active("sub_1", cus, "price_studio", p1, p2),
    )];
    let upgrade_invoice = Inv {
        id: "in_up",
        customer: cus,
        subscription: "sub_1",
        paid: true,
        billing_reason: "subscription_update",
        lines: vec![
            Line {
                price: "price_creator",
                amount: -1933,
                start: up_at,
                end: p2,
                proration: true,
            },
            Line {
                price: "price_studio",
                amount: 6600,
                start: up_at,
                end: p2,
                proration: true,
            },
        ],
    };
    events.extend(s.invoice_events(up_at, &upgrade_invoice));
    s.step(up_at, events).await;
    assert_eq!(s.sub().await.plan.as_str(), "studio", "{what}");
    assert_eq!(s.credits(up_at).await, 15_000, "{what}: 5,000 + 10,000");

    // A late second event for the first invoice (Stripe sends `invoice.payment_succeeded`
    // beside `invoice.paid`) grants nothing more: a period is granted once, whatever the
    // plan is now. (Before the fix the period was granted again as Studio: 35,000.)
    let late = s.invoice_events(up_at + 60, &first_invoice);
    s.step(up_at + 60, late).await;
    assert_eq!(s.credits(up_at).await, 15_000, "{what}: the period once");

    // 3. Downgrade to Starter: Stripe's price changes without proration; the app keeps
    //    Studio until the renewal.
    let down_at = p1 + 15 * DAY;
    let e = s.sub_event(
        "customer.subscription.updated",
        down_at,
        &Sub::active("sub_1", cus, "price_starter", p1, p2),
    );
    s.step(down_at, vec![e]).await;
    let sub = s.sub().await;
    assert_eq!(
        (
            sub.plan.as_str(),
            sub.pending_plan.as_ref().map(|p| p.as_str())
        ),
        ("studio", Some("starter")),
        "{what}"
    );

    // 4. The renewal fails: past due, the downgrade takes effect, no credits for the new
    //    period. The renewal invoice also carries proration lines of the old period (as a
    //    change made late in a period leaves them); they grant nothing.
    let renewal = |paid| Inv {
        id: "in_2",
        customer: cus,
        subscription: "sub_1",
        paid,
        billing_reason: "subscription_cycle",
        lines: vec![
            Line {
                price: "price_studio",
                amount: -300,
                start: p2 - DAY,
                end: p2,
                proration: true,
            },
            Line {
                price: "price_starter",
                amount: 100,
                start: p2 - DAY,
                end: p2,
                proration: true,
            },
            Line {
                price: "price_starter",
                amount: 900,
                start: p2,
                end: p3,
                proration: false,
            },
        ],
    };
    let mut events = s.invoice_events(p2, &renewal(false));
    events.push(s.sub_event(
        "customer.subscription.updated",
        p2,
        &Sub {
            status: "past_due",
            ..Sub::active("sub_1", cus, "price_starter", p2, p3)
        },
    ));
    s.step(p2, events).await;
    let sub = s.sub().await;
    assert_eq!(sub.status, Status::PastDue, "{what}");
    assert_eq!(sub.plan.as_str(), "starter", "{what}");
    assert_eq!(
        s.credits(p2).await,
        0,
        "{what}: the last period's credits expired"
    );
    // The customer is told by e-mail, once for the invoice: a second failed attempt
    // (Stripe retries, a new event) makes no second notice.
    let again = s.invoice_events(p2 + DAY, &renewal(false));
    s.step(p2 + DAY, again).await;
    let notices = s.notices().await;
    assert_eq!(notices.len(), 1, "{what}: {notices:?}");
    let (kind, status, subject, body) = &notices[0];
    assert_eq!(
        (kind.as_str(), status.as_str(), subject.as_str()),
        (
            "renewal_failed",
            "pending",
            "Your plan's renewal payment failed"
        ),
        "{what}"
    );
    assert!(body.contains("$7 "), "{what}: the invoice's amount: {body}");

    // 5. The retry is paid: active again with Starter's credits for the new period.
    let retry_at = p2 + 3 * DAY;
    let mut events = s.invoice_events(retry_at, &renewal(true));
    events.push(s.sub_event(
        "customer.subscription.updated",
        retry_at,
        &Sub::active("sub_1", cus, "price_starter", p2, p3),
    ));
    s.step(retry_at, events).await;
    let sub = s.sub().await;
    assert_eq!(
        (sub.status, sub.period_start),
        (Status::Active, p2),
        "{what}"
    );
    assert_eq!(s.credits(retry_at).await, 1_000, "{what}");

    // 6. Cancel: at the period's end (2023-10-16), or on a set date that is the period's
    //    end (`cancel_at`, as Stripe's portal and newer versions say it).
    let cancel_at = p2 + 10 * DAY;
    let cancelled = match version {
        Version::V2023 => Sub {
            cancel_at_period_end: true,
            ..Sub::active("sub_1", cus, "price_starter", p2, p3)
        },
        Version::Current => Sub {
            cancel_at: Some(p3),
            ..Sub::active("sub_1", cus, "price_starter", p2, p3)
        },
    };
    let e = s.sub_event("customer.subscription.updated", cancel_at, &cancelled);
    s.step(cancel_at, vec![e]).await;
    let sub = s.sub().await;
    assert!(sub.cancel_at_period_end, "{what}");
    assert_eq!(sub.period_end, p3, "{what}");

    // 7. Stripe ends it at the period's end: the grace period (Starter: 30 days) starts.
    let e = s.sub_event(
        "customer.subscription.deleted",
        p3,
        &Sub {
            status: "canceled",
            ended_at: Some(p3),
            ..cancelled.clone()
        },
    );
    s.step(p3, vec![e]).await;
    let sub = s.sub().await;
    assert_eq!(
        (sub.status, sub.grace_until),
        (Status::Ended, Some(p3 + 30 * DAY)),
        "{what}"
    );

    // 8. In the grace period the customer subscribes again (Creator) through Checkout: a
    //    new Stripe subscription, whose own event comes before its paid invoice. The plan
    //    starts again with its own period. (Before the fix it stayed ended, unpaid for.)
    let p4 = p3 + 5 * DAY;
    let p5 = add_month(p4);
    let mut events = vec![s.sub_event(
        "customer.subscription.created",
        p4,
        &Sub::active("sub_2", cus, "price_creator", p4, p5),
    )];
    events.extend(s.invoice_events(p4, &creator_invoice("in_3", "sub_2", p4, p5)));
    s.step(p4, events).await;
    let sub = s.sub().await;
    assert_eq!(
        (
            sub.plan.as_str(),
            sub.status,
            sub.period_start,
            sub.grace_until
        ),
        ("creator", Status::Active, p4, None),
        "{what}"
    );
    assert_eq!(s.credits(p4).await, 5_000, "{what}");

    // The old subscription's news, late, changes nothing now.
    let late_gone = s.sub_event(
        "customer.subscription.deleted",
        p3 + 60,
        &Sub {
            status: "canceled",
            ended_at: Some(p3),
            ..cancelled
        },
    );
    s.step(p4, vec![late_gone]).await;
    assert_eq!(s.sub().await.status, Status::Active, "{what}");

    // Everything again, every id a second time: nothing changes.
    let before = (s.sub().await, s.credits(p4).await, s.payments().await);
    for e in s.sent.clone() {
        assert_eq!(s.deliver(&e).await, "duplicate", "{what}");
    }
    assert_eq!(
        before,
        (s.sub().await, s.credits(p4).await, s.payments().await)
    );
    assert_eq!(
        s.notices().await.len(),
        1,
        "{what}: one notice, however often told"
    );

    // Every invoice is a payment, paid once; one grant per period and one for the upgrade.
    let payments = s.payments().await;
    assert_eq!(
        payments,
        vec![
            ("in_1".to_owned(), "paid".to_owned(), 2900),
            ("in_2".to_owned(), "paid".to_owned(), 700),
            ("in_3".to_owned(), "paid".to_owned(), 2900),
            ("in_up".to_owned(), "paid".to_owned(), 4667),
        ],
        "{what}"
    );
    let grants: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT period_start, kind, plan_id FROM subscription_grants WHERE account_id = $1 ORDER BY period_start, kind",
    )
    .bind(account)
    .fetch_all(app.state.db.reader())
    .await
    .unwrap();
    assert_eq!(
        grants,
        vec![
            (p1, "period".to_owned(), "creator".to_owned()),
            (p1, "upgrade".to_owned(), "studio".to_owned()),
            (p2, "period".to_owned(), "starter".to_owned()),
            (p4, "period".to_owned(), "creator".to_owned()),
        ],
        "{what}"
    );
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

async fn the_whole_story_on_2023_10_16_events(backend: Backend) {
    story(backend, Version::V2023, false).await;
    story(backend, Version::V2023, true).await;
}

async fn the_whole_story_on_current_events(backend: Backend) {
    story(backend, Version::Current, false).await;
    story(backend, Version::Current, true).await;
}

/// The customer cancels in Stripe's portal and subscribes again while the old
/// subscription's `customer.subscription.deleted` is still on its way, and Stripe cannot be
/// asked about it: the new one's paid invoice is answered 500 (so Stripe sends it again),
/// never acknowledged and dropped; once the deletion has landed, the resent invoice starts
/// the plan.
async fn a_new_subscriptions_invoice_before_the_old_ones_end_is_retried_not_dropped(
    backend: Backend,
) {
    let app = stripe_app(backend).await;
    let mut s = new_story(&app, Version::Current).await;
    let (p1, p2) = (TEST_NOW, add_month(TEST_NOW));
    let paid = s.invoice_events(p1, &creator_invoice("in_1", "sub_1", p1, p2));
    s.step(p1, paid).await;
    let again = p1 + 2 * DAY;
    let new_invoice = s.invoice_events(
        again,
        &creator_invoice("in_2", "sub_2", again, add_month(again)),
    );
    let early = app.deliver_webhook(SECRET, &new_invoice[0]).await;
    assert_eq!(early.status, 500, "{}", early.body);
    assert_eq!(s.credits(again).await, 5000, "nothing granted yet");
    let gone = s.sub_event(
        "customer.subscription.deleted",
        p1 + DAY,
        &Sub {
            status: "canceled",
            ended_at: Some(p1 + DAY),
            ..Sub::active("sub_1", "cus_story", "price_creator", p1, p2)
        },
    );
    s.step(again, vec![gone]).await;
    // Stripe's retry of the same event.
    assert_eq!(s.deliver(&new_invoice[0]).await, "granted");
    let sub = s.sub().await;
    assert_eq!((sub.status, sub.period_start), (Status::Active, again));
    app.cleanup().await;
}

/// Money bug (issue 13): a second Stripe subscription paid while the first is live (two
/// Checkout tabs) bought nothing, and its invoice was answered 500 for days: no credits,
/// no refund, only a log line. Stripe is asked about the subscription on record; it is
/// live, so the second one is cancelled and its invoice refunded in full with a credit
/// note, once, and the customer's plan and credits stay as they were.
async fn a_second_paid_subscription_is_cancelled_and_refunded(backend: Backend) {
    let (base, standin) = common::stripe_standin::start().await;
    let app = stripe_app_at(backend, &base).await;
    let mut s = new_story(&app, Version::V2023).await;
    let (p1, p2) = (TEST_NOW, add_month(TEST_NOW));
    let paid = s.invoice_events(p1, &creator_invoice("in_1", "sub_1", p1, p2));
    s.step(p1, paid).await;
    {
        let fx = Fixtures::load(Version::V2023);
        let mut a = standin.account.lock().unwrap();
        for id in ["sub_1", "sub_2"] {
            a.subscriptions.insert(
                id.to_owned(),
                fx.subscription(&Sub::active(id, "cus_story", "price_creator", p1, p2)),
            );
        }
        // Stripe has trouble with the first refund: it is tried again later.
        a.fail_credit_notes = 1;
    }
    let second = s.invoice_events(
        p1 + 60,
        &creator_invoice("in_2", "sub_2", p1 + 60, add_month(p1 + 60)),
    );
    assert_eq!(s.deliver(&second[0]).await, "refund_due");
    assert_eq!(
        s.credits(p1 + 60).await,
        5000,
        "nothing granted for the second"
    );
    let refund = |app: &TestApp| {
        let db = app.state.db.clone();
        async move {
            let row: (String, i64, Option<String>) = sqlx::query_as(
                "SELECT r.status, r.attempts, r.external_id FROM payment_refunds r \
                 JOIN payments p ON p.id = r.payment_id WHERE p.external_id = 'in_2'",
            )
            .fetch_one(db.reader())
            .await
            .unwrap();
            row
        }
    };
    assert_eq!(refund(&app).await.0, "due");
    assert_eq!(refund(&app).await.1, 1, "one attempt failed");
    // The scheduler's next run makes it.
    let run = studio_billing::server::services::refunds::run_due(&app.state).await;
    assert_eq!((run.done, run.failed), (1, 0));
    let (status, _, note) = refund(&app).await;
    assert_eq!(status, "done");
    assert!(note.unwrap().starts_with("cn_"));
    let writes = standin.writes();
    let cancels: Vec<_> = writes
        .iter()
        .filter(|c| c.path == "/v1/subscriptions/sub_2")
        .collect();
    assert!(!cancels.is_empty(), "{writes:?}");
    assert!(cancels.iter().all(|c| c.method == Method::DELETE));
    assert!(
        !writes.iter().any(|c| c.path == "/v1/subscriptions/sub_1"),
        "the live plan is left alone"
    );
    let notes: Vec<_> = standin.account.lock().unwrap().credit_notes.clone();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["invoice"], "in_2");
    assert_eq!(notes[0]["amount"], 2900);
    let asked: Vec<_> = writes
        .iter()
        .filter(|c| c.path == "/v1/credit_notes")
        .collect();
    let last = asked.last().unwrap();
    assert_eq!(
        last.params.get("refund_amount").map(String::as_str),
        Some("2900")
    );
    assert_eq!(
        last.params.get("reason").map(String::as_str),
        Some("duplicate")
    );
    // Stripe's second event for that invoice, and the second subscription's deletion,
    // change nothing more.
    assert_eq!(s.deliver(&second[1]).await, "subscription");
    let gone = s.sub_event(
        "customer.subscription.deleted",
        p1 + 120,
        &Sub {
            status: "canceled",
            ended_at: Some(p1 + 120),
            ..Sub::active(
                "sub_2",
                "cus_story",
                "price_creator",
                p1 + 60,
                add_month(p1 + 60),
            )
        },
    );
    s.step(p1 + 120, vec![gone]).await;
    assert_eq!(
        studio_billing::server::services::refunds::run_due(&app.state)
            .await
            .done,
        0
    );
    assert_eq!(standin.account.lock().unwrap().credit_notes.len(), 1);
    let sub = s.sub().await;
    assert_eq!(
        (sub.status, sub.plan.as_str(), sub.period_start),
        (Status::Active, "creator", p1)
    );
    assert_eq!(s.credits(p1 + 120).await, 5000);
    assert!(ledger::verify(&app.state.db).await.unwrap().is_empty());
    app.cleanup().await;
}

/// The resubscribe whose old subscription's end is still on its way, when Stripe can be
/// asked: Stripe says the one on record has ended, so its end is applied and the new
/// subscription's paid invoice starts the plan at once (no refund, no waiting).
async fn a_new_subscriptions_invoice_before_the_old_ones_end_asks_stripe_and_starts(
    backend: Backend,
) {
    let (base, standin) = common::stripe_standin::start().await;
    let app = stripe_app_at(backend, &base).await;
    let mut s = new_story(&app, Version::V2023).await;
    let (p1, p2) = (TEST_NOW, add_month(TEST_NOW));
    let paid = s.invoice_events(p1, &creator_invoice("in_1", "sub_1", p1, p2));
    s.step(p1, paid).await;
    let again = p1 + 2 * DAY;
    standin.account.lock().unwrap().subscriptions.insert(
        "sub_1".to_owned(),
        Fixtures::load(Version::V2023).subscription(&Sub {
            status: "canceled",
            ended_at: Some(p1 + DAY),
            ..Sub::active("sub_1", "cus_story", "price_creator", p1, p2)
        }),
    );
    app.state.clock.advance(again - p1);
    let new_invoice = s.invoice_events(
        again,
        &creator_invoice("in_2", "sub_2", again, add_month(again)),
    );
    assert_eq!(s.deliver(&new_invoice[0]).await, "granted");
    let sub = s.sub().await;
    assert_eq!((sub.status, sub.period_start), (Status::Active, again));
    assert!(standin.account.lock().unwrap().credit_notes.is_empty());
    let refunds: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payment_refunds")
        .fetch_one(app.state.db.reader())
        .await
        .unwrap();
    assert_eq!(refunds, 0);
    app.cleanup().await;
}

/// A paid invoice whose lines are all prorations (before the fix: a 400 "not a Stripe
/// event" on current versions, which Stripe resends for three days) is acknowledged.
async fn a_proration_only_invoice_is_acknowledged_in_every_version(backend: Backend) {
    for version in Version::ALL {
        let app = stripe_app(backend).await;
        sign_up(&app, "p@example.com").await;
        let account = account_of(&app, "p@example.com").await;
        subscriptions::link_customer(&app.state.db, account, "cus_p", TEST_NOW)
            .await
            .unwrap();
        let fx = Fixtures::load(version);
        let inv = fx.invoice(&Inv {
            id: "in_p",
            customer: "cus_p",
            subscription: "sub_p",
            paid: true,
            billing_reason: "subscription_update",
            lines: vec![Line {
                price: "price_creator",
                amount: 500,
                start: TEST_NOW,
                end: TEST_NOW + DAY,
                proration: true,
            }],
        });
        let body = fx.event("evt_p", "invoice.paid", TEST_NOW, inv);
        let res = app.deliver_webhook(SECRET, &body).await;
        assert_eq!(res.status, 200, "{}: {}", version.name(), res.body);
        assert_eq!(res.json()["outcome"], "ignored");
        app.cleanup().await;
    }
}

/// A story of `version`'s events for a new customer `cus_story` (reversed: no).
async fn new_story(app: &TestApp, version: Version) -> Story<'_> {
    let (_, account) = story_customer(app).await;
    story_of(app, version, account, false)
}

/// The story's customer, signed up and known to Stripe as `cus_story`: their session
/// cookie and account.
async fn story_customer(app: &TestApp) -> (String, i64) {
    let cookie = sign_up(app, "story@example.com").await;
    let account = account_of(app, "story@example.com").await;
    subscriptions::link_customer(&app.state.db, account, "cus_story", TEST_NOW)
        .await
        .unwrap();
    (cookie, account)
}

fn story_of(app: &TestApp, version: Version, account: i64, reversed: bool) -> Story<'_> {
    Story {
        app,
        fx: Fixtures::load(version),
        account,
        reversed,
        sent: Vec::new(),
        next_id: 0,
    }
}

fn creator_invoice<'a>(id: &'a str, sub: &'a str, start: i64, end: i64) -> Inv<'a> {
    Inv {
        id,
        customer: "cus_story",
        subscription: sub,
        paid: true,
        billing_reason: "subscription_create",
        lines: vec![Line {
            price: "price_creator",
            amount: 2900,
            start,
            end,
            proration: false,
        }],
    }
}

/// Money bug: subscribe to Creator, upgrade to Studio, then Stripe's second event for the
/// first invoice (`invoice.payment_succeeded` beside `invoice.paid`) arrives late. The
/// period's grant was keyed with the plan, so it was granted again as Studio's (the
/// balance went from 20,000 to 40,000). A period is granted once, whatever the plan.
async fn a_late_first_invoice_after_an_upgrade_grants_nothing_more(backend: Backend) {
    let app = stripe_app(backend).await;
    let mut s = new_story(&app, Version::V2023).await;
    let (p1, p2) = (TEST_NOW, add_month(TEST_NOW));
    let first = creator_invoice("in_1", "sub_1", p1, p2);
    let paid = s.invoice_events(p1, &first);
    s.step(p1, vec![paid[0].clone()]).await;
    let up = s.sub_event(
        "customer.subscription.updated",
        p1 + 60,
        &Sub::active("sub_1", "cus_story", "price_studio", p1, p2),
    );
    s.step(p1 + 60, vec![up]).await;
    assert_eq!(s.sub().await.plan.as_str(), "studio");
    let before = s.credits(p1 + 60).await;
    // `invoice.payment_succeeded` for the first invoice, late.
    s.step(p1 + 120, vec![paid[1].clone()]).await;
    assert_eq!(
        s.credits(p1 + 120).await,
        before,
        "the first period is granted once"
    );
    app.cleanup().await;
}

/// Money bug: after Stripe deleted the subscription (cancelled at once in the portal: the
/// plan ended, the grace period running), the customer subscribed again through Checkout.
/// The new subscription's `customer.subscription.created` moved the ended plan's period,
/// so its paid invoice looked like a late one: answered 200, the plan stayed ended, no
/// credits, and the grace period (and the purge) still ran.
async fn a_new_subscription_after_a_deleted_one_starts_the_plan(backend: Backend) {
    for version in Version::ALL {
        let app = stripe_app(backend).await;
        let mut s = new_story(&app, version).await;
        let (p1, p2) = (TEST_NOW, add_month(TEST_NOW));
        let paid = s.invoice_events(p1, &creator_invoice("in_1", "sub_1", p1, p2));
        s.step(p1, paid).await;
        let gone_at = p1 + 3 * DAY;
        let gone = s.sub_event(
            "customer.subscription.deleted",
            gone_at,
            &Sub {
                status: "canceled",
                ended_at: Some(gone_at),
                ..Sub::active("sub_1", "cus_story", "price_creator", p1, p2)
            },
        );
        s.step(gone_at, vec![gone]).await;
        assert_eq!(s.sub().await.status, Status::Ended);
        let again = gone_at + DAY;
        let end = add_month(again);
        let created = s.sub_event(
            "customer.subscription.created",
            again,
            &Sub::active("sub_2", "cus_story", "price_starter", again, end),
        );
        let mut invoice = creator_invoice("in_2", "sub_2", again, end);
        invoice.lines[0].price = "price_starter";
        invoice.lines[0].amount = 900;
        let mut events = vec![created];
        events.extend(s.invoice_events(again, &invoice));
        s.step(again, events).await;
        let sub = s.sub().await;
        assert_eq!(
            (
                sub.status,
                sub.plan.as_str(),
                sub.period_start,
                sub.grace_until
            ),
            (Status::Active, "starter", again, None),
            "{}",
            version.name()
        );
        // Starter's 1,000, and what is left of the deleted period's (paid) 5,000 until
        // that period's end (P3).
        assert_eq!(s.credits(again).await, 6000, "{}", version.name());
        assert_eq!(s.credits(p2).await, 1000, "{}", version.name());
        app.cleanup().await;
    }
}

/// Issue 13: every paid payment has a receipt; Stripe's payments have Stripe's own, asked
/// of Stripe when the customer opens it: a plan's invoice's hosted page, a top-up's charge
/// receipt (its Checkout Session -> payment intent -> charge, Stripe's published objects).
/// Another customer gets no receipt of it; when Stripe cannot answer, the app's own
/// receipt says so.
async fn a_stripe_payment_opens_stripes_own_receipt(backend: Backend) {
    let (base, standin) = common::stripe_standin::start().await;
    let app = stripe_app_at(backend, &base).await;
    let (cookie, account) = story_customer(&app).await;
    let mut s = story_of(&app, Version::Current, account, false);
    let (p1, p2) = (TEST_NOW, add_month(TEST_NOW));
    let invoice = creator_invoice("in_1", "sub_1", p1, p2);
    let paid = s.invoice_events(p1, &invoice);
    s.step(p1, paid).await;
    {
        let fx = &s.fx;
        let mut hosted = fx.invoice(&invoice);
        hosted["hosted_invoice_url"] =
            serde_json::json!("https://invoice.stripe.com/i/acct_story/in_1");
        let mut session = fx.object("checkout.session");
        session["id"] = serde_json::json!("cs_story_topup");
        session["invoice"] = serde_json::Value::Null;
        session["payment_intent"] = serde_json::json!("pi_story");
        let mut intent = fx.object("payment_intent");
        intent["id"] = serde_json::json!("pi_story");
        intent["latest_charge"] = serde_json::json!("ch_story");
        let mut charge = fx.object("charge");
        charge["id"] = serde_json::json!("ch_story");
        let receipt = charge["receipt_url"].clone();
        assert!(receipt.is_string(), "Stripe's charge has a receipt_url");
        let mut a = standin.account.lock().unwrap();
        a.invoices.push(hosted);
        a.sessions.push(session);
        a.payment_intents.insert("pi_story".into(), intent);
        a.charges.insert("ch_story".into(), charge);
    }
    // The top-up as the webhook records a paid Stripe Checkout.
    sqlx::query(
        "INSERT INTO payments (account_id, kind, provider, external_id, product, credits, \
         amount_cents, currency, status, created_at, updated_at) \
         VALUES ($1, 'topup', 'stripe', 'cs_story_topup', 'small', 500, 900, 'usd', 'paid', $2, $2)",
    )
    .bind(account)
    .bind(TEST_NOW + 10)
    .execute(app.state.db.writer())
    .await
    .unwrap();
    let id_of = |external: &'static str| {
        let db = app.state.db.clone();
        async move {
            let id: i64 = sqlx::query_scalar("SELECT id FROM payments WHERE external_id = $1")
                .bind(external)
                .fetch_one(db.reader())
                .await
                .unwrap();
            id
        }
    };
    let (plan_payment, top_up) = (id_of("in_1").await, id_of("cs_story_topup").await);
    let open = |id: i64, cookie: String| {
        let app = &app;
        async move {
            app.call(
                Method::GET,
                &format!("/payments/{id}/stripe-receipt"),
                &[
                    ("cookie", &format!("sb_session={cookie}")),
                    ("accept", "text/html"),
                ],
                None,
            )
            .await
        }
    };
    let res = open(plan_payment, cookie.clone()).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(
        res.header("location"),
        "https://invoice.stripe.com/i/acct_story/in_1"
    );
    let res = open(top_up, cookie.clone()).await;
    assert_eq!(res.status, 303);
    let expected = Fixtures::load(Version::Current).object("charge")["receipt_url"].clone();
    assert_eq!(serde_json::json!(res.header("location")), expected);
    // The page lists both, paid through Stripe (so their receipts are Stripe's).
    let listed = common::call(&app, "subscription/overview", Some(&cookie), &[])
        .await
        .json();
    let mut listed: Vec<(i64, bool)> = listed["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_i64().unwrap(), p["test_mode"].as_bool().unwrap()))
        .collect();
    listed.sort();
    assert_eq!(listed, vec![(plan_payment, false), (top_up, false)]);
    // Someone else is sent to the app's page, which has no receipt for them.
    let other = sign_up(&app, "other@example.com").await;
    let res = open(top_up, other.clone()).await;
    assert_eq!(res.header("location"), format!("/payments/{top_up}"));
    let theirs = common::call(
        &app,
        "payments/receipt",
        Some(&other),
        &[("id", &top_up.to_string()), ("stripe_unavailable", "false")],
    )
    .await;
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    // Stripe unable to answer: the app's own receipt, saying so.
    standin.account.lock().unwrap().charges.clear();
    let res = open(top_up, cookie.clone()).await;
    assert_eq!(
        res.header("location"),
        format!("/payments/{top_up}?stripe=unavailable")
    );
    let own = common::call(
        &app,
        "payments/receipt",
        Some(&cookie),
        &[("id", &top_up.to_string()), ("stripe_unavailable", "true")],
    )
    .await
    .json();
    assert_eq!(own["number"], format!("P-{top_up:06}"));
    assert_eq!(own["stripe"], true);
    assert_eq!(own["line"]["amount_cents"], 900);
    app.cleanup().await;
}

on_both_backends!(
    a_stripe_payment_opens_stripes_own_receipt,
    the_whole_story_on_2023_10_16_events,
    the_whole_story_on_current_events,
    a_proration_only_invoice_is_acknowledged_in_every_version,
    a_late_first_invoice_after_an_upgrade_grants_nothing_more,
    a_new_subscription_after_a_deleted_one_starts_the_plan,
    a_new_subscriptions_invoice_before_the_old_ones_end_is_retried_not_dropped,
    a_new_subscriptions_invoice_before_the_old_ones_end_asks_stripe_and_starts,
    a_second_paid_subscription_is_cancelled_and_refunded,
);
