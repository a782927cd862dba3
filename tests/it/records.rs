//! Your records (P18), on SQLite and PostgreSQL through the real router: the generations
//! and payments CSV files hold the ledger's own figures (checked against the journal and
//! the holds), only the customer's own, for the days asked in the reader's time zone,
//! every row once across the pages they are read in; a stranger is sent to sign in and
//! days that cannot be read are refused with what to write instead.

use crate::common;

use axum::http::StatusCode;
use common::{Backend, TEST_NOW, TestApp, account_of, sign_in, sign_up, subscribe_locally};
use studio_billing::domain::credits::Credits;
use studio_billing::domain::ledger::GrantKind;
use studio_billing::domain::pricing::Operation;
use studio_billing::domain::records::{GENERATIONS_HEADER, PAYMENTS_HEADER};
use studio_billing::server::db::ledger::{self, NewGrant, NewHold};
use studio_billing::server::seed;

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// TEST_NOW's day, 1 June 2026 (UTC).
const TODAY: &str = "2026-06-01";

fn c(n: u64) -> Credits {
    Credits::new(n).unwrap()
}

async fn give(app: &TestApp, account: i64, kind: GrantKind, amount: u64, at: i64) {
    let grant = NewGrant {
        kind,
        amount: c(amount),
        expires_at: (kind == GrantKind::Subscription).then_some(TEST_NOW + 30 * DAY),
        reason: "test".into(),
        actor: None,
    };
    ledger::grant(&app.state.db, account, grant, None, at)
        .await
        .unwrap();
}

async fn reserve(app: &TestApp, account: i64, amount: u64, at: i64) -> i64 {
    let hold = NewHold {
        operation: Operation::VoiceGeneration,
        quantity: amount,
        estimate: c(amount),
        amount: c(amount),
        expires_at: at + 600,
    };
    ledger::reserve(&app.state.db, account, hold, None, at)
        .await
        .unwrap()
        .hold_id
}

async fn download(app: &TestApp, path: &str, cookie: Option<&str>) -> common::TestResponse {
    match cookie {
        Some(cookie) => app.get_with(path, &[("cookie", cookie)]).await,
        None => app.get(path).await,
    }
}

