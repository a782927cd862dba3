//! The subscription life cycle as transactions: each change locks the account row, reads
//! the subscription, asks `domain::subscription` what follows, and writes it with the
//! grant it calls for (once per period and kind), the payment that paid for it, and the
//! plan and renewal date the ledger shows, all in one transaction. Storage
//! (`db::subscriptions`, `db::payments`, `db::ledger`) only runs the statements.

use crate::domain::catalog::Catalog;
use crate::domain::credits::Credits;
use crate::domain::ledger::{GrantKind, UnixSeconds};
use crate::domain::notices::Notice;
use crate::domain::payments::RefundState;
use crate::domain::subscription::{
    self as rules, Command, LifecycleError, Outcome, StripeFact, stripe as stripe_rules,
};
use crate::server::db::ledger::{self, LedgerError, NewGrant, Tx};
use crate::server::db::payments::{self as db_payments, InvoiceRecord};
use crate::server::db::subscriptions::{self as subs, SubscriptionError};
use crate::server::db::{Backend, Db, plan_checkouts};
use crate::server::services::notices;

/// How the first period and renewals are paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    /// No Stripe: the app records each period's payment itself (test mode).
    Local,
    /// Stripe bills; its invoices are the payments.
    Stripe,
    /// No Stripe, and this period's payment is already recorded (a local checkout).
    Prepaid,
}

/// Applies `cmd` for `account` in one transaction and returns what happened.
/// `cancel_reason` is kept with a cancel.
pub async fn transition(
    db: &Db,
    catalog: &Catalog,
    billing: Billing,
    account: i64,
    cmd: &Command,
    cancel_reason: Option<&str>,
    now: UnixSeconds,
) -> Result<Outcome, SubscriptionError> {
    let mut tx = db.begin_write().await?;
    let outcome = transition_in(
        &mut tx,
        db.backend(),
        catalog,
        billing,
        account,
        cmd,
        cancel_reason,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// [`transition`] inside the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn transition_in(
    tx: &mut Tx,
    backend: Backend,
    catalog: &Catalog,
    billing: Billing,
    account: i64,
    cmd: &Command,
    cancel_reason: Option<&str>,
    now: UnixSeconds,
) -> Result<Outcome, SubscriptionError> {
    subs::lock(tx, backend, account).await?;
    let current = subs::read(tx, account).await?;
    let outcome = rules::apply(current.as_ref(), cmd, catalog, now)?;
    commit(
        tx,
        backend,
        catalog,
        billing,
        account,
        &outcome,
        cancel_reason,
        now,
    )
    .await?;
    Ok(outcome)
}

/// Runs whatever the clock says is due for `account` (renewals, the end of a cancelled
/// subscription, the end of the grace period), catching up period by period. Returns how
/// many transitions ran. Safe to run from any number of instances at once: each step
/// re-reads the subscription under the account lock.
pub async fn run_due_for(
    db: &Db,
    catalog: &Catalog,
    billing: Billing,
    account: i64,
    now: UnixSeconds,
) -> Result<u32, SubscriptionError> {
    let mut steps = 0;
    // A bound, in case the clock jumped years: the rest is picked up on the next run.
    while steps < 60 {
        let mut tx = db.begin_write().await?;
        subs::lock(&mut tx, db.backend(), account).await?;
        let Some(current) = subs::read(&mut tx, account).await? else {
            break;
        };
        let Some(cmd) = rules::due(&current, now) else {
            break;
        };
        // With Stripe, its invoices and subscription events renew and end plans; only the
        // end of the grace period is the app's own.
        if billing == Billing::Stripe && cmd != Command::Purge {
            break;
        }
        let outcome = rules::apply(Some(&current), &cmd, catalog, now)?;
        commit(
            &mut tx,
            db.backend(),
            catalog,
            billing,
            account,
            &outcome,
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        steps += 1;
    }
    Ok(steps)
}

/// A Stripe invoice, recorded as a payment.
#[derive(Debug, Clone)]
pub struct StripeInvoice<'a> {
    pub id: &'a str,
    pub amount_cents: u64,
    pub currency: &'a str,
    pub paid: bool,
    /// Stripe said just now that the subscription on record is still live: a paid invoice
    /// of another subscription is then a second subscription's, which bought nothing, and
    /// its payment is recorded with a refund due.
    pub second_subscription: bool,
}

/// What applying a Stripe fact did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StripeApplied {
    /// Credits granted now.
    pub granted: Option<u64>,
    /// The invoice was a second subscription's: its refund is now due.
    pub refund_due: bool,
}

