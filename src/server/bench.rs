//! `studio-billing bench ledger`: reserve -> capture cycles with W concurrent workers over
//! A accounts for D seconds against DATABASE_URL, then cycles per second and p50/p99
//! latency per operation. A measurement, not a test: it asserts nothing but consistency.

use crate::domain::credits::Credits;
use crate::domain::ledger::GrantKind;
use crate::domain::pricing::Operation;
use crate::server::db::Db;
use crate::server::db::ledger::{self, Idempotency, NewGrant, NewHold};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct LedgerBench {
    pub workers: usize,
    pub accounts: usize,
    pub seconds: u64,
}

#[derive(Debug)]
pub struct Report {
    pub cycles: usize,
    pub elapsed: Duration,
    pub reserve: Vec<Duration>,
    pub capture: Vec<Duration>,
}

/// Nearest-rank percentile of sorted latencies.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len()).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `1234` microseconds -> `"1.23 ms"`.
fn ms(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:02} ms", us / 1000, (us % 1000) / 10)
}

impl Report {
    pub fn print(&mut self, backend: &str, b: &LedgerBench) {
        self.reserve.sort();
        self.capture.sort();
        let per_sec = (self.cycles as u128 * 1000) / self.elapsed.as_millis().max(1);
        println!(
            "ledger bench on {backend}: W={} A={} D={}s",
            b.workers, b.accounts, b.seconds
        );
        println!(
            "  {} reserve->capture cycles in {} ms = {per_sec} cycles/s",
            self.cycles,
            self.elapsed.as_millis()
        );
        for (name, lat) in [("reserve", &self.reserve), ("capture", &self.capture)] {
            println!(
                "  {name:<8} p50 {:>10}   p99 {:>10}   ({} ops)",
                ms(percentile(lat, 50)),
                ms(percentile(lat, 99)),
                lat.len()
            );
        }
    }
}

pub async fn run(db: &Db, b: LedgerBench, now: i64) -> Result<Report, Box<dyn std::error::Error>> {
    let run_id = rand::random::<u32>();
    let mut accounts = Vec::with_capacity(b.accounts);
    for i in 0..b.accounts {
        let id =
            ledger::create_account(db, &format!("bench-{run_id}-{i}@bench.invalid"), now).await?;
        let g = NewGrant {
            kind: GrantKind::Topup,
            amount: Credits::new(1_000_000_000)?,
            expires_at: None,
            reason: "bench".into(),
            actor: None,
        };
        ledger::grant(db, id, g, None, now).await?;
        accounts.push(id);
    }
    let accounts = Arc::new(accounts);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..b.workers {
        let (db, accounts, stop) = (db.clone(), accounts.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let mut reserve = Vec::new();
            let mut capture = Vec::new();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let account = accounts[(w + n * b.workers) % accounts.len()];
                let key = |op: &str| Idempotency {
                    scope: "bench".into(),
                    key: format!("{run_id}-{w}-{n}-{op}"),
                    request_hash: "h".into(),
                };
                let hold = NewHold {
                    operation: Operation::VoiceGeneration,
                    quantity: 30,
                    estimate: Credits::new(30)?,
                    amount: Credits::new(30)?,
                    expires_at: now + 900,
                };
                let t = Instant::now();
                let h = ledger::reserve(&db, account, hold, Some(&key("r")), now).await?;
                reserve.push(t.elapsed());
                let t = Instant::now();
                ledger::capture(
                    &db,
                    h.hold_id,
                    Some(account),
                    ledger::Actual {
                        quantity: 27,
                        cost: Credits::new(27)?,
                        tolerance_percent: 10,
                    },
                    Some(&key("c")),
                    now,
                )
                .await?;
                capture.push(t.elapsed());
                n += 1;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((n, reserve, capture))
        }));
    }
    tokio::time::sleep(Duration::from_secs(b.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut report = Report {
        cycles: 0,
        elapsed: Duration::ZERO,
        reserve: Vec::new(),
        capture: Vec::new(),
    };
    for h in handles {
        let (n, r, c) = h.await?.map_err(|e| e.to_string())?;
        report.cycles += n;
        report.reserve.extend(r);
        report.capture.extend(c);
    }
    report.elapsed = started.elapsed();
    let problems = ledger::verify(db).await?;
    if !problems.is_empty() {
        return Err(format!(
            "ledger verify found {} differences after the bench",
            problems.len()
        )
        .into());
    }
    Ok(report)
}
