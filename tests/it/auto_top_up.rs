//! Automatic top-ups (P16), the decision, on SQLite and PostgreSQL: however many reserves
//! cross the threshold at once, one automatic top-up is started; one per crossing (a
//! failed one is not tried again until the balance has risen and fallen again); the
//! month's cap, counted in the customer's own month, is never passed, racing or not; off,
//! without a card, or stopped, none. (Charging the card and its webhook are not built
//! yet: these tests settle each one by hand, as that webhook will.)

use crate::common;
use common::{Backend, TEST_NOW, TestApp, account_of, sign_up};
use studio_billing::domain::auto_top_up::{AutoTopUpSettings, Skip};
use studio_billing::domain::credits::Credits;
use studio_billing::domain::ledger::GrantKind;
use studio_billing::domain::pricing::Operation;
use studio_billing::server::db::auto_top_up as store;
use studio_billing::server::db::ledger::{self, NewGrant, NewHold};
use studio_billing::server::services::auto_top_up::{Considered, consider};

fn c(n: u64) -> Credits {
    Credits::new(n).unwrap()
}

/// A customer with `credits` top-up credits and automatic top-ups of the small pack
/// (500 credits, $5) below 500 credits, capped at `cap_cents` a month, with a saved card.
async fn customer(app: &TestApp, email: &str, credits: u64, cap_cents: u64) -> i64 {
    sign_up(app, email).await;
    let account = account_of(app, email).await;
    give(app, account, credits).await;
    let settings = AutoTopUpSettings {
        enabled: true,
        threshold: 500,
        pack: "small".into(),
        monthly_cap_cents: cap_cents,
    };
    let db = &app.state.db;
    store::save_settings(db, account, &settings, TEST_NOW)
        .await
        .unwrap();
    assert!(
        store::save_card(db, account, "pm_card_visa", "Visa ending 4242", TEST_NOW)
            .await
            .unwrap()
    );
    account
}

async fn give(app: &TestApp, account: i64, credits: u64) {
    let grant = NewGrant {
        kind: GrantKind::Topup,
        amount: c(credits),
        expires_at: None,
        reason: "test".into(),
        actor: None,
    };
    ledger::grant(&app.state.db, account, grant, None, app.state.clock.now())
        .await
        .unwrap();
}

async fn reserve(app: &TestApp, account: i64, credits: u64) {
    let now = app.state.clock.now();
    let hold = NewHold {
        operation: Operation::VoiceGeneration,
        quantity: credits,
        estimate: c(credits),
        amount: c(credits),
        expires_at: now + 600,
    };
    ledger::reserve(&app.state.db, account, hold, None, now)
        .await
        .unwrap();
}

/// Settles the account's automatic top-up being charged as its webhook will: `paid`
/// grants its credits.
async fn settle(app: &TestApp, account: i64, paid: bool) {
    let status = if paid { "succeeded" } else { "failed" };
    let n = sqlx::query(
        "UPDATE auto_top_ups SET status = $1 WHERE account_id = $2 AND status = 'charging'",
    )
    .bind(status)
    .bind(account)
    .execute(app.state.db.writer())
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(n, 1, "one being charged");
    if paid {
        give(app, account, 500).await;
    }
}

async fn statuses(app: &TestApp, account: i64) -> Vec<String> {
    let mut rows = store::attempts(&app.state.db, account, 100).await.unwrap();
    rows.reverse();
    rows.into_iter().map(|r| r.status).collect()
}

