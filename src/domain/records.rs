//! Your records (P18): the customer's generations and payments as CSV files, for the days
//! they choose. Which days were asked for, and how each row is written: a header row,
//! RFC 4180 quoting, ISO 8601 times in the reader's zone, whole credits, money in the
//! currency's units. Reading the rows is `server::db::records`; sending them, a page of
//! rows at a time, `server::http::records`.

use crate::domain::ledger::HoldStatus;
use crate::domain::payments::{PaymentKind, PaymentStatus, Provider, RefundState};
use crate::domain::zone::Zone;
use chrono::NaiveDate;
use std::borrow::Cow;

/// The days a download covers, both included, as the reader's calendar reads them. An
/// open end is the first record, or the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayRange {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("“{value}” is not a date. Write the {field} date as YYYY-MM-DD, e.g. 2026-12-01.")]
    NotADate { field: &'static str, value: String },
    #[error("The first day ({from}) is after the last day ({to}). Swap them, or pick other days.")]
    Reversed { from: NaiveDate, to: NaiveDate },
}

impl DayRange {
    /// The range from the form's `from` and `to` (`YYYY-MM-DD`); an empty one is an open end.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<DayRange, RangeError> {
        let day =
            |field: &'static str, value: Option<&str>| -> Result<Option<NaiveDate>, RangeError> {
                match value.map(str::trim).filter(|v| !v.is_empty()) {
                    None => Ok(None),
                    Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                        .map(Some)
                        .map_err(|_| RangeError::NotADate {
                            field,
                            value: v.chars().take(40).collect(),
                        }),
                }
            };
        let range = DayRange {
            from: day("first", from)?,
            to: day("last", to)?,
        };
        match (range.from, range.to) {
            (Some(from), Some(to)) if from > to => Err(RangeError::Reversed { from, to }),
            _ => Ok(range),
        }
    }

    /// The file's name: `studio-generations-2026-11-01-to-2026-11-30.csv`.
    pub fn file_name(&self, what: &str) -> String {
        let end = |d: Option<NaiveDate>, open: &str| d.map_or(open.to_owned(), |d| d.to_string());
        format!(
            "studio-{what}-{}-to-{}.csv",
            end(self.from, "start"),
            end(self.to, "now")
        )
    }
}

/// One generation: what it was estimated, held and charged, what came back, and which
/// credits paid for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationRecord {
    /// Its receipt number (the hold).
    pub receipt: i64,
    pub started_at: i64,
    pub settled_at: Option<i64>,
    /// The operation's key (`voice`, `music`, ...).
    pub operation: String,
    pub quantity: i64,
    pub used_quantity: Option<i64>,
    pub status: HoldStatus,
    pub estimate: i64,
    pub held: i64,
    pub charged: i64,
    pub credited_back: i64,
    pub from_subscription: i64,
    pub from_top_up: i64,
    pub from_adjustment: i64,
}

/// One payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub payment: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub kind: PaymentKind,
    /// The top-up pack or plan it bought.
    pub product: String,
    pub credits: i64,
    pub amount_cents: i64,
    pub currency: String,
    pub status: PaymentStatus,
    pub provider: Provider,
    pub refund: Option<RefundState>,
}

pub const GENERATIONS_HEADER: &str = "receipt,started_at,settled_at,operation,quantity,used_quantity,status,estimate,held,charged,credited_back,paid_from_subscription_credits,paid_from_top_up_credits,paid_from_adjustment_credits\r\n";

pub const PAYMENTS_HEADER: &str = "payment,created_at,updated_at,kind,product,credits,amount,currency,status,paid_through,refund\r\n";

impl GenerationRecord {
    /// Its CSV line, times in `zone`.
    pub fn csv_line(&self, zone: &Zone) -> String {
        let fields: [Cow<str>; 14] = [
            self.receipt.to_string().into(),
            zone.iso(self.started_at).into(),
            self.settled_at
                .map(|t| zone.iso(t))
                .unwrap_or_default()
                .into(),
            text(&self.operation),
            self.quantity.to_string().into(),
            self.used_quantity
                .map(|q| q.to_string())
                .unwrap_or_default()
                .into(),
            self.status.as_str().into(),
            self.estimate.to_string().into(),
            self.held.to_string().into(),
            self.charged.to_string().into(),
            self.credited_back.to_string().into(),
            self.from_subscription.to_string().into(),
            self.from_top_up.to_string().into(),
            self.from_adjustment.to_string().into(),
        ];
        line(&fields)
    }
}

impl PaymentRecord {
    /// Its CSV line, times in `zone`.
    pub fn csv_line(&self, zone: &Zone) -> String {
        let currency = self.currency.to_uppercase();
        let fields: [Cow<str>; 11] = [
            self.payment.to_string().into(),
            zone.iso(self.created_at).into(),
            zone.iso(self.updated_at).into(),
            self.kind.as_str().into(),
            text(&self.product),
            self.credits.to_string().into(),
            money(self.amount_cents).into(),
            text(&currency),
            self.status.as_str().into(),
            self.provider.as_str().into(),
            self.refund
                .map(|r| match r {
                    RefundState::Due => "pending",
                    RefundState::Done => "refunded",
                })
                .unwrap_or_default()
                .into(),
        ];
        line(&fields)
    }
}

