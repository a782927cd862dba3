//! Ledger accounts: created empty. When their plan next renews is kept by the subscription
//! life cycle (`services::lifecycle`).

use super::*;

/// Creates an account with an empty ledger (used by sign-up and by tests).
pub async fn create_account(db: &Db, email: &str, now: UnixSeconds) -> Result<i64, LedgerError> {
    let mut tx = db.begin_write().await?;
    let id: i64 =
        sqlx::query_scalar("INSERT INTO accounts (email, created_at) VALUES ($1, $2) RETURNING id")
            .bind(email)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn account_exists(db: &Db, account: i64) -> Result<bool, LedgerError> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT id FROM accounts WHERE id = $1")
            .bind(account)
            .fetch_optional(db.reader())
            .await?
            .is_some(),
    )
}
