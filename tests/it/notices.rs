//! E-mail notices (issue 16) on SQLite and PostgreSQL, sent through a real SMTP server
//! (aiosmtpd, `tests/fixtures/smtp_sink.py`) that refuses the first message with "try
//! again later": usage alerts once per level and period (P17), a low balance once per
//! period, a kind the customer turned off recorded but never sent, two instances sweeping
//! and sending at once making and sending each notice once, plans and grace periods
//! about to end told once, the settings form without JavaScript, and support's list.

use crate::common;
use axum::http::StatusCode;
use common::{Backend, TestApp, account_of, call, form_post_from, sign_in, sign_up};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use studio_billing::domain::credits::Credits;
use studio_billing::domain::pricing::Operation;
use studio_billing::server::config::{MailConfig, Secret};
use studio_billing::server::db::Db;
use studio_billing::server::db::ledger::{self, NewHold};
use studio_billing::server::db::notices as outbox_db;
use studio_billing::server::db::subscriptions;
use studio_billing::server::mail::Mailer;
use studio_billing::server::seed;
use studio_billing::server::services::notices::{self, NoticesRun};
use studio_billing::server::services::plans;
use studio_billing::server::state::AppState;

const DAY: i64 = 86_400;

/// The SMTP server: what arrives is appended to `out`, a JSON line a message.
struct Sink {
    child: Child,
    port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sink {
    async fn start(fail_first: u32) -> Sink {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mail.jsonl");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp_sink.py");
        let child = Command::new("python3")
            .args([script, "--port", &port.to_string(), "--fail-first"])
            .arg(fail_first.to_string())
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 runs the SMTP sink (aiosmtpd: scripts/setup.sh test)");
        // Killed and waited for when dropped, the panic below included.
        let sink = Sink {
            child,
            port,
            out,
            _dir: dir,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return sink;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the SMTP sink did not start on port {port} (is aiosmtpd installed?)");
    }

    fn mailer(&self) -> Mailer {
        Mailer::new(&MailConfig::Smtp {
            url: Secret::new(format!("smtp://127.0.0.1:{}", self.port)),
            from: "Studio Billing <billing@example.com>".to_owned(),
        })
        .unwrap()
    }

    /// Every message sent to it so far, refused or accepted.
    fn sent(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Every message accepted so far.
    fn messages(&self) -> Vec<serde_json::Value> {
        self.sent()
            .into_iter()
            .filter(|m| m["refused"] == false)
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A second instance of the app on the same database: its own pools, the same clock.
async fn second_instance(app: &TestApp) -> AppState {
    let db = Db::connect(&app.test_db.url, 5).await.unwrap();
    AppState::new(
        app.state.config.as_ref().clone(),
        db,
        app.state.clock.clone(),
    )
}

/// Reserves and captures `credits` for a generation, now.
async fn spend(app: &TestApp, account: i64, credits: u64) {
    let now = app.state.clock.now();
    let amount = Credits::new(credits).unwrap();
    let hold = NewHold {
        operation: Operation::VoiceGeneration,
        quantity: credits,
        estimate: amount,
        amount,
        expires_at: now + 600,
    };
    let held = ledger::reserve(&app.state.db, account, hold, None, now)
        .await
        .unwrap();
    let actual = ledger::Actual {
        quantity: credits,
        cost: amount,
        tolerance_percent: 0,
    };
    ledger::capture(
        &app.state.db,
        held.hold_id,
        Some(account),
        actual,
        None,
        now,
    )
    .await
    .unwrap();
}

/// The account's notices: kind, status, attempts and subject, oldest first.
async fn outbox(app: &TestApp, account: i64) -> Vec<(String, String, i64, String)> {
    sqlx::query_as(
        "SELECT kind, status, attempts, subject FROM notices WHERE account_id = $1 ORDER BY id",
    )
    .bind(account)
    .fetch_all(app.state.db.reader())
    .await
    .unwrap()
}

/// A customer on Starter (1,000 credits a period), signed in: the session and the account.
async fn starter_customer(app: &TestApp, email: &str) -> (String, i64) {
    let session = sign_up(app, email).await;
    common::subscribe_locally(app, &session, "starter").await;
    (session, account_of(app, email).await)
}

/// Saves the customer's notice settings as the page's form does (with JavaScript): the
/// boxes ticked.
async fn choose(app: &TestApp, session: &str, ticked: &[&str]) {
    let pairs: Vec<(&str, &str)> = ticked.iter().map(|name| (*name, "on")).collect();
    let saved = call(app, "subscription/notices", Some(session), &pairs).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
}

fn sum(a: NoticesRun, b: NoticesRun) -> NoticesRun {
    NoticesRun {
        queued: a.queued + b.queued,
        sent: a.sent + b.sent,
        failed: a.failed + b.failed,
    }
}

async fn usage_alerts_and_a_low_balance_go_once_each_from_two_instances(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (session, account) = starter_customer(&app, "alerts@example.com").await;
    let cookie = format!("sb_session={session}");
    // Without JavaScript: told at 50% and 80%; the low balance turned off.
    let saved = form_post_from(
        &app,
        "subscription/notices",
        &cookie,
        "http://127.0.0.1:3000/subscription",
        &[
            ("usage_50", "on"),
            ("usage_80", "on"),
            ("plan_ending", "on"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::FOUND, "{}", saved.body);
    assert_eq!(saved.header("location"), "/subscription#notices");

    let other = second_instance(&app).await;
    // Before any use, the sweep finds nothing.
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 0);

    spend(&app, account, 550).await;
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 1);
    // 920 used (92%): 80% reached, and the balance (80) is low.
    spend(&app, account, 370).await;
    let (a, b) = tokio::join!(notices::sweep(&app.state), notices::sweep(&other));
    assert_eq!(a.unwrap() + b.unwrap(), 2, "each event makes one notice");
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 0);
    assert_eq!(notices::sweep(&other).await.unwrap(), 0);
    // 100% is not asked for.
    spend(&app, account, 80).await;
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 0);
    let queued = outbox(&app, account).await;
    let kinds: Vec<(&str, &str)> = queued
        .iter()
        .map(|(k, s, _, _)| (k.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("usage_alert", "pending"),
            ("low_balance", "skipped"),
            ("usage_alert", "pending"),
        ]
    );

    // Both instances send at once, through a server that refuses the first message.
    let sink = Sink::start(1).await;
    let (mailer, other_mailer) = (sink.mailer(), sink.mailer());
    let (a, b) = tokio::join!(
        notices::deliver(&app.state, &mailer, "instance-a"),
        notices::deliver(&other, &other_mailer, "instance-b")
    );
    let first = sum(a.unwrap(), b.unwrap());
    assert_eq!((first.sent, first.failed), (1, 1), "{first:?}");
    assert_eq!(sink.messages().len(), 1);
    // Not due again yet.
    let (a, b) = tokio::join!(
        notices::deliver(&app.state, &mailer, "instance-a"),
        notices::deliver(&other, &other_mailer, "instance-b")
    );
    assert_eq!(sum(a.unwrap(), b.unwrap()), NoticesRun::default());
    // A minute later it is.
    app.state.clock.pass_real_time(61);
    let (a, b) = tokio::join!(
        notices::deliver(&app.state, &mailer, "instance-a"),
        notices::deliver(&other, &other_mailer, "instance-b")
    );
    let second = sum(a.unwrap(), b.unwrap());
    assert_eq!((second.sent, second.failed), (1, 0), "{second:?}");

    let mail = sink.messages();
    assert_eq!(mail.len(), 2, "each notice once: {mail:#?}");
    let mut subjects: Vec<String> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for m in &mail {
        assert_eq!(m["to"], serde_json::json!(["alerts@example.com"]));
        assert_eq!(m["from"], "billing@example.com");
        let data = m["data"].as_str().unwrap();
        let header = |name: &str| {
            data.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("no {name}: {data}"))
                .to_owned()
        };
        subjects.push(header("Subject"));
        ids.push(header("Message-ID"));
        assert!(
            data.contains("Your Subscription page: http://127.0.0.1:3000/subscription"),
            "{data}"
        );
    }
    // The refused try and the copy accepted a minute later are one notice: one Message-ID.
    let refused: Vec<serde_json::Value> = sink
        .sent()
        .into_iter()
        .filter(|m| m["refused"] == true)
        .collect();
    assert_eq!(refused.len(), 1);
    let refused_id = refused[0]["data"]
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .to_owned();
    assert!(ids.contains(&refused_id), "{refused_id} in {ids:?}");
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "You have used 50% of this period's credits",
            "You have used 80% of this period's credits",
        ]
    );
    ids.dedup();
    assert_eq!(ids.len(), 2, "each notice its own Message-ID");
    assert!(
        ids.iter()
            .all(|id| id.starts_with("<notice-") && id.ends_with("@127.0.0.1>"))
    );
    let attempts: Vec<(String, i64)> = outbox(&app, account)
        .await
        .into_iter()
        .map(|(_, status, attempts, _)| (status, attempts))
        .collect();
    let mut attempts_sorted = attempts.clone();
    attempts_sorted.sort();
    assert_eq!(
        attempts_sorted,
        [
            ("sent".to_owned(), 1),
            ("sent".to_owned(), 2),
            ("skipped".to_owned(), 0)
        ],
        "the refused one sent on its second try; the skipped one never"
    );

    // The page says it too, and shows what is set.
    let page = app
        .get_with(
            "/subscription",
            &[("cookie", &cookie), ("accept", "text/html")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(r#"data-testid="usage-alert""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("You have used 100% of this period"));
    assert!(page.body.contains("You asked to be told at 80%"));
    for (name, on) in [
        ("usage_50", true),
        ("usage_80", true),
        ("usage_100", false),
        ("low_balance", false),
        ("plan_ending", true),
    ] {
        let input = page
            .body
            .split("<input")
            .find(|i| i.contains(&format!(r#"name="{name}""#)))
            .unwrap_or_else(|| panic!("no {name} box"));
        let input = &input[..input.find('>').unwrap()];
        assert_eq!(input.contains("checked"), on, "{name}: {input}");
    }
    other.db.close().await;
    app.cleanup().await;
}

async fn a_new_period_can_alert_again(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (session, account) = starter_customer(&app, "again@example.com").await;
    choose(&app, &session, &["usage_50"]).await;
    spend(&app, account, 600).await;
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 1);
    // The renewal: a new period with its own credits, and its own alerts.
    let s = subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    app.state
        .clock
        .advance(s.period_end - app.state.clock.now() + 60);
    plans::run_due(&app.state).await.unwrap();
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 0);
    spend(&app, account, 500).await;
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 1);
    assert_eq!(outbox(&app, account).await.len(), 2);
    app.cleanup().await;
}

async fn plans_and_grace_periods_about_to_end_are_told_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (session, account) = starter_customer(&app, "ending@example.com").await;
    let cancelled = call(
        &app,
        "plans/change",
        Some(&session),
        &[("action", "cancel")],
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let s = subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    let to = |at: i64| at - app.state.clock.now();
    // Four days before the end: not yet.
    app.state.clock.advance(to(s.period_end - 4 * DAY));
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 0);
    app.state.clock.advance(to(s.period_end - 2 * DAY));
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 1);
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 0);
    // Ended: the grace period (Starter's 30 days) runs; a week before its end, told.
    app.state.clock.advance(to(s.period_end + 60));
    plans::run_due(&app.state).await.unwrap();
    let ended = subscriptions::get(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    let grace_until = ended.grace_until.expect("a grace period");
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 0);
    app.state.clock.advance(to(grace_until - 6 * DAY));
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 1);
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 0);
    let kinds: Vec<String> = outbox(&app, account)
        .await
        .into_iter()
        .map(|(k, ..)| k)
        .collect();
    assert_eq!(kinds, ["plan_ending", "grace_ending"]);
    let bodies: Vec<String> =
        sqlx::query_scalar("SELECT body FROM notices WHERE account_id = $1 ORDER BY id")
            .bind(account)
            .fetch_all(app.state.db.reader())
            .await
            .unwrap();
    let day = studio_billing::domain::zone::Zone::utc().long_date(s.period_end);
    assert!(
        bodies[0].contains(&format!("it ends on {day}")),
        "{}",
        bodies[0]
    );
    app.cleanup().await;
}

