//! Payments: what a checkout's status becomes after each thing Stripe (or the local
//! checkout) tells us, and when its credits are granted. Pure, so the order and number
//! of webhook deliveries can be reasoned about and tested without a database.

use serde::{Deserialize, Serialize};

/// Where a payment stands. `Paid` is final: nothing said later undoes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// The checkout started; the customer has not paid (yet).
    Open,
    /// The customer completed the checkout with a method that settles later.
    Processing,
    Paid,
    Failed,
    Expired,
    /// The customer left the local checkout.
    Canceled,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::Open,
        PaymentStatus::Processing,
        PaymentStatus::Paid,
        PaymentStatus::Failed,
        PaymentStatus::Expired,
        PaymentStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Open => "open",
            PaymentStatus::Processing => "processing",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// How the customer sees it.
    pub fn label(self) -> &'static str {
        match self {
            PaymentStatus::Open => "Not paid",
            PaymentStatus::Processing => "Processing",
            PaymentStatus::Paid => "Paid",
            PaymentStatus::Failed => "Failed",
            PaymentStatus::Expired => "Expired",
            PaymentStatus::Canceled => "Cancelled",
        }
    }

    /// Nothing more will happen to it.
    pub fn is_settled(self) -> bool {
        !matches!(self, PaymentStatus::Open | PaymentStatus::Processing)
    }
}

/// What a payment buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// A top-up pack: credits that never expire.
    Topup,
    /// A plan: its first period through a checkout, or a period's invoice.
    Subscription,
}

impl PaymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentKind::Topup => "topup",
            PaymentKind::Subscription => "subscription",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentKind> {
        [PaymentKind::Topup, PaymentKind::Subscription]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Who took a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Stripe,
    /// The app's own test checkout (demo mode, no Stripe keys): no money moves.
    Local,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        [Provider::Stripe, Provider::Local]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// What a webhook event (or the local checkout) says about a checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutEvent {
    /// `checkout.session.completed` with `payment_status` `paid` (or `no_payment_required`).
    CompletedPaid,
    /// `checkout.session.completed` with `payment_status` `unpaid`: a delayed method.
    CompletedUnpaid,
    /// `checkout.session.async_payment_succeeded`.
    AsyncSucceeded,
    /// `checkout.session.async_payment_failed`.
    AsyncFailed,
    /// `checkout.session.expired`.
    Expired,
    /// The customer cancelled the local checkout.
    Canceled,
}

/// The status after `event`, and whether to grant the credits now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub status: PaymentStatus,
    pub grant: bool,
}

/// Credits are granted exactly when a payment first becomes `Paid`; a paid payment never
/// changes again, so duplicates and late, out-of-order events grant nothing more. Money
/// Stripe says it received is credited whatever was said before it.
pub fn apply(current: PaymentStatus, event: CheckoutEvent) -> Transition {
    use CheckoutEvent as E;
    use PaymentStatus as S;

    let status = match (current, event) {
        (S::Paid, _) => S::Paid,
        (_, E::CompletedPaid | E::AsyncSucceeded) => S::Paid,
        (S::Open, E::CompletedUnpaid) => S::Processing,
        (S::Open | S::Processing, E::AsyncFailed) => S::Failed,
        (S::Open | S::Processing, E::Expired) => S::Expired,
        (S::Open, E::Canceled) => S::Canceled,
        (other, _) => other,
    };
    Transition {
        status,
        grant: status == S::Paid && current != S::Paid,
    }
}

/// What a request to start a plan checkout finds, given the account's plan payments that
/// have not settled (open or processing), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanCheckoutStart {
    /// A plan payment is processing (the `usize`th): no other may start until it settles,
    /// or one of them could be paid for nothing.
    Processing(usize),
    /// The `usize`th is an open checkout for the same plan: the customer goes back to it.
    Open(usize),
    /// A new checkout. Every unsettled one listed is then an open checkout for another
    /// plan: all are closed first, as the customer's "Cancel" in them would, so only one
    /// can ever be paid.
    New,
}

