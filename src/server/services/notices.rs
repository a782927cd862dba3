//! E-mail notices (issue 16): put in the outbox in the transaction of what causes them,
//! found by a sweep where they follow from the state (a low balance, a usage level
//! reached, a plan or grace period about to end), and sent by every instance's scheduler,
//! each notice once.
//!
//! Once per event: a notice's event has one key (`domain::notices::Notice::dedupe_key`),
//! and the outbox keeps one row per key, so two instances seeing one event make one notice.
//! Sent once: a sender claims a few notices, renews its claim on each just before sending
//! it (only while it still holds it) for longer than a sending can take, and marks it sent
//! only while it holds it, so two senders never send one notice. One copy more is possible
//! only when a sender stops between the server's "accepted" and that mark: the notice goes
//! again once the claim runs out, with the same `Message-ID`.

use crate::domain::ledger::UnixSeconds;
use crate::domain::notices::{
    AfterFailure, GRACE_ENDING_AHEAD, Letter, Notice, NoticeKind, NoticeSettings,
    PLAN_ENDING_AHEAD, after_failure, grace_ending_due, levels_reached, plan_ending_due,
};
use crate::domain::subscription::Status;
use crate::domain::usage::is_low;
use crate::error::AppError;
use crate::server::db::ledger::{self, Tx};
use crate::server::db::notices::{self as outbox, NewNotice, NoticeRow, NoticeStatus};
use crate::server::db::subscriptions;
use crate::server::error::internal;
use crate::server::mail::{Mail, Mailer, SEND_LIMIT_SECS};
use crate::server::state::AppState;

/// Notices claimed per round of sending.
const SEND_BATCH: i64 = 5;
/// A claim on a notice about to be sent: longer than a sending can take, and a minute to
/// record it.
const SENDING_CLAIM: i64 = SEND_LIMIT_SECS + 60;
/// Accounts looked at per round of the sweep.
const SWEEP_BATCH: i64 = 200;
/// Journal entries at least this old (seconds) are surely committed: the sweep's mark
/// moves past them only.
const SETTLED_AFTER: i64 = 60;

/// What one run of the scheduler did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NoticesRun {
    /// Notices put in the outbox by the sweep.
    pub queued: usize,
    pub sent: usize,
    /// Sendings that failed (tried again later, or given up).
    pub failed: usize,
}

/// Puts `notice` for `account` in the outbox, in the caller's transaction: once per
/// event, and as skipped when the customer turned its kind off. True when this call put
/// it there (false: it was there already). `wall` is real time (the demo clock's moves
/// aside): the outbox sends by it.
pub(crate) async fn notify_in(
    tx: &mut Tx,
    account: i64,
    notice: &Notice,
    wall: UnixSeconds,
) -> Result<bool, sqlx::Error> {
    let settings = outbox::settings(&mut **tx, account).await?;
    let status = wanted(&settings, notice.kind());
    queue_in(tx, account, notice, status, wall).await
}

async fn queue_in(
    tx: &mut Tx,
    account: i64,
    notice: &Notice,
    (status, note): (NoticeStatus, Option<&str>),
    wall: UnixSeconds,
) -> Result<bool, sqlx::Error> {
    let Some((email, zone)) = outbox::recipient(&mut **tx, account).await? else {
        return Ok(false);
    };
    let letter = notice.letter(&crate::server::zones::named_or_utc(zone.as_deref()));
    outbox::enqueue_in(
        tx,
        &NewNotice {
            account,
            kind: notice.kind(),
            dedupe_key: &notice.dedupe_key(account),
            recipient: &email,
            letter: &letter,
            status,
            note,
        },
        wall,
    )
    .await
}

