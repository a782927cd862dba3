//! Storage of the credits ledger. Each public function is one mutation in one transaction:
//! lock the account row, load what the rule needs, ask `domain::ledger`, write the result
//! and one journal entry, update the account's totals, commit.
//!
//! The account row is the single lock per account (`FOR UPDATE` on PostgreSQL; SQLite's
//! `BEGIN IMMEDIATE` serializes all writers), taken before any other row of the account is
//! read, so concurrent mutations of one account run one after another and never deadlock.

use crate::domain::credits::Credits;
use crate::domain::ledger::{
    self as rules, Allocation, Grant, GrantKind, HoldStatus, Insufficient, JournalKind, Paid,
    UnixSeconds,
};
pub use crate::domain::ledger::{BalanceView, JournalEntry, ManualChange};
use crate::domain::pricing::Operation;
use crate::server::db::{Backend, Db};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

mod accounts;
mod grants;
mod holds;
mod idempotency;
mod journal;
mod verify;

pub use accounts::*;
pub use grants::*;
pub use holds::*;
pub use idempotency::*;
pub use journal::*;
pub use verify::*;

pub(crate) type Tx = Transaction<'static, Any>;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("account {0} was not found")]
    AccountNotFound(i64),
    #[error("hold {0} was not found")]
    HoldNotFound(i64),
    #[error("hold {hold_id} is already {status}")]
    HoldSettled { hold_id: i64, status: HoldStatus },
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

impl Account {
    /// What a new hold may take now: the balance less what is held (grants past their
    /// expiry that no change has settled yet still count).
    pub(crate) fn available(&self) -> u64 {
        self.balance.get().saturating_sub(self.held.get())
    }

    /// The position of the account's latest journal entry.
    pub(crate) fn journal_seq(&self) -> i64 {
        self.seq
    }
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
    kind: JournalKind,
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
    .bind(e.kind.as_str())
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

/// The `kind` column of a journal row.
pub(crate) fn journal_kind(row: &AnyRow) -> Result<JournalKind, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    JournalKind::parse(&kind)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown journal kind {kind}").into()))
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
                kind: JournalKind::Expire,
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

/// A hold row, read under its account's lock.
struct HoldRow {
    id: i64,
    operation: Operation,
    estimate: Credits,
    amount: Credits,
    status: HoldStatus,
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
        status: {
            let status: String = row.try_get("status")?;
            HoldStatus::parse(&status)
                .ok_or_else(|| LedgerError::Corrupt(format!("hold status {status}")))?
        },
        expires_at: row.try_get("expires_at")?,
        charged: row.try_get("charged")?,
        refunded: credits(row.try_get("refunded")?)?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebitReceipt {
    pub account_id: i64,
    pub amount: Credits,
    pub paid_by: KindSplit,
    pub balance_after: Credits,
}
