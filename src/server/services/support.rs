//! Support's look-ups and manual corrections (POLICY P9).

use crate::domain::account::Email;
use crate::domain::credits::Credits;
use crate::domain::ledger::{Direction, GrantKind, ManualChange};
use crate::error::AppError;
use crate::model::support::{Adjusted, CustomerView, Decided, OpenHold};
use crate::server::api_error::from_ledger;
use crate::server::db::approvals::{self, ApprovalError};
use crate::server::db::ledger::{self, Idempotency, NewGrant};
use crate::server::db::users::{self, User};
use crate::server::error::internal;
use crate::server::services::usage::top_up_url;
use crate::server::state::AppState;

/// What failed, in the log.
const CONTEXT: &str = "support console";

/// How many journal entries a page of the support console shows.
pub const JOURNAL_PAGE: i64 = 50;

pub async fn find_customer(
    state: &AppState,
    email: &str,
    before: Option<&str>,
) -> Result<CustomerView, AppError> {
    let before = match before.filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(
            crate::domain::history::HistoryCursor::parse(b)
                .ok_or_else(|| AppError::bad_request("That page of the journal does not exist."))?,
        ),
    };
    let email = Email::parse(email).map_err(|e| AppError::bad_request(e.to_string()))?;
    let user = users::find_customer(&state.db, &email)
        .await
        .map_err(internal(CONTEXT))?;
    let (user, account) = match user {
        Some(User {
            account_id: Some(a),
            ..
        }) => (user, a),
        _ => {
            return Err(AppError::not_found(format!(
                "A customer with the e-mail {}",
                email.as_str()
            )));
        }
    };
    let top_up = top_up_url(state);
    let now = state.clock.now();
    let balance = ledger::balance(&state.db, account, now)
        .await
        .map_err(|e| from_ledger(e, &top_up))?;
    let holds = ledger::open_holds(&state.db, account)
        .await
        .map_err(|e| from_ledger(e, &top_up))?
        .into_iter()
        .map(|(hold_id, operation, amount, expires_at)| OpenHold {
            hold_id,
            operation,
            amount: amount.get(),
            expires_at,
        })
        .collect();
    let plan = crate::server::db::usage::plan_of(&state.db, account)
        .await
        .map_err(internal(CONTEXT))?
        .and_then(|id| crate::domain::catalog::PlanId::parse(&id).ok())
        .and_then(|id| state.config.catalog.plan(&id).map(|p| p.name.clone()));
    // In the order of the times shown (not the order written).
    let journal = crate::server::db::history::journal(&state.db, account, before, JOURNAL_PAGE)
        .await
        .map_err(internal(CONTEXT))?;
    let journal_next_before = (journal.len() as i64 == JOURNAL_PAGE)
        .then(|| {
            journal.last().map(|e| {
                crate::domain::history::HistoryCursor {
                    at: e.at,
                    seq: e.seq,
                }
                .format()
            })
        })
        .flatten();
    let catalog = &state.config.catalog;
    let name_of = |id: &crate::domain::catalog::PlanId| {
        catalog
            .plan(id)
            .map_or_else(|| id.as_str().to_owned(), |p| p.name.clone())
    };
    let subscription = crate::server::db::subscriptions::get(&state.db, account)
        .await
        .map_err(internal(CONTEXT))?
        .map(|s| crate::model::support::SupportPlanView {
            plan_name: name_of(&s.plan),
            status: s.status,
            period_start: s.period_start,
            period_end: s.period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            pending_plan_name: s.pending_plan.as_ref().map(name_of),
            grace_until: s.grace_until,
        });
    let payments = crate::server::services::payments::lines(state, account, 20).await?;
    Ok(CustomerView {
        email: user.map(|u| u.email).unwrap_or_default(),
        account_id: account,
        plan,
        subscription,
        payments,
        balance,
        holds,
        journal,
        journal_next_before,
        form_key: hex::encode(rand::random::<[u8; 16]>()),
    })
}

/// An adjustment as the form sends it.
pub struct AdjustmentForm {
    pub account_id: i64,
    pub direction: String,
    pub amount: String,
    pub reason: String,
    pub expires_on: Option<String>,
    pub request_key: String,
    /// The receipt number of the charge it corrects, if any.
    pub corrects: Option<String>,
}

