//! What the payments server functions return and the pages list (see `api::payments`).

use crate::domain::payments::{PaymentKind, PaymentStatus, RefundState};
use serde::{Deserialize, Serialize};

/// A payment as the Subscription page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentLine {
    /// The payment's own number (its receipt is `/payments/{id}`).
    pub id: i64,
    pub kind: PaymentKind,
    pub credits: u64,
    pub amount_cents: u64,
    pub currency: String,
    pub status: PaymentStatus,
    pub created_at: i64,
    /// Paid through the app's own test checkout, not Stripe.
    pub test_mode: bool,
    /// Given back (or being given back) because it bought nothing.
    pub refund: Option<RefundState>,
    /// The pack's or the plan's id.
    pub product: String,
    /// The plan's name, for a plan payment whose plan the catalogue still sells.
    pub plan_name: Option<String>,
}

impl PaymentLine {
    /// Money received (refunded or not) has a receipt; a payment still processing, or one
    /// that failed, has none.
    pub fn has_receipt(&self) -> bool {
        self.status == PaymentStatus::Paid
    }
}

/// The app's own receipt for a payment (the local checkout's; Stripe's payments link to
/// Stripe's receipt from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReceiptView {
    pub line: PaymentLine,
    /// Its receipt number ([`crate::domain::payments::receipt_number`]).
    pub number: String,
    /// Who it was sold to.
    pub email: String,
    /// Who sold it (the support address the product names).
    pub seller_email: String,
    /// Stripe could not say where its receipt is just now (`?stripe=unavailable`).
    pub stripe: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_money_received_has_a_receipt() {
        let line = |status| PaymentLine {
            id: 7,
            kind: PaymentKind::Topup,
            credits: 500,
            amount_cents: 900,
            currency: "usd".into(),
            status,
            created_at: 0,
            test_mode: true,
            refund: None,
            product: "small".into(),
            plan_name: None,
        };
        assert!(line(PaymentStatus::Paid).has_receipt());
        for status in [
            PaymentStatus::Open,
            PaymentStatus::Processing,
            PaymentStatus::Failed,
        ] {
            assert!(!line(status).has_receipt(), "{status:?}");
        }
    }
}
