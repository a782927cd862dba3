//! Webhook events (and Stripe's direct answers) applied: each verified event is claimed by
//! its id and its effect written in the same transaction, so each event, and each grant
//! it makes, happens exactly once. The order of steps is here; the rules are
//! `domain::payments` and `domain::subscription`; storage runs the statements.

use crate::domain::catalog::{Catalog, PlanId};
use crate::domain::credits::Credits;
use crate::domain::ledger::{GrantKind, UnixSeconds};
use crate::domain::payments::{
    self as rules, CheckoutEvent, PaymentKind, PaymentStatus, PlanCheckoutStart, RefundState,
};
use crate::domain::subscription::{Command, StripeFact};
use crate::server::db::ledger::{self, NewGrant, Tx};
use crate::server::db::payments::{self as db_payments, NewCheckout, Payment, PaymentsError};
use crate::server::db::plan_checkouts::{self, PlanCheckoutNotice};
use crate::server::db::subscriptions::{self as subs, SubscriptionError};
use crate::server::db::{Backend, Db};
use crate::server::services::lifecycle::{self, Billing, StripeInvoice};

/// What became of a webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// This event id was applied before; nothing changed.
    Duplicate,
    /// Recorded; it moved the payment to `status`, granting `granted` credits.
    Checkout {
        status: PaymentStatus,
        granted: Option<Credits>,
    },
    /// Recorded; a plan payment that cleared while the account already had a live plan:
    /// it bought nothing and is refunded.
    Refunded,
    /// Recorded; a second Stripe subscription's paid invoice: bought nothing, and its
    /// refund is due (the scheduler makes it).
    RefundDue,
    /// Recorded; it names a checkout this app did not start (or another account's).
    UnknownCheckout,
    /// Recorded; a plan's Stripe Checkout Session, now in this state (none: nothing on
    /// record, such as a session that expired unpaid).
    PlanCheckout {
        status: Option<rules::PlanCheckoutStatus>,
    },
    /// Recorded; it brought the customer's subscription in step with Stripe.
    Subscription { granted: Option<u64> },
    /// Recorded; it names a Stripe customer this app does not know.
    UnknownCustomer,
    /// Recorded; an automatic top-up's charge settled: paid (its credits granted), or
    /// failed (`stopped`: no more until the customer acts).
    AutoTopUp(crate::server::services::auto_top_up::Settled),
    /// Recorded; a top-up's card kept for automatic top-ups, or not (see the outcome).
    CardSaved(crate::server::services::auto_top_up::CardSaved),
    /// Recorded; the app does not use this type of event.
    Ignored,
}

/// What an event asks of the app.
pub enum EventEffect<'a> {
    None,
    /// An automatic top-up's PaymentIntent succeeded or failed; `attempts`: failed charges
    /// in a row that stop them (configured).
    AutoTopUp {
        pi: &'a crate::server::payments::events::PaymentIntentObject,
        attempts: u32,
    },
    /// A top-up's PaymentIntent that set its card up for automatic top-ups: `label` is how
    /// to show the card, `defaults` what an account that set nothing gets beside it.
    SaveCard {
        pi: &'a crate::server::payments::events::PaymentIntentObject,
        label: Option<&'a str>,
        defaults: crate::domain::auto_top_up::AutoTopUpSettings,
    },
    Checkout(CheckoutNotice<'a>),
    Subscription {
        catalog: &'a Catalog,
        customer: &'a str,
        fact: StripeFact,
        invoice: Option<StripeInvoice<'a>>,
        /// When Stripe made this state (the event's time), to ignore older ones.
        at: Option<UnixSeconds>,
    },
}

impl Applied {
    pub fn outcome(&self) -> &'static str {
        match self {
            Applied::Duplicate => "duplicate",
            Applied::Checkout {
                granted: Some(_), ..
            } => "granted",
            Applied::Checkout { .. } => "status",
            Applied::Refunded => "refunded",
            Applied::RefundDue => "refund_due",
            Applied::UnknownCheckout => "unknown_checkout",
            Applied::PlanCheckout { .. } => "plan_checkout",
            Applied::Subscription {
                granted: Some(_), ..
            } => "granted",
            Applied::Subscription { .. } => "subscription",
            Applied::UnknownCustomer => "unknown_customer",
            Applied::AutoTopUp(settled) => settled.outcome(),
            Applied::CardSaved(saved) => saved.outcome(),
            Applied::Ignored => "ignored",
        }
    }
}

/// A checkout event as the webhook read it.
#[derive(Debug, Clone)]
pub struct CheckoutNotice<'a> {
    /// The plans a subscription checkout may start.
    pub catalog: &'a Catalog,
    pub session_id: &'a str,
    pub event: CheckoutEvent,
    /// The account named in the session's metadata, if any; must match the payment's.
    pub account_id: Option<i64>,
    /// A plan's Stripe Checkout Session (the app records those only once they complete).
    pub plan: Option<PlanCheckoutNotice<'a>>,
}

