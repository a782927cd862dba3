//! Automatic top-ups (P16): when the available balance falls below the customer's
//! threshold, their chosen pack is bought with their saved card. Never past their monthly
//! cap (counted in their own month), never two at once, one for each time the balance
//! falls below the threshold, and stopped after repeated failures. The rules here; the
//! transaction that starts one and the charge are `server::services::auto_top_up`.

use crate::domain::catalog::{Catalog, TopUpPack, format_usd};
use crate::domain::credits::group_thousands;
use crate::domain::ledger::UnixSeconds;
use crate::domain::zone::Zone;
use serde::{Deserialize, Serialize};

/// Failed charges in a row that stop automatic top-ups until the customer acts.
pub const DEFAULT_ATTEMPTS: u32 = 2;
/// The largest threshold a customer can set, in credits.
pub const MAX_THRESHOLD: u64 = 1_000_000;
/// The largest monthly cap, in cents ($10,000).
pub const MAX_CAP_CENTS: u64 = 1_000_000;

/// What the customer set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoTopUpSettings {
    pub enabled: bool,
    /// Buy when the available balance falls below this many credits.
    pub threshold: u64,
    /// The top-up pack bought (its id in the catalogue).
    pub pack: String,
    /// At most this much a month, in cents.
    pub monthly_cap_cents: u64,
}

/// Why settings are refused, in words for the customer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("Enter the balance to top up below as a whole number of credits, from 1 to {max}.", max = group_thousands(MAX_THRESHOLD))]
    Threshold,
    #[error("Choose one of the top-up packs on sale.")]
    UnknownPack,
    #[error("Enter the monthly cap in dollars, like 50 or 49.50, at most {max}.", max = format_usd(MAX_CAP_CENTS))]
    Cap,
    #[error("The monthly cap ({cap}) is less than the pack's price ({price}), so nothing could ever be bought: raise the cap or choose a smaller pack.", cap = format_usd(*cap), price = format_usd(*price))]
    CapBelowPack { cap: u64, price: u64 },
}

impl AutoTopUpSettings {
    /// Settings from the form's fields, checked against the catalogue.
    pub fn parse(
        enabled: bool,
        threshold: &str,
        pack: &str,
        cap_dollars: &str,
        catalog: &Catalog,
    ) -> Result<AutoTopUpSettings, SettingsError> {
        let threshold = threshold
            .trim()
            .replace(',', "")
            .parse::<u64>()
            .ok()
            .filter(|t| (1..=MAX_THRESHOLD).contains(t))
            .ok_or(SettingsError::Threshold)?;
        let pack = catalog
            .top_up(pack.trim())
            .ok_or(SettingsError::UnknownPack)?;
        let cap = parse_dollars(cap_dollars)
            .filter(|c| *c <= MAX_CAP_CENTS)
            .ok_or(SettingsError::Cap)?;
        if cap < pack.price_cents {
            return Err(SettingsError::CapBelowPack {
                cap,
                price: pack.price_cents,
            });
        }
        Ok(AutoTopUpSettings {
            enabled,
            threshold,
            pack: pack.id.as_str().to_owned(),
            monthly_cap_cents: cap,
        })
    }
}

/// `50`, `$50`, `49.5`, `49.50` -> cents; anything else (three decimals, a sign, letters)
/// is `None`.
pub fn parse_dollars(text: &str) -> Option<u64> {
    let t = text.trim().trim_start_matches('$').replace(',', "");
    let (whole, cents) = match t.split_once('.') {
        Some((w, c)) if (1..=2).contains(&c.len()) => (w, c),
        Some(_) => return None,
        None => (t.as_str(), ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !cents.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let cents: u64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<u64>().ok()? * 10,
        _ => cents.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(cents)
}

/// What the ledger and the record of past attempts say when a reserve has been made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Situation {
    /// Available credits now (balance less held).
    pub available: u64,
    /// Since the last automatic top-up started (or ever, when none has), the available
    /// balance was at or above the threshold at some time: it has fallen below it again,
    /// a new crossing. False: still the crossing the last one was for.
    pub risen_since_last: bool,
    /// An automatic top-up is being charged now.
    pub running: bool,
    /// Spent on automatic top-ups this month (the customer's month), in cents: those
    /// charged and the one running.
    pub spent_this_month_cents: u64,
    pub card_saved: bool,
    /// Stopped after failures (the customer has to fix the card and turn it on again).
    pub stopped: bool,
}

/// Whether to start an automatic top-up now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Start,
    Skip(Skip),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Off,
    Stopped,
    NoCard,
    AboveThreshold,
    /// This crossing had its top-up already (made, failed or running).
    SameCrossing,
    Running,
    /// The pack would pass the month's cap.
    Cap,
}

