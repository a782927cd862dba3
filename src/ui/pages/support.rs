//! `/support`: find a customer, see their ledger, correct a charge (P9), and the audit list.

use crate::api::auth::{current_viewer, demo_credentials};
use crate::api::plans::{AdvanceClock, demo_clock};
use crate::api::support::{
    Adjust, CustomerView, Decide, audit, find_customer, notices, pending_adjustments, staff_audit,
};
use crate::domain::account::Role;
use crate::domain::subscription::Status;
use crate::error::AppError;
use crate::error::FORM_ERROR_ANCHOR;
use crate::ui::components::adjustments;
use crate::ui::components::balance_card::BalanceCard;
use crate::ui::components::error_notice::ErrorNotice;
use crate::ui::components::format::{date, date_time, encode, signed};
use crate::ui::components::forms::form_action;
use crate::ui::components::journal_table::JournalTable;
use crate::ui::pages::account::SignInPrompt;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

/// `/support`: the console for support staff; anyone else is told plainly it is not theirs.
#[component]
pub fn SupportPage() -> impl IntoView {
    let viewer = Resource::new(|| (), |_| current_viewer());
    view! {
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Some(v)) if v.role == Role::Support => view! { <SupportConsole /> }.into_any(),
                    Ok(Some(_)) => view! { <NotStaff /> }.into_any(),
                    Ok(None) => view! {
                        <Title text="Support console" />
                        <h1>"Support console"</h1>
                        <SignInPrompt />
                    }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// What a signed-in customer sees on a support page: not theirs, and where theirs is.
#[component]
pub fn NotStaff() -> impl IntoView {
    view! {
        <Title text="Not allowed" />
        <h1>"Support staff only"</h1>
        <div class="notice notice-warning" role="alert" data-testid="not-staff">
            <p>"This page is for Studio's support staff, so it is not open to your account. Your own balance, plan and payments are on your "<a href="/subscription">"Subscription page"</a>"."</p>
        </div>
    }
}

#[component]
fn SupportConsole() -> impl IntoView {
    let query = use_query_map();
    let email = move || query.with(|q| q.get("email")).unwrap_or_default();
    let before = move || query.with(|q| q.get("before")).filter(|b| !b.is_empty());
    let adjust = form_action::<Adjust>();
    let customer = Resource::new(
        move || (email(), before(), adjust.version().get()),
        |(email, before, _)| async move {
            if email.trim().is_empty() {
                Ok(None)
            } else {
                find_customer(email, before).await.map(Some)
            }
        },
    );
    let decide = form_action::<Decide>();
    let changes = Resource::new(
        move || (adjust.version().get(), decide.version().get()),
        |_| audit(),
    );
    let staff = Resource::new(
        move || (adjust.version().get(), decide.version().get()),
        |_| staff_audit(),
    );
    let pending = Resource::new(
        move || (adjust.version().get(), decide.version().get()),
        |_| pending_adjustments(),
    );
    let clock = form_action::<AdvanceClock>();
    let demo = Resource::new(|| (), |_| demo_credentials());
    let sent = Resource::new(|| (), |_| notices());
    view! {
        <Title text="Support console" />
        <h1>"Support console"</h1>
        <p class="lead"><a href="/support/operations">"Operations: webhooks, jobs, holds and reconciliation"</a></p>
        <Form method="GET" action="/support" attr:class="search-row" attr:role="search">
            <label for="customer-email" class="visually-hidden">"Customer e-mail"</label>
            <input id="customer-email" type="email" name="email" placeholder="customer@example.com" value=email required />
            <button type="submit">"Find customer"</button>
        </Form>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match customer.await {
                    Ok(None) => view! { <p class="empty">"Find a customer by their e-mail address."</p> }.into_any(),
                    Ok(Some(c)) => view! { <CustomerPanel customer=c adjust /> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInPrompt /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                matches!(demo.await, Ok(Some(_))).then(|| view! { <DemoClock clock /> })
            })}
        </Suspense>
        <h2 id="approvals">"Waiting for a second approval"</h2>
        {move || decide.value().get().map(|r| match r {
            Ok(done) => view! { <p class="notice" role="status">{adjustments::decided(&done)}</p> }.into_any(),
            Err(e) => view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{e.to_string()}</p> }.into_any(),
        })}
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match pending.await {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No adjustments are waiting."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                            <table>
                                <caption>"Adjustments above the limit, oldest first: another support user approves or rejects each"</caption>
                                <thead><tr><th scope="col">"Asked"</th><th scope="col">"Customer"</th><th scope="col" class="num">"Credits"</th><th scope="col">"Reason"</th><th scope="col">"By"</th><th scope="col">"Decision"</th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|p| {
                                        let amount = if p.direction == crate::domain::ledger::Direction::Grant { p.amount as i64 } else { -(p.amount as i64) };
                                        let id = p.id.to_string();
                                        view! {
                                            <tr>
                                                <td>{date_time(p.requested_at)}</td><td>{p.account_email}</td>
                                                <td class="num">{signed(amount)}</td><td>{p.reason}</td><td>{p.requested_by}</td>
                                                <td>
                                                    <ActionForm action=decide attr:class="inline-form">
                                                        <input type="hidden" name="request_id" value=id.clone() />
                                                        <button type="submit" name="decision" value="approve">"Approve"</button>
                                                        " "
                                                        <button type="submit" name="decision" value="reject" class="secondary">"Reject"</button>
                                                    </ActionForm>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(AppError::Unauthorized | AppError::Forbidden) => ().into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
        <h2 id="audit">"Every manual change"</h2>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match changes.await {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No manual changes yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                            <table>
                                <caption>"Manual changes, newest first"</caption>
                                <thead><tr><th scope="col">"When"</th><th scope="col">"Customer"</th><th scope="col" class="num">"Credits"</th><th scope="col">"Reason"</th><th scope="col">"By"</th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|m| {
                                        let reason = m.detail.as_deref()
                                            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                                            .and_then(|d| d.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
                                            .unwrap_or_default();
                                        view! { <tr><td>{date_time(m.at)}</td><td>{m.account_email}</td><td class="num">{signed(m.amount)}</td><td>{reason}</td><td>{m.actor}</td></tr> }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(AppError::Unauthorized | AppError::Forbidden) => ().into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
        <h2 id="staff-audit">"Staff and access changes"</h2>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match staff.await {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No staff or access changes yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                            <table>
                                <caption>"Users made, disabled or given another role, newest first"</caption>
                                <thead><tr><th scope="col">"When"</th><th scope="col">"User"</th><th scope="col">"Change"</th><th scope="col">"By"</th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|c| {
                                        let change = match c.detail {
                                            Some(d) => format!("{} ({d})", c.action),
                                            None => c.action,
                                        };
                                        view! { <tr><td>{date_time(c.at)}</td><td>{c.subject}</td><td>{change}</td><td>{c.actor}</td></tr> }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(AppError::Unauthorized | AppError::Forbidden) => ().into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
        <h2 id="notices">"E-mail notices"</h2>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match sent.await {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No e-mail notices yet."</p> }.into_any(),
                    Ok(list) => view! { <NoticeTable list /> }.into_any(),
                    Err(AppError::Unauthorized | AppError::Forbidden) => ().into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The newest notices: to whom, what, and whether each went (a skipped one was turned
/// off by its customer, or passed over for a higher usage level).
#[component]
fn NoticeTable(list: Vec<crate::model::support::NoticeView>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table data-testid="notices">
                <caption>"The newest 100 notices, newest first"</caption>
                <thead><tr><th scope="col">"Made"</th><th scope="col">"To"</th><th scope="col">"Notice"</th><th scope="col">"State"</th><th scope="col" class="num">"Tries"</th></tr></thead>
                <tbody>
                    {list.into_iter().map(|n| {
                        let state = match (n.status.as_str(), n.sent_at, n.note) {
                            ("sent", Some(at), _) => format!("sent {}", date_time(at)),
                            (status, _, Some(note)) => format!("{status}: {note}"),
                            (status, _, None) => status.to_owned(),
                        };
                        view! {
                            <tr>
                                <td>{date_time(n.created_at)}</td>
                                <td>{n.recipient}</td>
                                <td>
                                    <details>
                                        <summary>{n.subject}</summary>
                                        <p class="notice-body">{n.body}</p>
                                    </details>
                                </td>
                                <td>{state}</td>
                                <td class="num">{n.attempts}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn CustomerPanel(customer: CustomerView, adjust: ServerAction<Adjust>) -> impl IntoView {
    let result = move || adjust.value().get();
    view! {
        <h2>{customer.email.clone()}</h2>
        <p class="lead" data-testid="customer-plan">
            {customer.plan.map(|p| format!("{p} plan")).unwrap_or_else(|| "No plan".to_owned())}
        </p>
        <p data-testid="customer-subscription">{match &customer.subscription {
            None => "Never subscribed.".to_owned(),
            Some(s) => {
                let mut words = match s.status {
                    Status::Active if s.cancel_at_period_end => format!(
                        "{}: active, cancelled by the customer; ends {} (grace until {}).",
                        s.plan_name, date(s.period_end), s.grace_until.map(date).unwrap_or_else(|| "the plan's grace period".to_owned())
                    ),
                    Status::Active => format!("{}: active, period {} to {}; renews {}.", s.plan_name, date(s.period_start), date(s.period_end), date(s.period_end)),
                    Status::PastDue => format!("{}: past due since {}: the renewal payment failed; no new period's credits until it is paid.", s.plan_name, date(s.period_start)),
                    Status::Ended => format!("{}: ended {}; content kept until {}.", s.plan_name, date(s.period_end), s.grace_until.map(date).unwrap_or_default()),
                    Status::Purged => format!("{}: ended {}; grace period over, content may be deleted.", s.plan_name, date(s.period_end)),
                };
                if let Some(next) = &s.pending_plan_name {
                    words.push_str(&format!(" Booked: {next} from {}.", date(s.period_end)));
                }
                words
            }
        }}</p>
        <BalanceCard balance=customer.balance />
        <section class="card" aria-labelledby="adjust-heading">
            <h3 id="adjust-heading">"Correct the balance"</h3>
            {move || result().map(|r| match r {
                Ok(done) => view! { <p class="notice" role="status">{adjustments::adjusted(&done)}</p> }.into_any(),
                Err(e) => view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{e.to_string()}</p> }.into_any(),
            })}
            <ActionForm action=adjust attr:class="stack-form">
                <input type="hidden" name="account_id" value=customer.account_id.to_string() />
                <input type="hidden" name="request_key" value=customer.form_key />
                <fieldset>
                    <legend>"Change"</legend>
                    <label><input type="radio" name="direction" value=crate::domain::ledger::Direction::Grant.as_str() checked />" Grant credits"</label>
                    <label><input type="radio" name="direction" value=crate::domain::ledger::Direction::Debit.as_str() />" Take credits"</label>
                </fieldset>
                <label for="amount">"Credits"</label>
                <input id="amount" name="amount" inputmode="numeric" pattern="[0-9]+" required />
                <label for="reason">"Reason (kept in the audit list)"</label>
                <input id="reason" type="text" name="reason" required maxlength="500" />
                <label for="corrects">"Corrects the charge with receipt number (optional)"</label>
                <input id="corrects" name="corrects" inputmode="numeric" pattern="#?[0-9]{1,18}" />
                <label for="expires_on">"Expires on (grants only, optional)"</label>
                <input id="expires_on" type="date" name="expires_on" />
                <button type="submit">"Apply"</button>
            </ActionForm>
        </section>
        <h3>"Open holds"</h3>
        {if customer.holds.is_empty() {
            view! { <p class="empty">"No generations are holding credits right now."</p> }.into_any()
        } else {
            view! {
                <ul>{customer.holds.into_iter().map(|h| view! {
                    <li>{format!("Hold {}: {} credits for {} (expires {})", h.hold_id, h.amount, h.operation.replace('_', " "), date(h.expires_at))}</li>
                }).collect_view()}</ul>
            }.into_any()
        }}
        <crate::ui::pages::subscription::Payments payments=customer.payments receipts=false />
        <h3>"Journal"</h3>
        <JournalTable entries=customer.journal caption="The customer's credit changes, newest first" />
        {customer.journal_next_before.map(|b| view! {
            <p><a href=format!("/support?email={}&before={}", encode(&customer.email), encode(&b))>"Older entries"</a></p>
        })}
    }
}

/// Demo mode: move the app's clock forward to show a renewal, the end of a cancelled plan
/// or the end of a grace period without waiting.
#[component]
fn DemoClock(clock: ServerAction<AdvanceClock>) -> impl IntoView {
    let reads = Resource::new(move || clock.version().get(), |_| demo_clock());
    view! {
        <section class="card" aria-labelledby="clock-heading">
            <h2 id="clock-heading">"Demo clock"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    reads.await.ok().flatten().map(|(now, ahead)| view! {
                        <p data-testid="clock-now"><strong>{format!("The app's date: {}", date(now))}</strong>{match ahead {
                            0 => " (real time).".to_owned(),
                            1 => " (1 day ahead of real time).".to_owned(),
                            n => format!(" ({n} days ahead of real time)."),
                        }}</p>
                    })
                })}
            </Suspense>
            <p class="help">"Moves the app's time forward and runs whatever became due: renewals, ends of cancelled plans, ends of grace periods. Until the app restarts."</p>
            {move || clock.value().get().map(|r| match r {
                Ok(message) => view! { <p class="notice" role="status" data-testid="clock-message">{message}</p> }.into_any(),
                Err(e) => view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{e.to_string()}</p> }.into_any(),
            })}
            <ActionForm action=clock attr:class="search-row">
                <label for="clock-days">"Days forward"</label>
                <input id="clock-days" name="days" type="number" min="1" max="400" value="30" required />
                <button type="submit">"Move the clock"</button>
            </ActionForm>
        </section>
    }
}