/// Applies what Stripe says inside the caller's transaction (the webhook's, which records
/// the event id in it too): the subscription's state, its grant (once per period), and
/// the invoice as a payment.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_stripe_in(
    tx: &mut Tx,
    backend: Backend,
    catalog: &Catalog,
    account: i64,
    fact: &StripeFact,
    invoice: Option<StripeInvoice<'_>>,
    state_at: Option<UnixSeconds>,
    now: UnixSeconds,
) -> Result<StripeApplied, SubscriptionError> {
    subs::lock(tx, backend, account).await?;
    if let Some(at) = stripe_rules::state_time(fact, state_at) {
        let last = subs::state_at(tx, account).await?;
        if stripe_rules::state_is_stale(at, last) {
            return Ok(StripeApplied::default());
        }
        subs::set_state_at(tx, account, at).await?;
    }
    let paid_before = match &invoice {
        Some(inv) => {
            db_payments::by_external_id_in(tx, inv.id)
                .await
                .map_err(storage)?
                .map(|p| p.status)
                == Some(crate::domain::payments::PaymentStatus::Paid)
        }
        None => false,
    };
    // A failed attempt delivered after the invoice was paid changes nothing.
    if matches!(fact, StripeFact::PaymentFailed { .. }) && paid_before {
        return Ok(StripeApplied::default());
    }
    let current = subs::read(tx, account).await?;
    let following = subs::followed(tx, account).await?;
    let mut refund_due = false;
    let outcome = match rules::apply_stripe(current.as_ref(), following.as_deref(), fact, catalog) {
        Ok(o) => o,
        // Another subscription's paid invoice already on record as paid: a late duplicate.
        Err(LifecycleError::OtherSubscriptionLive) if paid_before => None,
        // A second subscription's paid invoice (Stripe confirmed the one on record is
        // live): recorded below as paid, with its refund due; nothing is granted.
        Err(LifecycleError::OtherSubscriptionLive)
            if invoice
                .as_ref()
                .is_some_and(|i| i.paid && i.second_subscription) =>
        {
            refund_due = true;
            None
        }
        Err(e) => {
            tracing::warn!(account, error = %e, "a Stripe event cannot be applied yet; Stripe will send it again");
            return Err(e.into());
        }
    };
    // A plan checkout waiting for this subscription's first invoice: settled or failed.
    if let Some(named) = fact.subscription()
        && let Some(next) = crate::domain::payments::plan_checkout_after_stripe(
            fact,
            invoice.as_ref().map(|i| i.paid),
        )
    {
        plan_checkouts::settle_processing(tx, account, named, next, now).await?;
    }
    if outcome.is_none()
        && let (Some(f), Some(named)) = (following.as_deref(), fact.subscription())
        && f != named
    {
        tracing::warn!(
            account,
            following = f,
            named,
            "a Stripe event names another subscription than the one this account follows; nothing changed"
        );
    }
    let mut granted = None;
    let mut grant_id = None;
    if let Some(o) = &outcome {
        granted = commit(tx, backend, catalog, Billing::Stripe, account, o, None, now).await?;
        if let Some(named) = fact.subscription() {
            subs::set_followed(tx, account, named).await?;
        }
        if let Some(g) = &o.grant {
            grant_id = subs::existing_grant(tx, account, g).await?;
        }
    }
    if let Some(inv) = invoice {
        let plan = stripe_rules::invoice_plan(fact, current.as_ref());
        let credits = stripe_rules::invoice_credits(
            outcome.as_ref().and_then(|o| o.grant.as_ref()),
            plan.as_ref(),
            catalog,
        );
        let payment = db_payments::record_stripe_invoice(
            tx,
            &InvoiceRecord {
                account_id: account,
                external_id: inv.id,
                plan: plan.as_ref().map_or("", |p| p.as_str()),
                credits,
                amount_cents: inv.amount_cents,
                currency: inv.currency,
                paid: inv.paid,
                grant_id,
            },
            now,
        )
        .await
        .map_err(storage)?;
        if refund_due {
            tracing::warn!(account, invoice = inv.id, subscription = ?fact.subscription(),
                "a second Stripe subscription was paid; its refund is due");
            db_payments::record_refund(
                tx,
                payment,
                RefundState::Due,
                "A second subscription, paid while your plan was already active",
                fact.subscription(),
                now,
            )
            .await?;
        }
        // A live plan's renewal that could not be paid: the customer is told, once per
        // invoice, in this transaction (payment failures cannot be turned off).
        if matches!(fact, StripeFact::PaymentFailed { renewal: true, .. })
            && !inv.paid
            && current.as_ref().is_some_and(|s| s.status.is_live())
            && let Some(plan) = plan.as_ref()
        {
            let notice = Notice::RenewalFailed {
                invoice: inv.id.to_owned(),
                plan: catalog
                    .plan(plan)
                    .map_or_else(|| plan.as_str().to_owned(), |p| p.name.clone()),
                amount_cents: inv.amount_cents,
            };
            notices::notify_in(tx, account, &notice, now)
                .await
                .map_err(SubscriptionError::Db)?;
        }
    }
    Ok(StripeApplied {
        granted,
        refund_due,
    })
}

