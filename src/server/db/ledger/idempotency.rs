//! Idempotency keys: a mutation from outside claims its key in its own transaction, and a
//! retry with the same key replays the stored receipt.

use super::*;

/// Claims an idempotency key inside `tx`. Returns the stored response if the key was used
/// before with the same request; a conflict if with a different one.
pub(super) async fn claim_key<T: DeserializeOwned>(
    tx: &mut Tx,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<Option<T>, LedgerError> {
    let Some(idem) = idem else { return Ok(None) };
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status, response, created_at) \
         VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(&idem.scope)
    .bind(&idem.key)
    .bind(&idem.request_hash)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(&idem.scope)
    .bind(&idem.key)
    .fetch_one(&mut **tx)
    .await?;
    let hash: String = row.try_get("request_hash")?;
    if hash != idem.request_hash {
        return Err(LedgerError::IdempotencyConflict);
    }
    stored(row.try_get("response")?).map(Some)
}

pub(super) async fn store_response<T: Serialize>(
    tx: &mut Tx,
    idem: Option<&Idempotency>,
    response: &T,
) -> Result<(), LedgerError> {
    let Some(idem) = idem else { return Ok(()) };
    let json = serde_json::to_string(response).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
    sqlx::query(
        "UPDATE idempotency_keys SET status = 200, response = $1 WHERE scope = $2 AND key = $3",
    )
    .bind(json)
    .bind(&idem.scope)
    .bind(&idem.key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether a mutation with this key was already applied (its retry replays the result).
pub async fn key_used(db: &Db, idem: &Idempotency) -> Result<bool, LedgerError> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(1 AS BIGINT) FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(&idem.scope)
    .bind(&idem.key)
    .fetch_optional(db.writer())
    .await?;
    Ok(found.is_some())
}

/// Two calls with one idempotency key on different accounts raced to store it, and this
/// one lost (its effects were rolled back). Asked again, it finds the winner's result.
pub(super) fn lost_key_race(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some("idempotency_keys_pkey"))
}

/// A receipt stored as JSON (by the PostgreSQL functions, or for an idempotent replay).
pub(super) fn stored<T: DeserializeOwned>(json: Option<String>) -> Result<T, LedgerError> {
    let json = json.ok_or_else(|| LedgerError::Corrupt("missing stored response".into()))?;
    serde_json::from_str(&json).map_err(|e| LedgerError::Corrupt(format!("stored response: {e}")))
}
