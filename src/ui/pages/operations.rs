//! `/support/operations`: webhook and job health for support staff.

use crate::api::operations::{OperationsView, operations};
use crate::error::AppError;
use crate::ui::components::error_notice::ErrorNotice;
use crate::ui::components::format::date_time;
use crate::ui::pages::account::SignInPrompt;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn OperationsPage() -> impl IntoView {
    let view = Resource::new(|| (), |_| operations());
    let heading = || {
        view! {
            <Title text="Operations" />
            <h1>"Operations"</h1>
        }
    };
    view! {
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(v) => view! {
                        {heading()}
                        <p class="lead">"Webhook deliveries, background jobs, holds past their expiry and the last reconciliation. "<a href="/support">"Back to the support console"</a></p>
                        <Operations view=v />
                    }.into_any(),
                    Err(AppError::Unauthorized) => view! { {heading()} <SignInPrompt /> }.into_any(),
                    Err(AppError::Forbidden) => view! { <crate::ui::pages::support::NotStaff /> }.into_any(),
                    Err(error) => view! { {heading()} <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Operations(view: OperationsView) -> impl IntoView {
    let now = view.now;
    let holds = if view.holds_past_expiry == 0 {
        "No open holds are past their expiry.".to_owned()
    } else {
        format!(
            "{} open hold(s) past their expiry, the oldest since {}: the hold sweep is behind.",
            view.holds_past_expiry,
            view.oldest_expiry.map(date_time).unwrap_or_default()
        )
    };
    view! {
        <section class="card" aria-labelledby="jobs-heading">
            <h2 id="jobs-heading">"Background jobs (this instance)"</h2>
            {if view.jobs.is_empty() {
                view! { <p class="empty">"No job has run yet since this instance started."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table>
                            <caption>"Each job's last run"</caption>
                            <thead><tr><th scope="col">"Job"</th><th scope="col">"Last run"</th><th scope="col" class="num">"Every (s)"</th><th scope="col" class="num">"Late by (s)"</th><th scope="col">"Result"</th></tr></thead>
                            <tbody>
                                {view.jobs.into_iter().map(|j| view! {
                                    <tr>
                                        <td>{j.name}</td><td>{date_time(j.last_run_at)}</td>
                                        <td class="num">{j.every_secs}</td><td class="num">{j.lag_secs}</td>
                                        <td>{if j.ok { "ok" } else { "failed (see the log)" }}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            <p data-testid="holds-past-expiry">{holds}</p>
        </section>
        <section class="card" aria-labelledby="webhooks-heading">
            <h2 id="webhooks-heading">"Webhook deliveries"</h2>
            {if view.deliveries.is_empty() {
                view! { <p class="empty">"No webhook events yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table>
                            <caption>"Events received, newest first"</caption>
                            <thead><tr><th scope="col">"Received"</th><th scope="col">"Type"</th><th scope="col">"Event"</th><th scope="col">"Outcome"</th></tr></thead>
                            <tbody>
                                {view.deliveries.into_iter().map(|d| view! {
                                    <tr><td>{date_time(d.at)}</td><td>{d.event_type}</td><td><code>{d.event_id}</code></td><td>{d.outcome}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            <h3>"Refused deliveries (this instance, latest)"</h3>
            {if view.refused.is_empty() {
                view! { <p class="empty">"None refused."</p> }.into_any()
            } else {
                view! {
                    <ul data-testid="refused-deliveries">
                        {view.refused.into_iter().map(|r| view! { <li>{format!("{}: {}", date_time(r.at), r.reason)}</li> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section class="card" aria-labelledby="reconcile-heading">
            <h2 id="reconcile-heading">"Last reconciliation"</h2>
            {match view.reconciliation {
                None => view! { <p class="empty">"studio-billing stripe reconcile has not run against this database yet."</p> }.into_any(),
                Some(r) => {
                    let verdict = if r.differences == 0 {
                        format!("No differences over the {} days before {}.", r.since_days, date_time(r.at))
                    } else {
                        format!("{} difference(s) over the {} days before {}: look at each below.", r.differences, r.since_days, date_time(r.at))
                    };
                    let age = (now - r.at) / 86_400;
                    view! {
                        <p data-testid="reconcile-verdict">{verdict}</p>
                        {(age >= 2).then(|| view! { <p class="notice notice-error" role="alert">{format!("It last ran {age} days ago; schedule it daily.")}</p> })}
                        <pre class="report">{r.report}</pre>
                    }.into_any()
                }
            }}
        </section>
    }
}
