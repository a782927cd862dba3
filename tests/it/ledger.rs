//! The ledger through real storage, on SQLite and PostgreSQL: the policy rules it enforces
//! (P2-P5, P8, P10), bad requests, idempotency and concurrency.

use crate::common;

use common::{Backend, TestDb};
use std::sync::Arc;
use studio_billing::domain::credits::Credits;
use studio_billing::domain::ledger::GrantKind;
use studio_billing::domain::pricing::Operation;
use studio_billing::server::db::Db;
use studio_billing::server::db::ledger::{self, Idempotency, LedgerError, NewGrant, NewHold};

const T0: i64 = 1_780_000_000;
const DAY: i64 = 86_400;
/// The capture tolerance of the default configuration (P2).
const TOLERANCE: u32 = 10;

/// A job that produced `quantity` units costing `cost`, captured with `tolerance_percent`.
fn produced(quantity: u64, cost: u64, tolerance_percent: u32) -> ledger::Actual {
    ledger::Actual {
        quantity,
        cost: c(cost),
        tolerance_percent,
    }
}

fn c(n: u64) -> Credits {
    Credits::new(n).unwrap()
}

async fn account(db: &Db, email: &str) -> i64 {
    ledger::create_account(db, email, T0).await.unwrap()
}

async fn give(
    db: &Db,
    account: i64,
    kind: GrantKind,
    amount: u64,
    expires_at: Option<i64>,
    now: i64,
) -> i64 {
    let g = NewGrant {
        kind,
        amount: c(amount),
        expires_at,
        reason: "test".into(),
        actor: None,
    };
    ledger::grant(db, account, g, None, now)
        .await
        .unwrap()
        .grant_id
}

fn hold(amount: u64, now: i64) -> NewHold {
    NewHold {
        operation: Operation::VoiceGeneration,
        quantity: amount,
        estimate: c(amount),
        amount: c(amount),
        expires_at: now + 600,
    }
}

async fn assert_consistent(db: &Db) {
    let problems = ledger::verify(db).await.unwrap();
    assert!(problems.is_empty(), "ledger verify found: {problems:?}");
}

async fn p2_capture_charges_the_actual_cost_and_frees_the_rest(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "p2@test").await;
    give(&t.db, a, GrantKind::Topup, 100, None, T0).await;
    let h = ledger::reserve(&t.db, a, hold(30, T0), None, T0)
        .await
        .unwrap();
    assert_eq!(
        ledger::balance(&t.db, a, T0).await.unwrap().available,
        c(70)
    );
    let r = ledger::capture(
        &t.db,
        h.hold_id,
        Some(a),
        produced(24, 24, TOLERANCE),
        None,
        T0 + 5,
    )
    .await
    .unwrap();
    assert_eq!((r.charged, r.released, r.shortfall), (c(24), c(6), c(0)));
    let b = ledger::balance(&t.db, a, T0 + 5).await.unwrap();
    assert_eq!((b.total, b.held, b.available), (c(76), c(0), c(76)));

    // Above the hold: the extra is taken within the tolerance (10% of 10 = 1).
    let h = ledger::reserve(&t.db, a, hold(10, T0), None, T0)
        .await
        .unwrap();
    let r = ledger::capture(
        &t.db,
        h.hold_id,
        Some(a),
        produced(11, 11, TOLERANCE),
        None,
        T0 + 5,
    )
    .await
    .unwrap();
    assert_eq!(
        (r.charged, r.released, r.shortfall, r.over_limit),
        (c(11), c(0), c(0), c(0))
    );
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

/// Issue 12: a 1-credit hold captured at a huge cost took the whole balance.
async fn p2_a_capture_charges_at_most_the_hold_plus_the_tolerance(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "capped@test").await;
    give(&t.db, a, GrantKind::Topup, 5_000, None, T0).await;
    let h = ledger::reserve(&t.db, a, hold(1, T0), None, T0)
        .await
        .unwrap();
    let r = ledger::capture(
        &t.db,
        h.hold_id,
        Some(a),
        produced(4_000_000, 4_000, TOLERANCE),
        None,
        T0 + 5,
    )
    .await
    .unwrap();
    assert_eq!(
        (r.actual_cost, r.charged, r.over_limit, r.shortfall),
        (c(4_000), c(2), c(3_998), c(0)),
        "1 + 10% rounded up is the most"
    );
    assert_eq!(
        ledger::balance(&t.db, a, T0 + 5).await.unwrap().total,
        c(4_998)
    );
    let stored: Option<i64> = sqlx::query_scalar("SELECT over_limit FROM holds WHERE id = $1")
        .bind(h.hold_id)
        .fetch_one(t.db.reader())
        .await
        .unwrap();
    assert_eq!(stored, Some(3_998));
    let entry = ledger::journal(&t.db, a, None, 1).await.unwrap().remove(0);
    let detail: serde_json::Value =
        serde_json::from_str(entry.detail.as_deref().unwrap_or("{}")).unwrap();
    assert_eq!(detail["over_limit"], 3_998, "{detail}");
    // No tolerance: never more than the hold.
    let h = ledger::reserve(&t.db, a, hold(30, T0), None, T0)
        .await
        .unwrap();
    let r = ledger::capture(&t.db, h.hold_id, Some(a), produced(31, 31, 0), None, T0 + 5)
        .await
        .unwrap();
    assert_eq!((r.charged, r.over_limit), (c(30), c(1)));
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

