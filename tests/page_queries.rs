//! How many database statements a page costs (issue 15): counted, never timed. Each
//! page's budget is what it needs today; a statement added to a page fails here until it
//! is shown to be needed and the budget raised with the reason.
//!
//! The count is of sqlx's own record of every statement it runs (`sqlx::query` events),
//! taken by a subscriber for this whole process: this file holds one test, so no other
//! test's statements are counted.

mod common;

use axum::http::Method;
use common::{Backend, TestApp};
use std::sync::atomic::{AtomicUsize, Ordering};
use studio_billing::server::seed;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

static STATEMENTS: AtomicUsize = AtomicUsize::new(0);

struct CountStatements;

impl<S: tracing::Subscriber> Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        /// The statement's text, as sqlx records it.
        #[derive(Default)]
        struct Statement(String);
        impl tracing::field::Visit for Statement {
            fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
                if f.name() == "db.statement" {
                    self.0 = v.to_owned();
                }
            }
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "db.statement" {
                    self.0 = format!("{v:?}").trim_matches('"').to_owned();
                }
            }
        }
        let mut statement = Statement::default();
        event.record(&mut statement);
        let sql = statement.0.replace("\\n", " ");
        // Not the page's: the pool's own checks on a connection it hands out (no SQL), and
        // the set-up of a SQLite connection it opens (its pragmas), which a page can meet
        // whenever the pool grows.
        if sql.trim().is_empty() || sql.trim_start().starts_with("PRAGMA") {
            return;
        }
        STATEMENTS.fetch_add(1, Ordering::SeqCst);
        // `SHOW_STATEMENTS=1 cargo test --test page_queries -- --nocapture` lists them.
        if std::env::var_os("SHOW_STATEMENTS").is_some() {
            eprintln!("  {}", sql.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
}

/// The statements run to answer `GET path` with `cookie`, and the page.
async fn statements_for(app: &TestApp, path: &str, cookie: &str) -> (usize, String) {
    let before = STATEMENTS.load(Ordering::SeqCst);
    let res = app
        .call(
            Method::GET,
            path,
            &[("accept", "text/html"), ("cookie", cookie)],
            None,
        )
        .await;
    assert_eq!(res.status, axum::http::StatusCode::OK, "{path}");
    (STATEMENTS.load(Ordering::SeqCst) - before, res.body)
}

async fn pages_run_only_the_statements_they_need(backend: Backend) {
    let app = TestApp::start(backend).await;
    seed::demo(&app.state).await.unwrap();
    let token = common::sign_in(&app, seed::DEMO_CUSTOMER_EMAIL, seed::DEMO_PASSWORD).await;
    let session = format!("sb_session={token}");

    // The FAQ is made at start-up: a reader nobody signed in costs nothing.
    let (n, page) = statements_for(&app, "/faq", "").await;
    assert!(page.contains("Credits &amp; Billing FAQ"));
    assert_eq!(n, 0, "/faq, nobody signed in");
    // Signed in, the header names who: the session, read once.
    let (n, _) = statements_for(&app, "/faq", &session).await;
    assert_eq!(n, 1, "/faq, signed in: the session");

    // The Subscription page asks two server functions (the header's viewer, the page),
    // which share one read of the session.
    let (n, page) = statements_for(&app, "/subscription", &session).await;
    assert!(page.contains("Where your credits went"));
    assert_eq!(n, SUBSCRIPTION, "/subscription on {backend:?}");
    app.cleanup().await;
}

/// What `/subscription` runs, on either backend: the session (1); the overview: the
/// balance (the account's hold and renewal with its grants: 1), the subscription (1), the
/// usage by day (1), the receipts (the holds with what paid for them: 1; the reasons of
/// what came back, which the demo customer's page has: 1), the payments (1), what the
/// customer wants to be told (1: the Notices section and P17's usage banner, issue 16),
/// what they set for automatic top-ups (1, P16: the demo customer set nothing, so no
/// more; a customer who did adds their month's spending, zone and last one). The plans
/// section is worked out from the same read of the subscription.
const SUBSCRIPTION: usize = 9;

#[test]
fn pages_run_only_the_statements_they_need_on_both_backends() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(CountStatements))
        .expect("the only subscriber in this process");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        runtime.block_on(pages_run_only_the_statements_they_need(backend));
    }
}
