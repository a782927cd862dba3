//! Users, sessions and failed sign-ins.

use crate::domain::account::{Email, Role};
use crate::server::db::Db;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// The customer's ledger account; `None` for support staff.
    pub account_id: Option<i64>,
}

/// A user row with its password hash, for signing in.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("an account with this e-mail already exists")]
    EmailTaken,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

fn is_constraint(e: &sqlx::Error, name: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(name))
        // SQLite names no constraint in its errors; its unique violations are told by kind.
        || matches!(e, sqlx::Error::Database(d) if d.constraint().is_none() && d.is_unique_violation())
}

fn user_from_row(r: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        role: Role::parse(&role)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role}").into()))?,
        account_id: r.try_get("account_id")?,
    })
}

/// Creates a customer with a new, empty ledger account, or a support user; one transaction.
pub async fn create(
    db: &Db,
    email: &Email,
    password_hash: &str,
    role: Role,
    now: i64,
) -> Result<User, UserError> {
    let mut tx = db.begin_write().await?;
    let account_id = match role {
        Role::Customer => Some(
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO accounts (email, created_at) VALUES ($1, $2) RETURNING id",
            )
            .bind(email.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                if is_constraint(&e, "accounts_email_unique") {
                    UserError::EmailTaken
                } else {
                    UserError::Db(e)
                }
            })?,
        ),
        Role::Support => None,
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (email, password_hash, role, account_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(email.as_str())
    .bind(password_hash)
    .bind(role.as_str())
    .bind(account_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| if is_constraint(&e, "users_email_unique") { UserError::EmailTaken } else { UserError::Db(e) })?;
    tx.commit().await?;
    Ok(User {
        id,
        email: email.as_str().to_owned(),
        role,
        account_id,
    })
}

pub async fn credentials(db: &Db, email: &Email) -> Result<Option<Credentials>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, email, role, account_id, password_hash FROM users WHERE email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(db.reader())
    .await?;
    row.map(|r| {
        Ok(Credentials {
            user: user_from_row(&r)?,
            password_hash: r.try_get("password_hash")?,
        })
    })
    .transpose()
}

/// The customer whose e-mail this is (support's look-up).
pub async fn find_customer(db: &Db, email: &Email) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, email, role, account_id FROM users WHERE email = $1 AND role = 'customer'",
    )
    .bind(email.as_str())
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn create_session(
    db: &Db,
    token_hash: &str,
    user_id: i64,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// The user of a live session.
pub async fn session_user(
    db: &Db,
    token_hash: &str,
    now: i64,
) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.role, u.account_id FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db.reader())
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn delete_session(db: &Db, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Attempts recorded for `key` since `since`.
pub async fn attempts_since(
    db: &Db,
    key: &str,
    since: i64,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(at) AS first FROM sign_in_failures WHERE key = $1 AND at > $2",
    )
    .bind(key)
    .bind(since)
    .fetch_one(db.reader())
    .await?;
    Ok((row.try_get("n")?, row.try_get("first")?))
}

/// Records an attempt under each key, before it is checked, so a burst of simultaneous
/// attempts counts in full; returns the rows' ids.
pub async fn record_attempt(db: &Db, keys: &[String], now: i64) -> Result<Vec<i64>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let mut ids = Vec::with_capacity(keys.len());
    for key in keys {
        ids.push(
            sqlx::query_scalar(
                "INSERT INTO sign_in_failures (key, at) VALUES ($1, $2) RETURNING id",
            )
            .bind(key)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?,
        );
    }
    tx.commit().await?;
    Ok(ids)
}

/// Forgets attempts that turned out to succeed.
pub async fn forget_attempts(db: &Db, ids: &[i64]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    for id in ids {
        sqlx::query("DELETE FROM sign_in_failures WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