/// Applies one webhook event exactly once: records its id and its effect together.
pub async fn apply_event(
    db: &Db,
    event_id: &str,
    event_type: &str,
    effect: EventEffect<'_>,
    now: UnixSeconds,
) -> Result<Applied, PaymentsError> {
    let mut tx = db.begin_write().await?;
    if !db_payments::claim_event(&mut tx, event_id, event_type, now).await? {
        return Ok(Applied::Duplicate);
    }
    let applied = apply_effect_in(&mut tx, db.backend(), effect, now).await?;
    db_payments::set_outcome(&mut tx, event_id, applied.outcome()).await?;
    tx.commit().await?;
    Ok(applied)
}

/// Applies what Stripe said outside a webhook: the object an API call returned. The
/// effect is the same as its event's, which, when it comes, then changes nothing.
pub async fn apply_direct(
    db: &Db,
    effect: EventEffect<'_>,
    now: UnixSeconds,
) -> Result<Applied, PaymentsError> {
    let mut tx = db.begin_write().await?;
    let applied = apply_effect_in(&mut tx, db.backend(), effect, now).await?;
    tx.commit().await?;
    Ok(applied)
}

async fn apply_effect_in(
    tx: &mut Tx,
    backend: Backend,
    effect: EventEffect<'_>,
    now: UnixSeconds,
) -> Result<Applied, PaymentsError> {
    Ok(match effect {
        EventEffect::None => Applied::Ignored,
        EventEffect::AutoTopUp { pi, attempts } => Applied::AutoTopUp(
            crate::server::services::auto_top_up::settle_in(tx, backend, pi, attempts, now).await?,
        ),
        EventEffect::SaveCard {
            pi,
            label,
            defaults,
        } => Applied::CardSaved(
            crate::server::services::auto_top_up::save_card_in(tx, pi, label, &defaults, now)
                .await?,
        ),
        EventEffect::Checkout(notice) => apply_checkout(tx, backend, notice, now).await?,
        EventEffect::Subscription {
            catalog,
            customer,
            fact,
            invoice,
            at,
        } => match subs::account_of_customer(tx, customer).await? {
            None => Applied::UnknownCustomer,
            Some(account) => {
                let applied = lifecycle::apply_stripe_in(
                    tx, backend, catalog, account, &fact, invoice, at, now,
                )
                .await?;
                if applied.refund_due {
                    Applied::RefundDue
                } else {
                    Applied::Subscription {
                        granted: applied.granted,
                    }
                }
            }
        },
    })
}

async fn apply_checkout(
    tx: &mut Tx,
    backend: Backend,
    notice: CheckoutNotice<'_>,
    now: UnixSeconds,
) -> Result<Applied, PaymentsError> {
    // The account row first, as every change to an account does; a payment only changes
    // here, under that lock, so its row needs no lock of its own.
    let owner = db_payments::owner_of(tx, notice.session_id).await?;
    let Some(owner) = owner else {
        return match (notice.plan.as_ref(), notice.account_id) {
            (Some(plan), Some(account)) => {
                plan_checkout(tx, backend, account, &notice, plan, now).await
            }
            _ => Ok(Applied::UnknownCheckout),
        };
    };
    ledger::lock_account(tx, backend, owner).await?;
    let payment = db_payments::by_external_id_in(tx, notice.session_id)
        .await?
        .ok_or_else(|| PaymentsError::Corrupt(format!("checkout {}", notice.session_id)))?;
    if notice.account_id.is_some_and(|a| a != payment.account_id) {
        return Ok(Applied::UnknownCheckout);
    }
    let t = rules::apply(payment.status, notice.event);
    let mut granted = None;
    let mut refunded = false;
    let mut grant_id = payment.grant_id;
    if !t.grant || payment.grant_id.is_some() {
        // Nothing to grant, or granted already.
    } else if payment.kind == PaymentKind::Subscription {
        // A plan bought through the local checkout: paid, so the plan starts now.
        match start_plan(tx, backend, notice.catalog, &payment, now).await? {
            PlanStart::Started(id) => {
                grant_id = id;
                granted = id.map(|_| payment.credits);
            }
            PlanStart::Refunded => refunded = true,
        }
    } else {
        let receipt = ledger::grant_in(
            tx,
            backend,
            payment.account_id,
            NewGrant {
                kind: GrantKind::Topup,
                amount: payment.credits,
                expires_at: None,
                reason: format!("Top-up bought (checkout {})", payment.external_id),
                actor: None,
            },
            None,
            now,
        )
        .await?;
        granted = Some(payment.credits);
        grant_id = Some(receipt.grant_id);
    }
    if t.status != payment.status || grant_id != payment.grant_id {
        db_payments::set_status(tx, payment.id, t.status, grant_id, now).await?;
    }
    if refunded {
        return Ok(Applied::Refunded);
    }
    Ok(Applied::Checkout {
        status: t.status,
        granted,
    })
}