/// P16: start one when on, with a card, below the threshold on a new crossing, none
/// running, and the pack within what the month's cap has left.
pub fn decide(settings: &AutoTopUpSettings, pack: &TopUpPack, s: &Situation) -> Decision {
    let skip = if !settings.enabled {
        Skip::Off
    } else if s.stopped {
        Skip::Stopped
    } else if !s.card_saved {
        Skip::NoCard
    } else if s.available >= settings.threshold {
        Skip::AboveThreshold
    } else if s.running {
        Skip::Running
    } else if !s.risen_since_last {
        Skip::SameCrossing
    } else if s.spent_this_month_cents.saturating_add(pack.price_cents) > settings.monthly_cap_cents
    {
        Skip::Cap
    } else {
        return Decision::Start;
    };
    Decision::Skip(skip)
}

/// What the month's cap has left, in cents.
pub fn cap_left(settings: &AutoTopUpSettings, spent_this_month_cents: u64) -> u64 {
    settings
        .monthly_cap_cents
        .saturating_sub(spent_this_month_cents)
}

/// After a charge failed, the failures in a row so far: whether automatic top-ups stop.
pub fn stops_after(failures_in_a_row: u32, attempts: u32) -> bool {
    failures_in_a_row >= attempts.max(1)
}

/// The start of the month `now` falls in, in `zone` (the customer's month, which the cap
/// counts in): its first day's midnight there.
pub fn month_start(zone: &Zone, now: UnixSeconds) -> UnixSeconds {
    let local = now + i64::from(zone.offset_at(now));
    let Some(day) = chrono::DateTime::from_timestamp(local, 0).map(|d| d.date_naive()) else {
        return now;
    };
    let Some(first) = day
        .with_day0(0)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp())
    else {
        return now;
    };
    // The local midnight as UTC: less the offset in force then (found from a guess with
    // the offset of now, which differs only across a change of offset).
    let guess = first - i64::from(zone.offset_at(first - i64::from(zone.offset_at(now))));
    first - i64::from(zone.offset_at(guess))
}

use chrono::Datelike;

