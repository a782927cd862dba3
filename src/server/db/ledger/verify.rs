//! `verify`: every account's totals recomputed from its journal, grants and holds.

use super::*;

/// Recomputes every account's totals from its journal, grants and holds, and reports each
/// difference. An empty list means the ledger is consistent.
pub async fn verify(db: &Db) -> Result<Vec<Discrepancy>, LedgerError> {
    let rows = sqlx::query(
        "SELECT a.id, a.balance, a.held, a.journal_seq, \
           (SELECT CAST(COALESCE(SUM(j.amount), 0) AS BIGINT) FROM journal j WHERE j.account_id = a.id) AS journal_sum, \
           (SELECT COUNT(*) FROM journal j WHERE j.account_id = a.id) AS entries, \
           (SELECT j.balance_after FROM journal j WHERE j.account_id = a.id ORDER BY j.seq DESC LIMIT 1) AS last_balance, \
           (SELECT j.held_after FROM journal j WHERE j.account_id = a.id ORDER BY j.seq DESC LIMIT 1) AS last_held, \
           (SELECT CAST(COALESCE(SUM(g.remaining), 0) AS BIGINT) FROM grants g WHERE g.account_id = a.id AND g.expired = 0) AS grants_sum, \
           (SELECT CAST(COALESCE(SUM(h.amount), 0) AS BIGINT) FROM holds h WHERE h.account_id = a.id AND h.status = 'held') AS holds_sum \
         FROM accounts a ORDER BY a.id",
    )
    .fetch_all(db.reader())
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let id: i64 = r.try_get("id")?;
        let balance: i64 = r.try_get("balance")?;
        let held: i64 = r.try_get("held")?;
        let seq: i64 = r.try_get("journal_seq")?;
        let journal_sum: i64 = r.try_get("journal_sum")?;
        let entries: i64 = r.try_get("entries")?;
        let last_balance: Option<i64> = r.try_get("last_balance")?;
        let last_held: Option<i64> = r.try_get("last_held")?;
        let grants_sum: i64 = r.try_get("grants_sum")?;
        let holds_sum: i64 = r.try_get("holds_sum")?;
        let mut report = |what: String| {
            out.push(Discrepancy {
                account_id: id,
                what,
            })
        };
        if journal_sum != balance {
            report(format!(
                "balance {balance} but the journal sums to {journal_sum}"
            ));
        }
        if grants_sum != balance {
            report(format!(
                "balance {balance} but the grants hold {grants_sum}"
            ));
        }
        if holds_sum != held {
            report(format!("held {held} but open holds total {holds_sum}"));
        }
        if entries != seq {
            report(format!("journal sequence at {seq} but {entries} entries"));
        }
        if last_balance.unwrap_or(0) != balance || last_held.unwrap_or(0) != held {
            report(format!(
                "the last journal entry says balance {last_balance:?} held {last_held:?}"
            ));
        }
    }
    Ok(out)
}