/// The rows of a CSV file as fields (none of these rows has a quoted field).
fn rows(csv: &str) -> Vec<Vec<String>> {
    assert!(csv.ends_with("\r\n"), "lines end with CRLF");
    csv.split_terminator("\r\n")
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

async fn generations_hold_the_ledgers_own_figures_for_the_days_asked(backend: Backend) {
    let app = TestApp::start(backend).await;
    let session = sign_up(&app, "records@example.com").await;
    let cookie = format!("sb_session={session}");
    let account = account_of(&app, "records@example.com").await;
    give(&app, account, GrantKind::Subscription, 30, TEST_NOW - DAY).await;
    give(&app, account, GrantKind::Topup, 100, TEST_NOW - DAY).await;
    // The day before, to its last second: not asked for. Its first second: asked for.
    let before = reserve(&app, account, 3, TEST_NOW - 1).await;
    let midnight = reserve(&app, account, 2, TEST_NOW).await;
    // The next day's first second: not asked for.
    let after = reserve(&app, account, 4, TEST_NOW + DAY).await;
    // Charged 50 (30 plan credits, then 20 top-up), 25 of it credited back.
    let charged = reserve(&app, account, 50, TEST_NOW + HOUR).await;
    let actual = ledger::Actual {
        quantity: 50,
        cost: c(50),
        tolerance_percent: 0,
    };
    ledger::capture(
        &app.state.db,
        charged,
        Some(account),
        actual,
        None,
        TEST_NOW + HOUR + 5,
    )
    .await
    .unwrap();
    ledger::refund(
        &app.state.db,
        charged,
        Some(account),
        c(25),
        "voice failed",
        None,
        TEST_NOW + 2 * HOUR,
    )
    .await
    .unwrap();
    let released = reserve(&app, account, 10, TEST_NOW + 3 * HOUR).await;
    ledger::release(
        &app.state.db,
        released,
        Some(account),
        None,
        TEST_NOW + 3 * HOUR + 5,
    )
    .await
    .unwrap();
    let open = reserve(&app, account, 5, TEST_NOW + 4 * HOUR).await;
    // Another customer's generation that day: never in this file.
    sign_up(&app, "other@example.com").await;
    let other = account_of(&app, "other@example.com").await;
    give(&app, other, GrantKind::Topup, 10, TEST_NOW).await;
    reserve(&app, other, 7, TEST_NOW + HOUR).await;

    let res = download(
        &app,
        &format!("/records/generations.csv?from={TODAY}&to={TODAY}"),
        Some(&cookie),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        res.header("content-disposition"),
        "attachment; filename=\"studio-generations-2026-06-01-to-2026-06-01.csv\""
    );
    assert_eq!(
        res.header("cache-control"),
        "no-store",
        "a customer's records"
    );
    let rows = rows(&res.body);
    assert_eq!(format!("{}\r\n", rows[0].join(",")), GENERATIONS_HEADER);
    let (header, lines) = (&rows[0], &rows[1..]);
    let col = |name| column(header, name);
    let receipts: Vec<i64> = lines
        .iter()
        .map(|l| l[col("receipt")].parse().unwrap())
        .collect();
    assert_eq!(
        receipts,
        vec![midnight, charged, released, open],
        "the day's, in time order"
    );
    assert!(!receipts.contains(&before) && !receipts.contains(&after));

    let line = |id: i64| &lines[receipts.iter().position(|r| *r == id).unwrap()];
    let a = line(charged);
    assert_eq!(a[col("status")], "captured");
    assert_eq!(a[col("operation")], Operation::VoiceGeneration.key());
    assert_eq!(a[col("started_at")], "2026-06-01T01:00:00Z");
    assert_eq!(a[col("settled_at")], "2026-06-01T01:00:05Z");
    assert_eq!(
        [
            col("estimate"),
            col("held"),
            col("charged"),
            col("credited_back")
        ]
        .map(|i| a[i].as_str()),
        ["50", "50", "50", "25"]
    );
    assert_eq!(
        [
            col("paid_from_subscription_credits"),
            col("paid_from_top_up_credits"),
            col("paid_from_adjustment_credits"),
        ]
        .map(|i| a[i].as_str()),
        ["30", "20", "0"]
    );
    assert_eq!(line(released)[col("status")], "released");
    assert_eq!(line(released)[col("charged")], "0");
    assert_eq!(line(open)[col("status")], "held");
    assert_eq!(line(open)[col("settled_at")], "");

    // Compressed, as a browser asks for it: the whole file comes (the compression layer
    // reads the stream to its end and then once more).
    let gzip = app
        .get_with(
            &format!("/records/generations.csv?from={TODAY}&to={TODAY}"),
            &[("cookie", &cookie), ("accept-encoding", "gzip")],
        )
        .await;
    assert_eq!(gzip.status, StatusCode::OK);
    assert_eq!(gzip.header("content-encoding"), "gzip");
    let mut unpacked = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&gzip.bytes[..]),
        &mut unpacked,
    )
    .expect("a whole gzip stream");
    assert_eq!(unpacked, res.body, "the same file, compressed");

    // Against the journal: what each generation cost the balance is what the file says it
    // was charged less what came back.
    for (id, l) in receipts.iter().zip(lines) {
        let cost: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM journal WHERE hold_id = $1",
        )
        .bind(id)
        .fetch_one(app.state.db.reader())
        .await
        .unwrap();
        let charged: i64 = l[col("charged")].parse().unwrap();
        let back: i64 = l[col("credited_back")].parse().unwrap();
        assert_eq!(-cost, charged - back, "receipt {id}");
    }
    app.cleanup().await;
}

/// The days are the reader's: 00:30 on 1 June in Berlin is still 31 May in UTC.
async fn the_days_and_times_are_the_readers_time_zones(backend: Backend) {
    let app = TestApp::start(backend).await;
    let session = sign_up(&app, "zoned@example.com").await;
    let account = account_of(&app, "zoned@example.com").await;
    give(&app, account, GrantKind::Topup, 100, TEST_NOW - DAY).await;
    let early = reserve(&app, account, 5, TEST_NOW - HOUR - HOUR / 2).await;
    let path = format!("/records/generations.csv?from={TODAY}&to={TODAY}");

    let berlin = download(
        &app,
        &path,
        Some(&format!("sb_session={session}; studio_tz=Europe/Berlin")),
    )
    .await;
    let rows = rows(&berlin.body);
    assert_eq!(rows.len(), 2, "{}", berlin.body);
    assert_eq!(rows[1][0], early.to_string());
    assert_eq!(rows[1][1], "2026-06-01T00:30:00+02:00");

    let utc = download(&app, &path, Some(&format!("sb_session={session}"))).await;
    assert_eq!(
        utc.body, GENERATIONS_HEADER,
        "31 May in UTC: only the header"
    );
    // What the form sends with both days left empty: everything.
    let all = download(
        &app,
        "/records/generations.csv?from=&to=",
        Some(&format!("sb_session={session}")),
    )
    .await;
    assert_eq!(all.body.matches("\r\n").count(), 2, "{}", all.body);
    app.cleanup().await;
}