async fn capture_beyond_the_balance_charges_what_it_can_and_never_goes_negative(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "short@test").await;
    give(&t.db, a, GrantKind::Topup, 50, None, T0).await;
    let other = ledger::reserve(&t.db, a, hold(20, T0), None, T0)
        .await
        .unwrap();
    let h = ledger::reserve(&t.db, a, hold(20, T0), None, T0)
        .await
        .unwrap();
    // A tolerance that lets the whole cost through, so only the balance limits it.
    let r = ledger::capture(&t.db, h.hold_id, Some(a), produced(45, 45, 150), None, T0)
        .await
        .unwrap();
    assert_eq!(
        (r.charged, r.shortfall),
        (c(30), c(15)),
        "the other hold's 20 stay reserved"
    );
    let b = ledger::balance(&t.db, a, T0).await.unwrap();
    assert_eq!((b.total, b.held, b.available), (c(20), c(20), c(0)));
    ledger::capture(
        &t.db,
        other.hold_id,
        Some(a),
        produced(20, 20, TOLERANCE),
        None,
        T0,
    )
    .await
    .unwrap();
    assert_eq!(ledger::balance(&t.db, a, T0).await.unwrap().total, c(0));
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

async fn p3_subscription_credits_expire_at_the_period_end(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "p3@test").await;
    give(
        &t.db,
        a,
        GrantKind::Subscription,
        1000,
        Some(T0 + 30 * DAY),
        T0,
    )
    .await;
    give(&t.db, a, GrantKind::Topup, 5, None, T0).await;
    assert_eq!(
        ledger::balance(&t.db, a, T0 + 30 * DAY - 1)
            .await
            .unwrap()
            .total,
        c(1005)
    );
    let after = ledger::balance(&t.db, a, T0 + 30 * DAY).await.unwrap();
    assert_eq!(
        (after.total, after.subscription, after.topup),
        (c(5), c(0), c(5))
    );
    // The expiry is written to the journal by the next mutation.
    let err = ledger::reserve(&t.db, a, hold(6, T0 + 30 * DAY), None, T0 + 30 * DAY)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::Insufficient(_)), "{err:?}");
    give(&t.db, a, GrantKind::Topup, 1, None, T0 + 30 * DAY).await;
    let page = ledger::journal(&t.db, a, None, 10).await.unwrap();
    assert!(
        page.iter().any(|e| e.kind == "expire" && e.amount == -1000),
        "{page:?}"
    );
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

async fn p4_top_up_credits_never_expire(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "p4@test").await;
    give(&t.db, a, GrantKind::Topup, 300, None, T0).await;
    let far = T0 + 3650 * DAY;
    assert_eq!(ledger::balance(&t.db, a, far).await.unwrap().topup, c(300));
    ledger::reserve(&t.db, a, hold(300, far), None, far)
        .await
        .unwrap();
    t.cleanup().await;
}

async fn p5_subscription_credits_are_spent_first_then_oldest_top_up(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "p5@test").await;
    let old_topup = give(&t.db, a, GrantKind::Topup, 40, None, T0).await;
    give(&t.db, a, GrantKind::Topup, 40, None, T0 + 1).await;
    give(
        &t.db,
        a,
        GrantKind::Subscription,
        50,
        Some(T0 + 30 * DAY),
        T0 + 2,
    )
    .await;
    let h = ledger::reserve(&t.db, a, hold(70, T0 + 3), None, T0 + 3)
        .await
        .unwrap();
    let r = ledger::capture(
        &t.db,
        h.hold_id,
        Some(a),
        produced(70, 70, TOLERANCE),
        None,
        T0 + 3,
    )
    .await
    .unwrap();
    assert_eq!((r.paid_by.subscription, r.paid_by.topup), (c(50), c(20)));
    let b = ledger::balance(&t.db, a, T0 + 3).await.unwrap();
    assert_eq!((b.subscription, b.topup), (c(0), c(60)));
    // The older top-up paid: 20 of its 40 are gone.
    let grants = ledger::journal(&t.db, a, None, 50).await.unwrap();
    assert!(grants.iter().any(|e| e.grant_id == Some(old_topup)));
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

