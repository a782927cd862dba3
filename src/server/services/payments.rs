//! The customer's payments: the list the pages show, and each payment's receipt (the
//! app's own for the local test checkout, Stripe's for Stripe's payments).

use crate::domain::catalog::{Catalog, PlanId};
use crate::domain::payments::{PaymentKind, PaymentStatus, Provider, RefundState, receipt_number};
use crate::error::AppError;
use crate::model::payments::{PaymentLine, PaymentReceiptView};
use crate::server::config::PaymentsConfig;
use crate::server::db::payments;
use crate::server::error::internal;
use crate::server::payments::stripe_api;
use crate::server::state::AppState;

/// What failed, in the log.
const CONTEXT: &str = "payments";

/// An account's latest `limit` payments, each plan payment with its plan's name.
pub async fn lines(
    state: &AppState,
    account: i64,
    limit: i64,
) -> Result<Vec<PaymentLine>, AppError> {
    let mut lines: Vec<PaymentLine> = payments::for_account(&state.db, account, limit)
        .await
        .map_err(internal(CONTEXT))?
        .into_iter()
        .map(|(p, refund)| line(p, refund))
        .collect();
    name_plans(&state.config.catalog, &mut lines);
    Ok(lines)
}

/// A payment as the pages list it (`refund`: its refund's state, if it has one).
fn line(p: payments::Payment, refund: Option<RefundState>) -> PaymentLine {
    PaymentLine {
        id: p.id,
        kind: p.kind,
        credits: p.credits.get(),
        amount_cents: p.amount_cents,
        currency: p.currency,
        status: p.status,
        created_at: p.created_at,
        test_mode: p.provider == Provider::Local,
        refund,
        product: p.product,
        plan_name: None,
    }
}

fn name_plans(catalog: &Catalog, lines: &mut [PaymentLine]) {
    for p in lines
        .iter_mut()
        .filter(|p| p.kind == PaymentKind::Subscription)
    {
        p.plan_name = PlanId::parse(&p.product)
            .ok()
            .and_then(|id| catalog.plan(&id))
            .map(|plan| plan.name.clone());
    }
}

/// The caller's own payment `id` and its refund, if it is money received: anything else
/// (another customer's, one still processing, one that failed) has no receipt to show.
async fn paid(
    state: &AppState,
    account: i64,
    id: i64,
) -> Result<(payments::Payment, Option<RefundState>), AppError> {
    payments::of_account(&state.db, account, id)
        .await
        .map_err(internal(CONTEXT))?
        .filter(|(p, _)| p.status == PaymentStatus::Paid)
        .ok_or_else(|| AppError::not_found("This receipt"))
}

/// The app's own receipt for payment `id`. `stripe_unavailable`: the page was sent here
/// because Stripe could not say where its receipt is.
pub async fn receipt(
    state: &AppState,
    account: i64,
    email: &str,
    id: i64,
    stripe_unavailable: bool,
) -> Result<PaymentReceiptView, AppError> {
    let (p, refund) = paid(state, account, id).await?;
    let mut line = [line(p, refund)];
    name_plans(&state.config.catalog, &mut line);
    let [line] = line;
    Ok(PaymentReceiptView {
        number: receipt_number(line.id),
        stripe: stripe_unavailable && !line.test_mode,
        line,
        email: email.to_owned(),
        seller_email: state.config.support_email.clone(),
    })
}

/// Where Stripe shows its receipt for the caller's payment `id`. Only with Stripe, for a
/// payment Stripe took.
pub async fn stripe_receipt_url(
    state: &AppState,
    account: i64,
    id: i64,
) -> Result<String, AppError> {
    let PaymentsConfig::Stripe(config) = &state.config.payments else {
        return Err(AppError::not_found("This receipt"));
    };
    let (p, _) = paid(state, account, id).await?;
    if p.provider != Provider::Stripe {
        return Err(AppError::not_found("This receipt"));
    }
    let url = stripe_api::receipt_url(config, &p.external_id)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, payment = id, "asking Stripe for a receipt failed");
            AppError::PaymentProvider
        })?;
    // Only ever a web address (Stripe's pages, or a stand-in's on this machine).
    url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .ok_or(AppError::PaymentProvider)
}

/// The account's Stripe customer, made the first time it is needed (a plan's checkout, a
/// top-up that saves its card). The key makes a retry return the customer the first try
/// made; the first one recorded wins.
pub(crate) async fn stripe_customer(
    state: &AppState,
    config: &crate::server::config::StripeConfig,
    account: i64,
    email: &str,
) -> Result<String, AppError> {
    use crate::server::db::subscriptions;
    const STORAGE: &str = "the Stripe customer";
    if let Some(c) = subscriptions::customer_of(&state.db, account)
        .await
        .map_err(internal(STORAGE))?
    {
        return Ok(c);
    }
    let key = crate::server::payments::stripe_key(state, &format!("customer-{account}")).await?;
    let created = stripe_api::create_customer(config, account, email, key)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "creating the Stripe customer failed");
            if matches!(e, stripe_api::StripeCallError::Timeout(_)) {
                AppError::PaymentProviderTimeout
            } else {
                AppError::PaymentProvider
            }
        })?;
    subscriptions::link_customer(&state.db, account, &created, state.clock.now())
        .await
        .map_err(internal(STORAGE))
}
