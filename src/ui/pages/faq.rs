//! `/faq`: every policy rule answered as a question, with the configured facts.
//!
//! Rendered on the server, from the FAQ made once at start-up (`domain::faq::Faq`): the
//! answers are `<details>`, and search is a GET form the server filters, so all of it
//! works without JavaScript. The search box is an island (`FaqSearch`): in the browser it
//! filters as you type and opens a linked answer.

use crate::domain::faq::{Entry, Faq, Query};
use crate::error::AppError;
use crate::ui::components::error_notice::ErrorNotice;
use crate::ui::components::rich_text::RichText;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_query_map;

#[component]
pub fn FaqPage() -> impl IntoView {
    let query = use_query_map()
        .with_untracked(|q| q.get("q"))
        .unwrap_or_default();
    let faq = use_context::<&'static Faq>();
    view! {
        <Title text="Credits & Billing FAQ" />
        <Meta name="description" content="How Studio credits work: what each AI operation costs, when plan credits renew and expire, top-ups, refunds for failed generations, and plan changes." />
        <h1>"Credits & Billing FAQ"</h1>
        <p class="lead">
            "How credits work, what they cost, and what happens when you run out, cancel or change plans."
        </p>
        {match faq {
            Some(faq) => view! { <FaqBody faq query /> }.into_any(),
            None => view! { <ErrorNotice error=AppError::Internal /> }.into_any(),
        }}
    }
}

#[component]
fn FaqBody(faq: &'static Faq, query: String) -> impl IntoView {
    let asked = Query::new(&query);
    let found = faq.matching(&asked);
    let matching = found.iter().flatten().filter(|m| **m).count();
    let searching = !asked.is_empty();
    view! {
        <FaqSearch query total=faq.total() matching support_email=faq.support_email.clone() />
        {faq.sections
            .iter()
            .zip(found)
            .map(|(section, found)| {
                let any = found.iter().any(|m| *m);
                view! {
                    <section class="faq-section" aria-labelledby=section.slug hidden=!any>
                        <h2 id=section.slug>{section.title}</h2>
                        {section.entries.iter().zip(found).map(|(entry, shown)| view! {
                            <FaqEntry entry shown open=searching && shown />
                        }).collect_view()}
                    </section>
                }
            })
            .collect_view()}
    }
}

/// One question. The anchor is on the answer, inside the `<details>`: browsers open a
/// closed `<details>` when the address points inside it, so deep links work without
/// JavaScript too. A search opens the answers it finds.
#[component]
fn FaqEntry(entry: &'static Entry, shown: bool, open: bool) -> impl IntoView {
    let slug = entry.slug;
    view! {
        <details class="faq-entry" hidden=!shown open=open>
            <summary>
                <h3>{entry.question}</h3>
            </summary>
            <div class="answer" id=slug>
                <RichText blocks=&entry.answer />
                <p class="permalink">
                    <a href=format!("#{slug}")>"Link to this answer"</a>
                </p>
            </div>
        </details>
    }
}