async fn p8_a_failed_portion_goes_back_to_the_grants_that_paid(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "p8@test").await;
    give(&t.db, a, GrantKind::Subscription, 30, Some(T0 + DAY), T0).await;
    give(&t.db, a, GrantKind::Topup, 100, None, T0).await;
    let h = ledger::reserve(&t.db, a, hold(50, T0), None, T0)
        .await
        .unwrap();
    ledger::capture(
        &t.db,
        h.hold_id,
        Some(a),
        produced(50, 50, TOLERANCE),
        None,
        T0,
    )
    .await
    .unwrap();
    let r = ledger::refund(
        &t.db,
        h.hold_id,
        Some(a),
        c(25),
        "voice service error",
        None,
        T0 + 1,
    )
    .await
    .unwrap();
    assert_eq!(
        (r.returned_to.topup, r.returned_to.subscription),
        (c(20), c(5)),
        "last draws undone first"
    );
    let b = ledger::balance(&t.db, a, T0 + 1).await.unwrap();
    assert_eq!((b.subscription, b.topup), (c(5), c(100)));
    let err = ledger::refund(&t.db, h.hold_id, Some(a), c(26), "again", None, T0 + 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::RefundTooLarge { refundable } if refundable == c(25)),
        "{err:?}"
    );
    let entry = &ledger::journal(&t.db, a, None, 1).await.unwrap()[0];
    assert_eq!(entry.kind, "refund");
    assert!(
        entry
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("voice service error")
    );
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

async fn p8_a_refund_to_an_expired_grant_goes_to_the_current_subscription_grant(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "p8b@test").await;
    give(&t.db, a, GrantKind::Subscription, 100, Some(T0 + DAY), T0).await;
    let h = ledger::reserve(&t.db, a, hold(40, T0), None, T0)
        .await
        .unwrap();
    ledger::capture(
        &t.db,
        h.hold_id,
        Some(a),
        produced(40, 40, TOLERANCE),
        None,
        T0,
    )
    .await
    .unwrap();
    // The period rolls over; the next period's grant arrives.
    give(
        &t.db,
        a,
        GrantKind::Subscription,
        100,
        Some(T0 + 2 * DAY),
        T0 + DAY,
    )
    .await;
    let r = ledger::refund(
        &t.db,
        h.hold_id,
        Some(a),
        c(40),
        "music service error",
        None,
        T0 + DAY + 1,
    )
    .await
    .unwrap();
    assert_eq!(r.returned_to.subscription, c(40));
    let b = ledger::balance(&t.db, a, T0 + DAY + 1).await.unwrap();
    assert_eq!((b.subscription, b.topup, b.total), (c(140), c(0), c(140)));
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

async fn p10_a_hold_the_balance_cannot_cover_is_refused_and_changes_nothing(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "p10@test").await;
    common::set_renewal(&t.db, a, Some(T0 + 9 * DAY)).await;
    give(
        &t.db,
        a,
        GrantKind::Subscription,
        10,
        Some(T0 + 9 * DAY),
        T0,
    )
    .await;
    let before = ledger::journal(&t.db, a, None, 100).await.unwrap();
    let err = ledger::reserve(&t.db, a, hold(11, T0), None, T0)
        .await
        .unwrap_err();
    match err {
        LedgerError::Insufficient(i) => {
            assert_eq!(
                (i.needed, i.available, i.renews_at),
                (c(11), c(10), Some(T0 + 9 * DAY))
            );
        }
        other => panic!("expected Insufficient, got {other:?}"),
    }
    assert_eq!(
        ledger::journal(&t.db, a, None, 100).await.unwrap(),
        before,
        "no partial hold"
    );
    assert_eq!(ledger::balance(&t.db, a, T0).await.unwrap().held, c(0));
    t.cleanup().await;
}

