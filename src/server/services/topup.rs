//! Buying top-ups: start a checkout (Stripe's or the local one), show how it went, and
//! the local checkout's own pay and cancel. Credits come only from the webhook.

use crate::domain::payments::{CheckoutEvent, PaymentKind, PaymentStatus, Provider};
use crate::error::AppError;
use crate::model::topup::{LocalCheckoutView, TopUpProgress};
use crate::server::config::PaymentsConfig;
use crate::server::db::payments::{self, NewCheckout, Payment};
use crate::server::error::internal;
use crate::server::payments::{local, stripe_api};
use crate::server::services::payment_events::{self, CheckoutNotice, EventEffect};
use crate::server::services::usage as ledger_service;
use crate::server::services::webhook;
use crate::server::state::AppState;

/// What failed, in the log.
const CONTEXT: &str = "top-up";

/// A form key: 16 to 80 letters, digits or dashes (the page makes a UUID).
pub(crate) fn valid_key(key: &str) -> bool {
    (16..=80).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// What a customer asked to buy: a pack, from one form.
pub struct Purchase<'a> {
    pub pack_id: &'a str,
    /// The form's own key: sending the same form twice returns the first checkout.
    pub request_key: &'a str,
    /// Where the customer was (a path on this site), to go back to once it is paid.
    pub then: Option<&'a str>,
    /// Keep the card for automatic top-ups (P16).
    pub save_card: bool,
}

/// Starts a checkout for the pack and returns where to send the browser.
pub async fn start(
    state: &AppState,
    account: i64,
    email: &str,
    purchase: Purchase<'_>,
) -> Result<String, AppError> {
    let Purchase {
        pack_id,
        request_key: form_key,
        then,
        save_card,
    } = purchase;
    let pack = state
        .config
        .catalog
        .top_up(pack_id)
        .cloned()
        .ok_or_else(|| {
            AppError::bad_request("That top-up pack is not on sale. Pick one of the packs shown.")
        })?;
    if !valid_key(form_key) {
        return Err(AppError::bad_request(
            "The form was incomplete. Reload the page and try again.",
        ));
    }
    // The card's form offers every pack in one form: each pack chosen there is its own
    // checkout, and the same choice sent twice the first one's (the other forms are one
    // per pack already).
    let card_key;
    let request_key = if save_card {
        card_key = format!("{form_key}-{pack_id}-card");
        &card_key
    } else {
        form_key
    };
    if let Some(existing) = payments::by_request_key(&state.db, account, request_key)
        .await
        .map_err(internal(CONTEXT))?
    {
        return resume(existing);
    }
    // `then` is carried in the addresses the checkout returns to.
    let (provider, session_id, url) = match &state.config.payments {
        PaymentsConfig::Local => {
            let id = local::new_session_id();
            (
                Provider::Local,
                id.clone(),
                with_then(&local::checkout_path(&id), then),
            )
        }
        PaymentsConfig::Stripe(config) => {
            let public = &state.config.public_url;
            let success = with_then(
                &format!("{public}/top-up/complete?session_id={{CHECKOUT_SESSION_ID}}"),
                then,
            );
            let cancel = with_then(&format!("{public}/top-up/cancelled"), then);
            let key = crate::server::payments::stripe_key(
                state,
                &format!("topup-{account}-{request_key}"),
            )
            .await?;
            // Stripe keeps a card for later charges only with its customer.
            let customer = if save_card {
                Some(
                    crate::server::services::payments::stripe_customer(
                        state, config, account, email,
                    )
                    .await?,
                )
            } else {
                None
            };
            let (id, url) = stripe_api::create_top_up_session(
                config,
                stripe_api::TopUpSession {
                    account_id: account,
                    customer_email: email,
                    saving_card_for: customer.as_deref(),
                    pack: &pack,
                    success_url: &success,
                    cancel_url: &cancel,
                    idempotency_key: key,
                },
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "creating a Checkout Session failed");
                AppError::PaymentProvider
            })?;
            (Provider::Stripe, id, url)
        }
    };
    let payment = payments::record_checkout(
        &state.db,
        NewCheckout {
            account_id: account,
            provider,
            external_id: &session_id,
            kind: PaymentKind::Topup,
            product: pack.id.as_str(),
            credits: pack.credits,
            amount_cents: pack.price_cents,
            currency: "usd",
            checkout_url: &url,
            request_key,
            saves_card: save_card,
        },
        state.clock.now(),
    )
    .await
    .map_err(internal(CONTEXT))?;
    resume(payment)
}

