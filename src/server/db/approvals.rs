//! Support adjustments that need a second support user: the request, and its approval or
//! rejection. Approving applies the ledger change and marks the request in one
//! transaction, so a request is applied once however often, or however many people at
//! once, approve it.

use crate::domain::credits::Credits;
use crate::domain::ledger::{Direction, GrantKind};
use crate::server::db::Backend;
use crate::server::db::Db;
use crate::server::db::ledger::{self, Idempotency, LedgerError, NewGrant};
use crate::server::db::users::{self, StaffChange};

/// An adjustment waiting for (or past) its second approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: i64,
    pub account_id: i64,
    pub account_email: String,
    pub direction: Direction,
    pub amount: Credits,
    pub reason: String,
    pub expires_at: Option<i64>,
    pub requested_by: String,
    pub requested_at: i64,
    /// `pending`, `applied` or `rejected`.
    pub status: String,
    pub decided_by: Option<String>,
}

/// A new request as support's form sends it (already checked).
pub struct NewRequest<'a> {
    pub account_id: i64,
    pub direction: Direction,
    pub amount: Credits,
    pub reason: &'a str,
    pub expires_at: Option<i64>,
    pub requested_by: &'a str,
    pub request_key: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no adjustment request {0}")]
    NotFound(i64),
    #[error("adjustment request {id} is already {status}")]
    Decided { id: i64, status: String },
    #[error("the support user who asked for an adjustment cannot approve it")]
    OwnRequest,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

fn to_i64(c: Credits) -> i64 {
    i64::try_from(c.get()).unwrap_or(i64::MAX)
}

/// An adjustment request's row, as [`SELECT`] reads it.
#[derive(sqlx::FromRow)]
struct RequestRow {
    id: i64,
    account_id: i64,
    email: String,
    direction: String,
    amount: i64,
    reason: String,
    expires_at: Option<i64>,
    requested_by: String,
    requested_at: i64,
    status: String,
    decided_by: Option<String>,
}

fn request_from_row(r: &sqlx::any::AnyRow) -> Result<Request, sqlx::Error> {
    let r = <RequestRow as sqlx::FromRow<sqlx::any::AnyRow>>::from_row(r)?;
    Ok(Request {
        id: r.id,
        account_id: r.account_id,
        account_email: r.email,
        direction: Direction::parse(&r.direction).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown adjustment direction {}", r.direction).into())
        })?,
        amount: u64::try_from(r.amount)
            .ok()
            .and_then(|a| Credits::new(a).ok())
            .ok_or_else(|| sqlx::Error::Decode("negative adjustment amount".into()))?,
        reason: r.reason,
        expires_at: r.expires_at,
        requested_by: r.requested_by,
        requested_at: r.requested_at,
        status: r.status,
        decided_by: r.decided_by,
    })
}

const SELECT: &str = "SELECT r.id, r.account_id, a.email, r.direction, r.amount, r.reason, r.expires_at, \
     r.requested_by, r.requested_at, r.status, r.decided_by \
     FROM adjustment_requests r JOIN accounts a ON a.id = r.account_id";

/// Records a request (once per requester and form key) and returns it. The account must
/// exist.
pub async fn request(db: &Db, new: NewRequest<'_>, now: i64) -> Result<Request, ApprovalError> {
    let mut tx = db.begin_write().await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE id = $1")
        .bind(new.account_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(LedgerError::AccountNotFound(new.account_id).into());
    }
    let inserted = sqlx::query(
        "INSERT INTO adjustment_requests (account_id, direction, amount, reason, expires_at, requested_by, requested_at, request_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (requested_by, request_key) DO NOTHING",
    )
    .bind(new.account_id)
    .bind(new.direction.as_str())
    .bind(to_i64(new.amount))
    .bind(new.reason)
    .bind(new.expires_at)
    .bind(new.requested_by)
    .bind(now)
    .bind(new.request_key)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let row = sqlx::query(&format!(
        "{SELECT} WHERE r.requested_by = $1 AND r.request_key = $2"
    ))
    .bind(new.requested_by)
    .bind(new.request_key)
    .fetch_one(&mut *tx)
    .await?;
    let request = request_from_row(&row)?;
    if inserted == 1 {
        let change = StaffChange {
            actor: new.requested_by.to_owned(),
            action: "adjustment requested".to_owned(),
            subject: request.account_email.clone(),
            detail: Some(format!(
                "request {}: {} {} credits, waiting for a second approval",
                request.id, request.direction, request.amount
            )),
        };
        users::audit(&mut tx, &change, now).await?;
    }
    tx.commit().await?;
    Ok(request)
}