async fn settled_holds_cannot_be_captured_or_released_again(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "settled@test").await;
    let b = account(&t.db, "other@test").await;
    give(&t.db, a, GrantKind::Topup, 100, None, T0).await;
    let h = ledger::reserve(&t.db, a, hold(10, T0), None, T0)
        .await
        .unwrap();
    ledger::release(&t.db, h.hold_id, Some(a), None, T0)
        .await
        .unwrap();
    let err = ledger::capture(
        &t.db,
        h.hold_id,
        Some(a),
        produced(5, 5, TOLERANCE),
        None,
        T0,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, LedgerError::HoldSettled { .. }),
        "capture after release: {err:?}"
    );
    let h = ledger::reserve(&t.db, a, hold(10, T0), None, T0)
        .await
        .unwrap();
    ledger::capture(
        &t.db,
        h.hold_id,
        Some(a),
        produced(5, 5, TOLERANCE),
        None,
        T0,
    )
    .await
    .unwrap();
    let err = ledger::capture(
        &t.db,
        h.hold_id,
        Some(a),
        produced(5, 5, TOLERANCE),
        None,
        T0,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, LedgerError::HoldSettled { .. }),
        "second capture: {err:?}"
    );
    // A hold of another account is invisible.
    let err = ledger::capture(
        &t.db,
        h.hold_id,
        Some(b),
        produced(5, 5, TOLERANCE),
        None,
        T0,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LedgerError::HoldNotFound(_)), "{err:?}");
    let err = ledger::reserve(&t.db, 999_999, hold(1, T0), None, T0)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::AccountNotFound(_)), "{err:?}");
    assert_eq!(ledger::balance(&t.db, a, T0).await.unwrap().total, c(95));
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

async fn stale_holds_expire_and_free_their_credits(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "stale@test").await;
    give(&t.db, a, GrantKind::Topup, 100, None, T0).await;
    let h = ledger::reserve(&t.db, a, hold(60, T0), None, T0)
        .await
        .unwrap();
    assert_eq!(
        ledger::expire_stale_holds(&t.db, T0 + 599, 100)
            .await
            .unwrap(),
        0
    );
    let err = ledger::capture(
        &t.db,
        h.hold_id,
        Some(a),
        produced(1, 1, TOLERANCE),
        None,
        T0 + 600,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LedgerError::HoldExpired(_)), "{err:?}");
    assert_eq!(
        ledger::expire_stale_holds(&t.db, T0 + 600, 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        ledger::expire_stale_holds(&t.db, T0 + 601, 100)
            .await
            .unwrap(),
        0,
        "once only"
    );
    let b = ledger::balance(&t.db, a, T0 + 600).await.unwrap();
    assert_eq!((b.total, b.held, b.available), (c(100), c(0), c(100)));
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

fn key(k: &str, body: &str) -> Idempotency {
    Idempotency {
        scope: "svc:test".into(),
        key: k.into(),
        request_hash: body.into(),
    }
}

async fn the_same_key_returns_the_first_result_and_a_different_body_conflicts(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "idem@test").await;
    give(&t.db, a, GrantKind::Topup, 100, None, T0).await;
    let first = ledger::reserve(&t.db, a, hold(10, T0), Some(&key("k1", "body-a")), T0)
        .await
        .unwrap();
    let again = ledger::reserve(&t.db, a, hold(10, T0), Some(&key("k1", "body-a")), T0 + 1)
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        ledger::balance(&t.db, a, T0).await.unwrap().held,
        c(10),
        "one effect"
    );
    let err = ledger::reserve(&t.db, a, hold(20, T0), Some(&key("k1", "body-b")), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::IdempotencyConflict), "{err:?}");
    // A failed request leaves its key unused, so a corrected retry can go through.
    let err = ledger::reserve(&t.db, a, hold(500, T0), Some(&key("k2", "big")), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::Insufficient(_)));
    give(&t.db, a, GrantKind::Topup, 1000, None, T0).await;
    ledger::reserve(&t.db, a, hold(500, T0), Some(&key("k2", "big")), T0)
        .await
        .unwrap();
    t.cleanup().await;
}

async fn ten_concurrent_retries_of_one_request_have_exactly_one_effect(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "retry@test").await;
    give(&t.db, a, GrantKind::Topup, 1000, None, T0).await;
    let db = Arc::new(t.db.clone());
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                ledger::reserve(&db, a, hold(7, T0), Some(&key("same", "same-body")), T0).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().hold_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry got the same hold");
    assert_eq!(ledger::balance(&t.db, a, T0).await.unwrap().held, c(7));
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

