//! `/payments/:id`: the receipt of one payment, the app's own (the local test checkout's;
//! Stripe's payments have Stripe's, and this one when Stripe cannot be asked).

use crate::api::payments::payment_receipt;
use crate::domain::catalog::format_usd;
use crate::error::AppError;
use crate::model::payments::PaymentReceiptView;
use crate::ui::components::error_notice::ErrorNotice;
use crate::ui::components::format::{date_time, payment_what};
use crate::ui::pages::account::SignInPrompt;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn PaymentReceiptPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let args = move || {
        (
            params
                .with(|p| p.get("id"))
                .and_then(|id| id.parse::<i64>().ok()),
            query.with(|q| q.get("stripe").is_some()),
        )
    };
    let data = Resource::new(args, |(id, stripe)| async move {
        match id {
            Some(id) => payment_receipt(id, stripe).await,
            None => Err(AppError::not_found("This receipt")),
        }
    });
    view! {
        <Title text="Receipt" />
        <h1>"Receipt"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading the receipt…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(r) => view! { <Receipt r /> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInPrompt /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
        <p><a href="/subscription#payments-heading">"Back to your payments"</a></p>
    }
}

#[component]
fn Receipt(r: PaymentReceiptView) -> impl IntoView {
    let line = r.line;
    let status = match line.refund {
        Some(refund) => refund.label(),
        None => line.status.label(),
    };
    let paid_with = if line.test_mode {
        "The app's test checkout: no real money moved"
    } else {
        "Stripe"
    };
    view! {
        {r.stripe.then(|| view! {
            <p class="notice notice-warning" role="status" data-testid="stripe-receipt-unavailable">
                "Stripe could not show its receipt just now. This is our record of the payment; "
                <a href=format!("/payments/{}/stripe-receipt", line.id)>"try Stripe's receipt again"</a>" in a moment."
            </p>
        })}
        <section class="card receipt-card" aria-labelledby="receipt-heading" data-testid="payment-receipt">
            <h2 id="receipt-heading">{format!("Receipt {}", r.number)}</h2>
            <dl class="pairs">
                <dt>"Date"</dt><dd>{date_time(line.created_at)}</dd>
                <dt>"Bought"</dt><dd data-testid="receipt-what">{payment_what(&line)}</dd>
                <dt>"Amount"</dt><dd data-testid="receipt-amount">{format!("{} ({})", format_usd(line.amount_cents), line.currency.to_uppercase())}</dd>
                <dt>"Paid with"</dt><dd>{paid_with}</dd>
                <dt>"Status"</dt><dd data-testid="receipt-status">{status}</dd>
                <dt>"Sold to"</dt><dd>{r.email}</dd>
                <dt>"Sold by"</dt><dd>"Studio Billing · "{r.seller_email}</dd>
            </dl>
        </section>
    }
}
