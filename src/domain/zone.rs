//! The time zone the pages show times in: its IANA name and, for the years the app deals
//! in, each change of its offset from UTC (daylight saving time, and law changes).
//!
//! The table is built on the server from the tz database (`server::zones`) and handed to
//! the browser app with the page, so both format every time the same way and hydration
//! never sees two versions of a date. Pure data and arithmetic here.

use serde::{Deserialize, Serialize};

/// From `from` (unix seconds) on, local time is UTC plus `offset` seconds, called `abbrev`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub from: i64,
    pub offset: i32,
    pub abbrev: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    /// `Europe/Berlin`, `UTC`.
    pub name: String,
    /// In time order; the first applies to every earlier time too.
    pub spans: Vec<Span>,
}

/// What a page render knows of its reader's zone: the table, and whether the reader (or
/// their browser) chose it; a zone nobody chose is UTC, and the browser app offers its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageZone {
    pub zone: std::sync::Arc<Zone>,
    pub chosen: bool,
}

impl Default for Zone {
    fn default() -> Self {
        Zone::utc()
    }
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".to_owned(),
            spans: vec![Span {
                from: i64::MIN,
                offset: 0,
                abbrev: "UTC".to_owned(),
            }],
        }
    }

    /// The span in force at `unix`.
    fn span_at(&self, unix: i64) -> Option<&Span> {
        let after = self.spans.partition_point(|s| s.from <= unix);
        self.spans.get(after.saturating_sub(1))
    }

    /// Seconds ahead of UTC at `unix`.
    pub fn offset_at(&self, unix: i64) -> i32 {
        self.span_at(unix).map_or(0, |s| s.offset)
    }

    /// The local wall-clock time at `unix`.
    fn local(&self, unix: i64) -> Option<chrono::NaiveDateTime> {
        chrono::DateTime::from_timestamp(unix + i64::from(self.offset_at(unix)), 0)
            .map(|d| d.naive_utc())
    }

    /// `1 June 2026`, in this zone.
    pub fn long_date(&self, unix: i64) -> String {
        self.local(unix)
            .map(|d| d.format("%-d %B %Y").to_string())
            .unwrap_or_default()
    }

    /// `2026-06-01`, the day it is at `unix` in this zone (a date input's value).
    pub fn iso_date(&self, unix: i64) -> String {
        self.local(unix)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    }

    /// `2026-06-01T16:05:00+02:00` (ISO 8601 with the offset; `Z` in UTC), in this zone.
    pub fn iso(&self, unix: i64) -> String {
        let offset = self.offset_at(unix);
        match self.local(unix) {
            Some(d) if offset == 0 => format!("{}Z", d.format("%Y-%m-%dT%H:%M:%S")),
            Some(d) => {
                let sign = if offset < 0 { '-' } else { '+' };
                let abs = offset.unsigned_abs();
                format!(
                    "{}{sign}{:02}:{:02}",
                    d.format("%Y-%m-%dT%H:%M:%S"),
                    abs / 3600,
                    abs % 3600 / 60
                )
            }
            None => String::new(),
        }
    }

    /// `1 Jun 2026, 16:05 CEST`, in this zone, named.
    pub fn date_time(&self, unix: i64) -> String {
        match (self.local(unix), self.span_at(unix)) {
            (Some(d), Some(s)) => format!("{} {}", d.format("%-d %b %Y, %H:%M"), s.abbrev),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Berlin around the 2026 spring change (29 March 2026, 01:00 UTC).
    fn berlin() -> Zone {
        Zone {
            name: "Europe/Berlin".into(),
            spans: vec![
                Span {
                    from: i64::MIN,
                    offset: 3600,
                    abbrev: "CET".into(),
                },
                Span {
                    from: 1_774_746_000,
                    offset: 7200,
                    abbrev: "CEST".into(),
                },
            ],
        }
    }

    #[test]
    fn iso_times_carry_the_offset_in_force_then() {
        let z = berlin();
        assert_eq!(z.iso(1_774_745_999), "2026-03-29T01:59:59+01:00");
        assert_eq!(z.iso(1_774_746_000), "2026-03-29T03:00:00+02:00");
        assert_eq!(Zone::utc().iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(z.iso_date(1_774_738_800), "2026-03-29"); // 29 March, 00:00 CET
        assert_eq!(z.iso_date(1_774_738_799), "2026-03-28");
        let west = Zone {
            name: "America/St_Johns".into(),
            spans: vec![Span {
                from: i64::MIN,
                offset: -12_600,
                abbrev: "NST".into(),
            }],
        };
        assert_eq!(west.iso(0), "1969-12-31T20:30:00-03:30");
    }

    #[test]
    fn times_read_in_the_zone_with_its_name() {
        let z = berlin();
        // 29 March 2026 00:59:59 UTC: still winter time.
        assert_eq!(z.date_time(1_774_745_999), "29 Mar 2026, 01:59 CET");
        assert_eq!(z.date_time(1_774_746_000), "29 Mar 2026, 03:00 CEST");
        assert_eq!(
            Zone::utc().date_time(1_774_746_000),
            "29 Mar 2026, 01:00 UTC"
        );
    }

    #[test]
    fn a_late_evening_in_utc_is_the_next_day_further_east() {
        // 31 December 2026, 23:30 UTC.
        let t = 1_798_759_800;
        assert_eq!(Zone::utc().long_date(t), "31 December 2026");
        assert_eq!(berlin().long_date(t), "1 January 2027");
    }

    #[test]
    fn before_the_table_the_first_span_holds() {
        assert_eq!(berlin().offset_at(0), 3600);
        assert_eq!(Zone::utc().offset_at(i64::MIN + 1), 0);
    }
}
