//! How many database statements a page costs (issue 15): counted, never timed. Each
//! page's budget is what it needs today; a statement added to a page fails here until it
//! is shown to be needed and the budget raised with the reason.
//!
//! The count is of sqlx's own record of every statement it runs (`sqlx::query` events),
//! taken by a subscriber for this whole process: this file holds one test, so no other
//! test's statements are counted.

mod common;

use axum::http::Method;
use common::{Backend, TestApp, call, session_of};
use std::sync::atomic::{AtomicUsize, Ordering};
use studio_billing::server::seed;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

static STATEMENTS: AtomicUsize = AtomicUsize::new(0);

struct CountStatements;

impl<S: tracing::Subscriber> Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            STATEMENTS.fetch_add(1, Ordering::SeqCst);
            // `SHOW_STATEMENTS=1 cargo test --test page_queries -- --nocapture` lists them.
            if std::env::var_os("SHOW_STATEMENTS").is_some() {
                struct Summary;
                impl tracing::field::Visit for Summary {
                    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                        if f.name() == "db.statement" {
                            eprintln!(
                                "  {}",
                                format!("{v:?}")
                                    .split_whitespace()
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            );
                        }
                    }
                }
                event.record(&mut Summary);
            }
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
    let signed_in = call(
        &app,
        "auth/sign_in",
        None,
        &[
            ("email", seed::DEMO_CUSTOMER_EMAIL),
            ("password", seed::DEMO_PASSWORD),
        ],
    )
    .await;
    let session = format!("sb_session={}", session_of(&signed_in).unwrap());

    // The FAQ is made at start-up: a reader nobody signed in costs nothing.
    let (n, page) = statements_for(&app, "/faq", "").await;
    assert!(page.contains("Credits &amp; Billing FAQ"));
    assert_eq!(n, 0, "/faq, nobody signed in");
    // Signed in, the header names who: the session, read once.
    let (n, _) = statements_for(&app, "/faq", &session).await;
    assert_eq!(n, 1, "/faq, signed in: the session");

    // The Subscription page asks three server functions (the header's viewer, the
    // overview, the plan), which share one read of the session.
    let (n, page) = statements_for(&app, "/subscription", &session).await;
    assert!(page.contains("Where your credits went"));
    assert!(n <= BUDGET_SUBSCRIPTION, "/subscription ran {n} statements");
    eprintln!("{backend:?}: /subscription ran {n} statements");
    app.cleanup().await;
}

/// The session (1), the balance and its renewal, the usage by day, the receipts, the
/// payments, the plan and what each change would mean.
const BUDGET_SUBSCRIPTION: usize = 20;

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