/// Finds the notices the state calls for and puts them in the outbox: plans ending in
/// three days, grace periods ending in seven, and, for each account whose balance moved
/// since the sweep's mark, a low balance and the usage levels it asked about (P17). One
/// account that cannot be looked at is logged and passed over; the others still are.
pub async fn sweep(state: &AppState) -> Result<usize, sqlx::Error> {
    let db = &state.db;
    let now = state.clock.now();
    let mut queued = 0;
    let mut one = |account: i64, done: Result<usize, sqlx::Error>| match done {
        Ok(n) => queued += n,
        Err(e) => {
            tracing::warn!(account, error = %e, "notices for an account could not be looked at; next sweep")
        }
    };
    for (account, plan, ends_at) in outbox::plans_ending(db, now, now + PLAN_ENDING_AHEAD).await? {
        if plan_ending_due(ends_at, now) {
            let plan = plan_name(state, &plan);
            let notice = Notice::PlanEnding { plan, ends_at };
            one(
                account,
                notify(state, account, &notice).await.map(usize::from),
            );
        }
    }
    for (account, ends_at) in outbox::graces_ending(db, now, now + GRACE_ENDING_AHEAD).await? {
        if grace_ending_due(ends_at, now) {
            let notice = Notice::GraceEnding { ends_at };
            one(
                account,
                notify(state, account, &notice).await.map(usize::from),
            );
        }
    }
    let mark = outbox::sweep_mark(db).await?;
    let mut after = mark;
    loop {
        let moved = outbox::accounts_moved_after(db, after, SWEEP_BATCH).await?;
        for &(account, last) in &moved {
            one(account, spending_notices(state, account, now).await);
            after = after.max(last);
        }
        if (moved.len() as i64) < SWEEP_BATCH {
            break;
        }
    }
    outbox::advance_sweep_mark(db, mark, now - SETTLED_AFTER).await?;
    Ok(queued)
}

fn plan_name(state: &AppState, plan: &str) -> String {
    crate::domain::catalog::PlanId::parse(plan)
        .ok()
        .and_then(|id| state.config.catalog.plan(&id).map(|p| p.name.clone()))
        .unwrap_or_else(|| plan.to_owned())
}

/// [`notify_in`] in a transaction of its own.
async fn notify(state: &AppState, account: i64, notice: &Notice) -> Result<bool, sqlx::Error> {
    let mut tx = state.db.begin_write().await?;
    let queued = notify_in(&mut tx, account, notice, state.clock.wall()).await?;
    tx.commit().await?;
    Ok(queued)
}

/// A low balance (once per period) and each usage level reached (once per period and
/// level; when several are reached at once, only the highest is sent).
async fn spending_notices(
    state: &AppState,
    account: i64,
    now: UnixSeconds,
) -> Result<usize, sqlx::Error> {
    let db = &state.db;
    let Some(sub) = subscriptions::get(db, account)
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("subscription of {account}: {e}")))?
    else {
        return Ok(0);
    };
    // A live plan in its period: past its end (before the renewal's grant) its credits
    // have expired and its usage is over.
    if !matches!(sub.status, Status::Active | Status::PastDue) || sub.period_end <= now {
        return Ok(0);
    }
    let Some(plan) = state.config.catalog.plan(&sub.plan) else {
        return Ok(0);
    };
    let plan_credits = plan.credits_per_period.get();
    let settings = outbox::settings(db.reader(), account).await?;
    let balance = match ledger::balance(db, account, now).await {
        Ok(b) => b.total.get(),
        Err(e) => return Err(sqlx::Error::Protocol(format!("balance of {account}: {e}"))),
    };
    let mut due: Vec<(Notice, (NoticeStatus, Option<&str>))> = Vec::new();
    if is_low(balance, plan_credits, state.config.low_balance_percent) {
        let status = wanted(&settings, NoticeKind::LowBalance);
        due.push((
            Notice::LowBalance {
                available: balance,
                plan_credits,
                period_start: sub.period_start,
                renews_at: sub.period_end,
            },
            status,
        ));
    }
    let chosen = settings.usage_levels();
    if !chosen.is_empty() {
        let used = outbox::used_between(db, account, sub.period_start, sub.period_end).await?;
        let reached = levels_reached(used, plan_credits, &chosen);
        let highest = reached.last().copied();
        for level in reached {
            let status = if Some(level) == highest {
                (NoticeStatus::Pending, None)
            } else {
                (
                    NoticeStatus::Skipped,
                    Some("a higher level was reached at the same time"),
                )
            };
            due.push((
                Notice::UsageAlert {
                    level,
                    used,
                    plan_credits,
                    period_start: sub.period_start,
                    renews_at: sub.period_end,
                },
                status,
            ));
        }
    }
    // Most sweeps find what they found before: no write for those.
    let keys: Vec<String> = due.iter().map(|(n, _)| n.dedupe_key(account)).collect();
    let known = outbox::known(db, &keys).await?;
    due.retain(|(n, _)| !known.contains(&n.dedupe_key(account)));
    if due.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    let mut queued = 0;
    for (notice, status) in &due {
        queued +=
            usize::from(queue_in(&mut tx, account, notice, *status, state.clock.wall()).await?);
    }
    tx.commit().await?;
    Ok(queued)
}

