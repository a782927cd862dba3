//! How numbers and dates read on the pages.

use crate::domain::credits::Credits;

/// `1780272000` -> `1 June 2026` (UTC).
pub fn date(unix: i64) -> String {
    crate::domain::ledger::long_date(unix)
}

/// `1780272000` -> `1 Jun 2026, 14:05 UTC`.
pub fn date_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|d| d.format("%-d %b %Y, %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A signed journal amount with a thousands separator: `+1,000`, `-27`, `0`.
pub fn signed(amount: i64) -> String {
    let abs = Credits::new(amount.unsigned_abs()).unwrap_or_default();
    match amount.signum() {
        1 => format!("+{abs}"),
        -1 => format!("-{abs}"),
        _ => "0".to_owned(),
    }
}

/// The journal's entry kinds, as people say them.
pub fn entry_kind(kind: &str) -> &'static str {
    match kind {
        "grant" => "Credits added",
        "expire" => "Credits expired",
        "reserve" => "Reserved for a generation",
        "capture" => "Generation charged",
        "release" => "Reservation released",
        "hold_expired" => "Reservation expired",
        "refund" => "Failed part credited back",
        "debit" => "Credits taken by support",
        _ => "Other change",
    }
}

/// `s` for a URL query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