/// Decides [`PlanCheckoutStart`] for `product` from the unsettled plan payments'
/// (status, product), newest first.
pub fn plan_checkout_start<'a>(
    unsettled: impl IntoIterator<Item = (PaymentStatus, &'a str)>,
    product: &str,
) -> PlanCheckoutStart {
    let unsettled: Vec<_> = unsettled.into_iter().collect();
    if let Some(i) = unsettled
        .iter()
        .position(|(s, _)| *s == PaymentStatus::Processing)
    {
        return PlanCheckoutStart::Processing(i);
    }
    if let Some(i) = unsettled.iter().position(|(_, p)| *p == product) {
        return PlanCheckoutStart::Open(i);
    }
    PlanCheckoutStart::New
}

/// A payment that bought nothing and is (being) given back: a plan payment that cleared
/// while the account already had a live plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Recorded; the payment provider has not been asked yet (the scheduler does it).
    Due,
    Done,
}

impl RefundState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Due => "due",
            RefundState::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<RefundState> {
        [RefundState::Due, RefundState::Done]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// How the customer sees it, in place of the payment's status.
    pub fn label(self) -> &'static str {
        match self {
            RefundState::Due => "Refund on its way",
            RefundState::Done => "Refunded",
        }
    }
}

/// Where a plan bought through Stripe Checkout stands before its plan starts. Stripe's
/// Checkout makes the subscription; only its first invoice's payment starts the plan (and
/// grants its credits). Meanwhile the page says the payment is processing and no second
/// plan checkout can start. Not a payment: the invoice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanCheckoutStatus {
    /// Completed (a bank debit completes unpaid); its first invoice is not paid yet.
    Processing,
    /// Its first invoice was paid: the plan's own records take over.
    Settled,
    /// The payment failed, or the session expired: nothing was bought.
    Failed,
}