async fn sixty_four_concurrent_workers_never_overspend_or_lose_a_credit(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "busy@test").await;
    give(&t.db, a, GrantKind::Subscription, 500, Some(T0 + DAY), T0).await;
    give(&t.db, a, GrantKind::Topup, 500, None, T0).await;
    let db = Arc::new(t.db.clone());
    // Each worker reserves 25 and captures an actual cost of 5..=34: some above the hold.
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                match ledger::reserve(&db, a, hold(25, T0), None, T0).await {
                    Ok(h) => {
                        let actual = 5 + (i * 7) % 30;
                        let r = ledger::capture(
                            &db,
                            h.hold_id,
                            Some(a),
                            produced(actual, actual, TOLERANCE),
                            None,
                            T0,
                        )
                        .await
                        .unwrap();
                        Some(r.charged.get())
                    }
                    Err(LedgerError::Insufficient(_)) => None,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            })
        })
        .collect();
    let mut charged = 0;
    let mut served = 0;
    for task in tasks {
        if let Some(n) = task.await.unwrap() {
            charged += n;
            served += 1;
        }
    }
    let b = ledger::balance(&t.db, a, T0).await.unwrap();
    assert_eq!(
        b.total.get() + charged,
        1000,
        "every credit is either charged or still there"
    );
    assert_eq!(b.held, c(0));
    assert!(charged <= 1000);
    assert!(
        served >= 30,
        "at least 30 of 64 jobs fit in 1000 credits at 25 each, got {served}"
    );
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

async fn verify_reports_a_balance_that_disagrees_with_the_journal(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "verify@test").await;
    give(&t.db, a, GrantKind::Topup, 100, None, T0).await;
    assert_consistent(&t.db).await;
    // Tamper with the running total behind the ledger's back.
    sqlx::query("UPDATE accounts SET balance = 150 WHERE id = $1")
        .bind(a)
        .execute(t.db.reader())
        .await
        .unwrap();
    let problems = ledger::verify(&t.db).await.unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.account_id == a && p.what.contains("journal sums to 100")),
        "{problems:?}"
    );
    // And the journal refuses to be rewritten.
    let err = sqlx::query("UPDATE journal SET amount = 150 WHERE account_id = $1")
        .bind(a)
        .execute(t.db.reader())
        .await;
    assert!(err.is_err(), "the journal is append-only");
    let err = sqlx::query("DELETE FROM journal WHERE account_id = $1")
        .bind(a)
        .execute(t.db.reader())
        .await;
    assert!(err.is_err(), "the journal is append-only");
    t.cleanup().await;
}

async fn one_key_used_on_two_accounts_at_once_takes_effect_once(backend: Backend) {
    let t = TestDb::migrated(backend).await;
    let a = account(&t.db, "race-a@test").await;
    let b = account(&t.db, "race-b@test").await;
    for acct in [a, b] {
        give(&t.db, acct, GrantKind::Topup, 100, None, T0).await;
    }
    for round in 0..10 {
        let k = format!("shared-{round}");
        let (ka, kb) = (key(&k, "for-a"), key(&k, "for-b"));
        let (ra, rb) = tokio::join!(
            ledger::reserve(&t.db, a, hold(5, T0), Some(&ka), T0),
            ledger::reserve(&t.db, b, hold(5, T0), Some(&kb), T0),
        );
        let ok = [ra.is_ok(), rb.is_ok()].iter().filter(|x| **x).count();
        assert_eq!(ok, 1, "round {round}: exactly one wins ({ra:?}, {rb:?})");
        for r in [ra, rb] {
            if let Err(e) = r {
                assert!(matches!(e, LedgerError::IdempotencyConflict), "{e:?}");
            }
        }
    }
    let held = ledger::balance(&t.db, a, T0).await.unwrap().held.get()
        + ledger::balance(&t.db, b, T0).await.unwrap().held.get();
    assert_eq!(held, 50, "ten rounds, one hold of 5 each");
    assert_consistent(&t.db).await;
    t.cleanup().await;
}

on_both_backends!(
    one_key_used_on_two_accounts_at_once_takes_effect_once,
    verify_reports_a_balance_that_disagrees_with_the_journal,
    p2_capture_charges_the_actual_cost_and_frees_the_rest,
    p2_a_capture_charges_at_most_the_hold_plus_the_tolerance,
    capture_beyond_the_balance_charges_what_it_can_and_never_goes_negative,
    p3_subscription_credits_expire_at_the_period_end,
    p4_top_up_credits_never_expire,
    p5_subscription_credits_are_spent_first_then_oldest_top_up,
    p8_a_failed_portion_goes_back_to_the_grants_that_paid,
    p8_a_refund_to_an_expired_grant_goes_to_the_current_subscription_grant,
    p10_a_hold_the_balance_cannot_cover_is_refused_and_changes_nothing,
    settled_holds_cannot_be_captured_or_released_again,
    stale_holds_expire_and_free_their_credits,
    the_same_key_returns_the_first_result_and_a_different_body_conflicts,
    ten_concurrent_retries_of_one_request_have_exactly_one_effect,
    sixty_four_concurrent_workers_never_overspend_or_lose_a_credit,
);
