//! Credits: the prepaid unit every AI operation is paid in. Always whole numbers.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A non-negative whole number of credits. Arithmetic is checked: an overflow or a
/// subtraction below zero is an error, never a wrap-around.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Credits(u64);

/// The largest amount the ledger accepts; it fits a signed 64-bit database column.
pub const MAX_CREDITS: u64 = i64::MAX as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CreditsError {
    #[error("the amount is larger than the ledger can hold")]
    Overflow,
    #[error("the amount would go below zero")]
    Underflow,
}

impl Credits {
    pub const ZERO: Credits = Credits(0);
    pub const MAX: Credits = Credits(MAX_CREDITS);

    pub fn new(amount: u64) -> Result<Self, CreditsError> {
        if amount > MAX_CREDITS {
            return Err(CreditsError::Overflow);
        }
        Ok(Credits(amount))
    }

    pub fn get(self) -> u64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Credits) -> Result<Credits, CreditsError> {
        self.0
            .checked_add(other.0)
            .filter(|sum| *sum <= MAX_CREDITS)
            .map(Credits)
            .ok_or(CreditsError::Overflow)
    }

    pub fn checked_sub(self, other: Credits) -> Result<Credits, CreditsError> {
        self.0
            .checked_sub(other.0)
            .map(Credits)
            .ok_or(CreditsError::Underflow)
    }

    pub fn checked_mul(self, factor: u64) -> Result<Credits, CreditsError> {
        self.0
            .checked_mul(factor)
            .filter(|product| *product <= MAX_CREDITS)
            .map(Credits)
            .ok_or(CreditsError::Overflow)
    }
}

impl fmt::Display for Credits {
    /// Groups thousands with commas, as the product shows numbers: `12,500`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&group_thousands(self.0))
    }
}

/// `1234567` -> `"1,234,567"`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_past_the_ledger_limit_is_an_overflow_not_a_wrap() {
        let near = Credits::new(MAX_CREDITS).unwrap();
        assert_eq!(near.checked_add(Credits(1)), Err(CreditsError::Overflow));
        assert_eq!(Credits::new(MAX_CREDITS + 1), Err(CreditsError::Overflow));
    }

    #[test]
    fn subtracting_below_zero_is_an_underflow() {
        assert_eq!(
            Credits(3).checked_sub(Credits(4)),
            Err(CreditsError::Underflow)
        );
        assert_eq!(Credits(4).checked_sub(Credits(4)), Ok(Credits::ZERO));
    }

    #[test]
    fn multiplying_is_checked() {
        assert_eq!(Credits(3).checked_mul(4), Ok(Credits(12)));
        assert_eq!(
            Credits(MAX_CREDITS).checked_mul(2),
            Err(CreditsError::Overflow)
        );
    }

    #[test]
    fn amounts_display_with_thousands_separators() {
        assert_eq!(Credits(0).to_string(), "0");
        assert_eq!(Credits(999).to_string(), "999");
        assert_eq!(Credits(1000).to_string(), "1,000");
        assert_eq!(Credits(1_234_567).to_string(), "1,234,567");
    }
}
