//! `/subscription`: how many credits the customer has, when they renew, where they went.

use crate::api::demo::TryGeneration;
use crate::api::plans::{ChangePlan, my_plan};
use crate::api::subscription::{SubscriptionOverview, get_subscription};
use crate::api::topup::BuyTopUp;
use crate::domain::catalog::{TopUpPack, format_usd};
use crate::domain::credits::group_thousands;
use crate::domain::ledger::BalanceView;
use crate::domain::ledger::HoldStatus;
use crate::domain::pricing::{Operation, PriceBook};
use crate::domain::usage::OperationReceipt;
use crate::error::AppError;
use crate::error::FORM_ERROR_ANCHOR;
use crate::model::payments::PaymentLine;
use crate::ui::components::balance_card::BalanceCard;
use crate::ui::components::error_notice::ErrorNotice;
use crate::ui::components::format::{date, date_time, payment_what, utc_day};
use crate::ui::components::plans::PlansSection;
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
    let buy = ServerAction::<BuyTopUp>::new();
    let try_run = ServerAction::<TryGeneration>::new();
    let change = ServerAction::<ChangePlan>::new();
    // A generation or a plan change made here changes the balance and the receipts.
    let data = Resource::new(
        move || (before(), try_run.version().get(), change.version().get()),
        |(before, _, _)| get_subscription(before),
    );
    let plans = Resource::new(move || change.version().get(), |_| my_plan());
    view! {
        <Title text="Subscription" />
        <h1>"Subscription"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading your subscription…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => view! { <Overview o buy try_run /> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInPrompt /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading your plan…"</p> }>
            {move || Suspend::new(async move {
                match plans.await {
                    Ok(plan) => view! { <PlansSection plan action=change /> }.into_any(),
                    // The overview above already says what went wrong.
                    Err(_) => ().into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Overview(
    o: SubscriptionOverview,
    buy: ServerAction<BuyTopUp>,
    try_run: ServerAction<TryGeneration>,
) -> impl IntoView {
    let plan_line = match &o.plan {
        Some(p) => format!(
            "{} plan: {} credits each billing period.",
            p.name,
            group_thousands(p.credits_per_period)
        ),
        None if o.ended_plan.is_some() => {
            "No plan now: you are using top-up credits only.".to_owned()
        }
        None => "No plan yet: you are using top-up credits only.".to_owned(),
    };
    // An ended plan is the first thing on the page, with the way back.
    let ended = o.ended_plan.clone().map(|e| view! {
        <div class="notice notice-warning" data-testid="plan-ended-banner">
            <p>
                <strong>{format!("{} ended on {}.", e.name, date(e.ended_at))}</strong>
                {match e.kept_until {
                    Some(until) => format!(" Your projects and audio are kept until {}. ", date(until)),
                    None => " Its grace period is over. ".to_owned(),
                }}
                <a href="#plans">"Resubscribe"</a>
            </p>
        </div>
    });
    let renews = o.balance.renews_at;
    view! {
        {ended}
        {o.low_balance.then(|| view! {
            <div class="notice notice-warning" role="status" data-testid="low-balance">
                <p><strong>"Your balance is running low."</strong>" "<a href="#top-up">"Buy a top-up"</a>" to keep generating now"
                    {renews.map(|r| format!(", or wait for your plan's credits to renew on {}", date(r)))}"."</p>
            </div>
        })}
        <p class="lead"><span data-testid="plan-line">{plan_line}</span>" "<a href="#plans">"Manage your plan"</a></p>
        <BalanceCard balance=o.balance.clone() history_link=true />
        <SpendOrder balance=o.balance />
        <section aria-labelledby="usage-heading">
            <h2 id="usage-heading">"Where your credits went"</h2>
            <p class="help" data-testid="usage-window">{if o.plan_period {
                format!("This period: {} to {}.", date(o.period_start), date(o.period_end))
            } else {
                format!("The last 30 days: {} to {} (UTC days).", utc_day(o.period_start), utc_day(o.period_end - 1))
            }}</p>
            <UsageChart days=o.days />
        </section>
        {o.try_panel.map(|book| view! { <TryPanel book renews packs=o.top_ups.clone() form_key=o.form_key.clone() action=try_run buy /> })}
        <section aria-labelledby="history-heading">
            <h2 id="history-heading">"Generations"</h2>
            <Receipts receipts=o.receipts support=o.support_email book=o.price_book.clone() />
            {o.next_before.map(|b| view! { <p><a href=format!("/subscription?before={b}")>"Older generations"</a></p> })}
        </section>
        <TopUps packs=o.top_ups test_checkout=o.test_checkout form_key=o.form_key action=buy />
        <Payments payments=o.payments receipts=true />
    }
}

/// The packs on sale, each with its own "Buy" form (P4: top-up credits never expire).
#[component]
fn TopUps(
    packs: Vec<TopUpPack>,
    test_checkout: bool,
    form_key: String,
    action: ServerAction<BuyTopUp>,
) -> impl IntoView {
    let pending = action.pending();
    view! {
        <section aria-labelledby="top-up-heading" id="top-up">
            <h2 id="top-up-heading">"Buy top-up credits"</h2>
            <p class="help">"Top-up credits never expire. They are used after your subscription credits, oldest first."</p>
            {test_checkout.then(|| view! {
                <p class="notice" data-testid="test-mode-note">"Test mode: payments go through this app's own test checkout. No real money moves."</p>
            })}
            {move || action.value().get().and_then(Result::err).map(|error| view! {
                <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{error.to_string()}</p>
            })}
            {if packs.is_empty() {
                view! { <p class="empty">"No top-up packs are on sale right now."</p> }.into_any()
            } else {
                view! {
                    <ul class="packs">
                        {packs.into_iter().map(|p| {
                            let credits = group_thousands(p.credits.get());
                            let price = format_usd(p.price_cents);
                            let label = format!("Buy {credits} credits for {price}");
                            let key = format!("{form_key}-{}", p.id.as_str());
                            view! {
                                <li class="card pack">
                                    <p class="big-number">{credits.clone()}<span class="unit">" credits"</span></p>
                                    <p class="pack-price">{price.clone()}</p>
                                    <ActionForm action>
                                        <input type="hidden" name="pack" value=p.id.as_str().to_owned() />
                                        <input type="hidden" name="request_key" value=key />
                                        <button type="submit" aria-label=label.clone() disabled=pending>{format!("Buy for {price}")}</button>
                                    </ActionForm>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// Top-ups bought and subscription payments; `receipts`: with a link to each one's receipt
/// (the customer's own view).
#[component]
pub fn Payments(payments: Vec<PaymentLine>, receipts: bool) -> impl IntoView {
    view! {
        <section aria-labelledby="payments-heading">
            <h2 id="payments-heading">"Payments"</h2>
            {if payments.is_empty() {
                view! { <p class="empty">"No payments yet. Top-ups you buy and your plan's payments appear here."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table data-testid="payments">
                            <caption>"Payments, newest first"</caption>
                            <thead><tr>
                                <th scope="col">"Date"</th><th scope="col">"What"</th>
                                <th scope="col" class="num">"Amount"</th><th scope="col">"Status"</th>
                                {receipts.then(|| view! { <th scope="col"><span class="visually-hidden">"Receipt"</span></th> })}
                            </tr></thead>
                            <tbody>
                                {payments.into_iter().map(|p| {
                                    let what = format!(
                                        "{}{}",
                                        payment_what(&p),
                                        if p.test_mode { " (test mode)" } else { "" }
                                    );
                                    let receipt = receipts.then(|| {
                                        let link = crate::ui::components::format::receipt_href(&p).map(|href| view! {
                                            <a href=href aria-label=format!("Receipt for {what}, {}", date_time(p.created_at))>"Receipt"</a>
                                        });
                                        view! { <td>{link}</td> }
                                    });
                                    view! {
                                        <tr>
                                            <td>{date_time(p.created_at)}</td>
                                            <td>{what}</td>
                                            <td class="num">{format_usd(p.amount_cents)}</td>
                                            {match p.refund {
                                                Some(r) => view! { <td class=format!("status status-refund-{}", r.as_str())>{r.label()}</td> }.into_any(),
                                                None => view! { <td class=format!("status status-{}", p.status.as_str())>{p.status.label()}</td> }.into_any(),
                                            }}
                                            {receipt}
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

/// Demo mode: run a pretend generation through the ledger and see its receipt. The
/// estimate and the result come back in the address, so it all works without JavaScript.
#[component]
fn TryPanel(
    book: PriceBook,
    renews: Option<i64>,
    /// The packs on sale, to suggest the smallest that covers a shortfall.
    packs: Vec<TopUpPack>,
    form_key: String,
    action: ServerAction<TryGeneration>,
    /// Buys the pack suggested for a shortfall.
    buy: ServerAction<BuyTopUp>,
) -> impl IntoView {
    let query = use_query_map();
    let buy_key = form_key.clone();
    // The operation and size asked about last ("Show estimate" puts them in the address).
    let asked = Memo::new(move |_| {
        query.with(|q| {
            let op = q
                .get("op")
                .and_then(|k| Operation::from_key(&k))
                .unwrap_or(Operation::VoiceGeneration);
            let qty = q
                .get("qty")
                .and_then(|q| q.parse::<u64>().ok())
                .filter(|q| *q > 0)
                .unwrap_or(30);
            (op, qty)
        })
    });
    let (op, qty) = asked.get_untracked();
    // What is chosen now: the estimate and the size's unit follow each change (with
    // JavaScript; without it, "Show estimate" puts the choice in the address).
    let chosen_op = RwSignal::new(op);
    let chosen_qty = RwSignal::new(qty);
    Effect::new(move |_| {
        let (op, qty) = asked.get();
        chosen_op.set(op);
        chosen_qty.set(qty);
    });
    let tried = move || query.with(|q| q.get("tried")).is_some();
    let unit_book = book.clone();
    let unit = move || {
        unit_book
            .rule(chosen_op.get())
            .map(|r| r.driver.unit_names().1)
            .unwrap_or("units")
    };
    let estimate = move || {
        let (op, qty) = (chosen_op.get(), chosen_qty.get());
        book.rule(op).map(|r| {
            format!(
                "Estimate for {} ({}): {} credits.",
                op.label(),
                r.describe(),
                r.price(qty)
                    .map(|c| group_thousands(c.get()))
                    .unwrap_or_default()
            )
        })
    };
    let pending = action.pending();
    view! {
        <section class="card" aria-labelledby="try-heading" id="try">
            <h2 id="try-heading">"Try a generation"</h2>
            <p class="help">"Demo only: the app plays a generation service through the real ledger. Nothing is generated."</p>
            {move || action.value().get().and_then(Result::err).map(|error| match error {
                AppError::InsufficientCredits { needed, available, .. } => {
                    let short = needed.saturating_sub(available);
                    // The smallest pack that covers what is missing, if one does, to buy
                    // from here and come back to this panel with the same choice.
                    let pack = packs
                        .iter()
                        .filter(|p| p.credits.get() >= short)
                        .min_by_key(|p| p.credits.get())
                        .cloned();
                    let covers = pack.as_ref().map(|p| format!(
                        " The {} credit top-up ({}) covers it.",
                        group_thousands(p.credits.get()),
                        format_usd(p.price_cents)
                    ));
                    let then = format!(
                        "/subscription?op={}&qty={}#try",
                        chosen_op.get_untracked().key(),
                        chosen_qty.get_untracked()
                    );
                    let buy_form = pack.map(|p| {
                        let key = format!("{buy_key}-{}-back", p.id.as_str());
                        let label = format!(
                            "Buy {} credits for {} and come back here",
                            group_thousands(p.credits.get()),
                            format_usd(p.price_cents)
                        );
                        view! {
                            <ActionForm action=buy attr:class="inline-form">
                                <input type="hidden" name="pack" value=p.id.as_str().to_owned() />
                                <input type="hidden" name="request_key" value=key />
                                <input type="hidden" name="then" value=then />
                                <button type="submit" data-testid="p10-buy">{label}</button>
                            </ActionForm>
                        }
                    });
                    view! {
                    <div class="notice notice-warning" role="alert" data-testid="p10-notice" id=FORM_ERROR_ANCHOR tabindex="-1">
                        <p><strong>{format!("This needs {} credits, but you have {}: {} more credits needed.", group_thousands(needed), group_thousands(available), group_thousands(short))}</strong>
                        " Nothing was reserved or charged, and everything you had is still there."{covers}</p>
                        {buy_form}
                        <p>"You can "<a href="#top-up">"pick another top-up"</a>
                        {match renews {
                            Some(r) => format!(" or wait until your plan renews on {}.", date(r)),
                            None => " and carry on straight away.".to_owned(),
                        }}</p>
                    </div>
                }.into_any()
                }
                error => view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{error.to_string()}</p> }.into_any(),
            })}
            {move || tried().then(|| view! { <p class="notice" role="status" data-testid="try-done">"Done. Its receipt is open below."</p> })}
            <ActionForm action attr:class="stack-form">
                <input type="hidden" name="request_key" value=form_key />
                <label for="try-op">"Operation"</label>
                <select id="try-op" name="operation" on:change=move |ev| {
                    if let Some(op) = Operation::from_key(&event_target_value(&ev)) {
                        chosen_op.set(op);
                    }
                }>
                    {Operation::ALL.into_iter().map(|o| view! {
                        <option value=o.key() selected=o == op>{o.label()}</option>
                    }).collect_view()}
                </select>
                <label for="try-qty">"Size, in "{unit}</label>
                <input id="try-qty" name="quantity" type="number" min="1" max="100000" value=qty.to_string() required
                    on:input=move |ev| {
                        if let Ok(q) = event_target_value(&ev).trim().parse::<u64>() && q > 0 {
                            chosen_qty.set(q);
                        }
                    } />
                <p class="help" data-testid="try-estimate" aria-live="polite">{estimate}</p>
                <label><input type="checkbox" name="fail_part" value="on" />" Make part of it fail (shows a refund)"</label>
                <div class="button-row">
                    <button type="submit" name="intent" value="estimate" class="secondary" disabled=pending>"Show estimate"</button>
                    <button type="submit" name="intent" value="run" disabled=pending>"Run it"</button>
                </div>
            </ActionForm>
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
fn Receipts(receipts: Vec<OperationReceipt>, support: String, book: PriceBook) -> impl IntoView {
    // The receipt of a generation just run opens; it follows the address, which may change
    // after the list was drawn.
    let query = use_query_map();
    let opened = Memo::new(move |_| {
        query
            .with(|q| q.get("tried"))
            .and_then(|t| t.parse::<i64>().ok())
    });
    if receipts.is_empty() {
        return view! { <p class="empty">"No generations yet. When you generate a voice, music or anything else, its receipt appears here."</p> }.into_any();
    }
    view! {
        <ul class="receipts">
            {receipts.into_iter().map(|r| {
                let support = support.clone();
                let headline = match r.status {
                    HoldStatus::Captured => format!("{} credits", group_thousands(r.net_cost())),
                    HoldStatus::Held => "in progress".to_owned(),
                    HoldStatus::Released | HoldStatus::Expired => "not charged".to_owned(),
                };
                view! {
                    <li>
                        <details class="receipt" id=format!("receipt-{}", r.hold_id) open=move || opened.get() == Some(r.hold_id)>
                            <summary>
                                <span class="receipt-op">{r.operation.label()}</span>
                                <span class="receipt-when">{date_time(r.started_at)}</span>
                                <span class="receipt-cost">{headline}</span>
                            </summary>
                            <p class="receipt-words" data-testid="receipt-words">{in_words(&r, &book)}</p>
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
                                {(r.over_limit > 0).then(|| view! {
                                    <dt>"Not charged (more than the estimate allows)"</dt><dd>{group_thousands(r.over_limit)}</dd>
                                })}
                                <dt>"Paid with"</dt>
                                <dd>{paid_with(&r)}</dd>
                            </dl>
                            <p class="help">"Think this is wrong? Write to "<a href=format!("mailto:{support}")>{support.clone()}</a>{format!(" with receipt number {}.", r.hold_id)}</p>
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

/// A receipt in one line of plain words, ending in the one figure it came to:
/// "Held 120 · charged 108 for 27 seconds of audio · 54 back for the failed part · you
/// paid 54".
fn in_words(r: &OperationReceipt, book: &PriceBook) -> String {
    let units = |n: u64| {
        book.rule(r.operation)
            .map(|rule| {
                let (one, many) = rule.driver.unit_names();
                format!(
                    " for {} {}",
                    group_thousands(n),
                    if n == 1 { one } else { many }
                )
            })
            .unwrap_or_default()
    };
    match r.status {
        HoldStatus::Captured => {
            let mut parts = vec![
                format!("Held {}", group_thousands(r.reserved)),
                format!(
                    "charged {}{}",
                    group_thousands(r.charged),
                    r.actual_quantity.map(units).unwrap_or_default()
                ),
            ];
            if r.refunded > 0 {
                parts.push(format!(
                    "{} back for the failed part",
                    group_thousands(r.refunded)
                ));
            }
            parts.push(format!("you paid {}", group_thousands(r.net_cost())));
            parts.join(" · ")
        }
        HoldStatus::Held => format!(
            "Held {} while it runs; nothing charged yet",
            group_thousands(r.reserved)
        ),
        HoldStatus::Released | HoldStatus::Expired => format!(
            "Held {}, all given back · you paid 0",
            group_thousands(r.reserved)
        ),
    }
}