/// More rows than one page (`services::records::PAGE`), many at the same second: each
/// comes once, in order.
async fn a_long_file_has_every_row_once_across_its_pages(backend: Backend) {
    let app = TestApp::start(backend).await;
    let session = sign_up(&app, "many@example.com").await;
    let account = account_of(&app, "many@example.com").await;
    give(&app, account, GrantKind::Topup, 5_000, TEST_NOW - DAY).await;
    let n = 2 * studio_billing::server::services::records::PAGE as usize + 3;
    let mut made = Vec::with_capacity(n);
    for i in 0..n {
        // Seven different seconds, out of order: ties broken by the receipt number.
        made.push((
            TEST_NOW + ((i * 3) % 7) as i64,
            reserve(&app, account, 1, TEST_NOW + ((i * 3) % 7) as i64).await,
        ));
    }
    made.sort();
    let res = download(
        &app,
        "/records/generations.csv",
        Some(&format!("sb_session={session}")),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let rows = rows(&res.body);
    let got: Vec<i64> = rows[1..].iter().map(|l| l[0].parse().unwrap()).collect();
    let expected: Vec<i64> = made.iter().map(|(_, id)| *id).collect();
    assert_eq!(got.len(), n);
    assert_eq!(got, expected);
    app.cleanup().await;
}

async fn payments_are_the_customers_own(backend: Backend) {
    let app = TestApp::start(backend).await;
    let session = sign_up(&app, "payer@example.com").await;
    let cookie = format!("sb_session={session}");
    subscribe_locally(&app, &session, "creator").await;
    let other = sign_up(&app, "stranger@example.com").await;
    subscribe_locally(&app, &other, "creator").await;

    let res = download(&app, "/records/payments.csv", Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        res.header("content-disposition"),
        "attachment; filename=\"studio-payments-start-to-now.csv\""
    );
    let rows = rows(&res.body);
    assert_eq!(format!("{}\r\n", rows[0].join(",")), PAYMENTS_HEADER);
    assert_eq!(
        rows.len(),
        2,
        "one payment, not the stranger's: {}",
        res.body
    );
    let (header, line) = (&rows[0], &rows[1]);
    let col = |name| column(header, name);
    let account = account_of(&app, "payer@example.com").await;
    let (id, cents, credits): (i64, i64, i64) =
        sqlx::query_as("SELECT id, amount_cents, credits FROM payments WHERE account_id = $1")
            .bind(account)
            .fetch_one(app.state.db.reader())
            .await
            .unwrap();
    assert_eq!(line[col("payment")], id.to_string());
    assert_eq!(line[col("kind")], "subscription");
    assert_eq!(line[col("status")], "paid");
    assert_eq!(line[col("paid_through")], "local");
    assert_eq!(line[col("credits")], credits.to_string());
    assert_eq!(
        line[col("amount")],
        format!("{}.{:02}", cents / 100, cents % 100)
    );
    assert_eq!(line[col("currency")], "USD");
    assert_eq!(line[col("refund")], "");
    app.cleanup().await;
}

async fn a_stranger_support_or_unreadable_days_get_no_file(backend: Backend) {
    let app = TestApp::start(backend).await;
    // The demo's support user (seeding wants an empty database: first).
    seed::demo(&app.state).await.unwrap();
    let res = download(&app, "/records/generations.csv", None).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), "/sign-in");

    let session = sign_up(&app, "dates@example.com").await;
    let cookie = format!("sb_session={session}");
    for (query, says) in [
        (
            "from=01%2F06%2F2026",
            "“01/06/2026” is not a date. Write the first date as YYYY-MM-DD",
        ),
        (
            "to=2026-02-30",
            "“2026-02-30” is not a date. Write the last date as YYYY-MM-DD",
        ),
        (
            "from=2026-06-02&to=2026-06-01",
            "The first day (2026-06-02) is after the last day (2026-06-01).",
        ),
    ] {
        let res = download(
            &app,
            &format!("/records/payments.csv?{query}"),
            Some(&cookie),
        )
        .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            res.header("content-type").starts_with("text/plain"),
            "{query}"
        );
        assert!(res.body.contains(says), "{query}: {}", res.body);
        assert!(
            res.headers.get("content-disposition").is_none(),
            "{query}: no file"
        );
    }

    let support = sign_in(&app, seed::DEMO_SUPPORT_EMAIL, seed::DEMO_PASSWORD).await;
    let res = download(
        &app,
        "/records/generations.csv",
        Some(&format!("sb_session={support}")),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("no records to download"), "{}", res.body);

    // A database that cannot answer: an error page, not a file that fails, and no
    // database text.
    app.state.db.close().await;
    let res = download(&app, "/records/payments.csv", Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(res.headers.get("content-disposition").is_none(), "no file");
    assert!(!res.body.to_lowercase().contains("pool"), "{}", res.body);
    app.cleanup().await;
}

on_both_backends!(
    generations_hold_the_ledgers_own_figures_for_the_days_asked,
    the_days_and_times_are_the_readers_time_zones,
    a_long_file_has_every_row_once_across_its_pages,
    payments_are_the_customers_own,
    a_stranger_support_or_unreadable_days_get_no_file,
);
