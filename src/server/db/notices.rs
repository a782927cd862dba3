//! The e-mail outbox (`notices`) and what customers want to be told
//! (`notice_settings`); migration 18 says why the outbox is a table. Which notice is due
//! and what it says are `domain::notices`; finding and sending them is
//! `services::notices`.

use crate::domain::ledger::UnixSeconds;
use crate::domain::notices::{Letter, NoticeKind, NoticeSettings};
use crate::server::db::ledger::Tx;
use crate::server::db::{Backend, Db};
use sqlx::{Any, Row};

/// A notice's state (`notices.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeStatus {
    Pending,
    Sent,
    Failed,
    Skipped,
}

impl NoticeStatus {
    pub fn key(self) -> &'static str {
        match self {
            NoticeStatus::Pending => "pending",
            NoticeStatus::Sent => "sent",
            NoticeStatus::Failed => "failed",
            NoticeStatus::Skipped => "skipped",
        }
    }
}

/// A notice to put in the outbox.
#[derive(Debug, Clone)]
pub struct NewNotice<'a> {
    pub account: i64,
    pub kind: NoticeKind,
    pub dedupe_key: &'a str,
    pub recipient: &'a str,
    pub letter: &'a Letter,
    /// Pending, or skipped with why (`note`).
    pub status: NoticeStatus,
    pub note: Option<&'a str>,
}

/// Puts a notice in the outbox, in the caller's transaction, unless one for the same
/// event is there already. True when this call put it there. It is due at once (whatever
/// any instance's clock says).
pub(crate) async fn enqueue_in(
    tx: &mut Tx,
    n: &NewNotice<'_>,
    now: UnixSeconds,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO notices (account_id, kind, dedupe_key, recipient, subject, body, status, \
         next_attempt_at, created_at, note) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(n.account)
    .bind(n.kind.key())
    .bind(n.dedupe_key)
    .bind(n.recipient)
    .bind(&n.letter.subject)
    .bind(&n.letter.body)
    .bind(n.status.key())
    .bind(now)
    .bind(n.note)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Where an account's notices go: its e-mail address, and the time zone its customer
/// chose (dates in letters are in it), if any. On the pool or in a transaction.
pub async fn recipient<'c, E: sqlx::Executor<'c, Database = Any>>(
    on: E,
    account: i64,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT a.email, (SELECT u.time_zone FROM users u WHERE u.account_id = a.id \
         AND u.role = 'customer' ORDER BY u.id LIMIT 1) AS time_zone \
         FROM accounts a WHERE a.id = $1",
    )
    .bind(account)
    .fetch_optional(on)
    .await?;
    row.map(|r| Ok((r.try_get("email")?, r.try_get("time_zone")?)))
        .transpose()
}

/// What `account` wants to be told (the defaults when it never said). On the pool or in
/// a transaction.
pub async fn settings<'c, E: sqlx::Executor<'c, Database = Any>>(
    on: E,
    account: i64,
) -> Result<NoticeSettings, sqlx::Error> {
    let row = sqlx::query(
        "SELECT low_balance, top_up_made, plan_ending, grace_ending, usage_50, usage_80, \
         usage_100 FROM notice_settings WHERE account_id = $1",
    )
    .bind(account)
    .fetch_optional(on)
    .await?;
    let Some(r) = row else {
        return Ok(NoticeSettings::default());
    };
    let on = |name: &str| r.try_get::<i64, _>(name).map(|v| v != 0);
    Ok(NoticeSettings {
        low_balance: on("low_balance")?,
        top_up_made: on("top_up_made")?,
        plan_ending: on("plan_ending")?,
        grace_ending: on("grace_ending")?,
        usage: [on("usage_50")?, on("usage_80")?, on("usage_100")?],
    })
}