/// Applies a support adjustment, or files it for a second approval; returns which.
pub async fn adjust(
    state: &AppState,
    staff: &User,
    form: AdjustmentForm,
) -> Result<Adjusted, AppError> {
    let amount = form
        .amount
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| Credits::new(n).ok())
        .ok_or_else(|| {
            AppError::bad_request("Enter the amount as a whole number of credits, at least 1.")
        })?;
    let reason = form.reason.trim();
    if reason.is_empty()
        || reason.chars().count() > 500
        || crate::domain::ledger::has_control_characters(reason)
    {
        return Err(AppError::bad_request(
            "Give a reason (1-500 characters, no control characters); it is kept in the audit list.",
        ));
    }
    // A correction may name the charge it corrects: it must be one of this customer's,
    // and the reason then says which, for the customer and the audit list alike.
    let reason = match form
        .corrects
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => reason.to_owned(),
        Some(c) => {
            let hold = c.trim_start_matches('#').parse::<i64>().map_err(|_| {
                AppError::bad_request(
                    "Enter the receipt number of the charge (digits only), or leave it empty.",
                )
            })?;
            let (operation, charged, at) =
                crate::server::db::history::charge_of(&state.db, form.account_id, hold)
                    .await
                    .map_err(internal(CONTEXT))?
                    .ok_or_else(|| {
                        AppError::bad_request(format!(
                            "This customer has no charged generation with receipt number {hold}."
                        ))
                    })?;
            let label = crate::domain::pricing::Operation::from_key(&operation)
                .map_or(operation.as_str(), |o| o.label());
            let on = crate::domain::ledger::long_date(at);
            format!("{reason} (corrects receipt {hold}: {label} on {on}, charged {charged})")
        }
    };
    let reason = reason.as_str();
    let key = form.request_key.trim();
    if key.is_empty() || key.len() > 100 {
        return Err(AppError::bad_request(
            "The form is missing its request key; reload the page and try again.",
        ));
    }
    let now = state.clock.now();
    let expires_at = match form
        .expires_on
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(date) => {
            let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| {
                AppError::bad_request("Enter the expiry date as YYYY-MM-DD, or leave it empty.")
            })?;
            let at = day
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp())
                .unwrap_or(0);
            if at <= now {
                return Err(AppError::bad_request(
                    "The expiry date must be in the future.",
                ));
            }
            Some(at)
        }
    };
    let idem = Idempotency {
        scope: format!("support:{}", staff.id),
        key: key.to_owned(),
        request_hash: format!(
            "{}|{}|{}|{}|{:?}",
            form.account_id, form.direction, amount, reason, expires_at
        ),
    };
    let top_up = top_up_url(state);
    let Some(direction) = Direction::parse(&form.direction) else {
        return Err(AppError::bad_request(
            "Choose whether to grant or take credits.",
        ));
    };
    if direction == Direction::Debit && expires_at.is_some() {
        return Err(AppError::bad_request(
            "An expiry date applies to grants only.",
        ));
    }
    if amount.get() > state.config.approval_above_credits {
        let r = approvals::request(
            &state.db,
            approvals::NewRequest {
                account_id: form.account_id,
                direction,
                amount,
                reason,
                expires_at,
                requested_by: &staff.email,
                request_key: key,
            },
            now,
        )
        .await
        .map_err(|e| approval_error(e, &top_up))?;
        return Ok(Adjusted::AwaitingApproval {
            credits: amount.get(),
            limit: state.config.approval_above_credits,
            request_id: r.id,
        });
    }
    if direction == Direction::Grant {
        let g = NewGrant {
            kind: GrantKind::Adjustment,
            amount,
            expires_at,
            reason: reason.to_owned(),
            actor: Some(staff.email.clone()),
        };
        let r = ledger::grant(&state.db, form.account_id, g, Some(&idem), now)
            .await
            .map_err(|e| from_ledger(e, &top_up))?;
        Ok(Adjusted::Applied {
            direction,
            credits: r.amount.get(),
            balance_after: r.balance_after.get(),
        })
    } else {
        let r = ledger::debit(&state.db, form.account_id, amount, reason, &staff.email, Some(&idem), now)
                .await
                .map_err(|e| match e {
                    ledger::LedgerError::Insufficient(i) => AppError::bad_request(format!(
                        "The account has only {} credits free; a debit cannot take it below zero or into held credits.",
                        i.available
                    )),
                    other => from_ledger(other, &top_up),
                })?;
        Ok(Adjusted::Applied {
            direction,
            credits: r.amount.get(),
            balance_after: r.balance_after.get(),
        })
    }
}