/// A plan's Stripe Checkout Session: Stripe makes the subscription and its first invoice's
/// payment starts the plan; until then the session is a plan payment processing.
async fn plan_checkout(
    tx: &mut Tx,
    backend: Backend,
    account: i64,
    notice: &CheckoutNotice<'_>,
    plan: &PlanCheckoutNotice<'_>,
    now: UnixSeconds,
) -> Result<Applied, PaymentsError> {
    // The account the metadata names must be the session's customer's: a session made
    // outside the app (a payment link) names whatever its buyer typed.
    if !subs::is_customer_of(tx, account, plan.customer).await? {
        return Ok(Applied::UnknownCheckout);
    }
    ledger::lock_account(tx, backend, account).await?;
    let current = plan_checkouts::status_in(tx, account, notice.session_id).await?;
    // Stripe's news of the subscription came first: its payment has settled, and nothing
    // later would say so.
    let started = match plan.subscription {
        Some(sub) => plan_checkouts::subscription_known(tx, account, sub).await?,
        None => false,
    };
    let status = match rules::plan_checkout_after(current, notice.event, started) {
        None => current,
        Some(next) => {
            if current.is_none() {
                plan_checkouts::insert(tx, account, notice.session_id, plan, next, now).await?;
            } else {
                plan_checkouts::set_status(
                    tx,
                    account,
                    notice.session_id,
                    plan.subscription,
                    next,
                    now,
                )
                .await?;
            }
            Some(next)
        }
    };
    Ok(Applied::PlanCheckout { status })
}

enum PlanStart {
    /// The plan started; its period grant's id.
    Started(Option<i64>),
    Refunded,
}

/// Starts the plan a paid subscription checkout was for.
/// When the plan cannot start (it cleared while another plan is live: a second checkout,
/// or a delayed payment that settled after the customer subscribed another way), the
/// payment bought nothing: it is refunded in the same transaction (the local checkout
/// moves no money, so the refund is done at once). Nothing is granted twice.
async fn start_plan(
    tx: &mut Tx,
    backend: Backend,
    catalog: &Catalog,
    payment: &Payment,
    now: UnixSeconds,
) -> Result<PlanStart, PaymentsError> {
    let plan = PlanId::parse(&payment.product)
        .map_err(|_| PaymentsError::Corrupt(format!("plan {}", payment.product)))?;
    let cmd = Command::Subscribe(plan);
    match lifecycle::transition_in(
        tx,
        backend,
        catalog,
        Billing::Prepaid,
        payment.account_id,
        &cmd,
        None,
        now,
    )
    .await
    {
        Ok(o) => Ok(PlanStart::Started(match o.grant {
            Some(g) => subs::period_grant_id(tx, payment.account_id, g.period_start).await?,
            None => None,
        })),
        Err(SubscriptionError::Rule(e)) => {
            tracing::warn!(account = payment.account_id, checkout = %payment.external_id, error = %e,
                "a paid plan checkout could not start the plan; refunded");
            db_payments::record_refund(
                tx,
                payment.id,
                RefundState::Done,
                &format!("It cleared while another plan was already active ({e})"),
                None,
                now,
            )
            .await?;
            Ok(PlanStart::Refunded)
        }
        Err(e) => Err(e.into()),
    }
}

/// What starting a plan checkout found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanCheckout {
    /// A new checkout; any other open plan checkout of the account was closed with it, so
    /// only one can ever be paid.
    Started(Payment),
    /// A checkout for the same plan is open already: the customer goes back to it.
    Open(Payment),
    /// A plan payment is processing: no other may start until it settles.
    Processing(Payment),
}

/// Starts a plan checkout in one transaction, under the account's lock, as
/// [`rules::plan_checkout_start`] decides.
pub async fn start_plan_checkout(
    db: &Db,
    c: NewCheckout<'_>,
    now: UnixSeconds,
) -> Result<PlanCheckout, PaymentsError> {
    let mut tx = db.begin_write().await?;
    ledger::lock_account(&mut tx, db.backend(), c.account_id).await?;
    let unsettled = db_payments::unsettled_plan_payments(&mut tx, c.account_id).await?;
    let decided = rules::plan_checkout_start(
        unsettled.iter().map(|p| (p.status, p.product.as_str())),
        c.product,
    );
    let found = match decided {
        PlanCheckoutStart::Processing(i) => PlanCheckout::Processing(unsettled[i].clone()),
        PlanCheckoutStart::Open(i) => PlanCheckout::Open(unsettled[i].clone()),
        PlanCheckoutStart::New => {
            for p in &unsettled {
                let t = rules::apply(p.status, CheckoutEvent::Canceled);
                db_payments::set_status(&mut tx, p.id, t.status, p.grant_id, now).await?;
            }
            PlanCheckout::Started(db_payments::insert_new_checkout(&mut tx, c, now).await?)
        }
    };
    tx.commit().await?;
    Ok(found)
}