/// Where an already-started checkout goes: back to it while it is open.
fn resume(p: Payment) -> Result<String, AppError> {
    match (p.status, p.checkout_url) {
        (PaymentStatus::Open, Some(url)) => Ok(url),
        _ => Err(AppError::conflict(
            "This checkout has already finished. Reload the page to buy another top-up.",
        )),
    }
}

/// The caller's own payment for `session_id`; another customer's is "not found".
async fn own_payment(
    state: &AppState,
    account: i64,
    session_id: &str,
) -> Result<Payment, AppError> {
    let not_found = || AppError::not_found("That checkout");
    if session_id.is_empty() || session_id.len() > 255 {
        return Err(not_found());
    }
    match payments::by_external_id(&state.db, session_id)
        .await
        .map_err(internal(CONTEXT))?
    {
        Some(p) if p.account_id == account => Ok(p),
        _ => Err(not_found()),
    }
}

pub async fn status(
    state: &AppState,
    account: i64,
    session_id: &str,
) -> Result<TopUpProgress, AppError> {
    let p = own_payment(state, account, session_id).await?;
    let balance = ledger_service::balance(state, account).await?;
    Ok(TopUpProgress {
        status: p.status,
        credits: p.credits.get(),
        amount_cents: p.amount_cents,
        test_mode: p.provider == Provider::Local,
        balance_total: balance.total.get(),
        topup_balance: balance.topup.get(),
    })
}

/// The local checkout, only when the app takes payments itself.
async fn local_payment(
    state: &AppState,
    account: i64,
    session_id: &str,
) -> Result<Payment, AppError> {
    let p = own_payment(state, account, session_id).await?;
    if !matches!(state.config.payments, PaymentsConfig::Local) || p.provider != Provider::Local {
        return Err(AppError::not_found("That checkout"));
    }
    Ok(p)
}

pub async fn local_view(
    state: &AppState,
    account: i64,
    email: &str,
    session_id: &str,
) -> Result<LocalCheckoutView, AppError> {
    let p = local_payment(state, account, session_id).await?;
    let plan_name = (p.kind == PaymentKind::Subscription)
        .then(|| {
            crate::domain::catalog::PlanId::parse(&p.product)
                .ok()
                .and_then(|id| state.config.catalog.plan(&id).map(|plan| plan.name.clone()))
        })
        .flatten();
    Ok(LocalCheckoutView {
        plan_name,
        session_id: p.external_id,
        email: email.to_owned(),
        credits: p.credits.get(),
        amount_cents: p.amount_cents,
        status: p.status,
        saves_card: p.saves_card,
    })
}

/// How the customer pays in the local checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalMethod {
    /// Paid at once.
    Card,
    /// Completes unpaid, then settles a few seconds later (like a bank debit).
    Delayed,
}

impl LocalMethod {
    pub fn parse(s: &str) -> Result<Self, AppError> {
        match s {
            "card" => Ok(LocalMethod::Card),
            "delayed" => Ok(LocalMethod::Delayed),
            _ => Err(AppError::bad_request("Pick a way to pay.")),
        }
    }
}

