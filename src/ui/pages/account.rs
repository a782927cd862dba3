use crate::api::account::my_account;
use crate::error::AppError;
use crate::ui::components::balance_card::BalanceCard;
use crate::ui::components::error_notice::ErrorNotice;
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
