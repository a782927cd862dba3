//! Running it in production (issue 12): the operator's `user` commands through the real
//! binary, the audit list they write, `seed demo` on a database that is not a demo's, and
//! production refusing to start while an account has the demo's published password. On
//! SQLite and PostgreSQL.

use crate::common;

use common::{Backend, TEST_NOW, TestApp, TestDb};
use std::io::Write;
use std::process::{Command, Stdio};
use studio_billing::domain::account::{Email, Role};
use studio_billing::server::auth;
use studio_billing::server::db::users::{self, OPERATOR, UserChange};
use studio_billing::server::seed;

/// Runs `studio-billing ARGS` against `url` in demo mode, with `stdin` as its standard
/// input; returns (success, stdout, stderr).
fn cli(url: &str, args: &[&str], stdin: &str, extra: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_studio-billing"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("LOG_FORMAT", "human")
        .env("RUST_LOG", "warn")
        // No `.env` of the checkout is read.
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

const STAFF_PASSWORD: &str = "a long staff passphrase";

async fn the_first_support_user_is_made_on_the_command_line_and_audited(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    // The password comes from standard input, never the command line.
    let (ok, out, err) = cli(
        &t.url,
        &[
            "user",
            "create",
            "--email",
            "Boss@Example.com",
            "--role",
            "support",
        ],
        &format!("{STAFF_PASSWORD}\n"),
        &[],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("created boss@example.com (support)"), "{out}");
    assert!(!out.contains(STAFF_PASSWORD) && !err.contains(STAFF_PASSWORD));
    let (ok, _, err) = cli(
        &t.url,
        &[
            "user",
            "create",
            "--email",
            "b@example.com",
            "--role",
            "support",
            "--password",
            "x",
        ],
        "",
        &[],
    );
    assert!(!ok, "a password on the command line is refused: {err}");
    // Refused: a short or published password, a bad role, a taken e-mail. Nothing is made.
    for (args, stdin, words) in [
        (
            vec!["--email", "c@example.com", "--role", "support"],
            "short\n",
            "at least 10",
        ),
        (
            vec!["--email", "c@example.com", "--role", "support"],
            "demo-password\n",
            "published",
        ),
        (
            vec!["--email", "c@example.com", "--role", "admin"],
            "long enough pw\n",
            "unknown role",
        ),
        (
            vec!["--email", "not-an-email", "--role", "support"],
            "long enough pw\n",
            "e-mail",
        ),
        (
            vec!["--email", "boss@example.com", "--role", "support"],
            "long enough pw\n",
            "already exists",
        ),
    ] {
        let mut full = vec!["user", "create"];
        full.extend(args);
        let (ok, out, err) = cli(&t.url, &full, stdin, &[]);
        assert!(!ok, "{full:?}: {out}");
        assert!(err.contains(words), "{full:?}: {err}");
    }

    let db = &t.db;
    let listed = users::list(db).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].role, listed[0].origin.as_str()),
        (Role::Support, "operator")
    );
    // The new support user signs in with that password.
    let state = studio_billing::server::state::AppState::new(
        studio_billing::server::config::Config::demo(&t.url),
        db.clone(),
        studio_billing::server::clock::Clock::fixed(TEST_NOW),
    );
    let boss = auth::sign_in(&state, "boss@example.com", STAFF_PASSWORD, "192.0.2.1")
        .await
        .unwrap();
    assert_eq!(boss.role, Role::Support);

    // Role change and disable, each audited with the operator as the actor.
    let (ok, out, err) = cli(
        &t.url,
        &[
            "user",
            "set-role",
            "--email",
            "boss@example.com",
            "--role",
            "customer",
        ],
        "",
        &[],
    );
    assert!(ok, "{out}{err}");
    let (ok, out, _) = cli(
        &t.url,
        &[
            "user",
            "set-role",
            "--email",
            "boss@example.com",
            "--role",
            "customer",
        ],
        "",
        &[],
    );
    assert!(ok && out.contains("nothing changed"), "{out}");
    let (ok, out, err) = cli(
        &t.url,
        &["user", "disable", "--email", "boss@example.com"],
        "",
        &[],
    );
    assert!(ok, "{out}{err}");
    let (ok, _, err) = cli(
        &t.url,
        &["user", "disable", "--email", "nobody@example.com"],
        "",
        &[],
    );
    assert!(
        !ok && err.contains("no user has the e-mail nobody@example.com"),
        "{err}"
    );
    let (ok, out, _) = cli(&t.url, &["user", "list"], "", &[]);
    assert!(ok);
    assert!(
        out.contains("boss@example.com\tcustomer\toperator") && out.contains("disabled"),
        "{out}"
    );

    let audit = users::staff_changes(db, 10).await.unwrap();
    let actions: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|(_, c)| (c.action.as_str(), c.subject.as_str(), c.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("user disabled", "boss@example.com", OPERATOR),
            ("role changed", "boss@example.com", OPERATOR),
            ("user created", "boss@example.com", OPERATOR),
        ]
    );
    // Disabled: the right password no longer signs in, and says why.
    let refused = auth::sign_in(&state, "boss@example.com", STAFF_PASSWORD, "192.0.2.1").await;
    assert!(
        matches!(&refused, Err(studio_billing::error::AppError::Unauthenticated { message }) if message.contains("disabled")),
        "{refused:?}"
    );
    t.cleanup().await;
}

