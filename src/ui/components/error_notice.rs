use crate::error::AppError;
use leptos::prelude::*;

/// A failed request, said plainly, with what to do next.
#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    view! {
        <div class="notice notice-error" role="alert">
            <p>{error.to_string()}</p>
            <p><a href="">"Reload the page"</a>" to try again."</p>
        </div>
    }
}
