//! Support's adjustments in words: what an adjustment or a decision on a waiting one did.

use crate::domain::credits::group_thousands;
use crate::domain::ledger::Direction;
use crate::model::support::{Adjusted, Decided};

fn verb(direction: Direction) -> &'static str {
    match direction {
        Direction::Grant => "Granted",
        Direction::Debit => "Took",
    }
}

/// What an adjustment did.
pub fn adjusted(a: &Adjusted) -> String {
    match a {
        Adjusted::Applied {
            direction,
            credits,
            balance_after,
        } => format!(
            "{} {} credits. The balance is now {}.",
            verb(*direction),
            group_thousands(*credits),
            group_thousands(*balance_after)
        ),
        Adjusted::AwaitingApproval {
            credits,
            limit,
            request_id,
        } => format!(
            "{} credits is more than one person may change alone ({}), so nothing has changed yet: request {request_id} waits for another support user's approval.",
            group_thousands(*credits),
            group_thousands(*limit),
        ),
    }
}

/// What deciding a waiting adjustment did.
pub fn decided(d: &Decided) -> String {
    match d {
        Decided::Approved {
            request_id,
            direction,
            credits,
            account_email,
            balance_after,
        } => format!(
            "Approved request {request_id}: {} {} credits for {account_email}. The balance is now {}.",
            verb(*direction),
            group_thousands(*credits),
            group_thousands(*balance_after)
        ),
        Decided::Rejected {
            request_id,
            account_email,
        } => format!("Rejected request {request_id} for {account_email}; nothing changed."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_adjustment_reads_as_what_it_did() {
        assert_eq!(
            adjusted(&Adjusted::Applied {
                direction: Direction::Grant,
                credits: 1500,
                balance_after: 2000
            }),
            "Granted 1,500 credits. The balance is now 2,000."
        );
        assert_eq!(
            adjusted(&Adjusted::Applied {
                direction: Direction::Debit,
                credits: 40,
                balance_after: 0
            }),
            "Took 40 credits. The balance is now 0."
        );
        assert_eq!(
            adjusted(&Adjusted::AwaitingApproval {
                credits: 5000,
                limit: 1000,
                request_id: 7
            }),
            "5,000 credits is more than one person may change alone (1,000), so nothing has changed yet: request 7 waits for another support user's approval."
        );
        assert_eq!(
            decided(&Decided::Approved {
                request_id: 7,
                direction: Direction::Debit,
                credits: 5000,
                account_email: "a@b.test".into(),
                balance_after: 10
            }),
            "Approved request 7: Took 5,000 credits for a@b.test. The balance is now 10."
        );
        assert_eq!(
            decided(&Decided::Rejected {
                request_id: 7,
                account_email: "a@b.test".into()
            }),
            "Rejected request 7 for a@b.test; nothing changed."
        );
    }
}
