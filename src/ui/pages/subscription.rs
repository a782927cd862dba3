//! `/subscription`: how many credits the customer has, when they renew, where they went.

use crate::api::subscription::{SubscriptionOverview, get_subscription};
use crate::domain::credits::group_thousands;
use crate::domain::ledger::BalanceView;
use crate::domain::usage::OperationReceipt;
use crate::error::AppError;
use crate::ui::components::balance_card::BalanceCard;
use crate::ui::components::error_notice::ErrorNotice;
use crate::ui::components::format::{date, date_time};
use crate::ui::components::usage_chart::UsageChart;
use crate::ui::pages::account::SignInPrompt;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn SubscriptionPage() -> impl IntoView {
    let query = use_query_map();
    let before = move || {
        query
            .with(|q| q.get("before"))
            .and_then(|b| b.parse::<i64>().ok())
    };
    let data = Resource::new(before, get_subscription);
    view! {
        <Title text="Subscription" />
        <h1>"Subscription"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading your subscription…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => view! { <Overview o /> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInPrompt /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Overview(o: SubscriptionOverview) -> impl IntoView {
    let plan_line = match &o.plan {
        Some(p) => format!(
            "{} plan: {} credits each billing period.",
            p.name,
            group_thousands(p.credits_per_period)
        ),
        None => "No plan yet: you are using top-up credits only.".to_owned(),
    };
    let renews = o.balance.renews_at;
    view! {
        {o.low_balance.then(|| view! {
            <div class="notice notice-warning" role="status" data-testid="low-balance">
                <p><strong>"Your balance is running low."</strong>" Buy a top-up to keep generating now"
                    {renews.map(|r| format!(", or wait for your plan's credits to renew on {}", date(r)))}"."</p>
            </div>
        })}
        <p class="lead" data-testid="plan-line">{plan_line}</p>
        <BalanceCard balance=o.balance.clone() />
        <SpendOrder balance=o.balance />
        <section aria-labelledby="usage-heading">
            <h2 id="usage-heading">"Where your credits went"</h2>
            <p class="help">{format!("This period: {} to {}.", date(o.period_start), date(o.period_end))}</p>
            <UsageChart days=o.days />
        </section>
        <section aria-labelledby="history-heading">
            <h2 id="history-heading">"Generations"</h2>
            <Receipts receipts=o.receipts support=o.support_email />
            {o.next_before.map(|b| view! { <p><a href=format!("/subscription?before={b}")>"Older generations"</a></p> })}
        </section>
    }
}

/// P5 in the customer's numbers: subscription credits go first, then support's, then top-ups.
#[component]
fn SpendOrder(balance: BalanceView) -> impl IntoView {
    let parts = [
        (
            "Subscription credits",
            balance.subscription.get(),
            "spend-subscription",
        ),
        (
            "Added by support",
            balance.adjustment.get(),
            "spend-adjustment",
        ),
        ("Top-up credits", balance.topup.get(), "spend-topup"),
    ];
    let total: u64 = parts.iter().map(|p| p.1).sum();
    view! {
        <section class="card" aria-labelledby="spend-heading">
            <h2 id="spend-heading">"What gets spent next"</h2>
            {if total == 0 {
                view! { <p class="empty">"You have no credits to spend right now."</p> }.into_any()
            } else {
                view! {
                    <div class="spend-bar" aria-hidden="true">
                        {parts.iter().filter(|p| p.1 > 0).map(|(_, n, class)| {
                            view! { <span class=format!("spend-part {class} w-{}", (n * 20).div_ceil(total).min(20))></span> }
                        }).collect_view()}
                    </div>
                    <ol class="spend-order">
                        {parts.into_iter().filter(|p| p.1 > 0).map(|(label, n, _)| view! {
                            <li>{format!("{label}: {}", group_thousands(n))}</li>
                        }).collect_view()}
                    </ol>
                    <p class="help">"Subscription credits are always used first; top-up credits only after them, oldest first."</p>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Receipts(receipts: Vec<OperationReceipt>, support: String) -> impl IntoView {
    if receipts.is_empty() {
        return view! { <p class="empty">"No generations yet. When you generate a voice, music or anything else, its receipt appears here."</p> }.into_any();
    }
    view! {
        <ul class="receipts">
            {receipts.into_iter().map(|r| {
                let support = support.clone();
                let headline = match r.status.as_str() {
                    "captured" => format!("{} credits", group_thousands(r.net_cost())),
                    "held" => "in progress".to_owned(),
                    _ => "not charged".to_owned(),
                };
                view! {
                    <li>
                        <details class="receipt" id=format!("receipt-{}", r.hold_id)>
                            <summary>
                                <span class="receipt-op">{r.operation.label()}</span>
                                <span class="receipt-when">{date_time(r.started_at)}</span>
                                <span class="receipt-cost">{headline}</span>
                            </summary>
                            <dl class="receipt-lines">
                                <dt>"Estimate before it started"</dt><dd>{group_thousands(r.estimate)}</dd>
                                <dt>"Held"</dt><dd>{group_thousands(r.reserved)}</dd>
                                <dt>"Charged for the real output"</dt><dd>{group_thousands(r.charged)}</dd>
                                <dt>"Released"</dt><dd>{group_thousands(r.released)}</dd>
                                {(r.refunded > 0).then(|| view! {
                                    <dt>"Credited back (failed part)"</dt>
                                    <dd>{format!("{} — {}", group_thousands(r.refunded), r.refund_reasons.join("; "))}</dd>
                                })}
                                {(r.shortfall > 0).then(|| view! {
                                    <dt>"Not charged (the balance ran out)"</dt><dd>{group_thousands(r.shortfall)}</dd>
                                })}
                                <dt>"Paid with"</dt>
                                <dd>{paid_with(&r)}</dd>
                            </dl>
                            <p class="help">"Think this is wrong? Write to "<a href=format!("mailto:{support}")>{support.clone()}</a>"."</p>
                        </details>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

fn paid_with(r: &OperationReceipt) -> String {
    let parts: Vec<String> = [
        ("subscription", r.paid_subscription),
        ("support", r.paid_adjustment),
        ("top-up", r.paid_topup),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{} {k} credits", group_thousands(n)))
    .collect();
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(" + ")
    }
}
