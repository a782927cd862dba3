use leptos::prelude::*;
use leptos_router::components::A;

/// The frame of every page: a skip link, the header with navigation, the main landmark
/// and the footer.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <div class="wrap header-row">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    " Studio Billing"
                </a>
                <nav aria-label="Main">
                    <ul class="nav-list">
                        <li><A href="/faq">"Credits & Billing FAQ"</A></li>
                    </ul>
                </nav>
            </div>
        </header>
        <main id="main" class="wrap" tabindex="-1">
            {children()}
        </main>
        <footer class="site-footer">
            <div class="wrap">
                <p>"Studio Billing · Questions about credits or a charge? See the "
                    <a href="/faq">"FAQ"</a>"."</p>
            </div>
        </footer>
    }
}
