//! `/history`: the customer's credit history, in their words.

use crate::api::history::{HistoryLine, HistoryView, credit_history};
use crate::domain::credits::group_thousands;
use crate::domain::history::HistoryFilter;
use crate::error::AppError;
use crate::ui::components::error_notice::ErrorNotice;
use crate::ui::components::format::{date_time, signed};
use crate::ui::pages::account::SignInPrompt;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_query_map;

#[component]
pub fn HistoryPage() -> impl IntoView {
    let query = use_query_map();
    let args = move || query.with(|q| (q.get("kind"), q.get("before")));
    let data = Resource::new(args, |(kind, before)| credit_history(kind, before));
    view! {
        <Title text="Credit history" />
        <Meta name="description" content="Every change of your Studio credit balance, filtered by kind and date." />
        <h1>"Your credit history"</h1>
        <p class="lead">"Every change of your balance: credits added, charges, credits back and expiries, newest first. "<a href="/subscription">"Back to your subscription"</a></p>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading your history…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <History v /> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInPrompt /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn History(v: HistoryView) -> impl IntoView {
    let filter = v.filter;
    let older = v
        .next_before
        .map(|b| format!("/history?kind={}&before={b}", filter.as_str()));
    view! {
        <p>{format!("Your balance now: {} credits.", group_thousands(v.balance))}</p>
        <form method="get" action="/history" class="inline-form" aria-label="Show one kind of change">
            <label for="history-kind">"Show"</label>
            <select id="history-kind" name="kind">
                {HistoryFilter::ALL.into_iter().map(|f| view! {
                    <option value=f.as_str() selected=f == filter>{f.label()}</option>
                }).collect_view()}
            </select>
            <button type="submit" class="secondary">"Show"</button>
        </form>
        {if v.lines.is_empty() {
            let words = if filter == HistoryFilter::All {
                "No credit changes yet. Credits you get with a plan or a top-up, and what your generations cost, appear here."
            } else {
                "No changes of this kind yet."
            };
            view! { <p class="empty">{words}</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table data-testid="history" class="stack-on-phone">
                        <caption>"Your credit changes, newest first"</caption>
                        <thead><tr>
                            <th scope="col">"When"</th><th scope="col">"What"</th>
                            <th scope="col" class="num">"Credits"</th><th scope="col" class="num">"Balance after"</th>
                        </tr></thead>
                        <tbody>
                            {v.lines.into_iter().map(|l| view! {
                                <tr>
                                    <td data-label="When">{date_time(l.at)}</td>
                                    <td data-label="What">{what(&l)}</td>
                                    <td class="num" data-label="Credits">{signed(l.amount)}</td>
                                    <td class="num" data-label="Balance after">{group_thousands(u64::try_from(l.balance_after).unwrap_or(0))}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
        {older.map(|href| view! { <p><a href=href>"Older changes"</a></p> })}
    }
}

/// One change, said as the customer would say it.
fn what(l: &HistoryLine) -> String {
    let credits = group_thousands(l.amount.unsigned_abs());
    let reason = l.reason.clone().unwrap_or_default();
    use crate::domain::ledger::{GrantKind as G, JournalKind as K};
    match (l.kind, l.credits_kind) {
        (K::Grant, Some(G::Subscription)) if !reason.is_empty() => reason,
        (K::Grant, Some(G::Subscription)) => "Plan credits for the period".to_owned(),
        (K::Grant, Some(G::Topup)) => "Top-up bought (these credits never expire)".to_owned(),
        (K::Grant, _) if reason.is_empty() => "Credits added by Studio support".to_owned(),
        (K::Grant, _) => format!("Added by Studio support: {reason}"),
        (K::Expire, Some(G::Subscription)) => {
            format!("{credits} subscription credits expired at the end of the period")
        }
        (K::Expire, _) => format!("{credits} credits from Studio support expired"),
        (K::Capture, _) => match l.operation {
            Some(op) => format!("{} charged", op.label()),
            None => "Generation charged".to_owned(),
        },
        (K::Refund, _) if reason.is_empty() => "Credited back for a failed part".to_owned(),
        (K::Refund, _) => format!("Credited back: {reason}"),
        (K::Debit, _) if reason.is_empty() => "Taken by Studio support".to_owned(),
        (K::Debit, _) => format!("Taken by Studio support: {reason}"),
        (K::Reserve | K::Release | K::HoldExpired, _) => "Other change".to_owned(),
    }
}
