//! Automatic top-ups (P16, migration 19): what each customer set with the card saved for
//! it (`auto_top_up_settings`), and each automatic top-up from the moment it is decided
//! (`auto_top_ups`). The rules are `domain::auto_top_up`; the transaction that decides one
//! is `services::auto_top_up`.

use crate::domain::auto_top_up::AutoTopUpSettings;
use crate::domain::ledger::UnixSeconds;
use crate::server::db::Db;
use crate::server::db::ledger::Tx;
use sqlx::{Any, Row};

/// What a customer set, with the card and the state of past failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoTopUpRecord {
    pub settings: AutoTopUpSettings,
    /// Stripe's payment method (`pm_...`) or the local checkout's test card.
    pub payment_method: Option<String>,
    /// How the card is shown: `Visa ending 4242`.
    pub card_label: Option<String>,
    /// Failed charges in a row.
    pub failures: u32,
    /// Stopped after failures, and why, until the customer acts.
    pub stopped_reason: Option<String>,
}

/// What `account` set, if it ever did. On the pool or in a transaction.
pub async fn get<'c, E: sqlx::Executor<'c, Database = Any>>(
    on: E,
    account: i64,
) -> Result<Option<AutoTopUpRecord>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT enabled, threshold, pack, monthly_cap_cents, payment_method, card_label, \
         failures, stopped_reason FROM auto_top_up_settings WHERE account_id = $1",
    )
    .bind(account)
    .fetch_optional(on)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let unsigned = |name: &str| -> Result<u64, sqlx::Error> {
        let v: i64 = r.try_get(name)?;
        u64::try_from(v).map_err(|_| sqlx::Error::Decode(format!("negative {name}").into()))
    };
    Ok(Some(AutoTopUpRecord {
        settings: AutoTopUpSettings {
            enabled: r.try_get::<i64, _>("enabled")? != 0,
            threshold: unsigned("threshold")?,
            pack: r.try_get("pack")?,
            monthly_cap_cents: unsigned("monthly_cap_cents")?,
        },
        payment_method: r.try_get("payment_method")?,
        card_label: r.try_get("card_label")?,
        failures: u32::try_from(unsigned("failures")?).unwrap_or(u32::MAX),
        stopped_reason: r.try_get("stopped_reason")?,
    }))
}