fn wanted(settings: &NoticeSettings, kind: NoticeKind) -> (NoticeStatus, Option<&'static str>) {
    if settings.wants(kind) {
        (NoticeStatus::Pending, None)
    } else {
        (NoticeStatus::Skipped, Some("turned off by the customer"))
    }
}

/// Sends the notices that are due, claimed as `sender` (an instance's own name), until
/// none is left or a round sends nothing.
pub async fn deliver(
    state: &AppState,
    mailer: &Mailer,
    sender: &str,
) -> Result<NoticesRun, sqlx::Error> {
    let db = &state.db;
    let page = format!("{}/subscription", state.config.public_url);
    let host = message_id_host(&state.config.public_url);
    let mut run = NoticesRun::default();
    loop {
        let now = state.clock.wall();
        let claimed = outbox::claim_due(db, sender, now, now + SENDING_CLAIM, SEND_BATCH).await?;
        if claimed.is_empty() {
            return Ok(run);
        }
        let mut progressed = false;
        for n in claimed {
            let wall = state.clock.wall();
            if !outbox::renew_claim(db, n.id, sender, wall, wall + SENDING_CLAIM).await? {
                // Its claim ran out while the ones before it were sent: another sender
                // may have it now.
                continue;
            }
            let text = Letter::text(&n.body, &page);
            let message_id = format!("<notice-{}@{host}>", n.id);
            let mail = Mail {
                to: &n.recipient,
                subject: &n.subject,
                body: &text,
                message_id: &message_id,
            };
            match mailer.send(mail).await {
                Ok(()) => {
                    if outbox::mark_sent(db, n.id, sender, state.clock.wall()).await? {
                        run.sent += 1;
                        progressed = true;
                    } else {
                        tracing::warn!(
                            notice = n.id,
                            "a notice was sent after its claim ran out; another sender may send it too"
                        );
                    }
                }
                Err(e) => {
                    run.failed += 1;
                    let permanent = matches!(e, crate::server::mail::SendError::Never(_));
                    let next = after_failure(n.attempts + 1, permanent, state.clock.wall());
                    let retry_at = match next {
                        AfterFailure::RetryAt(at) => Some(at),
                        AfterFailure::GiveUp => None,
                    };
                    tracing::warn!(notice = n.id, error = %e, ?next, "an e-mail notice was not sent");
                    outbox::mark_failed(db, n.id, sender, retry_at, &e.to_string()).await?;
                }
            }
        }
        if !progressed {
            return Ok(run);
        }
    }
}

/// The host part of the notices' Message-IDs: the app's own host name.
fn message_id_host(public_url: &str) -> String {
    url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "studio-billing".to_owned())
}

/// One scheduled run: the sweep, then the sending, which goes ahead whatever the sweep
/// met (notices written by the webhook wait for it).
pub async fn run(
    state: &AppState,
    mailer: &Mailer,
    sender: &str,
) -> Result<NoticesRun, sqlx::Error> {
    let swept = sweep(state).await;
    if let Err(e) = &swept {
        tracing::warn!(error = %e, "the notices sweep failed; sending anyway");
    }
    let mut run = deliver(state, mailer, sender).await?;
    run.queued = swept?;
    Ok(run)
}

/// What the customer wants to be told.
pub async fn settings(state: &AppState, account: i64) -> Result<NoticeSettings, AppError> {
    outbox::settings(state.db.reader(), account)
        .await
        .map_err(internal("reading notice settings"))
}

/// Saves what the customer wants to be told.
pub async fn save_settings(
    state: &AppState,
    account: i64,
    settings: &NoticeSettings,
) -> Result<(), AppError> {
    outbox::save_settings(&state.db, account, settings, state.clock.wall())
        .await
        .map_err(internal("saving notice settings"))
}

/// The newest notices, of one account or of everyone (the support console).
pub async fn recent(
    state: &AppState,
    account: Option<i64>,
    limit: i64,
) -> Result<Vec<NoticeRow>, AppError> {
    outbox::recent(&state.db, account, limit)
        .await
        .map_err(internal("reading notices"))
}