/// Writes an outcome: the subscription, the grant it calls for (unless made already, or
/// for a period already over), the local billing's payment for it, the purge of the
/// content, and the plan and renewal date beside the balance. Returns the credits granted.
#[allow(clippy::too_many_arguments)]
async fn commit(
    tx: &mut Tx,
    backend: Backend,
    catalog: &Catalog,
    billing: Billing,
    account: i64,
    o: &Outcome,
    cancel_reason: Option<&str>,
    now: UnixSeconds,
) -> Result<Option<u64>, SubscriptionError> {
    subs::save(tx, account, &o.next, cancel_reason, now).await?;

    // A catch-up over several missed periods grants nothing for periods already over.
    let mut granted = None;
    if let Some(g) = o.grant.as_ref().filter(|g| g.expires_at > now)
        && subs::existing_grant(tx, account, g).await?.is_none()
    {
        granted = Some(g.credits);
        let plan = catalog
            .plan(&g.plan)
            .ok_or(SubscriptionError::Rule(LifecycleError::UnknownPlan))?;
        let amount = Credits::new(g.credits).map_err(|_| LedgerError::OutOfRange)?;
        let receipt = ledger::grant_in(
            tx,
            backend,
            account,
            NewGrant {
                kind: GrantKind::Subscription,
                amount,
                expires_at: Some(g.expires_at),
                reason: g.journal_reason(&plan.name),
                actor: None,
            },
            None,
            now,
        )
        .await?;
        subs::record_grant(tx, account, g, receipt.grant_id).await?;
        if billing == Billing::Local {
            // The period's (or the upgrade's prorated) payment, as the local test-mode
            // billing takes it: recorded with the credits it pays for.
            let external_id = g.local_invoice_id(account);
            db_payments::record_local_invoice(
                tx,
                &InvoiceRecord {
                    account_id: account,
                    external_id: &external_id,
                    plan: g.plan.as_str(),
                    credits: g.credits,
                    amount_cents: g.price_cents,
                    currency: "usd",
                    paid: true,
                    grant_id: Some(receipt.grant_id),
                },
                now,
            )
            .await
            .map_err(storage)?;
        }
    }

    if o.purge_content {
        // P14: the content may now be deleted for good, and the cancel reason goes with
        // it. The sign-in stays, with the journal, the payments and the top-up balance:
        // the FAQ promises the top-up credits are there "for when you come back", and
        // coming back means signing in.
        subs::mark_content_purged(tx, account, now).await?;
    }

    let (plan, renews_at) = o.next.plan_and_renewal();
    subs::set_account_plan(tx, account, plan, renews_at).await?;
    Ok(granted)
}

/// A payments storage error inside a subscription step.
fn storage(e: db_payments::PaymentsError) -> SubscriptionError {
    match e {
        db_payments::PaymentsError::Ledger(e) => SubscriptionError::Ledger(e),
        db_payments::PaymentsError::Db(e) => SubscriptionError::Db(e),
        db_payments::PaymentsError::Corrupt(what) => SubscriptionError::Corrupt(what),
        e @ db_payments::PaymentsError::Clash(_) => SubscriptionError::Corrupt(e.to_string()),
        db_payments::PaymentsError::Subscription(e) => e,
    }
}
