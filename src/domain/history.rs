//! The customer's credit history: which journal entries each filter shows, and the cursor
//! that pages through them in the order of their times. Pure.

use crate::domain::ledger::JournalKind;
use serde::{Deserialize, Serialize};

/// What the history shows: every change of the balance, or one kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HistoryFilter {
    #[default]
    All,
    /// Credits added: plan periods, upgrades, top-ups, support's grants.
    Added,
    /// Generations charged, and credits support took.
    Charged,
    /// Failed parts credited back.
    Back,
    /// Credits that expired.
    Expired,
}

impl HistoryFilter {
    pub const ALL: [HistoryFilter; 5] = [
        HistoryFilter::All,
        HistoryFilter::Added,
        HistoryFilter::Charged,
        HistoryFilter::Back,
        HistoryFilter::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HistoryFilter::All => "all",
            HistoryFilter::Added => "added",
            HistoryFilter::Charged => "charged",
            HistoryFilter::Back => "back",
            HistoryFilter::Expired => "expired",
        }
    }

    /// An unknown or missing value shows everything.
    pub fn parse(s: Option<&str>) -> HistoryFilter {
        HistoryFilter::ALL
            .into_iter()
            .find(|f| Some(f.as_str()) == s)
            .unwrap_or_default()
    }

    pub fn label(self) -> &'static str {
        match self {
            HistoryFilter::All => "Every change",
            HistoryFilter::Added => "Credits added",
            HistoryFilter::Charged => "Charges",
            HistoryFilter::Back => "Credited back",
            HistoryFilter::Expired => "Expired",
        }
    }

    /// The journal kinds it shows (entries that change the balance only).
    pub fn kinds(self) -> &'static [JournalKind] {
        use JournalKind as K;
        match self {
            HistoryFilter::All => &[K::Grant, K::Expire, K::Capture, K::Refund, K::Debit],
            HistoryFilter::Added => &[K::Grant],
            HistoryFilter::Charged => &[K::Capture, K::Debit],
            HistoryFilter::Back => &[K::Refund],
            HistoryFilter::Expired => &[K::Expire],
        }
    }
}

/// Where a page of the history ends: the last entry's time and sequence number, as
/// `at.seq` in the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryCursor {
    pub at: i64,
    pub seq: i64,
}

impl HistoryCursor {
    /// Before everything: the first page.
    pub const NEWEST: HistoryCursor = HistoryCursor {
        at: i64::MAX,
        seq: i64::MAX,
    };

    pub fn parse(s: &str) -> Option<HistoryCursor> {
        let (at, seq) = s.split_once('.')?;
        Some(HistoryCursor {
            at: at.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    pub fn format(self) -> String {
        format!("{}.{}", self.at, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_and_unknown_ones_show_everything() {
        for f in HistoryFilter::ALL {
            assert_eq!(HistoryFilter::parse(Some(f.as_str())), f);
        }
        assert_eq!(HistoryFilter::parse(Some("'; DROP")), HistoryFilter::All);
        assert_eq!(HistoryFilter::parse(None), HistoryFilter::All);
        // Every kind a filter shows is one the whole history shows.
        for f in HistoryFilter::ALL {
            assert!(
                f.kinds()
                    .iter()
                    .all(|k| HistoryFilter::All.kinds().contains(k))
            );
        }
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_none() {
        let c = HistoryCursor {
            at: 1_780_272_000,
            seq: 42,
        };
        assert_eq!(HistoryCursor::parse(&c.format()), Some(c));
        for bad in ["", "12", "a.b", "1.2.3", ".5"] {
            assert_eq!(HistoryCursor::parse(bad), None, "{bad}");
        }
    }
}
