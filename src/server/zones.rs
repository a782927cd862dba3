//! Time zones from the tz database (chrono-tz): which names exist, each one's table of
//! offsets for the pages (`domain::zone`), and the cookie that tells a page render which
//! zone its reader chose (their profile setting, kept in `users.time_zone`).

use crate::domain::zone::{Span, Zone};
use chrono::{Offset, TimeZone};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// The cookie that names the reader's time zone, so every page (with or without
/// JavaScript) shows their times without a database read.
pub const COOKIE: &str = "studio_tz";
/// A year, for the cookie's life: the setting itself is on the user.
const COOKIE_SECS: u32 = 365 * 86_400;
/// The years the tables cover: every date the app shows falls in them (a time outside
/// reads with the nearest year's offset).
const FROM: i64 = 1_420_070_400; // 1 January 2015
const UNTIL: i64 = 2_082_758_400; // 1 January 2036
const DAY: i64 = 86_400;

/// A name people can pick, canonical as the tz database spells it.
pub fn parse(name: &str) -> Option<chrono_tz::Tz> {
    name.trim().parse::<chrono_tz::Tz>().ok()
}

/// Every zone name, sorted, for the profile setting's list.
pub fn names() -> &'static [&'static str] {
    static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        let mut names: Vec<&'static str> =
            chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
        names.sort_unstable();
        names
    });
    &NAMES
}

fn at(tz: chrono_tz::Tz, unix: i64) -> (i32, String) {
    match tz.timestamp_opt(unix, 0).single() {
        Some(local) => (
            local.offset().fix().local_minus_utc(),
            local.format("%Z").to_string(),
        ),
        None => (0, "UTC".to_owned()),
    }
}

/// The offset table of `tz` over the covered years: one span per change, each change
/// found to the second.
fn build(tz: chrono_tz::Tz) -> Zone {
    let mut spans = vec![];
    let mut current = at(tz, FROM);
    spans.push(Span {
        from: i64::MIN,
        offset: current.0,
        abbrev: current.1.clone(),
    });
    let mut t = FROM;
    while t < UNTIL {
        let next = at(tz, t + DAY);
        if next != current {
            // The first second of the new offset, in (t, t + DAY].
            let (mut lo, mut hi) = (t, t + DAY);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if at(tz, mid) == current {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let changed = at(tz, hi);
            spans.push(Span {
                from: hi,
                offset: changed.0,
                abbrev: changed.1.clone(),
            });
            current = changed;
        }
        t += DAY;
    }
    Zone {
        name: tz.name().to_owned(),
        spans,
    }
}

/// The table of zone `name`, built once per zone and kept; `None` for a name the tz
/// database does not know.
pub fn table(name: &str) -> Option<Arc<Zone>> {
    static TABLES: LazyLock<Mutex<HashMap<String, Arc<Zone>>>> = LazyLock::new(Mutex::default);
    let tz = parse(name)?;
    let mut tables = TABLES.lock().unwrap_or_else(|e| e.into_inner());
    Some(
        tables
            .entry(tz.name().to_owned())
            .or_insert_with(|| Arc::new(build(tz)))
            .clone(),
    )
}

/// The table of zone `name` when there is one the tz database knows, else UTC's (a
/// customer who chose no zone reads times in UTC).
pub fn named_or_utc(name: Option<&str>) -> Zone {
    name.and_then(table)
        .map_or_else(Zone::utc, |z| (*z).clone())
}

/// The zone a request's reader chose (their cookie), else UTC.
pub fn of_headers(headers: &axum::http::HeaderMap) -> Arc<Zone> {
    crate::server::auth::cookie_value(headers, COOKIE)
        .and_then(|name| table(&name))
        .unwrap_or_else(|| Arc::new(Zone::utc()))
}

/// The zone the request's reader chose (their cookie), if they chose one the tz database
/// knows.
pub fn chosen_in(headers: &axum::http::HeaderMap) -> Option<chrono_tz::Tz> {
    crate::server::auth::cookie_value(headers, COOKIE).and_then(|n| parse(&n))
}

/// Whether the request named a zone at all (a browser that has not been asked yet has
/// not).
pub fn named_in(headers: &axum::http::HeaderMap) -> bool {
    chosen_in(headers).is_some()
}

/// The `Set-Cookie` value that remembers zone `name` in this browser.
pub fn cookie(name: &str, secure: bool) -> String {
    crate::server::auth::set_cookie_value(COOKIE, name, i64::from(COOKIE_SECS), secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_with_summer_time_changes_twice_a_year_to_the_second() {
        let berlin = table("Europe/Berlin").expect("a known zone");
        // 29 March 2026, 01:00 UTC: clocks go from 02:00 CET to 03:00 CEST.
        assert_eq!(berlin.offset_at(1_774_745_999), 3600);
        assert_eq!(berlin.offset_at(1_774_746_000), 7200);
        assert_eq!(berlin.date_time(1_774_746_000), "29 Mar 2026, 03:00 CEST");
        // 21 years, two changes each.
        assert_eq!(berlin.spans.len(), 1 + 2 * 21);
    }

    #[test]
    fn a_zone_without_summer_time_has_one_span() {
        let tokyo = table("Asia/Tokyo").expect("a known zone");
        assert_eq!(tokyo.spans.len(), 1);
        assert_eq!(tokyo.offset_at(1_774_746_000), 9 * 3600);
        assert_eq!(tokyo.date_time(0), "1 Jan 1970, 09:00 JST");
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(table("Mars/Olympus_Mons").is_none());
        assert!(table("").is_none());
        assert!(names().contains(&"America/New_York"));
        assert!(names().contains(&"UTC"));
    }
}
