use leptos::prelude::*;
use leptos_meta::Title;

/// The friendly 404 page. On the server it also sets the status to 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Page not found" />
        <h1>"Page not found"</h1>
        <p class="lead">"We couldn't find that page. It may have moved, or the link may be mistyped."</p>
        <ul class="link-list">
            <li><a href="/faq">"Credits & Billing FAQ"</a></li>
            <li><a href="/">"Home"</a></li>
        </ul>
    }
}
