//! The HTML shell, the router and the route table.
//!
//! Pages are rendered on the server only; the parts that need the browser are islands
//! (README, "Islands"). Every form is a plain form, posted and answered with the page.

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
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
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
                <HashedStylesheet options=options.clone() id="leptos" />
                <HydrationScripts options islands=true />
                <MetaTags />
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
    view! {
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