/// `address` with `then=<path>` added to its query, for a way back that is a path on this
/// site; `address` as it is otherwise (a way back that is not one is dropped: the customer
/// lands on the top-up page as usual).
fn with_then(address: &str, then: Option<&str>) -> String {
    match then.and_then(crate::domain::payments::return_path) {
        Some(path) => {
            let pair = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("then", path)
                .finish();
            let joint = if address.contains('?') { '&' } else { '?' };
            format!("{address}{joint}{pair}")
        }
        None => address.to_owned(),
    }
}

/// Where the browser goes after the local checkout of `p`; `then` as in [`start`].
fn back_from(p: &Payment, paid: bool, then: Option<&str>) -> String {
    match (p.kind, paid) {
        // Paid (or paying): the plans section confirms it once the plan is there.
        (PaymentKind::Subscription, true) => "/subscription?subscribed=1#plans".to_owned(),
        (PaymentKind::Subscription, false) => "/subscription#plans".to_owned(),
        (_, true) => with_then(
            &format!("/top-up/complete?session_id={}", p.external_id),
            then,
        ),
        (_, false) => with_then("/top-up/cancelled", then),
    }
}

/// "Pay" in the local checkout: sends Stripe's events, signed, through the webhook code.
/// Returns where to send the browser.
pub async fn local_pay(
    state: &AppState,
    account: i64,
    session_id: &str,
    method: LocalMethod,
    then: Option<&str>,
) -> Result<String, AppError> {
    let p = local_payment(state, account, session_id).await?;
    let back = back_from(&p, true, then);
    if p.status != PaymentStatus::Open {
        // Paying twice (a double click, a resent form) changes nothing; the card a paid
        // one keeps is told again (a duplicate if it was told, kept now if it was not).
        if p.saves_card && p.status == PaymentStatus::Paid {
            webhook::deliver_local_card_saved(state, &p)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "local checkout's card event refused");
                    AppError::Internal
                })?;
        }
        return Ok(back);
    }
    if p.saves_card && method != LocalMethod::Card {
        return Err(AppError::bad_request(
            "Pay with the test card: this top-up keeps its card for automatic top-ups.",
        ));
    }
    let deliver_err = |e| {
        tracing::error!(error = %e, "local checkout event refused");
        AppError::Internal
    };
    match method {
        LocalMethod::Card => {
            webhook::deliver_local(state, "checkout.session.completed", &p, "paid")
                .await
                .map_err(deliver_err)?;
            // Asked for at the start: the card is kept for automatic top-ups, told by
            // the event Stripe sends for it.
            if p.saves_card && p.kind == PaymentKind::Topup {
                webhook::deliver_local_card_saved(state, &p)
                    .await
                    .map_err(deliver_err)?;
            }
        }
        LocalMethod::Delayed => {
            webhook::deliver_local(state, "checkout.session.completed", &p, "unpaid")
                .await
                .map_err(deliver_err)?;
            let state = state.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(local::DELAYED_SETTLE_SECS))
                    .await;
                if let Err(e) = webhook::deliver_local(
                    &state,
                    "checkout.session.async_payment_succeeded",
                    &p,
                    "paid",
                )
                .await
                {
                    tracing::error!(error = %e, "local delayed payment could not settle");
                }
            });
        }
    }
    Ok(back)
}

/// "Cancel" in the local checkout: the checkout ends unpaid and nothing changes. Returns
/// where to send the browser.
pub async fn local_cancel(
    state: &AppState,
    account: i64,
    session_id: &str,
    then: Option<&str>,
) -> Result<String, AppError> {
    let p = local_payment(state, account, session_id).await?;
    let back = back_from(&p, false, then);
    let event_id = format!("local_cancel_{}", p.external_id);
    payment_events::apply_event(
        &state.db,
        &event_id,
        "local.checkout.canceled",
        EventEffect::Checkout(CheckoutNotice {
            catalog: &state.config.catalog,
            session_id: &p.external_id,
            event: CheckoutEvent::Canceled,
            account_id: Some(account),
            plan: None,
        }),
        state.clock.now(),
    )
    .await
    .map_err(internal(CONTEXT))?;
    Ok(back)
}
