//! Reads for the Subscription page: usage per day and the receipts of generations.

use crate::domain::ledger::UnixSeconds;
use crate::domain::pricing::Operation;
use crate::domain::usage::{OperationReceipt, UsagePoint};
use crate::server::db::Db;
use sqlx::Row;
use std::collections::HashMap;

fn operation(s: &str) -> Result<Operation, sqlx::Error> {
    Operation::from_key(s).ok_or_else(|| sqlx::Error::Decode(format!("operation {s}").into()))
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// What each generation finished in `[from, to)` finally cost.
pub async fn usage_points(
    db: &Db,
    account: i64,
    from: UnixSeconds,
    to: UnixSeconds,
) -> Result<Vec<UsagePoint>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT operation, settled_at, charged - refunded AS net FROM holds \
         WHERE account_id = $1 AND status = 'captured' AND settled_at >= $2 AND settled_at < $3",
    )
    .bind(account)
    .bind(from)
    .bind(to)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UsagePoint {
                at: r.try_get("settled_at")?,
                operation: operation(&r.try_get::<String, _>("operation")?)?,
                credits: u(r.try_get("net")?),
            })
        })
        .collect()
}

/// A page of receipts, newest first, below hold id `before` when given.
pub async fn receipts(
    db: &Db,
    account: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<OperationReceipt>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, operation, created_at, status, quantity, estimate, amount, actual_quantity, charged, released, shortfall, over_limit, refunded \
         FROM holds WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(account)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    let mut out: Vec<OperationReceipt> = rows
        .iter()
        .map(|r| {
            Ok(OperationReceipt {
                hold_id: r.try_get("id")?,
                operation: operation(&r.try_get::<String, _>("operation")?)?,
                started_at: r.try_get("created_at")?,
                status: {
                    let status: String = r.try_get("status")?;
                    crate::domain::ledger::HoldStatus::parse(&status).ok_or_else(|| {
                        sqlx::Error::Decode(format!("unknown hold status {status}").into())
                    })?
                },
                quantity: u(r.try_get("quantity")?),
                estimate: u(r.try_get("estimate")?),
                reserved: u(r.try_get("amount")?),
                actual_quantity: r.try_get::<Option<i64>, _>("actual_quantity")?.map(u),
                charged: u(r.try_get::<Option<i64>, _>("charged")?.unwrap_or(0)),
                released: u(r.try_get::<Option<i64>, _>("released")?.unwrap_or(0)),
                shortfall: u(r.try_get::<Option<i64>, _>("shortfall")?.unwrap_or(0)),
                over_limit: u(r.try_get::<Option<i64>, _>("over_limit")?.unwrap_or(0)),
                refunded: u(r.try_get("refunded")?),
                refund_reasons: Vec::new(),
                paid_subscription: 0,
                paid_adjustment: 0,
                paid_topup: 0,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let (Some(high), Some(low)) = (
        out.first().map(|r| r.hold_id),
        out.last().map(|r| r.hold_id),
    ) else {
        return Ok(out);
    };
    let by_id: HashMap<i64, usize> = out
        .iter()
        .enumerate()
        .map(|(i, r)| (r.hold_id, i))
        .collect();
    let parts = sqlx::query(
        "SELECT cp.hold_id, cp.kind, cp.amount FROM charge_parts cp JOIN holds h ON h.id = cp.hold_id \
         WHERE h.account_id = $1 AND cp.hold_id BETWEEN $2 AND $3",
    )
    .bind(account)
    .bind(low)
    .bind(high)
    .fetch_all(db.reader())
    .await?;
    for p in &parts {
        if let Some(&i) = by_id.get(&p.try_get::<i64, _>("hold_id")?) {
            let amount = u(p.try_get("amount")?);
            match p.try_get::<String, _>("kind")?.as_str() {
                "subscription" => out[i].paid_subscription += amount,
                "adjustment" => out[i].paid_adjustment += amount,
                _ => out[i].paid_topup += amount,
            }
        }
    }
    let refunds = sqlx::query(
        "SELECT hold_id, detail FROM journal WHERE account_id = $1 AND kind = 'refund' AND hold_id BETWEEN $2 AND $3 ORDER BY seq",
    )
    .bind(account)
    .bind(low)
    .bind(high)
    .fetch_all(db.reader())
    .await?;
    for r in &refunds {
        let hold: Option<i64> = r.try_get("hold_id")?;
        let detail: Option<String> = r.try_get("detail")?;
        let reason = detail
            .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
            .and_then(|d| d.get("reason").and_then(|v| v.as_str()).map(str::to_owned));
        if let (Some(i), Some(reason)) = (hold.and_then(|h| by_id.get(&h)), reason) {
            out[*i].refund_reasons.push(reason);
        }
    }
    Ok(out)
}

/// The plan an account is on.
pub async fn plan_of(db: &Db, account: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT plan_id FROM accounts WHERE id = $1")
        .bind(account)
        .fetch_one(db.reader())
        .await
}
