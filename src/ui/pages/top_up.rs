//! Coming back from a checkout (`/top-up/complete`, `/top-up/cancelled`), and the local
//! test-mode checkout page (`/checkout/local/:id`).

use crate::api::topup::{
    CancelLocalCheckout, LocalCheckoutView, PayLocalCheckout, TopUpProgress, local_checkout,
    top_up_status,
};
use crate::domain::catalog::format_usd;
use crate::domain::credits::group_thousands;
use crate::domain::payments::PaymentStatus;
use crate::error::AppError;
use crate::error::FORM_ERROR_ANCHOR;
use crate::ui::components::error_notice::ErrorNotice;
use crate::ui::components::forms::form_action;
use crate::ui::pages::account::SignInPrompt;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

/// Seconds between checks while a payment is processing.
const RECHECK_SECS: u32 = 2;

/// `/top-up/complete?session_id=...`: "payment processing" until the webhook has granted
/// the credits, then the new balance. The page re-checks by itself, with or without
/// JavaScript (a refresh header).
#[component]
pub fn TopUpCompletePage() -> impl IntoView {
    let query = use_query_map();
    let session = move || query.with(|q| q.get("session_id")).unwrap_or_default();
    let then = way_back(&query);
    let data = Resource::new(session, top_up_status);
    view! {
        <Title text="Top-up" />
        <h1>"Your top-up"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Checking your payment…"</p> }>
            {move || {
                let then = then.clone();
                Suspend::new(async move {
                match data.await {
                    Ok(p) => view! { <Progress p then /> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInPrompt /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })
            }}
        </Suspense>
        <p><a href="/subscription">"Back to your subscription"</a></p>
    }
}

/// The `then` of the address, if it is a path on this site: where the customer was before
/// the top-up.
fn way_back(query: &Memo<leptos_router::params::ParamsMap>) -> Option<String> {
    query
        .with_untracked(|q| q.get("then"))
        .filter(|t| crate::domain::payments::return_path(t).is_some())
}

#[component]
fn Progress(p: TopUpProgress, then: Option<String>) -> impl IntoView {
    let credits = group_thousands(p.credits);
    let price = format_usd(p.amount_cents);
    match p.status {
        PaymentStatus::Open | PaymentStatus::Processing => view! {
            <Meta http_equiv="refresh" content=RECHECK_SECS.to_string() />
            <div class="notice" role="status" data-testid="top-up-processing">
                <p><strong>"Payment processing…"</strong></p>
                <p>{format!("Your {credits} credits ({price}) are added as soon as the payment is confirmed. This page checks again every few seconds.")}</p>
            </div>
        }
        .into_any(),
        PaymentStatus::Paid => view! {
            <div class="notice notice-ok" role="status" data-testid="top-up-paid">
                <p><strong>{format!("Payment received: {credits} credits were added.")}</strong></p>
                <p>{format!(
                    "Your balance is now {} credits, {} of them top-up credits, which never expire.",
                    group_thousands(p.balance_total),
                    group_thousands(p.topup_balance)
                )}</p>
                {then.map(|to| view! {
                    <p><a href=to class="button" data-testid="top-up-back">"Carry on where you were"</a></p>
                })}
            </div>
        }
        .into_any(),
        other => view! {
            <div class="notice notice-error" role="alert" data-testid="top-up-failed">
                <p><strong>{format!("The payment did not go through ({}).", other.label().to_lowercase())}</strong></p>
                <p>"Nothing was charged and your balance did not change. You can "<a href="/subscription#top-up">"try again"</a>"."</p>
            </div>
        }
        .into_any(),
    }
}

/// `/top-up/cancelled`: the customer left the checkout.
#[component]
pub fn TopUpCancelledPage() -> impl IntoView {
    let then = way_back(&use_query_map());
    view! {
        <Title text="Top-up cancelled" />
        <h1>"Top-up cancelled"</h1>
        <p class="lead" data-testid="top-up-cancelled">"You left the checkout. Nothing was charged and your balance did not change."</p>
        {match then {
            Some(to) => view! { <p><a href=to data-testid="top-up-back">"Back to where you were"</a></p> }.into_any(),
            None => view! { <p><a href="/subscription#top-up">"Back to top-ups"</a></p> }.into_any(),
        }}
    }
}

/// `/checkout/local/:id`: the app's own checkout, used when no Stripe keys are set.
#[component]
pub fn LocalCheckoutPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id")).unwrap_or_default();
    let data = Resource::new(id, local_checkout);
    let pay = form_action::<PayLocalCheckout>();
    let cancel = form_action::<CancelLocalCheckout>();
    let then = way_back(&use_query_map());
    view! {
        <Title text="Test checkout" />
        <div class="test-mode-banner" role="note" data-testid="test-mode-banner">
            "TEST MODE: this is Studio Billing's own checkout. No card is charged and no real money moves."
        </div>
        <h1>"Checkout"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading the checkout…"</p> }>
            {move || {
                let then = then.clone();
                Suspend::new(async move {
                match data.await {
                    Ok(c) => view! { <LocalCheckoutForm c pay cancel then /> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInPrompt /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })
            }}
        </Suspense>
    }
}

#[component]
fn LocalCheckoutForm(
    c: LocalCheckoutView,
    pay: ServerAction<PayLocalCheckout>,
    cancel: ServerAction<CancelLocalCheckout>,
    /// Where the customer goes back to afterwards (the top-up's `then`).
    then: Option<String>,
) -> impl IntoView {
    let price = format_usd(c.amount_cents);
    let then_field =
        |then: Option<String>| then.map(|t| view! { <input type="hidden" name="then" value=t /> });
    let (pay_then, cancel_then) = (then_field(then.clone()), then_field(then));
    let error = move || {
        pay.value()
            .get()
            .or_else(|| cancel.value().get())
            .and_then(Result::err)
            .map(|e| view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{e.to_string()}</p> })
    };
    let pending = Signal::derive(move || pay.pending().get() || cancel.pending().get());
    let session = c.session_id.clone();
    if c.status != PaymentStatus::Open {
        return view! {
            <p class="lead">"This checkout is finished."</p>
            <p><a href=format!("/top-up/complete?session_id={}", c.session_id)>"See how it went"</a></p>
        }
        .into_any();
    }
    view! {
        <section class="card checkout" aria-labelledby="order-heading">
            <h2 id="order-heading">"Your order"</h2>
            <dl class="pairs">
                {match c.plan_name.clone() {
                    Some(plan) => view! {
                        <dt>"Plan"</dt><dd data-testid="checkout-credits">{format!("{plan}: {} credits each month", group_thousands(c.credits))}</dd>
                        <dt>"Price"</dt><dd data-testid="checkout-price">{format!("{price} a month, renewed monthly until you cancel")}</dd>
                    }.into_any(),
                    None => view! {
                        <dt>"Top-up"</dt><dd data-testid="checkout-credits">{format!("{} credits", group_thousands(c.credits))}</dd>
                        <dt>"Price"</dt><dd data-testid="checkout-price">{price.clone()}</dd>
                    }.into_any(),
                }}
                <dt>"Receipt to"</dt><dd>{c.email}</dd>
            </dl>
            {error}
            <ActionForm action=pay attr:class="stack-form">
                <input type="hidden" name="session_id" value=session />
                {pay_then}
                {if c.saves_card {
                    // As Stripe's Checkout does when the card is kept: a card only, and
                    // the customer is told.
                    view! {
                        <input type="hidden" name="method" value="card" />
                        <p data-testid="checkout-saves-card">"Paid with the test card (4242), which is then saved for automatic top-ups: it will be charged when your balance falls below the amount you choose, never more than your monthly cap."</p>
                    }.into_any()
                } else {
                    view! {
                        <fieldset>
                            <legend>"Pay with"</legend>
                            <label><input type="radio" name="method" value="card" checked />" Test card (paid at once)"</label>
                            <label><input type="radio" name="method" value="delayed" />" Test bank debit (confirmed a few seconds later)"</label>
                        </fieldset>
                    }.into_any()
                }}
                <button type="submit" disabled=pending>{format!("Pay {price}")}</button>
            </ActionForm>
            <ActionForm action=cancel attr:class="inline-form">
                <input type="hidden" name="session_id" value=c.session_id />
                {cancel_then}
                <button type="submit" class="link-button" disabled=pending>"Cancel and go back"</button>
            </ActionForm>
        </section>
    }
    .into_any()
}
