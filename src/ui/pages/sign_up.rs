use crate::api::auth::SignUp;
use crate::domain::account::MIN_PASSWORD;
use crate::error::FORM_ERROR_ANCHOR;
use crate::ui::components::forms::form_action;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};

/// `/sign-up`: a new customer account.
#[component]
pub fn SignUpPage() -> impl IntoView {
    // Created inside the route, where a form post without JavaScript brings its error back.
    let action = form_action::<SignUp>();
    let error = move || action.value().get().and_then(Result::err);
    view! {
        <Title text="Create an account" />
        <Meta name="description" content="Create a Studio Billing account to buy credits for AI audio operations." />
        <h1>"Create an account"</h1>
        <ActionForm action attr:class="stack-form">
            {move || error().map(|e| view! { <p class="notice notice-error" role="alert" id=FORM_ERROR_ANCHOR tabindex="-1">{e.to_string()}</p> })}
            <label for="email">"E-mail"</label>
            <input id="email" type="email" name="email" autocomplete="email" required />
            <label for="password">"Password"</label>
            <input id="password" type="password" name="password" autocomplete="new-password" required minlength=MIN_PASSWORD.to_string() aria-describedby="password-help" />
            <p id="password-help" class="help">{format!("At least {MIN_PASSWORD} characters.")}</p>
            <button type="submit">"Create account"</button>
        </ActionForm>
        <p>"Already have an account? "<a href="/sign-in">"Sign in"</a>"."</p>
    }
}