fn db_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Saves what the customer set. Turning it on (again) is the customer acting: a stop
/// after failures ends, and failures count from nought.
pub async fn save_settings(
    db: &Db,
    account: i64,
    s: &AutoTopUpSettings,
    now: UnixSeconds,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO auto_top_up_settings (account_id, enabled, threshold, pack, \
         monthly_cap_cents, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (account_id) DO UPDATE SET enabled = excluded.enabled, \
         threshold = excluded.threshold, pack = excluded.pack, \
         monthly_cap_cents = excluded.monthly_cap_cents, updated_at = excluded.updated_at, \
         failures = CASE WHEN excluded.enabled = 1 THEN 0 ELSE auto_top_up_settings.failures END, \
         stopped_at = CASE WHEN excluded.enabled = 1 THEN NULL ELSE auto_top_up_settings.stopped_at END, \
         stopped_reason = CASE WHEN excluded.enabled = 1 THEN NULL ELSE auto_top_up_settings.stopped_reason END",
    )
    .bind(account)
    .bind(i64::from(s.enabled))
    .bind(db_u64(s.threshold))
    .bind(&s.pack)
    .bind(db_u64(s.monthly_cap_cents))
    .bind(now)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Saves the card automatic top-ups charge (a new card ends a stop after failures); an
/// account that set nothing yet gets `defaults` (off) beside it. `saved_at`: when the card
/// was set up; a card set up earlier than the one kept changes nothing (Stripe's events
/// may come out of order). Whether it was saved. On the pool or in a transaction.
#[allow(clippy::too_many_arguments)]
pub async fn save_card<'c, E: sqlx::Executor<'c, Database = Any>>(
    on: E,
    account: i64,
    payment_method: &str,
    label: &str,
    defaults: &AutoTopUpSettings,
    saved_at: UnixSeconds,
    now: UnixSeconds,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO auto_top_up_settings (account_id, enabled, threshold, pack, \
         monthly_cap_cents, payment_method, card_label, card_saved_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (account_id) DO UPDATE SET payment_method = excluded.payment_method, \
         card_label = excluded.card_label, card_saved_at = excluded.card_saved_at, \
         failures = 0, stopped_at = NULL, stopped_reason = NULL, \
         updated_at = excluded.updated_at \
         WHERE auto_top_up_settings.card_saved_at IS NULL \
         OR auto_top_up_settings.card_saved_at <= excluded.card_saved_at",
    )
    .bind(account)
    .bind(i64::from(defaults.enabled))
    .bind(db_u64(defaults.threshold))
    .bind(&defaults.pack)
    .bind(db_u64(defaults.monthly_cap_cents))
    .bind(payment_method)
    .bind(label)
    .bind(saved_at)
    .bind(now)
    .execute(on)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The journal position the account's latest automatic top-up was decided at, if it ever
/// had one.
pub(crate) async fn last_decided_at_in(
    tx: &mut Tx,
    account: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT journal_seq FROM auto_top_ups WHERE account_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(account)
    .fetch_optional(&mut **tx)
    .await
}

/// Whether the available balance (balance less held) was at or above `threshold` after
/// any journal entry of the account after position `seq`.
pub(crate) async fn risen_since_in(
    tx: &mut Tx,
    account: i64,
    seq: i64,
    threshold: u64,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM journal WHERE account_id = $1 AND seq > $2 \
         AND balance_after - held_after >= $3",
    )
    .bind(account)
    .bind(seq)
    .bind(db_u64(threshold))
    .fetch_one(&mut **tx)
    .await?;
    Ok(n > 0)
}

/// What the account's automatic top-ups decided at or after `since` came to (charged, or
/// being charged), in cents: what the month's cap has used. On the pool or in a
/// transaction.
pub async fn spent_since<'c, E: sqlx::Executor<'c, Database = Any>>(
    on: E,
    account: i64,
    since: UnixSeconds,
) -> Result<u64, sqlx::Error> {
    let cents: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM auto_top_ups \
         WHERE account_id = $1 AND created_at >= $2 AND status IN ('charging', 'succeeded')",
    )
    .bind(account)
    .bind(since)
    .fetch_one(on)
    .await?;
    Ok(u64::try_from(cents).unwrap_or(0))
}

/// An automatic top-up decided now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttempt<'a> {
    pub account: i64,
    pub pack: &'a str,
    pub credits: u64,
    pub amount_cents: u64,
    pub currency: &'a str,
    pub journal_seq: i64,
    /// The card it charges.
    pub payment_method: &'a str,
}

/// Records an automatic top-up as being charged, unless one of the account's is already
/// (the partial unique index): its id, or `None`.
pub(crate) async fn insert_attempt_in(
    tx: &mut Tx,
    a: &NewAttempt<'_>,
    now: UnixSeconds,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO auto_top_ups (account_id, pack, credits, amount_cents, currency, status, \
         journal_seq, payment_method, created_at) VALUES ($1, $2, $3, $4, $5, 'charging', $6, $7, $8) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(a.account)
    .bind(a.pack)
    .bind(db_u64(a.credits))
    .bind(db_u64(a.amount_cents))
    .bind(a.currency)
    .bind(a.journal_seq)
    .bind(a.payment_method)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
}

/// An automatic top-up as recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: i64,
    pub account_id: i64,
    pub pack: String,
    pub credits: i64,
    pub amount_cents: i64,
    pub status: String,
    pub journal_seq: i64,
    pub created_at: i64,
    /// Why its charge failed.
    pub failure: Option<String>,
    /// The card it charges.
    pub payment_method: String,
}

/// The account's automatic top-ups, newest first.
pub async fn attempts(db: &Db, account: i64, limit: i64) -> Result<Vec<AttemptRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, account_id, pack, credits, amount_cents, status, journal_seq, created_at, \
         failure, payment_method FROM auto_top_ups WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(account)
    .bind(limit)
    .fetch_all(db.reader())
    .await
}

