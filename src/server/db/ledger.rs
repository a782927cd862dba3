//! Storage of the credits ledger. Each public function is one mutation in one transaction:
//! lock the account row, load what the rule needs, ask `domain::ledger`, write the result
//! and one journal entry, update the account's totals, commit.
//!
//! The account row is the single lock per account (`FOR UPDATE` on PostgreSQL; SQLite's
//! `BEGIN IMMEDIATE` serializes all writers), taken before any other row of the account is
//! read, so concurrent mutations of one account run one after another and never deadlock.

use crate::domain::credits::Credits;
use crate::domain::ledger::{
    self as rules, Allocation, Grant, GrantKind, Insufficient, Paid, UnixSeconds,
};
pub use crate::domain::ledger::{BalanceView, JournalEntry, ManualChange};
use crate::domain::pricing::Operation;
use crate::server::db::{Backend, Db};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

pub(crate) type Tx = Transaction<'static, Any>;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("account {0} was not found")]
    AccountNotFound(i64),
    #[error("hold {0} was not found")]
    HoldNotFound(i64),
    #[error("hold {hold_id} is already {status}")]
    HoldSettled { hold_id: i64, status: String },
    #[error("hold {0} expired and its credits were released")]
    HoldExpired(i64),
    #[error("hold {0} was not captured, so there is nothing to refund")]
    NotCaptured(i64),
    #[error(transparent)]
    Insufficient(InsufficientCredits),
    #[error("only {refundable} credits of this charge can still be refunded")]
    RefundTooLarge { refundable: Credits },
    #[error("this idempotency key was already used with a different request")]
    IdempotencyConflict,
    #[error("an amount is out of range")]
    OutOfRange,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}

/// Too little balance (P10), with what the customer needs to decide what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("this needs {needed} credits but only {available} are available")]
pub struct InsufficientCredits {
    pub needed: Credits,
    pub available: Credits,
    pub renews_at: Option<UnixSeconds>,
}

/// The key of a mutation from outside, and the hash of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub scope: String,
    pub key: String,
    pub request_hash: String,
}

/// Credits split by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KindSplit {
    pub subscription: Credits,
    pub adjustment: Credits,
    pub topup: Credits,
}

