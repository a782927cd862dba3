//! The HTML shell, the router and the route table.

use crate::domain::zone::PageZone;
use crate::ui::components::layout::Layout;
use crate::ui::pages::{
    account::AccountPage,
    faq::FaqPage,
    history::HistoryPage,
    home::HomePage,
    not_found::NotFound,
    operations::OperationsPage,
    payment::PaymentReceiptPage,
    sign_in::SignInPage,
    sign_up::SignUpPage,
    subscription::SubscriptionPage,
    support::SupportPage,
    top_up::{LocalCheckoutPage, TopUpCancelledPage, TopUpCompletePage},
};
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::SsrMode;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <HydrationScripts options />
                <MetaTags />
                {form_error_meta()}
                {zone_meta()}
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    mark_hydrated();
    hand_over_form_error();
    hand_over_zone();
    view! {
        <Stylesheet id="leptos" href="/pkg/studio-billing.css" />
        <Title formatter=|page: String| format!("{page} · Studio Billing") />
        <Router>
            <Layout>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async />
                    <Route path=path!("/faq") view=FaqPage ssr=SsrMode::Async />
                    <Route path=path!("/sign-in") view=SignInPage ssr=SsrMode::Async />
                    <Route path=path!("/sign-up") view=SignUpPage ssr=SsrMode::Async />
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async />
                    <Route path=path!("/support") view=SupportPage ssr=SsrMode::Async />
                    <Route path=path!("/support/operations") view=OperationsPage ssr=SsrMode::Async />
                    <Route path=path!("/subscription") view=SubscriptionPage ssr=SsrMode::Async />
                    <Route path=path!("/history") view=HistoryPage ssr=SsrMode::Async />
                    <Route path=path!("/payments/:id") view=PaymentReceiptPage ssr=SsrMode::Async />
                    <Route path=path!("/top-up/complete") view=TopUpCompletePage ssr=SsrMode::Async />
                    <Route path=path!("/top-up/cancelled") view=TopUpCancelledPage ssr=SsrMode::Async />
                    <Route path=path!("/checkout/local/:id") view=LocalCheckoutPage ssr=SsrMode::Async />
                </Routes>
            </Layout>
        </Router>
    }
}

/// The name of the `<meta>` that hands a no-JavaScript form's error to the browser app.
const FORM_ERROR_META: &str = "studio-form-error";

/// On the server: the error of the form posted without JavaScript that led to this page
/// (see `server::form_errors`), as a `<meta>` the browser app reads when it takes over.
fn form_error_meta() -> impl IntoView {
    #[cfg(feature = "ssr")]
    let error = use_context::<crate::server::form_errors::FormError>()
        .map(|e| view! { <meta name=FORM_ERROR_META content=format!("{}|{}", e.path, e.err) /> });
    #[cfg(not(feature = "ssr"))]
    let error: Option<()> = None;
    error
}

/// In the browser: the same error, so the form that failed shows it once the page is
/// hydrated too (as the server rendered it).
fn hand_over_form_error() {
    #[cfg(feature = "hydrate")]
    if let Some(content) = document()
        .query_selector(&format!("meta[name={FORM_ERROR_META}]"))
        .ok()
        .flatten()
        .and_then(|m| m.get_attribute("content"))
        && let Some((path, err)) = content.split_once('|')
    {
        provide_context(leptos::server::ServerActionError::new(path, err));
    }
}

/// The name of the `<meta>` that hands the reader's time zone to the browser app.
const ZONE_META: &str = "studio-zone";

/// On the server: the reader's time zone table (see `domain::zone`), for the browser app
/// to format times exactly as the server did.
fn zone_meta() -> impl IntoView {
    let zone = use_context::<PageZone>().unwrap_or_default();
    let json = serde_json::to_string(&zone).unwrap_or_default();
    view! { <meta name=ZONE_META content=json /> }
}

/// In the browser: the same zone. When nobody chose one yet, the browser's own zone is
/// offered to the server once (it becomes the profile setting if the reader has none);
/// if it differs from what this page shows, the page is loaded again in it.
fn hand_over_zone() {
    #[cfg(feature = "hydrate")]
    {
        let zone: PageZone = document()
            .query_selector(&format!("meta[name={ZONE_META}]"))
            .ok()
            .flatten()
            .and_then(|m| m.get_attribute("content"))
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        if !zone.chosen {
            let shown = zone.zone.name.clone();
            leptos::task::spawn_local(async move {
                let Some(browser) = browser_zone() else {
                    return;
                };
                if let Ok(Some(now)) = crate::api::account::browser_time_zone(browser).await
                    && now != shown
                {
                    let _ = window().location().reload();
                }
            });
        }
        provide_context(zone);
    }
}

/// The browser's time zone (`Intl.DateTimeFormat().resolvedOptions().timeZone`).
#[cfg(feature = "hydrate")]
fn browser_zone() -> Option<String> {
    let options = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new())
        .resolved_options();
    js_sys::Reflect::get(&options, &wasm_bindgen::JsValue::from_str("timeZone"))
        .ok()
        .and_then(|v| v.as_string())
}

/// Marks `<body data-hydrated="true">` once the browser app has taken over, so people and
/// browser tests can tell a hydrated page from a server-rendered one.
fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            // Only a missing body could fail here, and that was just checked.
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
