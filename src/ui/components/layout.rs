use crate::api::auth::{SignOut, current_viewer};
use crate::domain::account::Role;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

/// The frame of every page: a skip link, the header with navigation and who is signed in,
/// the main landmark and the footer.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let path = use_location().pathname;
    // Who is signed in, asked again after every navigation (sign-in and sign-up end in one)
    // and every sign-out.
    let viewer = Resource::new_blocking(
        move || (path.get(), sign_out.version().get()),
        |_| current_viewer(),
    );
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
                        <Suspense fallback=|| ()>
                            {move || Suspend::new(async move {
                                match viewer.await {
                                    Ok(Some(v)) => {
                                        let home = if v.role == Role::Support { ("/support", "Support console") } else { ("/subscription", "Subscription") };
                                        view! {
                                            <li><A href=home.0>{home.1}</A></li>
                                            <li class="viewer">
                                                <span class="viewer-email" title=v.email.clone()>{v.email.clone()}</span>
                                                <ActionForm action=sign_out attr:class="inline-form">
                                                    <button type="submit" class="link-button">"Sign out"</button>
                                                </ActionForm>
                                            </li>
                                        }
                                        .into_any()
                                    }
                                    _ => view! { <li><A href="/sign-in">"Sign in"</A></li> }.into_any(),
                                }
                            })}
                        </Suspense>
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
                <p data-testid="zone-line">{format!("Times are in {}. ", crate::ui::components::format::zone().name)}
                    <a href="/account#time-zone">"Change time zone"</a></p>
            </div>
        </footer>
    }
}