async fn disabling_a_user_ends_their_sessions(backend: Backend) {
    let app = TestApp::start(backend).await;
    let session = common::sign_up(&app, "leaver@example.com").await;
    let cookie = format!("sb_session={session}");
    let page = |c: String| {
        let app = &app;
        async move {
            app.call(
                axum::http::Method::GET,
                "/subscription",
                &[("cookie", &c)],
                None,
            )
            .await
            .status
        }
    };
    assert_eq!(page(cookie.clone()).await, axum::http::StatusCode::OK);
    assert!(
        users::change(
            &app.state.db,
            &email("leaver@example.com"),
            UserChange::Disable,
            OPERATOR,
            TEST_NOW
        )
        .await
        .unwrap()
    );
    assert_eq!(page(cookie).await, axum::http::StatusCode::UNAUTHORIZED);
    app.cleanup().await;
}

async fn seed_demo_refuses_a_database_it_did_not_make(backend: Backend) {
    let app = TestApp::start(backend).await;
    common::sign_up(&app, "real.customer@example.com").await;
    let e = seed::demo(&app.state).await.unwrap_err().to_string();
    assert!(e.contains("did not create"), "{e}");
    assert_eq!(
        users::list(&app.state.db).await.unwrap().len(),
        1,
        "no demo account was added"
    );
    app.cleanup().await;

    // A demo database stays one: people who sign up to try it do not stop a second seed.
    let app = TestApp::start(backend).await;
    assert_eq!(seed::demo(&app.state).await.unwrap(), seed::Seeded::Created);
    common::sign_up(&app, "visitor@example.com").await;
    assert_eq!(
        seed::demo(&app.state).await.unwrap(),
        seed::Seeded::AlreadyThere
    );
    app.cleanup().await;
}

