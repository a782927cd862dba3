//! How numbers and dates read on the pages.

use crate::domain::credits::Credits;

use crate::domain::zone::{PageZone, Zone};
use leptos::prelude::use_context;
use std::sync::Arc;

/// The reader's time zone (their profile setting; UTC until they have one).
pub fn zone() -> Arc<Zone> {
    use_context::<PageZone>()
        .map(|z| z.zone)
        .unwrap_or_else(|| Arc::new(Zone::utc()))
}

/// `1780272000` -> `1 June 2026`, in the reader's time zone.
pub fn date(unix: i64) -> String {
    zone().long_date(unix)
}

/// `1780272000` -> `1 Jun 2026, 16:05 CEST`: in the reader's time zone, named.
pub fn date_time(unix: i64) -> String {
    zone().date_time(unix)
}

/// The UTC calendar day starting at `day_start`, `1 June 2026` (the usage chart's days
/// are UTC days, and say so).
pub fn utc_day(day_start: i64) -> String {
    crate::domain::ledger::long_date(day_start)
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
pub fn entry_kind(kind: crate::domain::ledger::JournalKind) -> &'static str {
    use crate::domain::ledger::JournalKind as K;
    match kind {
        K::Grant => "Credits added",
        K::Expire => "Credits expired",
        K::Reserve => "Reserved for a generation",
        K::Capture => "Generation charged",
        K::Release => "Reservation released",
        K::HoldExpired => "Reservation expired",
        K::Refund => "Failed part credited back",
        K::Debit => "Credits taken by support",
    }
}

/// Where a payment's receipt is: the app's own page for the local test checkout, Stripe's
/// (hosted invoice or charge receipt, found when asked) otherwise; none until it is paid.
pub fn receipt_href(p: &crate::model::payments::PaymentLine) -> Option<String> {
    p.has_receipt().then(|| {
        if p.test_mode {
            format!("/payments/{}", p.id)
        } else {
            format!("/payments/{}/stripe-receipt", p.id)
        }
    })
}

/// What a payment bought, in words: `Creator plan: 5,000 credits`, `Top-up: 2,000 credits`.
pub fn payment_what(p: &crate::model::payments::PaymentLine) -> String {
    use crate::domain::payments::PaymentKind;
    let what = match (p.kind, &p.plan_name) {
        (PaymentKind::Topup, _) => "Top-up".to_owned(),
        (_, Some(name)) => format!("{name} plan"),
        _ => "Plan".to_owned(),
    };
    format!(
        "{what}: {} credits",
        crate::domain::credits::group_thousands(p.credits)
    )
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