async fn only_the_customer_sets_their_notices_and_support_sees_what_went(backend: Backend) {
    let app = TestApp::start(backend).await;
    seed::demo(&app.state).await.unwrap();
    let (session, account) = starter_customer(&app, "who@example.com").await;
    // Signed out: refused, nothing saved.
    let res = call(&app, "subscription/notices", None, &[("usage_50", "on")]).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    // Support staff have no notices of their own to set.
    let support = sign_in(&app, seed::DEMO_SUPPORT_EMAIL, seed::DEMO_PASSWORD).await;
    let res = call(
        &app,
        "subscription/notices",
        Some(&support),
        &[("usage_50", "on")],
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notice_settings")
        .fetch_one(app.state.db.reader())
        .await
        .unwrap();
    assert_eq!(n, 0);
    // The customer's own: nothing ticked is everything off but payment failures.
    let res = call(&app, "subscription/notices", Some(&session), &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json(), "Your notice settings are saved.");
    let saved = notices::settings(&app.state, account).await.unwrap();
    assert!(!saved.low_balance && !saved.plan_ending && saved.usage == [false; 3]);

    // Support's console lists the outbox (in demo mode without SMTP it is where notices
    // are read), and sending in demo mode writes them to the log.
    spend(&app, account, 950).await;
    notices::sweep(&app.state).await.unwrap();
    let page = app
        .get_with(
            "/support",
            &[
                ("cookie", &format!("sb_session={support}")),
                ("accept", "text/html"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(r#"data-testid="notices""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("Your credits are running low"));
    assert!(page.body.contains("skipped: turned off by the customer"));
    app.cleanup().await;
}

async fn a_claim_that_ran_out_is_another_senders_and_demo_mode_logs(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (session, account) = starter_customer(&app, "claims@example.com").await;
    choose(&app, &session, &["usage_50"]).await;
    spend(&app, account, 500).await;
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 1);
    // A sender claims it and stops (it never sends nor marks it).
    let db = &app.state.db;
    let now = app.state.clock.wall();
    let stalled = outbox_db::claim_due(db, "stalled", now, now + 300, 5)
        .await
        .unwrap();
    assert_eq!(stalled.len(), 1);
    let id = stalled[0].id;
    // Nobody else takes it while the claim holds.
    let sink = Sink::start(0).await;
    let run = notices::deliver(&app.state, &sink.mailer(), "other")
        .await
        .unwrap();
    assert_eq!(run, NoticesRun::default());
    assert!(sink.messages().is_empty());
    // Once it ran out, another sender sends it, and the first cannot mark it any more.
    app.state.clock.pass_real_time(301);
    let run = notices::deliver(&app.state, &sink.mailer(), "other")
        .await
        .unwrap();
    assert_eq!(run.sent, 1, "{run:?}");
    assert_eq!(sink.messages().len(), 1);
    let wall = app.state.clock.wall();
    assert!(!outbox_db::mark_sent(db, id, "stalled", wall).await.unwrap());
    assert!(
        !outbox_db::renew_claim(db, id, "stalled", wall, wall + 300)
            .await
            .unwrap()
    );

    // Demo mode without SMTP: the log is where notices go; each is sent once there too.
    spend(&app, account, 400).await;
    choose(&app, &session, &["usage_50", "usage_80"]).await;
    assert_eq!(notices::sweep(&app.state).await.unwrap(), 1);
    let log = Mailer::new(&app.state.config.mail).unwrap();
    assert_eq!(log.name(), "log");
    let run = notices::deliver(&app.state, &log, "demo").await.unwrap();
    assert_eq!((run.sent, run.failed), (1, 0));
    let run = notices::deliver(&app.state, &log, "demo").await.unwrap();
    assert_eq!(run, NoticesRun::default());
    let states: Vec<String> = outbox(&app, account)
        .await
        .into_iter()
        .map(|(_, status, ..)| status)
        .collect();
    assert_eq!(states, ["sent", "sent"]);
    app.cleanup().await;
}

on_both_backends!(
    a_claim_that_ran_out_is_another_senders_and_demo_mode_logs,
    usage_alerts_and_a_low_balance_go_once_each_from_two_instances,
    a_new_period_can_alert_again,
    plans_and_grace_periods_about_to_end_are_told_once,
    only_the_customer_sets_their_notices_and_support_sees_what_went,
);