async fn production_will_not_start_while_an_account_has_the_demo_password(backend: Backend) {
    let app = TestApp::start(backend).await;
    seed::demo(&app.state).await.unwrap();
    let db = &app.state.db;
    let mut found = seed::accounts_with_the_demo_password(db).await.unwrap();
    found.sort();
    assert_eq!(found, [seed::DEMO_CUSTOMER_EMAIL, seed::DEMO_SUPPORT_EMAIL]);

    let production = [
        ("STUDIO_MODE", "production"),
        ("STUDIO_PUBLIC_URL", "https://billing.example.com"),
        ("STUDIO_SECRET_KEY", "k7Qp2vX9mL4rT8wZ1nB6cF3hJ5dS0aGe"),
        ("STRIPE_SECRET_KEY", "sk_test_51HxR4nd0mKey"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_r4nd0mS3cr3t"),
        ("STUDIO_SMTP_URL", "smtp://127.0.0.1:9"),
        ("STUDIO_MAIL_FROM", "billing@example.com"),
        // Never reached: the check comes first.
        ("STRIPE_API_BASE", "https://127.0.0.1:9/"),
        ("LEPTOS_SITE_ADDR", "127.0.0.1:9"),
    ];
    let url = &app.test_db.url;
    let (ok, out, err) = cli(url, &["serve"], "", &production);
    assert!(!ok, "{out}");
    assert!(
        err.contains("demo's published password")
            && err.contains(seed::DEMO_SUPPORT_EMAIL)
            && err.contains("user set-password"),
        "{err}"
    );

    // A new password for one, the other disabled: nothing is left to refuse.
    let hash = auth::hash_password(STAFF_PASSWORD.into()).await.unwrap();
    users::change(
        db,
        &email(seed::DEMO_SUPPORT_EMAIL),
        UserChange::Password(hash),
        OPERATOR,
        TEST_NOW,
    )
    .await
    .unwrap();
    users::change(
        db,
        &email(seed::DEMO_CUSTOMER_EMAIL),
        UserChange::Disable,
        OPERATOR,
        TEST_NOW,
    )
    .await
    .unwrap();
    assert!(
        seed::accounts_with_the_demo_password(db)
            .await
            .unwrap()
            .is_empty()
    );
    // A support user an operator made with the demo password by hand (it cannot be chosen
    // at `user create`) is found too.
    let hash = auth::hash_password(seed::DEMO_PASSWORD.into())
        .await
        .unwrap();
    users::create(
        db,
        &email("old.admin@example.com"),
        &hash,
        Role::Support,
        users::Origin::Operator,
        TEST_NOW,
    )
    .await
    .unwrap();
    assert_eq!(
        seed::accounts_with_the_demo_password(db).await.unwrap(),
        ["old.admin@example.com"]
    );
    app.cleanup().await;
}

async fn demo_mode_refuses_to_listen_beyond_loopback(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let (ok, _, err) = cli(
        &t.url,
        &["serve"],
        "",
        &[("LEPTOS_SITE_ADDR", "0.0.0.0:3999")],
    );
    assert!(!ok);
    assert!(
        err.contains("demo mode serves only on a loopback address")
            && err.contains("STUDIO_MODE=production"),
        "{err}"
    );
    t.cleanup().await;
}

/// Issue 12: one support user could grant any amount to anyone.
async fn a_large_adjustment_waits_for_a_second_support_user(backend: Backend) {
    use axum::http::StatusCode;
    use common::{call, session_of};
    let app = TestApp::with_config(backend, |c| c.approval_above_credits = 100).await;
    seed::demo(&app.state).await.unwrap();
    let hash = auth::hash_password(STAFF_PASSWORD.into()).await.unwrap();
    users::create(
        &app.state.db,
        &email("second@example.com"),
        &hash,
        Role::Support,
        users::Origin::Operator,
        TEST_NOW,
    )
    .await
    .unwrap();
    let sign_in = |e: &'static str, p: &'static str| {
        let app = &app;
        async move {
            session_of(&call(app, "auth/sign_in", None, &[("email", e), ("password", p)]).await)
                .unwrap()
        }
    };
    let first = sign_in(seed::DEMO_SUPPORT_EMAIL, seed::DEMO_PASSWORD).await;
    let second = sign_in("second@example.com", STAFF_PASSWORD).await;
    common::sign_up(&app, "big@example.com").await;
    let account = common::account_of(&app, "big@example.com").await;
    let account_id = account.to_string();
    let balance = || {
        let app = &app;
        async move {
            studio_billing::server::db::ledger::balance(&app.state.db, account, TEST_NOW)
                .await
                .unwrap()
                .total
                .get()
        }
    };
    let adjust = |session: String, amount: &'static str, key: &'static str| {
        let app = &app;
        let account_id = account_id.clone();
        async move {
            call(
                app,
                "support/adjust",
                Some(&session),
                &[
                    ("account_id", &account_id),
                    ("direction", "grant"),
                    ("amount", amount),
                    ("reason", "goodwill after the outage"),
                    ("request_key", key),
                ],
            )
            .await
        }
    };
    let pending = |session: String| {
        let app = &app;
        async move {
            call(app, "support/pending_adjustments", Some(&session), &[])
                .await
                .json()
        }
    };
    let decide = |session: String, id: String, decision: &'static str| {
        let app = &app;
        async move {
            call(
                app,
                "support/decide",
                Some(&session),
                &[("request_id", &id), ("decision", decision)],
            )
            .await
        }
    };

    // Above the limit: nothing changes, a request waits (once, however often it is sent).
    for _ in 0..2 {
        let res = adjust(first.clone(), "500", "big-1").await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let said = studio_billing::ui::components::adjustments::adjusted(
            &serde_json::from_value(res.json()).expect("an adjustment's result"),
        );
        assert!(said.contains("waits for another support user"), "{said}");
    }
    assert_eq!(balance().await, 0);
    let waiting = pending(second.clone()).await;
    assert_eq!(waiting.as_array().unwrap().len(), 1, "{waiting}");
    assert_eq!(waiting[0]["amount"], 500);
    assert_eq!(waiting[0]["requested_by"], seed::DEMO_SUPPORT_EMAIL);
    let id = waiting[0]["id"].to_string();

    // The one who asked cannot approve it.
    let own = decide(first.clone(), id.clone(), "approve").await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.body);
    assert_eq!(own.json()["code"], "second_approval_needed");
    assert_eq!(balance().await, 0);

    // Another support user approves: applied once, both names in the audit list.
    let ok = decide(second.clone(), id.clone(), "approve").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(balance().await, 500);
    let again = decide(second.clone(), id.clone(), "approve").await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(balance().await, 500);
    let audit = call(&app, "support/audit", Some(&first), &[]).await.json();
    assert_eq!(
        audit[0]["actor"],
        format!(
            "{}, approved by second@example.com",
            seed::DEMO_SUPPORT_EMAIL
        )
    );
    assert_eq!(audit[0]["amount"], 500);

    // At or below the limit, one person's change applies at once.
    let small = adjust(first.clone(), "100", "small-1").await;
    assert_eq!(small.status, StatusCode::OK, "{}", small.body);
    assert_eq!(balance().await, 600);

    // A rejected request changes nothing, and is in the staff audit list.
    adjust(second.clone(), "900", "big-2").await;
    let id = pending(first.clone()).await[0]["id"].to_string();
    let no = decide(first.clone(), id.clone(), "reject").await;
    assert_eq!(no.status, StatusCode::OK, "{}", no.body);
    assert_eq!(balance().await, 600);
    assert!(pending(first.clone()).await.as_array().unwrap().is_empty());
    let staff = users::staff_changes(&app.state.db, 10).await.unwrap();
    let actions: Vec<&str> = staff.iter().map(|(_, c)| c.action.as_str()).collect();
    assert_eq!(
        &actions[..5],
        [
            "adjustment rejected",
            "adjustment requested",
            "adjustment approved",
            "adjustment requested",
            "user created",
        ]
    );
    // Only support may see or decide.
    let customer = common::sign_up(&app, "nosy@example.com").await;
    assert_eq!(
        decide(customer.clone(), id, "approve").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "support/pending_adjustments", Some(&customer), &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    app.cleanup().await;
}

