//! Service tokens for the usage API. Only the SHA-256 of a token is stored.

use crate::server::db::Db;
use sha2::{Digest, Sha256};

/// A caller of the usage API, identified by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceToken {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
}

/// What a token may do. Each usage API call needs one; a token has the ones chosen at
/// `token create` (tokens made before scopes existed have them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Price an operation.
    Estimate,
    /// Reserve credits before a job, and release a hold whose job never ran.
    Reserve,
    /// Charge a finished job.
    Capture,
    /// Credit back a failed part of a charge.
    Refund,
    /// Read an account's balance and journal.
    Read,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Estimate,
        Scope::Reserve,
        Scope::Capture,
        Scope::Refund,
        Scope::Read,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Estimate => "estimate",
            Scope::Reserve => "reserve",
            Scope::Capture => "capture",
            Scope::Refund => "refund",
            Scope::Read => "read",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// A comma-separated list such as `reserve,capture` (or `all`), sorted, without
    /// repeats.
    pub fn parse_list(list: &str) -> Result<Vec<Scope>, TokenError> {
        if list.trim() == "all" {
            return Ok(Scope::ALL.to_vec());
        }
        let mut scopes = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Scope::parse(s).ok_or_else(|| TokenError::BadScope(s.to_owned())))
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(TokenError::BadScope(list.to_owned()));
        }
        Ok(scopes)
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
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
    #[error(
        "unknown scope {0:?}: choose from estimate, reserve, capture, refund, read (comma-separated), or all"
    )]
    BadScope(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Creates a token and returns it; this is the only time it is ever visible.
pub async fn create(db: &Db, name: &str, scopes: &[Scope], now: i64) -> Result<String, TokenError> {
    if scopes.is_empty() {
        return Err(TokenError::BadScope(String::new()));
    }
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
    sqlx::query(
        "INSERT INTO service_tokens (name, token_hash, created_at, scopes) VALUES ($1, $2, $3, $4)",
    )
    .bind(name)
    .bind(hash(&token))
    .bind(now)
    .bind(Scope::join(scopes))
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

/// An active token as `token list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
}

/// Every active token, oldest first.
pub async fn list(db: &Db) -> Result<Vec<TokenRow>, sqlx::Error> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT name, scopes, created_at FROM service_tokens WHERE revoked_at IS NULL ORDER BY id",
    )
    .fetch_all(db.reader())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, scopes, created_at)| TokenRow {
            name,
            scopes: scopes.split(',').filter_map(Scope::parse).collect(),
            created_at,
        })
        .collect())
}

/// The active token that `presented` is, if any.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Option<ServiceToken>, sqlx::Error> {
    if !presented.starts_with(PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT id, name, scopes FROM service_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash(presented))
    .fetch_optional(db.reader())
    .await?;
    Ok(row.map(|(id, name, scopes)| ServiceToken {
        id,
        name,
        // An unknown word (written by a later version) grants nothing.
        scopes: scopes.split(',').filter_map(Scope::parse).collect(),
    }))
}
