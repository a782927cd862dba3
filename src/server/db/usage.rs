//! Reads for the Subscription page: usage per day and the receipts of generations.

use crate::domain::ledger::{GrantKind, UnixSeconds};
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

/// The SQL for how many credits of `kind` paid for hold `h` (its `charge_parts`), for a
/// statement that reads holds as `h`. CAST: PostgreSQL sums BIGINTs as NUMERIC.
pub fn paid_from(kind: GrantKind) -> String {
    format!(
        "CAST(COALESCE((SELECT SUM(cp.amount) FROM charge_parts cp \
         WHERE cp.hold_id = h.id AND cp.kind = '{}'), 0) AS BIGINT)",
        kind.as_str()
    )
}

/// A page of receipts, newest first, below hold id `before` when given, each with what
/// paid for it, in one statement (and one more for the reasons of what came back, when
/// anything did).
pub async fn receipts(
    db: &Db,
    account: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<OperationReceipt>, sqlx::Error> {
    let sql = format!(
        "SELECT h.id, h.operation, h.created_at, h.status, h.quantity, h.estimate, h.amount, \
         h.actual_quantity, h.charged, h.released, h.shortfall, h.over_limit, h.refunded, \
         {} AS paid_subscription, {} AS paid_adjustment, {} AS paid_topup \
         FROM holds h WHERE h.account_id = $1 AND h.id < $2 ORDER BY h.id DESC LIMIT $3",
        paid_from(GrantKind::Subscription),
        paid_from(GrantKind::Adjustment),
        paid_from(GrantKind::Topup),
    );
    let rows = sqlx::query(&sql)
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
                paid_subscription: u(r.try_get("paid_subscription")?),
                paid_adjustment: u(r.try_get("paid_adjustment")?),
                paid_topup: u(r.try_get("paid_topup")?),
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
    // The reasons support or the service gave for what came back, only when something did.
    if out.iter().all(|r| r.refunded == 0) {
        return Ok(out);
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