async fn p16_twenty_reserves_crossing_at_once_start_one(backend: Backend) {
    let app = TestApp::start(backend).await;
    let account = customer(&app, "twenty@example.com", 600, 5_000).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let app_state = app.state.clone();
        tasks.push(tokio::spawn(async move {
            let now = app_state.clock.now();
            let hold = NewHold {
                operation: Operation::VoiceGeneration,
                quantity: 10,
                estimate: c(10),
                amount: c(10),
                expires_at: now + 600,
            };
            ledger::reserve(&app_state.db, account, hold, None, now)
                .await
                .unwrap();
            consider(&app_state, account).await.unwrap()
        }));
    }
    let mut started = 0;
    for t in tasks {
        match t.await.unwrap() {
            Considered::Started(_) => started += 1,
            Considered::Skipped(Skip::AboveThreshold | Skip::Running) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(started, 1, "one for the crossing");
    assert_eq!(statuses(&app, account).await, ["charging"]);
    app.cleanup().await;
}

async fn p16_one_per_crossing_and_a_failure_waits_for_the_next(backend: Backend) {
    let app = TestApp::start(backend).await;
    let account = customer(&app, "crossing@example.com", 600, 5_000).await;
    assert_eq!(
        consider_now(&app, account).await,
        Considered::Skipped(Skip::AboveThreshold)
    );
    reserve(&app, account, 150).await;
    assert!(matches!(
        consider_now(&app, account).await,
        Considered::Started(_)
    ));
    // It fails: still below, but the same crossing: no second try.
    settle(&app, account, false).await;
    reserve(&app, account, 10).await;
    assert_eq!(
        consider_now(&app, account).await,
        Considered::Skipped(Skip::SameCrossing)
    );
    // The balance rises above the threshold (a top-up bought by hand) and falls again: a
    // new crossing.
    give(&app, account, 500).await;
    reserve(&app, account, 600).await;
    assert!(matches!(
        consider_now(&app, account).await,
        Considered::Started(_)
    ));
    assert_eq!(statuses(&app, account).await, ["failed", "charging"]);
    app.cleanup().await;
}

/// `consider` for `app`'s state, unwrapped.
async fn consider_now(app: &TestApp, account: i64) -> Considered {
    consider(&app.state, account).await.unwrap()
}

async fn p16_the_cap_is_never_passed_and_a_new_month_starts_afresh(backend: Backend) {
    let app = TestApp::start(backend).await;
    // A $10 cap: two $5 packs a month.
    let account = customer(&app, "cap@example.com", 600, 1_000).await;
    reserve(&app, account, 150).await;
    for _ in 0..2 {
        assert!(matches!(
            consider_now(&app, account).await,
            Considered::Started(_)
        ));
        // Paid (950 available), then below the threshold again (450).
        settle(&app, account, true).await;
        reserve(&app, account, 500).await;
    }
    // The third would pass it, however many race for it.
    let mut racers = Vec::new();
    for _ in 0..10 {
        let state = app.state.clone();
        racers.push(tokio::spawn(async move {
            consider(&state, account).await.unwrap()
        }));
    }
    for r in racers {
        assert_eq!(r.await.unwrap(), Considered::Skipped(Skip::Cap));
    }
    assert_eq!(statuses(&app, account).await, ["succeeded", "succeeded"]);
    // The customer's next month (UTC here: no zone chosen) has its own cap.
    let next_month = studio_billing::domain::auto_top_up::month_start(
        &studio_billing::domain::zone::Zone::utc(),
        app.state.clock.now() + 32 * 86_400,
    );
    app.state
        .clock
        .advance(next_month - app.state.clock.now() + 60);
    assert!(matches!(
        consider_now(&app, account).await,
        Considered::Started(_)
    ));
    app.cleanup().await;
}

async fn p16_none_when_off_without_a_card_or_never_set(backend: Backend) {
    let app = TestApp::start(backend).await;
    sign_up(&app, "unset@example.com").await;
    let unset = account_of(&app, "unset@example.com").await;
    assert_eq!(consider_now(&app, unset).await, Considered::NotSet);

    let account = customer(&app, "off@example.com", 600, 5_000).await;
    reserve(&app, account, 150).await;
    let off = AutoTopUpSettings {
        enabled: false,
        threshold: 500,
        pack: "small".into(),
        monthly_cap_cents: 5_000,
    };
    let db = &app.state.db;
    store::save_settings(db, account, &off, TEST_NOW)
        .await
        .unwrap();
    assert_eq!(
        consider_now(&app, account).await,
        Considered::Skipped(Skip::Off)
    );

    sign_up(&app, "cardless@example.com").await;
    let cardless = account_of(&app, "cardless@example.com").await;
    give(&app, cardless, 100).await;
    let on = AutoTopUpSettings {
        enabled: true,
        ..off
    };
    store::save_settings(db, cardless, &on, TEST_NOW)
        .await
        .unwrap();
    assert_eq!(
        consider_now(&app, cardless).await,
        Considered::Skipped(Skip::NoCard)
    );
    assert!(statuses(&app, account).await.is_empty());
    assert!(statuses(&app, cardless).await.is_empty());
    app.cleanup().await;
}

on_both_backends!(
    p16_twenty_reserves_crossing_at_once_start_one,
    p16_one_per_crossing_and_a_failure_waits_for_the_next,
    p16_the_cap_is_never_passed_and_a_new_month_starts_afresh,
    p16_none_when_off_without_a_card_or_never_set,
);
