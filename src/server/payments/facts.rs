//! What Stripe's objects mean to the app: a subscription or an invoice as a fact of the
//! life cycle (`domain::subscription::StripeFact`), a price as one of the catalogue's
//! plans, a plan's Checkout Session as a plan checkout. The webhook and the plan changes
//! made through Stripe's API read Stripe's answers through these, so both apply the same
//! thing the same way.

use crate::domain::catalog::{Catalog, PlanId};
use crate::domain::subscription::{StripeFact, StripeStatus};
use crate::server::db::plan_checkouts::PlanCheckoutNotice;
use crate::server::payments::events::{self, Invoice, InvoiceOutcome, SubscriptionObject};

/// The plan a Stripe price is of: by the price the catalogue (or its lookup key) names,
/// else by its product (`stripe setup`'s product per plan, which also knows the prices made
/// before a price change).
fn plan_for(catalog: &Catalog, price: Option<&str>, product: Option<&str>) -> Option<PlanId> {
    let Some(price) = price else {
        tracing::warn!("a Stripe subscription or invoice line names no price");
        return None;
    };
    // A price no plan sells is acknowledged and logged (answering 400 would make Stripe
    // resend it for days); it changes nothing.
    let plan = catalog
        .plan_by_stripe_price(price)
        .or_else(|| product.and_then(|p| catalog.plan_by_stripe_product(p)))
        .map(|p| p.id.clone());
    if plan.is_none() {
        tracing::warn!(
            price,
            product,
            "Stripe names a price no plan in the catalogue sells"
        );
    }
    plan
}

/// What a subscription object says, as the life cycle reads it; `None` when its price is
/// not one of the catalogue's.
pub fn subscription_fact(s: &SubscriptionObject, catalog: &Catalog) -> Option<StripeFact> {
    let plan = plan_for(catalog, s.price.as_deref(), s.product.as_deref())?;
    let ends_at = s.ends_at();
    Some(StripeFact::State {
        subscription: s.id.clone(),
        plan,
        status: if s.deleted {
            StripeStatus::Canceled
        } else {
            s.status.clone()
        },
        period_start: s.period_start,
        // Cancelled on a set date within the period: the plan ends then.
        period_end: ends_at.unwrap_or(s.period_end),
        cancel_at_period_end: ends_at.is_some(),
        ended_at: s.ended_at.or(s.canceled_at.filter(|_| s.deleted)),
    })
}

/// What an invoice says: a paid period (its subscription line), a paid upgrade (proration
/// lines alone: the new price charged, the old one credited), or a failed attempt. `None`
/// for an invoice the life cycle has no use for (acknowledged all the same).
pub fn invoice_fact(inv: &Invoice, catalog: &Catalog) -> Option<StripeFact> {
    let subscription = inv.subscription.clone();
    if inv.outcome == InvoiceOutcome::Failed {
        // An upgrade's own invoice failing means Stripe applied no upgrade
        // (`error_if_incomplete`): the plan is not past due for it.
        return Some(StripeFact::PaymentFailed {
            subscription,
            renewal: inv.billing_reason.as_deref() != Some("subscription_update"),
        });
    }
    if let Some(line) = inv.period_line() {
        return Some(StripeFact::PeriodPaid {
            subscription,
            plan: plan_for(catalog, line.price.as_deref(), line.product.as_deref())?,
            period_start: line.period_start,
            period_end: line.period_end,
        });
    }
    let charged = inv.prorations().find(|l| l.amount > 0);
    let credited = inv.prorations().find(|l| l.amount < 0);
    match (charged, credited) {
        (Some(to), Some(from)) => Some(StripeFact::UpgradePaid {
            subscription,
            from: plan_for(catalog, from.price.as_deref(), from.product.as_deref())?,
            to: plan_for(catalog, to.price.as_deref(), to.product.as_deref())?,
            from_time: to.period_start,
            period_end: to.period_end,
        }),
        _ => {
            tracing::info!(invoice = %inv.id, "a paid invoice of prorations that is not an upgrade; nothing to grant");
            None
        }
    }
}

/// A plan's Checkout Session, for a plan the catalogue sells (the app's own sessions name
/// it in their metadata).
pub fn plan_checkout<'a>(
    p: &'a events::PlanSession,
    catalog: &Catalog,
) -> Option<PlanCheckoutNotice<'a>> {
    let plan = p
        .plan_id
        .as_deref()
        .and_then(|id| PlanId::parse(id).ok())
        .and_then(|id| catalog.plan(&id));
    let Some(plan) = plan else {
        tracing::warn!(plan = ?p.plan_id, "a subscription Checkout Session names no plan the catalogue sells");
        return None;
    };
    let Some(customer) = p.customer.as_deref() else {
        tracing::warn!("a subscription Checkout Session names no customer");
        return None;
    };
    Some(PlanCheckoutNotice {
        plan: plan.id.clone(),
        customer,
        subscription: p.subscription.as_deref(),
        amount_cents: p.amount_total.unwrap_or(plan.monthly_price_cents),
        currency: p.currency.as_deref().unwrap_or("usd"),
    })
}
