use leptos::prelude::*;
use leptos_meta::{Meta, Title};

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="Welcome" />
        <Meta name="description" content="Studio Billing: prepaid credits for every AI audio operation, with plans, top-ups and a receipt for each generation." />
        <h1>"Studio Billing"</h1>
        <p class="lead">"Credits pay for every AI operation in Studio: chat, scripts, voices, sound effects, music and audio processing."</p>
        <p><a class="button" href="/faq">"Read how credits and billing work"</a></p>
    }
}