/// The requests still waiting, oldest first.
pub async fn pending(db: &Db) -> Result<Vec<Request>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE r.status = 'pending' ORDER BY r.id LIMIT 200"
    ))
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(request_from_row).collect()
}

async fn lock_request(
    tx: &mut ledger::Tx,
    backend: Backend,
    id: i64,
) -> Result<Request, ApprovalError> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE OF r",
        Backend::Sqlite => "",
    };
    let row = sqlx::query(&format!("{SELECT} WHERE r.id = $1{lock}"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(ApprovalError::NotFound(id))?;
    let request = request_from_row(&row)?;
    if request.status != "pending" {
        return Err(ApprovalError::Decided {
            id,
            status: request.status,
        });
    }
    Ok(request)
}

/// The staff audit entry of a decision on `request`.
fn decision(request: &Request, by: &str, action: &str) -> StaffChange {
    StaffChange {
        actor: by.to_owned(),
        action: action.to_owned(),
        subject: request.account_email.clone(),
        detail: Some(format!(
            "request {} by {}: {} {} credits",
            request.id, request.requested_by, request.direction, request.amount
        )),
    }
}

/// What an approval did, in words.
pub struct Applied {
    pub request: Request,
    pub balance_after: Credits,
}

/// Applies a pending request as `approver` (who must not be its requester): the grant or
/// debit, with both names as its actor, the request marked applied, and the audit entry;
/// one transaction.
pub async fn approve(db: &Db, id: i64, approver: &str, now: i64) -> Result<Applied, ApprovalError> {
    let mut tx = db.begin_write().await?;
    let request = lock_request(&mut tx, db.backend(), id).await?;
    if request.requested_by == approver {
        return Err(ApprovalError::OwnRequest);
    }
    let actor = format!("{}, approved by {approver}", request.requested_by);
    let idem = Idempotency {
        scope: "support-approval".to_owned(),
        key: format!("request-{id}"),
        request_hash: format!("{id}"),
    };
    let balance_after = match request.direction {
        Direction::Grant => {
            let g = NewGrant {
                kind: GrantKind::Adjustment,
                amount: request.amount,
                expires_at: request.expires_at,
                reason: request.reason.clone(),
                actor: Some(actor.clone()),
            };
            ledger::grant_in(
                &mut tx,
                db.backend(),
                request.account_id,
                g,
                Some(&idem),
                now,
            )
            .await?
            .balance_after
        }
        Direction::Debit => {
            ledger::debit_in(
                &mut tx,
                db.backend(),
                request.account_id,
                request.amount,
                &request.reason,
                &actor,
                Some(&idem),
                now,
            )
            .await?
            .balance_after
        }
    };
    sqlx::query(
        "UPDATE adjustment_requests SET status = 'applied', decided_by = $1, decided_at = $2 WHERE id = $3",
    )
    .bind(approver)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    users::audit(
        &mut tx,
        &decision(&request, approver, "adjustment approved"),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Applied {
        request,
        balance_after,
    })
}

/// Rejects a pending request (its requester may withdraw it too); nothing is applied.
pub async fn reject(db: &Db, id: i64, by: &str, now: i64) -> Result<Request, ApprovalError> {
    let mut tx = db.begin_write().await?;
    let request = lock_request(&mut tx, db.backend(), id).await?;
    sqlx::query(
        "UPDATE adjustment_requests SET status = 'rejected', decided_by = $1, decided_at = $2 WHERE id = $3",
    )
    .bind(by)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    users::audit(&mut tx, &decision(&request, by, "adjustment rejected"), now).await?;
    tx.commit().await?;
    Ok(request)
}
