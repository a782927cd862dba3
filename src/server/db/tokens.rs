//! Service tokens for the usage API. Only the SHA-256 of a token is stored.

use crate::server::db::Db;
use sha2::{Digest, Sha256};

/// A caller of the usage API, identified by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceToken {
    pub id: i64,
    pub name: String,
}

const PREFIX: &str = "sbt_";

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token named {0:?} already exists; revoke it first")]
    NameTaken(String),
    #[error("no active token is named {0:?}")]
    NotFound(String),
    #[error("the name must be 1-64 letters, digits, '-', '_' or '.'")]
    BadName,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Creates a token and returns it; this is the only time it is ever visible.
pub async fn create(db: &Db, name: &str, now: i64) -> Result<String, TokenError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(TokenError::BadName);
    }
    let token = format!("{PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    let mut tx = db.begin_write().await?;
    let taken: Option<i64> =
        sqlx::query_scalar("SELECT id FROM service_tokens WHERE name = $1 AND revoked_at IS NULL")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    if taken.is_some() {
        return Err(TokenError::NameTaken(name.to_owned()));
    }
    sqlx::query("INSERT INTO service_tokens (name, token_hash, created_at) VALUES ($1, $2, $3)")
        .bind(name)
        .bind(hash(&token))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(token)
}

pub async fn revoke(db: &Db, name: &str, now: i64) -> Result<(), TokenError> {
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE service_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(name)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(TokenError::NotFound(name.to_owned()));
    }
    tx.commit().await?;
    Ok(())
}

/// The active token that `presented` is, if any.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Option<ServiceToken>, sqlx::Error> {
    if !presented.starts_with(PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, name FROM service_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash(presented))
    .fetch_optional(db.reader())
    .await?;
    Ok(row.map(|(id, name)| ServiceToken { id, name }))
}
