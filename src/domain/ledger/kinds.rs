//! The ledger's kinds and states, each stored (and sent) by one name: [`GrantKind`],
//! [`JournalKind`], [`HoldStatus`], and support's [`Direction`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    Subscription,
    Adjustment,
    Topup,
}

impl GrantKind {
    /// Position in the draw order: lower is spent first (P5).
    pub(crate) fn draw_rank(self) -> u8 {
        match self {
            GrantKind::Subscription => 0,
            GrantKind::Adjustment => 1,
            GrantKind::Topup => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::Subscription => "subscription",
            GrantKind::Adjustment => "adjustment",
            GrantKind::Topup => "topup",
        }
    }

    pub fn parse(s: &str) -> Option<GrantKind> {
        match s {
            "subscription" => Some(GrantKind::Subscription),
            "adjustment" => Some(GrantKind::Adjustment),
            "topup" => Some(GrantKind::Topup),
            _ => None,
        }
    }
}

/// What a journal entry records. Stored as [`JournalKind::as_str`] (the PostgreSQL
/// functions write `reserve`, `capture` and `expire` by those names too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalKind {
    /// Credits added: a plan period, an upgrade, a top-up, support's grant.
    Grant,
    /// Credits taken by support.
    Debit,
    /// Credits that reached their expiry unspent (P3).
    Expire,
    /// Credits held for a generation (the balance is unchanged).
    Reserve,
    /// A generation's real cost charged, the rest of its hold freed (P2).
    Capture,
    /// A hold freed whole.
    Release,
    /// A hold left open past its expiry, freed by the sweep.
    HoldExpired,
    /// A failed part credited back.
    Refund,
}

impl JournalKind {
    pub const ALL: [JournalKind; 8] = [
        JournalKind::Grant,
        JournalKind::Debit,
        JournalKind::Expire,
        JournalKind::Reserve,
        JournalKind::Capture,
        JournalKind::Release,
        JournalKind::HoldExpired,
        JournalKind::Refund,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JournalKind::Grant => "grant",
            JournalKind::Debit => "debit",
            JournalKind::Expire => "expire",
            JournalKind::Reserve => "reserve",
            JournalKind::Capture => "capture",
            JournalKind::Release => "release",
            JournalKind::HoldExpired => "hold_expired",
            JournalKind::Refund => "refund",
        }
    }

    pub fn parse(s: &str) -> Option<JournalKind> {
        JournalKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl PartialEq<&str> for JournalKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Where a hold stands. Stored as [`HoldStatus::as_str`] (`ledger_capture` writes
/// `captured` by that name too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Reserved; the job runs.
    Held,
    /// Its real cost charged, the rest freed.
    Captured,
    /// Freed whole by the service.
    Released,
    /// Left open past its expiry and freed by the sweep.
    Expired,
}

impl HoldStatus {
    pub const ALL: [HoldStatus; 4] = [
        HoldStatus::Held,
        HoldStatus::Captured,
        HoldStatus::Released,
        HoldStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Held => "held",
            HoldStatus::Captured => "captured",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<HoldStatus> {
        HoldStatus::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

impl std::fmt::Display for HoldStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way support's manual adjustment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Credits added (an adjustment grant).
    Grant,
    /// Credits taken.
    Debit,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Grant => "grant",
            Direction::Debit => "debit",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        [Direction::Grant, Direction::Debit]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_statuses_round_trip() {
        for h in HoldStatus::ALL {
            assert_eq!(HoldStatus::parse(h.as_str()), Some(h));
            assert_eq!(h.to_string(), h.as_str());
        }
        assert_eq!(HoldStatus::parse("settled"), None);
    }

    #[test]
    fn directions_round_trip() {
        for d in [Direction::Grant, Direction::Debit] {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
            assert_eq!(d.to_string(), d.as_str());
        }
        assert_eq!(Direction::parse("take"), None);
    }

    #[test]
    fn journal_kinds_round_trip_and_serialise_by_their_stored_names() {
        for k in JournalKind::ALL {
            assert_eq!(JournalKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::String(k.as_str().to_owned())
            );
            assert!(k == k.as_str());
        }
        assert_eq!(JournalKind::parse("adjust"), None);
    }
}
