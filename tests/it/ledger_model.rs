//! Property test: random sequences of grants, holds, captures, releases, refunds, hold
//! expiries and clock moves run against the real storage and against a plain in-memory
//! model written from the policy. After every step the balances agree with the model and
//! `verify` finds the journal consistent.

use crate::common;

use common::{Backend, TestDb};
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestRunner};
use std::collections::BTreeMap;
use studio_billing::domain::credits::Credits;
use studio_billing::domain::ledger::GrantKind;
use studio_billing::domain::pricing::Operation;
use studio_billing::server::db::Db;
use studio_billing::server::db::ledger::{self, LedgerError, NewGrant, NewHold};

const T0: i64 = 1_800_000_000;
const HOLD_TTL: i64 = 300;
/// The capture tolerance of the default configuration (P2).
const TOLERANCE: u32 = 10;

#[derive(Debug, Clone)]
enum Step {
    Grant {
        kind: GrantKind,
        amount: u64,
        ttl: Option<i64>,
    },
    Reserve {
        amount: u64,
    },
    Capture {
        pick: usize,
        actual: u64,
    },
    Release {
        pick: usize,
    },
    Refund {
        pick: usize,
        amount: u64,
    },
    Advance {
        secs: i64,
    },
    ExpireHolds,
}

fn step() -> impl Strategy<Value = Step> {
    let kind = prop_oneof![
        Just(GrantKind::Subscription),
        Just(GrantKind::Adjustment),
        Just(GrantKind::Topup)
    ];
    prop_oneof![
        (kind, 1u64..200, prop::option::of(50i64..2_000)).prop_map(|(kind, amount, ttl)| {
            // Subscription grants always expire; top-ups never; adjustments only if given.
            let ttl = match kind {
                GrantKind::Subscription => Some(ttl.unwrap_or(1_000)),
                GrantKind::Topup => None,
                GrantKind::Adjustment => ttl,
            };
            Step::Grant { kind, amount, ttl }
        }),
        (1u64..120).prop_map(|amount| Step::Reserve { amount }),
        (any::<usize>(), 0u64..150).prop_map(|(pick, actual)| Step::Capture { pick, actual }),
        any::<usize>().prop_map(|pick| Step::Release { pick }),
        (any::<usize>(), 1u64..60).prop_map(|(pick, amount)| Step::Refund { pick, amount }),
        (1i64..700).prop_map(|secs| Step::Advance { secs }),
        Just(Step::ExpireHolds),
    ]
}

// ---- The model: the policy in the plainest code, independent of src/domain/ledger/.

