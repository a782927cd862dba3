//! Your records (P18): the customer's generations or payments for the days they chose,
//! as a CSV file sent while it is read, a page of rows at a time (`db::records`). The
//! header row goes first; a page that cannot be read ends the download as failed (the
//! browser says so) instead of leaving a file that looks whole.

use crate::domain::records::{DayRange, GENERATIONS_HEADER, PAYMENTS_HEADER};
use crate::domain::zone::Zone;
use crate::error::AppError;
use crate::server::db::records::{self as db, After, Window};
use crate::server::state::AppState;
use axum::body::Bytes;
use chrono::TimeZone;
use futures::Stream;
use std::sync::Arc;

/// Rows read per statement.
pub const PAGE: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    Generations,
    Payments,
}

impl Records {
    /// The word in the file's name.
    pub fn name(self) -> &'static str {
        match self {
            Records::Generations => "generations",
            Records::Payments => "payments",
        }
    }
}

/// The times `range` covers in `tz`: from the first day's midnight to the midnight after
/// the last day (a day of 23 or 25 hours as the zone had it); an open end is no bound.
pub fn window(range: DayRange, tz: chrono_tz::Tz) -> Window {
    let midnight = |day: chrono::NaiveDate| {
        let local = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        // A zone that skips midnight (a few did, for summer time) starts the day at the
        // first moment it has.
        tz.from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map_or_else(|| local.and_utc().timestamp(), |t| t.timestamp())
    };
    Window {
        from: range.from.map_or(i64::MIN, midnight),
        until: range
            .to
            .and_then(|d| d.succ_opt())
            .map_or(i64::MAX, midnight),
    }
}

/// The file, as a stream of pieces: the header row and the first page, then a page of
/// lines at a time. The first page is read before anything is sent, so a database that
/// cannot answer is an error page, not a download that fails at once.
pub async fn csv(
    state: AppState,
    account: i64,
    what: Records,
    window: Window,
    zone: Arc<Zone>,
) -> Result<impl Stream<Item = Result<Bytes, AppError>> + Send + 'static, AppError> {
    let header = match what {
        Records::Generations => GENERATIONS_HEADER,
        Records::Payments => PAYMENTS_HEADER,
    };
    let start = After {
        at: window.from,
        id: i64::MIN,
    };
    let (first, next) = page(&state, account, what, window, start, &zone, header).await?;
    // Where the next page starts; `None` once the last page is sent. Fused: the
    // compression layer asks again after the end, and an unfused `unfold` panics then.
    let rest = futures::stream::unfold(next, move |next| {
        let state = state.clone();
        let zone = zone.clone();
        async move {
            match page(&state, account, what, window, next?, &zone, "").await {
                Ok((bytes, next)) => Some((Ok(bytes), next)),
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    Ok(futures::StreamExt::fuse(futures::StreamExt::chain(
        futures::stream::once(std::future::ready(Ok(first))),
        rest,
    )))
}

/// One page of lines after `after`, behind `prefix`, and where the next page starts (none
/// after a page that was not full).
async fn page(
    state: &AppState,
    account: i64,
    what: Records,
    window: Window,
    after: After,
    zone: &Zone,
    prefix: &str,
) -> Result<(Bytes, Option<After>), AppError> {
    let mut out = String::from(prefix);
    // How many rows came, and the time and id of the last (where the next page starts).
    let page = match what {
        Records::Generations => db::generations(&state.db, account, window, after, PAGE)
            .await
            .map(|rows| {
                rows.iter().for_each(|r| out.push_str(&r.csv_line(zone)));
                (rows.len(), rows.last().map(|r| (r.started_at, r.receipt)))
            }),
        Records::Payments => db::payments(&state.db, account, window, after, PAGE)
            .await
            .map(|rows| {
                rows.iter().for_each(|r| out.push_str(&r.csv_line(zone)));
                (rows.len(), rows.last().map(|r| (r.created_at, r.payment)))
            }),
    };
    match page {
        Ok((count, last)) => {
            let next = match last {
                Some((at, id)) if count == PAGE as usize => Some(After { at, id }),
                _ => None,
            };
            Ok((Bytes::from(out), next))
        }
        Err(e) => {
            tracing::error!(error = %e, account, records = what.name(), "records download failed");
            Err(AppError::Internal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> chrono::NaiveDate {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_range_covers_whole_days_in_the_readers_zone() {
        let range = DayRange {
            from: Some(day("2026-03-29")),
            to: Some(day("2026-03-29")),
        };
        // Berlin's 29 March 2026 has 23 hours: from 00:00 CET to 00:00 CEST the next day.
        let w = window(range, chrono_tz::Europe::Berlin);
        assert_eq!(w.from, 1_774_738_800);
        assert_eq!(w.until - w.from, 23 * 3600);
        let utc = window(range, chrono_tz::UTC);
        assert_eq!(utc.from, 1_774_742_400);
        assert_eq!(utc.until - utc.from, 24 * 3600);
    }

    #[test]
    fn an_open_end_is_no_bound() {
        let w = window(DayRange::default(), chrono_tz::UTC);
        assert_eq!((w.from, w.until), (i64::MIN, i64::MAX));
    }
}