/// Saves what `account` wants to be told, whole.
pub async fn save_settings(
    db: &Db,
    account: i64,
    s: &NoticeSettings,
    now: UnixSeconds,
) -> Result<(), sqlx::Error> {
    let flag = |b: bool| i64::from(b);
    sqlx::query(
        "INSERT INTO notice_settings (account_id, low_balance, top_up_made, plan_ending, \
         grace_ending, usage_50, usage_80, usage_100, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (account_id) DO UPDATE SET low_balance = excluded.low_balance, \
         top_up_made = excluded.top_up_made, plan_ending = excluded.plan_ending, \
         grace_ending = excluded.grace_ending, usage_50 = excluded.usage_50, \
         usage_80 = excluded.usage_80, usage_100 = excluded.usage_100, \
         updated_at = excluded.updated_at",
    )
    .bind(account)
    .bind(flag(s.low_balance))
    .bind(flag(s.top_up_made))
    .bind(flag(s.plan_ending))
    .bind(flag(s.grace_ending))
    .bind(flag(s.usage[0]))
    .bind(flag(s.usage[1]))
    .bind(flag(s.usage[2]))
    .bind(now)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Which of these events' notices are in the outbox already.
pub async fn known(db: &Db, dedupe_keys: &[String]) -> Result<Vec<String>, sqlx::Error> {
    let mut found = Vec::new();
    for key in dedupe_keys {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notices WHERE dedupe_key = $1")
            .bind(key)
            .fetch_one(db.reader())
            .await?;
        if n > 0 {
            found.push(key.clone());
        }
    }
    Ok(found)
}

/// Where the sweep has got to along the journal.
pub async fn sweep_mark(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT journal_id FROM notice_sweep WHERE id = 1")
        .fetch_one(db.reader())
        .await
}

/// Moves the sweep's mark past the entries after `after` made at or before `settled`
/// (older ones are surely committed), never back.
pub async fn advance_sweep_mark(
    db: &Db,
    after: i64,
    settled: UnixSeconds,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notice_sweep SET journal_id = (SELECT MAX(id) FROM journal WHERE id > $1 AND at <= $2) \
         WHERE id = 1 AND journal_id < COALESCE((SELECT MAX(id) FROM journal WHERE id > $1 AND at <= $2), 0)",
    )
    .bind(after)
    .bind(settled)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// The accounts whose balance moved after journal entry `after`, at most `limit`, with the
/// newest entry seen of each (along the journal's primary key).
pub async fn accounts_moved_after(
    db: &Db,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT account_id, MAX(id) AS last_id FROM journal WHERE id > $1 \
         GROUP BY account_id ORDER BY MAX(id) LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("account_id")?, r.try_get("last_id")?)))
        .collect()
}

/// What `account`'s generations settled in `[from, to)` finally cost (charged less
/// refunded): what the period's credits were used for (P17).
pub async fn used_between(
    db: &Db,
    account: i64,
    from: UnixSeconds,
    to: UnixSeconds,
) -> Result<u64, sqlx::Error> {
    let used: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(charged - refunded), 0) AS BIGINT) FROM holds \
         WHERE account_id = $1 AND status = 'captured' AND settled_at >= $2 AND settled_at < $3",
    )
    .bind(account)
    .bind(from)
    .bind(to)
    .fetch_one(db.reader())
    .await?;
    Ok(u64::try_from(used).unwrap_or(0))
}

/// Live plans cancelled at the end of a period that ends in `(now, until]`: account, plan
/// and end.
pub async fn plans_ending(
    db: &Db,
    now: UnixSeconds,
    until: UnixSeconds,
) -> Result<Vec<(i64, String, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT account_id, plan_id, period_end FROM subscriptions \
         WHERE status = 'active' AND cancel_at_period_end = 1 AND period_end > $1 AND period_end <= $2",
    )
    .bind(now)
    .bind(until)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("account_id")?,
                r.try_get("plan_id")?,
                r.try_get("period_end")?,
            ))
        })
        .collect()
}

/// Ended plans whose grace period ends in `(now, until]`: account and end.
pub async fn graces_ending(
    db: &Db,
    now: UnixSeconds,
    until: UnixSeconds,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT account_id, grace_until FROM subscriptions \
         WHERE status = 'ended' AND grace_until > $1 AND grace_until <= $2",
    )
    .bind(now)
    .bind(until)
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("account_id")?, r.try_get("grace_until")?)))
        .collect()
}

/// A notice claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Outgoing {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
}

