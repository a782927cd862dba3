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
    pub disabled: bool,
}

/// How a user came to be: signing up, `seed demo`, or an operator's `user create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    SignUp,
    SeedDemo,
    Operator,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::SignUp => "sign-up",
            Origin::SeedDemo => "seed-demo",
            Origin::Operator => "operator",
        }
    }
}

/// A user as `user list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub email: String,
    pub role: Role,
    pub origin: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

/// One entry of the staff audit list: a change to who may do what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffChange {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: Option<String>,
}

/// The actor of changes made on the command line.
pub const OPERATOR: &str = "operator (command line)";

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("an account with this e-mail already exists")]
    EmailTaken,
    #[error("no user has the e-mail {0}")]
    NotFound(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

fn is_constraint(e: &sqlx::Error, name: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(name))
        // SQLite names no constraint in its errors; its unique violations are told by kind.
        || matches!(e, sqlx::Error::Database(d) if d.constraint().is_none() && d.is_unique_violation())
}

/// The user columns of a row, as stored.
#[derive(sqlx::FromRow)]
struct UserColumns {
    id: i64,
    email: String,
    role: String,
    account_id: Option<i64>,
}

fn user_from_row(r: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    let u = <UserColumns as sqlx::FromRow<sqlx::any::AnyRow>>::from_row(r)?;
    Ok(User {
        id: u.id,
        email: u.email,
        role: Role::parse(&u.role)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown role {}", u.role).into()))?,
        account_id: u.account_id,
    })
}

pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

async fn new_account(tx: &mut Tx, email: &str, now: i64) -> Result<i64, UserError> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO accounts (email, created_at) VALUES ($1, $2) RETURNING id",
    )
    .bind(email)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| {
        if is_constraint(&e, "accounts_email_unique") {
            UserError::EmailTaken
        } else {
            UserError::Db(e)
        }
    })
}

/// Writes one entry of the staff audit list, inside the change's own transaction.
pub(crate) async fn audit(tx: &mut Tx, change: &StaffChange, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO staff_audit (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now)
    .bind(&change.actor)
    .bind(&change.action)
    .bind(&change.subject)
    .bind(&change.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Creates a customer with a new, empty ledger account, or a support user; one
/// transaction. Support users (and every user an operator makes) are in the staff audit
/// list.
pub async fn create(
    db: &Db,
    email: &Email,
    password_hash: &str,
    role: Role,
    origin: Origin,
    now: i64,
) -> Result<User, UserError> {
    let mut tx = db.begin_write().await?;
    let account_id = match role {
        Role::Customer => Some(new_account(&mut tx, email.as_str(), now).await?),
        Role::Support => None,
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (email, password_hash, role, account_id, created_at, origin) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(email.as_str())
    .bind(password_hash)
    .bind(role.as_str())
    .bind(account_id)
    .bind(now)
    .bind(origin.as_str())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| if is_constraint(&e, "users_email_unique") { UserError::EmailTaken } else { UserError::Db(e) })?;
    if role == Role::Support || origin == Origin::Operator {
        let actor = match origin {
            Origin::Operator => OPERATOR,
            Origin::SeedDemo => "seed demo",
            Origin::SignUp => "sign-up",
        };
        let change = StaffChange {
            actor: actor.to_owned(),
            action: "user created".to_owned(),
            subject: email.as_str().to_owned(),
            detail: Some(format!("role {}", role.as_str())),
        };
        audit(&mut tx, &change, now).await?;
    }
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
        "SELECT id, email, role, account_id, password_hash, disabled_at FROM users WHERE email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(db.reader())
    .await?;
    row.map(|r| {
        Ok(Credentials {
            user: user_from_row(&r)?,
            password_hash: r.try_get("password_hash")?,
            disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        })
    })
    .transpose()
}

/// The customer whose e-mail this is (support's look-up).
pub async fn find_customer(db: &Db, email: &Email) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, email, role, account_id FROM users WHERE email = $1 AND role = 'customer' AND account_id IS NOT NULL",
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
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
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

/// Every user, oldest first, for `user list`.
pub async fn list(db: &Db) -> Result<Vec<UserRow>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT email, role, origin, created_at, disabled_at FROM users ORDER BY id")
            .fetch_all(db.reader())
            .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok(UserRow {
                email: r.try_get("email")?,
                role: Role::parse(&role)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role}").into()))?,
                origin: r.try_get("origin")?,
                created_at: r.try_get("created_at")?,
                disabled_at: r.try_get("disabled_at")?,
            })
        })
        .collect()
}

