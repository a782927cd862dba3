use crate::api::auth::{SignOut, current_viewer};
use crate::domain::account::Role;
use crate::ui::components::forms::form_action;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

/// The frame of every page: a skip link, the header with navigation and who is signed in,
/// the main landmark and the footer.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let sign_out = form_action::<SignOut>();
    let zone = use_context::<crate::domain::zone::PageZone>().unwrap_or_default();
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
                <p data-testid="zone-line">{format!("Times are in {}. ", zone.zone.name)}
                    <a href="/account#time-zone">"Change time zone"</a></p>
            </div>
            <PageReady shown=zone.zone.name.clone() chosen=zone.chosen />
        </footer>
    }
}

/// The island on every page, and the last one on it (islands hydrate in page order, so
/// when it runs, every island above it has). It marks `<body data-hydrated="true">`, so
/// people and browser tests can tell the page's islands are running. And when nobody chose
/// a time zone yet, it offers the browser's own to the server once (it becomes the
/// profile's setting if the reader has none); if that differs from `shown`, the zone this
/// page is in, the page is loaded again in it.
#[island]
fn PageReady(shown: String, chosen: bool) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    {
        if !chosen {
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
        if let Some(body) = document().body() {
            // Only a missing body could fail here, and that was just checked.
            let _ = body.set_attribute("data-hydrated", "true");
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (shown, chosen);
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