/// The search box and what it found. An island: in the browser it filters the questions
/// as you type (the same search as the server's, on the text the page shows), keeps the
/// address in step (`/faq?q=...`), and opens an answer the address links to.
#[island]
fn FaqSearch(
    /// The search the page was asked for (`?q=`), as the server filtered it.
    query: String,
    /// How many questions there are, and how many of them match `query`.
    total: usize,
    matching: usize,
    support_email: String,
) -> impl IntoView {
    let search = RwSignal::new(query);
    let found = RwSignal::new(matching);
    #[cfg(feature = "hydrate")]
    browser::filter_as_typed(search, found);
    let support_href = format!("mailto:{support_email}");
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
                    on:input=move |ev| search.set(event_target_value(&ev))
                />
                <button type="submit">"Search"</button>
            </div>
        </form>
        <p class="search-status" role="status" aria-live="polite">
            {move || {
                let n = found.get();
                // The server's rule: a search with no words in it is no search.
                if search.with(|q| Query::new(q).is_empty()) {
                    format!("{total} questions")
                } else if n == 1 {
                    "1 question matches".to_owned()
                } else {
                    format!("{n} questions match")
                }
            }}
        </p>
        <div class="notice no-match" hidden=move || found.get() != 0>
            <p>
                <strong>"No question matches “" {move || search.get()} "”."</strong>
            </p>
            <p>
                "Try another word, or ask our support team at "
                <a href=support_href>{support_email}</a>
                "; they answer every question about credits and billing."
            </p>
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use crate::domain::faq::{Query, SearchText};
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{Element, HtmlDetailsElement};

    /// A question on the page and its text, ready for search.
    struct Shown {
        details: HtmlDetailsElement,
        text: SearchText,
    }

    /// The text of a question as the page shows it: the question, then each paragraph and
    /// list item of the answer (what `Entry::plain_text` is made of on the server).
    fn text_of(details: &Element) -> String {
        let mut text = String::new();
        let parts = details
            .query_selector_all("summary h3, div.answer > p:not(.permalink), div.answer > ul > li");
        if let Ok(parts) = parts {
            for i in 0..parts.length() {
                if let Some(node) = parts.item(i) {
                    text.push_str(&node.text_content().unwrap_or_default());
                    text.push(' ');
                }
            }
        }
        text
    }

    fn all(selector: &str, within: &Element) -> Vec<Element> {
        let Ok(list) = within.query_selector_all(selector) else {
            return Vec::new();
        };
        (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|n| n.dyn_into::<Element>().ok())
            .collect()
    }

    pub(super) fn filter_as_typed(search: RwSignal<String>, found: RwSignal<usize>) {
        let Some(main) = document().document_element() else {
            return;
        };
        let sections: Vec<(Element, Vec<Shown>)> = all("section.faq-section", &main)
            .into_iter()
            .map(|section| {
                let entries = all("details.faq-entry", &section)
                    .into_iter()
                    .filter_map(|d| {
                        let text = SearchText::new(&text_of(&d));
                        d.dyn_into::<HtmlDetailsElement>()
                            .ok()
                            .map(|details| Shown { details, text })
                    })
                    .collect();
                (section, entries)
            })
            .collect();
        Effect::new(move |ran_before: Option<()>| {
            let q = search.get();
            // The server rendered the page for the search it was asked for; only a change
            // typed since needs the page (and the address) to follow.
            if ran_before.is_none() {
                return;
            }
            let asked = Query::new(&q);
            let mut n = 0;
            for (section, entries) in &sections {
                let mut any = false;
                for e in entries {
                    let m = e.text.matches(&asked);
                    let _ = e.details.toggle_attribute_with_force("hidden", !m);
                    e.details.set_open(m && !asked.is_empty());
                    any |= m;
                    n += usize::from(m);
                }
                let _ = section.toggle_attribute_with_force("hidden", !any);
            }
            found.set(n);
            keep_address_in_step(&q);
        });
        open_linked_answer();
    }

    /// The address follows the search as it is typed (`/faq?q=...`), so it can be shared
    /// or reloaded; no new history entry per letter.
    fn keep_address_in_step(query: &str) {
        let url = if query.trim().is_empty() {
            "/faq".to_owned()
        } else {
            format!("/faq?q={}", crate::ui::components::format::encode(query))
        };
        if let Ok(history) = window().history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    }

    /// Opens the answer named in the address (`/faq#do-credits-expire`), now and whenever
    /// the fragment changes.
    fn open_linked_answer() {
        fn open_from_hash() {
            let hash = window().location().hash().unwrap_or_default();
            let id = hash.trim_start_matches('#');
            if id.is_empty() {
                return;
            }
            if let Some(details) = document()
                .get_element_by_id(id)
                .and_then(|el| el.closest("details").ok().flatten())
                .and_then(|el| el.dyn_into::<HtmlDetailsElement>().ok())
            {
                details.set_open(true);
            }
        }
        open_from_hash();
        let handle = window_event_listener(leptos::ev::hashchange, move |_| open_from_hash());
        // The page's one search box lives as long as the page.
        std::mem::forget(handle);
    }
}