pub async fn audit(state: &AppState) -> Result<Vec<ManualChange>, AppError> {
    let top_up = top_up_url(state);
    ledger::manual_changes(&state.db, 200)
        .await
        .map_err(|e| from_ledger(e, &top_up))
}

pub async fn staff_audit(
    state: &AppState,
) -> Result<Vec<crate::model::support::StaffChangeView>, AppError> {
    Ok(users::staff_changes(&state.db, 200)
        .await
        .map_err(internal(CONTEXT))?
        .into_iter()
        .map(|(at, c)| crate::model::support::StaffChangeView {
            at,
            actor: c.actor,
            action: c.action,
            subject: c.subject,
            detail: c.detail,
        })
        .collect())
}

/// The newest e-mail notices, to everyone.
pub async fn notices(state: &AppState) -> Result<Vec<crate::model::support::NoticeView>, AppError> {
    Ok(crate::server::services::notices::recent(state, None, 100)
        .await?
        .into_iter()
        .map(|n| crate::model::support::NoticeView {
            id: n.id,
            created_at: n.created_at,
            recipient: n.recipient,
            kind: n.kind,
            subject: n.subject,
            body: n.body,
            status: n.status,
            attempts: n.attempts,
            sent_at: n.sent_at,
            note: n.note,
        })
        .collect())
}

fn approval_error(e: ApprovalError, top_up: &str) -> AppError {
    match e {
        ApprovalError::NotFound(id) => AppError::not_found(format!("Adjustment request {id}")),
        ApprovalError::Decided { id, status } => {
            AppError::conflict(format!("Adjustment request {id} is already {status}."))
        }
        ApprovalError::OwnRequest => AppError::SecondApprovalNeeded,
        ApprovalError::Ledger(ledger::LedgerError::Insufficient(i)) => {
            AppError::bad_request(format!(
                "The account has only {} credits free now; a debit cannot take it below zero or into held credits. Reject the request, or wait.",
                i.available
            ))
        }
        ApprovalError::Ledger(e) => from_ledger(e, top_up),
        ApprovalError::Db(e) => internal(CONTEXT)(e),
    }
}

/// The adjustments waiting for a second support user.
pub async fn pending_adjustments(
    state: &AppState,
) -> Result<Vec<crate::model::support::PendingAdjustment>, AppError> {
    Ok(approvals::pending(&state.db)
        .await
        .map_err(internal(CONTEXT))?
        .into_iter()
        .map(|r| crate::model::support::PendingAdjustment {
            id: r.id,
            account_email: r.account_email,
            direction: r.direction,
            amount: r.amount.get(),
            reason: r.reason,
            requested_by: r.requested_by,
            requested_at: r.requested_at,
        })
        .collect())
}

/// Approves (`approve`) or rejects (`reject`) a waiting adjustment; returns what happened.
pub async fn decide(
    state: &AppState,
    staff: &User,
    request_id: i64,
    decision: &str,
) -> Result<Decided, AppError> {
    let top_up = top_up_url(state);
    let now = state.clock.now();
    match decision {
        "approve" => {
            let done = approvals::approve(&state.db, request_id, &staff.email, now)
                .await
                .map_err(|e| approval_error(e, &top_up))?;
            Ok(Decided::Approved {
                request_id,
                direction: done.request.direction,
                credits: done.request.amount.get(),
                account_email: done.request.account_email,
                balance_after: done.balance_after.get(),
            })
        }
        "reject" => {
            let r = approvals::reject(&state.db, request_id, &staff.email, now)
                .await
                .map_err(|e| approval_error(e, &top_up))?;
            Ok(Decided::Rejected {
                request_id,
                account_email: r.account_email,
            })
        }
        _ => Err(AppError::bad_request("Choose to approve or reject.")),
    }
}
