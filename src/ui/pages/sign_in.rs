use crate::api::auth::{SignIn, demo_credentials};
use crate::error::FORM_ERROR_ANCHOR;
use crate::ui::components::forms::form_action;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};

/// `/sign-in`. Works without JavaScript: the form posts and the server redirects.
#[component]
pub fn SignInPage() -> impl IntoView {
    // Created inside the route, where a form post without JavaScript brings its error back.
    let action = form_action::<SignIn>();
    let demo = Resource::new(|| (), |_| demo_credentials());
    let error = move || action.value().get().and_then(Result::err);
    view! {
        <Title text="Sign in" />
        <Meta name="description" content="Sign in to Studio Billing to see your credits, plan and receipts." />
        <h1>"Sign in"</h1>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                demo.await.ok().flatten().map(|(email, password)| view! {
                    <div class="notice" role="note">
                        <p><strong>"Demo mode."</strong>" Sign in as the demo customer with "
                            <code>{email}</code>" and the password "<code>{password}</code>
                            ", or as support with "<code>"support@studio.test"</code>" and the same password."</p>
                    </div>
                })
            })}
        </Suspense>
        <ActionForm action attr:class="stack-form">
            {move || error().map(|e| view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{e.to_string()}</p> })}
            <label for="email">"E-mail"</label>
            <input id="email" type="email" name="email" autocomplete="username" required />
            <label for="password">"Password"</label>
            <input id="password" type="password" name="password" autocomplete="current-password" required />
            <button type="submit">"Sign in"</button>
        </ActionForm>
        <p>"New here? "<a href="/sign-up">"Create an account"</a>"."</p>
    }
}