const METRICS_TOKEN: &str = "metrics-token-0123456789abcdef0123";
const WEBHOOK_SECRET: &str = "whsec_operations_test_secret";

/// An app billing through Stripe (never called here), with a metrics token.
async fn watched_app(backend: Backend) -> TestApp {
    use studio_billing::server::config::{PaymentsConfig, Secret, StripeConfig};
    TestApp::with_config(backend, |c| {
        c.payments = PaymentsConfig::Stripe(StripeConfig {
            secret_key: Secret::new("sk_test_operations"),
            webhook_secrets: vec![Secret::new(WEBHOOK_SECRET)],
            api_base: "http://127.0.0.1:9/".to_owned(),
        });
        c.metrics_token = Some(Secret::new(METRICS_TOKEN));
    })
    .await
}

/// A signed delivery of an event the app acknowledges without effect.
async fn deliver_ignored_event(app: &TestApp, id: &str) -> common::TestResponse {
    let body = serde_json::json!({
        "id": id, "object": "event", "type": "customer.created", "api_version": "2023-10-16",
        "created": TEST_NOW, "livemode": false, "pending_webhooks": 1,
        "data": { "object": { "id": "cus_ops", "object": "customer" } }
    })
    .to_string();
    let signature = studio_billing::server::payments::signature::header(
        WEBHOOK_SECRET,
        app.state.clock.wall(),
        body.as_bytes(),
    );
    app.call(
        axum::http::Method::POST,
        "/webhooks/stripe",
        &[("stripe-signature", &signature)],
        Some(body),
    )
    .await
}

