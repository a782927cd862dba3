//! What the customer wants to be told (issue 16): e-mail notices, each of which can be
//! turned off but payment failures, and usage alerts at shares of the period's credits
//! (P17), shown on this page and sent by e-mail. A plain form: it works without
//! JavaScript.

use crate::api::subscription::SaveNotices;
use crate::domain::credits::group_thousands;
use crate::domain::notices::{NoticeSettings, USAGE_LEVELS};
use crate::error::FORM_ERROR_ANCHOR;
use crate::model::subscription::UsageReached;
use leptos::prelude::*;

/// The banner for a usage level reached (P17).
#[component]
pub fn UsageAlert(reached: UsageReached) -> impl IntoView {
    let share = crate::domain::notices::used_percent(reached.used, reached.plan_credits);
    view! {
        <div class="notice notice-warning" role="status" data-testid="usage-alert">
            <p>
                <strong>{format!("You have used {share}% of this period's credits")}</strong>
                {format!(
                    " ({} of {}). You asked to be told at {}%. ",
                    group_thousands(reached.used),
                    group_thousands(reached.plan_credits),
                    reached.level
                )}
                <a href="#notices">"Change your alerts"</a>
            </p>
        </div>
    }
}

#[component]
pub fn Notices(
    settings: NoticeSettings,
    action: ServerAction<SaveNotices>,
    /// Automatic top-ups are offered: their e-mail has a box too.
    auto_top_ups: bool,
) -> impl IntoView {
    let outcome = move || {
        action.value().get().map(|r| match r {
            Ok(message) => view! { <p class="notice notice-ok" role="status" data-testid="notices-saved">{message}</p> }.into_any(),
            Err(e) => view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{e.to_string()}</p> }.into_any(),
        })
    };
    let choice = |name: &'static str, label: &'static str, checked: bool| {
        let id = format!("notice-{name}");
        view! {
            <div class="check">
                <input type="checkbox" id=id.clone() name=name value="on" checked=checked />
                <label for=id>{label}</label>
            </div>
        }
    };
    view! {
        <section aria-labelledby="notices-heading" id="notices">
            <h2 id="notices-heading">"Notices"</h2>
            {outcome}
            <ActionForm action attr:class="notices-form">
                <fieldset>
                    <legend>"Tell me when I have used this much of a period's credits"</legend>
                    <p class="help">"Shown on this page and sent by e-mail, once each period."</p>
                    {USAGE_LEVELS.into_iter().zip(settings.usage).map(|(level, on)| {
                        let name = match level {
                            50 => "usage_50",
                            80 => "usage_80",
                            _ => "usage_100",
                        };
                        let id = format!("notice-{name}");
                        view! {
                            <div class="check">
                                <input type="checkbox" id=id.clone() name=name value="on" checked=on />
                                <label for=id>{format!("{level}%")}</label>
                            </div>
                        }
                    }).collect_view()}
                </fieldset>
                <fieldset>
                    <legend>"E-mail me when"</legend>
                    {choice("low_balance", "my balance is running low", settings.low_balance)}
                    {auto_top_ups.then(|| choice("top_up_made", "an automatic top-up is made", settings.top_up_made))}
                    {choice("plan_ending", "a cancelled plan ends in 3 days", settings.plan_ending)}
                    {choice("grace_ending", "the grace period after my plan ends in 7 days", settings.grace_ending)}
                    <p class="help">"A payment that fails is always e-mailed: it is how you hear in time to fix your card."</p>
                </fieldset>
                <button type="submit">"Save notices"</button>
            </ActionForm>
        </section>
    }
}