/// How many users exist that `seed demo` did not make.
pub async fn count_not_seeded(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE origin <> 'seed-demo'")
        .fetch_one(db.reader())
        .await
}

/// The hashes of users who could still carry a published password: those `seed demo`
/// made and every support user, enabled ones only.
pub async fn hashes_to_check_for_demo_passwords(
    db: &Db,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT email, password_hash FROM users \
         WHERE disabled_at IS NULL AND (origin = 'seed-demo' OR role = 'support') ORDER BY id",
    )
    .fetch_all(db.reader())
    .await
}

/// What an operator changes about an existing user.
#[derive(Debug, Clone)]
pub enum UserChange {
    Role(Role),
    Disable,
    Enable,
    /// A new password hash (the password itself never reaches this function).
    Password(String),
}

/// Applies one operator change to the user with this e-mail, with its audit entry, in one
/// transaction. Disabling (and a new password) ends the user's sessions. Returns whether
/// anything changed (setting a role a user already has changes nothing and is not
/// audited).
pub async fn change(
    db: &Db,
    email: &Email,
    what: UserChange,
    actor: &str,
    now: i64,
) -> Result<bool, UserError> {
    let mut tx = db.begin_write().await?;
    let row: Option<(i64, String, Option<i64>, Option<i64>)> =
        sqlx::query_as("SELECT id, role, account_id, disabled_at FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let Some((id, role, account_id, disabled_at)) = row else {
        return Err(UserError::NotFound(email.as_str().to_owned()));
    };
    let (action, detail, end_sessions) = match &what {
        UserChange::Role(new) => {
            if role == new.as_str() {
                return Ok(false);
            }
            // A support user made a customer gets a ledger account if they never had one.
            let account = match (new, account_id) {
                (Role::Customer, None) => Some(new_account(&mut tx, email.as_str(), now).await?),
                _ => account_id,
            };
            sqlx::query("UPDATE users SET role = $1, account_id = $2 WHERE id = $3")
                .bind(new.as_str())
                .bind(account)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            (
                "role changed",
                Some(format!("{role} -> {}", new.as_str())),
                true,
            )
        }
        UserChange::Disable => {
            if disabled_at.is_some() {
                return Ok(false);
            }
            sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            ("user disabled", None, true)
        }
        UserChange::Enable => {
            if disabled_at.is_none() {
                return Ok(false);
            }
            sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            ("user enabled", None, false)
        }
        UserChange::Password(hash) => {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(hash)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            ("password set", None, true)
        }
    };
    if end_sessions {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let entry = StaffChange {
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: email.as_str().to_owned(),
        detail,
    };
    audit(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// The staff audit list, newest first.
pub async fn staff_changes(db: &Db, limit: i64) -> Result<Vec<(i64, StaffChange)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT at, actor, action, subject, detail FROM staff_audit ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("at")?,
                StaffChange {
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    detail: r.try_get("detail")?,
                },
            ))
        })
        .collect()
}

/// Forgets sign-in attempts older than `before` (the scheduler's pruning); returns how
/// many went.
pub async fn prune_attempts(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sign_in_failures WHERE at <= $1")
        .bind(before)
        .execute(db.writer())
        .await?
        .rows_affected())
}

/// Deletes sessions past their expiry; returns how many went.
pub async fn prune_sessions(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(db.writer())
        .await?
        .rows_affected())
}

/// The time zone the customer of `account` chose, if any.
pub async fn time_zone_of_account<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    on: E,
    account: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT time_zone FROM users WHERE account_id = $1 AND role = 'customer' ORDER BY id LIMIT 1",
    )
    .bind(account)
    .fetch_optional(on)
    .await
    .map(Option::flatten)
}

/// The time zone user `user_id` chose, if any.
pub async fn time_zone(db: &Db, user_id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT time_zone FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db.reader())
        .await
        .map(Option::flatten)
}

/// Sets user `user_id`'s time zone to `zone` (already checked), or, `only_if_unset`, only
/// while they have none (a browser's offer never overrides a choice). Returns the zone
/// the user has afterwards.
pub async fn set_time_zone(
    db: &Db,
    user_id: i64,
    zone: &str,
    only_if_unset: bool,
) -> Result<Option<String>, sqlx::Error> {
    let sql = if only_if_unset {
        "UPDATE users SET time_zone = $1 WHERE id = $2 AND time_zone IS NULL"
    } else {
        "UPDATE users SET time_zone = $1 WHERE id = $2"
    };
    sqlx::query(sql)
        .bind(zone)
        .bind(user_id)
        .execute(db.writer())
        .await?;
    sqlx::query_scalar("SELECT time_zone FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db.writer())
        .await
        .map(Option::flatten)
}