/// `1234` cents as `12.34`.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

fn line(fields: &[Cow<str>]) -> String {
    let mut out = fields.join(",");
    out.push_str("\r\n");
    out
}

/// A text field as RFC 4180 writes it: quoted when it holds a comma, a quote or a line
/// break, its quotes doubled. Text a spreadsheet would run as a formula (starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return) is kept as text with a leading `'`.
fn text(s: &str) -> Cow<'_, str> {
    let guarded: Cow<str> = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\"")).into()
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_range_reads_its_two_days_and_an_empty_end_is_open() {
        assert_eq!(
            DayRange::parse(Some("2026-11-01"), Some(" 2026-11-30 ")),
            Ok(DayRange {
                from: Some(day("2026-11-01")),
                to: Some(day("2026-11-30"))
            })
        );
        assert_eq!(DayRange::parse(Some(""), None), Ok(DayRange::default()));
        assert_eq!(
            DayRange::parse(Some("2026-11-01"), Some("2026-11-01")).map(|r| r.from),
            Ok(Some(day("2026-11-01")))
        );
    }

    #[test]
    fn a_range_that_is_not_dates_or_runs_backwards_is_refused_with_what_to_do() {
        let e = DayRange::parse(Some("01/11/2026"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "“01/11/2026” is not a date. Write the first date as YYYY-MM-DD, e.g. 2026-12-01."
        );
        assert!(matches!(
            DayRange::parse(None, Some("2026-02-30")),
            Err(RangeError::NotADate { field: "last", .. })
        ));
        assert_eq!(
            DayRange::parse(Some("2026-12-02"), Some("2026-12-01")),
            Err(RangeError::Reversed {
                from: day("2026-12-02"),
                to: day("2026-12-01")
            })
        );
    }

    #[test]
    fn a_file_is_named_by_its_days() {
        let r = DayRange::parse(Some("2026-11-01"), Some("2026-11-30")).unwrap();
        assert_eq!(
            r.file_name("generations"),
            "studio-generations-2026-11-01-to-2026-11-30.csv"
        );
        assert_eq!(
            DayRange::default().file_name("payments"),
            "studio-payments-start-to-now.csv"
        );
    }

    #[test]
    fn text_is_quoted_as_rfc_4180_says_and_never_read_as_a_formula() {
        assert_eq!(text("voice"), "voice");
        assert_eq!(text("a,b"), "\"a,b\"");
        assert_eq!(text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(text("two\nlines"), "\"two\nlines\"");
        assert_eq!(text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(text("@sum"), "'@sum");
        assert_eq!(text("-1"), "'-1");
    }

    #[test]
    fn money_is_written_in_the_currencys_units() {
        assert_eq!(money(500), "5.00");
        assert_eq!(money(123_456), "1234.56");
        assert_eq!(money(7), "0.07");
        assert_eq!(money(0), "0.00");
    }

    #[test]
    fn a_generation_and_a_payment_are_one_line_each_with_times_in_the_readers_zone() {
        let g = GenerationRecord {
            receipt: 42,
            started_at: 1_764_547_200, // 1 December 2025, 00:00 UTC
            settled_at: None,
            operation: "voice".into(),
            quantity: 120,
            used_quantity: None,
            status: HoldStatus::Held,
            estimate: 60,
            held: 60,
            charged: 0,
            credited_back: 0,
            from_subscription: 0,
            from_top_up: 0,
            from_adjustment: 0,
        };
        assert_eq!(
            g.csv_line(&Zone::utc()),
            "42,2025-12-01T00:00:00Z,,voice,120,,held,60,60,0,0,0,0,0\r\n"
        );
        assert_eq!(
            GENERATIONS_HEADER.split(',').count(),
            g.csv_line(&Zone::utc()).split(',').count()
        );
        let p = PaymentRecord {
            payment: 7,
            created_at: 1_764_547_200,
            updated_at: 1_764_547_260,
            kind: PaymentKind::Topup,
            product: "pack_1000".into(),
            credits: 1000,
            amount_cents: 900,
            currency: "usd".into(),
            status: PaymentStatus::Paid,
            provider: Provider::Local,
            refund: None,
        };
        let berlin = Zone {
            name: "Europe/Berlin".into(),
            spans: vec![crate::domain::zone::Span {
                from: i64::MIN,
                offset: 3600,
                abbrev: "CET".into(),
            }],
        };
        assert_eq!(
            p.csv_line(&berlin),
            "7,2025-12-01T01:00:00+01:00,2025-12-01T01:01:00+01:00,topup,pack_1000,1000,9.00,USD,paid,local,\r\n"
        );
        assert_eq!(
            PAYMENTS_HEADER.split(',').count(),
            p.csv_line(&berlin).split(',').count()
        );
    }
}