impl PlanCheckoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanCheckoutStatus::Processing => "processing",
            PlanCheckoutStatus::Settled => "settled",
            PlanCheckoutStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<PlanCheckoutStatus> {
        [
            PlanCheckoutStatus::Processing,
            PlanCheckoutStatus::Settled,
            PlanCheckoutStatus::Failed,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// What a plan checkout's record becomes after a Checkout event (`None`: nothing to write).
/// `current` is what is on record (`None`: nothing yet); `started` says Stripe's news of the
/// subscription the session made came first: the account follows it (live or ended since),
/// or its invoice was a second subscription's and is refunded. Settled and failed are final, so late and repeated events change nothing.
/// A session that expires without completing was never anything to show.
pub fn plan_checkout_after(
    current: Option<PlanCheckoutStatus>,
    event: CheckoutEvent,
    started: bool,
) -> Option<PlanCheckoutStatus> {
    use CheckoutEvent as E;
    use PlanCheckoutStatus as P;
    let next = match (current, event) {
        (Some(P::Settled | P::Failed), _) => return None,
        (None, E::Expired | E::Canceled) => return None,
        (_, E::AsyncFailed | E::Expired | E::Canceled) => P::Failed,
        // Paid or not, the plan starts with its invoice's payment, never with the session.
        (_, E::CompletedPaid | E::CompletedUnpaid | E::AsyncSucceeded) if started => P::Settled,
        (_, E::CompletedPaid | E::CompletedUnpaid | E::AsyncSucceeded) => P::Processing,
    };
    (current != Some(next)).then_some(next)
}

/// What news of the subscription a plan checkout made does to a checkout still
/// processing: its first invoice paid settles it (the plan starts with that invoice, or
/// the payment is refunded if another plan was live); that invoice failing, or the
/// subscription ending unpaid, fails it. `invoice_paid` is the invoice the news came with,
/// if any. `None`: it stays as it is.
pub fn plan_checkout_after_stripe(
    fact: &crate::domain::subscription::StripeFact,
    invoice_paid: Option<bool>,
) -> Option<PlanCheckoutStatus> {
    use crate::domain::subscription::StripeFact;
    match (fact, invoice_paid) {
        (_, Some(true)) => Some(PlanCheckoutStatus::Settled),
        (_, Some(false)) | (StripeFact::PaymentFailed { .. }, None) => {
            Some(PlanCheckoutStatus::Failed)
        }
        (StripeFact::State { status, .. }, None) if status.has_ended() => {
            Some(PlanCheckoutStatus::Failed)
        }
        _ => None,
    }
}

/// How many seconds a page showing a payment still under way waits before it looks again,
/// once the payment has been under way for `age` seconds: a few at first (a card, the local
/// checkout's test debit), then a tenth of the time it has taken, up to five minutes (a bank
/// debit takes days, and a tab left open should not reload every few seconds for them).
pub fn recheck_after(age: i64) -> u32 {
    u32::try_from((age / 10).clamp(3, 300)).unwrap_or(300)
}

/// Where a customer goes back to after a checkout, if `path` is fit for it: a path on this
/// site (never another site's address, so a crafted link cannot send a customer away from
/// a payment), short, printable.
pub fn return_path(path: &str) -> Option<&str> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 300
        && !path.contains('\\')
        && path.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(path)
}

/// A payment's receipt number, as the receipt and support say it: `P-000042`.
pub fn receipt_number(id: i64) -> String {
    format!("P-{id:06}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckoutEvent as E;
    use PaymentStatus as S;

    #[test]
    fn kinds_and_providers_round_trip() {
        for k in [PaymentKind::Topup, PaymentKind::Subscription] {
            assert_eq!(PaymentKind::parse(k.as_str()), Some(k));
        }
        for p in [Provider::Stripe, Provider::Local] {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
        }
        assert_eq!(PaymentKind::parse("plan"), None);
        assert_eq!(Provider::parse("paypal"), None);
    }

    #[test]
    fn a_payment_under_way_is_checked_often_at_first_then_less() {
        assert_eq!(recheck_after(0), 3);
        assert_eq!(recheck_after(-5), 3);
        assert_eq!(recheck_after(60), 6);
        assert_eq!(recheck_after(3 * 86_400), 300);
    }

    #[test]
    fn receipt_numbers_have_six_digits() {
        assert_eq!(receipt_number(42), "P-000042");
    }

    #[test]
    fn only_a_path_on_this_site_is_a_way_back() {
        for ok in ["/subscription?op=voice_generation&qty=30#try", "/history"] {
            assert_eq!(return_path(ok), Some(ok));
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "subscription",
            "/a b",
            "/tab\there",
            "",
        ] {
            assert_eq!(return_path(bad), None, "{bad}");
        }
        assert_eq!(return_path(&format!("/{}", "a".repeat(300))), None);
    }

    const EVENTS: [CheckoutEvent; 6] = [
        E::CompletedPaid,
        E::CompletedUnpaid,
        E::AsyncSucceeded,
        E::AsyncFailed,
        E::Expired,
        E::Canceled,
    ];

    #[test]
    fn refund_states_round_trip() {
        for r in [RefundState::Due, RefundState::Done] {
            assert_eq!(RefundState::parse(r.as_str()), Some(r));
        }
        assert_eq!(RefundState::parse("paid"), None);
    }

    #[test]
    fn statuses_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        assert_eq!(S::parse("refunded"), None);
    }

    #[test]
    fn a_paid_checkout_grants_once() {
        assert_eq!(
            apply(S::Open, E::CompletedPaid),
            Transition {
                status: S::Paid,
                grant: true
            }
        );
        for e in EVENTS {
            assert_eq!(
                apply(S::Paid, e),
                Transition {
                    status: S::Paid,
                    grant: false
                }
            );
        }
    }

    #[test]
    fn a_delayed_payment_processes_then_grants_on_success() {
        let t = apply(S::Open, E::CompletedUnpaid);
        assert_eq!((t.status, t.grant), (S::Processing, false));
        let t = apply(t.status, E::AsyncSucceeded);
        assert_eq!((t.status, t.grant), (S::Paid, true));
        // The late "completed, unpaid" after the success changes nothing.
        assert_eq!(apply(t.status, E::CompletedUnpaid).status, S::Paid);
        assert_eq!(apply(S::Processing, E::AsyncFailed).status, S::Failed);
    }

    #[test]
    fn money_received_is_credited_whatever_came_first() {
        for first in S::ALL {
            let t = apply(first, E::AsyncSucceeded);
            assert_eq!(t.status, S::Paid);
            assert_eq!(t.grant, first != S::Paid);
        }
    }

    /// Every order of every event list of length up to 4: at most one grant, and exactly
    /// one when a success is among them.
    #[test]
    fn any_delivery_order_grants_at_most_once() {
        fn walk(status: S, grants: u32, depth: u32, saw_success: bool) {
            if saw_success {
                assert_eq!(status, S::Paid);
                assert_eq!(grants, 1);
            } else {
                assert_eq!(grants, 0);
            }
            if depth == 4 {
                return;
            }
            for e in EVENTS {
                let t = apply(status, e);
                let success = matches!(e, E::CompletedPaid | E::AsyncSucceeded);
                walk(
                    t.status,
                    grants + u32::from(t.grant),
                    depth + 1,
                    saw_success || success,
                );
            }
        }
        walk(S::Open, 0, 0, false);
    }

    #[test]
    fn a_stripe_plan_checkout_processes_until_its_invoice_and_then_never_changes() {
        use PlanCheckoutStatus as P;
        for s in [P::Processing, P::Settled, P::Failed] {
            assert_eq!(P::parse(s.as_str()), Some(s));
        }
        // A bank debit: completed unpaid, processing; its success still waits for the
        // invoice (which settles it), its failure ends it.
        assert_eq!(
            plan_checkout_after(None, E::CompletedUnpaid, false),
            Some(P::Processing)
        );
        assert_eq!(
            plan_checkout_after(Some(P::Processing), E::AsyncSucceeded, false),
            None
        );
        assert_eq!(
            plan_checkout_after(Some(P::Processing), E::AsyncFailed, false),
            Some(P::Failed)
        );
        // The invoice's event came first: the plan has started, nothing to show.
        assert_eq!(
            plan_checkout_after(None, E::CompletedPaid, true),
            Some(P::Settled)
        );
        // The failure came first: a late "completed" does not bring it back.
        assert_eq!(
            plan_checkout_after(None, E::AsyncFailed, false),
            Some(P::Failed)
        );
        for e in EVENTS {
            for started in [false, true] {
                assert_eq!(plan_checkout_after(Some(P::Failed), e, started), None);
                assert_eq!(plan_checkout_after(Some(P::Settled), e, started), None);
            }
        }
        // A session that expired unpaid was never shown.
        assert_eq!(plan_checkout_after(None, E::Expired, false), None);
    }

    #[test]
    fn cancel_and_expiry_only_end_an_open_checkout() {
        assert_eq!(apply(S::Open, E::Canceled).status, S::Canceled);
        assert_eq!(apply(S::Processing, E::Canceled).status, S::Processing);
        assert_eq!(apply(S::Open, E::Expired).status, S::Expired);
        assert_eq!(apply(S::Failed, E::Expired).status, S::Failed);
        assert!(!S::Processing.is_settled());
        assert!(S::Canceled.is_settled());
    }
    #[test]
    fn one_plan_checkout_at_a_time() {
        use PaymentStatus::{Open, Processing};
        assert_eq!(plan_checkout_start([], "creator"), PlanCheckoutStart::New);
        // The same plan: back to its checkout.
        assert_eq!(
            plan_checkout_start([(Open, "starter"), (Open, "creator")], "creator"),
            PlanCheckoutStart::Open(1)
        );
        // Another plan: the open ones are closed.
        assert_eq!(
            plan_checkout_start([(Open, "starter"), (Open, "studio")], "creator"),
            PlanCheckoutStart::New
        );
        // A payment processing wins over an open checkout, even for the same plan.
        assert_eq!(
            plan_checkout_start([(Open, "creator"), (Processing, "starter")], "creator"),
            PlanCheckoutStart::Processing(1)
        );
        // Closing is what the customer's cancel does to an open checkout.
        assert_eq!(
            apply(Open, CheckoutEvent::Canceled).status,
            PaymentStatus::Canceled
        );
    }
}