#[derive(Debug, Clone)]
struct MGrant {
    id: i64,
    kind: GrantKind,
    remaining: u64,
    expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
enum MStatus {
    Held,
    Captured,
    Released,
    Expired,
}

#[derive(Debug, Clone)]
struct MHold {
    amount: u64,
    expires_at: i64,
    status: MStatus,
    /// (grant id, amount paid, refunded) in draw order.
    paid: Vec<(i64, u64, u64)>,
}

#[derive(Debug, Default)]
struct Model {
    grants: Vec<MGrant>,
    holds: BTreeMap<i64, MHold>,
}

fn rank(k: GrantKind) -> u8 {
    match k {
        GrantKind::Subscription => 0,
        GrantKind::Adjustment => 1,
        GrantKind::Topup => 2,
    }
}

impl Model {
    fn live(&self, now: i64) -> impl Iterator<Item = &MGrant> {
        self.grants
            .iter()
            .filter(move |g| g.expires_at.is_none_or(|e| now < e))
    }
    fn total(&self, now: i64) -> u64 {
        self.live(now).map(|g| g.remaining).sum()
    }
    fn of_kind(&self, now: i64, k: GrantKind) -> u64 {
        self.live(now)
            .filter(|g| g.kind == k)
            .map(|g| g.remaining)
            .sum()
    }
    fn held(&self) -> u64 {
        self.holds
            .values()
            .filter(|h| h.status == MStatus::Held)
            .map(|h| h.amount)
            .sum()
    }
    fn draw(&mut self, mut amount: u64, now: i64) -> Vec<(i64, u64, u64)> {
        let mut order: Vec<usize> = (0..self.grants.len())
            .filter(|&i| {
                self.grants[i].expires_at.is_none_or(|e| now < e) && self.grants[i].remaining > 0
            })
            .collect();
        order.sort_by_key(|&i| {
            let g = &self.grants[i];
            (
                rank(g.kind),
                g.expires_at.is_none(),
                g.expires_at.unwrap_or(0),
                g.id,
            )
        });
        let mut paid = Vec::new();
        for i in order {
            if amount == 0 {
                break;
            }
            let take = amount.min(self.grants[i].remaining);
            self.grants[i].remaining -= take;
            amount -= take;
            paid.push((self.grants[i].id, take, 0));
        }
        paid
    }
}

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

/// Runs one random sequence against storage and the model.
async fn run_case(db: &Db, n: usize, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let account = ledger::create_account(db, &format!("model-{n}@test"), T0)
        .await
        .unwrap();
    let mut m = Model::default();
    let mut now = T0;
    let mut hold_ids: Vec<i64> = Vec::new();
    for (i, s) in steps.into_iter().enumerate() {
        let pick = |p: usize| (!hold_ids.is_empty()).then(|| hold_ids[p % hold_ids.len()]);
        match s.clone() {
            Step::Grant { kind, amount, ttl } => {
                let g = NewGrant {
                    kind,
                    amount: c(amount),
                    expires_at: ttl.map(|t| now + t),
                    reason: "model".into(),
                    actor: None,
                };
                let r = ledger::grant(db, account, g, None, now).await.unwrap();
                m.grants.push(MGrant {
                    id: r.grant_id,
                    kind,
                    remaining: amount,
                    expires_at: ttl.map(|t| now + t),
                });
            }
            Step::Reserve { amount } => {
                let h = NewHold {
                    operation: Operation::Music,
                    quantity: amount,
                    estimate: c(amount),
                    amount: c(amount),
                    expires_at: now + HOLD_TTL,
                };
                let free = m.total(now).saturating_sub(m.held());
                match ledger::reserve(db, account, h, None, now).await {
                    Ok(r) => {
                        prop_assert!(
                            amount <= free,
                            "step {i}: reserved {amount} with {free} free"
                        );
                        m.holds.insert(
                            r.hold_id,
                            MHold {
                                amount,
                                expires_at: now + HOLD_TTL,
                                status: MStatus::Held,
                                paid: vec![],
                            },
                        );
                        hold_ids.push(r.hold_id);
                    }
                    Err(LedgerError::Insufficient(x)) => {
                        prop_assert!(amount > free, "step {i}: refused {amount} with {free} free");
                        prop_assert_eq!(x.available, c(free));
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("step {i}: {e:?}"))),
                }
            }
            Step::Capture { pick: p, actual } => {
                let Some(id) = pick(p) else { continue };
                let h = m.holds[&id].clone();
                let result = ledger::capture(
                    db,
                    id,
                    Some(account),
                    produced(actual, actual, TOLERANCE),
                    None,
                    now,
                )
                .await;
                match (&h.status, result) {
                    (MStatus::Held, Ok(r)) if now < h.expires_at => {
                        let other = m.held() - h.amount;
                        let payable = m.total(now).saturating_sub(other);
                        // At most the hold plus the tolerance, rounded up (P2).
                        let limit = h.amount + (h.amount * u64::from(TOLERANCE)).div_ceil(100);
                        let billable = actual.min(limit);
                        let charged = billable.min(payable);
                        prop_assert_eq!(r.charged, c(charged), "step {}", i);
                        prop_assert_eq!(r.over_limit, c(actual - billable));
                        prop_assert_eq!(r.shortfall, c(billable - charged));
                        prop_assert_eq!(r.released, c(h.amount.saturating_sub(charged)));
                        let paid = m.draw(charged, now);
                        let hm = m.holds.get_mut(&id).unwrap();
                        hm.status = MStatus::Captured;
                        hm.paid = paid;
                    }
                    (MStatus::Held, Err(LedgerError::HoldExpired(_))) if now >= h.expires_at => {}
                    (MStatus::Expired, Err(LedgerError::HoldExpired(_))) => {}
                    (
                        MStatus::Captured | MStatus::Released,
                        Err(LedgerError::HoldSettled { .. }),
                    ) => {}
                    (status, other) => {
                        return Err(TestCaseError::fail(format!(
                            "step {i}: capture of {status:?} hold gave {other:?}"
                        )));
                    }
                }
            }
            Step::Release { pick: p } => {
                let Some(id) = pick(p) else { continue };
                let h = m.holds[&id].clone();
                match (
                    &h.status,
                    ledger::release(db, id, Some(account), None, now).await,
                ) {
                    (MStatus::Held, Ok(r)) if now < h.expires_at => {
                        prop_assert_eq!(r.released, c(h.amount));
                        m.holds.get_mut(&id).unwrap().status = MStatus::Released;
                    }
                    (MStatus::Held, Err(LedgerError::HoldExpired(_))) if now >= h.expires_at => {}
                    (MStatus::Expired, Err(LedgerError::HoldExpired(_))) => {}
                    (
                        MStatus::Captured | MStatus::Released,
                        Err(LedgerError::HoldSettled { .. }),
                    ) => {}
                    (status, other) => {
                        return Err(TestCaseError::fail(format!(
                            "step {i}: release of {status:?} hold gave {other:?}"
                        )));
                    }
                }
            }
            Step::Refund { pick: p, amount } => {
                let Some(id) = pick(p) else { continue };
                let h = m.holds[&id].clone();
                let refundable: u64 = h.paid.iter().map(|(_, a, r)| a - r).sum();
                match (
                    &h.status,
                    ledger::refund(db, id, Some(account), c(amount), "model", None, now).await,
                ) {
                    (MStatus::Captured, Ok(r)) => {
                        prop_assert!(
                            amount <= refundable,
                            "step {i}: refunded {amount} of {refundable}"
                        );
                        prop_assert_eq!(r.refunded, c(amount));
                        // Back to the payers, last draw first; expired payers send theirs to
                        // the live subscription grant expiring last, or to a new adjustment.
                        let mut left = amount;
                        let mut paid = h.paid.clone();
                        for part in paid.iter_mut().rev() {
                            let take = left.min(part.1 - part.2);
                            if take == 0 {
                                continue;
                            }
                            left -= take;
                            part.2 += take;
                            let payer_live = m.live(now).any(|g| g.id == part.0);
                            let target = if payer_live {
                                Some(part.0)
                            } else {
                                m.live(now)
                                    .filter(|g| g.kind == GrantKind::Subscription)
                                    .max_by_key(|g| (g.expires_at, g.id))
                                    .map(|g| g.id)
                            };
                            match target {
                                Some(t) => {
                                    m.grants.iter_mut().find(|g| g.id == t).unwrap().remaining +=
                                        take
                                }
                                None => m.grants.push(MGrant {
                                    id: i64::MAX - m.grants.len() as i64,
                                    kind: GrantKind::Adjustment,
                                    remaining: take,
                                    expires_at: None,
                                }),
                            }
                        }
                        m.holds.get_mut(&id).unwrap().paid = paid;
                    }
                    (MStatus::Captured, Err(LedgerError::RefundTooLarge { refundable: r })) => {
                        prop_assert!(amount > refundable, "step {i}");
                        prop_assert_eq!(r, c(refundable));
                    }
                    (
                        MStatus::Held | MStatus::Released | MStatus::Expired,
                        Err(LedgerError::NotCaptured(_)),
                    ) => {}
                    (status, other) => {
                        return Err(TestCaseError::fail(format!(
                            "step {i}: refund of {status:?} hold gave {other:?}"
                        )));
                    }
                }
            }
            Step::Advance { secs } => now += secs,
            Step::ExpireHolds => {
                let due = m
                    .holds
                    .values()
                    .filter(|h| h.status == MStatus::Held && h.expires_at <= now)
                    .count();
                // The job sweeps the whole database, where earlier cases left holds too;
                // this account's part is checked through `held` below.
                let n = ledger::expire_stale_holds(db, now, 100_000).await.unwrap();
                prop_assert!(n >= due, "step {}: expired {} of {} due", i, n, due);
                for h in m.holds.values_mut() {
                    if h.status == MStatus::Held && h.expires_at <= now {
                        h.status = MStatus::Expired;
                    }
                }
            }
        }
        let b = ledger::balance(db, account, now).await.unwrap();
        prop_assert_eq!(b.total, c(m.total(now)), "total after step {} {:?}", i, s);
        prop_assert_eq!(
            b.subscription,
            c(m.of_kind(now, GrantKind::Subscription)),
            "subscription after step {}",
            i
        );
        prop_assert_eq!(
            b.adjustment,
            c(m.of_kind(now, GrantKind::Adjustment)),
            "adjustment after step {}",
            i
        );
        prop_assert_eq!(
            b.topup,
            c(m.of_kind(now, GrantKind::Topup)),
            "topup after step {}",
            i
        );
        prop_assert_eq!(b.held, c(m.held()), "held after step {}", i);
        let problems = ledger::verify(db).await.unwrap();
        prop_assert!(problems.is_empty(), "step {}: {:?}", i, problems);
    }
    Ok(())
}

async fn random_histories_match_the_model(backend: Backend) {
    model_check(backend, false).await;
}

/// PostgreSQL's reserve and capture are PL/pgSQL functions that mirror the rules in
/// `domain::ledger` (see its header). The same histories through the Rust steps on
/// PostgreSQL: both implementations match the model, on the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_histories_match_the_model_with_postgres_rules_in_rust() {
    model_check(Backend::Postgres, true).await;
}

async fn model_check(backend: Backend, rules_in_rust: bool) {
    let t = TestDb::migrated(backend).await;
    let db = if rules_in_rust {
        t.db.clone().with_rules_in_rust()
    } else {
        t.db.clone()
    };
    let cases = std::env::var("LEDGER_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        let mut runner = TestRunner::new(PropConfig {
            cases,
            max_shrink_iters: 200,
            ..PropConfig::default()
        });
        let counter = std::sync::atomic::AtomicUsize::new(0);
        runner.run(&prop::collection::vec(step(), 1..40), |steps| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            handle.block_on(run_case(&db, n, steps))
        })
    })
    .await
    .unwrap();
    t.cleanup().await;
    if let Err(e) = result {
        panic!("{e}");
    }
}

on_both_backends!(random_histories_match_the_model);
