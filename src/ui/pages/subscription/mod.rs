//! `/subscription`: how many credits the customer has, when they renew, where they went.
//! The page and its overview here; its other sections each in their own module (the plans
//! section is `components::plans`).

mod auto_top_up;
mod notices;
mod payments;
mod receipts;
mod try_panel;

use self::auto_top_up::AutoTopUp;
use self::notices::{Notices, UsageAlert};
pub use self::payments::Payments;
use self::receipts::Receipts;
use self::try_panel::{SpendOrder, TryPanel};

use crate::api::demo::TryGeneration;
use crate::api::plans::ChangePlan;
use crate::api::subscription::{
    SaveAutoTopUp, SaveNotices, SetTestCard, SubscriptionOverview, SubscriptionPageData,
    subscription_page,
};
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
use crate::ui::components::forms::form_action;
use crate::ui::components::plans::PlansSection;
use crate::ui::components::usage_chart::UsageChart;
use crate::ui::pages::account::SignInPrompt;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_query_map;

#[component]
pub fn SubscriptionPage() -> impl IntoView {
    let query = use_query_map();
    let before = move || {
        query
            .with(|q| q.get("before"))
            .and_then(|b| b.parse::<i64>().ok())
    };
    let buy = form_action::<BuyTopUp>();
    let try_run = form_action::<TryGeneration>();
    let change = form_action::<ChangePlan>();
    let notices = form_action::<SaveNotices>();
    let auto = form_action::<SaveAutoTopUp>();
    let test_card = form_action::<SetTestCard>();
    // A generation, a plan change or new notice settings made here change the balance,
    // the receipts, the plan or the alerts: the whole page is one answer, with one read of
    // the subscription.
    let data = Resource::new(
        move || {
            (
                before(),
                try_run.version().get(),
                change.version().get(),
                notices.version().get(),
                auto.version().get(),
                test_card.version().get(),
            )
        },
        |(before, ..)| subscription_page(before),
    );
    view! {
        <Title text="Subscription" />
        <Meta name="description" content="Your Studio credits: the balance by kind, when your plan renews, where your credits went, top-ups and plan changes." />
        <h1>"Subscription"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading your subscription…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(SubscriptionPageData { overview: o, plans: plan }) => view! {
                        <Overview o buy try_run notices auto test_card />
                        <PlansSection plan action=change />
                    }
                    .into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInPrompt /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
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
    notices: ServerAction<SaveNotices>,
    auto: ServerAction<SaveAutoTopUp>,
    test_card: ServerAction<SetTestCard>,
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
    let auto_section = o.auto_top_up.clone().map(|v| {
        let packs = o.top_ups.clone();
        let form_key = format!("{}-card", o.form_key);
        view! { <AutoTopUp v packs form_key save=auto test_card buy /> }
    });
    view! {
        {ended}
        {o.low_balance.then(|| view! {
            <div class="notice notice-warning" role="status" data-testid="low-balance">
                <p><strong>"Your balance is running low."</strong>" "<a href="#top-up">"Buy a top-up"</a>" to keep generating now"
                    {renews.map(|r| format!(", or wait for your plan's credits to renew on {}", date(r)))}"."</p>
            </div>
        })}
        {o.usage_reached.map(|reached| view! { <UsageAlert reached /> })}
        <p class="lead"><span data-testid="plan-line">{plan_line}</span>" "<a href="#plans">"Manage your plan"</a></p>
        <BalanceCard balance=o.balance.clone() history_link=true />
        <SpendOrder
            balance=o.balance.clone()
            then=o.auto_top_up.as_ref().and_then(|v| self::auto_top_up::next_step(v, &o.top_ups))
        />
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
        {auto_section}
        <Notices settings=o.notices action=notices auto_top_ups=o.auto_top_up.is_some() />
        <Records period_start=o.period_start now=o.now />
    }
}

/// Your records (P18): the generations and the payments of the days chosen, as CSV files.
/// A GET form, so it works without JavaScript; the browser saves the file and stays here.
#[component]
fn Records(period_start: i64, now: i64) -> impl IntoView {
    let zone = crate::ui::components::format::zone();
    view! {
        <section aria-labelledby="records-heading" id="records">
            <h2 id="records-heading">"Your records"</h2>
            <p class="help">
                "Download your generations (what each was estimated, held and charged, what came back, and which credits paid for it) or your payments, as CSV files for any spreadsheet. Times are in "
                {zone.name.clone()}"."
            </p>
            <form class="records-form" method="get" action="/records/generations.csv">
                <div class="field">
                    <label for="records-from">"First day"</label>
                    <input id="records-from" type="date" name="from" value=zone.iso_date(period_start) />
                </div>
                <div class="field">
                    <label for="records-to">"Last day"</label>
                    <input id="records-to" type="date" name="to" value=zone.iso_date(now) />
                </div>
                <div class="actions">
                    <button type="submit">"Download generations"</button>
                    <button type="submit" formaction="/records/payments.csv">"Download payments"</button>
                </div>
            </form>
            <p class="help">"Leave a day empty to start from your first record, or to go up to now."</p>
        </section>
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
                            let key = format!("{form_key}-{}", p.id.as_str());
                            view! {
                                <li class="card pack">
                                    <p class="big-number">{credits.clone()}<span class="unit">" credits"</span></p>
                                    <p class="pack-price">{price.clone()}</p>
                                    <ActionForm action>
                                        <input type="hidden" name="pack" value=p.id.as_str().to_owned() />
                                        <input type="hidden" name="request_key" value=key />
                                        // Its name starts with what it shows (WCAG 2.5.3: say "Buy for
                                        // $5" to press it) and says what it buys.
                                        <button type="submit" disabled=pending>
                                            {format!("Buy for {price}")}
                                            <span class="visually-hidden">{format!(" ({credits} credits)")}</span>
                                        </button>
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