/// Ends automatic top-up `id` (`succeeded` or `failed`), with its PaymentIntent and why
/// it failed. Only one being charged ends: false when it had ended already.
pub(crate) async fn finish_attempt_in(
    tx: &mut Tx,
    id: i64,
    status: &str,
    payment_intent: &str,
    failure: Option<&str>,
    now: UnixSeconds,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE auto_top_ups SET status = $1, payment_intent = $2, failure = $3, settled_at = $4 \
         WHERE id = $5 AND status = 'charging'",
    )
    .bind(status)
    .bind(payment_intent)
    .bind(failure)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Notes the PaymentIntent Stripe made for automatic top-up `id` (support can look it up).
pub async fn set_payment_intent(db: &Db, id: i64, payment_intent: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE auto_top_ups SET payment_intent = $1 WHERE id = $2 AND payment_intent IS NULL",
    )
    .bind(payment_intent)
    .bind(id)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// A paid automatic top-up: failures count from nought again.
pub(crate) async fn clear_failures_in(tx: &mut Tx, account: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE auto_top_up_settings SET failures = 0 WHERE account_id = $1")
        .bind(account)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A failed charge: one more failure in a row, and, when `stop` says why, automatic
/// top-ups stop until the customer acts. Returns the failures in a row.
pub(crate) async fn add_failure_in(
    tx: &mut Tx,
    account: i64,
    stop: impl Fn(u32) -> Option<String>,
    now: UnixSeconds,
) -> Result<u32, sqlx::Error> {
    let failures: i64 = sqlx::query_scalar(
        "UPDATE auto_top_up_settings SET failures = failures + 1, updated_at = $1 \
         WHERE account_id = $2 RETURNING failures",
    )
    .bind(now)
    .bind(account)
    .fetch_optional(&mut **tx)
    .await?
    .unwrap_or(0);
    let failures = u32::try_from(failures).unwrap_or(u32::MAX);
    if let Some(reason) = stop(failures) {
        sqlx::query(
            "UPDATE auto_top_up_settings SET stopped_at = $1, stopped_reason = $2 WHERE account_id = $3",
        )
        .bind(now)
        .bind(reason)
        .bind(account)
        .execute(&mut **tx)
        .await?;
    }
    Ok(failures)
}

/// Automatic top-up `id`. On the pool or in a transaction.
pub async fn attempt<'c, E: sqlx::Executor<'c, Database = Any>>(
    on: E,
    id: i64,
) -> Result<Option<AttemptRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, account_id, pack, credits, amount_cents, status, journal_seq, created_at, \
         failure, payment_method FROM auto_top_ups WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(on)
    .await
}

/// What a reserve needs to know to consider an automatic top-up, in one read: whether the
/// account has them on, its threshold, and its available balance now. `None`: never set,
/// no card, stopped, or one being charged (nothing to consider).
pub async fn trigger_view(db: &Db, account: i64) -> Result<Option<(bool, u64, u64)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT s.enabled, s.threshold, a.balance - a.held AS available \
         FROM auto_top_up_settings s JOIN accounts a ON a.id = s.account_id \
         WHERE s.account_id = $1 AND s.payment_method IS NOT NULL AND s.stopped_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM auto_top_ups t WHERE t.account_id = s.account_id \
         AND t.status = 'charging')",
    )
    .bind(account)
    .fetch_optional(db.reader())
    .await?;
    row.map(|r| {
        let enabled = r.try_get::<i64, _>("enabled")? != 0;
        let threshold = u64::try_from(r.try_get::<i64, _>("threshold")?).unwrap_or(0);
        let available = u64::try_from(r.try_get::<i64, _>("available")?).unwrap_or(0);
        Ok((enabled, threshold, available))
    })
    .transpose()
}

/// Automatic top-ups still being charged that were decided in `[from, to)`: their
/// charge's answer was unclear, or its webhook has not come.
pub async fn charging_between(
    db: &Db,
    from: UnixSeconds,
    to: UnixSeconds,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM auto_top_ups WHERE status = 'charging' AND created_at >= $1 \
         AND created_at < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(db.reader())
    .await
}

/// Whether an automatic top-up of the account decided at or after `since` is being
/// charged. On the pool or in a transaction.
pub async fn charging_since<'c, E: sqlx::Executor<'c, Database = Any>>(
    on: E,
    account: i64,
    since: UnixSeconds,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM auto_top_ups WHERE account_id = $1 AND status = 'charging' \
         AND created_at >= $2",
    )
    .bind(account)
    .bind(since)
    .fetch_one(on)
    .await?;
    Ok(n > 0)
}