impl KindSplit {
    fn add(&mut self, kind: GrantKind, amount: Credits) -> Result<(), LedgerError> {
        let slot = match kind {
            GrantKind::Subscription => &mut self.subscription,
            GrantKind::Adjustment => &mut self.adjustment,
            GrantKind::Topup => &mut self.topup,
        };
        *slot = slot
            .checked_add(amount)
            .map_err(|_| LedgerError::OutOfRange)?;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GrantReceipt {
    pub grant_id: i64,
    pub account_id: i64,
    pub kind: GrantKind,
    pub amount: Credits,
    pub expires_at: Option<UnixSeconds>,
    pub balance_after: Credits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HoldReceipt {
    pub hold_id: i64,
    pub account_id: i64,
    pub operation: Operation,
    pub estimate: Credits,
    pub reserved: Credits,
    pub expires_at: UnixSeconds,
}

/// What a finished job produced and what its capture may charge: its real size, that size's
/// price, and the tolerance above the hold (percent) the charge may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actual {
    pub quantity: u64,
    pub cost: Credits,
    pub tolerance_percent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaptureReceipt {
    pub hold_id: i64,
    pub account_id: i64,
    pub operation: Operation,
    pub estimate: Credits,
    pub reserved: Credits,
    pub actual_cost: Credits,
    pub charged: Credits,
    pub released: Credits,
    /// What of the cost within the limit the balance could not cover (not charged).
    pub shortfall: Credits,
    /// What the actual cost was above the hold plus the capture tolerance (not charged).
    #[serde(default)]
    pub over_limit: Credits,
    pub paid_by: KindSplit,
    pub balance_after: Credits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseReceipt {
    pub hold_id: i64,
    pub account_id: i64,
    pub released: Credits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefundReceipt {
    pub hold_id: i64,
    pub account_id: i64,
    pub refunded: Credits,
    pub returned_to: KindSplit,
    pub reason: String,
    pub balance_after: Credits,
}

/// A difference `verify` found between an account's totals and its journal and grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    pub account_id: i64,
    pub what: String,
}

/// A new grant.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub kind: GrantKind,
    pub amount: Credits,
    pub expires_at: Option<UnixSeconds>,
    pub reason: String,
    /// Who made it by hand (a support user's e-mail); `None` for the ledger's own grants.
    pub actor: Option<String>,
}

/// A new hold.
#[derive(Debug, Clone)]
pub struct NewHold {
    pub operation: Operation,
    pub quantity: u64,
    pub estimate: Credits,
    pub amount: Credits,
    pub expires_at: UnixSeconds,
}

// ---------------------------------------------------------------------------------------
// Rows and helpers

fn credits(v: i64) -> Result<Credits, LedgerError> {
    u64::try_from(v)
        .ok()
        .and_then(|v| Credits::new(v).ok())
        .ok_or_else(|| LedgerError::Corrupt(format!("negative amount {v}")))
}

fn db_int(c: Credits) -> i64 {
    // Credits are capped at i64::MAX by construction.
    i64::try_from(c.get()).unwrap_or(i64::MAX)
}

/// The account row, locked, with its running totals.
pub(crate) struct Account {
    id: i64,
    balance: Credits,
    held: Credits,
    next_expiry_at: Option<UnixSeconds>,
    renews_at: Option<UnixSeconds>,
    seq: i64,
}

/// Locks an account's row for the rest of the transaction: the one lock every change to an
/// account takes first (SQLite's `BEGIN IMMEDIATE` already serializes all writers).
pub(crate) async fn lock_account(
    tx: &mut Tx,
    backend: Backend,
    id: i64,
) -> Result<Account, LedgerError> {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT balance, held, next_expiry_at, renews_at, journal_seq FROM accounts WHERE id = $1 FOR UPDATE"
        }
        Backend::Sqlite => {
            "SELECT balance, held, next_expiry_at, renews_at, journal_seq FROM accounts WHERE id = $1"
        }
    };
    let row = sqlx::query(sql)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(LedgerError::AccountNotFound(id))?;
    Ok(Account {
        id,
        balance: credits(row.try_get("balance")?)?,
        held: credits(row.try_get("held")?)?,
        next_expiry_at: row.try_get("next_expiry_at")?,
        renews_at: row.try_get("renews_at")?,
        seq: row.try_get("journal_seq")?,
    })
}

async fn save_account(tx: &mut Tx, a: &Account) -> Result<(), LedgerError> {
    sqlx::query("UPDATE accounts SET balance = $1, held = $2, next_expiry_at = $3, journal_seq = $4 WHERE id = $5")
        .bind(db_int(a.balance))
        .bind(db_int(a.held))
        .bind(a.next_expiry_at)
        .bind(a.seq)
        .bind(a.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One journal entry; the account's totals must already be updated.
struct Entry<'a> {
    kind: &'a str,
    amount: i64,
    grant_id: Option<i64>,
    hold_id: Option<i64>,
    detail: Option<String>,
    actor: Option<&'a str>,
}

async fn append(
    tx: &mut Tx,
    a: &mut Account,
    now: UnixSeconds,
    e: Entry<'_>,
) -> Result<(), LedgerError> {
    a.seq += 1;
    sqlx::query(
        "INSERT INTO journal (account_id, seq, at, kind, amount, balance_after, held_after, grant_id, hold_id, detail, actor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(a.id)
    .bind(a.seq)
    .bind(now)
    .bind(e.kind)
    .bind(e.amount)
    .bind(db_int(a.balance))
    .bind(db_int(a.held))
    .bind(e.grant_id)
    .bind(e.hold_id)
    .bind(e.detail)
    .bind(e.actor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn grant_from_row(row: &AnyRow) -> Result<Grant, LedgerError> {
    let kind: String = row.try_get("kind")?;
    Ok(Grant {
        id: row.try_get("id")?,
        kind: GrantKind::parse(&kind)
            .ok_or_else(|| LedgerError::Corrupt(format!("grant kind {kind}")))?,
        remaining: credits(row.try_get("remaining")?)?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// The grants of a locked account that still count (not expired by an entry).
async fn open_grants(tx: &mut Tx, account: i64) -> Result<Vec<Grant>, LedgerError> {
    sqlx::query("SELECT id, kind, remaining, expires_at FROM grants WHERE account_id = $1 AND expired = 0 AND remaining > 0")
        .bind(account)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(grant_from_row)
        .collect()
}

/// Writes the expiry of every grant whose time has come (P3), so the balance and the
/// journal agree with the clock before anything else happens.
async fn settle_expiries(
    tx: &mut Tx,
    a: &mut Account,
    now: UnixSeconds,
) -> Result<(), LedgerError> {
    if a.next_expiry_at.is_none_or(|at| at > now) {
        return Ok(());
    }
    let due = sqlx::query(
        "SELECT id, kind, remaining, expires_at FROM grants \
         WHERE account_id = $1 AND expired = 0 AND expires_at IS NOT NULL AND expires_at <= $2 ORDER BY expires_at, id",
    )
    .bind(a.id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    for row in &due {
        let g = grant_from_row(row)?;
        sqlx::query("UPDATE grants SET remaining = 0, expired = 1 WHERE id = $1")
            .bind(g.id)
            .execute(&mut **tx)
            .await?;
        if g.remaining.is_zero() {
            continue;
        }
        a.balance = a
            .balance
            .checked_sub(g.remaining)
            .map_err(|_| LedgerError::Corrupt("expiry below zero".into()))?;
        append(
            tx,
            a,
            now,
            Entry {
                kind: "expire",
                amount: -db_int(g.remaining),
                grant_id: Some(g.id),
                hold_id: None,
                detail: None,
                actor: None,
            },
        )
        .await?;
    }
    a.next_expiry_at = next_expiry(tx, a.id).await?;
    Ok(())
}

async fn next_expiry(tx: &mut Tx, account: i64) -> Result<Option<UnixSeconds>, LedgerError> {
    Ok(sqlx::query_scalar(
        "SELECT MIN(expires_at) FROM grants WHERE account_id = $1 AND expired = 0 AND remaining > 0 AND expires_at IS NOT NULL",
    )
    .bind(account)
    .fetch_one(&mut **tx)
    .await?)
}

/// Takes the credits of `allocations` out of their grants.
async fn draw(tx: &mut Tx, allocations: &[Allocation]) -> Result<(), LedgerError> {
    for a in allocations {
        sqlx::query("UPDATE grants SET remaining = remaining - $1 WHERE id = $2")
            .bind(db_int(a.amount))
            .bind(a.grant_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Claims an idempotency key inside `tx`. Returns the stored response if the key was used
/// before with the same request; a conflict if with a different one.
async fn claim_key<T: DeserializeOwned>(
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

async fn store_response<T: Serialize>(
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

/// A hold row, read under its account's lock.
struct HoldRow {
    id: i64,
    operation: Operation,
    estimate: Credits,
    amount: Credits,
    status: String,
    expires_at: UnixSeconds,
    charged: Option<i64>,
    refunded: Credits,
}

fn parse_operation(s: &str) -> Result<Operation, LedgerError> {
    Operation::from_key(s).ok_or_else(|| LedgerError::Corrupt(format!("operation {s}")))
}

/// The account a hold belongs to, read inside the transaction (a second connection here
/// could starve the pool under load). A hold never changes account, so reading it before
/// the account lock is safe.
async fn hold_account(tx: &mut Tx, hold_id: i64) -> Result<i64, LedgerError> {
    sqlx::query_scalar("SELECT account_id FROM holds WHERE id = $1")
        .bind(hold_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(LedgerError::HoldNotFound(hold_id))
}

async fn load_hold(tx: &mut Tx, hold_id: i64) -> Result<HoldRow, LedgerError> {
    let row = sqlx::query(
        "SELECT id, operation, estimate, amount, status, expires_at, charged, refunded FROM holds WHERE id = $1",
    )
    .bind(hold_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(LedgerError::HoldNotFound(hold_id))?;
    let op: String = row.try_get("operation")?;
    Ok(HoldRow {
        id: row.try_get("id")?,
        operation: parse_operation(&op)?,
        estimate: credits(row.try_get("estimate")?)?,
        amount: credits(row.try_get("amount")?)?,
        status: row.try_get("status")?,
        expires_at: row.try_get("expires_at")?,
        charged: row.try_get("charged")?,
        refunded: credits(row.try_get("refunded")?)?,
    })
}

// ---------------------------------------------------------------------------------------
// Mutations

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

/// Sets when the plan's credits next renew (shown with a P10 notice).
pub async fn set_renewal(
    db: &Db,
    account: i64,
    renews_at: Option<UnixSeconds>,
) -> Result<(), LedgerError> {
    let mut tx = db.begin_write().await?;
    let n = sqlx::query("UPDATE accounts SET renews_at = $1 WHERE id = $2")
        .bind(renews_at)
        .bind(account)
        .execute(&mut *tx)
        .await?;
    if n.rows_affected() == 0 {
        return Err(LedgerError::AccountNotFound(account));
    }
    tx.commit().await?;
    Ok(())
}

/// Adds a block of credits to an account.
pub async fn grant(
    db: &Db,
    account: i64,
    g: NewGrant,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<GrantReceipt, LedgerError> {
    let mut tx = db.begin_write().await?;
    let receipt = grant_in(&mut tx, db.backend(), account, g, idem, now).await?;
    tx.commit().await?;
    Ok(receipt)
}

/// [`grant`] inside a transaction the caller commits, so the grant and what caused it
/// (a paid checkout's webhook event) are one change.
pub(crate) async fn grant_in(
    tx: &mut Tx,
    backend: Backend,
    account: i64,
    g: NewGrant,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<GrantReceipt, LedgerError> {
    let mut a = lock_account(tx, backend, account).await?;
    if let Some(done) = claim_key(tx, idem, now).await? {
        return Ok(done);
    }
    settle_expiries(tx, &mut a, now).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO grants (account_id, kind, amount, remaining, expires_at, reason, created_at) \
         VALUES ($1, $2, $3, $3, $4, $5, $6) RETURNING id",
    )
    .bind(account)
    .bind(g.kind.as_str())
    .bind(db_int(g.amount))
    .bind(g.expires_at)
    .bind(&g.reason)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    a.balance = a
        .balance
        .checked_add(g.amount)
        .map_err(|_| LedgerError::OutOfRange)?;
    if let Some(at) = g.expires_at {
        a.next_expiry_at = Some(a.next_expiry_at.map_or(at, |n| n.min(at)));
    }
    let detail = serde_json::json!({ "grant_kind": g.kind, "reason": g.reason }).to_string();
    append(
        tx,
        &mut a,
        now,
        Entry {
            kind: "grant",
            amount: db_int(g.amount),
            grant_id: Some(id),
            hold_id: None,
            detail: Some(detail),
            actor: g.actor.as_deref(),
        },
    )
    .await?;
    save_account(tx, &a).await?;
    let receipt = GrantReceipt {
        grant_id: id,
        account_id: account,
        kind: g.kind,
        amount: g.amount,
        expires_at: g.expires_at,
        balance_after: a.balance,
    };
    store_response(tx, idem, &receipt).await?;
    Ok(receipt)
}

/// Reserves credits for a job (P10: all or nothing).
pub async fn reserve(
    db: &Db,
    account: i64,
    h: NewHold,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<HoldReceipt, LedgerError> {
    match db.backend() {
        Backend::Postgres => reserve_in_one_call(db, account, h, idem, now).await,
        Backend::Sqlite => reserve_in_steps(db, account, h, idem, now).await,
    }
}

/// PostgreSQL: `ledger_reserve` (migrations/postgres/…_ledger_hot_path.sql) does the same
/// as `reserve_in_steps`, in one round trip.
async fn reserve_in_one_call(
    db: &Db,
    account: i64,
    h: NewHold,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<HoldReceipt, LedgerError> {
    let quantity = i64::try_from(h.quantity).map_err(|_| LedgerError::OutOfRange)?;
    let call = || {
        sqlx::query(
            "SELECT o_outcome, o_available, o_renews_at, o_response \
             FROM ledger_reserve($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(account)
        .bind(h.operation.key())
        .bind(quantity)
        .bind(db_int(h.estimate))
        .bind(db_int(h.amount))
        .bind(h.expires_at)
        .bind(now)
        .bind(idem.map(|i| i.scope.clone()))
        .bind(idem.map(|i| i.key.clone()))
        .bind(idem.map(|i| i.request_hash.clone()))
        .fetch_one(db.writer())
    };
    let row = match call().await {
        Err(e) if lost_key_race(&e) => call().await?,
        other => other?,
    };
    let outcome: String = row.try_get("o_outcome")?;
    match outcome.as_str() {
        "ok" | "replay" => stored(row.try_get("o_response")?),
        "account_not_found" => Err(LedgerError::AccountNotFound(account)),
        "idempotency_conflict" => Err(LedgerError::IdempotencyConflict),
        "insufficient" => Err(LedgerError::Insufficient(InsufficientCredits {
            needed: h.amount,
            available: credits(row.try_get::<Option<i64>, _>("o_available")?.unwrap_or(0))?,
            renews_at: row.try_get("o_renews_at")?,
        })),
        other => Err(LedgerError::Corrupt(format!(
            "ledger_reserve outcome {other}"
        ))),
    }
}

/// Two calls with one idempotency key on different accounts raced to store it, and this
/// one lost (its effects were rolled back). Asked again, it finds the winner's result.
fn lost_key_race(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some("idempotency_keys_pkey"))
}

/// A receipt stored as JSON (by the PostgreSQL functions, or for an idempotent replay).
fn stored<T: DeserializeOwned>(json: Option<String>) -> Result<T, LedgerError> {
    let json = json.ok_or_else(|| LedgerError::Corrupt("missing stored response".into()))?;
    serde_json::from_str(&json).map_err(|e| LedgerError::Corrupt(format!("stored response: {e}")))
}

async fn reserve_in_steps(
    db: &Db,
    account: i64,
    h: NewHold,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<HoldReceipt, LedgerError> {
    let mut tx = db.begin_write().await?;
    let mut a = lock_account(&mut tx, db.backend(), account).await?;
    if let Some(done) = claim_key(&mut tx, idem, now).await? {
        return Ok(done);
    }
    settle_expiries(&mut tx, &mut a, now).await?;
    rules::check_reserve(a.balance, a.held, h.amount).map_err(
        |Insufficient { needed, available }| {
            LedgerError::Insufficient(InsufficientCredits {
                needed,
                available,
                renews_at: a.renews_at,
            })
        },
    )?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO holds (account_id, operation, quantity, estimate, amount, status, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, 'held', $6, $7) RETURNING id",
    )
    .bind(account)
    .bind(h.operation.key())
    .bind(i64::try_from(h.quantity).map_err(|_| LedgerError::OutOfRange)?)
    .bind(db_int(h.estimate))
    .bind(db_int(h.amount))
    .bind(now)
    .bind(h.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    a.held = a
        .held
        .checked_add(h.amount)
        .map_err(|_| LedgerError::OutOfRange)?;
    let detail = serde_json::json!({ "operation": h.operation, "reserved": h.amount }).to_string();
    append(
        &mut tx,
        &mut a,
        now,
        Entry {
            kind: "reserve",
            amount: 0,
            grant_id: None,
            hold_id: Some(id),
            detail: Some(detail),
            actor: None,
        },
    )
    .await?;
    save_account(&mut tx, &a).await?;
    let receipt = HoldReceipt {
        hold_id: id,
        account_id: account,
        operation: h.operation,
        estimate: h.estimate,
        reserved: h.amount,
        expires_at: h.expires_at,
    };
    store_response(&mut tx, idem, &receipt).await?;
    tx.commit().await?;
    Ok(receipt)
}

/// Locks the hold's account, then reads the hold; checks it belongs to `expected_account`
/// when one is given.
async fn lock_hold(
    db: &Db,
    tx: &mut Tx,
    hold_id: i64,
    expected_account: Option<i64>,
) -> Result<(Account, HoldRow), LedgerError> {
    let account = hold_account(tx, hold_id).await?;
    if expected_account.is_some_and(|e| e != account) {
        // Another account's hold is reported as missing: its existence is not the caller's business.
        return Err(LedgerError::HoldNotFound(hold_id));
    }
    let a = lock_account(tx, db.backend(), account).await?;
    let hold = load_hold(tx, hold_id).await?;
    Ok((a, hold))
}

fn require_open(hold: &HoldRow, now: UnixSeconds) -> Result<(), LedgerError> {
    match hold.status.as_str() {
        "held" if now >= hold.expires_at => Err(LedgerError::HoldExpired(hold.id)),
        "held" => Ok(()),
        "expired" => Err(LedgerError::HoldExpired(hold.id)),
        other => Err(LedgerError::HoldSettled {
            hold_id: hold.id,
            status: other.to_owned(),
        }),
    }
}

/// Charges the actual cost of a job and frees the rest of its hold (P2).
pub async fn capture(
    db: &Db,
    hold_id: i64,
    expected_account: Option<i64>,
    actual: Actual,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<CaptureReceipt, LedgerError> {
    match db.backend() {
        Backend::Postgres => {
            capture_in_one_call(db, hold_id, expected_account, actual, idem, now).await
        }
        Backend::Sqlite => capture_in_steps(db, hold_id, expected_account, actual, idem, now).await,
    }
}

/// PostgreSQL: `ledger_capture` does the same as `capture_in_steps`, in one round trip.
async fn capture_in_one_call(
    db: &Db,
    hold_id: i64,
    expected_account: Option<i64>,
    actual: Actual,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<CaptureReceipt, LedgerError> {
    let Actual {
        quantity,
        cost: actual,
        tolerance_percent,
    } = actual;
    let quantity = i64::try_from(quantity).map_err(|_| LedgerError::OutOfRange)?;
    let call = || {
        sqlx::query(
            "SELECT o_outcome, o_status, o_response FROM ledger_capture($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(hold_id)
        .bind(expected_account)
        .bind(quantity)
        .bind(db_int(actual))
        .bind(i64::from(tolerance_percent))
        .bind(now)
        .bind(idem.map(|i| i.scope.clone()))
        .bind(idem.map(|i| i.key.clone()))
        .bind(idem.map(|i| i.request_hash.clone()))
        .fetch_one(db.writer())
    };
    let row = match call().await {
        Err(e) if lost_key_race(&e) => call().await?,
        other => other?,
    };
    let outcome: String = row.try_get("o_outcome")?;
    match outcome.as_str() {
        "ok" | "replay" => stored(row.try_get("o_response")?),
        "hold_not_found" => Err(LedgerError::HoldNotFound(hold_id)),
        "idempotency_conflict" => Err(LedgerError::IdempotencyConflict),
        "hold_expired" => Err(LedgerError::HoldExpired(hold_id)),
        "hold_settled" => Err(LedgerError::HoldSettled {
            hold_id,
            status: row
                .try_get::<Option<String>, _>("o_status")?
                .unwrap_or_default(),
        }),
        other => Err(LedgerError::Corrupt(format!(
            "ledger_capture outcome {other}"
        ))),
    }
}

async fn capture_in_steps(
    db: &Db,
    hold_id: i64,
    expected_account: Option<i64>,
    actual: Actual,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<CaptureReceipt, LedgerError> {
    let Actual {
        quantity: actual_quantity,
        cost: actual,
        tolerance_percent,
    } = actual;
    let mut tx = db.begin_write().await?;
    let (mut a, hold) = lock_hold(db, &mut tx, hold_id, expected_account).await?;
    if let Some(done) = claim_key(&mut tx, idem, now).await? {
        return Ok(done);
    }
    require_open(&hold, now)?;
    settle_expiries(&mut tx, &mut a, now).await?;
    let grants = open_grants(&mut tx, a.id).await?;
    let other_held = a
        .held
        .checked_sub(hold.amount)
        .map_err(|_| LedgerError::Corrupt("held below hold".into()))?;
    let plan = rules::plan_capture(
        &grants,
        hold.amount,
        other_held,
        actual,
        tolerance_percent,
        now,
    );
    draw(&mut tx, &plan.allocations).await?;
    let mut paid_by = KindSplit::default();
    for (position, part) in plan.allocations.iter().enumerate() {
        paid_by.add(part.kind, part.amount)?;
        sqlx::query("INSERT INTO charge_parts (hold_id, position, grant_id, kind, amount) VALUES ($1, $2, $3, $4, $5)")
            .bind(hold.id)
            .bind(i64::try_from(position).map_err(|_| LedgerError::OutOfRange)?)
            .bind(part.grant_id)
            .bind(part.kind.as_str())
            .bind(db_int(part.amount))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE holds SET status = 'captured', settled_at = $1, actual_quantity = $2, actual = $3, charged = $4, \
         released = $5, shortfall = $6, over_limit = $7 WHERE id = $8",
    )
    .bind(now)
    .bind(i64::try_from(actual_quantity).map_err(|_| LedgerError::OutOfRange)?)
    .bind(db_int(actual))
    .bind(db_int(plan.charged))
    .bind(db_int(plan.released))
    .bind(db_int(plan.shortfall))
    .bind(db_int(plan.over_limit))
    .bind(hold.id)
    .execute(&mut *tx)
    .await?;
    a.balance = a
        .balance
        .checked_sub(plan.charged)
        .map_err(|_| LedgerError::Corrupt("charge below zero".into()))?;
    a.held = other_held;
    // `next_expiry_at` may now point at a drained grant; that only makes the next
    // mutation look for expiries once more, so it is left as it is.
    let detail = serde_json::json!({
        "operation": hold.operation, "actual_cost": actual, "charged": plan.charged,
        "released": plan.released, "shortfall": plan.shortfall, "over_limit": plan.over_limit,
    })
    .to_string();
    append(
        &mut tx,
        &mut a,
        now,
        Entry {
            kind: "capture",
            amount: -db_int(plan.charged),
            grant_id: None,
            hold_id: Some(hold.id),
            detail: Some(detail),
            actor: None,
        },
    )
    .await?;
    save_account(&mut tx, &a).await?;
    let receipt = CaptureReceipt {
        hold_id: hold.id,
        account_id: a.id,
        operation: hold.operation,
        estimate: hold.estimate,
        reserved: hold.amount,
        actual_cost: actual,
        charged: plan.charged,
        released: plan.released,
        shortfall: plan.shortfall,
        over_limit: plan.over_limit,
        paid_by,
        balance_after: a.balance,
    };
    store_response(&mut tx, idem, &receipt).await?;
    tx.commit().await?;
    Ok(receipt)
}

/// Frees a whole hold without charging (the job did not run).
pub async fn release(
    db: &Db,
    hold_id: i64,
    expected_account: Option<i64>,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<ReleaseReceipt, LedgerError> {
    let mut tx = db.begin_write().await?;
    let (mut a, hold) = lock_hold(db, &mut tx, hold_id, expected_account).await?;
    if let Some(done) = claim_key(&mut tx, idem, now).await? {
        return Ok(done);
    }
    require_open(&hold, now)?;
    let receipt = end_hold(&mut tx, &mut a, &hold, "released", now).await?;
    store_response(&mut tx, idem, &receipt).await?;
    tx.commit().await?;
    Ok(receipt)
}

async fn end_hold(
    tx: &mut Tx,
    a: &mut Account,
    hold: &HoldRow,
    status: &str,
    now: UnixSeconds,
) -> Result<ReleaseReceipt, LedgerError> {
    sqlx::query("UPDATE holds SET status = $1, settled_at = $2, released = amount, charged = 0 WHERE id = $3")
        .bind(status)
        .bind(now)
        .bind(hold.id)
        .execute(&mut **tx)
        .await?;
    a.held = a
        .held
        .checked_sub(hold.amount)
        .map_err(|_| LedgerError::Corrupt("held below hold".into()))?;
    let kind = if status == "expired" {
        "hold_expired"
    } else {
        "release"
    };
    append(
        tx,
        a,
        now,
        Entry {
            kind,
            amount: 0,
            grant_id: None,
            hold_id: Some(hold.id),
            detail: None,
            actor: None,
        },
    )
    .await?;
    save_account(tx, a).await?;
    Ok(ReleaseReceipt {
        hold_id: hold.id,
        account_id: a.id,
        released: hold.amount,
    })
}

/// Returns the failed portion of a captured charge to the grants that paid it (P8).
pub async fn refund(
    db: &Db,
    hold_id: i64,
    expected_account: Option<i64>,
    amount: Credits,
    reason: &str,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<RefundReceipt, LedgerError> {
    let mut tx = db.begin_write().await?;
    let (mut a, hold) = lock_hold(db, &mut tx, hold_id, expected_account).await?;
    if let Some(done) = claim_key(&mut tx, idem, now).await? {
        return Ok(done);
    }
    if hold.status != "captured" || hold.charged.is_none() {
        return Err(LedgerError::NotCaptured(hold.id));
    }
    settle_expiries(&mut tx, &mut a, now).await?;
    // In draw order, so the refund can undo the last draws first.
    let paid: Vec<Paid> = sqlx::query("SELECT grant_id, kind, amount, refunded FROM charge_parts WHERE hold_id = $1 ORDER BY position")
        .bind(hold.id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| -> Result<Paid, LedgerError> {
            let kind: String = r.try_get("kind")?;
            Ok(Paid {
                allocation: Allocation {
                    grant_id: r.try_get("grant_id")?,
                    kind: GrantKind::parse(&kind).ok_or_else(|| LedgerError::Corrupt(kind.clone()))?,
                    amount: credits(r.try_get("amount")?)?,
                },
                refunded: credits(r.try_get("refunded")?)?,
            })
        })
        .collect::<Result<_, _>>()?;
    let all_grants: Vec<Grant> = sqlx::query(
        "SELECT id, kind, remaining, expires_at FROM grants WHERE account_id = $1 AND expired = 0",
    )
    .bind(a.id)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(grant_from_row)
    .collect::<Result<_, _>>()?;
    let parts = rules::plan_refund(&paid, &all_grants, amount, now).map_err(
        |rules::RefundError::MoreThanCharged { refundable }| LedgerError::RefundTooLarge {
            refundable,
        },
    )?;

    let mut returned_to = KindSplit::default();
    for part in &parts {
        sqlx::query(
            "UPDATE charge_parts SET refunded = refunded + $1 WHERE hold_id = $2 AND grant_id = $3",
        )
        .bind(db_int(part.amount))
        .bind(hold.id)
        .bind(part.paid_by)
        .execute(&mut *tx)
        .await?;
        let to = match part.to {
            Some(id) => id,
            None => {
                // No live grant to return to: a new adjustment keeps the credits (DESIGN: never lost).
                sqlx::query_scalar(
                    "INSERT INTO grants (account_id, kind, amount, remaining, expires_at, reason, created_at) \
                     VALUES ($1, 'adjustment', $2, 0, NULL, $3, $4) RETURNING id",
                )
                .bind(a.id)
                .bind(db_int(part.amount))
                .bind(format!("refund of hold {}", hold.id))
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let kind: String = sqlx::query_scalar(
            "UPDATE grants SET remaining = remaining + $1 WHERE id = $2 RETURNING kind",
        )
        .bind(db_int(part.amount))
        .bind(to)
        .fetch_one(&mut *tx)
        .await?;
        returned_to.add(
            GrantKind::parse(&kind).ok_or_else(|| LedgerError::Corrupt(kind.clone()))?,
            part.amount,
        )?;
    }
    sqlx::query("UPDATE holds SET refunded = refunded + $1 WHERE id = $2")
        .bind(db_int(amount))
        .bind(hold.id)
        .execute(&mut *tx)
        .await?;
    a.balance = a
        .balance
        .checked_add(amount)
        .map_err(|_| LedgerError::OutOfRange)?;
    a.next_expiry_at = next_expiry(&mut tx, a.id).await?;
    let detail = serde_json::json!({ "reason": reason, "refunded": amount, "already_refunded": hold.refunded }).to_string();
    append(
        &mut tx,
        &mut a,
        now,
        Entry {
            kind: "refund",
            amount: db_int(amount),
            grant_id: None,
            hold_id: Some(hold.id),
            detail: Some(detail),
            actor: None,
        },
    )
    .await?;
    save_account(&mut tx, &a).await?;
    let receipt = RefundReceipt {
        hold_id: hold.id,
        account_id: a.id,
        refunded: amount,
        returned_to,
        reason: reason.to_owned(),
        balance_after: a.balance,
    };
    store_response(&mut tx, idem, &receipt).await?;
    tx.commit().await?;
    Ok(receipt)
}

/// Open holds past their expiry at `now` (the sweep has not reached them yet), and the
/// earliest of their expiries.
pub async fn holds_past_expiry(
    db: &Db,
    now: UnixSeconds,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(expires_at) AS oldest FROM holds WHERE status = 'held' AND expires_at <= $1",
    )
    .bind(now)
    .fetch_one(db.reader())
    .await?;
    Ok((row.try_get("n")?, row.try_get("oldest")?))
}

/// Releases holds left open past their expiry (a crashed worker never locks credits
/// forever). Safe to run from several instances at once: each hold is re-checked under its
/// account's lock, so a hold another instance (or its worker) settled first is skipped.
pub async fn expire_stale_holds(
    db: &Db,
    now: UnixSeconds,
    limit: i64,
) -> Result<usize, LedgerError> {
    let due: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM holds WHERE status = 'held' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    let mut expired = 0;
    for hold_id in due {
        // One hold that cannot be expired must not stop the others from being freed.
        match expire_hold(db, hold_id, now).await {
            Ok(true) => expired += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(hold_id, error = %e, "could not expire a stale hold"),
        }
    }
    Ok(expired)
}

/// Expires one hold if it is still open and past its time; false if it was settled meanwhile.
async fn expire_hold(db: &Db, hold_id: i64, now: UnixSeconds) -> Result<bool, LedgerError> {
    let mut tx = db.begin_write().await?;
    let (mut a, hold) = lock_hold(db, &mut tx, hold_id, None).await?;
    if hold.status != "held" || hold.expires_at > now {
        return Ok(false); // settled meanwhile by another instance or the worker itself
    }
    end_hold(&mut tx, &mut a, &hold, "expired", now).await?;
    tx.commit().await?;
    Ok(true)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebitReceipt {
    pub account_id: i64,
    pub amount: Credits,
    pub paid_by: KindSplit,
    pub balance_after: Credits,
}

/// Takes credits off an account by hand (support correcting a wrong grant), in the normal
/// draw order. It never pushes the balance below zero or into credits held for running jobs.
pub async fn debit(
    db: &Db,
    account: i64,
    amount: Credits,
    reason: &str,
    actor: &str,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<DebitReceipt, LedgerError> {
    let mut tx = db.begin_write().await?;
    let receipt = debit_in(
        &mut tx,
        db.backend(),
        account,
        amount,
        reason,
        actor,
        idem,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(receipt)
}

/// [`debit`] inside a transaction the caller commits (an approved adjustment and its
/// approval are one change).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn debit_in(
    tx: &mut Tx,
    backend: Backend,
    account: i64,
    amount: Credits,
    reason: &str,
    actor: &str,
    idem: Option<&Idempotency>,
    now: UnixSeconds,
) -> Result<DebitReceipt, LedgerError> {
    let mut a = lock_account(tx, backend, account).await?;
    if let Some(done) = claim_key(tx, idem, now).await? {
        return Ok(done);
    }
    settle_expiries(tx, &mut a, now).await?;
    rules::check_reserve(a.balance, a.held, amount).map_err(
        |Insufficient { needed, available }| {
            LedgerError::Insufficient(InsufficientCredits {
                needed,
                available,
                renews_at: a.renews_at,
            })
        },
    )?;
    let grants = open_grants(tx, a.id).await?;
    let allocations =
        rules::plan_draw(&grants, amount, now).map_err(|Insufficient { needed, available }| {
            LedgerError::Insufficient(InsufficientCredits {
                needed,
                available,
                renews_at: a.renews_at,
            })
        })?;
    draw(tx, &allocations).await?;
    let mut paid_by = KindSplit::default();
    for part in &allocations {
        paid_by.add(part.kind, part.amount)?;
    }
    a.balance = a
        .balance
        .checked_sub(amount)
        .map_err(|_| LedgerError::Corrupt("debit below zero".into()))?;
    let detail = serde_json::json!({ "reason": reason }).to_string();
    append(
        tx,
        &mut a,
        now,
        Entry {
            kind: "debit",
            amount: -db_int(amount),
            grant_id: None,
            hold_id: None,
            detail: Some(detail),
            actor: Some(actor),
        },
    )
    .await?;
    save_account(tx, &a).await?;
    let receipt = DebitReceipt {
        account_id: a.id,
        amount,
        paid_by,
        balance_after: a.balance,
    };
    store_response(tx, idem, &receipt).await?;
    Ok(receipt)
}

/// Every change made by hand, newest first.
pub async fn manual_changes(db: &Db, limit: i64) -> Result<Vec<ManualChange>, LedgerError> {
    let rows = sqlx::query(
        "SELECT j.at, j.account_id, a.email, j.kind, j.amount, j.detail, j.actor FROM journal j \
         JOIN accounts a ON a.id = j.account_id WHERE j.actor IS NOT NULL ORDER BY j.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ManualChange {
                at: r.try_get("at")?,
                account_id: r.try_get("account_id")?,
                account_email: r.try_get("email")?,
                kind: r.try_get("kind")?,
                amount: r.try_get("amount")?,
                detail: r.try_get("detail")?,
                actor: r.try_get("actor")?,
            })
        })
        .collect()
}

/// The open holds of an account, oldest first.
pub async fn open_holds(
    db: &Db,
    account: i64,
) -> Result<Vec<(i64, String, Credits, UnixSeconds)>, LedgerError> {
    let rows = sqlx::query("SELECT id, operation, amount, expires_at FROM holds WHERE account_id = $1 AND status = 'held' ORDER BY id")
        .bind(account)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("operation")?,
                credits(r.try_get("amount")?)?,
                r.try_get("expires_at")?,
            ))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Reads

pub async fn balance(db: &Db, account: i64, now: UnixSeconds) -> Result<BalanceView, LedgerError> {
    let row = sqlx::query("SELECT held, renews_at FROM accounts WHERE id = $1")
        .bind(account)
        .fetch_optional(db.reader())
        .await?
        .ok_or(LedgerError::AccountNotFound(account))?;
    let held = credits(row.try_get("held")?)?;
    let renews_at: Option<i64> = row.try_get("renews_at")?;
    let grants: Vec<Grant> = sqlx::query("SELECT id, kind, remaining, expires_at FROM grants WHERE account_id = $1 AND expired = 0 AND remaining > 0")
        .bind(account)
        .fetch_all(db.reader())
        .await?
        .iter()
        .map(grant_from_row)
        .collect::<Result<_, _>>()?;
    let mut split = KindSplit::default();
    let mut subscription_expires_at: Option<i64> = None;
    for g in grants.iter().filter(|g| g.is_live(now)) {
        split.add(g.kind, g.remaining)?;
        if g.kind == GrantKind::Subscription {
            subscription_expires_at = match (subscription_expires_at, g.expires_at) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
        }
    }
    let total = rules::balance(&grants, now);
    Ok(BalanceView {
        account_id: account,
        total,
        subscription: split.subscription,
        adjustment: split.adjustment,
        topup: split.topup,
        held,
        available: rules::available(total, held),
        subscription_expires_at,
        renews_at,
    })
}

/// A page of the journal, newest first, starting below `before_seq` when given.
pub async fn journal(
    db: &Db,
    account: i64,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<JournalEntry>, LedgerError> {
    let rows = sqlx::query(
        "SELECT seq, at, kind, amount, balance_after, held_after, grant_id, hold_id, detail, actor FROM journal \
         WHERE account_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
    )
    .bind(account)
    .bind(before_seq.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(|r| Ok(journal_entry(r)?)).collect()
}

/// A journal row (its usual columns) as an entry.
pub(crate) fn journal_entry(r: &AnyRow) -> Result<JournalEntry, sqlx::Error> {
    Ok(JournalEntry {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        kind: r.try_get("kind")?,
        amount: r.try_get("amount")?,
        balance_after: r.try_get("balance_after")?,
        held_after: r.try_get("held_after")?,
        grant_id: r.try_get("grant_id")?,
        hold_id: r.try_get("hold_id")?,
        detail: r.try_get("detail")?,
        actor: r.try_get("actor")?,
    })
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

/// The operation of a hold of `account` (to price its actual output before capture).
pub async fn hold_operation(db: &Db, hold_id: i64, account: i64) -> Result<Operation, LedgerError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT account_id, operation FROM holds WHERE id = $1")
            .bind(hold_id)
            .fetch_optional(db.reader())
            .await?;
    match row {
        Some((owner, op)) if owner == account => parse_operation(&op),
        _ => Err(LedgerError::HoldNotFound(hold_id)),
    }
}