async fn metrics_need_their_token_and_count_requests_ledger_calls_and_webhooks(backend: Backend) {
    use axum::http::{Method, StatusCode};
    assert!(studio_billing::server::metrics::handle().is_some());
    let app = watched_app(backend).await;
    let token = studio_billing::server::db::tokens::create(
        &app.state.db,
        "metrics-probe",
        &studio_billing::server::db::tokens::Scope::ALL,
        TEST_NOW,
    )
    .await
    .unwrap();
    let auth = format!("Bearer {token}");
    let est = app
        .call(
            Method::POST,
            "/api/v1/estimates",
            &[("authorization", &auth)],
            Some(r#"{"operation":"music","quantity":3}"#.into()),
        )
        .await;
    assert_eq!(est.status, StatusCode::OK, "{}", est.body);
    let refused = app
        .call(
            Method::POST,
            "/api/v1/accounts/424242/holds",
            &[("authorization", &auth), ("idempotency-key", "m1")],
            Some(r#"{"operation":"music","quantity":3}"#.into()),
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(
        deliver_ignored_event(&app, "evt_metrics_1").await.status,
        StatusCode::OK
    );
    let forged = app
        .call(
            Method::POST,
            "/webhooks/stripe",
            &[("stripe-signature", "t=1,v1=00")],
            Some("{}".into()),
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);

    // Without the token: 401; with another: 401.
    let none = app.get("/metrics").await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let wrong = app
        .call(
            Method::GET,
            "/metrics",
            &[("authorization", "Bearer nope")],
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let res = app
        .call(
            Method::GET,
            "/metrics",
            &[("authorization", &format!("Bearer {METRICS_TOKEN}"))],
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.header("content-type").starts_with("text/plain"));
    let text = &res.body;
    for wanted in [
        r#"ledger_operations_total{operation="estimate",outcome="ok"}"#,
        r#"ledger_operations_total{operation="reserve",outcome="not_found"}"#,
        r#"webhook_events_total{type="customer.created",outcome="ignored"}"#,
        r#"webhook_events_total{type="unverified",outcome="refused"}"#,
        r#"route="/api/v1/accounts/{account_id}/holds""#,
        "http_request_duration_seconds_bucket",
        r#"db_pool_connections{pool="read",state="idle"}"#,
        "holds_past_expiry",
    ] {
        assert!(text.contains(wanted), "{wanted} missing from:\n{text}");
    }
    assert!(!text.contains("/424242/"), "raw paths never become labels");
    app.cleanup().await;

    // No token configured: no such route.
    let plain = TestApp::start(backend).await;
    assert_eq!(plain.get("/metrics").await.status, StatusCode::NOT_FOUND);
    plain.cleanup().await;
}

async fn support_sees_webhook_and_job_health(backend: Backend) {
    use axum::http::{Method, StatusCode};
    use common::{call, session_of};
    let app = watched_app(backend).await;
    seed::demo(&app.state).await.unwrap();
    let support = session_of(
        &call(
            &app,
            "auth/sign_in",
            None,
            &[
                ("email", seed::DEMO_SUPPORT_EMAIL),
                ("password", seed::DEMO_PASSWORD),
            ],
        )
        .await,
    )
    .unwrap();
    let customer = common::sign_up(&app, "ops.customer@example.com").await;
    // One applied event, one forged delivery.
    deliver_ignored_event(&app, "evt_ops_1").await;
    app.call(
        Method::POST,
        "/webhooks/stripe",
        &[("stripe-signature", "t=1,v1=00")],
        Some("{}".into()),
    )
    .await;
    // A job run, and a hold left past its expiry.
    studio_billing::server::jobs::housekeeping_run(&app.state).await;
    let account = common::account_of(&app, "ops.customer@example.com").await;
    let db = &app.state.db;
    studio_billing::server::db::ledger::grant(
        db,
        account,
        studio_billing::server::db::ledger::NewGrant {
            kind: studio_billing::domain::ledger::GrantKind::Topup,
            amount: studio_billing::domain::credits::Credits::new(50).unwrap(),
            expires_at: None,
            reason: "test".into(),
            actor: None,
        },
        None,
        TEST_NOW,
    )
    .await
    .unwrap();
    studio_billing::server::db::ledger::reserve(
        db,
        account,
        studio_billing::server::db::ledger::NewHold {
            operation: studio_billing::domain::pricing::Operation::Music,
            quantity: 1,
            estimate: studio_billing::domain::credits::Credits::new(2).unwrap(),
            amount: studio_billing::domain::credits::Credits::new(2).unwrap(),
            expires_at: TEST_NOW + 60,
        },
        None,
        TEST_NOW,
    )
    .await
    .unwrap();
    app.state.clock.advance(120);
    // The reconciliation, run as an operator would.
    let (ok, out, err) = cli(&app.test_db.url, &["stripe", "reconcile"], "", &[]);
    assert!(ok, "{out}{err}");

    let res = call(&app, "support/operations", Some(&support), &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let v = res.json();
    assert_eq!(v["deliveries"][0]["event_id"], "evt_ops_1", "{v}");
    assert_eq!(v["deliveries"][0]["outcome"], "ignored");
    assert!(
        v["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("signature"),
        "{v}"
    );
    assert_eq!(v["jobs"][0]["name"], "housekeeping");
    assert_eq!(v["jobs"][0]["ok"], true);
    assert_eq!(v["holds_past_expiry"], 1);
    assert_eq!(v["oldest_expiry"], TEST_NOW + 60);
    assert_eq!(v["reconciliation"]["differences"], 0, "{v}");
    // The page renders it; customers and visitors get no view.
    let page = app
        .call(
            Method::GET,
            "/support/operations",
            &[("cookie", &format!("sb_session={support}"))],
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("evt_ops_1") && page.body.contains("past their expiry"),
        "{}",
        page.body
    );
    assert_eq!(
        call(&app, "support/operations", Some(&customer), &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "support/operations", None, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.cleanup().await;
}

async fn support_reads_a_long_journal_page_by_page(backend: Backend) {
    use axum::http::{Method, StatusCode};
    use common::{call, session_of};
    let app = TestApp::start(backend).await;
    seed::demo(&app.state).await.unwrap();
    let support = session_of(
        &call(
            &app,
            "auth/sign_in",
            None,
            &[
                ("email", seed::DEMO_SUPPORT_EMAIL),
                ("password", seed::DEMO_PASSWORD),
            ],
        )
        .await,
    )
    .unwrap();
    common::sign_up(&app, "busy+1@example.com").await;
    let account = common::account_of(&app, "busy+1@example.com").await;
    for i in 0..70 {
        studio_billing::server::db::ledger::grant(
            &app.state.db,
            account,
            studio_billing::server::db::ledger::NewGrant {
                kind: studio_billing::domain::ledger::GrantKind::Topup,
                amount: studio_billing::domain::credits::Credits::new(1).unwrap(),
                expires_at: None,
                reason: format!("grant {i}"),
                actor: None,
            },
            None,
            TEST_NOW,
        )
        .await
        .unwrap();
    }
    let page = |before: Option<String>| {
        let app = &app;
        let support = support.clone();
        async move {
            let mut args = vec![("email", "busy+1@example.com".to_owned())];
            if let Some(b) = before {
                args.push(("before", b));
            }
            let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            call(app, "support/find_customer", Some(&support), &args)
                .await
                .json()
        }
    };
    let first = page(None).await;
    let entries = first["journal"].as_array().unwrap();
    assert_eq!(entries.len(), 50);
    assert_eq!(entries[0]["seq"], 70, "newest first");
    // The cursor is the last entry's time and sequence number (pages follow the times
    // shown; these all share one).
    let next = first["journal_next_before"].as_str().unwrap().to_owned();
    assert_eq!(next, format!("{TEST_NOW}.21"));
    let second = page(Some(next.clone())).await;
    let older = second["journal"].as_array().unwrap();
    assert_eq!(older.len(), 20);
    assert_eq!(older[0]["seq"], 20);
    assert!(second["journal_next_before"].is_null(), "the last page");
    // The page links to the older entries, the e-mail encoded.
    let html = app
        .call(
            Method::GET,
            "/support?email=busy%2B1%40example.com",
            &[("cookie", &format!("sb_session={support}"))],
            None,
        )
        .await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(
        html.body.contains(&format!(
            "/support?email=busy%2B1%40example.com&amp;before={TEST_NOW}.21"
        )),
        "{}",
        html.body
    );
    app.cleanup().await;
}

on_both_backends!(
    support_reads_a_long_journal_page_by_page,
    metrics_need_their_token_and_count_requests_ledger_calls_and_webhooks,
    support_sees_webhook_and_job_health,
    a_large_adjustment_waits_for_a_second_support_user,
    the_first_support_user_is_made_on_the_command_line_and_audited,
    disabling_a_user_ends_their_sessions,
    seed_demo_refuses_a_database_it_did_not_make,
    production_will_not_start_while_an_account_has_the_demo_password,
    demo_mode_refuses_to_listen_beyond_loopback,
);
