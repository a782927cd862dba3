use crate::api::account::{SetTimeZone, TimeZoneSetting, my_account, my_time_zone};
use crate::error::AppError;
use crate::error::FORM_ERROR_ANCHOR;
use crate::ui::components::balance_card::BalanceCard;
use crate::ui::components::error_notice::ErrorNotice;
use crate::ui::components::forms::form_action;
use crate::ui::components::journal_table::JournalTable;
use leptos::prelude::*;
use leptos_meta::Title;

/// `/account`: the signed-in customer's balance and latest credit changes.
#[component]
pub fn AccountPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| my_account());
    view! {
        <Title text="My account" />
        <h1>"My account"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading your account…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(a) => view! {
                        <p class="lead">"Signed in as "{a.email}"."</p>
                        <BalanceCard balance=a.balance history_link=true />
                        <h2>"Latest changes"</h2>
                        <JournalTable entries=a.recent caption="Your latest credit changes, newest first" />
                    }.into_any(),
                    Err(AppError::Unauthorized) => view! { <SignInPrompt /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
        <TimeZoneSection />
    }
}

/// The profile's time zone: every time on the pages is shown in it, and named.
#[component]
fn TimeZoneSection() -> impl IntoView {
    let set = form_action::<SetTimeZone>();
    let setting = Resource::new(move || set.version().get(), |_| my_time_zone());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                setting.await.ok().map(|s| view! { <TimeZoneForm s set /> })
            })}
        </Suspense>
    }
}

#[component]
fn TimeZoneForm(s: TimeZoneSetting, set: ServerAction<SetTimeZone>) -> impl IntoView {
    let shown = s.chosen.clone().unwrap_or_else(|| "UTC".to_owned());
    let outcome = move || {
        set.value().get().map(|r| match r {
            Ok(message) => view! { <p class="notice notice-ok" role="status" data-testid="time-zone-saved">{message}</p> }.into_any(),
            Err(e) => view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{e.to_string()}</p> }.into_any(),
        })
    };
    view! {
        <section class="card" aria-labelledby="time-zone-heading" id="time-zone">
            <h2 id="time-zone-heading">"Time zone"</h2>
            <p data-testid="time-zone-now">{match &s.chosen {
                Some(zone) => format!("Times are shown in {zone}."),
                None => "Times are shown in UTC until you choose your time zone (with JavaScript on, your browser's is taken).".to_owned(),
            }}</p>
            {outcome}
            <ActionForm action=set attr:class="search-row">
                <label for="time-zone-choice">"Your time zone"</label>
                <select id="time-zone-choice" name="zone">
                    {s.names.into_iter().map(|n| {
                        let selected = n == shown;
                        let label = n.clone();
                        view! { <option value=n selected=selected>{label}</option> }
                    }).collect_view()}
                </select>
                <button type="submit">"Save"</button>
            </ActionForm>
        </section>
    }
}

/// Shown instead of a page that needs a signed-in user.
#[component]
pub fn SignInPrompt() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(axum::http::StatusCode::UNAUTHORIZED);
    }
    view! {
        <div class="notice" role="alert">
            <p>"Please sign in to see this page."</p>
            <p><a class="button" href="/sign-in">"Sign in"</a></p>
        </div>
    }
}