/// Claims up to `limit` pending notices that are due and claimed by nobody (or by a
/// sender whose claim ran out, `until` having passed), for `sender` until `until`. Two
/// senders never claim one notice: PostgreSQL skips rows another claim has locked, and
/// SQLite runs one writer at a time.
pub async fn claim_due(
    db: &Db,
    sender: &str,
    now: UnixSeconds,
    until: UnixSeconds,
    limit: i64,
) -> Result<Vec<Outgoing>, sqlx::Error> {
    let sql = match db.backend() {
        Backend::Postgres => {
            "UPDATE notices SET claimed_by = $1, claimed_until = $2 WHERE id IN (\
             SELECT id FROM notices WHERE status = 'pending' AND next_attempt_at <= $3 \
             AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY id LIMIT $4 \
             FOR UPDATE SKIP LOCKED) \
             RETURNING id, recipient, subject, body, attempts"
        }
        Backend::Sqlite => {
            "UPDATE notices SET claimed_by = $1, claimed_until = $2 WHERE id IN (\
             SELECT id FROM notices WHERE status = 'pending' AND next_attempt_at <= $3 \
             AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY id LIMIT $4) \
             RETURNING id, recipient, subject, body, attempts"
        }
    };
    let mut claimed: Vec<Outgoing> = sqlx::query_as(sql)
        .bind(sender)
        .bind(until)
        .bind(now)
        .bind(limit)
        .fetch_all(db.writer())
        .await?;
    claimed.sort_by_key(|o| o.id);
    Ok(claimed)
}

/// Renews `sender`'s claim on notice `id` to `until`, if it still holds it at `now` (a
/// claim that ran out may be another sender's already). True when renewed: only then is
/// it sent.
pub async fn renew_claim(
    db: &Db,
    id: i64,
    sender: &str,
    now: UnixSeconds,
    until: UnixSeconds,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE notices SET claimed_until = $1 WHERE id = $2 AND claimed_by = $3 \
         AND claimed_until > $4 AND status = 'pending'",
    )
    .bind(until)
    .bind(id)
    .bind(sender)
    .bind(now)
    .execute(db.writer())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Notes notice `id` as sent, if `sender` still holds its claim. False when it did not
/// (its claim ran out and another sender took it).
pub async fn mark_sent(
    db: &Db,
    id: i64,
    sender: &str,
    now: UnixSeconds,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE notices SET status = 'sent', sent_at = $1, attempts = attempts + 1, \
         claimed_by = NULL, claimed_until = NULL, note = NULL \
         WHERE id = $2 AND claimed_by = $3 AND status = 'pending'",
    )
    .bind(now)
    .bind(id)
    .bind(sender)
    .execute(db.writer())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Notes a failed try of notice `id` (held by `sender`): tried again at `retry_at`, or
/// given up (`None`), with what went wrong.
pub async fn mark_failed(
    db: &Db,
    id: i64,
    sender: &str,
    retry_at: Option<UnixSeconds>,
    why: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notices SET attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL, \
         status = CASE WHEN CAST($1 AS BIGINT) IS NULL THEN 'failed' ELSE 'pending' END, \
         next_attempt_at = COALESCE(CAST($1 AS BIGINT), next_attempt_at), note = $2 \
         WHERE id = $3 AND claimed_by = $4 AND status = 'pending'",
    )
    .bind(retry_at)
    .bind(why)
    .bind(id)
    .bind(sender)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// A notice as support and the customer's page see it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NoticeRow {
    pub id: i64,
    pub account_id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub note: Option<String>,
}

/// The newest `limit` notices, of `account` when given, else of everyone.
pub async fn recent(
    db: &Db,
    account: Option<i64>,
    limit: i64,
) -> Result<Vec<NoticeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, account_id, kind, recipient, subject, body, status, attempts, created_at, \
         sent_at, note FROM notices WHERE (CAST($1 AS BIGINT) IS NULL OR account_id = $1) \
         ORDER BY id DESC LIMIT $2",
    )
    .bind(account)
    .bind(limit)
    .fetch_all(db.reader())
    .await
}
