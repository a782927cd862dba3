//! `/faq`: every policy rule answered as a question, with the configured facts.
//!
//! Works without JavaScript: answers are `<details>`, and search is a GET form the server
//! filters. Once hydrated, search filters as you type and a linked answer opens itself.

use crate::api::faq::get_faq_facts;
use crate::domain::faq::{self, Entry, FaqFacts};
use crate::ui::components::error_notice::ErrorNotice;
use crate::ui::components::rich_text::RichText;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_query_map;

#[component]
pub fn FaqPage() -> impl IntoView {
    let facts = Resource::new(|| (), |_| get_faq_facts());
    let initial_query = use_query_map()
        .with_untracked(|q| q.get("q"))
        .unwrap_or_default();
    let search = RwSignal::new(initial_query);
    view! {
        <Title text="Credits & Billing FAQ" />
        <Meta name="description" content="How Studio credits work: what each AI operation costs, when plan credits renew and expire, top-ups, refunds for failed generations, and plan changes." />
        <h1>"Credits & Billing FAQ"</h1>
        <p class="lead">
            "How credits work, what they cost, and what happens when you run out, cancel or change plans."
        </p>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading the questions…"</p> }>
            {move || Suspend::new(async move {
                match facts.await {
                    Ok(facts) => view! { <FaqBody facts search /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn FaqBody(facts: FaqFacts, search: RwSignal<String>) -> impl IntoView {
    let sections = faq::sections(&facts);
    let entries: Vec<Entry> = sections.iter().flat_map(|s| s.entries.clone()).collect();
    let total = entries.len();
    let matching =
        Memo::new(move |_| search.with(|q| entries.iter().filter(|e| e.matches(q)).count()));
    let support_href = format!("mailto:{}", facts.support_email);
    let support_email = facts.support_email.clone();
    open_linked_answer();

    view! {
        <form class="faq-search" role="search" method="get" action="/faq" on:submit=|ev| ev.prevent_default()>
            <label for="faq-search">"Search the questions"</label>
            <div class="search-row">
                <input
                    id="faq-search"
                    type="search"
                    name="q"
                    autocomplete="off"
                    placeholder="e.g. expire, top-up, cancel"
                    value=search.get_untracked()
                    on:input=move |ev| {
                        let q = event_target_value(&ev);
                        keep_address_in_step(&q);
                        search.set(q);
                    }
                />
                <button type="submit">"Search"</button>
            </div>
        </form>
        <p class="search-status" role="status" aria-live="polite">
            {move || {
                let n = matching.get();
                if search.with(|q| q.trim().is_empty()) {
                    format!("{total} questions")
                } else if n == 1 {
                    "1 question matches".to_owned()
                } else {
                    format!("{n} questions match")
                }
            }}
        </p>
        <div class="notice no-match" hidden=move || matching.get() != 0>
            <p>
                <strong>"No question matches “" {move || search.get()} "”."</strong>
            </p>
            <p>
                "Try another word, or ask our support team at "
                <a href=support_href>{support_email}</a>
                "; they answer every question about credits and billing."
            </p>
        </div>
        {sections
            .into_iter()
            .map(|section| {
                let section_entries = section.entries.clone();
                let any_visible = move || {
                    search.with(|q| section_entries.iter().any(|e| e.matches(q)))
                };
                view! {
                    <section class="faq-section" aria-labelledby=section.slug hidden=move || !any_visible()>
                        <h2 id=section.slug>{section.title}</h2>
                        {section.entries.into_iter().map(|entry| view! { <FaqEntry entry search /> }).collect_view()}
                    </section>
                }
            })
            .collect_view()}
    }
}

/// The address follows the search as it is typed (`/faq?q=...`), so it can be shared or
/// reloaded; no new history entry per letter.
fn keep_address_in_step(query: &str) {
    #[cfg(feature = "hydrate")]
    {
        let url = if query.trim().is_empty() {
            "/faq".to_owned()
        } else {
            format!("/faq?q={}", crate::ui::components::format::encode(query))
        };
        if let Ok(history) = window().history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = query;
}

#[component]
fn FaqEntry(entry: Entry, search: RwSignal<String>) -> impl IntoView {
    let slug = entry.slug;
    let matcher = entry.clone();
    let opener = entry.clone();
    // The anchor is on the answer, inside the <details>: browsers open a closed <details>
    // when the address points inside it, so deep links work without JavaScript too.
    view! {
        // A search opens the answers it finds.
        <details
            class="faq-entry"
            hidden=move || search.with(|q| !matcher.matches(q))
            open=move || search.with(|q| !q.trim().is_empty() && opener.matches(q))
        >
            <summary>
                <h3>{entry.question}</h3>
            </summary>
            <div class="answer" id=slug>
                <RichText blocks=entry.answer />
                <p class="permalink">
                    <a href=format!("#{slug}")>"Link to this answer"</a>
                </p>
            </div>
        </details>
    }
}

/// Opens the answer named in the address (`/faq#do-credits-expire`), on load and whenever
/// the fragment changes.
fn open_linked_answer() {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;

        fn open_from_hash() {
            let hash = window().location().hash().unwrap_or_default();
            let id = hash.trim_start_matches('#');
            if id.is_empty() {
                return;
            }
            if let Some(details) = document()
                .get_element_by_id(id)
                .and_then(|el| el.closest("details").ok().flatten())
                .and_then(|el| el.dyn_into::<web_sys::HtmlDetailsElement>().ok())
            {
                details.set_open(true);
            }
        }

        Effect::new(move |_| open_from_hash());
        let handle = window_event_listener(leptos::ev::hashchange, move |_| open_from_hash());
        on_cleanup(move || handle.remove());
    }
}