/// How a saved card is shown, from its network's brand code as Stripe names it (`visa`,
/// `amex`, ...), its last four digits and its expiry (month, year):
/// "Visa ending 4242, expires 08/2030".
pub fn card_label(brand: &str, last4: &str, expires: Option<(u32, u32)>) -> String {
    let brand = match brand {
        "amex" => "American Express".to_owned(),
        "diners" => "Diners Club".to_owned(),
        "jcb" => "JCB".to_owned(),
        "unionpay" => "UnionPay".to_owned(),
        other => {
            let mut b = other.to_owned();
            if let Some(first) = b.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            b
        }
    };
    match expires {
        Some((m, y)) => format!("{brand} ending {last4}, expires {m:02}/{y}"),
        None => format!("{brand} ending {last4}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::PlanId;
    use crate::domain::credits::Credits;
    use crate::domain::zone::Span;

    fn pack(price_cents: u64) -> TopUpPack {
        TopUpPack {
            id: PlanId::parse("small").unwrap(),
            credits: Credits::new(500).unwrap(),
            price_cents,
        }
    }

    fn on() -> AutoTopUpSettings {
        AutoTopUpSettings {
            enabled: true,
            threshold: 500,
            pack: "small".into(),
            monthly_cap_cents: 1_500,
        }
    }

    fn below() -> Situation {
        Situation {
            available: 499,
            risen_since_last: true,
            running: false,
            spent_this_month_cents: 0,
            card_saved: true,
            stopped: false,
        }
    }

    #[test]
    fn p16_starts_below_the_threshold_with_a_card_and_room_under_the_cap() {
        assert_eq!(decide(&on(), &pack(500), &below()), Decision::Start);
    }

    #[test]
    fn p16_never_starts_when_off_stopped_cardless_or_at_the_threshold() {
        let off = AutoTopUpSettings {
            enabled: false,
            ..on()
        };
        assert_eq!(
            decide(&off, &pack(500), &below()),
            Decision::Skip(Skip::Off)
        );
        let cases = [
            (
                Situation {
                    stopped: true,
                    ..below()
                },
                Skip::Stopped,
            ),
            (
                Situation {
                    card_saved: false,
                    ..below()
                },
                Skip::NoCard,
            ),
            (
                Situation {
                    available: 500,
                    ..below()
                },
                Skip::AboveThreshold,
            ),
            (
                Situation {
                    running: true,
                    ..below()
                },
                Skip::Running,
            ),
            (
                Situation {
                    risen_since_last: false,
                    ..below()
                },
                Skip::SameCrossing,
            ),
        ];
        for (s, why) in cases {
            assert_eq!(decide(&on(), &pack(500), &s), Decision::Skip(why), "{s:?}");
        }
    }

    #[test]
    fn p16_the_cap_is_never_passed_and_may_be_reached_exactly() {
        let at = |spent| Situation {
            spent_this_month_cents: spent,
            ..below()
        };
        assert_eq!(
            decide(&on(), &pack(500), &at(1_000)),
            Decision::Start,
            "to $15 exactly"
        );
        assert_eq!(
            decide(&on(), &pack(500), &at(1_001)),
            Decision::Skip(Skip::Cap)
        );
        assert_eq!(
            decide(&on(), &pack(500), &at(u64::MAX)),
            Decision::Skip(Skip::Cap)
        );
        assert_eq!(cap_left(&on(), 1_000), 500);
        assert_eq!(cap_left(&on(), 9_999), 0);
    }

    #[test]
    fn it_stops_after_the_attempts_configured() {
        assert!(!stops_after(1, DEFAULT_ATTEMPTS));
        assert!(stops_after(2, DEFAULT_ATTEMPTS));
        assert!(stops_after(1, 0), "at least one attempt");
    }

    #[test]
    fn dollars_are_read_as_people_write_them() {
        assert_eq!(parse_dollars("50"), Some(5_000));
        assert_eq!(parse_dollars(" $49.5 "), Some(4_950));
        assert_eq!(parse_dollars("1,000.05"), Some(100_005));
        for bad in ["", "-5", "5.555", "five", "5.", ".5", "5.x"] {
            assert_eq!(parse_dollars(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_month_is_the_customers_own() {
        // 1 July 2026, 03:00 UTC: still 30 June in New York (UTC-4 in summer).
        let now = 1_782_874_800;
        assert_eq!(month_start(&Zone::utc(), now), 1_782_864_000, "1 July, UTC");
        let new_york = Zone {
            name: "America/New_York".into(),
            spans: vec![Span {
                from: i64::MIN,
                offset: -4 * 3_600,
                abbrev: "EDT".into(),
            }],
        };
        // 1 June 2026, 00:00 in New York = 04:00 UTC.
        assert_eq!(month_start(&new_york, now), 1_780_286_400);
    }

    #[test]
    fn a_saved_card_is_shown_by_brand_digits_and_expiry() {
        assert_eq!(
            card_label("visa", "4242", Some((8, 2030))),
            "Visa ending 4242, expires 08/2030"
        );
        assert_eq!(
            card_label("amex", "0005", None),
            "American Express ending 0005"
        );
        assert_eq!(
            card_label("mastercard", "4444", Some((12, 2031))),
            "Mastercard ending 4444, expires 12/2031"
        );
    }
}
